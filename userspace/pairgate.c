// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pairgate: attach the filter to an interface, manage its SAs and exemptions,
 * show its counters. Exit status is 0 on success and 1 on any failure, with
 * exactly one "pairgate: <what failed>: <why>" line on stderr.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allow.h"
#include "attach.h"
#include "log.h"
#include "netdev.h"
#include "observe.h"
#include "pairing_cli.h"
#include "parse.h"
#include "pins.h"
#include "sa.h"

#ifndef PAIRGATE_VERSION
#define PAIRGATE_VERSION "0.1.0"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))


static const char usage[] =
	"Usage: pairgate COMMAND ...\n"
	"\n"
	"  attach IFACE [--xdp-mode native|skb] [--allow PROTO[/PORT] ...] [--no-pmtu-pass]\n"
	"  detach IFACE\n"
	"  allow IFACE PROTO[/PORT] [from PREFIX]      let untagged traffic in\n"
	"  disallow IFACE PROTO[/PORT] [from PREFIX]   remove an exemption\n"
	"  sa add IFACE in spi SPI src ADDR key HEX32\n"
	"  sa add IFACE out spi SPI dst ADDR key HEX32\n"
	"  sa del IFACE in|out spi SPI\n"
	"  sa list IFACE [--json]\n"
	"  stats IFACE [--json]\n"
	"  flows IFACE [--json] [--sort pkts|bytes|drops|last] [--limit N]\n"
	"  top IFACE [--iterations N] [--rows N]\n"
	"  drops IFACE -w FILE|--print [-c COUNT] [--reason R[,R...]] [--timeout S] [--rate N]\n"
	"  drops IFACE --log [--interval S] [--iterations N] [--lines K]\n"
	"  metrics IFACE [--metrics-file PATH [--interval S] [--iterations N]]\n"
	"\n"
	"Pairing (through pairgated's control socket; $PAIRGATE_SOCKET):\n"
	PG_PAIRING_USAGE
	"\n"
	"  help | version\n"
	"\n"
	"PROTO is tcp, udp, icmp, icmpv6, sctp or 0..255; /PORT only for tcp, udp and sctp.\n"
	"SPI is 1..0xffffffff, HEX32 a 16-byte key as 32 hex digits.\n"
	"State is pinned under $PAIRGATE_BPFFS/pairgate/IFACE (default /sys/fs/bpf).\n"
	"Set PAIRGATE_DEBUG=1 to see libbpf and libxdp messages.\n";

static int usage_error(const char *what)
{
	pg_err("%s; see pairgate help", what);
	return 1;
}

/* Prints s as a JSON string (interface names may hold quotes). */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static bool want_json(int argc, char **argv, int first, int *err)
{
	if (argc == first)
		return false;
	if (argc == first + 1 && !strcmp(argv[first], "--json"))
		return true;
	*err = usage_error("unexpected arguments after the interface name (only --json)");
	return false;
}

/* Opens an attached interface's pins, with the lock if it is going to change them. */
static int open_state(struct pg_state *st, const char *ifname, bool lock)
{
	int err;

	pg_state_init(st, ifname);
	if (pg_parse_ifname(ifname))
		return -EINVAL;
	if (!pg_state_exists(st) && pg_ifindex(ifname) < 0)
		return -ENODEV;
	err = lock ? pg_state_lock(st, false) : 0;
	if (err == -ENOENT)
		pg_err("%s is not attached; run pairgate attach %s first", ifname, ifname);
	if (!err)
		err = pg_state_open(st);
	return err;
}

/* --- attach / detach --------------------------------------------------- */

struct attach_args {
	const char *ifname;
	struct pg_attach_opts opts;
	struct pg_rule *rules;
};

static int parse_attach_opt(int argc, char **argv, int *i, struct attach_args *a)
{
	const char *val;
	int r;

	if (!strcmp(argv[*i], "--no-pmtu-pass")) {
		a->opts.flags |= PG_CFG_NO_PMTU_PASS;
		return 0;
	}
	r = pg_opt_value(argc, argv, i, "--xdp-mode", &val);
	if (r > 0) {
		if (!strcmp(val, "native") || !strcmp(val, "skb")) {
			a->opts.mode = val[0] == 'n' ? XDP_MODE_NATIVE : XDP_MODE_SKB;
			return 0;
		}
		pg_err("invalid --xdp-mode '%s': use native or skb", pg_arg(val));
		return -EINVAL;
	}
	if (!r)
		r = pg_opt_value(argc, argv, i, "--allow", &val);
	if (r > 0)
		return pg_parse_rule(val, NULL, &a->rules[a->opts.n_allow++]) ? -EINVAL : 0;
	if (!r)
		pg_err("unknown option '%s' for attach; see pairgate help", pg_arg(argv[*i]));
	return -EINVAL;
}

static int parse_attach(int argc, char **argv, struct attach_args *a)
{
	int i;

	if (argc < 2)
		return usage_error("attach needs an interface");
	a->ifname = argv[1];
	if (pg_parse_ifname(a->ifname))
		return 1;
	a->opts.mode = XDP_MODE_NATIVE;
	a->rules = calloc(argc, sizeof(*a->rules));
	if (!a->rules)
		return 1;
	a->opts.allow = a->rules;
	for (i = 2; i < argc; i++)
		if (parse_attach_opt(argc, argv, &i, a))
			return 1;
	return 0;
}

static bool ssh_exempt(const struct pg_attach_opts *o)
{
	size_t i;

	for (i = 0; i < o->n_allow; i++)
		if (o->allow[i].proto == IPPROTO_TCP &&
		    (o->allow[i].port == 22 || o->allow[i].port == 0))
			return true;
	return false;
}

static void print_attached(const struct attach_args *a)
{
	const char *ifn = a->ifname;

	printf("pairgate: attached to %s (xdp %s); all inbound IP traffic on %s is now dropped "
	       "unless tagged by a paired peer or exempted.\n", ifn,
	       pg_xdp_mode_name(a->opts.mode), ifn);
	if (!ssh_exempt(&a->opts))
		printf("pairgate: WARNING: no exemption for tcp/22: SSH to this host through %s "
		       "is now blocked.\n", ifn);
	printf("To keep a management port reachable: pairgate allow %s tcp/22 [from PREFIX] "
	       "(or attach with --allow tcp/22)\n", ifn);
}

/* attach refuses any leftover: pins, or a helper pair from an earlier run. */
static int check_clean(const struct pg_state *st, int ifindex)
{
	char path[PATH_MAX];
	struct pg_helper h;

	snprintf(path, sizeof(path), "%s/%s", st->dir, pg_map_names[PG_MAP_CONFIG]);
	if (!access(path, F_OK)) {
		pg_err("%s is already attached; run pairgate detach %s first", st->ifname,
		       st->ifname);
		return -EEXIST;
	}
	pg_helper_names(ifindex, &h);
	if (!pg_state_empty(st)) {
		pg_err("%s is partly attached (leftover pins in %s); run pairgate detach %s first",
		       st->ifname, st->dir, st->ifname);
		return -EEXIST;
	}
	if (pg_link_exists(h.route)) {
		pg_err("%s is partly attached (leftover helper device %s); "
		       "run pairgate detach %s first", st->ifname, h.route, st->ifname);
		return -EEXIST;
	}
	return 0;
}

static int cmd_attach(int argc, char **argv)
{
	struct attach_args a = {};
	struct pg_state st;
	int ifindex, err;

	if (parse_attach(argc, argv, &a))
		goto fail;
	ifindex = pg_ifindex(a.ifname);
	if (ifindex < 0)
		goto fail;

	pg_state_init(&st, a.ifname);
	err = pg_state_lock(&st, true);
	if (err)
		goto fail;
	err = check_clean(&st, ifindex);
	if (!err)
		err = pg_attach(&st, ifindex, &a.opts);
	if (err && pg_state_empty(&st))
		pg_state_remove(&st);	/* the directory we made */
	pg_state_close(&st);
	if (err)
		goto fail;
	print_attached(&a);
	free(a.rules);
	return 0;
fail:
	free(a.rules);
	return 1;
}

static int cmd_detach(int argc, char **argv)
{
	struct pg_state st;
	int ifindex = 0, err;

	if (argc != 2)
		return usage_error("detach takes exactly one interface");
	if (pg_parse_ifname(argv[1]))
		return 1;
	pg_state_init(&st, argv[1]);
	if (pg_link_exists(argv[1]))
		ifindex = pg_ifindex(argv[1]);
	else if (!pg_state_exists(&st))
		return pg_ifindex(argv[1]) < 0;	/* unknown interface */

	err = pg_state_lock(&st, false);
	if (err && err != -ENOENT)
		return 1;
	err = pg_detach(&st, ifindex);
	pg_state_close(&st);
	if (err == -ENOENT) {
		pg_err("%s is not attached; nothing to detach", argv[1]);
		return 1;
	}
	if (err)
		return 1;
	printf("pairgate: detached from %s\n", argv[1]);
	return 0;
}

/* --- allow / disallow -------------------------------------------------- */

static int parse_allow(int argc, char **argv, struct pg_rule *rule)
{
	const char *from = NULL;

	if (argc == 5 && !strcmp(argv[3], "from"))
		from = argv[4];
	else if (argc != 3)
		return usage_error("expected IFACE PROTO[/PORT] [from PREFIX]");
	if (pg_parse_ifname(argv[1]) || pg_parse_rule(argv[2], from, rule))
		return 1;
	return 0;
}

static int cmd_allow(int argc, char **argv)
{
	char name[PG_RULE_STRLEN];
	struct pg_rule rule;
	struct pg_state st;
	int n;

	pg_state_init(&st, "");
	if (parse_allow(argc, argv, &rule) || open_state(&st, argv[1], true)) {
		pg_state_close(&st);
		return 1;
	}
	n = pg_allow_add(st.fd[PG_MAP_ALLOW], &rule);
	if (n >= 0 && pg_allow_hint_rebuild(st.fd[PG_MAP_ALLOW], st.fd[PG_MAP_ALLOW_HINT]))
		n = -1;
	pg_state_close(&st);
	if (n < 0)
		return 1;
	pg_rule_str(&rule, name, sizeof(name));
	printf("pairgate: %s: %s %s\n", argv[1], n ? "now exempt:" : "already exempt:", name);
	return 0;
}

static int cmd_disallow(int argc, char **argv)
{
	char name[PG_RULE_STRLEN];
	struct pg_rule rule;
	struct pg_state st;
	int err;

	pg_state_init(&st, "");
	if (parse_allow(argc, argv, &rule) || open_state(&st, argv[1], true)) {
		pg_state_close(&st);
		return 1;
	}
	err = pg_allow_del(st.fd[PG_MAP_ALLOW], &rule, argv[1]);
	if (!err)
		err = pg_allow_hint_rebuild(st.fd[PG_MAP_ALLOW], st.fd[PG_MAP_ALLOW_HINT]);
	pg_state_close(&st);
	if (err)
		return 1;
	printf("pairgate: %s: no longer exempt: %s\n", argv[1],
	       pg_rule_str(&rule, name, sizeof(name)));
	return 0;
}

/* --- sa ---------------------------------------------------------------- */

struct sa_args {
	const char *ifname;
	bool out;
	__u32 spi;
	struct pg_addr peer;
	__u64 key[2];
};

static int parse_dir(const char *s, bool *out)
{
	if (strcmp(s, "in") && strcmp(s, "out")) {
		pg_err("invalid direction '%s': use in or out", pg_arg(s));
		return -EINVAL;
	}
	*out = !strcmp(s, "out");
	return 0;
}

/* Keys are wiped from our argv, so they do not linger in /proc/PID/cmdline. */
static void wipe_keys(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		if (pg_arg(argv[i]) != argv[i])
			explicit_bzero(argv[i], strlen(argv[i]));
}

enum { SEEN_SPI = 1, SEEN_PEER = 2, SEEN_KEY = 4 };

/* One "keyword value" pair of sa add; each keyword once, in any order. */
static int parse_sa_pair(char *kw, char *val, struct sa_args *a, unsigned int *seen)
{
	const char *peer_kw = a->out ? "dst" : "src";

	if (!strcmp(kw, "spi") && !(*seen & SEEN_SPI)) {
		*seen |= SEEN_SPI;
		return pg_parse_spi(val, &a->spi);
	}
	if (!strcmp(kw, peer_kw) && !(*seen & SEEN_PEER)) {
		*seen |= SEEN_PEER;
		return pg_parse_addr(a->out ? "dst address" : "src address", val, &a->peer);
	}
	if (!strcmp(kw, "key") && !(*seen & SEEN_KEY)) {
		*seen |= SEEN_KEY;
		return pg_parse_key(val, a->key);
	}
	pg_err("sa add %s: unexpected '%s'; expected spi SPI %s ADDR key HEX32 once each",
	       a->out ? "out" : "in", pg_arg(kw), peer_kw);
	return -EINVAL;
}

static int parse_sa_add(int argc, char **argv, struct sa_args *a)
{
	unsigned int seen = 0;
	int i, err = 0;

	if (argc != 10) {
		wipe_keys(argc, argv);
		return usage_error("expected sa add IFACE in|out spi SPI src|dst ADDR key HEX32");
	}
	a->ifname = argv[2];
	if (pg_parse_ifname(a->ifname) || parse_dir(argv[3], &a->out))
		err = -EINVAL;
	for (i = 4; !err && i < argc; i += 2)
		err = parse_sa_pair(argv[i], argv[i + 1], a, &seen);
	wipe_keys(argc, argv);
	return err ? 1 : 0;
}

static int sa_add(int argc, char **argv)
{
	struct sa_args a = {};
	struct pg_config cfg;
	struct pg_state st;
	int err;

	pg_state_init(&st, "");
	err = parse_sa_add(argc, argv, &a);
	if (!err)
		err = open_state(&st, a.ifname, true);
	if (!err)
		err = pg_state_config(&st, &cfg);
	if (!err && a.out)
		err = pg_sa_add_out(&st, &cfg, a.spi, &a.peer, a.key);
	else if (!err)
		err = pg_sa_add_in(&st, a.spi, &a.peer, a.key);
	explicit_bzero(a.key, sizeof(a.key));
	pg_state_close(&st);
	if (err)
		return 1;
	printf("pairgate: %s: added %s SA spi 0x%08x\n", a.ifname, a.out ? "out" : "in", a.spi);
	return 0;
}

static int sa_del(int argc, char **argv)
{
	struct pg_config cfg;
	struct pg_state st;
	bool out;
	__u32 spi;
	int err;

	if (argc != 6 || strcmp(argv[4], "spi"))
		return usage_error("expected sa del IFACE in|out spi SPI");
	if (pg_parse_ifname(argv[2]) || parse_dir(argv[3], &out) || pg_parse_spi(argv[5], &spi))
		return 1;
	err = open_state(&st, argv[2], true);
	if (!err)
		err = pg_state_config(&st, &cfg);
	if (!err)
		err = pg_sa_del(&st, &cfg, out, spi);
	pg_state_close(&st);
	if (err)
		return 1;
	printf("pairgate: %s: deleted %s SA spi 0x%08x\n", argv[2], out ? "out" : "in", spi);
	return 0;
}

static void print_sa(const struct pg_sa_info *sa, bool json, bool first)
{
	char peer[PG_ADDR_STRLEN];

	pg_addr_str(&sa->peer, peer, sizeof(peer));
	if (!json) {
		printf("%-3s spi 0x%08x %s %s", sa->out ? "out" : "in", sa->spi,
		       sa->out ? "dst" : "src", peer);
		if (sa->out)
			printf(" seq %llu", (unsigned long long)sa->seq);
		printf(" packets %llu bytes %llu\n", (unsigned long long)sa->cnt.packets,
		       (unsigned long long)sa->cnt.bytes);
		return;
	}
	printf("%s\n  {\"dir\":\"%s\",\"spi\":%u,\"peer\":\"%s\",\"%s\":%llu,"
	       "\"packets\":%llu,\"bytes\":%llu}", first ? "" : ",", sa->out ? "out" : "in",
	       sa->spi, peer, sa->out ? "seq" : "max_seq", (unsigned long long)sa->seq,
	       (unsigned long long)sa->cnt.packets, (unsigned long long)sa->cnt.bytes);
}

static int sa_list(int argc, char **argv)
{
	struct pg_sa_info *sas = NULL;
	struct pg_state st;
	int ret = 0;
	bool json;
	size_t i, n;

	if (argc < 3)
		return usage_error("expected sa list IFACE [--json]");
	json = want_json(argc, argv, 3, &ret);
	if (ret)
		return ret;
	if (open_state(&st, argv[2], false) || pg_sa_list(&st, &sas, &n)) {
		pg_state_close(&st);
		return 1;
	}
	pg_state_close(&st);

	if (json)
		putchar('[');
	for (i = 0; i < n; i++)
		print_sa(&sas[i], json, i == 0);
	if (json)
		printf("%s]\n", n ? "\n" : "");
	free(sas);
	return 0;
}

static int cmd_sa(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("sa needs add, del or list");
	if (!strcmp(argv[1], "add"))
		return sa_add(argc, argv);
	if (!strcmp(argv[1], "del"))
		return sa_del(argc, argv);
	if (!strcmp(argv[1], "list"))
		return sa_list(argc, argv);
	pg_err("unknown sa command '%s': use add, del or list", pg_arg(argv[1]));
	return 1;
}

/* --- stats ------------------------------------------------------------- */

struct stats {
	struct pg_config cfg;
	struct pg_counter v[PG_V_MAX];
	struct pg_rule *rules;
	size_t n_rules;
	size_t n_sas;
};

static int read_stats(const struct pg_state *st, struct stats *s)
{
	struct pg_sa_info *sas;
	__u32 i;
	int err;

	err = pg_state_config(st, &s->cfg);
	for (i = 0; !err && i < PG_V_MAX; i++)
		err = pg_counter_sum(st->fd[PG_MAP_STATS], i, &s->v[i]);
	if (!err)
		err = pg_allow_list(st->fd[PG_MAP_ALLOW], &s->rules, &s->n_rules);
	if (!err)
		err = pg_sa_list(st, &sas, &s->n_sas);
	if (!err)
		free(sas);
	return err;
}

static void print_stats_text(const char *ifname, const struct stats *s)
{
	char rule[PG_RULE_STRLEN];
	size_t i;

	printf("interface %s ifindex %u xdp %s\n", ifname, s->cfg.egress_ifindex,
	       pg_xdp_mode_name(s->cfg.xdp_mode));
	printf("%-12s %12s %13s\n", "verdict", "packets", "bytes");
	for (i = 0; i < PG_V_MAX; i++)
		printf("%-12s %12llu %13llu\n", pg_verdict_name(i),
		       (unsigned long long)s->v[i].packets, (unsigned long long)s->v[i].bytes);
	for (i = 0; i < s->n_rules; i++)
		printf("allow %s\n", pg_rule_str(&s->rules[i], rule, sizeof(rule)));
}

static void print_rule_json(const struct pg_rule *r)
{
	char pfx[PG_PREFIX_STRLEN];
	const char *name = pg_proto_name(r->proto);

	if (name)
		printf("{\"proto\":\"%s\"", name);
	else
		printf("{\"proto\":\"%u\"", r->proto);
	printf(",\"port\":%u,\"from\":\"%s\"}", r->port,
	       r->any_src ? "any" : pg_prefix_str(&r->src, r->plen, pfx, sizeof(pfx)));
}

static void print_stats_json(const char *ifname, const struct stats *s)
{
	size_t i;

	printf("{\"interface\":");
	json_str(ifname);
	printf(",\"ifindex\":%u,\"xdp_mode\":\"%s\",\"verdicts\":{", s->cfg.egress_ifindex,
	       pg_xdp_mode_name(s->cfg.xdp_mode));
	for (i = 0; i < PG_V_MAX; i++)
		printf("%s\"%s\":{\"packets\":%llu,\"bytes\":%llu}", i ? "," : "",
		       pg_verdict_name(i), (unsigned long long)s->v[i].packets,
		       (unsigned long long)s->v[i].bytes);
	printf("},\"allow\":[");
	for (i = 0; i < s->n_rules; i++) {
		printf("%s", i ? "," : "");
		print_rule_json(&s->rules[i]);
	}
	printf("],\"sas\":%zu}\n", s->n_sas);
}

static int cmd_stats(int argc, char **argv)
{
	struct stats s = {};
	struct pg_state st;
	int ret = 0;
	bool json;

	if (argc < 2)
		return usage_error("expected stats IFACE [--json]");
	json = want_json(argc, argv, 2, &ret);
	if (ret)
		return ret;
	if (open_state(&st, argv[1], false) || read_stats(&st, &s)) {
		pg_state_close(&st);
		free(s.rules);
		return 1;
	}
	pg_state_close(&st);
	if (json)
		print_stats_json(argv[1], &s);
	else
		print_stats_text(argv[1], &s);
	free(s.rules);
	return 0;
}

/* --- main -------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "attach", cmd_attach },
	{ "detach", cmd_detach },
	{ "allow", cmd_allow },
	{ "disallow", cmd_disallow },
	{ "sa", cmd_sa },
	{ "stats", cmd_stats },
	{ "flows", pg_cmd_flows },
	{ "top", pg_cmd_top },
	{ "drops", pg_cmd_drops },
	{ "metrics", pg_cmd_metrics },
};

/*
 * Commands that never touch the bpffs: genkey and pubkey work without root,
 * and the rest talk to pairgated, whose socket admits root only.
 */
static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} pairing_commands[] = {
	{ "genkey", pg_cmd_genkey },
	{ "pubkey", pg_cmd_pubkey },
	{ "invite", pg_cmd_invite },
	{ "join", pg_cmd_join },
	{ "peer", pg_cmd_peer },
	{ "peers", pg_cmd_peers },
	{ "show", pg_cmd_show },
	{ "rekey", pg_cmd_rekey },
};

/* Root, a bpffs, and libxdp pointed at the same bpffs: before any state is touched. */
static int check_env(void)
{
	const char *bpffs = getenv("PAIRGATE_BPFFS");

	if (geteuid() != 0) {
		pg_err("must be run as root");
		return -EPERM;
	}
	if (pg_bpffs_check())
		return -ENOENT;
	if (bpffs && *bpffs)
		setenv("LIBXDP_BPFFS", bpffs, 0);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	size_t i;

	pg_log_quiet_libs();
	if (!cmd)
		return usage_error("no command given");
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("pairgate %s\n", PAIRGATE_VERSION);
		return 0;
	}

	for (i = 0; i < ARRAY_SIZE(pairing_commands); i++)
		if (!strcmp(cmd, pairing_commands[i].name))
			return pairing_commands[i].fn(argc - 1, argv + 1) ? 1 : 0;

	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(cmd, commands[i].name))
			continue;
		if (check_env())
			return 1;
		return commands[i].fn(argc - 1, argv + 1) ? 1 : 0;
	}
	pg_err("unknown command '%s'; see pairgate help", pg_arg(cmd));
	return 1;
}
