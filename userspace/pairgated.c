// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pairgated: pairs this host with its peers and keeps their SAs fresh. It
 * runs the handshake of docs/handshake.md over UDP, installs the SA pairs
 * it yields into the data plane of each interface it serves, rotates them
 * well before they expire, enrols new peers by invite, and keeps its
 * identity, peers and invites in a state directory. docs/pairing.md is the
 * operator's and the reviewer's guide to all of it.
 *
 * One thread, one poll loop: the handshake socket, the control socket and
 * a 100 ms tick that drives every timer. If the daemon stops, nothing is
 * torn down: the SAs it installed keep working until their expires_ns and
 * then the data plane drops the peer's traffic (fail closed).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <sodium.h>

#include "attach.h"
#include "b64key.h"
#include "ctl.h"
#include "handshake.h"
#include "invite.h"
#include "kvfile.h"
#include "log.h"
#include "netdev.h"
#include "observe.h"
#include "pairstate.h"
#include "pins.h"
#include "rekey.h"
#include "sa.h"

#define NS			1000000000ULL
#define MS			1000000ULL
#define MAX_IFACES		8
#define TICK_MS			100
#define JOIN_TIMEOUT		(15 * NS)
/* A spent invite is remembered this long, so a late join learns why it failed. */
#define INVITE_KEEP_SECS	86400
#define LOAD_THRESHOLD_DEFAULT	20	/* initiations per second before cookies */
#define MAX_OLD_IN		8
#define KEEPALIVES		3

static const char usage[] =
	"Usage: pairgated [--state-dir DIR] [--port PORT] [--socket PATH] [-v] IFACE...\n"
	"\n"
	"  --state-dir DIR       identity, peers and invites (default /var/lib/pairgate)\n"
	"  --port PORT           UDP port of the handshake (default 51821)\n"
	"  --socket PATH         control socket (default /run/pairgate/pairgated.sock)\n"
	"  --rekey-after SECS    rotate SAs this often (default 120; tests use a few seconds)\n"
	"  --rekey-packets N     ... or after N packets under one key (default 2^32)\n"
	"  --load-threshold N    initiations per second before answering with cookies\n"
	"                        (default 20; 0 = always)\n"
	"  --xdp-mode MODE       native (default, falls back to skb) or skb\n"
	"  --psk-file FILE       pre-shared key for every handshake (base64, mode 0600);\n"
	"                        all peers must use the same one\n"
	"  --drop-log-interval S summarise drops by source every S seconds (default 60;\n"
	"                        0 = off), at most 10 key=value lines each\n"
	"  -v                    log every handshake, not only state changes\n";

struct iface {
	char name[IFNAMSIZ];
	struct pg_state st;
	struct pg_config cfg;
	struct pg_droplog *droplog;	/* drop summaries on stderr; NULL if off */
	int srcs_fd;			/* the pinned pg_srcs it reads */
};

struct old_in {
	uint32_t spi;
	uint64_t delete_ns;
};

struct session {
	uint32_t in_spi;		/* 0: none */
	uint32_t out_spi;
	uint64_t since_ns;
	bool initiator;
};

struct pending_out {
	bool active;
	uint32_t in_spi, out_spi;
	__u64 key[2];
	uint64_t since_ns;
};

struct peer {
	struct pg_peer_conf conf;
	struct hs_peer hs;
	struct iface *ifc;		/* where its SAs live; NULL: no interface fits */
	/* our initiation in flight */
	struct hs_handshake init;
	bool init_active;
	uint64_t init_sent_ns, next_try_ns;
	unsigned int tries;
	struct session cur;
	struct pending_out pend;	/* responder: out SA waiting for proof of use */
	struct old_in old[MAX_OLD_IN];
	unsigned int n_old;
	struct pg_addr out_dst;		/* the out SA we installed (family 0: none) */
	unsigned int keepalives;
	uint64_t next_keepalive_ns;
	uint64_t last_handshake;	/* unix seconds */
	uint64_t next_seq_check_ns;
	struct pg_counter rx_gone;	/* of in SAs already deleted */
	bool up;
	/* joining by invite (not in the peers file until it succeeds) */
	bool joining;
	uint8_t secret[HS_INVITE_SECRET_LEN];
	int join_fd;
	uint64_t join_deadline_ns;
};

struct daemon {
	const char *state_dir;
	const char *sock_path;
	uint16_t port;
	int verbose;
	enum xdp_attach_mode xdp_mode;
	struct pg_rekey_cfg rk;
	unsigned int load_threshold;
	const char *psk_file;		/* --psk-file, or NULL: the zero PSK */
	unsigned int drop_log_secs;	/* --drop-log-interval; 0 turns it off */

	struct hs_identity id;
	struct iface ifc[MAX_IFACES];
	unsigned int n_ifc;
	struct peer *peers[PG_MAX_PEERS];
	unsigned int n_peers;
	struct pg_invite *inv;
	size_t n_inv;

	int udp_fd, ka_fd, ctl_fd, lock_fd;
	uint64_t load_window_ns;
	unsigned int load_count;

	/* the join being decided, for the hs_join_fn callback */
	struct hs_src join_src;
	struct pg_addr join_addr;
	struct pg_invite *join_inv;
};

static volatile sig_atomic_t stop;
static int verbose;

/* ---- time and logging ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static uint64_t wall_secs(void)
{
	return (uint64_t)time(NULL);
}

enum { L_ERR, L_WARN, L_INFO, L_DEBUG };

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* One key=value line on stderr: ts, level, event, then the caller's fields. */
static void __attribute__((format(printf, 3, 4)))
dlog(int level, const char *event, const char *fmt, ...)
{
	struct timespec ts;
	char when[32];
	struct tm tm;
	va_list ap;

	if (level > (verbose ? L_DEBUG : L_INFO))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "ts=%s.%03ldZ level=%s event=%s", when, ts.tv_nsec / 1000000,
		level_names[level], event);
	if (fmt && *fmt) {
		fputc(' ', stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
	}
	fputc('\n', stderr);
}

static const char *addr_text(const struct pg_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, buf, len))
		snprintf(buf, len, "none");
	return buf;
}

/* ---- state files ---- */

static int save_file(struct daemon *d, const char *name, struct pg_buf *b)
{
	const char *what = "formatting";
	int err = b->err;

	if (!err)
		err = pg_file_write_atomic(d->state_dir, name, b->p, b->len, 0600, &what);
	if (err)
		dlog(L_ERR, "state_write_failed", "path=%s/%s step=\"%s\" error=\"%s\"",
		     d->state_dir, name, what, strerror(-err));
	pg_buf_free(b);
	return err;
}

static int save_peers(struct daemon *d)
{
	struct pg_peer_conf *all;
	struct pg_buf b = {};
	unsigned int i, n = 0;
	int err;

	all = calloc(d->n_peers ? d->n_peers : 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (i = 0; i < d->n_peers; i++) {
		if (d->peers[i]->joining)
			continue;
		all[n] = d->peers[i]->conf;
		memcpy(all[n].last_ts, d->peers[i]->hs.last_ts, PG_TS_LEN);
		n++;
	}
	pg_peers_format(&b, all, n);
	free(all);
	err = save_file(d, PG_FILE_PEERS, &b);
	return err;
}

static int save_invites(struct daemon *d)
{
	uint64_t now = wall_secs();
	struct pg_buf b = {};
	size_t i, n = 0;

	for (i = 0; i < d->n_inv; i++)	/* forget invites long past their expiry */
		if (d->inv[i].expires + INVITE_KEEP_SECS > now)
			d->inv[n++] = d->inv[i];
	d->n_inv = n;
	pg_invites_format(&b, d->inv, d->n_inv);
	return save_file(d, PG_FILE_INVITES, &b);
}

/* Reads one state file; a missing file is empty, a bad one stops the daemon. */
static int read_state(struct daemon *d, const char *name, char **buf, size_t *len)
{
	int err = pg_file_read(d->state_dir, name, buf, len);

	if (err == -ENOENT) {
		*buf = NULL;
		*len = 0;
		return 0;
	}
	if (err)
		fprintf(stderr, "pairgated: reading %s/%s: %s\n", d->state_dir, name,
			strerror(-err));
	return err;
}

static void state_corrupt(struct daemon *d, const char *name, int line, const char *why)
{
	fprintf(stderr, "pairgated: %s/%s%s%.0d: %s; fix or restore it (it is never "
		"replaced automatically)\n", d->state_dir, name, line ? ":" : "", line, why);
}

/*
 * The optional pre-shared key, mixed into every handshake (IKpsk2): the
 * post-quantum hedge, as in WireGuard. Same format and rules as the private
 * key: one base64 line, not readable by group or others.
 */
static int psk_load(const char *path, uint8_t psk[32])
{
	char buf[PG_KEY_B64_LEN + 2];
	struct stat sb;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb)) {
		fprintf(stderr, "pairgated: reading PSK %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	if (sb.st_mode & 077) {
		fprintf(stderr, "pairgated: %s is readable by group or others; chmod 600 it "
			"(and consider the PSK leaked)\n", path);
		close(fd);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || pg_privkey_parse(buf, n, psk)) {
		fprintf(stderr, "pairgated: %s: not one base64 32-byte key and a newline "
			"(make one with pairgate genkey)\n", path);
		sodium_memzero(buf, sizeof(buf));
		return -EINVAL;
	}
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

static int load_identity(struct daemon *d)
{
	uint8_t priv[32], psk[32];
	struct stat sb;
	char path[PATH_MAX], *buf = NULL, text[PG_KEY_B64_LEN + 2];
	const char *what;
	size_t len;
	int err;

	snprintf(path, sizeof(path), "%s/%s", d->state_dir, PG_FILE_KEY);
	if (stat(path, &sb) && errno == ENOENT) {
		if (pg_key_generate(priv))
			return -EIO;
		pg_key_to_base64(text, priv);
		strcat(text, "\n");
		err = pg_file_write_atomic(d->state_dir, PG_FILE_KEY, text, strlen(text), 0600,
					   &what);
		sodium_memzero(text, sizeof(text));
		if (err) {
			fprintf(stderr, "pairgated: writing %s: %s: %s\n", path, what,
				strerror(-err));
			return err;
		}
		dlog(L_INFO, "identity_created", "path=%s", path);
	} else if (sb.st_mode & 077) {
		fprintf(stderr, "pairgated: %s is readable by group or others; "
			"chmod 600 it (and consider the key leaked)\n", path);
		return -EPERM;
	}
	err = read_state(d, PG_FILE_KEY, &buf, &len);
	if (err)
		return err;
	if (!buf || pg_privkey_parse(buf, len, priv)) {
		state_corrupt(d, PG_FILE_KEY, 0, "not one base64 private key and a newline");
		err = -EINVAL;
	}
	if (buf) {
		sodium_memzero(buf, len);
		free(buf);
	}
	if (!err && d->psk_file)
		err = psk_load(d->psk_file, psk);
	if (!err && hs_init_identity(&d->id, priv, d->psk_file ? psk : NULL)) {
		state_corrupt(d, PG_FILE_KEY, 0, "not a usable X25519 key");
		err = -EINVAL;
	}
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(psk, sizeof(psk));
	return err;
}

static struct peer *peer_new(const struct pg_peer_conf *conf)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->conf = *conf;
	hs_peer_init(&p->hs, conf->pub);
	memcpy(p->hs.last_ts, conf->last_ts, PG_TS_LEN);
	p->hs.user = p;
	p->join_fd = -1;
	return p;
}

static int load_peers(struct daemon *d)
{
	struct pg_peer_conf *confs = NULL;
	const char *why;
	size_t len, n = 0, i;
	char *buf;
	int err, line;

	err = read_state(d, PG_FILE_PEERS, &buf, &len);
	if (err || !buf)
		return err;
	err = pg_peers_parse(buf, len, &confs, &n, &line, &why);
	free(buf);
	if (err) {
		state_corrupt(d, PG_FILE_PEERS, line, why);
		return err;
	}
	for (i = 0; i < n && !err; i++) {
		d->peers[d->n_peers] = peer_new(&confs[i]);
		err = d->peers[d->n_peers] ? 0 : -ENOMEM;
		d->n_peers += !err;
	}
	free(confs);
	return err;
}

static int load_invites(struct daemon *d)
{
	const char *why;
	size_t len;
	char *buf;
	int err, line;

	err = read_state(d, PG_FILE_INVITES, &buf, &len);
	if (err || !buf)
		return err;
	err = pg_invites_parse(buf, len, &d->inv, &d->n_inv, &line, &why);
	sodium_memzero(buf, len);
	free(buf);
	if (err)
		state_corrupt(d, PG_FILE_INVITES, line, why);
	return err;
}

/* The state directory: made 0700 if missing, and locked against a second daemon. */
static int open_state_dir(struct daemon *d)
{
	char path[PATH_MAX];

	if (mkdir(d->state_dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "pairgated: creating state directory %s: %s\n", d->state_dir,
			strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/lock", d->state_dir);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX | LOCK_NB)) {
		fprintf(stderr, "pairgated: %s: %s\n", path, errno == EWOULDBLOCK ?
			"another pairgated uses this state directory" : strerror(errno));
		return -EBUSY;
	}
	return 0;
}

/* ---- the data plane ---- */

/* Serialises our map changes with the CLI's, which hold the same flock. */
static int iface_lock(const struct iface *ifc)
{
	int fd = open(ifc->st.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0 && flock(fd, LOCK_EX)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void iface_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

static int attach_iface(struct daemon *d, struct iface *ifc)
{
	struct pg_attach_opts opts = { .mode = d->xdp_mode };
	int ifindex, err;

	ifindex = pg_ifindex(ifc->name);
	if (ifindex < 0)
		return ifindex;
	err = pg_state_lock(&ifc->st, true);
	if (err)
		return err;
	if (pg_state_empty(&ifc->st)) {
		err = pg_attach(&ifc->st, ifindex, &opts);
		if (err && opts.mode == XDP_MODE_NATIVE) {
			dlog(L_WARN, "xdp_native_failed", "iface=%s fallback=skb", ifc->name);
			opts.mode = XDP_MODE_SKB;
			err = pg_attach(&ifc->st, ifindex, &opts);
		}
		if (!err)
			dlog(L_INFO, "attached", "iface=%s xdp_mode=%s", ifc->name,
			     pg_xdp_mode_name(opts.mode));
		if (err && pg_state_empty(&ifc->st))
			pg_state_remove(&ifc->st);
	}
	pg_state_close(&ifc->st);
	return err;
}

/* Attaches if needed, opens the maps, and opens the handshake port in XDP. */
static int setup_iface(struct daemon *d, struct iface *ifc)
{
	__u32 zero = 0;
	int err, fd;

	pg_state_init(&ifc->st, ifc->name);
	if (!pg_state_exists(&ifc->st) || pg_state_empty(&ifc->st)) {
		err = attach_iface(d, ifc);
		if (err)
			return err;
	}
	err = pg_state_open(&ifc->st);
	if (err)
		return err;
	fd = iface_lock(ifc);
	err = pg_state_config(&ifc->st, &ifc->cfg);
	if (!err) {
		ifc->cfg.hs_port = htons(d->port);
		if (bpf_map_update_elem(ifc->st.fd[PG_MAP_CONFIG], &zero, &ifc->cfg, BPF_EXIST))
			err = -errno;
	}
	iface_unlock(fd);
	if (err)
		fprintf(stderr, "pairgated: setting the handshake port on %s: %s\n", ifc->name,
			strerror(-err));
	return err;
}

static struct iface *iface_for(struct daemon *d, const struct pg_addr *a)
{
	struct pg_addr local;
	unsigned int i;

	for (i = 0; i < d->n_ifc; i++)
		if (!pg_if_addr(d->ifc[i].name, a->family, &local))
			return &d->ifc[i];
	return NULL;
}

static void tag_key(__u64 out[2], const uint8_t in[HS_TAG_KEY_LEN])
{
	int i;

	out[0] = out[1] = 0;
	for (i = 7; i >= 0; i--) {
		out[0] = out[0] << 8 | in[i];
		out[1] = out[1] << 8 | in[8 + i];
	}
}

/* A random SPI no inbound SA of the interface uses yet. */
static uint32_t fresh_spi(const struct iface *ifc)
{
	struct pg_sa_info info;
	uint32_t spi;
	int i;

	for (i = 0; i < 16; i++) {
		spi = hs_random_u32();
		if (pg_sa_get_in(&ifc->st, spi, &info) == -ENOENT)
			return spi;
	}
	return spi;
}

static int add_in(struct daemon *d, struct peer *p, uint32_t spi, const uint8_t key[16],
		  uint64_t now)
{
	__u64 k[2];
	int fd, err;

	tag_key(k, key);
	fd = iface_lock(p->ifc);
	err = pg_sa_add_in_expiring(&p->ifc->st, spi, &p->conf.ep.addr, k,
				    now + d->rk.reject_after_ns);
	iface_unlock(fd);
	sodium_memzero(k, sizeof(k));
	if (err)
		dlog(L_ERR, "sa_install_failed", "peer=%s dir=in spi=0x%08x error=\"%s\"",
		     p->conf.name, spi, strerror(-err));
	return err;
}

static void del_in(struct peer *p, uint32_t spi)
{
	struct pg_sa_info info;
	int fd;

	if (!p->ifc || !spi)
		return;
	if (!pg_sa_get_in(&p->ifc->st, spi, &info)) {
		p->rx_gone.packets += info.cnt.packets;
		p->rx_gone.bytes += info.cnt.bytes;
	}
	fd = iface_lock(p->ifc);
	bpf_map_delete_elem(p->ifc->st.fd[PG_MAP_SA_IN], &spi);
	iface_unlock(fd);
}

static void del_out(struct peer *p)
{
	struct pg_sa_info info;
	int fd;

	if (!p->ifc || !p->out_dst.family)
		return;
	fd = iface_lock(p->ifc);
	if (!pg_sa_get_out(&p->ifc->st, &p->out_dst, &info))
		pg_sa_del(&p->ifc->st, &p->ifc->cfg, true, info.spi);
	iface_unlock(fd);
	memset(&p->out_dst, 0, sizeof(p->out_dst));
}

static int set_out(struct daemon *d, struct peer *p, uint32_t spi, const __u64 key[2],
		   uint64_t now)
{
	int fd, err;

	if (p->out_dst.family && !pg_addr_same(&p->out_dst, &p->conf.ep.addr))
		del_out(p);	/* the peer moved */
	fd = iface_lock(p->ifc);
	err = pg_sa_set_out(&p->ifc->st, &p->ifc->cfg, spi, &p->conf.ep.addr, key,
			    now + d->rk.reject_after_ns);
	iface_unlock(fd);
	if (err) {
		dlog(L_ERR, "sa_install_failed", "peer=%s dir=out spi=0x%08x error=\"%s\"",
		     p->conf.name, spi, strerror(-err));
		return err;
	}
	p->out_dst = p->conf.ep.addr;
	return 0;
}

/* Keeps an inbound SA for packets still in flight, then deletes it. */
static void retire_in(struct daemon *d, struct peer *p, uint32_t spi, uint64_t now)
{
	if (!spi)
		return;
	if (p->n_old == MAX_OLD_IN) {
		del_in(p, p->old[0].spi);
		memmove(p->old, p->old + 1, (MAX_OLD_IN - 1) * sizeof(p->old[0]));
		p->n_old--;
	}
	p->old[p->n_old].spi = spi;
	p->old[p->n_old].delete_ns = now + d->rk.grace_ns;
	p->n_old++;
}

/* Every SA of a peer, at once: it was deleted. */
static void drop_all_sas(struct peer *p)
{
	unsigned int i;

	for (i = 0; i < p->n_old; i++)
		del_in(p, p->old[i].spi);
	p->n_old = 0;
	del_in(p, p->cur.in_spi);
	if (p->pend.active)
		del_in(p, p->pend.in_spi);
	del_out(p);
	memset(&p->cur, 0, sizeof(p->cur));
	memset(&p->pend, 0, sizeof(p->pend));
}

/*
 * After a restart: the inbound SAs an earlier run installed for a peer
 * (they have an expiry; manual ones do not) become old SAs of that peer, so
 * they keep verifying until the new session is up and then go away.
 */
static void adopt_sas(struct daemon *d, struct peer *p, uint64_t now)
{
	struct pg_sa_in *sa;
	__u32 key, next;
	void *prev = NULL;
	int fd;

	if (!p->ifc || !(sa = malloc(sizeof(*sa))))
		return;
	fd = p->ifc->st.fd[PG_MAP_SA_IN];
	while (!bpf_map_get_next_key(fd, prev, &next) && p->n_old < MAX_OLD_IN) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, sa) || !sa->expires_ns ||
		    !pg_addr_same(&sa->peer, &p->conf.ep.addr))
			continue;
		p->old[p->n_old].spi = key;
		p->old[p->n_old].delete_ns = now + d->rk.reject_after_ns;
		p->n_old++;
	}
	sodium_memzero(sa, sizeof(*sa));
	free(sa);
	p->out_dst = p->conf.ep.addr;	/* an out SA to it, if any, is ours to replace */
}

/* ---- handshake I/O ---- */

static socklen_t to_sockaddr(const struct pg_endpoint *ep, struct sockaddr_in6 *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	sa->sin6_port = htons(ep->port);
	if (ep->addr.family == 4) {
		sa->sin6_addr.s6_addr[10] = sa->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sa->sin6_addr.s6_addr[12], ep->addr.addr, 4);
	} else {
		memcpy(&sa->sin6_addr, ep->addr.addr, 16);
	}
	return sizeof(*sa);
}

static void from_sockaddr(const struct sockaddr_in6 *sa, struct pg_endpoint *ep)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	memset(ep, 0, sizeof(*ep));
	ep->port = ntohs(sa->sin6_port);
	if (!memcmp(&sa->sin6_addr, mapped, sizeof(mapped))) {
		ep->addr.family = 4;
		memcpy(ep->addr.addr, &sa->sin6_addr.s6_addr[12], 4);
	} else {
		ep->addr.family = 6;
		memcpy(ep->addr.addr, &sa->sin6_addr, 16);
	}
}

static void send_to(int fd, const struct pg_endpoint *ep, const void *buf, size_t len)
{
	struct sockaddr_in6 sa;
	socklen_t sl = to_sockaddr(ep, &sa);

	if (sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sl) < 0)
		dlog(L_DEBUG, "send_failed", "error=\"%s\"", strerror(errno));
}

static void join_finish(struct daemon *d, struct peer *p, const char *error);

static void initiate(struct daemon *d, struct peer *p, uint64_t now)
{
	uint8_t msg[HS_MAX_MSG_LEN];
	int n;

	if (!p->conf.ep.addr.family || !p->ifc)
		return;
	if (p->init_active)
		hs_wipe_handshake(&p->init);
	if (p->joining)
		n = hs_create_join(&p->init, &d->id, &p->hs, 0, fresh_spi(p->ifc), p->secret,
				   msg, sizeof(msg));
	else
		n = hs_create_initiation(&p->init, &d->id, &p->hs, 0, fresh_spi(p->ifc), msg,
					 sizeof(msg));
	if (n < 0) {
		dlog(L_ERR, "handshake_failed", "peer=%s error=\"%s\"", p->conf.name,
		     hs_strerror(n));
		return;
	}
	send_to(d->udp_fd, &p->conf.ep, msg, n);
	p->init_active = true;
	p->init_sent_ns = now;
	p->tries++;
	p->next_try_ns = now + pg_rekey_retry_ns(&d->rk, p->tries);
	dlog(L_DEBUG, "handshake_initiated", "peer=%s try=%u", p->conf.name, p->tries);
}

static void session_up(struct daemon *d, struct peer *p, bool initiator)
{
	char a[INET6_ADDRSTRLEN];

	p->last_handshake = wall_secs();
	p->tries = 0;
	dlog(p->up ? L_DEBUG : L_INFO, "handshake_complete",
	     "peer=%s role=%s endpoint=%s in_spi=0x%08x out_spi=0x%08x", p->conf.name,
	     initiator ? "initiator" : "responder", addr_text(&p->conf.ep.addr, a, sizeof(a)),
	     p->cur.in_spi, p->cur.out_spi);
	p->up = true;
}

/* Initiator, on a valid response: new in SA, then the out SA switches at once. */
static void complete_initiator(struct daemon *d, struct peer *p, struct hs_sa_keys *keys)
{
	uint64_t now = mono_ns();
	__u64 k[2];
	int err;

	p->init_active = false;
	err = add_in(d, p, keys->in_spi, keys->tag_key_in, now);
	if (err)
		return;
	tag_key(k, keys->tag_key_out);
	err = set_out(d, p, keys->out_spi, k, now);
	sodium_memzero(k, sizeof(k));
	if (err) {
		del_in(p, keys->in_spi);
		return;
	}
	retire_in(d, p, p->cur.in_spi, now);
	p->cur = (struct session){ keys->in_spi, keys->out_spi, now, true };
	/* proof of use for the responder, should we have nothing to send it */
	p->keepalives = KEEPALIVES;
	p->next_keepalive_ns = now;
	session_up(d, p, true);
	if (p->joining)
		join_finish(d, p, NULL);
}

static struct peer *peer_by_index(struct daemon *d, uint32_t idx)
{
	unsigned int i;

	for (i = 0; i < d->n_peers; i++)
		if (d->peers[i]->init_active && d->peers[i]->init.local_index == idx)
			return d->peers[i];
	return NULL;
}

static void on_response(struct daemon *d, const uint8_t *buf, size_t len, uint32_t idx)
{
	struct peer *p = peer_by_index(d, idx);
	struct hs_sa_keys keys;
	int err;

	if (!p)
		return;
	err = hs_consume_response(&p->init, buf, len);
	if (!err)
		err = hs_derive_sa_keys(&p->init, &keys);
	if (err) {
		dlog(L_DEBUG, "response_dropped", "peer=%s reason=\"%s\"", p->conf.name,
		     hs_strerror(err));
		return;
	}
	complete_initiator(d, p, &keys);
	sodium_memzero(&keys, sizeof(keys));
}

static void on_cookie(struct daemon *d, const uint8_t *buf, size_t len, uint32_t idx)
{
	struct peer *p = peer_by_index(d, idx);

	if (!p || hs_cookie_reply_consume(&p->init, buf, len))
		return;
	dlog(L_DEBUG, "cookie_received", "peer=%s", p->conf.name);
	initiate(d, p, mono_ns());	/* again, now with mac2 */
}

static void on_refusal(struct daemon *d, const uint8_t *buf, size_t len, uint32_t idx)
{
	struct peer *p = peer_by_index(d, idx);
	int reason;

	if (!p || !p->joining)
		return;
	reason = hs_refusal_consume(&p->init, p->secret, buf, len);
	if (reason != HS_E_JOIN_USED && reason != HS_E_JOIN_EXPIRED)
		return;
	join_finish(d, p, reason == HS_E_JOIN_USED ?
		    "refused by the inviting host: the token was already used" :
		    "refused by the inviting host: the token has expired");
}

/* ---- responder ---- */

static struct hs_peer *lookup_peer(void *arg, const uint8_t pub[HS_KEY_LEN])
{
	struct daemon *d = arg;
	unsigned int i;

	for (i = 0; i < d->n_peers; i++)
		if (!d->peers[i]->joining && !memcmp(d->peers[i]->conf.pub, pub, HS_KEY_LEN))
			return &d->peers[i]->hs;
	return NULL;
}

static bool endpoint_allowed(const struct peer *p, const struct pg_addr *a)
{
	unsigned int i;

	if (!p->conf.n_allow)
		return true;
	for (i = 0; i < p->conf.n_allow; i++)
		if (pg_prefix_match(&p->conf.allow[i], a))
			return true;
	return false;
}

/* Takes the source of an authenticated initiation as the peer's endpoint. */
static int learn_endpoint(struct daemon *d, struct peer *p, const struct pg_endpoint *src)
{
	char a[INET6_ADDRSTRLEN];

	if (!endpoint_allowed(p, &src->addr)) {
		dlog(L_WARN, "handshake_refused", "peer=%s reason=endpoint_not_allowed src=%s",
		     p->conf.name, addr_text(&src->addr, a, sizeof(a)));
		return -EPERM;
	}
	if (!pg_addr_same(&p->conf.ep.addr, &src->addr) || p->conf.ep.port != src->port) {
		if (p->conf.ep.addr.family && !pg_addr_same(&p->conf.ep.addr, &src->addr)) {
			drop_all_sas(p);
			dlog(L_INFO, "endpoint_changed", "peer=%s endpoint=%s", p->conf.name,
			     addr_text(&src->addr, a, sizeof(a)));
		}
		p->conf.ep = *src;
	}
	p->ifc = iface_for(d, &p->conf.ep.addr);
	if (!p->ifc) {
		dlog(L_WARN, "handshake_refused", "peer=%s reason=no_interface_for_family",
		     p->conf.name);
		return -ENODEV;
	}
	return 0;
}

/*
 * Responder, after an authenticated initiation: the new in SA goes in
 * before the response leaves, so the initiator may use its new out SA the
 * moment it has the response. Our own out SA waits (pending) until a packet
 * verifies under the new in SA: only then do we know the initiator has it.
 */
static void respond(struct daemon *d, struct peer *p, struct hs_handshake *hs,
		    const struct pg_endpoint *src)
{
	uint8_t msg[HS_RESPONSE_LEN];
	struct hs_sa_keys keys;
	uint64_t now = mono_ns();
	uint32_t spi;
	int n;

	if (learn_endpoint(d, p, src))
		goto out;
	spi = fresh_spi(p->ifc);
	n = hs_create_response(hs, 0, spi, msg, sizeof(msg));
	if (n < 0 || hs_derive_sa_keys(hs, &keys))
		goto out;
	if (add_in(d, p, keys.in_spi, keys.tag_key_in, now))
		goto out;
	save_peers(d);		/* last_ts: a replay must fail after a restart too */
	send_to(d->udp_fd, src, msg, n);
	if (p->pend.active)
		retire_in(d, p, p->pend.in_spi, now);
	p->pend.active = true;
	p->pend.in_spi = keys.in_spi;
	p->pend.out_spi = keys.out_spi;
	tag_key(p->pend.key, keys.tag_key_out);
	p->pend.since_ns = now;
	p->last_handshake = wall_secs();
	dlog(L_DEBUG, "handshake_answered", "peer=%s in_spi=0x%08x", p->conf.name, keys.in_spi);
out:
	sodium_memzero(&keys, sizeof(keys));
	hs_wipe_handshake(hs);
}

/* The pending out SA goes live once the new in SA has verified a packet. */
static void check_pending(struct daemon *d, struct peer *p, uint64_t now)
{
	struct pg_sa_info info;
	struct session s;

	if (!p->pend.active || !p->ifc)
		return;
	if (pg_sa_get_in(&p->ifc->st, p->pend.in_spi, &info) || !info.seq) {
		if (now - p->pend.since_ns >= d->rk.reject_after_ns) {
			del_in(p, p->pend.in_spi);	/* the initiator never used it */
			memset(&p->pend, 0, sizeof(p->pend));
		}
		return;
	}
	if (set_out(d, p, p->pend.out_spi, p->pend.key, now))
		return;
	retire_in(d, p, p->cur.in_spi, now);
	s = (struct session){ p->pend.in_spi, p->pend.out_spi, now, false };
	p->cur = s;
	sodium_memzero(&p->pend, sizeof(p->pend));
	session_up(d, p, false);
}

static bool under_load(struct daemon *d, uint64_t now)
{
	if (now - d->load_window_ns >= NS) {
		d->load_window_ns = now;
		d->load_count = 0;
	}
	d->load_count++;
	return d->load_count > d->load_threshold;
}

static const char *join_reason(int err)
{
	switch (err) {
	case HS_E_JOIN_USED:
		return "token_used";
	case HS_E_JOIN_EXPIRED:
		return "token_expired";
	default:
		return "token_invalid";
	}
}

static int add_peer(struct daemon *d, struct peer *p)
{
	if (d->n_peers == PG_MAX_PEERS)
		return -ENOSPC;
	d->peers[d->n_peers++] = p;
	return 0;
}

static struct peer *peer_by_name(struct daemon *d, const char *name)
{
	unsigned int i;

	for (i = 0; i < d->n_peers; i++)
		if (!strcmp(d->peers[i]->conf.name, name))
			return d->peers[i];
	return NULL;
}

/* "NAME", or "NAME-2", "NAME-3"... if taken; auto names come from the key. */
static void unique_name(struct daemon *d, const char *want, const uint8_t pub[32], char *out)
{
	char base[PG_PEER_NAME_MAX + 1];
	int i;

	if (want && *want)
		snprintf(base, sizeof(base), "%s", want);
	else
		snprintf(base, sizeof(base), "peer-%02x%02x%02x%02x", pub[0], pub[1], pub[2],
			 pub[3]);
	snprintf(out, PG_PEER_NAME_MAX + 1, "%s", base);
	for (i = 2; peer_by_name(d, out) && i < 1000; i++)
		snprintf(out, PG_PEER_NAME_MAX + 1, "%.*s-%d", PG_PEER_NAME_MAX - 4, base, i);
}

/* hs_join_fn: an unknown static key that claims an invite. */
static int decide_join(void *arg, const struct hs_join_req *req, struct hs_peer **out)
{
	struct daemon *d = arg;
	struct pg_invite *inv = NULL;
	struct pg_peer_conf conf = {};
	struct peer *p;
	size_t i;

	for (i = 0; i < d->n_inv && !inv; i++)
		if (!sodium_memcmp(d->inv[i].id, req->invite_id, sizeof(req->invite_id)))
			inv = &d->inv[i];
	if (!inv || !hs_join_proof_ok(&d->id, req, inv->secret))
		return HS_E_JOIN_INVALID;
	d->join_inv = inv;
	if (inv->expires <= wall_secs())
		return HS_E_JOIN_EXPIRED;
	if (!inv->uses_left)
		return HS_E_JOIN_USED;

	unique_name(d, inv->name, req->pub, conf.name);
	memcpy(conf.pub, req->pub, 32);
	p = peer_new(&conf);
	if (!p || add_peer(d, p)) {
		free(p);
		return HS_E_JOIN_INVALID;
	}
	inv->uses_left--;
	save_invites(d);
	dlog(L_INFO, "join_accepted", "peer=%s uses_left=%u", p->conf.name, inv->uses_left);
	*out = &p->hs;
	return 0;
}

static void on_initiation(struct daemon *d, const uint8_t *buf, size_t len, int type,
			  const struct sockaddr_in6 *from, socklen_t fromlen)
{
	uint8_t reply[HS_COOKIE_REPLY_LEN];
	struct hs_join_req req;
	struct pg_endpoint src;
	struct hs_handshake hs;
	struct hs_src hsrc;
	uint64_t now = mono_ns();
	char a[INET6_ADDRSTRLEN];
	bool load = under_load(d, now);
	int err, n;

	hs_src_from_sockaddr(&hsrc, (const struct sockaddr *)from, fromlen);
	from_sockaddr(from, &src);
	d->join_inv = NULL;
	if (type == HS_MSG_JOIN)
		err = hs_consume_join(&hs, &d->id, buf, len, &hsrc, load, lookup_peer,
				      decide_join, d, &req);
	else
		err = hs_consume_initiation(&hs, &d->id, buf, len, &hsrc, load, lookup_peer, d);

	if (err == HS_E_COOKIE) {
		n = hs_cookie_reply_create(&d->id, buf, len, &hsrc, reply, sizeof(reply));
		if (n > 0)
			send_to(d->udp_fd, &src, reply, n);
		return;
	}
	if (err == HS_E_JOIN_INVALID || err == HS_E_JOIN_USED || err == HS_E_JOIN_EXPIRED) {
		dlog(L_WARN, "join_refused", "reason=%s src=%s", join_reason(err),
		     addr_text(&src.addr, a, sizeof(a)));
		if (err != HS_E_JOIN_INVALID && d->join_inv &&
		    (n = hs_refusal_create(d->join_inv->secret, buf, len, err, reply,
					   sizeof(reply))) > 0)
			send_to(d->udp_fd, &src, reply, n);
		return;
	}
	if (err) {
		dlog(L_DEBUG, "initiation_dropped", "src=%s reason=\"%s\"",
		     addr_text(&src.addr, a, sizeof(a)), hs_strerror(err));
		return;
	}
	respond(d, hs.peer->user, &hs, &src);
	if (type == HS_MSG_JOIN)
		save_peers(d);
}

/* A keepalive or any stray datagram: check pending SAs now rather than at the tick. */
static void on_datagram(struct daemon *d)
{
	uint8_t buf[HS_MAX_MSG_LEN + 1];
	struct sockaddr_in6 from;
	socklen_t fl = sizeof(from);
	uint32_t idx;
	ssize_t n;
	int type;

	n = recvfrom(d->udp_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	if (n <= 0 || from.sin6_family != AF_INET6)
		return;
	type = hs_peek(buf, n, &idx);
	switch (type) {
	case HS_MSG_INITIATION:
	case HS_MSG_JOIN:
		on_initiation(d, buf, n, type, &from, fl);
		break;
	case HS_MSG_RESPONSE:
		on_response(d, buf, n, idx);
		break;
	case HS_MSG_COOKIE:
		on_cookie(d, buf, n, idx);
		break;
	case HS_MSG_REFUSAL:
		on_refusal(d, buf, n, idx);
		break;
	default:
		break;		/* a keepalive (one zero byte) or noise */
	}
}

/* ---- timers ---- */

static void expire_old(struct peer *p, uint64_t now)
{
	unsigned int i, n = 0;

	for (i = 0; i < p->n_old; i++) {
		if (now >= p->old[i].delete_ns)
			del_in(p, p->old[i].spi);
		else
			p->old[n++] = p->old[i];
	}
	p->n_old = n;
}

static void send_keepalive(struct daemon *d, struct peer *p, uint64_t now)
{
	static const uint8_t zero;
	struct pg_sa_info info;

	if (!p->keepalives || now < p->next_keepalive_ns)
		return;
	/* once the peer sends under our new in SA it has switched: no need */
	if (!pg_sa_get_in(&p->ifc->st, p->cur.in_spi, &info) && info.seq) {
		p->keepalives = 0;
		return;
	}
	send_to(d->ka_fd, &p->conf.ep, &zero, 1);
	p->keepalives--;
	p->next_keepalive_ns = now + d->rk.keepalive_ns;
}

static uint64_t out_seq(struct peer *p)
{
	struct pg_sa_info info;

	if (!p->ifc || !p->out_dst.family || pg_sa_get_out(&p->ifc->st, &p->out_dst, &info))
		return 0;
	return info.seq;
}

static void peer_tick(struct daemon *d, struct peer *p, uint64_t now)
{
	struct pg_rekey_state s = {
		.has_session = p->cur.in_spi != 0,
		.initiator = p->cur.initiator,
		.session_age_ns = now - p->cur.since_ns,
		.init_active = p->init_active,
		.init_age_ns = now - p->init_sent_ns,
		.retry_due = now >= p->next_try_ns,
		.has_endpoint = p->conf.ep.addr.family && p->ifc,
	};

	expire_old(p, now);
	check_pending(d, p, now);
	if (p->cur.in_spi && now - p->cur.since_ns >= d->rk.reject_after_ns) {
		dlog(L_WARN, "session_expired", "peer=%s", p->conf.name);
		del_in(p, p->cur.in_spi);
		memset(&p->cur, 0, sizeof(p->cur));
		p->up = false;
	}
	if (p->cur.in_spi)
		send_keepalive(d, p, now);
	if (p->joining && now >= p->join_deadline_ns) {
		join_finish(d, p, "no answer from the inviting host: the token may be forged "
			    "or for another host, or its endpoint is unreachable");
		return;
	}
	if (s.has_session && now >= p->next_seq_check_ns) {
		s.out_seq = out_seq(p);
		p->next_seq_check_ns = now + NS;
	}
	/* a response we sent may be about to be used: give it a moment first */
	if (!s.has_session && p->pend.active && now - p->pend.since_ns < d->rk.rekey_timeout_ns)
		return;
	if (pg_rekey_should_initiate(&d->rk, &s))
		initiate(d, p, now);
}

/* ---- control socket ---- */

static void reply(int fd, struct pg_buf *b)
{
	size_t off = 0;
	ssize_t n;

	if (fd < 0)
		return;
	while (!b->err && off < b->len) {
		n = send(fd, b->p + off, b->len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	pg_buf_free(b);
}

static void reply_error(int fd, const char *msg)
{
	struct pg_buf b = {};

	pg_buf_printf(&b, "status=error\nerror=%s\n", msg);
	reply(fd, &b);
}

static void peer_free(struct daemon *d, struct peer *p)
{
	unsigned int i;

	for (i = 0; i < d->n_peers; i++)
		if (d->peers[i] == p)
			d->peers[i] = d->peers[--d->n_peers];
	hs_wipe_handshake(&p->init);
	sodium_memzero(p, sizeof(*p));
	free(p);
}

static void join_finish(struct daemon *d, struct peer *p, const char *error)
{
	struct pg_buf b = {};
	int fd = p->join_fd;

	p->join_fd = -1;
	if (error) {
		dlog(L_WARN, "join_failed", "peer=%s reason=\"%s\"", p->conf.name, error);
		drop_all_sas(p);
		peer_free(d, p);
		reply_error(fd, error);
		return;
	}
	p->joining = false;
	sodium_memzero(p->secret, sizeof(p->secret));
	save_peers(d);
	dlog(L_INFO, "joined", "peer=%s", p->conf.name);
	pg_buf_printf(&b, "status=ok\npeer=%s\n", p->conf.name);
	reply(fd, &b);
}

static void peer_record(struct daemon *d, struct pg_buf *b, struct peer *p)
{
	char k[PG_KEY_B64_LEN + 1], s[PG_ENDPOINT_STRLEN];
	struct pg_counter rx = p->rx_gone, tx = {};
	struct pg_sa_info info;
	uint32_t spis[MAX_OLD_IN + 2];
	unsigned int i, n = 0;

	pg_key_to_base64(k, p->conf.pub);
	pg_buf_printf(b, "\npeer=%s\npublic_key=%s\n", p->conf.name, k);
	if (p->conf.ep.addr.family)
		pg_buf_printf(b, "endpoint=%s\n", pg_endpoint_str(&p->conf.ep, s, sizeof(s)));
	for (i = 0; i < p->conf.n_allow; i++)
		pg_buf_printf(b, "allow=%s\n", pg_prefix_text(&p->conf.allow[i], s, sizeof(s)));
	pg_buf_printf(b, "state=%s\nlatest_handshake=%llu\n",
		      p->joining ? "joining" : p->cur.in_spi ? "up" : "down",
		      (unsigned long long)p->last_handshake);
	for (i = 0; i < p->n_old; i++)
		spis[n++] = p->old[i].spi;
	spis[n++] = p->cur.in_spi;
	if (p->pend.active)
		spis[n++] = p->pend.in_spi;
	for (i = 0; p->ifc && i < n; i++) {
		if (spis[i] && !pg_sa_get_in(&p->ifc->st, spis[i], &info)) {
			rx.packets += info.cnt.packets;
			rx.bytes += info.cnt.bytes;
		}
	}
	if (p->ifc && p->out_dst.family && !pg_sa_get_out(&p->ifc->st, &p->out_dst, &info)) {
		tx = info.cnt;
		pg_buf_printf(b, "out_spi=0x%08x\n", info.spi);
	}
	if (p->cur.in_spi)
		pg_buf_printf(b, "in_spi=0x%08x\n", p->cur.in_spi);
	pg_buf_printf(b, "rx_packets=%llu\nrx_bytes=%llu\ntx_packets=%llu\ntx_bytes=%llu\n",
		      (unsigned long long)rx.packets, (unsigned long long)rx.bytes,
		      (unsigned long long)tx.packets, (unsigned long long)tx.bytes);
}

static void cmd_show(struct daemon *d, int fd)
{
	char k[PG_KEY_B64_LEN + 1];
	struct pg_buf b = {};
	unsigned int i;

	pg_key_to_base64(k, d->id.pub);
	pg_buf_printf(&b, "status=ok\npublic_key=%s\nport=%u\n", k, d->port);
	for (i = 0; i < d->n_ifc; i++)
		pg_buf_printf(&b, "interface=%s\n", d->ifc[i].name);
	for (i = 0; i < d->n_peers; i++)
		peer_record(d, &b, d->peers[i]);
	reply(fd, &b);
}

static const char *check_new_peer(struct daemon *d, const struct pg_peer_conf *c)
{
	unsigned int i;

	if (!memcmp(c->pub, d->id.pub, 32))
		return "that is this host's own public key";
	for (i = 0; i < d->n_peers; i++) {
		if (!strcmp(d->peers[i]->conf.name, c->name))
			return "a peer with that name exists; delete it first";
		if (!memcmp(d->peers[i]->conf.pub, c->pub, 32))
			return "a peer with that public key exists; delete it first";
	}
	return NULL;
}

static void cmd_peer_add(struct daemon *d, const struct pg_ctl_req *req, int fd)
{
	const char *name = pg_ctl_get(req, "name"), *key = pg_ctl_get(req, "public_key");
	const char *ep = pg_ctl_get(req, "endpoint"), *v, *why;
	struct pg_peer_conf c = {};
	struct pg_buf b = {};
	unsigned int i = 0;
	struct peer *p;

	if (!name || !pg_peer_name_ok(name))
		return reply_error(fd, "invalid peer name: use 1-32 of A-Z a-z 0-9 . _ -");
	strcpy(c.name, name);
	if (!key || pg_key_from_base64(c.pub, key, strlen(key)))
		return reply_error(fd, "invalid public key: expected 44 base64 characters");
	if (ep && pg_endpoint_parse(ep, PG_HS_PORT_DEFAULT, &c.ep))
		return reply_error(fd, "invalid endpoint: expected ADDR, ADDR:PORT or "
				   "[ADDR6]:PORT");
	while ((v = pg_ctl_next(req, "allow", &i))) {
		if (c.n_allow == PG_PEER_ALLOW_MAX)
			return reply_error(fd, "too many allow prefixes");
		if (pg_prefix_parse_text(v, &c.allow[c.n_allow++]))
			return reply_error(fd, "invalid allow prefix: expected ADDR/LEN with "
					   "the host bits zero");
	}
	why = check_new_peer(d, &c);
	if (why)
		return reply_error(fd, why);
	p = peer_new(&c);
	if (!p || add_peer(d, p)) {
		free(p);
		return reply_error(fd, "too many peers");
	}
	if (p->conf.ep.addr.family)
		p->ifc = iface_for(d, &p->conf.ep.addr);
	if (save_peers(d)) {
		peer_free(d, p);
		return reply_error(fd, "cannot write the peers file; see the daemon's log");
	}
	dlog(L_INFO, "peer_added", "peer=%s", p->conf.name);
	initiate(d, p, mono_ns());
	pg_buf_printf(&b, "status=ok\npeer=%s\n", p->conf.name);
	reply(fd, &b);
}

static void cmd_peer_del(struct daemon *d, const struct pg_ctl_req *req, int fd)
{
	const char *name = pg_ctl_get(req, "name");
	struct peer *p = name ? peer_by_name(d, name) : NULL;
	struct pg_buf b = {};

	if (!p || p->joining)
		return reply_error(fd, "no such peer; see pairgate peers");
	drop_all_sas(p);
	peer_free(d, p);
	save_peers(d);
	dlog(L_INFO, "peer_removed", "peer=%s", name);
	pg_buf_printf(&b, "status=ok\n");
	reply(fd, &b);
}

static int parse_num(const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;

	errno = 0;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	*v = strtoull(s, &end, 10);
	return errno || *end || *v > max ? -EINVAL : 0;
}

static int invite_endpoint(struct daemon *d, const char *s, struct pg_endpoint *ep)
{
	unsigned int i;

	if (s)
		return pg_endpoint_parse(s, d->port, ep);
	memset(ep, 0, sizeof(*ep));
	ep->port = d->port;
	for (i = 0; i < d->n_ifc; i++)
		if (!pg_if_addr(d->ifc[i].name, 4, &ep->addr) ||
		    !pg_if_addr(d->ifc[i].name, 6, &ep->addr))
			return 0;
	return -ENOENT;
}

static void cmd_invite(struct daemon *d, const struct pg_ctl_req *req, int fd)
{
	const char *name = pg_ctl_get(req, "name");
	unsigned long long ttl = 600, uses = 1;
	struct pg_invite inv = {}, *grown;
	char text[PG_TOKEN_MAX];
	struct pg_endpoint ep;
	struct pg_token t = {};
	struct pg_buf b = {};

	if (pg_ctl_get(req, "ttl") && parse_num(pg_ctl_get(req, "ttl"), 30 * 86400, &ttl))
		return reply_error(fd, "invalid ttl: seconds, at most 30 days");
	if (pg_ctl_get(req, "uses") && (parse_num(pg_ctl_get(req, "uses"), 1000, &uses) || !uses))
		return reply_error(fd, "invalid uses: 1 to 1000");
	if (name && !pg_peer_name_ok(name))
		return reply_error(fd, "invalid peer name: use 1-32 of A-Z a-z 0-9 . _ -");
	if (invite_endpoint(d, pg_ctl_get(req, "endpoint"), &ep))
		return reply_error(fd, "no endpoint: give --endpoint ADDR[:PORT] (the "
				   "interfaces have no global address)");
	if (d->n_inv >= PG_MAX_INVITES)
		return reply_error(fd, "too many outstanding invites");

	randombytes_buf(inv.secret, sizeof(inv.secret));
	hs_invite_id(inv.id, inv.secret);
	inv.expires = wall_secs() + ttl;
	inv.uses_left = uses;
	if (name)
		strcpy(inv.name, name);
	t.expires = inv.expires;
	memcpy(t.pub, d->id.pub, 32);
	memcpy(t.secret, inv.secret, 32);
	t.endpoint = ep.addr;
	t.port = ep.port;
	grown = realloc(d->inv, (d->n_inv + 1) * sizeof(*grown));
	if (!grown || pg_token_encode(&t, text, sizeof(text))) {
		d->inv = grown ? grown : d->inv;
		return reply_error(fd, "out of memory");
	}
	d->inv = grown;
	d->inv[d->n_inv++] = inv;
	sodium_memzero(&inv, sizeof(inv));
	pg_token_wipe(&t);
	if (save_invites(d)) {
		d->n_inv--;
		sodium_memzero(text, sizeof(text));
		return reply_error(fd, "cannot write the invites file; see the daemon's log");
	}
	dlog(L_INFO, "invite_created", "ttl=%llu uses=%llu", ttl, uses);
	pg_buf_printf(&b, "status=ok\ntoken=%s\n", text);
	sodium_memzero(text, sizeof(text));
	reply(fd, &b);
}

static void cmd_join(struct daemon *d, const struct pg_ctl_req *req, int fd)
{
	const char *tok = pg_ctl_get(req, "token"), *why;
	struct pg_peer_conf c = {};
	struct pg_token t;
	struct peer *p;

	if (!tok || pg_token_parse(tok, strlen(tok), &t, &why))
		return reply_error(fd, tok ? why : "no token given");
	if (t.expires <= wall_secs()) {
		pg_token_wipe(&t);
		return reply_error(fd, "the token has expired; ask for a new invite");
	}
	memcpy(c.pub, t.pub, 32);
	c.ep.addr = t.endpoint;
	c.ep.port = t.port;
	unique_name(d, pg_ctl_get(req, "name"), t.pub, c.name);
	why = check_new_peer(d, &c);
	p = why ? NULL : peer_new(&c);
	if (!why && (!p || add_peer(d, p))) {
		free(p);
		why = "too many peers";
	}
	if (!why && !(p->ifc = iface_for(d, &c.ep.addr))) {
		peer_free(d, p);
		why = "no interface has an address of the endpoint's family";
	}
	if (why) {
		pg_token_wipe(&t);
		return reply_error(fd, why);
	}
	p->joining = true;
	memcpy(p->secret, t.secret, sizeof(p->secret));
	pg_token_wipe(&t);
	p->join_fd = fd;
	p->join_deadline_ns = mono_ns() + JOIN_TIMEOUT;
	dlog(L_INFO, "join_started", "peer=%s", p->conf.name);
	initiate(d, p, mono_ns());
}

static void cmd_rekey(struct daemon *d, const struct pg_ctl_req *req, int fd)
{
	const char *name = pg_ctl_get(req, "name");
	struct pg_buf b = {};
	unsigned int i;

	for (i = 0; i < d->n_peers; i++)
		if (!d->peers[i]->joining && (!name || !strcmp(name, d->peers[i]->conf.name)))
			initiate(d, d->peers[i], mono_ns());
	pg_buf_printf(&b, "status=ok\n");
	reply(fd, &b);
}

static void handle_request(struct daemon *d, const char *buf, size_t len, int fd)
{
	struct pg_ctl_req req;
	const char *why, *cmd;
	char msg[128];

	if (pg_ctl_parse(buf, len, &req, &why)) {
		snprintf(msg, sizeof(msg), "malformed request: %s", why);
		dlog(L_WARN, "control_refused", "reason=\"%s\"", why);
		return reply_error(fd, msg);
	}
	cmd = pg_ctl_get(&req, "cmd");
	if (!strcmp(cmd, "show") || !strcmp(cmd, "peers"))
		cmd_show(d, fd);
	else if (!strcmp(cmd, "peer_add"))
		cmd_peer_add(d, &req, fd);
	else if (!strcmp(cmd, "peer_del"))
		cmd_peer_del(d, &req, fd);
	else if (!strcmp(cmd, "invite"))
		cmd_invite(d, &req, fd);
	else if (!strcmp(cmd, "join"))
		cmd_join(d, &req, fd);
	else if (!strcmp(cmd, "rekey"))
		cmd_rekey(d, &req, fd);
	else
		reply_error(fd, "unknown command; is the CLI newer than the daemon?");
	pg_ctl_free(&req);
}

/* One request per connection; a local root client, so a short blocking read. */
static void on_control(struct daemon *d)
{
	struct timeval tv = { .tv_sec = 1 };
	char buf[PG_CTL_REQ_MAX + 1];
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || cred.uid != 0) {
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	if (n < 0 || len > PG_CTL_REQ_MAX)
		return reply_error(fd, n < 0 ? "request not finished in time" : "request too long");
	handle_request(d, buf, len, fd);
	explicit_bzero(buf, len);
}

/* ---- sockets ---- */

static int open_udp(struct daemon *d)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(d->port) };
	int off = 0;

	d->udp_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	d->ka_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->udp_fd < 0 || d->ka_fd < 0 ||
	    setsockopt(d->udp_fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) ||
	    setsockopt(d->ka_fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) ||
	    bind(d->udp_fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "pairgated: opening UDP port %u: %s\n", d->port, strerror(errno));
		return -errno;
	}
	return 0;
}

static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int open_control(struct daemon *d)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int err = 0;

	if (strlen(d->sock_path) >= sizeof(sun.sun_path) || make_parent(d->sock_path)) {
		fprintf(stderr, "pairgated: cannot use control socket %s\n", d->sock_path);
		return -EINVAL;
	}
	strcpy(sun.sun_path, d->sock_path);
	d->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (d->ctl_fd < 0)
		return -errno;
	if (!connect(d->ctl_fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "pairgated: another pairgated answers on %s\n", d->sock_path);
		return -EADDRINUSE;
	}
	unlink(d->sock_path);	/* stale, from a run that was killed */
	old = umask(0177);
	if (bind(d->ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) || listen(d->ctl_fd, 16))
		err = -errno;
	umask(old);
	if (err)
		fprintf(stderr, "pairgated: control socket %s: %s\n", d->sock_path,
			strerror(-err));
	return err;
}

/* ---- main ---- */

static void on_signal(int sig)
{
	stop = 1;
}

static int parse_args(struct daemon *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 'S' },
		{ "rekey-after", required_argument, NULL, 'r' },
		{ "rekey-packets", required_argument, NULL, 'P' },
		{ "load-threshold", required_argument, NULL, 'l' },
		{ "xdp-mode", required_argument, NULL, 'x' },
		{ "psk-file", required_argument, NULL, 'k' },
		{ "drop-log-interval", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned long long v, rekey_secs = 120, packets = 1ULL << 32;
	int c;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			d->state_dir = optarg;
			break;
		case 'S':
			d->sock_path = optarg;
			break;
		case 'p':
			if (parse_num(optarg, 65535, &v) || !v)
				goto bad;
			d->port = v;
			break;
		case 'r':
			if (parse_num(optarg, 86400, &rekey_secs) || rekey_secs < 2)
				goto bad;
			break;
		case 'P':
			if (parse_num(optarg, UINT64_MAX, &packets) || packets < 100)
				goto bad;
			break;
		case 'l':
			if (parse_num(optarg, 1000000, &v))
				goto bad;
			d->load_threshold = v;
			break;
		case 'x':
			if (strcmp(optarg, "native") && strcmp(optarg, "skb"))
				goto bad;
			d->xdp_mode = strcmp(optarg, "skb") ? XDP_MODE_NATIVE : XDP_MODE_SKB;
			break;
		case 'k':
			d->psk_file = optarg;
			break;
		case 'D':
			if (parse_num(optarg, 86400, &v))
				goto bad;
			d->drop_log_secs = v;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			goto usage;
		}
	}
	pg_rekey_defaults(&d->rk, rekey_secs * NS, packets);
	if (optind == argc || argc - optind > MAX_IFACES)
		goto usage;
	for (; optind < argc; optind++) {
		if (strlen(argv[optind]) >= IFNAMSIZ || !*argv[optind])
			goto usage;
		strcpy(d->ifc[d->n_ifc++].name, argv[optind]);
	}
	return 0;
bad:
	fprintf(stderr, "pairgated: invalid value `%s' for --%s\n", optarg,
		c == 's' ? "state-dir" : c == 'p' ? "port" : c == 'r' ? "rekey-after" :
		c == 'P' ? "rekey-packets" : c == 'l' ? "load-threshold" :
		c == 'D' ? "drop-log-interval" : "xdp-mode");
	return -EINVAL;
usage:
	fputs(usage, stderr);
	return -EINVAL;
}

static int setup(struct daemon *d)
{
	const char *bpffs = getenv("PAIRGATE_BPFFS");
	uint64_t now = mono_ns();
	unsigned int i;
	int err;

	if (sodium_init() < 0 || geteuid() != 0) {
		fprintf(stderr, "pairgated: must run as root\n");
		return -EPERM;
	}
	if (bpffs && *bpffs)
		setenv("LIBXDP_BPFFS", bpffs, 0);
	umask(077);
	err = open_state_dir(d);
	if (!err)
		err = load_identity(d);
	if (!err)
		err = load_peers(d);
	if (!err)
		err = load_invites(d);
	if (!err)
		err = pg_bpffs_check();
	for (i = 0; !err && i < d->n_ifc; i++)
		err = setup_iface(d, &d->ifc[i]);
	if (!err)
		err = open_udp(d);
	if (!err)
		err = open_control(d);
	if (err)
		return err;
	for (i = 0; i < d->n_peers; i++) {
		struct peer *p = d->peers[i];

		if (!p->conf.ep.addr.family)
			continue;
		p->ifc = iface_for(d, &p->conf.ep.addr);
		adopt_sas(d, p, now);
	}
	return 0;
}

#define DROP_LOG_LINES	10

/*
 * Rate-limited summaries of who is being dropped, for a SIEM: the same
 * key=value lines as `pairgate drops --log`, from each interface's pg_srcs.
 */
static void drop_log_open(struct daemon *d)
{
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; d->drop_log_secs && i < d->n_ifc; i++) {
		struct iface *ifc = &d->ifc[i];

		snprintf(path, sizeof(path), "%s/pg_srcs", ifc->st.dir);
		ifc->srcs_fd = bpf_obj_get(path);
		if (ifc->srcs_fd < 0) {
			dlog(L_WARN, "drop_log_off", "iface=%s reason=%s", ifc->name,
			     strerror(errno));
			continue;
		}
		ifc->droplog = pg_droplog_new(ifc->name, DROP_LOG_LINES, stderr);
		if (ifc->droplog)
			pg_droplog_tick(ifc->droplog, ifc->srcs_fd);	/* the baseline */
	}
}

static void drop_log_tick(struct daemon *d)
{
	unsigned int i;

	for (i = 0; i < d->n_ifc; i++)
		if (d->ifc[i].droplog)
			pg_droplog_tick(d->ifc[i].droplog, d->ifc[i].srcs_fd);
}

static void run(struct daemon *d)
{
	struct pollfd pfd[2] = { { .fd = d->udp_fd, .events = POLLIN },
				 { .fd = d->ctl_fd, .events = POLLIN } };
	uint64_t next_tick = 0, next_drop_log, now;
	unsigned int i;
	int budget;

	drop_log_open(d);
	next_drop_log = mono_ns() + (uint64_t)d->drop_log_secs * NS;
	while (!stop) {
		if (poll(pfd, 2, TICK_MS) < 0 && errno != EINTR)
			break;
		/* bounded work per round, so a flood cannot starve the timers */
		for (budget = 256; budget && (pfd[0].revents & POLLIN); budget--) {
			on_datagram(d);
			if (poll(pfd, 1, 0) <= 0)
				break;
		}
		if (pfd[1].revents & POLLIN)
			on_control(d);
		now = mono_ns();
		if (now < next_tick)
			continue;
		next_tick = now + TICK_MS * MS;
		for (i = 0; i < d->n_peers; i++)
			peer_tick(d, d->peers[i], now);
		if (d->drop_log_secs && now >= next_drop_log) {
			drop_log_tick(d);
			next_drop_log = now + (uint64_t)d->drop_log_secs * NS;
		}
	}
}

int main(int argc, char **argv)
{
	static struct daemon d = {
		.state_dir = "/var/lib/pairgate",
		.sock_path = PG_SOCKET_DEFAULT,
		.port = PG_HS_PORT_DEFAULT,
		.xdp_mode = XDP_MODE_NATIVE,
		.load_threshold = LOAD_THRESHOLD_DEFAULT,
		.drop_log_secs = 60,
		.udp_fd = -1, .ka_fd = -1, .ctl_fd = -1, .lock_fd = -1,
	};
	struct sigaction sa = { .sa_handler = on_signal };
	char k[PG_KEY_B64_LEN + 1];

	pg_log_quiet_libs();
	if (parse_args(&d, argc, argv))
		return 1;
	if (setup(&d))
		return 1;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pg_key_to_base64(k, d.id.pub);
	dlog(L_INFO, "started", "public_key=%s port=%u peers=%u state_dir=%s", k, d.port,
	     d.n_peers, d.state_dir);
	run(&d);
	/* SAs and the data plane stay: peers keep working until the SAs expire */
	unlink(d.sock_path);
	dlog(L_INFO, "stopped", "sas=left_in_place");
	hs_wipe_identity(&d.id);
	return 0;
}
