// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"

const char *pg_ctl_path(void)
{
	const char *v = getenv("PAIRGATE_SOCKET");

	return v && *v ? v : PG_SOCKET_DEFAULT;
}

static int req_field(void *arg, const char *key, const char *val, const char **why)
{
	struct pg_ctl_req *req = arg;

	if (!key) {
		*why = "more than one record";
		return req->n ? -EINVAL : 0;
	}
	if (!req->n && strcmp(key, "cmd")) {
		*why = "the first line must be cmd=...";
		return -EINVAL;
	}
	if (req->n == PG_CTL_FIELDS_MAX) {
		*why = "too many lines";
		return -EINVAL;
	}
	req->f[req->n].key = key;
	req->f[req->n].val = val;
	req->n++;
	return 0;
}

/*
 * pg_kv_parse hands out pointers into its own copy, which it frees; so the
 * callback above sees them only during the parse. Parse a private copy in
 * place instead: every line is checked by pg_kv_parse first, then split.
 */
static int check_only(void *arg, const char *key, const char *val, const char **why)
{
	unsigned int *records = arg;

	if (!key && ++*records > 1) {
		*why = "more than one record";
		return -EINVAL;
	}
	return 0;
}

int pg_ctl_parse(const char *buf, size_t len, struct pg_ctl_req *req, const char **why)
{
	unsigned int records = 0;
	char *p, *nl, *eq;
	int line, err;

	memset(req, 0, sizeof(*req));
	if (len > PG_CTL_REQ_MAX) {
		*why = "request too long";
		return -EINVAL;
	}
	err = pg_kv_parse(buf, len, 0, check_only, &records, &line, why);
	if (err)
		return err;
	req->text = malloc(len + 1);
	if (!req->text)
		return -ENOMEM;
	memcpy(req->text, buf, len);
	req->text[len] = '\0';
	for (p = req->text; *p && !err; p = nl + 1) {
		nl = strchr(p, '\n');	/* pg_kv_parse checked: every line ends in one */
		*nl = '\0';
		if (!*p || *p == '#')
			continue;
		eq = strchr(p, '=');
		*eq = '\0';
		err = req_field(req, p, eq + 1, why);
	}
	if (!err && !req->n) {
		*why = "empty request";
		err = -EINVAL;
	}
	if (err)
		pg_ctl_free(req);
	return err;
}

void pg_ctl_free(struct pg_ctl_req *req)
{
	if (req->text) {
		explicit_bzero(req->text, strlen(req->text));
		free(req->text);
	}
	memset(req, 0, sizeof(*req));
}

const char *pg_ctl_next(const struct pg_ctl_req *req, const char *key, unsigned int *i)
{
	for (; *i < req->n; ++*i)
		if (!strcmp(req->f[*i].key, key))
			return req->f[(*i)++].val;
	return NULL;
}

const char *pg_ctl_get(const struct pg_ctl_req *req, const char *key)
{
	unsigned int i = 0;

	return pg_ctl_next(req, key, &i);
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		pg_err("control socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
		return fd;
	err = -errno;
	close(fd);
	if (err == -ENOENT || err == -ECONNREFUSED)
		pg_err("cannot reach pairgated at %s: is it running? "
		       "(set PAIRGATE_SOCKET if it uses another socket)", path);
	else if (err == -EACCES || err == -EPERM)
		pg_err("cannot reach pairgated at %s: permission denied; run as root", path);
	else
		pg_err("connecting to pairgated at %s: %s", path, strerror(-err));
	return err;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int read_answer(int fd, int timeout_ms, struct pg_buf *out)
{
	long long deadline = now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char chunk[4096];
	ssize_t n;
	int left;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0 || poll(&pfd, 1, left) == 0)
			return -ETIMEDOUT;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return out->err;
		if (out->len + n > PG_CTL_RESP_MAX)
			return -EFBIG;
		pg_buf_printf(out, "%.*s", (int)n, chunk);
	}
}

int pg_ctl_call(const char *path, const struct pg_buf *req, int timeout_ms, char **resp,
		size_t *len)
{
	struct pg_buf out = {};
	size_t off = 0;
	ssize_t n;
	int fd, err = 0;

	fd = ctl_connect(path);
	if (fd < 0)
		return fd;
	while (!err && off < req->len) {
		n = send(fd, req->p + off, req->len - off, MSG_NOSIGNAL);
		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0)
			off += n;
	}
	if (!err)
		shutdown(fd, SHUT_WR);
	if (!err)
		err = read_answer(fd, timeout_ms, &out);
	close(fd);
	if (err) {
		pg_err("talking to pairgated at %s: %s", path,
		       err == -ETIMEDOUT ? "no answer in time" : strerror(-err));
		pg_buf_free(&out);
		return err;
	}
	pg_buf_printf(&out, "%s", "");
	*resp = out.p;
	*len = out.len;
	return out.err;
}
