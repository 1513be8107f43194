// AVX2 side of qn_requant_fast (qs8-requant.h): the AVX-512 form (qs8-requant-avx512.h) on
// ymm. Include only from *-avx2.c / *-avxvnni.c files.
//
// Four vectors of 8 s32 become 32 bytes, source i in bytes [8i, 8i + 8): the packs interleave
// their sources per 128-bit lane (dword L of lane 0 holds elements 0-3 of source L, of lane 1
// elements 4-7) and a vpermd puts each source's 8 bytes back together.
#pragma once

#include <immintrin.h>

#include "qs8-gemm/qs8-requant.h"

struct qn_requant_fast_avx2 {
    __m256 inv_out, hi_t;
    __m256i zp16, lo8, hi8, perm;
    bool clamp_lo, clamp_hi;
};

static inline __attribute__((always_inline)) struct qn_requant_fast_avx2 qn_requant_fast_avx2_init(
    const struct qn_requant_fast *r) {
    return (struct qn_requant_fast_avx2){
        .inv_out = _mm256_set1_ps(r->inv_out),
        .hi_t = _mm256_set1_ps(r->hi_t),
        .zp16 = _mm256_set1_epi16((short)r->zp),
        .lo8 = _mm256_set1_epi8((char)r->lo),
        .hi8 = _mm256_set1_epi8((char)r->hi),
        .perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
        .clamp_lo = r->lo > 0,
        .clamp_hi = r->hi < 255,
    };
}

// rint(min((acc * mul + bias) * inv_out, hi - zp)): vcvtps2dq rounds to nearest even, as
// rintf does in the default rounding mode.
static inline __attribute__((always_inline)) __m256i qn_requant_fast_r_avx2(
    const struct qn_requant_fast_avx2 *f, __m256i acc, __m256 mul, const __m256 *bias) {
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mul);
    if (bias) y = _mm256_add_ps(y, *bias);
    return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_mul_ps(y, f->inv_out), f->hi_t));
}

// clamp(r_i + zp, lo, hi) of four vectors as 32 bytes, source i in bytes [8i, 8i + 8).
static inline __attribute__((always_inline)) __m256i qn_requant_fast_pack4_avx2(
    const struct qn_requant_fast_avx2 *f, __m256i r0, __m256i r1, __m256i r2, __m256i r3) {
    const __m256i a = _mm256_adds_epi16(_mm256_packs_epi32(r0, r1), f->zp16);
    const __m256i b = _mm256_adds_epi16(_mm256_packs_epi32(r2, r3), f->zp16);
    __m256i q = _mm256_packus_epi16(a, b);
    if (f->clamp_lo) q = _mm256_max_epu8(q, f->lo8);
    if (f->clamp_hi) q = _mm256_min_epu8(q, f->hi8);
    return _mm256_permutevar8x32_epi32(q, f->perm);
}
