// Pareto utilities for minimization: (constraint-)domination, fast non-dominated sorting
// (Deb, Pratap, Agarwal, Meyarivan 2002), crowding distance, exact hypervolume and IGD.
//
// Objective sets are row-major: f[i * m + j] is objective j of point i; every objective is
// minimized. A point's constraint violation cv[i] is the total violation sum_j max(0, g_j)
// (0 = feasible); pass cv = NULL when there are no constraints.
#pragma once

#include <stdbool.h>

#include "common.h"

// Pareto dominance: 1 when a dominates b (a <= b everywhere, < somewhere), -1 when b dominates
// a, 0 otherwise (incomparable or equal).
int qn_pareto_compare(const double *a, const double *b, int m);

// Constraint-domination (Deb 2000): a feasible point dominates an infeasible one; of two
// infeasible points the one with the smaller total violation dominates (equal: neither);
// two feasible points compare by Pareto dominance. Same return convention.
int qn_pareto_compare_cv(const double *a, double cva, const double *b, double cvb, int m);

// Fast non-dominated sort with constraint-domination (cv may be NULL): rank[i] = 0 for the
// first front, 1 for the next, ... *n_fronts receives the number of fronts (may be NULL).
// O(m n^2) time, n^2 / 8 bytes of scratch. QN_ERR_NOMEM when the scratch can't be allocated.
enum qn_status qn_pareto_sort(const double *f, const double *cv, int n, int m, int *rank, int *n_fronts);

// Crowding distance of the k points idx[0..k) (normally one front): dist[t] belongs to idx[t].
// Per objective the front is sorted; the two boundary points get INFINITY, an interior point
// adds (f[next] - f[prev]) / (f_max - f_min) (an objective constant over the front adds 0).
// k <= 2: every point is a boundary point. Ties are broken by position in idx (deterministic).
enum qn_status qn_pareto_crowding(const double *f, int m, const int *idx, int k, double *dist);

// Truncates the k points idx[0..k) (normally one front) to at most cap, in place, keeping their
// order; returns the new count. The best point of each objective (the first of equals, in
// objective order) stays while cap allows; of the others the most crowded goes first, the
// crowding distance recomputed after every removal (NSGA-II's truncation with recomputation).
// -1 (QN_ERR_NOMEM) when scratch cannot be allocated.
int qn_pareto_truncate(const double *f, int m, int *idx, int k, int cap);

// Exact hypervolume (Lebesgue measure of the union of the boxes [f_i, ref]). Points not
// strictly better than ref in every objective add nothing. m = 1: ref - min; m = 2: sort and
// sweep, O(n log n); m = 3: slicing on f3 over an f1-sorted 2D staircase, O(n^2);
// m >= 4: recursive slicing down to the 3D case, O(n^(m-1)), for small sets only.
enum qn_status qn_pareto_hv(const double *f, int n, int m, const double *ref, double *hv);

// Inverted generational distance: the mean over the reference points r of min_i |f_i - r|
// (Euclidean). INFINITY when n == 0, 0 when nr == 0.
double qn_pareto_igd(const double *f, int n, const double *ref_front, int nr, int m);

// Indices of the non-dominated points of f (no constraints; equal points are all kept), in
// increasing index order, into idx (capacity n). Returns their count, or -1 when out of memory.
// m = 2: O(n log n); otherwise O(m n^2).
int qn_pareto_nondominated(const double *f, int n, int m, int *idx);

// Stable sort of the index array a[0..n) under cmp(i, j, ctx) < 0 meaning "i before j"
// (merge sort: the same order on every libc, which qsort does not promise for ties).
// tmp holds n ints.
void qn_sort_idx(int *a, int n, int *tmp, int (*cmp)(int i, int j, const void *ctx), const void *ctx);
