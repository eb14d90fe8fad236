// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pairgate drops: the packets the XDP program drops, sampled through the
 * pg_drop_rb ring buffer, written as pcapng with the reason as each packet's
 * comment and/or printed one line each; or, with --log, key=value summaries
 * of who is being dropped, from the growth of pg_srcs.
 *
 * Sampling runs only while pg_config.drop_sample_until_ns is ahead of the
 * clock; we push it 3 s ahead every second and set it to 0 when done, so a
 * killed reader stops the sampling within 3 s by itself.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "observe.h"
#include "parse.h"

#define NS_PER_SEC		1000000000ULL
#define SAMPLE_AHEAD_NS		(3 * NS_PER_SEC)
#define CONSUME_MS		50
#define DEFAULT_LOG_INTERVAL	10
#define DEFAULT_LOG_LINES	20
#define LINE_MAX_LEN		256

struct drops_args {
	const char *ifname;
	const char *file;		/* -w; "-" is stdout */
	unsigned long count;		/* -c; 0: no limit */
	unsigned long timeout;		/* seconds; 0: none */
	unsigned long rate;		/* samples per second and CPU; 0: the default */
	__u32 mask;			/* bit per reason; 0: every drop */
	bool print;
	bool log;
	unsigned long interval;		/* --log */
	unsigned long iterations;	/* --log; 0: until a signal */
	unsigned long lines;		/* --log */
};

struct capture {
	const struct drops_args *a;
	FILE *pcap;
	FILE *text;			/* --print lines */
	__u64 start_mono;
	__u64 wall_off;			/* CLOCK_REALTIME - CLOCK_MONOTONIC at start */
	unsigned long n;
	int err;
};

/* ---- sampling control in pg_config ---- */

/* Read-modify-write of pg_config under the interface's lock, held briefly. */
static int sample_set(struct pg_obs *o, __u64 until, __u32 mask, __u32 rate)
{
	struct pg_config cfg;
	__u32 zero = 0;
	int err;

	err = pg_state_lock(&o->st, false);
	if (err == -ENOENT)
		pg_err("%s was detached; stopping", o->st.ifname);
	if (err)
		return err;
	err = pg_state_config(&o->st, &cfg);
	if (!err) {
		cfg.drop_sample_until_ns = until;
		cfg.drop_reason_mask = mask;
		cfg.drop_sample_per_sec = rate;
		if (bpf_map_update_elem(o->st.fd[PG_MAP_CONFIG], &zero, &cfg, BPF_EXIST)) {
			err = -errno;
			pg_err("updating pg_config of %s: %s", o->st.ifname, strerror(-err));
		}
	}
	close(o->st.lock_fd);
	o->st.lock_fd = -1;
	return err;
}

/* ---- one line per packet ---- */

static size_t ports_str(const __u8 *l4, const __u8 *end, __u8 proto, char *buf, size_t len)
{
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP)
		return 0;
	if (l4 + 4 > end)
		return 0;
	return snprintf(buf, len, " sport=%u dport=%u", l4[0] << 8 | l4[1], l4[2] << 8 | l4[3]);
}

/* "proto=udp sport=.. dport=..", or for a shim "proto=shim spi=.. seq=.. inner=udp ..." */
static void l4_str(const __u8 *l4, const __u8 *end, __u8 proto, char *buf, size_t len)
{
	const struct pg_shim *sh = (const void *)l4;
	char name[8];
	size_t n;

	if (proto != PG_IPPROTO_SHIM || l4 + PG_SHIM_LEN > end) {
		n = snprintf(buf, len, "proto=%s", pg_obs_proto(proto, name, sizeof(name)));
		ports_str(l4, end, proto, buf + n, len - n);
		return;
	}
	n = snprintf(buf, len, "proto=shim spi=0x%08x seq=%llu inner=%s", ntohl(sh->spi),
		     (unsigned long long)be64toh(sh->seq),
		     pg_obs_proto(sh->next_proto, name, sizeof(name)));
	ports_str(l4 + PG_SHIM_LEN, end, sh->next_proto, buf + n, len - n);
}

/* "<src> > <dst> proto=..." of an Ethernet frame's first bytes. */
static void frame_str(const __u8 *p, __u32 cap, char *buf, size_t len)
{
	const __u8 *end = p + cap, *ip = p + ETH_HLEN;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], l4[96];
	__u16 type = cap >= ETH_HLEN ? p[12] << 8 | p[13] : 0;

	if ((type == ETH_P_8021Q || type == ETH_P_8021AD) && ip + 4 <= end) {
		type = ip[2] << 8 | ip[3];
		ip += 4;
	}
	if (type == ETH_P_IP && ip + 20 <= end) {
		l4_str(ip + (ip[0] & 0x0f) * 4, end, ip[9], l4, sizeof(l4));
		snprintf(buf, len, "%s > %s %s", pg_obs_addr(4, ip + 12, src, sizeof(src)),
			 pg_obs_addr(4, ip + 16, dst, sizeof(dst)), l4);
	} else if (type == ETH_P_IPV6 && ip + 40 <= end) {
		l4_str(ip + 40, end, ip[6], l4, sizeof(l4));
		snprintf(buf, len, "%s > %s %s", pg_obs_addr(6, ip + 8, src, sizeof(src)),
			 pg_obs_addr(6, ip + 24, dst, sizeof(dst)), l4);
	} else {
		snprintf(buf, len, "? > ? ethertype=0x%04x", type);
	}
}

/* ---- capture ---- */

static int on_sample(void *ctx, void *data, size_t size)
{
	const struct pg_drop_event *ev = data;
	struct capture *c = ctx;
	char when[40], what[LINE_MAX_LEN], note[32];
	__u32 cap;
	__u64 wall;

	if (size < sizeof(*ev) || ev->ts_ns < c->start_mono || c->err)
		return 0;	/* short, or left over from an earlier reader */
	if (c->a->count && c->n >= c->a->count)
		return 0;
	if (c->a->mask && (ev->reason >= 32 || !(c->a->mask & 1U << ev->reason)))
		return 0;
	cap = ev->cap_len < PG_DROP_SNAPLEN ? ev->cap_len : PG_DROP_SNAPLEN;
	wall = ev->ts_ns + c->wall_off;
	snprintf(note, sizeof(note), "reason=%s", pg_verdict_name(ev->reason));
	if (c->pcap) {
		c->err = pg_pcapng_packet(c->pcap, wall, ev->data, cap, ev->pkt_len, note);
		if (!c->err && fflush(c->pcap))
			c->err = -errno;
	}
	if (c->text) {
		frame_str(ev->data, cap, what, sizeof(what));
		fprintf(c->text, "%s %s len=%u %s\n", pg_obs_time(wall, true, when, sizeof(when)),
			note, ev->pkt_len, what);
		fflush(c->text);
	}
	c->n++;
	return 0;
}

static bool capture_done(const struct capture *c, __u64 deadline)
{
	if (pg_obs_stop || c->err)
		return true;
	if (c->a->count && c->n >= c->a->count)
		return true;
	return deadline && pg_mono_ns() >= deadline;
}

/*
 * The program submits without waking us (BPF_RB_NO_WAKEUP keeps the
 * drop path cheap under a flood), so the ring is polled on a timer.
 */
static int capture_loop(struct pg_obs *o, struct capture *c, struct ring_buffer *rb)
{
	const struct drops_args *a = c->a;
	__u64 deadline = a->timeout ? c->start_mono + a->timeout * NS_PER_SEC : 0;
	__u64 now, refresh = 0;
	int err = 0;

	while (!capture_done(c, deadline)) {
		now = pg_mono_ns();
		if (now >= refresh) {
			err = sample_set(o, now + SAMPLE_AHEAD_NS, a->mask, a->rate);
			if (err)
				break;
			refresh = now + NS_PER_SEC;
		}
		if (ring_buffer__consume(rb) < 0)
			break;
		poll(NULL, 0, CONSUME_MS);
	}
	/* stop sampling, then take what is already in the ring */
	if (sample_set(o, 0, 0, 0) && !err)
		err = -EIO;
	ring_buffer__consume(rb);
	return err;
}

static int capture_open_file(const struct drops_args *a, struct capture *c)
{
	if (!a->file)
		return 0;
	c->pcap = strcmp(a->file, "-") ? fopen(a->file, "wb") : stdout;
	if (!c->pcap) {
		pg_err("opening %s for writing: %s", a->file, strerror(errno));
		return -errno;
	}
	if (pg_pcapng_begin(c->pcap, a->ifname, PG_DROP_SNAPLEN) || fflush(c->pcap)) {
		pg_err("writing %s: %s", a->file, strerror(errno ? errno : EIO));
		return -EIO;
	}
	return 0;
}

static int capture(const struct drops_args *a, struct pg_obs *o)
{
	struct capture c = { .a = a };
	struct ring_buffer *rb = NULL;
	int fd, err;

	fd = pg_obs_map(o, "pg_drop_rb");
	if (fd < 0)
		return fd;
	c.text = a->print ? (a->file && !strcmp(a->file, "-") ? stderr : stdout) : NULL;
	err = capture_open_file(a, &c);
	if (err)
		goto out;
	c.start_mono = pg_mono_ns();
	c.wall_off = pg_wall_ns() - c.start_mono;
	rb = ring_buffer__new(fd, on_sample, &c, NULL);
	if (!rb) {
		err = -errno;
		pg_err("opening the drop ring buffer of %s: %s", a->ifname, strerror(-err));
		goto out;
	}
	err = capture_loop(o, &c, rb);
	if (c.err && !err) {
		err = c.err;
		pg_err("writing %s: %s", a->file, strerror(-err));
	}
	if (!err)
		fprintf(stderr, "pairgate: %s: %lu dropped packet%s captured%s%s\n", a->ifname,
			c.n, c.n == 1 ? "" : "s", a->file ? " to " : "", a->file ? a->file : "");
out:
	ring_buffer__free(rb);
	if (c.pcap && c.pcap != stdout)
		fclose(c.pcap);
	close(fd);
	return err;
}

/* ---- the drop log ---- */

struct pg_droplog {
	char ifname[IFNAMSIZ];
	unsigned int max_lines;
	FILE *out;
	bool have_base;
	__u64 base_ns;
	struct pg_src_entry *prev;	/* sorted by key */
	size_t n_prev;
};

struct growth {
	const struct pg_src_entry *e;
	__u64 count;
};

struct pg_droplog *pg_droplog_new(const char *ifname, unsigned int max_lines, FILE *out)
{
	struct pg_droplog *dl = calloc(1, sizeof(*dl));

	if (!dl)
		return NULL;
	snprintf(dl->ifname, sizeof(dl->ifname), "%s", ifname);
	dl->max_lines = max_lines;
	dl->out = out;
	return dl;
}

void pg_droplog_free(struct pg_droplog *dl)
{
	if (!dl)
		return;
	free(dl->prev);
	free(dl);
}

static int src_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct pg_src_key));
}

static int growth_cmp(const void *pa, const void *pb)
{
	const struct growth *a = pa, *b = pb;

	return a->count < b->count ? 1 : a->count > b->count ? -1 : 0;
}

static void log_line(const struct pg_droplog *dl, const struct growth *g, const char *ts,
		     unsigned long long secs)
{
	const struct pg_src_key *k = &g->e->key;
	char src[INET6_ADDRSTRLEN], proto[8], port[16] = "";

	if (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP || k->proto == IPPROTO_SCTP)
		snprintf(port, sizeof(port), " dport=%u", ntohs(k->dport));
	fprintf(dl->out, "ts=%s event=drops iface=%s reason=%s src=%s proto=%s%s count=%llu "
		"interval=%llus\n", ts, dl->ifname, pg_verdict_name(g->e->val.reason),
		pg_obs_addr(k->family, k->saddr, src, sizeof(src)),
		pg_obs_proto(k->proto, proto, sizeof(proto)), port,
		(unsigned long long)g->count, secs);
}

/* Growth of each source since the last feed, biggest first; *n of them. */
static struct growth *growth_of(const struct pg_droplog *dl, const struct pg_src_entry *srcs,
				size_t n_srcs, size_t *n)
{
	struct growth *g = calloc(n_srcs ? n_srcs : 1, sizeof(*g));
	const struct pg_src_entry *old;
	__u64 before;
	size_t i;

	if (!g)
		return NULL;
	*n = 0;
	for (i = 0; i < n_srcs; i++) {
		old = bsearch(&srcs[i], dl->prev, dl->n_prev, sizeof(*old), src_key_cmp);
		before = old ? old->val.packets : 0;
		if (srcs[i].val.packets == before)
			continue;
		g[*n].e = &srcs[i];
		g[*n].count = srcs[i].val.packets - before;
		/* fewer than before: the LRU evicted it and it came back */
		if (srcs[i].val.packets < before)
			g[*n].count = srcs[i].val.packets;
		(*n)++;
	}
	qsort(g, *n, sizeof(*g), growth_cmp);
	return g;
}

static void log_growth(const struct pg_droplog *dl, const struct growth *g, size_t n,
		       __u64 mono_ns)
{
	unsigned long long secs = (mono_ns - dl->base_ns + NS_PER_SEC / 2) / NS_PER_SEC;
	__u64 rest = 0;
	char ts[32];
	size_t i;

	pg_obs_time(pg_wall_ns(), false, ts, sizeof(ts));
	for (i = 0; i < n && i < dl->max_lines; i++)
		log_line(dl, &g[i], ts, secs);
	for (; i < n; i++)
		rest += g[i].count;
	if (n > dl->max_lines)
		fprintf(dl->out, "ts=%s event=drops_suppressed iface=%s lines=%zu count=%llu "
			"interval=%llus\n", ts, dl->ifname, n - dl->max_lines,
			(unsigned long long)rest, secs);
	fflush(dl->out);
}

static int keep_base(struct pg_droplog *dl, const struct pg_src_entry *srcs, size_t n,
		     __u64 mono_ns)
{
	struct pg_src_entry *copy = malloc((n ? n : 1) * sizeof(*copy));

	if (!copy)
		return -ENOMEM;
	memcpy(copy, srcs, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), src_key_cmp);
	free(dl->prev);
	dl->prev = copy;
	dl->n_prev = n;
	dl->base_ns = mono_ns;
	dl->have_base = true;
	return 0;
}

int pg_droplog_feed(struct pg_droplog *dl, const struct pg_src_entry *srcs, size_t n,
		    __u64 mono_ns)
{
	struct growth *g;
	size_t ng;

	if (dl->have_base) {
		g = growth_of(dl, srcs, n, &ng);
		if (!g)
			return -ENOMEM;
		log_growth(dl, g, ng, mono_ns);
		free(g);
	}
	return keep_base(dl, srcs, n, mono_ns);
}

int pg_droplog_tick(struct pg_droplog *dl, int srcs_fd)
{
	struct pg_src_entry *srcs;
	__u64 now = pg_mono_ns();
	size_t n;
	int err;

	err = pg_srcs_read(srcs_fd, &srcs, &n);
	if (err)
		return err;
	err = pg_droplog_feed(dl, srcs, n, now);
	free(srcs);
	return err;
}

/* Sleeps until deadline; false when a signal cut it short. */
static bool sleep_until(__u64 deadline)
{
	__u64 now;

	while (!pg_obs_stop) {
		now = pg_mono_ns();
		if (now >= deadline)
			return true;
		poll(NULL, 0, (deadline - now + 999999) / 1000000);
	}
	return false;
}

static int drop_log(const struct drops_args *a, struct pg_obs *o)
{
	struct pg_droplog *dl = pg_droplog_new(a->ifname, a->lines, stderr);
	unsigned long done = 0;
	__u64 next;
	int err;

	if (!dl) {
		pg_err("drops --log: out of memory");
		return -ENOMEM;
	}
	next = pg_mono_ns();
	err = pg_droplog_tick(dl, o->srcs_fd);
	while (!err && (!a->iterations || done < a->iterations)) {
		next += a->interval * NS_PER_SEC;
		if (!sleep_until(next))
			break;
		err = pg_droplog_tick(dl, o->srcs_fd);
		done++;
	}
	pg_droplog_free(dl);
	return err;
}

/* ---- arguments ---- */

static int parse_reasons(const char *list, __u32 *mask)
{
	char *copy = strdup(list), *tok, *save = NULL;
	__u32 v;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save)) {
		err = pg_drop_reason_parse(tok, &v);
		if (!err)
			*mask |= 1U << v;
	}
	free(copy);
	return err;
}

/* Options that take a number; the table keeps parse_drops_opt short. */
static int number_opt(int argc, char **argv, int *i, struct drops_args *a)
{
	static const struct {
		const char *name;
		size_t off;
		unsigned long min, max;
	} nums[] = {
		{ "-c", offsetof(struct drops_args, count), 1, 100000000 },
		{ "--timeout", offsetof(struct drops_args, timeout), 1, 31536000 },
		{ "--rate", offsetof(struct drops_args, rate), 1, 1000000 },
		{ "--interval", offsetof(struct drops_args, interval), 1, 86400 },
		{ "--iterations", offsetof(struct drops_args, iterations), 1, 1000000000 },
		{ "--lines", offsetof(struct drops_args, lines), 1, 100000 },
	};
	const char *val;
	size_t k;
	int r;

	for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
		r = pg_opt_value(argc, argv, i, nums[k].name, &val);
		if (r < 0)
			return -EINVAL;
		if (r > 0)
			return pg_obs_uint(nums[k].name, val, nums[k].min, nums[k].max,
					   (unsigned long *)((char *)a + nums[k].off)) ? -EINVAL : 1;
	}
	return 0;
}

static int parse_drops_opt(int argc, char **argv, int *i, struct drops_args *a)
{
	const char *val;
	int r;

	if (!strcmp(argv[*i], "--print")) {
		a->print = true;
		return 0;
	}
	if (!strcmp(argv[*i], "--log")) {
		a->log = true;
		return 0;
	}
	r = number_opt(argc, argv, i, a);
	if (r)
		return r < 0 ? r : 0;
	r = pg_opt_value(argc, argv, i, "-w", &val);
	if (r > 0) {
		a->file = val;
		return 0;
	}
	if (!r)
		r = pg_opt_value(argc, argv, i, "--reason", &val);
	if (r > 0)
		return parse_reasons(val, &a->mask);
	if (!r)
		pg_err("unknown option '%s' for drops; see pairgate help", pg_arg(argv[*i]));
	return -EINVAL;
}

static int check_drops_args(const struct drops_args *a)
{
	if (a->log && (a->file || a->print || a->count || a->timeout || a->mask)) {
		pg_err("drops --log summarises pg_srcs; it takes only --interval, --iterations "
		       "and --lines");
		return -EINVAL;
	}
	if (!a->log && (a->iterations || a->lines || a->interval)) {
		pg_err("--interval, --iterations and --lines go with drops --log");
		return -EINVAL;
	}
	if (!a->log && !a->file && !a->print) {
		pg_err("drops needs -w FILE, --print or --log; see pairgate help");
		return -EINVAL;
	}
	return 0;
}

static int parse_drops(int argc, char **argv, struct drops_args *a)
{
	int i;

	if (argc < 2 || argv[1][0] == '-') {
		pg_err("drops needs an interface: drops IFACE -w FILE [-c COUNT] "
		       "[--reason REASON[,...]] [--print] [--timeout SECONDS]");
		return -EINVAL;
	}
	a->ifname = argv[1];
	for (i = 2; i < argc; i++)
		if (parse_drops_opt(argc, argv, &i, a))
			return -EINVAL;
	if (check_drops_args(a))
		return -EINVAL;
	if (!a->interval)
		a->interval = DEFAULT_LOG_INTERVAL;
	if (!a->lines)
		a->lines = DEFAULT_LOG_LINES;
	return 0;
}

int pg_cmd_drops(int argc, char **argv)
{
	struct drops_args a = {};
	struct pg_obs o;
	int err;

	if (parse_drops(argc, argv, &a))
		return 1;
	err = pg_obs_open(&o, a.ifname);
	if (!err) {
		pg_obs_catch_signals();
		err = a.log ? drop_log(&a, &o) : capture(&a, &o);
	}
	pg_obs_close(&o);
	return err ? 1 : 0;
}
