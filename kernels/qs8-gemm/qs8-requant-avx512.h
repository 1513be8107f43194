// AVX-512 side of qn_requant_fast (qs8-requant.h). Include only from *-avx512.c files.
//
// Four vectors of 16 s32 accumulators become one zmm of 64 u8 with two vpackssdw, two
// vpaddsw (the zero point, in s16), one vpackuswb and one vpermd: the packs interleave their
// sources per 128-bit lane (lane L of the result holds elements 4L..4L+3 of each source), and
// the vpermd puts each source's 16 bytes back together, source i in 128-bit lane i.
#pragma once

#include <immintrin.h>

#include "qs8-gemm/qs8-requant.h"

struct qn_requant_fast_avx512 {
    __m512 inv_out, hi_t;
    __m512i zp16;        // zp in every s16 lane
    __m512i lo8, hi8;    // lo, hi in every byte
    __m512i perm;        // dword order after the packs
    bool clamp_lo, clamp_hi;  // lo > 0, hi < 255 (the packs already clamp to [0, 255])
};

static inline __attribute__((always_inline)) struct qn_requant_fast_avx512
qn_requant_fast_avx512_init(const struct qn_requant_fast *r) {
    return (struct qn_requant_fast_avx512){
        .inv_out = _mm512_set1_ps(r->inv_out),
        .hi_t = _mm512_set1_ps(r->hi_t),
        .zp16 = _mm512_set1_epi16((short)r->zp),
        .lo8 = _mm512_set1_epi8((char)r->lo),
        .hi8 = _mm512_set1_epi8((char)r->hi),
        .perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
        .clamp_lo = r->lo > 0,
        .clamp_hi = r->hi < 255,
    };
}

// rint(min((acc * mul + bias) * inv_out, hi - zp)) per lane; bias may be NULL.
static inline __attribute__((always_inline)) __m512i
qn_requant_fast_r_avx512(const struct qn_requant_fast_avx512 *f, __m512i acc, __m512 mul,
                         const __m512 *bias) {
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mul);
    if (bias) y = _mm512_add_ps(y, *bias);
    const __m512 t = _mm512_min_ps(_mm512_mul_ps(y, f->inv_out), f->hi_t);
    return _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

// clamp(r_i + zp, lo, hi) of four vectors as 64 bytes: source i in 128-bit lane i.
static inline __attribute__((always_inline)) __m512i
qn_requant_fast_pack4_avx512(const struct qn_requant_fast_avx512 *f, __m512i r0, __m512i r1,
                             __m512i r2, __m512i r3) {
    const __m512i a = _mm512_adds_epi16(_mm512_packs_epi32(r0, r1), f->zp16);
    const __m512i b = _mm512_adds_epi16(_mm512_packs_epi32(r2, r3), f->zp16);
    __m512i q = _mm512_packus_epi16(a, b);
    if (f->clamp_lo) q = _mm512_max_epu8(q, f->lo8);
    if (f->clamp_hi) q = _mm512_min_epu8(q, f->hi8);
    return _mm512_permutexvar_epi32(f->perm, q);
}

// Two rows of a 32-column tile, row i in x0 | y0 and row i + 1 in x1 | y1 (s32, zero point
// included), requantized with mul / bias per half, packed and stored to c under the column
// mask m; the second row only when `two` (its vectors are then computed and dropped).
static inline __attribute__((always_inline)) void
qn_requant_fast_store2x32_avx512(const struct qn_requant_fast_avx512 *f, __m512i x0, __m512i y0, __m512i x1,
                                 __m512i y1, __m512 mulx, __m512 muly, const __m512 *bx, const __m512 *by,
                                 uint8_t *c, size_t ldc, __mmask32 m, bool two) {
    const __m512i q = qn_requant_fast_pack4_avx512(f, qn_requant_fast_r_avx512(f, x0, mulx, bx),
                                                   qn_requant_fast_r_avx512(f, y0, muly, by),
                                                   qn_requant_fast_r_avx512(f, x1, mulx, bx),
                                                   qn_requant_fast_r_avx512(f, y1, muly, by));
    _mm256_mask_storeu_epi8(c, m, _mm512_castsi512_si256(q));
    if (two) _mm256_mask_storeu_epi8(c + ldc, m, _mm512_extracti64x4_epi64(q, 1));
}
