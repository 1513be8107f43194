// Packed s4 panels -> s8 c4 panels, 32 packed bytes (8 columns x 8 k) per step; used at the
// AVX2 and AVX-VNNI levels. Needs nr * 4 to be a multiple of 32 (nr = 8, 16, ...).
#include "qs8-gemm/qs8-gemm-avx2.h"

void qn_qs4_unpack__avx2(size_t np, size_t nr, size_t kc, const uint8_t *w4, int8_t *w8) {
    const __m256i lut = _mm256_setr_epi8(QN_S4_LUT_BYTES, QN_S4_LUT_BYTES);
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    const size_t octs = (kc + 7) / 8, q = nr * 4;
    QN_ASSERT(q % 32 == 0);
    for (size_t o = 0; o < np * octs; o++, w4 += q, w8 += 2 * q) {
        for (size_t i = 0; i < q; i += 32) {
            const __m256i x = _mm256_load_si256((const __m256i *)(w4 + i));
            _mm256_store_si256((__m256i *)(w8 + i), _mm256_shuffle_epi8(lut, _mm256_and_si256(x, lo4)));
            _mm256_store_si256((__m256i *)(w8 + q + i),
                               _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), lo4)));
        }
    }
}
