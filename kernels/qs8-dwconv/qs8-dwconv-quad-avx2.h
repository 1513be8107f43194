// Row-quad depthwise kernels on ymm (layout, weight sets and corrections in qs8-dwconv.h), for
// the AVX-VNNI level (qs8-dwconv-quad-avxvnni.c, which defines QN_DWQ_VNNI) and plain AVX2
// (qs8-dwconv-quad-avx2.c): the structure of the AVX-512 kernels (qs8-dwconv-quad-avx512.c).
// A block's 64-byte quad column is two ymm, channels [0, 8) and [8, 16), and so are its weight
// vectors and corrections: each half runs as a block of 8 channels of its own, UR <= 8
// accumulators, the k weight vectors of the row's set and one quad column in the 16 ymm.
// Without mask registers, the half holding the last channels of c (c not a multiple of 8) is
// compiled apart: lane masks for the FP32 loads and stores, byte copies for u8.
// Include from one *-avx2.c or *-avxvnni.c file each: the functions are static.
#pragma once

#include <immintrin.h>
#include <string.h>

#include "f32-dwconv/dwconv-epilogue.h"
#include "f32-dwconv/f32-dwconv.h"
#include "qs8-dwconv/qs8-dwconv.h"
#include "qs8-gemm/qs8-gemm-avx2.h"
#include "qs8-gemm/qs8-requant-avx2.h"

#define QN_INLINE static inline __attribute__((always_inline))

// --- epilogues ---

// What the stores of one half block read, read once (stores through float / byte pointers
// may alias the args as far as the compiler knows; see the AVX-512 file).
struct half_out {
    __m256 mul, bias;  // bias: zero without one, and in the lanes past c
    __m256i mi;        // lanes < nc (partial half)
    bool has_bias;
    const float *res;  // at the half's first output, or NULL
    size_t ld_r, ld_y;
    char *y;  // at the half's first output
};

QN_INLINE struct half_out half_out_init(const struct qn_qs8_dwq_args *a, size_t px, size_t cb, bool tail,
                                        size_t nc) {
    const size_t es = a->out_u8 ? 1 : sizeof(float);
    const __m256i mi = tail ? qn_mask_avx2(nc) : _mm256_set1_epi32(-1);
    return (struct half_out){
        .mul = _mm256_loadu_ps(a->mul + cb),
        .bias = !a->bias ? _mm256_setzero_ps()
                : tail   ? _mm256_maskload_ps(a->bias + cb, mi)
                         : _mm256_loadu_ps(a->bias + cb),
        .mi = mi,
        .has_bias = a->bias != NULL,
        .res = a->res ? a->res + px * a->ld_r + cb : NULL,
        .ld_r = a->ld_r,
        .ld_y = a->ld_y * es,
        .y = (char *)a->y + (px * a->ld_y + cb) * es,
    };
}

// FP32 output without activation, output u: (float)acc * mul, bias, residual.
QN_INLINE void store_f32(const struct half_out *o, size_t u, bool tail, __m256i acc) {
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), o->mul);
    if (o->has_bias) y = _mm256_add_ps(y, o->bias);
    if (o->res) {
        const float *r = o->res + u * o->ld_r;
        y = _mm256_add_ps(y, tail ? _mm256_maskload_ps(r, o->mi) : _mm256_loadu_ps(r));
    }
    float *dst = (float *)(o->y + u * o->ld_y);
    if (tail)
        _mm256_maskstore_ps(dst, o->mi, y);
    else
        _mm256_storeu_ps(dst, y);
}

// Outputs g .. g + min(n, 4) - 1 from acc[0..3] through the folded requantization (n counts
// the block's outputs from g on).
QN_INLINE void store_fast4(const struct half_out *o, const struct qn_requant_fast_avx2 *f, size_t g, size_t n,
                           bool tail, size_t nc, const __m256i *acc) {
    const __m256 *b = o->has_bias ? &o->bias : NULL;
    const __m256i q = qn_requant_fast_pack4_avx2(
        f, qn_requant_fast_r_avx2(f, acc[0], o->mul, b), qn_requant_fast_r_avx2(f, acc[1], o->mul, b),
        qn_requant_fast_r_avx2(f, acc[2], o->mul, b), qn_requant_fast_r_avx2(f, acc[3], o->mul, b));
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    uint8_t *y = (uint8_t *)o->y + g * o->ld_y;
    if (tail) {
        uint64_t v[4] = {(uint64_t)_mm_cvtsi128_si64(lo), (uint64_t)_mm_extract_epi64(lo, 1),
                         (uint64_t)_mm_cvtsi128_si64(hi), (uint64_t)_mm_extract_epi64(hi, 1)};
        for (size_t i = 0; i < n && i < 4; i++) memcpy(y + i * o->ld_y, &v[i], nc);
        return;
    }
    _mm_storel_epi64((__m128i *)y, lo);
    if (n > 1) _mm_storel_epi64((__m128i *)(y + o->ld_y), _mm_unpackhi_epi64(lo, lo));
    if (n > 2) _mm_storel_epi64((__m128i *)(y + 2 * o->ld_y), hi);
    if (n > 3) _mm_storel_epi64((__m128i *)(y + 3 * o->ld_y), _mm_unpackhi_epi64(hi, hi));
}

// Any other epilogue but GELU: the qn_qgemm_ref sequence lane by lane.
QN_INLINE void store_ref(const struct qn_qs8_dwq_args *a, size_t px, size_t cb, bool tail, size_t nc,
                         __m256i acc) {
    const size_t at = px * a->ld_y + cb;
    qn_qs8_dw_store8_ref_avx2(acc, a->mul + cb, a->bias ? a->bias + cb : NULL,
                              a->res ? a->res + px * a->ld_r + cb : NULL, a->res_before_act, a->act, a->out_u8,
                              a->inv_out, a->out_zp, a->out_qmax,
                              a->out_u8 ? (void *)((uint8_t *)a->y + at) : (void *)((float *)a->y + at), tail, nc);
}

// --- kernels ---

enum { EP_FAST_U8, EP_F32, EP_REF };

QN_INLINE void store_half(const struct qn_qs8_dwq_args *a, const struct qn_requant_fast_avx2 *f, int ep,
                          size_t px, size_t cb, bool tail, size_t nc, const __m256i *acc, size_t n_out,
                          const size_t UR) {
    if (ep == EP_REF) {
#pragma GCC unroll 8
        for (size_t u = 0; u < UR; u++)
            if (u < n_out) store_ref(a, px + u, cb, tail, nc, acc[u]);
        return;
    }
    const struct half_out o = half_out_init(a, px, cb, tail, nc);
    if (ep == EP_FAST_U8) {
#pragma GCC unroll 2
        for (size_t g = 0; g < UR; g += 4)
            if (g < n_out) store_fast4(&o, f, g, n_out - g, tail, nc, acc + g);
    } else {
#pragma GCC unroll 8
        for (size_t u = 0; u < UR; u++)
            if (u < n_out) store_f32(&o, u, tail, acc[u]);
    }
}

// Half block hb (channels [8 hb, 8 hb + 8), nc of them real) of UR outputs from px, swept
// over padded columns ow * S + [P0, P1) (qoff at padded column ow * S).
QN_INLINE void quad_half(const struct qn_qs8_dwq_args *a, const struct qn_requant_fast_avx2 *f, int ep,
                         const struct qn_qs8_dwq_row row, const size_t *zoff, size_t qoff, size_t px,
                         size_t hb, bool tail, size_t nc, size_t n_out, const size_t K, const size_t S,
                         const size_t UR, const size_t P0, const size_t P1) {
    const size_t blk = hb / 2, half = hb % 2;
    const int32_t *zc = a->zcorr ? a->zcorr + blk * a->corr_stride + half * 8 : NULL;
    __m256i acc[8];
#pragma GCC unroll 8
    for (size_t u = 0; u < QN_ROUND_UP(UR, 4); u++)  // lanes past UR only fill a pack's unstored slots
        acc[u] = u < UR && zc ? _mm256_loadu_si256((const __m256i *)(zc + zoff[u])) : _mm256_setzero_si256();
    const uint8_t *qx = a->quads + blk * a->quad_stride + qoff + half * 32;
    const int8_t *ws = a->wq + blk * a->block_stride + (size_t)row.set * a->set_stride + half * 32;
#ifdef QN_DWQ_VNNI
    for (size_t qq = 0; qq < row.nq; qq++) {
        const uint8_t *xr = qx + qq * a->w_q * 64;
        __m256i wv[7];
#pragma GCC unroll 7
        for (size_t j = 0; j < K; j++) wv[j] = _mm256_load_si256((const __m256i *)(ws + (qq * K + j) * 64));
#pragma GCC unroll 32
        for (size_t p = P0; p < P1; p++) {
            const __m256i xv = _mm256_load_si256((const __m256i *)(xr + p * 64));
#pragma GCC unroll 8
            for (size_t u = 0; u < UR; u++)
                if (p >= u * S && p - u * S < K) acc[u] = _mm256_dpbusd_avx_epi32(acc[u], xv, wv[p - u * S]);
        }
    }
#else
    // Without VNNI (quads and weights in pair order): each quarter of the half (rows 0-1 or 2-3
    // of its 8 channels, 16 bytes) widened to s16, x by vpmovzxbw and the weights by
    // vpmovsxbw, and multiplied by vpmaddwd, whose pair sums (a channel's two rows) go to s32
    // exactly, in channel order (vpmaddubsw's s16 pair sums would saturate: 2 * 255 * 127 >
    // 32767). Both quarters add into the same accumulators. (In [channel][4 rows] order each
    // channel owned two lanes, summed pairwise after spilling both quarters' sums: 0.92x oneDNN's
    // AVX2 kernel at 3x3 96 ch 14x14.)
    for (size_t g = 0; g < 2; g++) {
        for (size_t qq = 0; qq < row.nq; qq++) {
            const uint8_t *xr = qx + qq * a->w_q * 64 + g * 16;
            __m256i wv[7];
#pragma GCC unroll 7
            for (size_t j = 0; j < K; j++)
                wv[j] =
                    _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(ws + (qq * K + j) * 64 + g * 16)));
#pragma GCC unroll 32
            for (size_t p = P0; p < P1; p++) {
                const __m256i xv = _mm256_cvtepu8_epi16(_mm_load_si128((const __m128i *)(xr + p * 64)));
#pragma GCC unroll 8
                for (size_t u = 0; u < UR; u++)
                    if (p >= u * S && p - u * S < K)
                        acc[u] = _mm256_add_epi32(acc[u], _mm256_madd_epi16(xv, wv[p - u * S]));
            }
        }
    }
#endif
    store_half(a, f, ep, px, 8 * hb, tail, nc, acc, n_out, UR);
}

// UR outputs of row oy from column ow (the first n_out stored), every half block.
QN_INLINE void quad_block(const struct qn_qs8_dwq_args *a, const struct qn_requant_fast_avx2 *f, int ep,
                          size_t oy, size_t ow, size_t n_out, const size_t K, const size_t S, const size_t UR,
                          const size_t P0, const size_t P1) {
    const struct qn_qs8_dwq_row row = a->rows[oy];
    size_t zoff[8];  // each output's correction within a block
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++)
        zoff[u] = ((size_t)row.rc * a->n_cc + a->col_class[u < n_out ? ow + u : ow]) * 16;
    const size_t qoff = ((size_t)row.q_lo * a->w_q + ow * S) * 64;
    const size_t px = oy * a->w_out + ow, full = a->c / 8;
    for (size_t hb = 0; hb < full; hb++)
        quad_half(a, f, ep, row, zoff, qoff, px, hb, false, 8, n_out, K, S, UR, P0, P1);
    if (a->c % 8) quad_half(a, f, ep, row, zoff, qoff, px, full, true, a->c % 8, n_out, K, S, UR, P0, P1);
}

// Every row in blocks of UR outputs (the last one partial, as UR or, if it has at most 4
// outputs, as 4).
QN_INLINE void quad_rows_ur(const struct qn_qs8_dwq_args *a, const struct qn_requant_fast_avx2 *f, int ep,
                            const size_t K, const size_t S, const size_t UR) {
    for (size_t oy = a->oy_lo; oy < a->oy_hi; oy++) {
        size_t ow = 0;
        for (; ow + UR <= a->w_out; ow += UR) quad_block(a, f, ep, oy, ow, UR, K, S, UR, 0, (UR - 1) * S + K);
        const size_t rest = a->w_out - ow;
        if (rest > 4)
            quad_block(a, f, ep, oy, ow, rest, K, S, UR, 0, (UR - 1) * S + K);
        else if (rest > 0)
            quad_block(a, f, ep, oy, ow, rest, K, S, 4, 0, 3 * S + K);
    }
}

// One block per row of a map W pixels wide with same padding: the sweep reads the image's
// columns only.
QN_INLINE void quad_rows_narrow(const struct qn_qs8_dwq_args *a, const struct qn_requant_fast_avx2 *f, int ep,
                                const size_t K, const size_t S, const size_t W) {
    const size_t UR = (W - 1) / S + 1;  // w_out
    for (size_t oy = a->oy_lo; oy < a->oy_hi; oy++)
        quad_block(a, f, ep, oy, 0, UR, K, S, UR, K / 2, K / 2 + W);
}

QN_INLINE void quad_rows(const struct qn_qs8_dwq_args *a, const size_t K, const size_t S) {
    struct qn_requant_fast rf = {0};
    const int ep =
        qn_requant_fast_init(&rf, a->act, a->res != NULL, a->out_u8, a->inv_out, a->out_zp, a->out_qmax)
            ? EP_FAST_U8
        : !a->out_u8 && a->act == QN_ACT_NONE ? EP_F32
                                              : EP_REF;
    const struct qn_requant_fast_avx2 f = qn_requant_fast_avx2_init(&rf);
    // the supernet's maps (28, 14, 7, 4 and their stride-2 halves): narrow rows of 4 and 7
    // outputs, 14 as 7 + 7, 28 as 8 + 8 + 8 + 4
    // (S tested again: each kernel compiles only the narrow forms of its stride)
    const size_t nw = qn_qs8_dwq_narrow_width(K, S, a->pad, a->w_in);
    if (S == 1 && nw == 4)
        quad_rows_narrow(a, &f, ep, K, S, 4);
    else if (nw == 7)
        quad_rows_narrow(a, &f, ep, K, S, 7);
    else if (S == 2 && nw == 8)
        quad_rows_narrow(a, &f, ep, K, S, 8);
    else if (S == 2 && nw == 14)
        quad_rows_narrow(a, &f, ep, K, S, 14);
    else if (a->w_out % 7 == 0 && a->w_out % 4 != 0)
        quad_rows_ur(a, &f, ep, K, S, 7);
    else
        quad_rows_ur(a, &f, ep, K, S, 8);
}

// The kernels of one level: QN_DWQ_KERNELS(avxvnni) defines qn_qs8_dwq_ukernel_3x3s1__avxvnni
// and the others of qs8-dwconv.h.
#define QN_DWQ_KERNEL(K, S, ISA)                                                                             \
    __attribute__((aligned(64))) void qn_qs8_dwq_ukernel_##K##x##K##s##S##__##ISA(                           \
        const struct qn_qs8_dwq_args *a) {                                                                   \
        quad_rows(a, K, S);                                                                                  \
    }
#define QN_DWQ_KERNELS(ISA)                                                                                  \
    QN_DWQ_KERNEL(3, 1, ISA)                                                                                 \
    QN_DWQ_KERNEL(5, 1, ISA) QN_DWQ_KERNEL(7, 1, ISA) QN_DWQ_KERNEL(3, 2, ISA) QN_DWQ_KERNEL(5, 2, ISA)      \
        QN_DWQ_KERNEL(7, 2, ISA)
