// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer harness: arbitrary text into the invite token parser, and every
 * token it accepts back through the encoder, which must reproduce a token
 * that parses to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "invite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1), text[PG_TOKEN_MAX];
	struct pg_token t, u;
	const char *why;

	if (!s)
		return 0;
	memcpy(s, data, size);
	if (!pg_token_parse(s, size, &t, &why)) {
		if (pg_token_encode(&t, text, sizeof(text)) ||
		    pg_token_parse(text, strlen(text), &u, &why) || memcmp(&t, &u, sizeof(t)))
			abort();
	}
	free(s);
	return 0;
}
