// Benchmark peers: reference cblas and OpenBLAS loaded by their real paths with dlopen, and
// oneDNN (linked when its header exists: QN_HAVE_DNNL).
//
// Debian's alternatives make `libblas.so.3` mean OpenBLAS once libopenblas-dev is installed,
// so linking -lblas would silently compare against OpenBLAS. Each library is opened by its
// own path, RTLD_LOCAL, and its symbols looked up in its own handle.
#pragma once

#include <dlfcn.h>
#include <stdbool.h>
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

// One primitive with its three memory objects. Weights are reordered once, when the
// primitive is made, into the layout oneDNN picked (`any`), as an inference user does.
struct qb_dnnl {
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
    char impl[64];  // oneDNN's implementation name, e.g. "brg:avx512_core_vnni"
};

static inline void qb_dnnl_free(struct qb_dnnl *d) {
    if (d->prim) dnnl_primitive_destroy(d->prim);
    if (d->src) dnnl_memory_destroy(d->src);
    if (d->wei) dnnl_memory_destroy(d->wei);
    if (d->dst) dnnl_memory_destroy(d->dst);
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

static inline void qb_dnnl_run(void *ctx) {
    struct qb_dnnl *d = ctx;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, d->src}, {DNNL_ARG_WEIGHTS, d->wei}, {DNNL_ARG_DST, d->dst}};
    dnnl_primitive_execute(d->prim, qb_dnnl_stream, 3, args);
    dnnl_stream_wait(qb_dnnl_stream);
}

// C[M][N] = A[M][K] x W. W is [K][N] (w_nk false) or [N][K] (w_nk true, linear-layer weights).
static inline bool qb_dnnl_matmul(struct qb_dnnl *d, dnnl_data_type_t st, dnnl_data_type_t wt,
                                  dnnl_data_type_t dt, size_t M, size_t N, size_t K, void *A,
                                  void *W, bool w_nk, void *C) {
    memset(d, 0, sizeof(*d));
    if (!qb_dnnl_init()) return false;
    dnnl_memory_desc_t src_md, wany_md, wuser_md, dst_md;
    dnnl_matmul_desc_t op;
    dnnl_dims_t a = {(dnnl_dim_t)M, (dnnl_dim_t)K}, w = {(dnnl_dim_t)K, (dnnl_dim_t)N},
                c = {(dnnl_dim_t)M, (dnnl_dim_t)N};
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&src_md, 2, a, st, dnnl_ab));
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&wany_md, 2, w, wt, dnnl_format_tag_any));
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&wuser_md, 2, w, wt, w_nk ? dnnl_ba : dnnl_ab));
    QB_DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst_md, 2, c, dt, dnnl_ab));
    QB_DNNL_TRY(dnnl_matmul_desc_init(&op, &src_md, &wany_md, NULL, &dst_md));
    return qb_dnnl_finish(d, &op, &src_md, A, &wuser_md, W, &dst_md, C, NULL);
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
#endif  // QN_HAVE_DNNL
