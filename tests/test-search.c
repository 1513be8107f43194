// `qnas search` (src/search.c, search/qgenome.c): the joint genome, the latency LUT, and a
// small end-to-end search on the committed supernet weights: outputs, the measured front,
// agreement with a direct evaluation, exact replay from the latency table, --resume after an
// interruption, a single weight width, and the argument errors (also through build/qnas: one
// message, exit 2, and a fresh folder removed on any failure).
#include <dirent.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "idx.h"
#include "pareto.h"
#include "predictor.h"
#include "qgenome.h"
#include "qnas-model.h"
#include "qnet.h"
#include "safetensors.h"
#include "search.h"
#include "test.h"
#include "weights-edit.h"

static const struct qn_mb_space *S;
static const char *g_weights;
static char g_dir[256], g_qnas[4096];

static bool policies_equal(const struct qn_mb_policy *a, const struct qn_mb_policy *b) {
    return a->n == b->n && !memcmp(a->l, b->l, sizeof(a->l[0]) * (size_t)a->n);
}

static void qgenome_roundtrip(void) {
    struct qn_qgenome q;
    struct qn_error e = {{0}};
    const int bits[] = {8, 0, 4};
    QT_CHECK(qn_qgenome_init(&q, S, bits, 3, &e) == QN_OK, "init: %s", e.msg);
    QT_CHECK(q.bits[0] == 0 && q.bits[1] == 4 && q.bits[2] == 8, "bits sorted");
    const int bad[] = {4, 9};
    QT_CHECK(qn_qgenome_init(&q, S, bad, 2, &e) == QN_ERR_ARG && strstr(e.msg, "9"), "bits 9 rejected: %s", e.msg);
    const int dup[] = {4, 4};
    QT_CHECK(qn_qgenome_init(&q, S, dup, 2, &e) == QN_ERR_ARG, "duplicate bits rejected");
    qn_qgenome_init(&q, S, bits, 3, &e);
    double x[QN_QG_MAX_VARS], y[QN_QG_MAX_VARS];
    float *f = malloc(sizeof(float) * (size_t)q.d);
    for (int t = 0; t < 200; t++) {
        for (int v = 0; v < q.n_var; v++) x[v] = qt_int((int)q.genes[v].lo, (int)q.genes[v].hi);
        struct qn_mb_genome g, g2;
        struct qn_mb_policy p, p2;
        qn_qgenome_decode(&q, x, &g, &p);
        QT_CHECK(qn_mb_policy_check(S, &g, &p, &e) == QN_OK, "decoded policy valid: %s", e.msg);
        QT_CHECK(qn_qgenome_encode(&q, &g, &p, y), "encode");
        qn_qgenome_decode(&q, y, &g2, &p2);
        QT_CHECK(!memcmp(&g, &g2, sizeof(g)) && policies_equal(&p, &p2), "decode(encode(decode(x))) == decode(x)");
        // features: one-hots sum to the number of genes in use
        qn_qgenome_features(&q, &g, &p, f);
        const int hot = S->n_stages * S->n_depths + S->n_stages * qn_mb_dmax(S) * (S->n_kernels + S->n_expands) +
                        (3 + 3 * S->n_stages * qn_mb_dmax(S)) * q.n_bits;
        float sum = 0;
        for (int i = 0; i < hot; i++) sum += f[i];
        QT_CHECK(sum == (float)(S->n_stages + 2 * (p.n - 3) / 3 + p.n), "one-hot count %g for %d layers", sum, p.n);
        float frac = 0;
        for (int i = 0; i < q.n_bits; i++) frac += f[q.d - q.n_bits + i];
        QT_CHECK(fabsf(frac - 1) < 1e-5f, "bit fractions sum to 1: %g", frac);
    }
    // a policy with bits outside the choices cannot be encoded
    struct qn_mb_genome g;
    struct qn_mb_policy p;
    qn_mb_genome_max(S, &g);
    qn_mb_policy_uniform(S, &g, 6, 8, &p);
    QT_CHECK(!qn_qgenome_encode(&q, &g, &p, y), "6 bits is not a choice");
    // restricted encodings decode to the largest architecture / INT8 only
    struct qn_qgenome qa = q, qq = q;
    qn_qgenome_restrict(&qa, false, 8);
    qn_qgenome_restrict(&qq, true, -1);
    for (int t = 0; t < 50; t++) {
        struct qn_mb_genome gg, gmax;
        struct qn_mb_policy pp, p8;
        for (int v = 0; v < qa.n_var; v++) x[v] = qt_int((int)qa.genes[v].lo, (int)qa.genes[v].hi);
        qn_qgenome_decode(&qa, x, &gg, &pp);
        qn_mb_policy_uniform(S, &gg, 8, 8, &p8);
        QT_CHECK(policies_equal(&pp, &p8), "arch-only decodes to INT8");
        for (int v = 0; v < qq.n_var; v++) x[v] = qt_int((int)qq.genes[v].lo, (int)qq.genes[v].hi);
        qn_qgenome_decode(&qq, x, &gg, &pp);
        qn_mb_genome_max(S, &gmax);
        QT_CHECK(!memcmp(&gg, &gmax, sizeof(gg)), "quant-only decodes to the largest subnet");
    }
    free(f);
}

static void lut_basics(void) {
    struct qn_lut t = {0};
    for (int i = 0; i < 300; i++) QT_CHECK(qn_lut_set(&t, (uint64_t)(i * 7919 % 1000) << 12, i) == QN_OK, "set");
    QT_CHECK(t.n == 300, "300 entries, got %d", t.n);
    for (int i = 1; i < t.n; i++) QT_CHECK(t.key[i - 1] < t.key[i], "sorted");
    QT_CHECK(qn_lut_get(&t, (uint64_t)(5 * 7919 % 1000) << 12) == 5, "get");
    QT_CHECK(isnan(qn_lut_get(&t, 1)), "missing is NaN");
    qn_lut_set(&t, (uint64_t)(5 * 7919 % 1000) << 12, 42);
    QT_CHECK(t.n == 300 && qn_lut_get(&t, (uint64_t)(5 * 7919 % 1000) << 12) == 42, "replace");
    qn_lut_free(&t);
    // keys tell apart every layer of a subnet that differs in shape or kernel type
    struct qn_mb_genome g;
    qn_mb_genome_max(S, &g);
    struct qn_mb_layer L[QN_MB_MAX_LAYERS];
    const int n = qn_mb_layers(S, &g, L);
    for (int i = 0; i < n; i++) {
        QT_CHECK(qn_lut_key(&L[i], true) != qn_lut_key(&L[i], false), "integer and FP32 keys differ");
        for (int j = 0; j < i; j++) {
            const bool same = L[i].kind == L[j].kind && L[i].cin == L[j].cin && L[i].cout == L[j].cout &&
                              L[i].k == L[j].k && L[i].stride == L[j].stride && L[i].h == L[j].h;
            QT_CHECK(same == (qn_lut_key(&L[i], true) == qn_lut_key(&L[j], true)), "key of %s vs %s", L[i].name,
                     L[j].name);
        }
    }
    // estimate = sum of the entries; missing layers counted
    struct qn_mb_policy p;
    qn_mb_policy_uniform(S, &g, 8, 8, &p);
    for (int i = 0; i < n; i++) qn_lut_set(&t, qn_lut_key(&L[i], true), 0.25);
    int miss = -1;
    const double est = qn_lut_estimate(&t, S, &g, &p, &miss);
    int distinct = t.n;
    QT_CHECK(fabs(est - 0.25 * n) < 1e-12 && miss == 0, "estimate %g for %d layers (%d keys)", est, n, distinct);
    qn_mb_policy_uniform(S, &g, 0, 0, &p);
    qn_lut_estimate(&t, S, &g, &p, &miss);
    QT_CHECK(miss == n, "FP32 layers missing: %d", miss);
    qn_lut_free(&t);
}

// --- end to end ---

static void small_cfg(struct qn_search_cfg *c, const char *out) {
    qn_search_cfg_default(c);
    c->weights = g_weights, c->out = out;
    c->samples = 7, c->population = 8, c->generations = 2, c->iterations = 1, c->per_iter = 2;  // 3 + 7: the 5-fold CV runs (n >= 10)
    c->val_images = 200, c->test_images = 200, c->bn_images = 100, c->calib_images = 50;
    c->latency_reps = 3, c->max_front = 3, c->seed = 7;
    c->progress = false;
    if (qt_quick()) {  // sanitizer runs: the same path, less data
        c->samples = 4, c->population = 6, c->generations = 1;
        c->val_images = c->test_images = 100, c->bn_images = 50, c->calib_images = 20;
    }
}

static int count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

static bool same_or_nan(double x, double y) { return x == y || (isnan(x) && isnan(y)); }

// halves: also the validation accuracy's halves (a cache without them gives NaN)
static bool same_measurements(const struct qn_search_result *a, const struct qn_search_result *b, bool halves) {
    if (a->n != b->n || a->n_front != b->n_front || a->best != b->best) {
        fprintf(stderr, "  n %d/%d, front %d/%d, best %d/%d\n", a->n, b->n, a->n_front, b->n_front, a->best, b->best);
        return false;
    }
    for (int i = 0; i < a->n; i++) {
        const struct qn_search_point *x = &a->pts[i], *y = &b->pts[i];
        if (strcmp(x->genome, y->genome) || strcmp(x->policy, y->policy) || strcmp(x->source, y->source) ||
            x->val_acc != y->val_acc || x->latency_ms != y->latency_ms || x->lut_ms != y->lut_ms ||
            !same_or_nan(x->test_acc, y->test_acc) ||
            (halves && !(same_or_nan(x->val_half[0], y->val_half[0]) && same_or_nan(x->val_half[1], y->val_half[1])))) {
            fprintf(stderr, "  point %d differs: %s %s %s %.17g %.17g %.17g %g\n  vs %s %s %s %.17g %.17g %.17g %g\n", i,
                    x->source, x->genome, x->policy, x->val_acc, x->latency_ms, x->lut_ms, x->test_acc, y->source,
                    y->genome, y->policy, y->val_acc, y->latency_ms, y->lut_ms, y->test_acc);
            return false;
        }
    }
    for (int t = 0; t < a->n_front; t++)
        if (a->front[t] != b->front[t]) return false;
    return true;
}

static void end_to_end(void) {
    char out[300], table[300], path[400];
    snprintf(out, sizeof(out), "%s/a", g_dir);
    snprintf(table, sizeof(table), "%s/latency.json", g_dir);
    struct qn_search_cfg c;
    small_cfg(&c, out);
    c.latency_table = table;
    struct qn_search_result r;
    struct qn_error e = {{0}};
    QT_CHECK(qn_search_run(&c, &r, &e) == QN_OK, "search: %s", e.msg);
    if (r.n == 0) return;
    // every output file, nothing half-written
    const char *files[] = {"evaluated.csv", "pareto.csv", "pareto.json", "pareto.svg", "report.md", "summary.json",
                           "predictors.json", "search.json", "cache.txt", "latency.json", "best.qnas"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", out, files[i]);
        struct stat sb;
        QT_CHECK(stat(path, &sb) == 0 && sb.st_size > 0, "%s written", files[i]);
    }
    DIR *d = opendir(out);
    for (struct dirent *de; d && (de = readdir(d));) QT_CHECK(!strstr(de->d_name, ".tmp"), "left %s", de->d_name);
    // the baselines and the front were timed again together at the end: their latencies are
    // the table's "#final" entries
    {
        char *tab = qt_slurp(table, NULL);
        cJSON *j = tab ? cJSON_Parse(tab) : NULL;
        const cJSON *pts = cJSON_GetObjectItemCaseSensitive(j, "configs");
        const cJSON *it;
        int finals = 0, matched = 0;
        cJSON_ArrayForEach(it, pts) if (strstr(it->string, "#final") && cJSON_IsNumber(it)) {
            int m = 0;
            for (int i = 0; i < r.n; i++) m += it->valuedouble == r.pts[i].latency_ms;
            if (!m) printf("    no point has the verified latency of %s (%.17g)\n", it->string, it->valuedouble);
            finals++, matched += m > 0;
        }
        QT_CHECK(finals >= 2 + (r.n_front > 1 ? 1 : 0), "%d verified latencies in the table", finals);
        QT_CHECK(matched == finals, "verified latencies not in the results (%d of %d)", matched, finals);
        // every configuration timed again after the search ("#sweep", the lower of both kept,
        // so at most its first timing "<key>"); a point not verified at the end carries it
        int swept = 0;
        for (int i = 0; i < r.n; i++) {
            char k[1100];
            snprintf(k, sizeof(k), "%s|%s", r.pts[i].genome, r.pts[i].policy);
            const cJSON *first = cJSON_GetObjectItemCaseSensitive(pts, k);
            strcat(k, "#sweep");
            const cJSON *sw = cJSON_GetObjectItemCaseSensitive(pts, k);
            strcpy(k + strlen(k) - strlen("#sweep"), "#final");
            const cJSON *fin = cJSON_GetObjectItemCaseSensitive(pts, k);
            if (!cJSON_IsNumber(sw) || !cJSON_IsNumber(first)) continue;
            swept++;
            QT_CHECK(sw->valuedouble <= first->valuedouble, "point %d: swept %.6f above its first %.6f", i,
                     sw->valuedouble, first->valuedouble);
            QT_CHECK(fin || r.pts[i].latency_ms == sw->valuedouble, "point %d: latency %.6f, swept %.6f", i,
                     r.pts[i].latency_ms, sw->valuedouble);
        }
        QT_CHECK(swept == r.n, "%d of %d points swept", swept, r.n);
        // the LUT in two passes, the same layers in each; every point's estimate is from the
        // lower of the two per layer
        const cJSON *l1 = cJSON_GetObjectItemCaseSensitive(j, "lut"), *l2 = cJSON_GetObjectItemCaseSensitive(j, "lut2");
        struct qn_lut lut = {0};
        int n1 = 0, n2 = 0, lower2 = 0;
        cJSON_ArrayForEach(it, l1) {
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(l2, it->string);
            n1++;
            if (!cJSON_IsNumber(b)) continue;
            n2++, lower2 += b->valuedouble < it->valuedouble;
            qn_lut_set(&lut, strtoull(it->string, NULL, 16), QN_MIN(it->valuedouble, b->valuedouble));
        }
        QT_CHECK(n1 > 0 && n2 == n1 && cJSON_GetArraySize(l2) == n1, "LUT passes: %d and %d entries, %d shared", n1,
                 cJSON_GetArraySize(l2), n2);
        int same = 0;
        for (int i = 0; i < r.n; i++) same += qn_lut_estimate(&lut, S, &r.pts[i].g, &r.pts[i].p, NULL) == r.pts[i].lut_ms;
        QT_CHECK(same == r.n, "%d of %d points estimated from the lower of the two passes (%d layers lower in the "
                 "second)", same, r.n, lower2);
        qn_lut_free(&lut);
        cJSON_Delete(j), free(tab);
    }
    if (d) closedir(d);
    snprintf(path, sizeof(path), "%s/evaluated.csv", out);
    char *csv = qt_slurp(path, NULL);
    QT_CHECK(count_lines(csv) == r.n + 1, "evaluated.csv: %d rows for %d points", count_lines(csv) - 1, r.n);
    free(csv);
    // the plan: 3 anchors + samples + per_iter per round (iterations, arch-only, quant-only) at most
    QT_CHECK(r.n >= 3 + c.samples && r.n <= 3 + c.samples + (c.iterations + 2) * c.per_iter, "%d measured", r.n);
    int n_src[4] = {0};
    for (int i = 0; i < r.n; i++) {
        const struct qn_search_point *p = &r.pts[i];
        n_src[0] += !strcmp(p->source, "sample"), n_src[1] += !strcmp(p->source, "iter1");
        n_src[2] += !strcmp(p->source, "arch-int8"), n_src[3] += !strcmp(p->source, "quant-max");
        QT_CHECK(p->val_acc > 0.5 && p->val_acc <= 1 && p->latency_ms > 0 && p->lut_ms > 0, "point %d measured", i);
        // the halves are the even- and odd-index images' shares of the same hits
        const int nv = c.val_images;
        QT_CHECK(fabs(p->val_half[0] * ((nv + 1) / 2) + p->val_half[1] * (nv / 2) - p->val_acc * nv) < 1e-6,
                 "point %d: halves %.4f %.4f, accuracy %.4f", i, p->val_half[0], p->val_half[1], p->val_acc);
        QT_CHECK(p->size_bytes == qn_mb_policy_size_bytes(S, &p->g, &p->p), "exact size");
        for (int j = 0; j < i; j++)
            QT_CHECK(strcmp(p->genome, r.pts[j].genome) || strcmp(p->policy, r.pts[j].policy), "%d measured twice", i);
        if (!strcmp(p->source, "arch-int8")) {
            struct qn_mb_policy p8;
            qn_mb_policy_uniform(S, &p->g, 8, 8, &p8);
            QT_CHECK(policies_equal(&p->p, &p8), "arch-only point %d is INT8", i);
        }
        if (!strcmp(p->source, "quant-max")) {
            struct qn_mb_genome gm;
            qn_mb_genome_max(S, &gm);
            QT_CHECK(!memcmp(&gm, &p->g, sizeof(gm)), "quant-only point %d is the largest subnet", i);
        }
    }
    QT_CHECK(n_src[0] == c.samples && n_src[1] >= 1 && n_src[2] >= 1 && n_src[3] >= 1, "sources %d %d %d %d",
             n_src[0], n_src[1], n_src[2], n_src[3]);
    // the front: measured, non-dominated (val accuracy, latency, size), with test accuracy
    QT_CHECK(r.n_front >= 1 && r.n_front <= c.max_front, "front of %d", r.n_front);
    for (int t = 0; t < r.n_front; t++) {
        const struct qn_search_point *a = &r.pts[r.front[t]];
        QT_CHECK(a->front && !isnan(a->test_acc), "front point %d has test accuracy", a->id);
        if (t) QT_CHECK(a->latency_ms >= r.pts[r.front[t - 1]].latency_ms, "front sorted by latency");
        const double fa[3] = {-a->val_acc, a->latency_ms, (double)a->size_bytes};
        for (int i = 0; i < r.n; i++) {
            const double fb[3] = {-r.pts[i].val_acc, r.pts[i].latency_ms, (double)r.pts[i].size_bytes};
            QT_CHECK(qn_pareto_compare(fb, fa, 3) != 1 || !strcmp(r.pts[i].policy, "fp32"),
                     "front point %d dominated by %d", a->id, i);
        }
    }
    // --max-front truncation (qn_pareto_truncate, test-moo) keeps the most accurate and the fastest
    {
        int most = -1, fastest = -1;
        for (int i = 0; i < r.n; i++) {
            if (!strcmp(r.pts[i].policy, "fp32")) continue;
            if (most < 0 || r.pts[i].val_acc > r.pts[most].val_acc) most = i;
            if (fastest < 0 || r.pts[i].latency_ms < r.pts[fastest].latency_ms) fastest = i;
        }
        bool has_most = false, has_fastest = false;
        for (int t = 0; t < r.n_front; t++) {
            has_most |= r.pts[r.front[t]].val_acc == r.pts[most].val_acc;
            has_fastest |= r.pts[r.front[t]].latency_ms == r.pts[fastest].latency_ms;
        }
        QT_CHECK(has_most && has_fastest, "truncated front keeps the most accurate (%d) and the fastest (%d) points",
                 has_most, has_fastest);
    }
    const struct qn_search_point *i8 = &r.pts[r.int8_base];
    QT_CHECK(!strcmp(i8->policy, "int8") && !isnan(i8->test_acc), "INT8 baseline measured on test");
    QT_CHECK(!strcmp(r.pts[r.fp32_base].policy, "fp32"), "FP32 baseline");
    if (r.best >= 0) QT_CHECK(r.pts[r.best].test_acc >= i8->test_acc && r.pts[r.best].front, "best at no loss");
    QT_CHECK(r.cand_evaluated >= (long long)c.population * (c.generations + 1), "NSGA-II ran: %lld", r.cand_evaluated);
    QT_CHECK(!isnan(r.lut_tau) && r.lut_tau > 0, "LUT ranks latency: tau %g", r.lut_tau);
    QT_CHECK(!isnan(r.lut_tau_pass[0]) && !isnan(r.lut_tau_pass[1]), "each LUT pass scored: tau %g / %g",
             r.lut_tau_pass[0], r.lut_tau_pass[1]);
    // the accuracy's reliability: over the same points as the predictors' quality (the held-out
    // search points are the last ones measured), recomputed here from the halves
    // the latency models' cross-validation twice, over the same points as the accuracy's: on the
    // final latencies and on the first timings
    QT_CHECK(qt_quick() || r.acc_mlp_cv.n >= 10, "cross-validated over %d points", r.acc_mlp_cv.n);
    // too few points for cross-validation (the sanitizer runs' 4 samples): undefined, not 0
    QT_CHECK(r.acc_mlp_cv.n >= 10 || (isnan(r.acc_mlp_cv.kendall_tau) && isnan(r.lat_mlp_cv.kendall_tau) &&
                                      isnan(r.lat_mlp_cv_first.mae)),
             "no CV over %d points, yet tau %g", r.acc_mlp_cv.n, r.acc_mlp_cv.kendall_tau);
    QT_CHECK(r.lat_mlp_cv.n == r.acc_mlp_cv.n && r.lat_mlp_cv_first.n == r.acc_mlp_cv.n &&
                 r.lat_ridge_cv.n == r.acc_mlp_cv.n && r.lat_ridge_cv_first.n == r.acc_mlp_cv.n &&
                 (r.acc_mlp_cv.n == 0 || (!isnan(r.lat_mlp_cv.kendall_tau) && !isnan(r.lat_mlp_cv_first.kendall_tau))),
             "latency CV over %d / %d points (accuracy %d), tau %g / %g", r.lat_mlp_cv.n, r.lat_mlp_cv_first.n,
             r.acc_mlp_cv.n, r.lat_mlp_cv.kendall_tau, r.lat_mlp_cv_first.kendall_tau);
    QT_CHECK(r.acc_noise.n == r.acc_mlp.n && r.acc_noise_cv.n == r.acc_mlp_cv.n && r.acc_noise.n >= 3,
             "reliability over %d / %d points, quality over %d / %d", r.acc_noise.n, r.acc_noise_cv.n, r.acc_mlp.n,
             r.acc_mlp_cv.n);
    {
        const struct qn_acc_noise *q[2] = {&r.acc_noise, &r.acc_noise_cv};
        const int from[2] = {r.n - r.acc_noise.n, 0};
        for (int s = 0; s < 2; s++) {
            if (s == 1 && q[s]->n == 0) continue;  // no cross-validation with this few samples
            float h[2][256];
            const int n = QN_MIN(q[s]->n, 256);
            for (int i = 0; i < n; i++)
                h[0][i] = (float)r.pts[from[s] + i].val_half[0], h[1][i] = (float)r.pts[from[s] + i].val_half[1];
            const double tau = qn_kendall_tau(h[0], h[1], n);
            QT_CHECK(fabs(tau - q[s]->tau_halves) < 1e-12 && q[s]->r_halves >= -1 && q[s]->r_halves <= 1,
                     "set %d: tau of the halves %g, result %g, r %g", s, tau, q[s]->tau_halves, q[s]->r_halves);
            // tau vs true accuracy grows with r: 0 at r <= 0, 1 at r = 1
            QT_CHECK(q[s]->tau_true >= 0 && q[s]->tau_true <= 1 &&
                         (q[s]->r_halves > 0 || q[s]->tau_true == 0),
                     "set %d: tau vs true accuracy %g for r %g", s, q[s]->tau_true, q[s]->r_halves);
        }
    }
    // a point's validation accuracy is what a direct evaluation of it gives
    {
        const struct qn_search_point *p = &r.pts[r.front[0]];
        struct qn_mb_net net;
        struct qn_safetensors st;
        struct qn_dataset train = {0}, val = {0};
        bool ok = qn_st_read(g_weights, true, &st, &e) == QN_OK;
        if (ok) {
            ok = qn_mb_net_init(&net, S, &e) == QN_OK && qn_mb_net_load(&net, &st, g_weights, &e) == QN_OK;
            qn_st_free(&st);
        }
        ok = ok && qn_dataset_load(NULL, QN_SPLIT_TRAIN, &train, &e) == QN_OK &&
             qn_dataset_load(NULL, QN_SPLIT_VAL, &val, &e) == QN_OK;
        struct qn_qnet_cfg qc;
        qn_qnet_cfg_default(&qc);
        qc.bn_images = c.bn_images, qc.calib_images = c.calib_images;
        struct qn_qnet q;
        ok = ok && qn_qnet_build(&q, &net, &p->g, &p->p, &train, &qc, &e) == QN_OK;
        QT_CHECK(ok, "direct build: %s", e.msg);
        if (ok) {
            double half[2];
            const double acc = qn_qnet_accuracy_halves(&q, &val, c.val_images, half);
            QT_CHECK(acc == p->val_acc && half[0] == p->val_half[0] && half[1] == p->val_half[1],
                     "direct evaluation %.4f (%.4f %.4f), search %.4f (%.4f %.4f)", acc, half[0], half[1], p->val_acc,
                     p->val_half[0], p->val_half[1]);
            qn_qnet_free(&q);
        }
        // the exported model is the best point (else the most accurate front point), as measured
        int pick = r.best;
        for (int t = 0; pick < 0 && t < r.n_front; t++)
            if (t == 0 || r.pts[r.front[t]].test_acc > r.pts[pick].test_acc) pick = r.front[t];
        struct qn_dataset test = {0};
        snprintf(path, sizeof(path), "%s/best.qnas", out);
        ok = qn_dataset_load(NULL, QN_SPLIT_TEST, &test, &e) == QN_OK && qn_qnas_read(path, &q, 64, &e) == QN_OK;
        QT_CHECK(ok, "best.qnas: %s", e.msg);
        if (ok) {
            const double acc = qn_qnet_accuracy(&q, &test, c.test_images);
            QT_CHECK(acc == r.pts[pick].test_acc, "best.qnas: test top-1 %.4f, search %.4f", acc, r.pts[pick].test_acc);
            qn_qnet_free(&q);
        }
        qn_dataset_free(&test);
        qn_mb_net_free(&net), qn_dataset_free(&train), qn_dataset_free(&val);
    }
    // summary.json agrees with the result
    snprintf(path, sizeof(path), "%s/summary.json", out);
    char *txt = qt_slurp(path, NULL);
    cJSON *j = cJSON_Parse(txt ? txt : "");
    const cJSON *ib = cJSON_GetObjectItemCaseSensitive(j, "int8_baseline");
    const cJSON *ta = cJSON_GetObjectItemCaseSensitive(ib, "test_accuracy");
    QT_CHECK(cJSON_IsNumber(ta) && fabs(ta->valuedouble - i8->test_acc) < 1e-9, "summary int8 test accuracy");
    cJSON_Delete(j), free(txt);

    // the same search from the same latency table: identical, measurement for measurement
    char out2[300];
    snprintf(out2, sizeof(out2), "%s/b", g_dir);
    struct qn_search_cfg c2;
    small_cfg(&c2, out2);
    c2.latency_table = table;
    struct qn_search_result r2;
    QT_CHECK(qn_search_run(&c2, &r2, &e) == QN_OK, "replay: %s", e.msg);
    QT_CHECK(same_measurements(&r, &r2, true), "replay from the latency table is identical");
    qn_search_result_free(&r2);

    // interrupted: keep the first half of the cache (and a torn last line); --resume ends the same
    snprintf(path, sizeof(path), "%s/cache.txt", out2);
    char *cache = qt_slurp(path, NULL);
    const int lines = count_lines(cache);
    char *cut = cache;
    for (int k = 0; cut && k < lines / 2; k++) cut = strchr(cut, '\n') + 1;
    FILE *f = fopen(path, "w");
    if (f && cut) {
        fwrite(cache, 1, (size_t)(cut - cache), f);
        fputs("val 0.5", f);  // torn write
        fclose(f);
    }
    free(cache);
    c2.latency_table = NULL;  // the folder's own latency.json carries the LUT and latencies
    QT_CHECK(qn_search_run(&c2, &r2, &e) == QN_ERR_ARG && strstr(e.msg, "--resume"), "fresh run refuses: %s", e.msg);
    c2.resume = true;
    QT_CHECK(qn_search_run(&c2, &r2, &e) == QN_OK, "resume: %s", e.msg);
    QT_CHECK(same_measurements(&r, &r2, true), "the resumed search ends as the uninterrupted one");
    snprintf(path, sizeof(path), "%s/cache.txt", out2);
    cache = qt_slurp(path, NULL);
    QT_CHECK(!strstr(cache ? cache : "", "val 0.5val") && count_lines(cache) == lines, "cache completed: %d of %d",
             count_lines(cache), lines);
    qn_search_result_free(&r2);

    // a cache written before the halves ("val <acc> <lat> <key>") still resumes: the same
    // measurements, halves unknown, so no reliability figures
    f = fopen(path, "w");
    int old_lines = 0;
    for (char *ln = cache; f && ln && *ln;) {
        char *nl = strchr(ln, '\n'), kind[8];
        double acc, lat, h0, h1;
        int off = 0;
        if (nl) *nl = 0;
        if (sscanf(ln, "%7s %lf %lf %lf %lf %n", kind, &acc, &lat, &h0, &h1, &off) == 5 && !strcmp(kind, "val2") && off)
            fprintf(f, "val %.17g %.17g %s\n", acc, lat, ln + off), old_lines++;
        else
            fprintf(f, "%s\n", ln);
        ln = nl ? nl + 1 : NULL;
    }
    if (f) fclose(f);
    free(cache);
    QT_CHECK(old_lines >= c.samples, "%d val2 lines rewritten", old_lines);
    QT_CHECK(qn_search_run(&c2, &r2, &e) == QN_OK, "resume from an old cache: %s", e.msg);
    QT_CHECK(same_measurements(&r, &r2, false), "an old cache gives the same measurements");
    int known = 0;
    for (int i = 0; i < r2.n; i++) known += !isnan(r2.pts[i].val_half[0]) || !isnan(r2.pts[i].val_half[1]);
    QT_CHECK(known == 0 && r2.acc_noise.n == 0 && r2.acc_noise_cv.n == 0 && isnan(r2.acc_noise.tau_true),
             "old cache: %d points with halves, reliability over %d / %d", known, r2.acc_noise.n, r2.acc_noise_cv.n);
    qn_search_result_free(&r2);
    qn_search_result_free(&r);
}

static void bad_arguments(void) {
    char out[300];
    snprintf(out, sizeof(out), "%s/bad", g_dir);
    struct qn_search_cfg c;
    struct qn_search_result r;
    struct qn_error e = {{0}};
    small_cfg(&c, out);
    c.n_bits = 2, c.bits[0] = 4, c.bits[1] = 6;
    QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_ARG && strstr(e.msg, "8"), "bits without 8: %s", e.msg);
    small_cfg(&c, out);
    c.size_budget_kb = 1;
    QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_ARG && strstr(e.msg, "size-budget"), "size budget: %s", e.msg);
    small_cfg(&c, out);
    c.latency_budget_ms = 1e-4;
    QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_ARG && strstr(e.msg, "latency-budget"), "latency budget: %s", e.msg);
    small_cfg(&c, out);
    c.n_obj = 1;
    QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_ARG, "one objective");
    small_cfg(&c, out);
    c.weights = "/nonexistent.safetensors";
    QT_CHECK(qn_search_run(&c, &r, &e) != QN_OK && strstr(e.msg, "nonexistent"), "missing weights: %s", e.msg);
    // a --resume folder from another search
    small_cfg(&c, out);
    c.resume = true;
    c.seed = 8;
    char a[320];
    snprintf(a, sizeof(a), "%s/a", g_dir);
    c.out = a;
    QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_ARG && strstr(e.msg, "another search") && strstr(e.msg, "seed"),
             "resume from another search: %s", e.msg);
    {
        // settings that differ past 6 digits are another search too ("%g" compared 1e+06 = 1e+06)
        char sj[400], b[320];
        snprintf(sj, sizeof(sj), "%s/a/search.json", g_dir);
        char *txt = qt_slurp(sj, NULL);
        cJSON *j = txt ? cJSON_Parse(txt) : NULL;
        free(txt);
        cJSON_ReplaceItemInObjectCaseSensitive(j, "seed", cJSON_CreateNumber(1000000));
        char *out2 = j ? cJSON_Print(j) : NULL;
        snprintf(b, sizeof(b), "%s/b", g_dir);
        mkdir(b, 0755);
        snprintf(sj, sizeof(sj), "%s/b/search.json", g_dir);
        FILE *f = out2 ? fopen(sj, "w") : NULL;
        QT_CHECK(f && fputs(out2, f) >= 0 && fclose(f) == 0, "cannot write %s", sj);
        cJSON_Delete(j), free(out2);
        small_cfg(&c, out);
        c.out = b, c.resume = true, c.seed = 1000004;
        QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_ARG && strstr(e.msg, "another search") &&
                     strstr(e.msg, "1000004"),
                 "seed 1000004 resumed a seed 1000000 folder: %s", e.msg);
    }
    // a latency table measured on another thread count
    char table[340];
    snprintf(table, sizeof(table), "%s/a/latency.json", g_dir);
    small_cfg(&c, out);
    c.latency_table = table;
    c.latency_threads = 2;
    QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_ARG && strstr(e.msg, "--latency-threads 1"),
             "latency table of another thread count: %s", e.msg);
    // a table whose second LUT pass is not an object, or holds a bad entry (not finite, or no
    // latency of these nets: above 1e4 ms)
    const char *bad[] = {"[1, 2]", "{\"00ff\": -1}", "{\"xyz\": 0.1}", "{\"00ff\": 1e308}", "{\"00ff\": 1e999}",
                         "{\"00ff\": 20000}", "{\"\": 0.1}"};
    snprintf(table, sizeof(table), "%s/bad-latency.json", g_dir);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        FILE *f = fopen(table, "w");
        if (!f) continue;
        fprintf(f, "{\"format\": \"qnas-latency-1\", \"space\": \"%s\", \"threads\": 1, \"lut\": {}, \"lut2\": %s, "
                   "\"configs\": {}}", S->name, bad[i]);
        fclose(f);
        small_cfg(&c, out);
        c.latency_table = table;
        QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_FORMAT && strstr(e.msg, "bad-latency.json") &&
                     (strstr(e.msg, "lut2") || strstr(e.msg, "bad LUT entry")),
                 "latency table with lut2 %s: %s", bad[i], e.msg);
        struct stat sb;
        QT_CHECK(stat(out, &sb) != 0, "a search refused for its latency table left %s behind", out);
    }
    // and a configuration's latency: > 0, finite, at most 1e4 ms; the message names the file
    // and the key
    const char *bad_cfg[] = {"1e308", "0", "20000", "\"1\""};
    for (size_t i = 0; i < sizeof(bad_cfg) / sizeof(bad_cfg[0]); i++) {
        FILE *f = fopen(table, "w");
        if (!f) continue;
        fprintf(f, "{\"format\": \"qnas-latency-1\", \"space\": \"%s\", \"threads\": 1, \"lut\": {}, "
                   "\"configs\": {\"max|int8\": 0.1, \"min|int4\": %s}}", S->name, bad_cfg[i]);
        fclose(f);
        small_cfg(&c, out);
        c.latency_table = table;
        QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_FORMAT && strstr(e.msg, "bad-latency.json") &&
                     strstr(e.msg, "'min|int4'"),
                 "latency table with a configuration at %s: %s", bad_cfg[i], e.msg);
        struct stat sb;
        QT_CHECK(stat(out, &sb) != 0, "a search refused for its latency table left %s behind", out);
    }
    // --latency-table is checked before any work (here before the weights are read): a
    // directory, a file in a folder that does not exist, the --out folder itself
    char nodir[340];
    snprintf(nodir, sizeof(nodir), "%s/no-such-folder/latency.json", g_dir);
    const char *tables[] = {g_dir, nodir, out};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        small_cfg(&c, out);
        c.weights = "/nonexistent.safetensors";
        c.latency_table = tables[i];
        QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_ARG && strstr(e.msg, "--latency-table") &&
                     strstr(e.msg, tables[i]) && !strstr(e.msg, "nonexistent.safetensors"),
                 "latency table %s: %s", tables[i], e.msg);
        struct stat sb;
        QT_CHECK(stat(out, &sb) != 0, "latency table %s: %s made", tables[i], out);
    }
    // a failing search never touches a folder holding a search (the --resume above) and, in a
    // folder with other files, removes only its own
    {
        char p[400];
        snprintf(p, sizeof(p), "%s/a/search.json", g_dir);
        struct stat sb;
        QT_CHECK(stat(p, &sb) == 0, "the refused --resume removed %s", p);
        char other[300];
        snprintf(other, sizeof(other), "%s/other", g_dir);
        mkdir(other, 0777);
        snprintf(p, sizeof(p), "%s/notes.txt", other);
        FILE *f = fopen(p, "w");
        if (f) fputs("mine\n", f), fclose(f);
        small_cfg(&c, other);
        c.size_budget_kb = 1;
        QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_ARG, "size budget: %s", e.msg);
        QT_CHECK(stat(p, &sb) == 0, "the failed search removed %s", p);
        snprintf(p, sizeof(p), "%s/search.json", other);
        QT_CHECK(stat(p, &sb) != 0, "the failed search left %s", p);
    }
    // weights that overflow (before: an assertion in the fake quantization, and search.json and
    // cache.txt left in the folder)
    char huge[300];
    snprintf(huge, sizeof(huge), "%s/huge.safetensors", g_dir);
    // the committed supernet with the stem's conv weights at 3e38: every subnet overflows
    QN_ASSERT(qt_weights_with(g_weights, huge, "stem.conv.weight", 3e38f));
    small_cfg(&c, out);
    c.weights = huge;
    QT_CHECK(qn_search_run(&c, &r, &e) == QN_ERR_FORMAT && strstr(e.msg, huge) && strstr(e.msg, "not finite"),
             "weights out of range: %s", e.msg);
    struct stat sb;
    QT_CHECK(stat(out, &sb) != 0, "a search refused for its weights left %s behind", out);
    remove(huge);
}

static bool copy_file(const char *from, const char *to) {
    size_t n = 0;
    char *b = qt_slurp(from, &n);
    FILE *f = b ? fopen(to, "wb") : NULL;
    bool ok = f && fwrite(b, 1, n, f) == n;
    if (f) ok &= fclose(f) == 0;
    free(b);
    return ok;
}

// --bits 8: the quantization-only search has one configuration, the INT8 baseline, so it is
// skipped, said so in the result, report.md and summary.json; the rest runs as usual.
static void single_bit_width(void) {
    char out[300], table[300], path[400];
    snprintf(out, sizeof(out), "%s/bits8", g_dir);
    snprintf(table, sizeof(table), "%s/bits8-latency.json", g_dir);
    snprintf(path, sizeof(path), "%s/latency.json", g_dir);
    copy_file(path, table);  // end_to_end's LUT, so the layers are not timed again
    struct qn_search_cfg c;
    small_cfg(&c, out);
    c.latency_table = table;
    c.n_bits = 1, c.bits[0] = 8;
    c.samples = 4, c.population = 4, c.generations = 1, c.iterations = 0, c.per_iter = 1, c.max_front = 2;
    c.val_images = c.test_images = 50, c.bn_images = c.calib_images = 20;
    struct qn_search_result r;
    struct qn_error e = {{0}};
    // one thread: this small a search runs 2.7 s on one, and 23 s on two of a busy 2-core host
    const int th = qn_threads();
    qn_threads_set(1);
    QT_CHECK(qn_search_run(&c, &r, &e) == QN_OK, "search --bits 8: %s", e.msg);
    qn_threads_set(th);
    if (r.n == 0) return;
    QT_CHECK(r.quant_skipped && strstr(r.quant_skipped, "single width"), "skip reason: %s",
             r.quant_skipped ? r.quant_skipped : "(none)");
    QT_CHECK(r.n_quant == 1 && r.quant_front[0] == r.int8_base, "quantization-only front: %d points", r.n_quant);
    for (int i = 0; i < r.n; i++)
        QT_CHECK(strcmp(r.pts[i].source, "quant-max") && (i == r.fp32_base || !strcmp(r.pts[i].policy, "int8")),
                 "point %d: %s %s", i, r.pts[i].source, r.pts[i].policy);
    QT_CHECK(r.n_front >= 1, "front of %d", r.n_front);
    snprintf(path, sizeof(path), "%s/report.md", out);
    char *md = qt_slurp(path, NULL);
    QT_CHECK(md && strstr(md, "Not searched: --bits has a single width"), "report.md says why");
    free(md);
    snprintf(path, sizeof(path), "%s/summary.json", out);
    char *txt = qt_slurp(path, NULL);
    cJSON *j = cJSON_Parse(txt ? txt : "");
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(j, "quant_only_search_skipped");
    QT_CHECK(cJSON_IsString(why) && !strcmp(why->valuestring, r.quant_skipped), "summary.json says why");
    cJSON_Delete(j), free(txt);
    qn_search_result_free(&r);
}

// --- the command line ---

// Runs `[pre] qnas --threads 1 <args>` through sh, stderr into *err (free it); the exit status.
static int qnas(const char *pre, const char *args, char **err) {
    char *cmd, out[300], errf[300];
    snprintf(out, sizeof(out), "%s/cli.out", g_dir);
    snprintf(errf, sizeof(errf), "%s/cli.err", g_dir);
    QN_ASSERT(asprintf(&cmd, "%s '%s' --threads 1 %s > '%s' 2> '%s'", pre ? pre : "", g_qnas, args, out, errf) > 0);
    const int rc = system(cmd);
    free(cmd);
    *err = qt_slurp(errf, NULL);
    if (!*err) *err = strdup("");
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// A list option with an empty entry is refused, naming the option and the list.
static void cli_list_with_empty_entry(void) {
    if (access(g_qnas, X_OK) != 0) {
        QT_CHECK(false, "%s is not built (make build/qnas)", g_qnas);
        return;
    }
    const struct { const char *opt, *v; } bad[] = {{"--objectives", "acc,,latency"}, {"--objectives", "acc,latency,"},
                                                    {"--objectives", ",acc,size"},  {"--objectives", ""},
                                                    {"--bits", "8,,4"},             {"--bits", "4,8,"},
                                                    {"--bits", ",8"},               {"--bits", ","}};
    char out[300], args[1024], quoted[64];
    snprintf(out, sizeof(out), "%s/cli-list", g_dir);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(args, sizeof(args), "search --weights /nonexistent.safetensors --out '%s' %s '%s'", out, bad[i].opt,
                 bad[i].v);
        snprintf(quoted, sizeof(quoted), "'%s'", bad[i].v);
        char *err;
        const int rc = qnas(NULL, args, &err);
        QT_CHECK(rc == 2 && count_lines(err) == 1 && strstr(err, bad[i].opt) && strstr(err, quoted) &&
                     strstr(err, "empty entry"),
                 "%s '%s': exit %d, %s", bad[i].opt, bad[i].v, rc, err);
        free(err);
    }
}

// A fresh search folder is removed on any failure: a --latency-table refused at once, and an
// IO error at the very end (a file size limit: writes past 100 KB fail with EFBIG, so
// predictors.json or best.qnas cannot be written after everything was measured).
static void cli_fresh_folder_on_failure(void) {
    if (access(g_qnas, X_OK) != 0) {
        QT_CHECK(false, "%s is not built (make build/qnas)", g_qnas);
        return;
    }
    char out[300], table[300], path[400], args[2048];
    snprintf(out, sizeof(out), "%s/cli-fresh", g_dir);
    snprintf(table, sizeof(table), "%s/cli-latency.json", g_dir);
    snprintf(path, sizeof(path), "%s/latency.json", g_dir);
    copy_file(path, table);  // end_to_end's LUT: nothing timed but the few new configurations
    const char *small = "--samples 4 --population 4 --generations 1 --iterations 0 --per-iteration 1 "
                        "--val-images 20 --test-images 20 --bn-images 20 --calib-images 20 --latency-reps 3 "
                        "--max-front 2 --quiet";
    snprintf(path, sizeof(path), "%s/no-such-folder/latency.json", g_dir);
    const char *tables[] = {g_dir, path};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        snprintf(args, sizeof(args), "search --weights '%s' --out '%s' %s --latency-table '%s'", g_weights, out, small,
                 tables[i]);
        char *err;
        const double t0 = qn_now();
        const int rc = qnas(NULL, args, &err);
        struct stat sb;
        QT_CHECK(rc == 2 && count_lines(err) == 1 && strstr(err, "--latency-table") && stat(out, &sb) != 0,
                 "--latency-table %s: exit %d, %s left: %d, %s", tables[i], rc, out, stat(out, &sb) == 0, err);
        QT_CHECK(qn_now() - t0 < 2, "--latency-table %s refused after %.1f s", tables[i], qn_now() - t0);
        free(err);
    }
    snprintf(args, sizeof(args), "search --weights '%s' --out '%s' %s --latency-table '%s'", g_weights, out, small,
             table);
    char *err;
    const int rc = qnas("trap '' XFSZ; ulimit -f 200;", args, &err);
    // a failure after measurements keeps them for --resume, and no report
    struct stat sb;
    snprintf(path, sizeof(path), "%s/cache.txt", out);
    const bool cache_kept = stat(path, &sb) == 0 && sb.st_size > 0;
    snprintf(path, sizeof(path), "%s/report.md", out);
    const bool report_gone = stat(path, &sb) != 0;
    snprintf(path, sizeof(path), "%s/predictors.json", out);
    QT_CHECK(rc == 2 && count_lines(err) == 1 && strstr(err, "File too large") && strstr(err, "--resume") &&
                 cache_kept && report_gone && stat(path, &sb) != 0,
             "a write failing at the end: exit %d, cache kept %d, reports gone %d, %s", rc, cache_kept, report_gone,
             err);
    QT_CHECK(stat(table, &sb) == 0 && sb.st_size > 0, "the latency table outside the folder is kept");
    free(err);
    snprintf(args, sizeof(args), "search --weights '%s' --out '%s' %s --latency-table '%s' --resume", g_weights, out,
             small, table);
    const int rc2 = qnas(NULL, args, &err);
    snprintf(path, sizeof(path), "%s/report.md", out);
    QT_CHECK(rc2 == 0 && stat(path, &sb) == 0, "--resume after the failure: exit %d, %s", rc2, err);
    free(err);
}

int main(int argc, char **argv) {
    (void)argc;
    S = qn_mb_space_fmnist();
    qt_seed(99);
    g_weights = getenv("QNAS_TEST_WEIGHTS") ? getenv("QNAS_TEST_WEIGHTS") : "weights/mbconv-fmnist.safetensors";
    // the qnas binary of this build tree: <build>/tests/test-search -> <build>/qnas
    char self[4096];
    snprintf(self, sizeof(self), "%s", argv[0]);
    snprintf(g_qnas, sizeof(g_qnas), "%s/../qnas", dirname(self));
    snprintf(g_dir, sizeof(g_dir), "/tmp/qnas-test-search-XXXXXX");
    if (!mkdtemp(g_dir)) {
        printf("  fail  mkdtemp\nRESULT test-search pass=0 fail=1\n");
        return 1;
    }
    QT_RUN(qgenome_roundtrip);
    QT_RUN(lut_basics);
    QT_RUN(end_to_end);
    QT_RUN(bad_arguments);
    QT_RUN(single_bit_width);
    QT_RUN(cli_list_with_empty_entry);
    QT_RUN(cli_fresh_folder_on_failure);
    qt_rm_tree(g_dir);
    return qt_finish(argv[0]);
}
