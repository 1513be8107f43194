// Training benchmark: throughput of the supernet training engine on the largest subnet of
// mbconv-fmnist (forward + backward + gradient reset, batch 128), the sandwich step that
// `qnas train` runs (largest + smallest + 2 random subnets), and the backward / forward time
// ratio per layer type, at 1 and 2 threads.
//
//   bench-train [--json FILE] [--batch N] [--steps N] [--threads N]
//
// Throughput is also given MAC-normalized: images/s x MACs of one image's forward pass
// ("image-MACs/s"), the unit in which networks of different size can be compared. Timing: the
// median of `steps` timed steps after 2 warm-up steps, wall clock. Inputs are random (speed
// does not depend on the pixel values; denormals are flushed as in `qnas train`).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench-util.h"
#include "common.h"
#include "cpu.h"
#include "nn.h"
#include "supernet.h"


struct ctx {
    struct qn_mb_net net;
    struct qn_mb_run *run;
    float *x, *dlogits, *teacher;
    uint8_t *lab;
    int B;
};

// One training step of subnet g: forward, loss, backward (gradients accumulate).
static void step(struct ctx *c, const struct qn_mb_genome *g, bool distill) {
    const int K = c->net.space->n_classes;
    const float *z = qn_mb_forward(&c->net, g, c->run, c->x, c->B, QN_MB_TRAIN, 0);
    qn_nn_softmax_xent(c->B, K, z, distill ? NULL : c->lab, 0.1f, distill ? c->teacher : NULL, c->dlogits, NULL);
    if (!distill) qn_nn_softmax(c->B, K, z, c->teacher);
    qn_mb_backward(&c->net, g, c->run, c->dlogits);
}

int main(int argc, char **argv) {
    const char *json_path = NULL;
    int B = 128, steps = 9, only_threads = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--json") == 0) json_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--batch") == 0) B = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--steps") == 0) steps = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0) only_threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-train [--json FILE] [--batch N] [--steps N] [--threads N]\n");
            return 2;
        }
    }
    if (B < 2 || B > 1024 || steps < 1 || steps > 1000 || only_threads < 0) {
        fprintf(stderr, "bench-train: bad --batch, --steps or --threads\n");
        return 2;
    }
    qn_flush_denormals();
    struct ctx c = {.B = B};
    struct qn_error e;
    const struct qn_mb_space *S = qn_mb_space_fmnist();
    if (qn_mb_net_init(&c.net, S, &e) || qn_mb_net_alloc_grad(&c.net, &e)) {
        fprintf(stderr, "bench-train: %s\n", e.msg);
        return 1;
    }
    qn_mb_net_init_weights(&c.net, 1);
    c.run = qn_mb_run_new(&c.net, B);
    const size_t nx = (size_t)B * S->in_h * S->in_w * S->in_c;
    c.x = qn_alloc(sizeof(float) * nx);
    c.dlogits = qn_alloc(sizeof(float) * (size_t)B * S->n_classes);
    c.teacher = qn_alloc(sizeof(float) * (size_t)B * S->n_classes);
    c.lab = malloc((size_t)B);
    QN_ASSERT(c.run && c.x && c.dlogits && c.teacher && c.lab);
    uint64_t st = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < nx; i++) {
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        c.x[i] = (float)((st >> 40) & 0xffff) / 32768.0f - 1.0f;
    }
    for (int b = 0; b < B; b++) c.lab[b] = (uint8_t)(b % S->n_classes);
    struct qn_mb_genome gmax, gmin, gr;
    qn_mb_genome_max(S, &gmax);
    qn_mb_genome_min(S, &gmin);
    struct qn_mb_cost cmax, cmin;
    qn_mb_genome_cost(S, &gmax, &cmax);
    qn_mb_genome_cost(S, &gmin, &cmin);

    printf("# training benchmark: mbconv-fmnist, batch %d, median of %d steps (ISA %s)\n", B, steps,
           qn_isa_name(qn_isa()));
    printf("# largest subnet %.2f M MACs per image (forward); smallest %.2f M\n", cmax.macs / 1e6, cmin.macs / 1e6);
    printf("%-34s %7s %10s %12s %16s\n", "row", "threads", "ms/step", "images/s", "G image-MACs/s");
    cJSON *rows = cJSON_CreateArray();
    const int max_threads = qn_threads();
    for (int th = 1; th <= QN_MIN(2, max_threads); th++) {
        if (only_threads && th != only_threads) continue;
        qn_threads_set(th);
        // largest subnet: forward + backward + gradient reset
        double t[1000], tf[1000];
        struct qn_mb_prof prof[1000];
        for (int i = -2; i < steps; i++) {
            struct qn_mb_prof p;
            memset(&p, 0, sizeof(p));
            qn_mb_run_profile(c.run, i >= 0 ? &p : NULL);
            double t0 = qn_now();
            memset(c.net.grad, 0, c.net.n_floats * sizeof(float));
            step(&c, &gmax, false);
            double t1 = qn_now();
            if (i >= 0) t[i] = t1 - t0, prof[i] = p;
        }
        qn_mb_run_profile(c.run, NULL);
        // forward only (eval-free: training-mode BN, as the step above)
        for (int i = -1; i < steps; i++) {
            double t0 = qn_now();
            qn_mb_forward(&c.net, &gmax, c.run, c.x, B, QN_MB_TRAIN, 0);
            if (i >= 0) tf[i] = qn_now() - t0;
        }
        double ms = qb_median_sort(t, steps) * 1e3, fms = qb_median_sort(tf, steps) * 1e3;
        double ips = B / (ms * 1e-3), gmacs = ips * cmax.macs / 1e9;
        printf("%-34s %7d %10.1f %12.0f %16.2f\n", "largest subnet fwd+bwd", th, ms, ips, gmacs);
        printf("%-34s %7d %10.1f %12.0f %16.2f\n", "largest subnet fwd", th, fms, B / (fms * 1e-3),
               B / (fms * 1e-3) * cmax.macs / 1e9);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "row", "largest_fwd_bwd");
        cJSON_AddNumberToObject(r, "threads", th);
        cJSON_AddNumberToObject(r, "batch", B);
        cJSON_AddNumberToObject(r, "ms_per_step", ms);
        cJSON_AddNumberToObject(r, "images_per_s", ips);
        cJSON_AddNumberToObject(r, "g_image_macs_per_s", gmacs);
        cJSON_AddNumberToObject(r, "forward_ms", fms);
        // per layer type: medians of the per-step sums
        cJSON *types = cJSON_CreateArray();
        for (int k = 0; k < QN_MB_PROF_COUNT; k++) {
            double f[1000], b[1000];
            for (int i = 0; i < steps; i++) f[i] = prof[i].fwd[k], b[i] = prof[i].bwd[k];
            double fm = qb_median_sort(f, steps) * 1e3, bm = qb_median_sort(b, steps) * 1e3;
            char name[64];
            snprintf(name, sizeof(name), "  %s: fwd %.1f ms, bwd %.1f ms", qn_mb_prof_name((enum qn_mb_prof_kind)k), fm,
                     bm);
            printf("%-50s bwd/fwd %.2f\n", name, fm > 0 ? bm / fm : 0.0);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "layer_type", qn_mb_prof_name((enum qn_mb_prof_kind)k));
            cJSON_AddNumberToObject(o, "forward_ms", fm);
            cJSON_AddNumberToObject(o, "backward_ms", bm);
            if (fm > 0) cJSON_AddNumberToObject(o, "backward_over_forward", bm / fm);
            else cJSON_AddNullToObject(o, "backward_over_forward");
            cJSON_AddItemToArray(types, o);
        }
        cJSON_AddItemToObject(r, "layer_types", types);
        cJSON_AddItemToArray(rows, r);
        // the sandwich step of `qnas train`: largest (labels), smallest and 2 random (distilled)
        uint64_t rng = 12345;
        for (int i = -1; i < steps; i++) {
            double t0 = qn_now();
            memset(c.net.grad, 0, c.net.n_floats * sizeof(float));
            step(&c, &gmax, false);
            step(&c, &gmin, true);
            for (int j = 0; j < 2; j++) {
                qn_mb_genome_sample(S, &rng, &gr);
                step(&c, &gr, true);
            }
            if (i >= 0) t[i] = qn_now() - t0;
        }
        double sms = qb_median_sort(t, steps) * 1e3;
        printf("%-34s %7d %10.1f %12.0f %16s\n", "sandwich step (4 subnets)", th, sms, B / (sms * 1e-3), "-");
        r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "row", "sandwich_step");
        cJSON_AddNumberToObject(r, "threads", th);
        cJSON_AddNumberToObject(r, "batch", B);
        cJSON_AddNumberToObject(r, "ms_per_step", sms);
        cJSON_AddNumberToObject(r, "images_per_s", B / (sms * 1e-3));
        cJSON_AddItemToArray(rows, r);
    }
    qn_threads_set(max_threads);
    if (json_path && qb_json_write("bench-train", rows, json_path)) return 1;
    cJSON_Delete(rows);
    qn_mb_run_free(c.run);
    qn_free(c.x), qn_free(c.dlogits), qn_free(c.teacher), free(c.lab);
    qn_mb_net_free(&c.net);
    return 0;
}
