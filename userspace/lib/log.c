// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "log.h"

bool pg_debug_enabled(void)
{
	const char *v = getenv("PAIRGATE_DEBUG");

	return v && *v && *v != '0';
}

void pg_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(PG_PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void pg_debug(const char *fmt, ...)
{
	va_list ap;

	if (!pg_debug_enabled())
		return;
	va_start(ap, fmt);
	fputs(PG_PROG " debug: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int lib_print(const char *fmt, va_list ap)
{
	if (!pg_debug_enabled())
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return lib_print(fmt, ap);
}

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	return lib_print(fmt, ap);
}

void pg_log_quiet_libs(void)
{
	libbpf_set_print(libbpf_print);
	libxdp_set_print(libxdp_print);
}
