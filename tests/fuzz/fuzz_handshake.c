// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness: arbitrary bytes into every parser of untrusted input in
 * the handshake library (initiation, response, cookie reply, hs_peek, the
 * Noise reader) and into the Base64 key decoder. Build and run with
 * tests/fuzz/run.sh.
 *
 * The first input byte holds flags, the rest is the message. With FIX_MACS
 * the harness patches the receiver index and recomputes mac1 (as a peer that
 * knows the public key can), so the fuzzer also reaches the Noise code
 * behind the cheap checks. Each message is copied to a buffer of exactly its
 * length, so AddressSanitizer catches any read past len.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "b64key.h"
#include "handshake.h"
#include "noise.h"

#define FIX_MACS	0x01
#define UNDER_LOAD	0x02
#define NOISE_IK_MODE	0x04

static struct hs_identity id_a, id_b;
static struct hs_peer a_sees_b, b_sees_a;
static struct hs_handshake pending;	/* a's initiation in flight to b */

static struct hs_peer *lookup(void *arg, const uint8_t pub[HS_KEY_LEN])
{
	(void)arg;
	return memcmp(pub, b_sees_a.pub, HS_KEY_LEN) ? NULL : &b_sees_a;
}

static void setup(void)
{
	static const uint8_t ka[32] = { 0xa1 }, kb[32] = { 0xb2 };
	uint8_t msg[HS_MAX_MSG_LEN];

	if (hs_init_identity(&id_a, ka, NULL) || hs_init_identity(&id_b, kb, NULL))
		abort();
	hs_peer_init(&a_sees_b, id_b.pub);
	hs_peer_init(&b_sees_a, id_a.pub);
	if (hs_create_initiation(&pending, &id_a, &a_sees_b, 0x01020304, 0, msg, sizeof(msg)) !=
	    HS_INITIATION_LEN)
		abort();
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void fix_mac1(uint8_t *buf, size_t len, const uint8_t key[HS_KEY_LEN])
{
	if (len >= 2 * HS_MAC_LEN)
		crypto_generichash(buf + len - 2 * HS_MAC_LEN, HS_MAC_LEN, buf,
				   len - 2 * HS_MAC_LEN, key, HS_KEY_LEN);
}

static uint8_t *copy(const uint8_t *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (!p)
		abort();
	memcpy(p, data, len);
	return p;
}

static void fuzz_initiation(const uint8_t *data, size_t len, uint8_t flags)
{
	struct hs_src src = { .addr = { [15] = 1 }, .port = 4242 };
	uint8_t *buf = copy(data, len), reply[HS_COOKIE_REPLY_LEN];
	struct hs_handshake hs;
	uint8_t resp[HS_RESPONSE_LEN];

	if (flags & FIX_MACS)
		fix_mac1(buf, len, id_b.mac1_key);
	if (!hs_consume_initiation(&hs, &id_b, buf, len, &src, flags & UNDER_LOAD, lookup, NULL))
		hs_create_response(&hs, 0, 0, resp, sizeof(resp));
	hs_cookie_reply_create(&id_b, buf, len, &src, reply, sizeof(reply));
	free(buf);
}

static const uint8_t join_secret[HS_INVITE_SECRET_LEN] = { 7 };

static int join_decide(void *arg, const struct hs_join_req *req, struct hs_peer **peer)
{
	(void)arg;
	if (!hs_join_proof_ok(&id_b, req, join_secret))
		return HS_E_JOIN_INVALID;
	*peer = &b_sees_a;
	return 0;
}

/* Join initiations (type 4) and the refusal a joiner may get back. */
static void fuzz_join(const uint8_t *data, size_t len, uint8_t flags)
{
	struct hs_src src = { .addr = { [15] = 1 }, .port = 4242 };
	uint8_t *buf = copy(data, len), out[HS_MAX_MSG_LEN];
	struct hs_handshake hs = pending;
	struct hs_join_req req;

	if (flags & FIX_MACS)
		fix_mac1(buf, len, id_b.mac1_key);
	if (!hs_consume_join(&hs, &id_b, buf, len, &src, flags & UNDER_LOAD, lookup,
			     join_decide, NULL, &req))
		hs_create_response(&hs, 0, 0, out, sizeof(out));
	hs_refusal_create(join_secret, buf, len, HS_E_JOIN_USED, out, sizeof(out));
	hs = pending;
	if ((flags & FIX_MACS) && len >= 8)
		put_be32(buf + 4, pending.local_index);
	hs_refusal_consume(&hs, join_secret, buf, len);
	free(buf);
}

static void fuzz_response(const uint8_t *data, size_t len, uint8_t flags)
{
	uint8_t *buf = copy(data, len);
	struct hs_handshake hs = pending;
	struct hs_sa_keys keys;

	if ((flags & FIX_MACS) && len >= 12 + 2 * HS_MAC_LEN) {
		put_be32(buf + 8, pending.local_index);
		fix_mac1(buf, len, id_a.mac1_key);
		memset(buf + len - HS_MAC_LEN, 0, HS_MAC_LEN);
	}
	if (!hs_consume_response(&hs, buf, len))
		hs_derive_sa_keys(&hs, &keys);
	free(buf);
}

static void fuzz_cookie_reply(const uint8_t *data, size_t len, uint8_t flags)
{
	uint8_t *buf = copy(data, len);
	struct hs_handshake hs = pending;
	struct hs_peer peer = a_sees_b;

	hs.peer = &peer;
	if ((flags & FIX_MACS) && len >= 8)
		put_be32(buf + 4, pending.local_index);
	hs_cookie_reply_consume(&hs, buf, len);
	free(buf);
}

static void fuzz_noise(const uint8_t *data, size_t len, uint8_t flags)
{
	enum noise_pattern pat = flags & NOISE_IK_MODE ? NOISE_IK : NOISE_IKPSK2;
	static const uint8_t psk[NOISE_PSKLEN];
	uint8_t *buf = copy(data, len), payload[256];
	struct noise_handshake hs;

	if (!noise_handshake_init(&hs, pat, false, NULL, 0, id_b.priv, NULL, psk))
		noise_read_message(&hs, buf, len, payload, sizeof(payload));
	free(buf);
}

static void fuzz_base64(const uint8_t *data, size_t len)
{
	char *buf = (char *)copy(data, len);
	uint8_t key[PG_X25519_LEN];

	pg_key_from_base64(key, buf, len);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	uint32_t idx;
	uint8_t flags;

	if (!ready) {
		setup();
		ready = true;
	}
	if (!size)
		return 0;
	flags = data[0];
	data++;
	size--;

	hs_peek(data, size, &idx);
	fuzz_initiation(data, size, flags);
	fuzz_response(data, size, flags);
	fuzz_cookie_reply(data, size, flags);
	fuzz_join(data, size, flags);
	fuzz_noise(data, size, flags);
	fuzz_base64(data, size);
	return 0;
}
