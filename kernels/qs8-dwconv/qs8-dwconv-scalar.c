// Reference INT8 depthwise kernel: plain loops over any k, exact s32 accumulation, then the
// requantization sequence of qn_qgemm_ref.
#include <math.h>

#include "f32-dwconv/f32-dwconv.h"
#include "qs8-dwconv/qs8-dwconv.h"

void qn_qs8_dwconv_ukernel_kxk__scalar(const struct qn_qs8_dwconv_args *a) {
    for (size_t ow = 0; ow < a->w_out; ow++) {
        size_t j_lo, j_hi;
        qn_dwconv_taps(ow, a->w_in, a->k, a->stride, a->pad, &j_lo, &j_hi);
        ptrdiff_t x0 = (ptrdiff_t)(ow * a->stride) - (ptrdiff_t)a->pad;
        for (size_t ch = 0; ch < a->c; ch++) {
            int32_t acc = 0;
            for (size_t i = a->i_lo; i < a->i_hi; i++) {
                const uint8_t *xr = a->x + (i - a->i_lo) * a->ld_xrow;
                for (size_t j = j_lo; j < j_hi; j++)
                    acc += ((int32_t)xr[(size_t)(x0 + (ptrdiff_t)j) * a->ld_x + ch] - a->x_zp) *
                           (int32_t)(int16_t)a->w[(i * a->k + j) * a->c_pad + ch];
            }
            float y = (float)acc * a->mul[ch];
            if (a->bias) y += a->bias[ch];
            const float r = a->res ? a->res[ow * a->ld_r + ch] : 0.0f;
            if (a->res && a->res_before_act) y += r;
            y = qn_act_ref(a->act, y);
            if (a->res && !a->res_before_act) y += r;
            if (a->out_u8) {
                float q = rintf(y * a->inv_out) + (float)a->out_zp;
                q = q < 0.0f ? 0.0f : (q > (float)a->out_qmax ? (float)a->out_qmax : q);
                ((uint8_t *)a->y)[ow * a->ld_y + ch] = (uint8_t)q;
            } else {
                ((float *)a->y)[ow * a->ld_y + ch] = y;
            }
        }
    }
}
