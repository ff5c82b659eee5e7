# xmppd: one non-recursive Makefile.  See README.md for the two commands.

CC       ?= gcc
BUILD    ?= build
PKGS      = libevent libevent_openssl libevent_pthreads expat openssl \
            libsodium libpq yaml-0.1 jansson libidn libidn2 libcares
CSTD      = -std=c11 -D_GNU_SOURCE
WARN      = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Werror=implicit-function-declaration
OPT      ?= -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN      ?=
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(SAN) -I. -I$(BUILD) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LDLIBS_ALL = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm $(LDLIBS)

# Everything but the programs' main files goes into the static library.
MAINS     = xmppd/core/main.c xmppd/ctl/xmppctl.c
LIB_SRCS  = $(filter-out $(MAINS), $(sort $(wildcard xmppd/*.c xmppd/*/*.c \
            reputation/*.c buddies/*.c db/*.c)))
LIB_OBJS  = $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS = $(UNIT_SRCS:%.c=$(BUILD)/%)
# Shared test support (a private PostgreSQL, the fake server of main.c),
# linked into every unit test.
UNIT_SUPPORT_OBJS = $(patsubst %.c,$(BUILD)/obj/%.o, \
            $(sort $(wildcard tests/unit/support/*.c)))
BENCH_SRCS = $(sort $(wildcard tests/bench/*.c))
# Issue 5's reputation benches: one program per file, not part of loadgen.
REP_BENCH_SRCS = $(sort $(wildcard tests/bench/rep/*.c))
REP_BENCH_BINS = $(REP_BENCH_SRCS:%.c=$(BUILD)/%)
# Issue 6's trust-flag and gate benches: one program per file as well.
TRUST_BENCH_SRCS = $(sort $(wildcard tests/bench/trust/*.c))
TRUST_BENCH_BINS = $(TRUST_BENCH_SRCS:%.c=$(BUILD)/%)
# The load generator's client pieces (set-up, login, TLS, SCRAM, a crowd
# of sessions), for evgen and subflood.
LG_CLIENT_SRCS = tests/bench/setup.c tests/bench/client.c \
            tests/bench/batch.c tests/bench/crowd.c tests/bench/stats.c
# What the one-program benches share (tests/bench/common/bench.h).
BENCH_COMMON_SRCS = $(sort $(wildcard tests/bench/common/*.c))
BENCH_COMMON_DEPS = $(BENCH_COMMON_SRCS) $(wildcard tests/bench/common/*.h)
MIGRATIONS = $(sort $(wildcard db/migrations/*.sql))

.PHONY: all run test check check-unit check-integration check-interop \
        bench bench-rep bench-trust asan fuzz deps format format-check clean

all: $(BUILD)/xmppd $(BUILD)/xmppctl

deps:
	@deploy/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# The migrations are compiled in, so a binary always carries its schema.
$(BUILD)/db/migrations.h: $(MIGRATIONS) db/embed-migrations.sh
	@mkdir -p $(dir $@)
	sh db/embed-migrations.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/db/migrate.o: $(BUILD)/db/migrations.h

$(BUILD)/libxmppd.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/xmppd: $(BUILD)/obj/xmppd/core/main.o $(BUILD)/libxmppd.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/xmppctl: $(BUILD)/obj/xmppd/ctl/xmppctl.o $(BUILD)/libxmppd.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

# Built once, kept: make would delete them as intermediates otherwise.
.SECONDARY: $(UNIT_SUPPORT_OBJS)
$(BUILD)/tests/unit/%: tests/unit/%.c $(UNIT_SUPPORT_OBJS) \
        $(wildcard tests/unit/support/*.h) $(BUILD)/libxmppd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(UNIT_SUPPORT_OBJS) $(BUILD)/libxmppd.a \
	    $(LDLIBS_ALL) -lcmocka

$(BUILD)/tests/bench/loadgen: $(BENCH_SRCS) tests/bench/loadgen.h \
        $(BUILD)/libxmppd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(BENCH_SRCS) $(BUILD)/libxmppd.a $(LDLIBS_ALL) -lm

$(BUILD)/tests/bench/rep/%: tests/bench/rep/%.c $(BENCH_COMMON_DEPS) \
        $(BUILD)/libxmppd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BENCH_COMMON_SRCS) $(BUILD)/libxmppd.a \
	    $(LDLIBS_ALL) -lm

$(BUILD)/tests/bench/trust/%: tests/bench/trust/%.c $(BENCH_COMMON_DEPS) \
        $(BUILD)/libxmppd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BENCH_COMMON_SRCS) $(BUILD)/libxmppd.a \
	    $(LDLIBS_ALL) -lm

# evgen and subflood are also built from the load generator's pieces.
$(BUILD)/tests/bench/rep/evgen $(BUILD)/tests/bench/trust/subflood: \
        $(BUILD)/tests/bench/%: tests/bench/%.c $(LG_CLIENT_SRCS) \
        tests/bench/loadgen.h $(BENCH_COMMON_DEPS) $(BUILD)/libxmppd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LG_CLIENT_SRCS) $(BENCH_COMMON_SRCS) \
	    $(BUILD)/libxmppd.a $(LDLIBS_ALL) -lm

# make run: install what is missing, build, start the private PostgreSQL
# and xmppd on 127.0.0.1:5222 in the foreground.
run:
	@deploy/install-deps.sh
	@$(MAKE) --no-print-directory all
	@deploy/run.sh

test:
	@deploy/install-deps.sh --all
	@$(MAKE) --no-print-directory check

check: check-unit check-integration check-interop

check-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

check-integration: all
	XMPPD_BUILD=$(BUILD) tests/run-integration.sh tests/integration

# Federation with Prosody and ejabberd as peers (tests/interop/README.md).
check-interop: all
	XMPPD_BUILD=$(BUILD) tests/run-interop.sh

bench: all $(BUILD)/tests/bench/loadgen $(REP_BENCH_BINS) \
        $(TRUST_BENCH_BINS)
	tests/bench/run.sh
	tests/bench/rep.sh
	tests/bench/trust.sh

# Issue 5's reputation benches alone (tests/bench/README.md).
bench-rep: all $(BUILD)/tests/bench/loadgen $(REP_BENCH_BINS)
	tests/bench/rep.sh

# Issue 6's trust-flag and gate benches alone (tests/bench/README.md);
# the flood bench borrows rep's lagprobe.
bench-trust: all $(BUILD)/tests/bench/loadgen $(TRUST_BENCH_BINS) \
        $(BUILD)/tests/bench/rep/lagprobe
	tests/bench/trust.sh

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" check

# libFuzzer targets (clang): build them all, then run each for FUZZ_SECONDS
# over its corpus.  Not part of `make test`: fuzzing is open-ended.
FUZZ_SRCS    = $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 30
FUZZ_LIB_SRCS = $(filter-out $(MAINS), $(sort $(wildcard xmppd/xml/*.c \
            xmppd/core/mem.c xmppd/core/log.c xmppd/core/clock.c \
            xmppd/core/buf.c)))
fuzz:
	@mkdir -p build-fuzz
	@set -e; for f in $(FUZZ_SRCS); do \
	    b=build-fuzz/$$(basename $$f .c); \
	    echo "  FUZZ  $$b"; \
	    clang $(CSTD) -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	        $$(pkg-config --cflags $(PKGS)) -o $$b $$f $(FUZZ_LIB_SRCS) \
	        $(LDLIBS_ALL); \
	    corpus=tests/fuzz/corpus_$$(basename $$f .c | sed 's/^fuzz_//'); \
	    mkdir -p build-fuzz/new; \
	    $$b -max_total_time=$(FUZZ_SECONDS) build-fuzz/new $$corpus; \
	done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJS:.o=.d) $(UNIT_SUPPORT_OBJS:.o=.d) \
    $(BUILD)/obj/xmppd/core/main.d $(BUILD)/obj/xmppd/ctl/xmppctl.d
