/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * attach and detach: load the programs, build the egress helper, put XDP on
 * the interface and pin the maps; and take all of it away again.
 */
#ifndef PG_ATTACH_H
#define PG_ATTACH_H

#include <stddef.h>

#include <xdp/libxdp.h>

#include "parse.h"
#include "pins.h"

#define PG_XDP_PROG_NAME	"pg_xdp_ingress"

struct pg_attach_opts {
	enum xdp_attach_mode mode;	/* XDP_MODE_NATIVE or XDP_MODE_SKB */
	__u32 flags;			/* PG_CFG_* */
	const struct pg_rule *allow;	/* inserted before XDP goes on */
	size_t n_allow;
};

/* st must be locked and empty. All or nothing: on failure nothing is left. */
int pg_attach(struct pg_state *st, int ifindex, const struct pg_attach_opts *opts);

/*
 * Takes down whatever of an attachment is still there; ifindex is 0 when the
 * interface itself is gone. Prints a line for each part it could not remove.
 */
int pg_detach(struct pg_state *st, int ifindex);

const char *pg_xdp_mode_name(__u32 mode);

#endif /* PG_ATTACH_H */
