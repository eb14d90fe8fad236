/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Messages of the pairgate CLI. Every failure is one line on stderr,
 * "pairgate: <what failed>: <why or what to do>", printed by the function
 * that detected it; callers only pass the negative errno up.
 */
#ifndef PG_LOG_H
#define PG_LOG_H

#include <stdbool.h>

#define PG_PROG "pairgate"

void pg_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool pg_debug_enabled(void);

/* Routes libbpf and libxdp output to pg_debug (shown with PAIRGATE_DEBUG set). */
void pg_log_quiet_libs(void);

#endif /* PG_LOG_H */
