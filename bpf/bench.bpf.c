// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Baselines for tests/bench: the cheapest programs pairgate can be compared
 * with. None of them is attached in production.
 *
 *   bench_xdp_pass     XDP_PASS, the bare-XDP case of the iperf3 bench
 *                      (attached by build/bench/netctl)
 *   bench_xdp_drop     XDP_DROP, the floor of BPF_PROG_TEST_RUN
 *   bench_xdp_allow    Eth + IPv4 parse, one hash lookup on the source
 *                      address, drop on a miss: the simplest allowlist
 *   bench_xdp_siphash  Eth + IPv4 parse and SipHash-2-4 over the bytes
 *                      pairgate tags (pseudo-header, shim bytes 0..15, L4
 *                      segment) through pg_tag_begin(), PG_DEFINE_TAG_L4
 *                      (sip_absorb_pkt()) and pg_tag_end(), the code pairgate
 *                      runs, then XDP_PASS: no SA lookup, no replay window,
 *                      no strip
 *   bench_xdp_strip, bench_xdp_strip_direct  only the shim removal, through
 *                      the load/store helpers or direct packet access
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "pairgate.h"
#include "tag.h"

/* allowed IPv4 source addresses, network byte order */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PG_MAX_ALLOW);
	__type(key, __be32);
	__type(value, __u32);
} bench_allow SEC(".maps");

/* SipHash key of bench_xdp_siphash, set by the loader */
__u64 bench_key[2];
/* last hash computed, so the compiler cannot drop the work */
__u64 bench_sink;
/* packets whose hash equalled the shim's tag (a correctness cross-check) */
__u64 bench_tag_match;

SEC("xdp")
int bench_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int bench_xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int bench_xdp_allow(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *iph;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return XDP_DROP;

	if (!bpf_map_lookup_elem(&bench_allow, &iph->saddr))
		return XDP_DROP;
	return XDP_PASS;
}

/* pairgate's own split: the L4 loop in a global function, the state in a job */
PG_DEFINE_TAG_L4(bench_tag_l4, struct xdp_md)

SEC("xdp")
int bench_xdp_siphash(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct pg_pkt pk = {};
	struct pg_tag_job job;
	struct pg_shim *shim;
	struct iphdr *iph;
	__u32 ihl, tot_len;
	__u64 tag;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return XDP_DROP;
	ihl = iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	if (iph->protocol != PG_IPPROTO_SHIM || ihl < sizeof(*iph) ||
	    tot_len < ihl + PG_SHIM_LEN)
		return XDP_PASS;
	shim = (void *)iph + ihl;
	if ((void *)(shim + 1) > data_end)
		return XDP_DROP;

	pk.family = 4;
	pk.proto = shim->next_proto;
	pk.l3_off = sizeof(*eth);
	pk.shim_off = sizeof(*eth) + ihl;
	pk.l4_off = pk.shim_off + PG_SHIM_LEN;
	pk.l4_len = tot_len - ihl - PG_SHIM_LEN;
	if (pg_tag_begin(data, data_end, &pk, bench_key, &job))
		return XDP_DROP;
	if (bench_tag_l4(ctx, &job))
		return XDP_DROP;
	tag = pg_tag_end(&job);

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	shim = data + sizeof(*eth) + (ihl & 0x3c);
	if ((void *)(shim + 1) > data_end)
		return XDP_DROP;

	bench_sink = tag;
	if (tag == *(__u64 *)shim->tag)
		__sync_fetch_and_add(&bench_tag_match, 1);
	return XDP_PASS;
}

/*
 * An experiment: only the shim removal of a verified frame, the way
 * pairgate does it for IPv4 with options (copy Ethernet + IPv4 header out,
 * move the head by 24, copy back), to see what the strip costs on its own.
 */
SEC("xdp")
int bench_xdp_strip(struct xdp_md *ctx)
{
	__u8 hdr[ETH_HLEN + sizeof(struct iphdr)];

	if (bpf_xdp_load_bytes(ctx, 0, hdr, sizeof(hdr)))
		return XDP_DROP;
	if (bpf_xdp_adjust_head(ctx, PG_SHIM_LEN))
		return XDP_DROP;
	if (bpf_xdp_store_bytes(ctx, 0, hdr, sizeof(hdr)))
		return XDP_DROP;
	return XDP_PASS;
}

/* The same with direct access and a 34-byte move, pairgate's usual way. */
SEC("xdp")
int bench_xdp_strip_direct(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u32 hlen = ETH_HLEN + sizeof(struct iphdr);
	__u8 *p = data;

	if ((void *)(p + hlen + PG_SHIM_LEN) > data_end)
		return XDP_DROP;
	__builtin_memmove(p + PG_SHIM_LEN, p, hlen);
	if (bpf_xdp_adjust_head(ctx, PG_SHIM_LEN))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
