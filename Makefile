# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# pairgate: build, test, bench, demo. `make V=1` shows the commands.

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
DESTDIR ?=

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

OUT := build
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Iinclude -Iuserspace/lib -I$(OUT) \
	  -MMD -MP
LDLIBS := -lxdp -lbpf -lelf -lz -lsodium
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -Iinclude -Ibpf \
	      -idirafter /usr/include/$(MULTIARCH)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))
LIB_SRCS := $(wildcard userspace/lib/*.c)
LIB_OBJS := $(patsubst userspace/lib/%.c,$(OUT)/lib/%.o,$(LIB_SRCS))
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(OUT)/bench/%,$(BENCH_SRCS))

.PHONY: all deps test bench fuzz demo install uninstall clean
.DELETE_ON_ERROR:
.SECONDARY:

DAEMON := $(if $(wildcard userspace/pairgated.c),$(OUT)/pairgated)

all: deps $(OUT)/pairgate $(DAEMON) $(UNIT_BINS) $(BENCH_BINS)

# Installs whatever Debian packages are missing (needs root); a no-op when all
# are present, so plain `make` works for an unprivileged user on a set-up box.
deps:
	$(Q)tools/install-deps.sh

# bench_noflows.bpf.c includes pairgate.bpf.c, hence the extra prerequisite.
$(OUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) include/pairgate.h bpf/pairgate.bpf.c
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(OUT)/lib/%.o: userspace/lib/%.c $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/libpg.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUT)/pairgate: userspace/pairgate.c $(OUT)/libpg.a $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/libpg.a $(LDLIBS) -o $@

$(OUT)/pairgated: userspace/pairgated.c $(OUT)/libpg.a $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/libpg.a $(LDLIBS) -o $@

$(OUT)/tests/%: tests/unit/%.c $(OUT)/libpg.a $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/libpg.a $(LDLIBS) -lpcap -lpthread -o $@

$(OUT)/bench/%: tests/bench/%.c $(OUT)/libpg.a $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/libpg.a $(LDLIBS) -lpcap -lpthread -o $@

test: all
	$(Q)tests/run.sh

bench: all
	$(Q)tests/bench/run.sh

# Longer fuzzing than `make test` does; FUZZ_SECONDS per harness.
FUZZ_SECONDS ?= 300
fuzz: deps
	$(Q)tests/fuzz/run.sh $(FUZZ_SECONDS)

demo: all
	$(Q)tools/demo.sh

install: all
	install -D -m 0755 $(OUT)/pairgate $(DESTDIR)$(SBINDIR)/pairgate
	$(if $(DAEMON),install -D -m 0755 $(OUT)/pairgated $(DESTDIR)$(SBINDIR)/pairgated)

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/pairgate $(DESTDIR)$(SBINDIR)/pairgated

clean:
	rm -rf $(OUT)

-include $(wildcard $(OUT)/*.d $(OUT)/lib/*.d $(OUT)/tests/*.d $(OUT)/bench/*.d)
