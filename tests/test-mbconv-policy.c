// Layers of MBConv subnets and their quantization policies: shapes and MACs against
// qn_mb_genome_cost and the supernet's tensors, the policy text form (shorthands, mixed,
// overrides, canonical round trip), every error class, random and mutated input, exact sizes.
#include "mbconv-policy.h"
#include "supernet.h"
#include "test.h"

static const struct qn_mb_space *S;

// A space small enough to count by hand: 8x8x1 input, one stage of up to two blocks.
static const struct qn_mb_space tiny = {
    .name = "tiny",
    .in_h = 8, .in_w = 8, .in_c = 1, .n_classes = 2,
    .stem_c = 2, .stem_k = 3, .stem_stride = 1,
    .n_stages = 1,
    .stage_c = {4},
    .stage_stride = {2},
    .head_c = 8,
    .n_depths = 2, .depths = {1, 2},
    .n_kernels = 2, .kernels = {3, 5},
    .n_expands = 1, .expands = {2},
};

static int n_blocks(const struct qn_mb_space *s, const struct qn_mb_genome *g) {
    int n = 0;
    for (int i = 0; i < s->n_stages; i++) n += g->depth[i];
    return n;
}

// Genome i of a test sweep: max, min, then random ones.
static void sweep_genome(int i, struct qn_mb_genome *g) {
    if (i == 0)
        qn_mb_genome_max(S, g);
    else if (i == 1)
        qn_mb_genome_min(S, g);
    else
        qn_mb_genome_random(S, (uint64_t)i * 7919, g);
}

// --- layers ---

static void layers_match_cost(void) {
    const int n_genomes = qt_quick() ? 60 : 400;
    for (int gi = 0; gi < n_genomes; gi++) {
        struct qn_mb_genome g;
        sweep_genome(gi, &g);
        struct qn_mb_layer L[QN_MB_MAX_LAYERS];
        int n = qn_mb_layers(S, &g, L);
        QT_CHECK(n == 3 + 3 * n_blocks(S, &g) && n <= QN_MB_MAX_LAYERS, "genome %d: %d layers", gi, n);
        struct qn_mb_cost c;
        qn_mb_genome_cost(S, &g, &c);
        uint64_t macs = 0, params = 0;
        for (int i = 0; i < n; i++) {
            macs += L[i].macs;
            // batch norm scale + shift after every conv; the classifier has its own bias
            params += L[i].weights + (L[i].kind == QN_MB_L_CLASSIFIER ? 1 : 2) * (uint64_t)L[i].cout;
        }
        QT_CHECK(macs == c.macs, "genome %d: layers sum to %llu MACs, cost says %llu", gi, (unsigned long long)macs,
                 (unsigned long long)c.macs);
        QT_CHECK(params == c.params, "genome %d: layers give %llu params, cost says %llu", gi,
                 (unsigned long long)params, (unsigned long long)c.params);
        // the chain: each layer consumes what the one before produced
        QT_CHECK(L[0].kind == QN_MB_L_STEM && L[0].h == S->in_h && L[0].cin == S->in_c, "stem");
        for (int i = 1; i < n; i++) {
            const struct qn_mb_layer *a = &L[i - 1], *b = &L[i];
            QT_CHECK(b->cin == a->cout, "genome %d: %s cin %d after %s cout %d", gi, b->name, b->cin, a->name, a->cout);
            if (b->kind != QN_MB_L_CLASSIFIER)
                QT_CHECK(b->h == a->h_out && b->w == a->w_out, "genome %d: %s input %dx%d after %dx%d", gi, b->name,
                         b->h, b->w, a->h_out, a->w_out);
            QT_CHECK(b->h_out == (b->h - 1) / b->stride + 1 && b->w_out == (b->w - 1) / b->stride + 1, "%s out",
                     b->name);
        }
        int i = 1;
        for (int st = 0; st < S->n_stages; st++)
            for (int bl = 0; bl < g.depth[st]; bl++, i += 3) {
                const struct qn_mb_layer *ex = &L[i], *dw = &L[i + 1], *pr = &L[i + 2];
                int cin = qn_mb_block_cin(S, st, bl), ce = cin * g.expand[st][bl], stride = bl ? 1 : S->stage_stride[st];
                QT_CHECK(ex->kind == QN_MB_L_EXPAND && dw->kind == QN_MB_L_DW && pr->kind == QN_MB_L_PROJECT, "kinds");
                QT_CHECK(ex->stage == st && ex->block == bl && dw->stage == st && pr->block == bl, "%s indices",
                         ex->name);
                QT_CHECK(ex->cin == cin && ex->cout == ce && ex->k == 1 && ex->stride == 1, "%s shape", ex->name);
                QT_CHECK(dw->cin == ce && dw->cout == ce && dw->k == g.kernel[st][bl] && dw->stride == stride,
                         "%s shape", dw->name);
                QT_CHECK(dw->weights == (uint64_t)ce * dw->k * dw->k, "%s weights", dw->name);
                QT_CHECK(pr->cin == ce && pr->cout == S->stage_c[st] && pr->k == 1, "%s shape", pr->name);
                QT_CHECK(pr->residual == (stride == 1 && cin == S->stage_c[st]), "%s residual", pr->name);
                QT_CHECK(!ex->residual && !dw->residual, "residual only on project layers");
            }
        QT_CHECK(i == n - 2 && L[i].kind == QN_MB_L_HEAD && L[i + 1].kind == QN_MB_L_CLASSIFIER, "head last");
        QT_CHECK(L[n - 1].h == 1 && L[n - 1].h_out == 1 && L[n - 1].k == 1 && L[n - 1].cout == S->n_classes,
                 "classifier shape");
    }
}

// The max genome's layers are exactly the supernet's full tensors, under the same names.
static void layers_match_supernet_tensors(void) {
    struct qn_mb_net net;
    struct qn_error e;
    QN_ASSERT(qn_mb_net_init(&net, S, &e) == QN_OK);
    struct qn_mb_genome g;
    qn_mb_genome_max(S, &g);
    struct qn_mb_layer L[QN_MB_MAX_LAYERS];
    int n = qn_mb_layers(S, &g, L);
    for (int i = 0; i < n; i++) {
        char want[64];
        const char *nm = L[i].name;
        if (L[i].kind == QN_MB_L_STEM || L[i].kind == QN_MB_L_HEAD)
            snprintf(want, sizeof(want), "%s.conv.weight", nm);
        else
            snprintf(want, sizeof(want), "%s.weight", nm);
        const struct qn_mb_tensor *t = NULL;
        for (size_t j = 0; j < net.n_tensors && !t; j++)
            if (strcmp(net.tensors[j].name, want) == 0) t = &net.tensors[j];
        QT_CHECK(t != NULL, "no supernet tensor %s", want);
        if (!t) continue;
        QT_CHECK(t->count == L[i].weights, "%s: %llu weights, tensor %s has %zu", nm,
                 (unsigned long long)L[i].weights, want, t->count);
        QT_CHECK(t->shape[0] == (L[i].kind == QN_MB_L_DW ? L[i].k : L[i].cout), "%s: leading dim", nm);
    }
    qn_mb_net_free(&net);
}

static void layers_named_and_sized(void) {
    struct qn_mb_genome g;
    qn_mb_genome_max(S, &g);
    struct qn_mb_layer L[QN_MB_MAX_LAYERS];
    int n = qn_mb_layers(S, &g, L);
    QT_CHECK(n == 63, "max genome: %d layers", n);
    const char *names[] = {"stem", "s1.b1.expand", "s1.b1.dw", "s1.b1.project", "s1.b2.expand"};
    for (int i = 0; i < 5; i++) QT_CHECK(strcmp(L[i].name, names[i]) == 0, "layer %d named %s", i, L[i].name);
    QT_CHECK(strcmp(L[n - 2].name, "head") == 0 && strcmp(L[n - 1].name, "classifier") == 0, "head names");
    QT_CHECK(strcmp(L[n - 3].name, "s5.b4.project") == 0, "last block %s", L[n - 3].name);
    QT_CHECK(L[0].stage == -1 && L[0].block == -1 && L[n - 1].stage == -1 && L[n - 2].block == -1, "-1 indices");
    // stem: 3x3, 1 -> 8 channels at 28x28
    QT_CHECK(L[0].weights == 72 && L[0].macs == 28 * 28 * 72 && L[0].h_out == 28, "stem");
    // s2.b1.dw (index 1 + 3 * 4 + 1): 12 * 6 = 72 channels, 7x7, stride 2, 14x14 -> 7x7
    const struct qn_mb_layer *d = &L[14];
    QT_CHECK(strcmp(d->name, "s2.b1.dw") == 0 && d->cin == 72 && d->cout == 72 && d->k == 7 && d->stride == 2 &&
                 d->h == 14 && d->h_out == 7 && d->w_out == 7 && d->macs == 7 * 7 * 49 * 72,
             "%s: %d->%d k%d s%d %dx%d -> %dx%d", d->name, d->cin, d->cout, d->k, d->stride, d->h, d->w, d->h_out,
             d->w_out);
    // residuals: s1.b1 changes width and stride; s1.b2 adds the shortcut; s4.b1 (stride 1, 32 -> 48) does not
    QT_CHECK(!L[3].residual && L[6].residual, "stage 1 residuals");
    const struct qn_mb_layer *s4b1p = &L[1 + 3 * 12 + 2], *s4b2p = &L[1 + 3 * 13 + 2];
    QT_CHECK(strcmp(s4b1p->name, "s4.b1.project") == 0 && !s4b1p->residual && s4b2p->residual, "stage 4 residuals");
    // head at the last resolution: 28 / 2 / 2 / 2 = 4x4 (28 -> 14 -> 7 -> 4)
    QT_CHECK(L[n - 2].h == 4 && L[n - 2].cin == 96 && L[n - 2].cout == 256, "head %dx%d", L[n - 2].h, L[n - 2].w);
    QT_CHECK(L[n - 1].cin == 256 && L[n - 1].weights == 2560 && L[n - 1].macs == 2560, "classifier");
    // names of a shallower genome skip nothing: blocks renumber per stage
    qn_mb_genome_min(S, &g);
    n = qn_mb_layers(S, &g, L);
    QT_CHECK(n == 33 && strcmp(L[7].name, "s2.b1.expand") == 0, "min genome: %d layers, L[7] %s", n, L[7].name);
}

static struct qn_mb_genome tiny_genome(void) {
    struct qn_mb_genome g;
    memset(&g, 0, sizeof(g));
    g.depth[0] = 2;
    g.kernel[0][0] = 3, g.expand[0][0] = 2;
    g.kernel[0][1] = 5, g.expand[0][1] = 2;
    return g;
}

static void tiny_by_hand(void) {
    struct qn_mb_genome g = tiny_genome(), h;
    struct qn_error e;
    QT_CHECK(qn_mb_genome_parse(&tiny, "k3e2,k5e2", &h, &e) == QN_OK && memcmp(&g, &h, sizeof(g)) == 0, "%s",
             e.msg);
    struct qn_mb_layer L[QN_MB_MAX_LAYERS];
    int n = qn_mb_layers(&tiny, &g, L);
    // stem 3x3 1->2 at 8x8; b1: 2->4 expand at 8x8, 3x3 dw stride 2 -> 4x4, 4->4 project;
    // b2: 4->8 expand, 5x5 dw, 8->4 project (+ identity); head 4->8 at 4x4; classifier 8->2
    static const struct { const char *name; int cin, cout, k, h, ho; uint64_t w, macs; bool res; } want[] = {
        {"stem", 1, 2, 3, 8, 8, 18, 1152, false},
        {"s1.b1.expand", 2, 4, 1, 8, 8, 8, 512, false},
        {"s1.b1.dw", 4, 4, 3, 8, 4, 36, 576, false},
        {"s1.b1.project", 4, 4, 1, 4, 4, 16, 256, false},
        {"s1.b2.expand", 4, 8, 1, 4, 4, 32, 512, false},
        {"s1.b2.dw", 8, 8, 5, 4, 4, 200, 3200, false},
        {"s1.b2.project", 8, 4, 1, 4, 4, 32, 512, true},
        {"head", 4, 8, 1, 4, 4, 32, 512, false},
        {"classifier", 8, 2, 1, 1, 1, 16, 16, false},
    };
    QT_CHECK(n == 9, "%d layers", n);
    for (int i = 0; i < 9 && i < n; i++)
        QT_CHECK(strcmp(L[i].name, want[i].name) == 0 && L[i].cin == want[i].cin && L[i].cout == want[i].cout &&
                     L[i].k == want[i].k && L[i].h == want[i].h && L[i].h_out == want[i].ho &&
                     L[i].weights == want[i].w && L[i].macs == want[i].macs && L[i].residual == want[i].res,
                 "layer %d: %s %d->%d k%d %d->%d w%llu macs%llu res%d", i, L[i].name, L[i].cin, L[i].cout, L[i].k,
                 L[i].h, L[i].h_out, (unsigned long long)L[i].weights, (unsigned long long)L[i].macs, L[i].residual);
    struct qn_mb_cost c;
    qn_mb_genome_cost(&tiny, &g, &c);
    QT_CHECK(c.macs == 7248 && c.params == 476, "tiny cost %llu MACs %llu params", (unsigned long long)c.macs,
             (unsigned long long)c.params);

    // sizes: quantized ceil(w * b / 8) + 8 * cout + 8, FP32 4 * w + 4 * cout
    struct qn_mb_policy p;
    qn_mb_policy_uniform(&tiny, &g, 8, 8, &p);
    // 42 + 48 + 76 + 56 + 104 + 272 + 72 + 104 + 40
    QT_CHECK(qn_mb_policy_size_bytes(&tiny, &g, &p) == 814, "int8 %llu",
             (unsigned long long)qn_mb_policy_size_bytes(&tiny, &g, &p));
    qn_mb_policy_uniform(&tiny, &g, 0, 0, &p);
    // 80 + 48 + 160 + 80 + 160 + 832 + 144 + 160 + 72
    QT_CHECK(qn_mb_policy_size_bytes(&tiny, &g, &p) == 1736, "fp32 %llu",
             (unsigned long long)qn_mb_policy_size_bytes(&tiny, &g, &p));
    QT_CHECK(1736 == 4 * (c.params - (2 + 4 + 4 + 4 + 8 + 8 + 4 + 8)), "fp32 = qnas eval's folded size");
    qn_mb_policy_uniform(&tiny, &g, 4, 8, &p);
    // int8 minus half of the 390 weight bytes
    QT_CHECK(qn_mb_policy_size_bytes(&tiny, &g, &p) == 814 - 195, "int4 %llu",
             (unsigned long long)qn_mb_policy_size_bytes(&tiny, &g, &p));
    // stem W3: ceil(54 / 8) = 7 -> 31; e1 W8 48; dw1 FP32 160; p1 W4A4 8 + 32 + 8 = 48;
    // e2 W2 8 + 64 + 8 = 80; dw2 W5 125 + 64 + 8 = 197; p2 W6 24 + 32 + 8 = 64; head W8 104; cls FP32 72
    const char *mixed = "mixed:3/8,f,4a4/2,5,6/8,f";
    QT_CHECK(qn_mb_policy_parse(&tiny, &g, mixed, &p, &e) == QN_OK, "%s", e.msg);
    QT_CHECK(qn_mb_policy_size_bytes(&tiny, &g, &p) == 804, "mixed %llu",
             (unsigned long long)qn_mb_policy_size_bytes(&tiny, &g, &p));
    QT_CHECK(p.l[3].wbits == 4 && p.l[3].abits == 4 && p.l[2].wbits == 0 && p.l[2].abits == 0 && p.l[0].wbits == 3 &&
                 p.l[0].abits == 8, "mixed entries");
    char buf[128];
    qn_mb_policy_format(&tiny, &g, &p, buf, sizeof(buf));
    QT_CHECK(strcmp(buf, mixed) == 0, "formats as %s", buf);
    // W7 on the 5x5 dw: ceil(1400 / 8) = 175 instead of 125
    QT_CHECK(qn_mb_policy_parse(&tiny, &g, "mixed:3/8,f,4a4/2,7,6/8,f", &p, &e) == QN_OK &&
                 qn_mb_policy_size_bytes(&tiny, &g, &p) == 854, "W7 dw");
}

// qnas eval prints "size (FP32, batch norm folded)" as 4 * (params - BN channels); same here.
static void fp32_size_matches_eval(void) {
    for (int gi = 0; gi < 200; gi++) {
        struct qn_mb_genome g;
        sweep_genome(gi, &g);
        struct qn_mb_cost cost;
        qn_mb_genome_cost(S, &g, &cost);
        uint64_t bn_channels = (uint64_t)S->stem_c + S->head_c;  // as in src/main.c cmd_eval
        for (int i = 0; i < S->n_stages; i++)
            for (int b = 0; b < g.depth[i]; b++) {
                int cin = qn_mb_block_cin(S, i, b), ce = cin * g.expand[i][b];
                bn_channels += 2 * (uint64_t)ce + S->stage_c[i];
            }
        struct qn_mb_policy p;
        qn_mb_policy_uniform(S, &g, 0, 0, &p);
        uint64_t mine = qn_mb_policy_size_bytes(S, &g, &p), eval = 4 * (cost.params - bn_channels);
        QT_CHECK(mine == eval, "genome %d: fp32 %llu bytes, qnas eval %llu", gi, (unsigned long long)mine,
                 (unsigned long long)eval);
        // and the quantized ones are smaller, in order
        uint64_t prev = mine;
        for (int b = 8; b >= 2; b--) {
            qn_mb_policy_uniform(S, &g, b, 8, &p);
            uint64_t sz = qn_mb_policy_size_bytes(S, &g, &p);
            QT_CHECK(sz < prev, "W%d not smaller", b);
            prev = sz;
        }
    }
    struct qn_mb_genome g;
    qn_mb_genome_max(S, &g);
    struct qn_mb_policy p;
    qn_mb_policy_uniform(S, &g, 0, 0, &p);
    uint64_t f = qn_mb_policy_size_bytes(S, &g, &p);
    qn_mb_policy_uniform(S, &g, 8, 8, &p);
    uint64_t i8 = qn_mb_policy_size_bytes(S, &g, &p);
    qn_mb_policy_uniform(S, &g, 4, 8, &p);
    uint64_t i4 = qn_mb_policy_size_bytes(S, &g, &p);
    printf("    max genome: fp32 %llu, int8 %llu (%.2fx), int4 %llu (%.2fx) bytes\n", (unsigned long long)f,
           (unsigned long long)i8, (double)f / i8, (unsigned long long)i4, (double)f / i4);
}

// --- text ---

static void shorthands(void) {
    struct qn_mb_genome g;
    qn_mb_genome_min(S, &g);
    struct qn_error e;
    struct { const char *text; int w, a; const char *canon; } cases[] = {
        {"fp32", 0, 0, "fp32"}, {"int8", 8, 8, "int8"}, {"int4", 4, 8, "int4"}, {"w6a8", 6, 8, "w6a8"},
        {"w8a8", 8, 8, "int8"}, {"w4a8", 4, 8, "int4"}, {"w4a4", 4, 4, "w4a4"}, {"w2a3", 2, 3, "w2a3"},
        {"w08a8", 8, 8, "int8"},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct qn_mb_policy p, u;
        enum qn_status st = qn_mb_policy_parse(S, &g, cases[c].text, &p, &e);
        QT_CHECK(st == QN_OK, "'%s': %s", cases[c].text, e.msg);
        qn_mb_policy_uniform(S, &g, cases[c].w, cases[c].a, &u);
        QT_CHECK(memcmp(&p, &u, sizeof(p)) == 0, "'%s' is not uniform W%d A%d", cases[c].text, cases[c].w, cases[c].a);
        char buf[64];
        int len = qn_mb_policy_format(S, &g, &p, buf, sizeof(buf));
        QT_CHECK(strcmp(buf, cases[c].canon) == 0 && len == (int)strlen(buf), "'%s' formats as '%s'", cases[c].text,
                 buf);
    }
    // a uniform policy written out as mixed: formats back as the shorthand
    struct qn_mb_genome t = tiny_genome();
    struct qn_mb_policy p;
    char buf[64];
    QT_CHECK(qn_mb_policy_parse(&tiny, &t, "mixed:6/6,6,6/6,6,6/6,6", &p, &e) == QN_OK, "%s", e.msg);
    qn_mb_policy_format(&tiny, &t, &p, buf, sizeof(buf));
    QT_CHECK(strcmp(buf, "w6a8") == 0, "uniform mixed formats as %s", buf);
    QT_CHECK(qn_mb_policy_parse(&tiny, &t, "mixed:f/f,f,f/f,f,f/f,f", &p, &e) == QN_OK, "%s", e.msg);
    qn_mb_policy_format(&tiny, &t, &p, buf, sizeof(buf));
    QT_CHECK(strcmp(buf, "fp32") == 0, "all-f mixed formats as %s", buf);
    QT_CHECK(qn_mb_policy_parse(&tiny, &t, "mixed:8a8/8,8a8,8/8,8,8/8,8", &p, &e) == QN_OK, "%s", e.msg);
    qn_mb_policy_format(&tiny, &t, &p, buf, sizeof(buf));
    QT_CHECK(strcmp(buf, "int8") == 0, "all-8 mixed formats as %s", buf);
}

static void overrides(void) {
    struct qn_mb_genome g;
    qn_mb_genome_max(S, &g);
    struct qn_mb_layer L[QN_MB_MAX_LAYERS];
    int n = qn_mb_layers(S, &g, L);
    struct qn_error e;
    struct qn_mb_policy p, want;
    QT_CHECK(qn_mb_policy_parse(S, &g, "int8;s2.b1.dw=4;classifier=f", &p, &e) == QN_OK, "%s", e.msg);
    qn_mb_policy_uniform(S, &g, 8, 8, &want);
    want.l[14] = (struct qn_mb_qlayer){4, 8};
    want.l[n - 1] = (struct qn_mb_qlayer){0, 0};
    QT_CHECK(strcmp(L[14].name, "s2.b1.dw") == 0 && memcmp(&p, &want, sizeof(p)) == 0, "int8 + 2 overrides");
    // later overrides win; activation bits; on top of fp32 and of mixed
    QT_CHECK(qn_mb_policy_parse(S, &g, "fp32;head=4;stem=6a5;head=7a3", &p, &e) == QN_OK, "%s", e.msg);
    QT_CHECK(p.l[n - 2].wbits == 7 && p.l[n - 2].abits == 3 && p.l[0].wbits == 6 && p.l[0].abits == 5 &&
                 p.l[1].wbits == 0 && p.l[1].abits == 0, "fp32 + overrides");
    struct qn_mb_genome t = tiny_genome();
    QT_CHECK(qn_mb_policy_parse(&tiny, &t, "mixed:3/8,f,4a4/2,5,6/8,f;s1.b2.project=f;stem=8", &p, &e) == QN_OK,
             "%s", e.msg);
    char buf[128];
    qn_mb_policy_format(&tiny, &t, &p, buf, sizeof(buf));
    QT_CHECK(strcmp(buf, "mixed:8/8,f,4a4/2,5,f/8,f") == 0, "overridden mixed formats as %s", buf);
    // overriding every layer of a mixed policy back to one value gives the shorthand
    QT_CHECK(qn_mb_policy_parse(&tiny, &t,
                                "int4;stem=8;s1.b1.expand=8;s1.b1.dw=8;s1.b1.project=8;s1.b2.expand=8;s1.b2.dw=8;"
                                "s1.b2.project=8;head=8;classifier=8",
                                &p, &e) == QN_OK,
             "%s", e.msg);
    qn_mb_policy_format(&tiny, &t, &p, buf, sizeof(buf));
    QT_CHECK(strcmp(buf, "int8") == 0, "all overridden to 8 formats as %s", buf);
    // every layer name of a genome is accepted as an override
    for (int i = 0; i < n; i++) {
        char text[64];
        snprintf(text, sizeof(text), "int8;%s=3a7", L[i].name);
        QT_CHECK(qn_mb_policy_parse(S, &g, text, &p, &e) == QN_OK && p.l[i].wbits == 3 && p.l[i].abits == 7,
                 "'%s': %s", text, e.msg);
    }
}

static void random_policies_roundtrip(void) {
    const int n_trials = qt_quick() ? 300 : 3000;
    uint64_t rng = 12345;
    struct qn_error e;
    int uniform_seen = 0;
    for (int t = 0; t < n_trials; t++) {
        struct qn_mb_genome g;
        sweep_genome(t % 50, &g);
        struct qn_mb_policy p, q;
        qn_mb_policy_uniform(S, &g, 8, 8, &p);
        // any valid layer: FP32 or W2..8 A2..8, biased towards a few values so uniform ones occur
        int mode = qt_int(0, 3);
        for (int i = 0; i < p.n; i++) {
            int w = mode == 0 ? qt_int(0, 1) * 4 + 4 : qt_int(1, 8), a = mode == 2 ? qt_int(2, 8) : 8;
            p.l[i] = w == 1 ? (struct qn_mb_qlayer){0, 0} : (struct qn_mb_qlayer){(uint8_t)w, (uint8_t)a};
        }
        if (t % 7 == 0) qn_mb_policy_uniform(S, &g, qt_int(0, 1) ? 0 : qt_int(2, 8), qt_int(2, 8), &p);
        if (t % 11 == 0) {
            int choices[4] = {4, 6, 8, 0};
            qn_mb_policy_random(S, &g, choices, qt_int(1, 4), &rng, &p);
        }
        QT_CHECK(qn_mb_policy_check(S, &g, &p, &e) == QN_OK, "%s", e.msg);
        char buf[512];
        int len = qn_mb_policy_format(S, &g, &p, buf, sizeof(buf));
        QT_CHECK(len > 0 && len == (int)strlen(buf) && len < (int)sizeof(buf), "length %d", len);
        uniform_seen += strncmp(buf, "mixed:", 6) != 0;
        enum qn_status st = qn_mb_policy_parse(S, &g, buf, &q, &e);
        QT_CHECK(st == QN_OK, "'%s' rejected: %s", buf, e.msg);
        QT_CHECK(memcmp(&p, &q, sizeof(p)) == 0, "round trip of '%s' differs", buf);
        // truncated output: snprintf-like
        char small[40];
        size_t cap = (size_t)qt_int(0, (int)sizeof(small));
        memset(small, 'x', sizeof(small));
        int len2 = qn_mb_policy_format(S, &g, &p, small, cap);
        QT_CHECK(len2 == len, "truncated length %d, full %d", len2, len);
        if (cap) QT_CHECK(strlen(small) == QN_MIN((size_t)len, cap - 1) && strncmp(small, buf, cap - 1) == 0,
                          "truncated to %zu: '%s'", cap, small);
        else QT_CHECK(small[0] == 'x', "cap 0 wrote");
        QT_CHECK(qn_mb_policy_format(S, &g, &p, NULL, 0) == len, "measuring with NULL, 0");
    }
    QT_CHECK(uniform_seen > 0, "no uniform policy in the sweep");
}

static void random_policy_draws(void) {
    struct qn_mb_genome g;
    qn_mb_genome_max(S, &g);
    int choices[] = {4, 6, 8}, seen[9] = {0};
    uint64_t rng = 99, rng2 = 99;
    for (int t = 0; t < 50; t++) {
        struct qn_mb_policy p, p2;
        qn_mb_policy_random(S, &g, choices, 3, &rng, &p);
        qn_mb_policy_random(S, &g, choices, 3, &rng2, &p2);
        QT_CHECK(memcmp(&p, &p2, sizeof(p)) == 0, "same state, different policy");
        QT_CHECK(p.n == 63, "n %d", p.n);
        for (int i = 0; i < p.n; i++) {
            QT_CHECK(p.l[i].abits == 8, "activations %d", p.l[i].abits);
            seen[p.l[i].wbits]++;
        }
    }
    QT_CHECK(seen[4] && seen[6] && seen[8] && seen[4] + seen[6] + seen[8] == 50 * 63, "draws %d %d %d", seen[4],
             seen[6], seen[8]);
    int with_fp[] = {0, 8};
    struct qn_mb_policy p;
    int fp = 0;
    for (int t = 0; t < 20; t++) {
        qn_mb_policy_random(S, &g, with_fp, 2, &rng, &p);
        for (int i = 0; i < p.n; i++) fp += p.l[i].wbits == 0 && p.l[i].abits == 0;
    }
    QT_CHECK(fp > 0 && fp < 20 * 63, "choice 0 draws FP32 (%d of %d)", fp, 20 * 63);
}

// --- errors ---

// The 11-block genome of the brief: 2, 2, 2, 2, 3 blocks.
#define G11 "k3e3,k3e3/k3e3,k3e3/k3e3,k3e3/k3e3,k3e3/k3e3,k3e3,k3e3"
// A valid mixed policy for it: 13 groups
#define M11_HEAD "mixed:8/8,8,8/"
#define M11_TAIL "/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8"

static void errors_named(void) {
    struct qn_mb_genome g;
    struct qn_error e;
    QN_ASSERT(qn_mb_genome_parse(S, G11, &g, &e) == QN_OK);
    struct qn_mb_policy p;
    QT_CHECK(qn_mb_policy_parse(S, &g, M11_HEAD "8,8,8" M11_TAIL, &p, &e) == QN_OK, "valid base: %s", e.msg);
    struct { const char *text, *want; } cases[] = {
        {"", "empty policy"},
        {"int9", "unknown form 'int9'"},
        {"INT8", "unknown form 'INT8'"},
        {"int8 ", "unknown form 'int8 '"},
        {"w8", "unknown form 'w8'"},
        {"w8a", "unknown form 'w8a'"},
        {"wa8", "unknown form 'wa8'"},
        {"w9a8", "w9a8: weight bits 9 outside 2..8"},
        {"w1a8", "w1a8: weight bits 1 outside 2..8"},
        {"w8a1", "w8a1: activation bits 1 outside 2..8"},
        {"w8a99999999999999999999", "activation bits 1000+ outside 2..8"},
        {"fp32\x01\x7f", "unknown form 'fp32?" "?'"},  // (split: "??'" is a trigraph)
        {"mixed", "unknown form 'mixed'"},
        {"mixed:", "needs 13 groups (stem, 11 blocks, head)"},
        {"mixed:8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8",
         "12 groups for this genome, expected 13 (stem, 11 blocks, head)"},
        {M11_HEAD "8,8,8" M11_TAIL "/8,8", "14 groups for this genome, expected 13"},
        {M11_HEAD "8,8" M11_TAIL, "group 3 (s1.b2) has 2 entries, expected 3 (expand, dw, project)"},
        {M11_HEAD "8,8,8,8" M11_TAIL, "group 3 (s1.b2) has 4 entries, expected 3"},
        {"mixed:8,8/8,8,8/8,8,8" M11_TAIL, "group 1 (stem) has 2 entries, expected 1 (stem)"},
        {M11_HEAD "8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8",
         "group 13 (head) has 1 entry, expected 2 (head, classifier)"},
        {"mixed:8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8/8,8,8,8/8,8,8/8,8",
         "group 11 (s5.b2) has 4 entries"},
        {M11_HEAD "8,9,8" M11_TAIL, "s1.b2.dw: weight bits 9 outside 2..8"},
        {M11_HEAD "8,8,1" M11_TAIL, "s1.b2.project: weight bits 1 outside 2..8"},
        {M11_HEAD "8,4a9,8" M11_TAIL, "s1.b2.dw: activation bits 9 outside 2..8"},
        {M11_HEAD "8,4a0,8" M11_TAIL, "s1.b2.dw: activation bits 0 outside 2..8"},
        {M11_HEAD "8,4x,8" M11_TAIL, "s1.b2.dw: bad entry '4x' (expected <w>, <w>a<a> or f)"},
        {M11_HEAD "8,4a,8" M11_TAIL, "s1.b2.dw: bad entry '4a'"},
        {M11_HEAD "8,a4,8" M11_TAIL, "s1.b2.dw: bad entry 'a4'"},
        {M11_HEAD "8,fp32,8" M11_TAIL, "s1.b2.dw: bad entry 'fp32'"},
        {M11_HEAD "8,-4,8" M11_TAIL, "s1.b2.dw: bad entry '-4'"},
        {M11_HEAD "8, 4,8" M11_TAIL, "s1.b2.dw: bad entry ' 4'"},
        {M11_HEAD "8,,8" M11_TAIL, "s1.b2.dw: empty entry"},
        {"mixed:/8,8,8/8,8,8" M11_TAIL, "stem: empty entry"},
        {M11_HEAD "8,8,8" M11_TAIL "/", "trailing '/'"},
        {M11_HEAD "8,8,8" M11_TAIL ",", "trailing ','"},
        {M11_HEAD "8,8,8" M11_TAIL ";", "trailing ';'"},
        {"int8;", "trailing ';'"},
        {"int8;;stem=4", "empty override ';;'"},
        {";stem=4", "missing the policy before ';'"},
        {"int8;s9.b1.dw=4", "unknown layer 's9.b1.dw'"},
        {"int8;s1.b3.dw=4", "unknown layer 's1.b3.dw' (stage 1 of this genome has 2 blocks)"},
        {"int8;s5.b4.expand=4", "unknown layer 's5.b4.expand' (stage 5 of this genome has 3 blocks)"},
        {"int8;s1.b1.dwx=4", "unknown layer 's1.b1.dwx'"},
        {"int8;Stem=4", "unknown layer 'Stem'"},
        {"int8;stem.conv=4", "unknown layer 'stem.conv'"},
        {"int8;stem", "override 'stem' is not <layer>=<entry>"},
        {"int8;=4", "override '=4' has no layer name"},
        {"int8;stem=9", "stem: weight bits 9 outside 2..8"},
        {"int8;classifier=", "classifier: empty entry"},
        {"int8;head=8=8", "head: bad entry '8=8'"},
        {"int8;head=4;s1.b1.dw=4a1", "s1.b1.dw: activation bits 1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e.msg[0] = 0;
        memset(&p, 0x5a, sizeof(p));
        enum qn_status st = qn_mb_policy_parse(S, &g, cases[i].text, &p, &e);
        QT_CHECK(st == QN_ERR_ARG && strstr(e.msg, cases[i].want), "'%s': status %d, message '%s'", cases[i].text, st,
                 e.msg);
        QT_CHECK(cases[i].text[0] == 0 || strncmp(e.msg, "policy '", 8) == 0, "'%s': message '%s' does not quote it",
                 cases[i].text, e.msg);
        QT_CHECK(p.n == 0 && p.l[0].wbits == 0, "'%s': policy not cleared on error", cases[i].text);
    }
    QT_CHECK(qn_mb_policy_parse(S, &g, NULL, &p, &e) == QN_ERR_ARG && strstr(e.msg, "empty policy"), "NULL");
    QT_CHECK(qn_mb_policy_parse(S, &g, "int8", &p, NULL) == QN_OK, "NULL error sink");
    QT_CHECK(qn_mb_policy_parse(S, &g, "int9", &p, NULL) == QN_ERR_ARG, "NULL error sink");
    // long text is shortened in the message
    char longt[600];
    snprintf(longt, sizeof(longt), "%s", M11_HEAD "8,8,8" M11_TAIL);
    strcat(longt, ";stem=8;stem=8;stem=8;stem=8;stem=8;stem=8;stem=8;stem=8;stem=8;nope=4");
    QT_CHECK(qn_mb_policy_parse(S, &g, longt, &p, &e) == QN_ERR_ARG && strstr(e.msg, "...': unknown layer 'nope'") &&
                 strlen(e.msg) < 200, "long: %s", e.msg);
    // an invalid genome is reported as such
    struct qn_mb_genome bad = g;
    bad.kernel[0][0] = 4;
    QT_CHECK(qn_mb_policy_parse(S, &bad, "int8", &p, &e) == QN_ERR_ARG && strstr(e.msg, "kernel 4"), "%s", e.msg);
    // policies built in code
    qn_mb_policy_uniform(S, &g, 8, 8, &p);
    QT_CHECK(qn_mb_policy_check(S, &g, &p, &e) == QN_OK, "%s", e.msg);
    p.l[2].abits = 0;
    QT_CHECK(qn_mb_policy_check(S, &g, &p, &e) == QN_ERR_ARG && strstr(e.msg, "s1.b1.dw"), "%s", e.msg);
    p.l[2] = (struct qn_mb_qlayer){0, 8};
    QT_CHECK(qn_mb_policy_check(S, &g, &p, &e) == QN_ERR_ARG && strstr(e.msg, "s1.b1.dw: W0 A8"), "%s", e.msg);
    p.l[2] = (struct qn_mb_qlayer){9, 8};
    QT_CHECK(qn_mb_policy_check(S, &g, &p, &e) == QN_ERR_ARG, "W9 accepted");
    qn_mb_policy_uniform(S, &g, 8, 8, &p);
    p.n--;
    QT_CHECK(qn_mb_policy_check(S, &g, &p, &e) == QN_ERR_ARG && strstr(e.msg, "35 layers, the genome 36"), "%s",
             e.msg);
}

// Whatever the text, parse returns OK or QN_ERR_ARG with a message, and anything accepted is
// a valid policy whose canonical form parses back to it.
static void check_any(const struct qn_mb_genome *g, const char *text, int *accepted) {
    struct qn_mb_policy p, q;
    struct qn_error e;
    e.msg[0] = 0;
    enum qn_status st = qn_mb_policy_parse(S, g, text, &p, &e);
    QT_CHECK(st == QN_OK || (st == QN_ERR_ARG && e.msg[0]), "status %d for '%.60s'", st, text);
    if (st != QN_OK) return;
    (*accepted)++;
    QT_CHECK(qn_mb_policy_check(S, g, &p, &e) == QN_OK, "'%.60s' accepted as invalid: %s", text, e.msg);
    char buf[512];
    qn_mb_policy_format(S, g, &p, buf, sizeof(buf));
    QT_CHECK(qn_mb_policy_parse(S, g, buf, &q, &e) == QN_OK && memcmp(&p, &q, sizeof(p)) == 0,
             "'%.60s' -> '%.60s' does not round trip", text, buf);
}

static void fuzz_random_and_mutated(void) {
    const int n_trials = qt_quick() ? 10000 : 200000;
    static const char alphabet[] = "0123456789afw;=/,.:mixedfp32int48sbhcl";
    static const char *pieces[] = {"mixed:", "fp32", "int8", "int4", "w6a8", ";", "=", "/", ",", "f", "8", "4a4",
                                   "stem", "head", "classifier", "s1.b1.dw", "s1.b2.expand", "s2.b1.project", "a"};
    int accepted = 0, mutated_ok = 0;
    qt_seed(777);
    for (int t = 0; t < n_trials; t++) {
        struct qn_mb_genome g;
        sweep_genome(t % 20, &g);
        char text[700];
        size_t len = 0;
        int kind = t % 4;
        if (kind == 0) {  // random bytes
            len = (size_t)qt_int(0, 40);
            for (size_t i = 0; i < len; i++) text[i] = (char)qt_int(1, 255);
        } else if (kind == 1) {  // random characters of the grammar
            len = (size_t)qt_int(0, 60);
            for (size_t i = 0; i < len; i++) text[i] = alphabet[qt_int(0, (int)sizeof(alphabet) - 2)];
        } else if (kind == 2) {  // random pieces of the grammar
            int np = qt_int(1, 12);
            for (int i = 0; i < np; i++) {
                const char *pc = pieces[qt_int(0, (int)(sizeof(pieces) / sizeof(pieces[0])) - 1)];
                size_t pl = strlen(pc);
                if (len + pl + 1 >= sizeof(text)) break;
                memcpy(text + len, pc, pl), len += pl;
            }
        } else {  // a valid policy (mixed or shorthand, maybe overrides), then 1..3 mutations
            struct qn_mb_policy p;
            int choices[] = {0, 2, 4, 6, 8};
            uint64_t rng = (uint64_t)t + 1;
            qn_mb_policy_random(S, &g, choices, qt_int(1, 5), &rng, &p);
            len = (size_t)qn_mb_policy_format(S, &g, &p, text, 500);
            if (qt_int(0, 1)) len += (size_t)snprintf(text + len, sizeof(text) - len, ";s1.b1.dw=%da%d", qt_int(0, 9), qt_int(0, 9));
            int nm = qt_int(1, 3);
            for (int m = 0; m < nm && len > 0; m++) {
                size_t at = (size_t)qt_int(0, (int)len - 1);
                int op = qt_int(0, 4);
                if (op == 0) {  // delete
                    memmove(text + at, text + at + 1, len - at - 1), len--;
                } else if (op == 1 && len + 1 < sizeof(text)) {  // insert
                    memmove(text + at + 1, text + at, len - at), len++;
                    text[at] = alphabet[qt_int(0, (int)sizeof(alphabet) - 2)];
                } else if (op == 2) {  // replace, sometimes by any byte
                    text[at] = qt_int(0, 3) ? alphabet[qt_int(0, (int)sizeof(alphabet) - 2)] : (char)qt_int(1, 255);
                } else if (op == 3) {  // truncate
                    len = at;
                } else if (len * 2 + 1 < sizeof(text)) {  // duplicate a tail
                    size_t tl = len - at;
                    memcpy(text + len, text + at, tl), len += tl;
                }
            }
        }
        text[len] = 0;
        int before = accepted;
        check_any(&g, text, &accepted);
        if (kind == 3) mutated_ok += accepted > before;
    }
    // long input: linear, no fixed buffer behind it
    size_t big = (size_t)1 << 20;
    char *t = malloc(big + 1);
    QN_ASSERT(t);
    struct qn_mb_genome g;
    qn_mb_genome_max(S, &g);
    size_t o = (size_t)snprintf(t, big, "int8");
    while (o + 8 <= big) memcpy(t + o, ";stem=4", 7), o += 7;
    t[o] = 0;
    struct qn_mb_policy p;
    struct qn_error e;
    QT_CHECK(qn_mb_policy_parse(S, &g, t, &p, &e) == QN_OK && p.l[0].wbits == 4, "1 MB of overrides: %s", e.msg);
    memset(t, '/', big), t[big] = 0;
    memcpy(t, "mixed:", 6);
    QT_CHECK(qn_mb_policy_parse(S, &g, t, &p, &e) == QN_ERR_ARG && strstr(e.msg, "trailing '/'"), "%s", e.msg);
    t[big - 1] = '8';
    QT_CHECK(qn_mb_policy_parse(S, &g, t, &p, &e) == QN_ERR_ARG && strstr(e.msg, "groups for this genome"), "%s",
             e.msg);
    free(t);
    printf("    %d of %d accepted (%d mutated valid policies still valid)\n", accepted, n_trials, mutated_ok);
    QT_CHECK(accepted > 0, "nothing accepted");
}

int main(int argc, char **argv) {
    (void)argc;
    S = qn_mb_space_fmnist();
    QT_RUN(layers_match_cost);
    QT_RUN(layers_match_supernet_tensors);
    QT_RUN(layers_named_and_sized);
    QT_RUN(tiny_by_hand);
    QT_RUN(fp32_size_matches_eval);
    QT_RUN(shorthands);
    QT_RUN(overrides);
    QT_RUN(random_policies_roundtrip);
    QT_RUN(random_policy_draws);
    QT_RUN(errors_named);
    QT_RUN(fuzz_random_and_mutated);
    return qt_finish(argv[0]);
}
