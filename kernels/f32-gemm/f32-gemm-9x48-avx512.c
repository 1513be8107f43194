// AVX-512 FP32 GEMM kernel, 9 x 48, A in place, B from packed panels 48 or 32 columns wide.
//
// 27 zmm accumulators + 3 zmm of B per k + 1 broadcast of A: 31 of the 32 registers, 27 FMAs
// per 3 vector loads and 9 broadcasts (the 14 x 32 tile: 28 per 2 loads and 14 broadcasts).
// The tile covers 48 columns, three whole cache lines of each C row. B: pre-packed weights in
// 48-column panels (one contiguous stream per tile), or the 14 x 32 kernel's 32-column panels
// of a B packed per call (column j of a KC block at b[(j / ldb) * ldb * kc + k * ldb + j % ldb]).
// Rows (1..9) and 16-column vectors (1..3) are compile-time forms: an edge tile runs only the
// FMAs it stores.
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

// x as a value the compiler cannot see through (no common subexpressions across uses)
static inline size_t opaque(size_t x) {
    __asm__("" : "+r"(x));
    return x;
}

// Vector u of a row at ptr: the last of NV vectors through the column mask ml.
#define LDV(ptr, u) ((u) + 1 == NV ? _mm512_maskz_loadu_ps(ml, (ptr)) : _mm512_loadu_ps(ptr))

// PW (compile-time): the panel width. 48: the tile's three vectors are one 192-byte row of a
// panel, one pointer; 32: two panels' halves, a pointer each (bv0).
static inline __attribute__((always_inline)) void tile(const size_t R, const size_t NV, const size_t PW, size_t nr,
                                                       size_t kc, const float *a, size_t lda,
                                                       const float *const bv0[3], float *c, size_t ldc,
                                                       const struct qn_f32_gemm_params *p) {
    const float *bv[3] = {bv0[0], PW == 48 ? bv0[0] + 16 : bv0[1], PW == 48 ? bv0[0] + 32 : bv0[2]};
    const float *b48 = bv0[0];
    __m512 acc[9][3];
#pragma GCC unroll 9
    for (size_t i = 0; i < R; i++)
#pragma GCC unroll 3
        for (size_t u = 0; u < NV; u++) acc[i][u] = _mm512_setzero_ps();
    // One pointer into A with the row offsets in registers (8 of them, 9 rows), which also
    // ends the loop (a second pointer for rows 5-8, as the 14 x 32 kernel's a7, is two more adds
    // per k-step; no difference measured).
    for (size_t k = 0; k < kc; k++) {
        // B streams from L2 (the tile row's A stays in L1 across the column tiles). The two
        // panels' halves are fetched one line per vector 16 k-steps ahead; a 48-column panel is
        // one contiguous stream the hardware fetches (a prefetch there ran 196x576x96 ~0.3%
        // slower, paired against oneDNN).
        __m512 bk[3];
#pragma GCC unroll 3
        for (size_t u = 0; u < NV; u++) {
            if (PW == 48) {
                bk[u] = _mm512_load_ps(b48 + 16 * u);
            } else {
                _mm_prefetch((const char *)(bv[u] + 16 * 32), _MM_HINT_T0);
                bk[u] = _mm512_load_ps(bv[u]);
                bv[u] += 32;
            }
        }
        b48 += 48;
#pragma GCC unroll 9
        for (size_t i = 0; i < R; i++) {
            const __m512 ai = _mm512_set1_ps(a[i * lda]);
#pragma GCC unroll 3
            for (size_t u = 0; u < NV; u++) acc[i][u] = _mm512_fmadd_ps(ai, bk[u], acc[i][u]);
        }
        a++;
    }
    // store rule (alpha 1, beta 0 or 1), as the 14 x 32 kernel's store_rule. Each pass takes its
    // row stride through opaque(): with one stride GCC computed the 27 addresses of C once, before
    // the passes, and spilled them (~60 instructions a tile; a 1x1 8->48 layer at 28x28, paired
    // loop in one process, 1 thread: 5.0 -> 4.7 us).
    const size_t tail = nr - 16 * (NV - 1);
    const __mmask16 ml = tail >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << tail) - 1);
    if (p->beta == 1.0f) {
        const size_t ld = opaque(ldc);
        EACH(R, NV, _mm512_add_ps(v, LDV(c + i * ld + 16 * u, u)));
    }
    if (p->last) {
        const float *res = p->res;
        if (p->bias) {
            __m512 bb[3];
#pragma GCC unroll 3
            for (size_t u = 0; u < NV; u++) bb[u] = LDV(p->bias + 16 * u, u);
            EACH(R, NV, _mm512_add_ps(v, bb[u]));
        }
        if (res && p->res_before) {
            const size_t ld = opaque(p->ldr);
            EACH(R, NV, _mm512_add_ps(v, LDV(res + i * ld + 16 * u, u)));
        }
        switch (p->act) {
        case QN_ACT_NONE: break;
        case QN_ACT_RELU: EACH(R, NV, act16(QN_ACT_RELU, v)); break;
        case QN_ACT_RELU6: EACH(R, NV, act16(QN_ACT_RELU6, v)); break;
        case QN_ACT_HSWISH: EACH(R, NV, act16(QN_ACT_HSWISH, v)); break;
        case QN_ACT_GELU: EACH(R, NV, act16(QN_ACT_GELU, v)); break;
        }
        if (res && !p->res_before) {
            const size_t ld = opaque(p->ldr);
            EACH(R, NV, _mm512_add_ps(v, LDV(res + i * ld + 16 * u, u)));
        }
    }
    const size_t ld = opaque(ldc);
#pragma GCC unroll 9
    for (size_t i = 0; i < R; i++)
#pragma GCC unroll 3
        for (size_t u = 0; u < NV; u++) {
            if (u + 1 == NV)
                _mm512_mask_storeu_ps(c + i * ld + 16 * u, ml, acc[i][u]);
            else
                _mm512_storeu_ps(c + i * ld + 16 * u, acc[i][u]);
        }
}
#undef LDV
#undef EACH

// One function per form (rows 1..9 x vectors 1..3), each its own register allocation: inlined
// into the block's loops, the 27 forms' hoisted offsets spilled to the stack and every tile
// reloaded them (784x48x8: 6.0 us against 3.9 for a lone 9 x 48 tile function).
typedef void tile_fn(size_t nr, size_t kc, const float *a, size_t lda, const float *const bv[3], float *c,
                     size_t ldc, const struct qn_f32_gemm_params *p);
#define FORM(R, NV, PW)                                                                                  \
    static __attribute__((noinline)) void tile_##R##x##NV##_##PW(size_t nr, size_t kc, const float *a,    \
                                                                 size_t lda, const float *const bv[3],    \
                                                                 float *c, size_t ldc,                    \
                                                                 const struct qn_f32_gemm_params *p) {    \
        tile(R, NV, PW, nr, kc, a, lda, bv, c, ldc, p);                                                  \
    }
#define FORMS(R) FORM(R, 1, 32) FORM(R, 2, 32) FORM(R, 3, 32) FORM(R, 1, 48) FORM(R, 2, 48) FORM(R, 3, 48)
FORMS(1) FORMS(2) FORMS(3) FORMS(4) FORMS(5) FORMS(6) FORMS(7) FORMS(8) FORMS(9)
#undef FORMS
#undef FORM
#define FORMS(R, PW) {tile_##R##x1_##PW, tile_##R##x2_##PW, tile_##R##x3_##PW},
#define PANEL(PW) \
    {FORMS(1, PW) FORMS(2, PW) FORMS(3, PW) FORMS(4, PW) FORMS(5, PW) FORMS(6, PW) FORMS(7, PW) FORMS(8, PW) FORMS(9, PW)}
static tile_fn *const g_tiles[2][9][3] = {PANEL(32), PANEL(48)};
#undef PANEL
#undef FORMS

// The m x n block: row tiles of at most 9 rows in groups (qn_f32_wide_rows), the block's
// columns 48 at a time across each group.
void qn_f32_gemm_wide_9x48__avx512(size_t m, size_t n, size_t kc, const float *a, size_t lda, const float *b,
                                   size_t ldb, float *c, size_t ldc, const struct qn_f32_gemm_params *p) {
    QN_ASSERT(m >= 1 && n >= 1 && kc >= 1 && (ldb == 32 || ldb == 48));
    QN_ASSERT(p->alpha == 1.0f && (p->beta == 0.0f || p->beta == 1.0f));
    const struct qn_f32_wide_rows rt = qn_f32_wide_rows(m, 9, kc);
    struct qn_f32_gemm_params q = *p;
    for (size_t t0 = 0, i0 = 0; t0 < rt.tiles;) {
        const size_t t1 = t0 + rt.group < rt.tiles ? t0 + rt.group : rt.tiles;
        for (size_t j = 0; j < n; j += 48) {
            const size_t nr = n - j < 48 ? n - j : 48, nv = (nr + 15) / 16;
            // vector u: columns j + 16 u .. + 15, in panel (j + 16 u) / ldb
            // no division by the run-time ldb: three per tile ran 196x576x96 1.2% slower and the
            // 8->48 layer 4.7 against 4.3 us
            const float *bv[3] = {b + j * kc, NULL, NULL};  // 48: one pointer
            if (ldb == 32)
                for (size_t u = 0; u < nv; u++) {
                    const size_t col = j + 16 * u;
                    bv[u] = b + col / 32 * 32 * kc + col % 32;
                }
            q.bias = p->bias ? p->bias + j : NULL;
            for (size_t t = t0, i = i0, mr; t < t1; t++, i += mr) {
                mr = rt.base + (t < rt.extra);
                q.res = p->res ? p->res + i * p->ldr + j : NULL;
                g_tiles[ldb == 48][mr - 1][nv - 1](nr, kc, a + i * lda, lda, bv, c + i * ldc + j, ldc, &q);
            }
        }
        for (; t0 < t1; t0++) i0 += rt.base + (t0 < rt.extra);
    }
}
