// Scalar u8 (de)quantization and min/max scan: the reference every variant matches bit for bit.
#include <math.h>

#include "qu8-quant/qu8-quant.h"

void qn_qu8_quantize_ukernel__scalar(size_t n, const float *x, float inv_scale, int zp,
                                     int qmax, uint8_t *y) {
    const float fzp = (float)zp, fmax = (float)qmax;
    for (size_t i = 0; i < n; i++) {
        float q = rintf(x[i] * inv_scale) + fzp;
        q = q < 0.0f ? 0.0f : (q > fmax ? fmax : q);
        y[i] = (uint8_t)q;
    }
}

void qn_qu8_dequantize_ukernel__scalar(size_t n, const uint8_t *x, float scale, int zp,
                                       float *y) {
    for (size_t i = 0; i < n; i++) y[i] = (float)((int32_t)x[i] - zp) * scale;
}

void qn_f32_rminmax_ukernel__scalar(size_t n, const float *x, float *min, float *max) {
    float lo = *min, hi = *max;
    for (size_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    *min = lo, *max = hi;
}
