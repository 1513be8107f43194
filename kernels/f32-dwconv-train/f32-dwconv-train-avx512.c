// AVX-512 depthwise training kernels: 16 channels per zmm, masked channel tail.
//
// All three keep the k weights (forward, dgrad) or the k weight-gradient accumulators (wgrad)
// of one kernel row in registers while sweeping a row of pixels, so the inner loop is one load
// and one FMA per tap.
#include <immintrin.h>

#include "f32-dwconv-train/f32-dwconv-train.h"

#define QN_AI static inline __attribute__((always_inline))

QN_AI __mmask16 tail_mask(int c, int C) { return C - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (C - c)) - 1); }

// y[oh][:][c..c+16) for one output row, accumulating kernel row i into y (first row: assign).
QN_AI void fwd_row(const struct qn_dwt_shape *s, int K, const float *xrow, const float *wrow, size_t ws_w,
                   float *yrow, int c, __mmask16 m, int first) {
    const int C = s->C, pad = K / 2, st = s->stride;
    __m512 wv[7];
    for (int j = 0; j < K; j++) wv[j] = _mm512_maskz_loadu_ps(m, wrow + j * ws_w + c);
    for (int ow = 0; ow < s->Wo;) {
        int j0, j1;
        qn_dwt_fwd_range(ow, st, pad, K, s->W, &j0, &j1);
        float *yp = yrow + (size_t)ow * C + c;
        const float *xp = xrow + (ptrdiff_t)(ow * st - pad) * C + c;
        if (j0 == 0 && ow + 3 < s->Wo && (ow + 3) * st - pad + K <= s->W) {
            // four interior pixels: four independent FMA chains hide the FMA latency
            __m512 a0, a1, a2, a3;
            if (first) {
                a0 = a1 = a2 = a3 = _mm512_setzero_ps();
            } else {
                a0 = _mm512_maskz_loadu_ps(m, yp), a1 = _mm512_maskz_loadu_ps(m, yp + C);
                a2 = _mm512_maskz_loadu_ps(m, yp + 2 * C), a3 = _mm512_maskz_loadu_ps(m, yp + 3 * C);
            }
            const size_t sc = (size_t)st * C;
            for (int j = 0; j < K; j++) {
                const float *xj = xp + (size_t)j * C;
                a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xj), wv[j], a0);
                a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xj + sc), wv[j], a1);
                a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xj + 2 * sc), wv[j], a2);
                a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xj + 3 * sc), wv[j], a3);
            }
            _mm512_mask_storeu_ps(yp, m, a0), _mm512_mask_storeu_ps(yp + C, m, a1);
            _mm512_mask_storeu_ps(yp + 2 * C, m, a2), _mm512_mask_storeu_ps(yp + 3 * C, m, a3);
            ow += 4;
            continue;
        }
        __m512 a = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, yp);
        for (int j = j0; j < j1; j++) a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xp + (ptrdiff_t)j * C), wv[j], a);
        _mm512_mask_storeu_ps(yp, m, a);
        ow++;
    }
}

QN_AI void fwd_k(const struct qn_dwt_shape *s, int K, const float *x, const float *w, size_t ws_h, size_t ws_w,
                 float *y) {
    const int C = s->C, pad = K / 2;
    for (int c = 0; c < C; c += 16) {
        __mmask16 m = tail_mask(c, C);
        for (int oh = 0; oh < s->Ho; oh++) {
            int i0, i1;
            qn_dwt_fwd_range(oh, s->stride, pad, K, s->H, &i0, &i1);
            float *yrow = y + (size_t)oh * s->Wo * C;
            if (i0 >= i1) {
                for (int ow = 0; ow < s->Wo; ow++) _mm512_mask_storeu_ps(yrow + (size_t)ow * C + c, m, _mm512_setzero_ps());
                continue;
            }
            for (int i = i0; i < i1; i++)
                fwd_row(s, K, x + (size_t)(oh * s->stride + i - pad) * s->W * C, w + i * ws_h, ws_w, yrow, c, m,
                        i == i0);
        }
    }
}

void qn_f32_dwconv_fwd__avx512(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h,
                               size_t ws_w, float *y) {
    switch (s->k) {
    case 3: fwd_k(s, 3, x, w, ws_h, ws_w, y); break;
    case 5: fwd_k(s, 5, x, w, ws_h, ws_w, y); break;
    case 7: fwd_k(s, 7, x, w, ws_h, ws_w, y); break;
    default: qn_f32_dwconv_fwd__scalar(s, x, w, ws_h, ws_w, y);
    }
}

// dx[ih][iw] = sum over taps (i, j) with ih + pad - i = oh*stride, iw + pad - j = ow*stride.
QN_AI void dgrad_k(const struct qn_dwt_shape *s, int K, const float *dy, const float *w, size_t ws_h, size_t ws_w,
                   float *dx) {
    const int C = s->C, pad = K / 2, st = s->stride;
    for (int c = 0; c < C; c += 16) {
        __mmask16 m = tail_mask(c, C);
        for (int ih = 0; ih < s->H; ih++) {
            float *xrow = dx + (size_t)ih * s->W * C;
            int first = 1;
            for (int i = 0; i < K; i++) {
                int t = ih + pad - i;
                if (t < 0 || t % st || t / st >= s->Ho) continue;
                const float *grow = dy + (size_t)(t / st) * s->Wo * C;
                __m512 wv[7];
                for (int j = 0; j < K; j++) wv[j] = _mm512_maskz_loadu_ps(m, w + i * ws_h + j * ws_w + c);
                for (int iw = 0; iw < s->W;) {
                    float *xp = xrow + (size_t)iw * C + c;
                    if (st == 1 && iw + pad - (K - 1) >= 0 && iw + 3 + pad < s->Wo) {
                        // four pixels whose every tap lands inside dy: four FMA chains
                        __m512 a0, a1, a2, a3;
                        if (first) {
                            a0 = a1 = a2 = a3 = _mm512_setzero_ps();
                        } else {
                            a0 = _mm512_maskz_loadu_ps(m, xp), a1 = _mm512_maskz_loadu_ps(m, xp + C);
                            a2 = _mm512_maskz_loadu_ps(m, xp + 2 * C), a3 = _mm512_maskz_loadu_ps(m, xp + 3 * C);
                        }
                        for (int j = 0; j < K; j++) {
                            const float *g = grow + (size_t)(iw + pad - j) * C + c;
                            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, g), wv[j], a0);
                            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, g + C), wv[j], a1);
                            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, g + 2 * C), wv[j], a2);
                            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, g + 3 * C), wv[j], a3);
                        }
                        _mm512_mask_storeu_ps(xp, m, a0), _mm512_mask_storeu_ps(xp + C, m, a1);
                        _mm512_mask_storeu_ps(xp + 2 * C, m, a2), _mm512_mask_storeu_ps(xp + 3 * C, m, a3);
                        iw += 4;
                        continue;
                    }
                    __m512 a = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, xp);
                    if (st == 1) {
                        // taps j with 0 <= iw + pad - j < Wo
                        int jlo = iw + pad - (s->Wo - 1), jhi = iw + pad;
                        if (jlo < 0) jlo = 0;
                        if (jhi > K - 1) jhi = K - 1;
                        for (int j = jlo; j <= jhi; j++)
                            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, grow + (size_t)(iw + pad - j) * C + c), wv[j], a);
                    } else {
                        for (int j = 0; j < K; j++) {
                            int u = iw + pad - j;
                            if (u < 0 || u % st || u / st >= s->Wo) continue;
                            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, grow + (size_t)(u / st) * C + c), wv[j], a);
                        }
                    }
                    _mm512_mask_storeu_ps(xp, m, a);
                    iw++;
                }
                first = 0;
            }
            if (first)
                for (int iw = 0; iw < s->W; iw++) _mm512_mask_storeu_ps(xrow + (size_t)iw * C + c, m, _mm512_setzero_ps());
        }
    }
}

void qn_f32_dwconv_dgrad__avx512(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h,
                                 size_t ws_w, float *dx) {
    switch (s->k) {
    case 3: dgrad_k(s, 3, dy, w, ws_h, ws_w, dx); break;
    case 5: dgrad_k(s, 5, dy, w, ws_h, ws_w, dx); break;
    case 7: dgrad_k(s, 7, dy, w, ws_h, ws_w, dx); break;
    default: qn_f32_dwconv_dgrad__scalar(s, dy, w, ws_h, ws_w, dx);
    }
}

// dw[i][j] += sum_{oh, ow} dy[oh][ow] * x[oh*s + i - pad][ow*s + j - pad]: one kernel row's k
// accumulators live in registers while every output pixel that row touches streams by.
QN_AI void wgrad_k(const struct qn_dwt_shape *s, int K, const float *x, const float *dy, float *dw) {
    const int C = s->C, pad = K / 2, st = s->stride;
    for (int c = 0; c < C; c += 16) {
        __mmask16 m = tail_mask(c, C);
        for (int i = 0; i < K; i++) {
            __m512 acc[7];
            for (int j = 0; j < K; j++) acc[j] = _mm512_setzero_ps();
            for (int oh = 0; oh < s->Ho; oh++) {
                int ih = oh * st + i - pad;
                if (ih < 0 || ih >= s->H) continue;
                const float *xrow = x + (size_t)ih * s->W * C + c;
                const float *grow = dy + (size_t)oh * s->Wo * C + c;
                for (int ow = 0; ow < s->Wo; ow++) {
                    int j0, j1;
                    qn_dwt_fwd_range(ow, st, pad, K, s->W, &j0, &j1);
                    __m512 g = _mm512_maskz_loadu_ps(m, grow + (size_t)ow * C);
                    const float *xp = xrow + (ptrdiff_t)(ow * st - pad) * C;
                    if (j0 == 0 && j1 == K) {
                        for (int j = 0; j < K; j++) acc[j] = _mm512_fmadd_ps(g, _mm512_maskz_loadu_ps(m, xp + (size_t)j * C), acc[j]);
                    } else {
                        for (int j = j0; j < j1; j++) acc[j] = _mm512_fmadd_ps(g, _mm512_maskz_loadu_ps(m, xp + (ptrdiff_t)j * C), acc[j]);
                    }
                }
            }
            for (int j = 0; j < K; j++) {
                float *d = dw + ((size_t)i * K + j) * C + c;
                _mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), acc[j]));
            }
        }
    }
}

void qn_f32_dwconv_wgrad__avx512(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw) {
    switch (s->k) {
    case 3: wgrad_k(s, 3, x, dy, dw); break;
    case 5: wgrad_k(s, 5, x, dy, dw); break;
    case 7: wgrad_k(s, 7, x, dy, dw); break;
    default: qn_f32_dwconv_wgrad__scalar(s, x, dy, dw);
    }
}
