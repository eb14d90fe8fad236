// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cost per packet of pairgate's programs and of the baselines in
 * bpf/bench.bpf.c, through BPF_PROG_TEST_RUN, plus libsodium's SipHash in
 * userspace over the same bytes. Prints markdown for docs/performance.md.
 *
 * Two ways of timing, never mixed inside one ratio:
 *
 *   loop    one test-run call with repeat = R; the kernel runs the program R
 *           times on the same buffer and reports the mean. Only valid for
 *           paths that neither change the packet nor the SA state: drops.
 *   single  repeat = 1, one call per packet over N different packets; the
 *           value is the median of the N reported durations. Needed for the
 *           verified path (each sequence number is accepted once, and the
 *           shim is stripped in place) and for the tagger (it grows the skb).
 *
 * Every case checks its verdict and pairgate's own counters before its
 * numbers count, so a mis-set SA cannot pass for a fast path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sodium.h>

#include "pairgate.h"
#include "pgtag.h"
#include "pairgate.skel.h"
#include "bench.skel.h"
#include "bench_noflows.skel.h"

#define FRAME_MAX	2048
#define MAX_REPS	32
#define SPI_IN		0x00000101
#define SPI_OUT		0x00000202
#define SPI_UNKNOWN	0x0000dead
#define SEQ_FORGED	(1ULL << 40)	/* far ahead: forged frames always reach the hash */

static const uint8_t key_in[PG_KEY_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
static const uint8_t key_out[PG_KEY_LEN] = {
	0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
	0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f };

/* 198.18.0.1 (the peer) sends to 198.18.0.2 (us); 198.18.0.9 is unknown. */
static const uint8_t addr_peer[4] = { 198, 18, 0, 1 };
static const uint8_t addr_self[4] = { 198, 18, 0, 2 };
static const uint8_t addr_stranger[4] = { 198, 18, 0, 9 };

/* One build of pairgate's programs and the maps the bench touches. */
struct dp {
	const char *suffix;		/* appended to row names; NULL for the real build */
	struct bpf_program *xdp, *tc;
	struct bpf_map *sa_in, *sa_out, *config, *stats, *spi_filter;
	uint64_t out_seq;		/* sequence numbers its tagger has used */
};

struct bench {
	struct pairgate_bpf *pg;
	struct bench_noflows_bpf *nf;
	struct dp dps[2], *cur;		/* the full build, the one without observability */
	struct bench_bpf *bb;
	int reps, single_n, loop_n, ncpu;
	uint64_t next_seq;		/* next unused sequence number of SPI_IN */
};

struct frame {
	uint8_t d[FRAME_MAX];
	uint32_t len;
};

/* A named measurement: one value per repetition, its median. */
struct row {
	const char *name;
	const char *mode;
	int size;
	double v[MAX_REPS];
	double med, min, max;
};

static struct row rows[64];
static int nrows;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A row name for the data plane being measured: base, plus its suffix. */
static const char *nm(const struct bench *b, const char *base)
{
	char *s;

	if (!b->cur->suffix)
		return base;
	if (asprintf(&s, "%s%s", base, b->cur->suffix) < 0)
		exit(1);
	return s;
}

static struct row *row_add(const char *name, const char *mode, int size)
{
	struct row *r = &rows[nrows++];

	r->name = name;
	r->mode = mode;
	r->size = size;
	return r;
}

static void row_finish(struct row *r, int reps)
{
	double tmp[MAX_REPS];

	memcpy(tmp, r->v, reps * sizeof(double));
	r->med = median(tmp, reps);
	r->min = tmp[0];
	r->max = tmp[reps - 1];
}

static struct row *row_find(const char *name, const char *mode, int size)
{
	int i;

	for (i = 0; i < nrows; i++)
		if (!strcmp(rows[i].name, name) && !strcmp(rows[i].mode, mode) &&
		    rows[i].size == size)
			return &rows[i];
	return NULL;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "prog_bench: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

/* ---- frames ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void eth_fill(uint8_t *p, uint16_t proto)
{
	static const uint8_t mac[12] = { 0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01 };

	memcpy(p, mac, sizeof(mac));
	put16(p + 12, proto);
}

/* A plain IPv4/UDP frame of exactly len bytes (len >= 42). */
static void frame_plain(struct frame *f, uint32_t len, const uint8_t *src,
			const uint8_t *dst, uint32_t salt)
{
	uint8_t *ip = f->d + ETH_HLEN, *udp = ip + 20;
	uint32_t ip_len = len - ETH_HLEN, i;
	uint16_t csum;

	memset(f->d, 0, len);
	eth_fill(f->d, ETH_P_IP);
	ip[0] = 0x45;
	put16(ip + 2, ip_len);
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	csum = pg_ip_checksum(ip, 20);
	memcpy(ip + 10, &csum, 2);
	put16(udp, 40000);
	put16(udp + 2, 5201);
	put16(udp + 4, ip_len - 20);
	for (i = 8; i < ip_len - 20; i++)
		udp[i] = (uint8_t)(i * 7 + salt);
	f->len = len;
}

/* A tagged frame of exactly len bytes (>= 66) on SPI_IN with seq; bad breaks its tag. */
static void frame_tagged(struct frame *f, uint32_t len, uint64_t seq, uint32_t spi, bool bad)
{
	struct frame plain;
	ssize_t n;

	frame_plain(&plain, len - PG_SHIM_LEN, addr_peer, addr_self, (uint32_t)seq);
	n = pg_tag_insert(key_in, spi, seq, plain.d + ETH_HLEN, plain.len - ETH_HLEN,
			  f->d + ETH_HLEN, sizeof(f->d) - ETH_HLEN);
	if (n < 0)
		die("pg_tag_insert: %s", strerror((int)-n));
	eth_fill(f->d, ETH_P_IP);
	f->len = ETH_HLEN + n;
	if (bad)
		f->d[ETH_HLEN + 20 + 16] ^= 0x01;
}

/* 64 bytes: IPv4 with a shim naming an SPI nobody configured, 6 bytes of L4. */
static void frame_unknown_spi(struct frame *f)
{
	uint8_t *ip = f->d + ETH_HLEN, *sh = ip + 20;
	uint16_t csum;

	memset(f->d, 0, 64);
	eth_fill(f->d, ETH_P_IP);
	ip[0] = 0x45;
	put16(ip + 2, 64 - ETH_HLEN);
	ip[8] = 64;
	ip[9] = PG_IPPROTO_SHIM;
	memcpy(ip + 12, addr_stranger, 4);
	memcpy(ip + 16, addr_self, 4);
	csum = pg_ip_checksum(ip, 20);
	memcpy(ip + 10, &csum, 2);
	sh[0] = IPPROTO_UDP;
	sh[1] = PG_SHIM_VERSION << PG_VER_SHIFT;
	sh[7] = SPI_UNKNOWN & 0xff;
	sh[6] = SPI_UNKNOWN >> 8;
	sh[15] = 1;
	f->len = 64;
}

/* ---- maps ---- */

static uint64_t verdict_count(struct bench *b, uint32_t verdict)
{
	struct pg_counter c[b->ncpu];
	uint64_t sum = 0;
	int i;

	if (bpf_map__lookup_elem(b->cur->stats, &verdict, sizeof(verdict), c,
				 sizeof(c), 0))
		die("reading pg_stats: %s", strerror(errno));
	for (i = 0; i < b->ncpu; i++)
		sum += c[i].packets;
	return sum;
}

/* The SAs of the data plane b->cur: SPI_IN from the peer, SPI_OUT to it. */
static void sa_setup(struct bench *b)
{
	struct pg_sa_in in = { .slot = 0 };
	struct pg_sa_out out = { .spi = SPI_OUT, .slot = PG_MAX_SA };
	struct pg_config cfg = { .egress_ifindex = 1 };
	struct pg_addr dst = { .family = 4 };
	uint32_t spi = SPI_IN, zero = 0;

	memcpy(in.key, key_in, PG_KEY_LEN);
	in.peer.family = 4;
	memcpy(in.peer.addr, addr_peer, 4);
	memcpy(out.key, key_out, PG_KEY_LEN);
	memcpy(dst.addr, addr_peer, 4);

	/* as the CLI does: the SPI goes into the filter before the SA */
	static struct pg_spi_filter filter;

	filter.words[(spi / 64) % (PG_SPI_FILTER_BITS / 64)] |= 1ULL << (spi % 64);
	if (bpf_map__update_elem(b->cur->spi_filter, &zero, sizeof(zero), &filter,
				 sizeof(filter), 0) ||
	    bpf_map__update_elem(b->cur->sa_in, &spi, sizeof(spi), &in, sizeof(in), 0) ||
	    bpf_map__update_elem(b->cur->sa_out, &dst, sizeof(dst), &out, sizeof(out), 0) ||
	    bpf_map__update_elem(b->cur->config, &zero, sizeof(zero), &cfg, sizeof(cfg), 0))
		die("setting up the SAs: %s", strerror(errno));
}

static void base_setup(struct bench *b)
{
	uint32_t allow_val = 1, i;
	__be32 a;

	/* the baseline allowlist: the peer plus 99 others, never the stranger */
	for (i = 0; i < 100; i++) {
		a = htonl(0xc6120001 + i * 0x100);	/* 198.18.0.1, 198.18.1.1, ... */
		if (bpf_map__update_elem(b->bb->maps.bench_allow, &a, sizeof(a), &allow_val,
					 sizeof(allow_val), 0))
			die("filling bench_allow: %s", strerror(errno));
	}
	memcpy(b->bb->bss->bench_key, key_in, PG_KEY_LEN);
	b->next_seq = 1;
}

/* ---- timing ---- */

static uint32_t test_run(int fd, const struct frame *f, int repeat, uint32_t *retval,
			 struct frame *out)
{
	static struct frame sink;
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = f->d,
		.data_size_in = f->len,
		.data_out = out ? out->d : sink.d,
		.data_size_out = sizeof(sink.d),
		.repeat = repeat,
	);

	if (bpf_prog_test_run_opts(fd, &opts))
		die("BPF_PROG_TEST_RUN: %s", strerror(errno));
	*retval = opts.retval;
	if (out)
		out->len = opts.data_size_out;
	return opts.duration;
}

/* The mean of the middle 90% of d[0..n-1] (sorts d). */
static double trimmed_mean(double *d, int n)
{
	double m = 0;
	int i;

	qsort(d, n, sizeof(*d), cmp_double);
	for (i = n / 20; i < n - n / 20; i++)
		m += d[i];
	return m / (n - 2 * (n / 20));
}

/*
 * single mode: repeat = 1 over n frames. The kernel reports each duration in
 * whole ns from two ktime reads, which on this kind of VM comes in steps of
 * 10 ns, so the value is the mean of the middle 90% (interrupts trimmed).
 */
static double time_single(const char *name, int fd, struct frame *fs, int n, uint32_t want)
{
	double *d = calloc(n, sizeof(*d)), m;
	uint32_t ret;
	int i;

	if (!d)
		die("%s", "out of memory");
	for (i = 0; i < n; i++) {
		d[i] = test_run(fd, &fs[i], 1, &ret, NULL);
		if (ret != want) {
			fprintf(stderr, "prog_bench: %s: frame %d: verdict %u, expected %u\n",
				name, i, ret, want);
			exit(1);
		}
	}
	m = trimmed_mean(d, n);
	free(d);
	return m;
}

static void expect_count(struct bench *b, const char *name, uint32_t verdict,
			 uint64_t before, uint64_t runs)
{
	uint64_t got = verdict_count(b, verdict) - before;

	if (got != runs) {
		fprintf(stderr, "prog_bench: %s: verdict counter %u moved by %llu, expected %llu\n",
			name, verdict, (unsigned long long)got, (unsigned long long)runs);
		exit(1);
	}
}

/* ---- the cases ---- */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/*
 * libsodium over the message pairgate hashes for a tagged frame of size
 * bytes, laid out in one buffer: ns per hash over a ~10 ms timed loop.
 */
static double libsodium_once(int size)
{
	static uint8_t msg[FRAME_MAX], sink;
	size_t len = PG_PSEUDO4_LEN + PG_SHIM_TAGGED_LEN + (size - ETH_HLEN - 20 - PG_SHIM_LEN);
	int k, iters = 10000000 / (len + 64);
	uint8_t out[8];
	double t;

	for (k = 0; k < (int)len; k++)
		msg[k] = (uint8_t)(k * 13);
	t = now_ns();
	for (k = 0; k < iters; k++) {
		msg[0] = (uint8_t)k;
		crypto_shorthash_siphash24(out, msg, len, key_in);
		sink ^= out[0];
	}
	return (now_ns() - t) / iters;
}

static const int sizes[] = { 66, 512, 1514 };
#define NSIZES ((int)(sizeof(sizes) / sizeof(sizes[0])))

/*
 * Loop-mode cases are collected first and then run repetition by repetition,
 * each repetition going once through all cases, so that a slow spell of the
 * machine (a shared VM) hits every case alike instead of one case's reps.
 */
struct lcase {
	struct row *r;
	int fd;
	struct frame f;
	uint32_t want;
	struct dp *dp;		/* whose verdict counter to check, or NULL */
	uint32_t verdict;
	__u64 *match;		/* a baseline's tag-match counter to check, or NULL */
};

static struct lcase lcases[48];
static int nlcases;

static struct lcase *lcase_add(struct row *r, int fd, uint32_t want)
{
	struct lcase *c = &lcases[nlcases++];

	c->r = r;
	c->fd = fd;
	c->want = want;
	return c;
}

static void lcases_run(struct bench *b)
{
	uint64_t before = 0, match = 0;
	struct lcase *c;
	struct dp *cur = b->cur;
	uint32_t ret;
	int i, j;

	for (j = 0; j < b->reps; j++) {
		for (i = 0; i < nlcases; i++) {
			c = &lcases[i];
			b->cur = c->dp ? c->dp : cur;
			if (c->dp)
				before = verdict_count(b, c->verdict);
			if (c->match)
				match = *c->match;
			c->r->v[j] = test_run(c->fd, &c->f, b->loop_n, &ret, NULL);
			if (ret != c->want) {
				fprintf(stderr, "prog_bench: %s: verdict %u, expected %u\n",
					c->r->name, ret, c->want);
				exit(1);
			}
			if (c->dp)
				expect_count(b, c->r->name, c->verdict, before, b->loop_n);
			if (c->match && *c->match - match != (uint64_t)b->loop_n)
				die("%s: the baseline disagrees with pg_tag_insert on the tag",
				    c->r->name);
		}
	}
	for (i = 0; i < nlcases; i++)
		row_finish(lcases[i].r, b->reps);
	b->cur = cur;
}

/* Baselines timed in loop mode: nothing here changes the packet. */
static void base_loop_cases(struct bench *b)
{
	int sip = bpf_program__fd(b->bb->progs.bench_xdp_siphash);
	int allow = bpf_program__fd(b->bb->progs.bench_xdp_allow);
	struct lcase *c;
	int i;

	c = lcase_add(row_add("bare XDP_DROP", "loop", 64),
		      bpf_program__fd(b->bb->progs.bench_xdp_drop), XDP_DROP);
	frame_unknown_spi(&c->f);
	c = lcase_add(row_add("allowlist baseline, miss (drop)", "loop", 64), allow, XDP_DROP);
	frame_plain(&c->f, 64, addr_stranger, addr_self, 0);
	c = lcase_add(row_add("allowlist baseline, hit (pass)", "loop", 64), allow, XDP_PASS);
	frame_plain(&c->f, 64, addr_peer, addr_self, 0);

	for (i = 0; i < NSIZES; i++) {
		c = lcase_add(row_add("bare in-BPF SipHash (baseline)", "loop", sizes[i]), sip,
			      XDP_PASS);
		frame_tagged(&c->f, sizes[i], SEQ_FORGED, SPI_IN, false);
		c->match = &b->bb->bss->bench_tag_match;
	}
}

static struct lcase *pg_case(struct bench *b, const char *name, int size, uint32_t verdict)
{
	struct lcase *c = lcase_add(row_add(nm(b, name), "loop", size),
				    bpf_program__fd(b->cur->xdp), XDP_DROP);

	c->dp = b->cur;
	c->verdict = verdict;
	return c;
}

/* pairgate's drop paths in loop mode: unpaired, forged, replayed. */
static void pg_loop_cases(struct bench *b)
{
	struct lcase *c;
	uint32_t ret;
	int i;

	c = pg_case(b, "pairgate unpaired drop, shim with unknown SPI", 64, PG_V_UNPAIRED);
	frame_unknown_spi(&c->f);
	c = pg_case(b, "pairgate unpaired drop, plain UDP (no shim)", 64, PG_V_UNPAIRED);
	frame_plain(&c->f, 64, addr_stranger, addr_self, 0);
	for (i = 0; i < NSIZES; i++) {
		c = pg_case(b, "pairgate forged tag, known SPI (drop)", sizes[i], PG_V_BAD_TAG);
		frame_tagged(&c->f, sizes[i], SEQ_FORGED, SPI_IN, true);
	}

	/* a replay: accepted once here, then every repetition is a replay drop */
	c = pg_case(b, "pairgate replayed frame (drop)", sizes[0], PG_V_REPLAY);
	frame_tagged(&c->f, sizes[0], b->next_seq++, SPI_IN, false);
	test_run(c->fd, &c->f, 1, &ret, NULL);
	if (ret != XDP_PASS)
		die("%s", "a fresh tagged frame was not passed");
}

/* The first verified frame must come out exactly as pg_tag_strip() says. */
static void check_strip(struct bench *b, int size)
{
	int pg = bpf_program__fd(b->cur->xdp);
	struct frame in, out, want;
	uint32_t ret;
	ssize_t n;

	frame_tagged(&in, size, b->next_seq++, SPI_IN, false);
	test_run(pg, &in, 1, &ret, &out);
	n = pg_tag_strip(in.d + ETH_HLEN, in.len - ETH_HLEN, want.d + ETH_HLEN,
			 sizeof(want.d) - ETH_HLEN);
	memcpy(want.d, in.d, ETH_HLEN);
	if (ret != XDP_PASS || n < 0 || out.len != ETH_HLEN + n ||
	    memcmp(out.d, want.d, out.len))
		die("%s", "pg_xdp_ingress output differs from pg_tag_strip()");
}

/* One program of an interleaved single-mode run. */
struct sprog {
	struct row *r;
	int fd;
	uint32_t want;
	struct dp *dp;		/* whose verdict counter must move by n, or NULL */
	uint32_t verdict;
	double *d;
};

/*
 * Single mode, interleaved: frame k goes through every program before frame
 * k + 1 does, so a disturbance of the machine hits all of them alike and the
 * ratios between them stay sound. Fills repetition rep of each row.
 */
static void time_interleaved(struct bench *b, struct sprog *p, int np, struct frame *fs,
			     int rep)
{
	struct dp *cur = b->cur;
	uint64_t before[8];
	uint32_t ret;
	int i, k;

	for (i = 0; i < np; i++) {
		b->cur = p[i].dp ? p[i].dp : cur;
		before[i] = p[i].dp ? verdict_count(b, p[i].verdict) : 0;
	}
	for (k = 0; k < b->single_n; k++) {
		for (i = 0; i < np; i++) {
			p[i].d[k] = test_run(p[i].fd, &fs[k], 1, &ret, NULL);
			if (ret != p[i].want) {
				fprintf(stderr, "prog_bench: %s: frame %d: verdict %u, expected %u\n",
					p[i].r->name, k, ret, p[i].want);
				exit(1);
			}
		}
	}
	for (i = 0; i < np; i++) {
		b->cur = p[i].dp ? p[i].dp : cur;
		if (p[i].dp)
			expect_count(b, p[i].r->name, p[i].verdict, before[i], b->single_n);
		p[i].r->v[rep] = trimmed_mean(p[i].d, b->single_n);
	}
	b->cur = cur;
}

static struct sprog sprog_of(struct bench *b, struct dp *dp, const char *name, int size,
			     uint32_t want, uint32_t verdict)
{
	struct sprog p = { .want = want, .dp = dp, .verdict = verdict };

	b->cur = dp;
	p.r = row_add(nm(b, name), "single", size);
	p.fd = bpf_program__fd(dp->xdp);
	p.d = calloc(b->single_n, sizeof(double));
	if (!p.d)
		die("%s", "out of memory");
	return p;
}

/*
 * Single mode over distinct frames, both builds of pairgate side by side:
 * forged tags (sequence numbers ahead of the window, so they reach the
 * hash), then fresh frames through the bare SipHash and through pairgate,
 * each accepted exactly once by each build (their SAs are separate). The
 * libsodium loop runs once per repetition too, between them.
 */
static void bench_pg_single(struct bench *b, struct frame *fs)
{
	struct dp *d0 = &b->dps[0], *d1 = &b->dps[1];
	struct sprog forged[2], fresh[3];
	int i, j, k, n = b->single_n;
	struct row *rl;

	for (i = 0; i < NSIZES; i++) {
		b->cur = d0;
		check_strip(b, sizes[i]);
		b->cur = d1;
		check_strip(b, sizes[i]);

		fresh[0] = sprog_of(b, d0, "bare in-BPF SipHash (baseline)", sizes[i], XDP_PASS, 0);
		fresh[0].fd = bpf_program__fd(b->bb->progs.bench_xdp_siphash);
		fresh[0].dp = NULL;
		for (k = 0; k < 2; k++) {
			forged[k] = sprog_of(b, &b->dps[k], "pairgate forged tag, known SPI (drop)",
					     sizes[i], XDP_DROP, PG_V_BAD_TAG);
			fresh[k + 1] = sprog_of(b, &b->dps[k], "pairgate verified, stripped (pass)",
						sizes[i], XDP_PASS, PG_V_VERIFIED);
		}
		rl = row_add("libsodium crypto_shorthash_siphash24 (userspace)", "loop", sizes[i]);
		for (j = 0; j < b->reps; j++) {
			for (k = 0; k < n; k++)
				frame_tagged(&fs[k], sizes[i], SEQ_FORGED + k, SPI_IN, true);
			time_interleaved(b, forged, 2, fs, j);
			for (k = 0; k < n; k++)
				frame_tagged(&fs[k], sizes[i], b->next_seq++, SPI_IN, false);
			time_interleaved(b, fresh, 3, fs, j);
			rl->v[j] = libsodium_once(sizes[i]);
		}
		row_finish(rl, b->reps);
		for (k = 0; k < 3; k++) {
			row_finish(fresh[k].r, b->reps);
			free(fresh[k].d);
		}
		for (k = 0; k < 2; k++) {
			row_finish(forged[k].r, b->reps);
			free(forged[k].d);
		}
	}
	b->cur = d0;
}

/* Drops in single mode, to size the repeat=1 overhead and compare with loop mode. */
static void bench_single_drops(struct bench *b, struct frame *fs)
{
	struct row *r[3] = {
		row_add("bare XDP_DROP", "single", 64),
		row_add("allowlist baseline, miss (drop)", "single", 64),
		row_add("pairgate unpaired drop, shim with unknown SPI", "single", 64),
	};
	int fd[3] = {
		bpf_program__fd(b->bb->progs.bench_xdp_drop),
		bpf_program__fd(b->bb->progs.bench_xdp_allow),
		bpf_program__fd(b->cur->xdp),
	};
	int i, j, k;

	for (j = 0; j < b->reps; j++) {
		for (i = 0; i < 3; i++) {
			for (k = 0; k < b->single_n; k++) {
				if (i == 1)
					frame_plain(&fs[k], 64, addr_stranger, addr_self, k);
				else
					frame_unknown_spi(&fs[k]);
			}
			r[i]->v[j] = time_single(r[i]->name, fd[i], fs, b->single_n, XDP_DROP);
		}
	}
	for (i = 0; i < 3; i++)
		row_finish(r[i], b->reps);
}

/* Experiments: what the shim removal alone costs, two ways. */
static void bench_strip(struct bench *b, struct frame *fs)
{
	struct bpf_program *progs[2] = { b->bb->progs.bench_xdp_strip,
					 b->bb->progs.bench_xdp_strip_direct };
	static const char *const names[2] = {
		"experiment: strip only, xdp_load/store_bytes",
		"experiment: strip only, direct access + memmove",
	};
	int i, j, k, p;
	struct row *r;

	for (i = 0; i < NSIZES; i += 2) {
		for (k = 0; k < b->single_n; k++)
			frame_tagged(&fs[k], sizes[i], SEQ_FORGED + k, SPI_IN, false);
		for (p = 0; p < 2; p++) {
			r = row_add(names[p], "single", sizes[i]);
			for (j = 0; j < b->reps; j++)
				r->v[j] = time_single(r->name, bpf_program__fd(progs[p]), fs,
						      b->single_n, XDP_PASS);
			row_finish(r, b->reps);
		}
	}
}

/* The tagger's output must be what pg_tag_insert() makes of the same packet. */
static void check_tagger(struct bench *b, int fd, int size)
{
	struct frame in, out, want;
	uint64_t seq = b->cur->out_seq + 1;
	uint32_t ret;
	ssize_t n;

	frame_plain(&in, size - PG_SHIM_LEN, addr_self, addr_peer, 0);
	test_run(fd, &in, 1, &ret, &out);
	b->cur->out_seq++;
	n = pg_tag_insert(key_out, SPI_OUT, seq, in.d + ETH_HLEN, in.len - ETH_HLEN,
			  want.d, sizeof(want.d));
	if (ret != TC_ACT_REDIRECT || n < 0 || out.len != ETH_HLEN + n ||
	    memcmp(out.d + ETH_HLEN, want.d, n))
		die("%s", "pg_tc_tagger output differs from pg_tag_insert()");
}

static void bench_tagger(struct bench *b, struct frame *fs)
{
	int fd = bpf_program__fd(b->cur->tc), i, j, k;
	uint64_t before;
	struct row *r;

	for (i = 0; i < NSIZES; i += 2) {
		check_tagger(b, fd, sizes[i]);
		r = row_add(nm(b, "pairgate egress tagger (TC, redirect)"), "single", sizes[i]);
		for (k = 0; k < b->single_n; k++)
			frame_plain(&fs[k], sizes[i] - PG_SHIM_LEN, addr_self, addr_peer, k);
		for (j = 0; j < b->reps; j++) {
			before = verdict_count(b, PG_V_TAGGED);
			r->v[j] = time_single(r->name, fd, fs, b->single_n, TC_ACT_REDIRECT);
			expect_count(b, r->name, PG_V_TAGGED, before, b->single_n);
			b->cur->out_seq += b->single_n;
		}
		row_finish(r, b->reps);
	}
}


/* ---- report ---- */

/* What a repeat=1 call adds to a program: bare XDP_DROP single minus loop. */
static double single_overhead(void)
{
	const struct row *s = row_find("bare XDP_DROP", "single", 64);
	const struct row *l = row_find("bare XDP_DROP", "loop", 64);

	return s && l ? s->med - l->med : 0;
}

static void print_rows(const char *mode)
{
	bool single = !strcmp(mode, "single");
	double ovh = single_overhead();
	int i;

	printf("| case | frame B | median ns/pkt | min | max |%s\n",
	       single ? " minus test-run overhead |" : "");
	printf("|---|---:|---:|---:|---:|%s\n", single ? "---:|" : "");
	for (i = 0; i < nrows; i++) {
		if (strcmp(rows[i].mode, mode))
			continue;
		printf("| %s | %d | %.1f | %.1f | %.1f |", rows[i].name, rows[i].size,
		       rows[i].med, rows[i].min, rows[i].max);
		if (single)
			printf(" %.1f |", rows[i].med - ovh);
		putchar('\n');
	}
	putchar('\n');
}

/* num / den; a single-mode operand is taken minus the test-run overhead. */
static void ratio(const char *what, const char *target, double limit, bool le,
		  const struct row *num, const struct row *den)
{
	double a, b, x;

	if (!num || !den)
		return;
	a = num->med - (strcmp(num->mode, "single") ? 0 : single_overhead());
	b = den->med - (strcmp(den->mode, "single") ? 0 : single_overhead());
	x = a / b;
	printf("| %s | %.1f / %.1f | **%.2fx** | %s | %s |\n", what, a, b, x, target,
	       limit > 1e8 ? "" : (le ? x <= limit : x >= limit) ? "met" : "**missed**");
}

static void print_ratios(void)
{
	printf("| ratio | ns / ns | value | target | |\n");
	printf("|---|---:|---:|---|---|\n");
	ratio("unpaired drop / allowlist miss (loop)", "<= 1.2x", 1.2, true,
	      row_find("pairgate unpaired drop, shim with unknown SPI", "loop", 64),
	      row_find("allowlist baseline, miss (drop)", "loop", 64));
	ratio("unpaired drop / allowlist miss (single)", "<= 1.2x", 1.2, true,
	      row_find("pairgate unpaired drop, shim with unknown SPI", "single", 64),
	      row_find("allowlist baseline, miss (drop)", "single", 64));
	ratio("unpaired drop [PG_NO_FLOWS] / allowlist miss (loop)", "(info)", 1e9, true,
	      row_find("pairgate unpaired drop, shim with unknown SPI [PG_NO_FLOWS]", "loop", 64),
	      row_find("allowlist baseline, miss (drop)", "loop", 64));
	ratio("unpaired plain UDP / allowlist miss (loop)", "(info)", 1e9, true,
	      row_find("pairgate unpaired drop, plain UDP (no shim)", "loop", 64),
	      row_find("allowlist baseline, miss (drop)", "loop", 64));
	ratio("verified 1514 B / bare in-BPF SipHash 1514 B (single)", "<= 1.1x", 1.1, true,
	      row_find("pairgate verified, stripped (pass)", "single", 1514),
	      row_find("bare in-BPF SipHash (baseline)", "single", 1514));
	ratio("verified 1514 B [PG_NO_FLOWS] / bare in-BPF SipHash 1514 B (single)", "(info)",
	      1e9, true,
	      row_find("pairgate verified, stripped (pass) [PG_NO_FLOWS]", "single", 1514),
	      row_find("bare in-BPF SipHash (baseline)", "single", 1514));
	ratio("verified 1514 B / libsodium same bytes", "<= 2x", 2.0, true,
	      row_find("pairgate verified, stripped (pass)", "single", 1514),
	      row_find("libsodium crypto_shorthash_siphash24 (userspace)", "loop", 1514));
	ratio("forged 1514 B / bare in-BPF SipHash 1514 B (single)", "(info)", 1e9, true,
	      row_find("pairgate forged tag, known SPI (drop)", "single", 1514),
	      row_find("bare in-BPF SipHash (baseline)", "single", 1514));
	ratio("bare in-BPF SipHash (single) / libsodium, 1514 B", "(info)", 1e9, true,
	      row_find("bare in-BPF SipHash (baseline)", "single", 1514),
	      row_find("libsodium crypto_shorthash_siphash24 (userspace)", "loop", 1514));
	putchar('\n');
}

static void dps_fill(struct bench *b)
{
	b->dps[0] = (struct dp){
		.xdp = b->pg->progs.pg_xdp_ingress, .tc = b->pg->progs.pg_tc_tagger,
		.sa_in = b->pg->maps.pg_sa_in, .sa_out = b->pg->maps.pg_sa_out,
		.config = b->pg->maps.pg_config, .stats = b->pg->maps.pg_stats,
		.spi_filter = b->pg->maps.pg_spi_filter,
	};
	b->dps[1] = (struct dp){
		.suffix = " [PG_NO_FLOWS]",
		.xdp = b->nf->progs.pg_xdp_ingress, .tc = b->nf->progs.pg_tc_tagger,
		.sa_in = b->nf->maps.pg_sa_in, .sa_out = b->nf->maps.pg_sa_out,
		.config = b->nf->maps.pg_config, .stats = b->nf->maps.pg_stats,
		.spi_filter = b->nf->maps.pg_spi_filter,
	};
}

static void usage(void)
{
	fprintf(stderr, "Usage: prog_bench [--reps N] [--single N] [--loop N] [--cpu N]\n");
	exit(2);
}

static void options(int argc, char **argv, struct bench *b, int *cpu)
{
	static const struct option opts[] = {
		{ "reps", required_argument, NULL, 'r' },
		{ "single", required_argument, NULL, 's' },
		{ "loop", required_argument, NULL, 'l' },
		{ "cpu", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			b->reps = atoi(optarg);
		else if (c == 's')
			b->single_n = atoi(optarg);
		else if (c == 'l')
			b->loop_n = atoi(optarg);
		else if (c == 'c')
			*cpu = atoi(optarg);
		else
			usage();
	}
	if (b->reps < 1 || b->reps > MAX_REPS || b->single_n < 1 || b->loop_n < 1)
		usage();
}

int main(int argc, char **argv)
{
	struct bench b = { .reps = 7, .single_n = 5000, .loop_n = 20000 };
	int cpu = -1, d;
	struct frame *fs;
	cpu_set_t set;

	options(argc, argv, &b, &cpu);
	if (sodium_init() < 0)
		die("%s", "libsodium cannot start");
	if (cpu < 0)
		cpu = sysconf(_SC_NPROCESSORS_ONLN) - 1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("pinning to a CPU: %s", strerror(errno));

	b.ncpu = libbpf_num_possible_cpus();
	b.pg = pairgate_bpf__open_and_load();
	if (!b.pg)
		die("loading pairgate's programs: %s (root? verifier log above)", strerror(errno));
	b.nf = bench_noflows_bpf__open_and_load();
	if (!b.nf)
		die("loading pairgate without observability: %s", strerror(errno));
	b.bb = bench_bpf__open_and_load();
	if (!b.bb)
		die("loading the baselines: %s", strerror(errno));
	fs = calloc(b.single_n, sizeof(*fs));
	if (!fs)
		die("%s", "out of memory");
	dps_fill(&b);

	base_setup(&b);
	for (d = 0; d < 2; d++) {
		b.cur = &b.dps[d];
		sa_setup(&b);
	}
	b.cur = &b.dps[0];
	base_loop_cases(&b);
	for (d = 0; d < 2; d++) {
		b.cur = &b.dps[d];
		pg_loop_cases(&b);
	}
	b.cur = &b.dps[0];
	lcases_run(&b);
	bench_single_drops(&b, fs);
	bench_pg_single(&b, fs);
	for (d = 0; d < 2; d++) {
		b.cur = &b.dps[d];
		bench_tagger(&b, fs);
	}
	b.cur = &b.dps[0];
	bench_strip(&b, fs);

	printf("Pinned to CPU %d; %d repetitions; loop mode repeat=%d; single mode "
	       "%d packets per repetition.\n\n", cpu, b.reps, b.loop_n, b.single_n);
	printf("Loop mode: one test-run call per repetition, the program run `repeat` "
	       "times on one buffer, the kernel's mean (userspace rows: a timed loop). "
	       "Median, min and max over the repetitions.\n\n");
	print_rows("loop");
	printf("Single mode: repeat=1, one call per distinct packet; per repetition "
	       "the mean of the middle 90%% of the kernel-reported durations. Median, "
	       "min and max over the repetitions; the last column subtracts what a "
	       "repeat=1 call adds (bare XDP_DROP single minus loop).\n\n");
	print_rows("single");
	print_ratios();

	free(fs);
	bench_bpf__destroy(b.bb);
	bench_noflows_bpf__destroy(b.nf);
	pairgate_bpf__destroy(b.pg);
	return 0;
}
