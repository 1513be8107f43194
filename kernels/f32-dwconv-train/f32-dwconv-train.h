// Depthwise convolution kernels for training, one NHWC image per call, padding p = k/2 on every
// side, odd k. Padding is never materialized: every kernel visits only the taps that land inside
// the image (a padded tap contributes zero, so skipping it is exact).
//
// Forward:         y[oh][ow][c]  = sum_{i,j valid} x[oh*s + i - p][ow*s + j - p][c] * w[i][j][c]
// Input gradient:  dx[ih][iw][c] = sum over (oh, ow, i, j) with oh*s + i - p = ih and
//                  ow*s + j - p = iw: dy[oh][ow][c] * w[i][j][c]
//                  (the transposed convolution: for stride 2 only the taps i = ih + p (mod 2),
//                  j = iw + p (mod 2) exist, so no zero of a dilated dy is ever multiplied)
// Weight gradient: dw[i][j][c] += sum_{oh,ow valid} dy[oh][ow][c] * x[oh*s + i - p][ow*s + j - p][c]
//
// Images are dense: x [H][W][C], y and dy [Ho][Wo][C], dx [H][W][C]. Weights are a strided
// window (the elastic kernel is a view into a larger supernet tensor): w[i*ws_h + j*ws_w + c];
// the weight gradient takes its own strides the same way.
#pragma once

#include <stddef.h>

struct qn_dwt_shape {
    int H, W, C, k, stride, Ho, Wo;  // input, channels, kernel (odd), stride, output (Ho = (H-1)/s + 1)
};

// y overwritten.
typedef void (*qn_f32_dwconv_fwd_fn)(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h,
                                     size_t ws_w, float *y);
// dx overwritten.
typedef void (*qn_f32_dwconv_dx_fn)(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h,
                                    size_t ws_w, float *dx);
// dw[i*ds_h + j*ds_w + c] accumulated (+=).
typedef void (*qn_f32_dwconv_wgrad_fn)(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw,
                                       size_t ds_h, size_t ds_w);

void qn_f32_dwconv_fwd__scalar(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h,
                               size_t ws_w, float *y);
void qn_f32_dwconv_dx__scalar(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h,
                              size_t ws_w, float *dx);
void qn_f32_dwconv_wgrad__scalar(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw,
                                 size_t ds_h, size_t ds_w);

// k = 3, 5, 7 and stride 1, 2; anything else falls back to the scalar kernels.
void qn_f32_dwconv_fwd__avx512(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h,
                               size_t ws_w, float *y);
void qn_f32_dwconv_dx__avx512(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h,
                              size_t ws_w, float *dx);
void qn_f32_dwconv_wgrad__avx512(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw,
                                 size_t ds_h, size_t ds_w);
