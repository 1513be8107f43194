// Gradients of every training layer against central finite differences.
//
// Each check defines a scalar L = sum_i y_i * r_i with fixed random r, so dL/dy = r, runs the
// layer's backward with dy = r, and compares each analytic partial with
// (L(v + h) - L(v - h)) / 2h for a sample of inputs and weights. L is accumulated in double.
// Linear layers are exact up to rounding (h = 1e-2: error ~ eps*|L|/h ~ 1e-4); nonlinear ones
// (batch norm, activations, the loss) use h = 1e-3, where the truncation error h^2 f''' / 6 is
// ~1e-6 and rounding ~1e-3 relative; the tolerance 2e-2 * max(1, |g|) covers both with margin
// while still catching a wrong factor or a missing term.
#include "f32-bn/f32-bn.h"
#include "nn.h"
#include "test.h"

static double dot(const float *y, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

// Checks analytic gradient g[] for variable v[] (n of them) at up to `samples` positions.
static void check_grad(const char *what, float *v, const float *g, size_t n, float h, loss_fn f, void *ctx,
                       int samples) {
    int bad = 0;
    for (int s = 0; s < samples; s++) {
        size_t i = n <= (size_t)samples ? (size_t)s : (size_t)(qt_u64() % n);
        if (i >= n) break;
        float keep = v[i];
        v[i] = keep + h;
        double lp = f(ctx);
        v[i] = keep - h;
        double lm = f(ctx);
        v[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        double tol = 2e-2 * fmax(1.0, fabs(num));
        if (fabs(num - g[i]) > tol && bad++ < 3)
            QT_CHECK(0, "%s[%zu]: analytic %.6f, numeric %.6f", what, i, g[i], num);
    }
}

// --- pointwise ---
struct pw_ctx { size_t P; int Ci, Co; size_t ldw; float *x, *w, *b, *y, *r; };
static double pw_loss(void *p) {
    struct pw_ctx *c = p;
    qn_nn_pw_fwd(c->P, c->Ci, c->Co, c->x, c->w, c->ldw, c->b, c->y);
    return dot(c->y, c->r, c->P * c->Co);
}
static void grad_pointwise(void) {
    struct pw_ctx c = {.P = 37, .Ci = 13, .Co = 7, .ldw = 20};
    size_t nw = (size_t)c.Co * c.ldw;
    c.x = malloc(sizeof(float) * c.P * c.Ci), c.w = malloc(sizeof(float) * nw), c.b = malloc(sizeof(float) * c.Co);
    c.y = malloc(sizeof(float) * c.P * c.Co), c.r = malloc(sizeof(float) * c.P * c.Co);
    float *dx = malloc(sizeof(float) * c.P * c.Ci), *dw = calloc(nw, sizeof(float)), *db = calloc(c.Co, sizeof(float));
    qt_fill_f32(c.x, c.P * c.Ci, -1, 1), qt_fill_f32(c.w, nw, -1, 1), qt_fill_f32(c.b, c.Co, -1, 1);
    qt_fill_f32(c.r, c.P * c.Co, -1, 1);
    pw_loss(&c);
    qn_nn_pw_bwd(c.P, c.Ci, c.Co, c.x, c.w, c.ldw, c.r, dw, db, dx);
    check_grad("pw dx", c.x, dx, c.P * c.Ci, 1e-2f, pw_loss, &c, 40);
    check_grad("pw dw", c.w, dw, nw, 1e-2f, pw_loss, &c, 40);
    check_grad("pw db", c.b, db, c.Co, 1e-2f, pw_loss, &c, 7);
    // columns of the supernet weight beyond Ci get no gradient
    for (int o = 0; o < c.Co; o++)
        for (size_t i = c.Ci; i < c.ldw; i++) QT_CHECK(dw[o * c.ldw + i] == 0.0f, "gradient outside the slice");
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(dx), free(dw), free(db);
}

// --- dense conv ---
struct conv_ctx { struct qn_nn_conv cv; float *x, *y, *r, *scratch; size_t ny; };
static double conv_loss(void *p) {
    struct conv_ctx *c = p;
    qn_nn_conv_fwd(&c->cv, c->x, c->y, c->scratch);
    return dot(c->y, c->r, c->ny);
}
static void grad_conv(void) {
    // 5x5 kernel used from the centre of a 7x7 supernet weight, stride 2, odd sizes.
    const int B = 2, H = 9, W = 7, Ci = 3, Co = 5, K = 7, k = 5, Cimax = 4;
    size_t nw = (size_t)Co * K * K * Cimax;
    float *w = malloc(sizeof(float) * nw), *dw = calloc(nw, sizeof(float));
    qt_fill_f32(w, nw, -1, 1);
    const int off = (K - k) / 2;
    struct conv_ctx c;
    qn_nn_conv_init(&c.cv, B, H, W, Ci, Co, k, 2, w + (off * K + off) * Cimax, (size_t)K * K * Cimax,
                    (size_t)K * Cimax, Cimax);
    size_t nx = (size_t)B * H * W * Ci;
    c.ny = (size_t)B * c.cv.Ho * c.cv.Wo * Co;
    c.x = malloc(sizeof(float) * nx), c.y = malloc(sizeof(float) * c.ny), c.r = malloc(sizeof(float) * c.ny);
    c.scratch = malloc(sizeof(float) * qn_nn_conv_scratch(&c.cv));
    float *dx = malloc(sizeof(float) * nx);
    qt_fill_f32(c.x, nx, -1, 1), qt_fill_f32(c.r, c.ny, -1, 1);
    conv_loss(&c);
    qn_nn_conv_bwd(&c.cv, c.x, c.r, dw + (off * K + off) * Cimax, dx, c.scratch);
    check_grad("conv dx", c.x, dx, nx, 1e-2f, conv_loss, &c, 60);
    check_grad("conv dw", w, dw, nw, 1e-2f, conv_loss, &c, 200);
    free(w), free(dw), free(c.x), free(c.y), free(c.r), free(c.scratch), free(dx);
}

// --- depthwise ---
struct dw_ctx { struct qn_nn_dw d; float *x, *y, *r; size_t ny; };
static double dw_loss(void *p) {
    struct dw_ctx *c = p;
    qn_nn_dw_fwd(&c->d, c->x, c->y);
    return dot(c->y, c->r, c->ny);
}
static void grad_depthwise(void) {
    const int K = 7, Cmax = 21;
    for (int variant = 0; variant < 4; variant++) {
        int k = variant < 2 ? 3 : 7, stride = 1 + (variant & 1), B = 3, H = 8, W = 5, C = 19;
        size_t nw = (size_t)K * K * Cmax;
        float *w = malloc(sizeof(float) * nw), *dw = calloc(nw, sizeof(float));
        qt_fill_f32(w, nw, -1, 1);
        int off = (K - k) / 2;
        struct dw_ctx c;
        qn_nn_dw_init(&c.d, B, H, W, C, k, stride, w + (off * K + off) * Cmax, (size_t)K * Cmax, Cmax);
        size_t nx = (size_t)B * H * W * C;
        c.ny = (size_t)B * c.d.Ho * c.d.Wo * C;
        c.x = malloc(sizeof(float) * nx), c.y = malloc(sizeof(float) * c.ny), c.r = malloc(sizeof(float) * c.ny);
        float *dx = malloc(sizeof(float) * nx);
        qt_fill_f32(c.x, nx, -1, 1), qt_fill_f32(c.r, c.ny, -1, 1);
        dw_loss(&c);
        qn_nn_dw_bwd(&c.d, c.x, c.r, dw + (off * K + off) * Cmax, dx);
        check_grad("dw dx", c.x, dx, nx, 1e-2f, dw_loss, &c, 60);
        check_grad("dw dw", w, dw, nw, 1e-2f, dw_loss, &c, 200);
        free(w), free(dw), free(c.x), free(c.y), free(c.r), free(dx);
    }
}

// --- batch norm ---
struct bn_ctx { size_t P; int C; float *x, *g, *b, *y, *r, *m, *s; };
static double bn_loss(void *p) {
    struct bn_ctx *c = p;
    qn_nn_bn_fwd_train(c->P, c->C, c->x, c->g, c->b, 1e-5f, 0.1f, NULL, NULL, c->m, c->s, c->y);
    return dot(c->y, c->r, c->P * c->C);
}
static void grad_batchnorm(void) {
    struct bn_ctx c = {.P = 29, .C = 6};
    size_t n = c.P * c.C;
    c.x = malloc(sizeof(float) * n), c.y = malloc(sizeof(float) * n), c.r = malloc(sizeof(float) * n);
    c.g = malloc(sizeof(float) * c.C), c.b = malloc(sizeof(float) * c.C), c.m = malloc(sizeof(float) * c.C);
    c.s = malloc(sizeof(float) * c.C);
    float *dx = malloc(sizeof(float) * n), *dg = calloc(c.C, sizeof(float)), *db = calloc(c.C, sizeof(float));
    qt_fill_f32(c.x, n, -2, 2), qt_fill_f32(c.r, n, -1, 1), qt_fill_f32(c.g, c.C, 0.5f, 1.5f);
    qt_fill_f32(c.b, c.C, -1, 1);
    bn_loss(&c);
    qn_nn_bn_bwd(c.P, c.C, c.x, c.g, c.m, c.s, c.r, dg, db, dx);
    check_grad("bn dx", c.x, dx, n, 1e-3f, bn_loss, &c, 60);
    check_grad("bn dgamma", c.g, dg, c.C, 1e-3f, bn_loss, &c, 6);
    check_grad("bn dbeta", c.b, db, c.C, 1e-3f, bn_loss, &c, 6);
    // normalized output: per channel mean 0, variance 1 before the affine part
    bn_loss(&c);  // y from the unperturbed inputs
    for (int ch = 0; ch < c.C; ch++) {
        double s = 0, s2 = 0;
        for (size_t p = 0; p < c.P; p++) {
            double v = (c.y[p * c.C + ch] - c.b[ch]) / c.g[ch];
            s += v, s2 += v * v;
        }
        QT_CHECK(fabs(s / c.P) < 1e-4 && fabs(s2 / c.P - 1) < 1e-3, "channel %d: mean %g var %g", ch, s / c.P,
                 s2 / c.P);
    }
    free(c.x), free(c.y), free(c.r), free(c.g), free(c.b), free(c.m), free(c.s), free(dx), free(dg), free(db);
}

// Two threads asked for, one given (qt_in_starved_team): the batch-norm sums are cut into
// qn_threads() shares whatever team runs them, so the one thread computes both shares and the
// result is the same bits as with two threads.
struct bn_run { size_t P; int C; const float *x, *g, *b, *dy; float *m, *s, *y, *dx, *dg, *db; };
static void bn_run(void *p) {
    struct bn_run *r = p;
    qn_nn_bn_fwd_train(r->P, r->C, r->x, r->g, r->b, QN_NN_BN_EPS, 0.1f, NULL, NULL, r->m, r->s, r->y);
    qn_nn_bn_bwd(r->P, r->C, r->x, r->g, r->m, r->s, r->dy, r->dg, r->db, r->dx);
}
static void bn_starved_team(void) {
    const size_t P = 700;
    const int C = 19;
    const size_t n = P * C;
    float *in = malloc(sizeof(float) * (2 * n + 2 * C)), *out[2];
    qt_fill_f32(in, 2 * n + 2 * C, -2, 3);
    const size_t outn = 2 * n + 4 * (size_t)C;  // mean, rstd, y, dx, dgamma, dbeta
    const int saved = qn_threads();
    qn_threads_set(2);
    for (int k = 0; k < 2; k++) {
        out[k] = calloc(outn, sizeof(float));
        float *o = out[k];
        struct bn_run r = {P, C, in, in + 2 * n, in + 2 * n + C, in + n, o, o + C, o + 2 * C, o + 2 * C + n,
                           o + 2 * C + 2 * n, o + 3 * C + 2 * n};
        if (k == 0)
            bn_run(&r);
        else
            qt_in_starved_team(bn_run, &r);
    }
    qn_threads_set(saved);
    size_t diff = 0;
    for (size_t i = 0; i < outn; i++) diff += memcmp(&out[0][i], &out[1][i], sizeof(float)) != 0;
    QT_CHECK(diff == 0, "%zu of %zu outputs differ between a team of 2 and a team of 1", diff, outn);
    free(in), free(out[0]), free(out[1]);
}

// --- activations, pooling ---
struct act_ctx { enum qn_act act; size_t n; float *x, *y, *r; };
static double act_loss(void *p) {
    struct act_ctx *c = p;
    qn_nn_act_fwd(c->act, c->n, c->x, c->y);
    return dot(c->y, c->r, c->n);
}
static void grad_activations(void) {
    enum qn_act acts[] = {QN_ACT_RELU, QN_ACT_RELU6, QN_ACT_HSWISH, QN_ACT_GELU};
    for (size_t a = 0; a < 4; a++) {
        struct act_ctx c = {.act = acts[a], .n = 200};
        c.x = malloc(sizeof(float) * c.n), c.y = malloc(sizeof(float) * c.n), c.r = malloc(sizeof(float) * c.n);
        float *dx = malloc(sizeof(float) * c.n);
        for (size_t i = 0; i < c.n; i++) {
            float v;
            do v = qt_float(-8, 8);  // keep clear of the kinks at -3, 0, 3, 6
            while (fabsf(v) < 0.05f || fabsf(v - 6) < 0.05f || fabsf(fabsf(v) - 3) < 0.05f);
            c.x[i] = v;
        }
        qt_fill_f32(c.r, c.n, -1, 1);
        qn_nn_act_bwd(c.act, c.n, c.x, c.r, dx);
        check_grad(qn_act_name(c.act), c.x, dx, c.n, 1e-3f, act_loss, &c, 200);
        free(c.x), free(c.y), free(c.r), free(dx);
    }
}

struct gap_ctx { int B, HW, C; float *x, *y, *r; };
static double gap_loss(void *p) {
    struct gap_ctx *c = p;
    qn_nn_gap_fwd(c->B, c->HW, c->C, c->x, c->y);
    return dot(c->y, c->r, (size_t)c->B * c->C);
}
static void grad_pooling(void) {
    struct gap_ctx c = {.B = 3, .HW = 16, .C = 5};
    size_t n = (size_t)c.B * c.HW * c.C;
    c.x = malloc(sizeof(float) * n), c.y = malloc(sizeof(float) * c.B * c.C), c.r = malloc(sizeof(float) * c.B * c.C);
    float *dx = malloc(sizeof(float) * n);
    qt_fill_f32(c.x, n, -1, 1), qt_fill_f32(c.r, (size_t)c.B * c.C, -1, 1);
    qn_nn_gap_bwd(c.B, c.HW, c.C, c.r, dx);
    check_grad("gap dx", c.x, dx, n, 1e-2f, gap_loss, &c, 60);
    free(c.x), free(c.y), free(c.r), free(dx);
}

// --- loss ---
struct loss_ctx { int B, K; float *z, *g, *t; uint8_t *lab; float smooth; };
static double loss_loss(void *p) {
    struct loss_ctx *c = p;
    return qn_nn_softmax_xent(c->B, c->K, c->z, c->lab, c->smooth, c->t, c->g, NULL);
}
static void grad_losses(void) {
    struct loss_ctx c = {.B = 4, .K = 10};
    size_t n = (size_t)c.B * c.K;
    c.z = malloc(sizeof(float) * n), c.g = malloc(sizeof(float) * n);
    float *ga = malloc(sizeof(float) * n), *tz = malloc(sizeof(float) * n), *tp = malloc(sizeof(float) * n);
    uint8_t lab[4] = {0, 3, 9, 3};
    c.lab = lab;
    qt_fill_f32(c.z, n, -3, 3), qt_fill_f32(tz, n, -3, 3);
    qn_nn_softmax(c.B, c.K, tz, tp);
    for (int mode = 0; mode < 3; mode++) {
        c.smooth = mode == 1 ? 0.1f : 0.0f;
        c.t = mode == 2 ? tp : NULL;
        qn_nn_softmax_xent(c.B, c.K, c.z, c.lab, c.smooth, c.t, ga, NULL);
        check_grad(mode == 2 ? "kl dlogits" : "xent dlogits", c.z, ga, n, 1e-3f, loss_loss, &c, 40);
    }
    // plain cross-entropy of uniform logits is log K
    memset(c.z, 0, sizeof(float) * n);
    int hits;
    float l = qn_nn_softmax_xent(c.B, c.K, c.z, lab, 0.0f, NULL, ga, &hits);
    QT_CHECK(fabsf(l - logf(10.0f)) < 1e-5f, "uniform loss %f, expected log 10", l);
    // KL to itself is zero
    qn_nn_softmax(c.B, c.K, tz, tp);
    l = qn_nn_softmax_xent(c.B, c.K, tz, lab, 0.0f, tp, ga, NULL);
    QT_CHECK(fabsf(l) < 1e-5f, "KL(p||p) = %g", l);
    free(c.z), free(c.g), free(ga), free(tz), free(tp);
}

// The fused BN + activation used by the supernet equals BN followed by the activation (both
// checked above by finite differences), forward and backward, with ReLU6 / hardswish kinks
// included. Different summation orders: 1e-4 relative on values of order 1. The channel counts
// cover the AVX-512 kernel paths: super-rows of k*C channels (C = 1, 8, 12, 24, 48) with P mod k
// rows left over, one register-blocked row (19, 97) and the wide paths (144, 200).
static void fused_bn_act_matches_unfused(void) {
    enum qn_act acts[] = {QN_ACT_NONE, QN_ACT_RELU6, QN_ACT_HSWISH, QN_ACT_GELU};
    size_t Ps[] = {1 + 2, 37, 700};
    int Cs[] = {1, 8, 12, 19, 24, 48, 97, 144, 200};
    for (size_t ia = 0; ia < 4; ia++)
        for (size_t ip = 0; ip < 3; ip++)
            for (size_t ic = 0; ic < sizeof(Cs) / sizeof(Cs[0]); ic++) {
                size_t P = Ps[ip];
                int C = Cs[ic];
                size_t n = P * C;
                float *x = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * C);
                float *b = malloc(sizeof(float) * C), *m1 = malloc(sizeof(float) * C), *r1 = malloc(sizeof(float) * C);
                float *m2 = malloc(sizeof(float) * C), *r2 = malloc(sizeof(float) * C);
                float *pre1 = malloc(sizeof(float) * n), *y1 = malloc(sizeof(float) * n);
                float *y2 = malloc(sizeof(float) * n), *dx1 = malloc(sizeof(float) * n), *dx2 = malloc(sizeof(float) * n);
                float *dg1 = calloc(C, sizeof(float)), *db1 = calloc(C, sizeof(float)), *dg2 = calloc(C, sizeof(float));
                float *db2 = calloc(C, sizeof(float)), *t = malloc(sizeof(float) * n);
                qt_fill_f32(x, n, -3, 5), qt_fill_f32(dy, n, -1, 1), qt_fill_f32(g, C, 0.5f, 2), qt_fill_f32(b, C, -1, 1);
                qn_nn_bn_fwd_train(P, C, x, g, b, QN_NN_BN_EPS, 0.1f, NULL, NULL, m1, r1, pre1);
                qn_nn_act_fwd(acts[ia], n, pre1, y1);
                qn_nn_bn_act_fwd_train(P, C, x, g, b, acts[ia], m2, r2, y2);
                float worst = 0;
                for (size_t i = 0; i < n; i++) worst = fmaxf(worst, fabsf(y1[i] - y2[i]) / (1 + fabsf(y1[i])));
                for (int c = 0; c < C; c++) worst = fmaxf(worst, fabsf(m1[c] - m2[c]) + fabsf(r1[c] - r2[c]) / r1[c]);
                QT_CHECK(worst < 1e-4f, "%s P=%zu C=%d forward differs by %g", qn_act_name(acts[ia]), P, C, worst);
                qn_nn_act_bwd(acts[ia], n, pre1, dy, t);
                qn_nn_bn_bwd(P, C, x, g, m1, r1, t, dg1, db1, dx1);
                qn_nn_act_bn_bwd(P, C, x, g, b, m2, r2, acts[ia], dy, dg2, db2, dx2);
                worst = 0;
                float scale = 1e-6f;
                for (size_t i = 0; i < n; i++) scale = fmaxf(scale, fabsf(dx1[i]));
                for (size_t i = 0; i < n; i++) worst = fmaxf(worst, fabsf(dx1[i] - dx2[i]) / scale);
                for (int c = 0; c < C; c++)
                    worst = fmaxf(worst, (fabsf(dg1[c] - dg2[c]) + fabsf(db1[c] - db2[c])) / (1 + fabsf(dg1[c]) + fabsf(db1[c])));
                QT_CHECK(worst < 1e-4f, "%s P=%zu C=%d backward differs by %g", qn_act_name(acts[ia]), P, C, worst);
                free(x), free(dy), free(g), free(b), free(m1), free(r1), free(m2), free(r2), free(pre1), free(y1);
                free(y2), free(dx1), free(dx2), free(dg1), free(db1), free(dg2), free(db2), free(t);
            }
}

// The backward recomputes the forward's pre-activation x * scale + shift instead of keeping it:
// it must get the same bits, or a value at a ReLU6 kink would pass or block the gradient
// against the forward's choice. Shifts are set so that x * scale + shift lands within an ulp
// of 0 and of 6, where a fused multiply-add and a rounded multiply then add disagree; the
// gradient must pass exactly where the forward output lies strictly inside (0, 6).
static void bn_bwd_recomputes_forward_preact(void) {
    const bool v512 = qn_isa() == QN_ISA_AVX512;
    const qn_f32_bn_act_fn fwd = v512 ? qn_f32_bn_act__avx512 : qn_f32_bn_act__scalar;
    const qn_f32_act_bwd_sums_fn bwd = v512 ? qn_f32_act_bwd_sums__avx512 : qn_f32_act_bwd_sums__scalar;
    const int Cs[] = {5, 12, 48, 100};
    const size_t P = 67;
    for (size_t ic = 0; ic < sizeof(Cs) / sizeof(Cs[0]); ic++) {
        const int C = Cs[ic];
        const size_t n = P * (size_t)C;
        float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * n);
        float *dz = malloc(sizeof(float) * n), *sc = malloc(sizeof(float) * C), *sh = malloc(sizeof(float) * C);
        float *s1 = calloc(C, sizeof(float)), *s2 = calloc(C, sizeof(float)), *xr = malloc(sizeof(float) * C);
        for (int c = 0; c < C; c++) {
            sc[c] = qt_float(0.3f, 3.0f), xr[c] = qt_float(-2.0f, 2.0f);
            const float prod = xr[c] * sc[c];
            sh[c] = (c % 2 ? 6.0f : 0.0f) - prod;  // x = xr gives ~0 (even c) or ~6 (odd c)
        }
        for (size_t p = 0; p < P; p++)
            for (int c = 0; c < C; c++) {
                float v = xr[c];
                for (int k = 0; k < (int)(p % 7); k++) v = nextafterf(v, p % 2 ? INFINITY : -INFINITY);
                x[p * C + c] = v;
            }
        qt_fill_f32(dy, n, 0.5f, 1.5f);
        fwd(P, C, x, sc, sh, QN_ACT_RELU6, y);
        bwd(P, C, x, sc, sh, dy, QN_ACT_RELU6, dz, s1, s2);
        size_t bad = 0, passed = 0;
        for (size_t i = 0; i < n; i++) {
            const bool in = y[i] > 0.0f && y[i] < 6.0f;
            bad += dz[i] != (in ? dy[i] : 0.0f);
            passed += in;
        }
        QT_CHECK(bad == 0, "C=%d: %zu of %zu gradients disagree with the forward's ReLU6 mask", C, bad, n);
        QT_CHECK(passed > n / 8 && passed < n - n / 8, "C=%d: %zu of %zu inside (0, 6): the kinks were not probed", C,
                 passed, n);
        free(x), free(y), free(dy), free(dz), free(sc), free(sh), free(s1), free(s2), free(xr);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    qt_seed(7);
    QT_RUN(grad_pointwise);
    QT_RUN(grad_conv);
    QT_RUN_EACH_ISA(grad_depthwise);
    QT_RUN_EACH_ISA(fused_bn_act_matches_unfused);
    QT_RUN_EACH_ISA(bn_bwd_recomputes_forward_preact);
    QT_RUN(grad_batchnorm);
    QT_RUN(bn_starved_team);
    QT_RUN(grad_activations);
    QT_RUN(grad_pooling);
    QT_RUN(grad_losses);
    return qt_finish(argv[0]);
}
