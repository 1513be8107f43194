// Training layers (see nn.h). Dense and pointwise convolutions run on the FP32 GEMM; the
// others are plain loops over NHWC laid out so the channel loop is innermost and contiguous.
#include "nn.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "cpu.h"
#include "f32-bn/f32-bn.h"
#include "f32-dwconv-train/f32-dwconv-train.h"

// --- kernel configs per ISA level ---

struct nn_config {
    qn_f32_dwconv_fwd_fn dw_fwd;
    qn_f32_dwconv_dx_fn dw_dx;
    qn_f32_dwconv_wgrad_fn dw_wgrad;
    qn_f32_bn_sums_fn bn_sums;
    qn_f32_bn_act_fn bn_act;
    qn_f32_act_bwd_sums_fn act_bwd_sums;
    qn_f32_bn_bwd_dx_fn bn_bwd_dx;
};

static struct nn_config nn_configs[QN_ISA_COUNT];
static pthread_once_t nn_once = PTHREAD_ONCE_INIT;

static void nn_init(void) {
    // AVX2 levels use the portable kernels for now (training runs on the AVX-512 machine).
    for (int i = 0; i < QN_ISA_COUNT; i++)
        nn_configs[i] = (struct nn_config){qn_f32_dwconv_fwd__scalar, qn_f32_dwconv_dx__scalar,
                                           qn_f32_dwconv_wgrad__scalar, qn_f32_bn_sums__scalar,
                                           qn_f32_bn_act__scalar, qn_f32_act_bwd_sums__scalar,
                                           qn_f32_bn_bwd_dx__scalar};
    nn_configs[QN_ISA_AVX512] = (struct nn_config){qn_f32_dwconv_fwd__avx512, qn_f32_dwconv_dx__avx512,
                                                   qn_f32_dwconv_wgrad__avx512, qn_f32_bn_sums__avx512,
                                                   qn_f32_bn_act__avx512, qn_f32_act_bwd_sums__avx512,
                                                   qn_f32_bn_bwd_dx__avx512};
}

static const struct nn_config *nn_config(void) {
    pthread_once(&nn_once, nn_init);
    return &nn_configs[qn_isa()];
}

const char *qn_nn_kernels_variant(void) {
    pthread_once(&nn_once, nn_init);
    return qn_isa() == QN_ISA_AVX512 ? "qn_f32_dwconv_{fwd,dx,wgrad}__avx512, qn_f32_bn_*__avx512"
                                     : "qn_f32_dwconv_{fwd,dx,wgrad}__scalar, qn_f32_bn_*__scalar";
}

static int conv_out(int h, int stride) { return (h - 1) / stride + 1; }  // padding k/2

// --- dense convolution via im2col ---

void qn_nn_conv_init(struct qn_nn_conv *c, int B, int H, int W, int Ci, int Co, int k, int stride,
                     const float *w, size_t ws_o, size_t ws_h, size_t ws_w) {
    *c = (struct qn_nn_conv){B, H, W, Ci, Co, k, stride, conv_out(H, stride), conv_out(W, stride),
                             w, ws_o, ws_h, ws_w};
}

size_t qn_nn_conv_scratch(const struct qn_nn_conv *c) {
    size_t kk = (size_t)c->k * c->k * c->Ci;
    return (size_t)c->B * c->Ho * c->Wo * kk + 2 * (size_t)c->Co * kk;
}

// col[(b, oh, ow)][(i, j, ci)]: the input patch under each output pixel; zero outside.
static void im2col(const struct qn_nn_conv *c, const float *x, float *col) {
    const int k = c->k, pad = k / 2, Ci = c->Ci;
    const size_t kk = (size_t)k * k * Ci;
#pragma omp parallel for num_threads(qn_threads()) schedule(static)
    for (int r = 0; r < c->B * c->Ho; r++) {
        int b = r / c->Ho, oh = r % c->Ho;
        for (int ow = 0; ow < c->Wo; ow++) {
            float *dst = col + ((size_t)r * c->Wo + ow) * kk;
            for (int i = 0; i < k; i++) {
                int ih = oh * c->stride + i - pad;
                for (int j = 0; j < k; j++) {
                    int iw = ow * c->stride + j - pad;
                    float *d = dst + ((size_t)i * k + j) * Ci;
                    if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) memset(d, 0, sizeof(float) * Ci);
                    else memcpy(d, x + (((size_t)b * c->H + ih) * c->W + iw) * Ci, sizeof(float) * Ci);
                }
            }
        }
    }
}

// Adds the columns back onto the image they came from (the adjoint of im2col). Parallel over
// images, so no two threads touch the same pixel.
static void col2im(const struct qn_nn_conv *c, const float *col, float *dx) {
    const int k = c->k, pad = k / 2, Ci = c->Ci;
    const size_t kk = (size_t)k * k * Ci;
    memset(dx, 0, sizeof(float) * (size_t)c->B * c->H * c->W * Ci);
#pragma omp parallel for num_threads(qn_threads()) schedule(static)
    for (int b = 0; b < c->B; b++)
        for (int oh = 0; oh < c->Ho; oh++)
            for (int ow = 0; ow < c->Wo; ow++) {
                const float *src = col + (((size_t)b * c->Ho + oh) * c->Wo + ow) * kk;
                for (int i = 0; i < k; i++) {
                    int ih = oh * c->stride + i - pad;
                    if (ih < 0 || ih >= c->H) continue;
                    for (int j = 0; j < k; j++) {
                        int iw = ow * c->stride + j - pad;
                        if (iw < 0 || iw >= c->W) continue;
                        float *d = dx + (((size_t)b * c->H + ih) * c->W + iw) * Ci;
                        const float *s = src + ((size_t)i * k + j) * Ci;
                        for (int ci = 0; ci < Ci; ci++) d[ci] += s[ci];
                    }
                }
            }
}

static void gather_w(const struct qn_nn_conv *c, float *wp) {
    const int k = c->k;
    for (int o = 0; o < c->Co; o++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                memcpy(wp + (((size_t)o * k + i) * k + j) * c->Ci, c->w + o * c->ws_o + i * c->ws_h + j * c->ws_w,
                       sizeof(float) * c->Ci);
}

void qn_nn_conv_fwd(const struct qn_nn_conv *c, const float *x, float *y, float *scratch) {
    const size_t kk = (size_t)c->k * c->k * c->Ci, P = (size_t)c->B * c->Ho * c->Wo;
    float *col = scratch, *wp = scratch + P * kk;
    im2col(c, x, col);
    gather_w(c, wp);
    qn_f32_gemm(false, true, P, (size_t)c->Co, kk, 1.0f, col, kk, wp, kk, 0.0f, y, (size_t)c->Co, NULL);
}

void qn_nn_conv_bwd(const struct qn_nn_conv *c, const float *x, const float *dy, float *dw, float *dx,
                    float *scratch) {
    const int k = c->k;
    const size_t kk = (size_t)k * k * c->Ci, P = (size_t)c->B * c->Ho * c->Wo;
    float *col = scratch, *wp = scratch + P * kk, *dwp = wp + (size_t)c->Co * kk;
    im2col(c, x, col);
    // dWp[Co][kk] = dY^T col
    qn_f32_gemm(true, false, (size_t)c->Co, kk, P, 1.0f, dy, (size_t)c->Co, col, kk, 0.0f, dwp, kk, NULL);
    for (int o = 0; o < c->Co; o++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                float *d = dw + o * c->ws_o + i * c->ws_h + j * c->ws_w;
                const float *s = dwp + (((size_t)o * k + i) * k + j) * c->Ci;
                for (int ci = 0; ci < c->Ci; ci++) d[ci] += s[ci];
            }
    if (dx) {
        gather_w(c, wp);
        qn_f32_gemm(false, false, P, kk, (size_t)c->Co, 1.0f, dy, (size_t)c->Co, wp, kk, 0.0f, col, kk, NULL);
        col2im(c, col, dx);
    }
}

// --- pointwise ---

void qn_nn_pw_fwd(size_t P, int Ci, int Co, const float *x, const float *w, size_t ldw,
                  const float *bias, float *y) {
    struct qn_epilogue ep = {.bias = bias};
    qn_f32_gemm(false, true, P, (size_t)Co, (size_t)Ci, 1.0f, x, (size_t)Ci, w, ldw, 0.0f, y, (size_t)Co,
                bias ? &ep : NULL);
}

void qn_nn_pw_bwd(size_t P, int Ci, int Co, const float *x, const float *w, size_t ldw,
                  const float *dy, float *dw, float *dbias, float *dx) {
    qn_f32_gemm(true, false, (size_t)Co, (size_t)Ci, P, 1.0f, dy, (size_t)Co, x, (size_t)Ci, 1.0f, dw, ldw, NULL);
    if (dbias)
        for (size_t p = 0; p < P; p++)
            for (int c = 0; c < Co; c++) dbias[c] += dy[p * Co + c];
    if (dx) qn_f32_gemm(false, false, P, (size_t)Ci, (size_t)Co, 1.0f, dy, (size_t)Co, w, ldw, 0.0f, dx, (size_t)Ci, NULL);
}

// --- depthwise ---

void qn_nn_dw_init(struct qn_nn_dw *d, int B, int H, int W, int C, int k, int stride, const float *w,
                   size_t ws_h, size_t ws_w) {
    *d = (struct qn_nn_dw){B, H, W, C, k, stride, conv_out(H, stride), conv_out(W, stride), w, ws_h, ws_w};
}

// One image per iteration; the kernels visit only the taps inside the image (no padded copies).
void qn_nn_dw_fwd(const struct qn_nn_dw *d, const float *x, float *y) {
    const struct nn_config *cf = nn_config();
    const struct qn_dwt_shape sh = {d->H, d->W, d->C, d->k, d->stride, d->Ho, d->Wo};
    const size_t in = (size_t)d->H * d->W * d->C, out = (size_t)d->Ho * d->Wo * d->C;
#pragma omp parallel for num_threads(qn_threads()) schedule(static)
    for (int b = 0; b < d->B; b++) cf->dw_fwd(&sh, x + b * in, d->w, d->ws_h, d->ws_w, y + b * out);
}

// dW: each thread sums its images into a dense [k][k][C] partial; the partials are added to the
// strided dW in thread order, so the result depends on the thread count only.
void qn_nn_dw_bwd(const struct qn_nn_dw *d, const float *x, const float *dy, float *dw, float *dx) {
    const struct nn_config *cf = nn_config();
    const int k = d->k, C = d->C, nt = qn_threads();
    const size_t taps = (size_t)k * k * C, in = (size_t)d->H * d->W * C, out = (size_t)d->Ho * d->Wo * C;
    const struct qn_dwt_shape sh = {d->H, d->W, C, k, d->stride, d->Ho, d->Wo};
    float *part = qn_alloc(sizeof(float) * taps * (size_t)nt);
    QN_ASSERT(part);
    memset(part, 0, sizeof(float) * taps * (size_t)nt);
#pragma omp parallel num_threads(nt)
    {
        float *my = part + taps * (size_t)omp_get_thread_num();
#pragma omp for schedule(static)
        for (int b = 0; b < d->B; b++) {
            cf->dw_wgrad(&sh, x + b * in, dy + b * out, my, (size_t)k * C, (size_t)C);
            cf->dw_dx(&sh, dy + b * out, d->w, d->ws_h, d->ws_w, dx + b * in);
        }
    }
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                float *dst = dw + i * d->ws_h + j * d->ws_w;
                const float *src = part + taps * (size_t)t + ((size_t)i * k + j) * C;
                for (int c = 0; c < C; c++) dst[c] += src[c];
            }
    qn_free(part);
}

// --- batch norm ---

// Per-channel sums over P rows of C, in double, split over threads then reduced in a fixed
// order so the result does not depend on scheduling (same thread count -> same bits).
static void channel_sums(size_t P, int C, const float *x, const float *mean, double *out) {
    const int nt = qn_threads();
    double *part = calloc((size_t)nt * C, sizeof(double));
    QN_ASSERT(part);
    // nt shares, whatever team the runtime gives (fewer threads than asked inside a caller's
    // parallel region or under OMP_THREAD_LIMIT): each thread takes every team-th share
#pragma omp parallel num_threads(nt)
    for (int t = omp_get_thread_num(); t < nt; t += omp_get_num_threads()) {
        double *my = part + (size_t)t * C;
        size_t lo = P * (size_t)t / (size_t)nt, hi = P * (size_t)(t + 1) / (size_t)nt;
        for (size_t p = lo; p < hi; p++) {
            const float *r = x + p * C;
            if (mean)
                for (int c = 0; c < C; c++) {
                    double v = (double)r[c] - mean[c];
                    my[c] += v * v;
                }
            else
                for (int c = 0; c < C; c++) my[c] += r[c];
        }
    }
    for (int c = 0; c < C; c++) out[c] = 0.0;
    for (int t = 0; t < nt; t++)
        for (int c = 0; c < C; c++) out[c] += part[(size_t)t * C + c];
    free(part);
}

void qn_nn_bn_fwd_train(size_t P, int C, const float *x, const float *gamma, const float *beta,
                        float eps, float momentum, float *running_mean, float *running_var,
                        float *save_mean, float *save_rstd, float *y) {
    double *s = malloc(sizeof(double) * C);
    QN_ASSERT(s);
    channel_sums(P, C, x, NULL, s);
    for (int c = 0; c < C; c++) save_mean[c] = (float)(s[c] / (double)P);
    channel_sums(P, C, x, save_mean, s);
    for (int c = 0; c < C; c++) {
        double var = s[c] / (double)P;
        save_rstd[c] = (float)(1.0 / sqrt(var + eps));
        if (running_mean) {
            // PyTorch convention: running variance is the unbiased estimate.
            double uvar = P > 1 ? var * (double)P / (double)(P - 1) : var;
            running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * save_mean[c];
            running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (float)uvar;
        }
    }
    free(s);
#pragma omp parallel for num_threads(qn_threads()) schedule(static)
    for (size_t p = 0; p < P; p++) {
        const float *r = x + p * C;
        float *o = y + p * C;
        for (int c = 0; c < C; c++) o[c] = (r[c] - save_mean[c]) * save_rstd[c] * gamma[c] + beta[c];
    }
}

void qn_nn_bn_bwd(size_t P, int C, const float *x, const float *gamma, const float *save_mean,
                  const float *save_rstd, const float *dy, float *dgamma, float *dbeta, float *dx) {
    // sum_dy[c] = sum_p dy, sum_dyx[c] = sum_p dy * xhat
    const int nt = qn_threads();
    double *part = calloc((size_t)nt * 2 * C, sizeof(double));
    QN_ASSERT(part);
#pragma omp parallel num_threads(nt)
    for (int t = omp_get_thread_num(); t < nt; t += omp_get_num_threads()) {  // as in channel_sums
        double *sdy = part + (size_t)t * 2 * C, *sdyx = sdy + C;
        size_t lo = P * (size_t)t / (size_t)nt, hi = P * (size_t)(t + 1) / (size_t)nt;
        for (size_t p = lo; p < hi; p++)
            for (int c = 0; c < C; c++) {
                float g = dy[p * C + c];
                float xh = (x[p * C + c] - save_mean[c]) * save_rstd[c];
                sdy[c] += g;
                sdyx[c] += (double)g * xh;
            }
    }
    float *k1 = malloc(sizeof(float) * 3 * C);
    QN_ASSERT(k1);
    float *k2 = k1 + C, *k3 = k2 + C;
    for (int c = 0; c < C; c++) {
        double sdy = 0, sdyx = 0;
        for (int t = 0; t < nt; t++) sdy += part[(size_t)t * 2 * C + c], sdyx += part[(size_t)t * 2 * C + C + c];
        dgamma[c] += (float)sdyx;
        dbeta[c] += (float)sdy;
        // dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat))
        k1[c] = gamma[c] * save_rstd[c];
        k2[c] = (float)(sdy / (double)P);
        k3[c] = (float)(sdyx / (double)P);
    }
    free(part);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
            float xh = (x[p * C + c] - save_mean[c]) * save_rstd[c];
            dx[p * C + c] = k1[c] * (dy[p * C + c] - k2[c] - xh * k3[c]);
        }
    free(k1);
}

// --- fused batch norm + activation ---

// Rows per kernel call when summing: float partial sums over at most this many rows, then
// added into double, so the error stays ~1e-7 relative whatever P is.
#define BN_CHUNK 256
// Workspace of one fused call (see bn_ws) kept on the stack up to this size: C <= 722 at two
// threads, 396 at four (64 and 124 bytes per channel). Larger goes to the heap.
#define BN_STACK_BYTES (48 * 1024)

static int bn_threads(size_t P) { return (int)QN_MIN((size_t)qn_threads(), QN_MAX((size_t)1, P / 64)); }

// Workspace for nt threads: part [nt][2][C] double per-thread sums, f [nt][3][C] float
// per-thread scratch (chunk sums, then the coefficients of the second pass), ch [2][C] shared
// per-channel values (forward: the shift reference x0; backward: scale and shift).
struct bn_ws {
    double *part;
    float *f, *ch;
    void *heap;  // NULL when on the stack
};

static size_t bn_ws_bytes(int nt, int C) {
    return (size_t)C * ((size_t)nt * (2 * sizeof(double) + 3 * sizeof(float)) + 2 * sizeof(float));
}

static struct bn_ws bn_ws_init(int nt, int C, void *stack) {
    const size_t bytes = bn_ws_bytes(nt, C);
    struct bn_ws w = {.heap = bytes > BN_STACK_BYTES ? malloc(bytes) : NULL};
    QN_ASSERT(bytes <= BN_STACK_BYTES || w.heap);
    w.part = w.heap ? w.heap : stack;
    w.f = (float *)(w.part + (size_t)2 * nt * C);
    w.ch = w.f + (size_t)3 * nt * C;
    return w;
}

// Thread t of n: d[0..C) = sum s1, d[C..2C) = sum s2 of the kernel's two float sums over its
// fixed row range, BN_CHUNK rows per float partial; f [2C] is scratch.
static void bn_partial(const struct nn_config *cf, int which, size_t P, int C, int t, int n, const float *x,
                       const float *x0, const float *scale, const float *shift, const float *dy, enum qn_act act,
                       float *dz, double *d, float *f) {
    const size_t lo = P * (size_t)t / (size_t)n, hi = P * (size_t)(t + 1) / (size_t)n;
    float *f1 = f, *f2 = f + C;
    for (int c = 0; c < 2 * C; c++) d[c] = 0.0;
    for (size_t p = lo; p < hi; p += BN_CHUNK) {
        size_t m = QN_MIN((size_t)BN_CHUNK, hi - p);
        memset(f, 0, sizeof(float) * 2 * C);
        if (which == 0) cf->bn_sums(m, C, x + p * C, x0, f1, f2);
        else cf->act_bwd_sums(m, C, x + p * C, scale, shift, dy + p * C, act, dz + p * C, f1, f2);
        for (int c = 0; c < C; c++) d[c] += f1[c], d[C + c] += f2[c];
    }
}

// Channel c of the n per-thread sums, added in thread order (deterministic for a thread count).
static void bn_total(const double *part, int n, int C, int c, double *s1, double *s2) {
    double a = 0.0, b = 0.0;
    for (int i = 0; i < n; i++) a += part[(size_t)2 * C * i + c], b += part[(size_t)2 * C * i + C + c];
    *s1 = a, *s2 = b;
}

// The training forward's affine map, shared with the backward, which recomputes the
// pre-activation x * scale + shift from the saved statistics bit for bit.
static inline void bn_scale_shift(float gamma, float beta, float mean, float rstd, float *scale, float *shift) {
    *scale = gamma * rstd;
    *shift = beta - mean * *scale;
}

// One parallel region per call: each thread sums its rows, a barrier, then every thread
// computes the per-channel coefficients (O(C n), the same bits in every thread, so no second
// barrier) and applies them to the same rows it summed, while they are still in its cache.
void qn_nn_bn_act_fwd_train(size_t P, int C, const float *x, const float *gamma, const float *beta,
                            enum qn_act act, float *save_mean, float *save_rstd, float *y) {
    const struct nn_config *cf = nn_config();
    const int nt = bn_threads(P);
    _Alignas(64) unsigned char stack[BN_STACK_BYTES];
    struct bn_ws w = bn_ws_init(nt, C, stack);
    memcpy(w.ch, x, sizeof(float) * C);  // shift reference; a copy, as y may overwrite x
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        float *f = w.f + (size_t)3 * C * t;
        bn_partial(cf, 0, P, C, t, n, x, w.ch, NULL, NULL, NULL, QN_ACT_NONE, NULL, w.part + (size_t)2 * C * t, f);
#pragma omp barrier
        float *scale = f, *shift = f + C;
        for (int c = 0; c < C; c++) {
            double s1, s2;
            bn_total(w.part, n, C, c, &s1, &s2);
            double m = s1 / (double)P, var = s2 / (double)P - m * m;
            float mean = (float)(w.ch[c] + m), rstd = (float)(1.0 / sqrt(QN_MAX(var, 0.0) + QN_NN_BN_EPS));
            bn_scale_shift(gamma[c], beta[c], mean, rstd, &scale[c], &shift[c]);
            if (t == 0) save_mean[c] = mean, save_rstd[c] = rstd;
        }
        const size_t lo = P * (size_t)t / (size_t)n, hi = P * (size_t)(t + 1) / (size_t)n;
        if (hi > lo) cf->bn_act(hi - lo, C, x + lo * C, scale, shift, (int)act, y + lo * C);
    }
    free(w.heap);
}

void qn_nn_bn_act_fwd_eval(size_t P, int C, const float *x, const float *gamma, const float *beta,
                           const float *running_mean, const float *running_var, float eps, enum qn_act act,
                           float *y) {
    const struct nn_config *cf = nn_config();
    const int nt = bn_threads(P);
    float stack[2 * 1024];
    float *ss = C <= 1024 ? stack : malloc(sizeof(float) * 2 * C);
    QN_ASSERT(ss);
    for (int c = 0; c < C; c++) {
        ss[c] = gamma[c] / sqrtf(running_var[c] + eps);
        ss[C + c] = beta[c] - running_mean[c] * ss[c];
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        const size_t lo = P * (size_t)t / (size_t)n, hi = P * (size_t)(t + 1) / (size_t)n;
        if (hi > lo) cf->bn_act(hi - lo, C, x + lo * C, ss, ss + C, (int)act, y + lo * C);
    }
    if (ss != stack) free(ss);
}

// As the forward: one region, one barrier. dz lands in dx and each thread reads back only the
// rows it wrote.
void qn_nn_act_bn_bwd(size_t P, int C, const float *x, const float *gamma, const float *beta,
                      const float *save_mean, const float *save_rstd, enum qn_act act, const float *dy,
                      float *dgamma, float *dbeta, float *dx) {
    const struct nn_config *cf = nn_config();
    const int nt = bn_threads(P);
    _Alignas(64) unsigned char stack[BN_STACK_BYTES];
    struct bn_ws w = bn_ws_init(nt, C, stack);
    for (int c = 0; c < C; c++) bn_scale_shift(gamma[c], beta[c], save_mean[c], save_rstd[c], &w.ch[c], &w.ch[C + c]);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        float *f = w.f + (size_t)3 * C * t;
        bn_partial(cf, 1, P, C, t, n, x, NULL, w.ch, w.ch + C, dy, act, dx, w.part + (size_t)2 * C * t, f);
#pragma omp barrier
        float *a = f, *b = f + C, *d = f + 2 * C;
        for (int c = 0; c < C; c++) {
            double sdz, sdzx;
            bn_total(w.part, n, C, c, &sdz, &sdzx);
            double mu = save_mean[c], r = save_rstd[c], g = gamma[c];
            double sdzxhat = r * (sdzx - mu * sdz);
            if (t == 0) dgamma[c] += (float)sdzxhat, dbeta[c] += (float)sdz;
            double m1 = sdz / (double)P, m2 = sdzxhat / (double)P;
            a[c] = (float)(g * r);
            b[c] = (float)(-g * r * r * m2);
            d[c] = (float)(-g * r * m1 + g * r * r * m2 * mu);
        }
        const size_t lo = P * (size_t)t / (size_t)n, hi = P * (size_t)(t + 1) / (size_t)n;
        if (hi > lo) cf->bn_bwd_dx(hi - lo, C, x + lo * C, dx + lo * C, a, b, d, dx + lo * C);
    }
    free(w.heap);
}

// --- activations ---

void qn_nn_act_fwd(enum qn_act act, size_t n, const float *x, float *y) {
#pragma omp parallel for num_threads(qn_threads()) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) y[i] = qn_act_ref(act, x[i]);
}

void qn_nn_act_bwd(enum qn_act act, size_t n, const float *x, const float *dy, float *dx) {
#pragma omp parallel for num_threads(qn_threads()) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float v = x[i], g = dy[i], d;
        switch (act) {
        case QN_ACT_RELU: d = v > 0.0f ? g : 0.0f; break;
        case QN_ACT_RELU6: d = v > 0.0f && v < 6.0f ? g : 0.0f; break;
        case QN_ACT_HSWISH: d = v <= -3.0f ? 0.0f : (v >= 3.0f ? g : g * (2.0f * v + 3.0f) * (1.0f / 6.0f)); break;
        case QN_ACT_GELU: {
            const float c = 0.7978845608028654f;
            float u = c * (v + 0.044715f * v * v * v), t = tanhf(u);
            float du = c * (1.0f + 3.0f * 0.044715f * v * v);
            d = g * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
            break;
        }
        default: d = g;
        }
        dx[i] = d;
    }
}

// --- global average pooling ---

void qn_nn_gap_fwd(int B, int HW, int C, const float *x, float *y) {
    const float inv = 1.0f / (float)HW;
    for (int b = 0; b < B; b++) {
        float *o = y + (size_t)b * C;
        for (int c = 0; c < C; c++) o[c] = 0.0f;
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++) o[c] += x[((size_t)b * HW + p) * C + c];
        for (int c = 0; c < C; c++) o[c] *= inv;
    }
}

void qn_nn_gap_bwd(int B, int HW, int C, const float *dy, float *dx) {
    const float inv = 1.0f / (float)HW;
    for (int b = 0; b < B; b++)
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++) dx[((size_t)b * HW + p) * C + c] = dy[(size_t)b * C + c] * inv;
}

// --- losses ---

void qn_nn_softmax(int B, int K, const float *logits, float *prob) {
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * K;
        float *p = prob + (size_t)b * K;
        float m = z[0];
        for (int k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
        double s = 0;
        for (int k = 0; k < K; k++) s += (p[k] = expf(z[k] - m));
        float inv = (float)(1.0 / s);
        for (int k = 0; k < K; k++) p[k] *= inv;
    }
}

float qn_nn_softmax_xent(int B, int K, const float *logits, const uint8_t *labels, float smoothing,
                         const float *teacher_prob, float *dlogits, int *correct) {
    double loss = 0;
    int hits = 0;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * K;
        float *g = dlogits + (size_t)b * K;
        int arg = 0;
        float m = z[0];
        for (int k = 1; k < K; k++)
            if (z[k] > m) m = z[k], arg = k;
        if (labels && arg == labels[b]) hits++;
        double s = 0;
        for (int k = 0; k < K; k++) s += exp((double)z[k] - m);
        double logs = log(s);
        for (int k = 0; k < K; k++) {
            double logp = (double)z[k] - m - logs;
            double t = teacher_prob ? teacher_prob[(size_t)b * K + k]
                                    : (k == labels[b] ? 1.0 - smoothing : 0.0) + smoothing / K;
            if (t > 0) loss += t * (log(t) - logp);  // KL; equals CE minus the targets' entropy
            g[k] = (float)((exp(logp) - t) / B);
        }
    }
    if (correct) *correct = hits;
    return (float)(loss / B);
}
