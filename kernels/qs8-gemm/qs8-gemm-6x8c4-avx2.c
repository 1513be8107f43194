// 6x8 tile for AVX2 without VNNI. vpmaddubsw is not usable directly: its u8 x s8 pair sums
// (up to 2 * 255 * 127 = 64770) saturate s16. Instead both operands are widened to s16 and
// multiplied with vpmaddwd, whose pair sums go to s32 and are exact (|a*w| <= 255 * 127; only
// -32768 * -32768 twice can saturate, and neither operand reaches -32768).
// Per k-quad: the panel's 8 columns x 4 k are sign-extended to two ymm of 4 columns x 4 k
// s16; each A row contributes its 4 bytes as s16 repeated per 64-bit group; every column
// then owns 2 s32 lanes, summed pairwise at the end.
// One call runs every row tile of the panel (p->mb rows each), the epilogue from the registers
// where it can (qs8-gemm-avx2.h).
#include "qs8-gemm/qs8-gemm-avx2.h"

// One k-quad (n < 4: the K tail) of the six rows.
QN_QG_INLINE void step(const uint8_t *const *ar, size_t k, size_t n, const int8_t *b, __m256i *accx, __m256i *accy) {
    const __m256i b0 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)b));
    const __m256i b1 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(b + 16)));
#pragma GCC unroll 6
    for (size_t i = 0; i < 6; i++) {
        const __m256i va = qn_a4_to_s16x4_avx2(n == 4 ? qn_load_a4(ar[i] + k) : qn_load_a4_tail(ar[i] + k, n));
        accx[i] = _mm256_add_epi32(accx[i], _mm256_madd_epi16(va, b0));
        accy[i] = _mm256_add_epi32(accy[i], _mm256_madd_epi16(va, b1));
    }
}

// One tile of mr <= 6 rows.
QN_QG_INLINE void tile(const struct qn_qgemm_panel_avx2 *s, size_t mr, size_t nc, size_t kc, const uint8_t *a,
                       size_t lda, const int8_t *b, void *c, size_t ldc, const float *res,
                       const struct qn_qgemm_params *p) {
    const uint8_t *ar[6];
    __m256i accx[6], accy[6];
    qn_qgemm_tile_start_avx2(ar, accx, accy, a, lda, mr);
    size_t k = 0;
    for (; k + 4 <= kc; k += 4, b += 32) step(ar, k, 4, b, accx, accy);
    if (k < kc) step(ar, k, kc - k, b, accx, accy);  // K tail: A bytes past kc are never read
#pragma GCC unroll 6
    for (size_t i = 0; i < 6; i++) accx[i] = qn_hsum_pairs_avx2(accx[i], accy[i]);
    qn_qgemm_tile_store_avx2(6, 1, s, mr, nc, accx, accy, c, ldc, res, p);
}

void qn_qs8_gemm_ukernel_6x8c4__avx2(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                     size_t lda, const void *w, void *c, size_t ldc,
                                     const struct qn_qgemm_params *p) {
    struct qn_qgemm_panel_avx2 s;
    qn_qgemm_panel_avx2_init(&s, nc, p);
    const size_t mb = p->mb ? p->mb : 6, esize = p->out_u8 ? 1 : sizeof(float);
    for (size_t m0 = 0; m0 < mr; m0 += mb)
        tile(&s, QN_MIN(mb, mr - m0), nc, kc, a + m0 * lda, lda, w, (uint8_t *)c + m0 * ldc * esize, ldc,
             p->residual ? p->residual + m0 * p->ldr : NULL, p);
}
