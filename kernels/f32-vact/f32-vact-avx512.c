// AVX-512 activation kernels: 16 floats per vector, masked tail.
#include "f32-vact/f32-vact.h"
#include "f32-vact/f32-vmath-avx512.h"

// act is a constant at every call site below, so each kernel gets its own inlined loop.
static inline __attribute__((always_inline)) void vact_loop(enum qn_act act, size_t n,
                                                            const float *x, float *y) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 a = qn_vact_avx512(act, _mm512_loadu_ps(x + i));
        const __m512 b = qn_vact_avx512(act, _mm512_loadu_ps(x + i + 16));
        _mm512_storeu_ps(y + i, a);
        _mm512_storeu_ps(y + i + 16, b);
    }
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, qn_vact_avx512(act, _mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, qn_vact_avx512(act, _mm512_maskz_loadu_ps(m, x + i)));
    }
}

void qn_f32_vrelu_ukernel__avx512(size_t n, const float *x, float *y) {
    vact_loop(QN_ACT_RELU, n, x, y);
}

void qn_f32_vrelu6_ukernel__avx512(size_t n, const float *x, float *y) {
    vact_loop(QN_ACT_RELU6, n, x, y);
}

void qn_f32_vhswish_ukernel__avx512(size_t n, const float *x, float *y) {
    vact_loop(QN_ACT_HSWISH, n, x, y);
}

void qn_f32_vgelu_ukernel__avx512(size_t n, const float *x, float *y) {
    vact_loop(QN_ACT_GELU, n, x, y);
}
