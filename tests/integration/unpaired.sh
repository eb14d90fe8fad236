#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# An unpaired host gets nothing through: U's ping, TCP connect and UDP to P
# all fail, while paired Q reaches the same listeners, and every packet U
# sent shows up in P's "unpaired" counter. Neighbour entries are permanent
# and DAD is off, so U sends exactly what the test sends and the counts are
# exact, except for TCP, whose SYN retransmissions depend on timing.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

unpaired() { pg_verdict p unpaired; }

# expect_delta BEFORE exactly|at-least N: how far the unpaired counter
# moved since BEFORE.
expect_delta()
{
	local now d
	now=$(unpaired) || return 1
	d=$((now - $1))
	case $2 in
	exactly) [ "$d" -eq "$3" ] ;;
	*) [ "$d" -ge "$3" ] ;;
	esac || pg_why "unpaired went from $1 to $now, expected +$3 ($2)"
}

no_reply_ping()
{
	local got
	got=$(pg_net u ping "$1" -c 3 -W 1)
	[ "$got" = 0/3 ] || pg_why "ping u -> $1: $got replies"
}

no_connect()
{
	! pg_net u tcp-connect "$1" 5003 -t 2 2>/dev/null ||
		pg_why "u connected to $1 port 5003"
}

check_rx_empty()
{
	[ ! -s "$PG_TMP/udp.rx" ] ||
		pg_why "P's receiver got $(wc -l <"$PG_TMP/udp.rx") datagrams"
}

run_family()
{
	local fam=$1 dst before

	dst=$(pg_addr p "$fam")
	pg_case "ipv$fam/paired-control" pg_net q tcp-connect "$dst" 5003

	before=$(unpaired)
	pg_case "ipv$fam/ping-dropped" no_reply_ping "$dst"
	pg_case "ipv$fam/ping-counted" expect_delta "$before" exactly 3

	before=$(unpaired)
	pg_case "ipv$fam/tcp-dropped" no_connect "$dst"
	pg_case "ipv$fam/tcp-counted" expect_delta "$before" at-least 1

	before=$(unpaired)
	pg_py udp-gen 5 "$fam" 200 >"$PG_TMP/udp.tx"
	pg_net u udp-send "$dst" 5004 "$PG_TMP/udp.tx"
	sleep 0.5
	pg_case "ipv$fam/udp-dropped" check_rx_empty
	pg_case "ipv$fam/udp-counted" expect_delta "$before" exactly 5
}

pg_setup p q u
pg_case attach pg_attach_pair || pg_done
pg_bg p tcp-serve 5003 --ready "$PG_TMP/ready.tcp" -t 120
pg_bg p udp-recv 5004 "$PG_TMP/udp.rx" --ready "$PG_TMP/ready.udp" -t 120
pg_wait_file "$PG_TMP/ready.tcp" && pg_wait_file "$PG_TMP/ready.udp"
run_family 4
run_family 6
pg_done
