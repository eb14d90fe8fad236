// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Noise IK / IKpsk2 with 25519, ChaChaPoly and BLAKE2b, written from the
 * Noise specification (revision 34). Section numbers below refer to it.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "noise.h"

enum noise_token {
	TOK_END,
	TOK_E,
	TOK_S,
	TOK_EE,
	TOK_ES,
	TOK_SE,
	TOK_SS,
	TOK_PSK,
};

/* IK: <- s ... -> e, es, s, ss  <- e, ee, se; psk2 appends psk to message 2. */
static const enum noise_token ik_msg1[] = { TOK_E, TOK_ES, TOK_S, TOK_SS, TOK_END };
static const enum noise_token ik_msg2[] = { TOK_E, TOK_EE, TOK_SE, TOK_PSK, TOK_END };

static const char *const protocol_names[] = {
	[NOISE_IK] = "Noise_IK_25519_ChaChaPoly_BLAKE2b",
	[NOISE_IKPSK2] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b",
};

/* ---- hash functions (4.3) ---- */

void noise_hash(uint8_t out[NOISE_HASHLEN], const uint8_t *a, size_t alen,
		const uint8_t *b, size_t blen)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, NOISE_HASHLEN);
	crypto_generichash_update(&st, a, alen);
	if (blen)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, NOISE_HASHLEN);
	sodium_memzero(&st, sizeof(st));
}

/* HMAC (RFC 2104) over unkeyed BLAKE2b-512 with its 128-byte block. */
void noise_hmac(uint8_t out[NOISE_HASHLEN], const uint8_t *key, size_t keylen,
		const uint8_t *data, size_t len)
{
	uint8_t k[NOISE_BLOCKLEN], pad[NOISE_BLOCKLEN], inner[NOISE_HASHLEN];
	size_t i;

	memset(k, 0, sizeof(k));
	if (keylen > NOISE_BLOCKLEN)
		noise_hash(k, key, keylen, NULL, 0);
	else
		memcpy(k, key, keylen);

	for (i = 0; i < NOISE_BLOCKLEN; i++)
		pad[i] = k[i] ^ 0x36;
	noise_hash(inner, pad, sizeof(pad), data, len);

	for (i = 0; i < NOISE_BLOCKLEN; i++)
		pad[i] = k[i] ^ 0x5c;
	noise_hash(out, pad, sizeof(pad), inner, sizeof(inner));

	sodium_memzero(k, sizeof(k));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

void noise_hkdf(const uint8_t ck[NOISE_HASHLEN], const uint8_t *ikm, size_t ikmlen,
		uint8_t out1[NOISE_HASHLEN], uint8_t out2[NOISE_HASHLEN],
		uint8_t out3[NOISE_HASHLEN])
{
	uint8_t temp[NOISE_HASHLEN], buf[NOISE_HASHLEN + 1];

	noise_hmac(temp, ck, NOISE_HASHLEN, ikm, ikmlen);

	buf[0] = 0x01;
	noise_hmac(out1, temp, sizeof(temp), buf, 1);

	memcpy(buf, out1, NOISE_HASHLEN);
	buf[NOISE_HASHLEN] = 0x02;
	noise_hmac(out2, temp, sizeof(temp), buf, sizeof(buf));

	if (out3) {
		memcpy(buf, out2, NOISE_HASHLEN);
		buf[NOISE_HASHLEN] = 0x03;
		noise_hmac(out3, temp, sizeof(temp), buf, sizeof(buf));
	}
	sodium_memzero(temp, sizeof(temp));
	sodium_memzero(buf, sizeof(buf));
}

/* ---- DH functions (4.1) ---- */

int noise_dh(uint8_t out[NOISE_DHLEN], const uint8_t priv[NOISE_DHLEN],
	     const uint8_t pub[NOISE_DHLEN])
{
	/* libsodium fails on an all-zero result, i.e. a low-order point. */
	if (crypto_scalarmult(out, priv, pub)) {
		sodium_memzero(out, NOISE_DHLEN);
		return -EKEYREJECTED;
	}
	return 0;
}

/* ---- CipherState (5.1) ---- */

static void make_nonce(uint8_t nonce[12], uint64_t n)
{
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

void noise_cipher_init(struct noise_cipher *cs, const uint8_t k[NOISE_KEYLEN])
{
	memcpy(cs->k, k, NOISE_KEYLEN);
	cs->n = 0;
	cs->has_key = true;
}

void noise_cipher_wipe(struct noise_cipher *cs)
{
	sodium_memzero(cs, sizeof(*cs));
}

int noise_cipher_encrypt(struct noise_cipher *cs, const uint8_t *ad, size_t adlen,
			 const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[12];

	if (!cs->has_key) {
		memmove(out, in, len);
		return 0;
	}
	/* 2^64 - 1 is reserved (5.1); running into it means the key is spent. */
	if (cs->n == UINT64_MAX)
		return -EPROTO;
	make_nonce(nonce, cs->n);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, len, ad, adlen, NULL,
						  nonce, cs->k);
	cs->n++;
	return 0;
}

int noise_cipher_decrypt(struct noise_cipher *cs, const uint8_t *ad, size_t adlen,
			 const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[12];

	if (!cs->has_key) {
		memmove(out, in, len);
		return 0;
	}
	if (len < NOISE_TAGLEN)
		return -EINVAL;
	if (cs->n == UINT64_MAX)
		return -EPROTO;
	make_nonce(nonce, cs->n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, in, len, ad, adlen,
						      nonce, cs->k))
		return -EBADMSG;
	cs->n++;
	return 0;
}

/* ---- SymmetricState (5.2) ---- */

static void mix_hash(struct noise_symmetric *ss, const uint8_t *data, size_t len)
{
	noise_hash(ss->h, ss->h, sizeof(ss->h), data, len);
}

static void mix_key(struct noise_symmetric *ss, const uint8_t *ikm, size_t len)
{
	uint8_t temp_k[NOISE_HASHLEN];

	noise_hkdf(ss->ck, ikm, len, ss->ck, temp_k, NULL);
	noise_cipher_init(&ss->cs, temp_k);	/* truncated to 32 bytes */
	sodium_memzero(temp_k, sizeof(temp_k));
}

static void mix_key_and_hash(struct noise_symmetric *ss, const uint8_t *ikm, size_t len)
{
	uint8_t temp_h[NOISE_HASHLEN], temp_k[NOISE_HASHLEN];

	noise_hkdf(ss->ck, ikm, len, ss->ck, temp_h, temp_k);
	mix_hash(ss, temp_h, sizeof(temp_h));
	noise_cipher_init(&ss->cs, temp_k);
	sodium_memzero(temp_h, sizeof(temp_h));
	sodium_memzero(temp_k, sizeof(temp_k));
}

/* out gets len (+ NOISE_TAGLEN once a key is set) bytes. */
static int encrypt_and_hash(struct noise_symmetric *ss, const uint8_t *in, size_t len,
			    uint8_t *out)
{
	size_t outlen = len + (ss->cs.has_key ? NOISE_TAGLEN : 0);
	int err;

	err = noise_cipher_encrypt(&ss->cs, ss->h, sizeof(ss->h), in, len, out);
	if (err)
		return err;
	mix_hash(ss, out, outlen);
	return 0;
}

static int decrypt_and_hash(struct noise_symmetric *ss, const uint8_t *in, size_t len,
			    uint8_t *out)
{
	uint8_t h[NOISE_HASHLEN];
	int err;

	/* The ciphertext is hashed, and in may alias out: keep h for later. */
	noise_hash(h, ss->h, sizeof(ss->h), in, len);
	err = noise_cipher_decrypt(&ss->cs, ss->h, sizeof(ss->h), in, len, out);
	if (err)
		return err;
	memcpy(ss->h, h, sizeof(h));
	return 0;
}

static size_t sealed_len(const struct noise_symmetric *ss, size_t len)
{
	return len + (ss->cs.has_key ? NOISE_TAGLEN : 0);
}

static void symmetric_init(struct noise_symmetric *ss, const char *name)
{
	size_t len = strlen(name);

	memset(ss, 0, sizeof(*ss));
	if (len <= NOISE_HASHLEN)
		memcpy(ss->h, name, len);
	else
		noise_hash(ss->h, (const uint8_t *)name, len, NULL, 0);
	memcpy(ss->ck, ss->h, sizeof(ss->ck));
}

/* ---- HandshakeState (5.3) ---- */

int noise_handshake_init(struct noise_handshake *hs, enum noise_pattern pattern,
			 bool initiator, const uint8_t *prologue, size_t prologue_len,
			 const uint8_t s_priv[NOISE_DHLEN], const uint8_t *rs,
			 const uint8_t *psk)
{
	if (pattern != NOISE_IK && pattern != NOISE_IKPSK2)
		return -EINVAL;
	if (!s_priv || (initiator && !rs) || (prologue_len && !prologue))
		return -EINVAL;
	if (sodium_init() < 0)
		return -ENOSYS;

	memset(hs, 0, sizeof(*hs));
	hs->pattern = pattern;
	hs->initiator = initiator;
	memcpy(hs->s_priv, s_priv, NOISE_DHLEN);
	crypto_scalarmult_base(hs->s_pub, hs->s_priv);
	if (psk)
		memcpy(hs->psk, psk, NOISE_PSKLEN);

	symmetric_init(&hs->ss, protocol_names[pattern]);
	mix_hash(&hs->ss, prologue, prologue_len);
	/* The pre-message "<- s": the responder's static public key. */
	if (initiator) {
		memcpy(hs->rs, rs, NOISE_DHLEN);
		mix_hash(&hs->ss, hs->rs, NOISE_DHLEN);
	} else {
		mix_hash(&hs->ss, hs->s_pub, NOISE_DHLEN);
	}
	return 0;
}

int noise_handshake_set_psk(struct noise_handshake *hs, const uint8_t psk[NOISE_PSKLEN])
{
	if (hs->msg >= 2)
		return -EPROTO;
	memcpy(hs->psk, psk, NOISE_PSKLEN);
	return 0;
}

int noise_handshake_set_ephemeral(struct noise_handshake *hs,
				  const uint8_t e_priv[NOISE_DHLEN])
{
	if (hs->msg > (hs->initiator ? 0 : 1))
		return -EPROTO;
	memcpy(hs->e_priv, e_priv, NOISE_DHLEN);
	hs->e_fixed = true;
	return 0;
}

static int mix_dh(struct noise_handshake *hs, enum noise_token tok)
{
	const uint8_t *priv, *pub;
	uint8_t shared[NOISE_DHLEN];
	int err;

	switch (tok) {
	case TOK_EE:
		priv = hs->e_priv;
		pub = hs->re;
		break;
	case TOK_SS:
		priv = hs->s_priv;
		pub = hs->rs;
		break;
	case TOK_ES:
		priv = hs->initiator ? hs->e_priv : hs->s_priv;
		pub = hs->initiator ? hs->rs : hs->re;
		break;
	default:	/* TOK_SE */
		priv = hs->initiator ? hs->s_priv : hs->e_priv;
		pub = hs->initiator ? hs->re : hs->rs;
		break;
	}
	hs->dh_count++;
	err = noise_dh(shared, priv, pub);
	if (!err)
		mix_key(&hs->ss, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return err;
}

static const enum noise_token *next_tokens(const struct noise_handshake *hs)
{
	return hs->msg == 0 ? ik_msg1 : ik_msg2;
}

static int write_token(struct noise_handshake *hs, enum noise_token tok, uint8_t *out,
		       size_t cap, size_t *off)
{
	size_t need;
	int err;

	switch (tok) {
	case TOK_E:
		if (cap - *off < NOISE_DHLEN)
			return -ENOSPC;
		if (!hs->e_fixed)
			randombytes_buf(hs->e_priv, NOISE_DHLEN);
		crypto_scalarmult_base(hs->e_pub, hs->e_priv);
		memcpy(out + *off, hs->e_pub, NOISE_DHLEN);
		*off += NOISE_DHLEN;
		mix_hash(&hs->ss, hs->e_pub, NOISE_DHLEN);
		if (hs->pattern == NOISE_IKPSK2)
			mix_key(&hs->ss, hs->e_pub, NOISE_DHLEN);
		return 0;
	case TOK_S:
		need = sealed_len(&hs->ss, NOISE_DHLEN);
		if (cap - *off < need)
			return -ENOSPC;
		err = encrypt_and_hash(&hs->ss, hs->s_pub, NOISE_DHLEN, out + *off);
		*off += need;
		return err;
	case TOK_PSK:
		if (hs->pattern == NOISE_IKPSK2)
			mix_key_and_hash(&hs->ss, hs->psk, NOISE_PSKLEN);
		return 0;
	default:
		return mix_dh(hs, tok);
	}
}

static int read_token(struct noise_handshake *hs, enum noise_token tok, const uint8_t *msg,
		      size_t len, size_t *off)
{
	size_t need;

	switch (tok) {
	case TOK_E:
		if (len - *off < NOISE_DHLEN)
			return -EINVAL;
		memcpy(hs->re, msg + *off, NOISE_DHLEN);
		*off += NOISE_DHLEN;
		mix_hash(&hs->ss, hs->re, NOISE_DHLEN);
		if (hs->pattern == NOISE_IKPSK2)
			mix_key(&hs->ss, hs->re, NOISE_DHLEN);
		return 0;
	case TOK_S:
		need = sealed_len(&hs->ss, NOISE_DHLEN);
		if (len - *off < need)
			return -EINVAL;
		*off += need;
		return decrypt_and_hash(&hs->ss, msg + *off - need, need, hs->rs);
	case TOK_PSK:
		if (hs->pattern == NOISE_IKPSK2)
			mix_key_and_hash(&hs->ss, hs->psk, NOISE_PSKLEN);
		return 0;
	default:
		return mix_dh(hs, tok);
	}
}

static bool my_turn(const struct noise_handshake *hs, bool writing)
{
	if (hs->msg >= 2)
		return false;
	/* Message 0 goes initiator to responder, message 1 back. */
	return (hs->msg == 0) == (hs->initiator == writing);
}

int noise_write_message(struct noise_handshake *hs, const uint8_t *payload, size_t plen,
			uint8_t *out, size_t cap)
{
	const enum noise_token *tok;
	size_t off = 0, need;
	int err;

	if (!my_turn(hs, true))
		return -EPROTO;
	if (plen > NOISE_MAX_MSG || (plen && !payload))
		return -EINVAL;
	if (cap > NOISE_MAX_MSG)
		cap = NOISE_MAX_MSG;

	for (tok = next_tokens(hs); *tok != TOK_END; tok++) {
		err = write_token(hs, *tok, out, cap, &off);
		if (err)
			goto out;
	}
	need = sealed_len(&hs->ss, plen);
	if (cap - off < need) {
		err = -ENOSPC;
		goto out;
	}
	err = encrypt_and_hash(&hs->ss, payload, plen, out + off);
	if (err)
		goto out;
	off += need;
	hs->msg++;
out:
	if (err)
		noise_handshake_wipe(hs);
	return err ? err : (int)off;
}

int noise_read_message(struct noise_handshake *hs, const uint8_t *msg, size_t len,
		       uint8_t *payload, size_t cap)
{
	const enum noise_token *tok;
	size_t off = 0, plen;
	int err;

	if (!my_turn(hs, false))
		return -EPROTO;
	if (len > NOISE_MAX_MSG)
		return -EINVAL;

	for (tok = next_tokens(hs); *tok != TOK_END; tok++) {
		err = read_token(hs, *tok, msg, len, &off);
		if (err)
			goto out;
	}
	if (len - off < sealed_len(&hs->ss, 0)) {
		err = -EINVAL;
		goto out;
	}
	plen = len - off - (hs->ss.cs.has_key ? NOISE_TAGLEN : 0);
	if (plen > cap) {
		err = -ENOSPC;
		goto out;
	}
	err = decrypt_and_hash(&hs->ss, msg + off, len - off, payload);
	if (err)
		goto out;
	hs->msg++;
out:
	if (err)
		noise_handshake_wipe(hs);
	return err ? err : (int)plen;
}

bool noise_handshake_done(const struct noise_handshake *hs)
{
	return hs->msg == 2;
}

const uint8_t *noise_handshake_hash(const struct noise_handshake *hs)
{
	return hs->ss.h;
}

const uint8_t *noise_handshake_remote_static(const struct noise_handshake *hs)
{
	return hs->rs;
}

int noise_split(struct noise_handshake *hs, struct noise_cipher *c1, struct noise_cipher *c2)
{
	uint8_t k1[NOISE_HASHLEN], k2[NOISE_HASHLEN];

	if (!noise_handshake_done(hs))
		return -EPROTO;
	noise_hkdf(hs->ss.ck, NULL, 0, k1, k2, NULL);
	noise_cipher_init(c1, k1);
	noise_cipher_init(c2, k2);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));

	sodium_memzero(&hs->ss.cs, sizeof(hs->ss.cs));
	sodium_memzero(hs->ss.ck, sizeof(hs->ss.ck));
	sodium_memzero(hs->s_priv, sizeof(hs->s_priv));
	sodium_memzero(hs->e_priv, sizeof(hs->e_priv));
	sodium_memzero(hs->psk, sizeof(hs->psk));
	return 0;
}

void noise_handshake_wipe(struct noise_handshake *hs)
{
	unsigned int dh_count = hs->dh_count;

	sodium_memzero(hs, sizeof(*hs));
	hs->msg = 3;		/* neither turn nor done: every call fails */
	hs->dh_count = dh_count;
}
