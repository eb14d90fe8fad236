/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Observability: flows, live rates, drop capture, Prometheus metrics and drop
 * logs, all read from the maps pinned under $PAIRGATE_BPFFS/pairgate/IFACE.
 *
 * The pg_cmd_* functions are subcommands of the CLI: argv[0] is the
 * subcommand's name, the return value 0 or 1, and every failure is one
 * "pairgate: ..." line on stderr. The rest is shared by observe*.c, the
 * daemon (drop log, metrics) and the tests (crafted snapshots).
 */
#ifndef PG_OBSERVE_H
#define PG_OBSERVE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "parse.h"
#include "pins.h"
#include "sa.h"

int pg_cmd_flows(int argc, char **argv);
int pg_cmd_top(int argc, char **argv);
int pg_cmd_drops(int argc, char **argv);
int pg_cmd_metrics(int argc, char **argv);

/* "verified", "bad_tag"...; "?" for a value out of range. */
const char *pg_verdict_name(__u32 verdict);
/* A drop reason by name; prints the valid names and returns -EINVAL if unknown. */
int pg_drop_reason_parse(const char *s, __u32 *verdict);

/* ---- reading the pins ---- */

struct pg_obs {
	struct pg_state st;	/* the six core maps */
	int flows_fd;		/* pg_flows */
	int srcs_fd;		/* pg_srcs */
	int cache_fd;		/* pg_flow_cache; -1 in objects without it */
};

int pg_obs_open(struct pg_obs *o, const char *ifname);
/* Opens one more pinned map of the interface by name; prints why not. */
int pg_obs_map(const struct pg_obs *o, const char *name);
void pg_obs_close(struct pg_obs *o);

/* Map entries with the per-CPU values folded: sums, earliest first, latest last. */
struct pg_flow_entry {
	struct pg_flow_key key;
	struct pg_flow val;
};

struct pg_src_entry {
	struct pg_src_key key;
	struct pg_src val;
};

struct pg_snap {
	__u64 mono_ns;			/* CLOCK_MONOTONIC when it was read */
	struct pg_counter verdict[PG_V_MAX];
	struct pg_flow_entry *flows;
	size_t n_flows;
	struct pg_src_entry *srcs;
	size_t n_srcs;
	struct pg_sa_info *sas;
	size_t n_sas;
};

__u64 pg_mono_ns(void);
int pg_flows_read(int fd, struct pg_flow_entry **flows, size_t *n);
int pg_srcs_read(int fd, struct pg_src_entry **srcs, size_t *n);
/* Adds the per-CPU flows pg_flow_cache holds, not yet folded into pg_flows. */
int pg_flows_add_cache(int fd, struct pg_flow_entry **flows, size_t *n);
int pg_snap_read(const struct pg_obs *o, struct pg_snap *s);
void pg_snap_free(struct pg_snap *s);

__u64 pg_flow_drops(const struct pg_flow *f);

/* ---- output of a snapshot, to any stream ---- */

enum pg_sort {
	PG_SORT_PKTS,
	PG_SORT_BYTES,
	PG_SORT_DROPS,
	PG_SORT_LAST,
};

void pg_flows_sort(struct pg_snap *s, enum pg_sort by);
void pg_flows_print(FILE *f, const struct pg_snap *s, size_t limit, const char *by);
void pg_flows_json(FILE *f, const struct pg_snap *s, size_t limit);
void pg_metrics_write(FILE *f, const char *ifname, const struct pg_snap *s);

/* ---- pcapng: one comment per packet, which libpcap and Wireshark read ---- */

int pg_pcapng_begin(FILE *f, const char *ifname, __u32 snaplen);
/* ts_ns is wall-clock time (CLOCK_REALTIME) in ns. */
int pg_pcapng_packet(FILE *f, __u64 ts_ns, const void *data, __u32 cap_len, __u32 pkt_len,
		     const char *comment);

/* ---- drop log: key=value summaries of pg_srcs' growth, for a SIEM ---- */

struct pg_droplog;

/* At most max_lines lines per interval (the top counts); the rest as one summary. */
struct pg_droplog *pg_droplog_new(const char *ifname, unsigned int max_lines, FILE *out);
/*
 * Logs the growth since the last call; the first call only takes the baseline.
 * feed takes entries read by the caller at mono_ns; tick reads pg_srcs itself.
 */
int pg_droplog_feed(struct pg_droplog *dl, const struct pg_src_entry *srcs, size_t n,
		    __u64 mono_ns);
int pg_droplog_tick(struct pg_droplog *dl, int srcs_fd);
void pg_droplog_free(struct pg_droplog *dl);

/* ---- helpers shared by observe*.c ---- */

extern volatile sig_atomic_t pg_obs_stop;
/* SIGINT, SIGTERM and SIGHUP set pg_obs_stop and interrupt poll() and sleeps. */
void pg_obs_catch_signals(void);

int pg_obs_uint(const char *opt, const char *s, unsigned long min, unsigned long max,
		unsigned long *val);

const char *pg_obs_proto(__u8 proto, char *buf, size_t len);
/* The first len bytes of addr (4 or 16) as text. */
const char *pg_obs_addr(__u8 family, const __u8 *addr, char *buf, size_t len);
/* 12s, 3m04s, 2h05m, 3d04h */
const char *pg_obs_dur(__u64 ns, char *buf, size_t len);
/* 2026-12-03T17:00:00Z, from wall-clock ns; with usec, .123456 before the Z. */
const char *pg_obs_time(__u64 wall_ns, bool usec, char *buf, size_t len);
__u64 pg_wall_ns(void);

#endif /* PG_OBSERVE_H */
