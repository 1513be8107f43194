// Performance predictors: ridge baseline, MLP regressor (engine GEMM + linear layers),
// rank / error metrics and their JSON form. See predictor.h for shapes and contracts.
#include "predictor.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "gemm.h"
#include "nn.h"

// --- random numbers ---
//
// splitmix64: one 64-bit state per stream; streams for (seed, member, purpose) come from
// hashing the three together, so members and purposes never share a sequence.

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_stream(uint64_t seed, uint64_t member, uint64_t purpose) {
    uint64_t s = seed;
    uint64_t h = rng_next(&s);
    s = h ^ (member * 0xd6e8feb86659fd93ull);
    h = rng_next(&s);
    s = h ^ (purpose * 0xa0761d6478bd642full);
    return rng_next(&s);
}

static double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }  // [0, 1)

static double rng_normal(uint64_t *s) {  // Box-Muller, one value per call
    const double u1 = 1.0 - rng_uniform(s), u2 = rng_uniform(s);  // u1 in (0, 1]
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static size_t rng_below(uint64_t *s, size_t n) {  // uniform in [0, n), n < 2^32
    return (size_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

static void shuffle(int *v, size_t n, uint64_t *s) {
    for (size_t i = n; i > 1; i--) {
        const size_t j = rng_below(s, i);
        const int t = v[i - 1];
        v[i - 1] = v[j], v[j] = t;
    }
}

static bool all_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

// --- quality metrics ---

struct kt_pair {
    float a, b;
};

static int cmp_pair_ab(const void *x, const void *y) {
    const struct kt_pair *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    if (p->b != q->b) return p->b < q->b ? -1 : 1;
    return 0;
}

// Sorts v ascending (bottom-up merge sort, tmp of n floats) and returns the number of
// inversions: pairs i < j with v[i] > v[j] (equal values are not inversions).
static int64_t sort_count_inversions(float *v, float *tmp, size_t n) {
    int64_t inv = 0;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo + w < n; lo += 2 * w) {
            const size_t mid = lo + w, hi = QN_MIN(lo + 2 * w, n);
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (v[j] < v[i]) {
                    tmp[k++] = v[j++];
                    inv += (int64_t)(mid - i);
                } else {
                    tmp[k++] = v[i++];
                }
            }
            while (i < mid) tmp[k++] = v[i++];
            while (j < hi) tmp[k++] = v[j++];
            memcpy(v + lo, tmp + lo, (hi - lo) * sizeof(*v));
        }
    }
    return inv;
}

static int64_t tie_pairs_run(int64_t t) { return t * (t - 1) / 2; }

double qn_kendall_tau(const float *a, const float *b, int n) {
    if (n < 2) return NAN;
    const size_t N = (size_t)n;
    struct kt_pair *p = malloc(N * sizeof(*p));
    float *v = malloc(N * sizeof(float)), *tmp = malloc(N * sizeof(float));
    double tau = NAN;
    if (p && v && tmp) {
        for (size_t i = 0; i < N; i++) p[i] = (struct kt_pair){a[i], b[i]};
        qsort(p, N, sizeof(*p), cmp_pair_ab);  // the full key: instability does not matter
        int64_t ta = 0, tab = 0;  // pairs tied in a; tied in both
        for (size_t i = 0, j; i < N; i = j) {
            for (j = i + 1; j < N && p[j].a == p[i].a; j++) {}
            ta += tie_pairs_run((int64_t)(j - i));
            for (size_t u = i, w; u < j; u = w) {
                for (w = u + 1; w < j && p[w].b == p[u].b; w++) {}
                tab += tie_pairs_run((int64_t)(w - u));
            }
        }
        for (size_t i = 0; i < N; i++) v[i] = p[i].b;
        // Sorted by (a, b), every inversion of b is a pair strictly ordered in a and strictly
        // reversed in b: exactly the discordant pairs.
        const int64_t disc = sort_count_inversions(v, tmp, N);
        int64_t tb = 0;
        for (size_t i = 0, j; i < N; i = j) {
            for (j = i + 1; j < N && v[j] == v[i]; j++) {}
            tb += tie_pairs_run((int64_t)(j - i));
        }
        const int64_t n0 = tie_pairs_run((int64_t)N);
        const int64_t conc = n0 - ta - tb + tab - disc;
        if (n0 > ta && n0 > tb)  // clamped: the rounded sqrt may undercut |C - D| by an ulp
            tau = fmin(1.0, fmax(-1.0, (double)(conc - disc) / sqrt((double)(n0 - ta) * (double)(n0 - tb))));
    }
    free(p), free(v), free(tmp);
    return tau;
}

struct rank_item {
    float v;
    int i;
};

static int cmp_rank_item(const void *x, const void *y) {
    const struct rank_item *p = x, *q = y;
    if (p->v != q->v) return p->v < q->v ? -1 : 1;
    return (p->i > q->i) - (p->i < q->i);
}

// 1-based ranks, ties sharing their average rank. it: n items of scratch.
static void average_ranks(const float *x, size_t n, struct rank_item *it, double *rank) {
    for (size_t i = 0; i < n; i++) it[i] = (struct rank_item){x[i], (int)i};
    qsort(it, n, sizeof(*it), cmp_rank_item);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && it[j].v == it[i].v; j++) {}
        const double r = 0.5 * (double)(i + 1 + j);  // mean of i+1 .. j
        for (size_t k = i; k < j; k++) rank[it[k].i] = r;
    }
}

double qn_spearman(const float *a, const float *b, int n) {
    if (n < 2) return NAN;
    const size_t N = (size_t)n;
    struct rank_item *it = malloc(N * sizeof(*it));
    double *ra = malloc(N * sizeof(double)), *rb = malloc(N * sizeof(double));
    double rho = NAN;
    if (it && ra && rb) {
        average_ranks(a, N, it, ra);
        average_ranks(b, N, it, rb);
        const double mean = 0.5 * (double)(N + 1);
        double sab = 0, saa = 0, sbb = 0;
        for (size_t i = 0; i < N; i++) {
            const double x = ra[i] - mean, y = rb[i] - mean;
            sab += x * y, saa += x * x, sbb += y * y;
        }
        if (saa > 0 && sbb > 0) rho = fmin(1.0, fmax(-1.0, sab / sqrt(saa * sbb)));
    }
    free(it), free(ra), free(rb);
    return rho;
}

double qn_mae(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs((double)a[i] - (double)b[i]);
    return n > 0 ? s / n : 0.0;
}

double qn_rmse(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        const double t = (double)a[i] - (double)b[i];
        s += t * t;
    }
    return n > 0 ? sqrt(s / n) : 0.0;
}

void qn_pred_quality_eval(struct qn_pred_quality *q, const float *pred, const float *truth, int n) {
    q->n = n > 0 ? n : 0;
    q->kendall_tau = qn_kendall_tau(pred, truth, n);
    q->spearman = qn_spearman(pred, truth, n);
    q->mae = qn_mae(pred, truth, n);
    q->rmse = qn_rmse(pred, truth, n);
}

// --- ridge regression ---

const double qn_ridge_lambda_grid[] = {1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1,
                                       3,    10,   30,   100,  300,  1000, 3000};
const int qn_ridge_lambda_grid_n = (int)(sizeof(qn_ridge_lambda_grid) / sizeof(qn_ridge_lambda_grid[0]));

// Standardization and normal equations over the rows whose fold differs from `skip` (all
// rows when skip < 0): mu, sd [d]; G = Z^T Z [d][d] (full); c = Z^T (y - ybar) [d].
// z: [d] scratch.
static void ridge_gram(const float *X, int n, int d, const float *y, int folds, int skip, double *mu,
                       double *sd, double *ybar, double *G, double *c, double *z) {
    const size_t D = (size_t)d;
    memset(mu, 0, D * sizeof(double));
    memset(sd, 0, D * sizeof(double));
    memset(G, 0, D * D * sizeof(double));
    memset(c, 0, D * sizeof(double));
    double ys = 0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (skip >= 0 && i % folds == skip) continue;
        for (size_t j = 0; j < D; j++) mu[j] += X[(size_t)i * D + j];
        ys += y[i];
        m++;
    }
    for (size_t j = 0; j < D; j++) mu[j] /= m;
    *ybar = ys / m;
    for (int i = 0; i < n; i++) {
        if (skip >= 0 && i % folds == skip) continue;
        for (size_t j = 0; j < D; j++) {
            const double t = X[(size_t)i * D + j] - mu[j];
            sd[j] += t * t;
        }
    }
    for (size_t j = 0; j < D; j++) {
        sd[j] = sqrt(sd[j] / m);
        if (!(sd[j] > 1e-12 * (1.0 + fabs(mu[j])))) sd[j] = 1.0;  // constant: z = 0
    }
    for (int i = 0; i < n; i++) {
        if (skip >= 0 && i % folds == skip) continue;
        for (size_t j = 0; j < D; j++) z[j] = (X[(size_t)i * D + j] - mu[j]) / sd[j];
        const double r = y[i] - *ybar;
        for (size_t j = 0; j < D; j++) {
            c[j] += z[j] * r;
            double *g = G + j * D;
            const double zj = z[j];
            for (size_t k = j; k < D; k++) g[k] += zj * z[k];
        }
    }
    for (size_t j = 0; j < D; j++)
        for (size_t k = 0; k < j; k++) G[j * D + k] = G[k * D + j];
}

// w = (G + lambda I)^-1 c by Cholesky (L: [d][d] scratch). False when the matrix is not
// numerically positive definite (a pivot below 1e-12 of the largest diagonal entry).
static bool ridge_solve(const double *G, const double *c, int d, double lambda, double *L, double *w) {
    const size_t D = (size_t)d;
    double dmax = 0;
    for (size_t j = 0; j < D; j++) dmax = QN_MAX(dmax, G[j * D + j] + lambda);
    const double tiny = 1e-12 * dmax;
    for (size_t j = 0; j < D; j++) {
        for (size_t k = 0; k <= j; k++) {
            double s = G[j * D + k] + (j == k ? lambda : 0.0);
            for (size_t p = 0; p < k; p++) s -= L[j * D + p] * L[k * D + p];
            if (j == k) {
                if (!(s > tiny)) return false;
                L[j * D + j] = sqrt(s);
            } else {
                L[j * D + k] = s / L[k * D + k];
            }
        }
    }
    for (size_t j = 0; j < D; j++) {  // L u = c
        double s = c[j];
        for (size_t p = 0; p < j; p++) s -= L[j * D + p] * w[p];
        w[j] = s / L[j * D + j];
    }
    for (size_t j = D; j-- > 0;) {  // L^T w = u
        double s = w[j];
        for (size_t p = j + 1; p < D; p++) s -= L[p * D + j] * w[p];
        w[j] = s / L[j * D + j];
    }
    return true;
}

static double ridge_row(const double *w, double b, const double *mu, const double *sd, const float *x,
                        int d) {
    double s = b;
    for (int j = 0; j < d; j++) s += w[j] * ((x[j] - mu[j]) / sd[j]);
    return s;
}

void qn_ridge_free(struct qn_ridge *r) {
    free(r->w);
    memset(r, 0, sizeof(*r));
}

static enum qn_status ridge_alloc(struct qn_ridge *r, int d) {
    memset(r, 0, sizeof(*r));
    double *p = calloc((size_t)d * 3, sizeof(double));
    if (!p) return QN_ERR_NOMEM;
    r->d = d, r->w = p, r->mu = p + d, r->sd = p + 2 * (size_t)d;
    r->cv_rmse = NAN;
    return QN_OK;
}

enum qn_status qn_ridge_fit(struct qn_ridge *r, const float *X, int n, int d, const float *y,
                            double lambda, struct qn_error *e) {
    memset(r, 0, sizeof(*r));
    const int folds = QN_RIDGE_CV_FOLDS;
    if (!X || !y || n < 2 || d < 1 || d > QN_MLP_MAX_D)
        return qn_fail(e, QN_ERR_ARG, "ridge: need n >= 2 rows of 1..%d features (n = %d, d = %d)",
                       QN_MLP_MAX_D, n, d);
    if (isnan(lambda) || lambda == INFINITY)
        return qn_fail(e, QN_ERR_ARG, "ridge: lambda must be finite");
    if (lambda < 0 && n < 2 * folds)
        return qn_fail(e, QN_ERR_ARG, "ridge: cross-validating lambda needs n >= %d rows (n = %d)",
                       2 * folds, n);
    if (!all_finite(X, (size_t)n * d) || !all_finite(y, (size_t)n))
        return qn_fail(e, QN_ERR_ARG, "ridge: features or targets are not finite");
    const size_t D = (size_t)d;
    // Scratch: G, L [d][d]; mu, sd, c, z, w [d]; per-lambda squared errors.
    double *ws = malloc((2 * D * D + 5 * D + (size_t)qn_ridge_lambda_grid_n) * sizeof(double));
    if (!ws || ridge_alloc(r, d) != QN_OK) {
        free(ws);
        qn_ridge_free(r);
        return qn_fail(e, QN_ERR_NOMEM, "ridge: out of memory (d = %d)", d);
    }
    double *G = ws, *L = G + D * D, *mu = L + D * D, *sd = mu + D, *c = sd + D, *z = c + D, *w = z + D;
    double *sse = w + D;
    double ybar;
    if (lambda < 0) {
        for (int g = 0; g < qn_ridge_lambda_grid_n; g++) sse[g] = 0;
        for (int f = 0; f < folds; f++) {
            ridge_gram(X, n, d, y, folds, f, mu, sd, &ybar, G, c, z);
            for (int g = 0; g < qn_ridge_lambda_grid_n; g++) {
                if (!ridge_solve(G, c, d, qn_ridge_lambda_grid[g], L, w)) {
                    sse[g] = INFINITY;
                    continue;
                }
                for (int i = f; i < n; i += folds) {
                    const double t = ridge_row(w, ybar, mu, sd, X + (size_t)i * D, d) - y[i];
                    sse[g] += t * t;
                }
            }
        }
        int best = -1;
        for (int g = 0; g < qn_ridge_lambda_grid_n; g++)
            if (isfinite(sse[g]) && (best < 0 || sse[g] < sse[best])) best = g;
        if (best < 0) {
            free(ws);
            qn_ridge_free(r);
            return qn_fail(e, QN_ERR_ARG, "ridge: no lambda on the grid gives a solvable system");
        }
        lambda = qn_ridge_lambda_grid[best];
        r->cv_rmse = sqrt(sse[best] / n);
    }
    ridge_gram(X, n, d, y, folds, -1, r->mu, r->sd, &ybar, G, c, z);
    if (!ridge_solve(G, c, d, lambda, L, r->w)) {
        free(ws);
        qn_ridge_free(r);
        return qn_fail(e, QN_ERR_ARG,
                       "ridge: X^T X + %g I is singular (collinear features need lambda > 0)", lambda);
    }
    r->b = ybar;
    r->lambda = lambda;
    free(ws);
    return QN_OK;
}

void qn_ridge_predict(const struct qn_ridge *r, const float *X, int n, float *y) {
    for (int i = 0; i < n; i++) y[i] = (float)ridge_row(r->w, r->b, r->mu, r->sd, X + (size_t)i * r->d, r->d);
}

// --- MLP: shape and parameters ---

void qn_mlp_cfg_default(struct qn_mlp_cfg *c) {
    *c = (struct qn_mlp_cfg){
        .hidden = {64, 64},
        .epochs = 300,
        .batch = 32,
        .lr = 1e-3f,
        .weight_decay = 1.0f,
        .patience = 40,
        .val_fraction = 0.15f,
        .ensemble = 1,
        .ridge_base = true,
        .seed = 1,
    };
}

static enum qn_status cfg_check(const struct qn_mlp_cfg *c, struct qn_error *e) {
    if (c->hidden[0] < 1 || c->hidden[0] > QN_MLP_MAX_WIDTH || c->hidden[1] < 0 ||
        c->hidden[1] > QN_MLP_MAX_WIDTH)
        return qn_fail(e, QN_ERR_ARG, "mlp: hidden widths %d, %d not in 1..%d (second may be 0)",
                       c->hidden[0], c->hidden[1], QN_MLP_MAX_WIDTH);
    if (c->epochs < 1 || c->batch < 1 || c->patience < 0)
        return qn_fail(e, QN_ERR_ARG, "mlp: epochs (%d) and batch (%d) must be >= 1, patience (%d) >= 0",
                       c->epochs, c->batch, c->patience);
    if (!(c->lr > 0 && isfinite(c->lr)) || !(c->weight_decay >= 0 && isfinite(c->weight_decay)))
        return qn_fail(e, QN_ERR_ARG, "mlp: lr (%g) must be > 0 and weight decay (%g) >= 0", c->lr,
                       c->weight_decay);
    if (!(c->val_fraction >= 0 && c->val_fraction <= 0.5f))
        return qn_fail(e, QN_ERR_ARG, "mlp: val_fraction %g not in [0, 0.5]", c->val_fraction);
    if (c->ensemble < 1 || c->ensemble > QN_MLP_MAX_ENSEMBLE)
        return qn_fail(e, QN_ERR_ARG, "mlp: ensemble %d not in 1..%d", c->ensemble, QN_MLP_MAX_ENSEMBLE);
    return QN_OK;
}

// Sets d, n_layers, width and n_params from the widths; false when too large.
static bool mlp_shape(struct qn_mlp *m, int d, const int *hidden, int n_hidden) {
    m->d = d;
    m->n_layers = n_hidden + 1;
    m->width[0] = d;
    for (int l = 0; l < n_hidden; l++) m->width[l + 1] = hidden[l];
    m->width[m->n_layers] = 1;
    size_t np = 0;
    for (int l = 0; l < m->n_layers; l++) np += (size_t)m->width[l + 1] * (m->width[l] + 1);
    m->n_params = np;
    return np <= ((size_t)1 << 31) / (size_t)m->ensemble;
}

static size_t layer_size(const struct qn_mlp *m, int l) {
    return (size_t)m->width[l + 1] * (m->width[l] + 1);
}

void qn_mlp_free(struct qn_mlp *m) {
    qn_free(m->params);
    free(m->base_w);
    memset(m, 0, sizeof(*m));
}

static void he_init(const struct qn_mlp *m, float *p, uint64_t *rng) {
    for (int l = 0; l < m->n_layers; l++) {
        const int ci = m->width[l], co = m->width[l + 1];
        const double sd = sqrt(2.0 / ci);
        for (size_t i = 0; i < (size_t)co * ci; i++) p[i] = (float)(sd * rng_normal(rng));
        memset(p + (size_t)co * ci, 0, (size_t)co * sizeof(float));
        p += layer_size(m, l);
    }
}

enum qn_status qn_mlp_init(struct qn_mlp *m, const struct qn_mlp_cfg *c, int d, struct qn_error *e) {
    memset(m, 0, sizeof(*m));
    enum qn_status st = cfg_check(c, e);
    if (st != QN_OK) return st;
    if (d < 1 || d > QN_MLP_MAX_D) return qn_fail(e, QN_ERR_ARG, "mlp: %d features not in 1..%d", d, QN_MLP_MAX_D);
    m->ensemble = c->ensemble;
    if (!mlp_shape(m, d, c->hidden, c->hidden[1] > 0 ? 2 : 1)) {
        memset(m, 0, sizeof(*m));
        return qn_fail(e, QN_ERR_ARG, "mlp: network too large (d = %d, hidden %d, %d)", d, c->hidden[0],
                       c->hidden[1]);
    }
    m->params = qn_alloc((size_t)m->ensemble * m->n_params * sizeof(float));
    if (!m->params) {
        memset(m, 0, sizeof(*m));
        return qn_fail(e, QN_ERR_NOMEM, "mlp: out of memory for %zu parameters", m->n_params);
    }
    m->cfg = *c;
    m->val_rmse = NAN;
    for (int k = 0; k < m->ensemble; k++) {
        uint64_t rng = rng_stream(c->seed, (uint64_t)k, 1);
        he_init(m, m->params + (size_t)k * m->n_params, &rng);
    }
    return QN_OK;
}

// --- MLP: forward and backward ---

// Activations of one member (parameters p) on B rows of x [B][d], each layer's output kept:
// act = [B][width[1]] [B][width[2]] ... [B][1]. Hidden layers are one GEMM each with the bias
// and ReLU fused; the output layer is the linear layer of src/nn.h. Returns the output [B].
static float *mlp_forward(const struct qn_mlp *m, const float *p, const float *x, size_t B, float *act) {
    const float *in = x;
    float *out = act;
    for (int l = 0; l < m->n_layers; l++) {
        const int ci = m->width[l], co = m->width[l + 1];
        const float *W = p, *b = p + (size_t)co * ci;
        if (l + 1 < m->n_layers) {
            const struct qn_epilogue ep = {.bias = b, .act = QN_ACT_RELU};
            qn_f32_gemm(false, true, B, (size_t)co, (size_t)ci, 1.0f, in, (size_t)ci, W, (size_t)ci, 0.0f, out,
                        (size_t)co, &ep);
        } else {
            qn_nn_pw_fwd(B, ci, co, in, W, (size_t)ci, b, out);
        }
        p += layer_size(m, l);
        in = out;
        out += B * (size_t)co;
    }
    return (float *)in;
}

static int mlp_max_width(const struct qn_mlp *m) {
    int w = 1;
    for (int l = 1; l < m->n_layers; l++) w = QN_MAX(w, m->width[l]);
    return w;
}

static size_t act_floats(const struct qn_mlp *m, size_t B) {
    size_t s = 0;
    for (int l = 1; l <= m->n_layers; l++) s += B * (size_t)m->width[l];
    return s;
}

size_t qn_mlp_grad_scratch(const struct qn_mlp *m, int B) {
    return act_floats(m, (size_t)B) + 2 * (size_t)B * (size_t)mlp_max_width(m);
}

float qn_mlp_loss_grad(const struct qn_mlp *m, int k, const float *X, const float *y, int B, float *grad,
                       float *scratch) {
    const size_t nb = (size_t)B;
    const float *p = m->params + (size_t)k * m->n_params;
    float *act = scratch;
    float *da = act + act_floats(m, nb), *db = da + nb * (size_t)mlp_max_width(m);
    const float *out = mlp_forward(m, p, X, nb, act);
    double loss = 0;
    for (size_t i = 0; i < nb; i++) {
        const float r = out[i] - y[i];
        loss += (double)r * r;
        da[i] = 2.0f * r / (float)B;  // d loss / d out
    }
    memset(grad, 0, m->n_params * sizeof(float));
    // Offsets of each layer's parameters, and of each layer's output in act.
    size_t poff[QN_MLP_MAX_LAYERS], aoff[QN_MLP_MAX_LAYERS];
    for (int l = 0; l < m->n_layers; l++) {
        poff[l] = l ? poff[l - 1] + layer_size(m, l - 1) : 0;
        aoff[l] = l ? aoff[l - 1] + nb * (size_t)m->width[l] : 0;
    }
    for (int l = m->n_layers - 1; l >= 0; l--) {
        const int ci = m->width[l], co = m->width[l + 1];
        const float *in = l == 0 ? X : act + aoff[l - 1];
        float *gW = grad + poff[l], *gb = gW + (size_t)co * ci;
        // dW += dY^T X, db += colsum dY, dX = dY W (the input gradient is not needed at layer 0).
        qn_nn_pw_bwd(nb, ci, co, in, p + poff[l], (size_t)ci, da, gW, gb, l == 0 ? NULL : db);
        if (l == 0) break;
        // ReLU backward from the stored output h = relu(pre): h > 0 exactly where pre > 0.
        const size_t cnt = nb * (size_t)ci;
        for (size_t i = 0; i < cnt; i++) db[i] = in[i] > 0.0f ? db[i] : 0.0f;
        float *t = da;
        da = db, db = t;
    }
    return (float)(loss / (double)B);
}

// --- MLP: training ---

// Four partial sums: a single chain of dependent adds took a third of the prediction time.
static double mlp_base_row(const struct qn_mlp *m, const float *x) {
    const double *w = m->base_w;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int j = 0;
    for (; j + 4 <= m->d; j += 4) {
        s0 += w[j] * x[j], s1 += w[j + 1] * x[j + 1];
        s2 += w[j + 2] * x[j + 2], s3 += w[j + 3] * x[j + 3];
    }
    for (; j < m->d; j++) s0 += w[j] * x[j];
    return m->base_b + ((s0 + s1) + (s2 + s3));
}

#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8f

// One AdamW step at step count t >= 1 on one member's parameters.
static void adamw_step(const struct qn_mlp *m, float *p, const float *g, float *mom, float *vel, int t,
                       float lr, float wd) {
    const float c1 = (float)(1.0 / (1.0 - pow(ADAM_B1, t))), c2 = (float)(1.0 / (1.0 - pow(ADAM_B2, t)));
    const float b1 = (float)ADAM_B1, b2 = (float)ADAM_B2, decay = 1.0f - lr * wd;
    size_t o = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const size_t nw = (size_t)m->width[l + 1] * m->width[l], nl = layer_size(m, l);
        for (size_t i = o; i < o + nl; i++) {
            mom[i] = b1 * mom[i] + (1.0f - b1) * g[i];
            vel[i] = b2 * vel[i] + (1.0f - b2) * g[i] * g[i];
            const float upd = (mom[i] * c1) / (sqrtf(vel[i] * c2) + ADAM_EPS);
            p[i] = (i < o + nw ? p[i] * decay : p[i]) - lr * upd;
        }
        o += nl;
    }
}

// Mean squared error of member parameters p over rows idx[0..cnt) of (Xs, ys), in chunks of
// `chunk` rows gathered into bx [chunk][d].
static double mlp_mse(const struct qn_mlp *m, const float *p, const float *Xs, const float *ys, const int *idx,
                      size_t cnt, size_t chunk, float *bx, float *act) {
    const size_t D = (size_t)m->d;
    double s = 0;
    for (size_t r0 = 0; r0 < cnt; r0 += chunk) {
        const size_t rows = QN_MIN(chunk, cnt - r0);
        for (size_t i = 0; i < rows; i++) memcpy(bx + i * D, Xs + (size_t)idx[r0 + i] * D, D * sizeof(float));
        const float *out = mlp_forward(m, p, bx, rows, act);
        for (size_t i = 0; i < rows; i++) {
            const double t = (double)out[i] - ys[idx[r0 + i]];
            s += t * t;
        }
    }
    return cnt ? s / (double)cnt : 0.0;
}

// Maps a net trained on z = (x - mu) / sd with standardized targets to raw features and
// target units: W0'[o][i] = W0[o][i] / sd[i] (0 for constant features, which were always 0
// in training), b0'[o] = b0[o] - sum_i W0'[o][i] mu[i]; last layer scaled by ysd, + ymu.
static void mlp_fold(const struct qn_mlp *m, float *p, const double *mu, const double *sd, const bool *konst,
                     double ymu, double ysd) {
    const int d = m->d, h = m->width[1];
    for (int o = 0; o < h; o++) {
        float *w = p + (size_t)o * d;
        double b = p[(size_t)h * d + o];
        for (int i = 0; i < d; i++) {
            const double wi = konst[i] ? 0.0 : w[i] / sd[i];
            b -= wi * mu[i];
            w[i] = (float)wi;
        }
        p[(size_t)h * d + o] = (float)b;
    }
    float *pl = p;
    for (int l = 0; l + 1 < m->n_layers; l++) pl += layer_size(m, l);
    const int ci = m->width[m->n_layers - 1];  // output layer: W [1][ci], b [1]
    for (int i = 0; i < ci; i++) pl[i] = (float)(pl[i] * ysd);
    pl[ci] = (float)(pl[ci] * ysd + ymu);
}

enum qn_status qn_mlp_fit(struct qn_mlp *m, const struct qn_mlp_cfg *c, const float *X, int n, int d,
                          const float *y, struct qn_error *e) {
    memset(m, 0, sizeof(*m));
    struct qn_mlp_cfg cfg;
    if (c)
        cfg = *c;
    else
        qn_mlp_cfg_default(&cfg);
    if (!X || !y || n < 2) return qn_fail(e, QN_ERR_ARG, "mlp: need n >= 2 training rows (n = %d)", n);
    if (cfg.val_fraction > 0 && n < 4)
        return qn_fail(e, QN_ERR_ARG, "mlp: a validation split needs n >= 4 rows (n = %d)", n);
    enum qn_status st = qn_mlp_init(m, &cfg, d, e);
    if (st != QN_OK) return st;
    const size_t N = (size_t)n, D = (size_t)d;
    if (!all_finite(X, N * D) || !all_finite(y, N)) {
        qn_mlp_free(m);
        return qn_fail(e, QN_ERR_ARG, "mlp: features or targets are not finite");
    }
    float *resid = NULL;  // targets of the nets: y - base(x)
    if (cfg.ridge_base) {
        struct qn_ridge r;
        st = qn_ridge_fit(&r, X, n, d, y, n >= 2 * QN_RIDGE_CV_FOLDS ? -1.0 : 1.0, e);
        resid = malloc(N * sizeof(float));
        m->base_w = malloc(D * sizeof(double));
        if (st != QN_OK || !resid || !m->base_w) {
            qn_ridge_free(&r);
            free(resid);
            qn_mlp_free(m);
            return st != QN_OK ? st : qn_fail(e, QN_ERR_NOMEM, "mlp: out of memory (d = %d)", d);
        }
        // Folded to raw features: w' = w / sd, b' = b - w' . mu.
        m->base_b = r.b;
        for (size_t j = 0; j < D; j++) {
            m->base_w[j] = r.w[j] / r.sd[j];
            m->base_b -= m->base_w[j] * r.mu[j];
        }
        m->base_lambda = r.lambda;
        qn_ridge_free(&r);
        for (size_t i = 0; i < N; i++) resid[i] = (float)(y[i] - mlp_base_row(m, X + i * D));
        y = resid;
    }
    size_t n_val = 0;
    if (cfg.val_fraction > 0)
        n_val = (size_t)QN_MIN(QN_MAX(lround(cfg.val_fraction * n), 1L), (long)n - 2);
    const size_t n_tr = N - n_val;
    // Validation runs in batch-sized chunks too: GEMMs this small stay on one thread, where
    // a fork/join per layer would cost more than the arithmetic.
    const size_t B = QN_MIN((size_t)cfg.batch, n_tr), chunk = QN_MAX(B, (size_t)8);
    const size_t np = m->n_params;
    // Work memory: standardized data, gradient + Adam moments + best weights, a gathered
    // batch, forward/backward scratch; doubles for the standardization.
    const size_t nf = N * D + N + 4 * np + chunk * D + chunk + qn_mlp_grad_scratch(m, (int)chunk);
    float *wk = qn_alloc(nf * sizeof(float));
    int *idx = malloc(N * sizeof(int));
    double *mu = malloc(2 * D * sizeof(double));
    bool *konst = malloc(D * sizeof(bool));
    if (!wk || !idx || !mu || !konst) {
        qn_free(wk), free(idx), free(mu), free(konst), free(resid);
        qn_mlp_free(m);
        return qn_fail(e, QN_ERR_NOMEM, "mlp: out of memory (n = %d, d = %d)", n, d);
    }
    float *Xs = wk, *ys = Xs + N * D, *grad = ys + N, *mom = grad + np, *vel = mom + np, *best = vel + np;
    float *bx = best + np, *by = bx + chunk * D, *scr = by + chunk;
    double *sd = mu + D;

    // Standardize (population statistics, in double).
    for (size_t j = 0; j < D; j++) mu[j] = sd[j] = 0;
    double ymu = 0, ysd = 0;
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < D; j++) mu[j] += X[i * D + j];
        ymu += y[i];
    }
    for (size_t j = 0; j < D; j++) mu[j] /= n;
    ymu /= n;
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < D; j++) {
            const double t = X[i * D + j] - mu[j];
            sd[j] += t * t;
        }
        ysd += (y[i] - ymu) * (y[i] - ymu);
    }
    for (size_t j = 0; j < D; j++) {
        sd[j] = sqrt(sd[j] / n);
        konst[j] = !(sd[j] > 1e-12 * (1.0 + fabs(mu[j])));
        if (konst[j]) sd[j] = 1.0;
    }
    ysd = sqrt(ysd / n);
    if (!(ysd > 1e-12 * (1.0 + fabs(ymu)))) ysd = 1.0;
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < D; j++) Xs[i * D + j] = (float)((X[i * D + j] - mu[j]) / sd[j]);
        ys[i] = (float)((y[i] - ymu) / ysd);
    }

    double sum_best_epoch = 0, sum_val_rmse = 0;
    bool diverged = false;
    for (int k = 0; k < m->ensemble && !diverged; k++) {
        float *p = m->params + (size_t)k * np;
        uint64_t rng = rng_stream(cfg.seed, (uint64_t)k, 2);
        for (size_t i = 0; i < N; i++) idx[i] = (int)i;
        shuffle(idx, N, &rng);  // idx[0 .. n_val): this member's validation rows
        int *tr = idx + n_val;
        memset(mom, 0, 2 * np * sizeof(float));
        double best_mse = INFINITY;
        int best_ep = 0, ep = 0, t = 0;
        for (ep = 1; ep <= cfg.epochs; ep++) {
            shuffle(tr, n_tr, &rng);
            for (size_t b0 = 0; b0 < n_tr; b0 += B) {
                const size_t rows = QN_MIN(B, n_tr - b0);
                for (size_t i = 0; i < rows; i++) {
                    memcpy(bx + i * D, Xs + (size_t)tr[b0 + i] * D, D * sizeof(float));
                    by[i] = ys[tr[b0 + i]];
                }
                qn_mlp_loss_grad(m, k, bx, by, (int)rows, grad, scr);
                adamw_step(m, p, grad, mom, vel, ++t, cfg.lr, cfg.weight_decay);
            }
            if (n_val) {
                const double mse = mlp_mse(m, p, Xs, ys, idx, n_val, chunk, bx, scr);
                if (mse < best_mse) {
                    best_mse = mse, best_ep = ep;
                    memcpy(best, p, np * sizeof(float));
                } else if (cfg.patience && ep - best_ep >= cfg.patience) {
                    break;
                }
            }
        }
        const int ran = QN_MIN(ep, cfg.epochs);
        m->epochs_run += ran;
        if (n_val) {
            if (best_ep == 0) {  // the validation loss was never finite
                diverged = true;
                break;
            }
            memcpy(p, best, np * sizeof(float));
            sum_best_epoch += best_ep;
            sum_val_rmse += sqrt(best_mse) * ysd;
        } else {
            sum_best_epoch += ran;
        }
        mlp_fold(m, p, mu, sd, konst, ymu, ysd);
    }
    qn_free(wk), free(idx), free(mu), free(konst), free(resid);
    if (diverged || !all_finite(m->params, (size_t)m->ensemble * np)) {
        qn_mlp_free(m);
        return qn_fail(e, QN_ERR_ARG, "mlp: training diverged (lr %g too high?)", cfg.lr);
    }
    m->best_epoch = (int)lround(sum_best_epoch / m->ensemble);
    m->val_rmse = n_val ? sum_val_rmse / m->ensemble : NAN;
    return QN_OK;
}

// --- MLP: batched prediction ---

#define PREDICT_ROWS 256
// The GEMM takes another kernel (another summation order) for M <= 4 rows; every chunk
// has at least this many rows so a row's prediction does not depend on its batch.
#define PREDICT_MIN_ROWS 5

static _Thread_local float *tl_pred;
static _Thread_local size_t tl_pred_cap;

void qn_mlp_predict(const struct qn_mlp *m, const float *X, int n, float *y) {
    if (n <= 0) return;
    const size_t N = (size_t)n, D = (size_t)m->d, R = PREDICT_ROWS;
    const size_t need = act_floats(m, R) + R + PREDICT_MIN_ROWS * (1 + D);
    if (tl_pred_cap < need) {
        qn_free(tl_pred);
        tl_pred = qn_alloc(need * sizeof(float));
        QN_ASSERT(tl_pred);
        tl_pred_cap = need;
    }
    float *act = tl_pred, *acc = act + act_floats(m, R), *pad = acc + R, *pad_y = pad + PREDICT_MIN_ROWS * D;
    const float *src = X;
    float *dst = y;
    size_t total = N;
    if (N < PREDICT_MIN_ROWS) {  // zero rows after the real ones
        memset(pad, 0, PREDICT_MIN_ROWS * D * sizeof(float));
        memcpy(pad, X, N * D * sizeof(float));
        src = pad, dst = pad_y, total = PREDICT_MIN_ROWS;
    }
    for (size_t r0 = 0; r0 < total; r0 += R) {
        size_t s = r0, rows = QN_MIN(R, total - r0);
        if (rows < PREDICT_MIN_ROWS) s = total - PREDICT_MIN_ROWS, rows = PREDICT_MIN_ROWS;  // overlap
        for (int k = 0; k < m->ensemble; k++) {
            const float *out = mlp_forward(m, m->params + (size_t)k * m->n_params, src + s * D, rows, act);
            if (m->ensemble == 1) {
                memcpy(dst + s, out, rows * sizeof(float));
            } else if (k == 0) {
                memcpy(acc, out, rows * sizeof(float));
            } else {
                for (size_t i = 0; i < rows; i++) acc[i] += out[i];
            }
        }
        if (m->ensemble > 1)
            for (size_t i = 0; i < rows; i++) dst[s + i] = acc[i] / (float)m->ensemble;
        if (m->base_w)
            for (size_t i = 0; i < rows; i++)
                dst[s + i] = (float)(mlp_base_row(m, src + (s + i) * D) + (double)dst[s + i]);
    }
    if (N < PREDICT_MIN_ROWS) memcpy(y, pad_y, N * sizeof(float));
}

// --- JSON: writers ---

// Numbers are written as raw text so they read back exactly: cJSON's own printing keeps a
// 15-digit form when it is within an epsilon of the value (not always the same double), and
// a float widened to double needs 17 digits where 9 identify it.

// Shortest of 15, 16, 17 significant digits that strtod maps back to v; "null" if not finite.
static void fmt_double(char *buf, size_t len, double v) {
    if (!isfinite(v)) {
        snprintf(buf, len, "null");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

cJSON *qn_json_exact(double v) {
    char buf[40];
    fmt_double(buf, sizeof(buf), v);
    return cJSON_CreateRaw(buf);
}

// 9 significant digits identify a float, and decimal -> double -> float rounds back to it
// (the 9-digit decimal lies far inside the float's rounding interval).
static cJSON *raw_float(float v) {
    char buf[32];
    if (isfinite(v))
        snprintf(buf, sizeof(buf), "%.9g", (double)v);
    else
        snprintf(buf, sizeof(buf), "null");  // never written by a fit; rejected by the reader
    return cJSON_CreateRaw(buf);
}

static bool add_item(cJSON *o, const char *k, cJSON *item) {
    if (!item) return false;
    if (!cJSON_AddItemToObject(o, k, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static bool add_num(cJSON *o, const char *k, double v) { return add_item(o, k, qn_json_exact(v)); }

// Array of n numbers from doubles (dd) or floats (ff).
static cJSON *num_array(const double *dd, const float *ff, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *x = dd ? qn_json_exact(dd[i]) : raw_float(ff[i]);
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            cJSON_Delete(a);
            a = NULL;
        }
    }
    return a;
}

cJSON *qn_pred_quality_to_json(const struct qn_pred_quality *q) {
    cJSON *j = cJSON_CreateObject();
    // NaN is written as null, which the reader takes back as NaN.
    bool ok = j && add_num(j, "n", q->n) && add_num(j, "kendall_tau", q->kendall_tau) &&
              add_num(j, "spearman", q->spearman) && add_num(j, "mae", q->mae) && add_num(j, "rmse", q->rmse);
    if (!ok) cJSON_Delete(j);
    return ok ? j : NULL;
}

static bool add_quality(cJSON *j, const struct qn_pred_quality *q) {
    return !q || add_item(j, "quality", qn_pred_quality_to_json(q));
}

cJSON *qn_ridge_to_json(const struct qn_ridge *r, const struct qn_pred_quality *q) {
    cJSON *j = cJSON_CreateObject();
    bool ok = j && cJSON_AddStringToObject(j, "kind", "ridge") && add_num(j, "d", r->d) &&
              add_num(j, "lambda", r->lambda) && add_num(j, "cv_rmse", r->cv_rmse) &&
              add_num(j, "intercept", r->b) && add_item(j, "w", num_array(r->w, NULL, (size_t)r->d)) &&
              add_item(j, "mu", num_array(r->mu, NULL, (size_t)r->d)) &&
              add_item(j, "sd", num_array(r->sd, NULL, (size_t)r->d)) && add_quality(j, q);
    if (!ok) cJSON_Delete(j);
    return ok ? j : NULL;
}

cJSON *qn_mlp_to_json(const struct qn_mlp *m, const struct qn_pred_quality *q) {
    cJSON *j = cJSON_CreateObject(), *members = NULL, *cfg = NULL, *tr = NULL;
    bool ok = j && cJSON_AddStringToObject(j, "kind", "mlp") && add_num(j, "d", m->d) &&
              add_item(j, "layers", cJSON_CreateIntArray(m->width, m->n_layers + 1)) &&
              cJSON_AddStringToObject(j, "activation", "relu") && add_num(j, "ensemble", m->ensemble) &&
              add_item(j, "members", members = cJSON_CreateArray());
    for (int k = 0; ok && k < m->ensemble; k++) {
        cJSON *a = num_array(NULL, m->params + (size_t)k * m->n_params, m->n_params);
        ok = a && cJSON_AddItemToArray(members, a);
        if (!ok) cJSON_Delete(a);
    }
    if (ok && m->base_w) {
        cJSON *base = cJSON_CreateObject();
        ok = add_item(j, "base", base) && add_num(base, "lambda", m->base_lambda) &&
             add_num(base, "intercept", m->base_b) && add_item(base, "w", num_array(m->base_w, NULL, (size_t)m->d));
    } else if (ok) {
        ok = cJSON_AddNullToObject(j, "base") != NULL;
    }
    ok = ok && add_item(j, "train", tr = cJSON_CreateObject()) && add_num(tr, "epochs_run", m->epochs_run) &&
         add_num(tr, "best_epoch", m->best_epoch) && add_num(tr, "val_rmse", m->val_rmse);
    const struct qn_mlp_cfg *c = &m->cfg;
    char seed[24];
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)c->seed);  // 64 bits: exact as a string
    ok = ok && add_item(j, "cfg", cfg = cJSON_CreateObject()) &&
         add_item(cfg, "hidden", cJSON_CreateIntArray(c->hidden, 2)) && add_num(cfg, "epochs", c->epochs) &&
         add_num(cfg, "batch", c->batch) && add_num(cfg, "lr", c->lr) &&
         add_num(cfg, "weight_decay", c->weight_decay) && add_num(cfg, "patience", c->patience) &&
         add_num(cfg, "val_fraction", c->val_fraction) && add_num(cfg, "ensemble", c->ensemble) &&
         cJSON_AddBoolToObject(cfg, "ridge_base", c->ridge_base) &&
         cJSON_AddStringToObject(cfg, "seed", seed) && add_quality(j, q);
    if (!ok) cJSON_Delete(j);
    return ok ? j : NULL;
}

// --- JSON: readers ---

static const cJSON *jget(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

// Number member k in [lo, hi] (integral if `integer`); null reads as NaN when nan_ok.
static enum qn_status jnum(const cJSON *o, const char *k, double lo, double hi, bool integer, bool nan_ok,
                           double *out, const char *what, struct qn_error *e) {
    const cJSON *v = jget(o, k);
    if (nan_ok && cJSON_IsNull(v)) {
        *out = NAN;
        return QN_OK;
    }
    if (!cJSON_IsNumber(v))
        return qn_fail(e, QN_ERR_FORMAT, "%s: \"%s\" is %s, expected a number", what, k,
                       v ? "not a number" : "missing");
    const double x = v->valuedouble;
    if (!(x >= lo && x <= hi) || (integer && x != floor(x)))
        return qn_fail(e, QN_ERR_FORMAT, "%s: \"%s\" = %g is not %s in [%g, %g]", what, k, x,
                       integer ? "an integer" : "a number", lo, hi);
    *out = x;
    return QN_OK;
}

// Array member k of exactly n finite numbers, into doubles (dd) or floats (ff).
static enum qn_status jarray(const cJSON *a, const char *k, size_t n, double *dd, float *ff, const char *what,
                             struct qn_error *e) {
    if (!cJSON_IsArray(a)) return qn_fail(e, QN_ERR_FORMAT, "%s: \"%s\" is not an array", what, k);
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        if (i == n) break;
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || (ff && !(fabs(v->valuedouble) <= FLT_MAX)))
            return qn_fail(e, QN_ERR_FORMAT, "%s: \"%s\"[%zu] is not a finite number", what, k, i);
        if (dd) dd[i] = v->valuedouble;
        if (ff) ff[i] = (float)v->valuedouble;
        i++;
    }
    if (i != n || v)
        return qn_fail(e, QN_ERR_FORMAT, "%s: \"%s\" has %d entries, expected %zu", what, k, cJSON_GetArraySize(a),
                       n);
    return QN_OK;
}

static enum qn_status jkind(const cJSON *j, const char *kind, const char *what, struct qn_error *e) {
    if (!j) return qn_fail(e, QN_ERR_FORMAT, "%s: not valid JSON", what);
    if (!cJSON_IsObject(j)) return qn_fail(e, QN_ERR_FORMAT, "%s: a predictor must be a JSON object", what);
    const cJSON *k = jget(j, "kind");
    if (!cJSON_IsString(k) || strcmp(k->valuestring, kind) != 0)
        return qn_fail(e, QN_ERR_FORMAT, "%s: \"kind\" is %s%s%s, expected \"%s\"", what,
                       cJSON_IsString(k) ? "\"" : "", cJSON_IsString(k) ? k->valuestring : "missing",
                       cJSON_IsString(k) ? "\"" : "", kind);
    return QN_OK;
}

#define TRY(x)                          \
    do {                                \
        if ((st = (x)) != QN_OK) goto fail; \
    } while (0)

enum qn_status qn_pred_quality_from_json(struct qn_pred_quality *q, const cJSON *j, const char *what,
                                         struct qn_error *e) {
    *q = (struct qn_pred_quality){0, NAN, NAN, NAN, NAN};
    if (!cJSON_IsObject(j)) return qn_fail(e, QN_ERR_FORMAT, "%s: \"quality\" is not an object", what);
    enum qn_status st;
    double n, tau, rho, mae, rmse;
    TRY(jnum(j, "n", 0, 2147483647.0, true, false, &n, what, e));
    TRY(jnum(j, "kendall_tau", -1, 1, false, true, &tau, what, e));
    TRY(jnum(j, "spearman", -1, 1, false, true, &rho, what, e));
    TRY(jnum(j, "mae", 0, INFINITY, false, true, &mae, what, e));
    TRY(jnum(j, "rmse", 0, INFINITY, false, true, &rmse, what, e));
    *q = (struct qn_pred_quality){(int)n, tau, rho, mae, rmse};
    return QN_OK;
fail:
    return st;
}

static enum qn_status read_quality(struct qn_pred_quality *q, const cJSON *j, const char *what,
                                   struct qn_error *e) {
    if (!q) return QN_OK;
    const cJSON *jq = jget(j, "quality");
    if (!jq) {
        *q = (struct qn_pred_quality){0, NAN, NAN, NAN, NAN};
        return QN_OK;
    }
    return qn_pred_quality_from_json(q, jq, what, e);
}

enum qn_status qn_ridge_from_json(struct qn_ridge *r, struct qn_pred_quality *q, const cJSON *j,
                                  const char *what, struct qn_error *e) {
    memset(r, 0, sizeof(*r));
    if (q) *q = (struct qn_pred_quality){0, NAN, NAN, NAN, NAN};
    enum qn_status st;
    double d, lambda, cv, b;
    TRY(jkind(j, "ridge", what, e));
    TRY(jnum(j, "d", 1, QN_MLP_MAX_D, true, false, &d, what, e));
    TRY(jnum(j, "lambda", 0, INFINITY, false, false, &lambda, what, e));
    TRY(jnum(j, "cv_rmse", 0, INFINITY, false, true, &cv, what, e));
    TRY(jnum(j, "intercept", -INFINITY, INFINITY, false, false, &b, what, e));
    if (!isfinite(lambda) || !isfinite(b)) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: \"lambda\" and \"intercept\" must be finite", what);
        goto fail;
    }
    // Shapes are checked before allocating, so a hostile "d" cannot make us allocate.
    for (int a = 0; a < 3; a++) {
        const char *k = a == 0 ? "w" : a == 1 ? "mu" : "sd";
        if (!cJSON_IsArray(jget(j, k)) || cJSON_GetArraySize(jget(j, k)) != (int)d) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: \"%s\" is not an array of d = %d numbers", what, k, (int)d);
            goto fail;
        }
    }
    if (ridge_alloc(r, (int)d) != QN_OK) {
        st = qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    TRY(jarray(jget(j, "w"), "w", r->d, r->w, NULL, what, e));
    TRY(jarray(jget(j, "mu"), "mu", r->d, r->mu, NULL, what, e));
    TRY(jarray(jget(j, "sd"), "sd", r->d, r->sd, NULL, what, e));
    for (int i = 0; i < r->d; i++)
        if (!(r->sd[i] > 0)) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: \"sd\"[%d] = %g must be > 0", what, i, r->sd[i]);
            goto fail;
        }
    r->lambda = lambda, r->cv_rmse = cv, r->b = b;
    TRY(read_quality(q, j, what, e));
    return QN_OK;
fail:
    qn_ridge_free(r);
    return st;
}

enum qn_status qn_mlp_from_json(struct qn_mlp *m, struct qn_pred_quality *q, const cJSON *j, const char *what,
                                struct qn_error *e) {
    memset(m, 0, sizeof(*m));
    if (q) *q = (struct qn_pred_quality){0, NAN, NAN, NAN, NAN};
    enum qn_status st;
    double d, ens, v;
    TRY(jkind(j, "mlp", what, e));
    TRY(jnum(j, "d", 1, QN_MLP_MAX_D, true, false, &d, what, e));
    TRY(jnum(j, "ensemble", 1, QN_MLP_MAX_ENSEMBLE, true, false, &ens, what, e));
    const cJSON *act = jget(j, "activation");
    if (!cJSON_IsString(act) || strcmp(act->valuestring, "relu") != 0) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: \"activation\" must be \"relu\"", what);
        goto fail;
    }
    const cJSON *layers = jget(j, "layers");
    const int nl = cJSON_IsArray(layers) ? cJSON_GetArraySize(layers) : 0;
    if (nl < 3 || nl > QN_MLP_MAX_LAYERS + 1) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: \"layers\" must be an array of 3 or 4 widths [d, h1, (h2,) 1]", what);
        goto fail;
    }
    double wd[QN_MLP_MAX_LAYERS + 1];
    TRY(jarray(layers, "layers", (size_t)nl, wd, NULL, what, e));
    int hidden[2] = {0, 0};
    for (int l = 1; l + 1 < nl; l++) {
        if (!(wd[l] >= 1 && wd[l] <= QN_MLP_MAX_WIDTH && wd[l] == floor(wd[l]))) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: \"layers\"[%d] = %g is not a width in 1..%d", what, l, wd[l],
                         QN_MLP_MAX_WIDTH);
            goto fail;
        }
        hidden[l - 1] = (int)wd[l];
    }
    if (wd[0] != d || wd[nl - 1] != 1) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: \"layers\" must start with d = %d and end with 1", what, (int)d);
        goto fail;
    }
    m->ensemble = (int)ens;
    if (!mlp_shape(m, (int)d, hidden, nl - 2)) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: network too large", what);
        goto fail;
    }
    const cJSON *members = jget(j, "members");
    if (!cJSON_IsArray(members) || cJSON_GetArraySize(members) != m->ensemble) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: \"members\" must be an array of ensemble = %d parameter arrays", what,
                     m->ensemble);
        goto fail;
    }
    const cJSON *mem;
    cJSON_ArrayForEach(mem, members) {  // sizes first: allocate only what the file holds
        if (!cJSON_IsArray(mem) || (size_t)cJSON_GetArraySize(mem) != m->n_params) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: each of \"members\" must hold %zu parameters", what, m->n_params);
            goto fail;
        }
    }
    m->params = qn_alloc((size_t)m->ensemble * m->n_params * sizeof(float));
    if (!m->params) {
        st = qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    int k = 0;
    cJSON_ArrayForEach(mem, members) {
        TRY(jarray(mem, "members", m->n_params, NULL, m->params + (size_t)k * m->n_params, what, e));
        k++;
    }
    const cJSON *base = jget(j, "base");
    if (!base || (!cJSON_IsNull(base) && !cJSON_IsObject(base))) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: \"base\" must be null or an object", what);
        goto fail;
    }
    if (cJSON_IsObject(base)) {
        TRY(jnum(base, "lambda", 0, INFINITY, false, false, &m->base_lambda, what, e));
        TRY(jnum(base, "intercept", -INFINITY, INFINITY, false, false, &m->base_b, what, e));
        const cJSON *bw = jget(base, "w");
        if (!isfinite(m->base_b) || !cJSON_IsArray(bw) || cJSON_GetArraySize(bw) != m->d) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: \"base\" needs a finite intercept and d = %d weights", what, m->d);
            goto fail;
        }
        m->base_w = malloc((size_t)m->d * sizeof(double));
        if (!m->base_w) {
            st = qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", what);
            goto fail;
        }
        TRY(jarray(bw, "base.w", (size_t)m->d, m->base_w, NULL, what, e));
    }
    // Provenance: optional, but well-formed when present.
    m->val_rmse = NAN;
    const cJSON *tr = jget(j, "train");
    if (tr) {
        if (!cJSON_IsObject(tr)) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: \"train\" is not an object", what);
            goto fail;
        }
        TRY(jnum(tr, "epochs_run", 0, 2147483647.0, true, false, &v, what, e));
        m->epochs_run = (int)v;
        TRY(jnum(tr, "best_epoch", 0, 2147483647.0, true, false, &v, what, e));
        m->best_epoch = (int)v;
        TRY(jnum(tr, "val_rmse", 0, INFINITY, false, true, &m->val_rmse, what, e));
    }
    const cJSON *cfg = jget(j, "cfg");
    if (cfg) {
        struct qn_mlp_cfg *c = &m->cfg;
        if (!cJSON_IsObject(cfg)) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: \"cfg\" is not an object", what);
            goto fail;
        }
        double h[2];
        TRY(jarray(jget(cfg, "hidden"), "cfg.hidden", 2, h, NULL, what, e));
        c->hidden[0] = (int)QN_MIN(QN_MAX(h[0], 0), QN_MLP_MAX_WIDTH);
        c->hidden[1] = (int)QN_MIN(QN_MAX(h[1], 0), QN_MLP_MAX_WIDTH);
        TRY(jnum(cfg, "epochs", 0, 2147483647.0, true, false, &v, what, e));
        c->epochs = (int)v;
        TRY(jnum(cfg, "batch", 0, 2147483647.0, true, false, &v, what, e));
        c->batch = (int)v;
        TRY(jnum(cfg, "lr", 0, 1e30, false, false, &v, what, e));
        c->lr = (float)v;
        TRY(jnum(cfg, "weight_decay", 0, 1e30, false, false, &v, what, e));
        c->weight_decay = (float)v;
        TRY(jnum(cfg, "patience", 0, 2147483647.0, true, false, &v, what, e));
        c->patience = (int)v;
        TRY(jnum(cfg, "val_fraction", 0, 1, false, false, &v, what, e));
        c->val_fraction = (float)v;
        TRY(jnum(cfg, "ensemble", 1, QN_MLP_MAX_ENSEMBLE, true, false, &v, what, e));
        c->ensemble = (int)v;
        const cJSON *rb = jget(cfg, "ridge_base");
        if (!cJSON_IsBool(rb)) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: \"cfg\".\"ridge_base\" must be true or false", what);
            goto fail;
        }
        c->ridge_base = cJSON_IsTrue(rb);
        const cJSON *s = jget(cfg, "seed");
        char *end = NULL;
        const bool digits = cJSON_IsString(s) && s->valuestring[0] >= '0' && s->valuestring[0] <= '9';
        const unsigned long long sv = digits ? strtoull(s->valuestring, &end, 10) : 0;
        if (!digits || *end) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: \"cfg\".\"seed\" must be a decimal string", what);
            goto fail;
        }
        c->seed = sv;
    } else {
        m->cfg.ensemble = m->ensemble;
        m->cfg.hidden[0] = hidden[0], m->cfg.hidden[1] = hidden[1];
    }
    TRY(read_quality(q, j, what, e));
    return QN_OK;
fail:
    qn_mlp_free(m);
    return st;
}
