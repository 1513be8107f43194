// Scalar softmax, row by row: the reference for the SIMD variants.
#include <math.h>

#include "f32-softmax/f32-softmax.h"

static void row(size_t n, const float *x, const float *mask, float *y) {
    float max = -INFINITY;
    for (size_t j = 0; j < n; j++) {
        const float s = mask ? x[j] + mask[j] : x[j];
        max = s > max ? s : max;
    }
    if (max == -INFINITY) {
        for (size_t j = 0; j < n; j++) y[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (size_t j = 0; j < n; j++) {
        const float s = mask ? x[j] + mask[j] : x[j];
        y[j] = expf(s - max);
        sum += y[j];
    }
    const float inv = 1.0f / sum;
    for (size_t j = 0; j < n; j++) y[j] *= inv;
}

void qn_f32_softmax_ukernel__scalar(size_t rows, size_t n, const float *x, size_t ldx, const float *mask,
                                    size_t ldm, float *y, size_t ldy) {
    for (size_t i = 0; i < rows; i++) row(n, x + i * ldx, mask ? mask + i * ldm : NULL, y + i * ldy);
}
