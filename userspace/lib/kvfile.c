// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "kvfile.h"

#define CHECKSUM_KEY	"checksum"

bool pg_kv_value_ok(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static bool key_ok(const char *s, size_t n)
{
	size_t i;

	if (!n || n > PG_KV_KEY_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static void checksum_hex(char out[PG_KV_CHECKSUM_LEN + 1], const char *buf, size_t len)
{
	uint8_t h[PG_KV_CHECKSUM_LEN / 2];

	crypto_generichash(h, sizeof(h), (const uint8_t *)buf, len, NULL, 0);
	sodium_bin2hex(out, PG_KV_CHECKSUM_LEN + 1, h, sizeof(h));
}

/* Checks the final checksum line; *body_len becomes the length before it. */
static int check_sum(const char *buf, size_t len, size_t *body_len, int *line, const char **why)
{
	static const char key[] = CHECKSUM_KEY "=";
	char want[PG_KV_CHECKSUM_LEN + 1];
	size_t start, i;

	*line = 0;
	if (len < sizeof(key) + PG_KV_CHECKSUM_LEN || buf[len - 1] != '\n') {
		*why = "truncated: no checksum line at the end";
		return -EINVAL;
	}
	start = len - 1 - PG_KV_CHECKSUM_LEN - (sizeof(key) - 1);
	if ((start && buf[start - 1] != '\n') || memcmp(buf + start, key, sizeof(key) - 1)) {
		*why = "truncated: no checksum line at the end";
		return -EINVAL;
	}
	checksum_hex(want, buf, start);
	for (i = 0; i < PG_KV_CHECKSUM_LEN; i++)
		if (buf[start + sizeof(key) - 1 + i] != want[i])
			break;
	if (i != PG_KV_CHECKSUM_LEN) {
		*why = "checksum mismatch: the file is corrupt or was edited by hand";
		return -EINVAL;
	}
	*body_len = start;
	return 0;
}

/* One line without its newline: a comment, blank (end of record) or key=value. */
static int parse_line(char *s, size_t n, bool *in_record, pg_kv_fn fn, void *arg,
		      const char **why)
{
	char *eq;

	if (n && s[0] == '#')
		return 0;
	if (!n) {
		if (!*in_record)
			return 0;
		*in_record = false;
		return fn(arg, NULL, NULL, why);
	}
	if (n >= PG_KV_LINE_MAX) {
		*why = "line too long";
		return -EINVAL;
	}
	s[n] = '\0';
	eq = memchr(s, '=', n);
	if (!eq || !key_ok(s, eq - s)) {
		*why = "expected key=value with a lowercase key";
		return -EINVAL;
	}
	*eq = '\0';
	if (!pg_kv_value_ok(eq + 1) || !strcmp(s, CHECKSUM_KEY)) {
		*why = !strcmp(s, CHECKSUM_KEY) ? "checksum line before the end" :
						  "value has control or non-ASCII characters";
		return -EINVAL;
	}
	*in_record = true;
	return fn(arg, s, eq + 1, why);
}

int pg_kv_parse(const char *buf, size_t len, unsigned int flags, pg_kv_fn fn, void *arg,
		int *line, const char **why)
{
	size_t body = len, pos = 0, n;
	bool in_record = false;
	char *copy, *nl;
	int err = 0;

	*line = 0;
	*why = "";
	if (len > PG_KV_FILE_MAX || memchr(buf, '\0', len)) {
		*why = len > PG_KV_FILE_MAX ? "too big" : "contains a NUL byte";
		return -EINVAL;
	}
	if (flags & PG_KV_CHECKSUM) {
		err = check_sum(buf, len, &body, line, why);
		if (err)
			return err;
	}
	if (body && buf[body - 1] != '\n') {
		*why = "truncated: the last line has no newline";
		return -EINVAL;
	}
	copy = malloc(body + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, body);
	while (!err && pos < body) {
		nl = memchr(copy + pos, '\n', body - pos);
		n = nl - (copy + pos);
		++*line;
		err = parse_line(copy + pos, n, &in_record, fn, arg, why);
		pos += n + 1;
	}
	if (!err && in_record)
		err = fn(arg, NULL, NULL, why);
	sodium_memzero(copy, body + 1);
	free(copy);
	return err;
}

static void buf_grow(struct pg_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	while (cap < need)
		cap *= 2;
	if (cap == b->cap)
		return;
	p = malloc(cap);
	if (!p) {
		b->err = -ENOMEM;
		return;
	}
	if (b->p) {
		memcpy(p, b->p, b->len);
		sodium_memzero(b->p, b->cap);	/* buffers may hold secrets */
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
}

void pg_buf_printf(struct pg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = -EINVAL;
		return;
	}
	buf_grow(b, b->len + n + 1);
	if (b->err)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

void pg_buf_checksum(struct pg_buf *b)
{
	char sum[PG_KV_CHECKSUM_LEN + 1];

	if (b->err)
		return;
	checksum_hex(sum, b->p ? b->p : "", b->len);
	pg_buf_printf(b, CHECKSUM_KEY "=%s\n", sum);
}

void pg_buf_free(struct pg_buf *b)
{
	if (b->p) {
		sodium_memzero(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

static int write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd, err = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

int pg_file_write_atomic(const char *dir, const char *name, const void *data, size_t len,
			 mode_t mode, const char **what)
{
	char tmp[4096], path[4096];
	int fd, err = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp)) {
		*what = "building the path";
		return -ENAMETOOLONG;
	}
	*what = "creating a temporary file";
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode)) {
		*what = "setting its mode";
		err = -errno;
	}
	if (!err && (err = write_all(fd, data, len)))
		*what = "writing";
	if (!err && fsync(fd)) {
		*what = "syncing";
		err = -errno;
	}
	close(fd);
	if (!err && rename(tmp, path)) {
		*what = "renaming it into place";
		err = -errno;
	}
	if (err) {
		unlink(tmp);
		return err;
	}
	err = sync_dir(dir);
	if (err)
		*what = "syncing the directory";
	return err;
}

int pg_file_read(const char *dir, const char *name, char **data, size_t *len)
{
	char path[4096], *p = NULL;
	struct stat sb;
	ssize_t n;
	size_t got = 0;
	int fd, err = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb)) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > PG_KV_FILE_MAX) {
		err = S_ISREG(sb.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	p = malloc(sb.st_size + 1);
	if (!p) {
		err = -ENOMEM;
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		n = read(fd, p + got, sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += n;
	}
	p[got] = '\0';
	*data = p;
	*len = got;
	p = NULL;
out:
	free(p);
	close(fd);
	return err;
}
