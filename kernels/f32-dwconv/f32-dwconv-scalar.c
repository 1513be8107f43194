// Reference depthwise kernel: plain loops over any k, never optimized.
#include "f32-dwconv/f32-dwconv.h"

void qn_f32_dwconv_ukernel_kxk__scalar(const struct qn_f32_dwconv_args *a) {
    for (size_t ow = 0; ow < a->w_out; ow++) {
        size_t j_lo, j_hi;
        qn_dwconv_taps(ow, a->w_in, a->k, a->stride, a->pad, &j_lo, &j_hi);
        // pixel under tap j = 0 may be left of the image; only valid taps are dereferenced
        ptrdiff_t x0 = (ptrdiff_t)(ow * a->stride) - (ptrdiff_t)a->pad;
        for (size_t ch = 0; ch < a->c; ch++) {
            float acc = 0.0f;
            for (size_t i = a->i_lo; i < a->i_hi; i++) {
                const float *xr = a->x + (i - a->i_lo) * a->ld_xrow;
                for (size_t j = j_lo; j < j_hi; j++)
                    acc += xr[(size_t)(x0 + (ptrdiff_t)j) * a->ld_x + ch] *
                           a->w[i * a->ld_wh + j * a->ld_ww + ch];
            }
            float y = acc;
            if (a->bias) y += a->bias[ch];
            const float r = a->res ? a->res[ow * a->ld_r + ch] : 0.0f;
            if (a->res && a->res_before_act) y += r;
            y = qn_act_ref(a->act, y);
            if (a->res && !a->res_before_act) y += r;
            a->y[ow * a->ld_y + ch] = y;
        }
    }
}
