// 14x32 s32 tile, vpdpbusd zmm: per k-quad, 2 panel loads (32 columns x 4 k) and 14 4-byte
// broadcasts of A feed 28 vpdpbusd. 28 accumulators + 2 B + 1 A = 31 of 32 zmm.
// 14 rows: the ViT token count 196 = 14 x 14 tiles exactly.
#include "qs8-gemm/qs8-gemm-avx512.h"

#define QN_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

void qn_qs8_gemm_ukernel_14x32c4__avx512(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                         size_t lda, const void *w, void *c, size_t ldc,
                                         const struct qn_qgemm_params *p) {
    // Rows past mr alias the previous row: computed, never stored.
    const uint8_t *a0 = a;
#define NEXT(i, j) const uint8_t *a##j = mr > j ? a##i + lda : a##i;
    NEXT(0, 1) NEXT(1, 2) NEXT(2, 3) NEXT(3, 4) NEXT(4, 5) NEXT(5, 6) NEXT(6, 7) NEXT(7, 8)
    NEXT(8, 9) NEXT(9, 10) NEXT(10, 11) NEXT(11, 12) NEXT(12, 13)
#undef NEXT

    const __m512i zx = qn_qgemm_acc0_avx512(p, 0, nc), zy = qn_qgemm_acc0_avx512(p, 16, nc);
#define DECL(i) __m512i acc##i##x = zx, acc##i##y = zy;
    QN_ROWS(DECL)
#undef DECL

    const int8_t *b = w;
    size_t k = 0;
#define STEP(i)                                                  \
    {                                                            \
        const __m512i va = _mm512_set1_epi32(LOAD_A(a##i));      \
        acc##i##x = _mm512_dpbusd_epi32(acc##i##x, va, b0);      \
        acc##i##y = _mm512_dpbusd_epi32(acc##i##y, va, b1);      \
    }
#define LOAD_A(ptr) qn_load_a4(ptr + k)
    for (; k + 4 <= kc; k += 4) {
        const __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 64);
        b += 128;
        QN_ROWS(STEP)
    }
#undef LOAD_A
    if (k < kc) {
        // K tail: A bytes past kc are never read (the panel is zero there anyway).
#define LOAD_A(ptr) qn_load_a4_tail(ptr + k, kc - k)
        const __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 64);
        QN_ROWS(STEP)
#undef LOAD_A
    }
#undef STEP

    int32_t tile[14 * 32] __attribute__((aligned(64)));
#define STORE(i)                                            \
    _mm512_store_si512(tile + i * 32, acc##i##x);           \
    _mm512_store_si512(tile + i * 32 + 16, acc##i##y);
    QN_ROWS(STORE)
#undef STORE
    qn_qgemm_epilogue__avx512(mr, nc, tile, 32, c, ldc, p);
}
