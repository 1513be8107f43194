// Supernet training (sandwich rule + in-place distillation) and subnet evaluation.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "idx.h"
#include "supernet.h"

// Pixel normalization of Fashion-MNIST (mean and std of the training images, in [0, 1] units).
#define QN_FMNIST_MEAN 0.2860f
#define QN_FMNIST_STD 0.3530f

// u8 images [n][28][28] at indices idx[0..B) -> normalized floats [B][28][28][1]. With aug,
// a random crop of the image zero-padded by `pad` pixels and a horizontal flip with
// probability 1/2, drawn from rng.
void qn_batch_make(const struct qn_dataset *ds, const int *idx, int B, bool aug, int pad, uint64_t *rng,
                   float *x, uint8_t *labels);

// Batch-norm statistics of subnet g re-estimated on `images` training images (first images
// of a fixed shuffle of ds, as Once-for-All does with 2,000), in batches of up to run's size.
// pol: the subnet's precision (fake quantization, src/supernet.h qn_mb_forward_q), NULL = FP32.
// QN_ERR_FORMAT (no message) as soon as a batch's activations are not finite
// (qn_mb_run_nonfinite): the weights are out of range for this subnet, or training diverged;
// the statistics are then left meaningless.
enum qn_status qn_bn_recalibrate(struct qn_mb_net *net, const struct qn_mb_genome *g, const struct qn_mb_policy *pol,
                                 struct qn_mb_run *r, int max_batch, const struct qn_dataset *train, int images,
                                 uint64_t seed);

// Top-1 accuracy of subnet g (BN in eval mode) on the first `limit` images of ds (all if <= 0).
double qn_evaluate(const struct qn_mb_net *net, const struct qn_mb_genome *g, const struct qn_mb_policy *pol,
                   struct qn_mb_run *r, int max_batch, const struct qn_dataset *ds, int limit);

enum qn_optim { QN_OPT_SGD, QN_OPT_ADAMW };

struct qn_train_cfg {
    const char *out;        // checkpoint / final weights (safetensors)
    const char *data_dir;   // NULL: Debian's Fashion-MNIST
    int epochs, batch;
    enum qn_optim optim;
    float lr, weight_decay, momentum, smoothing, warmup_epochs;
    int n_random;           // random subnets per step besides the largest and the smallest
    bool resume;
    int stop_after;         // stop (with a checkpoint) after this many epochs in this run; 0 = none
    uint64_t seed;
    int threads;
    int limit_train;        // use only the first N training images (tests); 0 = all
    int limit_val;          // validate on the first N validation images; 0 = all 5,000
    const char *cmdline;    // recorded in the metadata
    // Quantization-aware fine-tuning with precision transfer (DAQU): start from `init` (FP32
    // supernet weights); each step the largest subnet in FP32 learns from the labels and
    // teaches the others, which run at random per-layer bit widths drawn from qat_bits
    // (a third of the time one width for every layer).
    bool qat;
    const char *init;       // weights to start from (NULL: He init)
    int qat_bits[4], n_qat_bits;
};

void qn_train_cfg_default(struct qn_train_cfg *c);
// Trains (or resumes) and writes c->out after every epoch. Returns a status with e filled.
enum qn_status qn_train(const struct qn_train_cfg *c, struct qn_error *e);
