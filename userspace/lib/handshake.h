/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pairgate's pairing handshake: two UDP messages built on
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b, plus a cookie reply for a responder
 * under load. The result is one SA pair: an SPI, a SipHash tag key and an
 * AEAD key for each direction. docs/handshake.md is the byte-exact
 * specification; keep both in step.
 *
 * The library does no I/O and keeps no tables: the daemon owns sockets,
 * timers, the peer list (and persists hs_peer.last_ts), and maps indices to
 * handshakes. Every function that takes bytes from the network takes
 * (buf, len) and never reads past len. Errors are the negative HS_E_* codes
 * below; hs_strerror() names them.
 */
#ifndef PG_HANDSHAKE_H
#define PG_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "noise.h"

#define HS_KEY_LEN		32
#define HS_MAC_LEN		16
#define HS_COOKIE_LEN		16
#define HS_TAI64N_LEN		12
#define HS_TAG_KEY_LEN		16
#define HS_AEAD_KEY_LEN		32

/* Message types (byte 0); bytes 1..3 are zero. */
#define HS_MSG_INITIATION	1
#define HS_MSG_RESPONSE		2
#define HS_MSG_COOKIE		3
#define HS_MSG_JOIN		4	/* an initiation carrying an invite proof */
#define HS_MSG_REFUSAL		5	/* the inviter's answer to a refused join */

#define HS_INITIATION_LEN	152
#define HS_RESPONSE_LEN		96
#define HS_COOKIE_REPLY_LEN	64
#define HS_JOIN_LEN		200
#define HS_REFUSAL_LEN		32
#define HS_MAX_MSG_LEN		HS_JOIN_LEN

#define HS_INVITE_ID_LEN	16
#define HS_INVITE_SECRET_LEN	32
#define HS_JOIN_PROOF_LEN	32

/* The responder changes its cookie secret this often (seconds). */
#define HS_COOKIE_SECRET_SECS	120
/* An initiator uses a received cookie for at most this long (seconds). */
#define HS_COOKIE_USE_SECS	110

enum hs_error {
	HS_OK = 0,
	HS_E_INVAL = -1,	/* bad argument: a bug in the caller */
	HS_E_SPACE = -2,	/* output buffer too small */
	HS_E_LEN = -3,		/* wrong length for the message type */
	HS_E_TYPE = -4,		/* unknown or unexpected type, or non-zero reserved bytes */
	HS_E_MAC1 = -5,		/* mac1 wrong: not meant for our static key */
	HS_E_COOKIE = -6,	/* mac2 missing under load or invalid: send a cookie reply */
	HS_E_MAC2 = -7,		/* mac2 set in a message that never carries one */
	HS_E_DECRYPT = -8,	/* Noise authentication failed */
	HS_E_UNKNOWN_PEER = -9,	/* static key not among our peers: send nothing */
	HS_E_REPLAY = -10,	/* timestamp not newer than the last accepted one */
	HS_E_PAYLOAD = -11,	/* authenticated payload is malformed (SPI 0) */
	HS_E_INDEX = -12,	/* receiver index is not this handshake's */
	HS_E_STATE = -13,	/* call not valid in the handshake's current state */
	HS_E_KEY = -14,		/* a DH result was all zero (low-order public key) */
	HS_E_CRYPTO = -15,	/* libsodium could not be initialised */
	HS_E_JOIN_INVALID = -16,	/* no such invite, or a wrong proof: send nothing */
	HS_E_JOIN_USED = -17,		/* the invite has no uses left */
	HS_E_JOIN_EXPIRED = -18,	/* the invite has expired */
};

/* Clock hook (nanoseconds, monotonic); NULL means CLOCK_MONOTONIC. */
typedef uint64_t (*hs_clock_fn)(void);

/* Our side: static key pair, PSK and cookie state. */
struct hs_identity {
	uint8_t priv[HS_KEY_LEN];
	uint8_t pub[HS_KEY_LEN];
	uint8_t psk[NOISE_PSKLEN];		/* all zero when none is configured */
	uint8_t mac1_key[HS_KEY_LEN];		/* checks mac1 of messages to us */
	uint8_t cookie_key[HS_KEY_LEN];		/* seals the cookie replies we send */
	uint8_t secret[HS_KEY_LEN];		/* current cookie secret */
	uint8_t prev_secret[HS_KEY_LEN];	/* the one before, still accepted */
	uint64_t secret_born;			/* monotonic ns; 0 = none yet */
	hs_clock_fn clock;
};

/* A peer we may pair with. The daemon keeps one per configured public key. */
struct hs_peer {
	uint8_t pub[HS_KEY_LEN];
	uint8_t mac1_key[HS_KEY_LEN];		/* mac1 of messages we send it */
	uint8_t cookie_key[HS_KEY_LEN];		/* opens cookie replies it sends */
	uint8_t last_ts[HS_TAI64N_LEN];		/* newest initiation accepted (persist) */
	uint8_t last_sent_ts[HS_TAI64N_LEN];	/* newest initiation we sent it */
	uint8_t cookie[HS_COOKIE_LEN];
	uint64_t cookie_time;			/* monotonic ns when received; 0 = none */
	void *user;				/* the daemon's */
};

enum hs_state {
	HS_STATE_EMPTY,
	HS_STATE_INIT_SENT,		/* initiator: waiting for the response */
	HS_STATE_INIT_CONSUMED,		/* responder: may now create the response */
	HS_STATE_ESTABLISHED,		/* both: hs_derive_sa_keys may run */
	HS_STATE_DONE,			/* keys taken; secrets wiped */
};

struct hs_handshake {
	struct noise_handshake noise;
	enum hs_state state;
	bool initiator;
	struct hs_identity *id;
	struct hs_peer *peer;
	uint32_t local_index;		/* ours, in the sender index field */
	uint32_t remote_index;		/* the peer's */
	uint32_t local_spi;		/* our inbound SPI */
	uint32_t remote_spi;		/* the peer's inbound SPI = our outbound */
	uint8_t sent_mac1[HS_MAC_LEN];	/* opens a cookie reply to our initiation */
	uint8_t ts[HS_TAI64N_LEN];	/* timestamp of the initiation */
};

/* The SA pair one handshake yields; "in" protects what we receive. */
struct hs_sa_keys {
	uint32_t in_spi;
	uint32_t out_spi;
	uint8_t tag_key_in[HS_TAG_KEY_LEN];
	uint8_t tag_key_out[HS_TAG_KEY_LEN];
	uint8_t aead_key_in[HS_AEAD_KEY_LEN];
	uint8_t aead_key_out[HS_AEAD_KEY_LEN];
};

/* Source of a datagram, the input of a cookie: IPv4 as ::ffff:a.b.c.d. */
struct hs_src {
	uint8_t addr[16];
	uint16_t port;			/* host byte order */
};

/* Looks up a peer by static public key; NULL if it is not one of ours. */
typedef struct hs_peer *(*hs_lookup_fn)(void *arg, const uint8_t pub[HS_KEY_LEN]);

/* ---- setup ---- */

/* psk may be NULL (no PSK: 32 zero bytes, see docs/handshake.md). */
int hs_init_identity(struct hs_identity *id, const uint8_t priv[HS_KEY_LEN],
		     const uint8_t *psk);
void hs_wipe_identity(struct hs_identity *id);
void hs_peer_init(struct hs_peer *peer, const uint8_t pub[HS_KEY_LEN]);
int hs_src_from_sockaddr(struct hs_src *src, const struct sockaddr *sa, socklen_t len);
/* A random non-zero 32-bit value, for indices and SPIs. */
uint32_t hs_random_u32(void);

/* ---- messages ---- */

/*
 * Type and, for responses and cookie replies, receiver index of a datagram,
 * after checking its length and reserved bytes: lets the daemon find the
 * handshake a message belongs to. Returns the type or a negative error.
 */
int hs_peek(const uint8_t *buf, size_t len, uint32_t *receiver_index);

/*
 * Initiator. sender_index and in_spi of 0 mean "pick at random". Returns
 * HS_INITIATION_LEN with the message in out, or an error.
 */
int hs_create_initiation(struct hs_handshake *hs, struct hs_identity *id, struct hs_peer *peer,
			 uint32_t sender_index, uint32_t in_spi, uint8_t *out, size_t cap);

/*
 * Responder. Checks, in this order and before any DH: length and type, mac1,
 * then mac2 (HS_E_COOKIE: answer with hs_cookie_reply_create). Then runs
 * Noise, looks the initiator up and refuses replays. On success hs->peer is
 * the initiator and hs->peer->last_ts has moved forward.
 */
int hs_consume_initiation(struct hs_handshake *hs, struct hs_identity *id,
			  const uint8_t *buf, size_t len, const struct hs_src *src,
			  bool under_load, hs_lookup_fn lookup, void *arg);

/* Responder, after hs_consume_initiation. Returns HS_RESPONSE_LEN or an error. */
int hs_create_response(struct hs_handshake *hs, uint32_t sender_index, uint32_t in_spi,
		       uint8_t *out, size_t cap);

/* Initiator. A failure leaves hs as it was, waiting for the genuine response. */
int hs_consume_response(struct hs_handshake *hs, const uint8_t *buf, size_t len);

/*
 * Responder: the cookie reply to an initiation that got HS_E_COOKIE. Returns
 * HS_COOKIE_REPLY_LEN or an error (HS_E_MAC1: do not answer).
 */
int hs_cookie_reply_create(struct hs_identity *id, const uint8_t *msg, size_t msg_len,
			   const struct hs_src *src, uint8_t *out, size_t cap);

/*
 * Initiator: stores the cookie in hs->peer; the next hs_create_initiation to
 * that peer carries mac2. hs must be the handshake the reply names.
 */
int hs_cookie_reply_consume(struct hs_handshake *hs, const uint8_t *buf, size_t len);

/* ---- joining by invite (docs/pairing.md) ---- */

/* What a join initiation claims, for the responder's decision. */
struct hs_join_req {
	uint8_t pub[HS_KEY_LEN];		/* the joiner's static key, authenticated */
	uint8_t invite_id[HS_INVITE_ID_LEN];
	uint8_t proof[HS_JOIN_PROOF_LEN];
	uint8_t ts[HS_TAI64N_LEN];
};

/*
 * Decides a join from a static key that is not a peer yet: returns 0 with
 * *peer set to a new peer, or HS_E_JOIN_* (check the proof with
 * hs_join_proof_ok first: only a valid proof earns anything but
 * HS_E_JOIN_INVALID).
 */
typedef int (*hs_join_fn)(void *arg, const struct hs_join_req *req, struct hs_peer **peer);

/* The invite's name on both sides: BLAKE2b-16(key = secret, label). */
void hs_invite_id(uint8_t id[HS_INVITE_ID_LEN], const uint8_t secret[HS_INVITE_SECRET_LEN]);

/* The proof: BLAKE2b-32(key = secret, label || joiner pub || inviter pub || ts). */
void hs_join_proof(uint8_t out[HS_JOIN_PROOF_LEN], const uint8_t secret[HS_INVITE_SECRET_LEN],
		   const uint8_t joiner[HS_KEY_LEN], const uint8_t inviter[HS_KEY_LEN],
		   const uint8_t ts[HS_TAI64N_LEN]);
bool hs_join_proof_ok(const struct hs_identity *id, const struct hs_join_req *req,
		      const uint8_t secret[HS_INVITE_SECRET_LEN]);

/* Joiner: an initiation (type 4) proving knowledge of the invite's secret. */
int hs_create_join(struct hs_handshake *hs, struct hs_identity *id, struct hs_peer *peer,
		   uint32_t sender_index, uint32_t in_spi,
		   const uint8_t secret[HS_INVITE_SECRET_LEN], uint8_t *out, size_t cap);

/*
 * Inviter: as hs_consume_initiation for type 4. A known static key is
 * handled as a plain initiation (the joiner retrying after a lost response);
 * an unknown one goes to join. *req gets the claim whenever Noise succeeded.
 */
int hs_consume_join(struct hs_handshake *hs, struct hs_identity *id, const uint8_t *buf,
		    size_t len, const struct hs_src *src, bool under_load, hs_lookup_fn lookup,
		    hs_join_fn join, void *arg, struct hs_join_req *req);

/*
 * Inviter: tells a joiner who proved the secret why it was refused (reason
 * is HS_E_JOIN_USED or HS_E_JOIN_EXPIRED). MAC'd with the secret, so only
 * the holder of the token can check it and nobody else can forge it.
 */
int hs_refusal_create(const uint8_t secret[HS_INVITE_SECRET_LEN], const uint8_t *join,
		      size_t join_len, int reason, uint8_t *out, size_t cap);

/* Joiner: returns the reason (HS_E_JOIN_*) or an error for a bad message. */
int hs_refusal_consume(struct hs_handshake *hs, const uint8_t secret[HS_INVITE_SECRET_LEN],
		       const uint8_t *buf, size_t len);

/* ---- result ---- */

/* Either side once established: fills keys and wipes the handshake secrets. */
int hs_derive_sa_keys(struct hs_handshake *hs, struct hs_sa_keys *keys);
void hs_wipe_handshake(struct hs_handshake *hs);

const char *hs_strerror(int err);

#endif /* PG_HANDSHAKE_H */
