// AVX-512 depthwise training kernels on padded input: 16 channels per zmm, masked tail.
//
// Forward sweeps one kernel row at a time with its k weights in registers, over blocks of 8
// (then 4, then 1) output pixels: 8 independent FMA chains cover the FMA latency on two ports.
// The weight gradient keeps one kernel row's k accumulators in registers while every output
// pixel that row touches streams by.
#include <immintrin.h>

#include "f32-dwconv-train/f32-dwconv-train.h"

#define QN_AI static inline __attribute__((always_inline))

QN_AI __mmask16 tail_mask(int c, int C) { return C - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (C - c)) - 1); }

// NP output pixels starting at yp, kernel row in wv, input row xr (already at the pixel's
// first tap), pixel step sx (floats), accumulate unless first.
#define DW_BLOCK(NP)                                                                             \
    do {                                                                                         \
        __m512 a[NP];                                                                            \
        _Pragma("GCC unroll 8") for (int q = 0; q < NP; q++)                                     \
            a[q] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, yp + (size_t)q * C);  \
        _Pragma("GCC unroll 8") for (int j = 0; j < K; j++)                                      \
            _Pragma("GCC unroll 8") for (int q = 0; q < NP; q++)                                 \
                a[q] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xr + q * sx + (size_t)j * C), wv[j], a[q]); \
        _Pragma("GCC unroll 8") for (int q = 0; q < NP; q++) _mm512_mask_storeu_ps(yp + (size_t)q * C, m, a[q]);          \
    } while (0)

QN_AI void fwd_k(const struct qn_dwt_shape *s, int K, const float *xp, const float *w, size_t ws_h, size_t ws_w,
                 float *y) {
    const int C = s->C, st = s->stride;
    const size_t sx = (size_t)st * C, row = (size_t)s->Wp * C;
    for (int c = 0; c < C; c += 16) {
        const __mmask16 m = tail_mask(c, C);
        for (int oh = 0; oh < s->Ho; oh++) {
            float *yrow = y + (size_t)oh * s->Wo * C + c;
            for (int i = 0; i < K; i++) {
                const int first = i == 0;
                __m512 wv[7];
#pragma GCC unroll 8
                for (int j = 0; j < K; j++) wv[j] = _mm512_maskz_loadu_ps(m, w + i * ws_h + j * ws_w + c);
                const float *xrow = xp + (size_t)(oh * st + i) * row + c;
                int ow = 0;
                for (; ow + 8 <= s->Wo; ow += 8) {
                    float *yp = yrow + (size_t)ow * C;
                    const float *xr = xrow + (size_t)ow * sx;
                    DW_BLOCK(8);
                }
                if (ow + 4 <= s->Wo) {
                    float *yp = yrow + (size_t)ow * C;
                    const float *xr = xrow + (size_t)ow * sx;
                    DW_BLOCK(4);
                    ow += 4;
                }
                for (; ow < s->Wo; ow++) {
                    float *yp = yrow + (size_t)ow * C;
                    const float *xr = xrow + (size_t)ow * sx;
                    DW_BLOCK(1);
                }
            }
        }
    }
}

void qn_f32_dwconv_fwd__avx512(const struct qn_dwt_shape *s, const float *xp, const float *w, size_t ws_h,
                               size_t ws_w, float *y) {
    switch (s->k) {
    case 3: fwd_k(s, 3, xp, w, ws_h, ws_w, y); break;
    case 5: fwd_k(s, 5, xp, w, ws_h, ws_w, y); break;
    case 7: fwd_k(s, 7, xp, w, ws_h, ws_w, y); break;
    default: qn_f32_dwconv_fwd__scalar(s, xp, w, ws_h, ws_w, y);
    }
}

QN_AI void wgrad_k(const struct qn_dwt_shape *s, int K, const float *xp, const float *dy, float *dw) {
    const int C = s->C, st = s->stride;
    const size_t sx = (size_t)st * C, row = (size_t)s->Wp * C;
    for (int c = 0; c < C; c += 16) {
        const __mmask16 m = tail_mask(c, C);
        for (int i = 0; i < K; i++) {
            __m512 acc[7], acc2[7];
#pragma GCC unroll 8
            for (int j = 0; j < K; j++) acc[j] = acc2[j] = _mm512_setzero_ps();
            for (int oh = 0; oh < s->Ho; oh++) {
                const float *xr = xp + (size_t)(oh * st + i) * row + c;
                const float *gr = dy + (size_t)oh * s->Wo * C + c;
                int ow = 0;
                // two pixels per step into two accumulator sets: 2k independent chains
                for (; ow + 2 <= s->Wo; ow += 2) {
                    __m512 g0 = _mm512_maskz_loadu_ps(m, gr + (size_t)ow * C);
                    __m512 g1 = _mm512_maskz_loadu_ps(m, gr + (size_t)(ow + 1) * C);
                    const float *x0 = xr + (size_t)ow * sx, *x1 = x0 + sx;
#pragma GCC unroll 8
                    for (int j = 0; j < K; j++) {
                        acc[j] = _mm512_fmadd_ps(g0, _mm512_maskz_loadu_ps(m, x0 + (size_t)j * C), acc[j]);
                        acc2[j] = _mm512_fmadd_ps(g1, _mm512_maskz_loadu_ps(m, x1 + (size_t)j * C), acc2[j]);
                    }
                }
                if (ow < s->Wo) {
                    __m512 g0 = _mm512_maskz_loadu_ps(m, gr + (size_t)ow * C);
                    const float *x0 = xr + (size_t)ow * sx;
#pragma GCC unroll 8
                    for (int j = 0; j < K; j++)
                        acc[j] = _mm512_fmadd_ps(g0, _mm512_maskz_loadu_ps(m, x0 + (size_t)j * C), acc[j]);
                }
            }
#pragma GCC unroll 8
            for (int j = 0; j < K; j++) {
                float *d = dw + ((size_t)i * K + j) * C + c;
                _mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), _mm512_add_ps(acc[j], acc2[j])));
            }
        }
    }
}

void qn_f32_dwconv_wgrad__avx512(const struct qn_dwt_shape *s, const float *xp, const float *dy, float *dw) {
    switch (s->k) {
    case 3: wgrad_k(s, 3, xp, dy, dw); break;
    case 5: wgrad_k(s, 5, xp, dy, dw); break;
    case 7: wgrad_k(s, 7, xp, dy, dw); break;
    default: qn_f32_dwconv_wgrad__scalar(s, xp, dy, dw);
    }
}
