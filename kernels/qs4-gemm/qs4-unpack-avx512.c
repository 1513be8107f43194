// Packed s4 panels -> s8 c4 panels, 64 packed bytes (16 columns x 8 k) per step.
// Needs nr * 4 to be a multiple of 64 (nr = 16, 32, ...).
#include "qs8-gemm/qs8-gemm-avx512.h"

void qn_qs4_unpack__avx512(size_t np, size_t nr, size_t kc, const uint8_t *w4, int8_t *w8) {
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(QN_S4_LUT_BYTES));
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    const size_t octs = (kc + 7) / 8, q = nr * 4;
    QN_ASSERT(q % 64 == 0);
    for (size_t o = 0; o < np * octs; o++, w4 += q, w8 += 2 * q) {
        for (size_t i = 0; i < q; i += 64) {
            const __m512i x = _mm512_load_si512(w4 + i);
            _mm512_store_si512(w8 + i, _mm512_shuffle_epi8(lut, _mm512_and_si512(x, lo4)));
            _mm512_store_si512(w8 + q + i, _mm512_shuffle_epi8(
                                               lut, _mm512_and_si512(_mm512_srli_epi16(x, 4), lo4)));
        }
    }
}
