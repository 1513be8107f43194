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
