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

void qn_f32_gemv_ukernel__scalar(size_t n, size_t kc, const float *x, size_t x_ks, const float *b,
                                 size_t ldb, float *c, const struct qn_f32_gemm_params *p) {
    for (size_t k0 = 0; k0 < kc; k0 += QN_F32_GEMV_ROWS) {
        size_t r;
        const struct qn_f32_gemm_params q = qn_f32_gemv_pass(p, k0, kc, &r);
        for (size_t j = 0; j < n; j++) {
            float acc = 0.0f;
            for (size_t k = k0; k < k0 + r; k++) acc += x[k * x_ks] * b[k * ldb + j];
            qn_f32_store1(acc, &c[j], 0, j, &q);
        }
    }
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

// --- packing ---

void qn_f32_gemm_packa__scalar(size_t MR, size_t mr, size_t kc, const float *a, size_t a_rs,
                               size_t a_ks, float *dst) {
    for (size_t k = 0; k < kc; k++) {
        // rows inner: MR read streams at once when a_ks == 1 (A is cold: memory-level
        // parallelism matters more than the store pattern into the L1-resident panel)
        for (size_t i = 0; i < mr; i++) dst[i] = a[i * a_rs + k * a_ks];
        for (size_t i = mr; i < MR; i++) dst[i] = 0.0f;
        dst += MR;
    }
}

void qn_f32_gemm_packb__scalar(size_t NR, size_t nr, size_t kc, const float *b, size_t b_ks,
                               size_t b_ns, float *dst) {
    if (b_ns == 1) {
        for (size_t k = 0; k < kc; k++) {
            const float *src = b + k * b_ks;
            for (size_t j = 0; j < nr; j++) dst[j] = src[j];
            for (size_t j = nr; j < NR; j++) dst[j] = 0.0f;
            dst += NR;
        }
    } else {
        for (size_t j = 0; j < nr; j++) {
            const float *src = b + j * b_ns;
            for (size_t k = 0; k < kc; k++) dst[k * NR + j] = src[k * b_ks];
        }
        for (size_t j = nr; j < NR; j++)
            for (size_t k = 0; k < kc; k++) dst[k * NR + j] = 0.0f;
    }
}
