// Reference INT8 depthwise kernels: plain loops over any k, exact s32 accumulation, then the
// requantization sequence of qn_qgemm_ref; and the row-quad references (transposition and a
// kernel over the quads, weight sets and corrections of a plan, qs8-dwconv.h).
#include <math.h>

#include "f32-dwconv/f32-dwconv.h"
#include "qs8-dwconv/qs8-dwconv.h"
#include "qs8-gemm/qs8-requant.h"

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
            qn_qs8_store_ref(acc, a->mul[ch], a->bias ? a->bias + ch : NULL,
                             a->res ? a->res + ow * a->ld_r + ch : NULL, a->res_before_act, a->act,
                             a->out_u8, a->inv_out, a->out_zp, a->out_qmax, a->y, ow * a->ld_y + ch);
        }
    }
}

// --- row quads (qs8-dwconv.h) ---

static void pack(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc, uint8_t x_zp, size_t pad,
                 size_t w_q, uint8_t *quads, size_t qb, bool pairs) {
    for (size_t b = 0; b < (nc + 15) / 16; b++)
        for (size_t q = 0; q < (h + 3) / 4; q++)
            for (size_t col = 0; col < w; col++)
                for (size_t l = 0; l < 16; l++)
                    for (size_t t = 0; t < 4; t++) {
                        const size_t r = 4 * q + t, ch = 16 * b + l;
                        quads[b * qb + (q * w_q + pad + col) * 64 + qn_qs8_dwq_pos(pairs, l, t)] =
                            r < h && ch < nc ? x[(r * w + col) * ld_x + ch] : x_zp;
                    }
}

void qn_qs8_dwq_pack__scalar(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc,
                             uint8_t x_zp, size_t pad, size_t w_q, uint8_t *quads, size_t qb) {
    pack(x, h, w, ld_x, nc, x_zp, pad, w_q, quads, qb, false);
}

void qn_qs8_dwq_pack_pairs__scalar(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc,
                                   uint8_t x_zp, size_t pad, size_t w_q, uint8_t *quads, size_t qb) {
    pack(x, h, w, ld_x, nc, x_zp, pad, w_q, quads, qb, true);
}

void qn_qs8_dwq_ukernel_kxk__scalar(const struct qn_qs8_dwq_args *a, size_t k, size_t stride) {
    for (size_t oy = a->oy_lo; oy < a->oy_hi; oy++) {
        const struct qn_qs8_dwq_row row = a->rows[oy];
        for (size_t ox = 0; ox < a->w_out; ox++) {
            const size_t px = oy * a->w_out + ox;
            for (size_t ch = 0; ch < a->c; ch++) {
                const size_t blk = ch / 16, l = ch % 16;
                const int8_t *set = a->wq + blk * a->block_stride + (size_t)row.set * a->set_stride;
                int32_t acc = a->zcorr ? a->zcorr[blk * a->corr_stride + ((size_t)row.rc * a->n_cc + a->col_class[ox]) * 16 + l]
                                       : 0;
                for (size_t qq = 0; qq < row.nq; qq++)
                    for (size_t j = 0; j < k; j++) {  // padded column ox * stride + j
                        const uint8_t *xq = a->quads + blk * a->quad_stride +
                                            (((size_t)row.q_lo + qq) * a->w_q + ox * stride + j) * 64;
                        const int8_t *wq = set + (qq * k + j) * 64;
                        for (size_t t = 0; t < 4; t++) {
                            const size_t o = qn_qs8_dwq_pos(a->pairs, l, t);
                            acc += (int32_t)xq[o] * wq[o];
                        }
                    }
                qn_qs8_store_ref(acc, a->mul[ch], a->bias ? a->bias + ch : NULL,
                                 a->res ? a->res + px * a->ld_r + ch : NULL, a->res_before_act, a->act,
                                 a->out_u8, a->inv_out, a->out_zp, a->out_qmax, a->y, px * a->ld_y + ch);
            }
        }
    }
}
