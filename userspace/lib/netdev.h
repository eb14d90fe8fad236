/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Network device plumbing for attach/detach and outbound SAs: the helper veth
 * pair, host routes into it, rp_filter and the interface's addresses.
 *
 * Links and routes are changed by running iproute2's `ip` (always installed
 * with the kernel tooling we need) with an argv array, never a shell string;
 * its output is captured and folded into our one-line error. That keeps this
 * file free of hand-rolled rtnetlink message building for the handful of
 * operations we need. Sysctls go through /proc/sys, GSO/TSO through the
 * legacy SIOCETHTOOL ioctls.
 */
#ifndef PG_NETDEV_H
#define PG_NETDEV_H

#include <net/if.h>
#include <stdbool.h>

#include "pairgate.h"

/* Helper veth ends for the protected interface with ifindex: pgr<N>, pgt<N>. */
struct pg_helper {
	char route[IFNAMSIZ];	/* paired routes point here; TSO/GSO off, no ARP */
	char tagger[IFNAMSIZ];	/* pg_tc_tagger runs at its TC ingress */
	int route_ifindex;
	int tagger_ifindex;
};

void pg_helper_names(int ifindex, struct pg_helper *h);
int pg_helper_create(int ifindex, int mtu, struct pg_helper *h);
int pg_helper_delete(const struct pg_helper *h);

int pg_ifindex(const char *ifname);
bool pg_link_exists(const char *ifname);
int pg_if_mtu(const char *ifname);
/* The interface's first global address of family (4 or 6); -ENOENT if none. */
int pg_if_addr(const char *ifname, __u8 family, struct pg_addr *addr);

int pg_route_add(const char *dev, const struct pg_addr *dst, const struct pg_addr *src);
int pg_route_del(const char *dev, const struct pg_addr *dst);

/*
 * An on-link IPv6 peer gets a managed neighbour entry on the protected
 * interface (Linux 5.16+), which the kernel keeps resolved. The tagger sends
 * with bpf_redirect_neigh(), and an IPv6 packet that had to wait for
 * neighbour discovery there leaves with a stale Ethernet header and is lost
 * (measured on 6.18). pg_neigh_keep returns 1 if it made an entry, 0 if the
 * peer needs none (IPv4, behind a router) or the kernel cannot.
 */
int pg_neigh_keep(const char *ifname, const struct pg_addr *peer);
void pg_neigh_forget(const char *ifname, const struct pg_addr *peer);

int pg_sysctl_get(const char *path, int *val);
int pg_sysctl_set(const char *path, int val);
int pg_rp_filter_path(const char *ifname, char *buf, size_t len);

#endif /* PG_NETDEV_H */
