// MBConv supernet: parameter layout, initialization, loading, and subnet forward/backward.
#include "supernet.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn.h"
#include "ops.h"
#include "quant.h"

#define BN_EPS QN_NN_BN_EPS

static int conv_out(int h, int stride) { return (h - 1) / stride + 1; }

// --- parameter layout ---

static size_t add_tensor(struct qn_mb_net *net, const char *name, int ndim, const int64_t *shape,
                         bool trainable, bool decay) {
    struct qn_mb_tensor *t = &net->tensors[net->n_tensors++];
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i], t->count *= (size_t)shape[i];
    t->offset = net->n_floats;
    t->trainable = trainable;
    t->decay = decay;
    net->n_floats += QN_ROUND_UP(t->count, 16);  // every tensor 64-byte aligned
    return t->offset;
}

static void add_convbn(struct qn_mb_net *net, struct qn_mb_convbn *cb, const char *prefix, int ndim,
                       const int64_t *shape, int channels) {
    char name[64];
    int64_t c[1] = {channels};
    snprintf(name, sizeof(name), "%s.weight", prefix);
    cb->w = add_tensor(net, name, ndim, shape, true, true);
    snprintf(name, sizeof(name), "%s.bn.weight", prefix);
    cb->gamma = add_tensor(net, name, 1, c, true, false);
    snprintf(name, sizeof(name), "%s.bn.bias", prefix);
    cb->beta = add_tensor(net, name, 1, c, true, false);
    snprintf(name, sizeof(name), "%s.bn.running_mean", prefix);
    cb->mean = add_tensor(net, name, 1, c, false, false);
    snprintf(name, sizeof(name), "%s.bn.running_var", prefix);
    cb->var = add_tensor(net, name, 1, c, false, false);
}

enum qn_status qn_mb_net_init(struct qn_mb_net *net, const struct qn_mb_space *s, struct qn_error *e) {
    memset(net, 0, sizeof(*net));
    net->space = s;
    size_t max_tensors = 16 + (size_t)s->n_stages * qn_mb_dmax(s) * (15 + QN_MB_MAX_CHOICES);
    net->tensors = calloc(max_tensors, sizeof(*net->tensors));
    if (!net->tensors) return qn_fail(e, QN_ERR_NOMEM, "out of memory for the supernet");
    const int K = qn_mb_kmax(s), E = qn_mb_emax(s);
    int64_t stem[4] = {s->stem_c, s->stem_k, s->stem_k, s->in_c};
    add_convbn(net, &net->stem, "stem.conv", 4, stem, s->stem_c);
    for (int i = 0; i < s->n_stages; i++)
        for (int b = 0; b < qn_mb_dmax(s); b++) {
            char p[48];
            int cin = qn_mb_block_cin(s, i, b), ce = cin * E, cout = s->stage_c[i];
            struct qn_mb_block_params *bp = &net->blocks[i][b];
            int64_t ex[4] = {ce, 1, 1, cin}, dw[3] = {K, K, ce}, pr[4] = {cout, 1, 1, ce};
            snprintf(p, sizeof(p), "s%d.b%d.expand", i + 1, b + 1);
            add_convbn(net, &bp->expand, p, 4, ex, ce);
            snprintf(p, sizeof(p), "s%d.b%d.dw", i + 1, b + 1);
            add_convbn(net, &bp->dw, p, 3, dw, ce);
            for (int j = 0; j + 1 < s->n_kernels; j++) {
                char name[64];
                int64_t kk = (int64_t)s->kernels[j] * s->kernels[j], tr[2] = {kk, kk};
                snprintf(name, sizeof(name), "s%d.b%d.dw.kernel_transform_%dto%d", i + 1, b + 1, s->kernels[j + 1],
                         s->kernels[j]);
                bp->ktrans[j] = add_tensor(net, name, 2, tr, true, false);
            }
            snprintf(p, sizeof(p), "s%d.b%d.project", i + 1, b + 1);
            add_convbn(net, &bp->project, p, 4, pr, cout);
        }
    int64_t head[4] = {s->head_c, 1, 1, s->stage_c[s->n_stages - 1]};
    add_convbn(net, &net->head, "head.conv", 4, head, s->head_c);
    int64_t cw[2] = {s->n_classes, s->head_c}, cb[1] = {s->n_classes};
    net->cls_w = add_tensor(net, "classifier.weight", 2, cw, true, true);
    net->cls_b = add_tensor(net, "classifier.bias", 1, cb, true, false);
    QN_ASSERT(net->n_tensors <= max_tensors);
    net->w = qn_alloc(net->n_floats * sizeof(float));
    if (!net->w) {
        qn_mb_net_free(net);
        return qn_fail(e, QN_ERR_NOMEM, "out of memory for the supernet weights");
    }
    memset(net->w, 0, net->n_floats * sizeof(float));
    return QN_OK;
}

void qn_mb_net_free(struct qn_mb_net *net) {
    free(net->tensors);
    qn_free(net->w);
    qn_free(net->grad);
    memset(net, 0, sizeof(*net));
}

enum qn_status qn_mb_net_alloc_grad(struct qn_mb_net *net, struct qn_error *e) {
    if (!net->grad) net->grad = qn_alloc(net->n_floats * sizeof(float));
    if (!net->grad) return qn_fail(e, QN_ERR_NOMEM, "out of memory for gradients");
    memset(net->grad, 0, net->n_floats * sizeof(float));
    return QN_OK;
}

static double gauss(uint64_t *st) {
    // Box-Muller from two xorshift64* uniforms in (0, 1]
    uint64_t a, b;
    for (int i = 0; i < 2; i++) {
        uint64_t x = *st;
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        *st = x;
        if (i == 0) a = x * 0x2545f4914f6cdd1dull;
        else b = x * 0x2545f4914f6cdd1dull;
    }
    double u1 = ((a >> 11) + 1.0) / 9007199254740993.0, u2 = (b >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// Zero gamma on the last BN of every block with an identity shortcut, so each residual block
// starts as the identity (Goyal et al.); blocks without a shortcut keep gamma 1, or the signal
// would stop there.
static void zero_residual_gammas(struct qn_mb_net *net) {
    const struct qn_mb_space *s = net->space;
    for (int i = 0; i < s->n_stages; i++)
        for (int b = 0; b < qn_mb_dmax(s); b++) {
            int stride = b == 0 ? s->stage_stride[i] : 1;
            if (stride != 1 || qn_mb_block_cin(s, i, b) != s->stage_c[i]) continue;
            const struct qn_mb_convbn *pr = &net->blocks[i][b].project;
            memset(net->w + pr->gamma, 0, sizeof(float) * (size_t)s->stage_c[i]);
        }
}

void qn_mb_net_init_weights(struct qn_mb_net *net, uint64_t seed) {
    uint64_t st = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    if (!st) st = 1;
    for (size_t t = 0; t < net->n_tensors; t++) {
        const struct qn_mb_tensor *tt = &net->tensors[t];
        float *p = net->w + tt->offset;
        const char *n = tt->name;
        size_t len = strlen(n);
        if (tt->decay) {
            // He-normal with fan-in: conv OHWI -> fan_in = H*W*I; depthwise [K][K][C] -> K*K.
            double fan_in = tt->ndim == 3 ? (double)(tt->shape[0] * tt->shape[1])
                            : tt->ndim == 4 ? (double)(tt->shape[1] * tt->shape[2] * tt->shape[3])
                                            : (double)tt->shape[1];
            double std = strcmp(n, "classifier.weight") == 0 ? 0.01 : sqrt(2.0 / fan_in);
            for (size_t i = 0; i < tt->count; i++) p[i] = (float)(std * gauss(&st));
        } else {
            float v = 0.0f;
            if (len >= 16 && strcmp(n + len - 16, ".bn.running_var") == 0) v = 1.0f;
            if (len >= 10 && strcmp(n + len - 10, ".bn.weight") == 0) v = 1.0f;
            for (size_t i = 0; i < tt->count; i++) p[i] = v;
            if (strstr(n, ".kernel_transform_"))  // identity: starts as the plain centre crop
                for (int64_t i = 0; i < tt->shape[0]; i++) p[i * tt->shape[0] + i] = 1.0f;
        }
    }
    zero_residual_gammas(net);
}

size_t qn_mb_net_entries(const struct qn_mb_net *net, struct qn_st_entry *out) {
    for (size_t t = 0; t < net->n_tensors; t++) {
        const struct qn_mb_tensor *tt = &net->tensors[t];
        out[t] = (struct qn_st_entry){.name = tt->name, .dtype = QN_DTYPE_F32, .ndim = tt->ndim,
                                      .data = net->w + tt->offset};
        for (int i = 0; i < tt->ndim; i++) out[t].shape[i] = tt->shape[i];
    }
    return net->n_tensors;
}

enum qn_status qn_mb_net_load(struct qn_mb_net *net, const struct qn_safetensors *st, const char *what,
                              struct qn_error *e) {
    // Non-finite values are refused here, but no magnitude bound: whether a finite weight
    // overflows depends on the subnet, the other weights and the data (batch norm rescales a
    // large conv output), so the builders check activations where they are computed
    // (qn_mb_run_nonfinite, qn_bn_recalibrate, qn_qnet_build) instead.
    snprintf(net->source, sizeof(net->source), "%s", what);
    for (size_t t = 0; t < net->n_tensors; t++) {
        const struct qn_mb_tensor *tt = &net->tensors[t];
        const struct qn_st_tensor *src;
        enum qn_status s = qn_st_expect(st, what, tt->name, QN_DTYPE_F32, tt->ndim, tt->shape, &src, e);
        if (s) return s;
        const float *f = src->data;
        for (size_t i = 0; i < tt->count; i++)
            if (!isfinite(f[i]))
                return qn_fail(e, QN_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value at element %zu", what,
                               tt->name, i);
        memcpy(net->w + tt->offset, f, tt->count * sizeof(float));
    }
    return QN_OK;
}

// --- elastic kernel (Once-for-All kernel transform) ---

static int kernel_level(const struct qn_mb_space *s, int k) {
    for (int j = 0; j < s->n_kernels; j++)
        if (s->kernels[j] == k) return j;
    QN_ASSERT(!"kernel size not in the space");
    return -1;
}

// Level l+1's kernel as a strided view: the stored k_max weight for the top level, else the
// contiguous [k][k][ce] buffer lv[l+1].
static void level_view(const struct qn_mb_net *net, const struct qn_mb_block_params *bp, int cemax, int ce, int l,
                       float *const *lv, const float **w, size_t *sh, size_t *sw) {
    const struct qn_mb_space *s = net->space;
    const int n = s->n_kernels;
    if (l == n - 1) *w = net->w + bp->dw.w, *sh = (size_t)s->kernels[l] * cemax, *sw = (size_t)cemax;
    else *w = lv[l], *sh = (size_t)s->kernels[l] * ce, *sw = (size_t)ce;
}

// Effective kernels of levels n-2 down to j into lv[l] ([k_l][k_l][ce], contiguous). Each is
// T_l (k_l^2 x k_l^2) applied to the centre k_l x k_l window of the level above, per channel.
static void dw_chain(const struct qn_mb_net *net, const struct qn_mb_block_params *bp, int cemax, int ce, int j,
                     float *const *lv) {
    const struct qn_mb_space *s = net->space;
    for (int l = s->n_kernels - 2; l >= j; l--) {
        const int k = s->kernels[l], kk = k * k, o = (s->kernels[l + 1] - k) / 2;
        const float *src, *T = net->w + bp->ktrans[l];
        size_t sh, sw;
        level_view(net, bp, cemax, ce, l + 1, lv, &src, &sh, &sw);
        for (int t = 0; t < kk; t++) {
            float *d = lv[l] + (size_t)t * ce;
            memset(d, 0, sizeof(float) * (size_t)ce);
            for (int u = 0; u < kk; u++) {
                const float a = T[t * kk + u], *x = src + (size_t)(u / k + o) * sh + (size_t)(u % k + o) * sw;
                for (int c = 0; c < ce; c++) d[c] += a * x[c];
            }
        }
    }
}

// Backward of dw_chain from dlv[j] = dL/dw_j: dT_l += dw_l centre(w_{l+1})^T and
// d centre(w_{l+1}) += T_l^T dw_l, level by level up to the stored weight's gradient.
static void dw_chain_backward(struct qn_mb_net *net, const struct qn_mb_block_params *bp, int cemax, int ce, int j,
                              float *const *lv, float *const *dlv) {
    const struct qn_mb_space *s = net->space;
    const int n = s->n_kernels;
    for (int l = j; l <= n - 2; l++) {
        const int k = s->kernels[l], kk = k * k, kn = s->kernels[l + 1], o = (kn - k) / 2;
        const float *src, *T = net->w + bp->ktrans[l];
        float *dT = net->grad + bp->ktrans[l], *dsrc;
        size_t sh, sw;
        level_view(net, bp, cemax, ce, l + 1, lv, &src, &sh, &sw);
        if (l + 1 == n - 1) {
            dsrc = net->grad + bp->dw.w;
        } else {
            dsrc = dlv[l + 1];
            memset(dsrc, 0, sizeof(float) * (size_t)kn * kn * ce);
        }
        for (int t = 0; t < kk; t++) {
            const float *dk = dlv[l] + (size_t)t * ce;
            for (int u = 0; u < kk; u++) {
                const size_t at = (size_t)(u / k + o) * sh + (size_t)(u % k + o) * sw;
                const float a = T[t * kk + u], *x = src + at;
                float *dx = dsrc + at, acc = 0.0f;
                for (int c = 0; c < ce; c++) acc += dk[c] * x[c], dx[c] += a * dk[c];
                dT[t * kk + u] += acc;
            }
        }
    }
}

void qn_mb_dw_kernel(const struct qn_mb_net *net, int stage, int block, int k, int ce, float *out) {
    const struct qn_mb_space *s = net->space;
    const int cemax = qn_mb_block_cin(s, stage, block) * qn_mb_emax(s), j = kernel_level(s, k), n = s->n_kernels;
    const struct qn_mb_block_params *bp = &net->blocks[stage][block];
    float *lv[QN_MB_MAX_CHOICES] = {0};
    for (int l = j; l < n - 1; l++) {
        lv[l] = malloc(sizeof(float) * (size_t)s->kernels[l] * s->kernels[l] * ce);
        QN_ASSERT(lv[l]);
    }
    dw_chain(net, bp, cemax, ce, j, lv);
    const float *w;
    size_t sh, sw;
    level_view(net, bp, cemax, ce, j, lv, &w, &sh, &sw);
    for (int t = 0; t < k * k; t++) memcpy(out + (size_t)t * ce, w + (size_t)(t / k) * sh + (size_t)(t % k) * sw, sizeof(float) * ce);
    for (int l = j; l < n - 1; l++) free(lv[l]);
}

// --- running a subnet ---

struct block_bufs {
    const float *in;
    // No BN output before the activation is kept: the backward recomputes it from e1 / d1.
    float *e1, *e3;  // expand conv out, ReLU6(BN) out   [B][H][W][ce]
    float *d1, *d3;  // depthwise out, ReLU6(BN) out     [B][Ho][Wo][ce]
    float *p1, *out;      // project conv out, BN (+ residual) out [B][Ho][Wo][cout]
    float *stats;         // saved mean, rstd for the 3 BNs: [6][ce_max]
    float *keff[QN_MB_MAX_CHOICES];  // effective depthwise kernels below k_max: [k_l][k_l][ce]
    // quantization-aware forward: the fake-quantized conv inputs and weights actually used
    float *qin, *qe3, *qd3;  // [B][H][W][cin], [B][H][W][ce], [B][Ho][Wo][ce]
    float *wqe, *wqd, *wqp;  // [ce][cin], [k][k][ce], [cout][ce] (dense)
    int H, W, Ho, Wo;
};

struct qn_mb_run {
    int max_batch;
    float *arena;
    const float *x;
    float *s1, *s3, *s_stats, *conv_scratch;
    struct block_bufs blk[QN_MB_MAX_STAGES][QN_MB_MAX_DEPTH];
    float *h1, *h3, *h_stats, *pool, *logits;
    const float *head_input;   // last block's output [B][Hh][Wh][c_last]
    float *g0, *g1, *g2, *g3;  // gradient temporaries, each the largest activation
    float *dkeff[QN_MB_MAX_CHOICES];  // gradients of the effective kernels, [k_l][k_l][ce_max]
    float *qx, *qh, *qpool;           // fake-quantized stem, head and classifier inputs
    float *wqs, *wqh, *wqc;           // their fake-quantized weights (dense)
    float *gscratch;                  // gradient of one fake-quantized weight, the largest layer
    struct qn_mb_policy pol;          // precision of the last forward (all FP32 unless qat)
    bool qat;
    bool nonfinite;                   // the last forward met non-finite activations
    int B, H0, W0, Hh, Wh;     // last forward's batch, stem and head resolutions
    enum qn_mb_mode mode;
    struct qn_mb_prof *prof;   // NULL: no timing
    double t_mark;
};

const char *qn_mb_prof_name(enum qn_mb_prof_kind k) {
    static const char *names[QN_MB_PROF_COUNT] = {"stem conv", "pointwise", "depthwise", "bn+act", "other"};
    return k < QN_MB_PROF_COUNT ? names[k] : "?";
}

void qn_mb_run_profile(struct qn_mb_run *r, struct qn_mb_prof *p) { r->prof = p; }

bool qn_mb_run_nonfinite(const struct qn_mb_run *r) { return r->nonfinite; }

// Charges the time since the last mark to kind k (forward or backward) and sets a new mark.
static void prof_mark(struct qn_mb_run *r, int bwd, enum qn_mb_prof_kind k) {
    if (!r->prof) return;
    double t = qn_now();
    if (k < QN_MB_PROF_COUNT) (bwd ? r->prof->bwd : r->prof->fwd)[k] += t - r->t_mark;
    r->t_mark = t;
}
#define PROF_START(r) prof_mark(r, 0, QN_MB_PROF_COUNT)

// Sizes every buffer for the max genome at max_batch, then carves one arena (or, with
// base == NULL, just counts).
static size_t run_layout(const struct qn_mb_net *net, struct qn_mb_run *r, float *base) {
    const struct qn_mb_space *s = net->space;
    const size_t B = (size_t)r->max_batch;
    size_t off = 0, biggest = 0;
#define TAKE(ptr, n)                                         \
    do {                                                     \
        size_t n_ = QN_ROUND_UP((size_t)(n), 16);            \
        (ptr) = base ? base + off : NULL;                    \
        off += n_;                                           \
        biggest = QN_MAX(biggest, (size_t)(n));              \
    } while (0)
    int H = conv_out(s->in_h, s->stem_stride), W = conv_out(s->in_w, s->stem_stride);
    TAKE(r->s1, B * H * W * s->stem_c);
    TAKE(r->s3, B * H * W * s->stem_c);
    TAKE(r->s_stats, 2 * s->stem_c);
    struct qn_nn_conv cv;
    qn_nn_conv_init(&cv, (int)B, s->in_h, s->in_w, s->in_c, s->stem_c, s->stem_k, s->stem_stride, NULL, 0, 0, 0);
    TAKE(r->conv_scratch, qn_nn_conv_scratch(&cv));
    const int E = qn_mb_emax(s);
    for (int i = 0; i < s->n_stages; i++)
        for (int b = 0; b < qn_mb_dmax(s); b++) {
            struct block_bufs *bb = &r->blk[i][b];
            int cin = qn_mb_block_cin(s, i, b), ce = cin * E, cout = s->stage_c[i];
            int stride = b == 0 ? s->stage_stride[i] : 1, Ho = conv_out(H, stride), Wo = conv_out(W, stride);
            size_t pin = B * H * W, pout = B * Ho * Wo;
            TAKE(bb->e1, pin * ce);
            TAKE(bb->e3, pin * ce);
            TAKE(bb->d1, pout * ce);
            TAKE(bb->d3, pout * ce);
            TAKE(bb->p1, pout * cout);
            TAKE(bb->out, pout * cout);
            TAKE(bb->stats, 6 * (size_t)ce);
            TAKE(bb->qin, pin * cin);
            TAKE(bb->qe3, pin * ce);
            TAKE(bb->qd3, pout * ce);
            TAKE(bb->wqe, (size_t)ce * cin);
            TAKE(bb->wqd, (size_t)qn_mb_kmax(s) * qn_mb_kmax(s) * ce);
            TAKE(bb->wqp, (size_t)cout * ce);
            for (int l = 0; l + 1 < s->n_kernels; l++) TAKE(bb->keff[l], (size_t)s->kernels[l] * s->kernels[l] * ce);
            bb->H = H, bb->W = W, bb->Ho = Ho, bb->Wo = Wo;
            H = Ho, W = Wo;
        }
    r->Hh = H, r->Wh = W;
    TAKE(r->h1, B * H * W * s->head_c);
    TAKE(r->h3, B * H * W * s->head_c);
    TAKE(r->h_stats, 2 * s->head_c);
    TAKE(r->pool, B * s->head_c);
    TAKE(r->logits, B * s->n_classes);
    size_t big = biggest;
    TAKE(r->g0, big);
    TAKE(r->g1, big);
    TAKE(r->g2, big);
    TAKE(r->g3, big);
    int ce_max = 0;
    for (int i = 0; i < s->n_stages; i++) ce_max = QN_MAX(ce_max, qn_mb_block_cin(s, i, 0) * E);
    for (int i = 0; i < s->n_stages; i++) ce_max = QN_MAX(ce_max, s->stage_c[i] * E);
    for (int l = 0; l + 1 < s->n_kernels; l++) TAKE(r->dkeff[l], (size_t)s->kernels[l] * s->kernels[l] * ce_max);
    const int cl = s->stage_c[s->n_stages - 1];
    TAKE(r->qx, B * s->in_h * s->in_w * s->in_c);
    TAKE(r->qh, B * r->Hh * r->Wh * cl);
    TAKE(r->qpool, B * s->head_c);
    TAKE(r->wqs, (size_t)s->stem_c * s->stem_k * s->stem_k * s->in_c);
    TAKE(r->wqh, (size_t)s->head_c * cl);
    TAKE(r->wqc, (size_t)s->n_classes * s->head_c);
    size_t wmax = QN_MAX((size_t)s->head_c * cl, (size_t)qn_mb_kmax(s) * qn_mb_kmax(s) * ce_max);
    wmax = QN_MAX(wmax, (size_t)s->stem_c * s->stem_k * s->stem_k * s->in_c);
    wmax = QN_MAX(wmax, (size_t)s->n_classes * s->head_c);
    for (int i = 0; i < s->n_stages; i++)
        for (int b = 0; b < 2; b++) {
            size_t cin = (size_t)qn_mb_block_cin(s, i, b), ce = cin * E;
            wmax = QN_MAX(wmax, QN_MAX(ce * cin, (size_t)s->stage_c[i] * ce));
        }
    TAKE(r->gscratch, wmax);
#undef TAKE
    return off;
}

struct qn_mb_run *qn_mb_run_new(const struct qn_mb_net *net, int max_batch) {
    struct qn_mb_run *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->max_batch = max_batch;
    size_t n = run_layout(net, r, NULL);
    r->arena = qn_alloc(n * sizeof(float));
    if (!r->arena) {
        free(r);
        return NULL;
    }
    run_layout(net, r, r->arena);
    return r;
}

void qn_mb_run_free(struct qn_mb_run *r) {
    if (!r) return;
    qn_free(r->arena);
    free(r);
}

// BN + activation forward in the given mode; stats holds [mean][rstd] of C channels for
// backward (which recomputes BN(x) from x and them). Returns false when the batch statistics
// or the running statistics they update are not finite (an rstd of 0 is an infinite variance).
static bool bn_act_forward(const struct qn_mb_net *net, const struct qn_mb_convbn *cb, enum qn_mb_mode mode,
                           int recal_count, size_t P, int C, const float *x, enum qn_act act, float *stats,
                           float *y) {
    const float *gamma = net->w + cb->gamma, *beta = net->w + cb->beta;
    float *rm = net->w + cb->mean, *rv = net->w + cb->var;
    if (mode == QN_MB_EVAL) {
        qn_nn_bn_act_fwd_eval(P, C, x, gamma, beta, rm, rv, BN_EPS, act, y);
        return true;
    }
    qn_nn_bn_act_fwd_train(P, C, x, gamma, beta, act, stats, stats + C, y);
    bool finite = true;
    for (int c = 0; c < C; c++) finite &= isfinite(stats[c]) && stats[C + c] > 0.0f;
    if (mode == QN_MB_BN_RECAL) {
        // cumulative average over the calibration batches (equal weights, as Once-for-All)
        float a = 1.0f / (float)(recal_count + 1);
        for (int c = 0; c < C; c++) {
            float var = 1.0f / (stats[C + c] * stats[C + c]) - BN_EPS;
            rm[c] = recal_count ? rm[c] + a * (stats[c] - rm[c]) : stats[c];
            rv[c] = recal_count ? rv[c] + a * (var - rv[c]) : var;
            finite &= isfinite(rm[c]) && isfinite(rv[c]);
        }
    }
    return finite;
}

// --- quantization-aware forward: fake quantization with per-batch ranges ---
//
// The conv input is fake-quantized over its own [min, max] (per tensor, asymmetric) and the
// weights per output channel over max |w| (symmetric), exactly the quantizers `qnas eval`
// deploys with (src/quant.h). Both gradients pass straight through (STE): with min-max ranges
// nothing is clipped, so d(fake-quant)/dx = 1 everywhere.

static void fq_act(struct qn_mb_run *r, size_t n, const float *x, int bits, float *y) {
    float lo, hi;
    qn_f32_minmax(1, n, x, n, &lo, &hi);
    if (!(isfinite(lo) && isfinite(hi))) {
        // no range to quantize over (weights out of range, or a diverged run): passed through,
        // flagged for the caller
        r->nonfinite = true;
        memcpy(y, x, sizeof(float) * n);
        return;
    }
    qn_fake_quant_act(n, x, qn_act_qparams_from_range(lo, hi, bits, false), y);
}

// W[N][ldw] (K used columns) -> dense Y[N][K]; scale: [N] scratch.
static void fq_rows(size_t N, size_t K, const float *W, size_t ldw, int bits, float *Y, float *scale) {
    const float lim = (float)((1 << (bits - 1)) - 1);
    for (size_t n = 0; n < N; n++) scale[n] = qn_weight_scale(qn_absmax(W + n * ldw, K), lim);
    qn_fake_quant_weights(N, K, W, ldw, bits, scale, Y, K);
}

// Depthwise taps w[i*sh + j*sw + c] (k x k, C channels) -> dense y[k][k][C], per channel.
static void fq_dw(int k, int C, const float *w, size_t sh, size_t sw, int bits, float *y, float *t, float *u,
                  float *scale) {
    const size_t T = (size_t)k * k;
    for (size_t tap = 0; tap < T; tap++)
        for (int c = 0; c < C; c++) t[(size_t)c * T + tap] = w[(tap / k) * sh + (tap % k) * sw + c];
    fq_rows((size_t)C, T, t, T, bits, u, scale);
    for (size_t tap = 0; tap < T; tap++)
        for (int c = 0; c < C; c++) y[tap * C + c] = u[(size_t)c * T + tap];
}

static bool lq(const struct qn_mb_run *r, int li) { return r->qat && r->pol.l[li].wbits != 0; }

const float *qn_mb_forward(const struct qn_mb_net *net, const struct qn_mb_genome *g, struct qn_mb_run *r,
                           const float *x, int B, enum qn_mb_mode mode, int recal_count) {
    return qn_mb_forward_q(net, g, NULL, r, x, B, mode, recal_count);
}

const float *qn_mb_forward_q(const struct qn_mb_net *net, const struct qn_mb_genome *g,
                             const struct qn_mb_policy *pol, struct qn_mb_run *r, const float *x, int B,
                             enum qn_mb_mode mode, int recal_count) {
    const struct qn_mb_space *s = net->space;
    QN_ASSERT(B >= 1 && B <= r->max_batch);
    const int E = qn_mb_emax(s);
    r->x = x, r->B = B, r->mode = mode;
    r->qat = pol != NULL;
    r->nonfinite = false;
    if (pol) r->pol = *pol;
    float *scr = r->g2;  // gradient temporaries are free during a forward: scratch for fq_*
    int li = 0;          // layer index in qn_mb_layers order
    PROF_START(r);
    // stem
    struct qn_nn_conv cv;
    const size_t sk = (size_t)s->stem_k * s->stem_k * s->in_c;
    const float *ws = net->w + net->stem.w;
    if (lq(r, li)) {
        fq_act(r, (size_t)B * s->in_h * s->in_w * s->in_c, x, r->pol.l[li].abits, r->qx);
        fq_rows((size_t)s->stem_c, sk, ws, sk, r->pol.l[li].wbits, r->wqs, scr);
        x = r->qx, ws = r->wqs;
    }
    r->x = x;
    li++;
    qn_nn_conv_init(&cv, B, s->in_h, s->in_w, s->in_c, s->stem_c, s->stem_k, s->stem_stride, ws, sk,
                    (size_t)s->stem_k * s->in_c, (size_t)s->in_c);
    r->H0 = cv.Ho, r->W0 = cv.Wo;
    size_t P = (size_t)B * cv.Ho * cv.Wo;
    qn_nn_conv_fwd(&cv, x, r->s1, r->conv_scratch);
    prof_mark(r, 0, QN_MB_PROF_STEM);
    r->nonfinite |= !bn_act_forward(net, &net->stem, mode, recal_count, P, s->stem_c, r->s1,
                                    (enum qn_act)s->act_outer, r->s_stats, r->s3);
    prof_mark(r, 0, QN_MB_PROF_BN_ACT);
    const float *cur = r->s3;
    // blocks
    for (int i = 0; i < s->n_stages; i++)
        for (int b = 0; b < g->depth[i]; b++) {
            struct block_bufs *bb = &r->blk[i][b];
            const struct qn_mb_block_params *bp = &net->blocks[i][b];
            const int cin = qn_mb_block_cin(s, i, b), cemax = cin * E, ce = cin * g->expand[i][b];
            const int cout = s->stage_c[i], k = g->kernel[i][b], stride = b == 0 ? s->stage_stride[i] : 1;
            const size_t pin = (size_t)B * bb->H * bb->W, pout = (size_t)B * bb->Ho * bb->Wo;
            bb->in = cur;
            const float *xe = cur, *we = net->w + bp->expand.w;
            size_t lde = (size_t)cin;
            if (lq(r, li)) {
                fq_act(r, pin * cin, cur, r->pol.l[li].abits, bb->qin);
                fq_rows((size_t)ce, (size_t)cin, we, lde, r->pol.l[li].wbits, bb->wqe, scr);
                xe = bb->qin, we = bb->wqe;
            }
            li++;
            qn_nn_pw_fwd(pin, cin, ce, xe, we, lde, NULL, bb->e1);
            prof_mark(r, 0, QN_MB_PROF_POINTWISE);
            r->nonfinite |= !bn_act_forward(net, &bp->expand, mode, recal_count, pin, ce, bb->e1,
                                            (enum qn_act)s->act_block, bb->stats, bb->e3);
            prof_mark(r, 0, QN_MB_PROF_BN_ACT);
            struct qn_nn_dw dw;
            const int lvl = kernel_level(s, k);
            const float *wk, *xd = bb->e3;
            size_t wsh, wsw;
            dw_chain(net, bp, cemax, ce, lvl, bb->keff);
            level_view(net, bp, cemax, ce, lvl, bb->keff, &wk, &wsh, &wsw);
            if (lq(r, li)) {
                fq_act(r, pin * ce, bb->e3, r->pol.l[li].abits, bb->qe3);
                fq_dw(k, ce, wk, wsh, wsw, r->pol.l[li].wbits, bb->wqd, r->g0, r->g1, scr);
                xd = bb->qe3, wk = bb->wqd, wsh = (size_t)k * ce, wsw = (size_t)ce;
            }
            li++;
            qn_nn_dw_init(&dw, B, bb->H, bb->W, ce, k, stride, wk, wsh, wsw);
            qn_nn_dw_fwd(&dw, xd, bb->d1);
            prof_mark(r, 0, QN_MB_PROF_DEPTHWISE);
            r->nonfinite |= !bn_act_forward(net, &bp->dw, mode, recal_count, pout, ce, bb->d1,
                                            (enum qn_act)s->act_block, bb->stats + 2 * cemax, bb->d3);
            prof_mark(r, 0, QN_MB_PROF_BN_ACT);
            const float *xp = bb->d3, *wp = net->w + bp->project.w;
            size_t ldp = (size_t)cemax;
            if (lq(r, li)) {
                fq_act(r, pout * ce, bb->d3, r->pol.l[li].abits, bb->qd3);
                fq_rows((size_t)cout, (size_t)ce, wp, ldp, r->pol.l[li].wbits, bb->wqp, scr);
                xp = bb->qd3, wp = bb->wqp, ldp = (size_t)ce;
            }
            li++;
            qn_nn_pw_fwd(pout, ce, cout, xp, wp, ldp, NULL, bb->p1);
            prof_mark(r, 0, QN_MB_PROF_POINTWISE);
            r->nonfinite |= !bn_act_forward(net, &bp->project, mode, recal_count, pout, cout, bb->p1, QN_ACT_NONE,
                                            bb->stats + 4 * cemax, bb->out);
            prof_mark(r, 0, QN_MB_PROF_BN_ACT);
            if (stride == 1 && cin == cout)
                for (size_t j = 0; j < pout * cout; j++) bb->out[j] += cur[j];
            prof_mark(r, 0, QN_MB_PROF_OTHER);
            cur = bb->out;
        }
    // head
    const int cl = s->stage_c[s->n_stages - 1];
    P = (size_t)B * r->Hh * r->Wh;
    const float *xh = cur, *wh = net->w + net->head.w;
    if (lq(r, li)) {
        fq_act(r, P * cl, cur, r->pol.l[li].abits, r->qh);
        fq_rows((size_t)s->head_c, (size_t)cl, wh, (size_t)cl, r->pol.l[li].wbits, r->wqh, scr);
        xh = r->qh, wh = r->wqh;
    }
    li++;
    qn_nn_pw_fwd(P, cl, s->head_c, xh, wh, (size_t)cl, NULL, r->h1);
    prof_mark(r, 0, QN_MB_PROF_POINTWISE);
    r->nonfinite |= !bn_act_forward(net, &net->head, mode, recal_count, P, s->head_c, r->h1,
                                    (enum qn_act)s->act_outer, r->h_stats, r->h3);
    prof_mark(r, 0, QN_MB_PROF_BN_ACT);
    qn_nn_gap_fwd(B, r->Hh * r->Wh, s->head_c, r->h3, r->pool);
    prof_mark(r, 0, QN_MB_PROF_OTHER);
    const float *xc = r->pool, *wc = net->w + net->cls_w;
    if (lq(r, li)) {
        fq_act(r, (size_t)B * s->head_c, r->pool, r->pol.l[li].abits, r->qpool);
        fq_rows((size_t)s->n_classes, (size_t)s->head_c, wc, (size_t)s->head_c, r->pol.l[li].wbits, r->wqc, scr);
        xc = r->qpool, wc = r->wqc;
    }
    qn_nn_pw_fwd((size_t)B, s->head_c, s->n_classes, xc, wc, (size_t)s->head_c, net->w + net->cls_b, r->logits);
    prof_mark(r, 0, QN_MB_PROF_OTHER);
    r->head_input = xh;
    return r->logits;
}

// x: the BN input saved by the forward; the activation's derivative is taken at BN(x),
// recomputed from x, gamma, beta and the saved statistics exactly as the forward had it.
static void act_bn_backward(struct qn_mb_net *net, const struct qn_mb_convbn *cb, size_t P, int C, const float *x,
                            const float *stats, enum qn_act act, const float *dy, float *dx) {
    qn_nn_act_bn_bwd(P, C, x, net->w + cb->gamma, net->w + cb->beta, stats, stats + C, act, dy, net->grad + cb->gamma,
                     net->grad + cb->beta, dx);
}

// dW of a fake-quantized weight, computed on the dense copy, into the stored tensor's rows
// (straight through): dst[n][ldd] += src[n][K].
static void add_rows(size_t N, size_t K, const float *src, float *dst, size_t ldd) {
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < K; k++) dst[n * ldd + k] += src[n * K + k];
}

void qn_mb_backward(struct qn_mb_net *net, const struct qn_mb_genome *g, struct qn_mb_run *r,
                    const float *dlogits) {
    const struct qn_mb_space *s = net->space;
    QN_ASSERT(r->mode == QN_MB_TRAIN && net->grad);
    const int B = r->B, E = qn_mb_emax(s), cl = s->stage_c[s->n_stages - 1];
    float *buf[4] = {r->g0, r->g1, r->g2, r->g3}, *gs = r->gscratch;
    int li = 0;  // layer index of the classifier, counted down
    for (int i = 0; i < s->n_stages; i++) li += 3 * g->depth[i];
    li += 2;
    PROF_START(r);
    // classifier and head
    size_t P = (size_t)B * r->Hh * r->Wh;
    if (lq(r, li)) {
        memset(gs, 0, sizeof(float) * (size_t)s->n_classes * s->head_c);
        qn_nn_pw_bwd((size_t)B, s->head_c, s->n_classes, r->qpool, r->wqc, (size_t)s->head_c, dlogits, gs,
                     net->grad + net->cls_b, buf[0]);
        add_rows((size_t)s->n_classes, (size_t)s->head_c, gs, net->grad + net->cls_w, (size_t)s->head_c);
    } else {
        qn_nn_pw_bwd((size_t)B, s->head_c, s->n_classes, r->pool, net->w + net->cls_w, (size_t)s->head_c, dlogits,
                     net->grad + net->cls_w, net->grad + net->cls_b, buf[0]);
    }
    li--;
    prof_mark(r, 1, QN_MB_PROF_OTHER);
    qn_nn_gap_bwd(B, r->Hh * r->Wh, s->head_c, buf[0], buf[1]);
    prof_mark(r, 1, QN_MB_PROF_OTHER);
    act_bn_backward(net, &net->head, P, s->head_c, r->h1, r->h_stats, (enum qn_act)s->act_outer, buf[1], buf[2]);
    prof_mark(r, 1, QN_MB_PROF_BN_ACT);
    if (lq(r, li)) {
        memset(gs, 0, sizeof(float) * (size_t)s->head_c * cl);
        qn_nn_pw_bwd(P, cl, s->head_c, r->head_input, r->wqh, (size_t)cl, buf[2], gs, NULL, buf[0]);
        add_rows((size_t)s->head_c, (size_t)cl, gs, net->grad + net->head.w, (size_t)cl);
    } else {
        qn_nn_pw_bwd(P, cl, s->head_c, r->head_input, net->w + net->head.w, (size_t)cl, buf[2],
                     net->grad + net->head.w, NULL, buf[0]);
    }
    li--;
    prof_mark(r, 1, QN_MB_PROF_POINTWISE);
    int gi = 0;  // buf[gi] holds d(current block output)
    for (int i = s->n_stages - 1; i >= 0; i--)
        for (int b = g->depth[i] - 1; b >= 0; b--) {
            struct block_bufs *bb = &r->blk[i][b];
            const struct qn_mb_block_params *bp = &net->blocks[i][b];
            const int cin = qn_mb_block_cin(s, i, b), cemax = cin * E, ce = cin * g->expand[i][b];
            const int cout = s->stage_c[i], k = g->kernel[i][b], stride = b == 0 ? s->stage_stride[i] : 1;
            const size_t pin = (size_t)B * bb->H * bb->W, pout = (size_t)B * bb->Ho * bb->Wo;
            float *dout = buf[gi], *t1 = buf[(gi + 1) & 3], *t2 = buf[(gi + 2) & 3], *din = buf[(gi + 3) & 3];
            const int lp = li, ld = li - 1, le = li - 2;
            li -= 3;
            act_bn_backward(net, &bp->project, pout, cout, bb->p1, bb->stats + 4 * cemax, QN_ACT_NONE, dout, t1);
            prof_mark(r, 1, QN_MB_PROF_BN_ACT);
            if (lq(r, lp)) {
                memset(gs, 0, sizeof(float) * (size_t)cout * ce);
                qn_nn_pw_bwd(pout, ce, cout, bb->qd3, bb->wqp, (size_t)ce, t1, gs, NULL, t2);
                add_rows((size_t)cout, (size_t)ce, gs, net->grad + bp->project.w, (size_t)cemax);
            } else {
                qn_nn_pw_bwd(pout, ce, cout, bb->d3, net->w + bp->project.w, (size_t)cemax, t1,
                             net->grad + bp->project.w, NULL, t2);
            }
            prof_mark(r, 1, QN_MB_PROF_POINTWISE);
            act_bn_backward(net, &bp->dw, pout, ce, bb->d1, bb->stats + 2 * cemax, (enum qn_act)s->act_block, t2,
                            t1);
            prof_mark(r, 1, QN_MB_PROF_BN_ACT);
            struct qn_nn_dw dw;
            const int lvl = kernel_level(s, k), top = lvl == s->n_kernels - 1;
            const float *wk;
            size_t wsh, wsw;
            level_view(net, bp, cemax, ce, lvl, bb->keff, &wk, &wsh, &wsw);
            if (lq(r, ld)) {
                // gradient of the dense fake-quantized kernel, then straight through to the
                // effective kernel (the stored weight's view at k_max, else the chain)
                const size_t taps = (size_t)k * k;
                memset(gs, 0, sizeof(float) * taps * ce);
                qn_nn_dw_init(&dw, B, bb->H, bb->W, ce, k, stride, bb->wqd, (size_t)k * ce, (size_t)ce);
                qn_nn_dw_bwd(&dw, bb->qe3, t1, gs, t2);
                float *dk = top ? net->grad + bp->dw.w : r->dkeff[lvl];
                if (!top) memset(dk, 0, sizeof(float) * taps * ce);
                for (size_t t = 0; t < taps; t++)
                    for (int c = 0; c < ce; c++) dk[(t / k) * wsh + (t % k) * wsw + c] += gs[t * ce + c];
            } else {
                qn_nn_dw_init(&dw, B, bb->H, bb->W, ce, k, stride, wk, wsh, wsw);
                if (!top) memset(r->dkeff[lvl], 0, sizeof(float) * (size_t)k * k * ce);
                qn_nn_dw_bwd(&dw, bb->e3, t1, top ? net->grad + bp->dw.w : r->dkeff[lvl], t2);
            }
            if (!top) dw_chain_backward(net, bp, cemax, ce, lvl, bb->keff, r->dkeff);
            prof_mark(r, 1, QN_MB_PROF_DEPTHWISE);
            act_bn_backward(net, &bp->expand, pin, ce, bb->e1, bb->stats, (enum qn_act)s->act_block, t2, t1);
            prof_mark(r, 1, QN_MB_PROF_BN_ACT);
            if (lq(r, le)) {
                memset(gs, 0, sizeof(float) * (size_t)ce * cin);
                qn_nn_pw_bwd(pin, cin, ce, bb->qin, bb->wqe, (size_t)cin, t1, gs, NULL, din);
                add_rows((size_t)ce, (size_t)cin, gs, net->grad + bp->expand.w, (size_t)cin);
            } else {
                qn_nn_pw_bwd(pin, cin, ce, bb->in, net->w + bp->expand.w, (size_t)cin, t1, net->grad + bp->expand.w,
                             NULL, din);
            }
            prof_mark(r, 1, QN_MB_PROF_POINTWISE);
            if (stride == 1 && cin == cout)
                for (size_t j = 0; j < pin * cin; j++) din[j] += dout[j];
            prof_mark(r, 1, QN_MB_PROF_OTHER);
            gi = (gi + 3) & 3;
        }
    // stem (the input needs no gradient)
    QN_ASSERT(li == 0);
    float *d = buf[gi], *t = buf[(gi + 1) & 3];
    P = (size_t)B * r->H0 * r->W0;
    act_bn_backward(net, &net->stem, P, s->stem_c, r->s1, r->s_stats, (enum qn_act)s->act_outer, d, t);
    prof_mark(r, 1, QN_MB_PROF_BN_ACT);
    struct qn_nn_conv cv;
    const size_t sk = (size_t)s->stem_k * s->stem_k * s->in_c;
    const bool q0 = lq(r, 0);
    qn_nn_conv_init(&cv, B, s->in_h, s->in_w, s->in_c, s->stem_c, s->stem_k, s->stem_stride,
                    q0 ? r->wqs : net->w + net->stem.w, sk, (size_t)s->stem_k * s->in_c, (size_t)s->in_c);
    if (q0) memset(gs, 0, sizeof(float) * (size_t)s->stem_c * sk);
    qn_nn_conv_bwd(&cv, r->x, t, q0 ? gs : net->grad + net->stem.w, NULL, r->conv_scratch);
    if (q0) add_rows((size_t)s->stem_c, sk, gs, net->grad + net->stem.w, sk);
    prof_mark(r, 1, QN_MB_PROF_STEM);
}
