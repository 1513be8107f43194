// Direct convolution micro-kernels for a small reduction, FP32, NHWC (after XNNPACK's
// f32-conv-hwc, the first-layer kernels): one output row, all output channels, per call.
// For convs like the 3x3, c_in = 1 stem, where im2col + GEMM spends more time copying and
// padding N to the micro-tile than multiplying (T = kh * kw * c_in taps, T <= QN_CONV_HWC_MAX_T).
//
// Vectorized over output channels: each tap (i, j, ci) is one broadcast input value times one
// packed weight vector. The caller handles the vertical edges: it passes only the kernel rows
// [i_lo, i_hi) that fall inside the image. The scalar kernel clips each pixel's column taps
// to the image. The SIMD kernels copy the input window of a chunk of output columns (the valid
// rows, every column any of its taps touches) into a stack buffer whose columns outside the
// image are zero, then run every pixel of the chunk as an interior pixel: blocks of UR pixels
// over a fixed list of tap offsets, no edge tests and no border code path. A zero column adds
// exactly 0 to the sum, the same as skipping the padded tap.
// Each output is acc = sum over the taps in (i, j, ci) order, then bias, residual / act as in
// struct qn_epilogue (GELU never reaches the SIMD kernels: the operator runs it through the
// scalar one, see f32-dwconv/dwconv-epilogue.h).
// The scalar kernel uses separate mul + add, the SIMD ones FMA (tests/test-f32-conv.c bound).
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "gemm.h"

// Most taps a direct conv takes (the interior keeps one offset per tap on the stack).
#define QN_CONV_HWC_MAX_T 256

// Packed weights: tap t = (i * kw + j) * c_in + ci, output channel o at w[t * c_pad + o],
// zero for o >= c_out; c_pad = c_out rounded up to QN_CONV_HWC_CPAD (one zmm of floats), so
// every tap's vector is 64-byte aligned in a qn_alloc buffer and the SIMD kernels load whole
// vectors without masks (the zero lanes are never stored).
#define QN_CONV_HWC_CPAD 16

struct qn_f32_conv_hwc_args {
    size_t c_in, c_out;
    size_t kw;              // kernel columns (rows come as [i_lo, i_hi))
    size_t w_in, w_out;     // input / output row length, pixels
    size_t stride, pad;     // horizontal; pad < kw
    const float *x;         // input row under kernel row i_lo, pixel 0, channel 0
    size_t ld_x;            // elements between input pixels (>= c_in)
    size_t ld_xrow;         // elements between input rows
    size_t i_lo, i_hi;      // kernel rows inside the image
    const float *w;         // packed, see above: the full kh x kw window
    size_t c_pad;
    const float *bias;      // [c_out] or NULL
    const float *res;       // residual row [w_out][ld_r] or NULL
    size_t ld_r;
    bool res_before_act;
    enum qn_act act;        // not GELU in the SIMD kernels
    float *y;               // output row [w_out][ld_y]
    size_t ld_y;
};

typedef void (*qn_f32_conv_hwc_ukernel_fn)(const struct qn_f32_conv_hwc_args *a);

void qn_f32_conv_hwc_ukernel__scalar(const struct qn_f32_conv_hwc_args *a);
void qn_f32_conv_hwc_ukernel_8x8__avx2(const struct qn_f32_conv_hwc_args *a);
void qn_f32_conv_hwc_ukernel_8x16__avx512(const struct qn_f32_conv_hwc_args *a);

// --- the SIMD kernels' input window ---

// Elements (float, or s32 for INT8) of the stack window: 16 KiB. A chunk of cw output columns
// needs rows * c_in * ((cw - 1) * stride + kw) of them; rows * kw * c_in <= QN_CONV_HWC_MAX_T
// <= QN_CONV_HWC_XBUF guarantees cw >= 1.
#define QN_CONV_HWC_XBUF 4096

struct qn_conv_hwc_window {
    size_t cw;      // output columns per chunk (the whole row when it fits)
    size_t ld_row;  // elements between window rows: ((cw - 1) * stride + kw) * c_in
};

static inline struct qn_conv_hwc_window qn_conv_hwc_window(size_t rows, size_t c_in, size_t kw,
                                                           size_t stride, size_t w_out) {
    struct qn_conv_hwc_window g;
    g.cw = (QN_CONV_HWC_XBUF / (rows * c_in) - kw) / stride + 1;
    if (g.cw > w_out) g.cw = w_out;
    g.ld_row = ((g.cw - 1) * stride + kw) * c_in;
    return g;
}

// Window offsets of the taps relative to the pixel under tap (i_lo, 0, 0), in packed tap order
// (rows [i_lo, i_hi)): off[t] = (i - i_lo) * ld_row + j * c_in + ci. Returns the count.
static inline size_t qn_conv_hwc_offsets(size_t rows, size_t kw, size_t c_in, size_t ld_row,
                                         size_t *off) {
    size_t t = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < kw; j++)
            for (size_t ci = 0; ci < c_in; ci++) off[t++] = r * ld_row + j * c_in + ci;
    return t;
}

// In-image columns [lo, hi) of the `cols` window columns from input column c0 (c0 may be
// negative: left padding).
static inline void qn_conv_hwc_cols(ptrdiff_t c0, size_t cols, size_t w_in, size_t *lo,
                                    size_t *hi) {
    const ptrdiff_t l = c0 < 0 ? 0 : c0, h = c0 + (ptrdiff_t)cols;
    *lo = (size_t)l;
    *hi = h > (ptrdiff_t)w_in ? w_in : (size_t)h;
    if (*hi < *lo) *hi = *lo;
}
