#include "cpu.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/syscall.h>
#endif

#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define QN_X86 1
#endif

// --- small shared helpers (declared in common.h) ---

const char *qn_status_str(enum qn_status s) {
    switch (s) {
    case QN_OK: return "ok";
    case QN_ERR_ARG: return "invalid argument";
    case QN_ERR_IO: return "I/O error";
    case QN_ERR_FORMAT: return "malformed input";
    case QN_ERR_NOMEM: return "out of memory";
    case QN_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

void *qn_alloc(size_t bytes) {
    if (bytes == 0) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, 64, QN_ROUND_UP(bytes, 64)) != 0) return NULL;
    return p;
}

void qn_free(void *p) { free(p); }

static double g_stream_bytes = -1.0;

void qn_stream_bytes_set(double bytes) { g_stream_bytes = bytes; }

double qn_stream_bytes(void) {
    if (g_stream_bytes >= 0.0) return g_stream_bytes;
    const double cap = 8.0 * (1 << 20);
    const unsigned long l3 = qn_cpu()->l3;
    return l3 && l3 / 4.0 < cap ? l3 / 4.0 : cap;
}

double qn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void qn_sleep(double s) {
    if (!(s > 0)) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {}  // resumed after a signal with the time left
}

// --- feature detection ---

static struct qn_cpu_features g_cpu;
static int g_cpu_done;

#ifdef QN_X86
static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

#ifdef QN_X86
// XCR0 bits 17-18 (tile config and tile data) say the OS manages the tile state; Linux (5.16+)
// then hands it out per process on request. Without the grant the first tile instruction
// faults, so AMX counts as present only when the request succeeds.
static bool amx_permit(unsigned long long xcr0) {
    if ((xcr0 & (3ull << 17)) != (3ull << 17)) return false;
#if defined(__linux__) && defined(SYS_arch_prctl)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return false;
#endif
}

// Sizes of the data and unified caches listed by a deterministic cache leaf (Intel leaf 4 and
// AMD leaf 0x8000001D share the layout): ways x partitions x line x sets, per level.
static void detect_caches(struct qn_cpu_features *f, unsigned leaf) {
    for (unsigned i = 0; i < 16; i++) {
        unsigned a, b, c, d;
        __cpuid_count(leaf, i, a, b, c, d);
        const unsigned type = a & 31, level = (a >> 5) & 7;
        if (type == 0) break;
        if (type == 2) continue;  // instruction cache
        const unsigned long bytes = (unsigned long)((b >> 22) + 1) * (((b >> 12) & 1023) + 1) *
                                    ((b & 4095) + 1) * ((unsigned long)c + 1);
        if (level == 1) f->l1d = bytes;
        if (level == 2) f->l2 = bytes;
        if (level == 3) f->l3 = bytes;
    }
}
#endif

static void detect(void) {
    struct qn_cpu_features *f = &g_cpu;
    memset(f, 0, sizeof(*f));
    strcpy(f->brand, "unknown");
#ifdef QN_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned max_leaf = a;
    __cpuid(1, a, b, c, d);
    f->sse42 = (c >> 20) & 1;
    f->fma = (c >> 12) & 1;
    f->f16c = (c >> 29) & 1;
    f->avx = (c >> 28) & 1;
    bool osxsave = (c >> 27) & 1;
    if (osxsave) {
        unsigned long long xcr0 = xgetbv0();
        f->os_avx = (xcr0 & 0x6) == 0x6;        // xmm + ymm state
        f->os_avx512 = (xcr0 & 0xe6) == 0xe6;   // + opmask, zmm0-15 hi, zmm16-31
    }
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = (b >> 5) & 1;
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512vnni = (c >> 11) & 1;
        f->avx512vbmi = (c >> 1) & 1;
        f->avx512fp16 = (d >> 23) & 1;
        f->amx_bf16 = (d >> 22) & 1;
        f->amx_tile = (d >> 24) & 1;
        f->amx_int8 = (d >> 25) & 1;
        unsigned max_sub = a;
        if (max_sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avxvnni = (a >> 4) & 1;
            f->avx512bf16 = (a >> 5) & 1;
        }
    }
    if (osxsave && f->amx_tile) f->os_amx = amx_permit(xgetbv0());
    if (!f->os_avx) f->avx = f->avx2 = f->fma = f->avxvnni = false;
    if (!f->os_avx512)
        f->avx512f = f->avx512bw = f->avx512vl = f->avx512dq = f->avx512vnni = f->avx512vbmi =
            f->avx512bf16 = f->avx512fp16 = false;
    __get_cpuid(0x80000000, &a, &b, &c, &d);
    const unsigned max_ext = a;
    bool topoext = false;  // AMD's topology extensions: leaf 0x8000001D lists the caches
    if (max_ext >= 0x8000001D) {
        __cpuid(0x80000001, a, b, c, d);
        topoext = (c >> 22) & 1;
    }
    if (topoext)
        detect_caches(f, 0x8000001D);
    else if (max_leaf >= 4)
        detect_caches(f, 4);
    if (max_ext >= 0x80000004) {
        unsigned *w = (unsigned *)f->brand;
        for (unsigned leaf = 0; leaf < 3; leaf++)
            __cpuid(0x80000002 + leaf, w[4 * leaf], w[4 * leaf + 1], w[4 * leaf + 2], w[4 * leaf + 3]);
        f->brand[48] = 0;
        // trim leading blanks some CPUs pad with
        char *s = f->brand;
        while (*s == ' ') s++;
        memmove(f->brand, s, strlen(s) + 1);
    }
#endif
}

const struct qn_cpu_features *qn_cpu(void) {
    if (!g_cpu_done) {
        detect();
        g_cpu_done = 1;
    }
    return &g_cpu;
}

bool qn_isa_supported(enum qn_isa isa) {
    const struct qn_cpu_features *f = qn_cpu();
    switch (isa) {
    case QN_ISA_SCALAR: return true;
    case QN_ISA_AVX2: return f->avx2 && f->fma;
    case QN_ISA_AVXVNNI: return f->avx2 && f->fma && f->avxvnni;
    case QN_ISA_AVX512:
        return f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni && f->fma;
    default: return false;
    }
}

enum qn_isa qn_isa_best(void) {
    for (int i = QN_ISA_COUNT - 1; i > 0; i--)
        if (qn_isa_supported((enum qn_isa)i)) return (enum qn_isa)i;
    return QN_ISA_SCALAR;
}

static const char *const isa_names[QN_ISA_COUNT] = {"scalar", "avx2", "avxvnni", "avx512"};

const char *qn_isa_name(enum qn_isa isa) {
    return (unsigned)isa < QN_ISA_COUNT ? isa_names[isa] : "invalid";
}

enum qn_isa qn_isa_parse(const char *name) {
    for (int i = 0; i < QN_ISA_COUNT; i++)
        if (name && strcmp(name, isa_names[i]) == 0) return (enum qn_isa)i;
    return QN_ISA_COUNT;
}

static int g_isa = -1;

enum qn_isa qn_isa(void) {
    if (g_isa < 0) {
        enum qn_isa best = qn_isa_best();
        const char *env = getenv("QNAS_ISA");
        if (env && *env) {
            enum qn_isa want = qn_isa_parse(env);
            if (want == QN_ISA_COUNT) {
                fprintf(stderr, "qnas: QNAS_ISA=%s is not one of avx512, avxvnni, avx2, scalar; using %s\n",
                        env, qn_isa_name(best));
            } else if (!qn_isa_supported(want)) {
                fprintf(stderr, "qnas: QNAS_ISA=%s is not supported by this CPU; using %s\n", env,
                        qn_isa_name(best));
            } else {
                best = want;
            }
        }
        g_isa = (int)best;
    }
    return (enum qn_isa)g_isa;
}

bool qn_isa_set(enum qn_isa isa) {
    if (!qn_isa_supported(isa)) return false;
    g_isa = (int)isa;
    return true;
}

bool qn_amx_supported(void) {
    const struct qn_cpu_features *f = qn_cpu();
    return f->amx_tile && f->amx_int8 && f->os_amx && qn_isa_supported(QN_ISA_AVX512);
}

static int g_amx = -1;

bool qn_amx_enabled(void) {
    if (g_amx < 0) {
        const char *env = getenv("QNAS_AMX");
        const bool off = env && strcmp(env, "0") == 0;
        if (env && *env && !off && strcmp(env, "1") != 0)
            fprintf(stderr, "qnas: QNAS_AMX=%s is neither 0 nor 1; using %d\n", env, qn_amx_supported());
        g_amx = !off && qn_amx_supported();
    }
    return g_amx;
}

bool qn_amx(void) { return qn_amx_enabled() && qn_isa() == QN_ISA_AVX512; }

bool qn_amx_set(bool on) {
    if (on && !qn_amx_supported()) return false;
    g_amx = on;
    return true;
}

// --- floating point environment ---

#ifdef QN_X86
#include <xmmintrin.h>
#endif

static void set_ftz_daz(void) {
#ifdef QN_X86
    _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
#endif
}

void qn_flush_denormals(void) {
    set_ftz_daz();
#pragma omp parallel num_threads(qn_threads())
    set_ftz_daz();
}

// --- threads ---

static int g_threads = 0;

int qn_threads(void) {
    if (g_threads <= 0) {
        int n = 0;
        const char *env = getenv("QNAS_THREADS");
        // an invalid value counts as unset here; the CLI refuses it with a message (main.c)
        if (env && *env && !qn_threads_parse(env, &n)) n = 0;
        if (n <= 0) {
            long c = sysconf(_SC_NPROCESSORS_ONLN);
            n = c > 0 ? (int)c : 1;
        }
        g_threads = n;
    }
    return g_threads;
}

bool qn_threads_parse(const char *s, int *n) {
    long v = 0;
    if (!s || !*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + (*s - '0');
        if (v > QN_MAX_THREADS) return false;
    }
    if (v < 1) return false;
    *n = (int)v;
    return true;
}

void qn_threads_set(int n) {
    g_threads = n > 0 ? (n < QN_MAX_THREADS ? n : QN_MAX_THREADS) : 0;
    omp_set_num_threads(qn_threads());
}
