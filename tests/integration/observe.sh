#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# What pairgate's observability shows after a scripted scenario matches what
# was sent, packet for packet. Paired Q sends N UDP datagrams to P, unpaired U
# sends M, then one of Q's tagged frames is replayed and a copy with a later
# sequence number and the old tag (forged) is injected, all while
# `pairgate drops -w` captures on P. Then: P's verdict counters, `flows`
# (text and --json), the pcapng file and its per-packet reasons, `--print`,
# `metrics` (strictly parsed) and its --metrics-file, `top` and the
# `drops --log` summaries. Neighbour entries are permanent and DAD is off,
# so the hosts send exactly what the test sends.
#
# PAIRGATE_OBS_BIN runs the observe subcommands from another binary (a
# driver, while they are not wired into build/pairgate yet).

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

OBS_BIN=${PAIRGATE_OBS_BIN:-$PG_BIN}
OC=(python3 "$PG_ROOT/tests/obscheck.py")
N=20		# paired datagrams
M=7		# unpaired datagrams
M2=5		# unpaired datagrams during drops --log
PCAP=
CAP_PID=

if "$OBS_BIN" flows 2>&1 | grep -q "unknown command"; then
	pg_skip all "$OBS_BIN has no flows command yet (observe.c not wired into pairgate.c)"
	exit 0
fi

# pgo HOST ARGS...: an observe subcommand inside HOST, with HOST's bpffs.
pgo()
{
	local h=$1
	shift
	PAIRGATE_BPFFS=$PG_TMP/bpffs/$h LIBXDP_BPFFS=$PG_TMP/bpffs/$h \
		ip netns exec "$(pg_ns "$h")" "$OBS_BIN" "$@"
}

oc() { "${OC[@]}" "$@"; }

declare -A BEFORE

counters_before()
{
	local v
	for v in verified unpaired replay bad_tag; do
		BEFORE[$v]=$(pg_verdict p $v) || return 1
	done
}

# expect_delta VERDICT N: P's counter moved by exactly N since counters_before.
expect_delta()
{
	local now
	now=$(pg_verdict p "$1") || return 1
	[ "$now" = $((BEFORE[$1] + $2)) ] ||
		pg_why "$1 went from ${BEFORE[$1]} to $now, expected +$2"
}

start_capture()
{
	local i
	PCAP=$PG_TMP/drops.pcapng
	pgo p drops eth0 -w "$PCAP" -c $((M + 2)) --timeout 30 --print \
		>"$PG_TMP/print.out" 2>"$PG_TMP/drops.err" &
	CAP_PID=$!
	PG_BG+=("$CAP_PID")
	for ((i = 0; i < 100; i++)); do
		[ -s "$PCAP" ] && break
		sleep 0.05
	done
	sleep 0.3	# sampling is switched on right after the header
	[ -s "$PCAP" ] || pg_why "drops -w wrote no pcapng header within 5s"
}

# Q sends N datagrams in one go; the switch keeps Q's first tagged frame.
paired_send()
{
	local tx=$PG_TMP/q.tx rx=$PG_TMP/q.rx rpid cpid

	pg_py udp-gen "$N" 11 200 >"$tx"
	pg_bg p udp-recv 5002 "$rx" --count "$N" --ready "$PG_TMP/ready.rx" -t 15
	rpid=$PG_BGPID
	pg_bg sw capture q "$PG_TMP/frame" --inner 17 --ready "$PG_TMP/ready.cap" -t 10
	cpid=$PG_BGPID
	pg_wait_file "$PG_TMP/ready.rx" && pg_wait_file "$PG_TMP/ready.cap" || return 1
	pg_net q udp-send "$(pg_addr p 4)" 5002 "$tx"
	pg_reap "$cpid" || pg_why "no tagged frame of Q seen on the switch"
	pg_reap "$rpid"
	cmp -s <(sort "$tx") <(sort "$rx") ||
		pg_why "$(wc -l <"$rx") of $N paired datagrams arrived"
}

unpaired_send()
{
	pg_py udp-gen "$2" 5 100 >"$PG_TMP/u.tx"
	pg_net u udp-send "$(pg_addr p 4)" "$1" "$PG_TMP/u.tx"
}

replay_and_forge()
{
	pg_net sw inject p "$PG_TMP/frame" &&
		pg_py forge "$PG_TMP/frame" "$PG_TMP/frame.forged" --seq-add 1000 &&
		pg_net sw inject p "$PG_TMP/frame.forged"
}

capture_finished()
{
	pg_reap "$CAP_PID" || pg_why "drops exited non-zero: $(tail -n 1 "$PG_TMP/drops.err")"
	grep -q "$((M + 2)) dropped packets captured" "$PG_TMP/drops.err" ||
		pg_why "drops said: $(tail -n 1 "$PG_TMP/drops.err")"
}

# reasons_are REASON...: M unpaired, one replay and one bad_tag, in any order.
reasons_are()
{
	local got
	got=$(printf '%s\n' "$@" | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')
	[ "$got" = "bad_tag=1 replay=1 unpaired=$M " ] ||
		pg_why "reasons: $got; expected bad_tag=1 replay=1 unpaired=$M"
}

pcap_reasons()
{
	local r
	mapfile -t r < <(oc pcapng-reasons "$PCAP" | sed 's/^reason=//')
	[ "${#r[@]}" = $((M + 2)) ] || pg_why "${#r[@]} packets in the file, expected $((M + 2))"
	reasons_are "${r[@]}"
}

print_reasons()
{
	local r
	mapfile -t r < <(grep -o 'reason=[a-z_]*' "$PG_TMP/print.out" | sed 's/^reason=//')
	[ "${#r[@]}" = $((M + 2)) ] || pg_why "${#r[@]} --print lines, expected $((M + 2))"
	grep -q "reason=unpaired len=[0-9]* $(pg_addr u 4) > $(pg_addr p 4) proto=udp" \
		"$PG_TMP/print.out" || pg_why "no unpaired line names U > P: $(head -n 1 \
		"$PG_TMP/print.out")"
	reasons_are "${r[@]}"
}

# The file opens in tshark too (libpcap is checked by tests/unit/test_observe).
pcap_tshark()
{
	local n
	n=$(tshark -r "$PCAP" -T fields -e frame.comment 2>/dev/null | grep -c 'reason=')
	[ "$n" = $((M + 2)) ] || pg_why "tshark sees $n commented packets"
}

sampling_off()
{
	local until
	until=$(bpftool -j map dump pinned "$PG_TMP/bpffs/p/pairgate/eth0/pg_config" |
		pg_py jget 0.formatted.value.drop_sample_until_ns)
	[ "$until" = 0 ] || pg_why "drop_sample_until_ns is $until after drops exited"
}

# jeq LIST FIELD WANT FILTERS...: one field of the flows JSON.
jeq()
{
	local got
	got=$(oc jfind "$1" "$2" "${@:4}" <"$PG_TMP/flows.json") || return 1
	[ "$got" = "$3" ] || pg_why "$1 $2 is $got, expected $3 (${*:4})"
}

flows_json()
{
	local q4 u4
	q4=$(pg_addr q 4)
	u4=$(pg_addr u 4)
	pgo p flows eth0 --json >"$PG_TMP/flows.json" || return 1
	python3 -m json.tool "$PG_TMP/flows.json" >/dev/null || pg_why "flows --json is not JSON"
	jeq paired packets "$N" dir=in peer="$q4" proto=udp dport=5002 &&
		jeq paired drops.replay 1 dir=in peer="$q4" dport=5002 &&
		jeq paired drops.bad_tag 1 dir=in peer="$q4" dport=5002 &&
		jeq paired spi $((SPI)) dir=in peer="$q4" dport=5002 &&
		jeq unpaired packets "$M" src="$u4" proto=udp dport=5003 &&
		jeq unpaired reason unpaired src="$u4" proto=udp dport=5003
}

flows_text()
{
	local out
	out=$(pgo p flows eth0 --sort drops --limit 5) || return 1
	grep -q '^paired flows' <<<"$out" && grep -q '^unpaired sources' <<<"$out" ||
		pg_why "flows lacks a section: $out"
	grep -Eq "^in +$(pg_addr q 4) +udp .* $N .*bad_tag=1 replay=1" <<<"$out" ||
		pg_why "no paired line with $N packets and the drops"
	grep -Eq "^$(pg_addr u 4) +udp +5003 +$M " <<<"$out" ||
		pg_why "no unpaired line for U with $M packets"
}

bad_sort()
{
	local err
	err=$(pgo p flows eth0 --sort size 2>&1) && pg_why "--sort size was accepted"
	[ "$(wc -l <<<"$err")" = 1 ] && grep -q "use pkts, bytes, drops or last" <<<"$err" ||
		pg_why "error was: $err"
}

bad_reason()
{
	local err
	err=$(pgo p drops eth0 -w "$PG_TMP/x.pcapng" --reason nope 2>&1) &&
		pg_why "--reason nope was accepted"
	[ "$(wc -l <<<"$err")" = 1 ] && grep -q "unpaired, bad_tag, replay" <<<"$err" ||
		pg_why "error was: $err"
}

metrics_stdout()
{
	local m=$PG_TMP/metrics.txt v
	pgo p metrics eth0 >"$m" || return 1
	oc prom "$m" >/dev/null || return 1
	v=$(oc prom-get pairgate_packets_total interface=eth0 verdict=unpaired <"$m") &&
		[ "$v" = "$(pg_verdict p unpaired)" ] || pg_why "unpaired in metrics: $v"
	v=$(oc prom-get pairgate_sa_packets_total interface=eth0 direction=in \
		spi="$(printf '0x%08x' $((SPI)))" peer="$(pg_addr q 4)" <"$m") &&
		[ "$v" = "$N" ] || pg_why "SA packets in metrics: $v, expected $N"
	v=$(oc prom-get pairgate_flows interface=eth0 kind=unpaired <"$m") &&
		[ "$v" -ge 1 ] || pg_why "unpaired flows gauge: $v"
}

metrics_file()
{
	local f=$PG_TMP/prom/pairgate.prom
	mkdir -p "$PG_TMP/prom"
	pgo p metrics eth0 --metrics-file "$f" --interval 1 --iterations 2 || return 1
	oc prom "$f" >/dev/null || return 1
	[ "$(ls "$PG_TMP/prom")" = pairgate.prom ] ||
		pg_why "left behind: $(ls "$PG_TMP/prom")"
}

top_plain()
{
	local n
	pgo p top eth0 --iterations 2 </dev/null >"$PG_TMP/top.out" 2>&1 ||
		pg_why "top failed: $(tail -n 1 "$PG_TMP/top.out")"
	n=$(grep -c '^pairgate top eth0' "$PG_TMP/top.out")
	[ "$n" = 2 ] || pg_why "top printed $n blocks, expected 2"
	grep -q '^verified ' "$PG_TMP/top.out" || pg_why "top shows no verdict rates"
}

drop_log()
{
	local pid sum
	pgo p drops eth0 --log --interval 1 --iterations 3 2>"$PG_TMP/log.err" &
	pid=$!
	PG_BG+=("$pid")
	sleep 0.5
	unpaired_send 5004 "$M2"
	pg_reap "$pid" || pg_why "drops --log failed: $(tail -n 1 "$PG_TMP/log.err")"
	sum=$(grep "event=drops .*src=$(pg_addr u 4) proto=udp dport=5004 " "$PG_TMP/log.err" |
		grep -o 'count=[0-9]*' | awk -F= '{ s += $2 } END { print s + 0 }')
	[ "${sum:-0}" = "$M2" ] || pg_why "log counted ${sum:-0} drops, expected $M2"
	grep -Eq '^ts=[0-9T:-]+Z event=drops iface=eth0 reason=unpaired ' "$PG_TMP/log.err" ||
		pg_why "log line: $(head -n 1 "$PG_TMP/log.err")"
}

pg_setup p q u
SPI=$(pg_spi p q 4)
pg_case attach pg_attach_pair || pg_done
pg_case counters-before counters_before || pg_done
pg_case capture-started start_capture || pg_done
pg_case paired-sent paired_send
pg_case unpaired-sent unpaired_send 5003 "$M"
pg_case replay-forge-sent replay_and_forge
pg_case capture-finished capture_finished

pg_case counter-verified expect_delta verified "$N"
pg_case counter-unpaired expect_delta unpaired "$M"
pg_case counter-replay expect_delta replay 1
pg_case counter-bad-tag expect_delta bad_tag 1

pg_case pcap-reasons pcap_reasons
pg_case print-lines print_reasons
if command -v tshark >/dev/null; then
	pg_case pcap-tshark pcap_tshark
else
	pg_skip pcap-tshark "tshark not installed"
fi
if command -v bpftool >/dev/null; then
	pg_case sampling-off-after-exit sampling_off
else
	pg_skip sampling-off-after-exit "bpftool not installed"
fi
pg_case flows-json flows_json
pg_case flows-text flows_text
pg_case flows-bad-sort bad_sort
pg_case drops-bad-reason bad_reason
pg_case metrics metrics_stdout
pg_case metrics-file metrics_file
pg_case top-plain top_plain
pg_case drop-log drop_log
pg_done
