// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "b64key.h"
#include "pairstate.h"

bool pg_peer_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (!n || n > PG_PEER_NAME_MAX || s[0] == '-' || s[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static int parse_ip(const char *s, struct pg_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1) {
		a->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->addr) == 1) {
		a->family = 6;
		return 0;
	}
	return -EINVAL;
}

/* Decimal digits only, no sign, no leading zeros beyond "0", at most max. */
static int parse_num(const char *s, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || x > (max - (*s - '0')) / 10)
			return -EINVAL;
		x = x * 10 + (*s - '0');
	}
	*v = x;
	return 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *v)
{
	uint64_t x;

	if (parse_num(s, max, &x))
		return -EINVAL;
	*v = x;
	return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	return parse_num(s, UINT64_MAX, v);
}

int pg_endpoint_parse(const char *s, uint16_t default_port, struct pg_endpoint *ep)
{
	char host[64];
	const char *port = NULL, *end;
	uint32_t p = default_port;
	size_t n;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		n = end - s - 1;
		port = end + 2;
		s++;
	} else {
		end = strchr(s, ':');
		if (end && strchr(end + 1, ':'))
			end = NULL;	/* a bare IPv6 address */
		n = end ? (size_t)(end - s) : strlen(s);
		port = end ? end + 1 : NULL;
	}
	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	memset(ep, 0, sizeof(*ep));
	if (parse_ip(host, &ep->addr))
		return -EINVAL;
	if (port && (parse_u32(port, 65535, &p) || !p))
		return -EINVAL;
	ep->port = p;
	return 0;
}

const char *pg_endpoint_str(const struct pg_endpoint *ep, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ep->addr.family != 4 && ep->addr.family != 6) {
		snprintf(buf, len, "(none)");
		return buf;
	}
	inet_ntop(ep->addr.family == 4 ? AF_INET : AF_INET6, ep->addr.addr, a, sizeof(a));
	snprintf(buf, len, ep->addr.family == 4 ? "%s:%u" : "[%s]:%u", a, ep->port);
	return buf;
}

int pg_prefix_parse_text(const char *s, struct pg_prefix *p)
{
	const char *slash = strchr(s, '/');
	char host[64];
	uint32_t plen;
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int bits, i;

	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (parse_ip(host, &p->addr))
		return -EINVAL;
	bits = p->addr.family == 4 ? 32 : 128;
	plen = bits;
	if (slash && parse_u32(slash + 1, bits, &plen))
		return -EINVAL;
	p->plen = plen;
	for (i = plen; i < bits; i++)	/* host bits must be zero: 10.0.0.1/8 is a typo */
		if (p->addr.addr[i / 8] & (0x80 >> (i % 8)))
			return -EINVAL;
	return 0;
}

const char *pg_prefix_text(const struct pg_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->addr.family == 4 ? AF_INET : AF_INET6, p->addr.addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, p->plen);
	return buf;
}

bool pg_prefix_match(const struct pg_prefix *p, const struct pg_addr *a)
{
	unsigned int full = p->plen / 8, rest = p->plen % 8;

	if (p->addr.family != a->family || memcmp(p->addr.addr, a->addr, full))
		return false;
	return !rest || !((p->addr.addr[full] ^ a->addr[full]) & (0xff00 >> rest));
}

bool pg_addr_same(const struct pg_addr *a, const struct pg_addr *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, 16);
}

int pg_privkey_parse(const char *buf, size_t len, uint8_t key[32])
{
	if (len != PG_KEY_B64_LEN + 1 || buf[PG_KEY_B64_LEN] != '\n')
		return -EINVAL;
	return pg_key_from_base64(key, buf, PG_KEY_B64_LEN);
}

/* ---- generic record collection ---- */

struct collect {
	void *items;
	size_t n, max, size;
	void *cur;
	bool started;
	unsigned int seen;		/* bit per field of the current record */
	int (*field)(struct collect *c, const char *key, const char *val, const char **why);
	int (*finish)(struct collect *c, const char **why);
};

static int collect_cb(void *arg, const char *key, const char *val, const char **why)
{
	struct collect *c = arg;
	int err;

	if (!key) {
		err = c->finish(c, why);
		if (err)
			return err;
		c->n++;
		c->seen = 0;
		c->started = false;
		return 0;
	}
	if (!c->started) {
		if (c->n == c->max) {
			*why = "too many records";
			return -EINVAL;
		}
		c->cur = (char *)c->items + c->n * c->size;
		memset(c->cur, 0, c->size);
		c->started = true;
	}
	return c->field(c, key, val, why);
}

/* Marks field bit; a field twice in one record is an error. */
static int once(struct collect *c, unsigned int bit, const char **why)
{
	if (c->seen & bit) {
		*why = "field repeated in one record";
		return -EINVAL;
	}
	c->seen |= bit;
	return 0;
}

static int hex_field(const char *val, uint8_t *out, size_t n)
{
	size_t got = 0;
	const char *end = NULL;

	if (strlen(val) != 2 * n)
		return -EINVAL;
	if (sodium_hex2bin(out, n, val, 2 * n, NULL, &got, &end) || got != n || *end)
		return -EINVAL;
	return 0;
}

static int run_collect(struct collect *c, const char *buf, size_t len, int *line,
		       const char **why)
{
	int err;

	c->items = calloc(c->max, c->size);
	if (!c->items)
		return -ENOMEM;
	err = pg_kv_parse(buf, len, PG_KV_CHECKSUM, collect_cb, c, line, why);
	if (err) {
		sodium_memzero(c->items, c->max * c->size);
		free(c->items);
		c->items = NULL;
	}
	return err;
}

/* ---- peers ---- */

enum { P_NAME = 1, P_PUB = 2, P_EP = 4, P_TS = 8 };

static int peer_field(struct collect *c, const char *key, const char *val, const char **why)
{
	struct pg_peer_conf *p = c->cur;

	*why = "bad value";
	if (!strcmp(key, "name")) {
		if (once(c, P_NAME, why))
			return -EINVAL;
		if (!pg_peer_name_ok(val))
			return -EINVAL;
		strcpy(p->name, val);
	} else if (!strcmp(key, "public_key")) {
		if (once(c, P_PUB, why) || pg_key_from_base64(p->pub, val, strlen(val)))
			return -EINVAL;
	} else if (!strcmp(key, "endpoint")) {
		if (once(c, P_EP, why) || pg_endpoint_parse(val, PG_HS_PORT_DEFAULT, &p->ep))
			return -EINVAL;
	} else if (!strcmp(key, "allow")) {
		if (p->n_allow == PG_PEER_ALLOW_MAX) {
			*why = "too many allow lines";
			return -EINVAL;
		}
		if (pg_prefix_parse_text(val, &p->allow[p->n_allow]))
			return -EINVAL;
		p->n_allow++;
	} else if (!strcmp(key, "last_handshake_ts")) {
		if (once(c, P_TS, why) || hex_field(val, p->last_ts, PG_TS_LEN))
			return -EINVAL;
	} else {
		*why = "unknown key";
		return -EINVAL;
	}
	return 0;
}

static int peer_finish(struct collect *c, const char **why)
{
	struct pg_peer_conf *all = c->items, *p = c->cur;
	size_t i;

	if ((c->seen & (P_NAME | P_PUB)) != (P_NAME | P_PUB)) {
		*why = "a peer needs name and public_key";
		return -EINVAL;
	}
	for (i = 0; i < c->n; i++) {
		if (!strcmp(all[i].name, p->name) || !memcmp(all[i].pub, p->pub, 32)) {
			*why = "two peers with the same name or public key";
			return -EINVAL;
		}
	}
	return 0;
}

int pg_peers_parse(const char *buf, size_t len, struct pg_peer_conf **peers, size_t *n,
		   int *line, const char **why)
{
	struct collect c = { .max = PG_MAX_PEERS, .size = sizeof(**peers),
			     .field = peer_field, .finish = peer_finish };
	int err;

	err = run_collect(&c, buf, len, line, why);
	if (err)
		return err;
	*peers = c.items;
	*n = c.n;
	return 0;
}

void pg_peers_format(struct pg_buf *b, const struct pg_peer_conf *peers, size_t n)
{
	char k[PG_KEY_B64_LEN + 1], s[PG_ENDPOINT_STRLEN], ts[2 * PG_TS_LEN + 1];
	unsigned int j;
	size_t i;

	pg_buf_printf(b, "# pairgated peers; written by pairgated, use pairgate peer add/del\n");
	for (i = 0; i < n; i++) {
		const struct pg_peer_conf *p = &peers[i];

		pg_key_to_base64(k, p->pub);
		pg_buf_printf(b, "%sname=%s\npublic_key=%s\n", i ? "\n" : "", p->name, k);
		if (p->ep.addr.family)
			pg_buf_printf(b, "endpoint=%s\n", pg_endpoint_str(&p->ep, s, sizeof(s)));
		for (j = 0; j < p->n_allow; j++)
			pg_buf_printf(b, "allow=%s\n", pg_prefix_text(&p->allow[j], s, sizeof(s)));
		if (!sodium_is_zero(p->last_ts, PG_TS_LEN)) {
			sodium_bin2hex(ts, sizeof(ts), p->last_ts, PG_TS_LEN);
			pg_buf_printf(b, "last_handshake_ts=%s\n", ts);
		}
	}
	pg_buf_checksum(b);
}

/* ---- invites ---- */

enum { I_ID = 1, I_SECRET = 2, I_EXP = 4, I_USES = 8, I_NAME = 16 };

static int invite_field(struct collect *c, const char *key, const char *val, const char **why)
{
	struct pg_invite *v = c->cur;
	*why = "bad value";
	if (!strcmp(key, "id")) {
		if (once(c, I_ID, why) || hex_field(val, v->id, sizeof(v->id)))
			return -EINVAL;
	} else if (!strcmp(key, "secret")) {
		if (once(c, I_SECRET, why) || hex_field(val, v->secret, sizeof(v->secret)))
			return -EINVAL;
	} else if (!strcmp(key, "expires")) {
		if (once(c, I_EXP, why) || parse_u64(val, &v->expires))
			return -EINVAL;
	} else if (!strcmp(key, "uses_left")) {
		if (once(c, I_USES, why) || parse_u32(val, 1000000, &v->uses_left))
			return -EINVAL;
	} else if (!strcmp(key, "name")) {
		if (once(c, I_NAME, why) || !pg_peer_name_ok(val))
			return -EINVAL;
		strcpy(v->name, val);
	} else {
		*why = "unknown key";
		return -EINVAL;
	}
	return 0;
}

static int invite_finish(struct collect *c, const char **why)
{
	unsigned int need = I_ID | I_SECRET | I_EXP | I_USES;

	if ((c->seen & need) != need) {
		*why = "an invite needs id, secret, expires and uses_left";
		return -EINVAL;
	}
	return 0;
}

int pg_invites_parse(const char *buf, size_t len, struct pg_invite **inv, size_t *n,
		     int *line, const char **why)
{
	struct collect c = { .max = PG_MAX_INVITES, .size = sizeof(**inv),
			     .field = invite_field, .finish = invite_finish };
	int err;

	err = run_collect(&c, buf, len, line, why);
	if (err)
		return err;
	*inv = c.items;
	*n = c.n;
	return 0;
}

void pg_invites_format(struct pg_buf *b, const struct pg_invite *inv, size_t n)
{
	char id[33], secret[65];
	size_t i;

	pg_buf_printf(b, "# pairgated invites; secret: keep this file 0600\n");
	for (i = 0; i < n; i++) {
		sodium_bin2hex(id, sizeof(id), inv[i].id, sizeof(inv[i].id));
		sodium_bin2hex(secret, sizeof(secret), inv[i].secret, sizeof(inv[i].secret));
		pg_buf_printf(b, "%sid=%s\nsecret=%s\nexpires=%llu\nuses_left=%u\n", i ? "\n" : "",
			      id, secret, (unsigned long long)inv[i].expires, inv[i].uses_left);
		if (inv[i].name[0])
			pg_buf_printf(b, "name=%s\n", inv[i].name);
	}
	sodium_memzero(secret, sizeof(secret));
	pg_buf_checksum(b);
}
