// GEMV over one 8-column packed s4 panel, AVX2 without VNNI: 32 bytes per k-oct, the low
// nibbles k-quad 0 and the high nibbles k-quad 1 of the 8 columns ([column][4 k] each).
//
// vpmaddubsw, exact here: a nibble XOR 8 is the weight plus 8, an unsigned 0..15, so a u8
// activation times it is at most 255 * 15 and a pair sum at most 7,650, far from the s16
// saturation that rules vpmaddubsw out for 8-bit weights (2 * 255 * 127 > 32,767). Two k-octs'
// four pair sums (<= 30,600; the extremes test reaches it) add in s16 before vpmaddwd by ones
// widens them to s32, and the bias comes off at the end: sum a (w + 8) - 8 sum a = sum a w
// (sum a from the driver, p->a_sum).
// Per k-oct 4 ops unpack the weights (xor, and, shift, and), the A quads are plain
// broadcasts, 2 vpmaddubsw and 2 vpaddw, plus a vpaddw, a vpmaddwd and a vpaddd per two: ~9
// vector ops per 64 products, where widening the weights to s16 for vpmaddwd (sign-extended
// by a vpshufb table, the A quads spread to s16 by another) took ~22. 1x4096x4096,
// QNAS_ISA=avx2, 1 thread, Zen 5 (the weights in L3): 86-88 -> 180-184 GOP/s, 0.74x -> ~1.6x
// the INT8 GEMV; with sum a taken once per call instead of once per panel, 211-218 (~1.8x).
#include "qs8-gemm/qs8-gemm-avx2.h"

void qn_qs4_gemv_ukernel_8c8__avx2(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                   size_t lda, const void *w, void *c, size_t ldc,
                                   const struct qn_qgemm_params *p) {
    const uint8_t *b = w;
    const __m256i lo4 = _mm256_set1_epi8(0x0f), flip = _mm256_set1_epi8((char)0x88);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256(), acc2 = _mm256_setzero_si256();
    // the k-oct at b: its two pair-sum vectors (A quads a0, a1) into the s16 sums s
#define OCT(s, b, a0, a1)                                                                              \
    {                                                                                                  \
        const __m256i v = _mm256_xor_si256(_mm256_load_si256((const __m256i *)(b)), flip);             \
        const __m256i lo = _mm256_and_si256(v, lo4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4); \
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_set1_epi32(a0), lo));                    \
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_set1_epi32(a1), hi));                    \
    }
    size_t k = 0;
    for (; k + 32 <= kc; k += 32, b += 128) {
        __m256i s = _mm256_setzero_si256(), t = _mm256_setzero_si256();
        __m256i s2 = _mm256_setzero_si256(), t2 = _mm256_setzero_si256();
        OCT(s, b, qn_load_a4(a + k), qn_load_a4(a + k + 4))
        OCT(t, b + 32, qn_load_a4(a + k + 8), qn_load_a4(a + k + 12))
        OCT(s2, b + 64, qn_load_a4(a + k + 16), qn_load_a4(a + k + 20))
        OCT(t2, b + 96, qn_load_a4(a + k + 24), qn_load_a4(a + k + 28))
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_add_epi16(s, s2), ones));
        acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(_mm256_add_epi16(t, t2), ones));
    }
    for (; k < kc; k += 8, b += 32) {  // the last k-octs; A bytes past kc read as 0
        const size_t r = kc - k;
        __m256i s = _mm256_setzero_si256();
        OCT(s, b, r >= 4 ? qn_load_a4(a + k) : qn_load_a4_tail(a + k, r),
            r >= 8 ? qn_load_a4(a + k + 4) : r > 4 ? qn_load_a4_tail(a + k + 4, r - 4) : 0)
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s, ones));
    }
#undef OCT
    // the bias off: 8 * sum a over [0, kc), summed once per call by the driver (p->a_sum; int32
    // arithmetic wraps alike for every term: the result is exact wherever sum a w fits)
    acc = _mm256_sub_epi32(_mm256_add_epi32(acc, acc2), _mm256_set1_epi32((int32_t)(8u * p->a_sum)));
    int32_t tile[8] __attribute__((aligned(32)));
    _mm256_store_si256((__m256i *)tile, acc);
    qn_qgemm_epilogue__avx2(1, nc, tile, 8, c, ldc, p);
}
