// Quantizers for subnets of a supernet: activation calibration (observers over calibration
// batches), per-channel weight quantization, the float fake-quant path used by
// quantization-aware training (forward and straight-through backward), and the
// noise-to-signal ratio QA-BWNAS uses as its block loss and LUT entry.
//
// Conventions shared with the integer path (src/ops.h, src/gemm.h):
//   activations  real = scale * (q - zp), q in [0, qmax], qmax = 2^bits - 1, u8 containers;
//                quantize q = clamp(rint(x * (1 / scale)) + zp, 0, qmax), 1 / scale computed
//                once in float, rint rounding half to even (qn_qu8_quantize).
//   weights      symmetric per output channel, restricted range: lim = 2^(bits-1) - 1,
//                Q = clamp(rint(W / scale[n]), -lim, lim) (a division, as
//                qn_qs8_weights_quantize does), real w = scale[n] * Q.
// bits is 2..8 everywhere. Inputs must be finite unless a function says otherwise.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "ops.h"  // struct qn_qu8_params

// --- calibration methods ---

enum qn_calib {
    QN_CALIB_MINMAX = 0,   // the observed range
    QN_CALIB_PERCENTILE,   // clip the tails at a percentile
    QN_CALIB_MSE,          // clip where the expected quantization MSE is smallest
    QN_CALIB_COUNT,
};

// "minmax", "percentile", "mse" ("invalid" out of range).
const char *qn_calib_name(enum qn_calib c);
// Exact, case-sensitive inverse of qn_calib_name. false (and *c untouched) for anything else,
// including NULL.
bool qn_calib_parse(const char *s, enum qn_calib *c);

// --- activation parameters (per tensor) ---

// real = scale * (q - zp), q in [0, qmax]. Asymmetric: zp in [0, qmax]. Symmetric: offset
// binary in the u8 container, zp = 2^(bits-1), so q - zp covers [-2^(bits-1), 2^(bits-1) - 1].
struct qn_act_qparams {
    float scale;   // > 0, >= FLT_MIN
    int32_t zp;
    int32_t qmax;  // 2^bits - 1
};

// Parameters covering [lo, hi] (lo <= hi, finite) at `bits`:
//   asymmetric: the range is widened to contain 0, scale = (hi - lo) / qmax,
//               zp = clamp(rint(-lo / scale), 0, qmax), 0 is exact (q = zp). At 8 bits this is
//               bit-identical to qn_qu8_params_from_range(lo, hi).
//   symmetric:  a = max(|lo|, |hi|), zp = 2^(bits-1), scale = a / (2^(bits-1) - 1): +a and -a
//               are levels (q = qmax and q = 1); q = 0 is the extra level -a - scale (like -128
//               in s8). 0 is exact.
// An all-zero range gives scale 1 (zp 0 asymmetric, 2^(bits-1) symmetric). A range so narrow
// that scale would be below FLT_MIN uses scale = FLT_MIN, so 1 / scale stays finite.
struct qn_act_qparams qn_act_qparams_from_range(float lo, float hi, int bits, bool symmetric);

// The u8 operators' view of the same parameters (qn_qu8_quantize / qn_qu8_dequantize, and
// out_scale / out_zp / out_qmax of struct qn_qgemm_out), which then produce exactly the codes
// and values of qn_fake_quant_act at every bit width.
static inline struct qn_qu8_params qn_act_qparams_qu8(struct qn_act_qparams p) {
    return (struct qn_qu8_params){.scale = p.scale, .zp = p.zp, .qmax = p.qmax};
}

// --- activation observer ---

// Accumulates the distribution of one activation tensor over calibration batches: the exact
// running min / max and a histogram of QN_ACT_OBS_BINS bins on a power-of-two lattice. Bin i
// holds the values in [(base + i) * 2^exp, (base + i + 1) * 2^exp); exp is the smallest
// exponent at which the window of bins (starting at the bin of min) reaches max, but never
// below ilogb(max |x|) - 24 (bins finer than a float ulp of the range say nothing). When a
// batch widens the range, bins are merged in pairs (exp + 1) until it fits, and the window
// slides. Because the lattice depends only on the running min / max, the state after any
// split of the same data into batches, in any order, is identical to a single add of all of
// it: calibration is deterministic and independent of the batch size.
// Exact zeros (ReLU outputs) are also counted apart, so the error model treats them as the
// point mass they are. NaN and +-inf are skipped and counted in `nonfinite`.
// Holds no heap memory (about 16 KiB by value).
#define QN_ACT_OBS_BINS 2048
struct qn_act_observer {
    uint64_t count;      // finite values added
    uint64_t nonfinite;  // NaN / inf values skipped
    uint64_t zeros;      // values == 0 (included in count and in the bin of 0)
    float min, max;      // exact range of the finite values (valid when count > 0)
    int exp;             // bin width 2^exp
    int64_t base;        // lattice index of bin 0
    uint64_t hist[QN_ACT_OBS_BINS];
};

void qn_act_observer_init(struct qn_act_observer *o);
// Adds x[0..n) (n may be 0). Scalar, ~4 ns per value; one thread per observer at a time.
void qn_act_observer_add(struct qn_act_observer *o, const float *x, size_t n);
// Holds no heap memory: resets *o to the empty state (kept for the init / free pairing).
void qn_act_observer_free(struct qn_act_observer *o);

// Activation parameters at `bits` for the observed distribution:
//   MINMAX      [min, max] (exact, not from the histogram).
//   PERCENTILE  asymmetric: [quantile (100 - percentile)%, quantile percentile%] of x;
//               symmetric: a = quantile percentile% of |x|. percentile in (50, 100] (100 gives
//               MINMAX); quantiles interpolate linearly inside a bin, so they are within one bin
//               width (2^exp) of the exact order statistic. A clip range that collapses to
//               zero while the data are not all zero falls back to MINMAX.
//   MSE         the clip range minimizing the expected squared error (rounding inside the
//               range, clipping outside), with each bin's mass spread uniformly over the bin
//               (intersected with [min, max]) and the exact zeros as a point mass. Candidates
//               scale the observed range by 2^-t, t = 0, 1/16, ..., 8 (down to 1/256 of it), then
//               t refined in steps of 1/128 around the best; asymmetric ranges search both ends
//               together, then each end alone (coordinate descent). The MINMAX range is the
//               first candidate and is kept unless another is strictly better, so the
//               expected MSE is never above MINMAX's. Up to ~430 candidates x 2048 bins:
//               ~15 ms asymmetric, ~7 ms symmetric on one core.
// percentile is read only for PERCENTILE. An empty observer gives the all-zero-range params.
// Thread-safe for distinct or unchanging observers (the search scratch is per thread).
struct qn_act_qparams qn_act_observer_params(const struct qn_act_observer *o, int bits,
                                             enum qn_calib cal, bool symmetric,
                                             float percentile);

// The error model above: expected (x - fake_quant(x))^2 per value, in squared units of x,
// for the observed distribution quantized with p. 0 for an empty observer.
double qn_act_observer_mse(const struct qn_act_observer *o, struct qn_act_qparams p);

// --- weights: symmetric per output channel ---

// Quantizes the view W[N][ldw] (K used columns, ldw >= K) to Q[N][ldq] (ldq >= K) and scale[N],
// with lim = 2^(bits-1) - 1 and Q[n][k] = clamp(rint(W[n][k] / scale[n]), -lim, lim):
//   MINMAX      scale[n] = max_k |W[n][k]| / lim; bit-identical (scale and Q) to
//               qn_qs8_weights_quantize.
//   MSE         scale[n] = c / lim for the clip c = alpha * max|W[n]|, alpha in
//               {1.00, 0.99, ..., 0.30}, minimizing sum_k (W[n][k] - scale[n] * Q[n][k])^2
//               (summed in double over the exact fake-quant values); ties keep the larger
//               alpha, so the error is never above MINMAX's. 71 passes over each row.
//   PERCENTILE  same as MSE: a tail percentile of one output channel is meaningless for the
//               small rows of a CNN (a 3x3 depthwise channel has 9 weights).
// An all-zero row gets scale 1 and zeros. Scales are never below FLT_MIN: a row of tiny
// weights gets FLT_MIN (as in qn_qs8_weights_quantize), MSE tries no smaller clip. Scalar,
// init-time.
void qn_quant_weights(size_t N, size_t K, const float *W, size_t ldw, int bits,
                      enum qn_calib cal, int8_t *Q, size_t ldq, float *scale);

// --- fake quantization (float), the exact values the integer path represents ---

// y[i] = scale * (clamp(rint(x[i] * inv) + zp, 0, qmax) - zp), inv = 1.0f / scale in float:
// bit-identical to qn_qu8_dequantize(qn_qu8_quantize(x)) with qn_act_qparams_qu8(p).
// y may alias x.
void qn_fake_quant_act(size_t n, const float *x, struct qn_act_qparams p, float *y);

// Straight-through estimator, with q = rint(x[i] * inv) + zp as in the forward:
//   dx[i] = dy[i] if 0 <= q <= qmax, else 0 (overwritten; dx may alias dy).
// If dscale is not NULL, *dscale += the LSQ gradient (Esser et al., 2020) of the loss with
// respect to scale, zp held fixed:
//   sum_i dy[i] * g_i,  g_i = (q - zp) - x[i] / scale   inside,
//                       g_i = -zp                       below (q < 0),
//                       g_i = qmax - zp                 above (q > qmax),
// accumulated in double. LSQ's gradient scale 1 / sqrt(n * qmax) is left to the caller.
void qn_fake_quant_act_bwd(size_t n, const float *x, struct qn_act_qparams p, const float *dy,
                           float *dx, float *dscale);

// Y[n][k] = scale[n] * clamp(rint(W[n][k] / scale[n]), -lim, lim): exactly
// (float)Q[n][k] * scale[n] for the Q qn_quant_weights produces with this scale.
// W[N][ldw], Y[N][ldy], K used columns; Y may alias W (ldy == ldw).
void qn_fake_quant_weights(size_t N, size_t K, const float *W, size_t ldw, int bits,
                           const float *scale, float *Y, size_t ldy);

// Straight-through estimator for the weights, ACCUMULATED like every weight gradient:
//   dW[n][k] += dY[n][k] if |rint(W[n][k] / scale[n])| <= lim (not clipped), else nothing.
// Under MINMAX scales nothing is clipped and dW += dY. dY[N][lddy], dW[N][lddw]; dW must not
// alias dY.
void qn_fake_quant_weights_bwd(size_t N, size_t K, const float *W, size_t ldw, int bits,
                               const float *scale, const float *dY, size_t lddy, float *dW,
                               size_t lddw);

// --- error measure ---

// Noise-to-signal power ratio (QA-BWNAS): sum_i (approx[i] - ref[i])^2 / sum_i ref[i]^2,
// accumulated in double. 0 when both are all zero (or n == 0), +inf when ref is all zero and
// approx is not.
double qn_nsr(size_t n, const float *ref, const float *approx);
