// AVX-512 FP32 GEMM kernels: 14 x 32 packed micro-kernel, 4 x 32 small-M kernel, 4 x 4 dot.
//
// 14 x 32: 28 zmm accumulators + 2 zmm of B per k, A broadcast from memory ({1to16}): 30 of
// the 32 registers, 28 FMAs per 2 vector loads + 14 broadcasts, enough independent chains
// (28 > 2 ports x 4 cycles latency) to keep both FMA ports busy. Edge tiles: rows past mr are
// computed on the zero padding and not stored; columns past nr are masked off.
#include <immintrin.h>

#include "f32-gemm/f32-gemm.h"
#include "f32-gemm/f32-act-avx512.h"

// k-steps a full-width 14-row tile finishes row group by row group (see tile)
#define F32_TAIL 8

// --- store rule on one row of up to 32 columns ---

static inline __m512 finish16(__m512 v, const float *c, const float *res, __m512 bias,
                              __mmask16 m, const struct qn_f32_gemm_params *p) {
    if (p->alpha != 1.0f) v = _mm512_mul_ps(v, _mm512_set1_ps(p->alpha));
    if (p->beta == 1.0f)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
    else if (p->beta != 0.0f)
        v = _mm512_fmadd_ps(_mm512_set1_ps(p->beta), _mm512_maskz_loadu_ps(m, c), v);
    if (p->last) {
        if (p->bias) v = _mm512_add_ps(v, bias);
        if (p->res && p->res_before) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res));
        v = act16(p->act, v);
        if (p->res && !p->res_before) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res));
    }
    return v;
}

static inline __attribute__((always_inline)) void store_row32(__m512 v0, __m512 v1, float *c, size_t i, __m512 bias0,
                               __m512 bias1, __mmask16 m0, __mmask16 m1,
                               const struct qn_f32_gemm_params *p) {
    const float *res = p->res ? p->res + i * p->ldr : NULL;
    if (m0 == 0xFFFF && m1 == 0xFFFF && p->beta == 0.0f && !p->last && p->alpha == 1.0f) {
        _mm512_storeu_ps(c, v0);
        _mm512_storeu_ps(c + 16, v1);
        return;
    }
    v0 = finish16(v0, c, res, bias0, m0, p);
    _mm512_mask_storeu_ps(c, m0, v0);
    if (m1) {
        v1 = finish16(v1, c + 16, res ? res + 16 : NULL, bias1, m1, p);
        _mm512_mask_storeu_ps(c + 16, m1, v1);
    }
}

static inline void col_masks(size_t nr, __mmask16 *m0, __mmask16 *m1) {
    *m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    *m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
}

// --- 14 x 32 packed micro-kernel ---

#define ROW_STORE(i) \
    if (i < mr) store_row32(c##i##_0, c##i##_1, c + i * ldc, i, bias0, bias1, m0, m1, p);

#define ROW_DECL(i) __m512 c##i##_0 = _mm512_setzero_ps(), c##i##_1 = _mm512_setzero_ps();

// v = EXPR for the registers of rows LO <= i < LIMIT of a tile (EXPR sees v, the row i and the
// column offset h of the 16-column half); other rows keep their value.
#define ROWS(R, NV, LO, LIMIT, acc0, acc1, EXPR)                    \
    do {                                                            \
        _Pragma("GCC unroll 14") for (size_t i = 0; i < (R); i++) { \
            if (i < (LO) || i >= (LIMIT)) continue;                 \
            {                                                       \
                const size_t h = 0;                                 \
                (void)h;                                            \
                const __m512 v = acc0[i];                           \
                acc0[i] = (EXPR);                                   \
            }                                                       \
            if ((NV) == 2) {                                        \
                const size_t h = 16;                                \
                (void)h;                                            \
                const __m512 v = acc1[i];                           \
                acc1[i] = (EXPR);                                   \
            }                                                       \
        }                                                           \
    } while (0)

// The last kt k-steps of 7 rows (a: their A at the current k, rows ars apart).
static inline __attribute__((always_inline)) void tail7(const size_t NV, size_t kt, const float *a, size_t ars,
                                                        size_t aks, const float *b, size_t ldb, __m512 *acc0,
                                                        __m512 *acc1) {
    for (size_t k = 0; k < kt; k++) {
        const __m512 b0 = _mm512_load_ps(b);
        const __m512 b1 = NV == 2 ? _mm512_load_ps(b + 16) : _mm512_setzero_ps();
#pragma GCC unroll 7
        for (size_t i = 0; i < 7; i++) {
            const __m512 ai = _mm512_set1_ps(a[i * ars]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            if (NV == 2) acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
        a += aks;
        b += ldb;
    }
}

// The store rule of a tile with alpha 1 and beta 0 or 1 on its rows lo <= i < hi, in passes
// over the registers, each test once per tile, not per row as in store_row32 below (which cost
// ~15% of a 1x1 convolution of 96 channels without an epilogue; with bias, 145 against 171-177
// GF/s, and 36% of a tile 12 columns wide at k = 48: 195 against 143 ns at 16 columns). Same
// operations, same order. MASKED (compile-time): columns beyond nr, m0 / m1 for the two
// halves, are neither read nor written.
#define LD16(ptr, h) (MASKED ? _mm512_maskz_loadu_ps((h) ? m1 : m0, (ptr)) : _mm512_loadu_ps(ptr))
static inline __attribute__((always_inline)) void store_rule(const size_t R, const size_t NV, const bool MASKED,
                                                             const size_t lo, const size_t hi, size_t mr,
                                                             __mmask16 m0, __mmask16 m1, __m512 *acc0,
                                                             __m512 *acc1, float *c, size_t ldc,
                                                             const struct qn_f32_gemm_params *p) {
    const size_t top = hi < mr ? hi : mr;
    if (p->beta == 1.0f) ROWS(R, NV, lo, top, acc0, acc1, _mm512_add_ps(v, LD16(c + i * ldc + h, h)));
    if (p->last) {
        const float *res = p->res;
        if (p->bias) {
            const __m512 b0 = LD16(p->bias, 0), b1 = NV == 2 ? LD16(p->bias + 16, 16) : b0;
            ROWS(R, NV, lo, hi, acc0, acc1, _mm512_add_ps(v, h ? b1 : b0));
        }
        if (res && p->res_before)
            ROWS(R, NV, lo, top, acc0, acc1, _mm512_add_ps(v, LD16(res + i * p->ldr + h, h)));
        switch (p->act) {
        case QN_ACT_NONE: break;
        case QN_ACT_RELU: ROWS(R, NV, lo, hi, acc0, acc1, act16(QN_ACT_RELU, v)); break;
        case QN_ACT_RELU6: ROWS(R, NV, lo, hi, acc0, acc1, act16(QN_ACT_RELU6, v)); break;
        case QN_ACT_HSWISH: ROWS(R, NV, lo, hi, acc0, acc1, act16(QN_ACT_HSWISH, v)); break;
        case QN_ACT_GELU: ROWS(R, NV, lo, hi, acc0, acc1, act16(QN_ACT_GELU, v)); break;
        }
        if (res && !p->res_before)
            ROWS(R, NV, lo, top, acc0, acc1, _mm512_add_ps(v, LD16(res + i * p->ldr + h, h)));
    }
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++)
        if (i >= lo && i < top) {
            if (MASKED) {
                _mm512_mask_storeu_ps(c + i * ldc, m0, acc0[i]);
                if (NV == 2) _mm512_mask_storeu_ps(c + i * ldc + 16, m1, acc1[i]);
            } else {
                _mm512_storeu_ps(c + i * ldc, acc0[i]);
                if (NV == 2) _mm512_storeu_ps(c + i * ldc + 16, acc1[i]);
            }
        }
}
#undef LD16

// The k loop over the first R rows of a 14-row panel and NV of its two 16-column halves (R = 4,
// 8, 14 and NV = 1, 2, compile-time): an edge tile does only the FMAs it stores instead of the
// full 14 x 32 on zero padding. A 4x4 map at batch 1 is M = 16 = 14 + 2 rows (17 row-passes
// instead of 28); a 12-channel projection is one half (half the FMAs).
static inline __attribute__((always_inline)) void tile(const size_t R, const size_t NV, size_t mr, size_t nr, size_t kc,
                                                       const float *a, size_t ars, size_t aks, const float *b,
                                                       size_t ldb, float *c, size_t ldc,
                                                       const struct qn_f32_gemm_params *p) {
    __m512 acc0[14], acc1[14];
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++) acc0[i] = _mm512_setzero_ps(), acc1[i] = _mm512_setzero_ps();
    // Rows 7-13 through a second pointer: A in place (ars = lda) then needs only the offsets
    // 0..6 x lda in registers; from one pointer GCC kept 13 and spilled 4 inside the loop (the
    // 1x1 layer 196x576x96, 1 thread, Xeon with AMX: 0.94x -> 0.97-0.98x oneDNN).
    const float *a7 = a + 7 * ars;
    // With A in place (a 1x1 convolution), a full-width tile (alpha 1, beta 0 or 1: every tile
    // but the right edge's) does its last F32_TAIL k-steps for rows 0-6, stores them, then the
    // same for rows 7-13: two bursts of 14 stores, F32_TAIL k-steps of FMAs apart, instead of
    // one of 28. A burst of 28 stores (28 cache lines) costs ~27 cycles of FMA issue per tile,
    // one of 14 about 4 (a probe timing one 14x32 tile in L1 at k = 16: 92.5 ns, 82.7 without
    // the stores, 84 storing 14 lines), ~2.5% of a tile at k = 96. Paired A/B loop of the
    // 196x576x96 product's tiles (a batch-1 1x1 layer), 1 thread, Emerald Rapids: +0.4-1.6%
    // (rows 0-6 / 7-13 and tails of 4-8 k-steps; three groups the same, four or seven slower,
    // no stores at all +2.7%). Packed tiles (kc 192-256) ran 2-4% slower so, and do not.
    const bool rule01 = p->alpha == 1.0f && (p->beta == 0.0f || p->beta == 1.0f);
    const bool full = nr == 16 * NV && rule01;
    const size_t tail = R == 14 && full && aks == 1 && kc >= 4 * F32_TAIL ? F32_TAIL : 0;
    for (size_t k = 0; k < kc - tail; k++) {
        // Packed panels: the A panel stays in L1 across the macro-kernel's column tiles while
        // the B panel streams from L2, so fetch B 8 k-steps (1 KiB) ahead. It was A before:
        // make bench's FP32 GEMM rows, 1 thread, two alternations of the builds: 1024^3 148-154
        // -> 153-165 GFLOP/s, 2048^3 155-162 -> 160-169, 512^3 155-158 -> 162-169. With A in
        // place (aks = 1, a 1x1 convolution) B is fetched 16 k-steps ahead, across the end of
        // the panel into the next tile's: +0.6% (8 ahead: +0.5%) in the paired A/B loop below.
        // The C tile is cold (C is swept once per KC block): start its lines on the way 128
        // k-steps (~1,800 cycles) before the store so that it does not wait on memory, and
        // late enough that the B stream has not pushed them out of L1 again. Issued at the
        // kernel's start before: an A/B probe alternating both builds' whole qn_f32_gemm in
        // one process (medians of paired ratios, 21 rounds) gave 1.014-1.016x at 1024^3 and
        // 196x1536x384, 1.006x at 2048^3. Not for a shallow tile: at kc = 96 (a 1x1
        // convolution of 96 channels, batch 1) the 28 prefetches cost more than they hide.
        if (aks == 14 && kc > 128 && k == kc - 128) {
#pragma GCC unroll 14
            for (size_t i = 0; i < R; i++)
                if (i < mr) {
                    __builtin_prefetch(c + i * ldc, 1, 3);
                    __builtin_prefetch(c + i * ldc + 16 * NV - 1, 1, 3);
                }
        }
        {
            const size_t ahead = aks == 14 ? 8 : 16;
            _mm_prefetch((const char *)(b + ahead * ldb), _MM_HINT_T0);
            if (NV == 2) _mm_prefetch((const char *)(b + ahead * ldb + 16), _MM_HINT_T0);
        }
        const __m512 b0 = _mm512_load_ps(b);
        const __m512 b1 = NV == 2 ? _mm512_load_ps(b + 16) : _mm512_setzero_ps();
#pragma GCC unroll 14
        for (size_t i = 0; i < R; i++) {
            const __m512 ai = _mm512_set1_ps(R == 14 && i >= 7 ? a7[(i - 7) * ars] : a[i * ars]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            if (NV == 2) acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
        a += aks;
        a7 += aks;
        b += ldb;
    }
    const __mmask16 all = 0xFFFF;
    if (full) {
        if (tail) {
            tail7(NV, tail, a, ars, aks, b, ldb, acc0, acc1);
            store_rule(R, NV, false, 0, 7, mr, all, all, acc0, acc1, c, ldc, p);
            tail7(NV, tail, a7, ars, aks, b, ldb, acc0 + 7, acc1 + 7);
            store_rule(R, NV, false, 7, 14, mr, all, all, acc0, acc1, c, ldc, p);
        } else {
            store_rule(R, NV, false, 0, R, mr, all, all, acc0, acc1, c, ldc, p);
        }
        return;
    }
    __mmask16 m0, m1;
    col_masks(nr, &m0, &m1);
    if (rule01) {
        store_rule(R, NV, true, 0, R, mr, m0, m1, acc0, acc1, c, ldc, p);
        return;
    }
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (p->last && p->bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, p->bias);
        bias1 = _mm512_maskz_loadu_ps(m1, p->bias + 16);
    }
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++)
        if (i < mr) store_row32(acc0[i], acc1[i], c + i * ldc, i, bias0, bias1, m0, m1, p);
}

static inline __attribute__((always_inline)) void tile_rows(const size_t NV, size_t mr, size_t nr, size_t kc,
                                                            const float *a, size_t ars, size_t aks, const float *b,
                                                            size_t ldb, float *c, size_t ldc,
                                                            const struct qn_f32_gemm_params *p) {
    if (mr <= 4)
        tile(4, NV, mr, nr, kc, a, ars, aks, b, ldb, c, ldc, p);
    else if (mr <= 8)
        tile(8, NV, mr, nr, kc, a, ars, aks, b, ldb, c, ldc, p);
    else
        tile(14, NV, mr, nr, kc, a, ars, aks, b, ldb, c, ldc, p);
}

void qn_f32_gemm_ukernel_14x32__avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                       const float *b, size_t ldb, float *c, size_t ldc,
                                       const struct qn_f32_gemm_params *p) {
    if (nr <= 16)
        tile_rows(1, mr, nr, kc, a, 1, 14, b, ldb, c, ldc, p);
    else
        tile_rows(2, mr, nr, kc, a, 1, 14, b, ldb, c, ldc, p);
}

// The same with A read in place, A(i, k) = a[i * lda + k]; mr == 14 (the 4- and 8-row forms
// would read rows past mr, which a packed panel pads with zeros and A does not have).
void qn_f32_gemm_ukernel_14x32_lda__avx512(size_t mr, size_t nr, size_t kc, const float *a, size_t lda,
                                           const float *b, size_t ldb, float *c, size_t ldc,
                                           const struct qn_f32_gemm_params *p) {
    QN_ASSERT(mr == 14 || mr == 8 || mr == 4);
    if (nr <= 16)
        tile_rows(1, mr, nr, kc, a, lda, 1, b, ldb, c, ldc, p);
    else
        tile_rows(2, mr, nr, kc, a, lda, 1, b, ldb, c, ldc, p);
}

// --- 4 x 32 small-M kernel: A in place, B rows of ldb floats (masked: B may end at nr) ---

void qn_f32_gemm_small_ukernel_4x32__avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                            size_t a_rs, size_t a_ks, const float *b,
                                            size_t ldb, float *c, size_t ldc,
                                            const struct qn_f32_gemm_params *p) {
    __mmask16 m0, m1;
    col_masks(nr, &m0, &m1);
    // Rows past mr repeat row 0 (in bounds) and are not stored.
    const float *a0 = a;
    const float *a1 = mr > 1 ? a + a_rs : a;
    const float *a2 = mr > 2 ? a + 2 * a_rs : a;
    const float *a3 = mr > 3 ? a + 3 * a_rs : a;
    ROW_DECL(0) ROW_DECL(1) ROW_DECL(2) ROW_DECL(3)
    for (size_t k = 0; k < kc; k++) {
        // B streams from memory (GEMV-like shapes): fetch 16 rows ahead. Prefetches past
        // the end of B are harmless (they never fault).
        _mm_prefetch((const char *)(b + 16 * ldb), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + 16 * ldb + 16), _MM_HINT_T0);
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
        const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + 16);
        const size_t o = k * a_ks;
        const __m512 x0 = _mm512_set1_ps(a0[o]), x1 = _mm512_set1_ps(a1[o]);
        const __m512 x2 = _mm512_set1_ps(a2[o]), x3 = _mm512_set1_ps(a3[o]);
        c0_0 = _mm512_fmadd_ps(x0, b0, c0_0);
        c0_1 = _mm512_fmadd_ps(x0, b1, c0_1);
        c1_0 = _mm512_fmadd_ps(x1, b0, c1_0);
        c1_1 = _mm512_fmadd_ps(x1, b1, c1_1);
        c2_0 = _mm512_fmadd_ps(x2, b0, c2_0);
        c2_1 = _mm512_fmadd_ps(x2, b1, c2_1);
        c3_0 = _mm512_fmadd_ps(x3, b0, c3_0);
        c3_1 = _mm512_fmadd_ps(x3, b1, c3_1);
        b += ldb;
    }
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (p->last && p->bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, p->bias);
        bias1 = _mm512_maskz_loadu_ps(m1, p->bias + 16);
    }
    ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3)
}

// --- GEMV kernel: 64 columns at a time, QN_F32_GEMV_ROWS rows of B per pass ---

void qn_f32_gemv_ukernel__avx512(size_t n, size_t kc, const float *x, size_t x_ks, const float *b,
                                 size_t ldb, float *c, const struct qn_f32_gemm_params *p) {
    for (size_t k0 = 0; k0 < kc; k0 += QN_F32_GEMV_ROWS) {
        size_t r;
        const struct qn_f32_gemm_params q = qn_f32_gemv_pass(p, k0, kc, &r);
        __m512 xs[QN_F32_GEMV_ROWS];
#pragma GCC unroll 8
        for (size_t i = 0; i < QN_F32_GEMV_ROWS; i++) xs[i] = _mm512_set1_ps(i < r ? x[(k0 + i) * x_ks] : 0.0f);
        const float *bk = b + k0 * ldb;
        for (size_t j = 0; j < n; j += 64) {
            __mmask16 m[4];
            __m512 acc[4];
#pragma GCC unroll 4
            for (size_t v = 0; v < 4; v++) {
                const size_t lo = j + 16 * v;
                m[v] = lo + 16 <= n ? (__mmask16)0xFFFF : lo < n ? (__mmask16)((1u << (n - lo)) - 1) : 0;
                acc[v] = _mm512_setzero_ps();
            }
            if (j + 64 <= n) {
#pragma GCC unroll 8
                for (size_t i = 0; i < QN_F32_GEMV_ROWS; i++) {
                    if (i >= r) break;
                    const float *bi = bk + i * ldb + j;
#pragma GCC unroll 4
                    for (size_t v = 0; v < 4; v++) acc[v] = _mm512_fmadd_ps(xs[i], _mm512_loadu_ps(bi + 16 * v), acc[v]);
                }
            } else {
                for (size_t i = 0; i < r; i++)
#pragma GCC unroll 4
                    for (size_t v = 0; v < 4; v++)
                        acc[v] = _mm512_fmadd_ps(xs[i], _mm512_maskz_loadu_ps(m[v], bk + i * ldb + j + 16 * v), acc[v]);
            }
            if (j + 64 <= n) {  // plain loads and stores: masked ones ran 12 GFLOP/s against 15.5 at 4096^2
#pragma GCC unroll 4
                for (size_t v = 0; v < 4; v++) {
                    const size_t o = j + 16 * v;
                    const __m512 bias = q.last && q.bias ? _mm512_loadu_ps(q.bias + o) : _mm512_setzero_ps();
                    _mm512_storeu_ps(c + o, finish16(acc[v], c + o, q.res ? q.res + o : NULL, bias, 0xFFFF, &q));
                }
                continue;
            }
#pragma GCC unroll 4
            for (size_t v = 0; v < 4; v++) {
                if (!m[v]) break;
                const size_t o = j + 16 * v;
                const __m512 bias = q.last && q.bias ? _mm512_maskz_loadu_ps(m[v], q.bias + o) : _mm512_setzero_ps();
                _mm512_mask_storeu_ps(c + o, m[v], finish16(acc[v], c + o, q.res ? q.res + o : NULL, bias, m[v], &q));
            }
        }
    }
}

// --- 4 x 4 dot kernel: C(i, j) = A row i . B row j, 16 k at a time ---

void qn_f32_gemm_dot_ukernel_4x4__avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                         size_t lda, const float *b, size_t ldb, float *c,
                                         size_t ldc, const struct qn_f32_gemm_params *p) {
    const float *ar[4], *br[4];
    for (size_t i = 0; i < 4; i++) {
        ar[i] = i < mr ? a + i * lda : a;
        br[i] = i < nr ? b + i * ldb : b;
    }
    // acc stays in registers: constant indices only (fully unrolled loops).
    __m512 acc[4][4];
#pragma GCC unroll 16
    for (int ij = 0; ij < 16; ij++) acc[ij / 4][ij % 4] = _mm512_setzero_ps();
    for (size_t k = 0; k < kc; k += 16) {
        const __mmask16 m = kc - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (kc - k)) - 1);
        __m512 va[4], vb[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) va[i] = _mm512_maskz_loadu_ps(m, ar[i] + k);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) vb[j] = _mm512_maskz_loadu_ps(m, br[j] + k);
#pragma GCC unroll 16
        for (int ij = 0; ij < 16; ij++)
            acc[ij / 4][ij % 4] = _mm512_fmadd_ps(va[ij / 4], vb[ij % 4], acc[ij / 4][ij % 4]);
    }
    float sum[4][4];
#pragma GCC unroll 16
    for (int ij = 0; ij < 16; ij++) sum[ij / 4][ij % 4] = _mm512_reduce_add_ps(acc[ij / 4][ij % 4]);
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++) qn_f32_store1(sum[i][j], &c[i * ldc + j], i, j, p);
}

// --- packing ---

// In-register 16 x 16 transpose: r[i] = row i in, r[j] = column j out.
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int p = 0; p < 8; p++) {
        t[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
        t[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
    }
    // u[4q + c], 128-bit lane L: rows 4q .. 4q+3 of column 4L + c
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
        u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
        u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
        u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __m512 v = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        const __m512 w = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        const __m512 x = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        const __m512 y = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(v, x, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(v, x, 0xDD);
        r[4 + c] = _mm512_shuffle_f32x4(w, y, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(w, y, 0xDD);
    }
}

static inline __mmask16 lanes(size_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

void qn_f32_gemm_packa_14__avx512(size_t MR, size_t mr, size_t kc, const float *a, size_t a_rs,
                                  size_t a_ks, float *dst) {
    const __mmask16 m14 = 0x3FFF, mrow = lanes(mr);
    if (a_rs == 1) {  // op(A) = A^T: each k is a contiguous run of mr floats
        for (size_t k = 0; k < kc; k++)
            _mm512_mask_storeu_ps(dst + k * 14, m14, _mm512_maskz_loadu_ps(mrow, a + k * a_ks));
        return;
    }
    if (a_ks != 1) {
        qn_f32_gemm_packa__scalar(MR, mr, kc, a, a_rs, a_ks, dst);
        return;
    }
    // Rows contiguous in k: 16 k at a time through a 16 x 16 transpose (rows 14, 15 and
    // rows past mr zero); each column is one k-step of the panel (14 lanes stored).
    for (size_t k0 = 0; k0 < kc; k0 += 16) {
        const size_t kk = QN_MIN(16, kc - k0);
        const __mmask16 mk = lanes(kk);
        __m512 r[16];
#pragma GCC unroll 16
        for (size_t i = 0; i < 16; i++)
            r[i] = i < mr ? _mm512_maskz_loadu_ps(mk, a + i * a_rs + k0) : _mm512_setzero_ps();
        transpose16(r);
        float *d = dst + k0 * 14;
#pragma GCC unroll 16
        for (size_t j = 0; j < 16; j++)
            if (j < kk) _mm512_mask_storeu_ps(d + j * 14, m14, r[j]);
    }
}

void qn_f32_gemm_packb_32__avx512(size_t NR, size_t nr, size_t kc, const float *b, size_t b_ks,
                                  size_t b_ns, float *dst) {
    const __mmask16 m0 = lanes(nr), m1 = nr > 16 ? lanes(nr - 16) : 0;
    if (b_ns == 1) {  // rows of op(B) contiguous in n
        for (size_t k = 0; k < kc; k++) {
            _mm512_store_ps(dst + k * 32, _mm512_maskz_loadu_ps(m0, b + k * b_ks));
            _mm512_store_ps(dst + k * 32 + 16, _mm512_maskz_loadu_ps(m1, b + k * b_ks + 16));
        }
        return;
    }
    if (b_ks != 1) {
        qn_f32_gemm_packb__scalar(NR, nr, kc, b, b_ks, b_ns, dst);
        return;
    }
    // op(B) = B^T, B rows contiguous in k: two 16 x 16 transposes per 16 k.
    for (size_t k0 = 0; k0 < kc; k0 += 16) {
        const size_t kk = QN_MIN(16, kc - k0);
        const __mmask16 mk = lanes(kk);
        for (size_t h = 0; h < 2; h++) {
            __m512 r[16];
#pragma GCC unroll 16
            for (size_t j = 0; j < 16; j++)
                r[j] = h * 16 + j < nr ? _mm512_maskz_loadu_ps(mk, b + (h * 16 + j) * b_ns + k0)
                                       : _mm512_setzero_ps();
            transpose16(r);
            float *d = dst + k0 * 32 + h * 16;
#pragma GCC unroll 16
            for (size_t k = 0; k < 16; k++)
                if (k < kk) _mm512_store_ps(d + k * 32, r[k]);
        }
    }
}
