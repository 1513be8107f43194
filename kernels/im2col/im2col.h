// im2col for NHWC images: one image [h][w][ld_x] -> rows [h_out * w_out][kh * kw * c] (row
// stride ld_col), column order (i, j, ch) to match OHWI weights. Taps in the padding get
// `pad_value` (0.0f for FP32; the activation zero point for u8, so they contribute exactly 0).
// Plain C: the copies are memcpy of c contiguous channels, which the compiler / libc vectorize.
#pragma once

#include <stddef.h>
#include <stdint.h>

struct qn_im2col_geom {
    size_t h, w, c, ld_x;
    size_t kh, kw, stride_h, stride_w, pad_h, pad_w;
    size_t h_out, w_out;
};

// Output rows [row0, row1) of the image (row = oh * w_out + ow).
void qn_f32_im2col(const struct qn_im2col_geom *g, const float *x, float *col, size_t ld_col,
                   size_t row0, size_t row1);
void qn_u8_im2col(const struct qn_im2col_geom *g, const uint8_t *x, uint8_t pad_value,
                  uint8_t *col, size_t ld_col, size_t row0, size_t row1);
