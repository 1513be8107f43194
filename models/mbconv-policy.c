#include "mbconv-policy.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

// --- layers ---

static int conv_out(int h, int stride) { return (h - 1) / stride + 1; }  // padding k/2

static int count_layers(const struct qn_mb_space *s, const struct qn_mb_genome *g) {
    int n = 3;
    for (int i = 0; i < s->n_stages; i++) n += 3 * g->depth[i];
    return n;
}

static struct qn_mb_layer *layer_add(struct qn_mb_layer *out, int *n, enum qn_mb_layer_kind kind, int stage,
                                     int block, int cin, int cout, int k, int stride, int h, int w) {
    struct qn_mb_layer *l = &out[(*n)++];
    memset(l, 0, sizeof(*l));
    l->kind = kind, l->stage = stage, l->block = block;
    l->cin = cin, l->cout = cout, l->k = k, l->stride = stride;
    l->h = h, l->w = w, l->h_out = conv_out(h, stride), l->w_out = conv_out(w, stride);
    // depthwise: one k x k filter per channel; others: dense over cin
    uint64_t per_out = (uint64_t)k * k * (kind == QN_MB_L_DW ? 1u : (uint64_t)cin);
    l->weights = per_out * (uint64_t)cout;
    l->macs = (uint64_t)l->h_out * l->w_out * l->weights;
    return l;
}

// "s<stage>.b<block>.<what>", 1-based as the supernet's tensor names (the uint8_t arguments
// bound the length for the compiler: at most "s256.b256.project")
static void block_layer_name(char *out, size_t cap, uint8_t stage1, uint8_t block1, const char *what) {
    snprintf(out, cap, "s%u.b%u.%s", (unsigned)stage1, (unsigned)block1, what);
}

int qn_mb_layers(const struct qn_mb_space *s, const struct qn_mb_genome *g, struct qn_mb_layer *out) {
    QN_ASSERT(s->n_stages >= 1 && s->n_stages <= QN_MB_MAX_STAGES);
    int n = 0, h = s->in_h, w = s->in_w;
    struct qn_mb_layer *l =
        layer_add(out, &n, QN_MB_L_STEM, -1, -1, s->in_c, s->stem_c, s->stem_k, s->stem_stride, h, w);
    snprintf(l->name, sizeof(l->name), "stem");
    h = l->h_out, w = l->w_out;
    for (int i = 0; i < s->n_stages; i++) {
        QN_ASSERT(g->depth[i] <= QN_MB_MAX_DEPTH);
        for (int b = 0; b < g->depth[i]; b++) {
            const int cin = qn_mb_block_cin(s, i, b), ce = cin * g->expand[i][b], cout = s->stage_c[i];
            const int stride = b == 0 ? s->stage_stride[i] : 1;
            l = layer_add(out, &n, QN_MB_L_EXPAND, i, b, cin, ce, 1, 1, h, w);
            block_layer_name(l->name, sizeof(l->name), (uint8_t)(i + 1), (uint8_t)(b + 1), "expand");
            l = layer_add(out, &n, QN_MB_L_DW, i, b, ce, ce, g->kernel[i][b], stride, h, w);
            block_layer_name(l->name, sizeof(l->name), (uint8_t)(i + 1), (uint8_t)(b + 1), "dw");
            h = l->h_out, w = l->w_out;
            l = layer_add(out, &n, QN_MB_L_PROJECT, i, b, ce, cout, 1, 1, h, w);
            block_layer_name(l->name, sizeof(l->name), (uint8_t)(i + 1), (uint8_t)(b + 1), "project");
            l->residual = stride == 1 && cin == cout;
        }
    }
    const int cl = s->stage_c[s->n_stages - 1];
    l = layer_add(out, &n, QN_MB_L_HEAD, -1, -1, cl, s->head_c, 1, 1, h, w);
    snprintf(l->name, sizeof(l->name), "head");
    // after the global average pool: a 1x1 "image"
    l = layer_add(out, &n, QN_MB_L_CLASSIFIER, -1, -1, s->head_c, s->n_classes, 1, 1, 1, 1);
    snprintf(l->name, sizeof(l->name), "classifier");
    QN_ASSERT(n <= QN_MB_MAX_LAYERS);
    return n;
}

// --- policies: building ---

void qn_mb_policy_uniform(const struct qn_mb_space *s, const struct qn_mb_genome *g, int wbits, int abits,
                          struct qn_mb_policy *p) {
    QN_ASSERT(wbits == 0 || (wbits >= 2 && wbits <= 8 && abits >= 2 && abits <= 8));
    memset(p, 0, sizeof(*p));
    p->n = count_layers(s, g);
    QN_ASSERT(p->n <= QN_MB_MAX_LAYERS);
    for (int i = 0; i < p->n; i++)
        p->l[i] = wbits ? (struct qn_mb_qlayer){(uint8_t)wbits, (uint8_t)abits} : (struct qn_mb_qlayer){0, 0};
}

static uint64_t rng_next(uint64_t *st) {  // xorshift64*, as in mbconv.c
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545f4914f6cdd1dull;
}

void qn_mb_policy_random(const struct qn_mb_space *s, const struct qn_mb_genome *g, const int *wbits_choices,
                         int n_choices, uint64_t *rng, struct qn_mb_policy *p) {
    QN_ASSERT(n_choices >= 1);
    for (int c = 0; c < n_choices; c++)
        QN_ASSERT(wbits_choices[c] == 0 || (wbits_choices[c] >= 2 && wbits_choices[c] <= 8));
    memset(p, 0, sizeof(*p));
    p->n = count_layers(s, g);
    QN_ASSERT(p->n <= QN_MB_MAX_LAYERS);
    for (int i = 0; i < p->n; i++) {
        int wb = wbits_choices[rng_next(rng) % (uint64_t)n_choices];
        p->l[i] = wb ? (struct qn_mb_qlayer){(uint8_t)wb, 8} : (struct qn_mb_qlayer){0, 0};
    }
}

static bool qlayer_valid(struct qn_mb_qlayer q) {
    return (q.wbits == 0 && q.abits == 0) || (q.wbits >= 2 && q.wbits <= 8 && q.abits >= 2 && q.abits <= 8);
}

enum qn_status qn_mb_policy_check(const struct qn_mb_space *s, const struct qn_mb_genome *g,
                                  const struct qn_mb_policy *p, struct qn_error *e) {
    enum qn_status st = qn_mb_genome_check(s, g, e);
    if (st != QN_OK) return st;
    struct qn_mb_layer L[QN_MB_MAX_LAYERS];
    int n = qn_mb_layers(s, g, L);
    if (p->n != n) return qn_fail(e, QN_ERR_ARG, "policy has %d layers, the genome %d", p->n, n);
    for (int i = 0; i < n; i++)
        if (!qlayer_valid(p->l[i]))
            return qn_fail(e, QN_ERR_ARG, "policy: %s: W%d A%d (bits must be 2..8 each, or both 0 for FP32)",
                           L[i].name, p->l[i].wbits, p->l[i].abits);
    return QN_OK;
}

// --- policies: size ---

uint64_t qn_mb_policy_size_bytes(const struct qn_mb_space *s, const struct qn_mb_genome *g,
                                 const struct qn_mb_policy *p) {
    struct qn_mb_layer L[QN_MB_MAX_LAYERS];
    int n = qn_mb_layers(s, g, L);
    QN_ASSERT(p->n == n);
    uint64_t bytes = 0;
    for (int i = 0; i < n; i++) {
        const uint64_t w = L[i].weights, c = (uint64_t)L[i].cout, wb = p->l[i].wbits;
        if (wb == 0)
            bytes += 4 * w + 4 * c;
        else
            bytes += QN_DIV_UP(w * wb, 8) + 4 * c + 4 * c + 8;
    }
    return bytes;
}

// --- policies: text ---

struct out_buf {
    char *out;
    size_t cap, o;
    int total;
};

__attribute__((format(printf, 2, 3))) static void out_printf(struct out_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    // (out may be NULL with cap 0, to measure: never offset it then)
    int n = b->o < b->cap ? vsnprintf(b->out + b->o, b->cap - b->o, fmt, ap) : vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    b->total += n;
    b->o = QN_MIN(b->cap, b->o + (size_t)n);
}

static void out_entry(struct out_buf *b, struct qn_mb_qlayer q) {
    if (q.wbits == 0 && q.abits == 0)
        out_printf(b, "f");
    else if (q.abits == 8)
        out_printf(b, "%d", q.wbits);
    else
        out_printf(b, "%da%d", q.wbits, q.abits);
}

int qn_mb_policy_format(const struct qn_mb_space *s, const struct qn_mb_genome *g, const struct qn_mb_policy *p,
                        char *out, size_t cap) {
    const int n = count_layers(s, g);
    QN_ASSERT(p->n == n && n <= QN_MB_MAX_LAYERS);
    struct out_buf b = {out, cap, 0, 0};
    if (cap) out[0] = 0;
    bool uniform = true;
    for (int i = 1; i < n; i++) uniform &= p->l[i].wbits == p->l[0].wbits && p->l[i].abits == p->l[0].abits;
    const struct qn_mb_qlayer q0 = p->l[0];
    if (uniform && q0.wbits == 0 && q0.abits == 0)
        out_printf(&b, "fp32");
    else if (uniform && q0.wbits == 8 && q0.abits == 8)
        out_printf(&b, "int8");
    else if (uniform && q0.wbits == 4 && q0.abits == 8)
        out_printf(&b, "int4");
    else if (uniform)
        out_printf(&b, "w%da%d", q0.wbits, q0.abits);
    else {
        // layer 0 the stem; 1 + 3j the first layer of block j; n - 2 the head
        out_printf(&b, "mixed:");
        for (int i = 0; i < n; i++) {
            if (i) out_printf(&b, "%c", i == n - 2 || (i < n - 2 && (i - 1) % 3 == 0) ? '/' : ',');
            out_entry(&b, p->l[i]);
        }
    }
    if (cap && b.o >= cap) out[cap - 1] = 0;
    return b.total;
}

// Parsing works on [begin, end) ranges of the caller's text (never copied, never modified).
struct parser {
    char shown[100];  // the text for messages: printable, shortened if long
    struct qn_mb_layer L[QN_MB_MAX_LAYERS];
    int n, n_blocks;
    struct qn_mb_policy q;
    struct qn_error *e;
};

// Copies n bytes for a message: non-printable bytes as '?', cut at max with "...".
static void echo(char *dst, size_t cap, const char *src, size_t n, size_t max) {
    size_t o = 0;
    for (size_t i = 0; i < n && i < max && o + 1 < cap; i++)
        dst[o++] = isprint((unsigned char)src[i]) ? src[i] : '?';
    for (int i = 0; n > max && i < 3 && o + 1 < cap; i++) dst[o++] = '.';
    dst[o] = 0;
}

// Reads a decimal number, saturating at 1000 (far outside any bit width); -1 if none.
static int read_num(const char **p, const char *end) {
    if (*p >= end || !isdigit((unsigned char)**p)) return -1;
    int v = 0;
    while (*p < end && isdigit((unsigned char)**p)) {
        v = QN_MIN(1000, v * 10 + (**p - '0'));
        (*p)++;
    }
    return v;
}

static size_t count_char(const char *b, const char *end, char c) {
    size_t n = 0;
    for (; b < end; b++) n += *b == c;
    return n;
}

static const char *find_char(const char *b, const char *end, char c) {
    const char *f = memchr(b, c, (size_t)(end - b));
    return f ? f : end;
}

static bool range_is(const char *b, const char *end, const char *word) {
    size_t n = strlen(word);
    return (size_t)(end - b) == n && memcmp(b, word, n) == 0;
}

// w and a bits, both already read; `what` names the entry in messages.
static enum qn_status check_bits(struct parser *ps, const char *what, int w, int a, struct qn_mb_qlayer *q) {
    if (w < 2 || w > 8)
        return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': %s: weight bits %d%s outside 2..8", ps->shown, what, w,
                       w >= 1000 ? "+" : "");
    if (a < 2 || a > 8)
        return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': %s: activation bits %d%s outside 2..8", ps->shown, what, a,
                       a >= 1000 ? "+" : "");
    q->wbits = (uint8_t)w, q->abits = (uint8_t)a;
    return QN_OK;
}

// One entry `<w>`, `<w>a<a>` or `f` for the layer named `what`.
static enum qn_status parse_entry(struct parser *ps, const char *b, const char *end, const char *what,
                                  struct qn_mb_qlayer *q) {
    if (b == end) return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': %s: empty entry", ps->shown, what);
    if (end - b == 1 && *b == 'f') return *q = (struct qn_mb_qlayer){0, 0}, QN_OK;
    const char *p = b;
    int w = read_num(&p, end), a = 8;
    if (w >= 0 && p < end && *p == 'a') {
        p++;
        a = read_num(&p, end);
    }
    if (w < 0 || a < 0 || p != end) {
        char ent[32];
        echo(ent, sizeof(ent), b, (size_t)(end - b), 16);
        return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': %s: bad entry '%s' (expected <w>, <w>a<a> or f)", ps->shown,
                       what, ent);
    }
    return check_bits(ps, what, w, a, q);
}

static const char *plural(size_t n, const char *one, const char *many) { return n == 1 ? one : many; }

// Group j of the mixed form: 0 the stem, 1 .. n_blocks the blocks, n_blocks + 1 the head.
static void group_name(const struct parser *ps, int j, char *out, size_t cap) {
    if (j == 0)
        snprintf(out, cap, "stem");
    else if (j > ps->n_blocks)
        snprintf(out, cap, "head");
    else {
        const struct qn_mb_layer *l = &ps->L[1 + 3 * (j - 1)];
        snprintf(out, cap, "s%d.b%d", l->stage + 1, l->block + 1);
    }
}

static enum qn_status parse_mixed(struct parser *ps, const char *b, const char *end) {
    const int want_groups = ps->n_blocks + 2;
    if (b == end || end[-1] == '/' || end[-1] == ',') {
        if (b != end)
            return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': trailing '%c'", ps->shown, end[-1]);
        return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': mixed: needs %d groups (stem, %d blocks, head)", ps->shown,
                       want_groups, ps->n_blocks);
    }
    size_t groups = 1 + count_char(b, end, '/');
    if (groups != (size_t)want_groups)
        return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': %zu %s for this genome, expected %d (stem, %d blocks, head)",
                       ps->shown, groups, plural(groups, "group", "groups"), want_groups, ps->n_blocks);
    const char *gb = b;
    int layer = 0;
    for (int j = 0; j < want_groups; j++) {
        const char *ge = find_char(gb, end, '/');
        const int want = j == 0 ? 1 : j > ps->n_blocks ? 2 : 3;
        size_t entries = 1 + count_char(gb, ge, ',');
        if (entries != (size_t)want) {
            char gn[32];
            group_name(ps, j, gn, sizeof(gn));
            return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': group %d (%s) has %zu %s, expected %d (%s)", ps->shown,
                           j + 1, gn, entries, plural(entries, "entry", "entries"), want,
                           want == 1 ? "stem" : want == 2 ? "head, classifier" : "expand, dw, project");
        }
        for (const char *eb = gb; eb <= ge;) {
            const char *ee = find_char(eb, ge, ',');
            enum qn_status st = parse_entry(ps, eb, ee, ps->L[layer].name, &ps->q.l[layer]);
            if (st != QN_OK) return st;
            layer++;
            eb = ee + 1;
        }
        gb = ge + 1;
    }
    QN_ASSERT(layer == ps->n);
    return QN_OK;
}

// The part before the first ';': a shorthand or mixed:.
static enum qn_status parse_base(struct parser *ps, const char *b, const char *end) {
    if (b == end)
        return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': missing the policy before ';' (fp32, int8, int4, w<B>a<B> or mixed:...)",
                       ps->shown);
    struct qn_mb_qlayer u;
    if (range_is(b, end, "fp32"))
        u = (struct qn_mb_qlayer){0, 0};
    else if (range_is(b, end, "int8"))
        u = (struct qn_mb_qlayer){8, 8};
    else if (range_is(b, end, "int4"))
        u = (struct qn_mb_qlayer){4, 8};
    else if ((size_t)(end - b) >= 6 && memcmp(b, "mixed:", 6) == 0)
        return parse_mixed(ps, b + 6, end);
    else {
        const char *p = b + 1;
        int w = *b == 'w' ? read_num(&p, end) : -1, a = -1;
        if (w >= 0 && p < end && *p == 'a') {
            p++;
            a = read_num(&p, end);
        }
        char form[32];
        echo(form, sizeof(form), b, (size_t)(end - b), 20);
        if (w < 0 || a < 0 || p != end)
            return qn_fail(ps->e, QN_ERR_ARG,
                           "policy '%s': unknown form '%s' (expected fp32, int8, int4, w<B>a<B> or mixed:...)",
                           ps->shown, form);
        enum qn_status st = check_bits(ps, form, w, a, &u);
        if (st != QN_OK) return st;
    }
    for (int i = 0; i < ps->n; i++) ps->q.l[i] = u;
    return QN_OK;
}

// One `<layer name>=<entry>` override in [b, end).
static enum qn_status parse_override(struct parser *ps, const char *b, const char *end) {
    const char *eq = find_char(b, end, '=');
    char item[48];
    echo(item, sizeof(item), b, (size_t)(end - b), 32);
    if (eq == end)
        return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': override '%s' is not <layer>=<entry>", ps->shown, item);
    if (eq == b) return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': override '%s' has no layer name", ps->shown, item);
    const size_t len = (size_t)(eq - b);
    int idx = -1;
    for (int i = 0; i < ps->n && idx < 0; i++)
        if (strlen(ps->L[i].name) == len && memcmp(ps->L[i].name, b, len) == 0) idx = i;
    if (idx < 0) {
        char name[40];
        echo(name, sizeof(name), b, len, 31);
        // a block of a stage this genome has, beyond its depth: say why
        const char *q = b + 1;
        int st = *b == 's' ? read_num(&q, eq) : -1, bl = -1;
        if (st >= 0 && eq - q >= 2 && q[0] == '.' && q[1] == 'b') q += 2, bl = read_num(&q, eq);
        char hint[64] = "";
        if (st >= 1 && st <= QN_MB_MAX_STAGES && bl >= 1 &&
            (range_is(q, eq, ".expand") || range_is(q, eq, ".dw") || range_is(q, eq, ".project"))) {
            int depth = 0;
            for (int i = 0; i < ps->n; i++) depth += ps->L[i].kind == QN_MB_L_EXPAND && ps->L[i].stage == st - 1;
            if (depth && bl > depth)
                snprintf(hint, sizeof(hint), " (stage %d of this genome has %d blocks)", st, depth);
        }
        return qn_fail(ps->e, QN_ERR_ARG, "policy '%s': unknown layer '%s'%s", ps->shown, name, hint);
    }
    return parse_entry(ps, eq + 1, end, ps->L[idx].name, &ps->q.l[idx]);
}

enum qn_status qn_mb_policy_parse(const struct qn_mb_space *s, const struct qn_mb_genome *g, const char *text,
                                  struct qn_mb_policy *p, struct qn_error *e) {
    memset(p, 0, sizeof(*p));
    enum qn_status st = qn_mb_genome_check(s, g, e);
    if (st != QN_OK) return st;
    if (!text || !*text)
        return qn_fail(e, QN_ERR_ARG, "empty policy (use fp32, int8, int4, w<B>a<B>, mixed:... and ;<layer>=<entry>)");
    // ~8 KB on the stack: the layers of the genome, and the policy built until it is known good
    struct parser ps;
    memset(&ps, 0, sizeof(ps));
    ps.e = e;
    const size_t tlen = strlen(text);
    echo(ps.shown, sizeof(ps.shown), text, tlen, 80);
    ps.n = qn_mb_layers(s, g, ps.L);
    ps.n_blocks = (ps.n - 3) / 3;
    ps.q.n = ps.n;
    const char *end = text + tlen, *base_end = find_char(text, end, ';');
    st = parse_base(&ps, text, base_end);
    for (const char *b = base_end; st == QN_OK && b < end;) {
        b++;  // past ';'
        const char *ie = find_char(b, end, ';');
        if (ie == b)
            st = qn_fail(e, QN_ERR_ARG, ie == end ? "policy '%s': trailing ';'" : "policy '%s': empty override ';;'",
                         ps.shown);
        else
            st = parse_override(&ps, b, ie);
        b = ie;
    }
    if (st == QN_OK) *p = ps.q;
    return st;
}
