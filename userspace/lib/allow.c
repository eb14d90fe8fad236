// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "allow.h"
#include "log.h"

/* The LPM keys of a rule: one, or two for "any source" of both families. */
static int rule_keys(const struct pg_rule *rule, struct pg_allow_key keys[2])
{
	unsigned int fams = pg_proto_families(rule->proto);
	int i, n = 0;

	memset(keys, 0, 2 * sizeof(*keys));
	if (!rule->any_src) {
		keys[0].prefixlen = PG_ALLOW_FIXED_BITS + rule->plen;
		keys[0].family = rule->src.family;
		memcpy(keys[0].addr, rule->src.addr, sizeof(keys[0].addr));
		n = 1;
	} else {
		if (fams & PG_FAM_V4)
			keys[n++].family = 4;
		if (fams & PG_FAM_V6)
			keys[n++].family = 6;
	}
	for (i = 0; i < n; i++) {
		if (rule->any_src)
			keys[i].prefixlen = PG_ALLOW_FIXED_BITS;
		keys[i].proto = rule->proto;
		keys[i].port = htons(rule->port);
	}
	return n;
}

/* Exact-match test: an LPM lookup would also find covering prefixes. */
static bool key_exists(int fd, const struct pg_allow_key *want)
{
	struct pg_allow_key key, next;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!memcmp(&next, want, sizeof(next)))
			return true;
		key = next;
		prev = &key;
	}
	return false;
}

int pg_allow_add(int fd, const struct pg_rule *rule)
{
	struct pg_allow_key keys[2];
	bool added[2] = { false, false };
	char name[PG_RULE_STRLEN];
	int i, n, err = 0, count = 0;
	__u32 one = 1;

	n = rule_keys(rule, keys);
	for (i = 0; i < n; i++) {
		if (key_exists(fd, &keys[i]))
			continue;
		if (bpf_map_update_elem(fd, &keys[i], &one, BPF_NOEXIST)) {
			err = -errno;
			break;
		}
		added[i] = true;
		count++;
	}
	if (!err)
		return count;

	for (i = 0; i < n; i++)
		if (added[i])
			bpf_map_delete_elem(fd, &keys[i]);
	pg_rule_str(rule, name, sizeof(name));
	if (err == -E2BIG || err == -ENOSPC)
		pg_err("adding exemption %s: the exemption table is full (%d entries); "
		       "remove some with pairgate disallow", name, PG_MAX_ALLOW);
	else
		pg_err("adding exemption %s: %s", name, strerror(-err));
	return err;
}

int pg_allow_del(int fd, const struct pg_rule *rule, const char *ifname)
{
	struct pg_allow_key keys[2];
	char name[PG_RULE_STRLEN];
	bool found[2] = { false, false };
	int i, n, err = 0;

	n = rule_keys(rule, keys);
	for (i = 0; i < n; i++)
		found[i] = key_exists(fd, &keys[i]);
	if (!found[0] && !found[1]) {
		pg_err("removing exemption %s: no such exemption on %s; see pairgate stats %s",
		       pg_rule_str(rule, name, sizeof(name)), ifname, ifname);
		return -ENOENT;
	}
	for (i = 0; i < n; i++) {
		if (found[i] && bpf_map_delete_elem(fd, &keys[i]) && !err) {
			err = -errno;
			pg_err("removing exemption %s: %s", pg_rule_str(rule, name, sizeof(name)),
			       strerror(-err));
		}
	}
	return err;
}

static void key_to_rule(const struct pg_allow_key *key, struct pg_rule *rule)
{
	memset(rule, 0, sizeof(*rule));
	rule->proto = key->proto;
	rule->port = ntohs(key->port);
	rule->src.family = key->family;
	memcpy(rule->src.addr, key->addr, sizeof(rule->src.addr));
	rule->plen = key->prefixlen - PG_ALLOW_FIXED_BITS;
}

static int rule_cmp(const void *pa, const void *pb)
{
	const struct pg_rule *a = pa, *b = pb;

	if (a->proto != b->proto)
		return a->proto - b->proto;
	if (a->port != b->port)
		return a->port - b->port;
	if (a->any_src != b->any_src)
		return b->any_src - a->any_src;
	if (a->src.family != b->src.family)
		return a->src.family - b->src.family;
	if (a->plen != b->plen)
		return a->plen - b->plen;
	return memcmp(a->src.addr, b->src.addr, sizeof(a->src.addr));
}

/*
 * Folds /0 keys back into "any source" rules: a /0 key is "any" when every
 * family the protocol exists in has its /0 key. The v6 half of a folded pair
 * is dropped (returns false).
 */
static bool fold_any(struct pg_rule *r, const struct pg_rule *all, size_t n)
{
	unsigned int fams = pg_proto_families(r->proto), have = 0;
	size_t i;

	if (r->plen)
		return true;
	for (i = 0; i < n; i++)
		if (!all[i].plen && all[i].proto == r->proto && all[i].port == r->port)
			have |= all[i].src.family == 4 ? PG_FAM_V4 : PG_FAM_V6;
	if ((have & fams) != fams)
		return true;
	if (fams == (PG_FAM_V4 | PG_FAM_V6) && r->src.family == 6)
		return false;
	r->any_src = true;
	return true;
}

static int read_keys(int fd, struct pg_rule **rules, size_t *n)
{
	struct pg_allow_key key, next;
	struct pg_rule *r = NULL, *tmp;
	size_t cap = 0, cnt = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (cnt == cap) {
			cap = cap ? 2 * cap : 16;
			tmp = realloc(r, cap * sizeof(*r));
			if (!tmp) {
				free(r);
				return -ENOMEM;
			}
			r = tmp;
		}
		key_to_rule(&next, &r[cnt++]);
		key = next;
		prev = &key;
	}
	*rules = r;
	*n = cnt;
	return 0;
}

int pg_allow_list(int fd, struct pg_rule **rules, size_t *n)
{
	struct pg_rule *raw, *out;
	size_t i, cnt, kept = 0;
	int err;

	err = read_keys(fd, &raw, &cnt);
	if (err) {
		pg_err("reading exemptions: %s", strerror(-err));
		return err;
	}
	out = calloc(cnt ? cnt : 1, sizeof(*out));
	if (!out) {
		free(raw);
		return -ENOMEM;
	}
	for (i = 0; i < cnt; i++) {
		out[kept] = raw[i];
		if (fold_any(&out[kept], raw, cnt))
			kept++;
	}
	free(raw);
	qsort(out, kept, sizeof(*out), rule_cmp);
	*rules = out;
	*n = kept;
	return 0;
}

const char *pg_rule_str(const struct pg_rule *rule, char *buf, size_t len)
{
	char pp[16], pfx[PG_PREFIX_STRLEN];

	pg_proto_port_str(rule->proto, rule->port, pp, sizeof(pp));
	if (rule->any_src)
		snprintf(buf, len, "%s", pp);
	else
		snprintf(buf, len, "%s from %s", pp,
			 pg_prefix_str(&rule->src, rule->plen, pfx, sizeof(pfx)));
	return buf;
}

static void hint_add(struct pg_allow_hint *h, const struct pg_allow_key *k)
{
	int cls = k->proto == IPPROTO_TCP ? PG_HINT_TCP :
		  k->proto == IPPROTO_UDP ? PG_HINT_UDP :
		  k->proto == IPPROTO_SCTP ? PG_HINT_SCTP : -1;
	__u16 port = ntohs(k->port);

	if (!port || cls < 0) {
		h->proto[k->proto] |= PG_HINT_ANY_PORT;
		return;
	}
	h->proto[k->proto] |= PG_HINT_PORTS;
	h->ports[cls][port / 64] |= 1ULL << (port % 64);
}

int pg_allow_hint_rebuild(int allow_fd, int hint_fd)
{
	struct pg_allow_key key, next, *prev = NULL;
	struct pg_allow_hint *h;
	__u32 zero = 0;
	int err = 0;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	while (!bpf_map_get_next_key(allow_fd, prev, &next)) {
		key = next;
		prev = &key;
		hint_add(h, &key);
	}
	if (bpf_map_update_elem(hint_fd, &zero, h, BPF_ANY)) {
		err = -errno;
		pg_err("updating the exemption hints: %s", strerror(-err));
	}
	free(h);
	return err;
}
