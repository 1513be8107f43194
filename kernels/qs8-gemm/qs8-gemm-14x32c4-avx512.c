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

enum epi { EPI_F32, EPI_U8_FAST, EPI_STACK };

// What every tile of the panel shares.
struct panel {
    __m512i zx, zy;                    // accumulator start values
    struct qn_qgemm_cols16 cx, cy;     // column halves
    struct qn_requant_fast_avx512 f;   // EPI_U8_FAST only
    __mmask32 m;                       // both halves' store mask (EPI_U8_FAST)
    enum epi epi;
};

static inline __attribute__((always_inline)) void panel_init(struct panel *s, size_t NV, size_t nc,
                                                             const struct qn_qgemm_params *p) {
    s->zx = qn_qgemm_acc0_avx512(p, 0, nc);
    s->zy = NV == 2 ? qn_qgemm_acc0_avx512(p, 16, nc) : s->zx;
    s->cx = qn_qgemm_cols16_avx512(p, 0, nc);
    s->cy = NV == 2 ? qn_qgemm_cols16_avx512(p, 16, nc) : s->cx;
    s->m = (__mmask32)s->cx.mask | (__mmask32)s->cy.mask << 16;
    s->f = (struct qn_requant_fast_avx512){0};
    struct qn_requant_fast rf;
    if (!p->out_u8 && p->act == QN_ACT_NONE) {
        s->epi = EPI_F32;
    } else if (NV == 2 && qn_requant_fast_init(&rf, p->act, p->residual != NULL, p->out_u8, p->inv_out,
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
    // projection layers, residual or not) and the folded u8 one of qs8-requant.h (expand
    // layers), two rows per pack. Any other goes through the stack tile.
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
    if (NV == 2 && s->epi == EPI_U8_FAST) {
        uint8_t *cu = c;
#pragma GCC unroll 7
        for (size_t i = 0; i < R; i += 2) {
            if (i >= mr) break;
            const __m512i q = qn_requant_fast_pack4_avx512(
                &s->f, qn_requant_fast_r_avx512(&s->f, accx[i], s->cx.mul, &s->cx.bias),
                qn_requant_fast_r_avx512(&s->f, accy[i], s->cy.mul, &s->cy.bias),
                qn_requant_fast_r_avx512(&s->f, accx[i + 1], s->cx.mul, &s->cx.bias),
                qn_requant_fast_r_avx512(&s->f, accy[i + 1], s->cy.mul, &s->cy.bias));
            _mm256_mask_storeu_epi8(cu + i * ldc, s->m, _mm512_castsi512_si256(q));
            if (i + 1 < mr) _mm256_mask_storeu_epi8(cu + (i + 1) * ldc, s->m, _mm512_extracti64x4_epi64(q, 1));
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
    qn_qgemm_epilogue__avx512(mr, nc, t, 32, c, ldc, &tp);
}

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
    for (size_t m0 = 0; m0 < M; m0 += mb)
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
