// Depthwise convolution kernels for training, one NHWC image at a time, padding k/2:
// forward, input gradient (dgrad) and weight gradient (wgrad). Channels are contiguous and
// vectorized; the valid tap range of every output pixel is computed up front, so there is no
// per-element bounds test.
//
// x [H][W][C], y / dy [Ho][Wo][C], weights w[i*ws_h + j*ws_w + c] (a centred window of the
// supernet tensor), dw [k][k][C] dense (the caller adds it into the supernet gradient).
#pragma once

#include <stddef.h>

struct qn_dwt_shape {
    int H, W, C, k, stride, Ho, Wo;
};

// y = conv(x, w), overwritten.
typedef void (*qn_f32_dwconv_fwd_fn)(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h,
                                     size_t ws_w, float *y);
// dx = conv^T(dy, w), overwritten.
typedef void (*qn_f32_dwconv_dgrad_fn)(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h,
                                       size_t ws_w, float *dx);
// dw += sum over pixels of dy * x under each tap.
typedef void (*qn_f32_dwconv_wgrad_fn)(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw);

void qn_f32_dwconv_fwd__scalar(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h,
                               size_t ws_w, float *y);
void qn_f32_dwconv_dgrad__scalar(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h,
                                 size_t ws_w, float *dx);
void qn_f32_dwconv_wgrad__scalar(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw);

void qn_f32_dwconv_fwd__avx512(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h,
                               size_t ws_w, float *y);
void qn_f32_dwconv_dgrad__avx512(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h,
                                 size_t ws_w, float *dx);
void qn_f32_dwconv_wgrad__avx512(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw);

// Valid tap range [*lo, *hi) along one axis for output coordinate o: taps t with
// 0 <= o*stride + t - pad < n.
static inline void qn_dwt_fwd_range(int o, int stride, int pad, int k, int n, int *lo, int *hi) {
    int base = o * stride - pad;
    *lo = base < 0 ? -base : 0;
    *hi = n - base < k ? n - base : k;
}
