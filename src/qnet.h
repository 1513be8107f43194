// A deployable subnet: one genome at one quantization policy, built straight from the supernet's
// shared FP32 weights:
//   slice -> re-estimate batch norm (2,000 training images, the subnet run at the policy's
//   precision with fake quantization, as QAT trains it) -> fold batch norm into the convs
//   -> calibrate the input range of every quantized layer on a small training subset
//   -> quantize weights per output channel -> pack -> run.
// FP32 layers run on the FP32 conv/GEMM kernels, quantized layers on the integer kernels (u8
// activations x s8 weights of 2..8 bits -> s32, requantized in the fused epilogue). Nothing is
// simulated in float on that path.
//
// Dataflow (per image, NHWC): block outputs are FP32 (the identity shortcut adds in FP32 in the
// project conv's epilogue); the expand -> depthwise -> project chain inside a block stays in u8
// when both ends are quantized (requantized straight by the producer's epilogue to the
// consumer's calibrated input scale). Every quantized layer therefore sees exactly
//   q_in = clamp(rint(x / s_in) + z_in, 0, 2^a - 1)
// of the FP32-domain value x its producer computed.
//
// The fake-quant path (qn_qnet_forward_fake) runs the same network in float with the same
// quantized values: inputs y = s (q - z), weights w = s_w q_w, FP32 convs. It differs from the
// integer path only by float rounding (and, through it, by an occasional one-step difference at
// a requantization boundary); tests bound the difference.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "conv.h"
#include "error.h"
#include "idx.h"
#include "mbconv-policy.h"
#include "quant.h"
#include "supernet.h"

struct qn_qnet_cfg {
    enum qn_calib calib;   // activation ranges
    enum qn_calib wcalib;  // weight clipping, per output channel
    float percentile;      // for QN_CALIB_PERCENTILE (e.g. 99.99)
    bool symmetric_act;    // symmetric activation ranges (zero point at mid-range)
    int bn_images;         // batch-norm re-estimation images (Once-for-All: 2,000)
    int calib_images;      // activation calibration images
    uint64_t seed;         // which training images (a fixed shuffle per seed)
    int max_batch;         // the largest batch qn_qnet_forward will be given
};
void qn_qnet_cfg_default(struct qn_qnet_cfg *c);

struct qn_qnet_layer {
    struct qn_mb_layer info;
    struct qn_mb_qlayer q;        // bits; wbits == 0: FP32 layer
    enum qn_act act;              // fused after the conv (project, classifier: none)
    float *w;                     // folded FP32 weights: conv [cout][k][k][cin], dw [k][k][c], fc [cout][cin]
    float *bias;                  // [cout] folded
    int8_t *wq;                   // quantized weights, same layout as w (NULL for FP32 layers)
    float *wscale;                // [cout] per-channel weight scale
    float *wfake;                 // wq * wscale (the fake-quant path's weights)
    struct qn_act_qparams in;     // input quantization (calibrated)
    struct qn_act_observer obs;   // input distribution during calibration
    struct qn_f32_conv fconv;     // FP32 conv on w (not used by the classifier)
    struct qn_f32_conv fconv_fake;  // FP32 conv on wfake
    struct qn_qs8_conv qconv;     // integer conv (quantized conv layers)
    struct qn_qgemm_weights qfc;  // integer classifier
    double nsr;                   // output noise-to-signal ratio vs FP32 (qn_qnet_nsr), -1 unset
    double nsr_num, nsr_den;      // its running sums
};

struct qn_qnet {
    const struct qn_mb_space *space;
    struct qn_mb_genome genome;
    struct qn_mb_policy policy;
    int n_layers;
    struct qn_qnet_layer layers[QN_MB_MAX_LAYERS];
    struct qn_qnet_cfg cfg;
    int max_batch;
    float *arena;                 // activations, sized for max_batch
    float *xa, *xb, *ef, *df, *pool, *tmpf, *tmpg;
    uint8_t *xq, *eq, *dq;
    double *prof;                 // [n_layers] seconds added per layer by each forward, or NULL
    int b1_threads;               // most threads a layer of a batch-1 qn_qnet_forward runs on (tuned)
    int b1_tuned_for;             // the qn_threads() it was tuned at; 0: not yet
    uint8_t b1_layer_threads[QN_MB_MAX_LAYERS];  // each layer's threads there (1 or b1_tuned_for)
    bool b1_plan;                 // set while a forward follows b1_layer_threads
};

// Builds the subnet. net's batch-norm running statistics are overwritten (re-estimated for g).
// train: training images for BN re-estimation and calibration. QN_ERR_ARG for a policy that
// does not fit g or a percentile outside (50, 100], QN_ERR_NOMEM; QN_ERR_FORMAT, with a message
// naming net->source, when the weights are out of range for g (activations, batch-norm
// statistics or folded weights not finite: the file's values are finite, their products not).
enum qn_status qn_qnet_build(struct qn_qnet *q, struct qn_mb_net *net, const struct qn_mb_genome *g,
                             const struct qn_mb_policy *p, const struct qn_dataset *train,
                             const struct qn_qnet_cfg *cfg, struct qn_error *e);
void qn_qnet_free(struct qn_qnet *q);
// Changes the precision of layer i in place (re-quantizes its weights from the folded FP32
// ones, input range from the calibration kept since the build). The batch-norm statistics stay
// those re-estimated at the built policy, so the result is close to, not the same as, a build
// at the new policy. QN_ERR_ARG for bad bits.
enum qn_status qn_qnet_set_layer(struct qn_qnet *q, int i, struct qn_mb_qlayer ql);

// x: [n][28][28][1] normalized images, n <= max_batch; logits [n][n_classes]. At batch 1 with
// more than one thread each layer runs on qn_threads() threads or on one, as ran the network
// faster here: the first such call times the choices (~150 forwards), later ones reuse them
// (q->b1_layer_threads) until qn_threads() or a layer's precision changes. The logits are the
// same.
void qn_qnet_forward(struct qn_qnet *q, const float *x, int n, float *logits);
// The same network in float with fake-quantized weights and inputs.
void qn_qnet_forward_fake(struct qn_qnet *q, const float *x, int n, float *logits);
// The FP32 folded network (every layer FP32, whatever the policy).
void qn_qnet_forward_fp32(struct qn_qnet *q, const float *x, int n, float *logits);

// Top-1 on the first `limit` images of ds (all if <= 0) with the integer path.
double qn_qnet_accuracy(struct qn_qnet *q, const struct qn_dataset *ds, int limit);
// The same, and in half[0] / half[1] the top-1 on those images of even / odd index: two
// independent measurements of half the size, whose agreement across configurations tells how
// much of a difference in accuracy is the network's and how much the images'.
double qn_qnet_accuracy_halves(struct qn_qnet *q, const struct qn_dataset *ds, int limit, double half[2]);

// Per-layer NSR (QA-BWNAS): for each quantized layer, the output of that layer alone quantized
// (its input fake-quantized, its weights quantized) against its FP32 output, both fed the FP32
// network's activations, as sum (y_q - y)^2 / sum y^2 over `images` images of ds. Fills
// layers[i].nsr (-1 for FP32 layers).
void qn_qnet_nsr(struct qn_qnet *q, const struct qn_dataset *ds, int images);

// Latency of qn_qnet_forward at batch n (<= max_batch): `reps` timed runs after warm-up, in ms.
struct qn_latency {
    double median_ms, min_ms, max_ms;
    int reps;
};
struct qn_latency qn_qnet_latency(struct qn_qnet *q, int n, int reps);
// Per-layer latency of qn_qnet_forward at batch n: ms[i] is the median over `reps` runs of
// the time spent in layer i (conv, its input quantization, its fused epilogue; the head
// includes the global pooling), in ms. The layers' medians add up to about the median total.
void qn_qnet_latency_layers(struct qn_qnet *q, int n, int reps, double *ms);

// Median of t[0 .. n) (n >= 1), sorting t in place.
double qn_median(double *t, int n);

// Model size at the real bit widths (qn_mb_policy_size_bytes).
uint64_t qn_qnet_size_bytes(const struct qn_qnet *q);

// Completes a qnet assembled from stored parts (src/qnas-model.c) the way qn_qnet_build ends:
// space, genome, policy, cfg, max_batch, n_layers and per layer info, q, bias and (FP32
// layers) w, (quantized layers) wq, wscale and in must be set, buffers from qn_alloc, owned
// by q. Sets each layer's activation, computes wfake = wq * wscale (and, where w is NULL, w =
// wfake: qn_qnet_forward_fp32 then runs the dequantized weights), builds the kernels and the
// activation buffers. The layers have no calibration data (qn_qnet_set_layer cannot re-derive
// input ranges). On error (QN_ERR_NOMEM, QN_ERR_ARG from a kernel) q is freed.
enum qn_status qn_qnet_assemble(struct qn_qnet *q);
