// Shared pieces of the `qnas` subcommands (cli.h).
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"

int qn_cli_bad(const char *cmd, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "qnas %s: ", cmd);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 2;
}

bool qn_cli_long(const char *s, long lo, long hi, long *out) {
    char *end;
    if (!s || !*s) return false;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool qn_cli_float(const char *s, double lo, double hi, float *out) {
    char *end;
    if (!s || !*s) return false;
    double v = strtod(s, &end);
    if (*end || !(v >= lo && v <= hi)) return false;
    *out = (float)v;
    return true;
}

bool qn_cli_one_of(const char *a, const char *const *names, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (strcmp(a, names[k]) == 0) return true;
    return false;
}

int qn_cli_check_out(const char *cmd, const char *opt, const char *path, const struct qn_cli_input *in, int n_in,
                     bool data, const char *data_dir) {
    struct qn_error e = {{0}};
    if (qn_output_check(path, &e)) {
        fprintf(stderr, "qnas %s: %s %s\n", cmd, opt, e.msg);
        return 2;
    }
    for (int k = 0; k < n_in; k++)
        if (in[k].path && qn_same_file(path, in[k].path)) {
            fprintf(stderr, "qnas %s: %s and %s are the same file (%s)\n", cmd, opt, in[k].opt, path);
            return 2;
        }
    // The four IDX files of the data folder, gzip-compressed or plain (idx.h).
    static const char *const idx_files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    for (size_t k = 0; data && k < 2 * sizeof(idx_files) / sizeof(idx_files[0]); k++) {
        char f[4096];
        snprintf(f, sizeof(f), "%s/%s%s", data_dir ? data_dir : QN_FMNIST_DIR, idx_files[k / 2], k % 2 ? ".gz" : "");
        if (access(f, F_OK) == 0 && qn_same_file(path, f)) {
            fprintf(stderr, "qnas %s: %s is the data file %s\n", cmd, opt, f);
            return 2;
        }
    }
    if (qn_output_creatable(path, &e)) {
        fprintf(stderr, "qnas %s: %s %s\n", cmd, opt, e.msg);
        return 2;
    }
    return 0;
}

int qn_cli_load_supernet(const char *cmd, const char *path, struct qn_mb_net *net) {
    struct qn_error e = {{0}};
    struct qn_safetensors st;
    if (qn_st_read(path, true, &st, &e)) {
        fprintf(stderr, "qnas %s: %s\n", cmd, e.msg);
        return 2;
    }
    const char *sp = qn_st_meta(&st, "space");
    const struct qn_mb_space *S = qn_mb_space_find(sp);
    if (!S) {
        fprintf(stderr, "qnas %s: %s: %s\n", cmd, path,
                sp ? "unknown space in the metadata" : "no 'space' in the metadata: not a qnas supernet");
        qn_st_free(&st);
        return 2;
    }
    enum qn_status s = qn_mb_net_init(net, S, &e);
    if (!s) s = qn_mb_net_load(net, &st, path, &e);
    qn_st_free(&st);
    if (s) {
        fprintf(stderr, "qnas %s: %s\n", cmd, e.msg);
        qn_mb_net_free(net);
        return 2;
    }
    return 0;
}
