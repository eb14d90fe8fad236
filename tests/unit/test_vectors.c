// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The shim test vectors of docs/protocol.md.
 *
 *   test_vectors             checks tests/data/vectors.txt against the
 *                            reference tagger and against the text of
 *                            docs/protocol.md, which must show the same file
 *   test_vectors --generate  builds the plain packets, tags them with
 *                            pg_tag_insert() and prints a new vectors.txt
 *
 * The check recomputes every tag twice: through pgtag.c, and through a
 * second, deliberately naive implementation written from the prose of
 * docs/protocol.md, so that the document, the data and the code agree.
 * It then flips every bit of every tagged packet to confirm which header
 * fields the tag covers, as the document states, and, when it may load BPF,
 * runs every vector through pg_xdp_ingress and pg_tc_tagger.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sodium.h>

#include "pairgate.h"
#include "pgtag.h"
#include "pairgate.skel.h"

#define PKT_MAX		512
#define HEX_PER_LINE	32		/* bytes per hex line in vectors.txt */
#define DOC_BEGIN	"<!-- BEGIN tests/data/vectors.txt -->"
#define DOC_END		"<!-- END tests/data/vectors.txt -->"

struct vec {
	char name[32];
	char desc[128];
	uint8_t key[PG_KEY_LEN];
	uint32_t spi;
	uint64_t seq;
	uint8_t plain[PKT_MAX];
	size_t plain_len;
	uint8_t tagged[PKT_MAX];
	size_t tagged_len;
	uint8_t tag[PG_TAG_LEN];
};

static int failures;

static void pass(const char *name)
{
	printf("PASS %s\n", name);
}

static void __attribute__((format(printf, 2, 3))) fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failures++;
}

/* ---- packet construction (generator only) ---- */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* L4 checksum over the RFC 768/793/8200 pseudo-header; ICMPv4 has none. */
static void l4_fill_csum(uint8_t *l4, size_t l4_len, uint8_t proto, int family,
			 const uint8_t *src, const uint8_t *dst)
{
	size_t alen = family == 4 ? 4 : 16, off;
	uint8_t tail[4] = { 0, 0, 0, proto };
	uint8_t len[4] = { l4_len >> 24, l4_len >> 16, l4_len >> 8, l4_len };
	uint32_t sum = 0;
	uint16_t c;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_ICMP &&
	    proto != IPPROTO_ICMPV6)
		return;
	off = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;
	put16(l4 + off, 0);
	if (proto != IPPROTO_ICMP) {
		sum = csum_add(sum, src, alen);
		sum = csum_add(sum, dst, alen);
		sum = csum_add(sum, len, 4);
		sum = csum_add(sum, tail, 4);
	}
	sum = csum_add(sum, l4, l4_len);
	c = csum_fold(sum);
	if (proto == IPPROTO_UDP && !c)
		c = 0xffff;
	put16(l4 + off, c);
}

/* An IPv4 header (with opt_len bytes of options) in front of l4; returns the length. */
static size_t build_ipv4(uint8_t *p, uint8_t proto, uint16_t id, const char *src,
			 const char *dst, const uint8_t *opt, size_t opt_len,
			 uint8_t *l4, size_t l4_len)
{
	size_t ihl = 20 + opt_len, len = ihl + l4_len;

	memset(p, 0, ihl);
	p[0] = 0x40 | ihl / 4;
	put16(p + 2, len);
	put16(p + 4, id);
	p[6] = 0x40;			/* DF */
	p[8] = 64;
	p[9] = proto;
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, dst, p + 16);
	memcpy(p + 20, opt, opt_len);
	l4_fill_csum(l4, l4_len, proto, 4, p + 12, p + 16);
	memcpy(p + ihl, l4, l4_len);
	put16(p + 10, csum_fold(csum_add(0, p, ihl)));
	return len;
}

static size_t build_ipv6(uint8_t *p, uint8_t proto, uint32_t flow, const char *src,
			 const char *dst, uint8_t *l4, size_t l4_len)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	p[1] = flow >> 16 & 0x0f;
	put16(p + 2, flow & 0xffff);
	put16(p + 4, l4_len);
	p[6] = proto;
	p[7] = 64;
	inet_pton(AF_INET6, src, p + 8);
	inet_pton(AF_INET6, dst, p + 24);
	l4_fill_csum(l4, l4_len, proto, 6, p + 8, p + 24);
	memcpy(p + 40, l4, l4_len);
	return 40 + l4_len;
}

static size_t build_udp(uint8_t *l4, uint16_t sport, uint16_t dport, const char *payload)
{
	size_t n = strlen(payload);

	put16(l4, sport);
	put16(l4 + 2, dport);
	put16(l4 + 4, 8 + n);
	memcpy(l4 + 8, payload, n);
	return 8 + n;
}

/* TCP with PSH|ACK and a timestamp option (NOP, NOP, TS), like a data segment. */
static size_t build_tcp(uint8_t *l4, uint16_t sport, uint16_t dport, uint32_t seq,
			uint32_t ack, const char *payload)
{
	static const uint8_t opts[12] = { 1, 1, 8, 10, 0x00, 0x0f, 0x42, 0x40,
					  0x00, 0x0f, 0x41, 0xc7 };
	size_t n = strlen(payload);

	memset(l4, 0, 32);
	put16(l4, sport);
	put16(l4 + 2, dport);
	put16(l4 + 4, seq >> 16);
	put16(l4 + 6, seq & 0xffff);
	put16(l4 + 8, ack >> 16);
	put16(l4 + 10, ack & 0xffff);
	l4[12] = 8 << 4;		/* 32-byte header */
	l4[13] = 0x18;			/* PSH, ACK */
	put16(l4 + 14, 502);
	memcpy(l4 + 20, opts, sizeof(opts));
	memcpy(l4 + 32, payload, n);
	return 32 + n;
}

/* A bare 20-byte TCP ACK: its checksum (offset 16) lies in the last partial word. */
static size_t build_tcp_bare(uint8_t *l4, uint16_t sport, uint16_t dport, uint32_t seq,
			     uint32_t ack)
{
	memset(l4, 0, 20);
	put16(l4, sport);
	put16(l4 + 2, dport);
	put16(l4 + 4, seq >> 16);
	put16(l4 + 6, seq & 0xffff);
	put16(l4 + 8, ack >> 16);
	put16(l4 + 10, ack & 0xffff);
	l4[12] = 5 << 4;
	l4[13] = 0x10;			/* ACK */
	put16(l4 + 14, 501);
	return 20;
}

/* GRE (RFC 2784) without checksum, carrying a few bytes: a protocol we do not know. */
static size_t build_gre(uint8_t *l4, const char *payload)
{
	size_t n = strlen(payload);

	put16(l4, 0);
	put16(l4 + 2, 0x6558);
	memcpy(l4 + 4, payload, n);
	return 4 + n;
}

static size_t build_echo(uint8_t *l4, uint8_t type, uint16_t id, uint16_t seq,
			 const char *payload)
{
	size_t n = strlen(payload);

	memset(l4, 0, 8);
	l4[0] = type;
	put16(l4 + 4, id);
	put16(l4 + 6, seq);
	memcpy(l4 + 8, payload, n);
	return 8 + n;
}

static void key_fill(uint8_t *key, uint8_t first, uint8_t step)
{
	int i;

	for (i = 0; i < PG_KEY_LEN; i++)
		key[i] = first + i * step;
}

/* The inputs of the published vectors. Changing them changes the document. */
static int vectors_build(struct vec *v)
{
	static const uint8_t ra_opt[4] = { 0x94, 0x04, 0x00, 0x00 };	/* router alert */
	uint8_t l4[PKT_MAX];
	size_t n;
	int i = 0;

	memset(v, 0, 8 * sizeof(*v));

	n = build_udp(l4, 40000, 5201, "pairgate vector 1");
	v[i].plain_len = build_ipv4(v[i].plain, IPPROTO_UDP, 0x1c46, "198.18.0.1",
				    "198.18.0.2", NULL, 0, l4, n);
	strcpy(v[i].name, "ipv4-udp");
	strcpy(v[i].desc, "IPv4 UDP 198.18.0.1:40000 > 198.18.0.2:5201, 17 B payload");
	key_fill(v[i].key, 0x00, 1);
	v[i].spi = 0x00000101;
	v[i].seq = 1;
	i++;

	n = build_tcp(l4, 5201, 43712, 0x2a2b2c2d, 0x01020304, "GET / HTTP/1.0\r\n\r\n");
	v[i].plain_len = build_ipv4(v[i].plain, IPPROTO_TCP, 0xbeef, "198.18.0.2",
				    "198.18.0.1", NULL, 0, l4, n);
	strcpy(v[i].name, "ipv4-tcp");
	strcpy(v[i].desc, "IPv4 TCP 198.18.0.2:5201 > 198.18.0.1:43712, PSH|ACK, "
			  "TS option, 18 B");
	key_fill(v[i].key, 0xf0, 0xf1);
	v[i].spi = 0x8badf00d;
	v[i].seq = 0x0000000100000000ULL;
	i++;

	n = build_udp(l4, 53000, 53, "an odd-length IPv6 payload");
	v[i].plain_len = build_ipv6(v[i].plain, IPPROTO_UDP, 0x12345, "2001:db8::1",
				    "2001:db8::2", l4, n);
	strcpy(v[i].name, "ipv6-udp");
	strcpy(v[i].desc, "IPv6 UDP [2001:db8::1]:53000 > [2001:db8::2]:53, "
			  "flow 0x12345, 26 B");
	key_fill(v[i].key, 0x00, 1);
	v[i].spi = 0x00000102;
	v[i].seq = 42;
	i++;

	n = build_echo(l4, 8, 0x4d2, 1, "abcdefgh");
	v[i].plain_len = build_ipv4(v[i].plain, IPPROTO_ICMP, 0x0001, "198.18.0.1",
				    "198.18.0.2", NULL, 0, l4, n);
	strcpy(v[i].name, "ipv4-icmp-echo");
	strcpy(v[i].desc, "IPv4 ICMP echo request 198.18.0.1 > 198.18.0.2, "
			  "id 1234 seq 1, 8 B");
	key_fill(v[i].key, 0x00, 1);
	v[i].spi = 0x00000101;
	v[i].seq = 2;
	i++;

	n = build_echo(l4, 128, 0x4d2, 7, "pairgate");
	v[i].plain_len = build_ipv6(v[i].plain, IPPROTO_ICMPV6, 0, "2001:db8::2",
				    "2001:db8::1", l4, n);
	strcpy(v[i].name, "ipv6-icmpv6-echo");
	strcpy(v[i].desc, "IPv6 ICMPv6 echo request 2001:db8::2 > 2001:db8::1, "
			  "id 1234 seq 7, 8 B");
	key_fill(v[i].key, 0x5a, 0x11);
	v[i].spi = 0xfffffffe;
	v[i].seq = 0xfffffffffffffffeULL;
	i++;

	n = build_udp(l4, 40001, 5201, "options");
	v[i].plain_len = build_ipv4(v[i].plain, IPPROTO_UDP, 0x0203, "198.18.0.1",
				    "198.19.255.254", ra_opt, sizeof(ra_opt), l4, n);
	strcpy(v[i].name, "ipv4-udp-options");
	strcpy(v[i].desc, "IPv4 + Router Alert (IHL 6), UDP "
			  "198.18.0.1:40001 > 198.19.255.254:5201, 7 B");
	key_fill(v[i].key, 0x00, 1);
	v[i].spi = 0x00000103;
	v[i].seq = 3;
	i++;

	n = build_tcp_bare(l4, 43712, 5201, 0x01020304, 0x2a2b2c3f);
	v[i].plain_len = build_ipv4(v[i].plain, IPPROTO_TCP, 0xbef0, "198.18.0.1",
				    "198.18.0.2", NULL, 0, l4, n);
	strcpy(v[i].name, "ipv4-tcp-ack");
	strcpy(v[i].desc, "IPv4 TCP 198.18.0.1:43712 > 198.18.0.2:5201, bare ACK "
			  "(checksum in the tail)");
	key_fill(v[i].key, 0x00, 1);
	v[i].spi = 0x00000101;
	v[i].seq = 4;
	i++;

	n = build_gre(l4, "other L4");
	v[i].plain_len = build_ipv4(v[i].plain, IPPROTO_GRE, 0x0204, "198.18.0.1",
				    "198.18.0.2", NULL, 0, l4, n);
	strcpy(v[i].name, "ipv4-gre");
	strcpy(v[i].desc, "IPv4 GRE 198.18.0.1 > 198.18.0.2 (nothing zeroed)");
	key_fill(v[i].key, 0x00, 1);
	v[i].spi = 0x00000101;
	v[i].seq = 5;
	i++;

	return i;
}

/* ---- vectors.txt ---- */

static size_t l3_len(const uint8_t *ip)
{
	return ip[0] >> 4 == 4 ? (size_t)(ip[0] & 15) * 4 : 40;
}

static void hex_print(FILE *f, const char *label, const uint8_t *p, size_t len)
{
	size_t i;

	fprintf(f, "%-7s", label);
	for (i = 0; i < len; i++) {
		if (i && i % HEX_PER_LINE == 0)
			fprintf(f, "\n%-7s", "");
		fprintf(f, "%02x", p[i]);
	}
	fputc('\n', f);
}

static int generate(void)
{
	struct vec v[8];
	int n, i;

	n = vectors_build(v);
	printf("# pairgate shim test vectors: docs/protocol.md, \"Test vectors\".\n"
	       "# Made by `build/tests/test_vectors --generate` with pg_tag_insert();\n"
	       "# checked by `build/tests/test_vectors` (make test). Packets are IP\n"
	       "# packets without a link-layer header, in hex, %d bytes a line.\n",
	       HEX_PER_LINE);
	for (i = 0; i < n; i++) {
		ssize_t len = pg_tag_insert(v[i].key, v[i].spi, v[i].seq, v[i].plain,
					    v[i].plain_len, v[i].tagged, sizeof(v[i].tagged));

		if (len < 0) {
			fprintf(stderr, "pg_tag_insert failed on %s: %s\n", v[i].name,
				strerror((int)-len));
			return 1;
		}
		printf("\nvector %s\n", v[i].name);
		printf("%-7s%s\n", "desc", v[i].desc);
		hex_print(stdout, "key", v[i].key, PG_KEY_LEN);
		printf("%-7s0x%08x\n", "spi", v[i].spi);
		printf("%-7s0x%016llx\n", "seq", (unsigned long long)v[i].seq);
		hex_print(stdout, "plain", v[i].plain, v[i].plain_len);
		hex_print(stdout, "tagged", v[i].tagged, (size_t)len);
		hex_print(stdout, "tag", v[i].tagged + l3_len(v[i].tagged) + PG_SHIM_TAGGED_LEN,
			  PG_TAG_LEN);
	}
	return 0;
}

static int hex_append(uint8_t *buf, size_t *len, size_t cap, const char *s)
{
	unsigned int b;

	for (; *s && *s != '\n'; s += 2) {
		if (*len >= cap || sscanf(s, "%2x", &b) != 1 || !s[1] || s[1] == '\n')
			return -1;
		buf[(*len)++] = b;
	}
	return 0;
}

/* Hex lines: the first after its label, the rest indented under it. */
static int hex_field(struct vec *v, int field, const char *s)
{
	size_t klen = 0;

	switch (field) {
	case 'k':
		return hex_append(v->key, &klen, PG_KEY_LEN, s) || klen != PG_KEY_LEN ? -1 : 0;
	case 't':
		return hex_append(v->tag, &klen, PG_TAG_LEN, s) || klen != PG_TAG_LEN ? -1 : 0;
	case 'p':
		return hex_append(v->plain, &v->plain_len, PKT_MAX, s);
	case 'T':
		return hex_append(v->tagged, &v->tagged_len, PKT_MAX, s);
	}
	return -1;
}

/* One line of vectors.txt; field is the hex field a continuation line extends. */
static int line_parse(struct vec *v, int *n, int max, int *field, char *line)
{
	char word[16], *rest;

	if (line[0] == ' ') {
		rest = line + strspn(line, " ");
		return *n < 0 || (*field != 'p' && *field != 'T') ? -1 :
		       hex_field(&v[*n], *field, rest);
	}
	if (sscanf(line, "%15s", word) != 1)
		return -1;
	rest = line + strlen(word);
	rest += strspn(rest, " ");
	*field = 0;

	if (!strcmp(word, "vector")) {
		if (++*n >= max)
			return -1;
		snprintf(v[*n].name, sizeof(v[*n].name), "%s", rest);
		return 0;
	}
	if (*n < 0)
		return -1;
	v += *n;
	if (!strcmp(word, "desc"))
		snprintf(v->desc, sizeof(v->desc), "%s", rest);
	else if (!strcmp(word, "spi"))
		v->spi = strtoul(rest, NULL, 0);
	else if (!strcmp(word, "seq"))
		v->seq = strtoull(rest, NULL, 0);
	else if (!strcmp(word, "key"))
		*field = 'k';
	else if (!strcmp(word, "tag"))
		*field = 't';
	else if (!strcmp(word, "plain"))
		*field = 'p';
	else if (!strcmp(word, "tagged"))
		*field = 'T';
	else
		return -1;
	return *field ? hex_field(v, *field, rest) : 0;
}

/* Parses vectors.txt; returns the number of vectors or -1 with a message. */
static int vectors_parse(const char *text, struct vec *v, int max, char *err, size_t errlen)
{
	int n = -1, lineno = 0, field = 0;
	const char *p = text;
	char line[512];

	while (*p) {
		size_t l = strcspn(p, "\n");

		snprintf(line, sizeof(line), "%.*s", (int)l, p);
		p += l + (p[l] == '\n');
		lineno++;
		if (!line[0] || line[0] == '#')
			continue;
		if (line_parse(v, &n, max, &field, line)) {
			snprintf(err, errlen, "line %d: cannot parse `%s'", lineno, line);
			return -1;
		}
	}
	return n + 1;
}

/* ---- the tag, from the prose of docs/protocol.md alone ---- */

/*
 * Message: src ‖ dst ‖ be32 L4 length ‖ 0 0 0 ‖ next_proto ‖ shim[0..15] ‖
 * L4 segment with its checksum field zeroed; key as given; SipHash-2-4.
 */
static int spec_tag(const uint8_t *key, const uint8_t *ip, size_t len, uint8_t *tag)
{
	size_t hl = l3_len(ip), alen = ip[0] >> 4 == 4 ? 4 : 16, l4_len, m = 0;
	const uint8_t *shim = ip + hl, *addrs = ip + (alen == 4 ? 12 : 8);
	uint8_t msg[40 + 16 + PKT_MAX];
	int csum = -1;

	if (len < hl + PG_SHIM_LEN)
		return -1;
	l4_len = len - hl - PG_SHIM_LEN;

	memcpy(msg, addrs, 2 * alen);
	m = 2 * alen;
	msg[m++] = l4_len >> 24;
	msg[m++] = l4_len >> 16;
	msg[m++] = l4_len >> 8;
	msg[m++] = l4_len;
	msg[m++] = 0;
	msg[m++] = 0;
	msg[m++] = 0;
	msg[m++] = shim[0];
	memcpy(msg + m, shim, PG_SHIM_TAGGED_LEN);
	m += PG_SHIM_TAGGED_LEN;
	memcpy(msg + m, shim + PG_SHIM_LEN, l4_len);

	if (shim[0] == IPPROTO_TCP)
		csum = 16;
	else if (shim[0] == IPPROTO_UDP)
		csum = 6;
	else if (shim[0] == IPPROTO_ICMP || shim[0] == IPPROTO_ICMPV6)
		csum = 2;
	if (csum >= 0)
		msg[m + csum] = msg[m + csum + 1] = 0;
	m += l4_len;

	return crypto_shorthash_siphash24(tag, msg, m, key);
}

/* The tagged packet must be the plain one with the shim spliced in, per the document. */
static const char *spec_layout(const struct vec *v)
{
	const uint8_t *p = v->plain, *t = v->tagged, *sh;
	size_t hl = l3_len(p);

	if (v->tagged_len != v->plain_len + PG_SHIM_LEN)
		return "tagged length is not plain length + 24";
	if (memcmp(t + hl + PG_SHIM_LEN, p + hl, v->plain_len - hl))
		return "L4 segment differs between plain and tagged";
	sh = t + hl;
	if (sh[0] != (p[0] >> 4 == 4 ? p[9] : p[6]))
		return "next_proto is not the original protocol";
	if (sh[1] != 0x10 || sh[2] || sh[3])
		return "ver_flags is not 0x10 or reserved is not zero";
	if (((uint32_t)sh[4] << 24 | sh[5] << 16 | sh[6] << 8 | sh[7]) != v->spi)
		return "spi field differs from spi";
	if (be64toh(*(const uint64_t *)(sh + 8)) != v->seq)
		return "seq field differs from seq";
	if (memcmp(sh + 16, v->tag, PG_TAG_LEN))
		return "tag field differs from the tag line";

	if (p[0] >> 4 == 4) {
		if (t[9] != PG_IPPROTO_SHIM || (size_t)(t[2] << 8 | t[3]) != v->tagged_len)
			return "IPv4 protocol or total length not rewritten";
		if (csum_fold(csum_add(0, t, hl)))
			return "IPv4 header checksum of the tagged packet is wrong";
		if (memcmp(t, p, 2) || memcmp(t + 4, p + 4, 5) || memcmp(t + 12, p + 12, hl - 12))
			return "IPv4 header changed beyond protocol, length, checksum";
	} else {
		if (t[6] != PG_IPPROTO_SHIM || (size_t)(t[4] << 8 | t[5]) != v->tagged_len - 40)
			return "IPv6 next header or payload length not rewritten";
		if (memcmp(t, p, 4) || t[7] != p[7] || memcmp(t + 8, p + 8, 32))
			return "IPv6 header changed beyond next header, payload length";
	}
	return NULL;
}

/* ---- which bits the tag covers ---- */

enum cover { MUST_COVER, MUST_NOT, EITHER };

/*
 * What docs/protocol.md says is not covered, byte by byte. IPv4 flags and
 * fragment offset are EITHER: a flip there makes a fragment, which the
 * reference tagger may refuse, except for DF, which is left unprotected.
 */
static enum cover expect_cover(const uint8_t *t, size_t i)
{
	size_t hl = l3_len(t);
	uint8_t proto = t[hl];
	int csum = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 :
		   proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 ? 2 : -1;

	if (i >= hl + 16 && i < hl + PG_SHIM_LEN)
		return MUST_NOT;				/* the tag itself */
	if (csum >= 0 && (i == hl + PG_SHIM_LEN + csum || i == hl + PG_SHIM_LEN + csum + 1))
		return MUST_NOT;				/* L4 checksum */
	if (t[0] >> 4 == 4) {
		if (i == 1 || i == 4 || i == 5 || i == 8 || i == 10 || i == 11)
			return MUST_NOT;			/* TOS, ID, TTL, checksum */
		if (i == 6 || i == 7 || (i >= 20 && i < hl))
			return EITHER;				/* flags/offset, options */
		return MUST_COVER;
	}
	if ((i >= 1 && i <= 3) || i == 7)
		return MUST_NOT;			/* traffic class, flow label, hop limit */
	if (i == 0)
		return EITHER;		/* version and traffic class: checked per bit */
	return MUST_COVER;
}

/* True if flipping bit b of byte i leaves a packet pg_tag_compute() accepts with the same tag. */
static bool flip_unnoticed(const struct vec *v, size_t i, int b)
{
	uint8_t pkt[PKT_MAX], tag[PG_TAG_LEN];

	memcpy(pkt, v->tagged, v->tagged_len);
	pkt[i] ^= 1 << b;
	if (pg_tag_compute(v->key, pkt, v->tagged_len, tag))
		return false;
	return !memcmp(tag, v->tag, PG_TAG_LEN);
}

static void check_coverage(const struct vec *v, const char *name)
{
	size_t i;
	int b;

	for (i = 0; i < v->tagged_len; i++) {
		enum cover c = expect_cover(v->tagged, i);
		int unnoticed = 0;

		for (b = 0; b < 8; b++)
			unnoticed += flip_unnoticed(v, i, b);

		/* IPv6 byte 0: the version nibble is covered, the TC nibble is not */
		if (v->tagged[0] >> 4 == 6 && i == 0) {
			if (!flip_unnoticed(v, 0, 0) || flip_unnoticed(v, 0, 4))
				return fail(name, "IPv6 byte 0 coverage is not as documented");
			continue;
		}
		if (c == MUST_COVER && unnoticed)
			return fail(name, "byte %zu: %d bit flip(s) pass with the same tag, "
				    "the document says it is covered", i, unnoticed);
		if (c == MUST_NOT && unnoticed != 8)
			return fail(name, "byte %zu: only %d of 8 bit flips go unnoticed, "
				    "the document says it is not covered", i, unnoticed);
	}
	pass(name);
}

/* ---- the checks ---- */

static void check_vector(const struct vec *v)
{
	uint8_t out[PKT_MAX], tag[PG_TAG_LEN];
	char name[96];
	const char *why;
	ssize_t n;

	snprintf(name, sizeof(name), "vector %s: pg_tag_insert", v->name);
	n = pg_tag_insert(v->key, v->spi, v->seq, v->plain, v->plain_len, out, sizeof(out));
	if (n < 0)
		fail(name, "returned %s", strerror((int)-n));
	else if ((size_t)n != v->tagged_len || memcmp(out, v->tagged, n))
		fail(name, "output differs from the `tagged' bytes");
	else
		pass(name);

	snprintf(name, sizeof(name), "vector %s: layout as documented", v->name);
	why = spec_layout(v);
	if (why)
		fail(name, "%s", why);
	else
		pass(name);

	snprintf(name, sizeof(name), "vector %s: tag from the document's recipe", v->name);
	if (spec_tag(v->key, v->tagged, v->tagged_len, tag) || memcmp(tag, v->tag, PG_TAG_LEN))
		fail(name, "libsodium over the documented message gives another tag");
	else
		pass(name);

	snprintf(name, sizeof(name), "vector %s: pg_tag_compute", v->name);
	if (pg_tag_compute(v->key, v->tagged, v->tagged_len, tag) ||
	    memcmp(tag, v->tag, PG_TAG_LEN))
		fail(name, "tag differs or the packet was refused");
	else
		pass(name);

	snprintf(name, sizeof(name), "vector %s: pg_tag_strip", v->name);
	n = pg_tag_strip(v->tagged, v->tagged_len, out, sizeof(out));
	if (n < 0 || (size_t)n != v->plain_len || memcmp(out, v->plain, n))
		fail(name, "does not give back the `plain' bytes");
	else
		pass(name);

	snprintf(name, sizeof(name), "vector %s: covered fields", v->name);
	check_coverage(v, name);
}

/* ---- the same vectors through the BPF programs ---- */

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

/* Ethernet header (IPv4 or IPv6 by the version nibble) followed by ip. */
static size_t frame_of(uint8_t *f, const uint8_t *ip, size_t len)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 0x0b, 2, 0, 0, 0, 0, 0x0a };

	memcpy(f, macs, sizeof(macs));
	put16(f + 12, ip[0] >> 4 == 4 ? ETH_P_IP : ETH_P_IPV6);
	memcpy(f + ETH_HLEN, ip, len);
	return ETH_HLEN + len;
}

static int prog_run(struct bpf_program *prog, const uint8_t *in, size_t len, uint8_t *out,
		    uint32_t *out_len, uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o,
		.data_in = in,
		.data_size_in = len,
		.data_out = out,
		.data_size_out = PKT_MAX + ETH_HLEN + 64,
	);
	int err;

	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &o);
	*out_len = o.data_size_out;
	*retval = o.retval;
	return err ? -errno : 0;
}

static void addr_of(struct pg_addr *a, const uint8_t *ip, bool src)
{
	memset(a, 0, sizeof(*a));
	a->family = ip[0] >> 4;
	if (a->family == 4)
		memcpy(a->addr, ip + (src ? 12 : 16), 4);
	else
		memcpy(a->addr, ip + (src ? 8 : 24), 16);
}

/* Sum over CPUs of every verdict counter, into c[PG_V_MAX]. */
static void verdicts_read(struct pairgate_bpf *skel, uint64_t *c)
{
	int ncpu = libbpf_num_possible_cpus(), i, k;
	struct pg_counter v[ncpu > 0 ? ncpu : 1];
	uint32_t key;

	for (key = 0; key < PG_V_MAX; key++) {
		c[key] = 0;
		if (ncpu <= 0 || bpf_map__lookup_elem(skel->maps.pg_stats, &key, sizeof(key), v,
						      sizeof(v), 0))
			continue;
		for (i = 0, k = key; i < ncpu; i++)
			c[k] += v[i].packets;
	}
}

/* The verdict whose counter moved since before[], for a failure message. */
static int verdict_moved(struct pairgate_bpf *skel, const uint64_t *before)
{
	uint64_t now[PG_V_MAX];
	int i;

	verdicts_read(skel, now);
	for (i = 0; i < PG_V_MAX; i++)
		if (now[i] != before[i])
			return i;
	return -1;
}

/* Sets the SPI's bit in pg_spi_filter, as adding an inbound SA must. */
static int spi_filter_mark(struct pairgate_bpf *skel, uint32_t spi)
{
	struct pg_spi_filter *f = calloc(1, sizeof(*f));
	uint32_t zero = 0;
	int err = -ENOMEM;

	if (!f)
		return err;
	err = bpf_map__lookup_elem(skel->maps.pg_spi_filter, &zero, sizeof(zero), f,
				   sizeof(*f), 0);
	if (!err) {
		f->words[(spi / 64) % (PG_SPI_FILTER_BITS / 64)] |= 1ULL << (spi % 64);
		err = bpf_map__update_elem(skel->maps.pg_spi_filter, &zero, sizeof(zero), f,
					   sizeof(*f), 0);
	}
	free(f);
	return err ? -errno : 0;
}

/* The tagged vector, with an SA for it installed fresh, must verify and strip to plain. */
static void check_xdp(struct pairgate_bpf *skel, const struct vec *v)
{
	uint8_t in[PKT_MAX + ETH_HLEN], out[PKT_MAX + ETH_HLEN + 64], want[PKT_MAX + ETH_HLEN];
	struct pg_sa_in sa = { .slot = 0 };
	uint32_t olen, ret, spi = v->spi;
	uint64_t before[PG_V_MAX];
	size_t ilen, wlen;
	char name[96];
	int err;

	snprintf(name, sizeof(name), "vector %s: pg_xdp_ingress verifies and strips", v->name);
	memcpy(sa.key, v->key, PG_KEY_LEN);
	addr_of(&sa.peer, v->tagged, true);
	err = spi_filter_mark(skel, spi);
	if (err)
		return fail(name, "marking the SPI in pg_spi_filter: %s", strerror(-err));
	if (bpf_map__update_elem(skel->maps.pg_sa_in, &spi, sizeof(spi), &sa, sizeof(sa), 0))
		return fail(name, "adding the inbound SA: %s", strerror(errno));

	ilen = frame_of(in, v->tagged, v->tagged_len);
	wlen = frame_of(want, v->plain, v->plain_len);
	verdicts_read(skel, before);
	err = prog_run(skel->progs.pg_xdp_ingress, in, ilen, out, &olen, &ret);
	if (err)
		fail(name, "BPF_PROG_TEST_RUN: %s", strerror(-err));
	else if (ret != XDP_PASS)
		fail(name, "verdict %u, not XDP_PASS (pairgate counted it as verdict %d, "
		     "enum pg_verdict)", ret, verdict_moved(skel, before));
	else if (olen != wlen || memcmp(out, want, wlen))
		fail(name, "the stripped frame differs from the `plain' bytes");
	else
		pass(name);
}

/* The plain vector through the tagger, with seq set up, must come out as the tagged one. */
static void check_tc(struct pairgate_bpf *skel, const struct vec *v)
{
	uint8_t in[PKT_MAX + ETH_HLEN], out[PKT_MAX + ETH_HLEN + 64], want[PKT_MAX + ETH_HLEN];
	struct pg_sa_out sa = { .spi = v->spi, .slot = PG_MAX_SA, .seq = v->seq - 1 };
	struct pg_addr dst;
	uint32_t olen, ret;
	size_t ilen, wlen;
	char name[96];
	int err;

	snprintf(name, sizeof(name), "vector %s: pg_tc_tagger output", v->name);
	memcpy(sa.key, v->key, PG_KEY_LEN);
	addr_of(&dst, v->plain, false);
	if (bpf_map__update_elem(skel->maps.pg_sa_out, &dst, sizeof(dst), &sa, sizeof(sa), 0))
		return fail(name, "adding the outbound SA: %s", strerror(errno));

	ilen = frame_of(in, v->plain, v->plain_len);
	wlen = frame_of(want, v->tagged, v->tagged_len);
	err = prog_run(skel->progs.pg_tc_tagger, in, ilen, out, &olen, &ret);
	if (err)
		fail(name, "BPF_PROG_TEST_RUN: %s", strerror(-err));
	else if (ret != TC_ACT_REDIRECT)
		fail(name, "verdict %u, not TC_ACT_REDIRECT", ret);
	else if (olen != wlen || memcmp(out + ETH_HLEN, want + ETH_HLEN, wlen - ETH_HLEN))
		fail(name, "the tagged frame differs from the `tagged' bytes");
	else
		pass(name);
}

static void check_bpf(const struct vec *v, int n)
{
	struct pg_config cfg = { .egress_ifindex = 1 };
	struct pairgate_bpf *skel;
	uint32_t zero = 0;
	int i, err;

	libbpf_set_print(libbpf_quiet);
	skel = pairgate_bpf__open_and_load();
	err = -errno;
	if (!skel && geteuid() != 0) {
		for (i = 0; i < n; i++)
			printf("SKIP vector %s: BPF programs: not root\n", v[i].name);
		return;
	}
	if (!skel)
		return fail("vector BPF programs", "cannot load pairgate.bpf.o: %s", strerror(-err));
	if (bpf_map__update_elem(skel->maps.pg_config, &zero, sizeof(zero), &cfg, sizeof(cfg), 0))
		fail("vector BPF programs", "setting pg_config: %s", strerror(errno));

	for (i = 0; i < n; i++) {
		check_xdp(skel, &v[i]);
		check_tc(skel, &v[i]);
	}
	pairgate_bpf__destroy(skel);
}

static char *file_read(const char *path)
{
	char *buf = NULL;
	long len;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto out;
	buf = calloc(1, len + 1);
	if (buf && fread(buf, 1, len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
out:
	fclose(f);
	return buf;
}

/* The source tree: $PG_SRCDIR, else two levels above build/tests/, else ".". */
static void srcdir_find(char *dir, size_t len)
{
	const char *env = getenv("PG_SRCDIR");
	char exe[PATH_MAX], probe[PATH_MAX + 32], *slash;
	ssize_t n;
	int up;

	if (env) {
		snprintf(dir, len, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		for (up = 0; up < 3 && (slash = strrchr(exe, '/')); up++)
			*slash = 0;
		snprintf(probe, sizeof(probe), "%s/tests/data/vectors.txt", exe);
		if (!access(probe, R_OK)) {
			snprintf(dir, len, "%s", exe);
			return;
		}
	}
	snprintf(dir, len, ".");
}

/* The doc must quote vectors.txt verbatim between the two markers. */
static void check_doc(const char *doc, const char *data)
{
	const char *name = "docs/protocol.md quotes tests/data/vectors.txt";
	const char *b, *e;

	if (!doc)
		return fail(name, "cannot read docs/protocol.md");
	b = strstr(doc, DOC_BEGIN);
	e = b ? strstr(b, DOC_END) : NULL;
	if (!b || !e)
		return fail(name, "markers %s ... %s not found", DOC_BEGIN, DOC_END);
	b = strstr(b, "```\n");
	if (!b || b > e)
		return fail(name, "no code fence after %s", DOC_BEGIN);
	b += 4;
	if ((size_t)(e - b) != strlen(data) + 4 || strncmp(b, data, e - b - 4) ||
	    strncmp(e - 4, "```\n", 4))
		return fail(name, "the block differs; paste tests/data/vectors.txt into it");
	pass(name);
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], err[600];
	char *data, *doc;
	struct vec v[16];
	int n, i;

	if (sodium_init() < 0) {
		printf("FAIL sodium_init: libsodium cannot start\n");
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "--generate"))
		return generate();

	srcdir_find(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/tests/data/vectors.txt", dir);
	data = file_read(path);
	if (!data) {
		printf("FAIL vectors.txt: cannot read `%s'\n", path);
		return 1;
	}
	memset(v, 0, sizeof(v));
	n = vectors_parse(data, v, 16, err, sizeof(err));
	if (n < 4) {
		printf("FAIL vectors.txt: %s\n", n < 0 ? err : "fewer than 4 vectors");
		return 1;
	}
	pass("vectors.txt parses");

	for (i = 0; i < n; i++)
		check_vector(&v[i]);
	check_bpf(v, n);

	snprintf(path, sizeof(path), "%s/docs/protocol.md", dir);
	doc = file_read(path);
	check_doc(doc, data);

	free(doc);
	free(data);
	return failures ? 1 : 0;
}
