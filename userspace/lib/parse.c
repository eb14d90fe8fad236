// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "parse.h"

static const struct {
	const char *name;
	__u8 proto;
} protos[] = {
	{ "tcp", 6 },
	{ "udp", 17 },
	{ "icmp", 1 },
	{ "icmpv6", 58 },
	{ "sctp", 132 },
};

const char *pg_arg(const char *s)
{
	unsigned int run = 0;

	for (const char *p = s; *p; p++) {
		run = isxdigit((unsigned char)*p) ? run + 1 : 0;
		if (run >= 16)
			return "(hidden: looks like a key)";
	}
	return s;
}

/* Parses an unsigned number made of digits only (no sign, no spaces). */
static int parse_uint(const char *s, int base, unsigned long long max,
		      unsigned long long *out)
{
	unsigned long long v;
	const char *p;
	char *end;

	if (!*s)
		return -EINVAL;
	for (p = s; *p; p++)
		if (base == 16 ? !isxdigit((unsigned char)*p) : !isdigit((unsigned char)*p))
			return -EINVAL;

	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int pg_parse_spi(const char *s, __u32 *spi)
{
	unsigned long long v;
	int err;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		err = parse_uint(s + 2, 16, 0xffffffffULL, &v);
	else
		err = parse_uint(s, 10, 0xffffffffULL, &v);
	if (err || v == 0) {
		pg_err("invalid SPI '%s': must be 1..4294967295, decimal or 0x-hex", pg_arg(s));
		return -EINVAL;
	}
	*spi = v;
	return 0;
}

static int addr_from_text(const char *s, struct pg_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, s, addr->addr) == 1) {
		addr->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr->addr) == 1) {
		addr->family = 6;
		return 0;
	}
	return -EINVAL;
}

int pg_parse_addr(const char *what, const char *s, struct pg_addr *addr)
{
	if (addr_from_text(s, addr)) {
		pg_err("invalid %s '%s': expected an IPv4 or IPv6 address", what, pg_arg(s));
		return -EINVAL;
	}
	return 0;
}

static bool host_bits_set(const struct pg_addr *addr, unsigned int plen)
{
	unsigned int i, bits = pg_addr_bits(addr);

	for (i = plen; i < bits; i++)
		if (addr->addr[i / 8] & (0x80 >> (i % 8)))
			return true;
	return false;
}

static void mask_host_bits(struct pg_addr *addr, unsigned int plen)
{
	unsigned int i, bits = pg_addr_bits(addr);

	for (i = plen; i < bits; i++)
		addr->addr[i / 8] &= ~(0x80 >> (i % 8));
}

int pg_parse_prefix(const char *s, struct pg_addr *addr, __u8 *plen)
{
	char text[PG_PREFIX_STRLEN], hint[PG_PREFIX_STRLEN];
	unsigned long long len;
	char *slash;

	if (strlen(s) >= sizeof(text))
		goto bad;
	strcpy(text, s);
	slash = strchr(text, '/');
	if (slash)
		*slash = '\0';
	if (addr_from_text(text, addr))
		goto bad;

	len = pg_addr_bits(addr);
	if (slash && (parse_uint(slash + 1, 10, pg_addr_bits(addr), &len) ||
		      strlen(slash + 1) > 3))
		goto bad;

	if (host_bits_set(addr, len)) {
		mask_host_bits(addr, len);
		pg_err("invalid prefix '%s': host bits set; did you mean %s?", pg_arg(s),
		       pg_prefix_str(addr, len, hint, sizeof(hint)));
		return -EINVAL;
	}
	*plen = len;
	return 0;
bad:
	pg_err("invalid prefix '%s': expected ADDR/LEN, e.g. 198.18.0.0/24 or 2001:db8::/32",
	       pg_arg(s));
	return -EINVAL;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return tolower((unsigned char)c) - 'a' + 10;
}

int pg_parse_key(const char *s, __u64 key[2])
{
	unsigned int i;

	for (i = 0; i < 32 && isxdigit((unsigned char)s[i]); i++)
		;
	if (i != 32 || s[i]) {
		pg_err("invalid key: key must be 32 hex digits (16 bytes)");
		return -EINVAL;
	}

	/* k0 is the little-endian u64 of bytes 0..7, k1 of bytes 8..15. */
	key[0] = key[1] = 0;
	for (i = 0; i < 16; i++) {
		__u64 byte = hex_nibble(s[2 * i]) << 4 | hex_nibble(s[2 * i + 1]);

		key[i / 8] |= byte << (8 * (i % 8));
	}
	return 0;
}

static int parse_proto(const char *s, __u8 *proto)
{
	unsigned long long v;
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (!strcasecmp(s, protos[i].name)) {
			*proto = protos[i].proto;
			return 0;
		}
	}
	if (strlen(s) > 3 || parse_uint(s, 10, 255, &v))
		return -EINVAL;
	*proto = v;
	return 0;
}

static int parse_proto_port(const char *s, struct pg_rule *rule)
{
	char text[16], *slash;
	unsigned long long port;

	if (strlen(s) >= sizeof(text))
		goto bad;
	strcpy(text, s);
	slash = strchr(text, '/');
	if (slash)
		*slash = '\0';
	if (parse_proto(text, &rule->proto))
		goto bad;
	if (!slash)
		return 0;

	if (!pg_proto_has_ports(rule->proto)) {
		pg_err("invalid exemption '%s': only tcp, udp and sctp take a /PORT", pg_arg(s));
		return -EINVAL;
	}
	if (strlen(slash + 1) > 5 || parse_uint(slash + 1, 10, 65535, &port) || !port) {
		pg_err("invalid port in '%s': must be 1..65535", pg_arg(s));
		return -EINVAL;
	}
	rule->port = port;
	return 0;
bad:
	pg_err("invalid protocol '%s': expected tcp, udp, icmp, icmpv6, sctp or 0..255, "
	       "optionally with /PORT", pg_arg(s));
	return -EINVAL;
}

int pg_parse_rule(const char *proto_port, const char *from, struct pg_rule *rule)
{
	char name[16];

	memset(rule, 0, sizeof(*rule));
	if (parse_proto_port(proto_port, rule))
		return -EINVAL;
	if (!from) {
		rule->any_src = true;
		return 0;
	}
	if (pg_parse_prefix(from, &rule->src, &rule->plen))
		return -EINVAL;

	if (!(pg_proto_families(rule->proto) & (rule->src.family == 4 ? PG_FAM_V4 : PG_FAM_V6))) {
		pg_proto_port_str(rule->proto, 0, name, sizeof(name));
		pg_err("invalid prefix '%s' for %s: %s is IPv%s only", pg_arg(from), name, name,
		       rule->src.family == 4 ? "6" : "4");
		return -EINVAL;
	}
	return 0;
}

int pg_parse_ifname(const char *s)
{
	if (!*s || strlen(s) >= IFNAMSIZ || strchr(s, '/') || strchr(s, ':') ||
	    !strcmp(s, ".") || !strcmp(s, "..")) {
		pg_err("invalid interface name '%s'", pg_arg(s));
		return -EINVAL;
	}
	return 0;
}

unsigned int pg_proto_families(__u8 proto)
{
	if (proto == IPPROTO_ICMP)
		return PG_FAM_V4;
	if (proto == IPPROTO_ICMPV6)
		return PG_FAM_V6;
	return PG_FAM_V4 | PG_FAM_V6;
}

bool pg_proto_has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

int pg_af(const struct pg_addr *addr)
{
	return addr->family == 4 ? AF_INET : AF_INET6;
}

unsigned int pg_addr_bits(const struct pg_addr *addr)
{
	return addr->family == 4 ? 32 : 128;
}

static bool v6_unicast(const __u8 *a)
{
	static const __u8 zero[16], mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (a[0] == 0xff)				/* multicast */
		return false;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)	/* link-local */
		return false;
	if (!memcmp(a, zero, 15) && a[15] <= 1)		/* :: and ::1 */
		return false;
	return memcmp(a, mapped, sizeof(mapped)) != 0;	/* v4-mapped */
}

/* Whether addr may be an SA peer: a unicast address routable off-link. */
bool pg_addr_is_unicast(const struct pg_addr *addr)
{
	const __u8 *a = addr->addr;

	if (addr->family == 6)
		return v6_unicast(a);
	if (a[0] == 0 || a[0] == 127 || a[0] >= 224)	/* this net, loopback, mcast */
		return false;
	return !(a[0] == 169 && a[1] == 254);		/* link-local */
}

const char *pg_addr_str(const struct pg_addr *addr, char *buf, size_t len)
{
	if (!inet_ntop(pg_af(addr), addr->addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

const char *pg_prefix_str(const struct pg_addr *addr, __u8 plen, char *buf, size_t len)
{
	char a[PG_ADDR_STRLEN];

	snprintf(buf, len, "%s/%u", pg_addr_str(addr, a, sizeof(a)), plen);
	return buf;
}

const char *pg_proto_name(__u8 proto)
{
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].proto == proto)
			return protos[i].name;
	return NULL;
}

const char *pg_proto_port_str(__u8 proto, __u16 port, char *buf, size_t len)
{
	const char *name = pg_proto_name(proto);
	int n;

	n = name ? snprintf(buf, len, "%s", name) : snprintf(buf, len, "%u", proto);
	if (port && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - n, "/%u", port);
	return buf;
}

int pg_opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n))
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n])
		return 0;
	if (*i + 1 >= argc) {
		pg_err("%s needs a value; see pairgate help", name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}
