#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Pairing benchmarks: handshakes per second on one core (library level, in
# process), time from `pairgate join` to the first verified packet, and the
# daemon's CPU under a spoofed initiation flood with cookies off and on.
# Prints "name value unit" lines. Needs root and a built tree.

set -u
cd "$(dirname "$0")/../.." || exit 1
PG_NAME=daemon_bench
# shellcheck source=tests/lib.sh
. tests/lib.sh
B=$(mktemp -d /tmp/pg-dbench.XXXXXX)

# 1. handshakes/s: initiation + response + both key derivations, one thread
cat >"$B/hs.c" <<'C'
#include <stdio.h>
#include <time.h>
#include <sodium.h>
#include "handshake.h"
static struct hs_peer pa, pb;
static struct hs_peer *look(void *a, const uint8_t *k) { (void)a; (void)k; return &pb; }
int main(void)
{
	uint8_t ka[32], kb[32], m1[HS_MAX_MSG_LEN], m2[HS_RESPONSE_LEN];
	struct hs_identity a, b; struct hs_handshake i, r; struct hs_sa_keys x, y;
	struct hs_src src = { .port = 1 }; struct timespec t0, t1; int n, N = 5000;
	sodium_init(); randombytes_buf(ka, 32); randombytes_buf(kb, 32);
	hs_init_identity(&a, ka, NULL); hs_init_identity(&b, kb, NULL);
	hs_peer_init(&pa, b.pub); hs_peer_init(&pb, a.pub);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (n = 0; n < N; n++) {
		hs_create_initiation(&i, &a, &pa, 0, 0, m1, sizeof(m1));
		if (hs_consume_initiation(&r, &b, m1, HS_INITIATION_LEN, &src, 0, look, 0) ||
		    hs_create_response(&r, 0, 0, m2, sizeof(m2)) < 0 ||
		    hs_consume_response(&i, m2, sizeof(m2)) || hs_derive_sa_keys(&i, &x) ||
		    hs_derive_sa_keys(&r, &y))
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("handshakes_per_sec_per_core %.0f 1/s\n",
	       N / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9));
	return 0;
}
C
cc -O2 -Iuserspace/lib -Iinclude "$B/hs.c" build/libpg.a -lsodium -o "$B/hs" &&
	taskset -c 0 "$B/hs"

# 2 and 3 need namespaces: reuse the integration topology
pg_setup p q u
pgd() {
	local h=$1; shift
	PAIRGATE_BPFFS=$PG_TMP/bpffs/$h LIBXDP_BPFFS=$PG_TMP/bpffs/$h ip netns exec \
		"$(pg_ns "$h")" build/pairgated --state-dir "$PG_TMP/st-$h" \
		--socket "$PG_TMP/$h.sock" "$@" eth0 2>>"$PG_TMP/$h.log" &
	PG_BG+=("$!")
	eval "PID_$h=$!"
}
pc() {
	local h=$1; shift
	PAIRGATE_SOCKET=$PG_TMP/$h.sock ip netns exec "$(pg_ns "$h")" "$PG_BIN" "$@"
}
pgd p --load-threshold 1000000
pgd q
sleep 1.5
tok=$(pc p invite)
t0=$(date +%s%N)
pc q join "$tok" >/dev/null
for ((i = 0; i < 500; i++)); do
	pg_net q ping "$(pg_addr p)" -c 1 -W 0.2 -i 0.01 | grep -q '^1/1' && break
done
echo "join_to_first_verified_packet_ms $((($(date +%s%N) - t0) / 1000000)) ms"

# Spoofed initiations for 5 s from u: valid mac1 (the attacker knows p's
# public key), a fresh random source in 198.18.64.0/18 for every packet, so
# XDP's per-source limit does not hold them back; only its per-CPU cap does.
flood() {
	pg_in u python3 - "$(pg_addr p)" "$1" <<'PY'
import os, random, socket, struct, sys, time, hashlib, base64
dst, pub = sys.argv[1], base64.b64decode(sys.argv[2])
key = hashlib.blake2b(b"pairgate v1 mac1 key" + pub, digest_size=32).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
dst_b = socket.inet_aton(dst)
end, sent = time.time() + 5, 0
while time.time() < end:
    m = bytes([1, 0, 0, 0]) + os.urandom(116)
    m += hashlib.blake2b(m, key=key, digest_size=16).digest() + bytes(16)
    src = bytes([198, 18, random.randrange(64, 128), random.randrange(1, 255)])
    udp = struct.pack("!HHHH", random.randrange(1024, 65535), 51821, 8 + len(m), 0) + m
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst_b)
    s.sendto(ip + udp, (dst, 0))
    sent += 1
print("flood_sent %d" % sent, file=sys.stderr)
PY
}
pub=$(pc p show | sed -n 's/^  public key: //p')
for mode in off on; do
	if [ $mode = on ]; then
		kill "$PID_p"; sleep 0.5; pgd p --load-threshold 0; sleep 1.5
	fi
	pid=$(eval echo "\$PID_p")
	c0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	flood "$pub"
	c1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	echo "daemon_cpu_under_flood_cookies_$mode $(( (c1 - c0) * 100 / $(getconf CLK_TCK) / 5 )) %"
	pc p show >/dev/null 2>&1 || true
done
rm -rf "$B"
