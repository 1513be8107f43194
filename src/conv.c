// Convolution operators: views, dispatch, and the FP32 / INT8 paths (1x1 GEMM, im2col + GEMM,
// direct depthwise, direct small-reduction). The arithmetic lives in kernels/; this file only
// walks shapes.
#include "conv.h"

#include <assert.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "f32-conv-hwc/f32-conv-hwc.h"
#include "f32-dwconv/f32-dwconv.h"
#include "im2col/im2col.h"
#include "qs8-conv-hwc/qs8-conv-hwc.h"
#include "qs8-dwconv/qs8-dwconv.h"

// --- dispatch ---

// Slot per kernel size: 0 -> 3x3, 1 -> 5x5, 2 -> 7x7, 3 -> any k.
enum { DW_K3, DW_K5, DW_K7, DW_KANY, DW_SLOTS };

struct qn_dwconv_config {
    qn_f32_dwconv_ukernel_fn f32[DW_SLOTS];
    const char *f32_name[DW_SLOTS];
    qn_qs8_dwconv_ukernel_fn qs8[DW_SLOTS];
    const char *qs8_name[DW_SLOTS];
};

static struct qn_dwconv_config g_dw[QN_ISA_COUNT];
static pthread_once_t g_dw_once = PTHREAD_ONCE_INIT;

#define DW_SET(cfg, dt, slot, fn) ((cfg)->dt[slot] = fn, (cfg)->dt##_name[slot] = #fn)

static void dw_config_init(void) {
    for (int l = 0; l < QN_ISA_COUNT; l++) {
        struct qn_dwconv_config *c = &g_dw[l];
        for (int s = 0; s < DW_SLOTS; s++) {
            DW_SET(c, f32, s, qn_f32_dwconv_ukernel_kxk__scalar);
            DW_SET(c, qs8, s, qn_qs8_dwconv_ukernel_kxk__scalar);
        }
    }
    // Both levels share these; INT8 3x3 / 5x5 / 7x7 at stride 1 or 2 take the row-quad kernels
    // (qs8_dwconv_quad_run), which use AVX-VNNI where it is.
    for (int l = QN_ISA_AVX2; l <= QN_ISA_AVXVNNI; l++) {
        struct qn_dwconv_config *c = &g_dw[l];
        DW_SET(c, f32, DW_K3, qn_f32_dwconv_ukernel_3x3__avx2);
        DW_SET(c, f32, DW_K5, qn_f32_dwconv_ukernel_5x5__avx2);
        DW_SET(c, f32, DW_K7, qn_f32_dwconv_ukernel_7x7__avx2);
        DW_SET(c, f32, DW_KANY, qn_f32_dwconv_ukernel_kxk__avx2);
        DW_SET(c, qs8, DW_K3, qn_qs8_dwconv_ukernel_3x3__avx2);
        DW_SET(c, qs8, DW_K5, qn_qs8_dwconv_ukernel_5x5__avx2);
        DW_SET(c, qs8, DW_K7, qn_qs8_dwconv_ukernel_7x7__avx2);
        DW_SET(c, qs8, DW_KANY, qn_qs8_dwconv_ukernel_kxk__avx2);
    }
    struct qn_dwconv_config *c = &g_dw[QN_ISA_AVX512];
    DW_SET(c, f32, DW_K3, qn_f32_dwconv_ukernel_3x3__avx512);
    DW_SET(c, f32, DW_K5, qn_f32_dwconv_ukernel_5x5__avx512);
    DW_SET(c, f32, DW_K7, qn_f32_dwconv_ukernel_7x7__avx512);
    DW_SET(c, f32, DW_KANY, qn_f32_dwconv_ukernel_kxk__avx512);
    DW_SET(c, qs8, DW_K3, qn_qs8_dwconv_ukernel_3x3__avx512);
    DW_SET(c, qs8, DW_K5, qn_qs8_dwconv_ukernel_5x5__avx512);
    DW_SET(c, qs8, DW_K7, qn_qs8_dwconv_ukernel_7x7__avx512);
    DW_SET(c, qs8, DW_KANY, qn_qs8_dwconv_ukernel_kxk__avx512);
}

static const struct qn_dwconv_config *dw_config(void) {
    pthread_once(&g_dw_once, dw_config_init);
    return &g_dw[qn_isa()];
}

// Direct small-reduction kernels (QN_CONV_PATH_DIRECT): one per dtype and level.
struct qn_conv_hwc_config {
    qn_f32_conv_hwc_ukernel_fn f32;
    const char *f32_name;
    qn_qs8_conv_hwc_ukernel_fn qs8;
    const char *qs8_name;
};

static struct qn_conv_hwc_config g_hwc[QN_ISA_COUNT];
static pthread_once_t g_hwc_once = PTHREAD_ONCE_INIT;

#define HWC_SET(cfg, dt, fn) ((cfg)->dt = fn, (cfg)->dt##_name = #fn)

static void hwc_config_init(void) {
    for (int l = 0; l < QN_ISA_COUNT; l++) {
        HWC_SET(&g_hwc[l], f32, qn_f32_conv_hwc_ukernel__scalar);
        HWC_SET(&g_hwc[l], qs8, qn_qs8_conv_hwc_ukernel__scalar);
    }
    // AVX-VNNI would only add vpdpwssd on ymm: one vpmaddwd + vpaddd per tap is not the limit
    for (int l = QN_ISA_AVX2; l <= QN_ISA_AVXVNNI; l++) {
        HWC_SET(&g_hwc[l], f32, qn_f32_conv_hwc_ukernel_8x8__avx2);
        HWC_SET(&g_hwc[l], qs8, qn_qs8_conv_hwc_ukernel_8x8__avx2);
    }
    HWC_SET(&g_hwc[QN_ISA_AVX512], f32, qn_f32_conv_hwc_ukernel_8x16__avx512);
    HWC_SET(&g_hwc[QN_ISA_AVX512], qs8, qn_qs8_conv_hwc_ukernel_8x16__avx512);
}

static const struct qn_conv_hwc_config *hwc_config(void) {
    pthread_once(&g_hwc_once, hwc_config_init);
    return &g_hwc[qn_isa()];
}

static int dw_slot(size_t k) { return k == 3 ? DW_K3 : k == 5 ? DW_K5 : k == 7 ? DW_K7 : DW_KANY; }

// At AVX-512 and AVX2, square 3/5/7 kernels with stride 1 or 2 take the band kernel (f32-dwconv.h) for
// images up to half the L2, the row kernels otherwise (and with GELU, or rows too long for a
// band, qn_f32_dwconv_band_rows).
typedef void (*f32_band_fn)(const struct qn_f32_dwconv_band_args *a);

// The band kernel of the current ISA level, NULL below AVX2.
static f32_band_fn f32_band_kernel(void) {
    const enum qn_isa isa = qn_isa();
    return isa == QN_ISA_AVX512                               ? qn_f32_dwconv_band__avx512
           : isa == QN_ISA_AVX2 || isa == QN_ISA_AVXVNNI ? qn_f32_dwconv_band__avx2
                                                          : NULL;
}

static const char *f32_band_name(size_t k) {
    static const char *const names[2][3] = {
        {"qn_f32_dwconv_band_3x3s{1,2}__avx512 (images <= L2/2; else ukernel_3x3)",
         "qn_f32_dwconv_band_5x5s{1,2}__avx512 (images <= L2/2; else ukernel_5x5)",
         "qn_f32_dwconv_band_7x7s{1,2}__avx512 (images <= L2/2; else ukernel_7x7)"},
        {"qn_f32_dwconv_band_3x3s{1,2}__avx2 (images <= L2/2; else ukernel_3x3)",
         "qn_f32_dwconv_band_5x5s{1,2}__avx2 (images <= L2/2; else ukernel_5x5)",
         "qn_f32_dwconv_band_7x7s{1,2}__avx2 (images <= L2/2; else ukernel_7x7)"},
    };
    const f32_band_fn f = f32_band_kernel();
    if (!f || dw_slot(k) == DW_KANY) return NULL;
    return names[f == qn_f32_dwconv_band__avx2][dw_slot(k)];
}

const char *qn_f32_dwconv_variant(size_t k) {
    const char *b = f32_band_name(k);
    return b ? b : dw_config()->f32_name[dw_slot(k)];
}
// Above the scalar level, square 3/5/7 kernels with stride 1 or 2 take the row-quad kernels.
static const char *qs8_dwq_name(size_t k) {
    static const char *const names[QN_ISA_COUNT][3] = {
        [QN_ISA_AVX2] = {"qn_qs8_dwq_ukernel_3x3s{1,2}__avx2", "qn_qs8_dwq_ukernel_5x5s{1,2}__avx2",
                         "qn_qs8_dwq_ukernel_7x7s{1,2}__avx2"},
        [QN_ISA_AVXVNNI] = {"qn_qs8_dwq_ukernel_3x3s{1,2}__avxvnni", "qn_qs8_dwq_ukernel_5x5s{1,2}__avxvnni",
                            "qn_qs8_dwq_ukernel_7x7s{1,2}__avxvnni"},
        [QN_ISA_AVX512] = {"qn_qs8_dwq_ukernel_3x3s{1,2}__avx512", "qn_qs8_dwq_ukernel_5x5s{1,2}__avx512",
                           "qn_qs8_dwq_ukernel_7x7s{1,2}__avx512"},
    };
    return dw_slot(k) == DW_KANY ? NULL : names[qn_isa()][dw_slot(k)];
}

const char *qn_qs8_dwconv_variant(size_t k) {
    const char *q = qs8_dwq_name(k);
    return q ? q : dw_config()->qs8_name[dw_slot(k)];
}

const char *qn_conv_path_name(enum qn_conv_path path) {
    switch (path) {
    case QN_CONV_PATH_GEMM_1X1: return "1x1 gemm";
    case QN_CONV_PATH_GEMM_1X1_SUB: return "1x1 subsample + gemm";
    case QN_CONV_PATH_IM2COL: return "im2col + gemm";
    case QN_CONV_PATH_DWCONV: return "depthwise direct";
    case QN_CONV_PATH_DIRECT: return "direct";
    }
    return "invalid";
}

// Static buffers: the answer only depends on the path and the ISA level, never on the caller.
static const char *path_variant(enum qn_conv_path path, size_t k, bool int8) {
    static _Thread_local char buf[160];
    if (path == QN_CONV_PATH_DWCONV)
        return int8 ? qn_qs8_dwconv_variant(k) : qn_f32_dwconv_variant(k);
    if (path == QN_CONV_PATH_DIRECT) return int8 ? hwc_config()->qs8_name : hwc_config()->f32_name;
    snprintf(buf, sizeof(buf), "%s (%s)", qn_conv_path_name(path),
             int8 ? qn_qgemm_variant(8, false) : qn_f32_gemm_variant());
    return buf;
}

const char *qn_f32_conv_variant(const struct qn_f32_conv *conv) {
    static _Thread_local char buf[160];
    if (conv->path != QN_CONV_PATH_GEMM_1X1) return path_variant(conv->path, conv->p.kh, false);
    // the 1x1 GEMM's kernel depends on c_out (the panels qn_f32_pack_b chose)
    snprintf(buf, sizeof(buf), "%s (%s)", qn_conv_path_name(conv->path), qn_f32_gemm_packed_variant(&conv->pw));
    return buf;
}
const char *qn_qs8_conv_variant(const struct qn_qs8_conv *conv) {
    if (conv->path == QN_CONV_PATH_DWCONV && !(conv->dwq_w && qs8_dwq_name(conv->p.kh)))
        return dw_config()->qs8_name[dw_slot(conv->p.kh)];
    return path_variant(conv->path, conv->p.kh, true);
}

// --- views and shapes ---

struct qn_conv_wview qn_conv_wview_ohwi(const void *full, size_t elem, size_t c_out_max,
                                        size_t k_max, size_t c_in_max, size_t c_out, size_t k,
                                        size_t c_in) {
    QN_ASSERT(c_out <= c_out_max && c_in <= c_in_max && k <= k_max && (k_max - k) % 2 == 0);
    const size_t off = (k_max - k) / 2;
    struct qn_conv_wview v = {
        .c_out = c_out, .kh = k, .kw = k, .c_in = c_in,
        .ld_o = k_max * k_max * c_in_max, .ld_h = k_max * c_in_max, .ld_w = c_in_max,
    };
    v.data = (const char *)full + (off * v.ld_h + off * v.ld_w) * elem;
    return v;
}

struct qn_conv_wview qn_conv_wview_dw(const void *full, size_t elem, size_t k_max, size_t c_max,
                                      size_t c, size_t k) {
    QN_ASSERT(c <= c_max && k <= k_max && (k_max - k) % 2 == 0);
    const size_t off = (k_max - k) / 2;
    struct qn_conv_wview v = {
        .c_out = c, .kh = k, .kw = k, .c_in = 1,
        .ld_o = 1, .ld_h = k_max * c_max, .ld_w = c_max,
    };
    v.data = (const char *)full + (off * v.ld_h + off * v.ld_w) * elem;
    return v;
}

static bool view_is_dw(const struct qn_conv_wview *w) { return w->c_in == 1 && w->ld_o == 1; }

void qn_conv_quantize_weights(const struct qn_conv_wview *w, int bits, int8_t *q, float *scale,
                              struct qn_conv_wview *qview) {
    QN_ASSERT(bits >= 2 && bits <= 8);
    const float *src = w->data;
    const float lim = (float)((1 << (bits - 1)) - 1);
    const bool dw = view_is_dw(w);
    struct qn_conv_wview qv = {.data = q, .c_out = w->c_out, .kh = w->kh, .kw = w->kw,
                               .c_in = w->c_in};
    if (dw) {
        qv.ld_o = 1, qv.ld_w = w->c_out, qv.ld_h = w->kw * w->c_out;
    } else {
        qv.ld_w = w->c_in, qv.ld_h = w->kw * w->c_in, qv.ld_o = w->kh * w->kw * w->c_in;
    }
    for (size_t o = 0; o < w->c_out; o++) {
        float amax = 0.0f;
        for (size_t i = 0; i < w->kh; i++)
            for (size_t j = 0; j < w->kw; j++)
                for (size_t ci = 0; ci < w->c_in; ci++)
                    amax = fmaxf(amax, fabsf(src[o * w->ld_o + i * w->ld_h + j * w->ld_w + ci]));
        const float s = amax > 0.0f ? amax / lim : 1.0f;
        scale[o] = s;
        for (size_t i = 0; i < w->kh; i++)
            for (size_t j = 0; j < w->kw; j++)
                for (size_t ci = 0; ci < w->c_in; ci++) {
                    float r = rintf(src[o * w->ld_o + i * w->ld_h + j * w->ld_w + ci] / s);
                    r = r < -lim ? -lim : (r > lim ? lim : r);
                    q[o * qv.ld_o + i * qv.ld_h + j * qv.ld_w + ci] = (int8_t)r;
                }
    }
    if (qview) *qview = qv;
}

size_t qn_conv_h_out(const struct qn_conv_params *p) {
    return (p->h + 2 * p->pad_h - p->kh) / p->stride_h + 1;
}
size_t qn_conv_w_out(const struct qn_conv_params *p) {
    return (p->w + 2 * p->pad_w - p->kw) / p->stride_w + 1;
}

static bool params_ok(const struct qn_conv_params *p, const struct qn_conv_wview *w) {
    if (!p->h || !p->w || !p->c_in || !p->c_out || !p->kh || !p->kw || !p->stride_h ||
        !p->stride_w || p->pad_h >= p->kh || p->pad_w >= p->kw)
        return false;
    if (p->h + 2 * p->pad_h < p->kh || p->w + 2 * p->pad_w < p->kw) return false;
    if (!w || !w->data || w->kh != p->kh || w->kw != p->kw || w->c_out != p->c_out) return false;
    if (p->depthwise)
        return p->c_in == p->c_out && p->kh == p->kw && p->stride_h == p->stride_w &&
               p->pad_h == p->pad_w && view_is_dw(w);
    return w->c_in == p->c_in && w->ld_w >= p->c_in;
}

static_assert(QN_CONV_DIRECT_MAX_T <= QN_CONV_HWC_MAX_T, "direct kernels take at most MAX_T taps");

bool qn_conv_direct_ok(const struct qn_conv_params *p, bool int8) {
    if (p->depthwise || (p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0)) return false;
    if (p->kh * p->kw * p->c_in > QN_CONV_DIRECT_MAX_T) return false;
    return !int8 || p->c_in * p->c_out <= QN_CONV_DIRECT_QS8_MAX_CIO;
}

static enum qn_conv_path choose_path(const struct qn_conv_params *p, bool int8) {
    if (p->depthwise) return QN_CONV_PATH_DWCONV;
    if (p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0)
        return p->stride_h == 1 && p->stride_w == 1 ? QN_CONV_PATH_GEMM_1X1
                                                    : QN_CONV_PATH_GEMM_1X1_SUB;
    if (qn_conv_direct_ok(p, int8)) return QN_CONV_PATH_DIRECT;
    return QN_CONV_PATH_IM2COL;
}

static struct qn_im2col_geom im2col_geom(const struct qn_conv_params *p, size_t h_out,
                                         size_t w_out, size_t ld_x) {
    return (struct qn_im2col_geom){
        .h = p->h, .w = p->w, .c = p->c_in, .ld_x = ld_x, .kh = p->kh, .kw = p->kw,
        .stride_h = p->stride_h, .stride_w = p->stride_w, .pad_h = p->pad_h, .pad_w = p->pad_w,
        .h_out = h_out, .w_out = w_out,
    };
}

// Threads for a loop of `macs` multiply-adds: a parallel region costs a few microseconds, so
// tiny layers stay on the calling thread.
static int threads_for(double macs) { return macs < 2.0e5 ? 1 : qn_threads(); }

static int threads_for_q8(double macs) { return macs < QN_Q8_PARALLEL_MACS ? 1 : qn_threads(); }

// Rows of the depthwise output: kernel rows [i_lo, i_hi) that fall inside the image, and the
// input row under i_lo.
static void dw_rows(const struct qn_conv_params *p, size_t oh, size_t *i_lo, size_t *i_hi,
                    size_t *ih_lo) {
    ptrdiff_t ih0 = (ptrdiff_t)(oh * p->stride_h) - (ptrdiff_t)p->pad_h;
    ptrdiff_t lo = ih0 < 0 ? -ih0 : 0;
    ptrdiff_t hi = (ptrdiff_t)p->h - ih0;
    if (hi > (ptrdiff_t)p->kh) hi = (ptrdiff_t)p->kh;
    if (hi < lo) hi = lo;
    *i_lo = (size_t)lo;
    *i_hi = (size_t)hi;
    *ih_lo = hi > lo ? (size_t)(ih0 + lo) : 0;
}

// --- FP32 ---

// The GEMM reduction runs over (i, j, ci) in one call when the slice is contiguous in that
// order, else per kernel row or per tap (views of the supernet tensor, never copied).
static size_t f32_segments(const struct qn_conv_wview *w, size_t *seg_len) {
    const bool row_contig = w->kw == 1 || w->ld_w == w->c_in;
    const bool all_contig = row_contig && (w->kh == 1 || w->ld_h == w->kw * w->c_in);
    if (all_contig) return *seg_len = w->kh * w->kw * w->c_in, 1;
    if (row_contig) return *seg_len = w->kw * w->c_in, w->kh;
    return *seg_len = w->c_in, w->kh * w->kw;
}

enum qn_status qn_f32_conv_init(struct qn_f32_conv *conv, const struct qn_conv_params *p,
                                const struct qn_conv_wview *w) {
    memset(conv, 0, sizeof(*conv));
    if (!params_ok(p, w)) return QN_ERR_ARG;
    conv->p = *p;
    conv->w = *w;
    conv->h_out = qn_conv_h_out(p);
    conv->w_out = qn_conv_w_out(p);
    conv->path = choose_path(p, false);
    const size_t pix = conv->h_out * conv->w_out;
    size_t seg_len;
    switch (conv->path) {
    case QN_CONV_PATH_GEMM_1X1: case QN_CONV_PATH_DWCONV: break;
    case QN_CONV_PATH_GEMM_1X1_SUB: conv->scratch_elems = pix * p->c_in; break;
    case QN_CONV_PATH_DIRECT:  // weights as [kh * kw * c_in][c_pad], repacked every run
        conv->scratch_elems = p->kh * p->kw * p->c_in * QN_ROUND_UP(p->c_out, QN_CONV_HWC_CPAD);
        break;
    case QN_CONV_PATH_IM2COL:
        conv->scratch_elems = pix * p->kh * p->kw * p->c_in;
        // several GEMM segments accumulate into a private [pix][c_out] buffer first
        if (f32_segments(w, &seg_len) > 1) conv->scratch_elems += pix * p->c_out;
        break;
    }
    if (conv->scratch_elems) {
        conv->scratch = qn_alloc(conv->scratch_elems * sizeof(float));
        if (!conv->scratch) return QN_ERR_NOMEM;
    }
    // One-GEMM reductions take their weights pre-packed: at batch 1 the weights are the large
    // operand (a 4x4 map is M = 16 rows against c_out x c_in weights), and packing them on every
    // call cost about as much as the multiply.
    const bool one_gemm = conv->path == QN_CONV_PATH_GEMM_1X1 || conv->path == QN_CONV_PATH_GEMM_1X1_SUB ||
                          (conv->path == QN_CONV_PATH_IM2COL && f32_segments(w, &seg_len) == 1);
    if (one_gemm) {
        const enum qn_status st =
            qn_f32_pack_b(&conv->pw, true, p->kh * p->kw * p->c_in, p->c_out, w->data, w->ld_o);
        if (st) {
            qn_f32_conv_free(conv);
            return st;
        }
    }
    return QN_OK;
}

void qn_f32_conv_free(struct qn_f32_conv *conv) {
    qn_f32_packed_b_free(&conv->pw);
    qn_free(conv->scratch);
    memset(conv, 0, sizeof(*conv));
}

struct band_ctx {
    f32_band_fn kernel;  // of the ISA level, chosen once per call
    const struct qn_conv_params *p;
    const struct qn_conv_wview *w;
    const struct qn_epilogue *ep;
    const float *x;
    size_t ld_x;
    float *y;
    size_t ld_y, h_out, w_out, band, n_cb, n_band;
    bool touch;   // a batch from memory: each image read into L2 before its blocks (see band_task)
    bool stream;  // the output bypasses the caches (qn_stream_bytes)
};

// Reads one float of every cache line of an input image, front to back. The band tasks read
// an image 64 bytes out of every pixel per 16-channel block, a stride with which lines come
// from memory at a fraction of the sequential rate (64 x 28 x 28 x 144, 5x5: 41 GF/s with
// the image read from memory by the blocks, 81 when this pass reads it first into L2).
static void touch_image(const float *x, size_t floats) {
    float s = 0.0f;
    for (size_t i = 0; i < floats; i += 16) s += x[i];
    __asm__ volatile("" : : "g"(s));  // keep the loads
}

// Task t of a thread's tasks [t_lo, t_hi): image, 16-channel block and band of output rows.
//
// A batch (c->touch): the thread's first image is read into L2 before its first block
// (touch_image); while the thread works through an image, its tasks fetch the thread's next
// image, each task a share of its input lines into L2 and of its output lines for writing,
// spread over the task's rows. Reading the image first and only then computing left the
// memory idle during the blocks and the blocks waiting on their output lines: 64 x 14 x 14 x
// 96, 3x3, Xeon with AMX, make bench rows (two alternations of the builds): 1 thread 37.1-38.1
// GF/s (0.72-0.73x oneDNN) -> 51.4-53.0 (1.00-1.06x), 2 threads 0.73x -> 0.99-1.00x; a 4.8 MB
// copy (this layer's input and output) runs at 63 GF/s of it here.
static void band_task(const struct band_ctx *c, size_t t, size_t t_lo, size_t t_hi) {
    const struct qn_conv_params *p = c->p;
    const struct qn_epilogue *e = c->ep;
    const size_t per_img = c->n_cb * c->n_band;
    const size_t img = t / per_img, cb = (t / c->n_band) % c->n_cb * 16, b = t % c->n_band;
    const size_t pix = img * c->h_out * c->w_out;
    const size_t in_floats = p->h * p->w * c->ld_x, out_floats = c->h_out * c->w_out * c->ld_y;
    if (c->touch && t == t_lo) touch_image(c->x + img * in_floats, in_floats);
    size_t in_lo = 0, in_hi = 0, out_lo = 0, out_hi = 0;
    const bool next = c->touch && (img + 1) * per_img < t_hi;
    if (next) {
        qn_dwconv_pf_share(QN_DIV_UP(in_floats, 16), t % per_img, per_img, &in_lo, &in_hi);
        if (!c->stream) qn_dwconv_pf_share(QN_DIV_UP(out_floats, 16), t % per_img, per_img, &out_lo, &out_hi);
    }
    const struct qn_f32_dwconv_band_args a = {
        .k = p->kh, .stride = p->stride_h, .pad = p->pad_h, .h_in = p->h, .w_in = p->w, .w_out = c->w_out,
        .oh0 = b * c->band, .oh1 = QN_MIN(c->h_out, (b + 1) * c->band), .nc = QN_MIN(16, p->c_in - cb),
        .x = c->x + img * p->h * p->w * c->ld_x + cb, .ld_x = c->ld_x,
        .w = (const float *)c->w->data + cb, .ld_wh = c->w->ld_h, .ld_ww = c->w->ld_w,
        .bias = e->bias ? e->bias + cb : NULL,
        .res = e->residual ? e->residual + pix * e->ldr + cb : NULL, .ld_r = e->ldr,
        .res_before_act = e->residual_before_act, .act = e->act,
        .y = c->y + pix * c->ld_y + cb, .ld_y = c->ld_y, .stream = c->stream,
        .pf = next ? (const char *)(c->x + (img + 1) * in_floats) + 64 * in_lo : NULL,
        .pfw = next ? (const char *)(c->y + (img + 1) * out_floats) + 64 * out_lo : NULL,
        .pf_lines = in_hi - in_lo, .pfw_lines = out_hi - out_lo,
    };
    c->kernel(&a);
}

// Band path (qn_f32_dwconv_band__avx512): tasks of (image, 16-channel block, band of output
// rows), so a batch-1 layer still splits across threads by channel block. It reads each
// image once per 16-channel block, 64 bytes out of every pixel: fast while the input sits in
// L2 (a batch-1 layer reads what the layer before it just wrote), slow when those lines come
// from memory. Inputs beyond BAND_MAX_BYTES (a batch) are therefore read image by image, front
// to back, before the image's first block (touch_image), which needs the image to fit half
// the L2; larger images take the row kernels. Outputs of qn_stream_bytes() or more are stored
// non-temporally. False when it does not apply: another ISA, kernel or stride, GELU, rows too
// long for a band, an image too large.
#define BAND_MAX_BYTES (512u << 10)
static bool f32_dwconv_band_run(struct qn_f32_conv *conv, size_t n, const float *x, size_t ld_x,
                                float *y, size_t ld_y, const struct qn_epilogue *ep) {
    const struct qn_conv_params *p = &conv->p;
    const size_t k = p->kh, s = p->stride_h;
    if (!f32_band_name(k) || p->kw != k || p->stride_w != s || s > 2 || p->pad_w != p->pad_h ||
        (ep && ep->act == QN_ACT_GELU))
        return false;
    const size_t h_out = conv->h_out, w_out = conv->w_out;
    const size_t band = qn_f32_dwconv_band_rows(k, s, w_out, h_out);
    if (!band) return false;
    // Inputs beyond BAND_MAX_BYTES take the band kernels when one image fits in half the L2
    // (read into it first, touch_image), else the row kernels.
    const size_t image_bytes = p->h * p->w * ld_x * sizeof(float);
    const unsigned long l2_found = qn_cpu()->l2, l2 = l2_found ? l2_found : (1u << 20);
    const bool touch = n * image_bytes > BAND_MAX_BYTES;
    if (touch && image_bytes > l2 / 2) return false;
    const size_t n_cb = QN_DIV_UP(p->c_in, 16), n_band = QN_DIV_UP(h_out, band);
    const size_t tasks = n * n_cb * n_band;
    const double macs = (double)n * h_out * w_out * p->c_in * k * k;
    const struct qn_epilogue none = {0};
    const struct band_ctx c = {.kernel = f32_band_kernel(), .p = p, .w = &conv->w, .ep = ep ? ep : &none, .x = x, .ld_x = ld_x, .y = y,
                               .ld_y = ld_y, .h_out = h_out, .w_out = w_out, .band = band, .n_cb = n_cb,
                               .n_band = n_band, .touch = touch,
                               .stream = (double)n * h_out * w_out * ld_y * sizeof(float) >= qn_stream_bytes()};
    // The other layers' threshold (2e5). With blocks of 7 at a 14-pixel row's borders, a 3x3
    // layer of 96 channels at 14x14 (169k MACs, batch 1) ran faster on two threads (Zen 5:
    // 146-158 GFLOP/s against 123-136 on one), and this path had 1.5e5; with the blocks of 14
    // one thread takes 3.5-3.6 us and two 4.2 (Xeon with AMX, 80-81 against 94-96 GFLOP/s,
    // alternating), while 7x7x576 (254k) and 28x28x48 (338k) still gain 10-30% on two.
    const int nt = threads_for(macs);
    if (nt <= 1) {  // no parallel region at all: opening one, even of one thread, costs ~0.5 us
        for (size_t t = 0; t < tasks; t++) band_task(&c, t, 0, tasks);
        if (c.stream) qn_store_fence();
        return true;
    }
#pragma omp parallel num_threads(nt)
    {
        // contiguous ranges (as schedule(static)): a thread's next image is its own
        const size_t me = (size_t)omp_get_thread_num(), all = (size_t)omp_get_num_threads();
        const size_t lo = tasks * me / all, hi = tasks * (me + 1) / all;
        for (size_t t = lo; t < hi; t++) band_task(&c, t, lo, hi);
        if (c.stream) qn_store_fence();
    }
    return true;
}

static void f32_dwconv_run(struct qn_f32_conv *conv, size_t n, const float *x, size_t ld_x,
                           float *y, size_t ld_y, const struct qn_epilogue *ep) {
    if (f32_dwconv_band_run(conv, n, x, ld_x, y, ld_y, ep)) return;
    const struct qn_conv_params *p = &conv->p;
    const qn_f32_dwconv_ukernel_fn ukernel = dw_config()->f32[dw_slot(p->kh)];
    const size_t h_out = conv->h_out, w_out = conv->w_out, rows = n * h_out;
    const double macs = (double)rows * w_out * p->c_in * p->kh * p->kw;
    const struct qn_conv_wview *w = &conv->w;
#pragma omp parallel for num_threads(threads_for(macs)) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const size_t img = r / h_out, oh = r % h_out;
        size_t i_lo, i_hi, ih_lo;
        dw_rows(p, oh, &i_lo, &i_hi, &ih_lo);
        struct qn_f32_dwconv_args a = {
            .c = p->c_in, .k = p->kh, .w_in = p->w, .w_out = w_out,
            .stride = p->stride_w, .pad = p->pad_w,
            .x = x + (img * p->h + ih_lo) * p->w * ld_x, .ld_x = ld_x, .ld_xrow = p->w * ld_x,
            .i_lo = i_lo, .i_hi = i_hi,
            .w = w->data, .ld_wh = w->ld_h, .ld_ww = w->ld_w,
            .y = y + r * w_out * ld_y, .ld_y = ld_y,
        };
        const float *res = ep && ep->residual ? ep->residual + r * w_out * ep->ldr : NULL;
        const bool gelu = ep && ep->act == QN_ACT_GELU;
        size_t ldr = ep ? ep->ldr : 0;
        float *saved = NULL;
        if (gelu && res && !ep->residual_before_act && res == a.y) {
            // the residual is the output row, which the kernel overwrites before the late add
            saved = malloc(w_out * p->c_in * sizeof(float));
            QN_ASSERT(saved);
            for (size_t ow = 0; ow < w_out; ow++) memcpy(saved + ow * p->c_in, res + ow * ldr, p->c_in * sizeof(float));
            res = saved, ldr = p->c_in;
        }
        if (ep) {
            a.bias = ep->bias;
            a.act = gelu ? QN_ACT_NONE : ep->act;
            a.res_before_act = ep->residual_before_act;
            if (res && (!gelu || ep->residual_before_act)) a.res = res, a.ld_r = ep->ldr;
        }
        ukernel(&a);
        if (!gelu) continue;
        // GELU after the kernel (see f32-dwconv/dwconv-epilogue.h), then a late residual
        for (size_t ow = 0; ow < w_out; ow++)
            for (size_t ch = 0; ch < p->c_in; ch++) {
                float *yp = a.y + ow * ld_y + ch;
                *yp = qn_act_ref(QN_ACT_GELU, *yp);
                if (res && !ep->residual_before_act) *yp += res[ow * ldr + ch];
            }
        free(saved);
    }
}

// --- direct small-reduction path ---

// Rows [r0, r1) of the n * h_out output rows, on the calling thread.
typedef void (*direct_rows_fn)(void *ctx, size_t r0, size_t r1);

// Threads for `macs` multiply-adds over `rows` output rows. Below the threads_for threshold
// no parallel region is opened at all (the stem at batch 1 takes a few microseconds, less
// than waking the team); otherwise tasks of consecutive rows, 8 per thread, handed out
// dynamically so that a thread the OS preempts does not hold the others back.
static void direct_parallel(size_t rows, double macs, direct_rows_fn fn, void *ctx) {
    const int nt = threads_for(macs);
    if (nt <= 1 || rows <= 1) {
        fn(ctx, 0, rows);
        return;
    }
    const size_t per = QN_MAX(rows / (8 * (size_t)nt), 1), tasks = QN_DIV_UP(rows, per);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (size_t t = 0; t < tasks; t++) fn(ctx, t * per, QN_MIN(rows, (t + 1) * per));
}

struct f32_direct_ctx {
    const struct qn_f32_conv *conv;
    qn_f32_conv_hwc_ukernel_fn ukernel;
    const float *x, *w;
    size_t ld_x, ld_y, c_pad;
    float *y;
    const struct qn_epilogue *ep;
};

static void f32_direct_rows(void *vctx, size_t r0, size_t r1) {
    const struct f32_direct_ctx *c = vctx;
    const struct qn_conv_params *p = &c->conv->p;
    const size_t h_out = c->conv->h_out, w_out = c->conv->w_out;
    const struct qn_epilogue *ep = c->ep;
    for (size_t r = r0; r < r1; r++) {
        const size_t img = r / h_out, oh = r % h_out;
        size_t i_lo, i_hi, ih_lo;
        dw_rows(p, oh, &i_lo, &i_hi, &ih_lo);
        struct qn_f32_conv_hwc_args a = {
            .c_in = p->c_in, .c_out = p->c_out, .kw = p->kw, .w_in = p->w, .w_out = w_out,
            .stride = p->stride_w, .pad = p->pad_w,
            .x = c->x + (img * p->h + ih_lo) * p->w * c->ld_x, .ld_x = c->ld_x,
            .ld_xrow = p->w * c->ld_x, .i_lo = i_lo, .i_hi = i_hi,
            .w = c->w, .c_pad = c->c_pad,
            .y = c->y + r * w_out * c->ld_y, .ld_y = c->ld_y,
        };
        if (ep) {
            a.bias = ep->bias, a.act = ep->act, a.res_before_act = ep->residual_before_act;
            if (ep->residual) a.res = ep->residual + r * w_out * ep->ldr, a.ld_r = ep->ldr;
        }
        c->ukernel(&a);
    }
}

// The view is read at every run (FP32 weights are never copied at init, so a caller may
// update them in place): pack [tap][c_pad] into scratch, T * c_pad floats, then the rows.
static void f32_direct_run(struct qn_f32_conv *conv, size_t n, const float *x, size_t ld_x,
                           float *y, size_t ld_y, const struct qn_epilogue *ep) {
    const struct qn_conv_params *p = &conv->p;
    const struct qn_conv_wview *w = &conv->w;
    const size_t c_pad = QN_ROUND_UP(p->c_out, QN_CONV_HWC_CPAD), T = p->kh * p->kw * p->c_in;
    const float *wd = w->data;
    float *wp = conv->scratch;
    for (size_t i = 0; i < p->kh; i++)
        for (size_t j = 0; j < p->kw; j++)
            for (size_t ci = 0; ci < p->c_in; ci++) {
                float *dst = wp + ((i * p->kw + j) * p->c_in + ci) * c_pad;
                const float *src = wd + i * w->ld_h + j * w->ld_w + ci;
                for (size_t o = 0; o < p->c_out; o++) dst[o] = src[o * w->ld_o];
                for (size_t o = p->c_out; o < c_pad; o++) dst[o] = 0.0f;
            }
    struct f32_direct_ctx c = {
        .conv = conv,
        // GELU is scalar either way (tanhf): the scalar kernel applies it in place, in order
        // with a residual that may be y itself
        .ukernel = ep && ep->act == QN_ACT_GELU ? qn_f32_conv_hwc_ukernel__scalar
                                                : hwc_config()->f32,
        .x = x, .w = wp, .ld_x = ld_x, .ld_y = ld_y, .c_pad = c_pad, .y = y, .ep = ep,
    };
    const size_t rows = n * conv->h_out;
    direct_parallel(rows, (double)rows * conv->w_out * p->c_out * T, f32_direct_rows, &c);
}

// Per image epilogue: the residual moves with the image.
static struct qn_epilogue ep_for_image(const struct qn_epilogue *ep, size_t img, size_t pix) {
    struct qn_epilogue e = *ep;
    if (e.residual) e.residual += img * pix * e.ldr;
    return e;
}

void qn_f32_conv_run(struct qn_f32_conv *conv, size_t n, const float *x, size_t ld_x, float *y,
                     size_t ld_y, const struct qn_epilogue *ep) {
    const struct qn_conv_params *p = &conv->p;
    QN_ASSERT(ld_x >= p->c_in && ld_y >= p->c_out);
    if (n == 0) return;
    const float *wd = conv->w.data;
    const size_t pix = conv->h_out * conv->w_out, img_in = p->h * p->w * ld_x;
    const struct qn_epilogue none = {0};
    switch (conv->path) {
    case QN_CONV_PATH_DWCONV:
        f32_dwconv_run(conv, n, x, ld_x, y, ld_y, ep);
        return;
    case QN_CONV_PATH_DIRECT:
        f32_direct_run(conv, n, x, ld_x, y, ld_y, ep);
        return;
    case QN_CONV_PATH_GEMM_1X1:
        qn_f32_gemm_packed(n * pix, x, ld_x, &conv->pw, y, ld_y, ep);
        return;
    case QN_CONV_PATH_GEMM_1X1_SUB:
        for (size_t img = 0; img < n; img++) {
            const float *xi = x + img * img_in;
            for (size_t oh = 0; oh < conv->h_out; oh++)
                for (size_t ow = 0; ow < conv->w_out; ow++)
                    memcpy(conv->scratch + (oh * conv->w_out + ow) * p->c_in,
                           xi + (oh * p->stride_h * p->w + ow * p->stride_w) * ld_x,
                           p->c_in * sizeof(float));
            const struct qn_epilogue e = ep_for_image(ep ? ep : &none, img, pix);
            qn_f32_gemm_packed(pix, conv->scratch, p->c_in, &conv->pw, y + img * pix * ld_y, ld_y, &e);
        }
        return;
    case QN_CONV_PATH_IM2COL: break;
    }
    const struct qn_im2col_geom g = im2col_geom(p, conv->h_out, conv->w_out, ld_x);
    const size_t K = p->kh * p->kw * p->c_in;
    size_t seg_len;
    const size_t segs = f32_segments(&conv->w, &seg_len);
    float *col = conv->scratch, *acc = conv->scratch + pix * K;
    const double macs = (double)pix * K;  // copies, weighted like MACs
    for (size_t img = 0; img < n; img++) {
        const float *xi = x + img * img_in;
        const int nt = threads_for(macs);
#pragma omp parallel num_threads(nt)
        {
            // contiguous row ranges per thread
            const int t = omp_get_thread_num(), tn = omp_get_num_threads();
            const size_t r0 = pix * (size_t)t / (size_t)tn, r1 = pix * (size_t)(t + 1) / (size_t)tn;
            qn_f32_im2col(&g, xi, col, K, r0, r1);
        }
        const struct qn_epilogue e = ep_for_image(ep ? ep : &none, img, pix);
        float *yi = y + img * pix * ld_y;
        if (segs == 1) {
            qn_f32_gemm_packed(pix, col, K, &conv->pw, yi, ld_y, &e);
            continue;
        }
        for (size_t s = 0; s < segs; s++) {
            const size_t i = segs == p->kh ? s : s / p->kw, j = segs == p->kh ? 0 : s % p->kw;
            const float *b = wd + i * conv->w.ld_h + j * conv->w.ld_w;
            qn_f32_gemm(false, true, pix, p->c_out, seg_len, 1.0f, col + s * seg_len, K, b,
                        conv->w.ld_o, s ? 1.0f : 0.0f, acc, p->c_out,
                        s + 1 == segs ? &e : NULL);
        }
        for (size_t m = 0; m < pix; m++)
            memcpy(yi + m * ld_y, acc + m * p->c_out, p->c_out * sizeof(float));
    }
}

// --- INT8 ---

// Index of (k0, k1, k2) among keys[0 .. *n) (appended when new).
static size_t key_index(ptrdiff_t (*keys)[3], size_t *n, ptrdiff_t k0, ptrdiff_t k1, ptrdiff_t k2) {
    for (size_t i = 0; i < *n; i++)
        if (keys[i][0] == k0 && keys[i][1] == k1 && keys[i][2] == k2) return i;
    keys[*n][0] = k0, keys[*n][1] = k1, keys[*n][2] = k2;
    return (*n)++;
}

// The row-quad plan of a square 3/5/7 depthwise kernel with stride 1 or 2 (qs8-dwconv.h):
// weight sets, row and column classes, the real taps' weight sums. Other shapes keep the row
// kernels. False only when out of memory.
static bool qs8_dwq_plan(struct qn_qs8_conv *conv, const int8_t *wd, const struct qn_conv_wview *w) {
    const struct qn_conv_params *p = &conv->p;
    const size_t k = p->kh, s = p->stride_h, pad = p->pad_h, h = p->h, wi = p->w, c = p->c_in;
    const size_t h_out = conv->h_out, w_out = conv->w_out, blocks = conv->c_pad / 16;
    if (p->kw != k || (k != 3 && k != 5 && k != 7) || p->stride_w != s || (s != 1 && s != 2) ||
        p->pad_w != pad || h_out > 65535 || (h + 3) / 4 > 65535)
        return true;
    // per output row: set key (nq, d, e) and row class (i_lo, i_hi); per column: (j_lo, j_hi)
    ptrdiff_t(*set_keys)[3] = malloc(h_out * sizeof(*set_keys));
    ptrdiff_t(*rc_keys)[3] = malloc(h_out * sizeof(*rc_keys));
    ptrdiff_t(*cc_keys)[3] = malloc(w_out * sizeof(*cc_keys));
    conv->dwq_rows = qn_alloc(h_out * sizeof(struct qn_qs8_dwq_row));
    conv->dwq_cols = qn_alloc(w_out);
    bool ok = set_keys && rc_keys && cc_keys && conv->dwq_rows && conv->dwq_cols;
    size_t n_sets = 0, nq_max = 0;
    conv->dwq_n_rc = conv->dwq_n_cc = 0;
    for (size_t oy = 0; ok && oy < h_out; oy++) {
        const ptrdiff_t r0 = (ptrdiff_t)(oy * s) - (ptrdiff_t)pad;
        const ptrdiff_t top = r0 > 0 ? r0 : 0;
        const ptrdiff_t bot = r0 + (ptrdiff_t)k < (ptrdiff_t)h ? r0 + (ptrdiff_t)k : (ptrdiff_t)h;
        const ptrdiff_t q_lo = top / 4, nq = (bot - 1) / 4 + 1 - q_lo;
        // the set's content is a function of the window's offset in its first quad (d, may be
        // negative), the quads it spans and the image rows they hold (e)
        const ptrdiff_t d = r0 - 4 * q_lo, e = QN_MIN((ptrdiff_t)h - 4 * q_lo, 4 * nq);
        conv->dwq_rows[oy] = (struct qn_qs8_dwq_row){
            .set = (uint16_t)key_index(set_keys, &n_sets, nq, d, e),
            .q_lo = (uint16_t)q_lo,
            .nq = (uint16_t)nq,
            .rc = (uint16_t)key_index(rc_keys, &conv->dwq_n_rc, top - r0, bot - r0, 0),
        };
        if ((size_t)nq > nq_max) nq_max = (size_t)nq;
    }
    for (size_t ox = 0; ok && ox < w_out; ox++) {
        size_t j_lo, j_hi;
        qn_dwconv_taps(ox, wi, k, s, pad, &j_lo, &j_hi);
        const size_t cc = key_index(cc_keys, &conv->dwq_n_cc, (ptrdiff_t)j_lo, (ptrdiff_t)j_hi, 0);
        QN_ASSERT(cc < 256);  // at most (k + 1)^2 / 2 pairs j_lo < j_hi
        conv->dwq_cols[ox] = (uint8_t)cc;
    }
    const size_t n_corr = conv->dwq_n_rc * conv->dwq_n_cc * 16;
    if (ok) {
        conv->dwq_set_stride = nq_max * k * 64;
        conv->dwq_block_stride = n_sets * conv->dwq_set_stride;
        conv->dwq_w = qn_alloc(blocks * conv->dwq_block_stride);
        conv->dwq_wsum = qn_alloc(blocks * n_corr * sizeof(int32_t));
        conv->dwq_zcorr = qn_alloc(blocks * n_corr * sizeof(int32_t));
        ok = conv->dwq_w && conv->dwq_wsum && conv->dwq_zcorr;
    }
    if (ok) {
        memset(conv->dwq_w, 0, blocks * conv->dwq_block_stride);
        memset(conv->dwq_wsum, 0, blocks * n_corr * sizeof(int32_t));
        conv->dwq_zp = -1;
        for (size_t st = 0; st < n_sets; st++) {
            const ptrdiff_t nq = set_keys[st][0], d = set_keys[st][1], e = set_keys[st][2];
            for (ptrdiff_t rr = 0; rr < 4 * nq; rr++) {  // row within the set's quads
                const ptrdiff_t i = rr - d;
                if (rr >= e || i < 0 || i >= (ptrdiff_t)k) continue;
                for (size_t j = 0; j < k; j++)
                    for (size_t ch = 0; ch < c; ch++)
                        conv->dwq_w[ch / 16 * conv->dwq_block_stride + st * conv->dwq_set_stride +
                                    ((size_t)(rr / 4) * k + j) * 64 +
                                    qn_qs8_dwq_pos(qn_qs8_conv_dwq_pairs(conv), ch % 16, (size_t)(rr % 4))] =
                            wd[(size_t)i * w->ld_h + j * w->ld_w + ch];
            }
        }
        for (size_t rc = 0; rc < conv->dwq_n_rc; rc++)
            for (size_t cc = 0; cc < conv->dwq_n_cc; cc++)
                for (size_t ch = 0; ch < c; ch++) {
                    int32_t sum = 0;
                    for (ptrdiff_t i = rc_keys[rc][0]; i < rc_keys[rc][1]; i++)
                        for (ptrdiff_t j = cc_keys[cc][0]; j < cc_keys[cc][1]; j++)
                            sum += wd[(size_t)i * w->ld_h + (size_t)j * w->ld_w + ch];
                    conv->dwq_wsum[ch / 16 * n_corr + (rc * conv->dwq_n_cc + cc) * 16 + ch % 16] = sum;
                }
    }
    free(set_keys), free(rc_keys), free(cc_keys);
    return ok;
}

enum qn_status qn_qs8_conv_init(struct qn_qs8_conv *conv, const struct qn_conv_params *p,
                                const struct qn_conv_wview *w, const float *w_scale, int bits) {
    memset(conv, 0, sizeof(*conv));
    if (!params_ok(p, w) || !w_scale || bits < 2 || bits > 8) return QN_ERR_ARG;
    conv->p = *p;
    conv->h_out = qn_conv_h_out(p);
    conv->w_out = qn_conv_w_out(p);
    conv->path = choose_path(p, true);
    conv->isa = qn_isa();
    const int8_t *wd = w->data;
    const int lim = (1 << (bits - 1)) - 1;
    const size_t pix = conv->h_out * conv->w_out;
    if (conv->path == QN_CONV_PATH_DWCONV) {
        const size_t c = p->c_in, kk = p->kh * p->kw;
        conv->c_pad = QN_ROUND_UP(c, 16);
        conv->dw_w = qn_alloc(kk * conv->c_pad * sizeof(int32_t));
        conv->w_scale = qn_alloc(c * sizeof(float));
        conv->dw_mul = qn_alloc(conv->c_pad * sizeof(float));
        if (!conv->dw_w || !conv->w_scale || !conv->dw_mul) {
            qn_qs8_conv_free(conv);
            return QN_ERR_NOMEM;
        }
        memset(conv->dw_w, 0, kk * conv->c_pad * sizeof(int32_t));
        memset(conv->dw_mul, 0, conv->c_pad * sizeof(float));
        for (size_t i = 0; i < p->kh; i++)
            for (size_t j = 0; j < p->kw; j++)
                for (size_t ch = 0; ch < c; ch++) {
                    const int v = wd[i * w->ld_h + j * w->ld_w + ch];
                    if (v > lim || v < -lim) {
                        qn_qs8_conv_free(conv);
                        return QN_ERR_ARG;
                    }
                    conv->dw_w[(i * p->kw + j) * conv->c_pad + ch] = (int32_t)(uint16_t)(int16_t)v;
                }
        memcpy(conv->w_scale, w_scale, c * sizeof(float));
        return qs8_dwq_plan(conv, wd, w) ? QN_OK : (qn_qs8_conv_free(conv), QN_ERR_NOMEM);
    }
    if (conv->path == QN_CONV_PATH_DIRECT) {
        const size_t T = p->kh * p->kw * p->c_in;
        conv->c_pad = QN_ROUND_UP(p->c_out, QN_CONV_HWC_CPAD);
        conv->hwc_w = qn_alloc(T * conv->c_pad * sizeof(int32_t));
        conv->w_scale = qn_alloc(p->c_out * sizeof(float));
        conv->dw_mul = qn_alloc(conv->c_pad * sizeof(float));
        if (!conv->hwc_w || !conv->w_scale || !conv->dw_mul) {
            qn_qs8_conv_free(conv);
            return QN_ERR_NOMEM;
        }
        memset(conv->hwc_w, 0, T * conv->c_pad * sizeof(int32_t));
        memset(conv->dw_mul, 0, conv->c_pad * sizeof(float));
        for (size_t o = 0; o < p->c_out; o++)
            for (size_t i = 0; i < p->kh; i++)
                for (size_t j = 0; j < p->kw; j++)
                    for (size_t ci = 0; ci < p->c_in; ci++) {
                        const int v = wd[o * w->ld_o + i * w->ld_h + j * w->ld_w + ci];
                        if (v > lim || v < -lim) {
                            qn_qs8_conv_free(conv);
                            return QN_ERR_ARG;
                        }
                        conv->hwc_w[((i * p->kw + j) * p->c_in + ci) * conv->c_pad + o] =
                            (int32_t)(uint16_t)(int16_t)v;
                    }
        memcpy(conv->w_scale, w_scale, p->c_out * sizeof(float));
        return QN_OK;
    }
    // GEMM paths: W as [c_out][kh * kw * c_in] (a dense copy of the slice, packed once)
    const size_t K = p->kh * p->kw * p->c_in;
    int8_t *dense = qn_alloc(p->c_out * K);
    if (!dense) return QN_ERR_NOMEM;
    for (size_t o = 0; o < p->c_out; o++)
        for (size_t i = 0; i < p->kh; i++)
            for (size_t j = 0; j < p->kw; j++)
                memcpy(dense + o * K + (i * p->kw + j) * p->c_in,
                       wd + o * w->ld_o + i * w->ld_h + j * w->ld_w, p->c_in);
    enum qn_status st = qn_qgemm_pack(&conv->gw, dense, K, p->c_out, K, w_scale, bits, 8);
    qn_free(dense);
    if (st != QN_OK) return st;
    if (conv->path == QN_CONV_PATH_GEMM_1X1_SUB) conv->scratch_elems = pix * p->c_in;
    if (conv->path == QN_CONV_PATH_IM2COL) conv->scratch_elems = pix * K;
    if (conv->scratch_elems) {
        conv->scratch = qn_alloc(conv->scratch_elems);
        if (!conv->scratch) {
            qn_qs8_conv_free(conv);
            return QN_ERR_NOMEM;
        }
    }
    return QN_OK;
}

void qn_qs8_conv_free(struct qn_qs8_conv *conv) {
    qn_qgemm_weights_free(&conv->gw);
    qn_free(conv->dw_w);
    qn_free(conv->w_scale);
    qn_free(conv->dw_mul);
    qn_free(conv->dwq_w);
    qn_free(conv->dwq_rows);
    qn_free(conv->dwq_cols);
    qn_free(conv->dwq_wsum);
    qn_free(conv->dwq_zcorr);
    qn_free(conv->dwq_scratch);
    qn_free(conv->hwc_w);
    qn_free(conv->scratch);
    memset(conv, 0, sizeof(*conv));
}

struct dwq_ctx {
    const struct qn_qs8_conv *conv;
    const uint8_t *x;
    size_t ld_x;
    uint8_t x_zp;
    const struct qn_qs8_dwq_args *base;
    qn_qs8_dwq_ukernel_fn kernel;
    qn_qs8_dwq_pack_fn pack;
    const float *res;
    size_t ld_r;
    void *y;
    size_t y_image;  // bytes per output image
};

// Output rows [oy_lo, oy_hi) of image img: the quads those rows read (every channel block)
// into buf, then the kernel.
static void dwq_rows(const struct dwq_ctx *c, size_t img, uint8_t *buf, size_t oy_lo, size_t oy_hi) {
    const struct qn_qs8_conv *conv = c->conv;
    const struct qn_conv_params *p = &conv->p;
    if (oy_lo >= oy_hi) return;
    size_t q_lo = SIZE_MAX, q_hi = 0;
    for (size_t oy = oy_lo; oy < oy_hi; oy++) {
        q_lo = QN_MIN(q_lo, (size_t)conv->dwq_rows[oy].q_lo);
        q_hi = QN_MAX(q_hi, (size_t)conv->dwq_rows[oy].q_lo + conv->dwq_rows[oy].nq);
    }
    const size_t w_q = c->base->w_q, row = p->w * c->ld_x;
    if (q_lo < q_hi)  // image rows [4 q_lo, 4 q_hi), the last quad's rows past the image as x_zp
        c->pack(c->x + img * p->h * row + 4 * q_lo * row, QN_MIN(p->h, 4 * q_hi) - 4 * q_lo, p->w, c->ld_x,
                p->c_in, c->x_zp, p->pad_w, w_q, buf + q_lo * w_q * 64, c->base->quad_stride);
    struct qn_qs8_dwq_args a = *c->base;
    a.quads = buf;
    a.oy_lo = oy_lo, a.oy_hi = oy_hi;
    if (c->res) a.res = c->res + img * conv->h_out * conv->w_out * c->ld_r;
    a.y = (char *)c->y + img * c->y_image;
    c->kernel(&a);
}

// Row-quad path (qs8-dwconv.h). Per image, the quads of every block into a buffer, then one
// kernel call over the rows. Several threads: images in parallel, or, with fewer images than
// threads (batch 1), the output rows split, each thread transposing the quads its rows read
// into a buffer of its own (a quad two threads read is transposed twice). False when it does
// not apply (other ISA, GELU) or out of memory.
static bool qs8_dwconv_quad_run(struct qn_qs8_conv *conv, size_t n, const uint8_t *x,
                                size_t ld_x, const struct qn_qgemm_out *out, void *y,
                                size_t ld_y) {
    const struct qn_conv_params *p = &conv->p;
    const enum qn_isa isa = qn_isa();
    // (the weight sets' order is the level's at init: pair order only for the plain AVX2 kernels)
    if (!conv->dwq_w || isa == QN_ISA_SCALAR || out->ep.act == QN_ACT_GELU ||
        qn_qs8_conv_dwq_pairs(conv) != (isa == QN_ISA_AVX2))
        return false;
    static const qn_qs8_dwq_ukernel_fn kernels[QN_ISA_COUNT][2][3] = {
        [QN_ISA_AVX2] =
            {{qn_qs8_dwq_ukernel_3x3s1__avx2, qn_qs8_dwq_ukernel_5x5s1__avx2, qn_qs8_dwq_ukernel_7x7s1__avx2},
             {qn_qs8_dwq_ukernel_3x3s2__avx2, qn_qs8_dwq_ukernel_5x5s2__avx2, qn_qs8_dwq_ukernel_7x7s2__avx2}},
        [QN_ISA_AVXVNNI] =
            {{qn_qs8_dwq_ukernel_3x3s1__avxvnni, qn_qs8_dwq_ukernel_5x5s1__avxvnni, qn_qs8_dwq_ukernel_7x7s1__avxvnni},
             {qn_qs8_dwq_ukernel_3x3s2__avxvnni, qn_qs8_dwq_ukernel_5x5s2__avxvnni, qn_qs8_dwq_ukernel_7x7s2__avxvnni}},
        [QN_ISA_AVX512] =
            {{qn_qs8_dwq_ukernel_3x3s1__avx512, qn_qs8_dwq_ukernel_5x5s1__avx512, qn_qs8_dwq_ukernel_7x7s1__avx512},
             {qn_qs8_dwq_ukernel_3x3s2__avx512, qn_qs8_dwq_ukernel_5x5s2__avx512, qn_qs8_dwq_ukernel_7x7s2__avx512}},
    };
    const qn_qs8_dwq_ukernel_fn kernel = kernels[isa][p->stride_h - 1][p->kh / 2 - 1];
    const size_t h_out = conv->h_out, w_out = conv->w_out, blocks = conv->c_pad / 16;
    const size_t n_corr = conv->dwq_n_rc * conv->dwq_n_cc * 16;
    // x_zp 0 (a ReLU / ReLU6 layer's output: every depthwise input of an MBConv block) makes
    // every correction 0: the kernels then start at zero and the table stays out of the caches
    // (36 KB a layer at 4x4 with 576 channels; the largest INT8 subnet reads 1.40 MB of weights
    // and tables a forward instead of 1.75, and ran 0.152 -> 0.140 ms at batch 1, bench-subnet,
    // Emerald Rapids with a 2 MiB L2)
    if (out->a_zp && conv->dwq_zp != out->a_zp) {
        for (size_t i = 0; i < blocks * n_corr; i++) conv->dwq_zcorr[i] = -out->a_zp * conv->dwq_wsum[i];
        conv->dwq_zp = out->a_zp;
    }
    const double macs = (double)n * h_out * w_out * p->c_in * p->kh * p->kw;
    // The INT8 GEMM's threshold (1e6 MACs). Alone, a layer repeated back to back, two threads
    // win from ~1.5e5 (Zen 5, one image, u8 out: 1x14x14x96 3x3, 169k MACs, 152-162 GOP/s on
    // one thread, 180-200 on two; 7x7x96, 42k, 150-158 against 36-40), but inside a network,
    // between layers that stay on one thread, they lost: with 1.5e5 the largest INT8 subnet at
    // batch 1 on two threads ran 0.094-0.164 ms (median 0.107) against 0.087-0.121 (0.089)
    // (bench-subnet, six alternations with the 1e6 build).
    const int nt = threads_for_q8(macs);
    const bool by_image = n >= (size_t)nt;  // else: one image at a time, rows split
    const size_t w_q = qn_qs8_dwq_width(p->w, p->pad_w, p->stride_w), qb = qn_qs8_dwq_bytes(p->h, w_q);
    const size_t per = QN_ROUND_UP(blocks * qb, 64);
    const size_t bufs = (size_t)nt;
    if (conv->dwq_scratch_bytes < per * bufs) {
        qn_free(conv->dwq_scratch);
        conv->dwq_scratch_bytes = 0;
        conv->dwq_scratch = qn_alloc(per * bufs);
        if (!conv->dwq_scratch) return false;
        memset(conv->dwq_scratch, 0, per * bufs);  // the zero columns, written once
        conv->dwq_scratch_bytes = per * bufs;
    }
    const size_t esize = out->out_u8 ? 1 : sizeof(float), pix_out = h_out * w_out;
    const struct qn_epilogue *ep = &out->ep;
    const struct qn_qs8_dwq_args base = {
        .c = p->c_in, .w_in = p->w, .pad = p->pad_w, .w_q = w_q, .h_out = h_out, .w_out = w_out,
        .oy_lo = 0, .oy_hi = h_out, .quad_stride = qb, .wq = conv->dwq_w,
        .set_stride = conv->dwq_set_stride, .block_stride = conv->dwq_block_stride,
        .rows = conv->dwq_rows, .col_class = conv->dwq_cols, .zcorr = out->a_zp ? conv->dwq_zcorr : NULL,
        .n_cc = conv->dwq_n_cc, .corr_stride = n_corr, .mul = conv->dw_mul, .bias = ep->bias,
        .ld_r = ep->ldr, .res_before_act = ep->residual_before_act, .act = ep->act,
        .out_u8 = out->out_u8, .inv_out = out->out_u8 ? 1.0f / out->out_scale : 0.0f,
        .out_zp = out->out_zp, .out_qmax = qn_qgemm_out_qmax(out), .ld_y = ld_y,
        .pairs = qn_qs8_conv_dwq_pairs(conv),
    };
    const struct dwq_ctx c = {.conv = conv, .x = x, .ld_x = ld_x, .x_zp = (uint8_t)out->a_zp,
                              .base = &base, .kernel = kernel,
                              .pack = isa == QN_ISA_AVX2      ? qn_qs8_dwq_pack_pairs__avx2
                                      : isa != QN_ISA_AVX512 ? qn_qs8_dwq_pack__avx2
                                      : qn_cpu()->avx512vbmi ? qn_qs8_dwq_pack_vbmi__avx512
                                                             : qn_qs8_dwq_pack__avx512,
                              .res = ep->residual,
                              .ld_r = ep->ldr, .y = y, .y_image = pix_out * ld_y * esize};
    if (nt <= 1) {  // no parallel region: at batch 1 it costs as much as a small layer
        for (size_t img = 0; img < n; img++) dwq_rows(&c, img, conv->dwq_scratch, 0, h_out);
        return true;
    }
    if (by_image) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (size_t img = 0; img < n; img++) {
            dwq_rows(&c, img, conv->dwq_scratch + (size_t)omp_get_thread_num() * per, 0, h_out);
        }
        return true;
    }
    for (size_t img = 0; img < n; img++) {
#pragma omp parallel num_threads(nt)
        {
            const size_t t = (size_t)omp_get_thread_num(), tn = (size_t)omp_get_num_threads();
            dwq_rows(&c, img, conv->dwq_scratch + t * per, h_out * t / tn, h_out * (t + 1) / tn);
        }
    }
    return true;
}

static void qs8_dwconv_run(struct qn_qs8_conv *conv, size_t n, const uint8_t *x, size_t ld_x,
                           const struct qn_qgemm_out *out, void *y, size_t ld_y) {
    const struct qn_conv_params *p = &conv->p;
    for (size_t ch = 0; ch < p->c_in; ch++) conv->dw_mul[ch] = out->a_scale * conv->w_scale[ch];
    if (qs8_dwconv_quad_run(conv, n, x, ld_x, out, y, ld_y)) return;
    // GELU needs tanhf lane by lane to stay bit-exact: the scalar kernel does it
    const qn_qs8_dwconv_ukernel_fn ukernel = out->ep.act == QN_ACT_GELU
                                                 ? qn_qs8_dwconv_ukernel_kxk__scalar
                                                 : dw_config()->qs8[dw_slot(p->kh)];
    const size_t h_out = conv->h_out, w_out = conv->w_out, rows = n * h_out;
    const size_t esize = out->out_u8 ? 1 : sizeof(float);
    const double macs = (double)rows * w_out * p->c_in * p->kh * p->kw;
    const float inv_out = out->out_u8 ? 1.0f / out->out_scale : 0.0f;
    const struct qn_epilogue *ep = &out->ep;
#pragma omp parallel for num_threads(threads_for_q8(macs)) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const size_t img = r / h_out, oh = r % h_out;
        size_t i_lo, i_hi, ih_lo;
        dw_rows(p, oh, &i_lo, &i_hi, &ih_lo);
        struct qn_qs8_dwconv_args a = {
            .c = p->c_in, .k = p->kh, .w_in = p->w, .w_out = w_out,
            .stride = p->stride_w, .pad = p->pad_w,
            .x = x + (img * p->h + ih_lo) * p->w * ld_x, .ld_x = ld_x, .ld_xrow = p->w * ld_x,
            .i_lo = i_lo, .i_hi = i_hi, .x_zp = out->a_zp,
            .w = conv->dw_w, .c_pad = conv->c_pad,
            .mul = conv->dw_mul,
            .bias = ep->bias, .act = ep->act, .res_before_act = ep->residual_before_act,
            .out_u8 = out->out_u8, .inv_out = inv_out, .out_zp = out->out_zp,
            .out_qmax = qn_qgemm_out_qmax(out),
            .y = (char *)y + r * w_out * ld_y * esize, .ld_y = ld_y,
        };
        if (ep->residual) a.res = ep->residual + r * w_out * ep->ldr, a.ld_r = ep->ldr;
        ukernel(&a);
    }
}

struct qs8_direct_ctx {
    const struct qn_qs8_conv *conv;
    qn_qs8_conv_hwc_ukernel_fn ukernel;
    const uint8_t *x;
    size_t ld_x, ld_y;
    const struct qn_qgemm_out *out;
    float inv_out;
    void *y;
};

static void qs8_direct_rows(void *vctx, size_t r0, size_t r1) {
    const struct qs8_direct_ctx *c = vctx;
    const struct qn_qs8_conv *conv = c->conv;
    const struct qn_conv_params *p = &conv->p;
    const struct qn_qgemm_out *out = c->out;
    const struct qn_epilogue *ep = &out->ep;
    const size_t h_out = conv->h_out, w_out = conv->w_out;
    const size_t esize = out->out_u8 ? 1 : sizeof(float);
    for (size_t r = r0; r < r1; r++) {
        const size_t img = r / h_out, oh = r % h_out;
        size_t i_lo, i_hi, ih_lo;
        dw_rows(p, oh, &i_lo, &i_hi, &ih_lo);
        struct qn_qs8_conv_hwc_args a = {
            .c_in = p->c_in, .c_out = p->c_out, .kw = p->kw, .w_in = p->w, .w_out = w_out,
            .stride = p->stride_w, .pad = p->pad_w,
            .x = c->x + (img * p->h + ih_lo) * p->w * c->ld_x, .ld_x = c->ld_x,
            .ld_xrow = p->w * c->ld_x, .i_lo = i_lo, .i_hi = i_hi, .x_zp = out->a_zp,
            .w = conv->hwc_w, .c_pad = conv->c_pad, .mul = conv->dw_mul,
            .bias = ep->bias, .act = ep->act, .res_before_act = ep->residual_before_act,
            .out_u8 = out->out_u8, .inv_out = c->inv_out, .out_zp = out->out_zp,
            .out_qmax = qn_qgemm_out_qmax(out),
            .y = (char *)c->y + r * w_out * c->ld_y * esize, .ld_y = c->ld_y,
        };
        if (ep->residual) a.res = ep->residual + r * w_out * ep->ldr, a.ld_r = ep->ldr;
        c->ukernel(&a);
    }
}

static void qs8_direct_run(struct qn_qs8_conv *conv, size_t n, const uint8_t *x, size_t ld_x,
                           const struct qn_qgemm_out *out, void *y, size_t ld_y) {
    const struct qn_conv_params *p = &conv->p;
    for (size_t o = 0; o < p->c_out; o++) conv->dw_mul[o] = out->a_scale * conv->w_scale[o];
    struct qs8_direct_ctx c = {
        .conv = conv,
        // GELU needs tanhf lane by lane to stay bit-exact: the scalar kernel does it
        .ukernel = out->ep.act == QN_ACT_GELU ? qn_qs8_conv_hwc_ukernel__scalar
                                              : hwc_config()->qs8,
        .x = x, .ld_x = ld_x, .ld_y = ld_y, .out = out,
        .inv_out = out->out_u8 ? 1.0f / out->out_scale : 0.0f, .y = y,
    };
    const size_t rows = n * conv->h_out;
    direct_parallel(rows, (double)rows * conv->w_out * p->c_out * p->kh * p->kw * p->c_in,
                    qs8_direct_rows, &c);
}

void qn_qs8_conv_run(struct qn_qs8_conv *conv, size_t n, const uint8_t *x, size_t ld_x,
                     const struct qn_qgemm_out *out, void *y, size_t ld_y) {
    const struct qn_conv_params *p = &conv->p;
    QN_ASSERT(ld_x >= p->c_in && ld_y >= p->c_out);
    QN_ASSERT(out->a_zp >= 0 && out->a_zp <= 255 && qn_qgemm_out_ok(out));
    if (n == 0) return;
    if (conv->path == QN_CONV_PATH_DWCONV) {
        qs8_dwconv_run(conv, n, x, ld_x, out, y, ld_y);
        return;
    }
    if (conv->path == QN_CONV_PATH_DIRECT) {  // packed weights are the same at every level
        qs8_direct_run(conv, n, x, ld_x, out, y, ld_y);
        return;
    }
    QN_ASSERT(conv->isa == qn_isa());  // GEMM panels belong to the level they were packed for
    const size_t pix = conv->h_out * conv->w_out, img_in = p->h * p->w * ld_x;
    const size_t esize = out->out_u8 ? 1 : sizeof(float);
    if (conv->path == QN_CONV_PATH_GEMM_1X1) {
        qn_qgemm(n * pix, x, ld_x, &conv->gw, out, y, ld_y);
        return;
    }
    const size_t K = p->kh * p->kw * p->c_in;
    const struct qn_im2col_geom g = im2col_geom(p, conv->h_out, conv->w_out, ld_x);
    const double macs = (double)pix * K;
    for (size_t img = 0; img < n; img++) {
        const uint8_t *xi = x + img * img_in;
        if (conv->path == QN_CONV_PATH_GEMM_1X1_SUB) {
            for (size_t oh = 0; oh < conv->h_out; oh++)
                for (size_t ow = 0; ow < conv->w_out; ow++)
                    memcpy(conv->scratch + (oh * conv->w_out + ow) * p->c_in,
                           xi + (oh * p->stride_h * p->w + ow * p->stride_w) * ld_x, p->c_in);
        } else {
            const int nt = threads_for_q8(macs);
#pragma omp parallel num_threads(nt)
            {
                const int t = omp_get_thread_num(), tn = omp_get_num_threads();
                const size_t r0 = pix * (size_t)t / (size_t)tn;
                const size_t r1 = pix * (size_t)(t + 1) / (size_t)tn;
                qn_u8_im2col(&g, xi, (uint8_t)out->a_zp, conv->scratch, K, r0, r1);
            }
        }
        struct qn_qgemm_out o = *out;
        o.ep = ep_for_image(&out->ep, img, pix);
        qn_qgemm(pix, conv->scratch, conv->path == QN_CONV_PATH_IM2COL ? K : p->c_in, &conv->gw,
                 &o, (char *)y + img * pix * ld_y * esize, ld_y);
    }
}
