// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "b64key.h"
#include "ctl.h"
#include "kvfile.h"
#include "invite.h"
#include "log.h"
#include "pairing_cli.h"
#include "pairstate.h"

#define CALL_TIMEOUT_MS		5000
#define JOIN_TIMEOUT_MS		20000

/* ---- keys ---- */

int pg_cmd_genkey(int argc, char **argv)
{
	char text[PG_KEY_B64_LEN + 1];
	uint8_t priv[PG_X25519_LEN];
	struct stat sb;

	if (argc != 1) {
		pg_err("genkey takes no arguments; usage: pairgate genkey > FILE");
		return 1;
	}
	/* `genkey > FILE` makes FILE with the shell's umask: tighten it ourselves */
	if (!fstat(STDOUT_FILENO, &sb) && S_ISREG(sb.st_mode) && (sb.st_mode & 077) &&
	    fchmod(STDOUT_FILENO, sb.st_mode & 0700)) {
		pg_err("genkey: the output file is readable by others and cannot be "
		       "made 0600 (%s); write to a file you own", strerror(errno));
		return 1;
	}
	if (pg_key_generate(priv)) {
		pg_err("genkey: no randomness available");
		return 1;
	}
	pg_key_to_base64(text, priv);
	printf("%s\n", text);
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(text, sizeof(text));
	return fflush(stdout) ? 1 : 0;
}

int pg_cmd_pubkey(int argc, char **argv)
{
	char text[PG_KEY_B64_LEN + 3], pubtext[PG_KEY_B64_LEN + 1];
	uint8_t priv[PG_X25519_LEN], pub[PG_X25519_LEN];
	struct stat sb;
	size_t n;
	int err = 1;

	if (argc != 1) {
		pg_err("pubkey takes no arguments; usage: pairgate pubkey < FILE");
		return 1;
	}
	if (!fstat(STDIN_FILENO, &sb) && S_ISREG(sb.st_mode) && (sb.st_mode & 077)) {
		pg_err("pubkey: the private key file is readable by group or others; "
		       "chmod 600 it (and consider the key leaked)");
		return 1;
	}
	n = fread(text, 1, sizeof(text), stdin);
	if (n && text[n - 1] == '\n')
		n--;
	if (n != PG_KEY_B64_LEN || pg_key_from_base64(priv, text, n) || pg_key_public(pub, priv))
		pg_err("pubkey: stdin is not a private key (44 base64 characters, "
		       "as pairgate genkey writes)");
	else
		err = 0;
	if (!err) {
		pg_key_to_base64(pubtext, pub);
		printf("%s\n", pubtext);
	}
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(text, sizeof(text));
	return err;
}

/* ---- talking to the daemon ---- */

struct answer {
	char *text;
	size_t len;
};

/* Sends the request; on "status=error" prints "pairgate: WHAT: <error>" and fails. */
static int call(const char *what, struct pg_buf *req, int timeout_ms, struct answer *ans)
{
	const char *status, *error;
	int err;

	memset(ans, 0, sizeof(*ans));
	err = req->err ? req->err : pg_ctl_call(pg_ctl_path(), req, timeout_ms, &ans->text,
						&ans->len);
	pg_buf_free(req);
	if (err)
		return err;
	status = strncmp(ans->text, "status=", 7) ? NULL : ans->text + 7;
	if (status && !strncmp(status, "ok\n", 3))
		return 0;
	error = strstr(ans->text, "\nerror=");
	if (error)
		pg_err("%s: %.*s", what, (int)strcspn(error + 7, "\n"), error + 7);
	else
		pg_err("%s: the daemon sent a malformed answer", what);
	free(ans->text);
	ans->text = NULL;
	return -EPROTO;
}

static void answer_free(struct answer *ans)
{
	if (ans->text) {
		sodium_memzero(ans->text, ans->len);
		free(ans->text);
	}
}

/* The value of key in the first record of an answer, copied; NULL if absent. */
static const char *answer_get(const struct answer *ans, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *p = ans->text;

	while (p && *p && *p != '\n') {
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			snprintf(buf, len, "%.*s", (int)strcspn(p + klen + 1, "\n"), p + klen + 1);
			return buf;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return NULL;
}

/* "90", "90s", "10m", "2h", "1d" to seconds. */
static int parse_duration(const char *s, unsigned long long *secs)
{
	unsigned long long mult = 1, v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || (*end && end[1]))
		return -EINVAL;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		return -EINVAL;
	}
	if (v > 30ULL * 86400 / mult)
		return -EINVAL;
	*secs = v * mult;
	return 0;
}

/* ---- invite and join ---- */

int pg_cmd_invite(int argc, char **argv)
{
	struct pg_buf req = {};
	struct answer ans;
	unsigned long long ttl;
	char token[512];
	int i;

	pg_buf_printf(&req, "cmd=invite\n");
	for (i = 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			goto usage;
		if (strchr(argv[i + 1], '\n'))
			goto usage;
		if (!strcmp(argv[i], "--endpoint")) {
			pg_buf_printf(&req, "endpoint=%s\n", argv[i + 1]);
		} else if (!strcmp(argv[i], "--ttl")) {
			if (parse_duration(argv[i + 1], &ttl) || !ttl) {
				pg_err("invite: invalid --ttl `%s'; use e.g. 90s, 10m, 2h, 1d "
				       "(at most 30d)", argv[i + 1]);
				pg_buf_free(&req);
				return 1;
			}
			pg_buf_printf(&req, "ttl=%llu\n", ttl);
		} else if (!strcmp(argv[i], "--uses")) {
			pg_buf_printf(&req, "uses=%s\n", argv[i + 1]);
		} else if (!strcmp(argv[i], "--name")) {
			pg_buf_printf(&req, "name=%s\n", argv[i + 1]);
		} else {
			goto usage;
		}
	}
	if (call("invite", &req, CALL_TIMEOUT_MS, &ans))
		return 1;
	if (!answer_get(&ans, "token", token, sizeof(token))) {
		pg_err("invite: the daemon sent no token");
		answer_free(&ans);
		return 1;
	}
	printf("%s\n", token);
	sodium_memzero(token, sizeof(token));
	answer_free(&ans);
	return 0;
usage:
	pg_buf_free(&req);
	pg_err("usage: pairgate invite [--endpoint ADDR[:PORT]] [--ttl 10m] [--uses 1] "
	       "[--name NAME]");
	return 1;
}

int pg_cmd_join(int argc, char **argv)
{
	struct pg_buf req = {};
	struct pg_token tok;
	struct answer ans;
	const char *why;
	char name[64];
	bool expired;

	if ((argc != 2 && argc != 4) || (argc == 4 && strcmp(argv[2], "--name")) ||
	    strchr(argv[1], '\n') || (argc == 4 && strchr(argv[3], '\n'))) {
		pg_err("usage: pairgate join TOKEN [--name NAME]");
		return 1;
	}
	/* a mistyped or altered token is refused here, daemon or not */
	if (pg_token_parse(argv[1], strlen(argv[1]), &tok, &why)) {
		pg_err("invalid invite token: %s; ask for a new one with pairgate invite", why);
		return 1;
	}
	expired = tok.expires < (uint64_t)time(NULL);
	pg_token_wipe(&tok);
	if (expired) {
		pg_err("invite token expired; ask for a new one with pairgate invite");
		return 1;
	}

	pg_buf_printf(&req, "cmd=join\ntoken=%s\n", argv[1]);
	if (argc == 4)
		pg_buf_printf(&req, "name=%s\n", argv[3]);
	if (call("join", &req, JOIN_TIMEOUT_MS, &ans))
		return 1;
	printf("pairgate: paired with %s\n",
	       answer_get(&ans, "peer", name, sizeof(name)) ? name : "the inviting host");
	answer_free(&ans);
	return 0;
}

/* ---- static peers ---- */

static int peer_add(int argc, char **argv)
{
	struct pg_buf req = {};
	struct answer ans;
	bool allow = false;
	int i;

	if (argc < 5 || strcmp(argv[3], "pubkey"))
		goto usage;
	pg_buf_printf(&req, "cmd=peer_add\nname=%s\npublic_key=%s\n", argv[2], argv[4]);
	for (i = 5; i < argc; i++) {
		if (strchr(argv[i], '\n'))
			goto usage;
		if (!strcmp(argv[i], "endpoint") && i + 1 < argc && !allow) {
			pg_buf_printf(&req, "endpoint=%s\n", argv[++i]);
		} else if (!strcmp(argv[i], "allow") && i + 1 < argc) {
			allow = true;
		} else if (allow) {
			pg_buf_printf(&req, "allow=%s\n", argv[i]);
		} else {
			goto usage;
		}
	}
	if (allow && !strcmp(argv[argc - 1], "allow"))
		goto usage;
	if (strchr(argv[2], '\n') || strchr(argv[4], '\n'))
		goto usage;
	if (call("peer add", &req, CALL_TIMEOUT_MS, &ans))
		return 1;
	answer_free(&ans);
	return 0;
usage:
	pg_buf_free(&req);
	pg_err("usage: pairgate peer add NAME pubkey KEY [endpoint ADDR[:PORT]] "
	       "[allow PREFIX ...]");
	return 1;
}

static int peer_del(int argc, char **argv)
{
	struct pg_buf req = {};
	struct answer ans;

	if (argc != 3 || strchr(argv[2], '\n')) {
		pg_err("usage: pairgate peer del NAME");
		return 1;
	}
	pg_buf_printf(&req, "cmd=peer_del\nname=%s\n", argv[2]);
	if (call("peer del", &req, CALL_TIMEOUT_MS, &ans))
		return 1;
	answer_free(&ans);
	return 0;
}

int pg_cmd_peer(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "add"))
		return peer_add(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "del"))
		return peer_del(argc, argv);
	pg_err("usage: pairgate peer add NAME pubkey KEY [endpoint ADDR[:PORT]] "
	       "[allow PREFIX ...] | pairgate peer del NAME");
	return 1;
}

int pg_cmd_rekey(int argc, char **argv)
{
	struct pg_buf req = {};
	struct answer ans;

	if (argc > 2 || (argc == 2 && strchr(argv[1], '\n'))) {
		pg_err("usage: pairgate rekey [NAME]");
		return 1;
	}
	pg_buf_printf(&req, "cmd=rekey\n");
	if (argc == 2)
		pg_buf_printf(&req, "name=%s\n", argv[1]);
	if (call("rekey", &req, CALL_TIMEOUT_MS, &ans))
		return 1;
	answer_free(&ans);
	return 0;
}

/* ---- show and peers ---- */

#define FIELDS_MAX	32

struct record {
	const char *key[FIELDS_MAX];
	const char *val[FIELDS_MAX];
	unsigned int n;
};

/* Splits the answer in place into records (the first is the daemon's own). */
static unsigned int split_records(char *text, struct record *recs, unsigned int max)
{
	unsigned int n = 0;
	char *line, *eq;
	bool fresh = true;

	memset(recs, 0, max * sizeof(*recs));
	for (char *p = text; p && *p && n < max; ) {
		line = p;
		p = strchr(p, '\n');
		if (p)
			*p++ = '\0';
		if (!*line) {
			fresh = true;
			continue;
		}
		if (fresh && recs[n].n)
			n++;
		fresh = false;
		eq = strchr(line, '=');
		if (!eq || n >= max || recs[n].n == FIELDS_MAX)
			continue;
		*eq = '\0';
		recs[n].key[recs[n].n] = line;
		recs[n].val[recs[n].n++] = eq + 1;
	}
	return n < max && recs[n].n ? n + 1 : n;
}

static const char *rec_get(const struct record *r, const char *key)
{
	unsigned int i;

	for (i = 0; i < r->n; i++)
		if (!strcmp(r->key[i], key))
			return r->val[i];
	return NULL;
}

static const char *rec_or(const struct record *r, const char *key, const char *def)
{
	const char *v = rec_get(r, key);

	return v ? v : def;
}

static int fetch(const char *cmd, struct answer *ans, struct record **recs, unsigned int *n)
{
	struct pg_buf req = {};

	pg_buf_printf(&req, "cmd=%s\n", cmd);
	if (call(cmd, &req, CALL_TIMEOUT_MS, ans))
		return -1;
	*recs = calloc(PG_MAX_PEERS + 1, sizeof(**recs));
	if (!*recs) {
		answer_free(ans);
		return -1;
	}
	*n = split_records(ans->text, *recs, PG_MAX_PEERS + 1);
	return 0;
}

static void print_ago(unsigned long long t)
{
	unsigned long long now = time(NULL), ago = now > t ? now - t : 0;

	if (!t)
		printf("  latest handshake: (none)\n");
	else if (ago < 120)
		printf("  latest handshake: %llu seconds ago\n", ago);
	else
		printf("  latest handshake: %llu minutes, %llu seconds ago\n", ago / 60, ago % 60);
}

static void print_bytes(unsigned long long b, const char *what)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	printf(u ? "%.2f %s %s" : "%.0f %s %s", v, units[u], what);
}

static void show_peer(const struct record *r)
{
	unsigned int i;
	bool first = true;

	printf("\npeer: %s\n  public key: %s\n", rec_or(r, "peer", "?"),
	       rec_or(r, "public_key", "?"));
	if (rec_get(r, "endpoint"))
		printf("  endpoint: %s\n", rec_get(r, "endpoint"));
	for (i = 0; i < r->n; i++) {
		if (strcmp(r->key[i], "allow"))
			continue;
		printf(first ? "  allowed prefixes: %s" : ", %s", r->val[i]);
		first = false;
	}
	if (!first)
		printf("\n");
	printf("  state: %s\n", rec_or(r, "state", "?"));
	print_ago(strtoull(rec_or(r, "latest_handshake", "0"), NULL, 10));
	printf("  spi: in %s, out %s\n", rec_or(r, "in_spi", "-"), rec_or(r, "out_spi", "-"));
	printf("  transfer: ");
	print_bytes(strtoull(rec_or(r, "rx_bytes", "0"), NULL, 10), "received, ");
	print_bytes(strtoull(rec_or(r, "tx_bytes", "0"), NULL, 10), "sent\n");
}

int pg_cmd_show(int argc, char **argv)
{
	struct record *recs;
	struct answer ans;
	unsigned int n, i;

	if (argc != 1) {
		pg_err("usage: pairgate show");
		return 1;
	}
	if (fetch("show", &ans, &recs, &n))
		return 1;
	for (i = 0; n && i < recs[0].n; i++)
		if (!strcmp(recs[0].key[i], "interface"))
			printf("interface: %s\n", recs[0].val[i]);
	printf("  public key: %s\n  listening port: %s\n", rec_or(&recs[0], "public_key", "?"),
	       rec_or(&recs[0], "port", "?"));
	for (i = 1; i < n; i++)
		show_peer(&recs[i]);
	free(recs);
	answer_free(&ans);
	return 0;
}

/* Values we print come from the daemon's checked state: no quoting needed but ". */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static void peer_json(const struct record *r)
{
	static const char *const nums[] = { "latest_handshake", "rx_packets", "rx_bytes",
					    "tx_packets", "tx_bytes" };
	static const char *const strs[] = { "public_key", "endpoint", "state", "in_spi",
					    "out_spi" };
	unsigned int i;
	bool first = true;

	printf("{\"name\":");
	json_str(rec_or(r, "peer", ""));
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		printf(",\"%s\":", strs[i]);
		if (rec_get(r, strs[i]))
			json_str(rec_get(r, strs[i]));
		else
			printf("null");
	}
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		printf(",\"%s\":%llu", nums[i], strtoull(rec_or(r, nums[i], "0"), NULL, 10));
	printf(",\"allow\":[");
	for (i = 0; i < r->n; i++) {
		if (strcmp(r->key[i], "allow"))
			continue;
		printf(first ? "" : ",");
		json_str(r->val[i]);
		first = false;
	}
	printf("]}");
}

int pg_cmd_peers(int argc, char **argv)
{
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	struct record *recs;
	struct answer ans;
	unsigned int n, i;

	if (argc > 2 || (argc == 2 && !json)) {
		pg_err("usage: pairgate peers [--json]");
		return 1;
	}
	if (fetch("peers", &ans, &recs, &n))
		return 1;
	if (json)
		printf("[");
	for (i = 1; i < n; i++) {
		if (json) {
			printf(i > 1 ? "," : "");
			peer_json(&recs[i]);
		} else {
			printf("%s\t%s\t%s\t%s\n", rec_or(&recs[i], "peer", "?"),
			       rec_or(&recs[i], "public_key", "?"),
			       rec_or(&recs[i], "endpoint", "(none)"),
			       rec_or(&recs[i], "state", "?"));
		}
	}
	if (json)
		printf("]\n");
	free(recs);
	answer_free(&ans);
	return 0;
}
