// Direct convolution micro-kernels for a small reduction, INT8, NHWC: u8 activations (zero
// point x_zp) x s8 weights -> exact s32 per output channel, then the requantization of
// qn_qgemm_ref (src/gemm-ref.c):
//   y = (float)acc * mul[o]; bias; residual / act (struct qn_epilogue order);
//   u8 out: q = clamp(rint(y * inv_out) + out_zp, 0, out_qmax), else y stored as float.
// Same row / window / tap-order contract as f32-conv-hwc/f32-conv-hwc.h: the SIMD kernels widen
// the window to s32 (x - x_zp), zero outside the image, so a padded tap adds exactly 0 (an input
// equal to x_zp), and acc = sum over the valid taps of (x - x_zp) * w, the im2col + GEMM
// accumulator. Every variant is bit-exact with the scalar kernel (GELU only ever runs the
// scalar one, where tanhf matches qn_act_ref).
//
// Packed weights: tap t = (i * kw + j) * c_in + ci, channel o at w[t * c_pad + o] =
// (uint16_t)w_s8 held in an int32 lane, zero for o >= c_out (c_pad = c_out rounded up to
// QN_CONV_HWC_CPAD). A tap is one embedded broadcast of the window's s32 (x - x_zp) into
// vpdpwssd / vpmaddwd against the weight lane: the s32's low half is the s16 value, its high
// half the sign, which meets the weight's zero high half, so the lane is the exact product
// (x - x_zp) * w, |.| <= 255 * 127; T <= 256 taps keep |acc| < 2^24 (far from s32 overflow).
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "f32-conv-hwc/f32-conv-hwc.h"
#include "gemm.h"

struct qn_qs8_conv_hwc_args {
    size_t c_in, c_out;
    size_t kw;
    size_t w_in, w_out;
    size_t stride, pad;
    const uint8_t *x;       // input row under kernel row i_lo, pixel 0, channel 0
    size_t ld_x, ld_xrow;
    size_t i_lo, i_hi;
    int32_t x_zp;
    const int32_t *w;       // packed, see above: the full kh x kw window
    size_t c_pad;
    const float *mul;       // [c_pad] a_scale * w_scale[o]
    const float *bias;      // [c_out] or NULL
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

typedef void (*qn_qs8_conv_hwc_ukernel_fn)(const struct qn_qs8_conv_hwc_args *a);

void qn_qs8_conv_hwc_ukernel__scalar(const struct qn_qs8_conv_hwc_args *a);
void qn_qs8_conv_hwc_ukernel_8x8__avx2(const struct qn_qs8_conv_hwc_args *a);
void qn_qs8_conv_hwc_ukernel_8x16__avx512(const struct qn_qs8_conv_hwc_args *a);
