// GEMV over one 32-column packed s4 panel (layout in qs8-gemm.h): 128 bytes per k-oct, half
// the bytes of s8. Each 64-byte load is 16 columns x 8 k: low nibbles are k-quad 0, high
// nibbles k-quad 1, sign-extended by a vpshufb table lookup into ordinary s8 c4 operands, so
// the accumulator is sum A * W exactly, with no offset correction.
#include "qs8-gemm/qs8-gemm-avx512.h"

void qn_qs4_gemv_ukernel_32c8__avx512(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                      size_t lda, const void *w, void *c, size_t ldc,
                                      const struct qn_qgemm_params *p) {
    const uint8_t *b = w;
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(QN_S4_LUT_BYTES));
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    __m512i xl0 = qn_qgemm_acc0_avx512(p, 0, nc), xh0 = _mm512_setzero_si512();
    __m512i yl0 = qn_qgemm_acc0_avx512(p, 16, nc), yh0 = _mm512_setzero_si512();
    __m512i xl1 = _mm512_setzero_si512(), xh1 = _mm512_setzero_si512();
    __m512i yl1 = _mm512_setzero_si512(), yh1 = _mm512_setzero_si512();
#define OCT(off, xl, xh, yl, yh, va0, va1)                                                   \
    {                                                                                       \
        const __m512i x = _mm512_load_si512(b + (off)), y = _mm512_load_si512(b + (off) + 64); \
        const __m512i xlo = _mm512_shuffle_epi8(lut, _mm512_and_si512(x, lo4));             \
        const __m512i xhi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(x, 4), lo4)); \
        const __m512i ylo = _mm512_shuffle_epi8(lut, _mm512_and_si512(y, lo4));             \
        const __m512i yhi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(y, 4), lo4)); \
        xl = _mm512_dpbusd_epi32(xl, va0, xlo);                                             \
        yl = _mm512_dpbusd_epi32(yl, va0, ylo);                                             \
        xh = _mm512_dpbusd_epi32(xh, va1, xhi);                                             \
        yh = _mm512_dpbusd_epi32(yh, va1, yhi);                                             \
    }
    size_t k = 0;
    for (; k + 16 <= kc; k += 16, b += 256) {
        OCT(0, xl0, xh0, yl0, yh0, _mm512_set1_epi32(qn_load_a4(a + k)),
            _mm512_set1_epi32(qn_load_a4(a + k + 4)))
        OCT(128, xl1, xh1, yl1, yh1, _mm512_set1_epi32(qn_load_a4(a + k + 8)),
            _mm512_set1_epi32(qn_load_a4(a + k + 12)))
    }
    if (k + 8 <= kc) {
        OCT(0, xl0, xh0, yl0, yh0, _mm512_set1_epi32(qn_load_a4(a + k)),
            _mm512_set1_epi32(qn_load_a4(a + k + 4)))
        k += 8, b += 128;
    }
    if (k < kc) {
        // K tail (1..7 values): A bytes past kc are never read; the nibbles there are zero.
        const size_t r = kc - k;
        const int32_t a0 = r >= 4 ? qn_load_a4(a + k) : qn_load_a4_tail(a + k, r);
        const int32_t a1 = r > 4 ? qn_load_a4_tail(a + k + 4, r - 4) : 0;
        OCT(0, xl1, xh1, yl1, yh1, _mm512_set1_epi32(a0), _mm512_set1_epi32(a1))
    }
#undef OCT
    const __m512i x = _mm512_add_epi32(_mm512_add_epi32(xl0, xh0), _mm512_add_epi32(xl1, xh1));
    const __m512i y = _mm512_add_epi32(_mm512_add_epi32(yl0, yh0), _mm512_add_epi32(yl1, yh1));
    int32_t tile[32] __attribute__((aligned(64)));
    _mm512_store_si512(tile, x);
    _mm512_store_si512(tile + 16, y);
    qn_qgemm_epilogue__avx512(1, nc, tile, 32, c, ldc, p, false);
}
