// Performance predictors: rank metrics against brute force, ridge on exact linear data, the
// MLP's gradient against finite differences, fit quality on genome-like accuracy surfaces,
// determinism, batched prediction speed, and the JSON round trip / rejection of bad JSON.
//
// Tolerances:
//   Kendall tau-b / Spearman vs O(n^2) brute force: 1e-12. Both reduce to the same integer
//     pair counts (tau) or the same rank sums, so they differ by at most a few rounding steps.
//   ridge, integer data, noise-free: 1e-6 on the raw-unit weights and intercept; y is exact in
//     float, the solve runs in double, the CV-chosen lambda = 1e-6 shrinks weights by ~1e-8.
//   MLP gradient: the analytic float gradient against central differences (h = 1e-4) of the
//     same network evaluated in double: rounding of the float backward ~1e-6 relative,
//     truncation ~h^2 = 1e-8, a ReLU kink inside +-h is improbable for random data; 1e-4 *
//     max(1, |g|) still catches a wrong factor, a transpose or a missing ReLU mask.
#include <cjson/cJSON.h>

#include "predictor.h"
#include "test.h"

// --- helpers ---

// Sanitizer builds (and QNAS_TEST_QUICK) run ~5x slower: smaller sizes, fewer variants.
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif
static int slow_build(void) { return SANITIZED || qt_quick(); }

static float *fvec(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    QN_ASSERT(p);
    return p;
}

static int sgn(double x) { return (x > 0) - (x < 0); }

// Tau-b straight from the definition.
static double tau_brute(const float *a, const float *b, int n) {
    int64_t s = 0, ta = 0, tb = 0, n0 = (int64_t)n * (n - 1) / 2;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const int x = sgn((double)a[i] - a[j]), y = sgn((double)b[i] - b[j]);
            s += x * y;
            ta += x == 0;
            tb += y == 0;
        }
    if (n < 2 || n0 == ta || n0 == tb) return NAN;
    return fmin(1.0, fmax(-1.0, (double)s / sqrt((double)(n0 - ta) * (double)(n0 - tb))));
}

// Spearman with average ranks counted pairwise: rank_i = #less + (#equal + 1) / 2.
static double spearman_brute(const float *a, const float *b, int n) {
    double *ra = malloc(n * sizeof(double)), *rb = malloc(n * sizeof(double));
    for (int i = 0; i < n; i++) {
        int la = 0, ea = 0, lb = 0, eb = 0;
        for (int j = 0; j < n; j++) {
            la += a[j] < a[i], ea += a[j] == a[i];
            lb += b[j] < b[i], eb += b[j] == b[i];
        }
        ra[i] = la + (ea + 1) / 2.0, rb[i] = lb + (eb + 1) / 2.0;
    }
    const double mean = (n + 1) / 2.0;
    double sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        sab += (ra[i] - mean) * (rb[i] - mean);
        saa += (ra[i] - mean) * (ra[i] - mean);
        sbb += (rb[i] - mean) * (rb[i] - mean);
    }
    free(ra), free(rb);
    return sab / sqrt(saa * sbb);
}

// --- rank and error metrics ---

static void metrics_known_values(void) {
    float a[6] = {1, 2, 3, 4, 5, 6}, r[6] = {6, 5, 4, 3, 2, 1}, c[6] = {2, 2, 2, 2, 2, 2};
    QT_CHECK(qn_kendall_tau(a, a, 6) == 1.0, "tau(a, a) = %g", qn_kendall_tau(a, a, 6));
    QT_CHECK(qn_kendall_tau(a, r, 6) == -1.0, "tau(a, reversed) = %g", qn_kendall_tau(a, r, 6));
    QT_CHECK(isnan(qn_kendall_tau(a, c, 6)), "tau against a constant must be NaN");
    QT_CHECK(isnan(qn_kendall_tau(a, a, 1)), "tau of one point must be NaN");
    QT_CHECK(fabs(qn_spearman(a, a, 6) - 1.0) < 1e-15, "rho(a, a) = %g", qn_spearman(a, a, 6));
    QT_CHECK(fabs(qn_spearman(a, r, 6) + 1.0) < 1e-15, "rho(a, reversed) = %g", qn_spearman(a, r, 6));
    // Ties: a = 1 2 2 3, b = 1 3 2 3. Pairs (12) (13) (14) (34) concordant, (23) tied in a,
    // (24) tied in b: C = 4, D = 0, n0 = 6, tau_b = 4 / sqrt(5 * 5) = 0.8.
    float ta[4] = {1, 2, 2, 3}, tb[4] = {1, 3, 2, 3};
    QT_CHECK(fabs(qn_kendall_tau(ta, tb, 4) - 0.8) < 1e-15, "tau-b with ties = %.17g (0.8)",
             qn_kendall_tau(ta, tb, 4));
    float p[4] = {1, 2, 3, 4}, t[4] = {2, 2, 5, 0};
    QT_CHECK(fabs(qn_mae(p, t, 4) - 1.75) < 1e-15, "mae = %g (1.75)", qn_mae(p, t, 4));
    QT_CHECK(fabs(qn_rmse(p, t, 4) - sqrt(5.25)) < 1e-15, "rmse = %g (sqrt 5.25)", qn_rmse(p, t, 4));
    QT_CHECK(qn_mae(p, t, 0) == 0.0 && qn_rmse(p, t, 0) == 0.0, "empty input");
    struct qn_pred_quality q;
    qn_pred_quality_eval(&q, a, r, 6);
    QT_CHECK(q.n == 6 && q.kendall_tau == -1.0 && q.mae == 3.0, "quality: n %d tau %g mae %g", q.n,
             q.kendall_tau, q.mae);
}

static void kendall_vs_brute_force(void) {
    qt_seed(11);
    const int trials = slow_build() ? 40 : 120;
    for (int t = 0; t < trials; t++) {
        const int n = t < 10 ? t + 2 : qt_int(2, t % 4 == 0 ? 2000 : 300);
        // Few distinct values (heavy ties), many, or continuous; ties in one or both sides.
        const int levels_a = t % 3 == 0 ? 3 : t % 3 == 1 ? 50 : 0, levels_b = t % 5 == 0 ? 2 : t % 2 ? 7 : 0;
        float *a = fvec(n), *b = fvec(n);
        for (int i = 0; i < n; i++) {
            a[i] = levels_a ? (float)qt_int(0, levels_a - 1) : qt_float(-1, 1);
            // correlated with a half the time, so tau spans [-1, 1]
            b[i] = levels_b ? (float)qt_int(0, levels_b - 1) : qt_float(-1, 1);
            if (t % 2) b[i] = (t % 4 == 1 ? 1.0f : -1.0f) * a[i] + 0.3f * b[i];
        }
        const double got = qn_kendall_tau(a, b, n), want = tau_brute(a, b, n);
        QT_CHECK((isnan(got) && isnan(want)) || fabs(got - want) <= 1e-12, "n %d: tau %.17g, brute %.17g", n, got,
                 want);
        if (n <= 800) {
            const double rho = qn_spearman(a, b, n), rref = spearman_brute(a, b, n);
            QT_CHECK((isnan(rho) && isnan(rref)) || fabs(rho - rref) <= 1e-12, "n %d: rho %.17g, brute %.17g", n,
                     rho, rref);
        }
        free(a), free(b);
    }
    // Large n: O(n log n) is fast where O(n^2) would be slow.
    const int n = 200000;
    float *a = fvec(n), *b = fvec(n);
    for (int i = 0; i < n; i++) a[i] = (float)(i % 1000), b[i] = (float)(i % 1000) + qt_float(0, 0.5f);
    const double t0 = qn_now();
    const double tau = qn_kendall_tau(a, b, n);
    printf("        tau-b n = %d (1000 tie groups): %.6f in %.1f ms\n", n, tau, 1e3 * (qn_now() - t0));
    QT_CHECK(tau > 0.99 && tau <= 1.0, "tau %g", tau);
    free(a), free(b);
}

// --- ridge ---

static void ridge_recovers_linear_model(void) {
    qt_seed(3);
    const int n = 200, d = 10;
    float *X = fvec((size_t)n * d), *y = fvec(n), *yp = fvec(n);
    double w[10];
    for (int j = 0; j < d; j++) w[j] = qt_int(-5, 5);
    for (int i = 0; i < n; i++) {
        double s = 7.0;
        for (int j = 0; j < d; j++) {
            X[i * d + j] = (float)qt_int(-3, 3);
            s += w[j] * X[i * d + j];
        }
        y[i] = (float)s;  // an integer: exact in float
    }
    struct qn_error e = {{0}};
    struct qn_ridge r = {0};
    for (int pass = 0; pass < 2; pass++) {  // CV-chosen lambda, then lambda = 0 (full rank here)
        enum qn_status st = qn_ridge_fit(&r, X, n, d, y, pass == 0 ? -1.0 : 0.0, &e);
        QT_CHECK(st == QN_OK, "fit: %s", e.msg);
        if (st != QN_OK) continue;
        if (pass == 0)
            QT_CHECK(r.lambda <= 1e-4 && r.cv_rmse < 1e-4, "CV chose lambda %g (cv rmse %g) on noise-free data",
                     r.lambda, r.cv_rmse);
        double b = r.b, err = 0;
        for (int j = 0; j < d; j++) {
            const double wr = r.w[j] / r.sd[j];
            b -= wr * r.mu[j];
            err = fmax(err, fabs(wr - w[j]));
        }
        QT_CHECK(err <= 1e-6 && fabs(b - 7.0) <= 1e-6, "lambda %g: weight error %g, intercept %.9f (7)", r.lambda,
                 err, b);
        qn_ridge_predict(&r, X, n, yp);
        QT_CHECK(qn_rmse(yp, y, n) < 1e-5, "train rmse %g", qn_rmse(yp, y, n));
        qn_ridge_free(&r);
    }
    // Targets that are pure noise: CV must shrink hard.
    for (int i = 0; i < n; i++) y[i] = qt_float(-1, 1);
    QT_CHECK(qn_ridge_fit(&r, X, n, d, y, -1.0, &e) == QN_OK, "fit: %s", e.msg);
    QT_CHECK(r.lambda >= 10, "noise targets: lambda %g", r.lambda);
    qn_ridge_free(&r);
    // One-hot columns sum to the intercept: singular at lambda = 0, fine with lambda > 0.
    for (int i = 0; i < n; i++) {
        const int c = i % 3;
        for (int j = 0; j < 3; j++) X[i * d + j] = j == c;
    }
    QT_CHECK(qn_ridge_fit(&r, X, n, d, y, 0.0, &e) == QN_ERR_ARG && strstr(e.msg, "singular"),
             "collinear lambda 0: '%s'", e.msg);
    QT_CHECK(r.w == NULL, "struct zeroed on error");
    QT_CHECK(qn_ridge_fit(&r, X, n, d, y, 1e-3, &e) == QN_OK, "fit: %s", e.msg);
    qn_ridge_free(&r);
    X[5] = NAN;
    QT_CHECK(qn_ridge_fit(&r, X, n, d, y, 1.0, &e) == QN_ERR_ARG, "NaN feature accepted");
    QT_CHECK(qn_ridge_fit(&r, X, 6, d, y, -1.0, &e) == QN_ERR_ARG, "CV with 6 rows accepted");
    free(X), free(y), free(yp);
}

// --- MLP gradient ---

// The network in double from the same parameters, layout as in predictor.h.
static double ref_loss(const struct qn_mlp *m, const double *p, const float *X, const float *y, int B) {
    double h[2][64], loss = 0;
    for (int i = 0; i < B; i++) {
        const double *pl = p;
        for (int j = 0; j < m->d; j++) h[0][j] = X[i * m->d + j];
        int cur = 0;
        for (int l = 0; l < m->n_layers; l++) {
            const int ci = m->width[l], co = m->width[l + 1];
            for (int o = 0; o < co; o++) {
                double s = pl[(size_t)co * ci + o];
                for (int k = 0; k < ci; k++) s += pl[(size_t)o * ci + k] * h[cur][k];
                h[!cur][o] = l + 1 < m->n_layers && s < 0 ? 0 : s;
            }
            cur = !cur;
            pl += (size_t)co * (ci + 1);
        }
        loss += (h[cur][0] - y[i]) * (h[cur][0] - y[i]);
    }
    return loss / B;
}

static void grad_check(int d, int h1, int h2, int B) {
    struct qn_mlp_cfg c;
    qn_mlp_cfg_default(&c);
    c.hidden[0] = h1, c.hidden[1] = h2;
    struct qn_mlp m;
    struct qn_error e;
    QT_CHECK(qn_mlp_init(&m, &c, d, &e) == QN_OK, "init: %s", e.msg);
    const size_t np = m.n_params;
    qt_fill_f32(m.params, np, -0.6f, 0.6f);  // biases too, so ReLUs are not all at a kink
    float *X = fvec((size_t)B * d), *y = fvec(B), *g = fvec(np);
    float *scr = fvec(qn_mlp_grad_scratch(&m, B));
    qt_fill_f32(X, (size_t)B * d, -1, 1);
    qt_fill_f32(y, B, -1, 1);
    const float loss = qn_mlp_loss_grad(&m, 0, X, y, B, g, scr);
    double *p = calloc(np, sizeof(double));
    for (size_t i = 0; i < np; i++) p[i] = m.params[i];
    const double lref = ref_loss(&m, p, X, y, B);
    QT_CHECK(fabs(loss - lref) <= 1e-5 * (1 + lref), "%d-%d-%d B %d: loss %.8f, double %.8f", d, h1, h2, B, loss,
             lref);
    const double hstep = 1e-4;
    int bad = 0;
    for (size_t i = 0; i < np; i++) {
        const double keep = p[i];
        p[i] = keep + hstep;
        const double lp = ref_loss(&m, p, X, y, B);
        p[i] = keep - hstep;
        const double lm = ref_loss(&m, p, X, y, B);
        p[i] = keep;
        const double num = (lp - lm) / (2 * hstep);
        if (fabs(num - g[i]) > 1e-4 * fmax(1.0, fabs(num)) && bad++ < 3)
            QT_CHECK(0, "%d-%d-%d B %d: dparam[%zu] analytic %.7f, numeric %.7f", d, h1, h2, B, i, g[i], num);
    }
    free(p), free(X), free(y), free(g), free(scr);
    qn_mlp_free(&m);
}

static void mlp_gradient_check(void) {
    qt_seed(5);
    grad_check(5, 7, 6, 9);   // two hidden layers, blocked GEMM path
    grad_check(5, 7, 6, 3);   // M <= 4: the small / dot GEMM kernels
    grad_check(4, 9, 0, 13);  // one hidden layer
    grad_check(3, 33, 17, 40);  // widths past one SIMD tile
}

// --- genome-like surfaces ---

#define GENES 20
#define CHOICES 3
#define FEAT (GENES * CHOICES + CHOICES)  // one-hot per gene + count of each choice
#define INTER_J 1.0  // collapse of a layer pair at choice 0, in units of the per-gene effects
#define INTER_Q 0.1  // quadratic cost of the choice-0 count

enum surface { SURF_ADDITIVE, SURF_INTERACT };

struct surface_coef {
    float e[GENES][CHOICES];
};

static void surface_init(struct surface_coef *s) {
    for (int g = 0; g < GENES; g++)
        for (int c = 0; c < CHOICES; c++) s->e[g][c] = qt_float(-1, 1);
}

// n random genomes -> features X [n][FEAT] and targets y [n] (accuracy-like, 0.8 +- ~0.05).
// Additive: per-gene effects. Interacting: the same plus what no additive model can express,
// the way low precision hurts a real network: each of 5 layer pairs (genes 2l, 2l + 1)
// collapses when both sit at choice 0, and the count of choice-0 genes costs quadratically.
static void surface_sample(const struct surface_coef *s, enum surface kind, int n, float noise, float *X,
                           float *y) {
    for (int i = 0; i < n; i++) {
        float *x = X + (size_t)i * FEAT;
        memset(x, 0, FEAT * sizeof(float));
        int gene[GENES];
        double v = 0;
        for (int g = 0; g < GENES; g++) {
            gene[g] = qt_int(0, CHOICES - 1);
            x[g * CHOICES + gene[g]] = 1;
            x[GENES * CHOICES + gene[g]] += 1;
            v += s->e[g][gene[g]];
        }
        if (kind == SURF_INTERACT) {
            for (int l = 0; l < 5; l++) v -= INTER_J * (gene[2 * l] == 0 && gene[2 * l + 1] == 0);
            const double c0 = x[GENES * CHOICES] - GENES / 3.0;
            v -= INTER_Q * c0 * c0;
        }
        y[i] = (float)(0.8 + 0.02 * v + noise * (qt_float(-1, 1) + qt_float(-1, 1)));
    }
}

static double fit_seconds_mlp(struct qn_mlp *m, const struct qn_mlp_cfg *c, const float *X, int n, const float *y) {
    struct qn_error e;
    const double t0 = qn_now();
    const enum qn_status st = qn_mlp_fit(m, c, X, n, FEAT, y, &e);
    QT_CHECK(st == QN_OK, "mlp fit: %s", e.msg);
    return qn_now() - t0;
}

static void surface_case(enum surface kind, int n_tr, int n_te) {
    struct surface_coef sc;
    surface_init(&sc);
    float *X = fvec((size_t)(n_tr + n_te) * FEAT), *y = fvec(n_tr + n_te), *p = fvec(n_te);
    surface_sample(&sc, kind, n_tr + n_te, 0.0005f, X, y);
    const float *Xte = X + (size_t)n_tr * FEAT, *yte = y + n_tr;
    struct qn_error e;
    struct qn_ridge r;
    QT_CHECK(qn_ridge_fit(&r, X, n_tr, FEAT, y, -1.0, &e) == QN_OK, "ridge: %s", e.msg);
    qn_ridge_predict(&r, Xte, n_te, p);
    struct qn_pred_quality qr, qm[2];
    qn_pred_quality_eval(&qr, p, yte, n_te);
    const char *name = kind == SURF_ADDITIVE ? "additive" : "interacting";
    printf("        %-11s n %d/%d  ridge (lambda %g): tau %.3f rho %.3f MAE %.5f\n", name, n_tr, n_te, r.lambda,
           qr.kendall_tau, qr.spearman, qr.mae);
    const int variants = slow_build() ? 1 : 2;
    for (int v = 0; v < variants; v++) {  // the default (ridge base + nets), then the nets alone
        struct qn_mlp m;
        struct qn_mlp_cfg c;
        qn_mlp_cfg_default(&c);
        c.ridge_base = v == 0;
        const double secs = fit_seconds_mlp(&m, &c, X, n_tr, y);
        qn_mlp_predict(&m, Xte, n_te, p);
        qn_pred_quality_eval(&qm[v], p, yte, n_te);
        printf("        %-11s %-24s tau %.3f rho %.3f MAE %.5f  (%d epochs, kept %d, %.2f s)\n", "",
               v == 0 ? "mlp 64x64 on ridge base:" : "mlp 64x64 alone:", qm[v].kendall_tau, qm[v].spearman,
               qm[v].mae, m.epochs_run, m.best_epoch, secs);
        qn_mlp_free(&m);
    }
    if (kind == SURF_INTERACT) {
        QT_CHECK(qm[0].kendall_tau >= 0.9, "interactions: mlp held-out tau %.3f < 0.9", qm[0].kendall_tau);
        for (int v = 0; v < variants; v++)
            QT_CHECK(qm[v].kendall_tau >= qr.kendall_tau + 0.05 && qm[v].mae < 0.7 * qr.mae,
                     "interactions: mlp (%s) tau %.3f MAE %.5f not clearly better than ridge tau %.3f MAE %.5f",
                     v ? "alone" : "base", qm[v].kendall_tau, qm[v].mae, qr.kendall_tau, qr.mae);
    } else {
        QT_CHECK(fabs(qm[0].kendall_tau - qr.kendall_tau) <= 0.01 && qm[0].mae <= 1.2 * qr.mae,
                 "additive: mlp on the base tau %.3f MAE %.5f, ridge %.3f %.5f", qm[0].kendall_tau, qm[0].mae,
                 qr.kendall_tau, qr.mae);
        QT_CHECK(variants < 2 || (qm[1].kendall_tau >= 0.9 && fabs(qm[1].kendall_tau - qr.kendall_tau) <= 0.05),
                 "additive: mlp alone tau %.3f vs ridge %.3f", qm[1].kendall_tau, qr.kendall_tau);
    }
    qn_ridge_free(&r);
    free(X), free(y), free(p);
}

static void mlp_fits_interactions(void) {
    qt_seed(21);
    surface_case(SURF_INTERACT, 1000, 500);
}

static void mlp_matches_ridge_on_additive(void) {
    qt_seed(22);
    surface_case(SURF_ADDITIVE, 500, 500);
}

// --- batch and thread independence, determinism, ensemble ---

// A row's prediction must not depend on the batch it comes in (the GEMM switches kernels at
// M <= 4) nor on the thread count. An untrained net (He init, random base) suffices.
static void mlp_predict_batch_independent(void) {
    qt_seed(30);
    struct qn_mlp_cfg c;
    qn_mlp_cfg_default(&c);
    c.ensemble = 2;
    struct qn_mlp m;
    struct qn_error e;
    QT_CHECK(qn_mlp_init(&m, &c, FEAT, &e) == QN_OK, "init: %s", e.msg);
    for (size_t i = 0; i < m.ensemble * m.n_params; i++) m.params[i] += qt_float(-0.05f, 0.05f);  // biases != 0
    m.base_w = malloc(FEAT * sizeof(double));
    for (int j = 0; j < FEAT; j++) m.base_w[j] = qt_float(-1, 1);
    m.base_b = 0.5;
    const int nt = 1237;
    float *X = fvec((size_t)nt * FEAT), *p1 = fvec(nt), *p3 = fvec(nt);
    qt_fill_f32(X, (size_t)nt * FEAT, 0, 1);
    qn_mlp_predict(&m, X, nt, p1);
    int diff = 0;
    for (int i = 0; i < nt; i += 37) {  // one at a time (the padded path)
        float one;
        qn_mlp_predict(&m, X + (size_t)i * FEAT, 1, &one);
        diff += memcmp(&one, &p1[i], sizeof(float)) != 0;
    }
    for (int s = 0; s < nt;) {  // odd chunk sizes, tails of 1..4 rows included
        const int len = QN_MIN(nt - s, 1 + (s * 7) % 300);
        qn_mlp_predict(&m, X + (size_t)s * FEAT, len, p3 + s);
        s += len;
    }
    diff += memcmp(p1, p3, nt * sizeof(float)) != 0;
    QT_CHECK(diff == 0, "predictions depend on the batch (%d mismatches)", diff);
    qn_threads_set(2);  // every output element is one thread's dot product
    qn_mlp_predict(&m, X, nt, p3);
    qn_threads_set(1);
    QT_CHECK(memcmp(p1, p3, nt * sizeof(float)) == 0, "predictions differ on 2 threads");
    float none = 42;
    qn_mlp_predict(&m, X, 0, &none);
    QT_CHECK(none == 42, "n = 0 wrote output");
    qn_mlp_free(&m);
    free(X), free(p1), free(p3);
}

static void mlp_deterministic(void) {
    qt_seed(31);
    struct surface_coef sc;
    surface_init(&sc);
    const int n = 300, nt = 997;
    float *X = fvec((size_t)(n + nt) * FEAT), *y = fvec(n + nt), *p1 = fvec(nt), *p2 = fvec(nt), *p3 = fvec(nt);
    surface_sample(&sc, SURF_INTERACT, n + nt, 0.0005f, X, y);
    const float *Xt = X + (size_t)n * FEAT;
    struct qn_mlp_cfg c;
    qn_mlp_cfg_default(&c);
    c.epochs = 40;
    c.ensemble = 3;
    c.seed = 77;
    struct qn_mlp a, b;
    fit_seconds_mlp(&a, &c, X, n, y);
    fit_seconds_mlp(&b, &c, X, n, y);
    qn_mlp_predict(&a, Xt, nt, p1);
    qn_mlp_predict(&b, Xt, nt, p2);
    QT_CHECK(memcmp(p1, p2, nt * sizeof(float)) == 0, "same seed, different predictions");
    QT_CHECK(memcmp(a.params, b.params, a.ensemble * a.n_params * sizeof(float)) == 0, "same seed, other weights");
    // The ensemble is the mean of its members; another seed gives another net.
    float tau_ens = (float)qn_kendall_tau(p1, y + n, nt);
    c.seed = 78;
    qn_mlp_free(&b);
    fit_seconds_mlp(&b, &c, X, n, y);
    qn_mlp_predict(&b, Xt, nt, p2);
    QT_CHECK(memcmp(p1, p2, nt * sizeof(float)) != 0, "another seed, same predictions");
    struct qn_mlp single = a;  // member k alone (with the shared base)
    single.ensemble = 1;
    double tau_members = 0, *mean = calloc(nt, sizeof(double)), err = 0;
    for (int k = 0; k < 3; k++) {
        single.params = a.params + (size_t)k * a.n_params;
        qn_mlp_predict(&single, Xt, nt, p3);
        tau_members += qn_kendall_tau(p3, y + n, nt) / 3;
        for (int i = 0; i < nt; i++) mean[i] += p3[i] / 3.0;
    }
    for (int i = 0; i < nt; i++) err = fmax(err, fabs(mean[i] - p1[i]));
    free(mean);
    QT_CHECK(err <= 1e-6, "ensemble differs from the mean of its members by %g", err);
    printf("        ensemble of 3 (40 epochs, n = %d): tau %.3f, members' mean tau %.3f\n", n, tau_ens, tau_members);
    QT_CHECK(tau_ens >= tau_members - 0.02, "ensemble tau %.3f well below its members' %.3f", tau_ens, tau_members);
    qn_mlp_free(&a), qn_mlp_free(&b);
    free(X), free(y), free(p1), free(p2), free(p3);
}

static void mlp_bad_arguments(void) {
    struct qn_mlp m;
    struct qn_mlp_cfg c;
    struct qn_error e;
    float X[8 * 2] = {0}, y[8] = {0};
    qn_mlp_cfg_default(&c);
    c.hidden[0] = 0;
    QT_CHECK(qn_mlp_fit(&m, &c, X, 8, 2, y, &e) == QN_ERR_ARG && m.params == NULL, "hidden 0: %s", e.msg);
    qn_mlp_cfg_default(&c);
    c.val_fraction = 0.9f;
    QT_CHECK(qn_mlp_fit(&m, &c, X, 8, 2, y, &e) == QN_ERR_ARG, "val_fraction 0.9 accepted");
    qn_mlp_cfg_default(&c);
    QT_CHECK(qn_mlp_fit(&m, &c, X, 3, 2, y, &e) == QN_ERR_ARG, "3 rows with a validation split accepted");
    y[3] = INFINITY;
    QT_CHECK(qn_mlp_fit(&m, &c, X, 8, 2, y, &e) == QN_ERR_ARG, "infinite target accepted");
    y[3] = 0;
    c.lr = 1e30f;
    X[0] = 1;  // otherwise constant inputs give no gradient to blow up
    y[1] = 1;
    const enum qn_status st = qn_mlp_fit(&m, &c, X, 8, 2, y, &e);
    QT_CHECK(st == QN_ERR_ARG || st == QN_OK, "lr 1e30: status %d", st);
    if (st == QN_OK) qn_mlp_free(&m);
}

// --- JSON ---

static cJSON *reparse(const cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    QN_ASSERT(s);
    cJSON *k = cJSON_Parse(s);
    free(s);
    return k;
}

static void json_round_trip(void) {
    qt_seed(51);
    struct surface_coef sc;
    surface_init(&sc);
    const int n = 200, nt = 300;
    float *X = fvec((size_t)(n + nt) * FEAT), *y = fvec(n + nt), *p1 = fvec(nt), *p2 = fvec(nt);
    surface_sample(&sc, SURF_INTERACT, n + nt, 0.0005f, X, y);
    const float *Xt = X + (size_t)n * FEAT;
    struct qn_mlp_cfg c;
    qn_mlp_cfg_default(&c);
    c.epochs = 20, c.ensemble = 2, c.hidden[1] = 0, c.seed = 0xfedcba9876543210ull;
    struct qn_mlp m, m2;
    struct qn_error e;
    fit_seconds_mlp(&m, &c, X, n, y);
    qn_mlp_predict(&m, Xt, nt, p1);
    struct qn_pred_quality q, q2;
    qn_pred_quality_eval(&q, p1, y + n, nt);
    cJSON *j = qn_mlp_to_json(&m, &q), *k = reparse(j);
    QT_CHECK(qn_mlp_from_json(&m2, &q2, k, "mlp.json", &e) == QN_OK, "load: %s", e.msg);
    qn_mlp_predict(&m2, Xt, nt, p2);
    QT_CHECK(memcmp(p1, p2, nt * sizeof(float)) == 0, "mlp predictions differ after the round trip");
    QT_CHECK(q.n == q2.n && q.kendall_tau == q2.kendall_tau && q.spearman == q2.spearman && q.mae == q2.mae &&
                 q.rmse == q2.rmse,
             "quality differs: tau %.17g vs %.17g", q.kendall_tau, q2.kendall_tau);
    QT_CHECK(m2.cfg.seed == c.seed && m2.cfg.ensemble == 2 && m2.cfg.epochs == 20 && m2.epochs_run == m.epochs_run,
             "cfg / train report not restored");
    char *text = cJSON_PrintUnformatted(j);
    printf("        mlp 63-64-1 x 2 as JSON: %zu bytes\n", strlen(text));
    free(text);
    cJSON_Delete(j), cJSON_Delete(k);
    qn_mlp_free(&m2);
    qn_mlp_free(&m);

    struct qn_ridge r, r2;
    QT_CHECK(qn_ridge_fit(&r, X, n, FEAT, y, -1.0, &e) == QN_OK, "ridge: %s", e.msg);
    qn_ridge_predict(&r, Xt, nt, p1);
    j = qn_ridge_to_json(&r, NULL), k = reparse(j);
    QT_CHECK(qn_ridge_from_json(&r2, &q2, k, "ridge.json", &e) == QN_OK, "load: %s", e.msg);
    qn_ridge_predict(&r2, Xt, nt, p2);
    QT_CHECK(memcmp(p1, p2, nt * sizeof(float)) == 0, "ridge predictions differ after the round trip");
    QT_CHECK(r2.lambda == r.lambda && r2.cv_rmse == r.cv_rmse && q2.n == 0 && isnan(q2.kendall_tau),
             "ridge fields / absent quality");
    cJSON_Delete(j), cJSON_Delete(k);
    qn_ridge_free(&r2);

    // --- bad input: every truncation of a valid document, and targeted corruptions ---
    struct qn_mlp_cfg tiny;
    qn_mlp_cfg_default(&tiny);
    tiny.hidden[0] = 3, tiny.hidden[1] = 2, tiny.epochs = 2;
    fit_seconds_mlp(&m2, &tiny, X, 20, y);  // small document for the truncation sweep
    j = qn_mlp_to_json(&m2, &q);
    char *good = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    const size_t len = strlen(good);
    int accepted = 0, silent = 0;
    for (size_t cut = 0; cut < len; cut += 1 + cut / 64) {
        cJSON *t = cJSON_ParseWithLength(good, cut);
        e.msg[0] = 0;
        const enum qn_status st = qn_mlp_from_json(&m, NULL, t, "cut.json", &e);
        accepted += st == QN_OK;
        silent += st != QN_OK && (e.msg[0] == 0 || m.params != NULL);
        if (st == QN_OK) qn_mlp_free(&m);
        cJSON_Delete(t);
    }
    QT_CHECK(accepted == 0 && silent == 0, "truncated JSON: %d accepted, %d without a message", accepted, silent);
    static const struct {
        const char *from, *to;
    } edits[] = {
        {"\"kind\":\"mlp\"", "\"kind\":\"ridge\""},
        {"\"kind\":\"mlp\"", "\"kind\":7"},
        {"\"d\":63", "\"d\":62"},
        {"\"d\":63", "\"d\":63.5"},
        {"\"d\":63", "\"d\":-1"},
        {"\"d\":63", "\"d\":1e300"},
        {"[63,3,2,1]", "[63,3,2,2]"},
        {"[63,3,2,1]", "[63,0,2,1]"},
        {"[63,3,2,1]", "[63,3,2,1,1]"},
        {"[63,3,2,1]", "[63,\"3\",2,1]"},
        {"\"ensemble\":1", "\"ensemble\":2"},
        {"\"ensemble\":1", "\"ensemble\":1000"},
        {"\"activation\":\"relu\"", "\"activation\":\"gelu\""},
        {"\"members\":[[", "\"members\":[[1e999,"},
        {"\"members\":[[", "\"members\":[[null,"},
        {"\"members\":[[", "\"members\":[[0.5,"},
        {"\"members\":[", "\"members\":{\"a\":"},
        {"\"seed\":\"1\"", "\"seed\":1"},
        {"\"ridge_base\":true", "\"ridge_base\":1"},
        {"\"base\":{", "\"base\":7,\"b2\":{"},
        {"\"intercept\":", "\"intercept\":null,\"i2\":"},
        {"\"base\":{\"lambda\":", "\"base\":{\"lambda\":-"},
        {"\"seed\":\"1\"", "\"seed\":\"-1\""},
        {"\"epochs_run\":", "\"epochs_run\":-"},
        {"\"kendall_tau\":", "\"kendall_tau\":\"x\",\"k2\":"},
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        const char *at = strstr(good, edits[i].from);
        QT_CHECK(at != NULL, "edit %zu: '%s' not in the document", i, edits[i].from);
        if (!at) continue;
        char *bad = malloc(len + strlen(edits[i].to) + 1);
        const size_t pre = (size_t)(at - good);
        memcpy(bad, good, pre);
        strcpy(bad + pre, edits[i].to);
        strcat(bad, at + strlen(edits[i].from));
        cJSON *t = cJSON_Parse(bad);
        e.msg[0] = 0;
        const enum qn_status st = qn_mlp_from_json(&m, &q2, t, "predictors.json: accuracy", &e);
        QT_CHECK(st == QN_ERR_FORMAT && strncmp(e.msg, "predictors.json: accuracy: ", 27) == 0 && m.params == NULL,
                 "edit '%s' -> '%s': status %d, message '%s'", edits[i].from, edits[i].to, st, e.msg);
        if (i == 2 || i == 13) printf("        rejected: %s\n", e.msg);
        if (st == QN_OK) qn_mlp_free(&m);
        cJSON_Delete(t);
        free(bad);
    }
    // A parameter beyond the float range.
    j = cJSON_Parse(good);
    cJSON_SetNumberHelper(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "members"), 0), 3), 1e39);
    QT_CHECK(qn_mlp_from_json(&m, NULL, j, "m.json", &e) == QN_ERR_FORMAT && strstr(e.msg, "finite"),
             "1e39 parameter: %s", e.msg);
    cJSON_Delete(j);
    // Ridge: wrong array sizes, zero sd, not an object.
    j = qn_ridge_to_json(&r, &q);
    cJSON_ReplaceItemInObject(j, "sd", cJSON_CreateArray());
    QT_CHECK(qn_ridge_from_json(&r2, NULL, j, "r.json", &e) == QN_ERR_FORMAT && r2.w == NULL, "empty sd: %s", e.msg);
    cJSON_Delete(j);
    j = qn_ridge_to_json(&r, &q);
    cJSON_SetNumberHelper(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sd"), 4), 0.0);
    QT_CHECK(qn_ridge_from_json(&r2, NULL, j, "r.json", &e) == QN_ERR_FORMAT, "sd 0 accepted");
    cJSON_Delete(j);
    cJSON *arr = cJSON_Parse("[1,2]");
    QT_CHECK(qn_ridge_from_json(&r2, NULL, arr, "r.json", &e) == QN_ERR_FORMAT && strstr(e.msg, "object"),
             "array accepted: %s", e.msg);
    QT_CHECK(qn_mlp_from_json(&m, NULL, NULL, "x.json", &e) == QN_ERR_FORMAT && strstr(e.msg, "x.json"),
             "NULL: %s", e.msg);
    cJSON_Delete(arr);
    free(good);
    qn_mlp_free(&m2);
    qn_mlp_free(&m);
    qn_ridge_free(&r);
    free(X), free(y), free(p1), free(p2);
}

int main(int argc, char **argv) {
    (void)argc;
    // One thread: the sizes here are far below where the GEMM forks, except batched
    // prediction, whose thread independence mlp_predict_batch_independent checks; and on a
    // loaded 2-core machine every fork/join is a scheduling lottery.
    qn_threads_set(1);
    QT_RUN(metrics_known_values);
    QT_RUN(kendall_vs_brute_force);
    QT_RUN(ridge_recovers_linear_model);
    QT_RUN_EACH_ISA(mlp_gradient_check);
    QT_RUN(mlp_fits_interactions);
    QT_RUN(mlp_matches_ridge_on_additive);
    QT_RUN_EACH_ISA(mlp_predict_batch_independent);
    QT_RUN(mlp_deterministic);
    QT_RUN(mlp_bad_arguments);
    QT_RUN(json_round_trip);
    return qt_finish(argv[0]);
}
