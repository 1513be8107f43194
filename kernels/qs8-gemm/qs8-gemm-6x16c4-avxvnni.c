// 6x16 s32 tile, VEX vpdpbusd on ymm (AVX-VNNI): per k-quad 2 panel loads (16 columns x 4 k)
// and 6 broadcasts of A feed 12 vpdpbusd. 12 accumulators + 2 B + 1 A = 15 of 16 ymm.
// One call runs every row tile of the panel (p->mb rows each), the epilogue from the registers
// where it can (qs8-gemm-avx2.h); a panel of at most 8 columns runs the first half only.
#include "qs8-gemm/qs8-gemm-avx2.h"

// One k-quad (n < 4: the K tail; the panel is zero past kc) of the six rows.
QN_QG_INLINE void step(const size_t NV, const uint8_t *const *ar, size_t k, size_t n, const int8_t *b,
                       __m256i *accx, __m256i *accy) {
    const __m256i b0 = _mm256_load_si256((const __m256i *)b);
    const __m256i b1 = NV == 2 ? _mm256_load_si256((const __m256i *)(b + 32)) : b0;
#pragma GCC unroll 6
    for (size_t i = 0; i < 6; i++) {
        const __m256i va = _mm256_set1_epi32(n == 4 ? qn_load_a4(ar[i] + k) : qn_load_a4_tail(ar[i] + k, n));
        accx[i] = _mm256_dpbusd_avx_epi32(accx[i], va, b0);
        if (NV == 2) accy[i] = _mm256_dpbusd_avx_epi32(accy[i], va, b1);
    }
}

// One tile of mr <= 6 rows.
QN_QG_INLINE void tile(const size_t NV, const struct qn_qgemm_panel_avx2 *s, size_t mr, size_t nc, size_t kc,
                       const uint8_t *a, size_t lda, const int8_t *b, void *c, size_t ldc, const float *res,
                       const struct qn_qgemm_params *p) {
    const uint8_t *ar[6];
    __m256i accx[6], accy[6];
    qn_qgemm_tile_start_avx2(ar, accx, accy, a, lda, mr);
    size_t k = 0;
    for (; k + 4 <= kc; k += 4, b += 64) step(NV, ar, k, 4, b, accx, accy);
    if (k < kc) step(NV, ar, k, kc - k, b, accx, accy);  // K tail: A bytes past kc are never read
    qn_qgemm_tile_store_avx2(6, NV, s, mr, nc, accx, accy, c, ldc, res, p);
}

QN_QG_INLINE void panel_rows(const size_t NV, size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t lda,
                             const void *w, void *c, size_t ldc, const struct qn_qgemm_params *p) {
    struct qn_qgemm_panel_avx2 s;
    qn_qgemm_panel_avx2_init(&s, nc, p);
    const size_t mb = p->mb ? p->mb : 6, esize = p->out_u8 ? 1 : sizeof(float);
    for (size_t m0 = 0; m0 < mr; m0 += mb)
        tile(NV, &s, QN_MIN(mb, mr - m0), nc, kc, a + m0 * lda, lda, w, (uint8_t *)c + m0 * ldc * esize, ldc,
             p->residual ? p->residual + m0 * p->ldr : NULL, p);
}

static __attribute__((noinline)) void half(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t lda,
                                           const void *w, void *c, size_t ldc, const struct qn_qgemm_params *p) {
    panel_rows(1, mr, nc, kc, a, lda, w, c, ldc, p);
}

static __attribute__((noinline)) void full(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t lda,
                                           const void *w, void *c, size_t ldc, const struct qn_qgemm_params *p) {
    panel_rows(2, mr, nc, kc, a, lda, w, c, ldc, p);
}

void qn_qs8_gemm_ukernel_6x16c4__avxvnni(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                         size_t lda, const void *w, void *c, size_t ldc,
                                         const struct qn_qgemm_params *p) {
    (nc > 8 ? full : half)(mr, nc, kc, a, lda, w, c, ldc, p);
}
