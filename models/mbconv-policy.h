// The layers of an MBConv subnet and its per-layer quantization policy.
//
// A subnet (space + genome) is a list of layers in network order: the stem conv, then per
// block its 1x1 expand, k x k depthwise and 1x1 project, then the 1x1 head conv and the
// classifier. These are the units that get quantized, counted and timed; shapes follow
// qn_mb_forward (src/supernet.c) exactly, and the per-layer MACs add up to qn_mb_genome_cost.
//
// A policy gives every layer a weight and an activation bit width (2..8 each, activations
// being the layer's input), or FP32 (weights and input activations in float).
//
// Policy text form (printed in every report, accepted by every command):
//   fp32               every layer FP32
//   int8               every layer W8A8
//   int4               every layer W4A8
//   w<B>a<B>           every layer the same, e.g. w6a8
//   mixed:G/G/.../G    one group per unit, in network order: the stem (1 entry), each block
//                      (3 entries: expand,dw,project), the head and classifier (2 entries),
//                      e.g. mixed:8/8,4,8/6,6,8/.../8,8
// Entries: `<w>` weight bits w with 8-bit activations, `<w>a<a>` explicit activation bits,
// `f` FP32. Any form may be followed by overrides `;<layer name>=<entry>`, applied in order,
// e.g. int8;s2.b1.dw=4;classifier=f (layer names as in qn_mb_layer.name).
// The canonical text (qn_mb_policy_format) is the shorthand when every layer is the same,
// else mixed: with the shortest entries; parse(format(p)) == p.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "mbconv.h"

// --- layers ---

enum qn_mb_layer_kind {
    QN_MB_L_STEM,
    QN_MB_L_EXPAND,
    QN_MB_L_DW,
    QN_MB_L_PROJECT,
    QN_MB_L_HEAD,
    QN_MB_L_CLASSIFIER,
};

// stem, head, classifier + 3 per block
#define QN_MB_MAX_LAYERS (3 + 3 * QN_MB_MAX_STAGES * QN_MB_MAX_DEPTH)

struct qn_mb_layer {
    enum qn_mb_layer_kind kind;
    int stage, block;          // 0-based; -1 for stem / head / classifier
    int cin, cout, k, stride;  // dw: cin == cout == expanded channels; 1x1 convs and classifier: k = 1
    int h, w, h_out, w_out;    // input / output resolution, (h - 1) / stride + 1 (classifier 1x1)
    bool residual;             // project layers whose block adds the identity shortcut
    uint64_t weights;          // weight elements of the subnet's slice (no bias, no BN)
    uint64_t macs;             // per image
    char name[32];             // "stem", "s2.b1.expand", "s2.b1.dw", "s2.b1.project", "head",
                               // "classifier" (stage and block 1-based, like the supernet tensors)
};

// Fills out[0 .. n) in network order and returns n = 3 + 3 * (number of blocks) <=
// QN_MB_MAX_LAYERS. The genome must be valid (qn_mb_genome_check).
int qn_mb_layers(const struct qn_mb_space *s, const struct qn_mb_genome *g, struct qn_mb_layer *out);

// --- quantization policies ---

struct qn_mb_qlayer {
    uint8_t wbits, abits;  // each 2..8; 0, 0 = FP32
};

struct qn_mb_policy {
    int n;  // number of layers of the genome the policy belongs to
    struct qn_mb_qlayer l[QN_MB_MAX_LAYERS];  // in qn_mb_layers order
};

// Parses the text form. On error *p is zeroed and e names the bad part, e.g.
//   "policy 'mixed:8/...': s1.b2.dw: weight bits 9 outside 2..8"
//   "policy '...': 12 groups for this genome, expected 13 (stem, 11 blocks, head)"
//   "policy '...': group 3 (s1.b2) has 2 entries, expected 3 (expand, dw, project)"
//   "policy '...': unknown layer 's9.b1.dw'"
// The genome is checked too (its error is returned as is).
enum qn_status qn_mb_policy_parse(const struct qn_mb_space *s, const struct qn_mb_genome *g, const char *text,
                                  struct qn_mb_policy *p, struct qn_error *e);
// Writes the canonical text; returns its length (truncated like snprintf). p must be valid
// for g (qn_mb_policy_check).
int qn_mb_policy_format(const struct qn_mb_space *s, const struct qn_mb_genome *g, const struct qn_mb_policy *p,
                        char *out, size_t cap);
// Checks a policy built in code: p->n matches the genome, every layer FP32 (0, 0) or both
// widths in 2..8.
enum qn_status qn_mb_policy_check(const struct qn_mb_space *s, const struct qn_mb_genome *g,
                                  const struct qn_mb_policy *p, struct qn_error *e);

// Every layer W<wbits>A<abits>; wbits 0 = every layer FP32 (abits ignored), else both in 2..8.
void qn_mb_policy_uniform(const struct qn_mb_space *s, const struct qn_mb_genome *g, int wbits, int abits,
                          struct qn_mb_policy *p);
// Each layer's weight bits drawn uniformly from wbits_choices[0 .. n_choices) (a choice 0
// means FP32), activations 8 bits; rng is a xorshift64* state as in qn_mb_genome_sample.
void qn_mb_policy_random(const struct qn_mb_space *s, const struct qn_mb_genome *g, const int *wbits_choices,
                         int n_choices, uint64_t *rng, struct qn_mb_policy *p);

// Model size in bytes at the real bit widths, exact (the "model size" objective). Per layer,
// with cout the layer's output channels (expanded channels for dw, n_classes for the
// classifier) and batch norm folded into the conv before it:
//   quantized: ceil(weights * wbits / 8)   packed weights (each layer packed on its own)
//              + 4 * cout                  per-channel FP32 weight scale
//              + 4 * cout                  FP32 bias (folded BN shift; the classifier's own bias)
//              + 8                         input activation scale and zero point
//   FP32:      4 * weights + 4 * cout      weights and bias
// The all-FP32 size equals the "size (FP32, batch norm folded)" of `qnas eval`.
// p must be valid for g.
uint64_t qn_mb_policy_size_bytes(const struct qn_mb_space *s, const struct qn_mb_genome *g,
                                 const struct qn_mb_policy *p);
