// Folded u8 requantization for the common epilogue: no residual, activation NONE / RELU /
// RELU6, u8 output. The reference sequence (qn_qgemm_ref, every kernel's epilogue) is
//   y = (float)acc * mul;  y += bias;  y = act(y);
//   q = clamp(rintf(y * inv_out) + zp, 0, qmax).
// f(y) = rintf(y * inv_out) + zp is non-decreasing in y when inv_out > 0 (a correctly rounded
// product by a positive constant, then rint), and a non-decreasing f commutes with a clamp:
// f(clamp(y, a, b)) = clamp(f(y), f(a), f(b)). The activation's clamp to [0, 6] or [0, inf)
// therefore moves into the final integer clamp, q = clamp(f(y), lo, hi) with
//   lo = max(0, f(0)) = zp (RELU, RELU6) or 0,   hi = min(qmax, f(6)) (RELU6) or qmax,
// the same bits as the reference for every finite y. The vector kernels compute
//   t = min(y * inv_out, hi - zp), r = rint(t) (s32), q = clamp(r + zp, lo, hi)
// (min before rint: rint is monotone and hi - zp is an integer, so rint(min(t, h)) =
// min(rint(t), h); the float min also keeps a huge t from overflowing the conversion, and a
// hugely negative t converts to INT32_MIN, which clamps to lo like its true value would), and
// take r + zp and the clamp to [0, 255] from saturating packs s32 -> s16 -> u8: 5 float ops
// and a share of 3 packs per 16 outputs instead of the reference's 11.
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "gemm.h"

struct qn_requant_fast {
    float inv_out;    // 1 / out_scale, > 0
    float hi_t;       // hi - zp
    int32_t zp;       // output zero point
    int32_t lo, hi;   // final clamp, 0 <= lo <= zp, hi <= qmax
};

// False when the folded form does not apply (residual, another activation, float output,
// inv_out not a positive finite number).
static inline bool qn_requant_fast_init(struct qn_requant_fast *r, enum qn_act act,
                                        bool residual, bool out_u8, float inv_out, int32_t zp,
                                        int32_t qmax) {
    if (!out_u8 || residual || !(inv_out > 0.0f) || isinf(inv_out)) return false;
    if (act != QN_ACT_NONE && act != QN_ACT_RELU && act != QN_ACT_RELU6) return false;
    r->inv_out = inv_out;
    r->zp = zp;
    r->lo = act == QN_ACT_NONE ? 0 : zp;
    r->hi = qmax;
    if (act == QN_ACT_RELU6) {
        const float f6 = rintf(6.0f * inv_out) + (float)zp;  // the reference's f(6), in float
        if (f6 < (float)qmax) r->hi = (int32_t)f6;
    }
    r->hi_t = (float)(r->hi - zp);
    return true;
}

// One value the folded way (the vector kernels' arithmetic, lane by lane); y is the
// pre-activation value (acc * mul + bias).
static inline uint8_t qn_requant_fast_ref(const struct qn_requant_fast *r, float y) {
    float t = y * r->inv_out;
    t = t < r->hi_t ? t : r->hi_t;
    const float q = rintf(t) + (float)r->zp;
    return (uint8_t)(q < (float)r->lo ? r->lo : (q > (float)r->hi ? r->hi : (int32_t)q));
}

// The reference epilogue of one output (qn_qgemm_ref's sequence), for the scalar direct and
// depthwise kernels: y = acc * mul (+ bias), the residual before or after the activation, then
// u8 requantization or FP32; stored at element idx of y_out. bias and res point at this
// output's element or are NULL.
static inline void qn_qs8_store_ref(int32_t acc, float mul, const float *bias, const float *res,
                                    bool res_before_act, enum qn_act act, bool out_u8, float inv_out,
                                    int32_t out_zp, int32_t out_qmax, void *y_out, size_t idx) {
    float y = (float)acc * mul;
    if (bias) y += *bias;
    if (res && res_before_act) y += *res;
    y = qn_act_ref(act, y);
    if (res && !res_before_act) y += *res;
    if (out_u8) {
        float q = rintf(y * inv_out) + (float)out_zp;
        q = q < 0.0f ? 0.0f : (q > (float)out_qmax ? (float)out_qmax : q);
        ((uint8_t *)y_out)[idx] = (uint8_t)q;
    } else {
        ((float *)y_out)[idx] = y;
    }
}
