/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Security associations in the pinned maps. Inbound SAs are keyed by SPI,
 * outbound ones by destination; each owns a slot of per-CPU counters in
 * pg_sa_stats (inbound 0..PG_MAX_SA-1, outbound PG_MAX_SA..2*PG_MAX_SA-1).
 * An outbound SA also owns the host route that sends its peer's traffic
 * through the helper device to the tagger.
 */
#ifndef PG_SA_H
#define PG_SA_H

#include <stdbool.h>
#include <stddef.h>

#include "pins.h"

/* One SA as listed: never holds the key. */
struct pg_sa_info {
	bool out;
	__u32 spi;
	struct pg_addr peer;
	__u64 seq;		/* out: last sequence number used; in: highest verified */
	struct pg_counter cnt;
};

int pg_sa_add_in(const struct pg_state *st, __u32 spi, const struct pg_addr *src,
		 const __u64 key[2]);
int pg_sa_add_out(const struct pg_state *st, const struct pg_config *cfg, __u32 spi,
		  const struct pg_addr *dst, const __u64 key[2]);
int pg_sa_del(const struct pg_state *st, const struct pg_config *cfg, bool out, __u32 spi);
/* Inbound SAs first, each direction sorted by SPI; the caller frees *sas. */
int pg_sa_list(const struct pg_state *st, struct pg_sa_info **sas, size_t *n);

/*
 * For pairgated, which prints its own errors: SAs that expire at expires_ns
 * (CLOCK_MONOTONIC; the data plane treats them as absent afterwards).
 * pg_sa_add_in_expiring returns -EEXIST, silently, when spi is taken.
 * pg_sa_set_out adds the out SA to dst, or replaces it in one atomic update
 * (new spi and key, seq 0) keeping its counters and host route.
 */
int pg_sa_add_in_expiring(const struct pg_state *st, __u32 spi, const struct pg_addr *src,
			  const __u64 key[2], __u64 expires_ns);
int pg_sa_set_out(const struct pg_state *st, const struct pg_config *cfg, __u32 spi,
		  const struct pg_addr *dst, const __u64 key[2], __u64 expires_ns);
/* One SA's state without its key; -ENOENT if there is none. */
int pg_sa_get_in(const struct pg_state *st, __u32 spi, struct pg_sa_info *info);
int pg_sa_get_out(const struct pg_state *st, const struct pg_addr *dst, struct pg_sa_info *info);

/*
 * Marks spi in the XDP program's SPI filter; called before an inbound SA is
 * added, so the filter never hides a live SA.
 */
int pg_spi_filter_mark(const struct pg_state *st, __u32 spi);

#endif /* PG_SA_H */
