// AVX2 requantizing epilogue over an s32 tile (see qs8-gemm-avx2.h); used at the AVX2 and
// AVX-VNNI levels, once per 6x8 / 6x16 tile. FP32 output without a residual runs a loop per
// activation and bias with the tests out of it; every other case the per-vector sequence of
// qn_qgemm_store8_avx2. At small K the epilogue is most of a call (three quarters of 196x72x12
// at the AVX-VNNI level): FP32 out without activation, 1 thread, QNAS_ISA=avxvnni on Emerald
// Rapids, 196x72x12 6.5-6.7 -> 4.6 us, 784x48x8 16.3 -> 10.6-11.3, 196x576x96 95 -> 77; at the
// AVX2 level 11.1 -> 9.2, 26.8 -> 21.4. Each case in a function of its own, the wrapper a
// branch and a call: with the FP32 loops inlined into it the u8 path ran ~10% slower. (The
// folded u8 form of qs8-requant.h ran slower here too, 784x48x8 at the AVX2 level 32 -> 36 us:
// its constants cost more to set up per tile than its 8 outputs a vector save.)
#include "qs8-gemm/qs8-gemm-avx2.h"

// FP32 output without a residual, one loop per activation and bias (qn_qgemm_store8_avx2's
// operations).
static inline __attribute__((always_inline)) void f32_rows(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc,
                                                           float *c, size_t ldc, const struct qn_qgemm_params *p,
                                                           const bool bias, const enum qn_act act) {
    for (size_t j0 = 0; j0 < nc; j0 += 8) {
        const struct qn_qgemm_cols8 cl = qn_qgemm_cols8_avx2(p, j0, nc);
        for (size_t i = 0; i < mr; i++) {
            const __m256i a = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(acc + i * ld_acc + j0)), cl.zp_sum);
            __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(a), cl.mul);
            if (bias) y = _mm256_add_ps(y, cl.bias);
            _mm256_maskstore_ps(c + i * ldc + j0, cl.mask, qn_qgemm_act_avx2(act, y));
        }
    }
}

static __attribute__((noinline)) void epilogue_f32(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc,
                                                   float *c, size_t ldc, const struct qn_qgemm_params *p) {
    const bool bias = p->bias != NULL;
#define F32_FORMS(A)                                                   \
    case A:                                                            \
        if (bias) f32_rows(mr, nc, acc, ld_acc, c, ldc, p, true, A);   \
        else f32_rows(mr, nc, acc, ld_acc, c, ldc, p, false, A);       \
        return;
    switch (p->act) {
        F32_FORMS(QN_ACT_NONE)
        F32_FORMS(QN_ACT_RELU)
        F32_FORMS(QN_ACT_RELU6)
        F32_FORMS(QN_ACT_HSWISH)
        F32_FORMS(QN_ACT_GELU)
    }
#undef F32_FORMS
}

static __attribute__((noinline)) void epilogue_any(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc,
                                                   void *c, size_t ldc, const struct qn_qgemm_params *params) {
    const struct qn_qgemm_params prm = *params;
    for (size_t j0 = 0; j0 < nc; j0 += 8) {
        const struct qn_qgemm_cols8 cl = qn_qgemm_cols8_avx2(&prm, j0, nc);
        for (size_t i = 0; i < mr; i++)
            qn_qgemm_store8_avx2(&prm, &cl, i, j0,
                                 _mm256_loadu_si256((const __m256i *)(acc + i * ld_acc + j0)), c, ldc);
    }
}

void qn_qgemm_epilogue__avx2(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc, void *c,
                             size_t ldc, const struct qn_qgemm_params *params) {
    if (!params->out_u8 && !params->residual)
        epilogue_f32(mr, nc, acc, ld_acc, c, ldc, params);
    else
        epilogue_any(mr, nc, acc, ld_acc, c, ldc, params);
}
