// Multi-head self-attention with INT8 projections, on every ISA level:
//  - the projections are bit-exact with projections recomputed here from the same u8
//    activations with qn_qgemm_ref, on the supernet views (per head, strided), so slicing,
//    gathering, packing and requantization are all checked exactly;
//  - the output is within the quantization error of the exact FP32 attention (double loops).
//
// End-to-end tolerance, relative RMS error ||y - exact|| / ||exact||:
//   A uniform quantizer of step s adds noise of RMS s / sqrt(12). Activations x ~ U(-1, 1)
//   quantized over [-1, 1] to 8 bits: s = 2/255, noise 0.0023 on RMS 0.58 (0.4 %); weights
//   ~ U(-a, a) per channel to 8 bits: s = a/127, noise 0.4 % of their RMS. Each projection
//   then carries ~0.6 % relative noise, the output projection re-quantizes o (another ~0.6 %),
//   and the softmax passes score noise on roughly 1:1 for scores of order 1: ~1.2 % in total.
//   Bounds: 8 bits 3 % (2.5x margin), 6 bits 8 %; 4-bit weights (step a/7) add ~8 % per
//   projection, ~12 % in total: 20 %. A wrong head, bias or scale gives errors of order 100 %.
//   Measured: 0.2-1.2 % at 8 bits, 1.4 % at 6 bits, 7 % at 4 bits.
#include <math.h>

#include "attention.h"
#include "test.h"

struct supernet {
    size_t Dmax, Hmax, dhmax;
    float *wf[4], *b[4];  // q k v o, FP32
    int8_t *wq8[4];       // the same, quantized per output channel (8 bits) over the max rows
    float *sc[4];
    struct qn_mha_weights w;
    struct qn_qs8_mha_src src;
};

static void supernet_init(struct supernet *s, size_t Dmax, size_t Hmax, size_t dhmax, int bits) {
    memset(s, 0, sizeof(*s));
    s->Dmax = Dmax, s->Hmax = Hmax, s->dhmax = dhmax;
    const size_t HDm = Hmax * dhmax, ldqkv = Dmax + 3, ldo = HDm + 5;
    for (int p = 0; p < 4; p++) {
        const size_t N = p < 3 ? HDm : Dmax, K = p < 3 ? Dmax : HDm, ld = p < 3 ? ldqkv : ldo;
        const float a = (p < 3 ? 2.0f : 1.5f) / sqrtf((float)K);
        s->wf[p] = qn_alloc(N * ld * sizeof(float));
        qt_fill_f32(s->wf[p], N * ld, -a, a);
        s->b[p] = qn_alloc(N * sizeof(float));
        qt_fill_f32(s->b[p], N, -0.2f, 0.2f);
        s->wq8[p] = qn_alloc(N * ld);
        s->sc[p] = qn_alloc(N * sizeof(float));
        qn_qs8_weights_quantize(N, K, s->wf[p], ld, bits, s->wq8[p], ld, s->sc[p]);
    }
    s->w = (struct qn_mha_weights){s->wf[0], s->wf[1], s->wf[2], ldqkv, s->b[0], s->b[1], s->b[2],
                                   s->wf[3], ldo, s->b[3], dhmax};
    s->src = (struct qn_qs8_mha_src){s->wq8[0], s->wq8[1], s->wq8[2], ldqkv, s->sc[0], s->sc[1],
                                     s->sc[2], s->wq8[3], ldo, s->sc[3], s->b[0], s->b[1], s->b[2],
                                     s->b[3], dhmax};
}

static void supernet_free(struct supernet *s) {
    for (int p = 0; p < 4; p++) qn_free(s->wf[p]), qn_free(s->b[p]), qn_free(s->wq8[p]), qn_free(s->sc[p]);
}

// Exact FP32 attention in double (same loops as tests/test-f32-attention.c).
static void mha_naive(const struct qn_mha_weights *w, struct qn_mha_dims d, size_t T,
                      const float *x, size_t ldx, const float *mask, size_t ldm, bool causal,
                      double *y) {
    const size_t H = d.H, dh = d.dh, D = d.D, dhm = w->dh_max;
    double *q = calloc(T * H * dh, sizeof(double)), *k = calloc(T * H * dh, sizeof(double));
    double *v = calloc(T * H * dh, sizeof(double)), *o = calloc(T * H * dh, sizeof(double));
    double *p = calloc(T, sizeof(double));
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < H; h++)
            for (size_t i = 0; i < dh; i++) {
                const size_t row = h * dhm + i, at = (t * H + h) * dh + i;
                double aq = w->bq[row], ak = w->bk[row], av = w->bv[row];
                for (size_t j = 0; j < D; j++) {
                    aq += (double)x[t * ldx + j] * w->wq[row * w->ld_qkv + j];
                    ak += (double)x[t * ldx + j] * w->wk[row * w->ld_qkv + j];
                    av += (double)x[t * ldx + j] * w->wv[row * w->ld_qkv + j];
                }
                q[at] = aq, k[at] = ak, v[at] = av;
            }
    for (size_t h = 0; h < H; h++)
        for (size_t t = 0; t < T; t++) {
            double mx = -INFINITY, sum = 0;
            for (size_t u = 0; u < T; u++) {
                double s = 0;
                for (size_t i = 0; i < dh; i++) s += q[(t * H + h) * dh + i] * k[(u * H + h) * dh + i];
                s /= sqrt((double)dh);
                if (mask) s += mask[t * ldm + u];
                if (causal && u > t) s = -INFINITY;
                p[u] = s, mx = s > mx ? s : mx;
            }
            for (size_t u = 0; u < T; u++) sum += (p[u] = mx == -INFINITY ? 0 : exp(p[u] - mx));
            for (size_t i = 0; i < dh; i++) {
                double acc = 0;
                for (size_t u = 0; u < T; u++) acc += (sum > 0 ? p[u] / sum : 0) * v[(u * H + h) * dh + i];
                o[(t * H + h) * dh + i] = acc;
            }
        }
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < D; n++) {
            double acc = w->bo[n];
            for (size_t h = 0; h < H; h++)
                for (size_t i = 0; i < dh; i++)
                    acc += o[(t * H + h) * dh + i] * w->wo[n * w->ld_o + h * dhm + i];
            y[t * D + n] = acc;
        }
    free(q), free(k), free(v), free(o), free(p);
}

// The u8 activations the operator must have used: min/max, params, quantize (all exact).
static struct qn_qu8_params quantize_ref(size_t rows, size_t cols, const float *a, size_t lda,
                                         uint8_t *q) {
    float lo = a[0], hi = a[0];
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++) lo = fminf(lo, a[r * lda + j]), hi = fmaxf(hi, a[r * lda + j]);
    const struct qn_qu8_params p = qn_qu8_params_from_range(lo, hi);
    const float inv = 1.0f / p.scale;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++) {
            float v = rintf(a[r * lda + j] * inv) + (float)p.zp;
            v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
            q[r * cols + j] = (uint8_t)v;
        }
    return p;
}

// from_f32: the layer was built with qn_qs8_mha_init_f32 (scales over the subnet's slices);
// otherwise from the supernet's s8 tensors (scales over the max rows).
static void qmha_case(struct supernet *s, struct qn_mha_dims d, size_t T, int bits, bool from_f32,
                      bool causal, bool with_mask, double tol) {
    const size_t ldx = s->Dmax + 2, ldy = d.D + 1, HD = d.H * d.dh, dhm = s->dhmax;
    float *x = qn_alloc(T * ldx * sizeof(float)), *y = qn_alloc(T * ldy * sizeof(float));
    float *mask = with_mask ? qn_alloc(T * T * sizeof(float)) : NULL;
    qt_fill_f32(x, T * ldx, -1.0f, 1.0f);
    if (mask) {
        qt_fill_f32(mask, T * T, -1.0f, 1.0f);
        for (size_t i = 0; i < T * T; i++)
            if (i % T && qt_int(0, 3) == 0) mask[i] = -INFINITY;  // key 0 stays visible
    }
    struct qn_qs8_mha m;
    enum qn_status st = from_f32 ? qn_qs8_mha_init_f32(&m, &s->w, d, bits)
                                 : qn_qs8_mha_init(&m, &s->src, d, bits);
    QT_CHECK(st == QN_OK, "init status %d", st);
    if (st != QN_OK) return;
    struct qn_mha_workspace ws;
    QT_CHECK(qn_mha_workspace_init(&ws, T, d.D, d.H, d.dh) == QN_OK, "workspace");
    QT_CHECK(qn_qs8_mha_forward(&m, T, x, ldx, mask, mask ? T : 0, causal, y, ldy, &ws) == QN_OK,
             "forward status");

    // --- projections, bit-exact against qn_qgemm_ref on the supernet views ---
    uint8_t *xq = qn_alloc(T * QN_MAX(d.D, HD));
    const struct qn_qu8_params px = quantize_ref(T, d.D, x, ldx, xq);
    QT_CHECK(px.scale == ws.x_params.scale && px.zp == ws.x_params.zp, "x params");
    float *c = qn_alloc(T * QN_MAX(d.dh, d.D) * sizeof(float));
    int8_t *wsl = qn_alloc(QN_MAX(d.dh * d.D, d.D * HD));  // subnet slice (f32 init)
    float *ssl = qn_alloc(QN_MAX(d.dh, d.D) * sizeof(float));
    int bad = 0;
    for (int p = 0; p < 3; p++)
        for (size_t h = 0; h < d.H; h++) {
            const size_t ld = s->w.ld_qkv, row0 = h * dhm;
            const int8_t *W = s->wq8[p] + row0 * ld;
            const float *sc = s->sc[p] + row0;
            size_t ldw = ld;
            if (from_f32) {
                qn_qs8_weights_quantize(d.dh, d.D, s->wf[p] + row0 * ld, ld, bits, wsl, d.D, ssl);
                W = wsl, sc = ssl, ldw = d.D;
            }
            const struct qn_qgemm_out out = {.a_scale = px.scale, .a_zp = px.zp,
                                             .ep = {.bias = s->b[p] + row0}};
            qn_qgemm_ref(T, xq, d.D, W, ldw, d.dh, d.D, sc, &out, c, d.dh);
            for (size_t t = 0; t < T; t++)
                bad += memcmp(c + t * d.dh, ws.qkv + t * 3 * HD + p * HD + h * d.dh,
                              d.dh * sizeof(float)) != 0;
        }
    QT_CHECK(!bad, "D%zu H%zu dh%zu T%zu: %d projection rows differ from qn_qgemm_ref", d.D, d.H,
             d.dh, T, bad);
    // output projection on the concatenated head outputs the operator produced
    const struct qn_qu8_params po = quantize_ref(T, HD, ws.o, HD, xq);
    QT_CHECK(po.scale == ws.o_params.scale && po.zp == ws.o_params.zp, "o params");
    int8_t *wo = qn_alloc(d.D * HD);
    float *so = s->sc[3];
    if (from_f32) {
        float *wof = qn_alloc(d.D * HD * sizeof(float));
        for (size_t n = 0; n < d.D; n++)
            for (size_t h = 0; h < d.H; h++)
                for (size_t i = 0; i < d.dh; i++)
                    wof[n * HD + h * d.dh + i] = s->wf[3][n * s->w.ld_o + h * dhm + i];
        so = ssl;  // sized for max(dh, D) scales
        qn_qs8_weights_quantize(d.D, HD, wof, HD, bits, wo, HD, so);
        qn_free(wof);
    } else {
        for (size_t n = 0; n < d.D; n++)
            for (size_t h = 0; h < d.H; h++)
                for (size_t i = 0; i < d.dh; i++)
                    wo[n * HD + h * d.dh + i] = s->wq8[3][n * s->w.ld_o + h * dhm + i];
    }
    const struct qn_qgemm_out out_o = {.a_scale = po.scale, .a_zp = po.zp, .ep = {.bias = s->b[3]}};
    qn_qgemm_ref(T, xq, HD, wo, HD, d.D, HD, so, &out_o, c, d.D);
    bad = 0;
    for (size_t t = 0; t < T; t++) bad += memcmp(c + t * d.D, y + t * ldy, d.D * sizeof(float)) != 0;
    QT_CHECK(!bad, "D%zu H%zu dh%zu T%zu: %d output rows differ from qn_qgemm_ref", d.D, d.H, d.dh,
             T, bad);

    // --- end to end, against the exact FP32 attention ---
    double *ref = malloc(T * d.D * sizeof(double)), num = 0, den = 0;
    mha_naive(&s->w, d, T, x, ldx, mask, T, causal, ref);
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < d.D; n++) {
            const double e = ref[t * d.D + n], g = y[t * ldy + n];
            num += (g - e) * (g - e), den += e * e;
        }
    const double rel = sqrt(num / den);
    QT_CHECK(rel <= tol, "D%zu H%zu dh%zu T%zu bits %d: relative RMS error %.4f > %.4f", d.D, d.H,
             d.dh, T, bits, rel, tol);
    if (getenv("QNAS_TEST_VERBOSE"))
        printf("    D%zu H%zu dh%zu T%zu bits %d f32init %d causal %d mask %d: rel RMS %.4f\n", d.D,
               d.H, d.dh, T, bits, from_f32, causal, with_mask, rel);

    free(ref);
    qn_free(wo), qn_free(ssl), qn_free(wsl), qn_free(c), qn_free(xq);
    qn_mha_workspace_free(&ws);
    qn_qs8_mha_free(&m);
    qn_free(x), qn_free(y), qn_free(mask);
}

static void qmha_elastic_8bit(void) {
    qt_seed(31);
    struct supernet s;
    supernet_init(&s, 48, 4, 12, 8);
    const struct qn_mha_dims subnets[] = {{48, 4, 12}, {48, 2, 12}, {33, 3, 7}, {20, 1, 12}, {9, 4, 1}};
    const size_t Ts[] = {1, 7, 13};
    for (size_t i = 0; i < sizeof(subnets) / sizeof(subnets[0]); i++)
        for (size_t t = 0; t < 3; t++)
            for (int f = 0; f < 2; f++)
                qmha_case(&s, subnets[i], Ts[t], 8, f, t == 1, t == 2, 0.03);
    supernet_free(&s);
}

static void qmha_larger_and_4bit(void) {
    qt_seed(32);
    struct supernet s;
    supernet_init(&s, 96, 6, 16, 8);
    const size_t T = qt_quick() ? 9 : 50;
    qmha_case(&s, (struct qn_mha_dims){96, 6, 16}, T, 8, false, false, false, 0.03);
    qmha_case(&s, (struct qn_mha_dims){80, 5, 12}, T, 8, true, true, true, 0.03);
    qmha_case(&s, (struct qn_mha_dims){96, 6, 16}, T, 4, true, false, false, 0.20);
    qmha_case(&s, (struct qn_mha_dims){64, 4, 13}, T, 6, true, false, true, 0.08);
    supernet_free(&s);
}

// Weights packed at one level cannot run at another: the operator says so.
static void qmha_isa_mismatch(void) {
    qt_seed(33);
    struct supernet s;
    supernet_init(&s, 16, 2, 8, 8);
    const enum qn_isa saved = qn_isa();
    struct qn_qs8_mha m;
    QT_CHECK(qn_qs8_mha_init(&m, &s.src, (struct qn_mha_dims){16, 2, 8}, 8) == QN_OK, "init");
    struct qn_mha_workspace ws;
    qn_mha_workspace_init(&ws, 4, 16, 2, 8);
    float x[4 * 16] = {0}, y[4 * 16];
    QT_CHECK(qn_qs8_mha_forward(&m, 5, x, 16, NULL, 0, false, y, 16, &ws) == QN_ERR_ARG, "T > cap");
    if (saved != QN_ISA_SCALAR && qn_isa_set(QN_ISA_SCALAR)) {
        QT_CHECK(qn_qs8_mha_forward(&m, 4, x, 16, NULL, 0, false, y, 16, &ws) == QN_ERR_UNSUPPORTED,
                 "weights packed at %s ran at scalar", qn_isa_name(saved));
        qn_isa_set(saved);
    }
    qn_qs8_mha_free(&m);
    QT_CHECK(qn_qs8_mha_init(&m, &s.src, (struct qn_mha_dims){16, 2, 9}, 8) == QN_ERR_ARG, "dh > dh_max");
    QT_CHECK(qn_qs8_mha_init(&m, &s.src, (struct qn_mha_dims){16, 2, 8}, 9) == QN_ERR_ARG, "bits 9");
    const char *v = qn_qs8_mha_variant();
    QT_CHECK(v && strstr(v, "qgemm ") && strstr(v, "softmax "), "variant %s", v ? v : "(null)");
    qn_mha_workspace_free(&ws);
    qn_qs8_mha_free(&m);
    supernet_free(&s);
}

int main(int argc, char **argv) {
    (void)argc;
    qt_each_amx = true;  // the INT8 GEMM's VNNI and AMX kernels both
    QT_RUN_EACH_ISA(qmha_elastic_8bit);
    QT_RUN_EACH_ISA(qmha_larger_and_4bit);
    QT_RUN(qmha_isa_mismatch);
    return qt_finish(argv[0]);
}
