/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The control socket between the pairgate CLI and pairgated: a root-only
 * UNIX stream socket, one request per connection. The client writes
 * key=value lines ("cmd=..." first) and shuts its side down; the daemon
 * answers with "status=ok" or "status=error" and "error=<one line>", then
 * more key=value lines (records separated by blank lines), and closes.
 */
#ifndef PG_CTL_H
#define PG_CTL_H

#include <stddef.h>

#include "kvfile.h"

#define PG_SOCKET_DEFAULT	"/run/pairgate/pairgated.sock"
#define PG_CTL_REQ_MAX		8192
#define PG_CTL_RESP_MAX		(1 << 20)
#define PG_CTL_FIELDS_MAX	40

struct pg_ctl_field {
	const char *key;
	const char *val;
};

/* A parsed request: pointers into a private copy of the text. */
struct pg_ctl_req {
	char *text;
	struct pg_ctl_field f[PG_CTL_FIELDS_MAX];
	unsigned int n;
};

/* $PAIRGATE_SOCKET, or the default. */
const char *pg_ctl_path(void);

/* One record; "cmd" must be the first key. -EINVAL with *why on bad input. */
int pg_ctl_parse(const char *buf, size_t len, struct pg_ctl_req *req, const char **why);
void pg_ctl_free(struct pg_ctl_req *req);
/* The first value of key, or NULL; pg_ctl_next walks repeated keys from *i. */
const char *pg_ctl_get(const struct pg_ctl_req *req, const char *key);
const char *pg_ctl_next(const struct pg_ctl_req *req, const char *key, unsigned int *i);

/*
 * Client: sends req to the daemon at path and reads its whole answer into
 * *resp (malloc'd, NUL-terminated), waiting up to timeout_ms. Prints a
 * one-line error itself (daemon not running, permission denied, ...).
 */
int pg_ctl_call(const char *path, const struct pg_buf *req, int timeout_ms, char **resp,
		size_t *len);

#endif /* PG_CTL_H */
