// GEMV over one 8-column s8 c4 panel, AVX2 without VNNI: weights sign-extended to s16 and
// multiplied with vpmaddwd (exact s32 pair sums; see qs8-gemm-6x8c4-avx2.c for why not
// vpmaddubsw). 2 k-quads per iteration into independent accumulators.
#include "qs8-gemm/qs8-gemm-avx2.h"

void qn_qs8_gemv_ukernel_8c4__avx2(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                   size_t lda, const void *w, void *c, size_t ldc,
                                   const struct qn_qgemm_params *p) {
    const int8_t *b = w;
    __m256i x0 = _mm256_setzero_si256(), y0 = _mm256_setzero_si256();
    __m256i x1 = _mm256_setzero_si256(), y1 = _mm256_setzero_si256();
#define QUAD(u, x, y, a4)                                                                          \
    {                                                                                              \
        const __m256i va = qn_a4_to_s16x4_avx2(a4);                                                \
        x = _mm256_add_epi32(x, _mm256_madd_epi16(va, _mm256_cvtepi8_epi16(_mm_load_si128(          \
                                                          (const __m128i *)(b + 32 * u)))));       \
        y = _mm256_add_epi32(y, _mm256_madd_epi16(va, _mm256_cvtepi8_epi16(_mm_load_si128(          \
                                                          (const __m128i *)(b + 32 * u + 16)))));  \
    }
    size_t k = 0;
    for (; k + 8 <= kc; k += 8, b += 64) {
        QUAD(0, x0, y0, qn_load_a4(a + k))
        QUAD(1, x1, y1, qn_load_a4(a + k + 4))
    }
    if (k + 4 <= kc) {
        QUAD(0, x0, y0, qn_load_a4(a + k))
        k += 4, b += 32;
    }
    if (k < kc) QUAD(0, x1, y1, qn_load_a4_tail(a + k, kc - k))
#undef QUAD
    int32_t tile[8] __attribute__((aligned(32)));
    _mm256_store_si256((__m256i *)tile, qn_hsum_pairs_avx2(_mm256_add_epi32(x0, x1), _mm256_add_epi32(y0, y1)));
    qn_qgemm_epilogue__avx2(1, nc, tile, 8, c, ldc, p);
}
