#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Checks of pairgate's observability outputs for tests/integration/observe.sh.

  prom [FILE]                      strict exposition (0.0.4) check; exit 1 with why
  prom-get NAME [LABEL=VALUE]...   the value of one sample of the exposition on stdin
  pcapng-reasons FILE              the comment of every packet of a pcapng file
  jfind LIST FIELD [KEY=VALUE]...  FIELD of the one element of LIST (a key of the
                                   JSON object on stdin) that matches every KEY=VALUE
"""

import json
import re
import struct
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|Inf)|NaN)"
SAMPLE = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?\})? (%s)(?: -?[0-9]+)?$"
                    % (NAME, LABEL, LABEL, VALUE))
HELP = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$"
                  % NAME)


def die(msg):
    print("obscheck: " + msg, file=sys.stderr)
    sys.exit(1)


def prom_check(text):
    """Every line a HELP, TYPE or sample line; TYPE before a family's samples."""
    typed, samples = {}, 0
    if not text.endswith("\n"):
        die("exposition does not end with a newline")
    for n, line in enumerate(text.splitlines(), 1):
        m = HELP.match(line)
        if m:
            continue
        m = TYPE.match(line)
        if m:
            if m.group(1) in typed:
                die("line %d: second TYPE for %s" % (n, m.group(1)))
            typed[m.group(1)] = m.group(2)
            continue
        if line.startswith("#"):
            die("line %d: a comment that is neither HELP nor TYPE: %r" % (n, line))
        m = SAMPLE.match(line)
        if not m:
            die("line %d: not a valid sample line: %r" % (n, line))
        if m.group(1) not in typed:
            die("line %d: %s has no TYPE line before it" % (n, m.group(1)))
        if typed[m.group(1)] == "counter" and not m.group(1).endswith("_total"):
            die("line %d: counter %s does not end in _total" % (n, m.group(1)))
        samples += 1
    if not samples:
        die("no samples")
    return samples


def parse_labels(s):
    out = {}
    for m in re.finditer(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', s or ""):
        out[m.group(1)] = re.sub(r"\\(.)", lambda x: {"n": "\n"}.get(x.group(1),
                                                             x.group(1)), m.group(2))
    return out


def cmd_prom(args):
    text = open(args[0]).read() if args else sys.stdin.read()
    print("%d samples" % prom_check(text))


def cmd_prom_get(args):
    want = dict(a.split("=", 1) for a in args[1:])
    found = []
    for line in sys.stdin.read().splitlines():
        m = SAMPLE.match(line)
        if m and m.group(1) == args[0]:
            labels = parse_labels(m.group(2))
            if all(labels.get(k) == v for k, v in want.items()):
                found.append(m.group(3))
    if len(found) != 1:
        die("%d samples of %s match %s" % (len(found), args[0], want))
    print(found[0])


def cmd_pcapng_reasons(args):
    data = open(args[0], "rb").read()
    if len(data) < 12 or struct.unpack("<I", data[:4])[0] != 0x0a0d0d0a:
        die("%s is not pcapng" % args[0])
    endian = "<" if struct.unpack("<I", data[8:12])[0] == 0x1a2b3c4d else ">"
    off = 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack(endian + "II", data[off:off + 8])
        if blen < 12 or off + blen > len(data):
            die("truncated block at %d" % off)
        if btype == 6:
            caplen = struct.unpack(endian + "I", data[off + 20:off + 24])[0]
            opt = off + 28 + (caplen + 3) // 4 * 4
            comment = ""
            while opt + 4 <= off + blen - 4:
                code, olen = struct.unpack(endian + "HH", data[opt:opt + 4])
                if code == 0:
                    break
                if code == 1:
                    comment = data[opt + 4:opt + 4 + olen].decode()
                opt += 4 + (olen + 3) // 4 * 4
            print(comment or "-")
        off += blen


def cmd_jfind(args):
    lst, field = args[0], args[1]
    want = dict(a.split("=", 1) for a in args[2:])
    doc = json.load(sys.stdin)
    hits = [e for e in doc[lst]
            if all(str(e.get(k)) == v for k, v in want.items())]
    if len(hits) != 1:
        die("%d entries of %s match %s" % (len(hits), lst, want))
    v = hits[0]
    for k in field.split("."):
        v = v.get(k, 0) if isinstance(v, dict) else 0
    print(json.dumps(v) if isinstance(v, (dict, list)) else v)


def main():
    cmds = {"prom": cmd_prom, "prom-get": cmd_prom_get,
            "pcapng-reasons": cmd_pcapng_reasons, "jfind": cmd_jfind}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        die("usage: " + __doc__)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
