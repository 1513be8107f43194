// Scalar FP32 GEMM kernels: the portable fallback and the reference the SIMD kernels mirror.
// Plain loops over a 4 x 8 tile; accumulation in k order, one float sum per element.
#include "f32-gemm/f32-gemm.h"

void qn_f32_gemm_ukernel_4x8__scalar(size_t mr, size_t nr, size_t kc, const float *a,
                                     const float *b, size_t ldb, float *c, size_t ldc,
                                     const struct qn_f32_gemm_params *p) {
    float acc[4][8] = {{0}};
    for (size_t k = 0; k < kc; k++) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 8; j++) acc[i][j] += a[i] * b[j];
        a += 4;
        b += ldb;
    }
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++) qn_f32_store1(acc[i][j], &c[i * ldc + j], i, j, p);
}

void qn_f32_gemm_small_ukernel_4x8__scalar(size_t mr, size_t nr, size_t kc, const float *a,
                                           size_t a_rs, size_t a_ks, const float *b, size_t ldb,
                                           float *c, size_t ldc,
                                           const struct qn_f32_gemm_params *p) {
    float acc[4][8] = {{0}};
    for (size_t k = 0; k < kc; k++) {
        for (size_t i = 0; i < mr; i++) {
            const float ai = a[i * a_rs + k * a_ks];
            for (size_t j = 0; j < nr; j++) acc[i][j] += ai * b[j];
        }
        b += ldb;
    }
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++) qn_f32_store1(acc[i][j], &c[i * ldc + j], i, j, p);
}

void qn_f32_gemm_dot_ukernel_4x4__scalar(size_t mr, size_t nr, size_t kc, const float *a,
                                         size_t lda, const float *b, size_t ldb, float *c,
                                         size_t ldc, const struct qn_f32_gemm_params *p) {
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++) {
            float acc = 0.0f;
            for (size_t k = 0; k < kc; k++) acc += a[i * lda + k] * b[j * ldb + k];
            qn_f32_store1(acc, &c[i * ldc + j], i, j, p);
        }
}
