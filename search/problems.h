// Standard multi-objective test problems with known Pareto fronts, to check the optimizer:
// ZDT1, ZDT2, ZDT3 (Zitzler, Deb, Thiele 2000; 30 real variables in [0, 1], 2 objectives) and
// DTLZ2 (Deb, Thiele, Laumanns, Zitzler 2002; 3 objectives, 12 real variables in [0, 1]).
#pragma once

#include "nsga2.h"

struct qn_moo_testprob {
    const char *name;
    struct qn_moo_problem problem;
    // Exact hypervolume of the analytic front for the reference point 1.1 in every objective
    // (derivations in problems.c).
    double hv_true;
};

// "zdt1", "zdt2", "zdt3", "dtlz2"; NULL when unknown.
const struct qn_moo_testprob *qn_moo_testprob_find(const char *name);
// Comma-separated names, for messages.
const char *qn_moo_testprob_names(void);

// Points of the analytic Pareto front, at most `density` of them (ZDT1/2: exactly density
// points uniform in f1; ZDT3: the non-dominated ones of `density` samples of the g = 1 curve;
// DTLZ2: the largest simplex lattice a + b + c = H with at most density points, projected
// onto the unit sphere). *out ([*n_out][n_obj], malloc'ed)
// is for the caller to free.
enum qn_status qn_moo_testprob_front(const struct qn_moo_testprob *t, int density, double **out, int *n_out);
