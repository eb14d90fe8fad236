/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Parsing and printing of the CLI's arguments: SPIs, addresses, prefixes,
 * keys and exemption rules. Parsers print their own one-line error and
 * return -EINVAL; they never echo a key back.
 */
#ifndef PG_PARSE_H
#define PG_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "pairgate.h"

/* Room for an address or a prefix as text, with its terminating NUL. */
#define PG_ADDR_STRLEN		46
#define PG_PREFIX_STRLEN	(PG_ADDR_STRLEN + 4)
#define PG_RULE_STRLEN		(16 + PG_PREFIX_STRLEN)

#define PG_FAM_V4	0x1
#define PG_FAM_V6	0x2

/* One exemption as the user wrote it, before it becomes LPM trie keys. */
struct pg_rule {
	__u8 proto;
	__u16 port;		/* host order, 0 = any port */
	bool any_src;		/* no `from`: any source of the proto's families */
	struct pg_addr src;	/* the `from` prefix, when !any_src */
	__u8 plen;
};

int pg_parse_spi(const char *s, __u32 *spi);
int pg_parse_addr(const char *what, const char *s, struct pg_addr *addr);
int pg_parse_prefix(const char *s, struct pg_addr *addr, __u8 *plen);
int pg_parse_key(const char *s, __u64 key[2]);
int pg_parse_rule(const char *proto_port, const char *from, struct pg_rule *rule);
int pg_parse_ifname(const char *s);

/*
 * A user argument as it may be echoed in a message: anything with 16 or more
 * hex digits in a row could be (part of) a key put in the wrong place, so it
 * is replaced by a placeholder. Every message quoting user input uses this.
 */
const char *pg_arg(const char *s);

/* PG_FAM_* bits: which IP families an exemption for proto applies to. */
unsigned int pg_proto_families(__u8 proto);
bool pg_proto_has_ports(__u8 proto);

/* Address families: pg_addr's 4/6 to AF_INET/AF_INET6 and the address bits. */
int pg_af(const struct pg_addr *addr);
unsigned int pg_addr_bits(const struct pg_addr *addr);
bool pg_addr_is_unicast(const struct pg_addr *addr);

const char *pg_addr_str(const struct pg_addr *addr, char *buf, size_t len);
const char *pg_prefix_str(const struct pg_addr *addr, __u8 plen, char *buf, size_t len);
/* "tcp/22", "icmp", "47": the PROTO[/PORT] argument that names a rule. */
const char *pg_proto_port_str(__u8 proto, __u16 port, char *buf, size_t len);
const char *pg_proto_name(__u8 proto);

/*
 * argv[*i] is option name as "--name VALUE" or "--name=VALUE": returns 1
 * with *val set (and *i past a separate value), 0 if it is another option,
 * -1 (with the error printed) if the value is missing.
 */
int pg_opt_value(int argc, char **argv, int *i, const char *name, const char **val);

#endif /* PG_PARSE_H */
