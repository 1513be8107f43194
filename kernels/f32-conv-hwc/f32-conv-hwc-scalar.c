// Reference direct conv kernel: plain loops over the valid taps, never optimized.
#include "f32-conv-hwc/f32-conv-hwc.h"
#include "f32-dwconv/f32-dwconv.h"

void qn_f32_conv_hwc_ukernel__scalar(const struct qn_f32_conv_hwc_args *a) {
    for (size_t ow = 0; ow < a->w_out; ow++) {
        size_t j_lo, j_hi;
        qn_dwconv_taps(ow, a->w_in, a->kw, a->stride, a->pad, &j_lo, &j_hi);
        // pixel under tap j = 0 may be left of the image; only valid taps are dereferenced
        const ptrdiff_t x0 = (ptrdiff_t)(ow * a->stride) - (ptrdiff_t)a->pad;
        for (size_t o = 0; o < a->c_out; o++) {
            float acc = 0.0f;
            for (size_t i = a->i_lo; i < a->i_hi; i++) {
                const float *xr = a->x + (i - a->i_lo) * a->ld_xrow;
                for (size_t j = j_lo; j < j_hi; j++) {
                    const float *xp = xr + (size_t)(x0 + (ptrdiff_t)j) * a->ld_x;
                    const float *wt = a->w + (i * a->kw + j) * a->c_in * a->c_pad + o;
                    for (size_t ci = 0; ci < a->c_in; ci++) acc += xp[ci] * wt[ci * a->c_pad];
                }
            }
            float y = acc;
            if (a->bias) y += a->bias[o];
            const float r = a->res ? a->res[ow * a->ld_r + o] : 0.0f;
            if (a->res && a->res_before_act) y += r;
            y = qn_act_ref(a->act, y);
            if (a->res && !a->res_before_act) y += r;
            a->y[ow * a->ld_y + o] = y;
        }
    }
}
