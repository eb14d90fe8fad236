// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The observability outputs on crafted state: the Prometheus exposition
 * parses line by line, the flows JSON parses (python3's json), the pcapng
 * file opens with libpcap and carries each packet's reason, the drop log
 * keeps to its line budget, and tshark with tools/pairgate.lua decodes the
 * shim of tagged frames (pg_tag_insert) written with libpcap.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <limits.h>
#include <libgen.h>
#include <unistd.h>

/* libpcap's classic struct bpf_insn would clash with linux/bpf.h's */
#define bpf_insn pcap_bpf_insn
#include <pcap/pcap.h>
#undef bpf_insn

#include "observe.h"
#include "pgtag.h"
#include "testlib.h"

#define IFNAME_ODD	"e\"t\\h\n0"	/* every character a label value must escape */

static char tmpdir[] = "/tmp/pg-test-observe.XXXXXX";

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static bool have_cmd(const char *cmd)
{
	char sh[128];

	snprintf(sh, sizeof(sh), "command -v %s >/dev/null 2>&1", cmd);
	return system(sh) == 0;
}

/* ---- a crafted snapshot ---- */

static void addr_set(__u8 *dst, const char *s)
{
	if (inet_pton(AF_INET, s, dst) != 1)
		inet_pton(AF_INET6, s, dst);
}

static struct pg_flow_entry flows[3];
static struct pg_src_entry srcs[2];
static struct pg_sa_info sas[2];

static void snap_craft(struct pg_snap *s)
{
	__u32 v;

	memset(s, 0, sizeof(*s));
	s->mono_ns = 100ULL * 1000000000ULL;
	for (v = 0; v < PG_V_MAX; v++)
		s->verdict[v] = (struct pg_counter){ v * 10 + 1, v * 1000 + 64 };

	flows[0].key = (struct pg_flow_key){ .family = 4, .proto = IPPROTO_UDP, .dir = PG_DIR_IN,
					     .sport = htons(40001), .dport = htons(53) };
	addr_set(flows[0].key.saddr, "198.18.0.1");
	addr_set(flows[0].key.daddr, "198.18.0.2");
	flows[0].val = (struct pg_flow){ .packets = 20, .bytes = 2000, .first_ns = 1,
					 .last_ns = 99ULL * 1000000000ULL, .spi = 0x1001 };
	flows[0].val.drops[PG_V_BAD_TAG] = 3;
	flows[0].val.drops[PG_V_REPLAY] = 1;
	flows[1].key = (struct pg_flow_key){ .family = 6, .proto = IPPROTO_ICMPV6,
					     .dir = PG_DIR_OUT };
	addr_set(flows[1].key.saddr, "2001:db8::2");
	addr_set(flows[1].key.daddr, "2001:db8::1");
	flows[1].val = (struct pg_flow){ .packets = 5, .bytes = 500, .first_ns = 2,
					 .last_ns = 3, .spi = 0x2001 };
	flows[2] = flows[0];
	flows[2].key.sport = htons(40002);
	flows[2].val.packets = 40;
	memset(flows[2].val.drops, 0, sizeof(flows[2].val.drops));
	s->flows = flows;
	s->n_flows = 3;

	srcs[0].key = (struct pg_src_key){ .family = 4, .proto = IPPROTO_TCP, .dport = htons(22) };
	addr_set(srcs[0].key.saddr, "198.18.0.9");
	srcs[0].val = (struct pg_src){ .packets = 7, .bytes = 420, .first_ns = 5, .last_ns = 6,
				       .reason = PG_V_UNPAIRED };
	srcs[1].key = (struct pg_src_key){ .family = 6, .proto = 47 };
	addr_set(srcs[1].key.saddr, "2001:db8::9");
	srcs[1].val = (struct pg_src){ .packets = 2, .bytes = 100, .reason = PG_V_MALFORMED };
	s->srcs = srcs;
	s->n_srcs = 2;

	sas[0] = (struct pg_sa_info){ .out = false, .spi = 0x1001, .cnt = { 20, 2000 } };
	sas[0].peer.family = 4;
	addr_set(sas[0].peer.addr, "198.18.0.1");
	sas[1] = (struct pg_sa_info){ .out = true, .spi = 0x2001, .cnt = { 5, 500 } };
	sas[1].peer.family = 6;
	addr_set(sas[1].peer.addr, "2001:db8::1");
	s->sas = sas;
	s->n_sas = 2;
}

/* ---- a strict exposition parser ---- */

static bool metric_name(const char **p)
{
	const char *s = *p;

	if (!isalpha((unsigned char)*s) && *s != '_' && *s != ':')
		return false;
	while (isalnum((unsigned char)*s) || *s == '_' || *s == ':')
		s++;
	*p = s;
	return true;
}

static bool label_pair(const char **p)
{
	const char *s = *p;

	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	while (isalnum((unsigned char)*s) || *s == '_')
		s++;
	if (*s++ != '=' || *s++ != '"')
		return false;
	for (; *s != '"'; s++) {
		if (!*s || *s == '\n')
			return false;
		if (*s == '\\' && s[1] != '\\' && s[1] != '"' && s[1] != 'n')
			return false;
		if (*s == '\\')
			s++;
	}
	*p = s + 1;
	return true;
}

static bool sample_line(const char *s)
{
	char *end;

	if (!metric_name(&s))
		return false;
	if (*s == '{') {
		s++;
		while (*s != '}') {
			if (!label_pair(&s))
				return false;
			if (*s == ',')
				s++;
			else if (*s != '}')
				return false;
		}
		s++;
	}
	if (*s++ != ' ')
		return false;
	strtod(s, &end);
	return end != s && *end == 0;
}

static bool comment_line(const char *s)
{
	if (!strncmp(s, "# HELP ", 7)) {
		s += 7;
		return metric_name(&s) && *s == ' ' && s[1];
	}
	if (!strncmp(s, "# TYPE ", 7)) {
		s += 7;
		return metric_name(&s) && (!strcmp(s, " counter") || !strcmp(s, " gauge"));
	}
	return false;
}

/* 0 if every line is valid, else the first bad line's number. */
static int exposition_check(char *text, int *samples)
{
	char *line, *save = NULL;
	int n = 0;

	*samples = 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		n++;
		if (line[0] == '#' ? !comment_line(line) : !sample_line(line))
			return n;
		*samples += line[0] != '#';
	}
	return 0;
}

static void test_metrics(void)
{
	char *buf = NULL, *copy;
	size_t len = 0;
	struct pg_snap s;
	int bad, samples;
	FILE *f;

	snap_craft(&s);
	f = open_memstream(&buf, &len);
	pg_metrics_write(f, IFNAME_ODD, &s);
	fclose(f);
	copy = strdup(buf);
	bad = exposition_check(copy, &samples);
	tl_check(!bad && samples == 2 * PG_V_MAX + 4 + 4, "metrics_exposition_valid",
		 "line %d invalid or %d samples", bad, samples);
	tl_check(strstr(buf, "pairgate_packets_total{interface=\"e\\\"t\\\\h\\n0\","
			"verdict=\"bad_tag\"} 31\n") != NULL, "metrics_label_escaped",
		 "no escaped bad_tag sample in:\n%s", buf);
	tl_check(strstr(buf, "pairgate_sa_packets_total{interface=\"e\\\"t\\\\h\\n0\","
			"direction=\"out\",spi=\"0x00002001\",peer=\"2001:db8::1\"} 5\n") &&
		 strstr(buf, ",kind=\"paired\"} 3\n") && strstr(buf, ",kind=\"unpaired\"} 2\n"),
		 "metrics_sa_and_flow_gauges", "missing samples in:\n%s", buf);
	free(copy);
	free(buf);
}

/* ---- flows JSON ---- */

static int json_parses(const char *path)
{
	char cmd[PATH_MAX + 96];

	snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys; json.load(sys.stdin)' <%s",
		 path);
	return system(cmd) == 0;
}

static void test_flows_json(void)
{
	char path[PATH_MAX], *buf = NULL;
	struct pg_snap s, empty = {};
	size_t len = 0;
	FILE *f;

	if (!have_cmd("python3")) {
		printf("SKIP flows_json_valid: python3 not installed\n");
		return;
	}
	snap_craft(&s);
	pg_flows_sort(&s, PG_SORT_PKTS);
	tmp_path(path, sizeof(path), "flows.json");
	f = fopen(path, "w");
	pg_flows_json(f, &s, 50);
	fclose(f);
	tl_check(json_parses(path), "flows_json_valid", "python3 rejects %s", path);

	f = fopen(path, "w");
	pg_flows_json(f, &empty, 50);
	fclose(f);
	tl_check(json_parses(path), "flows_json_empty_valid", "python3 rejects %s", path);

	f = open_memstream(&buf, &len);
	pg_flows_json(f, &s, 1);
	fclose(f);
	tl_check(strstr(buf, "\"packets\":40") && !strstr(buf, "\"packets\":20,") &&
		 strstr(buf, "\"src\":\"198.18.0.9\""), "flows_json_sorted_and_limited",
		 "got %s", buf);
	free(buf);

	f = open_memstream(&buf, &len);
	pg_flows_sort(&s, PG_SORT_DROPS);
	pg_flows_print(f, &s, 50, "drops");
	fclose(f);
	tl_check(strstr(buf, "bad_tag=3 replay=1") && strstr(buf, "unpaired sources") &&
		 strstr(buf, "paired flows (3 of 3"), "flows_text_sections_and_drops", "got %s",
		 buf);
	free(buf);
}

/* ---- pcapng ---- */

static const char *const reasons[] = { "reason=unpaired", "reason=bad_tag", "reason=replay" };

/* The opt_comment of every Enhanced Packet Block, read the simple way. */
static int pcapng_comments(const char *path, char out[][32], int max)
{
	unsigned char b[4096];
	size_t len, off = 0;
	int n = 0;
	FILE *f = fopen(path, "rb");

	if (!f)
		return -1;
	len = fread(b, 1, sizeof(b), f);
	fclose(f);
	while (off + 12 <= len && n < max) {
		__u32 type = *(__u32 *)(b + off), blen = *(__u32 *)(b + off + 4);
		size_t o, end = off + blen - 4;

		if (blen < 12 || off + blen > len)
			return -1;
		if (type == 6) {
			__u32 cap = *(__u32 *)(b + off + 20);

			out[n][0] = 0;
			for (o = off + 28 + (cap + 3) / 4 * 4; o + 4 <= end;) {
				__u16 code = *(__u16 *)(b + o), olen = *(__u16 *)(b + o + 2);

				if (!code)
					break;
				if (code == 1)
					snprintf(out[n], 32, "%.*s", olen, b + o + 4);
				o += 4 + (olen + 3) / 4 * 4;
			}
			n++;
		}
		off += blen;
	}
	return n;
}

static void test_pcapng(void)
{
	char path[PATH_MAX], err[PCAP_ERRBUF_SIZE], comments[8][32];
	__u64 ts = 1764780000123456789ULL;
	struct pcap_pkthdr *h;
	const u_char *data;
	struct tl_pkt p[3];
	int i, n = 0, ok = 1;
	pcap_t *pc;
	FILE *f;

	tmp_path(path, sizeof(path), "drops.pcapng");
	f = fopen(path, "wb");
	ok = !pg_pcapng_begin(f, "eth0", PG_DROP_SNAPLEN);
	for (i = 0; i < 3; i++) {
		tl_build(&p[i], i == 1 ? 6 : 4, IPPROTO_UDP, 20 + i * 100, i == 1 ? "2001:db8::9" :
			 "198.18.0.9", i == 1 ? "2001:db8::2" : "198.18.0.2", 0, 0);
		ok &= !pg_pcapng_packet(f, ts + i * 1000, p[i].buf, p[i].len < PG_DROP_SNAPLEN ?
					p[i].len : PG_DROP_SNAPLEN, p[i].len, reasons[i]);
	}
	fclose(f);

	pc = pcap_open_offline(path, err);
	tl_check(ok && pc && pcap_datalink(pc) == DLT_EN10MB, "pcapng_opens_with_libpcap",
		 "%s", pc ? "wrong link type" : err);
	if (!pc)
		return;
	while (pcap_next_ex(pc, &h, &data) == 1 && n < 3) {
		__u32 cap = p[n].len < PG_DROP_SNAPLEN ? p[n].len : PG_DROP_SNAPLEN;

		ok &= h->caplen == cap && h->len == p[n].len && !memcmp(data, p[n].buf, cap);
		ok &= h->ts.tv_sec == (time_t)(ts / 1000000000ULL) &&
		      h->ts.tv_usec == (suseconds_t)(ts % 1000000000ULL / 1000 + n);
		n++;
	}
	pcap_close(pc);
	tl_check(ok && n == 3, "pcapng_packets_intact", "%d packets, match %d", n, ok);

	n = pcapng_comments(path, comments, 8);
	ok = n == 3;
	for (i = 0; ok && i < 3; i++)
		ok = !strcmp(comments[i], reasons[i]);
	tl_check(ok, "pcapng_reasons_per_packet", "%d comments, first '%s'", n,
		 n > 0 ? comments[0] : "");
}

/* ---- drop log ---- */

static void test_droplog(void)
{
	struct pg_src_entry a[3], b[3];
	struct pg_droplog *dl;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int i;

	memset(a, 0, sizeof(a));
	for (i = 0; i < 3; i++) {
		a[i].key = (struct pg_src_key){ .family = 4, .proto = IPPROTO_UDP,
						.dport = htons(5000 + i) };
		addr_set(a[i].key.saddr, "198.18.0.9");
		a[i].val = (struct pg_src){ .packets = 10, .reason = PG_V_UNPAIRED };
	}
	memcpy(b, a, sizeof(a));
	b[0].val.packets += 5;
	b[1].val.packets += 50;
	b[2].val.packets += 1;

	f = open_memstream(&buf, &len);
	dl = pg_droplog_new("eth0", 1, f);
	pg_droplog_feed(dl, a, 3, 1000000000ULL);
	pg_droplog_feed(dl, b, 3, 11000000000ULL);
	pg_droplog_free(dl);
	fclose(f);
	tl_check(strstr(buf, " event=drops iface=eth0 reason=unpaired src=198.18.0.9 proto=udp "
			"dport=5001 count=50 interval=10s\n") &&
		 strstr(buf, " event=drops_suppressed iface=eth0 lines=2 count=6 interval=10s\n") &&
		 !strstr(buf, "dport=5000"), "droplog_top_lines_and_suppressed", "got:\n%s", buf);
	free(buf);
}

/* ---- tshark and tools/pairgate.lua ---- */

static int lua_path(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return -1;
	exe[n] = 0;
	/* build/tests/test_observe -> tools/pairgate.lua */
	snprintf(buf, len, "%s/../../tools/pairgate.lua", dirname(exe));
	return access(buf, R_OK);
}

static int tagged_pcap(const char *path)
{
	static const uint8_t key[PG_KEY_LEN] = { 1, 2, 3 };
	struct pcap_pkthdr h = {};
	pcap_dumper_t *d;
	struct tl_pkt plain, tagged;
	pcap_t *pc;
	ssize_t n;
	int i;

	pc = pcap_open_dead(DLT_EN10MB, 65535);
	d = pc ? pcap_dump_open(pc, path) : NULL;
	if (!d)
		return -1;
	for (i = 0; i < 2; i++) {
		tl_build(&plain, i ? 6 : 4, i ? IPPROTO_TCP : IPPROTO_UDP, 32, i ? "2001:db8::1" :
			 "198.18.0.1", i ? "2001:db8::2" : "198.18.0.2", 0, 0);
		memcpy(tagged.buf, plain.buf, plain.l3_off);
		n = pg_tag_insert(key, 0x1001 + i, 7 + i, plain.buf + plain.l3_off,
				  plain.len - plain.l3_off, tagged.buf + plain.l3_off,
				  sizeof(tagged.buf) - plain.l3_off);
		if (n < 0)
			return -1;
		h.caplen = h.len = plain.l3_off + n;
		pcap_dump((u_char *)d, &h, tagged.buf);
	}
	pcap_dump_close(d);
	pcap_close(pc);
	return 0;
}

static void test_tshark(void)
{
	char pcap[PATH_MAX], lua[PATH_MAX], cmd[3 * PATH_MAX], line[256] = "", all[512] = "";
	FILE *f;

	if (!have_cmd("tshark")) {
		printf("SKIP tshark_dissector: tshark not installed\n");
		return;
	}
	tmp_path(pcap, sizeof(pcap), "tagged.pcap");
	if (lua_path(lua, sizeof(lua)) || tagged_pcap(pcap)) {
		tl_check(0, "tshark_dissector", "no tools/pairgate.lua or cannot write %s", pcap);
		return;
	}
	snprintf(cmd, sizeof(cmd), "tshark -X lua_script:%s -r %s -T fields -E separator=, "
		 "-e pairgate.spi -e pairgate.seq -e pairgate.next_proto -e pairgate.version "
		 "-e udp.dstport -e tcp.dstport 2>/dev/null", lua, pcap);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		strncat(all, line, sizeof(all) - strlen(all) - 1);
	if (f)
		pclose(f);
	/* the second frame is TCP 40000 -> 8080 over IPv6 */
	tl_check(!strcmp(all, "0x00001001,7,17,1,53,\n0x00001002,8,6,1,,8080\n"),
		 "tshark_dissector", "tshark printed '%s'", all);
}

int main(void)
{
	char cmd[64];

	libbpf_set_print(tl_silent_print);
	if (!mkdtemp(tmpdir)) {
		tl_check(0, "tmpdir", "mkdtemp: %s", strerror(errno));
		return tl_exit();
	}
	test_metrics();
	test_flows_json();
	test_pcapng();
	test_droplog();
	test_tshark();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd))
		fprintf(stderr, "test_observe: could not remove %s\n", tmpdir);
	return tl_exit();
}
