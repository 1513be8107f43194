// Training-engine layers: forward and backward of every layer the supernets use.
//
// Activations are NHWC, batch-major, contiguous: [B][H][W][C] with C the channels the subnet
// uses (a view of a max-width buffer is just the first B*H*W*C floats). Weights are views into
// the full supernet tensors (leading channels, centred kernel window), given by pointer and
// strides, so the gradient of a subnet lands in the right slice of the supernet gradient.
// Backward functions ACCUMULATE (+=) into weight gradients and, where noted, into dX, so a
// residual branch can add its gradient to the identity's.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gemm.h"

// --- dense convolution (stem), via im2col + GEMM ---
// X [B][H][W][Ci] -> Y [B][Ho][Wo][Co], kernel k x k, stride s, padding k/2.
// W is OHWI with strides: W[o*ws_o + i*ws_h + j*ws_w + c].
struct qn_nn_conv {
    int B, H, W, Ci, Co, k, stride, Ho, Wo;
    const float *w;  // centred window of the supernet tensor
    size_t ws_o, ws_h, ws_w;
};
void qn_nn_conv_init(struct qn_nn_conv *c, int B, int H, int W, int Ci, int Co, int k, int stride,
                     const float *w, size_t ws_o, size_t ws_h, size_t ws_w);
// Scratch floats needed by forward/backward (im2col buffer + packed weight).
size_t qn_nn_conv_scratch(const struct qn_nn_conv *c);
void qn_nn_conv_fwd(const struct qn_nn_conv *c, const float *x, float *y, float *scratch);
// dW (same strides as w) += ...; dX is overwritten when not NULL.
void qn_nn_conv_bwd(const struct qn_nn_conv *c, const float *x, const float *dy, float *dw, float *dx,
                    float *scratch);

// --- pointwise (1x1) convolution / linear: Y[P][Co] = X[P][Ci] W[Co][ldw]^T (+ bias) ---
void qn_nn_pw_fwd(size_t P, int Ci, int Co, const float *x, const float *w, size_t ldw,
                  const float *bias, float *y);
// dW[Co][ldw] += dY^T X, dbias += colsum(dY) (if not NULL); dX = dY W (overwritten, if not NULL).
void qn_nn_pw_bwd(size_t P, int Ci, int Co, const float *x, const float *w, size_t ldw,
                  const float *dy, float *dw, float *dbias, float *dx);

// --- depthwise k x k, stride s, padding k/2 ---
// W is [k][k] taps of C channels with strides: W[i*ws_h + j*ws_w + c] (ws_w = C_max, ws_h = K_max*C_max).
struct qn_nn_dw {
    int B, H, W, C, k, stride, Ho, Wo;
    const float *w;
    size_t ws_h, ws_w;
};
void qn_nn_dw_init(struct qn_nn_dw *d, int B, int H, int W, int C, int k, int stride, const float *w,
                   size_t ws_h, size_t ws_w);
void qn_nn_dw_fwd(const struct qn_nn_dw *d, const float *x, float *y);
// dW += ...; dX overwritten.
void qn_nn_dw_bwd(const struct qn_nn_dw *d, const float *x, const float *dy, float *dw, float *dx);

// --- batch norm over P = B*H*W positions of C channels ---
// Training: batch statistics, saves mean and 1/sqrt(var+eps) per channel for backward, and
// (if running_* not NULL) updates running stats with momentum. The reference the fused
// qn_nn_bn_act_* below are tested against.
void qn_nn_bn_fwd_train(size_t P, int C, const float *x, const float *gamma, const float *beta,
                        float eps, float momentum, float *running_mean, float *running_var,
                        float *save_mean, float *save_rstd, float *y);
// dgamma, dbeta +=; dX overwritten.
void qn_nn_bn_bwd(size_t P, int C, const float *x, const float *gamma, const float *save_mean,
                  const float *save_rstd, const float *dy, float *dgamma, float *dbeta, float *dx);

// --- fused batch norm + activation (what the supernet uses) ---
// Training forward: batch statistics (save_mean, save_rstd [C] kept for backward), y =
// act(BN(x)). The backward needs x and the statistics only: it recomputes BN(x) exactly.
void qn_nn_bn_act_fwd_train(size_t P, int C, const float *x, const float *gamma, const float *beta,
                            enum qn_act act, float *save_mean, float *save_rstd, float *y);
// Eval forward with running statistics.
void qn_nn_bn_act_fwd_eval(size_t P, int C, const float *x, const float *gamma, const float *beta,
                           const float *running_mean, const float *running_var, float eps, enum qn_act act,
                           float *y);
// Backward through act then BN, from the forward's x, gamma, beta and statistics (unchanged
// since): dgamma, dbeta +=; dx overwritten (dx may alias dy).
void qn_nn_act_bn_bwd(size_t P, int C, const float *x, const float *gamma, const float *beta,
                      const float *save_mean, const float *save_rstd, enum qn_act act, const float *dy,
                      float *dgamma, float *dbeta, float *dx);
#define QN_NN_BN_EPS 1e-5f

// --- activations (elementwise, in place allowed for fwd) ---
void qn_nn_act_fwd(enum qn_act act, size_t n, const float *x, float *y);
// dX = dY * act'(x), from the pre-activation input x; dx may alias dy.
void qn_nn_act_bwd(enum qn_act act, size_t n, const float *x, const float *dy, float *dx);

// --- global average pooling: [B][HW][C] -> [B][C] ---
void qn_nn_gap_fwd(int B, int HW, int C, const float *x, float *y);
void qn_nn_gap_bwd(int B, int HW, int C, const float *dy, float *dx);  // dX overwritten

// --- losses over logits [B][K] ---
// Cross-entropy against labels smoothed by eps (target 1-eps+eps/K on the label, eps/K elsewhere),
// or, when teacher_prob is not NULL, KL(teacher || softmax(logits)) with the teacher's
// probabilities [B][K] as targets (in-place distillation). Writes dlogits = (p - target) / B and
// returns the mean loss; correct counts argmax hits (if not NULL).
float qn_nn_softmax_xent(int B, int K, const float *logits, const uint8_t *labels, float smoothing,
                         const float *teacher_prob, float *dlogits, int *correct);
// Names of the training kernels in use (depthwise forward / weight gradient, batch norm).
const char *qn_nn_kernels_variant(void);

// Row softmax [B][K] (teacher probabilities).
void qn_nn_softmax(int B, int K, const float *logits, float *prob);
