/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Userspace reference tagger: the same tag the BPF programs compute, built on
 * libsodium's SipHash-2-4. Used by tests, benchmarks and docs/protocol.md's
 * test vectors, and by the AF_XDP heavy path later.
 */
#ifndef PGTAG_H
#define PGTAG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Key as the CLI takes it: 16 bytes, k0 = bytes 0..7 little-endian. */
#define PG_KEY_LEN 16

/*
 * Tag of an IP packet that already carries a shim (ip points at the IPv4 or
 * IPv6 header, len is the IP packet length). The shim's tag field is ignored.
 * Returns 0 and writes 8 bytes to tag, or -EINVAL for a packet that is not a
 * well-formed shim packet.
 */
int pg_tag_compute(const uint8_t key[PG_KEY_LEN], const void *ip, size_t len,
		   uint8_t tag[8]);

/*
 * Inserts a shim with spi/seq into a plain IPv4/IPv6 packet, fixes the IP
 * header (protocol, lengths, IPv4 checksum) and fills in the tag, exactly as
 * the TC tagger does. Returns the tagged length, or -EINVAL / -ENOSPC.
 */
ssize_t pg_tag_insert(const uint8_t key[PG_KEY_LEN], uint32_t spi, uint64_t seq,
		      const void *ip, size_t len, void *out, size_t out_cap);

/*
 * The inverse of pg_tag_insert without verification: removes the shim and
 * restores the IP header. Returns the plain length or -EINVAL.
 */
ssize_t pg_tag_strip(const void *ip, size_t len, void *out, size_t out_cap);

/* 16-bit one's complement checksum (RFC 1071) of a buffer, ready to store. */
uint16_t pg_ip_checksum(const void *hdr, size_t len);

#endif /* PGTAG_H */
