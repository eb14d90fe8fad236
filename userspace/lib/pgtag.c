// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reference tagger: builds the tagged message in a buffer and hands it to
 * libsodium's SipHash-2-4, so it shares no code with the BPF programs it is
 * used to check.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>

#include "pairgate.h"
#include "pgtag.h"

#define IP4_MIN_HLEN	20
#define IP6_HLEN	40

/* The parts of an IP packet that the tag needs. */
struct ip_view {
	int family;
	size_t hlen;		/* IP header length, options included */
	const uint8_t *src, *dst;
	size_t addr_len;
	uint8_t proto;		/* protocol field of the IP header */
	size_t payload_len;	/* bytes after the IP header per the length field */
};

static int ip_view_parse(const uint8_t *p, size_t len, struct ip_view *v)
{
	if (len < 1)
		return -EINVAL;

	if (p[0] >> 4 == 4) {
		size_t tot;

		if (len < IP4_MIN_HLEN)
			return -EINVAL;
		v->family = 4;
		v->hlen = (p[0] & 0x0f) * 4;
		tot = (size_t)p[2] << 8 | p[3];
		if (v->hlen < IP4_MIN_HLEN || tot < v->hlen || tot > len)
			return -EINVAL;
		if ((p[6] & 0x3f) || p[7])
			return -EINVAL;		/* fragments are never tagged */
		v->src = p + 12;
		v->dst = p + 16;
		v->addr_len = 4;
		v->proto = p[9];
		v->payload_len = tot - v->hlen;
		return 0;
	}
	if (p[0] >> 4 == 6) {
		if (len < IP6_HLEN)
			return -EINVAL;
		v->family = 6;
		v->hlen = IP6_HLEN;
		v->src = p + 8;
		v->dst = p + 24;
		v->addr_len = 16;
		v->proto = p[6];
		v->payload_len = (size_t)p[4] << 8 | p[5];
		if (IP6_HLEN + v->payload_len > len)
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

/* Offset of the L4 checksum field, or -1 if the protocol has none we skip. */
static int l4_csum_offset(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 16;
	case IPPROTO_UDP:
		return 6;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 2;
	default:
		return -1;
	}
}

static size_t l4_min_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 8;
	default:
		return 0;
	}
}

/*
 * Tag over: pseudo-header, shim bytes 0..15, then l4 (with its checksum
 * field zeroed). shim points at a full 24-byte shim.
 */
static int tag_message(const uint8_t key[PG_KEY_LEN], const struct ip_view *v,
		       const uint8_t *shim, const uint8_t *l4, size_t l4_len,
		       uint8_t tag[8])
{
	uint8_t msg[2 * 16 + PG_PSEUDO_TAIL_LEN + PG_SHIM_TAGGED_LEN + 65536];
	uint8_t proto = shim[0];
	size_t n = 0;
	int csum;

	if (l4_len > 65535 || l4_len < l4_min_len(proto))
		return -EINVAL;

	memcpy(msg + n, v->src, v->addr_len);
	n += v->addr_len;
	memcpy(msg + n, v->dst, v->addr_len);
	n += v->addr_len;
	msg[n++] = l4_len >> 24;
	msg[n++] = l4_len >> 16;
	msg[n++] = l4_len >> 8;
	msg[n++] = l4_len;
	msg[n++] = 0;
	msg[n++] = 0;
	msg[n++] = 0;
	msg[n++] = proto;

	memcpy(msg + n, shim, PG_SHIM_TAGGED_LEN);
	n += PG_SHIM_TAGGED_LEN;

	memcpy(msg + n, l4, l4_len);
	csum = l4_csum_offset(proto);
	if (csum >= 0) {
		msg[n + csum] = 0;
		msg[n + csum + 1] = 0;
	}
	n += l4_len;

	return crypto_shorthash_siphash24(tag, msg, n, key) ? -EINVAL : 0;
}

int pg_tag_compute(const uint8_t key[PG_KEY_LEN], const void *ip, size_t len,
		   uint8_t tag[8])
{
	const uint8_t *p = ip, *shim;
	struct ip_view v;

	if (ip_view_parse(p, len, &v) || v.proto != PG_IPPROTO_SHIM ||
	    v.payload_len < PG_SHIM_LEN)
		return -EINVAL;

	shim = p + v.hlen;
	return tag_message(key, &v, shim, shim + PG_SHIM_LEN,
			   v.payload_len - PG_SHIM_LEN, tag);
}

uint16_t pg_ip_checksum(const void *hdr, size_t len)
{
	const uint8_t *p = hdr;
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum & 0xffff);
}

/* Rewrites protocol and length fields of the IP header at out after a resize. */
static void ip_header_set(uint8_t *out, const struct ip_view *v, uint8_t proto,
			  size_t payload_len)
{
	uint16_t csum;

	if (v->family == 4) {
		size_t tot = v->hlen + payload_len;

		out[2] = tot >> 8;
		out[3] = tot;
		out[9] = proto;
		out[10] = 0;
		out[11] = 0;
		csum = pg_ip_checksum(out, v->hlen);
		memcpy(out + 10, &csum, 2);
	} else {
		out[4] = payload_len >> 8;
		out[5] = payload_len;
		out[6] = proto;
	}
}

ssize_t pg_tag_insert(const uint8_t key[PG_KEY_LEN], uint32_t spi, uint64_t seq,
		      const void *ip, size_t len, void *out, size_t out_cap)
{
	const uint8_t *p = ip;
	uint8_t *o = out, *shim;
	struct ip_view v;
	size_t tagged_len;
	int i;

	if (ip_view_parse(p, len, &v) || v.proto == PG_IPPROTO_SHIM || !spi || !seq)
		return -EINVAL;
	tagged_len = v.hlen + PG_SHIM_LEN + v.payload_len;
	if (tagged_len > 65535)
		return -EINVAL;
	if (out_cap < tagged_len)
		return -ENOSPC;

	memcpy(o, p, v.hlen);
	shim = o + v.hlen;
	memset(shim, 0, PG_SHIM_LEN);
	shim[0] = v.proto;
	shim[1] = PG_SHIM_VERSION << PG_VER_SHIFT;
	for (i = 0; i < 4; i++)
		shim[4 + i] = spi >> (24 - 8 * i);
	for (i = 0; i < 8; i++)
		shim[8 + i] = seq >> (56 - 8 * i);
	memcpy(shim + PG_SHIM_LEN, p + v.hlen, v.payload_len);
	ip_header_set(o, &v, PG_IPPROTO_SHIM, PG_SHIM_LEN + v.payload_len);

	if (tag_message(key, &v, shim, shim + PG_SHIM_LEN, v.payload_len, shim + 16))
		return -EINVAL;
	return tagged_len;
}

ssize_t pg_tag_strip(const void *ip, size_t len, void *out, size_t out_cap)
{
	const uint8_t *p = ip;
	uint8_t *o = out;
	struct ip_view v;
	size_t plain_len;

	if (ip_view_parse(p, len, &v) || v.proto != PG_IPPROTO_SHIM ||
	    v.payload_len < PG_SHIM_LEN)
		return -EINVAL;
	plain_len = v.hlen + v.payload_len - PG_SHIM_LEN;
	if (out_cap < plain_len)
		return -ENOSPC;

	memcpy(o, p, v.hlen);
	memcpy(o + v.hlen, p + v.hlen + PG_SHIM_LEN, v.payload_len - PG_SHIM_LEN);
	ip_header_set(o, &v, p[v.hlen], v.payload_len - PG_SHIM_LEN);
	return plain_len;
}
