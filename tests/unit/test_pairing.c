// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of pairgated's pure parts: invite tokens, joining through the
 * handshake library (used, expired, forged invites and the authenticated
 * refusal), the state files and their corruption detection, the control
 * request parser, and the rekey schedule.
 */
#include <unistd.h>

#include <sodium.h>

#include "ctl.h"
#include "handshake.h"
#include "invite.h"
#include "kvfile.h"
#include "pairstate.h"
#include "rekey.h"
#include "testlib.h"

#define NS 1000000000ULL

static struct pg_token sample_token(void)
{
	struct pg_token t = { .expires = 1900000000, .port = 51821 };

	randombytes_buf(t.pub, sizeof(t.pub));
	randombytes_buf(t.secret, sizeof(t.secret));
	t.endpoint.family = 4;
	memcpy(t.endpoint.addr, "\xc6\x12\x00\x01", 4);
	return t;
}

static void test_tokens(void)
{
	struct pg_token t = sample_token(), u;
	char text[PG_TOKEN_MAX], bad[PG_TOKEN_MAX];
	const char *why = "";
	size_t i, n, refused = 0;

	tl_check(!pg_token_encode(&t, text, sizeof(text)) &&
		 !pg_token_parse(text, strlen(text), &u, &why) && !memcmp(&t, &u, sizeof(t)),
		 "token: encode/parse round trip", "%s", why);
	n = strlen(text);
	for (i = strlen(PG_TOKEN_PREFIX); i < n; i++) {	/* every single-character change */
		strcpy(bad, text);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		refused += !!pg_token_parse(bad, n, &u, &why);
	}
	/* the last digit carries 2 unused bits that some changes leave alone */
	tl_check(refused >= n - strlen(PG_TOKEN_PREFIX) - 1, "token: every alteration refused",
		 "%zu of %zu accepted", n - strlen(PG_TOKEN_PREFIX) - refused,
		 n - strlen(PG_TOKEN_PREFIX));
	tl_check(pg_token_parse(text, n - 1, &u, &why) && pg_token_parse("pg1_", 4, &u, &why) &&
		 pg_token_parse("xyz", 3, &u, &why), "token: truncated or foreign text refused",
		 "accepted");
	t.endpoint.family = 6;
	memset(t.endpoint.addr, 0x20, 16);
	tl_check(!pg_token_encode(&t, text, sizeof(text)) &&
		 !pg_token_parse(text, strlen(text), &u, &why) && u.endpoint.family == 6,
		 "token: IPv6 endpoint round trip", "%s", why);
}

/* ---- joining through the handshake library ---- */

struct join_env {
	struct hs_identity inviter, joiner;
	struct hs_peer joiner_sees_inviter, new_peer;
	uint8_t secret[32];
	int verdict;		/* what the inviter's invite table says */
	bool created;
};

static struct hs_peer *no_peer(void *arg, const uint8_t pub[HS_KEY_LEN])
{
	struct join_env *e = arg;

	return e->created && !memcmp(pub, e->new_peer.pub, 32) ? &e->new_peer : NULL;
}

static int decide(void *arg, const struct hs_join_req *req, struct hs_peer **peer)
{
	struct join_env *e = arg;

	if (!hs_join_proof_ok(&e->inviter, req, e->secret))
		return HS_E_JOIN_INVALID;
	if (e->verdict)
		return e->verdict;
	hs_peer_init(&e->new_peer, req->pub);
	e->created = true;
	*peer = &e->new_peer;
	return 0;
}

static void join_setup(struct join_env *e)
{
	uint8_t a[32], b[32];

	memset(e, 0, sizeof(*e));
	randombytes_buf(a, 32);
	randombytes_buf(b, 32);
	randombytes_buf(e->secret, 32);
	hs_init_identity(&e->inviter, a, NULL);
	hs_init_identity(&e->joiner, b, NULL);
	hs_peer_init(&e->joiner_sees_inviter, e->inviter.pub);
}

/* One join attempt; returns the inviter's verdict, with the refusal checked. */
static int join_once(struct join_env *e, const uint8_t *secret, int *refusal)
{
	uint8_t msg[HS_MAX_MSG_LEN], out[HS_MAX_MSG_LEN];
	struct hs_handshake ini, resp;
	struct hs_src src = { .port = 51821 };
	struct hs_join_req req;
	struct hs_sa_keys ki, kr;
	int n, err;

	n = hs_create_join(&ini, &e->joiner, &e->joiner_sees_inviter, 0, 0, secret, msg,
			   sizeof(msg));
	if (n != HS_JOIN_LEN)
		return -1000;
	err = hs_consume_join(&resp, &e->inviter, msg, n, &src, false, no_peer, decide, e, &req);
	*refusal = 0;
	if (err == HS_E_JOIN_USED || err == HS_E_JOIN_EXPIRED) {
		n = hs_refusal_create(e->secret, msg, HS_JOIN_LEN, err, out, sizeof(out));
		*refusal = n == HS_REFUSAL_LEN ? hs_refusal_consume(&ini, secret, out, n) : -1000;
		return err;
	}
	if (err)
		return err;
	n = hs_create_response(&resp, 0, 0, out, sizeof(out));
	if (n != HS_RESPONSE_LEN || hs_consume_response(&ini, out, n) ||
	    hs_derive_sa_keys(&ini, &ki) || hs_derive_sa_keys(&resp, &kr))
		return -1001;
	return memcmp(ki.tag_key_out, kr.tag_key_in, 16) ? -1002 : 0;
}

static void test_join(void)
{
	struct join_env e;
	uint8_t wrong[32];
	int err, refusal;

	join_setup(&e);
	err = join_once(&e, e.secret, &refusal);
	tl_check(!err && e.created, "join: valid invite pairs and keys agree", "err %d", err);

	join_setup(&e);
	e.verdict = HS_E_JOIN_USED;
	err = join_once(&e, e.secret, &refusal);
	tl_check(err == HS_E_JOIN_USED && refusal == HS_E_JOIN_USED && !e.created,
		 "join: used invite refused, joiner told why", "err %d refusal %d", err, refusal);

	join_setup(&e);
	e.verdict = HS_E_JOIN_EXPIRED;
	err = join_once(&e, e.secret, &refusal);
	tl_check(err == HS_E_JOIN_EXPIRED && refusal == HS_E_JOIN_EXPIRED,
		 "join: expired invite refused, joiner told why", "err %d refusal %d", err,
		 refusal);

	join_setup(&e);
	randombytes_buf(wrong, sizeof(wrong));
	err = join_once(&e, wrong, &refusal);
	tl_check(err == HS_E_JOIN_INVALID && !e.created, "join: forged secret refused silently",
		 "err %d", err);
}

static void test_refusal_forgery(void)
{
	uint8_t msg[HS_MAX_MSG_LEN], out[HS_REFUSAL_LEN], other[32];
	struct join_env e;
	struct hs_handshake ini;
	int n;

	join_setup(&e);
	n = hs_create_join(&ini, &e.joiner, &e.joiner_sees_inviter, 0, 0, e.secret, msg,
			   sizeof(msg));
	randombytes_buf(other, sizeof(other));
	hs_refusal_create(other, msg, n, HS_E_JOIN_USED, out, sizeof(out));
	tl_check(hs_refusal_consume(&ini, e.secret, out, sizeof(out)) == HS_E_DECRYPT,
		 "join: refusal not made with the secret is ignored", "accepted");
}

/* ---- state files ---- */

static void test_peers_file(void)
{
	struct pg_peer_conf in[2] = {}, *out = NULL;
	struct pg_buf b = {};
	const char *why = "";
	size_t n = 0, i, bad = 0;
	int line, err;

	strcpy(in[0].name, "alpha");
	randombytes_buf(in[0].pub, 32);
	pg_endpoint_parse("198.18.0.7:4000", 51821, &in[0].ep);
	pg_prefix_parse_text("198.18.0.0/24", &in[0].allow[0]);
	in[0].n_allow = 1;
	randombytes_buf(in[0].last_ts, sizeof(in[0].last_ts));
	strcpy(in[1].name, "beta");
	randombytes_buf(in[1].pub, 32);
	pg_endpoint_parse("[2001:db8::9]:51821", 51821, &in[1].ep);
	pg_peers_format(&b, in, 2);
	err = pg_peers_parse(b.p, b.len, &out, &n, &line, &why);
	tl_check(!err && n == 2 && !memcmp(in, out, sizeof(in)), "state: peers round trip",
		 "err %d line %d %s", err, line, why);
	free(out);

	for (i = 0; i < b.len; i++) {		/* every truncation */
		out = NULL;
		if (!pg_peers_parse(b.p, i, &out, &n, &line, &why) && i)
			bad++;
		free(out);
	}
	tl_check(!bad, "state: every truncated peers file refused", "%zu accepted", bad);
	for (i = 0; i < b.len; i++) {		/* every flipped bit in one byte */
		b.p[i] ^= 0x04;
		out = NULL;
		if (!pg_peers_parse(b.p, b.len, &out, &n, &line, &why))
			bad++;
		free(out);
		b.p[i] ^= 0x04;
	}
	tl_check(!bad, "state: every corrupted byte detected", "%zu accepted", bad);
	pg_buf_free(&b);
}

static void test_invites_file(void)
{
	struct pg_invite in[1] = { { .expires = 1900000000, .uses_left = 3, .name = "x" } };
	struct pg_invite *out = NULL;
	struct pg_buf b = {};
	const char *why = "";
	size_t n = 0;
	int line, err;

	randombytes_buf(in[0].secret, 32);
	hs_invite_id(in[0].id, in[0].secret);
	pg_invites_format(&b, in, 1);
	err = pg_invites_parse(b.p, b.len, &out, &n, &line, &why);
	tl_check(!err && n == 1 && !memcmp(in, out, sizeof(in)), "state: invites round trip",
		 "err %d line %d %s", err, line, why);
	free(out);
	pg_buf_free(&b);
}

static void test_atomic_write(void)
{
	char dir[] = "/tmp/pg-pairing-XXXXXX", path[64], *data = NULL;
	const char *what;
	size_t len = 0;
	int err;

	if (!mkdtemp(dir)) {
		tl_check(0, "state: atomic write", "mkdtemp: %s", strerror(errno));
		return;
	}
	err = pg_file_write_atomic(dir, "f", "one\n", 4, 0600, &what);
	if (!err)
		err = pg_file_write_atomic(dir, "f", "two\n", 4, 0600, &what);
	if (!err)
		err = pg_file_read(dir, "f", &data, &len);
	tl_check(!err && len == 4 && !memcmp(data, "two\n", 4),
		 "state: atomic write replaces the file whole", "err %d", err);
	free(data);
	tl_check(pg_file_read(dir, "missing", &data, &len) == -ENOENT,
		 "state: a missing file is reported as such", "no ENOENT");
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
}

static void test_ctl_parse(void)
{
	static const char ok[] = "cmd=peer_add\nname=a\nallow=10.0.0.0/8\nallow=fd00::/8\n";
	static const char *const bad[] = { "name=a\n", "cmd=x\n\ncmd=y\n", "cmd=x", "cmd x\n",
					   "CMD=x\n", "cmd=\x01\n" };
	struct pg_ctl_req r;
	const char *why, *v;
	unsigned int i = 0, refused = 0;

	tl_check(!pg_ctl_parse(ok, strlen(ok), &r, &why) &&
		 !strcmp(pg_ctl_get(&r, "cmd"), "peer_add") &&
		 (v = pg_ctl_next(&r, "allow", &i)) && !strcmp(v, "10.0.0.0/8") &&
		 (v = pg_ctl_next(&r, "allow", &i)) && !strcmp(v, "fd00::/8"),
		 "control: request parsed, repeated keys kept", "bad parse");
	pg_ctl_free(&r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused += !!pg_ctl_parse(bad[i], strlen(bad[i]), &r, &why);
	tl_check(refused == sizeof(bad) / sizeof(bad[0]), "control: malformed requests refused",
		 "%u of %zu refused", refused, sizeof(bad) / sizeof(bad[0]));
}

static void test_endpoints(void)
{
	struct pg_endpoint ep;
	char s[PG_ENDPOINT_STRLEN];

	tl_check(!pg_endpoint_parse("198.18.0.1", 51821, &ep) && ep.port == 51821 &&
		 !strcmp(pg_endpoint_str(&ep, s, sizeof(s)), "198.18.0.1:51821") &&
		 !pg_endpoint_parse("[2001:db8::1]:7", 51821, &ep) && ep.port == 7 &&
		 !pg_endpoint_parse("2001:db8::1", 51821, &ep) && ep.addr.family == 6 &&
		 pg_endpoint_parse("198.18.0.1:0", 1, &ep) &&
		 pg_endpoint_parse("198.18.0.1:65536", 1, &ep) &&
		 pg_endpoint_parse("host:1", 1, &ep) && pg_endpoint_parse("[::1:1", 1, &ep),
		 "endpoint: forms accepted and refused", "mismatch");
}

/* ---- rekey schedule ---- */

static void test_rekey(void)
{
	struct pg_rekey_cfg c;
	struct pg_rekey_state s = { .has_endpoint = true, .has_session = true,
				    .initiator = true };

	pg_rekey_defaults(&c, 120 * NS, 1ULL << 32);
	tl_check(c.reject_after_ns == 180 * NS && c.rekey_responder_ns == 135 * NS &&
		 c.grace_ns == 30 * NS && c.rekey_timeout_ns == 5 * NS,
		 "rekey: documented defaults", "reject %llu grace %llu",
		 (unsigned long long)c.reject_after_ns, (unsigned long long)c.grace_ns);

	s.session_age_ns = 119 * NS;
	tl_check(!pg_rekey_should_initiate(&c, &s), "rekey: not before REKEY_AFTER", "early");
	s.session_age_ns = 120 * NS;
	tl_check(pg_rekey_should_initiate(&c, &s), "rekey: initiator at REKEY_AFTER", "late");
	s.initiator = false;
	tl_check(!pg_rekey_should_initiate(&c, &s), "rekey: responder leaves it to the initiator",
		 "both sides would initiate");
	s.session_age_ns = 135 * NS;
	tl_check(pg_rekey_should_initiate(&c, &s), "rekey: responder steps in later",
		 "no one rekeys");
	s.session_age_ns = NS;
	s.out_seq = 1ULL << 32;
	tl_check(pg_rekey_should_initiate(&c, &s), "rekey: by packet count", "ignored seq");
	s.init_active = true;
	s.retry_due = false;
	tl_check(!pg_rekey_should_initiate(&c, &s), "rekey: no second initiation in flight",
		 "duplicate");
	s.has_endpoint = false;
	s.retry_due = true;
	tl_check(!pg_rekey_should_initiate(&c, &s), "rekey: nothing without an endpoint",
		 "initiated");
	tl_check(pg_rekey_retry_ns(&c, 1) == 5 * NS && pg_rekey_retry_ns(&c, 2) == 10 * NS &&
		 pg_rekey_retry_ns(&c, 9) == 30 * NS, "rekey: retries back off to 30 s",
		 "%llu", (unsigned long long)pg_rekey_retry_ns(&c, 9));
	/* the lifetimes must nest for any setting, or rotation would lose packets */
	pg_rekey_defaults(&c, 3 * NS, 1ULL << 32);
	tl_check(c.rekey_after_ns < c.rekey_responder_ns &&
		 c.rekey_responder_ns < c.reject_after_ns && c.rekey_timeout_ns < c.rekey_after_ns,
		 "rekey: short test setting keeps the order", "bad order");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_tokens();
	test_join();
	test_refusal_forgery();
	test_peers_file();
	test_invites_file();
	test_atomic_write();
	test_ctl_parse();
	test_endpoints();
	test_rekey();
	return tl_exit();
}
