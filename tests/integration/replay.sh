#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Replayed and forged frames are dropped. A raw socket on Q's bridge port
# records the tagged frame (IP protocol 253) that carries one UDP datagram
# from Q to P; sending that exact frame again must raise P's "replay" counter
# by one, and a copy with a later sequence number but the old tag must raise
# "bad_tag" by one. P's receiver must get the payload exactly once.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

RX=

# expect_plus1 VERDICT BEFORE
expect_plus1()
{
	local now
	now=$(pg_verdict p "$1") || return 1
	[ "$now" = $(($2 + 1)) ] ||
		pg_why "$1 went from $2 to $now, expected +1"
}

# delivered PAYLOAD N: P's receiver has PAYLOAD exactly N times.
delivered()
{
	local n
	n=$(grep -cx "$1" "$RX")
	[ "$n" = "$2" ] || pg_why "payload received $n times, expected $2"
}

capture_one()
{
	local fam=$1 tx=$2 frame=$3 pid

	rm -f "$frame" "$PG_TMP/ready.cap"
	pg_bg sw capture q "$frame" --inner 17 --ready "$PG_TMP/ready.cap" \
		-t 10
	pid=$PG_BGPID
	pg_wait_file "$PG_TMP/ready.cap" || { pg_kill "$pid"; return 1; }
	pg_net q udp-send "$(pg_addr p "$fam")" 5005 "$tx"
	pg_reap "$pid" || pg_why "no tagged UDP frame seen on Q's port"
}

run_family()
{
	local fam=$1 tx=$PG_TMP/replay.tx frame=$PG_TMP/frame$1 payload before

	payload=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
	echo "$payload" >"$tx"
	if ! pg_case "ipv$fam/capture" capture_one "$fam" "$tx" "$frame"; then
		pg_skip "ipv$fam/replay" "nothing captured to replay"
		return
	fi
	sleep 0.3
	pg_case "ipv$fam/first-delivered" delivered "$payload" 1

	before=$(pg_verdict p replay)
	pg_net sw inject p "$frame"
	sleep 0.3
	pg_case "ipv$fam/replay-counted" expect_plus1 replay "$before"

	pg_py forge "$frame" "$frame.forged" --seq-add 1000
	before=$(pg_verdict p bad_tag)
	pg_net sw inject p "$frame.forged"
	sleep 0.3
	pg_case "ipv$fam/forged-counted" expect_plus1 bad_tag "$before"
	pg_case "ipv$fam/delivered-once" delivered "$payload" 1
}

pg_setup p q
pg_case attach pg_attach_pair || pg_done
RX=$PG_TMP/replay.rx
pg_bg p udp-recv 5005 "$RX" --ready "$PG_TMP/ready.rx" -t 120
pg_wait_file "$PG_TMP/ready.rx"
run_family 4
run_family 6
pg_done
