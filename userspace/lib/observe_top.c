// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pairgate top: rates per verdict and the busiest flows and sources, from
 * the difference of two snapshots a second apart. On a terminal the screen is
 * redrawn and q or Ctrl-C quits (stdin in raw mode, restored on every exit);
 * otherwise one plain block per second is printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "log.h"
#include "observe.h"
#include "parse.h"

#define NS_PER_SEC	1000000000ULL
#define DEFAULT_ROWS	10

struct top_args {
	const char *ifname;
	unsigned long iterations;	/* 0: until q, Ctrl-C or a signal */
	unsigned long rows;
};

struct term {
	bool tty_in;
	bool tty_out;
	bool raw;
	struct termios saved;
};

/* One row of a rate table: an entry of the newer snapshot and its rates. */
struct rate {
	const void *ent;
	double pps;
	double bps;
};

/* ---- terminal ---- */

static void term_setup(struct term *t)
{
	struct termios raw;

	t->tty_in = isatty(STDIN_FILENO);
	t->tty_out = isatty(STDOUT_FILENO);
	t->raw = false;
	if (!t->tty_in || tcgetattr(STDIN_FILENO, &t->saved))
		return;
	/* keys one by one, unechoed; Ctrl-C arrives as a byte, not as SIGINT */
	raw = t->saved;
	raw.c_lflag &= ~(ICANON | ECHO | ISIG);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	t->raw = !tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
}

static void term_restore(struct term *t)
{
	if (t->raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t->saved);
	t->raw = false;
}

/* Sleeps until deadline; true when the user or a signal asked to quit. */
static bool wait_quit(const struct term *t, __u64 deadline)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	__u64 now;
	char c;

	while (!pg_obs_stop) {
		now = pg_mono_ns();
		if (now >= deadline)
			return false;
		if (poll(&p, t->tty_in, (deadline - now + 999999) / 1000000) <= 0)
			continue;
		if (read(STDIN_FILENO, &c, 1) != 1)
			return true;	/* the terminal went away */
		if (c == 'q' || c == 'Q' || c == 3 || c == 4)
			return true;
	}
	return true;
}

/* ---- rates ---- */

static int flow_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct pg_flow_key));
}

static int src_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct pg_src_key));
}

static int rate_cmp(const void *pa, const void *pb)
{
	const struct rate *a = pa, *b = pb;

	if (a->pps != b->pps)
		return a->pps < b->pps ? 1 : -1;
	return a->bps < b->bps ? 1 : a->bps > b->bps ? -1 : 0;
}

/* Growth of a counter; an entry the LRU dropped and made again starts over. */
static __u64 grown(__u64 now, __u64 before)
{
	return now >= before ? now - before : now;
}

/* Rates of the flows that moved; prev's flows must be sorted by key. */
static size_t flow_rates(const struct pg_snap *prev, const struct pg_snap *cur, double dt,
			 struct rate *out)
{
	const struct pg_flow_entry *e, *old;
	__u64 dp, db;
	size_t i, n = 0;

	for (i = 0; i < cur->n_flows; i++) {
		e = &cur->flows[i];
		old = bsearch(e, prev->flows, prev->n_flows, sizeof(*old), flow_key_cmp);
		dp = grown(e->val.packets, old ? old->val.packets : 0);
		db = grown(e->val.bytes, old ? old->val.bytes : 0);
		if (!dp)
			continue;
		out[n++] = (struct rate){ e, dp / dt, db * 8 / dt };
	}
	qsort(out, n, sizeof(*out), rate_cmp);
	return n;
}

static size_t src_rates(const struct pg_snap *prev, const struct pg_snap *cur, double dt,
			struct rate *out)
{
	const struct pg_src_entry *e, *old;
	__u64 dp, db;
	size_t i, n = 0;

	for (i = 0; i < cur->n_srcs; i++) {
		e = &cur->srcs[i];
		old = bsearch(e, prev->srcs, prev->n_srcs, sizeof(*old), src_key_cmp);
		dp = grown(e->val.packets, old ? old->val.packets : 0);
		db = grown(e->val.bytes, old ? old->val.bytes : 0);
		if (!dp)
			continue;
		out[n++] = (struct rate){ e, dp / dt, db * 8 / dt };
	}
	qsort(out, n, sizeof(*out), rate_cmp);
	return n;
}

/* ---- drawing ---- */

/* 950, 1.23k, 45.6M... */
static const char *si(double v, char *buf, size_t len)
{
	static const char prefix[] = "kMGTP";
	int i = -1;

	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.2f%c", v, prefix[i]);
	return buf;
}

static void draw_verdicts(FILE *f, const struct pg_snap *prev, const struct pg_snap *cur,
			  double dt)
{
	char pps[16], bps[16];
	__u32 v;

	fprintf(f, "%-13s %10s %10s\n", "verdict", "pkt/s", "bit/s");
	for (v = 0; v < PG_V_MAX; v++) {
		__u64 dp = grown(cur->verdict[v].packets, prev->verdict[v].packets);
		__u64 db = grown(cur->verdict[v].bytes, prev->verdict[v].bytes);

		fprintf(f, "%-13s %10s %10s\n", pg_verdict_name(v), si(dp / dt, pps, sizeof(pps)),
			si(db * 8 / dt, bps, sizeof(bps)));
	}
}

static void draw_flows(FILE *f, const struct rate *r, size_t n, size_t total, size_t rows)
{
	char peer[INET6_ADDRSTRLEN], proto[8], pps[16], bps[16];
	size_t i;

	fprintf(f, "\npaired flows by rate (%zu moving of %zu)\n", n, total);
	fprintf(f, "%-3s  %-39s  %-6s %5s %5s  %-10s %10s %10s\n", "dir", "peer", "proto",
		"sport", "dport", "spi", "pkt/s", "bit/s");
	for (i = 0; i < n && i < rows; i++) {
		const struct pg_flow_entry *e = r[i].ent;
		const struct pg_flow_key *k = &e->key;

		fprintf(f, "%-3s  %-39s  %-6s %5u %5u  0x%08x %10s %10s\n",
			k->dir == PG_DIR_IN ? "in" : "out",
			pg_obs_addr(k->family, k->dir == PG_DIR_IN ? k->saddr : k->daddr, peer,
				    sizeof(peer)),
			pg_obs_proto(k->proto, proto, sizeof(proto)), ntohs(k->sport),
			ntohs(k->dport), e->val.spi, si(r[i].pps, pps, sizeof(pps)),
			si(r[i].bps, bps, sizeof(bps)));
	}
}

static void draw_srcs(FILE *f, const struct rate *r, size_t n, size_t total, size_t rows)
{
	char src[INET6_ADDRSTRLEN], proto[8], pps[16], bps[16];
	size_t i;

	fprintf(f, "\nunpaired sources by rate, dropped (%zu moving of %zu)\n", n, total);
	fprintf(f, "%-39s  %-6s %5s %10s %10s  %s\n", "source", "proto", "dport", "pkt/s",
		"bit/s", "last reason");
	for (i = 0; i < n && i < rows; i++) {
		const struct pg_src_entry *e = r[i].ent;
		const struct pg_src_key *k = &e->key;

		fprintf(f, "%-39s  %-6s %5u %10s %10s  %s\n",
			pg_obs_addr(k->family, k->saddr, src, sizeof(src)),
			pg_obs_proto(k->proto, proto, sizeof(proto)), ntohs(k->dport),
			si(r[i].pps, pps, sizeof(pps)), si(r[i].bps, bps, sizeof(bps)),
			pg_verdict_name(e->val.reason));
	}
}

/* One screen; prev's flows and sources are sorted by key for the lookups. */
static int draw(const struct top_args *a, const struct term *t, const struct pg_snap *prev,
		const struct pg_snap *cur)
{
	double dt = (double)(cur->mono_ns - prev->mono_ns) / NS_PER_SEC;
	size_t nmax = cur->n_flows > cur->n_srcs ? cur->n_flows : cur->n_srcs;
	struct rate *r = calloc(nmax ? nmax : 1, sizeof(*r));
	char when[32];
	size_t n;

	if (!r)
		return -ENOMEM;
	if (dt <= 0)
		dt = 1;
	if (t->tty_out)
		fputs("\033[H\033[2J", stdout);
	printf("pairgate top %s  %s  interval %.2fs%s\n", a->ifname,
	       pg_obs_time(pg_wall_ns(), false, when, sizeof(when)), dt,
	       t->tty_in ? "  (q quits)" : "");
	draw_verdicts(stdout, prev, cur, dt);
	n = flow_rates(prev, cur, dt, r);
	draw_flows(stdout, r, n, cur->n_flows, a->rows);
	n = src_rates(prev, cur, dt, r);
	draw_srcs(stdout, r, n, cur->n_srcs, a->rows);
	if (!t->tty_out)
		putchar('\n');
	fflush(stdout);
	free(r);
	return 0;
}

/* ---- the command ---- */

static int parse_top_opt(int argc, char **argv, int *i, struct top_args *a)
{
	const char *val;
	int r;

	r = pg_opt_value(argc, argv, i, "--iterations", &val);
	if (r > 0)
		return pg_obs_uint("--iterations", val, 1, 1000000000, &a->iterations);
	if (!r)
		r = pg_opt_value(argc, argv, i, "--rows", &val);
	if (r > 0)
		return pg_obs_uint("--rows", val, 1, 10000, &a->rows);
	if (!r)
		pg_err("unknown option '%s' for top: use --iterations or --rows",
		       pg_arg(argv[*i]));
	return -EINVAL;
}

static int parse_top(int argc, char **argv, struct top_args *a)
{
	int i;

	if (argc < 2 || argv[1][0] == '-') {
		pg_err("top needs an interface: top IFACE [--iterations N] [--rows N]");
		return -EINVAL;
	}
	a->ifname = argv[1];
	a->rows = DEFAULT_ROWS;
	for (i = 2; i < argc; i++)
		if (parse_top_opt(argc, argv, &i, a))
			return -EINVAL;
	return 0;
}

static int sorted_snap(const struct pg_obs *o, struct pg_snap *s)
{
	int err = pg_snap_read(o, s);

	if (err)
		return err;
	if (s->n_flows)
		qsort(s->flows, s->n_flows, sizeof(*s->flows), flow_key_cmp);
	if (s->n_srcs)
		qsort(s->srcs, s->n_srcs, sizeof(*s->srcs), src_key_cmp);
	return 0;
}

static int top_loop(const struct top_args *a, const struct pg_obs *o, struct term *t)
{
	struct pg_snap prev, cur;
	unsigned long done = 0;
	__u64 next;
	int err;

	err = sorted_snap(o, &prev);
	if (err)
		return err;
	next = prev.mono_ns + NS_PER_SEC;
	while (!wait_quit(t, next)) {
		err = sorted_snap(o, &cur);
		if (!err)
			err = draw(a, t, &prev, &cur);
		pg_snap_free(&prev);
		if (err)
			return err;
		prev = cur;
		next += NS_PER_SEC;
		if (next < prev.mono_ns)	/* reading took longer than a second */
			next = prev.mono_ns + NS_PER_SEC;
		if (a->iterations && ++done >= a->iterations)
			break;
	}
	pg_snap_free(&prev);
	return 0;
}

int pg_cmd_top(int argc, char **argv)
{
	struct top_args a = {};
	struct pg_obs o;
	struct term t;
	int err;

	if (parse_top(argc, argv, &a))
		return 1;
	err = pg_obs_open(&o, a.ifname);
	if (err) {
		pg_obs_close(&o);
		return 1;
	}
	pg_obs_catch_signals();
	term_setup(&t);
	err = top_loop(&a, &o, &t);
	term_restore(&t);
	pg_obs_close(&o);
	if (err == -ENOMEM)
		pg_err("top: out of memory");
	return err ? 1 : 0;
}
