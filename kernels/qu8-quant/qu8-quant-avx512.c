// AVX-512 u8 (de)quantization and min/max scan, 16 elements per vector, masked tails.
// Same float operations as the scalar kernels (multiply, round half to even, add zp, clamp),
// so the results are bit-exact.
#include <immintrin.h>

#include "qu8-quant/qu8-quant.h"

static inline __m512i quantize16(__m512 x, __m512 vinv, __m512 vzp, __m512 vmax) {
    __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(x, vinv),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm512_add_ps(q, vzp);
    q = _mm512_min_ps(_mm512_max_ps(q, _mm512_setzero_ps()), vmax);
    return _mm512_cvtps_epi32(q);  // q is integral here: the conversion is exact
}

void qn_qu8_quantize_ukernel__avx512(size_t n, const float *x, float inv_scale, int zp,
                                     int qmax, uint8_t *y) {
    const __m512 vinv = _mm512_set1_ps(inv_scale), vzp = _mm512_set1_ps((float)zp);
    const __m512 vmax = _mm512_set1_ps((float)qmax);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512i q0 = quantize16(_mm512_loadu_ps(x + i), vinv, vzp, vmax);
        const __m512i q1 = quantize16(_mm512_loadu_ps(x + i + 16), vinv, vzp, vmax);
        const __m512i q2 = quantize16(_mm512_loadu_ps(x + i + 32), vinv, vzp, vmax);
        const __m512i q3 = quantize16(_mm512_loadu_ps(x + i + 48), vinv, vzp, vmax);
        _mm_storeu_si128((__m128i *)(y + i), _mm512_cvtusepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y + i + 16), _mm512_cvtusepi32_epi8(q1));
        _mm_storeu_si128((__m128i *)(y + i + 32), _mm512_cvtusepi32_epi8(q2));
        _mm_storeu_si128((__m128i *)(y + i + 48), _mm512_cvtusepi32_epi8(q3));
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512i q = quantize16(_mm512_maskz_loadu_ps(m, x + i), vinv, vzp, vmax);
        _mm512_mask_cvtusepi32_storeu_epi8(y + i, m, q);
    }
}

void qn_qu8_dequantize_ukernel__avx512(size_t n, const uint8_t *x, float scale, int zp,
                                       float *y) {
    const __m512 vs = _mm512_set1_ps(scale);
    const __m512i vzp = _mm512_set1_epi32(zp);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512i q = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, x + i)), vzp);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(q), vs));
    }
}

void qn_f32_rminmax_ukernel__avx512(size_t n, const float *x, float *min, float *max) {
    __m512 lo0 = _mm512_set1_ps(*min), lo1 = lo0, hi0 = _mm512_set1_ps(*max), hi1 = hi0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        lo0 = _mm512_min_ps(lo0, a), hi0 = _mm512_max_ps(hi0, a);
        lo1 = _mm512_min_ps(lo1, b), hi1 = _mm512_max_ps(hi1, b);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 a = _mm512_maskz_loadu_ps(m, x + i);
        lo0 = _mm512_mask_min_ps(lo0, m, lo0, a);
        hi0 = _mm512_mask_max_ps(hi0, m, hi0, a);
    }
    *min = _mm512_reduce_min_ps(_mm512_min_ps(lo0, lo1));
    *max = _mm512_reduce_max_ps(_mm512_max_ps(hi0, hi1));
}
