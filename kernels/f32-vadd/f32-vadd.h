// Elementwise add micro-kernels with a fused activation: y[i] = act(a[i] + b[i]).
// y may alias a or b. Bit-exact with qn_act_ref(act, a + b) except GELU (see f32-vact.h).
#pragma once

#include <stddef.h>

#include "gemm.h"  // enum qn_act

typedef void (*qn_f32_vadd_ukernel_fn)(size_t n, const float *a, const float *b, float *y,
                                       enum qn_act act);

void qn_f32_vadd_ukernel__scalar(size_t n, const float *a, const float *b, float *y,
                                 enum qn_act act);
void qn_f32_vadd_ukernel__avx2(size_t n, const float *a, const float *b, float *y,
                               enum qn_act act);
void qn_f32_vadd_ukernel__avx512(size_t n, const float *a, const float *b, float *y,
                                 enum qn_act act);
