// Timing for the kernel benchmarks: contenders (ours and the peers) of one row are timed in
// alternation, round after round, and each reports the median of its samples.
//
// The machine is shared and noisy, so a row is never "ours for 2 s, then the peer for 2 s":
// a burst from another process then lands on one side only. Alternating sample by sample puts
// the same noise on both, and the median drops the bursts.
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define QB_MAX_REPS 25

// Thread pools that spin after a call. On 2 cores, a pool still spinning when the next
// contender starts steals a core from it, so a switch between pools waits for the spin to end.
enum qb_pool {
    QB_POOL_NONE = 0,  // single-threaded: leaves no spinning threads behind
    QB_POOL_GOMP,      // libgomp (ours and oneDNN): GOMP_SPINCOUNT, see qb_settle
    QB_POOL_OPENBLAS,  // OpenBLAS pthreads: OPENBLAS_THREAD_TIMEOUT, set by the bench
};

struct qb_runner {
    const char *name;  // "ours", "ref_cblas", "openblas", "onednn"
    void (*run)(void *ctx);
    void *ctx;
    enum qb_pool pool;
    int max_reps;      // 0: as many as the budget allows; ref cblas is capped (slow)
    // filled by qb_measure
    int batch;         // calls per timed sample (a sample lasts >= the sample target)
    double call_s;     // one call, from the warm-up (seconds)
    double samples[QB_MAX_REPS];  // seconds per call (see qb_measure for which clock)
    double wall[QB_MAX_REPS];     // wall seconds per call
    double share[QB_MAX_REPS];    // cores held (process CPU / wall); 1 thread: process CPU / thread CPU
    int n;
    int kept;          // samples behind the median
    double median_s;   // seconds per call; 0 when not measured
    double wall_median_s;  // plain wall-clock median of all samples, for the record
    double share_median;   // median of share[]
    bool solo;             // 2-thread rows: ran on the calling thread alone (see qb_measure)
};

static inline double qb_median(double *v, int n) {
    if (n <= 0) return 0;
    double t[QB_MAX_REPS];
    memcpy(t, v, (size_t)n * sizeof(double));
    for (int i = 1; i < n; i++)  // n <= 25: insertion sort
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double x = t[j];
            t[j] = t[j - 1], t[j - 1] = x;
        }
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static inline void qb_sleep(double s) {
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

// Seconds a pool keeps a core busy after its last call. libgomp's default spin (GOMP_SPINCOUNT
// 300k `pause`s) measured 4-5 ms of CPU on the idle worker here (/proc schedstat); OpenBLAS
// spins 2^OPENBLAS_THREAD_TIMEOUT cycles, and the bench sets 2^20 (~0.4 ms). Only matters when
// the row uses more than one thread and the next contender uses another pool.
static inline double qb_settle_s(enum qb_pool p) {
    return p == QB_POOL_GOMP ? 0.008 : p == QB_POOL_OPENBLAS ? 0.002 : 0;
}

// Waits for runner i's pool to go quiet when the next runner to go uses a different one.
static inline void qb_settle(const struct qb_runner *r, int nr, int i, int threads) {
    if (threads <= 1 || r[i].pool == QB_POOL_NONE) return;
    for (int k = 1; k <= nr; k++) {
        const struct qb_runner *nx = &r[(i + k) % nr];
        if (!nx->run) continue;
        if (nx->pool != r[i].pool) qb_sleep(qb_settle_s(r[i].pool));
        return;
    }
}

// A 2-thread sample is trusted when the process held at least this many cores (libgomp and
// OpenBLAS spin while waiting, so a scheduled thread counts as a full core even when idle).
#define QB_MIN_SHARE_2T 1.6

struct qb_plan {
    double budget_s;      // timed rounds of one row, all contenders together
    double sample_s;      // target length of one sample
    double max_round_s;   // above this a row gets fewer than 3 rounds
    int min_reps, max_reps;
    int threads;
};

static inline double qb_cpu_now(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Busy and total jiffies of the whole machine (/proc/stat's first line); false if unreadable.
static inline bool qb_machine_jiffies(double *busy, double *total) {
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    const int got = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                               &v[5], &v[6], &v[7])
                      : 0;
    if (f) fclose(f);
    if (got < 5) return false;
    double t = 0;
    for (int k = 0; k < 8; k++) t += (double)v[k];
    *total = t, *busy = t - (double)v[3] - (double)v[4];  // idle and iowait
    return true;
}

// Whether runner x keeps its calls on the calling thread (ours does below its threading
// threshold): then a 2-thread row finds it holding one core by design, not because the machine
// is busy. After every pool has gone quiet, calls for >= 0.1 s: the process's other threads
// must take under a tenth of the calling thread's CPU time while the machine as a whole left
// the other core idle (/proc/stat), so that a descheduled worker of a busy machine is not
// mistaken for no worker. Unknown (no /proc/stat) counts as not solo.
static inline bool qb_runs_solo(struct qb_runner *x) {
    qb_sleep(0.02);  // libgomp's and OpenBLAS's spinning threads go quiet (qb_settle_s)
    double b0, t0j, b1, t1j;
    if (!qb_machine_jiffies(&b0, &t0j)) return false;
    const double c0 = qb_cpu_now(CLOCK_THREAD_CPUTIME_ID), p0 = qb_cpu_now(CLOCK_PROCESS_CPUTIME_ID), w0 = qn_now();
    do
        for (int k = 0; k < x->batch; k++) x->run(x->ctx);
    while (qn_now() - w0 < 0.1);
    const double dc = qb_cpu_now(CLOCK_THREAD_CPUTIME_ID) - c0, dp = qb_cpu_now(CLOCK_PROCESS_CPUTIME_ID) - p0;
    const double dw = qn_now() - w0;
    if (!qb_machine_jiffies(&b1, &t1j) || t1j <= t0j || dc <= 0) return false;
    const double cores_busy = (b1 - b0) / (t1j - t0j) * (double)sysconf(_SC_NPROCESSORS_ONLN);  // every process
    const double ours = dp / dw;
    return dp - dc < 0.1 * dc && cores_busy - ours < 0.5;
}

// Warms up every runner (one call, then one timed call), picks its batch, then runs rounds
// of one sample per runner until the budget is spent. Runners with run == NULL are skipped.
//
// Clocks, because other engineers' jobs share the 2 cores:
// - 1 thread: the calling thread's CPU time (every contender, peers included, runs on the
//   calling thread then). Time slices lost to other processes do not count; on a quiet machine
//   it equals wall time.
// - 2 threads: wall time, but a sample during which the process got less than 90% of the CPU
//   share (process CPU time / wall time) of that contender's best sample is dropped: another
//   process held a core, and with spinning barriers one descheduled thread stalls both.
static inline void qb_measure(struct qb_runner *r, int nr, const struct qb_plan *p) {
    bool one = p->threads <= 1;
    for (int i = 0; i < nr; i++) {
        r[i].n = r[i].kept = 0, r[i].median_s = r[i].wall_median_s = 0, r[i].batch = 1;
        if (!r[i].run) continue;
        double t0 = qn_now();
        r[i].run(r[i].ctx);
        double est = qn_now() - t0;
        if (est < 0.5) {
            // The estimate is the fastest of up to 8 more calls (at least one, for 50 ms): not
            // the first (page faults, JIT), nor only the second, since the first calls after
            // another contender's run slowly while its data leave the caches. A batch sized from
            // such a call held fewer calls and more of that slowdown than the peer's did: the
            // INT8 1x1 layer at batch 64 (2 ms a call, ~10 ms of calls at 2x after oneDNN's)
            // got batches of 6 against oneDNN's 13 and read 0.70-0.74x its speed.
            const double w0 = qn_now();
            est = INFINITY;
            for (int k = 0; k < 8 && (k == 0 || qn_now() - w0 < 0.05); k++) {
                t0 = qn_now();
                r[i].run(r[i].ctx);
                const double d = qn_now() - t0;
                if (d < est) est = d;
            }
        }
        r[i].call_s = est > 1e-9 ? est : 1e-9;
        double b = p->sample_s / r[i].call_s;
        r[i].batch = b < 1 ? 1 : b > 100000 ? 100000 : (int)b;
        r[i].solo = false;
        qb_settle(r, nr, i, p->threads);
    }
    double round_s = 0;
    for (int i = 0; i < nr; i++)
        if (r[i].run) round_s += r[i].call_s * r[i].batch;
    int reps = round_s > 0 ? (int)(p->budget_s / round_s) : p->max_reps;
    if (reps > p->max_reps) reps = p->max_reps;
    if (reps < p->min_reps) reps = round_s <= p->max_round_s ? p->min_reps : 1;
    if (reps > QB_MAX_REPS) reps = QB_MAX_REPS;
    for (int rep = 0; rep < reps; rep++) {
        for (int i = 0; i < nr; i++) {
            if (!r[i].run || (r[i].max_reps && rep >= r[i].max_reps)) continue;
            double c0 = qb_cpu_now(CLOCK_THREAD_CPUTIME_ID), p0 = qb_cpu_now(CLOCK_PROCESS_CPUTIME_ID);
            double t0 = qn_now();
            for (int b = 0; b < r[i].batch; b++) r[i].run(r[i].ctx);
            double dt = qn_now() - t0;
            double dc = qb_cpu_now(CLOCK_THREAD_CPUTIME_ID) - c0, dp = qb_cpu_now(CLOCK_PROCESS_CPUTIME_ID) - p0;
            int k = r[i].n++;
            r[i].samples[k] = (one ? dc : dt) / r[i].batch;
            r[i].wall[k] = dt / r[i].batch;
            // 1 thread: process / calling-thread CPU time, ~1 unless a contender used helper
            // threads the thread clock would miss; 2 threads: cores held
            r[i].share[k] = one ? (dc > 0 ? dp / dc : 0) : (dt > 0 ? dp / dt : 0);
            qb_settle(r, nr, i, p->threads);
        }
    }
    for (int i = 0; i < nr; i++) {
        struct qb_runner *x = &r[i];
        x->wall_median_s = qb_median(x->wall, x->n);
        x->share_median = qb_median(x->share, x->n);
        if (one) {
            x->kept = x->n;
            x->median_s = qb_median(x->samples, x->n);
            continue;
        }
        // A contender that held under QB_MIN_SHARE_2T cores: busy machine, or one thread by design; if
        // the latter, its samples count when its thread held its core (the share can be above
        // 1 with the previous contender's pool still spinning).
        x->solo = x->n && x->share_median < QB_MIN_SHARE_2T && qb_runs_solo(x);
        double best = 0, keep[QB_MAX_REPS];
        for (int k = 0; k < x->n; k++)
            if (x->share[k] > best) best = x->share[k];
        const double min_share = x->solo ? 0.9 : 0.9 * best;
        x->kept = 0;
        for (int k = 0; k < x->n; k++)
            if (x->share[k] >= min_share) keep[x->kept++] = x->samples[k];
        if (!x->kept)  // a solo contender that never held its core: all samples (flagged UNRELIABLE)
            for (int k = 0; k < x->n; k++) keep[x->kept++] = x->samples[k];
        x->median_s = qb_median(keep, x->kept);
    }
}

// --- output comparison: a loose sanity check of ours against a peer, not a test ---

// Largest |a - b| relative to the largest |b| (so a few large outputs set the scale, as in
// a K-long dot product where cancellation makes single elements small).
static inline double qb_rel_diff_f32(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double x = fabs((double)a[i] - (double)b[i]);
        if (!(x <= d)) d = x;  // NaN propagates
        if (fabs((double)b[i]) > s) s = fabs((double)b[i]);
    }
    return s > 0 ? d / s : d;
}
