// Benchmark peers: reference cblas and OpenBLAS loaded by their real paths with dlopen, and
// oneDNN (linked when its header exists: QN_HAVE_DNNL).
//
// Debian's alternatives make `libblas.so.3` mean OpenBLAS once libopenblas-dev is installed,
// so linking -lblas would silently compare against OpenBLAS. Each library is opened by its
// own path, RTLD_LOCAL, and its symbols looked up in its own handle.
#pragma once

#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "cpu.h"

// cblas_sgemm with the CBLAS enum values spelled out (CblasRowMajor 101, CblasNoTrans 111),
// so the bench needs no cblas.h that might belong to either library.
typedef void (*qb_sgemm_fn)(int order, int trans_a, int trans_b, int M, int N, int K, float alpha,
                            const float *A, int lda, const float *B, int ldb, float beta, float *C,
                            int ldc);
typedef void (*qb_sgemv_fn)(int order, int trans, int M, int N, float alpha, const float *A, int lda,
                            const float *x, int incx, float beta, float *y, int incy);
#define QB_CBLAS_ROW_MAJOR 101
#define QB_CBLAS_NO_TRANS 111
#define QB_CBLAS_TRANS 112

struct qb_blas {
    void *dl;
    const char *path;     // the file actually opened
    qb_sgemm_fn sgemm;
    qb_sgemv_fn sgemv;    // for M == 1: what a BLAS user calls (sgemm with M = 1 is slower)
    // OpenBLAS only
    void (*set_threads)(int);
    char *(*corename)(void);
    char *(*config)(void);
};

static inline bool qb_blas_open(struct qb_blas *b, const char *const *paths) {
    memset(b, 0, sizeof(*b));
    for (int i = 0; paths[i]; i++) {
        if (access(paths[i], R_OK) != 0) continue;
        void *dl = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
            fprintf(stderr, "bench: dlopen %s: %s\n", paths[i], dlerror());
            continue;
        }
        qb_sgemm_fn f = (qb_sgemm_fn)dlsym(dl, "cblas_sgemm");
        if (!f) {
            dlclose(dl);
            continue;
        }
        b->dl = dl, b->path = paths[i], b->sgemm = f;
        b->sgemv = (qb_sgemv_fn)dlsym(dl, "cblas_sgemv");
        b->set_threads = (void (*)(int))dlsym(dl, "openblas_set_num_threads");
        b->corename = (char *(*)(void))dlsym(dl, "openblas_get_corename");
        b->config = (char *(*)(void))dlsym(dl, "openblas_get_config");
        return true;
    }
    return false;
}

// Debian's reference BLAS (libblas3; its libblas.so.3 carries the CBLAS wrappers).
static const char *const qb_ref_blas_paths[] = {
    "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3",
    "/usr/lib/aarch64-linux-gnu/blas/libblas.so.3",
    NULL,
};

static const char *const qb_openblas_paths[] = {
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
    NULL,
};

// OpenBLAS reads OPENBLAS_CORETYPE when it is loaded. Debian's 0.3.21 does not know Sapphire
// Rapids and falls back to its SSE3 "Prescott" kernels, and this workplace exports Haswell for
// old numpy builds; neither is OpenBLAS at its best here. So on an AVX-512 machine the bench
// asks for SkylakeX unless QNAS_BENCH_OPENBLAS_CORETYPE names another core. Returns the value
// used and writes a one-line explanation to `why`.
static inline const char *qb_openblas_coretype(char *why, size_t why_len) {
    const char *forced = getenv("QNAS_BENCH_OPENBLAS_CORETYPE");
    const char *env = getenv("OPENBLAS_CORETYPE");
    char had[64] = "";
    if (env) snprintf(had, sizeof(had), "%s", env);  // setenv below may replace that string
    const struct qn_cpu_features *c = qn_cpu();
    if (forced && *forced) {
        setenv("OPENBLAS_CORETYPE", forced, 1);
        snprintf(why, why_len, "from QNAS_BENCH_OPENBLAS_CORETYPE");
        return forced;
    }
    if (c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq && c->os_avx512) {
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
        if (had[0])
            snprintf(why, why_len, "AVX-512 CPU: overrides the environment's OPENBLAS_CORETYPE=%s; "
                                   "QNAS_BENCH_OPENBLAS_CORETYPE sets another", had);
        else
            snprintf(why, why_len, "AVX-512 CPU; QNAS_BENCH_OPENBLAS_CORETYPE sets another");
        return "SkylakeX";
    }
    snprintf(why, why_len, env ? "from the environment" : "not set: OpenBLAS autodetects");
    return env ? env : "(autodetect)";
}

// --- oneDNN ---

#if QN_HAVE_DNNL
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

static dnnl_engine_t qb_dnnl_engine;
static dnnl_stream_t qb_dnnl_stream;

static inline bool qb_dnnl_init(void) {
    if (qb_dnnl_engine) return true;
    if (dnnl_engine_create(&qb_dnnl_engine, dnnl_cpu, 0) != dnnl_success) return false;
    if (dnnl_stream_create(&qb_dnnl_stream, qb_dnnl_engine, dnnl_stream_default_flags) != dnnl_success)
        return false;
    return true;
}

// One primitive with its memory objects. Weights are reordered once, when the primitive is
// made, into the layout oneDNN picked (`any`), as an inference user does.
struct qb_dnnl {
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
    dnnl_memory_t bias;  // NULL: none
    char impl[64];  // oneDNN's implementation name, e.g. "brg:avx512_core_vnni"
};

static inline void qb_dnnl_free(struct qb_dnnl *d) {
    if (d->prim) dnnl_primitive_destroy(d->prim);
    if (d->src) dnnl_memory_destroy(d->src);
    if (d->wei) dnnl_memory_destroy(d->wei);
    if (d->dst) dnnl_memory_destroy(d->dst);
    if (d->bias) dnnl_memory_destroy(d->bias);
    memset(d, 0, sizeof(*d));
}

#define QB_DNNL_TRY(x)                                                                   \
    do {                                                                                 \
        dnnl_status_t s_ = (x);                                                          \
        if (s_ != dnnl_success) {                                                        \
            fprintf(stderr, "bench: oneDNN %s failed (status %d)\n", #x, (int)s_);      \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

// Builds the primitive from its op descriptor; user_wei describes how W is stored by the
// caller. The weights are copied into oneDNN's own layout here, outside any timing.
static inline bool qb_dnnl_finish(struct qb_dnnl *d, const_dnnl_op_desc_t op,
                                  const dnnl_memory_desc_t *src_md, void *src,
                                  const dnnl_memory_desc_t *user_wei_md, void *wei,
                                  const dnnl_memory_desc_t *dst_md, void *dst,
                                  const_dnnl_primitive_attr_t attr) {
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t user_w = NULL;
    QB_DNNL_TRY(dnnl_primitive_desc_create(&pd, op, attr, qb_dnnl_engine, NULL));
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(d->impl, sizeof(d->impl), "%s", impl);
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    QB_DNNL_TRY(dnnl_memory_create(&d->src, src_md, qb_dnnl_engine, src));
    QB_DNNL_TRY(dnnl_memory_create(&d->dst, dst_md, qb_dnnl_engine, dst));
    QB_DNNL_TRY(dnnl_memory_create(&d->wei, wmd, qb_dnnl_engine, DNNL_MEMORY_ALLOCATE));
    QB_DNNL_TRY(dnnl_memory_create(&user_w, user_wei_md, qb_dnnl_engine, wei));
    QB_DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, user_wei_md, qb_dnnl_engine, wmd,
                                                   qb_dnnl_engine, NULL));
    QB_DNNL_TRY(dnnl_primitive_create(&reorder, rpd));
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user_w}, {DNNL_ARG_TO, d->wei}};
    QB_DNNL_TRY(dnnl_primitive_execute(reorder, qb_dnnl_stream, 2, rargs));
    QB_DNNL_TRY(dnnl_stream_wait(qb_dnnl_stream));
    QB_DNNL_TRY(dnnl_primitive_create(&d->prim, pd));
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(user_w);
    return true;
fail:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (user_w) dnnl_memory_destroy(user_w);
    qb_dnnl_free(d);
    return false;
}

// The primitive's arguments (source, weights, destination, and the bias when it has one);
// returns their count.
static inline int qb_dnnl_args(const struct qb_dnnl *d, dnnl_exec_arg_t a[4]) {
    a[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, d->src};
    a[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, d->wei};
    a[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, d->dst};
    a[3] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, d->bias};
    return d->bias ? 4 : 3;
}

static inline void qb_dnnl_run(void *ctx) {
    const struct qb_dnnl *d = ctx;
    dnnl_exec_arg_t args[4];
    const int n = qb_dnnl_args(d, args);
    dnnl_primitive_execute(d->prim, qb_dnnl_stream, n, args);
    dnnl_stream_wait(qb_dnnl_stream);
}

// C[M][N] = A[M][K] x W (+ bias[N], FP32, or NULL). W is [K][N] (w_nk false) or [N][K] (w_nk
// true, linear-layer weights). attr may be NULL.
static inline bool qb_dnnl_matmul(struct qb_dnnl *d, dnnl_data_type_t st, dnnl_data_type_t wt,
                                  dnnl_data_type_t dt, size_t M, size_t N, size_t K, void *A,
                                  void *W, bool w_nk, const float *bias, void *C,
                                  const_dnnl_primitive_attr_t attr) {
    memset(d, 0, sizeof(*d));
    if (!qb_dnnl_init()) return false;
    dnnl_memory_desc_t src_md, wany_md, wuser_md, dst_md, bias_md;
    dnnl_matmul_desc_t op;
    dnnl_dims_t a = {(dnnl_dim_t)M, (dnnl_dim_t)K}, w = {(dnnl_dim_t)K, (dnnl_dim_t)N},
                c = {(dnnl_dim_t)M, (dnnl_dim_t)N}, b = {1, (dnnl_dim_t)N};
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&src_md, 2, a, st, dnnl_ab));
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&wany_md, 2, w, wt, dnnl_format_tag_any));
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&wuser_md, 2, w, wt, w_nk ? dnnl_ba : dnnl_ab));
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst_md, 2, c, dt, dnnl_ab));
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&bias_md, 2, b, dnnl_f32, dnnl_ab));
    QB_DNNL_TRY(dnnl_matmul_desc_init(&op, &src_md, &wany_md, bias ? &bias_md : NULL, &dst_md));
    if (!qb_dnnl_finish(d, &op, &src_md, A, &wuser_md, W, &dst_md, C, attr)) return false;
    if (bias && dnnl_memory_create(&d->bias, &bias_md, qb_dnnl_engine, (void *)bias) != dnnl_success) {
        qb_dnnl_free(d);
        return false;
    }
    return true;
fail:
    return false;
}

// NHWC convolution, stride 1, "same" padding, no bias: x [n][h][w][cin] -> y [n][h][w][cout].
// groups == cin == cout is depthwise, with weights [k][k][c] (tag hwigo of dims {c, 1, 1, k, k});
// otherwise weights are OHWI [cout][k][k][cin] (tag ohwi), as qnas stores them. out_scales
// (cout of them, or NULL): per-output-channel scales applied to the s32 sums (an f32 dst then
// holds acc * scale[n], the output qnas's quantized layers compute).
static inline bool qb_dnnl_conv(struct qb_dnnl *d, dnnl_data_type_t st, dnnl_data_type_t wt,
                                dnnl_data_type_t dt, int n, int h, int w, int cin, int cout,
                                int k, bool depthwise, void *x, void *W, void *y,
                                const float *out_scales) {
    memset(d, 0, sizeof(*d));
    if (!qb_dnnl_init()) return false;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t src_md, wany_md, wuser_md, dst_md;
    dnnl_convolution_desc_t op;
    dnnl_dims_t xd = {n, cin, h, w}, yd = {n, cout, h, w};
    dnnl_dims_t wd_dw = {cin, 1, 1, k, k}, wd = {cout, cin, k, k};
    dnnl_dims_t strides = {1, 1}, pad = {(k - 1) / 2, (k - 1) / 2};
    int wn = depthwise ? 5 : 4;
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&src_md, 4, xd, st, dnnl_nhwc));
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&wany_md, wn, depthwise ? wd_dw : wd, wt, dnnl_format_tag_any));
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&wuser_md, wn, depthwise ? wd_dw : wd, wt,
                                             depthwise ? dnnl_hwigo : dnnl_ohwi));
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst_md, 4, yd, dt, dnnl_nhwc));
    QB_DNNL_TRY(dnnl_convolution_forward_desc_init(&op, dnnl_forward_inference, dnnl_convolution_direct,
                                                   &src_md, &wany_md, NULL, &dst_md, strides, pad, pad));
    if (out_scales) {
        QB_DNNL_TRY(dnnl_primitive_attr_create(&attr));
        QB_DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, cout, 1 << 1, out_scales));
    }
    bool ok = qb_dnnl_finish(d, &op, &src_md, x, &wuser_md, W, &dst_md, y, attr);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return ok;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    return false;
}

// --- oneDNN multi-head self-attention ---
//
// T tokens, embed D, H heads of dh (HD = H dh), no mask, from primitives made once; the
// caller owns every buffer:
//   qkv[T][3 HD] = x Wqkv^T + b_qkv       matmul, Wqkv [3 HD][D] reordered once
//   s[H][T][T] = Q_h K_h^T / sqrt(dh)     one matmul batched over heads, Q_h and K_h^T views of
//                                         qkv (batch stride dh, row stride 3 HD); 1 / sqrt(dh)
//                                         is the attr's output scale
//   s = softmax(s) over keys              in place
//   o[T][HD] (head h at column h dh) = P_h V_h   batched matmul, V and o through strides
//   y[T][D] = o Wo^T + b_o                matmul, Wo [D][HD]
// With q8 the projections run u8 x s8 -> f32 on x and o quantized by reorders.

// INT8 projections: the caller's weights and activation parameters, fixed at creation.
struct qb_dnnl_mha_q8 {
    const int8_t *wqkv, *wo;   // [3 HD][D], [D][HD]
    const float *s_qkv, *s_o;  // per-row weight scales [3 HD], [D]
    float x_scale, o_scale;    // real = scale * (q - zp), q in 0..255
    int32_t x_zp, o_zp;
    uint8_t *xq, *oq;          // [T][D], [T][HD]
};

struct qb_dnnl_step {
    dnnl_primitive_t p;
    int n;
    dnnl_exec_arg_t a[4];
};

struct qb_dnnl_mha {
    struct qb_dnnl qkv, out;     // the projections
    dnnl_primitive_t own[5];     // Q K^T, softmax, P V; q8: the reorders of x and o
    dnnl_memory_t mem[8];
    int nown, nmem, nstep;
    struct qb_dnnl_step step[7];  // in execution order
    float *qbias;                // q8: [3 HD + D] biases over the output scales (see below)
    char impl[64];               // the Q K^T matmul's; the projections' are in qkv.impl
};

static inline void qb_dnnl_mha_free(struct qb_dnnl_mha *m) {
    qb_dnnl_free(&m->qkv);
    qb_dnnl_free(&m->out);
    for (int i = 0; i < m->nown; i++) dnnl_primitive_destroy(m->own[i]);
    for (int i = 0; i < m->nmem; i++) dnnl_memory_destroy(m->mem[i]);
    free(m->qbias);
    memset(m, 0, sizeof(*m));
}

static inline void qb_dnnl_mha_run(void *ctx) {
    const struct qb_dnnl_mha *m = ctx;
    for (int i = 0; i < m->nstep; i++)
        dnnl_primitive_execute(m->step[i].p, qb_dnnl_stream, m->step[i].n, m->step[i].a);
    dnnl_stream_wait(qb_dnnl_stream);
}

static inline void qb_dnnl_mha_step(struct qb_dnnl_mha *m, dnnl_primitive_t p, int n, const dnnl_exec_arg_t *a) {
    struct qb_dnnl_step *s = &m->step[m->nstep++];
    s->p = p, s->n = n;
    memcpy(s->a, a, (size_t)n * sizeof(*a));
}

static inline void qb_dnnl_mha_step_proj(struct qb_dnnl_mha *m, const struct qb_dnnl *d) {
    dnnl_exec_arg_t a[4];
    const int n = qb_dnnl_args(d, a);
    qb_dnnl_mha_step(m, d->prim, n, a);
}

// A memory object owned by m on the caller's buffer p (strides in elements).
static inline dnnl_memory_t qb_dnnl_mha_mem(struct qb_dnnl_mha *m, dnnl_memory_desc_t *md, int nd,
                                            const dnnl_dim_t *dims, const dnnl_dim_t *strides,
                                            dnnl_data_type_t dt, void *p) {
    if (dnnl_memory_desc_init_by_strides(md, nd, dims, dt, strides) != dnnl_success) return NULL;
    dnnl_memory_t mem = NULL;
    if (dnnl_memory_create(&mem, md, qb_dnnl_engine, p) != dnnl_success) return NULL;
    return m->mem[m->nmem++] = mem;
}

// A primitive owned by m from an op descriptor (or a reorder's, rpd != NULL) on fixed layouts.
static inline dnnl_primitive_t qb_dnnl_mha_prim(struct qb_dnnl_mha *m, const_dnnl_op_desc_t op,
                                                const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t rpd,
                                                char *impl, size_t impl_len) {
    dnnl_primitive_desc_t pd = rpd;
    dnnl_primitive_t p = NULL;
    if (!pd && dnnl_primitive_desc_create(&pd, op, attr, qb_dnnl_engine, NULL) != dnnl_success) return NULL;
    const char *name = NULL;
    if (impl && dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name)
        snprintf(impl, impl_len, "%s", name);
    if (dnnl_primitive_create(&p, pd) != dnnl_success) p = NULL;
    dnnl_primitive_desc_destroy(pd);
    return p ? m->own[m->nown++] = p : NULL;
}

// f32 [rows][cols] -> u8 with real = scale * (q - zp): a reorder with output scale 1 / scale
// (in float, as qn_qu8_quantize) and a destination zero point.
static inline bool qb_dnnl_mha_quantize(struct qb_dnnl_mha *m, size_t rows, size_t cols, float *src,
                                        dnnl_memory_t dst, float scale, int32_t zp) {
    dnnl_memory_desc_t smd;
    const dnnl_dims_t dims = {(dnnl_dim_t)rows, (dnnl_dim_t)cols}, st = {(dnnl_dim_t)cols, 1};
    const dnnl_memory_desc_t *dmd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    const float inv = 1.0f / scale;
    dnnl_memory_t s = qb_dnnl_mha_mem(m, &smd, 2, dims, st, dnnl_f32, src);
    QB_DNNL_TRY(dnnl_memory_get_memory_desc(dst, &dmd));
    QB_DNNL_TRY(dnnl_primitive_attr_create(&attr));
    QB_DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &inv));
    QB_DNNL_TRY(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &zp));
    QB_DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, &smd, qb_dnnl_engine, dmd, qb_dnnl_engine, attr));
    dnnl_primitive_t p = qb_dnnl_mha_prim(m, NULL, NULL, rpd, NULL, 0);
    dnnl_primitive_attr_destroy(attr);
    if (!s || !p) return false;
    const dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, s}, {DNNL_ARG_TO, dst}};
    qb_dnnl_mha_step(m, p, 2, a);
    return true;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    return false;
}

// A u8 x s8 -> f32 projection y[M][N] = (aq - a_zp) a_scale x (W^T w_scale) + bias. oneDNN 2.x
// adds the bias to the accumulator before the output scales (v3 moved it after), so the bias
// goes in divided by them: qbias[n] = bias[n] / (a_scale w_scale[n]) (with it the qs8_mha row
// agrees with ours to 7e-8 at 196x384).
static inline bool qb_dnnl_mha_proj_q8(struct qb_dnnl *d, size_t M, size_t N, size_t K, uint8_t *aq,
                                       float a_scale, int32_t a_zp, const int8_t *W, const float *w_scale,
                                       const float *bias, float *qbias, float *y) {
    float *sc = malloc(N * sizeof(float));
    dnnl_primitive_attr_t attr = NULL;
    bool ok = false;
    if (!sc) return false;
    for (size_t n = 0; n < N; n++) sc[n] = a_scale * w_scale[n], qbias[n] = bias[n] / sc[n];
    QB_DNNL_TRY(dnnl_primitive_attr_create(&attr));
    QB_DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, (dnnl_dim_t)N, 1 << 1, sc));
    QB_DNNL_TRY(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &a_zp));
    ok = qb_dnnl_matmul(d, dnnl_u8, dnnl_s8, dnnl_f32, M, N, K, aq, (void *)W, true, qbias, y, attr);
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    free(sc);
    return ok;
}

// x [T][D], wqkv [3 HD][D], b_qkv [3 HD], wo [D][HD], b_o [D] (FP32; with q8 only the biases are
// read), qkv [T][3 HD], s [H][T][T], o [T][HD], y [T][D]. False (with a message) when oneDNN
// refuses a piece.
static inline bool qb_dnnl_mha_init(struct qb_dnnl_mha *m, size_t T, size_t D, size_t H, size_t dh,
                                    float *x, float *wqkv, const float *b_qkv, float *wo, const float *b_o,
                                    float *qkv, float *s, float *o, float *y, const struct qb_dnnl_mha_q8 *q8) {
    memset(m, 0, sizeof(*m));
    if (!qb_dnnl_init()) return false;
    const size_t HD = H * dh;
    const dnnl_dim_t t = (dnnl_dim_t)T, h = (dnnl_dim_t)H, e = (dnnl_dim_t)dh, ld = (dnnl_dim_t)(3 * HD);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t qmd, kmd, vmd, smd, omd;
    dnnl_matmul_desc_t mm;
    dnnl_softmax_desc_t sm;
    if (q8) {
        m->qbias = malloc((3 * HD + D) * sizeof(float));
        if (!m->qbias || !qb_dnnl_mha_proj_q8(&m->qkv, T, 3 * HD, D, q8->xq, q8->x_scale, q8->x_zp, q8->wqkv,
                                              q8->s_qkv, b_qkv, m->qbias, qkv) ||
            !qb_dnnl_mha_proj_q8(&m->out, T, D, HD, q8->oq, q8->o_scale, q8->o_zp, q8->wo, q8->s_o, b_o,
                                 m->qbias + 3 * HD, y) ||
            !qb_dnnl_mha_quantize(m, T, D, x, m->qkv.src, q8->x_scale, q8->x_zp))
            goto fail;
    } else if (!qb_dnnl_matmul(&m->qkv, dnnl_f32, dnnl_f32, dnnl_f32, T, 3 * HD, D, x, wqkv, true, b_qkv, qkv,
                               NULL) ||
               !qb_dnnl_matmul(&m->out, dnnl_f32, dnnl_f32, dnnl_f32, T, D, HD, o, wo, true, b_o, y, NULL)) {
        goto fail;
    }
    qb_dnnl_mha_step_proj(m, &m->qkv);
    // the core on views of qkv, s and o: [H][rows][cols] with the strides of the comment above
    const dnnl_dims_t qd = {h, t, e}, qs = {e, ld, 1}, kd = {h, e, t}, ks = {e, 1, ld};
    const dnnl_dims_t sd = {h, t, t}, ss = {t * t, t, 1}, os = {e, (dnnl_dim_t)HD, 1};
    dnnl_memory_t mq = qb_dnnl_mha_mem(m, &qmd, 3, qd, qs, dnnl_f32, qkv);
    dnnl_memory_t mk = qb_dnnl_mha_mem(m, &kmd, 3, kd, ks, dnnl_f32, qkv + HD);
    dnnl_memory_t mv = qb_dnnl_mha_mem(m, &vmd, 3, qd, qs, dnnl_f32, qkv + 2 * HD);
    dnnl_memory_t ms = qb_dnnl_mha_mem(m, &smd, 3, sd, ss, dnnl_f32, s);
    dnnl_memory_t mo = qb_dnnl_mha_mem(m, &omd, 3, qd, os, dnnl_f32, o);
    if (!mq || !mk || !mv || !ms || !mo) goto fail;
    const float scale = (float)(1.0 / sqrt((double)dh));
    QB_DNNL_TRY(dnnl_primitive_attr_create(&attr));
    QB_DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale));
    QB_DNNL_TRY(dnnl_matmul_desc_init(&mm, &qmd, &kmd, NULL, &smd));
    dnnl_primitive_t p = qb_dnnl_mha_prim(m, &mm, attr, NULL, m->impl, sizeof(m->impl));
    if (!p) goto refused;
    qb_dnnl_mha_step(m, p, 3,
                     (const dnnl_exec_arg_t[]){{DNNL_ARG_SRC, mq}, {DNNL_ARG_WEIGHTS, mk}, {DNNL_ARG_DST, ms}});
    QB_DNNL_TRY(dnnl_softmax_forward_desc_init(&sm, dnnl_forward_inference, &smd, 2));
    if (!(p = qb_dnnl_mha_prim(m, &sm, NULL, NULL, NULL, 0))) goto refused;
    qb_dnnl_mha_step(m, p, 2, (const dnnl_exec_arg_t[]){{DNNL_ARG_SRC, ms}, {DNNL_ARG_DST, ms}});
    QB_DNNL_TRY(dnnl_matmul_desc_init(&mm, &smd, &vmd, NULL, &omd));
    if (!(p = qb_dnnl_mha_prim(m, &mm, NULL, NULL, NULL, 0))) goto refused;
    qb_dnnl_mha_step(m, p, 3,
                     (const dnnl_exec_arg_t[]){{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mv}, {DNNL_ARG_DST, mo}});
    if (q8 && !qb_dnnl_mha_quantize(m, T, HD, o, m->out.src, q8->o_scale, q8->o_zp)) goto fail;
    qb_dnnl_mha_step_proj(m, &m->out);
    dnnl_primitive_attr_destroy(attr);
    return true;
refused:
    fprintf(stderr, "bench: oneDNN refused an attention primitive (strided batched matmul or softmax)\n");
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    qb_dnnl_mha_free(m);
    return false;
}
#endif  // QN_HAVE_DNNL
