#include "qgenome.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum qn_status qn_qgenome_init(struct qn_qgenome *q, const struct qn_mb_space *s, const int *bits, int n_bits,
                               struct qn_error *e) {
    memset(q, 0, sizeof(*q));
    if (n_bits < 1 || n_bits > QN_QG_MAX_BITS)
        return qn_fail(e, QN_ERR_ARG, "between 1 and %d bit choices are allowed, got %d", QN_QG_MAX_BITS, n_bits);
    for (int i = 0; i < n_bits; i++) {
        if (bits[i] != 0 && (bits[i] < 2 || bits[i] > 8))
            return qn_fail(e, QN_ERR_ARG, "bit choice %d is outside 2..8 (0 or fp32 means FP32)", bits[i]);
        for (int j = 0; j < i; j++)
            if (bits[j] == bits[i]) return qn_fail(e, QN_ERR_ARG, "bit choice %d is listed twice", bits[i]);
    }
    q->s = s, q->n_bits = n_bits;
    memcpy(q->bits, bits, sizeof(int) * (size_t)n_bits);
    for (int i = 1; i < n_bits; i++)  // ascending (insertion sort)
        for (int j = i; j > 0 && q->bits[j - 1] > q->bits[j]; j--) {
            int t = q->bits[j];
            q->bits[j] = q->bits[j - 1], q->bits[j - 1] = t;
        }
    const int S = s->n_stages, D = qn_mb_dmax(s);
    q->slots = S * D;
    q->n_var = S + 2 * q->slots + 3 + 3 * q->slots;
    int v = 0;
    for (int i = 0; i < S; i++) q->genes[v++] = (struct qn_gene){QN_GENE_INT, 0, s->n_depths - 1};
    for (int i = 0; i < q->slots; i++) q->genes[v++] = (struct qn_gene){QN_GENE_INT, 0, s->n_kernels - 1};
    for (int i = 0; i < q->slots; i++) q->genes[v++] = (struct qn_gene){QN_GENE_INT, 0, s->n_expands - 1};
    while (v < q->n_var) q->genes[v++] = (struct qn_gene){QN_GENE_INT, 0, n_bits - 1};
    q->d = S * s->n_depths + q->slots * (s->n_kernels + s->n_expands) + (3 + 3 * q->slots) * n_bits + 4 + n_bits;
    return QN_OK;
}

void qn_qgenome_restrict(struct qn_qgenome *q, bool fix_arch, int fixed_bits) {
    const struct qn_mb_space *s = q->s;
    const int S = s->n_stages;
    if (fix_arch) {
        for (int i = 0; i < S; i++) q->genes[i].lo = q->genes[i].hi = s->n_depths - 1;
        for (int i = 0; i < q->slots; i++) {
            struct qn_gene *k = &q->genes[S + i], *x = &q->genes[S + q->slots + i];
            k->lo = k->hi = s->n_kernels - 1;
            x->lo = x->hi = s->n_expands - 1;
        }
    }
    if (fixed_bits >= 0) {
        int c = 0;
        while (c < q->n_bits - 1 && q->bits[c] != fixed_bits) c++;
        for (int v = S + 2 * q->slots; v < q->n_var; v++) q->genes[v].lo = q->genes[v].hi = c;
    }
}

static struct qn_mb_qlayer bits_layer(const struct qn_qgenome *q, double gene) {
    const int b = q->bits[(int)gene];
    return b ? (struct qn_mb_qlayer){(uint8_t)b, 8} : (struct qn_mb_qlayer){0, 0};
}

void qn_qgenome_decode(const struct qn_qgenome *q, const double *x, struct qn_mb_genome *g, struct qn_mb_policy *p) {
    const struct qn_mb_space *s = q->s;
    const int S = s->n_stages, D = qn_mb_dmax(s);
    const double *kx = x + S, *ex = kx + q->slots, *bx = ex + q->slots;
    memset(g, 0, sizeof(*g));
    memset(p, 0, sizeof(*p));
    int n = 0;
    p->l[n++] = bits_layer(q, bx[0]);
    for (int i = 0; i < S; i++) {
        g->depth[i] = (uint8_t)s->depths[(int)x[i]];
        for (int b = 0; b < g->depth[i]; b++) {
            const int slot = i * D + b;
            g->kernel[i][b] = (uint8_t)s->kernels[(int)kx[slot]];
            g->expand[i][b] = (uint8_t)s->expands[(int)ex[slot]];
            for (int t = 0; t < 3; t++) p->l[n++] = bits_layer(q, bx[1 + 3 * slot + t]);
        }
    }
    p->l[n++] = bits_layer(q, bx[1 + 3 * q->slots]);
    p->l[n++] = bits_layer(q, bx[2 + 3 * q->slots]);
    p->n = n;
}

static int index_of(const int *v, int n, int x) {
    for (int i = 0; i < n; i++)
        if (v[i] == x) return i;
    return -1;
}

static int bits_index(const struct qn_qgenome *q, struct qn_mb_qlayer l) {
    if (l.wbits && l.abits != 8) return -1;
    return index_of(q->bits, q->n_bits, l.wbits);
}

bool qn_qgenome_encode(const struct qn_qgenome *q, const struct qn_mb_genome *g, const struct qn_mb_policy *p,
                       double *x) {
    const struct qn_mb_space *s = q->s;
    const int S = s->n_stages, D = qn_mb_dmax(s);
    double *kx = x + S, *ex = kx + q->slots, *bx = ex + q->slots;
    for (int v = 0; v < q->n_var; v++) x[v] = 0;
    int n = 0, c;
    if ((c = bits_index(q, p->l[n++])) < 0) return false;
    bx[0] = c;
    for (int i = 0; i < S; i++) {
        x[i] = index_of(s->depths, s->n_depths, g->depth[i]);
        for (int b = 0; b < g->depth[i]; b++) {
            const int slot = i * D + b;
            kx[slot] = index_of(s->kernels, s->n_kernels, g->kernel[i][b]);
            ex[slot] = index_of(s->expands, s->n_expands, g->expand[i][b]);
            for (int t = 0; t < 3; t++) {
                if ((c = bits_index(q, p->l[n++])) < 0) return false;
                bx[1 + 3 * slot + t] = c;
            }
        }
    }
    for (int t = 1; t <= 2; t++) {
        if ((c = bits_index(q, p->l[n++])) < 0) return false;
        bx[3 * q->slots + t] = c;
    }
    return true;
}

void qn_qgenome_features(const struct qn_qgenome *q, const struct qn_mb_genome *g, const struct qn_mb_policy *p,
                         float *f) {
    const struct qn_mb_space *s = q->s;
    const int S = s->n_stages, D = qn_mb_dmax(s), nb = q->n_bits;
    memset(f, 0, sizeof(float) * (size_t)q->d);
    float *fd = f, *fk = fd + S * s->n_depths, *fe = fk + q->slots * s->n_kernels, *fb = fe + q->slots * s->n_expands;
    float *fc = fb + (3 + 3 * q->slots) * nb;
    struct qn_mb_layer L[QN_MB_MAX_LAYERS];
    const int nl = qn_mb_layers(s, g, L);
    double wsum = 0, wat[QN_QG_MAX_BITS] = {0};
    int n = 0, blocks = 0;
    // layer slot of the policy's n-th layer: stem 0, slot layers 1 + 3 slot + t, head, classifier
    int lslot[QN_MB_MAX_LAYERS];
    lslot[n++] = 0;
    for (int i = 0; i < S; i++) {
        fd[i * s->n_depths + index_of(s->depths, s->n_depths, g->depth[i])] = 1;
        for (int b = 0; b < g->depth[i]; b++, blocks++) {
            const int slot = i * D + b;
            fk[slot * s->n_kernels + index_of(s->kernels, s->n_kernels, g->kernel[i][b])] = 1;
            fe[slot * s->n_expands + index_of(s->expands, s->n_expands, g->expand[i][b])] = 1;
            for (int t = 0; t < 3; t++) lslot[n++] = 1 + 3 * slot + t;
        }
    }
    lslot[n++] = 1 + 3 * q->slots, lslot[n++] = 2 + 3 * q->slots;
    for (int i = 0; i < nl; i++) {
        int c = index_of(q->bits, nb, p->l[i].wbits);
        if (c < 0) c = 0;  // bits outside the choices (a policy given by hand): nearest is not defined
        fb[lslot[i] * nb + c] = 1;
        wat[c] += (double)L[i].weights, wsum += (double)L[i].weights;
    }
    struct qn_mb_cost cost;
    qn_mb_genome_cost(s, g, &cost);
    fc[0] = (float)(cost.macs / 1e6);
    fc[1] = (float)(cost.params / 1e5);
    fc[2] = (float)(qn_mb_policy_size_bytes(s, g, p) / 1e5);
    fc[3] = (float)blocks;
    for (int c = 0; c < nb; c++) fc[4 + c] = (float)(wsum > 0 ? wat[c] / wsum : 0);
}

// --- latency LUT ---

uint64_t qn_lut_key(const struct qn_mb_layer *L, bool integer) {
    // 4 bits kind, 1 integer, 4 kernel, 3 stride, 12 cin, 12 cout, 8 h, 8 w (the spaces are small)
    return (uint64_t)L->kind << 60 | (uint64_t)integer << 59 | (uint64_t)(L->k & 15) << 55 |
           (uint64_t)(L->stride & 7) << 52 | (uint64_t)(L->cin & 4095) << 40 | (uint64_t)(L->cout & 4095) << 28 |
           (uint64_t)(L->h & 255) << 20 | (uint64_t)(L->w & 255) << 12;
}

static int lut_find(const struct qn_lut *t, uint64_t key) {
    int lo = 0, hi = t->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (t->key[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

enum qn_status qn_lut_set(struct qn_lut *t, uint64_t key, double ms) {
    int i = lut_find(t, key);
    if (i < t->n && t->key[i] == key) {
        t->ms[i] = ms;
        return QN_OK;
    }
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        uint64_t *k = realloc(t->key, sizeof(uint64_t) * (size_t)cap);
        if (!k) return QN_ERR_NOMEM;
        t->key = k;
        double *m = realloc(t->ms, sizeof(double) * (size_t)cap);
        if (!m) return QN_ERR_NOMEM;
        t->ms = m, t->cap = cap;
    }
    memmove(t->key + i + 1, t->key + i, sizeof(uint64_t) * (size_t)(t->n - i));
    memmove(t->ms + i + 1, t->ms + i, sizeof(double) * (size_t)(t->n - i));
    t->key[i] = key, t->ms[i] = ms, t->n++;
    return QN_OK;
}

double qn_lut_get(const struct qn_lut *t, uint64_t key) {
    int i = lut_find(t, key);
    return i < t->n && t->key[i] == key ? t->ms[i] : NAN;
}

double qn_lut_estimate(const struct qn_lut *t, const struct qn_mb_space *s, const struct qn_mb_genome *g,
                       const struct qn_mb_policy *p, int *missing) {
    struct qn_mb_layer L[QN_MB_MAX_LAYERS];
    const int n = qn_mb_layers(s, g, L);
    double sum = 0;
    int miss = 0;
    for (int i = 0; i < n; i++) {
        double ms = qn_lut_get(t, qn_lut_key(&L[i], p->l[i].wbits != 0));
        if (isnan(ms)) miss++;
        else sum += ms;
    }
    if (missing) *missing = miss;
    return sum;
}

void qn_lut_free(struct qn_lut *t) {
    free(t->key), free(t->ms);
    memset(t, 0, sizeof(*t));
}
