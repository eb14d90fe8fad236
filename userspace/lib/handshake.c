// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pairgate's pairing handshake on top of Noise IKpsk2. The byte layout,
 * labels and rules are specified in docs/handshake.md.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>

#include <sodium.h>

#include "handshake.h"

#define NS_PER_SEC		1000000000ULL
#define TAI64_EPOCH		0x400000000000000aULL	/* 2^62 + 10: 1970-01-01 TAI */

static const char prologue[] = "pairgate handshake v1";
static const char label_mac1[] = "pairgate v1 mac1 key";
static const char label_cookie[] = "pairgate v1 cookie key";
static const char label_tag[] = "pairgate v1 siphash tag key";
static const char label_aead[] = "pairgate v1 sealed aead key";
static const char label_proof[] = "pairgate v1 join proof";
static const char label_refusal[] = "pairgate v1 join refusal";

/* Payloads inside the Noise messages. */
#define INIT_PAYLOAD_LEN	(HS_TAI64N_LEN + 4)	/* timestamp, inbound SPI */
#define RESP_PAYLOAD_LEN	4			/* inbound SPI */
#define JOIN_EXTRA_LEN		(HS_INVITE_ID_LEN + HS_JOIN_PROOF_LEN)
#define JOIN_PAYLOAD_LEN	(INIT_PAYLOAD_LEN + JOIN_EXTRA_LEN)
#define MAX_INIT_PAYLOAD	JOIN_PAYLOAD_LEN

/* Offsets; the two MACs always end a message. */
#define HDR_LEN			4
#define INIT_NOISE_OFF		8
#define INIT_NOISE_LEN		NOISE_IK_MSG1_LEN(INIT_PAYLOAD_LEN)
#define RESP_RECEIVER_OFF	8
#define RESP_NOISE_OFF		12
#define RESP_NOISE_LEN		NOISE_IK_MSG2_LEN(RESP_PAYLOAD_LEN)
#define JOIN_NOISE_LEN		NOISE_IK_MSG1_LEN(JOIN_PAYLOAD_LEN)
#define REFUSAL_RECEIVER_OFF	4
#define REFUSAL_REASON_OFF	8
#define REFUSAL_MAC_OFF		16
#define COOKIE_RECEIVER_OFF	4
#define COOKIE_NONCE_OFF	8
#define COOKIE_NONCE_LEN	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define COOKIE_SEALED_OFF	(COOKIE_NONCE_OFF + COOKIE_NONCE_LEN)
#define MAC1_OFF(len)		((len) - 2 * HS_MAC_LEN)
#define MAC2_OFF(len)		((len) - HS_MAC_LEN)

_Static_assert(INIT_NOISE_OFF + INIT_NOISE_LEN + 2 * HS_MAC_LEN == HS_INITIATION_LEN,
	       "initiation layout");
_Static_assert(RESP_NOISE_OFF + RESP_NOISE_LEN + 2 * HS_MAC_LEN == HS_RESPONSE_LEN,
	       "response layout");
_Static_assert(INIT_NOISE_OFF + JOIN_NOISE_LEN + 2 * HS_MAC_LEN == HS_JOIN_LEN, "join layout");
_Static_assert(REFUSAL_MAC_OFF + HS_MAC_LEN == HS_REFUSAL_LEN, "refusal layout");
_Static_assert(COOKIE_SEALED_OFF + HS_COOKIE_LEN + 16 == HS_COOKIE_REPLY_LEN,
	       "cookie reply layout");

/* ---- small helpers ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static uint64_t mono_now(const struct hs_identity *id)
{
	struct timespec ts;

	if (id->clock)
		return id->clock();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int from_noise_err(int err)
{
	switch (err) {
	case -EBADMSG:
		return HS_E_DECRYPT;
	case -EKEYREJECTED:
		return HS_E_KEY;
	case -ENOSYS:
		return HS_E_CRYPTO;
	default:
		return HS_E_INVAL;
	}
}

uint32_t hs_random_u32(void)
{
	uint32_t v;

	do
		v = randombytes_random();
	while (!v);
	return v;
}

/* BLAKE2b-256(label || pub): the mac1 and cookie keys of a static key. */
static void label_key(uint8_t out[HS_KEY_LEN], const char *label, const uint8_t pub[HS_KEY_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, HS_KEY_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, pub, HS_KEY_LEN);
	crypto_generichash_final(&st, out, HS_KEY_LEN);
}

/* Keyed BLAKE2b with a 16-byte output: mac1, mac2 and the cookie. */
static void mac16(uint8_t out[HS_MAC_LEN], const uint8_t *key, size_t keylen,
		  const uint8_t *data, size_t len)
{
	crypto_generichash(out, HS_MAC_LEN, data, len, key, keylen);
}

/* HKDF-Expand(PRK = k, info = label, L = outlen) with HMAC-BLAKE2b; L <= 64. */
static void expand(uint8_t *out, size_t outlen, const uint8_t k[NOISE_KEYLEN],
		   const char *label)
{
	uint8_t info[64], t[NOISE_HASHLEN];
	size_t n = strlen(label);

	memcpy(info, label, n);
	info[n] = 0x01;
	noise_hmac(t, k, NOISE_KEYLEN, info, n + 1);
	memcpy(out, t, outlen);
	sodium_memzero(t, sizeof(t));
}

/* ---- TAI64N timestamps ---- */

static void tai64n_now(uint8_t out[HS_TAI64N_LEN])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	put_be64(out, TAI64_EPOCH + (uint64_t)ts.tv_sec);
	put_be32(out + 8, (uint32_t)ts.tv_nsec);
}

/* The clock, or one nanosecond past the last one sent if the clock is not ahead. */
static void next_timestamp(struct hs_peer *peer, uint8_t out[HS_TAI64N_LEN])
{
	uint64_t sec;
	uint32_t nsec;

	tai64n_now(out);
	if (memcmp(out, peer->last_sent_ts, HS_TAI64N_LEN) <= 0) {
		sec = get_be64(peer->last_sent_ts);
		nsec = get_be32(peer->last_sent_ts + 8) + 1;
		if (nsec >= NS_PER_SEC) {
			sec++;
			nsec = 0;
		}
		put_be64(out, sec);
		put_be32(out + 8, nsec);
	}
	memcpy(peer->last_sent_ts, out, HS_TAI64N_LEN);
}

/* ---- identities and peers ---- */

int hs_init_identity(struct hs_identity *id, const uint8_t priv[HS_KEY_LEN],
		     const uint8_t *psk)
{
	if (!id || !priv)
		return HS_E_INVAL;
	if (sodium_init() < 0)
		return HS_E_CRYPTO;

	memset(id, 0, sizeof(*id));
	memcpy(id->priv, priv, HS_KEY_LEN);
	if (crypto_scalarmult_base(id->pub, id->priv)) {
		sodium_memzero(id, sizeof(*id));
		return HS_E_KEY;
	}
	if (psk)
		memcpy(id->psk, psk, NOISE_PSKLEN);
	label_key(id->mac1_key, label_mac1, id->pub);
	label_key(id->cookie_key, label_cookie, id->pub);
	return 0;
}

void hs_wipe_identity(struct hs_identity *id)
{
	sodium_memzero(id, sizeof(*id));
}

void hs_peer_init(struct hs_peer *peer, const uint8_t pub[HS_KEY_LEN])
{
	memset(peer, 0, sizeof(*peer));
	memcpy(peer->pub, pub, HS_KEY_LEN);
	label_key(peer->mac1_key, label_mac1, pub);
	label_key(peer->cookie_key, label_cookie, pub);
}

int hs_src_from_sockaddr(struct hs_src *src, const struct sockaddr *sa, socklen_t len)
{
	const struct sockaddr_in6 *s6 = (const void *)sa;
	const struct sockaddr_in *s4 = (const void *)sa;

	if (!src || !sa)
		return HS_E_INVAL;
	memset(src, 0, sizeof(*src));
	if (sa->sa_family == AF_INET && len >= sizeof(*s4)) {
		src->addr[10] = src->addr[11] = 0xff;
		memcpy(src->addr + 12, &s4->sin_addr, 4);
		src->port = ntohs(s4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(*s6)) {
		memcpy(src->addr, &s6->sin6_addr, 16);
		src->port = ntohs(s6->sin6_port);
		return 0;
	}
	return HS_E_INVAL;
}

/* ---- cookies and MACs ---- */

/* Moves the cookie secrets along the 2-minute schedule. */
static void rotate_secret(struct hs_identity *id)
{
	uint64_t now = mono_now(id), period = HS_COOKIE_SECRET_SECS * NS_PER_SEC;

	if (!id->secret_born || now - id->secret_born >= 2 * period) {
		randombytes_buf(id->secret, HS_KEY_LEN);
		randombytes_buf(id->prev_secret, HS_KEY_LEN);
		id->secret_born = now ? now : 1;
	} else if (now - id->secret_born >= period) {
		memcpy(id->prev_secret, id->secret, HS_KEY_LEN);
		randombytes_buf(id->secret, HS_KEY_LEN);
		id->secret_born += period;
	}
}

static void make_cookie(uint8_t cookie[HS_COOKIE_LEN], const uint8_t secret[HS_KEY_LEN],
			const struct hs_src *src)
{
	uint8_t in[18];

	memcpy(in, src->addr, 16);
	in[16] = src->port >> 8;
	in[17] = src->port & 0xff;
	mac16(cookie, secret, HS_KEY_LEN, in, sizeof(in));
}

static bool mac2_matches(const uint8_t *buf, size_t len, const uint8_t secret[HS_KEY_LEN],
			 const struct hs_src *src)
{
	uint8_t cookie[HS_COOKIE_LEN], mac[HS_MAC_LEN];
	bool ok;

	make_cookie(cookie, secret, src);
	mac16(mac, cookie, sizeof(cookie), buf, MAC2_OFF(len));
	ok = !sodium_memcmp(mac, buf + MAC2_OFF(len), HS_MAC_LEN);
	sodium_memzero(cookie, sizeof(cookie));
	return ok;
}

static int check_mac1(const uint8_t key[HS_KEY_LEN], const uint8_t *buf, size_t len)
{
	uint8_t mac[HS_MAC_LEN];

	mac16(mac, key, HS_KEY_LEN, buf, MAC1_OFF(len));
	return sodium_memcmp(mac, buf + MAC1_OFF(len), HS_MAC_LEN) ? HS_E_MAC1 : 0;
}

/* A zero mac2 passes unless under load; any other must verify. */
static int check_mac2(struct hs_identity *id, const uint8_t *buf, size_t len,
		      const struct hs_src *src, bool under_load)
{
	if (sodium_is_zero(buf + MAC2_OFF(len), HS_MAC_LEN))
		return under_load ? HS_E_COOKIE : 0;
	rotate_secret(id);
	if (mac2_matches(buf, len, id->secret, src) || mac2_matches(buf, len, id->prev_secret, src))
		return 0;
	return HS_E_COOKIE;
}

/* Appends mac1 (and mac2 when we hold a fresh cookie from the receiver). */
static void add_macs(struct hs_handshake *hs, uint8_t *buf, size_t len)
{
	struct hs_peer *peer = hs->peer;
	uint64_t age = mono_now(hs->id) - peer->cookie_time;

	mac16(buf + MAC1_OFF(len), peer->mac1_key, HS_KEY_LEN, buf, MAC1_OFF(len));
	memcpy(hs->sent_mac1, buf + MAC1_OFF(len), HS_MAC_LEN);
	if (peer->cookie_time && age < HS_COOKIE_USE_SECS * NS_PER_SEC)
		mac16(buf + MAC2_OFF(len), peer->cookie, HS_COOKIE_LEN, buf, MAC2_OFF(len));
	else
		memset(buf + MAC2_OFF(len), 0, HS_MAC_LEN);
}

/* ---- message framing ---- */

static size_t expected_len(uint8_t type)
{
	switch (type) {
	case HS_MSG_INITIATION:
		return HS_INITIATION_LEN;
	case HS_MSG_RESPONSE:
		return HS_RESPONSE_LEN;
	case HS_MSG_COOKIE:
		return HS_COOKIE_REPLY_LEN;
	case HS_MSG_JOIN:
		return HS_JOIN_LEN;
	case HS_MSG_REFUSAL:
		return HS_REFUSAL_LEN;
	default:
		return 0;
	}
}

int hs_peek(const uint8_t *buf, size_t len, uint32_t *receiver_index)
{
	size_t want;

	if (!buf || len < HDR_LEN)
		return HS_E_LEN;
	want = expected_len(buf[0]);
	if (!want || buf[1] || buf[2] || buf[3])
		return HS_E_TYPE;
	if (len != want)
		return HS_E_LEN;
	if (receiver_index) {
		*receiver_index = 0;
		if (buf[0] == HS_MSG_RESPONSE)
			*receiver_index = get_be32(buf + RESP_RECEIVER_OFF);
		else if (buf[0] == HS_MSG_COOKIE)
			*receiver_index = get_be32(buf + COOKIE_RECEIVER_OFF);
		else if (buf[0] == HS_MSG_REFUSAL)
			*receiver_index = get_be32(buf + REFUSAL_RECEIVER_OFF);
	}
	return buf[0];
}

static int check_frame(const uint8_t *buf, size_t len, uint8_t type)
{
	int t = hs_peek(buf, len, NULL);

	if (t < 0)
		return t;
	return t == type ? 0 : HS_E_TYPE;
}

static void put_header(uint8_t *out, uint8_t type)
{
	out[0] = type;
	out[1] = out[2] = out[3] = 0;
}

/* ---- initiation ---- */

/* Type 1, or type 4 when secret is given: the same message with a longer payload. */
static int create_init(struct hs_handshake *hs, struct hs_identity *id, struct hs_peer *peer,
		       uint32_t sender_index, uint32_t in_spi, const uint8_t *secret,
		       uint8_t *out, size_t cap)
{
	size_t plen = secret ? JOIN_PAYLOAD_LEN : INIT_PAYLOAD_LEN;
	size_t len = secret ? HS_JOIN_LEN : HS_INITIATION_LEN;
	uint8_t payload[MAX_INIT_PAYLOAD];
	int n, err;

	if (!hs || !id || !peer || !out)
		return HS_E_INVAL;
	if (cap < len)
		return HS_E_SPACE;

	memset(hs, 0, sizeof(*hs));
	hs->initiator = true;
	hs->id = id;
	hs->peer = peer;
	hs->local_index = sender_index ? sender_index : hs_random_u32();
	hs->local_spi = in_spi ? in_spi : hs_random_u32();
	err = noise_handshake_init(&hs->noise, NOISE_IKPSK2, true, (const uint8_t *)prologue,
				   strlen(prologue), id->priv, peer->pub, id->psk);
	if (err)
		goto out;

	next_timestamp(peer, hs->ts);
	memcpy(payload, hs->ts, HS_TAI64N_LEN);
	put_be32(payload + HS_TAI64N_LEN, hs->local_spi);
	if (secret) {
		hs_invite_id(payload + INIT_PAYLOAD_LEN, secret);
		hs_join_proof(payload + INIT_PAYLOAD_LEN + HS_INVITE_ID_LEN, secret, id->pub,
			      peer->pub, hs->ts);
	}

	put_header(out, secret ? HS_MSG_JOIN : HS_MSG_INITIATION);
	put_be32(out + 4, hs->local_index);
	n = noise_write_message(&hs->noise, payload, plen, out + INIT_NOISE_OFF,
				NOISE_IK_MSG1_LEN(plen));
	if (n < 0) {
		err = n;
		goto out;
	}
	add_macs(hs, out, len);
	hs->state = HS_STATE_INIT_SENT;
out:
	sodium_memzero(payload, sizeof(payload));
	if (err) {
		hs_wipe_handshake(hs);
		return from_noise_err(err);
	}
	return len;
}

int hs_create_initiation(struct hs_handshake *hs, struct hs_identity *id, struct hs_peer *peer,
			 uint32_t sender_index, uint32_t in_spi, uint8_t *out, size_t cap)
{
	return create_init(hs, id, peer, sender_index, in_spi, NULL, out, cap);
}

int hs_create_join(struct hs_handshake *hs, struct hs_identity *id, struct hs_peer *peer,
		   uint32_t sender_index, uint32_t in_spi,
		   const uint8_t secret[HS_INVITE_SECRET_LEN], uint8_t *out, size_t cap)
{
	if (!secret)
		return HS_E_INVAL;
	return create_init(hs, id, peer, sender_index, in_spi, secret, out, cap);
}

/* The authenticated initiation payload: replay check, then commit. */
static int accept_initiation(struct hs_handshake *hs, struct hs_peer *peer,
			     const uint8_t payload[INIT_PAYLOAD_LEN])
{
	uint32_t spi = get_be32(payload + HS_TAI64N_LEN);

	if (memcmp(payload, peer->last_ts, HS_TAI64N_LEN) <= 0)
		return HS_E_REPLAY;
	if (!spi)
		return HS_E_PAYLOAD;
	memcpy(peer->last_ts, payload, HS_TAI64N_LEN);
	memcpy(hs->ts, payload, HS_TAI64N_LEN);
	hs->peer = peer;
	hs->remote_spi = spi;
	hs->state = HS_STATE_INIT_CONSUMED;
	return 0;
}

/* The joiner's claim, once Noise has authenticated its static key. */
static int decide_join(const struct hs_handshake *hs, const uint8_t *payload,
		       hs_join_fn join, void *arg, struct hs_join_req *req,
		       struct hs_peer **peer)
{
	memcpy(req->pub, noise_handshake_remote_static(&hs->noise), HS_KEY_LEN);
	memcpy(req->ts, payload, HS_TAI64N_LEN);
	memcpy(req->invite_id, payload + INIT_PAYLOAD_LEN, HS_INVITE_ID_LEN);
	memcpy(req->proof, payload + INIT_PAYLOAD_LEN + HS_INVITE_ID_LEN, HS_JOIN_PROOF_LEN);
	*peer = NULL;
	return join(arg, req, peer);
}

static int consume_init(struct hs_handshake *hs, struct hs_identity *id,
			const uint8_t *buf, size_t len, const struct hs_src *src,
			bool under_load, hs_lookup_fn lookup, hs_join_fn join, void *arg,
			struct hs_join_req *req)
{
	size_t plen = join ? JOIN_PAYLOAD_LEN : INIT_PAYLOAD_LEN;
	uint8_t payload[MAX_INIT_PAYLOAD];
	struct hs_peer *peer;
	int err, n;

	if (!hs || !id || !src || !lookup)
		return HS_E_INVAL;
	memset(hs, 0, sizeof(*hs));
	err = check_frame(buf, len, join ? HS_MSG_JOIN : HS_MSG_INITIATION);
	if (err)
		return err;
	err = check_mac1(id->mac1_key, buf, len);
	if (err)
		return err;
	err = check_mac2(id, buf, len, src, under_load);
	if (err)
		return err;

	hs->id = id;
	hs->remote_index = get_be32(buf + 4);
	err = noise_handshake_init(&hs->noise, NOISE_IKPSK2, false, (const uint8_t *)prologue,
				   strlen(prologue), id->priv, NULL, id->psk);
	if (err)
		goto out;
	n = noise_read_message(&hs->noise, buf + INIT_NOISE_OFF, NOISE_IK_MSG1_LEN(plen), payload,
			       plen);
	if (n < 0 || (size_t)n != plen) {
		err = n < 0 ? from_noise_err(n) : HS_E_PAYLOAD;
		goto out;
	}
	peer = lookup(arg, noise_handshake_remote_static(&hs->noise));
	if (!peer && join)
		err = decide_join(hs, payload, join, arg, req, &peer);
	else if (!peer)
		err = HS_E_UNKNOWN_PEER;
	if (!err && !peer)
		err = HS_E_JOIN_INVALID;
	if (!err)
		err = accept_initiation(hs, peer, payload);
out:
	sodium_memzero(payload, sizeof(payload));
	if (err)
		hs_wipe_handshake(hs);
	return err;
}

int hs_consume_initiation(struct hs_handshake *hs, struct hs_identity *id,
			  const uint8_t *buf, size_t len, const struct hs_src *src,
			  bool under_load, hs_lookup_fn lookup, void *arg)
{
	return consume_init(hs, id, buf, len, src, under_load, lookup, NULL, arg, NULL);
}

int hs_consume_join(struct hs_handshake *hs, struct hs_identity *id, const uint8_t *buf,
		    size_t len, const struct hs_src *src, bool under_load, hs_lookup_fn lookup,
		    hs_join_fn join, void *arg, struct hs_join_req *req)
{
	if (!join || !req)
		return HS_E_INVAL;
	memset(req, 0, sizeof(*req));
	return consume_init(hs, id, buf, len, src, under_load, lookup, join, arg, req);
}

/* ---- joining ---- */

void hs_invite_id(uint8_t id[HS_INVITE_ID_LEN], const uint8_t secret[HS_INVITE_SECRET_LEN])
{
	static const char label_id[] = "pairgate v1 invite id";

	crypto_generichash(id, HS_INVITE_ID_LEN, (const uint8_t *)label_id, strlen(label_id),
			   secret, HS_INVITE_SECRET_LEN);
}

void hs_join_proof(uint8_t out[HS_JOIN_PROOF_LEN], const uint8_t secret[HS_INVITE_SECRET_LEN],
		   const uint8_t joiner[HS_KEY_LEN], const uint8_t inviter[HS_KEY_LEN],
		   const uint8_t ts[HS_TAI64N_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, secret, HS_INVITE_SECRET_LEN, HS_JOIN_PROOF_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label_proof, strlen(label_proof));
	crypto_generichash_update(&st, joiner, HS_KEY_LEN);
	crypto_generichash_update(&st, inviter, HS_KEY_LEN);
	crypto_generichash_update(&st, ts, HS_TAI64N_LEN);
	crypto_generichash_final(&st, out, HS_JOIN_PROOF_LEN);
}

bool hs_join_proof_ok(const struct hs_identity *id, const struct hs_join_req *req,
		      const uint8_t secret[HS_INVITE_SECRET_LEN])
{
	uint8_t want[HS_JOIN_PROOF_LEN], inv[HS_INVITE_ID_LEN];
	bool ok;

	hs_invite_id(inv, secret);
	hs_join_proof(want, secret, req->pub, id->pub, req->ts);
	ok = !sodium_memcmp(inv, req->invite_id, HS_INVITE_ID_LEN) &&
	     !sodium_memcmp(want, req->proof, HS_JOIN_PROOF_LEN);
	sodium_memzero(want, sizeof(want));
	return ok;
}

/* MAC of a refusal: its first 16 bytes, then the mac1 of the join it answers. */
static void refusal_mac(uint8_t out[HS_MAC_LEN], const uint8_t secret[HS_INVITE_SECRET_LEN],
			const uint8_t *msg, const uint8_t join_mac1[HS_MAC_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, secret, HS_INVITE_SECRET_LEN, HS_MAC_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label_refusal, strlen(label_refusal));
	crypto_generichash_update(&st, msg, REFUSAL_MAC_OFF);
	crypto_generichash_update(&st, join_mac1, HS_MAC_LEN);
	crypto_generichash_final(&st, out, HS_MAC_LEN);
}

int hs_refusal_create(const uint8_t secret[HS_INVITE_SECRET_LEN], const uint8_t *join,
		      size_t join_len, int reason, uint8_t *out, size_t cap)
{
	int err;

	if (!secret || !out || (reason != HS_E_JOIN_USED && reason != HS_E_JOIN_EXPIRED))
		return HS_E_INVAL;
	err = check_frame(join, join_len, HS_MSG_JOIN);
	if (err)
		return err;
	if (cap < HS_REFUSAL_LEN)
		return HS_E_SPACE;
	memset(out, 0, HS_REFUSAL_LEN);
	put_header(out, HS_MSG_REFUSAL);
	memcpy(out + REFUSAL_RECEIVER_OFF, join + 4, 4);
	put_be32(out + REFUSAL_REASON_OFF, (uint32_t)-reason);
	refusal_mac(out + REFUSAL_MAC_OFF, secret, out, join + MAC1_OFF(join_len));
	return HS_REFUSAL_LEN;
}

int hs_refusal_consume(struct hs_handshake *hs, const uint8_t secret[HS_INVITE_SECRET_LEN],
		       const uint8_t *buf, size_t len)
{
	uint8_t mac[HS_MAC_LEN];
	uint32_t reason;
	int err;

	if (!hs || !secret)
		return HS_E_INVAL;
	err = check_frame(buf, len, HS_MSG_REFUSAL);
	if (err)
		return err;
	if (hs->state != HS_STATE_INIT_SENT || !hs->initiator)
		return HS_E_STATE;
	if (get_be32(buf + REFUSAL_RECEIVER_OFF) != hs->local_index)
		return HS_E_INDEX;
	refusal_mac(mac, secret, buf, hs->sent_mac1);
	if (sodium_memcmp(mac, buf + REFUSAL_MAC_OFF, HS_MAC_LEN))
		return HS_E_DECRYPT;
	reason = get_be32(buf + REFUSAL_REASON_OFF);
	if (reason != (uint32_t)-HS_E_JOIN_USED && reason != (uint32_t)-HS_E_JOIN_EXPIRED)
		return HS_E_PAYLOAD;
	return -(int)reason;
}

/* ---- response ---- */

int hs_create_response(struct hs_handshake *hs, uint32_t sender_index, uint32_t in_spi,
		       uint8_t *out, size_t cap)
{
	uint8_t payload[RESP_PAYLOAD_LEN];
	int n;

	if (!hs || !out)
		return HS_E_INVAL;
	if (hs->state != HS_STATE_INIT_CONSUMED || hs->initiator)
		return HS_E_STATE;
	if (cap < HS_RESPONSE_LEN)
		return HS_E_SPACE;

	hs->local_index = sender_index ? sender_index : hs_random_u32();
	hs->local_spi = in_spi ? in_spi : hs_random_u32();
	put_be32(payload, hs->local_spi);

	put_header(out, HS_MSG_RESPONSE);
	put_be32(out + 4, hs->local_index);
	put_be32(out + RESP_RECEIVER_OFF, hs->remote_index);
	n = noise_write_message(&hs->noise, payload, sizeof(payload), out + RESP_NOISE_OFF,
				RESP_NOISE_LEN);
	if (n < 0) {
		hs_wipe_handshake(hs);
		return from_noise_err(n);
	}
	add_macs(hs, out, HS_RESPONSE_LEN);
	/* Only initiations carry mac2: the initiator never sends cookies. */
	memset(out + MAC2_OFF(HS_RESPONSE_LEN), 0, HS_MAC_LEN);
	hs->state = HS_STATE_ESTABLISHED;
	return HS_RESPONSE_LEN;
}

int hs_consume_response(struct hs_handshake *hs, const uint8_t *buf, size_t len)
{
	uint8_t payload[RESP_PAYLOAD_LEN];
	struct noise_handshake tmp;
	uint32_t spi;
	int err, n;

	if (!hs)
		return HS_E_INVAL;
	err = check_frame(buf, len, HS_MSG_RESPONSE);
	if (err)
		return err;
	if (hs->state != HS_STATE_INIT_SENT || !hs->initiator)
		return HS_E_STATE;
	if (get_be32(buf + RESP_RECEIVER_OFF) != hs->local_index)
		return HS_E_INDEX;
	err = check_mac1(hs->id->mac1_key, buf, len);
	if (err)
		return err;
	if (!sodium_is_zero(buf + MAC2_OFF(len), HS_MAC_LEN))
		return HS_E_MAC2;

	/* Work on a copy: a forged response must not spend the real handshake. */
	tmp = hs->noise;
	n = noise_read_message(&tmp, buf + RESP_NOISE_OFF, RESP_NOISE_LEN, payload,
			       sizeof(payload));
	if (n < 0 || n != RESP_PAYLOAD_LEN) {
		err = n < 0 ? from_noise_err(n) : HS_E_PAYLOAD;
		goto out;
	}
	spi = get_be32(payload);
	if (!spi) {
		err = HS_E_PAYLOAD;
		goto out;
	}
	hs->noise = tmp;
	hs->remote_index = get_be32(buf + 4);
	hs->remote_spi = spi;
	hs->state = HS_STATE_ESTABLISHED;
out:
	sodium_memzero(&tmp, sizeof(tmp));
	return err;
}

/* ---- cookie reply ---- */

int hs_cookie_reply_create(struct hs_identity *id, const uint8_t *msg, size_t msg_len,
			   const struct hs_src *src, uint8_t *out, size_t cap)
{
	uint8_t cookie[HS_COOKIE_LEN];
	int err;

	if (!id || !src || !out)
		return HS_E_INVAL;
	err = check_frame(msg, msg_len, HS_MSG_INITIATION);
	if (err == HS_E_TYPE)
		err = check_frame(msg, msg_len, HS_MSG_JOIN);
	if (err)
		return err;
	err = check_mac1(id->mac1_key, msg, msg_len);
	if (err)
		return err;
	if (cap < HS_COOKIE_REPLY_LEN)
		return HS_E_SPACE;

	rotate_secret(id);
	make_cookie(cookie, id->secret, src);
	put_header(out, HS_MSG_COOKIE);
	memcpy(out + COOKIE_RECEIVER_OFF, msg + 4, 4);
	randombytes_buf(out + COOKIE_NONCE_OFF, COOKIE_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + COOKIE_SEALED_OFF, NULL, cookie,
						   sizeof(cookie), msg + MAC1_OFF(msg_len),
						   HS_MAC_LEN, NULL, out + COOKIE_NONCE_OFF,
						   id->cookie_key);
	sodium_memzero(cookie, sizeof(cookie));
	return HS_COOKIE_REPLY_LEN;
}

int hs_cookie_reply_consume(struct hs_handshake *hs, const uint8_t *buf, size_t len)
{
	uint8_t cookie[HS_COOKIE_LEN];
	int err;

	if (!hs)
		return HS_E_INVAL;
	err = check_frame(buf, len, HS_MSG_COOKIE);
	if (err)
		return err;
	if (hs->state != HS_STATE_INIT_SENT || !hs->initiator)
		return HS_E_STATE;
	if (get_be32(buf + COOKIE_RECEIVER_OFF) != hs->local_index)
		return HS_E_INDEX;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(cookie, NULL, NULL, buf + COOKIE_SEALED_OFF,
						       len - COOKIE_SEALED_OFF, hs->sent_mac1,
						       HS_MAC_LEN, buf + COOKIE_NONCE_OFF,
						       hs->peer->cookie_key))
		return HS_E_DECRYPT;
	memcpy(hs->peer->cookie, cookie, HS_COOKIE_LEN);
	hs->peer->cookie_time = mono_now(hs->id);
	if (!hs->peer->cookie_time)
		hs->peer->cookie_time = 1;
	sodium_memzero(cookie, sizeof(cookie));
	return 0;
}

/* ---- result ---- */

int hs_derive_sa_keys(struct hs_handshake *hs, struct hs_sa_keys *keys)
{
	struct noise_cipher c1, c2, *send, *recv;
	int err;

	if (!hs || !keys)
		return HS_E_INVAL;
	if (hs->state != HS_STATE_ESTABLISHED)
		return HS_E_STATE;
	err = noise_split(&hs->noise, &c1, &c2);
	if (err)
		return from_noise_err(err);

	send = hs->initiator ? &c1 : &c2;
	recv = hs->initiator ? &c2 : &c1;
	keys->in_spi = hs->local_spi;
	keys->out_spi = hs->remote_spi;
	expand(keys->tag_key_in, HS_TAG_KEY_LEN, recv->k, label_tag);
	expand(keys->tag_key_out, HS_TAG_KEY_LEN, send->k, label_tag);
	expand(keys->aead_key_in, HS_AEAD_KEY_LEN, recv->k, label_aead);
	expand(keys->aead_key_out, HS_AEAD_KEY_LEN, send->k, label_aead);

	noise_cipher_wipe(&c1);
	noise_cipher_wipe(&c2);
	noise_handshake_wipe(&hs->noise);
	hs->state = HS_STATE_DONE;
	return 0;
}

void hs_wipe_handshake(struct hs_handshake *hs)
{
	unsigned int dh_count = hs->noise.dh_count;

	sodium_memzero(hs, sizeof(*hs));
	hs->noise.dh_count = dh_count;	/* not secret; tests count DH work */
}

const char *hs_strerror(int err)
{
	switch (err) {
	case HS_OK:
		return "success";
	case HS_E_INVAL:
		return "invalid argument";
	case HS_E_SPACE:
		return "output buffer too small";
	case HS_E_LEN:
		return "wrong message length";
	case HS_E_TYPE:
		return "unknown or unexpected message type, or reserved bytes not zero";
	case HS_E_MAC1:
		return "mac1 does not match: message not meant for this static key";
	case HS_E_COOKIE:
		return "mac2 missing or invalid: answer with a cookie reply";
	case HS_E_MAC2:
		return "mac2 set in a message that never carries one";
	case HS_E_DECRYPT:
		return "authentication failed: wrong keys or a tampered message";
	case HS_E_UNKNOWN_PEER:
		return "static key of the sender is not a configured peer";
	case HS_E_REPLAY:
		return "initiation timestamp not newer than the last accepted one (replay)";
	case HS_E_PAYLOAD:
		return "malformed handshake payload";
	case HS_E_INDEX:
		return "receiver index does not belong to this handshake";
	case HS_E_STATE:
		return "handshake is not in a state that allows this step";
	case HS_E_KEY:
		return "invalid public key (low-order point)";
	case HS_E_CRYPTO:
		return "libsodium could not be initialised";
	case HS_E_JOIN_INVALID:
		return "invite token unknown or its proof is wrong";
	case HS_E_JOIN_USED:
		return "invite token already used";
	case HS_E_JOIN_EXPIRED:
		return "invite token expired";
	default:
		return "unknown handshake error";
	}
}
