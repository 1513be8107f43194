// GEMV over one 32-column s8 c4 panel: the panel is one contiguous stream of 128 bytes per
// k-quad; 4 k-quads per iteration into 4 independent accumulator pairs, so the 5-cycle
// vpdpbusd latency never limits the load rate.
#include "qs8-gemm/qs8-gemm-avx512.h"

void qn_qs8_gemv_ukernel_32c4__avx512(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                      size_t lda, const void *w, void *c, size_t ldc,
                                      const struct qn_qgemm_params *p) {
    const int8_t *b = w;
    __m512i x0 = qn_qgemm_acc0_avx512(p, 0, nc), y0 = qn_qgemm_acc0_avx512(p, 16, nc);
    __m512i x1 = _mm512_setzero_si512(), y1 = _mm512_setzero_si512();
    __m512i x2 = _mm512_setzero_si512(), y2 = _mm512_setzero_si512();
    __m512i x3 = _mm512_setzero_si512(), y3 = _mm512_setzero_si512();
    size_t k = 0;
#define QUAD(u, x, y, va)                                                  \
    {                                                                      \
        x = _mm512_dpbusd_epi32(x, va, _mm512_load_si512(b + 128 * u));      \
        y = _mm512_dpbusd_epi32(y, va, _mm512_load_si512(b + 128 * u + 64)); \
    }
    for (; k + 16 <= kc; k += 16, b += 512) {
        QUAD(0, x0, y0, _mm512_set1_epi32(qn_load_a4(a + k)))
        QUAD(1, x1, y1, _mm512_set1_epi32(qn_load_a4(a + k + 4)))
        QUAD(2, x2, y2, _mm512_set1_epi32(qn_load_a4(a + k + 8)))
        QUAD(3, x3, y3, _mm512_set1_epi32(qn_load_a4(a + k + 12)))
    }
    for (; k + 4 <= kc; k += 4, b += 128) QUAD(0, x0, y0, _mm512_set1_epi32(qn_load_a4(a + k)))
    if (k < kc) QUAD(0, x1, y1, _mm512_set1_epi32(qn_load_a4_tail(a + k, kc - k)))
#undef QUAD
    const __m512i x = _mm512_add_epi32(_mm512_add_epi32(x0, x1), _mm512_add_epi32(x2, x3));
    const __m512i y = _mm512_add_epi32(_mm512_add_epi32(y0, y1), _mm512_add_epi32(y2, y3));
    int32_t tile[32] __attribute__((aligned(64)));
    _mm512_store_si512(tile, x);
    _mm512_store_si512(tile + 16, y);
    qn_qgemm_epilogue__avx512(1, nc, tile, 32, c, ldc, p, false);
}
