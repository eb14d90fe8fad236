/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers for the unit tests: result lines for tests/run.sh, packet builders
 * and BPF_PROG_TEST_RUN wrappers. Header-only so each test is one file.
 *
 * Output contract: one line per case, "PASS <name>" or "FAIL <name>: <why>";
 * the exit status is non-zero if any case failed.
 */
#ifndef PG_TESTLIB_H
#define PG_TESTLIB_H

#pragma GCC diagnostic ignored "-Wunused-function"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int tl_failed, tl_passed;

static void __attribute__((format(printf, 3, 4)))
tl_check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
		tl_passed++;
		return;
	}
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	tl_failed++;
}

static int tl_exit(void)
{
	fflush(stdout);
	return tl_failed ? 1 : 0;
}

static int tl_silent_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN || !getenv("PG_TEST_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---- packet building ---- */

#define TL_MAX_PKT 2048

struct tl_pkt {
	uint8_t buf[TL_MAX_PKT];
	size_t len;
	size_t l3_off;		/* where the IP header starts */
};

static const uint8_t tl_mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t tl_mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };

static void tl_eth(struct tl_pkt *p, uint16_t ethertype, int vlan)
{
	memcpy(p->buf, tl_mac_b, 6);
	memcpy(p->buf + 6, tl_mac_a, 6);
	p->len = 12;
	if (vlan) {
		p->buf[p->len++] = 0x81;
		p->buf[p->len++] = 0x00;
		p->buf[p->len++] = 0x00;
		p->buf[p->len++] = 42;
	}
	p->buf[p->len++] = ethertype >> 8;
	p->buf[p->len++] = ethertype & 0xff;
	p->l3_off = p->len;
}

static uint32_t tl_sum16(const uint8_t *b, size_t n, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	return sum;
}

static uint16_t tl_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/* A valid L4 segment of protocol proto with len payload bytes (a pattern). */
static size_t tl_l4(uint8_t *l4, uint8_t proto, size_t payload, unsigned int seed)
{
	size_t hlen, i;

	switch (proto) {
	case IPPROTO_TCP:
		hlen = 20;
		memset(l4, 0, hlen);
		l4[0] = 0x9c; l4[1] = 0x40;	/* 40000 */
		l4[2] = 0x1f; l4[3] = 0x90;	/* 8080 */
		l4[4] = 0x12; l4[7] = 0x34;	/* seq */
		l4[12] = 5 << 4;
		l4[13] = 0x18;			/* PSH ACK */
		l4[14] = 0xff; l4[15] = 0xff;
		break;
	case IPPROTO_UDP:
		hlen = 8;
		l4[0] = 0x9c; l4[1] = 0x41;
		l4[2] = 0x00; l4[3] = 0x35;	/* 53 */
		l4[4] = (hlen + payload) >> 8;
		l4[5] = (hlen + payload) & 0xff;
		l4[6] = l4[7] = 0;
		break;
	default:			/* ICMP / ICMPv6 echo request */
		hlen = 8;
		memset(l4, 0, hlen);
		l4[0] = proto == IPPROTO_ICMP ? 8 : 128;
		l4[5] = 1;
		l4[7] = 7;
		break;
	}
	for (i = 0; i < payload; i++)
		l4[hlen + i] = (uint8_t)(i * 7 + seed);
	return hlen + payload;
}

static void tl_l4_csum(uint8_t *ip, int family, uint8_t proto, uint8_t *l4, size_t l4len)
{
	uint32_t sum = 0;
	int off = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;
	uint16_t c;

	if (proto != IPPROTO_ICMP) {
		uint8_t tail[8] = { 0, 0, l4len >> 8, l4len & 0xff, 0, 0, 0, proto };

		if (family == 4)
			sum = tl_sum16(ip + 12, 8, 0);
		else
			sum = tl_sum16(ip + 8, 32, 0);
		sum = tl_sum16(tail, 8, sum);
	}
	l4[off] = l4[off + 1] = 0;
	c = tl_fold(tl_sum16(l4, l4len, sum));
	if (proto == IPPROTO_UDP && !c)
		c = 0xffff;
	l4[off] = c >> 8;
	l4[off + 1] = c & 0xff;
}

/*
 * A plain frame: Ethernet (optionally one VLAN tag), IPv4 (with opt_len
 * bytes of NOP options) or IPv6, then a valid L4 segment.
 */
static void tl_build(struct tl_pkt *p, int family, uint8_t proto, size_t payload,
		     const char *src, const char *dst, int vlan, size_t opt_len)
{
	uint8_t *ip, *l4;
	size_t l4len, hlen;
	uint16_t c;

	tl_eth(p, family == 4 ? 0x0800 : 0x86dd, vlan);
	ip = p->buf + p->l3_off;

	if (family == 4) {
		hlen = 20 + opt_len;
		memset(ip, 0, hlen);
		memset(ip + 20, 1, opt_len);	/* NOP options */
		ip[0] = 0x40 | (hlen / 4);
		ip[1] = 0x28;			/* some DSCP */
		ip[4] = 0x12; ip[5] = 0x34;
		ip[6] = 0x40;			/* DF */
		ip[8] = 64;
		ip[9] = proto;
		inet_pton(AF_INET, src, ip + 12);
		inet_pton(AF_INET, dst, ip + 16);
	} else {
		hlen = 40;
		memset(ip, 0, hlen);
		ip[0] = 0x60;
		ip[1] = 0x0a;			/* traffic class / flow label bits */
		ip[3] = 0x42;
		ip[6] = proto;
		ip[7] = 64;
		inet_pton(AF_INET6, src, ip + 8);
		inet_pton(AF_INET6, dst, ip + 24);
	}
	l4 = ip + hlen;
	l4len = tl_l4(l4, proto, payload, (unsigned int)payload);
	if (family == 4) {
		ip[2] = (hlen + l4len) >> 8;
		ip[3] = (hlen + l4len) & 0xff;
		c = tl_fold(tl_sum16(ip, hlen, 0));
		ip[10] = c >> 8;
		ip[11] = c & 0xff;
	} else {
		ip[4] = l4len >> 8;
		ip[5] = l4len & 0xff;
	}
	tl_l4_csum(ip, family, proto, l4, l4len);
	p->len = p->l3_off + hlen + l4len;
}

/* ---- BPF_PROG_TEST_RUN ---- */

struct tl_run {
	int ret;		/* program return value */
	int err;		/* test-run syscall error (-errno) */
	uint8_t out[TL_MAX_PKT];
	uint32_t out_len;
};

static void tl_prog_run(int prog_fd, const void *pkt, size_t len, struct tl_run *r)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = pkt,
		.data_size_in = len,
		.data_out = r->out,
		.data_size_out = sizeof(r->out),
		.repeat = 1,
	);

	r->err = bpf_prog_test_run_opts(prog_fd, &opts) ? -errno : 0;
	r->ret = opts.retval;
	r->out_len = opts.data_size_out;
}

static void tl_hexdump(const char *what, const uint8_t *b, size_t n)
{
	size_t i;

	fprintf(stdout, "  %s (%zu bytes):", what, n);
	for (i = 0; i < n; i++)
		fprintf(stdout, "%s%02x", i % 32 ? "" : "\n    ", b[i]);
	fprintf(stdout, "\n");
}

#endif /* PG_TESTLIB_H */
