// Quantizers, calibration observers, fake quantization and NSR (see quant.h).
//
// All scalar: calibration and weight quantization run once per subnet, and the fake-quant
// loops are memory-bound elementwise passes the compiler vectorizes well enough.
#include <float.h>
#include <math.h>
#include <string.h>

#include "quant.h"

// --- calibration names ---

static const char *const calib_names[QN_CALIB_COUNT] = {"minmax", "percentile", "mse"};

const char *qn_calib_name(enum qn_calib c) {
    return c >= 0 && c < QN_CALIB_COUNT ? calib_names[c] : "invalid";
}

bool qn_calib_parse(const char *s, enum qn_calib *c) {
    if (!s) return false;
    for (int i = 0; i < QN_CALIB_COUNT; i++)
        if (strcmp(s, calib_names[i]) == 0) {
            *c = (enum qn_calib)i;
            return true;
        }
    return false;
}

// --- activation parameters ---

static inline int32_t act_qmax(int bits) { return (1 << bits) - 1; }

struct qn_act_qparams qn_act_qparams_from_range(float lo, float hi, int bits, bool symmetric) {
    QN_ASSERT(bits >= 2 && bits <= 8 && lo <= hi && isfinite(lo) && isfinite(hi));
    const int32_t qmax = act_qmax(bits), half = 1 << (bits - 1);
    lo = lo < 0.0f ? lo : 0.0f;
    hi = hi > 0.0f ? hi : 0.0f;
    struct qn_act_qparams p = {1.0f, symmetric ? half : 0, qmax};
    if (!(hi > lo)) return p;
    if (symmetric) {
        const float a = -lo > hi ? -lo : hi;
        p.scale = a / (float)(half - 1);
    } else {
        // The same float operations as qn_qu8_params_from_range, so 8 bits agree bit for bit.
        p.scale = (hi - lo) / (float)qmax;
        if (!isfinite(p.scale)) p.scale = hi / (float)qmax - lo / (float)qmax;  // hi - lo overflowed
    }
    if (!(p.scale >= FLT_MIN)) p.scale = FLT_MIN;
    if (!symmetric) {
        const float z = rintf(-lo / p.scale);
        p.zp = z < 0.0f ? 0 : (z > (float)qmax ? qmax : (int32_t)z);
    }
    return p;
}

// --- observer: power-of-two lattice histogram ---

#define OBS_N QN_ACT_OBS_BINS
#define OBS_EXP_MIN (-160)  // below the smallest float subnormal, 2^-149
#define OBS_REL_BITS 24     // bins never finer than 2^-24 of max|x|

// Lattice index floor(x / 2^e). Exact: x * 2^-e is a power-of-two scaling in double.
static inline int64_t lattice(float x, double inv_w) { return (int64_t)floor((double)x * inv_w); }

// floor(j / 2^s) for any sign of j.
static inline int64_t floor_shift(int64_t j, int s) {
    if (s >= 62) return j < 0 ? -1 : 0;
    return j >= 0 ? j >> s : -(((-j) - 1) >> s) - 1;
}

static bool lattice_fits(float mn, float mx, int e) {
    const double inv_w = ldexp(1.0, -e);
    return lattice(mx, inv_w) - lattice(mn, inv_w) + 1 <= OBS_N;
}

// The exponent the histogram of a data set with range [mn, mx] uses. Monotone in the range,
// so growing it batch by batch reaches the exponent of the whole data set.
static int required_exp(float mn, float mx) {
    const float amax = fmaxf(fabsf(mn), fabsf(mx));
    if (amax == 0.0f) return OBS_EXP_MIN;
    int e = ilogbf(amax) - OBS_REL_BITS;
    const double span = (double)mx - (double)mn;
    // Below ilogb(span) - 13 the span covers >= 2^13 > OBS_N + 1 bins: cannot fit, so
    // walking up from there finds the smallest exponent that fits.
    if (span > 0.0 && ilogb(span) - 13 > e) e = ilogb(span) - 13;
    if (e < OBS_EXP_MIN) e = OBS_EXP_MIN;
    while (!lattice_fits(mn, mx, e)) e++;
    return e;
}

void qn_act_observer_init(struct qn_act_observer *o) {
    memset(o, 0, sizeof(*o));
    o->exp = OBS_EXP_MIN;
}

void qn_act_observer_free(struct qn_act_observer *o) { qn_act_observer_init(o); }

// Re-bins onto exponent e >= o->exp with the window starting at lattice index base.
static void observer_rebin(struct qn_act_observer *o, int e, int64_t base) {
    QN_ASSERT(e >= o->exp);
    uint64_t tmp[OBS_N];
    memset(tmp, 0, sizeof(tmp));
    const int s = e - o->exp;
    for (size_t i = 0; i < OBS_N; i++) {
        if (!o->hist[i]) continue;
        const int64_t idx = floor_shift(o->base + (int64_t)i, s) - base;
        QN_ASSERT(idx >= 0 && idx < OBS_N);
        tmp[idx] += o->hist[i];
    }
    memcpy(o->hist, tmp, sizeof(tmp));
    o->exp = e, o->base = base;
}

void qn_act_observer_add(struct qn_act_observer *o, const float *x, size_t n) {
    float lo = INFINITY, hi = -INFINITY;
    size_t nfin = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
        nfin++;
    }
    o->nonfinite += n - nfin;
    if (!nfin) return;
    if (o->count) lo = fminf(lo, o->min), hi = fmaxf(hi, o->max);
    const int e = required_exp(lo, hi);
    const double inv_w = ldexp(1.0, -e);
    const int64_t base = lattice(lo, inv_w);
    if (!o->count) {
        memset(o->hist, 0, sizeof(o->hist));
        o->exp = e, o->base = base;
    } else if (e != o->exp || base != o->base) {
        observer_rebin(o, e, base);
    }
    o->min = lo, o->max = hi;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        const int64_t idx = lattice(x[i], inv_w) - base;
        QN_ASSERT(idx >= 0 && idx < OBS_N);
        o->hist[idx]++;
        o->zeros += x[i] == 0.0f;
    }
    o->count += nfin;
}

// --- observer: the distribution as weighted intervals ---

// One bin's mass: `u` values spread uniformly over [a, b] (a point when a == b). Exact zeros
// are a separate point mass at 0.
struct cell {
    double a, b, u;
};

struct dist {
    struct cell c[OBS_N];
    size_t n;
    double zeros, total;
    double lo, hi;  // the range the cells are clipped to
};

// Scratch for the parameter search, ~50 KiB: per thread, off the (OpenMP worker) stack.
static _Thread_local struct dist dist_scratch;

// Cells of the lattice histogram: lattice index k0 + i, counts cnt[i], clipped to [lo, hi]; the
// zeros live in the cell of lattice index 0.
static void dist_build(struct dist *d, const uint64_t *cnt, size_t ncnt, int64_t k0, int e,
                       double lo, double hi, uint64_t zeros) {
    const double w = ldexp(1.0, e);
    d->n = 0, d->zeros = (double)zeros, d->total = (double)zeros, d->lo = lo, d->hi = hi;
    for (size_t i = 0; i < ncnt; i++) {
        uint64_t c = cnt[i];
        if (k0 + (int64_t)i == 0) c -= zeros;
        if (!c) continue;
        const double k = (double)(k0 + (int64_t)i);
        double a = k * w, b = (k + 1.0) * w;
        a = a < lo ? lo : a;
        b = b > hi ? hi : b;
        if (b < a) b = a;
        d->c[d->n++] = (struct cell){a, b, (double)c};
        d->total += (double)c;
    }
}

// The signed distribution of x.
static void dist_signed(struct dist *d, const struct qn_act_observer *o) {
    dist_build(d, o->hist, OBS_N, o->base, o->exp, o->min, o->max, o->zeros);
}

// The distribution of |x|: lattice cell j < 0 ([j w, (j+1) w)) folds onto k = -j - 1.
static void dist_abs(struct dist *d, const struct qn_act_observer *o) {
    uint64_t folded[OBS_N];
    memset(folded, 0, sizeof(folded));
    int64_t kmin = INT64_MAX;
    for (size_t i = 0; i < OBS_N; i++) {
        const int64_t j = o->base + (int64_t)i, k = j >= 0 ? j : -j - 1;
        if (o->hist[i] && k < kmin) kmin = k;
    }
    for (size_t i = 0; i < OBS_N; i++) {
        if (!o->hist[i]) continue;
        const int64_t j = o->base + (int64_t)i, k = j >= 0 ? j : -j - 1;
        QN_ASSERT(k - kmin >= 0 && k - kmin < OBS_N);
        folded[k - kmin] += o->hist[i];
    }
    const double amax = fmax(fabs((double)o->min), fabs((double)o->max));
    // The zeros sit in lattice cell 0, which stays k = 0 (the j = -1 cell lands there too).
    dist_build(d, folded, OBS_N, kmin, o->exp, 0.0, amax, o->zeros);
}

// Value below which a fraction q of the mass lies, interpolating linearly inside a cell.
static double dist_quantile(const struct dist *d, double q) {
    if (q <= 0.0) return d->lo;
    if (q >= 1.0) return d->hi;
    const double target = q * d->total;
    double cum = 0.0;
    bool zeros_done = d->zeros == 0.0;
    for (size_t i = 0; i < d->n; i++) {
        const struct cell *c = &d->c[i];
        if (!zeros_done && c->a >= 0.0) {  // the zeros come before the cell starting at 0
            if (cum + d->zeros >= target) return 0.0;
            cum += d->zeros, zeros_done = true;
        }
        if (cum + c->u >= target) return c->a + (target - cum) / c->u * (c->b - c->a);
        cum += c->u;
    }
    if (!zeros_done && cum + d->zeros >= target) return 0.0;
    return d->hi;
}

// --- observer: error model ---

// integral over [t1, t2] of (t - v)^2, without the cancellation of the difference of cubes.
static inline double sq_integral(double t1, double t2, double v) {
    const double a = t1 - v, b = t2 - v;
    return (t2 - t1) * (a * a + a * b + b * b) / 3.0;
}

// Expected squared error of the mass of c under p, times its count. In code units
// t = x / scale + zp the levels sit at the integers 0..qmax and the output of t is
// clamp(round(t), 0, qmax); the error in x is scale^2 (t - level)^2.
static double cell_err(const struct cell *c, double s, double z, double Q) {
    const double ta = c->a / s + z, tb = c->b / s + z;
    if (!(tb > ta)) {
        double v = nearbyint(ta);
        v = v < 0.0 ? 0.0 : (v > Q ? Q : v);
        return c->u * s * s * (ta - v) * (ta - v);
    }
    double sum = 0.0;
    const double lo_edge = 0.5, hi_edge = Q - 0.5;
    if (ta < lo_edge) sum += sq_integral(ta, fmin(tb, lo_edge), 0.0);
    if (tb > hi_edge) sum += sq_integral(fmax(ta, hi_edge), tb, Q);
    const double ma = fmax(ta, lo_edge), mb = fmin(tb, hi_edge);
    if (mb > ma) {
        const double qa = floor(ma + 0.5), qb = fmin(floor(mb + 0.5), Q - 1.0);
        if (qa >= qb) {
            sum += sq_integral(ma, mb, qa);
        } else {
            sum += sq_integral(ma, qa + 0.5, qa) + (qb - qa - 1.0) / 12.0 +
                   sq_integral(qb - 0.5, mb, qb);
        }
    }
    return c->u * s * s * sum / (tb - ta);
}

// Mean squared error over the distribution (the zeros are exact under every p).
static double dist_mse(const struct dist *d, struct qn_act_qparams p) {
    if (d->total == 0.0) return 0.0;
    const double s = p.scale, z = p.zp, Q = p.qmax;
    double e = 0.0;
    for (size_t i = 0; i < d->n; i++) e += cell_err(&d->c[i], s, z, Q);
    return e / d->total;
}

double qn_act_observer_mse(const struct qn_act_observer *o, struct qn_act_qparams p) {
    if (!o->count) return 0.0;
    struct dist *d = &dist_scratch;
    dist_signed(d, o);
    return dist_mse(d, p);
}

// --- observer: parameter search ---

#define MSE_COARSE_STEPS 16  // candidates per octave
#define MSE_OCTAVES 8        // down to 2^-8 of the observed range
#define MSE_FINE_STEPS 128   // refinement per octave, within one coarse step of the best

struct mse_search {
    const struct dist *d;
    int bits;
    bool symmetric;
    double lo0, hi0;  // observed range, widened to contain 0
};

// Error of the candidate range lo0 * 2^-tl .. hi0 * 2^-th.
static double mse_eval(const struct mse_search *m, double tl, double th,
                       struct qn_act_qparams *p) {
    const float lo = (float)(m->lo0 * exp2(-tl)), hi = (float)(m->hi0 * exp2(-th));
    *p = qn_act_qparams_from_range(lo, hi, m->bits, m->symmetric);
    return dist_mse(m->d, *p);
}

// 1-D search over t for one end (which = 0: lo, 1: hi) or both (which = 2), from (*tl, *th);
// updates them, *best and *bp only on a strict improvement.
static void mse_line(const struct mse_search *m, int which, double *tl, double *th,
                     double *best, struct qn_act_qparams *bp) {
    double tbest = which == 0 ? *tl : *th;
    const double tl0 = *tl, th0 = *th;
    struct qn_act_qparams p;
    for (int pass = 0; pass < 2; pass++) {
        const double center = tbest;
        const int n = pass == 0 ? MSE_COARSE_STEPS * MSE_OCTAVES : MSE_FINE_STEPS / MSE_COARSE_STEPS;
        for (int i = pass == 0 ? 0 : -n; i <= n; i++) {
            const double t = pass == 0 ? (double)i / MSE_COARSE_STEPS
                                       : center + (double)i / MSE_FINE_STEPS;
            if (t < 0.0 || (pass == 1 && i == 0)) continue;
            const double cl = which == 1 ? tl0 : t, ch = which == 0 ? th0 : t;
            const double e = mse_eval(m, cl, ch, &p);
            if (e < *best) *best = e, *bp = p, tbest = t, *tl = cl, *th = ch;
        }
    }
}

struct qn_act_qparams qn_act_observer_params(const struct qn_act_observer *o, int bits,
                                             enum qn_calib cal, bool symmetric,
                                             float percentile) {
    QN_ASSERT(bits >= 2 && bits <= 8);
    if (!o->count) return qn_act_qparams_from_range(0.0f, 0.0f, bits, symmetric);
    const struct qn_act_qparams pmm = qn_act_qparams_from_range(o->min, o->max, bits, symmetric);
    struct dist *d = &dist_scratch;
    switch (cal) {
    case QN_CALIB_MINMAX: return pmm;
    case QN_CALIB_PERCENTILE: {
        QN_ASSERT(percentile > 50.0f && percentile <= 100.0f);
        if (percentile == 100.0f) return pmm;
        const double q = (double)percentile / 100.0;
        float lo, hi;
        if (symmetric) {
            dist_abs(d, o);
            lo = 0.0f, hi = fminf((float)dist_quantile(d, q), fmaxf(-o->min, o->max));
        } else {
            dist_signed(d, o);
            lo = fmaxf((float)dist_quantile(d, 1.0 - q), o->min);
            hi = fminf((float)dist_quantile(d, q), o->max);
            if (lo > hi) lo = hi;
        }
        const bool collapsed = !(fmaxf(hi, 0.0f) > fminf(lo, 0.0f));
        if (collapsed && (o->min != 0.0f || o->max != 0.0f)) return pmm;
        return qn_act_qparams_from_range(lo, hi, bits, symmetric);
    }
    case QN_CALIB_MSE: {
        dist_signed(d, o);
        struct mse_search m = {d, bits, symmetric, fmin((double)o->min, 0.0),
                               fmax((double)o->max, 0.0)};
        if (symmetric) {  // the range is +-max(|lo0|, |hi0|): one parameter
            const double a = fmax(-m.lo0, m.hi0);
            m.lo0 = -a, m.hi0 = a;
        }
        struct qn_act_qparams best_p = pmm;
        double best = dist_mse(d, pmm), tl = 0.0, th = 0.0;
        if (m.hi0 == m.lo0) return pmm;
        mse_line(&m, 2, &tl, &th, &best, &best_p);
        if (!symmetric && m.lo0 < 0.0 && m.hi0 > 0.0) {
            mse_line(&m, 0, &tl, &th, &best, &best_p);
            mse_line(&m, 1, &tl, &th, &best, &best_p);
        }
        return best_p;
    }
    default: QN_ASSERT(!"unknown calibration method");
    }
    return pmm;
}

// --- weights ---

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Squared error of one row quantized with scale s: the fake-quant arithmetic, summed in double.
static double row_err(size_t K, const float *w, float s, float lim) {
    double e = 0.0;
    for (size_t k = 0; k < K; k++) {
        const float y = clampf(rintf(w[k] / s), -lim, lim) * s;
        const double d = (double)w[k] - (double)y;
        e += d * d;
    }
    return e;
}

#define WMSE_STEPS 70  // alpha = 1.00, 0.99, ..., 0.30

void qn_quant_weights(size_t N, size_t K, const float *W, size_t ldw, int bits,
                      enum qn_calib cal, int8_t *Q, size_t ldq, float *scale) {
    QN_ASSERT(bits >= 2 && bits <= 8 && ldw >= K && ldq >= K);
    QN_ASSERT(cal >= 0 && cal < QN_CALIB_COUNT);
    const float lim = (float)((1 << (bits - 1)) - 1);
    for (size_t n = 0; n < N; n++) {
        const float *w = W + n * ldw;
        const float amax = qn_absmax(w, K);
        float s = qn_weight_scale(amax, lim);
        if (cal != QN_CALIB_MINMAX && amax > 0.0f) {
            double best = row_err(K, w, s, lim);
            for (int i = 1; i <= WMSE_STEPS; i++) {
                const float c = amax * (float)(1.0 - 0.01 * i), si = c / lim;
                if (!(si >= FLT_MIN)) break;  // qn_weight_scale's floor
                const double e = row_err(K, w, si, lim);
                if (e < best) best = e, s = si;
            }
        }
        scale[n] = s;
        for (size_t k = 0; k < K; k++) Q[n * ldq + k] = (int8_t)clampf(rintf(w[k] / s), -lim, lim);
    }
}

// --- fake quantization ---

void qn_fake_quant_act(size_t n, const float *x, struct qn_act_qparams p, float *y) {
    QN_ASSERT(p.scale > 0.0f && p.qmax > 0 && p.zp >= 0 && p.zp <= p.qmax);
    const float inv = 1.0f / p.scale, fzp = (float)p.zp, fq = (float)p.qmax;
    for (size_t i = 0; i < n; i++) {
        const float q = clampf(rintf(x[i] * inv) + fzp, 0.0f, fq);
        y[i] = (q - fzp) * p.scale;
    }
}

void qn_fake_quant_act_bwd(size_t n, const float *x, struct qn_act_qparams p, const float *dy,
                           float *dx, float *dscale) {
    QN_ASSERT(p.scale > 0.0f && p.qmax > 0 && p.zp >= 0 && p.zp <= p.qmax);
    const float inv = 1.0f / p.scale, fzp = (float)p.zp, fq = (float)p.qmax;
    const double below = -(double)p.zp, above = (double)(p.qmax - p.zp), s = p.scale;
    double ds = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float q = rintf(x[i] * inv) + fzp, g = dy[i];
        const bool inside = q >= 0.0f && q <= fq;
        if (dscale) {
            const double gs = inside ? (double)(q - fzp) - (double)x[i] / s
                                     : (q < 0.0f ? below : above);
            ds += (double)g * gs;
        }
        dx[i] = inside ? g : 0.0f;
    }
    if (dscale) *dscale += (float)ds;
}

void qn_fake_quant_weights(size_t N, size_t K, const float *W, size_t ldw, int bits,
                           const float *scale, float *Y, size_t ldy) {
    QN_ASSERT(bits >= 2 && bits <= 8 && ldw >= K && ldy >= K);
    const float lim = (float)((1 << (bits - 1)) - 1);
    for (size_t n = 0; n < N; n++) {
        const float s = scale[n];
        QN_ASSERT(s > 0.0f);
        // + 0.0f turns rint's -0 into +0: the value of (float)Q * scale, bit for bit
        for (size_t k = 0; k < K; k++)
            Y[n * ldy + k] = (clampf(rintf(W[n * ldw + k] / s), -lim, lim) + 0.0f) * s;
    }
}

void qn_fake_quant_weights_bwd(size_t N, size_t K, const float *W, size_t ldw, int bits,
                               const float *scale, const float *dY, size_t lddy, float *dW,
                               size_t lddw) {
    QN_ASSERT(bits >= 2 && bits <= 8 && ldw >= K && lddy >= K && lddw >= K);
    const float lim = (float)((1 << (bits - 1)) - 1);
    for (size_t n = 0; n < N; n++) {
        const float s = scale[n];
        QN_ASSERT(s > 0.0f);
        for (size_t k = 0; k < K; k++) {
            const float q = rintf(W[n * ldw + k] / s);
            if (q >= -lim && q <= lim) dW[n * lddw + k] += dY[n * lddy + k];
        }
    }
}

// --- error measure ---

double qn_nsr(size_t n, const float *ref, const float *approx) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double r = ref[i], d = (double)approx[i] - r;
        num += d * d, den += r * r;
    }
    if (den == 0.0) return num == 0.0 ? 0.0 : INFINITY;
    return num / den;
}
