// AVX2 add + activation: 8 floats per vector, masked tail.
#include "f32-vadd/f32-vadd.h"
#include "f32-vact/f32-vmath-avx2.h"

static inline __attribute__((always_inline)) void vadd_loop(enum qn_act act, size_t n,
                                                            const float *a, const float *b,
                                                            float *y) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 s0 = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        const __m256 s1 = _mm256_add_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        _mm256_storeu_ps(y + i, qn_vact_avx2(act, s0));
        _mm256_storeu_ps(y + i + 8, qn_vact_avx2(act, s1));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, qn_vact_avx2(act, _mm256_add_ps(_mm256_loadu_ps(a + i),
                                                                _mm256_loadu_ps(b + i))));
    if (i < n) {
        const __m256i m = qn_tail_mask_avx2(n - i);
        const __m256 s = _mm256_add_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
        _mm256_maskstore_ps(y + i, m, qn_vact_avx2(act, s));
    }
}

void qn_f32_vadd_ukernel__avx2(size_t n, const float *a, const float *b, float *y,
                               enum qn_act act) {
    switch (act) {
    case QN_ACT_NONE: vadd_loop(QN_ACT_NONE, n, a, b, y); break;
    case QN_ACT_RELU: vadd_loop(QN_ACT_RELU, n, a, b, y); break;
    case QN_ACT_RELU6: vadd_loop(QN_ACT_RELU6, n, a, b, y); break;
    case QN_ACT_HSWISH: vadd_loop(QN_ACT_HSWISH, n, a, b, y); break;
    case QN_ACT_GELU: vadd_loop(QN_ACT_GELU, n, a, b, y); break;
    }
}
