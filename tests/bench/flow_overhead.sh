#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# What flow tracking (pg_flows, pg_srcs, drop sampling) costs the verified
# path: builds build/pairgate_noflows.bpf.o, the data plane with
# -DPG_NO_FLOWS, and runs build/bench/flow_overhead against
# build/pairgate.bpf.o. Needs root (BPF_PROG_TEST_RUN); `make` first.
# Arguments go to flow_overhead (-n N, -r REPS, -c CPU).

set -eu
cd "$(dirname "$0")/../.."

ARCH=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || true)
OUT=build/pairgate_noflows.bpf.o

[ -x build/bench/flow_overhead ] && [ -f build/pairgate.bpf.o ] ||
	{ echo "flow_overhead: run make first" >&2; exit 1; }
if [ ! -f "$OUT" ] || [ -n "$(find bpf include -newer "$OUT" -name '*.[ch]')" ]; then
	clang -g -O2 -target bpf -D__TARGET_ARCH_"$ARCH" -Wall -Werror -Iinclude -Ibpf \
		-idirafter /usr/include/"$MULTIARCH" -DPG_NO_FLOWS \
		-c bpf/pairgate.bpf.c -o "$OUT"
fi
exec timeout 300 build/bench/flow_overhead "$@" build/pairgate.bpf.o "$OUT"
