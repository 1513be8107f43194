// AVX-512 add + activation: 16 floats per vector, masked tail.
#include "f32-vadd/f32-vadd.h"
#include "f32-vact/f32-vmath-avx512.h"

static inline __attribute__((always_inline)) void vadd_loop(enum qn_act act, size_t n,
                                                            const float *a, const float *b,
                                                            float *y) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 s0 = _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        const __m512 s1 = _mm512_add_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        _mm512_storeu_ps(y + i, qn_vact_avx512(act, s0));
        _mm512_storeu_ps(y + i + 16, qn_vact_avx512(act, s1));
    }
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, qn_vact_avx512(act, _mm512_add_ps(_mm512_loadu_ps(a + i),
                                                                  _mm512_loadu_ps(b + i))));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        const __m512 s = _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(y + i, m, qn_vact_avx512(act, s));
    }
}

void qn_f32_vadd_ukernel__avx512(size_t n, const float *a, const float *b, float *y,
                                 enum qn_act act) {
    switch (act) {
    case QN_ACT_NONE: vadd_loop(QN_ACT_NONE, n, a, b, y); break;
    case QN_ACT_RELU: vadd_loop(QN_ACT_RELU, n, a, b, y); break;
    case QN_ACT_RELU6: vadd_loop(QN_ACT_RELU6, n, a, b, y); break;
    case QN_ACT_HSWISH: vadd_loop(QN_ACT_HSWISH, n, a, b, y); break;
    case QN_ACT_GELU: vadd_loop(QN_ACT_GELU, n, a, b, y); break;
    }
}
