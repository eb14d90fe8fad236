/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reading the flow table: pg_flows (LRU, per-CPU values) plus the per-CPU
 * one-entry caches in pg_flow_cache that hold each CPU's latest flow.
 */
#ifndef PG_FLOWS_H
#define PG_FLOWS_H

#include <stddef.h>

#include "pairgate.h"

struct pg_flow_entry {
	struct pg_flow_key key;
	struct pg_flow flow;	/* summed over CPUs; first_ns min, last_ns max */
};

/*
 * Collects every flow with counts summed over CPUs and caches. Returns the
 * number of entries in *out (malloc'd, free() it) or a negative errno.
 */
int pg_flows_collect(int flows_fd, int cache_fd, struct pg_flow_entry **out);

/* Sums one flow's entry; returns 0, or -ENOENT if the flow is unknown. */
int pg_flow_get(int flows_fd, int cache_fd, const struct pg_flow_key *key,
		struct pg_flow *sum);

#endif /* PG_FLOWS_H */
