// AVX2 requantizing epilogue over an s32 tile (see qs8-gemm-avx2.h); used at the AVX2 and
// AVX-VNNI levels.
#include "qs8-gemm/qs8-gemm-avx2.h"

void qn_qgemm_epilogue__avx2(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc, void *c,
                             size_t ldc, const struct qn_qgemm_params *params) {
    const struct qn_qgemm_params prm = *params;
    for (size_t j0 = 0; j0 < nc; j0 += 8) {
        const struct qn_qgemm_cols8 cl = qn_qgemm_cols8_avx2(&prm, j0, nc);
        for (size_t i = 0; i < mr; i++)
            qn_qgemm_store8_avx2(&prm, &cl, i, j0,
                                 _mm256_loadu_si256((const __m256i *)(acc + i * ld_acc + j0)), c, ldc);
    }
}
