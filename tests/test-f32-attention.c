// FP32 multi-head self-attention (on views and pre-packed) against explicit loops in double,
// on elastic slices of a supernet, with masks, causal masking and T = 1, on every ISA level.
//
// Tolerance: |y - exact| <= 1e-4 * (1 + |exact|). The float path chains four GEMMs (K <= 96)
// and a softmax; each float dot product of K terms is within K * 6e-8 * sum|terms| of exact
// (<= 6e-6 of sum|terms| at K = 96, ~1e-6 typical), and sum|terms| is at most ~10x the result
// for these random weights, so 1e-4 leaves a wide margin while catching any indexing error
// (a wrong head, column or mask entry moves outputs by > 1e-2).
#include <math.h>

#include "attention.h"
#include "test.h"

// --- a random supernet ---

struct supernet {
    size_t Dmax, Hmax, dhmax;
    float *wq, *wk, *wv, *wo, *bq, *bk, *bv, *bo;
    struct qn_mha_weights w;
};

static void supernet_init(struct supernet *s, size_t Dmax, size_t Hmax, size_t dhmax, bool bias) {
    s->Dmax = Dmax, s->Hmax = Hmax, s->dhmax = dhmax;
    const size_t HDm = Hmax * dhmax, ldqkv = Dmax + 3, ldo = HDm + 5;
    const float a = 1.0f / sqrtf((float)Dmax);
    float **m[3] = {&s->wq, &s->wk, &s->wv}, **b[3] = {&s->bq, &s->bk, &s->bv};
    for (int p = 0; p < 3; p++) {
        *m[p] = qn_alloc(HDm * ldqkv * sizeof(float));
        qt_fill_f32(*m[p], HDm * ldqkv, -2 * a, 2 * a);
        *b[p] = bias ? qn_alloc(HDm * sizeof(float)) : NULL;
        if (bias) qt_fill_f32(*b[p], HDm, -0.2f, 0.2f);
    }
    s->wo = qn_alloc(Dmax * ldo * sizeof(float));
    qt_fill_f32(s->wo, Dmax * ldo, -1.5f / sqrtf((float)HDm), 1.5f / sqrtf((float)HDm));
    s->bo = bias ? qn_alloc(Dmax * sizeof(float)) : NULL;
    if (bias) qt_fill_f32(s->bo, Dmax, -0.2f, 0.2f);
    s->w = (struct qn_mha_weights){s->wq, s->wk, s->wv, ldqkv, s->bq, s->bk, s->bv,
                                   s->wo, ldo, s->bo, dhmax};
}

static void supernet_free(struct supernet *s) {
    qn_free(s->wq), qn_free(s->wk), qn_free(s->wv), qn_free(s->wo);
    qn_free(s->bq), qn_free(s->bk), qn_free(s->bv), qn_free(s->bo);
}

// Explicit loops in double, straight from the definition, reading the max tensors by index.
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
                double aq = w->bq ? w->bq[row] : 0, ak = w->bk ? w->bk[row] : 0,
                       av = w->bv ? w->bv[row] : 0;
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
            double acc = w->bo ? w->bo[n] : 0;
            for (size_t h = 0; h < H; h++)
                for (size_t i = 0; i < dh; i++)
                    acc += o[(t * H + h) * dh + i] * w->wo[n * w->ld_o + h * dhm + i];
            y[t * D + n] = acc;
        }
    free(q), free(k), free(v), free(o), free(p);
}

enum { MASK_NONE, MASK_FULL, MASK_ROW };

static float *make_mask(int kind, size_t T, size_t *ldm) {
    if (kind == MASK_NONE) return *ldm = 0, NULL;
    *ldm = kind == MASK_FULL ? T + 2 : 0;
    const size_t n = kind == MASK_FULL ? T * *ldm : T;
    float *m = qn_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        const int r = qt_int(0, 4);
        m[i] = r == 0 ? -INFINITY : (r == 1 ? -1e9f : qt_float(-1.0f, 1.0f));
    }
    // Key 0 stays visible to every query: a row whose visible keys are all -1e9 is uniform in
    // float (s - 1e9 rounds to -1e9) but not in double, a property of the mask, not a bug.
    for (size_t t = 0; t < (kind == MASK_FULL ? T : 1); t++) m[t * *ldm] = qt_float(-1.0f, 1.0f);
    return m;
}

static int compare(const float *y, size_t ldy, const double *ref, size_t T, size_t D, double tol,
                   const char *what) {
    int bad = 0;
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < D; n++) {
            const double e = ref[t * D + n], g = y[t * ldy + n];
            if (!(fabs(g - e) <= tol * (1 + fabs(e))) && bad++ < 3)
                QT_CHECK(0, "%s T %zu D %zu [%zu][%zu]: %.7g vs %.7g", what, T, D, t, n, g, e);
        }
    return bad;
}

// One subnet of one supernet, every mask kind, direct and packed.
static void mha_case(struct supernet *s, struct qn_mha_dims d, size_t T) {
    const size_t ldx = s->Dmax + 1, ldy = d.D + 2;
    float *x = qn_alloc(T * ldx * sizeof(float)), *y = qn_alloc(T * ldy * sizeof(float));
    float *y2 = qn_alloc(T * ldy * sizeof(float));
    double *ref = malloc(T * d.D * sizeof(double));
    qt_fill_f32(x, T * ldx, -1.0f, 1.0f);
    struct qn_mha_workspace ws;
    QT_CHECK(qn_mha_workspace_init(&ws, T, d.D, d.H, d.dh) == QN_OK, "workspace");
    struct qn_f32_mha_packed pk;
    QT_CHECK(qn_f32_mha_pack(&pk, &s->w, d) == QN_OK, "pack");
    char what[96];
    for (int mk = MASK_NONE; mk <= MASK_ROW; mk++)
        for (int causal = 0; causal < 2; causal++) {
            size_t ldm;
            float *mask = make_mask(mk, T, &ldm);
            mha_naive(&s->w, d, T, x, ldx, mask, ldm, causal, ref);  // ldm 0: mask[u] for all t
            for (size_t i = 0; i < T * ldy; i++) y[i] = y2[i] = NAN;
            QT_CHECK(qn_f32_mha_forward(&s->w, d, T, x, ldx, mask, ldm, causal, y, ldy, &ws) == QN_OK,
                     "forward status");
            snprintf(what, sizeof(what), "views D%zu H%zu dh%zu mask %d causal %d", d.D, d.H, d.dh, mk, causal);
            QT_CHECK(!compare(y, ldy, ref, T, d.D, 1e-4, what), "%s", what);
            QT_CHECK(qn_f32_mha_packed_forward(&pk, T, x, ldx, mask, ldm, causal, y2, ldy, &ws) == QN_OK,
                     "packed status");
            snprintf(what, sizeof(what), "packed D%zu H%zu dh%zu mask %d causal %d", d.D, d.H, d.dh, mk, causal);
            QT_CHECK(!compare(y2, ldy, ref, T, d.D, 1e-4, what), "%s", what);
            for (size_t t = 0; t < T; t++)  // padding of y untouched
                for (size_t n = d.D; n < ldy; n++) QT_CHECK(isnan(y[t * ldy + n]), "y padding written");
            qn_free(mask);
        }
    qn_f32_mha_packed_free(&pk);
    qn_mha_workspace_free(&ws);
    qn_free(x), qn_free(y), qn_free(y2), free(ref);
}

static void mha_elastic_subnets(void) {
    qt_seed(21);
    struct supernet s;
    supernet_init(&s, 24, 4, 8, true);
    const struct qn_mha_dims subnets[] = {
        {24, 4, 8},  // the full supernet
        {24, 2, 8},  // fewer heads, full head dim: one GEMM per projection
        {17, 3, 5},  // elastic everything: per-head slices
        {13, 1, 8},  // one head
        {5, 4, 1},   // head dim 1
    };
    const size_t Ts[] = {1, 2, 7, 13};
    for (size_t i = 0; i < sizeof(subnets) / sizeof(subnets[0]); i++)
        for (size_t t = 0; t < sizeof(Ts) / sizeof(Ts[0]); t++) mha_case(&s, subnets[i], Ts[t]);
    supernet_free(&s);
}

static void mha_no_bias_larger(void) {
    qt_seed(22);
    struct supernet s;
    supernet_init(&s, 96, 6, 24, false);
    mha_case(&s, (struct qn_mha_dims){96, 6, 24}, qt_quick() ? 5 : 31);
    mha_case(&s, (struct qn_mha_dims){64, 4, 16}, qt_quick() ? 3 : 37);
    // 3 heads on 2 threads: each head's rows in two blocks (above the core's threading threshold)
    const int saved = qn_threads();
    qn_threads_set(2);
    mha_case(&s, (struct qn_mha_dims){72, 3, 24}, qt_quick() ? 33 : 41);
    qn_threads_set(saved);
    supernet_free(&s);
}

// Causal and -inf / -1e9 masks give probabilities of exactly 0, so the masked-out tokens have
// no influence at all: changing them leaves the other outputs bit-identical.
static void mha_masked_tokens_have_no_influence(void) {
    qt_seed(23);
    struct supernet s;
    supernet_init(&s, 16, 2, 8, true);
    const size_t T = 9, ldx = 16;
    const struct qn_mha_dims d = {16, 2, 6};
    float *x = qn_alloc(T * ldx * sizeof(float)), *y = qn_alloc(T * 16 * sizeof(float));
    float *y2 = qn_alloc(T * 16 * sizeof(float)), mask[9];
    struct qn_mha_workspace ws;
    qn_mha_workspace_init(&ws, T, 16, 2, 8);
    qt_fill_f32(x, T * ldx, -1.0f, 1.0f);
    // causal: rows < 5 cannot see token 5..8
    qn_f32_mha_forward(&s.w, d, T, x, ldx, NULL, 0, true, y, 16, &ws);
    for (size_t i = 5 * ldx; i < T * ldx; i++) x[i] += 0.5f;
    qn_f32_mha_forward(&s.w, d, T, x, ldx, NULL, 0, true, y2, 16, &ws);
    QT_CHECK(!memcmp(y, y2, 5 * 16 * sizeof(float)), "causal: future tokens leaked");
    QT_CHECK(memcmp(y + 5 * 16, y2 + 5 * 16, 16 * sizeof(float)), "token 5 output did not change");
    // padding mask: keys 2 (-inf) and 6 (-1e9) are invisible to every query
    for (size_t u = 0; u < T; u++) mask[u] = 0.0f;
    mask[2] = -INFINITY, mask[6] = -1e9f;
    qn_f32_mha_forward(&s.w, d, T, x, ldx, mask, 0, false, y, 16, &ws);
    for (size_t j = 0; j < ldx; j++) x[2 * ldx + j] -= 0.25f, x[6 * ldx + j] += 0.25f;
    qn_f32_mha_forward(&s.w, d, T, x, ldx, mask, 0, false, y2, 16, &ws);
    for (size_t t = 0; t < T; t++)
        if (t != 2 && t != 6)
            QT_CHECK(!memcmp(y + t * 16, y2 + t * 16, 16 * sizeof(float)), "masked key leaked into %zu", t);
    qn_mha_workspace_free(&ws);
    qn_free(x), qn_free(y), qn_free(y2);
    supernet_free(&s);
}

static void mha_in_place_and_bad_args(void) {
    qt_seed(24);
    struct supernet s;
    supernet_init(&s, 12, 3, 4, true);
    const size_t T = 6, ld = 12;
    const struct qn_mha_dims d = {12, 3, 4};
    float *x = qn_alloc(T * ld * sizeof(float)), *y = qn_alloc(T * ld * sizeof(float));
    qt_fill_f32(x, T * ld, -1.0f, 1.0f);
    struct qn_mha_workspace ws;
    QT_CHECK(qn_mha_workspace_init(&ws, T, 12, 3, 4) == QN_OK, "workspace");
    qn_f32_mha_forward(&s.w, d, T, x, ld, NULL, 0, false, y, ld, &ws);
    qn_f32_mha_forward(&s.w, d, T, x, ld, NULL, 0, false, x, ld, &ws);
    QT_CHECK(!memcmp(x, y, T * ld * sizeof(float)), "in place differs");
    QT_CHECK(qn_f32_mha_forward(&s.w, d, T + 1, x, ld, NULL, 0, false, y, ld, &ws) == QN_ERR_ARG,
             "T beyond the workspace accepted");
    QT_CHECK(qn_f32_mha_forward(&s.w, (struct qn_mha_dims){12, 3, 5}, T, x, ld, NULL, 0, false, y,
                                ld, &ws) == QN_ERR_ARG, "dh > dh_max accepted");
    QT_CHECK(qn_f32_mha_forward(&s.w, d, T, x, 11, NULL, 0, false, y, ld, &ws) == QN_ERR_ARG,
             "ldx < D accepted");
    qn_mha_workspace_free(&ws);
    QT_CHECK(qn_mha_workspace_init(&ws, 0, 1, 1, 1) == QN_ERR_ARG, "T = 0 workspace");
    const char *v = qn_f32_mha_variant();
    QT_CHECK(v && strstr(v, "softmax qn_f32_softmax_ukernel__"), "variant %s", v ? v : "(null)");
    qn_free(x), qn_free(y);
    supernet_free(&s);
}

int main(int argc, char **argv) {
    (void)argc;
    QT_RUN_EACH_ISA(mha_elastic_subnets);
    QT_RUN_EACH_ISA(mha_no_bias_larger);
    QT_RUN_EACH_ISA(mha_masked_tokens_have_no_influence);
    QT_RUN_EACH_ISA(mha_in_place_and_bad_args);
    return qt_finish(argv[0]);
}
