// AVX-512 batch-norm + activation training kernels: 16 channels per zmm, masked tail; GELU
// (not used by the MBConv space) falls back to the reference.
#include <immintrin.h>

#include "f32-bn/f32-bn.h"
#include "gemm.h"

static inline __mmask16 tail_mask(int c, int C) {
    return C - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (C - c)) - 1);
}

// Row-major sweeps: each row of C channels is read once, front to back, so the hardware
// prefetcher streams whole lines; the per-channel accumulators stay in L1.
void qn_f32_bn_sums__avx512(size_t P, int C, const float *x, const float *x0, float *s1, float *s2) {
    for (size_t p = 0; p < P; p++) {
        const float *row = x + p * C;
        for (int c = 0; c < C; c += 16) {
            __mmask16 m = tail_mask(c, C);
            __m512 v = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + c), _mm512_maskz_loadu_ps(m, x0 + c));
            _mm512_mask_storeu_ps(s1 + c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, s1 + c), v));
            _mm512_mask_storeu_ps(s2 + c, m, _mm512_fmadd_ps(v, v, _mm512_maskz_loadu_ps(m, s2 + c)));
        }
    }
}

static inline __m512 act_fwd(int act, __m512 v) {
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    switch (act) {
    case QN_ACT_RELU: return _mm512_max_ps(v, zero);
    case QN_ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(v, zero), six);
    case QN_ACT_HSWISH: {
        __m512 r = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, _mm512_set1_ps(3.0f)), zero), six);
        return _mm512_mul_ps(_mm512_mul_ps(v, r), _mm512_set1_ps(1.0f / 6.0f));
    }
    default: return v;
    }
}

static inline __m512 act_grad(int act, __m512 v, __m512 g) {
    const __m512 zero = _mm512_setzero_ps();
    switch (act) {
    case QN_ACT_RELU: return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), g);
    case QN_ACT_RELU6: {
        __mmask16 in = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ) & _mm512_cmp_ps_mask(v, _mm512_set1_ps(6.0f), _CMP_LT_OQ);
        return _mm512_maskz_mov_ps(in, g);
    }
    case QN_ACT_HSWISH: {
        __m512 mid = _mm512_mul_ps(g, _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(v, v), _mm512_set1_ps(3.0f)),
                                                    _mm512_set1_ps(1.0f / 6.0f)));
        __mmask16 lo = _mm512_cmp_ps_mask(v, _mm512_set1_ps(-3.0f), _CMP_LE_OQ);
        __mmask16 hi = _mm512_cmp_ps_mask(v, _mm512_set1_ps(3.0f), _CMP_GE_OQ);
        mid = _mm512_mask_mov_ps(mid, hi, g);
        return _mm512_mask_mov_ps(mid, lo, zero);
    }
    default: return g;
    }
}

void qn_f32_bn_act__avx512(size_t P, int C, const float *x, const float *scale, const float *shift, int act,
                           float *ypre, float *y) {
    if (act == QN_ACT_GELU) {
        qn_f32_bn_act__scalar(P, C, x, scale, shift, act, ypre, y);
        return;
    }
    for (size_t p = 0; p < P; p++) {
        const size_t o = p * C;
        for (int c = 0; c < C; c += 16) {
            __mmask16 m = tail_mask(c, C);
            __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + o + c), _mm512_maskz_loadu_ps(m, scale + c),
                                       _mm512_maskz_loadu_ps(m, shift + c));
            if (ypre) _mm512_mask_storeu_ps(ypre + o + c, m, v);
            _mm512_mask_storeu_ps(y + o + c, m, act_fwd(act, v));
        }
    }
}

void qn_f32_act_bwd_sums__avx512(size_t P, int C, const float *x, const float *ypre, const float *dy, int act,
                                 float *dz, float *s1, float *s2) {
    if (act == QN_ACT_GELU) {
        qn_f32_act_bwd_sums__scalar(P, C, x, ypre, dy, act, dz, s1, s2);
        return;
    }
    for (size_t p = 0; p < P; p++) {
        const size_t o = p * C;
        for (int c = 0; c < C; c += 16) {
            __mmask16 m = tail_mask(c, C);
            __m512 g = _mm512_maskz_loadu_ps(m, dy + o + c);
            if (act != QN_ACT_NONE) g = act_grad(act, _mm512_maskz_loadu_ps(m, ypre + o + c), g);
            _mm512_mask_storeu_ps(dz + o + c, m, g);
            _mm512_mask_storeu_ps(s1 + c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, s1 + c), g));
            _mm512_mask_storeu_ps(s2 + c, m, _mm512_fmadd_ps(g, _mm512_maskz_loadu_ps(m, x + o + c),
                                                             _mm512_maskz_loadu_ps(m, s2 + c)));
        }
    }
}

void qn_f32_bn_bwd_dx__avx512(size_t P, int C, const float *x, const float *dz, const float *a, const float *b,
                              const float *d, float *dx) {
    for (size_t p = 0; p < P; p++) {
        const size_t o = p * C;
        for (int c = 0; c < C; c += 16) {
            __mmask16 m = tail_mask(c, C);
            __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + c), _mm512_maskz_loadu_ps(m, dz + o + c),
                                       _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, b + c), _mm512_maskz_loadu_ps(m, x + o + c),
                                                       _mm512_maskz_loadu_ps(m, d + c)));
            _mm512_mask_storeu_ps(dx + o + c, m, v);
        }
    }
}
