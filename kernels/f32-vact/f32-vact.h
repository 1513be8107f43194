// Vector activation micro-kernels: y[i] = act(x[i]) over n contiguous floats (y may alias x).
// ReLU, ReLU6 and hardswish reproduce qn_act_ref bit for bit on every ISA; GELU (tanh form)
// uses a polynomial exp in the SIMD variants (error stated in f32-vmath-avx512.h).
#pragma once

#include <stddef.h>

typedef void (*qn_f32_vunary_ukernel_fn)(size_t n, const float *x, float *y);

void qn_f32_vrelu_ukernel__scalar(size_t n, const float *x, float *y);
void qn_f32_vrelu6_ukernel__scalar(size_t n, const float *x, float *y);
void qn_f32_vhswish_ukernel__scalar(size_t n, const float *x, float *y);
void qn_f32_vgelu_ukernel__scalar(size_t n, const float *x, float *y);

void qn_f32_vrelu_ukernel__avx2(size_t n, const float *x, float *y);
void qn_f32_vrelu6_ukernel__avx2(size_t n, const float *x, float *y);
void qn_f32_vhswish_ukernel__avx2(size_t n, const float *x, float *y);
void qn_f32_vgelu_ukernel__avx2(size_t n, const float *x, float *y);

void qn_f32_vrelu_ukernel__avx512(size_t n, const float *x, float *y);
void qn_f32_vrelu6_ukernel__avx512(size_t n, const float *x, float *y);
void qn_f32_vhswish_ukernel__avx512(size_t n, const float *x, float *y);
void qn_f32_vgelu_ukernel__avx512(size_t n, const float *x, float *y);
