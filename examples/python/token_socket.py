#!/usr/bin/env python3
"""Get a token from crvs-tokend over its Unix socket with the standard
library only (http.client), and call the OpenCRVS API with it.

    token_socket.py URL [CLIENT]

The socket is $CRVS_TOKEND_SOCKET, else /run/crvs-tokend/crvs-tokend.sock.
Exit status as crvs-token(1): 75 when there is no valid token right now.
"""
import http.client
import json
import os
import socket
import sys
import urllib.request

SOCKET = os.environ.get("CRVS_TOKEND_SOCKET", "/run/crvs-tokend/crvs-tokend.sock")


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a Unix socket: the host name only fills the Host header."""

    def __init__(self, path, timeout=15):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def get_token(client, min_valid=60):
    conn = UnixHTTPConnection(SOCKET)
    try:
        conn.request("GET", f"/v1/clients/{client}/token?min_valid={min_valid}")
        answer = conn.getresponse()
        body = json.load(answer)
    finally:
        conn.close()
    if answer.status != 200:
        # {"error": CODE, "message": "..."}; never a token.
        raise RuntimeError(f"crvs-tokend: {answer.status} {body.get('error')}: {body.get('message')}")
    return body["access_token"]


def main():
    url = sys.argv[1]
    client = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("CRVS_CLIENT", "dhis2")
    try:
        token = get_token(client)
    except (OSError, RuntimeError) as e:
        print(e, file=sys.stderr)
        return 75
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        sys.stdout.write(r.read().decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
