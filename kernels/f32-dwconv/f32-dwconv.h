// Depthwise convolution micro-kernels, FP32, NHWC: one output row, all channels, per call.
//
// The caller handles the vertical edges (it passes only the kernel rows [i_lo, i_hi) that land
// inside the image); the kernel handles the horizontal ones by splitting the row into a left
// border, an interior where every tap is in the image (no edge tests inside), and a right
// border. Padded taps are skipped, which is the same as multiplying by zero.
// Each output is acc = sum over valid taps in (i, j) order, then bias, residual / act as in
// struct qn_epilogue. The scalar kernel accumulates with separate mul + add; SIMD kernels use FMA
// (one rounding per tap instead of two: see tests/test-f32-conv.c for the tolerance).
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "gemm.h"

struct qn_f32_dwconv_args {
    size_t c;               // channels
    size_t k;               // kernel is k x k (the specialized kernels ignore it)
    size_t w_in, w_out;     // input / output row length, pixels
    size_t stride, pad;     // same both dims; pad < k
    const float *x;         // input row under kernel row i_lo, pixel 0, channel 0
    size_t ld_x;            // elements between input pixels
    size_t ld_xrow;         // elements between input rows
    size_t i_lo, i_hi;      // kernel rows inside the image
    const float *w;         // w[i][j][ch] at w[i * ld_wh + j * ld_ww + ch], the k x k window
    size_t ld_wh, ld_ww;
    const float *bias;      // [c] or NULL
    const float *res;       // residual row [w_out][ld_r] or NULL
    size_t ld_r;
    bool res_before_act;
    enum qn_act act;
    float *y;               // output row [w_out][ld_y]
    size_t ld_y;
};

typedef void (*qn_f32_dwconv_ukernel_fn)(const struct qn_f32_dwconv_args *a);

void qn_f32_dwconv_ukernel_kxk__scalar(const struct qn_f32_dwconv_args *a);

void qn_f32_dwconv_ukernel_3x3__avx2(const struct qn_f32_dwconv_args *a);
void qn_f32_dwconv_ukernel_5x5__avx2(const struct qn_f32_dwconv_args *a);
void qn_f32_dwconv_ukernel_7x7__avx2(const struct qn_f32_dwconv_args *a);
void qn_f32_dwconv_ukernel_kxk__avx2(const struct qn_f32_dwconv_args *a);

void qn_f32_dwconv_ukernel_3x3__avx512(const struct qn_f32_dwconv_args *a);
void qn_f32_dwconv_ukernel_5x5__avx512(const struct qn_f32_dwconv_args *a);
void qn_f32_dwconv_ukernel_7x7__avx512(const struct qn_f32_dwconv_args *a);
void qn_f32_dwconv_ukernel_kxk__avx512(const struct qn_f32_dwconv_args *a);

// Interior output columns [ow_lo, ow_hi): every tap of the row is inside [0, w_in).
static inline void qn_dwconv_interior(size_t w_in, size_t w_out, size_t k, size_t stride,
                                      size_t pad, size_t *ow_lo, size_t *ow_hi) {
    size_t lo = (pad + stride - 1) / stride;
    size_t hi = w_in + pad >= k ? (w_in + pad - k) / stride + 1 : 0;
    if (lo > w_out) lo = w_out;
    if (hi > w_out) hi = w_out;
    if (hi < lo) hi = lo;
    *ow_lo = lo;
    *ow_hi = hi;
}

// The kernel rows of output row oh that fall inside the image: rows of them from kernel row
// i_lo, which sits on input row in_row (0 when rows is 0).
struct qn_dwconv_rows {
    size_t i_lo, rows, in_row;
};

static inline struct qn_dwconv_rows qn_dwconv_rows(size_t oh, size_t h_in, size_t k, size_t stride,
                                                   size_t pad) {
    const ptrdiff_t top = (ptrdiff_t)(oh * stride) - (ptrdiff_t)pad;
    const size_t i_lo = top < 0 ? (size_t)-top : 0;
    const ptrdiff_t hi = (ptrdiff_t)h_in - top;
    const size_t i_hi = hi < (ptrdiff_t)k ? (hi > (ptrdiff_t)i_lo ? (size_t)hi : i_lo) : k;
    const size_t rows = i_hi - i_lo;
    return (struct qn_dwconv_rows){i_lo, rows, rows ? (size_t)(top + (ptrdiff_t)i_lo) : 0};
}

// Valid kernel columns [j_lo, j_hi) for output column ow.
static inline void qn_dwconv_taps(size_t ow, size_t w_in, size_t k, size_t stride, size_t pad,
                                  size_t *j_lo, size_t *j_hi) {
    ptrdiff_t x0 = (ptrdiff_t)(ow * stride) - (ptrdiff_t)pad;
    ptrdiff_t lo = x0 < 0 ? -x0 : 0;
    ptrdiff_t hi = (ptrdiff_t)w_in - x0;
    if (hi > (ptrdiff_t)k) hi = (ptrdiff_t)k;
    if (hi < lo) hi = lo;
    *j_lo = (size_t)lo;
    *j_hi = (size_t)hi;
}

// --- band form (AVX-512) ---
//
// Output rows [oh0, oh1) of one image and one block of up to 16 channels per call, read in
// place: blocks of 7 or 8 output pixels (4 at a row's end) keep their accumulators, the k
// weight vectors of a kernel row and one input pixel at a time in registers; each pixel
// loaded feeds its k taps. Only the blocks whose window crosses a row border test (once per
// window pixel, not per tap) and skip the pixels outside. Same padding at stride 1 on rows of
// a multiple of 7 pixels (MBConv's 7, 14, 28, 56, 112) takes blocks of 14 (7 for a 7-pixel
// row or an odd multiple's last block) that start or end exactly at the row's ends, so the
// pixels outside are known at compile time and nothing is tested (3x3 14x14x96, one thread:
// 4.8 -> 3.6 us, a 14-pixel row one block instead of two edge blocks of 7). Rows outside the
// image are skipped as the row kernels skip them, so the outputs equal the row kernels'. Full
// 16-channel blocks load and store unmasked. What the row kernels lack at batch 1, where a
// layer is a few microseconds. (An earlier form copied the band's rows into a zero-padded slab
// first, to have no edge tests at all; the copy cost more: 3x3 14x14x96 4.25-4.58 us against
// 4.06-4.10.)
// Square k in {3, 5, 7}, stride 1 or 2, any act but GELU.
struct qn_f32_dwconv_band_args {
    size_t k, stride, pad;          // square kernel; stride and padding the same both dims
    size_t h_in, w_in, w_out;       // image rows and row lengths, pixels
    size_t oh0, oh1;                // output rows of the band
    size_t nc;                      // channels of the block, 1..16
    const float *x;                 // image pixel (0, 0), the block's channel 0
    size_t ld_x;                    // elements between input pixels (rows are w_in * ld_x apart)
    const float *w;                 // w[i][j][ch] at w[i * ld_wh + j * ld_ww + ch], block channel 0
    size_t ld_wh, ld_ww;
    const float *bias;              // the block's channel 0, or NULL
    const float *res;               // pixel (oh, ow) at res[(oh * w_out + ow) * ld_r], or NULL
    size_t ld_r;
    bool res_before_act;
    enum qn_act act;                // not GELU
    float *y;                       // pixel (oh, ow) at y[(oh * w_out + ow) * ld_y]
    size_t ld_y;
    bool stream;                    // full blocks of a 64-byte aligned y (ld_y a multiple of 16)
                                    // may be stored non-temporally; the caller fences
    // Lines for the caller's next call, fetched while this one computes, spread over the band's
    // output rows: pf_lines cache lines from pf into L2 (its input), pfw_lines from pfw for
    // writing (its output). None when 0. See band_task in src/conv.c.
    const char *pf, *pfw;
    size_t pf_lines, pfw_lines;
};

// The share of the prefetches (qn_f32_dwconv_band_args pf / pfw) that goes with output row
// `row` of `rows`: lines [*lo, *hi) of `lines`.
static inline void qn_dwconv_pf_share(size_t lines, size_t row, size_t rows, size_t *lo, size_t *hi) {
    const size_t per = (lines + rows - 1) / rows;
    *lo = row * per < lines ? row * per : lines;
    *hi = *lo + per < lines ? *lo + per : lines;
}

static inline void qn_dwconv_band_prefetch(const struct qn_f32_dwconv_band_args *a, size_t oh) {
    // Nothing to fetch (batch 1, a thread's last image): skip the shares' two divisions too
    // (Zen 5, bench-kernels 1x7x7x160 3x3, 1 thread: AVX2 53 -> 64-65 GFLOP/s, AVX-512 +3%).
    if (!a->pf_lines && !a->pfw_lines) return;
    const size_t rows = a->oh1 - a->oh0, row = oh - a->oh0;
    size_t lo, hi;
    qn_dwconv_pf_share(a->pf_lines, row, rows, &lo, &hi);
    for (size_t q = lo; q < hi; q++) __builtin_prefetch(a->pf + 64 * q, 0, 2);  // prefetcht1: L2
    qn_dwconv_pf_share(a->pfw_lines, row, rows, &lo, &hi);
    for (size_t q = lo; q < hi; q++) __asm__ volatile("prefetchw %0" : : "m"(a->pfw[64 * q]));
}

#define QN_F32_DWCONV_BAND_FLOATS 16384  // 64 KiB: the most one band task reads of a block

// Pixel columns a row's blocks span: blocks of 8 output pixels (7 when the row is a multiple
// of 7), padding included.
static inline size_t qn_f32_dwconv_band_cols(size_t k, size_t stride, size_t w_out) {
    return ((w_out + 7) / 8 * 8 - 1) * stride + k;
}

// Output rows per band task: as many as read about 32 KiB of a 16-channel block (L1-sized),
// at least one; 0 when one output row's k input rows exceed QN_F32_DWCONV_BAND_FLOATS (such
// wide rows take the row kernels).
static inline size_t qn_f32_dwconv_band_rows(size_t k, size_t stride, size_t w_out, size_t h_out) {
    const size_t row = qn_f32_dwconv_band_cols(k, stride, w_out) * 16;
    if (k * row > QN_F32_DWCONV_BAND_FLOATS) return 0;
    const size_t in_rows = QN_F32_DWCONV_BAND_FLOATS / 2 / row;
    size_t b = in_rows >= k ? (in_rows - k) / stride + 1 : 1;
    return b < h_out ? b : h_out;
}

// A band of all four rows of a 4x4 output whose input qn_f32_dwconv_small4_fits (4x4 at stride
// 1, 7x7 at stride 2, same padding: MBConv's last stages of a 28x28 input at batch 1) runs all
// 16 outputs at once instead, with the taps that exist chosen at compile time.
void qn_f32_dwconv_band__avx512(const struct qn_f32_dwconv_band_args *a);
bool qn_f32_dwconv_small4_fits(size_t k, size_t stride, size_t pad, size_t h_in, size_t w_in);
// The same at AVX2 (f32-dwconv-band-avx2.c): 8-channel halves, blocks of at most 8 pixels.
void qn_f32_dwconv_band__avx2(const struct qn_f32_dwconv_band_args *a);
