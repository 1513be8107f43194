// Reports of a finished `qnas search` (search.h): the measured fronts as CSV and JSON, a
// summary for scripts, an SVG plot for people and a Markdown report tying them together.
// Each file is rendered in memory and written by qn_write_atomic (temp file, fsync, rename),
// so an interrupted or failed write leaves the previous version or nothing, never half a file.
//
// Every ratio is against the homogeneous INT8 baseline (largest subnet, W8A8):
//   latency ratio = int8 latency / point latency     > 1: the point is faster
//   size ratio    = int8 size / point size           > 1: the point is smaller
//   delta         = 100 (point test top-1 - int8 test top-1), percentage points
// Undefined figures (no test accuracy, zero latency) are NaN: an empty CSV field, null in
// JSON, "-" in Markdown, left out of the plot. Numbers are printed with fixed precision; the
// program never calls setlocale, so the decimal point is '.'.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "safetensors.h"
#include "search.h"

// --- derived figures ---

// What every report needs, worked out once.
struct rep {
    const struct qn_search_result *r;
    const struct qn_search_point *fp32, *int8;
    int best;       // r->best: index into pts, or -1
    int best_size;  // front point with test top-1 >= INT8's and the smallest size, or -1
    int closest;    // front point with the highest test top-1 (headline when best == -1), or -1
    int near, near_size;  // fastest / smallest front point within QN_REPORT_NEAR_PP of INT8's test top-1
};

// The targets allow this much test-accuracy loss (percentage points) against INT8.
#define QN_REPORT_NEAR_PP 0.1

struct ratios {
    double latency, size, delta_pp;
};

static struct ratios vs_int8(const struct rep *c, const struct qn_search_point *p) {
    const struct qn_search_point *b = c->int8;
    struct ratios x;
    x.latency = b->latency_ms > 0 && p->latency_ms > 0 ? b->latency_ms / p->latency_ms : NAN;
    x.size = p->size_bytes ? (double)b->size_bytes / (double)p->size_bytes : NAN;
    x.delta_pp = 100.0 * (p->test_acc - b->test_acc);  // NaN when either is unmeasured
    return x;
}

// No test-accuracy loss against INT8 (false when either side was not measured).
static bool no_loss(const struct rep *c, const struct qn_search_point *p) {
    return isfinite(p->test_acc) && isfinite(c->int8->test_acc) && p->test_acc >= c->int8->test_acc;
}

static bool has_nul(const char *s, size_t cap) { return memchr(s, 0, cap) != NULL; }

static enum qn_status check_indices(const char *what, const int *idx, int k, int n, struct qn_error *e) {
    if (k < 0 || (k > 0 && !idx)) return qn_fail(e, QN_ERR_ARG, "search reports: %s: %d points but no list", what, k);
    for (int i = 0; i < k; i++)
        if (idx[i] < 0 || idx[i] >= n)
            return qn_fail(e, QN_ERR_ARG, "search reports: %s[%d] = %d outside 0..%d", what, i, idx[i], n - 1);
    return QN_OK;
}

static enum qn_status rep_init(struct rep *c, const struct qn_search_result *r, struct qn_error *e) {
    if (r->n < 1 || !r->pts) return qn_fail(e, QN_ERR_ARG, "search reports: no measured configurations");
    if (r->fp32_base < 0 || r->fp32_base >= r->n || r->int8_base < 0 || r->int8_base >= r->n)
        return qn_fail(e, QN_ERR_ARG, "search reports: baseline indices %d, %d outside 0..%d", r->fp32_base,
                       r->int8_base, r->n - 1);
    if (r->best < -1 || r->best >= r->n)
        return qn_fail(e, QN_ERR_ARG, "search reports: best = %d outside -1..%d", r->best, r->n - 1);
    enum qn_status st;
    if ((st = check_indices("front", r->front, r->n_front, r->n, e)) ||
        (st = check_indices("arch_front", r->arch_front, r->n_arch, r->n, e)) ||
        (st = check_indices("quant_front", r->quant_front, r->n_quant, r->n, e)))
        return st;
    if (!has_nul(r->space, sizeof(r->space))) return qn_fail(e, QN_ERR_ARG, "search reports: space name not terminated");
    for (int i = 0; i < r->n; i++) {
        const struct qn_search_point *p = &r->pts[i];
        if (!has_nul(p->genome, sizeof(p->genome)) || !has_nul(p->policy, sizeof(p->policy)) ||
            !has_nul(p->source, sizeof(p->source)))
            return qn_fail(e, QN_ERR_ARG, "search reports: point %d: text field not terminated", i);
    }
    c->r = r;
    c->fp32 = &r->pts[r->fp32_base];
    c->int8 = &r->pts[r->int8_base];
    c->best = r->best;
    c->best_size = c->closest = c->near = c->near_size = -1;
    for (int i = 0; i < r->n_front; i++) {
        const int j = r->front[i];
        const struct qn_search_point *p = &r->pts[j];
        // The front is sorted by latency, so strict comparisons keep the faster point on ties.
        if (no_loss(c, p) && (c->best_size < 0 || p->size_bytes < r->pts[c->best_size].size_bytes)) c->best_size = j;
        if (isfinite(p->test_acc) && (c->closest < 0 || p->test_acc > r->pts[c->closest].test_acc)) c->closest = j;
        const bool near = isfinite(p->test_acc) && isfinite(c->int8->test_acc) &&
                          100.0 * (p->test_acc - c->int8->test_acc) >= -QN_REPORT_NEAR_PP - 1e-9;
        if (near && c->near < 0) c->near = j;
        if (near && (c->near_size < 0 || p->size_bytes < r->pts[c->near_size].size_bytes)) c->near_size = j;
    }
    return QN_OK;
}

// --- small formatting helpers ---

struct qn_fig qn_fig(double v, int dec, const char *suffix) {
    struct qn_fig t;
    if (isfinite(v)) snprintf(t.s, sizeof(t.s), "%.*f%s", dec, v, suffix);
    else snprintf(t.s, sizeof(t.s), "-");
    return t;
}

static struct qn_fig pct(double frac) { return qn_fig(100.0 * frac, 2, "%"); }
static struct qn_fig kb(uint64_t bytes) { return qn_fig((double)bytes / 1000.0, 1, ""); }

static const char *obj_name(enum qn_search_obj o) {
    switch (o) {
    case QN_OBJ_ACC: return "accuracy";
    case QN_OBJ_LATENCY: return "latency";
    case QN_OBJ_SIZE: return "size";
    }
    return "?";
}

// CSV field: always quoted, '"' doubled (RFC 4180).
static void csv_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_num(FILE *f, double v, int dec) {
    fputc(',', f);
    if (isfinite(v)) fprintf(f, "%.*f", dec, v);
}

static void xml_str(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            // Control characters are not allowed in XML 1.0 text.
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n') fputc(*s, f);
        }
    }
}

// Markdown inline code that survives a table cell: '|' escaped (GFM keeps "\|" as '|' inside
// code spans in tables), no backticks inside.
static void md_code(FILE *f, const char *s) {
    if (!*s) {
        fputc('-', f);
        return;
    }
    fputc('`', f);
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '`') fputc('\'', f);
        else if (*s == '\n' || *s == '\r') fputc(' ', f);
        else fputc(*s, f);
    }
    fputc('`', f);
}

// A shell word for the reproduce line: as is when it is plainly safe, else single-quoted.
static void sh_word(FILE *f, const char *s) {
    bool plain = *s != 0;
    for (const char *q = s; *q && plain; q++)
        plain = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || strchr("_./-=:,+@%", *q);
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

// --- pareto.csv ---

static enum qn_status emit_csv(FILE *f, const struct rep *c) {
    const struct qn_search_result *r = c->r;
    fputs("id,genome,policy,val_acc,test_acc,latency_ms,lut_ms,size_bytes,macs,params,"
          "latency_ratio_vs_int8,size_ratio_vs_int8,test_acc_delta_vs_int8_pp\n",
          f);
    for (int i = 0; i < r->n_front; i++) {
        const struct qn_search_point *p = &r->pts[r->front[i]];
        const struct ratios x = vs_int8(c, p);
        fprintf(f, "%d,", p->id);
        csv_str(f, p->genome);
        fputc(',', f);
        csv_str(f, p->policy);
        csv_num(f, p->val_acc, 6);
        csv_num(f, p->test_acc, 6);
        csv_num(f, p->latency_ms, 6);
        csv_num(f, p->lut_ms, 6);
        fprintf(f, ",%llu,%llu,%llu", (unsigned long long)p->size_bytes, (unsigned long long)p->macs,
                (unsigned long long)p->params);
        csv_num(f, x.latency, 6);
        csv_num(f, x.size, 6);
        csv_num(f, x.delta_pp, 4);
        fputc('\n', f);
    }
    return QN_OK;
}

// --- JSON (pareto.json, summary.json) ---

static bool jnum(cJSON *o, const char *k, double v) {
    return (isfinite(v) ? cJSON_AddNumberToObject(o, k, v) : cJSON_AddNullToObject(o, k)) != NULL;
}

static bool jstr(cJSON *o, const char *k, const char *v) { return cJSON_AddStringToObject(o, k, v) != NULL; }

// Adds item (NULL: out of memory) to o under k; item is freed if it cannot be added.
static bool jadd(cJSON *o, const char *k, cJSON *item) {
    if (!item) return false;
    if (!cJSON_AddItemToObject(o, k, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static cJSON *point_json(const struct rep *c, const struct qn_search_point *p) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const struct ratios x = vs_int8(c, p);
    bool ok = jnum(o, "id", p->id) && jstr(o, "source", p->source) && jstr(o, "genome", p->genome) &&
              jstr(o, "policy", p->policy) && jnum(o, "val_acc", p->val_acc) && jnum(o, "test_acc", p->test_acc) &&
              jnum(o, "latency_ms", p->latency_ms) && jnum(o, "lut_ms", p->lut_ms) &&
              jnum(o, "size_bytes", (double)p->size_bytes) && jnum(o, "macs", (double)p->macs) &&
              jnum(o, "params", (double)p->params) && jnum(o, "latency_ratio_vs_int8", x.latency) &&
              jnum(o, "size_ratio_vs_int8", x.size) && jnum(o, "test_acc_delta_vs_int8_pp", x.delta_pp) &&
              jnum(o, "pred_acc", p->pred_acc) && jnum(o, "pred_latency_ms", p->pred_latency_ms);
    if (!ok) cJSON_Delete(o), o = NULL;
    return o;
}

static cJSON *points_json(const struct rep *c, const int *idx, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *p = point_json(c, &c->r->pts[idx[i]]);
        if (!p || !cJSON_AddItemToArray(a, p)) cJSON_Delete(p), cJSON_Delete(a), a = NULL;
    }
    return a;
}

static enum qn_status emit_json_tree(FILE *f, cJSON *root) {
    char *s = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!s) return QN_ERR_NOMEM;
    fputs(s, f);
    fputc('\n', f);
    cJSON_free(s);
    return QN_OK;
}

static enum qn_status emit_pareto_json(FILE *f, const struct rep *c) {
    const struct qn_search_result *r = c->r;
    // Every container is created inside root, so deleting root frees everything on failure.
    cJSON *root = cJSON_CreateObject(), *objs = NULL, *budgets = NULL, *base = NULL;
    bool ok = root && jstr(root, "space", r->space) && jnum(root, "threads", r->threads) &&
              jnum(root, "latency_threads", r->latency_threads) && (objs = cJSON_AddArrayToObject(root, "objectives"));
    for (int i = 0; ok && i < r->cfg.n_obj && i < 3; i++) {
        cJSON *s = cJSON_CreateString(obj_name(r->cfg.obj[i]));
        ok = s && cJSON_AddItemToArray(objs, s);
        if (!ok) cJSON_Delete(s);
    }
    ok = ok && (budgets = cJSON_AddObjectToObject(root, "budgets")) &&
         jnum(budgets, "latency_ms", r->cfg.latency_budget_ms > 0 ? r->cfg.latency_budget_ms : NAN) &&
         jnum(budgets, "size_kb", r->cfg.size_budget_kb > 0 ? r->cfg.size_budget_kb : NAN) &&
         (base = cJSON_AddObjectToObject(root, "baselines")) && jadd(base, "fp32", point_json(c, c->fp32)) &&
         jadd(base, "int8", point_json(c, c->int8)) && jadd(root, "front", points_json(c, r->front, r->n_front)) &&
         jadd(root, "arch_int8_front", points_json(c, r->arch_front, r->n_arch)) &&
         jadd(root, "quant_max_front", points_json(c, r->quant_front, r->n_quant));
    if (!ok) {
        cJSON_Delete(root);
        return QN_ERR_NOMEM;
    }
    return emit_json_tree(f, root);
}

static cJSON *baseline_json(const struct qn_search_point *p) {
    cJSON *o = cJSON_CreateObject();
    bool ok = o && jnum(o, "id", p->id) && jstr(o, "genome", p->genome) && jstr(o, "policy", p->policy) &&
              jnum(o, "test_accuracy", p->test_acc) && jnum(o, "val_accuracy", p->val_acc) &&
              jnum(o, "latency_ms", p->latency_ms) && jnum(o, "size_bytes", (double)p->size_bytes);
    if (!ok) cJSON_Delete(o), o = NULL;
    return o;
}

// A chosen front point (best latency or best size at no loss), or JSON null.
static cJSON *chosen_json(const struct rep *c, int i) {
    if (i < 0) return cJSON_CreateNull();
    const struct qn_search_point *p = &c->r->pts[i];
    const struct ratios x = vs_int8(c, p);
    cJSON *o = cJSON_CreateObject();
    bool ok = o && jnum(o, "id", p->id) && jstr(o, "genome", p->genome) && jstr(o, "policy", p->policy) &&
              jnum(o, "test_accuracy", p->test_acc) && jnum(o, "val_accuracy", p->val_acc) &&
              jnum(o, "latency_ms", p->latency_ms) && jnum(o, "size_bytes", (double)p->size_bytes) &&
              jnum(o, "latency_ratio_vs_int8", x.latency) && jnum(o, "size_ratio_vs_int8", x.size) &&
              jnum(o, "test_acc_delta_vs_int8_pp", x.delta_pp);
    if (!ok) cJSON_Delete(o), o = NULL;
    return o;
}

static enum qn_status emit_summary_json(FILE *f, const struct rep *c) {
    const struct qn_search_result *r = c->r;
    cJSON *root = cJSON_CreateObject(), *pred = NULL;
    bool ok = root && jadd(root, "int8_baseline", baseline_json(c->int8)) &&
              jadd(root, "fp32_baseline", baseline_json(c->fp32)) && jadd(root, "best_no_loss", chosen_json(c, c->best)) &&
              jadd(root, "best_size_no_loss", chosen_json(c, c->best_size)) &&
              jadd(root, "best_within_0.1pp", chosen_json(c, c->near)) &&
              jadd(root, "best_size_within_0.1pp", chosen_json(c, c->near_size)) &&
              (pred = cJSON_AddObjectToObject(root, "predictors"));
    // Accuracy MAE in target units (fraction of images), latency MAE in ms.
    ok = ok && jnum(pred, "accuracy_mlp_kendall_tau", r->acc_mlp.kendall_tau) &&
         jnum(pred, "accuracy_ridge_kendall_tau", r->acc_ridge.kendall_tau) &&
         jnum(pred, "latency_mlp_kendall_tau", r->lat_mlp.kendall_tau) &&
         jnum(pred, "latency_ridge_kendall_tau", r->lat_ridge.kendall_tau) &&
         jnum(pred, "latency_lut_kendall_tau", r->lut_tau) && jnum(pred, "accuracy_mlp_mae", r->acc_mlp.mae) &&
         jnum(pred, "accuracy_ridge_mae", r->acc_ridge.mae) && jnum(pred, "latency_mlp_mae_ms", r->lat_mlp.mae) &&
         jnum(pred, "latency_ridge_mae_ms", r->lat_ridge.mae) && jnum(pred, "latency_lut_mae_ms", r->lut_mae_ms) &&
         jnum(pred, "accuracy_n", r->acc_mlp.n) && jnum(pred, "latency_n", r->lat_mlp.n) && jnum(pred, "lut_n", r->n) &&
         jnum(pred, "accuracy_mlp_kendall_tau_cv", r->acc_mlp_cv.kendall_tau) &&
         jnum(pred, "accuracy_ridge_kendall_tau_cv", r->acc_ridge_cv.kendall_tau) &&
         jnum(pred, "latency_mlp_kendall_tau_cv", r->lat_mlp_cv.kendall_tau) &&
         jnum(pred, "latency_ridge_kendall_tau_cv", r->lat_ridge_cv.kendall_tau) &&
         jnum(pred, "latency_mlp_kendall_tau_cv_first_timings", r->lat_mlp_cv_first.kendall_tau) &&
         jnum(pred, "cv_n", r->acc_mlp_cv.n) &&
         jnum(pred, "lut_entries", r->lut_entries) &&
         jnum(pred, "accuracy_split_half_kendall_tau", r->acc_noise.tau_halves) &&
         jnum(pred, "accuracy_measurement_kendall_tau_vs_true", r->acc_noise.tau_true) &&
         jnum(pred, "accuracy_split_half_kendall_tau_cv", r->acc_noise_cv.tau_halves) &&
         jnum(pred, "accuracy_measurement_kendall_tau_vs_true_cv", r->acc_noise_cv.tau_true);
    ok = ok && jnum(root, "front_points", r->n_front) && jnum(root, "candidates_evaluated", (double)r->cand_evaluated) &&
         jnum(root, "candidates_per_second", r->cand_seconds > 0 ? (double)r->cand_evaluated / r->cand_seconds : NAN) &&
         jnum(root, "configurations_measured", r->n) && jnum(root, "seconds", r->seconds) &&
         jnum(root, "seed", (double)r->cfg.seed) && jnum(root, "threads", r->threads) &&
         jnum(root, "latency_threads", r->latency_threads) &&
         (r->quant_skipped ? jstr(root, "quant_only_search_skipped", r->quant_skipped)
                           : cJSON_AddNullToObject(root, "quant_only_search_skipped") != NULL);
    if (!ok) {
        cJSON_Delete(root);
        return QN_ERR_NOMEM;
    }
    return emit_json_tree(f, root);
}

// --- pareto.svg ---
//
// Linear axes: x batch-1 latency (ms), y top-1 (%). A point's y is its test accuracy when it
// has one (joint-front points and baselines), else its validation accuracy, so every point is
// drawn once. Front circles have area proportional to model size.

#define SVG_W 980
#define SVG_H 620
#define PX0 80.0   // plot area, pixels
#define PX1 700.0
#define PY0 62.0
#define PY1 550.0
#define LEG_X 718.0  // legend box
#define LEG_W 250.0
#define FRONT_R 14.0  // radius of the largest front model's circle, pixels

static const char *const C_FRONT = "#1f77b4", *const C_FRONT_DK = "#174a7c";
static const char *const C_ARCH = "#ff7f0e", *const C_ARCH_DK = "#a65200";
static const char *const C_QUANT = "#2ca02c", *const C_QUANT_DK = "#1a661a";
static const char *const C_BASE = "#d62728";
static const char *const C_CFG = "#c4c4c4";

struct axis {
    double lo, hi, step;
    int dec;  // decimals of the tick labels
};

// 1, 2 or 5 times a power of ten, at least raw.
static double nice_step(double raw) {
    const double mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

// Axis over data [lo, hi] (lo > hi: no data), padded and widened to whole tick steps; a zero
// range (every point at the same value) is padded by 5% of the value.
static void axis_fit(struct axis *a, double lo, double hi, bool nonneg) {
    if (!(lo <= hi)) lo = 0, hi = 1;
    const double span = hi - lo;
    const double pad = span > 1e-9 * fmax(1.0, fabs(hi)) ? 0.04 * span : (fabs(hi) > 0 ? 0.05 * fabs(hi) : 0.5);
    double l = lo - pad, h = hi + pad;
    if (nonneg && lo >= 0 && l < 0) l = 0;
    a->step = nice_step((h - l) / 6);
    a->lo = floor(l / a->step + 1e-9) * a->step;
    a->hi = ceil(h / a->step - 1e-9) * a->step;
    if (!(a->hi > a->lo)) a->hi = a->lo + a->step;
    a->dec = a->step >= 1 ? 0 : (int)ceil(-log10(a->step) - 1e-9);
    if (a->dec > 9) a->dec = 9;
}

struct plot {
    struct axis x, y;
};

static double px(const struct plot *g, double v) { return PX0 + (v - g->x.lo) / (g->x.hi - g->x.lo) * (PX1 - PX0); }
static double py(const struct plot *g, double v) { return PY1 - (v - g->y.lo) / (g->y.hi - g->y.lo) * (PY1 - PY0); }

static double shown_acc(const struct qn_search_point *p) { return 100.0 * (isfinite(p->test_acc) ? p->test_acc : p->val_acc); }

static bool plottable(const struct qn_search_point *p) {
    return isfinite(p->latency_ms) && isfinite(shown_acc(p)) && p->latency_ms >= 0;
}

// Indices of the plottable points of list idx[0..n), sorted by latency (then accuracy), into
// out; returns how many. Insertion sort: fronts hold tens of points.
static int sorted_plottable(const struct qn_search_result *r, const int *idx, int n, int *out) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        const struct qn_search_point *p = &r->pts[idx[i]];
        if (!plottable(p)) continue;
        int j = k++;
        while (j > 0) {
            const struct qn_search_point *q = &r->pts[out[j - 1]];
            if (q->latency_ms < p->latency_ms || (q->latency_ms == p->latency_ms && shown_acc(q) <= shown_acc(p))) break;
            out[j] = out[j - 1];
            j--;
        }
        out[j] = idx[i];
    }
    return k;
}

// Staircase through the points (sorted by latency): across at the accuracy reached, then up,
// the best accuracy available at each latency.
static void svg_steps(FILE *f, const struct plot *g, const struct qn_search_result *r, const int *s, int k,
                      const char *color, const char *dash) {
    if (k < 2) return;
    const struct qn_search_point *p = &r->pts[s[0]];
    fprintf(f, "<path d=\"M%.1f %.1f", px(g, p->latency_ms), py(g, shown_acc(p)));
    for (int i = 1; i < k; i++) {
        p = &r->pts[s[i]];
        fprintf(f, " H%.1f V%.1f", px(g, p->latency_ms), py(g, shown_acc(p)));
    }
    fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s%s%s/>\n", color, dash ? " stroke-dasharray=\"" : "",
            dash ? dash : "", dash ? "\"" : "");
}

static void svg_triangle(FILE *f, const char *cls, double x, double y, bool up, const char *fill, const char *stroke) {
    const double s = up ? 1 : -1;
    fprintf(f, "<path class=\"%s\" d=\"M%.1f %.1f L%.1f %.1f L%.1f %.1f Z\" fill=\"%s\" stroke=\"%s\" stroke-width=\"0.8\"", cls,
            x, y - 5.5 * s, x + 5, y + 3.5 * s, x - 5, y + 3.5 * s, fill, stroke);
}

static void svg_square(FILE *f, const char *cls, double x, double y) {
    fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"11\" height=\"11\" fill=\"%s\" stroke=\"#7a1010\"", cls,
            x - 5.5, y - 5.5, C_BASE);
}

static void svg_diamond(FILE *f, const char *cls, double x, double y) {
    fprintf(f, "<path class=\"%s\" d=\"M%.1f %.1f L%.1f %.1f L%.1f %.1f L%.1f %.1f Z\" fill=\"%s\" stroke=\"#7a1010\"", cls,
            x, y - 7.5, x + 7.5, y, x, y + 7.5, x - 7.5, y, C_BASE);
}

// The tooltip of a marker: id, figures, genome and policy. Closes the element.
static void svg_tip(FILE *f, const char *elem, const struct qn_search_point *p) {
    fprintf(f, "><title>#%d ", p->id);
    xml_str(f, p->source);
    fprintf(f, ": test %s, val %s, %s ms, %s KB; ", pct(p->test_acc).s, pct(p->val_acc).s, qn_fig(p->latency_ms, 3, "").s,
            kb(p->size_bytes).s);
    xml_str(f, p->genome);
    fputs(" | ", f);
    xml_str(f, p->policy);
    fprintf(f, "</title></%s>\n", elem);
}

static void svg_text(FILE *f, double x, double y, const char *anchor, int size, const char *fill, const char *s) {
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" fill=\"%s\">", x, y, anchor, size, fill);
    xml_str(f, s);
    fputs("</text>\n", f);
}

// Legend reference size: 1, 2 or 5 times a power of ten, nearest to v in log scale.
static double nice_round(double v) {
    const double mag = pow(10.0, floor(log10(v))), f = v / mag;
    return (f < sqrt(2.0) ? 1 : f < sqrt(10.0) ? 2 : f < sqrt(50.0) ? 5 : 10) * mag;
}

// The largest 1, 2 or 5 times a power of ten that is <= v.
static double nice_floor(double v) {
    const double mag = pow(10.0, floor(log10(v))), f = v / mag;
    return (f >= 5 ? 5 : f >= 2 ? 2 : 1) * mag;
}

static double size_radius(double bytes, double max_bytes) {
    return fmax(1.5, FRONT_R * sqrt(bytes / max_bytes));
}

static void svg_legend(FILE *f, const struct rep *c, double max_front_bytes) {
    const struct qn_search_result *r = c->r;
    char s[160];
    const double x = LEG_X + 14, tx = LEG_X + 32;
    double y = PY0 + 20;
    fprintf(f, "<g class=\"legend\" font-size=\"11\" fill=\"#222\">\n");
    // Height from the layout below: 7 rows, the size row, 3 lines of notes.
    const double height = 20 + 6 * 22 + 26 + 8 + 2 * FRONT_R + 36 + 26 + 12;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\" stroke=\"#999\" rx=\"3\"/>\n", LEG_X, PY0,
            LEG_W, height);
    fprintf(f, "<circle class=\"legend-cfg\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", x, y - 4, C_CFG);
    snprintf(s, sizeof(s), "measured configuration (%d)", r->n);
    svg_text(f, tx, y, "start", 11, "#222", s);
    y += 22;
    fprintf(f, "<path d=\"M%.1f %.1f H%.1f\" stroke=\"%s\" stroke-width=\"1.5\"/>\n", x - 10, y - 4, x + 10, C_FRONT);
    fprintf(f, "<circle class=\"legend-front\" cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\" fill-opacity=\"0.55\" stroke=\"%s\"/>\n", x,
            y - 4, C_FRONT, C_FRONT_DK);
    snprintf(s, sizeof(s), "joint arch + quant front (%d)", r->n_front);
    svg_text(f, tx, y, "start", 11, "#222", s);
    y += 22;
    fprintf(f, "<path d=\"M%.1f %.1f H%.1f\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\n", x - 10, y - 4, x + 10,
            C_ARCH);
    svg_triangle(f, "legend-arch", x, y - 4, true, C_ARCH, C_ARCH_DK);
    fputs("/>\n", f);
    snprintf(s, sizeof(s), "arch-only front at INT8 (%d)", r->n_arch);
    svg_text(f, tx, y, "start", 11, "#222", s);
    y += 22;
    fprintf(f, "<path d=\"M%.1f %.1f H%.1f\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"2 2\"/>\n", x - 10, y - 4, x + 10,
            C_QUANT);
    svg_triangle(f, "legend-quant", x, y - 4, false, C_QUANT, C_QUANT_DK);
    fputs("/>\n", f);
    snprintf(s, sizeof(s), "quant-only front, largest arch (%d)", r->n_quant);
    svg_text(f, tx, y, "start", 11, "#222", s);
    y += 22;
    svg_square(f, "legend-fp32", x, y - 4);
    fputs("/>\n", f);
    svg_text(f, tx, y, "start", 11, "#222", "FP32 baseline (largest subnet)");
    y += 22;
    svg_diamond(f, "legend-int8", x, y - 4);
    fputs("/>\n", f);
    svg_text(f, tx, y, "start", 11, "#222", "INT8 baseline (largest, W8A8)");
    y += 22;
    fprintf(f, "<path d=\"M%.1f %.1f H%.1f\" stroke=\"%s\" stroke-width=\"1\" stroke-dasharray=\"6 4\"/>\n", x - 10, y - 4, x + 10,
            C_BASE);
    svg_text(f, tx, y, "start", 11, "#222", "INT8 baseline test accuracy");
    y += 26;

    // Reference sizes: the largest and smallest front models and one in between (log middle),
    // each rounded to 1-2-5 and drawn with the plot's own radius rule.
    svg_text(f, LEG_X + 10, y, "start", 11, "#222", "circle area = model size:");
    y += 8;
    if (max_front_bytes > 0) {
        double lo = max_front_bytes;
        for (int i = 0; i < r->n_front; i++) {
            const struct qn_search_point *p = &r->pts[r->front[i]];
            if (plottable(p) && p->size_bytes > 0) lo = fmin(lo, (double)p->size_bytes);
        }
        // The largest reference no larger than the largest model, so no legend circle
        // outgrows the plot's.
        const double hi = nice_floor(max_front_bytes / 1000), low = fmin(nice_round(lo / 1000), hi);
        const double want[3] = {low, nice_round(sqrt(low * hi)), hi};
        double refs[3];
        int n_ref = 0;
        for (int i = 0; i < 3; i++)
            if (n_ref == 0 || want[i] > refs[n_ref - 1] * 1.01) refs[n_ref++] = want[i];
        const double cy = y + FRONT_R + 2;
        for (int i = 0; i < n_ref; i++) {
            const double cx = LEG_X + 45 + 80 * i, rad = size_radius(refs[i] * 1000, max_front_bytes);
            fprintf(f, "<circle class=\"legend-size\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.2f\" fill=\"%s\" fill-opacity=\"0.55\" stroke=\"%s\"/>\n",
                    cx, cy, rad, C_FRONT, C_FRONT_DK);
            const int dec = refs[i] >= 1 ? 0 : (int)ceil(-log10(refs[i]) - 1e-9);
            snprintf(s, sizeof(s), "%.*f KB", dec, refs[i]);
            svg_text(f, cx, cy + FRONT_R + 14, "middle", 10, "#222", s);
        }
        y = cy + FRONT_R + 34;
    } else {
        svg_text(f, LEG_X + 20, y + 14, "start", 10, "#666", "(no front points)");
        y += 2 * FRONT_R + 36;
    }
    svg_text(f, LEG_X + 10, y, "start", 10, "#555", "y: test accuracy where measured (joint");
    svg_text(f, LEG_X + 10, y + 13, "start", 10, "#555", "front, baselines), validation accuracy");
    svg_text(f, LEG_X + 10, y + 26, "start", 10, "#555", "otherwise; x: batch-1 latency");
    fputs("</g>\n", f);
}

// --- label placement ---

struct box {
    double x0, y0, x1, y1;
};

struct labels {
    struct box *b;  // markers, then the labels placed so far
    int n;
};

static bool box_hit(const struct box *a, const struct box *b) {
    return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1;
}

static void label_obstacle(struct labels *L, double X, double Y, double rad) {
    L->b[L->n++] = (struct box){X - rad, Y - rad, X + rad, Y + rad};
}

// A label beside the marker of radius rad at (X, Y), whose own box is L->b[self] (-1: none):
// right, upper right, lower right, left, upper left, lower left, above, below; the first
// place inside the plot that overlaps no box so far wins, else the one with the fewest
// overlaps, or, unless forced, nowhere (returns false: a crowd of overlapping ids reads
// worse than none; the tooltips still have them). char_w: estimated glyph width in pixels
// (no font metrics in a plain SVG).
static bool label_place(struct labels *L, int self, bool force, double X, double Y, double rad, const char *text, double char_w,
                        int fs, double *tx, double *ty, const char **anchor) {
    static const char *const anchors[3] = {"end", "middle", "start"};
    const double w = char_w * (double)strlen(text), h = fs, d = rad + 3, dd = rad * 0.75 + 2;
    const struct {
        double dx, dy;
        int side;  // -1 end, 0 middle, +1 start
    } cand[8] = {{d, 0.35 * h, 1},   {dd, -dd, 1},  {dd, dd + 0.8 * h, 1}, {-d, 0.35 * h, -1},
                 {-dd, -dd, -1},     {-dd, dd + 0.8 * h, -1}, {0, -d - 1, 0}, {0, d + 0.8 * h, 0}};
    int pick = 0, fewest = 1 << 30;
    struct box pb = {0, 0, 0, 0};
    for (int i = 0; i < 8 && fewest; i++) {
        const double x = X + cand[i].dx, y = Y + cand[i].dy;
        const double x0 = cand[i].side > 0 ? x : cand[i].side < 0 ? x - w : x - w / 2;
        const struct box bx = {x0, y - 0.8 * h, x0 + w, y + 0.2 * h};
        int hits = bx.x0 < PX0 || bx.x1 > PX1 || bx.y0 < PY0 || bx.y1 > PY1 ? 100 : 0;
        for (int j = 0; j < L->n; j++) hits += j != self && box_hit(&bx, &L->b[j]);
        if (hits < fewest) fewest = hits, pick = i, pb = bx;
    }
    if (fewest && !force) return false;
    *tx = X + cand[pick].dx, *ty = Y + cand[pick].dy, *anchor = anchors[cand[pick].side + 1];
    L->b[L->n++] = pb;
    return true;
}

static enum qn_status emit_svg(FILE *f, const struct rep *c) {
    const struct qn_search_result *r = c->r;
    const int nmax = QN_MAX(r->n_front, QN_MAX(r->n_arch, r->n_quant));
    int *s = malloc(sizeof(int) * (size_t)QN_MAX(nmax, 1));
    if (!s) return QN_ERR_NOMEM;

    // Ranges over every plottable point.
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < r->n; i++) {
        const struct qn_search_point *p = &r->pts[i];
        if (!plottable(p)) continue;
        xlo = fmin(xlo, p->latency_ms), xhi = fmax(xhi, p->latency_ms);
        ylo = fmin(ylo, shown_acc(p)), yhi = fmax(yhi, shown_acc(p));
    }
    struct plot g;
    axis_fit(&g.x, xlo, xhi, true);
    axis_fit(&g.y, ylo, yhi, true);

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\">\n", SVG_W, SVG_H, SVG_W, SVG_H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", SVG_W, SVG_H);
    char t[192];
    snprintf(t, sizeof(t), "qnas search: %s - top-1 accuracy vs batch-1 latency (%d thread%s)", r->space,
             r->latency_threads, r->latency_threads == 1 ? "" : "s");
    svg_text(f, (PX0 + PX1) / 2, 26, "middle", 16, "#111", t);
    snprintf(t, sizeof(t), "%d configurations measured, joint front of %d, seed %llu", r->n, r->n_front,
             (unsigned long long)r->cfg.seed);
    svg_text(f, (PX0 + PX1) / 2, 45, "middle", 11, "#555", t);

    // Grid, ticks and axes.
    fputs("<g class=\"grid\" stroke=\"#e6e6e6\" stroke-width=\"1\">\n", f);
    const int nx = (int)floor((g.x.hi - g.x.lo) / g.x.step + 0.5), ny = (int)floor((g.y.hi - g.y.lo) / g.y.step + 0.5);
    for (int i = 0; i <= nx; i++) {
        const double X = px(&g, g.x.lo + i * g.x.step);
        fprintf(f, "<path d=\"M%.1f %.1f V%.1f\"/>\n", X, PY0, PY1);
    }
    for (int i = 0; i <= ny; i++) {
        const double Y = py(&g, g.y.lo + i * g.y.step);
        fprintf(f, "<path d=\"M%.1f %.1f H%.1f\"/>\n", PX0, Y, PX1);
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", PX0, PY0, PX1 - PX0,
            PY1 - PY0);
    fputs("<g class=\"ticks\" font-size=\"11\" fill=\"#333\">\n", f);
    for (int i = 0; i <= nx; i++) {
        double v = g.x.lo + i * g.x.step;
        if (fabs(v) < 1e-6 * g.x.step) v = 0;  // no "-0"
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n", px(&g, v), PY1 + 16, g.x.dec, v);
    }
    for (int i = 0; i <= ny; i++) {
        double v = g.y.lo + i * g.y.step;
        if (fabs(v) < 1e-6 * g.y.step) v = 0;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n", PX0 - 6, py(&g, v) + 4, g.y.dec, v);
    }
    fputs("</g>\n", f);
    svg_text(f, (PX0 + PX1) / 2, PY1 + 40, "middle", 13, "#111", "batch-1 latency (ms, fastest of N runs, this machine)");
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" fill=\"#111\" transform=\"rotate(-90 %.1f %.1f)\">"
               "top-1 accuracy (%%)</text>\n",
            24.0, (PY0 + PY1) / 2, 24.0, (PY0 + PY1) / 2);

    // INT8 accuracy reference: the "no loss" line.
    if (plottable(c->int8)) {
        const double Y = py(&g, shown_acc(c->int8));
        fprintf(f, "<path class=\"int8-line\" d=\"M%.1f %.1f H%.1f\" stroke=\"%s\" stroke-width=\"1\" stroke-opacity=\"0.6\" "
                   "stroke-dasharray=\"6 4\"/>\n", PX0, Y, PX1, C_BASE);
    }

    // Every measured configuration, under everything else.
    fputs("<g class=\"configurations\">\n", f);
    for (int i = 0; i < r->n; i++) {
        const struct qn_search_point *p = &r->pts[i];
        if (!plottable(p)) continue;
        fprintf(f, "<circle class=\"cfg\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\"/>\n", px(&g, p->latency_ms),
                py(&g, shown_acc(p)), C_CFG);
    }
    fputs("</g>\n", f);

    // The two restricted searches.
    int k = sorted_plottable(r, r->arch_front, r->n_arch, s);
    svg_steps(f, &g, r, s, k, C_ARCH, "5 3");
    for (int i = 0; i < k; i++) {
        const struct qn_search_point *p = &r->pts[s[i]];
        svg_triangle(f, "arch", px(&g, p->latency_ms), py(&g, shown_acc(p)), true, C_ARCH, C_ARCH_DK);
        svg_tip(f, "path", p);
    }
    k = sorted_plottable(r, r->quant_front, r->n_quant, s);
    svg_steps(f, &g, r, s, k, C_QUANT, "2 2");
    for (int i = 0; i < k; i++) {
        const struct qn_search_point *p = &r->pts[s[i]];
        svg_triangle(f, "quant", px(&g, p->latency_ms), py(&g, shown_acc(p)), false, C_QUANT, C_QUANT_DK);
        svg_tip(f, "path", p);
    }

    // The joint front: step line, then circles by decreasing size so small ones stay on top.
    k = sorted_plottable(r, r->front, r->n_front, s);
    double max_bytes = 0;
    for (int i = 0; i < k; i++) max_bytes = fmax(max_bytes, (double)r->pts[s[i]].size_bytes);
    svg_steps(f, &g, r, s, k, C_FRONT, NULL);
    bool *drawn = calloc((size_t)QN_MAX(k, 1), sizeof(bool));
    if (!drawn) {
        free(s);
        return QN_ERR_NOMEM;
    }
    for (int n_drawn = 0; n_drawn < k; n_drawn++) {
        int j = -1;
        for (int i = 0; i < k; i++)
            if (!drawn[i] && (j < 0 || r->pts[s[i]].size_bytes > r->pts[s[j]].size_bytes)) j = i;
        drawn[j] = true;
        const struct qn_search_point *p = &r->pts[s[j]];
        const double X = px(&g, p->latency_ms), Y = py(&g, shown_acc(p));
        const double rad = max_bytes > 0 ? size_radius((double)p->size_bytes, max_bytes) : 4;
        fprintf(f, "<circle class=\"front\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.2f\" fill=\"%s\" fill-opacity=\"0.55\" stroke=\"%s\" "
                   "stroke-width=\"1\"", X, Y, rad, C_FRONT, C_FRONT_DK);
        svg_tip(f, "circle", p);
    }
    free(drawn);
    // The best no-loss point ringed, then the baselines.
    const struct qn_search_point *b[2] = {c->fp32, c->int8};
    for (int i = 0; i < k; i++) {
        if (s[i] != c->best) continue;
        const struct qn_search_point *p = &r->pts[s[i]];
        const double rad = max_bytes > 0 ? size_radius((double)p->size_bytes, max_bytes) : 4;
        fprintf(f, "<circle class=\"best\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.2f\" fill=\"none\" stroke=\"#111\" stroke-width=\"1.5\"/>\n",
                px(&g, p->latency_ms), py(&g, shown_acc(p)), rad + 3);
    }
    for (int i = 0; i < 2; i++) {
        if (!plottable(b[i])) continue;
        const double X = px(&g, b[i]->latency_ms), Y = py(&g, shown_acc(b[i]));
        if (i == 0) svg_square(f, "base-fp32", X, Y), svg_tip(f, "rect", b[i]);
        else svg_diamond(f, "base-int8", X, Y), svg_tip(f, "path", b[i]);
    }

    // Labels last, on top: every marker is an obstacle, then each label takes the first free
    // place around its marker (baselines first, then the front's ids, which match the tables).
    struct labels L = {malloc(sizeof(struct box) * (size_t)(4 * k + r->n_arch + r->n_quant + 5)), 0};
    if (!L.b) {
        free(s);
        return QN_ERR_NOMEM;
    }
    for (int i = 0; i < k; i++) {
        const struct qn_search_point *p = &r->pts[s[i]];
        const double rad = max_bytes > 0 ? size_radius((double)p->size_bytes, max_bytes) : 4;
        label_obstacle(&L, px(&g, p->latency_ms), py(&g, shown_acc(p)), rad);
    }
    const int n_front_boxes = L.n;
    for (int i = 1; i < k; i++) {  // the staircase's segments, 1 px either side
        const struct qn_search_point *p = &r->pts[s[i - 1]], *q = &r->pts[s[i]];
        const double x0 = px(&g, p->latency_ms), y0 = py(&g, shown_acc(p));
        const double x1 = px(&g, q->latency_ms), y1 = py(&g, shown_acc(q));
        L.b[L.n++] = (struct box){x0, y0 - 1, x1, y0 + 1};
        L.b[L.n++] = (struct box){x1 - 1, fmin(y0, y1), x1 + 1, fmax(y0, y1)};
    }
    if (plottable(c->int8)) {
        const double Y = py(&g, shown_acc(c->int8));
        L.b[L.n++] = (struct box){PX0, Y - 1, PX1, Y + 1};
    }
    for (int i = 0; i < 2; i++)
        if (plottable(b[i])) label_obstacle(&L, px(&g, b[i]->latency_ms), py(&g, shown_acc(b[i])), 7.5);
    for (int t = 0; t < 2; t++) {
        const int *idx = t ? r->quant_front : r->arch_front, n_idx = t ? r->n_quant : r->n_arch;
        for (int i = 0; i < n_idx; i++) {
            const struct qn_search_point *p = &r->pts[idx[i]];
            if (plottable(p)) label_obstacle(&L, px(&g, p->latency_ms), py(&g, shown_acc(p)), 5);
        }
    }
    static const char *const label[2] = {"FP32 max", "INT8 max"};
    for (int i = 0; i < 2; i++) {
        if (!plottable(b[i])) continue;
        double tx, ty;
        const char *anchor;
        label_place(&L, -1, true, px(&g, b[i]->latency_ms), py(&g, shown_acc(b[i])), 7.5, label[i], 12.0 * 0.65, 12, &tx, &ty,
                    &anchor);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"12\" font-weight=\"bold\" fill=\"%s\">%s</text>\n",
                tx, ty, anchor, C_BASE, label[i]);
    }
    for (int pass = 0; pass < 2; pass++)  // the best point's label first, always placed
        for (int i = 0; i < k; i++) {
            const struct qn_search_point *p = &r->pts[s[i]];
            const bool best = s[i] == c->best;
            if (best != (pass == 0)) continue;
            const double rad = max_bytes > 0 ? size_radius((double)p->size_bytes, max_bytes) : 4;
            char id[48];
            snprintf(id, sizeof(id), best ? "#%d best" : "#%d", p->id);
            const int fs = best ? 11 : 9;
            double tx, ty;
            const char *anchor;
            if (!label_place(&L, i < n_front_boxes ? i : -1, best, px(&g, p->latency_ms), py(&g, shown_acc(p)), rad + (best ? 3 : 0), id,
                             fs * 0.6, fs, &tx, &ty, &anchor))
                continue;
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s fill=\"%s\">%s</text>\n", tx, ty, anchor,
                    fs, best ? " font-weight=\"bold\"" : "", best ? "#111" : C_FRONT_DK, id);
        }
    free(L.b);

    svg_legend(f, c, max_bytes);
    fputs("</svg>\n", f);
    free(s);
    return QN_OK;
}

// --- report.md ---

static void md_settings(FILE *f, const struct rep *c) {
    const struct qn_search_result *r = c->r;
    const struct qn_search_cfg *g = &r->cfg;
    fputs("## Settings\n\n| setting | value |\n|---|---|\n", f);
    fprintf(f, "| space | %s |\n", r->space);
    fputs("| weights | ", f);
    md_code(f, g->weights ? g->weights : "");
    fputs(" |\n| data | ", f);
    if (g->data) md_code(f, g->data);
    else fputs("Fashion-MNIST (Debian's package)", f);
    fprintf(f, " |\n| seed | %llu |\n", (unsigned long long)g->seed);
    fprintf(f, "| initial samples | %d |\n", g->samples);
    fprintf(f, "| NSGA-II | population %d, %d generations |\n", g->population, g->generations);
    fprintf(f, "| iterations | %d, up to %d configurations measured each |\n", g->iterations, g->per_iter);
    fputs("| objectives | ", f);
    for (int i = 0; i < g->n_obj && i < 3; i++) fprintf(f, "%s%s", i ? ", " : "", obj_name(g->obj[i]));
    fputs(" |\n| budgets | ", f);
    if (g->latency_budget_ms > 0) fprintf(f, "latency <= %g ms", g->latency_budget_ms);
    if (g->latency_budget_ms > 0 && g->size_budget_kb > 0) fputs(", ", f);
    if (g->size_budget_kb > 0) fprintf(f, "size <= %g KB", g->size_budget_kb);
    if (!(g->latency_budget_ms > 0) && !(g->size_budget_kb > 0)) fputs("none", f);
    fputs(" |\n| weight bits per layer | ", f);
    for (int i = 0; i < g->n_bits && i < QN_SEARCH_MAX_BITS; i++) {
        if (g->bits[i]) fprintf(f, "%s%d", i ? ", " : "", g->bits[i]);
        else fprintf(f, "%sFP32", i ? ", " : "");
    }
    fputs(" (activations 8 bits) |\n", f);
    fprintf(f, "| images | %d validation, %d test, %d for batch norm, %d for calibration |\n", g->val_images, g->test_images,
            g->bn_images, g->calib_images);
    fprintf(f, "| latency | batch 1, fastest of %d runs, the lower of the search's timing and a sweep after it (fastest "
               "of %d rounds %g s apart for the front and baselines), %d thread%s |\n",
            g->latency_reps, QN_SEARCH_VERIFY_ROUNDS, QN_SEARCH_VERIFY_GAP_S, r->latency_threads,
            r->latency_threads == 1 ? "" : "s");
    fprintf(f, "| threads | %d |\n", r->threads);
    fprintf(f, "| total time | %s s |\n", qn_fig(r->seconds, 1, "").s);
    fprintf(f, "| configurations measured | %d |\n", r->n);
    fprintf(f, "| predictor candidates | %lld evaluated, %s per second |\n\n", r->cand_evaluated,
            qn_fig(r->cand_seconds > 0 ? (double)r->cand_evaluated / r->cand_seconds : NAN, 0, "").s);
}

// "2.10x lower latency, 3.50x smaller"; stays true when a ratio is below 1.
static void md_ratios(FILE *f, const struct ratios *x) {
    if (isfinite(x->latency) && x->latency > 0)
        fprintf(f, "%.2fx %s latency", x->latency >= 1 ? x->latency : 1 / x->latency, x->latency >= 1 ? "lower" : "higher");
    else fputs("unknown latency ratio", f);
    if (isfinite(x->size) && x->size > 0)
        fprintf(f, ", %.2fx %s", x->size >= 1 ? x->size : 1 / x->size, x->size >= 1 ? "smaller" : "larger");
    else fputs(", unknown size ratio", f);
}

static void md_headline(FILE *f, const struct rep *c) {
    const struct qn_search_result *r = c->r;
    const struct qn_search_point *b = c->int8;
    if (c->best >= 0) {
        const struct qn_search_point *p = &r->pts[c->best];
        const struct ratios x = vs_int8(c, p);
        fputs("Best at no test-accuracy loss vs the INT8 baseline: ", f);
        md_ratios(f, &x);
        fprintf(f, " (point #%d). ", p->id);
        fprintf(f, "Test accuracy %s vs %s, %s ms vs %s ms, %s KB vs %s KB.\n", pct(p->test_acc).s, pct(b->test_acc).s,
                qn_fig(p->latency_ms, 3, "").s, qn_fig(b->latency_ms, 3, "").s, kb(p->size_bytes).s, kb(b->size_bytes).s);
        if (c->best_size >= 0 && c->best_size != c->best) {
            const struct qn_search_point *q = &r->pts[c->best_size];
            const struct ratios y = vs_int8(c, q);
            fputs("\nSmallest at no test-accuracy loss: ", f);
            md_ratios(f, &y);
            fprintf(f, " (point #%d, test accuracy %s).\n", q->id, pct(q->test_acc).s);
        }
    } else if (r->n_front == 0) {
        fputs("The search ended without a measured front: no point to compare with the INT8 baseline.\n", f);
    } else if (!isfinite(b->test_acc)) {
        fputs("The INT8 baseline has no test accuracy, so no front point can be compared with it at equal accuracy.\n", f);
    } else if (c->closest >= 0) {
        const struct qn_search_point *p = &r->pts[c->closest];
        const struct ratios x = vs_int8(c, p);
        fprintf(f, "No front point matches the INT8 baseline's test accuracy (%s). The closest is point #%d at %s (%s pp): ",
                pct(b->test_acc).s, p->id, pct(p->test_acc).s, qn_fig(x.delta_pp, 2, "").s);
        md_ratios(f, &x);
        fputs(".\n", f);
    } else {
        fputs("No front point has a test accuracy, so none can be compared with the INT8 baseline.\n", f);
    }
    if (c->near >= 0 && (c->near != c->best || c->near_size != c->best_size)) {
        const struct ratios x = vs_int8(c, &r->pts[c->near]), y = vs_int8(c, &r->pts[c->near_size]);
        fprintf(f, "\nWithin %.1f pp of the INT8 baseline's test accuracy: fastest ", QN_REPORT_NEAR_PP);
        md_ratios(f, &x);
        fprintf(f, " (point #%d, %s); smallest ", r->pts[c->near].id, pct(r->pts[c->near].test_acc).s);
        md_ratios(f, &y);
        fprintf(f, " (point #%d, %s).\n", r->pts[c->near_size].id, pct(r->pts[c->near_size].test_acc).s);
    }
    fputc('\n', f);
}

enum md_table { MD_FULL, MD_ARCH, MD_QUANT };

static void md_points(FILE *f, const struct rep *c, const int *idx, int n, enum md_table kind) {
    const struct qn_search_result *r = c->r;
    if (n == 0) {
        fputs("(no points)\n\n", f);
        return;
    }
    if (kind == MD_FULL)
        fputs("| id | genome | policy | test acc | val acc | latency ms | size KB | latency vs INT8 | size vs INT8 | test acc vs INT8 |\n"
              "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
              f);
    else
        fprintf(f, "| id | %s | val acc | test acc | latency ms | size KB | latency vs INT8 | size vs INT8 |\n"
                   "|---:|---|---:|---:|---:|---:|---:|---:|\n",
                kind == MD_ARCH ? "genome (INT8)" : "policy (largest arch)");
    for (int i = 0; i < n; i++) {
        const struct qn_search_point *p = &r->pts[idx[i]];
        const struct ratios x = vs_int8(c, p);
        const bool mark = idx[i] == c->best || idx[i] == c->best_size;
        fprintf(f, mark ? "| **%d** | " : "| %d | ", p->id);
        if (kind == MD_FULL) {
            md_code(f, p->genome);
            fputs(" | ", f);
            md_code(f, p->policy);
            fprintf(f, " | %s | %s | %s | %s | %s | %s | %s |\n", pct(p->test_acc).s, pct(p->val_acc).s, qn_fig(p->latency_ms, 3, "").s,
                    kb(p->size_bytes).s, qn_fig(x.latency, 2, "x").s, qn_fig(x.size, 2, "x").s, qn_fig(x.delta_pp, 2, " pp").s);
        } else {
            md_code(f, kind == MD_ARCH ? p->genome : p->policy);
            fprintf(f, " | %s | %s | %s | %s | %s | %s |\n", pct(p->val_acc).s, pct(p->test_acc).s, qn_fig(p->latency_ms, 3, "").s,
                    kb(p->size_bytes).s, qn_fig(x.latency, 2, "x").s, qn_fig(x.size, 2, "x").s);
        }
    }
    fputc('\n', f);
}

static void md_quality(FILE *f, const char *name, double tau, const char *mae, int n) {
    fprintf(f, "| %s | %s | %s | %d |\n", name, qn_fig(tau, 3, "").s, mae, n);
}

static void md_reproduce(FILE *f, const struct rep *c) {
    const struct qn_search_result *r = c->r;
    const struct qn_search_cfg *g = &r->cfg;
    fputs("## How to reproduce\n\n```sh\n", f);
    fprintf(f, "qnas --threads %d search --weights ", r->threads);
    sh_word(f, g->weights ? g->weights : "WEIGHTS");
    if (g->data) fputs(" --data ", f), sh_word(f, g->data);
    fprintf(f, " --samples %d --population %d --generations %d --iterations %d --per-iteration %d --seed %llu", g->samples,
            g->population, g->generations, g->iterations, g->per_iter, (unsigned long long)g->seed);
    fputs(" --objectives ", f);
    for (int i = 0; i < g->n_obj && i < 3; i++)
        fprintf(f, "%s%s", i ? "," : "", g->obj[i] == QN_OBJ_ACC ? "acc" : g->obj[i] == QN_OBJ_LATENCY ? "latency" : "size");
    if (g->n_bits > 0) {
        fputs(" --bits ", f);
        for (int i = 0; i < g->n_bits && i < QN_SEARCH_MAX_BITS; i++) {
            if (g->bits[i]) fprintf(f, "%s%d", i ? "," : "", g->bits[i]);
            else fprintf(f, "%sf", i ? "," : "");
        }
    }
    fprintf(f, " --latency-threads %d --latency-reps %d --val-images %d --test-images %d --bn-images %d "
               "--calib-images %d --max-front %d",
            r->latency_threads, g->latency_reps, g->val_images, g->test_images, g->bn_images, g->calib_images,
            g->max_front);
    // budgets in full: the search compares them exactly (a %g budget would be another search)
    if (g->latency_budget_ms > 0) fprintf(f, " --latency-budget %.17g", g->latency_budget_ms);
    if (g->size_budget_kb > 0) fprintf(f, " --size-budget %.17g", g->size_budget_kb);
    if (g->latency_table) fputs(" --latency-table ", f), sh_word(f, g->latency_table);
    fputs(" --out ", f);
    sh_word(f, g->out ? g->out : "DIR");
    fputs("\n```\n", f);
}

static enum qn_status emit_md(FILE *f, const struct rep *c) {
    const struct qn_search_result *r = c->r;
    fprintf(f, "# qnas search: %s, %d thread%s\n\n", r->space, r->threads, r->threads == 1 ? "" : "s");
    fputs("Joint search of architecture and per-layer quantization policy (NSGA-II on MLP predictors, the front "
          "measured for real). Ratios are against the INT8 baseline (largest subnet, every layer W8A8): latency "
          "and size ratios > 1 mean faster and smaller; accuracy deltas are test top-1 in percentage points.\n\n",
          f);
    md_headline(f, c);
    md_settings(f, c);

    fputs("## Baselines\n\n| baseline | genome | policy | test acc | val acc | latency ms | size KB |\n|---|---|---|---:|---:|---:|---:|\n", f);
    const struct qn_search_point *b[2] = {c->fp32, c->int8};
    static const char *const name[2] = {"FP32 max", "INT8 max"};
    for (int i = 0; i < 2; i++) {
        fprintf(f, "| %s (#%d) | ", name[i], b[i]->id);
        md_code(f, b[i]->genome);
        fputs(" | ", f);
        md_code(f, b[i]->policy);
        fprintf(f, " | %s | %s | %s | %s |\n", pct(b[i]->test_acc).s, pct(b[i]->val_acc).s, qn_fig(b[i]->latency_ms, 3, "").s,
                kb(b[i]->size_bytes).s);
    }
    fputc('\n', f);

    fprintf(f, "## Joint front (%d point%s, by latency)\n\n", r->n_front, r->n_front == 1 ? "" : "s");
    md_points(f, c, r->front, r->n_front, MD_FULL);
    if (c->best >= 0 || c->best_size >= 0)
        fputs("Bold ids: the fastest and the smallest points at no test-accuracy loss vs INT8.\n\n", f);
    fprintf(f, "## Architecture-only front at INT8 (%d point%s)\n\n", r->n_arch, r->n_arch == 1 ? "" : "s");
    md_points(f, c, r->arch_front, r->n_arch, MD_ARCH);
    fprintf(f, "## Quantization-only front on the largest architecture (%d point%s)\n\n", r->n_quant, r->n_quant == 1 ? "" : "s");
    if (r->quant_skipped) fprintf(f, "Not searched: %s.\n\n", r->quant_skipped);
    md_points(f, c, r->quant_front, r->n_quant, MD_QUANT);

    fputs("## Predictor quality\n\n"
          "Search: every configuration the searches proposed, scored by the predictors fitted before it was "
          "measured (they cluster near the predicted front, so their accuracies are close together). "
          "Random: 5-fold cross-validation over the baselines and the random samples. The latency LUT is "
          "compared with every measurement. Latencies: the search's held-out points and the LUT against the "
          "final ones (the lower of the search's timing and the sweep after it; front and baselines timed "
          "again together); the cross-validation fits and scores on the final latencies, and, in the rows "
          "'random, first timings', on the first timings alone.\n\n"
          "| predictor | held out | Kendall tau | MAE | n |\n|---|---|---:|---:|---:|\n",
          f);
    const struct { const char *name, *set; const struct qn_pred_quality *q; bool acc; } rows[] = {
        {"accuracy MLP", "search", &r->acc_mlp, true},      {"accuracy MLP", "random", &r->acc_mlp_cv, true},
        {"accuracy ridge", "search", &r->acc_ridge, true},  {"accuracy ridge", "random", &r->acc_ridge_cv, true},
        {"latency MLP", "search", &r->lat_mlp, false},      {"latency MLP", "random", &r->lat_mlp_cv, false},
        {"latency ridge", "search", &r->lat_ridge, false},  {"latency ridge", "random", &r->lat_ridge_cv, false},
        {"latency MLP", "random, first timings", &r->lat_mlp_cv_first, false},
        {"latency ridge", "random, first timings", &r->lat_ridge_cv_first, false}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s | %s", rows[i].name, rows[i].set);
        const struct qn_pred_quality *q = rows[i].q;
        md_quality(f, name, q->kendall_tau, rows[i].acc ? qn_fig(100 * q->mae, 2, " pp").s : qn_fig(q->mae, 3, " ms").s, q->n);
    }
    md_quality(f, "latency LUT | all", r->lut_tau, qn_fig(r->lut_mae_ms, 3, " ms").s, r->n);
    fprintf(f, "\nLUT: %d entries, each layer the lower of two passes (one before anything is measured, one "
               "after the random samples); each pass alone ranks the final latencies at Kendall tau %s / %s.\n\n",
            r->lut_entries, qn_fig(r->lut_tau_pass[0], 3, "").s, qn_fig(r->lut_tau_pass[1], 3, "").s);
    if (r->acc_noise.n >= 3 || r->acc_noise_cv.n >= 3)
        fprintf(f, "How well the validation accuracy itself ranks configurations: its two halves (images of even "
                   "and odd index) agree at Kendall tau %s (search, n=%d) / %s (random, n=%d), so one "
                   "measurement on %d images ranks them by their accuracy on new images at about tau %s / %s "
                   "(split-half reliability, Spearman-Brown, normal approximation). An accuracy predictor "
                   "scored against the measurement goes beyond that only by learning the particular images' "
                   "errors, which the test split does not share.\n\n",
                qn_fig(r->acc_noise.tau_halves, 3, "").s, r->acc_noise.n, qn_fig(r->acc_noise_cv.tau_halves, 3, "").s,
                r->acc_noise_cv.n, r->cfg.val_images, qn_fig(r->acc_noise.tau_true, 3, "").s,
                qn_fig(r->acc_noise_cv.tau_true, 3, "").s);

    fputs("## Plot\n\n![front](pareto.svg)\n\n", f);
    fputs("Files: `pareto.csv` and `pareto.json` (fronts), `summary.json` (headline figures), `evaluated.csv` "
          "(every measurement).\n\n",
          f);
    md_reproduce(f, c);
    return QN_OK;
}

// --- atomic files ---

typedef enum qn_status (*emit_fn)(FILE *f, const struct rep *c);

static enum qn_status write_file(const char *dir, const char *name, emit_fn emit, const struct rep *c, struct qn_error *e) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return qn_fail(e, QN_ERR_IO, "%s/%s: path too long", dir, name);
    // rendered in memory, then written whole by the one atomic writer
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return qn_fail(e, QN_ERR_NOMEM, "cannot write %s: out of memory", path);
    enum qn_status st = emit(f, c);
    if (fclose(f) != 0 && st == QN_OK) st = QN_ERR_NOMEM;
    if (st == QN_OK) {
        const void *parts[] = {buf};
        st = qn_write_atomic(path, parts, &len, 1, e);
    } else {
        st = qn_fail(e, st, "cannot write %s: out of memory", path);
    }
    free(buf);
    return st;
}

enum qn_status qn_search_write_reports(const struct qn_search_result *r, const char *dir, struct qn_error *e) {
    if (!r || !dir || !*dir) return qn_fail(e, QN_ERR_ARG, "search reports: no result or no folder");
    struct rep c;
    enum qn_status st = rep_init(&c, r, e);
    if (st) return st;
    static const struct {
        const char *name;
        emit_fn emit;
    } files[] = {
        {"pareto.csv", emit_csv},       {"pareto.json", emit_pareto_json}, {"summary.json", emit_summary_json},
        {"pareto.svg", emit_svg},       {"report.md", emit_md},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if ((st = write_file(dir, files[i].name, files[i].emit, &c, e))) return st;
    return QN_OK;
}
