// GEMV over one 16-column packed s4 panel (qs8-gemm.h) with VEX vpdpbusd: 64 bytes per k-oct.
// Each 32-byte load is 8 columns x 8 k; low / high nibbles sign-extended by a vpshufb table
// into the s8 c4 operands of k-quads 0 / 1, so the sum is exact with no offset correction.
#include "qs8-gemm/qs8-gemm-avx2.h"

void qn_qs4_gemv_ukernel_16c8__avxvnni(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                       size_t lda, const void *w, void *c, size_t ldc,
                                       const struct qn_qgemm_params *p) {
    const uint8_t *b = w;
    const __m256i lut = _mm256_setr_epi8(QN_S4_LUT_BYTES, QN_S4_LUT_BYTES);
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    __m256i xl = _mm256_setzero_si256(), xh = _mm256_setzero_si256();
    __m256i yl = _mm256_setzero_si256(), yh = _mm256_setzero_si256();
#define OCT(va0, va1)                                                                            \
    {                                                                                            \
        const __m256i x = _mm256_load_si256((const __m256i *)b);                                 \
        const __m256i y = _mm256_load_si256((const __m256i *)(b + 32));                          \
        xl = _mm256_dpbusd_avx_epi32(xl, va0, _mm256_shuffle_epi8(lut, _mm256_and_si256(x, lo4))); \
        yl = _mm256_dpbusd_avx_epi32(yl, va0, _mm256_shuffle_epi8(lut, _mm256_and_si256(y, lo4))); \
        xh = _mm256_dpbusd_avx_epi32(                                                            \
            xh, va1, _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), lo4)));  \
        yh = _mm256_dpbusd_avx_epi32(                                                            \
            yh, va1, _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(y, 4), lo4)));  \
    }
    size_t k = 0;
    for (; k + 8 <= kc; k += 8, b += 64)
        OCT(_mm256_set1_epi32(qn_load_a4(a + k)), _mm256_set1_epi32(qn_load_a4(a + k + 4)))
    if (k < kc) {
        // K tail (1..7 values): A bytes past kc are never read; the nibbles there are zero.
        const size_t r = kc - k;
        const int32_t a0 = r >= 4 ? qn_load_a4(a + k) : qn_load_a4_tail(a + k, r);
        const int32_t a1 = r > 4 ? qn_load_a4_tail(a + k + 4, r - 4) : 0;
        OCT(_mm256_set1_epi32(a0), _mm256_set1_epi32(a1))
    }
#undef OCT
    int32_t tile[16] __attribute__((aligned(32)));
    _mm256_store_si256((__m256i *)tile, _mm256_add_epi32(xl, xh));
    _mm256_store_si256((__m256i *)(tile + 8), _mm256_add_epi32(yl, yh));
    qn_qgemm_epilogue__avx2(1, nc, tile, 16, c, ldc, p);
}
