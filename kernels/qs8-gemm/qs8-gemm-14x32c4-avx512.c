// 14x32 s32 tile, vpdpbusd zmm: per k-quad, 2 panel loads (32 columns x 4 k) and 14 4-byte
// broadcasts of A feed 28 vpdpbusd. 28 accumulators + 2 B + 1 A = 31 of 32 zmm.
// 14 rows: the ViT token count 196 = 14 x 14 tiles exactly. Edge tiles run only the rows
// (4, 8 or 14) and 16-column halves (1 or 2) they store: a 4x4 map at batch 1 is M = 16 =
// 14 + 2 rows, a 12-channel projection one half.
#include "qs8-gemm/qs8-gemm-avx512.h"
#include "qs8-gemm/qs8-requant-avx512.h"

static inline __attribute__((always_inline)) void tile(const size_t R, const size_t NV, size_t mr, size_t nc,
                                                       size_t kc, const uint8_t *a, size_t lda, const void *w,
                                                       void *c, size_t ldc, const struct qn_qgemm_params *p) {
    // Rows past mr alias the previous row: computed, never stored.
    const uint8_t *ar[14];
    ar[0] = a;
#pragma GCC unroll 14
    for (size_t i = 1; i < R; i++) ar[i] = mr > i ? ar[i - 1] + lda : ar[i - 1];
    const __m512i zx = qn_qgemm_acc0_avx512(p, 0, nc), zy = NV == 2 ? qn_qgemm_acc0_avx512(p, 16, nc) : zx;
    __m512i accx[14], accy[14];
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++) accx[i] = zx, accy[i] = zy;
    const int8_t *b = w;
    size_t k = 0;
    for (; k + 4 <= kc; k += 4) {
        const __m512i b0 = _mm512_load_si512(b), b1 = NV == 2 ? _mm512_load_si512(b + 64) : b0;
        b += 128;
#pragma GCC unroll 14
        for (size_t i = 0; i < R; i++) {
            const __m512i va = _mm512_set1_epi32(qn_load_a4(ar[i] + k));
            accx[i] = _mm512_dpbusd_epi32(accx[i], va, b0);
            if (NV == 2) accy[i] = _mm512_dpbusd_epi32(accy[i], va, b1);
        }
    }
    if (k < kc) {
        // K tail: A bytes past kc are never read (the panel is zero there anyway).
        const __m512i b0 = _mm512_load_si512(b), b1 = NV == 2 ? _mm512_load_si512(b + 64) : b0;
#pragma GCC unroll 14
        for (size_t i = 0; i < R; i++) {
            const __m512i va = _mm512_set1_epi32(qn_load_a4_tail(ar[i] + k, kc - k));
            accx[i] = _mm512_dpbusd_epi32(accx[i], va, b0);
            if (NV == 2) accy[i] = _mm512_dpbusd_epi32(accy[i], va, b1);
        }
    }
    // The common epilogues straight from the registers (the loop's B and A registers are free
    // by now; bias and residual come as memory operands): FP32 out without activation (the
    // projection layers, residual or not) and the folded u8 one of qs8-requant.h (expand
    // layers), two rows per pack. Any other goes through the stack tile.
    if (!p->out_u8 && p->act == QN_ACT_NONE) {
        const struct qn_qgemm_cols16 cx = qn_qgemm_cols16_avx512(p, 0, nc);
        const struct qn_qgemm_cols16 cy = NV == 2 ? qn_qgemm_cols16_avx512(p, 16, nc) : cx;
        float *cf = c;
#pragma GCC unroll 14
        for (size_t i = 0; i < R; i++) {
            if (i >= mr) break;
            const float *r = p->residual ? p->residual + i * p->ldr : NULL;
            __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(accx[i]), cx.mul);
            if (p->bias) y = _mm512_add_ps(y, cx.bias);
            if (r) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(cx.mask, r));
            _mm512_mask_storeu_ps(cf + i * ldc, cx.mask, y);
            if (NV == 2) {
                __m512 z = _mm512_mul_ps(_mm512_cvtepi32_ps(accy[i]), cy.mul);
                if (p->bias) z = _mm512_add_ps(z, cy.bias);
                if (r) z = _mm512_add_ps(z, _mm512_maskz_loadu_ps(cy.mask, r + 16));
                _mm512_mask_storeu_ps(cf + i * ldc + 16, cy.mask, z);
            }
        }
        return;
    }
    struct qn_requant_fast rf;
    if (NV == 2 && qn_requant_fast_init(&rf, p->act, p->residual != NULL, p->out_u8, p->inv_out,
                                        (int32_t)p->out_zp, (int32_t)p->out_qmax)) {
        const struct qn_requant_fast_avx512 f = qn_requant_fast_avx512_init(&rf);
        const struct qn_qgemm_cols16 cx = qn_qgemm_cols16_avx512(p, 0, nc), cy = qn_qgemm_cols16_avx512(p, 16, nc);
        const __mmask32 m = (__mmask32)cx.mask | (__mmask32)cy.mask << 16;
        uint8_t *cu = c;
#pragma GCC unroll 7
        for (size_t i = 0; i < R; i += 2) {
            if (i >= mr) break;
            const __m512i q = qn_requant_fast_pack4_avx512(
                &f, qn_requant_fast_r_avx512(&f, accx[i], cx.mul, &cx.bias),
                qn_requant_fast_r_avx512(&f, accy[i], cy.mul, &cy.bias),
                qn_requant_fast_r_avx512(&f, accx[i + 1], cx.mul, &cx.bias),
                qn_requant_fast_r_avx512(&f, accy[i + 1], cy.mul, &cy.bias));
            _mm256_mask_storeu_epi8(cu + i * ldc, m, _mm512_castsi512_si256(q));
            if (i + 1 < mr) _mm256_mask_storeu_epi8(cu + (i + 1) * ldc, m, _mm512_extracti64x4_epi64(q, 1));
        }
        return;
    }
    int32_t t[14 * 32] __attribute__((aligned(64)));
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++) {
        _mm512_store_si512(t + i * 32, accx[i]);
        if (NV == 2) _mm512_store_si512(t + i * 32 + 16, accy[i]);
    }
    qn_qgemm_epilogue__avx512(mr, nc, t, 32, c, ldc, p);
}

static inline __attribute__((always_inline)) void tile_rows(const size_t NV, size_t mr, size_t nc, size_t kc,
                                                            const uint8_t *a, size_t lda, const void *w, void *c,
                                                            size_t ldc, const struct qn_qgemm_params *p) {
    if (mr <= 4)
        tile(4, NV, mr, nc, kc, a, lda, w, c, ldc, p);
    else if (mr <= 8)
        tile(8, NV, mr, nc, kc, a, lda, w, c, ldc, p);
    else
        tile(14, NV, mr, nc, kc, a, lda, w, c, ldc, p);
}

void qn_qs8_gemm_ukernel_14x32c4__avx512(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                         size_t lda, const void *w, void *c, size_t ldc,
                                         const struct qn_qgemm_params *p) {
    if (nc <= 16)
        tile_rows(1, mr, nc, kc, a, lda, w, c, ldc, p);
    else
        tile_rows(2, mr, nc, kc, a, lda, w, c, ldc, p);
}
