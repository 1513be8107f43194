// The mbconv-fmnist search space: genome text form, shorthands, validation, exact costs.
#include "mbconv.h"
#include "test.h"

static const struct qn_mb_space *S;

static void sizes_within_issue_bounds(void) {
    struct qn_mb_genome g;
    struct qn_mb_cost cmax, cmin;
    qn_mb_genome_max(S, &g);
    qn_mb_genome_cost(S, &g, &cmax);
    qn_mb_genome_min(S, &g);
    qn_mb_genome_cost(S, &g, &cmin);
    printf("    max: %.2f M MACs, %.0f k params; min: %.2f M MACs, %.0f k params\n", cmax.macs / 1e6,
           cmax.params / 1e3, cmin.macs / 1e6, cmin.params / 1e3);
    QT_CHECK(cmax.macs <= 30000000, "largest subnet %llu MACs > 30 M", (unsigned long long)cmax.macs);
    QT_CHECK(cmin.macs <= 3050000, "smallest subnet %llu MACs > ~3 M", (unsigned long long)cmin.macs);
    QT_CHECK(cmax.macs > 4 * cmin.macs, "space too narrow");
}

static void cost_counts_by_hand(void) {
    // min genome, first block of stage 1 by hand: 28x28x8 -> expand x3 = 24 ch at 28x28,
    // 3x3 depthwise stride 2 -> 14x14, project to 12.
    struct qn_mb_genome g, g2;
    qn_mb_genome_min(S, &g);
    struct qn_mb_cost c1, c2;
    qn_mb_genome_cost(S, &g, &c1);
    g2 = g;
    g2.expand[0][0] = 4;  // 32 expanded channels instead of 24
    qn_mb_genome_cost(S, &g2, &c2);
    uint64_t dmacs = 28 * 28 * 8 * 8 + 14 * 14 * 9 * 8 + 14 * 14 * 8 * 12;
    uint64_t dparams = 8 * 8 + 2 * 8 + 9 * 8 + 2 * 8 + 8 * 12;
    QT_CHECK(c2.macs - c1.macs == dmacs, "delta MACs %llu, expected %llu", (unsigned long long)(c2.macs - c1.macs),
             (unsigned long long)dmacs);
    QT_CHECK(c2.params - c1.params == dparams, "delta params %llu, expected %llu",
             (unsigned long long)(c2.params - c1.params), (unsigned long long)dparams);
}

static void text_roundtrip(void) {
    char buf[512];
    struct qn_error e;
    for (uint64_t seed = 0; seed < 500; seed++) {
        struct qn_mb_genome g, h;
        qn_mb_genome_random(S, seed, &g);
        QT_CHECK(qn_mb_genome_check(S, &g, &e) == QN_OK, "random:%llu invalid: %s", (unsigned long long)seed, e.msg);
        qn_mb_genome_format(S, &g, buf, sizeof(buf));
        QT_CHECK(qn_mb_genome_parse(S, buf, &h, &e) == QN_OK, "'%s' rejected: %s", buf, e.msg);
        QT_CHECK(memcmp(&g, &h, sizeof(g)) == 0, "roundtrip of '%s' differs", buf);
        char rs[32];
        snprintf(rs, sizeof(rs), "random:%llu", (unsigned long long)seed);
        QT_CHECK(qn_mb_genome_parse(S, rs, &h, &e) == QN_OK && memcmp(&g, &h, sizeof(g)) == 0, "%s not reproducible", rs);
    }
    struct qn_mb_genome g;
    qn_mb_genome_parse(S, "max", &g, &e);
    qn_mb_genome_format(S, &g, buf, sizeof(buf));
    QT_CHECK(strcmp(buf, "k7e6,k7e6,k7e6,k7e6/k7e6,k7e6,k7e6,k7e6/k7e6,k7e6,k7e6,k7e6/k7e6,k7e6,k7e6,k7e6/"
                         "k7e6,k7e6,k7e6,k7e6") == 0, "max formats as %s", buf);
    // random genomes differ from each other and cover every choice
    int seen_k[8] = {0}, seen_d[5] = {0};
    for (uint64_t seed = 0; seed < 200; seed++) {
        qn_mb_genome_random(S, seed, &g);
        for (int i = 0; i < S->n_stages; i++) {
            seen_d[g.depth[i]]++;
            for (int b = 0; b < g.depth[i]; b++) seen_k[g.kernel[i][b]]++;
        }
    }
    QT_CHECK(seen_d[2] && seen_d[3] && seen_d[4] && seen_k[3] && seen_k[5] && seen_k[7], "choices not all sampled");
}

static void bad_genomes_named(void) {
    struct { const char *text, *want; } cases[] = {
        {"", "empty"},
        {"k4e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6", "stage 1 block 1: kernel 4"},
        {"k7e6,k7e5/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6", "stage 1 block 2: expansion 5"},
        {"k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6", "stage 1 has 1 blocks"},
        {"k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6", "4 stages given"},
        {"k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6", "more than 5 stages"},
        {"k7e6,k7e6,k7e6,k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6", "more than 4 blocks"},
        {"k7e6,k7x6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6", "stage 1 block 2"},
        {"k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/", "more than 5 stages"},
        {"k99999e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6/k7e6,k7e6", "kernel 1000"},
        {"random:", "non-negative integer"},
        {"random:-3", "non-negative integer"},
        {"random:12x", "non-negative integer"},
        // past 2^64 - 1 (strtoull saturates: these used to give the genome of 18446744073709551615)
        {"random:18446744073709551616", "non-negative integer"},
        {"random:99999999999999999999999", "non-negative integer"},
        {"random: 5", "non-negative integer"},
        {"random:+5", "non-negative integer"},
        // positions are 1-based, also for a bad character after a block
        {"k3e3 ,k3e3/k3e3,k3e3/k3e3,k3e3/k3e3,k3e3/k3e3,k3e3", "stage 1 block 1: unexpected ' '"},
        {"k3e3,k3e3/k3e3,k3e3/k3e3,k3e3/k3e3,k3e3/k3e3,k3e3x", "stage 5 block 2: unexpected 'x'"},
        {"k3e3,k3e3/k3e3,k3e3,k3e3;k3e3/k3e3,k3e3/k3e3,k3e3/k3e3,k3e3", "stage 2 block 3: unexpected ';'"},
        {"maximum", "expected k<kernel>"},
    };
    struct qn_mb_genome g;
    struct qn_error e;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e.msg[0] = 0;
        enum qn_status st = qn_mb_genome_parse(S, cases[i].text, &g, &e);
        QT_CHECK(st == QN_ERR_ARG && strstr(e.msg, cases[i].want), "'%s': status %d, message '%s'", cases[i].text, st,
                 e.msg);
    }
    QT_CHECK(qn_mb_genome_parse(S, "random:18446744073709551615", &g, &e) == QN_OK, "largest seed refused: %s", e.msg);
    qn_mb_genome_max(S, &g);
    g.kernel[2][1] = 6;
    QT_CHECK(qn_mb_genome_check(S, &g, &e) == QN_ERR_ARG && strstr(e.msg, "stage 3 block 2: kernel 6"), "%s", e.msg);
    qn_mb_genome_min(S, &g);
    g.kernel[0][3] = 3;  // beyond depth 2: not canonical
    QT_CHECK(qn_mb_genome_check(S, &g, &e) == QN_ERR_ARG, "non-canonical genome accepted");
}

int main(int argc, char **argv) {
    (void)argc;
    S = qn_mb_space_fmnist();
    QT_CHECK(qn_mb_space_find("mbconv-fmnist") == S && qn_mb_space_find("nope") == NULL, "space lookup");
    QT_RUN(sizes_within_issue_bounds);
    QT_RUN(cost_counts_by_hand);
    QT_RUN(text_roundtrip);
    QT_RUN(bad_genomes_named);
    return qt_finish(argv[0]);
}
