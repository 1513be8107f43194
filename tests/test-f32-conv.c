// FP32 convolution (general, 1x1, depthwise) against a direct convolution written plainly here
// (nested loops, double accumulation), over random shapes, elastic weight slices, strided
// pixels, every activation and both residual orders, at every ISA level.
//
// Tolerance: the kernels sum T = kh * kw * c_in products in float (any order, with or without
// FMA); each partial sum rounds once or twice, so |error| <= 2 * T * eps * sum|x||w| before the
// epilogue (a standard bound for recursive summation, eps = 2^-24), plus an ulp or two for the
// bias / residual adds; the activations are Lipschitz with constant <= 1.5 (hswish), so we check
//   |y - y_ref| <= 1.5 * (2 * (T + 4) * eps * (sum|x||w| + |bias| + |res|)) + 1e-30.
#include "conv.h"
#include "cpu.h"
#include "f32-dwconv/f32-dwconv.h"
#include "test.h"

static const float EPS = 5.9604645e-8f;  // 2^-24

struct tcase {
    struct qn_conv_params p;
    size_t n, k_max, c_in_max, c_out_max, ld_x, ld_y, ldr;
    enum qn_act act;
    bool bias, res, res_before;
    bool check_path;  // the object must have chosen want_path
    enum qn_conv_path want_path;
};

// Cases run and paths seen by run_case (the direct-path tests report them).
static int n_cases, n_direct;

static size_t pick(const size_t *v, size_t count) { return v[qt_int(0, (int)count - 1)]; }
#define PICK(arr) pick(arr, sizeof(arr) / sizeof(arr[0]))

// Plain direct convolution on the view: out[(img, oh, ow)][c_out] pre-epilogue and magnitude.
static void conv_direct(const struct tcase *t, const float *x, const struct qn_conv_wview *w,
                        double *acc, double *mag) {
    const struct qn_conv_params *p = &t->p;
    const size_t ho = qn_conv_h_out(p), wo = qn_conv_w_out(p);
    const float *wd = w->data;
    for (size_t img = 0; img < t->n; img++)
        for (size_t oh = 0; oh < ho; oh++)
            for (size_t ow = 0; ow < wo; ow++)
                for (size_t o = 0; o < p->c_out; o++) {
                    double s = 0.0, m = 0.0;
                    for (size_t i = 0; i < p->kh; i++)
                        for (size_t j = 0; j < p->kw; j++) {
                            long ih = (long)(oh * p->stride_h + i) - (long)p->pad_h;
                            long iw = (long)(ow * p->stride_w + j) - (long)p->pad_w;
                            if (ih < 0 || iw < 0 || ih >= (long)p->h || iw >= (long)p->w) continue;
                            const float *px = x + ((img * p->h + ih) * p->w + iw) * t->ld_x;
                            if (p->depthwise) {
                                double v = (double)px[o] * wd[o + i * w->ld_h + j * w->ld_w];
                                s += v, m += fabs(v);
                                continue;
                            }
                            for (size_t ci = 0; ci < p->c_in; ci++) {
                                double v = (double)px[ci] *
                                           wd[o * w->ld_o + i * w->ld_h + j * w->ld_w + ci];
                                s += v, m += fabs(v);
                            }
                        }
                    const size_t r = ((img * ho + oh) * wo + ow) * p->c_out + o;
                    acc[r] = s, mag[r] = m;
                }
}

// Runs one case through qn_f32_conv and checks every output and the untouched pixel padding.
static void run_case(const struct tcase *t) {
    const struct qn_conv_params *p = &t->p;
    const size_t ho = qn_conv_h_out(p), wo = qn_conv_w_out(p), pix = t->n * ho * wo;
    const size_t n_x = t->n * p->h * p->w * t->ld_x;
    const size_t n_full = p->depthwise ? t->k_max * t->k_max * t->c_out_max
                                       : t->c_out_max * t->k_max * t->k_max * t->c_in_max;
    float *x = malloc(n_x * sizeof(float)), *full = malloc(n_full * sizeof(float));
    // y 64-byte aligned, as the engine allocates activations (streaming stores need it)
    float *y = qn_alloc(pix * t->ld_y * sizeof(float)), *bias = malloc(p->c_out * sizeof(float));
    float *res = malloc(pix * t->ldr * sizeof(float));
    double *acc = malloc(pix * p->c_out * sizeof(double)), *mag = malloc(pix * p->c_out * sizeof(double));
    qt_fill_f32(x, n_x, -1.0f, 1.0f);
    qt_fill_f32(full, n_full, -1.0f, 1.0f);
    qt_fill_f32(bias, p->c_out, -1.0f, 1.0f);
    qt_fill_f32(res, pix * t->ldr, -2.0f, 2.0f);
    for (size_t i = 0; i < pix * t->ld_y; i++) y[i] = -777.0f;
    struct qn_conv_wview w =
        p->depthwise ? qn_conv_wview_dw(full, sizeof(float), t->k_max, t->c_out_max, p->c_out, p->kh)
        : p->kh != p->kw  // rectangular: a dense [c_out_max][kh][kw][c_in_max] view
            ? (struct qn_conv_wview){.data = full, .c_out = p->c_out, .kh = p->kh, .kw = p->kw,
                                     .c_in = p->c_in, .ld_o = p->kh * p->kw * t->c_in_max,
                                     .ld_h = p->kw * t->c_in_max, .ld_w = t->c_in_max}
            : qn_conv_wview_ohwi(full, sizeof(float), t->c_out_max, t->k_max, t->c_in_max,
                                 p->c_out, p->kh, p->c_in);
    struct qn_epilogue ep = {.bias = t->bias ? bias : NULL, .act = t->act,
                             .residual = t->res ? res : NULL, .ldr = t->ldr,
                             .residual_before_act = t->res_before};
    struct qn_f32_conv conv;
    enum qn_status st = qn_f32_conv_init(&conv, p, &w);
    QT_CHECK(st == QN_OK, "init: %s", qn_status_str(st));
    if (st == QN_OK) {
        n_cases++, n_direct += conv.path == QN_CONV_PATH_DIRECT;
        if (t->check_path)
            QT_CHECK(conv.path == t->want_path, "k=%zu c=%zu->%zu: path %s, want %s", p->kh,
                     p->c_in, p->c_out, qn_conv_path_name(conv.path),
                     qn_conv_path_name(t->want_path));
        qn_f32_conv_run(&conv, t->n, x, t->ld_x, y, t->ld_y, &ep);
        conv_direct(t, x, &w, acc, mag);
        for (size_t m = 0; m < pix; m++)
            for (size_t o = 0; o < t->ld_y; o++) {
                const float got = y[m * t->ld_y + o];
                if (o >= p->c_out) {
                    QT_CHECK(got == -777.0f, "pixel padding written at m=%zu o=%zu", m, o);
                    continue;
                }
                double pre = acc[m * p->c_out + o], bound = mag[m * p->c_out + o];
                if (ep.bias) pre += bias[o], bound += fabs(bias[o]);
                const double r = t->res ? res[m * t->ldr + o] : 0.0;
                if (t->res) bound += fabs(r);
                if (t->res && t->res_before) pre += r;
                double want = qn_act_ref(t->act, (float)pre);
                if (t->res && !t->res_before) want += r;
                const double tol = 1.5 * 2.0 * (double)(p->kh * p->kw * p->c_in + 4) * EPS * bound +
                                   1e-30;
                QT_CHECK(fabs(got - want) <= tol,
                         "%s k=%zux%zu s=%zu pad=%zu c=%zu->%zu hw=%zux%zu n=%zu act=%s: "
                         "m=%zu o=%zu got %.9g want %.9g (tol %.3g)",
                         qn_conv_path_name(conv.path), p->kh, p->kw, p->stride_h, p->pad_h, p->c_in,
                         p->c_out, p->h, p->w, t->n, qn_act_name(t->act), m, o, got, want, tol);
            }
        qn_f32_conv_free(&conv);
    }
    free(x), free(full), qn_free(y), free(bias), free(res), free(acc), free(mag);
}

static const size_t CH[] = {1, 2, 3, 5, 7, 13, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65};
static const size_t KS[] = {1, 3, 5, 7};

// Random case: elastic slice (k <= k_max, channels <= max), padded pixels, batch 1 or 3.
static struct tcase random_case(bool depthwise, size_t k) {
    struct tcase t;
    memset(&t, 0, sizeof(t));
    struct qn_conv_params *p = &t.p;
    p->depthwise = depthwise;
    p->kh = p->kw = k;
    p->stride_h = p->stride_w = (size_t)qt_int(1, 2);
    p->pad_h = p->pad_w = qt_int(0, 3) ? k / 2 : 0;
    const size_t lo = p->pad_h ? 1 : k;  // without padding the image must hold the kernel
    p->h = (size_t)qt_int((int)lo, 15);
    p->w = (size_t)qt_int((int)lo, 15);
    p->c_in = PICK(CH);
    p->c_out = depthwise ? p->c_in : PICK(CH);
    t.n = qt_int(0, 2) ? 1 : 3;
    t.k_max = k + 2 * (size_t)qt_int(0, k < 7 ? 1 : 0);
    t.c_in_max = p->c_in + (size_t)(qt_int(0, 1) ? qt_int(0, 9) : 0);
    t.c_out_max = depthwise ? t.c_in_max : p->c_out + (size_t)(qt_int(0, 1) ? qt_int(0, 9) : 0);
    t.ld_x = p->c_in + (size_t)(qt_int(0, 1) ? qt_int(1, 20) : 0);
    t.ld_y = p->c_out + (size_t)(qt_int(0, 1) ? qt_int(1, 20) : 0);
    t.ldr = p->c_out + (size_t)qt_int(0, 5);
    t.act = (enum qn_act)qt_int(0, QN_ACT_GELU);
    t.bias = qt_int(0, 3) != 0;
    t.res = qt_int(0, 1);
    t.res_before = qt_int(0, 1);
    return t;
}

static void dwconv_random(void) {
    qt_seed(101);
    const int trials = qt_quick() ? 12 : 150;
    for (int r = 0; r < trials; r++) {
        struct tcase t = random_case(true, KS[1 + r % 3]);
        run_case(&t);
    }
}

static void dwconv_any_k(void) {
    qt_seed(102);
    const size_t ks[] = {1, 9};
    for (int r = 0; r < (qt_quick() ? 4 : 20); r++) {
        struct tcase t = random_case(true, ks[r % 2]);
        t.k_max = t.p.kh;
        run_case(&t);
    }
}

static void conv_random(void) {
    qt_seed(103);
    const int trials = qt_quick() ? 10 : 80;
    for (int r = 0; r < trials; r++) {
        struct tcase t = random_case(false, KS[r % 4]);
        if (t.p.c_in > 33 && t.p.kh == 7) t.p.c_in = 17, t.c_in_max = 20, t.ld_x = 21;
        run_case(&t);
    }
}

// Large depthwise images: several bands per image (28x28 at 7x7 is four), odd and 7-multiple
// row lengths, stride 2, and rows too long for a band (the row kernels take them).
static void dwconv_bands(void) {
    qt_seed(108);
    const size_t hw[][2] = {{28, 28}, {56, 56}, {21, 35}, {30, 17}, {9, 150}, {40, 300}};
    for (int r = 0; r < (qt_quick() ? 8 : 24); r++) {
        struct tcase t = random_case(true, KS[1 + r % 3]);
        t.p.h = hw[r % 6][0], t.p.w = hw[r % 6][1];
        t.p.c_in = t.p.c_out = QN_MIN(t.p.c_in, 33);
        t.c_in_max = t.c_out_max = t.p.c_in + 3;
        t.ld_x = t.ld_y = t.p.c_in + (size_t)qt_int(0, 3), t.ldr = t.p.c_in;
        t.n = 1;
        if (t.act == QN_ACT_GELU) t.act = QN_ACT_HSWISH;
        run_case(&t);
    }
}

// Batches whose input exceeds conv.c's 512 KiB band limit: images that fit half the L2 take
// the band kernels, each thread reading its first image into L2 and fetching the next one's
// input and output lines while it computes; full blocks are stored non-temporally when the
// output rows are 64-byte aligned (48 channels) and the streaming threshold is 0 (every other
// case here; then the output lines are not fetched), larger images take the row kernels; both
// thread counts (a thread's share may start inside an image).
static void dwconv_batch_streams(void) {
    qt_seed(109);
    const size_t shapes[][4] = {{6, 28, 28, 48}, {8, 14, 14, 96}, {3, 57, 60, 40}, {2, 90, 90, 24}};
    const int saved = qn_threads();
    for (int r = 0; r < 16; r++) {
        // 0: every output streams; -1: the default threshold (a quarter of the L3, not reached)
        qn_stream_bytes_set(r / 8 ? -1 : 0);
        struct tcase t = random_case(true, KS[1 + r % 3]);
        t.n = shapes[r % 4][0], t.p.h = shapes[r % 4][1], t.p.w = shapes[r % 4][2];
        t.p.c_in = t.p.c_out = shapes[r % 4][3];
        t.c_in_max = t.c_out_max = t.p.c_in + 2;
        t.ld_x = t.ld_y = t.p.c_in + (size_t)(r % 2), t.ldr = t.p.c_in;
        if (t.act == QN_ACT_GELU) t.act = QN_ACT_RELU;
        qn_threads_set(1 + r % 2);
        run_case(&t);
    }
    qn_threads_set(saved);
    qn_stream_bytes_set(-1);
}

// The band kernels' prefetch shares: rows' shares of `lines` tile [0, lines) in order.
static void dwconv_prefetch_shares(void) {
    qt_seed(110);
    for (int r = 0; r < 200; r++) {
        const size_t lines = (size_t)qt_int(0, r % 3 ? 2000 : 4), rows = (size_t)qt_int(1, 30);
        size_t next = 0;
        for (size_t i = 0; i < rows; i++) {
            size_t lo, hi;
            qn_dwconv_pf_share(lines, i, rows, &lo, &hi);
            QT_CHECK(lo == next && hi >= lo && hi <= lines, "lines %zu rows %zu: row %zu takes [%zu, %zu) after %zu",
                     lines, rows, i, lo, hi, next);
            next = hi;
        }
        QT_CHECK(next == lines, "lines %zu rows %zu: shares end at %zu", lines, rows, next);
    }
}

// The band kernel must equal the row kernel bit for bit (the same taps in the same order; the
// padded columns add +0), on every k, stride, epilogue and a partial channel block, at AVX-512
// and at AVX2 (each band kernel against its own ISA's row kernels). Trials
// 36-71: same padding at stride 1 on rows of 7, 14, 21, 28, 35 and 56 pixels, the blocks of 14
// (and 7) whose padding is skipped at compile time: one block for the whole row, first + last,
// first + middle + last, a last block of 7; full and partial channel blocks. Trials 72-95:
// 4x4 outputs from 4x4 at stride 1 and 7x7 at stride 2, same padding, the whole-image form at
// AVX-512 (qn_f32_dwconv_small4_fits); full and partial channel blocks.
static void dwconv_band_matches_rows(void) {
    const bool z = qn_isa() == QN_ISA_AVX512;
    if (!z && qn_isa() != QN_ISA_AVX2 && qn_isa() != QN_ISA_AVXVNNI) {
        printf("  (band kernels are AVX-512 and AVX2: %s has none to compare)\n", qn_isa_name(qn_isa()));
        return;
    }
    qt_seed(109);
    const qn_f32_dwconv_ukernel_fn rowk[] = {
        z ? qn_f32_dwconv_ukernel_3x3__avx512 : qn_f32_dwconv_ukernel_3x3__avx2,
        z ? qn_f32_dwconv_ukernel_5x5__avx512 : qn_f32_dwconv_ukernel_5x5__avx2,
        z ? qn_f32_dwconv_ukernel_7x7__avx512 : qn_f32_dwconv_ukernel_7x7__avx2};
    void (*const bandk)(const struct qn_f32_dwconv_band_args *) = z ? qn_f32_dwconv_band__avx512
                                                                    : qn_f32_dwconv_band__avx2;
    const size_t rows7[] = {7, 14, 21, 28, 35, 56};
    for (int r = 0; r < 96; r++) {
        const bool by7 = r >= 36 && r < 72, small4 = r >= 72;
        const size_t k = 3 + 2 * (size_t)(r % 3), s = by7 ? 1 : 1 + (size_t)(r / 3 % 2);
        const size_t pad = by7 || small4 || qt_int(0, 3) ? k / 2 : 0;
        size_t h = (size_t)qt_int((int)k, 30), w = by7 ? rows7[r / 3 % 6] : (size_t)qt_int((int)k, 30);
        if (small4) h = w = s == 1 ? 4 : 7;
        const size_t c = (by7 || small4) && r % 2 ? 16 : (size_t)qt_int(1, 16);
        if (small4 && z) QT_CHECK(qn_f32_dwconv_small4_fits(k, s, pad, h, w), "k=%zu s=%zu %zux%zu", k, s, h, w);
        const size_t ho = (h + 2 * pad - k) / s + 1, wo = (w + 2 * pad - k) / s + 1, ld = c + 2;
        float *x = malloc(h * w * ld * sizeof(float)), *wt = malloc(k * k * c * sizeof(float));
        float *bias = malloc(c * sizeof(float)), *res = malloc(ho * wo * c * sizeof(float));
        float *y0 = malloc(ho * wo * ld * sizeof(float)), *y1 = malloc(ho * wo * ld * sizeof(float));
        qt_fill_f32(x, h * w * ld, -1, 1), qt_fill_f32(wt, k * k * c, -1, 1);
        qt_fill_f32(bias, c, -1, 1), qt_fill_f32(res, ho * wo * c, -1, 1);
        const enum qn_act act = (enum qn_act)qt_int(0, QN_ACT_GELU - 1);
        const bool use_res = qt_int(0, 1), before = qt_int(0, 1), use_bias = qt_int(0, 3) != 0;
        for (size_t i = 0; i < ho * wo * ld; i++) y0[i] = y1[i] = -777.0f;
        for (size_t oh = 0; oh < ho; oh++) {
            const ptrdiff_t top = (ptrdiff_t)(oh * s) - (ptrdiff_t)pad;
            const size_t i_lo = top < 0 ? (size_t)-top : 0;
            const size_t i_hi = (size_t)QN_MIN((ptrdiff_t)k, (ptrdiff_t)h - top);
            struct qn_f32_dwconv_args a = {
                .c = c, .k = k, .w_in = w, .w_out = wo, .stride = s, .pad = pad,
                .x = x + (size_t)(top + (ptrdiff_t)i_lo) * w * ld, .ld_x = ld, .ld_xrow = w * ld,
                .i_lo = i_lo, .i_hi = i_hi, .w = wt, .ld_wh = k * c, .ld_ww = c,
                .bias = use_bias ? bias : NULL, .res = use_res ? res + oh * wo * c : NULL, .ld_r = c,
                .res_before_act = before, .act = act, .y = y0 + oh * wo * ld, .ld_y = ld,
            };
            rowk[r % 3](&a);
        }
        const size_t band = qn_f32_dwconv_band_rows(k, s, wo, ho);
        QT_CHECK(band > 0, "k=%zu s=%zu w_out=%zu fits no band", k, s, wo);
        // the operator's bands, then all rows in one call into a fresh buffer
        const size_t steps[2] = {band, ho};
        for (int v = 0; v < 2; v++) {
            for (size_t i = 0; v && i < ho * wo * ld; i++) y1[i] = -777.0f;
            for (size_t oh = 0; steps[v] && oh < ho; oh += steps[v]) {
                const struct qn_f32_dwconv_band_args a = {
                    .k = k, .stride = s, .pad = pad, .h_in = h, .w_in = w, .w_out = wo,
                    .oh0 = oh, .oh1 = QN_MIN(ho, oh + steps[v]), .nc = c, .x = x, .ld_x = ld,
                    .w = wt, .ld_wh = k * c, .ld_ww = c, .bias = use_bias ? bias : NULL,
                    .res = use_res ? res : NULL, .ld_r = c, .res_before_act = before, .act = act,
                    .y = y1, .ld_y = ld,
                };
                bandk(&a);
            }
            size_t bad = 0;
            for (size_t i = 0; i < ho * wo * ld; i++) bad += !(y0[i] == y1[i]);
            QT_CHECK(bad == 0, "%sk=%zu s=%zu pad=%zu %zux%zu c=%zu act=%s: %zu outputs differ", v ? "one call " : "",
                     k, s, pad, h, w, c, qn_act_name(act), bad);
        }
        free(x), free(wt), free(bias), free(res), free(y0), free(y1);
    }
}

static void conv_1x1(void) {
    qt_seed(104);
    for (int r = 0; r < (qt_quick() ? 6 : 40); r++) {
        struct tcase t = random_case(false, 1);
        t.p.pad_h = t.p.pad_w = 0;
        run_case(&t);
    }
}

// Fashion-MNIST stem: 28x28x1, 3x3 pad 1, 16 outputs, batch 3; and the 5x5 slice of a 7x7.
static void conv_stem(void) {
    qt_seed(105);
    struct tcase t = {
        .p = {.h = 28, .w = 28, .c_in = 1, .c_out = 16, .kh = 3, .kw = 3, .stride_h = 1,
              .stride_w = 1, .pad_h = 1, .pad_w = 1},
        .n = 3, .k_max = 3, .c_in_max = 1, .c_out_max = 16, .ld_x = 1, .ld_y = 16, .ldr = 16,
        .act = QN_ACT_RELU, .bias = true,
    };
    run_case(&t);
    t.p.kh = t.p.kw = 5, t.p.pad_h = t.p.pad_w = 2, t.p.stride_h = t.p.stride_w = 2;
    t.k_max = 7, t.c_out_max = 24, t.act = QN_ACT_HSWISH, t.n = 1;
    run_case(&t);
}

// The MBConv shapes the benchmarks use, batch 1 (depthwise 3x3 / 5x5, expansion 1x1).
static void conv_mbconv_shapes(void) {
    qt_seed(106);
    struct tcase t = {
        .p = {.h = 14, .w = 14, .c_in = 96, .c_out = 96, .kh = 3, .kw = 3, .stride_h = 1,
              .stride_w = 1, .pad_h = 1, .pad_w = 1, .depthwise = true},
        .n = 1, .k_max = 7, .c_in_max = 144, .c_out_max = 144, .ld_x = 96, .ld_y = 96,
        .ldr = 96, .act = QN_ACT_RELU6, .bias = true,
    };
    run_case(&t);
    t.p.h = t.p.w = 28, t.p.c_in = t.p.c_out = 144, t.p.kh = t.p.kw = 5, t.p.pad_h = t.p.pad_w = 2;
    t.ld_x = t.ld_y = t.ldr = 144;
    if (!qt_quick()) run_case(&t);
    t.p = (struct qn_conv_params){.h = 14, .w = 14, .c_in = 96, .c_out = 576, .kh = 1, .kw = 1,
                                  .stride_h = 1, .stride_w = 1};
    t.k_max = 1, t.c_in_max = 96, t.c_out_max = 576, t.ld_x = 96, t.ld_y = t.ldr = 576;
    t.res = true;
    if (!qt_quick()) run_case(&t);
}

// The residual may be the output buffer itself (in-place MBConv projection + skip).
static void conv_residual_in_place(void) {
    qt_seed(107);
    const size_t ks[] = {3, 1, 3};
    const bool dw[] = {true, false, false};
    for (int r = 0; r < 3; r++) {
        struct qn_conv_params p = {.h = 6, .w = 5, .c_in = 19, .c_out = 19, .kh = ks[r],
                                   .kw = ks[r], .stride_h = 1, .stride_w = 1, .pad_h = ks[r] / 2,
                                   .pad_w = ks[r] / 2, .depthwise = dw[r]};
        const size_t pix = p.h * p.w, kk = ks[r] * ks[r];
        float *x = malloc(pix * 19 * sizeof(float)), *w = malloc(19 * kk * 19 * sizeof(float));
        float *y = malloc(pix * 19 * sizeof(float)), *y2 = malloc(pix * 19 * sizeof(float));
        float *res = malloc(pix * 19 * sizeof(float));
        qt_fill_f32(x, pix * 19, -1, 1);
        qt_fill_f32(w, 19 * kk * 19, -1, 1);
        qt_fill_f32(res, pix * 19, -1, 1);
        memcpy(y, res, pix * 19 * sizeof(float));
        struct qn_conv_wview v = dw[r] ? qn_conv_wview_dw(w, 4, ks[r], 19, 19, ks[r])
                                       : qn_conv_wview_ohwi(w, 4, 19, ks[r], 19, 19, ks[r], 19);
        struct qn_f32_conv conv;
        QT_CHECK(qn_f32_conv_init(&conv, &p, &v) == QN_OK, "init");
        // every activation, the residual added before and after it
        static const enum qn_act acts[] = {QN_ACT_RELU, QN_ACT_GELU, QN_ACT_HSWISH};
        for (int ai = 0; ai < 3; ai++)
            for (int before = 0; before < 2; before++) {
                memcpy(y, res, pix * 19 * sizeof(float));
                struct qn_epilogue e1 = {.act = acts[ai], .residual = res, .ldr = 19, .residual_before_act = before};
                struct qn_epilogue e2 = {.act = acts[ai], .residual = y, .ldr = 19, .residual_before_act = before};
                qn_f32_conv_run(&conv, 1, x, 19, y2, 19, &e1);
                qn_f32_conv_run(&conv, 1, x, 19, y, 19, &e2);
                QT_CHECK(memcmp(y, y2, pix * 19 * sizeof(float)) == 0, "in-place residual differs (%s, act %d, %s)",
                         qn_conv_path_name(conv.path), (int)acts[ai], before ? "before" : "after");
            }
        qn_f32_conv_free(&conv);
        free(x), free(w), free(y), free(y2), free(res);
    }
}

// --- direct small-reduction path (QN_CONV_PATH_DIRECT) ---

// Every combination of c_in 1..4, k 1/3/5/7, stride 1/2 and pad k/2 or 0 over images of 1, 2,
// 5 and 28 pixels a side (those that hold the kernel), cycling c_out through 1, 7, 8, 9, 33
// (a lone channel, a ymm tail, one ymm, one past it, two zmm and a tail), batch 1 / 3, every
// activation, bias or not, both residual orders and strided pixels (ld_x, ld_y, ldr larger than
// the channels); elastic slices of a larger tensor half the time. Convs with k > 1 must take the
// direct path, 1x1 the GEMM ones.
static void conv_direct_grid(void) {
    qt_seed(109);
    static const size_t c_outs[] = {1, 7, 8, 9, 33};
    static const size_t sizes[][2] = {{1, 1}, {2, 5}, {5, 2}, {5, 5}, {28, 28}, {1, 28}};
    static const enum qn_act acts[] = {QN_ACT_NONE, QN_ACT_RELU, QN_ACT_RELU6, QN_ACT_HSWISH,
                                       QN_ACT_GELU};
    const int before = n_direct;
    size_t idx = 0;
    for (size_t c_in = 1; c_in <= 4; c_in++)
        for (size_t ki = 0; ki < 4; ki++)
            for (size_t s = 1; s <= 2; s++)
                for (int padded = 1; padded >= 0; padded--)
                    for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++, idx++) {
                        const size_t k = KS[ki], h = sizes[z][0], w = sizes[z][1];
                        if (!padded && (h < k || w < k)) continue;
                        if (h * w > 100 && qt_quick() && idx % 3) continue;
                        struct tcase t;
                        memset(&t, 0, sizeof(t));
                        t.p = (struct qn_conv_params){
                            .h = h, .w = w, .c_in = c_in, .c_out = c_outs[idx % 5], .kh = k,
                            .kw = k, .stride_h = s, .stride_w = s, .pad_h = padded ? k / 2 : 0,
                            .pad_w = padded ? k / 2 : 0};
                        t.n = idx % 4 == 1 ? 3 : 1;
                        t.k_max = k + (k < 7 && idx % 2 ? 2 : 0);
                        t.c_in_max = c_in + idx % 2 * 3;
                        t.c_out_max = t.p.c_out + idx % 2 * 5;
                        t.ld_x = c_in + (idx % 3 == 2 ? 3 : 0);
                        t.ld_y = t.p.c_out + (idx % 3 != 0 ? 5 : 0);
                        t.ldr = t.p.c_out + idx % 4;
                        t.act = acts[idx / 5 % 5];
                        t.bias = idx % 7 != 3;
                        t.res = idx % 3 == 1;
                        t.res_before = idx % 6 == 4;
                        t.check_path = true;
                        t.want_path = k > 1 ? QN_CONV_PATH_DIRECT
                                            : s == 1 ? QN_CONV_PATH_GEMM_1X1
                                                     : QN_CONV_PATH_GEMM_1X1_SUB;
                        run_case(&t);
                    }
    QT_CHECK(n_direct - before >= (qt_quick() ? 90 : 120), "only %d direct cases",
             n_direct - before);
}

// Random direct-path shapes: c_in 1..8, k 3/5/7 or 1 x k / k x 1 (kh != kw), a stride and pad
// per axis, up to T = 256 taps.
static void conv_direct_random(void) {
    qt_seed(110);
    for (int r = 0; r < (qt_quick() ? 15 : 120); r++) {
        struct tcase t = random_case(false, KS[1 + r % 3]);
        struct qn_conv_params *p = &t.p;
        p->c_in = (size_t)qt_int(1, 8);
        if (r % 5 == 4) {  // rectangular kernel: only kh or kw is k
            if (r % 2) p->kh = 1, p->pad_h = 0;
            else p->kw = 1, p->pad_w = 0;
            t.k_max = QN_MAX(p->kh, p->kw);
        }
        p->stride_w = (size_t)qt_int(1, 2);
        if (p->h + 2 * p->pad_h < p->kh) p->h = p->kh;
        if (p->w + 2 * p->pad_w < p->kw) p->w = p->kw;
        t.c_in_max = p->c_in + (size_t)qt_int(0, 3);
        t.ld_x = t.c_in_max + (size_t)qt_int(0, 1);
        t.check_path = true;
        t.want_path = p->kh * p->kw * p->c_in <= QN_CONV_DIRECT_MAX_T ? QN_CONV_PATH_DIRECT
                                                                       : QN_CONV_PATH_IM2COL;
        run_case(&t);
    }
}

// The MBConv stem at batch 1 and 64 (threads past the work threshold), and wide images whose
// window takes several chunks (w_in * c_in beyond the stack window), strided and dense pixels.
static void conv_direct_shapes(void) {
    qt_seed(111);
    struct tcase t = {
        .p = {.h = 28, .w = 28, .c_in = 1, .c_out = 8, .kh = 3, .kw = 3, .stride_h = 1,
              .stride_w = 1, .pad_h = 1, .pad_w = 1},
        .n = 1, .k_max = 3, .c_in_max = 1, .c_out_max = 8, .ld_x = 1, .ld_y = 8, .ldr = 8,
        .act = QN_ACT_HSWISH, .bias = true, .check_path = true,
        .want_path = QN_CONV_PATH_DIRECT,
    };
    run_case(&t);
    t.n = qt_quick() ? 8 : 64;
    run_case(&t);
    t.p.h = 3, t.p.w = 1500, t.p.c_in = 3, t.p.kh = t.p.kw = 7, t.p.pad_h = t.p.pad_w = 3;
    t.p.c_out = 17, t.n = 1, t.k_max = 7, t.c_in_max = 3, t.ld_x = 4, t.c_out_max = 17;
    t.ld_y = t.ldr = 17, t.res = true, t.p.stride_w = 2;
    run_case(&t);
    t.ld_x = 3, t.p.stride_w = 1, t.p.kw = 5, t.p.pad_w = 2, t.res_before = true;  // dense pixels
    run_case(&t);
}

// In-place residual (R == y) after GELU / hardswish on the direct path.
static void conv_direct_residual_in_place(void) {
    qt_seed(112);
    const enum qn_act acts[] = {QN_ACT_GELU, QN_ACT_HSWISH, QN_ACT_NONE};
    for (int r = 0; r < 3; r++) {
        struct qn_conv_params p = {.h = 7, .w = 9, .c_in = 3, .c_out = 11, .kh = 3, .kw = 3,
                                   .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
        const size_t pix = p.h * p.w;
        float x[7 * 9 * 3], w[11 * 27], y[7 * 9 * 11], y2[7 * 9 * 11], res[7 * 9 * 11];
        qt_fill_f32(x, sizeof(x) / 4, -1, 1);
        qt_fill_f32(w, sizeof(w) / 4, -1, 1);
        qt_fill_f32(res, sizeof(res) / 4, -1, 1);
        memcpy(y, res, sizeof(y));
        struct qn_conv_wview v = qn_conv_wview_ohwi(w, 4, 11, 3, 3, 11, 3, 3);
        struct qn_f32_conv conv;
        QT_CHECK(qn_f32_conv_init(&conv, &p, &v) == QN_OK && conv.path == QN_CONV_PATH_DIRECT,
                 "init");
        struct qn_epilogue e1 = {.act = acts[r], .residual = res, .ldr = 11};
        struct qn_epilogue e2 = {.act = acts[r], .residual = y, .ldr = 11};
        qn_f32_conv_run(&conv, 1, x, 3, y2, 11, &e1);
        qn_f32_conv_run(&conv, 1, x, 3, y, 11, &e2);
        QT_CHECK(memcmp(y, y2, pix * 11 * sizeof(float)) == 0, "in-place residual differs (%s)",
                 qn_act_name(acts[r]));
        qn_f32_conv_free(&conv);
    }
}

// Which convs take the direct path, and the kernel each level reports.
static void conv_direct_choice(void) {
    struct qn_conv_params p = {.h = 28, .w = 28, .c_in = 1, .c_out = 8, .kh = 3, .kw = 3,
                               .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
    QT_CHECK(qn_conv_direct_ok(&p, false) && qn_conv_direct_ok(&p, true), "stem not direct");
    struct qn_conv_params q = p;
    q.c_in = 5, q.kh = q.kw = 7;  // T = 245
    QT_CHECK(qn_conv_direct_ok(&q, false), "T = 245 not direct");
    q.c_in = 6;  // T = 294
    QT_CHECK(!qn_conv_direct_ok(&q, false) && !qn_conv_direct_ok(&q, true), "T = 294 direct");
    q = p, q.c_in = 4, q.c_out = 48;
    QT_CHECK(qn_conv_direct_ok(&q, true), "INT8 4 -> 48 not direct");
    q.c_out = 49;
    QT_CHECK(!qn_conv_direct_ok(&q, true) && qn_conv_direct_ok(&q, false), "4 -> 49 split");
    q = p, q.kh = q.kw = 1, q.pad_h = q.pad_w = 0;
    QT_CHECK(!qn_conv_direct_ok(&q, false), "1x1 taken as direct");
    q = p, q.c_in = q.c_out = 8, q.depthwise = true;
    QT_CHECK(!qn_conv_direct_ok(&q, false), "depthwise taken as direct");
    float w[72] = {0};
    struct qn_conv_wview v = qn_conv_wview_ohwi(w, 4, 8, 3, 1, 8, 3, 1);
    struct qn_f32_conv conv;
    QT_CHECK(qn_f32_conv_init(&conv, &p, &v) == QN_OK && conv.path == QN_CONV_PATH_DIRECT,
             "stem path");
    const char *name = qn_f32_conv_variant(&conv);
    QT_CHECK(name && strstr(name, "qn_f32_conv_hwc_ukernel_"), "name %s", name);
    if (qn_isa() == QN_ISA_AVX512 || qn_isa() == QN_ISA_AVX2 || qn_isa() == QN_ISA_SCALAR)
        QT_CHECK(strstr(name, qn_isa_name(qn_isa())) != NULL, "%s does not name %s", name,
                 qn_isa_name(qn_isa()));
    qn_f32_conv_free(&conv);
}

static void conv_bad_args(void) {
    float w[27] = {0};
    struct qn_conv_wview v = qn_conv_wview_ohwi(w, 4, 1, 3, 3, 1, 3, 3);
    struct qn_conv_params p = {.h = 4, .w = 4, .c_in = 3, .c_out = 1, .kh = 3, .kw = 3,
                               .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
    struct qn_f32_conv conv;
    QT_CHECK(qn_f32_conv_init(&conv, &p, &v) == QN_OK, "valid shape rejected");
    qn_f32_conv_free(&conv);
    struct qn_conv_params q = p;
    q.stride_h = 0;
    QT_CHECK(qn_f32_conv_init(&conv, &q, &v) == QN_ERR_ARG, "stride 0 accepted");
    q = p, q.pad_h = 3;
    QT_CHECK(qn_f32_conv_init(&conv, &q, &v) == QN_ERR_ARG, "pad >= k accepted");
    q = p, q.c_in = 2;
    QT_CHECK(qn_f32_conv_init(&conv, &q, &v) == QN_ERR_ARG, "c_in mismatch accepted");
    q = p, q.h = 1, q.pad_h = 0;
    QT_CHECK(qn_f32_conv_init(&conv, &q, &v) == QN_ERR_ARG, "image smaller than kernel accepted");
    q = p, q.depthwise = true;
    QT_CHECK(qn_f32_conv_init(&conv, &q, &v) == QN_ERR_ARG, "regular view taken as depthwise");
}

// Views: the centred window and leading channels of the supernet tensor.
static void wview_slices(void) {
    float full[5 * 5 * 5 * 4];
    for (int i = 0; i < 5 * 5 * 5 * 4; i++) full[i] = (float)i;
    struct qn_conv_wview v = qn_conv_wview_ohwi(full, 4, 5, 5, 4, 2, 3, 3);
    const float *d = v.data;
    QT_CHECK(d[0] == full[1 * 5 * 4 + 1 * 4], "centre offset");
    QT_CHECK(d[v.ld_o] == full[5 * 5 * 4 + 1 * 5 * 4 + 1 * 4], "o stride");
    QT_CHECK(v.c_out == 2 && v.c_in == 3 && v.kh == 3 && v.ld_w == 4, "dims");
    struct qn_conv_wview dv = qn_conv_wview_dw(full, 4, 7, 6, 5, 3);
    QT_CHECK((const float *)dv.data == full + 2 * 7 * 6 + 2 * 6 && dv.ld_o == 1 && dv.c_in == 1,
             "depthwise view");
}

static void quantize_weights(void) {
    qt_seed(108);
    float full[4 * 3 * 3 * 5];
    qt_fill_f32(full, sizeof(full) / sizeof(full[0]), -2, 2);
    full[0] = 3.0f;  // channel 0 max
    for (int i = 0; i < 3 * 3 * 5; i++) full[3 * 45 + i] = 0.0f;  // channel 3 all zero
    struct qn_conv_wview v = qn_conv_wview_ohwi(full, 4, 4, 3, 5, 4, 3, 5);
    int8_t q[4 * 45];
    float scale[4];
    struct qn_conv_wview qv;
    qn_conv_quantize_weights(&v, 8, q, scale, &qv);
    QT_CHECK(scale[0] == 3.0f / 127.0f && q[0] == 127, "max maps to 127");
    QT_CHECK(scale[3] == 1.0f && q[3 * 45] == 0, "zero channel");
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 45; i++)
            QT_CHECK(fabsf(q[o * 45 + i] * scale[o] - full[o * 45 + i]) <= 0.5001f * scale[o],
                     "rounding error o=%d i=%d", o, i);
    QT_CHECK(qv.ld_o == 45 && qv.ld_h == 15 && qv.ld_w == 5, "dense OHWI view");
    qn_conv_quantize_weights(&v, 4, q, scale, NULL);
    for (int i = 0; i < 4 * 45; i++) QT_CHECK(q[i] >= -7 && q[i] <= 7, "4-bit range");
}

static void variant_names(void) {
    const char *isa = qn_isa_name(qn_isa());
    const char *f = qn_f32_dwconv_variant(3), *g = qn_f32_dwconv_variant(9);
    QT_CHECK(f && (strstr(f, "qn_f32_dwconv_ukernel_3x3") || strstr(f, "qn_f32_dwconv_band_3x3") ||
                   (qn_isa() == QN_ISA_SCALAR && strstr(f, "qn_f32_dwconv_ukernel_kxk"))),
             "name %s", f);
    QT_CHECK(g && strstr(g, "kxk"), "name %s", g);
    if (qn_isa() == QN_ISA_AVX512 || qn_isa() == QN_ISA_AVX2)
        QT_CHECK(strstr(f, isa) != NULL, "%s does not name %s", f, isa);
}

int main(int argc, char **argv) {
    (void)argc;
    QT_RUN(wview_slices);
    QT_RUN(quantize_weights);
    QT_RUN(conv_bad_args);
    QT_RUN_EACH_ISA(variant_names);
    QT_RUN_EACH_ISA(dwconv_random);
    QT_RUN_EACH_ISA(dwconv_any_k);
    QT_RUN_EACH_ISA(dwconv_bands);
    QT_RUN_EACH_ISA(dwconv_batch_streams);
    QT_RUN_EACH_ISA(dwconv_band_matches_rows);
    QT_RUN(dwconv_prefetch_shares);
    QT_RUN_EACH_ISA(conv_random);
    QT_RUN_EACH_ISA(conv_1x1);
    QT_RUN_EACH_ISA(conv_stem);
    QT_RUN_EACH_ISA(conv_mbconv_shapes);
    QT_RUN_EACH_ISA(conv_residual_in_place);
    QT_RUN_EACH_ISA(conv_direct_choice);
    QT_RUN_EACH_ISA(conv_direct_grid);
    QT_RUN_EACH_ISA(conv_direct_random);
    QT_RUN_EACH_ISA(conv_direct_shapes);
    QT_RUN_EACH_ISA(conv_direct_residual_in_place);
    printf("  direct path: %d of %d conv objects\n", n_direct, n_cases);
    return qt_finish(argv[0]);
}
