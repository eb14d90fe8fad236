#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Runs pairgate's tests: every unit binary build/tests/* and every script
# tests/integration/*.sh, each under a time limit. Usage:
#
#   tests/run.sh [PATTERN...]    only programs whose path contains a PATTERN
#   V=1 tests/run.sh             show every program's whole output
#   PG_TEST_TIMEOUT=SECS         time limit per program (default 300)
#   PG_FUZZ_SECONDS=SECS         fuzzing time per harness (default 15)
#
# Each program prints one line per case, "PASS <name>", "FAIL <name>: <why>"
# or "SKIP <name>: <why>", and exits non-zero if any case failed. A program
# that exits non-zero, is killed, or prints no case line at all, without a
# FAIL line of its own, counts as one failure. Output of a program with a
# failure follows its lines, indented. The last line is "N passed, N failed".

set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh

TIMEOUT=${PG_TEST_TIMEOUT:-300}
LOGDIR=$(mktemp -d /tmp/pairgate-tests.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT
trap 'exit 130' INT TERM HUP

passed=0
failed=0
skipped=0

selected()
{
	local pat
	[ $# -gt 1 ] || return 0
	for pat in "${@:2}"; do
		case $1 in *"$pat"*) return 0 ;; esac
	done
	return 1
}

# run_one PROG CMD...: runs, reports and counts one test program.
run_one()
{
	local prog=$1 log=$LOGDIR/out rc=0 p f s t0 why=
	shift

	echo "# $prog"
	t0=$SECONDS
	timeout -k 10 "$TIMEOUT" "$@" </dev/null >"$log" 2>&1 || rc=$?
	pg_clean_stale
	grep -E '^(PASS|FAIL|SKIP) ' "$log"
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	s=$(grep -c '^SKIP ' "$log")
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		why="killed after ${TIMEOUT}s"
	elif [ "$rc" != 0 ]; then
		why="exited with status $rc"
	elif [ $((p + f + s)) = 0 ]; then
		why="printed no PASS, FAIL or SKIP line"
	fi
	if [ -n "$why" ] && [ "$f" = 0 ]; then
		echo "FAIL $prog: $why"
		f=1
	fi
	if [ "$f" != 0 ] || [ -n "${V:-}" ]; then
		sed 's/^/    /' "$log"
	fi
	echo "# $prog: $((SECONDS - t0))s"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

pg_clean_stale
for prog in build/tests/*; do
	[ -f "$prog" ] && [ -x "$prog" ] || continue
	selected "$prog" "$@" && run_one "$prog" "./$prog"
done
for prog in tests/integration/*.sh; do
	[ -f "$prog" ] || continue
	selected "$prog" "$@" && run_one "$prog" bash "$prog"
done

# every libFuzzer harness for a bounded time under ASan and UBSan (longer: make fuzz)
selected tests/fuzz/run.sh "$@" &&
	run_one tests/fuzz/run.sh bash tests/fuzz/run.sh "${PG_FUZZ_SECONDS:-15}"

echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
