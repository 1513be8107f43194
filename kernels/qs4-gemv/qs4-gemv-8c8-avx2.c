// GEMV over one 8-column packed s4 panel, AVX2 without VNNI: 32 bytes per k-oct, nibbles
// sign-extended by a vpshufb table to s8, then to s16 for vpmaddwd (exact s32 pair sums).
#include "qs8-gemm/qs8-gemm-avx2.h"

void qn_qs4_gemv_ukernel_8c8__avx2(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                   size_t lda, const void *w, void *c, size_t ldc,
                                   const struct qn_qgemm_params *p) {
    const uint8_t *b = w;
    const __m256i lut = _mm256_setr_epi8(QN_S4_LUT_BYTES, QN_S4_LUT_BYTES);
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    __m256i xl = _mm256_setzero_si256(), yl = _mm256_setzero_si256();
    __m256i xh = _mm256_setzero_si256(), yh = _mm256_setzero_si256();
#define OCT(a0, a1)                                                                              \
    {                                                                                            \
        const __m256i v = _mm256_load_si256((const __m256i *)b);                                 \
        const __m256i lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, lo4));                   \
        const __m256i hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4)); \
        const __m256i va0 = qn_a4_to_s16x4_avx2(a0), va1 = qn_a4_to_s16x4_avx2(a1);              \
        xl = _mm256_add_epi32(xl, _mm256_madd_epi16(va0, _mm256_cvtepi8_epi16(_mm256_castsi256_si128(lo)))); \
        yl = _mm256_add_epi32(yl, _mm256_madd_epi16(va0, _mm256_cvtepi8_epi16(_mm256_extracti128_si256(lo, 1)))); \
        xh = _mm256_add_epi32(xh, _mm256_madd_epi16(va1, _mm256_cvtepi8_epi16(_mm256_castsi256_si128(hi)))); \
        yh = _mm256_add_epi32(yh, _mm256_madd_epi16(va1, _mm256_cvtepi8_epi16(_mm256_extracti128_si256(hi, 1)))); \
    }
    size_t k = 0;
    for (; k + 8 <= kc; k += 8, b += 32) OCT(qn_load_a4(a + k), qn_load_a4(a + k + 4))
    if (k < kc) {
        const size_t r = kc - k;
        OCT(r >= 4 ? qn_load_a4(a + k) : qn_load_a4_tail(a + k, r),
            r > 4 ? qn_load_a4_tail(a + k + 4, r - 4) : 0)
    }
#undef OCT
    int32_t tile[8] __attribute__((aligned(32)));
    _mm256_store_si256((__m256i *)tile, qn_hsum_pairs_avx2(_mm256_add_epi32(xl, xh), _mm256_add_epi32(yl, yh)));
    qn_qgemm_epilogue__avx2(1, nc, tile, 8, c, ldc, p);
}
