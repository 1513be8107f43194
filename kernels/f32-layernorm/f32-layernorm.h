// Layer-norm micro-kernels: normalize each row of D floats over its own mean and variance.
#pragma once

#include <stddef.h>

// For each of `rows` rows (x[r][ldx], y[r][ldy], in elements):
//   mean = sum_j x / D;  var = sum_j (x - mean)^2 / D  (two passes: no cancellation)
//   y[j] = (x[j] - mean) * (1 / sqrt(var + eps)) * gamma[j] + beta[j]
// gamma, beta: [D], the leading D of a D_max tensor for an elastic subnet. y may alias x.
typedef void (*qn_f32_layernorm_ukernel_fn)(size_t rows, size_t D, const float *x, size_t ldx,
                                            const float *gamma, const float *beta, float eps,
                                            float *y, size_t ldy);

void qn_f32_layernorm_ukernel__scalar(size_t rows, size_t D, const float *x, size_t ldx,
                                      const float *gamma, const float *beta, float eps, float *y,
                                      size_t ldy);
void qn_f32_layernorm_ukernel__avx2(size_t rows, size_t D, const float *x, size_t ldx,
                                    const float *gamma, const float *beta, float eps, float *y,
                                    size_t ldy);
void qn_f32_layernorm_ukernel__avx512(size_t rows, size_t D, const float *x, size_t ldx,
                                      const float *gamma, const float *beta, float eps, float *y,
                                      size_t ldy);
