// NSGA-II for mixed genomes (nsga2.h).
#include "nsga2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pareto.h"

void qn_nsga2_cfg_default(struct qn_nsga2_cfg *c) {
    memset(c, 0, sizeof(*c));
    c->pop = 100;
    c->gen = 100;
    c->seed = 1;
    c->sbx_prob = 0.9;
    c->sbx_eta = 15;
    c->sbx_var_prob = 0.5;
    c->pm_eta = 20;
    c->pm_prob = 0;
    c->int_cx = QN_NSGA2_CX_UNIFORM;
    c->int_cx_prob = 0.9;
    c->int_mut_prob = 0;
    c->dedup = true;
    c->dedup_tries = 10;
}

// --- random numbers (xorshift64*, seeded through splitmix64) ---

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_u64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

// Uniform in [0, 1) with 53 random bits.
static double rng_u01(uint64_t *s) { return (double)(rng_u64(s) >> 11) * 0x1.0p-53; }

// Uniform integer in [0, n), n >= 1 (Lemire's multiply-shift with rejection: unbiased).
static uint64_t rng_below(uint64_t *s, uint64_t n) {
    unsigned __int128 m = (unsigned __int128)rng_u64(s) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t t = -n % n;
        while (low < t) m = (unsigned __int128)rng_u64(s) * n, low = (uint64_t)m;
    }
    return (uint64_t)(m >> 64);
}

// --- genomes ---

static void sample_genome(struct qn_nsga2 *s, double *x) {
    for (int v = 0; v < s->n_var; v++) {
        const struct qn_gene *gn = &s->prob.genes[v];
        if (gn->kind == QN_GENE_INT) x[v] = gn->lo + (double)rng_below(&s->rng, (uint64_t)(gn->hi - gn->lo) + 1);
        else x[v] = gn->lo + (gn->hi - gn->lo) * rng_u01(&s->rng);
    }
}

// Bit pattern of a gene for hashing / equality (+0 and -0 are one value).
static uint64_t gene_bits(double v) {
    uint64_t b;
    if (v == 0) v = 0;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static uint64_t genome_hash(const double *x, int n) {
    // multiply-rotate per gene (one multiply on the dependency chain), splitmix finalizer
    uint64_t h = 0x84222325cbf29ce4ull;
    for (int v = 0; v < n; v++) {
        h = (h ^ gene_bits(x[v])) * 0x9e3779b97f4a7c15ull;
        h = (h << 29) | (h >> 35);
    }
    return splitmix64(&h);
}

static bool genome_equal(const double *a, const double *b, int n) {
    for (int v = 0; v < n; v++)
        if (!(a[v] == b[v])) return false;
    return true;
}

// --- duplicate table: open addressing over row indices of the current x buffer ---

static void hash_clear(struct qn_nsga2 *s) {
    for (int i = 0; i < s->hash_cap; i++) s->hash[i] = -1;
}

// Returns true when a genome equal to x is present; otherwise, if row >= 0, records row (whose
// genome is x) and returns false.
static bool hash_probe(struct qn_nsga2 *s, const double *rows, const double *x, int row) {
    const int n = s->n_var;
    size_t mask = (size_t)s->hash_cap - 1, h = (size_t)genome_hash(x, n) & mask;
    for (; s->hash[h] >= 0; h = (h + 1) & mask)
        if (genome_equal(rows + (size_t)s->hash[h] * n, x, n)) return true;
    if (row >= 0) s->hash[h] = row;
    return false;
}

// --- variation ---

// SBX on one gene (Deb's nsga2-gnuwin code, the bounded form pymoo uses too).
static void sbx_gene(struct qn_nsga2 *s, double lo, double hi, double *a, double *b) {
    double y1 = QN_MIN(*a, *b), y2 = QN_MAX(*a, *b);
    if (!(y2 - y1 > 1e-14)) return;
    const double eta = s->cfg.sbx_eta, r = rng_u01(&s->rng);
    double beta = 1.0 + 2.0 * (y1 - lo) / (y2 - y1), alpha = 2.0 - pow(beta, -(eta + 1.0));
    double bq = r <= 1.0 / alpha ? pow(r * alpha, 1.0 / (eta + 1.0)) : pow(1.0 / (2.0 - r * alpha), 1.0 / (eta + 1.0));
    double c1 = 0.5 * ((y1 + y2) - bq * (y2 - y1));
    beta = 1.0 + 2.0 * (hi - y2) / (y2 - y1), alpha = 2.0 - pow(beta, -(eta + 1.0));
    bq = r <= 1.0 / alpha ? pow(r * alpha, 1.0 / (eta + 1.0)) : pow(1.0 / (2.0 - r * alpha), 1.0 / (eta + 1.0));
    double c2 = 0.5 * ((y1 + y2) + bq * (y2 - y1));
    c1 = QN_MIN(QN_MAX(c1, lo), hi), c2 = QN_MIN(QN_MAX(c2, lo), hi);
    if (rng_u01(&s->rng) <= 0.5) *a = c2, *b = c1;
    else *a = c1, *b = c2;
}

// Polynomial mutation of one gene (Deb's revised form with both distances to the bounds).
static double pm_gene(struct qn_nsga2 *s, double lo, double hi, double y) {
    if (!(hi > lo)) return y;
    const double eta = s->cfg.pm_eta, d1 = (y - lo) / (hi - lo), d2 = (hi - y) / (hi - lo);
    const double r = rng_u01(&s->rng), p = 1.0 / (eta + 1.0);
    double dq;
    if (r <= 0.5) dq = pow(2.0 * r + (1.0 - 2.0 * r) * pow(1.0 - d1, eta + 1.0), p) - 1.0;
    else dq = 1.0 - pow(2.0 * (1.0 - r) + 2.0 * (r - 0.5) * pow(1.0 - d2, eta + 1.0), p);
    y += dq * (hi - lo);
    return QN_MIN(QN_MAX(y, lo), hi);
}

static void crossover(struct qn_nsga2 *s, const double *pa, const double *pb, double *ca, double *cb) {
    const int n = s->n_var;
    memcpy(ca, pa, sizeof(double) * n);
    memcpy(cb, pb, sizeof(double) * n);
    if (s->n_int < n && rng_u01(&s->rng) < s->cfg.sbx_prob)
        for (int v = 0; v < n; v++) {
            const struct qn_gene *gn = &s->prob.genes[v];
            if (gn->kind == QN_GENE_REAL && rng_u01(&s->rng) < s->cfg.sbx_var_prob) sbx_gene(s, gn->lo, gn->hi, ca + v, cb + v);
        }
    const int ni = s->n_int;
    if (ni > 0 && rng_u01(&s->rng) < s->cfg.int_cx_prob) {
        int c0 = 0, c1 = 0;  // swap integer positions [c0, c1)
        switch (s->cfg.int_cx) {
        case QN_NSGA2_CX_UNIFORM:
            for (int t = 0; t < ni; t++)
                if (rng_u64(&s->rng) >> 63) {
                    int v = s->int_idx[t];
                    double tmp = ca[v];
                    ca[v] = cb[v], cb[v] = tmp;
                }
            break;
        case QN_NSGA2_CX_ONE_POINT:
            if (ni >= 2) c0 = 1 + (int)rng_below(&s->rng, (uint64_t)ni - 1), c1 = ni;
            break;
        case QN_NSGA2_CX_TWO_POINT:
            if (ni >= 2) {
                // two distinct cuts in 0..ni; the swapped segment is neither empty nor everything
                do {
                    c0 = (int)rng_below(&s->rng, (uint64_t)ni + 1), c1 = (int)rng_below(&s->rng, (uint64_t)ni + 1);
                } while (c0 == c1 || (QN_MIN(c0, c1) == 0 && QN_MAX(c0, c1) == ni));
                if (c0 > c1) { int t = c0; c0 = c1, c1 = t; }
            }
            break;
        }
        for (int t = c0; t < c1; t++) {
            int v = s->int_idx[t];
            double tmp = ca[v];
            ca[v] = cb[v], cb[v] = tmp;
        }
    }
}

static void mutate(struct qn_nsga2 *s, double *x) {
    const double p_real = s->cfg.pm_prob > 0 ? s->cfg.pm_prob : 1.0 / s->n_var;
    const double p_int = s->cfg.int_mut_prob > 0 ? s->cfg.int_mut_prob : 1.0 / s->n_var;
    for (int v = 0; v < s->n_var; v++) {
        const struct qn_gene *gn = &s->prob.genes[v];
        if (gn->kind == QN_GENE_REAL) {
            if (rng_u01(&s->rng) < p_real) x[v] = pm_gene(s, gn->lo, gn->hi, x[v]);
        } else if (rng_u01(&s->rng) < p_int && gn->hi > gn->lo) {
            // uniform over the other values of the range
            double r = gn->lo + (double)rng_below(&s->rng, (uint64_t)(gn->hi - gn->lo));
            x[v] = r >= x[v] ? r + 1 : r;
        }
    }
}

// Binary tournament on the population: lower rank wins, then larger crowding, then a coin.
static int tournament(struct qn_nsga2 *s) {
    int a = (int)rng_below(&s->rng, (uint64_t)s->pop), b = (int)rng_below(&s->rng, (uint64_t)s->pop - 1);
    if (b >= a) b++;
    if (s->rank[a] != s->rank[b]) return s->rank[a] < s->rank[b] ? a : b;
    if (s->crowd[a] != s->crowd[b]) return s->crowd[a] > s->crowd[b] ? a : b;
    return rng_u64(&s->rng) >> 63 ? a : b;
}

// --- evaluation and survival ---

static enum qn_status evaluate(struct qn_nsga2 *s, int cur, int first, int n, struct qn_error *e) {
    if (n == 0) return QN_OK;
    double *x = s->buf[cur][0] + (size_t)first * s->n_var, *f = s->buf[cur][1] + (size_t)first * s->n_obj;
    double *g = s->n_con ? s->buf[cur][2] + (size_t)first * s->n_con : NULL, *cv = s->buf[cur][3] + first;
    double t0 = qn_now();
    enum qn_status st = s->prob.evaluate(s->prob.ctx, x, n, f, g, e);
    s->t_eval += qn_now() - t0;
    if (st) return st;
    s->n_eval += n;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < s->n_obj; j++)
            if (isnan(f[(size_t)i * s->n_obj + j]))
                return qn_fail(e, QN_ERR_ARG, "%s: objective %d of candidate %lld is NaN", s->prob.name ? s->prob.name : "problem",
                               j, s->n_eval - n + i);
        double v = 0;
        for (int j = 0; j < s->n_con; j++) {
            double gj = g[(size_t)i * s->n_con + j];
            if (isnan(gj))
                return qn_fail(e, QN_ERR_ARG, "%s: constraint %d of candidate %lld is NaN", s->prob.name ? s->prob.name : "problem",
                               j, s->n_eval - n + i);
            if (gj > 0) v += gj;
        }
        cv[i] = v;
    }
    return QN_OK;
}

struct crowd_key {
    const double *crowd;
    const int *idx;
};

// Positions into a front: larger crowding first, then lower position.
static int cmp_crowd(int a, int b, const void *ctx) {
    const struct crowd_key *k = ctx;
    double ca = k->crowd[a], cb = k->crowd[b];
    if (ca != cb) return ca > cb ? -1 : 1;
    return a - b;
}

static void emit(struct qn_nsga2 *s, int cur, int row, int at, double crowd) {
    double *const *A = s->buf[cur], *const *B = s->buf[1 - cur];
    memcpy(B[0] + (size_t)at * s->n_var, A[0] + (size_t)row * s->n_var, sizeof(double) * s->n_var);
    memcpy(B[1] + (size_t)at * s->n_obj, A[1] + (size_t)row * s->n_obj, sizeof(double) * s->n_obj);
    if (s->n_con) memcpy(B[2] + (size_t)at * s->n_con, A[2] + (size_t)row * s->n_con, sizeof(double) * s->n_con);
    B[3][at] = A[3][row];
    s->rank[at] = s->rank2[row];
    s->crowd[at] = crowd;
}

// Points the public population arrays at rows [0, pop) of buffer cur.
static void expose(struct qn_nsga2 *s, int cur) {
    s->x = s->buf[cur][0], s->f = s->buf[cur][1], s->g = s->n_con ? s->buf[cur][2] : NULL, s->cv = s->buf[cur][3];
}

// Rows [0, n) of buffer *cur (population, then offspring) are cut to pop rows by rank, then
// crowding distance, into rows [0, pop) of the other buffer, which becomes *cur.
static enum qn_status survive(struct qn_nsga2 *s, int *cur, int n, struct qn_error *e) {
    const int m = s->n_obj;
    int n_fronts;
    if (qn_pareto_sort(s->buf[*cur][1], s->buf[*cur][3], n, m, s->rank2, &n_fronts))
        return qn_fail(e, QN_ERR_NOMEM, "nsga2: out of memory");
    // ord: rows grouped by rank (counting sort; index order inside a front).
    int *cnt = s->cnt;
    memset(cnt, 0, sizeof(int) * ((size_t)n_fronts + 1));
    for (int i = 0; i < n; i++) cnt[s->rank2[i] + 1]++;
    for (int r = 0; r < n_fronts; r++) cnt[r + 1] += cnt[r];
    for (int i = 0; i < n; i++) s->ord[cnt[s->rank2[i]]++] = i;
    int taken = 0, at = 0;
    for (int r = 0; r < n_fronts && taken < s->pop; r++) {
        const int *front = s->ord + at;
        int k = 0;
        while (at + k < n && s->rank2[front[k]] == r) k++;
        if (qn_pareto_crowding(s->buf[*cur][1], m, front, k, s->crowd2)) return qn_fail(e, QN_ERR_NOMEM, "nsga2: out of memory");
        if (taken + k <= s->pop) {
            for (int t = 0; t < k; t++) emit(s, *cur, front[t], taken++, s->crowd2[t]);
        } else {
            // Partial last front: its most isolated members (Deb's crowded comparison).
            int *pos = s->tmp, want = s->pop - taken;
            for (int t = 0; t < k; t++) pos[t] = t;
            struct crowd_key key = {s->crowd2, front};
            qn_sort_idx(pos, k, pos + k, cmp_crowd, &key);
            for (int t = 0; t < want; t++) emit(s, *cur, front[pos[t]], taken++, s->crowd2[pos[t]]);
        }
        at += k;
    }
    QN_ASSERT(taken == QN_MIN(s->pop, n));
    *cur = 1 - *cur;
    expose(s, *cur);
    return QN_OK;
}

// --- offspring ---

// Fills offspring rows [pop, pop + nq) of buffer cur; returns nq (< pop only when duplicate
// elimination ran out of tries).
static int make_offspring(struct qn_nsga2 *s, int cur) {
    const int n = s->n_var, P = s->pop;
    double *X = s->buf[cur][0];
    const bool dedup = s->cfg.dedup;
    if (dedup) {
        hash_clear(s);
        for (int i = 0; i < P; i++) hash_probe(s, X, X + (size_t)i * n, i);
    }
    int nq = 0;
    const long long budget = (long long)s->cfg.dedup_tries * P;
    double *ca = s->child, *cb = s->child + n;
    for (long long tries = 0; nq < P && (!dedup || tries < budget); tries++) {
        int a = tournament(s), b = tournament(s);
        crossover(s, X + (size_t)a * n, X + (size_t)b * n, ca, cb);
        mutate(s, ca);
        mutate(s, cb);
        for (int c = 0; c < 2 && nq < P; c++) {
            double *y = c ? cb : ca, *row = X + (size_t)(P + nq) * n;
            if (dedup && hash_probe(s, X, y, -1)) {
                s->n_dup++;
                continue;
            }
            memcpy(row, y, sizeof(double) * n);
            if (dedup) hash_probe(s, X, row, P + nq);
            nq++;
        }
    }
    for (long long tries = 0; nq < P && tries < budget; tries++) {
        double *row = X + (size_t)(P + nq) * n;
        sample_genome(s, row);
        if (hash_probe(s, X, row, P + nq)) continue;
        s->n_random++;
        nq++;
    }
    return nq;
}

// --- public ---

static enum qn_status check(const struct qn_moo_problem *p, const struct qn_nsga2_cfg *c, struct qn_error *e) {
    const char *name = p->name ? p->name : "problem";
    if (p->n_var < 1 || p->n_obj < 1 || p->n_con < 0 || !p->genes || !p->evaluate)
        return qn_fail(e, QN_ERR_ARG, "%s: needs n_var >= 1, n_obj >= 1, n_con >= 0, genes and evaluate", name);
    double space = 1;  // distinct genomes, when every gene is an integer
    bool all_int = true;
    for (int v = 0; v < p->n_var; v++) {
        const struct qn_gene *g = &p->genes[v];
        if (!(isfinite(g->lo) && isfinite(g->hi) && g->lo <= g->hi))
            return qn_fail(e, QN_ERR_ARG, "%s: gene %d has bounds [%g, %g]", name, v, g->lo, g->hi);
        if (g->kind == QN_GENE_INT) {
            if (g->lo != floor(g->lo) || g->hi != floor(g->hi) || g->hi - g->lo >= 0x1p52)
                return qn_fail(e, QN_ERR_ARG, "%s: integer gene %d has bounds [%g, %g]", name, v, g->lo, g->hi);
            space *= g->hi - g->lo + 1;
        } else if (g->kind == QN_GENE_REAL) {
            all_int = false;
        } else {
            return qn_fail(e, QN_ERR_ARG, "%s: gene %d has an unknown kind", name, v);
        }
    }
    if (c->pop < 4 || c->pop > (1 << 24)) return qn_fail(e, QN_ERR_ARG, "%s: population %d (needs 4 .. 2^24)", name, c->pop);
    if (c->gen < 0) return qn_fail(e, QN_ERR_ARG, "%s: %d generations", name, c->gen);
    if (c->dedup && all_int && space < c->pop)
        return qn_fail(e, QN_ERR_ARG, "%s: population %d exceeds the %.0f distinct genomes of the space", name, c->pop, space);
    if (c->dedup && c->dedup_tries < 1) return qn_fail(e, QN_ERR_ARG, "%s: dedup_tries must be >= 1", name);
    if (!(c->sbx_eta >= 0 && c->pm_eta >= 0)) return qn_fail(e, QN_ERR_ARG, "%s: negative distribution index", name);
    if (c->n_init < 0 || c->n_init > c->pop || (c->n_init && !c->init_x))
        return qn_fail(e, QN_ERR_ARG, "%s: %d initial genomes for a population of %d", name, c->n_init, c->pop);
    for (int i = 0; i < c->n_init; i++)
        for (int v = 0; v < p->n_var; v++) {
            double x = c->init_x[(size_t)i * p->n_var + v];
            const struct qn_gene *g = &p->genes[v];
            if (!(x >= g->lo && x <= g->hi) || (g->kind == QN_GENE_INT && x != floor(x)))
                return qn_fail(e, QN_ERR_ARG, "%s: initial genome %d: gene %d = %g is outside [%g, %g]%s", name, i, v, x,
                               g->lo, g->hi, g->kind == QN_GENE_INT ? " or not an integer" : "");
        }
    return QN_OK;
}

enum qn_status qn_nsga2_init(struct qn_nsga2 *s, const struct qn_moo_problem *p, const struct qn_nsga2_cfg *c,
                             struct qn_error *e) {
    memset(s, 0, sizeof(*s));
    enum qn_status st = check(p, c, e);
    if (st) return st;
    s->prob = *p, s->cfg = *c;
    s->pop = c->pop, s->n_var = p->n_var, s->n_obj = p->n_obj, s->n_con = p->n_con;
    uint64_t seed = c->seed;
    s->rng = splitmix64(&seed) | 1;  // xorshift state must be nonzero
    const size_t N2 = 2 * (size_t)s->pop;
    bool ok = true;
    for (int b = 0; b < 2; b++) {
        s->buf[b][0] = malloc(sizeof(double) * N2 * s->n_var);
        s->buf[b][1] = malloc(sizeof(double) * N2 * s->n_obj);
        s->buf[b][2] = malloc(sizeof(double) * N2 * QN_MAX(s->n_con, 1));
        s->buf[b][3] = malloc(sizeof(double) * N2);
        for (int k = 0; k < 4; k++) ok = ok && s->buf[b][k];
    }
    s->hash_cap = 16;
    while ((size_t)s->hash_cap < 2 * N2) s->hash_cap *= 2;
    s->rank = malloc(sizeof(int) * (size_t)s->pop);
    s->crowd = malloc(sizeof(double) * (size_t)s->pop);
    s->rank2 = malloc(sizeof(int) * N2);
    s->ord = malloc(sizeof(int) * N2);
    s->cnt = malloc(sizeof(int) * (N2 + 1));
    s->tmp = malloc(sizeof(int) * 2 * N2);
    s->hash = malloc(sizeof(int) * (size_t)s->hash_cap);
    s->crowd2 = malloc(sizeof(double) * N2);
    s->child = malloc(sizeof(double) * 2 * (size_t)s->n_var);
    s->int_idx = malloc(sizeof(int) * (size_t)s->n_var);
    ok = ok && s->rank && s->crowd && s->rank2 && s->ord && s->cnt && s->tmp && s->hash && s->crowd2 && s->child && s->int_idx;
    if (!ok) {
        qn_nsga2_free(s);
        return qn_fail(e, QN_ERR_NOMEM, "nsga2: out of memory for a population of %d", c->pop);
    }
    for (int v = 0; v < s->n_var; v++)
        if (p->genes[v].kind == QN_GENE_INT) s->int_idx[s->n_int++] = v;

    // Initial population: the given genomes, then uniform samples (distinct when dedup is on,
    // with bounded tries; the space holds at least pop genomes, see check()).
    const int n = s->n_var;
    double *X = s->buf[0][0];
    if (c->dedup) hash_clear(s);
    int k = 0;
    for (int i = 0; i < c->n_init; i++) {
        double *row = X + (size_t)k * n;
        memcpy(row, c->init_x + (size_t)i * n, sizeof(double) * n);
        if (!c->dedup || !hash_probe(s, X, row, k)) k++;
    }
    for (long long tries = 0; k < s->pop; tries++) {
        double *row = X + (size_t)k * n;
        sample_genome(s, row);
        if (!c->dedup || tries >= 1000LL * s->pop || !hash_probe(s, X, row, k)) k++;
    }
    st = evaluate(s, 0, 0, s->pop, e);
    int cur = 0;
    if (!st) st = survive(s, &cur, s->pop, e);
    if (st) {
        qn_nsga2_free(s);
        return st;
    }
    s->cur = cur;
    return QN_OK;
}

enum qn_status qn_nsga2_step(struct qn_nsga2 *s, struct qn_error *e) {
    int cur = s->cur;
    int nq = make_offspring(s, cur);
    enum qn_status st = evaluate(s, cur, s->pop, nq, e);
    if (!st) st = survive(s, &cur, s->pop + nq, e);
    if (st) return st;
    s->cur = cur;
    s->gen++;
    return QN_OK;
}

enum qn_status qn_nsga2_run(struct qn_nsga2 *s, struct qn_error *e) {
    int (*cb)(void *, const struct qn_nsga2 *) = s->cfg.on_generation;
    if (s->gen == 0 && cb && cb(s->cfg.cb_ctx, s)) return QN_OK;
    while (s->gen < s->cfg.gen) {
        enum qn_status st = qn_nsga2_step(s, e);
        if (st) return st;
        if (cb && cb(s->cfg.cb_ctx, s)) break;
    }
    return QN_OK;
}

void qn_nsga2_free(struct qn_nsga2 *s) {
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 4; k++) free(s->buf[b][k]);
    free(s->rank), free(s->crowd), free(s->rank2), free(s->ord), free(s->cnt), free(s->tmp), free(s->hash);
    free(s->crowd2), free(s->child), free(s->int_idx);
    memset(s, 0, sizeof(*s));
}

int qn_nsga2_front(const struct qn_nsga2 *s, int *idx) {
    int k = 0;
    for (int i = 0; i < s->pop; i++)
        if (s->rank[i] == 0 && s->cv[i] == 0) idx[k++] = i;
    return k;
}
