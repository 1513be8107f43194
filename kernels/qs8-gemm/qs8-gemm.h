// Quantized GEMM micro-kernels: u8 activations x s8 (or packed s4) weights -> exact s32
// accumulators -> requantizing epilogue (FP32 or u8 out), bit-exact with qn_qgemm_ref.
//
// --- packed weight layout (shared by every ISA; only the panel width NR differs) ---
//
// Weights W[N][K] are cut into panels of NR output channels (columns); panel p holds
// columns [p*NR, p*NR + NR), zero-padded past N. Inside a panel, k runs slowest:
//   s8 (storage_bits 8): [Kq][NR][4] bytes, Kq = ceil(K / 4).
//       byte (q, j, r) = W[p*NR + j][4q + r], 0 past K ("c4": 4 consecutive k of one column
//       adjacent, the operand shape of vpdpbusd; 16 columns = one zmm, 8 = one ymm).
//   s4 (storage_bits 4): [Ko][NR][4] bytes, Ko = ceil(K / 8), each byte two's-complement
//       nibbles: low nibble = W[n][8o + r], high nibble = W[n][8o + 4 + r] (struct qn_qs4_c8
//       below). Masking the low nibbles of a vector gives the c4 layout of k-quad 2o, the high
//       nibbles that of k-quad 2o + 1, for any vector width: unpacking is two ANDs, a shift and
//       a 16-entry table lookup, no shuffling across columns.
// Every panel starts 32-byte aligned (64 when NR*4 is a multiple of 64): panel sizes are
// multiples of NR*4 bytes and the buffer is 64-byte aligned, so kernels use aligned loads.
// Padding is zero, so it adds exactly 0 to the dot products; the a_zp correction uses col_sum
// over the real K only, and A bytes past K are never read.
//
// GEMM with packed s4 unpacks a block of panels to s8 once (qn_qs4_unpack_fn) and runs the s8
// kernel on it for every row tile; GEMV (M == 1) unpacks in registers and reads half the
// bytes of s8.
#pragma once

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gemm.h"

// 8 k-values of one column in packed s4: nib[r] = (W[k0 + r] & 15) | (W[k0 + 4 + r] & 15) << 4.
struct qn_qs4_c8 {
    uint8_t nib[4];
};
static_assert(sizeof(struct qn_qs4_c8) == 4, "s4 block must be 4 bytes (8 weights)");

// Epilogue parameters of one tile; pointers are already offset to the tile's first row and
// column. The float sequence is qn_qgemm_ref's:
//   y = (float)(acc - a_zp * col_sum[n]) * (a_scale * scale[n]);  y += bias[n];
//   [y += R]; y = act(y); [y += R];  u8: q = clamp(rintf(y * inv_out) + out_zp, 0, out_qmax)
struct qn_qgemm_params {
    const float *scale;      // [nc] per-channel weight scale
    const int32_t *col_sum;  // [nc] sum_k W[n][k] over the real K
    const float *bias;       // [nc] or NULL
    const float *residual;   // [mr][ldr] or NULL
    size_t ldr;
    float a_scale;
    int32_t a_zp;            // 0..255
    enum qn_act act;
    bool residual_before_act;
    bool out_u8;
    float inv_out;           // 1 / out_scale, computed once in float (u8 only)
    float out_zp;            // u8 only
    float out_qmax;          // u8 only: upper clamp 1..255, already resolved (never 0)
    size_t mb;               // multi-tile kernels: rows per tile (<= MR), 0 for MR
    bool stream;             // FP32 out far larger than the caches: full tiles may go to memory
                             // with non-temporal stores (the driver fences before returning)
    bool a_pad;              // AMX: A readable in whole 16-row x 64-byte tiles, zero past kc,
                             // and w readable QN_QG_B_SLACK bytes past the panel
    uint32_t a_sum;          // GEMV (M = 1): sum of A over K, once per call (the AVX2 s4 GEMV)
};

// Bytes every packed weight buffer (zero there) and s4 unpacking scratch (left as it is) has
// past its last panel: the AMX kernel reads a k tail as a whole tile of 16 k-quads, and what
// lies past the panel's k-quads meets A's zero padding (params.a_pad).
#define QN_QG_B_SLACK 2048

// C[mr][nc] (float or u8 per p->out_u8, row stride ldc elements) = epilogue(A[mr][kc] x
// panel^T). mr <= MR, nc <= NR of the kernel; A rows are read directly (u8, stride lda), never
// past kc. w is one packed panel (s8 or s4 per the kernel's name). A multi-tile kernel (the
// config says so) takes any mr and runs it in tiles of p->mb rows down the panel; p->residual
// then covers all mr rows.
typedef void (*qn_qgemm_ukernel_fn)(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                    size_t lda, const void *w, void *c, size_t ldc,
                                    const struct qn_qgemm_params *p);

// Unpacks np consecutive s4 panels of width nr (for K = kc) into s8 c4 panels; the output
// panel stride is 8 * ceil(kc / 8) * nr bytes (an even number of k-quads).
typedef void (*qn_qs4_unpack_fn)(size_t np, size_t nr, size_t kc, const uint8_t *w4,
                                 int8_t *w8);

// --- kernels (scalar references first) ---

void qn_qs8_gemm_ukernel_4x8c4__scalar(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                       size_t lda, const void *w, void *c, size_t ldc,
                                       const struct qn_qgemm_params *p);
// A as the driver's widened copy (qn_qs8_gemm_avx2_widen_a), lda in bytes.
void qn_qs8_gemm_ukernel_6x8c4__avx2(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                     size_t lda, const void *w, void *c, size_t ldc,
                                     const struct qn_qgemm_params *p);
// Rows of u8 A to u16 at stride ldd bytes (ldd >= 2 * K rounded up to 4), zero from K on, then
// zero_rows rows of zeros: the plain AVX2 kernel's A (the copy_a of the driver's config).
void qn_qs8_gemm_avx2_widen_a(uint8_t *dst, size_t ldd, const uint8_t *src, size_t lds, size_t rows, size_t K,
                              size_t zero_rows);
void qn_qs8_gemm_ukernel_6x16c4__avxvnni(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                         size_t lda, const void *w, void *c, size_t ldc,
                                         const struct qn_qgemm_params *p);
void qn_qs8_gemm_ukernel_14x32c4__avx512(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                         size_t lda, const void *w, void *c, size_t ldc,
                                         const struct qn_qgemm_params *p);
// AMX (qs8-gemm-32x32c4-amx.c): a single tile of up to 32 rows per call over the AVX-512
// level's 32-column panels. The tile configuration is per thread: qn_qs8_gemm_amx_begin()
// loads it (and zeroes the tiles) before a thread's first call, qn_qs8_gemm_amx_end() releases
// the tile state after its last.
void qn_qs8_gemm_ukernel_32x32c4__amx(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                      size_t lda, const void *w, void *c, size_t ldc,
                                      const struct qn_qgemm_params *p);
void qn_qs8_gemm_amx_begin(void);
void qn_qs8_gemm_amx_end(void);
// The driver's copy of A for it: rows of K bytes to a stride ldd (a multiple of 64), zero from
// K to ldd, then zero_rows rows of zeros (libc's memcpy + memset per row cost ~4% of a 1x1
// layer at batch 1, 196 rows of 96 bytes).
void qn_qs8_gemm_amx_copy_a(uint8_t *dst, size_t ldd, const uint8_t *src, size_t lds, size_t rows, size_t K,
                            size_t zero_rows);

// GEMV (mr == 1) over one panel, tuned for streaming the weights.
void qn_qs8_gemv_ukernel_8c4__scalar(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                     size_t lda, const void *w, void *c, size_t ldc,
                                     const struct qn_qgemm_params *p);
void qn_qs8_gemv_ukernel_8c4__avx2(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                   size_t lda, const void *w, void *c, size_t ldc,
                                   const struct qn_qgemm_params *p);
void qn_qs8_gemv_ukernel_16c4__avxvnni(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                       size_t lda, const void *w, void *c, size_t ldc,
                                       const struct qn_qgemm_params *p);
void qn_qs8_gemv_ukernel_32c4__avx512(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                      size_t lda, const void *w, void *c, size_t ldc,
                                      const struct qn_qgemm_params *p);

void qn_qs4_gemv_ukernel_8c8__scalar(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                     size_t lda, const void *w, void *c, size_t ldc,
                                     const struct qn_qgemm_params *p);
void qn_qs4_gemv_ukernel_8c8__avx2(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                   size_t lda, const void *w, void *c, size_t ldc,
                                   const struct qn_qgemm_params *p);
void qn_qs4_gemv_ukernel_16c8__avxvnni(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                       size_t lda, const void *w, void *c, size_t ldc,
                                       const struct qn_qgemm_params *p);
void qn_qs4_gemv_ukernel_32c8__avx512(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                      size_t lda, const void *w, void *c, size_t ldc,
                                      const struct qn_qgemm_params *p);

void qn_qs4_unpack__scalar(size_t np, size_t nr, size_t kc, const uint8_t *w4, int8_t *w8);
void qn_qs4_unpack__avx2(size_t np, size_t nr, size_t kc, const uint8_t *w4, int8_t *w8);
void qn_qs4_unpack__avx512(size_t np, size_t nr, size_t kc, const uint8_t *w4, int8_t *w8);

// --- shared scalar pieces ---

// The vector epilogues' loops, one per activation x bias so neither is tested per vector:
// ROWS(args..., bias, act) with bias (p->bias != NULL) and act (p->act) as constants.
#define QN_QGEMM_FORM_(ROWS, A, ...)               \
    case A:                                        \
        if (qn_bias_) ROWS(__VA_ARGS__, true, A);  \
        else ROWS(__VA_ARGS__, false, A);          \
        break;
#define QN_QGEMM_ACT_FORMS(p, ROWS, ...)                       \
    do {                                                       \
        const bool qn_bias_ = (p)->bias != NULL;               \
        switch ((p)->act) {                                    \
            QN_QGEMM_FORM_(ROWS, QN_ACT_NONE, __VA_ARGS__)     \
            QN_QGEMM_FORM_(ROWS, QN_ACT_RELU, __VA_ARGS__)     \
            QN_QGEMM_FORM_(ROWS, QN_ACT_RELU6, __VA_ARGS__)    \
            QN_QGEMM_FORM_(ROWS, QN_ACT_HSWISH, __VA_ARGS__)   \
            QN_QGEMM_FORM_(ROWS, QN_ACT_GELU, __VA_ARGS__)     \
        }                                                      \
    } while (0)

// Sign-extends a two's-complement nibble.
static inline int32_t qn_s4_value(uint32_t nibble) { return (int32_t)((nibble ^ 8u) & 15u) - 8; }

// vpshufb table: two's-complement nibble 0..15 -> s8 value -8..7.
#define QN_S4_LUT_BYTES 0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1

// Four A bytes as one 32-bit lane, reading only the n (< 4) bytes that exist past the end.
static inline int32_t qn_load_a4_tail(const uint8_t *a, size_t n) {
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint32_t)a[i] << (8 * i);
    return (int32_t)v;
}

static inline int32_t qn_load_a4(const uint8_t *a) {
    int32_t v;
    __builtin_memcpy(&v, a, 4);
    return v;
}

// One output element, the exact float sequence of qn_qgemm_ref. Column j, row i of the tile.
static inline void qn_qgemm_store1(const struct qn_qgemm_params *p, size_t i, size_t j,
                                   int32_t acc, void *c, size_t ldc) {
    acc -= p->a_zp * p->col_sum[j];
    float y = (float)acc * (p->a_scale * p->scale[j]);
    if (p->bias) y += p->bias[j];
    if (p->residual && p->residual_before_act) y += p->residual[i * p->ldr + j];
    y = qn_act_ref(p->act, y);
    if (p->residual && !p->residual_before_act) y += p->residual[i * p->ldr + j];
    if (p->out_u8) {
        float q = rintf(y * p->inv_out) + p->out_zp;
        q = q < 0.0f ? 0.0f : (q > p->out_qmax ? p->out_qmax : q);
        ((uint8_t *)c)[i * ldc + j] = (uint8_t)q;
    } else {
        ((float *)c)[i * ldc + j] = y;
    }
}
