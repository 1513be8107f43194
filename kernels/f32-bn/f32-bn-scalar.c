// Reference batch-norm + activation training kernels.
#include <math.h>

#include "f32-bn/f32-bn.h"

#include "gemm.h"

static float act_grad(int act, float v) {
    switch (act) {
    case QN_ACT_RELU: return v > 0.0f ? 1.0f : 0.0f;
    case QN_ACT_RELU6: return v > 0.0f && v < 6.0f ? 1.0f : 0.0f;
    case QN_ACT_HSWISH: return v <= -3.0f ? 0.0f : (v >= 3.0f ? 1.0f : (2.0f * v + 3.0f) * (1.0f / 6.0f));
    case QN_ACT_GELU: {
        const float c = 0.7978845608028654f;
        float t = tanhf(c * (v + 0.044715f * v * v * v));
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * v * v);
    }
    default: return 1.0f;
    }
}

void qn_f32_bn_sums__scalar(size_t P, int C, const float *x, const float *x0, float *s1, float *s2) {
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
            float v = x[p * C + c] - x0[c];
            s1[c] += v;
            s2[c] += v * v;
        }
}

void qn_f32_bn_act__scalar(size_t P, int C, const float *x, const float *scale, const float *shift, int act,
                           float *y) {
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
            float v = x[p * C + c] * scale[c] + shift[c];
            y[p * C + c] = qn_act_ref((enum qn_act)act, v);
        }
}

void qn_f32_act_bwd_sums__scalar(size_t P, int C, const float *x, const float *scale, const float *shift,
                                 const float *dy, int act, float *dz, float *s1, float *s2) {
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
            size_t at = p * C + c;
            float g = act == QN_ACT_NONE ? dy[at] : dy[at] * act_grad(act, x[at] * scale[c] + shift[c]);
            dz[at] = g;
            s1[c] += g;
            s2[c] += g * x[at];
        }
}

void qn_f32_bn_bwd_dx__scalar(size_t P, int C, const float *x, const float *dz, const float *a, const float *b,
                              const float *d, float *dx) {
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
            size_t at = p * C + c;
            dx[at] = a[c] * dz[at] + b[c] * x[at] + d[c];
        }
}
