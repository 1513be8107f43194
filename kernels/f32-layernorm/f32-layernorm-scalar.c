// Scalar layer norm: the reference for the SIMD variants.
#include <math.h>

#include "f32-layernorm/f32-layernorm.h"

void qn_f32_layernorm_ukernel__scalar(size_t rows, size_t D, const float *x, size_t ldx,
                                      const float *gamma, const float *beta, float eps, float *y,
                                      size_t ldy) {
    for (size_t r = 0; r < rows; r++, x += ldx, y += ldy) {
        float sum = 0.0f;
        for (size_t j = 0; j < D; j++) sum += x[j];
        const float mean = sum / (float)D;
        float ss = 0.0f;
        for (size_t j = 0; j < D; j++) ss += (x[j] - mean) * (x[j] - mean);
        const float rstd = 1.0f / sqrtf(ss / (float)D + eps);
        for (size_t j = 0; j < D; j++) y[j] = (x[j] - mean) * rstd * gamma[j] + beta[j];
    }
}
