// Scalar references for the GEMM operators and the epilogue: plain loops, never optimized.
// Every optimized kernel is tested against these.
#include <math.h>
#include <string.h>

#include "gemm.h"

const char *qn_act_name(enum qn_act act) {
    switch (act) {
    case QN_ACT_NONE: return "none";
    case QN_ACT_RELU: return "relu";
    case QN_ACT_RELU6: return "relu6";
    case QN_ACT_HSWISH: return "hswish";
    case QN_ACT_GELU: return "gelu";
    }
    return "invalid";
}

float qn_act_ref(enum qn_act act, float x) {
    switch (act) {
    case QN_ACT_NONE: return x;
    case QN_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case QN_ACT_RELU6: return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x);
    case QN_ACT_HSWISH: {
        float r = x + 3.0f;
        r = r < 0.0f ? 0.0f : (r > 6.0f ? 6.0f : r);
        return x * r * (1.0f / 6.0f);
    }
    case QN_ACT_GELU: {
        // tanh approximation (Hendrycks & Gimpel), as BERT / ViT implementations use
        const float c = 0.7978845608028654f;  // sqrt(2 / pi)
        return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
    }
    }
    return x;
}

static float epilogue_ref(const struct qn_epilogue *ep, size_t m, size_t n, float y) {
    if (!ep) return y;
    if (ep->bias) y += ep->bias[n];
    if (ep->residual && ep->residual_before_act) y += ep->residual[m * ep->ldr + n];
    y = qn_act_ref(ep->act, y);
    if (ep->residual && !ep->residual_before_act) y += ep->residual[m * ep->ldr + n];
    return y;
}

void qn_f32_gemm_ref(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
                     const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                     size_t ldc, const struct qn_epilogue *ep) {
    for (size_t m = 0; m < M; m++) {
        for (size_t n = 0; n < N; n++) {
            double acc = 0.0;
            for (size_t k = 0; k < K; k++) {
                float a = trans_a ? A[k * lda + m] : A[m * lda + k];
                float b = trans_b ? B[n * ldb + k] : B[k * ldb + n];
                acc += (double)a * (double)b;
            }
            float y = alpha * (float)acc;
            if (beta != 0.0f) y += beta * C[m * ldc + n];
            C[m * ldc + n] = epilogue_ref(ep, m, n, y);
        }
    }
}

// The requantization sequence every quantized kernel reproduces exactly:
//   y = (float)acc * (a_scale * scale[n]); epilogue; q = clamp(rint(y * (1/out_scale)) + zp,
//   0, qmax)
// (a_scale * scale[n] and 1/out_scale are computed once, in float, by the operator.)
void qn_qgemm_ref(size_t M, const uint8_t *A, size_t lda, const int8_t *W, size_t ldw,
                  size_t N, size_t K, const float *scale, const struct qn_qgemm_out *out,
                  void *C, size_t ldc) {
    QN_ASSERT(out->a_zp >= 0 && out->a_zp <= 255 && qn_qgemm_out_ok(out));
    const float inv_out = out->out_u8 ? 1.0f / out->out_scale : 0.0f;
    const float qmax = (float)qn_qgemm_out_qmax(out);
    for (size_t m = 0; m < M; m++) {
        for (size_t n = 0; n < N; n++) {
            int32_t acc = 0;
            for (size_t k = 0; k < K; k++)
                acc += ((int32_t)A[m * lda + k] - out->a_zp) * (int32_t)W[n * ldw + k];
            float mul = out->a_scale * scale[n];
            float y = epilogue_ref(&out->ep, m, n, (float)acc * mul);
            if (out->out_u8) {
                float q = rintf(y * inv_out) + (float)out->out_zp;
                q = q < 0.0f ? 0.0f : (q > qmax ? qmax : q);
                ((uint8_t *)C)[m * ldc + n] = (uint8_t)q;
            } else {
                ((float *)C)[m * ldc + n] = y;
            }
        }
    }
}
