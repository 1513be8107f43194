// Softmax micro-kernels over rows.
#pragma once

#include <stddef.h>

// rows rows of n >= 1 floats, row i at x + i * ldx: s[j] = x[j] + mask[j] (mask may be NULL;
// row i's at mask + i * ldm, ldm 0: one mask row for all), then
//   y[j] = exp(s[j] - max_j s) / sum_j exp(s[j] - max_j s)    (row i at y + i * ldy).
// Entries whose s is -inf (or far below the max: exp underflows) come out exactly 0.
// A row whose every s is -inf has no defined softmax; it is written as all zeros.
// y may alias x (ldy == ldx). A row's result does not depend on the other rows of the call.
typedef void (*qn_f32_softmax_ukernel_fn)(size_t rows, size_t n, const float *x, size_t ldx,
                                          const float *mask, size_t ldm, float *y, size_t ldy);

void qn_f32_softmax_ukernel__scalar(size_t rows, size_t n, const float *x, size_t ldx, const float *mask,
                                    size_t ldm, float *y, size_t ldy);
void qn_f32_softmax_ukernel__avx2(size_t rows, size_t n, const float *x, size_t ldx, const float *mask,
                                  size_t ldm, float *y, size_t ldy);
void qn_f32_softmax_ukernel__avx512(size_t rows, size_t n, const float *x, size_t ldx, const float *mask,
                                    size_t ldm, float *y, size_t ldy);
