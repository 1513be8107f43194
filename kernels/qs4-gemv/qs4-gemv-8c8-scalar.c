// Scalar reference GEMV over one packed s4 panel (qs8-gemm.h), NR = 8.
#include "qs8-gemm/qs8-gemm.h"

void qn_qs4_gemv_ukernel_8c8__scalar(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                     size_t lda, const void *w, void *c, size_t ldc,
                                     const struct qn_qgemm_params *p) {
    enum { NR = 8 };
    const uint8_t *b = w;
    for (size_t j = 0; j < nc; j++) {
        int32_t acc = 0;
        for (size_t k = 0; k < kc; k++) {
            const uint8_t byte = b[(k / 8) * NR * 4 + j * 4 + k % 4];
            acc += (int32_t)a[k] * qn_s4_value(k % 8 < 4 ? byte & 15u : byte >> 4);
        }
        qn_qgemm_store1(p, 0, j, acc, c, ldc);
    }
}
