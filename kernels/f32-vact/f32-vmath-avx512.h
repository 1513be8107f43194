// AVX-512 vector math shared by the softmax, activation and add kernels. Include only from
// *-avx512.c files: everything here is static inline and compiled with AVX-512 enabled.
//
// exp: Cody-Waite range reduction x = n*ln2 + r, |r| <= ln2/2, a degree-6 polynomial for
// exp(r) (Cephes expf coefficients), then scalef by 2^n, which rounds the denormal range and
// overflows to +inf correctly. Measured max relative error vs. double exp, every 7th float of
// [-87, 88]: 8.5e-8 (0.71 * 2^-23, i.e. within 1.5 ulp). Inputs are clamped to [-110, 89]: exp(-inf) and anything below -103.97
// is exactly 0, exp(> 88.73) is +inf. NaN inputs are not supported.
//
// GELU (tanh form) uses the identity 0.5 * (1 + tanh(z)) = 1 / (1 + exp(-2z)):
//   gelu(x) = x / (1 + exp(-2z)),  z = sqrt(2/pi) * (x + 0.044715 x^3)
// which has no cancellation for negative x (the tanh form loses digits there). Measured error
// vs. the double-precision formula on [-12, 12] in steps of 1e-5: 1.24e-7 * max(1, |x|)
// (the tests allow 4e-7 * max(1, |x|)).
#pragma once

#include <immintrin.h>

#include "gemm.h"  // enum qn_act

static inline __m512 qn_vexp_avx512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-110.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // ln2 split so that n * ln2_hi is exact for |n| < 2^9
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 qn_vgelu_avx512(__m512 x) {
    const __m512 x2 = _mm512_mul_ps(x, x);
    // -2z = -2 sqrt(2/pi) * x * (1 + 0.044715 x^2)
    const __m512 inner = _mm512_fmadd_ps(x2, _mm512_set1_ps(0.044715f), _mm512_set1_ps(1.0f));
    const __m512 m2z = _mm512_mul_ps(_mm512_mul_ps(x, inner), _mm512_set1_ps(-1.5957691216057308f));
    const __m512 e = qn_vexp_avx512(m2z);
    return _mm512_div_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

// Same operations as qn_act_ref, so ReLU / ReLU6 / hardswish are bit-exact with it, -0 and
// NaN included: max(a, b) is `a > b ? a : b`, hence max(0, x) keeps -0 where the reference does.
static inline __m512 qn_vact_avx512(enum qn_act act, __m512 x) {
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    switch (act) {
    case QN_ACT_NONE: return x;
    case QN_ACT_RELU: return _mm512_max_ps(x, zero);
    case QN_ACT_RELU6: return _mm512_min_ps(six, _mm512_max_ps(zero, x));
    case QN_ACT_HSWISH: {
        __m512 r = _mm512_add_ps(x, _mm512_set1_ps(3.0f));
        r = _mm512_min_ps(six, _mm512_max_ps(zero, r));
        return _mm512_mul_ps(_mm512_mul_ps(x, r), _mm512_set1_ps(1.0f / 6.0f));
    }
    case QN_ACT_GELU: return qn_vgelu_avx512(x);
    }
    return x;
}
