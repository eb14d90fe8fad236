#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# IPv6 neighbour handling on egress. An IPv6 packet that waits for neighbour
# discovery after the tagger's bpf_redirect_neigh() leaves with a stale
# Ethernet header, so `sa add ... out` keeps an on-link IPv6 peer's entry
# resolved with a managed neighbour entry: the very first packet to a peer
# nobody has talked to arrives. The entry goes with the SA, and an operator's
# static entry is left alone.

set -u
cd "$(dirname "$0")/../.." || exit 1
PG_NAME=neigh
# shellcheck source=tests/lib.sh
. tests/lib.sh

neigh_of() { ip -n "$(pg_ns "$1")" -6 neigh show "$(pg_addr "$2" 6)" dev eth0; }

# Start as a fresh host would: no neighbour entries at all.
forget_all()
{
	local h
	for h in p q; do
		ip -n "$(pg_ns "$h")" neigh flush dev eth0 nud all 2>/dev/null
		ip -n "$(pg_ns "$h")" neigh del "$(pg_addr p 6)" dev eth0 2>/dev/null
		ip -n "$(pg_ns "$h")" neigh del "$(pg_addr q 6)" dev eth0 2>/dev/null
	done
	[ -z "$(neigh_of p q)$(neigh_of q p)" ] || pg_why "entries left: $(neigh_of p q)"
}

managed_made()
{
	neigh_of p q | grep -q managed || pg_why "p: '$(neigh_of p q)'"
	neigh_of q p | grep -q managed || pg_why "q: '$(neigh_of q p)'"
}

first_ping()
{
	local got
	got=$(pg_net p ping "$(pg_addr q 6)" -c 1 -W 1)
	[ "$got" = 1/1 ] || pg_why "the first echo got $got replies"
}

gone_with_sa()
{
	local spi
	spi=$(pg p sa list eth0 --json | python3 -c '
import json, sys
print(next(s["spi"] for s in json.load(sys.stdin) if s["dir"] == "out" and ":" in s["peer"]))
') || return 1
	pg p sa del eth0 out spi "$spi" >/dev/null || return 1
	! neigh_of p q | grep -q managed || pg_why "p still has '$(neigh_of p q)'"
}

static_kept()
{
	local mac
	mac=$(ip -n "$(pg_ns q)" -o link show eth0 | grep -o 'ether [0-9a-f:]*' | cut -d' ' -f2)
	ip -n "$(pg_ns p)" -6 neigh replace "$(pg_addr q 6)" lladdr "$mac" dev eth0 \
		nud permanent || return 1
	pg p detach eth0 >/dev/null && pg q detach eth0 >/dev/null &&
		pg_attach_pair native >/dev/null || return 1
	neigh_of p q | grep -q PERMANENT || pg_why "p: '$(neigh_of p q)'"
	pg p detach eth0 >/dev/null || return 1
	neigh_of p q | grep -q PERMANENT || pg_why "detach removed the static entry"
}

pg_setup p q
# managed neighbour entries need Linux 5.16 or later
if ! ip -n "$(pg_ns p)" -6 neigh replace 2001:db8:ffff::1 dev eth0 managed 2>/dev/null; then
	pg_skip all "this kernel has no managed neighbour entries (Linux 5.16+)"
	pg_done
fi
ip -n "$(pg_ns p)" -6 neigh del 2001:db8:ffff::1 dev eth0 2>/dev/null
pg_case forget-all forget_all
pg_case attach pg_attach_pair native || pg_done
pg_case managed-entries managed_made
pg_case first-ping-answered first_ping
pg_case entry-goes-with-sa gone_with_sa
pg_case static-entry-kept static_kept
pg p detach eth0 >/dev/null 2>&1
pg q detach eth0 >/dev/null 2>&1
pg_done
