#!/bin/bash
# The bash completion of crvs-token (completion/crvs-token), driven the way
# bash drives it: COMP_WORDS/COMP_CWORD/COMP_LINE set, the function that
# "complete -p" names called, COMPREPLY read. Against a running daemon:
# subcommands, options, client names from the daemon (only those the user
# may read), the socket given with -s, and nothing at all (quietly, and
# fast) when the daemon cannot be reached. With bash-completion's
# _init_completion when it is installed, and without.
. "$(dirname "$0")/lib.sh"

COMPLETION=$top_srcdir/completion/crvs-token
start_issuer issuer --lifetime 600
{
	client_section alpha "$ISSUER_PORT"
	client_section beta "$ISSUER_PORT"
	client_section private "$ISSUER_PORT" "allow_users = root"
	printf '[daemon]\n'
} | write_conf
# Others must reach the socket for the check as an unprivileged user.
printf 'socket_mode = 0666\n' >>"$T/tokend.conf"
start_daemon

# complete_line [--as USER] [--bashcomp] LINE: what completing at the end of
# LINE offers, one word a line, sorted; stderr goes to $T/complete.err.
complete_line() {
	local -a run=() pre=()
	while :; do
		case $1 in
		--as) run=(setpriv --reuid="$2" --regid="$(id -g "$2")" --clear-groups); shift 2 ;;
		--bashcomp) pre=(/usr/share/bash-completion/bash_completion); shift ;;
		*) break ;;
		esac
	done
	"${run[@]}" env PATH="$top_builddir:$PATH" BASHCOMP="${pre[*]}" \
		COMPLETION="$COMPLETION" LINE="$1" bash --norc --noprofile -c '
		[ -z "$BASHCOMP" ] || . "$BASHCOMP"
		. "$COMPLETION"
		fn=$(complete -p crvs-token | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
		read -r -a COMP_WORDS <<<"$LINE"
		[[ $LINE == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$LINE
		COMP_POINT=${#LINE}
		"$fn" crvs-token "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' 2>"$T/complete.err" | sed '/^$/d' | sort | tr '\n' ' '
}

out=$(bash --norc --noprofile -c ". '$COMPLETION'; complete -p crvs-token")
check "complete -p names the completion function ($out)" \
	test "$out" = "complete -F _crvs_token crvs-token"

variants=(plain)
[ -f /usr/share/bash-completion/bash_completion ] && variants+=(bashcomp)
for v in "${variants[@]}"; do
	o=()
	[ "$v" = bashcomp ] && o=(--bashcomp)
	got=$(complete_line "${o[@]}" "crvs-token ")
	check "$v: 'crvs-token ' offers the subcommands and every client: $got" \
		test "$got" = "alpha beta exec get health private refresh status "
	got=$(complete_line "${o[@]}" "crvs-token al")
	check "$v: 'crvs-token al' completes to alpha: $got" test "$got" = "alpha "
	got=$(complete_line "${o[@]}" "crvs-token --")
	check "$v: 'crvs-token --' offers the long options: $got" \
		test "$got" = "--header --help --json --min-valid --socket --timeout --version "
	got=$(complete_line "${o[@]}" "crvs-token refresh --")
	check "$v: 'crvs-token refresh --' offers --rejected too" grep -q -- '--rejected' <<<"$got"
	got=$(complete_line "${o[@]}" "crvs-token -m 60 refresh ")
	check "$v: 'crvs-token -m 60 refresh ' offers the clients, not subcommands: $got" \
		test "$got" = "alpha beta private "
	got=$(complete_line "${o[@]}" "crvs-token exec --env TOK ")
	check "$v: 'crvs-token exec --env TOK ' offers the clients: $got" test "$got" = "alpha beta private "
	got=$(complete_line "${o[@]}" "crvs-token exec --")
	check "$v: 'crvs-token exec --' offers --env: $got" grep -q -- '--env' <<<"$got"
	got=$(complete_line "${o[@]}" "crvs-token exec alpha -- ech")
	check "$v: after 'exec alpha --' commands are offered: $got" grep -qw echo <<<"$got"
	got=$(complete_line "${o[@]}" "crvs-token status b")
	check "$v: 'crvs-token status b' completes to beta: $got" test "$got" = "beta "
	got=$(complete_line "${o[@]}" "crvs-token health ")
	check "$v: 'crvs-token health ' offers nothing: '$got'" test -z "$got"
	got=$(complete_line "${o[@]}" "crvs-token get alpha ")
	check "$v: a second client is not offered: '$got'" test -z "$got"
	got=$(complete_line "${o[@]}" "crvs-token -t ")
	check "$v: nothing after -t (a number): '$got'" test -z "$got"
	got=$(complete_line "${o[@]}" "crvs-token -s $T/tokend.so")
	check "$v: -s completes file names: $got" test "$got" = "$T/tokend.sock "
	got=$(CRVS_TOKEND_SOCKET=/nonexistent complete_line "${o[@]}" "crvs-token --socket $SOCK get ")
	check "$v: the clients come from the socket given with --socket: $got" \
		test "$got" = "alpha beta private "
done

if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	got=$(complete_line --as nobody "crvs-token ")
	check "as nobody: only the clients nobody may read (not private): $got" \
		test "$got" = "alpha beta exec get health refresh status "
else
	echo "# not root: the check as another user is left out"
fi

t0=$(date +%s%N)
got=$(CRVS_TOKEND_SOCKET=/nonexistent/crvs-tokend.sock complete_line "crvs-token ")
ms=$((($(date +%s%N) - t0) / 1000000))
check "no daemon at the socket: only the subcommands ($ms ms): $got" test "$got" = "exec get health refresh status "
check "no daemon at the socket: nothing on stderr" test ! -s "$T/complete.err"
stop_daemon
got=$(complete_line "crvs-token ")
check "daemon stopped: only the subcommands, quietly: $got" \
	test "$got" = "exec get health refresh status " -a ! -s "$T/complete.err"
finish
