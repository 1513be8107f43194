// Batch-norm + activation kernels for training, over P rows of C contiguous channels.
// The operator (src/nn.c) splits P across threads and reduces the per-thread sums in a fixed
// order. `act` is an enum qn_act (src/gemm.h). The sum kernels add into s1/s2 in an order of
// their own that depends only on P and C: the same bits on every call, not across ISAs.
//
// Backward algebra: with xhat = (x - mu) * r and dz = dy * act'(ypre),
//   dx = g r (dz - mean(dz) - xhat mean(dz xhat)) = a[c] dz + b[c] x + d[c],
// so one pass collects sum(dz) and sum(dz x), and a second pass writes dx. The first pass
// recomputes the pre-activation from x (which it reads anyway), bit for bit as the forward
// kernel of the same ISA computed it: nothing but x is kept from the forward.
#pragma once

#include <stddef.h>

// s1[c] += sum_p (x - x0[c]), s2[c] += sum_p (x - x0[c])^2: sums shifted by a reference row
// x0 to avoid cancellation in E[x^2] - E[x]^2.
typedef void (*qn_f32_bn_sums_fn)(size_t P, int C, const float *x, const float *x0, float *s1, float *s2);
// y = act(x * scale + shift).
typedef void (*qn_f32_bn_act_fn)(size_t P, int C, const float *x, const float *scale, const float *shift, int act,
                                 float *y);
// dz = dy * act'(ypre) with ypre = x * scale + shift computed as qn_f32_bn_act_fn does (scale
// and shift unused when act is NONE), s1[c] += sum dz, s2[c] += sum dz * x.
typedef void (*qn_f32_act_bwd_sums_fn)(size_t P, int C, const float *x, const float *scale, const float *shift,
                                       const float *dy, int act, float *dz, float *s1, float *s2);
// dx = a[c] * dz + b[c] * x + d[c]; dx may alias dz.
typedef void (*qn_f32_bn_bwd_dx_fn)(size_t P, int C, const float *x, const float *dz, const float *a, const float *b,
                                    const float *d, float *dx);

void qn_f32_bn_sums__scalar(size_t P, int C, const float *x, const float *x0, float *s1, float *s2);
void qn_f32_bn_act__scalar(size_t P, int C, const float *x, const float *scale, const float *shift, int act,
                           float *y);
void qn_f32_act_bwd_sums__scalar(size_t P, int C, const float *x, const float *scale, const float *shift,
                                 const float *dy, int act, float *dz, float *s1, float *s2);
void qn_f32_bn_bwd_dx__scalar(size_t P, int C, const float *x, const float *dz, const float *a, const float *b,
                              const float *d, float *dx);

void qn_f32_bn_sums__avx512(size_t P, int C, const float *x, const float *x0, float *s1, float *s2);
void qn_f32_bn_act__avx512(size_t P, int C, const float *x, const float *scale, const float *shift, int act,
                           float *y);
void qn_f32_act_bwd_sums__avx512(size_t P, int C, const float *x, const float *scale, const float *shift,
                                 const float *dy, int act, float *dz, float *s1, float *s2);
void qn_f32_bn_bwd_dx__avx512(size_t P, int C, const float *x, const float *dz, const float *a, const float *b,
                              const float *d, float *dx);
