// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pairgate's data plane built without its observability (PG_NO_FLOWS: no
 * per-flow and per-source records, no drop samples), so that tests/bench can
 * tell what those cost. Never attached. The Makefile does not know this file
 * depends on pairgate.bpf.c; tests/bench/run.sh rebuilds it every time.
 */
#define PG_NO_FLOWS
#include "pairgate.bpf.c"
