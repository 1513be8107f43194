// AVX-512 layer norm: per row, a sum pass, a squared-deviation pass and the output pass, 16
// floats per vector with masked tails. Rows of a ViT (D = 192..768) stay in L1 between passes.
#include <math.h>

#include <immintrin.h>

#include "f32-layernorm/f32-layernorm.h"

void qn_f32_layernorm_ukernel__avx512(size_t rows, size_t D, const float *x, size_t ldx,
                                      const float *gamma, const float *beta, float eps, float *y,
                                      size_t ldy) {
    const size_t Dv = D & ~(size_t)15;
    const __mmask16 tail = (__mmask16)((1u << (D - Dv)) - 1);
    for (size_t r = 0; r < rows; r++, x += ldx, y += ldy) {
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        size_t j = 0;
        for (; j + 32 <= D; j += 32) {
            s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + j));
            s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + j + 16));
        }
        for (; j < Dv; j += 16) s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + j));
        if (tail) s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(tail, x + Dv));
        const float mean = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / (float)D;

        const __m512 vmean = _mm512_set1_ps(mean);
        s0 = _mm512_setzero_ps(), s1 = s0;
        for (j = 0; j + 32 <= D; j += 32) {
            const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + j), vmean);
            const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(x + j + 16), vmean);
            s0 = _mm512_fmadd_ps(d0, d0, s0);
            s1 = _mm512_fmadd_ps(d1, d1, s1);
        }
        for (; j < Dv; j += 16) {
            const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + j), vmean);
            s0 = _mm512_fmadd_ps(d, d, s0);
        }
        if (tail) {
            const __m512 d = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, x + Dv), vmean);
            s1 = _mm512_fmadd_ps(d, d, s1);
        }
        const float var = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / (float)D;
        const __m512 vrstd = _mm512_set1_ps(1.0f / sqrtf(var + eps));

        for (j = 0; j < Dv; j += 16) {
            const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vmean), vrstd);
            _mm512_storeu_ps(y + j, _mm512_fmadd_ps(xh, _mm512_loadu_ps(gamma + j),
                                                    _mm512_loadu_ps(beta + j)));
        }
        if (tail) {
            const __m512 xh =
                _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + Dv), vmean), vrstd);
            _mm512_mask_storeu_ps(y + Dv, tail,
                                  _mm512_fmadd_ps(xh, _mm512_maskz_loadu_ps(tail, gamma + Dv),
                                                  _mm512_maskz_loadu_ps(tail, beta + Dv)));
        }
    }
}
