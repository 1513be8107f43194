// Layer norm, softmax, activations, add, pooling and u8 (de)quantization against plain formulas
// evaluated in double, on every ISA level.
//
// Tolerances (per output element, |got - exact|):
//   layer norm  3e-5 * (1 + |y|): float sums over D <= 400 values (mean, then squared
//               deviations) carry a relative error of a few 1e-6 for random data; 3e-5 also
//               covers the D * eps worst case of a sequential sum at D = 400 (2.4e-5).
//   softmax     1e-6 + 2e-5 * y: exp within 2 ulp, the row sum over n <= 200 terms adds at most
//               n * 6e-8 = 1.2e-5 relative.
//   GELU        4e-7 * max(1, |x|): the SIMD form x / (1 + exp(-2z)) is within a few ulp; the
//               scalar tanh form loses up to ~0.5 ulp of 1 in 1 + tanh(z), i.e. 3e-8 * |x|.
//   pooling     1e-6 * (1 + |y|): means of <= 49 values in [-1, 1].
//   ReLU, ReLU6, hardswish, add, quantize, dequantize, min/max: bit-exact.
#include <math.h>

#include "ops.h"
#include "test.h"

#define NOSLOT 1e30f  // sentinel written into stride padding: must survive every op

static float *fvec(size_t n) {
    float *p = qn_alloc(n * sizeof(float));
    QN_ASSERT(p);
    return p;
}

static void fill_pad(float *p, size_t rows, size_t n, size_t ld) {
    for (size_t r = 0; r < rows; r++)
        for (size_t j = n; j < ld; j++) p[r * ld + j] = NOSLOT;
}

static int pad_intact(const float *p, size_t rows, size_t n, size_t ld) {
    for (size_t r = 0; r < rows; r++)
        for (size_t j = n; j < ld; j++)
            if (p[r * ld + j] != NOSLOT) return 0;
    return 1;
}

static const char *isa_suffix(void) {
    switch (qn_isa()) {
    case QN_ISA_SCALAR: return "__scalar";
    case QN_ISA_AVX2:
    case QN_ISA_AVXVNNI: return "__avx2";
    default: return "__avx512";
    }
}

// --- layer norm ---

static void layernorm_check(size_t rows, size_t D, size_t ldx, size_t ldy, size_t Dmax,
                            bool inplace) {
    float *x = fvec(rows * ldx), *y = inplace ? x : fvec(rows * ldy);
    float *g = fvec(Dmax), *b = fvec(Dmax);
    if (inplace) ldy = ldx;
    qt_fill_f32(x, rows * ldx, -1.0f, 3.0f);
    qt_fill_f32(g, Dmax, 0.5f, 1.5f);
    qt_fill_f32(b, Dmax, -0.5f, 0.5f);
    double *ref = malloc(rows * D * sizeof(double));
    const float eps = 1e-5f;
    for (size_t r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (size_t j = 0; j < D; j++) m += x[r * ldx + j];
        m /= (double)D;
        for (size_t j = 0; j < D; j++) v += (x[r * ldx + j] - m) * (x[r * ldx + j] - m);
        v /= (double)D;
        for (size_t j = 0; j < D; j++)
            ref[r * D + j] = (x[r * ldx + j] - m) / sqrt(v + eps) * g[j] + b[j];
    }
    fill_pad(y, rows, D, ldy);
    qn_f32_layernorm(rows, D, x, ldx, g, b, eps, y, ldy);  // leading D of the Dmax vectors
    int bad = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < D; j++) {
            const double e = ref[r * D + j], d = fabs(y[r * ldy + j] - e);
            if (!(d <= 3e-5 * (1 + fabs(e))) && bad++ < 3)
                QT_CHECK(0, "rows %zu D %zu [%zu][%zu]: %g vs %g", rows, D, r, j, y[r * ldy + j], e);
        }
    QT_CHECK(!bad, "rows %zu D %zu: %d mismatches", rows, D, bad);
    QT_CHECK(pad_intact(y, rows, D, ldy), "rows %zu D %zu: wrote into the row padding", rows, D);
    free(ref);
    if (!inplace) qn_free(y);
    qn_free(x), qn_free(g), qn_free(b);
}

static void layernorm_shapes(void) {
    qt_seed(11);
    layernorm_check(1, 1, 1, 1, 1, false);    // D = 1: output is exactly beta
    layernorm_check(1, 7, 9, 8, 7, false);
    layernorm_check(3, 13, 13, 15, 20, false);
    layernorm_check(5, 16, 17, 16, 16, false);
    layernorm_check(2, 31, 31, 31, 31, true);
    layernorm_check(4, 97, 101, 99, 128, false);
    layernorm_check(7, 384, 401, 384, 400, false);  // elastic: leading 384 of D_max = 400
    layernorm_check(qt_quick() ? 9 : 200, 193, 193, 197, 193, false);  // threaded path
}

// --- softmax ---

enum { MASK_NONE, MASK_FULL, MASK_ROW };

static void softmax_check(size_t rows, size_t n, size_t ldx, int mask_kind, bool causal,
                          float lo, float hi) {
    const size_t ldm = mask_kind == MASK_FULL ? n + 2 : 0, ldy = n + 1;
    float *x = fvec(rows * ldx), *y = fvec(rows * ldy), *y2 = fvec(rows * ldy);
    float *mask = mask_kind == MASK_NONE ? NULL : fvec(mask_kind == MASK_FULL ? rows * ldm : n);
    qt_fill_f32(x, rows * ldx, lo, hi);
    if (mask) {
        const size_t mn = mask_kind == MASK_FULL ? rows * ldm : n;
        for (size_t i = 0; i < mn; i++) {
            const int k = qt_int(0, 5);
            mask[i] = k == 0 ? -INFINITY : (k == 1 ? -1e9f : qt_float(-2.0f, 2.0f));
        }
    }
    fill_pad(y, rows, n, ldy);
    qn_f32_softmax(rows, n, x, ldx, mask, ldm, causal, y, ldy);
    int bad = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *mr = mask ? mask + r * ldm : NULL;
        const long last = (long)r + (long)n - (long)rows;  // causal: columns j <= last visible
        const size_t nv = !causal ? n : (last < 0 ? 0 : QN_MIN(n, (size_t)last + 1));
        double mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < nv; j++) {
            const double s = (double)x[r * ldx + j] + (mr ? mr[j] : 0.0);
            mx = s > mx ? s : mx;
        }
        for (size_t j = 0; j < nv; j++) sum += exp((double)x[r * ldx + j] + (mr ? mr[j] : 0.0) - mx);
        double ysum = 0;
        for (size_t j = 0; j < n; j++) {
            const float got = y[r * ldy + j];
            ysum += got;
            const bool masked = j >= nv || (mr && mr[j] <= -1e9f) || mx == -INFINITY;
            if (masked) {
                if (got != 0.0f && bad++ < 3)
                    QT_CHECK(0, "%zux%zu [%zu][%zu] masked but %g", rows, n, r, j, got);
                continue;
            }
            const double e = exp((double)x[r * ldx + j] + (mr ? mr[j] : 0.0) - mx) / sum;
            if (!(fabs(got - e) <= 1e-6 + 2e-5 * e) && bad++ < 3)
                QT_CHECK(0, "%zux%zu [%zu][%zu]: %g vs %g", rows, n, r, j, got, e);
        }
        if (mx != -INFINITY)
            QT_CHECK(fabs(ysum - 1.0) <= 2e-5, "%zux%zu row %zu sums to %.9g", rows, n, r, ysum);
    }
    QT_CHECK(!bad, "%zux%zu mask %d causal %d: %d mismatches", rows, n, mask_kind, causal, bad);
    QT_CHECK(pad_intact(y, rows, n, ldy), "%zux%zu: wrote into the padding", rows, n);

    // a row comes out the same alone as among others (the kernels interleave rows in groups)
    for (size_t r = 0; r < rows && !causal; r++) {
        qn_f32_softmax(1, n, x + r * ldx, ldx, mask ? mask + r * ldm : NULL, ldm, false, y2, ldy);
        QT_CHECK(!memcmp(y + r * ldy, y2, n * sizeof(float)), "%zux%zu row %zu alone differs", rows, n, r);
    }

    // invariance: softmax(x + 32) == softmax(x) up to the rounding of x + 32 (2e-6 in s)
    for (size_t i = 0; i < rows * ldx; i++) x[i] += 32.0f;
    qn_f32_softmax(rows, n, x, ldx, mask, ldm, causal, y2, ldy);
    bad = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) {
            const float a = y[r * ldy + j], b = y2[r * ldy + j];
            if (!(fabsf(a - b) <= 1e-6f + 3e-5f * a)) bad++;
        }
    QT_CHECK(!bad, "%zux%zu: not invariant to +32 (%d entries)", rows, n, bad);

    // in place gives the same bits
    if (ldx == ldy) {
        memcpy(y2, x, rows * ldx * sizeof(float));
        qn_f32_softmax(rows, n, y2, ldy, mask, ldm, causal, y2, ldy);
        qn_f32_softmax(rows, n, x, ldx, mask, ldm, causal, y, ldy);
        for (size_t r = 0; r < rows; r++)
            QT_CHECK(!memcmp(y + r * ldy, y2 + r * ldy, n * sizeof(float)), "in place row %zu", r);
    }
    qn_free(x), qn_free(y), qn_free(y2), qn_free(mask);
}

static void softmax_shapes(void) {
    qt_seed(12);
    const size_t shapes[][3] = {{1, 1, 1}, {3, 7, 8}, {5, 16, 16}, {4, 17, 18}, {2, 33, 33},
                                {6, 197, 200}, {13, 13, 14}, {3, 64, 65}};
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
        for (int mk = MASK_NONE; mk <= MASK_ROW; mk++)
            for (int c = 0; c < 2; c++)
                softmax_check(shapes[s][0], shapes[s][1], shapes[s][2], mk, c, -4.0f, 4.0f);
    // large logits: max subtraction keeps exp finite
    softmax_check(4, 37, 37, MASK_NONE, false, -80.0f, 80.0f);
    // wide rows on the threaded path; rows > n makes the first causal rows empty
    softmax_check(qt_quick() ? 8 : 196, 196, 197, MASK_NONE, true, -4.0f, 4.0f);
    // threaded, not causal: tasks of 8 rows (the last one short), and three long rows a task each
    softmax_check(20, 2000, 2001, MASK_FULL, false, -4.0f, 4.0f);
    softmax_check(3, 12000, 12000, MASK_ROW, false, -4.0f, 4.0f);
    softmax_check(7, 5, 6, MASK_FULL, true, -4.0f, 4.0f);
}

static void softmax_all_masked_row(void) {
    float x[5] = {1, 2, 3, 4, 5}, m[5], y[5];
    for (int j = 0; j < 5; j++) m[j] = -INFINITY;
    qn_f32_softmax(1, 5, x, 5, m, 0, false, y, 5);
    for (int j = 0; j < 5; j++) QT_CHECK(y[j] == 0.0f, "all-masked row: y[%d] = %g", j, y[j]);
    // one survivor takes all the mass, exactly
    m[3] = 0.0f;
    qn_f32_softmax(1, 5, x, 5, m, 0, false, y, 5);
    for (int j = 0; j < 5; j++) QT_CHECK(y[j] == (j == 3 ? 1.0f : 0.0f), "y[%d] = %g", j, y[j]);
    // an all-masked row among rows the kernel takes together leaves the others intact
    float xs[7 * 21], ms[7 * 21], ys[7 * 21];
    for (int i = 0; i < 7 * 21; i++) xs[i] = (float)(i % 5), ms[i] = i / 21 == 2 ? -INFINITY : 0.0f;
    qn_f32_softmax(7, 21, xs, 21, ms, 21, false, ys, 21);
    for (int r = 0; r < 7; r++) {
        float sum = 0.0f;
        for (int j = 0; j < 21; j++) sum += ys[r * 21 + j];
        QT_CHECK(r == 2 ? sum == 0.0f : fabsf(sum - 1.0f) < 1e-5f, "row %d of 7 (row 2 all masked) sums to %g", r, sum);
    }
}

// --- activations, add ---

static double gelu_exact(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

static void act_check(enum qn_act act, size_t rows, size_t n, size_t ldx, size_t ldy) {
    float *x = fvec(rows * ldx), *y = fvec(rows * ldy);
    qt_fill_f32(x, rows * ldx, -10.0f, 10.0f);
    const float special[] = {0.0f, -0.0f, 3.0f, -3.0f, 6.0f, -6.0f, 1e-30f, -1e-30f,
                             INFINITY, -INFINITY, 50.0f, -50.0f};
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]) && i < n; i++) x[i] = special[i];
    fill_pad(y, rows, n, ldy);
    qn_f32_vact(act, rows, n, x, ldx, y, ldy);
    int bad = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) {
            const float xv = x[r * ldx + j], got = y[r * ldy + j];
            if (act == QN_ACT_GELU) {
                if (!isfinite(xv)) continue;
                const double e = gelu_exact(xv);
                if (!(fabs(got - e) <= 4e-7 * fmax(1.0, fabs(xv))) && bad++ < 3)
                    QT_CHECK(0, "gelu(%.9g) = %.9g, exact %.9g", xv, got, e);
            } else {
                const float e = qn_act_ref(act, xv);
                if (memcmp(&got, &e, 4) && bad++ < 3)
                    QT_CHECK(0, "%s(%.9g) = %.9g, ref %.9g", qn_act_name(act), xv, got, e);
            }
        }
    QT_CHECK(!bad, "%s %zux%zu: %d mismatches", qn_act_name(act), rows, n, bad);
    QT_CHECK(pad_intact(y, rows, n, ldy), "%s: wrote into the padding", qn_act_name(act));
    // in place gives the same bits
    float *z = fvec(rows * ldx);
    memcpy(z, x, rows * ldx * sizeof(float));
    qn_f32_vact(act, rows, n, z, ldx, z, ldx);
    for (size_t r = 0; r < rows; r++)
        QT_CHECK(!memcmp(z + r * ldx, y + r * ldy, n * sizeof(float)), "%s in place row %zu",
                 qn_act_name(act), r);
    qn_free(x), qn_free(y), qn_free(z);
}

static void vact_all(void) {
    qt_seed(13);
    const size_t shapes[][4] = {{1, 1, 1, 1}, {1, 12, 12, 13}, {3, 7, 9, 8}, {2, 16, 16, 16},
                                {4, 31, 33, 31}, {2, 33, 40, 35}, {3, 257, 257, 260}};
    for (int a = QN_ACT_NONE; a <= QN_ACT_GELU; a++)
        for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
            act_check((enum qn_act)a, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
    act_check(QN_ACT_GELU, qt_quick() ? 2 : 8, 10007, 10007, 10009);  // chunked, threaded
    // GELU over a dense grid of [-12, 12]
    const size_t n = qt_quick() ? 2401 : 240001;
    float *x = fvec(n), *y = fvec(n);
    for (size_t i = 0; i < n; i++) x[i] = -12.0f + 24.0f * (float)i / (float)(n - 1);
    qn_f32_vact(QN_ACT_GELU, 1, n, x, n, y, n);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(y[i] - gelu_exact(x[i])) / fmax(1.0, fabs(x[i])));
    QT_CHECK(worst <= 4e-7, "gelu grid: worst scaled error %g", worst);
    qn_free(x), qn_free(y);
}

static void vadd_check(enum qn_act act, size_t rows, size_t n, bool inplace) {
    const size_t lda = n + 1, ldb = n + 3, ldy = inplace ? lda : n + 2;
    float *a = fvec(rows * lda), *b = fvec(rows * ldb), *y = inplace ? a : fvec(rows * ldy);
    float *a0 = fvec(rows * lda);
    qt_fill_f32(a, rows * lda, -6.0f, 6.0f);
    qt_fill_f32(b, rows * ldb, -6.0f, 6.0f);
    memcpy(a0, a, rows * lda * sizeof(float));
    if (!inplace) fill_pad(y, rows, n, ldy);
    qn_f32_vadd(act, rows, n, a, lda, b, ldb, y, ldy);
    int bad = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) {
            const float s = a0[r * lda + j] + b[r * ldb + j], got = y[r * ldy + j];
            if (act == QN_ACT_GELU) {
                if (!(fabs(got - gelu_exact(s)) <= 4e-7 * fmax(1.0, fabs(s)))) bad++;
            } else {
                const float e = qn_act_ref(act, s);
                if (memcmp(&got, &e, 4)) bad++;
            }
        }
    QT_CHECK(!bad, "vadd %s %zux%zu inplace %d: %d mismatches", qn_act_name(act), rows, n, inplace, bad);
    if (!inplace) QT_CHECK(pad_intact(y, rows, n, ldy), "vadd wrote into the padding");
    if (!inplace) qn_free(y);
    qn_free(a), qn_free(b), qn_free(a0);
}

static void vadd_all(void) {
    qt_seed(14);
    const size_t shapes[][2] = {{1, 1}, {3, 7}, {2, 16}, {5, 17}, {2, 64}, {3, 101}, {1, 4099}};
    for (int a = QN_ACT_NONE; a <= QN_ACT_GELU; a++)
        for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
            for (int ip = 0; ip < 2; ip++)
                vadd_check((enum qn_act)a, shapes[s][0], shapes[s][1], ip);
    vadd_check(QN_ACT_RELU, qt_quick() ? 3 : 197, 384, false);  // threaded
}

// --- pooling ---

static void gavgpool_check(size_t N, size_t HW, size_t C) {
    const size_t ldx = C + 3, ldy = C + 1;
    float *x = fvec(N * HW * ldx), *y = fvec(N * ldy);
    qt_fill_f32(x, N * HW * ldx, -1.0f, 1.0f);
    fill_pad(y, N, C, ldy);
    qn_f32_global_avgpool(N, HW, C, x, ldx, y, ldy);
    int bad = 0;
    for (size_t i = 0; i < N; i++)
        for (size_t c = 0; c < C; c++) {
            double s = 0;
            for (size_t p = 0; p < HW; p++) s += x[(i * HW + p) * ldx + c];
            s /= (double)HW;
            if (!(fabs(y[i * ldy + c] - s) <= 1e-6 * (1 + fabs(s)))) bad++;
        }
    QT_CHECK(!bad, "global avgpool N %zu HW %zu C %zu: %d mismatches", N, HW, C, bad);
    QT_CHECK(pad_intact(y, N, C, ldy), "global avgpool wrote into the padding");
    qn_free(x), qn_free(y);
}

static void avgpool_check(size_t N, size_t H, size_t W, size_t C, size_t k, size_t s, size_t p) {
    const size_t ldx = C + 1, ldy = C + 2;
    const size_t OH = qn_pool_out_size(H, k, s, p), OW = qn_pool_out_size(W, k, s, p);
    float *x = fvec(N * H * W * ldx), *y = fvec(N * OH * OW * ldy);
    qt_fill_f32(x, N * H * W * ldx, -1.0f, 1.0f);
    fill_pad(y, N * OH * OW, C, ldy);
    QT_CHECK(qn_f32_avgpool(N, H, W, C, x, ldx, k, s, p, y, ldy) == QN_OK, "status");
    int bad = 0;
    for (size_t i = 0; i < N; i++)
        for (size_t oh = 0; oh < OH; oh++)
            for (size_t ow = 0; ow < OW; ow++)
                for (size_t c = 0; c < C; c++) {
                    double sum = 0;
                    int cnt = 0;
                    for (size_t a = 0; a < k; a++)
                        for (size_t b = 0; b < k; b++) {
                            const long h = (long)(oh * s + a) - (long)p, w = (long)(ow * s + b) - (long)p;
                            if (h < 0 || w < 0 || h >= (long)H || w >= (long)W) continue;
                            sum += x[((i * H + h) * W + w) * ldx + c], cnt++;
                        }
                    const double e = sum / cnt, got = y[((i * OH + oh) * OW + ow) * ldy + c];
                    if (!(fabs(got - e) <= 1e-6 * (1 + fabs(e)))) bad++;
                }
    QT_CHECK(!bad, "avgpool %zux%zux%zu k%zu s%zu p%zu: %d mismatches", H, W, C, k, s, p, bad);
    QT_CHECK(pad_intact(y, N * OH * OW, C, ldy), "avgpool wrote into the padding");
    qn_free(x), qn_free(y);
}

static void pooling_all(void) {
    qt_seed(15);
    const size_t Cs[] = {1, 3, 17, 64, 67, 130};
    for (size_t c = 0; c < 6; c++) {
        gavgpool_check(1, 1, Cs[c]);
        gavgpool_check(2, 7, Cs[c]);
        gavgpool_check(3, 49, Cs[c]);
        avgpool_check(1, 1, 1, Cs[c], 1, 1, 0);
        avgpool_check(2, 5, 7, Cs[c], 3, 1, 1);
        avgpool_check(1, 7, 7, Cs[c], 2, 2, 0);
        avgpool_check(1, 8, 9, Cs[c], 3, 2, 1);
        avgpool_check(2, 13, 11, Cs[c], 5, 3, 2);
    }
    gavgpool_check(2, 196, 384);      // threaded over channel blocks
    avgpool_check(1, 28, 28, 96, 3, 1, 1);
    float x[8] = {0}, y[8];
    QT_CHECK(qn_f32_avgpool(1, 2, 2, 2, x, 2, 0, 1, 0, y, 2) == QN_ERR_ARG, "k = 0 accepted");
    QT_CHECK(qn_f32_avgpool(1, 2, 2, 2, x, 2, 2, 0, 0, y, 2) == QN_ERR_ARG, "s = 0 accepted");
    QT_CHECK(qn_f32_avgpool(1, 2, 2, 2, x, 2, 2, 1, 2, y, 2) == QN_ERR_ARG, "p >= k accepted");
    QT_CHECK(qn_f32_avgpool(1, 2, 2, 2, x, 2, 3, 1, 0, y, 2) == QN_ERR_ARG, "k > H accepted");
    QT_CHECK(qn_f32_avgpool(1, 2, 2, 2, x, 1, 2, 1, 0, y, 2) == QN_ERR_ARG, "ldx < C accepted");
}

// --- quantization ---

static uint8_t quant_formula(float x, float inv, int zp, int qmax) {
    float q = rintf(x * inv) + (float)zp;
    q = q < 0.0f ? 0.0f : (q > (float)qmax ? (float)qmax : q);
    return (uint8_t)q;
}

// qmax_param: struct qn_qu8_params.qmax (0 = 255).
static void quant_check(size_t rows, size_t n, float scale, int zp, int qmax_param) {
    const int qmax = qmax_param ? qmax_param : 255;
    const size_t ldx = n + 5, ldq = n + 3, ldy = n + 1;
    float *x = fvec(rows * ldx), *y = fvec(rows * ldy);
    uint8_t *q = qn_alloc(rows * ldq);
    // beyond both clamp ends; a narrow range keeps most values inside it
    const float lo = qmax < 255 ? (float)(zp + 2) : 300.0f;
    const float hi = qmax < 255 ? (float)(qmax - zp + 2) : 300.0f;
    qt_fill_f32(x, rows * ldx, -lo * scale, hi * scale);
    // exact halves (x * inv = k + 0.5) check round-half-to-even; infinities clamp
    for (size_t i = 0; i < n && i < 8; i++) x[i] = ((float)i - 3.5f) * scale;
    if (n > 9) x[8] = INFINITY, x[9] = -INFINITY;
    const struct qn_qu8_params p = {.scale = scale, .zp = zp, .qmax = qmax_param};
    const float inv = 1.0f / scale;
    memset(q, 0xab, rows * ldq);
    qn_qu8_quantize(rows, n, x, ldx, p, q, ldq);
    int bad = 0, pad = 0, over = 0, sat = 0;
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < n; j++) {
            const uint8_t want = quant_formula(x[r * ldx + j], inv, zp, qmax);
            if (q[r * ldq + j] != want && bad++ < 3)
                QT_CHECK(0, "quantize(%.9g) qmax %d = %d, ref %d", x[r * ldx + j], qmax,
                         q[r * ldq + j], want);
            over += q[r * ldq + j] > qmax;
            sat += rintf(x[r * ldx + j] * inv) + (float)zp > (float)qmax;
        }
        for (size_t j = n; j < ldq; j++) pad += q[r * ldq + j] != 0xab;
    }
    QT_CHECK(!bad && !pad && !over,
             "quantize %zux%zu qmax %d: %d mismatches, %d above qmax, %d padding bytes written",
             rows, n, qmax, bad, over, pad);
    // inputs past the top (every row of >= 10 has +inf) must have been clamped, not wrapped
    QT_CHECK(n < 10 || sat > 0, "quantize %zux%zu qmax %d: nothing saturated", rows, n, qmax);
    fill_pad(y, rows, n, ldy);
    qn_qu8_dequantize(rows, n, q, ldq, p, y, ldy);
    bad = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) {
            const float e = (float)((int)q[r * ldq + j] - zp) * scale;
            if (memcmp(&e, &y[r * ldy + j], 4)) bad++;
            // round trip within half a step inside the representable range
            const float xv = x[r * ldx + j];
            if (xv >= (0 - zp) * scale && xv <= (qmax - zp) * scale &&
                !(fabsf(y[r * ldy + j] - xv) <= 0.5f * scale * (1 + 1e-5f)))
                bad++;
        }
    QT_CHECK(!bad, "dequantize %zux%zu: %d mismatches", rows, n, bad);
    QT_CHECK(pad_intact(y, rows, n, ldy), "dequantize wrote into the padding");
    qn_free(x), qn_free(y), qn_free(q);
}

static void quantize_all(void) {
    qt_seed(16);
    const size_t ns[] = {1, 7, 8, 9, 16, 31, 33, 64, 65, 100, 1000};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        quant_check(1, ns[i], 0.5f, 0, 0);
        quant_check(3, ns[i], 0.5f, 128, 0);
        quant_check(2, ns[i], 0.0123f, 37, 0);
        quant_check(2, ns[i], 3.7f, 255, 0);
    }
    quant_check(qt_quick() ? 3 : 100, 1001, 0.02f, 100, 0);  // threaded
    // activations of 1..8 bits in u8 containers: qmax = 2^b - 1, zp anywhere in 0..qmax
    const int qmaxes[] = {1, 3, 15, 63, 127, 255};
    const size_t qns[] = {1, 8, 33, 65, 1000};
    for (size_t k = 0; k < sizeof(qmaxes) / sizeof(qmaxes[0]); k++)
        for (size_t i = 0; i < sizeof(qns) / sizeof(qns[0]); i++) {
            const int qm = qmaxes[k];
            quant_check(2, qns[i], 0.25f, (int)(i % 3) * qm / 2, qm);
        }
    quant_check(qt_quick() ? 3 : 20, 1001, 0.02f, 7, 15);  // threaded
    // half-to-even on exact halves
    float x[4] = {0.5f, 1.5f, 2.5f, -0.5f};
    uint8_t q[4];
    qn_qu8_quantize(1, 4, x, 4, (struct qn_qu8_params){.scale = 1.0f, .zp = 10}, q, 4);
    QT_CHECK(q[0] == 10 && q[1] == 12 && q[2] == 12 && q[3] == 10, "halves: %d %d %d %d", q[0],
             q[1], q[2], q[3]);
    // 4 bits: 0..15, the top clamped exactly at qmax (and half-to-even below it)
    const float x4[4] = {4.5f, 5.5f, 6.0f, 1e6f};
    qn_qu8_quantize(1, 4, x4, 4, (struct qn_qu8_params){.scale = 1.0f, .zp = 10, .qmax = 15}, q, 4);
    QT_CHECK(q[0] == 14 && q[1] == 15 && q[2] == 15 && q[3] == 15, "qmax 15: %d %d %d %d", q[0],
             q[1], q[2], q[3]);
}

static void minmax_and_params(void) {
    qt_seed(17);
    const size_t shapes[][2] = {{1, 1}, {1, 7}, {3, 17}, {4, 33}, {2, 100}, {qt_quick() ? 5 : 300, 257}};
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        const size_t rows = shapes[s][0], n = shapes[s][1], ld = n + 2;
        float *x = fvec(rows * ld);
        qt_fill_f32(x, rows * ld, -2.0f, 5.0f);
        x[(size_t)qt_int(0, (int)rows - 1) * ld + (size_t)qt_int(0, (int)n - 1)] = -7.25f;
        x[(size_t)qt_int(0, (int)rows - 1) * ld + (size_t)qt_int(0, (int)n - 1)] = 9.5f;
        for (size_t r = 0; r < rows; r++) x[r * ld + n] = -100.0f, x[r * ld + n + 1] = 100.0f;
        float emn = x[0], emx = x[0];
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < n; j++)
                emn = fminf(emn, x[r * ld + j]), emx = fmaxf(emx, x[r * ld + j]);
        float mn, mx;
        qn_f32_minmax(rows, n, x, ld, &mn, &mx);
        QT_CHECK(mn == emn && mx == emx, "minmax %zux%zu: %g %g, want %g %g", rows, n, mn, mx, emn, emx);
        qn_free(x);
    }
    const struct qn_qu8_params p = qn_qu8_params_from_range(-1.0f, 3.0f);
    QT_CHECK(fabsf(p.scale - 4.0f / 255.0f) < 1e-9f && p.zp == 64, "params %g %d", p.scale, p.zp);
    const struct qn_qu8_params pz = qn_qu8_params_from_range(0.0f, 0.0f);
    QT_CHECK(pz.scale == 1.0f && pz.zp == 0, "zero range");
    const struct qn_qu8_params pp = qn_qu8_params_from_range(2.0f, 6.0f);  // widened to [0, 6]
    QT_CHECK(pp.zp == 0 && fabsf(pp.scale - 6.0f / 255.0f) < 1e-9f, "positive range");
    const struct qn_qu8_params pn = qn_qu8_params_from_range(-5.0f, -1.0f);  // widened to [-5, 0]
    QT_CHECK(pn.zp == 255, "negative range zp %d", pn.zp);
    // zero is exact
    float zero = 0.0f, back;
    uint8_t q;
    qn_qu8_quantize(1, 1, &zero, 1, p, &q, 1);
    qn_qu8_dequantize(1, 1, &q, 1, p, &back, 1);
    QT_CHECK(q == p.zp && back == 0.0f, "zero maps to %d -> %g", q, back);
}

static void weights_quantize(void) {
    qt_seed(18);
    const size_t N = 13, K = 29, ldw = 33, ldq = 31;
    float *W = fvec(N * ldw), scale[13];
    int8_t *Q = qn_alloc(N * ldq);
    qt_fill_f32(W, N * ldw, -0.3f, 0.3f);
    for (size_t k = 0; k < K; k++) W[5 * ldw + k] = 0.0f;  // all-zero row
    for (int bits = 2; bits <= 8; bits++) {
        qn_qs8_weights_quantize(N, K, W, ldw, bits, Q, ldq, scale);
        const int lim = (1 << (bits - 1)) - 1;
        int bad = 0, hit_lim = 0;
        for (size_t n = 0; n < N; n++) {
            float amax = 0;
            for (size_t k = 0; k < K; k++) amax = fmaxf(amax, fabsf(W[n * ldw + k]));
            if (n != 5 && fabsf(scale[n] - amax / lim) > 1e-7f * amax) bad++;
            int row_lim = 0;
            for (size_t k = 0; k < K; k++) {
                const int q = Q[n * ldq + k];
                if (q > lim || q < -lim) bad++;
                if (fabsf(q * scale[n] - W[n * ldw + k]) > 0.5f * scale[n] * (1 + 1e-5f)) bad++;
                row_lim |= q == lim || q == -lim;
            }
            hit_lim += row_lim;
        }
        QT_CHECK(!bad, "bits %d: %d errors", bits, bad);
        QT_CHECK(scale[5] == 1.0f, "zero row scale %g", scale[5]);
        QT_CHECK(hit_lim == (int)N - 1, "bits %d: %d rows reach +-lim", bits, hit_lim);
    }
    qn_free(W), qn_free(Q);
}

static void variant_names(void) {
    const char *suf = isa_suffix();
    const char *names[] = {qn_f32_layernorm_variant(), qn_f32_softmax_variant(),
                           qn_f32_vact_variant(QN_ACT_RELU), qn_f32_vact_variant(QN_ACT_GELU),
                           qn_f32_vadd_variant(), qn_f32_global_avgpool_variant(),
                           qn_f32_avgpool_variant(), qn_qu8_quantize_variant(),
                           qn_qu8_dequantize_variant(), qn_f32_minmax_variant()};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        QT_CHECK(names[i] && strstr(names[i], suf) && strncmp(names[i], "qn_", 3) == 0,
                 "variant %s at %s", names[i] ? names[i] : "(null)", qn_isa_name(qn_isa()));
    QT_CHECK(strstr(qn_f32_vact_variant(QN_ACT_HSWISH), "vhswish"), "hswish name");
}

int main(int argc, char **argv) {
    (void)argc;
    QT_RUN_EACH_ISA(layernorm_shapes);
    QT_RUN_EACH_ISA(softmax_shapes);
    QT_RUN_EACH_ISA(softmax_all_masked_row);
    QT_RUN_EACH_ISA(vact_all);
    QT_RUN_EACH_ISA(vadd_all);
    QT_RUN_EACH_ISA(pooling_all);
    QT_RUN_EACH_ISA(quantize_all);
    QT_RUN_EACH_ISA(minmax_and_params);
    QT_RUN(weights_quantize);
    QT_RUN_EACH_ISA(variant_names);
    return qt_finish(argv[0]);
}
