// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "allow.h"
#include "attach.h"
#include "log.h"
#include "netdev.h"
#include "pairgate.skel.h"

#define RP_STRICT	1
#define RP_LOOSE	2
#define MIN_IPV4_MTU	68

/* Everything attach has done so far, so that a failure can undo it. */
struct attach {
	const char *ifname;
	int ifindex;
	struct pairgate_bpf *skel;
	struct pg_helper helper;
	bool helper_made;
	int saved_rp;		/* rp_filter of the interface before we loosened it, or -1 */
	bool xdp_attached;
};

const char *pg_xdp_mode_name(__u32 mode)
{
	switch (mode) {
	case XDP_MODE_NATIVE:
		return "native";
	case XDP_MODE_SKB:
		return "skb";
	case XDP_MODE_HW:
		return "hw";
	default:
		return "unknown";
	}
}

static int load(struct attach *a)
{
	int err;

	a->skel = pairgate_bpf__open_and_load();
	if (a->skel)
		return 0;
	err = -errno;
	pg_err("loading the BPF programs: %s (the verifier may have rejected them); "
	       "rerun with PAIRGATE_DEBUG=1 to see its log", strerror(-err));
	return err;
}

static int add_rules(struct attach *a, const struct pg_attach_opts *opts)
{
	int fd = bpf_map__fd(a->skel->maps.pg_allow);
	size_t i;
	int err;

	for (i = 0; i < opts->n_allow; i++) {
		err = pg_allow_add(fd, &opts->allow[i]);
		if (err < 0)
			return err;
	}
	return pg_allow_hint_rebuild(fd, bpf_map__fd(a->skel->maps.pg_allow_hint));
}

static int attach_tagger(struct attach *a)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->helper.tagger_ifindex,
			    .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc,
			    .prog_fd = bpf_program__fd(a->skel->progs.pg_tc_tagger));
	int err;

	err = bpf_tc_hook_create(&hook);
	if (!err || err == -EEXIST)
		err = bpf_tc_attach(&hook, &tc);
	if (err)
		pg_err("attaching the tagger to TC ingress of %s: %s", a->helper.tagger,
		       strerror(-err));
	return err;
}

/* The helper's MTU leaves room for the shim, so tagged packets fit the interface. */
static int make_helper(struct attach *a)
{
	int mtu, err;

	mtu = pg_if_mtu(a->ifname);
	if (mtu < 0)
		return mtu;
	if (mtu - PG_SHIM_LEN < MIN_IPV4_MTU) {
		pg_err("attaching to %s: its MTU %d leaves no room for the %d-byte shim",
		       a->ifname, mtu, PG_SHIM_LEN);
		return -EINVAL;
	}

	err = pg_helper_create(a->ifindex, mtu - PG_SHIM_LEN, &a->helper);
	if (err)
		return err;
	a->helper_made = true;
	return attach_tagger(a);
}

/*
 * Routes to paired peers point at the helper, so strict reverse-path
 * filtering on the interface would drop the peers' packets; loosen it to 2.
 */
static int loosen_rp_filter(struct attach *a)
{
	char path[PATH_MAX];
	int all, cur, err;

	a->saved_rp = -1;
	err = pg_rp_filter_path(a->ifname, path, sizeof(path));
	if (!err)
		err = pg_sysctl_get("/proc/sys/net/ipv4/conf/all/rp_filter", &all);
	if (!err)
		err = pg_sysctl_get(path, &cur);
	if (err == -ENOENT)	/* no IPv4 on this interface or kernel */
		return 0;
	if (!err && (all > cur ? all : cur) == RP_STRICT) {
		err = pg_sysctl_set(path, RP_LOOSE);
		if (!err)
			a->saved_rp = cur;
	}
	if (err)
		pg_err("loosening rp_filter on %s: %s", a->ifname, strerror(-err));
	return err;
}

static int restore_rp_filter(const char *ifname, int saved)
{
	char path[PATH_MAX];
	int cur, err;

	if (saved < 0)
		return 0;
	err = pg_rp_filter_path(ifname, path, sizeof(path));
	if (!err)
		err = pg_sysctl_get(path, &cur);
	if (!err && cur != RP_LOOSE)	/* changed since by the administrator: theirs now */
		return 0;
	if (!err)
		err = pg_sysctl_set(path, saved);
	if (err)
		pg_err("restoring rp_filter=%d on %s: %s; set it by hand with "
		       "sysctl net.ipv4.conf.%s.rp_filter=%d", saved, ifname, strerror(-err),
		       ifname, saved);
	return err;
}

static int write_config(struct attach *a, const struct pg_attach_opts *opts)
{
	struct pg_config cfg = {
		.flags = opts->flags,
		.egress_ifindex = a->ifindex,
		.route_ifindex = a->helper.route_ifindex,
		.tagger_ifindex = a->helper.tagger_ifindex,
		.saved_rp_filter = a->saved_rp,
		.xdp_mode = opts->mode,
	};
	__u32 zero = 0;
	int err;

	err = bpf_map__update_elem(a->skel->maps.pg_config, &zero, sizeof(zero), &cfg,
				   sizeof(cfg), BPF_ANY);
	if (err)
		pg_err("writing pg_config: %s", strerror(-err));
	return err;
}

static void xdp_attach_error(const struct attach *a, enum xdp_attach_mode mode, int err)
{
	char buf[128];

	if (err == -EBUSY || err == -EEXIST) {
		pg_err("attaching XDP to %s: another XDP program is already attached; "
		       "remove it first (see `ip link show %s`)", a->ifname, a->ifname);
	} else if (mode == XDP_MODE_NATIVE && (err == -EOPNOTSUPP || err == -EINVAL)) {
		pg_err("attaching XDP to %s: the driver has no native XDP support; "
		       "use --xdp-mode skb", a->ifname);
	} else {
		libxdp_strerror(err, buf, sizeof(buf));
		pg_err("attaching XDP to %s: %s", a->ifname, buf);
	}
}

/*
 * The skeleton has already loaded pg_xdp_ingress as an XDP program, and we
 * hand libxdp its fd. libxdp cannot make a loaded XDP program a dispatcher
 * component (that takes a BPF_PROG_TYPE_EXT load), so it falls back to
 * attaching it on its own with XDP_FLAGS_UPDATE_IF_NOEXIST: never replacing
 * a program that is already there. Measured with libxdp 1.3.1 here, where
 * freplace loads fail with EPERM: xdp_program__from_fd and
 * xdp_program__from_bpf_obj both attach and detach fine (about 0.85 s, mostly
 * libxdp's failing dispatcher probe). from_fd is the one that still works on
 * a kernel with a working dispatcher: with from_bpf_obj libxdp would try to
 * retarget the already-loaded program and fail instead of falling back.
 */
static int attach_xdp(struct attach *a, enum xdp_attach_mode mode)
{
	struct xdp_program *prog;
	int err;

	prog = xdp_program__from_fd(bpf_program__fd(a->skel->progs.pg_xdp_ingress));
	err = libxdp_get_error(prog);
	if (err) {
		pg_err("preparing XDP program for libxdp: %s", strerror(-err));
		return err;
	}
	err = xdp_program__attach(prog, a->ifindex, mode, 0);
	xdp_program__close(prog);
	if (err) {
		xdp_attach_error(a, mode, err);
		return err;
	}
	a->xdp_attached = true;
	return 0;
}

/* Finds pg_xdp_ingress among the interface's XDP programs and detaches it; 1 if none. */
static int detach_xdp(const char *ifname, int ifindex)
{
	struct xdp_program *p = NULL;
	struct xdp_multiprog *mp;
	char buf[128];
	int err = 1;

	mp = xdp_multiprog__get_from_ifindex(ifindex);
	if (libxdp_get_error(mp) || !mp)
		return 1;
	if (xdp_multiprog__is_legacy(mp))
		p = xdp_multiprog__main_prog(mp);
	else
		while ((p = xdp_multiprog__next_prog(p, mp)))
			if (!strcmp(xdp_program__name(p), PG_XDP_PROG_NAME))
				break;

	if (p && !strcmp(xdp_program__name(p), PG_XDP_PROG_NAME)) {
		err = xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0);
		if (err) {
			libxdp_strerror(err, buf, sizeof(buf));
			pg_err("detaching XDP from %s: %s; try `ip link set %s xdp off`", ifname,
			       buf, ifname);
		}
	}
	xdp_multiprog__close(mp);
	return err;
}

static void undo(struct attach *a)
{
	if (a->xdp_attached)
		detach_xdp(a->ifname, a->ifindex);
	restore_rp_filter(a->ifname, a->saved_rp);
	if (a->helper_made)
		pg_helper_delete(&a->helper);
}

int pg_attach(struct pg_state *st, int ifindex, const struct pg_attach_opts *opts)
{
	struct attach a = { .ifname = st->ifname, .ifindex = ifindex, .saved_rp = -1 };
	int err;

	err = load(&a);
	if (err)
		return err;

	/* Exemptions go in before XDP does, so an SSH session survives the attach. */
	err = add_rules(&a, opts);
	if (!err)
		err = make_helper(&a);
	if (!err)
		err = loosen_rp_filter(&a);
	if (!err)
		err = write_config(&a, opts);
	if (!err)
		err = attach_xdp(&a, opts->mode);
	if (!err)
		err = pg_state_pin(st, a.skel->obj);
	if (err)
		undo(&a);

	pairgate_bpf__destroy(a.skel);
	return err;
}

static int read_config(const struct pg_state *st, struct pg_config *cfg)
{
	__u32 zero = 0;
	char path[PATH_MAX];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", st->dir, pg_map_names[PG_MAP_CONFIG]);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	err = bpf_map_lookup_elem(fd, &zero, cfg) ? -errno : 0;
	close(fd);
	return err;
}

/*
 * Removes the helper pair; 1 if it was already gone. Found by its name, never
 * by a remembered ifindex that may belong to another device by now.
 */
static int remove_helper(const struct pg_config *cfg, int ifindex)
{
	struct pg_helper h;
	int err;

	pg_helper_names(cfg->egress_ifindex ? (int)cfg->egress_ifindex : ifindex, &h);
	err = pg_helper_delete(&h);
	return err == -ENOENT ? 1 : err;
}

/* Drops the managed neighbour entries that `sa add ... out` made. */
static void forget_neighbours(const struct pg_state *st)
{
	struct pg_addr key, next, *prev = NULL;
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/pg_sa_out", st->dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		pg_neigh_forget(st->ifname, &key);
	}
	close(fd);
}

int pg_detach(struct pg_state *st, int ifindex)
{
	struct pg_config cfg = { .saved_rp_filter = -1 };
	bool had_state = pg_state_exists(st), had_cfg;
	int xdp = 1, helper = 1, err = 0;

	had_cfg = had_state && !read_config(st, &cfg);
	if (had_state && ifindex)
		forget_neighbours(st);
	if (ifindex)
		xdp = detach_xdp(st->ifname, ifindex);
	if (ifindex || cfg.egress_ifindex)
		helper = remove_helper(&cfg, ifindex);
	if (!had_state && xdp == 1 && helper == 1)
		return -ENOENT;

	if (ifindex && (__u32)ifindex == cfg.egress_ifindex &&
	    restore_rp_filter(st->ifname, cfg.saved_rp_filter))
		err = -EIO;
	if (xdp < 0 || helper < 0)
		err = -EIO;
	if (pg_state_remove(st))
		err = -EIO;
	if (!had_cfg)
		printf("pairgate: note: %s had no pinned pg_config; removed what was left\n",
		       st->ifname);
	else if (helper == 1)
		printf("pairgate: note: the helper devices of %s were already gone\n", st->ifname);
	return err;
}
