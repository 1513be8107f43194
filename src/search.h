// `qnas search`: NSGA-II over the architecture and the per-layer quantization policy of an
// elastic MBConv supernet together (SimQ-NAS), guided by MLP predictors, with latency measured
// on this machine and exact model size; the final front is measured for real.
//
// Pipeline (the iterative loop DyNAS-T calls LINAS):
//   0. a per-layer latency LUT for every layer shape x kernel x expansion x {FP32, integer}
//      (search/latency-lut.h), and the baselines: largest subnet FP32 and homogeneous INT8;
//   1. N configurations sampled stratified over model size, each measured for real:
//      validation top-1 from the shared weights (BN re-estimation, calibration), batch-1
//      latency with qnas's kernels, exact size;
//   2. predictors (MLP and ridge) trained on everything measured so far; NSGA-II on them;
//   3. up to `per_iter` new configurations of the predicted front measured; repeat I times;
//   4. architecture-only search at INT8 and quantization-only search on the largest
//      architecture, the same way (predictors, NSGA-II restricted, front measured);
//   5. the measured front (validation accuracy, latency, size), test-split top-1 for each of
//      its points and the baselines; reports (search-report.c).
// Every measurement is appended to DIR/evaluated.csv as it is made; with resume, rows found
// there are not measured again, so an interrupted search continues and ends the same.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "mbconv-policy.h"
#include "predictor.h"

#define QN_SEARCH_MAX_BITS 4
// The final timing of the baselines and front points (search.c, verify_latencies): this many
// rounds, this many seconds apart, each point keeping its fastest round.
#define QN_SEARCH_VERIFY_ROUNDS 9
#define QN_SEARCH_VERIFY_GAP_S 0.1

enum qn_search_obj { QN_OBJ_ACC, QN_OBJ_LATENCY, QN_OBJ_SIZE };

struct qn_search_cfg {
    const char *weights;       // supernet safetensors
    const char *data;          // MNIST-format folder, NULL: Debian's Fashion-MNIST
    const char *out;           // results folder (created)
    const char *latency_table; // NULL, or a file of measured latencies to reuse / extend
    bool resume;
    int samples;               // N: initial configurations
    int population, generations, iterations;
    int per_iter;              // configurations measured per iteration (and per baseline search)
    int n_obj;
    enum qn_search_obj obj[3]; // accuracy always included
    double latency_budget_ms;  // <= 0: none
    double size_budget_kb;     // <= 0: none (1 KB = 1000 bytes)
    int n_bits;
    int bits[QN_SEARCH_MAX_BITS];  // weight-bit choices per layer (0 = FP32), activations 8 bits
    int val_images;            // validation images per accuracy (<= 5,000)
    int test_images;           // test images for the final points (<= 10,000)
    int bn_images, calib_images;
    int latency_reps;          // batch-1 runs per latency (median)
    int latency_threads;       // threads the latencies are measured on (the rest of the search
                               // runs on qn_threads()); 0: qn_threads()
    int max_front;             // at most this many final front points get test accuracy
    uint64_t seed;
    bool progress;             // progress bar on stderr
};
void qn_search_cfg_default(struct qn_search_cfg *c);

// A figure as text with dec decimals and a suffix, or "-" where it is not a number (a
// statistic the run had too few points for): the reports' cells and the CLI's summary. The
// struct lives to the end of the full expression that uses .s.
struct qn_fig {
    char s[48];
};
struct qn_fig qn_fig(double v, int dec, const char *suffix);

// One measured configuration.
struct qn_search_point {
    int id;                    // row in evaluated.csv
    char source[16];           // "fp32-max", "int8-max", "sample", "iter1".., "arch-int8", "quant-max"
    struct qn_mb_genome g;
    struct qn_mb_policy p;
    char genome[256], policy[640];
    double val_acc;            // top-1 on the first val_images validation images
    double val_half[2];        // the same on its images of even / odd index (NaN from an older cache)
    double test_acc;           // top-1 on test_images test images; NaN when not measured
    double latency_ms;         // batch 1, median of latency_reps, this machine
    double lut_ms;             // the LUT's estimate
    double pred_acc, pred_latency_ms;  // what the predictors said when NSGA-II chose it; NaN for samples
    uint64_t size_bytes, macs, params;
    double measure_s;          // seconds the measurement took
    bool front;                // on the final measured front (joint search)
};

// How well the measured validation accuracy ranks configurations by their accuracy on new
// images: its two halves (images of even and odd index) are two independent measurements of
// the same networks. tau_halves and r_halves: Kendall tau and Pearson r between the halves
// over the n configurations of a set. tau_true: the Kendall tau between one full measurement
// and the configurations' accuracy on unlimited images, (2/pi) asin(sqrt(rho)), rho =
// 2 r / (1 + r) the full measurement's reliability (Spearman-Brown; normal approximation).
// A predictor scored against the measurement can beat tau_true only by learning the
// particular images' errors (similar subnets share them), which does not carry over to the
// test split. NaN with fewer than 3 configurations.
struct qn_acc_noise {
    int n;
    double tau_halves, r_halves, tau_true;
};

struct qn_search_result {
    struct qn_search_cfg cfg;
    int threads;
    int latency_threads;          // what cfg.latency_threads resolved to
    char space[32];
    int n;                        // measured configurations
    struct qn_search_point *pts;  // [n]
    int fp32_base, int8_base;     // indices into pts
    int n_front, *front;          // final measured front of the joint search, by latency
    int n_arch, *arch_front;      // measured front of the architecture-only search at INT8
    int n_quant, *quant_front;    // measured front of the quantization-only search (largest arch)
    const char *quant_skipped;    // why that search did not run (a single weight width), or NULL
    // Predictor quality on held-out configurations: every point the searches proposed, scored
    // by the predictors fitted before it was measured; and 5-fold cross-validation over the
    // random samples (configurations not chosen by the search). The LUT against every
    // measurement.
    struct qn_pred_quality acc_mlp, acc_ridge, lat_mlp, lat_ridge;
    // The latency models' cross-validation is fitted and scored on the final latencies (the
    // lower of the first timing and the sweep after the search); *_first: the same on the
    // first timings alone.
    struct qn_pred_quality acc_mlp_cv, acc_ridge_cv, lat_mlp_cv, lat_ridge_cv;
    struct qn_pred_quality lat_mlp_cv_first, lat_ridge_cv_first;
    struct qn_acc_noise acc_noise, acc_noise_cv;  // over the same two held-out sets
    double lut_tau, lut_mae_ms;
    double lut_tau_pass[2];  // each of the LUT's two passes alone (NAN: a pass lacks layers)
    int lut_entries;
    // NSGA-II on the predictors: candidates evaluated and seconds, over all its runs.
    long long cand_evaluated;
    double cand_seconds;
    int best;                     // front point with the best latency at test accuracy >= INT8's, or -1
    double seconds;               // wall time of the whole search
};

// Runs the search and writes DIR. QN_ERR_ARG (e filled) for bad settings, QN_ERR_FORMAT /
// QN_ERR_IO for bad files; r is filled on success (free with qn_search_result_free). On a
// failure of a fresh search (DIR new, empty, or without a search and no resume) the reports it
// wrote in DIR are removed, and so are search.json, the cache and the latencies unless
// measurements were made and the settings were not refused (then --resume continues; e says
// so); DIR goes when that leaves it empty.
enum qn_status qn_search_run(const struct qn_search_cfg *c, struct qn_search_result *r, struct qn_error *e);
void qn_search_result_free(struct qn_search_result *r);

// Writes pareto.csv, pareto.json, pareto.svg, report.md and summary.json into dir
// (src/search-report.c), each atomically.
enum qn_status qn_search_write_reports(const struct qn_search_result *r, const char *dir, struct qn_error *e);
