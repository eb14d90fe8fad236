// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "rekey.h"

#define NS		1000000000ULL

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void pg_rekey_defaults(struct pg_rekey_cfg *cfg, uint64_t rekey_after_ns,
		       uint64_t rekey_packets)
{
	uint64_t r = rekey_after_ns;

	cfg->rekey_after_ns = r;
	cfg->rekey_responder_ns = r + r / 8;		/* 135 s */
	cfg->reject_after_ns = r + r / 2;		/* 180 s */
	cfg->grace_ns = min_u64(30 * NS, max_u64(NS, r / 4));
	cfg->rekey_timeout_ns = min_u64(5 * NS, r / 4);
	cfg->retry_max_ns = max_u64(cfg->rekey_timeout_ns, min_u64(30 * NS, r / 4));
	cfg->keepalive_ns = min_u64(NS, r / 8);
	cfg->rekey_packets = rekey_packets;
}

uint64_t pg_rekey_retry_ns(const struct pg_rekey_cfg *cfg, unsigned int tries)
{
	uint64_t d = cfg->rekey_timeout_ns;

	while (tries-- > 1 && d < cfg->retry_max_ns)
		d *= 2;
	return min_u64(d, cfg->retry_max_ns);
}

bool pg_rekey_should_initiate(const struct pg_rekey_cfg *cfg, const struct pg_rekey_state *s)
{
	uint64_t due;

	if (!s->has_endpoint)
		return false;
	if (s->has_session) {
		due = s->initiator ? cfg->rekey_after_ns : cfg->rekey_responder_ns;
		if (s->session_age_ns < due && s->out_seq < cfg->rekey_packets)
			return false;
	}
	/* due, or no session at all: start one, or retry the one in flight */
	return !s->init_active || s->retry_due;
}
