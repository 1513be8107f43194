// The MBConv supernet: parameter layout, save/load, and end-to-end gradients of subnets.
#include <math.h>
#include <unistd.h>

#include "nn.h"
#include "supernet.h"
#include "test.h"

static const struct qn_mb_space *S;

static double logits_dot(struct qn_mb_net *net, const struct qn_mb_genome *g, struct qn_mb_run *r,
                         const float *x, int B, const float *rr) {
    const float *z = qn_mb_forward(net, g, r, x, B, QN_MB_TRAIN, 0);
    double s = 0;
    for (int i = 0; i < B * S->n_classes; i++) s += (double)z[i] * rr[i];
    return s;
}

// Whole-network gradient against finite differences, for the largest, smallest and a random
// subnet. Float forward with batch-statistics BN and ReLU6 kinks: compared as vectors over a
// sample of parameters (relative error of the sampled gradient vector).
static void subnet_gradients(void) {
    struct qn_mb_net net;
    struct qn_error e;
    // The same space with GELU everywhere: smooth, so central differences are accurate and a
    // wiring mistake cannot hide behind ReLU6 kinks (the layers' own backward passes, kinks
    // included, are checked in test-nn-grad).
    struct qn_mb_space smooth = *S;
    smooth.act_block = smooth.act_outer = QN_ACT_GELU;
    QN_ASSERT(qn_mb_net_init(&net, &smooth, &e) == QN_OK);
    QN_ASSERT(qn_mb_net_alloc_grad(&net, &e) == QN_OK);
    qn_mb_net_init_weights(&net, 3);
    // non-zero projection gammas so every block's gradient is exercised
    for (size_t t = 0; t < net.n_tensors; t++)
        if (strstr(net.tensors[t].name, ".bn.weight"))
            for (size_t i = 0; i < net.tensors[t].count; i++) net.w[net.tensors[t].offset + i] = 0.5f + 0.5f * qt_float(0, 1);
    // kernel transforms away from the identity, so the elastic-kernel chain is exercised
    for (size_t t = 0; t < net.n_tensors; t++)
        if (strstr(net.tensors[t].name, ".kernel_transform_"))
            for (size_t i = 0; i < net.tensors[t].count; i++) net.w[net.tensors[t].offset + i] += 0.2f * qt_float(-1, 1);
    const int B = 2;
    struct qn_mb_run *r = qn_mb_run_new(&net, B);
    size_t nx = (size_t)B * S->in_h * S->in_w * S->in_c;
    float *x = malloc(sizeof(float) * nx), rr[2 * 10];
    qt_fill_f32(x, nx, -1, 1);
    qt_fill_f32(rr, sizeof(rr) / sizeof(rr[0]), -1, 1);
    // min: every kernel 3x3 (two transforms chained); the last one mixes 3, 5 and 7
    const char *names[4] = {"max", "min", "random:5", "k5e6,k3e3/k5e4,k7e3/k3e6,k5e3/k3e4,k5e6/k5e3,k3e6"};
    for (int gi = 0; gi < 4; gi++) {
        struct qn_mb_genome g;
        QN_ASSERT(qn_mb_genome_parse(S, names[gi], &g, &e) == QN_OK);
        memset(net.grad, 0, net.n_floats * sizeof(float));
        logits_dot(&net, &g, r, x, B, rr);
        qn_mb_backward(&net, &g, r, rr);
        double num2 = 0, err2 = 0;
        int used = 0, nonzero_outside = 0;
        int samples = qt_quick() ? 24 : 60;
        for (int sidx = 0; sidx < samples; sidx++) {
            // a third of the samples on the depthwise weights and kernel transforms
            const bool dw_only = sidx % 3 == 0;
            const struct qn_mb_tensor *tt;
            do tt = &net.tensors[qt_u64() % net.n_tensors];
            while (!tt->trainable || (dw_only && !strstr(tt->name, ".kernel_transform_") && !strstr(tt->name, ".dw.weight")));
            size_t i = tt->offset + (size_t)(qt_u64() % tt->count);
            float keep = net.w[i], h = 1e-2f;
            net.w[i] = keep + h;
            double lp = logits_dot(&net, &g, r, x, B, rr);
            net.w[i] = keep - h;
            double lm = logits_dot(&net, &g, r, x, B, rr);
            net.w[i] = keep;
            double num = (lp - lm) / (2 * h);
            num2 += num * num, err2 += (num - net.grad[i]) * (num - net.grad[i]);
            used++;
            if (num == 0.0 && net.grad[i] != 0.0f) nonzero_outside++;
        }
        double rel = sqrt(err2 / (num2 + 1e-30));
        printf("    %-9.9s %d sampled partials, relative error %.2e\n", names[gi], used, rel);
        QT_CHECK(rel < 3e-2, "%s: relative gradient error %.3g", names[gi], rel);
        QT_CHECK(nonzero_outside == 0, "%s: %d gradients on parameters the subnet does not use", names[gi],
                 nonzero_outside);
        QT_CHECK(num2 > 0, "%s: all sampled gradients zero", names[gi]);
    }
    qn_mb_run_free(r);
    free(x);
    qn_mb_net_free(&net);
}

// qn_mb_dw_kernel: the identity transforms give the plain centre crop; a non-identity
// transform is applied as w_3 = T_3 centre(T_5 centre(w_7)), checked against a direct loop.
static void kernel_transform(void) {
    struct qn_mb_net net;
    struct qn_error e;
    QN_ASSERT(qn_mb_net_init(&net, S, &e) == QN_OK);
    qn_mb_net_init_weights(&net, 5);
    const int stage = 1, block = 2, cin = qn_mb_block_cin(S, stage, block), ce = cin * 4, cemax = cin * qn_mb_emax(S);
    const struct qn_mb_block_params *bp = &net.blocks[stage][block];
    const float *w7 = net.w + bp->dw.w;
    float got[49 * 96], w5[25 * 96], want[9 * 96];
    QN_ASSERT(ce <= 96);
    for (int k = 3; k <= 7; k += 2) {
        qn_mb_dw_kernel(&net, stage, block, k, ce, got);
        int o = (7 - k) / 2, bad = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                for (int c = 0; c < ce; c++)
                    bad += got[(i * k + j) * ce + c] != w7[((i + o) * 7 + j + o) * cemax + c];
        QT_CHECK(bad == 0, "k=%d: identity transforms are not the centre crop (%d differ)", k, bad);
    }
    float *t5 = net.w + bp->ktrans[1], *t3 = net.w + bp->ktrans[0];
    for (int i = 0; i < 625; i++) t5[i] = qt_float(-1, 1);
    for (int i = 0; i < 81; i++) t3[i] = qt_float(-1, 1);
    for (int t = 0; t < 25; t++)
        for (int c = 0; c < ce; c++) {
            double a = 0;
            for (int u = 0; u < 25; u++) a += (double)t5[t * 25 + u] * w7[((u / 5 + 1) * 7 + u % 5 + 1) * cemax + c];
            w5[t * ce + c] = (float)a;
        }
    for (int t = 0; t < 9; t++)
        for (int c = 0; c < ce; c++) {
            double a = 0;
            for (int u = 0; u < 9; u++) a += (double)t3[t * 9 + u] * w5[((u / 3 + 1) * 5 + u % 3 + 1) * ce + c];
            want[t * ce + c] = (float)a;
        }
    qn_mb_dw_kernel(&net, stage, block, 3, ce, got);
    double err = 0, ref = 0;
    for (int i = 0; i < 9 * ce; i++) err = fmax(err, fabs(got[i] - want[i])), ref = fmax(ref, fabs(want[i]));
    QT_CHECK(err <= 1e-5 * ref, "3x3 through two transforms: max error %.3g of %.3g", err, ref);
    qn_mb_net_free(&net);
}

static void save_load_roundtrip(void) {
    struct qn_mb_net a, b;
    struct qn_error e;
    QN_ASSERT(qn_mb_net_init(&a, S, &e) == QN_OK && qn_mb_net_init(&b, S, &e) == QN_OK);
    qn_mb_net_init_weights(&a, 11);
    struct qn_st_entry *ent = calloc(a.n_tensors, sizeof(*ent));
    size_t n = qn_mb_net_entries(&a, ent);
    char path[128];
    snprintf(path, sizeof(path), "/tmp/qnas-test-supernet.%ld.safetensors", (long)getpid());
    const char *k[1] = {"space"}, *v[1] = {S->name};
    QT_CHECK(qn_st_write(path, ent, n, k, v, 1, &e) == QN_OK, "write: %s", e.msg);
    struct qn_safetensors st;
    QT_CHECK(qn_st_read(path, true, &st, &e) == QN_OK, "read: %s", e.msg);
    QT_CHECK(qn_mb_net_load(&b, &st, path, &e) == QN_OK, "load: %s", e.msg);
    QT_CHECK(memcmp(a.w, b.w, a.n_floats * sizeof(float)) == 0, "weights differ after the roundtrip");
    qn_st_free(&st);
    // a tensor with the wrong shape is named in the error
    ent[3].shape[0] += 1;
    float *big = calloc(1 << 20, sizeof(float));
    ent[3].data = big;
    QN_ASSERT(qn_st_write(path, ent, n, k, v, 1, &e) == QN_OK);
    QN_ASSERT(qn_st_read(path, true, &st, &e) == QN_OK);
    QT_CHECK(qn_mb_net_load(&b, &st, path, &e) == QN_ERR_FORMAT && strstr(e.msg, a.tensors[3].name),
             "wrong shape: %s", e.msg);
    qn_st_free(&st);
    // a missing tensor
    ent[3].shape[0] -= 1;
    ent[3].data = a.w + a.tensors[3].offset;
    QN_ASSERT(qn_st_write(path, ent, n - 1, k, v, 1, &e) == QN_OK);
    QN_ASSERT(qn_st_read(path, true, &st, &e) == QN_OK);
    QT_CHECK(qn_mb_net_load(&b, &st, path, &e) == QN_ERR_FORMAT && strstr(e.msg, "missing"), "missing: %s", e.msg);
    qn_st_free(&st);
    unlink(path);
    free(big), free(ent);
    qn_mb_net_free(&a), qn_mb_net_free(&b);
}

int main(int argc, char **argv) {
    (void)argc;
    S = qn_mb_space_fmnist();
    qt_seed(99);
    QT_RUN(save_load_roundtrip);
    QT_RUN(kernel_transform);
    QT_RUN(subnet_gradients);
    return qt_finish(argv[0]);
}
