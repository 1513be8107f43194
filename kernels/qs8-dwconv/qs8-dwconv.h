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

// --- Row-quad kernel (AVX-512 VNNI): four kernel rows per vpdpbusd ---
//
// One call computes a whole image for one 16-channel block. It first transposes the block's
// input into row quads: padded rows [4q, 4q + 4) (rows outside the image hold x_zp) become, per
// column, 64 bytes [16 channels][4 rows], so one vpdpbusd multiplies 4 kernel rows of 16
// channels at once against s8 weights. Output row oy's window starts at padded row s * oy, at
// phase ph = (s * oy) % 4 of quad (s * oy) / 4, and spans nq(ph) = (ph + k + 3) / 4 quads; each
// phase has its own weight layout with zeros outside the window:
//   wq[(((ph * QN_DWQ_NQ(k) + q) * k + j) * c_pad + ch) * 4 + t] = w[4q + t - ph][j][ch] or 0.
// Columns outside the image are skipped, padded rows are not, so the exact sum is
//   sum (x - x_zp) w = acc - x_zp * (colpre[j_hi] - colpre[j_lo]),
// colpre[j][ch] = sum over kernel rows i and columns j' < j of w[i][j'][ch].
#define QN_DWQ_NQ(k) (((k) + 6) / 4)

struct qn_qs8_dwconv_quad_args {
    struct qn_qs8_dwconv_args r;  // x: the image [h_in][w_in][ld_x]; y: the image output
                                  // [h_out][w_out][ld_y]; res: [h_out][w_out][ld_r] or NULL;
                                  // ld_xrow, i_lo, i_hi and w unused
    size_t h_in, h_out;
    const int8_t *wq;             // see above
    const int32_t *colpre;        // [k + 1][c_pad]
    size_t cb;                    // first channel of the block
    uint8_t *quads;               // qn_qs8_dwconv_quad_scratch() bytes, 64-byte aligned
};

// Scratch bytes one call needs.
static inline size_t qn_qs8_dwconv_quad_scratch(size_t h_in, size_t w_in, size_t pad) {
    return (h_in + 2 * pad + 3) / 4 * w_in * 64;
}

void qn_qs8_dwconv_quad_3x3__avx512(const struct qn_qs8_dwconv_quad_args *a);
void qn_qs8_dwconv_quad_5x5__avx512(const struct qn_qs8_dwconv_quad_args *a);
void qn_qs8_dwconv_quad_7x7__avx512(const struct qn_qs8_dwconv_quad_args *a);
