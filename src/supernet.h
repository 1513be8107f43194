// The MBConv supernet at run time: its parameters (one block), gradients (one block), and the
// forward / backward of any subnet straight on views of the shared weights.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "mbconv-policy.h"
#include "mbconv.h"
#include "safetensors.h"

// One named tensor of the supernet, at its maximum size, inside the parameter block.
struct qn_mb_tensor {
    char name[64];
    int ndim;
    int64_t shape[4];
    size_t offset, count;  // in floats, into w / grad
    bool trainable;        // false: batch-norm running statistics
    bool decay;            // weight decay applies (conv and linear weights, not BN or biases)
};

// conv + batch norm, as offsets into the parameter block
struct qn_mb_convbn {
    size_t w;                    // conv weight
    size_t gamma, beta, mean, var;
};

struct qn_mb_block_params {
    struct qn_mb_convbn expand;   // [cin*e_max][1][1][cin]
    struct qn_mb_convbn dw;       // [k_max][k_max][cin*e_max]
    struct qn_mb_convbn project;  // [cout][1][1][cin*e_max]
    // Once-for-All's elastic kernel: the k_j x k_j kernel is a learned linear map of the centre
    // k_j x k_j window of the k_{j+1} kernel, shared by all channels of the block:
    //   w_j[t][c] = sum_s T_j[t][s] * centre_{k_j}(w_{j+1})[s][c],   T_j: [k_j^2][k_j^2]
    // for j < n_kernels - 1 (w_{n-1} is the stored k_max weight). Initialized to the identity
    // (plain centre crop).
    size_t ktrans[QN_MB_MAX_CHOICES];
};

struct qn_mb_net {
    const struct qn_mb_space *space;
    size_t n_tensors;
    struct qn_mb_tensor *tensors;
    size_t n_floats;
    float *w;     // [n_floats] parameters and BN statistics
    float *grad;  // [n_floats] gradients (NULL until qn_mb_net_alloc_grad)
    struct qn_mb_convbn stem;      // [stem_c][k][k][in_c]
    struct qn_mb_block_params blocks[QN_MB_MAX_STAGES][QN_MB_MAX_DEPTH];
    struct qn_mb_convbn head;      // [head_c][1][1][c_last]
    size_t cls_w, cls_b;           // [n_classes][head_c], [n_classes]
    char source[256];              // the file qn_mb_net_load read (for messages), "" if none
};

enum qn_status qn_mb_net_init(struct qn_mb_net *net, const struct qn_mb_space *space, struct qn_error *e);
void qn_mb_net_free(struct qn_mb_net *net);
enum qn_status qn_mb_net_alloc_grad(struct qn_mb_net *net, struct qn_error *e);
// He-normal conv/linear weights, BN gamma 1 (0 for each block's last BN, so residual blocks
// start as identities), beta 0, running stats (0, 1). Deterministic from seed.
void qn_mb_net_init_weights(struct qn_mb_net *net, uint64_t seed);

// Tensors for qn_st_write (names, shapes, data pointers into net->w).
size_t qn_mb_net_entries(const struct qn_mb_net *net, struct qn_st_entry *out);
// Loads every tensor from a safetensors file, checking names, dtypes and shapes against the
// space and rejecting non-finite values; `what` (the file) is kept in net->source.
enum qn_status qn_mb_net_load(struct qn_mb_net *net, const struct qn_safetensors *st, const char *what,
                              struct qn_error *e);

// The depthwise kernel block (stage, block) runs with at kernel size k (one of the space's
// kernels), for its first ce channels: out [k][k][ce], after the kernel transforms.
void qn_mb_dw_kernel(const struct qn_mb_net *net, int stage, int block, int k, int ce, float *out);

// --- running a subnet ---

// Workspace for forward/backward of a subnet at batch <= max_batch: every activation the
// backward pass needs, sized for the largest subnet. Allocated once.
struct qn_mb_run;
struct qn_mb_run *qn_mb_run_new(const struct qn_mb_net *net, int max_batch);
void qn_mb_run_free(struct qn_mb_run *r);

// Optional per-layer-type timing of forward and backward (bench/bench-train.c): seconds
// accumulated by every qn_mb_forward / qn_mb_backward while attached.
enum qn_mb_prof_kind {
    QN_MB_PROF_STEM,       // dense 3x3 conv
    QN_MB_PROF_POINTWISE,  // 1x1 convs: expand, project, head (GEMM)
    QN_MB_PROF_DEPTHWISE,  // depthwise k x k (incl. the kernel transforms)
    QN_MB_PROF_BN_ACT,     // batch norm + activation
    QN_MB_PROF_OTHER,      // residual adds, pooling, classifier
    QN_MB_PROF_COUNT,
};
struct qn_mb_prof {
    double fwd[QN_MB_PROF_COUNT], bwd[QN_MB_PROF_COUNT];
};
const char *qn_mb_prof_name(enum qn_mb_prof_kind k);
// Attaches (or, with NULL, detaches) a timing record to r.
void qn_mb_run_profile(struct qn_mb_run *r, struct qn_mb_prof *p);

enum qn_mb_mode {
    QN_MB_EVAL,       // BN with running statistics
    QN_MB_TRAIN,      // BN with batch statistics, saved for backward
    QN_MB_BN_RECAL,   // batch statistics, folded into the running stats as a cumulative average
};

// x: [B][H][W][in_c] normalized input. Returns the logits [B][n_classes] (inside r).
// recal_count: for QN_MB_BN_RECAL, the number of batches already folded in (0 resets).
const float *qn_mb_forward(const struct qn_mb_net *net, const struct qn_mb_genome *g, struct qn_mb_run *r,
                           const float *x, int B, enum qn_mb_mode mode, int recal_count);
// The same with quantization-aware training (QAT): every layer the policy quantizes has its
// input fake-quantized per tensor over the batch's [min, max] and its weights per output
// channel over max |w|, with straight-through gradients (src/quant.h; the quantizers `qnas
// eval` deploys with). pol NULL: FP32, as qn_mb_forward.
const float *qn_mb_forward_q(const struct qn_mb_net *net, const struct qn_mb_genome *g,
                             const struct qn_mb_policy *pol, struct qn_mb_run *r, const float *x, int B,
                             enum qn_mb_mode mode, int recal_count);
// True when the last forward met activations that are not finite: a fake-quantized input whose
// range is not (its fake quantization is then skipped), or in QN_MB_TRAIN / QN_MB_BN_RECAL batch
// statistics or updated running statistics that are not. Its outputs then mean nothing: weights
// too large for this subnet (a finite weight can still overflow), or a diverged training.
bool qn_mb_run_nonfinite(const struct qn_mb_run *r);
// Backward of the last QN_MB_TRAIN forward, from dlogits [B][n_classes]; gradients are
// accumulated (+=) into net->grad.
void qn_mb_backward(struct qn_mb_net *net, const struct qn_mb_genome *g, struct qn_mb_run *r,
                    const float *dlogits);
