/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-interface state in bpffs: $PAIRGATE_BPFFS/pairgate/IFACE/ holds every
 * map pinned by name. The directory is also the lock: mutating commands hold
 * an exclusive flock on it for their whole run.
 */
#ifndef PG_PINS_H
#define PG_PINS_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>

#include "pairgate.h"

#define PG_BPFFS_DEFAULT	"/sys/fs/bpf"
/* Room for "/<map name>" after the state directory in a PATH_MAX path. */
#define PG_STATE_DIR_MAX	(PATH_MAX - 64)

struct bpf_object;

enum pg_map {
	PG_MAP_SA_IN,
	PG_MAP_SA_OUT,
	PG_MAP_SA_STATS,
	PG_MAP_STATS,
	PG_MAP_ALLOW,
	PG_MAP_ALLOW_HINT,
	PG_MAP_CONFIG,		/* last: pg_state_open() opens it first */
	PG_MAP_NR,
};

extern const char *const pg_map_names[PG_MAP_NR];

struct pg_state {
	char ifname[IFNAMSIZ];
	char dir[PG_STATE_DIR_MAX];	/* $PAIRGATE_BPFFS/pairgate/IFACE */
	int lock_fd;		/* the directory, flocked; -1 when not held */
	int fd[PG_MAP_NR];	/* pinned maps; -1 when not open */
};

const char *pg_bpffs(void);
int pg_bpffs_check(void);

void pg_state_init(struct pg_state *st, const char *ifname);
/* Takes the interface's lock; with create, makes the directory first. */
int pg_state_lock(struct pg_state *st, bool create);
bool pg_state_exists(const struct pg_state *st);
/* Whether the directory holds no pins (a missing directory counts as empty). */
bool pg_state_empty(const struct pg_state *st);
/* Opens every pinned map; prints "not attached" or "incomplete" on failure. */
int pg_state_open(struct pg_state *st);
int pg_state_config(const struct pg_state *st, struct pg_config *cfg);
/* Pins every (non-internal) map of obj by name; all or nothing. */
int pg_state_pin(struct pg_state *st, struct bpf_object *obj);
/* Removes every pin and the directory (and pairgate/ when empty). */
int pg_state_remove(struct pg_state *st);
void pg_state_close(struct pg_state *st);

/* Per-CPU counters: sum of one slot, and zeroing one slot. */
int pg_counter_sum(int fd, __u32 idx, struct pg_counter *sum);
int pg_counter_zero(int fd, __u32 idx);

#endif /* PG_PINS_H */
