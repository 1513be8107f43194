// NSGA-II (Deb, Pratap, Agarwal, Meyarivan 2002) for mixed integer / real genomes.
//
// Every objective is minimized; constraints g_j <= 0 are handled by constraint-domination
// (pareto.h). One generation: binary tournaments (rank, then crowding distance) pick parents;
// real genes get SBX and polynomial mutation, integer genes uniform or point crossover and
// random-reset mutation; offspring equal to a population member or to an earlier offspring are
// regenerated (bounded retries); the union of parents and offspring is cut back to the
// population size by rank, then crowding distance (elitist mu + lambda).
//
// Deterministic: the run depends only on the problem, the configuration and the seed (own
// xorshift64* state, no rand(), ties broken by index).
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "error.h"

enum qn_gene_kind {
    QN_GENE_INT,   // an integer in [lo, hi]; a choice list is an index 0 .. n-1
    QN_GENE_REAL,  // a real number in [lo, hi]
};

struct qn_gene {
    enum qn_gene_kind kind;
    double lo, hi;  // inclusive bounds; integral for QN_GENE_INT
};

// Evaluates n candidates at once (so a caller can run its predictors on a whole batch):
//   x [n][n_var]  genomes; integer genes hold integral values
//   f [n][n_obj]  objectives to write (minimized; NaN is rejected)
//   g [n][n_con]  constraints to write, g <= 0 is feasible (NULL when n_con == 0)
// Anything but QN_OK stops the run with that status (fill e with the reason).
typedef enum qn_status (*qn_moo_eval_fn)(void *ctx, const double *x, int n, double *f, double *g,
                                         struct qn_error *e);

struct qn_moo_problem {
    const char *name;
    int n_var, n_obj, n_con;
    const struct qn_gene *genes;  // [n_var]
    qn_moo_eval_fn evaluate;
    void *ctx;                    // passed to evaluate
};

enum qn_nsga2_cx {
    QN_NSGA2_CX_UNIFORM,    // each integer gene swapped between the children with probability 1/2
    QN_NSGA2_CX_ONE_POINT,  // integer genes after one random cut swapped
    QN_NSGA2_CX_TWO_POINT,  // integer genes between two random cuts swapped
};

// The largest population the command line takes (qnas moo --pop, qnas search --population): the
// non-dominated sort of the 2 pop parents and offspring is quadratic in time and memory (one
// generation of ZDT1 on one core: pop 10000 1.6 s and 60 MB, 20000 5.9 s and 214 MB, 40000
// 25.9 s and 810 MB), so the 250 generations of a default `qnas moo` already take minutes here.
#define QN_NSGA2_CLI_MAX_POP 10000

struct qn_nsga2;

struct qn_nsga2_cfg {
    int pop;                // population size mu = offspring per generation lambda; >= 4
    int gen;                // generations qn_nsga2_run makes after the initial population
    uint64_t seed;
    // Real genes (Deb's NSGA-II code and pymoo defaults).
    double sbx_prob;        // 0.9: a parent pair is recombined with this probability
    double sbx_eta;         // 15: SBX distribution index
    double sbx_var_prob;    // 0.5: per gene of a recombined pair
    double pm_eta;          // 20: polynomial-mutation distribution index
    double pm_prob;         // per real gene; <= 0 means 1 / n_var
    // Integer genes.
    enum qn_nsga2_cx int_cx;  // QN_NSGA2_CX_UNIFORM
    double int_cx_prob;     // 0.9
    double int_mut_prob;    // per integer gene, reset to a different value; <= 0 means 1 / n_var
    // Duplicate elimination: an offspring equal (every gene) to a population member or an
    // earlier offspring is regenerated, up to dedup_tries * pop parent pairs per generation,
    // then replaced by random genomes (as many tries again); what still fails is dropped, so a
    // generation can make fewer than pop offspring only when the space is nearly exhausted.
    bool dedup;             // true
    int dedup_tries;        // 10
    // Optional genomes included in the initial population (the rest is sampled uniformly;
    // copies of one another are dropped when dedup is on).
    const double *init_x;   // [n_init][n_var]
    int n_init;
    // Called after the initial population and after every generation; nonzero stops the run.
    int (*on_generation)(void *ctx, const struct qn_nsga2 *s);
    void *cb_ctx;
};

void qn_nsga2_cfg_default(struct qn_nsga2_cfg *c);

// Run state. The population is the first pop rows of x / f / g / cv / rank / crowd (sorted by
// nothing in particular); rank 0 is its non-dominated front under constraint-domination.
struct qn_nsga2 {
    struct qn_moo_problem prob;
    struct qn_nsga2_cfg cfg;
    int pop, n_var, n_obj, n_con;
    int gen;                 // generations made so far (0 after init)
    long long n_eval;        // candidates evaluated, initial population included
    long long n_dup;         // offspring rejected as duplicates
    long long n_random;      // offspring that had to be replaced by random genomes
    double t_eval;           // seconds spent inside prob.evaluate
    double *x;               // [pop][n_var]
    double *f;               // [pop][n_obj]
    double *g;               // [pop][n_con]
    double *cv;              // [pop] total constraint violation, 0 = feasible
    int *rank;               // [pop]
    double *crowd;           // [pop] crowding distance within its front (INFINITY at the ends)
    // Internal.
    uint64_t rng;
    int n_int, *int_idx;     // integer gene positions
    double *buf[2][4];       // two sets of [2 pop] rows: x, f, g, cv (population, then offspring)
    int cur;                 // which set holds the population
    int *rank2, *ord, *cnt, *tmp, *hash;  // [2 pop], [2 pop], [2 pop + 1], [4 pop], [hash_cap]
    double *crowd2, *child;  // [2 pop]; two genomes
    int hash_cap;
};

// Validates the problem and configuration, allocates, samples and evaluates the initial
// population. QN_ERR_ARG (with e filled) on a bad problem or configuration, or whatever the
// evaluator returned. After a failure s needs no qn_nsga2_free.
enum qn_status qn_nsga2_init(struct qn_nsga2 *s, const struct qn_moo_problem *p, const struct qn_nsga2_cfg *c,
                             struct qn_error *e);
// One generation: offspring, their evaluation, survival. When the evaluator fails (or returns
// NaN) the population is still the previous generation's; after QN_ERR_NOMEM only
// qn_nsga2_free is valid.
enum qn_status qn_nsga2_step(struct qn_nsga2 *s, struct qn_error *e);
// cfg.gen generations, calling cfg.on_generation after the initial population and each one.
enum qn_status qn_nsga2_run(struct qn_nsga2 *s, struct qn_error *e);
void qn_nsga2_free(struct qn_nsga2 *s);

// Indices of the feasible rank-0 members (the current non-dominated front) into idx
// (capacity pop), in index order; returns their count (0 when nothing is feasible).
int qn_nsga2_front(const struct qn_nsga2 *s, int *idx);
