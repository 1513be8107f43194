// AVX-512 activations of the FP32 GEMM kernels' epilogues (16 lanes), shared by the 14 x 32
// and 9 x 48 kernels. Include only from files built with the AVX-512 flags.
#ifndef QN_F32_ACT_AVX512_H
#define QN_F32_ACT_AVX512_H

#include <immintrin.h>

#include "f32-gemm/f32-gemm.h"

// e^t, |relative error| < 2e-7 for t in [-87, 88] (Cody-Waite reduction t = n ln2 + r,
// |r| <= ln2 / 2, then the degree-6 Taylor polynomial: truncation r^7 / 7! < 1.3e-7).
// Inputs above 88 are clamped (e^88 = 1.65e38 still finite); below, scalef flushes to 0.
static inline __m512 exp16(__m512 t) {
    t = _mm512_min_ps(t, _mm512_set1_ps(88.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), t);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 q = _mm512_set1_ps(1.0f / 720.0f);
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f / 120.0f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f / 24.0f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f / 6.0f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.5f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(q, n);
}

// GELU, tanh form rewritten as x / (1 + e^-2u), u = sqrt(2/pi) (x + 0.044715 x^3): the same
// function as qn_act_ref, |error| <= ~4e-7 |x| relative to the exact value.
static inline __m512 gelu16(__m512 x) {
    const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    const __m512 u = _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x);
    const __m512 e = exp16(_mm512_mul_ps(u, _mm512_set1_ps(-2.0f * 0.7978845608028654f)));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

// ReLU / ReLU6 / hardswish reproduce qn_act_ref bit for bit (same operations, same order).
static inline __m512 act16(enum qn_act act, __m512 y) {
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    switch (act) {
    case QN_ACT_NONE: return y;
    case QN_ACT_RELU: return _mm512_max_ps(y, zero);
    case QN_ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(y, zero), six);
    case QN_ACT_HSWISH: {
        __m512 r = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(y, _mm512_set1_ps(3.0f)), zero), six);
        return _mm512_mul_ps(_mm512_mul_ps(y, r), _mm512_set1_ps(1.0f / 6.0f));
    }
    case QN_ACT_GELU: return gelu16(y);
    }
    return y;
}

#endif
