// Standalone `.qnas` model files: writer and hardened reader (format in qnas-model.h).
#include "qnas-model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "safetensors.h"  // qn_write_atomic

#define PREFIX_BYTES 12u  // magic, version, header length
#define BODY_FIXED 20u    // kind, bits, reserved, cin, cout, k, weights

static const uint8_t magic[4] = {'Q', 'N', 'A', 'S'};

// --- little-endian fields ---

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static int32_t rd_i32(const uint8_t *p) {
    const uint32_t u = rd_u32(p);
    return u <= INT32_MAX ? (int32_t)u : (int32_t)(u - 0x80000000u) - INT32_MAX - 1;
}
static float rd_f32(const uint8_t *p) {
    const uint32_t u = rd_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint8_t *wr_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}
static uint8_t *wr_f32(uint8_t *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return wr_u32(p, u);
}

// zlib's crc32; n <= QN_QNAS_MAX_FILE fits its uInt length.
static uint32_t crc(const uint8_t *p, size_t n) { return (uint32_t)crc32(crc32(0, Z_NULL, 0), p, (uInt)n); }

// --- weight codes: wbits-bit two's complement fields of an LSB-first bit stream ---

static void codes_pack(const int8_t *q, size_t n, int bits, uint8_t *out) {
    const uint32_t mask = (1u << bits) - 1;
    uint32_t acc = 0;
    int have = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= ((uint32_t)(uint8_t)q[i] & mask) << have;
        for (have += bits; have >= 8; have -= 8, acc >>= 8) *out++ = (uint8_t)acc;
    }
    if (have) *out = (uint8_t)acc;
}

// Reads n codes from the ceil(n * bits / 8) bytes at in; false when the unused bits of the last
// byte are not 0 (the range of the values is layer_check's job).
static bool codes_unpack(const uint8_t *in, size_t n, int bits, int8_t *q) {
    const uint32_t mask = (1u << bits) - 1, sign = 1u << (bits - 1);
    uint32_t acc = 0;
    int have = 0;
    for (size_t i = 0; i < n; i++) {
        if (have < bits) acc |= (uint32_t)*in++ << have, have += 8;
        q[i] = (int8_t)((int)((acc & mask) ^ sign) - (int)sign);
        acc >>= bits, have -= bits;
    }
    return acc == 0;
}

// --- layers ---

// Body bytes of a layer's record (the quantized part is exactly what qn_mb_policy_size_bytes
// counts, plus the fixed fields). Genome-derived sizes: far below 2^32.
static uint64_t body_bytes(const struct qn_mb_layer *I, struct qn_mb_qlayer ql) {
    const uint64_t w = I->weights, c = (uint64_t)I->cout;
    return BODY_FIXED + (ql.wbits ? 8 + 8 * c + QN_DIV_UP(w * ql.wbits, 8) : 4 * c + 4 * w);
}

// The invariants of a layer's stored values, which the reader enforces and the writer checks
// before writing (status `bad`: QN_ERR_FORMAT reading, QN_ERR_ARG writing). A scale must also
// keep its largest level finite, so dequantized weights and 1 / scale never overflow.
static enum qn_status layer_check(const struct qn_qnet_layer *L, int i, const char *what, enum qn_status bad,
                                  struct qn_error *e) {
    const struct qn_mb_layer *I = &L->info;
    const size_t N = (size_t)I->cout, wn = (size_t)I->weights;
    for (size_t c = 0; c < N; c++)
        if (!isfinite(L->bias[c]))
            return qn_fail(e, bad, "%s: layer %d (%s): bias %zu is %g", what, i, I->name, c, L->bias[c]);
    if (!L->q.wbits) {
        for (size_t j = 0; j < wn; j++)
            if (!isfinite(L->w[j]))
                return qn_fail(e, bad, "%s: layer %d (%s): weight %zu is %g", what, i, I->name, j, L->w[j]);
        return QN_OK;
    }
    const int lim = (1 << (L->q.wbits - 1)) - 1, qmax = (1 << L->q.abits) - 1;
    const float s = L->in.scale;
    if (!(isfinite(s) && s >= FLT_MIN && isfinite(s * (float)qmax)))
        return qn_fail(e, bad, "%s: layer %d (%s): input scale %g is not a finite positive scale", what, i, I->name,
                       s);
    if (L->in.zp < 0 || L->in.zp > qmax || L->in.qmax != qmax)
        return qn_fail(e, bad, "%s: layer %d (%s): input zero point %d outside 0..%d (%d-bit activations)", what, i,
                       I->name, (int)L->in.zp, qmax, L->q.abits);
    for (size_t c = 0; c < N; c++) {
        const float w = L->wscale[c];
        if (!(isfinite(w) && w > 0 && isfinite(w * (float)lim)))
            return qn_fail(e, bad, "%s: layer %d (%s): weight scale %zu is %g (must be finite and > 0)", what, i,
                           I->name, c, w);
    }
    for (size_t j = 0; j < wn; j++)
        if (L->wq[j] < -lim || L->wq[j] > lim)
            return qn_fail(e, bad, "%s: layer %d (%s): weight code %d at element %zu outside -%d..%d (%d bits)", what,
                           i, I->name, L->wq[j], j, lim, lim, L->q.wbits);
    return QN_OK;
}

// Decodes record body b (exactly body_bytes long) of layer i into L, whose info and q are set.
static enum qn_status layer_read(struct qn_qnet_layer *L, int i, const uint8_t *b, const char *what,
                                 struct qn_error *e) {
    const struct qn_mb_layer *I = &L->info;
    const struct qn_mb_qlayer ql = L->q;
    const uint32_t cin = rd_u32(b + 4), cout = rd_u32(b + 8), k = rd_u32(b + 12), w = rd_u32(b + 16);
    if (b[0] != (uint8_t)I->kind || b[1] != ql.wbits || b[2] != ql.abits || b[3] != 0 || cin != (uint32_t)I->cin ||
        cout != (uint32_t)I->cout || k != (uint32_t)I->k || w != I->weights)
        return qn_fail(e, QN_ERR_FORMAT,
                       "%s: layer %d (%s): the record is kind %u W%u A%u, cin %" PRIu32 " cout %" PRIu32 " k %" PRIu32
                       ", %" PRIu32 " weights; the genome and policy give kind %d W%d A%d, cin %d cout %d k %d, "
                       "%" PRIu64 " weights",
                       what, i, I->name, (unsigned)b[0], (unsigned)b[1], (unsigned)b[2], cin, cout, k, w, (int)I->kind, ql.wbits, ql.abits, I->cin,
                       I->cout, I->k, I->weights);
    const size_t N = (size_t)I->cout, wn = (size_t)I->weights;
    const uint8_t *p = b + BODY_FIXED;
    L->bias = qn_alloc(sizeof(float) * N);
    if (!ql.wbits) {
        L->w = qn_alloc(sizeof(float) * wn);
        if (!L->bias || !L->w) return qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", what);
        for (size_t c = 0; c < N; c++, p += 4) L->bias[c] = rd_f32(p);
        for (size_t j = 0; j < wn; j++, p += 4) L->w[j] = rd_f32(p);
    } else {
        L->wscale = qn_alloc(sizeof(float) * N);
        L->wq = qn_alloc(wn);
        if (!L->bias || !L->wscale || !L->wq) return qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", what);
        L->in = (struct qn_act_qparams){.scale = rd_f32(p), .zp = rd_i32(p + 4), .qmax = (1 << ql.abits) - 1};
        p += 8;
        for (size_t c = 0; c < N; c++, p += 4) L->wscale[c] = rd_f32(p);
        for (size_t c = 0; c < N; c++, p += 4) L->bias[c] = rd_f32(p);
        if (!codes_unpack(p, wn, ql.wbits, L->wq))
            return qn_fail(e, QN_ERR_FORMAT, "%s: layer %d (%s): nonzero padding bits after the last weight code",
                           what, i, I->name);
    }
    return layer_check(L, i, what, QN_ERR_FORMAT, e);
}

static uint8_t *layer_write(const struct qn_qnet_layer *L, uint8_t *p) {
    const struct qn_mb_layer *I = &L->info;
    const size_t N = (size_t)I->cout, wn = (size_t)I->weights;
    *p++ = (uint8_t)I->kind, *p++ = L->q.wbits, *p++ = L->q.abits, *p++ = 0;
    p = wr_u32(p, (uint32_t)I->cin), p = wr_u32(p, (uint32_t)I->cout), p = wr_u32(p, (uint32_t)I->k);
    p = wr_u32(p, (uint32_t)I->weights);
    if (!L->q.wbits) {
        for (size_t c = 0; c < N; c++) p = wr_f32(p, L->bias[c]);
        for (size_t j = 0; j < wn; j++) p = wr_f32(p, L->w[j]);
        return p;
    }
    p = wr_f32(p, L->in.scale), p = wr_u32(p, (uint32_t)L->in.zp);
    for (size_t c = 0; c < N; c++) p = wr_f32(p, L->wscale[c]);
    for (size_t c = 0; c < N; c++) p = wr_f32(p, L->bias[c]);
    codes_pack(L->wq, wn, L->q.wbits, p);
    return p + QN_DIV_UP(wn * L->q.wbits, 8);
}

// --- header ---

static char *header_json(const struct qn_qnet *q, const char *gtext, const char *ptext) {
    cJSON *h = cJSON_CreateObject();
    char seed[24];
    snprintf(seed, sizeof(seed), "%" PRIu64, q->cfg.seed);
    const struct qn_qnet_cfg *c = &q->cfg;
    const bool ok = h && cJSON_AddStringToObject(h, "space", q->space->name) &&
                    cJSON_AddStringToObject(h, "genome", gtext) && cJSON_AddStringToObject(h, "policy", ptext) &&
                    cJSON_AddNumberToObject(h, "layers", q->n_layers) &&
                    cJSON_AddStringToObject(h, "calib", qn_calib_name(c->calib)) &&
                    cJSON_AddStringToObject(h, "wcalib", qn_calib_name(c->wcalib)) &&
                    cJSON_AddNumberToObject(h, "percentile", c->percentile) &&
                    cJSON_AddBoolToObject(h, "symmetric_act", c->symmetric_act) &&
                    cJSON_AddNumberToObject(h, "bn_images", c->bn_images) &&
                    cJSON_AddNumberToObject(h, "calib_images", c->calib_images) &&
                    cJSON_AddStringToObject(h, "seed", seed);
    char *json = ok ? cJSON_PrintUnformatted(h) : NULL;
    cJSON_Delete(h);
    return json;
}

static const char *hdr_str(const cJSON *h, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(h, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

// An integer-valued number in [lo, hi].
static bool hdr_int(const cJSON *h, const char *key, int lo, int hi, int *out) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(h, key);
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= lo && j->valuedouble <= hi) || j->valuedouble != floor(j->valuedouble))
        return false;
    *out = (int)j->valuedouble;
    return true;
}

static bool parse_seed(const char *s, uint64_t *out) {
    if (!s || !*s || strlen(s) > 20 || strspn(s, "0123456789") != strlen(s)) return false;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno) return false;
    *out = (uint64_t)v;
    return true;
}

// Fills q's space, genome, policy, cfg and layer table from the header JSON.
static enum qn_status header_read(const uint8_t *json, size_t H, const char *what, struct qn_qnet *q,
                                  struct qn_error *e) {
    const char *end = NULL;
    cJSON *h = cJSON_ParseWithLengthOpts((const char *)json, H, &end, false);
    enum qn_status st = QN_OK;
    struct qn_error sub = {{0}};
    if (!cJSON_IsObject(h)) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: the header is not a JSON object", what);
        goto out;
    }
    for (const char *c = end; c < (const char *)json + H; c++)
        if (!strchr(" \t\r\n", *c) || !*c) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: bytes after the header's JSON object", what);
            goto out;
        }
    static const char *strings[] = {"space", "genome", "policy", "calib", "wcalib", "seed"};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if (!hdr_str(h, strings[i])) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: header: \"%s\" is missing or not a string", what, strings[i]);
            goto out;
        }
    const char *space = hdr_str(h, "space");
    if (!(q->space = qn_mb_space_find(space))) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: unknown space '%.64s' (this qnas knows mbconv-fmnist)", what, space);
        goto out;
    }
    if (qn_mb_genome_parse(q->space, hdr_str(h, "genome"), &q->genome, &sub) ||
        qn_mb_policy_parse(q->space, &q->genome, hdr_str(h, "policy"), &q->policy, &sub)) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: %s", what, sub.msg);
        goto out;
    }
    struct qn_qnet_cfg *c = &q->cfg;
    int n_layers;
    const cJSON *pct = cJSON_GetObjectItemCaseSensitive(h, "percentile");
    const cJSON *sym = cJSON_GetObjectItemCaseSensitive(h, "symmetric_act");
    const char *bad = NULL;
    if (!hdr_int(h, "layers", 1, QN_MB_MAX_LAYERS, &n_layers)) bad = "layers";
    else if (!qn_calib_parse(hdr_str(h, "calib"), &c->calib)) bad = "calib";
    else if (!qn_calib_parse(hdr_str(h, "wcalib"), &c->wcalib)) bad = "wcalib";
    else if (!cJSON_IsNumber(pct) || !(pct->valuedouble >= 50 && pct->valuedouble <= 100)) bad = "percentile";
    else if (!cJSON_IsBool(sym)) bad = "symmetric_act";
    else if (!hdr_int(h, "bn_images", 0, 1 << 30, &c->bn_images)) bad = "bn_images";
    else if (!hdr_int(h, "calib_images", 0, 1 << 30, &c->calib_images)) bad = "calib_images";
    else if (!parse_seed(hdr_str(h, "seed"), &c->seed)) bad = "seed";
    if (bad) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: header: \"%s\" is missing or out of range", what, bad);
        goto out;
    }
    c->percentile = (float)pct->valuedouble, c->symmetric_act = cJSON_IsTrue(sym);
    struct qn_mb_layer info[QN_MB_MAX_LAYERS];
    q->n_layers = qn_mb_layers(q->space, &q->genome, info);
    if (n_layers != q->n_layers) {
        st = qn_fail(e, QN_ERR_FORMAT, "%s: the header says %d layers, the genome has %d", what, n_layers, q->n_layers);
        q->n_layers = 0;
        goto out;
    }
    for (int i = 0; i < q->n_layers; i++) q->layers[i].info = info[i], q->layers[i].q = q->policy.l[i];
out:
    cJSON_Delete(h);
    return st;
}

// --- file ---

enum qn_status qn_qnas_write(const char *path, const struct qn_qnet *q, struct qn_error *e) {
    for (int i = 0; i < q->n_layers; i++) {
        const struct qn_qnet_layer *L = &q->layers[i];
        if (L->q.wbits != q->policy.l[i].wbits || L->q.abits != q->policy.l[i].abits)
            return qn_fail(e, QN_ERR_ARG, "%s: layer %d (%s) is not at its policy's precision", path, i, L->info.name);
        enum qn_status st = layer_check(L, i, path, QN_ERR_ARG, e);
        if (st) return st;
    }
    char gtext[512], ptext[4096];
    if ((size_t)qn_mb_genome_format(q->space, &q->genome, gtext, sizeof(gtext)) >= sizeof(gtext) ||
        (size_t)qn_mb_policy_format(q->space, &q->genome, &q->policy, ptext, sizeof(ptext)) >= sizeof(ptext))
        return qn_fail(e, QN_ERR_ARG, "%s: genome or policy text too long", path);
    char *json = header_json(q, gtext, ptext);
    if (!json) return qn_fail(e, QN_ERR_NOMEM, "%s: out of memory", path);
    const size_t H = strlen(json);
    uint64_t total = PREFIX_BYTES + H + 4;
    for (int i = 0; i < q->n_layers; i++) total += 8 + body_bytes(&q->layers[i].info, q->layers[i].q);
    QN_ASSERT(H >= 1 && H <= QN_QNAS_MAX_HEADER && total <= QN_QNAS_MAX_FILE);  // a real space's subnet
    uint8_t *img = malloc((size_t)total);
    if (!img) {
        free(json);
        return qn_fail(e, QN_ERR_NOMEM, "%s: cannot allocate %" PRIu64 " bytes", path, total);
    }
    uint8_t *p = img;
    memcpy(p, magic, 4);
    p = wr_u32(p + 4, QN_QNAS_VERSION);
    p = wr_u32(p, (uint32_t)H);
    memcpy(p, json, H);
    p += H;
    p = wr_u32(p, crc(img, (size_t)(p - img)));
    free(json);
    for (int i = 0; i < q->n_layers; i++) {
        uint8_t *rec = p;
        const uint32_t P = (uint32_t)body_bytes(&q->layers[i].info, q->layers[i].q);
        p = layer_write(&q->layers[i], wr_u32(p, P));
        QN_ASSERT((size_t)(p - rec) == 4 + (size_t)P);
        p = wr_u32(p, crc(rec, 4 + (size_t)P));
    }
    QN_ASSERT((uint64_t)(p - img) == total);
    const void *parts[1] = {img};
    const size_t sizes[1] = {(size_t)total};
    enum qn_status st = qn_write_atomic(path, parts, sizes, 1, e);
    free(img);
    return st;
}

enum qn_status qn_qnas_parse(const uint8_t *buf, size_t len, const char *what, struct qn_qnet *q, int max_batch,
                             struct qn_error *e) {
    memset(q, 0, sizeof(*q));
    if (max_batch < 1 || max_batch > QN_QNAS_MAX_BATCH)
        return qn_fail(e, QN_ERR_ARG, "%s: max batch %d outside 1..%d", what, max_batch, QN_QNAS_MAX_BATCH);
    if (memcmp(buf, magic, QN_MIN(len, 4)) != 0)
        return qn_fail(e, QN_ERR_FORMAT, "%s: not a qnas model (the file does not start with \"QNAS\")", what);
    if (len > QN_QNAS_MAX_FILE)
        return qn_fail(e, QN_ERR_FORMAT, "%s: %zu bytes, more than any qnas model (%zu)", what, len, QN_QNAS_MAX_FILE);
    if (len < PREFIX_BYTES) return qn_fail(e, QN_ERR_FORMAT, "%s: truncated (%zu bytes) in the file header", what, len);
    const uint32_t version = rd_u32(buf + 4), H = rd_u32(buf + 8);
    if (version != QN_QNAS_VERSION)
        return qn_fail(e, QN_ERR_FORMAT, "%s: format version %" PRIu32 " is not supported (this qnas reads version %u)",
                       what, version, QN_QNAS_VERSION);
    if (H == 0 || H > QN_QNAS_MAX_HEADER)
        return qn_fail(e, QN_ERR_FORMAT, "%s: header length %" PRIu32 " outside 1..%u", what, H, QN_QNAS_MAX_HEADER);
    if (len - PREFIX_BYTES < (size_t)H + 4)
        return qn_fail(e, QN_ERR_FORMAT, "%s: truncated (%zu bytes) in the %" PRIu32 "-byte header", what, len, H);
    size_t pos = PREFIX_BYTES + H;
    if (crc(buf, pos) != rd_u32(buf + pos))
        return qn_fail(e, QN_ERR_FORMAT, "%s: header checksum mismatch (corrupt file)", what);
    pos += 4;
    enum qn_status st = header_read(buf + PREFIX_BYTES, H, what, q, e);
    for (int i = 0; i < q->n_layers && !st; i++) {
        struct qn_qnet_layer *L = &q->layers[i];
        const uint64_t want = body_bytes(&L->info, L->q);
        if (len - pos < 4) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: truncated (%zu bytes) before layer %d (%s)", what, len, i, L->info.name);
            break;
        }
        const uint32_t P = rd_u32(buf + pos);
        if (P > len - pos - 4 || len - pos - 4 - P < 4) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: truncated (%zu bytes) in layer %d (%s), a %" PRIu32 "-byte record", what,
                         len, i, L->info.name, P);
            break;
        }
        if (crc(buf + pos, 4 + (size_t)P) != rd_u32(buf + pos + 4 + P)) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: layer %d (%s): checksum mismatch (corrupt file)", what, i, L->info.name);
            break;
        }
        if (P != want) {
            st = qn_fail(e, QN_ERR_FORMAT, "%s: layer %d (%s): record of %" PRIu32 " bytes, expected %" PRIu64
                         " for W%d A%d and %" PRIu64 " weights", what, i, L->info.name, P, want, L->q.wbits,
                         L->q.abits, L->info.weights);
            break;
        }
        st = layer_read(L, i, buf + pos + 4, what, e);
        pos += 8 + (size_t)P;
    }
    if (!st && pos != len)
        st = qn_fail(e, QN_ERR_FORMAT, "%s: %zu bytes of trailing data after the last layer", what, len - pos);
    if (!st) {
        q->max_batch = q->cfg.max_batch = max_batch;
        if ((st = qn_qnet_assemble(q))) return qn_fail(e, st, "%s: out of memory building the model", what);
    }
    if (st) qn_qnet_free(q);
    return st;
}

enum qn_status qn_qnas_read(const char *path, struct qn_qnet *q, int max_batch, struct qn_error *e) {
    memset(q, 0, sizeof(*q));
    uint8_t *buf;
    size_t len;
    enum qn_status st = qn_read_file(path, QN_QNAS_MAX_FILE, &buf, &len, e);
    if (st) return st;
    st = qn_qnas_parse(buf, len, path, q, max_batch, e);
    free(buf);
    return st;
}
