// Pareto utilities (pareto.h).
#include "pareto.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// --- domination ---

int qn_pareto_compare(const double *a, const double *b, int m) {
    bool a_better = false, b_better = false;
    for (int j = 0; j < m; j++) {
        if (a[j] < b[j]) a_better = true;
        else if (b[j] < a[j]) b_better = true;
        if (a_better && b_better) return 0;
    }
    return a_better ? 1 : b_better ? -1 : 0;
}

int qn_pareto_compare_cv(const double *a, double cva, const double *b, double cvb, int m) {
    if (cva > 0 || cvb > 0) return cva < cvb ? 1 : cvb < cva ? -1 : 0;
    return qn_pareto_compare(a, b, m);
}

// --- stable index sort ---

void qn_sort_idx(int *a, int n, int *tmp, int (*cmp)(int, int, const void *), const void *ctx) {
    // Bottom-up merge sort; insertion sort on runs of 16 first.
    const int RUN = 16;
    for (int lo = 0; lo < n; lo += RUN) {
        int hi = QN_MIN(lo + RUN, n);
        for (int i = lo + 1; i < hi; i++) {
            int v = a[i], k = i;
            while (k > lo && cmp(v, a[k - 1], ctx) < 0) a[k] = a[k - 1], k--;
            a[k] = v;
        }
    }
    int *src = a, *dst = tmp;
    for (int w = RUN; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = QN_MIN(lo + w, n), hi = QN_MIN(lo + 2 * w, n), i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = cmp(src[j], src[i], ctx) < 0 ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        int *t = src;
        src = dst, dst = t;
    }
    if (src != a) memcpy(a, src, sizeof(int) * (size_t)n);
}

// --- non-dominated sorting ---

enum qn_status qn_pareto_sort(const double *f, const double *cv, int n, int m, int *rank, int *n_fronts) {
    if (n_fronts) *n_fronts = 0;
    if (n <= 0) return QN_OK;
    // dom: bit (p, q) set when p dominates q (Deb's S_p as a bit row); cnt[q] = n_q.
    const size_t words = ((size_t)n + 63) / 64;
    uint64_t *dom = calloc(words * (size_t)n, sizeof(uint64_t));
    int *cnt = calloc((size_t)n, sizeof(int)), *front = malloc(sizeof(int) * (size_t)n);
    if (!dom || !cnt || !front) {
        free(dom), free(cnt), free(front);
        return QN_ERR_NOMEM;
    }
    for (int p = 0; p < n; p++)
        for (int q = p + 1; q < n; q++) {
            int c = cv ? qn_pareto_compare_cv(f + (size_t)p * m, cv[p], f + (size_t)q * m, cv[q], m)
                       : qn_pareto_compare(f + (size_t)p * m, f + (size_t)q * m, m);
            if (c > 0) dom[(size_t)p * words + q / 64] |= 1ull << (q % 64), cnt[q]++;
            else if (c < 0) dom[(size_t)q * words + p / 64] |= 1ull << (p % 64), cnt[p]++;
        }
    // front[] holds the current front at [lo, hi) and collects the next one after it.
    int hi = 0;
    for (int p = 0; p < n; p++)
        if (cnt[p] == 0) rank[p] = 0, front[hi++] = p;
    int lo = 0, r = 0;
    while (lo < hi) {
        int next = hi;
        for (int t = lo; t < hi; t++) {
            const uint64_t *row = dom + (size_t)front[t] * words;
            for (size_t w = 0; w < words; w++)
                for (uint64_t b = row[w]; b; b &= b - 1) {
                    int q = (int)(w * 64 + (size_t)__builtin_ctzll(b));
                    if (--cnt[q] == 0) rank[q] = r + 1, front[next++] = q;
                }
        }
        lo = hi, hi = next, r++;
    }
    QN_ASSERT(hi == n);
    if (n_fronts) *n_fronts = r;
    free(dom), free(cnt), free(front);
    return QN_OK;
}

// --- crowding distance ---

struct obj_key {
    const double *f;
    const int *idx;
    int m, j;
};

// Orders positions t (into idx) by objective j, then by position.
static int cmp_obj(int s, int t, const void *ctx) {
    const struct obj_key *k = ctx;
    double a = k->f[(size_t)k->idx[s] * k->m + k->j], b = k->f[(size_t)k->idx[t] * k->m + k->j];
    return a < b ? -1 : b < a ? 1 : s - t;
}

enum qn_status qn_pareto_crowding(const double *f, int m, const int *idx, int k, double *dist) {
    if (k <= 2) {
        for (int t = 0; t < k; t++) dist[t] = INFINITY;
        return QN_OK;
    }
    int *ord = malloc(sizeof(int) * 2 * (size_t)k);
    if (!ord) return QN_ERR_NOMEM;
    for (int t = 0; t < k; t++) dist[t] = 0;
    struct obj_key key = {f, idx, m, 0};
    for (int j = 0; j < m; j++) {
        for (int t = 0; t < k; t++) ord[t] = t;
        key.j = j;
        qn_sort_idx(ord, k, ord + k, cmp_obj, &key);
#define FV(t) f[(size_t)idx[ord[t]] * m + j]
        double lo = FV(0), span = FV(k - 1) - lo;
        dist[ord[0]] = dist[ord[k - 1]] = INFINITY;
        if (span > 0 && isfinite(span))
            for (int t = 1; t < k - 1; t++) dist[ord[t]] += (FV(t + 1) - FV(t - 1)) / span;
#undef FV
    }
    free(ord);
    return QN_OK;
}

int qn_pareto_truncate(const double *f, int m, int *idx, int k, int cap) {
    if (cap < 0) cap = 0;
    if (k <= cap) return k;
    double *dist = malloc(sizeof(double) * (size_t)k);
    bool *keep = calloc((size_t)k, sizeof(bool));
    if (!dist || !keep) {
        free(dist), free(keep);
        return -1;
    }
    for (int j = 0, kept = 0; j < m && kept < cap; j++) {
        int best = 0;
        for (int t = 1; t < k; t++)
            if (f[(size_t)idx[t] * m + j] < f[(size_t)idx[best] * m + j]) best = t;
        kept += !keep[best], keep[best] = true;
    }
    while (k > cap) {
        if (qn_pareto_crowding(f, m, idx, k, dist)) {
            k = -1;
            break;
        }
        int worst = -1;
        for (int t = 0; t < k; t++)
            if (!keep[t] && (worst < 0 || dist[t] < dist[worst])) worst = t;
        QN_ASSERT(worst >= 0);  // at most cap points are protected, and k > cap
        memmove(idx + worst, idx + worst + 1, sizeof(int) * (size_t)(k - worst - 1));
        memmove(keep + worst, keep + worst + 1, sizeof(bool) * (size_t)(k - worst - 1));
        k--;
    }
    free(dist), free(keep);
    return k;
}

// --- hypervolume ---

struct xy_key {
    const double *p;  // [n][2]
};

static int cmp_xy(int a, int b, const void *ctx) {
    const double *p = ((const struct xy_key *)ctx)->p;
    if (p[2 * a] != p[2 * b]) return p[2 * a] < p[2 * b] ? -1 : 1;
    if (p[2 * a + 1] != p[2 * b + 1]) return p[2 * a + 1] < p[2 * b + 1] ? -1 : 1;
    return a - b;
}

// Area of the union of [p_i, ref] for 2D points in f1-ascending order (ord).
static double sweep2(const double *p, const int *ord, int n, const double *ref) {
    double area = 0, prev = ref[1];
    for (int t = 0; t < n; t++) {
        const double *q = p + 2 * (size_t)ord[t];
        if (q[1] < prev) area += (ref[0] - q[0]) * (prev - q[1]), prev = q[1];
    }
    return area;
}

// p [n][3] with every point strictly inside the reference box. Sorted on f3; after adding each
// point the (f1, f2) staircase of the points so far is swept and multiplied by the gap to the
// next f3 level. The staircase is kept sorted by f1 with insertion, so O(n^2) overall.
static enum qn_status hv3(const double *p, int n, const double *ref, double *hv) {
    int *ord = malloc(sizeof(int) * 2 * (size_t)n), *stair = malloc(sizeof(int) * (size_t)n);
    double *xy = malloc(sizeof(double) * 2 * (size_t)n);
    if (!ord || !stair || !xy) {
        free(ord), free(stair), free(xy);
        return QN_ERR_NOMEM;
    }
    struct obj_key key = {p, ord + n, 3, 2};
    for (int i = 0; i < n; i++) ord[i] = i, ord[n + i] = i;
    qn_sort_idx(ord, n, stair, cmp_obj, &key);  // identity idx: positions are point indices
    for (int i = 0; i < n; i++) xy[2 * i] = p[3 * (size_t)i], xy[2 * i + 1] = p[3 * (size_t)i + 1];
    struct xy_key xk = {xy};
    double vol = 0;
    for (int t = 0; t < n; t++) {
        int v = ord[t], s = t;
        while (s > 0 && cmp_xy(v, stair[s - 1], &xk) < 0) stair[s] = stair[s - 1], s--;
        stair[s] = v;
        double z = p[3 * (size_t)v + 2], z_next = t + 1 < n ? p[3 * (size_t)ord[t + 1] + 2] : ref[2];
        if (z_next > z) vol += sweep2(xy, stair, t + 1, ref) * (z_next - z);
    }
    free(ord), free(stair), free(xy);
    *hv = vol;
    return QN_OK;
}

// p [n][m], every point strictly inside the box, m >= 3.
static enum qn_status hv_rec(const double *p, int n, int m, const double *ref, double *hv) {
    if (m == 3) return hv3(p, n, ref, hv);
    int *ord = malloc(sizeof(int) * 3 * (size_t)n);
    double *sub = malloc(sizeof(double) * (size_t)n * (m - 1));
    if (!ord || !sub) {
        free(ord), free(sub);
        return QN_ERR_NOMEM;
    }
    struct obj_key key = {p, ord + 2 * n, m, m - 1};
    for (int i = 0; i < n; i++) ord[i] = i, ord[2 * n + i] = i;
    qn_sort_idx(ord, n, ord + n, cmp_obj, &key);
    double vol = 0;
    enum qn_status st = QN_OK;
    for (int t = 0; t < n && !st; t++) {
        memcpy(sub + (size_t)t * (m - 1), p + (size_t)ord[t] * m, sizeof(double) * (m - 1));
        double z = p[(size_t)ord[t] * m + m - 1], z_next = t + 1 < n ? p[(size_t)ord[t + 1] * m + m - 1] : ref[m - 1];
        if (z_next > z) {
            double a;
            st = hv_rec(sub, t + 1, m - 1, ref, &a);
            vol += a * (z_next - z);
        }
    }
    free(ord), free(sub);
    *hv = vol;
    return st;
}

enum qn_status qn_pareto_hv(const double *f, int n, int m, const double *ref, double *hv) {
    *hv = 0;
    if (m < 1) return QN_ERR_ARG;
    // Keep the points strictly inside the box; the others bound nothing of positive measure.
    double *p = malloc(sizeof(double) * (size_t)QN_MAX(n, 1) * m);
    int *ord = malloc(sizeof(int) * 2 * (size_t)QN_MAX(n, 1));
    if (!p || !ord) {
        free(p), free(ord);
        return QN_ERR_NOMEM;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        bool in = true;
        for (int j = 0; j < m; j++) in = in && f[(size_t)i * m + j] < ref[j];
        if (in) memcpy(p + (size_t)k++ * m, f + (size_t)i * m, sizeof(double) * m);
    }
    enum qn_status st = QN_OK;
    if (k == 0) {
    } else if (m == 1) {
        double lo = p[0];
        for (int i = 1; i < k; i++) lo = QN_MIN(lo, p[i]);
        *hv = ref[0] - lo;
    } else if (m == 2) {
        struct xy_key xk = {p};
        for (int i = 0; i < k; i++) ord[i] = i;
        qn_sort_idx(ord, k, ord + k, cmp_xy, &xk);
        *hv = sweep2(p, ord, k, ref);
    } else {
        st = hv_rec(p, k, m, ref, hv);
    }
    free(p), free(ord);
    return st;
}

// --- IGD ---

double qn_pareto_igd(const double *f, int n, const double *ref_front, int nr, int m) {
    if (nr <= 0) return 0;
    if (n <= 0) return INFINITY;
    double sum = 0;
    for (int r = 0; r < nr; r++) {
        const double *z = ref_front + (size_t)r * m;
        double best = INFINITY;
        for (int i = 0; i < n; i++) {
            double d = 0;
            for (int j = 0; j < m; j++) {
                double t = f[(size_t)i * m + j] - z[j];
                d += t * t;
            }
            best = QN_MIN(best, d);
        }
        sum += sqrt(best);
    }
    return sum / nr;
}

// --- non-dominated filter ---

static int cmp_int(int a, int b, const void *ctx) { return a - b; }

int qn_pareto_nondominated(const double *f, int n, int m, int *idx) {
    if (n <= 0) return 0;
    int k = 0;
    if (m == 2) {
        int *ord = malloc(sizeof(int) * 2 * (size_t)n);
        if (!ord) return -1;
        struct xy_key xk = {f};
        for (int i = 0; i < n; i++) ord[i] = i;
        qn_sort_idx(ord, n, ord + n, cmp_xy, &xk);
        // In (f1, f2) order a point is dominated iff an earlier one has f2 <= its f2 and
        // differs from it; exact copies of a kept point are kept too.
        double best = INFINITY;
        int last = -1;
        for (int t = 0; t < n; t++) {
            const double *q = f + 2 * (size_t)ord[t];
            bool copy = last >= 0 && q[0] == f[2 * (size_t)last] && q[1] == f[2 * (size_t)last + 1];
            if (q[1] < best || copy) {
                idx[k++] = ord[t], best = QN_MIN(best, q[1]);
                if (!copy) last = ord[t];
            }
        }
        qn_sort_idx(idx, k, ord, cmp_int, NULL);
        free(ord);
        return k;
    }
    for (int i = 0; i < n; i++) {
        bool dominated = false;
        for (int q = 0; q < n && !dominated; q++)
            dominated = q != i && qn_pareto_compare(f + (size_t)q * m, f + (size_t)i * m, m) > 0;
        if (!dominated) idx[k++] = i;
    }
    return k;
}
