// 6x8 tile for AVX2 without VNNI. vpmaddubsw is not usable directly: its u8 x s8 pair sums
// (up to 2 * 255 * 127 = 64770) saturate s16. Instead both operands are widened to s16 and
// multiplied with vpmaddwd, whose pair sums go to s32 and are exact (|a*w| <= 255 * 127; only
// -32768 * -32768 twice can saturate, and neither operand reaches -32768).
// Per k-quad: the panel's 8 columns x 4 k are sign-extended to two ymm of 4 columns x 4 k
// s16; each A row contributes its 4 bytes as s16 repeated per 64-bit group; every column
// then owns 2 s32 lanes, summed pairwise at the end.
#include "qs8-gemm/qs8-gemm-avx2.h"

#define QN_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

void qn_qs8_gemm_ukernel_6x8c4__avx2(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                     size_t lda, const void *w, void *c, size_t ldc,
                                     const struct qn_qgemm_params *p) {
    const uint8_t *a0 = a;
#define NEXT(i, j) const uint8_t *a##j = mr > j ? a##i + lda : a##i;
    NEXT(0, 1) NEXT(1, 2) NEXT(2, 3) NEXT(3, 4) NEXT(4, 5)
#undef NEXT
#define DECL(i) __m256i acc##i##x = _mm256_setzero_si256(), acc##i##y = _mm256_setzero_si256();
    QN_ROWS(DECL)
#undef DECL
    const int8_t *b = w;
    size_t k = 0;
#define STEP(i)                                                         \
    {                                                                   \
        const __m256i va = qn_a4_to_s16x4_avx2(LOAD_A(a##i));           \
        acc##i##x = _mm256_add_epi32(acc##i##x, _mm256_madd_epi16(va, b0)); \
        acc##i##y = _mm256_add_epi32(acc##i##y, _mm256_madd_epi16(va, b1)); \
    }
#define LOAD_B                                                                       \
    const __m256i b0 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)b));        \
    const __m256i b1 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(b + 16)));
#define LOAD_A(ptr) qn_load_a4(ptr + k)
    for (; k + 4 <= kc; k += 4) {
        LOAD_B
        b += 32;
        QN_ROWS(STEP)
    }
#undef LOAD_A
    if (k < kc) {
#define LOAD_A(ptr) qn_load_a4_tail(ptr + k, kc - k)
        LOAD_B
        QN_ROWS(STEP)
#undef LOAD_A
    }
#undef LOAD_B
#undef STEP
    int32_t tile[6 * 8] __attribute__((aligned(32)));
#define STORE(i) _mm256_store_si256((__m256i *)(tile + i * 8), qn_hsum_pairs_avx2(acc##i##x, acc##i##y));
    QN_ROWS(STORE)
#undef STORE
    qn_qgemm_epilogue__avx2(mr, nc, tile, 8, c, ldc, p);
}
