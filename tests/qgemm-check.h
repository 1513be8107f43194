// Shared checker for the quantized GEMM tests (test-qs8-gemm.c, test-qs4-gemm.c): builds one
// case, runs qn_qgemm and qn_qgemm_ref on identical buffers and requires bit-identical
// outputs, including the untouched padding of strided C. Cases with clamp_check also test
// the u8 clamp against the formula written out here (the reference's FP32 output requantized
// with clamp(rint(y / out_scale) + out_zp, 0, qmax)), so the reference itself is checked too.
#pragma once

#include "gemm.h"
#include "test.h"

enum qc_fill { QC_RANDOM = 0, QC_MAX, QC_MIN };  // W: random, +lim, -lim; A: random, 255, 0

struct qcase {
    size_t M, N, K;
    size_t lda_pad, ldw_pad, ldc_pad;  // extra elements per row (strided / sliced views)
    size_t w_off;                      // W starts w_off columns into a wider tensor
    int bits, storage;
    int a_zp;
    bool out_u8;
    enum qn_act act;
    bool bias, residual, before, residual_is_c;
    enum qc_fill wfill, afill;
    int out_qmax;      // u8 output clamp, 0 = 255 (struct qn_qgemm_out)
    bool clamp_check;  // u8: also check every output against the clamp formula
    float out_span;    // with out_qmax / clamp_check: y = ymax maps this many steps past zp
    uint64_t seed;
};

// Outputs of the last qc_run whose unclamped value was above qmax (clamp_check cases only).
static size_t qc_sat_top;

static const char *qc_str(const struct qcase *c) {
    static char s[256];
    snprintf(s, sizeof(s),
             "M=%zu N=%zu K=%zu pads=%zu/%zu/%zu bits=%d st=%d zp=%d u8=%d qmax=%d act=%s bias=%d "
             "res=%d%s%s",
             c->M, c->N, c->K, c->lda_pad, c->ldw_pad, c->ldc_pad, c->bits, c->storage, c->a_zp,
             c->out_u8, c->out_qmax, qn_act_name(c->act), c->bias, c->residual,
             c->before ? " before" : "",
             c->residual_is_c ? " R=C" : "");
    return s;
}

// Runs one case; returns true when qn_qgemm matched the reference bit for bit.
static bool qc_run(const struct qcase *c) {
    const size_t M = c->M, N = c->N, K = c->K;
    const size_t lda = K + c->lda_pad, ldw = K + c->w_off + c->ldw_pad, ldc = N + c->ldc_pad;
    const int lim = (1 << (c->bits - 1)) - 1;
    qt_seed(c->seed ? c->seed : 1 + M * 131 + N * 7919 + K * 104729);

    int8_t *W = malloc(N * ldw);
    uint8_t *A = malloc(M * lda);
    float *scale = malloc(N * sizeof(float)), *bias = malloc(N * sizeof(float));
    float *R = malloc(M * ldc * sizeof(float));
    const size_t esize = c->out_u8 ? 1 : sizeof(float);
    // C 64-byte aligned, as the engine allocates it (full tiles of aligned rows may stream)
    uint8_t *Cref = malloc(M * ldc * esize), *Cgot = qn_alloc(M * ldc * esize);
    float *Y = malloc(M * ldc * sizeof(float));

    // Values outside the slice are out of range on purpose: a kernel reading them would fail.
    for (size_t i = 0; i < N * ldw; i++) W[i] = (int8_t)-128;
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < K; k++)
            W[n * ldw + c->w_off + k] = c->wfill == QC_MAX   ? (int8_t)lim
                                        : c->wfill == QC_MIN ? (int8_t)-lim
                                                             : (int8_t)qt_int(-lim, lim);
    for (size_t i = 0; i < M * lda; i++)
        A[i] = c->afill == QC_MAX ? 255 : c->afill == QC_MIN ? 0 : (uint8_t)qt_u64();
    qt_fill_f32(scale, N, 0.001f, 0.02f);

    struct qn_qgemm_weights w;
    enum qn_status st = qn_qgemm_pack(&w, W + c->w_off, ldw, N, K, scale, c->bits, c->storage);
    QT_CHECK(st == QN_OK, "pack failed (%s): %s", qn_status_str(st), qc_str(c));
    bool ok = st == QN_OK;
    if (ok) {
        // Size the epilogue inputs to the actual output range so u8 clamps at both ends and
        // activations see both signs.
        struct qn_qgemm_out o = {.a_scale = 0.05f, .a_zp = c->a_zp};
        qn_qgemm_ref(M, A, lda, W + c->w_off, ldw, N, K, scale, &o, Y, N);
        float ymax = 1e-3f;
        for (size_t i = 0; i < M * N; i++) ymax = fmaxf(ymax, fabsf(Y[i]));
        qt_fill_f32(bias, N, -0.5f * ymax, 0.5f * ymax);
        qt_fill_f32(R, M * ldc, -0.5f * ymax, 0.5f * ymax);
        o.ep.act = c->act;
        o.ep.bias = c->bias ? bias : NULL;
        o.ep.residual_before_act = c->before;
        o.out_u8 = c->out_u8;
        // Default: zp 100 of 255. With a qmax or clamp_check: zp at mid range and y = +-ymax
        // landing 1.5x the range past zp (or out_span steps), so both clamps are hit whatever
        // qmax is.
        const int qmax = c->out_qmax ? c->out_qmax : 255;
        const bool plain = !c->out_qmax && !c->clamp_check;
        o.out_qmax = c->out_qmax;
        o.out_zp = plain ? 100 : qmax / 2;
        const float span = c->out_span ? c->out_span : 1.5f * (float)(qmax - o.out_zp) + 1.0f;
        o.out_scale = plain ? ymax / 100.0f : ymax / span;
        if (c->residual_is_c && !c->out_u8) {
            memcpy(Cref, R, M * ldc * sizeof(float));
            memcpy(Cgot, R, M * ldc * sizeof(float));
        } else {
            memset(Cref, 0xa5, M * ldc * esize);
            memset(Cgot, 0xa5, M * ldc * esize);
        }
        struct qn_qgemm_out oref = o, ogot = o;
        if (c->residual) {
            oref.ep.residual = c->residual_is_c ? (float *)Cref : R;
            ogot.ep.residual = c->residual_is_c ? (float *)Cgot : R;
            oref.ep.ldr = ogot.ep.ldr = ldc;
        }
        qn_qgemm_ref(M, A, lda, W + c->w_off, ldw, N, K, scale, &oref, Cref, ldc);
        qn_qgemm(M, A, lda, &w, &ogot, Cgot, ldc);
        qc_sat_top = 0;
        size_t over = 0;
        for (size_t m = 0; c->out_u8 && m < M; m++)
            for (size_t n = 0; n < N; n++) over += Cgot[m * ldc + n] > qmax;
        QT_CHECK(!over, "%zu outputs above qmax %d: %s", over, qmax, qc_str(c));
        ok = ok && !over;
        if (c->out_u8 && c->clamp_check) {
            struct qn_qgemm_out of = oref;  // same epilogue, FP32 out (R is never C for u8)
            of.out_u8 = false;
            qn_qgemm_ref(M, A, lda, W + c->w_off, ldw, N, K, scale, &of, Y, ldc);
            const float inv = 1.0f / o.out_scale;
            size_t bad = 0;
            for (size_t m = 0; m < M; m++)
                for (size_t n = 0; n < N; n++) {
                    const float q = rintf(Y[m * ldc + n] * inv) + (float)o.out_zp;
                    const int want = q < 0.0f ? 0 : q > (float)qmax ? qmax : (int)q;
                    qc_sat_top += q > (float)qmax;
                    const int got = Cgot[m * ldc + n], ref = Cref[m * ldc + n];
                    if ((got != want || ref != want) && bad++ == 0)
                        QT_CHECK(0, "clamp C[%zu][%zu]: got %d ref %d want %d (unclamped %g): %s",
                                 m, n, got, ref, want, (double)q, qc_str(c));
                }
            ok = ok && !bad;
        }
        if (memcmp(Cref, Cgot, M * ldc * esize) != 0) {
            ok = false;
            for (size_t i = 0; i < M * ldc; i++) {
                bool same = c->out_u8 ? Cref[i] == Cgot[i]
                                      : memcmp(Cref + 4 * i, Cgot + 4 * i, 4) == 0;
                if (!same) {
                    QT_CHECK(0, "C[%zu][%zu] got %.9g want %.9g: %s", i / ldc, i % ldc,
                             c->out_u8 ? (double)Cgot[i] : (double)((float *)Cgot)[i],
                             c->out_u8 ? (double)Cref[i] : (double)((float *)Cref)[i], qc_str(c));
                    break;
                }
            }
        }
        qn_qgemm_weights_free(&w);
    }
    free(W), free(A), free(scale), free(bias), free(R), free(Cref), qn_free(Cgot), free(Y);
    return ok;
}

static struct qcase qc_default(size_t M, size_t N, size_t K, int bits, int storage) {
    return (struct qcase){.M = M, .N = N, .K = K, .bits = bits, .storage = storage, .a_zp = 128};
}

// Threads 1 and 2, restoring the previous count.
static void qc_run_threads(struct qcase c) {
    const int saved = qn_threads();
    for (int t = 1; t <= 2; t++) {
        qn_threads_set(t);
        qc_run(&c);
    }
    qn_threads_set(saved);
}

// --- case families shared by the s8 and s4 tests (storage 8 or 4, bits the widest allowed) ---

// k_lt / k_eq / k_gt / k_div around every unroll (4, 8, 16 k) at several row counts.
static void qc_k_sweep(int bits, int storage) {
    const size_t kmax = qt_quick() ? 40 : 80;
    const size_t Ms[] = {1, 2, 5, 14, 15}, Ns[] = {8, 33};
    for (size_t k = 1; k <= kmax; k++)
        for (size_t i = 0; i < sizeof(Ms) / sizeof(Ms[0]); i++)
            for (size_t j = 0; j < sizeof(Ns) / sizeof(Ns[0]); j++) {
                struct qcase c = qc_default(Ms[i], Ns[j], k, bits, storage);
                c.a_zp = (int)(k * 37 % 256);
                if (!qc_run(&c)) return;
            }
}

// m_gt / n_gt / subtile: every edge tile against all kernel tiles (MR <= 14, NR <= 32).
static void qc_mn_sweep(int bits, int storage) {
    const size_t step = qt_quick() ? 5 : 1;
    for (size_t m = 1; m <= 31; m += step)
        for (size_t n = 1; n <= 70; n += step) {
            struct qcase c = qc_default(m, n, 21, bits, storage);
            c.out_u8 = (m + n) % 2;
            if (!qc_run(&c)) return;
        }
}

// strided_a / strided_c / slices of larger weights (ldw > K, offset start).
static void qc_strided(int bits, int storage) {
    const size_t Ms[] = {1, 3, 17}, Ks[] = {7, 64, 131};
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 3; j++) {
            struct qcase c = qc_default(Ms[i], 45, Ks[j], bits, storage);
            c.lda_pad = 5, c.ldc_pad = 3, c.ldw_pad = 11, c.w_off = 9;
            c.out_u8 = j % 2;
            qc_run(&c);
            c.out_u8 = !c.out_u8;
            c.residual = true;
            qc_run(&c);
        }
}

static void qc_zero_points(int bits, int storage) {
    const int zps[] = {0, 1, 128, 254, 255};
    for (int z = 0; z < 5; z++)
        for (int u8 = 0; u8 < 2; u8++) {
            struct qcase c = qc_default(19, 37, 77, bits, storage);
            c.a_zp = zps[z], c.out_u8 = u8;
            qc_run(&c);
            c.M = 1;
            qc_run(&c);
        }
}

// Every activation x residual placement x output type x bias, GEMM and GEMV, and the
// residual aliasing C. M = 30, K = 48: two full 14-row tiles with K a multiple of 4 (the
// AVX-512 kernel's assembly tile) and a 2-row edge, with and without the zero point.
static void qc_epilogues(int bits, int storage) {
    for (int act = QN_ACT_NONE; act <= QN_ACT_GELU; act++)
        for (int mode = 0; mode < 4; mode++)  // no residual, after, before, R == C
            for (int u8 = 0; u8 < 2; u8++)
                for (int b = 0; b < 2; b++) {
                    if (mode == 3 && u8) continue;
                    const size_t Ms[] = {1, 23, 30}, Ks[] = {45, 45, 48};
                    for (int mi = 0; mi < 3; mi++) {
                        struct qcase c = qc_default(Ms[mi], 50, Ks[mi], bits, storage);
                        if (mi == 2 && mode % 2) c.a_zp = 0;
                        c.act = (enum qn_act)act;
                        c.residual = mode > 0, c.before = mode == 2, c.residual_is_c = mode == 3;
                        c.out_u8 = u8, c.bias = b;
                        c.ldc_pad = 2;
                        qc_run(&c);
                    }
                }
}

// A = 255 against W = +-lim at large K: u8 x s8 pair sums reach 2 * 255 * 127 = 64770, past
// s16; any saturating path shows here. K = 65536 is the contract's bound (|acc| < 2^31).
static void qc_extremes(int bits, int storage) {
    const size_t Ks[] = {4096, 4099, 65536};
    const size_t nk = qt_quick() ? 2 : 3;
    for (size_t i = 0; i < nk; i++)
        for (int wf = QC_MAX; wf <= QC_MIN; wf++)
            for (int m = 0; m < 2; m++) {
                struct qcase c = qc_default(m ? 3 : 1, 40, Ks[i], bits, storage);
                c.afill = QC_MAX, c.wfill = (enum qc_fill)wf, c.a_zp = 0;
                qc_run(&c);
                c.a_zp = 255;  // acc = 0 exactly: A - zp = 0
                c.afill = QC_MAX;
                qc_run(&c);
                c.afill = QC_MIN;  // A - zp = -255 everywhere
                qc_run(&c);
            }
}

// u8 outputs of 1..8 bits (out_qmax 2^b - 1, 0 standing for 255): never above qmax, clamped
// exactly where the formula saturates (some outputs must), bit-exact. GEMM over several edge
// tiles and GEMV, plain and full epilogues, every output saturated (A = 255, W = +lim), threads.
static void qc_out_qmax(int bits, int storage) {
    const int qmaxes[] = {0, 1, 3, 15, 63, 127, 255};
    for (size_t q = 0; q < sizeof(qmaxes) / sizeof(qmaxes[0]); q++) {
        const size_t Ms[] = {1, 23, 28}, Ks[] = {45, 45, 48};  // 28, 48: the assembly tiles
        for (int mi = 0; mi < 3; mi++)
            for (int e = 0; e < 2; e++) {
                struct qcase c = qc_default(Ms[mi], 50, Ks[mi], bits, storage);
                c.out_u8 = true, c.out_qmax = qmaxes[q], c.clamp_check = true;
                c.ldc_pad = 3;
                if (e) c.act = QN_ACT_HSWISH, c.bias = c.residual = true, c.a_zp = 131;
                if (!qc_run(&c)) return;
                QT_CHECK(qc_sat_top > 0, "no output above qmax: %s", qc_str(&c));
            }
        // y >= ymax / 20 (the smallest weight scale), so 100 * qmax steps saturate them all;
        // 1e12 steps take y * inv_out past the s32 range (a conversion would wrap to INT32_MIN)
        for (int big = 0; big < 2; big++) {
            struct qcase c = qc_default(big ? 28 : 5, 40, big ? 100 : 99, bits, storage);
            c.out_u8 = true, c.out_qmax = qmaxes[q], c.clamp_check = true;
            c.afill = QC_MAX, c.wfill = QC_MAX, c.a_zp = 0;
            c.out_span = big ? 1e12f : 100.0f * (float)(qmaxes[q] ? qmaxes[q] : 255);
            if (!qc_run(&c)) return;
            QT_CHECK(qc_sat_top == c.M * c.N, "%zu of %zu saturated: %s", qc_sat_top, c.M * c.N,
                     qc_str(&c));
        }
    }
    struct qcase c = qc_default(97, 300, 260, bits, storage);  // both threads get work
    c.out_u8 = true, c.out_qmax = 15, c.bias = true, c.act = QN_ACT_RELU;
    qc_run_threads(c);
}

// Random shapes with primes and odd sizes, threads 1 and 2.
static void qc_random(int bits, int storage) {
    const size_t dims[] = {1, 2, 3, 5, 7, 13, 29, 31, 32, 33, 47, 64, 97, 127, 196, 211};
    const size_t nd = sizeof(dims) / sizeof(dims[0]);
    const int trials = qt_quick() ? 12 : 60;
    qt_seed(12345);
    for (int t = 0; t < trials; t++) {
        struct qcase c = qc_default(dims[qt_u64() % nd], dims[qt_u64() % nd],
                                    dims[qt_u64() % nd] * (size_t)qt_int(1, 3), bits, storage);
        c.a_zp = qt_int(0, 255);
        c.out_u8 = qt_int(0, 1), c.bias = qt_int(0, 1), c.residual = qt_int(0, 1);
        c.act = (enum qn_act)qt_int(0, QN_ACT_HSWISH);
        c.lda_pad = (size_t)qt_int(0, 3), c.ldc_pad = (size_t)qt_int(0, 3);
        c.out_qmax = (1 << qt_int(0, 8)) - 1;  // 0 (= 255), 1, 3, ..., 255
        c.seed = qt_u64();
        const uint64_t keep = qt_u64();
        qc_run_threads(c);
        qt_seed(keep);
    }
}

// Row shares larger than one chunk of A (qgemm.c runs a thread's row tiles in chunks of at most
// 192 KiB of A against each panel): several chunks, an uneven last one, and K deep enough for
// chunks of a single tile.
static void qc_chunks(int bits, int storage) {
    const size_t shapes[][3] = {{1000, 40, 400}, {503, 70, 1000}, {300, 33, 2000}, {60, 40, 16000}};
    for (size_t i = 0; i < 4; i++) {
        struct qcase c = qc_default(shapes[i][0], shapes[i][1], shapes[i][2], bits, storage);
        c.a_zp = (int)(37 * i + 5), c.bias = true, c.residual = i != 1, c.act = QN_ACT_RELU6;
        c.out_u8 = i == 1, c.ldc_pad = i;
        qc_run_threads(c);
    }
}

// Row strides of A that are multiples of 4 KiB put a tile's rows in one L1 set; qn_qgemm then
// reads a copy of A at another stride (each thread its own rows). {M, N, K, lda pad, threads}:
// full and edge tiles, a K tail (no assembly tile), 4 threads on 2 panels (tn = tm = 2: the
// M split, each thread copying only its share), a share past 4 MiB (copied chunk by chunk),
// bias / residual / zero point / u8 out.
static void qc_a_stride(int bits, int storage) {
    const size_t shapes[][5] = {{30, 70, 4000, 96, 2},    {60, 64, 4096, 0, 4}, {17, 96, 4093, 3, 2},
                                {45, 40, 5000, 3192, 2}, {29, 33, 2048, 2048, 2}, {1030, 40, 4096, 0, 2}};
    const int saved = qn_threads();
    for (size_t i = 0; i < 6; i++) {
        struct qcase c = qc_default(shapes[i][0], shapes[i][1], shapes[i][2], bits, storage);
        c.lda_pad = shapes[i][3];
        c.a_zp = i % 2 ? 0 : 91, c.bias = i != 1, c.residual = i != 2, c.out_u8 = i == 3;
        c.act = i == 3 ? QN_ACT_RELU6 : QN_ACT_NONE;
        for (int t = 1; t <= (int)shapes[i][4]; t *= 2) {
            qn_threads_set(t);
            qc_run(&c);
        }
    }
    qn_threads_set(saved);
}

// FP32 outputs past the streaming threshold (set to 0 here: every output streams) store full
// tiles of 64-byte aligned rows non-temporally: aligned and unaligned row strides, partial
// panels, bias / residual / zero point, the residual being C itself.
static void qc_stream(int bits, int storage) {
    qn_stream_bytes_set(0);
    // {M, N, K, ldc pad}; only the FP32 epilogue without activation runs the assembly tiles
    const size_t shapes[][4] = {{45, 64, 40, 0},  {200, 80, 96, 16}, {31, 56, 12, 8},
                                {100, 64, 36, 0}, {100, 48, 20, 1},  {29, 96, 1000, 0}};
    for (size_t i = 0; i < 6; i++) {
        struct qcase c = qc_default(shapes[i][0], shapes[i][1], shapes[i][2], bits, storage);
        c.ldc_pad = shapes[i][3];
        c.a_zp = i % 2 ? 0 : 77, c.bias = i != 2, c.residual = i != 0, c.residual_is_c = i == 3;
        c.act = i == 2 ? QN_ACT_RELU6 : QN_ACT_NONE;
        qc_run_threads(c);
    }
    qn_stream_bytes_set(-1);
}

static void qc_run_void(void *c) { qc_run(c); }

// Two threads asked for, one given (qt_in_starved_team): the one thread must compute both
// threads' shares of the grid. {M, N, K}: panels split (tn = 2), rows split (AMX: 19 row
// tiles), an A copied at another stride (K = 4096), s4 unpacked per share.
static void qc_starved_team(int bits, int storage) {
    const size_t shapes[][3] = {{97, 300, 260}, {600, 70, 130}, {60, 64, 4096}};
    const int saved = qn_threads();
    qn_threads_set(2);
    for (size_t i = 0; i < 3; i++) {
        struct qcase c = qc_default(shapes[i][0], shapes[i][1], shapes[i][2], bits, storage);
        c.bias = true, c.act = QN_ACT_RELU, c.out_u8 = i == 1;
        qt_in_starved_team(qc_run_void, &c);
    }
    qn_threads_set(saved);
}

// Shapes large enough that both threads get work in both grid directions, GEMV included.
static void qc_threads_big(int bits, int storage) {
    // the quick set (first 6) has GEMMs past qgemm.c's 1e6-MAC threading threshold split both
    // ways: by panels 64x640x512 (B, 330 KB, over a quarter of the block kept in L2), by rows
    // 600x70x130 (AMX: 19 row tiles of 32), 196x576x96 (a 1x1 layer at batch 1: B within a
    // quarter of the block) and 112x80x128 with u8 out (A read in place); and 196x160x576,
    // whole 64-byte k steps but rows not a multiple of 16 (AMX: A read in place, the last row
    // tile through the kernel's zero-filled copy)
    const size_t shapes[][3] = {{1, 1000, 999}, {64, 640, 512}, {196, 576, 96},  {600, 70, 130},
                                {112, 80, 128}, {196, 160, 576}, {1, 4096, 256}, {200, 8, 100},
                                {29, 2, 1000},  {97, 300, 260}};
    const size_t n = qt_quick() ? 6 : 10;
    for (size_t i = 0; i < n; i++) {
        struct qcase c = qc_default(shapes[i][0], shapes[i][1], shapes[i][2], bits, storage);
        c.bias = true, c.act = QN_ACT_RELU, c.out_u8 = i == 4;
        qc_run_threads(c);
    }
}
