// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "invite.h"

static const char label_check[] = "pairgate v1 invite token";

static void check_mac(uint8_t out[PG_TOKEN_CHECK_LEN], const uint8_t secret[32],
		      const uint8_t *bin, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, secret, PG_INVITE_SECRET_LEN, PG_TOKEN_CHECK_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label_check, strlen(label_check));
	crypto_generichash_update(&st, bin, len);
	crypto_generichash_final(&st, out, PG_TOKEN_CHECK_LEN);
}

static size_t addr_len(uint8_t family)
{
	return family == 4 ? 4 : family == 6 ? 16 : 0;
}

static size_t to_bin(const struct pg_token *t, uint8_t *b)
{
	size_t n = 0, alen = addr_len(t->endpoint.family);
	int i;

	b[n++] = PG_TOKEN_VERSION;
	b[n++] = 0;
	for (i = 7; i >= 0; i--)
		b[n++] = t->expires >> (8 * i);
	memcpy(b + n, t->pub, 32);
	n += 32;
	memcpy(b + n, t->secret, PG_INVITE_SECRET_LEN);
	n += PG_INVITE_SECRET_LEN;
	b[n++] = t->endpoint.family;
	memcpy(b + n, t->endpoint.addr, alen);
	n += alen;
	b[n++] = t->port >> 8;
	b[n++] = t->port & 0xff;
	check_mac(b + n, t->secret, b, n);
	return n + PG_TOKEN_CHECK_LEN;
}

int pg_token_encode(const struct pg_token *t, char *out, size_t cap)
{
	uint8_t bin[PG_TOKEN_BIN_MAX];
	size_t n, plen = strlen(PG_TOKEN_PREFIX);

	if (!addr_len(t->endpoint.family))
		return -EINVAL;
	n = to_bin(t, bin);
	if (cap < plen + sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING)) {
		sodium_memzero(bin, sizeof(bin));
		return -ENOSPC;
	}
	memcpy(out, PG_TOKEN_PREFIX, plen);
	sodium_bin2base64(out + plen, cap - plen, bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(bin, sizeof(bin));
	return 0;
}

/* Fields of a decoded token whose length is already known to fit. */
static int from_bin(const uint8_t *b, size_t n, struct pg_token *t, const char **why)
{
	uint8_t want[PG_TOKEN_CHECK_LEN];
	size_t off = 0, alen;
	int i;

	if (b[0] != PG_TOKEN_VERSION || b[1]) {
		*why = "unsupported token version (made by a newer pairgate?)";
		return -EINVAL;
	}
	off = 2;
	t->expires = 0;
	for (i = 0; i < 8; i++)
		t->expires = t->expires << 8 | b[off++];
	memcpy(t->pub, b + off, 32);
	off += 32;
	memcpy(t->secret, b + off, PG_INVITE_SECRET_LEN);
	off += PG_INVITE_SECRET_LEN;
	memset(&t->endpoint, 0, sizeof(t->endpoint));
	t->endpoint.family = b[off++];
	alen = addr_len(t->endpoint.family);
	if (!alen || n != off + alen + 2 + PG_TOKEN_CHECK_LEN) {
		*why = "wrong length: the token is truncated or not a pairgate token";
		return -EINVAL;
	}
	memcpy(t->endpoint.addr, b + off, alen);
	off += alen;
	t->port = (uint16_t)b[off] << 8 | b[off + 1];
	off += 2;
	check_mac(want, t->secret, b, off);
	if (sodium_memcmp(want, b + off, PG_TOKEN_CHECK_LEN)) {
		*why = "check does not match: the token was altered or mistyped";
		return -EINVAL;
	}
	if (!t->port) {
		*why = "the token names port 0";
		return -EINVAL;
	}
	return 0;
}

int pg_token_parse(const char *s, size_t len, struct pg_token *t, const char **why)
{
	size_t plen = strlen(PG_TOKEN_PREFIX), n = 0;
	uint8_t bin[PG_TOKEN_BIN_MAX];
	const char *end = NULL;
	int err = -EINVAL;

	*why = "not a pairgate token (it starts with pg1_)";
	if (!s || len < plen || memcmp(s, PG_TOKEN_PREFIX, plen))
		return -EINVAL;
	*why = "wrong length: the token is truncated or not a pairgate token";
	if (len - plen > PG_TOKEN_MAX)
		return -EINVAL;
	if (sodium_base642bin(bin, sizeof(bin), s + plen, len - plen, NULL, &n, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) || end != s + len) {
		*why = "not base64url: the token was altered or mistyped";
		return -EINVAL;
	}
	if (n >= 2 + 8 + 32 + PG_INVITE_SECRET_LEN + 1)
		err = from_bin(bin, n, t, why);
	sodium_memzero(bin, sizeof(bin));
	if (err)
		pg_token_wipe(t);
	return err;
}

void pg_token_wipe(struct pg_token *t)
{
	sodium_memzero(t, sizeof(*t));
}
