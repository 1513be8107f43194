// Depthwise convolution micro-kernels, INT8, NHWC: u8 activations (zero point x_zp) x s8
// weights -> exact s32 per channel, then the requantization of qn_qgemm_ref (src/gemm-ref.c):
//   y = (float)acc * mul[ch]; bias; residual / act (struct qn_epilogue order);
//   u8 out: q = clamp(rint(y * inv_out) + out_zp, 0, out_qmax), else y stored as float.
// Same row / edge contract as f32-dwconv.h. Padded taps are skipped (the same as an input
// equal to x_zp). Every variant is bit-exact with the scalar kernel.
//
// Packed weights: w[(i * k + j) * c_pad + ch] = (uint16_t)w_s8 held in an int32 lane, zero for
// ch >= c (c_pad = c rounded up to 16). With the high half zero, vpmaddwd / vpdpwssd of the lane
// against (x - x_zp) in s32 is the exact product (x - x_zp) * w.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gemm.h"

struct qn_qs8_dwconv_args {
    size_t c, k;
    size_t w_in, w_out;
    size_t stride, pad;
    const uint8_t *x;       // input row under kernel row i_lo, pixel 0, channel 0
    size_t ld_x, ld_xrow;
    size_t i_lo, i_hi;
    int32_t x_zp;
    const int32_t *w;       // packed, see above: the full k x k window
    size_t c_pad;
    const float *mul;       // [c_pad] a_scale * w_scale[ch]
    const float *bias;      // [c] or NULL
    const float *res;       // residual row [w_out][ld_r] (FP32) or NULL
    size_t ld_r;
    bool res_before_act;
    enum qn_act act;
    bool out_u8;
    float inv_out;          // 1 / out_scale, computed once in float
    int32_t out_zp;         // 0..out_qmax
    int32_t out_qmax;       // upper clamp 1..255, already resolved (never 0)
    void *y;                // output row [w_out][ld_y], u8 or float
    size_t ld_y;
};

typedef void (*qn_qs8_dwconv_ukernel_fn)(const struct qn_qs8_dwconv_args *a);

void qn_qs8_dwconv_ukernel_kxk__scalar(const struct qn_qs8_dwconv_args *a);

void qn_qs8_dwconv_ukernel_3x3__avx2(const struct qn_qs8_dwconv_args *a);
void qn_qs8_dwconv_ukernel_5x5__avx2(const struct qn_qs8_dwconv_args *a);
void qn_qs8_dwconv_ukernel_7x7__avx2(const struct qn_qs8_dwconv_args *a);
void qn_qs8_dwconv_ukernel_kxk__avx2(const struct qn_qs8_dwconv_args *a);

void qn_qs8_dwconv_ukernel_3x3__avx512(const struct qn_qs8_dwconv_args *a);
void qn_qs8_dwconv_ukernel_5x5__avx512(const struct qn_qs8_dwconv_args *a);
void qn_qs8_dwconv_ukernel_7x7__avx512(const struct qn_qs8_dwconv_args *a);
void qn_qs8_dwconv_ukernel_kxk__avx512(const struct qn_qs8_dwconv_args *a);

// --- Row-quad kernels: four kernel rows per vpdpbusd ---
//
// The input of one 16-channel block is first transposed into row quads: image rows
// [4q, 4q + 4), column x, become 64 bytes [16 channels][4 rows] (qn_qs8_dwq_pack__*), so one
// vpdpbusd multiplies four kernel rows of 16 channels at once (u8 x s8, exact in s32). Quads
// start at image row 0: padding rows are not stored, and rows past the image in the last quad
// hold x_zp. Columns are stored padded, w_q = w_in + 2 pad + 8 stride of them with the image
// at [pad, pad + w_in) and zero bytes elsewhere: a zero input adds nothing, so the kernels
// sweep a fixed window of columns without testing for the image's edges (and blocks of
// outputs past w_out read zeros).
//
// Output row oy reads quads [q_lo, q_lo + nq) with a weight set of its own (shared by the rows
// whose windows sit alike in their quads): for quad q_lo + qq, kernel column j, 64 bytes
//   set[(qq * k + j) * 64 + ch * 4 + t] = w[4 (q_lo + qq) + t - r0][j][ch], r0 = oy * s - pad,
// zero where that kernel row is outside [0, k) or the image row 4 (q_lo + qq) + t outside the
// image. Columns outside the image hold zeros, so the sum runs over the real taps only and
//   sum (x - x_zp) w = acc - x_zp * sum of the real taps' weights,
// a correction that depends only on the output's row class (its real kernel rows [i_lo, i_hi))
// and column class (real kernel columns [j_lo, j_hi)): zcorr[(rc * n_cc + cc) * 16 + ch]
// = -x_zp * sum, per block. The kernels start each accumulator at it, or at zero where
// zcorr is NULL (x_zp 0: every correction is 0).
//
// At the plain AVX2 level (no VNNI) the 64 bytes are in pair order instead: each 8-channel
// half holds rows 0-1 of its channels, then rows 2-3, two bytes per channel
// (qn_qs8_dwq_pos), so one vpmaddwd of a 16-byte quarter widened to s16 gives the 8 channels'
// sums of two rows in channel order, and both quarters add into the same accumulators.
//
// A depthwise layer with ReLU / ReLU6 / no activation, u8 output and no residual requantizes
// through qn_requant_fast (qs8-gemm.h): four outputs per pack, the activation folded into the
// final clamp. Other epilogues go lane by lane through the qn_qgemm_ref sequence.

struct qn_qs8_dwq_row {
    uint16_t set;   // weight set
    uint16_t q_lo;  // first quad
    uint16_t nq;    // quads read
    uint16_t rc;    // row class (zcorr)
};

struct qn_qs8_dwq_args {
    size_t c;                         // channels (blocks of 16, the last one partial)
    size_t w_in, pad;                 // input columns, padding (k and stride: the kernel's)
    size_t w_q, h_out, w_out;         // w_q: quad columns (qn_qs8_dwq_width)
    size_t oy_lo, oy_hi;              // output rows this call computes
    const uint8_t *quads;             // block cb at quads + cb * quad_stride:
    size_t quad_stride;               //   [ceil(h_in / 4)][w_q][64]
    const int8_t *wq;                 // weight set s of block cb at
    size_t set_stride, block_stride;  //   wq + cb * block_stride + s * set_stride (bytes)
    const struct qn_qs8_dwq_row *rows;  // [h_out]
    const uint8_t *col_class;         // [w_out]
    const int32_t *zcorr;             // block cb at zcorr + cb * corr_stride: [n_rc][n_cc][16]; NULL: 0
    size_t n_cc, corr_stride;
    const float *mul;                 // [c rounded up to 16] a_scale * w_scale
    const float *bias;                // [c] or NULL
    const float *res;                 // residual [h_out * w_out][ld_r] or NULL
    size_t ld_r;
    bool res_before_act;
    enum qn_act act;                  // never GELU
    bool out_u8;
    float inv_out;
    int32_t out_zp, out_qmax;
    void *y;                          // output [h_out * w_out][ld_y], u8 or float
    size_t ld_y;
    bool pairs;                       // quads and weights in pair order (read by the scalar kernel)
};

typedef void (*qn_qs8_dwq_ukernel_fn)(const struct qn_qs8_dwq_args *a);

// Byte of channel l (0..15) and quad row t (0..3) within a block's 64-byte quad column (and
// weight vector): l * 4 + t, or in pair order (plain AVX2).
static inline size_t qn_qs8_dwq_pos(bool pairs, size_t l, size_t t) {
    return pairs ? l / 8 * 32 + t / 2 * 16 + l % 8 * 2 + t % 2 : l * 4 + t;
}

// The maps whose rows the kernels run as one block sweeping the image's columns only (same
// padding; the supernet's 4 and 7 at stride 1, 7, 8 and 14 at stride 2): their input width,
// else 0.
static inline size_t qn_qs8_dwq_narrow_width(size_t k, size_t stride, size_t pad, size_t w_in) {
    if (pad != k / 2) return 0;
    if (stride == 1) return w_in == 4 || w_in == 7 ? w_in : 0;
    return w_in == 7 || w_in == 8 || w_in == 14 ? w_in : 0;
}

// Quad columns and bytes of one 16-channel block's quads.
static inline size_t qn_qs8_dwq_width(size_t w_in, size_t pad, size_t stride) {
    return w_in + 2 * pad + 8 * stride;
}
static inline size_t qn_qs8_dwq_bytes(size_t h_in, size_t w_q) { return (h_in + 3) / 4 * w_q * 64; }

// The quads of channels [0, nc) of an image x[h][w][ld_x] (x at the first channel): block b
// (channels [16b, 16b + 16)) at quads + b * qb, w_q columns with the image at [pad, pad + w);
// rows past h and channels past nc hold x_zp. Columns outside the image must be zero already:
// the packs leave them alone (a buffer zeroed once serves every call).
typedef void (*qn_qs8_dwq_pack_fn)(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc, uint8_t x_zp,
                                   size_t pad, size_t w_q, uint8_t *quads, size_t qb);
void qn_qs8_dwq_pack__scalar(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc,
                             uint8_t x_zp, size_t pad, size_t w_q, uint8_t *quads, size_t qb);
void qn_qs8_dwq_pack__avx512(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc,
                             uint8_t x_zp, size_t pad, size_t w_q, uint8_t *quads, size_t qb);
// The same for CPUs with AVX512-VBMI (qn_cpu()->avx512vbmi), half the shuffles.
void qn_qs8_dwq_pack_vbmi__avx512(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc,
                                  uint8_t x_zp, size_t pad, size_t w_q, uint8_t *quads, size_t qb);
// AVX2 (for the AVX-VNNI kernels).
void qn_qs8_dwq_pack__avx2(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc,
                           uint8_t x_zp, size_t pad, size_t w_q, uint8_t *quads, size_t qb);
// Pair order (for the plain AVX2 kernels).
void qn_qs8_dwq_pack_pairs__scalar(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc,
                                   uint8_t x_zp, size_t pad, size_t w_q, uint8_t *quads, size_t qb);
void qn_qs8_dwq_pack_pairs__avx2(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc,
                                 uint8_t x_zp, size_t pad, size_t w_q, uint8_t *quads, size_t qb);

// Reference: plain loops over the quads, any k and stride.
void qn_qs8_dwq_ukernel_kxk__scalar(const struct qn_qs8_dwq_args *a, size_t k, size_t stride);

void qn_qs8_dwq_ukernel_3x3s1__avx512(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_5x5s1__avx512(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_7x7s1__avx512(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_3x3s2__avx512(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_5x5s2__avx512(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_7x7s2__avx512(const struct qn_qs8_dwq_args *a);

// The same on ymm (qs8-dwconv-quad-avx2.h): AVX-VNNI vpdpbusd, or AVX2 vpmaddwd on s16.
void qn_qs8_dwq_ukernel_3x3s1__avx2(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_5x5s1__avx2(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_7x7s1__avx2(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_3x3s2__avx2(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_5x5s2__avx2(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_7x7s2__avx2(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_3x3s1__avxvnni(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_5x5s1__avxvnni(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_7x7s1__avxvnni(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_3x3s2__avxvnni(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_5x5s2__avxvnni(const struct qn_qs8_dwq_args *a);
void qn_qs8_dwq_ukernel_7x7s2__avxvnni(const struct qn_qs8_dwq_args *a);
