// Shared pieces of the `qnas` subcommands (cli.h).
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
