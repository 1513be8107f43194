// AVX-512 requantizing epilogue over an s32 tile (see qs8-gemm-avx512.h). u8 output with
// ReLU / ReLU6 / no activation and no residual (every expand layer) takes the folded form of
// qs8-requant.h: four vectors per pack, so a tile of 16 columns packs 4 rows at a time and a
// tile of 32 columns 2 rows (one row per 256-bit half).
#include "qs8-gemm/qs8-gemm-avx512.h"
#include "qs8-gemm/qs8-requant-avx512.h"

// acc[0, 16) plus the zero-point correction z (a zero vector where acc has it already).
static inline __attribute__((always_inline)) __m512i acc16(const int32_t *acc, __m512i z) {
    return _mm512_add_epi32(_mm512_loadu_si512(acc), z);
}

static inline __attribute__((always_inline)) __m512i fast_r(const struct qn_requant_fast_avx512 *f,
                                                            const struct qn_qgemm_cols16 *cl,
                                                            const int32_t *acc, __m512i z) {
    return qn_requant_fast_r_avx512(f, acc16(acc, z), cl->mul, &cl->bias);
}

// The zero-point correction of columns [j0, j0 + 16) when the tile lacks it, else zero.
static inline __attribute__((always_inline)) __m512i zp16(const struct qn_qgemm_params *p, size_t j0, size_t nc,
                                                          bool add_zp) {
    return add_zp && p->a_zp ? qn_qgemm_acc0_avx512(p, j0, nc) : _mm512_setzero_si512();
}

static void epilogue_fast(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc, uint8_t *c,
                          size_t ldc, const struct qn_qgemm_params *p, const struct qn_requant_fast *rf,
                          bool add_zp) {
    const struct qn_requant_fast_avx512 f = qn_requant_fast_avx512_init(rf);
    const __m512i zero = _mm512_setzero_si512();
    if (nc <= 16) {
        const struct qn_qgemm_cols16 cl = qn_qgemm_cols16_avx512(p, 0, nc);
        const __m512i z = zp16(p, 0, nc, add_zp);
        for (size_t i = 0; i < mr; i += 4) {
            const size_t n = mr - i < 4 ? mr - i : 4;
            const int32_t *a = acc + i * ld_acc;
            const __m512i q = qn_requant_fast_pack4_avx512(
                &f, fast_r(&f, &cl, a, z), n > 1 ? fast_r(&f, &cl, a + ld_acc, z) : zero,
                n > 2 ? fast_r(&f, &cl, a + 2 * ld_acc, z) : zero, n > 3 ? fast_r(&f, &cl, a + 3 * ld_acc, z) : zero);
            uint8_t *ci = c + i * ldc;
            _mm_mask_storeu_epi8(ci, cl.mask, _mm512_castsi512_si128(q));
            if (n > 1) _mm_mask_storeu_epi8(ci + ldc, cl.mask, _mm512_extracti32x4_epi32(q, 1));
            if (n > 2) _mm_mask_storeu_epi8(ci + 2 * ldc, cl.mask, _mm512_extracti32x4_epi32(q, 2));
            if (n > 3) _mm_mask_storeu_epi8(ci + 3 * ldc, cl.mask, _mm512_extracti32x4_epi32(q, 3));
        }
        return;
    }
    const struct qn_qgemm_cols16 cx = qn_qgemm_cols16_avx512(p, 0, nc), cy = qn_qgemm_cols16_avx512(p, 16, nc);
    const __mmask32 m = (__mmask32)cx.mask | (__mmask32)cy.mask << 16;
    const __m512i zx = zp16(p, 0, nc, add_zp), zy = zp16(p, 16, nc, add_zp);
    for (size_t i = 0; i < mr; i += 2) {
        const int32_t *a = acc + i * ld_acc;
        const bool two = i + 1 < mr;
        qn_requant_fast_store2x32_avx512(&f, acc16(a, zx), acc16(a + 16, zy), two ? acc16(a + ld_acc, zx) : zero,
                                         two ? acc16(a + ld_acc + 16, zy) : zero, cx.mul, cy.mul, &cx.bias, &cy.bias,
                                         c + i * ldc, ldc, m, two);
    }
}

// FP32 out without a residual (an expand layer whose output stays FP32: bias + activation):
// one loop per activation x bias, instead of qn_qgemm_store16_avx512's tests per vector.
static inline __attribute__((always_inline)) void f32_rows(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc,
                                                           float *c, size_t ldc, const struct qn_qgemm_params *p,
                                                           bool add_zp, const bool bias, const enum qn_act act) {
    for (size_t j0 = 0; j0 < nc; j0 += 16) {
        const struct qn_qgemm_cols16 cl = qn_qgemm_cols16_avx512(p, j0, nc);
        const __m512i z = zp16(p, j0, nc, add_zp);
        for (size_t i = 0; i < mr; i++) {
            __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc16(acc + i * ld_acc + j0, z)), cl.mul);
            if (bias) y = _mm512_add_ps(y, cl.bias);
            _mm512_mask_storeu_ps(c + i * ldc + j0, cl.mask, qn_qgemm_act_avx512(act, y));
        }
    }
}

static void epilogue_f32(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc, float *c, size_t ldc,
                         const struct qn_qgemm_params *p, bool add_zp) {
    QN_QGEMM_ACT_FORMS(p, f32_rows, mr, nc, acc, ld_acc, c, ldc, p, add_zp);
}

void qn_qgemm_epilogue__avx512(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc, void *c,
                               size_t ldc, const struct qn_qgemm_params *params, bool add_zp) {
    const struct qn_qgemm_params prm = *params;
    struct qn_requant_fast rf;
    if (nc <= 32 && qn_requant_fast_init(&rf, prm.act, prm.residual != NULL, prm.out_u8, prm.inv_out,
                                         (int32_t)prm.out_zp, (int32_t)prm.out_qmax)) {
        epilogue_fast(mr, nc, acc, ld_acc, c, ldc, &prm, &rf, add_zp);
        return;
    }
    if (!prm.out_u8 && !prm.residual) {
        epilogue_f32(mr, nc, acc, ld_acc, c, ldc, &prm, add_zp);
        return;
    }
    for (size_t j0 = 0; j0 < nc; j0 += 16) {
        const struct qn_qgemm_cols16 cl = qn_qgemm_cols16_avx512(&prm, j0, nc);
        const __m512i z = zp16(&prm, j0, nc, add_zp);
        for (size_t i = 0; i < mr; i++)
            qn_qgemm_store16_avx512(&prm, &cl, i, j0, acc16(acc + i * ld_acc + j0, z), c, ldc);
    }
}
