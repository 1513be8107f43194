// AVX2 requantizing epilogue shared by the *-avx2.c and *-avxvnni.c quantized kernels: 8
// columns per ymm, masked loads/stores for the last panel. Same float operations in the same
// order as qn_qgemm_store1, no FMA, hence bit-identical; GELU calls qn_act_ref per element.
// Include only from *-avx2.c / *-avxvnni.c files.
#pragma once

#include <immintrin.h>
#include <string.h>

#include "qs8-gemm/qs8-gemm.h"
#include "qs8-gemm/qs8-requant-avx2.h"

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

// vpmaddwd path (AVX2 without VNNI, the GEMV; the 6x8 tile reads A widened by the driver):
// 4 A bytes zero-extended to 4 s16, repeated in every 64-bit group, against 4 columns x 4 k of
// s16 weights. The shuffle's control is a memory operand (asm): held in a register it was the
// 6x8 tile's 17th live ymm when the tile widened A itself, and GCC kept one accumulator on the
// stack (Zen 5, QNAS_ISA=avx2, u8s8 gemm 1024^3 on one thread: 134-145 -> 162-165 GOP/s).
static const int8_t qn_a4_spread_avx2[32] __attribute__((aligned(32))) = {
    0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1, 0, -1, 1, -1, 2, -1, 3, -1};

static inline __attribute__((always_inline)) __m256i qn_a4_to_s16x4_avx2(int32_t a4) {
    __m256i v = _mm256_set1_epi32(a4);
    __asm__("vpshufb %1, %0, %0" : "+x"(v) : "m"(*(const __m256i *)qn_a4_spread_avx2));
    return v;
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

// --- register epilogue of the AVX2 / AVX-VNNI kernels ---
//
// The kernels run every row tile of a panel per call (multi-tile, p->mb rows a tile) with the
// per-column constants set up once per panel, and store the common epilogues straight from
// the registers: FP32 out without activation (residual or not), FP32 out with ReLU / ReLU6 /
// hardswish and no residual, and the folded u8 requantization of qs8-requant.h (ReLU / ReLU6
// / none, no residual: the expand layers). Any other goes through the s32 stack tile and
// qn_qgemm_epilogue__avx2. The operations are the stack path's (the zero-point correction,
// acc * mul, bias, activation), so the bits are the same. Before, every tile went through the
// stack: three quarters of a 196x72x12 u8 call were its epilogue at the AVX-VNNI level.

#define QN_QG_INLINE static inline __attribute__((always_inline))

enum qn_qgemm_epi_avx2 { QN_QG_EPI_F32, QN_QG_EPI_F32_ACT, QN_QG_EPI_U8_FAST, QN_QG_EPI_STACK };

// What every tile of a panel shares: columns [0, 8) and [8, 16).
struct qn_qgemm_panel_avx2 {
    struct qn_qgemm_cols8 cx, cy;
    struct qn_requant_fast_avx2 f;  // QN_QG_EPI_U8_FAST only
    enum qn_qgemm_epi_avx2 epi;
};

QN_QG_INLINE void qn_qgemm_panel_avx2_init(struct qn_qgemm_panel_avx2 *s, size_t nc,
                                           const struct qn_qgemm_params *p) {
    s->cx = qn_qgemm_cols8_avx2(p, 0, nc);
    s->cy = nc > 8 ? qn_qgemm_cols8_avx2(p, 8, nc) : s->cx;
    s->f = (struct qn_requant_fast_avx2){0};
    struct qn_requant_fast rf;
    if (!p->out_u8 && p->act == QN_ACT_NONE)
        s->epi = QN_QG_EPI_F32;
    else if (!p->out_u8 && !p->residual && p->act != QN_ACT_GELU)
        s->epi = QN_QG_EPI_F32_ACT;
    else if (qn_requant_fast_init(&rf, p->act, p->residual != NULL, p->out_u8, p->inv_out, (int32_t)p->out_zp,
                                  (int32_t)p->out_qmax)) {
        s->epi = QN_QG_EPI_U8_FAST;
        s->f = qn_requant_fast_avx2_init(&rf);
    } else {
        s->epi = QN_QG_EPI_STACK;
    }
}

// A tile's start: the six rows' A pointers (rows past mr alias the previous row: computed,
// never stored) and zeroed accumulators.
QN_QG_INLINE void qn_qgemm_tile_start_avx2(const uint8_t **ar, __m256i *accx, __m256i *accy, const uint8_t *a,
                                           size_t lda, size_t mr) {
    ar[0] = a;
#pragma GCC unroll 5
    for (size_t i = 1; i < 6; i++) ar[i] = mr > i ? ar[i - 1] + lda : ar[i - 1];
#pragma GCC unroll 6
    for (size_t i = 0; i < 6; i++) accx[i] = accy[i] = _mm256_setzero_si256();
}

// One row's 8 columns of FP32 out: acc * mul, bias, residual, activation (at most one of
// these two), stored whole or under the column mask.
QN_QG_INLINE void qn_qgemm_f32_8_avx2(const bool BIAS, const bool RES, const enum qn_act ACT,
                                      const struct qn_qgemm_cols8 *cl, __m256i acc, float *c, const float *r) {
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), cl->mul);
    if (BIAS) y = _mm256_add_ps(y, cl->bias);
    if (RES) y = _mm256_add_ps(y, _mm256_maskload_ps(r, cl->mask));
    y = qn_qgemm_act_avx2(ACT, y);
    if (cl->n == 8)
        _mm256_storeu_ps(c, y);
    else
        _mm256_maskstore_ps(c, cl->mask, y);
}

QN_QG_INLINE void qn_qgemm_f32_rows_avx2(const size_t R, const size_t NV, const bool BIAS, const bool RES,
                                         const enum qn_act ACT, const struct qn_qgemm_panel_avx2 *s, size_t mr,
                                         const __m256i *accx, const __m256i *accy, float *c, size_t ldc,
                                         const float *res, size_t ldr) {
#pragma GCC unroll 6
    for (size_t i = 0; i < R; i++) {
        if (i >= mr) break;
        qn_qgemm_f32_8_avx2(BIAS, RES, ACT, &s->cx, accx[i], c + i * ldc, RES ? res + i * ldr : NULL);
        if (NV == 2) qn_qgemm_f32_8_avx2(BIAS, RES, ACT, &s->cy, accy[i], c + i * ldc + 8, RES ? res + i * ldr + 8 : NULL);
    }
}

// Row bytes [0, n) of a u8 tile row (n = 8 or 16 means whole).
QN_QG_INLINE void qn_qgemm_store_u8_row(uint8_t *dst, __m128i v, size_t n, size_t full) {
    if (n == full) {
        if (full == 16)
            _mm_storeu_si128((__m128i *)dst, v);
        else
            _mm_storel_epi64((__m128i *)dst, v);
        return;
    }
    uint8_t t[16];
    _mm_storeu_si128((__m128i *)t, v);
    memcpy(dst, t, n);
}

// The folded u8 requantization, four vectors a pack: two rows of 16 columns (NV = 2), or four
// rows of 8 (NV = 1; past R the pack repeats a row, past mr nothing is stored). Without a
// bias the panel's bias vector is zero, and y + 0 gives y's value (a -0 only meets the
// rounding, which maps it where +0 goes).
QN_QG_INLINE void qn_qgemm_u8_rows_avx2(const size_t R, const size_t NV, const struct qn_qgemm_panel_avx2 *s,
                                        size_t mr, size_t nc, const __m256i *accx, const __m256i *accy,
                                        uint8_t *c, size_t ldc) {
    const struct qn_requant_fast_avx2 *f = &s->f;
    if (NV == 2) {
#pragma GCC unroll 3
        for (size_t i = 0; i < R; i += 2) {
            if (i >= mr) break;
            const __m256i q = qn_requant_fast_pack4_avx2(f, qn_requant_fast_r_avx2(f, accx[i], s->cx.mul, &s->cx.bias),
                                                         qn_requant_fast_r_avx2(f, accy[i], s->cy.mul, &s->cy.bias),
                                                         qn_requant_fast_r_avx2(f, accx[i + 1], s->cx.mul, &s->cx.bias),
                                                         qn_requant_fast_r_avx2(f, accy[i + 1], s->cy.mul, &s->cy.bias));
            qn_qgemm_store_u8_row(c + i * ldc, _mm256_castsi256_si128(q), nc, 16);
            if (i + 1 < mr) qn_qgemm_store_u8_row(c + (i + 1) * ldc, _mm256_extracti128_si256(q, 1), nc, 16);
        }
        return;
    }
#pragma GCC unroll 2
    for (size_t i = 0; i < R; i += 4) {
        if (i >= mr) break;
        __m256i r[4];
#pragma GCC unroll 4
        for (size_t l = 0; l < 4; l++)
            r[l] = qn_requant_fast_r_avx2(f, accx[i + l < R ? i + l : i], s->cx.mul, &s->cx.bias);
        const __m256i q = qn_requant_fast_pack4_avx2(f, r[0], r[1], r[2], r[3]);
        const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        qn_qgemm_store_u8_row(c + i * ldc, lo, nc, 8);
        if (i + 1 < mr) qn_qgemm_store_u8_row(c + (i + 1) * ldc, _mm_unpackhi_epi64(lo, lo), nc, 8);
        if (i + 2 < mr) qn_qgemm_store_u8_row(c + (i + 2) * ldc, hi, nc, 8);
        if (i + 3 < mr) qn_qgemm_store_u8_row(c + (i + 3) * ldc, _mm_unpackhi_epi64(hi, hi), nc, 8);
    }
}

// The epilogue of one tile of R rows (mr stored), NV halves of 8 columns, raw sums in accx /
// accy; res: the tile's residual rows or NULL.
QN_QG_INLINE void qn_qgemm_tile_store_avx2(const size_t R, const size_t NV, const struct qn_qgemm_panel_avx2 *s,
                                           size_t mr, size_t nc, __m256i *accx, __m256i *accy, void *c,
                                           size_t ldc, const float *res, const struct qn_qgemm_params *p) {
    if (s->epi == QN_QG_EPI_STACK) {
        int32_t t[6 * 16] __attribute__((aligned(32)));
#pragma GCC unroll 6
        for (size_t i = 0; i < R; i++) {
            _mm256_store_si256((__m256i *)(t + i * 8 * NV), accx[i]);
            if (NV == 2) _mm256_store_si256((__m256i *)(t + i * 16 + 8), accy[i]);
        }
        struct qn_qgemm_params tp = *p;
        tp.residual = res;
        qn_qgemm_epilogue__avx2(mr, nc, t, 8 * NV, c, ldc, &tp);
        return;
    }
#pragma GCC unroll 6
    for (size_t i = 0; i < R; i++) {  // the zero-point correction (zero when a_zp is)
        accx[i] = _mm256_sub_epi32(accx[i], s->cx.zp_sum);
        if (NV == 2) accy[i] = _mm256_sub_epi32(accy[i], s->cy.zp_sum);
    }
    if (s->epi == QN_QG_EPI_U8_FAST) {
        qn_qgemm_u8_rows_avx2(R, NV, s, mr, nc, accx, accy, c, ldc);
        return;
    }
    float *cf = c;
    const bool bias = p->bias != NULL;
    if (s->epi == QN_QG_EPI_F32) {
        if (res && bias)
            qn_qgemm_f32_rows_avx2(R, NV, true, true, QN_ACT_NONE, s, mr, accx, accy, cf, ldc, res, p->ldr);
        else if (res)
            qn_qgemm_f32_rows_avx2(R, NV, false, true, QN_ACT_NONE, s, mr, accx, accy, cf, ldc, res, p->ldr);
        else if (bias)
            qn_qgemm_f32_rows_avx2(R, NV, true, false, QN_ACT_NONE, s, mr, accx, accy, cf, ldc, NULL, 0);
        else
            qn_qgemm_f32_rows_avx2(R, NV, false, false, QN_ACT_NONE, s, mr, accx, accy, cf, ldc, NULL, 0);
        return;
    }
#define QN_QG_ACT_ROWS(A)                                                                              \
    (bias ? qn_qgemm_f32_rows_avx2(R, NV, true, false, A, s, mr, accx, accy, cf, ldc, NULL, 0)          \
          : qn_qgemm_f32_rows_avx2(R, NV, false, false, A, s, mr, accx, accy, cf, ldc, NULL, 0))
    switch (p->act) {
    case QN_ACT_RELU: QN_QG_ACT_ROWS(QN_ACT_RELU); return;
    case QN_ACT_RELU6: QN_QG_ACT_ROWS(QN_ACT_RELU6); return;
    default: QN_QG_ACT_ROWS(QN_ACT_HSWISH); return;
    }
#undef QN_QG_ACT_ROWS
}
