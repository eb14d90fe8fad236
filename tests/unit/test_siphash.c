// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The BPF SipHash-2-4 (bpf/siphash.h, run through BPF_PROG_TEST_RUN) against
 * the reference vectors and against libsodium on random keys and inputs of
 * every length from 0 to PG_MAX_L4_LEN.
 */
#include <sodium.h>

#include "pairgate.h"
#include "testlib.h"
#include "test_siphash.skel.h"

#define SKIP 16
#define VECTORS "../shared/testvectors/siphash24-64.txt"

static int bpf_siphash(struct test_siphash_bpf *skel, const uint8_t key[16],
		       const uint8_t *msg, size_t len, uint8_t out[8])
{
	uint8_t frame[SKIP + PG_MAX_L4_LEN] = { 0 };
	struct tl_run r;

	memcpy(skel->bss->key, key, 16);
	memcpy(frame + SKIP, msg, len);
	skel->bss->status = -99;
	tl_prog_run(bpf_program__fd(skel->progs.siphash_frame), frame, SKIP + len, &r);
	if (r.err || skel->bss->status)
		return -1;
	memcpy(out, &skel->bss->result, 8);	/* little-endian, as SipHash writes it */
	return 0;
}

static int hex_decode(const char *hex, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
			return -1;
	return 0;
}

static void test_reference_vectors(struct test_siphash_bpf *skel)
{
	uint8_t key[16], msg[64], want[8], got[8];
	char line[256], hex[64];
	int n = 0, bad = 0, len;
	FILE *f;
	size_t i;

	for (i = 0; i < 16; i++)
		key[i] = i;
	for (i = 0; i < 64; i++)
		msg[i] = i;

	f = fopen(VECTORS, "r");
	if (!f) {
		tl_check(0, "siphash_reference_vectors", "cannot open %s: %s", VECTORS,
			 strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || sscanf(line, "%d %63s", &len, hex) != 2)
			continue;
		if (len < 0 || len > 64 || hex_decode(hex, want, 8))
			continue;
		n++;
		if (bpf_siphash(skel, key, msg, len, got) || memcmp(got, want, 8))
			bad++;
	}
	fclose(f);
	tl_check(n == 64 && !bad, "siphash_reference_vectors", "%d of %d vectors differ", bad, n);
}

static void test_random_lengths(struct test_siphash_bpf *skel)
{
	uint8_t key[16], msg[PG_MAX_L4_LEN], want[8], got[8];
	int bad = 0, first_bad = -1;
	size_t len;

	for (len = 0; len <= PG_MAX_L4_LEN; len++) {
		randombytes_buf(key, sizeof(key));
		randombytes_buf(msg, len);
		crypto_shorthash_siphash24(want, msg, len, key);
		if (bpf_siphash(skel, key, msg, len, got) || memcmp(got, want, 8)) {
			if (first_bad < 0)
				first_bad = len;
			bad++;
		}
	}
	tl_check(!bad, "siphash_random_every_length_0_1500",
		 "%d lengths differ from libsodium, first at %d", bad, first_bad);
}

/* A message past the loop bound must be refused, never hashed short. */
static void test_over_bound(struct test_siphash_bpf *skel)
{
	uint8_t frame[SKIP + PG_MAX_L4_LEN + 8] = { 0 };
	struct tl_run r;

	skel->bss->status = -99;
	tl_prog_run(bpf_program__fd(skel->progs.siphash_frame), frame, sizeof(frame), &r);
	tl_check(!r.err && skel->bss->status == -1, "siphash_refuses_over_bound",
		 "err %d status %d", r.err, skel->bss->status);
}

int main(void)
{
	struct test_siphash_bpf *skel;

	libbpf_set_print(tl_silent_print);
	if (sodium_init() < 0) {
		tl_check(0, "siphash_setup", "sodium_init failed");
		return tl_exit();
	}
	skel = test_siphash_bpf__open_and_load();
	if (!skel) {
		tl_check(0, "siphash_setup", "cannot load test_siphash.bpf.o: %s", strerror(errno));
		return tl_exit();
	}

	test_reference_vectors(skel);
	test_random_lengths(skel);
	test_over_bound(skel);

	test_siphash_bpf__destroy(skel);
	return tl_exit();
}
