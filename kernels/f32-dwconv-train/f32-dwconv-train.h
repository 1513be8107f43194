// Depthwise convolution kernels for training, one NHWC image at a time, on ZERO-PADDED input:
// the operator (src/nn.c) copies each image into a buffer with the borders already applied, so
// every output pixel sees all k x k taps and the kernels have no bounds logic at all.
//
// Forward:  y[oh][ow][c] = sum_{i,j} xp[oh*s + i][ow*s + j][c] * w[i][j][c]
//           (xp is x padded by k/2 on every side: [Hp][Wp][C]).
// Input gradient: the same forward kernel, stride 1, on dy dilated by the stride and padded,
//           with the kernel flipped (see qn_nn_dw_bwd).
// Weight gradient: dw[i][j][c] += sum_{oh,ow} dy[oh][ow][c] * xp[oh*s + i][ow*s + j][c].
#pragma once

#include <stddef.h>

struct qn_dwt_shape {
    int Hp, Wp, C, k, stride, Ho, Wo;  // padded input, channels, kernel, stride, output
};

// w[i*ws_h + j*ws_w + c]; y [Ho][Wo][C] overwritten.
typedef void (*qn_f32_dwconv_fwd_fn)(const struct qn_dwt_shape *s, const float *xp, const float *w, size_t ws_h,
                                     size_t ws_w, float *y);
// dw [k][k][C] dense, accumulated.
typedef void (*qn_f32_dwconv_wgrad_fn)(const struct qn_dwt_shape *s, const float *xp, const float *dy, float *dw);

void qn_f32_dwconv_fwd__scalar(const struct qn_dwt_shape *s, const float *xp, const float *w, size_t ws_h,
                               size_t ws_w, float *y);
void qn_f32_dwconv_wgrad__scalar(const struct qn_dwt_shape *s, const float *xp, const float *dy, float *dw);
void qn_f32_dwconv_fwd__avx512(const struct qn_dwt_shape *s, const float *xp, const float *w, size_t ws_h,
                               size_t ws_w, float *y);
void qn_f32_dwconv_wgrad__avx512(const struct qn_dwt_shape *s, const float *xp, const float *dy, float *dw);
