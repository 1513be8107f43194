// 14x32 s32 tile, vpdpbusd zmm: per k-quad, 2 panel loads (32 columns x 4 k) and 14 4-byte
// broadcasts of A feed 28 vpdpbusd. 28 accumulators + 2 B + 1 A = 31 of 32 zmm.
// 14 rows: the ViT token count 196 = 14 x 14 tiles exactly. Edge tiles run only the rows
// (4, 8 or 14) and 16-column halves (1 or 2) they store: a 4x4 map at batch 1 is M = 16 =
// 14 + 2 rows, a 12-channel projection one half.
#include "qs8-gemm/qs8-gemm-avx512.h"

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
