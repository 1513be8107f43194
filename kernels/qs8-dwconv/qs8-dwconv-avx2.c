// AVX2 INT8 depthwise kernels: 8 channels per ymm in s32 lanes, vpmaddwd of (x - x_zp) against
// the packed weight lane (exact, see qs8-dwconv.h), at most 4 interior pixels per step. The last
// partial channel block reads and writes only its own bytes (tail is compile-time).
#include <immintrin.h>
#include <string.h>

#include "f32-dwconv/dwconv-epilogue.h"
#include "f32-dwconv/f32-dwconv.h"
#include "qs8-dwconv/qs8-dwconv.h"

#define QN_INLINE static inline __attribute__((always_inline))

QN_INLINE __m256i load_x(const uint8_t *p, bool tail, size_t nc, __m256i zp) {
    __m128i b;
    if (tail) {
        uint64_t v = 0;
        memcpy(&v, p, nc);
        b = _mm_cvtsi64_si128((long long)v);
    } else {
        b = _mm_loadl_epi64((const __m128i *)p);
    }
    return _mm256_sub_epi32(_mm256_cvtepu8_epi32(b), zp);
}

QN_INLINE __m256i madd(__m256i acc, __m256i x, const int32_t *w) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(x, _mm256_loadu_si256((const __m256i *)w)));
}

QN_INLINE void store_block(const struct qn_qs8_dwconv_args *a, size_t ow, size_t cb, bool tail,
                           size_t nc, __m256i acc) {
    const size_t at = ow * a->ld_y + cb;
    qn_qs8_dw_store8_ref_avx2(acc, a->mul + cb, a->bias ? a->bias + cb : NULL,
                              a->res ? a->res + ow * a->ld_r + cb : NULL, a->res_before_act, a->act, a->out_u8,
                              a->inv_out, a->out_zp, a->out_qmax,
                              a->out_u8 ? (void *)((uint8_t *)a->y + at) : (void *)((float *)a->y + at), tail, nc);
}

QN_INLINE void pixel(const struct qn_qs8_dwconv_args *a, size_t ow, size_t cb, bool tail,
                     size_t nc) {
    size_t j_lo, j_hi;
    qn_dwconv_taps(ow, a->w_in, a->k, a->stride, a->pad, &j_lo, &j_hi);
    const ptrdiff_t x0 = (ptrdiff_t)(ow * a->stride) - (ptrdiff_t)a->pad;
    const __m256i zp = _mm256_set1_epi32(a->x_zp);
    __m256i acc = _mm256_setzero_si256();
    for (size_t i = a->i_lo; i < a->i_hi; i++) {
        const uint8_t *xr = a->x + (i - a->i_lo) * a->ld_xrow + cb;
        const int32_t *wr = a->w + i * a->k * a->c_pad + cb;
        for (size_t j = j_lo; j < j_hi; j++)
            acc = madd(acc, load_x(xr + (size_t)(x0 + (ptrdiff_t)j) * a->ld_x, tail, nc, zp),
                       wr + j * a->c_pad);
    }
    store_block(a, ow, cb, tail, nc, acc);
}

static void pixel_full(const struct qn_qs8_dwconv_args *a, size_t ow, size_t cb) {
    pixel(a, ow, cb, false, 8);
}
static void pixel_tail(const struct qn_qs8_dwconv_args *a, size_t ow, size_t cb, size_t nc) {
    pixel(a, ow, cb, true, nc);
}

QN_INLINE void interior(const struct qn_qs8_dwconv_args *a, size_t ow, size_t cb, bool tail,
                        size_t nc, const size_t K, const size_t S, const size_t UR) {
    const __m256i zp = _mm256_set1_epi32(a->x_zp);
    __m256i acc[4];
#pragma GCC unroll 4
    for (size_t u = 0; u < UR; u++) acc[u] = _mm256_setzero_si256();
    const uint8_t *x0 = a->x + (ow * S - a->pad) * a->ld_x + cb;
    for (size_t i = a->i_lo; i < a->i_hi; i++) {
        const uint8_t *xr = x0 + (i - a->i_lo) * a->ld_xrow;
        const int32_t *wr = a->w + i * K * a->c_pad + cb;
        __m256i wv[7];
#pragma GCC unroll 7
        for (size_t j = 0; j < K; j++) wv[j] = _mm256_loadu_si256((const __m256i *)(wr + j * a->c_pad));
#pragma GCC unroll 16
        for (size_t p = 0; p < (UR - 1) * S + K; p++) {
            const __m256i xv = load_x(xr + p * a->ld_x, tail, nc, zp);
#pragma GCC unroll 4
            for (size_t u = 0; u < UR; u++)
                if (p >= u * S && p - u * S < K)
                    acc[u] = _mm256_add_epi32(acc[u], _mm256_madd_epi16(xv, wv[p - u * S]));
        }
    }
#pragma GCC unroll 4
    for (size_t u = 0; u < UR; u++) store_block(a, ow + u, cb, tail, nc, acc[u]);
}

QN_INLINE void row_block(const struct qn_qs8_dwconv_args *a, size_t cb, bool tail, size_t nc,
                         size_t ow_lo, size_t ow_hi, const size_t K, const size_t S) {
    size_t ow = 0;
    for (; ow < ow_lo; ow++) tail ? pixel_tail(a, ow, cb, nc) : pixel_full(a, ow, cb);
    for (; ow + 4 <= ow_hi; ow += 4) interior(a, ow, cb, tail, nc, K, S, 4);
    for (; ow < ow_hi; ow++) interior(a, ow, cb, tail, nc, K, S, 1);
    for (; ow < a->w_out; ow++) tail ? pixel_tail(a, ow, cb, nc) : pixel_full(a, ow, cb);
}

QN_INLINE void row(const struct qn_qs8_dwconv_args *a, const size_t K, const size_t S) {
    size_t ow_lo, ow_hi;
    qn_dwconv_interior(a->w_in, a->w_out, K, S, a->pad, &ow_lo, &ow_hi);
    size_t cb = 0;
    for (; cb + 8 <= a->c; cb += 8) row_block(a, cb, false, 8, ow_lo, ow_hi, K, S);
    if (cb < a->c) row_block(a, cb, true, a->c - cb, ow_lo, ow_hi, K, S);
}

void qn_qs8_dwconv_ukernel_kxk__avx2(const struct qn_qs8_dwconv_args *a) {
    size_t cb = 0;
    for (; cb + 8 <= a->c; cb += 8)
        for (size_t ow = 0; ow < a->w_out; ow++) pixel_full(a, ow, cb);
    if (cb < a->c)
        for (size_t ow = 0; ow < a->w_out; ow++) pixel_tail(a, ow, cb, a->c - cb);
}

#define QN_DW_KERNEL(K)                                                                \
    void qn_qs8_dwconv_ukernel_##K##x##K##__avx2(const struct qn_qs8_dwconv_args *a) { \
        if (a->stride == 1)                                                            \
            row(a, K, 1);                                                              \
        else if (a->stride == 2)                                                       \
            row(a, K, 2);                                                              \
        else                                                                           \
            qn_qs8_dwconv_ukernel_kxk__avx2(a);                                        \
    }

QN_DW_KERNEL(3)
QN_DW_KERNEL(5)
QN_DW_KERNEL(7)
