// Kernel benchmark: qnas GEMM (FP32, u8s8s32, u8s4s32), convolution (depthwise, 1x1) and
// multi-head self-attention (FP32, INT8 projections) on the shapes of bench/shapes.txt, at 1
// and 2 threads, against reference cblas, OpenBLAS and oneDNN timed in the same run, and
// against the machine's measured FMA / VNNI peak.
//
//   bench-kernels [--shapes FILE] [--json FILE] [--op NAME[,NAME]] [--threads N] [--quick]
//                 [--budget SECONDS] [--no-peers] [--onednn-isa ISA]
//
// Prints one table to stdout and writes the same rows as a JSON array (schema in bench/run.sh;
// `make bench` writes $(BUILD)/bench-kernels.json). Counting: GEMM 2*M*N*K, convolution
// 2 * multiply-adds, attention 2 * its four projections' and two per-head products'
// multiply-adds (softmax not counted); integer rows count integer ops the same way (GOP/s).
//
// Row order per shape and thread count: the FP32 row first, because it times the BLAS peers
// whose figures the integer rows of the same shape quote; reference cblas only at 1 thread.
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "attention.h"
#include "bench.h"
#include "common.h"
#include "cpu.h"
#include "gemm.h"
#include "peers.h"

#if __has_include("gemm-f32-packed.h")
#include "gemm-f32-packed.h"
#define QB_HAVE_F32_PACKED 1
#endif

#if __has_include("conv.h")
#include "conv.h"
#define QB_HAVE_CONV 1
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// --- options ---

struct opts {
    const char *shapes, *json;
    const char *ops;  // comma-separated op names, NULL = all
    int threads;      // 0 = 1 and 2
    bool quick, no_peers;
    const char *onednn_isa;  // --onednn-isa: cap oneDNN (e.g. avx512_core_vnni: no AMX)
    double budget_s;  // timed rounds per row
};

static struct opts g_opt = {.shapes = "bench/shapes.txt", .budget_s = 1.5};

static bool op_wanted(const char *op) {
    if (!g_opt.ops) return true;
    size_t n = strlen(op);
    for (const char *p = g_opt.ops; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, op, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

// --- shapes file ---

enum shape_kind { SHAPE_GEMM, SHAPE_DWCONV, SHAPE_PWCONV, SHAPE_MHA };

struct shape {
    enum shape_kind kind;
    size_t M, N, K;                 // gemm
    int batch, h, w, cin, cout, k;  // conv (stride 1, same padding)
    size_t T, D, H, dh;             // mha: T tokens, embed D, H heads of dh
    char str[48];                   // "1024x1024x1024", "1x14x14x96/dw3x3", "1x14x14x96->576",
                                    // "196x384/h6x64" (T x D / H heads x dh)
};

// The largest tensor an attention row allocates (scores H T^2, qkv 3 T H dh, weights 4 D H dh)
// stays under 2^26 floats (256 MiB), far above BERT-large at 512 tokens (2^22).
static bool mha_fits(const long *a) {
    const double T = (double)a[0], D = (double)a[1], H = (double)a[2], dh = (double)a[3], lim = 1 << 26;
    return H * T * T <= lim && 3 * T * H * dh <= lim && 4 * D * H * dh <= lim;
}

static int shapes_load(const char *path, struct shape *out, int max) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[256];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char kind[16];
        if (sscanf(line, "%15s", kind) != 1) continue;
        struct shape s = {0};
        long a[5];
        int got = sscanf(line, "%*s %ld %ld %ld %ld %ld", &a[0], &a[1], &a[2], &a[3], &a[4]);
        bool ok = false;
        for (int i = 0; i < got; i++)
            if (a[i] <= 0 || a[i] > 1 << 20) got = -1;
        if (strcmp(kind, "gemm") == 0 && got == 3) {
            s.kind = SHAPE_GEMM, s.M = (size_t)a[0], s.N = (size_t)a[1], s.K = (size_t)a[2];
            snprintf(s.str, sizeof(s.str), "%zux%zux%zu", s.M, s.N, s.K);
            ok = true;
        } else if (strcmp(kind, "dwconv") == 0 && got == 5 && a[4] % 2 == 1) {
            s.kind = SHAPE_DWCONV, s.batch = (int)a[0], s.h = (int)a[1], s.w = (int)a[2];
            s.cin = s.cout = (int)a[3], s.k = (int)a[4];
            snprintf(s.str, sizeof(s.str), "%dx%dx%dx%d/dw%dx%d", s.batch, s.h, s.w, s.cin, s.k, s.k);
            ok = true;
        } else if (strcmp(kind, "pwconv") == 0 && got == 5) {
            s.kind = SHAPE_PWCONV, s.batch = (int)a[0], s.h = (int)a[1], s.w = (int)a[2];
            s.cin = (int)a[3], s.cout = (int)a[4], s.k = 1;
            snprintf(s.str, sizeof(s.str), "%dx%dx%dx%d->%d", s.batch, s.h, s.w, s.cin, s.cout);
            ok = true;
        } else if (strcmp(kind, "mha") == 0 && got == 4 && mha_fits(a)) {
            s.kind = SHAPE_MHA, s.T = (size_t)a[0], s.D = (size_t)a[1], s.H = (size_t)a[2], s.dh = (size_t)a[3];
            snprintf(s.str, sizeof(s.str), "%zux%zu/h%zux%zu", s.T, s.D, s.H, s.dh);
            ok = true;
        }
        if (!ok) {
            fprintf(stderr, "bench: %s:%d: expected `gemm M N K`, `dwconv batch H W C k` (k odd), "
                            "`pwconv batch H W Cin Cout` or `mha T D H dh` (H T^2, 3 T H dh and 4 D H dh "
                            "at most 2^26)\n", path, lineno);
            fclose(f);
            return -1;
        }
        if (n == max) {
            fprintf(stderr, "bench: %s: more than %d shapes\n", path, max);
            fclose(f);
            return -1;
        }
        out[n++] = s;
    }
    fclose(f);
    return n;
}

// --- peak: independent accumulator chains, enough to cover latency x issue ports ---
//
// 24 chains: FMA is 4 cycles x 2 ports = 8 in flight, vpdpbusd 5 x 2 = 10; 24 leaves margin
// and still fits the 32 zmm registers with the two operands. Inline asm, because GCC 12
// spills the vpdpbusd intrinsic's accumulators in a loop like this one (seen in objdump).
// FMA: a = a * m + c converges to c / (1 - m) = 1, no overflow or denormals however long it
// runs; vpdpbusd wraps harmlessly.
#define PEAK_CHAINS 24
#if defined(__x86_64__)
#define PEAK_ASM12(ins, x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11)                  \
    __asm__ volatile(ins " %13, %12, %0\n\t" ins " %13, %12, %1\n\t" ins " %13, %12, %2\n\t"   \
                     ins " %13, %12, %3\n\t" ins " %13, %12, %4\n\t" ins " %13, %12, %5\n\t"   \
                     ins " %13, %12, %6\n\t" ins " %13, %12, %7\n\t" ins " %13, %12, %8\n\t"   \
                     ins " %13, %12, %9\n\t" ins " %13, %12, %10\n\t" ins " %13, %12, %11"      \
                     : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3), "+v"(x4), "+v"(x5), "+v"(x6),    \
                       "+v"(x7), "+v"(x8), "+v"(x9), "+v"(x10), "+v"(x11)                        \
                     : "v"(p), "v"(q))

// vfmadd231ps q, p, a: a += p * q. vpdpbusd q, p, a: a += u8(p) . s8(q) per 32-bit lane.
#define PEAK_FN(name, tgt, vec, set1, ins, p0, q0)                                            \
    __attribute__((target(tgt))) static double name(long iters) {                           \
        const vec p = set1(p0), q = set1(q0);                                                \
        vec a0 = p, a1 = p, a2 = p, a3 = p, a4 = p, a5 = p, a6 = p, a7 = p, a8 = p, a9 = p;  \
        vec a10 = p, a11 = p, b0 = q, b1 = q, b2 = q, b3 = q, b4 = q, b5 = q, b6 = q;        \
        vec b7 = q, b8 = q, b9 = q, b10 = q, b11 = q;                                        \
        for (long it = 0; it < iters; it++) {                                                \
            PEAK_ASM12(ins, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);               \
            PEAK_ASM12(ins, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11);               \
        }                                                                                    \
        vec t[24] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11,                       \
                     b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11};                      \
        double s = 0;                                                                        \
        for (int i = 0; i < 24; i++) {                                                       \
            float f;                                                                         \
            memcpy(&f, &t[i], sizeof(f));                                                    \
            s += (double)f;                                                                  \
        }                                                                                    \
        return s;                                                                            \
    }

PEAK_FN(peak_fma_zmm, "avx512f,fma", __m512, _mm512_set1_ps, "vfmadd231ps", 0.999f, 0.001f)
PEAK_FN(peak_fma_ymm, "avx2,fma", __m256, _mm256_set1_ps, "vfmadd231ps", 0.999f, 0.001f)
PEAK_FN(peak_vnni_zmm, "avx512f,avx512vnni", __m512i, _mm512_set1_epi32, "vpdpbusd", 0x03030303, 0x01fe01fe)
PEAK_FN(peak_vnni_ymm, "avx2,avxvnni", __m256i, _mm256_set1_epi32, "%{vex%} vpdpbusd", 0x03030303, 0x01fe01fe)
#endif

enum peak_kind { PEAK_FMA, PEAK_VNNI };

struct peak {
    bool have, zmm;     // zmm: the 512-bit form
    const char *instr;  // what was measured
    double ops_per_iter;  // per thread
    double gops[3];       // [threads], best of the repeats
};

static struct peak g_peak[2];
static volatile double g_sink;

static double peak_call(enum peak_kind kind, bool zmm, long iters) {
#if defined(__x86_64__)
    if (kind == PEAK_FMA) return zmm ? peak_fma_zmm(iters) : peak_fma_ymm(iters);
    return zmm ? peak_vnni_zmm(iters) : peak_vnni_ymm(iters);
#else
    (void)kind, (void)zmm, (void)iters;
    return 0;
#endif
}

// Best of a few ~0.1 s runs on t threads (a peak is an upper bound: noise only lowers it).
// Each thread times itself on its own CPU-time clock and the rates add up, so time slices that
// other processes take on this shared machine do not count against the peak.
static double peak_run(enum peak_kind kind, bool zmm, int t, double ops_per_iter, bool quick) {
    long iters = 1 << 14;
    double best = 0;
    for (int rep = 0; rep < (quick ? 3 : 7); rep++) {
        double rate = 0, longest = 0;
#pragma omp parallel num_threads(t) reduction(+ : rate) reduction(max : longest)
        {
            double c0 = qb_cpu_now(CLOCK_THREAD_CPUTIME_ID);
            const double v = peak_call(kind, zmm, iters);
            double dc = qb_cpu_now(CLOCK_THREAD_CPUTIME_ID) - c0;
            rate += dc > 0 ? ops_per_iter * (double)iters / dc * 1e-9 : 0;
            longest = dc;
#pragma omp atomic
            g_sink += v;
        }
        if (longest < 0.05) {  // grow to ~0.1 s before counting repeats
            iters *= 2, rep--;
            continue;
        }
        if (rate > best) best = rate;
    }
    return best;
}

// Called at the start and at the end of the run; each figure keeps the better of the two
// (the machine's load changes while the rows run).
static void peak_measure(bool quick) {
    const struct qn_cpu_features *c = qn_cpu();
    bool zmm = c->avx512f && c->os_avx512;
    struct peak *f = &g_peak[PEAK_FMA], *v = &g_peak[PEAK_VNNI];
    if (zmm || (c->avx2 && c->fma && c->os_avx)) {
        f->have = true, f->zmm = zmm;
        f->instr = zmm ? "vfmadd231ps zmm" : "vfmadd231ps ymm";
        f->ops_per_iter = PEAK_CHAINS * (zmm ? 16 : 8) * 2.0;
    }
    bool vz = zmm && c->avx512vnni;
    if (vz || (c->avxvnni && c->os_avx)) {
        v->have = true, v->zmm = vz;
        v->instr = vz ? "vpdpbusd zmm" : "vpdpbusd ymm (AVX-VNNI)";
        v->ops_per_iter = PEAK_CHAINS * (vz ? 64 : 32) * 2.0;  // u8*s8 multiply-adds x 2
    }
    for (int t = 1; t <= 2; t++) {
        // one untimed run first: AVX-512 frequency licence and thread start-up
        if (f->have) {
            peak_run(PEAK_FMA, zmm, t, f->ops_per_iter, true);
            const double g = peak_run(PEAK_FMA, zmm, t, f->ops_per_iter, quick);  // once: QN_MAX evaluates twice
            f->gops[t] = QN_MAX(f->gops[t], g);
        }
        if (v->have) {
            const double g = peak_run(PEAK_VNNI, vz, t, v->ops_per_iter, quick);
            v->gops[t] = QN_MAX(v->gops[t], g);
        }
    }
}

// --- results: the table and the JSON array ---

enum peer { PEER_REF, PEER_OPENBLAS, PEER_ONEDNN, PEER_COUNT };
static const char *const peer_key[PEER_COUNT] = {"ref_cblas", "openblas", "onednn"};

struct row {
    const char *op, *dtype;
    const struct shape *shape;
    char variant[192];
    int threads;
    double flops;              // per call
    double bytes;              // compulsory traffic per call: inputs and output once
    double gflops;             // ours; NAN when not measured
    double peer_gflops[PEER_COUNT];  // NAN when the peer did not run
    const char *peer_op[PEER_COUNT]; // what the peer ran, when it is not the same op
    char peer_impl[96];        // oneDNN implementation name(s)
    enum peak_kind peak;
    int reps, kept;            // samples taken, samples behind the median
    double gflops_wall;        // ours on the plain wall clock, all samples
    double peak_gflops;        // the peak loop timed in this row's own rounds (row_measure)
    double cpu_share;          // cores the process held while ours ran (2-thread rows)
    double vs_int8;            // u8s4s32 rows: ours INT4 / ours INT8, NAN otherwise
    char note[160];
};

static struct qb_blas g_ref, g_openblas;
static bool g_have_ref, g_have_openblas, g_have_onednn;
static cJSON *g_json;

static void row_init(struct row *r, const char *op, const char *dtype, const struct shape *s,
                     int threads, double flops, double bytes, enum peak_kind peak) {
    memset(r, 0, sizeof(*r));
    r->op = op, r->dtype = dtype, r->shape = s, r->threads = threads;
    r->flops = flops, r->bytes = bytes, r->peak = peak;
    r->gflops = NAN, r->vs_int8 = NAN, r->gflops_wall = NAN, r->peak_gflops = NAN;
    for (int p = 0; p < PEER_COUNT; p++) r->peer_gflops[p] = NAN;
}

static void note_add(struct row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_add(struct row *r, const char *fmt, ...) {
    size_t len = strlen(r->note);
    if (len && len + 2 < sizeof(r->note)) strcat(r->note, "; "), len += 2;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note + len, sizeof(r->note) - len, fmt, ap);
    va_end(ap);
}

// Flags a row whose output differs from the peer's by more than tol (relative; NaN fails),
// in its note and on stderr.
static void peer_diff_check(struct row *r, const char *peer, double e, double tol) {
    if (e <= tol) return;
    note_add(r, "WARNING: differs from %s, rel %.2g", peer, e);
    fprintf(stderr, "bench: WARNING %s %s t=%d: ours differs from %s by %.3g (relative)\n", r->op, r->shape->str,
            r->threads, peer, e);
}

static double row_ratio(const struct row *r, enum peer p) {
    double g = r->peer_gflops[p];
    return isfinite(r->gflops) && isfinite(g) && g > 0 ? r->gflops / g : NAN;
}

// Ours over the peak loop timed in the same rounds (same clock, same median): the host's
// speed drifts by +-10% over seconds here, and a median over the best-of-runs peak of the
// header read that drift as the kernel's shortfall (FP32 1024^3: 66-76% of the header's peak,
// 82-85% of the loop timed beside it, /tmp probes alternating the two call by call).
static double row_frac_peak(const struct row *r) {
    return isfinite(r->gflops) && r->peak_gflops > 0 ? r->gflops / r->peak_gflops : NAN;
}

// A peer over the same loop, where the peer ran the row's kind of arithmetic on the row's
// threads: the BLAS peers only on FP32 rows (elsewhere they quote an FP32 sgemm), reference
// cblas only on 1-thread rows (it runs on one thread for every row).
static double peer_frac_peak(const struct row *r, enum peer p) {
    const double g = r->peer_gflops[p];
    const bool same = p == PEER_ONEDNN || (strcmp(r->dtype, "f32") == 0 && (p != PEER_REF || r->threads == 1));
    return same && isfinite(g) && r->peak_gflops > 0 ? g / r->peak_gflops : NAN;
}

// Ours over the header's peak (the best of the runs at start and end), for the record.
static double row_frac_best_peak(const struct row *r) {
    const struct peak *pk = &g_peak[r->peak];
    double p = r->threads <= 2 && pk->have ? pk->gops[r->threads] : 0;
    return isfinite(r->gflops) && p > 0 ? r->gflops / p : NAN;
}

static void table_header(void) {
    printf("%-16s %-22s %-42s %3s %9s %6s %7s  %-17s %-17s %-17s %s\n", "op", "shape", "variant",
           "thr", "GFLOP/s", "%peak", "GB/s", "vs ref cblas", "vs OpenBLAS", "vs oneDNN", "note");
}

static void fmt_ratio(char *buf, size_t n, const struct row *r, enum peer p) {
    double g = r->peer_gflops[p], x = row_ratio(r, p);
    if (!isfinite(g)) snprintf(buf, n, "-");
    else if (!isfinite(x)) snprintf(buf, n, "    (%.1f)", g);
    else snprintf(buf, n, "%6.2fx (%.1f)", x, g);
}

static cJSON *num_or_null(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

static void row_emit(struct row *r) {
    if (!op_wanted(r->op)) return;  // measured only for the peer figures another row quotes
    char gf[16], fp[16], bw[16], pr[PEER_COUNT][32];
    if (isfinite(r->gflops)) snprintf(gf, sizeof(gf), "%.1f", r->gflops);
    else snprintf(gf, sizeof(gf), "%s", r->note[0] == 'p' ? "pending" : "-");
    double fr = row_frac_peak(r);
    snprintf(fp, sizeof(fp), isfinite(fr) ? "%.0f%%" : "-", fr * 100);
    double gbps = isfinite(r->gflops) ? r->bytes / (r->flops / r->gflops) : NAN;  // bytes / s / 1e9
    snprintf(bw, sizeof(bw), isfinite(gbps) ? "%.1f" : "-", gbps);
    for (int p = 0; p < PEER_COUNT; p++) fmt_ratio(pr[p], sizeof(pr[p]), r, (enum peer)p);
    char note[240];
    snprintf(note, sizeof(note), "%s", r->note);
    if (r->peer_impl[0] && isfinite(r->peer_gflops[PEER_ONEDNN])) {
        size_t l = strlen(note);
        snprintf(note + l, sizeof(note) - l, "%soneDNN %s", l ? "; " : "", r->peer_impl);
        // the peer on the same peak loop: where both read ~100%, neither can pull ahead
        const double pf = peer_frac_peak(r, PEER_ONEDNN);
        l = strlen(note);
        if (isfinite(pf)) snprintf(note + l, sizeof(note) - l, " at %.0f%% of peak", pf * 100);
    }
    if (isfinite(r->vs_int8)) {
        size_t l = strlen(note);
        snprintf(note + l, sizeof(note) - l, "%sINT4/INT8 ours %.2fx", l ? "; " : "", r->vs_int8);
    }
    printf("%-16s %-22s %-42s %3d %9s %6s %7s  %-17s %-17s %-17s %s\n", r->op, r->shape->str,
           r->variant, r->threads, gf, fp, bw, pr[0], pr[1], pr[2], note);
    fflush(stdout);

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "op", r->op);
    cJSON_AddStringToObject(o, "dtype", r->dtype);
    cJSON_AddStringToObject(o, "shape", r->shape->str);
    cJSON_AddStringToObject(o, "variant", r->variant);
    cJSON_AddNumberToObject(o, "threads", r->threads);
    cJSON_AddItemToObject(o, "gflops", num_or_null(r->gflops));
    cJSON_AddItemToObject(o, "vs_ref_cblas", num_or_null(row_ratio(r, PEER_REF)));
    cJSON_AddItemToObject(o, "vs_openblas", num_or_null(row_ratio(r, PEER_OPENBLAS)));
    cJSON_AddItemToObject(o, "vs_onednn", num_or_null(row_ratio(r, PEER_ONEDNN)));
    cJSON_AddItemToObject(o, "fraction_of_peak", num_or_null(fr));
    cJSON_AddItemToObject(o, "peak_gflops", num_or_null(r->peak_gflops));
    cJSON_AddItemToObject(o, "fraction_of_best_peak", num_or_null(row_frac_best_peak(r)));
    cJSON_AddItemToObject(o, "gbytes_per_s", num_or_null(gbps));
    cJSON_AddNumberToObject(o, "flops_per_call", r->flops);
    cJSON_AddItemToObject(o, "gflops_wall", num_or_null(r->gflops_wall));
    cJSON_AddStringToObject(o, "clock", r->threads <= 1 ? "thread_cpu" : "wall_filtered");
    cJSON_AddItemToObject(o, "cpu_share", num_or_null(r->cpu_share));
    cJSON_AddNumberToObject(o, "samples", r->reps);
    cJSON_AddNumberToObject(o, "samples_kept", r->kept);
    cJSON *pg = cJSON_AddObjectToObject(o, "peer_gflops");
    cJSON *pf = cJSON_AddObjectToObject(o, "peer_fraction_of_peak");
    cJSON *po = cJSON_AddObjectToObject(o, "peer_op");
    for (int p = 0; p < PEER_COUNT; p++) {
        cJSON_AddItemToObject(pg, peer_key[p], num_or_null(r->peer_gflops[p]));
        cJSON_AddItemToObject(pf, peer_key[p], num_or_null(peer_frac_peak(r, (enum peer)p)));
        if (isfinite(r->peer_gflops[p]))
            cJSON_AddStringToObject(po, peer_key[p], r->peer_op[p] ? r->peer_op[p] : r->op);
    }
    if (r->peer_impl[0]) cJSON_AddStringToObject(o, "onednn_impl", r->peer_impl);
    if (isfinite(r->vs_int8)) cJSON_AddNumberToObject(o, "vs_ours_int8", r->vs_int8);
    if (r->note[0]) cJSON_AddStringToObject(o, "note", r->note);
    cJSON_AddItemToArray(g_json, o);
}

// --- thread control and the "is ours too slow to time" guard ---

static void threads_set(int t) {
    qn_threads_set(t);   // ours (and omp_set_num_threads for this thread)
    omp_set_num_threads(t);  // oneDNN (OpenMP runtime) reads the same ICV
    if (g_have_openblas && g_openblas.set_threads) g_openblas.set_threads(t);
}

// Best rate seen per op and thread count, to estimate a call before making it: the scalar
// reference kernels take minutes at 2048^3, and a row that would blow the run's time budget
// is reported as skipped instead.
#define MAX_OPS 16
static struct {
    const char *op;
    double gflops[3];
} g_rate[MAX_OPS];

static double *rate_slot(const char *op, int t) {
    for (int i = 0; i < MAX_OPS; i++) {
        if (!g_rate[i].op) g_rate[i].op = op;
        if (strcmp(g_rate[i].op, op) == 0) return &g_rate[i].gflops[t <= 2 ? t : 2];
    }
    return &g_rate[MAX_OPS - 1].gflops[0];
}

static double max_call_s(void) { return g_opt.quick ? 1.0 : 6.0; }

// True when ours may run: no estimate yet, or the estimate fits the per-call cap.
static bool ours_affordable(struct row *r, const char *op) {
    // the best of any thread count: a 2-thread rate measured while another job held a core
    // would wrongly skip the rows after it
    double g = QN_MAX(*rate_slot(op, 1), *rate_slot(op, 2));
    if (g <= 0) return true;
    double est = r->flops / (g * 1e9);
    if (est <= max_call_s()) return true;
    note_add(r, "skipped: ~%.0f s per call at %.2f GFLOP/s", est, g);
    return false;
}

static void rate_update(const char *op, int t, double gflops) {
    double *s = rate_slot(op, t);
    if (isfinite(gflops) && gflops > *s) *s = gflops;
}

static struct qb_plan plan_for(int threads) {
    struct qb_plan p = {
        .budget_s = g_opt.budget_s,
        .sample_s = g_opt.quick ? 0.01 : 0.03,
        .max_round_s = g_opt.quick ? 1.0 : 4.0,
        .min_reps = 3,
        .max_reps = g_opt.quick ? 5 : 15,
        .threads = threads,
    };
    return p;
}

static double gflops_of(const struct row *r, const struct qb_runner *x) {
    return x->run && x->median_s > 0 ? r->flops / x->median_s * 1e-9 : NAN;
}

static void ours_record(struct row *r, const struct qb_runner *x) {
    r->gflops = gflops_of(r, x);
    r->reps = x->n, r->kept = x->kept;
    r->gflops_wall = x->run && x->wall_median_s > 0 ? r->flops / x->wall_median_s * 1e-9 : NAN;
    r->cpu_share = x->run && r->threads > 1 ? x->share_median : NAN;  // cores held
}

// A 2-thread figure is only meaningful when the process held both cores: with another job on
// one of them, every barrier waits for a time slice. Flags the row when any contender held
// less than QB_MIN_SHARE_2T cores, or one that ran on one thread by design less than its core.
static void share_check(struct row *r, const struct qb_runner *x, int nr) {
    if (r->threads <= 1) {
        // the thread clock misses work done on other threads (none expected at 1 thread)
        for (int i = 0; i < nr; i++)
            if (x[i].run && x[i].n && x[i].share_median > 1.15)
                note_add(r, "%s used %.2fx its thread's CPU time on other threads", x[i].name, x[i].share_median);
        return;
    }
    // A contender that ran on one thread by design (qb_runner.solo) needs its one core only.
    double lo = INFINITY, lo1 = INFINITY;
    for (int i = 0; i < nr; i++) {
        if (!x[i].run || !x[i].n) continue;
        if (x[i].solo) {
            note_add(r, "%s ran on one thread", x[i].name);
            if (x[i].share_median < lo1) lo1 = x[i].share_median;
        } else if (x[i].share_median < lo) {
            lo = x[i].share_median;
        }
    }
    if (lo < QB_MIN_SHARE_2T) note_add(r, "UNRELIABLE: held %.1f of 2 cores (machine busy)", lo);
    else if (lo1 < 0.9) note_add(r, "UNRELIABLE: held %.1f of its 1 core (machine busy)", lo1);
}

// The row's peak contender: the header's peak loop on the row's threads, ~1 ms a call.
struct peak_ctx {
    const struct peak *pk;
    enum peak_kind kind;
    int threads;
    long iters;
};

static void run_peak(void *ctx) {
    const struct peak_ctx *c = ctx;
    double v = 0;
#pragma omp parallel num_threads(c->threads) reduction(+ : v)
    v += peak_call(c->kind, c->pk->zmm, c->iters);
    g_sink += v;
}

// Times the row's contenders (x[0] is ours; skipped when a call would take too long) and the
// peak loop as one more, in the same rounds; records ours and the peak, checks the cores
// held, and keeps ours' best rate for the affordability estimate.
static void row_measure(struct row *r, struct qb_runner *x, int nr) {
    if (x[0].run && !ours_affordable(r, r->op)) x[0].run = NULL;
    const struct qb_plan p = plan_for(r->threads);
    enum { MAX_RUNNERS = 8 };
    QN_ASSERT(nr < MAX_RUNNERS);
    struct qb_runner y[MAX_RUNNERS];
    memcpy(y, x, (size_t)nr * sizeof(*x));
    const struct peak *pk = &g_peak[r->peak];
    struct peak_ctx pc = {.pk = pk, .kind = r->peak, .threads = r->threads, .iters = 1 << 18};
    const bool with_peak = pk->have && x[0].run && op_wanted(r->op);
    y[nr] = (struct qb_runner){.name = "peak", .run = with_peak ? run_peak : NULL, .ctx = &pc, .pool = QB_POOL_GOMP};
    qb_measure(y, nr + 1, &p);
    memcpy(x, y, (size_t)nr * sizeof(*x));
    ours_record(r, &x[0]);
    if (with_peak && y[nr].median_s > 0)
        r->peak_gflops = pk->ops_per_iter * (double)pc.iters * r->threads / y[nr].median_s * 1e-9;
    share_check(r, y, nr + 1);
    rate_update(r->op, r->threads, r->gflops);
}

// --- GEMM rows ---

struct gemm_case {
    size_t M, N, K;
    float *A, *B;       // A [M][K], B [K][N] (FP32 rows)
    float *C_ours, *C_peer;
    uint8_t *Aq;        // [M][K]
    int8_t *Wq;         // [N][K], values in [-7, 7] so the INT4 rows use the same weights
    float *Cq_ours;     // [M][N] ours, FP32 output of the requantization (= acc here)
    int32_t *Cq_peer;   // [M][N] oneDNN u8s8s32
    float *scale;       // [N] all 1: the FP32 output is the exact s32 accumulator
    struct qn_qgemm_weights w8, w4;
#if QB_HAVE_F32_PACKED
    struct qn_f32_packed_b pb;
#endif
    struct qn_qgemm_out qout;
};

static struct gemm_case *g_gc;

static void run_f32_ours(void *ctx) {
    struct gemm_case *g = ctx;
    qn_f32_gemm(false, false, g->M, g->N, g->K, 1.0f, g->A, g->K, g->B, g->N, 0.0f, g->C_ours, g->N, NULL);
}
#if QB_HAVE_F32_PACKED
static void run_f32_packed_ours(void *ctx) {
    struct gemm_case *g = ctx;
    qn_f32_gemm_packed(g->M, g->A, g->K, &g->pb, g->C_ours, g->N, NULL);
}
#endif
static void run_blas(struct qb_blas *b, struct gemm_case *g) {
    if (g->M == 1 && b->sgemv) {  // y[N] = B[K][N]^T x[K]
        b->sgemv(QB_CBLAS_ROW_MAJOR, QB_CBLAS_TRANS, (int)g->K, (int)g->N, 1.0f, g->B, (int)g->N, g->A, 1, 0.0f,
                 g->C_peer, 1);
        return;
    }
    b->sgemm(QB_CBLAS_ROW_MAJOR, QB_CBLAS_NO_TRANS, QB_CBLAS_NO_TRANS, (int)g->M, (int)g->N, (int)g->K,
             1.0f, g->A, (int)g->K, g->B, (int)g->N, 0.0f, g->C_peer, (int)g->N);
}
static void run_f32_ref(void *ctx) { run_blas(&g_ref, ctx); }
static void run_f32_openblas(void *ctx) { run_blas(&g_openblas, ctx); }
static void run_q8_ours(void *ctx) {
    struct gemm_case *g = ctx;
    qn_qgemm(g->M, g->Aq, g->K, &g->w8, &g->qout, g->Cq_ours, g->N);
}
static void run_q4_ours(void *ctx) {
    struct gemm_case *g = ctx;
    qn_qgemm(g->M, g->Aq, g->K, &g->w4, &g->qout, g->Cq_ours, g->N);
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {  // xorshift64*: deterministic inputs, run to run
    g_rng ^= g_rng >> 12, g_rng ^= g_rng << 25, g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545f4914f6cdd1dull) >> 32);
}
static float rnd_f32(void) { return (float)(rnd() >> 8) * (2.0f / 16777216.0f) - 1.0f; }  // [-1, 1)

static bool gemm_case_init(struct gemm_case *g, const struct shape *s) {
    memset(g, 0, sizeof(*g));
    size_t M = s->M, N = s->N, K = s->K;
    g->M = M, g->N = N, g->K = K;
    g->A = qn_alloc(M * K * 4), g->B = qn_alloc(K * N * 4);
    g->C_ours = qn_alloc(M * N * 4), g->C_peer = qn_alloc(M * N * 4);
    g->Aq = qn_alloc(M * K), g->Wq = qn_alloc(N * K);
    g->Cq_ours = qn_alloc(M * N * 4), g->Cq_peer = qn_alloc(M * N * 4);
    g->scale = qn_alloc(N * 4);
    if (!g->A || !g->B || !g->C_ours || !g->C_peer || !g->Aq || !g->Wq || !g->Cq_ours || !g->Cq_peer ||
        !g->scale)
        return false;
    for (size_t i = 0; i < M * K; i++) g->A[i] = rnd_f32(), g->Aq[i] = (uint8_t)(rnd() >> 24);
    for (size_t i = 0; i < K * N; i++) g->B[i] = rnd_f32();
    for (size_t i = 0; i < N * K; i++) g->Wq[i] = (int8_t)((int)(rnd() % 15) - 7);
    for (size_t i = 0; i < N; i++) g->scale[i] = 1.0f;
    g->qout.a_scale = 1.0f;
    return true;
}

static void gemm_case_free(struct gemm_case *g) {
    qn_free(g->A), qn_free(g->B), qn_free(g->C_ours), qn_free(g->C_peer);
    qn_free(g->Aq), qn_free(g->Wq), qn_free(g->Cq_ours), qn_free(g->Cq_peer), qn_free(g->scale);
    if (g->w8.packed) qn_qgemm_weights_free(&g->w8);
    if (g->w4.packed) qn_qgemm_weights_free(&g->w4);
#if QB_HAVE_F32_PACKED
    qn_f32_packed_b_free(&g->pb);
#endif
    memset(g, 0, sizeof(*g));
}

// Reference cblas is single-threaded and slow: timed once per shape, in the 1-thread FP32 row
// (at most 3 samples, 1 when a call takes over 2 s), and its figure reused by every row of the
// shape. Skipped, with the reason in the note, when a call is estimated above 30 s.
static double g_ref_rate;  // best GFLOP/s seen, for the estimate

static void ref_plan(struct row *r, struct qb_runner *x) {
    double est = g_ref_rate > 0 ? r->flops / (g_ref_rate * 1e9) : 0;
    double cap = g_opt.quick ? 2.0 : 30.0;
    if (est > cap) {
        note_add(r, "ref cblas not run: ~%.0f s per call", est);
        x->run = NULL;
        return;
    }
    x->max_reps = est > 2.0 ? 1 : 3;
}

// Measures one FP32 GEMM row: ours (plain or pre-packed B) against the BLAS peers and oneDNN.
// Fills peer_gf with what the peers measured so the integer rows of the shape can quote them.
static void gemm_f32_row(const struct shape *s, int t, bool packed, double ref_gf[1], double peer_gf[PEER_COUNT]) {
    struct gemm_case *g = g_gc;
    struct row r;
    const char *op = packed ? "f32_gemm_packed" : "f32_gemm";
    row_init(&r, op, "f32", s, t, 2.0 * g->M * g->N * g->K, 4.0 * (g->M * g->K + g->K * g->N + g->M * g->N),
             PEAK_FMA);
    snprintf(r.variant, sizeof(r.variant), "%s", qn_f32_gemm_variant());
    struct qb_runner x[4] = {
        {.name = "ours", .run = run_f32_ours, .ctx = g, .pool = QB_POOL_GOMP},
        {.name = "ref_cblas", .run = g_have_ref ? run_f32_ref : NULL, .ctx = g, .pool = QB_POOL_NONE},
        {.name = "openblas", .run = g_have_openblas ? run_f32_openblas : NULL, .ctx = g, .pool = QB_POOL_OPENBLAS},
        {.name = "onednn", .ctx = NULL, .pool = QB_POOL_GOMP},
    };
#if QB_HAVE_F32_PACKED
    if (packed) {
        if (!g->pb.data && qn_f32_pack_b(&g->pb, false, g->K, g->N, g->B, g->N) != QN_OK) {
            note_add(&r, "qn_f32_pack_b failed");
            x[0].run = NULL;
        }
        x[0].run = x[0].run ? run_f32_packed_ours : NULL;
    }
#endif
    // the BLAS figures of the plain row stand for the packed row too
    if (packed || t != 1 || g_opt.no_peers) x[1].run = NULL;
    if (packed || g_opt.no_peers) x[2].run = NULL;
    if (x[1].run) ref_plan(&r, &x[1]);
#if QN_HAVE_DNNL
    struct qb_dnnl d = {0};
    if (g_have_onednn && !g_opt.no_peers) {
        if (qb_dnnl_matmul(&d, dnnl_f32, dnnl_f32, dnnl_f32, g->M, g->N, g->K, g->A, g->B, false, NULL,
                           g->C_peer, NULL)) {
            x[3].run = qb_dnnl_run, x[3].ctx = &d;
            snprintf(r.peer_impl, sizeof(r.peer_impl), "%s", d.impl);
        } else {
            note_add(&r, "oneDNN f32 matmul unavailable");
        }
    }
#endif
    row_measure(&r, x, 4);
    if (x[1].run) {
        ref_gf[0] = gflops_of(&r, &x[1]);
        if (ref_gf[0] > g_ref_rate) g_ref_rate = ref_gf[0];
    }
    r.peer_gflops[PEER_REF] = ref_gf[0];
    if (packed) {
        r.peer_gflops[PEER_OPENBLAS] = peer_gf[PEER_OPENBLAS];
    } else {
        r.peer_gflops[PEER_OPENBLAS] = peer_gf[PEER_OPENBLAS] = gflops_of(&r, &x[2]);
    }
    r.peer_gflops[PEER_ONEDNN] = gflops_of(&r, &x[3]);
    r.peer_op[PEER_ONEDNN] = "matmul f32";
    if (!packed) peer_gf[PEER_ONEDNN] = r.peer_gflops[PEER_ONEDNN];
    bool gemv = g->M == 1 && g_ref.sgemv && g_openblas.sgemv;
    if (isfinite(r.peer_gflops[PEER_REF]))
        r.peer_op[PEER_REF] = gemv ? (t > 1 ? "cblas_sgemv, 1 thread" : "cblas_sgemv") : t > 1 ? "cblas_sgemm, 1 thread" : NULL;
    if (gemv && isfinite(r.peer_gflops[PEER_OPENBLAS])) r.peer_op[PEER_OPENBLAS] = "cblas_sgemv";
    // cross-check: the last peer to run left its C in C_peer (all compute the same product)
    if (x[0].run && (x[1].run || x[2].run || x[3].run)) {
        peer_diff_check(&r, "the peer", qb_rel_diff_f32(g->C_ours, g->C_peer, g->M * g->N), 1e-4);
    }
#if QN_HAVE_DNNL
    qb_dnnl_free(&d);
#endif
    row_emit(&r);
}

// u8 x s8 (or s4) -> s32 rows. The BLAS peers have no integer GEMM: their column quotes the
// FP32 cblas_sgemm of the same shape (what a user without integer kernels would run), which is
// stated in peer_op. oneDNN runs its u8s8s32 matmul with the same weights.
static void gemm_q_row(const struct shape *s, int t, int storage_bits, const double ref_gf[1],
                       const double peer_gf[PEER_COUNT], double *q8_gf) {
    struct gemm_case *g = g_gc;
    struct row r;
    bool q4 = storage_bits == 4;
    const char *op = q4 ? "qs4_gemm" : "qs8_gemm";
    size_t wbytes = q4 ? (g->N * g->K + 1) / 2 : g->N * g->K;
    row_init(&r, op, q4 ? "u8s4s32" : "u8s8s32", s, t, 2.0 * g->M * g->N * g->K,
             (double)g->M * g->K + (double)wbytes + 4.0 * g->M * g->N, PEAK_VNNI);
    snprintf(r.variant, sizeof(r.variant), "%s", qn_qgemm_variant(storage_bits, g->M == 1));
    struct qn_qgemm_weights *w = q4 ? &g->w4 : &g->w8;
    struct qb_runner x[2] = {
        {.name = "ours", .run = q4 ? run_q4_ours : run_q8_ours, .ctx = g, .pool = QB_POOL_GOMP},
        {.name = "onednn", .pool = QB_POOL_GOMP},
    };
    if (!w->packed || w->isa != qn_isa()) {
        if (w->packed) qn_qgemm_weights_free(w);
        enum qn_status st = qn_qgemm_pack(w, g->Wq, g->K, g->N, g->K, g->scale, q4 ? 4 : 8, storage_bits);
        if (st != QN_OK) {
            note_add(&r, "qn_qgemm_pack: %s", qn_status_str(st));
            x[0].run = NULL;
        }
    }
#if QN_HAVE_DNNL
    struct qb_dnnl d = {0};
    if (!q4 && g_have_onednn && !g_opt.no_peers) {
        if (qb_dnnl_matmul(&d, dnnl_u8, dnnl_s8, dnnl_s32, g->M, g->N, g->K, g->Aq, g->Wq, true, NULL,
                           g->Cq_peer, NULL)) {
            x[1].run = qb_dnnl_run, x[1].ctx = &d;
            snprintf(r.peer_impl, sizeof(r.peer_impl), "%s", d.impl);
        } else {
            note_add(&r, "oneDNN u8s8s32 matmul unavailable");
        }
    }
#endif
    row_measure(&r, x, 2);
    if (!q4) {
        r.peer_gflops[PEER_REF] = ref_gf[0];
        r.peer_gflops[PEER_OPENBLAS] = peer_gf[PEER_OPENBLAS];
        bool gemv = g->M == 1 && g_ref.sgemv && g_openblas.sgemv;
        r.peer_op[PEER_REF] = gemv ? (t > 1 ? "cblas_sgemv (FP32), 1 thread" : "cblas_sgemv (FP32)")
                                   : t > 1 ? "cblas_sgemm (FP32), 1 thread" : "cblas_sgemm (FP32)";
        r.peer_op[PEER_OPENBLAS] = gemv ? "cblas_sgemv (FP32)" : "cblas_sgemm (FP32)";
        r.peer_gflops[PEER_ONEDNN] = gflops_of(&r, &x[1]);
        r.peer_op[PEER_ONEDNN] = "matmul u8s8s32";
        *q8_gf = r.gflops;
    } else if (isfinite(*q8_gf) && isfinite(r.gflops)) {
        r.vs_int8 = r.gflops / *q8_gf;
    }
    // cross-check against oneDNN's s32 (the INT4 row: the INT8 row's oneDNN output, same
    // weights); the FP32 output is the accumulator exactly up to float rounding (|acc| < 2^24
    // is not guaranteed at K = 4096, so relative 1e-6)
    static bool peer_valid;
    if (!q4) peer_valid = x[1].run != NULL;
    if (x[0].run && peer_valid) {
        double e = 0, sc = 0;
        for (size_t i = 0; i < g->M * g->N; i++) {
            double a = g->Cq_ours[i], b = g->Cq_peer[i];
            if (!(fabs(a - b) <= e)) e = fabs(a - b);
            if (fabs(b) > sc) sc = fabs(b);
        }
        peer_diff_check(&r, "oneDNN", sc > 0 ? e / sc : e, 1e-6);
    }
#if QN_HAVE_DNNL
    qb_dnnl_free(&d);
#endif
    row_emit(&r);
}

static void gemm_shape(const struct shape *s, const int *threads, int nt) {
    struct gemm_case g;
    if (!gemm_case_init(&g, s)) {
        fprintf(stderr, "bench: out of memory for %s\n", s->str);
        gemm_case_free(&g);
        return;
    }
    g_gc = &g;
    double ref_gf[1] = {NAN};
    for (int i = 0; i < nt; i++) {
        int t = threads[i];
        threads_set(t);
        double peer_gf[PEER_COUNT] = {NAN, NAN, NAN}, q8_gf = NAN;
        bool need_f32 = op_wanted("f32_gemm") || op_wanted("f32_gemm_packed") || op_wanted("qs8_gemm");
        if (need_f32) gemm_f32_row(s, t, false, ref_gf, peer_gf);
#if QB_HAVE_F32_PACKED
        if (op_wanted("f32_gemm_packed")) gemm_f32_row(s, t, true, ref_gf, peer_gf);
#else
        if (op_wanted("f32_gemm_packed")) {
            struct row r;
            row_init(&r, "f32_gemm_packed", "f32", s, t, 0, 0, PEAK_FMA);
            snprintf(r.note, sizeof(r.note), "pending: src/gemm-f32-packed.h not there yet");
            row_emit(&r);
        }
#endif
        if (op_wanted("qs8_gemm") || op_wanted("qs4_gemm")) gemm_q_row(s, t, 8, ref_gf, peer_gf, &q8_gf);
        if (op_wanted("qs4_gemm")) gemm_q_row(s, t, 4, ref_gf, peer_gf, &q8_gf);
    }
    gemm_case_free(&g);
    g_gc = NULL;
}

// --- convolution rows ---

struct conv_case {
    const struct shape *s;
    size_t x_elems, y_elems, w_elems;
    float *x, *w, *y_ours, *y_peer;   // NHWC x [n][h][w][cin], y [n][h][w][cout]; w OHWI or [k][k][c]
    uint8_t *xq;
    int8_t *wq;
    float *yq_ours, *w_scale;         // scales 2^0 .. 2^-3: acc * scale stays exact in FP32
    int32_t *yq_peer;
#if QB_HAVE_CONV
    struct qn_f32_conv fc;
    struct qn_qs8_conv qc;
    struct qn_qgemm_out qout;
#endif
};

#if QB_HAVE_CONV
static void run_conv_f32_ours(void *ctx) {
    struct conv_case *c = ctx;
    qn_f32_conv_run(&c->fc, (size_t)c->s->batch, c->x, (size_t)c->s->cin, c->y_ours, (size_t)c->s->cout, NULL);
}
static void run_conv_q8_ours(void *ctx) {
    struct conv_case *c = ctx;
    qn_qs8_conv_run(&c->qc, (size_t)c->s->batch, c->xq, (size_t)c->s->cin, &c->qout, c->yq_ours,
                    (size_t)c->s->cout);
}
#endif

// 1x1 as the GEMM it is: y[n*h*w][cout] = x[n*h*w][cin] x W^T, W [cout][cin] (CblasTrans 112)
static void run_pw_blas(struct qb_blas *b, struct conv_case *c) {
    const struct shape *s = c->s;
    int M = s->batch * s->h * s->w;
    b->sgemm(QB_CBLAS_ROW_MAJOR, QB_CBLAS_NO_TRANS, 112, M, s->cout, s->cin, 1.0f, c->x, s->cin, c->w,
             s->cin, 0.0f, c->y_peer, s->cout);
}
static void run_pw_ref(void *ctx) { run_pw_blas(&g_ref, ctx); }
static void run_pw_openblas(void *ctx) { run_pw_blas(&g_openblas, ctx); }

static void conv_case_free(struct conv_case *c) {
    qn_free(c->x), qn_free(c->w), qn_free(c->y_ours), qn_free(c->y_peer);
    qn_free(c->xq), qn_free(c->wq), qn_free(c->yq_ours), qn_free(c->w_scale), qn_free(c->yq_peer);
#if QB_HAVE_CONV
    if (c->fc.p.h) qn_f32_conv_free(&c->fc);
    if (c->qc.p.h) qn_qs8_conv_free(&c->qc);
#endif
    memset(c, 0, sizeof(*c));
}

static bool conv_case_init(struct conv_case *c, const struct shape *s) {
    memset(c, 0, sizeof(*c));
    c->s = s;
    c->x_elems = (size_t)s->batch * s->h * s->w * s->cin;
    c->y_elems = (size_t)s->batch * s->h * s->w * s->cout;
    c->w_elems = s->kind == SHAPE_DWCONV ? (size_t)s->k * s->k * s->cin : (size_t)s->cout * s->cin;
    c->x = qn_alloc(c->x_elems * 4), c->w = qn_alloc(c->w_elems * 4);
    c->y_ours = qn_alloc(c->y_elems * 4), c->y_peer = qn_alloc(c->y_elems * 4);
    c->xq = qn_alloc(c->x_elems), c->wq = qn_alloc(c->w_elems);
    c->yq_ours = qn_alloc(c->y_elems * 4), c->yq_peer = qn_alloc(c->y_elems * 4);
    c->w_scale = qn_alloc((size_t)s->cout * 4);
    if (!c->x || !c->w || !c->y_ours || !c->y_peer || !c->xq || !c->wq || !c->yq_ours || !c->yq_peer ||
        !c->w_scale)
        return false;
    for (size_t i = 0; i < c->x_elems; i++) c->x[i] = rnd_f32(), c->xq[i] = (uint8_t)(rnd() >> 24);
    for (size_t i = 0; i < c->w_elems; i++) c->w[i] = rnd_f32(), c->wq[i] = (int8_t)((int)(rnd() % 255) - 127);
    // Per-channel scales that are not all 1 (oneDNN drops an all-ones scale attribute and its
    // multiply with it), yet powers of two, so acc * scale is exact and every output compares
    // bit for bit.
    for (int i = 0; i < s->cout; i++) c->w_scale[i] = ldexpf(1.0f, -(i % 4));
    return true;
}

// Makes ours for the case (once: the objects survive both thread counts). Returns a reason
// when ours cannot run.
static const char *conv_ours_init(struct conv_case *c, bool q8) {
#if QB_HAVE_CONV
    const struct shape *s = c->s;
    bool dw = s->kind == SHAPE_DWCONV;
    struct qn_conv_params p = {
        .h = (size_t)s->h, .w = (size_t)s->w, .c_in = (size_t)s->cin, .c_out = (size_t)s->cout,
        .kh = (size_t)s->k, .kw = (size_t)s->k, .stride_h = 1, .stride_w = 1,
        .pad_h = (size_t)(s->k - 1) / 2, .pad_w = (size_t)(s->k - 1) / 2, .depthwise = dw,
    };
    const void *wd = q8 ? (const void *)c->wq : (const void *)c->w;
    size_t elem = q8 ? 1 : 4;
    struct qn_conv_wview v = dw ? qn_conv_wview_dw(wd, elem, (size_t)s->k, (size_t)s->cin, (size_t)s->cin, (size_t)s->k)
                                : qn_conv_wview_ohwi(wd, elem, (size_t)s->cout, 1, (size_t)s->cin, (size_t)s->cout, 1,
                                                     (size_t)s->cin);
    if (!q8) {
        if (c->fc.p.h) return NULL;
        enum qn_status st = qn_f32_conv_init(&c->fc, &p, &v);
        if (st != QN_OK) {
            memset(&c->fc, 0, sizeof(c->fc));
            return qn_status_str(st);
        }
        return NULL;
    }
    if (c->qc.p.h && c->qc.isa == qn_isa()) return NULL;
    if (c->qc.p.h) qn_qs8_conv_free(&c->qc);
    enum qn_status st = qn_qs8_conv_init(&c->qc, &p, &v, c->w_scale, 8);
    if (st != QN_OK) {
        memset(&c->qc, 0, sizeof(c->qc));
        return qn_status_str(st);
    }
    c->qout.a_scale = 1.0f;
    return NULL;
#else
    return "pending: src/conv.h not there yet";
#endif
}

static void conv_row(struct conv_case *c, int t, bool q8, double ref_gf[1], double blas_gf[PEER_COUNT]) {
    const struct shape *s = c->s;
    bool dw = s->kind == SHAPE_DWCONV;
    const char *op = dw ? (q8 ? "qs8_dwconv" : "f32_dwconv") : (q8 ? "qs8_conv1x1" : "f32_conv1x1");
    struct row r;
    double flops = 2.0 * (double)s->batch * s->h * s->w * s->cout * (dw ? s->k * s->k : s->cin);
    double esz = q8 ? 1 : 4;
    row_init(&r, op, q8 ? "u8s8s32" : "f32", s, t, flops,
             esz * (double)(c->x_elems + c->w_elems) + 4.0 * (double)c->y_elems, q8 ? PEAK_VNNI : PEAK_FMA);
    struct qb_runner x[5] = {
        {.name = "ours", .ctx = c, .pool = QB_POOL_GOMP},
        {.name = "ref_cblas", .ctx = c, .pool = QB_POOL_NONE},
        {.name = "openblas", .ctx = c, .pool = QB_POOL_OPENBLAS},
        {.name = "onednn", .pool = QB_POOL_GOMP},
        {.name = "onednn_f32out", .pool = QB_POOL_GOMP},
    };
    const char *why = conv_ours_init(c, q8);
    if (why) {
        snprintf(r.variant, sizeof(r.variant), "-");
        note_add(&r, "%s", why);
    } else {
#if QB_HAVE_CONV
        x[0].run = q8 ? run_conv_q8_ours : run_conv_f32_ours;
        snprintf(r.variant, sizeof(r.variant), "%s", q8 ? qn_qs8_conv_variant(&c->qc) : qn_f32_conv_variant(&c->fc));
#endif
    }
    // BLAS: a 1x1 conv is an sgemm; depthwise has no BLAS form worth timing
    if (!dw && !q8 && !g_opt.no_peers) {
        if (g_have_ref && t == 1) x[1].run = run_pw_ref, ref_plan(&r, &x[1]);
        if (g_have_openblas) x[2].run = run_pw_openblas;
    }
#if QN_HAVE_DNNL
    struct qb_dnnl d = {0}, d2 = {0};
    if (g_have_onednn && !g_opt.no_peers) {
        // INT8: the peer runs ours' exact op, u8 x s8 -> f32 with per-output-channel scales;
        // its s32-out convolution (no conversion, no scaling) is timed beside it for the note.
        bool ok = q8 ? qb_dnnl_conv(&d, dnnl_u8, dnnl_s8, dnnl_f32, s->batch, s->h, s->w, s->cin, s->cout, s->k,
                                    dw, c->xq, c->wq, c->y_peer, c->w_scale)
                     : qb_dnnl_conv(&d, dnnl_f32, dnnl_f32, dnnl_f32, s->batch, s->h, s->w, s->cin, s->cout, s->k,
                                    dw, c->x, c->w, c->y_peer, NULL);
        if (q8 && qb_dnnl_conv(&d2, dnnl_u8, dnnl_s8, dnnl_s32, s->batch, s->h, s->w, s->cin, s->cout, s->k, dw,
                               c->xq, c->wq, c->yq_peer, NULL))
            x[4].run = qb_dnnl_run, x[4].ctx = &d2;
        if (ok) {
            x[3].run = qb_dnnl_run, x[3].ctx = &d;
            snprintf(r.peer_impl, sizeof(r.peer_impl), "%s", d.impl);
        } else {
            note_add(&r, "oneDNN conv unavailable");
        }
    }
#endif
    row_measure(&r, x, 5);
    if (x[4].run) {
        const double g2 = gflops_of(&r, &x[4]);
        note_add(&r, "oneDNN u8s8s32 (s32 out: no conversion, no scales): %.1f, ours %.2fx", g2,
                 x[0].run ? r.gflops / g2 : NAN);
        // its sums times the scales are ours' outputs, exactly
        size_t i = 0;
        while (x[0].run && i < c->y_elems && c->yq_ours[i] == (float)c->yq_peer[i] * c->w_scale[i % (size_t)s->cout])
            i++;
        if (x[0].run && i < c->y_elems) note_add(&r, "WARNING: differs from the s32-out peer");
    }
    if (x[1].run) ref_gf[0] = gflops_of(&r, &x[1]);
    if (!dw) {
        if (!q8) blas_gf[PEER_OPENBLAS] = gflops_of(&r, &x[2]);
        r.peer_gflops[PEER_REF] = ref_gf[0];
        r.peer_gflops[PEER_OPENBLAS] = blas_gf[PEER_OPENBLAS];
        r.peer_op[PEER_REF] = q8 ? "cblas_sgemm (FP32 1x1), 1 thread" : "cblas_sgemm (1x1 as GEMM), 1 thread";
        r.peer_op[PEER_OPENBLAS] = q8 ? "cblas_sgemm (FP32 1x1)" : "cblas_sgemm (1x1 as GEMM)";
    }
    r.peer_gflops[PEER_ONEDNN] = gflops_of(&r, &x[3]);
    r.peer_op[PEER_ONEDNN] = q8 ? "convolution u8s8 -> f32, per-channel scales" : "convolution f32";
    if (x[0].run && (x[1].run || x[2].run || x[3].run)) {
        peer_diff_check(&r, "the peer", qb_rel_diff_f32(q8 ? c->yq_ours : c->y_ours, c->y_peer, c->y_elems),
                        q8 ? 1e-6 : 1e-4);
    }
#if QN_HAVE_DNNL
    qb_dnnl_free(&d);
    qb_dnnl_free(&d2);
#endif
    row_emit(&r);
}

static void conv_shape(const struct shape *s, const int *threads, int nt) {
    bool dw = s->kind == SHAPE_DWCONV;
    bool want_f = op_wanted(dw ? "f32_dwconv" : "f32_conv1x1");
    bool want_q = op_wanted(dw ? "qs8_dwconv" : "qs8_conv1x1");
    if (!want_f && !want_q) return;
    struct conv_case c;
    if (!conv_case_init(&c, s)) {
        fprintf(stderr, "bench: out of memory for %s\n", s->str);
        conv_case_free(&c);
        return;
    }
    double ref_gf[1] = {NAN};
    for (int i = 0; i < nt; i++) {
        threads_set(threads[i]);
        double blas_gf[PEER_COUNT] = {NAN, NAN, NAN};
        // the FP32 row measures the sgemm the INT8 1x1 row quotes
        if (want_f || !dw) conv_row(&c, threads[i], false, ref_gf, blas_gf);
        if (want_q) conv_row(&c, threads[i], true, ref_gf, blas_gf);
    }
    conv_case_free(&c);
}

// --- attention rows ---

// Self-attention over T tokens of dim D, H heads of dh (HD = H dh), no mask. Ours runs on
// weights packed once; the peer on its own intermediates, so both keep their outputs.
struct mha_case {
    const struct shape *s;
    size_t T, D, H, dh, HD;
    float *x;                      // [T][D]
    float *wqkv, *wo;              // [3 HD][D] (Wq | Wk | Wv, nn.Linear layout), [D][HD]
    float *b_qkv, *b_o;            // [3 HD], [D]
    float *y_ours, *y_peer;        // [T][D], FP32 rows
    float *yq_ours, *yq_peer;      // [T][D], INT8 rows
    float *qkv, *scores, *o;       // the peer's [T][3 HD], [H][T][T], [T][HD]
    int8_t *wq8_qkv, *wq8_o;       // the INT8 peer's weights, quantized as ours quantizes them
    float *s_q8;                   // [3 HD + D] their per-row scales
    uint8_t *xq, *oq;              // [T][D], [T][HD]: the INT8 peer's quantized activations
    struct qn_f32_mha_packed fp;
    struct qn_qs8_mha q8;
    struct qn_mha_workspace ws;
    enum qn_status fp_st, q8_st;   // of the packing (QN_OK: ours can run)
};

static void run_mha_f32_ours(void *ctx) {
    struct mha_case *c = ctx;
    qn_f32_mha_packed_forward(&c->fp, c->T, c->x, c->D, NULL, 0, false, c->y_ours, c->D, &c->ws);
}
static void run_mha_q8_ours(void *ctx) {
    struct mha_case *c = ctx;
    qn_qs8_mha_forward(&c->q8, c->T, c->x, c->D, NULL, 0, false, c->yq_ours, c->D, &c->ws);
}

static void mha_case_free(struct mha_case *c) {
    float *f[] = {c->x, c->wqkv, c->wo, c->b_qkv, c->b_o, c->y_ours, c->y_peer, c->yq_ours, c->yq_peer,
                  c->qkv, c->scores, c->o, c->s_q8};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) qn_free(f[i]);
    qn_free(c->wq8_qkv), qn_free(c->wq8_o), qn_free(c->xq), qn_free(c->oq);
    if (c->fp_st == QN_OK) qn_f32_mha_packed_free(&c->fp);
    if (c->q8_st == QN_OK) qn_qs8_mha_free(&c->q8);
    qn_mha_workspace_free(&c->ws);
    memset(c, 0, sizeof(*c));
}

// Call with qn_threads() at the most the rows use: the workspace holds that many score buffers.
static bool mha_case_init(struct mha_case *c, const struct shape *s) {
    memset(c, 0, sizeof(*c));
    c->fp_st = c->q8_st = QN_ERR_ARG;  // nothing to free yet
    const size_t T = s->T, D = s->D, HD = s->H * s->dh;
    c->s = s, c->T = T, c->D = D, c->H = s->H, c->dh = s->dh, c->HD = HD;
    float **f[] = {&c->x, &c->wqkv, &c->wo, &c->b_qkv, &c->b_o, &c->y_ours, &c->y_peer, &c->yq_ours, &c->yq_peer,
                   &c->qkv, &c->scores, &c->o, &c->s_q8};
    const size_t n[] = {T * D, 3 * HD * D, D * HD, 3 * HD, D, T * D, T * D, T * D, T * D,
                        T * 3 * HD, s->H * T * T, T * HD, 3 * HD + D};
    bool ok = true;
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) ok &= (*f[i] = qn_alloc(n[i] * sizeof(float))) != NULL;
    c->wq8_qkv = qn_alloc(3 * HD * D), c->wq8_o = qn_alloc(D * HD);
    c->xq = qn_alloc(T * D), c->oq = qn_alloc(T * HD);
    if (!ok || !c->wq8_qkv || !c->wq8_o || !c->xq || !c->oq ||
        qn_mha_workspace_init(&c->ws, T, D, s->H, s->dh) != QN_OK)
        return false;
    // Weights at 2 / sqrt(fan-in) so that scores spread over ~1 (softmax neither flat nor one-hot)
    // and y stays O(1); biases small.
    const float wsc = 2.0f / sqrtf((float)D), osc = 2.0f / sqrtf((float)HD);
    for (size_t i = 0; i < T * D; i++) c->x[i] = rnd_f32();
    for (size_t i = 0; i < 3 * HD * D; i++) c->wqkv[i] = wsc * rnd_f32();
    for (size_t i = 0; i < D * HD; i++) c->wo[i] = osc * rnd_f32();
    for (size_t i = 0; i < 3 * HD; i++) c->b_qkv[i] = 0.1f * rnd_f32();
    for (size_t i = 0; i < D; i++) c->b_o[i] = 0.1f * rnd_f32();
    const struct qn_mha_weights w = {
        .wq = c->wqkv, .wk = c->wqkv + HD * D, .wv = c->wqkv + 2 * HD * D, .ld_qkv = D,
        .bq = c->b_qkv, .bk = c->b_qkv + HD, .bv = c->b_qkv + 2 * HD,
        .wo = c->wo, .ld_o = HD, .bo = c->b_o, .dh_max = s->dh};
    const struct qn_mha_dims d = {D, s->H, s->dh};
    c->fp_st = qn_f32_mha_pack(&c->fp, &w, d);
    c->q8_st = qn_qs8_mha_init_f32(&c->q8, &w, d, 8);
    // the same s8 values and scales as qn_qs8_mha_init_f32 (the subnet is the whole layer here)
    qn_qs8_weights_quantize(3 * HD, D, c->wqkv, D, 8, c->wq8_qkv, D, c->s_q8);
    qn_qs8_weights_quantize(D, HD, c->wo, HD, 8, c->wq8_o, HD, c->s_q8 + 3 * HD);
    return true;
}

// FP32 row (q8 false), or INT8 projections; f32_gf: the FP32 row's GFLOP/s, which the INT8 row
// quotes.
static void mha_row(struct mha_case *c, int t, bool q8, double *f32_gf) {
    const struct shape *s = c->s;
    const char *op = q8 ? "qs8_mha" : "f32_mha";
    const double T = (double)c->T, D = (double)c->D, HD = (double)c->HD;
    struct row r;
    // inputs (x, weights, biases) and y once; the INT8 weights are one byte
    row_init(&r, op, q8 ? "u8s8s32+f32" : "f32", s, t, 2 * T * D * 3 * HD + 2 * T * HD * D + 4 * T * T * HD,
             4 * (2 * T * D + 3 * HD + D) + (q8 ? 1 : 4) * 4 * D * HD,
             q8 ? PEAK_VNNI : PEAK_FMA);  // INT8: against the VNNI peak, though the core's third is FP32
    snprintf(r.variant, sizeof(r.variant), "%s", q8 ? qn_qs8_mha_variant() : qn_f32_mha_variant());
    float *y = q8 ? c->yq_ours : c->y_ours, *y_peer = q8 ? c->yq_peer : c->y_peer;
    struct qb_runner x[2] = {
        {.name = "ours", .run = q8 ? run_mha_q8_ours : run_mha_f32_ours, .ctx = c, .pool = QB_POOL_GOMP},
        {.name = "onednn", .pool = QB_POOL_GOMP},
    };
    // one untimed call: the status, and the INT8 peer's activation parameters
    enum qn_status st = q8 ? c->q8_st : c->fp_st;
    if (st == QN_OK)
        st = q8 ? qn_qs8_mha_forward(&c->q8, c->T, c->x, c->D, NULL, 0, false, y, c->D, &c->ws)
                : qn_f32_mha_packed_forward(&c->fp, c->T, c->x, c->D, NULL, 0, false, y, c->D, &c->ws);
    if (st != QN_OK) {
        note_add(&r, "ours: %s", qn_status_str(st));
        x[0].run = NULL;
    }
#if QN_HAVE_DNNL
    struct qb_dnnl_mha d = {0};
    if (g_have_onednn && !g_opt.no_peers && (x[0].run || !q8)) {
        // INT8: x and o quantized with the parameters ours found in the call above (min/max),
        // fixed in the peer's reorders: ours searches min/max every call, the peer does not
        const struct qb_dnnl_mha_q8 q = {
            .wqkv = c->wq8_qkv, .wo = c->wq8_o, .s_qkv = c->s_q8, .s_o = c->s_q8 + 3 * c->HD,
            .x_scale = c->ws.x_params.scale, .x_zp = c->ws.x_params.zp,
            .o_scale = c->ws.o_params.scale, .o_zp = c->ws.o_params.zp, .xq = c->xq, .oq = c->oq};
        if (qb_dnnl_mha_init(&d, c->T, c->D, c->H, c->dh, c->x, c->wqkv, c->b_qkv, c->wo, c->b_o, c->qkv,
                             c->scores, c->o, y_peer, q8 ? &q : NULL)) {
            x[1].run = qb_dnnl_mha_run, x[1].ctx = &d;
            snprintf(r.peer_impl, sizeof(r.peer_impl), "%.40s, Q K^T %.40s", d.qkv.impl, d.impl);
        } else {
            note_add(&r, "oneDNN attention unavailable");
        }
    }
#endif
    row_measure(&r, x, 2);
    r.peer_gflops[PEER_ONEDNN] = gflops_of(&r, &x[1]);
    r.peer_op[PEER_ONEDNN] =
        q8 ? "u8s8 matmul projections (x, o quantized by reorders with parameters fixed outside the timing: "
             "a stricter comparison for ours, which finds min/max every call), f32 core as f32_mha"
           : "matmul f32 projections; Q K^T and P V one batched matmul each on strided views; softmax";
    if (!q8) *f32_gf = r.gflops;
    else if (isfinite(*f32_gf) && isfinite(r.gflops)) note_add(&r, "INT8/FP32 ours %.2fx", r.gflops / *f32_gf);
    // FP32: four GEMMs and exp summed in another order, another exp polynomial: 7e-7 of max |y|
    // measured on both shapes; 1e-4 as for the other FP32 rows. INT8: the same s8 weights, and
    // x and o quantized with the same parameters, but a value on a rounding boundary can land
    // one step apart (the reorder rounds on its own; the two FP32 cores differ by rounding), and
    // each o step moves a y row by o_scale |Wo[n][k]|, ~4e-4 of max |y| here. Measured: 0 at
    // 196x384; 1.7e-3 at 128x768, where 2 of 98304 x values and then 133 of 98304 o values
    // were a step apart. 1e-2 still catches a wrong scale, zero point or bias (errors ~1).
    if (x[0].run && x[1].run) peer_diff_check(&r, "the peer", qb_rel_diff_f32(y, y_peer, c->T * c->D), q8 ? 1e-2 : 1e-4);
#if QN_HAVE_DNNL
    qb_dnnl_mha_free(&d);
#endif
    row_emit(&r);
}

static void mha_shape(const struct shape *s, const int *threads, int nt) {
    const bool want_q = op_wanted("qs8_mha");
    if (!op_wanted("f32_mha") && !want_q) return;
    threads_set(threads[nt - 1]);  // the most threads any row uses, for the workspace
    struct mha_case c;
    if (!mha_case_init(&c, s)) {
        fprintf(stderr, "bench: out of memory for %s\n", s->str);
        mha_case_free(&c);
        return;
    }
    for (int i = 0; i < nt; i++) {
        threads_set(threads[i]);
        double f32_gf = NAN;
        mha_row(&c, threads[i], false, &f32_gf);  // always: the INT8 row quotes it
        if (want_q) mha_row(&c, threads[i], true, &f32_gf);
    }
    mha_case_free(&c);
}

// --- main ---

// Other engineers' jobs share the machine: the load average says how much to trust a run.
static void print_load(const char *when) {
    FILE *f = fopen("/proc/loadavg", "r");
    char buf[128] = "?";
    if (f) {
        if (!fgets(buf, sizeof(buf), f)) snprintf(buf, sizeof(buf), "?");
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("# load average at %s: %s\n", when, buf);
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench-kernels [--shapes FILE] [--json FILE] [--op NAME[,NAME]] [--threads N] [--quick]\n"
            "                     [--budget SECONDS] [--no-peers] [--onednn-isa avx512_core_vnni|avx512_core|avx2]\n"
            "  ops: f32_gemm f32_gemm_packed qs8_gemm qs4_gemm f32_dwconv qs8_dwconv f32_conv1x1 qs8_conv1x1\n"
            "       f32_mha qs8_mha\n");
}

static bool parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--shapes") == 0 && has_val) g_opt.shapes = argv[++i];
        else if (strcmp(a, "--json") == 0 && has_val) g_opt.json = argv[++i];
        else if (strcmp(a, "--op") == 0 && has_val) g_opt.ops = argv[++i];
        else if (strcmp(a, "--threads") == 0 && has_val) {
            g_opt.threads = atoi(argv[++i]);
            if (g_opt.threads < 1 || g_opt.threads > 2) {
                fprintf(stderr, "bench: --threads takes 1 or 2\n");
                return false;
            }
        } else if (strcmp(a, "--budget") == 0 && has_val) {
            g_opt.budget_s = atof(argv[++i]);
            if (!(g_opt.budget_s > 0 && g_opt.budget_s < 600)) {
                fprintf(stderr, "bench: --budget takes seconds in (0, 600)\n");
                return false;
            }
        } else if (strcmp(a, "--quick") == 0) g_opt.quick = true;
        else if (strcmp(a, "--no-peers") == 0) g_opt.no_peers = true;
        else if (strcmp(a, "--onednn-isa") == 0 && has_val) g_opt.onednn_isa = argv[++i];
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            exit(0);
        } else {
            fprintf(stderr, "bench: unknown or incomplete argument %s\n", a);
            usage();
            return false;
        }
    }
    if (g_opt.quick && g_opt.budget_s == 1.5) g_opt.budget_s = 0.3;
    return true;
}

int main(int argc, char **argv) {
    if (!parse_args(argc, argv)) return 2;
    static struct shape shapes[64];
    int ns = shapes_load(g_opt.shapes, shapes, 64);
    if (ns < 0) return 2;

    // OpenBLAS reads these when loaded: ask for its best core, and let idle workers sleep
    // after 2^20 cycles (~0.4 ms) instead of spinning 2^28 (~0.1 s) on the cores ours needs.
    char core_why[160];
    const char *coretype = qb_openblas_coretype(core_why, sizeof(core_why));
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) setenv("OPENBLAS_THREAD_TIMEOUT", "20", 1);
    if (!g_opt.no_peers) {
        g_have_ref = qb_blas_open(&g_ref, qb_ref_blas_paths);
        g_have_openblas = qb_blas_open(&g_openblas, qb_openblas_paths) && g_openblas.corename;
#if QN_HAVE_DNNL
        if (g_opt.onednn_isa) {
            static const struct { const char *name; dnnl_cpu_isa_t isa; } caps[] = {
                {"avx512_core_amx", dnnl_cpu_isa_avx512_core_amx}, {"avx512_core_vnni", dnnl_cpu_isa_avx512_core_vnni},
                {"avx512_core", dnnl_cpu_isa_avx512_core}, {"avx2_vnni", dnnl_cpu_isa_avx2_vnni}, {"avx2", dnnl_cpu_isa_avx2},
            };
            size_t j = 0;
            while (j < sizeof(caps) / sizeof(caps[0]) && strcmp(caps[j].name, g_opt.onednn_isa) != 0) j++;
            if (j == sizeof(caps) / sizeof(caps[0]) || dnnl_set_max_cpu_isa(caps[j].isa) != dnnl_success) {
                fprintf(stderr, "bench: --onednn-isa %s: unknown or too late\n", g_opt.onednn_isa);
                return 2;
            }
        }
        g_have_onednn = qb_dnnl_init();
#endif
    }

    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    printf("# qnas kernel benchmark, %s\n", date);
    printf("# cpu: %s; qnas ISA %s; %d threads available\n", qn_cpu()->brand, qn_isa_name(qn_isa()), qn_threads());
    printf("# compiler: %s %s\n",
#if defined(__clang__)
           "clang",
#else
           "gcc",
#endif
           __VERSION__);
    if (g_have_ref) printf("# ref cblas: %s (single-threaded; its 1-thread figure is quoted in 2-thread rows)\n", g_ref.path);
    else printf("# ref cblas: not found (Debian libblas3): ratios null\n");
    if (g_have_openblas)
        printf("# OpenBLAS: %s, OPENBLAS_CORETYPE=%s (%s), core reported: %s, config: %s\n", g_openblas.path,
               coretype, core_why, g_openblas.corename(), g_openblas.config ? g_openblas.config() : "?");
    else printf("# OpenBLAS: not found: ratios null\n");
#if QN_HAVE_DNNL
    if (g_have_onednn) {
        const dnnl_version_t *v = dnnl_version();
        Dl_info info = {0};
        const char *path = dladdr((void *)dnnl_version, &info) && info.dli_fname ? info.dli_fname : "libdnnl.so";
        unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
        printf("# oneDNN: %s %d.%d.%d (OpenMP runtime), max ISA %s (0x%x; --onednn-isa to cap it), weights\n"
               "#   reordered once to the layout it picks; int8 rows use AMX tiles where it says amx\n",
               path, v->major, v->minor, v->patch,
               isa == dnnl_cpu_isa_avx512_core_amx ? "avx512_core_amx" : isa == dnnl_cpu_isa_avx512_core_vnni ? "avx512_core_vnni"
               : isa == dnnl_cpu_isa_avx512_core ? "avx512_core" : "other", isa);
    } else {
        printf("# oneDNN: engine creation failed: ratios null\n");
    }
#else
    printf("# oneDNN: not built in (no /usr/include/oneapi/dnnl/dnnl.h): ratios null\n");
#endif
    printf("# GFLOP/s counts 2 ops per multiply-add (GOP/s for integer rows); median of alternating samples;\n"
           "# ratio = ours / peer, peer GFLOP/s in parentheses. INT8 rows quote the BLAS peers' FP32 sgemm of\n"
           "# the same shape (they have no integer GEMM); M = 1 rows use cblas_sgemv. GB/s: inputs and output\n"
           "# read/written once (JSON peer_op says what each peer ran).\n"
           "# Clocks (shared machine): 1-thread rows use the calling thread's CPU time (all contenders run\n"
           "# on it), 2-thread rows wall time minus samples where another process held a core (bench.h).\n");
    print_load("start");

    peak_measure(g_opt.quick);
    g_json = cJSON_CreateArray();
    for (int k = 0; k < 2; k++) {
        const struct peak *pk = &g_peak[k];
        if (!pk->have) continue;
        printf("# peak %-28s 1 thread %8.1f G%s/s   2 threads %8.1f G%s/s\n", pk->instr, pk->gops[1],
               k == PEAK_FMA ? "FLOP" : "OP", pk->gops[2], k == PEAK_FMA ? "FLOP" : "OP");
        for (int t = 1; t <= 2; t++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "op", k == PEAK_FMA ? "peak_fma" : "peak_vnni");
            cJSON_AddStringToObject(o, "dtype", k == PEAK_FMA ? "f32" : "u8s8s32");
            cJSON_AddStringToObject(o, "shape", "-");
            cJSON_AddStringToObject(o, "variant", pk->instr);
            cJSON_AddNumberToObject(o, "threads", t);
            cJSON_AddNumberToObject(o, "gflops", pk->gops[t]);
            cJSON_AddNullToObject(o, "vs_ref_cblas");
            cJSON_AddNullToObject(o, "vs_openblas");
            cJSON_AddNullToObject(o, "vs_onednn");
            cJSON_AddItemToArray(g_json, o);
        }
    }
    printf("# %%peak: ours over the same loop timed in the row's own rounds, alternating with the\n"
           "# contenders (JSON peak_gflops); over the best-of figures above: JSON fraction_of_best_peak.\n\n");
    table_header();

    int threads[2] = {1, 2}, nt = 2;
    if (g_opt.threads) threads[0] = g_opt.threads, nt = 1;
    double t0 = qn_now();
    for (int i = 0; i < ns; i++) {
        if (shapes[i].kind == SHAPE_GEMM) gemm_shape(&shapes[i], threads, nt);
        else if (shapes[i].kind == SHAPE_MHA) mha_shape(&shapes[i], threads, nt);
        else conv_shape(&shapes[i], threads, nt);
    }
    printf("\n# %.0f s\n", qn_now() - t0);
    print_load("end");

    int rc = 0;
    if (g_opt.json) {
        char *txt = cJSON_Print(g_json);
        FILE *f = txt ? fopen(g_opt.json, "w") : NULL;
        if (!f || fputs(txt, f) < 0 || fputc('\n', f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "bench: cannot write %s: %s\n", g_opt.json, strerror(errno));
            rc = 2;
        } else {
            printf("# JSON: %s\n", g_opt.json);
        }
        free(txt);
    }
    cJSON_Delete(g_json);
    return rc;
}
