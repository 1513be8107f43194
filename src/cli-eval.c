// `qnas eval` and `qnas sensitivity`: one subnet at one quantization policy, built straight
// from the shared weights and measured on this machine.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cpu.h"
#include "idx.h"
#include "qnet.h"
#include "safetensors.h"
#include "train.h"

int qn_cli_eval_opt(const char *cmd, struct qn_cli_eval_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (strcmp(a, "--json") == 0) {
        o->json = true;
        return 1;
    }
    static const char *with_value[] = {"--weights", "--genome", "--policy", "--data", "--split", "--limit", "--calib",
                                       "--wcalib", "--percentile", "--calib-images", "--bn-images"};
    bool known = false;
    for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) known |= strcmp(a, with_value[k]) == 0;
    if (!known) return 0;
    if (*i + 1 >= argc) return qn_cli_bad(cmd, "option %s needs a value%s", a, "");
    const char *v = argv[++*i];
    long n;
    if (strcmp(a, "--weights") == 0) o->weights = v;
    else if (strcmp(a, "--genome") == 0) o->genome = v;
    else if (strcmp(a, "--policy") == 0) o->policy = v;
    else if (strcmp(a, "--data") == 0) o->data = v;
    else if (strcmp(a, "--split") == 0) {
        if (strcmp(v, "val") == 0) o->split = QN_SPLIT_VAL;
        else if (strcmp(v, "test") == 0) o->split = QN_SPLIT_TEST;
        else return qn_cli_bad(cmd, "--split expects val or test, got '%s'%s", v, "");
    } else if (strcmp(a, "--limit") == 0) {
        if (!qn_cli_long(v, 1, 100000000L, &o->limit)) return qn_cli_bad(cmd, "--limit expects a positive count, got '%s'%s", v, "");
    } else if (strcmp(a, "--calib") == 0 || strcmp(a, "--wcalib") == 0) {
        enum qn_calib c;
        if (!qn_calib_parse(v, &c)) return qn_cli_bad(cmd, "%s expects minmax, percentile or mse, got '%s'", a, v);
        if (strcmp(a, "--calib") == 0) o->cfg.calib = c;
        else o->cfg.wcalib = c;
    } else if (strcmp(a, "--percentile") == 0) {
        // (50, 100]: 50 would clip both ends to the median; checked on the float the
        // calibration uses (50.000001 rounds to 50)
        float f;
        if (!qn_cli_float(v, 50, 100, &f) || !(f > 50.0f))
            return qn_cli_bad(cmd, "--percentile expects a number in (50, 100], got '%s'%s", v, "");
        o->cfg.percentile = f;
    } else if (strcmp(a, "--calib-images") == 0 || strcmp(a, "--bn-images") == 0) {
        if (!qn_cli_long(v, 1, 55000, &n)) return qn_cli_bad(cmd, "%s expects 1..55000 images, got '%s'", a, v);
        if (strcmp(a, "--calib-images") == 0) o->cfg.calib_images = (int)n;
        else o->cfg.bn_images = (int)n;
    }
    return 1;
}

int qn_cli_eval_load(const char *cmd, const struct qn_cli_eval_opts *o, struct qn_mb_net *net, struct qn_mb_genome *g,
                     struct qn_mb_policy *p, struct qn_dataset *train, struct qn_dataset *ds) {
    if (!o->weights) return qn_cli_bad(cmd, "--weights FILE is required%s%s", "", "");
    if (!o->genome) return qn_cli_bad(cmd, "--genome is required (max, min, random:SEED or the text form)%s%s", "", "");
    if (qn_cli_load_supernet(cmd, o->weights, net)) return 2;
    struct qn_error e = {{0}};
    enum qn_status s = qn_mb_genome_parse(net->space, o->genome, g, &e);
    if (!s) s = qn_mb_policy_parse(net->space, g, o->policy ? o->policy : "fp32", p, &e);
    const struct qn_mb_space *sp = net->space;
    if (!s) s = qn_dataset_load_fit(o->data, QN_SPLIT_TRAIN, sp->in_h, sp->in_w, sp->n_classes, train, &e);
    if (!s && ds) s = qn_dataset_load_fit(o->data, o->split, sp->in_h, sp->in_w, sp->n_classes, ds, &e);
    if (s) {
        fprintf(stderr, "qnas %s: %s\n", cmd, e.msg);
        qn_mb_net_free(net), qn_dataset_free(train);
        if (ds) qn_dataset_free(ds);
        return 2;
    }
    return 0;
}

void qn_cli_eval_opts_default(struct qn_cli_eval_opts *o) {
    memset(o, 0, sizeof(*o));
    o->split = QN_SPLIT_VAL;
    qn_qnet_cfg_default(&o->cfg);
}

// The supernet with batch norm re-estimated for g (what qn_qnet_build left in net), as a
// safetensors file of the same tensors, so another framework can rebuild this exact subnet.
static enum qn_status write_subnet(const char *path, const struct qn_mb_net *net, const struct qn_mb_genome *g,
                                   struct qn_error *e) {
    struct qn_st_entry *ent = calloc(net->n_tensors, sizeof(*ent));
    if (!ent) return qn_fail(e, QN_ERR_NOMEM, "out of memory writing %s", path);
    size_t n = qn_mb_net_entries(net, ent);
    char gtext[512];
    qn_mb_genome_format(net->space, g, gtext, sizeof(gtext));
    const char *keys[] = {"format", "space", "genome", "note"};
    const char *vals[] = {"qnas-supernet-1", net->space->name, gtext,
                          "batch-norm running statistics re-estimated for this genome"};
    enum qn_status st = qn_st_write(path, ent, n, keys, vals, 4, e);
    free(ent);
    return st;
}

// Logits [n][n_classes] of the first n images of ds through q's path, raw little-endian float32,
// written atomically (qn_write_atomic).
static enum qn_status write_logits(const char *path, struct qn_qnet *q, const struct qn_dataset *ds, int n,
                                   struct qn_error *e) {
    n = QN_MIN(n, ds->n);
    const int B = q->max_batch, K = q->space->n_classes;
    float *x = qn_alloc(sizeof(float) * (size_t)B * ds->h * ds->w), *z = qn_alloc(sizeof(float) * ((size_t)n * K + 1));
    int *idx = malloc(sizeof(int) * (size_t)B);
    uint8_t *lab = malloc((size_t)B);
    QN_ASSERT(x && z && idx && lab);
    for (int at = 0; at < n; at += B) {
        int nb = QN_MIN(B, n - at);
        for (int b = 0; b < nb; b++) idx[b] = at + b;
        qn_batch_make(ds, idx, nb, false, 0, NULL, x, lab);
        qn_qnet_forward(q, x, nb, z + (size_t)at * K);
    }
    const void *parts[1] = {z};
    const size_t sizes[1] = {sizeof(float) * (size_t)n * K};
    enum qn_status st = qn_write_atomic(path, parts, sizes, 1, e);
    qn_free(x), qn_free(z), free(idx), free(lab);
    return st;
}

void qn_cli_eval_report(struct qn_qnet *q, const struct qn_cli_eval_result *r, long reps, bool json) {
    const bool latency = reps > 0;
    struct qn_latency l1 = {0}, l64 = {0};
    if (latency) {
        l1 = qn_qnet_latency(q, 1, (int)reps);
        l64 = qn_qnet_latency(q, 64, (int)QN_MAX(5, reps / 5));
    }
    // batch 1 runs layers (MBConv blocks) on one thread where that was faster (qn_qnet_forward)
    const bool tuned = q->b1_tuned_for == qn_threads();
    const int b1_threads = tuned ? q->b1_threads : qn_threads();
    int b1_layers = q->n_layers;  // of them on b1_threads
    if (tuned && b1_threads > 1) {
        b1_layers = 0;
        for (int i = 0; i < q->n_layers; i++) b1_layers += q->b1_layer_threads[i] == b1_threads;
    }
    struct qn_mb_cost cost;
    qn_mb_genome_cost(q->space, &q->genome, &cost);
    const uint64_t size = qn_qnet_size_bytes(q);
    const struct qn_qnet_cfg *c = &q->cfg;
    char gtext[512], ptext[2048];
    qn_mb_genome_format(q->space, &q->genome, gtext, sizeof(gtext));
    qn_mb_policy_format(q->space, &q->genome, &q->policy, ptext, sizeof(ptext));
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "genome", gtext);
        cJSON_AddStringToObject(j, "policy", ptext);
        cJSON_AddNumberToObject(j, "accuracy", r->accuracy);
        cJSON_AddNumberToObject(j, "macs", (double)cost.macs);
        cJSON_AddNumberToObject(j, "params", (double)cost.params);
        cJSON_AddNumberToObject(j, "size_bytes", (double)size);
        if (latency) {
            cJSON_AddNumberToObject(j, "latency_ms_b1", l1.median_ms);
            cJSON_AddNumberToObject(j, "latency_ms_b64", l64.median_ms);
            double s1[2] = {l1.min_ms, l1.max_ms}, s64[2] = {l64.min_ms, l64.max_ms};
            cJSON_AddItemToObject(j, "latency_ms_b1_range", cJSON_CreateDoubleArray(s1, 2));
            cJSON_AddItemToObject(j, "latency_ms_b64_range", cJSON_CreateDoubleArray(s64, 2));
        } else {
            cJSON_AddNullToObject(j, "latency_ms_b1");
            cJSON_AddNullToObject(j, "latency_ms_b64");
        }
        cJSON_AddNumberToObject(j, "threads", qn_threads());
        if (latency) cJSON_AddNumberToObject(j, "threads_b1", b1_threads);
        if (latency) cJSON_AddNumberToObject(j, "threads_b1_layers", b1_layers);
        cJSON_AddStringToObject(j, "split", qn_split_name(r->split));
        cJSON_AddNumberToObject(j, "images", r->images);
        cJSON_AddStringToObject(j, "calibration", qn_calib_name(c->calib));
        char *out = cJSON_PrintUnformatted(j);
        printf("%s\n", out);
        free(out);
        cJSON_Delete(j);
        return;
    }
    printf("genome:   %s\n", gtext);
    printf("policy:   %s\n", ptext);
    printf("accuracy: %.2f%% top-1 on %d %s images (BN re-estimated on %d training images; activations "
           "calibrated on %d, %s)\n",
           100 * r->accuracy, r->images, qn_split_name(r->split), c->bn_images, c->calib_images,
           qn_calib_name(c->calib));
    printf("macs:     %llu (%.2f M per image)\n", (unsigned long long)cost.macs, cost.macs / 1e6);
    printf("params:   %llu\n", (unsigned long long)cost.params);
    printf("size:     %llu bytes (weights at their bit widths, per-channel scales, folded biases)\n",
           (unsigned long long)size);
    if (latency) {
        char part[48] = "";
        if (b1_layers < q->n_layers) snprintf(part, sizeof(part), " (%d of %d layers)", b1_layers, q->n_layers);
        printf("latency:  batch 1: %.3f ms median (%.3f..%.3f over %d runs) on %d thread%s%s; batch 64: %.2f ms "
               "(%.2f..%.2f over %d runs) on %d\n",
               l1.median_ms, l1.min_ms, l1.max_ms, l1.reps, b1_threads, b1_threads == 1 ? "" : "s", part,
               l64.median_ms, l64.min_ms, l64.max_ms, l64.reps, qn_threads());
    }
    printf("time:     %.2f s (%s)\n", r->secs, r->timed);
}

int qn_cmd_eval(int argc, char **argv) {
    struct qn_cli_eval_opts o;
    qn_cli_eval_opts_default(&o);
    long reps = 50;
    bool latency = true;
    const char *save_subnet = NULL, *logits_path = NULL;
    for (int i = 0; i < argc; i++) {
        int r = qn_cli_eval_opt("eval", &o, argc, argv, &i);
        if (r == 2) return 2;
        if (r == 1) continue;
        static const char *const with_value[] = {"--save-subnet", "--logits", "--reps"};
        if (strcmp(argv[i], "--no-latency") == 0) {
            latency = false;
            continue;
        }
        if (!qn_cli_one_of(argv[i], with_value, sizeof(with_value) / sizeof(with_value[0])))
            return qn_cli_bad("eval", "unknown option '%s'%s (see qnas help)", argv[i], "");
        if (i + 1 >= argc) return qn_cli_bad("eval", "option %s needs a value%s", argv[i], "");
        if (strcmp(argv[i], "--save-subnet") == 0) save_subnet = argv[++i];
        else if (strcmp(argv[i], "--logits") == 0) logits_path = argv[++i];
        else if (!qn_cli_long(argv[++i], 3, 100000, &reps))
            return qn_cli_bad("eval", "--reps expects 3..100000, got '%s'%s", argv[i], "");
    }
    // The outputs, before any work: never an input (the weights, the data files), nor each other.
    const struct qn_cli_input in[] = {{"--weights", o.weights}, {"--save-subnet", save_subnet}};
    if (save_subnet && qn_cli_check_out("eval", "--save-subnet", save_subnet, in, 1, true, o.data)) return 2;
    if (logits_path && qn_cli_check_out("eval", "--logits", logits_path, in, 2, true, o.data)) return 2;
    struct qn_mb_net net;
    struct qn_mb_genome g;
    struct qn_mb_policy p;
    struct qn_dataset train = {0}, ds = {0};
    if (qn_cli_eval_load("eval", &o, &net, &g, &p, &train, &ds)) return 2;
    struct qn_error e = {{0}};
    struct qn_qnet q;
    double t0 = qn_now();
    if (qn_qnet_build(&q, &net, &g, &p, &train, &o.cfg, &e)) {
        fprintf(stderr, "qnas eval: %s\n", e.msg);
        qn_mb_net_free(&net), qn_dataset_free(&train), qn_dataset_free(&ds);
        return 2;
    }
    const double acc = qn_qnet_accuracy(&q, &ds, (int)o.limit);
    const double secs = qn_now() - t0;
    if (save_subnet && write_subnet(save_subnet, &net, &g, &e)) {
        fprintf(stderr, "qnas eval: %s\n", e.msg);
        qn_qnet_free(&q), qn_mb_net_free(&net), qn_dataset_free(&train), qn_dataset_free(&ds);
        return 2;
    }
    if (logits_path && write_logits(logits_path, &q, &ds, o.limit > 0 ? (int)o.limit : ds.n, &e)) {
        fprintf(stderr, "qnas eval: %s\n", e.msg);
        qn_qnet_free(&q), qn_mb_net_free(&net), qn_dataset_free(&train), qn_dataset_free(&ds);
        return 2;
    }
    const int n = o.limit > 0 ? (int)QN_MIN(o.limit, ds.n) : ds.n;
    const struct qn_cli_eval_result res = {.accuracy = acc, .images = n, .split = o.split, .secs = secs,
                                           .timed = "build + accuracy"};
    qn_cli_eval_report(&q, &res, latency ? reps : 0, o.json);
    qn_qnet_free(&q);
    qn_mb_net_free(&net), qn_dataset_free(&train), qn_dataset_free(&ds);
    return 0;
}

// A mixed policy from the sensitivity table: every layer at `bits`, then, most accuracy per byte
// first, layers back at their base precision while the model stays within `budget` x the base
// policy's size (layers whose drop is not positive stay at `bits`).
static void suggest_policy(const struct qn_mb_space *s, const struct qn_mb_genome *g, const struct qn_mb_policy *base,
                           int bits, const double *drop, double budget, struct qn_mb_policy *out) {
    struct qn_mb_policy low = *base;
    for (int i = 0; i < low.n; i++) low.l[i] = (struct qn_mb_qlayer){(uint8_t)bits, 8};
    *out = low;
    const double cap = budget * (double)qn_mb_policy_size_bytes(s, g, base);
    bool used[QN_MB_MAX_LAYERS] = {false};
    for (;;) {
        int best = -1;
        double best_gain = 0;
        const double now = (double)qn_mb_policy_size_bytes(s, g, out);
        for (int i = 0; i < out->n; i++) {
            if (used[i] || drop[i] <= 0) continue;
            struct qn_mb_policy t = *out;
            t.l[i] = base->l[i];
            const double extra = (double)qn_mb_policy_size_bytes(s, g, &t) - now;
            if (now + extra > cap) continue;
            const double gain = drop[i] / QN_MAX(extra, 1.0);
            if (best < 0 || gain > best_gain) best = i, best_gain = gain;
        }
        if (best < 0) break;
        used[best] = true;
        out->l[best] = base->l[best];
    }
}

// Accuracy drop and NSR when each single layer goes to `bits` (W<bits>A8), the others staying
// at the base policy; with --suggest F, a mixed policy within F x the base policy's size.
int qn_cmd_sensitivity(int argc, char **argv) {
    struct qn_cli_eval_opts o;
    qn_cli_eval_opts_default(&o);
    o.limit = 2000;
    long bits = 4;
    double budget = 0;
    for (int i = 0; i < argc; i++) {
        int r = qn_cli_eval_opt("sensitivity", &o, argc, argv, &i);
        if (r == 2) return 2;
        if (r == 1) continue;
        if ((strcmp(argv[i], "--bits") == 0 || strcmp(argv[i], "--suggest") == 0) && i + 1 >= argc)
            return qn_cli_bad("sensitivity", "option %s needs a value%s", argv[i], "");
        if (strcmp(argv[i], "--bits") == 0) {
            if (!qn_cli_long(argv[++i], 2, 8, &bits)) return qn_cli_bad("sensitivity", "--bits expects 2..8, got '%s'%s", argv[i], "");
        } else if (strcmp(argv[i], "--suggest") == 0) {
            float f;
            if (!qn_cli_float(argv[++i], 1e-3, 1, &f))
                return qn_cli_bad("sensitivity", "--suggest expects a fraction of the base policy's size in (0, 1], got '%s'%s", argv[i], "");
            budget = f;
        } else return qn_cli_bad("sensitivity", "unknown option '%s'%s (see qnas help)", argv[i], "");
    }
    struct qn_mb_net net;
    struct qn_mb_genome g;
    struct qn_mb_policy base, low;
    struct qn_dataset train = {0}, ds = {0};
    if (qn_cli_eval_load("sensitivity", &o, &net, &g, &base, &train, &ds)) return 2;
    struct qn_error e = {{0}};
    struct qn_qnet q, ql;
    qn_mb_policy_uniform(net.space, &g, (int)bits, 8, &low);
    enum qn_status st = qn_qnet_build(&q, &net, &g, &base, &train, &o.cfg, &e);
    if (!st && (st = qn_qnet_build(&ql, &net, &g, &low, &train, &o.cfg, &e))) qn_qnet_free(&q);
    if (st) {
        fprintf(stderr, "qnas sensitivity: %s\n", e.msg);
        qn_mb_net_free(&net), qn_dataset_free(&train), qn_dataset_free(&ds);
        return 2;
    }
    // NSR of every layer alone at `bits`, on the FP32 network's activations
    qn_qnet_nsr(&ql, &ds, (int)QN_MIN(o.limit, 500));
    const double acc0 = qn_qnet_accuracy(&q, &ds, (int)o.limit);
    char gtext[512], ptext[2048];
    qn_mb_genome_format(net.space, &g, gtext, sizeof(gtext));
    qn_mb_policy_format(net.space, &g, &base, ptext, sizeof(ptext));
    const int n = (int)QN_MIN(o.limit, ds.n);
    cJSON *jl = cJSON_CreateArray();
    double drop[QN_MB_MAX_LAYERS];
    if (!o.json) {
        printf("genome: %s\nbase policy: %s, top-1 %.2f%% on %d %s images\n", gtext, ptext, 100 * acc0, n,
               qn_split_name(o.split));
        printf("%-16s %-11s %6s %6s %9s %9s %10s %9s\n", "layer", "kind", "cin", "cout", "weights", "top-1", "drop (pp)",
               "NSR (dB)");
    }
    for (int i = 0; i < q.n_layers; i++) {
        const struct qn_mb_qlayer keep = q.policy.l[i];
        const struct qn_mb_layer *L = &q.layers[i].info;
        if (qn_qnet_set_layer(&q, i, (struct qn_mb_qlayer){(uint8_t)bits, 8})) {
            fprintf(stderr, "qnas sensitivity: out of memory\n");
            return 2;
        }
        const double acc = qn_qnet_accuracy(&q, &ds, (int)o.limit), nsr = ql.layers[i].nsr;
        QN_ASSERT(qn_qnet_set_layer(&q, i, keep) == QN_OK);
        drop[i] = acc0 - acc;
        static const char *kinds[] = {"stem", "expand", "depthwise", "project", "head", "classifier"};
        if (o.json) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "layer", L->name);
            cJSON_AddStringToObject(r, "kind", kinds[L->kind]);
            cJSON_AddNumberToObject(r, "weights", (double)L->weights);
            cJSON_AddNumberToObject(r, "accuracy", acc);
            cJSON_AddNumberToObject(r, "accuracy_drop", acc0 - acc);
            cJSON_AddNumberToObject(r, "nsr", nsr);
            cJSON_AddItemToArray(jl, r);
        } else {
            printf("%-16s %-11s %6d %6d %9llu %8.2f%% %10.2f %9.1f\n", L->name, kinds[L->kind], L->cin, L->cout,
                   (unsigned long long)L->weights, 100 * acc, 100 * (acc0 - acc), 10 * log10(fmax(nsr, 1e-30)));
        }
    }
    struct qn_mb_policy sug;
    char stext[2048] = "";
    uint64_t sbytes = 0, bbytes = qn_mb_policy_size_bytes(net.space, &g, &base);
    if (budget > 0) {
        suggest_policy(net.space, &g, &base, (int)bits, drop, budget, &sug);
        qn_mb_policy_format(net.space, &g, &sug, stext, sizeof(stext));
        sbytes = qn_mb_policy_size_bytes(net.space, &g, &sug);
    }
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "genome", gtext);
        if (budget > 0) {
            cJSON_AddStringToObject(j, "suggested_policy", stext);
            cJSON_AddNumberToObject(j, "suggested_size_bytes", (double)sbytes);
            cJSON_AddNumberToObject(j, "base_size_bytes", (double)bbytes);
        }
        cJSON_AddStringToObject(j, "policy", ptext);
        cJSON_AddNumberToObject(j, "bits", (double)bits);
        cJSON_AddNumberToObject(j, "accuracy", acc0);
        cJSON_AddStringToObject(j, "split", qn_split_name(o.split));
        cJSON_AddNumberToObject(j, "images", n);
        cJSON_AddItemToObject(j, "layers", jl);
        char *out = cJSON_PrintUnformatted(j);
        printf("%s\n", out);
        free(out);
        cJSON_Delete(j);
    } else {
        cJSON_Delete(jl);
        if (budget > 0)
            printf("suggested policy (%llu bytes, %.1f%% of the base policy's %llu): %s\n", (unsigned long long)sbytes,
                   100.0 * (double)sbytes / (double)bbytes, (unsigned long long)bbytes, stext);
    }
    qn_qnet_free(&q), qn_qnet_free(&ql);
    qn_mb_net_free(&net), qn_dataset_free(&train), qn_dataset_free(&ds);
    return 0;
}
