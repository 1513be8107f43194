// AVX-512 FP32 GEMM kernel, 9 x 48, A in place, B from the 32-column packed panels.
//
// 27 zmm accumulators + 3 zmm of B per k + 1 broadcast of A: 31 of the 32 registers, 27 FMAs
// per 3 vector loads and 9 broadcasts (the 14 x 32 tile: 28 per 2 loads and 14 broadcasts).
// The tile covers 48 columns, three whole cache lines of each C row, and reads its B straight
// from the 14 x 32 kernel's packed layout (column j of a KC block at b[(j / 32) * 32 * kc +
// k * 32 + j % 32]), so both kernels share one set of packed weights. Rows (1..9) and 16-column
// vectors (1..3) are compile-time forms: an edge tile runs only the FMAs it stores.
//
// Same products in the same order as the 14 x 32 kernel (k ascending, one FMA chain per
// output, the same store rule), so the two give bit-identical results.
#include <immintrin.h>

#include "f32-gemm/f32-act-avx512.h"
#include "f32-gemm/f32-gemm.h"

// v = EXPR for the R x NV registers (EXPR sees v, the row i and the vector index u).
#define EACH(R, NV, EXPR)                                        \
    do {                                                         \
        _Pragma("GCC unroll 9") for (size_t i = 0; i < (R); i++) \
            _Pragma("GCC unroll 3") for (size_t u = 0; u < (NV); u++) { \
            const __m512 v = acc[i][u];                          \
            acc[i][u] = (EXPR);                                  \
        }                                                        \
    } while (0)

// Vector u of a row at ptr: the last of NV vectors through the column mask ml.
#define LDV(ptr, u) ((u) + 1 == NV ? _mm512_maskz_loadu_ps(ml, (ptr)) : _mm512_loadu_ps(ptr))

static inline __attribute__((always_inline)) void tile(const size_t R, const size_t NV, size_t nr, size_t kc,
                                                       const float *a, size_t lda, const float *b, size_t j0,
                                                       float *c, size_t ldc, const struct qn_f32_gemm_params *p) {
    // vector u = columns j0 + 16 u .. + 15 of the block, in panel (j0 + 16 u) / 32
    const float *bv[3] = {NULL, NULL, NULL};
#pragma GCC unroll 3
    for (size_t u = 0; u < NV; u++) {
        const size_t j = j0 + 16 * u;
        bv[u] = b + j / 32 * 32 * kc + j % 32;
    }
    __m512 acc[9][3];
#pragma GCC unroll 9
    for (size_t i = 0; i < R; i++)
#pragma GCC unroll 3
        for (size_t u = 0; u < NV; u++) acc[i][u] = _mm512_setzero_ps();
    // Rows 5-8 through a second pointer: the offsets 0..4 x lda then cover every row.
    const float *a5 = a + 5 * lda;
    for (size_t k = 0; k < kc; k++) {
        // B streams from L2 (the tile row's A stays in L1 across the column tiles): one line
        // per vector, 16 k-steps ahead.
        __m512 bk[3];
#pragma GCC unroll 3
        for (size_t u = 0; u < NV; u++) {
            _mm_prefetch((const char *)(bv[u] + 16 * 32), _MM_HINT_T0);
            bk[u] = _mm512_load_ps(bv[u]);
            bv[u] += 32;
        }
#pragma GCC unroll 9
        for (size_t i = 0; i < R; i++) {
            const __m512 ai = _mm512_set1_ps(i < 5 ? a[i * lda] : a5[(i - 5) * lda]);
#pragma GCC unroll 3
            for (size_t u = 0; u < NV; u++) acc[i][u] = _mm512_fmadd_ps(ai, bk[u], acc[i][u]);
        }
        a++;
        a5++;
    }
    // store rule (alpha 1, beta 0 or 1), as the 14 x 32 kernel's store_rule
    const size_t tail = nr - 16 * (NV - 1);
    const __mmask16 ml = tail >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << tail) - 1);
    if (p->beta == 1.0f) EACH(R, NV, _mm512_add_ps(v, LDV(c + i * ldc + 16 * u, u)));
    if (p->last) {
        const float *res = p->res;
        if (p->bias) {
            __m512 bb[3];
#pragma GCC unroll 3
            for (size_t u = 0; u < NV; u++) bb[u] = LDV(p->bias + 16 * u, u);
            EACH(R, NV, _mm512_add_ps(v, bb[u]));
        }
        if (res && p->res_before) EACH(R, NV, _mm512_add_ps(v, LDV(res + i * p->ldr + 16 * u, u)));
        switch (p->act) {
        case QN_ACT_NONE: break;
        case QN_ACT_RELU: EACH(R, NV, act16(QN_ACT_RELU, v)); break;
        case QN_ACT_RELU6: EACH(R, NV, act16(QN_ACT_RELU6, v)); break;
        case QN_ACT_HSWISH: EACH(R, NV, act16(QN_ACT_HSWISH, v)); break;
        case QN_ACT_GELU: EACH(R, NV, act16(QN_ACT_GELU, v)); break;
        }
        if (res && !p->res_before) EACH(R, NV, _mm512_add_ps(v, LDV(res + i * p->ldr + 16 * u, u)));
    }
#pragma GCC unroll 9
    for (size_t i = 0; i < R; i++)
#pragma GCC unroll 3
        for (size_t u = 0; u < NV; u++) {
            if (u + 1 == NV)
                _mm512_mask_storeu_ps(c + i * ldc + 16 * u, ml, acc[i][u]);
            else
                _mm512_storeu_ps(c + i * ldc + 16 * u, acc[i][u]);
        }
}
#undef LDV
#undef EACH

// One function per form (rows 1..9 x vectors 1..3), each its own register allocation: inlined
// into the block's loops, the 27 forms' hoisted offsets spilled to the stack and every tile
// reloaded them (784x48x8: 6.0 us against 3.9 for a lone 9 x 48 tile function).
typedef void tile_fn(size_t nr, size_t kc, const float *a, size_t lda, const float *b, size_t j0, float *c,
                     size_t ldc, const struct qn_f32_gemm_params *p);
#define FORM(R, NV)                                                                                      \
    static __attribute__((noinline)) void tile_##R##x##NV(size_t nr, size_t kc, const float *a, size_t lda, \
                                                          const float *b, size_t j0, float *c, size_t ldc,  \
                                                          const struct qn_f32_gemm_params *p) {             \
        tile(R, NV, nr, kc, a, lda, b, j0, c, ldc, p);                                                   \
    }
#define FORMS(R) FORM(R, 1) FORM(R, 2) FORM(R, 3)
FORMS(1) FORMS(2) FORMS(3) FORMS(4) FORMS(5) FORMS(6) FORMS(7) FORMS(8) FORMS(9)
#undef FORMS
#undef FORM
#define FORMS(R) {tile_##R##x1, tile_##R##x2, tile_##R##x3},
static tile_fn *const g_tiles[9][3] = {FORMS(1) FORMS(2) FORMS(3) FORMS(4) FORMS(5) FORMS(6) FORMS(7) FORMS(8)
                                           FORMS(9)};
#undef FORMS

// The m x n block: row tiles of at most 9 rows, as even as they go (196 rows: 20 of 9 and 2
// of 8), each across the block's columns 48 at a time (its A stays in L1 while B streams).
void qn_f32_gemm_wide_9x48__avx512(size_t m, size_t n, size_t kc, const float *a, size_t lda, const float *b,
                                   float *c, size_t ldc, const struct qn_f32_gemm_params *p) {
    QN_ASSERT(m >= 1 && n >= 1 && kc >= 1);
    QN_ASSERT(p->alpha == 1.0f && (p->beta == 0.0f || p->beta == 1.0f));
    const size_t tiles = (m + 8) / 9, base = m / tiles, extra = m % tiles;  // first `extra` get base + 1
    struct qn_f32_gemm_params q = *p;
    for (size_t t = 0, i = 0, mr; t < tiles; t++, i += mr) {
        mr = base + (t < extra);
        for (size_t j = 0; j < n; j += 48) {
            q.bias = p->bias ? p->bias + j : NULL;
            q.res = p->res ? p->res + i * p->ldr + j : NULL;
            const size_t nr = n - j < 48 ? n - j : 48;
            g_tiles[mr - 1][(nr + 15) / 16 - 1](nr, kc, a + i * lda, lda, b, j, c + i * ldc + j, ldc, &q);
        }
    }
}
