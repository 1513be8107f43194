// AVX2 softmax: three passes per row (max, exp + sum with the exps stored in y, scale),
// 8 floats per vector, masked tails, four rows interleaved so that one row's reductions and
// division overlap the others' passes (f32-softmax-avx512.c; here 196 x 196 ran 0.56-0.57 ->
// 0.43-0.44 ns an entry, 196 x 256 0.42-0.43 either way, Zen 5 with QNAS_ISA=avx2). Every row
// takes the same operations whichever group it falls in.
#include <math.h>
#include <stdbool.h>

#include "f32-softmax/f32-softmax.h"
#include "f32-vact/f32-vmath-avx2.h"

static inline __m256 load_s(const float *x, const float *mask, size_t j) {
    const __m256 v = _mm256_loadu_ps(x + j);
    return mask ? _mm256_add_ps(v, _mm256_loadu_ps(mask + j)) : v;
}

static inline __m256 load_s_tail(const float *x, const float *mask, size_t j, __m256i m) {
    const __m256 v = _mm256_maskload_ps(x + j, m);
    return mask ? _mm256_add_ps(v, _mm256_maskload_ps(mask + j, m)) : v;
}

static inline float hmax(__m256 v) {
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

static inline float hsum(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

#define QN_SOFTMAX_ROWS 4

// R rows (R a constant after inlining): row i of x, mask, y at + i * ldx, i * ldm, i * ldy.
static inline __attribute__((always_inline)) void rows_r(const size_t R, size_t n, const float *x, size_t ldx,
                                                         const float *mask, size_t ldm, float *y, size_t ldy) {
    const size_t nv = n & ~(size_t)7, rem = n - nv;
    const __m256i tm = qn_tail_mask_avx2(rem);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const float *xr[QN_SOFTMAX_ROWS], *mr[QN_SOFTMAX_ROWS];
    float *yr[QN_SOFTMAX_ROWS];
    __m256 acc[QN_SOFTMAX_ROWS];
#pragma GCC unroll 4
    for (size_t i = 0; i < R; i++) {
        xr[i] = x + i * ldx, mr[i] = mask ? mask + i * ldm : NULL, yr[i] = y + i * ldy;
        acc[i] = ninf;
    }
    for (size_t j = 0; j < nv; j += 8)
#pragma GCC unroll 4
        for (size_t i = 0; i < R; i++) acc[i] = _mm256_max_ps(acc[i], load_s(xr[i], mr[i], j));
    __m256 vm[QN_SOFTMAX_ROWS];
    bool empty[QN_SOFTMAX_ROWS];
#pragma GCC unroll 4
    for (size_t i = 0; i < R; i++) {
        if (rem)  // masked-off lanes must not win the max
            acc[i] = _mm256_max_ps(acc[i], _mm256_blendv_ps(ninf, load_s_tail(xr[i], mr[i], nv, tm),
                                                             _mm256_castsi256_ps(tm)));
        // a row all -inf has no softmax: it comes out as zeros (exp(-inf - 0) = 0, times 0)
        const float max = hmax(acc[i]);
        empty[i] = max == -INFINITY;
        vm[i] = _mm256_set1_ps(empty[i] ? 0.0f : max);
        acc[i] = _mm256_setzero_ps();
    }
    for (size_t j = 0; j < nv; j += 8)
#pragma GCC unroll 4
        for (size_t i = 0; i < R; i++) {
            const __m256 e = qn_vexp_avx2(_mm256_sub_ps(load_s(xr[i], mr[i], j), vm[i]));
            _mm256_storeu_ps(yr[i] + j, e);
            acc[i] = _mm256_add_ps(acc[i], e);
        }
    __m256 vinv[QN_SOFTMAX_ROWS];
#pragma GCC unroll 4
    for (size_t i = 0; i < R; i++) {
        if (rem) {
            __m256 e = qn_vexp_avx2(_mm256_sub_ps(load_s_tail(xr[i], mr[i], nv, tm), vm[i]));
            e = _mm256_and_ps(e, _mm256_castsi256_ps(tm));
            _mm256_maskstore_ps(yr[i] + nv, tm, e);
            acc[i] = _mm256_add_ps(acc[i], e);
        }
        vinv[i] = _mm256_set1_ps(empty[i] ? 0.0f : 1.0f / hsum(acc[i]));
    }
    for (size_t j = 0; j < nv; j += 8)
#pragma GCC unroll 4
        for (size_t i = 0; i < R; i++) _mm256_storeu_ps(yr[i] + j, _mm256_mul_ps(_mm256_loadu_ps(yr[i] + j), vinv[i]));
    if (rem)
#pragma GCC unroll 4
        for (size_t i = 0; i < R; i++)
            _mm256_maskstore_ps(yr[i] + nv, tm, _mm256_mul_ps(_mm256_maskload_ps(yr[i] + nv, tm), vinv[i]));
}

void qn_f32_softmax_ukernel__avx2(size_t rows, size_t n, const float *x, size_t ldx, const float *mask,
                                  size_t ldm, float *y, size_t ldy) {
    size_t r = 0;
    for (; r + QN_SOFTMAX_ROWS <= rows; r += QN_SOFTMAX_ROWS)
        rows_r(QN_SOFTMAX_ROWS, n, x + r * ldx, ldx, mask ? mask + r * ldm : NULL, ldm, y + r * ldy, ldy);
    switch (rows - r) {
    case 3: rows_r(3, n, x + r * ldx, ldx, mask ? mask + r * ldm : NULL, ldm, y + r * ldy, ldy); break;
    case 2: rows_r(2, n, x + r * ldx, ldx, mask ? mask + r * ldm : NULL, ldm, y + r * ldy, ldy); break;
    case 1: rows_r(1, n, x + r * ldx, ldx, mask ? mask + r * ldm : NULL, ldm, y + r * ldy, ldy); break;
    default: break;
    }
}
