// Convolution operators on NHWC activations: general kh x kw (im2col + GEMM), 1x1 (GEMM straight
// on the NHWC tensor), depthwise k x k and small-reduction kh x kw such as a c_in = 1 stem
// (direct kernels), FP32 and INT8 (u8 x s8 -> s32), all with the fused epilogue of src/gemm.h.
//
// Activations: a batch of n images, each [h][w][pixel] with a pixel stride ld >= channels (in
// elements), images packed back to back (image stride h * w * ld), so a subnet's leading channels
// run inside a max-width buffer. The epilogue residual is indexed by output pixel:
// R[(img * h_out + oh) * w_out + ow][ldr], the bias by output channel.
//
// Weights are views into the larger supernet tensors (struct qn_conv_wview): FP32 convs run
// straight on the view (the direct path repacks it into scratch at every run, T x c_out
// floats); INT8 convs pack their (already quantized, s8) view once at init.
// An elastic subnet uses the leading channels and the centred k x k window of a K_max x K_max
// kernel (offset (K_max - k) / 2); qn_conv_wview_ohwi / qn_conv_wview_dw build such views.
//
// A conv object is created once per layer shape and weight slice (init), run many times, freed.
// Scratch is allocated at init, never in run. A conv object is not reentrant: one run at a
// time per object. INT8 objects hold weights packed for the ISA level current at init;
// run asserts that level is still in use.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "gemm.h"
#include "gemm-f32-packed.h"

struct qn_qs8_dwq_row;  // qs8-dwconv/qs8-dwconv.h

// --- weight views ---

// Element (o, i, j, ci) of the slice is at data[o * ld_o + i * ld_h + j * ld_w + ci]: output
// channel o < c_out, kernel row i < kh, kernel column j < kw, input channel ci < c_in (ci is
// contiguous). Regular conv: OHWI, full tensor [C_out_max][K_max][K_max][C_in_max].
// Depthwise: c_in == 1, ld_o == 1 (channels contiguous), full tensor [K_max][K_max][C_max].
struct qn_conv_wview {
    const void *data;  // float or int8_t, slice element (0, 0, 0, 0)
    size_t c_out, kh, kw, c_in;
    size_t ld_o, ld_h, ld_w;  // in elements
};

// Slice of an OHWI supernet tensor [c_out_max][k_max][k_max][c_in_max] of element size
// `elem` bytes: leading c_out x c_in channels, centred k x k window (k, k_max odd, k <= k_max).
struct qn_conv_wview qn_conv_wview_ohwi(const void *full, size_t elem, size_t c_out_max,
                                        size_t k_max, size_t c_in_max, size_t c_out, size_t k,
                                        size_t c_in);
// Slice of a depthwise supernet tensor [k_max][k_max][c_max]: leading c channels, centred k x k.
struct qn_conv_wview qn_conv_wview_dw(const void *full, size_t elem, size_t k_max, size_t c_max,
                                      size_t c, size_t k);

// Symmetric per-output-channel quantization of an FP32 view to `bits` (2..8):
// scale[o] = max|w[o]| / (2^(bits-1) - 1) (1 when the channel is all zero), q = rint(w / scale).
// Regular views write q dense as [c_out][kh][kw][c_in]; depthwise views (c_in == 1, ld_o == 1)
// as [kh][kw][c_out]. *qview (may be NULL) receives the matching s8 view of q.
void qn_conv_quantize_weights(const struct qn_conv_wview *w, int bits, int8_t *q, float *scale,
                              struct qn_conv_wview *qview);

// --- shapes ---

struct qn_conv_params {
    size_t h, w;          // input image, pixels
    size_t c_in, c_out;   // depthwise: c_in == c_out
    size_t kh, kw;        // depthwise: kh == kw
    size_t stride_h, stride_w;  // depthwise: equal
    size_t pad_h, pad_w;  // zero padding on both sides (< kh, < kw); INT8 pads with a_zp
    bool depthwise;
};

// Output image: h_out = (h + 2 pad_h - kh) / stride_h + 1, likewise w_out.
size_t qn_conv_h_out(const struct qn_conv_params *p);
size_t qn_conv_w_out(const struct qn_conv_params *p);

enum qn_conv_path {
    QN_CONV_PATH_GEMM_1X1 = 0,   // 1x1, stride 1, pad 0: GEMM on the NHWC tensor itself
    QN_CONV_PATH_GEMM_1X1_SUB,   // 1x1, stride > 1: subsample the pixels, then GEMM
    QN_CONV_PATH_IM2COL,         // im2col one image at a time, then GEMM
    QN_CONV_PATH_DWCONV,         // direct depthwise kernel, one output row per call
    QN_CONV_PATH_DIRECT,         // small reduction: direct kernel, one output row per call
};
const char *qn_conv_path_name(enum qn_conv_path path);

// The direct path takes a regular conv (not depthwise, not an unpadded 1x1) with a small
// reduction T = kh * kw * c_in <= QN_CONV_DIRECT_MAX_T, where im2col + GEMM spends its time
// copying kh * kw taps per pixel, packing, and padding c_out to the GEMM micro-tile (N = 32 at
// AVX-512) rather than multiplying. Measured at 28 x 28, batch 1, one thread (AVX-512, Zen 4):
// FP32 direct is 1.3x (c_in 16 -> 96) to 16x (the c_in = 1 stems) faster everywhere up to
// T = 256; INT8 direct does one product per vpdpwssd lane against the GEMM's four per
// vpdpbusd, so it wins only while c_in * c_out stays small: 4-10x for the c_in = 1 stems,
// about even at c_in * c_out = 192..256 (3 -> 64: 1.0-1.1x, 4 -> 64: 0.9x), 0.5-0.9x beyond.
#define QN_CONV_DIRECT_MAX_T 256
#define QN_CONV_DIRECT_QS8_MAX_CIO 192
bool qn_conv_direct_ok(const struct qn_conv_params *p, bool int8);

// --- FP32 ---

struct qn_f32_conv {
    struct qn_conv_params p;
    size_t h_out, w_out;
    enum qn_conv_path path;
    struct qn_conv_wview w;  // float view, not copied: must outlive the object
    struct qn_f32_packed_b pw;  // the GEMM paths' weights, packed once at init (empty for the
                                // others): a later change to the viewed weights is not seen
    float *scratch;          // im2col [h_out * w_out][kh * kw * c_in], subsampled pixels, or
                             // the direct path's packed weights [kh * kw * c_in][c_pad]
    size_t scratch_elems;
};

// QN_ERR_ARG on inconsistent shapes / views, QN_ERR_NOMEM.
enum qn_status qn_f32_conv_init(struct qn_f32_conv *conv, const struct qn_conv_params *p,
                                const struct qn_conv_wview *w);
// y[n][h_out][w_out][ld_y] = conv(x[n][h][w][ld_x]) then ep (may be NULL). x and y must not
// overlap; the residual may alias y only if it is exactly y (same pointer and stride).
void qn_f32_conv_run(struct qn_f32_conv *conv, size_t n, const float *x, size_t ld_x, float *y,
                     size_t ld_y, const struct qn_epilogue *ep);
void qn_f32_conv_free(struct qn_f32_conv *conv);

// --- INT8: u8 activations (a_scale, a_zp) x s8 weights (per-output-channel scale) ---

struct qn_qs8_conv {
    struct qn_conv_params p;
    size_t h_out, w_out;
    enum qn_conv_path path;
    enum qn_isa isa;                   // level the weights were packed for
    struct qn_qgemm_weights gw;        // GEMM paths: W as [c_out][kh * kw * c_in]
    int32_t *dw_w;                     // depthwise: [kh * kw][c_pad] as (uint16_t)w, 0 padded
    size_t c_pad;                      // depthwise / direct: c_out rounded up to 16
    int32_t *hwc_w;                    // direct: [kh * kw * c_in][c_pad] as (uint16_t)w, 0 padded
    float *w_scale;                    // depthwise / direct: [c_out]
    float *dw_mul;                     // depthwise / direct: [c_pad] a_scale * w_scale, per run
    // depthwise 3/5/7, stride 1/2: the row-quad plan (qs8-dwconv.h), dwq_w NULL otherwise
    int8_t *dwq_w;                     // weight sets [c_pad / 16][n_sets][nq_max][k][64]
    size_t dwq_set_stride, dwq_block_stride;  // bytes
    struct qn_qs8_dwq_row *dwq_rows;   // [h_out]
    uint8_t *dwq_cols;                 // [w_out] column class
    size_t dwq_n_rc, dwq_n_cc;
    int32_t *dwq_wsum;                 // [c_pad / 16][n_rc][n_cc][16] sum of the real taps
    int32_t *dwq_zcorr;                // the same times -a_zp, for dwq_zp
    int dwq_zp;                        // -1: not computed yet
    uint8_t *dwq_scratch;              // row-quad buffers, one per thread, allocated by run
    size_t dwq_scratch_bytes;
    uint8_t *scratch;                  // im2col or subsampled pixels (u8)
    size_t scratch_elems;
};

// The row-quad weight sets are in pair order (qs8-dwconv.h) for the plain AVX2 kernels: at the
// level the layer was set up for.
static inline bool qn_qs8_conv_dwq_pairs(const struct qn_qs8_conv *conv) { return conv->isa == QN_ISA_AVX2; }

// w: s8 view (values within +-(2^(bits-1) - 1)), w_scale[c_out]. Packs for the current ISA.
enum qn_status qn_qs8_conv_init(struct qn_qs8_conv *conv, const struct qn_conv_params *p,
                                const struct qn_conv_wview *w, const float *w_scale, int bits);
// Same contract as qn_f32_conv_run; out gives the input quantization (a_scale, a_zp), the
// epilogue (FP32 bias / residual) and the output: u8 (out_scale, out_zp) or FP32 into y.
// Requantization is exactly qn_qgemm_ref's: y = (float)acc * (a_scale * w_scale[c]), epilogue,
// q = clamp(rint(y * (1 / out_scale)) + out_zp, 0, qmax), qmax = out_qmax or 255 when 0.
void qn_qs8_conv_run(struct qn_qs8_conv *conv, size_t n, const uint8_t *x, size_t ld_x,
                     const struct qn_qgemm_out *out, void *y, size_t ld_y);
void qn_qs8_conv_free(struct qn_qs8_conv *conv);

// --- kernel names at the current ISA level (for `qnas info`) ---

// Depthwise micro-kernel for a k x k window, e.g. "qn_f32_dwconv_ukernel_3x3__avx512".
const char *qn_f32_dwconv_variant(size_t k);
const char *qn_qs8_dwconv_variant(size_t k);
// "im2col + <gemm variant>" style summary of the path a conv object uses.
const char *qn_f32_conv_variant(const struct qn_f32_conv *conv);
const char *qn_qs8_conv_variant(const struct qn_qs8_conv *conv);
