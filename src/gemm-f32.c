// FP32 GEMM operator. Placeholder: forwards to the reference until the packed kernels land.
#include "gemm.h"

void qn_f32_gemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
                 const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                 size_t ldc, const struct qn_epilogue *ep) {
    qn_f32_gemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}

const char *qn_f32_gemm_variant(void) { return "qn_f32_gemm_ref"; }
