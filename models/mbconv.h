// The elastic MBConv supernet (Once-for-All / MobileNetV2 style) and its search space.
//
//   stem: 3x3 conv (stride s) -> BN -> hardswish
//   stages: inverted-residual blocks, each 1x1 expand -> BN -> ReLU6 -> k x k depthwise
//           (stride on the stage's first block) -> BN -> ReLU6 -> 1x1 project -> BN
//           (+ identity when shapes match)
//   head: 1x1 conv -> BN -> hardswish -> global average pool -> linear classifier
//
// Elastic dimensions: depth per stage (the first d blocks), kernel per block (the centred
// k x k window of the k_max x k_max weights), expansion per block (the leading c_in * e
// channels of the c_in * e_max expanded channels). Widths between stages are fixed.
//
// Genome text form, one group of blocks per stage separated by '/', blocks by ',', each
// block `k<kernel>e<expansion>` (depth is the number of blocks listed), e.g.
//   k7e6,k5e4/k3e3,k3e3,k5e6/...
// Shorthands: `max`, `min`, `random:SEED`.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gemm.h"

#define QN_MB_MAX_STAGES 6
#define QN_MB_MAX_DEPTH 4
#define QN_MB_MAX_CHOICES 4

struct qn_mb_space {
    const char *name;
    int in_h, in_w, in_c, n_classes;
    int stem_c, stem_k, stem_stride;
    int n_stages;
    int stage_c[QN_MB_MAX_STAGES];
    int stage_stride[QN_MB_MAX_STAGES];
    int head_c;
    int n_depths, depths[QN_MB_MAX_CHOICES];     // ascending
    int n_kernels, kernels[QN_MB_MAX_CHOICES];   // ascending, odd
    int n_expands, expands[QN_MB_MAX_CHOICES];   // ascending
    int act_block;  // enum qn_act inside blocks (ReLU6)
    int act_outer;  // enum qn_act after the stem and head convs (hardswish)
};

// The space trained on Fashion-MNIST ("mbconv-fmnist").
const struct qn_mb_space *qn_mb_space_fmnist(void);
// Looks a space up by name; NULL if unknown.
const struct qn_mb_space *qn_mb_space_find(const char *name);

static inline int qn_mb_kmax(const struct qn_mb_space *s) { return s->kernels[s->n_kernels - 1]; }
static inline int qn_mb_emax(const struct qn_mb_space *s) { return s->expands[s->n_expands - 1]; }
static inline int qn_mb_dmax(const struct qn_mb_space *s) { return s->depths[s->n_depths - 1]; }

// Input channels of block b of stage i (the previous stage's width, or the stem's).
static inline int qn_mb_block_cin(const struct qn_mb_space *s, int stage, int block) {
    return block > 0 ? s->stage_c[stage] : (stage > 0 ? s->stage_c[stage - 1] : s->stem_c);
}

// A subnet. Genes of blocks beyond a stage's depth are 0 (canonical form), so two genomes
// describe the same subnet exactly when their bytes are equal.
struct qn_mb_genome {
    uint8_t depth[QN_MB_MAX_STAGES];
    uint8_t kernel[QN_MB_MAX_STAGES][QN_MB_MAX_DEPTH];
    uint8_t expand[QN_MB_MAX_STAGES][QN_MB_MAX_DEPTH];
};

void qn_mb_genome_max(const struct qn_mb_space *s, struct qn_mb_genome *g);
void qn_mb_genome_min(const struct qn_mb_space *s, struct qn_mb_genome *g);
// Uniform over the choices of every gene, from a 64-bit seed (same seed, same genome).
void qn_mb_genome_random(const struct qn_mb_space *s, uint64_t seed, struct qn_mb_genome *g);
// Same, drawing from a caller's RNG state (xorshift64*), for training loops.
void qn_mb_genome_sample(const struct qn_mb_space *s, uint64_t *rng, struct qn_mb_genome *g);

// Parses text form or shorthand. Errors name the bad gene, e.g.
// "genome 'k4e6,...': stage 1 block 1: kernel 4 is not one of 3, 5, 7".
enum qn_status qn_mb_genome_parse(const struct qn_mb_space *s, const char *text,
                                  struct qn_mb_genome *g, struct qn_error *e);
// Writes the text form; returns the length (truncated like snprintf).
int qn_mb_genome_format(const struct qn_mb_space *s, const struct qn_mb_genome *g, char *out,
                        size_t cap);
// Checks every gene against the space (for genomes built in code).
enum qn_status qn_mb_genome_check(const struct qn_mb_space *s, const struct qn_mb_genome *g,
                                  struct qn_error *e);

// Exact counts for one image: multiply-accumulates of every conv and the classifier, and
// parameters (conv and classifier weights, biases, batch-norm scale and shift).
struct qn_mb_cost {
    uint64_t macs;
    uint64_t params;
};
void qn_mb_genome_cost(const struct qn_mb_space *s, const struct qn_mb_genome *g,
                       struct qn_mb_cost *c);
