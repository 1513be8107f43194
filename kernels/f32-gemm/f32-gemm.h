// FP32 GEMM micro-kernels: the tile computations under the operator in src/gemm-f32.c.
//
// A micro-kernel computes one MR x NR tile of C from packed panels:
//   a: [kc][MR] floats (A panel, k-major, zero-padded past the tile's mr rows)
//   b: [kc][ldb] floats, NR used per k (B panel; ldb == NR when packed)
// and stores only the mr x nr corner (mr <= MR, nr <= NR) with the store rule below.
// The small-M kernels (mr <= 4) read A in place through strides instead of a packed panel,
// so batch-1 layers skip packing A; the dot kernels serve op(B) given as B[N][K] rows.
//
// Store rule, applied per tile element (i, j) with acc = sum_k a[k][i] * b[k][j]:
//   y = alpha * acc;  if (beta != 0) y += beta * C[i][j];
//   if (last) y = epilogue(y)  (bias, residual and activation, as in struct qn_epilogue)
// The operator splits K into KC blocks: the first block passes the caller's beta, every
// later block beta = 1 (accumulate into C), and only the last block sets `last`.
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "gemm.h"

struct qn_f32_gemm_params {
    float alpha;
    float beta;         // 0: C is not read
    bool last;          // apply the epilogue after this block
    enum qn_act act;
    bool res_before;    // residual added before the activation
    const float *bias;  // [nr] from the tile's first column, or NULL
    const float *res;   // residual at the tile's (0, 0), row stride ldr, or NULL
    size_t ldr;
};

// True when a tile's store is C = acc (beta 0) or C += acc (beta 1) and nothing else: no
// scaling, and no epilogue or not the last KC block. The micro-kernels store such full tiles
// straight from their registers.
static inline bool qn_f32_gemm_plain_store(const struct qn_f32_gemm_params *p) {
    return p->alpha == 1.0f && (p->beta == 0.0f || p->beta == 1.0f) &&
           (!p->last || (!p->bias && !p->res && p->act == QN_ACT_NONE));
}

// Packed-panel micro-kernel (one per ISA, MR x NR fixed by its name).
typedef void (*qn_f32_gemm_ukernel_fn)(size_t mr, size_t nr, size_t kc, const float *a,
                                       const float *b, size_t ldb, float *c, size_t ldc,
                                       const struct qn_f32_gemm_params *p);

// The packed micro-kernel with A read in place, A(i, k) = a[i * lda + k] (no A panel), for
// tiles of exactly the rows an edge form reads (mr == MR, or 8 or 4 at AVX-512: a 16-row
// product is two tiles of 8): for products whose rows do not crowd an L1 set, packing A costs
// more than the strided reads (a batch-1 1x1 convolution).
typedef void (*qn_f32_gemm_ukernel_lda_fn)(size_t mr, size_t nr, size_t kc, const float *a, size_t lda,
                                           const float *b, size_t ldb, float *c, size_t ldc,
                                           const struct qn_f32_gemm_params *p);

// Wide kernel with A read in place, for blocks of whole-row tiles of a layer's output: the
// m x n block of C from A (m rows, lda apart) and a KC block of packed panels ldb columns wide
// (column j at b[(j / ldb) * ldb * kc + k * ldb + j % ldb]; ldb the wide width or the ISA's
// packed kernel's NR), the store rule of p for the block's (0, 0) with alpha 1 and beta 0 or
// 1 only.
typedef void (*qn_f32_gemm_wide_fn)(size_t m, size_t n, size_t kc, const float *a, size_t lda, const float *b,
                                    size_t ldb, float *c, size_t ldc, const struct qn_f32_gemm_params *p);

// A wide kernel's row tiles: m rows as tiles of at most mr, as even as they go (tile t has
// base + (t < extra) rows: 196 rows in tiles of 9 are 20 of 9 and 2 of 8), taken `group` at a
// time across the block's columns, so their A stays in L1 while each B panel comes from L2
// once per group. As many as keep the group's A within 8 KiB, at most 4: a group of 4 against
// one tile per pass, 1x1 96->576 at batch 64 (AVX-512 9x48, make bench rows, 1 thread)
// 139.6-142.7 -> 149.7-153.2 GFLOP/s; at kc 80-128 four tiles' A beside the panel ran slower
// than two (Emerald Rapids, 1 thread, both forms in one process alternated, medians of 300
// calls as fractions of an FMA loop timed with them: 196x576x96 97.0-97.6% -> 98.1-98.4%,
// 196x480x80 96.0-96.3% -> 98.0-98.2%, 196x576x128 95.7-95.8% -> 96.9-97.2%; 784x144x24 and
// 784x48x8 keep four, equal).
struct qn_f32_wide_rows {
    size_t tiles, base, extra, group;
};
static inline struct qn_f32_wide_rows qn_f32_wide_rows(size_t m, size_t mr, size_t kc) {
    const size_t tiles = (m + mr - 1) / mr, fit = 8192 / (mr * kc * sizeof(float));
    return (struct qn_f32_wide_rows){
        .tiles = tiles, .base = m / tiles, .extra = m % tiles, .group = fit < 1 ? 1 : fit > 4 ? 4 : fit};
}

// Small-M kernel: mr <= 4 rows of A read in place, A(i, k) = a[i * a_rs + k * a_ks];
// B as in the packed kernel (ldb floats between consecutive k), nr <= the ISA's NR.
typedef void (*qn_f32_gemm_small_fn)(size_t mr, size_t nr, size_t kc, const float *a,
                                     size_t a_rs, size_t a_ks, const float *b, size_t ldb,
                                     float *c, size_t ldc, const struct qn_f32_gemm_params *p);

// GEMV kernel (M = 1, B in place): C(0, j) for j < n from sum_k x[k * x_ks] * b[k * ldb + j],
// k < kc, with the store rule of one KC block applied in passes of a few rows of B: each pass
// adds its rows to C (the first with p->beta, the others with beta 1, every one scaled by
// alpha) and the last applies the epilogue when p->last. B streams a few rows at a time
// front to back; C stays in L1 between passes.
typedef void (*qn_f32_gemv_fn)(size_t n, size_t kc, const float *x, size_t x_ks, const float *b,
                               size_t ldb, float *c, const struct qn_f32_gemm_params *p);

// Rows of B per GEMV pass: 8 streams, read front to back. A standalone loop of this kernel's
// shape on Zen 5, one thread: a 64 MB B 21.6 GFLOP/s with 8 rows, 19.5 with 4, 19.3 with 1;
// a 2.4 MB one (in L3) 53 with 8 rows, 60 with 4 (the best).
#define QN_F32_GEMV_ROWS 8

// The GEMV pass from row k0 of kc: its rows (*r, at most QN_F32_GEMV_ROWS) and store rule.
static inline struct qn_f32_gemm_params qn_f32_gemv_pass(const struct qn_f32_gemm_params *p, size_t k0,
                                                         size_t kc, size_t *r) {
    struct qn_f32_gemm_params q = *p;
    *r = kc - k0 < QN_F32_GEMV_ROWS ? kc - k0 : QN_F32_GEMV_ROWS;
    if (k0 > 0) q.beta = 1.0f;
    q.last = p->last && k0 + *r == kc;
    return q;
}

// Dot kernel for op(B) = B^T with B[N][ldb]: mr <= 4 rows of A (unit stride in k, row
// stride lda) times nr <= 4 rows of B; C(i, j) = sum_k a[i][k] * b[j][k], same store rule.
typedef void (*qn_f32_gemm_dot_fn)(size_t mr, size_t nr, size_t kc, const float *a, size_t lda,
                                   const float *b, size_t ldb, float *c, size_t ldc,
                                   const struct qn_f32_gemm_params *p);

// Packing: one MR-row panel of A into [kc][MR] (rows past mr zero), element (i, k) at
// a[i * a_rs + k * a_ks]; one NR-column panel of B into [kc][NR] (columns past nr zero),
// element (k, j) at b[k * b_ks + j * b_ns]. Both transposes are just strides here; the SIMD
// versions specialise the unit-stride cases.
typedef void (*qn_f32_gemm_packa_fn)(size_t MR, size_t mr, size_t kc, const float *a,
                                     size_t a_rs, size_t a_ks, float *dst);
typedef void (*qn_f32_gemm_packb_fn)(size_t NR, size_t nr, size_t kc, const float *b,
                                     size_t b_ks, size_t b_ns, float *dst);

void qn_f32_gemm_packa__scalar(size_t MR, size_t mr, size_t kc, const float *a, size_t a_rs,
                               size_t a_ks, float *dst);
void qn_f32_gemm_packb__scalar(size_t NR, size_t nr, size_t kc, const float *b, size_t b_ks,
                               size_t b_ns, float *dst);
// MR == 6 and NR == 16 only.
void qn_f32_gemm_packa_6__avx2(size_t MR, size_t mr, size_t kc, const float *a, size_t a_rs,
                               size_t a_ks, float *dst);
void qn_f32_gemm_packb_16__avx2(size_t NR, size_t nr, size_t kc, const float *b, size_t b_ks,
                                size_t b_ns, float *dst);
// MR == 14 and NR == 32 only.
void qn_f32_gemm_packa_14__avx512(size_t MR, size_t mr, size_t kc, const float *a, size_t a_rs,
                                  size_t a_ks, float *dst);
void qn_f32_gemm_packb_32__avx512(size_t NR, size_t nr, size_t kc, const float *b, size_t b_ks,
                                  size_t b_ns, float *dst);

void qn_f32_gemm_ukernel_4x8__scalar(size_t mr, size_t nr, size_t kc, const float *a,
                                     const float *b, size_t ldb, float *c, size_t ldc,
                                     const struct qn_f32_gemm_params *p);
void qn_f32_gemm_small_ukernel_4x8__scalar(size_t mr, size_t nr, size_t kc, const float *a,
                                           size_t a_rs, size_t a_ks, const float *b, size_t ldb,
                                           float *c, size_t ldc,
                                           const struct qn_f32_gemm_params *p);
void qn_f32_gemv_ukernel__scalar(size_t n, size_t kc, const float *x, size_t x_ks, const float *b,
                                 size_t ldb, float *c, const struct qn_f32_gemm_params *p);
void qn_f32_gemv_ukernel__avx2(size_t n, size_t kc, const float *x, size_t x_ks, const float *b,
                               size_t ldb, float *c, const struct qn_f32_gemm_params *p);
void qn_f32_gemv_ukernel__avx512(size_t n, size_t kc, const float *x, size_t x_ks, const float *b,
                                 size_t ldb, float *c, const struct qn_f32_gemm_params *p);
void qn_f32_gemm_dot_ukernel_4x4__scalar(size_t mr, size_t nr, size_t kc, const float *a,
                                         size_t lda, const float *b, size_t ldb, float *c,
                                         size_t ldc, const struct qn_f32_gemm_params *p);

// Tiles of 9 x 48; ldb 48, or 32 (the 14 x 32 kernel's panels).
void qn_f32_gemm_wide_9x48__avx512(size_t m, size_t n, size_t kc, const float *a, size_t lda, const float *b,
                                   size_t ldb, float *c, size_t ldc, const struct qn_f32_gemm_params *p);

void qn_f32_gemm_ukernel_6x16__avx2(size_t mr, size_t nr, size_t kc, const float *a,
                                    const float *b, size_t ldb, float *c, size_t ldc,
                                    const struct qn_f32_gemm_params *p);
void qn_f32_gemm_ukernel_6x16_lda__avx2(size_t mr, size_t nr, size_t kc, const float *a, size_t lda,
                                        const float *b, size_t ldb, float *c, size_t ldc,
                                        const struct qn_f32_gemm_params *p);
void qn_f32_gemm_wide_6x16__avx2(size_t m, size_t n, size_t kc, const float *a, size_t lda, const float *b,
                                 size_t ldb, float *c, size_t ldc, const struct qn_f32_gemm_params *p);
void qn_f32_gemm_small_ukernel_4x16__avx2(size_t mr, size_t nr, size_t kc, const float *a,
                                          size_t a_rs, size_t a_ks, const float *b, size_t ldb,
                                          float *c, size_t ldc,
                                          const struct qn_f32_gemm_params *p);
void qn_f32_gemm_dot_ukernel_4x4__avx2(size_t mr, size_t nr, size_t kc, const float *a,
                                       size_t lda, const float *b, size_t ldb, float *c,
                                       size_t ldc, const struct qn_f32_gemm_params *p);

void qn_f32_gemm_ukernel_14x32__avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                       const float *b, size_t ldb, float *c, size_t ldc,
                                       const struct qn_f32_gemm_params *p);
void qn_f32_gemm_ukernel_14x32_lda__avx512(size_t mr, size_t nr, size_t kc, const float *a, size_t lda,
                                           const float *b, size_t ldb, float *c, size_t ldc,
                                           const struct qn_f32_gemm_params *p);
void qn_f32_gemm_small_ukernel_4x32__avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                            size_t a_rs, size_t a_ks, const float *b,
                                            size_t ldb, float *c, size_t ldc,
                                            const struct qn_f32_gemm_params *p);
void qn_f32_gemm_dot_ukernel_4x4__avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                         size_t lda, const float *b, size_t ldb, float *c,
                                         size_t ldc, const struct qn_f32_gemm_params *p);

// --- scalar store rule (scalar kernels, dot kernels, edge fix-ups) ---

// GELU in the same sigmoid form as the SIMD kernels use: 0.5 x (1 + tanh(u)) = x / (1 + e^-2u),
// u = sqrt(2/pi) (x + 0.044715 x^3). Same function as qn_act_ref's tanh form, but without its
// cancellation in 1 + tanh(u) for x << 0.
static inline float qn_f32_gelu_scalar(float x) {
    const float c = 0.7978845608028654f;
    float u = c * (x + 0.044715f * x * x * x);
    float t = -2.0f * u;
    t = t > 88.0f ? 88.0f : t;
    return x / (1.0f + expf(t));
}

static inline float qn_f32_act_scalar(enum qn_act act, float x) {
    return act == QN_ACT_GELU ? qn_f32_gelu_scalar(x) : qn_act_ref(act, x);
}

// Applies the store rule to one element: acc is the raw dot product, c points at C(i, j).
static inline void qn_f32_store1(float acc, float *c, size_t i, size_t j,
                                 const struct qn_f32_gemm_params *p) {
    float y = p->alpha * acc;
    if (p->beta != 0.0f) y += p->beta * *c;
    if (p->last) {
        if (p->bias) y += p->bias[j];
        if (p->res && p->res_before) y += p->res[i * p->ldr + j];
        if (p->act != QN_ACT_NONE) y = qn_f32_act_scalar(p->act, y);
        if (p->res && !p->res_before) y += p->res[i * p->ldr + j];
    }
    *c = y;
}
