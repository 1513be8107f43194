// Vector epilogues shared by the depthwise kernels of one ISA (static inline only: each kernel
// file compiles them with its own flags). They repeat qn_act_ref / qn_qgemm_ref operation by
// operation (mul and add never fused), so the INT8 outputs are bit-exact with the scalar kernel.
// GELU never reaches the vector kernels (a call inside the unrolled stores would make the
// compiler spill every accumulator): the operators apply it after the kernel (FP32) or use the
// scalar kernel (INT8, where tanhf must match exactly).
//
// RELU / RELU6 are one clamp, y = min(max(y, lo), hi), with (lo, hi) =
// (0, inf), (0, 6): max(y, 0) = y > 0 ? y : 0 as in qn_act_ref (up to the sign of a zero); NONE
// leaves y as it is.
#pragma once

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "gemm.h"

// The FP32 band kernels' stores of a block's N outputs (acc[u] to pixel pix + u, u < n)
// through the file's band_store(e, pix, acc, RES, FULL, ACT), the activation tested once for
// the block, not per pixel: ACT 0 none, 1 the ReLU / ReLU6 clamp, 2 hardswish. Zen 5, 1 thread,
// two alternations, ours / oneDNN: AVX-512 5x5 144 ch at 28x28 1.87x -> 1.97-1.99x, 3x3 32 ch
// at 56x56 1.44-1.54x -> 1.63-1.73x (3x3 at 14x14 and 7x7 the same); AVX2 (with the bias in a
// register) 3x3 at 14x14 0.96-0.97x -> 1.10x, 7x7 0.87-0.89x -> 1.02x.
#define QN_DW_BAND_STORES(e, N, n, pix, acc, RES, FULL)                                  \
    do {                                                                                \
        if ((e)->act.hswish) {                                                          \
            _Pragma("GCC unroll 16") for (size_t u = 0; u < (N); u++) if (u < (n))      \
                band_store((e), (pix) + u, (acc)[u], RES, FULL, 2);                     \
        } else if ((e)->act.none) {                                                     \
            _Pragma("GCC unroll 16") for (size_t u = 0; u < (N); u++) if (u < (n))      \
                band_store((e), (pix) + u, (acc)[u], RES, FULL, 0);                     \
        } else {                                                                        \
            _Pragma("GCC unroll 16") for (size_t u = 0; u < (N); u++) if (u < (n))      \
                band_store((e), (pix) + u, (acc)[u], RES, FULL, 1);                     \
        }                                                                               \
    } while (0)

#if defined(__AVX512F__)

struct qn_act_avx512 {
    __m512 lo, hi;
    bool hswish, none;
};

static inline struct qn_act_avx512 qn_act_avx512_init(enum qn_act act) {
    const float inf = __builtin_inff();
    struct qn_act_avx512 r = {_mm512_set1_ps(-inf), _mm512_set1_ps(inf), act == QN_ACT_HSWISH, act == QN_ACT_NONE};
    if (act == QN_ACT_RELU || act == QN_ACT_RELU6) r.lo = _mm512_setzero_ps();
    if (act == QN_ACT_RELU6) r.hi = _mm512_set1_ps(6.0f);
    return r;
}

static inline __m512 qn_hswish_avx512(__m512 y) {
    __m512 r = _mm512_add_ps(y, _mm512_set1_ps(3.0f));
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
    return _mm512_mul_ps(_mm512_mul_ps(y, r), _mm512_set1_ps(1.0f / 6.0f));
}

// ReLU / ReLU6 (and NONE, up to a NaN)
static inline __m512 qn_clamp_avx512(__m512 y, const struct qn_act_avx512 *act) {
    return _mm512_min_ps(_mm512_max_ps(y, act->lo), act->hi);
}

static inline __m512 qn_act_avx512(__m512 y, const struct qn_act_avx512 *act) {
    if (act->hswish) return qn_hswish_avx512(y);
    if (act->none) return y;  // two ops per vector saved, and a NaN stays NaN as in qn_act_ref
    return qn_clamp_avx512(y, act);
}

// y + bias, residual before / after act. bias, res point at the block's first channel or NULL.
static inline __m512 qn_epilogue_avx512(__m512 y, const float *bias, const float *res,
                                        bool res_before_act, const struct qn_act_avx512 *act,
                                        __mmask16 m) {
    if (bias) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, bias));
    if (res && res_before_act) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, res));
    y = qn_act_avx512(y, act);
    if (res && !res_before_act) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, res));
    return y;
}

// q = clamp(rint(y * inv_out) + out_zp, 0, out_qmax) as 16 s32 lanes (out_qmax <= 255).
static inline __m512i qn_quantize_avx512(__m512 y, float inv_out, int32_t out_zp,
                                         int32_t out_qmax) {
    __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(y, _mm512_set1_ps(inv_out)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm512_add_ps(q, _mm512_set1_ps((float)out_zp));
    q = _mm512_min_ps(_mm512_max_ps(q, _mm512_setzero_ps()), _mm512_set1_ps((float)out_qmax));
    return _mm512_cvttps_epi32(q);
}

#endif  // __AVX512F__

#if defined(__AVX2__)

// Lane mask for the first n (< 8) channels of a ymm.
static inline __m256i qn_mask_avx2(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

struct qn_act_avx2 {
    __m256 lo, hi;
    bool hswish, none;
};

static inline struct qn_act_avx2 qn_act_avx2_init(enum qn_act act) {
    const float inf = __builtin_inff();
    struct qn_act_avx2 r = {_mm256_set1_ps(-inf), _mm256_set1_ps(inf), act == QN_ACT_HSWISH, act == QN_ACT_NONE};
    if (act == QN_ACT_RELU || act == QN_ACT_RELU6) r.lo = _mm256_setzero_ps();
    if (act == QN_ACT_RELU6) r.hi = _mm256_set1_ps(6.0f);
    return r;
}

static inline __m256 qn_hswish_avx2(__m256 y) {
    __m256 r = _mm256_add_ps(y, _mm256_set1_ps(3.0f));
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
    return _mm256_mul_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(1.0f / 6.0f));
}

// ReLU / ReLU6 (and NONE, up to a NaN)
static inline __m256 qn_clamp_avx2(__m256 y, const struct qn_act_avx2 *act) {
    return _mm256_min_ps(_mm256_max_ps(y, act->lo), act->hi);
}

static inline __m256 qn_act_avx2(__m256 y, const struct qn_act_avx2 *act) {
    if (act->hswish) return qn_hswish_avx2(y);
    if (act->none) return y;  // as qn_act_avx512: a NaN stays NaN, as in qn_act_ref
    return qn_clamp_avx2(y, act);
}

// tail: only the lanes of mi are loaded (maskload never touches the others).
static inline __m256 qn_epilogue_avx2(__m256 y, const float *bias, const float *res,
                                      bool res_before_act, const struct qn_act_avx2 *act,
                                      bool tail, __m256i mi) {
    if (bias) y = _mm256_add_ps(y, tail ? _mm256_maskload_ps(bias, mi) : _mm256_loadu_ps(bias));
    __m256 r = _mm256_setzero_ps();
    if (res) r = tail ? _mm256_maskload_ps(res, mi) : _mm256_loadu_ps(res);
    if (res && res_before_act) y = _mm256_add_ps(y, r);
    y = qn_act_avx2(y, act);
    if (res && !res_before_act) y = _mm256_add_ps(y, r);
    return y;
}

// q = clamp(rint(y * inv_out) + out_zp, 0, out_qmax) as 8 s32 lanes (out_qmax <= 255).
static inline __m256i qn_quantize_avx2(__m256 y, float inv_out, int32_t out_zp,
                                       int32_t out_qmax) {
    __m256 q = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(inv_out)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm256_add_ps(q, _mm256_set1_ps((float)out_zp));
    q = _mm256_min_ps(_mm256_max_ps(q, _mm256_setzero_ps()), _mm256_set1_ps((float)out_qmax));
    return _mm256_cvttps_epi32(q);
}

// One INT8 depthwise output of 8 channels through the qn_qgemm_ref sequence (any epilogue but
// GELU): acc * mul, bias / residual / activation, then u8 (to dst as bytes) or FP32 (as floats);
// tail: only the first nc channels are read and written. For the direct and the row-quad
// kernels.
static inline __attribute__((always_inline)) void qn_qs8_dw_store8_ref_avx2(
    __m256i acc, const float *mul, const float *bias, const float *res, bool res_before_act, enum qn_act act,
    bool out_u8, float inv_out, int32_t out_zp, int32_t out_qmax, void *dst, bool tail, size_t nc) {
    const struct qn_act_avx2 a = qn_act_avx2_init(act);
    const __m256i mi = tail ? qn_mask_avx2(nc) : _mm256_setzero_si256();
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_loadu_ps(mul));
    y = qn_epilogue_avx2(y, bias, res, res_before_act, &a, tail, mi);
    if (out_u8) {
        const __m256i q = qn_quantize_avx2(y, inv_out, out_zp, out_qmax);
        __m128i b = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        b = _mm_packus_epi16(b, b);
        if (tail) {
            const uint64_t v = (uint64_t)_mm_cvtsi128_si64(b);
            __builtin_memcpy(dst, &v, nc);
        } else {
            _mm_storel_epi64((__m128i *)dst, b);
        }
    } else if (tail) {
        _mm256_maskstore_ps(dst, mi, y);
    } else {
        _mm256_storeu_ps(dst, y);
    }
}

#endif  // __AVX2__
