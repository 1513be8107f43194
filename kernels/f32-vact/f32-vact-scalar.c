// Scalar activation kernels: the reference the SIMD variants are tested against.
#include "f32-vact/f32-vact.h"
#include "gemm.h"

void qn_f32_vrelu_ukernel__scalar(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = qn_act_ref(QN_ACT_RELU, x[i]);
}

void qn_f32_vrelu6_ukernel__scalar(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = qn_act_ref(QN_ACT_RELU6, x[i]);
}

void qn_f32_vhswish_ukernel__scalar(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = qn_act_ref(QN_ACT_HSWISH, x[i]);
}

void qn_f32_vgelu_ukernel__scalar(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = qn_act_ref(QN_ACT_GELU, x[i]);
}
