// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Noise IK / IKpsk2 against the cacophony vectors in
 * ../shared/testvectors/noise-cacophony-subset.json (override with
 * PG_NOISE_VECTORS), plus HMAC-BLAKE2b known answers and negative cases.
 * Runs from the repository root.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "testlib.h"
#include "noise.h"

#define DEFAULT_VECTORS "../shared/testvectors/noise-cacophony-subset.json"
#define MAX_BUF 1024


/* ---- a strict JSON reader for objects, arrays and plain strings only ---- */

enum jtype { J_STR, J_ARR, J_OBJ };

struct jnode {
	enum jtype type;
	char *str;		/* J_STR: the value; J_OBJ members: the key */
	size_t n;
	struct jnode *kids;	/* J_ARR items / J_OBJ member values */
	char **keys;
};

struct jparser {
	const char *p, *end;
	const char *err;
	int depth;
};

static void jskip(struct jparser *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\n' || *jp->p == '\t' ||
				   *jp->p == '\r'))
		jp->p++;
}

static bool jexpect(struct jparser *jp, char c)
{
	jskip(jp);
	if (jp->p >= jp->end || *jp->p != c) {
		jp->err = "unexpected character";
		return false;
	}
	jp->p++;
	return true;
}

/* Strings without escapes other than \" \\ \/; no control characters. */
static char *jstring(struct jparser *jp)
{
	size_t cap = 16, n = 0;
	char *s, *t;

	if (!jexpect(jp, '"'))
		return NULL;
	s = malloc(cap);
	while (s && jp->p < jp->end && *jp->p != '"') {
		char c = *jp->p++;

		if ((unsigned char)c < 0x20)
			goto bad;
		if (c == '\\') {
			if (jp->p >= jp->end || !strchr("\"\\/", *jp->p))
				goto bad;
			c = *jp->p++;
		}
		if (n + 2 > cap) {
			t = realloc(s, cap *= 2);
			if (!t)
				goto bad;
			s = t;
		}
		s[n++] = c;
	}
	if (!s || jp->p >= jp->end)
		goto bad;
	jp->p++;
	s[n] = 0;
	return s;
bad:
	jp->err = "bad string";
	free(s);
	return NULL;
}

static bool jvalue(struct jparser *jp, struct jnode *out);

static bool jpush(struct jparser *jp, struct jnode *node, char *key)
{
	struct jnode *kids = realloc(node->kids, (node->n + 1) * sizeof(*kids));
	char **keys = realloc(node->keys, (node->n + 1) * sizeof(*keys));

	if (kids)
		node->kids = kids;
	if (keys)
		node->keys = keys;
	if (!kids || !keys) {
		jp->err = "out of memory";
		free(key);
		return false;
	}
	memset(&node->kids[node->n], 0, sizeof(*kids));
	node->keys[node->n] = key;
	if (!jvalue(jp, &node->kids[node->n])) {
		free(key);
		return false;
	}
	node->n++;
	return true;
}

static bool jcontainer(struct jparser *jp, struct jnode *out, char open, char close)
{
	char *key = NULL;

	out->type = open == '{' ? J_OBJ : J_ARR;
	jp->p++;
	jskip(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		return true;
	}
	for (;;) {
		if (out->type == J_OBJ) {
			key = jstring(jp);
			if (!key || !jexpect(jp, ':')) {
				free(key);
				return false;
			}
		}
		if (!jpush(jp, out, key))
			return false;
		jskip(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			continue;
		}
		return jexpect(jp, close);
	}
}

static bool jvalue(struct jparser *jp, struct jnode *out)
{
	bool ok;

	jskip(jp);
	if (jp->p >= jp->end) {
		jp->err = "unexpected end";
		return false;
	}
	if (++jp->depth > 16) {
		jp->err = "nested too deep";
		return false;
	}
	if (*jp->p == '{')
		ok = jcontainer(jp, out, '{', '}');
	else if (*jp->p == '[')
		ok = jcontainer(jp, out, '[', ']');
	else if (*jp->p == '"')
		ok = (out->type = J_STR, out->str = jstring(jp)) != NULL;
	else
		ok = (jp->err = "only objects, arrays and strings are expected", false);
	jp->depth--;
	return ok;
}

static void jfree(struct jnode *node)
{
	size_t i;

	for (i = 0; i < node->n; i++) {
		jfree(&node->kids[i]);
		if (node->keys)
			free(node->keys[i]);
	}
	free(node->kids);
	free(node->keys);
	free(node->str);
}

static const struct jnode *jget(const struct jnode *obj, const char *key)
{
	size_t i;

	if (!obj || obj->type != J_OBJ)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return &obj->kids[i];
	return NULL;
}

static int jload(const char *path, struct jnode *root, const char **why)
{
	struct jparser jp = { 0 };
	char *text = NULL;
	long len;
	FILE *f;
	int err = -EINVAL;

	f = fopen(path, "r");
	if (!f) {
		*why = strerror(errno);
		return -errno;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		*why = "cannot size the file";
		goto out;
	}
	text = malloc(len + 1);
	if (!text || fread(text, 1, len, f) != (size_t)len) {
		*why = "cannot read the file";
		goto out;
	}
	jp.p = text;
	jp.end = text + len;
	memset(root, 0, sizeof(*root));
	if (!jvalue(&jp, root)) {
		*why = jp.err;
		goto out;
	}
	jskip(&jp);
	if (jp.p != jp.end) {
		*why = "trailing data after the top-level value";
		goto out;
	}
	err = 0;
out:
	if (err)
		jfree(root);
	free(text);
	fclose(f);
	return err;
}

/* A hex string member of obj into buf; returns its length or -1. */
static ssize_t jhex(const struct jnode *obj, const char *key, uint8_t *buf, size_t cap)
{
	const struct jnode *v = jget(obj, key);
	size_t len;

	if (!v || v->type != J_STR)
		return -1;
	if (sodium_hex2bin(buf, cap, v->str, strlen(v->str), NULL, &len, NULL))
		return -1;
	return len;
}

/* ---- vectors ---- */

struct vec_keys {
	uint8_t prologue[MAX_BUF];
	size_t prologue_len;
	uint8_t s[32], e[32];
	uint8_t rs[32];
	uint8_t psk[32];
	bool has_psk;
};

static int load_side(const struct jnode *v, const char *side, struct vec_keys *k)
{
	const struct jnode *psks;
	char key[64];
	ssize_t n;

	snprintf(key, sizeof(key), "%s_prologue", side);
	n = jhex(v, key, k->prologue, sizeof(k->prologue));
	if (n < 0)
		return -1;
	k->prologue_len = n;
	snprintf(key, sizeof(key), "%s_static", side);
	if (jhex(v, key, k->s, 32) != 32)
		return -1;
	snprintf(key, sizeof(key), "%s_ephemeral", side);
	if (jhex(v, key, k->e, 32) != 32)
		return -1;
	snprintf(key, sizeof(key), "%s_remote_static", side);
	if (jget(v, key) && jhex(v, key, k->rs, 32) != 32)
		return -1;
	snprintf(key, sizeof(key), "%s_psks", side);
	psks = jget(v, key);
	k->has_psk = psks != NULL;
	if (psks && (psks->type != J_ARR || psks->n != 1 || psks->kids[0].type != J_STR ||
		     sodium_hex2bin(k->psk, 32, psks->kids[0].str, strlen(psks->kids[0].str),
				    NULL, NULL, NULL)))
		return -1;
	return 0;
}

struct vec_party {
	struct noise_handshake hs;
	struct noise_cipher send, recv;
};

static int party_init(struct vec_party *p, enum noise_pattern pat, bool initiator,
		      const struct vec_keys *k)
{
	int err;

	err = noise_handshake_init(&p->hs, pat, initiator, k->prologue, k->prologue_len, k->s,
				   initiator ? k->rs : NULL, k->has_psk ? k->psk : NULL);
	if (err)
		return err;
	return noise_handshake_set_ephemeral(&p->hs, k->e);
}

static int party_split(struct vec_party *p)
{
	if (p->hs.initiator)
		return noise_split(&p->hs, &p->send, &p->recv);
	return noise_split(&p->hs, &p->recv, &p->send);
}

/* One message from one party to the other; 0 or a negative error with why set. */
static int exchange(struct vec_party *from, struct vec_party *to, const struct jnode *m,
		    int idx, const char **why)
{
	uint8_t pt[MAX_BUF], ct[MAX_BUF], out[MAX_BUF + 64], back[MAX_BUF];
	ssize_t ptlen, ctlen;
	int n;

	ptlen = jhex(m, "payload", pt, sizeof(pt));
	ctlen = jhex(m, "ciphertext", ct, sizeof(ct));
	if (ptlen < 0 || ctlen < 0)
		return *why = "message without hex payload/ciphertext", -EINVAL;

	if (idx < 2)
		n = noise_write_message(&from->hs, pt, ptlen, out, sizeof(out));
	else
		n = noise_cipher_encrypt(&from->send, NULL, 0, pt, ptlen, out) ?: ptlen + 16;
	if (n < 0)
		return *why = "writing failed", n;
	if (n != ctlen || memcmp(out, ct, n))
		return *why = "ciphertext differs from the vector", -EBADMSG;

	if (idx < 2)
		n = noise_read_message(&to->hs, ct, ctlen, back, sizeof(back));
	else
		n = noise_cipher_decrypt(&to->recv, NULL, 0, ct, ctlen, back) ?: ctlen - 16;
	if (n < 0)
		return *why = "reading failed", n;
	if (n != ptlen || memcmp(back, pt, n))
		return *why = "decrypted payload differs", -EBADMSG;
	return 0;
}

static void run_vector(const struct jnode *v, const char *proto, enum noise_pattern pat)
{
	struct vec_party *ini = calloc(2, sizeof(*ini)), *res = ini + 1;
	const struct jnode *msgs = jget(v, "messages");
	struct vec_keys ki, kr;
	uint8_t hash[NOISE_HASHLEN];
	const char *why = "bad vector";
	char name[160];
	size_t i;
	int err = -EINVAL;

	snprintf(name, sizeof(name), "vector %s", proto);
	if (!ini || load_side(v, "init", &ki) || load_side(v, "resp", &kr) || !msgs ||
	    msgs->type != J_ARR || msgs->n < 2 ||
	    jhex(v, "handshake_hash", hash, sizeof(hash)) != NOISE_HASHLEN)
		goto out;
	err = party_init(ini, pat, true, &ki) ?: party_init(res, pat, false, &kr);
	if (err) {
		why = "cannot set up the handshake states";
		goto out;
	}
	for (i = 0; i < msgs->n && !err; i++) {
		bool from_init = i % 2 == 0;

		err = exchange(from_init ? ini : res, from_init ? res : ini, &msgs->kids[i], i,
			       &why);
		if (err) {
			snprintf(name, sizeof(name), "vector %s message %zu (%s)", proto, i,
				 from_init ? "initiator to responder" : "responder to initiator");
			break;
		}
		if (i == 1) {
			if (memcmp(noise_handshake_hash(&ini->hs), hash, NOISE_HASHLEN) ||
			    memcmp(noise_handshake_hash(&res->hs), hash, NOISE_HASHLEN)) {
				why = "handshake hash differs from the vector";
				err = -EBADMSG;
				break;
			}
			err = party_split(ini) ?: party_split(res);
			why = "split failed";
		}
	}
	if (!err)
		snprintf(name, sizeof(name), "vector %s (%zu messages, both roles, hash)", proto,
			 msgs->n);
out:
	tl_check(!err, name, "%s (%d)", why, err);
	free(ini);
}

static void run_vectors(const char *path)
{
	const char *want[] = {
		"Noise_IK_25519_ChaChaPoly_BLAKE2b",
		"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b",
	};
	const struct jnode *vecs, *name;
	const char *why = NULL;
	struct jnode root;
	int counts[2] = { 0 };
	size_t i, j;

	if (jload(path, &root, &why)) {
		tl_check(false, "vectors load", "%s: %s", path, why);
		return;
	}
	vecs = jget(&root, "vectors");
	tl_check(vecs && vecs->type == J_ARR, "vectors load", "%s has no \"vectors\" array", path);
	for (i = 0; vecs && vecs->type == J_ARR && i < vecs->n; i++) {
		name = jget(&vecs->kids[i], "protocol_name");
		if (!name || name->type != J_STR)
			continue;
		for (j = 0; j < 2; j++) {
			if (strcmp(name->str, want[j]))
				continue;
			run_vector(&vecs->kids[i], want[j], j ? NOISE_IKPSK2 : NOISE_IK);
			counts[j]++;
		}
	}
	for (j = 0; j < 2; j++) {
		char name[96];

		snprintf(name, sizeof(name), "vectors present for %s", want[j]);
		tl_check(counts[j] > 0, name, "none in %s", path);
	}
	jfree(&root);
}

/* ---- known answers and negative cases ---- */

static void test_hmac(void)
{
	static const char *want_short =
		"157e3025212dd25fbb408761119fb599eb917da1681019eea817954d9d7bdc97"
		"4550cc54f4c90de2bfa471278d901b9c41d7cab1516a536771a03090b1a2a569";
	static const char *want_long =
		"3657d96bcab1b777275ca0c25f3bab9388d8ac4d3914495a2b495c756b52dd22"
		"dc9531abcd00141e683e53e77cf10f468330f65c569c44f0f54edd3ad89cb566";
	uint8_t key[200], mac[NOISE_HASHLEN];
	char hex[2 * NOISE_HASHLEN + 1];
	int i;

	/* Known answers from Python's hmac.new(key, msg, hashlib.blake2b). */
	noise_hmac(mac, (const uint8_t *)"pairgate", 8, (const uint8_t *)"hmac test", 9);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	tl_check(!strcmp(hex, want_short), "hmac-blake2b short key", "got %s", hex);

	for (i = 0; i < 200; i++)
		key[i] = i;
	noise_hmac(mac, key, sizeof(key), (const uint8_t *)"long key", 8);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	tl_check(!strcmp(hex, want_long), "hmac-blake2b key longer than a block", "got %s", hex);
}

struct pair {
	struct noise_handshake ini, res;
	uint8_t m1[MAX_BUF], m2[MAX_BUF];
	int m1len, m2len;
};

static const uint8_t k_ini[32] = { 1, 2, 3 }, k_res[32] = { 4, 5, 6 }, k_other[32] = { 7 };
static const uint8_t psk_a[32] = { 0xaa }, psk_b[32] = { 0xbb };

static int pair_msg1(struct pair *p, enum noise_pattern pat, const uint8_t *rs_priv,
		     const uint8_t *psk_ini, const uint8_t *psk_res)
{
	uint8_t rs[32], pl[] = "payload one";
	int err;

	crypto_scalarmult_base(rs, rs_priv);
	err = noise_handshake_init(&p->ini, pat, true, (const uint8_t *)"pro", 3, k_ini, rs,
				   psk_ini);
	err = err ?: noise_handshake_init(&p->res, pat, false, (const uint8_t *)"pro", 3, k_res,
					  NULL, psk_res);
	if (err)
		return err;
	p->m1len = noise_write_message(&p->ini, pl, sizeof(pl), p->m1, sizeof(p->m1));
	return p->m1len < 0 ? p->m1len : 0;
}

static void test_tamper_msg1(enum noise_pattern pat, const char *name)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct noise_handshake res;
	uint8_t buf[MAX_BUF], pl[MAX_BUF];
	int i, n, bad = -1;

	if (!p || pair_msg1(p, pat, k_res, psk_a, psk_a)) {
		tl_check(false, name, "cannot set up");
		free(p);
		return;
	}
	for (i = 0; i < p->m1len * 8 && bad < 0; i++) {
		memcpy(buf, p->m1, p->m1len);
		buf[i / 8] ^= 1 << (i % 8);
		res = p->res;
		n = noise_read_message(&res, buf, p->m1len, pl, sizeof(pl));
		if (n >= 0 || (n != -EBADMSG && n != -EKEYREJECTED))
			bad = i;
	}
	res = p->res;
	n = noise_read_message(&res, p->m1, p->m1len, pl, sizeof(pl));
	tl_check(bad < 0 && n >= 0, name,
	      "first bit flip accepted or wrongly refused: %d; intact message gave %d", bad, n);
	free(p);
}

static void test_tamper_msg2(enum noise_pattern pat, const char *name)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct noise_handshake ini;
	uint8_t buf[MAX_BUF], pl[MAX_BUF];
	int i, n, bad = -1;

	if (!p || pair_msg1(p, pat, k_res, psk_a, psk_a) ||
	    noise_read_message(&p->res, p->m1, p->m1len, pl, sizeof(pl)) < 0 ||
	    (p->m2len = noise_write_message(&p->res, NULL, 0, p->m2, sizeof(p->m2))) < 0) {
		tl_check(false, name, "cannot set up");
		free(p);
		return;
	}
	for (i = 0; i < p->m2len * 8 && bad < 0; i++) {
		memcpy(buf, p->m2, p->m2len);
		buf[i / 8] ^= 1 << (i % 8);
		ini = p->ini;
		n = noise_read_message(&ini, buf, p->m2len, pl, sizeof(pl));
		if (n >= 0 || (n != -EBADMSG && n != -EKEYREJECTED))
			bad = i;
	}
	ini = p->ini;
	n = noise_read_message(&ini, p->m2, p->m2len, pl, sizeof(pl));
	tl_check(bad < 0 && n == 0 && !memcmp(noise_handshake_hash(&ini),
					   noise_handshake_hash(&p->res), NOISE_HASHLEN),
	      name, "first bit flip accepted or wrongly refused: %d; intact message gave %d",
	      bad, n);
	free(p);
}

static void test_wrong_static(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	uint8_t pl[MAX_BUF];
	int n = 0;

	if (p && !pair_msg1(p, NOISE_IK, k_other, NULL, NULL))
		n = noise_read_message(&p->res, p->m1, p->m1len, pl, sizeof(pl));
	tl_check(n == -EBADMSG, "IK message 1 to a wrong responder static key is refused",
	      "read gave %d", n);
	tl_check(p && p->res.dh_count == 1, "IK wrong responder key stops after the first DH",
	      "%u DH operations", p ? p->res.dh_count : 0);
	free(p);
}

static void test_psk_mismatch(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	uint8_t pl[MAX_BUF];
	int n = 0;

	if (p && !pair_msg1(p, NOISE_IKPSK2, k_res, psk_a, psk_b) &&
	    noise_read_message(&p->res, p->m1, p->m1len, pl, sizeof(pl)) >= 0) {
		p->m2len = noise_write_message(&p->res, NULL, 0, p->m2, sizeof(p->m2));
		n = noise_read_message(&p->ini, p->m2, p->m2len, pl, sizeof(pl));
	}
	tl_check(n == -EBADMSG, "IKpsk2 message 2 under a different PSK is refused", "read gave %d",
	      n);
	free(p);
}

static void test_lengths(void)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct noise_handshake res;
	uint8_t pl[MAX_BUF];
	int len, n, bad = -1;

	if (!p || pair_msg1(p, NOISE_IKPSK2, k_res, psk_a, psk_a)) {
		tl_check(false, "truncated message 1 is refused", "cannot set up");
		free(p);
		return;
	}
	for (len = 0; len < p->m1len && bad < 0; len++) {
		res = p->res;
		n = noise_read_message(&res, p->m1, len, pl, sizeof(pl));
		if (n >= 0)
			bad = len;
	}
	tl_check(bad < 0, "truncated message 1 is refused", "length %d accepted", bad);

	res = p->res;
	n = noise_read_message(&res, p->m1, p->m1len, pl, 3);
	tl_check(n == -ENOSPC, "short payload buffer is refused", "read gave %d", n);

	memset(p->m1, 0, 32);	/* e = 0: a low-order point */
	res = p->res;
	n = noise_read_message(&res, p->m1, p->m1len, pl, sizeof(pl));
	tl_check(n == -EKEYREJECTED, "all-zero ephemeral key is refused", "read gave %d", n);

	res = p->res;
	n = noise_write_message(&res, NULL, 0, pl, sizeof(pl));
	tl_check(n == -EPROTO, "responder cannot write first", "write gave %d", n);
	free(p);
}

int main(void)
{
	const char *path = getenv("PG_NOISE_VECTORS");

	if (sodium_init() < 0) {
		printf("FAIL sodium_init: libsodium cannot initialise\n");
		return 1;
	}
	test_hmac();
	run_vectors(path ? path : DEFAULT_VECTORS);
	test_tamper_msg1(NOISE_IK, "IK every bit flip of message 1 is refused");
	test_tamper_msg1(NOISE_IKPSK2, "IKpsk2 every bit flip of message 1 is refused");
	test_tamper_msg2(NOISE_IK, "IK every bit flip of message 2 is refused");
	test_tamper_msg2(NOISE_IKPSK2, "IKpsk2 every bit flip of message 2 is refused");
	test_wrong_static();
	test_psk_mismatch();
	test_lengths();
	fflush(stdout);
	return tl_exit();
}
