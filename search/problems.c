// Test problems with known fronts (problems.h).
#include "problems.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pareto.h"

#define ZDT_N 30
#define DTLZ_M 3
#define DTLZ_N 12  // M + k - 1 with k = 10

static const double PI = 3.14159265358979323846;

// --- ZDT (f1 = x1, g = 1 + 9 mean(x2..xn), f2 = g h(f1 / g)) ---

static enum qn_status zdt(int which, const double *x, int n, double *f) {
    for (int i = 0; i < n; i++) {
        const double *v = x + (size_t)i * ZDT_N;
        double s = 0;
        for (int j = 1; j < ZDT_N; j++) s += v[j];
        double f1 = v[0], g = 1 + 9 * s / (ZDT_N - 1), r = f1 / g, h;
        if (which == 1) h = 1 - sqrt(r);
        else if (which == 2) h = 1 - r * r;
        else h = 1 - sqrt(r) - r * sin(10 * PI * f1);
        f[2 * i] = f1, f[2 * i + 1] = g * h;
    }
    return QN_OK;
}

static enum qn_status zdt1(void *ctx, const double *x, int n, double *f, double *g, struct qn_error *e) { return zdt(1, x, n, f); }
static enum qn_status zdt2(void *ctx, const double *x, int n, double *f, double *g, struct qn_error *e) { return zdt(2, x, n, f); }
static enum qn_status zdt3(void *ctx, const double *x, int n, double *f, double *g, struct qn_error *e) { return zdt(3, x, n, f); }

// --- DTLZ2: g = sum_{i >= M} (x_i - 1/2)^2, f on the sphere of radius 1 + g ---

static enum qn_status dtlz2(void *ctx, const double *x, int n, double *f, double *gc, struct qn_error *e) {
    for (int i = 0; i < n; i++) {
        const double *v = x + (size_t)i * DTLZ_N;
        double g = 0;
        for (int j = DTLZ_M - 1; j < DTLZ_N; j++) g += (v[j] - 0.5) * (v[j] - 0.5);
        double a = v[0] * PI / 2, b = v[1] * PI / 2;
        f[3 * i] = (1 + g) * cos(a) * cos(b);
        f[3 * i + 1] = (1 + g) * cos(a) * sin(b);
        f[3 * i + 2] = (1 + g) * sin(a);
    }
    return QN_OK;
}

#define R01 {QN_GENE_REAL, 0, 1}
#define R01x10 R01, R01, R01, R01, R01, R01, R01, R01, R01, R01
static const struct qn_gene zdt_genes[ZDT_N] = {R01x10, R01x10, R01x10};
static const struct qn_gene dtlz2_genes[DTLZ_N] = {R01x10, R01, R01};

// Hypervolumes with reference (1.1, 1.1[, 1.1]):
//   ZDT1: the front f2 = 1 - sqrt(f1) on [0, 1]; the dominated part of the box is, for f1 in
//     [0, 1], the height 1.1 - f2 = 0.1 + sqrt(f1), and 1.1 for f1 in [1, 1.1]:
//     int_0^1 (0.1 + sqrt x) dx + 0.1 * 1.1 = 0.1 + 2/3 + 0.11 = 0.876666...
//   ZDT2: f2 = 1 - f1^2: 0.1 + 1/3 + 0.11 = 0.543333...
//   ZDT3: no closed form; the front is the non-dominated part of the g = 1 curve
//     f2 = 1 - sqrt(f1) - f1 sin(10 pi f1) (five pieces). qn_pareto_hv on the non-dominated
//     points of N samples, f1 uniform on [0, 1], gives 1.33176202 (N = 10^6, 265722 points
//     kept) and 1.33176282 (N = 10^7, 2657197 kept). A staircase through the samples misses
//     about C / N (the sum of df1 * df2 over the steps), so the limit is 1.3317629 +- 1e-7;
//     tests/test-moo.c recomputes it from 10^6 samples.
//   DTLZ2: the front is the unit sphere in the positive octant; a point f >= 0 of the box is
//     dominated iff |f| >= 1 (f / |f| is on the front and <= f; a front point p <= f has
//     |p| <= |f|), so HV = 1.1^3 - (volume of the octant of the unit ball) = 1.331 - pi / 6.
static const struct qn_moo_testprob probs[] = {
    {"zdt1", {"zdt1", ZDT_N, 2, 0, zdt_genes, zdt1, NULL}, 0.1 + 2.0 / 3.0 + 0.11},
    {"zdt2", {"zdt2", ZDT_N, 2, 0, zdt_genes, zdt2, NULL}, 0.1 + 1.0 / 3.0 + 0.11},
    {"zdt3", {"zdt3", ZDT_N, 2, 0, zdt_genes, zdt3, NULL}, 1.3317629},
    {"dtlz2", {"dtlz2", DTLZ_N, 3, 0, dtlz2_genes, dtlz2, NULL}, 1.331 - 3.14159265358979323846 / 6},
};

const struct qn_moo_testprob *qn_moo_testprob_find(const char *name) {
    for (size_t i = 0; name && i < sizeof(probs) / sizeof(probs[0]); i++)
        if (strcmp(name, probs[i].name) == 0) return &probs[i];
    return NULL;
}

const char *qn_moo_testprob_names(void) { return "zdt1, zdt2, zdt3, dtlz2"; }

enum qn_status qn_moo_testprob_front(const struct qn_moo_testprob *t, int density, double **out, int *n_out) {
    *out = NULL, *n_out = 0;
    if (density < 2) return QN_ERR_ARG;
    const char *nm = t->name;
    if (strcmp(nm, "dtlz2") == 0) {
        // Lattice a + b + c = H on the simplex, projected onto the sphere: (H+1)(H+2)/2 points.
        int H = 1;
        while ((H + 2) * (H + 3) / 2 <= density) H++;
        int n = (H + 1) * (H + 2) / 2, k = 0;
        double *p = malloc(sizeof(double) * 3 * (size_t)n);
        if (!p) return QN_ERR_NOMEM;
        for (int a = 0; a <= H; a++)
            for (int b = 0; a + b <= H; b++) {
                double v[3] = {a, b, H - a - b}, r = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
                for (int j = 0; j < 3; j++) p[3 * k + j] = v[j] / r;
                k++;
            }
        *out = p, *n_out = k;
        return QN_OK;
    }
    const int which = nm[3] - '0';
    double *p = malloc(sizeof(double) * 2 * (size_t)density);
    if (!p) return QN_ERR_NOMEM;
    for (int i = 0; i < density; i++) {
        double f1 = (double)i / (density - 1), h;
        if (which == 1) h = 1 - sqrt(f1);
        else if (which == 2) h = 1 - f1 * f1;
        else h = 1 - sqrt(f1) - f1 * sin(10 * PI * f1);
        p[2 * i] = f1, p[2 * i + 1] = h;
    }
    if (which == 3) {
        int *idx = malloc(sizeof(int) * (size_t)density);
        int k = idx ? qn_pareto_nondominated(p, density, 2, idx) : -1;
        if (k < 0) {
            free(p), free(idx);
            return QN_ERR_NOMEM;
        }
        for (int t2 = 0; t2 < k; t2++) p[2 * t2] = p[2 * idx[t2]], p[2 * t2 + 1] = p[2 * idx[t2] + 1];
        free(idx);
        *out = p, *n_out = k;
        return QN_OK;
    }
    *out = p, *n_out = density;
    return QN_OK;
}
