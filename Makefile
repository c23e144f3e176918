# idp - build, test, bench, fuzz.
#
#   make            build ./idp
#   make test       unit, golden, fmt, cli, fuzz-replay and stress suites, then all of them again
#                   under ASan and UBSan; ends with `tests: N passed, N failed, N skipped`
#   make bench      front-end, plan and apply benchmarks (generated specs under build/bench/)
#   make fuzz       run the libFuzzer harness for the parser (needs clang)
#   make demo       the quickstart end to end (examples/quickstart/run.sh: real servers on loopback)
#   make install    install idp into $(PREFIX)/bin

CC       ?= cc
PREFIX   ?= /usr/local
BUILD    ?= build
CFLAGS   ?= -O2 -g
WARN      = -std=c11 -Wall -Wextra -Werror
CPPFLAGS += -D_GNU_SOURCE -Igrammar -Icompiler -Iruntime -I$(BUILD)/gen -I/usr/include/postgresql
LDLIBS   ?= -ljansson -lcrypto -lyaml -lcurl -lpq -lm -pthread

VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

# Generated sources (never committed).
GEN_C  = $(BUILD)/gen/parser.c $(BUILD)/gen/lexer.c
GEN_H  = $(BUILD)/gen/parser.h $(BUILD)/gen/lexer.h

# The library: everything but main, shared by idp, the unit tests, the fuzzer and the benchmark.
# Object files are named after their source's base name: names must be unique across folders.
LIB_SRC = $(wildcard compiler/*.c) grammar/parse.c $(wildcard runtime/*.c) $(wildcard runtime/drivers/*.c)
CLI_SRC = $(wildcard cli/*.c)

# Generated code gets the same warnings, less the ones flex and bison trip by design.
GEN_FLAGS = -Wno-unused-function -Wno-sign-compare -Wno-unused-parameter

# Quiet by default; `make V=1` shows the commands.
ifeq ($(V),1)
Q =
say = @true
else
Q = @
say = @echo
endif

# $(call objs,DIR,SOURCES)
objs = $(patsubst %.c,$(1)/%.o,$(notdir $(2)))

.PHONY: all test unit golden bench fuzz demo install clean
all: idp

# --- variants: normal (build/) and sanitized (build/san/) ------------------------------------
define variant
$(1)/obj/%.o: compiler/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)/obj/%.o: grammar/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)/obj/%.o: runtime/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)/obj/%.o: runtime/drivers/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)/obj/%.o: cli/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(CFLAGS) $(2) -DIDP_VERSION='"$(VERSION)"' -DIDP_STDLIB_DIR='"$(abspath stdlib)"' -MMD -MP -c -o $$@ $$<
$(1)/obj/%.o: $(BUILD)/gen/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(GEN_FLAGS) $$(CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)/obj/%.o: tests/unit/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)/obj/%.o: tests/fuzz/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)/obj/%.o: tests/drivers/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)/obj/%.o: tests/k8s/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)/obj/%.o: tests/bench/%.c $(GEN_H) | $(1)/obj
	$$(say) '  CC     $$@'
	$(Q)$$(CC) $$(CPPFLAGS) $$(WARN) $$(CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)/obj:
	$(Q)mkdir -p $$@
$(1)/libidp.a: $(call objs,$(1)/obj,$(LIB_SRC) $(GEN_C))
	$(Q)rm -f $$@ && ar rcs $$@ $$^
$(1)/idp: $(call objs,$(1)/obj,$(CLI_SRC)) $(1)/libidp.a
	$$(say) '  LD     $$@'
	$(Q)$$(CC) $$(CFLAGS) $(2) -o $$@ $$^ -lmicrohttpd $$(LDLIBS)
$(1)/unit_tests: $(call objs,$(1)/obj,$(wildcard tests/unit/*.c)) $(1)/libidp.a
	$$(say) '  LD     $$@'
	$(Q)$$(CC) $$(CFLAGS) $(2) -o $$@ $$^ -lcmocka -lmicrohttpd $$(LDLIBS)
$(1)/drvcall: $(1)/obj/drvcall.o $(1)/libidp.a
	$$(say) '  LD     $$@'
	$(Q)$$(CC) $$(CFLAGS) $(2) -o $$@ $$^ $$(LDLIBS)
# fakeapi: the fake Kubernetes API server of the k8s suite (tests/k8s/README.md)
$(1)/fakeapi: $(1)/obj/fakeapi.o
	$$(say) '  LD     $$@'
	$(Q)$$(CC) $$(CFLAGS) $(2) -o $$@ $$^ -lmicrohttpd -lgnutls -ljansson -pthread
$(1)/fuzz_replay: $(1)/obj/fuzz_parser.o $(1)/obj/replay.o $(1)/libidp.a
	$$(say) '  LD     $$@'
	$(Q)$$(CC) $$(CFLAGS) $(2) -o $$@ $$^ $$(LDLIBS)
-include $(wildcard $(1)/obj/*.d)
endef

SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
$(eval $(call variant,$(BUILD),))
$(eval $(call variant,$(BUILD)/san,$(SAN_FLAGS)))

idp: $(BUILD)/idp
	$(Q)cp $< $@

$(BUILD)/gen:
	mkdir -p $@
$(BUILD)/gen/parser.c $(BUILD)/gen/parser.h: grammar/parser.y | $(BUILD)/gen
	$(say) '  BISON  $<'
	$(Q)bison -Wall -Werror --defines=$(BUILD)/gen/parser.h -o $(BUILD)/gen/parser.c $<
$(BUILD)/gen/lexer.c $(BUILD)/gen/lexer.h: grammar/lexer.l $(BUILD)/gen/parser.h | $(BUILD)/gen
	$(say) '  FLEX   $<'
	$(Q)flex --header-file=$(BUILD)/gen/lexer.h -o $(BUILD)/gen/lexer.c $<

# --- tests ------------------------------------------------------------------------------------
test: $(BUILD)/idp $(BUILD)/unit_tests $(BUILD)/fuzz_replay $(BUILD)/drvcall \
      $(BUILD)/san/idp $(BUILD)/san/unit_tests $(BUILD)/san/fuzz_replay $(BUILD)/san/drvcall \
      $(BUILD)/fakeapi $(BUILD)/san/fakeapi
	@tests/run.sh $(BUILD) $(BUILD)/san

# --- benchmark --------------------------------------------------------------------------------
# Front end: genspec (standalone) writes the spec; bench_frontend times scan, parse + validate and
# the stream. Then the plan and apply benchmarks (tests/bench/plan.sh, apply.sh).
# BENCH_ONLY=frontend|plan|apply runs one.
$(BUILD)/bench_frontend: $(BUILD)/obj/bench_frontend.o $(BUILD)/libidp.a
	$(say) '  LD     $@'
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/genspec: $(BUILD)/obj/genspec.o
	$(say) '  LD     $@'
	$(Q)$(CC) $(CFLAGS) -o $@ $^
# genplan (standalone) writes a plan benchmark spec, mkplanstate (libidp) its matching states,
# benchrun times a command and reads its peak RSS (wait4).
$(BUILD)/genplan: $(BUILD)/obj/genplan.o
	$(say) '  LD     $@'
	$(Q)$(CC) $(CFLAGS) -o $@ $^
$(BUILD)/benchrun: $(BUILD)/obj/benchrun.o
	$(say) '  LD     $@'
	$(Q)$(CC) $(CFLAGS) -o $@ $^
$(BUILD)/mkplanstate: $(BUILD)/obj/mkplanstate.o $(BUILD)/libidp.a
	$(say) '  LD     $@'
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
# slowserver: the apply benchmark's REST server, every answer after 20 ms (tests/bench/apply.sh).
$(BUILD)/slowserver: $(BUILD)/obj/slowserver.o
	$(say) '  LD     $@'
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lmicrohttpd -pthread
bench: $(BUILD)/idp $(BUILD)/bench_frontend $(BUILD)/genspec $(BUILD)/genplan $(BUILD)/mkplanstate $(BUILD)/benchrun \
       $(BUILD)/slowserver
	@tests/bench/run.sh $(BUILD)

# --- fuzzing (clang + libFuzzer) --------------------------------------------------------------
# New inputs go to $(BUILD)/fuzz/corpus, crashes/hangs/leaks to $(BUILD)/fuzz/crash-* (minimize one
# with `$(BUILD)/fuzz/fuzz_parser -minimize_crash=1 -runs=10000 FILE`, then add it to
# tests/fuzz/corpus/). The run stops at the first finding; FUZZ_JOBS=N>1 runs N processes in
# libFuzzer's fork mode instead, which goes on after findings and keeps them all.
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1
FUZZ_FLAGS    = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
$(BUILD)/fuzz/fuzz_parser: tests/fuzz/fuzz_parser.c $(LIB_SRC) $(GEN_C) $(GEN_H)
	mkdir -p $(BUILD)/fuzz
	clang $(CPPFLAGS) -std=c11 -Wall -Wextra $(GEN_FLAGS) -g -O1 $(FUZZ_FLAGS) -o $@ \
	  tests/fuzz/fuzz_parser.c $(LIB_SRC) $(GEN_C) $(LDLIBS)
fuzz: $(BUILD)/fuzz/fuzz_parser
	mkdir -p $(BUILD)/fuzz/corpus
	$< -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -dict=tests/fuzz/idp.dict \
	  -artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=1 \
	  $(if $(filter-out 1,$(FUZZ_JOBS)),-fork=$(FUZZ_JOBS) -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1) \
	  $(BUILD)/fuzz/corpus tests/fuzz/corpus

# The README's first command: installs what is missing, builds, runs the quickstart, tears down.
demo:
	bash examples/quickstart/run.sh

install: $(BUILD)/idp
	install -D -m 0755 $< $(DESTDIR)$(PREFIX)/bin/idp

clean:
	rm -rf $(BUILD) idp
