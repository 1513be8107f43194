// `qnas search`: argument parsing for the pipeline of search.h, and the closing summary.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "nsga2.h"
#include "search.h"

// Comma-separated lists: strsep, not strtok, so an empty entry ("acc,,latency", a leading or
// trailing comma, "") reaches the checks below and is refused like any bad entry.
static bool parse_objectives(const char *v, struct qn_search_cfg *c) {
    char buf[128], *rest = buf;
    if (strlen(v) >= sizeof(buf)) return false;
    strcpy(buf, v);
    c->n_obj = 0;
    bool seen[3] = {false, false, false};
    for (char *t; (t = strsep(&rest, ","));) {
        enum qn_search_obj o;
        if (!strcmp(t, "acc") || !strcmp(t, "accuracy")) o = QN_OBJ_ACC;
        else if (!strcmp(t, "latency")) o = QN_OBJ_LATENCY;
        else if (!strcmp(t, "size")) o = QN_OBJ_SIZE;
        else return false;
        if (seen[o] || c->n_obj == 3) return false;
        seen[o] = true;
        c->obj[c->n_obj++] = o;
    }
    return c->n_obj >= 2 && c->obj[0] == QN_OBJ_ACC;
}

static bool parse_bits(const char *v, struct qn_search_cfg *c) {
    char buf[64], *rest = buf;
    if (strlen(v) >= sizeof(buf)) return false;
    strcpy(buf, v);
    c->n_bits = 0;
    for (char *t; (t = strsep(&rest, ","));) {
        long b;
        if (!strcmp(t, "fp32") || !strcmp(t, "f")) b = 0;
        else if (!qn_cli_long(t, 2, 8, &b)) return false;
        if (c->n_bits == QN_SEARCH_MAX_BITS) return false;
        for (int i = 0; i < c->n_bits; i++)
            if (c->bits[i] == b) return false;
        c->bits[c->n_bits++] = (int)b;
    }
    return c->n_bits >= 1;
}

// " (an empty entry)" when the list v has one, for the message that refuses it.
static const char *empty_entry(const char *v) {
    const size_t n = strlen(v);
    return !n || v[0] == ',' || v[n - 1] == ',' || strstr(v, ",,") ? " (an empty entry)" : "";
}

int qn_cmd_search(int argc, char **argv) {
    struct qn_search_cfg c;
    qn_search_cfg_default(&c);
    c.progress = true;
    const char *cmd = "search";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--resume")) {
            c.resume = true;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            c.progress = false;
            continue;
        }
        if (a[0] != '-' || a[1] != '-') return qn_cli_bad(cmd, "unexpected argument '%s'%s (see qnas help)", a, "");
        struct { const char *name; int *dst; long lo, hi; } ints[] = {
            {"--samples", &c.samples, 4, 100000}, {"--population", &c.population, 4, QN_NSGA2_CLI_MAX_POP},
            {"--generations", &c.generations, 1, 100000}, {"--iterations", &c.iterations, 0, 1000},
            {"--per-iteration", &c.per_iter, 1, 10000}, {"--val-images", &c.val_images, 10, 5000},
            {"--test-images", &c.test_images, 10, 10000}, {"--bn-images", &c.bn_images, 1, 55000},
            {"--calib-images", &c.calib_images, 1, 55000}, {"--latency-reps", &c.latency_reps, 3, 100000},
            {"--latency-threads", &c.latency_threads, 1, 1024},
            {"--max-front", &c.max_front, 1, 1000}};
        static const char *const others[] = {"--weights", "--out", "--data", "--latency-table", "--seed",
                                             "--objectives", "--bits", "--latency-budget", "--size-budget"};
        bool known = qn_cli_one_of(a, others, sizeof(others) / sizeof(others[0]));
        for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) known |= strcmp(a, ints[k].name) == 0;
        if (!known) return qn_cli_bad(cmd, "unknown option '%s'%s (see qnas help)", a, "");
        if (i + 1 >= argc) return qn_cli_bad(cmd, "option %s needs a value%s", a, "");
        const char *v = argv[++i];
        long n;
        float x;
        bool done = false;
        for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]) && !done; k++) {
            if (strcmp(a, ints[k].name)) continue;
            if (!qn_cli_long(v, ints[k].lo, ints[k].hi, &n)) {
                char range[64];
                snprintf(range, sizeof(range), " (expects %ld..%ld)", ints[k].lo, ints[k].hi);
                fprintf(stderr, "qnas search: bad value '%s' for %s%s\n", v, a, range);
                return 2;
            }
            *ints[k].dst = (int)n, done = true;
        }
        if (done) continue;
        if (!strcmp(a, "--weights")) c.weights = v;
        else if (!strcmp(a, "--out")) c.out = v;
        else if (!strcmp(a, "--data")) c.data = v;
        else if (!strcmp(a, "--latency-table")) c.latency_table = v;
        else if (!strcmp(a, "--seed")) {
            if (!qn_cli_long(v, 0, 0x7fffffffL, &n)) return qn_cli_bad(cmd, "--seed expects 0..2^31-1, got '%s'%s", v, "");
            c.seed = (uint64_t)n;
        } else if (!strcmp(a, "--objectives")) {
            if (!parse_objectives(v, &c))
                return qn_cli_bad(cmd, "--objectives expects acc followed by latency and/or size, e.g. acc,latency,size; "
                                       "got '%s'%s", v, empty_entry(v));
        } else if (!strcmp(a, "--bits")) {
            if (!parse_bits(v, &c))
                return qn_cli_bad(cmd, "--bits expects up to 4 distinct weight widths from 2..8 or fp32, e.g. 4,6,8; "
                                       "got '%s'%s", v, empty_entry(v));
        } else if (!strcmp(a, "--latency-budget")) {
            if (!qn_cli_float(v, 1e-6, 1e6, &x)) return qn_cli_bad(cmd, "--latency-budget expects milliseconds > 0, got '%s'%s", v, "");
            c.latency_budget_ms = x;
        } else if (!strcmp(a, "--size-budget")) {
            if (!qn_cli_float(v, 1e-6, 1e9, &x)) return qn_cli_bad(cmd, "--size-budget expects KB > 0, got '%s'%s", v, "");
            c.size_budget_kb = x;
        } else return qn_cli_bad(cmd, "unknown option '%s'%s (see qnas help)", a, "");
    }
    if (!c.weights) return qn_cli_bad(cmd, "--weights FILE is required%s%s", "", "");
    if (!c.out) return qn_cli_bad(cmd, "--out DIR is required%s%s", "", "");
    struct qn_search_result r;
    struct qn_error e = {{0}};
    if (qn_search_run(&c, &r, &e)) {
        if (c.progress) fputc('\n', stderr);
        fprintf(stderr, "qnas search: %s\n", e.msg);
        return 2;
    }
    if (r.quant_skipped) fprintf(stderr, "qnas search: note: quantization-only search skipped: %s\n", r.quant_skipped);
    const struct qn_search_point *i8 = &r.pts[r.int8_base];
    printf("qnas search: %d configurations measured, %lld candidates predicted (%.0f / s), %.0f s\n", r.n,
           r.cand_evaluated, r.cand_seconds > 0 ? r.cand_evaluated / r.cand_seconds : 0.0, r.seconds);
    printf("INT8 baseline (largest subnet): test top-1 %.2f%%, %.3f ms batch 1, %.1f KB\n", 100 * i8->test_acc,
           i8->latency_ms, i8->size_bytes / 1e3);
    if (r.best >= 0) {
        const struct qn_search_point *b = &r.pts[r.best];
        printf("best at no test-accuracy loss: #%d, test top-1 %.2f%%, %.3f ms (%.2fx lower latency), %.1f KB (%.2fx "
               "smaller)\n  genome %s\n  policy %s\n",
               b->id, 100 * b->test_acc, b->latency_ms, i8->latency_ms / b->latency_ms, b->size_bytes / 1e3,
               (double)i8->size_bytes / b->size_bytes, b->genome, b->policy);
    } else {
        printf("no front point reaches the INT8 baseline's test accuracy\n");
    }
    printf("predictors, Kendall tau on held-out configurations (search-proposed n=%d / 5-fold CV on random samples "
           "n=%d): accuracy MLP %s / %s, latency MLP %s / %s (%s fitted and scored on first timings); "
           "latency LUT %s (n=%d)\n",
           r.acc_mlp.n, r.acc_mlp_cv.n, qn_fig(r.acc_mlp.kendall_tau, 3, "").s,
           qn_fig(r.acc_mlp_cv.kendall_tau, 3, "").s, qn_fig(r.lat_mlp.kendall_tau, 3, "").s,
           qn_fig(r.lat_mlp_cv.kendall_tau, 3, "").s, qn_fig(r.lat_mlp_cv_first.kendall_tau, 3, "").s,
           qn_fig(r.lut_tau, 3, "").s, r.n);
    printf("the validation measurement's own Kendall tau against accuracy on new images (split halves, "
           "Spearman-Brown): %s / %s\n",
           qn_fig(r.acc_noise.tau_true, 3, "").s, qn_fig(r.acc_noise_cv.tau_true, 3, "").s);
    if (r.n_front) printf("model:  %s/best.qnas (the best point, standalone: qnas run %s/best.qnas)\n", c.out, c.out);
    printf("report: %s/report.md (front: %s/pareto.csv, plot: %s/pareto.svg)\n", c.out, c.out, c.out);
    qn_search_result_free(&r);
    return 0;
}
