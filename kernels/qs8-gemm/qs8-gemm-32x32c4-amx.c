// 32x32 s32 tile on AMX (tdpbusd: u8 x s8 -> s32, 16x16 outputs x 64 k per instruction).
// Tiles: tmm0-3 the four 16x16 accumulator blocks (rows 0-15 / 16-31 x columns 0-15 / 16-31),
// tmm4/5 A rows 0-15 / 16-31 (16 rows x 64 k bytes), tmm6/7 B columns 0-15 / 16-31.
//
// B needs no layout of its own: a tdpbusd B tile is 16 rows of k-quads x 16 columns x 4 bytes,
// which is exactly one 16-column half of the c4 panel (qs8-gemm.h) read at a row stride of
// 128 bytes (a k-quad of the 32-column panel). So weights packed for the AVX-512 level run
// here as they are, and the two kernels can be switched at run time.
//
// Measured in a probe on this kernel's loop (Intel Xeon with AMX, 1 thread, 1024^3, s32 out):
// loads issued after the tdpbusd that last read a tile register (the 2x2 blocks ordered so
// each of B0, A0/A1, B1 is reloaded as soon as it is free) 1.79-1.89 TOP/s against 1.02-1.69
// with all four loads first; the driver's order matters more: an A block of 32 rows in L1
// against panels streamed from L2 ran 2.8-2.9 TOP/s, a panel in L1 against 32-row blocks of A
// from L2 (16 lines 1 KiB apart per tile load) 1.8-1.9. ldtilecfg costs about a quarter of a
// 32x32x1024 tile (2.9 -> 2.3 TOP/s when loaded per tile): the driver loads it once per
// thread and call (qn_qs8_gemm_amx_begin).
//
// Edges: the driver hands over an A padded with zeros to whole 16 x 64 tiles where K is not
// a multiple of 64 (params.a_pad: a copy it makes anyway when the rows crowd an L1 set).
// Without it, rows past mr and k past kc are never read: a row block of fewer than 16 rows
// and the k tail (kc % 64) come from zero-filled copies on the stack (masked loads); a full
// 32-row tile with whole k steps runs the same loop as a padded one.
#include <immintrin.h>
#include <string.h>

#include "qs8-gemm/qs8-gemm-avx512.h"
#include "qs8-gemm/qs8-requant-avx512.h"

#define AMX_KB 64  // k bytes per tdpbusd

struct tilecfg {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

// Every tile 16 rows x 64 bytes. A constant in memory: GCC 12 does not see ldtilecfg read
// its operand and dropped the stores that filled a stack copy (the instruction then faulted).
static const struct tilecfg g_cfg __attribute__((aligned(64))) = {
    .palette = 1,
    .colsb = {AMX_KB, AMX_KB, AMX_KB, AMX_KB, AMX_KB, AMX_KB, AMX_KB, AMX_KB},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

void qn_qs8_gemm_amx_begin(void) { _tile_loadconfig(&g_cfg); }

void qn_qs8_gemm_amx_end(void) { _tile_release(); }

void qn_qs8_gemm_amx_copy_a(uint8_t *dst, size_t ldd, const uint8_t *src, size_t lds, size_t rows, size_t K,
                            size_t zero_rows) {
    for (size_t r = 0; r < rows; r++) {
        const uint8_t *s = src + r * lds;
        uint8_t *d = dst + r * ldd;
        for (size_t k = 0; k < ldd; k += 64) {
            const __mmask64 m = k + 64 <= K ? ~(__mmask64)0 : k < K ? (((__mmask64)1 << (K - k)) - 1) : 0;
            _mm512_storeu_si512(d + k, _mm512_maskz_loadu_epi8(m, s + k));
        }
    }
    for (size_t r = 0; r < zero_rows; r++)
        for (size_t k = 0; k < ldd; k += 64) _mm512_storeu_si512(dst + (rows + r) * ldd + k, _mm512_setzero_si512());
}

// FP32 out: acc * mul (+ bias) act (+ residual), the float operations of qn_qgemm_store1 in
// its order (the residual only without an activation here, where its place does not matter).
// The row loop is compiled for each combination of its loop-invariant tests (zero point,
// bias, residual, second column half, activation): tested in the loop, GCC kept them per
// row, ~24 instructions for a row's two vectors, and with an activation the general epilogue
// (qn_qgemm_store16_avx512) branched per vector. An A/B probe alternating both builds' qn_qgemm
// in one process (FP32 out, 1 thread, medians of paired ratios over 15 rounds), without an
// activation: 196x576x96 1.036x, 49x960x160 1.142x, 128x768x768 1.048x, 196x384x384 1.022x,
// 196x160x576 1.018x; 196x576x96 with bias + ReLU6 1.34x, hardswish and a_zp 1.23x.
// (Issuing the next tile's tdpbusds before this output, a pipelined kernel over a panel's
// tiles, gained 1.06x at K = 96 but lost 2-9% from K = 384 on: its output stores queue ahead
// of the next tile's tile stores.)
static inline __attribute__((always_inline)) void store_f32_rows(size_t mr, const int32_t *t, const __m512i *z,
                                                                 float *c, size_t ldc, const struct qn_qgemm_cols16 *cx,
                                                                 const struct qn_qgemm_cols16 *cy, const float *r,
                                                                 size_t ldr, const bool zp, const bool bias,
                                                                 const bool res, const bool wide,
                                                                 const enum qn_act act) {
    for (size_t i = 0; i < mr; i++) {
        __m512i ax = _mm512_load_si512(t + i * 32);
        if (zp) ax = _mm512_add_epi32(ax, z[0]);
        __m512 x = _mm512_mul_ps(_mm512_cvtepi32_ps(ax), cx->mul);
        if (bias) x = _mm512_add_ps(x, cx->bias);
        x = qn_qgemm_act_avx512(act, x);
        if (res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(cx->mask, r + i * ldr));
        _mm512_mask_storeu_ps(c + i * ldc, cx->mask, x);
        if (!wide) continue;
        __m512i ay = _mm512_load_si512(t + i * 32 + 16);
        if (zp) ay = _mm512_add_epi32(ay, z[1]);
        __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(ay), cy->mul);
        if (bias) y = _mm512_add_ps(y, cy->bias);
        y = qn_qgemm_act_avx512(act, y);
        if (res) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(cy->mask, r + i * ldr + 16));
        _mm512_mask_storeu_ps(c + i * ldc + 16, cy->mask, y);
    }
}

// Without an activation: every combination of zero point, bias, residual and width. (GCC
// inlines it; marked noinline, the layers without an activation ran 5-10% slower.)
static void store_f32(size_t mr, size_t nc, const int32_t *t, const __m512i *z, float *c, size_t ldc,
                      const struct qn_qgemm_params *p) {
    const struct qn_qgemm_cols16 cx = qn_qgemm_cols16_avx512(p, 0, nc), cy = qn_qgemm_cols16_avx512(p, 16, nc);
    const float *r = p->residual;
    const size_t ldr = p->ldr;
    const unsigned form = (unsigned)(p->a_zp != 0) | (unsigned)(p->bias != NULL) << 1 | (unsigned)(r != NULL) << 2 |
                          (unsigned)(nc > 16) << 3;
#define FORM(f, A)                                                                                   \
    case f: store_f32_rows(mr, t, z, c, ldc, &cx, &cy, r, ldr, (f) & 1, (f) & 2, (f) & 4, (f) & 8, A); break;
    switch (form) {
        FORM(0, QN_ACT_NONE) FORM(1, QN_ACT_NONE) FORM(2, QN_ACT_NONE) FORM(3, QN_ACT_NONE)
        FORM(4, QN_ACT_NONE) FORM(5, QN_ACT_NONE) FORM(6, QN_ACT_NONE) FORM(7, QN_ACT_NONE)
        FORM(8, QN_ACT_NONE) FORM(9, QN_ACT_NONE) FORM(10, QN_ACT_NONE) FORM(11, QN_ACT_NONE)
        FORM(12, QN_ACT_NONE) FORM(13, QN_ACT_NONE) FORM(14, QN_ACT_NONE) FORM(15, QN_ACT_NONE)
    }
}

// With an activation and no residual (an expand layer whose output stays FP32): bias and
// width compiled in, the zero point always added (z is zero where a_zp = 0).
static void store_f32_act(size_t mr, size_t nc, const int32_t *t, const __m512i *z,
                                                    float *c, size_t ldc, const struct qn_qgemm_params *p) {
    const struct qn_qgemm_cols16 cx = qn_qgemm_cols16_avx512(p, 0, nc), cy = qn_qgemm_cols16_avx512(p, 16, nc);
    const float *r = NULL;
    const size_t ldr = 0;
    const unsigned form = 1u | (unsigned)(p->bias != NULL) << 1 | (unsigned)(nc > 16) << 3;
#define ACT_FORMS(A) \
    case A: switch (form) { FORM(1, A) FORM(3, A) FORM(9, A) FORM(11, A) } return;
    switch (p->act) {
    case QN_ACT_NONE: break;  // store_f32's
    ACT_FORMS(QN_ACT_RELU)
    ACT_FORMS(QN_ACT_RELU6)
    ACT_FORMS(QN_ACT_HSWISH)
    ACT_FORMS(QN_ACT_GELU)
    }
#undef ACT_FORMS
#undef FORM
}

// u8 out of a tile wider than 16 columns, the folded form of qs8-requant.h (every expand layer:
// bias, ReLU / ReLU6 or none, no residual), two rows per pack (a last odd row packs the tile
// buffer's next row, which the tile store wrote, and is not stored), the zero point compiled
// in: the shared epilogue adds it as a vector per load, and took 3-5% longer (A/B probe,
// 196x576x96 with bias + ReLU6).
static inline __attribute__((always_inline)) void store_u8_rows(size_t mr, const int32_t *t, const __m512i *z,
                                                                uint8_t *c, size_t ldc,
                                                                const struct qn_requant_fast_avx512 *f,
                                                                const struct qn_qgemm_cols16 *cx,
                                                                const struct qn_qgemm_cols16 *cy, __mmask32 m,
                                                                const bool zp) {
    for (size_t i = 0; i < mr; i += 2) {
        const int32_t *r = t + i * 32;
        __m512i a0 = _mm512_load_si512(r), a1 = _mm512_load_si512(r + 16);
        __m512i a2 = _mm512_load_si512(r + 32), a3 = _mm512_load_si512(r + 48);  // row mr: stale, not stored
        if (zp) {
            a0 = _mm512_add_epi32(a0, z[0]), a1 = _mm512_add_epi32(a1, z[1]);
            a2 = _mm512_add_epi32(a2, z[0]), a3 = _mm512_add_epi32(a3, z[1]);
        }
        qn_requant_fast_store2x32_avx512(f, a0, a1, a2, a3, cx->mul, cy->mul, &cx->bias, &cy->bias, c + i * ldc, ldc,
                                         m, i + 1 < mr);
    }
}

static bool store_u8(size_t mr, size_t nc, const int32_t *t, const __m512i *z, uint8_t *c, size_t ldc,
                     const struct qn_qgemm_params *p) {
    struct qn_requant_fast rf;
    if (!qn_requant_fast_init(&rf, p->act, p->residual != NULL, true, p->inv_out, (int32_t)p->out_zp,
                              (int32_t)p->out_qmax))
        return false;
    const struct qn_requant_fast_avx512 f = qn_requant_fast_avx512_init(&rf);
    const struct qn_qgemm_cols16 cx = qn_qgemm_cols16_avx512(p, 0, nc), cy = qn_qgemm_cols16_avx512(p, 16, nc);
    const __mmask32 m = (__mmask32)cx.mask | (__mmask32)cy.mask << 16;
    if (p->a_zp) store_u8_rows(mr, t, z, c, ldc, &f, &cx, &cy, m, true);
    else store_u8_rows(mr, t, z, c, ldc, &f, &cx, &cy, m, false);
    return true;
}

void qn_qs8_gemm_ukernel_32x32c4__amx(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t lda,
                                      const void *w, void *c, size_t ldc, const struct qn_qgemm_params *p) {
    const int8_t *b = w;
    const bool two = mr > 16;               // a second row block
    const size_t r1 = two ? mr - 16 : 0;    // its valid rows
    const bool wide = nc > 16;              // the second column half (an edge panel may not have
                                            // one: 16 channels ran at 1.25-1.6x VNNI's time with it)
    // With p->a_pad the driver's A is readable to whole tiles, zero past kc, and B is read
    // past its last k-quad into the next panel or the buffer's slack (times those zeros).
    // Otherwise row blocks short of 16 rows and the k tail go through zero-filled copies.
    const bool pad = p->a_pad;
    uint8_t abuf[2][16 * AMX_KB] __attribute__((aligned(64)));
    int8_t bbuf[16 * 128] __attribute__((aligned(64)));
    const bool copy0 = !pad && mr < 16, copy1 = !pad && two && r1 < 16, ktail = !pad && kc % AMX_KB;
    if (copy0 || copy1 || ktail) memset(abuf, 0, sizeof(abuf));

    _tile_zero(0);
    if (wide) _tile_zero(1);
    if (two) {
        _tile_zero(2);
        if (wide) _tile_zero(3);
    }
    size_t k = 0;
    if ((pad || (mr == 32 && kc % AMX_KB == 0)) && two && wide) {
        // Whole tiles, both row blocks: each tile register is reloaded right after the last
        // tdpbusd that reads it (B0 after the two that use it, then A0, then A1 and B1), so the
        // next k step's loads overlap this one's products instead of waiting for all four.
        _tile_loadd(4, a, lda);
        _tile_loadd(6, b, 128);
        _tile_loadd(5, a + 16 * lda, lda);
        _tile_loadd(7, b + 64, 128);
        for (; k + AMX_KB < kc; k += AMX_KB) {
            const int8_t *bn = b + (k + AMX_KB) / 4 * 128;
            _tile_dpbusd(0, 4, 6);
            _tile_dpbusd(2, 5, 6);
            _tile_loadd(6, bn, 128);
            _tile_dpbusd(1, 4, 7);
            _tile_loadd(4, a + k + AMX_KB, lda);
            _tile_dpbusd(3, 5, 7);
            _tile_loadd(5, a + 16 * lda + k + AMX_KB, lda);
            _tile_loadd(7, bn + 64, 128);
        }
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(2, 5, 6);
        _tile_dpbusd(1, 4, 7);
        _tile_dpbusd(3, 5, 7);
        k = kc;
    }
    for (; k < kc; k += AMX_KB) {
        const size_t kb = QN_MIN(AMX_KB, kc - k);
        const bool tail = !pad && kb < AMX_KB;
        const int8_t *bk = b + k / 4 * 128;
        if (tail) {
            // the panel holds ceil(kc / 4) k-quads, zero-padded within the last one; the
            // rows past them meet A's zeros
            memcpy(bbuf, bk, QN_DIV_UP(kb, 4) * 128);
            bk = bbuf;
        }
        const uint8_t *a0 = a + k, *a1 = a + 16 * lda + k;
        size_t s0 = lda, s1 = lda;
        if (copy0 || tail) {
            qn_qs8_gemm_amx_copy_a(abuf[0], AMX_KB, a0, lda, QN_MIN(mr, 16), kb, 0);
            a0 = abuf[0], s0 = AMX_KB;
        }
        if (copy1 || (two && tail)) {
            qn_qs8_gemm_amx_copy_a(abuf[1], AMX_KB, a1, lda, r1, kb, 0);
            a1 = abuf[1], s1 = AMX_KB;
        }
        _tile_loadd(4, a0, s0);
        _tile_loadd(6, bk, 128);
        if (wide) _tile_loadd(7, bk + 64, 128);
        _tile_dpbusd(0, 4, 6);
        if (two) {
            _tile_loadd(5, a1, s1);
            _tile_dpbusd(2, 5, 6);
        }
        if (wide) {
            _tile_dpbusd(1, 4, 7);
            if (two) _tile_dpbusd(3, 5, 7);
        }
    }

    int32_t t[32 * 32] __attribute__((aligned(64)));
    _tile_stored(0, t, 128);
    if (wide) _tile_stored(1, t + 16, 128);
    if (two) {
        _tile_stored(2, t + 16 * 32, 128);
        if (wide) _tile_stored(3, t + 16 * 32 + 16, 128);
    }
    const __m512i z[2] = {qn_qgemm_acc0_avx512(p, 0, nc), qn_qgemm_acc0_avx512(p, 16, nc)};
    if (!p->out_u8 && p->act == QN_ACT_NONE) {
        store_f32(mr, nc, t, z, c, ldc, p);
        return;
    }
    if (!p->out_u8 && !p->residual) {
        store_f32_act(mr, nc, t, z, c, ldc, p);
        return;
    }
    if (p->out_u8 && wide && store_u8(mr, nc, t, z, c, ldc, p)) return;
    qn_qgemm_epilogue__avx512(mr, nc, t, 32, c, ldc, p, true);
}
