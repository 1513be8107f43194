// AVX-512 depthwise training kernels: 16 channels per zmm (masked tail), only the taps inside the
// image, no padded copies.
//
// All three walk one 16-channel block of the image at a time (its slice of a map up to 14x14 sits
// in L1). k, the stride and the register tile are compile-time, so the tap loops unroll
// completely; a window pixel outside the image costs one predictable test per kernel row and
// nothing else, and a kernel row that misses the image is not visited at all.
//
// Forward and input gradient hold one kernel row's weights in k registers and a tile of RH x UR
// outputs (RH rows, UR consecutive pixels; 4 x 4 on the 4x4 maps, 2 x 8 or 2 x 7 on wider ones):
// each weight load serves every row of the tile, each input pixel every output it reaches, and
// 14-16 independent FMA chains are in flight. Column blocks tile a row exactly (block_width).
// The input gradient is the transposed convolution; for stride 2 the image splits into its four
// (row, column) parity phases, each a stride-1 correlation of dy with the taps of one parity
// (polyphase), so no zero of a dilated dy is ever visited.
// The weight gradient keeps the k accumulators of 2 kernel rows (3 for k = 3 and on maps 4
// pixels wide or less) in registers while every output row those kernel rows touch streams by,
// UR gradient pixels at a time.
// Forward and input gradient prefetch the lines a tile will store (see prefetch_out).
#include <immintrin.h>
#include <stddef.h>

#include "f32-dwconv-train/f32-dwconv-train.h"

#define QN_AI static inline __attribute__((always_inline))

QN_AI __mmask16 tail_mask(int c, int C) { return C - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (C - c)) - 1); }

QN_AI int imin(int a, int b) { return a < b ? a : b; }
QN_AI int imax(int a, int b) { return a > b ? a : b; }

// Register tiles: RH rows x UR pixels, RH = 4 when a row has 4 pixels or fewer (the 4x4 maps:
// 16 accumulators, the whole map), else 2. Column blocks tile a row of `rem` pixels exactly:
// in 2-row tiles widest first, 8 (14 = 7 + 7: the supernet's 14-wide maps), 7, 4, then single
// pixels; in 4-row tiles the whole row (1 to 4).
QN_AI int tile_rows(int w) { return w <= 4 ? 4 : 2; }
QN_AI int block_width(int rem, const int RH) {
    if (RH == 4) return rem < 4 ? rem : 4;
    return rem >= 8 && rem != 14 ? 8 : rem >= 7 ? 7 : rem >= 4 ? 4 : 1;
}

// Touches the lines a tile will store (nr rows of UR pixels, `ld` floats between pixels) before
// computing it: when the batch streams from memory the outputs are not in cache, and their
// read-for-ownership misses stalled the stores at the end of every tile (28x28 stride-2 input
// gradient at batch 128, 1 thread: 3.3-3.8 ms without, 2.2-2.8 ms with).
QN_AI void prefetch_out(const float *p, size_t row, size_t ld, int nr, const int RH, const int UR) {
#pragma GCC unroll 4
    for (int r = 0; r < RH; r++) {
        if (r >= nr) break;
#pragma GCC unroll 8
        for (int u = 0; u < UR; u++) _mm_prefetch((const char *)(p + r * row + u * ld), _MM_HINT_T0);
    }
}

// --- forward ---

// NR input rows xr[r] against one kernel row's weights wv[K], into acc[r][UR]: output u reads
// window pixel p = u*S + j (column x0 + p) with tap j. The rows interleave pixel by pixel, so the
// chains of NR rows advance together.
QN_AI void fwd_rows(__m512 (*acc)[8], const __m512 *wv, const float *const *xr, size_t C, ptrdiff_t x0, size_t W,
                    __mmask16 m, const int K, const int S, const int NR, const int UR) {
#pragma GCC unroll 32
    for (int p = 0; p < (UR - 1) * S + K; p++) {
        if ((size_t)(x0 + p) >= W) continue;  // outside [0, W)
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            const __m512 v = _mm512_maskz_loadu_ps(m, xr[r] + (x0 + p) * (ptrdiff_t)C);
#pragma GCC unroll 8
            for (int u = 0; u < UR; u++)
                if (p >= u * S && p - u * S < K) acc[r][u] = _mm512_fmadd_ps(v, wv[p - u * S], acc[r][u]);
        }
    }
}

// Output rows oh0 .. oh0+RH-1 (those below Ho), columns ow0 .. ow0+UR-1; x, w, y are already
// offset to the channel block.
QN_AI void fwd_tile(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h, size_t ws_w,
                    float *y, int oh0, int ow0, __mmask16 m, const int K, const int S, const int RH, const int UR) {
    const int P = K / 2, H = s->H, nr = imin(RH, s->Ho - oh0);
    const size_t C = (size_t)s->C, row = (size_t)s->W * C;
    const int ih0 = oh0 * S - P;  // input row of tile row 0 under kernel row 0
    const ptrdiff_t x0 = (ptrdiff_t)ow0 * S - P;
    __m512 acc[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < RH; r++)
#pragma GCC unroll 8
        for (int u = 0; u < UR; u++) acc[r][u] = _mm512_setzero_ps();
    float *yp = y + ((size_t)oh0 * s->Wo + ow0) * C;
    prefetch_out(yp, (size_t)s->Wo * C, C, nr, RH, UR);
    // kernel rows that reach the image from some row of the tile
    const int i_lo = imax(0, -(ih0 + (nr - 1) * S)), i_hi = imin(K, H - ih0);
    for (int i = i_lo; i < i_hi; i++) {
        __m512 wv[7];
#pragma GCC unroll 7
        for (int j = 0; j < K; j++) wv[j] = _mm512_maskz_loadu_ps(m, w + i * ws_h + j * ws_w);
        const float *xr[4];
        int ok[4], all = 1;
#pragma GCC unroll 4
        for (int r = 0; r < RH; r++) {
            const int ih = ih0 + r * S + i;
            ok[r] = r < nr && (unsigned)ih < (unsigned)H;
            xr[r] = x + (ok[r] ? (size_t)ih * row : 0);
            all &= ok[r];
        }
        if (all) {  // every tile row: interleaved
            fwd_rows(acc, wv, xr, C, x0, (size_t)s->W, m, K, S, RH, UR);
            continue;
        }
#pragma GCC unroll 4
        for (int r = 0; r < RH; r++)
            if (ok[r]) fwd_rows(acc + r, wv, xr + r, C, x0, (size_t)s->W, m, K, S, 1, UR);
    }
#pragma GCC unroll 4
    for (int r = 0; r < RH; r++) {
        if (r >= nr) break;
#pragma GCC unroll 8
        for (int u = 0; u < UR; u++) _mm512_mask_storeu_ps(yp + (size_t)r * s->Wo * C + u * C, m, acc[r][u]);
    }
}

QN_AI void fwd_image(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h, size_t ws_w, float *y,
                     __mmask16 m, const int K, const int S, const int RH) {
    for (int oh = 0; oh < s->Ho; oh += RH)
        for (int ow = 0; ow < s->Wo;) {
            const int n = block_width(s->Wo - ow, RH);
            if (RH == 2 && n == 8) fwd_tile(s, x, w, ws_h, ws_w, y, oh, ow, m, K, S, RH, 8);
            else if (RH == 2 && n == 7) fwd_tile(s, x, w, ws_h, ws_w, y, oh, ow, m, K, S, RH, 7);
            else if (n == 4) fwd_tile(s, x, w, ws_h, ws_w, y, oh, ow, m, K, S, RH, 4);
            else if (RH == 4 && n == 3) fwd_tile(s, x, w, ws_h, ws_w, y, oh, ow, m, K, S, RH, 3);
            else if (RH == 4 && n == 2) fwd_tile(s, x, w, ws_h, ws_w, y, oh, ow, m, K, S, RH, 2);
            else fwd_tile(s, x, w, ws_h, ws_w, y, oh, ow, m, K, S, RH, 1);
            ow += n;
        }
}

QN_AI void fwd_k(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h, size_t ws_w, float *y,
                 const int K, const int S) {
    for (int cb = 0; cb < s->C; cb += 16) {
        const __mmask16 m = tail_mask(cb, s->C);
        if (tile_rows(s->Wo) == 4) fwd_image(s, x + cb, w + cb, ws_h, ws_w, y + cb, m, K, S, 4);
        else fwd_image(s, x + cb, w + cb, ws_h, ws_w, y + cb, m, K, S, 2);
    }
}

void qn_f32_dwconv_fwd__avx512(const struct qn_dwt_shape *s, const float *x, const float *w, size_t ws_h,
                               size_t ws_w, float *y) {
    const int st = s->stride;
    if (s->k == 3 && st == 1) fwd_k(s, x, w, ws_h, ws_w, y, 3, 1);
    else if (s->k == 3 && st == 2) fwd_k(s, x, w, ws_h, ws_w, y, 3, 2);
    else if (s->k == 5 && st == 1) fwd_k(s, x, w, ws_h, ws_w, y, 5, 1);
    else if (s->k == 5 && st == 2) fwd_k(s, x, w, ws_h, ws_w, y, 5, 2);
    else if (s->k == 7 && st == 1) fwd_k(s, x, w, ws_h, ws_w, y, 7, 1);
    else if (s->k == 7 && st == 2) fwd_k(s, x, w, ws_h, ws_w, y, 7, 2);
    else qn_f32_dwconv_fwd__scalar(s, x, w, ws_h, ws_w, y);
}

// --- input gradient ---

// Phase PH of one dimension (dx index ih = t*S + PH) is a stride-1 correlation over t: output t
// takes dy index t + CO - m with tap J0 + S*m, m in [0, M). For stride 1 that is every tap
// (M = k, CO = p); for stride 2 the taps of one parity. Compile-time for the column phase,
// runtime for the row phase.
QN_AI int dx_j0(int K, int S, int ph) { return S == 1 ? 0 : (ph + K / 2) & 1; }
QN_AI int dx_m(int K, int S, int ph) { return S == 1 ? K : (K - dx_j0(K, S, ph) + 1) / 2; }
QN_AI int dx_co(int K, int S, int ph) { return S == 1 ? K / 2 : (ph + K / 2 - dx_j0(K, S, ph)) / 2; }

// NR dy rows gr[r] against one kernel row's phase taps wv[M], into acc[r][UR]: the window is dy
// columns q0 + q, q in [0, UR + M - 1); output u takes window pixel q with m = u + M - 1 - q.
QN_AI void dx_rows(__m512 (*acc)[8], const __m512 *wv, const float *const *gr, size_t C, ptrdiff_t q0, size_t Wo,
                   __mmask16 m, const int M, const int NR, const int UR) {
#pragma GCC unroll 16
    for (int q = 0; q < UR + M - 1; q++) {
        if ((size_t)(q0 + q) >= Wo) continue;
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            const __m512 v = _mm512_maskz_loadu_ps(m, gr[r] + (q0 + q) * (ptrdiff_t)C);
#pragma GCC unroll 8
            for (int u = 0; u < UR; u++)
                if (u + M - 1 - q >= 0 && u + M - 1 - q < M)
                    acc[r][u] = _mm512_fmadd_ps(v, wv[u + M - 1 - q], acc[r][u]);
        }
    }
}

// dx rows th0*S + PH, (th0+1)*S + PH, ... (RH of them, those inside the image) x columns
// t0*S + PHI, (t0+1)*S + PHI, ... (UR).
QN_AI void dx_tile(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h, size_t ws_w,
                   float *dx, int ph, int th0, int t0, __mmask16 m, const int K, const int S, const int PHI,
                   const int RH, const int UR) {
    const int J0 = dx_j0(K, S, PHI), M = dx_m(K, S, PHI), CO = dx_co(K, S, PHI);
    const int jh = dx_j0(K, S, ph), Mh = dx_m(K, S, ph), coh = dx_co(K, S, ph);
    const int Ho = s->Ho, nr = imin(RH, (s->H - ph + S - 1) / S - th0);
    const size_t C = (size_t)s->C, row = (size_t)s->Wo * C;
    const ptrdiff_t q0 = (ptrdiff_t)t0 + CO - (M - 1);
    __m512 acc[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < RH; r++)
#pragma GCC unroll 8
        for (int u = 0; u < UR; u++) acc[r][u] = _mm512_setzero_ps();
    float *dp = dx + ((size_t)(th0 * S + ph) * s->W + (size_t)t0 * S + PHI) * C;
    prefetch_out(dp, (size_t)S * s->W * C, (size_t)S * C, nr, RH, UR);
    // row taps mh with dy row oh = th0 + r + coh - mh inside [0, Ho) for some tile row
    const int mh_lo = imax(0, th0 + coh - (Ho - 1)), mh_hi = imin(Mh, th0 + nr + coh);
    for (int mh = mh_lo; mh < mh_hi; mh++) {
        const float *wr = w + (jh + S * mh) * ws_h;
        __m512 wv[7];
#pragma GCC unroll 7
        for (int mm = 0; mm < M; mm++) wv[mm] = _mm512_maskz_loadu_ps(m, wr + (J0 + S * mm) * ws_w);
        const float *gr[4];
        int ok[4], all = 1;
#pragma GCC unroll 4
        for (int r = 0; r < RH; r++) {
            const int oh = th0 + r + coh - mh;
            ok[r] = r < nr && (unsigned)oh < (unsigned)Ho;
            gr[r] = dy + (ok[r] ? (size_t)oh * row : 0);
            all &= ok[r];
        }
        if (all) {
            dx_rows(acc, wv, gr, C, q0, (size_t)s->Wo, m, M, RH, UR);
            continue;
        }
#pragma GCC unroll 4
        for (int r = 0; r < RH; r++)
            if (ok[r]) dx_rows(acc + r, wv, gr + r, C, q0, (size_t)s->Wo, m, M, 1, UR);
    }
#pragma GCC unroll 4
    for (int r = 0; r < RH; r++) {
        if (r >= nr) break;
#pragma GCC unroll 8
        for (int u = 0; u < UR; u++)
            _mm512_mask_storeu_ps(dp + (size_t)r * S * s->W * C + (size_t)u * S * C, m, acc[r][u]);
    }
}

QN_AI void dx_phase(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h, size_t ws_w,
                    float *dx, int ph, int th0, __mmask16 m, const int K, const int S, const int PHI, const int RH) {
    const int nt = (s->W - PHI + S - 1) / S;
    for (int t = 0; t < nt;) {
        const int n = block_width(nt - t, RH);
        if (RH == 2 && n == 8) dx_tile(s, dy, w, ws_h, ws_w, dx, ph, th0, t, m, K, S, PHI, RH, 8);
        else if (RH == 2 && n == 7) dx_tile(s, dy, w, ws_h, ws_w, dx, ph, th0, t, m, K, S, PHI, RH, 7);
        else if (n == 4) dx_tile(s, dy, w, ws_h, ws_w, dx, ph, th0, t, m, K, S, PHI, RH, 4);
        else if (RH == 4 && n == 3) dx_tile(s, dy, w, ws_h, ws_w, dx, ph, th0, t, m, K, S, PHI, RH, 3);
        else if (RH == 4 && n == 2) dx_tile(s, dy, w, ws_h, ws_w, dx, ph, th0, t, m, K, S, PHI, RH, 2);
        else dx_tile(s, dy, w, ws_h, ws_w, dx, ph, th0, t, m, K, S, PHI, RH, 1);
        t += n;
    }
}

QN_AI void dx_image(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h, size_t ws_w,
                    float *dx, __mmask16 m, const int K, const int S, const int RH) {
    // row tiles top to bottom, both row phases of a tile together (rows 0, 2 | 1, 3 | 4, 6 ...)
    for (int th = 0; th < (s->H + S - 1) / S; th += RH)
        for (int ph = 0; ph < S; ph++) {
            if (th >= (s->H - ph + S - 1) / S) break;
            dx_phase(s, dy, w, ws_h, ws_w, dx, ph, th, m, K, S, 0, RH);
            if (S == 2) dx_phase(s, dy, w, ws_h, ws_w, dx, ph, th, m, K, S, 1, RH);
        }
}

QN_AI void dx_k(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h, size_t ws_w, float *dx,
                const int K, const int S) {
    for (int cb = 0; cb < s->C; cb += 16) {
        const __mmask16 m = tail_mask(cb, s->C);
        if (tile_rows((s->W + S - 1) / S) == 4) dx_image(s, dy + cb, w + cb, ws_h, ws_w, dx + cb, m, K, S, 4);
        else dx_image(s, dy + cb, w + cb, ws_h, ws_w, dx + cb, m, K, S, 2);
    }
}

void qn_f32_dwconv_dx__avx512(const struct qn_dwt_shape *s, const float *dy, const float *w, size_t ws_h,
                              size_t ws_w, float *dx) {
    const int st = s->stride;
    if (s->k == 3 && st == 1) dx_k(s, dy, w, ws_h, ws_w, dx, 3, 1);
    else if (s->k == 3 && st == 2) dx_k(s, dy, w, ws_h, ws_w, dx, 3, 2);
    else if (s->k == 5 && st == 1) dx_k(s, dy, w, ws_h, ws_w, dx, 5, 1);
    else if (s->k == 5 && st == 2) dx_k(s, dy, w, ws_h, ws_w, dx, 5, 2);
    else if (s->k == 7 && st == 1) dx_k(s, dy, w, ws_h, ws_w, dx, 7, 1);
    else if (s->k == 7 && st == 2) dx_k(s, dy, w, ws_h, ws_w, dx, 7, 2);
    else qn_f32_dwconv_dx__scalar(s, dy, w, ws_h, ws_w, dx);
}

// --- weight gradient ---

// Gradient pixels g[UR] of one output row against NR input rows xr[r], into the k accumulators
// acc[r] of NR kernel rows: window pixel p (column x0 + p) meets gradient pixel u at tap
// j = p - u*S. The rows interleave pixel by pixel.
QN_AI void wg_rows(__m512 (*acc)[7], const __m512 *g, const float *const *xr, size_t C, ptrdiff_t x0, size_t W,
                   __mmask16 m, const int K, const int S, const int NR, const int UR) {
#pragma GCC unroll 32
    for (int p = 0; p < (UR - 1) * S + K; p++) {
        if ((size_t)(x0 + p) >= W) continue;
#pragma GCC unroll 3
        for (int r = 0; r < NR; r++) {
            const __m512 v = _mm512_maskz_loadu_ps(m, xr[r] + (x0 + p) * (ptrdiff_t)C);
#pragma GCC unroll 8
            for (int u = 0; u < UR; u++)
                if (p >= u * S && p - u * S < K) acc[r][p - u * S] = _mm512_fmadd_ps(v, g[u], acc[r][p - u * S]);
        }
    }
}

// Kernel rows i0 .. i0+RI-1 (those below K) against output row oh, gradient pixels ow0 ...
QN_AI void wg_block(const struct qn_dwt_shape *s, __m512 (*acc)[7], const float *x, const float *gr, int i0, int oh,
                    int ow0, __mmask16 m, const int K, const int S, const int RI, const int UR) {
    const size_t C = (size_t)s->C, row = (size_t)s->W * C;
    const ptrdiff_t x0 = (ptrdiff_t)ow0 * S - K / 2;
    __m512 g[8];
#pragma GCC unroll 8
    for (int u = 0; u < UR; u++) g[u] = _mm512_maskz_loadu_ps(m, gr + (size_t)(ow0 + u) * C);
    const float *xr[3];
    int ok[3], all = 1;
#pragma GCC unroll 3
    for (int r = 0; r < RI; r++) {
        const int ih = oh * S + i0 + r - K / 2;
        ok[r] = i0 + r < K && (unsigned)ih < (unsigned)s->H;
        xr[r] = x + (ok[r] ? (size_t)ih * row : 0);
        all &= ok[r];
    }
    if (all) {
        wg_rows(acc, g, xr, C, x0, (size_t)s->W, m, K, S, RI, UR);
        return;
    }
#pragma GCC unroll 3
    for (int r = 0; r < RI; r++)
        if (ok[r]) wg_rows(acc + r, g, xr + r, C, x0, (size_t)s->W, m, K, S, 1, UR);
}

// RI kernel rows per pass: 3 when their 3k accumulators leave room for the gradient pixels
// (k = 3, or rows of 4 pixels or fewer), else 2.
QN_AI void wg_image(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw, size_t ds_h,
                    size_t ds_w, __mmask16 m, const int K, const int S, const int RI, const int RH) {
    const int P = K / 2;
    const size_t grow = (size_t)s->Wo * s->C;
    for (int i0 = 0; i0 < K; i0 += RI) {
        const int il = imin(i0 + RI, K) - 1;  // last kernel row of this pass
        __m512 acc[3][7];
#pragma GCC unroll 3
        for (int r = 0; r < RI; r++)
#pragma GCC unroll 7
            for (int j = 0; j < K; j++) acc[r][j] = _mm512_setzero_ps();
        // output rows whose input row oh*S + i - P is inside the image for some i in [i0, il]
        const int oh_lo = imax(0, (P - il + S - 1) / S), last = s->H - 1 + P - i0;
        const int oh_hi = last < 0 ? 0 : imin(s->Ho, last / S + 1);
        for (int oh = oh_lo; oh < oh_hi; oh++) {
            const float *gr = dy + (size_t)oh * grow;
            for (int ow = 0; ow < s->Wo;) {
                const int n = block_width(s->Wo - ow, RH);
                if (RH == 2 && n == 8) wg_block(s, acc, x, gr, i0, oh, ow, m, K, S, RI, 8);
                else if (RH == 2 && n == 7) wg_block(s, acc, x, gr, i0, oh, ow, m, K, S, RI, 7);
                else if (n == 4) wg_block(s, acc, x, gr, i0, oh, ow, m, K, S, RI, 4);
                else if (RH == 4 && n == 3) wg_block(s, acc, x, gr, i0, oh, ow, m, K, S, RI, 3);
                else if (RH == 4 && n == 2) wg_block(s, acc, x, gr, i0, oh, ow, m, K, S, RI, 2);
                else wg_block(s, acc, x, gr, i0, oh, ow, m, K, S, RI, 1);
                ow += n;
            }
        }
#pragma GCC unroll 3
        for (int r = 0; r < RI; r++) {
            if (i0 + r >= K) break;
#pragma GCC unroll 7
            for (int j = 0; j < K; j++) {
                float *d = dw + (i0 + r) * ds_h + j * ds_w;
                _mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), acc[r][j]));
            }
        }
    }
}

QN_AI void wg_k(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw, size_t ds_h, size_t ds_w,
                const int K, const int S) {
    for (int cb = 0; cb < s->C; cb += 16) {
        const __mmask16 m = tail_mask(cb, s->C);
        if (tile_rows(s->Wo) == 4) wg_image(s, x + cb, dy + cb, dw + cb, ds_h, ds_w, m, K, S, 3, 4);
        else wg_image(s, x + cb, dy + cb, dw + cb, ds_h, ds_w, m, K, S, K == 3 ? 3 : 2, 2);
    }
}

void qn_f32_dwconv_wgrad__avx512(const struct qn_dwt_shape *s, const float *x, const float *dy, float *dw,
                                 size_t ds_h, size_t ds_w) {
    const int st = s->stride;
    if (s->k == 3 && st == 1) wg_k(s, x, dy, dw, ds_h, ds_w, 3, 1);
    else if (s->k == 3 && st == 2) wg_k(s, x, dy, dw, ds_h, ds_w, 3, 2);
    else if (s->k == 5 && st == 1) wg_k(s, x, dy, dw, ds_h, ds_w, 5, 1);
    else if (s->k == 5 && st == 2) wg_k(s, x, dy, dw, ds_h, ds_w, 5, 2);
    else if (s->k == 7 && st == 1) wg_k(s, x, dy, dw, ds_h, ds_w, 7, 1);
    else if (s->k == 7 && st == 2) wg_k(s, x, dy, dw, ds_h, ds_w, 7, 2);
    else qn_f32_dwconv_wgrad__scalar(s, x, dy, dw, ds_h, ds_w);
}
