// AVX-512 INT8 depthwise kernels: 16 channels per zmm in s32 lanes. Per tap: vpmovzxbd the u8
// pixels, subtract x_zp, vpdpwssd against the packed weight lane (see qs8-dwconv.h), which is the
// exact product. Interior pixels keep one kernel row's k weights in registers and load each
// input pixel once per kernel row (k, stride, UR compile-time), as in f32-dwconv-avx512.c.
#include <immintrin.h>

#include "f32-dwconv/dwconv-epilogue.h"
#include "f32-dwconv/f32-dwconv.h"
#include "qs8-dwconv/qs8-dwconv.h"

#define QN_INLINE static inline __attribute__((always_inline))

QN_INLINE __m512i load_x(const uint8_t *p, __mmask16 m, __m512i zp) {
    return _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p)), zp);
}

QN_INLINE void store_block(const struct qn_qs8_dwconv_args *a, size_t ow, size_t cb,
                           __mmask16 m, __m512i acc) {
    const struct qn_act_avx512 act = qn_act_avx512_init(a->act);
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_loadu_ps(a->mul + cb));
    const float *bias = a->bias ? a->bias + cb : NULL;
    const float *res = a->res ? a->res + ow * a->ld_r + cb : NULL;
    y = qn_epilogue_avx512(y, bias, res, a->res_before_act, &act, m);
    if (a->out_u8)
        _mm512_mask_cvtepi32_storeu_epi8((uint8_t *)a->y + ow * a->ld_y + cb, m,
                                         qn_quantize_avx512(y, a->inv_out, a->out_zp, a->out_qmax));
    else
        _mm512_mask_storeu_ps((float *)a->y + ow * a->ld_y + cb, m, y);
}

static void pixel(const struct qn_qs8_dwconv_args *a, size_t ow, size_t cb, __mmask16 m) {
    size_t j_lo, j_hi;
    qn_dwconv_taps(ow, a->w_in, a->k, a->stride, a->pad, &j_lo, &j_hi);
    const ptrdiff_t x0 = (ptrdiff_t)(ow * a->stride) - (ptrdiff_t)a->pad;
    const __m512i zp = _mm512_set1_epi32(a->x_zp);
    __m512i acc = _mm512_setzero_si512();
    for (size_t i = a->i_lo; i < a->i_hi; i++) {
        const uint8_t *xr = a->x + (i - a->i_lo) * a->ld_xrow + cb;
        const int32_t *wr = a->w + i * a->k * a->c_pad + cb;
        for (size_t j = j_lo; j < j_hi; j++)
            acc = _mm512_dpwssd_epi32(acc, load_x(xr + (size_t)(x0 + (ptrdiff_t)j) * a->ld_x, m, zp),
                                      _mm512_loadu_si512(wr + j * a->c_pad));
    }
    store_block(a, ow, cb, m, acc);
}

// UR output pixels from ow, the first n_out stored; same structure as f32-dwconv-avx512.c:
// input pixel p of the block's window feeds output u through tap j = p - u * S, and pixels
// outside the image are skipped by one predictable test per pixel (a padded tap is x = x_zp,
// whose product with x - x_zp is zero), so small maps where most taps fall in the padding
// (4x4 with k = 7: 16 of 28 taps per row are real) do only the real ones.
QN_INLINE void block(const struct qn_qs8_dwconv_args *a, size_t ow, size_t n_out, size_t cb,
                     __mmask16 m, const size_t K, const size_t S, const size_t UR) {
    const __m512i zp = _mm512_set1_epi32(a->x_zp);
    __m512i acc[8];
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++) acc[u] = _mm512_setzero_si512();
    const ptrdiff_t x0 = (ptrdiff_t)(ow * S) - (ptrdiff_t)a->pad;
    const ptrdiff_t p_lo = -x0, p_hi = (ptrdiff_t)a->w_in - x0;
    for (size_t i = a->i_lo; i < a->i_hi; i++) {
        const uint8_t *xr = a->x + (i - a->i_lo) * a->ld_xrow + cb;
        const int32_t *wr = a->w + i * K * a->c_pad + cb;
        __m512i wv[7];
#pragma GCC unroll 7
        for (size_t j = 0; j < K; j++) wv[j] = _mm512_loadu_si512(wr + j * a->c_pad);
#pragma GCC unroll 32
        for (size_t p = 0; p < (UR - 1) * S + K; p++) {
            if ((ptrdiff_t)p < p_lo || (ptrdiff_t)p >= p_hi) continue;
            const __m512i xv = load_x(xr + (size_t)(x0 + (ptrdiff_t)p) * a->ld_x, m, zp);
#pragma GCC unroll 8
            for (size_t u = 0; u < UR; u++)
                if (p >= u * S && p - u * S < K)
                    acc[u] = _mm512_dpwssd_epi32(acc[u], xv, wv[p - u * S]);
        }
    }
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++)
        if (u < n_out) store_block(a, ow + u, cb, m, acc[u]);
}

QN_INLINE void row(const struct qn_qs8_dwconv_args *a, const size_t K, const size_t S) {
    for (size_t cb = 0; cb < a->c; cb += 16) {
        const size_t nc = a->c - cb;
        const __mmask16 m = nc >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nc) - 1);
        size_t ow = 0;
        for (; ow + 8 <= a->w_out; ow += 8) block(a, ow, 8, cb, m, K, S, 8);
        const size_t rest = a->w_out - ow;
        if (rest > 4)
            block(a, ow, rest, cb, m, K, S, 8);
        else if (rest > 0)
            block(a, ow, rest, cb, m, K, S, 4);
    }
}

void qn_qs8_dwconv_ukernel_kxk__avx512(const struct qn_qs8_dwconv_args *a) {
    for (size_t cb = 0; cb < a->c; cb += 16) {
        const size_t nc = a->c - cb;
        const __mmask16 m = nc >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nc) - 1);
        for (size_t ow = 0; ow < a->w_out; ow++) pixel(a, ow, cb, m);
    }
}

#define QN_DW_KERNEL(K)                                                            \
    void qn_qs8_dwconv_ukernel_##K##x##K##__avx512(const struct qn_qs8_dwconv_args *a) { \
        if (a->stride == 1)                                                        \
            row(a, K, 1);                                                          \
        else if (a->stride == 2)                                                   \
            row(a, K, 2);                                                          \
        else                                                                       \
            qn_qs8_dwconv_ukernel_kxk__avx512(a);                                  \
    }

QN_DW_KERNEL(3)
QN_DW_KERNEL(5)
QN_DW_KERNEL(7)
