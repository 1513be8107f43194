// 6x8 tile for AVX2 without VNNI. vpmaddubsw is not usable directly: its u8 x s8 pair sums
// (up to 2 * 255 * 127 = 64770) saturate s16. Instead both operands are widened to s16 and
// multiplied with vpmaddwd, whose pair sums go to s32 and are exact (|a*w| <= 255 * 127; only
// -32768 * -32768 twice can saturate, and neither operand reaches -32768).
// Per k-quad: the panel's 8 columns x 4 k are sign-extended to two ymm of 4 columns x 4 k
// s16; each A row contributes its 4 bytes as s16 repeated per 64-bit group; every column
// then owns 2 s32 lanes, summed pairwise at the end.
// A comes widened to u16 by the driver (qn_qs8_gemm_avx2_widen_a, once per call, zero to a
// whole k-quad), so a row's quad is one vpbroadcastq from memory, a load: widened in the loop
// (vpbroadcastd, then vpshufb) the shuffle was a sixth of the tile's vector ops. QNAS_ISA=avx2,
// 1 thread, Zen 5, bench-kernels, two alternations, vs oneDNN's AVX2 kernel: u8s8 GEMM 1024^3
// 171-174 -> 206 GOP/s (0.66x -> 0.79-0.80x), 196x384x384 0.66x -> 0.80x, 1x1 96->576 at
// 14x14 0.62x -> 0.73x.
// One call runs every row tile of the panel (p->mb rows each), the epilogue from the registers
// where it can (qs8-gemm-avx2.h).
#include <string.h>

#include "qs8-gemm/qs8-gemm-avx2.h"

// The k loop of the six rows (ar: widened rows; nq k-quads), in assembly: as C, GCC hoisted
// the six broadcasts ahead of the multiplies or, with them pinned in order, still kept most
// accumulators on the stack (16 ymm: 12 accumulators, the two B halves, A, a product).
#define QG_ROW(r, x, y)                                      \
    "vpbroadcastq (%%" r ",%%rax), %%ymm14\n\t"              \
    "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"                 \
    "vpaddd %%ymm15, %[" x "], %[" x "]\n\t"                 \
    "vpmaddwd %%ymm13, %%ymm14, %%ymm14\n\t"                 \
    "vpaddd %%ymm14, %[" y "], %[" y "]\n\t"
QN_QG_INLINE void kloop(const uint8_t *const *ar, size_t nq, const int8_t *b, __m256i *accx, __m256i *accy) {
    __m256i x0 = accx[0], x1 = accx[1], x2 = accx[2], x3 = accx[3], x4 = accx[4], x5 = accx[5];
    __m256i y0 = accy[0], y1 = accy[1], y2 = accy[2], y3 = accy[3], y4 = accy[4], y5 = accy[5];
    __asm__ volatile(
        "mov (%[ar]), %%rsi\n\t"
        "mov 8(%[ar]), %%rdi\n\t"
        "mov 16(%[ar]), %%r8\n\t"
        "mov 24(%[ar]), %%r9\n\t"
        "mov 32(%[ar]), %%r10\n\t"
        "mov 40(%[ar]), %%r11\n\t"
        "xor %%eax, %%eax\n\t"
        "test %[n], %[n]\n\t"
        "jz 2f\n\t"
        "1:\n\t"
        "vpmovsxbw (%[b]), %%ymm12\n\t"
        "vpmovsxbw 16(%[b]), %%ymm13\n\t"
        QG_ROW("rsi", "x0", "y0") QG_ROW("rdi", "x1", "y1") QG_ROW("r8", "x2", "y2")
        QG_ROW("r9", "x3", "y3") QG_ROW("r10", "x4", "y4") QG_ROW("r11", "x5", "y5")
        "add $32, %[b]\n\t"
        "add $8, %%rax\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "2:\n\t"
        : [x0] "+x"(x0), [x1] "+x"(x1), [x2] "+x"(x2), [x3] "+x"(x3), [x4] "+x"(x4), [x5] "+x"(x5),
          [y0] "+x"(y0), [y1] "+x"(y1), [y2] "+x"(y2), [y3] "+x"(y3), [y4] "+x"(y4), [y5] "+x"(y5),
          [b] "+r"(b), [n] "+r"(nq)
        : [ar] "r"(ar)
        : "rax", "rsi", "rdi", "r8", "r9", "r10", "r11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
    accx[0] = x0, accx[1] = x1, accx[2] = x2, accx[3] = x3, accx[4] = x4, accx[5] = x5;
    accy[0] = y0, accy[1] = y1, accy[2] = y2, accy[3] = y3, accy[4] = y4, accy[5] = y5;
}
#undef QG_ROW

// One tile of mr <= 6 rows.
QN_QG_INLINE void tile(const struct qn_qgemm_panel_avx2 *s, size_t mr, size_t nc, size_t kc, const uint8_t *a,
                       size_t lda, const int8_t *b, void *c, size_t ldc, const float *res,
                       const struct qn_qgemm_params *p) {
    const uint8_t *ar[6];
    __m256i accx[6], accy[6];
    qn_qgemm_tile_start_avx2(ar, accx, accy, a, lda, mr);
    kloop(ar, QN_DIV_UP(kc, 4), b, accx, accy);  // a K tail as a whole quad: copy and panel are zero past kc
#pragma GCC unroll 6
    for (size_t i = 0; i < 6; i++) accx[i] = qn_hsum_pairs_avx2(accx[i], accy[i]);
    qn_qgemm_tile_store_avx2(6, 1, s, mr, nc, accx, accy, c, ldc, res, p);
}

void qn_qs8_gemm_ukernel_6x8c4__avx2(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                     size_t lda, const void *w, void *c, size_t ldc,
                                     const struct qn_qgemm_params *p) {
    struct qn_qgemm_panel_avx2 s;
    qn_qgemm_panel_avx2_init(&s, nc, p);
    const size_t mb = p->mb ? p->mb : 6, esize = p->out_u8 ? 1 : sizeof(float);
    for (size_t m0 = 0; m0 < mr; m0 += mb)
        tile(&s, QN_MIN(mb, mr - m0), nc, kc, a + m0 * lda, lda, w, (uint8_t *)c + m0 * ldc * esize, ldc,
             p->residual ? p->residual + m0 * p->ldr : NULL, p);
}

void qn_qs8_gemm_avx2_widen_a(uint8_t *dst, size_t ldd, const uint8_t *src, size_t lds, size_t rows, size_t K,
                              size_t zero_rows) {
    for (size_t r = 0; r < rows; r++) {
        const uint8_t *s = src + r * lds;
        uint16_t *d = (uint16_t *)(void *)(dst + r * ldd);
        size_t k = 0;
        for (; k + 16 <= K; k += 16)
            _mm256_storeu_si256((__m256i *)(d + k), _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(s + k))));
        for (; k < K; k++) d[k] = s[k];
        memset(d + K, 0, ldd - 2 * K);
    }
    memset(dst + rows * ldd, 0, zero_rows * ldd);
}
