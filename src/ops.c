// Elementwise, normalization, pooling and quantization operators: dispatch and threading.
//
// Each op has a config (function pointers + kernel names) per ISA level, in tables filled once
// under pthread_once: scalar entries first, then overridden per level. Operators index the
// tables with qn_isa() at call time, so tests can switch levels between calls.
//
// Threading: work is split into independent tasks (rows, or row chunks for long rows, or
// channel blocks for pooling) run by an OpenMP loop on qn_threads() threads when there is enough
// of it (>= QN_OPS_PAR_MIN elements). Inside an enclosing parallel region (attention over
// heads) the operators run serially instead of opening a nested region.
#include <math.h>
#include <omp.h>
#include <pthread.h>

#include "ops.h"

#include "cpu.h"
#include "f32-layernorm/f32-layernorm.h"
#include "f32-pool/f32-pool.h"
#include "f32-softmax/f32-softmax.h"
#include "f32-vact/f32-vact.h"
#include "f32-vadd/f32-vadd.h"
#include "qu8-quant/qu8-quant.h"

// Below this many elements a parallel region costs more than it saves (~2-5 us to wake the
// team vs. ~1 ns per element for these memory-bound kernels).
#define QN_OPS_PAR_MIN 32768
// Elementwise ops split long rows into chunks of this many elements (16 KiB of floats).
#define QN_OPS_CHUNK 4096
// Pooling splits the channels into blocks of this many (one AVX-512 kernel pass).
#define QN_POOL_CBLOCK 64

// --- configs ---

struct qn_layernorm_config {
    qn_f32_layernorm_ukernel_fn ukernel;
    const char *name;
};

struct qn_softmax_config {
    qn_f32_softmax_ukernel_fn ukernel;
    const char *name;
};

struct qn_vact_config {
    qn_f32_vunary_ukernel_fn ukernel[QN_ACT_GELU + 1];  // [QN_ACT_NONE] unused (copy)
    const char *name[QN_ACT_GELU + 1];
};

struct qn_vadd_config {
    qn_f32_vadd_ukernel_fn ukernel;
    const char *name;
};

struct qn_pool_config {
    qn_f32_gavgpool_ukernel_fn global;
    qn_f32_avgpool_ukernel_fn window;
    const char *global_name, *window_name;
};

struct qn_quant_config {
    qn_qu8_quantize_ukernel_fn quantize;
    qn_qu8_dequantize_ukernel_fn dequantize;
    qn_f32_rminmax_ukernel_fn rminmax;
    const char *quantize_name, *dequantize_name, *rminmax_name;
};

static struct qn_layernorm_config layernorm_config[QN_ISA_COUNT];
static struct qn_softmax_config softmax_config[QN_ISA_COUNT];
static struct qn_vact_config vact_config[QN_ISA_COUNT];
static struct qn_vadd_config vadd_config[QN_ISA_COUNT];
static struct qn_pool_config pool_config[QN_ISA_COUNT];
static struct qn_quant_config quant_config[QN_ISA_COUNT];
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

#define QN_SET(cfg, field, fn) ((cfg).field = fn, (cfg).field##_name = #fn)

static void configs_init(void) {
    for (int i = 0; i < QN_ISA_COUNT; i++) {
        layernorm_config[i] = (struct qn_layernorm_config){
            qn_f32_layernorm_ukernel__scalar, "qn_f32_layernorm_ukernel__scalar"};
        softmax_config[i] = (struct qn_softmax_config){qn_f32_softmax_ukernel__scalar,
                                                       "qn_f32_softmax_ukernel__scalar"};
        vact_config[i] = (struct qn_vact_config){
            {NULL, qn_f32_vrelu_ukernel__scalar, qn_f32_vrelu6_ukernel__scalar,
             qn_f32_vhswish_ukernel__scalar, qn_f32_vgelu_ukernel__scalar},
            {"memcpy", "qn_f32_vrelu_ukernel__scalar", "qn_f32_vrelu6_ukernel__scalar",
             "qn_f32_vhswish_ukernel__scalar", "qn_f32_vgelu_ukernel__scalar"}};
        vadd_config[i] = (struct qn_vadd_config){qn_f32_vadd_ukernel__scalar,
                                                 "qn_f32_vadd_ukernel__scalar"};
        pool_config[i] = (struct qn_pool_config){
            qn_f32_gavgpool_ukernel__scalar, qn_f32_avgpool_ukernel__scalar,
            "qn_f32_gavgpool_ukernel__scalar", "qn_f32_avgpool_ukernel__scalar"};
        struct qn_quant_config *q = &quant_config[i];
        QN_SET(*q, quantize, qn_qu8_quantize_ukernel__scalar);
        QN_SET(*q, dequantize, qn_qu8_dequantize_ukernel__scalar);
        QN_SET(*q, rminmax, qn_f32_rminmax_ukernel__scalar);
    }
    // AVX-VNNI adds nothing for these float kernels: it runs the AVX2 ones.
    const enum qn_isa avx2_levels[] = {QN_ISA_AVX2, QN_ISA_AVXVNNI};
    for (size_t k = 0; k < 2; k++) {
        const enum qn_isa i = avx2_levels[k];
        layernorm_config[i] = (struct qn_layernorm_config){qn_f32_layernorm_ukernel__avx2,
                                                           "qn_f32_layernorm_ukernel__avx2"};
        softmax_config[i] = (struct qn_softmax_config){qn_f32_softmax_ukernel__avx2,
                                                       "qn_f32_softmax_ukernel__avx2"};
        vact_config[i] = (struct qn_vact_config){
            {NULL, qn_f32_vrelu_ukernel__avx2, qn_f32_vrelu6_ukernel__avx2,
             qn_f32_vhswish_ukernel__avx2, qn_f32_vgelu_ukernel__avx2},
            {"memcpy", "qn_f32_vrelu_ukernel__avx2", "qn_f32_vrelu6_ukernel__avx2",
             "qn_f32_vhswish_ukernel__avx2", "qn_f32_vgelu_ukernel__avx2"}};
        vadd_config[i] = (struct qn_vadd_config){qn_f32_vadd_ukernel__avx2,
                                                 "qn_f32_vadd_ukernel__avx2"};
        pool_config[i] = (struct qn_pool_config){
            qn_f32_gavgpool_ukernel__avx2, qn_f32_avgpool_ukernel__avx2,
            "qn_f32_gavgpool_ukernel__avx2", "qn_f32_avgpool_ukernel__avx2"};
        struct qn_quant_config *q = &quant_config[i];
        QN_SET(*q, quantize, qn_qu8_quantize_ukernel__avx2);
        QN_SET(*q, dequantize, qn_qu8_dequantize_ukernel__avx2);
        QN_SET(*q, rminmax, qn_f32_rminmax_ukernel__avx2);
    }
    {
        const enum qn_isa i = QN_ISA_AVX512;
        layernorm_config[i] = (struct qn_layernorm_config){qn_f32_layernorm_ukernel__avx512,
                                                           "qn_f32_layernorm_ukernel__avx512"};
        softmax_config[i] = (struct qn_softmax_config){qn_f32_softmax_ukernel__avx512,
                                                       "qn_f32_softmax_ukernel__avx512"};
        vact_config[i] = (struct qn_vact_config){
            {NULL, qn_f32_vrelu_ukernel__avx512, qn_f32_vrelu6_ukernel__avx512,
             qn_f32_vhswish_ukernel__avx512, qn_f32_vgelu_ukernel__avx512},
            {"memcpy", "qn_f32_vrelu_ukernel__avx512", "qn_f32_vrelu6_ukernel__avx512",
             "qn_f32_vhswish_ukernel__avx512", "qn_f32_vgelu_ukernel__avx512"}};
        vadd_config[i] = (struct qn_vadd_config){qn_f32_vadd_ukernel__avx512,
                                                 "qn_f32_vadd_ukernel__avx512"};
        pool_config[i] = (struct qn_pool_config){
            qn_f32_gavgpool_ukernel__avx512, qn_f32_avgpool_ukernel__avx512,
            "qn_f32_gavgpool_ukernel__avx512", "qn_f32_avgpool_ukernel__avx512"};
        struct qn_quant_config *q = &quant_config[i];
        QN_SET(*q, quantize, qn_qu8_quantize_ukernel__avx512);
        QN_SET(*q, dequantize, qn_qu8_dequantize_ukernel__avx512);
        QN_SET(*q, rminmax, qn_f32_rminmax_ukernel__avx512);
    }
}

static inline enum qn_isa isa_now(void) {
    pthread_once(&config_once, configs_init);
    return qn_isa();
}

// Threads for `elems` elements of work split into `tasks` tasks.
static inline int par_threads(size_t elems, size_t tasks) {
    if (elems < QN_OPS_PAR_MIN || tasks < 2 || omp_in_parallel()) return 1;
    const int t = qn_threads();
    return (size_t)t < tasks ? t : (int)tasks;
}

// --- layer norm ---

void qn_f32_layernorm(size_t rows, size_t D, const float *x, size_t ldx, const float *gamma,
                      const float *beta, float eps, float *y, size_t ldy) {
    QN_ASSERT(D >= 1 && ldx >= D && ldy >= D && gamma && beta);
    const qn_f32_layernorm_ukernel_fn fn = layernorm_config[isa_now()].ukernel;
    const int nt = par_threads(rows * D, rows);
    if (nt == 1) {
        fn(rows, D, x, ldx, gamma, beta, eps, y, ldy);
        return;
    }
    // one contiguous block of rows per thread
#pragma omp parallel num_threads(nt)
    {
        const size_t t = (size_t)omp_get_thread_num(), T = (size_t)omp_get_num_threads();
        const size_t r0 = rows * t / T, r1 = rows * (t + 1) / T;
        if (r1 > r0) fn(r1 - r0, D, x + r0 * ldx, ldx, gamma, beta, eps, y + r0 * ldy, ldy);
    }
}

// --- softmax ---

// Rows [r0, r0 + m): all of them in one kernel call, or, causal, each at its own length.
static void softmax_rows(qn_f32_softmax_ukernel_fn fn, size_t r0, size_t m, size_t rows, size_t n,
                         const float *x, size_t ldx, const float *mask, size_t ldm, bool causal,
                         float *y, size_t ldy) {
    if (!causal) {
        fn(m, n, x + r0 * ldx, ldx, mask ? mask + r0 * ldm : NULL, ldm, y + r0 * ldy, ldy);
        return;
    }
    for (size_t r = r0; r < r0 + m; r++) {
        // visible columns: j <= r + n - rows
        const ptrdiff_t last = (ptrdiff_t)r + (ptrdiff_t)n - (ptrdiff_t)rows;
        const size_t nv = last < 0 ? 0 : QN_MIN(n, (size_t)last + 1);
        float *yr = y + r * ldy;
        if (nv) fn(1, nv, x + r * ldx, ldx, mask ? mask + r * ldm : NULL, ldm, yr, ldy);
        for (size_t j = nv; j < n; j++) yr[j] = 0.0f;
    }
}

// Rows a thread's task takes: the kernels interleave four rows (a multiple of them keeps
// every call whole); fewer than two tasks' worth go a row per task, so that a few long rows
// still spread over the threads.
#define QN_SOFTMAX_TASK_ROWS 8

void qn_f32_softmax(size_t rows, size_t n, const float *x, size_t ldx, const float *mask,
                    size_t ldm, bool causal, float *y, size_t ldy) {
    QN_ASSERT(n >= 1 && ldx >= n && ldy >= n && (!mask || ldm == 0 || ldm >= n));
    const qn_f32_softmax_ukernel_fn fn = softmax_config[isa_now()].ukernel;
    const size_t per = rows >= 2 * QN_SOFTMAX_TASK_ROWS ? QN_SOFTMAX_TASK_ROWS : 1;
    const size_t tasks = QN_DIV_UP(rows, per);
    const int nt = par_threads(rows * n, tasks);
    if (nt == 1) {
        softmax_rows(fn, 0, rows, rows, n, x, ldx, mask, ldm, causal, y, ldy);
        return;
    }
    // causal rows grow in length: interleave the tasks so the threads get equal work
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (size_t t = 0; t < tasks; t++) {
        const size_t r0 = t * per;
        softmax_rows(fn, r0, QN_MIN(per, rows - r0), rows, n, x, ldx, mask, ldm, causal, y, ldy);
    }
}

// --- elementwise: rows split into chunks of QN_OPS_CHUNK ---

// Runs body(r, j0, len) over every chunk of a rows x n matrix. One thread runs the chunks
// without a parallel region (an empty one costs ~0.3 us, as long as a small layer's quantize).
#define QN_FOR_CHUNKS(rows, n, body)                                                     \
    do {                                                                                 \
        const size_t nchunk_ = QN_DIV_UP((n), QN_OPS_CHUNK), ntask_ = (rows) * nchunk_;  \
        const int nt_ = par_threads((rows) * (n), ntask_);                               \
        if (nt_ <= 1) {                                                                  \
            for (size_t t_ = 0; t_ < ntask_; t_++) {                                     \
                const size_t r = t_ / nchunk_, j0 = (t_ % nchunk_) * QN_OPS_CHUNK;       \
                const size_t len = QN_MIN((size_t)QN_OPS_CHUNK, (n) - j0);                \
                body;                                                                    \
            }                                                                            \
            break;                                                                       \
        }                                                                                \
        _Pragma("omp parallel for num_threads(nt_) schedule(static)")                    \
        for (size_t t_ = 0; t_ < ntask_; t_++) {                                         \
            const size_t r = t_ / nchunk_, j0 = (t_ % nchunk_) * QN_OPS_CHUNK;           \
            const size_t len = QN_MIN((size_t)QN_OPS_CHUNK, (n) - j0);                    \
            body;                                                                        \
        }                                                                                \
    } while (0)

static void copy_rows(size_t rows, size_t n, const float *x, size_t ldx, float *y, size_t ldy) {
    if (x == y && ldx == ldy) return;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) y[r * ldy + j] = x[r * ldx + j];  // memmove-safe by row
}

void qn_f32_vact(enum qn_act act, size_t rows, size_t n, const float *x, size_t ldx, float *y,
                 size_t ldy) {
    QN_ASSERT(act >= QN_ACT_NONE && act <= QN_ACT_GELU && ldx >= n && ldy >= n);
    if (act == QN_ACT_NONE) {
        copy_rows(rows, n, x, ldx, y, ldy);
        return;
    }
    const qn_f32_vunary_ukernel_fn fn = vact_config[isa_now()].ukernel[act];
    QN_FOR_CHUNKS(rows, n, fn(len, x + r * ldx + j0, y + r * ldy + j0));
}

void qn_f32_vadd(enum qn_act act, size_t rows, size_t n, const float *a, size_t lda,
                 const float *b, size_t ldb, float *y, size_t ldy) {
    QN_ASSERT(act >= QN_ACT_NONE && act <= QN_ACT_GELU && lda >= n && ldb >= n && ldy >= n);
    const qn_f32_vadd_ukernel_fn fn = vadd_config[isa_now()].ukernel;
    QN_FOR_CHUNKS(rows, n, fn(len, a + r * lda + j0, b + r * ldb + j0, y + r * ldy + j0, act));
}

// --- pooling ---

void qn_f32_global_avgpool(size_t N, size_t HW, size_t C, const float *x, size_t ldx, float *y,
                           size_t ldy) {
    QN_ASSERT(HW >= 1 && ldx >= C && ldy >= C);
    const qn_f32_gavgpool_ukernel_fn fn = pool_config[isa_now()].global;
    const float scale = 1.0f / (float)HW;
    const size_t nblk = QN_DIV_UP(C, QN_POOL_CBLOCK), ntask = N * nblk;
    const int nt = par_threads(N * HW * C, ntask);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (size_t t = 0; t < ntask; t++) {
        const size_t i = t / nblk, c0 = (t % nblk) * QN_POOL_CBLOCK;
        fn(HW, QN_MIN((size_t)QN_POOL_CBLOCK, C - c0), x + i * HW * ldx + c0, ldx, scale,
           y + i * ldy + c0);
    }
}

size_t qn_pool_out_size(size_t in, size_t k, size_t s, size_t p) {
    if (k == 0 || s == 0 || in + 2 * p < k) return 0;
    return (in + 2 * p - k) / s + 1;
}

enum qn_status qn_f32_avgpool(size_t N, size_t H, size_t W, size_t C, const float *x,
                              size_t ldx, size_t k, size_t s, size_t p, float *y, size_t ldy) {
    if (k == 0 || s == 0 || p >= k || H + 2 * p < k || W + 2 * p < k || ldx < C || ldy < C ||
        C == 0)
        return QN_ERR_ARG;
    const qn_f32_avgpool_ukernel_fn fn = pool_config[isa_now()].window;
    const size_t OH = qn_pool_out_size(H, k, s, p), OW = qn_pool_out_size(W, k, s, p);
    const size_t npix = N * OH * OW;
    const int nt = par_threads(npix * k * k * C, npix);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (size_t t = 0; t < npix; t++) {
        const size_t i = t / (OH * OW), oh = t / OW % OH, ow = t % OW;
        // window clipped to the image: rows [h0, h1), columns [w0, w1); p < k keeps it non-empty
        const size_t h0 = oh * s < p ? 0 : oh * s - p, h1 = QN_MIN(H, oh * s + k - p);
        const size_t w0 = ow * s < p ? 0 : ow * s - p, w1 = QN_MIN(W, ow * s + k - p);
        const float scale = 1.0f / (float)((h1 - h0) * (w1 - w0));
        fn(h1 - h0, w1 - w0, C, x + ((i * H + h0) * W + w0) * ldx, W * ldx, ldx, scale,
           y + t * ldy);
    }
    return QN_OK;
}

// --- quantization ---

void qn_f32_minmax(size_t rows, size_t n, const float *x, size_t ldx, float *min, float *max) {
    QN_ASSERT(rows >= 1 && n >= 1 && ldx >= n);
    const qn_f32_rminmax_ukernel_fn fn = quant_config[isa_now()].rminmax;
    float lo = x[0], hi = x[0];
    const int nt = par_threads(rows * n, rows);
    if (nt == 1) {
        for (size_t r = 0; r < rows; r++) fn(n, x + r * ldx, &lo, &hi);
    } else {
#pragma omp parallel num_threads(nt)
        {
            float tlo = x[0], thi = x[0];
#pragma omp for schedule(static) nowait
            for (size_t r = 0; r < rows; r++) fn(n, x + r * ldx, &tlo, &thi);
#pragma omp critical(qn_minmax)
            {
                lo = tlo < lo ? tlo : lo;
                hi = thi > hi ? thi : hi;
            }
        }
    }
    *min = lo, *max = hi;
}

struct qn_qu8_params qn_qu8_params_from_range(float min, float max) {
    min = min < 0.0f ? min : 0.0f;
    max = max > 0.0f ? max : 0.0f;
    struct qn_qu8_params p = {.scale = 1.0f, .zp = 0};
    if (max > min) {
        p.scale = (max - min) / 255.0f;
        const float z = rintf(-min / p.scale);
        p.zp = z < 0.0f ? 0 : (z > 255.0f ? 255 : (int32_t)z);
    }
    return p;
}

// qmax of p, 0 meaning 255; -1 when p is out of range (0 <= zp <= qmax <= 255 required).
static int qu8_qmax(struct qn_qu8_params p) {
    if (p.qmax < 0 || p.qmax > 255) return -1;
    const int qmax = p.qmax ? p.qmax : 255;
    return p.zp >= 0 && p.zp <= qmax ? qmax : -1;
}

void qn_qu8_quantize(size_t rows, size_t n, const float *x, size_t ldx, struct qn_qu8_params p,
                     uint8_t *q, size_t ldq) {
    const int qmax = qu8_qmax(p);
    QN_ASSERT(ldx >= n && ldq >= n && p.scale > 0.0f && qmax > 0);
    const qn_qu8_quantize_ukernel_fn fn = quant_config[isa_now()].quantize;
    const float inv = 1.0f / p.scale;
    QN_FOR_CHUNKS(rows, n, fn(len, x + r * ldx + j0, inv, p.zp, qmax, q + r * ldq + j0));
}

void qn_qu8_dequantize(size_t rows, size_t n, const uint8_t *q, size_t ldq,
                       struct qn_qu8_params p, float *y, size_t ldy) {
    QN_ASSERT(ldq >= n && ldy >= n && qu8_qmax(p) > 0);
    const qn_qu8_dequantize_ukernel_fn fn = quant_config[isa_now()].dequantize;
    QN_FOR_CHUNKS(rows, n, fn(len, q + r * ldq + j0, p.scale, p.zp, y + r * ldy + j0));
}

void qn_qs8_weights_quantize(size_t N, size_t K, const float *W, size_t ldw, int bits,
                             int8_t *Q, size_t ldq, float *scale) {
    QN_ASSERT(bits >= 2 && bits <= 8 && ldw >= K && ldq >= K);
    const float lim = (float)((1 << (bits - 1)) - 1);
    for (size_t n = 0; n < N; n++) {
        const float *w = W + n * ldw;
        scale[n] = qn_weight_scale(qn_absmax(w, K), lim);
        for (size_t k = 0; k < K; k++) {
            float q = rintf(w[k] / scale[n]);
            q = q < -lim ? -lim : (q > lim ? lim : q);
            Q[n * ldq + k] = (int8_t)q;
        }
    }
}

// --- names ---

const char *qn_f32_layernorm_variant(void) { return layernorm_config[isa_now()].name; }
const char *qn_f32_softmax_variant(void) { return softmax_config[isa_now()].name; }
const char *qn_f32_vact_variant(enum qn_act act) {
    if (act < QN_ACT_NONE || act > QN_ACT_GELU) return "invalid";
    return vact_config[isa_now()].name[act];
}
const char *qn_f32_vadd_variant(void) { return vadd_config[isa_now()].name; }
const char *qn_f32_global_avgpool_variant(void) { return pool_config[isa_now()].global_name; }
const char *qn_f32_avgpool_variant(void) { return pool_config[isa_now()].window_name; }
const char *qn_qu8_quantize_variant(void) { return quant_config[isa_now()].quantize_name; }
const char *qn_qu8_dequantize_variant(void) { return quant_config[isa_now()].dequantize_name; }
const char *qn_f32_minmax_variant(void) { return quant_config[isa_now()].rminmax_name; }
