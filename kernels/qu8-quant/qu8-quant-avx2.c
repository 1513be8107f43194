// AVX2 u8 (de)quantization and min/max scan, 8 elements per vector; the tails run the scalar
// formula, which is the same float sequence, so the results are bit-exact.
#include <immintrin.h>
#include <math.h>

#include "qu8-quant/qu8-quant.h"

static inline __m256i quantize8(__m256 x, __m256 vinv, __m256 vzp, __m256 vmax) {
    __m256 q = _mm256_round_ps(_mm256_mul_ps(x, vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm256_add_ps(q, vzp);
    q = _mm256_min_ps(_mm256_max_ps(q, _mm256_setzero_ps()), vmax);
    return _mm256_cvtps_epi32(q);
}

void qn_qu8_quantize_ukernel__avx2(size_t n, const float *x, float inv_scale, int zp, int qmax,
                                   uint8_t *y) {
    const __m256 vinv = _mm256_set1_ps(inv_scale), vzp = _mm256_set1_ps((float)zp);
    const __m256 vmax = _mm256_set1_ps((float)qmax);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i q0 = quantize8(_mm256_loadu_ps(x + i), vinv, vzp, vmax);
        const __m256i q1 = quantize8(_mm256_loadu_ps(x + i + 8), vinv, vzp, vmax);
        const __m256i q2 = quantize8(_mm256_loadu_ps(x + i + 16), vinv, vzp, vmax);
        const __m256i q3 = quantize8(_mm256_loadu_ps(x + i + 24), vinv, vzp, vmax);
        // packs work within 128-bit lanes: 01 -> [q0lo q1lo q0hi q1hi] (u16), then bytes
        // [q0lo q1lo q2lo q3lo | q0hi q1hi q2hi q3hi]; the dword permute restores order.
        const __m256i p01 = _mm256_packus_epi32(q0, q1), p23 = _mm256_packus_epi32(q2, q3);
        const __m256i b = _mm256_packus_epi16(p01, p23);
        const __m256i o = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(y + i), o);
    }
    for (; i + 8 <= n; i += 8) {
        const __m256i q = quantize8(_mm256_loadu_ps(x + i), vinv, vzp, vmax);
        const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(y + i), _mm_packus_epi16(w, w));
    }
    const float fzp = (float)zp, fmax = (float)qmax;
    for (; i < n; i++) {
        float q = rintf(x[i] * inv_scale) + fzp;
        q = q < 0.0f ? 0.0f : (q > fmax ? fmax : q);
        y[i] = (uint8_t)q;
    }
}

void qn_qu8_dequantize_ukernel__avx2(size_t n, const uint8_t *x, float scale, int zp, float *y) {
    const __m256 vs = _mm256_set1_ps(scale);
    const __m256i vzp = _mm256_set1_epi32(zp);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i q = _mm256_sub_epi32(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x + i))), vzp);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(q), vs));
    }
    for (; i < n; i++) y[i] = (float)((int32_t)x[i] - zp) * scale;
}

void qn_f32_rminmax_ukernel__avx2(size_t n, const float *x, float *min, float *max) {
    __m256 lo0 = _mm256_set1_ps(*min), lo1 = lo0, hi0 = _mm256_set1_ps(*max), hi1 = hi0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        lo0 = _mm256_min_ps(lo0, a), hi0 = _mm256_max_ps(hi0, a);
        lo1 = _mm256_min_ps(lo1, b), hi1 = _mm256_max_ps(hi1, b);
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 a = _mm256_loadu_ps(x + i);
        lo0 = _mm256_min_ps(lo0, a), hi0 = _mm256_max_ps(hi0, a);
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, _mm256_min_ps(lo0, lo1));
    _mm256_storeu_ps(h, _mm256_max_ps(hi0, hi1));
    float lo = l[0], hi = h[0];
    for (int k = 1; k < 8; k++) lo = l[k] < lo ? l[k] : lo, hi = h[k] > hi ? h[k] : hi;
    for (; i < n; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    *min = lo, *max = hi;
}
