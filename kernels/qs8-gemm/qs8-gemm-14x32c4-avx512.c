// 14x32 s32 tile, vpdpbusd zmm: per k-quad, 2 panel loads (32 columns x 4 k) and 14 4-byte
// broadcasts of A feed 28 vpdpbusd. 28 accumulators + 2 B + 1 A = 31 of 32 zmm.
// 14 rows: the ViT token count 196 = 14 x 14 tiles exactly. Edge tiles run only the rows
// (4, 8 or 14) and 16-column halves (1 or 2) they store: a 4x4 map at batch 1 is M = 16 =
// 14 + 2 rows, a 12-channel projection one half.
//
// One call runs every row tile of a panel (rows in tiles of p->mb): the per-column constants
// (accumulator start, scales, bias, requantization) are set up once per panel, not per tile,
// and the FP32 epilogue tests bias and residual once per tile, not per row. At K = 96 (a 1x1
// expand layer) the k loop of a tile is 336 cycles of vpdpbusd, so such per-tile work shows:
// 196x576x96 went from 620 to 645 GOP/s (FP32 out) and 526 to 555 (u8 ReLU6 out), 1 thread.
// A single tile (the driver's M-tile-outer order for large M) takes a loop-free path, and
// a_zp == 0 starts the accumulators from zeroing idioms instead of 28 register copies.
#include "qs8-gemm/qs8-gemm-avx512.h"
#include "qs8-gemm/qs8-requant-avx512.h"

enum epi { EPI_F32, EPI_F32_ACT, EPI_U8_FAST, EPI_STACK };

// What every tile of the panel shares.
struct panel {
    __m512i zx, zy;                    // accumulator start values
    struct qn_qgemm_cols16 cx, cy;     // column halves
    struct qn_requant_fast_avx512 f;   // EPI_U8_FAST only
    __mmask32 m;                       // both halves' store mask (EPI_U8_FAST)
    bool has_bias;                     // EPI_F32_ACT
    enum epi epi;
};

static inline __attribute__((always_inline)) void panel_init(struct panel *s, size_t NV, size_t nc,
                                                             const struct qn_qgemm_params *p) {
    s->zx = qn_qgemm_acc0_avx512(p, 0, nc);
    s->zy = NV == 2 ? qn_qgemm_acc0_avx512(p, 16, nc) : s->zx;
    s->cx = qn_qgemm_cols16_avx512(p, 0, nc);
    s->cy = NV == 2 ? qn_qgemm_cols16_avx512(p, 16, nc) : s->cx;
    s->m = (__mmask32)s->cx.mask | (__mmask32)s->cy.mask << 16;
    s->has_bias = p->bias != NULL;
    s->f = (struct qn_requant_fast_avx512){0};
    struct qn_requant_fast rf;
    if (!p->out_u8 && p->act == QN_ACT_NONE) {
        s->epi = EPI_F32;
    } else if (!p->out_u8 && !p->residual && p->act != QN_ACT_GELU) {
        s->epi = EPI_F32_ACT;
    } else if (qn_requant_fast_init(&rf, p->act, p->residual != NULL, p->out_u8, p->inv_out,
                                                 (int32_t)p->out_zp, (int32_t)p->out_qmax)) {
        s->epi = EPI_U8_FAST;
        s->f = qn_requant_fast_avx512_init(&rf);
    } else {
        s->epi = EPI_STACK;
    }
}

// FP32 out: acc * mul (+ bias) (+ residual), one copy per combination so no row tests them.
static inline __attribute__((always_inline)) void store_f32(const size_t R, const size_t NV, const bool BIAS,
                                                            const bool RES,
                                                            const struct panel *s, size_t mr,
                                                            const __m512i *accx, const __m512i *accy, void *c,
                                                            size_t ldc, const float *res, size_t ldr) {
    float *cf = c;
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++) {
        if (i >= mr) break;
        __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(accx[i]), s->cx.mul);
        if (BIAS) y = _mm512_add_ps(y, s->cx.bias);
        if (RES) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(s->cx.mask, res + i * ldr));
        _mm512_mask_storeu_ps(cf + i * ldc, s->cx.mask, y);
        if (NV == 2) {
            __m512 z = _mm512_mul_ps(_mm512_cvtepi32_ps(accy[i]), s->cy.mul);
            if (BIAS) z = _mm512_add_ps(z, s->cy.bias);
            if (RES) z = _mm512_add_ps(z, _mm512_maskz_loadu_ps(s->cy.mask, res + i * ldr + 16));
            _mm512_mask_storeu_ps(cf + i * ldc + 16, s->cy.mask, z);
        }
    }
}

// FP32 out with ReLU / ReLU6 / hardswish and no residual (the head; in a mixed policy, a
// quantized layer feeding an FP32 one): the stack tile's sequence (acc * mul, + bias, the
// activation of qn_qgemm_act_avx512), the same bits, from the registers. 196x72x12 (an expand
// layer at 14x14), 1 thread: 3.0-3.5 us through the stack, 1.8 so (1.7 without activation).
static inline __attribute__((always_inline)) void store_f32_act(const size_t R, const size_t NV, const enum qn_act ACT,
                                                                const struct panel *s, size_t mr,
                                                                const __m512i *accx, const __m512i *accy, void *c,
                                                                size_t ldc) {
    float *cf = c;
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++) {
        if (i >= mr) break;
        // the bias only where there is one, as in the reference: adding a zero would turn a
        // -0 into +0, which the activations pass on
        __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(accx[i]), s->cx.mul);
        if (s->has_bias) y = _mm512_add_ps(y, s->cx.bias);
        _mm512_mask_storeu_ps(cf + i * ldc, s->cx.mask, qn_qgemm_act_avx512(ACT, y));
        if (NV == 2) {
            __m512 z = _mm512_mul_ps(_mm512_cvtepi32_ps(accy[i]), s->cy.mul);
            if (s->has_bias) z = _mm512_add_ps(z, s->cy.bias);
            _mm512_mask_storeu_ps(cf + i * ldc + 16, s->cy.mask, qn_qgemm_act_avx512(ACT, z));
        }
    }
}

// Rows [0, mr) of one tile; a, c and res (the tile's residual rows or NULL) already point at
// the tile's first row.
static inline __attribute__((always_inline)) void tile(const size_t R, const size_t NV, const bool ZP,
                                                       const struct panel *s,
                                                       size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                                       size_t lda, const void *w, void *c, size_t ldc,
                                                       const float *res, const struct qn_qgemm_params *p) {
    // Rows past mr alias the previous row: computed, never stored.
    const uint8_t *ar[14];
    ar[0] = a;
#pragma GCC unroll 14
    for (size_t i = 1; i < R; i++) ar[i] = mr > i ? ar[i - 1] + lda : ar[i - 1];
    __m512i accx[14], accy[14];
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++) {
        // a_zp == 0: no correction, and zeroing idioms cost no execution port (28 register
        // copies of the start value measured 3% of a K = 96 tile)
        accx[i] = ZP ? s->zx : _mm512_setzero_si512();
        accy[i] = ZP ? s->zy : _mm512_setzero_si512();
    }
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
    // projection layers, residual or not), FP32 out with an activation but no residual
    // (store_f32_act) and the folded u8 one of qs8-requant.h (expand layers), two rows per
    // pack. Any other (u8 out with hardswish or a residual, GELU) goes through the stack tile.
    if (s->epi == EPI_F32) {
        // bias and residual tested once per tile, not per row
        if (res && p->bias)
            store_f32(R, NV, true, true, s, mr, accx, accy, c, ldc, res, p->ldr);
        else if (res)
            store_f32(R, NV, false, true, s, mr, accx, accy, c, ldc, res, p->ldr);
        else if (p->bias)
            store_f32(R, NV, true, false, s, mr, accx, accy, c, ldc, NULL, 0);
        else
            store_f32(R, NV, false, false, s, mr, accx, accy, c, ldc, NULL, 0);
        return;
    }
    if (s->epi == EPI_F32_ACT) {
        switch (p->act) {
        case QN_ACT_RELU: store_f32_act(R, NV, QN_ACT_RELU, s, mr, accx, accy, c, ldc); return;
        case QN_ACT_RELU6: store_f32_act(R, NV, QN_ACT_RELU6, s, mr, accx, accy, c, ldc); return;
        default: store_f32_act(R, NV, QN_ACT_HSWISH, s, mr, accx, accy, c, ldc); return;
        }
    }
    if (NV == 2 && s->epi == EPI_U8_FAST) {
        uint8_t *cu = c;
#pragma GCC unroll 7
        for (size_t i = 0; i < R; i += 2) {
            if (i >= mr) break;
            qn_requant_fast_store2x32_avx512(&s->f, accx[i], accy[i], accx[i + 1], accy[i + 1], s->cx.mul, s->cy.mul,
                                             &s->cx.bias, &s->cy.bias, cu + i * ldc, ldc, s->m, i + 1 < mr);
        }
        return;
    }
    if (NV == 1 && s->epi == EPI_U8_FAST) {
        // a 16-column half (N = 48's last panel, 72's last 8 columns): four rows per pack, row
        // i + l in 128-bit lane l (past R the pack repeats a row, past mr nothing is stored)
        uint8_t *cu = c;
#pragma GCC unroll 4
        for (size_t i = 0; i < R; i += 4) {
            if (i >= mr) break;
            __m512i r[4];
#pragma GCC unroll 4
            for (size_t l = 0; l < 4; l++)
                r[l] = qn_requant_fast_r_avx512(&s->f, accx[i + l < R ? i + l : i], s->cx.mul, &s->cx.bias);
            const __m512i q = qn_requant_fast_pack4_avx512(&s->f, r[0], r[1], r[2], r[3]);
            _mm_mask_storeu_epi8(cu + i * ldc, s->cx.mask, _mm512_castsi512_si128(q));
            if (i + 1 < mr) _mm_mask_storeu_epi8(cu + (i + 1) * ldc, s->cx.mask, _mm512_extracti32x4_epi32(q, 1));
            if (i + 2 < mr) _mm_mask_storeu_epi8(cu + (i + 2) * ldc, s->cx.mask, _mm512_extracti32x4_epi32(q, 2));
            if (i + 3 < mr) _mm_mask_storeu_epi8(cu + (i + 3) * ldc, s->cx.mask, _mm512_extracti32x4_epi32(q, 3));
        }
        return;
    }
    int32_t t[14 * 32] __attribute__((aligned(64)));
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++) {
        _mm512_store_si512(t + i * 32, accx[i]);
        if (NV == 2) _mm512_store_si512(t + i * 32 + 16, accy[i]);
    }
    struct qn_qgemm_params tp = *p;
    tp.residual = res;
    qn_qgemm_epilogue__avx512(mr, nc, t, 32, c, ldc, &tp, false);
}

// --- Full 14x32 tiles with FP32 out, in inline assembly ---
// The C tile above runs its k loop at the VNNI peak, but what GCC makes of the code around the
// loop depends on everything else in the function (a version with the FP32 epilogue split
// into its own function spilled accumulators inside the k loop and ran at half speed), and
// as it stands it costs ~5% at K = 96: 196x576x96 (a 1x1 expand layer, FP32 out) ran 649 GOP/s
// in C and 682 here, 1 thread; the VNNI ports' bound with the 56 cvt / mul of a tile's
// epilogue is ~699. This one pins the registers: accumulators x in zmm4..17, y in zmm18..31,
// B in zmm0/1, A broadcasts alternating zmm2/3. Rows 0-4 address A from rsi, 5-9 from rdi,
// 10-13 from r8, with rdx = lda and rcx = 3 * lda, so no row needs its own pointer. Same float
// operations as store_f32 (cvt, mul, + bias, + residual), so the results are bit-identical.
// Used for the full tiles of multi-tile calls (panel by panel: the batch-1 layers); a lone
// tile (the driver's M-tile-outer order for large M, K deep) keeps the C tile, whose
// epilogue is a small share there.
struct tile_args {
    const uint8_t *a;
    size_t lda;
    const void *b;
    size_t kq;        // k-quads: kc / 4 (kc a multiple of 4: A is never read past kc)
    void *c;
    size_t ldcb;      // bytes
    const float *res;
    size_t ldrb;      // bytes
    uint16_t mx, my;  // column masks of the two halves
};

#define QA_ROW(addr, va, x, y)                                     \
    "vpbroadcastd " addr ", %%zmm" va "\n\t"                      \
    "vpdpbusd %%zmm0, %%zmm" va ", %%zmm" x "\n\t"                \
    "vpdpbusd %%zmm1, %%zmm" va ", %%zmm" y "\n\t"
// rows base, base + lda, base + 2 lda, base + 3 lda
#define QA_ROWS4(base, x0, y0, x1, y1, x2, y2, x3, y3)              \
    QA_ROW("(" base ")", "2", x0, y0)                               \
    QA_ROW("(" base ",%%rdx)", "3", x1, y1)                         \
    QA_ROW("(" base ",%%rdx,2)", "2", x2, y2)                       \
    QA_ROW("(" base ",%%rcx)", "3", x3, y3)
#define QA_KSTEP                                                    \
    "vmovdqa64 (%%r9), %%zmm0\n\t"                                 \
    "vmovdqa64 64(%%r9), %%zmm1\n\t"                               \
    QA_ROWS4("%%rsi", "4", "18", "5", "19", "6", "20", "7", "21")  \
    QA_ROW("(%%rsi,%%rdx,4)", "2", "8", "22")                      \
    QA_ROWS4("%%rdi", "9", "23", "10", "24", "11", "25", "12", "26") \
    QA_ROW("(%%rdi,%%rdx,4)", "3", "13", "27")                     \
    QA_ROWS4("%%r8", "14", "28", "15", "29", "16", "30", "17", "31")
#define QA_EACH_ROW(F)                                                                            \
    F("4", "18") F("5", "19") F("6", "20") F("7", "21") F("8", "22") F("9", "23") F("10", "24") \
    F("11", "25") F("12", "26") F("13", "27") F("14", "28") F("15", "29") F("16", "30") F("17", "31")
#define QA_ZERO(x, y) "vpxord %%zmm" x ", %%zmm" x ", %%zmm" x "\n\t" "vpxord %%zmm" y ", %%zmm" y ", %%zmm" y "\n\t"
// a_zp != 0: from the column start values, loaded once into zmm2/3 (28 loads from memory
// measured 1% slower: 665-668 against 671-675 GOP/s); the a_zp == 0 tiles load them too,
// unused (two loads a tile)
#define QA_ZP(x, y) "vmovdqa64 %%zmm2, %%zmm" x "\n\t" "vmovdqa64 %%zmm3, %%zmm" y "\n\t"
#define QA_BIAS(r, b) "vaddps %%zmm" b ", %%zmm" r ", %%zmm" r "\n\t"
#define QA_RES(r, off, k) "vaddps " off "(%%rdi), %%zmm" r ", %%zmm" r "%{%%" k "%}\n\t"
#define QA_NOBIAS(r, b)
#define QA_NORES(r, off, k)
// row: y = cvt(acc) * mul (+ bias) (+ residual), masked stores; rsi = C row, rdi = residual row
#define QA_ST(x, y)                                                          \
    "vmovups %%zmm" x ", (%%rsi)%{%%k1%}\n\t"                               \
    "vmovups %%zmm" y ", 64(%%rsi)%{%%k2%}\n\t"
// non-temporal: full 32-column rows of a 64-byte aligned C (the masks are all ones)
#define QA_ST_NT(x, y)                                                       \
    "vmovntps %%zmm" x ", (%%rsi)\n\t"                                       \
    "vmovntps %%zmm" y ", 64(%%rsi)\n\t"
#define QA_F32_ROW(ST, BIAS, RES, x, y)                                      \
    "vcvtdq2ps %%zmm" x ", %%zmm" x "\n\t"                                  \
    "vcvtdq2ps %%zmm" y ", %%zmm" y "\n\t"                                  \
    "vmulps %%zmm0, %%zmm" x ", %%zmm" x "\n\t"                             \
    "vmulps %%zmm1, %%zmm" y ", %%zmm" y "\n\t"                             \
    BIAS(x, "2") BIAS(y, "3")                                               \
    RES(x, "", "k1") RES(y, "64", "k2")                                     \
    ST(x, y)                                                                \
    "add %%rdx, %%rsi\n\t"                                                  \
    "add %%r8, %%rdi\n\t"
#define QA_ROW_F32(x, y) QA_F32_ROW(QA_ST, QA_NOBIAS, QA_NORES, x, y)
#define QA_ROW_F32_B(x, y) QA_F32_ROW(QA_ST, QA_BIAS, QA_NORES, x, y)
#define QA_ROW_F32_R(x, y) QA_F32_ROW(QA_ST, QA_NOBIAS, QA_RES, x, y)
#define QA_ROW_F32_BR(x, y) QA_F32_ROW(QA_ST, QA_BIAS, QA_RES, x, y)
#define QA_ROW_F32_NT(x, y) QA_F32_ROW(QA_ST_NT, QA_NOBIAS, QA_NORES, x, y)
#define QA_ROW_F32_B_NT(x, y) QA_F32_ROW(QA_ST_NT, QA_BIAS, QA_NORES, x, y)
#define QA_ROW_F32_R_NT(x, y) QA_F32_ROW(QA_ST_NT, QA_NOBIAS, QA_RES, x, y)
#define QA_ROW_F32_BR_NT(x, y) QA_F32_ROW(QA_ST_NT, QA_BIAS, QA_RES, x, y)

// name(s, t): one full tile; INIT is QA_ZERO (a_zp == 0) or QA_ZP, ROW one of QA_ROW_F32*.
// Epilogue: mul in zmm0/1, bias in zmm2/3, column masks in k1/k2.
#define TILE_ASM_FN(name, INIT, ROW)                                                            \
    static __attribute__((noinline)) void name(const struct panel *s, const struct tile_args *t) { \
        __asm__ volatile(                                                                       \
            "vmovdqa64 %c[zx](%[s]), %%zmm2\n\t"                                                \
            "vmovdqa64 %c[zy](%[s]), %%zmm3\n\t"                                                \
            QA_EACH_ROW(INIT)                                                                   \
            "mov %c[a](%[t]), %%rsi\n\t"                                                        \
            "mov %c[lda](%[t]), %%rdx\n\t"                                                      \
            "lea (%%rdx,%%rdx,2), %%rcx\n\t"                                                    \
            "lea (%%rsi,%%rdx,4), %%rdi\n\t"                                                    \
            "add %%rdx, %%rdi\n\t"                                                              \
            "lea (%%rdi,%%rdx,4), %%r8\n\t"                                                     \
            "add %%rdx, %%r8\n\t"                                                               \
            "mov %c[b](%[t]), %%r9\n\t"                                                         \
            "mov %c[kq](%[t]), %%r10\n\t"                                                       \
            "test %%r10, %%r10\n\t"                                                             \
            "jz 2f\n\t"                                                                         \
            "1:\n\t"                                                                            \
            QA_KSTEP                                                                            \
            "add $4, %%rsi\n\t"                                                                 \
            "add $4, %%rdi\n\t"                                                                 \
            "add $4, %%r8\n\t"                                                                  \
            "sub $-128, %%r9\n\t"                                                               \
            "dec %%r10\n\t"                                                                     \
            "jnz 1b\n\t"                                                                        \
            "2:\n\t"                                                                            \
            "vmovaps %c[mx](%[s]), %%zmm0\n\t"                                                  \
            "vmovaps %c[my](%[s]), %%zmm1\n\t"                                                  \
            "vmovaps %c[bx](%[s]), %%zmm2\n\t"                                                  \
            "vmovaps %c[by](%[s]), %%zmm3\n\t"                                                  \
            "kmovw %c[kx](%[t]), %%k1\n\t"                                                      \
            "kmovw %c[ky](%[t]), %%k2\n\t"                                                      \
            "mov %c[c](%[t]), %%rsi\n\t"                                                        \
            "mov %c[ldc](%[t]), %%rdx\n\t"                                                      \
            "mov %c[res](%[t]), %%rdi\n\t"                                                      \
            "mov %c[ldr](%[t]), %%r8\n\t"                                                       \
            QA_EACH_ROW(ROW)                                                                    \
            :                                                                                   \
            : [s] "r"(s), [t] "r"(t), [zx] "i"(offsetof(struct panel, zx)),                     \
              [zy] "i"(offsetof(struct panel, zy)), [mx] "i"(offsetof(struct panel, cx.mul)),   \
              [my] "i"(offsetof(struct panel, cy.mul)), [bx] "i"(offsetof(struct panel, cx.bias)), \
              [by] "i"(offsetof(struct panel, cy.bias)), [a] "i"(offsetof(struct tile_args, a)), \
              [lda] "i"(offsetof(struct tile_args, lda)), [b] "i"(offsetof(struct tile_args, b)), \
              [kq] "i"(offsetof(struct tile_args, kq)), [c] "i"(offsetof(struct tile_args, c)),  \
              [ldc] "i"(offsetof(struct tile_args, ldcb)), [res] "i"(offsetof(struct tile_args, res)), \
              [ldr] "i"(offsetof(struct tile_args, ldrb)), [kx] "i"(offsetof(struct tile_args, mx)), \
              [ky] "i"(offsetof(struct tile_args, my))                                          \
            : "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "k1", "k2", "cc", "memory", "xmm0",   \
              "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",     \
              "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19",     \
              "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",     \
              "xmm29", "xmm30", "xmm31");                                                      \
    }
TILE_ASM_FN(tile_f32, QA_ZERO, QA_ROW_F32)
TILE_ASM_FN(tile_f32_b, QA_ZERO, QA_ROW_F32_B)
TILE_ASM_FN(tile_f32_r, QA_ZERO, QA_ROW_F32_R)
TILE_ASM_FN(tile_f32_br, QA_ZERO, QA_ROW_F32_BR)
TILE_ASM_FN(tile_f32_zp, QA_ZP, QA_ROW_F32)
TILE_ASM_FN(tile_f32_b_zp, QA_ZP, QA_ROW_F32_B)
TILE_ASM_FN(tile_f32_r_zp, QA_ZP, QA_ROW_F32_R)
TILE_ASM_FN(tile_f32_br_zp, QA_ZP, QA_ROW_F32_BR)
TILE_ASM_FN(tile_f32_nt, QA_ZERO, QA_ROW_F32_NT)
TILE_ASM_FN(tile_f32_b_nt, QA_ZERO, QA_ROW_F32_B_NT)
TILE_ASM_FN(tile_f32_r_nt, QA_ZERO, QA_ROW_F32_R_NT)
TILE_ASM_FN(tile_f32_br_nt, QA_ZERO, QA_ROW_F32_BR_NT)
TILE_ASM_FN(tile_f32_zp_nt, QA_ZP, QA_ROW_F32_NT)
TILE_ASM_FN(tile_f32_b_zp_nt, QA_ZP, QA_ROW_F32_B_NT)
TILE_ASM_FN(tile_f32_r_zp_nt, QA_ZP, QA_ROW_F32_R_NT)
TILE_ASM_FN(tile_f32_br_zp_nt, QA_ZP, QA_ROW_F32_BR_NT)

// One tile of mr <= 14 rows, as the 4-, 8- or 14-row form.
static inline __attribute__((always_inline)) void tile_rows(const size_t NV, const bool ZP, const struct panel *s,
                                                            size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                                            size_t lda, const void *w, void *c, size_t ldc,
                                                            const float *res, const struct qn_qgemm_params *p) {
    if (mr <= 4)
        tile(4, NV, ZP, s, mr, nc, kc, a, lda, w, c, ldc, res, p);
    else if (mr <= 8)
        tile(8, NV, ZP, s, mr, nc, kc, a, lda, w, c, ldc, res, p);
    else
        tile(14, NV, ZP, s, mr, nc, kc, a, lda, w, c, ldc, res, p);
}

static inline __attribute__((always_inline)) void panel_rows(const size_t NV, const bool ZP, size_t M, size_t nc, size_t kc,
                                                             const uint8_t *a, size_t lda, const void *w,
                                                             void *c, size_t ldc,
                                                             const struct qn_qgemm_params *p) {
    struct panel s;
    panel_init(&s, NV, nc, p);
    if (M <= 14) {  // one tile: no loop (its row-pointer bookkeeping costs a single tile ~80 cycles)
        tile_rows(NV, ZP, &s, M, nc, kc, a, lda, w, c, ldc, p->residual, p);
        return;
    }
    const size_t mb = p->mb ? p->mb : 14, esize = p->out_u8 ? 1 : sizeof(float);
    size_t m0 = 0;
    if (NV == 2 && s.epi == EPI_F32 && mb == 14 && kc % 4 == 0) {
        typedef void (*tile_fn)(const struct panel *, const struct tile_args *);
        // [non-temporal][bias][residual][zero point]
        static const tile_fn fns[2][2][2][2] = {
            {{{tile_f32, tile_f32_zp}, {tile_f32_r, tile_f32_r_zp}},
             {{tile_f32_b, tile_f32_b_zp}, {tile_f32_br, tile_f32_br_zp}}},
            {{{tile_f32_nt, tile_f32_zp_nt}, {tile_f32_r_nt, tile_f32_r_zp_nt}},
             {{tile_f32_b_nt, tile_f32_b_zp_nt}, {tile_f32_br_nt, tile_f32_br_zp_nt}}},
        };
        const bool nt = p->stream && nc == 32 && ((uintptr_t)c & 63) == 0 && ((ldc * esize) & 63) == 0;
        const tile_fn fn = fns[nt][p->bias != NULL][p->residual != NULL][ZP];
        struct tile_args t = {.lda = lda, .b = w, .kq = kc / 4, .ldcb = ldc * esize,
                              .ldrb = p->ldr * sizeof(float), .mx = s.cx.mask, .my = s.cy.mask};
        for (; m0 + 14 <= M; m0 += 14) {
            t.a = a + m0 * lda;
            t.c = (uint8_t *)c + m0 * ldc * esize;
            t.res = p->residual ? p->residual + m0 * p->ldr : NULL;
            fn(&s, &t);
        }
    }
    for (; m0 < M; m0 += mb)
        tile_rows(NV, ZP, &s, M - m0 < mb ? M - m0 : mb, nc, kc, a + m0 * lda, lda, w,
                  (uint8_t *)c + m0 * ldc * esize, ldc, p->residual ? p->residual + m0 * p->ldr : NULL, p);
}

// One function per (columns, zero point) case, each with its own register allocation.
#define PANEL_FN(name, NV, ZP)                                                                      \
    static __attribute__((noinline)) void name(size_t mr, size_t nc, size_t kc, const uint8_t *a,  \
                                               size_t lda, const void *w, void *c, size_t ldc,     \
                                               const struct qn_qgemm_params *p) {                  \
        panel_rows(NV, ZP, mr, nc, kc, a, lda, w, c, ldc, p);                                      \
    }
PANEL_FN(half_zp, 1, true)
PANEL_FN(half, 1, false)
PANEL_FN(full_zp, 2, true)
PANEL_FN(full, 2, false)

void qn_qs8_gemm_ukernel_14x32c4__avx512(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                         size_t lda, const void *w, void *c, size_t ldc,
                                         const struct qn_qgemm_params *p) {
    if (nc <= 16)
        (p->a_zp ? half_zp : half)(mr, nc, kc, a, lda, w, c, ldc, p);
    else
        (p->a_zp ? full_zp : full)(mr, nc, kc, a, lda, w, c, ldc, p);
}
