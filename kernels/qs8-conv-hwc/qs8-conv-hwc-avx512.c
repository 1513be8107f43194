// AVX-512 INT8 direct conv kernel: 16 output channels per zmm in s32 lanes, 8 pixels per
// block; a last block of at most 8 channels runs on ymm (AVX-512VL), as in
// f32-conv-hwc-avx512.c. Per tap: one weight vector and, per pixel, vpdpwssd with an embedded
// broadcast of the window's s32 (x - x_zp), the exact product (see qs8-conv-hwc.h). Blocks
// leave their accumulators in a stack tile for one out-of-line epilogue with the float sequence
// of qn_qgemm_ref, operation by operation as in f32-dwconv/dwconv-epilogue.h (bit-exact).
#include <immintrin.h>

#include "f32-dwconv/dwconv-epilogue.h"
#include "qs8-conv-hwc/qs8-conv-hwc.h"

#define QN_INLINE static inline __attribute__((always_inline))

// --- window (see f32-conv-hwc/f32-conv-hwc.h), widened to s32 x - x_zp ---

QN_INLINE __mmask16 mask16(size_t n) {
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

QN_INLINE void widen_n(int32_t *dst, const uint8_t *src, size_t n, __m512i zp) {
    for (; n >= 16; n -= 16, dst += 16, src += 16) {
        const __m128i b = _mm_loadu_si128((const __m128i *)src);
        _mm512_storeu_si512(dst, _mm512_sub_epi32(_mm512_cvtepu8_epi32(b), zp));
    }
    if (n) {
        const __m128i b = _mm_maskz_loadu_epi8(mask16(n), src);
        _mm512_mask_storeu_epi32(dst, mask16(n), _mm512_sub_epi32(_mm512_cvtepu8_epi32(b), zp));
    }
}

QN_INLINE void zero_n(int32_t *dst, size_t n) {
    for (; n >= 16; n -= 16, dst += 16) _mm512_storeu_si512(dst, _mm512_setzero_si512());
    if (n) _mm512_mask_storeu_epi32(dst, mask16(n), _mm512_setzero_si512());
}

// The `cols` window columns of a chunk from input column c0 (valid kernel rows only), zero
// outside the image; window rows ld_row elements apart.
static void fill_window(const struct qn_qs8_conv_hwc_args *a, size_t ld_row, ptrdiff_t c0,
                        size_t cols, int32_t *win) {
    size_t lo, hi;
    qn_conv_hwc_cols(c0, cols, a->w_in, &lo, &hi);
    const size_t c_in = a->c_in, left = (size_t)((ptrdiff_t)lo - c0) * c_in;
    const size_t mid = (hi - lo) * c_in, right = cols * c_in - left - mid;
    const __m512i zp = _mm512_set1_epi32(a->x_zp);
    for (size_t r = 0; r < a->i_hi - a->i_lo; r++) {
        int32_t *d = win + r * ld_row;
        const uint8_t *s = a->x + r * a->ld_xrow + lo * a->ld_x;
        zero_n(d, left);
        if (a->ld_x == c_in)
            widen_n(d + left, s, mid, zp);
        else
            for (size_t col = 0; col < hi - lo; col++)
                widen_n(d + left + col * c_in, s + col * a->ld_x, c_in, zp);
        zero_n(d + left + mid, right);
    }
}

// --- epilogues ---

// Constants of one channel block, pointers at its first channel; broadcasts made once.
struct ep_block {
    __m512 mul, inv_out, out_zp, out_qmax;  // a_scale * w_scale; u8: 1 / out_scale, zp, qmax
    const float *bias, *res;
    size_t ld_r, ld_y;
    bool res_before_act, out_u8;
    enum qn_act act;
    void *y;
    __mmask16 m;  // valid channels (the low 8 for a ymm block)
};

// u8 stores go through vpmovdb to a register, then a plain store for a whole block or a masked
// byte store: GCC would fold vpmovdb + masked store into vpmovdb to memory, which Zen 4 runs
// microcoded, so an empty asm keeps them apart.
QN_INLINE void store_u8(uint8_t *dst, __mmask16 m, __m128i b) {
    __asm__("" : "+v"(b));
    if (m == 0xffff)
        _mm_storeu_si128((__m128i *)dst, b);
    else if (m == 0xff)
        _mm_storel_epi64((__m128i *)dst, b);
    else
        _mm_mask_storeu_epi8(dst, m, b);
}

static __attribute__((noinline)) void epilogue16(const struct ep_block *e, const __m512i *acc,
                                                 size_t ow, size_t n) {
    const struct ep_block b = *e;  // a local: the u8 stores may alias *e
    const struct qn_act_avx512 act = qn_act_avx512_init(b.act);
    for (size_t u = 0; u < n; u++, ow++) {
        __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[u]), b.mul);
        y = qn_epilogue_avx512(y, b.bias, b.res ? b.res + ow * b.ld_r : NULL, b.res_before_act,
                               &act, b.m);
        if (b.out_u8) {  // qn_quantize_avx512 with its constants hoisted
            __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(y, b.inv_out),
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q = _mm512_add_ps(q, b.out_zp);
            q = _mm512_min_ps(_mm512_max_ps(q, _mm512_setzero_ps()), b.out_qmax);
            store_u8((uint8_t *)b.y + ow * b.ld_y, b.m, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(q)));
        } else {
            _mm512_mask_storeu_ps((float *)b.y + ow * b.ld_y, b.m, y);
        }
    }
}

// The same sequence on ymm (qn_epilogue_avx2 / qn_quantize_avx2) with AVX-512VL masks.
static __attribute__((noinline)) void epilogue8(const struct ep_block *e, const __m256i *acc,
                                                size_t ow, size_t n) {
    const struct ep_block b = *e;
    const struct qn_act_avx2 act = qn_act_avx2_init(b.act);
    const __mmask8 m = (__mmask8)b.m;
    const __m256 mul = _mm512_castps512_ps256(b.mul), inv = _mm512_castps512_ps256(b.inv_out);
    const __m256 zp = _mm512_castps512_ps256(b.out_zp), qmax = _mm512_castps512_ps256(b.out_qmax);
    const __m256 bias = b.bias ? _mm256_maskz_loadu_ps(m, b.bias) : _mm256_setzero_ps();
    for (size_t u = 0; u < n; u++, ow++) {
        __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[u]), mul), r = _mm256_setzero_ps();
        if (b.bias) y = _mm256_add_ps(y, bias);
        if (b.res) r = _mm256_maskz_loadu_ps(m, b.res + ow * b.ld_r);
        if (b.res && b.res_before_act) y = _mm256_add_ps(y, r);
        y = qn_act_avx2(y, &act);
        if (b.res && !b.res_before_act) y = _mm256_add_ps(y, r);
        if (b.out_u8) {
            __m256 q = _mm256_round_ps(_mm256_mul_ps(y, inv),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q = _mm256_add_ps(q, zp);
            q = _mm256_min_ps(_mm256_max_ps(q, _mm256_setzero_ps()), qmax);
            store_u8((uint8_t *)b.y + ow * b.ld_y, m, _mm256_cvtepi32_epi8(_mm256_cvttps_epi32(q)));
        } else {
            _mm256_mask_storeu_ps((float *)b.y + ow * b.ld_y, m, y);
        }
    }
}

// --- blocks: UR pixels from window pixel xb (step elements apart), output pixel ow ---

// off[nt]: window offsets of the taps; w: tap 0 of kernel row i_lo at the block's channel.
QN_INLINE void block16(const int32_t *xb, size_t step, const size_t *off, size_t nt,
                       const int32_t *w, size_t c_pad, const struct ep_block *e, size_t ow,
                       const size_t UR) {
    const int32_t *xu[8];
    __m512i acc[8];
#pragma GCC unroll 8
    for (size_t u = 0; u < UR; u++) xu[u] = xb + u * step, acc[u] = _mm512_setzero_si512();
    for (size_t t = 0; t < nt; t++) {
        const __m512i wv = _mm512_load_si512(w + t * c_pad);
        const size_t o = off[t];
#pragma GCC unroll 8
        for (size_t u = 0; u < UR; u++)
            acc[u] = _mm512_dpwssd_epi32(acc[u], wv, _mm512_set1_epi32(xu[u][o]));
    }
    epilogue16(e, acc, ow, UR);
}

QN_INLINE void block8(const int32_t *xb, size_t step, const size_t *off, size_t nt,
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
            acc[u] = _mm256_dpwssd_epi32(acc[u], wv, _mm256_set1_epi32(xu[u][o]));
    }
    epilogue8(e, acc, ow, UR);
}

// The n pixels of a chunk from window pixel 0 / output pixel ow0, in blocks of 8, 4, 2, 1
// (never a partial block).
#define QN_HWC_CHUNK_FN(W)                                                                   \
    static void chunk##W(const int32_t *win, size_t step, const size_t *off, size_t nt,      \
                         const int32_t *w, size_t c_pad, const struct ep_block *e,           \
                         size_t ow0, size_t n) {                                             \
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

void qn_qs8_conv_hwc_ukernel_8x16__avx512(const struct qn_qs8_conv_hwc_args *a) {
    int32_t win[QN_CONV_HWC_XBUF] __attribute__((aligned(64)));
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
        for (size_t cb = 0; cb < a->c_out; cb += 16) {
            const size_t nc = a->c_out - cb;
            const struct ep_block e = {
                .mul = _mm512_load_ps(a->mul + cb), .inv_out = _mm512_set1_ps(a->inv_out),
                .out_zp = _mm512_set1_ps((float)a->out_zp),
                .out_qmax = _mm512_set1_ps((float)a->out_qmax),
                .bias = a->bias ? a->bias + cb : NULL, .res = a->res ? a->res + cb : NULL,
                .ld_r = a->ld_r, .ld_y = a->ld_y, .res_before_act = a->res_before_act,
                .out_u8 = a->out_u8, .act = a->act, .y = (char *)a->y + cb * esize,
                .m = mask16(nc),
            };
            const int32_t *w = a->w + a->i_lo * a->kw * c_in * c_pad + cb;
            if (nc > 8)
                chunk16(win, step, off, nt, w, c_pad, &e, ow0, n);
            else
                chunk8(win, step, off, nt, w, c_pad, &e, ow0, n);
        }
    }
}
