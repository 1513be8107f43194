// INT8 convolution (u8 activations x s8 weights) against a direct convolution written plainly
// here: exact s32 accumulation over the taps inside the image (a padded tap is an input equal to
// the zero point, i.e. contributes 0), then qn_qgemm_ref's requantization sequence. Every path
// and ISA level must match bit for bit, u8 and FP32 outputs, every activation, both residual
// orders, elastic slices and strided pixels; u8 outputs clamped to out_qmax (narrower
// activations in u8 containers).
#include "conv.h"
#include "qs8-dwconv/qs8-dwconv.h"
#include "test.h"

struct tcase {
    struct qn_conv_params p;
    size_t n, k_max, c_in_max, c_out_max, ld_x, ld_y, ldr;
    int bits, a_zp, out_zp;
    int out_qmax;     // u8 output clamp, 0 = 255
    float out_scale;  // 0: 1/16 (y of +-4 is +-64 steps)
    enum qn_act act;
    bool bias, res, res_before, out_u8;
    bool check_path;  // the object must have chosen want_path
    enum qn_conv_path want_path;
};

// Cases run, direct-path objects among them, depthwise cases checked through the scalar
// row-quad kernel (reported at the end).
static int n_cases, n_direct, n_quad_cases;
static int n_pack_checks[3];  // images whose vector quads were compared: the plain pack, the VBMI one, AVX2's

static size_t pick(const size_t *v, size_t count) { return v[qt_int(0, (int)count - 1)]; }
#define PICK(arr) pick(arr, sizeof(arr) / sizeof(arr[0]))

static float requant_f(const struct tcase *t, int32_t acc, float mul, const float *bias,
                       const float *res_px, size_t o) {
    float y = (float)acc * mul;
    if (t->bias) y += bias[o];
    if (t->res && t->res_before) y += res_px[o];
    y = qn_act_ref(t->act, y);
    if (t->res && !t->res_before) y += res_px[o];
    return y;
}

// u8 outputs of the last run_case whose unclamped value was above qmax.
static size_t sat_top;

// The row-quad path's plan (weight sets, row / column classes, tap sums) through the scalar
// row-quad kernel, at every ISA level: quads from the scalar transposition (above the scalar
// level also from the vector ones, byte for byte the same), then every image against want.
static void check_quad_scalar(const struct tcase *t, const struct qn_qs8_conv *conv,
                              const uint8_t *x, const struct qn_qgemm_out *out,
                              const float *res, const unsigned char *want) {
    const struct qn_conv_params *p = &t->p;
    const size_t w_q = qn_qs8_dwq_width(p->w, p->pad_w, p->stride_w);
    const size_t qb = qn_qs8_dwq_bytes(p->h, w_q), blocks = conv->c_pad / 16;
    const size_t n_corr = conv->dwq_n_rc * conv->dwq_n_cc * 16;
    const size_t pix = conv->h_out * conv->w_out, es = t->out_u8 ? 1 : sizeof(float);
    uint8_t *quads = qn_alloc(blocks * qb), *quads2 = qn_alloc(blocks * qb);
    int32_t *zc = malloc(blocks * n_corr * sizeof(int32_t));
    unsigned char *y = malloc(t->n * pix * t->ld_y * es);
    for (size_t i = 0; i < blocks * n_corr; i++) zc[i] = -t->a_zp * conv->dwq_wsum[i];
    memset(y, 0xA5, t->n * pix * t->ld_y * es);
    size_t pack_bad = 0;
    for (size_t img = 0; img < t->n; img++) {
        memset(quads, 0, blocks * qb);
        memset(quads2, 0, blocks * qb);
        const uint8_t *xi = x + img * p->h * p->w * t->ld_x;
        (qn_qs8_conv_dwq_pairs(conv) ? qn_qs8_dwq_pack_pairs__scalar : qn_qs8_dwq_pack__scalar)(
            xi, p->h, p->w, t->ld_x, p->c_in, (uint8_t)t->a_zp, p->pad_w, w_q, quads, qb);
        // the vector packs: all blocks in one call (groups of four), and block by block as
        // conv.c's threads may split them
        qn_qs8_dwq_pack_fn packs[3] = {0};
        if (qn_isa() == QN_ISA_AVX512) packs[0] = qn_qs8_dwq_pack__avx512;
        if (qn_isa() == QN_ISA_AVX512 && qn_cpu()->avx512vbmi) packs[1] = qn_qs8_dwq_pack_vbmi__avx512;
        if (qn_isa() == QN_ISA_AVX2) packs[2] = qn_qs8_dwq_pack_pairs__avx2;
        if (qn_isa() == QN_ISA_AVXVNNI) packs[2] = qn_qs8_dwq_pack__avx2;
        for (size_t v = 0; v < 3; v++) {
            if (!packs[v]) continue;
            memset(quads2, 0, blocks * qb);
            packs[v](xi, p->h, p->w, t->ld_x, p->c_in, (uint8_t)t->a_zp, p->pad_w, w_q, quads2, qb);
            pack_bad += memcmp(quads, quads2, blocks * qb) != 0;
            memset(quads2, 0, blocks * qb);
            for (size_t b = 0; b < blocks; b++)
                packs[v](xi + b * 16, p->h, p->w, t->ld_x, QN_MIN(16, p->c_in - b * 16), (uint8_t)t->a_zp,
                         p->pad_w, w_q, quads2 + b * qb, qb);
            pack_bad += memcmp(quads, quads2, blocks * qb) != 0;
            n_pack_checks[v]++;
        }
        const struct qn_qs8_dwq_args a = {
            .c = p->c_in, .w_in = p->w, .pad = p->pad_w, .w_q = w_q, .h_out = conv->h_out,
            .w_out = conv->w_out,
            .oy_lo = 0, .oy_hi = conv->h_out, .quads = quads, .quad_stride = qb,
            .wq = conv->dwq_w, .set_stride = conv->dwq_set_stride,
            .block_stride = conv->dwq_block_stride, .rows = conv->dwq_rows,
            .col_class = conv->dwq_cols, .zcorr = t->a_zp ? zc : NULL, .n_cc = conv->dwq_n_cc, .corr_stride = n_corr,
            .mul = conv->dw_mul, .bias = out->ep.bias,
            .res = t->res ? res + img * pix * t->ldr : NULL, .ld_r = t->ldr,
            .res_before_act = t->res_before, .act = t->act, .out_u8 = t->out_u8,
            .inv_out = 1.0f / out->out_scale, .out_zp = out->out_zp,
            .out_qmax = qn_qgemm_out_qmax(out), .y = y + img * pix * t->ld_y * es, .ld_y = t->ld_y,
            .pairs = qn_qs8_conv_dwq_pairs(conv),
        };
        qn_qs8_dwq_ukernel_kxk__scalar(&a, p->kh, p->stride_h);
    }
    QT_CHECK(!pack_bad, "k=%zu s=%zu hw=%zux%zu c=%zu: vector quads differ from scalar ones", p->kh,
             p->stride_h, p->h, p->w, p->c_in);
    size_t bad = 0, first = 0;
    for (size_t e = 0; e < t->n * pix * t->ld_y; e++)
        if (memcmp(y + e * es, want + e * es, es) != 0 && bad++ == 0) first = e;
    QT_CHECK(!bad, "row-quad scalar k=%zu s=%zu pad=%zu c=%zu hw=%zux%zu n=%zu act=%s u8=%d: "
                   "%zu mismatches, first at %zu",
             p->kh, p->stride_h, p->pad_h, p->c_in, p->h, p->w, t->n, qn_act_name(t->act),
             t->out_u8, bad, first);
    n_quad_cases++;
    qn_free(quads), qn_free(quads2), free(zc), free(y);
}

static void run_case(const struct tcase *t) {
    const struct qn_conv_params *p = &t->p;
    const size_t ho = qn_conv_h_out(p), wo = qn_conv_w_out(p), pix = t->n * ho * wo;
    const size_t n_x = t->n * p->h * p->w * t->ld_x;
    const size_t n_full = p->depthwise ? t->k_max * t->k_max * t->c_out_max
                                       : t->c_out_max * t->k_max * t->k_max * t->c_in_max;
    const size_t es = t->out_u8 ? 1 : sizeof(float);
    uint8_t *x = malloc(n_x);
    int8_t *full = malloc(n_full);
    float *wscale = malloc(p->c_out * sizeof(float)), *bias = malloc(p->c_out * sizeof(float));
    float *res = malloc(pix * t->ldr * sizeof(float));
    unsigned char *y = malloc(pix * t->ld_y * es), *want = malloc(pix * t->ld_y * es);
    const int lim = (1 << (t->bits - 1)) - 1;
    qt_fill_u8(x, n_x);
    qt_fill_s8(full, n_full, -lim, lim);
    // a reduction of T taps of |x - zp| * |w| has magnitude ~ sqrt(T) * 128 * lim / 2 at random:
    // scale so y lands around +-4 and the u8 output uses its range
    const size_t taps = p->kh * p->kw * (p->depthwise ? 1 : p->c_in);
    const float a_scale = 0.05f;
    for (size_t o = 0; o < p->c_out; o++)
        wscale[o] = qt_float(0.5f, 1.5f) * 4.0f / (a_scale * 64.0f * (float)lim * sqrtf((float)taps));
    qt_fill_f32(bias, p->c_out, -1.0f, 1.0f);
    qt_fill_f32(res, pix * t->ldr, -2.0f, 2.0f);
    memset(y, 0xA5, pix * t->ld_y * es);
    memset(want, 0xA5, pix * t->ld_y * es);
    struct qn_conv_wview w =
        p->depthwise ? qn_conv_wview_dw(full, 1, t->k_max, t->c_out_max, p->c_out, p->kh)
        : p->kh != p->kw  // rectangular: a dense [c_out_max][kh][kw][c_in_max] view
            ? (struct qn_conv_wview){.data = full, .c_out = p->c_out, .kh = p->kh, .kw = p->kw,
                                     .c_in = p->c_in, .ld_o = p->kh * p->kw * t->c_in_max,
                                     .ld_h = p->kw * t->c_in_max, .ld_w = t->c_in_max}
            : qn_conv_wview_ohwi(full, 1, t->c_out_max, t->k_max, t->c_in_max, p->c_out, p->kh,
                                 p->c_in);
    struct qn_qgemm_out out = {
        .a_scale = a_scale, .a_zp = t->a_zp,
        .ep = {.bias = t->bias ? bias : NULL, .act = t->act, .residual = t->res ? res : NULL,
               .ldr = t->ldr, .residual_before_act = t->res_before},
        .out_u8 = t->out_u8, .out_scale = t->out_scale ? t->out_scale : 8.0f / 128.0f,
        .out_zp = t->out_zp,
        .out_qmax = t->out_qmax,
    };
    const int qmax = t->out_qmax ? t->out_qmax : 255;
    sat_top = 0;
    const float inv_out = 1.0f / out.out_scale;
    const int8_t *wd = w.data;
    // direct reference
    for (size_t img = 0; img < t->n; img++)
        for (size_t oh = 0; oh < ho; oh++)
            for (size_t ow = 0; ow < wo; ow++) {
                const size_t m = (img * ho + oh) * wo + ow;
                for (size_t o = 0; o < p->c_out; o++) {
                    int32_t acc = 0;
                    for (size_t i = 0; i < p->kh; i++)
                        for (size_t j = 0; j < p->kw; j++) {
                            long ih = (long)(oh * p->stride_h + i) - (long)p->pad_h;
                            long iw = (long)(ow * p->stride_w + j) - (long)p->pad_w;
                            if (ih < 0 || iw < 0 || ih >= (long)p->h || iw >= (long)p->w) continue;
                            const uint8_t *px = x + ((img * p->h + ih) * p->w + iw) * t->ld_x;
                            if (p->depthwise) {
                                acc += ((int32_t)px[o] - t->a_zp) * wd[o + i * w.ld_h + j * w.ld_w];
                                continue;
                            }
                            for (size_t ci = 0; ci < p->c_in; ci++)
                                acc += ((int32_t)px[ci] - t->a_zp) *
                                       wd[o * w.ld_o + i * w.ld_h + j * w.ld_w + ci];
                        }
                    const float mul = a_scale * wscale[o];
                    const float v = requant_f(t, acc, mul, bias, res + m * t->ldr, o);
                    if (t->out_u8) {
                        float q = rintf(v * inv_out) + (float)t->out_zp;
                        sat_top += q > (float)qmax;
                        q = q < 0.0f ? 0.0f : (q > (float)qmax ? (float)qmax : q);
                        want[m * t->ld_y + o] = (uint8_t)q;
                    } else {
                        memcpy(want + (m * t->ld_y + o) * 4, &v, 4);
                    }
                }
            }
    struct qn_qs8_conv conv;
    enum qn_status st = qn_qs8_conv_init(&conv, p, &w, wscale, t->bits);
    QT_CHECK(st == QN_OK, "init: %s", qn_status_str(st));
    if (st == QN_OK) {
        n_cases++, n_direct += conv.path == QN_CONV_PATH_DIRECT;
        if (t->check_path)
            QT_CHECK(conv.path == t->want_path, "k=%zu c=%zu->%zu: path %s, want %s", p->kh,
                     p->c_in, p->c_out, qn_conv_path_name(conv.path),
                     qn_conv_path_name(t->want_path));
        if (p->depthwise && p->kh == p->kw && (p->kh == 3 || p->kh == 5 || p->kh == 7) &&
            p->stride_h == p->stride_w && p->stride_h <= 2)
            QT_CHECK(conv.dwq_w != NULL, "k=%zu s=%zu: no row-quad plan", p->kh, p->stride_h);
        qn_qs8_conv_run(&conv, t->n, x, t->ld_x, &out, y, t->ld_y);
        if (conv.dwq_w) check_quad_scalar(t, &conv, x, &out, res, want);
        size_t bad = 0, first = 0, over = 0;
        for (size_t e = 0; e < pix * t->ld_y; e++) {
            if (memcmp(y + e * es, want + e * es, es) != 0 && bad++ == 0) first = e;
            over += t->out_u8 && e % t->ld_y < p->c_out && y[e] > qmax;
        }
        QT_CHECK(!over, "%zu outputs above qmax %d", over, qmax);
        if (bad) {
            const size_t m = first / t->ld_y, o = first % t->ld_y;
            double g = t->out_u8 ? y[first] : ((float *)y)[first];
            double wv = t->out_u8 ? want[first] : ((float *)want)[first];
            QT_CHECK(0, "%s k=%zux%zu s=%zu pad=%zu c=%zu->%zu hw=%zux%zu n=%zu act=%s u8=%d "
                        "qmax=%d zp=%d: %zu mismatches, first m=%zu o=%zu got %.9g want %.9g",
                     qn_conv_path_name(conv.path), p->kh, p->kw, p->stride_h, p->pad_h, p->c_in,
                     p->c_out, p->h, p->w, t->n, qn_act_name(t->act), t->out_u8, t->out_qmax,
                     t->out_zp, bad, m, o, g, wv);
        }
        qn_qs8_conv_free(&conv);
    }
    free(x), free(full), free(wscale), free(bias), free(res), free(y), free(want);
}

static const size_t CH[] = {1, 2, 3, 5, 7, 13, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65};
static const size_t KS[] = {1, 3, 5, 7};

static struct tcase random_case(bool depthwise, size_t k) {
    struct tcase t;
    memset(&t, 0, sizeof(t));
    struct qn_conv_params *p = &t.p;
    p->depthwise = depthwise;
    p->kh = p->kw = k;
    p->stride_h = p->stride_w = (size_t)qt_int(1, 2);
    p->pad_h = p->pad_w = qt_int(0, 3) ? k / 2 : 0;
    const size_t lo = p->pad_h ? 1 : k;
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
    const int bits[] = {8, 8, 6, 4};
    t.bits = bits[qt_int(0, 3)];
    t.a_zp = qt_int(0, 3) ? qt_int(0, 255) : 128;
    t.out_zp = qt_int(0, 255);
    t.act = (enum qn_act)qt_int(0, QN_ACT_GELU);
    t.bias = qt_int(0, 3) != 0;
    t.res = qt_int(0, 1);
    t.res_before = qt_int(0, 1);
    t.out_u8 = qt_int(0, 3) != 0;
    return t;
}

static void dwconv_random(void) {
    qt_seed(201);
    const int trials = qt_quick() ? 12 : 150;
    for (int r = 0; r < trials; r++) {
        struct tcase t = random_case(true, KS[1 + r % 3]);
        run_case(&t);
    }
}

static void dwconv_any_k(void) {
    qt_seed(202);
    const size_t ks[] = {1, 9};
    for (int r = 0; r < (qt_quick() ? 4 : 20); r++) {
        struct tcase t = random_case(true, ks[r % 2]);
        t.k_max = t.p.kh;
        run_case(&t);
    }
}

static void conv_random(void) {
    qt_seed(203);
    for (int r = 0; r < (qt_quick() ? 10 : 80); r++) {
        struct tcase t = random_case(false, KS[r % 4]);
        if (t.p.c_in > 33 && t.p.kh == 7) t.p.c_in = 17, t.c_in_max = 20, t.ld_x = 21;
        run_case(&t);
    }
}

static void conv_1x1(void) {
    qt_seed(204);
    for (int r = 0; r < (qt_quick() ? 6 : 40); r++) {
        struct tcase t = random_case(false, 1);
        t.p.pad_h = t.p.pad_w = 0;
        run_case(&t);
    }
}

// u8 outputs of 1..8 bits (out_qmax 2^b - 1, 0 = 255) through every path: depthwise 3/5/7
// (the specialized kernels; GELU picks the scalar one) and any k, 1x1, im2col. zp near mid
// range and |y| <= ~1 spanning the range (y has a spread of ~3), 3 images: both ends saturate.
static void out_qmax_paths(void) {
    qt_seed(208);
    const int qmaxes[] = {0, 1, 3, 15, 63, 127, 255};
    const size_t ks[] = {3, 5, 7, 9, 1, 3};  // last two: dense conv
    for (size_t q = 0; q < sizeof(qmaxes) / sizeof(qmaxes[0]); q++)
        for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
            struct tcase t = random_case(i < 4, ks[i]);
            if (i == 3) t.k_max = t.p.kh;
            if (!t.p.depthwise && t.p.c_in > 33) t.p.c_in = 17, t.c_in_max = 20, t.ld_x = 21;
            t.out_u8 = true;
            t.out_qmax = qmaxes[q];
            const int qm = qmaxes[q] ? qmaxes[q] : 255;
            t.out_zp = qt_int(qm / 4, qm / 2 + qm / 4);
            t.out_scale = 2.0f / (float)(qm + 2);
            t.n = 3;
            if (q % 2) t.act = QN_ACT_NONE;  // signed y: the bottom clamp too
            run_case(&t);
            QT_CHECK(sat_top > 0, "no output above qmax %d (k=%zu dw=%d)", qm, ks[i],
                     t.p.depthwise);
        }
}

static void conv_stem(void) {
    qt_seed(205);
    struct tcase t = {
        .p = {.h = 28, .w = 28, .c_in = 1, .c_out = 16, .kh = 3, .kw = 3, .stride_h = 1,
              .stride_w = 1, .pad_h = 1, .pad_w = 1},
        .n = 3, .k_max = 3, .c_in_max = 1, .c_out_max = 16, .ld_x = 1, .ld_y = 16, .ldr = 16,
        .bits = 8, .a_zp = 0, .out_zp = 0, .act = QN_ACT_RELU, .bias = true, .out_u8 = true,
    };
    run_case(&t);
}

static void conv_mbconv_shapes(void) {
    qt_seed(206);
    struct tcase t = {
        .p = {.h = 14, .w = 14, .c_in = 96, .c_out = 96, .kh = 3, .kw = 3, .stride_h = 1,
              .stride_w = 1, .pad_h = 1, .pad_w = 1, .depthwise = true},
        .n = 1, .k_max = 7, .c_in_max = 144, .c_out_max = 144, .ld_x = 96, .ld_y = 96,
        .ldr = 96, .bits = 8, .a_zp = 3, .out_zp = 0, .act = QN_ACT_RELU6, .bias = true,
        .out_u8 = true,
    };
    run_case(&t);
    t.p.h = t.p.w = 28, t.p.c_in = t.p.c_out = 144, t.p.kh = t.p.kw = 5, t.p.pad_h = t.p.pad_w = 2;
    t.ld_x = t.ld_y = t.ldr = 144, t.act = QN_ACT_HSWISH;
    if (!qt_quick()) run_case(&t);
    t.p = (struct qn_conv_params){.h = 14, .w = 14, .c_in = 96, .c_out = 576, .kh = 1, .kw = 1,
                                  .stride_h = 1, .stride_w = 1};
    t.k_max = 1, t.c_in_max = 96, t.c_out_max = 576, t.ld_x = 96, t.ld_y = t.ldr = 576;
    t.res = true;
    if (!qt_quick()) run_case(&t);
}

// Weights from the FP32 helper: the quantized view drives the conv directly.
static void conv_from_float_weights(void) {
    qt_seed(207);
    for (int dw = 0; dw < 2; dw++) {
        const size_t c = 21, k = 5, kmax = 7, cmax = 24;
        const size_t n_full = dw ? kmax * kmax * cmax : cmax * kmax * kmax * cmax;
        float *full = malloc(n_full * sizeof(float));
        qt_fill_f32(full, n_full, -0.5f, 0.5f);
        struct qn_conv_wview fv = dw ? qn_conv_wview_dw(full, 4, kmax, cmax, c, k)
                                     : qn_conv_wview_ohwi(full, 4, cmax, kmax, cmax, c, k, c);
        int8_t *q = malloc(c * k * k * c);
        float scale[21];
        struct qn_conv_wview qv;
        qn_conv_quantize_weights(&fv, 8, q, scale, &qv);
        struct qn_conv_params p = {.h = 9, .w = 7, .c_in = c, .c_out = c, .kh = k, .kw = k,
                                   .stride_h = 1, .stride_w = 1, .pad_h = 2, .pad_w = 2,
                                   .depthwise = dw};
        struct qn_qs8_conv conv;
        QT_CHECK(qn_qs8_conv_init(&conv, &p, &qv, scale, 8) == QN_OK, "init from helper view");
        // the same weights through the operator and through the float conv must agree to
        // within the quantization error: check one pixel's magnitude stays sane
        uint8_t x[9 * 7 * 21];
        qt_fill_u8(x, sizeof(x));
        float y[9 * 7 * 21];
        struct qn_qgemm_out out = {.a_scale = 1.0f / 255.0f, .a_zp = 0};
        qn_qs8_conv_run(&conv, 1, x, c, &out, y, c);
        float *yf = malloc(sizeof(y));
        struct qn_f32_conv fc;
        float xf[9 * 7 * 21];
        for (size_t i = 0; i < sizeof(x); i++) xf[i] = x[i] / 255.0f;
        QT_CHECK(qn_f32_conv_init(&fc, &p, &fv) == QN_OK, "f32 init");
        qn_f32_conv_run(&fc, 1, xf, c, yf, c, NULL);
        for (size_t i = 0; i < 9 * 7 * 21; i++) {
            const size_t o = i % c;
            // per tap |w - q * s| <= s / 2, |x| <= 1: error <= taps * s / 2
            const float tol = (float)(dw ? k * k : k * k * c) * scale[o] * 0.5f + 1e-5f;
            QT_CHECK(fabsf(y[i] - yf[i]) <= tol, "dw=%d i=%zu %g vs %g", dw, i, y[i], yf[i]);
        }
        qn_f32_conv_free(&fc);
        qn_qs8_conv_free(&conv);
        free(full), free(q), free(yf);
    }
}

// --- direct small-reduction path (QN_CONV_PATH_DIRECT) ---

// As in test-f32-conv.c: every combination of c_in 1..4, k 1/3/5/7, stride 1/2 and pad k/2 or
// 0 over images of 1, 2, 5 and 28 pixels a side, cycling c_out through 1, 7, 8, 9, 33, batch
// 1 / 3, every activation, bias, both residual orders, strided pixels, elastic slices; here also
// u8 output (out_qmax 0 = 255 or narrower) or FP32, 8 / 6 / 4-bit weights and zero points at
// both ends. Bit-exact, and k > 1 must take the direct path.
static void conv_direct_grid(void) {
    qt_seed(209);
    static const size_t c_outs[] = {1, 7, 8, 9, 33};
    static const size_t sizes[][2] = {{1, 1}, {2, 5}, {5, 2}, {5, 5}, {28, 28}, {1, 28}};
    static const enum qn_act acts[] = {QN_ACT_NONE, QN_ACT_RELU, QN_ACT_RELU6, QN_ACT_HSWISH,
                                       QN_ACT_GELU};
    static const int qmaxes[] = {0, 255, 15, 127, 1, 63};
    static const int zps[] = {0, 128, 255, 3, 77};
    static const int bits[] = {8, 6, 4};
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
                        t.bits = bits[idx % 3];
                        t.a_zp = zps[idx / 3 % 5];
                        t.act = acts[idx / 5 % 5];
                        t.bias = idx % 7 != 3;
                        t.res = idx % 3 == 1;
                        t.res_before = idx % 6 == 4;
                        t.out_u8 = idx % 4 != 3;
                        t.out_qmax = qmaxes[idx / 2 % 6];
                        const int qm = t.out_qmax ? t.out_qmax : 255;
                        t.out_zp = qm / 3;
                        t.out_scale = 8.0f / (float)(qm + 1);
                        t.check_path = true;
                        t.want_path = k > 1 ? QN_CONV_PATH_DIRECT
                                            : s == 1 ? QN_CONV_PATH_GEMM_1X1
                                                     : QN_CONV_PATH_GEMM_1X1_SUB;
                        run_case(&t);
                    }
    QT_CHECK(n_direct - before >= (qt_quick() ? 90 : 120), "only %d direct cases",
             n_direct - before);
}

// Random shapes around the direct path's limits: c_in 1..8 and c_out up to 65 (INT8 takes the
// direct path only while c_in * c_out <= QN_CONV_DIRECT_QS8_MAX_CIO), k 3/5/7 or k x 1 / 1 x k,
// a stride per axis.
static void conv_direct_random(void) {
    qt_seed(210);
    for (int r = 0; r < (qt_quick() ? 15 : 120); r++) {
        struct tcase t = random_case(false, KS[1 + r % 3]);
        struct qn_conv_params *p = &t.p;
        p->c_in = (size_t)qt_int(1, 8);
        if (r % 5 == 4) {  // rectangular kernel: only kh or kw is k
            if (r % 2) p->kh = 1, p->pad_h = 0;
            else p->kw = 1, p->pad_w = 0;
        }
        p->stride_w = (size_t)qt_int(1, 2);
        if (p->h + 2 * p->pad_h < p->kh) p->h = p->kh;
        if (p->w + 2 * p->pad_w < p->kw) p->w = p->kw;
        t.c_in_max = p->c_in + (size_t)qt_int(0, 3);
        t.ld_x = t.c_in_max + (size_t)qt_int(0, 1);
        if (t.out_u8 && r % 3 == 0) t.out_qmax = qt_int(1, 254), t.out_zp = t.out_qmax / 2;
        t.check_path = true;
        t.want_path = qn_conv_direct_ok(p, true) ? QN_CONV_PATH_DIRECT : QN_CONV_PATH_IM2COL;
        run_case(&t);
    }
}

// The MBConv stem (hardswish, u8 out) at batch 1 and 64 (threads past the work threshold), and
// wide images whose window takes several chunks, strided and dense pixels.
static void conv_direct_shapes(void) {
    qt_seed(211);
    struct tcase t = {
        .p = {.h = 28, .w = 28, .c_in = 1, .c_out = 8, .kh = 3, .kw = 3, .stride_h = 1,
              .stride_w = 1, .pad_h = 1, .pad_w = 1},
        .n = 1, .k_max = 3, .c_in_max = 1, .c_out_max = 8, .ld_x = 1, .ld_y = 8, .ldr = 8,
        .bits = 8, .a_zp = 7, .out_zp = 3, .act = QN_ACT_HSWISH, .bias = true, .out_u8 = true,
        .check_path = true, .want_path = QN_CONV_PATH_DIRECT,
    };
    run_case(&t);
    t.n = qt_quick() ? 8 : 64;
    run_case(&t);
    t.p.h = 3, t.p.w = 1500, t.p.c_in = 3, t.p.kh = t.p.kw = 7, t.p.pad_h = t.p.pad_w = 3;
    t.p.c_out = 17, t.n = 1, t.k_max = 7, t.c_in_max = 3, t.ld_x = 4, t.c_out_max = 17;
    t.ld_y = t.ldr = 17, t.res = true, t.p.stride_w = 2, t.out_qmax = 63;
    run_case(&t);
    t.ld_x = 3, t.p.stride_w = 1, t.p.kw = 5, t.p.pad_w = 2, t.out_u8 = false;  // dense pixels
    run_case(&t);
}

// Which convs take the direct path, and the kernel each level reports.
static void conv_direct_choice(void) {
    int8_t w[72] = {0};
    float s[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    struct qn_conv_params p = {.h = 28, .w = 28, .c_in = 1, .c_out = 8, .kh = 3, .kw = 3,
                               .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
    struct qn_conv_wview v = qn_conv_wview_ohwi(w, 1, 8, 3, 1, 8, 3, 1);
    struct qn_qs8_conv conv;
    QT_CHECK(qn_qs8_conv_init(&conv, &p, &v, s, 8) == QN_OK && conv.path == QN_CONV_PATH_DIRECT,
             "stem path");
    const char *name = qn_qs8_conv_variant(&conv);
    QT_CHECK(name && strstr(name, "qn_qs8_conv_hwc_ukernel_"), "name %s", name);
    if (qn_isa() == QN_ISA_AVX512 || qn_isa() == QN_ISA_AVX2 || qn_isa() == QN_ISA_SCALAR)
        QT_CHECK(strstr(name, qn_isa_name(qn_isa())) != NULL, "%s does not name %s", name,
                 qn_isa_name(qn_isa()));
    qn_qs8_conv_free(&conv);
    w[5] = 9;  // out of the 4-bit range
    QT_CHECK(qn_qs8_conv_init(&conv, &p, &v, s, 4) == QN_ERR_ARG, "direct: out of range weight");
}

static void conv_bad_args(void) {
    int8_t w[27] = {0};
    w[4] = 100;
    float s[1] = {1.0f};
    struct qn_conv_wview v = qn_conv_wview_ohwi(w, 1, 1, 3, 3, 1, 3, 3);
    struct qn_conv_params p = {.h = 4, .w = 4, .c_in = 3, .c_out = 1, .kh = 3, .kw = 3,
                               .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
    struct qn_qs8_conv conv;
    QT_CHECK(qn_qs8_conv_init(&conv, &p, &v, s, 8) == QN_OK, "valid shape rejected");
    qn_qs8_conv_free(&conv);
    QT_CHECK(qn_qs8_conv_init(&conv, &p, &v, s, 4) == QN_ERR_ARG, "out of range weight accepted");
    QT_CHECK(qn_qs8_conv_init(&conv, &p, &v, NULL, 8) == QN_ERR_ARG, "NULL scale accepted");
    struct qn_conv_wview dv = qn_conv_wview_dw(w, 1, 3, 3, 3, 3);
    struct qn_conv_params q = p;
    q.depthwise = true, q.c_out = 3;
    QT_CHECK(qn_qs8_conv_init(&conv, &q, &dv, s, 4) == QN_ERR_ARG, "dw out of range accepted");
}

// --- row-quad depthwise path (qs8-dwconv.h) ---

// Maps of 1..28 pixels a side (every height mod 4, one-pixel maps, windows wider than the
// map; square maps for the kernels' narrow rows of 4 and 7 outputs and their blocks of 7),
// k 3/5/7, stride 1/2, same or no padding, 1..37 channels (partial blocks), every
// fast-epilogue case (ReLU / ReLU6 / none, u8, zero points and narrow qmax at both clamps)
// and the lane-by-lane ones (hardswish, GELU, residual, FP32 out).
static void dwconv_quad_grid(void) {
    qt_seed(212);
    static const size_t hs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 28};
    static const size_t cs[] = {1, 3, 16, 17, 37};
    static const enum qn_act acts[] = {QN_ACT_RELU6, QN_ACT_RELU, QN_ACT_NONE, QN_ACT_HSWISH, QN_ACT_GELU};
    size_t idx = 0;
    for (size_t hi = 0; hi < sizeof(hs) / sizeof(hs[0]); hi++)
        for (size_t ki = 1; ki < 4; ki++)
            for (size_t s = 1; s <= 2; s++)
                for (int square = 0; square < 2; square++, idx++) {  // square: the narrow rows
                    if (qt_quick() && idx % 3) continue;
                    const size_t k = KS[ki], h = hs[hi];
                    const size_t w = square ? h : hs[(hi + idx) % (sizeof(hs) / sizeof(hs[0]))];
                    struct tcase t;
                    memset(&t, 0, sizeof(t));
                    const bool pad0 = idx % 5 == 4 && h >= k && w >= k;
                    t.p = (struct qn_conv_params){.h = h, .w = w, .c_in = cs[idx % 5], .kh = k, .kw = k,
                                                  .stride_h = s, .stride_w = s, .pad_h = pad0 ? 0 : k / 2,
                                                  .pad_w = pad0 ? 0 : k / 2, .depthwise = true};
                    t.p.c_out = t.p.c_in;
                    t.n = idx % 4 == 3 ? 2 : 1;
                    t.k_max = idx % 2 ? 7 : k;
                    t.c_in_max = t.c_out_max = t.p.c_in + idx % 3;
                    t.ld_x = t.p.c_in + (idx % 2) * 5;
                    t.ld_y = t.ldr = t.p.c_in + (idx % 3 == 1 ? 2 : 0);
                    t.bits = idx % 3 == 2 ? 4 : 8;
                    t.a_zp = (int)(idx * 37 % 256);
                    t.act = acts[idx / 2 % 5];
                    t.bias = idx % 4 != 1;
                    t.out_u8 = idx % 7 != 6;
                    t.res = !t.out_u8 || idx % 11 == 5;
                    t.res_before = idx % 2;
                    t.out_qmax = idx % 6 == 2 ? 63 : 0;
                    t.out_zp = idx % 3 == 0 ? 0 : (int)(idx * 13 % 64);
                    run_case(&t);
                }
}

// The three ways the row-quad operator splits work: one thread, images in parallel (batch >=
// threads), one image's rows split across threads (batch 1), each thread transposing the quads
// its rows read; enough MACs for two threads (32 x 40 x 33 x 25 = 1.06e6 at stride 1, and at
// batch 1 the maps below, all past conv.c's threads_for_q8), row splits inside a quad and on
// its edge, maps of 7 rows (3 + 4), odd heights whose last quad is partial.
static void dwconv_quad_threads(void) {
    qt_seed(213);
    const int saved = qn_threads();
    for (int th = 1; th <= 2; th++)
        for (size_t s = 1; s <= 2; s++)
            for (size_t n = 1; n <= 3; n += 2) {
                qn_threads_set(th);
                struct tcase t = {
                    .p = {.h = 32, .w = 40, .c_in = 33, .c_out = 33, .kh = 5, .kw = 5, .stride_h = s,
                          .stride_w = s, .pad_h = 2, .pad_w = 2, .depthwise = true},
                    .n = n, .k_max = 7, .c_in_max = 40, .c_out_max = 40, .ld_x = 35, .ld_y = 33,
                    .ldr = 33, .bits = 8, .a_zp = 9, .out_zp = 4, .act = QN_ACT_RELU6,
                    .bias = true, .out_u8 = true,
                };
                run_case(&t);
                t.p.h = 3, t.p.kh = t.p.kw = 7, t.p.pad_h = t.p.pad_w = 3, t.act = QN_ACT_NONE;
                t.p.w = 220;  // few rows to split
                run_case(&t);
            }
    static const size_t maps[][4] = {{28, 144, 3, 1}, {27, 160, 3, 1}, {14, 576, 3, 1}, {14, 240, 5, 1},
                                     {32, 112, 3, 1}, {54, 64, 5, 2}, {9, 256, 7, 1}, {7, 2304, 3, 1}};
    qn_threads_set(2);
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
        const size_t h = maps[i][0], c = maps[i][1], k = maps[i][2], s = maps[i][3];
        struct tcase t = {
            .p = {.h = h, .w = h, .c_in = c, .c_out = c, .kh = k, .kw = k, .stride_h = s, .stride_w = s,
                  .pad_h = k / 2, .pad_w = k / 2, .depthwise = true},
            .n = 1, .k_max = k, .c_in_max = c, .c_out_max = c, .ld_x = c, .ld_y = c, .ldr = c, .bits = 8,
            .a_zp = 100 + (int)i, .out_zp = 5, .act = i % 2 ? QN_ACT_NONE : QN_ACT_RELU6, .bias = true,
            .out_u8 = i != 3, .res = i == 3,
        };
        run_case(&t);
    }
    qn_threads_set(saved);
}

// Rows of 14 and 28 outputs (14x14 and 28x28 maps, 28 at stride 2), whose FP32 and
// lane-by-lane epilogues run in blocks of 14: every k, FP32 out with a residual, u8 out with
// hardswish (lane by lane) and with ReLU6 (the folded epilogue), partial channel blocks.
static void dwconv_quad_rows14(void) {
    qt_seed(214);
    static const size_t geo[][3] = {{14, 14, 1}, {28, 28, 1}, {28, 28, 2}, {14, 28, 1}, {28, 14, 2}};
    for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++)
        for (size_t ki = 1; ki < 4; ki++)
            for (int e = 0; e < 3; e++) {
                const size_t k = KS[ki];
                struct tcase t = {
                    .p = {.h = geo[g][0], .w = geo[g][1], .c_in = 20 + g, .c_out = 20 + g, .kh = k, .kw = k,
                          .stride_h = geo[g][2], .stride_w = geo[g][2], .pad_h = k / 2, .pad_w = k / 2,
                          .depthwise = true},
                    .n = 1 + (size_t)(e == 1), .k_max = 7, .c_in_max = 24 + g, .c_out_max = 24 + g,
                    .ld_x = 21 + g, .ld_y = 22 + g, .ldr = 23 + g, .bits = 8, .a_zp = 5 + 50 * e,
                    .out_zp = 3, .act = e == 0 ? QN_ACT_NONE : e == 1 ? QN_ACT_HSWISH : QN_ACT_RELU6,
                    .bias = true, .out_u8 = e != 0, .res = e == 0, .res_before = false,
                };
                run_case(&t);
            }
}

// Full and partial pairs of channel blocks (the kernels run two blocks at once for k <= 5 and
// blocks of up to 7 outputs): 32, 48 and 40 channels on rows of 4, 7 and 14 outputs (the
// narrow rows and the blocks of 7), every k (7 runs one block at a time), u8 out through the
// folded epilogue and FP32 out.
static void dwconv_quad_pairs(void) {
    qt_seed(215);
    static const size_t geo[][2] = {{4, 1}, {7, 1}, {14, 1}, {14, 2}, {13, 1}};
    static const size_t cs[] = {32, 48, 40};
    for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++)
        for (size_t ki = 1; ki < 4; ki++)
            for (size_t ci = 0; ci < 3; ci++) {
                const size_t k = KS[ki], c = cs[ci], h = geo[g][0];
                struct tcase t = {
                    .p = {.h = h, .w = h, .c_in = c, .c_out = c, .kh = k, .kw = k, .stride_h = geo[g][1],
                          .stride_w = geo[g][1], .pad_h = k / 2, .pad_w = k / 2, .depthwise = true},
                    .n = 1, .k_max = k, .c_in_max = c, .c_out_max = c, .ld_x = c, .ld_y = c + ci,
                    .ldr = c, .bits = 8, .a_zp = 17 + (int)(40 * ci), .out_zp = 2,
                    .act = ci == 1 ? QN_ACT_NONE : QN_ACT_RELU6, .bias = ci != 2, .out_u8 = ci != 1,
                };
                run_case(&t);
            }
}

// Input zero point 0 (every MBConv depthwise input: a ReLU6 output), where conv.c passes the
// kernels no correction table and they start at zero: every k and stride on the maps of the
// supernet, u8 out with ReLU6 (the folded epilogue) and FP32 out; then one conv object run
// with zero points 0 and others in turn must give the bits of a fresh object at each (the
// table is computed for the first non-zero one and must survive the zero ones between).
static void dwconv_quad_zero_point(void) {
    qt_seed(216);
    static const size_t geo[][2] = {{4, 1}, {7, 1}, {14, 1}, {14, 2}, {28, 2}};
    for (size_t g = 0; g < sizeof(geo) / sizeof(geo[0]); g++)
        for (size_t ki = 1; ki < 4; ki++)
            for (int e = 0; e < 2; e++) {
                const size_t k = KS[ki], c = e ? 72 : 40, h = geo[g][0];
                struct tcase t = {
                    .p = {.h = h, .w = h, .c_in = c, .c_out = c, .kh = k, .kw = k, .stride_h = geo[g][1],
                          .stride_w = geo[g][1], .pad_h = k / 2, .pad_w = k / 2, .depthwise = true},
                    .n = 1, .k_max = k, .c_in_max = c, .c_out_max = c, .ld_x = c, .ld_y = c, .ldr = c,
                    .bits = 8, .a_zp = 0, .out_zp = 0, .act = QN_ACT_RELU6, .bias = true, .out_u8 = e == 0,
                };
                run_case(&t);
            }
    const size_t h = 14, c = 72, k = 7, pix = h * h;
    const struct qn_conv_params p = {.h = h, .w = h, .c_in = c, .c_out = c, .kh = k, .kw = k, .stride_h = 1,
                                     .stride_w = 1, .pad_h = 3, .pad_w = 3, .depthwise = true};
    uint8_t *x = malloc(pix * c), *y = malloc(pix * c), *want = malloc(pix * c);
    int8_t *w = malloc(k * k * c);
    float *ws = malloc(c * sizeof(float)), *bias = malloc(c * sizeof(float));
    qt_fill_u8(x, pix * c);
    qt_fill_s8(w, k * k * c, -127, 127);
    qt_fill_f32(ws, c, 0.5f, 1.5f);
    qt_fill_f32(bias, c, -1.0f, 1.0f);
    const struct qn_conv_wview v = qn_conv_wview_dw(w, 1, k, c, c, k);
    struct qn_qs8_conv reused;
    QT_CHECK(qn_qs8_conv_init(&reused, &p, &v, ws, 8) == QN_OK, "init");
    static const int zps[] = {0, 37, 0, 37, 200, 0, 200, 5};
    for (size_t i = 0; i < sizeof(zps) / sizeof(zps[0]); i++) {
        // sums of 49 taps ~ +-57,000: y ~ +-3, half of it through ReLU6's range
        const struct qn_qgemm_out out = {.a_scale = 5e-5f, .a_zp = zps[i], .ep = {.bias = bias, .act = QN_ACT_RELU6},
                                         .out_u8 = true, .out_scale = 6.0f / 255.0f};
        struct qn_qs8_conv fresh;
        QT_CHECK(qn_qs8_conv_init(&fresh, &p, &v, ws, 8) == QN_OK, "init");
        qn_qs8_conv_run(&fresh, 1, x, c, &out, want, c);
        qn_qs8_conv_run(&reused, 1, x, c, &out, y, c);
        QT_CHECK(memcmp(y, want, pix * c) == 0, "run %zu (zero point %d): the reused object differs", i, zps[i]);
        bool seen[256] = {false};  // many output values (a clamp everywhere would hide a wrong sum)
        size_t distinct = 0;
        for (size_t e = 0; e < pix * c; e++) distinct += !seen[y[e]], seen[y[e]] = true;
        QT_CHECK(distinct > 100, "run %zu: only %zu distinct outputs", i, distinct);
        qn_qs8_conv_free(&fresh);
    }
    qn_qs8_conv_free(&reused);
    free(x), free(y), free(want), free(w), free(ws), free(bias);
}

static void quad_case_count(void) {
    QT_CHECK(n_quad_cases > (qt_quick() ? 40 : 150), "only %d row-quad cases", n_quad_cases);
    if (qn_isa_supported(QN_ISA_AVX512)) QT_CHECK(n_pack_checks[0] > 100, "plain pack: %d images", n_pack_checks[0]);
    if (qn_isa_supported(QN_ISA_AVX512) && qn_cpu()->avx512vbmi)
        QT_CHECK(n_pack_checks[1] > 100, "VBMI pack: %d images", n_pack_checks[1]);
    if (qn_isa_supported(QN_ISA_AVX2)) QT_CHECK(n_pack_checks[2] > 100, "AVX2 pack: %d images", n_pack_checks[2]);
}

static void variant_names(void) {
    const char *f = qn_qs8_dwconv_variant(5);
    const bool quads = qn_isa() != QN_ISA_SCALAR;
    QT_CHECK(f && strstr(f, quads ? "qn_qs8_dwq_ukernel_" : "qn_qs8_dwconv_ukernel_"),
             "name %s", f);
    if (qn_isa() != QN_ISA_SCALAR) QT_CHECK(strstr(f, "5x5") != NULL, "name %s", f);
}

int main(int argc, char **argv) {
    (void)argc;
    qt_each_amx = true;  // the INT8 GEMM's VNNI and AMX kernels both
    QT_RUN(conv_bad_args);
    QT_RUN_EACH_ISA(variant_names);
    QT_RUN_EACH_ISA(dwconv_random);
    QT_RUN_EACH_ISA(dwconv_any_k);
    QT_RUN_EACH_ISA(dwconv_quad_grid);
    QT_RUN_EACH_ISA(dwconv_quad_threads);
    QT_RUN_EACH_ISA(dwconv_quad_rows14);
    QT_RUN_EACH_ISA(dwconv_quad_pairs);
    QT_RUN_EACH_ISA(dwconv_quad_zero_point);
    QT_RUN_EACH_ISA(conv_random);
    QT_RUN_EACH_ISA(conv_1x1);
    QT_RUN_EACH_ISA(out_qmax_paths);
    QT_RUN_EACH_ISA(conv_stem);
    QT_RUN_EACH_ISA(conv_mbconv_shapes);
    QT_RUN_EACH_ISA(conv_from_float_weights);
    QT_RUN_EACH_ISA(conv_direct_choice);
    QT_RUN_EACH_ISA(conv_direct_grid);
    QT_RUN_EACH_ISA(conv_direct_random);
    QT_RUN_EACH_ISA(conv_direct_shapes);
    QT_RUN(quad_case_count);
    printf("  direct path: %d of %d conv objects; %d depthwise cases through the scalar row-quad kernel; "
           "vector packs checked on %d (plain), %d (VBMI) and %d (AVX2) images\n",
           n_direct, n_cases, n_quad_cases, n_pack_checks[0], n_pack_checks[1], n_pack_checks[2]);
    return qt_finish(argv[0]);
}
