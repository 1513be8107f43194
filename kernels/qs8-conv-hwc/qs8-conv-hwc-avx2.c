// AVX2 INT8 direct conv kernel: 8 output channels per ymm in s32 lanes, 8 pixels per block.
// Per tap: vpbroadcastd of the window's s32 (x - x_zp), vpmaddwd against the packed weight
// lane (exact, see qs8-conv-hwc.h), vpaddd. Structure as f32-conv-hwc-avx2.c; the epilogue is
// qs8-dwconv-avx2's float sequence (f32-dwconv/dwconv-epilogue.h), bit-exact with the scalar
// kernel. The last partial channel block reads and writes only its own lanes.
#include <immintrin.h>
#include <string.h>

#include "f32-dwconv/dwconv-epilogue.h"
#include "qs8-conv-hwc/qs8-conv-hwc.h"

#define QN_INLINE static inline __attribute__((always_inline))

// --- window (see f32-conv-hwc/f32-conv-hwc.h), widened to s32 x - x_zp ---

QN_INLINE void widen_n(int32_t *dst, const uint8_t *src, size_t n, int32_t zp) {
    const __m256i vzp = _mm256_set1_epi32(zp);
    for (; n >= 8; n -= 8, dst += 8, src += 8) {
        const __m128i b = _mm_loadl_epi64((const __m128i *)src);
        _mm256_storeu_si256((__m256i *)dst, _mm256_sub_epi32(_mm256_cvtepu8_epi32(b), vzp));
    }
    for (size_t i = 0; i < n; i++) dst[i] = (int32_t)src[i] - zp;
}

QN_INLINE void zero_n(int32_t *dst, size_t n) {
    for (; n >= 8; n -= 8, dst += 8) _mm256_storeu_si256((__m256i *)dst, _mm256_setzero_si256());
    for (size_t i = 0; i < n; i++) dst[i] = 0;
}

// The `cols` window columns of a chunk from input column c0 (valid kernel rows only), zero
// outside the image; window rows ld_row elements apart.
static void fill_window(const struct qn_qs8_conv_hwc_args *a, size_t ld_row, ptrdiff_t c0,
                        size_t cols, int32_t *win) {
    size_t lo, hi;
    qn_conv_hwc_cols(c0, cols, a->w_in, &lo, &hi);
    const size_t c_in = a->c_in, left = (size_t)((ptrdiff_t)lo - c0) * c_in;
    const size_t mid = (hi - lo) * c_in, right = cols * c_in - left - mid;
    for (size_t r = 0; r < a->i_hi - a->i_lo; r++) {
        int32_t *d = win + r * ld_row;
        const uint8_t *s = a->x + r * a->ld_xrow + lo * a->ld_x;
        zero_n(d, left);
        if (a->ld_x == c_in)
            widen_n(d + left, s, mid, a->x_zp);
        else
            for (size_t col = 0; col < hi - lo; col++)
                widen_n(d + left + col * c_in, s + col * a->ld_x, c_in, a->x_zp);
        zero_n(d + left + mid, right);
    }
}

// --- epilogue ---

struct ep_block {
    const float *mul, *bias, *res;
    size_t ld_r, ld_y, nc;
    bool res_before_act, out_u8, tail;  // tail: nc < 8 channels, the lanes of mi
    float inv_out;
    int32_t out_zp, out_qmax;
    enum qn_act act;
    void *y;
    __m256i mi;
};

static __attribute__((noinline)) void epilogue(const struct ep_block *e, const __m256i *acc,
                                               size_t ow, size_t n) {
    const struct ep_block b = *e;  // a local: the u8 stores may alias *e
    const struct qn_act_avx2 act = qn_act_avx2_init(b.act);
    const __m256 mul = _mm256_load_ps(b.mul);
    for (size_t u = 0; u < n; u++, ow++) {
        __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[u]), mul);
        y = qn_epilogue_avx2(y, b.bias, b.res ? b.res + ow * b.ld_r : NULL, b.res_before_act,
                             &act, b.tail, b.mi);
        if (b.out_u8) {
            const __m256i q = qn_quantize_avx2(y, b.inv_out, b.out_zp, b.out_qmax);
            __m128i q8 = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            q8 = _mm_packus_epi16(q8, q8);
            uint8_t *dst = (uint8_t *)b.y + ow * b.ld_y;
            if (b.tail) {
                const uint64_t v = (uint64_t)_mm_cvtsi128_si64(q8);
                memcpy(dst, &v, b.nc);
            } else {
                _mm_storel_epi64((__m128i *)dst, q8);
            }
        } else {
            float *dst = (float *)b.y + ow * b.ld_y;
            if (b.tail)
                _mm256_maskstore_ps(dst, b.mi, y);
            else
                _mm256_storeu_ps(dst, y);
        }
    }
}

// UR pixels from window pixel xb (step elements apart), output pixel ow. off[nt]: window
// offsets of the taps; w: tap 0 of kernel row i_lo at the block's channel.
QN_INLINE void block(const int32_t *xb, size_t step, const size_t *off, size_t nt,
                     const int32_t *w, size_t c_pad, const struct ep_block *e, size_t ow,
                     const size_t UR) {
    const int32_t *xu[8];
    __m256i acc[8];
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++) xu[u] = xb + u * step, acc[u] = _mm256_setzero_si256();
    for (size_t t = 0; t < nt; t++) {
        const __m256i wv = _mm256_load_si256((const __m256i *)(w + t * c_pad));
        const size_t o = off[t];
#pragma GCC unroll 8
        for (size_t u = 0; u < UR; u++)
            acc[u] = _mm256_add_epi32(acc[u], _mm256_madd_epi16(_mm256_set1_epi32(xu[u][o]), wv));
    }
    epilogue(e, acc, ow, UR);
}

void qn_qs8_conv_hwc_ukernel_8x8__avx2(const struct qn_qs8_conv_hwc_args *a) {
    int32_t win[QN_CONV_HWC_XBUF] __attribute__((aligned(32)));
    size_t off[QN_CONV_HWC_MAX_T];
    const size_t rows = a->i_hi - a->i_lo, c_in = a->c_in, c_pad = a->c_pad;
    QN_ASSERT(rows * a->kw * c_in <= QN_CONV_HWC_MAX_T);  // the offset list and window
    const struct qn_conv_hwc_window g = qn_conv_hwc_window(rows, c_in, a->kw, a->stride, a->w_out);
    const size_t nt = qn_conv_hwc_offsets(rows, a->kw, c_in, g.ld_row, off);
    const size_t step = a->stride * c_in, esize = a->out_u8 ? 1 : sizeof(float);
    for (size_t ow0 = 0; ow0 < a->w_out; ow0 += g.cw) {
        const size_t n = a->w_out - ow0 < g.cw ? a->w_out - ow0 : g.cw;
        fill_window(a, g.ld_row, (ptrdiff_t)(ow0 * a->stride) - (ptrdiff_t)a->pad,
                    (n - 1) * a->stride + a->kw, win);
        for (size_t cb = 0; cb < a->c_out; cb += 8) {
            const size_t nc = a->c_out - cb < 8 ? a->c_out - cb : 8;
            const struct ep_block e = {
                .mul = a->mul + cb, .bias = a->bias ? a->bias + cb : NULL,
                .res = a->res ? a->res + cb : NULL, .ld_r = a->ld_r, .ld_y = a->ld_y, .nc = nc,
                .res_before_act = a->res_before_act, .out_u8 = a->out_u8, .tail = nc < 8,
                .inv_out = a->inv_out, .out_zp = a->out_zp, .out_qmax = a->out_qmax,
                .act = a->act, .y = (char *)a->y + cb * esize,
                .mi = nc < 8 ? qn_mask_avx2(nc) : _mm256_setzero_si256(),
            };
            const int32_t *w = a->w + a->i_lo * a->kw * c_in * c_pad + cb;
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
