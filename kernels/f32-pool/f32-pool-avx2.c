// AVX2 average pooling: 32 channels (4 accumulators) per pass over the pixels, then 8, then a
// masked tail.
#include "f32-pool/f32-pool.h"
#include "f32-vact/f32-vmath-avx2.h"

void qn_f32_gavgpool_ukernel__avx2(size_t pixels, size_t C, const float *x, size_t ldx,
                                   float scale, float *y) {
    qn_f32_avgpool_ukernel__avx2(pixels, 1, C, x, ldx, 0, scale, y);
}

void qn_f32_avgpool_ukernel__avx2(size_t kh, size_t kw, size_t C, const float *x,
                                  size_t ld_row, size_t ld_pix, float scale, float *y) {
    const __m256 vs = _mm256_set1_ps(scale);
    size_t c = 0;
    for (; c + 32 <= C; c += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < kh; i++)
            for (size_t j = 0; j < kw; j++) {
                const float *xp = x + i * ld_row + j * ld_pix + c;
                a0 = _mm256_add_ps(a0, _mm256_loadu_ps(xp));
                a1 = _mm256_add_ps(a1, _mm256_loadu_ps(xp + 8));
                a2 = _mm256_add_ps(a2, _mm256_loadu_ps(xp + 16));
                a3 = _mm256_add_ps(a3, _mm256_loadu_ps(xp + 24));
            }
        _mm256_storeu_ps(y + c, _mm256_mul_ps(a0, vs));
        _mm256_storeu_ps(y + c + 8, _mm256_mul_ps(a1, vs));
        _mm256_storeu_ps(y + c + 16, _mm256_mul_ps(a2, vs));
        _mm256_storeu_ps(y + c + 24, _mm256_mul_ps(a3, vs));
    }
    for (; c < C; c += 8) {
        const __m256i m = qn_tail_mask_avx2(C - c >= 8 ? 8 : C - c);
        __m256 a = _mm256_setzero_ps();
        for (size_t i = 0; i < kh; i++)
            for (size_t j = 0; j < kw; j++)
                a = _mm256_add_ps(a, _mm256_maskload_ps(x + i * ld_row + j * ld_pix + c, m));
        _mm256_maskstore_ps(y + c, m, _mm256_mul_ps(a, vs));
    }
}
