// Multi-head self-attention: projections through the GEMM operators, the FP32 core here.
#include <math.h>
#include <omp.h>
#include <string.h>

#include "attention.h"

// The core forks a team only above this many score MACs (T * T * dh * H): below it the fork
// (~5 us) costs more than it saves.
#define QN_MHA_PAR_MIN 65536

// --- workspace ---

enum qn_status qn_mha_workspace_init(struct qn_mha_workspace *ws, size_t T, size_t D, size_t H,
                                     size_t dh) {
    memset(ws, 0, sizeof(*ws));
    if (T == 0 || D == 0 || H == 0 || dh == 0) return QN_ERR_ARG;
    const size_t HD = H * dh;
    ws->nthreads = qn_threads() < 1 ? 1 : qn_threads();
    ws->qkv = qn_alloc(T * 3 * HD * sizeof(float));
    ws->o = qn_alloc(T * HD * sizeof(float));
    ws->s = qn_alloc((size_t)ws->nthreads * T * T * sizeof(float));
    ws->xq = qn_alloc(T * QN_MAX(D, HD));
    if (!ws->qkv || !ws->o || !ws->s || !ws->xq) {
        qn_mha_workspace_free(ws);
        return QN_ERR_NOMEM;
    }
    ws->T = T, ws->D = D, ws->H = H, ws->dh = dh;
    return QN_OK;
}

void qn_mha_workspace_free(struct qn_mha_workspace *ws) {
    qn_free(ws->qkv);
    qn_free(ws->o);
    qn_free(ws->s);
    qn_free(ws->xq);
    memset(ws, 0, sizeof(*ws));
}

static bool fits(const struct qn_mha_workspace *ws, struct qn_mha_dims d, size_t T, size_t ldx,
                 size_t ldm, const float *mask, size_t ldy) {
    return d.D && d.H && d.dh && T && T <= ws->T && d.H * d.dh <= ws->H * ws->dh &&
           QN_MAX(d.D, d.H * d.dh) <= QN_MAX(ws->D, ws->H * ws->dh) && ldx >= d.D &&
           ldy >= d.D && (!mask || ldm == 0 || ldm >= T);
}

// --- core: O_h = softmax(Q_h K_h^T / sqrt(dh) + mask) V_h for every head ---

// qkv: [T][ld] with Q, K, V of head h at columns h*dh, HD + h*dh, 2 HD + h*dh.
// o: [T][HD]. Tasks are (head, block of query rows); each thread owns ws->s[tid].
static void mha_core(size_t T, size_t H, size_t dh, const float *qkv, size_t ld,
                     const float *mask, size_t ldm, bool causal, float *o,
                     struct qn_mha_workspace *ws) {
    const size_t HD = H * dh;
    const float scale = (float)(1.0 / sqrt((double)dh));
    int nt = ws->nthreads < qn_threads() ? ws->nthreads : qn_threads();
    if (omp_in_parallel() || (double)T * T * dh * H < QN_MHA_PAR_MIN) nt = 1;
    // row blocks per head: the fewest that give every thread the same number of tasks
    // (H = 3 on 2 threads: 6 tasks, not 3 split 2 + 1; H = 1: one block per thread)
    size_t g = H, r = (size_t)nt;
    while (r) {
        const size_t t = g % r;
        g = r, r = t;
    }
    const size_t nrb = (size_t)nt / g;
    const size_t ntask = H * nrb;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (size_t t = 0; t < ntask; t++) {
        const size_t h = t / nrb, b = t % nrb;
        const size_t r0 = T * b / nrb, r1 = T * (b + 1) / nrb, m = r1 - r0;
        if (m == 0) continue;
        float *S = ws->s + (size_t)omp_get_thread_num() * T * T;  // [m][nk]
        // causal: no row of the block sees keys at or after r1
        const size_t nk = causal ? r1 : T;
        const float *Q = qkv + r0 * ld + h * dh, *K = qkv + HD + h * dh, *V = qkv + 2 * HD + h * dh;
        qn_f32_gemm(false, true, m, nk, dh, scale, Q, ld, K, ld, 0.0f, S, nk, NULL);
        // qn_f32_softmax's causal rule for m rows of nk = r1 keys, j <= i + nk - m = r0 + i,
        // is exactly "query r sees keys 0..r"
        qn_f32_softmax(m, nk, S, nk, mask ? mask + r0 * ldm : NULL, ldm, causal, S, nk);
        qn_f32_gemm(false, false, m, dh, nk, 1.0f, S, nk, V, ld, 0.0f, o + r0 * HD + h * dh, HD, NULL);
    }
}

// --- FP32 on views ---

enum qn_status qn_f32_mha_forward(const struct qn_mha_weights *w, struct qn_mha_dims d, size_t T,
                                  const float *x, size_t ldx, const float *mask, size_t ldm,
                                  bool causal, float *y, size_t ldy,
                                  struct qn_mha_workspace *ws) {
    if (!fits(ws, d, T, ldx, ldm, mask, ldy) || d.dh > w->dh_max || w->ld_qkv < d.D ||
        w->ld_o < (d.H - 1) * w->dh_max + d.dh)
        return QN_ERR_ARG;
    const size_t HD = d.H * d.dh, ld = 3 * HD;
    const float *W[3] = {w->wq, w->wk, w->wv}, *B[3] = {w->bq, w->bk, w->bv};
    // With dh == dh_max (or one head) the used rows of wq are one strided block; otherwise one
    // GEMM per head on its row slice.
    const bool whole = d.dh == w->dh_max || d.H == 1;
    for (int p = 0; p < 3; p++) {
        if (whole) {
            const struct qn_epilogue ep = {.bias = B[p]};
            qn_f32_gemm(false, true, T, HD, d.D, 1.0f, x, ldx, W[p], w->ld_qkv, 0.0f,
                        ws->qkv + p * HD, ld, &ep);
            continue;
        }
        for (size_t h = 0; h < d.H; h++) {
            const struct qn_epilogue ep = {.bias = B[p] ? B[p] + h * w->dh_max : NULL};
            qn_f32_gemm(false, true, T, d.dh, d.D, 1.0f, x, ldx, W[p] + h * w->dh_max * w->ld_qkv,
                        w->ld_qkv, 0.0f, ws->qkv + p * HD + h * d.dh, ld, &ep);
        }
    }
    mha_core(T, d.H, d.dh, ws->qkv, ld, mask, ldm, causal, ws->o, ws);
    const struct qn_epilogue ep = {.bias = w->bo};
    if (whole) {
        qn_f32_gemm(false, true, T, d.D, HD, 1.0f, ws->o, HD, w->wo, w->ld_o, 0.0f, y, ldy, &ep);
    } else {
        // y = sum_h O_h Wo[:, h dh_max : h dh_max + dh]^T, the bias added by the first head
        for (size_t h = 0; h < d.H; h++)
            qn_f32_gemm(false, true, T, d.D, d.dh, 1.0f, ws->o + h * d.dh, HD,
                        w->wo + h * w->dh_max, w->ld_o, h ? 1.0f : 0.0f, y, ldy, h ? NULL : &ep);
    }
    return QN_OK;
}

// --- gathering subnet slices (init time) ---

// Rows of the subnet's Q | K | V projections, [3 H dh][D], from [H_max dh_max][ld] tensors.
#define QN_GATHER_QKV(T_, dst, src, ld, d, dh_max)                                       \
    do {                                                                                 \
        for (int p_ = 0; p_ < 3; p_++)                                                   \
            for (size_t h_ = 0; h_ < (d).H; h_++)                                        \
                for (size_t i_ = 0; i_ < (d).dh; i_++)                                   \
                    memcpy((dst) + ((p_ * (d).H + h_) * (d).dh + i_) * (d).D,            \
                           (src)[p_] + (h_ * (dh_max) + i_) * (ld), (d).D * sizeof(T_)); \
    } while (0)

// Columns of the subnet's output projection, [D][H dh], from [D_max][ld] (head stride dh_max).
#define QN_GATHER_O(T_, dst, src, ld, d, dh_max)                                         \
    do {                                                                                 \
        for (size_t n_ = 0; n_ < (d).D; n_++)                                            \
            for (size_t h_ = 0; h_ < (d).H; h_++)                                        \
                memcpy((dst) + n_ * (d).H * (d).dh + h_ * (d).dh,                        \
                       (src) + n_ * (ld) + h_ * (dh_max), (d).dh * sizeof(T_));          \
    } while (0)

// Biases [3 H dh] and [D] (zeros where the source has none).
static void gather_biases(float *b_qkv, float *b_o, const float *const bsrc[3], const float *bo,
                          struct qn_mha_dims d, size_t dh_max) {
    for (int p = 0; p < 3; p++)
        for (size_t h = 0; h < d.H; h++)
            for (size_t i = 0; i < d.dh; i++)
                b_qkv[(p * d.H + h) * d.dh + i] = bsrc[p] ? bsrc[p][h * dh_max + i] : 0.0f;
    for (size_t n = 0; n < d.D; n++) b_o[n] = bo ? bo[n] : 0.0f;
}

// --- FP32 pre-packed ---

enum qn_status qn_f32_mha_pack(struct qn_f32_mha_packed *p, const struct qn_mha_weights *w,
                               struct qn_mha_dims d) {
    memset(p, 0, sizeof(*p));
    if (!d.D || !d.H || !d.dh || d.dh > w->dh_max || w->ld_qkv < d.D ||
        w->ld_o < (d.H - 1) * w->dh_max + d.dh)
        return QN_ERR_ARG;
    const size_t HD = d.H * d.dh;
    float *wqkv = qn_alloc(3 * HD * d.D * sizeof(float)), *wo = qn_alloc(d.D * HD * sizeof(float));
    p->b_qkv = qn_alloc(3 * HD * sizeof(float));
    p->b_o = qn_alloc(d.D * sizeof(float));
    enum qn_status st = QN_ERR_NOMEM;
    if (wqkv && wo && p->b_qkv && p->b_o) {
        const float *src[3] = {w->wq, w->wk, w->wv};
        QN_GATHER_QKV(float, wqkv, src, w->ld_qkv, d, w->dh_max);
        QN_GATHER_O(float, wo, w->wo, w->ld_o, d, w->dh_max);
        const float *bsrc[3] = {w->bq, w->bk, w->bv};
        gather_biases(p->b_qkv, p->b_o, bsrc, w->bo, d, w->dh_max);
        st = qn_f32_pack_b(&p->qkv, true, d.D, 3 * HD, wqkv, d.D);
        if (st == QN_OK) st = qn_f32_pack_b(&p->o, true, HD, d.D, wo, HD);
    }
    qn_free(wqkv);
    qn_free(wo);
    if (st != QN_OK) {
        qn_f32_mha_packed_free(p);
        return st;
    }
    p->d = d;
    return QN_OK;
}

void qn_f32_mha_packed_free(struct qn_f32_mha_packed *p) {
    qn_f32_packed_b_free(&p->qkv);
    qn_f32_packed_b_free(&p->o);
    qn_free(p->b_qkv);
    qn_free(p->b_o);
    memset(p, 0, sizeof(*p));
}

enum qn_status qn_f32_mha_packed_forward(const struct qn_f32_mha_packed *p, size_t T,
                                         const float *x, size_t ldx, const float *mask,
                                         size_t ldm, bool causal, float *y, size_t ldy,
                                         struct qn_mha_workspace *ws) {
    const struct qn_mha_dims d = p->d;
    if (!fits(ws, d, T, ldx, ldm, mask, ldy)) return QN_ERR_ARG;
    const size_t HD = d.H * d.dh;
    const struct qn_epilogue ep_qkv = {.bias = p->b_qkv}, ep_o = {.bias = p->b_o};
    qn_f32_gemm_packed(T, x, ldx, &p->qkv, ws->qkv, 3 * HD, &ep_qkv);
    mha_core(T, d.H, d.dh, ws->qkv, 3 * HD, mask, ldm, causal, ws->o, ws);
    qn_f32_gemm_packed(T, ws->o, HD, &p->o, y, ldy, &ep_o);
    return QN_OK;
}

// --- INT8 projections ---

enum qn_status qn_qs8_mha_init(struct qn_qs8_mha *m, const struct qn_qs8_mha_src *src,
                               struct qn_mha_dims d, int bits) {
    memset(m, 0, sizeof(*m));
    if (!d.D || !d.H || !d.dh || d.dh > src->dh_max || src->ld_qkv < d.D ||
        src->ld_o < (d.H - 1) * src->dh_max + d.dh || bits < 2 || bits > 8)
        return QN_ERR_ARG;
    const size_t HD = d.H * d.dh;
    int8_t *wqkv = qn_alloc(3 * HD * d.D), *wo = qn_alloc(d.D * HD);
    float *s_qkv = qn_alloc(3 * HD * sizeof(float));
    m->b_qkv = qn_alloc(3 * HD * sizeof(float));
    m->b_o = qn_alloc(d.D * sizeof(float));
    enum qn_status st = QN_ERR_NOMEM;
    if (wqkv && wo && s_qkv && m->b_qkv && m->b_o) {
        const int8_t *wsrc[3] = {src->wq, src->wk, src->wv};
        QN_GATHER_QKV(int8_t, wqkv, wsrc, src->ld_qkv, d, src->dh_max);
        QN_GATHER_O(int8_t, wo, src->wo, src->ld_o, d, src->dh_max);
        const float *ssrc[3] = {src->sq, src->sk, src->sv};
        for (int p = 0; p < 3; p++)
            for (size_t h = 0; h < d.H; h++)
                for (size_t i = 0; i < d.dh; i++)
                    s_qkv[(p * d.H + h) * d.dh + i] = ssrc[p][h * src->dh_max + i];
        const float *bsrc[3] = {src->bq, src->bk, src->bv};
        gather_biases(m->b_qkv, m->b_o, bsrc, src->bo, d, src->dh_max);
        const int storage = bits <= 4 ? 4 : 8;
        st = qn_qgemm_pack(&m->qkv, wqkv, d.D, 3 * HD, d.D, s_qkv, bits, storage);
        if (st == QN_OK) st = qn_qgemm_pack(&m->o, wo, HD, d.D, HD, src->so, bits, storage);
    }
    qn_free(wqkv);
    qn_free(wo);
    qn_free(s_qkv);
    if (st != QN_OK) {
        qn_qs8_mha_free(m);
        return st;
    }
    m->d = d, m->bits = bits;
    return QN_OK;
}

enum qn_status qn_qs8_mha_init_f32(struct qn_qs8_mha *m, const struct qn_mha_weights *w,
                                   struct qn_mha_dims d, int bits) {
    memset(m, 0, sizeof(*m));
    if (!d.D || !d.H || !d.dh || d.dh > w->dh_max || w->ld_qkv < d.D ||
        w->ld_o < (d.H - 1) * w->dh_max + d.dh || bits < 2 || bits > 8)
        return QN_ERR_ARG;
    // Quantize the subnet's slices, laid out as a supernet of exactly the subnet's size
    // (dh_max = dh), then take the common path.
    const size_t HD = d.H * d.dh;
    int8_t *q = qn_alloc(3 * HD * d.D), *qo = qn_alloc(d.D * HD);
    float *sc = qn_alloc((3 * HD + d.D) * sizeof(float));
    float *wf = qn_alloc(QN_MAX(3 * HD * d.D, d.D * HD) * sizeof(float));
    enum qn_status st = QN_ERR_NOMEM;
    if (q && qo && sc && wf) {
        const float *src[3] = {w->wq, w->wk, w->wv};
        QN_GATHER_QKV(float, wf, src, w->ld_qkv, d, w->dh_max);
        qn_qs8_weights_quantize(3 * HD, d.D, wf, d.D, bits, q, d.D, sc);
        QN_GATHER_O(float, wf, w->wo, w->ld_o, d, w->dh_max);
        qn_qs8_weights_quantize(d.D, HD, wf, HD, bits, qo, HD, sc + 3 * HD);
        // biases in the subnet layout too
        float *b = qn_alloc((3 * HD + d.D) * sizeof(float));
        if (b) {
            const float *bsrc[3] = {w->bq, w->bk, w->bv};
            gather_biases(b, b + 3 * HD, bsrc, w->bo, d, w->dh_max);
            const struct qn_qs8_mha_src s = {
                .wq = q, .wk = q + HD * d.D, .wv = q + 2 * HD * d.D, .ld_qkv = d.D,
                .sq = sc, .sk = sc + HD, .sv = sc + 2 * HD,
                .wo = qo, .ld_o = HD, .so = sc + 3 * HD,
                .bq = b, .bk = b + HD, .bv = b + 2 * HD, .bo = b + 3 * HD, .dh_max = d.dh};
            st = qn_qs8_mha_init(m, &s, d, bits);
            qn_free(b);
        }
    }
    qn_free(q);
    qn_free(qo);
    qn_free(sc);
    qn_free(wf);
    return st;
}

void qn_qs8_mha_free(struct qn_qs8_mha *m) {
    qn_qgemm_weights_free(&m->qkv);
    qn_qgemm_weights_free(&m->o);
    qn_free(m->b_qkv);
    qn_free(m->b_o);
    memset(m, 0, sizeof(*m));
}

// a[rows][lda] -> u8 xq[rows][cols] with per-tensor min/max parameters.
static struct qn_qu8_params quantize_dynamic(size_t rows, size_t cols, const float *a,
                                             size_t lda, uint8_t *xq) {
    float lo, hi;
    qn_f32_minmax(rows, cols, a, lda, &lo, &hi);
    const struct qn_qu8_params p = qn_qu8_params_from_range(lo, hi);
    qn_qu8_quantize(rows, cols, a, lda, p, xq, cols);
    return p;
}

enum qn_status qn_qs8_mha_forward(const struct qn_qs8_mha *m, size_t T, const float *x,
                                  size_t ldx, const float *mask, size_t ldm, bool causal,
                                  float *y, size_t ldy, struct qn_mha_workspace *ws) {
    const struct qn_mha_dims d = m->d;
    if (!fits(ws, d, T, ldx, ldm, mask, ldy)) return QN_ERR_ARG;
    if (m->qkv.isa != qn_isa() || m->o.isa != qn_isa()) return QN_ERR_UNSUPPORTED;
    const size_t HD = d.H * d.dh;

    ws->x_params = quantize_dynamic(T, d.D, x, ldx, ws->xq);
    const struct qn_qgemm_out out_qkv = {
        .a_scale = ws->x_params.scale, .a_zp = ws->x_params.zp, .ep = {.bias = m->b_qkv}};
    qn_qgemm(T, ws->xq, d.D, &m->qkv, &out_qkv, ws->qkv, 3 * HD);

    mha_core(T, d.H, d.dh, ws->qkv, 3 * HD, mask, ldm, causal, ws->o, ws);

    ws->o_params = quantize_dynamic(T, HD, ws->o, HD, ws->xq);
    const struct qn_qgemm_out out_o = {
        .a_scale = ws->o_params.scale, .a_zp = ws->o_params.zp, .ep = {.bias = m->b_o}};
    qn_qgemm(T, ws->xq, HD, &m->o, &out_o, y, ldy);
    return QN_OK;
}

// --- names ---

const char *qn_f32_mha_variant(void) {
    static _Thread_local char buf[256];
    snprintf(buf, sizeof(buf), "gemm %s, softmax %s", qn_f32_gemm_variant(),
             qn_f32_softmax_variant());
    return buf;
}

const char *qn_qs8_mha_variant(void) {
    static _Thread_local char buf[320];
    snprintf(buf, sizeof(buf), "qgemm %s, quantize %s, core gemm %s, softmax %s",
             qn_qgemm_variant(8, false), qn_qu8_quantize_variant(), qn_f32_gemm_variant(),
             qn_f32_softmax_variant());
    return buf;
}
