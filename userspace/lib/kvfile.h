/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The text format of pairgated's state files and control messages: lines of
 * key=value, blank lines between records. State files end with a line
 * "checksum=<32 hex digits>", BLAKE2b-128 of every byte before that line, so
 * a torn or edited file is detected instead of half-read. The parser is
 * strict: anything it does not expect is an error naming the line.
 *
 * Writes are atomic: a temporary file in the same directory, fsync, rename,
 * fsync of the directory. A reader sees the old file or the new one, never a
 * mix, whenever the machine stops.
 */
#ifndef PG_KVFILE_H
#define PG_KVFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PG_KV_KEY_MAX		32
#define PG_KV_LINE_MAX		1024
#define PG_KV_FILE_MAX		(1 << 20)
#define PG_KV_CHECKSUM_LEN	32	/* hex digits */

/* Parser flags. */
#define PG_KV_CHECKSUM		0x1	/* the last line must be a valid checksum */

/*
 * Called per key=value line; key is NULL at the end of each record (a blank
 * line or the end of input after a record). Returns 0 or a negative errno,
 * which stops the parse; it may set *why to say what was wrong.
 */
typedef int (*pg_kv_fn)(void *arg, const char *key, const char *val, const char **why);

/*
 * Parses len bytes of buf. On failure returns -EINVAL (or the callback's
 * error) with *line the 1-based line at fault (0: the file as a whole) and
 * *why a constant description.
 */
int pg_kv_parse(const char *buf, size_t len, unsigned int flags, pg_kv_fn fn, void *arg,
		int *line, const char **why);

/* A growing text buffer; on allocation failure it stays failed (err set). */
struct pg_buf {
	char *p;
	size_t len, cap;
	int err;
};

void pg_buf_printf(struct pg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "checksum=..." for everything in b so far. */
void pg_buf_checksum(struct pg_buf *b);
void pg_buf_free(struct pg_buf *b);

/* Whether s may be a value: printable ASCII (spaces allowed, no newline). */
bool pg_kv_value_ok(const char *s);

/*
 * Writes data to dir/name atomically with mode. Returns 0 or a negative
 * errno; *what names the step that failed.
 */
int pg_file_write_atomic(const char *dir, const char *name, const void *data, size_t len,
			 mode_t mode, const char **what);

/*
 * Reads dir/name whole (at most PG_KV_FILE_MAX bytes) into a malloc'd,
 * NUL-terminated buffer. -ENOENT if it does not exist; -EFBIG if too big.
 */
int pg_file_read(const char *dir, const char *name, char **data, size_t *len);

#endif /* PG_KVFILE_H */
