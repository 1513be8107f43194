#include <string.h>

#include "im2col/im2col.h"

// One template for both element types: `elem` bytes per element; fill writes n padding elements.
#define QN_IM2COL_BODY(T, FILL)                                                               \
    for (size_t r = row0; r < row1; r++) {                                                    \
        const size_t oh = r / g->w_out, ow = r % g->w_out;                                    \
        T *dst = col + r * ld_col;                                                            \
        for (size_t i = 0; i < g->kh; i++) {                                                  \
            const ptrdiff_t ih = (ptrdiff_t)(oh * g->stride_h + i) - (ptrdiff_t)g->pad_h;     \
            for (size_t j = 0; j < g->kw; j++, dst += g->c) {                                 \
                const ptrdiff_t iw = (ptrdiff_t)(ow * g->stride_w + j) - (ptrdiff_t)g->pad_w; \
                if (ih < 0 || ih >= (ptrdiff_t)g->h || iw < 0 || iw >= (ptrdiff_t)g->w) {     \
                    FILL;                                                                     \
                } else {                                                                      \
                    memcpy(dst, x + ((size_t)ih * g->w + (size_t)iw) * g->ld_x,               \
                           g->c * sizeof(T));                                                 \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }

void qn_f32_im2col(const struct qn_im2col_geom *g, const float *x, float *col, size_t ld_col,
                   size_t row0, size_t row1) {
    QN_IM2COL_BODY(float, for (size_t ch = 0; ch < g->c; ch++) dst[ch] = 0.0f)
}

void qn_u8_im2col(const struct qn_im2col_geom *g, const uint8_t *x, uint8_t pad_value,
                  uint8_t *col, size_t ld_col, size_t row0, size_t row1) {
    QN_IM2COL_BODY(uint8_t, memset(dst, pad_value, g->c))
}
