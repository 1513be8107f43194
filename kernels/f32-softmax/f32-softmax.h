// Softmax micro-kernels over one row.
#pragma once

#include <stddef.h>

// One row of n >= 1 floats: s[j] = x[j] + mask[j] (mask may be NULL), then
//   y[j] = exp(s[j] - max_j s) / sum_j exp(s[j] - max_j s).
// Entries whose s is -inf (or far below the max: exp underflows) come out exactly 0.
// A row whose every s is -inf has no defined softmax; it is written as all zeros.
// y may alias x.
typedef void (*qn_f32_softmax_ukernel_fn)(size_t n, const float *x, const float *mask,
                                          float *y);

void qn_f32_softmax_ukernel__scalar(size_t n, const float *x, const float *mask, float *y);
void qn_f32_softmax_ukernel__avx2(size_t n, const float *x, const float *mask, float *y);
void qn_f32_softmax_ukernel__avx512(size_t n, const float *x, const float *mask, float *y);
