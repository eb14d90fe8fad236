// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flows.h"

static void flow_add(struct pg_flow *sum, const struct pg_flow *f)
{
	int i;

	if (!f->packets && !f->first_ns)
		return;
	sum->packets += f->packets;
	sum->bytes += f->bytes;
	if (f->first_ns && (!sum->first_ns || f->first_ns < sum->first_ns))
		sum->first_ns = f->first_ns;
	if (f->last_ns > sum->last_ns) {
		sum->last_ns = f->last_ns;
		sum->spi = f->spi;
	}
	for (i = 0; i < PG_V_MAX; i++)
		sum->drops[i] += f->drops[i];
}

static int entry_find(struct pg_flow_entry *e, size_t n, const struct pg_flow_key *k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(&e[i].key, k, sizeof(*k)))
			return i;
	return -1;
}

static int entries_grow(struct pg_flow_entry **e, size_t *cap, size_t n)
{
	struct pg_flow_entry *ne;

	if (n < *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 64;
	ne = realloc(*e, *cap * sizeof(**e));
	if (!ne)
		return -ENOMEM;
	*e = ne;
	return 0;
}

/* Folds the per-CPU caches into the collected entries. */
static int caches_merge(int cache_fd, int ncpus, struct pg_flow_entry **e, size_t *n,
			size_t *cap)
{
	struct pg_flow_cache *c = calloc(ncpus, sizeof(*c));
	__u32 dir;
	int cpu, i, err = 0;

	if (!c)
		return -ENOMEM;
	for (dir = 0; dir < 2 && !err; dir++) {
		if (bpf_map_lookup_elem(cache_fd, &dir, c))
			continue;
		for (cpu = 0; cpu < ncpus && !err; cpu++) {
			if (!c[cpu].valid)
				continue;
			i = entry_find(*e, *n, &c[cpu].key);
			if (i < 0) {
				err = entries_grow(e, cap, *n);
				if (err)
					break;
				i = (*n)++;
				memset(&(*e)[i], 0, sizeof((*e)[i]));
				(*e)[i].key = c[cpu].key;
			}
			flow_add(&(*e)[i].flow, &c[cpu].flow);
		}
	}
	free(c);
	return err;
}

int pg_flows_collect(int flows_fd, int cache_fd, struct pg_flow_entry **out)
{
	int ncpus = libbpf_num_possible_cpus(), cpu, err = 0;
	struct pg_flow_key key, next, *prev = NULL;
	struct pg_flow_entry *e = NULL;
	size_t n = 0, cap = 0;
	struct pg_flow *vals;

	if (ncpus <= 0)
		return -EINVAL;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;

	while (!bpf_map_get_next_key(flows_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(flows_fd, &key, vals))
			continue;	/* evicted meanwhile */
		err = entries_grow(&e, &cap, n);
		if (err)
			goto out;
		memset(&e[n], 0, sizeof(e[n]));
		e[n].key = key;
		for (cpu = 0; cpu < ncpus; cpu++)
			flow_add(&e[n].flow, &vals[cpu]);
		n++;
	}
	if (cache_fd >= 0)
		err = caches_merge(cache_fd, ncpus, &e, &n, &cap);
out:
	free(vals);
	if (err) {
		free(e);
		return err;
	}
	*out = e;
	return n;
}

int pg_flow_get(int flows_fd, int cache_fd, const struct pg_flow_key *key,
		struct pg_flow *sum)
{
	struct pg_flow_entry *e;
	int n, i;

	n = pg_flows_collect(flows_fd, cache_fd, &e);
	if (n < 0)
		return n;
	i = entry_find(e, n, key);
	if (i >= 0)
		*sum = e[i].flow;
	free(e);
	return i >= 0 ? 0 : -ENOENT;
}
