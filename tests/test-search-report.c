// Search reports (src/search-report.c) from a synthetic result built in memory: every file
// written atomically, the CSV parses (quoted genome / policy fields) with the right ratios,
// the JSON parses with ratios equal to int8 / point, the SVG has one front circle per point
// and no NaN text, the Markdown headline has the expected figures; edge cases (no front, no
// point at INT8 accuracy, equal latencies, NaN test accuracy) and unwritable folders.
//
// Tolerances: JSON numbers are printed by cJSON with round-trip digits, so ratios read back
// within 1e-12 relative; CSV ratios are printed with 6 decimals, so 1e-6 absolute.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "search.h"
#include "test.h"

// --- a synthetic result ---

static const struct qn_mb_space *S;

struct spec {
    const char *source;
    double val, test, lat_ms;
    uint64_t size;
};

// Index:             0 fp32, 1 int8, 2..7 joint front (2..6 by latency), 8..9 arch, 10 quant, 11.. samples.
// Joint front by latency: 2 (fast, lossy), 3 (lossy), 4 (no loss: best latency), 5 (no loss,
// smaller: best size), 6 (no test accuracy: beyond max_front).
static const struct spec SPECS[] = {
    {"fp32-max", 0.9150, 0.9120, 4.000, 1600000},
    {"int8-max", 0.9130, 0.9100, 2.000, 420000},
    {"iter1", 0.8600, 0.8500, 0.500, 100000},
    {"iter1", 0.9060, 0.9050, 0.800, 150000},
    {"iter2", 0.9140, 0.9120, 1.000, 200000},
    {"iter2", 0.9150, 0.9140, 1.600, 180000},
    {"sample", 0.9200, NAN, 2.500, 300000},
    {"arch-int8", 0.8800, NAN, 0.700, 90000},
    {"arch-int8", 0.9100, NAN, 1.500, 250000},
    {"quant-max", 0.9120, NAN, 1.900, 260000},
    {"sample", 0.7000, NAN, 0.400, 60000},
    {"sample", 0.8900, NAN, 1.200, 210000},
    {"sample", 0.8100, NAN, 3.100, 500000},
};
#define N_SPECS ((int)(sizeof(SPECS) / sizeof(SPECS[0])))
#define ID(i) (100 + (i))  // ids differ from indices, so a mix-up shows

static int FRONT[] = {2, 3, 4, 5, 6}, ARCH[] = {7, 8}, QUANT[] = {9};

// The result the pipeline would hand over: text fields filled directly, g / p consistent.
static void make_result(struct qn_search_result *r, struct qn_search_point *pts) {
    memset(r, 0, sizeof(*r));
    memset(pts, 0, sizeof(*pts) * N_SPECS);
    uint64_t rng = 12345;
    static const int bits[3] = {4, 8, 0};
    for (int i = 0; i < N_SPECS; i++) {
        struct qn_search_point *p = &pts[i];
        p->id = ID(i);
        snprintf(p->source, sizeof(p->source), "%s", SPECS[i].source);
        if (i < 2 || i == 9) qn_mb_genome_max(S, &p->g);
        else qn_mb_genome_random(S, 1000 + (uint64_t)i, &p->g);
        if (i == 0) qn_mb_policy_uniform(S, &p->g, 0, 0, &p->p);
        else if (i == 1 || (i >= 7 && i <= 8)) qn_mb_policy_uniform(S, &p->g, 8, 8, &p->p);
        else qn_mb_policy_random(S, &p->g, bits, 3, &rng, &p->p);
        qn_mb_genome_format(S, &p->g, p->genome, sizeof(p->genome));
        qn_mb_policy_format(S, &p->g, &p->p, p->policy, sizeof(p->policy));
        p->val_acc = SPECS[i].val;
        p->test_acc = SPECS[i].test;
        p->latency_ms = SPECS[i].lat_ms;
        p->lut_ms = SPECS[i].lat_ms * 1.05;
        p->pred_acc = i >= 2 && i <= 5 ? SPECS[i].val + 0.002 : NAN;
        p->pred_latency_ms = i >= 2 && i <= 5 ? SPECS[i].lat_ms * 0.97 : NAN;
        p->size_bytes = SPECS[i].size;
        p->macs = SPECS[i].size * 40;
        p->params = SPECS[i].size / 2;
        p->measure_s = 1.5;
    }
    // Characters CSV, XML and Markdown must escape, in a front point and a policy override.
    snprintf(pts[2].genome, sizeof(pts[2].genome), "k3e3,k5e6/\"q\"&<x>|y");
    snprintf(pts[3].policy + strlen(pts[3].policy), sizeof(pts[3].policy) - strlen(pts[3].policy), ";classifier=f");
    for (int i = 0; i < 5; i++) pts[FRONT[i]].front = true;

    struct qn_search_cfg *c = &r->cfg;
    c->weights = "weights/mbconv-fmnist.safetensors";
    c->out = "runs/search 1";  // a space: the reproduce line must quote it
    c->samples = 200, c->population = 100, c->generations = 150, c->iterations = 3, c->per_iter = 16;
    c->n_obj = 3, c->obj[0] = QN_OBJ_ACC, c->obj[1] = QN_OBJ_LATENCY, c->obj[2] = QN_OBJ_SIZE;
    c->latency_budget_ms = 0, c->size_budget_kb = 500;
    c->n_bits = 3, c->bits[0] = 4, c->bits[1] = 8, c->bits[2] = 0;
    c->val_images = 5000, c->test_images = 10000, c->bn_images = 2000, c->calib_images = 512;
    c->latency_reps = 30, c->max_front = 4, c->seed = 7;
    r->threads = 2, r->latency_threads = 1;
    snprintf(r->space, sizeof(r->space), "%s", S->name);
    r->n = N_SPECS;
    r->pts = pts;
    r->fp32_base = 0, r->int8_base = 1;
    r->n_front = 5, r->front = FRONT;
    r->n_arch = 2, r->arch_front = ARCH;
    r->n_quant = 1, r->quant_front = QUANT;
    r->acc_mlp = (struct qn_pred_quality){16, 0.71, 0.80, 0.004, 0.006};
    r->acc_ridge = (struct qn_pred_quality){16, 0.64, 0.75, 0.005, 0.007};
    r->lat_mlp = (struct qn_pred_quality){16, 0.88, 0.95, 0.030, 0.040};
    r->lat_ridge = (struct qn_pred_quality){16, NAN, NAN, 0.050, 0.060};  // undefined: must become null
    r->lut_tau = 0.93, r->lut_mae_ms = 0.08, r->lut_entries = 412;
    r->cand_evaluated = 600000, r->cand_seconds = 2.5;
    r->best = 4;
    r->seconds = 3600.5;
}

// --- file helpers ---

static char *read_all(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return qt_slurp(path, NULL);
}

static int count_substr(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static int count_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        n += strstr(de->d_name, ".tmp") != NULL;
    }
    closedir(d);
    return n;
}

static char *make_tmpdir(char *buf, size_t cap) {
    const char *t = getenv("TMPDIR");
    snprintf(buf, cap, "%s/qnas-report-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(buf);
}

// One CSV record (no embedded newlines) into at most max fields, in place; RFC 4180 quoting.
static int csv_split(char *line, char **field, int max) {
    int n = 0;
    char *w = line, *p = line;
    while (n < max) {
        field[n++] = w;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == 0) return -1;  // unterminated quote
                if (*p == '"' && p[1] == '"') *w++ = '"', p += 2;
                else if (*p == '"') {
                    p++;
                    break;
                } else *w++ = *p++;
            }
        } else
            while (*p && *p != ',') *w++ = *p++;
        if (*p == 0) {
            *w = 0;
            return n;
        }
        if (*p != ',') return -1;  // text after a closing quote
        *w++ = 0;
        p++;
    }
    return -1;
}

static bool close_rel(double a, double b, double tol) { return fabs(a - b) <= tol * fmax(1.0, fabs(b)); }

static const char *const FILES[5] = {"pareto.csv", "pareto.json", "summary.json", "pareto.svg", "report.md"};

static void check_all_files(const char *dir) {
    for (int i = 0; i < 5; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, FILES[i]);
        struct stat sb;
        QT_CHECK(stat(path, &sb) == 0 && sb.st_size > 0, "%s missing or empty", FILES[i]);
    }
    QT_CHECK(count_tmp(dir) == 0, "%d .tmp files left in %s", count_tmp(dir), dir);
}

// Checks the SVG's structure: one <svg> root, n_front front circles, no NaN/inf text.
static void check_svg(const char *svg, int n_front) {
    QT_CHECK(svg && strncmp(svg, "<svg", 4) == 0, "pareto.svg does not start with <svg");
    if (!svg) return;
    size_t l = strlen(svg);
    while (l && (svg[l - 1] == '\n' || svg[l - 1] == ' ')) l--;
    QT_CHECK(l >= 6 && strncmp(svg + l - 6, "</svg>", 6) == 0, "pareto.svg does not end with </svg>");
    QT_CHECK(count_substr(svg, "<svg") == 1 && count_substr(svg, "</svg>") == 1, "one svg element expected");
    QT_CHECK(count_substr(svg, "class=\"front\"") == n_front, "%d front circles, expected %d",
             count_substr(svg, "class=\"front\""), n_front);
    QT_CHECK(!strstr(svg, "nan") && !strstr(svg, "NaN") && !strstr(svg, "inf") && !strstr(svg, "Inf"),
             "pareto.svg contains nan/inf text");
    QT_CHECK(count_substr(svg, "<text") == count_substr(svg, "</text>"), "unbalanced <text>");
    QT_CHECK(count_substr(svg, "<title>") == count_substr(svg, "</title>"), "unbalanced <title>");
    QT_CHECK(count_substr(svg, "<g") == count_substr(svg, "</g>"), "unbalanced <g>");
}

// --- cases ---

static void reports_full(void) {
    static struct qn_search_point pts[N_SPECS];
    struct qn_search_result r;
    make_result(&r, pts);
    char dir[512];
    QT_CHECK(make_tmpdir(dir, sizeof(dir)), "mkdtemp failed");
    struct qn_error e = {{0}};
    enum qn_status st = qn_search_write_reports(&r, dir, &e);
    QT_CHECK(st == QN_OK, "write_reports: %s (%s)", qn_status_str(st), e.msg);
    check_all_files(dir);
    const struct qn_search_point *b = &pts[1];

    // pareto.csv: header + one row per front point, in front order, quoted fields intact.
    char *csv = read_all(dir, "pareto.csv");
    QT_CHECK(csv, "cannot read pareto.csv");
    if (csv) {
        QT_CHECK(count_substr(csv, "\n") == r.n_front + 1, "%d lines, expected %d", count_substr(csv, "\n"), r.n_front + 1);
        char *save = NULL, *line = strtok_r(csv, "\n", &save);
        char *fld[16];
        QT_CHECK(line && csv_split(line, fld, 16) == 13 && !strcmp(fld[0], "id") &&
                     !strcmp(fld[10], "latency_ratio_vs_int8") && !strcmp(fld[12], "test_acc_delta_vs_int8_pp"),
                 "bad header");
        for (int i = 0; i < r.n_front; i++) {
            line = strtok_r(NULL, "\n", &save);
            const struct qn_search_point *p = &pts[FRONT[i]];
            int nf = line ? csv_split(line, fld, 16) : -1;
            QT_CHECK(nf == 13, "row %d: %d fields", i, nf);
            if (nf != 13) continue;
            QT_CHECK(atoi(fld[0]) == p->id, "row %d: id %s, expected %d", i, fld[0], p->id);
            QT_CHECK(!strcmp(fld[1], p->genome), "row %d: genome '%s' != '%s'", i, fld[1], p->genome);
            QT_CHECK(!strcmp(fld[2], p->policy), "row %d: policy '%s' != '%s'", i, fld[2], p->policy);
            QT_CHECK(fabs(atof(fld[3]) - p->val_acc) < 1e-6, "row %d: val_acc %s", i, fld[3]);
            QT_CHECK(fabs(atof(fld[5]) - p->latency_ms) < 1e-6, "row %d: latency %s", i, fld[5]);
            QT_CHECK(strtoull(fld[7], NULL, 10) == p->size_bytes, "row %d: size %s", i, fld[7]);
            QT_CHECK(fabs(atof(fld[10]) - b->latency_ms / p->latency_ms) < 1e-6, "row %d: latency ratio %s", i, fld[10]);
            QT_CHECK(fabs(atof(fld[11]) - (double)b->size_bytes / p->size_bytes) < 1e-6, "row %d: size ratio %s", i, fld[11]);
            if (isfinite(p->test_acc)) {
                QT_CHECK(fabs(atof(fld[4]) - p->test_acc) < 1e-6, "row %d: test_acc %s", i, fld[4]);
                QT_CHECK(fabs(atof(fld[12]) - 100 * (p->test_acc - b->test_acc)) < 1e-4, "row %d: delta %s", i, fld[12]);
            } else {
                QT_CHECK(fld[4][0] == 0 && fld[12][0] == 0, "row %d: NaN test acc should be empty fields", i);
            }
        }
        free(csv);
    }

    // summary.json
    char *js = read_all(dir, "summary.json");
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    QT_CHECK(j, "summary.json does not parse");
    if (j) {
        const cJSON *best = cJSON_GetObjectItem(j, "best_no_loss"), *bs = cJSON_GetObjectItem(j, "best_size_no_loss");
        const cJSON *pred = cJSON_GetObjectItem(j, "predictors"), *i8 = cJSON_GetObjectItem(j, "int8_baseline");
        QT_CHECK(cJSON_IsObject(best) && cJSON_IsObject(bs) && cJSON_IsObject(pred) && cJSON_IsObject(i8), "missing objects");
        if (cJSON_IsObject(best)) {
            const double lr = cJSON_GetNumberValue(cJSON_GetObjectItem(best, "latency_ratio_vs_int8"));
            const double sr = cJSON_GetNumberValue(cJSON_GetObjectItem(best, "size_ratio_vs_int8"));
            QT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(best, "id")) == ID(4), "best id");
            QT_CHECK(close_rel(lr, b->latency_ms / pts[4].latency_ms, 1e-12), "best latency ratio %.17g", lr);
            QT_CHECK(close_rel(sr, (double)b->size_bytes / pts[4].size_bytes, 1e-12), "best size ratio %.17g", sr);
            QT_CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(best, "policy")), pts[4].policy), "best policy");
        }
        if (cJSON_IsObject(bs)) {
            const double sr = cJSON_GetNumberValue(cJSON_GetObjectItem(bs, "size_ratio_vs_int8"));
            QT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(bs, "id")) == ID(5), "best size id");
            QT_CHECK(close_rel(sr, 420000.0 / 180000.0, 1e-12), "best size ratio %.17g", sr);
            QT_CHECK(close_rel(cJSON_GetNumberValue(cJSON_GetObjectItem(bs, "latency_ratio_vs_int8")), 2.0 / 1.6, 1e-12),
                     "best size latency ratio");
        }
        if (cJSON_IsObject(pred)) {
            QT_CHECK(close_rel(cJSON_GetNumberValue(cJSON_GetObjectItem(pred, "accuracy_mlp_kendall_tau")), 0.71, 1e-12), "acc tau");
            QT_CHECK(close_rel(cJSON_GetNumberValue(cJSON_GetObjectItem(pred, "latency_lut_kendall_tau")), 0.93, 1e-12), "lut tau");
            QT_CHECK(cJSON_IsNull(cJSON_GetObjectItem(pred, "latency_ridge_kendall_tau")), "NaN tau must be null");
            QT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(pred, "accuracy_n")) == 16, "accuracy_n");
        }
        if (cJSON_IsObject(i8)) {
            QT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(i8, "latency_ms")) == 2.0, "int8 latency");
            QT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(i8, "test_accuracy")) == 0.91, "int8 test acc");
        }
        QT_CHECK(close_rel(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "candidates_per_second")), 240000.0, 1e-12), "cand/s");
        QT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "configurations_measured")) == N_SPECS, "configurations");
        QT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "seed")) == 7, "seed");
        QT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "threads")) == 2, "threads");
        QT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "latency_threads")) == 1, "latency_threads");
        cJSON_Delete(j);
    }
    free(js);

    // pareto.json
    js = read_all(dir, "pareto.json");
    j = js ? cJSON_Parse(js) : NULL;
    QT_CHECK(j, "pareto.json does not parse");
    if (j) {
        const cJSON *front = cJSON_GetObjectItem(j, "front"), *base = cJSON_GetObjectItem(j, "baselines");
        QT_CHECK(cJSON_GetArraySize(front) == r.n_front, "front size");
        QT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "arch_int8_front")) == 2, "arch front size");
        QT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "quant_max_front")) == 1, "quant front size");
        QT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "objectives")) == 3, "objectives");
        QT_CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "space")), S->name), "space");
        QT_CHECK(cJSON_IsObject(cJSON_GetObjectItem(base, "fp32")) && cJSON_IsObject(cJSON_GetObjectItem(base, "int8")), "baselines");
        const cJSON *p2 = cJSON_GetArrayItem(front, 0), *p6 = cJSON_GetArrayItem(front, 4);
        QT_CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p2, "genome")), pts[2].genome), "escaped genome round trip");
        QT_CHECK(cJSON_IsNull(cJSON_GetObjectItem(p6, "test_acc")) && cJSON_IsNull(cJSON_GetObjectItem(p6, "test_acc_delta_vs_int8_pp")),
                 "NaN test accuracy must be null");
        QT_CHECK(close_rel(cJSON_GetNumberValue(cJSON_GetObjectItem(p6, "latency_ratio_vs_int8")), 2.0 / 2.5, 1e-12), "p6 ratio");
        cJSON_Delete(j);
    }
    free(js);

    // pareto.svg
    char *svg = read_all(dir, "pareto.svg");
    check_svg(svg, r.n_front);
    if (svg) {
        QT_CHECK(strstr(svg, "&lt;x&gt;") && !strstr(svg, "<x>") && strstr(svg, "&quot;q&quot;&amp;"), "XML escaping");
        QT_CHECK(count_substr(svg, "class=\"cfg\"") == N_SPECS, "grey dots: %d", count_substr(svg, "class=\"cfg\""));
        QT_CHECK(count_substr(svg, "class=\"arch\"") == 2 && count_substr(svg, "class=\"quant\"") == 1, "restricted fronts");
        QT_CHECK(count_substr(svg, "class=\"base-fp32\"") == 1 && count_substr(svg, "class=\"base-int8\"") == 1, "baselines");
        QT_CHECK(strstr(svg, "FP32 max") && strstr(svg, "INT8 max") && strstr(svg, S->name) && strstr(svg, "(1 thread)"), "labels");
        QT_CHECK(strstr(svg, "KB</text>"), "size legend");
        free(svg);
    }

    // report.md
    char *md = read_all(dir, "report.md");
    QT_CHECK(md, "cannot read report.md");
    if (md) {
        char want[256];
        snprintf(want, sizeof(want), "Best at no test-accuracy loss vs the INT8 baseline: 2.00x lower latency, 2.10x smaller (point #%d)", ID(4));
        QT_CHECK(strstr(md, want), "headline missing: %s", want);
        snprintf(want, sizeof(want), "Smallest at no test-accuracy loss: 1.25x lower latency, 2.33x smaller (point #%d", ID(5));
        QT_CHECK(strstr(md, want), "smallest-no-loss line missing: %s", want);
        QT_CHECK(strstr(md, "![front](pareto.svg)"), "image link");
        QT_CHECK(strstr(md, "`k3e3,k5e6/\"q\"&<x>\\|y`"), "genome in backticks with | escaped");
        QT_CHECK(strstr(md, "--seed 7") && strstr(md, "--out 'runs/search 1'") && strstr(md, "--size-budget 500") &&
                     strstr(md, "--threads 2") && strstr(md, "--latency-threads 1") && strstr(md, "--bits 4,8,f") && !strstr(md, "--latency-budget"),
                 "reproduce line");
        QT_CHECK(strstr(md, "| latency LUT | all | 0.930 | 0.080 ms |"), "predictor table");
        QT_CHECK(strstr(md, "| accuracy MLP | search | 0.710 | 0.40 pp | 16 |"), "predictor table (accuracy)");
        QT_CHECK(strstr(md, "| **104** |") && strstr(md, "| **105** |"), "best points in bold");
        QT_CHECK(strstr(md, "| 106 |") && strstr(md, "| - | 92.00% |"), "NaN test accuracy row");
        QT_CHECK(!strstr(md, "nan") && !strstr(md, "inf |"), "no nan text in report.md");
        free(md);
    }
    qt_rm_tree(dir);
}

// No front at all, best -1, empty restricted fronts.
static void reports_empty_front(void) {
    static struct qn_search_point pts[N_SPECS];
    struct qn_search_result r;
    make_result(&r, pts);
    r.n_front = 0, r.front = NULL, r.n_arch = 0, r.arch_front = NULL, r.n_quant = 0, r.quant_front = NULL, r.best = -1;
    char dir[512];
    QT_CHECK(make_tmpdir(dir, sizeof(dir)), "mkdtemp failed");
    struct qn_error e = {{0}};
    enum qn_status st = qn_search_write_reports(&r, dir, &e);
    QT_CHECK(st == QN_OK, "write_reports: %s (%s)", qn_status_str(st), e.msg);
    check_all_files(dir);
    char *csv = read_all(dir, "pareto.csv"), *svg = read_all(dir, "pareto.svg"), *md = read_all(dir, "report.md"),
         *js = read_all(dir, "summary.json");
    QT_CHECK(csv && count_substr(csv, "\n") == 1, "header only expected");
    check_svg(svg, 0);
    QT_CHECK(md && strstr(md, "without a measured front"), "no-front sentence");
    QT_CHECK(md && strstr(md, "(no points)"), "empty tables");
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    QT_CHECK(j && cJSON_IsNull(cJSON_GetObjectItem(j, "best_no_loss")) && cJSON_IsNull(cJSON_GetObjectItem(j, "best_size_no_loss")),
             "best must be null");
    cJSON_Delete(j);
    free(csv), free(svg), free(md), free(js);
    qt_rm_tree(dir);
}

// Every front point below INT8's test accuracy: the closest one is named.
static void reports_no_match(void) {
    static struct qn_search_point pts[N_SPECS];
    struct qn_search_result r;
    make_result(&r, pts);
    pts[4].test_acc = 0.9080, pts[5].test_acc = 0.9090;
    r.best = -1;
    char dir[512];
    QT_CHECK(make_tmpdir(dir, sizeof(dir)), "mkdtemp failed");
    struct qn_error e = {{0}};
    enum qn_status st = qn_search_write_reports(&r, dir, &e);
    QT_CHECK(st == QN_OK, "write_reports: %s (%s)", qn_status_str(st), e.msg);
    check_all_files(dir);
    char *md = read_all(dir, "report.md"), *js = read_all(dir, "summary.json");
    char want[160];
    snprintf(want, sizeof(want), "The closest is point #%d at 90.90%% (-0.10 pp): 1.25x lower latency, 2.33x smaller", ID(5));
    QT_CHECK(md && strstr(md, "No front point matches") && strstr(md, want), "closest sentence missing: %s", want);
    QT_CHECK(md && !strstr(md, "Best at no test-accuracy loss"), "no headline expected");
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    QT_CHECK(j && cJSON_IsNull(cJSON_GetObjectItem(j, "best_no_loss")) && cJSON_IsNull(cJSON_GetObjectItem(j, "best_size_no_loss")),
             "best must be null");
    // -0.10 pp is within the targets' 0.1 pp tolerance
    const cJSON *near = cJSON_GetObjectItem(j, "best_within_0.1pp");
    QT_CHECK(cJSON_IsObject(near) && cJSON_GetNumberValue(cJSON_GetObjectItem(near, "id")) == ID(5), "within 0.1 pp: #%d",
             ID(5));
    QT_CHECK(md && strstr(md, "Within 0.1 pp of the INT8 baseline's test accuracy: fastest 1.25x lower latency"),
             "within-0.1-pp sentence");
    cJSON_Delete(j);
    free(md), free(js);
    qt_rm_tree(dir);
}

// Every point at the same latency and accuracy (zero-range axes), one front point.
static void reports_equal_latency(void) {
    static struct qn_search_point pts[N_SPECS];
    struct qn_search_result r;
    make_result(&r, pts);
    for (int i = 0; i < N_SPECS; i++) pts[i].latency_ms = 1.25, pts[i].val_acc = 0.9, pts[i].test_acc = i < 2 ? 0.9 : NAN;
    pts[4].test_acc = 0.9;
    static int one[] = {4};
    r.n_front = 1, r.front = one;
    char dir[512];
    QT_CHECK(make_tmpdir(dir, sizeof(dir)), "mkdtemp failed");
    struct qn_error e = {{0}};
    enum qn_status st = qn_search_write_reports(&r, dir, &e);
    QT_CHECK(st == QN_OK, "write_reports: %s (%s)", qn_status_str(st), e.msg);
    check_all_files(dir);
    char *svg = read_all(dir, "pareto.svg"), *md = read_all(dir, "report.md");
    check_svg(svg, 1);
    char want[160];
    snprintf(want, sizeof(want), "1.00x lower latency, 2.10x smaller (point #%d)", ID(4));
    QT_CHECK(md && strstr(md, want), "headline missing: %s", want);
    free(svg), free(md);
    qt_rm_tree(dir);
}

// Unwritable folders: missing, a regular file, and a temp file that fails on write
// (pareto.csv.tmp.<pid>, qn_write_atomic's temp name, a symlink to /dev/full): QN_ERR_IO naming the file, no .tmp left.
static void reports_unwritable(void) {
    static struct qn_search_point pts[N_SPECS];
    struct qn_search_result r;
    make_result(&r, pts);
    char dir[512], bad[600];
    QT_CHECK(make_tmpdir(dir, sizeof(dir)), "mkdtemp failed");
    struct qn_error e = {{0}};
    snprintf(bad, sizeof(bad), "%s/missing/sub", dir);
    enum qn_status st = qn_search_write_reports(&r, bad, &e);
    QT_CHECK(st == QN_ERR_IO && strstr(e.msg, "pareto.csv"), "missing folder: %s (%s)", qn_status_str(st), e.msg);

    snprintf(bad, sizeof(bad), "%s/plain", dir);
    FILE *f = fopen(bad, "w");
    QT_CHECK(f, "cannot create %s", bad);
    if (f) fclose(f);
    e.msg[0] = 0;
    st = qn_search_write_reports(&r, bad, &e);
    QT_CHECK(st == QN_ERR_IO && strstr(e.msg, "pareto.csv"), "file as folder: %s (%s)", qn_status_str(st), e.msg);
    unlink(bad);

    if (access("/dev/full", W_OK) == 0) {
        char link[600];
        snprintf(link, sizeof(link), "%s/pareto.csv.tmp.%ld", dir, (long)getpid());
        QT_CHECK(symlink("/dev/full", link) == 0, "symlink failed");
        e.msg[0] = 0;
        st = qn_search_write_reports(&r, dir, &e);
        QT_CHECK(st == QN_ERR_IO && strstr(e.msg, "pareto.csv"), "full disk: %s (%s)", qn_status_str(st), e.msg);
        QT_CHECK(count_tmp(dir) == 0, ".tmp left after a failed write");
        char path[600];
        snprintf(path, sizeof(path), "%s/pareto.csv", dir);
        QT_CHECK(access(path, F_OK) != 0, "pareto.csv must not exist after a failed write");
    }

    // Bad indices are the caller's error.
    r.int8_base = N_SPECS;
    st = qn_search_write_reports(&r, dir, &e);
    QT_CHECK(st == QN_ERR_ARG, "bad baseline index: %s", qn_status_str(st));
    qt_rm_tree(dir);
}

int main(int argc, char **argv) {
    (void)argc;
    S = qn_mb_space_fmnist();
    QT_RUN(reports_full);
    QT_RUN(reports_empty_front);
    QT_RUN(reports_no_match);
    QT_RUN(reports_equal_latency);
    QT_RUN(reports_unwritable);
    return qt_finish(argv[0]);
}
