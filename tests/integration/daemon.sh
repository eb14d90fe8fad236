#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# pairgated end to end, in namespaces from tests/lib.sh: p invites q, q
# joins, traffic flows both ways; u (the third host) cannot pair with a
# used, altered, forged or expired token; SAs rotate every 3 s under a
# 100000-datagram UDP stream without losing one; kill -9 of p's daemon
# keeps unpaired traffic out, and a restart pairs again from the state
# directory alone.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

PGD=$PG_ROOT/build/pairgated
REKEY=3
FLOW_N=${PG_FLOW_N:-100000}
FLOW_PPS=${PG_FLOW_PPS:-12000}
declare -A DPID

[ -x "$PGD" ] || { pg_skip all "build/pairgated not built (make)"; exit 0; }
pg_setup p q u

# The pairing commands: build/pairgate once pairgate.c dispatches them; until
# then a four-line shim over the same library functions.
PGC=$PG_BIN
if ! "$PG_BIN" help 2>/dev/null | grep -q '^  join'; then
	PGC=$PG_TMP/pgc
	cat >"$PG_TMP/shim.c" <<'SHIM'
#include <string.h>
#include <stdio.h>
#include "pairing_cli.h"
int main(int argc, char **argv)
{
	static const struct { const char *n; int (*f)(int, char **); } t[] = {
		{ "genkey", pg_cmd_genkey }, { "pubkey", pg_cmd_pubkey },
		{ "invite", pg_cmd_invite }, { "join", pg_cmd_join }, { "peer", pg_cmd_peer },
		{ "peers", pg_cmd_peers }, { "show", pg_cmd_show }, { "rekey", pg_cmd_rekey } };
	for (unsigned int i = 0; argc > 1 && i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(argv[1], t[i].n))
			return t[i].f(argc - 1, argv + 1);
	return 1;
}
SHIM
	cc -I"$PG_ROOT/userspace/lib" -I"$PG_ROOT/include" "$PG_TMP/shim.c" \
		"$PG_ROOT/build/libpg.a" -lxdp -lbpf -lelf -lz -lsodium -o "$PGC" ||
		{ pg_fail setup "cannot build the CLI shim"; exit 1; }
fi

# pgd HOST [ARGS...]: starts HOST's daemon in the background.
pgd()
{
	local h=$1
	shift
	PAIRGATE_BPFFS=$PG_TMP/bpffs/$h LIBXDP_BPFFS=$PG_TMP/bpffs/$h \
		ip netns exec "$(pg_ns "$h")" "$PGD" -v --state-dir "$PG_TMP/st-$h" \
		--socket "$PG_TMP/$h.sock" --rekey-after "$REKEY" --psk-file "$PG_TMP/psk" \
		--drop-log-interval 1 \
		"$@" eth0 \
		2>>"$PG_TMP/$h.log" &
	DPID[$h]=$!
	PG_BG+=("$!")
}

# pc HOST ARGS...: the CLI in HOST, talking to HOST's daemon.
pc()
{
	local h=$1
	shift
	PAIRGATE_SOCKET=$PG_TMP/$h.sock PAIRGATE_BPFFS=$PG_TMP/bpffs/$h \
		ip netns exec "$(pg_ns "$h")" "$PGC" "$@"
}

wait_sock()
{
	local i
	for ((i = 0; i < 100; i++)); do
		[ -S "$PG_TMP/$1.sock" ] && pc "$1" show >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	pg_why "pairgated on $1 did not come up: $(tail -n 1 "$PG_TMP/$1.log")"
}

# Token surgery for the negative cases, done as an attacker or a careless
# user would: python's hashlib has keyed BLAKE2b.
retoken()
{
	python3 - "$@" <<'PY'
import base64, hashlib, os, struct, sys, time
tok, mode = sys.argv[1], sys.argv[2]
b = bytearray(base64.urlsafe_b64decode(tok[4:] + "=" * (-len(tok[4:]) % 4)))
if mode == "forge":
    b[42:74] = os.urandom(32)          # a secret the inviter never issued
elif mode == "future":
    b[2:10] = struct.pack(">Q", int(time.time()) + 3600)
body = bytes(b[:-16])
b[-16:] = hashlib.blake2b(b"pairgate v1 invite token" + body, key=bytes(b[42:74]),
                          digest_size=16).digest()
print("pg1_" + base64.urlsafe_b64encode(bytes(b)).decode().rstrip("="))
PY
}

case_keys()
{
	local k=$PG_TMP/id.key pub
	(umask 022 && "$PGC" genkey >"$k") || return 1
	[ "$(stat -c %a "$k")" = 600 ] || pg_why "genkey left the file $(stat -c %a "$k")"
	pub=$("$PGC" pubkey <"$k") || return 1
	[ ${#pub} = 44 ] || pg_why "pubkey printed '${#pub}' characters"
	chmod 644 "$k"
	! "$PGC" pubkey <"$k" 2>/dev/null || pg_why "a world-readable key was accepted"
}

# Every host shares one PSK (the post-quantum hedge), so all that follows
# runs with it; a PSK that others can read is refused.
case_psk()
{
	local out
	(umask 077 && "$PGC" genkey >"$PG_TMP/psk") || return 1
	cp "$PG_TMP/psk" "$PG_TMP/psk-open" && chmod 644 "$PG_TMP/psk-open"
	out=$(PAIRGATE_BPFFS=$PG_TMP/bpffs/p pg_in p "$PGD" --state-dir "$PG_TMP/st-psk" \
		--socket "$PG_TMP/psk.sock" --psk-file "$PG_TMP/psk-open" eth0 2>&1) &&
		pg_why "started with a world-readable PSK"
	grep -q "readable by group or others" <<<"$out" || pg_why "said: $out"
}

case_start()
{
	pgd p && pgd q && pgd u && wait_sock p && wait_sock q && wait_sock u
}

case_join()
{
	local tok
	tok=$(pc p invite --ttl 10m --name q) || return 1
	echo "$tok" >"$PG_TMP/token"
	pc q join "$tok" --name p || return 1
	pc q peers | grep -q '^p' || pg_why "q does not list p"
	pc p peers | grep -q '^q' || pg_why "p does not list q"
}

case_used()
{
	local out
	out=$(pc u join "$(cat "$PG_TMP/token")" 2>&1) &&
		pg_why "u joined with a used token"
	grep -q "already used" <<<"$out" || pg_why "u was told: $out"
	grep -q "event=join_refused reason=token_used" "$PG_TMP/p.log" ||
		pg_why "p did not log token_used"
}

case_altered()
{
	local tok out
	tok=$(cat "$PG_TMP/token")
	tok=${tok:0:40}$([ "${tok:40:1}" = A ] && echo B || echo A)${tok:41}
	out=$(pc u join "$tok" 2>&1) && pg_why "an altered token was accepted"
	grep -q "altered" <<<"$out" || pg_why "u was told: $out"
}

case_forged()
{
	local out
	out=$(pc u join "$(retoken "$(cat "$PG_TMP/token")" forge)" 2>&1) &&
		pg_why "u joined with a forged token"
	grep -q "no answer" <<<"$out" || pg_why "u was told: $out"
	grep -q "event=join_refused reason=token_invalid" "$PG_TMP/p.log" ||
		pg_why "p did not log token_invalid"
}

case_expired()
{
	local tok out
	tok=$(pc p invite --ttl 1s) || return 1
	sleep 1.5
	out=$(pc u join "$tok" 2>&1) && pg_why "u joined with an expired token"
	grep -q "expired" <<<"$out" || pg_why "u was told: $out"
	# the same token with its expiry pushed forward: the inviter has the last word
	out=$(pc u join "$(retoken "$tok" future)" 2>&1) &&
		pg_why "u joined with a re-dated token"
	grep -q "expired" <<<"$out" || pg_why "u was told: $out"
	grep -q "event=join_refused reason=token_expired" "$PG_TMP/p.log" ||
		pg_why "p did not log token_expired"
}

case_u_unpaired()
{
	! pg_net u ping "$(pg_addr p)" -c 2 -W 1 | grep -q '^[12]/' ||
		pg_why "u reached p"
	[ "$(pc p peers | wc -l)" = 1 ] || pg_why "p has more than one peer"
}

# u's dropped pings show up in p's log as a rate-limited summary line.
case_drop_log()
{
	local i
	for ((i = 0; i < 30; i++)); do
		grep -q "event=drops iface=eth0 reason=unpaired src=$(pg_addr u) " "$PG_TMP/p.log" &&
			return 0
		sleep 0.1
	done
	pg_why "no drop summary for u in p's log: $(grep event=drops "$PG_TMP/p.log" | tail -n 2)"
}

case_peers_json()
{
	pc q peers --json | pg_py jget 0.state | grep -qx up ||
		pg_why "peers --json: $(pc q peers --json)"
	pc q show | grep -q "latest handshake: [0-9]* seconds ago" ||
		pg_why "show: $(pc q show | tr '\n' ' ')"
}

# A paced UDP stream of sequence-numbered datagrams, counted at the receiver.
udp_flow()
{
	python3 - "$@" <<'PY'
import socket, struct, sys, time
mode = sys.argv[1]
if mode == "recv":
    n, secs, ready = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind(("0.0.0.0", 5300))
    s.settimeout(0.5)
    open(ready, "w").close()
    seen, end, idle = bytearray(n), time.time() + secs, 0
    got = 0
    while time.time() < end and got < n:
        try:
            d = s.recv(64)
        except socket.timeout:
            continue
        i = struct.unpack("!Q", d[:8])[0]
        if i < n and not seen[i]:
            seen[i] = 1
            got += 1
    print(got)
else:
    dst, n, pps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t0, batch = time.time(), 100
    for i in range(n):
        while True:
            try:
                s.sendto(struct.pack("!Q", i) + b"x" * 56, (dst, 5300))
                break
            except OSError:
                time.sleep(0.001)      # a full socket buffer, not a loss
        if i % batch == batch - 1:
            ahead = t0 + (i + 1) / pps - time.time()
            if ahead > 0:
                time.sleep(ahead)
PY
}

case_rekey_no_loss()
{
	local before after got secs=$((FLOW_N / FLOW_PPS + 20)) pid
	before=$(grep -c "event=handshake_complete" "$PG_TMP/q.log")
	rm -f "$PG_TMP/ready"
	pg_in p bash -c "$(declare -f udp_flow); udp_flow recv $FLOW_N $secs $PG_TMP/ready" \
		>"$PG_TMP/flow.out" &
	pid=$!
	PG_BG+=("$pid")
	pg_wait_file "$PG_TMP/ready" || return 1
	pg_in q bash -c "$(declare -f udp_flow); udp_flow send $(pg_addr p) $FLOW_N $FLOW_PPS"
	pg_reap "$pid"
	got=$(cat "$PG_TMP/flow.out")
	after=$(grep -c "event=handshake_complete" "$PG_TMP/q.log")
	echo "received $got of $FLOW_N; $((after - before)) handshakes on q meanwhile"
	[ "$got" = "$FLOW_N" ] || pg_why "lost $((FLOW_N - got)) of $FLOW_N datagrams"
	[ $((after - before)) -ge 2 ] || pg_why "only $((after - before)) rekeys during the flow"
}

case_kill9()
{
	local u0 u1
	kill -9 "${DPID[p]}"
	wait "${DPID[p]}" 2>/dev/null
	u0=$(pg_verdict p unpaired)
	pg_net u ping "$(pg_addr p)" -c 3 -W 1 >/dev/null
	u1=$(pg_verdict p unpaired)
	[ "$u1" -gt "$u0" ] || pg_why "unpaired drops did not grow ($u0 -> $u1)"
	# past REJECT_AFTER the pair's own SAs have expired too: fail closed
	sleep $((REKEY * 3 / 2 + 1))
	! pg_net q ping "$(pg_addr p)" -c 2 -W 1 | grep -q '^[12]/' ||
		pg_why "q still reaches p with the daemon dead past the SA lifetime"
}

case_restart()
{
	local i
	pgd p && wait_sock p || return 1
	for ((i = 0; i < 20; i++)); do
		pg_net q ping "$(pg_addr p)" -c 1 -W 1 | grep -q '^1/1' && break
	done
	pg_ping q "$(pg_addr p)" 3 && pg_ping p "$(pg_addr q)" 3 || return 1
	grep -q "peers=1" <(grep event=started "$PG_TMP/p.log" | tail -n 1) ||
		pg_why "the restarted daemon did not load its peer"
}

case_corrupt_state()
{
	local out
	cp -a "$PG_TMP/st-p" "$PG_TMP/st-bad" && rm -f "$PG_TMP/st-bad/lock"
	sed -i 's/^name=q$/name=qq/' "$PG_TMP/st-bad/peers"
	out=$(PAIRGATE_BPFFS=$PG_TMP/bpffs/p pg_in p "$PGD" --state-dir "$PG_TMP/st-bad" \
		--socket "$PG_TMP/bad.sock" eth0 2>&1) && pg_why "started on a corrupt file"
	grep -q "st-bad/peers.*checksum mismatch" <<<"$out" || pg_why "said: $out"
	grep -q "^name=qq$" "$PG_TMP/st-bad/peers" || pg_why "the corrupt file was replaced"
}

pg_case keys case_keys
pg_case psk_file_checked case_psk || pg_done
pg_case start case_start || pg_done
pg_case join case_join || pg_done
pg_case ping_q_to_p pg_ping q "$(pg_addr p)" 3
pg_case ping_p_to_q pg_ping p "$(pg_addr q)" 3
pg_case tcp pg_tcp_xfer q p 4
pg_case udp pg_udp_xfer p q 4 50
pg_case peers_json case_peers_json
pg_case token_used case_used
pg_case token_altered case_altered
pg_case token_forged case_forged
pg_case token_expired case_expired
pg_case third_host_unpaired case_u_unpaired
pg_case drop_log_lines case_drop_log
pg_case rekey_under_load_no_loss case_rekey_no_loss
pg_case kill9_fails_closed case_kill9
pg_case restart_without_reenrolment case_restart
pg_case corrupt_state_refused case_corrupt_state
pg_done
