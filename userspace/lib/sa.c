// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "log.h"
#include "netdev.h"
#include "parse.h"
#include "sa.h"

static const char *dir_name(bool out)
{
	return out ? "out" : "in";
}

union sa_key {
	__u32 spi;		/* pg_sa_in */
	struct pg_addr dst;	/* pg_sa_out */
};

union sa_value {
	struct pg_sa_in in;
	struct pg_sa_out out;
};

/* Marks the counter slots (relative to the direction's base) that SAs use. */
static int mark_used(const struct pg_state *st, bool out, bool used[PG_MAX_SA])
{
	int fd = st->fd[out ? PG_MAP_SA_OUT : PG_MAP_SA_IN];
	union sa_key key, next;
	union sa_value *v;
	void *prev = NULL;
	__u32 slot;

	v = malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, v))
			continue;	/* deleted meanwhile */
		slot = out ? v->out.slot - PG_MAX_SA : v->in.slot;
		if (slot < PG_MAX_SA)
			used[slot] = true;
	}
	explicit_bzero(v, sizeof(*v));
	free(v);
	return 0;
}

/* Lowest counter slot of the direction that no SA uses, or -ENOSPC. */
static int free_slot(const struct pg_state *st, bool out)
{
	bool used[PG_MAX_SA] = {};
	int i, err;

	err = mark_used(st, out, used);
	if (err) {
		pg_err("adding %s SA: %s", dir_name(out), strerror(-err));
		return err;
	}
	for (i = 0; i < PG_MAX_SA; i++)
		if (!used[i])
			return (out ? PG_MAX_SA : 0) + i;
	pg_err("adding %s SA: all %d %s SAs of %s are in use; delete one first",
	       dir_name(out), PG_MAX_SA, dir_name(out), st->ifname);
	return -ENOSPC;
}

/* The interface needs an address of the peer's family to talk to it at all. */
static int local_addr(const struct pg_state *st, const struct pg_addr *peer,
		      struct pg_addr *local)
{
	char a[PG_ADDR_STRLEN];

	if (!pg_addr_is_unicast(peer)) {
		pg_err("invalid peer address %s: not a unicast address a peer can have",
		       pg_addr_str(peer, a, sizeof(a)));
		return -EINVAL;
	}
	if (pg_if_addr(st->ifname, peer->family, local)) {
		pg_err("peer %s is IPv%u but %s has no global IPv%u address; add one first",
		       pg_addr_str(peer, a, sizeof(a)), peer->family, st->ifname, peer->family);
		return -EADDRNOTAVAIL;
	}
	return 0;
}

int pg_spi_filter_mark(const struct pg_state *st, __u32 spi)
{
	struct pg_spi_filter *f = NULL;
	char path[PATH_MAX];
	__u32 zero = 0;
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/pg_spi_filter", st->dir);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		pg_err("opening %s: %s; detach and attach %s again", path, strerror(-err),
		       st->ifname);
		return err;
	}
	f = malloc(sizeof(*f));
	if (!f) {
		err = -ENOMEM;
		goto out;
	}
	if (bpf_map_lookup_elem(fd, &zero, f)) {
		err = -errno;
		goto out;
	}
	f->words[(spi / 64) % (PG_SPI_FILTER_BITS / 64)] |= 1ULL << (spi % 64);
	if (bpf_map_update_elem(fd, &zero, f, BPF_ANY))
		err = -errno;
out:
	if (err)
		pg_err("updating the SPI filter of %s: %s", st->ifname, strerror(-err));
	free(f);
	close(fd);
	return err;
}

int pg_sa_add_in(const struct pg_state *st, __u32 spi, const struct pg_addr *src,
		 const __u64 key[2])
{
	struct pg_sa_in *sa;
	int err;

	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	err = bpf_map_lookup_elem(st->fd[PG_MAP_SA_IN], &spi, sa) ? 0 : -EEXIST;
	explicit_bzero(sa, sizeof(*sa));
	free(sa);
	if (err) {
		pg_err("adding in SA: SPI 0x%08x is already used by an in SA on %s; "
		       "pick another or delete it first", spi, st->ifname);
		return err;
	}

	/* manual SAs never expire */
	return pg_sa_add_in_expiring(st, spi, src, key, 0);
}

/* Finds the out SA with spi; returns 1 and its key (dst) and value, 0 if none. */
static int find_out(int fd, __u32 spi, struct pg_addr *dst, struct pg_sa_out *sa)
{
	struct pg_addr key, next;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, sa) && sa->spi == spi) {
			*dst = key;
			return 1;
		}
	}
	return 0;
}

static int out_unique(const struct pg_state *st, __u32 spi, const struct pg_addr *dst)
{
	int fd = st->fd[PG_MAP_SA_OUT];
	char a[PG_ADDR_STRLEN];
	struct pg_addr other;
	struct pg_sa_out sa;
	int err = 0;

	if (find_out(fd, spi, &other, &sa)) {
		pg_err("adding out SA: SPI 0x%08x is already used by the out SA to %s on %s; "
		       "pick another or delete it first", spi,
		       pg_addr_str(&other, a, sizeof(a)), st->ifname);
		err = -EEXIST;
	} else if (!bpf_map_lookup_elem(fd, dst, &sa)) {
		pg_err("adding out SA: %s already has an out SA (SPI 0x%08x) on %s; "
		       "delete it first", pg_addr_str(dst, a, sizeof(a)), sa.spi, st->ifname);
		err = -EEXIST;
	}
	explicit_bzero(&sa, sizeof(sa));
	return err;
}

/* The helper device that routes to paired peers point at, by name (pgr<N>). */
static int route_dev(const struct pg_state *st, const struct pg_config *cfg, char *name)
{
	struct pg_helper h;

	pg_helper_names(cfg->egress_ifindex, &h);
	strcpy(name, h.route);
	if (pg_link_exists(name))
		return 0;
	pg_err("the helper device %s of %s is missing; run pairgate detach %s and attach again",
	       name, st->ifname, st->ifname);
	return -ENODEV;
}

int pg_sa_add_out(const struct pg_state *st, const struct pg_config *cfg, __u32 spi,
		  const struct pg_addr *dst, const __u64 key[2])
{
	int fd = st->fd[PG_MAP_SA_OUT], slot, err;
	struct pg_sa_out sa = {};
	struct pg_addr local;
	char dev[IF_NAMESIZE];

	err = local_addr(st, dst, &local);
	if (!err)
		err = out_unique(st, spi, dst);
	if (!err)
		err = route_dev(st, cfg, dev);
	if (err)
		return err;
	slot = free_slot(st, true);
	if (slot < 0)
		return slot;
	err = pg_counter_zero(st->fd[PG_MAP_SA_STATS], slot);
	if (err)
		return err;

	memcpy(sa.key, key, sizeof(sa.key));
	sa.spi = spi;
	sa.slot = slot;
	err = bpf_map_update_elem(fd, dst, &sa, BPF_NOEXIST) ? -errno : 0;
	explicit_bzero(&sa, sizeof(sa));
	if (err) {
		pg_err("adding out SA 0x%08x: %s", spi, strerror(-err));
		return err;
	}

	/* The SA exists before the route, so nothing is routed to the tagger unkeyed. */
	err = pg_route_add(dev, dst, &local);
	if (err)
		bpf_map_delete_elem(fd, dst);
	else
		pg_neigh_keep(st->ifname, dst);
	return err;
}

static int del_out(const struct pg_state *st, const struct pg_config *cfg, __u32 spi)
{
	int fd = st->fd[PG_MAP_SA_OUT], err;
	struct pg_sa_out sa;
	struct pg_helper h;
	struct pg_addr dst;

	err = find_out(fd, spi, &dst, &sa);
	explicit_bzero(&sa, sizeof(sa));
	if (!err)
		return -ENOENT;

	/* Route first: traffic to the peer must not reach the tagger without an SA. */
	pg_helper_names(cfg->egress_ifindex, &h);
	err = pg_route_del(h.route, &dst);
	if (err && err != -ENOENT)
		return err;
	pg_neigh_forget(st->ifname, &dst);
	if (bpf_map_delete_elem(fd, &dst)) {
		err = -errno;
		pg_err("deleting out SA 0x%08x: %s", spi, strerror(-err));
		return err;
	}
	return 0;
}

int pg_sa_del(const struct pg_state *st, const struct pg_config *cfg, bool out, __u32 spi)
{
	int err;

	if (out)
		err = del_out(st, cfg, spi);
	else
		err = bpf_map_delete_elem(st->fd[PG_MAP_SA_IN], &spi) ? -errno : 0;
	if (err == -ENOENT)
		pg_err("deleting %s SA: no %s SA with SPI 0x%08x on %s; see pairgate sa list %s",
		       dir_name(out), dir_name(out), spi, st->ifname, st->ifname);
	else if (err && !out)
		pg_err("deleting in SA 0x%08x: %s", spi, strerror(-err));
	return err;
}

struct sa_vec {
	struct pg_sa_info *v;
	size_t n, cap;
};

static struct pg_sa_info *sa_push(struct sa_vec *vec)
{
	struct pg_sa_info *tmp;

	if (vec->n == vec->cap) {
		vec->cap = vec->cap ? 2 * vec->cap : 16;
		tmp = realloc(vec->v, vec->cap * sizeof(*tmp));
		if (!tmp)
			return NULL;
		vec->v = tmp;
	}
	memset(&vec->v[vec->n], 0, sizeof(vec->v[0]));
	return &vec->v[vec->n++];
}

/* Reads max_seq under the SA's spin lock; older kernels without BPF_F_LOCK on lookup still work. */
static int lookup_in(int fd, __u32 spi, struct pg_sa_in *sa)
{
	if (!bpf_map_lookup_elem_flags(fd, &spi, sa, BPF_F_LOCK))
		return 0;
	return bpf_map_lookup_elem(fd, &spi, sa) ? -errno : 0;
}

static int list_in(const struct pg_state *st, struct sa_vec *vec)
{
	int fd = st->fd[PG_MAP_SA_IN], err = 0;
	struct pg_sa_info *info;
	struct pg_sa_in *sa;
	__u32 key, next;
	void *prev = NULL;

	sa = malloc(sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	while (!err && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (lookup_in(fd, key, sa))
			continue;	/* deleted meanwhile */
		info = sa_push(vec);
		if (!info) {
			err = -ENOMEM;
			break;
		}
		info->spi = key;
		info->peer = sa->peer;
		info->seq = sa->max_seq;
		err = pg_counter_sum(st->fd[PG_MAP_SA_STATS], sa->slot, &info->cnt);
	}
	explicit_bzero(sa, sizeof(*sa));
	free(sa);
	return err;
}

static int list_out(const struct pg_state *st, struct sa_vec *vec)
{
	int fd = st->fd[PG_MAP_SA_OUT], err = 0;
	struct pg_addr key, next;
	struct pg_sa_info *info;
	struct pg_sa_out sa;
	void *prev = NULL;

	while (!err && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &sa))
			continue;
		info = sa_push(vec);
		if (!info) {
			err = -ENOMEM;
			break;
		}
		info->out = true;
		info->spi = sa.spi;
		info->peer = key;
		info->seq = sa.seq;
		err = pg_counter_sum(st->fd[PG_MAP_SA_STATS], sa.slot, &info->cnt);
	}
	explicit_bzero(&sa, sizeof(sa));
	return err;
}

static int sa_cmp(const void *pa, const void *pb)
{
	const struct pg_sa_info *a = pa, *b = pb;

	if (a->out != b->out)
		return a->out - b->out;
	return a->spi < b->spi ? -1 : a->spi > b->spi;
}

int pg_sa_list(const struct pg_state *st, struct pg_sa_info **sas, size_t *n)
{
	struct sa_vec vec = {};
	int err;

	err = list_in(st, &vec);
	if (!err)
		err = list_out(st, &vec);
	if (err) {
		if (err == -ENOMEM)
			pg_err("listing SAs of %s: %s", st->ifname, strerror(-err));
		free(vec.v);
		return err;
	}
	if (vec.n)
		qsort(vec.v, vec.n, sizeof(*vec.v), sa_cmp);
	*sas = vec.v;
	*n = vec.n;
	return 0;
}

/* ---- SAs with a lifetime, for pairgated ---- */

int pg_sa_add_in_expiring(const struct pg_state *st, __u32 spi, const struct pg_addr *src,
			  const __u64 key[2], __u64 expires_ns)
{
	int fd = st->fd[PG_MAP_SA_IN], slot, err;
	struct pg_addr local;
	struct pg_sa_in *sa;

	err = local_addr(st, src, &local);
	if (err)
		return err;
	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	slot = free_slot(st, false);
	err = slot < 0 ? slot : pg_counter_zero(st->fd[PG_MAP_SA_STATS], slot);
	if (err)
		goto out;

	err = pg_spi_filter_mark(st, spi);
	if (err)
		goto out;
	memcpy(sa->key, key, sizeof(sa->key));
	sa->expires_ns = expires_ns;
	sa->peer = *src;
	sa->slot = slot;
	/* BPF_NOEXIST: an SPI in use is never overwritten, the caller picks another. */
	if (bpf_map_update_elem(fd, &spi, sa, BPF_NOEXIST)) {
		err = -errno;
		pg_err("adding in SA 0x%08x: %s", spi, strerror(-err));
	}
out:
	explicit_bzero(sa, sizeof(*sa));
	free(sa);
	return err;
}

/*
 * Installs or replaces the out SA to dst in one map update: the tagger sees
 * the old SA or the new one (spi, key, seq 0, expiry), never a mix, and the
 * counter slot and host route stay.
 */
int pg_sa_set_out(const struct pg_state *st, const struct pg_config *cfg, __u32 spi,
		  const struct pg_addr *dst, const __u64 key[2], __u64 expires_ns)
{
	int fd = st->fd[PG_MAP_SA_OUT], slot, err;
	struct pg_sa_out old, sa = {};
	struct pg_addr local;
	char dev[IF_NAMESIZE];
	bool fresh;

	err = local_addr(st, dst, &local);
	if (!err)
		err = route_dev(st, cfg, dev);
	if (err)
		return err;
	fresh = bpf_map_lookup_elem(fd, dst, &old) != 0;
	slot = fresh ? free_slot(st, true) : (int)old.slot;
	explicit_bzero(&old, sizeof(old));
	if (slot < 0)
		return slot;
	if (fresh && (err = pg_counter_zero(st->fd[PG_MAP_SA_STATS], slot)))
		return err;

	memcpy(sa.key, key, sizeof(sa.key));
	sa.expires_ns = expires_ns;
	sa.spi = spi;
	sa.slot = slot;
	err = bpf_map_update_elem(fd, dst, &sa, fresh ? BPF_NOEXIST : BPF_EXIST) ? -errno : 0;
	explicit_bzero(&sa, sizeof(sa));
	if (err) {
		pg_err("setting out SA 0x%08x: %s", spi, strerror(-err));
		return err;
	}
	if (!fresh)
		return 0;
	err = pg_route_add(dev, dst, &local);
	if (err == -EEXIST)
		err = 0;	/* left by an earlier run: it points at the same device */
	if (err)
		bpf_map_delete_elem(fd, dst);
	else
		pg_neigh_keep(st->ifname, dst);
	return err;
}

int pg_sa_get_in(const struct pg_state *st, __u32 spi, struct pg_sa_info *info)
{
	struct pg_sa_in *sa;
	int err;

	sa = malloc(sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	err = lookup_in(st->fd[PG_MAP_SA_IN], spi, sa);
	if (!err) {
		memset(info, 0, sizeof(*info));
		info->spi = spi;
		info->peer = sa->peer;
		info->seq = sa->max_seq;
		err = pg_counter_sum(st->fd[PG_MAP_SA_STATS], sa->slot, &info->cnt);
	}
	explicit_bzero(sa, sizeof(*sa));
	free(sa);
	return err;
}

int pg_sa_get_out(const struct pg_state *st, const struct pg_addr *dst, struct pg_sa_info *info)
{
	struct pg_sa_out sa;
	int err;

	if (bpf_map_lookup_elem(st->fd[PG_MAP_SA_OUT], dst, &sa))
		return -errno;
	memset(info, 0, sizeof(*info));
	info->out = true;
	info->spi = sa.spi;
	info->peer = *dst;
	info->seq = sa.seq;
	err = pg_counter_sum(st->fd[PG_MAP_SA_STATS], sa.slot, &info->cnt);
	explicit_bzero(&sa, sizeof(sa));
	return err;
}
