// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE		/* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "netdev.h"
#include "parse.h"

extern char **environ;

#define IP_MSG_LEN	256

static const char *ip_binary(void)
{
	static const char *const paths[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (!access(paths[i], X_OK))
			return paths[i];
	return "ip";
}

/* Keeps the first non-empty line of ip's output, minus a prefix such as "Error: ". */
static void first_line(char *out, const char *prefix)
{
	char *p = out, *nl;

	while (*p == '\n' || *p == ' ')
		p++;
	nl = strchr(p, '\n');
	if (nl)
		*nl = '\0';
	if (!strncmp(p, prefix, strlen(prefix)))
		p += strlen(prefix);
	memmove(out, p, strlen(p) + 1);
}

static void drain(int fd, char *msg, size_t len)
{
	size_t used = 0;
	char sink[512];
	ssize_t n;

	for (;;) {
		if (used + 1 < len)
			n = read(fd, msg + used, len - used - 1);
		else
			n = read(fd, sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used + 1 < len)
			used += n;
	}
	msg[used] = '\0';
}

/*
 * Runs `ip ARGS...` with stdout and stderr captured into msg. Returns 0, the
 * non-zero exit status, or a negative errno if ip could not be run.
 */
static int run_ip(const char *const args[], char *msg, size_t len)
{
	const char *argv[24] = { "ip" };
	posix_spawn_file_actions_t fa;
	int pfd[2], status, err;
	size_t i;
	pid_t pid;

	for (i = 0; args[i] && i + 2 < sizeof(argv) / sizeof(argv[0]); i++)
		argv[i + 1] = args[i];
	msg[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	err = -posix_spawnp(&pid, ip_binary(), &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (!err)
		drain(pfd[0], msg, len);
	close(pfd[0]);
	if (err)
		return err;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	first_line(msg, "RTNETLINK answers: ");
	first_line(msg, "Error: ");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return -ENOENT;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Runs ip and turns any failure into one "pairgate: <what>: <ip's reason>" line. */
static int ip(const char *what, const char *const args[])
{
	char msg[IP_MSG_LEN];
	int ret;

	ret = run_ip(args, msg, sizeof(msg));
	if (ret < 0) {
		pg_err("%s: cannot run ip (%s); install iproute2", what, strerror(-ret));
		return ret;
	}
	if (ret > 0) {
		pg_err("%s: %s", what, *msg ? msg : "ip failed without a message");
		return -EIO;
	}
	return 0;
}

int pg_ifindex(const char *ifname)
{
	unsigned int idx = if_nametoindex(ifname);

	if (!idx) {
		pg_err("unknown interface '%s': no such device here; see `ip link show`",
		       pg_arg(ifname));
		return -ENODEV;
	}
	return idx;
}

bool pg_link_exists(const char *ifname)
{
	return if_nametoindex(ifname) != 0;
}

static int ifreq_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	if (ioctl(fd, req, ifr))
		err = -errno;
	close(fd);
	return err;
}

int pg_if_mtu(const char *ifname)
{
	struct ifreq ifr = {};
	int err;

	err = ifreq_ioctl(ifname, SIOCGIFMTU, &ifr);
	if (err) {
		pg_err("reading the MTU of %s: %s", ifname, strerror(-err));
		return err;
	}
	return ifr.ifr_mtu;
}

static bool global_addr(const struct sockaddr *sa, __u8 family, struct pg_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->family = family;
	if (family == 4 && sa->sa_family == AF_INET) {
		memcpy(addr->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return addr->addr[0] != 127;
	}
	if (family == 6 && sa->sa_family == AF_INET6) {
		memcpy(addr->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return pg_addr_is_unicast(addr);
	}
	return false;
}

int pg_if_addr(const char *ifname, __u8 family, struct pg_addr *addr)
{
	struct ifaddrs *ifa, *i;
	int err = -ENOENT;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr && !strcmp(i->ifa_name, ifname) &&
		    global_addr(i->ifa_addr, family, addr)) {
			err = 0;
			break;
		}
	}
	freeifaddrs(ifa);
	return err;
}

int pg_sysctl_get(const char *path, int *val)
{
	FILE *f = fopen(path, "re");
	int err = 0;

	if (!f)
		return -errno;
	if (fscanf(f, "%d", val) != 1)
		err = -EIO;
	fclose(f);
	return err;
}

int pg_sysctl_set(const char *path, int val)
{
	char buf[16];
	int fd, n, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d\n", val);
	if (write(fd, buf, n) != n)
		err = -errno;
	close(fd);
	return err;
}

int pg_rp_filter_path(const char *ifname, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/proc/sys/net/ipv4/conf/%s/rp_filter", ifname);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int ethtool_off(const char *ifname, __u32 cmd)
{
	struct ethtool_value ev = { .cmd = cmd, .data = 0 };
	struct ifreq ifr = { .ifr_data = (void *)&ev };

	return ifreq_ioctl(ifname, SIOCETHTOOL, &ifr);
}

void pg_helper_names(int ifindex, struct pg_helper *h)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->route, sizeof(h->route), "pgr%d", ifindex);
	snprintf(h->tagger, sizeof(h->tagger), "pgt%d", ifindex);
}

/* The route end: no ARP (NUD_NOARP), no IPv6 addresses, and GSO/TSO off. */
static int setup_route_end(const struct pg_helper *h)
{
	const char *const addrgen[] = { "link", "set", "dev", h->route, "addrgenmode", "none",
					NULL };
	int err;

	err = ip("setting IPv6 addrgenmode none on the helper device", addrgen);
	if (err)
		return err;

	/* The point of the helper: the kernel segments at pgr's xmit, one tag per packet. */
	err = ethtool_off(h->route, ETHTOOL_STSO);
	if (!err)
		err = ethtool_off(h->route, ETHTOOL_SGSO);
	if (err)
		pg_err("turning TSO/GSO off on helper device %s: %s", h->route, strerror(-err));
	return err;
}

static int setup_tagger_end(const struct pg_helper *h)
{
	char path[128];
	int err;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", h->tagger);
	err = pg_sysctl_set(path, 1);
	if (err == -ENOENT)	/* kernel without IPv6 */
		err = 0;
	if (err)
		pg_err("disabling IPv6 on helper device %s: %s", h->tagger, strerror(-err));
	return err;
}

static int helper_up(const struct pg_helper *h)
{
	const char *const up_r[] = { "link", "set", "dev", h->route, "up", NULL };
	const char *const up_t[] = { "link", "set", "dev", h->tagger, "up", NULL };
	int err;

	err = ip("bringing up the helper devices", up_t);
	if (!err)
		err = ip("bringing up the helper devices", up_r);
	return err;
}

int pg_helper_create(int ifindex, int mtu, struct pg_helper *h)
{
	char mtus[16], what[64];
	const char *const add[] = { "link", "add", h->route, "mtu", mtus, "arp", "off",
				    "type", "veth", "peer", "name", h->tagger, "mtu", mtus,
				    NULL };
	int err;

	pg_helper_names(ifindex, h);
	snprintf(mtus, sizeof(mtus), "%d", mtu);
	snprintf(what, sizeof(what), "creating helper veth pair %s/%s", h->route, h->tagger);
	err = ip(what, add);
	if (err)
		return err;

	err = setup_route_end(h);
	if (!err)
		err = setup_tagger_end(h);
	if (!err)
		err = helper_up(h);
	if (err)
		goto fail;

	h->route_ifindex = if_nametoindex(h->route);
	h->tagger_ifindex = if_nametoindex(h->tagger);
	if (h->route_ifindex && h->tagger_ifindex)
		return 0;
	err = -ENODEV;
	pg_err("helper devices %s/%s vanished right after creation", h->route, h->tagger);
fail:
	pg_helper_delete(h);
	return err;
}

/* Deleting one end removes both, the TC hook on pgt and every route via pgr. */
int pg_helper_delete(const struct pg_helper *h)
{
	const char *const del[] = { "link", "del", "dev", h->route, NULL };

	if (!pg_link_exists(h->route))
		return -ENOENT;
	return ip("deleting helper veth pair", del);
}

static void host_prefix(const struct pg_addr *a, char *buf, size_t len)
{
	pg_prefix_str(a, pg_addr_bits(a), buf, len);
}

int pg_route_add(const char *dev, const struct pg_addr *dst, const struct pg_addr *src)
{
	char d[PG_PREFIX_STRLEN], s[PG_ADDR_STRLEN], what[PG_PREFIX_STRLEN + 48];
	const char *const args[] = { dst->family == 4 ? "-4" : "-6", "route", "replace", d,
				     "dev", dev, "src", s, NULL };

	host_prefix(dst, d, sizeof(d));
	pg_addr_str(src, s, sizeof(s));
	snprintf(what, sizeof(what), "adding route %s dev %s", d, dev);
	return ip(what, args);
}

/* Returns -ENOENT, silently, if the route is already gone. */
/* 1 if dst is reached through ifname without a gateway, 0 if not, -errno. */
static int on_link(const char *ifname, const char *dst)
{
	const char *const args[] = { "-6", "route", "get", dst, "oif", ifname, NULL };
	char msg[IP_MSG_LEN];
	int ret;

	ret = run_ip(args, msg, sizeof(msg));
	if (ret)
		return ret < 0 ? ret : -EIO;
	return !strstr(msg, " via ");
}

/* The first line `ip -6 neigh show ADDR dev IFNAME` prints, "" if none. */
static void neigh_show(const char *ifname, const char *a, char *msg, size_t len)
{
	const char *const args[] = { "-6", "neigh", "show", a, "dev", ifname, NULL };

	if (run_ip(args, msg, len))
		msg[0] = '\0';
}

int pg_neigh_keep(const char *ifname, const struct pg_addr *peer)
{
	char a[PG_ADDR_STRLEN], msg[IP_MSG_LEN];
	const char *const args[] = { "-6", "neigh", "replace", a, "dev", ifname, "managed",
				     NULL };

	if (peer->family != 6)
		return 0;
	pg_addr_str(peer, a, sizeof(a));
	if (on_link(ifname, a) != 1)
		return 0;
	/* an operator's static entry is better than ours, and stays theirs */
	neigh_show(ifname, a, msg, sizeof(msg));
	if (strstr(msg, "PERMANENT") || strstr(msg, "NOARP"))
		return 0;
	/* best effort: kernels before 5.16 have no managed entries */
	return run_ip(args, msg, sizeof(msg)) ? 0 : 1;
}

void pg_neigh_forget(const char *ifname, const struct pg_addr *peer)
{
	char a[PG_ADDR_STRLEN], msg[IP_MSG_LEN];
	const char *const args[] = { "-6", "neigh", "del", a, "dev", ifname, NULL };

	if (peer->family != 6)
		return;
	pg_addr_str(peer, a, sizeof(a));
	neigh_show(ifname, a, msg, sizeof(msg));
	if (strstr(msg, "managed"))
		run_ip(args, msg, sizeof(msg));
}

int pg_route_del(const char *dev, const struct pg_addr *dst)
{
	char d[PG_PREFIX_STRLEN], msg[IP_MSG_LEN];
	const char *const args[] = { dst->family == 4 ? "-4" : "-6", "route", "del", d,
				     "dev", dev, NULL };
	int ret;

	host_prefix(dst, d, sizeof(d));
	ret = run_ip(args, msg, sizeof(msg));
	if (ret > 0 && (strstr(msg, "No such process") || strstr(msg, "Cannot find device")))
		return -ENOENT;
	if (ret < 0)
		pg_err("removing route to %s: cannot run ip (%s)", d, strerror(-ret));
	else if (ret > 0)
		pg_err("removing route to %s: %s", d, msg);
	return ret > 0 ? -EIO : ret;
}
