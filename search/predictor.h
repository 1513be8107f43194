// Performance predictors for the search: "lightly trained" regressors from a few hundred
// measured configurations to one objective (accuracy, latency), as SimQ-NAS / DyNAS-T use them
// in place of measurement inside NSGA-II.
//
// Generic over feature vectors: the caller encodes a genome (one-hot per gene plus counts) as
// a row of d floats, X[n][d] row-major, contiguous; targets y[n] in the objective's own units
// (e.g. top-1 in [0, 1], latency in ms). Two models:
//   ridge  closed-form linear baseline on standardized features, lambda by k-fold CV;
//   MLP    d -> hidden (ReLU) -> 1, trained with the engine's FP32 GEMM and linear layers
//          (src/nn.h), AdamW, early stopping, optionally an ensemble of K seeds, by default
//          on top of a ridge base (the nets learn what the linear model leaves: "wide & deep").
// Both predict a whole batch of candidates at once, and serialize to JSON (cJSON) together
// with their held-out quality (Kendall tau-b, Spearman, MAE, RMSE).
//
// Deterministic: a fit depends only on the data, the config (seed included), the ISA level
// and the thread count. A row's prediction does not depend on the other rows of the batch.
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "error.h"

// --- quality metrics (pred vs truth over n held-out configurations) ---
//
// Values must be finite. Rank statistics return NaN when undefined (n < 2, or one side
// constant) and when their O(n) scratch cannot be allocated.

// Kendall tau-b, O(n log n) (Knight's merge-sort count), ties in either vector handled:
//   (C - D) / sqrt((n0 - Ta) (n0 - Tb)), n0 = n(n-1)/2, Ta / Tb = pairs tied in a / in b.
double qn_kendall_tau(const float *a, const float *b, int n);
// Spearman rho: Pearson correlation of the ranks, ties given their average rank.
double qn_spearman(const float *a, const float *b, int n);
double qn_mae(const float *a, const float *b, int n);   // mean |a - b|, 0 for n = 0
double qn_rmse(const float *a, const float *b, int n);  // sqrt(mean (a - b)^2), 0 for n = 0

struct qn_pred_quality {
    int n;               // held-out configurations the figures are over
    double kendall_tau;  // tau-b
    double spearman;
    double mae, rmse;    // in target units
};
void qn_pred_quality_eval(struct qn_pred_quality *q, const float *pred, const float *truth, int n);

// --- ridge regression ---
//
// Features standardized (z = (x - mu) / sd; constant features get sd = 1 and weight 0),
// intercept = mean(y), unpenalized; w solves (Z^T Z + lambda I) w = Z^T (y - mean y) by
// Cholesky in double. lambda is in the units of the standardized problem (like scikit-learn's
// alpha on standardized data); Z^T Z has diagonal n.
struct qn_ridge {
    int d;
    double *w;       // [d] weights of the standardized features
    double b;        // intercept, target units
    double *mu, *sd; // [d] feature mean and standard deviation (one allocation with w)
    double lambda;   // the one used (given, or chosen by CV)
    double cv_rmse;  // k-fold RMSE at lambda (target units), NaN when lambda was given
};

// Grid searched when lambda < 0, and the fold count (folds: row i in fold i % k).
#define QN_RIDGE_CV_FOLDS 5
extern const double qn_ridge_lambda_grid[];
extern const int qn_ridge_lambda_grid_n;

// Fits r (any previous contents are not freed: start from a zeroed struct or after
// qn_ridge_free). lambda < 0: chosen on the grid by QN_RIDGE_CV_FOLDS-fold CV (needs n >= 2 *
// folds); lambda == 0 is allowed but fails (QN_ERR_ARG) when Z^T Z is singular, as with
// one-hot features plus an intercept. Non-finite inputs -> QN_ERR_ARG.
enum qn_status qn_ridge_fit(struct qn_ridge *r, const float *X, int n, int d, const float *y,
                            double lambda, struct qn_error *e);
// y[i] = b + sum_j w[j] (X[i][j] - mu[j]) / sd[j], in double, rounded to float.
void qn_ridge_predict(const struct qn_ridge *r, const float *X, int n, float *y);
void qn_ridge_free(struct qn_ridge *r);  // safe on a zeroed or freed struct

// --- MLP regressor ---

#define QN_MLP_MAX_LAYERS 3    // linear layers: up to 2 hidden + output
#define QN_MLP_MAX_WIDTH 4096  // units per hidden layer
#define QN_MLP_MAX_D (1 << 20) // input features
#define QN_MLP_MAX_ENSEMBLE 64

struct qn_mlp_cfg {
    int hidden[2];       // units of hidden layers 1 and 2; hidden[1] = 0: one hidden layer
    int epochs;          // at most this many passes over the training part
    int batch;           // mini-batch rows (the last batch of an epoch may be smaller)
    float lr;            // AdamW step size (beta1 0.9, beta2 0.999, eps 1e-8, constant)
    float weight_decay;  // decoupled, weights only (not biases)
    int patience;        // early stopping: epochs without a better validation MSE; 0 = never
    float val_fraction;  // rows held out per member for early stopping, in [0, 0.5]; 0: none
                         // (then the last epoch's weights are kept)
    int ensemble;        // K members with seeds derived from seed; prediction = their mean
    bool ridge_base;     // fit ridge first (lambda by CV when n >= 2 * folds, else 1) and train
                         // the nets on its residuals; prediction = ridge + nets. On a few
                         // hundred samples the nets alone waste capacity on the additive part.
    uint64_t seed;
};

// hidden {64, 64}, 300 epochs, batch 32, lr 1e-3, weight decay 1.0 (strong: a few hundred
// samples, thousands of weights), patience 40, val_fraction 0.15, ensemble 1, ridge_base,
// seed 1.
void qn_mlp_cfg_default(struct qn_mlp_cfg *c);

// Parameters of member k: params + k * n_params, per linear layer l = 0 .. n_layers-1:
//   W_l [width[l+1]][width[l]] row-major ([out][in], as qn_nn_pw_* take it), then b_l [width[l+1]].
// width[0] = d, width[n_layers] = 1. After a fit the input and target standardization are
// folded into the first and last layers, so the network maps raw features to target units.
// y(x) = base_b + sum_j base_w[j] x[j] (when base_w) + mean_k net_k(x).
struct qn_mlp {
    int d;
    int n_layers;                       // 2 or 3
    int width[QN_MLP_MAX_LAYERS + 1];
    int ensemble;
    size_t n_params;                    // floats per member
    float *params;                      // [ensemble][n_params], one allocation
    double *base_w;                     // [d] ridge base on raw features, or NULL
    double base_b;                      // its intercept, target units
    double base_lambda;                 // the ridge lambda used
    struct qn_mlp_cfg cfg;              // what it was trained with (provenance)
    // Training report (zero for an untrained net)
    int epochs_run;                     // epochs over all members
    int best_epoch;                     // mean over members of the epoch kept (1-based)
    double val_rmse;                    // mean over members of the validation RMSE kept,
                                        // target units; NaN without a validation split. The
                                        // ridge base saw those rows: slightly optimistic.
};

// Allocates an untrained net (He init: W ~ N(0, 2 / fan_in), biases 0) for d inputs and the
// hidden widths of c, without a base; m is overwritten (not freed) first.
enum qn_status qn_mlp_init(struct qn_mlp *m, const struct qn_mlp_cfg *c, int d, struct qn_error *e);

// Trains on X[n][d], y[n] (c == NULL: defaults). Needs n >= 2 (n >= 4 for a validation split).
// Non-finite data or a bad config -> QN_ERR_ARG; m is left zeroed on error.
enum qn_status qn_mlp_fit(struct qn_mlp *m, const struct qn_mlp_cfg *c, const float *X, int n,
                          int d, const float *y, struct qn_error *e);

// y[i] = base(X[i]) + mean over members of net_k(X[i]) for n rows at once: batched GEMMs
// (fused bias + ReLU) on chunks of 256 rows, on qn_threads() threads. Scratch is
// thread-local, kept for the thread's life.
void qn_mlp_predict(const struct qn_mlp *m, const float *X, int n, float *y);
void qn_mlp_free(struct qn_mlp *m);  // safe on a zeroed or freed struct

// One training step's maths, exposed for the gradient check: the MSE
// (1/B) sum_i (net_k(X[i]) - y[i])^2 of member k over B rows, and its gradient d loss / d
// params written (overwritten) into grad [n_params], same layout as the parameters. The base
// is not part of it.
// scratch: qn_mlp_grad_scratch(m, B) floats.
size_t qn_mlp_grad_scratch(const struct qn_mlp *m, int B);
float qn_mlp_loss_grad(const struct qn_mlp *m, int k, const float *X, const float *y, int B,
                       float *grad, float *scratch);

// --- JSON ---
//
// {"kind": "ridge", "d", "lambda", "cv_rmse", "intercept", "w": [d], "mu": [d], "sd": [d],
//  "quality": {...}}
// {"kind": "mlp", "d", "layers": [d, h1, (h2,) 1], "activation": "relu", "ensemble",
//  "members": [[n_params] x ensemble], "base": null | {"lambda", "intercept", "w": [d]},
//  "train": {...}, "cfg": {...}, "quality": {...}}
// Numbers are printed so they read back to the same double (float), so a loaded predictor
// predicts bit for bit what the saved one did: they are cJSON raw items (shortest exact
// digits), so print the tree (or add it to a larger document and print that) and parse the
// text to read values back; cJSON_IsNumber is false on the unprinted tree. q may be NULL
// (no "quality" member). The writers return NULL when out of memory.
// A number as a raw cJSON item with the shortest digits that read back to the same double
// (cJSON's own printing accepts 15 digits within a relative epsilon); for any writer whose
// numbers must round-trip exactly. NULL when out of memory.
cJSON *qn_json_exact(double v);
cJSON *qn_ridge_to_json(const struct qn_ridge *r, const struct qn_pred_quality *q);
cJSON *qn_mlp_to_json(const struct qn_mlp *m, const struct qn_pred_quality *q);
cJSON *qn_pred_quality_to_json(const struct qn_pred_quality *q);

// Readers: check kind, every type, shape and value (finite, in range) and fail with
// QN_ERR_FORMAT and one message starting with `what` (e.g. "predictors.json: accuracy").
// j may be NULL (a failed parse). q may be NULL; when given it receives the stored quality,
// or n = 0 and NaN figures if there is none. On error the output is left zeroed.
enum qn_status qn_ridge_from_json(struct qn_ridge *r, struct qn_pred_quality *q, const cJSON *j,
                                  const char *what, struct qn_error *e);
enum qn_status qn_mlp_from_json(struct qn_mlp *m, struct qn_pred_quality *q, const cJSON *j,
                                const char *what, struct qn_error *e);
enum qn_status qn_pred_quality_from_json(struct qn_pred_quality *q, const cJSON *j, const char *what,
                                         struct qn_error *e);
