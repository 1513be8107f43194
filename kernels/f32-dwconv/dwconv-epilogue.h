// Vector epilogues shared by the depthwise kernels of one ISA (static inline only: each kernel
// file compiles them with its own flags). They repeat qn_act_ref / qn_qgemm_ref operation by
// operation (mul and add never fused), so the INT8 outputs are bit-exact with the scalar kernel.
// GELU goes through qn_act_ref lane by lane: it is rare in CNNs and tanhf must match exactly.
#pragma once

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "gemm.h"

#if defined(__AVX512F__)

static inline __m512 qn_act_avx512(__m512 y, enum qn_act act) {
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    switch (act) {
    case QN_ACT_NONE: return y;
    case QN_ACT_RELU: return _mm512_max_ps(y, zero);
    case QN_ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(y, zero), six);
    case QN_ACT_HSWISH: {
        __m512 r = _mm512_add_ps(y, _mm512_set1_ps(3.0f));
        r = _mm512_min_ps(_mm512_max_ps(r, zero), six);
        return _mm512_mul_ps(_mm512_mul_ps(y, r), _mm512_set1_ps(1.0f / 6.0f));
    }
    case QN_ACT_GELU: {
        float t[16];
        _mm512_storeu_ps(t, y);
        for (int l = 0; l < 16; l++) t[l] = qn_act_ref(QN_ACT_GELU, t[l]);
        return _mm512_loadu_ps(t);
    }
    }
    return y;
}

// y + bias, residual before / after act. bias, res point at the block's first channel or NULL.
static inline __m512 qn_epilogue_avx512(__m512 y, const float *bias, const float *res,
                                        bool res_before_act, enum qn_act act, __mmask16 m) {
    if (bias) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, bias));
    if (res && res_before_act) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, res));
    y = qn_act_avx512(y, act);
    if (res && !res_before_act) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, res));
    return y;
}

// q = clamp(rint(y * inv_out) + out_zp, 0, 255) as 16 s32 lanes.
static inline __m512i qn_quantize_avx512(__m512 y, float inv_out, int32_t out_zp) {
    __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(y, _mm512_set1_ps(inv_out)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm512_add_ps(q, _mm512_set1_ps((float)out_zp));
    q = _mm512_min_ps(_mm512_max_ps(q, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
    return _mm512_cvttps_epi32(q);
}

#endif  // __AVX512F__

#if defined(__AVX2__)

// Lane mask for the first n (< 8) channels of a ymm.
static inline __m256i qn_mask_avx2(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __m256 qn_act_avx2(__m256 y, enum qn_act act) {
    const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
    switch (act) {
    case QN_ACT_NONE: return y;
    case QN_ACT_RELU: return _mm256_max_ps(y, zero);
    case QN_ACT_RELU6: return _mm256_min_ps(_mm256_max_ps(y, zero), six);
    case QN_ACT_HSWISH: {
        __m256 r = _mm256_add_ps(y, _mm256_set1_ps(3.0f));
        r = _mm256_min_ps(_mm256_max_ps(r, zero), six);
        return _mm256_mul_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(1.0f / 6.0f));
    }
    case QN_ACT_GELU: {
        float t[8];
        _mm256_storeu_ps(t, y);
        for (int l = 0; l < 8; l++) t[l] = qn_act_ref(QN_ACT_GELU, t[l]);
        return _mm256_loadu_ps(t);
    }
    }
    return y;
}

// tail: only the lanes of mi are loaded (maskload never touches the others).
static inline __m256 qn_epilogue_avx2(__m256 y, const float *bias, const float *res,
                                      bool res_before_act, enum qn_act act, bool tail,
                                      __m256i mi) {
    if (bias) y = _mm256_add_ps(y, tail ? _mm256_maskload_ps(bias, mi) : _mm256_loadu_ps(bias));
    __m256 r = _mm256_setzero_ps();
    if (res) r = tail ? _mm256_maskload_ps(res, mi) : _mm256_loadu_ps(res);
    if (res && res_before_act) y = _mm256_add_ps(y, r);
    y = qn_act_avx2(y, act);
    if (res && !res_before_act) y = _mm256_add_ps(y, r);
    return y;
}

static inline __m256i qn_quantize_avx2(__m256 y, float inv_out, int32_t out_zp) {
    __m256 q = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(inv_out)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm256_add_ps(q, _mm256_set1_ps((float)out_zp));
    q = _mm256_min_ps(_mm256_max_ps(q, _mm256_setzero_ps()), _mm256_set1_ps(255.0f));
    return _mm256_cvttps_epi32(q);
}

#endif  // __AVX2__
