// AVX2 activation kernels: 8 floats per vector, masked tail (maskload / maskstore).
#include "f32-vact/f32-vact.h"
#include "f32-vact/f32-vmath-avx2.h"

static inline __attribute__((always_inline)) void vact_loop(enum qn_act act, size_t n,
                                                            const float *x, float *y) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 a = qn_vact_avx2(act, _mm256_loadu_ps(x + i));
        const __m256 b = qn_vact_avx2(act, _mm256_loadu_ps(x + i + 8));
        _mm256_storeu_ps(y + i, a);
        _mm256_storeu_ps(y + i + 8, b);
    }
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, qn_vact_avx2(act, _mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i m = qn_tail_mask_avx2(n - i);
        _mm256_maskstore_ps(y + i, m, qn_vact_avx2(act, _mm256_maskload_ps(x + i, m)));
    }
}

void qn_f32_vrelu_ukernel__avx2(size_t n, const float *x, float *y) {
    vact_loop(QN_ACT_RELU, n, x, y);
}

void qn_f32_vrelu6_ukernel__avx2(size_t n, const float *x, float *y) {
    vact_loop(QN_ACT_RELU6, n, x, y);
}

void qn_f32_vhswish_ukernel__avx2(size_t n, const float *x, float *y) {
    vact_loop(QN_ACT_HSWISH, n, x, y);
}

void qn_f32_vgelu_ukernel__avx2(size_t n, const float *x, float *y) {
    vact_loop(QN_ACT_GELU, n, x, y);
}
