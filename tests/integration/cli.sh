#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# CLI errors: every bad input gives exactly one line on stderr and exit
# status 1, and changes nothing: `sa list --json`, `stats --json` (less its
# counters), the links, their XDP programs and the routes read the same
# before and after. No output of any command, good or bad, holds a key.

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

KEY_IN=$(pg_key)
KEY_OUT=$(pg_key)
KEY=$(pg_key)			# for the commands that must fail
ALL=				# every byte any command printed
Q4=$(pg_addr q 4)

snapshot()
{
	pg p sa list eth0 --json | pg_py jnorm || echo "sa list failed"
	pg_stats p | pg_py jnorm --drop verdicts || echo "stats failed"
	pg_in p ip -d -o link show | sed -E 's/^[0-9]+: //; s/ link-netns.*//'
	pg_in p ip -4 route show table all
	pg_in p ip -6 route show table all
}

# Ways to run the CLI: as root with P's bpffs, without a bpffs, as nobody.
as_root() { pg p "$@"; }

no_bpffs()
{
	PAIRGATE_BPFFS=$PG_TMP/plain LIBXDP_BPFFS=$PG_TMP/plain \
		ip netns exec "$(pg_ns p)" "$PG_BIN" "$@"
}

as_nobody()
{
	PAIRGATE_BPFFS=$PG_TMP/bpffs/p LIBXDP_BPFFS=$PG_TMP/bpffs/p \
		ip netns exec "$(pg_ns p)" setpriv --reuid=65534 \
		--regid=65534 --clear-groups "$PG_BIN" "$@"
}

# rejected RUNNER ARGS...: exit 1, one line on stderr, nothing changed.
rejected()
{
	local run=$1 before after rc=0 lines o=$PG_TMP/o e=$PG_TMP/e
	shift

	before=$(snapshot 2>&1)
	"$run" "$@" >"$o" 2>"$e" || rc=$?
	cat "$o" "$e" >>"$ALL"
	after=$(snapshot 2>&1)
	lines=$(wc -l <"$e")
	[ "$rc" = 1 ] || pg_why "exit status $rc, stderr: $(head -c 200 "$e")" ||
		return 1
	[ "$lines" = 1 ] && [ "$(wc -c <"$e")" -gt 1 ] ||
		pg_why "stderr has $lines lines: $(head -c 200 "$e")" ||
		return 1
	[ "$before" = "$after" ] ||
		pg_why "state changed: $(diff <(echo "$before") \
			<(echo "$after") | grep '^[<>]' | head -n 2 | tr '\n' ' ')"
}

bad() { local name=$1; shift; pg_case "$name" rejected as_root "$@"; }

# ok ARGS...: a command that must work; its output is kept for the key check.
ok()
{
	pg p "$@" >"$PG_TMP/o" 2>&1
	local rc=$?
	cat "$PG_TMP/o" >>"$ALL"
	[ "$rc" = 0 ] || pg_why "'$*' failed: $(tail -n 1 "$PG_TMP/o")"
}

# sa_listed DIR SPI PEER [absent]: sa list --json has (or lacks) the SA.
sa_listed()
{
	pg p sa list eth0 --json | python3 -c '
import json, sys
want = (sys.argv[1], int(sys.argv[2], 0), sys.argv[3])
sas = json.load(sys.stdin)
for sa in sas:
    spi = sa["spi"]
    spi = int(spi, 0) if isinstance(spi, str) else spi
    if (sa["dir"], spi, sa["peer"]) == want:
        sys.exit(1 if len(sys.argv) > 4 else 0)
sys.exit(0 if len(sys.argv) > 4 else 1)' "$@" ||
		pg_why "sa list --json: $* not as expected"
}

no_key_printed()
{
	local k
	for k in "$KEY_IN" "$KEY_OUT" "$KEY" "${KEY:0:16}" "${KEY:16}"; do
		grep -qi "$k" "$ALL" && pg_why "a key was printed"
	done
	return 0
}

no_xdp_on_dum0()
{
	! pg_in p ip -d link show dev dum0 | grep -q xdp ||
		pg_why "dum0 has an XDP program"
}

pg_setup p q
ALL=$PG_TMP/all.out
: >"$ALL"
mkdir -p "$PG_TMP/plain"
pg_in p ip link add dum0 type veth peer name dum1
pg_in p ip link set dum0 up

pg_case attach ok attach eth0 || pg_done
pg_case sa-add-in ok sa add eth0 in spi 0x1001 src "$Q4" key "$KEY_IN"
pg_case sa-add-out ok sa add eth0 out spi 0x2001 dst "$Q4" key "$KEY_OUT"
pg_case allow ok allow eth0 tcp/2222
pg_case sa-listed-in sa_listed in 0x1001 "$Q4"
pg_case sa-listed-out sa_listed out 0x2001 "$Q4"
ok sa list eth0
ok stats eth0
ok stats eth0 --json

bad unknown-command frobnicate eth0
bad no-arguments
bad sa-add-missing-key sa add eth0 in spi 0x1002 src "$Q4"
bad sa-add-bad-direction sa add eth0 sideways spi 0x1002 src "$Q4" key "$KEY"
bad sa-add-in-with-dst sa add eth0 in spi 0x1002 dst "$Q4" key "$KEY"
bad unknown-interface-attach attach nosuch0
bad unknown-interface-sa sa add nosuch0 in spi 0x1002 src "$Q4" key "$KEY"
bad unknown-interface-stats stats nosuch0
bad bad-address-v4 sa add eth0 out spi 0x2002 dst 198.18.0.300 key "$KEY"
bad bad-address-v6 sa add eth0 in spi 0x1002 src 2001:db8::zz key "$KEY"
bad bad-address-word sa add eth0 in spi 0x1002 src peer-q key "$KEY"
bad bad-prefix allow eth0 tcp/2223 from 198.18.0.0/33
bad key-31-digits sa add eth0 in spi 0x1002 src "$Q4" key "${KEY:0:31}"
bad key-33-digits sa add eth0 in spi 0x1002 src "$Q4" key "${KEY}0"
bad key-not-hex sa add eth0 in spi 0x1002 src "$Q4" key "${KEY:0:31}g"
bad spi-zero sa add eth0 in spi 0 src "$Q4" key "$KEY"
bad spi-0xzz sa add eth0 in spi 0xzz src "$Q4" key "$KEY"
bad spi-too-big sa add eth0 in spi 0x100000000 src "$Q4" key "$KEY"
bad duplicate-spi sa add eth0 in spi 0x1001 src "$(pg_addr u 4)" key "$KEY"
bad sa-del-missing-in sa del eth0 in spi 0x7777
bad sa-del-missing-out sa del eth0 out spi 0x7777
bad bad-allow-port allow eth0 tcp/70000
bad bad-allow-proto allow eth0 nosuchproto/22
bad disallow-missing disallow eth0 tcp/2224
bad bad-xdp-mode attach dum0 --xdp-mode turbo
pg_case bad-xdp-mode-no-prog no_xdp_on_dum0
bad attach-twice attach eth0
bad not-attached-detach detach dum0
bad not-attached-stats stats dum0
bad not-attached-sa-list sa list dum0
bad not-attached-allow allow dum0 tcp/22
bad not-attached-sa-add sa add dum0 in spi 0x1002 src "$Q4" key "$KEY"
bad not-attached-sa-del sa del dum0 in spi 0x1001
pg_case no-bpffs-stats rejected no_bpffs stats eth0
pg_case no-bpffs-attach rejected no_bpffs attach dum0
pg_case no-bpffs-attach-no-prog no_xdp_on_dum0
pg_case non-root-stats rejected as_nobody stats eth0
pg_case non-root-sa-add rejected as_nobody \
	sa add eth0 in spi 0x1002 src "$Q4" key "$KEY"
pg_case non-root-detach rejected as_nobody detach eth0

pg_case sa-del ok sa del eth0 in spi 0x1001
pg_case sa-del-gone sa_listed in 0x1001 "$Q4" absent
ok sa list eth0 --json
pg_case no-key-printed no_key_printed
pg_case detach ok detach eth0
pg_done
