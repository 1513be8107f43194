// The joint genome of `qnas search`: an MBConv subnet and its per-layer weight bit widths in
// one integer vector (SimQ-NAS), the features the predictors read, and the per-layer latency
// look-up table (QA-BWNAS-style: measured per layer shape, summed into a network estimate).
//
// Vector layout for a space with S stages, depth at most D, so S * D block slots:
//   [0, S)                      depth of stage i, as an index into space->depths
//   [S, S + S*D)                kernel of slot (i, b), index into space->kernels
//   [S + S*D, S + 2*S*D)        expansion of slot (i, b), index into space->expands
//   then 3 + 3*S*D bit genes    weight bits of the stem, of each slot's expand / dw / project,
//                               of the head and of the classifier: index into bits[]
// Genes of slots beyond a stage's depth are carried but unused (the phenotype ignores them).
// A bit choice b > 0 is W<b>A8, b = 0 is FP32.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "mbconv-policy.h"
#include "nsga2.h"

#define QN_QG_MAX_BITS 4
#define QN_QG_MAX_VARS (QN_MB_MAX_STAGES * (1 + 2 * QN_MB_MAX_DEPTH) + QN_MB_MAX_LAYERS)

struct qn_qgenome {
    const struct qn_mb_space *s;
    int n_bits, bits[QN_QG_MAX_BITS];  // weight-bit choices, ascending; 0 = FP32
    int slots;                         // S * D
    int n_var;
    struct qn_gene genes[QN_QG_MAX_VARS];
    int d;                             // feature count (qn_qgenome_features)
};

// bits: distinct values in {0} u [2, 8]. QN_ERR_ARG otherwise.
enum qn_status qn_qgenome_init(struct qn_qgenome *q, const struct qn_mb_space *s, const int *bits, int n_bits,
                               struct qn_error *e);
// Restricts genes: the architecture to the largest subnet (fix_arch) and / or every bit gene
// to the choice `fixed_bits` (>= 0: a value in bits[]), for the baseline searches.
void qn_qgenome_restrict(struct qn_qgenome *q, bool fix_arch, int fixed_bits);

void qn_qgenome_decode(const struct qn_qgenome *q, const double *x, struct qn_mb_genome *g, struct qn_mb_policy *p);
// The inverse for valid (g, p) whose bits are all in bits[] (unused genes get index 0);
// false when a layer's bits are not a choice.
bool qn_qgenome_encode(const struct qn_qgenome *q, const struct qn_mb_genome *g, const struct qn_mb_policy *p,
                       double *x);

// Predictor features, d floats: one-hot depth per stage; per slot one-hot kernel and
// expansion (zeros when the slot is unused); per layer slot one-hot bits (zeros when unused);
// then MACs (M), parameters (x 1e5), size (x 100 KB), blocks, and per bit choice the fraction
// of the weights at it.
void qn_qgenome_features(const struct qn_qgenome *q, const struct qn_mb_genome *g, const struct qn_mb_policy *p,
                         float *f);

// --- latency LUT ---

// A layer's key: kind, shape, stride, kernel, resolution and whether it runs on the integer
// kernels (the weight bits 2..8 share one s8-container kernel per shape, so they share a key).
uint64_t qn_lut_key(const struct qn_mb_layer *L, bool integer);

struct qn_lut {
    int n, cap;
    uint64_t *key;  // sorted ascending
    double *ms;     // batch-1 latency of the layer, ms
};
// Sets (or replaces) an entry; QN_ERR_NOMEM.
enum qn_status qn_lut_set(struct qn_lut *t, uint64_t key, double ms);
// The entry, or NaN.
double qn_lut_get(const struct qn_lut *t, uint64_t key);
// Sum over the subnet's layers; *missing (may be NULL) counts layers without an entry (they
// add nothing).
double qn_lut_estimate(const struct qn_lut *t, const struct qn_mb_space *s, const struct qn_mb_genome *g,
                       const struct qn_mb_policy *p, int *missing);
void qn_lut_free(struct qn_lut *t);
