/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The tag computation shared by the XDP verifier and the TC tagger. Both see
 * the packet with the shim in place; the caller has checked the headers.
 */
#ifndef PG_TAG_H
#define PG_TAG_H

#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>

#include "pairgate.h"
#include "siphash.h"

/* Where the parts of a shim packet are, as offsets from the frame start. */
struct pg_pkt {
	__u32 l3_off;
	__u32 shim_off;
	__u32 l4_off;
	__u32 l4_len;
	__u8 family;		/* 4 or 6 */
	__u8 proto;		/* the original protocol (shim next_proto) */
};

/* Which L4 word holds the checksum, and the mask that zeroes it. */
static __always_inline void pg_csum_skip(__u8 proto, __u32 *word, __u64 *mask)
{
	switch (proto) {
	case IPPROTO_TCP:
		*word = 2;	/* offset 16, bytes 0..1 of word 2 */
		*mask = ~0xffffULL;
		break;
	case IPPROTO_UDP:
		*word = 0;	/* offset 6 */
		*mask = ~(0xffffULL << 48);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		*word = 0;	/* offset 2 */
		*mask = ~(0xffffULL << 16);
		break;
	default:
		*word = 0xffffffff;
		*mask = ~0ULL;
	}
}

/* Shortest L4 segment that still holds the checksum field in a whole word. */
static __always_inline __u32 pg_l4_min_len(__u8 proto)
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

static __always_inline __u64 pg_pseudo_tail(__u32 l4_len, __u8 proto)
{
	/* be32 length, three zero bytes, protocol; read little-endian */
	return (__u64)bpf_htonl(l4_len) | (__u64)proto << 56;
}

/*
 * The hash of the L4 segment is the long loop; it runs in a global function
 * (PG_DEFINE_TAG_L4) so the verifier checks it once, not once per path that
 * leads to it. The job carries the state across the call.
 */
struct pg_tag_job {
	struct siphash_state s;
	__u64 skip_mask;
	__u64 last;
	__u32 off;
	__u32 len;
	__u32 skip_word;
	__u32 msg_len;
};

/* Absorbs the pseudo-header and the shim, and sets up the L4 part of job. */
static __always_inline int pg_tag_begin(void *data, void *data_end, const struct pg_pkt *pk,
					const __u64 *key, struct pg_tag_job *job)
{
	__u32 prefix;
	__u64 *w;

	sip_init(&job->s, key[0], key[1]);

	if (pk->family == 4) {
		struct iphdr *ip = data + (pk->l3_off & 0xff);

		if ((void *)(ip + 1) > data_end)
			return -1;
		w = (__u64 *)&ip->saddr;	/* saddr and daddr, adjacent */
		sip_absorb(&job->s, w[0]);
		prefix = PG_PSEUDO4_LEN;
	} else {
		struct ipv6hdr *ip6 = data + (pk->l3_off & 0xff);

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		w = (__u64 *)&ip6->saddr;
		sip_absorb(&job->s, w[0]);
		sip_absorb(&job->s, w[1]);
		sip_absorb(&job->s, w[2]);
		sip_absorb(&job->s, w[3]);
		prefix = PG_PSEUDO6_LEN;
	}
	sip_absorb(&job->s, pg_pseudo_tail(pk->l4_len, pk->proto));

	w = data + (pk->shim_off & 0xff);
	if ((void *)(w + 2) > data_end)
		return -1;
	sip_absorb(&job->s, w[0]);
	sip_absorb(&job->s, w[1]);

	pg_csum_skip(pk->proto, &job->skip_word, &job->skip_mask);
	job->off = pk->l4_off;
	job->len = pk->l4_len;
	job->msg_len = prefix + PG_SHIM_TAGGED_LEN + pk->l4_len;
	return 0;
}

#define PG_DEFINE_TAG_L4(name, ctx_type)					\
__attribute__((noinline)) int name(ctx_type *ctx, struct pg_tag_job *job)	\
{										\
	void *data = (void *)(long)ctx->data;					\
	void *data_end = (void *)(long)ctx->data_end;				\
										\
	if (!job)								\
		return -1;							\
	return sip_absorb_pkt(&job->s, data, data_end, job->off, job->len,	\
			      job->skip_word, job->skip_mask, job->msg_len,	\
			      &job->last);					\
}

/* The same over a copy of the L4 segment in a buffer (see sip_absorb_buf). */
#define PG_DEFINE_TAG_L4_BUF(name)						\
__attribute__((noinline)) int name(struct pg_tag_job *job, struct sip_buf *buf)	\
{										\
	if (!job || !buf)							\
		return -1;							\
	return sip_absorb_buf(&job->s, buf, job->len, job->skip_word,		\
			      job->skip_mask, job->msg_len, &job->last);	\
}

static __always_inline __u64 pg_tag_end(struct pg_tag_job *job)
{
	return sip_final(&job->s, job->last);
}

/* RFC 1624 incremental update of a 16-bit one's complement checksum. */
static __always_inline void pg_csum_replace16(__u16 *sum, __u16 old, __u16 new)
{
	__u32 c = (__u16)~*sum;

	c += (__u16)~old;
	c += new;
	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	*sum = ~c;
}

#endif /* PG_TAG_H */
