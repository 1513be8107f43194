// Subnet inference benchmark: whole-network latency of deployable subnets (src/qnet.h) at
// FP32, INT8 (W8A8) and W4A8, batch 1 and 64, 1 and 2 threads, for the largest and the
// smallest subnet of mbconv-fmnist.
//
//   bench-subnet [--weights FILE] [--json FILE] [--rounds N] [--layers GENOME]
//
// --layers GENOME: instead, a per-layer profile of that subnet at batch 1 on one thread, FP32
// and INT8 side by side (median per layer over the rounds): where batch-1 time goes.
//
// The policies of one row are timed in alternation, round after round (each round: a median of
// a few runs per policy), and each reports the median over rounds, so a burst of load from
// another process lands on all of them alike. Weights: the bundled supernet when present (else
// He init: latency does not depend on the weight values); BN re-estimation and activation
// calibration use the Fashion-MNIST training images.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench-util.h"
#include "common.h"
#include "cpu.h"
#include "idx.h"
#include "qnet.h"
#include "safetensors.h"

#define MAX_ROUNDS 64

static const char *kind_name(enum qn_mb_layer_kind k) {
    switch (k) {
    case QN_MB_L_STEM: return "conv";
    case QN_MB_L_EXPAND: return "1x1";
    case QN_MB_L_DW: return "dw";
    case QN_MB_L_PROJECT: return "1x1";
    case QN_MB_L_HEAD: return "1x1+pool";
    case QN_MB_L_CLASSIFIER: return "fc";
    }
    return "?";
}

// Per-layer batch-1 profile of one subnet, FP32 vs INT8, one thread.
static int layer_profile(struct qn_mb_net *net, const struct qn_dataset *train, const char *text, int rounds) {
    const struct qn_mb_space *S = net->space;
    struct qn_error e = {{0}};
    struct qn_mb_genome g;
    if (qn_mb_genome_parse(S, text, &g, &e)) {
        fprintf(stderr, "bench-subnet: %s\n", e.msg);
        return 2;
    }
    struct qn_qnet q[2];
    struct qn_qnet_cfg cfg;
    qn_qnet_cfg_default(&cfg);
    cfg.bn_images = 500, cfg.calib_images = 200;
    const char *policies[] = {"fp32", "int8"};
    for (int p = 0; p < 2; p++) {
        struct qn_mb_policy pol;
        QN_ASSERT(qn_mb_policy_parse(S, &g, policies[p], &pol, &e) == QN_OK);
        if (qn_qnet_build(&q[p], net, &g, &pol, train, &cfg, &e)) {
            fprintf(stderr, "bench-subnet: %s\n", e.msg);
            return 1;
        }
    }
    const int L = q[0].n_layers, max_threads = qn_threads();
    qn_threads_set(1);
    double *t = calloc((size_t)2 * L * rounds, sizeof(double)), ms[QN_MB_MAX_LAYERS];
    QN_ASSERT(t);
    for (int r = 0; r < rounds; r++)
        for (int p = 0; p < 2; p++) {
            qn_qnet_latency_layers(&q[p], 1, 15, ms);
            for (int i = 0; i < L; i++) t[((size_t)p * L + i) * rounds + r] = ms[i];
        }
    printf("# per-layer latency, batch 1, 1 thread, us (median of %d rounds), ISA %s, genome %s\n", rounds,
           qn_isa_name(qn_isa()), text);
    printf("%-16s %-8s %5s %5s %2s %2s %9s %9s %9s %8s %8s\n", "layer", "kind", "cin", "cout", "k", "hw", "MACs",
           "fp32 us", "int8 us", "fp32 GF", "int8 GO");
    double sum[2] = {0, 0};
    uint64_t macs = 0;
    for (int i = 0; i < L; i++) {
        const struct qn_mb_layer *l = &q[0].layers[i].info;
        double u[2];
        for (int p = 0; p < 2; p++) {
            u[p] = 1e3 * qb_median_sort(t + ((size_t)p * L + i) * rounds, rounds);
            sum[p] += u[p];
        }
        macs += l->macs;
        printf("%-16s %-8s %5d %5d %2d %2d %9llu %9.1f %9.1f %8.1f %8.1f\n", l->name, kind_name(l->kind), l->cin,
               l->cout, l->k, l->h_out, (unsigned long long)l->macs, u[0], u[1], 2e-3 * l->macs / u[0],
               2e-3 * l->macs / u[1]);
    }
    printf("%-16s %-8s %5s %5s %2s %2s %9llu %9.1f %9.1f\n", "total", "", "", "", "", "",
           (unsigned long long)macs, sum[0], sum[1]);
    qn_threads_set(max_threads);
    free(t);
    for (int p = 0; p < 2; p++) qn_qnet_free(&q[p]);
    return 0;
}


int main(int argc, char **argv) {
    const char *wpath = "weights/mbconv-fmnist.safetensors", *json_path = NULL, *profile = NULL;
    int rounds = 15;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--weights") == 0) wpath = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--json") == 0) json_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--rounds") == 0) rounds = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--layers") == 0) profile = argv[++i];
        else {
            fprintf(stderr, "usage: bench-subnet [--weights FILE] [--json FILE] [--rounds N] [--layers GENOME]\n");
            return 2;
        }
    }
    if (rounds < 3 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench-subnet: --rounds expects 3..%d\n", MAX_ROUNDS);
        return 2;
    }
    qn_flush_denormals();
    const struct qn_mb_space *S = qn_mb_space_fmnist();
    struct qn_mb_net net;
    struct qn_error e = {{0}};
    if (qn_mb_net_init(&net, S, &e)) {
        fprintf(stderr, "bench-subnet: %s\n", e.msg);
        return 1;
    }
    qn_mb_net_init_weights(&net, 1);
    struct qn_safetensors st;
    bool trained = false;
    if (qn_st_read(wpath, true, &st, &e) == QN_OK) {
        trained = qn_mb_net_load(&net, &st, wpath, &e) == QN_OK;
        qn_st_free(&st);
    }
    struct qn_dataset train = {0};
    if (qn_dataset_load(NULL, QN_SPLIT_TRAIN, &train, &e)) {
        fprintf(stderr, "bench-subnet: %s\n", e.msg);
        return 2;
    }
    if (profile) return layer_profile(&net, &train, profile, rounds);
    printf("# subnet latency (ms, median of %d alternating rounds), weights: %s, ISA %s\n", rounds,
           trained ? wpath : "He init", qn_isa_name(qn_isa()));
    printf("%-8s %-6s %7s %5s %10s %10s %10s %10s %10s\n", "genome", "batch", "threads", "", "fp32", "int8", "w4a8",
           "int8/fp32", "w4a8/fp32");
    const char *genomes[] = {"max", "min"};
    const char *policies[] = {"fp32", "int8", "int4"};
    cJSON *rows = cJSON_CreateArray();
    const int max_threads = qn_threads();
    for (int gi = 0; gi < 2; gi++) {
        struct qn_mb_genome g;
        QN_ASSERT(qn_mb_genome_parse(S, genomes[gi], &g, &e) == QN_OK);
        struct qn_qnet q[3];
        struct qn_qnet_cfg cfg;
        qn_qnet_cfg_default(&cfg);
        cfg.bn_images = 500, cfg.calib_images = 200;
        for (int p = 0; p < 3; p++) {
            struct qn_mb_policy pol;
            QN_ASSERT(qn_mb_policy_parse(S, &g, policies[p], &pol, &e) == QN_OK);
            if (qn_qnet_build(&q[p], &net, &g, &pol, &train, &cfg, &e)) {
                fprintf(stderr, "bench-subnet: %s\n", e.msg);
                return 1;
            }
        }
        for (int th = 1; th <= QN_MIN(2, max_threads); th++) {
            qn_threads_set(th);
            for (int bi = 0; bi < 2; bi++) {
                const int n = bi ? 64 : 1, reps = bi ? 3 : 15;
                double t[3][MAX_ROUNDS], med[3];
                for (int r = 0; r < rounds; r++)
                    for (int p = 0; p < 3; p++) t[p][r] = qn_qnet_latency(&q[p], n, reps).median_ms;
                for (int p = 0; p < 3; p++) med[p] = qb_median_sort(t[p], rounds);
                printf("%-8s %-6d %7d %5s %10.3f %10.3f %10.3f %10.2f %10.2f\n", genomes[gi], n, th, "", med[0], med[1],
                       med[2], med[1] / med[0], med[2] / med[0]);
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "genome", genomes[gi]);
                cJSON_AddNumberToObject(o, "batch", n);
                cJSON_AddNumberToObject(o, "threads", th);
                cJSON_AddNumberToObject(o, "fp32_ms", med[0]);
                cJSON_AddNumberToObject(o, "int8_ms", med[1]);
                cJSON_AddNumberToObject(o, "w4a8_ms", med[2]);
                cJSON_AddNumberToObject(o, "int8_over_fp32", med[1] / med[0]);
                cJSON_AddNumberToObject(o, "w4a8_over_fp32", med[2] / med[0]);
                cJSON_AddItemToArray(rows, o);
            }
        }
        qn_threads_set(max_threads);
        for (int p = 0; p < 3; p++) qn_qnet_free(&q[p]);
    }
    if (json_path && qb_json_write("bench-subnet", rows, json_path)) return 1;
    cJSON_Delete(rows);
    qn_mb_net_free(&net);
    qn_dataset_free(&train);
    return 0;
}
