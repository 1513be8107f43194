// 6x16 s32 tile, VEX vpdpbusd on ymm (AVX-VNNI): per k-quad 2 panel loads (16 columns x 4 k)
// and 6 broadcasts of A feed 12 vpdpbusd. 12 accumulators + 2 B + 1 A = 15 of 16 ymm.
#include "qs8-gemm/qs8-gemm-avx2.h"

#define QN_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

void qn_qs8_gemm_ukernel_6x16c4__avxvnni(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                         size_t lda, const void *w, void *c, size_t ldc,
                                         const struct qn_qgemm_params *p) {
    // Rows past mr alias the previous row: computed, never stored.
    const uint8_t *a0 = a;
#define NEXT(i, j) const uint8_t *a##j = mr > j ? a##i + lda : a##i;
    NEXT(0, 1) NEXT(1, 2) NEXT(2, 3) NEXT(3, 4) NEXT(4, 5)
#undef NEXT
#define DECL(i) __m256i acc##i##x = _mm256_setzero_si256(), acc##i##y = _mm256_setzero_si256();
    QN_ROWS(DECL)
#undef DECL
    const int8_t *b = w;
    size_t k = 0;
#define STEP(i)                                                     \
    {                                                               \
        const __m256i va = _mm256_set1_epi32(LOAD_A(a##i));         \
        acc##i##x = _mm256_dpbusd_avx_epi32(acc##i##x, va, b0);     \
        acc##i##y = _mm256_dpbusd_avx_epi32(acc##i##y, va, b1);     \
    }
#define LOAD_A(ptr) qn_load_a4(ptr + k)
    for (; k + 4 <= kc; k += 4) {
        const __m256i b0 = _mm256_load_si256((const __m256i *)b);
        const __m256i b1 = _mm256_load_si256((const __m256i *)(b + 32));
        b += 64;
        QN_ROWS(STEP)
    }
#undef LOAD_A
    if (k < kc) {
        // K tail: A bytes past kc are never read (the panel is zero there anyway).
#define LOAD_A(ptr) qn_load_a4_tail(ptr + k, kc - k)
        const __m256i b0 = _mm256_load_si256((const __m256i *)b);
        const __m256i b1 = _mm256_load_si256((const __m256i *)(b + 32));
        QN_ROWS(STEP)
#undef LOAD_A
    }
#undef STEP
    int32_t tile[6 * 16] __attribute__((aligned(32)));
#define STORE(i)                                                       \
    _mm256_store_si256((__m256i *)(tile + i * 16), acc##i##x);         \
    _mm256_store_si256((__m256i *)(tile + i * 16 + 8), acc##i##y);
    QN_ROWS(STORE)
#undef STORE
    qn_qgemm_epilogue__avx2(mr, nc, tile, 16, c, ldc, p);
}
