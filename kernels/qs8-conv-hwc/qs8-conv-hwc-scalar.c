// Reference INT8 direct conv kernel: plain loops over the valid taps, exact s32 accumulation,
// then the requantization sequence of qn_qgemm_ref.
#include <math.h>

#include "f32-dwconv/f32-dwconv.h"
#include "qs8-conv-hwc/qs8-conv-hwc.h"
#include "qs8-gemm/qs8-requant.h"

void qn_qs8_conv_hwc_ukernel__scalar(const struct qn_qs8_conv_hwc_args *a) {
    for (size_t ow = 0; ow < a->w_out; ow++) {
        size_t j_lo, j_hi;
        qn_dwconv_taps(ow, a->w_in, a->kw, a->stride, a->pad, &j_lo, &j_hi);
        const ptrdiff_t x0 = (ptrdiff_t)(ow * a->stride) - (ptrdiff_t)a->pad;
        for (size_t o = 0; o < a->c_out; o++) {
            int32_t acc = 0;
            for (size_t i = a->i_lo; i < a->i_hi; i++) {
                const uint8_t *xr = a->x + (i - a->i_lo) * a->ld_xrow;
                for (size_t j = j_lo; j < j_hi; j++) {
                    const uint8_t *xp = xr + (size_t)(x0 + (ptrdiff_t)j) * a->ld_x;
                    const int32_t *wt = a->w + (i * a->kw + j) * a->c_in * a->c_pad + o;
                    for (size_t ci = 0; ci < a->c_in; ci++)
                        acc += ((int32_t)xp[ci] - a->x_zp) * (int32_t)(int16_t)wt[ci * a->c_pad];
                }
            }
            qn_qs8_store_ref(acc, a->mul[o], a->bias ? a->bias + o : NULL,
                             a->res ? a->res + ow * a->ld_r + o : NULL, a->res_before_act, a->act,
                             a->out_u8, a->inv_out, a->out_zp, a->out_qmax, a->y, ow * a->ld_y + o);
        }
    }
}
