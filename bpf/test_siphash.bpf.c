// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test harness for bpf/siphash.h: hashes the frame after its first
 * PG_TEST_SKIP bytes (test runs need a frame of at least Ethernet size) with
 * the key in .bss and stores the result for userspace to compare.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "pairgate.h"
#include "siphash.h"

#define PG_TEST_SKIP 16

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u64 key[2];
__u64 result;
int status;

SEC("xdp")
int siphash_frame(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data - PG_TEST_SKIP;
	struct siphash_state s;
	__u64 last;

	sip_init(&s, key[0], key[1]);
	status = sip_absorb_pkt(&s, data, data_end, PG_TEST_SKIP, len, 0xffffffff, ~0ULL,
				len, &last);
	if (!status)
		result = sip_final(&s, last);
	return XDP_DROP;
}
