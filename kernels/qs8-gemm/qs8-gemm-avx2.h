// AVX2 requantizing epilogue shared by the *-avx2.c and *-avxvnni.c quantized kernels: 8
// columns per ymm, masked loads/stores for the last panel. Same float operations in the same
// order as qn_qgemm_store1, no FMA, hence bit-identical; GELU calls qn_act_ref per element.
// Include only from *-avx2.c / *-avxvnni.c files.
#pragma once

#include <immintrin.h>
#include <string.h>

#include "qs8-gemm/qs8-gemm.h"

struct qn_qgemm_cols8 {
    __m256i zp_sum;  // a_zp * col_sum[n]
    __m256 mul;      // a_scale * scale[n]
    __m256 bias;     // bias[n] or 0
    __m256i mask;    // all-ones in valid columns
    size_t n;        // valid columns, 0..8
};

static inline __attribute__((always_inline)) struct qn_qgemm_cols8 qn_qgemm_cols8_avx2(const struct qn_qgemm_params *p,
                                                        size_t j0, size_t nc) {
    struct qn_qgemm_cols8 cl;
    cl.n = j0 < nc ? QN_MIN(nc - j0, 8) : 0;
    cl.mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cl.n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    if (!cl.n) return cl;
    cl.zp_sum = _mm256_mullo_epi32(_mm256_set1_epi32(p->a_zp),
                                   _mm256_maskload_epi32((const int *)p->col_sum + j0, cl.mask));
    cl.mul = _mm256_mul_ps(_mm256_set1_ps(p->a_scale), _mm256_maskload_ps(p->scale + j0, cl.mask));
    cl.bias = p->bias ? _mm256_maskload_ps(p->bias + j0, cl.mask) : _mm256_setzero_ps();
    return cl;
}

static inline __attribute__((always_inline)) __m256 qn_qgemm_act_avx2(enum qn_act act, __m256 y) {
    const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
    switch (act) {
    case QN_ACT_NONE: return y;
    // max_ps(a, b) = a > b ? a : b, min_ps(a, b) = a < b ? a : b: the reference's comparisons.
    case QN_ACT_RELU: return _mm256_max_ps(y, zero);
    case QN_ACT_RELU6: return _mm256_max_ps(zero, _mm256_min_ps(six, y));
    case QN_ACT_HSWISH: {
        __m256 r = _mm256_add_ps(y, _mm256_set1_ps(3.0f));
        r = _mm256_max_ps(zero, _mm256_min_ps(six, r));
        return _mm256_mul_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(1.0f / 6.0f));
    }
    case QN_ACT_GELU: {
        float t[8];
        _mm256_storeu_ps(t, y);
        for (int l = 0; l < 8; l++) t[l] = qn_act_ref(QN_ACT_GELU, t[l]);
        return _mm256_loadu_ps(t);
    }
    }
    return y;
}

// Row i, columns [j0, j0 + 8) of the tile.
static inline __attribute__((always_inline)) void qn_qgemm_store8_avx2(const struct qn_qgemm_params *p,
                                        const struct qn_qgemm_cols8 *cl, size_t i, size_t j0,
                                        __m256i acc, void *c, size_t ldc) {
    if (!cl->n) return;
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc, cl->zp_sum)), cl->mul);
    if (p->bias) y = _mm256_add_ps(y, cl->bias);
    const float *r = p->residual ? p->residual + i * p->ldr + j0 : NULL;
    if (r && p->residual_before_act) y = _mm256_add_ps(y, _mm256_maskload_ps(r, cl->mask));
    y = qn_qgemm_act_avx2(p->act, y);
    if (r && !p->residual_before_act) y = _mm256_add_ps(y, _mm256_maskload_ps(r, cl->mask));
    if (p->out_u8) {
        __m256 q = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(p->inv_out)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm256_add_ps(q, _mm256_set1_ps(p->out_zp));
        q = _mm256_max_ps(_mm256_setzero_ps(), _mm256_min_ps(_mm256_set1_ps(p->out_qmax), q));
        const __m256i v = _mm256_cvtps_epi32(q);
        const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        const __m128i b = _mm_packus_epi16(w, w);
        uint8_t *dst = (uint8_t *)c + i * ldc + j0;
        if (cl->n == 8) {
            _mm_storel_epi64((__m128i *)dst, b);
        } else {
            uint8_t t[16];
            _mm_storeu_si128((__m128i *)t, b);
            memcpy(dst, t, cl->n);
        }
    } else {
        _mm256_maskstore_ps((float *)c + i * ldc + j0, cl->mask, y);
    }
}

// vpmaddwd path (AVX2 without VNNI): 4 A bytes zero-extended to 4 s16, repeated in every
// 64-bit group, against 4 columns x 4 k of s16 weights.
static inline __attribute__((always_inline)) __m256i qn_a4_to_s16x4_avx2(int32_t a4) {
    const __m256i spread = _mm256_setr_epi8(0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1,
                                            0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1);
    return _mm256_shuffle_epi8(_mm256_set1_epi32(a4), spread);
}

// vpmaddwd accumulators hold 2 lanes per column: x = [c0 c0 c1 c1 | c2 c2 c3 c3], y likewise
// for c4..c7. Returns [c0 .. c7].
static inline __attribute__((always_inline)) __m256i qn_hsum_pairs_avx2(__m256i x, __m256i y) {
    const __m256i h = _mm256_hadd_epi32(x, y);  // [c0 c1 c4 c5 | c2 c3 c6 c7]
    return _mm256_permute4x64_epi64(h, _MM_SHUFFLE(3, 1, 2, 0));
}

// The whole epilogue over an s32 tile acc[mr][ld_acc] of raw sums (the a_zp correction is
// applied here, unlike the AVX-512 one), written to C.
void qn_qgemm_epilogue__avx2(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc, void *c,
                             size_t ldc, const struct qn_qgemm_params *p);
