// Average-pooling micro-kernels over NHWC data: C channels per pixel, pixel stride >= C.
#pragma once

#include <stddef.h>

// Global pooling of one image: y[c] = scale * sum_{p < pixels} x[p * ldx + c], c < C.
typedef void (*qn_f32_gavgpool_ukernel_fn)(size_t pixels, size_t C, const float *x, size_t ldx,
                                           float scale, float *y);

// One output pixel of a window pooling: the kh x kw input pixels at
// x[i * ld_row + j * ld_pix + c] (already clipped to the image by the operator),
// y[c] = scale * sum_{i, j} x[i * ld_row + j * ld_pix + c].
typedef void (*qn_f32_avgpool_ukernel_fn)(size_t kh, size_t kw, size_t C, const float *x,
                                          size_t ld_row, size_t ld_pix, float scale, float *y);

void qn_f32_gavgpool_ukernel__scalar(size_t pixels, size_t C, const float *x, size_t ldx,
                                     float scale, float *y);
void qn_f32_gavgpool_ukernel__avx2(size_t pixels, size_t C, const float *x, size_t ldx,
                                   float scale, float *y);
void qn_f32_gavgpool_ukernel__avx512(size_t pixels, size_t C, const float *x, size_t ldx,
                                     float scale, float *y);

void qn_f32_avgpool_ukernel__scalar(size_t kh, size_t kw, size_t C, const float *x,
                                    size_t ld_row, size_t ld_pix, float scale, float *y);
void qn_f32_avgpool_ukernel__avx2(size_t kh, size_t kw, size_t C, const float *x,
                                  size_t ld_row, size_t ld_pix, float scale, float *y);
void qn_f32_avgpool_ukernel__avx512(size_t kh, size_t kw, size_t C, const float *x,
                                    size_t ld_row, size_t ld_pix, float scale, float *y);
