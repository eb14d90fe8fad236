// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A minimal pcapng writer: one section, one Ethernet interface with
 * nanosecond timestamps, and Enhanced Packet Blocks that carry a comment
 * (opt_comment) each, which is where `pairgate drops` puts the drop reason.
 * libpcap, tcpdump, tshark and Wireshark all read it. Blocks are written in
 * host byte order, as the byte-order magic of the section tells readers.
 */
#include <errno.h>
#include <string.h>

#include "observe.h"

#define BT_SHB		0x0a0d0d0a
#define BT_IDB		0x00000001
#define BT_EPB		0x00000006
#define BYTE_ORDER_MAGIC 0x1a2b3c4d
#define LINKTYPE_ETHERNET 1

#define OPT_END		0
#define OPT_COMMENT	1
#define OPT_SHB_USERAPPL 4
#define OPT_IF_NAME	2
#define OPT_IF_TSRESOL	9

/* Room for the largest block we write: an EPB with a snapshot and a comment. */
#define BLK_MAX		(64 + PG_DROP_SNAPLEN + 256)

struct blk {
	__u8 buf[BLK_MAX];
	size_t len;
	bool overflow;
};

static void put(struct blk *b, const void *p, size_t n)
{
	if (b->len + n > sizeof(b->buf)) {
		b->overflow = true;
		return;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void put16(struct blk *b, __u16 v)
{
	put(b, &v, sizeof(v));
}

static void put32(struct blk *b, __u32 v)
{
	put(b, &v, sizeof(v));
}

/* Zeros up to the next 32-bit boundary, as every pcapng field ends on one. */
static void pad(struct blk *b)
{
	static const __u8 zeros[4];

	put(b, zeros, (4 - b->len % 4) % 4);
}

static void opt(struct blk *b, __u16 code, const void *p, size_t n)
{
	if (n > 0xffff) {
		b->overflow = true;
		return;
	}
	put16(b, code);
	put16(b, n);
	put(b, p, n);
	pad(b);
}

static void opt_end(struct blk *b)
{
	put32(b, OPT_END);
}

static int blk_write(FILE *f, __u32 type, const struct blk *b)
{
	__u32 total = b->len + 12;

	if (b->overflow)
		return -EOVERFLOW;
	if (fwrite(&type, 4, 1, f) != 1 || fwrite(&total, 4, 1, f) != 1 ||
	    fwrite(b->buf, 1, b->len, f) != b->len || fwrite(&total, 4, 1, f) != 1)
		return -EIO;
	return 0;
}

int pg_pcapng_begin(FILE *f, const char *ifname, __u32 snaplen)
{
	static const char app[] = "pairgate drops";
	const __u8 tsresol = 9;		/* 10^-9 s */
	struct blk b = {};
	__u64 unknown = (__u64)-1;	/* section length not given */
	int err;

	put32(&b, BYTE_ORDER_MAGIC);
	put16(&b, 1);
	put16(&b, 0);
	put(&b, &unknown, sizeof(unknown));
	opt(&b, OPT_SHB_USERAPPL, app, strlen(app));
	opt_end(&b);
	err = blk_write(f, BT_SHB, &b);
	if (err)
		return err;

	memset(&b, 0, sizeof(b));
	put16(&b, LINKTYPE_ETHERNET);
	put16(&b, 0);
	put32(&b, snaplen);
	opt(&b, OPT_IF_NAME, ifname, strlen(ifname));
	opt(&b, OPT_IF_TSRESOL, &tsresol, 1);
	opt_end(&b);
	return blk_write(f, BT_IDB, &b);
}

int pg_pcapng_packet(FILE *f, __u64 ts_ns, const void *data, __u32 cap_len, __u32 pkt_len,
		     const char *comment)
{
	struct blk b = {};

	put32(&b, 0);			/* interface 0 */
	put32(&b, ts_ns >> 32);
	put32(&b, (__u32)ts_ns);
	put32(&b, cap_len);
	put32(&b, pkt_len);
	put(&b, data, cap_len);
	pad(&b);
	if (comment && *comment) {
		opt(&b, OPT_COMMENT, comment, strlen(comment));
		opt_end(&b);
	}
	return blk_write(f, BT_EPB, &b);
}
