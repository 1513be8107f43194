// AVX2 softmax over one row: three passes (max, exp + sum with the exps stored in y, scale),
// 8 floats per vector, masked tails.
#include <math.h>

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

void qn_f32_softmax_ukernel__avx2(size_t n, const float *x, const float *mask, float *y) {
    const size_t nv = n & ~(size_t)7;
    const size_t rem = n - nv;
    const __m256i tm = qn_tail_mask_avx2(rem);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);

    __m256 vmax0 = ninf, vmax1 = ninf;
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        vmax0 = _mm256_max_ps(vmax0, load_s(x, mask, j));
        vmax1 = _mm256_max_ps(vmax1, load_s(x, mask, j + 8));
    }
    for (; j < nv; j += 8) vmax0 = _mm256_max_ps(vmax0, load_s(x, mask, j));
    if (rem)  // masked-off lanes must not win the max
        vmax1 = _mm256_max_ps(vmax1, _mm256_blendv_ps(ninf, load_s_tail(x, mask, nv, tm),
                                                      _mm256_castsi256_ps(tm)));
    const float max = hmax(_mm256_max_ps(vmax0, vmax1));
    if (max == -INFINITY) {
        for (j = 0; j < n; j++) y[j] = 0.0f;
        return;
    }

    const __m256 vm = _mm256_set1_ps(max);
    __m256 vsum0 = _mm256_setzero_ps(), vsum1 = vsum0;
    for (j = 0; j + 16 <= n; j += 16) {
        const __m256 e0 = qn_vexp_avx2(_mm256_sub_ps(load_s(x, mask, j), vm));
        const __m256 e1 = qn_vexp_avx2(_mm256_sub_ps(load_s(x, mask, j + 8), vm));
        _mm256_storeu_ps(y + j, e0);
        _mm256_storeu_ps(y + j + 8, e1);
        vsum0 = _mm256_add_ps(vsum0, e0);
        vsum1 = _mm256_add_ps(vsum1, e1);
    }
    for (; j < nv; j += 8) {
        const __m256 e = qn_vexp_avx2(_mm256_sub_ps(load_s(x, mask, j), vm));
        _mm256_storeu_ps(y + j, e);
        vsum0 = _mm256_add_ps(vsum0, e);
    }
    if (rem) {
        __m256 e = qn_vexp_avx2(_mm256_sub_ps(load_s_tail(x, mask, nv, tm), vm));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(tm));
        _mm256_maskstore_ps(y + nv, tm, e);
        vsum1 = _mm256_add_ps(vsum1, e);
    }
    const __m256 vinv = _mm256_set1_ps(1.0f / hsum(_mm256_add_ps(vsum0, vsum1)));
    for (j = 0; j < nv; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), vinv));
    if (rem)
        _mm256_maskstore_ps(y + nv, tm, _mm256_mul_ps(_mm256_maskload_ps(y + nv, tm), vinv));
}
