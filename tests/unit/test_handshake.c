// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The pairing handshake (userspace/lib/handshake.c) and the Base64 key
 * format (userspace/lib/b64key.c), two identities talking in memory.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "testlib.h"
#include "b64key.h"
#include "handshake.h"


static uint64_t fake_now = 1000 * 1000000000ULL;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static void advance(unsigned int secs)
{
	fake_now += secs * 1000000000ULL;
}

/* Two hosts: a initiates, b responds; each knows the other as a peer. */
struct world {
	struct hs_identity a, b;
	struct hs_peer a_sees_b, b_sees_a;
	struct hs_handshake ha, hb;
	struct hs_src src;
	uint8_t m1[HS_MAX_MSG_LEN], m2[HS_MAX_MSG_LEN], cr[HS_MAX_MSG_LEN];
	bool b_knows_a;
};

static const uint8_t key_a[32] = { 0x11, 0x22 }, key_b[32] = { 0x33, 0x44 };
static const uint8_t key_c[32] = { 0x55 };

static struct hs_peer *b_lookup(void *arg, const uint8_t pub[HS_KEY_LEN])
{
	struct world *w = arg;

	if (w->b_knows_a && !memcmp(pub, w->b_sees_a.pub, HS_KEY_LEN))
		return &w->b_sees_a;
	return NULL;
}

static struct world *world_new(const uint8_t *psk_a, const uint8_t *psk_b)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	if (hs_init_identity(&w->a, key_a, psk_a) || hs_init_identity(&w->b, key_b, psk_b))
		abort();
	w->a.clock = w->b.clock = fake_clock;
	hs_peer_init(&w->a_sees_b, w->b.pub);
	hs_peer_init(&w->b_sees_a, w->a.pub);
	w->b_knows_a = true;
	w->src.addr[10] = w->src.addr[11] = 0xff;
	w->src.addr[12] = 198;
	w->src.addr[13] = 18;
	w->src.addr[15] = 1;
	w->src.port = 40000;
	return w;
}

static int initiate(struct world *w, struct hs_handshake *ha, uint8_t *m1)
{
	return hs_create_initiation(ha, &w->a, &w->a_sees_b, 0, 0, m1, HS_MAX_MSG_LEN);
}

static int consume1(struct world *w, const uint8_t *m1, size_t len, bool load)
{
	return hs_consume_initiation(&w->hb, &w->b, m1, len, &w->src, load, b_lookup, w);
}

/* Runs messages 1 and 2; returns the first error. */
static int full_handshake(struct world *w)
{
	int n;

	n = initiate(w, &w->ha, w->m1);
	if (n != HS_INITIATION_LEN)
		return n < 0 ? n : HS_E_LEN;
	n = consume1(w, w->m1, n, false);
	if (n)
		return n;
	n = hs_create_response(&w->hb, 0, 0, w->m2, sizeof(w->m2));
	if (n != HS_RESPONSE_LEN)
		return n < 0 ? n : HS_E_LEN;
	return hs_consume_response(&w->ha, w->m2, n);
}

/* ---- keys ---- */

static void test_keys(void)
{
	/* RFC 7748 section 6.1, Alice's key pair. */
	static const char priv_b64[] = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
	static const char pub_b64[] = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
	static const char *bad[] = {
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo",		/* 43 chars */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo==",	/* 45 chars */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp=",		/* bits set */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC==",		/* 31 bytes */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L_o=",		/* url-safe */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25 Co=",		/* space */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCoA",		/* no '=' */
	};
	uint8_t priv[32], pub[32], back[32], gen[32];
	char text[PG_KEY_B64_LEN + 1];
	size_t i;
	int err;

	err = pg_key_from_base64(priv, priv_b64, strlen(priv_b64));
	err = err ?: pg_key_public(pub, priv);
	pg_key_to_base64(text, pub);
	tl_check(!err && !strcmp(text, pub_b64), "pubkey of the RFC 7748 private key",
	      "err %d, got %s", err, text);

	pg_key_to_base64(text, priv);
	err = pg_key_from_base64(back, text, strlen(text));
	tl_check(!err && !memcmp(back, priv, 32) && !strcmp(text, priv_b64),
	      "base64 key round trip", "err %d, got %s", err, text);

	for (i = 0, err = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!pg_key_from_base64(back, bad[i], strlen(bad[i])))
			break;
	tl_check(i == sizeof(bad) / sizeof(bad[0]), "malformed base64 keys are refused",
	      "accepted `%s'", i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : "");

	err = pg_key_generate(gen);
	tl_check(!err && !(gen[0] & 7) && (gen[31] & 0xc0) == 0x40 && !pg_key_public(pub, gen),
	      "genkey gives a clamped key with a public key", "err %d", err);
}

/* ---- the handshake ---- */

static void test_full(void)
{
	struct world *w = world_new(NULL, NULL);
	struct hs_sa_keys ka, kb;
	int err;

	err = full_handshake(w);
	err = err ?: hs_derive_sa_keys(&w->ha, &ka);
	err = err ?: hs_derive_sa_keys(&w->hb, &kb);
	tl_check(!err, "full handshake completes", "%s", hs_strerror(err));
	tl_check(!err && w->hb.peer == &w->b_sees_a, "responder identifies the initiator",
	      "wrong peer");
	tl_check(!err && ka.out_spi == kb.in_spi && kb.out_spi == ka.in_spi && ka.in_spi &&
	      kb.in_spi, "SPIs agree", "a in %08x out %08x, b in %08x out %08x",
	      ka.in_spi, ka.out_spi, kb.in_spi, kb.out_spi);
	tl_check(!err && !memcmp(ka.tag_key_out, kb.tag_key_in, 16) &&
	      !memcmp(ka.tag_key_in, kb.tag_key_out, 16) &&
	      !memcmp(ka.aead_key_out, kb.aead_key_in, 32) &&
	      !memcmp(ka.aead_key_in, kb.aead_key_out, 32), "SA keys agree per direction",
	      "keys differ");
	tl_check(!err && memcmp(ka.tag_key_in, ka.tag_key_out, 16) &&
	      memcmp(ka.aead_key_in, ka.aead_key_out, 32) &&
	      memcmp(ka.tag_key_in, ka.aead_key_in, 16) && !sodium_is_zero(ka.tag_key_in, 16),
	      "SA keys differ between directions and uses", "keys repeat");
	err = hs_derive_sa_keys(&w->ha, &ka);
	tl_check(err == HS_E_STATE && sodium_is_zero(w->ha.noise.s_priv, 32),
	      "keys are taken once and the handshake is wiped", "second derive gave %d", err);
	free(w);
}

static void test_psk(void)
{
	static const uint8_t psk1[32] = { 1 }, psk2[32] = { 2 };
	struct world *w = world_new(psk1, psk1);
	int err;

	err = full_handshake(w);
	tl_check(!err, "handshake with a shared PSK completes", "%s", hs_strerror(err));
	free(w);

	w = world_new(psk1, psk2);
	err = full_handshake(w);
	tl_check(err == HS_E_DECRYPT && w->ha.state == HS_STATE_INIT_SENT,
	      "PSK mismatch is refused by the initiator", "got %s", hs_strerror(err));
	free(w);

	w = world_new(NULL, psk2);
	err = full_handshake(w);
	tl_check(err == HS_E_DECRYPT, "PSK on one side only is refused", "got %s",
	      hs_strerror(err));
	free(w);
}

static void test_unknown_and_wrong_keys(void)
{
	struct world *w = world_new(NULL, NULL);
	struct hs_peer wrong;
	uint8_t pub_c[32];
	int n, err;

	w->b_knows_a = false;
	n = initiate(w, &w->ha, w->m1);
	err = consume1(w, w->m1, n, false);
	n = hs_create_response(&w->hb, 0, 0, w->m2, sizeof(w->m2));
	tl_check(err == HS_E_UNKNOWN_PEER && n == HS_E_STATE,
	      "unknown initiator static key is refused, no response", "consume %s, create %d",
	      hs_strerror(err), n);

	/* a addresses c's static key; mac1 as if for b: only Noise can notice. */
	w->b_knows_a = true;
	crypto_scalarmult_base(pub_c, key_c);
	hs_peer_init(&wrong, pub_c);
	memcpy(wrong.mac1_key, w->a_sees_b.mac1_key, HS_KEY_LEN);
	n = hs_create_initiation(&w->ha, &w->a, &wrong, 0, 0, w->m1, sizeof(w->m1));
	err = consume1(w, w->m1, n, false);
	n = hs_create_response(&w->hb, 0, 0, w->m2, sizeof(w->m2));
	tl_check(err == HS_E_DECRYPT && n == HS_E_STATE,
	      "initiation to a wrong responder static key is refused, no response",
	      "consume %s, create %d", hs_strerror(err), n);

	/* Plainly to c: mac1 is wrong and nothing costly runs. */
	hs_peer_init(&wrong, pub_c);
	n = hs_create_initiation(&w->ha, &w->a, &wrong, 0, 0, w->m1, sizeof(w->m1));
	err = consume1(w, w->m1, n, false);
	tl_check(err == HS_E_MAC1 && w->hb.noise.dh_count == 0,
	      "mac1 under a wrong responder key is refused before any DH", "%s after %u DH",
	      hs_strerror(err), w->hb.noise.dh_count);
	free(w);
}

static void test_replay(void)
{
	struct world *w = world_new(NULL, NULL);
	uint8_t old[HS_MAX_MSG_LEN];
	struct hs_handshake h_old;
	int err, n;

	n = initiate(w, &h_old, old);
	n = n == HS_INITIATION_LEN ? initiate(w, &w->ha, w->m1) : n;
	err = n == HS_INITIATION_LEN ? consume1(w, w->m1, n, false) : n;
	tl_check(!err, "fresh initiation is accepted", "%s", hs_strerror(err));

	err = consume1(w, w->m1, HS_INITIATION_LEN, false);
	tl_check(err == HS_E_REPLAY, "the same initiation again is refused", "got %s",
	      hs_strerror(err));
	err = consume1(w, old, HS_INITIATION_LEN, false);
	tl_check(err == HS_E_REPLAY, "an initiation with an older timestamp is refused", "got %s",
	      hs_strerror(err));

	memset(w->b_sees_a.last_ts, 0xff, HS_TAI64N_LEN);	/* as if restored */
	n = initiate(w, &w->ha, w->m1);
	err = consume1(w, w->m1, n, false);
	tl_check(err == HS_E_REPLAY, "persisted timestamp state is honoured", "got %s",
	      hs_strerror(err));
	free(w);
}

static void test_tamper_initiation(void)
{
	struct world *w = world_new(NULL, NULL);
	uint8_t buf[HS_MAX_MSG_LEN];
	int i, n, err, bad = -1, bad_err = 0;

	n = initiate(w, &w->ha, w->m1);
	for (i = 0; i < n * 8 && bad < 0; i++) {
		memcpy(buf, w->m1, n);
		buf[i / 8] ^= 1 << (i % 8);
		err = consume1(w, buf, n, false);
		if (err >= 0 || hs_create_response(&w->hb, 0, 0, w->m2, sizeof(w->m2)) > 0) {
			bad = i;
			bad_err = err;
		}
	}
	err = consume1(w, w->m1, n, false);
	tl_check(bad < 0 && !err, "every bit flip of the initiation is refused",
	      "first accepted bit flip %d (%s); intact initiation: %s", bad,
	      hs_strerror(bad_err), hs_strerror(err));
	free(w);
}

static void test_tamper_response(void)
{
	struct world *w = world_new(NULL, NULL);
	uint8_t buf[HS_MAX_MSG_LEN];
	int i, n, err, bad = -1;
	struct hs_sa_keys ka, kb;

	n = initiate(w, &w->ha, w->m1);
	err = consume1(w, w->m1, n, false);
	n = err ? err : hs_create_response(&w->hb, 0, 0, w->m2, sizeof(w->m2));
	for (i = 0; n > 0 && i < n * 8 && bad < 0; i++) {
		memcpy(buf, w->m2, n);
		buf[i / 8] ^= 1 << (i % 8);
		if (hs_consume_response(&w->ha, buf, n) >= 0)
			bad = i;
	}
	err = n > 0 ? hs_consume_response(&w->ha, w->m2, n) : n;
	err = err ?: hs_derive_sa_keys(&w->ha, &ka);
	err = err ?: hs_derive_sa_keys(&w->hb, &kb);
	tl_check(bad < 0 && !err && !memcmp(ka.tag_key_out, kb.tag_key_in, 16),
	      "every bit flip of the response is refused, the real one then completes",
	      "first accepted bit flip %d; intact response: %s", bad, hs_strerror(err));
	free(w);
}

static void test_lengths(void)
{
	struct world *w = world_new(NULL, NULL);
	uint8_t buf[512];
	size_t len;
	int n, err, bad = -1;

	n = initiate(w, &w->ha, w->m1);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, w->m1, n);
	for (len = 0; len < sizeof(buf) && bad < 0; len++) {
		if (len == HS_INITIATION_LEN)
			continue;
		err = consume1(w, buf, len, false);
		if (err != HS_E_LEN && err != HS_E_TYPE)
			bad = len;
		err = hs_consume_response(&w->ha, buf, len);
		if (err != HS_E_LEN && err != HS_E_TYPE)
			bad = len;
	}
	tl_check(bad < 0, "messages of a wrong length are refused", "length %d", bad);
	tl_check(hs_consume_response(&w->ha, w->m1, n) == HS_E_TYPE &&
	      hs_cookie_reply_consume(&w->ha, w->m1, n) == HS_E_TYPE,
	      "an initiation where a response is expected is refused", "accepted");
	tl_check(consume1(w, NULL, 0, false) == HS_E_LEN, "NULL buffer is refused", "accepted");
	free(w);
}

static void test_cookie(void)
{
	struct world *w = world_new(NULL, NULL);
	struct hs_handshake h2;
	uint8_t buf[HS_MAX_MSG_LEN], cr[HS_MAX_MSG_LEN];
	int n, c, err;

	n = initiate(w, &w->ha, w->m1);
	err = consume1(w, w->m1, n, true);
	tl_check(err == HS_E_COOKIE, "under load, an initiation without mac2 gets a cookie",
	      "got %s", hs_strerror(err));
	c = hs_cookie_reply_create(&w->b, w->m1, n, &w->src, cr, sizeof(cr));
	err = c == HS_COOKIE_REPLY_LEN ? hs_cookie_reply_consume(&w->ha, cr, c) : c;
	tl_check(!err, "cookie reply is created and accepted", "%s", hs_strerror(err));

	memcpy(buf, cr, c);
	buf[c - 1] ^= 1;
	err = hs_cookie_reply_consume(&w->ha, buf, c);
	tl_check(err == HS_E_DECRYPT, "tampered cookie reply is refused", "got %s",
	      hs_strerror(err));

	/* The retry: a fresh initiation now carrying mac2. */
	n = initiate(w, &h2, w->m1);
	memcpy(buf, w->m1, n);
	err = consume1(w, w->m1, n, true);
	tl_check(!err && !sodium_is_zero(w->m1 + n - 16, 16), "initiation with mac2 is accepted "
	      "under load", "got %s", hs_strerror(err));
	n = err ? 0 : hs_create_response(&w->hb, 0, 0, w->m2, sizeof(w->m2));
	err = n > 0 ? hs_consume_response(&h2, w->m2, n) : n;
	tl_check(!err, "handshake after the cookie completes", "%s", hs_strerror(err));

	/* Same message, bad mac2 (new timestamp needed, so build another). */
	n = initiate(w, &h2, w->m1);
	w->m1[n - 1] ^= 1;
	err = consume1(w, w->m1, n, true);
	tl_check(err == HS_E_COOKIE, "wrong mac2 under load is refused", "got %s",
	      hs_strerror(err));
	err = consume1(w, w->m1, n, false);
	tl_check(err == HS_E_COOKIE, "wrong mac2 without load is refused too", "got %s",
	      hs_strerror(err));
	w->m1[n - 1] ^= 1;
	w->src.port++;
	err = consume1(w, w->m1, n, true);
	tl_check(err == HS_E_COOKIE, "mac2 from another source port is refused", "got %s",
	      hs_strerror(err));
	w->src.port--;

	advance(100);
	n = initiate(w, &h2, w->m1);
	advance(30);
	err = consume1(w, w->m1, n, true);
	tl_check(!err, "cookie still valid across one secret rotation", "got %s",
	      hs_strerror(err));

	advance(15);
	n = initiate(w, &h2, w->m1);
	tl_check(sodium_is_zero(w->m1 + n - 16, 16), "initiator stops using an old cookie",
	      "mac2 still set");

	advance(300);
	w->a_sees_b.cookie_time = fake_now;	/* force the stale cookie into mac2 */
	n = initiate(w, &h2, w->m1);
	err = consume1(w, w->m1, n, false);
	tl_check(err == HS_E_COOKIE, "mac2 under an expired cookie secret is refused", "got %s",
	      hs_strerror(err));

	memcpy(buf, w->m1, n);
	buf[HS_INITIATION_LEN - 2 * HS_MAC_LEN] ^= 1;
	c = hs_cookie_reply_create(&w->b, buf, n, &w->src, cr, sizeof(cr));
	tl_check(c == HS_E_MAC1, "no cookie reply to a message with a bad mac1", "got %d", c);
	free(w);
}

static void test_strerror(void)
{
	int e, bad = 1;

	for (e = HS_OK; e >= HS_E_CRYPTO; e--)
		if (!hs_strerror(e) || !strcmp(hs_strerror(e), hs_strerror(-100)))
			bad = e;
	tl_check(bad == 1, "every error code has a message", "code %d", bad);
}

int main(void)
{
	if (sodium_init() < 0) {
		printf("FAIL sodium_init: libsodium cannot initialise\n");
		return 1;
	}
	test_keys();
	test_full();
	test_psk();
	test_unknown_and_wrong_keys();
	test_replay();
	test_tamper_initiation();
	test_tamper_response();
	test_lengths();
	test_cookie();
	test_strerror();
	fflush(stdout);
	return tl_exit();
}
