#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Exemptions: `allow` opens one port to unpaired hosts (optionally only from a
# prefix) while every other port stays dark, `disallow` closes it again,
# `attach --allow` installs a rule before the first packet is filtered, and
# attach warns how to exempt a management port so nobody locks themselves out.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

P4=$(pg_addr p 4)
P6=$(pg_addr p 6)

reaches() { pg_net u tcp-connect "$1" "$2" -t 2; }

dark()
{
	! pg_net u tcp-connect "$1" "$2" -t 2 2>/dev/null ||
		pg_why "u connected to $1 port $2"
}

attach_warns()
{
	local out
	out=$(pg p attach eth0 2>&1) || pg_why "attach failed: $out" ||
		return 1
	grep -qw allow <<<"$out" ||
		pg_why "attach printed no hint about 'allow': '$out'"
}

exempt_grew()
{
	local now
	now=$(pg_verdict p exempt) || return 1
	[ "$now" -gt "$1" ] || pg_why "exempt stayed at $now"
}

listed()
{
	local allow
	allow=$(pg_stats p | pg_py jget allow) || return 1
	grep -q 2222 <<<"$allow" || pg_why "stats allow list is $allow"
}

udp_through()
{
	pg_py udp-gen 3 7 100 >"$PG_TMP/udp.tx"
	pg_net u udp-send "$P4" 5353 "$PG_TMP/udp.tx"
	sleep 0.3
	cmp -s <(sort "$PG_TMP/udp.tx") <(sort "$PG_TMP/udp.rx") ||
		pg_why "$(wc -l <"$PG_TMP/udp.rx") of 3 datagrams arrived"
}

pg_setup p u
pg_bg p tcp-serve 2222 --ready "$PG_TMP/ready.1" -t 200
pg_bg p tcp-serve 8080 --ready "$PG_TMP/ready.2" -t 200
pg_bg p udp-recv 5353 "$PG_TMP/udp.rx" --ready "$PG_TMP/ready.3" -t 200
pg_wait_file "$PG_TMP/ready.1" && pg_wait_file "$PG_TMP/ready.2" &&
	pg_wait_file "$PG_TMP/ready.3"

pg_case open-before-attach reaches "$P4" 2222
pg_case attach-warns attach_warns || pg_done
pg_case dark-after-attach dark "$P4" 2222

before=$(pg_verdict p exempt)
pg_case allow pg p allow eth0 tcp/2222
pg_case allowed-ipv4 reaches "$P4" 2222
pg_case allowed-ipv6 reaches "$P6" 2222
pg_case allowed-counted exempt_grew "$before"
pg_case allow-listed listed
pg_case other-port-dark dark "$P4" 8080
pg_case disallow pg p disallow eth0 tcp/2222
pg_case dark-after-disallow dark "$P4" 2222

pg_case allow-from pg p allow eth0 tcp/2222 from "$(pg_addr u 4)/32"
pg_case allowed-from-prefix reaches "$P4" 2222
pg_case dark-outside-prefix dark "$P6" 2222
pg_case disallow-from pg p disallow eth0 tcp/2222 from "$(pg_addr u 4)/32"
pg_case allow-other-prefix pg p allow eth0 tcp/2222 from 198.19.0.0/16
pg_case dark-from-other-prefix dark "$P4" 2222

pg_case allow-udp pg p allow eth0 udp/5353
pg_case udp-allowed udp_through

pg_case detach pg p detach eth0
pg_case attach-with-allow pg p attach eth0 --allow tcp/2222
pg_case attach-allowed reaches "$P4" 2222
pg_case attach-other-port-dark dark "$P4" 8080
pg_done
