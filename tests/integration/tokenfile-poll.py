#!/usr/bin/env python3
"""Reads a token file in a tight loop until STOP exists, and judges each
read as a consumer would: never empty, never partial, never a token whose
exp (by the issuer's clock: this machine's, the fake issuer runs unskewed)
has passed. Prints a JSON summary.

tokenfile-poll.py FILE STOP MIN_VALID READY: READY is created after the
first good read (python may take seconds to start on a loaded machine).
"""
import base64
import json
import os
import re
import sys
import time

path, stop, min_valid, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
shape = re.compile(rb"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$")
exp_of = {}
res = {
    "reads": 0, "absent": 0, "empty": 0, "partial": 0, "expired": 0,
    "distinct": 0,
    # How far past its servable end (exp - min_valid) a token was still
    # read from the file: the reader's view of the removal gap.
    "max_late_ms": None,
    # Gone-after-present transitions: exp - min_valid of the token last
    # seen, to the first read that found no file.
    "removals": [],
    "min_left_ms": None,
}
last = None
last_exp = None


def exp(tok):
    if tok not in exp_of:
        p = tok.split(b".")[1]
        claims = json.loads(base64.urlsafe_b64decode(p + b"=" * (-len(p) % 4)))
        exp_of[tok] = claims["exp"]
    return exp_of[tok]


while not os.path.exists(stop):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        now = time.time()
        res["absent"] += 1
        if last is not None:
            res["removals"].append(
                round((now - (last_exp - min_valid)) * 1000))
            last = None
        continue
    now = time.time()
    res["reads"] += 1
    if not data:
        res["empty"] += 1
        continue
    if not shape.match(data):
        res["partial"] += 1
        continue
    tok = data[:-1]
    e = exp(tok)
    left = (e - now) * 1000
    if left <= 0:
        res["expired"] += 1
    if res["min_left_ms"] is None or left < res["min_left_ms"]:
        res["min_left_ms"] = round(left)
    late = (now - (e - min_valid)) * 1000
    if res["max_late_ms"] is None or late > res["max_late_ms"]:
        res["max_late_ms"] = round(late)
    if last is None and not os.path.exists(ready):
        open(ready, "w").close()
    last, last_exp = tok, e
res["distinct"] = len(exp_of)
print(json.dumps(res))
