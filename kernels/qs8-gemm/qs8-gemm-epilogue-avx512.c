// AVX-512 requantizing epilogue over an s32 tile (see qs8-gemm-avx512.h).
#include "qs8-gemm/qs8-gemm-avx512.h"

void qn_qgemm_epilogue__avx512(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc, void *c,
                               size_t ldc, const struct qn_qgemm_params *params) {
    const struct qn_qgemm_params prm = *params;
    for (size_t j0 = 0; j0 < nc; j0 += 16) {
        const struct qn_qgemm_cols16 cl = qn_qgemm_cols16_avx512(&prm, j0, nc);
        for (size_t i = 0; i < mr; i++)
            qn_qgemm_store16_avx512(&prm, &cl, i, j0,
                                    _mm512_loadu_si512(acc + i * ld_acc + j0), c, ldc);
    }
}
