// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "b64key.h"

void pg_key_to_base64(char out[PG_KEY_B64_LEN + 1], const uint8_t key[PG_X25519_LEN])
{
	sodium_bin2base64(out, PG_KEY_B64_LEN + 1, key, PG_X25519_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

int pg_key_from_base64(uint8_t key[PG_X25519_LEN], const char *s, size_t len)
{
	char again[PG_KEY_B64_LEN + 1];
	uint8_t tmp[PG_X25519_LEN];
	size_t n = 0;
	int err = -EINVAL;

	if (!s || len != PG_KEY_B64_LEN || s[PG_KEY_B64_LEN - 1] != '=')
		return -EINVAL;
	if (sodium_base642bin(tmp, sizeof(tmp), s, len, NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) || n != PG_X25519_LEN)
		goto out;
	/* Only the canonical spelling: the 2 unused bits of the last digit are 0. */
	pg_key_to_base64(again, tmp);
	if (memcmp(again, s, PG_KEY_B64_LEN))
		goto out;
	memcpy(key, tmp, PG_X25519_LEN);
	err = 0;
out:
	sodium_memzero(tmp, sizeof(tmp));
	sodium_memzero(again, sizeof(again));
	return err;
}

int pg_key_generate(uint8_t priv[PG_X25519_LEN])
{
	if (sodium_init() < 0)
		return -ENOSYS;
	randombytes_buf(priv, PG_X25519_LEN);
	priv[0] &= 248;
	priv[31] &= 127;
	priv[31] |= 64;
	return 0;
}

int pg_key_public(uint8_t pub[PG_X25519_LEN], const uint8_t priv[PG_X25519_LEN])
{
	/* crypto_scalarmult_base clamps a copy of the scalar itself. */
	if (crypto_scalarmult_base(pub, priv))
		return -EINVAL;
	return 0;
}
