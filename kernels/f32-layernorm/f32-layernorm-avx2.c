// AVX2 layer norm: per row, a sum pass, a squared-deviation pass and the output pass, 8 floats
// per vector with masked tails.
#include <math.h>

#include "f32-layernorm/f32-layernorm.h"
#include "f32-vact/f32-vmath-avx2.h"

static inline float hsum(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

void qn_f32_layernorm_ukernel__avx2(size_t rows, size_t D, const float *x, size_t ldx,
                                    const float *gamma, const float *beta, float eps, float *y,
                                    size_t ldy) {
    const size_t Dv = D & ~(size_t)7;
    const size_t rem = D - Dv;
    const __m256i tm = qn_tail_mask_avx2(rem);
    for (size_t r = 0; r < rows; r++, x += ldx, y += ldy) {
        __m256 s0 = _mm256_setzero_ps(), s1 = s0;
        size_t j = 0;
        for (; j + 16 <= D; j += 16) {
            s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + j));
            s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + j + 8));
        }
        for (; j < Dv; j += 8) s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + j));
        if (rem) s1 = _mm256_add_ps(s1, _mm256_maskload_ps(x + Dv, tm));
        const float mean = hsum(_mm256_add_ps(s0, s1)) / (float)D;

        const __m256 vmean = _mm256_set1_ps(mean);
        s0 = _mm256_setzero_ps(), s1 = s0;
        for (j = 0; j + 16 <= D; j += 16) {
            const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + j), vmean);
            const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + j + 8), vmean);
            s0 = _mm256_fmadd_ps(d0, d0, s0);
            s1 = _mm256_fmadd_ps(d1, d1, s1);
        }
        for (; j < Dv; j += 8) {
            const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + j), vmean);
            s0 = _mm256_fmadd_ps(d, d, s0);
        }
        if (rem) {
            __m256 d = _mm256_sub_ps(_mm256_maskload_ps(x + Dv, tm), vmean);
            d = _mm256_and_ps(d, _mm256_castsi256_ps(tm));
            s1 = _mm256_fmadd_ps(d, d, s1);
        }
        const float var = hsum(_mm256_add_ps(s0, s1)) / (float)D;
        const __m256 vrstd = _mm256_set1_ps(1.0f / sqrtf(var + eps));

        for (j = 0; j < Dv; j += 8) {
            const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vmean), vrstd);
            _mm256_storeu_ps(y + j, _mm256_fmadd_ps(xh, _mm256_loadu_ps(gamma + j),
                                                    _mm256_loadu_ps(beta + j)));
        }
        if (rem) {
            const __m256 xh =
                _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + Dv, tm), vmean), vrstd);
            _mm256_maskstore_ps(y + Dv, tm,
                                _mm256_fmadd_ps(xh, _mm256_maskload_ps(gamma + Dv, tm),
                                                _mm256_maskload_ps(beta + Dv, tm)));
        }
    }
}
