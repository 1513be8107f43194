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

// Border pixel with K compile-time: the tap loop unrolls, the column test is a predictable branch.
QN_INLINE void border(const struct qn_f32_dwconv_args *a, size_t ow, size_t cb, __mmask16 m,
                      const size_t K) {
    size_t j_lo, j_hi;
    qn_dwconv_taps(ow, a->w_in, K, a->stride, a->pad, &j_lo, &j_hi);
    const ptrdiff_t x0 = (ptrdiff_t)(ow * a->stride) - (ptrdiff_t)a->pad;
    __m512 acc = _mm512_setzero_ps();
    for (size_t i = a->i_lo; i < a->i_hi; i++) {
        const float *xr = a->x + (i - a->i_lo) * a->ld_xrow + cb;
        const float *wr = a->w + i * a->ld_wh + cb;
#pragma GCC unroll 7
        for (size_t j = 0; j < K; j++)
            if (j >= j_lo && j < j_hi)
                acc = _mm512_fmadd_ps(
                    _mm512_maskz_loadu_ps(m, xr + (size_t)(x0 + (ptrdiff_t)j) * a->ld_x),
                    _mm512_maskz_loadu_ps(m, wr + j * a->ld_ww), acc);
    }
    store_block(a, ow, cb, m, acc);
}

// UR interior pixels starting at ow: input pixel p of the window feeds output u through tap
// j = p - u * S.
QN_INLINE void interior(const struct qn_f32_dwconv_args *a, size_t ow, size_t cb, __mmask16 m,
                        const size_t K, const size_t S, const size_t UR) {
    __m512 acc[8];
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++) acc[u] = _mm512_setzero_ps();
    const float *x0 = a->x + (ow * S - a->pad) * a->ld_x + cb;
    for (size_t i = a->i_lo; i < a->i_hi; i++) {
        const float *xr = x0 + (i - a->i_lo) * a->ld_xrow;
        const float *wr = a->w + i * a->ld_wh + cb;
        __m512 wv[7];
#pragma GCC unroll 7
        for (size_t j = 0; j < K; j++) wv[j] = _mm512_maskz_loadu_ps(m, wr + j * a->ld_ww);
#pragma GCC unroll 32
        for (size_t p = 0; p < (UR - 1) * S + K; p++) {
            const __m512 xv = _mm512_maskz_loadu_ps(m, xr + p * a->ld_x);
#pragma GCC unroll 8
            for (size_t u = 0; u < UR; u++)
                if (p >= u * S && p - u * S < K) acc[u] = _mm512_fmadd_ps(xv, wv[p - u * S], acc[u]);
        }
    }
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++) store_block(a, ow + u, cb, m, acc[u]);
}

QN_INLINE void row(const struct qn_f32_dwconv_args *a, const size_t K, const size_t S) {
    size_t ow_lo, ow_hi;
    qn_dwconv_interior(a->w_in, a->w_out, K, S, a->pad, &ow_lo, &ow_hi);
    for (size_t cb = 0; cb < a->c; cb += 16) {
        const size_t nc = a->c - cb;
        const __mmask16 m = nc >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nc) - 1);
        size_t ow = 0;
        for (; ow < ow_lo; ow++) border(a, ow, cb, m, K);
        for (; ow + 8 <= ow_hi; ow += 8) interior(a, ow, cb, m, K, S, 8);
        if (ow + 4 <= ow_hi) interior(a, ow, cb, m, K, S, 4), ow += 4;
        for (; ow < ow_hi; ow++) interior(a, ow, cb, m, K, S, 1);
        for (; ow < a->w_out; ow++) border(a, ow, cb, m, K);
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
