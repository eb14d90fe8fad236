#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# `make bench`: pairgate's cost per packet (BPF_PROG_TEST_RUN, prog_bench)
# and end-to-end TCP throughput between two namespaces (iperf3), as markdown
# on stdout and in build/bench/results.md. docs/performance.md explains the
# method and keeps a copy of the numbers. Needs root; not part of `make test`.
#
# Environment: BENCH_REPS (test-run repetitions, default 7), BENCH_SINGLE
# (packets per single-mode repetition, 5000), BENCH_IPERF_RUNS (3),
# BENCH_IPERF_SECS (5); BENCH_SKIP_IPERF=1 or BENCH_SKIP_PROG=1 to run only
# the micro-benchmark or only the throughput part.
#
# Everything it creates (two namespaces pgb<pid>a/b, one veth pair in
# 198.18.0.0/24, two bpffs mounts under a mktemp directory, iperf3
# processes) is removed by the EXIT trap, and every command is bounded by
# timeout.

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
PG=$BUILD/pairgate
NETCTL=$BUILD/bench/netctl
REPS=${BENCH_REPS:-7}
SINGLE=${BENCH_SINGLE:-5000}
RUNS=${BENCH_IPERF_RUNS:-3}
SECS=${BENCH_IPERF_SECS:-5}

NS1=pgb$$a
NS2=pgb$$b
A1=198.18.0.1
A2=198.18.0.2
KEY12=000102030405060708090a0b0c0d0e0f	# 1 -> 2 traffic, SPI 0x102
KEY21=f0e1d2c3b4a5968778695a4b3c2d1e0f	# 2 -> 1 traffic, SPI 0x201
TMP=
PIDS=
COSTS=
STATS0=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo 0)

die()
{
	echo "bench: $*" >&2
	exit 1
}

cleanup()
{
	local p

	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	echo "$STATS0" >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null
	ip netns del "$NS1" 2>/dev/null
	ip netns del "$NS2" 2>/dev/null
	if [ -n "$TMP" ]; then
		umount "$TMP/h1" 2>/dev/null
		umount "$TMP/h2" 2>/dev/null
		rm -rf "$TMP"
	fi
}

# nsx NS CMD...: run CMD in namespace NS with that host's private bpffs.
nsx()
{
	local ns=$1 fs

	shift
	[ "$ns" = "$NS1" ] && fs=$TMP/h1 || fs=$TMP/h2
	PAIRGATE_BPFFS=$fs LIBXDP_BPFFS=$fs timeout 60 ip netns exec "$ns" "$@"
}

machine()
{
	echo "## Machine"
	echo
	echo '```'
	echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "kernel:  $(uname -r) ($(uname -m))"
	echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), nproc $(nproc)"
	echo "clock:   $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)"
	echo "jit:     bpf_jit_enable=$(cat /proc/sys/net/core/bpf_jit_enable 2>/dev/null)" \
	     "bpf_jit_harden=$(cat /proc/sys/net/core/bpf_jit_harden 2>/dev/null)"
	echo "clang:   $(clang --version | head -1)"
	echo "libbpf:  $(pkg-config --modversion libbpf 2>/dev/null)," \
	     "libsodium $(pkg-config --modversion libsodium 2>/dev/null)," \
	     "$(iperf3 --version 2>/dev/null | head -1 | cut -d' ' -f1-2)"
	echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start; the VM is shared)"
	echo '```'
	echo
}

# build/bench_noflows.bpf.o includes bpf/pairgate.bpf.c, which the Makefile
# does not know; rebuild it (and prog_bench) whenever the data plane is newer.
noflows_fresh()
{
	local f o=$BUILD/bench_noflows.bpf.o

	for f in "$ROOT"/bpf/pairgate.bpf.c "$ROOT"/bpf/*.h "$ROOT"/include/pairgate.h; do
		if [ ! -e "$o" ] || [ "$f" -nt "$o" ]; then
			make -s -C "$ROOT" -W bpf/bench_noflows.bpf.c build/bench/prog_bench >&2 ||
				die "cannot rebuild build/bench_noflows.bpf.o"
			return
		fi
	done
}

microbench()
{
	echo "## BPF_PROG_TEST_RUN, ns per packet"
	echo
	echo "\`build/bench/prog_bench --reps $REPS --single $SINGLE\`"
	echo
	noflows_fresh
	timeout 900 "$BUILD/bench/prog_bench" --reps "$REPS" --single "$SINGLE" ||
		die "prog_bench failed"
}

net_setup()
{
	TMP=$(mktemp -d /tmp/pgbench.XXXXXX) || die "mktemp failed"
	mkdir "$TMP/h1" "$TMP/h2"
	mount -t bpf bpf "$TMP/h1" && mount -t bpf bpf "$TMP/h2" || die "cannot mount bpffs"
	ip netns add "$NS1" && ip netns add "$NS2" || die "cannot create namespaces"
	ip link add eth0 netns "$NS1" type veth peer name eth0 netns "$NS2" ||
		die "cannot create the veth pair"
	nsx "$NS1" ip addr add "$A1/24" dev eth0
	nsx "$NS2" ip addr add "$A2/24" dev eth0
	for ns in "$NS1" "$NS2"; do
		nsx "$ns" ip link set lo up
		nsx "$ns" ip link set eth0 up
	done
}

# cpu_ticks: "busy total" jiffies over all CPUs, from /proc/stat.
cpu_ticks()
{
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat
}

# iperf_once: "Gbit/s busy%" for one SECS-long run NS1 -> NS2, or nothing.
# busy% is the whole machine's CPU use (all CPUs, softirq included) meanwhile.
iperf_once()
{
	local spid bps t0 t1

	nsx "$NS2" timeout $((SECS + 30)) iperf3 -s -1 -B "$A2" >/dev/null 2>&1 &
	spid=$!
	PIDS="$PIDS $spid"
	for _ in $(seq 50); do
		nsx "$NS2" ss -ltn 2>/dev/null | grep -q "$A2:5201" && break
		sleep 0.1
	done
	t0=$(cpu_ticks)
	bps=$(nsx "$NS1" timeout $((SECS + 20)) iperf3 -c "$A2" -t "$SECS" -J 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])' \
		2>/dev/null)
	t1=$(cpu_ticks)
	wait "$spid" 2>/dev/null
	[ -n "$bps" ] && echo "$t0 $t1" | awk -v b="$bps" '{
		printf "%.2f %.0f\n", b / 1e9, 100 * ($3 - $1) / ($4 - $2) }'
}

# measure LABEL: RUNS iperf3 runs; prints a table row, sets MED.
measure()
{
	local label=$1 vals="" cpus="" v

	for _ in $(seq "$RUNS"); do
		v=$(iperf_once)
		[ -n "$v" ] || v="0 0"
		vals="$vals ${v% *}"
		cpus="$cpus ${v#* }%"
	done
	MED=$(printf '%s\n' $vals | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	echo "| $label | **$MED** | $(echo $vals | sed 's/ /, /g') | $(echo $cpus | sed 's/ /, /g') |"
}

# progstats NS: run time per packet of the XDP and TC programs attached in NS,
# as kernel.bpf_stats_enabled counted it (libxdp's dispatcher included).
progstats()
{
	nsx "$1" bpftool -j net show 2>/dev/null | python3 -c '
import json, subprocess, sys
out = []
for kind, atts in json.load(sys.stdin)[0].items():
    for a in atts if kind in ("xdp", "tc") else []:
        ids = [a["id"]] if "id" in a else [m["id"] for m in a.get("multi_attachments", [])]
        for i in ids:
            r = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(i)],
                               capture_output=True, text=True)
            p = json.loads(r.stdout or "{}")
            n = p.get("run_cnt", 0)
            if n:
                out.append("%s on %s %.0f ns x %d" % (p.get("name", "?"), a.get("devname", "?"),
                                                     p.get("run_time_ns", 0) / n, n))
print("; ".join(out) or "none")' 2>/dev/null
}

# bpfcost LABEL: one extra short run with BPF run-time statistics switched on
# (they cost two clock reads per program run, so the measured runs go without).
bpfcost()
{
	echo 1 >/proc/sys/kernel/bpf_stats_enabled
	SECS=2 iperf_once >/dev/null
	echo "$STATS0" >/proc/sys/kernel/bpf_stats_enabled
	COSTS="$COSTS
| $1 | $(progstats "$NS1") | $(progstats "$NS2") |"
}

both()
{
	nsx "$NS1" "$@" && nsx "$NS2" "$@"
}

# pair: attach pairgate on both ends and add the SAs; output to $TMP/pair.log.
pair()
{
	{
		both "$PG" attach eth0 --xdp-mode native &&
		nsx "$NS1" "$PG" sa add eth0 out spi 0x102 dst "$A2" key "$KEY12" &&
		nsx "$NS1" "$PG" sa add eth0 in spi 0x201 src "$A2" key "$KEY21" &&
		nsx "$NS2" "$PG" sa add eth0 in spi 0x102 src "$A1" key "$KEY12" &&
		nsx "$NS2" "$PG" sa add eth0 out spi 0x201 dst "$A1" key "$KEY21"
	} >"$TMP/pair.log" 2>&1 || { cat "$TMP/pair.log" >&2; return 1; }
}

verdicts()
{
	nsx "$1" "$PG" stats eth0 --json | python3 -c '
import json, sys
v = json.load(sys.stdin)["verdicts"]
print(", ".join("%s %d" % (k, v[k]["packets"]) for k in v if v[k]["packets"]))'
}

throughput()
{
	local plain bare same paired

	echo "## TCP throughput, $NS1 -> $NS2 over one veth pair, Gbit/s"
	echo
	echo "iperf3, one stream, ${SECS} s per run, median of $RUNS runs."
	echo
	net_setup
	echo "| setup | median | runs | machine CPU busy per run |"
	echo "|---|---:|---|---|"

	measure "plain veth (MTU 1500, default offloads)"
	plain=$MED

	both "$NETCTL" xdp-pass eth0 native || die "cannot attach the bare XDP program"
	measure "bare XDP_PASS, native, both ends"
	bare=$MED
	bpfcost "bare XDP_PASS"

	both "$NETCTL" offload eth0 off && both ip link set dev eth0 mtu 1476 ||
		die "cannot set offloads"
	measure "bare XDP_PASS + TSO/GSO off, MTU 1476 (pairgate's helper settings)"
	same=$MED
	bpfcost "bare XDP_PASS + TSO/GSO off, MTU 1476"

	both "$NETCTL" xdp-off eth0 && both "$NETCTL" offload eth0 on &&
		both ip link set dev eth0 mtu 1500 || die "cannot restore eth0"
	pair || die "pairgate attach or sa add failed"
	measure "paired through pairgate (native XDP, TC tagger)"
	paired=$MED
	bpfcost "paired"
	echo
	echo "Verdicts afterwards: $NS1: $(verdicts "$NS1"); $NS2: $(verdicts "$NS2")."
	echo
	echo "BPF run time per packet in one extra 2-second run with"
	echo "kernel.bpf_stats_enabled=1 (program, device, mean ns x runs):"
	echo
	echo "| setup | $NS1 (sender) | $NS2 (receiver) |"
	echo "|---|---|---|$COSTS"
	both "$PG" detach eth0 >/dev/null 2>&1
	echo
	awk -v p="$paired" -v s="$same" -v b="$bare" -v n="$plain" 'BEGIN {
		printf "| ratio | value | target |\n|---|---:|---|\n"
		if (s > 0) printf "| paired / bare XDP with the same offloads and MTU | **%.2f** | >= 0.8 (%s) |\n", p / s, (p / s >= 0.8 ? "met" : "**missed**")
		if (b > 0) printf "| paired / bare XDP_PASS | %.2f | (info) |\n", p / b
		if (n > 0) printf "| paired / plain veth | %.2f | (info) |\n", p / n
	}'
	echo
}

[ "$(id -u)" = 0 ] || die "needs root (BPF_PROG_TEST_RUN, namespaces)"
[ -x "$BUILD/bench/prog_bench" ] || die "build first: make"
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$BUILD/bench"

exec > >(tee "$BUILD/bench/results.md")

echo "# pairgate bench results"
echo
echo "\`make bench\` (tests/bench/run.sh)."
echo
machine
[ "${BENCH_SKIP_PROG:-0}" = 1 ] || microbench
if [ "${BENCH_SKIP_IPERF:-0}" != 1 ]; then
	command -v iperf3 >/dev/null || die "iperf3 missing"
	throughput
fi
if [ "${BENCH_SKIP_PAIRING:-0}" != 1 ]; then
	echo "## Pairing (tests/bench/daemon_bench.sh)"
	echo
	echo '```'
	bash tests/bench/daemon_bench.sh 2>/dev/null | grep -v '^flood_sent'
	echo '```'
	echo
fi
if [ "${BENCH_SKIP_FLOWS:-0}" != 1 ]; then
	echo "## Flow tracking overhead (tests/bench/flow_overhead.sh)"
	echo
	echo '```'
	bash tests/bench/flow_overhead.sh 2>&1 | tail -n 12
	echo '```'
	echo
fi
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
