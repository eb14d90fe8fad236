/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * When pairgated starts a handshake: the timing rules of SA rotation, kept
 * free of I/O so tests/unit/test_pairing.c can check them. docs/pairing.md
 * explains the numbers.
 */
#ifndef PG_REKEY_H
#define PG_REKEY_H

#include <stdbool.h>
#include <stdint.h>

#define PG_REKEY_AFTER_DEFAULT_NS	(120ULL * 1000000000ULL)
#define PG_REKEY_PACKETS_DEFAULT	(1ULL << 32)

struct pg_rekey_cfg {
	uint64_t rekey_after_ns;	/* the session's initiator starts a new one */
	uint64_t rekey_responder_ns;	/* ... or its responder, if the initiator did not */
	uint64_t reject_after_ns;	/* SA lifetime (expires_ns) */
	uint64_t grace_ns;		/* an old in SA lives this long after its successor */
	uint64_t rekey_timeout_ns;	/* first retry of an unanswered initiation */
	uint64_t retry_max_ns;		/* retries back off up to this */
	uint64_t keepalive_ns;		/* between the initiator's keepalives */
	uint64_t rekey_packets;		/* out SA sequence number that forces a rekey */
};

/* What the daemon knows about one peer at a tick. */
struct pg_rekey_state {
	bool has_endpoint;
	bool has_session;
	bool initiator;			/* we initiated the current session */
	bool init_active;		/* an initiation of ours is unanswered */
	bool retry_due;			/* its retry time has come */
	uint64_t session_age_ns;
	uint64_t init_age_ns;
	uint64_t out_seq;		/* packets sent under the current out SA */
};

/* Every other limit scales from rekey_after (120 s gives the documented values). */
void pg_rekey_defaults(struct pg_rekey_cfg *cfg, uint64_t rekey_after_ns,
		       uint64_t rekey_packets);
bool pg_rekey_should_initiate(const struct pg_rekey_cfg *cfg, const struct pg_rekey_state *s);
/* Delay before retry number tries (1 = the first): doubling, capped. */
uint64_t pg_rekey_retry_ns(const struct pg_rekey_cfg *cfg, unsigned int tries);

#endif /* PG_REKEY_H */
