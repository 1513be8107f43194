// AVX-512 VNNI row-quad depthwise kernels (layout and corrections in qs8-dwconv.h): one call
// computes a range of output rows, every channel block, from the quads. Per output row, UR
// output columns and channel block, the k weight vectors of the row's set stay in registers
// while a sweep over the input columns feeds up to UR accumulators per loaded quad column (the
// structure of the row kernels in qs8-dwconv-avx512.c, with four kernel rows per vpdpbusd).
// The row's geometry (valid columns, corrections, quads) is worked out once for all blocks:
// on a 4x4 map it would otherwise cost as much as the 16 vpdpbusd it sets up.
#include <immintrin.h>

#include "f32-dwconv/dwconv-epilogue.h"
#include "f32-dwconv/f32-dwconv.h"
#include "qs8-dwconv/qs8-dwconv.h"
#include "qs8-dwconv/qs8-dwq-pack-col.h"
#include "qs8-gemm/qs8-requant-avx512.h"

#define QN_INLINE static inline __attribute__((always_inline))

// --- transposition ---

// Four blocks (64 channels) of one column at once: the byte / word interleaves work per
// 128-bit lane, so lane L of their results holds block L's 16 bytes of each quarter; a 4 x 4
// transpose of the lanes (8 vshufi64x2) gathers each block's 64 bytes. Half the shuffles of
// four qn_qs8_dwq_pack_col, and one 64-byte load per row instead of four 16-byte ones.
QN_INLINE void pack_col4(uint8_t *d, size_t qb, __m512i r0, __m512i r1, __m512i r2, __m512i r3) {
    const __m512i ab_lo = _mm512_unpacklo_epi8(r0, r1), ab_hi = _mm512_unpackhi_epi8(r0, r1);
    const __m512i cd_lo = _mm512_unpacklo_epi8(r2, r3), cd_hi = _mm512_unpackhi_epi8(r2, r3);
    const __m512i v0 = _mm512_unpacklo_epi16(ab_lo, cd_lo), v1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
    const __m512i v2 = _mm512_unpacklo_epi16(ab_hi, cd_hi), v3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
    const __m512i t0 = _mm512_shuffle_i64x2(v0, v1, 0x44), t1 = _mm512_shuffle_i64x2(v0, v1, 0xEE);
    const __m512i t2 = _mm512_shuffle_i64x2(v2, v3, 0x44), t3 = _mm512_shuffle_i64x2(v2, v3, 0xEE);
    _mm512_store_si512(d, _mm512_shuffle_i64x2(t0, t2, 0x88));
    _mm512_store_si512(d + qb, _mm512_shuffle_i64x2(t0, t2, 0xDD));
    _mm512_store_si512(d + 2 * qb, _mm512_shuffle_i64x2(t1, t3, 0x88));
    _mm512_store_si512(d + 3 * qb, _mm512_shuffle_i64x2(t1, t3, 0xDD));
}

// One block (nc <= 16 channels) of every quad: 4 rows x 16 channels of u8 -> [16 channels][4
// rows] per column with two rounds of byte / word interleaves. Full quads of full blocks take
// plain loads.
static void pack_block(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc, uint8_t x_zp,
                       size_t pad, size_t w_q, uint8_t *quads) {
    const __mmask16 m = nc >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nc) - 1);
    const __m128i zp = _mm_set1_epi8((char)x_zp);
    const size_t ld_row = w * ld_x;
    for (size_t q = 0; q < (h + 3) / 4; q++) {
        const uint8_t *xr = x + 4 * q * ld_row;
        uint8_t *dst = quads + (q * w_q + pad) * 64;
        if (nc == 16 && 4 * q + 4 <= h) {
            for (size_t col = 0; col < w; col++, xr += ld_x)
                qn_qs8_dwq_pack_col(dst + col * 64, _mm_loadu_si128((const __m128i *)xr),
                         _mm_loadu_si128((const __m128i *)(xr + ld_row)),
                         _mm_loadu_si128((const __m128i *)(xr + 2 * ld_row)),
                         _mm_loadu_si128((const __m128i *)(xr + 3 * ld_row)));
            continue;
        }
        const size_t rows = h - 4 * q < 4 ? h - 4 * q : 4;
        for (size_t col = 0; col < w; col++, xr += ld_x) {
            __m128i v[4];
            for (size_t t = 0; t < 4; t++) v[t] = t < rows ? _mm_mask_loadu_epi8(zp, m, xr + t * ld_row) : zp;
            qn_qs8_dwq_pack_col(dst + col * 64, v[0], v[1], v[2], v[3]);
        }
    }
}

// Only the image's columns are written (the zero columns around them never change, see
// qs8-dwconv.h). Full groups of four blocks take pack_col4 (1x14x14x96 at batch 1, a 3x3 layer
// whose transposition was ~20% of the call:
// bench qs8_dwconv 1 thread 0.87-0.99x oneDNN before, 1.02x after in alternating runs), the
// rest pack_block.
void qn_qs8_dwq_pack__avx512(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc,
                             uint8_t x_zp, size_t pad, size_t w_q, uint8_t *quads, size_t qb) {
    const size_t ld_row = w * ld_x;
    const __m512i zp = _mm512_set1_epi8((char)x_zp);
    size_t c0 = 0;
    for (; c0 + 64 <= nc; c0 += 64) {
        uint8_t *dst0 = quads + c0 / 16 * qb + pad * 64;
        for (size_t q = 0; q < (h + 3) / 4; q++) {
            const uint8_t *xr = x + c0 + 4 * q * ld_row;
            uint8_t *dst = dst0 + q * w_q * 64;
            const size_t rows = h - 4 * q < 4 ? h - 4 * q : 4;
            for (size_t col = 0; col < w; col++, xr += ld_x)
                pack_col4(dst + col * 64, qb, _mm512_loadu_si512(xr),
                          rows > 1 ? _mm512_loadu_si512(xr + ld_row) : zp,
                          rows > 2 ? _mm512_loadu_si512(xr + 2 * ld_row) : zp,
                          rows > 3 ? _mm512_loadu_si512(xr + 3 * ld_row) : zp);
        }
    }
    for (; c0 < nc; c0 += 16)
        pack_block(x + c0, h, w, ld_x, nc - c0 < 16 ? nc - c0 : 16, x_zp, pad, w_q, quads + c0 / 16 * qb);
}

// The same with AVX512-VBMI (Ice Lake and later, Zen 4 and later): a group of 64 channels
// (four blocks) of one column in 8 shuffles instead of 16. vpermt2b pairs rows 0 / 1 (and 2 /
// 3) into words, [channel][row pair], placed so that the word interleaves of the two pairs
// give the blocks: block 2g + h of group g, channel c, sits at word 8 (c / 4) + 4 h + c % 4 of
// pair g, and unpacklo / unpackhi_epi16 of the two pairs are then blocks 2g and 2g + 1.
// Partial groups (nc not a multiple of 64) load masked, x_zp in the lanes past nc, and store
// their blocks only.
__attribute__((target("avx512vbmi"))) void qn_qs8_dwq_pack_vbmi__avx512(
    const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc, uint8_t x_zp, size_t pad, size_t w_q,
    uint8_t *quads, size_t qb) {
    uint8_t ix[2][64];
    for (size_t j = 0; j < 64; j++) {
        const size_t word = j / 2, r = j % 2, lane = word / 8, within = word % 8;
        const size_t b = within / 4, c = 4 * lane + within % 4;
        ix[0][j] = (uint8_t)(r * 64 + 16 * b + c);
        ix[1][j] = (uint8_t)(r * 64 + 32 + 16 * b + c);
    }
    const __m512i i0 = _mm512_loadu_si512(ix[0]), i1 = _mm512_loadu_si512(ix[1]);
    const __m512i zp = _mm512_set1_epi8((char)x_zp);
    const size_t ld_row = w * ld_x;
    for (size_t c0 = 0; c0 < nc; c0 += 64) {
        const size_t n = nc - c0 < 64 ? nc - c0 : 64, nb = (n + 15) / 16;
        const __mmask64 m = n == 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1;
        uint8_t *dst0 = quads + c0 / 16 * qb + pad * 64;
        for (size_t q = 0; q < (h + 3) / 4; q++) {
            const uint8_t *xr = x + c0 + 4 * q * ld_row;
            uint8_t *dst = dst0 + q * w_q * 64;
            const size_t rows = h - 4 * q < 4 ? h - 4 * q : 4;
            for (size_t col = 0; col < w; col++, xr += ld_x, dst += 64) {
                const __m512i r0 = _mm512_mask_loadu_epi8(zp, m, xr);
                const __m512i r1 = rows > 1 ? _mm512_mask_loadu_epi8(zp, m, xr + ld_row) : zp;
                const __m512i r2 = rows > 2 ? _mm512_mask_loadu_epi8(zp, m, xr + 2 * ld_row) : zp;
                const __m512i r3 = rows > 3 ? _mm512_mask_loadu_epi8(zp, m, xr + 3 * ld_row) : zp;
                const __m512i p01 = _mm512_permutex2var_epi8(r0, i0, r1);
                const __m512i p23 = _mm512_permutex2var_epi8(r2, i0, r3);
                _mm512_store_si512(dst, _mm512_unpacklo_epi16(p01, p23));
                if (nb > 1) _mm512_store_si512(dst + qb, _mm512_unpackhi_epi16(p01, p23));
                if (nb > 2) {
                    const __m512i q01 = _mm512_permutex2var_epi8(r0, i1, r1);
                    const __m512i q23 = _mm512_permutex2var_epi8(r2, i1, r3);
                    _mm512_store_si512(dst + 2 * qb, _mm512_unpacklo_epi16(q01, q23));
                    if (nb > 3) _mm512_store_si512(dst + 3 * qb, _mm512_unpackhi_epi16(q01, q23));
                }
            }
        }
    }
}

// --- epilogues ---

// Output pixel px, channels [cb, cb + 16) through the qn_qgemm_ref sequence (any epilogue but
// GELU).
QN_INLINE void store_ref(const struct qn_qs8_dwq_args *a, size_t px, size_t cb, __mmask16 m, __m512i acc) {
    const struct qn_act_avx512 act = qn_act_avx512_init(a->act);
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_loadu_ps(a->mul + cb));
    const float *res = a->res ? a->res + px * a->ld_r + cb : NULL;
    y = qn_epilogue_avx512(y, a->bias ? a->bias + cb : NULL, res, a->res_before_act, &act, m);
    if (a->out_u8)
        _mm512_mask_cvtepi32_storeu_epi8((uint8_t *)a->y + px * a->ld_y + cb, m,
                                         qn_quantize_avx512(y, a->inv_out, a->out_zp, a->out_qmax));
    else
        _mm512_mask_storeu_ps((float *)a->y + px * a->ld_y + cb, m, y);
}

// What the stores of one channel block read from the args, read once per block: stores
// through a float or byte pointer may alias the args as far as the compiler knows, so store
// functions reading a-> fields reloaded each of them after every store (~10 instructions per
// output; 1x14x14x96 3x3, FP32 out, 1 thread: 83-84 -> 107-108 GOP/s, 1x28x28x144 5x5 186-205
// -> 218, bench qs8_dwconv, alternating builds). The FP32 store still takes mul and bias as
// memory operands: held in registers they cost 64x28x28x144 5x5 (29 MB out) 10-15% (117-129
// against 134-141 GOP/s, three alternations; why, not found).
struct blk_out {
    __m512 mul, bias;           // for the u8 packs
    const float *mulp, *biasp;  // for the FP32 stores; biasp NULL without a bias
    const float *res;  // at the block's first output, or NULL
    size_t ld_r, ld_y;
    char *y;           // at the block's first output
};

QN_INLINE struct blk_out blk_out_init(const struct qn_qs8_dwq_args *a, size_t px, size_t cb, __mmask16 m) {
    const size_t es = a->out_u8 ? 1 : sizeof(float);
    return (struct blk_out){
        .mul = _mm512_loadu_ps(a->mul + cb),
        .bias = a->bias ? _mm512_maskz_loadu_ps(m, a->bias + cb) : _mm512_setzero_ps(),
        .mulp = a->mul + cb, .biasp = a->bias ? a->bias + cb : NULL,
        .res = a->res ? a->res + px * a->ld_r + cb : NULL,
        .ld_r = a->ld_r,
        .ld_y = a->ld_y * es,
        .y = (char *)a->y + (px * a->ld_y + cb) * es,
    };
}

// FP32 output without activation, output u of the block: (float)acc * mul, bias, residual.
QN_INLINE void store_f32(const struct blk_out *o, size_t u, __mmask16 m, __m512i acc) {
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_loadu_ps(o->mulp));
    if (o->biasp) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, o->biasp));
    if (o->res) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, o->res + u * o->ld_r));
    _mm512_mask_storeu_ps((float *)(o->y + u * o->ld_y), m, y);
}

// Outputs g .. g + n - 1 (n <= 4) of the block from acc[0..3] through qn_requant_fast.
QN_INLINE void store_fast4(const struct blk_out *o, const struct qn_requant_fast_avx512 *f, size_t g, size_t n,
                           __mmask16 m, const __m512i *acc) {
    const __m512 *b = o->biasp ? &o->bias : NULL;
    const __m512i q = qn_requant_fast_pack4_avx512(
        f, qn_requant_fast_r_avx512(f, acc[0], o->mul, b), qn_requant_fast_r_avx512(f, acc[1], o->mul, b),
        qn_requant_fast_r_avx512(f, acc[2], o->mul, b), qn_requant_fast_r_avx512(f, acc[3], o->mul, b));
    uint8_t *y = (uint8_t *)o->y + g * o->ld_y;
    _mm_mask_storeu_epi8(y, m, _mm512_castsi512_si128(q));
    if (n > 1) _mm_mask_storeu_epi8(y + o->ld_y, m, _mm512_extracti32x4_epi32(q, 1));
    if (n > 2) _mm_mask_storeu_epi8(y + 2 * o->ld_y, m, _mm512_extracti32x4_epi32(q, 2));
    if (n > 3) _mm_mask_storeu_epi8(y + 3 * o->ld_y, m, _mm512_extracti32x4_epi32(q, 3));
}

// --- kernels ---

// Epilogue kinds: the folded u8 requantization, FP32 out without activation, any other
// through the reference sequence lane by lane.
enum { EP_FAST_U8, EP_F32, EP_REF };

// The stores of one block's UR accumulators, the first n_out of them, from output px.
QN_INLINE void store_block(const struct qn_qs8_dwq_args *a, const struct qn_requant_fast_avx512 *f, int ep,
                           size_t px, size_t cb, __mmask16 m, const __m512i *acc, size_t n_out,
                           const size_t UR) {
    if (ep == EP_REF) {
#pragma GCC unroll 16
        for (size_t u = 0; u < UR; u++)
            if (u < n_out) store_ref(a, px + u, cb, m, acc[u]);
        return;
    }
    const struct blk_out o = blk_out_init(a, px, cb, m);
    if (ep == EP_FAST_U8) {
#pragma GCC unroll 2
        for (size_t g = 0; g < UR; g += 4)
            if (g < n_out) store_fast4(&o, f, g, n_out - g, m, acc + g);
    } else {
#pragma GCC unroll 16
        for (size_t u = 0; u < UR; u++)
            if (u < n_out) store_f32(&o, u, m, acc[u]);
    }
}

// Channel blocks [blk, blk + NB) of UR outputs of row oy from column ow (the first n_out
// stored), with NB independent sets of accumulators. quad_block runs pairs (NB = 2) where the
// registers hold them (k <= 5, UR <= 7: 16 accumulators and 10 weight vectors at most): a
// block of 7 outputs is one chain of loads, 3-6 dependent vpdpbusd and the requantization,
// too short for the out-of-order window to overlap with the next one, and the pair runs two.
// Measured (one thread, qn_qs8_conv_run, u8 out with ReLU6, three alternations with the
// one-block loop): 1x14x14x96 3x3 139-144 -> 150-161 GOP/s, 14x14x96 5x5 +4%, 7x7x576 5x5
// +4%; at k = 7 pairs ran 5-7% slower (spills). The one-block loop below stays its own code:
// this function with NB = 1 ran 11% slower at 14x14x96 7x7.
QN_INLINE void quad_cblocks(const struct qn_qs8_dwq_args *a, const struct qn_requant_fast_avx512 *f,
                            int ep, const struct qn_qs8_dwq_row row, const size_t *zoff, size_t qoff,
                            size_t px, size_t blk, size_t n_out, const size_t NB, const size_t K,
                            const size_t S, const size_t UR, const size_t P0, const size_t P1) {
    __m512i acc[2][16];
    __mmask16 m[2];
    const uint8_t *qx[2];
    const int8_t *ws[2];
#pragma GCC unroll 2
    for (size_t b = 0; b < NB; b++) {
        const size_t cb = (blk + b) * 16;
        m[b] = a->c - cb >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (a->c - cb)) - 1);
        const int32_t *zc = a->zcorr ? a->zcorr + (blk + b) * a->corr_stride : NULL;
#pragma GCC unroll 16
        for (size_t u = 0; u < QN_ROUND_UP(UR, 4); u++)  // lanes past UR only fill a pack's unstored slots
            acc[b][u] = u < UR && zc ? _mm512_load_si512(zc + zoff[u]) : _mm512_setzero_si512();
        qx[b] = a->quads + (blk + b) * a->quad_stride + qoff;
        ws[b] = a->wq + (blk + b) * a->block_stride + (size_t)row.set * a->set_stride;
    }
    for (size_t qq = 0; qq < row.nq; qq++) {
        __m512i wv[2][7];
#pragma GCC unroll 2
        for (size_t b = 0; b < NB; b++)
#pragma GCC unroll 7
            for (size_t j = 0; j < K; j++) wv[b][j] = _mm512_load_si512(ws[b] + (qq * K + j) * 64);
#pragma GCC unroll 32
        for (size_t p = P0; p < P1; p++) {
#pragma GCC unroll 2
            for (size_t b = 0; b < NB; b++) {
                const __m512i xv = _mm512_load_si512(qx[b] + qq * a->w_q * 64 + p * 64);
#pragma GCC unroll 16
                for (size_t u = 0; u < UR; u++)
                    if (p >= u * S && p - u * S < K) acc[b][u] = _mm512_dpbusd_epi32(acc[b][u], xv, wv[b][p - u * S]);
            }
        }
    }
#pragma GCC unroll 2
    for (size_t b = 0; b < NB; b++) store_block(a, f, ep, px, (blk + b) * 16, m[b], acc[b], n_out, UR);
}

// UR outputs of row oy from column ow (the first n_out stored), every channel block: the
// row's geometry is worked out once, then each block runs the sweep over padded columns
// ow * S + [P0, P1) (all (UR - 1) * S + K of them, or only the image's when one block covers
// a narrow row).
QN_INLINE void quad_block(const struct qn_qs8_dwq_args *a, const struct qn_requant_fast_avx512 *f,
                          int ep, size_t oy, size_t ow, size_t n_out, const size_t K,
                          const size_t S, const size_t UR, const size_t P0, const size_t P1) {
    const struct qn_qs8_dwq_row row = a->rows[oy];
    size_t zoff[16];  // each output's correction within a block
#pragma GCC unroll 16
    for (size_t u = 0; u < UR; u++)
        zoff[u] = ((size_t)row.rc * a->n_cc + a->col_class[u < n_out ? ow + u : ow]) * 16;
    // padded column ow * S is the sweep's first
    const size_t qoff = ((size_t)row.q_lo * a->w_q + ow * S) * 64;
    const size_t px = oy * a->w_out + ow;
    size_t cb = 0;
    if (K <= 5 && UR <= 7)  // pairs of blocks (quad_cblocks)
        for (; cb + 32 <= QN_ROUND_UP(a->c, 16); cb += 32)
            quad_cblocks(a, f, ep, row, zoff, qoff, px, cb / 16, n_out, 2, K, S, UR, P0, P1);
    for (; cb < a->c; cb += 16) {
        const __mmask16 m = a->c - cb >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (a->c - cb)) - 1);
        const size_t blk = cb / 16;
        const int32_t *zc = a->zcorr ? a->zcorr + blk * a->corr_stride : NULL;
        __m512i acc[16];
#pragma GCC unroll 16
        for (size_t u = 0; u < QN_ROUND_UP(UR, 4); u++)  // lanes past UR only fill a pack's unstored slots
            acc[u] = u < UR && zc ? _mm512_load_si512(zc + zoff[u]) : _mm512_setzero_si512();
        const uint8_t *qx = a->quads + blk * a->quad_stride + qoff;
        const int8_t *ws = a->wq + blk * a->block_stride + (size_t)row.set * a->set_stride;
        for (size_t qq = 0; qq < row.nq; qq++) {
            const uint8_t *xr = qx + qq * a->w_q * 64;
            __m512i wv[7];
#pragma GCC unroll 7
            for (size_t j = 0; j < K; j++) wv[j] = _mm512_load_si512(ws + (qq * K + j) * 64);
#pragma GCC unroll 32
            for (size_t p = P0; p < P1; p++) {
                const __m512i xv = _mm512_load_si512(xr + p * 64);
#pragma GCC unroll 16
                for (size_t u = 0; u < UR; u++)
                    if (p >= u * S && p - u * S < K) acc[u] = _mm512_dpbusd_epi32(acc[u], xv, wv[p - u * S]);
            }
        }
        store_block(a, f, ep, px, cb, m, acc, n_out, UR);
    }
}

// Every row in blocks of UR outputs (the last one partial, as UR or, if it has at most 4
// outputs, as 4).
QN_INLINE void quad_rows_ur(const struct qn_qs8_dwq_args *a, const struct qn_requant_fast_avx512 *f,
                            int ep, const size_t K, const size_t S, const size_t UR) {
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

// One block per row of a map W pixels wide with same padding (pad = K / 2): the sweep reads
// the image's columns only (a 4-wide map with k = 7 does 16 vpdpbusd per row, not 28).
QN_INLINE void quad_rows_narrow(const struct qn_qs8_dwq_args *a, const struct qn_requant_fast_avx512 *f,
                                int ep, const size_t K, const size_t S, const size_t W) {
    const size_t UR = (W - 1) / S + 1;  // w_out
    for (size_t oy = a->oy_lo; oy < a->oy_hi; oy++) quad_block(a, f, ep, oy, 0, UR, K, S, UR, K / 2, K / 2 + W);
}

QN_INLINE void quad_rows(const struct qn_qs8_dwq_args *a, const size_t K, const size_t S) {
    struct qn_requant_fast rf = {0};
    const int ep = qn_requant_fast_init(&rf, a->act, a->res != NULL, a->out_u8, a->inv_out, a->out_zp,
                                        a->out_qmax) ? EP_FAST_U8
                   : !a->out_u8 && a->act == QN_ACT_NONE ? EP_F32 : EP_REF;
    const struct qn_requant_fast_avx512 f = qn_requant_fast_avx512_init(&rf);
    // the map sizes of a 28x28 input halved by strides (28, 14, 7, 4): narrow rows of 4 and
    // 7 outputs; 14 in blocks of 7 (8 + 8 would compute 16), 28 as 8 + 8 + 8 + 4. Epilogues
    // of one output at a time (FP32, lane by lane) take rows of 14 and 28 in blocks of 14
    // (bench qs8_dwconv, FP32 out, 1 thread, three alternations: 1x14x14x96 3x3 127-131 ->
    // 134-138 GOP/s, 1x28x28x144 5x5 283-292 -> 298-314); the u8 one, whose packs take four
    // outputs at a time, ran no faster that way in the builds tried. Compare such changes over
    // several builds: -falign-loops=64 alone moved 1x28x28x144 3x3 u8 out by 9% (Zen 5).
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
    else if (ep != EP_FAST_U8 && a->w_out % 14 == 0)
        quad_rows_ur(a, &f, ep, K, S, 14);
    else if (a->w_out % 7 == 0 && a->w_out % 4 != 0)
        quad_rows_ur(a, &f, ep, K, S, 7);
    else
        quad_rows_ur(a, &f, ep, K, S, 8);
}

// Each kernel starts on a 64-byte boundary: the same instructions of the 5x5 kernel ran 3-4%
// slower at offset 16 than at 48 (1x28x28x144, FP32 out), so without it a change to one
// kernel moved the others' speed through their addresses.
#define QN_DWQ_KERNEL(K, S)                                                                            \
    __attribute__((aligned(64))) void qn_qs8_dwq_ukernel_##K##x##K##s##S##__avx512(                    \
        const struct qn_qs8_dwq_args *a) {                                                             \
        quad_rows(a, K, S);                                                                           \
    }

QN_DWQ_KERNEL(3, 1)
QN_DWQ_KERNEL(5, 1)
QN_DWQ_KERNEL(7, 1)
QN_DWQ_KERNEL(3, 2)
QN_DWQ_KERNEL(5, 2)
QN_DWQ_KERNEL(7, 2)
