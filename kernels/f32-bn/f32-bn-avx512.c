// AVX-512 batch-norm + activation training kernels: 16 channels per zmm, masked tail; GELU
// (not used by the MBConv space) falls back to the reference.
//
// Sums over rows up to 128 channels wide keep their per-channel accumulators in registers for
// the whole call and write s1/s2 once; in the forward sums, up to 64 channels take two
// interleaved row streams to hide the add / FMA latency. Accumulating in memory row after row chains every row on store-to-load
// forwarding: ~8 ns per row whatever C is, 4 GB/s at C = 8. Wider rows: sums_wide and
// act_bwd_wide.
//
// Narrow rows (C = 8, 12, 24 ...) are regrouped into super-rows of k*C contiguous channels, a
// multiple of 16, so every load is a full vector; per-lane sums are folded back to C channels
// at the end, and the elementwise passes repeat their per-channel parameters k times. The
// P mod k rows left over take the plain masked path.
#include <immintrin.h>

#include "f32-bn/f32-bn.h"
#include "gemm.h"

#define QN_INLINE static inline __attribute__((always_inline))

#define SUMS_NV 8      // widest register-blocked row, zmm: 2 sums x 8 = 16 accumulators
#define SUPER_MAX 256  // widest super-row, floats (stack buffers below)

static inline __mmask16 tail_mask(int c, int C) {
    return C - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (C - c)) - 1);
}

// Rows per super-row: the smallest k with k*C a multiple of 16, doubled while k*C < min_w;
// 1 when C is already a multiple of 16 at least min_w wide, or when k*C would exceed max_w.
static int super_rows(int C, int min_w, int max_w) {
    int k = C % 16 ? 16 / (C & -C) : 1;
    if (k * C > max_w) return 1;
    while (k * C < min_w && 2 * k * C <= max_w) k *= 2;
    return k;
}

static inline __m512 act_fwd(int act, __m512 v) {
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    switch (act) {
    case QN_ACT_RELU: return _mm512_max_ps(v, zero);
    case QN_ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(v, zero), six);
    case QN_ACT_HSWISH: {
        __m512 r = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, _mm512_set1_ps(3.0f)), zero), six);
        return _mm512_mul_ps(_mm512_mul_ps(v, r), _mm512_set1_ps(1.0f / 6.0f));
    }
    default: return v;
    }
}

static inline __m512 act_grad(int act, __m512 v, __m512 g) {
    const __m512 zero = _mm512_setzero_ps();
    switch (act) {
    case QN_ACT_RELU: return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), g);
    case QN_ACT_RELU6: {
        __mmask16 in = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ) & _mm512_cmp_ps_mask(v, _mm512_set1_ps(6.0f), _CMP_LT_OQ);
        return _mm512_maskz_mov_ps(in, g);
    }
    case QN_ACT_HSWISH: {
        __m512 mid = _mm512_mul_ps(g, _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(v, v), _mm512_set1_ps(3.0f)),
                                                    _mm512_set1_ps(1.0f / 6.0f)));
        __mmask16 lo = _mm512_cmp_ps_mask(v, _mm512_set1_ps(-3.0f), _CMP_LE_OQ);
        __mmask16 hi = _mm512_cmp_ps_mask(v, _mm512_set1_ps(3.0f), _CMP_GE_OQ);
        mid = _mm512_mask_mov_ps(mid, hi, g);
        return _mm512_mask_mov_ps(mid, lo, zero);
    }
    default: return g;
    }
}

// --- sums ---

// s1[0..16nv) += sum_p (x - x0), s2 += (x - x0)^2 over P rows ld floats apart, accumulators in
// registers; the last vector is masked by mt. nv is a compile-time constant after inlining; up
// to 4 vectors take two interleaved row streams (4 chains per vector), wider ones one
// (2 nv >= 10 chains).
QN_INLINE void sums_block(const int nv, size_t P, size_t ld, const float *x, const float *x0, __mmask16 mt,
                          float *s1, float *s2) {
    const int two = nv <= 4;
    __m512 z[SUMS_NV], a1[SUMS_NV], a2[SUMS_NV], b1[SUMS_NV], b2[SUMS_NV];
#pragma GCC unroll 8
    for (int j = 0; j < nv; j++) {
        const __mmask16 m = j == nv - 1 ? mt : (__mmask16)0xffff;
        z[j] = _mm512_maskz_loadu_ps(m, x0 + 16 * j);
        a1[j] = _mm512_maskz_loadu_ps(m, s1 + 16 * j);
        a2[j] = _mm512_maskz_loadu_ps(m, s2 + 16 * j);
        b1[j] = b2[j] = _mm512_setzero_ps();
    }
    size_t p = 0;
    for (; two && p + 2 <= P; p += 2) {
        const float *r = x + p * ld;
#pragma GCC unroll 8
        for (int j = 0; j < nv; j++) {
            const __mmask16 m = j == nv - 1 ? mt : (__mmask16)0xffff;
            __m512 u = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r + 16 * j), z[j]);
            __m512 v = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r + ld + 16 * j), z[j]);
            a1[j] = _mm512_add_ps(a1[j], u), a2[j] = _mm512_fmadd_ps(u, u, a2[j]);
            b1[j] = _mm512_add_ps(b1[j], v), b2[j] = _mm512_fmadd_ps(v, v, b2[j]);
        }
    }
    for (; p < P; p++) {
        const float *r = x + p * ld;
#pragma GCC unroll 8
        for (int j = 0; j < nv; j++) {
            const __mmask16 m = j == nv - 1 ? mt : (__mmask16)0xffff;
            __m512 u = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, r + 16 * j), z[j]);
            a1[j] = _mm512_add_ps(a1[j], u), a2[j] = _mm512_fmadd_ps(u, u, a2[j]);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < nv; j++) {
        const __mmask16 m = j == nv - 1 ? mt : (__mmask16)0xffff;
        _mm512_mask_storeu_ps(s1 + 16 * j, m, two ? _mm512_add_ps(a1[j], b1[j]) : a1[j]);
        _mm512_mask_storeu_ps(s2 + 16 * j, m, two ? _mm512_add_ps(a2[j], b2[j]) : a2[j]);
    }
}

static void sums_block_any(int nv, size_t P, size_t ld, const float *x, const float *x0, __mmask16 mt, float *s1,
                           float *s2) {
    switch (nv) {
    case 1: sums_block(1, P, ld, x, x0, mt, s1, s2); break;
    case 2: sums_block(2, P, ld, x, x0, mt, s1, s2); break;
    case 3: sums_block(3, P, ld, x, x0, mt, s1, s2); break;
    case 4: sums_block(4, P, ld, x, x0, mt, s1, s2); break;
    case 5: sums_block(5, P, ld, x, x0, mt, s1, s2); break;
    case 6: sums_block(6, P, ld, x, x0, mt, s1, s2); break;
    case 7: sums_block(7, P, ld, x, x0, mt, s1, s2); break;
    default: sums_block(8, P, ld, x, x0, mt, s1, s2); break;
    }
}

// Forward rows wider than one block (C > 128: in the MBConv space at batch 128 only at
// P = 2048, where x is the conv output just written and still in L2/L3). The channels split
// into equal blocks of at most 8 vectors, each summed down a tile of rows (64 KiB, in L2 for
// the next blocks) with its accumulators in registers: 2-3x faster than a row sweep with
// accumulators in memory from L2/L3, about 0.8x from DRAM (much larger batches), where the
// blocks break the sequential stream the prefetchers follow.
#define SUMS_TILE_FLOATS 16384

static void sums_wide(size_t P, int W, const float *x, const float *x0, float *s1, float *s2) {
    const int nvec = (W + 15) / 16, nb = (nvec + SUMS_NV - 1) / SUMS_NV, per = (nvec + nb - 1) / nb;
    const size_t tile = QN_MAX((size_t)2, SUMS_TILE_FLOATS / (size_t)W);
    for (size_t p0 = 0; p0 < P; p0 += tile) {
        const size_t n = QN_MIN(tile, P - p0);
        for (int c = 0; c < W; c += 16 * per) {
            const int nv = QN_MIN(per, (W - c + 15) / 16);
            sums_block_any(nv, n, W, x + p0 * W + c, x0 + c, tail_mask(c + 16 * (nv - 1), W), s1 + c, s2 + c);
        }
    }
}

// The W channels of P contiguous rows.
static void sums_rows(size_t P, int W, const float *x, const float *x0, float *s1, float *s2) {
    const __mmask16 mt = W % 16 ? (__mmask16)((1u << (W % 16)) - 1) : (__mmask16)0xffff;
    if (W > 16 * SUMS_NV) sums_wide(P, W, x, x0, s1, s2);
    else sums_block_any((W + 15) / 16, P, (size_t)W, x, x0, mt, s1, s2);
}

// dz = dy * act'(x * sc + sh), s1 += dz, s2 += dz * x; as sums_block, but always one row stream:
// with 2 streamed loads, a store and the activation mask per vector the adds are off the
// critical path, and two interleaved rows streamed up to 1.3x slower from L3/DRAM (C = 8, 12,
// 48). The pre-activation is the forward's fmadd (bn_act_rows) on the same operands.
QN_INLINE void act_bwd_block(const int act, const int nv, size_t P, size_t ld, const float *x, const float *sc,
                             const float *sh, const float *dy, float *dz, __mmask16 mt, float *s1, float *s2) {
    __m512 a1[SUMS_NV], a2[SUMS_NV];
#pragma GCC unroll 8
    for (int j = 0; j < nv; j++) {
        const __mmask16 m = j == nv - 1 ? mt : (__mmask16)0xffff;
        a1[j] = _mm512_maskz_loadu_ps(m, s1 + 16 * j);
        a2[j] = _mm512_maskz_loadu_ps(m, s2 + 16 * j);
    }
    for (size_t p = 0; p < P; p++) {
        const size_t o = p * ld;
#pragma GCC unroll 8
        for (int j = 0; j < nv; j++) {
            const __mmask16 m = j == nv - 1 ? mt : (__mmask16)0xffff;
            const size_t i = o + 16 * j;
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
            __m512 g = _mm512_maskz_loadu_ps(m, dy + i);
            if (act != QN_ACT_NONE)
                g = act_grad(act, _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, sc + 16 * j),
                                                  _mm512_maskz_loadu_ps(m, sh + 16 * j)), g);
            _mm512_mask_storeu_ps(dz + i, m, g);
            a1[j] = _mm512_add_ps(a1[j], g), a2[j] = _mm512_fmadd_ps(g, xv, a2[j]);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < nv; j++) {
        const __mmask16 m = j == nv - 1 ? mt : (__mmask16)0xffff;
        _mm512_mask_storeu_ps(s1 + 16 * j, m, a1[j]);
        _mm512_mask_storeu_ps(s2 + 16 * j, m, a2[j]);
    }
}

// Backward rows wider than one block: one row after the other, accumulators in memory. Wide
// rows have enough independent vectors per row to hide the store-to-load forwarding, and the
// strictly sequential sweep keeps the hardware prefetchers streaming. Channel blocks sweeping
// a tile of rows each (as sums_wide) were no faster from L3 and 2x slower from DRAM: the pass
// moves 4 arrays and is bound by bandwidth either way.
QN_INLINE void act_bwd_wide(const int act, size_t P, int C, const float *x, const float *sc, const float *sh,
                            const float *dy, float *dz, float *s1, float *s2) {
    for (size_t p = 0; p < P; p++) {
        const size_t o = p * C;
        for (int c = 0; c < C; c += 16) {
            const __mmask16 m = tail_mask(c, C);
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + o + c);
            __m512 g = _mm512_maskz_loadu_ps(m, dy + o + c);
            if (act != QN_ACT_NONE)
                g = act_grad(act, _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, sc + c), _mm512_maskz_loadu_ps(m, sh + c)), g);
            _mm512_mask_storeu_ps(dz + o + c, m, g);
            _mm512_mask_storeu_ps(s1 + c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, s1 + c), g));
            _mm512_mask_storeu_ps(s2 + c, m, _mm512_fmadd_ps(g, xv, _mm512_maskz_loadu_ps(m, s2 + c)));
        }
    }
}

// act is a compile-time constant in each caller of this one (see act_bwd_rows).
QN_INLINE void act_bwd_rows_act(const int act, size_t P, int W, const float *x, const float *sc, const float *sh, const float *dy,
                                float *dz, float *s1, float *s2) {
    const __mmask16 mt = W % 16 ? (__mmask16)((1u << (W % 16)) - 1) : (__mmask16)0xffff;
    switch ((W + 15) / 16) {
    case 1: act_bwd_block(act, 1, P, W, x, sc, sh, dy, dz, mt, s1, s2); break;
    case 2: act_bwd_block(act, 2, P, W, x, sc, sh, dy, dz, mt, s1, s2); break;
    case 3: act_bwd_block(act, 3, P, W, x, sc, sh, dy, dz, mt, s1, s2); break;
    case 4: act_bwd_block(act, 4, P, W, x, sc, sh, dy, dz, mt, s1, s2); break;
    case 5: act_bwd_block(act, 5, P, W, x, sc, sh, dy, dz, mt, s1, s2); break;
    case 6: act_bwd_block(act, 6, P, W, x, sc, sh, dy, dz, mt, s1, s2); break;
    case 7: act_bwd_block(act, 7, P, W, x, sc, sh, dy, dz, mt, s1, s2); break;
    case 8: act_bwd_block(act, 8, P, W, x, sc, sh, dy, dz, mt, s1, s2); break;
    default: act_bwd_wide(act, P, W, x, sc, sh, dy, dz, s1, s2); break;
    }
}

static void act_bwd_rows(int act, size_t P, int W, const float *x, const float *sc, const float *sh, const float *dy, float *dz,
                         float *s1, float *s2) {
    switch (act) {
    case QN_ACT_RELU: act_bwd_rows_act(QN_ACT_RELU, P, W, x, sc, sh, dy, dz, s1, s2); break;
    case QN_ACT_RELU6: act_bwd_rows_act(QN_ACT_RELU6, P, W, x, sc, sh, dy, dz, s1, s2); break;
    case QN_ACT_HSWISH: act_bwd_rows_act(QN_ACT_HSWISH, P, W, x, sc, sh, dy, dz, s1, s2); break;
    default: act_bwd_rows_act(QN_ACT_NONE, P, W, x, sc, sh, dy, dz, s1, s2); break;
    }
}

// Super-rows for the sums: the first multiple of 16 channels that is at least 48 (C = 8 -> 64,
// 12 and 24 -> 48); at most 128, one register-blocked row of full vectors. 3 or 4 vectors in
// two row streams ran faster than 6 in one (C = 12, 24 as 96-wide super-rows).
#define SUMS_MIN_W 48
#define SUMS_MAX_W (16 * SUMS_NV)

void qn_f32_bn_sums__avx512(size_t P, int C, const float *x, const float *x0, float *s1, float *s2) {
    const int k = super_rows(C, SUMS_MIN_W, SUMS_MAX_W);
    if (k > 1 && P >= (size_t)k) {
        const int W = k * C;
        float z[SUMS_MAX_W], t1[SUMS_MAX_W], t2[SUMS_MAX_W];
        for (int i = 0; i < W; i++) z[i] = x0[i % C], t1[i] = t2[i] = 0.0f;
        sums_rows(P / k, W, x, z, t1, t2);
        for (int j = 0; j < k; j++)
            for (int c = 0; c < C; c++) s1[c] += t1[j * C + c], s2[c] += t2[j * C + c];
        x += P / k * (size_t)W;
        P %= (size_t)k;
    }
    if (P) sums_rows(P, C, x, x0, s1, s2);
}

void qn_f32_act_bwd_sums__avx512(size_t P, int C, const float *x, const float *scale, const float *shift,
                                 const float *dy, int act, float *dz, float *s1, float *s2) {
    if (act == QN_ACT_GELU) {
        qn_f32_act_bwd_sums__scalar(P, C, x, scale, shift, dy, act, dz, s1, s2);
        return;
    }
    const int k = super_rows(C, SUMS_MIN_W, SUMS_MAX_W);
    if (k > 1 && P >= (size_t)k) {
        const int W = k * C;
        const size_t n = P / k * (size_t)W;
        float t1[SUMS_MAX_W], t2[SUMS_MAX_W], sc[SUMS_MAX_W], sh[SUMS_MAX_W];
        for (int i = 0; i < W; i++) t1[i] = t2[i] = 0.0f;
        if (act != QN_ACT_NONE)
            for (int i = 0; i < W; i++) sc[i] = scale[i % C], sh[i] = shift[i % C];
        act_bwd_rows(act, P / k, W, x, sc, sh, dy, dz, t1, t2);
        for (int j = 0; j < k; j++)
            for (int c = 0; c < C; c++) s1[c] += t1[j * C + c], s2[c] += t2[j * C + c];
        x += n, dy += n, dz += n;
        P %= (size_t)k;
    }
    if (P) act_bwd_rows(act, P, C, x, scale, shift, dy, dz, s1, s2);
}

// --- elementwise passes ---

QN_INLINE void bn_act_rows(const int act, size_t P, int W, const float *x, const float *scale, const float *shift,
                           float *y) {
    for (size_t p = 0; p < P; p++) {
        const size_t o = p * W;
        for (int c = 0; c < W; c += 16) {
            __mmask16 m = tail_mask(c, W);
            __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + o + c), _mm512_maskz_loadu_ps(m, scale + c),
                                       _mm512_maskz_loadu_ps(m, shift + c));
            _mm512_mask_storeu_ps(y + o + c, m, act_fwd(act, v));
        }
    }
}

static void bn_act_any(int act, size_t P, int W, const float *x, const float *scale, const float *shift,
                       float *y) {
    switch (act) {
    case QN_ACT_RELU: bn_act_rows(QN_ACT_RELU, P, W, x, scale, shift, y); break;
    case QN_ACT_RELU6: bn_act_rows(QN_ACT_RELU6, P, W, x, scale, shift, y); break;
    case QN_ACT_HSWISH: bn_act_rows(QN_ACT_HSWISH, P, W, x, scale, shift, y); break;
    default: bn_act_rows(QN_ACT_NONE, P, W, x, scale, shift, y); break;
    }
}

void qn_f32_bn_act__avx512(size_t P, int C, const float *x, const float *scale, const float *shift, int act,
                           float *y) {
    if (act == QN_ACT_GELU) {
        qn_f32_bn_act__scalar(P, C, x, scale, shift, act, y);
        return;
    }
    const int k = super_rows(C, 0, SUPER_MAX);
    if (k > 1 && P >= (size_t)k) {
        const int W = k * C;
        const size_t n = P / k * (size_t)W;
        float sc[SUPER_MAX], sh[SUPER_MAX];
        for (int i = 0; i < W; i++) sc[i] = scale[i % C], sh[i] = shift[i % C];
        bn_act_any(act, P / k, W, x, sc, sh, y);
        x += n, y += n;
        P %= (size_t)k;
    }
    bn_act_any(act, P, C, x, scale, shift, y);
}

static void bn_bwd_dx_rows(size_t P, int W, const float *x, const float *dz, const float *a, const float *b,
                           const float *d, float *dx) {
    for (size_t p = 0; p < P; p++) {
        const size_t o = p * W;
        for (int c = 0; c < W; c += 16) {
            __mmask16 m = tail_mask(c, W);
            __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + c), _mm512_maskz_loadu_ps(m, dz + o + c),
                                       _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, b + c), _mm512_maskz_loadu_ps(m, x + o + c),
                                                       _mm512_maskz_loadu_ps(m, d + c)));
            _mm512_mask_storeu_ps(dx + o + c, m, v);
        }
    }
}

void qn_f32_bn_bwd_dx__avx512(size_t P, int C, const float *x, const float *dz, const float *a, const float *b,
                              const float *d, float *dx) {
    const int k = super_rows(C, 0, SUPER_MAX);
    if (k > 1 && P >= (size_t)k) {
        const int W = k * C;
        const size_t n = P / k * (size_t)W;
        float ra[SUPER_MAX], rb[SUPER_MAX], rd[SUPER_MAX];
        for (int i = 0; i < W; i++) ra[i] = a[i % C], rb[i] = b[i % C], rd[i] = d[i % C];
        bn_bwd_dx_rows(P / k, W, x, dz, ra, rb, rd, dx);
        x += n, dz += n, dx += n;
        P %= (size_t)k;
    }
    bn_bwd_dx_rows(P, C, x, dz, a, b, d, dx);
}
