// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness: arbitrary bytes as a control-socket request, and the
 * value parsers the daemon applies to its fields (endpoints, prefixes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "pairstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pg_ctl_req req;
	struct pg_endpoint ep;
	struct pg_prefix pfx;
	const char *why, *v;
	char *copy;
	unsigned int i;

	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (!pg_ctl_parse(copy, size, &req, &why)) {
		for (i = 0; i < req.n; i++) {
			v = req.f[i].val;
			pg_endpoint_parse(v, 51821, &ep);
			pg_prefix_parse_text(v, &pfx);
			pg_peer_name_ok(v);
		}
		pg_ctl_free(&req);
	}
	free(copy);
	return 0;
}
