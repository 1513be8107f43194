// AVX-512 depthwise kernels: 16 channels per zmm. The interior of a row is done UR output pixels
// at a time with the k weights of one kernel row held in registers, so each input pixel is
// loaded once per kernel row and feeds up to k FMAs (k, stride, UR are compile-time, the loops
// unroll completely). Border pixels take the per-tap path with their valid column range.
#include <immintrin.h>

#include "f32-dwconv/dwconv-epilogue.h"
#include "f32-dwconv/f32-dwconv.h"

#define QN_INLINE static inline __attribute__((always_inline))

QN_INLINE void store_block(const struct qn_f32_dwconv_args *a, size_t ow, size_t cb,
                           __mmask16 m, __m512 acc) {
    const struct qn_act_avx512 act = qn_act_avx512_init(a->act);
    const float *bias = a->bias ? a->bias + cb : NULL;
    const float *res = a->res ? a->res + ow * a->ld_r + cb : NULL;
    __m512 y = qn_epilogue_avx512(acc, bias, res, a->res_before_act, &act, m);
    _mm512_mask_storeu_ps(a->y + ow * a->ld_y + cb, m, y);
}

// One output pixel, taps restricted to the image (any k, any stride).
static void pixel(const struct qn_f32_dwconv_args *a, size_t ow, size_t cb, __mmask16 m) {
    size_t j_lo, j_hi;
    qn_dwconv_taps(ow, a->w_in, a->k, a->stride, a->pad, &j_lo, &j_hi);
    const ptrdiff_t x0 = (ptrdiff_t)(ow * a->stride) - (ptrdiff_t)a->pad;
    __m512 acc = _mm512_setzero_ps();
    for (size_t i = a->i_lo; i < a->i_hi; i++) {
        const float *xr = a->x + (i - a->i_lo) * a->ld_xrow + cb;
        const float *wr = a->w + i * a->ld_wh + cb;
        for (size_t j = j_lo; j < j_hi; j++)
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xr + (size_t)(x0 + (ptrdiff_t)j) * a->ld_x),
                                  _mm512_maskz_loadu_ps(m, wr + j * a->ld_ww), acc);
    }
    store_block(a, ow, cb, m, acc);
}

// UR output pixels starting at ow, of which the first n_out are stored. Input pixel p of the
// block's window (x0 + p) feeds output u through tap j = p - u * S; pixels outside the image are
// skipped by a test per input pixel (predictable, not per tap), so one code path covers the
// borders, the interior and a partial last block. The row geometry comes in as locals so the
// compiler keeps it in registers across the stores.
QN_INLINE void block(const struct qn_f32_dwconv_args *a, const float *x, const float *w,
                     size_t ld_x, size_t ld_xrow, size_t ld_wh, size_t ld_ww, size_t rows,
                     size_t w_in, size_t pad, size_t ow, size_t n_out, size_t cb, __mmask16 m,
                     const size_t K, const size_t S, const size_t UR) {
    __m512 acc[8];
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++) acc[u] = _mm512_setzero_ps();
    const ptrdiff_t x0 = (ptrdiff_t)(ow * S) - (ptrdiff_t)pad;
    const ptrdiff_t p_lo = -x0, p_hi = (ptrdiff_t)w_in - x0;  // valid: p_lo <= p < p_hi
    const float *xr = x + x0 * (ptrdiff_t)ld_x + cb;  // may point left of the row: never read there
    const float *wr = w + cb;
    for (size_t i = 0; i < rows; i++, xr += ld_xrow, wr += ld_wh) {
        __m512 wv[7];
#pragma GCC unroll 7
        for (size_t j = 0; j < K; j++) wv[j] = _mm512_maskz_loadu_ps(m, wr + j * ld_ww);
        const float *xp = xr;
#pragma GCC unroll 32
        for (size_t p = 0; p < (UR - 1) * S + K; p++, xp += ld_x) {
            if ((ptrdiff_t)p < p_lo || (ptrdiff_t)p >= p_hi) continue;
            const __m512 xv = _mm512_maskz_loadu_ps(m, xp);
#pragma GCC unroll 8
            for (size_t u = 0; u < UR; u++)
                if (p >= u * S && p - u * S < K) acc[u] = _mm512_fmadd_ps(xv, wv[p - u * S], acc[u]);
        }
    }
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++)
        if (u < n_out) store_block(a, ow + u, cb, m, acc[u]);
}

QN_INLINE void row(const struct qn_f32_dwconv_args *a, const size_t K, const size_t S) {
    const float *x = a->x, *w = a->w + a->i_lo * a->ld_wh;
    const size_t ld_x = a->ld_x, ld_xrow = a->ld_xrow, ld_wh = a->ld_wh, ld_ww = a->ld_ww;
    const size_t rows = a->i_hi - a->i_lo, w_in = a->w_in, w_out = a->w_out, pad = a->pad;
    for (size_t cb = 0; cb < a->c; cb += 16) {
        const size_t nc = a->c - cb;
        const __mmask16 m = nc >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nc) - 1);
        size_t ow = 0;
        // Rows of 7, 14, 28 pixels (the MBConv maps) go 7 at a time: no idle lanes of a partial
        // block of 8.
        if (w_out % 8 != 0 && w_out % 7 == 0)
            for (; ow < w_out; ow += 7)
                block(a, x, w, ld_x, ld_xrow, ld_wh, ld_ww, rows, w_in, pad, ow, 7, cb, m, K, S, 7);
        for (; ow + 8 <= w_out; ow += 8)
            block(a, x, w, ld_x, ld_xrow, ld_wh, ld_ww, rows, w_in, pad, ow, 8, cb, m, K, S, 8);
        const size_t rest = w_out - ow;
        if (rest > 4)
            block(a, x, w, ld_x, ld_xrow, ld_wh, ld_ww, rows, w_in, pad, ow, rest, cb, m, K, S, 8);
        else if (rest > 0)
            block(a, x, w, ld_x, ld_xrow, ld_wh, ld_ww, rows, w_in, pad, ow, rest, cb, m, K, S, 4);
    }
}

void qn_f32_dwconv_ukernel_kxk__avx512(const struct qn_f32_dwconv_args *a) {
    for (size_t cb = 0; cb < a->c; cb += 16) {
        const size_t nc = a->c - cb;
        const __mmask16 m = nc >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nc) - 1);
        for (size_t ow = 0; ow < a->w_out; ow++) pixel(a, ow, cb, m);
    }
}

#define QN_DW_KERNEL(K)                                                            \
    void qn_f32_dwconv_ukernel_##K##x##K##__avx512(const struct qn_f32_dwconv_args *a) { \
        if (a->stride == 1)                                                        \
            row(a, K, 1);                                                          \
        else if (a->stride == 2)                                                   \
            row(a, K, 2);                                                          \
        else                                                                       \
            qn_f32_dwconv_ukernel_kxk__avx512(a);                                  \
    }

QN_DW_KERNEL(3)
QN_DW_KERNEL(5)
QN_DW_KERNEL(7)

// --- band form (f32-dwconv.h) ---

// The epilogue of one channel block, loaded once per band. Whether there is a residual and
// whether the block is a full 16 channels are compile-time (RES, FULL): full blocks load
// weights and store outputs unmasked (masked loads measured ~8% slower at 3x3), and a residual
// test per pixel costs registers the unrolled blocks need. Without a bias the vector is zero
// (adding +0 changes no value but a zero's sign).
struct band_ep {
    __m512 bias;
    struct qn_act_avx512 act;
    const float *res;
    size_t ld_r;
    bool res_before_act;
    float *y;
    size_t ld_y;
    __mmask16 m;
    bool nt;  // full blocks go to memory with non-temporal stores (one line per pixel)
};

QN_INLINE struct band_ep band_ep_init(const struct qn_f32_dwconv_band_args *a, const bool FULL) {
    const __mmask16 m = a->nc >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << a->nc) - 1);
    return (struct band_ep){
        .bias = a->bias ? _mm512_maskz_loadu_ps(m, a->bias) : _mm512_setzero_ps(),
        .act = qn_act_avx512_init(a->act), .res = a->res, .ld_r = a->ld_r, .res_before_act = a->res_before_act,
        .y = a->y, .ld_y = a->ld_y, .m = m,
        .nt = a->stream && FULL && ((uintptr_t)a->y & 63) == 0 && (a->ld_y & 15) == 0,
    };
}

// ACT (compile-time in a block's stores, chosen once per block by QN_DW_BAND_STORES): 0 none, 1 the
// ReLU / ReLU6 clamp, 2 hardswish; qn_act_avx512's operations.
QN_INLINE void band_store(const struct band_ep *e, size_t pix, __m512 acc, const bool RES, const bool FULL,
                          const int ACT) {
    __m512 v = _mm512_add_ps(acc, e->bias), r = _mm512_setzero_ps();
    if (RES) r = FULL ? _mm512_loadu_ps(e->res + pix * e->ld_r) : _mm512_maskz_loadu_ps(e->m, e->res + pix * e->ld_r);
    if (RES && e->res_before_act) v = _mm512_add_ps(v, r);
    if (ACT == 1) v = qn_clamp_avx512(v, &e->act);
    if (ACT == 2) v = qn_hswish_avx512(v);
    if (RES && !e->res_before_act) v = _mm512_add_ps(v, r);
    if (FULL && e->nt)
        _mm512_stream_ps(e->y + pix * e->ld_y, v);
    else if (FULL)
        _mm512_storeu_ps(e->y + pix * e->ld_y, v);
    else
        _mm512_mask_storeu_ps(e->y + pix * e->ld_y, e->m, v);
}

// UR output pixels read straight from the image: x is the first kernel row's input row
// (pixel 0), x0 the block's first window column. EDGE: the window crosses a border of the row,
// and its pixels outside [0, w_in) are skipped (a test per window pixel, not per tap);
// otherwise no tests at all.
// LPAD / RPAD (stride 1, padding k / 2, compile-time): the block starts at the row's first
// output / ends at its last, so its first / last k / 2 window pixels are the padding and are
// skipped with no test at all.
QN_INLINE void band_block(const struct band_ep *e, const float *x, ptrdiff_t x0, size_t ld_x, size_t ld_xrow,
                          ptrdiff_t w_in, const float *w, size_t ld_wh, size_t ld_ww, size_t rows, size_t pix,
                          size_t n_out, const size_t K, const size_t S, const size_t UR, const bool RES,
                          const bool FULL, const bool EDGE, const bool LPAD, const bool RPAD) {
    __m512 acc[14];
#pragma GCC unroll 14
    for (size_t u = 0; u < UR; u++) acc[u] = _mm512_setzero_ps();
    for (size_t i = 0; i < rows; i++, x += ld_xrow, w += ld_wh) {
        __m512 wv[7];
#pragma GCC unroll 7
        for (size_t j = 0; j < K; j++)
            wv[j] = FULL ? _mm512_loadu_ps(w + j * ld_ww) : _mm512_maskz_loadu_ps(e->m, w + j * ld_ww);
        // one pointer walked along the window (an add per pixel): per-pixel offsets would each
        // need a register, and the compiler spills them
        const float *xp = x + x0 * (ptrdiff_t)ld_x;
#pragma GCC unroll 32
        for (size_t p = 0; p < (UR - 1) * S + K; p++, xp += ld_x) {
            __asm__("" : "+r"(xp));
            const ptrdiff_t c = x0 + (ptrdiff_t)p;
            if (EDGE && (c < 0 || c >= w_in)) continue;
            if ((LPAD && p < K / 2) || (RPAD && p >= (UR - 1) * S + K - K / 2)) continue;
            __m512 xv = FULL ? _mm512_loadu_ps(xp) : _mm512_maskz_loadu_ps(e->m, xp);
            // keep the pixel in a register: one load feeds its k taps (GCC folds it into every FMA)
            __asm__("" : "+v"(xv));
#pragma GCC unroll 14
            for (size_t u = 0; u < UR; u++)
                if (p >= u * S && p - u * S < K) acc[u] = _mm512_fmadd_ps(xv, wv[p - u * S], acc[u]);
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

QN_INLINE void band(const struct qn_f32_dwconv_band_args *a, const size_t K, const size_t S, const bool RES,
                    const bool FULL) {
    const size_t pad = a->pad, h_in = a->h_in, w_in = a->w_in, w_out = a->w_out, ld_x = a->ld_x;
    const size_t ld_xrow = w_in * ld_x, ld_wh = a->ld_wh, ld_ww = a->ld_ww;
    const struct band_ep e = band_ep_init(a, FULL);
    const bool by7 = w_out % 8 != 0 && w_out % 7 == 0;
    // Same padding at stride 1 on rows of a multiple of 7 (MBConv's 7, 14, 28, 56, 112): blocks
    // of 14 (a last one of 7 when the row is an odd multiple), whose pixels outside the row are
    // known at compile time: a 14-wide row is one block and no tests at all.
    const bool by14 = S == 1 && pad == K / 2 && w_in == w_out && w_out % 7 == 0;
    for (size_t oh = a->oh0; oh < a->oh1; oh++) {
        qn_dwconv_band_prefetch(a, oh);
        const struct qn_dwconv_rows r = qn_dwconv_rows(oh, h_in, K, S, pad);
        const size_t rows = r.rows;
        const float *x = a->x + r.in_row * ld_xrow, *w = a->w + r.i_lo * ld_wh;
        const size_t pix = oh * w_out;
        if (by14) {
            const ptrdiff_t x0 = -(ptrdiff_t)pad;
#define BLOCK(ow, UR, L, R)                                                                           \
    band_block(&e, x, x0 + (ptrdiff_t)(ow), ld_x, ld_xrow, (ptrdiff_t)w_in, w, ld_wh, ld_ww, rows, pix + (ow), \
               UR, K, 1, UR, RES, FULL, false, L, R)
            if (w_out == 7) {
                BLOCK(0, 7, true, true);
            } else if (w_out == 14) {
                BLOCK(0, 14, true, true);
            } else {
                BLOCK(0, 14, true, false);
                size_t ow = 14;
                for (; ow + 14 < w_out; ow += 14) BLOCK(ow, 14, false, false);
                if (w_out - ow == 14)
                    BLOCK(ow, 14, false, true);
                else
                    BLOCK(ow, 7, false, true);
            }
#undef BLOCK
            continue;
        }
        size_t ow = 0;
        if (by7)
            for (; ow < w_out; ow += 7) band_one(&e, x, ow, ld_x, ld_xrow, w_in, pad, w, ld_wh, ld_ww, rows, pix + ow, 7, K, S, 7, RES, FULL);
        for (; ow + 8 <= w_out; ow += 8)
            band_one(&e, x, ow, ld_x, ld_xrow, w_in, pad, w, ld_wh, ld_ww, rows, pix + ow, 8, K, S, 8, RES, FULL);
        const size_t rest = w_out - ow;
        if (rest > 4)
            band_one(&e, x, ow, ld_x, ld_xrow, w_in, pad, w, ld_wh, ld_ww, rows, pix + ow, rest, K, S, 8, RES, FULL);
        else if (rest > 0)
            band_one(&e, x, ow, ld_x, ld_xrow, w_in, pad, w, ld_wh, ld_ww, rows, pix + ow, rest, K, S, 4, RES, FULL);
    }
}

// --- whole-image form: a 4x4 output (f32-dwconv.h) ---

// All 16 outputs of a 4x4 map accumulate at once: each input pixel is loaded once and feeds
// the outputs whose window holds it, the weight tap the FMA's memory operand. IH (input side),
// K and S are compile-time, so which (input, output) pairs exist is known when compiling: no
// tests, no padding, 16 independent chains. Per output the taps come in row-major order, as
// in the band and row kernels: the same sums, bit for bit.
QN_INLINE void small4(const struct qn_f32_dwconv_band_args *a, const size_t K, const size_t S, const size_t IH,
                      const bool RES, const bool FULL) {
    const size_t P = K / 2, ld_x = a->ld_x, ld_xrow = a->w_in * a->ld_x, ld_wh = a->ld_wh, ld_ww = a->ld_ww;
    const struct band_ep e = band_ep_init(a, FULL);
    for (size_t oh = 0; oh < 4; oh++) qn_dwconv_band_prefetch(a, oh);
    __m512 acc[16];
#pragma GCC unroll 16
    for (size_t o = 0; o < 16; o++) acc[o] = _mm512_setzero_ps();
#pragma GCC unroll 7
    for (size_t ih = 0; ih < IH; ih++) {
#pragma GCC unroll 7
        for (size_t iw = 0; iw < IH; iw++) {
            const float *xp = a->x + ih * ld_xrow + iw * ld_x;
            const __m512 xv = FULL ? _mm512_loadu_ps(xp) : _mm512_maskz_loadu_ps(e.m, xp);
#pragma GCC unroll 16
            for (size_t o = 0; o < 16; o++) {
                const size_t kh = ih + P - o / 4 * S, kw = iw + P - o % 4 * S;  // wraps when < 0
                if (kh < K && kw < K) {
                    const float *wp = a->w + kh * ld_wh + kw * ld_ww;
                    acc[o] = _mm512_fmadd_ps(xv, FULL ? _mm512_loadu_ps(wp) : _mm512_maskz_loadu_ps(e.m, wp), acc[o]);
                }
            }
        }
    }
    QN_DW_BAND_STORES(&e, 16, 16, 0, acc, RES, FULL);
}

bool qn_f32_dwconv_small4_fits(size_t k, size_t stride, size_t pad, size_t h_in, size_t w_in) {
    return (k == 3 || k == 5 || k == 7) && pad == k / 2 && h_in == w_in &&
           ((stride == 1 && h_in == 4) || (stride == 2 && h_in == 7));
}

// Each form, (K, S, RES, FULL), is its own function. Inlined together into the dispatcher, the
// 48 bodies shared one frame and one register allocation, and the band loops kept their output
// addresses and row pointers on the stack (6735c58 had merged them): bench-kernels, 1 thread,
// Zen 5, 1x14x14x96 3x3 49 GFLOP/s as one function, 190-206 as separate ones.
typedef const struct qn_f32_dwconv_band_args band_args;
#define FORM(NAME, F, RES, FULL, ...) \
    static __attribute__((noinline)) void NAME(band_args *a) { F(__VA_ARGS__, RES, FULL); }
#define FORMS(NAME, F, ...)                           \
    FORM(NAME##_rf, F, true, true, __VA_ARGS__)       \
    FORM(NAME##_rp, F, true, false, __VA_ARGS__)      \
    FORM(NAME##_f, F, false, true, __VA_ARGS__)       \
    FORM(NAME##_p, F, false, false, __VA_ARGS__)

// The 4x4 form takes a band of all 4 rows of a 4x4 map (from a 4x4 input at stride 1, a 7x7
// at stride 2); the band form the rest.
#define K_S_FORMS(K, S)                        \
    FORMS(band_##K##_##S, band, a, K, S)      \
    FORMS(small4_##K##_##S, small4, a, K, S, S == 1 ? 4 : 7)

K_S_FORMS(3, 1)
K_S_FORMS(3, 2)
K_S_FORMS(5, 1)
K_S_FORMS(5, 2)
K_S_FORMS(7, 1)
K_S_FORMS(7, 2)

#define WITH_EP(NAME) (a->res ? (full ? NAME##_rf(a) : NAME##_rp(a)) : (full ? NAME##_f(a) : NAME##_p(a)))

#define K_S(K, S)                       \
    case K * 4 + S:                     \
        if (small)                      \
            WITH_EP(small4_##K##_##S);  \
        else                            \
            WITH_EP(band_##K##_##S);    \
        break

void qn_f32_dwconv_band__avx512(const struct qn_f32_dwconv_band_args *a) {
    const bool full = a->nc >= 16;
    QN_ASSERT(a->act != QN_ACT_GELU);
    const bool small = a->oh0 == 0 && a->oh1 == 4 && a->w_out == 4 &&
                       qn_f32_dwconv_small4_fits(a->k, a->stride, a->pad, a->h_in, a->w_in);
    switch (a->k * 4 + a->stride) {
        K_S(3, 1);
        K_S(3, 2);
        K_S(5, 1);
        K_S(5, 2);
        K_S(7, 1);
        K_S(7, 2);
    default: QN_ASSERT(!"k in {3, 5, 7}, stride 1 or 2");
    }
}
