#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Builds every libFuzzer harness tests/fuzz/*.c and runs each for a bounded
# time. Usage:
#
#   tests/fuzz/run.sh [SECONDS]     default 30 seconds per harness
#
# Prints "PASS fuzz_<name>" or "FAIL fuzz_<name>: <why>" per harness (the
# unit-test output contract) and exits non-zero if any failed. Binaries,
# corpora and crash artifacts go to build/fuzz/. Needs clang with the
# libFuzzer runtime (Debian: libclang-rt-14-dev) and libsodium-dev.

set -u
cd "$(dirname "$0")/../.." || exit 1

SECS=${1:-30}
CLANG=${CLANG:-clang}
OUT=build/fuzz
LIB_SRCS="userspace/lib/noise.c userspace/lib/handshake.c userspace/lib/b64key.c \
	userspace/lib/invite.c userspace/lib/kvfile.c userspace/lib/pairstate.c \
	userspace/lib/ctl.c userspace/lib/log.c"
CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Iinclude -Iuserspace/lib"

case $SECS in
''|*[!0-9]*) echo "Usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
mkdir -p "$OUT" || exit 1

failed=0
for src in tests/fuzz/*.c; do
	name=$(basename "$src" .c)
	bin=$OUT/$name
	log=$OUT/$name.log
	corpus=$OUT/corpus-$name

	# shellcheck disable=SC2086
	if ! $CLANG $CFLAGS "$src" $LIB_SRCS -lsodium -lxdp -lbpf -o "$bin" >"$log" 2>&1; then
		echo "FAIL $name: does not build (see $log)"
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$corpus"
	if "$bin" -max_total_time="$SECS" -artifact_prefix="$OUT/$name-" \
		-print_final_stats=1 "$corpus" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "PASS $name (${runs:-?} runs in ${SECS}s)"
	else
		echo "FAIL $name: $(grep -m1 -E 'ERROR|SUMMARY' "$log") (see $log)"
		failed=$((failed + 1))
	fi
done
[ "$failed" = 0 ]
