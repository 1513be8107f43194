// AVX-512 requantizing epilogue shared by the qs8/qs4 AVX-512 kernels: 16 columns per zmm,
// masked for the last panel. Same float operations, in the same order, as qn_qgemm_store1,
// without FMA, so the results are bit-identical. GELU calls qn_act_ref per element (the
// scalar tanhf cannot be reproduced bit for bit by a vector polynomial).
// Include only from *-avx512.c files.
#pragma once

#include <immintrin.h>

#include "qs8-gemm/qs8-gemm.h"

// Per-column constants of 16 output channels. The kernels start their accumulators at
// -a_zp * col_sum[n] (qn_qgemm_acc0_avx512), so the epilogue sees the corrected acc.
struct qn_qgemm_cols16 {
    __m512 mul;      // a_scale * scale[n]
    __m512 bias;     // bias[n] or 0
    __mmask16 mask;  // valid columns
};

static inline __attribute__((always_inline)) __mmask16 qn_mask16(size_t n) {
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

static inline __attribute__((always_inline)) struct qn_qgemm_cols16 qn_qgemm_cols16_avx512(const struct qn_qgemm_params *p,
                                                            size_t j0, size_t nc) {
    struct qn_qgemm_cols16 cl;
    cl.mask = j0 < nc ? qn_mask16(nc - j0) : 0;
    cl.mul = _mm512_mul_ps(_mm512_set1_ps(p->a_scale), _mm512_maskz_loadu_ps(cl.mask, p->scale + j0));
    cl.bias = p->bias ? _mm512_maskz_loadu_ps(cl.mask, p->bias + j0) : _mm512_setzero_ps();
    return cl;
}

// Accumulator start value for columns [j0, j0 + 16): -a_zp * col_sum[n] (exact in s32).
static inline __attribute__((always_inline)) __m512i qn_qgemm_acc0_avx512(const struct qn_qgemm_params *p, size_t j0, size_t nc) {
    const __mmask16 m = j0 < nc ? qn_mask16(nc - j0) : 0;
    return _mm512_mullo_epi32(_mm512_set1_epi32(-p->a_zp), _mm512_maskz_loadu_epi32(m, p->col_sum + j0));
}

static inline __attribute__((always_inline)) __m512 qn_qgemm_act_avx512(enum qn_act act, __m512 y) {
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    switch (act) {
    case QN_ACT_NONE: return y;
    // max_ps(a, b) = a > b ? a : b and min_ps(a, b) = a < b ? a : b, so these are the
    // reference's comparisons literally (NaN and -0 included).
    case QN_ACT_RELU: return _mm512_max_ps(y, zero);
    case QN_ACT_RELU6: return _mm512_max_ps(zero, _mm512_min_ps(six, y));
    case QN_ACT_HSWISH: {
        __m512 r = _mm512_add_ps(y, _mm512_set1_ps(3.0f));
        r = _mm512_max_ps(zero, _mm512_min_ps(six, r));
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

// Row i, columns [j0, j0 + 16) of the tile; acc already includes the a_zp correction.
// Callers pass a local copy of the params, so stores to C cannot alias them (no reloads).
static inline __attribute__((always_inline)) void qn_qgemm_store16_avx512(const struct qn_qgemm_params *p,
                                           const struct qn_qgemm_cols16 *cl, size_t i, size_t j0,
                                           __m512i acc, void *c, size_t ldc) {
    if (!cl->mask) return;
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), cl->mul);
    if (p->bias) y = _mm512_add_ps(y, cl->bias);
    const float *r = p->residual ? p->residual + i * p->ldr + j0 : NULL;
    if (r && p->residual_before_act) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(cl->mask, r));
    y = qn_qgemm_act_avx512(p->act, y);
    if (r && !p->residual_before_act) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(cl->mask, r));
    if (p->out_u8) {
        __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(y, _mm512_set1_ps(p->inv_out)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_add_ps(q, _mm512_set1_ps(p->out_zp));
        q = _mm512_max_ps(_mm512_setzero_ps(), _mm512_min_ps(_mm512_set1_ps(p->out_qmax), q));
        _mm512_mask_cvtusepi32_storeu_epi8((uint8_t *)c + i * ldc + j0, cl->mask,
                                           _mm512_cvtps_epi32(q));
    } else {
        _mm512_mask_storeu_ps((float *)c + i * ldc + j0, cl->mask, y);
    }
}

// The whole epilogue over an s32 tile acc[mr][ld_acc], written to C; add_zp: the tile lacks
// the a_zp correction (-a_zp * col_sum per column), which the epilogue adds as it loads.
// Kernels spill their accumulators to a stack tile and call this once: keeping the epilogue
// out of the register-allocated loop avoids spilling live accumulators around it.
void qn_qgemm_epilogue__avx512(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc, void *c,
                               size_t ldc, const struct qn_qgemm_params *p, bool add_zp);
