// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What flow tracking costs the verified path: pg_xdp_ingress of
 * build/pairgate.bpf.o against the same source built with -DPG_NO_FLOWS,
 * side by side through BPF_PROG_TEST_RUN, on one pinned CPU.
 *
 * Each repetition reinstalls the inbound SA (a fresh replay window) in both
 * objects and runs N distinct pre-tagged frames, sequence numbers 1..N, one
 * call each (repeat = 1). The kernel reports whole nanoseconds per call, in
 * steps of the clock source, so a repetition's value is the mean of the
 * middle 90% of its N durations; the result is the median over repetitions,
 * and the two objects alternate which goes first. Every call must pass and
 * the verified counter must move by N, so a mis-set SA cannot pass for a
 * fast path. tests/bench/flow_overhead.sh builds the variant and runs this.
 *
 *   flow_overhead [-n N] [-r REPS] [-c CPU] [FLOWS.o NOFLOWS.o]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pairgate.h"
#include "pgtag.h"

#define MAX_REPS	64
#define FRAME_MAX	256
#define SPI		0x101
#define TARGET		1.15

static const uint8_t key[PG_KEY_LEN] = { 0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08,
					 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00 };
static const uint8_t peer[4] = { 198, 18, 0, 1 };
static const uint8_t self[4] = { 198, 18, 0, 2 };
/* the smallest tagged UDP frame, and a 64-byte frame once the shim is added */
static const int sizes[] = { 66, 88 };

struct variant {
	const char *name;
	const char *path;
	struct bpf_object *obj;
	int prog;
	int sa_in;
	int stats;
	double rep[MAX_REPS];
};

struct frame {
	uint8_t d[FRAME_MAX];
	uint32_t len;
};

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("flow_overhead: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	return m ? bpf_map__fd(m) : -1;
}

/* Newer data planes look an SPI up only if its bit is set in pg_spi_filter. */
static void spi_mark(const struct variant *v)
{
#ifdef PG_SPI_FILTER_BITS
	int fd = map_fd(v->obj, "pg_spi_filter");
	struct pg_spi_filter *f;
	__u32 zero = 0, bit = SPI % PG_SPI_FILTER_BITS;

	if (fd < 0)
		return;
	f = calloc(1, sizeof(*f));
	if (!f || bpf_map_lookup_elem(fd, &zero, f))
		die("reading pg_spi_filter: %s", strerror(errno));
	f->words[bit / 64] |= 1ULL << (bit % 64);
	if (bpf_map_update_elem(fd, &zero, f, BPF_ANY))
		die("setting pg_spi_filter: %s", strerror(errno));
	free(f);
#endif
}

/* A fresh SA: the replay window forgets, so seq 1..N pass again. */
static void sa_reset(const struct variant *v)
{
	struct pg_sa_in sa = { .peer = { .family = 4 } };
	__u32 spi = SPI;

	memcpy(sa.key, key, sizeof(sa.key));
	memcpy(sa.peer.addr, peer, 4);
	if (bpf_map_update_elem(v->sa_in, &spi, &sa, BPF_ANY))
		die("installing the SA: %s", strerror(errno));
}

static void variant_load(struct variant *v)
{
	struct pg_config cfg = { .egress_ifindex = 1, .saved_rp_filter = -1 };
	struct bpf_program *p;
	__u32 zero = 0;

	v->obj = bpf_object__open_file(v->path, NULL);
	if (!v->obj || bpf_object__load(v->obj))
		die("loading %s: %s; build it first (tests/bench/flow_overhead.sh)", v->path,
		    strerror(errno));
	p = bpf_object__find_program_by_name(v->obj, "pg_xdp_ingress");
	v->prog = p ? bpf_program__fd(p) : -1;
	v->sa_in = map_fd(v->obj, "pg_sa_in");
	v->stats = map_fd(v->obj, "pg_stats");
	if (v->prog < 0 || v->sa_in < 0 || v->stats < 0)
		die("%s lacks pg_xdp_ingress, pg_sa_in or pg_stats", v->path);
	if (bpf_map_update_elem(map_fd(v->obj, "pg_config"), &zero, &cfg, BPF_ANY))
		die("setting pg_config of %s: %s", v->path, strerror(errno));
	spi_mark(v);
}

static uint64_t verified(const struct variant *v)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	struct pg_counter c[ncpu];
	__u32 idx = PG_V_VERIFIED;
	uint64_t sum = 0;

	if (bpf_map_lookup_elem(v->stats, &idx, c))
		die("reading pg_stats: %s", strerror(errno));
	for (i = 0; i < ncpu; i++)
		sum += c[i].packets;
	return sum;
}

/* An IPv4/UDP frame of len bytes once tagged, with sequence number seq. */
static void frame_make(struct frame *f, uint32_t len, uint64_t seq)
{
	uint8_t plain[FRAME_MAX] = {}, *ip = plain + ETH_HLEN, *udp = ip + 20;
	uint32_t plen = len - PG_SHIM_LEN, ip_len = plen - ETH_HLEN;
	uint16_t csum;
	ssize_t n;

	ip[0] = 0x45;
	ip[2] = ip_len >> 8;
	ip[3] = ip_len;
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, peer, 4);
	memcpy(ip + 16, self, 4);
	csum = pg_ip_checksum(ip, 20);
	memcpy(ip + 10, &csum, 2);
	udp[0] = 0x9c;			/* 40000 -> 5201 */
	udp[1] = 0x40;
	udp[2] = 0x14;
	udp[3] = 0x51;
	udp[4] = (ip_len - 20) >> 8;
	udp[5] = ip_len - 20;
	n = pg_tag_insert(key, SPI, seq, ip, ip_len, f->d + ETH_HLEN, FRAME_MAX - ETH_HLEN);
	if (n < 0)
		die("pg_tag_insert: %s", strerror((int)-n));
	memset(f->d, 0x02, 12);
	f->d[12] = ETH_P_IP >> 8;
	f->d[13] = ETH_P_IP & 0xff;
	f->len = ETH_HLEN + n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double trimmed_mean(double *d, int n)
{
	double sum = 0;
	int i;

	qsort(d, n, sizeof(*d), cmp_double);
	for (i = n / 20; i < n - n / 20; i++)
		sum += d[i];
	return sum / (n - 2 * (n / 20));
}

/* One repetition: N frames through one object; ns per frame. */
static double run_rep(const struct variant *v, const struct frame *fs, int n, double *d)
{
	uint64_t before;
	int i;

	sa_reset(v);
	before = verified(v);
	for (i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = fs[i].d,
			    .data_size_in = fs[i].len, .repeat = 1);

		if (bpf_prog_test_run_opts(v->prog, &o))
			die("BPF_PROG_TEST_RUN: %s", strerror(errno));
		if (o.retval != XDP_PASS)
			die("%s: frame %d: verdict %u, expected XDP_PASS", v->name, i, o.retval);
		d[i] = o.duration;
	}
	if (verified(v) - before != (uint64_t)n)
		die("%s: verified moved by %llu, expected %d", v->name,
		    (unsigned long long)(verified(v) - before), n);
	return trimmed_mean(d, n);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double bench_size(struct variant *vs, int size, int n, int reps)
{
	struct frame *fs = calloc(n, sizeof(*fs));
	double *d = calloc(n, sizeof(*d)), m[2];
	int r, i, k;

	if (!fs || !d)
		die("out of memory");
	for (i = 0; i < n; i++)
		frame_make(&fs[i], size, i + 1);
	for (k = 0; k < 2; k++)		/* warm-up: flow entry, caches */
		run_rep(&vs[k], fs, n, d);
	for (r = 0; r < reps; r++)
		for (k = 0; k < 2; k++) {
			i = (r + k) % 2;	/* alternate which goes first */
			vs[i].rep[r] = run_rep(&vs[i], fs, n, d);
		}
	for (k = 0; k < 2; k++)
		m[k] = median(vs[k].rep, reps);
	printf("| %d B | %.1f | %.1f | %+.1f | %.3f |\n", size, m[1], m[0], m[0] - m[1],
	       m[0] / m[1]);
	free(fs);
	free(d);
	return m[0] / m[1];
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("pinning to CPU %d: %s", cpu, strerror(errno));
}

int main(int argc, char **argv)
{
	struct variant vs[2] = {
		{ .name = "flows", .path = "build/pairgate.bpf.o" },
		{ .name = "no flows", .path = "build/pairgate_noflows.bpf.o" },
	};
	int n = 5000, reps = 7, cpu = 0, opt;
	double ratio;

	while ((opt = getopt(argc, argv, "n:r:c:")) != -1) {
		if (opt == 'n')
			n = atoi(optarg);
		else if (opt == 'r')
			reps = atoi(optarg);
		else if (opt == 'c')
			cpu = atoi(optarg);
		else
			die("usage: flow_overhead [-n N] [-r REPS] [-c CPU] [FLOWS.o NOFLOWS.o]");
	}
	if (n < 100 || reps < 5 || reps > MAX_REPS)
		die("need -n >= 100 and 5 <= -r <= %d", MAX_REPS);
	if (argc - optind == 2) {
		vs[0].path = argv[optind];
		vs[1].path = argv[optind + 1];
	}
	pin_cpu(cpu);
	variant_load(&vs[0]);
	variant_load(&vs[1]);

	printf("Verified pass, IPv4/UDP, %d distinct frames per repetition (repeat=1), median "
	       "of %d repetitions, CPU %d\n\n", n, reps, cpu);
	printf("| tagged frame | no flows (ns) | flows (ns) | difference | ratio |\n");
	printf("|---|---|---|---|---|\n");
	ratio = bench_size(vs, sizes[0], n, reps);
	bench_size(vs, sizes[1], n, reps);
	printf("\nflow tracking on the smallest frame: ratio %.3f (target <= %.2f): %s\n", ratio,
	       TARGET, ratio <= TARGET ? "ok" : "OVER TARGET");
	bpf_object__close(vs[0].obj);
	bpf_object__close(vs[1].obj);
	return 0;
}
