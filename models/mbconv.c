#include "mbconv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Sized for 28x28 Fashion-MNIST: largest subnet ~17 M MACs, smallest ~3 M (see tests).
// Three stride-2 stages take 28x28 to 4x4; the wide late stages run at 4x4 where 1x1
// convolutions are cheap, so depth and expansion there buy capacity at small cost.
static const struct qn_mb_space fmnist = {
    .name = "mbconv-fmnist",
    .in_h = 28, .in_w = 28, .in_c = 1, .n_classes = 10,
    .stem_c = 8, .stem_k = 3, .stem_stride = 1,
    .n_stages = 5,
    .stage_c = {12, 16, 32, 48, 96},
    .stage_stride = {2, 2, 2, 1, 1},
    .head_c = 256,
    .n_depths = 3, .depths = {2, 3, 4},
    .n_kernels = 3, .kernels = {3, 5, 7},
    .n_expands = 3, .expands = {3, 4, 6},
    .act_block = QN_ACT_RELU6,
    .act_outer = QN_ACT_HSWISH,
};

const struct qn_mb_space *qn_mb_space_fmnist(void) { return &fmnist; }

const struct qn_mb_space *qn_mb_space_find(const char *name) {
    return name && strcmp(name, fmnist.name) == 0 ? &fmnist : NULL;
}

// --- genomes ---

static void genome_fill(const struct qn_mb_space *s, struct qn_mb_genome *g, int d, int k, int e) {
    memset(g, 0, sizeof(*g));
    for (int i = 0; i < s->n_stages; i++) {
        g->depth[i] = (uint8_t)d;
        for (int b = 0; b < d; b++) g->kernel[i][b] = (uint8_t)k, g->expand[i][b] = (uint8_t)e;
    }
}

void qn_mb_genome_max(const struct qn_mb_space *s, struct qn_mb_genome *g) {
    genome_fill(s, g, qn_mb_dmax(s), qn_mb_kmax(s), qn_mb_emax(s));
}

void qn_mb_genome_min(const struct qn_mb_space *s, struct qn_mb_genome *g) {
    genome_fill(s, g, s->depths[0], s->kernels[0], s->expands[0]);
}

static uint64_t rng_next(uint64_t *st) {
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545f4914f6cdd1dull;
}

void qn_mb_genome_sample(const struct qn_mb_space *s, uint64_t *rng, struct qn_mb_genome *g) {
    memset(g, 0, sizeof(*g));
    for (int i = 0; i < s->n_stages; i++) {
        g->depth[i] = (uint8_t)s->depths[rng_next(rng) % (uint64_t)s->n_depths];
        for (int b = 0; b < g->depth[i]; b++) {
            g->kernel[i][b] = (uint8_t)s->kernels[rng_next(rng) % (uint64_t)s->n_kernels];
            g->expand[i][b] = (uint8_t)s->expands[rng_next(rng) % (uint64_t)s->n_expands];
        }
    }
}

void qn_mb_genome_random(const struct qn_mb_space *s, uint64_t seed, struct qn_mb_genome *g) {
    // splitmix64 of the seed, so nearby seeds give unrelated genomes
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    uint64_t st = z ? z : 1;
    qn_mb_genome_sample(s, &st, g);
}

static bool in_choices(int v, const int *choices, int n) {
    for (int i = 0; i < n; i++)
        if (choices[i] == v) return true;
    return false;
}

static void choices_str(char *out, size_t cap, const int *choices, int n) {
    size_t o = 0;
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%d", i ? (i == n - 1 ? " or " : ", ") : "", choices[i]);
}

enum qn_status qn_mb_genome_check(const struct qn_mb_space *s, const struct qn_mb_genome *g,
                                  struct qn_error *e) {
    char ch[64];
    for (int i = 0; i < s->n_stages; i++) {
        if (!in_choices(g->depth[i], s->depths, s->n_depths)) {
            choices_str(ch, sizeof(ch), s->depths, s->n_depths);
            return qn_fail(e, QN_ERR_ARG, "stage %d has %d blocks; depth must be %s", i + 1, g->depth[i], ch);
        }
        for (int b = 0; b < QN_MB_MAX_DEPTH; b++) {
            bool active = b < g->depth[i];
            if (active && !in_choices(g->kernel[i][b], s->kernels, s->n_kernels)) {
                choices_str(ch, sizeof(ch), s->kernels, s->n_kernels);
                return qn_fail(e, QN_ERR_ARG, "stage %d block %d: kernel %d is not %s", i + 1, b + 1,
                               g->kernel[i][b], ch);
            }
            if (active && !in_choices(g->expand[i][b], s->expands, s->n_expands)) {
                choices_str(ch, sizeof(ch), s->expands, s->n_expands);
                return qn_fail(e, QN_ERR_ARG, "stage %d block %d: expansion %d is not %s", i + 1, b + 1,
                               g->expand[i][b], ch);
            }
            if (!active && (g->kernel[i][b] || g->expand[i][b]))
                return qn_fail(e, QN_ERR_ARG, "stage %d block %d: genes set beyond the stage's depth", i + 1, b + 1);
        }
    }
    for (int i = s->n_stages; i < QN_MB_MAX_STAGES; i++)
        if (g->depth[i]) return qn_fail(e, QN_ERR_ARG, "stage %d does not exist in %s", i + 1, s->name);
    return QN_OK;
}

// Reads a decimal number, saturating at 1000 (no gene is that large); -1 if none.
static int read_num(const char **p) {
    if (!isdigit((unsigned char)**p)) return -1;
    int v = 0;
    while (isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        if (v > 1000) v = 1000;
        (*p)++;
    }
    return v;
}

enum qn_status qn_mb_genome_parse(const struct qn_mb_space *s, const char *text,
                                  struct qn_mb_genome *g, struct qn_error *e) {
    memset(g, 0, sizeof(*g));
    if (!text || !*text) return qn_fail(e, QN_ERR_ARG, "empty genome (use max, min, random:SEED or the text form)");
    if (strcmp(text, "max") == 0) return qn_mb_genome_max(s, g), QN_OK;
    if (strcmp(text, "min") == 0) return qn_mb_genome_min(s, g), QN_OK;
    if (strncmp(text, "random:", 7) == 0) {
        // digits only (strtoull alone would take "+5", " 5" and "-3", and saturate past 2^64 - 1)
        const char *d = text + 7;
        bool digits = *d != 0;
        for (const char *q = d; *q && digits; q++) digits = isdigit((unsigned char)*q);
        errno = 0;
        unsigned long long seed = digits ? strtoull(d, NULL, 10) : 0;
        if (!digits || errno == ERANGE)
            return qn_fail(e, QN_ERR_ARG, "genome '%.80s': random:SEED needs a non-negative integer seed of at most %llu",
                           text, (unsigned long long)UINT64_MAX);
        qn_mb_genome_random(s, seed, g);
        return QN_OK;
    }
    // Shown in messages: the genome, shortened if long.
    char shown[96];
    snprintf(shown, sizeof(shown), "%.80s%s", text, strlen(text) > 80 ? "..." : "");
    const char *p = text;
    int stage = 0, block = 0;
    for (;;) {
        if (stage >= s->n_stages)
            return qn_fail(e, QN_ERR_ARG, "genome '%s': more than %d stages ('/' separates stages)", shown, s->n_stages);
        if (block >= QN_MB_MAX_DEPTH)
            return qn_fail(e, QN_ERR_ARG, "genome '%s': stage %d has more than %d blocks", shown, stage + 1,
                           qn_mb_dmax(s));
        if (*p != 'k')
            return qn_fail(e, QN_ERR_ARG, "genome '%s': stage %d block %d: expected k<kernel>e<expansion> at '%.10s'",
                           shown, stage + 1, block + 1, p);
        p++;
        int k = read_num(&p);
        if (k < 0 || *p != 'e')
            return qn_fail(e, QN_ERR_ARG, "genome '%s': stage %d block %d: expected k<kernel>e<expansion>", shown,
                           stage + 1, block + 1);
        p++;
        int x = read_num(&p);
        if (x < 0)
            return qn_fail(e, QN_ERR_ARG, "genome '%s': stage %d block %d: missing expansion after 'e'", shown,
                           stage + 1, block + 1);
        char ch[64];
        if (!in_choices(k, s->kernels, s->n_kernels)) {
            choices_str(ch, sizeof(ch), s->kernels, s->n_kernels);
            return qn_fail(e, QN_ERR_ARG, "genome '%s': stage %d block %d: kernel %d is not %s", shown, stage + 1,
                           block + 1, k, ch);
        }
        if (!in_choices(x, s->expands, s->n_expands)) {
            choices_str(ch, sizeof(ch), s->expands, s->n_expands);
            return qn_fail(e, QN_ERR_ARG, "genome '%s': stage %d block %d: expansion %d is not %s", shown, stage + 1,
                           block + 1, x, ch);
        }
        g->kernel[stage][block] = (uint8_t)k;
        g->expand[stage][block] = (uint8_t)x;
        block++;
        g->depth[stage] = (uint8_t)block;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '/' || *p == 0) {
            if (!in_choices(block, s->depths, s->n_depths)) {
                char ch2[64];
                choices_str(ch2, sizeof(ch2), s->depths, s->n_depths);
                return qn_fail(e, QN_ERR_ARG, "genome '%s': stage %d has %d blocks; depth must be %s", shown, stage + 1,
                               block, ch2);
            }
            stage++, block = 0;
            if (*p == 0) break;
            p++;
            continue;
        }
        // after the block just read (block counts it already)
        return qn_fail(e, QN_ERR_ARG, "genome '%s': stage %d block %d: unexpected '%c'", shown, stage + 1, block, *p);
    }
    if (stage != s->n_stages)
        return qn_fail(e, QN_ERR_ARG, "genome '%s': %d stages given, %s has %d", shown, stage, s->name, s->n_stages);
    return QN_OK;
}

int qn_mb_genome_format(const struct qn_mb_space *s, const struct qn_mb_genome *g, char *out,
                        size_t cap) {
    size_t o = 0;
    int total = 0;
    for (int i = 0; i < s->n_stages; i++)
        for (int b = 0; b < g->depth[i]; b++) {
            int n = snprintf(o < cap ? out + o : NULL, o < cap ? cap - o : 0, "%s%sk%de%d", i && !b ? "/" : "", b ? "," : "",
                             g->kernel[i][b], g->expand[i][b]);
            total += n;
            o = QN_MIN(cap, o + (size_t)n);
        }
    if (cap && o >= cap) out[cap - 1] = 0;
    return total;
}

// --- cost ---

static int conv_out(int h, int stride) { return (h - 1) / stride + 1; }  // padding k/2

void qn_mb_genome_cost(const struct qn_mb_space *s, const struct qn_mb_genome *g,
                       struct qn_mb_cost *c) {
    uint64_t macs = 0, params = 0;
    int h = conv_out(s->in_h, s->stem_stride), w = conv_out(s->in_w, s->stem_stride);
    macs += (uint64_t)h * w * s->stem_k * s->stem_k * s->in_c * s->stem_c;
    params += (uint64_t)s->stem_k * s->stem_k * s->in_c * s->stem_c + 2 * s->stem_c;
    for (int i = 0; i < s->n_stages; i++)
        for (int b = 0; b < g->depth[i]; b++) {
            uint64_t cin = (uint64_t)qn_mb_block_cin(s, i, b), cout = (uint64_t)s->stage_c[i];
            uint64_t ce = cin * g->expand[i][b], k = g->kernel[i][b];
            int stride = b == 0 ? s->stage_stride[i] : 1;
            int ho = conv_out(h, stride), wo = conv_out(w, stride);
            macs += (uint64_t)h * w * cin * ce + (uint64_t)ho * wo * k * k * ce + (uint64_t)ho * wo * ce * cout;
            params += cin * ce + 2 * ce + k * k * ce + 2 * ce + ce * cout + 2 * cout;
            h = ho, w = wo;
        }
    uint64_t cl = (uint64_t)s->stage_c[s->n_stages - 1];
    macs += (uint64_t)h * w * cl * s->head_c + (uint64_t)s->head_c * s->n_classes;
    params += cl * s->head_c + 2 * s->head_c + (uint64_t)s->head_c * s->n_classes + s->n_classes;
    c->macs = macs;
    c->params = params;
}
