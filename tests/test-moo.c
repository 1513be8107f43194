// Multi-objective optimizer: Pareto utilities (sorting, constraint-domination, crowding,
// hypervolume, IGD) against hand-made sets and brute force, and NSGA-II on ZDT1/2/3, DTLZ2,
// integer and mixed problems.
//
// True hypervolumes used (reference point 1.1 in every objective; derivations in
// search/problems.c, where the constants live):
//   ZDT1  0.1 + 2/3 + 0.11 = 0.876667   int_0^1 (1.1 - (1 - sqrt x)) dx + 0.1 * 1.1
//   ZDT2  0.1 + 1/3 + 0.11 = 0.543333   int_0^1 (1.1 - (1 - x^2)) dx + 0.1 * 1.1
//   ZDT3  1.3317629                     non-dominated points of 10^7 samples of the g = 1
//                                       curve (1.33176282), limit of the 1/N sampling error;
//                                       recomputed below from 10^6 samples (1.33176202)
//   DTLZ2 1.1^3 - pi/6 = 0.807401       the box minus the octant of the unit ball
//
// Population sizes: a finite front of N points misses about sum df1 * df2 / 2 of the true
// hypervolume between its steps. For ZDT2 at N = 100 spread evenly by crowding that is already
// ~0.84% (0.5 * 0.45 * 2/99 of 0.5433), so 100 points cannot reliably get within 1%
// (measured 98.6-98.7% after 250 generations, 98.8-98.9% after 500); at N = 200 the loss
// halves. The ZDT checks therefore run pop 200, gen 250 (50,200 evaluations each).
#include <libgen.h>
#include <math.h>
#include <sys/wait.h>

#include "nsga2.h"
#include "pareto.h"
#include "problems.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static const double REF[4] = {1.1, 1.1, 1.1, 1.1};

// --- brute-force oracles ---

// Ranks by peeling: rank r = the non-dominated points (constraint-domination) of what is left.
static void ranks_by_peeling(const double *f, const double *cv, int n, int m, int *rank) {
    int left = n;
    for (int i = 0; i < n; i++) rank[i] = -1;
    int *mark = malloc(sizeof(int) * (size_t)n);
    for (int r = 0; left > 0; r++) {
        for (int i = 0; i < n; i++) {
            mark[i] = 0;
            if (rank[i] >= 0) continue;
            bool dom = false;
            for (int q = 0; q < n && !dom; q++)
                if (q != i && rank[q] < 0)
                    dom = (cv ? qn_pareto_compare_cv(f + q * m, cv[q], f + i * m, cv[i], m)
                              : qn_pareto_compare(f + q * m, f + i * m, m)) > 0;
            mark[i] = !dom;
        }
        for (int i = 0; i < n; i++)
            if (rank[i] < 0 && mark[i]) rank[i] = r, left--;
    }
    free(mark);
}

// Inclusion-exclusion: sum over non-empty subsets S of (-1)^(|S|+1) vol(intersection of the
// boxes [f_i, ref]), the intersection being [max_{i in S} f_i, ref]. Exact for n <= ~16.
static double hv_incl_excl(const double *f, int n, int m, const double *ref) {
    double total = 0;
    for (unsigned s = 1; s < (1u << n); s++) {
        double vol = 1;
        int bits = 0;
        for (int j = 0; j < m; j++) {
            double lo = -INFINITY;
            for (int i = 0; i < n; i++)
                if (s >> i & 1) lo = QN_MAX(lo, f[i * m + j]);
            vol *= QN_MAX(0.0, ref[j] - lo);
        }
        for (int i = 0; i < n; i++) bits += s >> i & 1;
        total += bits & 1 ? vol : -vol;
    }
    return total;
}

// --- Pareto utilities ---

static void nds_hand_made_ranks(void) {
    // 2D: (1,5) (2,3) (4,1) and a copy of (2,3) are the first front; (3,4) (5,2) (2,4.5) the
    // second; (6,6) is dominated by (3,4), so third.
    const double f[] = {1, 5, 2, 3, 4, 1, 3, 4, 5, 2, 6, 6, 2, 3, 2, 4.5};
    const int want[] = {0, 0, 0, 1, 1, 2, 0, 1};
    int rank[8], nf;
    QT_CHECK(qn_pareto_sort(f, NULL, 8, 2, rank, &nf) == QN_OK, "sort failed");
    QT_CHECK(nf == 3, "%d fronts, want 3", nf);
    for (int i = 0; i < 8; i++) QT_CHECK(rank[i] == want[i], "point %d rank %d, want %d", i, rank[i], want[i]);
    // 3D chain: each point dominates the next; plus one incomparable with everything.
    const double g[] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, -1, 9, 9};
    const int want3[] = {0, 1, 2, 3, 0};
    QT_CHECK(qn_pareto_sort(g, NULL, 5, 3, rank, &nf) == QN_OK && nf == 4, "3D: %d fronts", nf);
    for (int i = 0; i < 5; i++) QT_CHECK(rank[i] == want3[i], "3D point %d rank %d, want %d", i, rank[i], want3[i]);
    QT_CHECK(qn_pareto_sort(g, NULL, 0, 3, rank, &nf) == QN_OK && nf == 0, "empty set");
}

static void nds_matches_peeling(void) {
    qt_seed(11);
    const int trials = qt_quick() ? 40 : 200;
    for (int t = 0; t < trials; t++) {
        int n = qt_int(1, 70), m = qt_int(1, 4);
        bool with_cv = t % 2;
        double *f = malloc(sizeof(double) * n * m), *cv = malloc(sizeof(double) * n);
        int *r1 = malloc(sizeof(int) * n), *r2 = malloc(sizeof(int) * n);
        for (int i = 0; i < n * m; i++) f[i] = qt_int(0, 6);  // small range: many ties and copies
        for (int i = 0; i < n; i++) cv[i] = qt_int(0, 3) == 0 ? qt_int(1, 3) : 0;
        QT_CHECK(qn_pareto_sort(f, with_cv ? cv : NULL, n, m, r1, NULL) == QN_OK, "sort failed");
        ranks_by_peeling(f, with_cv ? cv : NULL, n, m, r2);
        int bad = 0;
        for (int i = 0; i < n; i++) bad += r1[i] != r2[i];
        QT_CHECK(bad == 0, "trial %d (n %d, m %d, cv %d): %d ranks differ from peeling", t, n, m, with_cv, bad);
        free(f), free(cv), free(r1), free(r2);
    }
}

static void constraint_domination(void) {
    const double a[] = {5, 5}, b[] = {1, 1};
    QT_CHECK(qn_pareto_compare(b, a, 2) == 1 && qn_pareto_compare(a, b, 2) == -1, "plain dominance");
    QT_CHECK(qn_pareto_compare(a, a, 2) == 0, "equal points dominate");
    QT_CHECK(qn_pareto_compare_cv(a, 0, b, 0.1, 2) == 1, "feasible must dominate infeasible, however good");
    QT_CHECK(qn_pareto_compare_cv(b, 0.1, a, 0, 2) == -1, "infeasible must lose to feasible");
    QT_CHECK(qn_pareto_compare_cv(a, 0.5, b, 2.0, 2) == 1, "smaller violation wins");
    QT_CHECK(qn_pareto_compare_cv(a, 1.0, b, 1.0, 2) == 0, "equal violation: neither");
    QT_CHECK(qn_pareto_compare_cv(b, 0, a, 0, 2) == 1, "feasible pair: Pareto");
    const double f[] = {5, 5, 1, 1, 0, 0, 9, 9, 8, 8};
    // (8,8) feasible is dominated by (5,5): rank 1; then the cv 0.1 pair rank 2; cv 2 rank 3.
    const double cv[] = {0, 0.1, 2, 0.1, 0};
    const int want[] = {0, 2, 3, 2, 1};
    int rank[5];
    QT_CHECK(qn_pareto_sort(f, cv, 5, 2, rank, NULL) == QN_OK, "sort");
    for (int i = 0; i < 5; i++) QT_CHECK(rank[i] == want[i], "point %d rank %d, want %d", i, rank[i], want[i]);
}

static void crowding_distance(void) {
    // Front (0,4) (1,2) (2,1) (4,0): ranges 4 and 4; (1,2): (2-0)/4 + (4-1)/4 = 1.25, same
    // for (2,1) by symmetry; the ends are infinite.
    const double f[] = {2, 1, 0, 4, 4, 0, 1, 2};
    const int idx[] = {0, 1, 2, 3};
    double d[4];
    QT_CHECK(qn_pareto_crowding(f, 2, idx, 4, d) == QN_OK, "crowding");
    QT_CHECK(isinf(d[1]) && isinf(d[2]), "boundary points must be infinite: %g %g", d[1], d[2]);
    QT_CHECK(fabs(d[0] - 1.25) < 1e-12 && fabs(d[3] - 1.25) < 1e-12, "interior %g %g, want 1.25", d[0], d[3]);
    // Subset through idx, and k <= 2 all infinite.
    const int two[] = {3, 0};
    QT_CHECK(qn_pareto_crowding(f, 2, two, 2, d) == QN_OK && isinf(d[0]) && isinf(d[1]), "k = 2");
    // A constant objective adds nothing: (0,1) (1,1) (3,1): middle gets (3-0)/3 = 1.
    const double c[] = {0, 1, 1, 1, 3, 1};
    const int three[] = {0, 1, 2};
    QT_CHECK(qn_pareto_crowding(c, 2, three, 3, d) == QN_OK, "crowding");
    QT_CHECK(isinf(d[0]) && isinf(d[2]) && fabs(d[1] - 1) < 1e-12, "constant objective: %g %g %g", d[0], d[1], d[2]);
}

static void truncation(void) {
    // 2D front f2 = 1 - f1 at f1 = 0, 0.1 .. 1 (points 0..10), and a cluster of 5 more around
    // 0.5 (points 11..15): truncated to 11, the cluster goes and one point near 0.5 stays.
    double f[16 * 2];
    int idx[16];
    for (int i = 0; i <= 10; i++) f[2 * i] = 0.1 * i;
    for (int i = 0; i < 5; i++) f[2 * (11 + i)] = 0.49 + 0.005 * i;
    for (int i = 0; i < 16; i++) f[2 * i + 1] = 1 - f[2 * i], idx[i] = i;
    int n = qn_pareto_truncate(f, 2, idx, 16, 11);
    int near = 0, regular = 0;
    for (int t = 0; t < n; t++) {
        near += fabs(f[2 * idx[t]] - 0.5) < 0.05;
        regular += idx[t] <= 10 && idx[t] != 5;
        if (t) QT_CHECK(idx[t] > idx[t - 1], "order kept");
    }
    QT_CHECK(n == 11 && near == 1 && regular == 10, "kept %d: %d near 0.5, %d of the 10 others", n, near, regular);
    // 3 objectives, random points on the plane f1 + f2 + f3 = 1 (mutually non-dominated): cut
    // to 4, the best of each objective stays
    qt_seed(77);
    double g[40 * 3];
    int id3[40], best[3] = {0, 0, 0};
    for (int i = 0; i < 40; i++) {
        const double a = qt_float(0, 1), b = qt_float(0, (float)(1 - a));
        g[3 * i] = a, g[3 * i + 1] = b, g[3 * i + 2] = 1 - a - b, id3[i] = i;
        for (int j = 0; j < 3; j++)
            if (g[3 * i + j] < g[3 * best[j] + j]) best[j] = i;
    }
    n = qn_pareto_truncate(g, 3, id3, 40, 4);
    int found = 0;
    for (int j = 0; j < 3; j++)
        for (int t = 0; t < n; t++) found += id3[t] == best[j];
    QT_CHECK(n == 4 && found == 3, "kept %d, the 3 objective bests among them: %d", n, found);
    // cap below the number of objectives: the best of the first objectives in order
    for (int i = 0; i < 40; i++) id3[i] = i;
    n = qn_pareto_truncate(g, 3, id3, 40, 1);
    QT_CHECK(n == 1 && id3[0] == best[0], "cap 1 keeps objective 0's best: %d", id3[0]);
    // nothing to cut
    int few[3] = {4, 2, 9};
    QT_CHECK(qn_pareto_truncate(g, 3, few, 3, 5) == 3 && few[0] == 4 && few[1] == 2 && few[2] == 9, "k <= cap");
}

static void hypervolume_vs_inclusion_exclusion(void) {
    qt_seed(5);
    const int trials = qt_quick() ? 100 : 400;
    double worst = 0;
    for (int t = 0; t < trials; t++) {
        int m = 2 + t % 3, n = qt_int(1, 8);  // m = 2, 3 and 4 (the recursive path)
        double f[8 * 4];
        for (int i = 0; i < n * m; i++) f[i] = t % 4 == 3 ? qt_int(0, 4) * 0.25 : qt_float(0, 1.2f);  // some outside ref, some ties
        if (n > 2 && t % 5 == 0) memcpy(f + m, f, sizeof(double) * m);  // an exact copy
        double hv, want = hv_incl_excl(f, n, m, REF);
        QT_CHECK(qn_pareto_hv(f, n, m, REF, &hv) == QN_OK, "hv failed");
        double err = fabs(hv - want);
        worst = QN_MAX(worst, err);
        QT_CHECK(err <= 1e-12, "trial %d n %d m %d: hv %.15g, inclusion-exclusion %.15g", t, n, m, hv, want);
    }
    // Known values: one point (0.1, 0.1) -> 1.0^2; a staircase (0,1) (0.5,0.5) (1,0) -> 0.75.
    const double one[] = {0.1, 0.1}, st[] = {0, 1, 0.5, 0.5, 1, 0};
    const double r1[2] = {1.1, 1.1}, r2[3] = {1, 1, 1}, cube[] = {0.5, 0.5, 0.5, 0.25, 0.75, 0.75};
    double hv;
    qn_pareto_hv(one, 1, 2, r1, &hv);
    QT_CHECK(fabs(hv - 1.0) < 1e-12, "single point %g", hv);
    qn_pareto_hv(st, 3, 2, r2, &hv);
    QT_CHECK(fabs(hv - 0.25) < 1e-12, "staircase %g, want 0.25", hv);
    // 3D: 0.125 + 0.75*0.25*0.25 - overlap (0.5 * 0.25 * 0.25) = 0.140625
    qn_pareto_hv(cube, 2, 3, r2, &hv);
    QT_CHECK(fabs(hv - 0.140625) < 1e-12, "3D pair %g, want 0.140625", hv);
    QT_CHECK(qn_pareto_hv(one, 0, 2, r1, &hv) == QN_OK && hv == 0, "empty set");
    printf("        worst |hv - inclusion-exclusion| over %d random sets: %.2g\n", trials, worst);
}

static void hypervolume_3d_vs_monte_carlo(void) {
    // Larger sets than inclusion-exclusion can take: 200 points near the sphere, 2e5 samples.
    qt_seed(9);
    const int n = 200, S = qt_quick() ? 50000 : 200000;
    double *f = malloc(sizeof(double) * 3 * n);
    for (int i = 0; i < n; i++) {
        double a = qt_float(0, 1.5708f), b = qt_float(0, 1.5708f), r = qt_float(1, 1.1f);
        f[3 * i] = r * cos(a) * cos(b), f[3 * i + 1] = r * cos(a) * sin(b), f[3 * i + 2] = r * sin(a);
    }
    double hv;
    QT_CHECK(qn_pareto_hv(f, n, 3, REF, &hv) == QN_OK, "hv");
    int in = 0;
    for (int s = 0; s < S; s++) {
        double z[3] = {qt_float(0, 1.1f), qt_float(0, 1.1f), qt_float(0, 1.1f)};
        for (int i = 0; i < n; i++)
            if (f[3 * i] <= z[0] && f[3 * i + 1] <= z[1] && f[3 * i + 2] <= z[2]) {
                in++;
                break;
            }
    }
    double mc = 1.331 * in / S, sd = 1.331 * sqrt((double)in / S * (1 - (double)in / S) / S);
    QT_CHECK(fabs(hv - mc) < 4 * sd, "hv %.5f, Monte Carlo %.5f +- %.5f", hv, mc, sd);
    free(f);
}

static void igd_and_filter(void) {
    const struct qn_moo_testprob *t = qn_moo_testprob_find("zdt1");
    double *R;
    int nr;
    QT_CHECK(qn_moo_testprob_front(t, 500, &R, &nr) == QN_OK && nr == 500, "front");
    QT_CHECK(qn_pareto_igd(R, nr, R, nr, 2) == 0, "IGD of a front against itself must be 0");
    // Shifted by (0.03, 0.04): every reference point is at most 0.05 away, and the shifted copy
    // of the point itself is exactly 0.05 away.
    double *S = malloc(sizeof(double) * 2 * nr);
    for (int i = 0; i < nr; i++) S[2 * i] = R[2 * i] + 0.03, S[2 * i + 1] = R[2 * i + 1] + 0.04;
    double igd = qn_pareto_igd(S, nr, R, nr, 2);
    QT_CHECK(igd > 0 && igd <= 0.05 + 1e-12, "IGD of a shifted front %g", igd);
    QT_CHECK(isinf(qn_pareto_igd(S, 0, R, nr, 2)), "IGD of nothing must be infinite");
    // 2D non-dominated filter (sort path) against the O(n^2) definition, copies included.
    qt_seed(3);
    for (int trial = 0; trial < 50; trial++) {
        int n = qt_int(1, 60), m = trial % 2 ? 2 : 3, a[60], b[60], na, nb = 0;
        double f[180];
        for (int i = 0; i < n * m; i++) f[i] = qt_int(0, 5);
        na = qn_pareto_nondominated(f, n, m, a);
        for (int i = 0; i < n; i++) {
            bool dom = false;
            for (int q = 0; q < n; q++) dom = dom || qn_pareto_compare(f + q * m, f + i * m, m) > 0;
            if (!dom) b[nb++] = i;
        }
        QT_CHECK(na == nb && memcmp(a, b, sizeof(int) * nb) == 0, "trial %d: filter kept %d, want %d", trial, na, nb);
    }
    free(R), free(S);
}

// --- NSGA-II on the test problems ---

// Runs NSGA-II and returns the hypervolume of the final feasible front (ref 1.1); optional outs.
static double run_problem(const char *name, int pop, int gen, uint64_t seed, double *igd, double *evals_per_s,
                          double *mean_norm) {
    const struct qn_moo_testprob *t = qn_moo_testprob_find(name);
    QN_ASSERT(t);
    struct qn_nsga2_cfg c;
    qn_nsga2_cfg_default(&c);
    c.pop = pop, c.gen = gen, c.seed = seed;
    struct qn_nsga2 s;
    struct qn_error e = {{0}};
    double t0 = qn_now();
    enum qn_status st = qn_nsga2_init(&s, &t->problem, &c, &e);
    if (!st) st = qn_nsga2_run(&s, &e);
    double dt = qn_now() - t0;
    QT_CHECK(st == QN_OK, "%s: %s", name, e.msg);
    if (st) return 0;
    const int m = t->problem.n_obj;
    int *idx = malloc(sizeof(int) * pop), k = qn_nsga2_front(&s, idx);
    double *F = malloc(sizeof(double) * (size_t)QN_MAX(k, 1) * m), hv = 0, norm = 0;
    for (int i = 0; i < k; i++) {
        double r = 0;
        for (int j = 0; j < m; j++) F[i * m + j] = s.f[idx[i] * m + j], r += F[i * m + j] * F[i * m + j];
        norm += sqrt(r);
    }
    QT_CHECK(qn_pareto_hv(F, k, m, REF, &hv) == QN_OK, "hv");
    if (igd) {
        double *R;
        int nr;
        QT_CHECK(qn_moo_testprob_front(t, 1000, &R, &nr) == QN_OK, "front");
        *igd = qn_pareto_igd(F, k, R, nr, m);
        free(R);
    }
    if (evals_per_s) *evals_per_s = s.n_eval / dt;
    if (mean_norm) *mean_norm = k ? norm / k : 0;
    free(idx), free(F);
    qn_nsga2_free(&s);
    return hv;
}

static void check_zdt(const char *name) {
    const struct qn_moo_testprob *t = qn_moo_testprob_find(name);
    double igd, eps;
    double hv = run_problem(name, 200, 250, 1, &igd, &eps, NULL);
    double rel = hv / t->hv_true;
    printf("        %s pop 200 gen 250: HV %.6f of %.6f (%.3f%%), IGD %.5f, %.0f evaluations/s\n", name, hv, t->hv_true,
           100 * rel, igd, eps);
    QT_CHECK(rel >= 0.99 && rel <= 1 + 1e-9, "%s: HV %.6f is %.3f%% of the true %.6f", name, hv, 100 * rel, t->hv_true);
}

static void zdt1_hv_within_1pct(void) { check_zdt("zdt1"); }
static void zdt2_hv_within_1pct(void) { check_zdt("zdt2"); }

static void zdt3_hv_within_1pct(void) {
    // The constant against the front sampled at 10^6 points (its staircase error is ~1e-6).
    const struct qn_moo_testprob *t = qn_moo_testprob_find("zdt3");
    double *R, hv;
    int nr;
    QT_CHECK(qn_moo_testprob_front(t, 1000000, &R, &nr) == QN_OK, "front");
    QT_CHECK(qn_pareto_hv(R, nr, 2, REF, &hv) == QN_OK, "hv");
    QT_CHECK(hv <= t->hv_true && t->hv_true - hv < 2e-6, "sampled ZDT3 front HV %.8f vs constant %.8f", hv, t->hv_true);
    printf("        ZDT3 front from 10^6 samples: %d non-dominated points, HV %.8f (constant %.7f)\n", nr, hv,
           t->hv_true);
    free(R);
    check_zdt("zdt3");
}

static void dtlz2_front_on_sphere(void) {
    // A finite set cannot reach the true HV: the simplex lattice of 91 points projected onto
    // the sphere (evenly spread) gets 0.74485 (92.3%), 105 points 0.74939 (92.8%). NSGA-II's
    // crowding distance spreads 3 objectives less evenly (the reason for NSGA-III): 86.8-87.5%
    // over seeds 1-3 at pop 100, gen 250. The check: at least 85% of the true HV, and converged
    // (mean |f| within 2% of 1, DTLZ2's front being |f| = 1).
    const struct qn_moo_testprob *t = qn_moo_testprob_find("dtlz2");
    double igd, norm, eps;
    double hv = run_problem("dtlz2", 100, 250, 1, &igd, &eps, &norm);
    double *R, hv_lat;
    int nr;
    QT_CHECK(qn_moo_testprob_front(t, 91, &R, &nr) == QN_OK && nr == 91, "lattice");
    qn_pareto_hv(R, nr, 3, REF, &hv_lat);
    free(R);
    printf("        dtlz2 pop 100 gen 250: HV %.5f of %.5f (%.2f%%; 91-point lattice %.5f), IGD %.4f, mean |f| %.4f\n", hv,
           t->hv_true, 100 * hv / t->hv_true, hv_lat, igd, norm);
    QT_CHECK(fabs(norm - 1) < 0.02, "mean |f| = %.4f", norm);
    QT_CHECK(hv >= 0.85 * t->hv_true && hv < t->hv_true, "HV %.5f vs true %.5f", hv, t->hv_true);
}

// --- integer, mixed and constrained problems ---

struct int_ctx {
    const struct qn_nsga2 *s;  // set after init: offspring batches are checked against s->x
    int n_var, calls, dup_batches, out_of_range;
};

// 3 objectives over integer genes: sum, sum of squares distance to the top, and a weighted
// sum; conflicting and trivially cheap. Also records whether a batch repeats a genome.
static enum qn_status int_eval(void *vctx, const double *x, int n, double *f, double *g, struct qn_error *e) {
    struct int_ctx *c = vctx;
    const int nv = c->n_var;
    for (int i = 0; i < n; i++) {
        const double *v = x + (size_t)i * nv;
        double a = 0, b = 0, w = 0;
        for (int j = 0; j < nv; j++) {
            a += v[j], b += (3 - v[j]) * (3 - v[j]), w += (j % 3 + 1) * (j % 2 ? v[j] : 3 - v[j]);
            if (v[j] != floor(v[j]) || v[j] < 0 || v[j] > 3) c->out_of_range++;
        }
        f[3 * i] = a, f[3 * i + 1] = b, f[3 * i + 2] = w;
    }
    if (c->s && c->s->x) {
        // Offspring must differ from each other and from the population (same buffer rows).
        bool dup = false;
        for (int i = 0; i < n && !dup; i++) {
            for (int q = 0; q < i && !dup; q++) dup = memcmp(x + i * nv, x + q * nv, sizeof(double) * nv) == 0;
            for (int q = 0; q < c->s->pop && !dup; q++) dup = memcmp(x + i * nv, c->s->x + q * nv, sizeof(double) * nv) == 0;
        }
        c->dup_batches += dup;
    }
    c->calls++;
    return QN_OK;
}

static int pop_has_duplicates(const struct qn_nsga2 *s) {
    for (int i = 0; i < s->pop; i++)
        for (int q = 0; q < i; q++)
            if (memcmp(s->x + i * s->n_var, s->x + q * s->n_var, sizeof(double) * s->n_var) == 0) return 1;
    return 0;
}

static int count_dup_generations(void *ctx, const struct qn_nsga2 *s) {
    *(int *)ctx += pop_has_duplicates(s);
    return 0;
}

static void dedup_tiny_space(void) {
    // 3 genes of 4 values = 64 genomes; pop 24 so parents + offspring (48) fit; and 2 genes of
    // 5 values = 25 genomes with pop 12 (24 of 25 needed) and one variation try per offspring
    // slot, so the random refill (and possibly a short offspring batch) happens. For each
    // integer crossover.
    const enum qn_nsga2_cx cx[] = {QN_NSGA2_CX_UNIFORM, QN_NSGA2_CX_ONE_POINT, QN_NSGA2_CX_TWO_POINT};
    const struct qn_gene g4[3] = {{QN_GENE_INT, 0, 3}, {QN_GENE_INT, 0, 3}, {QN_GENE_INT, 0, 3}};
    const struct qn_gene g5[2] = {{QN_GENE_INT, -1, 3}, {QN_GENE_INT, 0, 4}};
    for (int k = 0; k < 3; k++)
        for (int space = 0; space < 2; space++) {
            struct int_ctx ic = {NULL, space ? 2 : 3, 0, 0, 0};
            struct qn_moo_problem p = {"tiny", ic.n_var, 3, 0, space ? g5 : g4, int_eval, &ic};
            struct qn_nsga2_cfg c;
            qn_nsga2_cfg_default(&c);
            c.pop = space ? 12 : 24, c.gen = 40, c.seed = 7 + k, c.int_cx = cx[k];
            c.dedup_tries = space ? 1 : 10;  // 1: the random refill has to step in
            int dup_gens = 0;
            c.on_generation = count_dup_generations, c.cb_ctx = &dup_gens;
            struct qn_nsga2 s;
            struct qn_error e = {{0}};
            enum qn_status st = qn_nsga2_init(&s, &p, &c, &e);
            ic.s = &s;
            if (!st) st = qn_nsga2_run(&s, &e);
            QT_CHECK(st == QN_OK, "cx %d space %d: %s", k, space, e.msg);
            QT_CHECK(dup_gens == 0, "cx %d space %d: %d generations had duplicate members", k, space, dup_gens);
            QT_CHECK(ic.dup_batches == 0, "cx %d space %d: %d offspring batches repeated a genome", k, space, ic.dup_batches);
            QT_CHECK(s.n_dup > 0, "cx %d space %d: a tiny space must produce rejected duplicates", k, space);
            QT_CHECK(!space || s.n_random > 0, "cx %d: with one try per slot the random refill must have been used", k);
            QT_CHECK(ic.calls == 41, "cx %d space %d: %d evaluate calls, want 41 (one batch per generation)", k, space, ic.calls);
            // g5's first gene ranges -1..3: int_eval counts -1 as out of range, so only g4 checks it.
            if (!space) QT_CHECK(ic.out_of_range == 0, "cx %d: genes left their range or became fractional", k);
            if (k == 0 && space == 1)
                printf("        25-genome space, pop 12: %lld duplicates rejected, %lld random refills, %lld evaluations\n",
                       s.n_dup, s.n_random, s.n_eval);
            qn_nsga2_free(&s);
        }
    // A space smaller than the population is refused.
    struct int_ctx ic = {NULL, 2, 0, 0, 0};
    struct qn_moo_problem p = {"tiny", 2, 3, 0, g5, int_eval, &ic};
    struct qn_nsga2_cfg c;
    qn_nsga2_cfg_default(&c);
    c.pop = 26;
    struct qn_nsga2 s;
    struct qn_error e = {{0}};
    QT_CHECK(qn_nsga2_init(&s, &p, &c, &e) == QN_ERR_ARG && strstr(e.msg, "25"), "pop > space: %s", e.msg);
}

static void determinism(void) {
    const struct qn_moo_testprob *t = qn_moo_testprob_find("zdt1");
    struct qn_nsga2 a, b, d;
    struct qn_nsga2_cfg c;
    qn_nsga2_cfg_default(&c);
    c.pop = 40, c.gen = 30, c.seed = 123;
    struct qn_error e;
    QT_CHECK(!qn_nsga2_init(&a, &t->problem, &c, &e) && !qn_nsga2_run(&a, &e), "run a");
    QT_CHECK(!qn_nsga2_init(&b, &t->problem, &c, &e) && !qn_nsga2_run(&b, &e), "run b");
    c.seed = 124;
    QT_CHECK(!qn_nsga2_init(&d, &t->problem, &c, &e) && !qn_nsga2_run(&d, &e), "run d");
    QT_CHECK(memcmp(a.x, b.x, sizeof(double) * 40 * 30) == 0 && memcmp(a.f, b.f, sizeof(double) * 40 * 2) == 0 &&
                 memcmp(a.rank, b.rank, sizeof(int) * 40) == 0,
             "same seed, different populations");
    QT_CHECK(memcmp(a.f, d.f, sizeof(double) * 40 * 2) != 0, "different seeds gave the same population");
    QT_CHECK(a.n_eval == 40 + 30 * 40, "%lld evaluations", a.n_eval);
    qn_nsga2_free(&a), qn_nsga2_free(&b), qn_nsga2_free(&d);
}

// Mixed toy: k integer in [0, 10], c a choice index in {0, 1, 2}, x real in [0, 5];
//   minimize f = (x - 1.3)^2 + (k - 7)^2 + [c != 2]   subject to   g = k + x - 8 <= 0.
// The unconstrained optimum (7, 2, 1.3) violates g. With k = 7 the best feasible x is 1
// (f = 0.09); k = 6 allows x = 1.3 but costs 1, other k more; so the optimum is k = 7, c = 2,
// x = 1, f = 0.09, on the constraint boundary.
static enum qn_status mixed_eval(void *ctx, const double *x, int n, double *f, double *g, struct qn_error *e) {
    for (int i = 0; i < n; i++) {
        double k = x[3 * i], c = x[3 * i + 1], r = x[3 * i + 2];
        f[i] = (r - 1.3) * (r - 1.3) + (k - 7) * (k - 7) + (c != 2);
        g[i] = k + r - 8;
    }
    return QN_OK;
}

static void mixed_constrained_optimum(void) {
    const struct qn_gene genes[3] = {{QN_GENE_INT, 0, 10}, {QN_GENE_INT, 0, 2}, {QN_GENE_REAL, 0, 5}};
    struct qn_moo_problem p = {"mixed", 3, 1, 1, genes, mixed_eval, NULL};
    const enum qn_nsga2_cx cx[] = {QN_NSGA2_CX_UNIFORM, QN_NSGA2_CX_TWO_POINT};
    for (int k = 0; k < 2; k++) {
        struct qn_nsga2_cfg c;
        qn_nsga2_cfg_default(&c);
        c.pop = 40, c.gen = 100, c.seed = 3, c.int_cx = cx[k];
        struct qn_nsga2 s;
        struct qn_error e = {{0}};
        QT_CHECK(!qn_nsga2_init(&s, &p, &c, &e) && !qn_nsga2_run(&s, &e), "run: %s", e.msg);
        int idx[40], nf = qn_nsga2_front(&s, idx);
        QT_CHECK(nf >= 1, "no feasible optimum");
        if (nf < 1) {
            qn_nsga2_free(&s);
            continue;
        }
        const double *b = s.x + 3 * idx[0];
        double fb = s.f[idx[0]];
        printf("        mixed toy (cx %d): best k %g c %g x %.5f f %.6f (optimum 7, 2, 1, 0.09)\n", k, b[0], b[1], b[2], fb);
        QT_CHECK(b[0] == 7 && b[1] == 2 && fabs(b[2] - 1) < 0.01 && s.cv[idx[0]] == 0, "best %g %g %g", b[0], b[1], b[2]);
        QT_CHECK(fb >= 0.09 - 1e-12 && fb < 0.09 + 0.01, "best f %.6f, optimum 0.09", fb);
        for (int i = 0; i < s.pop; i++) QT_CHECK(s.x[3 * i] == floor(s.x[3 * i]) && s.x[3 * i + 1] == floor(s.x[3 * i + 1]), "fractional integer gene");
        qn_nsga2_free(&s);
    }
}

// --- bad input, callbacks, errors ---

static enum qn_status nan_eval(void *ctx, const double *x, int n, double *f, double *g, struct qn_error *e) {
    for (int i = 0; i < n; i++) f[2 * i] = x[i * 2], f[2 * i + 1] = i == 3 ? NAN : 1 - x[i * 2];
    return QN_OK;
}

static enum qn_status failing_eval(void *ctx, const double *x, int n, double *f, double *g, struct qn_error *e) {
    int *calls = ctx;
    if (++*calls == 3) return qn_fail(e, QN_ERR_IO, "predictor file vanished");
    for (int i = 0; i < n; i++) f[2 * i] = x[2 * i], f[2 * i + 1] = 1 - x[2 * i] + x[2 * i + 1];
    return QN_OK;
}

static int stop_at_5(void *ctx, const struct qn_nsga2 *s) {
    *(int *)ctx = s->gen;
    return s->gen >= 5;
}

static void rejects_bad_setup_and_propagates_errors(void) {
    const struct qn_gene genes[2] = {{QN_GENE_REAL, 0, 1}, {QN_GENE_REAL, 0, 1}};
    struct qn_moo_problem p = {"toy", 2, 2, 0, genes, nan_eval, NULL};
    struct qn_nsga2_cfg c;
    qn_nsga2_cfg_default(&c);
    struct qn_nsga2 s;
    struct qn_error e = {{0}};
    c.pop = 3;
    QT_CHECK(qn_nsga2_init(&s, &p, &c, &e) == QN_ERR_ARG && strstr(e.msg, "population"), "pop 3: %s", e.msg);
    c.pop = 10;
    QT_CHECK(qn_nsga2_init(&s, &p, &c, &e) == QN_ERR_ARG && strstr(e.msg, "NaN"), "NaN objective: %s", e.msg);
    const struct qn_gene bad[2] = {{QN_GENE_REAL, 1, 0}, {QN_GENE_INT, 0, 2.5}};
    struct qn_moo_problem pb = {"bad", 2, 2, 0, bad, nan_eval, NULL};
    QT_CHECK(qn_nsga2_init(&s, &pb, &c, &e) == QN_ERR_ARG && strstr(e.msg, "gene 0"), "reversed bounds: %s", e.msg);
    pb.genes = bad + 1, pb.n_var = 1;
    QT_CHECK(qn_nsga2_init(&s, &pb, &c, &e) == QN_ERR_ARG && strstr(e.msg, "integer gene 0"), "fractional int bound: %s", e.msg);
    const double init_bad[2] = {0.5, 1.5};
    c.init_x = init_bad, c.n_init = 1;
    QT_CHECK(qn_nsga2_init(&s, &p, &c, &e) == QN_ERR_ARG && strstr(e.msg, "initial genome 0"), "initial out of range: %s", e.msg);
    // Seeded genomes are kept; the evaluator's error comes back unchanged; the callback stops.
    const double init_ok[4] = {0.25, 0.75, 0.5, 0.5};
    c.init_x = init_ok, c.n_init = 2;
    int calls = 0;
    p.evaluate = failing_eval, p.ctx = &calls;
    QT_CHECK(qn_nsga2_init(&s, &p, &c, &e) == QN_OK, "init: %s", e.msg);
    int found = 0;
    for (int i = 0; i < s.pop; i++)
        for (int k = 0; k < 2; k++) found += memcmp(s.x + 2 * i, init_ok + 2 * k, sizeof(double) * 2) == 0;
    QT_CHECK(s.n_eval == 10 && found == 2, "initial genomes: %d of 2 in the population", found);
    c.gen = 10;
    QT_CHECK(qn_nsga2_run(&s, &e) == QN_ERR_IO && strstr(e.msg, "vanished") && s.gen == 1, "evaluator error: %s (gen %d)",
             e.msg, s.gen);
    qn_nsga2_free(&s);
    calls = -100;
    int last = -1;
    c.on_generation = stop_at_5, c.cb_ctx = &last;
    QT_CHECK(qn_nsga2_init(&s, &p, &c, &e) == QN_OK && qn_nsga2_run(&s, &e) == QN_OK, "run");
    QT_CHECK(s.gen == 5 && last == 5, "callback stop: gen %d, last seen %d", s.gen, last);
    qn_nsga2_free(&s);
}

// --- the command line ---

static char g_qnas[4096];

// `qnas moo --pop` stops at QN_NSGA2_CLI_MAX_POP (the sort is quadratic in it): one message,
// exit 2, before any generation runs (one generation of 10001 would take ~1.6 s and 60 MB).
static void cli_pop_cap(void) {
    if (access(g_qnas, X_OK) != 0) {
        QT_CHECK(false, "%s is not built (make build/qnas)", g_qnas);
        return;
    }
    char dir[] = "/tmp/qnas-test-moo-XXXXXX", out[64], err[64], *cmd;
    QN_ASSERT(mkdtemp(dir));
    snprintf(out, sizeof(out), "%s/out.txt", dir);
    snprintf(err, sizeof(err), "%s/err.txt", dir);
    const char *pops[] = {"10001", "100000"};
    for (size_t i = 0; i < sizeof(pops) / sizeof(pops[0]); i++) {
        QN_ASSERT(asprintf(&cmd, "'%s' --threads 1 moo --problem zdt1 --gen 1 --pop %s > '%s' 2> '%s'", g_qnas,
                           pops[i], out, err) > 0);
        const double t0 = qn_now();
        const int rc = system(cmd);
        free(cmd);
        char *msg = qt_slurp(err, NULL);
        int lines = 0;
        for (const char *c = msg; c && *c; c++) lines += *c == '\n';
        QT_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2 && lines == 1 && strstr(msg, "--pop") && strstr(msg, "10000") &&
                     strstr(msg, pops[i]) && strstr(msg, "square"),
                 "--pop %s: exit %d, %s", pops[i], WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, msg ? msg : "");
        QT_CHECK(qn_now() - t0 < 1, "--pop %s refused after %.2f s", pops[i], qn_now() - t0);
        free(msg);
    }
    remove(out), remove(err), rmdir(dir);
}

// --- throughput of the optimizer itself ---

int main(int argc, char **argv) {
    // the qnas binary of this build tree: <build>/tests/test-moo -> <build>/qnas
    char self[4096];
    snprintf(self, sizeof(self), "%s", argc ? argv[0] : "");
    snprintf(g_qnas, sizeof(g_qnas), "%s/../qnas", dirname(self));
    QT_RUN(nds_hand_made_ranks);
    QT_RUN(nds_matches_peeling);
    QT_RUN(constraint_domination);
    QT_RUN(crowding_distance);
    QT_RUN(truncation);
    QT_RUN(hypervolume_vs_inclusion_exclusion);
    QT_RUN(hypervolume_3d_vs_monte_carlo);
    QT_RUN(igd_and_filter);
    QT_RUN(zdt1_hv_within_1pct);
    QT_RUN(zdt2_hv_within_1pct);
    QT_RUN(zdt3_hv_within_1pct);
    QT_RUN(dtlz2_front_on_sphere);
    QT_RUN(dedup_tiny_space);
    QT_RUN(determinism);
    QT_RUN(mixed_constrained_optimum);
    QT_RUN(rejects_bad_setup_and_propagates_errors);
    QT_RUN(cli_pop_cap);
    return qt_finish(argv[0]);
}
