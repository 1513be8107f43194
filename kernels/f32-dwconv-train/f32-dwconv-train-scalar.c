// Reference depthwise training kernels: plain loops.
#include "f32-dwconv-train/f32-dwconv-train.h"

void qn_f32_dwconv_fwd__scalar(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h,
                               size_t ws_w, float *y) {
    const int C = s->C, pad = s->k / 2;
    for (int oh = 0; oh < s->Ho; oh++) {
        int i0, i1;
        qn_dwt_fwd_range(oh, s->stride, pad, s->k, s->H, &i0, &i1);
        for (int ow = 0; ow < s->Wo; ow++) {
            int j0, j1;
            qn_dwt_fwd_range(ow, s->stride, pad, s->k, s->W, &j0, &j1);
            float *out = y + ((size_t)oh * s->Wo + ow) * C;
            for (int c = 0; c < C; c++) out[c] = 0.0f;
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1; j++) {
                    const float *in = x + ((size_t)(oh * s->stride + i - pad) * s->W + (ow * s->stride + j - pad)) * C;
                    const float *wt = w + i * ws_h + j * ws_w;
                    for (int c = 0; c < C; c++) out[c] += in[c] * wt[c];
                }
        }
    }
}

void qn_f32_dwconv_dgrad__scalar(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h,
                                 size_t ws_w, float *dx) {
    const int C = s->C, pad = s->k / 2, st = s->stride;
    for (int ih = 0; ih < s->H; ih++)
        for (int iw = 0; iw < s->W; iw++) {
            float *out = dx + ((size_t)ih * s->W + iw) * C;
            for (int c = 0; c < C; c++) out[c] = 0.0f;
            for (int i = 0; i < s->k; i++) {
                int t = ih + pad - i;  // = oh * stride
                if (t < 0 || t % st || t / st >= s->Ho) continue;
                for (int j = 0; j < s->k; j++) {
                    int u = iw + pad - j;
                    if (u < 0 || u % st || u / st >= s->Wo) continue;
                    const float *g = dy + ((size_t)(t / st) * s->Wo + u / st) * C;
                    const float *wt = w + i * ws_h + j * ws_w;
                    for (int c = 0; c < C; c++) out[c] += g[c] * wt[c];
                }
            }
        }
}

void qn_f32_dwconv_wgrad__scalar(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw) {
    const int C = s->C, pad = s->k / 2;
    for (int oh = 0; oh < s->Ho; oh++) {
        int i0, i1;
        qn_dwt_fwd_range(oh, s->stride, pad, s->k, s->H, &i0, &i1);
        for (int ow = 0; ow < s->Wo; ow++) {
            int j0, j1;
            qn_dwt_fwd_range(ow, s->stride, pad, s->k, s->W, &j0, &j1);
            const float *g = dy + ((size_t)oh * s->Wo + ow) * C;
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1; j++) {
                    const float *in = x + ((size_t)(oh * s->stride + i - pad) * s->W + (ow * s->stride + j - pad)) * C;
                    float *d = dw + ((size_t)i * s->k + j) * C;
                    for (int c = 0; c < C; c++) d[c] += g[c] * in[c];
                }
        }
    }
}
