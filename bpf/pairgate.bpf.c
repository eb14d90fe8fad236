// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pairgate data plane: the XDP ingress verifier and the TC egress tagger.
 *
 * Ingress drops every IP packet that is not tagged by a paired peer (or
 * exempted), verifies, replay-checks and strips the shim of the rest. Egress
 * runs at TC ingress of the helper veth end pgt<N>: the kernel has already
 * segmented GSO packets when it sent them into the pair, so every packet here
 * is one wire packet; it gets a shim and a tag and is redirected to the NIC.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "pairgate.h"
#include "siphash.h"
#include "tag.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PG_MAX_SA);
	__type(key, __u32);
	__type(value, struct pg_sa_in);
} pg_sa_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PG_MAX_SA);
	__type(key, struct pg_addr);
	__type(value, struct pg_sa_out);
} pg_sa_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_spi_filter);
} pg_spi_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * PG_MAX_SA);
	__type(key, __u32);
	__type(value, struct pg_counter);
} pg_sa_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_V_MAX);
	__type(key, __u32);
	__type(value, struct pg_counter);
} pg_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PG_MAX_ALLOW);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_allow_key);
	__type(value, __u32);
} pg_allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_allow_hint);
} pg_allow_hint SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_config);
} pg_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, PG_MAX_FLOWS);
	__type(key, struct pg_flow_key);
	__type(value, struct pg_flow);
} pg_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct pg_flow_cache);
} pg_flow_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, PG_MAX_UNPAIRED_SRC);
	__type(key, struct pg_src_key);
	__type(value, struct pg_src);
} pg_srcs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PG_DROP_RB_SIZE);
} pg_drop_rb SEC(".maps");

struct drop_budget {
	__u64 window_ns;
	__u32 used;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_budget);
} pg_drop_budget SEC(".maps");

/* Handshake admission: GCRA per source (theoretical arrival time, ns). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PG_MAX_HS_SOURCES);
	__type(key, struct pg_addr);
	__type(value, __u64);
} pg_hs_limit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_budget);
} pg_hs_budget SEC(".maps");

/* Per-CPU scratch space for moving headers: the stack is too small for it. */
#define PG_SCRATCH_LEN	128

struct scratch {
	__u8 buf[PG_SCRATCH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} pg_scratch SEC(".maps");

#define READ_ONCE(x)	(*(volatile typeof(x) *)&(x))

#define VLAN_HLEN	4
#define IP_MF		0x2000
#define IP_OFFSET	0x1fff

/* Ethernet, one VLAN tag, an IPv4 header with full options. */
#define PG_MAX_HDR	(ETH_HLEN + VLAN_HLEN + 60)

/* ICMP and ICMPv6 share the first 8 bytes' layout; linux/icmp.h drags in libc. */
struct icmp_hdr {
	__u8 type;
	__u8 code;
	__be16 check;
	__be32 rest;
};

#define ICMP_DEST_UNREACH	3
#define ICMP_FRAG_NEEDED	4
#define ICMPV6_PKT_TOOBIG	2

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* Returns this CPU's count of the verdict so far. */
static __always_inline __u64 count(__u32 verdict, __u64 bytes)
{
	struct pg_counter *c = bpf_map_lookup_elem(&pg_stats, &verdict);

	/* per-CPU slot: no other CPU writes it, so no atomics are needed */
	if (!c)
		return 0;
	c->bytes += bytes;
	return ++c->packets;
}

static __always_inline void count_sa(__u32 slot, __u64 bytes)
{
	struct pg_counter *c = bpf_map_lookup_elem(&pg_sa_stats, &slot);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline struct pg_config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pg_config, &zero);
}

#ifndef PG_NO_FLOWS
struct src_tick {
	__u64 start_ns;
	__u32 recorded;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct src_tick);
} pg_src_tick SEC(".maps");

/*
 * How many drops this one stands for in pg_srcs: 1, PG_SRC_SAMPLE, or 0 to
 * skip it. In the sampled regime a skipped drop costs one array load; the
 * clock is read only for drops that get recorded.
 */
static __always_inline __u32 src_weight(__u64 seen, __u64 *now)
{
	__u32 zero = 0, weight;
	struct src_tick *t;

	t = bpf_map_lookup_elem(&pg_src_tick, &zero);
	if (!t)
		return 0;

	if (t->recorded >= PG_SRC_EXACT_PER_TICK && seen % PG_SRC_SAMPLE)
		return 0;
	/* sampled, this one stands for the ones skipped before it, tick over or not */
	weight = t->recorded >= PG_SRC_EXACT_PER_TICK ? PG_SRC_SAMPLE : 1;

	*now = bpf_ktime_get_coarse_ns();
	if (*now - t->start_ns >= PG_SRC_TICK_NS) {
		t->start_ns = *now;
		t->recorded = 0;
	}
	if (weight == 1)
		t->recorded++;
	return weight;
}

/* Remembers who is being dropped, so `pairgate flows` can show the top sources. */
static __always_inline void src_record(const struct pg_src_key *key, __u32 verdict,
				       __u64 bytes, __u64 seen)
{
	__u32 weight;
	struct pg_src *v;
	__u64 now = 0;

	weight = src_weight(seen, &now);
	if (!weight)
		return;
	v = bpf_map_lookup_elem(&pg_srcs, key);
	if (!v) {
		struct pg_src init = { .first_ns = now };

		bpf_map_update_elem(&pg_srcs, key, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&pg_srcs, key);
		if (!v)
			return;
	}
	v->packets += weight;
	v->bytes += bytes * weight;
	v->last_ns = now;
	v->reason = verdict;
	if (weight > 1)
		v->sampled = 1;
}

/*
 * Copies the first bytes of a dropped frame to the ring buffer while a reader
 * asked for it, within a per-CPU budget per second; when the ring is full the
 * sample is lost, never the CPU's time.
 */
static __always_inline void drop_sample(struct xdp_md *ctx, __u32 verdict)
{
	struct pg_config *cfg = config_get();
	struct pg_drop_event *ev;
	struct drop_budget *b;
	__u32 zero = 0, len, cap, limit;
	volatile __u32 snap;
	__u64 now;

	if (!cfg || !cfg->drop_sample_until_ns)
		return;
	now = bpf_ktime_get_ns();
	if (now > cfg->drop_sample_until_ns)
		return;
	if (cfg->drop_reason_mask && !(cfg->drop_reason_mask & (1U << (verdict & 31))))
		return;

	b = bpf_map_lookup_elem(&pg_drop_budget, &zero);
	if (!b)
		return;
	if (now - b->window_ns >= 1000000000ULL) {
		b->window_ns = now;
		b->used = 0;
	}
	limit = cfg->drop_sample_per_sec ?: PG_DROP_SAMPLE_DEFAULT;
	if (b->used >= limit)
		return;
	b->used++;

	ev = bpf_ringbuf_reserve(&pg_drop_rb, sizeof(*ev), 0);
	if (!ev)
		return;
	len = ctx->data_end - ctx->data;
	/* a fresh load, so clang cannot hand the helper the unclamped len */
	snap = len;
	cap = snap;
	if (cap > PG_DROP_SNAPLEN)
		cap = PG_DROP_SNAPLEN;
	ev->ts_ns = now;
	ev->reason = verdict;
	ev->pkt_len = len;
	ev->cap_len = 0;
	if (cap > 0 && !bpf_xdp_load_bytes(ctx, 0, ev->data, cap))
		ev->cap_len = cap;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
}
#else
static __always_inline void src_record(const struct pg_src_key *key, __u32 verdict,
				       __u64 bytes, __u64 seen)
{
}

static __always_inline void drop_sample(struct xdp_md *ctx, __u32 verdict)
{
}
#endif /* PG_NO_FLOWS */

/* Counts the verdict; for drops also the source (when parsed) and a sample. */
static __always_inline int xdp_verdict(struct xdp_md *ctx, __u32 verdict,
				       const struct pg_src_key *src)
{
	__u64 len = ctx->data_end - ctx->data, seen;

	seen = count(verdict, len);
	if (verdict == PG_V_VERIFIED || verdict == PG_V_EXEMPT)
		return XDP_PASS;
	if (src)
		src_record(src, verdict, len, seen);
	drop_sample(ctx, verdict);
	return XDP_DROP;
}

/*
 * Anti-replay, RFC 6479: a ring of 64-bit blocks; the block of max_seq and
 * the PG_REPLAY_WORDS - 1 blocks before it are valid. The lockless check runs
 * before the tag so that replays and stale packets cost no hashing; the
 * locked update runs after it, and repeats the check, because another CPU
 * may have accepted the same sequence number in between.
 */
static __always_inline __u32 replay_precheck(const struct pg_sa_in *sa, __u64 seq)
{
	__u64 max = READ_ONCE(sa->max_seq);
	__u64 word, bit = 1ULL << (seq & 63);

	if (seq > max)
		return PG_V_VERIFIED;
	if (max - seq >= PG_REPLAY_WINDOW)
		return PG_V_TOO_OLD;
	word = READ_ONCE(sa->bitmap[(seq >> 6) & (PG_REPLAY_WORDS - 1)]);
	return word & bit ? PG_V_REPLAY : PG_V_VERIFIED;
}

static __always_inline __u32 replay_window_update(struct pg_sa_in *sa, __u64 seq)
{
	__u64 bit = 1ULL << (seq & 63), *word;
	__u32 verdict = PG_V_VERIFIED, i;

	bpf_spin_lock(&sa->lock);
	if (seq > sa->max_seq) {
		__u64 cur = sa->max_seq >> 6, diff = (seq >> 6) - cur;

		if (diff > PG_REPLAY_WORDS)
			diff = PG_REPLAY_WORDS;
		for (i = 1; i <= PG_REPLAY_WORDS; i++) {
			if (i > diff)
				break;
			sa->bitmap[(cur + i) & (PG_REPLAY_WORDS - 1)] = 0;
		}
		sa->max_seq = seq;
	} else if (sa->max_seq - seq >= PG_REPLAY_WINDOW) {
		verdict = PG_V_TOO_OLD;
		goto out;
	}

	word = &sa->bitmap[(seq >> 6) & (PG_REPLAY_WORDS - 1)];
	if (*word & bit)
		verdict = PG_V_REPLAY;
	else
		*word |= bit;
out:
	bpf_spin_unlock(&sa->lock);
	return verdict;
}

/* SAs from the daemon expire, so a dead daemon's peers fade out: fail closed. */
static __always_inline int sa_expired(__u64 expires_ns, __u64 now)
{
	return expires_ns && now > expires_ns;
}

static __always_inline int addr_equal(const struct pg_addr *a, const void *addr, __u8 family)
{
	const __u32 *x = (const __u32 *)a->addr, *y = addr;

	if (a->family != family)
		return 0;
	if (family == 4)
		return x[0] == y[0];
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* Puts the original protocol and lengths back into the IP header at ip. */
static __always_inline void ip_header_restore(void *ip, __u8 family, __u8 proto)
{
	if (family == 4) {
		struct iphdr *ip4 = ip;
		__u16 old_len = ip4->tot_len;
		__u16 old_proto = *(__u16 *)&ip4->ttl;

		ip4->protocol = proto;
		ip4->tot_len = bpf_htons(bpf_ntohs(ip4->tot_len) - PG_SHIM_LEN);
		pg_csum_replace16(&ip4->check, old_len, ip4->tot_len);
		pg_csum_replace16(&ip4->check, old_proto, *(__u16 *)&ip4->ttl);
	} else {
		struct ipv6hdr *ip6 = ip;

		ip6->nexthdr = proto;
		ip6->payload_len = bpf_htons(bpf_ntohs(ip6->payload_len) - PG_SHIM_LEN);
	}
}

/*
 * Option-less headers, the common case: the headers are moved up in place.
 * hlen and l3_off are constants here, so the move is a few word copies.
 */
static __always_inline int shim_strip_fixed(struct xdp_md *ctx, __u32 hlen, __u32 l3_off,
					    __u8 family, __u8 proto)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;

	if (data + hlen + PG_SHIM_LEN > data_end)
		return -1;
	__builtin_memmove(data + PG_SHIM_LEN, data, hlen);
	ip_header_restore(data + PG_SHIM_LEN + l3_off, family, proto);
	return bpf_xdp_adjust_head(ctx, PG_SHIM_LEN) ? -1 : 0;
}

/* Any header length (IPv4 options), through a per-CPU scratch buffer. */
static __always_inline int shim_strip_any(struct xdp_md *ctx, const struct pg_pkt *pk)
{
	__u32 zero = 0, hlen = pk->shim_off & (PG_SCRATCH_LEN - 1);
	struct scratch *sc = bpf_map_lookup_elem(&pg_scratch, &zero);
	__u8 *hdr;

	if (!sc || hlen > PG_MAX_HDR || hlen < ETH_HLEN + sizeof(struct iphdr))
		return -1;
	hdr = sc->buf;
	if (bpf_xdp_load_bytes(ctx, 0, hdr, hlen))
		return -1;
	ip_header_restore(hdr + (pk->l3_off == ETH_HLEN ? ETH_HLEN : ETH_HLEN + VLAN_HLEN),
			  pk->family, pk->proto);
	if (bpf_xdp_adjust_head(ctx, PG_SHIM_LEN))
		return -1;
	return bpf_xdp_store_bytes(ctx, 0, hdr, hlen) ? -1 : 0;
}

/*
 * Removes the shim: the Ethernet and IP headers move up by PG_SHIM_LEN with
 * the original protocol and lengths put back, so the stack sees exactly the
 * packet the peer's application sent.
 */
static __always_inline int shim_strip(struct xdp_md *ctx, const struct pg_pkt *pk)
{
	__u32 iph = pk->family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);

	if (pk->shim_off != pk->l3_off + iph)
		return shim_strip_any(ctx, pk);		/* IPv4 options */
	if (pk->l3_off == ETH_HLEN) {
		if (pk->family == 4)
			return shim_strip_fixed(ctx, ETH_HLEN + 20, ETH_HLEN, 4, pk->proto);
		return shim_strip_fixed(ctx, ETH_HLEN + 40, ETH_HLEN, 6, pk->proto);
	}
	if (pk->family == 4)
		return shim_strip_fixed(ctx, ETH_HLEN + VLAN_HLEN + 20, ETH_HLEN + VLAN_HLEN, 4,
					pk->proto);
	return shim_strip_fixed(ctx, ETH_HLEN + VLAN_HLEN + 40, ETH_HLEN + VLAN_HLEN, 6,
				pk->proto);
}

#ifndef PG_NO_FLOWS
/* The inner 5-tuple of a shim packet, addresses from the IP header. */
static __always_inline void flow_key_fill(void *data, void *data_end, const struct pg_pkt *pk,
					  __u8 dir, struct pg_flow_key *k)
{
	__be16 *ports = data + (pk->l4_off & 0x1ff);

	k->family = pk->family;
	k->proto = pk->proto;
	k->dir = dir;
	if (pk->family == 4) {
		struct iphdr *ip = data + (pk->l3_off & 0xff);

		if ((void *)(ip + 1) > data_end)
			return;
		__builtin_memcpy(k->saddr, &ip->saddr, 4);
		__builtin_memcpy(k->daddr, &ip->daddr, 4);
	} else {
		struct ipv6hdr *ip6 = data + (pk->l3_off & 0xff);

		if ((void *)(ip6 + 1) > data_end)
			return;
		__builtin_memcpy(k->saddr, &ip6->saddr, 16);
		__builtin_memcpy(k->daddr, &ip6->daddr, 16);
	}
	if (pk->proto != IPPROTO_TCP && pk->proto != IPPROTO_UDP && pk->proto != IPPROTO_SCTP)
		return;
	if ((void *)(ports + 2) > data_end)
		return;
	k->sport = ports[0];
	k->dport = ports[1];
}

/* Adds a cached flow's counts to its pg_flows entry. */
static __always_inline void flow_flush(const struct pg_flow_cache *c)
{
	struct pg_flow *v = bpf_map_lookup_elem(&pg_flows, &c->key);
	int i;

	if (!v) {
		bpf_map_update_elem(&pg_flows, &c->key, &c->flow, BPF_NOEXIST);
		return;
	}
	v->packets += c->flow.packets;
	v->bytes += c->flow.bytes;
	v->last_ns = c->flow.last_ns;
	v->spi = c->flow.spi;
	if (!v->first_ns)
		v->first_ns = c->flow.first_ns;
	for (i = 0; i < PG_V_MAX; i++)
		v->drops[i] += c->flow.drops[i];
}

static __always_inline int flow_key_equal(const struct pg_flow_key *a,
					  const struct pg_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

static __always_inline void flow_record(void *data, void *data_end, const struct pg_pkt *pk,
					__u8 dir, __u32 spi, __u64 bytes, __u64 now)
{
	struct pg_flow_key k = {};
	struct pg_flow_cache *c;
	__u32 idx = dir & 1;

	c = bpf_map_lookup_elem(&pg_flow_cache, &idx);
	if (!c)
		return;
	flow_key_fill(data, data_end, pk, dir, &k);

	if (!c->valid || !flow_key_equal(&c->key, &k)) {
		if (c->valid)
			flow_flush(c);
		c->key = k;
		__builtin_memset(&c->flow, 0, sizeof(c->flow));
		c->flow.first_ns = now;
		c->flow.spi = spi;
		c->valid = 1;
		/*
		 * Make the flow known in pg_flows at once: a drop of one of its
		 * packets on another CPU, whose cache holds another flow, is
		 * charged there (flow_drop).
		 */
		bpf_map_update_elem(&pg_flows, &k, &c->flow, BPF_NOEXIST);
	}
	c->flow.packets++;
	c->flow.bytes += bytes;
	c->flow.last_ns = now;
	c->flow.spi = spi;
}

/* A drop on a paired SA counts against its flow, if the flow is known. */
static __always_inline void flow_drop(void *data, void *data_end, const struct pg_pkt *pk,
				      __u32 verdict)
{
	struct pg_flow_key k = {};
	struct pg_flow_cache *c;
	__u32 idx = PG_DIR_IN;
	struct pg_flow *v;

	if (verdict >= PG_V_MAX)
		return;
	flow_key_fill(data, data_end, pk, PG_DIR_IN, &k);
	c = bpf_map_lookup_elem(&pg_flow_cache, &idx);
	if (c && c->valid && flow_key_equal(&c->key, &k)) {
		c->flow.drops[verdict]++;
		return;
	}
	v = bpf_map_lookup_elem(&pg_flows, &k);
	if (v)
		v->drops[verdict]++;
}
#else
static __always_inline void flow_record(void *data, void *data_end, const struct pg_pkt *pk,
					__u8 dir, __u32 spi, __u64 bytes, __u64 now)
{
}

static __always_inline void flow_drop(void *data, void *data_end, const struct pg_pkt *pk,
				      __u32 verdict)
{
}
#endif /* PG_NO_FLOWS */

PG_DEFINE_TAG_L4(pg_tag_l4_xdp, struct xdp_md)

/* A drop after the SA matched: also charged to the paired flow. */
static __always_inline int sa_drop(struct xdp_md *ctx, const struct pg_pkt *pk, __u32 verdict,
				   const struct pg_src_key *src)
{
	flow_drop((void *)(long)ctx->data, (void *)(long)ctx->data_end, pk, verdict);
	return xdp_verdict(ctx, verdict, src);
}

/*
 * Global (noinline, non-static) functions are verified once on their own
 * instead of once per path that reaches them, which keeps the program well
 * inside the verifier's budget. Their pointer arguments may be NULL to the
 * verifier, hence the checks.
 */
__attribute__((noinline)) int shim_verify(struct xdp_md *ctx, struct pg_pkt *pk,
					  struct pg_src_key *src)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u64 frame_len = data_end - data, seq, tag, now;
	struct pg_tag_job job;
	struct pg_sa_in *sa;
	struct pg_shim *sh;
	__u32 spi, verdict;

	if (!pk || !src)
		return XDP_DROP;
	if (pk->l3_off != ETH_HLEN && pk->l3_off != ETH_HLEN + VLAN_HLEN)
		return xdp_verdict(ctx, PG_V_MALFORMED, src);
	sh = data + (pk->shim_off & 0xff);
	if ((void *)(sh + 1) > data_end)
		return xdp_verdict(ctx, PG_V_MALFORMED, src);
	if (sh->ver_flags >> PG_VER_SHIFT != PG_SHIM_VERSION || sh->reserved)
		return xdp_verdict(ctx, PG_V_MALFORMED, src);

	spi = bpf_ntohl(sh->spi);
	sa = bpf_map_lookup_elem(&pg_sa_in, &spi);
	if (!sa || !addr_equal(&sa->peer, src->saddr, pk->family))
		return xdp_verdict(ctx, PG_V_UNPAIRED, src);
	/* one clock read per packet, for the expiry and the flow record */
	now = bpf_ktime_get_coarse_ns();
	if (sa_expired(sa->expires_ns, now))
		return xdp_verdict(ctx, PG_V_UNPAIRED, src);

	pk->proto = sh->next_proto;
	seq = bpf_be64_to_cpu(sh->seq);
	if (!seq)
		return xdp_verdict(ctx, PG_V_MALFORMED, src);
	verdict = replay_precheck(sa, seq);
	if (verdict != PG_V_VERIFIED)
		return sa_drop(ctx, pk, verdict, src);

	/* the sealed (AEAD) variant is decoded by the userspace heavy path */
	if (sh->ver_flags & PG_FLAG_SEALED || pk->l4_len > PG_MAX_L4_LEN)
		return xdp_verdict(ctx, PG_V_UNVERIFIABLE, src);
	if (pk->l4_len < pg_l4_min_len(pk->proto) || pk->proto == PG_IPPROTO_SHIM)
		return xdp_verdict(ctx, PG_V_MALFORMED, src);

	if (pg_tag_begin(data, data_end, pk, sa->key, &job) || pg_tag_l4_xdp(ctx, &job))
		return xdp_verdict(ctx, PG_V_MALFORMED, src);
	tag = pg_tag_end(&job);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	sh = data + (pk->shim_off & 0xff);
	if ((void *)(sh + 1) > data_end)
		return xdp_verdict(ctx, PG_V_MALFORMED, src);
	if (tag != *(__u64 *)sh->tag)
		return sa_drop(ctx, pk, PG_V_BAD_TAG, src);

	verdict = replay_window_update(sa, seq);
	if (verdict != PG_V_VERIFIED)
		return sa_drop(ctx, pk, verdict, src);

	count_sa(sa->slot, frame_len);
	flow_record(data, data_end, pk, PG_DIR_IN, spi, frame_len, now);
	if (shim_strip(ctx, pk))
		return xdp_verdict(ctx, PG_V_MALFORMED, src);
	count(PG_V_VERIFIED, frame_len);
	return XDP_PASS;
}

/*
 * A handshake to the daemon's port: admitted within a per-source rate (GCRA,
 * so a burst is allowed but not a stream) and a per-CPU total, so a spoofed
 * flood reaches the daemon at a bounded rate whatever its sources.
 */
static __always_inline int hs_admit(const struct pg_src_key *src)
{
	struct pg_config *cfg = config_get();
	struct pg_addr who = { .family = src->family };
	__u64 now, interval, tat, *state;
	struct drop_budget *b;
	__u32 zero = 0, rate;

	if (!cfg || !cfg->hs_port || src->dport != cfg->hs_port)
		return 0;
	now = bpf_ktime_get_ns();

	b = bpf_map_lookup_elem(&pg_hs_budget, &zero);
	if (!b)
		return 0;
	if (now - b->window_ns >= 1000000000ULL) {
		b->window_ns = now;
		b->used = 0;
	}
	if (b->used >= (cfg->hs_total_per_sec ?: PG_HS_TOTAL_DEFAULT))
		return 0;

	rate = cfg->hs_per_sec ?: PG_HS_RATE_DEFAULT;
	interval = 1000000000ULL / rate;
	__builtin_memcpy(who.addr, src->saddr, 16);
	state = bpf_map_lookup_elem(&pg_hs_limit, &who);
	tat = state ? *state : 0;
	if (tat < now)
		tat = now;
	if (tat - now > (cfg->hs_burst ?: PG_HS_BURST_DEFAULT) * interval)
		return 0;
	tat += interval;
	if (state)
		*state = tat;
	else
		bpf_map_update_elem(&pg_hs_limit, &who, &tat, BPF_ANY);
	b->used++;
	return 1;
}

/* Exemption lookup: exact port first, then the any-port rule. */
static __always_inline int hint_class(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return PG_HINT_TCP;
	case IPPROTO_UDP:
		return PG_HINT_UDP;
	case IPPROTO_SCTP:
		return PG_HINT_SCTP;
	default:
		return -1;
	}
}

/* Whether a rule for this port could exist, from pg_allow_hint. */
static __always_inline int hint_port(const struct pg_allow_hint *h, __u8 proto, __be16 port)
{
	int cls = hint_class(proto);
	__u16 p = bpf_ntohs(port);

	if (cls < 0 || !(h->proto[proto] & PG_HINT_PORTS))
		return 0;
	return !!(h->ports[cls & 3][(p / 64) & 1023] & (1ULL << (p % 64)));
}

static __always_inline int allow_match(__u8 family, __u8 proto, __be16 port,
				       const void *saddr)
{
	struct pg_allow_key key = {
		.prefixlen = PG_ALLOW_FIXED_BITS + (family == 4 ? 32 : 128),
		.family = family,
		.proto = proto,
		.port = port,
	};
	struct pg_allow_hint *h;
	__u32 zero = 0;
	int any_port;

	h = bpf_map_lookup_elem(&pg_allow_hint, &zero);
	if (!h)
		return 0;
	any_port = h->proto[proto] & PG_HINT_ANY_PORT;
	if (!any_port && !hint_port(h, proto, port))
		return 0;

	__builtin_memcpy(key.addr, saddr, 16);
	if (family == 4)
		__builtin_memset(key.addr + 4, 0, 12);

	if (port && hint_port(h, proto, port) && bpf_map_lookup_elem(&pg_allow, &key))
		return 1;
	if (!any_port)
		return 0;
	key.port = 0;
	return bpf_map_lookup_elem(&pg_allow, &key) != NULL;
}

/* Destination port of a TCP, UDP or SCTP header at off, 0 for others. */
static __always_inline int l4_dport(void *data, void *data_end, __u32 off, __u8 proto,
				    __be16 *port)
{
	__be16 *ports = data + (off & 0x1ff);

	*port = 0;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP)
		return 0;
	if ((void *)(ports + 2) > data_end)
		return -1;
	*port = ports[1];
	return 0;
}

/*
 * An ICMP error about a packet we sent to a paired peer: the quote must name
 * a destination with an outbound SA and carry that SA's SPI. Passing these
 * keeps path MTU discovery working, as IPsec does.
 */
static __always_inline int pmtu_quote_paired(void *data, void *data_end, __u32 off,
					     __u8 family)
{
	struct pg_addr dst = { .family = family };
	struct pg_sa_out *sa;
	struct pg_shim *sh;

	if (family == 4) {
		struct iphdr *ip = data + (off & 0x1ff);

		if ((void *)(ip + 1) > data_end || ip->protocol != PG_IPPROTO_SHIM ||
		    ip->ihl < 5)
			return 0;
		__builtin_memcpy(dst.addr, &ip->daddr, 4);
		sh = (void *)ip + ((ip->ihl * 4) & 0x3c);
	} else {
		struct ipv6hdr *ip6 = data + (off & 0x1ff);

		if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != PG_IPPROTO_SHIM)
			return 0;
		__builtin_memcpy(dst.addr, &ip6->daddr, 16);
		sh = (void *)(ip6 + 1);
	}
	if ((void *)sh + 8 > data_end)
		return 0;

	sa = bpf_map_lookup_elem(&pg_sa_out, &dst);
	return sa && sa->spi == bpf_ntohl(sh->spi);
}

static __always_inline int icmp_pmtu_error(void *data, void *data_end, __u32 off, __u8 family)
{
	struct pg_config *cfg = config_get();
	struct icmp_hdr *ic = data + (off & 0x1ff);

	if (!cfg || cfg->flags & PG_CFG_NO_PMTU_PASS)
		return 0;
	if ((void *)(ic + 1) > data_end)
		return 0;
	if (family == 4)
		return ic->type == ICMP_DEST_UNREACH && ic->code == ICMP_FRAG_NEEDED;
	return ic->type == ICMPV6_PKT_TOOBIG;
}

/* One's complement sum of the 24 shim bytes, folded to 16 bits. */
static __always_inline __u16 shim_sum16(const __u16 *w)
{
	__u32 sum = 0;
	int i;

	for (i = 0; i < PG_SHIM_LEN / 2; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/*
 * The stack would ignore an error that quotes protocol 253, so the quote is
 * rewritten to what our application sent: shim removed, protocol and lengths
 * restored, and the reported MTU lowered by the shim, since that is what the
 * application may send now. Only option-less outer and quoted headers are
 * handled (routers do not add options to ICMP, and we never send them), so
 * every offset here is a constant for the verifier.
 */
#define PMTU_HDR_MAX	(ETH_HLEN + VLAN_HLEN + 40 + 8 + 40)

/* Sets a 16-bit field inside the ICMP message and keeps its checksum right. */
static __always_inline void icmp_field_set(__u16 *check, __u16 *field, __u16 val)
{
	pg_csum_replace16(check, *field, val);
	*field = val;
}

static __always_inline int pmtu_quote_strip(struct xdp_md *ctx, __u32 l3_off, __u8 family)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 iph = family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	__u32 icmp_off = l3_off + iph, q_off = icmp_off + 8, hlen = q_off + iph;
	__u16 shim_sum, *mtu, old;
	__u8 hdr[PMTU_HDR_MAX];
	struct icmp_hdr *ic;
	__u8 next_proto;

	/* the whole quoted shim and the ports after it must be there */
	if (data + hlen + PG_SHIM_LEN + 8 > data_end)
		return -1;
	next_proto = *(__u8 *)(data + hlen);
	shim_sum = shim_sum16(data + hlen);
	if (bpf_xdp_load_bytes(ctx, 0, hdr, hlen))
		return -1;
	ic = (void *)hdr + icmp_off;
	mtu = (__u16 *)&ic->rest + 1;	/* IPv4: bytes 6-7; IPv6: low half of 4-7 */

	if (family == 4) {
		struct iphdr *outer = (void *)hdr + l3_off, *q = (void *)hdr + q_off;
		__u16 q_check;

		if (outer->ihl != 5 || q->ihl != 5)
			return -1;
		old = outer->tot_len;
		outer->tot_len = bpf_htons(bpf_ntohs(old) - PG_SHIM_LEN);
		pg_csum_replace16(&outer->check, old, outer->tot_len);

		q_check = q->check;
		old = q->tot_len;
		icmp_field_set(&ic->check, &q->tot_len, bpf_htons(bpf_ntohs(old) - PG_SHIM_LEN));
		pg_csum_replace16(&q_check, old, q->tot_len);
		old = *(__u16 *)&q->ttl;
		q->protocol = next_proto;
		pg_csum_replace16(&q_check, old, *(__u16 *)&q->ttl);
		pg_csum_replace16(&ic->check, old, *(__u16 *)&q->ttl);
		icmp_field_set(&ic->check, &q->check, q_check);
	} else {
		struct ipv6hdr *outer = (void *)hdr + l3_off, *q = (void *)hdr + q_off;

		/* the ICMPv6 pseudo-header carries the message length */
		old = outer->payload_len;
		icmp_field_set(&ic->check, &outer->payload_len,
			       bpf_htons(bpf_ntohs(old) - PG_SHIM_LEN));
		old = q->payload_len;
		icmp_field_set(&ic->check, &q->payload_len,
			       bpf_htons(bpf_ntohs(old) - PG_SHIM_LEN));
		old = *(__u16 *)&q->nexthdr;
		q->nexthdr = next_proto;
		pg_csum_replace16(&ic->check, old, *(__u16 *)&q->nexthdr);
	}

	/* an MTU of 0 comes from pre-RFC 1191 routers; the stack guesses then */
	if (bpf_ntohs(*mtu) > PG_SHIM_LEN)
		icmp_field_set(&ic->check, mtu, bpf_htons(bpf_ntohs(*mtu) - PG_SHIM_LEN));
	pg_csum_replace16(&ic->check, shim_sum, 0);

	if (bpf_xdp_adjust_head(ctx, PG_SHIM_LEN))
		return -1;
	return bpf_xdp_store_bytes(ctx, 0, hdr, hlen) ? -1 : 0;
}

/* IPv6 neighbour discovery: RS, RA, NS, NA, only from on-link (hop limit 255). */
static __always_inline int is_ndisc(void *data, void *data_end, struct ipv6hdr *ip6, __u32 off)
{
	struct icmp_hdr *ic = data + (off & 0x1ff);

	if (ip6->nexthdr != IPPROTO_ICMPV6 || ip6->hop_limit != 255)
		return 0;
	if ((void *)(ic + 1) > data_end)
		return 0;
	return ic->type >= 133 && ic->type <= 136;
}

static __always_inline int pmtu_pass(struct xdp_md *ctx, __u32 l3_off, __u32 l4_off,
				     __u8 family)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u64 frame_len = data_end - data;
	int err;

	if (!icmp_pmtu_error(data, data_end, l4_off, family) ||
	    !pmtu_quote_paired(data, data_end, l4_off + 8, family))
		return 0;

	/* constant offsets for the verifier: without and with a VLAN tag */
	if (l3_off == ETH_HLEN)
		err = pmtu_quote_strip(ctx, ETH_HLEN, family);
	else
		err = pmtu_quote_strip(ctx, ETH_HLEN + VLAN_HLEN, family);
	if (err)
		return 0;
	count(PG_V_EXEMPT, frame_len);
	return 1;
}

/*
 * An MLD query from an on-link router (link-local source, hop limit 1, behind
 * a hop-by-hop header). Switches that snoop MLD stop forwarding our
 * solicited-node multicast, and so neighbour discovery, to a host that never
 * hears queries and so never answers them.
 */
static __always_inline int is_mld_query(void *data, void *data_end, struct ipv6hdr *ip6,
					__u32 off)
{
	__u8 *hbh = data + (off & 0x1ff);
	struct icmp_hdr *ic;

	if (ip6->nexthdr != 0 || ip6->hop_limit != 1 || ip6->saddr.in6_u.u6_addr8[0] != 0xfe ||
	    (ip6->saddr.in6_u.u6_addr8[1] & 0xc0) != 0x80)
		return 0;
	if ((void *)(hbh + 2) > data_end || hbh[0] != IPPROTO_ICMPV6)
		return 0;
	ic = (void *)hbh + (((__u32)hbh[1] + 1) * 8 & 0x7f8);
	if ((void *)(ic + 1) > data_end)
		return 0;
	return ic->type == 130;
}

__attribute__((noinline)) int unshimmed(struct xdp_md *ctx, __u32 l3_off, __u32 l4_off,
					struct pg_src_key *src)
{
	void *data, *data_end;
	__u8 proto;

	if (!src)
		return XDP_DROP;
	if (l3_off != ETH_HLEN && l3_off != ETH_HLEN + VLAN_HLEN)
		return xdp_verdict(ctx, PG_V_MALFORMED, src);
	l4_off &= 0x1ff;
	proto = src->proto;

	if ((proto == IPPROTO_ICMP && src->family == 4) ||
	    (proto == IPPROTO_ICMPV6 && src->family == 6)) {
		if (pmtu_pass(ctx, l3_off, l4_off, src->family))
			return XDP_PASS;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (l4_dport(data, data_end, l4_off, proto, &src->dport))
		return xdp_verdict(ctx, PG_V_MALFORMED, src);
	if (proto == IPPROTO_UDP && hs_admit(src))
		return xdp_verdict(ctx, PG_V_EXEMPT, src);
	if (allow_match(src->family, proto, src->dport, src->saddr))
		return xdp_verdict(ctx, PG_V_EXEMPT, src);
	return xdp_verdict(ctx, PG_V_UNPAIRED, src);
}

/* 0 if no inbound SA can have the shim's SPI (see struct pg_spi_filter). */
static __always_inline int spi_maybe_known(void *data, void *data_end, __u32 shim_off)
{
	struct pg_shim *sh = data + (shim_off & 0xff);
	struct pg_spi_filter *f;
	__u32 zero = 0, spi;

	if ((void *)(sh + 1) > data_end)
		return 1;	/* shim_verify counts it as malformed */
	f = bpf_map_lookup_elem(&pg_spi_filter, &zero);
	if (!f)
		return 1;
	spi = bpf_ntohl(sh->spi);
	return !!(f->words[(spi / 64) % (PG_SPI_FILTER_BITS / 64)] & (1ULL << (spi % 64)));
}

static __always_inline int ingress_ipv4(struct xdp_md *ctx, __u32 l3_off)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct pg_pkt pk = { .family = 4, .l3_off = l3_off };
	struct pg_src_key src = { .family = 4 };
	struct iphdr *ip = data + l3_off;
	__u32 ihl, tot_len;

	if ((void *)(ip + 1) > data_end)
		return xdp_verdict(ctx, PG_V_MALFORMED, NULL);
	__builtin_memcpy(src.saddr, &ip->saddr, 4);
	src.proto = ip->protocol;

	ihl = ip->ihl * 4;
	tot_len = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || ihl < sizeof(*ip) || tot_len < ihl ||
	    data + l3_off + tot_len > data_end)
		return xdp_verdict(ctx, PG_V_MALFORMED, &src);
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return xdp_verdict(ctx, PG_V_UNVERIFIABLE, &src);

	pk.shim_off = l3_off + ihl;
	if (ip->protocol != PG_IPPROTO_SHIM)
		return unshimmed(ctx, l3_off, pk.shim_off, &src);

	if (tot_len < ihl + PG_SHIM_LEN)
		return xdp_verdict(ctx, PG_V_MALFORMED, &src);
	if (!spi_maybe_known(data, data_end, pk.shim_off))
		return xdp_verdict(ctx, PG_V_UNPAIRED, &src);
	pk.l4_off = pk.shim_off + PG_SHIM_LEN;
	pk.l4_len = tot_len - ihl - PG_SHIM_LEN;
	return shim_verify(ctx, &pk, &src);
}

static __always_inline int ingress_ipv6(struct xdp_md *ctx, __u32 l3_off)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct pg_pkt pk = { .family = 6, .l3_off = l3_off };
	struct pg_src_key src = { .family = 6 };
	struct ipv6hdr *ip6 = data + l3_off;
	__u32 payload_len;

	if ((void *)(ip6 + 1) > data_end)
		return xdp_verdict(ctx, PG_V_MALFORMED, NULL);
	__builtin_memcpy(src.saddr, &ip6->saddr, 16);
	src.proto = ip6->nexthdr;

	payload_len = bpf_ntohs(ip6->payload_len);
	if (ip6->version != 6 || (void *)(ip6 + 1) + payload_len > data_end)
		return xdp_verdict(ctx, PG_V_MALFORMED, &src);
	if (ip6->nexthdr == IPPROTO_FRAGMENT)
		return xdp_verdict(ctx, PG_V_UNVERIFIABLE, &src);

	pk.shim_off = l3_off + sizeof(*ip6);
	if (ip6->nexthdr != PG_IPPROTO_SHIM) {
		if (is_ndisc(data, data_end, ip6, pk.shim_off) ||
		    is_mld_query(data, data_end, ip6, pk.shim_off))
			return xdp_verdict(ctx, PG_V_EXEMPT, &src);
		return unshimmed(ctx, l3_off, pk.shim_off, &src);
	}

	if (payload_len < PG_SHIM_LEN)
		return xdp_verdict(ctx, PG_V_MALFORMED, &src);
	if (!spi_maybe_known(data, data_end, pk.shim_off))
		return xdp_verdict(ctx, PG_V_UNPAIRED, &src);
	pk.l4_off = pk.shim_off + PG_SHIM_LEN;
	pk.l4_len = payload_len - PG_SHIM_LEN;
	return shim_verify(ctx, &pk, &src);
}

SEC("xdp")
int pg_xdp_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 l3_off = ETH_HLEN;
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return xdp_verdict(ctx, PG_V_MALFORMED, NULL);
	proto = eth->h_proto;

	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > data_end)
			return xdp_verdict(ctx, PG_V_MALFORMED, NULL);
		proto = vh->encap_proto;
		l3_off += VLAN_HLEN;
	}

	if (proto == bpf_htons(ETH_P_IP))
		return ingress_ipv4(ctx, l3_off);
	if (proto == bpf_htons(ETH_P_IPV6))
		return ingress_ipv6(ctx, l3_off);
	if (proto == bpf_htons(ETH_P_ARP))
		return xdp_verdict(ctx, PG_V_EXEMPT, NULL);
	/* other ethertypes (a second VLAN tag included) cannot come from a peer */
	return xdp_verdict(ctx, PG_V_UNPAIRED, NULL);
}

/* ---- egress ---- */

PG_DEFINE_TAG_L4_BUF(pg_tag_l4_buf)

/* Where the tagger copies the L4 segment to hash it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sip_buf);
} pg_tag_buf SEC(".maps");

/*
 * The linear part the tagger works on: Ethernet, IPv4 with options and the
 * L4 ports. The payload may stay in page fragments: it is copied out for
 * the hash, which is far cheaper than linearising the socket buffer.
 */
#define PG_TC_PULL	(ETH_HLEN + 60 + 8)

static __always_inline int tc_drop(struct __sk_buff *skb, __u32 verdict)
{
	count(verdict, skb->len);
	return TC_ACT_SHOT;
}

static __always_inline int is_multicast(const struct pg_addr *a)
{
	if (a->family == 4)
		return a->addr[0] >= 224 || (a->addr[0] == 255);
	return a->addr[0] == 0xff;
}

/*
 * Writes the shim into the gap that bpf_skb_adjust_room() opened after the
 * fixed IP header. IPv4 options, if any, were pushed behind the gap and are
 * moved back in front of it first.
 */
static __always_inline int shim_insert(struct __sk_buff *skb, struct pg_pkt *pk,
				       const struct pg_sa_out *sa, __u64 seq)
{
	struct pg_shim sh = {
		.next_proto = pk->proto,
		.ver_flags = PG_SHIM_VERSION << PG_VER_SHIFT,
		.spi = bpf_htonl(sa->spi),
		.seq = bpf_cpu_to_be64(seq),
	};
	__u32 opt_len = pk->shim_off - pk->l3_off - sizeof(struct iphdr);

	if (bpf_skb_adjust_room(skb, PG_SHIM_LEN, BPF_ADJ_ROOM_NET, 0))
		return -1;

	if (pk->family == 4 && opt_len) {
		__u8 opts[40];

		if (opt_len > sizeof(opts))
			return -1;
		if (bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(struct iphdr) + PG_SHIM_LEN,
				       opts, opt_len))
			return -1;
		if (bpf_skb_store_bytes(skb, ETH_HLEN + sizeof(struct iphdr), opts, opt_len, 0))
			return -1;
	}
	return bpf_skb_store_bytes(skb, pk->shim_off, &sh, sizeof(sh), 0) ? -1 : 0;
}

static __always_inline int ip_header_fixup(struct __sk_buff *skb, struct pg_pkt *pk)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;

	if (pk->family == 4) {
		struct iphdr *ip = data + ETH_HLEN;
		__u16 old_len, old_proto;

		if ((void *)(ip + 1) > data_end)
			return -1;
		old_len = ip->tot_len;
		old_proto = *(__u16 *)&ip->ttl;
		ip->protocol = PG_IPPROTO_SHIM;
		ip->tot_len = bpf_htons(bpf_ntohs(ip->tot_len) + PG_SHIM_LEN);
		pg_csum_replace16(&ip->check, old_len, ip->tot_len);
		pg_csum_replace16(&ip->check, old_proto, *(__u16 *)&ip->ttl);
	} else {
		struct ipv6hdr *ip6 = data + ETH_HLEN;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		ip6->nexthdr = PG_IPPROTO_SHIM;
		ip6->payload_len = bpf_htons(bpf_ntohs(ip6->payload_len) + PG_SHIM_LEN);
	}
	return 0;
}

static __always_inline int tag_store(struct __sk_buff *skb, struct pg_pkt *pk,
				     const struct pg_sa_out *sa)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct pg_tag_job job;
	struct pg_shim *sh;

	struct sip_buf *buf;
	__u32 zero = 0, len;

	buf = bpf_map_lookup_elem(&pg_tag_buf, &zero);
	if (!buf || pg_tag_begin(data, data_end, pk, sa->key, &job))
		return -1;
	len = job.len;
	if (len > PG_MAX_L4_LEN)
		return -1;
	if (len && bpf_skb_load_bytes(skb, job.off, buf->b, len))
		return -1;
	if (pg_tag_l4_buf(&job, buf))
		return -1;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	sh = data + (pk->shim_off & 0xff);
	if ((void *)(sh + 1) > data_end)
		return -1;
	*(__u64 *)sh->tag = pg_tag_end(&job);
	return 0;
}

/* The daemon's own handshakes go out bare: the peer may have lost its SAs. */
static __always_inline int hs_outbound(struct __sk_buff *skb, const struct pg_pkt *pk,
				       const struct pg_config *cfg)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	__be16 *ports = data + (pk->shim_off & 0xff);

	if (!cfg->hs_port || pk->proto != IPPROTO_UDP)
		return 0;
	if ((void *)(ports + 2) > data_end)
		return 0;
	return ports[0] == cfg->hs_port;
}

/* Fills pk and dst for a plain IP packet at ETH_HLEN; returns 0, or 1 to ignore it. */
static __always_inline int egress_parse(struct __sk_buff *skb, struct pg_pkt *pk,
					struct pg_addr *dst)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return 1;
	pk->l3_off = ETH_HLEN;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u32 ihl;

		if ((void *)(ip + 1) > data_end)
			return 1;
		ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip) || bpf_ntohs(ip->tot_len) < ihl)
			return -1;
		if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return -1;
		pk->family = 4;
		pk->proto = ip->protocol;
		pk->shim_off = ETH_HLEN + ihl;
		pk->l4_len = bpf_ntohs(ip->tot_len) - ihl;
		dst->family = 4;
		__builtin_memcpy(dst->addr, &ip->daddr, 4);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return 1;
		if (ip6->nexthdr == IPPROTO_FRAGMENT)
			return -1;
		pk->family = 6;
		pk->proto = ip6->nexthdr;
		pk->shim_off = ETH_HLEN + sizeof(*ip6);
		pk->l4_len = bpf_ntohs(ip6->payload_len);
		dst->family = 6;
		__builtin_memcpy(dst->addr, &ip6->daddr, 16);
	} else {
		return 1;
	}
	pk->l4_off = pk->shim_off + PG_SHIM_LEN;
	return is_multicast(dst) ? 1 : 0;
}

SEC("tc")
int pg_tc_tagger(struct __sk_buff *skb)
{
	struct pg_addr dst = {};
	struct pg_pkt pk = {};
	struct pg_sa_out *sa;
	struct pg_config *cfg;
	__u64 seq, now;
	int ret;

	/* the pair has GSO off, so a super-packet here means tags would be shared */
	if (skb->gso_segs > 1)
		return tc_drop(skb, PG_V_UNTAGGABLE);
	if (skb->data_end - skb->data < PG_TC_PULL && skb->data_end - skb->data < skb->len &&
	    bpf_skb_pull_data(skb, skb->len < PG_TC_PULL ? skb->len : PG_TC_PULL))
		return tc_drop(skb, PG_V_UNTAGGABLE);

	ret = egress_parse(skb, &pk, &dst);
	if (ret > 0)
		return TC_ACT_SHOT;	/* link-local noise of the helper pair itself */
	if (ret < 0)
		return tc_drop(skb, PG_V_UNTAGGABLE);

	cfg = config_get();
	sa = bpf_map_lookup_elem(&pg_sa_out, &dst);
	if (!cfg)
		return tc_drop(skb, PG_V_UNTAGGABLE);
	if (hs_outbound(skb, &pk, cfg))
		return bpf_redirect_neigh(cfg->egress_ifindex, NULL, 0, 0);
	now = bpf_ktime_get_coarse_ns();
	if (!sa || sa_expired(sa->expires_ns, now) || pk.l4_len > PG_MAX_L4_LEN ||
	    pk.l4_len < pg_l4_min_len(pk.proto) || pk.proto == PG_IPPROTO_SHIM)
		return tc_drop(skb, PG_V_UNTAGGABLE);

	seq = __sync_fetch_and_add(&sa->seq, 1) + 1;
	if (shim_insert(skb, &pk, sa, seq) || ip_header_fixup(skb, &pk) ||
	    tag_store(skb, &pk, sa))
		return tc_drop(skb, PG_V_UNTAGGABLE);

	count(PG_V_TAGGED, skb->len);
	count_sa(sa->slot, skb->len);
	flow_record((void *)(long)skb->data, (void *)(long)skb->data_end, &pk, PG_DIR_OUT,
		    sa->spi, skb->len, now);
	/*
	 * bpf_redirect_neigh() finds the next hop through the FIB for that
	 * interface and writes the Ethernet header. (A bpf_fib_lookup() of our
	 * own, to write it and bpf_redirect(), fails with FWD_DISABLED on any
	 * host that does not forward: measured here.)
	 */
	return bpf_redirect_neigh(cfg->egress_ifindex, NULL, 0, 0);
}
