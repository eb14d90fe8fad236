// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The XDP verifier and TC tagger on crafted packets through BPF_PROG_TEST_RUN:
 * verdicts, counters by reason, and the exact bytes that come out.
 */
#define _GNU_SOURCE
#include <linux/pkt_cls.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <sodium.h>

#include "pairgate.h"
#include "pgtag.h"
#include "observe.h"
#include "allow.h"
#include <unistd.h>
#include "testlib.h"
#include "pairgate.skel.h"

#define PEER4	"198.18.0.1"
#define SELF4	"198.18.0.2"
#define PEER6	"2001:db8::1"
#define SELF6	"2001:db8::2"
#define SPI_IN	0x1001
#define SPI_OUT	0x2001

static struct pairgate_bpf *skel;
static int xdp_fd, tc_fd, ncpus;
static uint8_t key_in[16], key_out[16];

/* ---- fixture ---- */

static uint64_t verdict_count(uint32_t verdict)
{
	struct pg_counter vals[ncpus];
	uint64_t sum = 0;
	int i;

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.pg_stats), &verdict, vals))
		return UINT64_MAX;
	for (i = 0; i < ncpus; i++)
		sum += vals[i].packets;
	return sum;
}

static void counters_snapshot(uint64_t snap[PG_V_MAX])
{
	uint32_t v;

	for (v = 0; v < PG_V_MAX; v++)
		snap[v] = verdict_count(v);
}

/* Returns the verdict whose counter moved, -1 if none, -2 if several did. */
static int verdict_moved(const uint64_t before[PG_V_MAX])
{
	int v, found = -1;

	for (v = 0; v < PG_V_MAX; v++) {
		if (verdict_count(v) == before[v])
			continue;
		if (found >= 0)
			return -2;
		found = v;
	}
	return found;
}

static void addr_fill(struct pg_addr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1)
		a->family = 4;
	else if (inet_pton(AF_INET6, s, a->addr) == 1)
		a->family = 6;
}

/* Marks spi in the SPI filter, as the CLI does before adding an inbound SA. */
static void spi_filter_mark(uint32_t spi)
{
	static struct pg_spi_filter f;
	uint32_t zero = 0;
	int fd = bpf_map__fd(skel->maps.pg_spi_filter);

	bpf_map_lookup_elem(fd, &zero, &f);
	f.words[(spi / 64) % (PG_SPI_FILTER_BITS / 64)] |= 1ULL << (spi % 64);
	bpf_map_update_elem(fd, &zero, &f, BPF_ANY);
}

/* (Re)installs the inbound SA with a fresh replay window. */
static void sa_in_reset(const char *peer)
{
	struct pg_sa_in sa = { .slot = 0 };
	uint32_t spi = SPI_IN;

	memcpy(sa.key, key_in, 16);
	addr_fill(&sa.peer, peer);
	spi_filter_mark(spi);
	bpf_map_update_elem(bpf_map__fd(skel->maps.pg_sa_in), &spi, &sa, BPF_ANY);
}

static void sa_out_set(const char *dst)
{
	struct pg_sa_out sa = { .spi = SPI_OUT, .slot = PG_MAX_SA };
	struct pg_addr a;

	memcpy(sa.key, key_out, 16);
	addr_fill(&a, dst);
	bpf_map_update_elem(bpf_map__fd(skel->maps.pg_sa_out), &a, &sa, BPF_ANY);
}

static void config_set(uint32_t flags)
{
	struct pg_config cfg = { .flags = flags, .egress_ifindex = 1, .saved_rp_filter = -1 };
	uint32_t zero = 0;

	bpf_map_update_elem(bpf_map__fd(skel->maps.pg_config), &zero, &cfg, BPF_ANY);
}

/* Tags the IP part of plain into out with the inbound key (as the peer would). */
static int tag_frame(const struct tl_pkt *plain, uint64_t seq, struct tl_pkt *out)
{
	ssize_t n;

	memcpy(out->buf, plain->buf, plain->l3_off);
	out->l3_off = plain->l3_off;
	n = pg_tag_insert(key_in, SPI_IN, seq, plain->buf + plain->l3_off,
			  plain->len - plain->l3_off, out->buf + out->l3_off,
			  sizeof(out->buf) - out->l3_off);
	if (n < 0)
		return -1;
	out->len = out->l3_off + n;
	return 0;
}

static int xdp_run(const struct tl_pkt *p, struct tl_run *r)
{
	tl_prog_run(xdp_fd, p->buf, p->len, r);
	return r->err ? -1 : r->ret;
}

/* ---- verified pass ---- */

static void check_pass_exact(const char *name, int family, uint8_t proto, size_t payload,
			     int vlan, size_t opt_len, uint64_t seq)
{
	const char *src = family == 4 ? PEER4 : PEER6, *dst = family == 4 ? SELF4 : SELF6;
	struct tl_pkt plain, tagged;
	uint64_t before[PG_V_MAX];
	struct tl_run r;
	int ret, moved;

	tl_build(&plain, family, proto, payload, src, dst, vlan, opt_len);
	if (tag_frame(&plain, seq, &tagged)) {
		tl_check(0, name, "reference tagger refused the packet");
		return;
	}
	counters_snapshot(before);
	ret = xdp_run(&tagged, &r);
	moved = verdict_moved(before);
	tl_check(ret == XDP_PASS && moved == PG_V_VERIFIED && r.out_len == plain.len &&
		 !memcmp(r.out, plain.buf, plain.len), name,
		 "ret %d err %d verdict %d out_len %u want %zu%s", ret, r.err, moved,
		 r.out_len, plain.len,
		 r.out_len == plain.len && memcmp(r.out, plain.buf, plain.len) ?
		 " (bytes differ)" : "");
}

static void test_verified_pass(void)
{
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP, IPPROTO_ICMP };
	static const size_t payloads[] = { 0, 1, 7, 8, 100, 1400 };
	uint64_t seq = 1;
	char name[96];
	unsigned int f, p, l;

	for (f = 0; f < 2; f++) {
		int family = f ? 6 : 4;

		sa_in_reset(family == 4 ? PEER4 : PEER6);
		for (p = 0; p < 3; p++) {
			uint8_t proto = protos[p];

			if (family == 6 && proto == IPPROTO_ICMP)
				proto = IPPROTO_ICMPV6;
			for (l = 0; l < sizeof(payloads) / sizeof(payloads[0]); l++) {
				snprintf(name, sizeof(name),
					 "verified_pass_exact_ipv%d_proto%d_len%zu", family, proto,
					 payloads[l]);
				check_pass_exact(name, family, proto, payloads[l], 0, 0, seq++);
			}
		}
		snprintf(name, sizeof(name), "verified_pass_exact_ipv%d_vlan", family);
		check_pass_exact(name, family, IPPROTO_UDP, 64, 1, 0, seq++);
	}

	sa_in_reset(PEER4);
	check_pass_exact("verified_pass_exact_ipv4_options4", 4, IPPROTO_UDP, 64, 0, 4, 1);
	check_pass_exact("verified_pass_exact_ipv4_options40_vlan", 4, IPPROTO_TCP, 64, 1, 40, 2);
}

/* ---- single-bit flips ---- */

/* What a flip of bit `bit` of IP-packet byte `off` must give. */
enum flip_expect { FLIP_BAD_TAG, FLIP_DROP_ANY, FLIP_UNPAIRED, FLIP_PASS };

static enum flip_expect flip_expectation(int family, size_t hlen, uint8_t proto, size_t off,
					 int bit)
{
	size_t shim = hlen, l4 = hlen + PG_SHIM_LEN;
	size_t csum = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;

	if (off >= l4)	/* L4 header and payload: all covered but the checksum */
		return off - l4 == csum || off - l4 == csum + 1 ? FLIP_PASS : FLIP_BAD_TAG;
	if (off >= shim + 16)
		return FLIP_BAD_TAG;				/* the tag itself */
	if (off >= shim + 4 && off < shim + 8)
		return FLIP_UNPAIRED;				/* SPI */
	if (off >= shim)
		return FLIP_DROP_ANY;	/* next_proto, version/flags, reserved, seq */

	if (family == 4) {
		if (off >= 16 && off < 20)
			return FLIP_BAD_TAG;			/* destination */
		if (off >= 12 && off < 16)
			return FLIP_UNPAIRED;			/* source */
		if (off == 1 || off == 8 || off == 10 || off == 11 || off == 4 || off == 5)
			return FLIP_PASS;	/* DSCP/ECN, TTL, checksum, ID: not covered */
		if (off == 6 && bit >= 6)
			return FLIP_PASS;	/* DF and the reserved flag: not covered */
		return FLIP_DROP_ANY;	/* version, ihl, length, MF/offset, protocol */
	}
	if (off >= 24 && off < 40)
		return FLIP_BAD_TAG;
	if (off >= 8 && off < 24)
		return FLIP_UNPAIRED;
	if (off == 0)
		return bit < 4 ? FLIP_PASS : FLIP_DROP_ANY;	/* class / version */
	if (off == 7 || off == 1 || off == 2 || off == 3)
		return FLIP_PASS;	/* hop limit, traffic class, flow label */
	return FLIP_DROP_ANY;
}

static void test_bit_flips(int family, uint8_t proto)
{
	const char *src = family == 4 ? PEER4 : PEER6, *dst = family == 4 ? SELF4 : SELF6;
	size_t hlen = family == 4 ? 20 : 40, off, flips = 0;
	struct tl_pkt plain, tagged, bad;
	int wrong = 0, bit, ret, moved;
	uint64_t before[PG_V_MAX];
	char name[80], why[160] = "";
	struct tl_run r;

	tl_build(&plain, family, proto, 48, src, dst, 0, 0);
	sa_in_reset(src);
	tag_frame(&plain, 1000, &tagged);

	for (off = 0; off + tagged.l3_off < tagged.len; off++) {
		for (bit = 0; bit < 8; bit++) {
			enum flip_expect want = flip_expectation(family, hlen, proto, off, bit);

			bad = tagged;
			bad.buf[tagged.l3_off + off] ^= 1 << bit;
			counters_snapshot(before);
			ret = xdp_run(&bad, &r);
			moved = verdict_moved(before);
			flips++;
			if (want == FLIP_PASS) {
				/* accepted once; reset so the next flip is judged alone */
				sa_in_reset(src);
				if (ret == XDP_PASS && moved == PG_V_VERIFIED)
					continue;
			} else if (ret == XDP_DROP) {
				if (want == FLIP_DROP_ANY && moved >= 0 && moved != PG_V_VERIFIED)
					continue;
				if (want == FLIP_BAD_TAG && moved == PG_V_BAD_TAG)
					continue;
				if (want == FLIP_UNPAIRED && moved == PG_V_UNPAIRED)
					continue;
			}
			if (!wrong++)
				snprintf(why, sizeof(why),
					 "byte %zu bit %d: ret %d verdict %d want %d", off, bit,
					 ret, moved, want);
		}
	}
	snprintf(name, sizeof(name), "bit_flips_ipv%d_proto%d", family, proto);
	tl_check(!wrong && flips > 500, name, "%d of %zu flips wrong; first: %s", wrong,
		 flips, why);
}

/* ---- fields routers change ---- */

static void test_router_changes(void)
{
	struct tl_pkt plain, tagged;
	struct tl_run r;
	uint16_t c;
	int ret;

	sa_in_reset(PEER4);
	tl_build(&plain, 4, IPPROTO_UDP, 100, PEER4, SELF4, 0, 0);
	tag_frame(&plain, 1, &tagged);

	/* a router's TTL decrement and ECN mark, with an incremental checksum fix */
	tagged.buf[tagged.l3_off + 8]--;
	tagged.buf[tagged.l3_off + 1] |= 0x03;
	plain.buf[plain.l3_off + 8]--;
	plain.buf[plain.l3_off + 1] |= 0x03;
	tagged.buf[tagged.l3_off + 10] = tagged.buf[tagged.l3_off + 11] = 0;
	c = pg_ip_checksum(tagged.buf + tagged.l3_off, 20);
	memcpy(tagged.buf + tagged.l3_off + 10, &c, 2);
	plain.buf[plain.l3_off + 10] = plain.buf[plain.l3_off + 11] = 0;
	c = pg_ip_checksum(plain.buf + plain.l3_off, 20);
	memcpy(plain.buf + plain.l3_off + 10, &c, 2);

	ret = xdp_run(&tagged, &r);
	tl_check(ret == XDP_PASS && r.out_len == plain.len && !memcmp(r.out, plain.buf, plain.len),
		 "changed_ttl_ecn_still_verifies_ipv4", "ret %d out_len %u", ret, r.out_len);

	sa_in_reset(PEER6);
	tl_build(&plain, 6, IPPROTO_TCP, 100, PEER6, SELF6, 0, 0);
	tag_frame(&plain, 1, &tagged);
	tagged.buf[tagged.l3_off + 7] = 3;
	plain.buf[plain.l3_off + 7] = 3;
	ret = xdp_run(&tagged, &r);
	tl_check(ret == XDP_PASS && r.out_len == plain.len && !memcmp(r.out, plain.buf, plain.len),
		 "changed_hop_limit_still_verifies_ipv6", "ret %d out_len %u", ret, r.out_len);
}

/* ---- replay and window ---- */

static int send_seq(int family, uint64_t seq, int *moved)
{
	struct tl_pkt plain, tagged;
	uint64_t before[PG_V_MAX];
	struct tl_run r;
	int ret;

	tl_build(&plain, family, IPPROTO_UDP, 32, family == 4 ? PEER4 : PEER6,
		 family == 4 ? SELF4 : SELF6, 0, 0);
	tag_frame(&plain, seq, &tagged);
	counters_snapshot(before);
	ret = xdp_run(&tagged, &r);
	*moved = verdict_moved(before);
	return ret;
}

static void expect_seq(const char *name, uint64_t seq, int want_verdict)
{
	int moved, ret = send_seq(4, seq, &moved);
	int want_ret = want_verdict == PG_V_VERIFIED ? XDP_PASS : XDP_DROP;

	tl_check(ret == want_ret && moved == want_verdict, name,
		 "seq %llu: ret %d verdict %d, want %d", (unsigned long long)seq, ret, moved,
		 want_verdict);
}

static void test_replay(void)
{
	uint64_t top = 20000;

	sa_in_reset(PEER4);
	expect_seq("replay_first_accepted", 10, PG_V_VERIFIED);
	expect_seq("replay_second_dropped", 10, PG_V_REPLAY);
	expect_seq("replay_out_of_order_accepted", 7, PG_V_VERIFIED);
	expect_seq("replay_out_of_order_again_dropped", 7, PG_V_REPLAY);
	expect_seq("replay_jump_accepted", top, PG_V_VERIFIED);
	expect_seq("replay_old_dropped_too_old", 10, PG_V_TOO_OLD);
	expect_seq("replay_window_edge_inside", top - PG_REPLAY_WINDOW + 1, PG_V_VERIFIED);
	expect_seq("replay_window_edge_outside", top - PG_REPLAY_WINDOW, PG_V_TOO_OLD);
	expect_seq("replay_window_edge_inside_again", top - PG_REPLAY_WINDOW + 1, PG_V_REPLAY);
	expect_seq("replay_bitmap_cleared_on_advance", top + 64 * 300, PG_V_VERIFIED);
	expect_seq("replay_after_wrap_of_ring", top + 64 * 300 - 64 * 10, PG_V_VERIFIED);
}

/*
 * Two CPUs receive the same SA's packets, each getting every sequence number
 * once, in interleaved order: each number must be accepted exactly once.
 */
#define RACE_SEQS 3000

struct race_arg {
	int cpu;
	struct tl_pkt *pkts;
	int passed;
};

static void *race_worker(void *p)
{
	struct race_arg *a = p;
	struct tl_run r;
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	CPU_SET(a->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	for (i = 0; i < RACE_SEQS; i++) {
		/* opposite orders on the two CPUs maximise collisions mid-way */
		int k = a->cpu ? RACE_SEQS - 1 - i : i;

		if (xdp_run(&a->pkts[k], &r) == XDP_PASS)
			a->passed++;
	}
	return NULL;
}

static void test_replay_two_cpus(void)
{
	struct race_arg args[2] = { { .cpu = 0 }, { .cpu = 1 } };
	uint64_t before[PG_V_MAX];
	struct tl_pkt plain, *pkts;
	pthread_t th[2];
	int i;

	if (ncpus < 2) {
		printf("SKIP replay_two_cpus_each_seq_once: one CPU\n");
		return;
	}
	pkts = calloc(RACE_SEQS, sizeof(*pkts));
	tl_build(&plain, 4, IPPROTO_UDP, 16, PEER4, SELF4, 0, 0);
	for (i = 0; i < RACE_SEQS; i++)
		tag_frame(&plain, i + 1, &pkts[i]);
	sa_in_reset(PEER4);
	counters_snapshot(before);

	for (i = 0; i < 2; i++) {
		args[i].pkts = pkts;
		pthread_create(&th[i], NULL, race_worker, &args[i]);
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);

	tl_check(args[0].passed + args[1].passed == RACE_SEQS &&
		 verdict_count(PG_V_VERIFIED) - before[PG_V_VERIFIED] == RACE_SEQS &&
		 verdict_count(PG_V_REPLAY) - before[PG_V_REPLAY] == RACE_SEQS,
		 "replay_two_cpus_each_seq_once", "passed %d + %d of %d", args[0].passed,
		 args[1].passed, RACE_SEQS);
	free(pkts);
}

/* ---- who may send ---- */

static void test_unpaired(void)
{
	struct tl_pkt plain, tagged;
	uint64_t before[PG_V_MAX];
	struct tl_run r;
	uint32_t spi = SPI_IN + 1;
	int ret;

	sa_in_reset(PEER4);
	tl_build(&plain, 4, IPPROTO_UDP, 32, PEER4, SELF4, 0, 0);
	tag_frame(&plain, 1, &tagged);
	memcpy(tagged.buf + tagged.l3_off + 20 + 4, &(uint32_t){ htonl(spi) }, 4);
	counters_snapshot(before);
	ret = xdp_run(&tagged, &r);
	tl_check(ret == XDP_DROP && verdict_moved(before) == PG_V_UNPAIRED, "unknown_spi_unpaired",
		 "ret %d", ret);

	/* an SPI that shares the filter bit of a live one: the hash decides */
	tl_build(&plain, 4, IPPROTO_UDP, 32, PEER4, SELF4, 0, 0);
	tag_frame(&plain, 1, &tagged);
	spi = SPI_IN + PG_SPI_FILTER_BITS;
	memcpy(tagged.buf + tagged.l3_off + 20 + 4, &(uint32_t){ htonl(spi) }, 4);
	counters_snapshot(before);
	ret = xdp_run(&tagged, &r);
	tl_check(ret == XDP_DROP && verdict_moved(before) == PG_V_UNPAIRED,
		 "spi_filter_collision_still_unpaired", "ret %d", ret);

	/* right SPI and key, but sent from another host */
	tl_build(&plain, 4, IPPROTO_UDP, 32, "198.18.0.99", SELF4, 0, 0);
	tag_frame(&plain, 2, &tagged);
	counters_snapshot(before);
	ret = xdp_run(&tagged, &r);
	tl_check(ret == XDP_DROP && verdict_moved(before) == PG_V_UNPAIRED, "wrong_source_unpaired",
		 "ret %d", ret);

	tl_build(&plain, 4, IPPROTO_TCP, 32, "198.18.0.99", SELF4, 0, 0);
	counters_snapshot(before);
	ret = xdp_run(&plain, &r);
	tl_check(ret == XDP_DROP && verdict_moved(before) == PG_V_UNPAIRED, "plain_tcp_unpaired",
		 "ret %d", ret);

	tl_build(&plain, 6, IPPROTO_UDP, 32, "2001:db8::99", SELF6, 0, 0);
	counters_snapshot(before);
	ret = xdp_run(&plain, &r);
	tl_check(ret == XDP_DROP && verdict_moved(before) == PG_V_UNPAIRED, "plain_udp6_unpaired",
		 "ret %d", ret);
}

/* ---- truncated and malformed ---- */

static void test_truncated(int family, uint8_t proto, int vlan)
{
	struct tl_pkt plain, tagged, cut;
	int passed = 0, uncounted = 0, ret;
	uint64_t before[PG_V_MAX];
	char name[80];
	struct tl_run r;
	size_t n, tried = 0;

	sa_in_reset(family == 4 ? PEER4 : PEER6);
	tl_build(&plain, family, proto, 100, family == 4 ? PEER4 : PEER6,
		 family == 4 ? SELF4 : SELF6, vlan, 0);
	tag_frame(&plain, 5, &tagged);

	for (n = 0; n < tagged.len; n++) {
		cut = tagged;
		cut.len = n;
		counters_snapshot(before);
		ret = xdp_run(&cut, &r);
		if (r.err)	/* the kernel refuses frames shorter than Ethernet */
			continue;
		tried++;
		if (ret == XDP_PASS)
			passed++;
		if (verdict_moved(before) < 0)
			uncounted++;
	}
	snprintf(name, sizeof(name), "truncated_every_length_ipv%d_proto%d%s", family, proto,
		 vlan ? "_vlan" : "");
	tl_check(!passed && !uncounted && tried + 14 >= tagged.len, name,
		 "%d of %zu truncations passed, %d uncounted", passed, tried, uncounted);
}

static void expect_malformed(const char *name, struct tl_pkt *p, int want)
{
	uint64_t before[PG_V_MAX];
	struct tl_run r;
	int ret;

	counters_snapshot(before);
	ret = xdp_run(p, &r);
	tl_check(ret == XDP_DROP && verdict_moved(before) == want, name, "ret %d verdict %d",
		 ret, verdict_moved(before));
}

static void test_malformed(void)
{
	struct tl_pkt plain, t, base;
	uint8_t *ip;

	sa_in_reset(PEER4);
	tl_build(&plain, 4, IPPROTO_UDP, 100, PEER4, SELF4, 0, 0);
	tag_frame(&plain, 9, &base);

	t = base; ip = t.buf + t.l3_off;
	ip[0] = 0x44;
	expect_malformed("malformed_ihl_below_5", &t, PG_V_MALFORMED);
	t = base; ip = t.buf + t.l3_off;
	ip[0] = 0x55;
	expect_malformed("malformed_version_5", &t, PG_V_MALFORMED);
	t = base; ip = t.buf + t.l3_off;
	ip[2] = 0; ip[3] = 30;
	expect_malformed("malformed_total_length_short_of_shim", &t, PG_V_MALFORMED);
	t = base; ip = t.buf + t.l3_off;
	ip[2] = 0x0f;
	expect_malformed("malformed_total_length_past_frame", &t, PG_V_MALFORMED);
	t = base; ip = t.buf + t.l3_off;
	ip[20 + 1] = 0x20;
	expect_malformed("malformed_shim_version", &t, PG_V_MALFORMED);
	t = base; ip = t.buf + t.l3_off;
	ip[20 + 3] = 1;
	expect_malformed("malformed_shim_reserved", &t, PG_V_MALFORMED);
	t = base; ip = t.buf + t.l3_off;
	memset(ip + 20 + 8, 0, 8);
	expect_malformed("malformed_seq_zero", &t, PG_V_MALFORMED);
	t = base; ip = t.buf + t.l3_off;
	ip[6] = 0x20;	/* MF: a fragment */
	expect_malformed("fragment_unverifiable", &t, PG_V_UNVERIFIABLE);
	t = base; ip = t.buf + t.l3_off;
	ip[20 + 1] |= PG_FLAG_SEALED;
	expect_malformed("sealed_unverifiable_in_xdp", &t, PG_V_UNVERIFIABLE);

	/* an L4 segment longer than the hash bound goes to the heavy path */
	tl_build(&plain, 4, IPPROTO_UDP, PG_MAX_L4_LEN, PEER4, SELF4, 0, 0);
	tag_frame(&plain, 10, &t);
	expect_malformed("oversize_unverifiable", &t, PG_V_UNVERIFIABLE);

	/* an inner TCP too short to hold its checksum */
	tl_build(&plain, 4, IPPROTO_UDP, 4, PEER4, SELF4, 0, 0);
	tag_frame(&plain, 11, &t);
	t.buf[t.l3_off + 20] = IPPROTO_TCP;
	expect_malformed("inner_tcp_too_short", &t, PG_V_MALFORMED);

	memset(&t, 0, sizeof(t));
	tl_eth(&t, 0x88cc, 0);	/* LLDP */
	t.len = 60;
	expect_malformed("other_ethertype_dropped", &t, PG_V_UNPAIRED);
}

/* ---- exemptions ---- */

static void allow_add(int family, uint8_t proto, uint16_t port, const char *prefix, int plen)
{
	struct pg_allow_key k = { .family = family, .proto = proto, .port = htons(port) };
	uint32_t one = 1;

	k.prefixlen = PG_ALLOW_FIXED_BITS + plen;
	inet_pton(family == 4 ? AF_INET : AF_INET6, prefix, k.addr);
	bpf_map_update_elem(bpf_map__fd(skel->maps.pg_allow), &k, &one, BPF_ANY);
	pg_allow_hint_rebuild(bpf_map__fd(skel->maps.pg_allow),
			      bpf_map__fd(skel->maps.pg_allow_hint));
}

static void expect_verdict(const char *name, struct tl_pkt *p, int want)
{
	uint64_t before[PG_V_MAX];
	struct tl_run r;
	int ret, moved;

	counters_snapshot(before);
	ret = xdp_run(p, &r);
	moved = verdict_moved(before);
	tl_check(moved == want && ret == (want == PG_V_EXEMPT || want == PG_V_VERIFIED ?
					  XDP_PASS : XDP_DROP), name,
		 "ret %d verdict %d want %d", ret, moved, want);
}

static void set_dport(struct tl_pkt *p, size_t hlen, uint16_t port)
{
	p->buf[p->l3_off + hlen + 2] = port >> 8;
	p->buf[p->l3_off + hlen + 3] = port & 0xff;
}

/* An ICMP(v6) error from a router on the path, quoting our tagged packet. */
static void build_pmtu_error_quoting(struct tl_pkt *p, int family, uint32_t quoted_spi,
				     int quote_tagged, uint16_t mtu)
{
	struct tl_pkt sent, tagged;
	size_t hlen = family == 4 ? 20 : 40, qlen;
	uint8_t *ip, *icmp;
	uint16_t c;

	tl_build(&sent, family, IPPROTO_TCP, 1400, family == 4 ? SELF4 : SELF6,
		 family == 4 ? PEER4 : PEER6, 0, 0);
	memcpy(tagged.buf, sent.buf, sent.l3_off);
	pg_tag_insert(key_out, quoted_spi, 77, sent.buf + sent.l3_off, sent.len - sent.l3_off,
		      tagged.buf + sent.l3_off, sizeof(tagged.buf) - sent.l3_off);

	tl_build(p, family, family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, 0,
		 family == 4 ? "198.18.0.254" : "2001:db8::fe", family == 4 ? SELF4 : SELF6,
		 0, 0);
	ip = p->buf + p->l3_off;
	icmp = ip + hlen;
	qlen = (family == 4 ? 20 : 40) + (quote_tagged ? PG_SHIM_LEN : 0) + 8;
	memset(icmp, 0, 8);
	icmp[0] = family == 4 ? 3 : 2;
	icmp[1] = family == 4 ? 4 : 0;
	icmp[6] = mtu >> 8;
	icmp[7] = mtu & 0xff;
	memcpy(icmp + 8, (quote_tagged ? tagged.buf : sent.buf) + sent.l3_off, qlen);
	if (family == 4) {
		ip[2] = (hlen + 8 + qlen) >> 8;
		ip[3] = (hlen + 8 + qlen) & 0xff;
		ip[10] = ip[11] = 0;
		c = pg_ip_checksum(ip, 20);
		memcpy(ip + 10, &c, 2);
	} else {
		ip[4] = 0;
		ip[5] = 8 + qlen;
	}
	tl_l4_csum(ip, family, family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, icmp, 8 + qlen);
	p->len = p->l3_off + hlen + 8 + qlen;
}

static void build_pmtu_error(struct tl_pkt *p, int family, uint32_t quoted_spi)
{
	build_pmtu_error_quoting(p, family, quoted_spi, 1, 1280);
}

/* The stack must see the error as if it quoted the application's packet. */
static void check_pmtu_rewrite(const char *name, int family)
{
	struct tl_pkt err, want;
	struct tl_run r;
	int ret;

	build_pmtu_error_quoting(&err, family, SPI_OUT, 1, 1280);
	build_pmtu_error_quoting(&want, family, SPI_OUT, 0, 1280 - PG_SHIM_LEN);
	ret = xdp_run(&err, &r);
	tl_check(ret == XDP_PASS && r.out_len == want.len && !memcmp(r.out, want.buf, want.len),
		 name, "ret %d out_len %u want %zu", ret, r.out_len, want.len);
	if (ret == XDP_PASS && r.out_len == want.len && memcmp(r.out, want.buf, want.len)) {
		tl_hexdump("got", r.out, r.out_len);
		tl_hexdump("want", want.buf, want.len);
	}
}

static void test_exemptions(void)
{
	struct tl_pkt p;

	allow_add(4, IPPROTO_UDP, 53, "198.18.0.0", 24);
	allow_add(6, IPPROTO_TCP, 0, "2001:db8:1::", 48);

	tl_build(&p, 4, IPPROTO_UDP, 20, "198.18.0.5", SELF4, 0, 0);
	expect_verdict("allow_udp53_from_prefix_passes", &p, PG_V_EXEMPT);
	tl_build(&p, 4, IPPROTO_UDP, 20, "198.18.1.5", SELF4, 0, 0);
	expect_verdict("allow_udp53_other_prefix_dropped", &p, PG_V_UNPAIRED);
	tl_build(&p, 4, IPPROTO_UDP, 20, "198.18.0.5", SELF4, 0, 0);
	set_dport(&p, 20, 54);
	expect_verdict("allow_udp53_other_port_dropped", &p, PG_V_UNPAIRED);
	tl_build(&p, 4, IPPROTO_UDP, 20, "198.18.0.5", SELF4, 1, 0);
	expect_verdict("allow_udp53_vlan_passes", &p, PG_V_EXEMPT);
	tl_build(&p, 6, IPPROTO_TCP, 20, "2001:db8:1::7", SELF6, 0, 0);
	expect_verdict("allow_tcp_any_port_v6_prefix_passes", &p, PG_V_EXEMPT);
	tl_build(&p, 6, IPPROTO_TCP, 20, "2001:db8:2::7", SELF6, 0, 0);
	expect_verdict("allow_tcp_any_port_v6_other_prefix_dropped", &p, PG_V_UNPAIRED);

	memset(&p, 0, sizeof(p));
	tl_eth(&p, 0x0806, 0);
	p.len = 42;
	expect_verdict("arp_passes", &p, PG_V_EXEMPT);

	tl_build(&p, 6, IPPROTO_ICMPV6, 16, "fe80::1", "ff02::1:ff00:2", 0, 0);
	p.buf[p.l3_off + 40] = 135;	/* neighbour solicitation */
	p.buf[p.l3_off + 7] = 255;
	expect_verdict("ndisc_ns_passes", &p, PG_V_EXEMPT);
	p.buf[p.l3_off + 7] = 64;
	expect_verdict("ndisc_not_on_link_dropped", &p, PG_V_UNPAIRED);
	p.buf[p.l3_off + 7] = 255;
	p.buf[p.l3_off + 40] = 128;	/* echo request */
	expect_verdict("icmpv6_echo_dropped", &p, PG_V_UNPAIRED);

	/* MLD query: hop-by-hop header with router alert, then ICMPv6 130 */
	tl_build(&p, 6, IPPROTO_ICMPV6, 24, "fe80::1", "ff02::1", 0, 0);
	memmove(p.buf + p.l3_off + 48, p.buf + p.l3_off + 40, 32);
	memcpy(p.buf + p.l3_off + 40, (uint8_t[8]){ 58, 0, 5, 2, 0, 0, 1, 0 }, 8);
	p.buf[p.l3_off + 6] = 0;
	p.buf[p.l3_off + 7] = 1;
	p.buf[p.l3_off + 48] = 130;
	p.buf[p.l3_off + 5] += 8;
	p.len += 8;
	expect_verdict("mld_query_from_link_local_passes", &p, PG_V_EXEMPT);
	p.buf[p.l3_off + 8] = 0x20;	/* global source: not an on-link router */
	expect_verdict("mld_query_from_global_source_dropped", &p, PG_V_UNPAIRED);

	sa_out_set(PEER4);
	sa_out_set(PEER6);
	build_pmtu_error(&p, 4, SPI_OUT);
	expect_verdict("pmtu_frag_needed_quoting_paired_flow_passes", &p, PG_V_EXEMPT);
	build_pmtu_error(&p, 6, SPI_OUT);
	expect_verdict("pmtu_packet_too_big_quoting_paired_flow_passes", &p, PG_V_EXEMPT);
	check_pmtu_rewrite("pmtu_frag_needed_rewritten_to_plain_quote_mtu_minus_24", 4);
	check_pmtu_rewrite("pmtu_packet_too_big_rewritten_to_plain_quote_mtu_minus_24", 6);
	build_pmtu_error(&p, 4, SPI_OUT + 5);
	expect_verdict("pmtu_error_wrong_spi_dropped", &p, PG_V_UNPAIRED);
	config_set(PG_CFG_NO_PMTU_PASS);
	build_pmtu_error(&p, 4, SPI_OUT);
	expect_verdict("pmtu_pass_disabled_dropped", &p, PG_V_UNPAIRED);
	config_set(0);
}

/* ---- egress: TC tagger ---- */

static void check_tagger(const char *name, int family, uint8_t proto, size_t payload,
			 size_t opt_len)
{
	const char *self = family == 4 ? SELF4 : SELF6, *peer = family == 4 ? PEER4 : PEER6;
	uint8_t want[TL_MAX_PKT], saved_key[16];
	struct tl_pkt plain, tagged;
	struct tl_run r;
	uint64_t seq;
	ssize_t n;
	int ret;

	/* the far side's view: what we send out is what it verifies with key_in */
	memcpy(saved_key, key_in, 16);
	memcpy(key_out, key_in, 16);
	sa_out_set(peer);
	seq = 1;

	tl_build(&plain, family, proto, payload, self, peer, 0, opt_len);
	tl_prog_run(tc_fd, plain.buf, plain.len, &r);
	n = pg_tag_insert(key_in, SPI_OUT, seq, plain.buf + plain.l3_off,
			  plain.len - plain.l3_off, want, sizeof(want));
	ret = r.err ? -1 : r.ret;
	if (!(ret == TC_ACT_REDIRECT && n > 0 && r.out_len == plain.l3_off + n &&
	      !memcmp(r.out, plain.buf, plain.l3_off) &&
	      !memcmp(r.out + plain.l3_off, want, n))) {
		tl_check(0, name, "ret %d err %d out_len %u want %zd", ret, r.err, r.out_len,
			 plain.l3_off + n);
		if (n > 0 && r.out_len >= plain.l3_off) {
			tl_hexdump("got", r.out + plain.l3_off, r.out_len - plain.l3_off);
			tl_hexdump("want", want, n);
		}
		return;
	}

	/* and it verifies in the XDP program of a host whose inbound SA matches */
	{
		struct pg_sa_in sa = { .slot = 1 };
		uint32_t spi = SPI_OUT;
		struct tl_run v;

		memcpy(sa.key, key_in, 16);
		addr_fill(&sa.peer, self);
		spi_filter_mark(spi);
		bpf_map_update_elem(bpf_map__fd(skel->maps.pg_sa_in), &spi, &sa, BPF_ANY);
		memcpy(tagged.buf, r.out, r.out_len);
		tagged.len = r.out_len;
		tagged.l3_off = plain.l3_off;
		ret = xdp_run(&tagged, &v);
		bpf_map_delete_elem(bpf_map__fd(skel->maps.pg_sa_in), &spi);
		tl_check(ret == XDP_PASS && v.out_len == plain.len &&
			 !memcmp(v.out, plain.buf, plain.len), name,
			 "tagged by TC, XDP says ret %d out_len %u", ret, v.out_len);
	}
	memcpy(key_in, saved_key, 16);
}

static void test_tagger(void)
{
	uint64_t before[PG_V_MAX];
	char name[64];
	size_t len;
	struct tl_pkt plain;
	struct tl_run r;

	check_tagger("tc_tag_equals_reference_and_verifies_ipv4_udp", 4, IPPROTO_UDP, 64, 0);
	check_tagger("tc_tag_equals_reference_and_verifies_ipv4_tcp_1400", 4, IPPROTO_TCP, 1400, 0);
	check_tagger("tc_tag_equals_reference_and_verifies_ipv4_icmp", 4, IPPROTO_ICMP, 56, 0);
	check_tagger("tc_tag_equals_reference_and_verifies_ipv4_options", 4, IPPROTO_UDP, 33, 12);
	check_tagger("tc_tag_equals_reference_and_verifies_ipv6_udp", 6, IPPROTO_UDP, 3, 0);
	check_tagger("tc_tag_equals_reference_and_verifies_ipv6_tcp", 6, IPPROTO_TCP, 1000, 0);
	check_tagger("tc_tag_equals_reference_and_verifies_ipv6_icmpv6", 6, IPPROTO_ICMPV6, 56, 0);

	/* every tail length of the hash, and TCP with its checksum in the tail */
	for (len = 0; len < 24; len++) {
		snprintf(name, sizeof(name), "tc_tag_equals_reference_l4_len_%zu",
			 len < 16 ? len + 8 : len + 4);
		check_tagger(name, 4, len < 16 ? IPPROTO_UDP : IPPROTO_TCP,
			     len < 16 ? len : len - 16, 0);
	}

	tl_build(&plain, 4, IPPROTO_UDP, 64, SELF4, "198.18.0.77", 0, 0);
	counters_snapshot(before);
	tl_prog_run(tc_fd, plain.buf, plain.len, &r);
	tl_check(!r.err && r.ret == TC_ACT_SHOT && verdict_moved(before) == PG_V_UNTAGGABLE,
		 "tc_no_sa_untaggable_never_sent_bare", "ret %d err %d", r.ret, r.err);

	tl_build(&plain, 4, IPPROTO_UDP, 64, SELF4, PEER4, 0, 0);
	plain.buf[plain.l3_off + 6] = 0x20;
	counters_snapshot(before);
	tl_prog_run(tc_fd, plain.buf, plain.len, &r);
	tl_check(!r.err && r.ret == TC_ACT_SHOT && verdict_moved(before) == PG_V_UNTAGGABLE,
		 "tc_fragment_untaggable", "ret %d err %d", r.ret, r.err);
}

/* ---- SA expiry, handshake admission ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void test_expiry(void)
{
	struct pg_sa_in sa = { .slot = 0 };
	uint32_t spi = SPI_IN;
	int moved, ret;

	memcpy(sa.key, key_in, 16);
	addr_fill(&sa.peer, PEER4);
	sa.expires_ns = mono_ns() + 60ULL * 1000000000ULL;
	bpf_map_update_elem(bpf_map__fd(skel->maps.pg_sa_in), &spi, &sa, BPF_ANY);
	ret = send_seq(4, 1, &moved);
	tl_check(ret == XDP_PASS && moved == PG_V_VERIFIED, "sa_not_yet_expired_verifies",
		 "ret %d verdict %d", ret, moved);

	sa.expires_ns = mono_ns() - 1000000000ULL;
	bpf_map_update_elem(bpf_map__fd(skel->maps.pg_sa_in), &spi, &sa, BPF_ANY);
	ret = send_seq(4, 2, &moved);
	tl_check(ret == XDP_DROP && moved == PG_V_UNPAIRED, "sa_expired_fails_closed",
		 "ret %d verdict %d", ret, moved);
	sa_in_reset(PEER4);
}

static void hs_config(uint16_t port, uint16_t burst, uint32_t rate)
{
	struct pg_config cfg = { .egress_ifindex = 1, .saved_rp_filter = -1,
				 .hs_port = htons(port), .hs_burst = burst, .hs_per_sec = rate };
	uint32_t zero = 0;

	bpf_map_update_elem(bpf_map__fd(skel->maps.pg_config), &zero, &cfg, BPF_ANY);
}

static void test_handshake_admission(void)
{
	int admitted = 0, dropped = 0, i, ret;
	struct tl_pkt p;
	struct tl_run r;

	/* burst 5 at 1 per second: a quick run of 20 gets 5 or 6 through */
	hs_config(51820, 5, 1);
	tl_build(&p, 4, IPPROTO_UDP, 148, "198.18.0.50", SELF4, 0, 0);
	set_dport(&p, 20, 51820);
	for (i = 0; i < 20; i++) {
		ret = xdp_run(&p, &r);
		if (ret == XDP_PASS)
			admitted++;
		else
			dropped++;
	}
	tl_check(admitted >= 5 && admitted <= 7 && admitted + dropped == 20,
		 "handshake_port_rate_limited_per_source", "%d admitted, %d dropped", admitted,
		 dropped);

	tl_build(&p, 4, IPPROTO_UDP, 148, "198.18.0.51", SELF4, 0, 0);
	set_dport(&p, 20, 51820);
	ret = xdp_run(&p, &r);
	tl_check(ret == XDP_PASS, "handshake_other_source_has_own_budget", "ret %d", ret);

	set_dport(&p, 20, 51821);
	ret = xdp_run(&p, &r);
	tl_check(ret == XDP_DROP, "handshake_other_port_dropped", "ret %d", ret);

	/* the daemon's own handshakes leave bare, even to a paired peer */
	sa_out_set(PEER4);
	tl_build(&p, 4, IPPROTO_UDP, 148, SELF4, PEER4, 0, 0);
	p.buf[p.l3_off + 20] = 51820 >> 8;
	p.buf[p.l3_off + 21] = 51820 & 0xff;
	tl_prog_run(tc_fd, p.buf, p.len, &r);
	tl_check(!r.err && r.ret == TC_ACT_REDIRECT && r.out_len == p.len &&
		 !memcmp(r.out, p.buf, p.len), "handshake_from_daemon_port_sent_bare",
		 "ret %d len %u", r.ret, r.out_len);
	config_set(0);
}

/* ---- flows, unpaired sources, drop samples ---- */

/* A flow's counts as `pairgate flows` reads them: pg_flows plus the caches. */
static int pg_flow_get(int flows_fd, int cache_fd, const struct pg_flow_key *key,
		       struct pg_flow *sum)
{
	struct pg_flow_entry *e = NULL;
	size_t n = 0, i;
	int err;

	err = pg_flows_read(flows_fd, &e, &n);
	if (!err)
		err = pg_flows_add_cache(cache_fd, &e, &n);
	for (i = 0; !err && i < n; i++) {
		if (!memcmp(&e[i].key, key, sizeof(*key))) {
			*sum = e[i].val;
			break;
		}
	}
	if (!err && i == n)
		err = -ENOENT;
	free(e);
	return err;
}

/* Runs the calling thread on one CPU, so per-CPU state is predictable. */
static void cpu_pin(int cpu, cpu_set_t *old)
{
	cpu_set_t set;

	sched_getaffinity(0, sizeof(*old), old);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void cpu_restore(const cpu_set_t *old)
{
	sched_setaffinity(0, sizeof(*old), old);
}

/* Packets recorded for one unpaired source, over all CPUs. */
static uint64_t src_packets(const struct pg_src_key *key)
{
	struct pg_src vals[ncpus];
	uint64_t sum = 0;
	int i;

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.pg_srcs), key, vals))
		return 0;
	for (i = 0; i < ncpus; i++)
		sum += vals[i].packets;
	return sum;
}

static void flow_cache_clear(void)
{
	struct pg_flow_cache zero[ncpus];
	__u32 dir;

	memset(zero, 0, sizeof(zero));
	for (dir = 0; dir < 2; dir++)
		bpf_map_update_elem(bpf_map__fd(skel->maps.pg_flow_cache), &dir, zero, BPF_ANY);
}

static void src_tick_reset(void)
{
	struct { __u64 start_ns; __u32 recorded, pad; } zero[ncpus];
	__u32 key = 0;
	int fd;

	memset(zero, 0, sizeof(zero));
	fd = bpf_map__fd(bpf_object__find_map_by_name(skel->obj, "pg_src_tick"));
	bpf_map_update_elem(fd, &key, zero, BPF_ANY);
}

static int sample_count;
static uint32_t sample_reason;

static int on_sample(void *ctx, void *data, size_t len)
{
	const struct pg_drop_event *ev = data;

	if (len >= sizeof(*ev)) {
		sample_count++;
		sample_reason = ev->reason;
	}
	return 0;
}

static void test_observability(void)
{
	struct pg_flow vals[ncpus];
	cpu_set_t cpus;
	struct pg_flow_key fk = { .family = 4, .proto = IPPROTO_UDP, .dir = PG_DIR_IN };
	struct pg_src_key sk = { .family = 4, .proto = IPPROTO_TCP, .dport = htons(8080) };
	struct pg_config cfg = { .egress_ifindex = 1, .saved_rp_filter = -1 };
	struct ring_buffer *rb;
	struct pg_flow fsum;
	uint64_t pkts = 0;
	struct tl_pkt p, t;
	struct tl_run r;
	uint32_t zero = 0;
	int i, moved;

	/* earlier cases used the same 5-tuple: start it afresh */
	inet_pton(AF_INET, PEER4, fk.saddr);
	inet_pton(AF_INET, SELF4, fk.daddr);
	fk.sport = htons(40001);
	fk.dport = htons(53);
	bpf_map_delete_elem(bpf_map__fd(skel->maps.pg_flows), &fk);
	flow_cache_clear();
	sa_in_reset(PEER4);
	cpu_pin(0, &cpus);
	for (i = 1; i <= 3; i++)
		send_seq(4, i, &moved);
	cpu_restore(&cpus);
	if (!pg_flow_get(bpf_map__fd(skel->maps.pg_flows), bpf_map__fd(skel->maps.pg_flow_cache),
			 &fk, &fsum))
		pkts = fsum.packets;
	tl_check(pkts == 3, "flow_counts_verified_packets", "flow has %llu packets",
		 (unsigned long long)pkts);

	/* a replay of it seen by another CPU, whose cache does not hold it */
	if (ncpus > 1) {
		cpu_pin(1, &cpus);
		send_seq(4, 2, &moved);
		cpu_restore(&cpus);
		memset(&fsum, 0, sizeof(fsum));
		pg_flow_get(bpf_map__fd(skel->maps.pg_flows),
			    bpf_map__fd(skel->maps.pg_flow_cache), &fk, &fsum);
		tl_check(moved == PG_V_REPLAY && fsum.drops[PG_V_REPLAY] == 1,
			 "flow_drop_counted_on_other_cpu", "verdict %d, flow replay drops %u",
			 moved, fsum.drops[PG_V_REPLAY]);
	}

	/* another flow pushes this one out of CPU 0's cache into pg_flows */
	tl_build(&p, 4, IPPROTO_TCP, 10, PEER4, SELF4, 0, 0);
	tag_frame(&p, 4, &t);
	cpu_pin(0, &cpus);
	xdp_run(&t, &r);
	cpu_restore(&cpus);
	pkts = 0;
	if (!bpf_map_lookup_elem(bpf_map__fd(skel->maps.pg_flows), &fk, vals))
		for (i = 0; i < ncpus; i++)
			pkts += vals[i].packets;
	tl_check(pkts == 3, "flow_cache_folds_into_lru_on_switch", "pg_flows has %llu packets",
		 (unsigned long long)pkts);
	pkts = 0;
	if (!pg_flow_get(bpf_map__fd(skel->maps.pg_flows), bpf_map__fd(skel->maps.pg_flow_cache),
			 &fk, &fsum))
		pkts = fsum.packets;
	tl_check(pkts == 3, "flow_counts_exact_after_switch", "flow has %llu packets",
		 (unsigned long long)pkts);

	/* out of the sampled regime the earlier floods left, as after a quiet spell */
	src_tick_reset();
	tl_build(&p, 4, IPPROTO_TCP, 10, "198.18.7.7", SELF4, 0, 0);
	for (i = 0; i < 4; i++)
		xdp_run(&p, &r);
	inet_pton(AF_INET, "198.18.7.7", sk.saddr);
	pkts = src_packets(&sk);
	tl_check(pkts == 4, "unpaired_source_counted", "source has %llu packets",
		 (unsigned long long)pkts);

	/* a flood: past the exact budget, 1 in PG_SRC_SAMPLE, weighted */
	src_tick_reset();
	tl_build(&p, 4, IPPROTO_UDP, 10, "198.18.7.8", SELF4, 0, 0);
	for (i = 0; i < 3000; i++)
		xdp_run(&p, &r);
	sk.proto = IPPROTO_UDP;
	sk.dport = htons(53);
	inet_pton(AF_INET, "198.18.7.8", sk.saddr);
	pkts = src_packets(&sk);
	tl_check(pkts + 4 * PG_SRC_SAMPLE >= 3000 && pkts <= 3000 + 4 * PG_SRC_SAMPLE,
		 "unpaired_flood_sampled_and_weighted", "source has %llu of 3000 packets",
		 (unsigned long long)pkts);

	rb = ring_buffer__new(bpf_map__fd(skel->maps.pg_drop_rb), on_sample, NULL, NULL);
	ring_buffer__consume(rb);
	sample_count = 0;
	xdp_run(&p, &r);
	ring_buffer__consume(rb);
	tl_check(sample_count == 0, "no_drop_samples_unless_asked", "%d samples", sample_count);

	cfg.drop_sample_until_ns = mono_ns() + 10ULL * 1000000000ULL;
	cfg.drop_sample_per_sec = 3;
	bpf_map_update_elem(bpf_map__fd(skel->maps.pg_config), &zero, &cfg, BPF_ANY);
	for (i = 0; i < 10; i++)
		xdp_run(&p, &r);
	ring_buffer__consume(rb);
	tl_check(sample_count == 3 && sample_reason == PG_V_UNPAIRED,
		 "drop_samples_within_budget_with_reason", "%d samples, reason %u", sample_count,
		 sample_reason);
	ring_buffer__free(rb);
	config_set(0);
}

int main(void)
{
	libbpf_set_print(tl_silent_print);
	if (sodium_init() < 0)
		return 1;
	ncpus = libbpf_num_possible_cpus();

	skel = pairgate_bpf__open_and_load();
	if (!skel) {
		tl_check(0, "dataplane_load", "cannot load pairgate.bpf.o: %s", strerror(errno));
		return tl_exit();
	}
	xdp_fd = bpf_program__fd(skel->progs.pg_xdp_ingress);
	tc_fd = bpf_program__fd(skel->progs.pg_tc_tagger);
	randombytes_buf(key_in, sizeof(key_in));
	randombytes_buf(key_out, sizeof(key_out));
	config_set(0);

	test_verified_pass();
	test_bit_flips(4, IPPROTO_UDP);
	test_bit_flips(4, IPPROTO_TCP);
	test_bit_flips(6, IPPROTO_UDP);
	test_bit_flips(6, IPPROTO_ICMPV6);
	test_router_changes();
	test_replay();
	test_replay_two_cpus();
	test_unpaired();
	test_truncated(4, IPPROTO_UDP, 0);
	test_truncated(4, IPPROTO_TCP, 1);
	test_truncated(6, IPPROTO_UDP, 0);
	test_truncated(6, IPPROTO_ICMPV6, 1);
	test_malformed();
	test_exemptions();
	test_tagger();
	test_expiry();
	test_handshake_admission();
	test_observability();

	pairgate_bpf__destroy(skel);
	return tl_exit();
}
