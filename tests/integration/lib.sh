# The integration tests' helpers: all of them are in the shared
# tests/lib.sh (real processes on loopback and Unix sockets, bounded waits,
# a trap that stops everything a test started). Scripts source this file,
# as they always have.
# shellcheck shell=bash

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib.sh"
