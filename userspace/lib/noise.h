/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Noise Protocol Framework (revision 34), reduced to what pairgate needs:
 * the IK pattern, with or without the psk2 modifier, over X25519,
 * ChaCha20-Poly1305 (IETF) and BLAKE2b, all from libsodium.
 *
 * Functions return 0 (or a length) on success and a negative errno on
 * failure: -EINVAL for bad arguments or a message of the wrong length,
 * -EPROTO for a call in the wrong state, -EBADMSG when authentication fails,
 * -EKEYREJECTED when a DH result is all zero (a low-order public key) and
 * -ENOSPC when an output buffer is too small. After a failed read or write a
 * handshake state is spent: copy it first if a failure must not consume it.
 */
#ifndef PG_NOISE_H
#define PG_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOISE_DHLEN		32
#define NOISE_HASHLEN		64
#define NOISE_BLOCKLEN		128
#define NOISE_KEYLEN		32
#define NOISE_TAGLEN		16
#define NOISE_PSKLEN		32
#define NOISE_MAX_MSG		65535

/* ChaCha20-Poly1305 IETF under one key; n is the next nonce. */
struct noise_cipher {
	uint8_t k[NOISE_KEYLEN];
	uint64_t n;
	bool has_key;
};

struct noise_symmetric {
	struct noise_cipher cs;
	uint8_t ck[NOISE_HASHLEN];
	uint8_t h[NOISE_HASHLEN];
};

enum noise_pattern {
	NOISE_IK,
	NOISE_IKPSK2,
};

struct noise_handshake {
	struct noise_symmetric ss;
	enum noise_pattern pattern;
	bool initiator;
	bool e_fixed;			/* e_priv was injected, not generated */
	unsigned int msg;		/* messages processed so far (0..2) */
	unsigned int dh_count;		/* DH operations done, for tests */
	uint8_t s_priv[NOISE_DHLEN];
	uint8_t s_pub[NOISE_DHLEN];
	uint8_t e_priv[NOISE_DHLEN];
	uint8_t e_pub[NOISE_DHLEN];
	uint8_t rs[NOISE_DHLEN];
	uint8_t re[NOISE_DHLEN];
	uint8_t psk[NOISE_PSKLEN];
};

/* Message sizes of IK for a payload of n bytes. */
#define NOISE_IK_MSG1_LEN(n)	(NOISE_DHLEN + NOISE_DHLEN + NOISE_TAGLEN + (n) + NOISE_TAGLEN)
#define NOISE_IK_MSG2_LEN(n)	(NOISE_DHLEN + (n) + NOISE_TAGLEN)

/* ---- primitives ---- */

void noise_hash(uint8_t out[NOISE_HASHLEN], const uint8_t *a, size_t alen,
		const uint8_t *b, size_t blen);
void noise_hmac(uint8_t out[NOISE_HASHLEN], const uint8_t *key, size_t keylen,
		const uint8_t *data, size_t len);
/* HKDF of the spec: 2 or 3 outputs of NOISE_HASHLEN bytes; out3 may be NULL. */
void noise_hkdf(const uint8_t ck[NOISE_HASHLEN], const uint8_t *ikm, size_t ikmlen,
		uint8_t out1[NOISE_HASHLEN], uint8_t out2[NOISE_HASHLEN],
		uint8_t out3[NOISE_HASHLEN]);
/* X25519; -EKEYREJECTED if the result is all zero. */
int noise_dh(uint8_t out[NOISE_DHLEN], const uint8_t priv[NOISE_DHLEN],
	     const uint8_t pub[NOISE_DHLEN]);

/* ---- CipherState ---- */

void noise_cipher_init(struct noise_cipher *cs, const uint8_t k[NOISE_KEYLEN]);
/* out gets len + NOISE_TAGLEN bytes (len bytes without a key). */
int noise_cipher_encrypt(struct noise_cipher *cs, const uint8_t *ad, size_t adlen,
			 const uint8_t *in, size_t len, uint8_t *out);
/* out gets len - NOISE_TAGLEN bytes (len bytes without a key). */
int noise_cipher_decrypt(struct noise_cipher *cs, const uint8_t *ad, size_t adlen,
			 const uint8_t *in, size_t len, uint8_t *out);
void noise_cipher_wipe(struct noise_cipher *cs);

/* ---- HandshakeState ---- */

/*
 * s_priv is the local static key. The initiator passes the responder's static
 * public key as rs (the responder passes NULL and learns it from message 1).
 * psk is required for NOISE_IKPSK2; the responder may also set it later with
 * noise_handshake_set_psk, once it knows who the initiator is.
 */
int noise_handshake_init(struct noise_handshake *hs, enum noise_pattern pattern,
			 bool initiator, const uint8_t *prologue, size_t prologue_len,
			 const uint8_t s_priv[NOISE_DHLEN], const uint8_t *rs,
			 const uint8_t *psk);
int noise_handshake_set_psk(struct noise_handshake *hs, const uint8_t psk[NOISE_PSKLEN]);
/* Uses e_priv instead of a random ephemeral key (test vectors only). */
int noise_handshake_set_ephemeral(struct noise_handshake *hs,
				  const uint8_t e_priv[NOISE_DHLEN]);

/* Writes the next message to out; returns its length. */
int noise_write_message(struct noise_handshake *hs, const uint8_t *payload, size_t plen,
			uint8_t *out, size_t cap);
/* Reads the next message; returns the payload length written to payload. */
int noise_read_message(struct noise_handshake *hs, const uint8_t *msg, size_t len,
		       uint8_t *payload, size_t cap);

/*
 * Only after both messages. An IK message 1 can be read before the caller has
 * decided to accept its sender: the remote static key is then valid.
 */
bool noise_handshake_done(const struct noise_handshake *hs);
const uint8_t *noise_handshake_hash(const struct noise_handshake *hs);
const uint8_t *noise_handshake_remote_static(const struct noise_handshake *hs);

/*
 * Split(): c1 encrypts initiator to responder, c2 the other way. Wipes every
 * secret of the handshake state; the hash and the remote static key stay.
 */
int noise_split(struct noise_handshake *hs, struct noise_cipher *c1, struct noise_cipher *c2);
void noise_handshake_wipe(struct noise_handshake *hs);

#endif /* PG_NOISE_H */
