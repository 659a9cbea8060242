#!/usr/bin/env python3
"""hostile.py: a hostile or broken local client of crvs-tokend's socket.

    hostile.py SOCKET GROUP [ARGS...]

Standard library only; raw AF_UNIX sockets, no HTTP library.  Each group
prints one line per assertion, "PASS text" or "FAIL text", and "INFO text"
for figures; the shell test turns them into its PASS/FAIL lines.  The exit
status is 0 unless the group could not run at all.

Groups (CLIENT is a configured client whose token root may read; ISSUER is
the fake issuer's port, for its request counter):
  malformed CLIENT           broken request lines, garbage, HTTP/0.9
  sizes CLIENT               1 MB request line, 100 KB header, many headers,
                             long client names
  bodies CLIENT ISSUER       bodies where none belong, a 10 MB body, bad JSON
  paths CLIENT               traversal, %2e%2e, %2f, %00, %0a in paths
  methods CLIENT             unknown and disallowed methods
  pipeline CLIENT N          N pipelined requests on one connection
  slowloris SECS             one byte a second; how long until cut off
  slowbody CLIENT SECS       a refresh body at one byte a second
  idle SECS                  a connection that sends nothing
  many N HOLD READY STOP UIDS
                             N idle connections spread over the uids in
                             UIDS (comma-separated; connect with that
                             effective uid), held until STOP exists or HOLD
                             seconds pass; READY is written when all are
                             open
  flood N HOLD READY STOP UIDS
                             like many, but each connection the daemon
                             closes is opened again at once (same uid),
                             so that N stay open or queued
  disconnects CLIENT         abrupt disconnects in the middle of requests
  slowfetch CLIENT ISSUER    disconnects while waiting for a slow fetch
  reuse CLIENT ROUNDS        a connection the daemon closed, then at once a
                             new one (same descriptor number) with requests
                             in small pieces: none may be lost
  crosstalk CLIENT ROUNDS UID
                             a client that never reads and half-closes; UID
                             connects meanwhile and must receive nothing
  burst N                    N connections opened and closed at once
  watch OUT STOP GID         polls SOCKET's mode until STOP exists
"""

import json
import os
import re
import select
import socket
import stat
import sys
import time
import urllib.request

JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")
SOCK = None


def out(kind, text):
    sys.stdout.write("%s %s\n" % (kind, text))
    sys.stdout.flush()


def ok(cond, text):
    out("PASS" if cond else "FAIL", text)
    return cond


def connect(timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(SOCK)
    return s


def send_quietly(s, data):
    """Sends what the daemon will take; it may close early on purpose."""
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
        return False


class Response:
    def __init__(self):
        self.status = None      # None: no response at all
        self.headers = {}
        self.body = b""
        self.raw = b""
        self.closed = False     # the daemon closed the connection


def read_responses(s, want=1, timeout=5.0):
    """Reads up to `want` HTTP responses (Content-Length framed)."""
    buf = b""
    res = []
    deadline = time.monotonic() + timeout
    closed = False
    while len(res) < want:
        # Try to parse what we have.
        parsed = True
        while parsed and len(res) < want:
            parsed = False
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            r = Response()
            m = re.match(r"HTTP/\d\.\d (\d{3})", lines[0])
            r.status = int(m.group(1)) if m else -1
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    r.headers[k.strip().lower()] = v.strip()
            n = int(r.headers.get("content-length", "0") or 0)
            if len(buf) < end + 4 + n:
                break
            r.body = buf[end + 4:end + 4 + n]
            r.raw = buf[:end + 4 + n]
            buf = buf[end + 4 + n:]
            res.append(r)
            parsed = True
        if len(res) >= want or closed:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, OSError):
            closed = True
            continue
        if not chunk:
            closed = True
            continue
        buf += chunk
    if buf and not res:
        r = Response()
        r.status = -1
        r.raw = buf
        res.append(r)
    if closed:
        for r in res:
            r.closed = True
    return res, closed, buf


def exchange(data, timeout=5.0, want=1):
    """One connection: send data, read the answers.  Returns
    (first response or an empty one, all raw bytes, closed)."""
    try:
        s = connect()
    except OSError as e:
        r = Response()
        r.raw = ("connect failed: %s" % e).encode()
        return r, r.raw, True
    send_quietly(s, data)
    res, closed, rest = read_responses(s, want, timeout)
    s.close()
    raw = b"".join(r.raw for r in res) + rest
    r = res[0] if res else Response()
    r.closed = closed
    return r, raw, closed


def refused(r, raw, what, codes=(400, 404, 405, 413, 414, 431, 501, 505)):
    """A broken request is answered with an error, or the connection is
    closed; never 2xx, never a token."""
    fine = (r.status is None or r.status in codes or r.status == -1 and
            not raw.startswith(b"HTTP/")) and not JWT.search(raw)
    ok(fine, "%s: %s, no token" % (what, "status %s" % r.status if
                                   r.status not in (None, -1) else
                                   "closed without an answer"))
    return fine


def get(path, headers=b"", method=b"GET", body=b""):
    req = method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n" + headers
    if body:
        req += b"Content-Length: %d\r\n" % len(body)
    return req + b"\r\n" + body


def issuer_requests(port):
    with urllib.request.urlopen("http://127.0.0.1:%s/control/stats" % port,
                                timeout=5) as f:
        return json.load(f)["requests"]


def issuer_mode(port, query):
    req = urllib.request.Request(
        "http://127.0.0.1:%s/control/mode?%s" % (port, query), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


# --- groups ------------------------------------------------------------

def g_malformed(client):
    c = client.encode()
    cases = [
        ("a garbage line", b"GARBAGE\r\n\r\n"),
        ("4 KB of random bytes", os.urandom(4096)),
        ("an HTTP/0.9 request line", b"GET /v1/clients/" + c + b"/token\r\n"),
        ("HTTP/0.9 with a blank line", b"GET /v1/clients/" + c +
         b"/token\r\n\r\n"),
        ("HTTP/9.9", b"GET /v1/clients/" + c + b"/token HTTP/9.9\r\n\r\n"),
        ("a bogus version", b"GET /v1/clients/" + c + b"/token FTP/1.0\r\n\r\n"),
        ("a request line with no path", b"GET HTTP/1.1\r\n\r\n"),
        ("an empty method", b" /v1/clients/" + c + b"/token HTTP/1.1\r\n\r\n"),
        ("a header with no colon", b"GET /v1/clients/" + c +
         b"/token HTTP/1.1\r\nNoColonHere\r\n\r\n"),
        ("a NUL in the request line", b"GET /v1/clients/" + c +
         b"/token\x00 HTTP/1.1\r\n\r\n"),
        ("only CRLFs", b"\r\n" * 64),
        ("a folded (obs-fold) first header", b"GET /v1/health HTTP/1.1\r\n"
         b" folded\r\n\r\n"),
        ("Content-Length: -1 on refresh", b"POST /v1/clients/" + c +
         b"/refresh HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
        ("Content-Length: abc on refresh", b"POST /v1/clients/" + c +
         b"/refresh HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
        ("Content-Length: 2^64 on refresh", b"POST /v1/clients/" + c +
         b"/refresh HTTP/1.1\r\nContent-Length: 18446744073709551617\r\n\r\n"),
        ("a bad chunk size", b"POST /v1/clients/" + c +
         b"/refresh HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ("a TLS ClientHello", bytes.fromhex(
            "16030100a5010000a10303") + os.urandom(160)),
    ]
    for what, data in cases:
        r, raw, closed = exchange(data, timeout=12)
        refused(r, raw, what)
    # Tolerated (a valid request for root once the NUL is cut), but noted.
    r, raw, closed = exchange(b"GET /v1/health HTTP/1.1\r\nX-A: a\x00b\r\n"
                              b"\r\n")
    out("INFO", "a NUL in a header value: status %s" % r.status)


def g_sizes(client):
    c = client.encode()
    t0 = time.monotonic()
    r, raw, closed = exchange(b"GET /v1/clients/" + c + b"/token?" +
                              b"a" * (1 << 20) + b" HTTP/1.1\r\n\r\n",
                              timeout=10)
    took = time.monotonic() - t0
    refused(r, raw, "a 1 MB request line")
    ok(took < 5, "the 1 MB request line is cut off early (%.2f s)" % took)
    r, raw, closed = exchange(get(b"/v1/clients/" + c + b"/token",
                                  b"X-Big: " + b"b" * 100000 + b"\r\n"),
                              timeout=10)
    refused(r, raw, "a 100 KB header")
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(10000))
    r, raw, closed = exchange(get(b"/v1/clients/" + c + b"/token", many),
                              timeout=10)
    refused(r, raw, "10,000 headers (about 100 KB)")
    few = b"".join(b"X-H%d: v\r\n" % i for i in range(100))
    r, raw, closed = exchange(get(b"/v1/health", few))
    ok(r.status == 200, "100 small headers are still a normal request "
       "(status %s)" % r.status)
    r, raw, closed = exchange(get(b"/v1/clients/" + b"a" * 65 + b"/token"))
    ok(r.status == 400 and b"bad_request" in r.body and not JWT.search(raw),
       "a 65-character client name: 400 bad_request (status %s)" % r.status)
    r, raw, closed = exchange(get(b"/v1/clients/" + b"a" * 64 + b"/token"))
    ok(r.status == 404 and b"unknown_client" in r.body,
       "a 64-character unknown name: 404 unknown_client (status %s)" %
       r.status)
    r, raw, closed = exchange(get(b"/v1/clients/" + b"a" * 10000 + b"/token"))
    refused(r, raw, "a 10,000-character client name")
    r, raw, closed = exchange(get(b"/v1/clients/" + b"a" * 65))
    refused(r, raw, "a 65-character name in GET /v1/clients/NAME")
    r, raw, closed = exchange(get(b"/v1/clients/" + b"a" * 200 + b"/refresh",
                                  method=b"POST"))
    refused(r, raw, "a 200-character name in POST .../refresh")


def g_bodies(client, issuer):
    c = client.encode()
    before = issuer_requests(issuer)
    r, raw, closed = exchange(get(b"/v1/clients/" + c + b"/token",
                                  body=b"0123456789"))
    refused(r, raw, "a body on GET .../token")
    r, raw, closed = exchange(b"GET /v1/clients/" + c + b"/token HTTP/1.1\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n"
                              b"5\r\nhello\r\n0\r\n\r\n")
    refused(r, raw, "a chunked body on GET .../token")
    r, raw, closed = exchange(get(b"/v1/clients", body=b"x" * 100))
    refused(r, raw, "a body on GET /v1/clients")
    # 10 MB declared and sent: refused without reading it all, no refresh.
    t0 = time.monotonic()
    s = connect()
    send_quietly(s, b"POST /v1/clients/" + c + b"/refresh HTTP/1.1\r\n"
                 b"Content-Type: application/json\r\n"
                 b"Content-Length: 10485760\r\n\r\n")
    sent = 0
    chunk = b"x" * 65536
    s.settimeout(5)
    while sent < 10485760:
        try:
            s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, socket.timeout,
                OSError):
            break
        sent += len(chunk)
    res, closed, rest = read_responses(s, 1, 5)
    s.close()
    took = time.monotonic() - t0
    r = res[0] if res else Response()
    raw = b"".join(x.raw for x in res) + rest
    refused(r, raw, "a 10 MB body on refresh (the daemon took %d KB of it "
            "in %.2f s)" % (sent // 1024, took))
    ok(sent < 2 << 20, "the daemon stopped taking the 10 MB body early "
       "(%d KB went in, socket buffers included)" % (sent // 1024))
    # The same, chunked.
    s = connect()
    send_quietly(s, b"POST /v1/clients/" + c + b"/refresh HTTP/1.1\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    sent = 0
    piece = b"10000\r\n" + b"y" * 65536 + b"\r\n"
    while sent < 10485760:
        try:
            s.sendall(piece)
        except (BrokenPipeError, ConnectionResetError, socket.timeout,
                OSError):
            break
        sent += 65536
    res, closed, rest = read_responses(s, 1, 5)
    s.close()
    r = res[0] if res else Response()
    raw = b"".join(x.raw for x in res) + rest
    refused(r, raw, "a 10 MB chunked body on refresh (taken: %d KB)" %
            (sent // 1024))
    ok(sent < 2 << 20, "the daemon stopped taking the chunked body early "
       "(%d KB went in)" % (sent // 1024))
    bad = [b"{", b"[]", b"null", b'"text"', b"42", b"true",
           b'{"rejected_token": 5}', b'{"rejected_token": ""}',
           b'{"rejected_token": null}', b'{"rejected_token": ["a"]}',
           b"\xff\xfe\xfd", b"[" * 100000,
           b'{"rejected_token": "abc"} trailing garbage',
           b'{} {}', b'{"rejected_token": "abc"',
           b'{"a":' * 5000 + b"1" + b"}" * 5000]
    for body in bad:
        r, raw, closed = exchange(get(b"/v1/clients/" + c + b"/refresh",
                                      b"Content-Type: application/json\r\n",
                                      method=b"POST", body=body))
        shown = body[:40].decode("latin-1").encode("unicode_escape").decode()
        ok(r.status in (400, 413) and not JWT.search(raw),
           "refresh with the body %r%s: 400 (status %s)" %
           (shown, "..." if len(body) > 40 else "", r.status))
    after = issuer_requests(issuer)
    ok(after == before, "none of the refused bodies caused an upstream "
       "request (%d before, %d after)" % (before, after))
    # A long but well-formed rejected_token that is not the current one:
    # answered with the current token, no refresh.
    body = json.dumps({"rejected_token": "z" * 60000}).encode()
    r, raw, closed = exchange(get(b"/v1/clients/" + c + b"/refresh",
                                  b"Content-Type: application/json\r\n",
                                  method=b"POST", body=body))
    ok(r.status == 200 and issuer_requests(issuer) == after,
       "a 60 KB rejected_token that is not current: 200, no upstream "
       "request (status %s)" % r.status)


def g_paths(client):
    c = client.encode()
    paths = [
        b"/v1/clients/../../etc/passwd/token",
        b"/v1/clients/%2e%2e/%2e%2e/etc/passwd/token",
        b"/v1/clients/%2e%2e/token",
        b"/v1/clients/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd/token",
        b"/v1/clients/..%2f..%2fetc%2fpasswd/token",
        b"/v1/clients/" + c[:2] + b"%2f" + c[2:] + b"/token",
        b"/../../../../etc/passwd",
        b"/%2e%2e/%2e%2e/etc/passwd",
        b"/v1/clients/" + c + b"/token/../../../../etc/passwd",
        b"/v1/clients/" + c + b"%00/token",
        b"/v1/clients/" + c + b"/token%00",
        b"/v1/clients/" + c + b"/token%00.json",
        b"/v1/clients/" + c + b"%00evil/token",
        b"/v1/clients/%00/token",
        b"/v1/clients/" + c + b"%0a/token",
        b"/v1/clients/" + c + b"%0d%0aX-Injected:%201/token",
        b"/v1/clients/%/token",
        b"/v1/clients/" + c + b"%2/token",
        b"/v1/clients/%C3%A9/token",
        b"/v1/clients/%ff%fe/token",
        b"/v1/clients/ /token",
        b"/v1/clients/" + c + b"\\..\\..\\etc\\passwd/token",
        b"/v1/clients/./token",
        b"/v1/clients//token",
        b"/v1/clients/-/token/..",
    ]
    for p in paths:
        r, raw, closed = exchange(get(p))
        fine = (r.status in (400, 404, 405, 414) or r.status == -1 or
                r.status is None) and not JWT.search(raw) and \
            b"root:" not in raw
        ok(fine, "%s: refused (status %s%s%s)" %
           (p.decode("latin-1"), r.status,
            ", answered with a TOKEN" if JWT.search(raw) else
            ", answered with a client's status" if b'"state"' in raw else "",
            ", with a FILE" if b"root:" in raw else ""))
    # An encoded slash where a separator belongs: the daemon decodes before
    # routing, so this reads as .../token; the ACL still applies (acl.sh).
    r, raw, closed = exchange(get(b"/v1/clients/" + c + b"%2ftoken"))
    out("INFO", "/v1/clients/%s%%2ftoken: status %s (%s)" %
        (client, r.status, "a token" if JWT.search(raw) else "no token"))
    # Log injection attempts: the shell checks that the log stayed one
    # event per line.
    for p in [b"/v1/nope%0a2099-01-01T00:00:00.000%20crvs-tokend[1]%20error:"
              b"%20INJECTED",
              b"/v1/clients/" + c + b"/nope%0d%0aINJECTED",
              b"/metrics%0aINJECTED%1b[31m"]:
        r, raw, closed = exchange(get(p))
        ok(r.status in (400, 404, 405), "%s: status %s" %
           (p.decode("latin-1"), r.status))


def g_methods(client):
    c = client.encode()
    for m in [b"FOO", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD",
              b"TRACE", b"PROPFIND", b"get", b"G\x00T"]:
        r, raw, closed = exchange(get(b"/v1/clients/" + c + b"/token",
                                      method=m))
        ok((r.status is None or r.status == -1 or 400 <= r.status < 600) and
           not JWT.search(raw), "method %s on .../token: status %s, no token"
           % (m.decode("latin-1").encode("unicode_escape").decode(),
              r.status))
    r, raw, closed = exchange(b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n")
    refused(r, raw, "CONNECT 127.0.0.1:22")
    r, raw, closed = exchange(get(b"/v1/clients/" + c + b"/token",
                                  method=b"POST"))
    ok(r.status == 405 and not JWT.search(raw),
       "POST on .../token: 405 (status %s)" % r.status)
    r, raw, closed = exchange(get(b"/v1/clients/" + c + b"/refresh"))
    ok(r.status == 405 and not JWT.search(raw),
       "GET on .../refresh: 405, no refresh (status %s)" % r.status)


def g_pipeline(client, n):
    c = client.encode()
    req = (b"GET /v1/clients/" + c + b"/token HTTP/1.1\r\nHost: x\r\n"
           b"Accept: text/plain\r\n\r\n")
    s = connect()
    t0 = time.monotonic()
    send_quietly(s, req * n)
    res, closed, rest = read_responses(s, n, 15)
    took = time.monotonic() - t0
    s.close()
    good = [r for r in res if r.status == 200 and JWT.search(r.body)]
    toks = set(r.body for r in good)
    ok(len(good) == n, "%d pipelined requests on one connection: %d "
       "answered 200 with a token in %.2f s" % (n, len(good), took))
    ok(len(toks) <= 1, "and all carry the same token (%d distinct)" %
       len(toks))
    # A mixture: good, bad, good.  After the bad one the daemon may close.
    s = connect()
    send_quietly(s, req + b"GARBAGE\r\n\r\n" + req)
    res, closed, rest = read_responses(s, 3, 5)
    s.close()
    ok(len(res) >= 1 and res[0].status == 200 and
       all(not JWT.search(r.raw) for r in res[1:2]),
       "good, garbage, good pipelined: the first answered (%s), the "
       "garbage refused (%s)" % ([r.status for r in res],
                                 "closed" if closed else "open"))
    # 100 requests split at awkward places.
    s = connect()
    data = req * 20
    for i in range(0, len(data), 7):
        send_quietly(s, data[i:i + 7])
    res, closed, rest = read_responses(s, 20, 10)
    s.close()
    ok(len([r for r in res if r.status == 200]) == 20,
       "20 requests sent 7 bytes at a time: %d answered" %
       len([r for r in res if r.status == 200]))


def trickle(s, data, secs, label):
    """Sends data one byte a second until the daemon closes; returns the
    seconds the connection lived (None if it was never closed)."""
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < secs:
        if i < len(data):
            try:
                s.send(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError, OSError):
                return time.monotonic() - t0
            i += 1
        r, _, _ = select.select([s], [], [], 1.0)
        if r:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, OSError):
                return time.monotonic() - t0
            if not b:
                return time.monotonic() - t0
            # An answer (e.g. 408) then close: keep reading until closed.
    return None


def g_slowloris(secs):
    s = connect()
    data = (b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" +
            b"".join(b"X-%d: %s\r\n" % (i, b"a" * 20) for i in range(200)))
    lived = trickle(s, data, secs, "slowloris")
    s.close()
    if lived is None:
        ok(False, "one byte a second: still connected after %d s "
           "(not cut off)" % secs)
    else:
        ok(lived <= 15, "one byte a second: cut off after %.1f s" % lived)


def g_slowbody(client, secs):
    s = connect()
    hdr = (b"POST /v1/clients/" + client.encode() + b"/refresh HTTP/1.1\r\n"
           b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    send_quietly(s, hdr)
    lived = trickle(s, b" " * 1000, secs, "slowbody")
    s.close()
    if lived is None:
        ok(False, "a refresh body at one byte a second: still connected "
           "after %d s (not cut off)" % secs)
    else:
        ok(lived <= 15, "a refresh body at one byte a second: cut off after "
           "%.1f s" % lived)


def g_idle(secs):
    s = connect()
    t0 = time.monotonic()
    s.settimeout(secs)
    try:
        b = s.recv(100)
        lived = time.monotonic() - t0
        ok(lived <= 15, "a connection that sends nothing: closed after "
           "%.1f s" % lived)
    except socket.timeout:
        ok(False, "a connection that sends nothing: still open after %d s" %
           secs)
    except OSError:
        ok(True, "a connection that sends nothing: reset after %.1f s" %
           (time.monotonic() - t0))
    s.close()


def g_many(n, hold, ready, stop, uids):
    uids = [int(u) for u in uids.split(",") if u]
    conns = []
    failed = 0
    t0 = time.monotonic()
    per = (n + len(uids) - 1) // len(uids)
    for k, uid in enumerate(uids):
        if uid != 0:
            os.setegid(uid)
            os.seteuid(uid)
        for _ in range(min(per, n - len(conns) - failed)):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(SOCK)
                conns.append(s)
            except OSError:
                failed += 1
                s.close()
        if uid != 0:
            os.seteuid(0)
            os.setegid(0)
    opened = time.monotonic() - t0
    with open(ready, "w") as f:
        f.write("%d %d %.2f\n" % (len(conns), failed, opened))
    out("INFO", "opened %d connections (%d failed) in %.2f s" %
        (len(conns), failed, opened))
    alive = {s.fileno(): s for s in conns}
    closed_at = []
    poller = select.epoll()
    for s in conns:
        poller.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
    while alive and time.monotonic() - t0 < hold and \
            not os.path.exists(stop):
        for fd, ev in poller.poll(0.2):
            poller.unregister(fd)
            closed_at.append(time.monotonic() - t0)
            alive.pop(fd).close()
    out("INFO", "the daemon closed %d of them while held; %d still open "
        "after %.1f s" % (len(closed_at), len(alive), time.monotonic() - t0))
    if closed_at:
        out("INFO", "closures between %.1f s and %.1f s after the first "
            "connect" % (min(closed_at), max(closed_at)))
    with open(ready + ".done", "w") as f:
        f.write("%d %d\n" % (len(closed_at), len(alive)))
    for s in alive.values():
        s.close()


def as_uid(uid, fn):
    if uid != 0:
        os.setegid(uid)
        os.seteuid(uid)
    try:
        return fn()
    finally:
        if uid != 0:
            os.seteuid(0)
            os.setegid(0)


def g_flood(n, hold, ready, stop, uids):
    uids = [int(u) for u in uids.split(",") if u]
    poller = select.epoll()
    alive = {}                      # fd: (socket, uid)
    counts = {"opened": 0, "failed": 0}

    def one(uid):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            # A Unix socket connects at once while the backlog has room
            # (EAGAIN: it is full, nothing was queued).
            as_uid(uid, lambda: s.connect(SOCK))
        except OSError:
            counts["failed"] += 1
            s.close()
            return
        counts["opened"] += 1
        alive[s.fileno()] = (s, uid)
        poller.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)

    t0 = time.monotonic()
    for k in range(n):
        one(uids[k % len(uids)])
    with open(ready, "w") as f:
        f.write("%d %d\n" % (len(alive), counts["failed"]))
    reopened = 0
    while time.monotonic() - t0 < hold and not os.path.exists(stop):
        for fd, ev in poller.poll(0.05):
            poller.unregister(fd)
            sock, uid = alive.pop(fd)
            sock.close()
            one(uid)
            reopened += 1
    out("INFO", "kept %d connections open or queued for %.1f s: %d closed "
        "by the daemon and opened again, %d connects failed" %
        (n, time.monotonic() - t0, reopened, counts["failed"]))
    for sock, _ in alive.values():
        sock.close()


def g_disconnects(client):
    c = client.encode()
    req = get(b"/v1/clients/" + c + b"/token")
    n = 0
    for i in range(200):            # half a request line, then gone
        s = connect()
        send_quietly(s, req[:5 + i % 20])
        s.close()
        n += 1
    for i in range(200):            # a whole request, gone before the answer
        s = connect()
        send_quietly(s, req)
        s.close()
        n += 1
    for i in range(100):            # half a body, then gone
        s = connect()
        send_quietly(s, b"POST /v1/clients/" + c + b"/refresh HTTP/1.1\r\n"
                     b"Content-Length: 100\r\n\r\n" + b"{" * 50)
        s.close()
        n += 1
    for i in range(50):             # SO_LINGER 0: reset rather than close
        s = connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        send_quietly(s, req[:10])
        s.close()
        n += 1
    for i in range(50):             # half-close after a whole request
        s = connect()
        send_quietly(s, req)
        s.shutdown(socket.SHUT_WR)
        s.close()
        n += 1
    out("INFO", "%d connections dropped mid-request" % n)
    r, raw, closed = exchange(get(b"/v1/health"))
    ok(r.status == 200, "after them a request on a new connection is "
       "answered (status %s)" % r.status)


def g_slowfetch(client, issuer):
    c = client.encode()
    before = issuer_requests(issuer)
    issuer_mode(issuer, "mode=slow&delay=3")
    try:
        # Twenty callers force a refresh; nineteen hang up while it is in
        # flight, one waits for it.
        conns = []
        for i in range(20):
            s = connect()
            send_quietly(s, get(b"/v1/clients/" + c + b"/refresh",
                                method=b"POST"))
            conns.append(s)
            time.sleep(0.01)
        time.sleep(0.5)
        for s in conns[1:]:
            s.close()
        res, closed, rest = read_responses(conns[0], 1, 10)
        conns[0].close()
        ok(len(res) == 1 and res[0].status == 200 and JWT.search(res[0].body),
           "the caller that stayed gets its new token after the slow fetch "
           "(status %s)" % (res[0].status if res else None))
        # Everyone hangs up: the fetch completes with nobody waiting.
        conns = []
        for i in range(10):
            s = connect()
            send_quietly(s, get(b"/v1/clients/" + c + b"/refresh",
                                method=b"POST"))
            conns.append(s)
        time.sleep(0.5)
        for s in conns:
            s.close()
        # A token request while that fetch is in flight, abandoned, and a
        # refresh --rejected abandoned the same way.
        s = connect()
        send_quietly(s, get(b"/v1/clients/" + c + b"/token?min_valid=599"))
        time.sleep(0.2)
        s.close()
        time.sleep(3.5)
        after = issuer_requests(issuer)
        ok(after - before <= 3, "single flight held while callers left: %d "
           "upstream requests for 3 rounds" % (after - before))
    finally:
        issuer_mode(issuer, "mode=ok")
    r, raw, closed = exchange(get(b"/v1/clients/" + c + b"/token"))
    ok(r.status == 200 and JWT.search(r.body),
       "after the abandoned waits a token request is answered (status %s)" %
       r.status)


def g_reuse(client, rounds):
    """A connection the daemon closes (after a bad request) and, at once, a
    new one that likely gets the same descriptor number in the daemon and
    sends three requests in 7-byte pieces: all three must be answered."""
    c = client.encode()
    req = (b"GET /v1/clients/" + c + b"/token HTTP/1.1\r\nHost: x\r\n"
           b"Accept: text/plain\r\n\r\n")
    bad = []
    for i in range(rounds):
        g = connect()
        send_quietly(g, req + b"GARBAGE\r\n\r\n" + req)
        read_responses(g, 1, 1)
        g.close()
        s = connect()
        data = req * 3
        for k in range(0, len(data), 7):
            send_quietly(s, data[k:k + 7])
        res, closed, rest = read_responses(s, 3, 2)
        s.close()
        n = len([r for r in res if r.status == 200])
        if n != 3:
            bad.append(n)
            if len(bad) >= 3:
                rounds = i + 1
                break
    ok(not bad, "a new connection right after one the daemon closed: all "
       "requests answered in %d of %d rounds%s" %
       (rounds - len(bad), rounds, " (answered in the others: %s)" %
        bad[:10] if bad else ""))


def g_crosstalk(client, rounds, uid):
    """A client that pipelines many requests, never reads and half-closes;
    meanwhile another uid opens connections and sends nothing.  That uid
    must never receive a byte (let alone a token) meant for the first."""
    c = client.encode()
    req = (b"GET /v1/clients/" + c + b"/token HTTP/1.1\r\nHost: x\r\n"
           b"Accept: text/plain\r\n\r\n")
    uid = int(uid)
    leaked = 0
    for r in range(rounds):
        x = connect()
        x.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        x.setblocking(False)
        try:
            x.send(req * 2000)
        except OSError:
            pass
        time.sleep(0.05)
        try:
            x.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                got = b""
                for i in range(10):
                    y = connect()
                    y.settimeout(0.05)
                    try:
                        got += y.recv(65536)
                    except (socket.timeout, OSError):
                        pass
                    y.close()
                os._exit(1 if got else 0)
            except Exception:
                os._exit(2)
        _, st = os.waitpid(pid, 0)
        if os.WEXITSTATUS(st) == 1:
            leaked += 1
        x.close()
    ok(leaked == 0, "a client that never reads and half-closes: another uid "
       "that sends nothing received data in %d of %d rounds" %
       (leaked, rounds))


def g_burst(n):
    conns = []
    for _ in range(n):
        try:
            conns.append(connect(2))
        except OSError:
            break
    time.sleep(0.5)
    for s in conns:
        s.close()


def g_watch(outfile, stopfile, gid):
    gid = int(gid)
    polls = seen = bad = 0
    modes = {}
    bad_examples = []
    while not os.path.exists(stopfile):
        polls += 1
        try:
            st = os.lstat(SOCK)
        except FileNotFoundError:
            continue
        except OSError:
            continue
        if not stat.S_ISSOCK(st.st_mode):
            continue
        seen += 1
        mode = stat.S_IMODE(st.st_mode)
        key = "%o:%s" % (mode, "g" if st.st_gid == gid else "other")
        modes[key] = modes.get(key, 0) + 1
        if mode & 0o007 or (mode & 0o070 and st.st_gid != gid):
            bad += 1
            if len(bad_examples) < 5:
                bad_examples.append("%o gid %d" % (mode, st.st_gid))
    with open(outfile, "w") as f:
        f.write("polls %d\nseen %d\nbad %d\nmodes %s\n" %
                (polls, seen, bad, " ".join("%s=%d" % kv for kv in
                                            sorted(modes.items()))))
        if bad_examples:
            f.write("examples %s\n" % ", ".join(bad_examples))


def main():
    global SOCK
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 64
    SOCK = sys.argv[1]
    group, args = sys.argv[2], sys.argv[3:]
    fns = {
        "malformed": (g_malformed, [str]),
        "sizes": (g_sizes, [str]),
        "bodies": (g_bodies, [str, str]),
        "paths": (g_paths, [str]),
        "methods": (g_methods, [str]),
        "pipeline": (g_pipeline, [str, int]),
        "slowloris": (g_slowloris, [int]),
        "slowbody": (g_slowbody, [str, int]),
        "idle": (g_idle, [int]),
        "many": (g_many, [int, float, str, str, str]),
        "flood": (g_flood, [int, float, str, str, str]),
        "disconnects": (g_disconnects, [str]),
        "slowfetch": (g_slowfetch, [str, str]),
        "burst": (g_burst, [int]),
        "reuse": (g_reuse, [str, int]),
        "crosstalk": (g_crosstalk, [str, int, str]),
        "watch": (g_watch, [str, str, str]),
    }
    if group not in fns or len(args) != len(fns[group][1]):
        sys.stderr.write(__doc__)
        return 64
    fn, types = fns[group]
    fn(*[t(a) for t, a in zip(types, args)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
