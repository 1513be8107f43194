// AVX2 + FMA vector math shared by the softmax, activation and add kernels. Include only from
// *-avx2.c files: everything here is static inline and compiled with AVX2 enabled.
//
// exp: same reduction and polynomial as the AVX-512 version (f32-vmath-avx512.h); 2^n is built
// in the exponent field, so results below FLT_MIN (x < -87.3365) are flushed to exactly 0 and
// inputs above 88.3763 are clamped (exp(88.38) ~ 2.4e38, finite). Measured max relative error
// in the normal range: 8.5e-8, as for AVX-512. GELU as in the AVX-512 header, same error.
#pragma once

#include <immintrin.h>
#include <stdint.h>

#include "gemm.h"  // enum qn_act

static inline __m256 qn_vexp_avx2(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.33654475f);
    const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f)), lo);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    // After the clamp n lies in [-126, 127], so 2^n is a normal float built in the exponent field.
    const __m256i e = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(underflow, y);
}

static inline __m256 qn_vgelu_avx2(__m256 x) {
    const __m256 x2 = _mm256_mul_ps(x, x);
    const __m256 inner = _mm256_fmadd_ps(x2, _mm256_set1_ps(0.044715f), _mm256_set1_ps(1.0f));
    const __m256 m2z = _mm256_mul_ps(_mm256_mul_ps(x, inner), _mm256_set1_ps(-1.5957691216057308f));
    const __m256 e = qn_vexp_avx2(m2z);
    return _mm256_div_ps(x, _mm256_add_ps(e, _mm256_set1_ps(1.0f)));
}

static inline __m256 qn_vact_avx2(enum qn_act act, __m256 x) {
    const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
    switch (act) {
    case QN_ACT_NONE: return x;
    case QN_ACT_RELU: return _mm256_max_ps(x, zero);
    case QN_ACT_RELU6: return _mm256_min_ps(six, _mm256_max_ps(zero, x));
    case QN_ACT_HSWISH: {
        __m256 r = _mm256_add_ps(x, _mm256_set1_ps(3.0f));
        r = _mm256_min_ps(six, _mm256_max_ps(zero, r));
        return _mm256_mul_ps(_mm256_mul_ps(x, r), _mm256_set1_ps(1.0f / 6.0f));
    }
    case QN_ACT_GELU: return qn_vgelu_avx2(x);
    }
    return x;
}

// Lane mask for the first `rem` (0..8) floats of a tail, for maskload / maskstore.
static inline __m256i qn_tail_mask_avx2(size_t rem) {
    static const int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)&table[8 - rem]);
}
