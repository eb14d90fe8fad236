#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Paired hosts talk normally: P and Q, both running pairgate and holding SAs
# for each other, exchange ping, 4 MiB over TCP (sha256 compared) and 50 UDP
# datagrams (contents compared) in both directions, over IPv4 and IPv6, with
# the XDP program attached in native mode and again in skb mode. Afterwards
# P's counters must show verified and tagged traffic and no bad tag or replay.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

# check_counters HOST: verified > 0, tagged > 0, bad_tag == 0, replay == 0.
check_counters()
{
	local js v t b r

	js=$(pg_stats "$1") || return 1
	v=$(pg_py jget verdicts.verified.packets <<<"$js")
	t=$(pg_py jget verdicts.tagged.packets <<<"$js")
	b=$(pg_py jget verdicts.bad_tag.packets <<<"$js")
	r=$(pg_py jget verdicts.replay.packets <<<"$js")
	[ "$v" -gt 0 ] && [ "$t" -gt 0 ] && [ "$b" = 0 ] && [ "$r" = 0 ] ||
		pg_why "$1: verified=$v tagged=$t bad_tag=$b replay=$r"
}

# check_mode MODE: stats report the XDP mode that attach was asked for.
check_mode()
{
	local m
	m=$(pg_stats "$1" | pg_py jget xdp_mode) || return 1
	[ "$m" = "$2" ] || pg_why "$1: xdp_mode is '$m', not '$2'"
}

run_mode()
{
	local mode=$1 fam a b

	if ! pg_case "$mode/attach" pg_attach_pair "$mode"; then
		pg_skip "$mode/traffic" "attach or sa add failed"
		detach_both >/dev/null 2>&1
		return
	fi
	pg_case "$mode/xdp-mode" check_mode p "$mode"
	for fam in 4 6; do
		for a in q p; do
			b=$([ "$a" = q ] && echo p || echo q)
			pg_case "$mode/ipv$fam/ping-$a-$b" \
				pg_ping "$a" "$(pg_addr "$b" "$fam")" 3
			pg_case "$mode/ipv$fam/tcp-$a-$b" \
				pg_tcp_xfer "$a" "$b" "$fam"
			pg_case "$mode/ipv$fam/udp-$a-$b" \
				pg_udp_xfer "$a" "$b" "$fam"
		done
	done
	pg_case "$mode/counters-p" check_counters p
	pg_case "$mode/counters-q" check_counters q
	pg_case "$mode/detach" detach_both
}

detach_both()
{
	local rc=0
	pg p detach eth0 || rc=1
	pg q detach eth0 || rc=1
	return $rc
}

pg_setup p q
run_mode native
run_mode skb
pg_done
