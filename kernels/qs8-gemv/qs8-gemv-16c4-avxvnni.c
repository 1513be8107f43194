// GEMV over one 16-column s8 c4 panel with VEX vpdpbusd: 64 contiguous bytes per k-quad,
// 4 k-quads per iteration into 4 independent accumulator pairs (latency hidden).
#include "qs8-gemm/qs8-gemm-avx2.h"

void qn_qs8_gemv_ukernel_16c4__avxvnni(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                       size_t lda, const void *w, void *c, size_t ldc,
                                       const struct qn_qgemm_params *p) {
    const int8_t *b = w;
    __m256i x0 = _mm256_setzero_si256(), y0 = _mm256_setzero_si256();
    __m256i x1 = _mm256_setzero_si256(), y1 = _mm256_setzero_si256();
    __m256i x2 = _mm256_setzero_si256(), y2 = _mm256_setzero_si256();
    __m256i x3 = _mm256_setzero_si256(), y3 = _mm256_setzero_si256();
#define QUAD(u, x, y, va)                                                                       \
    {                                                                                           \
        x = _mm256_dpbusd_avx_epi32(x, va, _mm256_load_si256((const __m256i *)(b + 64 * u)));      \
        y = _mm256_dpbusd_avx_epi32(y, va, _mm256_load_si256((const __m256i *)(b + 64 * u + 32))); \
    }
    size_t k = 0;
    for (; k + 16 <= kc; k += 16, b += 256) {
        QUAD(0, x0, y0, _mm256_set1_epi32(qn_load_a4(a + k)))
        QUAD(1, x1, y1, _mm256_set1_epi32(qn_load_a4(a + k + 4)))
        QUAD(2, x2, y2, _mm256_set1_epi32(qn_load_a4(a + k + 8)))
        QUAD(3, x3, y3, _mm256_set1_epi32(qn_load_a4(a + k + 12)))
    }
    for (; k + 4 <= kc; k += 4, b += 64) QUAD(0, x0, y0, _mm256_set1_epi32(qn_load_a4(a + k)))
    if (k < kc) QUAD(0, x1, y1, _mm256_set1_epi32(qn_load_a4_tail(a + k, kc - k)))
#undef QUAD
    const __m256i x = _mm256_add_epi32(_mm256_add_epi32(x0, x1), _mm256_add_epi32(x2, x3));
    const __m256i y = _mm256_add_epi32(_mm256_add_epi32(y0, y1), _mm256_add_epi32(y2, y3));
    int32_t tile[16] __attribute__((aligned(32)));
    _mm256_store_si256((__m256i *)tile, x);
    _mm256_store_si256((__m256i *)(tile + 8), y);
    qn_qgemm_epilogue__avx2(1, nc, tile, 16, c, ldc, p);
}
