// Subnet inference benchmark: whole-network latency of deployable subnets (src/qnet.h) at
// FP32, INT8 (W8A8) and W4A8, batch 1 and 64, 1 and 2 threads, for the largest and the
// smallest subnet of mbconv-fmnist.
//
//   bench-subnet [--weights FILE] [--json FILE] [--rounds N]
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


int main(int argc, char **argv) {
    const char *wpath = "weights/mbconv-fmnist.safetensors", *json_path = NULL;
    int rounds = 15;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--weights") == 0) wpath = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--json") == 0) json_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--rounds") == 0) rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-subnet [--weights FILE] [--json FILE] [--rounds N]\n");
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
