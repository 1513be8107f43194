// FP32 <-> u8 asymmetric per-tensor (de)quantization and the min/max scan that calibrates it.
//
// Every variant performs the same float operations in the same order as the scalar one
// (x * inv_scale rounded half to even, + zp, clamped; dequantize (q - zp) * scale), so all
// ISAs are bit-exact. NaN inputs are not supported.
#pragma once

#include <stddef.h>
#include <stdint.h>

// y[i] = clamp(rint(x[i] * inv_scale) + zp, 0, qmax), float arithmetic, qmax in 1..255 (2^bits
// - 1 for narrower activations in the u8 container), zp in 0..qmax.
typedef void (*qn_qu8_quantize_ukernel_fn)(size_t n, const float *x, float inv_scale, int zp,
                                           int qmax, uint8_t *y);
// y[i] = (float)(x[i] - zp) * scale.
typedef void (*qn_qu8_dequantize_ukernel_fn)(size_t n, const uint8_t *x, float scale, int zp,
                                             float *y);
// *min = min(*min, x[i]), *max = max(*max, x[i]) over n floats (running: caller seeds them).
typedef void (*qn_f32_rminmax_ukernel_fn)(size_t n, const float *x, float *min, float *max);

void qn_qu8_quantize_ukernel__scalar(size_t n, const float *x, float inv_scale, int zp,
                                     int qmax, uint8_t *y);
void qn_qu8_quantize_ukernel__avx2(size_t n, const float *x, float inv_scale, int zp, int qmax,
                                   uint8_t *y);
void qn_qu8_quantize_ukernel__avx512(size_t n, const float *x, float inv_scale, int zp,
                                     int qmax, uint8_t *y);

void qn_qu8_dequantize_ukernel__scalar(size_t n, const uint8_t *x, float scale, int zp,
                                       float *y);
void qn_qu8_dequantize_ukernel__avx2(size_t n, const uint8_t *x, float scale, int zp, float *y);
void qn_qu8_dequantize_ukernel__avx512(size_t n, const uint8_t *x, float scale, int zp,
                                       float *y);

void qn_f32_rminmax_ukernel__scalar(size_t n, const float *x, float *min, float *max);
void qn_f32_rminmax_ukernel__avx2(size_t n, const float *x, float *min, float *max);
void qn_f32_rminmax_ukernel__avx512(size_t n, const float *x, float *min, float *max);
