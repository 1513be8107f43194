// AVX2 form of the depthwise band kernel (f32-dwconv.h, f32-dwconv-avx512.c's band form): a
// task's block of up to 16 channels runs as one or two 8-channel halves. 16 ymm registers hold
// at most 8 accumulators, the k weights of a kernel row and the pixel in flight, so blocks are
// of 7 or 8 output pixels (4 at a row's end). Same padding at stride 1 on rows of a multiple of
// 7 pixels takes blocks of 7 that start or end exactly at the row's ends, their padded pixels
// dropped at compile time; other blocks that cross a row border test once per window pixel.
// Same taps in the same order as the AVX2 row kernels, and the same epilogue: equal outputs.
#include <immintrin.h>

#include "f32-dwconv/dwconv-epilogue.h"
#include "f32-dwconv/f32-dwconv.h"

#define QN_INLINE static inline __attribute__((always_inline))

// One 8-channel half's epilogue, loaded once per band. FULL (compile-time): 8 channels, plain
// loads and stores; else the lanes of mi. The bias is a register (zeros where the layer has
// none: an accumulator that starts at +0 is never -0, so adding +0 changes no output and the
// row kernels, which add no bias then, give the same bits).
struct band_ep {
    __m256 bias;
    struct qn_act_avx2 act;
    const float *res;
    size_t ld_r;
    bool res_before_act;
    float *y;
    size_t ld_y;
    __m256i mi;
};

QN_INLINE __m256 ld(const float *p, const bool FULL, __m256i mi) {
    return FULL ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mi);
}

// RES (compile-time): the block adds a residual. Epilogue tests per stored pixel, at 3x3 a
// pixel's 9 FMAs, showed: bias, residual, their order and hardswish tested at run time for
// every pixel (qn_epilogue_avx2) took ~40% of a band's samples at 1x7x7x160 (perf annotate).
// ACT (compile-time in a block's stores, chosen once per block by QN_DW_BAND_STORES): 0 none,
// 1 the ReLU / ReLU6 clamp, 2 hardswish; qn_act_avx2's operations.
QN_INLINE void band_store(const struct band_ep *e, size_t pix, __m256 acc, const bool RES, const bool FULL,
                          const int ACT) {
    __m256 v = _mm256_add_ps(acc, e->bias), r = _mm256_setzero_ps();
    if (RES) r = ld(e->res + pix * e->ld_r, FULL, e->mi);
    if (RES && e->res_before_act) v = _mm256_add_ps(v, r);
    if (ACT == 1) v = qn_clamp_avx2(v, &e->act);
    if (ACT == 2) v = qn_hswish_avx2(v);
    if (RES && !e->res_before_act) v = _mm256_add_ps(v, r);
    if (FULL)
        _mm256_storeu_ps(e->y + pix * e->ld_y, v);
    else
        _mm256_maskstore_ps(e->y + pix * e->ld_y, e->mi, v);
}

// UR output pixels from the image, x the first kernel row's input row (pixel 0), x0 the block's
// first window column. EDGE: window pixels outside [0, w_in) are skipped by a test; LPAD / RPAD
// (stride 1, padding k / 2): the first / last k / 2 window pixels are padding, dropped with no
// test.
QN_INLINE void band_block(const struct band_ep *e, const float *x, ptrdiff_t x0, size_t ld_x, size_t ld_xrow,
                          ptrdiff_t w_in, const float *w, size_t ld_wh, size_t ld_ww, size_t rows, size_t pix,
                          size_t n_out, const size_t K, const size_t S, const size_t UR, const bool RES,
                          const bool FULL, const bool EDGE, const bool LPAD, const bool RPAD) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++) acc[u] = _mm256_setzero_ps();
    for (size_t i = 0; i < rows; i++, x += ld_xrow, w += ld_wh) {
        __m256 wv[7];
#pragma GCC unroll 7
        for (size_t j = 0; j < K; j++) wv[j] = ld(w + j * ld_ww, FULL, e->mi);
        const float *xp = x + x0 * (ptrdiff_t)ld_x;
#pragma GCC unroll 32
        for (size_t p = 0; p < (UR - 1) * S + K; p++, xp += ld_x) {
            __asm__("" : "+r"(xp));
            const ptrdiff_t c = x0 + (ptrdiff_t)p;
            if (EDGE && (c < 0 || c >= w_in)) continue;
            if ((LPAD && p < K / 2) || (RPAD && p >= (UR - 1) * S + K - K / 2)) continue;
            __m256 xv = ld(xp, FULL, e->mi);
            __asm__("" : "+x"(xv));
#pragma GCC unroll 8
            for (size_t u = 0; u < UR; u++)
                if (p >= u * S && p - u * S < K) acc[u] = _mm256_fmadd_ps(xv, wv[p - u * S], acc[u]);
        }
    }
    QN_DW_BAND_STORES(e, UR, n_out, pix, acc, RES, FULL);
}

QN_INLINE void band_one(const struct band_ep *e, const float *x, size_t ow, size_t ld_x, size_t ld_xrow,
                        size_t w_in, size_t pad, const float *w, size_t ld_wh, size_t ld_ww, size_t rows, size_t pix,
                        size_t n_out, const size_t K, const size_t S, const size_t UR, const bool RES,
                        const bool FULL) {
    const ptrdiff_t x0 = (ptrdiff_t)(ow * S) - (ptrdiff_t)pad;
    if (x0 < 0 || x0 + (ptrdiff_t)((UR - 1) * S + K) > (ptrdiff_t)w_in)
        band_block(e, x, x0, ld_x, ld_xrow, (ptrdiff_t)w_in, w, ld_wh, ld_ww, rows, pix, n_out, K, S, UR, RES, FULL,
                   true, false, false);
    else
        band_block(e, x, x0, ld_x, ld_xrow, (ptrdiff_t)w_in, w, ld_wh, ld_ww, rows, pix, n_out, K, S, UR, RES, FULL,
                   false, false, false);
}

// The band's rows for the half at channel offset h (x, w, y, bias, res already there).
QN_INLINE void band_half(const struct qn_f32_dwconv_band_args *a, const struct band_ep *e, const size_t K,
                         const size_t S, const bool RES, const bool FULL) {
    const size_t pad = a->pad, h_in = a->h_in, w_in = a->w_in, w_out = a->w_out, ld_x = a->ld_x;
    const size_t ld_xrow = w_in * ld_x, ld_wh = a->ld_wh, ld_ww = a->ld_ww;
    const bool by7 = w_out % 8 != 0 && w_out % 7 == 0;
    const bool pad7 = S == 1 && pad == K / 2 && w_in == w_out && w_out % 7 == 0;
    for (size_t oh = a->oh0; oh < a->oh1; oh++) {
        qn_dwconv_band_prefetch(a, oh);
        const struct qn_dwconv_rows r = qn_dwconv_rows(oh, h_in, K, S, pad);
        const size_t rows = r.rows;
        const float *x = a->x + r.in_row * ld_xrow, *w = a->w + r.i_lo * ld_wh;
        const size_t pix = oh * w_out;
        if (pad7) {
            const ptrdiff_t x0 = -(ptrdiff_t)pad;
#define BLOCK(ow, L, R)                                                                                         \
    band_block(e, x, x0 + (ptrdiff_t)(ow), ld_x, ld_xrow, (ptrdiff_t)w_in, w, ld_wh, ld_ww, rows, pix + (ow), 7, \
               K, 1, 7, RES, FULL, false, L, R)
            if (w_out == 7) {
                BLOCK(0, true, true);
            } else {
                BLOCK(0, true, false);
                size_t ow = 7;
                for (; ow + 7 < w_out; ow += 7) BLOCK(ow, false, false);
                BLOCK(ow, false, true);
            }
#undef BLOCK
            continue;
        }
        size_t ow = 0;
        if (by7)
            for (; ow < w_out; ow += 7) band_one(e, x, ow, ld_x, ld_xrow, w_in, pad, w, ld_wh, ld_ww, rows, pix + ow, 7, K, S, 7, RES, FULL);
        for (; ow + 8 <= w_out; ow += 8)
            band_one(e, x, ow, ld_x, ld_xrow, w_in, pad, w, ld_wh, ld_ww, rows, pix + ow, 8, K, S, 8, RES, FULL);
        const size_t rest = w_out - ow;
        if (rest > 4)
            band_one(e, x, ow, ld_x, ld_xrow, w_in, pad, w, ld_wh, ld_ww, rows, pix + ow, rest, K, S, 8, RES, FULL);
        else if (rest > 0)
            band_one(e, x, ow, ld_x, ld_xrow, w_in, pad, w, ld_wh, ld_ww, rows, pix + ow, rest, K, S, 4, RES, FULL);
    }
}

// Each (K, S, RES, FULL) form of a half is its own function: inlined together into one
// dispatcher the forms share one frame, and the band loops keep their addresses on the stack
// (the AVX-512 file's FORMS says what that cost there).
typedef const struct qn_f32_dwconv_band_args band_args;
typedef void half_fn(band_args *a, const struct band_ep *e);
#define HALF(NAME, K, S, RES, FULL)                                          \
    static __attribute__((noinline)) void NAME(band_args *a, const struct band_ep *e) { \
        band_half(a, e, K, S, RES, FULL);                                   \
    }
#define HALVES(K, S)                                   \
    HALF(half_##K##_##S##_rf, K, S, true, true)        \
    HALF(half_##K##_##S##_rp, K, S, true, false)       \
    HALF(half_##K##_##S##_f, K, S, false, true)        \
    HALF(half_##K##_##S##_p, K, S, false, false)
HALVES(3, 1)
HALVES(3, 2)
HALVES(5, 1)
HALVES(5, 2)
HALVES(7, 1)
HALVES(7, 2)

static void band(band_args *a, half_fn *full, half_fn *part) {
    for (size_t h = 0; h < a->nc; h += 8) {
        const size_t nch = a->nc - h < 8 ? a->nc - h : 8;
        struct qn_f32_dwconv_band_args b = *a;
        b.x += h, b.w += h, b.y += h;
        if (b.res) b.res += h;
        const __m256i mi = qn_mask_avx2(nch);
        const struct band_ep e = {
            .bias = a->bias ? _mm256_maskload_ps(a->bias + h, mi) : _mm256_setzero_ps(), .act = qn_act_avx2_init(a->act), .res = b.res, .ld_r = a->ld_r,
            .res_before_act = a->res_before_act, .y = b.y, .ld_y = a->ld_y, .mi = mi,
        };
        (nch == 8 ? full : part)(&b, &e);
    }
}

void qn_f32_dwconv_band__avx2(const struct qn_f32_dwconv_band_args *a) {
    QN_ASSERT(a->act != QN_ACT_GELU);
    const bool res = a->res != NULL;
#define CASE(K, S)                                                                                  \
    case K * 4 + S:                                                                                 \
        band(a, res ? half_##K##_##S##_rf : half_##K##_##S##_f, res ? half_##K##_##S##_rp : half_##K##_##S##_p); \
        break;
    switch (a->k * 4 + a->stride) {
    CASE(3, 1)
    CASE(3, 2)
    CASE(5, 1)
    CASE(5, 2)
    CASE(7, 1)
    CASE(7, 2)
#undef CASE
    default: QN_ASSERT(!"k in {3, 5, 7}, stride 1 or 2");
    }
}
