// Standalone .qnas model files (src/qnas-model.c) from the trained supernet
// weights/mbconv-fmnist.safetensors (QNAS_TEST_WEIGHTS overrides the path): a written and
// re-read model is bit-identical to the built one, the file size follows the policy's bits,
// corrupt and hostile files are refused with one message, and `qnas export` / `qnas run`
// report what `qnas eval` reports.
#include <dirent.h>
#include <libgen.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "idx.h"
#include "qnas-model.h"
#include "safetensors.h"
#include "test.h"
#include "weights-edit.h"
#include "train.h"

static struct qn_mb_net g_net;
static struct qn_dataset g_train, g_test;
static const struct qn_mb_space *S;
static const char *g_weights;
static char g_dir[64], g_qnas[4096];

// 4, 6 and 8 bits, 6-bit activations and FP32 layers (one inside a block, the classifier)
#define P_MIXED "int8;stem=6;s1.b1.dw=4;s2.b2.expand=6a6;s3.b1.project=f;head=4;classifier=f"
// every width from 2 to 8 (s2.b1.dw: 324 weights at 3 bits leave 4 padding bits)
#define P_ALLBITS "int8;stem=2;s1.b1.expand=3;s1.b1.dw=4;s1.b1.project=5;s1.b2.expand=6;s1.b2.dw=7;s2.b1.dw=3;s4.b1.expand=f"

static void cfg_small(struct qn_qnet_cfg *c) {
    qn_qnet_cfg_default(c);
    c->bn_images = qt_quick() ? 200 : 300;
    c->calib_images = 100;
}

static void build(struct qn_qnet *q, const char *genome, const char *policy) {
    struct qn_mb_genome g;
    struct qn_mb_policy p;
    struct qn_error e;
    struct qn_qnet_cfg c;
    cfg_small(&c);
    QN_ASSERT(qn_mb_genome_parse(S, genome, &g, &e) == QN_OK);
    QN_ASSERT(qn_mb_policy_parse(S, &g, policy, &p, &e) == QN_OK);
    QN_ASSERT(qn_qnet_build(q, &g_net, &g, &p, &g_train, &c, &e) == QN_OK);
}

static void tmp_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

static uint8_t *slurp(const char *path, size_t *len) {
    uint8_t *b = (uint8_t *)qt_slurp(path, len);
    QN_ASSERT(b);
    return b;
}

static void put_file(const char *path, const uint8_t *b, size_t len) {
    FILE *f = fopen(path, "wb");
    QN_ASSERT(f && fwrite(b, 1, len, f) == len);
    fclose(f);
}

// Logits of the first n test images through fn, in batches of 64.
static void logits_of(struct qn_qnet *q, void (*fn)(struct qn_qnet *, const float *, int, float *), int n,
                      float *z) {
    float *x = qn_alloc(sizeof(float) * 64 * 28 * 28);
    int idx[64];
    uint8_t lab[64];
    for (int at = 0; at < n; at += 64) {
        int nb = QN_MIN(64, n - at);
        for (int b = 0; b < nb; b++) idx[b] = at + b;
        qn_batch_make(&g_test, idx, nb, false, 0, NULL, x, lab);
        fn(q, x, nb, z + (size_t)at * S->n_classes);
    }
    qn_free(x);
}

static int layer_index(const struct qn_qnet *q, const char *name) {
    for (int i = 0; i < q->n_layers; i++)
        if (strcmp(q->layers[i].info.name, name) == 0) return i;
    QN_ASSERT(!"no such layer");
    return -1;
}

// --- (a) round trip ---

// Stored values and both forward paths of the re-read model equal the built one's exactly.
static void check_same(struct qn_qnet *a, struct qn_qnet *b, const char *policy) {
    QT_CHECK(memcmp(&a->genome, &b->genome, sizeof(a->genome)) == 0 && a->policy.n == b->policy.n &&
                 memcmp(a->policy.l, b->policy.l, sizeof(a->policy.l[0]) * (size_t)a->policy.n) == 0,
             "%s: genome or policy differ", policy);
    QT_CHECK(a->cfg.bn_images == b->cfg.bn_images && a->cfg.calib_images == b->cfg.calib_images &&
                 a->cfg.calib == b->cfg.calib && a->cfg.wcalib == b->cfg.wcalib &&
                 a->cfg.percentile == b->cfg.percentile && a->cfg.seed == b->cfg.seed,
             "%s: build settings differ", policy);
    QT_CHECK(qn_qnet_size_bytes(a) == qn_qnet_size_bytes(b), "%s: size differs", policy);
    for (int i = 0; i < a->n_layers && i < b->n_layers; i++) {
        const struct qn_qnet_layer *x = &a->layers[i], *y = &b->layers[i];
        const size_t N = (size_t)x->info.cout, wn = (size_t)x->info.weights;
        bool same = x->act == y->act && memcmp(x->bias, y->bias, 4 * N) == 0;
        if (x->q.wbits)
            same = same && memcmp(x->wq, y->wq, wn) == 0 && memcmp(x->wscale, y->wscale, 4 * N) == 0 &&
                   memcmp(x->wfake, y->wfake, 4 * wn) == 0 && x->in.scale == y->in.scale && x->in.zp == y->in.zp &&
                   x->in.qmax == y->in.qmax;
        else
            same = same && memcmp(x->w, y->w, 4 * wn) == 0;
        QT_CHECK(same, "%s: layer %s differs after the round trip", policy, x->info.name);
    }
    const int n = 200, K = S->n_classes;
    float *za = malloc(sizeof(float) * n * K), *zb = malloc(sizeof(float) * n * K);
    logits_of(a, qn_qnet_forward, n, za);
    logits_of(b, qn_qnet_forward, n, zb);
    QT_CHECK(memcmp(za, zb, sizeof(float) * n * K) == 0, "%s: integer logits differ", policy);
    logits_of(a, qn_qnet_forward_fake, n, za);
    logits_of(b, qn_qnet_forward_fake, n, zb);
    QT_CHECK(memcmp(za, zb, sizeof(float) * n * K) == 0, "%s: fake-quant logits differ", policy);
    free(za), free(zb);
    const double acc_a = qn_qnet_accuracy(a, &g_test, 1000), acc_b = qn_qnet_accuracy(b, &g_test, 1000);
    QT_CHECK(acc_a == acc_b, "%s: accuracy %.4f built, %.4f loaded", policy, acc_a, acc_b);
    printf("    %-40s top-1 %.2f%% on 1000 test images, built and loaded\n", policy, 100 * acc_a);
}

static void roundtrip_bit_identical(void) {
    const char *policies[] = {P_MIXED, P_ALLBITS, "fp32"};
    for (int pi = 0; pi < 3; pi++) {
        struct qn_qnet a, b;
        struct qn_error e = {{0}};
        char path[128];
        tmp_path(path, sizeof(path), "roundtrip.qnas");
        build(&a, "min", policies[pi]);
        QT_CHECK(qn_qnas_write(path, &a, &e) == QN_OK, "write: %s", e.msg);
        QT_CHECK(qn_qnas_read(path, &b, 64, &e) == QN_OK, "read: %s", e.msg);
        if (b.n_layers == a.n_layers) check_same(&a, &b, policies[pi]);
        else QT_CHECK(false, "%s: %d layers read, %d written", policies[pi], b.n_layers, a.n_layers);
        // a re-written loaded model is the same file
        char path2[128];
        tmp_path(path2, sizeof(path2), "roundtrip2.qnas");
        QT_CHECK(qn_qnas_write(path2, &b, &e) == QN_OK, "re-write: %s", e.msg);
        size_t l1, l2;
        uint8_t *f1 = slurp(path, &l1), *f2 = slurp(path2, &l2);
        QT_CHECK(l1 == l2 && memcmp(f1, f2, l1) == 0, "%s: re-written file differs", policies[pi]);
        free(f1), free(f2);
        remove(path), remove(path2);
        qn_qnet_free(&a), qn_qnet_free(&b);
    }
}

// --- (b) size ---

// The file is the model: qn_qnet_size_bytes plus the 16 header bytes, the JSON and 28 bytes per
// layer. int8 and int4 files of one genome have headers of the same length, so they differ by
// exactly the packed-weight bytes.
static void file_size_follows_bits(void) {
    size_t len[2];
    uint64_t model[2], packed[2] = {0, 0};
    const char *pol[2] = {"int8", "int4"};
    for (int k = 0; k < 2; k++) {
        struct qn_qnet q;
        struct qn_error e = {{0}};
        char path[128];
        tmp_path(path, sizeof(path), "size.qnas");
        build(&q, "max", pol[k]);
        QT_CHECK(qn_qnas_write(path, &q, &e) == QN_OK, "write: %s", e.msg);
        uint8_t *b = slurp(path, &len[k]);
        const uint32_t H = (uint32_t)b[8] | (uint32_t)b[9] << 8 | (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
        model[k] = qn_qnet_size_bytes(&q);
        QT_CHECK(len[k] == model[k] + 16 + H + 28 * (size_t)q.n_layers, "%s: %zu bytes for a %llu-byte model",
                 pol[k], len[k], (unsigned long long)model[k]);
        for (int i = 0; i < q.n_layers; i++) packed[k] += QN_DIV_UP(q.layers[i].info.weights * (k ? 4 : 8), 8);
        free(b), remove(path);
        qn_qnet_free(&q);
    }
    printf("    max genome: int8 file %zu bytes, int4 file %zu bytes (packed weights %llu and %llu bytes)\n", len[0],
           len[1], (unsigned long long)packed[0], (unsigned long long)packed[1]);
    QT_CHECK(len[0] - len[1] == packed[0] - packed[1], "int8 - int4 = %zu bytes, packed weights differ by %llu",
             len[0] - len[1], (unsigned long long)(packed[0] - packed[1]));
}

// --- (c) corrupt and hostile files ---

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void set32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void set_f32(uint8_t *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    set32(p, u);
}
static uint32_t crc_of(const uint8_t *p, size_t n) { return (uint32_t)crc32(0, p, (uInt)n); }

// Offset of layer i's record (its u32 length) in a well-formed image.
static size_t record_at(const uint8_t *b, int i) {
    size_t pos = 12 + le32(b + 8) + 4;
    while (i-- > 0) pos += 8 + le32(b + pos);
    return pos;
}
static void fix_record_crc(uint8_t *b, int i) {
    const size_t r = record_at(b, i), P = le32(b + r);
    set32(b + r + 4 + P, crc_of(b + r, 4 + P));
}

// The image with its header JSON replaced (checksum recomputed); *len updated.
static uint8_t *with_header(const uint8_t *b, size_t *len, const char *json) {
    const size_t H0 = le32(b + 8), H = strlen(json), rest = *len - (12 + H0 + 4);
    uint8_t *o = malloc(12 + H + 4 + rest);
    memcpy(o, b, 8);
    set32(o + 8, (uint32_t)H);
    memcpy(o + 12, json, H);
    set32(o + 12 + H, crc_of(o, 12 + H));
    memcpy(o + 16 + H, b + 12 + H0 + 4, rest);
    *len = 12 + H + 4 + rest;
    return o;
}

// The header JSON with key set to a raw JSON value (NULL: removed).
static char *header_edit(const uint8_t *b, const char *key, const char *raw) {
    cJSON *h = cJSON_ParseWithLength((const char *)b + 12, le32(b + 8));
    QN_ASSERT(h);
    cJSON_DeleteItemFromObjectCaseSensitive(h, key);
    if (raw) cJSON_AddItemToObject(h, key, cJSON_Parse(raw));
    char *s = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    return s;
}

static int g_rejected;

// b must be refused with QN_ERR_FORMAT, a message naming the source and containing `want`, and
// nothing left in q.
static void expect_bad(const uint8_t *b, size_t len, const char *want, const char *what) {
    struct qn_qnet q;
    struct qn_error e = {{0}};
    enum qn_status st = qn_qnas_parse(b, len, "mem.qnas", &q, 64, &e);
    QT_CHECK(st == QN_ERR_FORMAT, "%s: status %d (%s)", what, (int)st, e.msg);
    QT_CHECK(strncmp(e.msg, "mem.qnas: ", 10) == 0 && (!want || strstr(e.msg, want)), "%s: message '%s' (want '%s')",
             what, e.msg, want ? want : "");
    QT_CHECK(q.n_layers == 0 && !q.arena, "%s: the failed parse left a model", what);
    if (st == QN_OK) qn_qnet_free(&q);
    g_rejected++;
}

static void corrupt_files_rejected(void) {
    struct qn_qnet q;
    struct qn_error e = {{0}};
    char path[128];
    tmp_path(path, sizeof(path), "corrupt.qnas");
    build(&q, "min", P_ALLBITS);
    QT_CHECK(qn_qnas_write(path, &q, &e) == QN_OK, "write: %s", e.msg);
    size_t len;
    uint8_t *good = slurp(path, &len), *b = malloc(2 * len);  // room for appended garbage
    const size_t H = le32(good + 8);
    const int n = q.n_layers;
    struct qn_qnet ok;
    QT_CHECK(qn_qnas_parse(good, len, "mem.qnas", &ok, 64, &e) == QN_OK, "the good image: %s", e.msg);
    qn_qnet_free(&ok);
    g_rejected = 0;
#define FRESH() memcpy(b, good, len)
    FRESH(), b[0] = 'X', expect_bad(b, len, "QNAS", "magic");
    FRESH(), set32(b + 4, 2), expect_bad(b, len, "version 2", "version");
    FRESH(), set32(b + 8, 0), expect_bad(b, len, "header length", "header length 0");
    FRESH(), set32(b + 8, 0xffffffffu), expect_bad(b, len, "header length", "header length 2^32-1");
    FRESH(), set32(b + 8, QN_QNAS_MAX_HEADER), expect_bad(b, len, "header checksum", "header length 65536");
    FRESH(), b[12 + H / 2] ^= 0x20, expect_bad(b, len, "header checksum", "header byte");
    FRESH(), b[12 + H] ^= 1, expect_bad(b, len, "header checksum", "header crc");
    // one flipped bit anywhere in every record: length, body or checksum
    for (int i = 0; i < n; i++) {
        const size_t r = record_at(good, i), P = le32(good + r);
        const size_t at[4] = {r + 4, r + 4 + P / 2, r + 4 + P - 1, r + 4 + P + 3};
        for (int k = 0; k < 4; k++) FRESH(), b[at[k]] ^= 0x10, expect_bad(b, len, NULL, "record byte");
        FRESH(), b[r] ^= 0x01, expect_bad(b, len, NULL, "record length");
    }
    // truncation: every length in the header and first records, then a stride, then each record end
    for (size_t l = 0; l < len; l += l < 4096 ? 1 : 331) expect_bad(good, l, "truncated", "truncated");
    for (int i = 0; i < n; i++) {
        const size_t r = record_at(good, i);
        for (size_t d = 0; d < 9; d++) expect_bad(good, r + d, "truncated", "truncated at a record");
    }
    FRESH(), memset(b + len, 0, 200), expect_bad(b, len + 1, "trailing", "1 byte appended");
    expect_bad(b, len + 200, "trailing", "200 bytes appended");
    memcpy(b + len, good + record_at(good, n - 1), len - record_at(good, n - 1));
    expect_bad(b, len + len - record_at(good, n - 1), "trailing", "last record twice");

    // hostile headers, checksums right
    struct {
        const char *key, *raw, *want;
    } hdr[] = {
        {"space", "\"mbconv-imagenet\"", "unknown space"},
        {"space", "7", "\"space\""},
        {"genome", "\"k4e3,k3e3/k3e3,k3e3/k3e3,k3e3/k3e3,k3e3/k3e3,k3e3\"", "kernel 4"},
        {"genome", "\"max\"", "policy"},  // the min genome's policy does not fit max
        {"genome", NULL, "\"genome\""},
        {"policy", "\"int9\"", "policy"},
        {"policy", "\"int8\"", "layer 0 (stem): record of"},  // the records are at other widths
        {"layers", "34", "34 layers"},
        {"layers", "1e300", "\"layers\""},
        {"layers", "-1", "\"layers\""},
        {"calib", "\"best\"", "\"calib\""},
        {"percentile", "\"99\"", "\"percentile\""},
        {"symmetric_act", "0", "\"symmetric_act\""},
        {"bn_images", "2.5", "\"bn_images\""},
        {"seed", "\"-1\"", "\"seed\""},
        {"seed", "\"99999999999999999999\"", "\"seed\""},
    };
    for (size_t k = 0; k < sizeof(hdr) / sizeof(hdr[0]); k++) {
        char *json = header_edit(good, hdr[k].key, hdr[k].raw);
        size_t l = len;
        uint8_t *h = with_header(good, &l, json);
        expect_bad(h, l, hdr[k].want, hdr[k].key);
        free(h), free(json);
    }
    const char *raw_headers[][2] = {{"[1, 2]", "not a JSON object"}, {"{\"space\": ", "not a JSON object"},
                                    {"{} {}", "after the header"}, {"{}", "\"space\""}};
    for (size_t k = 0; k < 4; k++) {
        size_t l = len;
        uint8_t *h = with_header(good, &l, raw_headers[k][0]);
        expect_bad(h, l, raw_headers[k][1], raw_headers[k][0]);
        free(h);
    }

    // hostile layer values, checksums right: body offsets per qnas-model.h
    const int dw4 = layer_index(&q, "s1.b1.dw"), dw3 = layer_index(&q, "s2.b1.dw"), f32 = layer_index(&q, "s4.b1.expand");
    const size_t N4 = (size_t)q.layers[dw4].info.cout;
    struct {
        int layer;
        size_t off;  // in the body; SIZE_MAX: the record length
        int kind;    // 0: f32 value, 1: u32, 2: byte |= value, 3: byte = value
        double v;
        const char *want;
    } bad[] = {
        {dw4, 20, 0, 0.0, "input scale"},
        {dw4, 20, 0, -1.0, "input scale"},
        {dw4, 20, 0, NAN, "input scale"},
        {dw4, 20, 0, 1e38, "input scale"},  // 255 levels overflow
        {dw4, 24, 1, 256, "zero point 256"},
        {dw4, 24, 1, (double)0xffffffffu, "zero point -1"},
        {dw4, 28, 0, 0.0, "weight scale 0"},
        {dw4, 28 + 4, 0, -0.5, "weight scale 1"},
        {dw4, 28 + 8, 0, INFINITY, "weight scale 2"},
        {dw4, 28 + 12, 0, 1e38, "weight scale 3"},  // level 7 * 1e38 overflows
        {dw4, 28 + 4 * N4, 0, NAN, "bias 0"},
        {dw4, 28 + 8 * N4, 3, 0x08, "weight code -8 at element 0"},      // low nibble first
        {dw4, 28 + 8 * N4 + 1, 3, 0x80, "weight code -8 at element 3"},  // codes 2, 3
        {dw3, (size_t)-1, 3, 0xf0, "padding bits"},      // the last byte's 4 unused bits
        {f32, 20, 0, INFINITY, "bias 0"},
        {f32, 20 + 4 * (size_t)q.layers[f32].info.cout + 40, 0, NAN, "weight 10"},
        {dw4, 0, 2, 0x01, "the record is kind 3"},  // DW (2) | 1
        {dw4, 1, 2, 0x08, "W12"},
        {dw4, 3, 2, 0x01, "the record is"},
        {dw4, 4, 1, 7, "cin 7"},
        {dw4, 16, 1, 1, ", 1 weights"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        FRESH();
        const size_t r = record_at(b, bad[k].layer), P = le32(b + r);
        uint8_t *body = b + r + 4;
        const size_t off = bad[k].off == (size_t)-1 ? P - 1 : bad[k].off;
        if (bad[k].kind == 0) set_f32(body + off, (float)bad[k].v);
        else if (bad[k].kind == 1) set32(body + off, (uint32_t)bad[k].v);
        else if (bad[k].kind == 2) body[off] |= (uint8_t)bad[k].v;
        else body[off] = (uint8_t)bad[k].v;
        fix_record_crc(b, bad[k].layer);
        char what[64];
        snprintf(what, sizeof(what), "%s body+%zu", q.layers[bad[k].layer].info.name, off);
        expect_bad(b, len, bad[k].want, what);
    }
    // a record length that passes the checksum but not the layer (the layer's bytes then run on)
    FRESH();
    {
        const size_t r = record_at(b, dw4);
        set32(b + r, le32(b + r) - 4);
        set32(b + r + 4 + le32(b + r), crc_of(b + r, 4 + le32(b + r)));
        expect_bad(b, len, "expected", "short record");
    }
#undef FRESH
    printf("    %d corrupt or hostile images rejected\n", g_rejected);
    // files: missing, a folder
    struct qn_qnet z;
    QT_CHECK(qn_qnas_read("/nonexistent/x.qnas", &z, 64, &e) == QN_ERR_IO && strstr(e.msg, "/nonexistent/x.qnas"),
             "missing file: %s", e.msg);
    QT_CHECK(qn_qnas_read(g_dir, &z, 64, &e) == QN_ERR_IO, "a folder: %s", e.msg);
    QT_CHECK(qn_qnas_read(path, &z, 0, &e) == QN_ERR_ARG, "max batch 0: %s", e.msg);
    free(good), free(b), remove(path);
    qn_qnet_free(&q);
}

// Writes leave either the whole new file or nothing: a value the reader would refuse, or a
// folder that does not exist, give an error, the old file stays, no temp file is left.
static void write_is_atomic(void) {
    struct qn_qnet q;
    struct qn_error e = {{0}};
    char path[128];
    tmp_path(path, sizeof(path), "atomic.qnas");
    build(&q, "min", "int8");
    QN_ASSERT(qn_qnas_write(path, &q, &e) == QN_OK);
    size_t l0, l1;
    uint8_t *before = slurp(path, &l0);
    const int i = layer_index(&q, "s3.b2.dw");
    const float keep = q.layers[i].wscale[5];
    q.layers[i].wscale[5] = NAN;
    QT_CHECK(qn_qnas_write(path, &q, &e) == QN_ERR_ARG && strstr(e.msg, "s3.b2.dw"), "NaN scale written: %s", e.msg);
    q.layers[i].wscale[5] = keep;
    const int8_t keep_q = q.layers[i].wq[0];
    q.layers[i].wq[0] = -128;
    QT_CHECK(qn_qnas_write(path, &q, &e) == QN_ERR_ARG && strstr(e.msg, "code"), "code -128 written: %s", e.msg);
    q.layers[i].wq[0] = keep_q;
    uint8_t *after = slurp(path, &l1);
    QT_CHECK(l0 == l1 && memcmp(before, after, l0) == 0, "a refused write changed the file");
    QT_CHECK(qn_qnas_write("/nonexistent/dir/m.qnas", &q, &e) == QN_ERR_IO, "write into a missing folder: %s", e.msg);
    int others = 0;
    DIR *d = opendir(g_dir);
    for (struct dirent *de; d && (de = readdir(d));) others += strstr(de->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    QT_CHECK(others == 0, "%d temp files left", others);
    free(before), free(after), remove(path);
    qn_qnet_free(&q);
}

// --- (d) the commands ---

// Runs `env <env> qnas <args>` (env NULL: `qnas --threads T <args>`) with stdout and stderr to
// files; returns the exit status (-1 when killed by a signal).
static int qnas_env(const char *env, const char *args, const char *out, const char *err) {
    char *cmd;
    if (env) QN_ASSERT(asprintf(&cmd, "env %s '%s' %s > '%s' 2> '%s'", env, g_qnas, args, out, err) > 0);
    else QN_ASSERT(asprintf(&cmd, "'%s' --threads %d %s > '%s' 2> '%s'", g_qnas, qn_threads(), args, out, err) > 0);
    int rc = system(cmd);
    free(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int qnas(const char *args, const char *out, const char *err) { return qnas_env(NULL, args, out, err); }

static cJSON *json_file(const char *path) {
    size_t len;
    uint8_t *b = slurp(path, &len);
    b[len] = 0;
    cJSON *j = cJSON_Parse((const char *)b);
    free(b);
    return j;
}

static int count_lines(const char *path) {
    size_t len;
    uint8_t *b = slurp(path, &len);
    int n = 0;
    for (size_t i = 0; i < len; i++) n += b[i] == '\n';
    free(b);
    return n;
}

static void cli_export_run_matches_eval(void) {
    if (access(g_qnas, X_OK) != 0) {
        QT_CHECK(false, "%s is not built (make build/qnas)", g_qnas);
        return;
    }
    char model[128], out[128], err[128], args[4096];
    tmp_path(model, sizeof(model), "cli.qnas");
    tmp_path(out, sizeof(out), "out.txt");
    tmp_path(err, sizeof(err), "err.txt");
    const char *build_opts = "--genome min --policy '" P_MIXED "' --bn-images 300 --calib-images 100";
    snprintf(args, sizeof(args), "export --weights '%s' %s --out '%s'", g_weights, build_opts, model);
    QT_CHECK(qnas(args, out, err) == 0, "qnas %s failed", args);
    snprintf(args, sizeof(args), "run '%s' --limit 500 --json --no-latency", model);
    QT_CHECK(qnas(args, out, err) == 0, "qnas %s failed", args);
    cJSON *jr = json_file(out);
    snprintf(args, sizeof(args), "eval --weights '%s' %s --limit 500 --json --no-latency", g_weights, build_opts);
    QT_CHECK(qnas(args, out, err) == 0, "qnas %s failed", args);
    cJSON *je = json_file(out);
    QT_CHECK(jr && je, "no JSON from run or eval");
    if (jr && je) {
        const char *keys[] = {"genome", "policy", "accuracy", "macs", "params", "size_bytes", "split", "images",
                              "calibration", "latency_ms_b1"};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(jr, keys[k]), *b = cJSON_GetObjectItemCaseSensitive(je, keys[k]);
            QT_CHECK(a && b && cJSON_Compare(a, b, true), "run and eval differ in \"%s\"", keys[k]);
        }
        const cJSON *acc = cJSON_GetObjectItemCaseSensitive(jr, "accuracy");
        printf("    qnas run and qnas eval: top-1 %.2f%% on 500 val images\n", cJSON_IsNumber(acc) ? 100 * acc->valuedouble : -1);
    }
    cJSON_Delete(jr), cJSON_Delete(je);
    // latency in the JSON report
    snprintf(args, sizeof(args), "run '%s' --limit 64 --json --reps 3", model);
    QT_CHECK(qnas(args, out, err) == 0, "qnas %s failed", args);
    jr = json_file(out);
    QT_CHECK(jr && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(jr, "latency_ms_b64")), "no latency_ms_b64");
    if (jr) {
        // batch 1: all threads or one, on some of the layers (qn_qnet_forward's plan)
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(jr, "threads_b1");
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(jr, "threads_b1_layers");
        QT_CHECK(cJSON_IsNumber(t) && (t->valueint == 1 || t->valueint == qn_threads()), "threads_b1 missing or %d",
                 cJSON_IsNumber(t) ? t->valueint : -1);
        QT_CHECK(cJSON_IsNumber(l) && l->valueint >= 1 && l->valueint <= QN_MB_MAX_LAYERS, "threads_b1_layers %d",
                 cJSON_IsNumber(l) ? l->valueint : -1);
    }
    cJSON_Delete(jr);
    // a corrupt file: exit 2, one line naming the file and the problem
    size_t len;
    uint8_t *b = slurp(model, &len);
    b[len / 2] ^= 0x40;
    char bad[128];
    tmp_path(bad, sizeof(bad), "bad.qnas");
    put_file(bad, b, len);
    free(b);
    snprintf(args, sizeof(args), "run '%s'", bad);
    QT_CHECK(qnas(args, out, err) == 2, "qnas run on a corrupt file did not exit 2");
    size_t el;
    uint8_t *msg = slurp(err, &el);
    msg[el] = 0;
    QT_CHECK(count_lines(err) == 1 && strstr((char *)msg, bad) && strstr((char *)msg, "checksum"),
             "corrupt file message: '%s'", (char *)msg);
    free(msg);
    // bad arguments: exit 2 with one line, and no file written
    static char cases[9][4096];
    int nc = 0;
    snprintf(cases[nc++], 4096, "run");
    snprintf(cases[nc++], 4096, "run /nonexistent.qnas");
    snprintf(cases[nc++], 4096, "run '%s' '%s'", model, model);
    snprintf(cases[nc++], 4096, "run '%s' --split train", model);
    snprintf(cases[nc++], 4096, "run '%s' --limit 0", model);
    snprintf(cases[nc++], 4096, "run '%s' --reps", model);
    snprintf(cases[nc++], 4096, "export --weights '%s' --genome min", g_weights);
    snprintf(cases[nc++], 4096, "export --weights '%s' --genome min --out '%s/never.qnas' --limit 5", g_weights, g_dir);
    snprintf(cases[nc++], 4096, "export --weights '%s' --genome min --policy int9 --out '%s/never.qnas'", g_weights,
             g_dir);
    for (int k = 0; k < nc; k++)
        QT_CHECK(qnas(cases[k], out, err) == 2 && count_lines(err) == 1, "qnas %s: not one message and exit 2",
                 cases[k]);
    char never[128];
    tmp_path(never, sizeof(never), "never.qnas");
    QT_CHECK(access(never, F_OK) != 0, "a failed export left %s", never);
    remove(model), remove(bad), remove(out), remove(err);
}

// `qnas sensitivity --suggest F`: the table, and a mixed policy that parses, stays within F x the
// base size, and only moves layers between the low width and their base precision.
static void cli_sensitivity_suggest(void) {
    if (access(g_qnas, X_OK) != 0) {
        QT_CHECK(false, "%s is not built (make build/qnas)", g_qnas);
        return;
    }
    char out[128], err[128], args[4096];
    tmp_path(out, sizeof(out), "sens.json");
    tmp_path(err, sizeof(err), "sens.err");
    snprintf(args, sizeof(args),
             "sensitivity --weights '%s' --genome min --policy int8 --bits 4 --limit 300 --bn-images 300 "
             "--calib-images 100 --json --suggest 0.6", g_weights);
    QT_CHECK(qnas(args, out, err) == 0, "qnas %s failed", args);
    cJSON *j = json_file(out);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "suggested_policy");
    const cJSON *sb = cJSON_GetObjectItemCaseSensitive(j, "suggested_size_bytes");
    const cJSON *bb = cJSON_GetObjectItemCaseSensitive(j, "base_size_bytes");
    QT_CHECK(cJSON_IsArray(layers) && cJSON_IsString(sp) && cJSON_IsNumber(sb) && cJSON_IsNumber(bb),
             "sensitivity JSON lacks layers / suggested_policy / sizes");
    struct qn_mb_genome g;
    struct qn_mb_policy p;
    struct qn_error e = {{0}};
    if (cJSON_IsArray(layers) && cJSON_IsString(sp) && cJSON_IsNumber(sb) && cJSON_IsNumber(bb) &&
        qn_mb_genome_parse(S, "min", &g, &e) == QN_OK) {
        QT_CHECK(qn_mb_policy_parse(S, &g, sp->valuestring, &p, &e) == QN_OK, "suggested policy does not parse: %s",
                 e.msg);
        QT_CHECK(p.n == cJSON_GetArraySize(layers), "suggestion has %d layers, the table %d", p.n,
                 cJSON_GetArraySize(layers));
        const uint64_t size = qn_mb_policy_size_bytes(S, &g, &p);
        QT_CHECK((double)size == sb->valuedouble && size <= 0.6 * bb->valuedouble,
                 "suggested size %llu (reported %.0f) over 0.6 x %.0f", (unsigned long long)size, sb->valuedouble,
                 bb->valuedouble);
        int at8 = 0;
        for (int i = 0; i < p.n && i < cJSON_GetArraySize(layers); i++) {
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(layers, i), "accuracy_drop");
            const bool low = p.l[i].wbits == 4 && p.l[i].abits == 8, base = p.l[i].wbits == 8 && p.l[i].abits == 8;
            QT_CHECK(low || base, "layer %d at w%d a%d", i, p.l[i].wbits, p.l[i].abits);
            QT_CHECK(low || (cJSON_IsNumber(d) && d->valuedouble > 0), "layer %d restored with a drop <= 0", i);
            at8 += base;
        }
        printf("    suggested: %d of %d layers at 8 bits, %llu bytes (%.1f%% of INT8)\n", at8, p.n,
               (unsigned long long)size, 100.0 * (double)size / bb->valuedouble);
    }
    cJSON_Delete(j);
    snprintf(args, sizeof(args), "sensitivity --weights '%s' --genome min --suggest 1.5", g_weights);
    QT_CHECK(qnas(args, out, err) == 2 && count_lines(err) == 1, "--suggest 1.5: not one message and exit 2");
    remove(out), remove(err);
}

// Exit status 2 and exactly one line on stderr holding `want`.
static void expect_refused(const char *env, const char *args, const char *want, const char *out, const char *err) {
    const int rc = qnas_env(env, args, out, err);
    char *msg = qt_slurp(err, NULL);
    QT_CHECK(rc == 2 && msg && count_lines(err) == 1 && strstr(msg, want), "%s%sqnas %s: exit %d, stderr '%s' (want '%s')",
             env ? env : "", env ? " " : "", args, rc, msg ? msg : "", want);
    free(msg);
}

// Arguments and environment found wrong by the robustness sweep: one message and exit status 2.
static void cli_bad_arguments_refused(void) {
    if (access(g_qnas, X_OK) != 0) {
        QT_CHECK(false, "%s is not built (make build/qnas)", g_qnas);
        return;
    }
    char out[128], err[128], args[4096];
    tmp_path(out, sizeof(out), "args.out");
    tmp_path(err, sizeof(err), "args.err");
    // QNAS_THREADS: 99999 crashed in libgomp, 50000 failed thread creation, abc / 2x were
    // ignored or misread; an empty value counts as unset, --threads overrides it
    static const char *const threads[] = {"99999", "50000", "abc", "2x", "0", "+2"};
    for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
        snprintf(args, sizeof(args), "QNAS_THREADS=%s", threads[k]);
        expect_refused(args, "info", "QNAS_THREADS expects a number from 1 to 1024", out, err);
    }
    QT_CHECK(qnas_env("QNAS_THREADS=", "info", out, err) == 0, "QNAS_THREADS= (empty) refused");
    QT_CHECK(qnas_env("QNAS_THREADS=abc", "--threads 1 info", out, err) == 0, "--threads does not override QNAS_THREADS");
    // unknown options are named as such, also by commands that take a value after them
    expect_refused(NULL, "info --bogus", "unknown option '--bogus'", out, err);
    expect_refused(NULL, "info extra", "unknown option 'extra'", out, err);
    expect_refused(NULL, "help extra", "unknown option 'extra'", out, err);
    expect_refused(NULL, "train --bogus", "unknown option '--bogus'", out, err);
    expect_refused(NULL, "search --bogus", "unknown option '--bogus'", out, err);
    expect_refused(NULL, "eval --reps", "option --reps needs a value", out, err);
    expect_refused(NULL, "sensitivity --bits", "option --bits needs a value", out, err);
    // random:SEED: digits only, at most 2^64 - 1
    static const char *const seeds[] = {"18446744073709551616", "99999999999999999999999", "' 5'", "+5"};
    for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
        snprintf(args, sizeof(args), "eval --weights '%s' --genome random:%s --no-latency", g_weights, seeds[k]);
        expect_refused(NULL, args, "random:SEED needs a non-negative integer seed", out, err);
    }
    // a report that cannot be written to stdout (a full disk: /dev/full, where there is one)
    // fails the command instead of exiting 0 with nothing written
    struct stat sb;
    if (stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode)) {
        char *cmd;
        QN_ASSERT(asprintf(&cmd, "'%s' info > /dev/full 2> '%s'", g_qnas, err) > 0);
        const int rc = system(cmd);
        free(cmd);
        char *msg = qt_slurp(err, NULL);
        QT_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2 && msg && strstr(msg, "cannot write standard output"),
                 "qnas info > /dev/full: status %d, stderr '%s'", rc, msg ? msg : "");
        free(msg);
    }
    remove(out), remove(err);
}

// Outputs are checked before any work: never an input however the path is spelled (the guards
// compared strings), never an existing FIFO (the atomic rename replaced it by a regular file),
// and train's --out and batch before training.
static void cli_outputs_checked(void) {
    if (access(g_qnas, X_OK) != 0) {
        QT_CHECK(false, "%s is not built (make build/qnas)", g_qnas);
        return;
    }
    char out[128], err[128], w[128], fifo[128], args[4096];
    tmp_path(out, sizeof(out), "outs.out");
    tmp_path(err, sizeof(err), "outs.err");
    tmp_path(w, sizeof(w), "w.safetensors");
    tmp_path(fifo, sizeof(fifo), "fifo");
    size_t wl;
    uint8_t *wb = slurp(g_weights, &wl);
    put_file(w, wb, wl);
    snprintf(args, sizeof(args), "export --weights '%s' --genome min --out '%s/./w.safetensors'", w, g_dir);
    expect_refused(NULL, args, "--out and --weights are the same file", out, err);
    snprintf(args, sizeof(args), "eval --weights '%s' --genome min --no-latency --save-subnet '%s'", w, w);
    expect_refused(NULL, args, "--save-subnet and --weights are the same file", out, err);
    snprintf(args, sizeof(args), "eval --weights '%s' --genome min --no-latency --logits '%s/../%s/w.safetensors'", w,
             g_dir, strrchr(g_dir, '/') + 1);
    expect_refused(NULL, args, "--logits and --weights are the same file", out, err);
    snprintf(args, sizeof(args), "eval --weights '%s' --genome min --no-latency --logits '%s/l.bin' --save-subnet "
             "'%s/./l.bin'", w, g_dir, g_dir);
    expect_refused(NULL, args, "--logits and --save-subnet are the same file", out, err);
    snprintf(args, sizeof(args), "train --space mbconv-fmnist --epochs 1 --limit-train 64 --batch 32 --init '%s' "
             "--out '%s/./w.safetensors'", w, g_dir);
    expect_refused(NULL, args, "--out and --init are the same file", out, err);
    size_t l2;
    uint8_t *after = slurp(w, &l2);
    QT_CHECK(l2 == wl && memcmp(wb, after, wl) == 0, "the weights were overwritten");
    free(wb), free(after);
    QN_ASSERT(mkfifo(fifo, 0644) == 0);
    snprintf(args, sizeof(args), "export --weights '%s' --genome min --out '%s'", w, fifo);
    expect_refused(NULL, args, "not a regular file", out, err);
    snprintf(args, sizeof(args), "moo --problem zdt1 --pop 4 --gen 1 --out '%s'", fifo);
    expect_refused(NULL, args, "not a regular file", out, err);
    snprintf(args, sizeof(args), "eval --weights '%s' --genome min --no-latency --logits '%s'", w, fifo);
    expect_refused(NULL, args, "not a regular file", out, err);
    snprintf(args, sizeof(args), "train --space mbconv-fmnist --epochs 1 --limit-train 64 --batch 32 --out '%s'", fifo);
    expect_refused(NULL, args, "not a regular file", out, err);
    struct stat sb;
    QT_CHECK(stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO was replaced");
    // train used to train a whole epoch before finding it could not write --out, and to run
    // zero steps (then write a checkpoint) with fewer training images than a batch
    expect_refused(NULL, "train --space mbconv-fmnist --epochs 1 --limit-train 64 --batch 32 --out /nonexistent/x.st",
                   "cannot create", out, err);
    snprintf(args, sizeof(args), "train --space mbconv-fmnist --epochs 1 --limit-train 1 --limit-val 1 --batch 2 "
             "--out '%s/tiny.st'", g_dir);
    expect_refused(NULL, args, "--batch 2 exceeds the 1 training images", out, err);
    tmp_path(args, sizeof(args), "tiny.st");
    QT_CHECK(access(args, F_OK) != 0, "train with no full batch wrote %s", args);
    remove(w), remove(fifo), remove(out), remove(err);
}

// Exit 2 with one line on stderr that holds every one of want[] (NULL-terminated).
static void expect_refused_all(const char *args, const char *err, const char *const *want) {
    char out[128];
    tmp_path(out, sizeof(out), "refused.out");
    const int rc = qnas(args, out, err);
    size_t el;
    uint8_t *msg = slurp(err, &el);
    msg[el] = 0;
    bool has = true;
    for (int i = 0; want[i]; i++) has &= strstr((char *)msg, want[i]) != NULL;
    QT_CHECK(rc == 2 && count_lines(err) == 1 && has, "qnas %s: exit %d, '%s'", args, rc, (char *)msg);
    free(msg), remove(out);
}

// Weights that pass the file checks but overflow for the subnet (the stem's conv weights at
// 3e38): every command that builds from them exits 2 with one message naming the file, and
// leaves no output behind (before: an assertion in the fake quantization, exit 134).
static void cli_hostile_weights(void) {
    if (access(g_qnas, X_OK) != 0) {
        QT_CHECK(false, "%s is not built (make build/qnas)", g_qnas);
        return;
    }
    char w[128], err[128], model[128], trained[128], dir[128], args[4096];
    tmp_path(w, sizeof(w), "huge.safetensors");
    tmp_path(err, sizeof(err), "huge.err");
    tmp_path(model, sizeof(model), "huge.qnas");
    tmp_path(trained, sizeof(trained), "huge-qat.safetensors");
    tmp_path(dir, sizeof(dir), "huge-search");
    QN_ASSERT(qt_weights_with(g_weights, w, "stem.conv.weight", 3e38f));
    const char *want[] = {w, "not finite", NULL};
    const char *small = "--bn-images 100 --calib-images 50";
    snprintf(args, sizeof(args), "eval --weights '%s' --genome min --policy int8 --limit 10 --no-latency %s", w, small);
    expect_refused_all(args, err, want);
    snprintf(args, sizeof(args), "export --weights '%s' --genome min --policy int4 --out '%s' %s", w, model, small);
    expect_refused_all(args, err, want);
    snprintf(args, sizeof(args), "sensitivity --weights '%s' --genome min --policy int8 --limit 10 %s", w, small);
    expect_refused_all(args, err, want);
    snprintf(args, sizeof(args), "train --space mbconv-fmnist --qat --init '%s' --out '%s' --epochs 1 --batch 32 "
                                 "--limit-train 64 --limit-val 50", w, trained);
    expect_refused_all(args, err, want);
    snprintf(args, sizeof(args), "search --weights '%s' --out '%s' --quiet %s", w, dir, small);
    expect_refused_all(args, err, want);
    QT_CHECK(access(model, F_OK) != 0 && access(trained, F_OK) != 0 && access(dir, F_OK) != 0,
             "a refused command left %s, %s or %s", model, trained, dir);
    remove(w), remove(err);
}

// --percentile is (50, 100], checked on the float the calibration gets: 50 (clipping both
// ends to the median) and 50.000001 (which rounds to 50.0f) are refused at the command line
// (before: an assertion in the percentile calibration, exit 134).
static void cli_percentile_range(void) {
    if (access(g_qnas, X_OK) != 0) {
        QT_CHECK(false, "%s is not built (make build/qnas)", g_qnas);
        return;
    }
    char err[128], model[128], args[4096];
    tmp_path(err, sizeof(err), "pct.err");
    tmp_path(model, sizeof(model), "pct.qnas");
    const char *want[] = {"--percentile", "(50, 100]", NULL};
    const char *cmds[] = {"eval", "export", "sensitivity"}, *vals[] = {"50", "50.000001", "49", "100.01"};
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 4; v++) {
            snprintf(args, sizeof(args), "%s --weights '%s' --genome min --policy int8 --calib percentile "
                                         "--percentile %s%s%s%s", cmds[c], g_weights, vals[v],
                     c == 1 ? " --out '" : " --limit 10", c == 1 ? model : "", c == 1 ? "'" : "");
            expect_refused_all(args, err, want);
        }
    QT_CHECK(access(model, F_OK) != 0, "a refused export left %s", model);
    remove(err);
}

int main(int argc, char **argv) {
    (void)argc;
    S = qn_mb_space_fmnist();
    g_weights = getenv("QNAS_TEST_WEIGHTS") ? getenv("QNAS_TEST_WEIGHTS") : "weights/mbconv-fmnist.safetensors";
    // the qnas binary of this build tree: <build>/tests/test-qnas-model -> <build>/qnas
    char self[4096];
    snprintf(self, sizeof(self), "%s", argv[0]);
    snprintf(g_qnas, sizeof(g_qnas), "%s/../qnas", dirname(self));
    snprintf(g_dir, sizeof(g_dir), "/tmp/qnas-test-model-XXXXXX");
    QN_ASSERT(mkdtemp(g_dir));
    struct qn_error e = {{0}};
    struct qn_safetensors st;
    bool ok = qn_st_read(g_weights, true, &st, &e) == QN_OK;
    if (ok) {
        ok = qn_mb_net_init(&g_net, S, &e) == QN_OK && qn_mb_net_load(&g_net, &st, g_weights, &e) == QN_OK;
        qn_st_free(&st);
    }
    ok = ok && qn_dataset_load(NULL, QN_SPLIT_TRAIN, &g_train, &e) == QN_OK &&
         qn_dataset_load(NULL, QN_SPLIT_TEST, &g_test, &e) == QN_OK;
    if (!ok) {
        printf("  fail  cannot load %s or the data: %s\n", g_weights, e.msg);
        printf("RESULT test-qnas-model pass=0 fail=1\n");
        rmdir(g_dir);
        return 1;
    }
    QT_RUN(roundtrip_bit_identical);
    QT_RUN(file_size_follows_bits);
    QT_RUN(corrupt_files_rejected);
    QT_RUN(write_is_atomic);
    QT_RUN(cli_export_run_matches_eval);
    QT_RUN(cli_sensitivity_suggest);
    QT_RUN(cli_outputs_checked);
    QT_RUN(cli_bad_arguments_refused);
    QT_RUN(cli_hostile_weights);
    QT_RUN(cli_percentile_range);
    qn_mb_net_free(&g_net);
    qn_dataset_free(&g_train), qn_dataset_free(&g_test);
    rmdir(g_dir);
    return qt_finish(argv[0]);
}
