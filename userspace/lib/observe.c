// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reading pg_flows, pg_srcs and the counters into snapshots, and the helpers
 * the observe*.c subcommands share.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "netdev.h"
#include "observe.h"
#include "parse.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define BATCH		256
#define NS_PER_SEC	1000000000ULL

static const char *const verdict_names[] = {
	[PG_V_VERIFIED] = "verified",
	[PG_V_EXEMPT] = "exempt",
	[PG_V_UNPAIRED] = "unpaired",
	[PG_V_BAD_TAG] = "bad_tag",
	[PG_V_REPLAY] = "replay",
	[PG_V_TOO_OLD] = "too_old",
	[PG_V_MALFORMED] = "malformed",
	[PG_V_UNVERIFIABLE] = "unverifiable",
	[PG_V_TAGGED] = "tagged",
	[PG_V_UNTAGGABLE] = "untaggable",
};
_Static_assert(ARRAY_SIZE(verdict_names) == PG_V_MAX, "a verdict has no name");

volatile sig_atomic_t pg_obs_stop;

const char *pg_verdict_name(__u32 verdict)
{
	return verdict < PG_V_MAX ? verdict_names[verdict] : "?";
}

/* The verdicts the XDP program drops on, the ones it can sample. */
static bool is_drop_reason(__u32 v)
{
	return v >= PG_V_UNPAIRED && v <= PG_V_UNVERIFIABLE;
}

int pg_drop_reason_parse(const char *s, __u32 *verdict)
{
	__u32 v;

	for (v = 0; v < PG_V_MAX; v++) {
		if (is_drop_reason(v) && !strcmp(s, verdict_names[v])) {
			*verdict = v;
			return 0;
		}
	}
	pg_err("unknown drop reason '%s': use unpaired, bad_tag, replay, too_old, malformed "
	       "or unverifiable", pg_arg(s));
	return -EINVAL;
}

/* ---- time and text ---- */

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

__u64 pg_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

__u64 pg_wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

const char *pg_obs_time(__u64 wall_ns, bool usec, char *buf, size_t len)
{
	time_t sec = wall_ns / NS_PER_SEC;
	struct tm tm;
	size_t n;

	gmtime_r(&sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (usec)
		snprintf(buf + n, len - n, ".%06lluZ",
			 (unsigned long long)(wall_ns % NS_PER_SEC / 1000));
	else
		snprintf(buf + n, len - n, "Z");
	return buf;
}

const char *pg_obs_dur(__u64 ns, char *buf, size_t len)
{
	unsigned long long s = ns / NS_PER_SEC;

	if (s < 60)
		snprintf(buf, len, "%llus", s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%llud%02lluh", s / 86400, s / 3600 % 24);
	return buf;
}

const char *pg_obs_proto(__u8 proto, char *buf, size_t len)
{
	const char *name = pg_proto_name(proto);

	if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%u", proto);
	return buf;
}

const char *pg_obs_addr(__u8 family, const __u8 *addr, char *buf, size_t len)
{
	if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

/* ---- options ---- */

int pg_obs_uint(const char *opt, const char *s, unsigned long min, unsigned long max,
		unsigned long *val)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || v < min || v > max) {
		pg_err("invalid %s '%s': use a whole number from %lu to %lu", opt, pg_arg(s),
		       min, max);
		return -EINVAL;
	}
	*val = v;
	return 0;
}

static void on_signal(int sig)
{
	pg_obs_stop = 1;
}

void pg_obs_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* no SA_RESTART: poll() and nanosleep() return early, with EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* ---- opening the pins ---- */

int pg_obs_map(const struct pg_obs *o, const char *name)
{
	char path[PATH_MAX];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", o->st.dir, name);
	fd = bpf_obj_get(path);
	if (fd >= 0)
		return fd;
	err = -errno;
	pg_err("opening %s: %s; this pairgate.bpf.o has no %s, detach and attach %s with "
	       "the current build", path, strerror(-err), name, o->st.ifname);
	return err;
}

int pg_obs_open(struct pg_obs *o, const char *ifname)
{
	char path[PATH_MAX];
	int err;

	o->flows_fd = -1;
	o->srcs_fd = -1;
	o->cache_fd = -1;
	pg_state_init(&o->st, ifname);
	if (pg_parse_ifname(ifname))
		return -EINVAL;
	if (!pg_state_exists(&o->st) && pg_ifindex(ifname) < 0)
		return -ENODEV;
	err = pg_state_open(&o->st);
	if (err)
		return err;
	o->flows_fd = pg_obs_map(o, "pg_flows");
	if (o->flows_fd < 0)
		return o->flows_fd;
	o->srcs_fd = pg_obs_map(o, "pg_srcs");
	if (o->srcs_fd < 0)
		return o->srcs_fd;
	snprintf(path, sizeof(path), "%s/pg_flow_cache", o->st.dir);
	o->cache_fd = bpf_obj_get(path);	/* older objects have none */
	return 0;
}

void pg_obs_close(struct pg_obs *o)
{
	if (o->flows_fd >= 0)
		close(o->flows_fd);
	if (o->srcs_fd >= 0)
		close(o->srcs_fd);
	if (o->cache_fd >= 0)
		close(o->cache_fd);
	o->flows_fd = -1;
	o->srcs_fd = -1;
	o->cache_fd = -1;
	pg_state_close(&o->st);
}

/* ---- per-CPU hash maps ---- */

/* How one map's entries are laid out, and how its per-CPU values fold into one. */
struct dump_spec {
	const char *map;
	size_t key_size;
	size_t val_size;
	size_t ent_size;
	size_t val_off;		/* of the folded value inside an entry */
	void (*fold)(void *dst, const void *vals, int ncpu, size_t stride);
};

struct dump {
	const struct dump_spec *spec;
	int ncpu;
	size_t stride;		/* per-CPU values are 8-byte aligned */
	void *keys;
	void *vals;
	char *ents;
	size_t n;
	size_t cap;
};

static void fold_flow(void *dst, const void *vals, int ncpu, size_t stride)
{
	struct pg_flow *d = dst;
	int c, v;

	memset(d, 0, sizeof(*d));
	for (c = 0; c < ncpu; c++) {
		const struct pg_flow *f = vals + c * stride;

		d->packets += f->packets;
		d->bytes += f->bytes;
		for (v = 0; v < PG_V_MAX; v++)
			d->drops[v] += f->drops[v];
		if (f->first_ns && (!d->first_ns || f->first_ns < d->first_ns))
			d->first_ns = f->first_ns;
		if (f->packets && f->last_ns >= d->last_ns) {
			d->last_ns = f->last_ns;
			d->spi = f->spi;
		}
	}
}

static void fold_src(void *dst, const void *vals, int ncpu, size_t stride)
{
	struct pg_src *d = dst;
	int c;

	memset(d, 0, sizeof(*d));
	for (c = 0; c < ncpu; c++) {
		const struct pg_src *s = vals + c * stride;

		d->packets += s->packets;
		d->bytes += s->bytes;
		if (s->first_ns && (!d->first_ns || s->first_ns < d->first_ns))
			d->first_ns = s->first_ns;
		if (s->packets && s->last_ns >= d->last_ns) {
			d->last_ns = s->last_ns;
			d->reason = s->reason;
		}
	}
}

static const struct dump_spec flows_spec = {
	.map = "pg_flows",
	.key_size = sizeof(struct pg_flow_key),
	.val_size = sizeof(struct pg_flow),
	.ent_size = sizeof(struct pg_flow_entry),
	.val_off = offsetof(struct pg_flow_entry, val),
	.fold = fold_flow,
};

static const struct dump_spec srcs_spec = {
	.map = "pg_srcs",
	.key_size = sizeof(struct pg_src_key),
	.val_size = sizeof(struct pg_src),
	.ent_size = sizeof(struct pg_src_entry),
	.val_off = offsetof(struct pg_src_entry, val),
	.fold = fold_src,
};

static int dump_grow(struct dump *d, size_t more)
{
	size_t cap = d->cap ? d->cap : BATCH;
	char *p;

	while (cap < d->n + more)
		cap *= 2;
	if (cap == d->cap)
		return 0;
	p = realloc(d->ents, cap * d->spec->ent_size);
	if (!p)
		return -ENOMEM;
	d->ents = p;
	d->cap = cap;
	return 0;
}

static int dump_add(struct dump *d, __u32 count)
{
	const struct dump_spec *sp = d->spec;
	char *ent;
	__u32 i;

	if (dump_grow(d, count))
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		ent = d->ents + d->n++ * sp->ent_size;
		memset(ent, 0, sp->ent_size);
		memcpy(ent, (char *)d->keys + i * sp->key_size, sp->key_size);
		sp->fold(ent + sp->val_off, (char *)d->vals + i * d->ncpu * d->stride, d->ncpu,
			 d->stride);
	}
	return 0;
}

/*
 * Batched lookups walk the hash table bucket by bucket, so entries that the
 * LRU evicts or adds meanwhile never make the walk start over.
 */
static int dump_run(struct dump *d, int fd)
{
	__u32 token = 0, count;
	bool first = true;
	int err;

	for (;;) {
		count = BATCH;
		err = bpf_map_lookup_batch(fd, first ? NULL : &token, &token, d->keys, d->vals,
					   &count, NULL);
		err = err ? -errno : 0;
		if (err && err != -ENOENT)
			return err;
		if (dump_add(d, count))
			return -ENOMEM;
		if (err == -ENOENT)
			return 0;
		first = false;
	}
}

static int dump_map(int fd, const struct dump_spec *sp, void **out, size_t *n)
{
	struct dump d = { .spec = sp };
	int err = -ENOMEM;

	d.ncpu = libbpf_num_possible_cpus();
	if (d.ncpu <= 0) {
		pg_err("counting possible CPUs: %s", strerror(-d.ncpu));
		return d.ncpu;
	}
	d.stride = (sp->val_size + 7) & ~(size_t)7;
	d.keys = calloc(BATCH, sp->key_size);
	d.vals = calloc((size_t)BATCH * d.ncpu, d.stride);
	if (d.keys && d.vals)
		err = dump_run(&d, fd);
	free(d.keys);
	free(d.vals);
	if (err) {
		pg_err("reading %s: %s", sp->map, strerror(-err));
		free(d.ents);
		return err;
	}
	*out = d.ents;
	*n = d.n;
	return 0;
}

int pg_flows_read(int fd, struct pg_flow_entry **flows, size_t *n)
{
	return dump_map(fd, &flows_spec, (void **)flows, n);
}

int pg_srcs_read(int fd, struct pg_src_entry **srcs, size_t *n)
{
	return dump_map(fd, &srcs_spec, (void **)srcs, n);
}

/* Folds one CPU's cached flow into its entry, or appends it. */
static int cache_merge(const struct pg_flow_cache *c, struct pg_flow_entry **flows, size_t *n)
{
	struct pg_flow_entry *e = NULL, *p;
	struct pg_flow both[2];
	size_t i;

	for (i = 0; i < *n && !e; i++)
		if (!memcmp(&(*flows)[i].key, &c->key, sizeof(c->key)))
			e = &(*flows)[i];
	if (!e) {
		p = realloc(*flows, (*n + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*flows = p;
		e = &p[(*n)++];
		memset(e, 0, sizeof(*e));
		e->key = c->key;
	}
	both[0] = e->val;
	both[1] = c->flow;
	fold_flow(&e->val, both, 2, sizeof(both[0]));
	return 0;
}

int pg_flows_add_cache(int fd, struct pg_flow_entry **flows, size_t *n)
{
	int ncpu = libbpf_num_possible_cpus(), c, err = 0;
	size_t stride = (sizeof(struct pg_flow_cache) + 7) & ~(size_t)7;
	char *vals;
	__u32 dir;

	if (ncpu <= 0)
		return ncpu;
	vals = calloc(ncpu, stride);
	if (!vals)
		return -ENOMEM;
	for (dir = 0; !err && dir < 2; dir++) {
		if (bpf_map_lookup_elem(fd, &dir, vals)) {
			err = -errno;
			pg_err("reading pg_flow_cache: %s", strerror(-err));
			break;
		}
		for (c = 0; !err && c < ncpu; c++) {
			const struct pg_flow_cache *fc = (void *)(vals + c * stride);

			if (fc->valid)
				err = cache_merge(fc, flows, n);
		}
	}
	free(vals);
	return err;
}

int pg_snap_read(const struct pg_obs *o, struct pg_snap *s)
{
	__u32 v;
	int err = 0;

	memset(s, 0, sizeof(*s));
	s->mono_ns = pg_mono_ns();
	for (v = 0; !err && v < PG_V_MAX; v++)
		err = pg_counter_sum(o->st.fd[PG_MAP_STATS], v, &s->verdict[v]);
	if (!err)
		err = pg_flows_read(o->flows_fd, &s->flows, &s->n_flows);
	if (!err && o->cache_fd >= 0)
		err = pg_flows_add_cache(o->cache_fd, &s->flows, &s->n_flows);
	if (!err)
		err = pg_srcs_read(o->srcs_fd, &s->srcs, &s->n_srcs);
	if (!err)
		err = pg_sa_list(&o->st, &s->sas, &s->n_sas);
	if (err)
		pg_snap_free(s);
	return err;
}

void pg_snap_free(struct pg_snap *s)
{
	free(s->flows);
	free(s->srcs);
	free(s->sas);
	s->flows = NULL;
	s->srcs = NULL;
	s->sas = NULL;
	s->n_flows = s->n_srcs = s->n_sas = 0;
}

__u64 pg_flow_drops(const struct pg_flow *f)
{
	__u64 sum = 0;
	int v;

	for (v = 0; v < PG_V_MAX; v++)
		sum += f->drops[v];
	return sum;
}
