#!/usr/bin/env python3
"""Connections at the moment the daemon is told to stop, as a restart
during an upgrade meets them. Prints one line per connection.

stop-drain.py SOCK PID LOG CLIENT

  A  connected before the stop, sends its token request only after the
     daemon has logged that it is stopping: it must get the token, with
     Connection: close, then the end of the connection.
  B  an idle keep-alive connection that had one answer: closed by the stop.
  S  connected and silent throughout: the daemon stops anyway (its wait
     for the first request is bounded), and S sees the end.

Every wait is bounded (20 s); a bound reached prints TIMEOUT.
"""
import os
import signal
import socket
import sys
import time

sock_path, pid, log, client = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
LIMIT = 20


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(LIMIT)
    s.connect(sock_path)
    return s


def read_answer(s):
    """One HTTP answer: (status, headers dict, body), or None at EOF."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def at_eof(s):
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return "TIMEOUT"
    except OSError:
        return True


a = connect()
silent = connect()
b = connect()
b.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
first = read_answer(b)
# B was answered, so the daemon has accepted B and, before it, A and S
# (a listening socket hands out connections in the order they came).
print("B-first", first[0] if first else "EOF", flush=True)

os.kill(pid, signal.SIGTERM)
deadline = time.monotonic() + LIMIT
while time.monotonic() < deadline:
    with open(log, errors="replace") as f:
        if "stopping on signal" in f.read():
            break
    time.sleep(0.02)
else:
    print("STOPPING-NOT-LOGGED", flush=True)

print("B-closed", at_eof(b), flush=True)
try:
    a.sendall(("GET /v1/clients/%s/token HTTP/1.1\r\nHost: x\r\n"
               "Accept: text/plain\r\n\r\n" % client).encode())
    ans = read_answer(a)
except (OSError, socket.timeout) as e:
    ans = None
    print("A-error", type(e).__name__, flush=True)
if ans is None:
    print("A EOF", flush=True)
else:
    status, headers, body = ans
    print("A", status, headers.get("connection", "-"), flush=True)
    print("A-token", body.decode("latin-1").strip(), flush=True)
    print("A-closed", at_eof(a), flush=True)
print("S-closed", at_eof(silent), flush=True)
