// AVX-512 softmax: three passes per row (max, exp + sum with the exps stored in y, scale),
// 16 floats per vector, masked tails, four rows interleaved. A row alone is a chain of
// latencies (the max and sum reductions, the division, each pass waiting on the last): an
// attention score row of 196 ran 0.35 ns an entry one row at a time and 0.23-0.24 four at a
// time (196 x 256: 0.21-0.22 either way; Zen 5, 1 thread). Every row takes the same operations in the same
// order whichever group it falls in, so a row's result does not depend on its neighbours.
#include <math.h>
#include <stdbool.h>

#include "f32-softmax/f32-softmax.h"
#include "f32-vact/f32-vmath-avx512.h"

#define QN_SOFTMAX_ROWS 4

static inline __m512 load_s(const float *x, const float *mask, size_t j, __mmask16 m) {
    const __m512 v = _mm512_maskz_loadu_ps(m, x + j);
    return mask ? _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, mask + j)) : v;
}

// R rows (R a constant after inlining): row i of x, mask, y at + i * ldx, i * ldm, i * ldy.
static inline __attribute__((always_inline)) void rows_r(const size_t R, size_t n, const float *x, size_t ldx,
                                                         const float *mask, size_t ldm, float *y, size_t ldy) {
    const size_t nv = n & ~(size_t)15;
    const __mmask16 all = 0xffff, tail = (__mmask16)((1u << (n - nv)) - 1);
    const float *xr[QN_SOFTMAX_ROWS], *mr[QN_SOFTMAX_ROWS];
    float *yr[QN_SOFTMAX_ROWS];
    __m512 acc[QN_SOFTMAX_ROWS];
#pragma GCC unroll 4
    for (size_t i = 0; i < R; i++) {
        xr[i] = x + i * ldx, mr[i] = mask ? mask + i * ldm : NULL, yr[i] = y + i * ldy;
        acc[i] = _mm512_set1_ps(-INFINITY);
    }
    for (size_t j = 0; j < nv; j += 16)
#pragma GCC unroll 4
        for (size_t i = 0; i < R; i++) acc[i] = _mm512_max_ps(acc[i], load_s(xr[i], mr[i], j, all));
    __m512 vm[QN_SOFTMAX_ROWS];
    bool empty[QN_SOFTMAX_ROWS];
#pragma GCC unroll 4
    for (size_t i = 0; i < R; i++) {
        if (tail) acc[i] = _mm512_mask_max_ps(acc[i], tail, acc[i], load_s(xr[i], mr[i], nv, tail));
        // a row all -inf has no softmax: it comes out as zeros (exp(-inf - 0) = 0, times 0)
        const float max = _mm512_reduce_max_ps(acc[i]);
        empty[i] = max == -INFINITY;
        vm[i] = _mm512_set1_ps(empty[i] ? 0.0f : max);
        acc[i] = _mm512_setzero_ps();
    }
    for (size_t j = 0; j < nv; j += 16)
#pragma GCC unroll 4
        for (size_t i = 0; i < R; i++) {
            const __m512 e = qn_vexp_avx512(_mm512_sub_ps(load_s(xr[i], mr[i], j, all), vm[i]));
            _mm512_storeu_ps(yr[i] + j, e);
            acc[i] = _mm512_add_ps(acc[i], e);
        }
    __m512 vinv[QN_SOFTMAX_ROWS];
#pragma GCC unroll 4
    for (size_t i = 0; i < R; i++) {
        if (tail) {
            const __m512 e = qn_vexp_avx512(_mm512_sub_ps(load_s(xr[i], mr[i], nv, tail), vm[i]));
            _mm512_mask_storeu_ps(yr[i] + nv, tail, e);
            acc[i] = _mm512_mask_add_ps(acc[i], tail, acc[i], e);
        }
        const float sum = _mm512_reduce_add_ps(acc[i]);
        vinv[i] = _mm512_set1_ps(empty[i] ? 0.0f : 1.0f / sum);
    }
    for (size_t j = 0; j < nv; j += 16)
#pragma GCC unroll 4
        for (size_t i = 0; i < R; i++) _mm512_storeu_ps(yr[i] + j, _mm512_mul_ps(_mm512_loadu_ps(yr[i] + j), vinv[i]));
    if (tail)
#pragma GCC unroll 4
        for (size_t i = 0; i < R; i++)
            _mm512_mask_storeu_ps(yr[i] + nv, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, yr[i] + nv), vinv[i]));
}

void qn_f32_softmax_ukernel__avx512(size_t rows, size_t n, const float *x, size_t ldx, const float *mask,
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
