// FP32 GEMM: qn_f32_gemm and the pre-packed-B API against cblas_sgemm (the product) and a
// local epilogue that follows struct qn_epilogue's documented order with qn_act_ref.
//
// Tolerance. Both sides sum K products in float, so each has a forward error of at most
// gamma_K (|A||B|)_mn with gamma_K ~ K u (u = 2^-24, Higham 3.5); the difference is bounded
// by 2 K u (|A||B|)_mn, plus one rounding each for alpha, beta C, bias and residual, and the
// KC-block partial sums add nothing beyond K roundings. We check
//   |c - c_ref| <= 1.5 * 2 (K + 4) eps * (|alpha| (|A||B|)_mn + |beta C_mn| + |bias_n| + |R_mn|)
// with eps = 2^-23 (= 2u, a factor-2 margin); 1.5 is the largest slope of the activations
// (hardswish reaches 1.5 at x = 3, GELU 1.13), which carry the pre-activation error through.
// GELU adds the kernels' exp/sigmoid approximation against the tanhf form: <= 4e-6 (1 + |y|).
// (|A||B|)_mn is computed exactly per element, so an element missing one product of typical
// size fails for the K used here (K <= ~1100 outside the large O(n^2) checks).
#include <cblas.h>
#include <float.h>

#include "gemm-f32-packed.h"
#include "f32-gemm/f32-gemm.h"
#include "gemm.h"
#include "test.h"

// --- reference and comparison ---

struct ep_cfg {
    bool bias, res, res_before;
    enum qn_act act;
};

struct problem {
    bool ta, tb;
    size_t M, N, K;
    size_t lda, ldb, ldc, ldr;
    float alpha, beta;
    struct ep_cfg ep;
};

static const char *describe(const struct problem *p) {
    static char s[200];
    snprintf(s, sizeof(s), "ta=%d tb=%d M=%zu N=%zu K=%zu lda=%zu ldb=%zu ldc=%zu a=%g b=%g bias=%d "
             "res=%d before=%d act=%s", p->ta, p->tb, p->M, p->N, p->K, p->lda, p->ldb, p->ldc,
             p->alpha, p->beta, p->ep.bias, p->ep.res, p->ep.res_before, qn_act_name(p->ep.act));
    return s;
}

// Fills lds with the minimum plus `pad` and allocates; A/B/C/R hold random data, C NaN when
// beta == 0 (it must not be read), padding of C a sentinel that must survive.
struct buffers {
    float *A, *B, *C, *C0, *R, *bias;
    size_t a_size, b_size, c_size;
};

static const float sentinel = 12345.0f;

static void buffers_init(struct buffers *b, struct problem *p, size_t pad) {
    const size_t a_rows = p->ta ? p->K : p->M, a_cols = p->ta ? p->M : p->K;
    const size_t b_rows = p->tb ? p->N : p->K, b_cols = p->tb ? p->K : p->N;
    if (!p->lda) p->lda = a_cols + pad;
    if (!p->ldb) p->ldb = b_cols + pad;
    if (!p->ldc) p->ldc = p->N + pad;
    if (!p->ldr) p->ldr = p->N + pad;
    b->a_size = a_rows * p->lda + 1, b->b_size = b_rows * p->ldb + 1, b->c_size = p->M * p->ldc;
    b->A = malloc(b->a_size * sizeof(float));
    b->B = malloc(b->b_size * sizeof(float));
    b->C = malloc(b->c_size * sizeof(float));
    b->C0 = malloc(b->c_size * sizeof(float));
    b->R = malloc(p->M * p->ldr * sizeof(float) + 4);
    b->bias = malloc(p->N * sizeof(float));
    qt_fill_f32(b->A, b->a_size, -1.0f, 1.0f);
    qt_fill_f32(b->B, b->b_size, -1.0f, 1.0f);
    qt_fill_f32(b->R, p->M * p->ldr + 1, -2.0f, 2.0f);
    qt_fill_f32(b->bias, p->N, -1.0f, 1.0f);
    for (size_t m = 0; m < p->M; m++)
        for (size_t n = 0; n < p->ldc; n++)
            b->C0[m * p->ldc + n] = n >= p->N ? sentinel : p->beta == 0.0f ? NAN : qt_float(-1.0f, 1.0f);
    memcpy(b->C, b->C0, b->c_size * sizeof(float));
}

static void buffers_free(struct buffers *b) {
    free(b->A), free(b->B), free(b->C), free(b->C0), free(b->R), free(b->bias);
}

static struct qn_epilogue make_ep(const struct problem *p, const struct buffers *b) {
    struct qn_epilogue e = {
        .bias = p->ep.bias ? b->bias : NULL,
        .act = p->ep.act,
        .residual = p->ep.res ? b->R : NULL,
        .ldr = p->ldr,
        .residual_before_act = p->ep.res_before,
    };
    return e;
}

// Compares C against cblas + the documented epilogue; R is the residual the epilogue saw.
static void check_result(const struct problem *p, const struct buffers *b, const float *C,
                         const float *R, const char *what) {
    const size_t M = p->M, N = p->N, K = p->K;
    float *ref = malloc((M * N + 1) * sizeof(float));
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) ref[m * N + n] = p->beta == 0.0f ? 0.0f : b->C0[m * p->ldc + n];
    cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, p->alpha, b->A, (int)p->lda, b->B, (int)p->ldb,
                p->beta, ref, (int)(N ? N : 1));
    int bad = 0;
    for (size_t m = 0; m < M; m++) {
        for (size_t n = 0; n < p->ldc; n++) {
            const float got = C[m * p->ldc + n];
            if (n >= N) {
                if (got != sentinel && !bad++)
                    QT_CHECK(0, "%s: %s: wrote padding C[%zu][%zu]", what, describe(p), m, n);
                continue;
            }
            double ab = 0.0;
            for (size_t k = 0; k < K; k++) {
                const float a = p->ta ? b->A[k * p->lda + m] : b->A[m * p->lda + k];
                const float bb = p->tb ? b->B[n * p->ldb + k] : b->B[k * p->ldb + n];
                ab += fabs((double)a * (double)bb);
            }
            float y = ref[m * N + n];
            double s = fabs(p->alpha) * ab + (p->beta != 0.0f ? fabs(p->beta * b->C0[m * p->ldc + n]) : 0.0);
            const float r = p->ep.res ? R[m * p->ldr + n] : 0.0f;
            if (p->ep.bias) y += b->bias[n], s += fabs(b->bias[n]);
            if (p->ep.res) s += fabs(r);
            if (p->ep.res && p->ep.res_before) y += r;
            const float pre = y;
            y = qn_act_ref(p->ep.act, y);
            if (p->ep.res && !p->ep.res_before) y += r;
            double tol = 1.5 * 2.0 * (double)(K + 4) * FLT_EPSILON * s;
            if (p->ep.act == QN_ACT_GELU) tol += 4e-6 * (1.0 + fabs(pre));
            if (!(fabs((double)got - (double)y) <= tol) && !bad++)
                QT_CHECK(0, "%s: %s: C[%zu][%zu] = %.9g, want %.9g (tol %.3g)", what, describe(p), m,
                         n, got, y, tol);
        }
    }
    QT_CHECK(!bad, "%s: %d bad elements", what, bad);
    free(ref);
}

// Runs qn_f32_gemm on a fresh problem and checks it.
static void run_problem(struct problem p, size_t pad) {
    struct buffers b;
    buffers_init(&b, &p, pad);
    struct qn_epilogue e = make_ep(&p, &b);
    qn_f32_gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, b.A, p.lda, b.B, p.ldb, p.beta, b.C, p.ldc, &e);
    check_result(&p, &b, b.C, b.R, "gemm");
    buffers_free(&b);
}

static struct problem plain(size_t M, size_t N, size_t K) {
    struct problem p = {.M = M, .N = N, .K = K, .alpha = 1.0f, .beta = 0.0f};
    return p;
}

// --- cases ---

static void variant_name_matches_isa(void) {
    const char *v = qn_f32_gemm_variant();
    const char *want = qn_isa() == QN_ISA_AVX512 ? "avx512" : qn_isa() == QN_ISA_SCALAR ? "scalar" : "avx2";
    QT_CHECK(strstr(v, "qn_f32_gemm_ukernel_") == v && strstr(v, want), "variant %s at %s", v,
             qn_isa_name(qn_isa()));
}

// Every tile shape around MR (4, 6, 14) and NR (8, 16, 32), small K (the small-M and dot
// paths for M <= 4, the blocked path above).
static void subtile_small_shapes(void) {
    static const size_t Ks[] = {1, 2, 3, 8, 17};
    const size_t m_max = qt_quick() ? 16 : 30, n_step = qt_quick() ? 3 : 1;
    for (size_t M = 1; M <= m_max; M++)
        for (size_t N = 1; N <= 66; N += n_step)
            for (size_t ki = 0; ki < 5; ki++) {
                struct problem p = plain(M, N, Ks[ki]);
                p.tb = (M + N) % 3 == 0;
                run_problem(p, 0);
            }
}

// K around the KC block depth (256 at every level; blocks are balanced, so 257 splits in
// two of 129 and 128): k_lt, k_eq, k_gt, k_div.
static void k_edges_over_kc(void) {
    static const size_t Ks[] = {255, 256, 257, 512, 513, 769};
    static const size_t Ms[] = {1, 4, 5, 29};
    for (size_t ki = 0; ki < 6; ki++)
        for (size_t mi = 0; mi < 4; mi++)
            for (int t = 0; t < 2; t++) {
                struct problem p = plain(Ms[mi], 37, Ks[ki]);
                p.tb = t;
                p.beta = 0.5f;
                run_problem(p, 0);
            }
}

// M across MC blocks (336 / 144 / 128 rows), N across NC (1024) and twice NC, N across NR.
static void m_gt_n_gt(void) {
    static const size_t Ms[] = {127, 128, 129, 143, 145, 335, 337, 701};
    for (size_t mi = 0; mi < 8; mi++) run_problem(plain(Ms[mi], 33, 19), 0);
    static const size_t Ns[] = {15, 16, 17, 31, 32, 33, 63, 65, 1023, 1025, 2047, 2049, 2100};
    for (size_t ni = 0; ni < 13; ni++) {
        run_problem(plain(17, Ns[ni], 9), 0);
        run_problem(plain(3, Ns[ni], 9), 0);
    }
}

// Transposes with leading dimensions larger than a row (slices of larger tensors).
static void strided_and_transposed(void) {
    static const size_t shapes[][3] = {{1, 19, 23}, {3, 40, 7}, {13, 29, 31}, {33, 67, 270}, {61, 97, 53}};
    for (int s = 0; s < 5; s++)
        for (int t = 0; t < 4; t++)
            for (size_t pad = 0; pad <= 5; pad += 5) {
                struct problem p = plain(shapes[s][0], shapes[s][1], shapes[s][2]);
                p.ta = t & 1, p.tb = t >> 1;
                run_problem(p, pad);
            }
}

// beta == 0 must not read C (NaN there), other betas must, alpha scales the product.
static void alpha_beta(void) {
    static const float alphas[] = {1.0f, -0.5f, 2.0f};
    static const float betas[] = {0.0f, 1.0f, -1.5f, 0.25f};
    static const size_t Ms[] = {2, 21};
    for (int ai = 0; ai < 3; ai++)
        for (int bi = 0; bi < 4; bi++)
            for (int mi = 0; mi < 2; mi++)
                for (int tb = 0; tb < 2; tb++) {
                    struct problem p = plain(Ms[mi], 45, qt_quick() ? 70 : 270);
                    p.alpha = alphas[ai], p.beta = betas[bi], p.tb = tb;
                    run_problem(p, 3);
                }
}

// Every activation x bias x residual (none, before, after), through each path, with K over
// two KC blocks so the epilogue must wait for the last one.
static void epilogue_every_act(void) {
    static const size_t Ms[] = {1, 3, 16};
    for (int act = QN_ACT_NONE; act <= QN_ACT_GELU; act++)
        for (int bias = 0; bias < 2; bias++)
            for (int res = 0; res < 3; res++)
                for (int mi = 0; mi < 3; mi++)
                    for (int tb = 0; tb < 2; tb++) {
                        struct problem p = plain(Ms[mi], 35, 260);
                        p.tb = tb;
                        p.beta = mi == 2 ? 0.5f : 0.0f;
                        p.ep = (struct ep_cfg){.bias = bias, .res = res > 0, .res_before = res == 2,
                                               .act = (enum qn_act)act};
                        run_problem(p, 2);
                    }
}

// Inputs spread over the activations' interesting ranges (GELU tails, the ReLU6 / hardswish
// kinks): C = I * B + bias puts B's values straight into the epilogue.
static void epilogue_wide_inputs(void) {
    for (int act = QN_ACT_RELU; act <= QN_ACT_GELU; act++)
        for (size_t M = 1; M <= 20; M += 19) {
            const size_t N = 100, K = M;
            float *A = calloc(M * K, sizeof(float)), *B = malloc(K * N * sizeof(float));
            float *C = malloc(M * N * sizeof(float));
            for (size_t i = 0; i < M; i++) A[i * K + i] = 1.0f;
            for (size_t i = 0; i < K * N; i++) B[i] = -12.0f + 24.0f * (float)i / (float)(K * N);
            struct qn_epilogue e = {.act = (enum qn_act)act};
            qn_f32_gemm(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N, &e);
            for (size_t i = 0; i < M * N; i++) {
                const float x = B[i], want = qn_act_ref((enum qn_act)act, x);
                const double tol = act == QN_ACT_GELU ? 4e-6 * (1.0 + fabs(x)) : 0.0;
                QT_CHECK(fabs(C[i] - want) <= tol, "%s(%.7g) = %.9g, want %.9g", qn_act_name(act),
                         x, C[i], want);
            }
            free(A), free(B), free(C);
        }
}

// The residual may be C itself: added before the activation, after it, and with beta.
static void residual_aliases_c(void) {
    static const size_t Ms[] = {2, 19};
    for (int act = QN_ACT_NONE; act <= QN_ACT_GELU; act += 4)
        for (int before = 0; before < 2; before++)
            for (int mi = 0; mi < 2; mi++)
                for (int bi = 0; bi < 2; bi++) {
                    struct problem p = plain(Ms[mi], 41, 600);
                    p.beta = bi ? 0.5f : 0.0f;
                    p.ldr = p.ldc = 41 + 3;
                    p.ep = (struct ep_cfg){.bias = true, .res = true, .res_before = before,
                                           .act = (enum qn_act)act};
                    struct buffers b;
                    buffers_init(&b, &p, 3);
                    // R := C (the values the epilogue must see); C0 too unless beta == 0.
                    for (size_t m = 0; m < p.M; m++)
                        for (size_t n = 0; n < p.N; n++) {
                            const float v = qt_float(-2.0f, 2.0f);
                            b.R[m * p.ldr + n] = v;
                            b.C[m * p.ldc + n] = v;
                            if (p.beta != 0.0f) b.C0[m * p.ldc + n] = v;
                        }
                    struct qn_epilogue e = make_ep(&p, &b);
                    e.residual = b.C;
                    qn_f32_gemm(false, false, p.M, p.N, p.K, p.alpha, b.A, p.lda, b.B, p.ldb,
                                p.beta, b.C, p.ldc, &e);
                    check_result(&p, &b, b.C, b.R, "aliased residual");
                    buffers_free(&b);
                }
}

// K == 0 and alpha == 0: C = beta C, then the epilogue; A and B are not read.
static void k_zero_alpha_zero(void) {
    for (int which = 0; which < 2; which++) {
        struct problem p = plain(7, 9, which ? 5 : 0);
        p.alpha = which ? 0.0f : 1.0f;
        p.beta = 0.5f;
        p.ep = (struct ep_cfg){.bias = true, .act = QN_ACT_RELU};
        run_problem(p, 1);
    }
}

// One and two threads: within tolerance, and bit-identical (each element's summation order
// depends only on the KC blocking, never on the thread split).
static void threads_one_and_two(void) {
    // 84x160x96 at AVX-512: 5 column panels (3 + 2) against 6 row panels, so rows (gemm_blocked);
    // 703x70x100: A read in place over several MC blocks, a last row panel of 3; 16x96x576 and
    // 15x40x600: rows split 8 + 8 and 8 + 7 (row_unit), K in three KC blocks, a masked edge
    static const size_t shapes[][3] = {{1, 300, 200}, {3, 1000, 100}, {4, 77, 1000}, {50, 300, 257},
                                       {200, 70, 70}, {700, 64, 33}, {84, 160, 96}, {703, 70, 100},
                                       {16, 96, 576}, {15, 40, 600}};
    const int saved = qn_threads();
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
        for (int tb = 0; tb < 2; tb++) {
            struct problem p = plain(shapes[s][0], shapes[s][1], shapes[s][2]);
            p.tb = tb;
            p.ep = (struct ep_cfg){.bias = true, .act = QN_ACT_GELU};
            struct buffers b;
            buffers_init(&b, &p, 1);
            struct qn_epilogue e = make_ep(&p, &b);
            float *C1 = malloc(b.c_size * sizeof(float));
            qn_threads_set(1);
            qn_f32_gemm(p.ta, p.tb, p.M, p.N, p.K, 1.0f, b.A, p.lda, b.B, p.ldb, 0.0f, C1, p.ldc, &e);
            qn_threads_set(2);
            qn_f32_gemm(p.ta, p.tb, p.M, p.N, p.K, 1.0f, b.A, p.lda, b.B, p.ldb, 0.0f, b.C, p.ldc, &e);
            check_result(&p, &b, b.C, b.R, "2 threads");
            size_t diff = 0;
            for (size_t m = 0; m < p.M; m++)
                diff += memcmp(C1 + m * p.ldc, b.C + m * p.ldc, p.N * sizeof(float)) != 0;
            QT_CHECK(diff == 0, "%s: 1 and 2 threads differ in %zu rows", describe(&p), diff);
            free(C1);
            buffers_free(&b);
        }
    qn_threads_set(saved);
}

// Deep K and a small C (a pointwise layer's weight gradient, dW += dY^T X) with no epilogue:
// at two threads K is split between them and the partials added. Against cblas, bit-identical
// on a repeat (deterministic for a thread count), padding of C untouched, beta = 1 accumulates.
static void split_k_deep(void) {
    static const size_t shapes[][4] = {  // M, N, K, ta
        {12, 48, 25088, 1}, {16, 72, 6272, 1}, {5, 3, 4099, 0}, {33, 7, 5003, 1}, {48, 8, 20000, 1},
        {1, 40, 3000, 0}};
    const int saved = qn_threads();
    for (int th = 1; th <= 2; th++)
        for (int s = 0; s < 6; s++)
            for (int tb = 0; tb < 2; tb++) {
                struct problem p = plain(shapes[s][0], shapes[s][1], shapes[s][2]);
                p.ta = shapes[s][3], p.tb = tb, p.beta = tb ? 1.0f : 0.0f, p.alpha = tb ? 0.5f : 1.0f;
                struct buffers b;
                buffers_init(&b, &p, 3);
                qn_threads_set(th);
                qn_f32_gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, b.A, p.lda, b.B, p.ldb, p.beta, b.C, p.ldc, NULL);
                check_result(&p, &b, b.C, b.R, th == 1 ? "split-K 1 thread" : "split-K 2 threads");
                float *C2 = malloc(b.c_size * sizeof(float));
                memcpy(C2, b.C0, b.c_size * sizeof(float));
                qn_f32_gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, b.A, p.lda, b.B, p.ldb, p.beta, C2, p.ldc, NULL);
                QT_CHECK(memcmp(C2, b.C, b.c_size * sizeof(float)) == 0, "%s: %d threads: repeat differs",
                         describe(&p), th);
                free(C2);
                buffers_free(&b);
            }
    qn_threads_set(saved);
}

// Randomized shapes, transposes, strides, alpha / beta and epilogues.
static void random_problems(void) {
    const int trials = qt_quick() ? 25 : 60;
    const int k_max = qt_quick() ? 150 : 300;
    for (int t = 0; t < trials; t++) {
        struct problem p = plain((size_t)qt_int(1, 90), (size_t)qt_int(1, 150), (size_t)qt_int(1, k_max));
        if (t % 4 == 0) p.M = (size_t)qt_int(1, 5);
        p.ta = qt_int(0, 1), p.tb = qt_int(0, 1);
        p.alpha = qt_int(0, 3) ? 1.0f : qt_float(-2.0f, 2.0f);
        p.beta = qt_int(0, 2) ? 0.0f : qt_float(-1.0f, 1.0f);
        p.ep = (struct ep_cfg){.bias = qt_int(0, 1), .res = qt_int(0, 1), .res_before = qt_int(0, 1),
                               .act = (enum qn_act)qt_int(0, QN_ACT_GELU)};
        run_problem(p, (size_t)qt_int(0, 7));
    }
}

// The optimized path with its epilogue against qn_f32_gemm_ref (the project's oracle).
static void matches_gemm_ref(void) {
    static const size_t shapes[][3] = {{1, 50, 70}, {5, 33, 260}, {30, 65, 40}};
    for (int s = 0; s < 3; s++)
        for (int act = 0; act <= QN_ACT_GELU; act++) {
            struct problem p = plain(shapes[s][0], shapes[s][1], shapes[s][2]);
            p.tb = act & 1, p.beta = 0.75f;
            p.ep = (struct ep_cfg){.bias = true, .res = true, .res_before = act & 2, .act = (enum qn_act)act};
            struct buffers b;
            buffers_init(&b, &p, 2);
            struct qn_epilogue e = make_ep(&p, &b);
            float *Cr = malloc(b.c_size * sizeof(float));
            memcpy(Cr, b.C0, b.c_size * sizeof(float));
            qn_f32_gemm_ref(p.ta, p.tb, p.M, p.N, p.K, p.alpha, b.A, p.lda, b.B, p.ldb, p.beta, Cr, p.ldc, &e);
            qn_f32_gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, b.A, p.lda, b.B, p.ldb, p.beta, b.C, p.ldc, &e);
            int bad = 0;
            for (size_t m = 0; m < p.M; m++)
                for (size_t n = 0; n < p.N; n++) {
                    const float got = b.C[m * p.ldc + n], want = Cr[m * p.ldc + n];
                    // |A||B| <= K here (entries in [-1, 1]); same bound as check_result.
                    const double s_ = (double)p.K + 4.0;
                    if (!(fabs(got - want) <= 3.0 * (p.K + 4) * FLT_EPSILON * s_ + 4e-6 * (1 + fabs(want))))
                        bad++;
                }
            QT_CHECK(!bad, "%s: %d elements differ from qn_f32_gemm_ref", describe(&p), bad);
            free(Cr);
            buffers_free(&b);
        }
}

// Pre-packed B from [K][N] and from [N][K] (weights [out][in]), sliced with ldb, every path
// (M <= 4 reads the panels in place, larger M runs the blocked kernel, and at AVX-512 one KC
// block reads A in place but for a last tile of fewer than 14 rows; an A whose rows are 4 KiB
// apart packs; 60x100x600, an A block of at most 8 row panels, runs columns outside), with an
// epilogue. The last column: lda, 0 for K + 3.
static void packed_b(void) {
    static const size_t shapes[][4] = {{1, 100, 300, 0},  {3, 33, 17, 0},    {4, 64, 513, 0},   {5, 45, 256, 0},
                                       {64, 130, 70, 0},  {200, 31, 600, 0}, {196, 576, 96, 0}, {45, 50, 96, 96},
                                       {28, 40, 96, 1024}, {60, 100, 600, 0}};
    for (int s = 0; s < 10; s++)
        for (int tb = 0; tb < 2; tb++) {
            struct problem p = plain(shapes[s][0], shapes[s][1], shapes[s][2]);
            p.lda = shapes[s][3];
            p.tb = tb;
            p.ep = (struct ep_cfg){.bias = true, .res = s & 1, .act = (enum qn_act)(s % 5)};
            struct buffers b;
            buffers_init(&b, &p, 3);
            struct qn_f32_packed_b pb;
            QT_CHECK(qn_f32_pack_b(&pb, p.tb, p.K, p.N, b.B, p.ldb) == QN_OK, "pack failed");
            QT_CHECK(pb.K == p.K && pb.N == p.N && pb.isa == qn_isa() && pb.bytes >= p.K * p.N * 4,
                     "packed_b fields");
            struct qn_epilogue e = make_ep(&p, &b);
            qn_f32_gemm_packed(p.M, b.A, p.lda, &pb, b.C, p.ldc, &e);
            check_result(&p, &b, b.C, b.R, "packed");
            // The panels belong to the level they were packed at: still valid at scalar.
            enum qn_isa saved = qn_isa();
            qn_isa_set(QN_ISA_SCALAR);
            memcpy(b.C, b.C0, b.c_size * sizeof(float));
            qn_f32_gemm_packed(p.M, b.A, p.lda, &pb, b.C, p.ldc, &e);
            qn_isa_set(saved);
            check_result(&p, &b, b.C, b.R, "packed, run at scalar level");
            qn_f32_packed_b_free(&pb);
            QT_CHECK(pb.data == NULL, "free leaves data");
            qn_f32_packed_b_free(&pb);
            buffers_free(&b);
        }
    struct qn_f32_packed_b pb;
    float B[6] = {0};
    QT_CHECK(qn_f32_pack_b(&pb, false, 2, 3, B, 2) == QN_ERR_ARG, "ldb < N accepted");
    QT_CHECK(qn_f32_pack_b(&pb, true, 3, 2, B, 2) == QN_ERR_ARG, "ldb < K accepted");
    QT_CHECK(qn_f32_pack_b(&pb, false, 0, 3, B, 3) == QN_ERR_ARG, "K = 0 accepted");
    QT_CHECK(pb.data == NULL, "failed pack leaves data");
}

// The wide A-in-place tiles (AVX-512: 9 x 48, for column blocks whose last 48-column tile is
// whole or wider than 32; AVX2: 6 x 16, every width): every row count 1..9 of a tile (M 1..30
// splits into even tiles of at most 9 or 6), 1..3 vectors with a masked last one, K of one and
// of two KC blocks (beta 1 on the second), every epilogue and one or two threads, against
// cblas; and bit-identical to the 14 x 32 tiles, which run the same product when N is widened
// to a narrow-rule width (the first N columns of B equal), and at AVX2 to the packed-A tiles:
// they all sum the same products in the same order.
static void wide_tiles(void) {
    static const size_t Ns[] = {33, 40, 47, 48, 81, 96, 144, 185};
    static const size_t Ks[] = {1, 8, 96, 300};
    const int saved = qn_threads();
    int n_case = 0;
    for (size_t M = 1; M <= 30; M += qt_quick() ? 3 : 1)
        for (size_t ni = 0; ni < sizeof(Ns) / sizeof(Ns[0]); ni++)
            for (size_t ki = 0; ki < sizeof(Ks) / sizeof(Ks[0]); ki++, n_case++) {
                struct problem p = plain(M, Ns[ni], Ks[ki]);
                p.tb = n_case % 2;
                p.ep = (struct ep_cfg){.bias = n_case % 3 != 0, .res = n_case % 4 >= 2,
                                       .res_before = n_case % 8 >= 4, .act = (enum qn_act)(n_case % 5)};
                struct buffers b;
                buffers_init(&b, &p, (size_t)(n_case % 3));
                struct qn_epilogue e = make_ep(&p, &b);
                qn_threads_set(n_case % 7 == 3 ? 2 : 1);
                struct qn_f32_packed_b pb;
                QT_CHECK(qn_f32_pack_b(&pb, p.tb, p.K, p.N, b.B, p.ldb) == QN_OK, "pack failed");
                qn_f32_gemm_packed(p.M, b.A, p.lda, &pb, b.C, p.ldc, &e);
                check_result(&p, &b, b.C, b.R, "wide");
                // the same columns through the 14 x 32 tiles: N + 16 (the last 48-column tile
                // then 1..16 or 17..32 columns wide), B's extra columns zero, C ldc apart
                const size_t N2 = p.N + 16;
                float *B2 = calloc(p.K * N2, sizeof(float)), *C2 = malloc(p.M * N2 * sizeof(float));
                float *bias2 = calloc(N2, sizeof(float)), *R2 = calloc(p.M * N2, sizeof(float));
                for (size_t k = 0; k < p.K; k++)
                    for (size_t n = 0; n < p.N; n++)
                        B2[k * N2 + n] = p.tb ? b.B[n * p.ldb + k] : b.B[k * p.ldb + n];
                for (size_t m = 0; m < p.M; m++)
                    for (size_t n = 0; n < p.N; n++) R2[m * N2 + n] = b.R[m * p.ldr + n];
                memcpy(bias2, b.bias, p.N * sizeof(float));
                struct qn_epilogue e2 = e;
                e2.bias = e.bias ? bias2 : NULL, e2.residual = e.residual ? R2 : NULL, e2.ldr = N2;
                struct qn_f32_packed_b pb2;
                QT_CHECK(qn_f32_pack_b(&pb2, false, p.K, N2, B2, N2) == QN_OK, "pack failed");
                qn_f32_gemm_packed(p.M, b.A, p.lda, &pb2, C2, N2, &e2);
                size_t diff = 0;
                for (size_t m = 0; m < p.M; m++)
                    diff += memcmp(C2 + m * N2, b.C + m * p.ldc, p.N * sizeof(float)) != 0;
                QT_CHECK(diff == 0, "%s: wide and 14 x 32 tiles differ in %zu rows", describe(&p), diff);
                if ((qn_isa() == QN_ISA_AVX2 || qn_isa() == QN_ISA_AVXVNNI) && p.M > 4) {
                    // there the wide tiles take every width; A transposed goes through packed
                    // A panels and the 6 x 16 kernel: the same sums (up to 4 rows go to the
                    // small-M, dot or GEMV kernels, which sum in other orders)
                    float *At = malloc(p.K * p.M * sizeof(float)), *C3 = malloc(p.M * p.ldc * sizeof(float));
                    for (size_t m = 0; m < p.M; m++)
                        for (size_t k = 0; k < p.K; k++) At[k * p.M + m] = b.A[m * p.lda + k];
                    qn_f32_gemm(true, p.tb, p.M, p.N, p.K, 1.0f, At, p.M, b.B, p.ldb, 0.0f, C3, p.ldc, &e);
                    diff = 0;
                    for (size_t m = 0; m < p.M; m++)
                        diff += memcmp(C3 + m * p.ldc, b.C + m * p.ldc, p.N * sizeof(float)) != 0;
                    QT_CHECK(diff == 0, "%s: wide and packed-A tiles differ in %zu rows", describe(&p), diff);
                    free(At), free(C3);
                }
                qn_f32_packed_b_free(&pb2), qn_f32_packed_b_free(&pb);
                free(B2), free(C2), free(bias2), free(R2);
                buffers_free(&b);
            }
    qn_threads_set(saved);
    // the record names the kernel that runs: 576 columns wide, 64 narrow, at every level its own
    float *B = calloc(96 * 576, sizeof(float));
    struct qn_f32_packed_b pw, pn;
    QT_CHECK(qn_f32_pack_b(&pw, false, 96, 576, B, 576) == QN_OK && qn_f32_pack_b(&pn, false, 96, 64, B, 576) == QN_OK,
             "pack failed");
    const char *w = qn_f32_gemm_packed_variant(&pw), *n = qn_f32_gemm_packed_variant(&pn);
    const bool z = qn_isa() == QN_ISA_AVX512, y = qn_isa() == QN_ISA_AVX2 || qn_isa() == QN_ISA_AVXVNNI;
    const char *want_w = z ? "qn_f32_gemm_wide_9x48__avx512" : y ? "qn_f32_gemm_wide_6x16__avx2" : "qn_f32_gemm_ukernel_";
    const char *want_n = y ? "qn_f32_gemm_wide_6x16__avx2" : qn_f32_gemm_variant();
    QT_CHECK(strstr(w, want_w) == w, "576 wide: %s", w);
    QT_CHECK(strcmp(n, want_n) == 0, "64 wide: %s, not %s", n, want_n);
    qn_f32_packed_b_free(&pw), qn_f32_packed_b_free(&pn);
    free(B);
}

// The AVX-512 wide kernel called directly on blocks of 1..12 rows (a tile of each row count
// 1..9: the driver's even split gives tiles of 5..9 rows, fewer only on a thread's short
// range) and 1..50 columns (a masked last vector of each width), beta 0 and 1, every
// epilogue, against cblas.
static void wide_kernel_forms(void) {
    int n_case = 0;
    for (size_t M = 1; M <= 12; M++)
        for (size_t N = 1; N <= 50; N += qt_quick() ? 7 : 1)
            for (size_t K = 1; K <= 96; K += 19, n_case++) {
                struct problem p = plain(M, N, K);
                p.beta = n_case % 2 ? 1.0f : 0.0f;
                p.ep = (struct ep_cfg){.bias = n_case % 3 != 0, .res = n_case % 4 >= 2,
                                       .res_before = n_case % 8 >= 4, .act = (enum qn_act)(n_case % 5)};
                struct buffers b;
                buffers_init(&b, &p, (size_t)(n_case % 3));
                struct qn_f32_packed_b pb;
                QT_CHECK(qn_f32_pack_b(&pb, false, p.K, p.N, b.B, p.ldb) == QN_OK && (pb.nr == 32 || pb.nr == 48) && pb.kc >= K,
                         "pack failed");
                const struct qn_f32_gemm_params q = {
                    .alpha = 1.0f, .beta = p.beta, .last = true, .act = p.ep.act, .res_before = p.ep.res_before,
                    .bias = p.ep.bias ? b.bias : NULL, .res = p.ep.res ? b.R : NULL, .ldr = p.ldr};
                qn_f32_gemm_wide_9x48__avx512(p.M, p.N, p.K, b.A, p.lda, pb.data, pb.nr, b.C, p.ldc, &q);
                check_result(&p, &b, b.C, b.R, "wide kernel");
                qn_f32_packed_b_free(&pb);
                buffers_free(&b);
            }
}

// Large GEMMs checked in O(n^2) (BLIS test_gemm): with a random x, C x must equal
// alpha A (B x) + beta C0 x, with the same style of bound on |A| (|B| |x|) + |beta| |C0| |x|.
static void large_checked_by_vector(void) {
    const size_t M = qt_quick() ? 203 : 1031, N = qt_quick() ? 190 : 1024, K = qt_quick() ? 260 : 1100;
    for (int t = 0; t < 2; t++) {
        const bool ta = t, tb = !t;
        const float alpha = t ? 0.5f : 1.0f, beta = t ? -1.0f : 0.0f;
        const size_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
        float *A = malloc((ta ? K : M) * lda * sizeof(float)), *B = malloc((tb ? N : K) * ldb * sizeof(float));
        float *C = malloc(M * ldc * sizeof(float)), *C0 = malloc(M * ldc * sizeof(float));
        qt_fill_f32(A, (ta ? K : M) * lda, -1.0f, 1.0f);
        qt_fill_f32(B, (tb ? N : K) * ldb, -1.0f, 1.0f);
        qt_fill_f32(C0, M * ldc, -1.0f, 1.0f);
        memcpy(C, C0, M * ldc * sizeof(float));
        qn_f32_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
        double *x = malloc(N * sizeof(double)), *bx = malloc(K * sizeof(double)), *bxa = malloc(K * sizeof(double));
        for (size_t n = 0; n < N; n++) x[n] = qt_float(-1.0f, 1.0f);
        for (size_t k = 0; k < K; k++) {
            double s = 0, sa = 0;
            for (size_t n = 0; n < N; n++) {
                const double bv = tb ? B[n * ldb + k] : B[k * ldb + n];
                s += bv * x[n], sa += fabs(bv * x[n]);
            }
            bx[k] = s, bxa[k] = sa;
        }
        int bad = 0;
        for (size_t m = 0; m < M; m++) {
            double want = 0, mag = 0, got = 0, cx = 0;
            for (size_t k = 0; k < K; k++) {
                const double av = ta ? A[k * lda + m] : A[m * lda + k];
                want += av * bx[k], mag += fabs(av) * bxa[k];
            }
            want *= alpha, mag *= fabs(alpha);
            for (size_t n = 0; n < N; n++) {
                got += C[m * ldc + n] * x[n];
                cx += fabs(C0[m * ldc + n] * x[n]);
            }
            want += beta * 0.0;
            for (size_t n = 0; n < N; n++) want += beta * (double)C0[m * ldc + n] * x[n];
            // Each C element carries <= 2 (K + 4) eps of its |A||B| row (see the top), the
            // product with x adds a double rounding only.
            const double tol = 2.0 * (double)(K + 4) * FLT_EPSILON * (mag + fabs(beta) * cx);
            if (!(fabs(got - want) <= tol) && !bad++)
                QT_CHECK(0, "ta=%d tb=%d row %zu: (Cx) = %.9g, want %.9g (tol %.3g)", ta, tb, m, got, want, tol);
        }
        QT_CHECK(!bad, "%d rows off", bad);
        free(A), free(B), free(C), free(C0), free(x), free(bx), free(bxa);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    QT_RUN_EACH_ISA(variant_name_matches_isa);
    QT_RUN_EACH_ISA(subtile_small_shapes);
    QT_RUN_EACH_ISA(k_edges_over_kc);
    QT_RUN_EACH_ISA(m_gt_n_gt);
    QT_RUN_EACH_ISA(strided_and_transposed);
    QT_RUN_EACH_ISA(alpha_beta);
    QT_RUN_EACH_ISA(epilogue_every_act);
    QT_RUN_EACH_ISA(epilogue_wide_inputs);
    QT_RUN_EACH_ISA(residual_aliases_c);
    QT_RUN_EACH_ISA(k_zero_alpha_zero);
    QT_RUN_EACH_ISA(threads_one_and_two);
    QT_RUN_EACH_ISA(split_k_deep);
    QT_RUN_EACH_ISA(random_problems);
    QT_RUN_EACH_ISA(matches_gemm_ref);
    QT_RUN_EACH_ISA(packed_b);
    QT_RUN_EACH_ISA(wide_tiles);
    if (qn_isa() == QN_ISA_AVX512) QT_RUN(wide_kernel_forms);  // the machine's best level: AVX-512 or not run
    QT_RUN_EACH_ISA(large_checked_by_vector);
    return qt_finish(argv[0]);
}
