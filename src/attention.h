// Multi-head self-attention (ViT / BERT encoder), FP32 and with INT8 projections, on elastic
// views of supernet weights.
//
//   Q = x Wq^T + bq,  K = x Wk^T + bk,  V = x Wv^T + bv          x: [T][D]
//   per head h:  P_h = softmax(Q_h K_h^T / sqrt(dh) + mask)       [T][T], rows over keys
//                O_h = P_h V_h                                    [T][dh]
//   y = concat_h(O_h) Wo^T + bo                                   y: [T][D]
//
// Supernet storage, PyTorch nn.Linear layout ([out][in]), for H_max heads of dim dh_max and
// embed dim D_max:
//   wq, wk, wv  [H_max * dh_max][ld_qkv]   head h owns rows h * dh_max .. h * dh_max + dh_max - 1
//   wo          [D_max][ld_o]              head h owns columns h * dh_max .. likewise
// A subnet (D, H, dh) uses the leading D embed features, the leading H heads and the leading dh
// rows (columns of wo) inside each head: qn_f32_mha_forward runs on those views directly,
// through leading dimensions and pointer offsets, without copying a weight.
//
// The attention core (Q K^T, softmax, P V) is FP32 in both variants; in the INT8 variant only
// the four projections run on u8 x s8 GEMMs. The core is ~2 T^2 H dh MACs against
// 4 T D H dh for the projections (T = 196, D = 384: a third of the MACs), and quantizing the
// scores or P to 8 bits costs far more accuracy than it saves time: softmax is sensitive to
// absolute score errors, and P spans several orders of magnitude.
//
// Threads: the projections parallelize inside the GEMMs; the core runs (head, row block)
// tasks on qn_threads() OpenMP threads, each with its own score buffer from the workspace.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "gemm-f32-packed.h"
#include "gemm.h"
#include "ops.h"

// Views into the supernet tensors (see above). Biases may be NULL (no bias).
struct qn_mha_weights {
    const float *wq, *wk, *wv;  // [H_max * dh_max][ld_qkv]
    size_t ld_qkv;              // >= D_max
    const float *bq, *bk, *bv;  // [H_max * dh_max]
    const float *wo;            // [D_max][ld_o]
    size_t ld_o;                // >= H_max * dh_max
    const float *bo;            // [D_max]
    size_t dh_max;              // per-head stride of the rows of wq/wk/wv and columns of wo
};

// The subnet: embed dim D (<= D_max), H heads (<= H_max), head dim dh (<= dh_max).
struct qn_mha_dims {
    size_t D, H, dh;
};

// Scratch sized once for the largest call (T, D, H, dh); nothing is allocated per call.
// After a call it holds that call's intermediates (tests and training read them):
struct qn_mha_workspace {
    size_t T, D, H, dh;  // capacity
    int nthreads;        // score buffers available (qn_threads() at init)
    float *qkv;          // [T][3 * H * dh]: Q | K | V, head h at column h * dh of each third
    float *o;            // [T][H * dh]: concatenated head outputs (input of the projection)
    float *s;            // [nthreads][T][T]: per-thread scores / probabilities
    uint8_t *xq;         // [T][max(D, H * dh)]: quantized activations (INT8 variant)
    struct qn_qu8_params x_params, o_params;  // INT8 variant: quantization of x and of o
};

enum qn_status qn_mha_workspace_init(struct qn_mha_workspace *ws, size_t T, size_t D, size_t H,
                                     size_t dh);
void qn_mha_workspace_free(struct qn_mha_workspace *ws);

// --- FP32 ---

// y[T][ldy] = MHSA(x[T][ldx]) for the subnet d on the views w. mask: additive scores mask
// [T][ldm] (ldm == 0: one row [T] for every query, e.g. key padding) or NULL; causal: query t
// sees keys 0..t. Masked probabilities are exactly 0. y may alias x.
// QN_ERR_ARG when d or T exceed the workspace or a stride is too small.
enum qn_status qn_f32_mha_forward(const struct qn_mha_weights *w, struct qn_mha_dims d, size_t T,
                                  const float *x, size_t ldx, const float *mask, size_t ldm,
                                  bool causal, float *y, size_t ldy,
                                  struct qn_mha_workspace *ws);

// Inference form for a fixed subnet: Wq | Wk | Wv gathered into one pre-packed B (one GEMM
// with N = 3 H dh) and Wo packed, biases gathered. Packed at the current ISA level.
struct qn_f32_mha_packed {
    struct qn_mha_dims d;
    struct qn_f32_packed_b qkv;  // op(B) = [D][3 H dh]
    struct qn_f32_packed_b o;    // op(B) = [H dh][D]
    float *b_qkv;                // [3 H dh]
    float *b_o;                  // [D]
};

enum qn_status qn_f32_mha_pack(struct qn_f32_mha_packed *p, const struct qn_mha_weights *w,
                               struct qn_mha_dims d);
void qn_f32_mha_packed_free(struct qn_f32_mha_packed *p);
// Same contract as qn_f32_mha_forward.
enum qn_status qn_f32_mha_packed_forward(const struct qn_f32_mha_packed *p, size_t T,
                                         const float *x, size_t ldx, const float *mask,
                                         size_t ldm, bool causal, float *y, size_t ldy,
                                         struct qn_mha_workspace *ws);

// --- INT8 projections ---

// Already-quantized supernet weights: s8 values symmetric per output channel (real weight =
// scale[n] * q), same layout as struct qn_mha_weights; FP32 biases.
struct qn_qs8_mha_src {
    const int8_t *wq, *wk, *wv;  // [H_max * dh_max][ld_qkv]
    size_t ld_qkv;
    const float *sq, *sk, *sv;   // [H_max * dh_max] per-row scales
    const int8_t *wo;            // [D_max][ld_o]
    size_t ld_o;
    const float *so;             // [D_max]
    const float *bq, *bk, *bv, *bo;  // as in qn_mha_weights, may be NULL
    size_t dh_max;
};

// A quantized subnet layer: the slices gathered and packed once (qn_qgemm_pack) at the ISA
// level current at init. bits 2..8 (value range); bits <= 4 use packed s4 storage.
struct qn_qs8_mha {
    struct qn_mha_dims d;
    int bits;
    struct qn_qgemm_weights qkv;  // N = 3 H dh, K = D
    struct qn_qgemm_weights o;    // N = D, K = H dh
    float *b_qkv;                 // [3 H dh]
    float *b_o;                   // [D]
};

enum qn_status qn_qs8_mha_init(struct qn_qs8_mha *m, const struct qn_qs8_mha_src *src,
                               struct qn_mha_dims d, int bits);
// Quantizes the subnet's FP32 slices per output channel (qn_qs8_weights_quantize, scales over
// the subnet's own D or H dh inputs), then packs them.
enum qn_status qn_qs8_mha_init_f32(struct qn_qs8_mha *m, const struct qn_mha_weights *w,
                                   struct qn_mha_dims d, int bits);
void qn_qs8_mha_free(struct qn_qs8_mha *m);

// Same contract as qn_f32_mha_forward. x and the concatenated head outputs are quantized to u8
// per tensor with parameters from their min/max (dynamic quantization, recorded in
// ws->x_params / ws->o_params); the projections run on qn_qgemm with FP32 output and bias.
// QN_ERR_UNSUPPORTED when the weights were packed at another ISA level than qn_isa().
enum qn_status qn_qs8_mha_forward(const struct qn_qs8_mha *m, size_t T, const float *x,
                                  size_t ldx, const float *mask, size_t ldm, bool causal,
                                  float *y, size_t ldy, struct qn_mha_workspace *ws);

// Kernels the attention runs at the current ISA level, e.g.
// "gemm qn_f32_gemm_ukernel_14x32__avx512, softmax qn_f32_softmax_ukernel__avx512".
const char *qn_f32_mha_variant(void);
const char *qn_qs8_mha_variant(void);
