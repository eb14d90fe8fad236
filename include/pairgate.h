/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Wire format and map layouts shared by the BPF programs and userspace.
 * docs/protocol.md describes the same layout byte by byte; keep both in step.
 */
#ifndef PAIRGATE_H
#define PAIRGATE_H

#include <linux/types.h>
#include <linux/bpf.h>

/* IP protocol / IPv6 next header announcing the shim (RFC 3692 experimental). */
#define PG_IPPROTO_SHIM		253

#define PG_SHIM_VERSION		1
#define PG_SHIM_LEN		24
#define PG_SHIM_TAGGED_LEN	16	/* the shim without its tag */
#define PG_TAG_LEN		8

/* ver_flags: version in the high nibble, flags in the low nibble. */
#define PG_VER_SHIFT		4
#define PG_FLAGS_MASK		0x0f
#define PG_FLAG_SEALED		0x01	/* AEAD-sealed payload (later issue) */

/*
 * The shim sits right after the IPv4 header (after its options) or the IPv6
 * fixed header. All multi-byte fields are big-endian on the wire; the tag is
 * SipHash-2-4's 64-bit output written little-endian, as SipHash defines it.
 */
struct pg_shim {
	__u8 next_proto;	/* the original IP protocol / next header */
	__u8 ver_flags;
	__be16 reserved;	/* zero; a receiver drops non-zero as malformed */
	__be32 spi;		/* chosen by the receiver, never 0 */
	__be64 seq;		/* per-SA, starts at 1, never wraps */
	__u8 tag[PG_TAG_LEN];
};

/*
 * Pseudo-header that starts the tagged message. Same layout as the IPv6
 * upper-layer pseudo-header (RFC 8200 8.1), used for IPv4 too with 4-byte
 * addresses, so both families give a message prefix that is a multiple of
 * 8 bytes and the L4 header starts on a SipHash word boundary.
 *
 *   src address (4 or 16) | dst address (4 or 16) | be32 L4 length |
 *   3 zero bytes | original protocol
 */
#define PG_PSEUDO_TAIL_LEN	8
#define PG_PSEUDO4_LEN		(4 + 4 + PG_PSEUDO_TAIL_LEN)
#define PG_PSEUDO6_LEN		(16 + 16 + PG_PSEUDO_TAIL_LEN)

/*
 * Largest L4 segment (header plus payload) the XDP and TC programs hash.
 * Bigger frames are unverifiable in XDP and will go to the AF_XDP heavy path.
 */
#define PG_MAX_L4_LEN		1500

/* Anti-replay: RFC 6479 bitmap of PG_REPLAY_WORDS 64-bit blocks. */
#define PG_REPLAY_WORDS		256
#define PG_REPLAY_WINDOW	((PG_REPLAY_WORDS - 1) * 64)	/* 16320 packets */

#define PG_MAX_SA		1024	/* per direction and interface */

/*
 * A bitmap of the inbound SPIs in use (bit spi % PG_SPI_FILTER_BITS), one
 * array entry, checked before the SA hash: a flood of unknown SPIs costs one
 * array load per packet. Bits are set before an SA is added and may stay
 * after it is deleted; a stale bit only costs the hash lookup.
 */
#define PG_SPI_FILTER_BITS	(1 << 18)

struct pg_spi_filter {
	__u64 words[PG_SPI_FILTER_BITS / 64];
};
#define PG_MAX_ALLOW		1024

/* Verdicts, each with a per-CPU packet and byte counter. */
enum pg_verdict {
	PG_V_VERIFIED = 0,	/* ingress: tag verified, shim stripped, passed */
	PG_V_EXEMPT,		/* ingress: ARP, ND, allow rule, PMTU error */
	PG_V_UNPAIRED,		/* ingress: no SA, unknown SPI or wrong source */
	PG_V_BAD_TAG,
	PG_V_REPLAY,
	PG_V_TOO_OLD,
	PG_V_MALFORMED,
	PG_V_UNVERIFIABLE,	/* fragments, frames past the hash bound */
	PG_V_TAGGED,		/* egress: shim inserted and sent */
	PG_V_UNTAGGABLE,	/* egress: no SA or cannot tag; dropped, never sent bare */
	PG_V_MAX,
};

struct pg_counter {
	__u64 packets;
	__u64 bytes;
};

struct pg_addr {
	__u8 family;		/* 4 or 6 */
	__u8 pad[3];
	__u8 addr[16];		/* IPv4 in the first 4 bytes, rest zero */
};

/*
 * Inbound SA, keyed by SPI (host byte order). The replay state is changed
 * only under the lock; everything else is written once by userspace before
 * the SA becomes visible.
 */
struct pg_sa_in {
	__u64 key[2];			/* SipHash k0, k1 (little-endian key halves) */
	__u64 expires_ns;		/* CLOCK_MONOTONIC; 0 = never (manual SAs) */
	struct pg_addr peer;		/* only this source may use the SPI */
	__u32 slot;			/* index into the per-SA counters */
	__u32 pad;
	struct bpf_spin_lock lock;
	__u32 pad2;
	__u64 max_seq;			/* highest verified sequence number */
	__u64 bitmap[PG_REPLAY_WORDS];
};

/* Outbound SA, keyed by destination address. */
struct pg_sa_out {
	__u64 key[2];
	__u64 expires_ns;	/* CLOCK_MONOTONIC; 0 = never; expired = untaggable */
	__u32 spi;		/* host byte order */
	__u32 slot;		/* PG_MAX_SA + n in the per-SA counters */
	__u64 seq;		/* last sequence number used; bumped atomically */
};

/*
 * Exemptions (pairgate allow). LPM trie key: prefixlen counts the 32 bits of
 * family/proto/port, which always match exactly, plus the source prefix.
 * port 0 means any port.
 */
struct pg_allow_key {
	__u32 prefixlen;
	__u8 family;
	__u8 proto;
	__be16 port;
	__u8 addr[16];
};

#define PG_ALLOW_FIXED_BITS	32

/*
 * What pg_allow could match, one array entry, so that a packet no rule can
 * match costs no trie walk: per protocol, whether any-port rules and
 * port rules exist, and for TCP, UDP and SCTP which ports have rules.
 * Rebuilt from pg_allow by userspace after every change.
 */
#define PG_HINT_ANY_PORT	0x01
#define PG_HINT_PORTS		0x02

enum pg_hint_class { PG_HINT_TCP, PG_HINT_UDP, PG_HINT_SCTP, PG_HINT_CLASSES };

struct pg_allow_hint {
	__u8 proto[256];
	__u64 ports[PG_HINT_CLASSES][65536 / 64];	/* bit = port, host order */
};

/* pg_config.flags */
#define PG_CFG_NO_PMTU_PASS	0x01	/* drop ICMP errors quoting paired flows */

/*
 * Per-interface settings, one entry. Besides what the programs read, it keeps
 * what attach changed so that detach can put it back from the pins alone.
 */
struct pg_config {
	__u32 flags;
	__u32 egress_ifindex;	/* the protected interface, for bpf_redirect_neigh */
	__u32 route_ifindex;	/* helper veth end that paired routes point at */
	__u32 tagger_ifindex;	/* helper veth end whose TC ingress tags */
	__s32 saved_rp_filter;	/* IPv4 rp_filter before attach, -1 if untouched */
	__u32 xdp_mode;		/* enum xdp_attach_mode used */
	/*
	 * Drop sampling into pg_drop_rb runs while the clock is before this
	 * (CLOCK_MONOTONIC ns); `pairgate drops` keeps pushing it forward, so
	 * sampling stops by itself when the reader goes away.
	 */
	__u64 drop_sample_until_ns;
	__u32 drop_sample_per_sec;	/* per CPU; 0 means PG_DROP_SAMPLE_DEFAULT */
	__u32 drop_reason_mask;		/* bit per enum pg_verdict; 0 means all drops */
	/*
	 * The pairing daemon's UDP port (network order, 0 = none): handshakes
	 * to it pass untagged, rate-limited per source and in total, and the
	 * daemon's own handshakes leave untagged, so a peer that lost its SAs
	 * can still be reached.
	 */
	__be16 hs_port;
	__u16 hs_burst;			/* per source; 0 means PG_HS_BURST_DEFAULT */
	__u32 hs_per_sec;		/* per source; 0 means PG_HS_RATE_DEFAULT */
	__u32 hs_total_per_sec;		/* per CPU; 0 means PG_HS_TOTAL_DEFAULT */
	__u32 pad;
};

#define PG_HS_RATE_DEFAULT	10
#define PG_HS_BURST_DEFAULT	20
#define PG_HS_TOTAL_DEFAULT	5000
#define PG_MAX_HS_SOURCES	8192

/* ---- observability ---- */

#define PG_MAX_FLOWS		16384
#define PG_MAX_UNPAIRED_SRC	4096

#define PG_DIR_IN		0
#define PG_DIR_OUT		1

/* A flow of paired traffic: the inner 5-tuple as the application sees it. */
struct pg_flow_key {
	__u8 family;
	__u8 proto;
	__u8 dir;		/* PG_DIR_IN: saddr is the peer */
	__u8 pad;
	__be16 sport;
	__be16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* Per-CPU values; readers sum counters and take the extremes of the times. */
struct pg_flow {
	__u64 packets;
	__u64 bytes;
	__u64 first_ns;		/* bpf_ktime_get_ns() */
	__u64 last_ns;
	__u32 spi;
	__u32 drops[PG_V_MAX];	/* bad_tag, replay, too_old... on this flow */
};

/* The unpaired sources being dropped, by source, protocol and port. */
struct pg_src_key {
	__u8 family;
	__u8 proto;
	__be16 dport;
	__u8 saddr[16];
};

struct pg_src {
	__u64 packets;
	__u64 bytes;
	__u64 first_ns;
	__u64 last_ns;
	__u32 reason;		/* the last drop verdict */
	__u32 sampled;		/* nonzero: counts include 1-in-PG_SRC_SAMPLE estimates */
};

/*
 * Under a flood each CPU records only one drop in PG_SRC_SAMPLE in pg_srcs
 * (counted PG_SRC_SAMPLE times), once it has recorded PG_SRC_EXACT_PER_TICK
 * in the current 100 ms tick: a spoofed flood then costs one LRU update per
 * PG_SRC_SAMPLE packets. pg_stats stays exact.
 */
#define PG_SRC_SAMPLE		64
#define PG_SRC_EXACT_PER_TICK	1000
#define PG_SRC_TICK_NS		100000000ULL

/*
 * The last flow each CPU saw, per direction (pg_flow_cache[PG_DIR_*]): its
 * packets are counted here and folded into pg_flows when another flow comes,
 * so a bulk transfer costs no hash lookup per packet. Readers add these
 * (per-CPU) entries to pg_flows for exact counts.
 */
struct pg_flow_cache {
	struct pg_flow_key key;
	struct pg_flow flow;
	__u32 valid;
	__u32 pad;
};

#define PG_DROP_SNAPLEN		128
#define PG_DROP_SAMPLE_DEFAULT	1000	/* samples per second per CPU */
#define PG_DROP_RB_SIZE		(1 << 20)

/* One sampled drop in pg_drop_rb. */
struct pg_drop_event {
	__u64 ts_ns;
	__u32 reason;
	__u32 pkt_len;		/* the frame's full length */
	__u32 cap_len;		/* bytes in data */
	__u32 pad;
	__u8 data[PG_DROP_SNAPLEN];
};

#endif /* PAIRGATE_H */
