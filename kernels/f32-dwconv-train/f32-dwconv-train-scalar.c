// Reference depthwise training kernels: plain loops over the taps inside the image.
#include "f32-dwconv-train/f32-dwconv-train.h"

void qn_f32_dwconv_fwd__scalar(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h,
                               size_t ws_w, float *y) {
    const int C = s->C, K = s->k, S = s->stride, P = K / 2;
    for (int oh = 0; oh < s->Ho; oh++)
        for (int ow = 0; ow < s->Wo; ow++) {
            float *out = y + ((size_t)oh * s->Wo + ow) * C;
            for (int c = 0; c < C; c++) out[c] = 0.0f;
            for (int i = 0; i < K; i++) {
                const int ih = oh * S + i - P;
                if (ih < 0 || ih >= s->H) continue;
                for (int j = 0; j < K; j++) {
                    const int iw = ow * S + j - P;
                    if (iw < 0 || iw >= s->W) continue;
                    const float *in = x + ((size_t)ih * s->W + iw) * C, *wt = w + i * ws_h + j * ws_w;
                    for (int c = 0; c < C; c++) out[c] += in[c] * wt[c];
                }
            }
        }
}

void qn_f32_dwconv_dx__scalar(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h,
                              size_t ws_w, float *dx) {
    const int C = s->C, K = s->k, S = s->stride, P = K / 2;
    for (int ih = 0; ih < s->H; ih++)
        for (int iw = 0; iw < s->W; iw++) {
            float *out = dx + ((size_t)ih * s->W + iw) * C;
            for (int c = 0; c < C; c++) out[c] = 0.0f;
            for (int i = 0; i < K; i++) {
                const int th = ih + P - i;  // = oh * S
                if (th < 0 || th % S || th / S >= s->Ho) continue;
                for (int j = 0; j < K; j++) {
                    const int tw = iw + P - j;
                    if (tw < 0 || tw % S || tw / S >= s->Wo) continue;
                    const float *g = dy + ((size_t)(th / S) * s->Wo + tw / S) * C, *wt = w + i * ws_h + j * ws_w;
                    for (int c = 0; c < C; c++) out[c] += g[c] * wt[c];
                }
            }
        }
}

void qn_f32_dwconv_wgrad__scalar(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw,
                                 size_t ds_h, size_t ds_w) {
    const int C = s->C, K = s->k, S = s->stride, P = K / 2;
    for (int oh = 0; oh < s->Ho; oh++)
        for (int ow = 0; ow < s->Wo; ow++) {
            const float *g = dy + ((size_t)oh * s->Wo + ow) * C;
            for (int i = 0; i < K; i++) {
                const int ih = oh * S + i - P;
                if (ih < 0 || ih >= s->H) continue;
                for (int j = 0; j < K; j++) {
                    const int iw = ow * S + j - P;
                    if (iw < 0 || iw >= s->W) continue;
                    const float *in = x + ((size_t)ih * s->W + iw) * C;
                    float *d = dw + i * ds_h + j * ds_w;
                    for (int c = 0; c < C; c++) d[c] += g[c] * in[c];
                }
            }
        }
}
