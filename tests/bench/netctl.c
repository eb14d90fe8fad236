// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Small device knobs for tests/bench/run.sh's throughput cases, so the bench
 * needs neither ethtool nor an iproute2 built with libbpf:
 *
 *   netctl xdp-pass IFACE [native|skb]   attach bpf/bench.bpf.c's bench_xdp_pass
 *   netctl xdp-off IFACE                 remove whatever XDP program is attached
 *   netctl offload IFACE on|off          TSO and GSO together (SIOCETHTOOL);
 *                                        a fixed TSO setting is left alone
 *
 * The XDP attachment is made through netlink, so it outlives this process.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench.skel.h"

static int usage(void)
{
	fprintf(stderr, "Usage: netctl xdp-pass IFACE [native|skb]\n"
			"       netctl xdp-off IFACE\n"
			"       netctl offload IFACE on|off\n");
	return 2;
}

static int ifindex_of(const char *ifname)
{
	int idx = if_nametoindex(ifname);

	if (!idx)
		fprintf(stderr, "netctl: unknown interface `%s'\n", ifname);
	return idx;
}

static int xdp_pass(const char *ifname, const char *mode)
{
	__u32 flags = XDP_FLAGS_UPDATE_IF_NOEXIST;
	struct bench_bpf *skel;
	int idx, err;

	idx = ifindex_of(ifname);
	if (!idx)
		return 1;
	flags |= mode && !strcmp(mode, "skb") ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;

	skel = bench_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "netctl: loading bench.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	err = bpf_xdp_attach(idx, bpf_program__fd(skel->progs.bench_xdp_pass), flags, NULL);
	if (err)
		fprintf(stderr, "netctl: attaching XDP to %s: %s\n", ifname, strerror(-err));
	bench_bpf__destroy(skel);
	return err ? 1 : 0;
}

static int xdp_off(const char *ifname)
{
	int idx = ifindex_of(ifname), err;

	if (!idx)
		return 1;
	err = bpf_xdp_detach(idx, XDP_FLAGS_DRV_MODE, NULL);
	if (!err)
		err = bpf_xdp_detach(idx, XDP_FLAGS_SKB_MODE, NULL);
	if (err)
		fprintf(stderr, "netctl: detaching XDP from %s: %s\n", ifname, strerror(-err));
	return err ? 1 : 0;
}

static int ethtool_set(int fd, const char *ifname, __u32 cmd, __u32 on)
{
	struct ethtool_value ev = { .cmd = cmd, .data = on };
	struct ifreq ifr = { .ifr_data = (void *)&ev };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	return ioctl(fd, SIOCETHTOOL, &ifr) ? -errno : 0;
}

static int offload(const char *ifname, const char *state)
{
	__u32 on = !strcmp(state, "on");
	int fd, err;

	if (!on && strcmp(state, "off"))
		return usage();
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("netctl: socket");
		return 1;
	}
	/* EOPNOTSUPP: the feature is fixed, e.g. TSO while veth has an XDP program */
	err = ethtool_set(fd, ifname, ETHTOOL_STSO, on);
	if (!err || err == -EOPNOTSUPP)
		err = ethtool_set(fd, ifname, ETHTOOL_SGSO, on);
	if (err)
		fprintf(stderr, "netctl: setting TSO/GSO %s on %s: %s\n", state, ifname,
			strerror(-err));
	close(fd);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "xdp-pass") && argc <= 4)
		return xdp_pass(argv[2], argc == 4 ? argv[3] : NULL);
	if (argc == 3 && !strcmp(argv[1], "xdp-off"))
		return xdp_off(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "offload"))
		return offload(argv[2], argv[3]);
	return usage();
}
