// AVX2 direct conv kernel: 8 output channels per ymm, 8 pixels per block (8 accumulators, the
// weight vector and the broadcasts fit the 16 ymm). Same structure as f32-conv-hwc-avx512.c;
// the last partial channel block loads bias / residual and stores with a lane mask (weights
// are zero-padded to whole vectors, see f32-conv-hwc.h).
#include <immintrin.h>

#include "f32-conv-hwc/f32-conv-hwc.h"
#include "f32-dwconv/dwconv-epilogue.h"

#define QN_INLINE static inline __attribute__((always_inline))

// --- window (see f32-conv-hwc.h) ---

QN_INLINE void copy_n(float *dst, const float *src, size_t n) {
    for (; n >= 8; n -= 8, dst += 8, src += 8) _mm256_storeu_ps(dst, _mm256_loadu_ps(src));
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
}

QN_INLINE void zero_n(float *dst, size_t n) {
    for (; n >= 8; n -= 8, dst += 8) _mm256_storeu_ps(dst, _mm256_setzero_ps());
    for (size_t i = 0; i < n; i++) dst[i] = 0.0f;
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

// --- epilogue ---

struct ep_block {
    const float *bias, *res;
    size_t ld_r, ld_y;
    bool res_before_act, tail;  // tail: fewer than 8 channels, the lanes of mi
    enum qn_act act;
    float *y;
    __m256i mi;
};

static __attribute__((noinline)) void epilogue(const struct ep_block *e, const __m256 *acc,
                                               size_t ow, size_t n) {
    const struct ep_block b = *e;  // a local: the stores below cannot alias it
    const struct qn_act_avx2 act = qn_act_avx2_init(b.act);
    for (size_t u = 0; u < n; u++, ow++) {
        const __m256 y = qn_epilogue_avx2(acc[u], b.bias, b.res ? b.res + ow * b.ld_r : NULL,
                                          b.res_before_act, &act, b.tail, b.mi);
        if (b.tail)
            _mm256_maskstore_ps(b.y + ow * b.ld_y, b.mi, y);
        else
            _mm256_storeu_ps(b.y + ow * b.ld_y, y);
    }
}

// UR pixels from window pixel xb (step elements apart), output pixel ow. off[nt]: window
// offsets of the taps; w: tap 0 of kernel row i_lo at the block's channel.
QN_INLINE void block(const float *xb, size_t step, const size_t *off, size_t nt, const float *w,
                     size_t c_pad, const struct ep_block *e, size_t ow, const size_t UR) {
    const float *xu[8];
    __m256 acc[8];
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++) xu[u] = xb + u * step, acc[u] = _mm256_setzero_ps();
    for (size_t t = 0; t < nt; t++) {
        const __m256 wv = _mm256_load_ps(w + t * c_pad);
        const size_t o = off[t];
#pragma GCC unroll 8
        for (size_t u = 0; u < UR; u++)
            acc[u] = _mm256_fmadd_ps(_mm256_broadcast_ss(xu[u] + o), wv, acc[u]);
    }
    epilogue(e, acc, ow, UR);
}

void qn_f32_conv_hwc_ukernel_8x8__avx2(const struct qn_f32_conv_hwc_args *a) {
    float win[QN_CONV_HWC_XBUF] __attribute__((aligned(32)));
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
        for (size_t cb = 0; cb < a->c_out; cb += 8) {
            const size_t nc = a->c_out - cb;
            const struct ep_block e = {
                .bias = a->bias ? a->bias + cb : NULL, .res = a->res ? a->res + cb : NULL,
                .ld_r = a->ld_r, .ld_y = a->ld_y, .res_before_act = a->res_before_act,
                .tail = nc < 8, .act = a->act, .y = a->y + cb,
                .mi = nc < 8 ? qn_mask_avx2(nc) : _mm256_setzero_si256(),
            };
            const float *w = a->w + a->i_lo * a->kw * c_in * c_pad + cb;
            // blocks of 8, 4, 2, 1 pixels (never a partial block)
            size_t u = 0;
            for (; u + 8 <= n; u += 8) block(win + u * step, step, off, nt, w, c_pad, &e, ow0 + u, 8);
            if (n - u >= 4) {
                block(win + u * step, step, off, nt, w, c_pad, &e, ow0 + u, 4);
                u += 4;
            }
            if (n - u >= 2) {
                block(win + u * step, step, off, nt, w, c_pad, &e, ow0 + u, 2);
                u += 2;
            }
            if (n - u >= 1) block(win + u * step, step, off, nt, w, c_pad, &e, ow0 + u, 1);
        }
    }
}
