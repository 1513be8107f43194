// `qnas moo`: NSGA-II on a standard test problem (ZDT1, ZDT2, ZDT3, DTLZ2) whose Pareto front
// is known, to check the optimizer: writes the final non-dominated front as CSV (atomically),
// prints its hypervolume and IGD against the analytic front, and the evaluations per second.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nsga2.h"
#include "pareto.h"
#include "problems.h"
#include "safetensors.h"  // qn_write_atomic

struct progress {
    int every, m;
    double t0;
};

static int show_progress(void *ctx, const struct qn_nsga2 *s) {
    const struct progress *p = ctx;
    if (s->gen % p->every && s->gen != s->cfg.gen) return 0;
    int k = 0;
    for (int i = 0; i < s->pop; i++) k += s->rank[i] == 0;
    // Hypervolume of the rank-0 members (the test problems have no constraints).
    double *F = malloc(sizeof(double) * (size_t)QN_MAX(k, 1) * p->m), hv = NAN;
    static const double ref[3] = {1.1, 1.1, 1.1};
    if (F) {
        int t = 0;
        for (int i = 0; i < s->pop; i++)
            if (s->rank[i] == 0) memcpy(F + (size_t)t++ * p->m, s->f + (size_t)i * p->m, sizeof(double) * p->m);
        if (qn_pareto_hv(F, k, p->m, ref, &hv)) hv = NAN;
        free(F);
    }
    fprintf(stderr, "qnas moo: gen %d: %lld evaluations, front %d, hypervolume %.6f (%.2f s)\n", s->gen, s->n_eval, k, hv,
            qn_now() - p->t0);
    return 0;
}

struct row_key {
    const double *f;
    int m;
};

static int cmp_rows(int a, int b, const void *ctx) {
    const struct row_key *k = ctx;
    for (int j = 0; j < k->m; j++) {
        double x = k->f[(size_t)a * k->m + j], y = k->f[(size_t)b * k->m + j];
        if (x != y) return x < y ? -1 : 1;
    }
    return a - b;
}

int qn_cmd_moo(int argc, char **argv) {
    const char *problem = NULL, *out = NULL;
    long pop = 100, gen = 250, seed = 1, every = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--problem") && strcmp(a, "--pop") && strcmp(a, "--gen") && strcmp(a, "--seed") &&
            strcmp(a, "--out") && strcmp(a, "--progress"))
            return qn_cli_bad("moo", "unknown option '%s'%s (see qnas help)", a, "");
        if (!v) return qn_cli_bad("moo", "option %s needs a value%s", a, "");
        i++;
        if (strcmp(a, "--problem") == 0) problem = v;
        else if (strcmp(a, "--out") == 0) out = v;
        else if (strcmp(a, "--pop") == 0) {
            if (!qn_cli_long(v, 4, QN_NSGA2_CLI_MAX_POP, &pop)) {
                fprintf(stderr, "qnas moo: --pop expects a population of 4..%d (time and memory grow with its square), "
                                "got '%s'\n", QN_NSGA2_CLI_MAX_POP, v);
                return 2;
            }
        } else if (strcmp(a, "--gen") == 0) {
            if (!qn_cli_long(v, 1, 10000000L, &gen)) return qn_cli_bad("moo", "--gen expects 1..10000000 generations, got '%s'%s", v, "");
        } else if (strcmp(a, "--seed") == 0) {
            if (!qn_cli_long(v, 0, 2147483647L, &seed)) return qn_cli_bad("moo", "--seed expects a non-negative integer, got '%s'%s", v, "");
        } else if (!qn_cli_long(v, 1, 10000000L, &every)) {
            return qn_cli_bad("moo", "--progress expects a number of generations >= 1, got '%s'%s", v, "");
        }
    }
    if (!problem) return qn_cli_bad("moo", "--problem is required (one of %s)%s", qn_moo_testprob_names(), "");
    const struct qn_moo_testprob *t = qn_moo_testprob_find(problem);
    if (!t) return qn_cli_bad("moo", "unknown problem '%s' (known: %s)", problem, qn_moo_testprob_names());

    // Checked before the run, so an unwritable --out fails at once.
    if (out && qn_cli_check_out("moo", "--out", out, NULL, 0, false, NULL)) return 2;

    const int m = t->problem.n_obj;
    struct qn_nsga2_cfg c;
    qn_nsga2_cfg_default(&c);
    c.pop = (int)pop, c.gen = (int)gen, c.seed = (uint64_t)seed;
    struct progress pg = {(int)every, m, qn_now()};
    if (every) c.on_generation = show_progress, c.cb_ctx = &pg;
    struct qn_nsga2 s;
    struct qn_error e = {{0}};
    double t0 = qn_now();
    enum qn_status st = qn_nsga2_init(&s, &t->problem, &c, &e);
    if (!st) {
        st = qn_nsga2_run(&s, &e);
        if (st) qn_nsga2_free(&s);
    }
    double dt = qn_now() - t0;
    if (st) {
        fprintf(stderr, "qnas moo: %s\n", e.msg);
        return 2;
    }

    // The final front, sorted by f1 (then f2, f3).
    int *idx = malloc(sizeof(int) * 3 * (size_t)s.pop);
    double *F = malloc(sizeof(double) * (size_t)s.pop * m), *R = NULL;
    int nr = 0;
    if (!idx || !F || qn_moo_testprob_front(t, m == 2 ? 10000 : 5000, &R, &nr)) {
        free(idx), free(F), free(R), qn_nsga2_free(&s);
        fprintf(stderr, "qnas moo: out of memory\n");
        return 2;
    }
    int k = qn_nsga2_front(&s, idx);
    struct row_key key = {s.f, m};
    qn_sort_idx(idx, k, idx + s.pop, cmp_rows, &key);
    for (int i = 0; i < k; i++) memcpy(F + (size_t)i * m, s.f + (size_t)idx[i] * m, sizeof(double) * m);
    static const double ref[3] = {1.1, 1.1, 1.1};
    double hv = 0, igd = qn_pareto_igd(F, k, R, nr, m);
    qn_pareto_hv(F, k, m, ref, &hv);

    int rc = 0;
    if (out) {
        // one row per point, each value %.17g (at most 24 characters) and a separator
        const size_t cap = (size_t)(k + 1) * m * 26 + 1;
        char *csv = malloc(cap);
        size_t len = csv ? (size_t)snprintf(csv, cap, m == 2 ? "f1,f2\n" : "f1,f2,f3\n") : 0;
        for (int i = 0; csv && i < k; i++)
            for (int j = 0; j < m; j++)
                len += (size_t)snprintf(csv + len, cap - len, j ? ",%.17g%s" : "%.17g%s", F[(size_t)i * m + j],
                                        j == m - 1 ? "\n" : "");
        const void *parts[1] = {csv};
        if (!csv) st = qn_fail(&e, QN_ERR_NOMEM, "out of memory writing %s", out);
        else st = qn_write_atomic(out, parts, &len, 1, &e);
        free(csv);
        if (st) {
            fprintf(stderr, "qnas moo: %s\n", e.msg);
            rc = 2;
        }
    }
    printf("problem      %s: %d variables, %d objectives; pop %d, %d generations, seed %ld\n", t->name, t->problem.n_var, m,
           s.pop, s.gen, seed);
    printf("front        %d non-dominated points%s%s\n", k, out && !rc ? " -> " : "", out && !rc ? out : "");
    printf("hypervolume  %.6f (reference 1.1 per objective; analytic front %.6f, %.2f%%)\n", hv, t->hv_true,
           100 * hv / t->hv_true);
    printf("igd          %.6f (against %d points of the analytic front)\n", igd, nr);
    printf("speed        %lld evaluations in %.3f s: %.0f evaluations/s (%.1f%% of the time in the problem's evaluate)\n",
           s.n_eval, dt, s.n_eval / dt, 100 * s.t_eval / dt);
    free(idx), free(F), free(R);
    qn_nsga2_free(&s);
    return rc;
}
