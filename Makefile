# Inventory — one build system, one command to build, one to test.
#
#   make                         bin/inventory (release flags)
#   make SANITIZE=address,undefined
#                                same binary with ASan+UBSan (objects apart)
#   make test                    bootstrap, sanitizer build, unit + integration
#   make demo                    bootstrap, build, local stack, run the system
#   make lint                    clang-format check + cppcheck
#   make fuzz                    libFuzzer targets (clang) under build/fuzz

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
COMMIT   := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

CC       ?= cc
PKGS     := libpq hiredis jansson yaml-0.1 libmicrohttpd libcrypto libcurl libxml-2.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT      ?= -O2
ifneq ($(SANITIZE),)
O        ?= build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT      := -O1
else
O        ?= build/rel
endif
CFLAGS_BASE := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing -g \
	-Isrc -I$(O)/gen $(PKG_CFLAGS) \
	-DINV_VERSION='"$(VERSION)"' -DINV_COMMIT='"$(COMMIT)"'
LDLIBS   := $(PKG_LIBS) -lpthread -lm

BIN      ?= bin/inventory

CFLAGS   := $(CFLAGS_BASE) $(OPT) $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS  += $(SANFLAGS)

SRCS     := $(shell find src -name '*.c' | sort)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o) $(O)/gen/migrations_data.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
MIGRATIONS := $(sort $(wildcard migrations/*.sql))

.PHONY: all clean test unit integration demo lint format fuzz fuzz-smoke bootstrap bench-bins unit-bins
all: $(BIN)

# V=1 shows full command lines.
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(BIN): $(O)/src/main.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# Migrations are compiled into the binary so an installed binary needs no
# source tree (database.migration_dir overrides).
$(O)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=c17 -Wall -Wextra -Werror -O1 -o $@ $<

$(O)/gen/migrations_data.c: $(O)/tools/embed $(MIGRATIONS) Makefile
	@mkdir -p $(dir $@)
	$(Q)$(O)/tools/embed $@ $(MIGRATIONS)

$(O)/gen/migrations_data.o: $(O)/gen/migrations_data.c
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# Unit tests link only the library objects (no main) plus cmocka.
$(O)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) -o $@ $< $(LIB_OBJS) $(LDFLAGS) \
		$(LDLIBS) $(shell pkg-config --libs cmocka)

# Test helpers and provider fakes (tests/tools, tests/fakes) link the library too.
TOOL_SRCS := $(wildcard tests/tools/*.c tests/fakes/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/%.c=$(O)/tests/%)
$(O)/tests/tools/%: tests/tools/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  TOOL    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS)
$(O)/tests/fakes/%: tests/fakes/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  FAKE    $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS)

unit-bins: $(UNIT_BINS) $(TOOL_BINS)

# Benchmark helpers (bench/*.c) link the library like unit tests do.
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(O)/bench/%)
$(O)/bench/%: bench/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  BENCH   $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS)

bench-bins: $(BENCH_BINS)

bootstrap:
	@scripts/bootstrap

# The test command: sanitizer build, every unit and integration test, and a
# closing "N passed, N failed" line.
test: bootstrap
	@$(MAKE) --no-print-directory SANITIZE=address,undefined O=build/san BIN=build/san/inventory \
		build/san/inventory unit-bins
	@tests/run --build build/san

demo: bootstrap
	@$(MAKE) --no-print-directory
	@scripts/demo

lint:
	@scripts/lint

format:
	@clang-format -i $$(find src tests/unit tests/tools tests/fakes fuzz tools -name '*.[ch]')

FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
fuzz: $(FUZZ_SRCS)
	@$(MAKE) --no-print-directory CC=clang O=build/fuzz-obj \
		EXTRA_CFLAGS='-fsanitize=fuzzer-no-link,address,undefined' build/fuzz-obj/gen/migrations_data.o \
		$(LIB_SRCS:%.c=build/fuzz-obj/%.o)
	@mkdir -p build/fuzz
	@for f in $(FUZZ_SRCS); do \
		n=$$(basename $$f .c); \
		clang $(CFLAGS_BASE) -O1 -fsanitize=fuzzer,address,undefined -o build/fuzz/$$n $$f \
			$(LIB_SRCS:%.c=build/fuzz-obj/%.o) build/fuzz-obj/gen/migrations_data.o $(LDLIBS) || exit 1; \
		echo "built build/fuzz/$$n"; \
	done

# A short run of every fuzz target over its seed corpus (CI); FUZZ_SECONDS each.
FUZZ_SECONDS ?= 20
fuzz-smoke: fuzz
	@for f in $(FUZZ_SRCS); do \
		n=$$(basename $$f .c); c=fuzz/corpus/$${n#fuzz_}; w=$$(mktemp -d); \
		echo "== $$n ($(FUZZ_SECONDS)s)"; \
		build/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=0 \
			$$w $$c >$$w.log 2>&1 || { tail -40 $$w.log; rm -rf $$w $$w.log; exit 1; }; \
		grep -E "^(Done|#[0-9]+ *DONE)" $$w.log | tail -1; rm -rf $$w $$w.log; \
	done

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
