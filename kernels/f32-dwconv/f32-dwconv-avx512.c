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
