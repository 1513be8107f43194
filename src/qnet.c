// Deployable subnets from the supernet: slice, fold, calibrate, quantize, pack, run (qnet.h).
#include "qnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "nn.h"
#include "ops.h"
#include "train.h"

void qn_qnet_cfg_default(struct qn_qnet_cfg *c) {
    *c = (struct qn_qnet_cfg){.calib = QN_CALIB_MINMAX, .wcalib = QN_CALIB_MINMAX, .percentile = 99.99f,
                              .symmetric_act = false, .bn_images = 2000, .calib_images = 500, .seed = 0,
                              .max_batch = 64};
}

static bool is_quant(const struct qn_qnet_layer *L) { return L->q.wbits != 0; }

static size_t layer_in_elems(const struct qn_qnet_layer *L) {
    return (size_t)L->info.h * L->info.w * L->info.cin;
}
static size_t layer_out_elems(const struct qn_qnet_layer *L) {
    return (size_t)L->info.h_out * L->info.w_out * L->info.cout;
}

// --- slicing and folding ---

// Folded BN scale and shift of channel c: y = a * conv + b.
static void bn_fold(const struct qn_mb_net *net, const struct qn_mb_convbn *cb, int C, float *a, float *b) {
    const float *gamma = net->w + cb->gamma, *beta = net->w + cb->beta;
    const float *mean = net->w + cb->mean, *var = net->w + cb->var;
    for (int c = 0; c < C; c++) {
        a[c] = gamma[c] / sqrtf(var[c] + QN_NN_BN_EPS);
        b[c] = beta[c] - mean[c] * a[c];
    }
}

// Dense folded weights of one layer: rows of K = k*k*cin taken from a source row stride ld.
static void fold_rows(const float *src, size_t ld, int cout, size_t K, const float *a, float *w) {
    for (int o = 0; o < cout; o++)
        for (size_t j = 0; j < K; j++) w[(size_t)o * K + j] = src[(size_t)o * ld + j] * (a ? a[o] : 1.0f);
}

static bool all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

// QN_ERR_FORMAT when the folded weights or bias are not finite: batch norm's scale (up to
// gamma / sqrt(eps)) can carry a large finite weight past FLT_MAX.
static enum qn_status layer_weights(struct qn_qnet_layer *L, const struct qn_mb_net *net) {
    const struct qn_mb_space *s = net->space;
    const struct qn_mb_layer *I = &L->info;
    const size_t wn = (size_t)I->weights;
    L->w = qn_alloc(sizeof(float) * wn);
    L->bias = qn_alloc(sizeof(float) * (size_t)I->cout);
    float *a = malloc(sizeof(float) * (size_t)I->cout);
    if (!L->w || !L->bias || !a) {
        free(a);
        return QN_ERR_NOMEM;
    }
    const struct qn_mb_block_params *bp = I->stage >= 0 ? &net->blocks[I->stage][I->block] : NULL;
    switch (I->kind) {
    case QN_MB_L_STEM:
        bn_fold(net, &net->stem, I->cout, a, L->bias);
        fold_rows(net->w + net->stem.w, (size_t)I->k * I->k * I->cin, I->cout, (size_t)I->k * I->k * I->cin, a, L->w);
        L->act = (enum qn_act)s->act_outer;
        break;
    case QN_MB_L_EXPAND: {
        bn_fold(net, &bp->expand, I->cout, a, L->bias);
        fold_rows(net->w + bp->expand.w, (size_t)I->cin, I->cout, (size_t)I->cin, a, L->w);
        L->act = (enum qn_act)s->act_block;
        break;
    }
    case QN_MB_L_DW: {
        bn_fold(net, &bp->dw, I->cout, a, L->bias);
        qn_mb_dw_kernel(net, I->stage, I->block, I->k, I->cout, L->w);  // [k][k][c]
        for (int t = 0; t < I->k * I->k; t++)
            for (int c = 0; c < I->cout; c++) L->w[(size_t)t * I->cout + c] *= a[c];
        L->act = (enum qn_act)s->act_block;
        break;
    }
    case QN_MB_L_PROJECT: {
        const size_t cemax = (size_t)qn_mb_block_cin(s, I->stage, I->block) * qn_mb_emax(s);
        bn_fold(net, &bp->project, I->cout, a, L->bias);
        fold_rows(net->w + bp->project.w, cemax, I->cout, (size_t)I->cin, a, L->w);
        L->act = QN_ACT_NONE;
        break;
    }
    case QN_MB_L_HEAD:
        bn_fold(net, &net->head, I->cout, a, L->bias);
        fold_rows(net->w + net->head.w, (size_t)I->cin, I->cout, (size_t)I->cin, a, L->w);
        L->act = (enum qn_act)s->act_outer;
        break;
    case QN_MB_L_CLASSIFIER:
        fold_rows(net->w + net->cls_w, (size_t)I->cin, I->cout, (size_t)I->cin, NULL, L->w);
        memcpy(L->bias, net->w + net->cls_b, sizeof(float) * (size_t)I->cout);
        L->act = QN_ACT_NONE;
        break;
    }
    free(a);
    return all_finite(L->w, wn) && all_finite(L->bias, (size_t)I->cout) ? QN_OK : QN_ERR_FORMAT;
}

static struct qn_conv_params conv_params(const struct qn_mb_layer *I) {
    const bool dw = I->kind == QN_MB_L_DW;
    return (struct qn_conv_params){.h = (size_t)I->h, .w = (size_t)I->w, .c_in = (size_t)I->cin,
                                   .c_out = (size_t)I->cout, .kh = (size_t)I->k, .kw = (size_t)I->k,
                                   .stride_h = (size_t)I->stride, .stride_w = (size_t)I->stride,
                                   .pad_h = (size_t)I->k / 2, .pad_w = (size_t)I->k / 2, .depthwise = dw};
}

static struct qn_conv_wview weight_view(const struct qn_mb_layer *I, const void *w, size_t elem) {
    if (I->kind == QN_MB_L_DW)
        return qn_conv_wview_dw(w, elem, (size_t)I->k, (size_t)I->cout, (size_t)I->cout, (size_t)I->k);
    return qn_conv_wview_ohwi(w, elem, (size_t)I->cout, (size_t)I->k, (size_t)I->cin, (size_t)I->cout, (size_t)I->k,
                              (size_t)I->cin);
}

// Per-output-channel quantization of the folded weights; depthwise weights are [k][k][c], so
// they go through a [c][k*k] transpose.
static enum qn_status layer_quantize(struct qn_qnet_layer *L, enum qn_calib wcal) {
    const struct qn_mb_layer *I = &L->info;
    const size_t wn = (size_t)I->weights, N = (size_t)I->cout, K = wn / N;
    L->wq = qn_alloc(wn);
    L->wscale = qn_alloc(sizeof(float) * N);
    L->wfake = qn_alloc(sizeof(float) * wn);
    if (!L->wq || !L->wscale || !L->wfake) return QN_ERR_NOMEM;
    if (I->kind != QN_MB_L_DW) {
        qn_quant_weights(N, K, L->w, K, L->q.wbits, wcal, L->wq, K, L->wscale);
        qn_fake_quant_weights(N, K, L->w, K, L->q.wbits, L->wscale, L->wfake, K);
        return QN_OK;
    }
    float *t = malloc(sizeof(float) * wn), *tf = malloc(sizeof(float) * wn);
    int8_t *tq = malloc(wn);
    if (!t || !tf || !tq) {
        free(t), free(tf), free(tq);
        return QN_ERR_NOMEM;
    }
    for (size_t j = 0; j < K; j++)
        for (size_t c = 0; c < N; c++) t[c * K + j] = L->w[j * N + c];
    qn_quant_weights(N, K, t, K, L->q.wbits, wcal, tq, K, L->wscale);
    qn_fake_quant_weights(N, K, t, K, L->q.wbits, L->wscale, tf, K);
    for (size_t j = 0; j < K; j++)
        for (size_t c = 0; c < N; c++) L->wq[j * N + c] = tq[c * K + j], L->wfake[j * N + c] = tf[c * K + j];
    free(t), free(tf), free(tq);
    return QN_OK;
}

static enum qn_status layer_kernels(struct qn_qnet_layer *L) {
    const struct qn_mb_layer *I = &L->info;
    if (I->kind == QN_MB_L_CLASSIFIER) {
        if (!is_quant(L)) return QN_OK;
        return qn_qgemm_pack(&L->qfc, L->wq, (size_t)I->cin, (size_t)I->cout, (size_t)I->cin, L->wscale, L->q.wbits,
                             8);
    }
    const struct qn_conv_params p = conv_params(I);
    struct qn_conv_wview v = weight_view(I, L->w, sizeof(float));
    enum qn_status st = qn_f32_conv_init(&L->fconv, &p, &v);
    if (st || !is_quant(L)) return st;
    v = weight_view(I, L->wfake, sizeof(float));
    if ((st = qn_f32_conv_init(&L->fconv_fake, &p, &v))) return st;
    v = weight_view(I, L->wq, 1);
    return qn_qs8_conv_init(&L->qconv, &p, &v, L->wscale, L->q.wbits);
}

// --- running ---

enum run_mode { RUN_INT, RUN_FAKE, RUN_FP32, RUN_OBSERVE, RUN_NSR };

static void nsr_add(struct qn_qnet_layer *L, size_t cnt, const float *ref, const float *y) {
    double num = 0, den = 0;
    for (size_t i = 0; i < cnt; i++) {
        double d = (double)y[i] - ref[i];
        num += d * d, den += (double)ref[i] * ref[i];
    }
    L->nsr_num += num, L->nsr_den += den;
}

// Input of layer L in the form it consumes: for the integer path of a quantized layer, u8
// (quantized here from FP32 unless the producer already requantized into xq); otherwise FP32,
// fake-quantized into tmp in RUN_FAKE.
static const float *float_input(struct qn_qnet *q, struct qn_qnet_layer *L, enum run_mode m, size_t n,
                                const float *xf) {
    const size_t cnt = n * layer_in_elems(L);
    if (m == RUN_OBSERVE) qn_act_observer_add(&L->obs, xf, cnt);
    if (m == RUN_FAKE && is_quant(L)) {
        qn_fake_quant_act(cnt, xf, L->in, q->tmpf);
        return q->tmpf;
    }
    return xf;
}

// Runs conv layer L. Input: xf (FP32) or, when *xq_valid, the u8 tensor xq already quantized
// with L->in. Output: u8 into yq with `next`'s input quantization when out_u8, else FP32 yf.
static void conv_run(struct qn_qnet *q, struct qn_qnet_layer *L, enum run_mode m, size_t n, const float *xf,
                     const uint8_t *xq, bool xq_valid, const struct qn_qnet_layer *next, bool out_u8,
                     const float *residual, float *yf, uint8_t *yq) {
    const struct qn_mb_layer *I = &L->info;
    const struct qn_epilogue ep = {.bias = L->bias, .act = L->act, .residual = residual, .ldr = (size_t)I->cout};
    const bool integer = m == RUN_INT && is_quant(L);
    if (m == RUN_NSR && is_quant(L)) {
        // the layer alone, without the shortcut: integer conv on the quantized FP32 input
        const size_t cnt = n * layer_in_elems(L), oc = n * layer_out_elems(L);
        const struct qn_epilogue ep1 = {.bias = L->bias, .act = L->act};
        qn_f32_conv_run(&L->fconv, n, xf, (size_t)I->cin, q->tmpf, (size_t)I->cout, &ep1);
        qn_qu8_quantize(1, cnt, xf, cnt, qn_act_qparams_qu8(L->in), q->xq, cnt);
        struct qn_qgemm_out o = {.a_scale = L->in.scale, .a_zp = L->in.zp, .ep = ep1};
        qn_qs8_conv_run(&L->qconv, n, q->xq, (size_t)I->cin, &o, q->tmpg, (size_t)I->cout);
        nsr_add(L, oc, q->tmpf, q->tmpg);
    }
    if (!integer) {
        const float *x = float_input(q, L, m, n, xf);
        struct qn_f32_conv *cv = m == RUN_FAKE && is_quant(L) ? &L->fconv_fake : &L->fconv;
        qn_f32_conv_run(cv, n, x, (size_t)I->cin, yf, (size_t)I->cout, &ep);
        if (out_u8) qn_qu8_quantize(1, n * layer_out_elems(L), yf, n * layer_out_elems(L), qn_act_qparams_qu8(next->in), yq,
                                    n * layer_out_elems(L));
        return;
    }
    if (!xq_valid) {
        const size_t cnt = n * layer_in_elems(L);
        qn_qu8_quantize(1, cnt, xf, cnt, qn_act_qparams_qu8(L->in), q->xq, cnt);
        xq = q->xq;
    }
    struct qn_qgemm_out o = {.a_scale = L->in.scale, .a_zp = L->in.zp, .ep = ep, .out_u8 = out_u8};
    if (out_u8) o.out_scale = next->in.scale, o.out_zp = next->in.zp, o.out_qmax = next->in.qmax;
    qn_qs8_conv_run(&L->qconv, n, xq, (size_t)I->cin, &o, out_u8 ? (void *)yq : (void *)yf, (size_t)I->cout);
}

static void classifier_run(struct qn_qnet *q, struct qn_qnet_layer *L, enum run_mode m, size_t n, const float *xf,
                           float *logits) {
    const struct qn_mb_layer *I = &L->info;
    const struct qn_epilogue ep = {.bias = L->bias};
    if (m == RUN_INT && is_quant(L)) {
        const size_t cnt = n * (size_t)I->cin;
        qn_qu8_quantize(1, cnt, xf, cnt, qn_act_qparams_qu8(L->in), q->xq, cnt);
        struct qn_qgemm_out o = {.a_scale = L->in.scale, .a_zp = L->in.zp, .ep = ep};
        qn_qgemm(n, q->xq, (size_t)I->cin, &L->qfc, &o, logits, (size_t)I->cout);
        return;
    }
    const float *x = float_input(q, L, m, n, xf);
    const float *w = m == RUN_FAKE && is_quant(L) ? L->wfake : L->w;
    qn_f32_gemm(false, true, n, (size_t)I->cout, (size_t)I->cin, 1.0f, x, (size_t)I->cin, w, (size_t)I->cin, 0.0f,
                logits, (size_t)I->cout, &ep);
    if (m == RUN_NSR && is_quant(L)) {
        const size_t cnt = n * (size_t)I->cin;
        qn_qu8_quantize(1, cnt, xf, cnt, qn_act_qparams_qu8(L->in), q->xq, cnt);
        struct qn_qgemm_out o = {.a_scale = L->in.scale, .a_zp = L->in.zp, .ep = ep};
        qn_qgemm(n, q->xq, (size_t)I->cin, &L->qfc, &o, q->tmpg, (size_t)I->cout);
        nsr_add(L, n * (size_t)I->cout, logits, q->tmpg);
    }
}

// With q->prof set, adds the time since *t to layer li's entry and restarts the clock.
static void prof_mark(struct qn_qnet *q, int li, double *t) {
    if (!q->prof) return;
    const double now = qn_now();
    q->prof[li] += now - *t;
    *t = now;
}

// Under a batch-1 plan (q->b1_plan), layer li runs on its own thread count.
static void layer_threads(const struct qn_qnet *q, int li) {
    if (q->b1_plan && qn_threads() != q->b1_layer_threads[li]) qn_threads_set(q->b1_layer_threads[li]);
}

static void run(struct qn_qnet *q, enum run_mode m, const float *x, int nb, float *logits) {
    QN_ASSERT(nb >= 1 && nb <= q->max_batch);
    const size_t n = (size_t)nb;
    struct qn_qnet_layer *Ls = q->layers;
    const bool int_mode = m == RUN_INT;  // RUN_NSR runs the FP32 network, each layer's integer twin beside it
    int li = 0;
    double t = q->prof ? qn_now() : 0;
    // stem: FP32 output (it is the first block's input, and maybe its shortcut)
    layer_threads(q, li);
    conv_run(q, &Ls[li], m, n, x, NULL, false, NULL, false, NULL, q->xa, NULL);
    prof_mark(q, li, &t);
    li++;
    float *X = q->xa, *Y = q->xb;
    while (Ls[li].info.kind == QN_MB_L_EXPAND) {
        struct qn_qnet_layer *E = &Ls[li], *D = &Ls[li + 1], *P = &Ls[li + 2];
        const bool d_u8 = int_mode && is_quant(E) && is_quant(D), p_u8 = int_mode && is_quant(D) && is_quant(P);
        layer_threads(q, li);
        conv_run(q, E, m, n, X, NULL, false, D, d_u8, NULL, q->ef, q->eq);
        prof_mark(q, li, &t);
        layer_threads(q, li + 1);
        conv_run(q, D, m, n, q->ef, q->eq, d_u8, P, p_u8, NULL, q->df, q->dq);
        prof_mark(q, li + 1, &t);
        layer_threads(q, li + 2);
        conv_run(q, P, m, n, q->df, q->dq, p_u8, NULL, false, P->info.residual ? X : NULL, Y, NULL);
        prof_mark(q, li + 2, &t);
        float *t = X;
        X = Y, Y = t;
        li += 3;
    }
    struct qn_qnet_layer *H = &Ls[li], *C = &Ls[li + 1];
    layer_threads(q, li);
    conv_run(q, H, m, n, X, NULL, false, NULL, false, NULL, q->ef, NULL);
    qn_f32_global_avgpool(n, (size_t)H->info.h_out * H->info.w_out, (size_t)H->info.cout, q->ef, (size_t)H->info.cout,
                          q->pool, (size_t)H->info.cout);
    prof_mark(q, li, &t);  // the pooling counts with the head
    layer_threads(q, li + 1);
    classifier_run(q, C, m, n, q->pool, logits);
    prof_mark(q, li + 1, &t);
}

static float *latency_input(const struct qn_qnet *q, int n);

// Threads of each layer in batch-1 forwards: all (nt) or one. A layer of 0.1-3 M multiply-adds
// is worth a second thread alone, but the next layer then reads an input half of which sits in
// the other core's cache: the largest FP32 subnet ran 0.373-0.382 ms on two threads against
// 0.318-0.327 on one (Emerald Rapids, every layer alike; 0.339-0.402 against 0.309-0.324 on the
// Xeon with AMX), while on the Zen 5 two threads ran it faster (0.191-0.214 ms against
// 0.226-0.235), and the large 1x1 layers at 4x4 stream their weights from memory, which two
// cores read at more than twice one's rate (Emerald Rapids: 16x96x576 with cold weights 13.4
// us on one thread, 7.9 on two). So it is measured, once per network: each layer's time under
// both uniform choices (the fastest of 9 alternating forwards, q->prof), an MBConv block (or
// the stem, the head, the classifier) on nt threads where that ran it 10% faster; then whole
// forwards of the three plans, all one thread, all nt and that mix when it is neither (the
// fastest of 9 alternating rounds of 3), one thread unless another is 2% faster, then the
// faster of the other two.
static void tune_b1(struct qn_qnet *q, int nt) {
    float *x = latency_input(q, 1), *z = qn_alloc(sizeof(float) * q->space->n_classes);
    QN_ASSERT(z);
    const int L = q->n_layers;
    double *prof = q->prof, lt[2][QN_MB_MAX_LAYERS], tmp[QN_MB_MAX_LAYERS], best[3] = {INFINITY, INFINITY, INFINITY};
    uint8_t plan[3][QN_MB_MAX_LAYERS];
    for (int i = 0; i < L; i++) plan[0][i] = 1, plan[1][i] = (uint8_t)nt, lt[0][i] = lt[1][i] = INFINITY;
    q->b1_plan = true;
    for (int r = 0; r < 9; r++)
        for (int c = 0; c < 2; c++) {
            memcpy(q->b1_layer_threads, plan[c], (size_t)L);
            q->prof = NULL;
            run(q, RUN_INT, x, 1, z);  // warm: caches, the thread pool
            for (int i = 0; i < L; i++) tmp[i] = 0;
            q->prof = tmp;
            run(q, RUN_INT, x, 1, z);
            for (int i = 0; i < L; i++) lt[c][i] = QN_MIN(lt[c][i], tmp[i]);
        }
    q->prof = NULL;
    // by block: a layer's input split as its producer ran on two threads reads fast on two and
    // slowly on one (an expand on two, its depthwise on one: 4x4x576 6.7 -> 9.7 us)
    for (int i = 0; i < L;) {
        const int n = q->layers[i].info.kind == QN_MB_L_EXPAND ? 3 : 1;
        double t1 = 0, tn = 0;
        for (int j = i; j < i + n; j++) t1 += lt[0][j], tn += lt[1][j];
        for (int j = i; j < i + n; j++) plan[2][j] = tn < 0.9 * t1 ? (uint8_t)nt : 1;
        i += n;
    }
    const bool mixed = memcmp(plan[2], plan[0], (size_t)L) && memcmp(plan[2], plan[1], (size_t)L);
    for (int r = 0; r < 9; r++)
        for (int c = 0; c < 2 + mixed; c++) {
            memcpy(q->b1_layer_threads, plan[c], (size_t)L);
            run(q, RUN_INT, x, 1, z);
            const double t0 = qn_now();
            for (int i = 0; i < 3; i++) run(q, RUN_INT, x, 1, z);
            best[c] = QN_MIN(best[c], qn_now() - t0);
        }
    int pick = 0;
    for (int c = 1; c < 3; c++)
        if (best[c] < 0.98 * best[0] && (pick == 0 || best[c] < best[pick])) pick = c;
    memcpy(q->b1_layer_threads, plan[pick], (size_t)L);
    q->b1_threads = pick ? nt : 1;  // plan 2, when timed, has a block on nt
    q->b1_plan = false;
    qn_threads_set(nt);
    q->prof = prof;
    q->b1_tuned_for = nt;
    qn_free(x), qn_free(z);
}

void qn_qnet_forward(struct qn_qnet *q, const float *x, int n, float *logits) {
    const int nt = qn_threads();
    if (n != 1 || nt <= 1) {
        run(q, RUN_INT, x, n, logits);
        return;
    }
    if (q->b1_tuned_for != nt) tune_b1(q, nt);
    q->b1_plan = true;
    run(q, RUN_INT, x, n, logits);
    q->b1_plan = false;
    if (qn_threads() != nt) qn_threads_set(nt);
}
void qn_qnet_forward_fake(struct qn_qnet *q, const float *x, int n, float *logits) { run(q, RUN_FAKE, x, n, logits); }
void qn_qnet_forward_fp32(struct qn_qnet *q, const float *x, int n, float *logits) { run(q, RUN_FP32, x, n, logits); }

// --- building ---

static void shuffle_first(int *idx, int n, int total, uint64_t seed) {
    // the first n of a Fisher-Yates shuffle of 0..total-1 (xorshift64* from the seed)
    int *p = malloc(sizeof(int) * (size_t)total);
    QN_ASSERT(p);
    for (int i = 0; i < total; i++) p[i] = i;
    uint64_t st = seed * 0x9e3779b97f4a7c15ull + 0x5851f42d4c957f2dull;
    if (!st) st = 1;
    for (int i = 0; i < n; i++) {
        st ^= st >> 12, st ^= st << 25, st ^= st >> 27;
        int j = i + (int)((st * 0x2545f4914f6cdd1dull) % (uint64_t)(total - i));
        int t = p[i];
        p[i] = p[j], p[j] = t;
        idx[i] = p[i];
    }
    free(p);
}

static enum qn_status alloc_buffers(struct qn_qnet *q) {
    size_t act = 0, pool = 0;
    for (int i = 0; i < q->n_layers; i++) {
        act = QN_MAX(act, QN_MAX(layer_in_elems(&q->layers[i]), layer_out_elems(&q->layers[i])));
        pool = QN_MAX(pool, (size_t)q->layers[i].info.cin);
    }
    const size_t B = (size_t)q->max_batch, a = QN_ROUND_UP(act * B, 16), pl = QN_ROUND_UP(pool * B, 16);
    q->arena = qn_alloc(sizeof(float) * (6 * a + pl) + 3 * a);
    if (!q->arena) return QN_ERR_NOMEM;
    q->xa = q->arena, q->xb = q->xa + a, q->ef = q->xb + a, q->df = q->ef + a, q->tmpf = q->df + a;
    q->tmpg = q->tmpf + a, q->pool = q->tmpg + a;
    q->xq = (uint8_t *)(q->pool + pl), q->eq = q->xq + a, q->dq = q->eq + a;
    return QN_OK;
}

// Weights that pass the file checks can still overflow for one subnet (every value finite,
// their products not): reported as the file's (src), QN_ERR_FORMAT.
static enum qn_status nonfinite_activations(const char *src, struct qn_error *e) {
    return qn_fail(e, QN_ERR_FORMAT, "%s: activations are not finite for this subnet (weights out of range?)", src);
}

enum qn_status qn_qnet_build(struct qn_qnet *q, struct qn_mb_net *net, const struct qn_mb_genome *g,
                             const struct qn_mb_policy *p, const struct qn_dataset *train,
                             const struct qn_qnet_cfg *cfg, struct qn_error *e) {
    memset(q, 0, sizeof(*q));
    const struct qn_mb_space *s = net->space;
    if (cfg->calib == QN_CALIB_PERCENTILE && !(cfg->percentile > 50.0f && cfg->percentile <= 100.0f))
        return qn_fail(e, QN_ERR_ARG, "percentile %g is outside (50, 100]", (double)cfg->percentile);
    q->space = s, q->genome = *g, q->policy = *p, q->cfg = *cfg, q->max_batch = cfg->max_batch;
    struct qn_mb_layer info[QN_MB_MAX_LAYERS];
    q->n_layers = qn_mb_layers(s, g, info);
    if (p->n != q->n_layers)
        return qn_fail(e, QN_ERR_ARG, "policy has %d layers, the genome %d", p->n, q->n_layers);
    for (int i = 0; i < q->n_layers; i++) {
        q->layers[i].info = info[i];
        q->layers[i].q = p->l[i];
        q->layers[i].nsr = -1;
        qn_act_observer_init(&q->layers[i].obs);
    }
    // batch norm re-estimated for this subnet at this precision (quantized layers fake-quantized:
    // their outputs' statistics move with the weight bits, most at 4 bits), then folded
    const int B = QN_MAX(cfg->max_batch, 100);
    struct qn_mb_run *r = qn_mb_run_new(net, B);
    if (!r) return qn_fail(e, QN_ERR_NOMEM, "out of memory for the subnet");
    // overflowing weights are found where the statistics are computed
    const char *src = net->source[0] ? net->source : "the supernet";
    enum qn_status st = qn_bn_recalibrate(net, g, p, r, B, train, cfg->bn_images, cfg->seed);
    qn_mb_run_free(r);
    if (st) {
        qn_qnet_free(q);
        return nonfinite_activations(src, e);
    }
    for (int i = 0; i < q->n_layers && !st; i++) st = layer_weights(&q->layers[i], net);
    if (!st) st = alloc_buffers(q);
    for (int i = 0; i < q->n_layers && !st; i++) {
        struct qn_qnet_layer *L = &q->layers[i];
        if (is_quant(L)) st = layer_quantize(L, cfg->wcalib);
        if (!st) st = layer_kernels(L);
    }
    if (st) {
        qn_qnet_free(q);
        if (st == QN_ERR_FORMAT)
            return qn_fail(e, st, "%s: the weights with batch norm folded in are not finite for this subnet "
                                  "(weights out of range?)", src);
        return qn_fail(e, st, "out of memory building the subnet");
    }
    // activation ranges: the FP32 network's input to every layer, on calibration images
    const int nc = QN_MIN(cfg->calib_images, train->n), hw = train->h * train->w;
    int *idx = malloc(sizeof(int) * (size_t)QN_MAX(nc, 1));
    float *x = qn_alloc(sizeof(float) * (size_t)q->max_batch * hw);
    float *logits = qn_alloc(sizeof(float) * (size_t)q->max_batch * s->n_classes);
    uint8_t *lab = malloc((size_t)q->max_batch);
    QN_ASSERT(idx && x && logits && lab);
    shuffle_first(idx, nc, train->n, cfg->seed + 17);
    bool finite = true;  // every layer's input (the observers count what they skip) and the logits
    for (int at = 0; at < nc && finite; at += q->max_batch) {
        int nb = QN_MIN(q->max_batch, nc - at);
        qn_batch_make(train, idx + at, nb, false, 0, NULL, x, lab);
        run(q, RUN_OBSERVE, x, nb, logits);
        finite = all_finite(logits, (size_t)nb * s->n_classes);
        for (int i = 0; i < q->n_layers; i++) finite &= q->layers[i].obs.nonfinite == 0;
    }
    free(idx), qn_free(x), qn_free(logits), free(lab);
    if (!finite) {
        qn_qnet_free(q);
        return nonfinite_activations(src, e);
    }
    for (int i = 0; i < q->n_layers; i++) {
        struct qn_qnet_layer *L = &q->layers[i];
        if (is_quant(L)) L->in = qn_act_observer_params(&L->obs, L->q.abits, cfg->calib, cfg->symmetric_act,
                                                        cfg->percentile);
    }
    return QN_OK;
}

static void layer_release_quant(struct qn_qnet_layer *L) {
    qn_free(L->wq), qn_free(L->wscale), qn_free(L->wfake);
    L->wq = NULL, L->wscale = L->wfake = NULL;
    if (L->info.kind == QN_MB_L_CLASSIFIER) {
        if (L->qfc.packed) qn_qgemm_weights_free(&L->qfc);
        memset(&L->qfc, 0, sizeof(L->qfc));
    } else if (is_quant(L)) {
        qn_f32_conv_free(&L->fconv_fake), qn_qs8_conv_free(&L->qconv);
    }
}

enum qn_status qn_qnet_set_layer(struct qn_qnet *q, int i, struct qn_mb_qlayer ql) {
    if (i < 0 || i >= q->n_layers) return QN_ERR_ARG;
    if ((ql.wbits == 0) != (ql.abits == 0) || (ql.wbits && (ql.wbits < 2 || ql.wbits > 8 || ql.abits < 2 || ql.abits > 8)))
        return QN_ERR_ARG;
    struct qn_qnet_layer *L = &q->layers[i];
    q->b1_tuned_for = 0;  // another network: time the batch-1 threads again
    layer_release_quant(L);
    if (L->info.kind != QN_MB_L_CLASSIFIER) qn_f32_conv_free(&L->fconv);
    L->q = ql, q->policy.l[i] = ql;
    enum qn_status st = QN_OK;
    if (is_quant(L)) {
        st = layer_quantize(L, q->cfg.wcalib);
        L->in = qn_act_observer_params(&L->obs, ql.abits, q->cfg.calib, q->cfg.symmetric_act, q->cfg.percentile);
    }
    if (!st) st = layer_kernels(L);
    return st;
}

void qn_qnet_nsr(struct qn_qnet *q, const struct qn_dataset *ds, int images) {
    const int n = QN_MIN(images, ds->n), B = q->max_batch, K = q->space->n_classes;
    for (int i = 0; i < q->n_layers; i++) q->layers[i].nsr_num = q->layers[i].nsr_den = 0;
    int *idx = malloc(sizeof(int) * (size_t)B);
    float *x = qn_alloc(sizeof(float) * (size_t)B * ds->h * ds->w), *z = qn_alloc(sizeof(float) * (size_t)B * K);
    uint8_t *lab = malloc((size_t)B);
    QN_ASSERT(idx && x && z && lab);
    for (int at = 0; at < n; at += B) {
        int nb = QN_MIN(B, n - at);
        for (int b = 0; b < nb; b++) idx[b] = at + b;
        qn_batch_make(ds, idx, nb, false, 0, NULL, x, lab);
        run(q, RUN_NSR, x, nb, z);
    }
    for (int i = 0; i < q->n_layers; i++) {
        struct qn_qnet_layer *L = &q->layers[i];
        L->nsr = !is_quant(L) ? -1.0 : L->nsr_den > 0 ? L->nsr_num / L->nsr_den : (L->nsr_num > 0 ? INFINITY : 0.0);
    }
    free(idx), qn_free(x), qn_free(z), free(lab);
}

void qn_qnet_free(struct qn_qnet *q) {
    for (int i = 0; i < q->n_layers; i++) {
        struct qn_qnet_layer *L = &q->layers[i];
        layer_release_quant(L);
        if (L->info.kind != QN_MB_L_CLASSIFIER) qn_f32_conv_free(&L->fconv);
        qn_free(L->w), qn_free(L->bias);
        qn_act_observer_free(&L->obs);
    }
    qn_free(q->arena);
    memset(q, 0, sizeof(*q));
}

// --- measurement ---

double qn_qnet_accuracy(struct qn_qnet *q, const struct qn_dataset *ds, int limit) {
    return qn_qnet_accuracy_halves(q, ds, limit, NULL);
}

double qn_qnet_accuracy_halves(struct qn_qnet *q, const struct qn_dataset *ds, int limit, double half[2]) {
    const int n = limit > 0 ? QN_MIN(limit, ds->n) : ds->n, K = q->space->n_classes, B = q->max_batch;
    int *idx = malloc(sizeof(int) * (size_t)B);
    float *x = qn_alloc(sizeof(float) * (size_t)B * ds->h * ds->w), *z = qn_alloc(sizeof(float) * (size_t)B * K);
    uint8_t *lab = malloc((size_t)B);
    QN_ASSERT(idx && x && z && lab);
    long hits[2] = {0, 0};  // images of even, odd index
    for (int at = 0; at < n; at += B) {
        int nb = QN_MIN(B, n - at);
        for (int b = 0; b < nb; b++) idx[b] = at + b;
        qn_batch_make(ds, idx, nb, false, 0, NULL, x, lab);
        qn_qnet_forward(q, x, nb, z);
        for (int b = 0; b < nb; b++) {
            int arg = 0;
            for (int k = 1; k < K; k++)
                if (z[b * K + k] > z[b * K + arg]) arg = k;
            hits[(at + b) & 1] += arg == lab[b];
        }
    }
    free(idx), qn_free(x), qn_free(z), free(lab);
    if (half) half[0] = n > 0 ? (double)hits[0] / ((n + 1) / 2) : 0.0, half[1] = n > 1 ? (double)hits[1] / (n / 2) : 0.0;
    return n ? (double)(hits[0] + hits[1]) / n : 0.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// A fixed pseudo-random input [n][h][w][c] in [-1, 1) (latency does not depend on the values).
static float *latency_input(const struct qn_qnet *q, int n) {
    const size_t cnt = (size_t)n * q->space->in_h * q->space->in_w * q->space->in_c;
    float *x = qn_alloc(sizeof(float) * cnt);
    QN_ASSERT(x);
    uint64_t st = 88172645463325252ull;
    for (size_t i = 0; i < cnt; i++) {
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        x[i] = (float)((st >> 40) & 0xffff) / 32768.0f - 1.0f;
    }
    return x;
}

double qn_median(double *t, int n) {
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

struct qn_latency qn_qnet_latency(struct qn_qnet *q, int n, int reps) {
    QN_ASSERT(n >= 1 && n <= q->max_batch && reps >= 1);
    float *x = latency_input(q, n), *z = qn_alloc(sizeof(float) * n * q->space->n_classes);
    double *t = malloc(sizeof(double) * (size_t)reps);
    QN_ASSERT(z && t);
    for (int i = 0; i < 3; i++) qn_qnet_forward(q, x, n, z);  // warm-up: caches, page faults, thread pool
    for (int i = 0; i < reps; i++) {
        double t0 = qn_now();
        qn_qnet_forward(q, x, n, z);
        t[i] = (qn_now() - t0) * 1e3;
    }
    const double med = qn_median(t, reps);  // sorts t
    struct qn_latency L = {.median_ms = med, .min_ms = t[0], .max_ms = t[reps - 1], .reps = reps};
    qn_free(x), qn_free(z), free(t);
    return L;
}

void qn_qnet_latency_layers(struct qn_qnet *q, int n, int reps, double *ms) {
    QN_ASSERT(n >= 1 && n <= q->max_batch && reps >= 1);
    const int L = q->n_layers;
    float *x = latency_input(q, n), *z = qn_alloc(sizeof(float) * n * q->space->n_classes);
    double *t = malloc(sizeof(double) * (size_t)reps * L), *col = malloc(sizeof(double) * (size_t)reps);
    QN_ASSERT(z && t && col);
    for (int i = 0; i < 3; i++) qn_qnet_forward(q, x, n, z);
    for (int r = 0; r < reps; r++) {
        q->prof = t + (size_t)r * L;
        for (int i = 0; i < L; i++) q->prof[i] = 0;
        qn_qnet_forward(q, x, n, z);
    }
    q->prof = NULL;
    for (int i = 0; i < L; i++) {
        for (int r = 0; r < reps; r++) col[r] = t[(size_t)r * L + i] * 1e3;
        ms[i] = qn_median(col, reps);
    }
    qn_free(x), qn_free(z), free(t), free(col);
}

uint64_t qn_qnet_size_bytes(const struct qn_qnet *q) {
    return qn_mb_policy_size_bytes(q->space, &q->genome, &q->policy);
}

// --- assembling from stored parts (qn_qnas_read) ---

// The activation fused after each kind of layer (as layer_weights sets it).
static enum qn_act kind_act(const struct qn_mb_space *s, enum qn_mb_layer_kind kind) {
    switch (kind) {
    case QN_MB_L_STEM:
    case QN_MB_L_HEAD: return (enum qn_act)s->act_outer;
    case QN_MB_L_EXPAND:
    case QN_MB_L_DW: return (enum qn_act)s->act_block;
    default: return QN_ACT_NONE;  // project (the shortcut adds after it), classifier
    }
}

enum qn_status qn_qnet_assemble(struct qn_qnet *q) {
    enum qn_status st = QN_OK;
    for (int i = 0; i < q->n_layers && !st; i++) {
        struct qn_qnet_layer *L = &q->layers[i];
        const struct qn_mb_layer *I = &L->info;
        L->act = kind_act(q->space, I->kind);
        L->nsr = -1;
        qn_act_observer_init(&L->obs);
        if (is_quant(L)) {
            const size_t wn = (size_t)I->weights, N = (size_t)I->cout, K = wn / N;
            const bool own_w = !L->w;
            L->wfake = qn_alloc(sizeof(float) * wn);
            if (own_w) L->w = qn_alloc(sizeof(float) * wn);
            if (!L->wfake || !L->w) {
                st = QN_ERR_NOMEM;
                break;
            }
            // (float)Q * scale: qn_fake_quant_weights' values bit for bit; dw weights are [k][k][c]
            const bool dw = I->kind == QN_MB_L_DW;
            for (size_t j = 0; j < wn; j++) L->wfake[j] = (float)L->wq[j] * L->wscale[dw ? j % N : j / K];
            if (own_w) memcpy(L->w, L->wfake, sizeof(float) * wn);
        }
        st = layer_kernels(L);
    }
    if (!st) st = alloc_buffers(q);
    if (st) qn_qnet_free(q);
    return st;
}
