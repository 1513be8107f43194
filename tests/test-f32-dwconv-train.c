// FP32 depthwise convolution for training (forward y, input gradient dx, weight gradient dw)
// against a direct convolution written plainly here in double precision, over random shapes
// (H, W in {1, 2, 3, 4, 5, 7, 8, 14, 15}, k in {3, 5, 7}, stride 1 and 2, C from 1 to 576), at
// every ISA level through qn_nn_dw_* (threads, per-thread dw partials) and on each kernel
// variant directly. Weights are a strided window of a larger tensor, as the elastic kernels of
// the supernet are; dw is accumulated (+=) into a tensor with the same strides, and nothing
// outside the window may change. y and dx start as NaN, so an output the kernels forget shows.
//
// Tolerance: each output is a float dot product of T terms (any order, with or without FMA; dw
// also adds the per-thread partial sums and its initial value, counted as extra terms), and a
// float dot product is off by at most gamma_T sum|terms|, gamma_T = T eps / (1 - T eps) with
// eps = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., section 3.1).
// We check
//   |got - ref| <= 2 * (T + 2) * eps * sum|terms| + 1e-30,
// a factor 2 above the worst case and still ~100x below one missing or extra tap (a product is
// ~sum|terms| / T, and T * eps <= ~1e-4 here).
#include "f32-dwconv-train/f32-dwconv-train.h"
#include "nn.h"
#include "test.h"

static const double EPS = 5.9604644775390625e-8;  // 2^-24

static const int HW[] = {1, 2, 3, 4, 5, 7, 8, 14, 15};
static const int CH[] = {1, 3, 15, 16, 17, 72, 96, 576};
static const int KS[] = {3, 5, 7};
#define COUNT(a) ((int)(sizeof(a) / sizeof(a[0])))

struct shape {
    int B, H, W, C, k, s, Ho, Wo;
};

// Reference: values and sums of |terms| in double, dw without its initial value.
struct ref {
    double *y, *ym, *dx, *dxm, *dw, *dwm;
};

static void reference(const struct shape *t, const float *x, const float *w, size_t ws_h, size_t ws_w,
                      const float *dy, struct ref *r) {
    const int C = t->C, k = t->k, p = k / 2;
    const size_t nx = (size_t)t->B * t->H * t->W * C, ny = (size_t)t->B * t->Ho * t->Wo * C;
    memset(r->y, 0, ny * sizeof(double)), memset(r->ym, 0, ny * sizeof(double));
    memset(r->dx, 0, nx * sizeof(double)), memset(r->dxm, 0, nx * sizeof(double));
    memset(r->dw, 0, (size_t)k * k * C * sizeof(double)), memset(r->dwm, 0, (size_t)k * k * C * sizeof(double));
    for (int b = 0; b < t->B; b++)
        for (int oh = 0; oh < t->Ho; oh++)
            for (int ow = 0; ow < t->Wo; ow++)
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        const int ih = oh * t->s + i - p, iw = ow * t->s + j - p;
                        if (ih < 0 || ih >= t->H || iw < 0 || iw >= t->W) continue;
                        const size_t xo = (((size_t)b * t->H + ih) * t->W + iw) * C;
                        const size_t yo = (((size_t)b * t->Ho + oh) * t->Wo + ow) * C;
                        const size_t wo = (size_t)(i * k + j) * C;
                        for (int c = 0; c < C; c++) {
                            const double xv = x[xo + c], wv = w[i * ws_h + j * ws_w + c], gv = dy[yo + c];
                            r->y[yo + c] += xv * wv, r->ym[yo + c] += fabs(xv * wv);
                            r->dx[xo + c] += gv * wv, r->dxm[xo + c] += fabs(gv * wv);
                            r->dw[wo + c] += gv * xv, r->dwm[wo + c] += fabs(gv * xv);
                        }
                    }
}

// Counts elements outside the bound; reports the first few.
static int check(const char *what, const struct shape *t, const float *got, const double *ref, const double *mag,
                 size_t n, double terms) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double tol = 2.0 * (terms + 2.0) * EPS * mag[i] + 1e-30;
        if (!(fabs((double)got[i] - ref[i]) <= tol) && bad++ < 2)
            QT_CHECK(0, "%s B=%d H=%d W=%d C=%d k=%d s=%d [%zu]: got %.9g, want %.9g (tol %.3g)", what, t->B, t->H,
                     t->W, t->C, t->k, t->s, i, got[i], ref[i], tol);
    }
    return bad;
}

static float *nan_filled(size_t n) {
    float *p = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

// One case through qn_nn_dw_fwd / qn_nn_dw_bwd with nt threads. The k x k window sits at
// (off, off) of a K x K x Cmax tensor (the supernet's centre crop, plus spare channels).
static void nn_case(struct shape t, int nt) {
    const int C = t.C, k = t.k, K = k + 2 * qt_int(0, 1), Cmax = C + qt_int(0, 3), off = (K - k) / 2;
    const size_t nbig = (size_t)K * K * Cmax, ws_h = (size_t)K * Cmax, ws_w = (size_t)Cmax;
    const size_t win = (size_t)off * ws_h + (size_t)off * ws_w;
    struct qn_nn_dw d;
    float *wbig = malloc(sizeof(float) * nbig), *wkeep = malloc(sizeof(float) * nbig);
    float *dwbig = malloc(sizeof(float) * nbig), *dwinit = malloc(sizeof(float) * nbig);
    qt_fill_f32(wbig, nbig, -1, 1), qt_fill_f32(dwbig, nbig, -1, 1);
    memcpy(wkeep, wbig, sizeof(float) * nbig), memcpy(dwinit, dwbig, sizeof(float) * nbig);
    qn_nn_dw_init(&d, t.B, t.H, t.W, C, k, t.s, wbig + win, ws_h, ws_w);
    t.Ho = d.Ho, t.Wo = d.Wo;
    const size_t nx = (size_t)t.B * t.H * t.W * C, ny = (size_t)t.B * t.Ho * t.Wo * C, nw = (size_t)k * k * C;
    float *x = malloc(sizeof(float) * nx), *dy = malloc(sizeof(float) * ny), *y = nan_filled(ny), *dx = nan_filled(nx);
    qt_fill_f32(x, nx, -1, 1), qt_fill_f32(dy, ny, -1, 1);
    struct ref r = {malloc(sizeof(double) * ny), malloc(sizeof(double) * ny), malloc(sizeof(double) * nx),
                    malloc(sizeof(double) * nx), malloc(sizeof(double) * nw), malloc(sizeof(double) * nw)};
    reference(&t, x, wbig + win, ws_h, ws_w, dy, &r);
    const int saved = qn_threads();
    qn_threads_set(nt);
    qn_nn_dw_fwd(&d, x, y);
    qn_nn_dw_bwd(&d, x, dy, dwbig + win, dx);
    check("y", &t, y, r.y, r.ym, ny, k * k);
    check("dx", &t, dx, r.dx, r.dxm, nx, k * k);
    // dw: the window gained the reference, everything else is untouched
    float *got = calloc(nw, sizeof(float));
    int outside = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++)
            for (int c = 0; c < Cmax; c++) {
                const size_t o = (size_t)i * ws_h + (size_t)j * ws_w + c;
                const int in = i >= off && i < off + k && j >= off && j < off + k && c < C;
                if (in) {
                    const size_t q = ((size_t)(i - off) * k + (j - off)) * C + c;
                    got[q] = dwbig[o];
                    r.dw[q] += dwinit[o], r.dwm[q] += fabs(dwinit[o]);
                } else if (memcmp(&dwbig[o], &dwinit[o], sizeof(float)))
                    outside++;
            }
    check("dw", &t, got, r.dw, r.dwm, nw, (double)t.B * t.Ho * t.Wo + nt + 1);
    QT_CHECK(!outside, "dw: %d values outside the k x k x C window changed (C=%d k=%d K=%d)", outside, C, k, K);
    QT_CHECK(!memcmp(wbig, wkeep, sizeof(float) * nbig), "the weights changed");
    // same thread count, same bits
    float *dw2 = malloc(sizeof(float) * nbig), *dx2 = nan_filled(nx), *y2 = nan_filled(ny);
    memcpy(dw2, dwinit, sizeof(float) * nbig);
    qn_nn_dw_fwd(&d, x, y2);
    qn_nn_dw_bwd(&d, x, dy, dw2 + win, dx2);
    QT_CHECK(!memcmp(y, y2, sizeof(float) * ny) && !memcmp(dx, dx2, sizeof(float) * nx) &&
                 !memcmp(dwbig, dw2, sizeof(float) * nbig),
             "a second run with %d threads differs (C=%d k=%d)", nt, C, k);
    qn_threads_set(saved);
    free(wbig), free(wkeep), free(dwbig), free(dwinit), free(x), free(dy), free(y), free(dx), free(got);
    free(dw2), free(dx2), free(y2);
    free(r.y), free(r.ym), free(r.dx), free(r.dxm), free(r.dw), free(r.dwm);
}

// Every H (then every W) of the list for each k and stride, the other side and C drawn at
// random; C walks the whole list for each (k, stride).
static void dwconv_train_random(void) {
    const int quick = qt_quick();
    int ci = 0;
    for (int ik = 0; ik < COUNT(KS); ik++)
        for (int s = 1; s <= 2; s++)
            for (int pass = 0; pass < (quick ? 1 : 2); pass++)
                for (int h = 0; h < COUNT(HW); h++) {
                    struct shape t = {.B = qt_int(1, 3), .k = KS[ik], .s = s};
                    const int other = HW[qt_int(0, COUNT(HW) - 1)];
                    t.H = pass ? other : HW[h], t.W = pass ? HW[h] : other;
                    t.C = CH[ci++ % COUNT(CH)];
                    if (quick && t.C > 96) t.C = 17;
                    nn_case(t, qt_int(1, 2));
                }
}

// Odd kernels without a specialized path (1, 9) take the scalar kernels at every level.
static void dwconv_train_other_k(void) {
    const int ks[] = {1, 9};
    for (int n = 0; n < 8; n++) {
        struct shape t = {.B = 2, .k = ks[n % 2], .s = 1 + (n / 2) % 2, .H = HW[qt_int(0, COUNT(HW) - 1)],
                          .W = HW[qt_int(0, COUNT(HW) - 1)], .C = CH[qt_int(0, 5)]};
        nn_case(t, 2);
    }
}

// The supernet's largest-subnet shapes (k = 7) and the same maps at k = 3, 5.
static void dwconv_train_mbconv_shapes(void) {
    static const struct { int H, C, s; } m[] = {{28, 48, 2}, {14, 72, 1}, {14, 72, 2}, {7, 96, 1},
                                                {7, 96, 2}, {4, 192, 1}, {4, 288, 1}, {4, 576, 1}};
    for (int i = 0; i < COUNT(m); i++)
        for (int ik = 0; ik < COUNT(KS); ik++) {
            if (qt_quick() && m[i].H > 7) continue;
            struct shape t = {.B = 2, .H = m[i].H, .W = m[i].H, .C = m[i].C, .k = KS[ik], .s = m[i].s};
            nn_case(t, 2);
        }
}

// --- kernel variants called directly: one image, dw with its own (non-dense) strides ---

struct variant {
    const char *name;
    qn_f32_dwconv_fwd_fn fwd;
    qn_f32_dwconv_dx_fn dx;
    qn_f32_dwconv_wgrad_fn wgrad;
    enum qn_isa isa;
};

static const struct variant VARIANTS[] = {
    {"scalar", qn_f32_dwconv_fwd__scalar, qn_f32_dwconv_dx__scalar, qn_f32_dwconv_wgrad__scalar, QN_ISA_SCALAR},
    {"avx512", qn_f32_dwconv_fwd__avx512, qn_f32_dwconv_dx__avx512, qn_f32_dwconv_wgrad__avx512, QN_ISA_AVX512},
};

static void kernel_case(const struct variant *v, struct shape t) {
    const int C = t.C, k = t.k;
    t.B = 1, t.Ho = (t.H - 1) / t.s + 1, t.Wo = (t.W - 1) / t.s + 1;
    const struct qn_dwt_shape sh = {t.H, t.W, C, k, t.s, t.Ho, t.Wo};
    // weights [k][k] with a row gap; dw transposed ([j][i]) with padding between channel runs
    const size_t ws_w = (size_t)C + 1, ws_h = (size_t)k * ws_w + 3, ds_h = (size_t)C + 2, ds_w = (size_t)k * ds_h + 5;
    const size_t nwt = (size_t)k * ws_h, ndw = (size_t)k * ds_w;
    const size_t nx = (size_t)t.H * t.W * C, ny = (size_t)t.Ho * t.Wo * C, nw = (size_t)k * k * C;
    float *w = malloc(sizeof(float) * nwt), *dw = malloc(sizeof(float) * ndw), *dw0 = malloc(sizeof(float) * ndw);
    float *x = malloc(sizeof(float) * nx), *dy = malloc(sizeof(float) * ny), *y = nan_filled(ny), *dx = nan_filled(nx);
    qt_fill_f32(w, nwt, -1, 1), qt_fill_f32(dw, ndw, -1, 1), qt_fill_f32(x, nx, -1, 1), qt_fill_f32(dy, ny, -1, 1);
    memcpy(dw0, dw, sizeof(float) * ndw);
    struct ref r = {malloc(sizeof(double) * ny), malloc(sizeof(double) * ny), malloc(sizeof(double) * nx),
                    malloc(sizeof(double) * nx), malloc(sizeof(double) * nw), malloc(sizeof(double) * nw)};
    reference(&t, x, w, ws_h, ws_w, dy, &r);
    v->fwd(&sh, x, w, ws_h, ws_w, y);
    v->dx(&sh, dy, w, ws_h, ws_w, dx);
    v->wgrad(&sh, x, dy, dw, ds_h, ds_w);
    char what[64];
    snprintf(what, sizeof(what), "%s y", v->name);
    check(what, &t, y, r.y, r.ym, ny, k * k);
    snprintf(what, sizeof(what), "%s dx", v->name);
    check(what, &t, dx, r.dx, r.dxm, nx, k * k);
    float *got = calloc(nw, sizeof(float));
    char *hit = calloc(ndw, 1);
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            for (int c = 0; c < C; c++) {
                const size_t o = (size_t)j * ds_w + (size_t)i * ds_h + c, q = ((size_t)i * k + j) * C + c;
                got[q] = dw[o], hit[o] = 1;
                r.dw[q] += dw0[o], r.dwm[q] += fabs(dw0[o]);
            }
    snprintf(what, sizeof(what), "%s dw", v->name);
    check(what, &t, got, r.dw, r.dwm, nw, (double)t.Ho * t.Wo + 1);
    int outside = 0;
    for (size_t o = 0; o < ndw; o++) outside += !hit[o] && memcmp(&dw[o], &dw0[o], sizeof(float));
    QT_CHECK(!outside, "%s: %d dw values between the strided taps changed", v->name, outside);
    free(w), free(dw), free(dw0), free(x), free(dy), free(y), free(dx), free(got), free(hit);
    free(r.y), free(r.ym), free(r.dx), free(r.dxm), free(r.dw), free(r.dwm);
}

static void dwconv_train_kernels(void) {
    for (int vi = 0; vi < COUNT(VARIANTS); vi++) {
        const struct variant *v = &VARIANTS[vi];
        if (!qn_isa_supported(v->isa)) continue;
        for (int ik = 0; ik < COUNT(KS); ik++)
            for (int s = 1; s <= 2; s++)
                for (int h = 0; h < COUNT(HW); h++) {
                    struct shape t = {.k = KS[ik], .s = s, .H = HW[h], .W = HW[qt_int(0, COUNT(HW) - 1)],
                                      .C = CH[qt_int(0, COUNT(CH) - 1)]};
                    kernel_case(v, t);
                }
    }
}

int main(int argc, char **argv) {
    (void)argc;
    qt_seed(11);
    QT_RUN(dwconv_train_kernels);
    QT_RUN_EACH_ISA(dwconv_train_random);
    QT_RUN_EACH_ISA(dwconv_train_other_k);
    QT_RUN_EACH_ISA(dwconv_train_mbconv_shapes);
    return qt_finish(argv[0]);
}
