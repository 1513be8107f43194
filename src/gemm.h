// GEMM operators: FP32, and quantized u8 x s8 -> s32 (weights in s8 containers of 2..8 bits,
// or packed s4), with a fused epilogue.
//
// All matrices are row-major with explicit leading dimensions (in elements), so a subnet runs
// on slices of the larger supernet tensors without copies. The operators pick the kernels for
// the ISA level in use (qn_isa()) and run on qn_threads() OpenMP threads.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "cpu.h"

// --- fused epilogue ---

enum qn_act {
    QN_ACT_NONE = 0,
    QN_ACT_RELU,
    QN_ACT_RELU6,
    QN_ACT_HSWISH,  // x * relu6(x + 3) / 6
    QN_ACT_GELU,    // x * Phi(x), tanh approximation (see qn_gelu_ref)
};

// Applied per output element (m, n), in this order:
//   y = acc + bias[n];  if (residual_before_act) y += R[m][n];
//   y = act(y);         if (!residual_before_act && residual) y += R[m][n];
// MBConv adds the residual after a linear projection (act NONE, either order); ResNet adds it
// before the ReLU (residual_before_act = true).
struct qn_epilogue {
    const float *bias;      // [N] or NULL
    enum qn_act act;
    const float *residual;  // [M][ldr] or NULL; may alias C only if it is exactly C
    size_t ldr;
    bool residual_before_act;
};

// Scalar activation functions: the reference every SIMD version is compared against.
float qn_act_ref(enum qn_act act, float x);
const char *qn_act_name(enum qn_act act);

// --- FP32 ---

// C[M][N] = alpha * op(A) * op(B) + beta * C, then the epilogue (ep may be NULL).
// op(A) is M x K: A[M][lda] if !trans_a, else A[K][lda] read transposed. Likewise op(B) K x N.
// When beta == 0, C is never read (it may hold NaNs).
void qn_f32_gemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
                 const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                 size_t ldc, const struct qn_epilogue *ep);

// Plain triple loop (double accumulation), the oracle for tests. Same contract.
void qn_f32_gemm_ref(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
                     const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                     size_t ldc, const struct qn_epilogue *ep);

// Name of the micro-kernel the FP32 GEMM uses at the current ISA level, e.g.
// "qn_f32_gemm_ukernel_14x32__avx512".
const char *qn_f32_gemm_variant(void);

// What the FP32 GEMM runs where it reads A in place (a 1x1 convolution, rows of A not 4 KiB
// apart), e.g. "qn_f32_gemm_wide_9x48__avx512 where N % 48 is 0 or > 32, else
// qn_f32_gemm_ukernel_14x32__avx512".
const char *qn_f32_gemm_wide_variant(void);

// --- quantized: u8 activations x s8 (or s4) weights -> s32 ---
//
// Weights W are given as [N][K] (output channel n, reduction k), row stride ldw, quantized
// symmetric per output channel: real w = scale[n] * W[n][k], |W| <= 2^(bits-1) - 1.
// Activations A are u8 [M][lda], asymmetric: real a = a_scale * (A - a_zp).
// The accumulator acc[m][n] = sum_k (A[m][k] - a_zp) * W[n][k] is exact in s32
// (K <= 2^16 keeps |acc| < 2^31 at 8 bits).
//
// Packing is done once per weight tensor (weights are constants at inference) and the packed
// layout belongs to the ISA level it was packed for; bits <= 8 use s8 containers, bits == 4 may
// use real two-per-byte storage (storage_bits == 4).
struct qn_qgemm_weights {
    size_t N, K;
    int bits;          // 2..8: the value range; the reported size counts this many bits
    int storage_bits;  // 8 (s8 container) or 4 (packed s4, two per byte)
    enum qn_isa isa;   // level the panels were packed for
    void *packed;      // panels, layout private to the kernels of `isa`
    size_t packed_bytes;
    int32_t *col_sum;  // [N] sum_k W[n][k]: the a_zp correction
    float *scale;      // [N] per-output-channel weight scale
};

// Packs W (values must lie in the bits range; checked, QN_ERR_ARG otherwise).
// storage_bits 4 needs bits <= 4. The struct owns its buffers: free with qn_qgemm_weights_free.
enum qn_status qn_qgemm_pack(struct qn_qgemm_weights *w, const int8_t *W, size_t ldw, size_t N,
                             size_t K, const float *scale, int bits, int storage_bits);
void qn_qgemm_weights_free(struct qn_qgemm_weights *w);

// Output side of a quantized GEMM. The real-valued result is
//   y[m][n] = a_scale * scale[n] * acc[m][n]   then the epilogue (bias, act, residual in FP32).
// FP32 output: written to C_f32[m][ldc]. U8 output: q = clamp(rint(y / out_scale) + out_zp,
// 0, qmax) written to C_u8[m][ldc] (round half to even), qmax = out_qmax or 255 when out_qmax
// is 0. Activations of fewer than 8 bits keep their u8 container with qmax = 2^bits - 1, so
// the integer output is exactly the fake quantization scale * (clamp(...) - zp). The float
// arithmetic is the same sequence of operations on every ISA (only the clamp constant
// varies), so all variants are bit-exact with the reference.
struct qn_qgemm_out {
    float a_scale;
    int a_zp;                 // 0..255
    struct qn_epilogue ep;
    bool out_u8;
    float out_scale;          // u8 output only
    int out_zp;               // u8 output only, 0..qmax
    int out_qmax;             // u8 output only: 1..255, or 0 for 255 (zero-initialized callers)
};

// The u8 output clamp of out: out_qmax, 0 meaning 255.
static inline int qn_qgemm_out_qmax(const struct qn_qgemm_out *out) {
    return out->out_qmax ? out->out_qmax : 255;
}

// True when out's u8 output parameters are in range (0 <= out_qmax <= 255, 0 <= out_zp <=
// qmax); FP32 output ignores them.
static inline bool qn_qgemm_out_ok(const struct qn_qgemm_out *out) {
    if (!out->out_u8) return true;
    return out->out_qmax >= 0 && out->out_qmax <= 255 && out->out_zp >= 0 &&
           out->out_zp <= qn_qgemm_out_qmax(out);
}

// Multiply-adds below which an INT8 layer (GEMM, convolution) runs on the calling thread: the
// integer kernels are several times faster per multiply-add than FP32, so a fork/join pays
// only from about 1e6 of them (with FP32's 2e5 the largest batch-1 subnet ran 0.20 ms on 2
// threads against 0.16 on 1, bench-subnet; from 1e6 on, 0.156 on both).
#define QN_Q8_PARALLEL_MACS 1.0e6

// C = requant(A x W^T). Chooses the GEMV path for M == 1.
// The weights must have been packed at the current ISA level (w->isa == qn_isa()).
void qn_qgemm(size_t M, const uint8_t *A, size_t lda, const struct qn_qgemm_weights *w,
              const struct qn_qgemm_out *out, void *C, size_t ldc);

// Scalar reference straight from the unpacked weights: the oracle for tests.
void qn_qgemm_ref(size_t M, const uint8_t *A, size_t lda, const int8_t *W, size_t ldw,
                  size_t N, size_t K, const float *scale, const struct qn_qgemm_out *out,
                  void *C, size_t ldc);

// Kernel names at the current ISA level, e.g. "qn_qs8_gemm_ukernel_14x32c4__avx512vnni".
const char *qn_qgemm_variant(int storage_bits, bool gemv);
