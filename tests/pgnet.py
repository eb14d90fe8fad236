#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Small, bounded traffic tools for pairgate's integration tests and demo.

Every command has a hard time limit, so a dropped packet makes a test fail
instead of hang. Nothing here needs a package beyond Debian's python3.

  ping DST [-c N] [-W SECS] [-i SECS]      ICMP/ICMPv6 echo; prints "R/N"
  tcp-recv PORT OUT [--ready F] [-t SECS]  accept one connection, save it
  tcp-send DST PORT FILE [-t SECS]         send a file, wait for the close
  tcp-serve PORT [--ready F] [-t SECS]     accept and close, until killed
  tcp-connect DST PORT [-t SECS]           exit 0 if a connection opens
  udp-gen N SEED [MAXLEN]                  N random payloads, hex per line
  udp-recv PORT OUT [--ready F] [-t SECS] [--count N]
  udp-send DST PORT PAYLOADS [--gap SECS]
  capture IFACE OUT [--proto P] [--inner P] [--ready F] [-t SECS]
  inject IFACE FRAME                       send a captured frame again
  forge FRAME OUT [--seq-add N]            same frame, later seq, stale tag
  jget PATH                                field of the JSON on stdin
  jnorm [--drop KEY]...                    canonical JSON of stdin
"""

import argparse
import hashlib
import json
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PG_IPPROTO_SHIM = 253


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def touch(path):
    if path:
        with open(path, "w") as f:
            f.write("ready\n")


def die(msg):
    print("pgnet: " + msg, file=sys.stderr)
    sys.exit(1)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def cmd_ping(a):
    v6 = family_of(a.dst) == socket.AF_INET6
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW,
                          socket.IPPROTO_ICMPV6)
        req, rep = 128, 129
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW,
                          socket.IPPROTO_ICMP)
        req, rep = 8, 0
    ident = os.getpid() & 0xffff
    got = 0
    for seq in range(1, a.count + 1):
        payload = struct.pack("!d", time.time()) + b"pairgate" * 6
        hdr = struct.pack("!BBHHH", req, 0, 0, ident, seq)
        if not v6:
            hdr = struct.pack("!BBHHH", req, 0, csum(hdr + payload),
                              ident, seq)
        s.sendto(hdr + payload, (a.dst, 0))
        deadline = time.monotonic() + a.wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                break
            pkt = s.recv(65535)
            if not v6:
                pkt = pkt[(pkt[0] & 0x0f) * 4:]
            if len(pkt) < 8:
                continue
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", pkt[:8])
            if typ == rep and rid == ident and rseq == seq:
                got += 1
                break
        if seq < a.count:
            time.sleep(a.interval)
    print("%d/%d" % (got, a.count))
    return 0 if got == a.count else 1


def listener(a, kind):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", a.port))
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    touch(a.ready)
    return s


def cmd_tcp_recv(a):
    s = listener(a, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    deadline = time.monotonic() + a.timeout
    try:
        c, _ = s.accept()
    except socket.timeout:
        die("no connection within %gs" % a.timeout)
    h = hashlib.sha256()
    n = 0
    with open(a.out, "wb") as f:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                die("transfer not finished within %gs" % a.timeout)
            c.settimeout(left)
            try:
                buf = c.recv(1 << 16)
            except socket.timeout:
                die("transfer not finished within %gs" % a.timeout)
            if not buf:
                break
            f.write(buf)
            h.update(buf)
            n += len(buf)
    c.close()
    print("%s %d" % (h.hexdigest(), n))
    return 0


def connect(dst, port, timeout):
    s = socket.socket(family_of(dst), socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((dst, port))
    return s


def cmd_tcp_send(a):
    deadline = time.monotonic() + a.timeout
    try:
        s = connect(a.dst, a.port, a.timeout)
        with open(a.file, "rb") as f:
            data = f.read()
        s.settimeout(max(deadline - time.monotonic(), 0.1))
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(max(deadline - time.monotonic(), 0.1))
        while s.recv(4096):
            pass
    except OSError as e:
        die("tcp to %s port %d: %s" % (a.dst, a.port, e))
    return 0


def cmd_tcp_serve(a):
    s = listener(a, socket.SOCK_STREAM)
    deadline = time.monotonic() + a.timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return 0
        if select.select([s], [], [], left)[0]:
            c, _ = s.accept()
            c.sendall(b"pairgate\n")
            c.close()


def cmd_tcp_connect(a):
    try:
        s = connect(a.dst, a.port, a.timeout)
        s.close()
    except OSError as e:
        why = str(e) or "timed out"
        print("pgnet: tcp to %s port %d: %s" % (a.dst, a.port, why),
              file=sys.stderr)
        return 1
    return 0


def cmd_udp_gen(a):
    rnd = random.Random(a.seed)
    for i in range(a.n):
        n = rnd.randint(1, a.maxlen)
        body = bytes(rnd.getrandbits(8) for _ in range(n))
        print((b"%d:" % i + body).hex())
    return 0


def cmd_udp_recv(a):
    s = listener(a, socket.SOCK_DGRAM)
    deadline = time.monotonic() + a.timeout
    n = 0
    with open(a.out, "w") as f:
        while a.count == 0 or n < a.count:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                break
            f.write(s.recv(65535).hex() + "\n")
            f.flush()
            n += 1
    return 0


def cmd_udp_send(a):
    s = socket.socket(family_of(a.dst), socket.SOCK_DGRAM)
    with open(a.payloads) as f:
        for line in f:
            line = line.strip()
            if line:
                s.sendto(bytes.fromhex(line), (a.dst, a.port))
                time.sleep(a.gap)
    return 0


def shim_offset(frame):
    """Offset of the shim in an Ethernet frame carrying one, else None."""
    if len(frame) < 14:
        return None
    etype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if etype == 0x0800 and len(ip) >= 20:
        proto, hl = ip[9], (ip[0] & 0x0f) * 4
    elif etype == 0x86dd and len(ip) >= 40:
        proto, hl = ip[6], 40
    else:
        return None
    if proto != PG_IPPROTO_SHIM or len(ip) < hl + 24:
        return None
    return 14 + hl


def cmd_capture(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                      socket.htons(ETH_P_ALL))
    s.bind((a.iface, 0))
    touch(a.ready)
    deadline = time.monotonic() + a.timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            die("no shim frame on %s within %gs" % (a.iface, a.timeout))
        frame = s.recv(65535)
        off = shim_offset(frame)
        if off is not None and (a.inner < 0 or frame[off] == a.inner):
            break
    with open(a.out, "w") as f:
        f.write(frame.hex() + "\n")
    return 0


def cmd_inject(a):
    with open(a.frame) as f:
        frame = bytes.fromhex(f.read().strip())
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    s.send(frame)
    return 0


def cmd_forge(a):
    with open(a.frame) as f:
        frame = bytearray.fromhex(f.read().strip())
    off = shim_offset(frame)
    if off is None:
        die("%s holds no shim frame" % a.frame)
    seq = struct.unpack("!Q", frame[off + 8:off + 16])[0]
    frame[off + 8:off + 16] = struct.pack("!Q", seq + a.seq_add)
    with open(a.out, "w") as f:
        f.write(frame.hex() + "\n")
    return 0


def cmd_jget(a):
    v = json.load(sys.stdin)
    for k in a.path.split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    print(json.dumps(v) if isinstance(v, (dict, list)) else v)
    return 0


def cmd_jnorm(a):
    v = json.load(sys.stdin)
    for k in a.drop or []:
        if isinstance(v, dict):
            v.pop(k, None)
    print(json.dumps(v, sort_keys=True))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, fn, *pos, timeout=5.0, ready=False):
        c = sub.add_parser(name)
        for arg, typ in pos:
            c.add_argument(arg, type=typ)
        c.add_argument("-t", "--timeout", type=float, default=timeout)
        if ready:
            c.add_argument("--ready")
        c.set_defaults(fn=fn)
        return c

    c = add("ping", cmd_ping, ("dst", str))
    c.add_argument("-c", "--count", type=int, default=3)
    c.add_argument("-W", "--wait", type=float, default=1.0)
    c.add_argument("-i", "--interval", type=float, default=0.2)
    add("tcp-recv", cmd_tcp_recv, ("port", int), ("out", str),
        timeout=30.0, ready=True)
    add("tcp-send", cmd_tcp_send, ("dst", str), ("port", int),
        ("file", str), timeout=30.0)
    add("tcp-serve", cmd_tcp_serve, ("port", int), timeout=60.0,
        ready=True)
    add("tcp-connect", cmd_tcp_connect, ("dst", str), ("port", int),
        timeout=2.0)
    c = add("udp-gen", cmd_udp_gen, ("n", int), ("seed", int))
    c.add_argument("maxlen", type=int, nargs="?", default=1200)
    c = add("udp-recv", cmd_udp_recv, ("port", int), ("out", str),
            timeout=10.0, ready=True)
    c.add_argument("--count", type=int, default=0)
    c = add("udp-send", cmd_udp_send, ("dst", str), ("port", int),
            ("payloads", str))
    c.add_argument("--gap", type=float, default=0.002)
    c = add("capture", cmd_capture, ("iface", str), ("out", str),
            timeout=10.0, ready=True)
    c.add_argument("--inner", type=int, default=-1)
    add("inject", cmd_inject, ("iface", str), ("frame", str))
    c = add("forge", cmd_forge, ("frame", str), ("out", str))
    c.add_argument("--seq-add", type=int, default=1000)
    add("jget", cmd_jget, ("path", str))
    c = add("jnorm", cmd_jnorm)
    c.add_argument("--drop", action="append")

    a = p.parse_args()
    sys.exit(a.fn(a))


if __name__ == "__main__":
    main()
