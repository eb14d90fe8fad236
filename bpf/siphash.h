/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SipHash-2-4 for BPF programs, fed one 64-bit little-endian word at a time,
 * so a message can be assembled from a stack prefix and packet bytes.
 */
#ifndef PG_SIPHASH_H
#define PG_SIPHASH_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/*
 * Message words are loaded straight from packet memory, which is SipHash's
 * little-endian order only on little-endian machines.
 */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pairgate's BPF SipHash assumes a little-endian target"
#endif

/* Largest offset of hashed packet data: Ethernet, VLAN, IPv4 with options, shim. */
#define PG_MAX_HASH_OFF 255

struct siphash_state {
	__u64 v0, v1, v2, v3;
};

#define SIP_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static __always_inline void sip_round(struct siphash_state *s)
{
	s->v0 += s->v1;
	s->v1 = SIP_ROTL(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = SIP_ROTL(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = SIP_ROTL(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = SIP_ROTL(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = SIP_ROTL(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = SIP_ROTL(s->v2, 32);
}

static __always_inline void sip_init(struct siphash_state *s, __u64 k0, __u64 k1)
{
	s->v0 = k0 ^ 0x736f6d6570736575ULL;
	s->v1 = k1 ^ 0x646f72616e646f6dULL;
	s->v2 = k0 ^ 0x6c7967656e657261ULL;
	s->v3 = k1 ^ 0x7465646279746573ULL;
}

static __always_inline void sip_absorb(struct siphash_state *s, __u64 m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

/* last: the final partial word with the total message length in its top byte */
static __always_inline __u64 sip_final(struct siphash_state *s, __u64 last)
{
	sip_absorb(s, last);
	s->v2 ^= 0xff;
	sip_round(s);
	sip_round(s);
	sip_round(s);
	sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/*
 * Absorbs len bytes of packet data starting at off, in whole words, and
 * returns the final word (tail bytes plus total message length msg_len).
 * The word at index skip_word (0, 1 or 2; anything else masks nothing) is
 * ANDed with skip_mask first: the L4 checksum is not covered. Returns 0
 * with *last set, -1 if the packet is shorter than off + len or len is
 * past the bound.
 */
static __always_inline int sip_absorb_pkt(struct siphash_state *state, void *data,
					  void *data_end, __u32 off, __u32 len,
					  __u32 skip_word, __u64 skip_mask,
					  __u64 msg_len, __u64 *last)
{
	/*
	 * A local copy: clang cannot keep *state in registers across packet
	 * loads that might alias it, and a round trip through memory per
	 * round costs more than the hash itself.
	 */
	struct siphash_state local = *state, *s = &local;
	__u32 words = len / 8, tail = len & 7, i;
	__u64 b = msg_len << 56, t = 0;
	__u8 *p;

	/* small bounds keep every pointer below the verifier's packet offset limit */
	if (len > PG_MAX_L4_LEN || off > PG_MAX_HASH_OFF)
		return -1;

	/*
	 * The word to mask is one of the first three (TCP's checksum is at
	 * offset 16), so only they are compared with skip_word: a compare in
	 * the long loop would fork the verifier's walk at every word.
	 */
	p = data + off;
	for (i = 0; i < 3; i++) {
		__u64 m;

		if (i >= words)
			break;
		/* keep clang from folding the bound check into pointer math */
		asm volatile("" : "+r"(p));
		if ((void *)(p + 8) > data_end)
			return -1;
		m = *(__u64 *)p;
		if (i == skip_word)
			m &= skip_mask;
		sip_absorb(s, m);
		p += 8;
	}
	for (i = 3; i < PG_MAX_L4_LEN / 8; i++) {
		if (i >= words)
			break;
		asm volatile("" : "+r"(p));
		if ((void *)(p + 8) > data_end)
			return -1;
		sip_absorb(s, *(__u64 *)p);
		p += 8;
	}

	for (i = 0; i < 7; i++) {
		if (i >= tail)
			break;
		asm volatile("" : "+r"(p));
		if ((void *)(p + 1) > data_end)
			return -1;
		t |= (__u64)*p << (8 * i);
		p++;
	}
	/* a short TCP segment has its checksum in the tail */
	if (words == skip_word)
		t &= skip_mask;

	*state = local;
	*last = b | t;
	return 0;
}

/* A buffer for sip_absorb_buf: whole words past any tail stay in bounds. */
struct sip_buf {
	__u8 b[PG_MAX_L4_LEN + 16];
};

/*
 * sip_absorb_pkt() over a copy of the bytes in a buffer: for socket buffers
 * whose payload sits in page fragments, where copying beats linearising.
 */
static __always_inline int sip_absorb_buf(struct siphash_state *state, const struct sip_buf *buf,
					  __u32 len, __u32 skip_word, __u64 skip_mask,
					  __u64 msg_len, __u64 *last)
{
	struct siphash_state local = *state, *s = &local;
	__u32 words = len / 8, tail = len & 7, i;
	__u64 b = msg_len << 56, t = 0;

	if (len > PG_MAX_L4_LEN)
		return -1;

	for (i = 0; i < 3; i++) {
		__u64 m;

		if (i >= words)
			break;
		m = *(const __u64 *)&buf->b[i * 8];
		if (i == skip_word)
			m &= skip_mask;
		sip_absorb(s, m);
	}
	for (i = 3; i < PG_MAX_L4_LEN / 8; i++) {
		if (i >= words)
			break;
		sip_absorb(s, *(const __u64 *)&buf->b[i * 8]);
	}

	/* the bytes past len are not part of the message */
	t = *(const __u64 *)&buf->b[(words * 8) & 0x7ff];
	t &= tail ? ~0ULL >> (64 - 8 * tail) : 0;
	if (words == skip_word)
		t &= skip_mask;

	*state = local;
	*last = b | t;
	return 0;
}

#endif /* PG_SIPHASH_H */
