// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pairgate metrics: Prometheus text exposition (format 0.0.4) of the verdict
 * and per-SA counters and of the flow tables' sizes, on stdout or kept
 * current in a file for node_exporter's textfile collector (written to a
 * temporary file in the same directory and renamed over, so a scrape never
 * sees half a file).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "observe.h"
#include "parse.h"

#define NS_PER_SEC		1000000000ULL
#define DEFAULT_INTERVAL	15

struct metrics_args {
	const char *ifname;
	const char *file;
	unsigned long interval;
	unsigned long iterations;	/* 0: until a signal */
};

/* A label value, escaped as the exposition format wants: \\, \" and \n. */
static void label_value(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{interface="IF" then the caller's labels, then the value. */
static void sample_begin(FILE *f, const char *name, const char *ifname)
{
	fprintf(f, "%s{interface=", name);
	label_value(f, ifname);
}

static void verdict_metric(FILE *f, const char *ifname, const struct pg_snap *s, bool bytes)
{
	const char *name = bytes ? "pairgate_bytes_total" : "pairgate_packets_total";
	__u32 v;

	head(f, name, "counter", bytes ? "Bytes of the packets counted in pairgate_packets_total." :
	     "Packets seen by the pairgate programs, by verdict (drop reasons included).");
	for (v = 0; v < PG_V_MAX; v++) {
		sample_begin(f, name, ifname);
		fprintf(f, ",verdict=\"%s\"} %llu\n", pg_verdict_name(v),
			(unsigned long long)(bytes ? s->verdict[v].bytes : s->verdict[v].packets));
	}
}

static void sa_metric(FILE *f, const char *ifname, const struct pg_snap *s, bool bytes)
{
	const char *name = bytes ? "pairgate_sa_bytes_total" : "pairgate_sa_packets_total";
	char peer[PG_ADDR_STRLEN];
	size_t i;

	head(f, name, "counter", bytes ? "Bytes through each security association." :
	     "Packets through each security association: verified in, tagged out.");
	for (i = 0; i < s->n_sas; i++) {
		const struct pg_sa_info *sa = &s->sas[i];

		sample_begin(f, name, ifname);
		fprintf(f, ",direction=\"%s\",spi=\"0x%08x\",peer=", sa->out ? "out" : "in",
			sa->spi);
		label_value(f, pg_addr_str(&sa->peer, peer, sizeof(peer)));
		fprintf(f, "} %llu\n",
			(unsigned long long)(bytes ? sa->cnt.bytes : sa->cnt.packets));
	}
}

static void gauges(FILE *f, const char *ifname, const struct pg_snap *s)
{
	size_t i, n_out = 0;

	head(f, "pairgate_flows", "gauge",
	     "Entries in the flow tables: paired flows and dropped unpaired sources.");
	sample_begin(f, "pairgate_flows", ifname);
	fprintf(f, ",kind=\"paired\"} %zu\n", s->n_flows);
	sample_begin(f, "pairgate_flows", ifname);
	fprintf(f, ",kind=\"unpaired\"} %zu\n", s->n_srcs);

	for (i = 0; i < s->n_sas; i++)
		n_out += s->sas[i].out;
	head(f, "pairgate_sas", "gauge", "Security associations installed, by direction.");
	sample_begin(f, "pairgate_sas", ifname);
	fprintf(f, ",direction=\"in\"} %zu\n", s->n_sas - n_out);
	sample_begin(f, "pairgate_sas", ifname);
	fprintf(f, ",direction=\"out\"} %zu\n", n_out);
}

void pg_metrics_write(FILE *f, const char *ifname, const struct pg_snap *s)
{
	verdict_metric(f, ifname, s, false);
	verdict_metric(f, ifname, s, true);
	sa_metric(f, ifname, s, false);
	sa_metric(f, ifname, s, true);
	gauges(f, ifname, s);
}

/* ---- the textfile collector's file ---- */

static int write_file(const char *path, const char *ifname, const struct pg_snap *s)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, err = 0;

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkstemp(tmp);
	if (fd < 0 || fchmod(fd, 0644) || !(f = fdopen(fd, "w"))) {
		err = -errno;
		goto out;
	}
	fd = -1;
	pg_metrics_write(f, ifname, s);
	if (fflush(f) || ferror(f) || fsync(fileno(f)))
		err = errno ? -errno : -EIO;
	if (fclose(f) && !err)
		err = -errno;
	f = NULL;
	if (!err && rename(tmp, path))
		err = -errno;
out:
	if (err) {
		pg_err("writing %s: %s", path, strerror(-err));
		unlink(tmp);
	}
	if (fd >= 0)
		close(fd);
	free(tmp);
	return err;
}

static int snap_once(const struct metrics_args *a, const struct pg_obs *o)
{
	struct pg_snap s;
	int err;

	err = pg_snap_read(o, &s);
	if (err)
		return err;
	if (a->file)
		err = write_file(a->file, a->ifname, &s);
	else
		pg_metrics_write(stdout, a->ifname, &s);
	pg_snap_free(&s);
	return err;
}

static int keep_current(const struct metrics_args *a, const struct pg_obs *o)
{
	unsigned long done = 0;
	__u64 next = pg_mono_ns(), now;
	int err = 0;

	pg_obs_catch_signals();
	while (!err && !pg_obs_stop) {
		err = snap_once(a, o);
		if (a->iterations && ++done >= a->iterations)
			break;
		next += a->interval * NS_PER_SEC;
		while (!pg_obs_stop && (now = pg_mono_ns()) < next)
			poll(NULL, 0, (next - now + 999999) / 1000000);
	}
	return err;
}

static int parse_metrics_opt(int argc, char **argv, int *i, struct metrics_args *a)
{
	const char *val;
	int r;

	r = pg_opt_value(argc, argv, i, "--metrics-file", &val);
	if (r > 0) {
		a->file = val;
		return 0;
	}
	if (!r)
		r = pg_opt_value(argc, argv, i, "--interval", &val);
	if (r > 0)
		return pg_obs_uint("--interval", val, 1, 86400, &a->interval);
	if (!r)
		r = pg_opt_value(argc, argv, i, "--iterations", &val);
	if (r > 0)
		return pg_obs_uint("--iterations", val, 1, 1000000000, &a->iterations);
	if (!r)
		pg_err("unknown option '%s' for metrics: use --metrics-file, --interval or "
		       "--iterations", pg_arg(argv[*i]));
	return -EINVAL;
}

static int parse_metrics(int argc, char **argv, struct metrics_args *a)
{
	int i;

	if (argc < 2 || argv[1][0] == '-') {
		pg_err("metrics needs an interface: metrics IFACE [--metrics-file PATH "
		       "[--interval S] [--iterations N]]");
		return -EINVAL;
	}
	a->ifname = argv[1];
	for (i = 2; i < argc; i++)
		if (parse_metrics_opt(argc, argv, &i, a))
			return -EINVAL;
	if (!a->file && (a->interval || a->iterations)) {
		pg_err("--interval and --iterations go with --metrics-file PATH");
		return -EINVAL;
	}
	if (!a->interval)
		a->interval = DEFAULT_INTERVAL;
	return 0;
}

int pg_cmd_metrics(int argc, char **argv)
{
	struct metrics_args a = {};
	struct pg_obs o;
	int err;

	if (parse_metrics(argc, argv, &a))
		return 1;
	err = pg_obs_open(&o, a.ifname);
	if (!err)
		err = a.file ? keep_current(&a, &o) : snap_once(&a, &o);
	pg_obs_close(&o);
	return err ? 1 : 0;
}
