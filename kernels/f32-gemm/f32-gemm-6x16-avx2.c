// AVX2 + FMA FP32 GEMM kernels: 6 x 16 packed micro-kernel, 4 x 16 small-M kernel, 4 x 4 dot.
//
// 6 x 16: 12 ymm accumulators + 2 ymm of B + 1 broadcast = 15 of 16 registers; 12 independent
// FMA chains cover 2 ports x 4 cycles latency. Edge tiles (mr < 6 or nr < 16) are finished in
// a 6 x 16 tile buffer and copied out, so the store code only knows full tiles.
#include <immintrin.h>
#include <string.h>

#include "f32-gemm/f32-gemm.h"

// --- vector activations ---

// e^t, |relative error| < 2e-7 for t in [-87, 88]: t = n ln2 + r, |r| <= ln2 / 2, degree-6
// Taylor polynomial, 2^n built in the exponent field (n in [-126, 127] after the clamp).
static inline __m256 exp8(__m256 t) {
    t = _mm256_max_ps(_mm256_min_ps(t, _mm256_set1_ps(88.0f)), _mm256_set1_ps(-87.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), t);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 q = _mm256_set1_ps(1.0f / 720.0f);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 120.0f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 24.0f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 6.0f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.5f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
                                                         _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(q, _mm256_castsi256_ps(e));
}

// GELU as x / (1 + e^-2u), u = sqrt(2/pi) (x + 0.044715 x^3): see the AVX-512 file.
static inline __m256 gelu8(__m256 x) {
    const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    const __m256 u = _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x);
    const __m256 e = exp8(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f * 0.7978845608028654f)));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline __m256 act8(enum qn_act act, __m256 y) {
    const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
    switch (act) {
    case QN_ACT_NONE: return y;
    case QN_ACT_RELU: return _mm256_max_ps(y, zero);
    case QN_ACT_RELU6: return _mm256_min_ps(_mm256_max_ps(y, zero), six);
    case QN_ACT_HSWISH: {
        __m256 r = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(y, _mm256_set1_ps(3.0f)), zero), six);
        return _mm256_mul_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(1.0f / 6.0f));
    }
    case QN_ACT_GELU: return gelu8(y);
    }
    return y;
}

// --- store rule on full rows of 16 columns ---

static inline __m256 finish8(__m256 v, const float *c, const float *res, const float *bias,
                             const struct qn_f32_gemm_params *p) {
    if (p->alpha != 1.0f) v = _mm256_mul_ps(v, _mm256_set1_ps(p->alpha));
    if (p->beta == 1.0f)
        v = _mm256_add_ps(v, _mm256_loadu_ps(c));
    else if (p->beta != 0.0f)
        v = _mm256_fmadd_ps(_mm256_set1_ps(p->beta), _mm256_loadu_ps(c), v);
    if (p->last) {
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
        if (res && p->res_before) v = _mm256_add_ps(v, _mm256_loadu_ps(res));
        v = act8(p->act, v);
        if (res && !p->res_before) v = _mm256_add_ps(v, _mm256_loadu_ps(res));
    }
    return v;
}

// Stores rows [0, rows) of acc (full 16 columns) with the rule in p; res has stride ldr.
static inline void store_rows16(__m256 acc[][2], size_t rows, float *c, size_t ldc,
                                const float *bias, const float *res, size_t ldr,
                                const struct qn_f32_gemm_params *p) {
    for (size_t i = 0; i < rows; i++) {
        const float *r = res ? res + i * ldr : NULL;
        _mm256_storeu_ps(c + i * ldc, finish8(acc[i][0], c + i * ldc, r, bias, p));
        _mm256_storeu_ps(c + i * ldc + 8,
                         finish8(acc[i][1], c + i * ldc + 8, r ? r + 8 : NULL, bias ? bias + 8 : NULL, p));
    }
}

// Edge tile: copy the mr x nr corners of C, bias and residual into 16-wide buffers, run the
// full-width store there, copy the corner back.
static void store_edge16(__m256 acc[][2], size_t mr, size_t nr, float *c, size_t ldc,
                         const struct qn_f32_gemm_params *p) {
    float tc[6][16], tr[6][16], tb[16];
    const bool read_c = p->beta != 0.0f;
    const bool use_res = p->last && p->res, use_bias = p->last && p->bias;
    for (size_t i = 0; i < mr; i++) {
        if (read_c) memcpy(tc[i], c + i * ldc, nr * sizeof(float));
        if (use_res) memcpy(tr[i], p->res + i * p->ldr, nr * sizeof(float));
    }
    if (use_bias) memcpy(tb, p->bias, nr * sizeof(float));
    // Padding lanes are computed but never copied out; zero them so they stay finite.
    for (size_t i = 0; i < mr; i++)
        for (size_t j = nr; j < 16; j++) tc[i][j] = tr[i][j] = 0.0f;
    for (size_t j = nr; j < 16; j++) tb[j] = 0.0f;
    store_rows16(acc, mr, &tc[0][0], 16, use_bias ? tb : NULL, use_res ? &tr[0][0] : NULL, 16, p);
    for (size_t i = 0; i < mr; i++) memcpy(c + i * ldc, tc[i], nr * sizeof(float));
}

// --- 6 x 16 micro-kernel: A packed ([k][6]) or in place (rows lda apart) ---

#define ROW_FMA(i, ADDR)                                        \
    {                                                           \
        const __m256 ai = _mm256_broadcast_ss(ADDR);            \
        acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);         \
        acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);         \
    }

// The tile's store rule: the plain and common forms from the registers, edges through a buffer.
static inline __attribute__((always_inline)) void store_tile6x16(__m256 acc[6][2], size_t mr, size_t nr,
                                                                float *c, size_t ldc,
                                                                const struct qn_f32_gemm_params *p) {
    __m256 t[6][2];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) t[i][0] = acc[i][0], t[i][1] = acc[i][1];
    if (mr == 6 && nr == 16 && qn_f32_gemm_plain_store(p)) {
        // C = acc or C += acc and nothing else: straight from the registers.
        const bool add_c = p->beta == 1.0f;
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                float *ci = c + i * ldc + 8 * h;
                _mm256_storeu_ps(ci, add_c ? _mm256_add_ps(t[i][h], _mm256_loadu_ps(ci)) : t[i][h]);
            }
    } else if (mr == 6 && nr == 16 && p->alpha == 1.0f && p->beta == 0.0f) {
        // The store rule in passes over the tile, each test once per tile instead of per
        // row (store_rows16): the operations and order of finish8.
#define PASS(EXPR)                                              \
    _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++)         \
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {   \
            const __m256 v = t[i][h];                           \
            t[i][h] = (EXPR);                                   \
        }
        if (p->last) {
            const float *res = p->res;
            if (p->bias) {
                const __m256 bv[2] = {_mm256_loadu_ps(p->bias), _mm256_loadu_ps(p->bias + 8)};
                PASS(_mm256_add_ps(v, bv[h]))
            }
            if (res && p->res_before) PASS(_mm256_add_ps(v, _mm256_loadu_ps(res + i * p->ldr + 8 * h)))
            switch (p->act) {
            case QN_ACT_NONE: break;
            case QN_ACT_RELU: PASS(act8(QN_ACT_RELU, v)) break;
            case QN_ACT_RELU6: PASS(act8(QN_ACT_RELU6, v)) break;
            case QN_ACT_HSWISH: PASS(act8(QN_ACT_HSWISH, v)) break;
            case QN_ACT_GELU: PASS(act8(QN_ACT_GELU, v)) break;
            }
            if (res && !p->res_before) PASS(_mm256_add_ps(v, _mm256_loadu_ps(res + i * p->ldr + 8 * h)))
        }
#undef PASS
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            _mm256_storeu_ps(c + i * ldc, t[i][0]);
            _mm256_storeu_ps(c + i * ldc + 8, t[i][1]);
        }
    } else if (mr == 6 && nr == 16)
        store_rows16(t, 6, c, ldc, p->last ? p->bias : NULL, p->last ? p->res : NULL, p->ldr, p);
    else
        store_edge16(t, mr, nr, c, ldc, p);
}

void qn_f32_gemm_ukernel_6x16__avx2(size_t mr, size_t nr, size_t kc, const float *a,
                                    const float *b, size_t ldb, float *c, size_t ldc,
                                    const struct qn_f32_gemm_params *p) {
    // acc stays in registers: constant indices only (fully unrolled), copied out for the store.
    __m256 acc[6][2];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    // The C tile is cold (swept once per KC block): fetch it while the k loop runs.
    for (size_t i = 0; i < mr; i++) {
        __builtin_prefetch(c + i * ldc, 1, 3);
        __builtin_prefetch(c + i * ldc + 15, 1, 3);
    }
    for (size_t k = 0; k < kc; k++) {
        _mm_prefetch((const char *)(a + 48), _MM_HINT_T0);
        const __m256 b0 = _mm256_load_ps(b);
        const __m256 b1 = _mm256_load_ps(b + 8);
        ROW_FMA(0, a) ROW_FMA(1, a + 1) ROW_FMA(2, a + 2) ROW_FMA(3, a + 3) ROW_FMA(4, a + 4) ROW_FMA(5, a + 5)
        a += 6;
        b += ldb;
    }
    store_tile6x16(acc, mr, nr, c, ldc, p);
}

// A in place, six whole rows (mr == 6; the driver packs a shorter last tile): a batch-1 1x1
// layer's A, K (its input channels) often 8-96, costs less read where it lies than packed per
// call. The same products in the same order as the packed kernel, so the same bits.
void qn_f32_gemm_ukernel_6x16_lda__avx2(size_t mr, size_t nr, size_t kc, const float *a, size_t lda,
                                        const float *b, size_t ldb, float *c, size_t ldc,
                                        const struct qn_f32_gemm_params *p) {
    QN_ASSERT(mr == 6);
    __m256 acc[6][2];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    const float *a3 = a + 3 * lda;
    for (size_t k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(b);
        const __m256 b1 = _mm256_load_ps(b + 8);
        ROW_FMA(0, a) ROW_FMA(1, a + lda) ROW_FMA(2, a + 2 * lda)
        ROW_FMA(3, a3) ROW_FMA(4, a3 + lda) ROW_FMA(5, a3 + 2 * lda)
        a++, a3++;
        b += ldb;
    }
    store_tile6x16(acc, mr, nr, c, ldc, p);
}

// --- 4 x 16 small-M kernel: A in place, B rows of ldb floats (masked: B may end at nr) ---

// FULL (compile-time): all 16 columns, plain loads. vmaskmovps from memory, on B streaming
// from DRAM, held the packed-B GEMV (1x4096x4096, QNAS_ISA=avx2, Zen 5) to ~9 GB/s: perf put
// 82% of the kernel's samples on it.
static inline __attribute__((always_inline)) void small4x16(const bool FULL, size_t mr, size_t nr, size_t kc,
                                                            const float *a, size_t a_rs, size_t a_ks,
                                                            const float *b, size_t ldb, float *c, size_t ldc,
                                                            const struct qn_f32_gemm_params *p) {
    // Lane masks for the two B vectors: lane l live when l < nr.
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr - 8), lane);
    const float *ar[4];
    for (size_t i = 0; i < 4; i++) ar[i] = i < mr ? a + i * a_rs : a;
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t k = 0; k < kc; k++) {
        const __m256 b0 = FULL ? _mm256_loadu_ps(b) : _mm256_maskload_ps(b, m0);
        const __m256 b1 = FULL ? _mm256_loadu_ps(b + 8) : _mm256_maskload_ps(b + 8, m1);
        const size_t o = k * a_ks;
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            const __m256 ai = _mm256_broadcast_ss(ar[i] + o);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        b += ldb;
    }
    __m256 t[6][2];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) t[i][0] = acc[i][0], t[i][1] = acc[i][1];
    if (nr == 16)
        store_rows16(t, mr, c, ldc, p->last ? p->bias : NULL, p->last ? p->res : NULL, p->ldr, p);
    else
        store_edge16(t, mr, nr, c, ldc, p);
}

void qn_f32_gemm_small_ukernel_4x16__avx2(size_t mr, size_t nr, size_t kc, const float *a,
                                          size_t a_rs, size_t a_ks, const float *b, size_t ldb,
                                          float *c, size_t ldc,
                                          const struct qn_f32_gemm_params *p) {
    if (nr == 16)
        small4x16(true, mr, nr, kc, a, a_rs, a_ks, b, ldb, c, ldc, p);
    else
        small4x16(false, mr, nr, kc, a, a_rs, a_ks, b, ldb, c, ldc, p);
}

// --- GEMV kernel: 32 columns at a time (then 8, then one), QN_F32_GEMV_ROWS rows per pass ---

void qn_f32_gemv_ukernel__avx2(size_t n, size_t kc, const float *x, size_t x_ks, const float *b,
                               size_t ldb, float *c, const struct qn_f32_gemm_params *p) {
    for (size_t k0 = 0; k0 < kc; k0 += QN_F32_GEMV_ROWS) {
        size_t r;
        const struct qn_f32_gemm_params q = qn_f32_gemv_pass(p, k0, kc, &r);
        __m256 xs[QN_F32_GEMV_ROWS];
#pragma GCC unroll 8
        for (size_t i = 0; i < QN_F32_GEMV_ROWS; i++) xs[i] = _mm256_set1_ps(i < r ? x[(k0 + i) * x_ks] : 0.0f);
        const float *bk = b + k0 * ldb;
        const float *bias = q.last ? q.bias : NULL;
        size_t j = 0;
        for (; j + 32 <= n; j += 32) {
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
#pragma GCC unroll 8
            for (size_t i = 0; i < QN_F32_GEMV_ROWS; i++) {
                if (i >= r) break;
#pragma GCC unroll 4
                for (size_t v = 0; v < 4; v++)
                    acc[v] = _mm256_fmadd_ps(xs[i], _mm256_loadu_ps(bk + i * ldb + j + 8 * v), acc[v]);
            }
#pragma GCC unroll 4
            for (size_t v = 0; v < 4; v++) {
                const size_t o = j + 8 * v;
                _mm256_storeu_ps(c + o, finish8(acc[v], c + o, q.res ? q.res + o : NULL, bias ? bias + o : NULL, &q));
            }
        }
        for (; j + 8 <= n; j += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (size_t i = 0; i < r; i++) acc = _mm256_fmadd_ps(xs[i], _mm256_loadu_ps(bk + i * ldb + j), acc);
            _mm256_storeu_ps(c + j, finish8(acc, c + j, q.res ? q.res + j : NULL, bias ? bias + j : NULL, &q));
        }
        for (; j < n; j++) {
            float acc = 0.0f;
            for (size_t i = 0; i < r; i++) acc += x[(k0 + i) * x_ks] * bk[i * ldb + j];
            qn_f32_store1(acc, &c[j], 0, j, &q);
        }
    }
}

// --- 4 x 4 dot kernel: C(i, j) = A row i . B row j, 8 k at a time, scalar tail ---

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

void qn_f32_gemm_dot_ukernel_4x4__avx2(size_t mr, size_t nr, size_t kc, const float *a,
                                       size_t lda, const float *b, size_t ldb, float *c,
                                       size_t ldc, const struct qn_f32_gemm_params *p) {
    const float *ar[4], *br[4];
    for (size_t i = 0; i < 4; i++) {
        ar[i] = i < mr ? a + i * lda : a;
        br[i] = i < nr ? b + i * ldb : b;
    }
    __m256 acc[4][4];
#pragma GCC unroll 16
    for (int ij = 0; ij < 16; ij++) acc[ij / 4][ij % 4] = _mm256_setzero_ps();
    size_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 va[4], vb[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) va[i] = _mm256_loadu_ps(ar[i] + k);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) vb[j] = _mm256_loadu_ps(br[j] + k);
#pragma GCC unroll 16
        for (int ij = 0; ij < 16; ij++)
            acc[ij / 4][ij % 4] = _mm256_fmadd_ps(va[ij / 4], vb[ij % 4], acc[ij / 4][ij % 4]);
    }
    float sum[4][4];
#pragma GCC unroll 16
    for (int ij = 0; ij < 16; ij++) sum[ij / 4][ij % 4] = hsum8(acc[ij / 4][ij % 4]);
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++) {
            float s = sum[i][j];
            for (size_t kk = k; kk < kc; kk++) s += ar[i][kk] * br[j][kk];
            qn_f32_store1(s, &c[i * ldc + j], i, j, p);
        }
}

// --- packing ---

// In-register 8 x 8 transpose: r[i] = row i in, r[j] = column j out.
static inline void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++) {
        t[2 * p] = _mm256_unpacklo_ps(r[2 * p], r[2 * p + 1]);
        t[2 * p + 1] = _mm256_unpackhi_ps(r[2 * p], r[2 * p + 1]);
    }
    // u[4q + c], 128-bit lane L: rows 4q .. 4q+3 of column 4L + c
#pragma GCC unroll 2
    for (int q = 0; q < 2; q++) {
        u[4 * q + 0] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
        u[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
        u[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
        u[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

// Lane mask for the first n (<= 8) lanes of a maskload / maskstore.
static inline __m256i lanes8(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)QN_MIN(n, 8)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

void qn_f32_gemm_packa_6__avx2(size_t MR, size_t mr, size_t kc, const float *a, size_t a_rs,
                               size_t a_ks, float *dst) {
    if (a_ks != 1) {  // op(A) = A^T (or general strides): rows of the panel are contiguous
        qn_f32_gemm_packa__scalar(MR, mr, kc, a, a_rs, a_ks, dst);
        return;
    }
    // Rows contiguous in k: 8 k at a time through an 8 x 8 transpose (rows 6, 7 and rows
    // past mr zero); each column is one k-step of the panel (6 lanes stored).
    const __m256i m6 = lanes8(6);
    for (size_t k0 = 0; k0 < kc; k0 += 8) {
        const size_t kk = QN_MIN(8, kc - k0);
        const __m256i mk = lanes8(kk);
        __m256 r[8];
#pragma GCC unroll 8
        for (size_t i = 0; i < 8; i++)
            r[i] = i >= mr ? _mm256_setzero_ps()
                   : kk == 8 ? _mm256_loadu_ps(a + i * a_rs + k0)
                             : _mm256_maskload_ps(a + i * a_rs + k0, mk);
        transpose8(r);
        float *d = dst + k0 * 6;
#pragma GCC unroll 8
        for (size_t j = 0; j < 8; j++)
            if (j < kk) _mm256_maskstore_ps(d + j * 6, m6, r[j]);
    }
}

void qn_f32_gemm_packb_16__avx2(size_t NR, size_t nr, size_t kc, const float *b, size_t b_ks,
                                size_t b_ns, float *dst) {
    if (b_ns == 1) {  // rows of op(B) contiguous in n
        // (vmaskmovps only for a partial panel: see small4x16)
        if (nr == 16) {
            for (size_t k = 0; k < kc; k++) {
                _mm256_store_ps(dst + k * 16, _mm256_loadu_ps(b + k * b_ks));
                _mm256_store_ps(dst + k * 16 + 8, _mm256_loadu_ps(b + k * b_ks + 8));
            }
            return;
        }
        const __m256i m0 = lanes8(nr), m1 = lanes8(nr > 8 ? nr - 8 : 0);
        for (size_t k = 0; k < kc; k++) {
            _mm256_store_ps(dst + k * 16, _mm256_maskload_ps(b + k * b_ks, m0));
            _mm256_store_ps(dst + k * 16 + 8, _mm256_maskload_ps(b + k * b_ks + 8, m1));
        }
        return;
    }
    if (b_ks != 1) {
        qn_f32_gemm_packb__scalar(NR, nr, kc, b, b_ks, b_ns, dst);
        return;
    }
    // op(B) = B^T, B rows contiguous in k: two 8 x 8 transposes per 8 k.
    for (size_t k0 = 0; k0 < kc; k0 += 8) {
        const size_t kk = QN_MIN(8, kc - k0);
        const __m256i mk = lanes8(kk);
        for (size_t h = 0; h < 2; h++) {
            __m256 r[8];
#pragma GCC unroll 8
            for (size_t j = 0; j < 8; j++)
                r[j] = h * 8 + j >= nr ? _mm256_setzero_ps()
                       : kk == 8       ? _mm256_loadu_ps(b + (h * 8 + j) * b_ns + k0)
                                       : _mm256_maskload_ps(b + (h * 8 + j) * b_ns + k0, mk);
            transpose8(r);
            float *d = dst + k0 * 16 + h * 8;
#pragma GCC unroll 8
            for (size_t k = 0; k < 8; k++)
                if (k < kk) _mm256_store_ps(d + k * 16, r[k]);
        }
    }
}

// --- wide driver: every 6 x 16 tile of a block, A in place, in one call ---
//
// A batch-1 1x1 layer with few input channels (K 8-48) runs ~50-100 cycles a tile, and the
// blocked driver's per-tile work (the tile's parameters, an indirect call, the store rule's
// tests) was a sixth of it. Here the block's tiles run in loops, each row count and vector
// count a compile-time form (an edge tile runs only the FMAs it stores; the last vector
// through a lane mask, so N needs no multiple of 16). Same products in the same order as the
// packed kernel: the same bits.

static inline __attribute__((always_inline)) void wide_tile(const size_t R, const size_t NV, size_t nr, size_t kc,
                                                            const float *a, size_t lda, const float *b, float *c,
                                                            size_t ldc, const struct qn_f32_gemm_params *p) {
    __m256 acc[6][2];
#pragma GCC unroll 6
    for (size_t i = 0; i < R; i++)
#pragma GCC unroll 2
        for (size_t u = 0; u < NV; u++) acc[i][u] = _mm256_setzero_ps();
    const float *a3 = a + 3 * lda;
    for (size_t k = 0; k < kc; k++) {
        __m256 bk[2];
#pragma GCC unroll 2
        for (size_t u = 0; u < NV; u++) bk[u] = _mm256_load_ps(b + 8 * u);
#pragma GCC unroll 6
        for (size_t i = 0; i < R; i++) {
            const __m256 ai = _mm256_broadcast_ss(i < 3 ? a + i * lda : a3 + (i - 3) * lda);
#pragma GCC unroll 2
            for (size_t u = 0; u < NV; u++) acc[i][u] = _mm256_fmadd_ps(ai, bk[u], acc[i][u]);
        }
        a++, a3++;
        b += 16;
    }
    // the store rule (alpha 1, beta 0 or 1) as finish8's order, pass by pass
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i ml = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(nr - 8 * (NV - 1))), lane);
#define LDV(ptr, u) ((u) + 1 == NV ? _mm256_maskload_ps((ptr), ml) : _mm256_loadu_ps(ptr))
#define EACH(EXPR)                                                    \
    _Pragma("GCC unroll 6") for (size_t i = 0; i < R; i++)            \
        _Pragma("GCC unroll 2") for (size_t u = 0; u < NV; u++) {     \
            const __m256 v = acc[i][u];                               \
            acc[i][u] = (EXPR);                                       \
        }
    if (p->beta == 1.0f) EACH(_mm256_add_ps(v, LDV(c + i * ldc + 8 * u, u)))
    if (p->last) {
        const float *res = p->res;
        if (p->bias) {
            __m256 bb[2];
#pragma GCC unroll 2
            for (size_t u = 0; u < NV; u++) bb[u] = LDV(p->bias + 8 * u, u);
            EACH(_mm256_add_ps(v, bb[u]))
        }
        if (res && p->res_before) EACH(_mm256_add_ps(v, LDV(res + i * p->ldr + 8 * u, u)))
        switch (p->act) {
        case QN_ACT_NONE: break;
        case QN_ACT_RELU: EACH(act8(QN_ACT_RELU, v)) break;
        case QN_ACT_RELU6: EACH(act8(QN_ACT_RELU6, v)) break;
        case QN_ACT_HSWISH: EACH(act8(QN_ACT_HSWISH, v)) break;
        case QN_ACT_GELU: EACH(act8(QN_ACT_GELU, v)) break;
        }
        if (res && !p->res_before) EACH(_mm256_add_ps(v, LDV(res + i * p->ldr + 8 * u, u)))
    }
#undef EACH
#undef LDV
#pragma GCC unroll 6
    for (size_t i = 0; i < R; i++)
#pragma GCC unroll 2
        for (size_t u = 0; u < NV; u++) {
            if (u + 1 == NV)
                _mm256_maskstore_ps(c + i * ldc + 8 * u, ml, acc[i][u]);
            else
                _mm256_storeu_ps(c + i * ldc + 8 * u, acc[i][u]);
        }
}

// One function per form (rows 1..6 x vectors 1..2), each its own register allocation.
typedef void wide_tile_fn(size_t nr, size_t kc, const float *a, size_t lda, const float *b, float *c, size_t ldc,
                          const struct qn_f32_gemm_params *p);
#define FORM(R, NV)                                                                                          \
    static __attribute__((noinline)) void wide_tile_##R##x##NV(size_t nr, size_t kc, const float *a, size_t lda, \
                                                               const float *b, float *c, size_t ldc,         \
                                                               const struct qn_f32_gemm_params *p) {         \
        wide_tile(R, NV, nr, kc, a, lda, b, c, ldc, p);                                                      \
    }
FORM(1, 1) FORM(1, 2) FORM(2, 1) FORM(2, 2) FORM(3, 1) FORM(3, 2)
FORM(4, 1) FORM(4, 2) FORM(5, 1) FORM(5, 2) FORM(6, 1) FORM(6, 2)
#undef FORM
static wide_tile_fn *const g_wide_tiles[6][2] = {
    {wide_tile_1x1, wide_tile_1x2}, {wide_tile_2x1, wide_tile_2x2}, {wide_tile_3x1, wide_tile_3x2},
    {wide_tile_4x1, wide_tile_4x2}, {wide_tile_5x1, wide_tile_5x2}, {wide_tile_6x1, wide_tile_6x2},
};

void qn_f32_gemm_wide_6x16__avx2(size_t m, size_t n, size_t kc, const float *a, size_t lda, const float *b,
                                 size_t ldb, float *c, size_t ldc, const struct qn_f32_gemm_params *p) {
    QN_ASSERT(m >= 1 && n >= 1 && kc >= 1 && ldb == 16);
    QN_ASSERT(p->alpha == 1.0f && (p->beta == 0.0f || p->beta == 1.0f));
    const struct qn_f32_wide_rows rt = qn_f32_wide_rows(m, 6, kc);
    struct qn_f32_gemm_params q = *p;
    for (size_t t0 = 0, i0 = 0; t0 < rt.tiles;) {
        const size_t t1 = t0 + rt.group < rt.tiles ? t0 + rt.group : rt.tiles;
        for (size_t j = 0; j < n; j += 16) {
            const size_t nr = n - j < 16 ? n - j : 16, nv = (nr + 7) / 8;
            q.bias = p->bias ? p->bias + j : NULL;
            for (size_t t = t0, i = i0, mr; t < t1; t++, i += mr) {
                mr = rt.base + (t < rt.extra);
                q.res = p->res ? p->res + i * p->ldr + j : NULL;
                g_wide_tiles[mr - 1][nv - 1](nr, kc, a + i * lda, lda, b + j * kc, c + i * ldc + j, ldc, &q);
            }
        }
        for (; t0 < t1; t0++) i0 += rt.base + (t0 < rt.extra);
    }
}
