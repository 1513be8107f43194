// AVX-512 direct conv kernel: 16 output channels per zmm, 8 pixels per block. Per tap, one
// aligned weight vector feeds 8 FMAs whose input is an embedded broadcast of that pixel's
// window value ({1to16} memory operand): one load and UR FMAs per tap, no shuffles. A last
// block of at most 8 channels (all of a c_out <= 8 conv, like the stem) runs on ymm with
// AVX-512VL masks: Zen 4 issues two ymm FMAs per cycle but one zmm, so a half-empty zmm would
// halve the speed. Blocks leave their accumulators in a stack tile for one out-of-line epilogue,
// which keeps the bias / residual / activation branches out of the register-allocated tap loop.
#include <immintrin.h>

#include "f32-conv-hwc/f32-conv-hwc.h"
#include "f32-dwconv/dwconv-epilogue.h"

#define QN_INLINE static inline __attribute__((always_inline))

// --- window (see f32-conv-hwc.h) ---

QN_INLINE __mmask16 mask16(size_t n) {
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

QN_INLINE void copy_n(float *dst, const float *src, size_t n) {
    for (; n >= 16; n -= 16, dst += 16, src += 16) _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
    if (n) _mm512_mask_storeu_ps(dst, mask16(n), _mm512_maskz_loadu_ps(mask16(n), src));
}

QN_INLINE void zero_n(float *dst, size_t n) {
    for (; n >= 16; n -= 16, dst += 16) _mm512_storeu_ps(dst, _mm512_setzero_ps());
    if (n) _mm512_mask_storeu_ps(dst, mask16(n), _mm512_setzero_ps());
}

// The `cols` window columns of a chunk from input column c0 (valid kernel rows only), zero
// outside the image; window rows ld_row elements apart.
static void fill_window(const struct qn_f32_conv_hwc_args *a, size_t ld_row, ptrdiff_t c0,
                        size_t cols, float *win) {
    size_t lo, hi;
    qn_conv_hwc_cols(c0, cols, a->w_in, &lo, &hi);
    const size_t c_in = a->c_in, left = (size_t)((ptrdiff_t)lo - c0) * c_in;
    const size_t mid = (hi - lo) * c_in, right = cols * c_in - left - mid;
    for (size_t r = 0; r < a->i_hi - a->i_lo; r++) {
        float *d = win + r * ld_row;
        const float *s = a->x + r * a->ld_xrow + lo * a->ld_x;
        zero_n(d, left);
        if (a->ld_x == c_in)
            copy_n(d + left, s, mid);
        else
            for (size_t col = 0; col < hi - lo; col++)
                copy_n(d + left + col * c_in, s + col * a->ld_x, c_in);
        zero_n(d + left + mid, right);
    }
}

// --- epilogues ---

// Constants of one channel block, pointers at its first channel.
struct ep_block {
    const float *bias, *res;
    size_t ld_r, ld_y;
    bool res_before_act;
    enum qn_act act;
    float *y;
    __mmask16 m;  // valid channels (the low 8 for a ymm block)
};

static __attribute__((noinline)) void epilogue16(const struct ep_block *e, const __m512 *acc,
                                                 size_t ow, size_t n) {
    const struct ep_block b = *e;  // a local: the stores below cannot alias it
    const struct qn_act_avx512 act = qn_act_avx512_init(b.act);
    for (size_t u = 0; u < n; u++, ow++) {
        const __m512 y = qn_epilogue_avx512(acc[u], b.bias, b.res ? b.res + ow * b.ld_r : NULL,
                                            b.res_before_act, &act, b.m);
        _mm512_mask_storeu_ps(b.y + ow * b.ld_y, b.m, y);
    }
}

// qn_epilogue_avx2's sequence, with AVX-512VL mask loads and stores.
static __attribute__((noinline)) void epilogue8(const struct ep_block *e, const __m256 *acc,
                                                size_t ow, size_t n) {
    const struct ep_block b = *e;
    const struct qn_act_avx2 act = qn_act_avx2_init(b.act);
    const __mmask8 m = (__mmask8)b.m;
    const __m256 bias = b.bias ? _mm256_maskz_loadu_ps(m, b.bias) : _mm256_setzero_ps();
    for (size_t u = 0; u < n; u++, ow++) {
        __m256 y = acc[u], r = _mm256_setzero_ps();
        if (b.bias) y = _mm256_add_ps(y, bias);
        if (b.res) r = _mm256_maskz_loadu_ps(m, b.res + ow * b.ld_r);
        if (b.res && b.res_before_act) y = _mm256_add_ps(y, r);
        y = qn_act_avx2(y, &act);
        if (b.res && !b.res_before_act) y = _mm256_add_ps(y, r);
        _mm256_mask_storeu_ps(b.y + ow * b.ld_y, m, y);
    }
}

// --- blocks: UR pixels from window pixel xb (step elements apart), output pixel ow ---

// off[nt]: window offsets of the taps; w: tap 0 of kernel row i_lo at the block's channel.
QN_INLINE void block16(const float *xb, size_t step, const size_t *off, size_t nt,
                       const float *w, size_t c_pad, const struct ep_block *e, size_t ow,
                       const size_t UR) {
    const float *xu[8];
    __m512 acc[8];
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++) xu[u] = xb + u * step, acc[u] = _mm512_setzero_ps();
    for (size_t t = 0; t < nt; t++) {
        const __m512 wv = _mm512_load_ps(w + t * c_pad);
        const size_t o = off[t];
#pragma GCC unroll 8
        for (size_t u = 0; u < UR; u++) acc[u] = _mm512_fmadd_ps(_mm512_set1_ps(xu[u][o]), wv, acc[u]);
    }
    epilogue16(e, acc, ow, UR);
}

QN_INLINE void block8(const float *xb, size_t step, const size_t *off, size_t nt,
                      const float *w, size_t c_pad, const struct ep_block *e, size_t ow,
                      const size_t UR) {
    const float *xu[8];
    __m256 acc[8];
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++) xu[u] = xb + u * step, acc[u] = _mm256_setzero_ps();
    for (size_t t = 0; t < nt; t++) {
        const __m256 wv = _mm256_load_ps(w + t * c_pad);
        const size_t o = off[t];
#pragma GCC unroll 8
        for (size_t u = 0; u < UR; u++) acc[u] = _mm256_fmadd_ps(_mm256_set1_ps(xu[u][o]), wv, acc[u]);
    }
    epilogue8(e, acc, ow, UR);
}

// The n pixels of a chunk from window pixel 0 / output pixel ow0, in blocks of 8, 4, 2, 1
// (never a partial block).
#define QN_HWC_CHUNK_FN(W)                                                                   \
    static void chunk##W(const float *win, size_t step, const size_t *off, size_t nt,        \
                         const float *w, size_t c_pad, const struct ep_block *e, size_t ow0, \
                         size_t n) {                                                         \
        size_t u = 0;                                                                        \
        for (; u + 8 <= n; u += 8) block##W(win + u * step, step, off, nt, w, c_pad, e, ow0 + u, 8); \
        if (n - u >= 4) {                                                                    \
            block##W(win + u * step, step, off, nt, w, c_pad, e, ow0 + u, 4);                \
            u += 4;                                                                          \
        }                                                                                    \
        if (n - u >= 2) {                                                                    \
            block##W(win + u * step, step, off, nt, w, c_pad, e, ow0 + u, 2);                \
            u += 2;                                                                          \
        }                                                                                    \
        if (n - u >= 1) block##W(win + u * step, step, off, nt, w, c_pad, e, ow0 + u, 1);    \
    }
QN_HWC_CHUNK_FN(16)
QN_HWC_CHUNK_FN(8)

void qn_f32_conv_hwc_ukernel_8x16__avx512(const struct qn_f32_conv_hwc_args *a) {
    float win[QN_CONV_HWC_XBUF] __attribute__((aligned(64)));
    size_t off[QN_CONV_HWC_MAX_T];
    const size_t rows = a->i_hi - a->i_lo, c_in = a->c_in, c_pad = a->c_pad;
    QN_ASSERT(rows * a->kw * c_in <= QN_CONV_HWC_MAX_T);  // the offset list and window
    const struct qn_conv_hwc_window g = qn_conv_hwc_window(rows, c_in, a->kw, a->stride, a->w_out);
    const size_t nt = qn_conv_hwc_offsets(rows, a->kw, c_in, g.ld_row, off);
    const size_t step = a->stride * c_in;
    for (size_t ow0 = 0; ow0 < a->w_out; ow0 += g.cw) {
        const size_t n = a->w_out - ow0 < g.cw ? a->w_out - ow0 : g.cw;
        fill_window(a, g.ld_row, (ptrdiff_t)(ow0 * a->stride) - (ptrdiff_t)a->pad,
                    (n - 1) * a->stride + a->kw, win);
        for (size_t cb = 0; cb < a->c_out; cb += 16) {
            const size_t nc = a->c_out - cb;
            const struct ep_block e = {
                .bias = a->bias ? a->bias + cb : NULL, .res = a->res ? a->res + cb : NULL,
                .ld_r = a->ld_r, .ld_y = a->ld_y, .res_before_act = a->res_before_act,
                .act = a->act, .y = a->y + cb, .m = mask16(nc),
            };
            const float *w = a->w + a->i_lo * a->kw * c_in * c_pad + cb;
            if (nc > 8)
                chunk16(win, step, off, nt, w, c_pad, &e, ow0, n);
            else
                chunk8(win, step, off, nt, w, c_pad, &e, ow0, n);
        }
    }
}
