// Minimal test harness: each tests/test-*.c is one executable made of test cases.
// A case is one function; it fails if any QT_CHECK in it fails. main() ends with
// qt_finish(), which prints `RESULT <binary> pass=P fail=F` for tests/run.sh to add up, and
// returns nonzero when anything failed.
//
// Cases that depend on the ISA run once per level the machine supports (qt_for_each_isa),
// so one test binary covers the scalar, AVX2, AVX-VNNI and AVX-512 paths.
#pragma once

#include <dirent.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "cpu.h"

static int qt_pass_count, qt_fail_count, qt_case_failed;
static const char *qt_case_name = "";
static char qt_case_tag[64];

static inline void qt_fail_msg(const char *file, int line, const char *fmt, ...) {
    if (qt_case_failed < 5) {  // enough to debug, not a flood
        fprintf(stderr, "  FAIL %s%s%s (%s:%d): ", qt_case_name, qt_case_tag[0] ? " " : "", qt_case_tag,
                file, line);
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    qt_case_failed++;
}

#define QT_CHECK(cond, ...)                                        \
    do {                                                           \
        if (!(cond)) qt_fail_msg(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

// Runs fn(arg) on the master thread of a 2-thread parallel region whose nested regions stay
// inactive (max-active-levels 1): an operator there gets a team of one thread however many
// it asks for, as inside a caller's own parallel region or under OMP_THREAD_LIMIT=1, and must
// still compute every share of its work.
static inline void qt_in_starved_team(void (*fn)(void *), void *arg) {
    const int saved = omp_get_max_active_levels();
    omp_set_max_active_levels(1);
#pragma omp parallel num_threads(2)
    {
#pragma omp master
        fn(arg);
    }
    omp_set_max_active_levels(saved);
}

// Quick mode (sanitizer runs): fewer random trials, smaller shapes.
static inline int qt_quick(void) {
    const char *e = getenv("QNAS_TEST_QUICK");
    return e && *e && *e != '0';
}

static inline void qt_run_case(const char *name, void (*fn)(void)) {
    qt_case_name = name;
    qt_case_failed = 0;
    double t0 = qn_now();
    fn();
    double dt = qn_now() - t0;
    if (qt_case_failed) {
        qt_fail_count++;
        printf("  fail  %-40s %-8s (%d checks failed)\n", name, qt_case_tag, qt_case_failed);
    } else {
        qt_pass_count++;
        printf("  ok    %-40s %-8s %7.2f s\n", name, qt_case_tag, dt);
    }
    fflush(stdout);
}

#define QT_RUN(fn) qt_run_case(#fn, fn)

// Test files of the INT8 GEMM's users set this: at the AVX-512 level their cases then run
// twice where the machine has AMX, with the VNNI kernels ("avx512") and with AMX ("amx").
// Other files run that level as a user gets it (AMX where present).
static bool qt_each_amx;

// Runs fn once per ISA level this machine supports, tagging the case with the level.
static inline void qt_run_each_isa(const char *name, void (*fn)(void)) {
    const enum qn_isa saved = qn_isa();
    const bool amx_saved = qn_amx_enabled();
    for (int i = 0; i < QN_ISA_COUNT; i++) {
        if (!qn_isa_set((enum qn_isa)i)) continue;
        const bool both = i == QN_ISA_AVX512 && qt_each_amx && qn_amx_supported();
        for (int amx = 0; amx <= (int)both; amx++) {
            if (both) qn_amx_set(amx);
            snprintf(qt_case_tag, sizeof(qt_case_tag), "%s", both && amx ? "amx" : qn_isa_name((enum qn_isa)i));
            qt_run_case(name, fn);
        }
        if (both) qn_amx_set(amx_saved);
    }
    qt_case_tag[0] = 0;
    qn_isa_set(saved);
}

#define QT_RUN_EACH_ISA(fn) qt_run_each_isa(#fn, fn)

static inline int qt_finish(const char *argv0) {
    const char *base = strrchr(argv0, '/');
    printf("RESULT %s pass=%d fail=%d\n", base ? base + 1 : argv0, qt_pass_count, qt_fail_count);
    return qt_fail_count ? 1 : 0;
}

// --- deterministic random data (xorshift64*), independent of libc's rand() ---

static uint64_t qt_rng_state = 0x9e3779b97f4a7c15ull;

static inline void qt_seed(uint64_t s) { qt_rng_state = s ? s : 0x9e3779b97f4a7c15ull; }

static inline uint64_t qt_u64(void) {
    uint64_t x = qt_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    qt_rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

// Uniform integer in [lo, hi].
static inline int qt_int(int lo, int hi) { return lo + (int)(qt_u64() % (uint64_t)(hi - lo + 1)); }

// Uniform float in [lo, hi).
static inline float qt_float(float lo, float hi) {
    return lo + (hi - lo) * (float)((qt_u64() >> 40) * (1.0 / 16777216.0));
}

static inline void qt_fill_f32(float *p, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) p[i] = qt_float(lo, hi);
}

static inline void qt_fill_u8(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)qt_u64();
}

static inline void qt_fill_s8(int8_t *p, size_t n, int lo, int hi) {
    for (size_t i = 0; i < n; i++) p[i] = (int8_t)qt_int(lo, hi);
}

// --- files ---

// The whole file, NUL-terminated (so text can be searched), its length in *len when len is
// not NULL; NULL when it cannot be read. Free with free().
static inline char *qt_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1))) {
        if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
        b[n] = 0;
        if (len) *len = (size_t)n;
    }
    fclose(f);
    return b;
}

// Removes a folder and everything under it. QNAS_TEST_KEEP=1 keeps it and prints its path,
// to look at what a test wrote.
static inline void qt_rm_tree(const char *dir) {
    const char *keep = getenv("QNAS_TEST_KEEP");
    if (keep && *keep && *keep != '0') {
        printf("  kept %s\n", dir);
        return;
    }
    DIR *d = opendir(dir);
    if (!d) return;
    char p[1024];
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p)) continue;
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) qt_rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}
