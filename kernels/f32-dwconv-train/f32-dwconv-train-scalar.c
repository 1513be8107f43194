// Reference depthwise training kernels on padded input: plain loops.
#include "f32-dwconv-train/f32-dwconv-train.h"

void qn_f32_dwconv_fwd__scalar(const struct qn_dwt_shape *s, const float *xp, const float *w, size_t ws_h,
                               size_t ws_w, float *y) {
    const int C = s->C;
    for (int oh = 0; oh < s->Ho; oh++)
        for (int ow = 0; ow < s->Wo; ow++) {
            float *out = y + ((size_t)oh * s->Wo + ow) * C;
            for (int c = 0; c < C; c++) out[c] = 0.0f;
            for (int i = 0; i < s->k; i++)
                for (int j = 0; j < s->k; j++) {
                    const float *in = xp + ((size_t)(oh * s->stride + i) * s->Wp + (ow * s->stride + j)) * C;
                    const float *wt = w + i * ws_h + j * ws_w;
                    for (int c = 0; c < C; c++) out[c] += in[c] * wt[c];
                }
        }
}

void qn_f32_dwconv_wgrad__scalar(const struct qn_dwt_shape *s, const float *xp, const float *dy, float *dw) {
    const int C = s->C;
    for (int oh = 0; oh < s->Ho; oh++)
        for (int ow = 0; ow < s->Wo; ow++) {
            const float *g = dy + ((size_t)oh * s->Wo + ow) * C;
            for (int i = 0; i < s->k; i++)
                for (int j = 0; j < s->k; j++) {
                    const float *in = xp + ((size_t)(oh * s->stride + i) * s->Wp + (ow * s->stride + j)) * C;
                    float *d = dw + ((size_t)i * s->k + j) * C;
                    for (int c = 0; c < C; c++) d[c] += g[c] * in[c];
                }
        }
}
