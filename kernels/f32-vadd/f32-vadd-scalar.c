// Scalar add + activation: the reference for the SIMD variants.
#include "f32-vadd/f32-vadd.h"

void qn_f32_vadd_ukernel__scalar(size_t n, const float *a, const float *b, float *y,
                                 enum qn_act act) {
    for (size_t i = 0; i < n; i++) y[i] = qn_act_ref(act, a[i] + b[i]);
}
