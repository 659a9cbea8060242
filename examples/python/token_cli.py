#!/usr/bin/env python3
"""Get a token through the crvs-token command, and call the OpenCRVS API.

    token_cli.py URL [CLIENT]

crvs-token's exit status is passed on (75: no valid token right now, retry
later; see crvs-token(1)).
"""
import os
import subprocess
import sys
import urllib.request


def main():
    url = sys.argv[1]
    client = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("CRVS_CLIENT", "dhis2")
    got = subprocess.run(["crvs-token", "-m", "60", client], capture_output=True, text=True)
    if got.returncode != 0:
        sys.stderr.write(got.stderr)
        return got.returncode
    token = got.stdout.strip()
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        sys.stdout.write(r.read().decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
