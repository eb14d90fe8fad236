// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness: arbitrary bytes as pairgated's state files (peers,
 * invites, private key). The first byte picks the file and whether the
 * harness appends a valid checksum, so the fuzzer gets past the checksum
 * to the record parsers. Whatever parses must format and parse again to
 * the same records.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvfile.h"
#include "pairstate.h"

static void peers(const char *buf, size_t len)
{
	struct pg_peer_conf *p = NULL, *q = NULL;
	struct pg_buf b = {};
	const char *why;
	size_t n, m;
	int line;

	if (pg_peers_parse(buf, len, &p, &n, &line, &why))
		return;
	pg_peers_format(&b, p, n);
	if (b.err || pg_peers_parse(b.p, b.len, &q, &m, &line, &why) || m != n ||
	    (n && memcmp(p, q, n * sizeof(*p))))
		abort();
	free(p);
	free(q);
	pg_buf_free(&b);
}

static void invites(const char *buf, size_t len)
{
	struct pg_invite *p = NULL, *q = NULL;
	struct pg_buf b = {};
	const char *why;
	size_t n, m;
	int line;

	if (pg_invites_parse(buf, len, &p, &n, &line, &why))
		return;
	pg_invites_format(&b, p, n);
	if (b.err || pg_invites_parse(b.p, b.len, &q, &m, &line, &why) || m != n ||
	    (n && memcmp(p, q, n * sizeof(*p))))
		abort();
	free(p);
	free(q);
	pg_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_buf b = {};
	uint8_t key[32];
	int which;

	if (!size)
		return 0;
	which = data[0];
	pg_buf_printf(&b, "%.*s", (int)(size - 1), (const char *)data + 1);
	if (b.err || b.len != size - 1) {	/* embedded NUL: use the bytes as they are */
		pg_buf_free(&b);
		b.p = malloc(size);
		if (!b.p)
			return 0;
		memcpy(b.p, data + 1, size - 1);
		b.len = size - 1;
		b.cap = size;
	}
	if (which & 0x80)
		pg_buf_checksum(&b);
	if (!b.err) {
		if ((which & 3) == 0)
			peers(b.p, b.len);
		else if ((which & 3) == 1)
			invites(b.p, b.len);
		else
			pg_privkey_parse(b.p, b.len, key);
	}
	pg_buf_free(&b);
	return 0;
}
