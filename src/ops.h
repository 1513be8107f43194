// Elementwise, normalization, pooling and quantization operators (FP32, u8).
//
// All matrices are row-major with explicit row strides (in elements), so an elastic subnet runs
// on views of the supernet tensors: the leading D of a D_max row, the leading C of a pixel.
// Each operator picks its micro-kernel for the ISA level in use (qn_isa()) from a table filled
// once, and splits large inputs over qn_threads() OpenMP threads. In-place calls (y == x) are
// allowed wherever the output has the input's shape and stride.
#pragma once

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "gemm.h"  // enum qn_act, qn_act_ref

// --- layer norm ---

// x[rows][ldx] -> y[rows][ldy], normalized over the first D elements of each row:
//   y[r][j] = (x[r][j] - mean_r) / sqrt(var_r + eps) * gamma[j] + beta[j]
// var is the biased (1/D) variance, as in PyTorch's nn.LayerNorm. gamma, beta: [D]; an elastic
// subnet passes the leading D of the D_max supernet vectors. D >= 1.
void qn_f32_layernorm(size_t rows, size_t D, const float *x, size_t ldx, const float *gamma,
                      const float *beta, float eps, float *y, size_t ldy);

// --- softmax ---

// Row-wise softmax of s[r][j] = x[r][j] + mask[r][j] over j < n, max-subtracted.
//   mask: additive, [rows][ldm], or NULL; ldm == 0 broadcasts one mask row to every row.
//         -INFINITY (or anything that makes exp underflow, e.g. -1e9) masks an entry out.
//   causal: row r sees only columns j <= r + (n - rows) (queries are the last `rows`
//         positions of a sequence of n keys; j <= r for a square T x T); later columns are
//         written as exactly 0.
// Masked entries are exactly 0; a row with nothing left unmasked is written as all zeros.
void qn_f32_softmax(size_t rows, size_t n, const float *x, size_t ldx, const float *mask,
                    size_t ldm, bool causal, float *y, size_t ldy);

// --- activations and elementwise add ---

// y[r][j] = act(x[r][j]) for r < rows, j < n. ReLU / ReLU6 / hardswish are bit-exact with
// qn_act_ref on every ISA; GELU (tanh form) is within 4e-7 * max(1, |x|) of the exact formula.
void qn_f32_vact(enum qn_act act, size_t rows, size_t n, const float *x, size_t ldx, float *y,
                 size_t ldy);

// y[r][j] = act(a[r][j] + b[r][j]) (residual add with an optional fused activation).
void qn_f32_vadd(enum qn_act act, size_t rows, size_t n, const float *a, size_t lda,
                 const float *b, size_t ldb, float *y, size_t ldy);

// --- average pooling, NHWC ---

// Global average pooling: image i is x[i * HW * ldx ...], HW pixels of C channels with pixel
// stride ldx >= C; y[i][ldy], y[i][c] = mean over the HW pixels. HW >= 1.
void qn_f32_global_avgpool(size_t N, size_t HW, size_t C, const float *x, size_t ldx, float *y,
                           size_t ldy);

// k x k average pooling with stride s and zero padding p on each side. Input pixel (i, h, w) is
// x[((i * H + h) * W + w) * ldx], output pixel (i, oh, ow) is y[((i * OH + oh) * OW + ow) * ldy]
// with OH = (H + 2p - k) / s + 1 (likewise OW). The divisor counts only the input pixels
// inside the image (PyTorch count_include_pad=False). QN_ERR_ARG when k or s is 0, p >= k,
// the window does not fit, or a pixel stride is < C.
enum qn_status qn_f32_avgpool(size_t N, size_t H, size_t W, size_t C, const float *x,
                              size_t ldx, size_t k, size_t s, size_t p, float *y, size_t ldy);
size_t qn_pool_out_size(size_t in, size_t k, size_t s, size_t p);

// --- quantization: FP32 <-> u8, asymmetric per tensor ---

// real = scale * (q - zp), q in 0..qmax. Activations of fewer than 8 bits keep the u8
// container with qmax = 2^bits - 1; qmax 0 means 255, so {scale, zp} initializers stay 8-bit.
struct qn_qu8_params {
    float scale;
    int32_t zp;    // 0..qmax
    int32_t qmax;  // 1..255, or 0 for 255
};

// Smallest and largest of x[r][j], r < rows, j < n (rows, n >= 1; NaN not supported).
void qn_f32_minmax(size_t rows, size_t n, const float *x, size_t ldx, float *min, float *max);

// Parameters covering [min, max], widened to contain 0 so that 0 is exactly representable
// (zero padding, ReLU outputs): scale = (max - min) / 255, zp = clamp(rint(-min / scale), 0,
// 255). An all-zero range gives scale 1, zp 0.
struct qn_qu8_params qn_qu8_params_from_range(float min, float max);

// q[r][j] = clamp(rint(x[r][j] * (1 / scale)) + zp, 0, qmax), rint rounding half to even;
// 1 / scale is computed once in float. Bit-exact with the scalar kernel on every ISA.
// Asserts 0 <= zp <= qmax <= 255 (qmax 0 read as 255), as does qn_qu8_dequantize.
void qn_qu8_quantize(size_t rows, size_t n, const float *x, size_t ldx, struct qn_qu8_params p,
                     uint8_t *q, size_t ldq);

// y[r][j] = (float)(q[r][j] - zp) * scale. Bit-exact on every ISA.
void qn_qu8_dequantize(size_t rows, size_t n, const uint8_t *q, size_t ldq,
                       struct qn_qu8_params p, float *y, size_t ldy);

// The largest |w[k]|, k < n (0 for an empty or all-zero row).
static inline float qn_absmax(const float *w, size_t n) {
    float amax = 0.0f;
    for (size_t k = 0; k < n; k++) amax = fmaxf(amax, fabsf(w[k]));
    return amax;
}

// The symmetric weight scale of a row whose largest |w| is amax, for a range of +-lim: amax /
// lim floored at FLT_MIN (a row of tiny weights would underflow to 0, flushed under FTZ, and
// w / 0 is infinite), 1 for an all-zero row. Every weight quantizer (deployed, fake, MSE) uses it.
static inline float qn_weight_scale(float amax, float lim) {
    return amax > 0.0f ? fmaxf(amax / lim, FLT_MIN) : 1.0f;
}

// Symmetric per-output-channel weight quantization of the view W[N][ldw] (K used columns) to
// `bits` (2..8), for qn_qgemm_pack: with lim = 2^(bits-1) - 1,
//   scale[n] = max(max_k |W[n][k]| / lim, FLT_MIN),  Q[n][k] = clamp(rint(W[n][k] / scale[n]), -lim, lim)
// An all-zero row gets scale 1 and zeros. Init-time helper (scalar).
void qn_qs8_weights_quantize(size_t N, size_t K, const float *W, size_t ldw, int bits,
                             int8_t *Q, size_t ldq, float *scale);

// --- kernel names at the current ISA level (for `qnas info`) ---

const char *qn_f32_layernorm_variant(void);      // "qn_f32_layernorm_ukernel__avx512"
const char *qn_f32_softmax_variant(void);
const char *qn_f32_vact_variant(enum qn_act act);  // e.g. "qn_f32_vgelu_ukernel__avx2"
const char *qn_f32_vadd_variant(void);
const char *qn_f32_global_avgpool_variant(void);
const char *qn_f32_avgpool_variant(void);
const char *qn_qu8_quantize_variant(void);
const char *qn_qu8_dequantize_variant(void);
const char *qn_f32_minmax_variant(void);
