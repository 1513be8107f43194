// AVX2 requantizing epilogue over an s32 tile (see qs8-gemm-avx2.h), used at the AVX2 and
// AVX-VNNI levels by the GEMV kernels (one row per call) and by the GEMM kernels for what they
// do not store from their registers (u8 output with hardswish, GELU or a residual; FP32 output
// with GELU, or a residual under an activation). Without a residual, FP32 and u8 output each
// run a loop per activation and bias with the tests out of it (qn_qgemm_store8_avx2's
// operations); a residual takes that function's per-vector sequence. Each case in a function
// of its own, the wrapper a branch and a call: with the FP32 loops inlined into it the u8 path
// ran ~10% slower (Emerald Rapids, when every GEMM tile came through here).
#include "qs8-gemm/qs8-gemm-avx2.h"

// 8 columns of a row without a residual as qn_qgemm_store8_avx2 computes them: (acc - zero-point
// correction) * mul, + bias, activation.
static inline __attribute__((always_inline)) __m256 dequant8(const struct qn_qgemm_cols8 *cl, const int32_t *acc,
                                                             const bool bias, const enum qn_act act) {
    const __m256i a = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)acc), cl->zp_sum);
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(a), cl->mul);
    if (bias) y = _mm256_add_ps(y, cl->bias);
    return qn_qgemm_act_avx2(act, y);
}

// FP32 output without a residual, one loop per activation and bias.
static inline __attribute__((always_inline)) void f32_rows(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc,
                                                           float *c, size_t ldc, const struct qn_qgemm_params *p,
                                                           const bool bias, const enum qn_act act) {
    for (size_t j0 = 0; j0 < nc; j0 += 8) {
        const struct qn_qgemm_cols8 cl = qn_qgemm_cols8_avx2(p, j0, nc);
        for (size_t i = 0; i < mr; i++)
            _mm256_maskstore_ps(c + i * ldc + j0, cl.mask, dequant8(&cl, acc + i * ld_acc + j0, bias, act));
    }
}

static __attribute__((noinline)) void epilogue_f32(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc,
                                                   float *c, size_t ldc, const struct qn_qgemm_params *p) {
    QN_QGEMM_ACT_FORMS(p, f32_rows, mr, nc, acc, ld_acc, c, ldc, p);
}

// u8 output without a residual, one loop per activation and bias: qn_qgemm_store8_avx2's
// requantization (round, + zp, clamp, convert, packs).
static inline __attribute__((always_inline)) void u8_rows(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc,
                                                          uint8_t *c, size_t ldc, const struct qn_qgemm_params *p,
                                                          const bool bias, const enum qn_act act) {
    const __m256 inv = _mm256_set1_ps(p->inv_out), zp = _mm256_set1_ps(p->out_zp),
                 qmax = _mm256_set1_ps(p->out_qmax);
    for (size_t j0 = 0; j0 < nc; j0 += 8) {
        const struct qn_qgemm_cols8 cl = qn_qgemm_cols8_avx2(p, j0, nc);
        for (size_t i = 0; i < mr; i++) {
            const __m256 y = dequant8(&cl, acc + i * ld_acc + j0, bias, act);
            __m256 q = _mm256_round_ps(_mm256_mul_ps(y, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q = _mm256_add_ps(q, zp);
            q = _mm256_max_ps(_mm256_setzero_ps(), _mm256_min_ps(qmax, q));
            const __m256i v = _mm256_cvtps_epi32(q);
            const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            const __m128i b = _mm_packus_epi16(w, w);
            uint8_t *dst = c + i * ldc + j0;
            if (cl.n == 8) {
                _mm_storel_epi64((__m128i *)dst, b);
            } else {
                uint8_t t[16];
                _mm_storeu_si128((__m128i *)t, b);
                memcpy(dst, t, cl.n);
            }
        }
    }
}

static __attribute__((noinline)) void epilogue_u8(size_t mr, size_t nc, const int32_t *acc, size_t ld_acc,
                                                  uint8_t *c, size_t ldc, const struct qn_qgemm_params *p) {
    QN_QGEMM_ACT_FORMS(p, u8_rows, mr, nc, acc, ld_acc, c, ldc, p);
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
    if (params->residual)
        epilogue_any(mr, nc, acc, ld_acc, c, ldc, params);
    else if (params->out_u8)
        epilogue_u8(mr, nc, acc, ld_acc, c, ldc, params);
    else
        epilogue_f32(mr, nc, acc, ld_acc, c, ldc, params);
}
