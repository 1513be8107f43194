// AVX2 depthwise kernels: 8 channels per ymm, the structure of f32-dwconv-avx512.c with at most
// 4 interior pixels per step (16 ymm: k weights + 4 accumulators + 1 input). Full channel blocks
// use plain loads; only the last partial block uses maskload (tail is compile-time).
#include <immintrin.h>

#include "f32-dwconv/dwconv-epilogue.h"
#include "f32-dwconv/f32-dwconv.h"

#define QN_INLINE static inline __attribute__((always_inline))

QN_INLINE __m256 load(const float *p, bool tail, __m256i mi) {
    return tail ? _mm256_maskload_ps(p, mi) : _mm256_loadu_ps(p);
}

QN_INLINE void store_block(const struct qn_f32_dwconv_args *a, size_t ow, size_t cb, bool tail,
                           __m256i mi, __m256 acc) {
    const struct qn_act_avx2 act = qn_act_avx2_init(a->act);
    const float *bias = a->bias ? a->bias + cb : NULL;
    const float *res = a->res ? a->res + ow * a->ld_r + cb : NULL;
    __m256 y = qn_epilogue_avx2(acc, bias, res, a->res_before_act, &act, tail, mi);
    float *dst = a->y + ow * a->ld_y + cb;
    if (tail)
        _mm256_maskstore_ps(dst, mi, y);
    else
        _mm256_storeu_ps(dst, y);
}

QN_INLINE void pixel(const struct qn_f32_dwconv_args *a, size_t ow, size_t cb, bool tail,
                     __m256i mi) {
    size_t j_lo, j_hi;
    qn_dwconv_taps(ow, a->w_in, a->k, a->stride, a->pad, &j_lo, &j_hi);
    const ptrdiff_t x0 = (ptrdiff_t)(ow * a->stride) - (ptrdiff_t)a->pad;
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = a->i_lo; i < a->i_hi; i++) {
        const float *xr = a->x + (i - a->i_lo) * a->ld_xrow + cb;
        const float *wr = a->w + i * a->ld_wh + cb;
        for (size_t j = j_lo; j < j_hi; j++)
            acc = _mm256_fmadd_ps(load(xr + (size_t)(x0 + (ptrdiff_t)j) * a->ld_x, tail, mi),
                                  load(wr + j * a->ld_ww, tail, mi), acc);
    }
    store_block(a, ow, cb, tail, mi, acc);
}

static void pixel_full(const struct qn_f32_dwconv_args *a, size_t ow, size_t cb) {
    pixel(a, ow, cb, false, _mm256_setzero_si256());
}
static void pixel_tail(const struct qn_f32_dwconv_args *a, size_t ow, size_t cb, __m256i mi) {
    pixel(a, ow, cb, true, mi);
}

QN_INLINE void interior(const struct qn_f32_dwconv_args *a, size_t ow, size_t cb, bool tail,
                        __m256i mi, const size_t K, const size_t S, const size_t UR) {
    __m256 acc[4];
#pragma GCC unroll 4
    for (size_t u = 0; u < UR; u++) acc[u] = _mm256_setzero_ps();
    const float *x0 = a->x + (ow * S - a->pad) * a->ld_x + cb;
    for (size_t i = a->i_lo; i < a->i_hi; i++) {
        const float *xr = x0 + (i - a->i_lo) * a->ld_xrow;
        const float *wr = a->w + i * a->ld_wh + cb;
        __m256 wv[7];
#pragma GCC unroll 7
        for (size_t j = 0; j < K; j++) wv[j] = load(wr + j * a->ld_ww, tail, mi);
#pragma GCC unroll 16
        for (size_t p = 0; p < (UR - 1) * S + K; p++) {
            const __m256 xv = load(xr + p * a->ld_x, tail, mi);
#pragma GCC unroll 4
            for (size_t u = 0; u < UR; u++)
                if (p >= u * S && p - u * S < K) acc[u] = _mm256_fmadd_ps(xv, wv[p - u * S], acc[u]);
        }
    }
#pragma GCC unroll 4
    for (size_t u = 0; u < UR; u++) store_block(a, ow + u, cb, tail, mi, acc[u]);
}

QN_INLINE void row_block(const struct qn_f32_dwconv_args *a, size_t cb, bool tail, __m256i mi,
                         size_t ow_lo, size_t ow_hi, const size_t K, const size_t S) {
    size_t ow = 0;
    for (; ow < ow_lo; ow++) tail ? pixel_tail(a, ow, cb, mi) : pixel_full(a, ow, cb);
    for (; ow + 4 <= ow_hi; ow += 4) interior(a, ow, cb, tail, mi, K, S, 4);
    for (; ow < ow_hi; ow++) interior(a, ow, cb, tail, mi, K, S, 1);
    for (; ow < a->w_out; ow++) tail ? pixel_tail(a, ow, cb, mi) : pixel_full(a, ow, cb);
}

QN_INLINE void row(const struct qn_f32_dwconv_args *a, const size_t K, const size_t S) {
    size_t ow_lo, ow_hi;
    qn_dwconv_interior(a->w_in, a->w_out, K, S, a->pad, &ow_lo, &ow_hi);
    size_t cb = 0;
    for (; cb + 8 <= a->c; cb += 8)
        row_block(a, cb, false, _mm256_setzero_si256(), ow_lo, ow_hi, K, S);
    if (cb < a->c) row_block(a, cb, true, qn_mask_avx2(a->c - cb), ow_lo, ow_hi, K, S);
}

void qn_f32_dwconv_ukernel_kxk__avx2(const struct qn_f32_dwconv_args *a) {
    size_t cb = 0;
    for (; cb + 8 <= a->c; cb += 8)
        for (size_t ow = 0; ow < a->w_out; ow++) pixel_full(a, ow, cb);
    if (cb < a->c)
        for (size_t ow = 0; ow < a->w_out; ow++) pixel_tail(a, ow, cb, qn_mask_avx2(a->c - cb));
}

#define QN_DW_KERNEL(K)                                                                \
    void qn_f32_dwconv_ukernel_##K##x##K##__avx2(const struct qn_f32_dwconv_args *a) { \
        if (a->stride == 1)                                                            \
            row(a, K, 1);                                                              \
        else if (a->stride == 2)                                                       \
            row(a, K, 2);                                                              \
        else                                                                           \
            qn_f32_dwconv_ukernel_kxk__avx2(a);                                        \
    }

QN_DW_KERNEL(3)
QN_DW_KERNEL(5)
QN_DW_KERNEL(7)
