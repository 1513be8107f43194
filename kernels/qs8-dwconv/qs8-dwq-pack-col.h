// The row-quad transposition of one 16-channel column (qs8-dwconv.h), SSE2: 4 rows x 16
// channels of u8 -> [16 channels][4 rows] with two rounds of byte / word interleaves. Shared by
// the AVX2 and AVX-512 packs; include only from x86 kernel files.
#pragma once

#include <immintrin.h>
#include <stdint.h>

static inline __attribute__((always_inline)) void qn_qs8_dwq_pack_col(uint8_t *d, __m128i r0, __m128i r1,
                                                                      __m128i r2, __m128i r3) {
    const __m128i ab_lo = _mm_unpacklo_epi8(r0, r1), ab_hi = _mm_unpackhi_epi8(r0, r1);
    const __m128i cd_lo = _mm_unpacklo_epi8(r2, r3), cd_hi = _mm_unpackhi_epi8(r2, r3);
    _mm_store_si128((__m128i *)d + 0, _mm_unpacklo_epi16(ab_lo, cd_lo));
    _mm_store_si128((__m128i *)d + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
    _mm_store_si128((__m128i *)d + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
    _mm_store_si128((__m128i *)d + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
}
