// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "pins.h"

#define LOCK_TRIES	10

const char *const pg_map_names[PG_MAP_NR] = {
	[PG_MAP_SA_IN] = "pg_sa_in",
	[PG_MAP_SA_OUT] = "pg_sa_out",
	[PG_MAP_SA_STATS] = "pg_sa_stats",
	[PG_MAP_STATS] = "pg_stats",
	[PG_MAP_ALLOW] = "pg_allow",
	[PG_MAP_ALLOW_HINT] = "pg_allow_hint",
	[PG_MAP_CONFIG] = "pg_config",
};

const char *pg_bpffs(void)
{
	const char *v = getenv("PAIRGATE_BPFFS");

	return v && *v ? v : PG_BPFFS_DEFAULT;
}

int pg_bpffs_check(void)
{
	const char *root = pg_bpffs();
	struct statfs sfs;

	if (strlen(root) > PG_STATE_DIR_MAX - sizeof("/pairgate/") - IFNAMSIZ) {
		pg_err("PAIRGATE_BPFFS is too long; use a shorter path");
		return -ENAMETOOLONG;
	}
	if (statfs(root, &sfs) || sfs.f_type != BPF_FS_MAGIC) {
		pg_err("no bpffs mounted at %s; mount -t bpf bpf %s", root, root);
		return -ENOENT;
	}
	return 0;
}

void pg_state_init(struct pg_state *st, const char *ifname)
{
	int i;

	memset(st, 0, sizeof(*st));
	snprintf(st->ifname, sizeof(st->ifname), "%s", ifname);
	snprintf(st->dir, sizeof(st->dir), "%s/pairgate/%s", pg_bpffs(), ifname);
	st->lock_fd = -1;
	for (i = 0; i < PG_MAP_NR; i++)
		st->fd[i] = -1;
}

static int make_dirs(const struct pg_state *st)
{
	char parent[PATH_MAX];

	snprintf(parent, sizeof(parent), "%s/pairgate", pg_bpffs());
	if (mkdir(parent, 0700) && errno != EEXIST)
		return -errno;
	if (mkdir(st->dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Whether fd still is the directory at path (detach may have removed it). */
static bool same_dir(int fd, const char *path)
{
	struct stat a, b;

	return !fstat(fd, &a) && !stat(path, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int pg_state_lock(struct pg_state *st, bool create)
{
	int i, fd, err = 0;

	for (i = 0; i < LOCK_TRIES; i++) {
		if (create && (err = make_dirs(st)))
			break;
		fd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			if (err == -ENOENT && create)
				continue;
			return err;
		}
		if (flock(fd, LOCK_EX)) {
			err = -errno;
			close(fd);
			break;
		}
		if (same_dir(fd, st->dir)) {
			st->lock_fd = fd;
			return 0;
		}
		close(fd);
		err = -EAGAIN;
	}
	pg_err("locking %s: %s", st->dir, strerror(-err));
	return err;
}

bool pg_state_exists(const struct pg_state *st)
{
	struct stat sb;

	return !stat(st->dir, &sb);
}

bool pg_state_empty(const struct pg_state *st)
{
	struct dirent *de;
	bool empty = true;
	DIR *d;

	d = opendir(st->dir);
	if (!d)
		return true;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

static void pin_path(const struct pg_state *st, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", st->dir, name);
}

int pg_state_open(struct pg_state *st)
{
	char path[PATH_MAX];
	int i, err;

	for (i = PG_MAP_NR - 1; i >= 0; i--) {	/* pg_config first: it marks "attached" */
		pin_path(st, pg_map_names[i], path, sizeof(path));
		st->fd[i] = bpf_obj_get(path);
		if (st->fd[i] >= 0)
			continue;
		err = -errno;
		if (i == PG_MAP_CONFIG && err == -ENOENT && !pg_state_exists(st))
			pg_err("%s is not attached; run pairgate attach %s first", st->ifname,
			       st->ifname);
		else
			pg_err("opening %s: %s; the pinned state of %s is incomplete, "
			       "run pairgate detach %s and attach again", path, strerror(-err),
			       st->ifname, st->ifname);
		return err;
	}
	return 0;
}

int pg_state_config(const struct pg_state *st, struct pg_config *cfg)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(st->fd[PG_MAP_CONFIG], &zero, cfg)) {
		pg_err("reading pg_config of %s: %s", st->ifname, strerror(errno));
		return -errno;
	}
	return 0;
}

static void unpin_maps(struct bpf_object *obj, const struct pg_state *st)
{
	char path[PATH_MAX];
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		if (bpf_map__is_internal(map))
			continue;
		pin_path(st, bpf_map__name(map), path, sizeof(path));
		unlink(path);
	}
}

int pg_state_pin(struct pg_state *st, struct bpf_object *obj)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	bpf_object__for_each_map(map, obj) {
		if (bpf_map__is_internal(map))
			continue;
		pin_path(st, bpf_map__name(map), path, sizeof(path));
		err = bpf_map__pin(map, path);
		if (err) {
			pg_err("pinning map at %s: %s", path, strerror(-err));
			unpin_maps(obj, st);
			return err;
		}
	}
	return 0;
}

static int unpin_all(const struct pg_state *st)
{
	struct dirent *de;
	int err = 0;
	DIR *d;

	d = opendir(st->dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) && !err) {
			err = -errno;
			pg_err("removing pin %s/%s: %s", st->dir, de->d_name, strerror(-err));
		}
	}
	closedir(d);
	return err;
}

int pg_state_remove(struct pg_state *st)
{
	char parent[PATH_MAX];
	int err;

	err = unpin_all(st);
	if (err)
		return err;
	if (rmdir(st->dir) && errno != ENOENT) {
		err = -errno;
		pg_err("removing %s: %s", st->dir, strerror(-err));
		return err;
	}
	snprintf(parent, sizeof(parent), "%s/pairgate", pg_bpffs());
	rmdir(parent);		/* fails, as it should, while other interfaces are attached */
	return 0;
}

void pg_state_close(struct pg_state *st)
{
	int i;

	for (i = 0; i < PG_MAP_NR; i++) {
		if (st->fd[i] >= 0)
			close(st->fd[i]);
		st->fd[i] = -1;
	}
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	st->lock_fd = -1;
}

static size_t percpu_size(void)
{
	int ncpu = libbpf_num_possible_cpus();

	return ncpu > 0 ? ncpu * sizeof(struct pg_counter) : 0;
}

int pg_counter_sum(int fd, __u32 idx, struct pg_counter *sum)
{
	size_t i, size = percpu_size();
	struct pg_counter *vals;
	int err = 0;

	memset(sum, 0, sizeof(*sum));
	vals = size ? calloc(1, size) : NULL;
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &idx, vals)) {
		err = -errno;
		pg_err("reading counters (slot %u): %s", idx, strerror(-err));
		goto out;
	}
	for (i = 0; i < size / sizeof(*vals); i++) {
		sum->packets += vals[i].packets;
		sum->bytes += vals[i].bytes;
	}
out:
	free(vals);
	return err;
}

int pg_counter_zero(int fd, __u32 idx)
{
	size_t size = percpu_size();
	void *zeros;
	int err = 0;

	zeros = size ? calloc(1, size) : NULL;
	if (!zeros)
		return -ENOMEM;
	if (bpf_map_update_elem(fd, &idx, zeros, BPF_ANY)) {
		err = -errno;
		pg_err("zeroing counters (slot %u): %s", idx, strerror(-err));
	}
	free(zeros);
	return err;
}
