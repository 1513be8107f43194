// `qnas export` and `qnas run`: a subnet at its policy as a standalone `.qnas` model file
// (src/qnas-model.h), and its evaluation with no supernet. export builds exactly what
// `qnas eval` builds (same options and defaults), so run reports what eval reports.
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "qnas-model.h"

int qn_cmd_export(int argc, char **argv) {
    struct qn_cli_eval_opts o;
    qn_cli_eval_opts_default(&o);
    const char *out = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--split") == 0 || strcmp(a, "--limit") == 0)
            return qn_cli_bad("export", "%s: export measures nothing (evaluate the file with qnas run)%s", a, "");
        int r = qn_cli_eval_opt("export", &o, argc, argv, &i);
        if (r == 2) return 2;
        if (r == 1) continue;
        if (strcmp(a, "--out") != 0) return qn_cli_bad("export", "unknown option '%s'%s (see qnas help)", a, "");
        if (i + 1 >= argc) return qn_cli_bad("export", "option %s needs a value%s", a, "");
        out = argv[++i];
    }
    if (!out) return qn_cli_bad("export", "--out MODEL.qnas is required%s%s", "", "");
    // export reads the weights and the training images (BN statistics, calibration)
    const struct qn_cli_input in[] = {{"--weights", o.weights}};
    if (qn_cli_check_out("export", "--out", out, in, 1, true, o.data)) return 2;
    struct qn_mb_net net;
    struct qn_mb_genome g;
    struct qn_mb_policy p;
    struct qn_dataset train = {0};
    if (qn_cli_eval_load("export", &o, &net, &g, &p, &train, NULL)) return 2;
    struct qn_error e = {{0}};
    struct qn_qnet q;
    enum qn_status st = qn_qnet_build(&q, &net, &g, &p, &train, &o.cfg, &e);
    qn_mb_net_free(&net), qn_dataset_free(&train);
    if (st) {
        fprintf(stderr, "qnas export: %s\n", e.msg);
        return 2;
    }
    st = qn_qnas_write(out, &q, &e);
    struct stat sb;
    if (!st && stat(out, &sb) != 0) st = qn_fail(&e, QN_ERR_IO, "%s: cannot stat the written file", out);
    if (st) {
        fprintf(stderr, "qnas export: %s\n", e.msg);
        qn_qnet_free(&q);
        return 2;
    }
    const unsigned long long file_bytes = (unsigned long long)sb.st_size, size = qn_qnet_size_bytes(&q);
    char gtext[512], ptext[2048];
    qn_mb_genome_format(q.space, &q.genome, gtext, sizeof(gtext));
    qn_mb_policy_format(q.space, &q.genome, &q.policy, ptext, sizeof(ptext));
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "path", out);
        cJSON_AddStringToObject(j, "genome", gtext);
        cJSON_AddStringToObject(j, "policy", ptext);
        cJSON_AddNumberToObject(j, "file_bytes", (double)file_bytes);
        cJSON_AddNumberToObject(j, "size_bytes", (double)size);
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("genome:   %s\n", gtext);
        printf("policy:   %s\n", ptext);
        printf("wrote:    %s, %llu bytes (model size %llu bytes: weights at their bit widths, per-channel scales, "
               "folded biases; the rest is the header and per-layer checksums)\n",
               out, file_bytes, size);
    }
    qn_qnet_free(&q);
    return 0;
}

int qn_cmd_run(int argc, char **argv) {
    const char *model = NULL, *data = NULL;
    enum qn_split split = QN_SPLIT_VAL;  // as `qnas eval`, so the two reports match by default
    long limit = 0, reps = 50;
    bool latency = true, json = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (model) return qn_cli_bad("run", "one model file expected, got '%s' and '%s'", model, a);
            model = a;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        }
        if (strcmp(a, "--no-latency") == 0) {
            latency = false;
            continue;
        }
        if (strcmp(a, "--data") != 0 && strcmp(a, "--split") != 0 && strcmp(a, "--limit") != 0 &&
            strcmp(a, "--reps") != 0)
            return qn_cli_bad("run", "unknown option '%s'%s (see qnas help)", a, "");
        if (i + 1 >= argc) return qn_cli_bad("run", "option %s needs a value%s", a, "");
        const char *v = argv[++i];
        if (strcmp(a, "--data") == 0) data = v;
        else if (strcmp(a, "--split") == 0) {
            if (strcmp(v, "val") == 0) split = QN_SPLIT_VAL;
            else if (strcmp(v, "test") == 0) split = QN_SPLIT_TEST;
            else return qn_cli_bad("run", "--split expects val or test, got '%s'%s", v, "");
        } else if (strcmp(a, "--limit") == 0) {
            if (!qn_cli_long(v, 1, 100000000L, &limit)) return qn_cli_bad("run", "--limit expects a positive count, got '%s'%s", v, "");
        } else if (!qn_cli_long(v, 3, 100000, &reps)) {
            return qn_cli_bad("run", "--reps expects 3..100000, got '%s'%s", v, "");
        }
    }
    if (!model) return qn_cli_bad("run", "a model file is required: qnas run MODEL.qnas [options]%s%s", "", "");
    struct qn_error e = {{0}};
    struct qn_qnet q;
    double t0 = qn_now();
    if (qn_qnas_read(model, &q, 64, &e)) {  // batch 64: the accuracy batches and latency_ms_b64
        fprintf(stderr, "qnas run: %s\n", e.msg);
        return 2;
    }
    const double t_load = qn_now() - t0;
    struct qn_dataset ds = {0};
    if (qn_dataset_load_fit(data, split, q.space->in_h, q.space->in_w, q.space->n_classes, &ds, &e)) {
        fprintf(stderr, "qnas run: %s\n", e.msg);
        qn_qnet_free(&q);
        return 2;
    }
    t0 = qn_now();
    const double acc = qn_qnet_accuracy(&q, &ds, (int)limit);
    const struct qn_cli_eval_result res = {.accuracy = acc, .images = limit > 0 ? (int)QN_MIN(limit, ds.n) : ds.n,
                                           .split = split, .secs = t_load + qn_now() - t0,
                                           .timed = "load + accuracy"};
    qn_cli_eval_report(&q, &res, latency ? reps : 0, json);
    qn_qnet_free(&q), qn_dataset_free(&ds);
    return 0;
}
