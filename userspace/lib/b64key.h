/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * X25519 keys as `pairgate genkey` / `pairgate pubkey` print and read them:
 * 32 bytes in standard Base64 with padding (44 characters), the same text
 * form WireGuard uses, so keys can be moved between the two tools.
 */
#ifndef PG_B64KEY_H
#define PG_B64KEY_H

#include <stddef.h>
#include <stdint.h>

#define PG_X25519_LEN		32
#define PG_KEY_B64_LEN		44	/* without the terminating NUL */

/* Writes 44 characters and a NUL to out. */
void pg_key_to_base64(char out[PG_KEY_B64_LEN + 1], const uint8_t key[PG_X25519_LEN]);

/*
 * Decodes exactly 44 characters of canonical Base64 (no whitespace, '=' in
 * the last place, unused bits zero) from s, which need not be NUL-terminated.
 * Returns 0, or -EINVAL with key untouched.
 */
int pg_key_from_base64(uint8_t key[PG_X25519_LEN], const char *s, size_t len);

/* A new private key, clamped as X25519 specifies. 0 or -ENOSYS. */
int pg_key_generate(uint8_t priv[PG_X25519_LEN]);

/* The public key of priv (clamped on the fly). 0, or -EINVAL for a key whose
 * public key would be the all-zero point. */
int pg_key_public(uint8_t pub[PG_X25519_LEN], const uint8_t priv[PG_X25519_LEN]);

#endif /* PG_B64KEY_H */
