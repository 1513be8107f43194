// Scalar reference for the packed s8 c4 layout (qs8-gemm.h): plain loops, NR = 8.
#include "qs8-gemm/qs8-gemm.h"

void qn_qs8_gemm_ukernel_4x8c4__scalar(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                       size_t lda, const void *w, void *c, size_t ldc,
                                       const struct qn_qgemm_params *p) {
    enum { NR = 8 };
    const int8_t *b = w;
    for (size_t i = 0; i < mr; i++) {
        for (size_t j = 0; j < nc; j++) {
            int32_t acc = 0;
            for (size_t k = 0; k < kc; k++)
                acc += (int32_t)a[i * lda + k] * b[(k / 4) * NR * 4 + j * 4 + k % 4];
            qn_qgemm_store1(p, i, j, acc, c, ldc);
        }
    }
}
