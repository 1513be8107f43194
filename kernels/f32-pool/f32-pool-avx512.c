// AVX-512 average pooling: 64 channels (4 accumulators) per pass over the pixels, then 16,
// then a masked tail. Each pixel's channels are contiguous, so loads are unit-stride.
#include <immintrin.h>

#include "f32-pool/f32-pool.h"

void qn_f32_gavgpool_ukernel__avx512(size_t pixels, size_t C, const float *x, size_t ldx,
                                     float scale, float *y) {
    const __m512 vs = _mm512_set1_ps(scale);
    size_t c = 0;
    for (; c + 64 <= C; c += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t p = 0; p < pixels; p++) {
            const float *xp = x + p * ldx + c;
            a0 = _mm512_add_ps(a0, _mm512_loadu_ps(xp));
            a1 = _mm512_add_ps(a1, _mm512_loadu_ps(xp + 16));
            a2 = _mm512_add_ps(a2, _mm512_loadu_ps(xp + 32));
            a3 = _mm512_add_ps(a3, _mm512_loadu_ps(xp + 48));
        }
        _mm512_storeu_ps(y + c, _mm512_mul_ps(a0, vs));
        _mm512_storeu_ps(y + c + 16, _mm512_mul_ps(a1, vs));
        _mm512_storeu_ps(y + c + 32, _mm512_mul_ps(a2, vs));
        _mm512_storeu_ps(y + c + 48, _mm512_mul_ps(a3, vs));
    }
    for (; c < C; c += 16) {
        const __mmask16 m = C - c >= 16 ? 0xffff : (__mmask16)((1u << (C - c)) - 1);
        __m512 a = _mm512_setzero_ps();
        for (size_t p = 0; p < pixels; p++) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, x + p * ldx + c));
        _mm512_mask_storeu_ps(y + c, m, _mm512_mul_ps(a, vs));
    }
}

void qn_f32_avgpool_ukernel__avx512(size_t kh, size_t kw, size_t C, const float *x,
                                    size_t ld_row, size_t ld_pix, float scale, float *y) {
    const __m512 vs = _mm512_set1_ps(scale);
    size_t c = 0;
    for (; c + 64 <= C; c += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < kh; i++)
            for (size_t j = 0; j < kw; j++) {
                const float *xp = x + i * ld_row + j * ld_pix + c;
                a0 = _mm512_add_ps(a0, _mm512_loadu_ps(xp));
                a1 = _mm512_add_ps(a1, _mm512_loadu_ps(xp + 16));
                a2 = _mm512_add_ps(a2, _mm512_loadu_ps(xp + 32));
                a3 = _mm512_add_ps(a3, _mm512_loadu_ps(xp + 48));
            }
        _mm512_storeu_ps(y + c, _mm512_mul_ps(a0, vs));
        _mm512_storeu_ps(y + c + 16, _mm512_mul_ps(a1, vs));
        _mm512_storeu_ps(y + c + 32, _mm512_mul_ps(a2, vs));
        _mm512_storeu_ps(y + c + 48, _mm512_mul_ps(a3, vs));
    }
    for (; c < C; c += 16) {
        const __mmask16 m = C - c >= 16 ? 0xffff : (__mmask16)((1u << (C - c)) - 1);
        __m512 a = _mm512_setzero_ps();
        for (size_t i = 0; i < kh; i++)
            for (size_t j = 0; j < kw; j++)
                a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(m, x + i * ld_row + j * ld_pix + c));
        _mm512_mask_storeu_ps(y + c, m, _mm512_mul_ps(a, vs));
    }
}
