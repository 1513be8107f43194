# qnas — one binary (`qnas`) and one static library of the engine (build/libqnas.a) that the
# tests and benchmarks link against.
#
# No -march=native: the default build runs on any x86-64. Only files named *-avx2.c,
# *-avxvnni.c, *-avx512.c and *-amx.c get ISA flags; the dispatcher calls them after checking cpuid.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
SAN     ?=
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp -fno-math-errno -ffp-contract=off \
             -Isrc -Ikernels -Imodels -Isearch $(SAN) $(CFLAGS)
LDLIBS  = -fopenmp -lcjson -lz -lm $(SAN)
# Tests use the system cblas (whichever one Debian's alternatives point to) as an oracle.
TEST_LDLIBS = -lblas $(LDLIBS)

FLAGS_AVX2    = -mavx2 -mfma -mf16c -mbmi2
FLAGS_AVXVNNI = $(FLAGS_AVX2) -mavxvnni
FLAGS_AVX512  = $(FLAGS_AVX2) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
FLAGS_AMX     = $(FLAGS_AVX512) -mamx-tile -mamx-int8

LIB_SRCS  = $(filter-out src/main.c,$(wildcard src/*.c)) \
            $(wildcard kernels/*.c kernels/*/*.c models/*.c search/*.c)
LIB_OBJS  = $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS = $(wildcard tests/test-*.c)
TESTS     = $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
BENCH_SRCS = $(wildcard bench/bench-*.c)
BENCHES   = $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
HDRS      = $(wildcard src/*.h kernels/*.h kernels/*/*.h models/*.h search/*.h tests/*.h bench/*.h)

# oneDNN is a benchmark peer only: linked into the kernel benchmark when its header exists.
DNNL_H := $(wildcard /usr/include/oneapi/dnnl/dnnl.h)
ifneq ($(DNNL_H),)
BENCH_DNNL_CFLAGS = -DQN_HAVE_DNNL=1
BENCH_DNNL_LIBS   = -ldnnl
endif

.PHONY: all deps test test-asan bench demo clean info fuzz
all: $(BUILD)/qnas $(BUILD)/libqnas.a

deps:
	@sh scripts/deps.sh

$(BUILD)/obj/%-amx.o: %-amx.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(FLAGS_AMX) -c $< -o $@
$(BUILD)/obj/%-avx512.o: %-avx512.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(FLAGS_AVX512) -c $< -o $@
$(BUILD)/obj/%-avxvnni.o: %-avxvnni.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(FLAGS_AVXVNNI) -c $< -o $@
$(BUILD)/obj/%-avx2.o: %-avx2.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(FLAGS_AVX2) -c $< -o $@
$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libqnas.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/qnas: $(BUILD)/obj/src/main.o $(BUILD)/libqnas.a
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libqnas.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests $< $(BUILD)/libqnas.a -o $@ $(TEST_LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libqnas.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(BENCH_DNNL_CFLAGS) -Ibench $< $(BUILD)/libqnas.a -o $@ $(LDLIBS) -ldl $(BENCH_DNNL_LIBS)

info: all
	$(BUILD)/qnas info

# The test runner runs every test binary and prints the closing line `N passed, N failed`.
test: deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@sh tests/run.sh $(BUILD) $(TESTS)

# Same tests under AddressSanitizer + UndefinedBehaviorSanitizer, in a separate build tree.
ASAN_BUILD = $(BUILD)-asan
test-asan: deps
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    $(ASAN_BUILD)/qnas $(TESTS:$(BUILD)/%=$(ASAN_BUILD)/%)
	@ASAN_OPTIONS=detect_leaks=1 QNAS_TEST_QUICK=1 sh tests/run.sh $(ASAN_BUILD) $(TESTS:$(BUILD)/%=$(ASAN_BUILD)/%)

bench: deps
	@$(MAKE) --no-print-directory all $(BENCHES)
	@sh bench/run.sh $(BUILD)

# The main job: the default joint architecture + quantization search on the bundled supernet
# (the QAT weights when present), Fashion-MNIST and this CPU; the report lands in build/demo-search.
WEIGHTS ?= $(firstword $(wildcard weights/mbconv-fmnist-qat.safetensors) weights/mbconv-fmnist.safetensors)
DEMO_OUT ?= $(BUILD)/demo-search
demo: deps all
	@$(BUILD)/qnas info
	@rm -rf $(DEMO_OUT)
	$(BUILD)/qnas search --weights $(WEIGHTS) --out $(DEMO_OUT)

clean:
	rm -rf build build-asan build-*

# Coverage-guided fuzzing of the file readers (clang + libFuzzer): `make fuzz FUZZ_SECONDS=60`.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS = $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_FLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
build-fuzz/fuzz-%: tests/fuzz/fuzz-%.c src/safetensors.c src/idx.c src/error.c src/cpu.c $(HDRS)
	@mkdir -p build-fuzz
	clang $(FUZZ_FLAGS) $< src/safetensors.c src/idx.c src/error.c src/cpu.c -o $@ -lcjson -lz -lm
# The model reader's target (fuzz-qnas-model) rebuilds a runnable network, so it links the
# whole engine: a clang build of the library with the same sanitizers plus the fuzzer's coverage
# instrumentation (fuzzer-no-link), in build-fuzz/obj, ISA flags per file as above.
FUZZ_LIB_FLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fopenmp -fno-math-errno -ffp-contract=off \
                 -fsanitize=fuzzer-no-link,address,undefined -Isrc -Ikernels -Imodels -Isearch
fuzz_isa = $(if $(findstring -avx512.c,$1),$(FLAGS_AVX512),$(if $(findstring -avxvnni.c,$1),$(FLAGS_AVXVNNI),$(if $(findstring -avx2.c,$1),$(FLAGS_AVX2))))
build-fuzz/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_LIB_FLAGS) $(call fuzz_isa,$<) -c $< -o $@
build-fuzz/libqnas.a: $(LIB_SRCS:%.c=build-fuzz/obj/%.o)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/fuzz-qnas-model: tests/fuzz/fuzz-qnas-model.c build-fuzz/libqnas.a $(HDRS)
	clang $(FUZZ_LIB_FLAGS) -fsanitize=fuzzer $< build-fuzz/libqnas.a -o $@ -fopenmp -lcjson -lz -lm
# The model reader starts from a real file (the smallest subnet at W4A8, ~100 KB) and may grow
# inputs to 256 KiB, so mutations reach past the header into the layer records; the small
# readers stay at 4 KiB.
FUZZ_SEED_MODEL = build-fuzz/corpus-fuzz-qnas-model/seed-min-int4.qnas
$(FUZZ_SEED_MODEL): $(BUILD)/qnas
	@mkdir -p $(dir $@)
	$(BUILD)/qnas export --weights weights/mbconv-fmnist.safetensors --genome min --policy int4 --out $@ \
	    --bn-images 100 --calib-images 50 >/dev/null
fuzz: $(FUZZ_TARGETS) $(FUZZ_SEED_MODEL)
	@for t in $(FUZZ_TARGETS); do mkdir -p build-fuzz/corpus-$$(basename $$t); \
	    len=4096; [ "$$(basename $$t)" = fuzz-qnas-model ] && len=262144; \
	    echo "== $$t ($(FUZZ_SECONDS) s, inputs up to $$len bytes)"; \
	    $$t -max_total_time=$(FUZZ_SECONDS) -max_len=$$len -artifact_prefix=build-fuzz/ build-fuzz/corpus-$$(basename $$t) 2>&1 | tail -n 3 || exit 1; done
