/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Invite tokens: the one line `pairgate invite` prints and `pairgate join`
 * takes. "pg1_" and the unpadded base64url of
 *
 *   version (1) | flags (1, zero) | expiry (8, unix seconds, big-endian) |
 *   inviter's static public key (32) | secret (32) |
 *   endpoint family (1: 4 or 6) | address (4 or 16) | port (2, big-endian) |
 *   check (16)
 *
 * where check = BLAKE2b-16(key = secret, "pairgate v1 invite token" || every
 * byte before it). docs/pairing.md has the same layout; keep both in step.
 */
#ifndef PG_INVITE_H
#define PG_INVITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pairgate.h"

#define PG_TOKEN_PREFIX		"pg1_"
#define PG_TOKEN_VERSION	1
#define PG_INVITE_SECRET_LEN	32
#define PG_TOKEN_CHECK_LEN	16
#define PG_TOKEN_BIN_MAX	(2 + 8 + 32 + 32 + 1 + 16 + 2 + PG_TOKEN_CHECK_LEN)
#define PG_TOKEN_MAX		(sizeof(PG_TOKEN_PREFIX) + (PG_TOKEN_BIN_MAX * 4 + 2) / 3 + 1)

struct pg_token {
	uint64_t expires;			/* unix seconds */
	uint8_t pub[32];			/* the inviter's static public key */
	uint8_t secret[PG_INVITE_SECRET_LEN];
	struct pg_addr endpoint;
	uint16_t port;				/* host order */
};

/* Writes the token text (NUL-terminated) to out; -ENOSPC if cap is short. */
int pg_token_encode(const struct pg_token *t, char *out, size_t cap);

/*
 * Parses len bytes of s. Returns 0, or -EINVAL with *why saying what is
 * wrong ("altered or mistyped" for a check mismatch). Does not look at the
 * expiry: the caller compares it with the clock.
 */
int pg_token_parse(const char *s, size_t len, struct pg_token *t, const char **why);

void pg_token_wipe(struct pg_token *t);

#endif /* PG_INVITE_H */
