/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pairgated's state files, as data: the peers file (one record per peer,
 * with the newest handshake timestamp accepted from it) and the invites
 * file. Parsing and formatting only; the daemon does the I/O with
 * kvfile.h. docs/pairing.md describes both files.
 */
#ifndef PG_PAIRSTATE_H
#define PG_PAIRSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvfile.h"
#include "pairgate.h"

#define PG_HS_PORT_DEFAULT	51821
#define PG_PEER_NAME_MAX	32
#define PG_MAX_PEERS		1024
#define PG_PEER_ALLOW_MAX	16
#define PG_MAX_INVITES		256
#define PG_TS_LEN		12	/* TAI64N */

#define PG_FILE_PEERS		"peers"
#define PG_FILE_INVITES		"invites"
#define PG_FILE_KEY		"private.key"

/* family 0: no endpoint known */
struct pg_endpoint {
	struct pg_addr addr;
	uint16_t port;			/* host order */
};

struct pg_prefix {
	struct pg_addr addr;
	uint8_t plen;
};

struct pg_peer_conf {
	char name[PG_PEER_NAME_MAX + 1];
	uint8_t pub[32];
	struct pg_endpoint ep;
	struct pg_prefix allow[PG_PEER_ALLOW_MAX];
	unsigned int n_allow;
	uint8_t last_ts[PG_TS_LEN];	/* newest initiation accepted; zero = none */
};

struct pg_invite {
	uint8_t id[16];
	uint8_t secret[32];
	uint64_t expires;		/* unix seconds */
	uint32_t uses_left;
	char name[PG_PEER_NAME_MAX + 1];	/* for the peer it creates; may be empty */
};

bool pg_peer_name_ok(const char *s);

/* "ADDR", "ADDR:PORT", "[ADDR6]:PORT". Returns 0 or -EINVAL. */
int pg_endpoint_parse(const char *s, uint16_t default_port, struct pg_endpoint *ep);
const char *pg_endpoint_str(const struct pg_endpoint *ep, char *buf, size_t len);
#define PG_ENDPOINT_STRLEN	(46 + 9)

int pg_prefix_parse_text(const char *s, struct pg_prefix *p);
const char *pg_prefix_text(const struct pg_prefix *p, char *buf, size_t len);
bool pg_prefix_match(const struct pg_prefix *p, const struct pg_addr *a);
bool pg_addr_same(const struct pg_addr *a, const struct pg_addr *b);

/*
 * The parsers take a whole file (with its checksum line) and return a
 * malloc'd array, or -EINVAL with *line and *why set, or -ENOMEM.
 */
int pg_peers_parse(const char *buf, size_t len, struct pg_peer_conf **peers, size_t *n,
		   int *line, const char **why);
void pg_peers_format(struct pg_buf *b, const struct pg_peer_conf *peers, size_t n);

int pg_invites_parse(const char *buf, size_t len, struct pg_invite **inv, size_t *n,
		     int *line, const char **why);
void pg_invites_format(struct pg_buf *b, const struct pg_invite *inv, size_t n);

/* A private key file: 44 base64 characters and a newline, nothing else. */
int pg_privkey_parse(const char *buf, size_t len, uint8_t key[32]);

#endif /* PG_PAIRSTATE_H */
