// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pairgate flows: the paired flows of pg_flows and the dropped unpaired
 * sources of pg_srcs, as a table or as JSON.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "log.h"
#include "observe.h"
#include "parse.h"

#define DEFAULT_LIMIT	50
#define NS_PER_SEC	1000000000ULL

static const char *const sort_names[] = {
	[PG_SORT_PKTS] = "pkts",
	[PG_SORT_BYTES] = "bytes",
	[PG_SORT_DROPS] = "drops",
	[PG_SORT_LAST] = "last",
};

/* Descending: the biggest first. */
static int cmp_u64_desc(__u64 a, __u64 b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

static int flow_cmp(const void *pa, const void *pb, void *arg)
{
	const struct pg_flow *a = &((const struct pg_flow_entry *)pa)->val;
	const struct pg_flow *b = &((const struct pg_flow_entry *)pb)->val;
	enum pg_sort by = *(enum pg_sort *)arg;
	int r = 0;

	if (by == PG_SORT_BYTES)
		r = cmp_u64_desc(a->bytes, b->bytes);
	else if (by == PG_SORT_DROPS)
		r = cmp_u64_desc(pg_flow_drops(a), pg_flow_drops(b));
	else if (by == PG_SORT_LAST)
		r = cmp_u64_desc(a->last_ns, b->last_ns);
	return r ? r : cmp_u64_desc(a->packets, b->packets);
}

/* An unpaired source's packets are all drops. */
static int src_cmp(const void *pa, const void *pb, void *arg)
{
	const struct pg_src *a = &((const struct pg_src_entry *)pa)->val;
	const struct pg_src *b = &((const struct pg_src_entry *)pb)->val;
	enum pg_sort by = *(enum pg_sort *)arg;
	int r = 0;

	if (by == PG_SORT_BYTES)
		r = cmp_u64_desc(a->bytes, b->bytes);
	else if (by == PG_SORT_LAST)
		r = cmp_u64_desc(a->last_ns, b->last_ns);
	return r ? r : cmp_u64_desc(a->packets, b->packets);
}

void pg_flows_sort(struct pg_snap *s, enum pg_sort by)
{
	if (s->n_flows)
		qsort_r(s->flows, s->n_flows, sizeof(*s->flows), flow_cmp, &by);
	if (s->n_srcs)
		qsort_r(s->srcs, s->n_srcs, sizeof(*s->srcs), src_cmp, &by);
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static __u64 since(__u64 now, __u64 then)
{
	return then && now > then ? now - then : 0;
}

static const __u8 *flow_peer(const struct pg_flow_key *k)
{
	return k->dir == PG_DIR_IN ? k->saddr : k->daddr;
}

static bool has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

static const char *port_str(__u8 proto, __be16 port, char *buf, size_t len)
{
	if (has_ports(proto))
		snprintf(buf, len, "%u", ntohs(port));
	else
		snprintf(buf, len, "-");
	return buf;
}

/* "bad_tag=3 replay=1", or "-" without drops. */
static const char *drops_str(const struct pg_flow *f, char *buf, size_t len)
{
	size_t n = 0;
	int v;

	buf[0] = 0;
	for (v = 0; v < PG_V_MAX && n < len; v++) {
		if (f->drops[v])
			n += snprintf(buf + n, len - n, "%s%s=%u", n ? " " : "",
				      pg_verdict_name(v), f->drops[v]);
	}
	if (!buf[0])
		snprintf(buf, len, "-");
	return buf;
}

/* Width of the address column: the longest address shown, at least the title. */
static int flows_addr_width(const struct pg_snap *s, size_t n)
{
	char a[INET6_ADDRSTRLEN];
	int w = 4, l;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct pg_flow_key *k = &s->flows[i].key;

		l = strlen(pg_obs_addr(k->family, flow_peer(k), a, sizeof(a)));
		w = l > w ? l : w;
	}
	return w;
}

static int srcs_addr_width(const struct pg_snap *s, size_t n)
{
	char a[INET6_ADDRSTRLEN];
	int w = 6, l;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct pg_src_key *k = &s->srcs[i].key;

		l = strlen(pg_obs_addr(k->family, k->saddr, a, sizeof(a)));
		w = l > w ? l : w;
	}
	return w;
}

static void print_flow(FILE *f, const struct pg_flow_entry *e, __u64 now, int aw)
{
	char peer[INET6_ADDRSTRLEN], proto[8], sp[8], dp[8], age[16], idle[16], drops[160];
	const struct pg_flow_key *k = &e->key;
	const struct pg_flow *v = &e->val;

	fprintf(f, "%-3s  %-*s  %-6s %5s %5s  0x%08x %10llu %12llu %7s %7s  %s\n",
		k->dir == PG_DIR_IN ? "in" : "out", aw,
		pg_obs_addr(k->family, flow_peer(k), peer, sizeof(peer)),
		pg_obs_proto(k->proto, proto, sizeof(proto)),
		port_str(k->proto, k->sport, sp, sizeof(sp)),
		port_str(k->proto, k->dport, dp, sizeof(dp)), v->spi,
		(unsigned long long)v->packets, (unsigned long long)v->bytes,
		pg_obs_dur(since(now, v->first_ns), age, sizeof(age)),
		pg_obs_dur(since(now, v->last_ns), idle, sizeof(idle)),
		drops_str(v, drops, sizeof(drops)));
}

static void print_src(FILE *f, const struct pg_src_entry *e, __u64 now, int aw)
{
	char src[INET6_ADDRSTRLEN], proto[8], dp[8], age[16], idle[16];
	const struct pg_src_key *k = &e->key;
	const struct pg_src *v = &e->val;

	fprintf(f, "%-*s  %-6s %5s %10llu %12llu  %-12s %7s %7s\n", aw,
		pg_obs_addr(k->family, k->saddr, src, sizeof(src)),
		pg_obs_proto(k->proto, proto, sizeof(proto)),
		port_str(k->proto, k->dport, dp, sizeof(dp)),
		(unsigned long long)v->packets, (unsigned long long)v->bytes,
		pg_verdict_name(v->reason),
		pg_obs_dur(since(now, v->first_ns), age, sizeof(age)),
		pg_obs_dur(since(now, v->last_ns), idle, sizeof(idle)));
}

void pg_flows_print(FILE *f, const struct pg_snap *s, size_t limit, const char *by)
{
	size_t i, nf = min_size(s->n_flows, limit), ns = min_size(s->n_srcs, limit);
	int aw;

	fprintf(f, "paired flows (%zu of %zu, by %s)\n", nf, s->n_flows, by);
	aw = flows_addr_width(s, nf);
	fprintf(f, "%-3s  %-*s  %-6s %5s %5s  %-10s %10s %12s %7s %7s  %s\n", "dir", aw, "peer",
		"proto", "sport", "dport", "spi", "packets", "bytes", "age", "idle", "drops");
	for (i = 0; i < nf; i++)
		print_flow(f, &s->flows[i], s->mono_ns, aw);

	fprintf(f, "\nunpaired sources, dropped (%zu of %zu, by %s)\n", ns, s->n_srcs, by);
	aw = srcs_addr_width(s, ns);
	fprintf(f, "%-*s  %-6s %5s %10s %12s  %-12s %7s %7s\n", aw, "source", "proto", "dport",
		"packets", "bytes", "last reason", "age", "idle");
	for (i = 0; i < ns; i++)
		print_src(f, &s->srcs[i], s->mono_ns, aw);
}

static double secs(__u64 ns)
{
	return (double)ns / NS_PER_SEC;
}

static void json_flow(FILE *f, const struct pg_flow_entry *e, __u64 now)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], proto[8];
	const struct pg_flow_key *k = &e->key;
	const struct pg_flow *v = &e->val;
	bool first = true;
	int i;

	pg_obs_addr(k->family, k->saddr, src, sizeof(src));
	pg_obs_addr(k->family, k->daddr, dst, sizeof(dst));
	fprintf(f, "{\"dir\":\"%s\",\"peer\":\"%s\",\"src\":\"%s\",\"dst\":\"%s\","
		"\"proto\":\"%s\",\"sport\":%u,\"dport\":%u,\"spi\":%u,\"packets\":%llu,"
		"\"bytes\":%llu,\"drops\":{", k->dir == PG_DIR_IN ? "in" : "out",
		k->dir == PG_DIR_IN ? src : dst, src, dst,
		pg_obs_proto(k->proto, proto, sizeof(proto)), ntohs(k->sport), ntohs(k->dport),
		v->spi, (unsigned long long)v->packets, (unsigned long long)v->bytes);
	for (i = 0; i < PG_V_MAX; i++) {
		if (!v->drops[i])
			continue;
		fprintf(f, "%s\"%s\":%u", first ? "" : ",", pg_verdict_name(i), v->drops[i]);
		first = false;
	}
	fprintf(f, "},\"age_s\":%.3f,\"idle_s\":%.3f}", secs(since(now, v->first_ns)),
		secs(since(now, v->last_ns)));
}

static void json_src(FILE *f, const struct pg_src_entry *e, __u64 now)
{
	char src[INET6_ADDRSTRLEN], proto[8];
	const struct pg_src_key *k = &e->key;
	const struct pg_src *v = &e->val;

	fprintf(f, "{\"src\":\"%s\",\"proto\":\"%s\",\"dport\":%u,\"packets\":%llu,"
		"\"bytes\":%llu,\"reason\":\"%s\",\"age_s\":%.3f,\"idle_s\":%.3f}",
		pg_obs_addr(k->family, k->saddr, src, sizeof(src)),
		pg_obs_proto(k->proto, proto, sizeof(proto)), ntohs(k->dport),
		(unsigned long long)v->packets, (unsigned long long)v->bytes,
		pg_verdict_name(v->reason), secs(since(now, v->first_ns)),
		secs(since(now, v->last_ns)));
}

void pg_flows_json(FILE *f, const struct pg_snap *s, size_t limit)
{
	size_t i, nf = min_size(s->n_flows, limit), ns = min_size(s->n_srcs, limit);

	fprintf(f, "{\"paired\":[");
	for (i = 0; i < nf; i++) {
		fprintf(f, "%s\n  ", i ? "," : "");
		json_flow(f, &s->flows[i], s->mono_ns);
	}
	fprintf(f, "%s],\"unpaired\":[", nf ? "\n" : "");
	for (i = 0; i < ns; i++) {
		fprintf(f, "%s\n  ", i ? "," : "");
		json_src(f, &s->srcs[i], s->mono_ns);
	}
	fprintf(f, "%s]}\n", ns ? "\n" : "");
}

/* ---- the command ---- */

struct flows_args {
	const char *ifname;
	bool json;
	enum pg_sort sort;
	unsigned long limit;
};

static int parse_sort(const char *s, enum pg_sort *by)
{
	size_t i;

	for (i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++) {
		if (!strcmp(s, sort_names[i])) {
			*by = i;
			return 0;
		}
	}
	pg_err("invalid --sort '%s': use pkts, bytes, drops or last", pg_arg(s));
	return -EINVAL;
}

static int parse_flows_opt(int argc, char **argv, int *i, struct flows_args *a)
{
	const char *val;
	int r;

	if (!strcmp(argv[*i], "--json")) {
		a->json = true;
		return 0;
	}
	r = pg_opt_value(argc, argv, i, "--sort", &val);
	if (r > 0)
		return parse_sort(val, &a->sort);
	if (!r)
		r = pg_opt_value(argc, argv, i, "--limit", &val);
	if (r > 0)
		return pg_obs_uint("--limit", val, 1, 1000000, &a->limit);
	if (!r)
		pg_err("unknown option '%s' for flows: use --json, --sort or --limit",
		       pg_arg(argv[*i]));
	return -EINVAL;
}

static int parse_flows(int argc, char **argv, struct flows_args *a)
{
	int i;

	if (argc < 2 || argv[1][0] == '-') {
		pg_err("flows needs an interface: flows IFACE [--json] "
		       "[--sort pkts|bytes|drops|last] [--limit N]");
		return -EINVAL;
	}
	a->ifname = argv[1];
	a->limit = DEFAULT_LIMIT;
	for (i = 2; i < argc; i++)
		if (parse_flows_opt(argc, argv, &i, a))
			return -EINVAL;
	return 0;
}

int pg_cmd_flows(int argc, char **argv)
{
	struct flows_args a = { .sort = PG_SORT_PKTS };
	struct pg_snap s;
	struct pg_obs o;
	int err;

	if (parse_flows(argc, argv, &a))
		return 1;
	err = pg_obs_open(&o, a.ifname);
	if (!err)
		err = pg_snap_read(&o, &s);
	pg_obs_close(&o);
	if (err)
		return 1;
	pg_flows_sort(&s, a.sort);
	if (a.json)
		pg_flows_json(stdout, &s, a.limit);
	else
		pg_flows_print(stdout, &s, a.limit, sort_names[a.sort]);
	pg_snap_free(&s);
	return 0;
}
