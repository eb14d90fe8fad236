#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# detach leaves nothing behind: after attach (native, then skb), SAs, an
# exemption and some paired traffic, `detach` must remove the XDP program,
# the TC hooks, the pgr/pgt helper devices, the routes into them, every pin,
# and put back each sysctl attach changed. P starts with strict rp_filter,
# which attach has to relax for paired traffic to flow at all.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

BPFFS=

sysctls()
{
	pg_in p sysctl -a 2>/dev/null |
		grep -E '^net\.ipv[46]\.conf\.(all|default|eth0|lo)\.' |
		grep -v stable_secret
}

has_xdp() { pg_in p ip -d link show dev eth0 | grep -q xdp; }
helpers() { pg_in p ip -o link show | grep -oE ': pg[rt][0-9]+' | tr -d ': '; }
pg_routes() { pg_in p ip route show table all; pg_in p ip -6 route show table all; }

attached()
{
	has_xdp || pg_why "no XDP program on eth0" || return 1
	[ "$(helpers | wc -l)" = 2 ] ||
		pg_why "helper devices: $(helpers | tr '\n' ' ')" || return 1
	pg_routes | grep -q "dev pgr" || pg_why "no route into pgr" || return 1
	[ -d "$BPFFS/pairgate/eth0" ] || pg_why "no pin directory"
}

no_xdp() { ! has_xdp || pg_why "XDP program still on eth0"; }

no_helpers()
{
	[ -z "$(helpers)" ] || pg_why "left: $(helpers | tr '\n' ' ')"
}

no_routes()
{
	! pg_routes | grep -qE 'pg[rt][0-9]' ||
		pg_why "left: $(pg_routes | grep -E 'pg[rt][0-9]' | head -n 1)"
}

no_tc()
{
	local out
	out=$(pg_in p tc filter show dev eth0 ingress
		pg_in p tc filter show dev eth0 egress
		pg_in p tc qdisc show dev eth0 | grep clsact)
	[ -z "$out" ] || pg_why "left on eth0: $(head -n 1 <<<"$out")"
}

# Pins, and the pairgate directory. A fresh mount already holds the kernel's
# maps.debug and progs.debug; libxdp keeps its (by then empty) xdp/ directory.
pins() { find "$BPFFS" -mindepth 1 \( ! -type d -o -name pairgate \) | sort; }

no_pins()
{
	local left
	left=$(comm -13 <(echo "$1") <(pins))
	[ -z "$left" ] || pg_why "left in bpffs: $(tr '\n' ' ' <<<"$left")"
}

same_sysctls()
{
	local diff
	diff=$(diff <(echo "$1") <(sysctls) | grep '^[<>]' | head -n 2)
	[ -z "$diff" ] || pg_why "changed: $(tr '\n' ' ' <<<"$diff")"
}

run_mode()
{
	local mode=$1 before bpffs

	before=$(sysctls)
	bpffs=$(pins)
	if ! pg_case "$mode/attach" pg_attach_pair "$mode" ||
		! pg_case "$mode/allow" pg p allow eth0 tcp/22; then
		pg p detach eth0 >/dev/null 2>&1
		pg q detach eth0 >/dev/null 2>&1
		return
	fi
	pg_case "$mode/attached" attached
	pg_case "$mode/paired-ping-strict-rp-filter" \
		pg_ping q "$(pg_addr p 4)" 3
	pg_case "$mode/paired-ping6" pg_ping p "$(pg_addr q 6)" 3
	pg_case "$mode/detach" pg p detach eth0
	pg_case "$mode/no-xdp" no_xdp
	pg_case "$mode/no-tc" no_tc
	pg_case "$mode/no-helper-devices" no_helpers
	pg_case "$mode/no-routes" no_routes
	pg_case "$mode/no-pins" no_pins "$bpffs"
	pg_case "$mode/sysctls-restored" same_sysctls "$before"
	pg q detach eth0 >/dev/null 2>&1
}

pg_setup p q
BPFFS=$PG_TMP/bpffs/p
pg_in p sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.eth0.rp_filter=1
run_mode native
run_mode skb
pg_done
