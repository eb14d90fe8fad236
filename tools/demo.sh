#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# `sudo make demo`: three throw-away network namespaces on one bridge, P
# (protected, 198.18.0.1), Q (paired with P, 198.18.0.2) and U (unpaired,
# 198.18.0.3). Shows that once pairgate guards P, Q still talks to it and U
# cannot even ping it, then prints P's counters and removes everything.

set -u
PG_PREFIX=pgdemo
PG_NAME=demo
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../tests/lib.sh"

step() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
indent() { sed 's/^/   | /'; }

# result LABEL CMD...: runs a check from tests/lib.sh and prints its outcome.
result()
{
	local label=$1 why
	shift
	if why=$("$@" 2>&1); then
		say "$label: ok"
	else
		say "$label: FAILED${why:+ ($why)}"
	fi
}

unreachable()
{
	local got
	got=$(pg_net u ping "$P" -c 3 -W 1)
	say "U -> P ping: $got replies"
	if pg_net u tcp-connect "$P" 8080 -t 2 2>/dev/null; then
		say "U -> P tcp/8080: connected"
	else
		say "U -> P tcp/8080: no answer within 2 s"
	fi
}

if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root for namespaces and XDP; run 'sudo make demo'" >&2
	exit 1
fi
if [ ! -x "$PG_BIN" ]; then
	echo "demo: $PG_BIN is missing; run 'make' first" >&2
	exit 1
fi
pg_clean_stale

step "Three namespaces on one bridge: P (protected), Q (paired), U (unpaired)"
pg_setup p q u
P=$(pg_addr p 4)
pg_bg p tcp-serve 8080 --ready "$PG_TMP/ready" -t 120
pg_wait_file "$PG_TMP/ready"
say "P $P, Q $(pg_addr q 4), U $(pg_addr u 4); P listens on tcp/8080"

step "Before pairgate, everyone reaches P"
say "U -> P ping: $(pg_net u ping "$P" -c 3 -W 1) replies"

step "pairgate attach eth0 on P, and on Q (Q tags what it sends to P)"
pg p attach eth0 --xdp-mode native 2>&1 | indent
pg q attach eth0 --xdp-mode native >/dev/null 2>&1

step "Pairing P and Q: an SA per direction, random keys from /dev/urandom"
say "(keys are never printed; 'sa list' shows SPI, peer and counters only)"
pg_pair p q >/dev/null 2>&1
pg p sa list eth0 2>&1 | indent

step "Q is paired: its packets carry a valid tag and reach P"
result "Q -> P ping, 3 echo requests answered" pg_ping q "$P" 3
result "Q -> P tcp/8080 connect" pg_net q tcp-connect "$P" 8080 -t 2
result "Q -> P 4 MiB over TCP, sha256 checked at P" pg_tcp_xfer q p 4

step "U is not paired: P's XDP program drops its packets before the stack"
unreachable

step "pairgate stats eth0 on P: verified (Q) against unpaired (U) drops"
pg p stats eth0 2>&1 | indent

step "pairgate flows eth0 on P: Q's paired flows, and who is being dropped"
pg p flows eth0 --limit 5 2>&1 | indent

step "Cleaning up: detach, delete the namespaces"
pg p detach eth0 2>&1 | indent
pg q detach eth0 >/dev/null 2>&1
pg_cleanup
say "done"
