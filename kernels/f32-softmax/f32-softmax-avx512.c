// AVX-512 softmax over one row: three passes (max, exp + sum with the exps stored in y,
// scale), 16 floats per vector, masked tails.
#include <math.h>

#include "f32-softmax/f32-softmax.h"
#include "f32-vact/f32-vmath-avx512.h"

static inline __m512 load_s(const float *x, const float *mask, size_t j, __mmask16 m) {
    const __m512 v = _mm512_maskz_loadu_ps(m, x + j);
    return mask ? _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, mask + j)) : v;
}

void qn_f32_softmax_ukernel__avx512(size_t n, const float *x, const float *mask, float *y) {
    const __mmask16 all = 0xffff;
    const size_t nv = n & ~(size_t)15;
    const __mmask16 tail = (__mmask16)((1u << (n - nv)) - 1);

    __m512 vmax0 = _mm512_set1_ps(-INFINITY), vmax1 = vmax0;
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        vmax0 = _mm512_max_ps(vmax0, load_s(x, mask, j, all));
        vmax1 = _mm512_max_ps(vmax1, load_s(x, mask, j + 16, all));
    }
    for (; j < nv; j += 16) vmax0 = _mm512_max_ps(vmax0, load_s(x, mask, j, all));
    if (tail) vmax1 = _mm512_mask_max_ps(vmax1, tail, vmax1, load_s(x, mask, nv, tail));
    const float max = _mm512_reduce_max_ps(_mm512_max_ps(vmax0, vmax1));
    if (max == -INFINITY) {
        for (j = 0; j < n; j++) y[j] = 0.0f;
        return;
    }

    const __m512 vm = _mm512_set1_ps(max);
    __m512 vsum0 = _mm512_setzero_ps(), vsum1 = vsum0;
    for (j = 0; j + 32 <= n; j += 32) {
        const __m512 e0 = qn_vexp_avx512(_mm512_sub_ps(load_s(x, mask, j, all), vm));
        const __m512 e1 = qn_vexp_avx512(_mm512_sub_ps(load_s(x, mask, j + 16, all), vm));
        _mm512_storeu_ps(y + j, e0);
        _mm512_storeu_ps(y + j + 16, e1);
        vsum0 = _mm512_add_ps(vsum0, e0);
        vsum1 = _mm512_add_ps(vsum1, e1);
    }
    for (; j < nv; j += 16) {
        const __m512 e = qn_vexp_avx512(_mm512_sub_ps(load_s(x, mask, j, all), vm));
        _mm512_storeu_ps(y + j, e);
        vsum0 = _mm512_add_ps(vsum0, e);
    }
    if (tail) {
        const __m512 e = qn_vexp_avx512(_mm512_sub_ps(load_s(x, mask, nv, tail), vm));
        _mm512_mask_storeu_ps(y + nv, tail, e);
        vsum1 = _mm512_mask_add_ps(vsum1, tail, vsum1, e);
    }
    const __m512 vinv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(_mm512_add_ps(vsum0, vsum1)));
    for (j = 0; j < nv; j += 16) _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_loadu_ps(y + j), vinv));
    if (tail)
        _mm512_mask_storeu_ps(y + nv, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, y + nv), vinv));
}
