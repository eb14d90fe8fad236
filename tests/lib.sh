# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Shared helpers for pairgate's integration tests and demo, sourced by bash.
#
# pg_setup builds throw-away namespaces on one bridge: a switch namespace "sw"
# holding br0, and hosts p (protected), q (paired peer), u (unpaired), each
# with eth0 on the bridge, fixed MAC addresses, addresses from 198.18.0.0/15
# and 2001:db8::/32, no DAD and permanent neighbour entries, so that the only
# frames between hosts are the ones a test sends. Every host gets a private
# bpffs; `pg HOST ...` runs build/pairgate there with PAIRGATE_BPFFS and
# LIBXDP_BPFFS pointing at it (`ip netns exec` remounts /sys, so pins under
# /sys/fs/bpf would not outlive one command). An EXIT trap removes it all.
#
# Names carry the owning shell's pid (pgtest-<pid>-<host>), so that
# pg_clean_stale can remove what a killed run left without touching a run
# that is still going.

PG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${PAIRGATE_BIN:-$PG_ROOT/build/pairgate}
PG_PY=(python3 "$PG_ROOT/tests/pgnet.py")
PG_PREFIX=${PG_PREFIX:-pgtest}
PG_NAME=${PG_NAME:-$(basename "$0" .sh)}
PG_TMP=
PG_HOSTS=()
PG_BG=()
PG_BGPID=
PG_FAILS=0

declare -A PG_IDX=([p]=1 [q]=2 [u]=3)

# ---- reporting: one line per case, as tests/run.sh counts them ----

pg_pass() { echo "PASS $PG_NAME/$1"; }
pg_skip() { echo "SKIP $PG_NAME/$1: $2"; }

pg_fail()
{
	echo "FAIL $PG_NAME/$1: $2"
	PG_FAILS=$((PG_FAILS + 1))
}

# pg_case NAME CMD...: PASS if CMD succeeds, else FAIL with the last line it
# printed as the reason. CMD runs in the current shell, so it may use pg_bg.
pg_case()
{
	local name=$1 out=$PG_TMP/case.out why
	shift
	if "$@" >"$out" 2>&1; then
		pg_pass "$name"
		return 0
	fi
	why=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1)
	pg_fail "$name" "${why:-'$*' failed}"
	return 1
}

pg_done() { exit $((PG_FAILS > 0)); }

# Prints why, on stderr, and fails: the last word of a case function.
pg_why() { echo "$*" >&2; return 1; }

# ---- names and addresses ----

pg_ns() { echo "$PG_PREFIX-$$-$1"; }
pg_mac() { printf '02:70:67:00:00:%02x' "${PG_IDX[$1]}"; }

# pg_addr HOST [4|6]
pg_addr()
{
	if [ "${2:-4}" = 6 ]; then
		echo "2001:db8::${PG_IDX[$1]}"
	else
		echo "198.18.0.${PG_IDX[$1]}"
	fi
}

# A random 128-bit key as 32 hex digits. Keep it in a variable; never echo it.
pg_key() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# SPI that host RX chooses for what TX sends it over IPv4/IPv6 (never 0).
pg_spi() { printf '0x%x' $((0x10000 * PG_IDX[$1] + 0x100 * PG_IDX[$2] + $3)); }

# ---- running things in a host ----

pg_in()
{
	local ns
	ns=$(pg_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

# pg HOST ARGS...: build/pairgate ARGS inside HOST, with HOST's bpffs.
pg()
{
	local h=$1
	shift
	PAIRGATE_BPFFS=$PG_TMP/bpffs/$h LIBXDP_BPFFS=$PG_TMP/bpffs/$h \
		ip netns exec "$(pg_ns "$h")" "$PG_BIN" "$@"
}

# pg_net HOST ARGS...: tests/pgnet.py inside HOST. Every pgnet command has
# its own time limit, and it stays in the caller's process group, so the
# runner's timeout reaches it too.
pg_net()
{
	local h=$1
	shift
	pg_in "$h" "${PG_PY[@]}" "$@"
}

pg_py() { "${PG_PY[@]}" "$@"; }

# pg_bg HOST ARGS...: pg_net in the background; its pid lands in PG_BGPID.
# Don't call it in $(...): the pid has to reach this shell.
pg_bg()
{
	local h=$1
	shift
	ip netns exec "$(pg_ns "$h")" "${PG_PY[@]}" "$@" &
	PG_BGPID=$!
	PG_BG+=("$PG_BGPID")
}

# pg_reap PID: waits for a pg_bg job and returns its exit status.
pg_reap()
{
	local pid=$1 rc=0 i keep=()
	wait "$pid" || rc=$?
	for i in "${PG_BG[@]}"; do
		[ "$i" = "$pid" ] || keep+=("$i")
	done
	PG_BG=("${keep[@]}")
	return "$rc"
}

pg_kill() { kill "$1" 2>/dev/null; pg_reap "$1" 2>/dev/null || true; }

# pg_wait_file FILE [SECONDS]: polls until a --ready file shows up.
pg_wait_file()
{
	local i
	for ((i = 0; i < ${2:-5} * 20; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	pg_why "timed out waiting for $1"
}

# ---- topology ----

pg_require_root()
{
	[ "$(id -u)" = 0 ] && return 0
	pg_skip all "needs root (sudo make test)"
	exit 0
}

pg_require_bin()
{
	[ -x "$PG_BIN" ] && return 0
	pg_skip all "$PG_BIN not built (make)"
	exit 0
}

pg_cleanup()
{
	local h pid ns

	set +e
	for pid in "${PG_BG[@]}"; do
		kill "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	for h in "${PG_HOSTS[@]}"; do
		[ -d "$PG_TMP/bpffs/$h/pairgate/eth0" ] &&
			pg "$h" detach eth0 >/dev/null 2>&1
		mountpoint -q "$PG_TMP/bpffs/$h" && umount "$PG_TMP/bpffs/$h"
	done
	for h in "${PG_HOSTS[@]}" sw; do
		ns=$(pg_ns "$h")
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
	done
	[ -n "$PG_TMP" ] && rm -rf "$PG_TMP"
	PG_BG=()
	PG_HOSTS=()
	PG_TMP=
}

# Removes namespaces, bpffs mounts and directories under PREFIX whose owning
# shell is gone (a run killed by a timeout or kill -9).
pg_clean_stale()
{
	local prefix=${1:-$PG_PREFIX} ns pid mnt dir

	for ns in $(ip netns list | awk '{ print $1 }'); do
		case $ns in "$prefix"-*) ;; *) continue ;; esac
		pid=${ns#"$prefix"-}
		pid=${pid%%-*}
		kill -0 "$pid" 2>/dev/null || ip netns del "$ns"
	done
	findmnt -rn -o TARGET | grep "^/tmp/$prefix-[0-9]*\." | sort -r |
	while read -r mnt; do
		pid=${mnt#/tmp/"$prefix"-}
		kill -0 "${pid%%.*}" 2>/dev/null || umount "$mnt"
	done
	for dir in /tmp/"$prefix"-[0-9]*.*; do
		[ -d "$dir" ] || continue
		pid=${dir#/tmp/"$prefix"-}
		kill -0 "${pid%%.*}" 2>/dev/null || rm -rf "$dir"
	done
}

pg_add_host()
{
	local h=$1 ns sw j
	ns=$(pg_ns "$h")
	sw=$(pg_ns sw)

	ip netns add "$ns"
	PG_HOSTS+=("$h")
	# No DAD probes or router solicitations, and the MLD reports that
	# joining a group sends go out at once, so that the link is quiet
	# when pg_topology returns.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.default.router_solicitations=0 \
		net.ipv6.conf.default.accept_ra=0 \
		net.ipv6.conf.default.mldv2_unsolicited_report_interval=10 \
		>/dev/null || return 1
	ip -n "$ns" link set lo up
	ip -n "$ns" link add eth0 address "$(pg_mac "$h")" type veth \
		peer name "$h" netns "$sw" || return 1
	ip -n "$sw" link set "$h" master br0 up
	ip -n "$ns" addr add "$(pg_addr "$h" 4)/24" dev eth0
	ip -n "$ns" addr add "$(pg_addr "$h" 6)/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	for j in "${!PG_IDX[@]}"; do
		[ "$j" = "$h" ] && continue
		ip -n "$ns" neigh replace "$(pg_addr "$j" 4)" \
			lladdr "$(pg_mac "$j")" dev eth0 nud permanent
		ip -n "$ns" neigh replace "$(pg_addr "$j" 6)" \
			lladdr "$(pg_mac "$j")" dev eth0 nud permanent
	done
	mkdir -p "$PG_TMP/bpffs/$h"
	mount -t bpf bpf "$PG_TMP/bpffs/$h"
}

# pg_setup [HOST...]: hosts from p, q, u (default all three). Exits with
# a SKIP line without root or build/pairgate, with a FAIL line if the
# topology cannot be built.
pg_setup()
{
	pg_require_root
	pg_require_bin
	trap pg_cleanup EXIT
	trap 'exit 143' TERM INT HUP
	PG_TMP=$(mktemp -d "/tmp/$PG_PREFIX-$$.XXXXXX")
	[ $# -gt 0 ] || set -- p q u
	pg_topology "$@" >"$PG_TMP/setup.log" 2>&1 && return 0
	pg_fail setup "$(tail -n 1 "$PG_TMP/setup.log")"
	exit 1
}

pg_topology()
{
	local h sw

	sw=$(pg_ns sw)
	ip netns add "$sw" || return 1
	ip netns exec "$sw" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip -n "$sw" link add br0 type bridge mcast_snooping 0 || return 1
	ip -n "$sw" link set br0 up
	for h in "$@"; do
		pg_add_host "$h" || return 1
	done
	# veth ports come up asynchronously; wait for carrier everywhere,
	# then for the last MLD reports.
	for h in "$@"; do
		pg_wait_carrier "$h" || return 1
	done
	sleep 0.5
}

pg_wait_carrier()
{
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(pg_in "$1" cat /sys/class/net/eth0/carrier)" = 1 ] &&
			return 0
		sleep 0.05
	done
	pg_why "eth0 in $1 has no carrier"
}

# ---- pairgate state ----

pg_stats() { pg "$1" stats eth0 --json; }

# pg_verdict HOST VERDICT [packets|bytes]
pg_verdict()
{
	pg_stats "$1" | pg_py jget "verdicts.$2.${3:-packets}"
}

# pg_pair A B: SAs in both directions between A and B, IPv4 and IPv6, each
# direction with its own random key. Both hosts must be attached.
pg_pair()
{
	local a=$1 b=$2 fam kab kba

	for fam in 4 6; do
		kab=$(pg_key)
		kba=$(pg_key)
		pg "$a" sa add eth0 out spi "$(pg_spi "$b" "$a" $fam)" \
			dst "$(pg_addr "$b" $fam)" key "$kab" || return 1
		pg "$b" sa add eth0 in spi "$(pg_spi "$b" "$a" $fam)" \
			src "$(pg_addr "$a" $fam)" key "$kab" || return 1
		pg "$b" sa add eth0 out spi "$(pg_spi "$a" "$b" $fam)" \
			dst "$(pg_addr "$a" $fam)" key "$kba" || return 1
		pg "$a" sa add eth0 in spi "$(pg_spi "$a" "$b" $fam)" \
			src "$(pg_addr "$b" $fam)" key "$kba" || return 1
	done
}

# pg_attach_pair [MODE]: attaches P and Q (native XDP by default) and pairs
# them.
pg_attach_pair()
{
	pg p attach eth0 --xdp-mode "${1:-native}" &&
		pg q attach eth0 --xdp-mode "${1:-native}" &&
		pg_pair p q
}

# ---- traffic; each fails with a reason on stderr ----

# pg_ping FROM DST [COUNT]: every echo answered.
pg_ping()
{
	local got
	got=$(pg_net "$1" ping "$2" -c "${3:-3}" -W 1)
	[ "$got" = "${3:-3}/${3:-3}" ] ||
		pg_why "ping $1 -> $2: $got replies"
}

# pg_tcp_xfer FROM TO FAM: 4 MiB of random bytes, sha256 checked at TO.
pg_tcp_xfer()
{
	local from=$1 to=$2 fam=$3 blob=$PG_TMP/blob rx=$PG_TMP/rx.bin pid

	[ -s "$blob" ] || head -c 4194304 /dev/urandom >"$blob"
	rm -f "$rx" "$PG_TMP/ready"
	pg_bg "$to" tcp-recv 5001 "$rx" --ready "$PG_TMP/ready" -t 30 \
		>/dev/null
	pid=$PG_BGPID
	pg_wait_file "$PG_TMP/ready" || { pg_kill "$pid"; return 1; }
	if ! pg_net "$from" tcp-send "$(pg_addr "$to" "$fam")" 5001 \
		"$blob" -t 30; then
		pg_kill "$pid"
		return 1
	fi
	pg_reap "$pid" || pg_why "tcp receiver on $to failed" || return 1
	[ "$(sha256sum <"$rx")" = "$(sha256sum <"$blob")" ] ||
		pg_why "tcp $from -> $to: received data differs" \
			"($(stat -c %s "$rx") of $(stat -c %s "$blob") bytes)"
}

# pg_udp_xfer FROM TO FAM [N]: N datagrams, each received exactly once.
pg_udp_xfer()
{
	local from=$1 to=$2 fam=$3 n=${4:-50} tx=$PG_TMP/udp.tx rx=$PG_TMP/udp.rx
	local pid

	pg_py udp-gen "$n" "$RANDOM" 1200 >"$tx"
	rm -f "$rx" "$PG_TMP/ready"
	pg_bg "$to" udp-recv 5002 "$rx" --count "$n" --ready "$PG_TMP/ready" \
		-t 10
	pid=$PG_BGPID
	pg_wait_file "$PG_TMP/ready" || { pg_kill "$pid"; return 1; }
	pg_net "$from" udp-send "$(pg_addr "$to" "$fam")" 5002 "$tx"
	pg_reap "$pid"
	cmp -s <(sort "$tx") <(sort "$rx") ||
		pg_why "udp $from -> $to: $(wc -l <"$rx") of $n datagrams" \
			"arrived intact"
}
