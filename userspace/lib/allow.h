/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Exemptions: struct pg_rule <-> pg_allow LPM trie keys. A rule without
 * `from` becomes a /0 key for each family its protocol exists in (v4 and v6,
 * icmp only v4, icmpv6 only v6); listing folds those back into one rule.
 */
#ifndef PG_ALLOW_H
#define PG_ALLOW_H

#include <stddef.h>

#include "parse.h"

/* Adds the rule's keys; returns how many were new (0: already allowed). */
int pg_allow_add(int fd, const struct pg_rule *rule);
/* Removes the rule's keys; -ENOENT, printed, if none of them exists. */
int pg_allow_del(int fd, const struct pg_rule *rule, const char *ifname);
/* Every exemption, sorted; the caller frees *rules. */
int pg_allow_list(int fd, struct pg_rule **rules, size_t *n);

/* Rewrites pg_allow_hint from the rules in pg_allow; call after every change. */
int pg_allow_hint_rebuild(int allow_fd, int hint_fd);

const char *pg_rule_str(const struct pg_rule *rule, char *buf, size_t len);

#endif /* PG_ALLOW_H */
