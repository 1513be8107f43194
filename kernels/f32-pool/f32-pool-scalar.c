// Scalar average pooling: the reference for the SIMD variants.
#include "f32-pool/f32-pool.h"

void qn_f32_gavgpool_ukernel__scalar(size_t pixels, size_t C, const float *x, size_t ldx,
                                     float scale, float *y) {
    for (size_t c = 0; c < C; c++) {
        float s = 0.0f;
        for (size_t p = 0; p < pixels; p++) s += x[p * ldx + c];
        y[c] = s * scale;
    }
}

void qn_f32_avgpool_ukernel__scalar(size_t kh, size_t kw, size_t C, const float *x,
                                    size_t ld_row, size_t ld_pix, float scale, float *y) {
    for (size_t c = 0; c < C; c++) {
        float s = 0.0f;
        for (size_t i = 0; i < kh; i++)
            for (size_t j = 0; j < kw; j++) s += x[i * ld_row + j * ld_pix + c];
        y[c] = s * scale;
    }
}
