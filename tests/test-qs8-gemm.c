// Quantized GEMM with s8 containers (2..8 bits): every ISA variant bit-exact with
// qn_qgemm_ref, GEMM and GEMV paths, every epilogue, strided views, threads 1 and 2.
#include "qgemm-check.h"
#include "qs8-gemm/qs8-gemm.h"
#include "qs8-gemm/qs8-requant.h"

static void pack_rejects_bad_args(void) {
    int8_t W[4 * 6] = {0};
    const float scale[4] = {1, 1, 1, 1};
    struct qn_qgemm_weights w;
    QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 6, scale, 8, 8) == QN_OK, "valid pack refused");
    qn_qgemm_weights_free(&w);
    QT_CHECK(w.packed == NULL, "free leaves pointers");
    QT_CHECK(qn_qgemm_pack(&w, W, 6, 0, 6, scale, 8, 8) == QN_ERR_ARG, "N = 0");
    QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 0, scale, 8, 8) == QN_ERR_ARG, "K = 0");
    QT_CHECK(qn_qgemm_pack(&w, W, 5, 4, 6, scale, 8, 8) == QN_ERR_ARG, "ldw < K");
    QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 6, scale, 1, 8) == QN_ERR_ARG, "bits 1");
    QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 6, scale, 9, 8) == QN_ERR_ARG, "bits 9");
    QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 6, scale, 8, 16) == QN_ERR_ARG, "storage 16");
    QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 6, scale, 8, 2) == QN_ERR_ARG, "storage 2");
    QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 6, scale, 5, 4) == QN_ERR_ARG, "storage 4 at 5 bits");
    QT_CHECK(w.packed == NULL && w.col_sum == NULL, "failed pack leaves buffers");
    // Range: +-(2^(bits-1) - 1) at every width; -128 never fits.
    for (int bits = 2; bits <= 8; bits++) {
        const int lim = (1 << (bits - 1)) - 1;
        W[7] = (int8_t)lim;
        QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 6, scale, bits, 8) == QN_OK, "bits %d: +lim", bits);
        qn_qgemm_weights_free(&w);
        W[7] = (int8_t)-lim;
        QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 6, scale, bits, 8) == QN_OK, "bits %d: -lim", bits);
        qn_qgemm_weights_free(&w);
        W[7] = (int8_t)(lim + 1);
        QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 6, scale, bits, 8) == QN_ERR_ARG, "bits %d: lim+1", bits);
        W[7] = (int8_t)(-lim - 1);
        QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 6, scale, bits, 8) == QN_ERR_ARG, "bits %d: -lim-1", bits);
    }
    W[7] = 0;
    // Values past K in a slice (ldw > K) are not part of the tensor and are not checked.
    W[5] = -128;
    QT_CHECK(qn_qgemm_pack(&w, W, 6, 4, 5, scale, 8, 8) == QN_OK, "slice checked past K");
    QT_CHECK(w.isa == qn_isa() && w.N == 4 && w.K == 5 && w.bits == 8 && w.storage_bits == 8,
             "struct fields");
    QT_CHECK(w.col_sum[0] == 0, "col_sum counts past K");
    qn_qgemm_weights_free(&w);
}

static void variant_names(void) {
    const char *g = qn_qgemm_variant(8, false), *v = qn_qgemm_variant(8, true);
    const char *level = qn_amx() ? "amx" : qn_isa_name(qn_isa());
    QT_CHECK(g && strstr(g, "qs8_gemm"), "gemm variant %s", g);
    QT_CHECK(v && strstr(v, "qs8_gemv") && strstr(v, qn_isa_name(qn_isa())), "gemv variant %s", v);
    QT_CHECK(strstr(g, level) != NULL, "variant %s not for level %s", g, level);
    QT_CHECK(qn_amx() == (qn_isa() == QN_ISA_AVX512 && qn_amx_enabled()), "AMX in use off the AVX-512 level");
}

static void k_sweep(void) { qc_k_sweep(8, 8); }
static void mn_subtile(void) { qc_mn_sweep(8, 8); }
static void strided_a_c_w(void) { qc_strided(8, 8); }
static void zero_points(void) { qc_zero_points(8, 8); }
static void epilogues(void) { qc_epilogues(8, 8); }
static void extremes_no_saturation(void) { qc_extremes(8, 8); }
static void out_qmax(void) { qc_out_qmax(8, 8); }
static void random_shapes_threads(void) { qc_random(8, 8); }
static void threads_big(void) { qc_threads_big(8, 8); }
static void starved_team(void) { qc_starved_team(8, 8); }
static void chunks(void) { qc_chunks(8, 8); }
static void stream(void) { qc_stream(8, 8); }
static void a_stride(void) { qc_a_stride(8, 8); }

// The AMX kernel on its own, both edge paths, against the reference: unpadded A (rows past mr
// and k past kc in a buffer of exactly mr x kc bytes, so reading them would read other rows
// or past the end: zero-filled stack copies instead) and the driver's zero-padded copy (whole
// tiles read; k past kc meets the next panel's nonzero weights and must be multiplied by the
// copy's zeros). Panel 0 of two, the next one full of +-127. Outputs in turn: FP32 + bias,
// FP32 + residual, u8 with ReLU6.
static void amx_edges(void) {
    const size_t N = 64, Kmax = 200;
    const size_t mrs[] = {1, 5, 15, 16, 17, 31, 32}, kcs[] = {1, 5, 60, 64, 65, 96, 128, 200};
    const size_t ncs[] = {1, 17, 32};
    int8_t *W = malloc(N * Kmax);
    float scale[64], bias[64];
    uint8_t *apad = qn_alloc(32 * 256);
    float *got = malloc(32 * 32 * sizeof(float)), *want = malloc(32 * 32 * sizeof(float));
    float *res = malloc(32 * 32 * sizeof(float));
    qt_seed(901);
    for (size_t n = 0; n < N; n++) scale[n] = qt_float(0.001f, 0.01f), bias[n] = qt_float(-1.0f, 1.0f);
    for (size_t i = 0; i < 32 * 32; i++) res[i] = qt_float(-4.0f, 4.0f);
    size_t cases = 0, bad = 0;
    for (size_t ki = 0; ki < sizeof(kcs) / sizeof(kcs[0]); ki++) {
        const size_t K = kcs[ki];
        for (size_t i = 0; i < N * K; i++) W[i] = (int8_t)(i / K >= 32 ? (i % 2 ? 127 : -127) : qt_int(-127, 127));
        struct qn_qgemm_weights w;
        if (qn_qgemm_pack(&w, W, K, N, K, scale, 8, 8) != QN_OK) {
            QT_CHECK(0, "pack K=%zu", K);
            continue;
        }
        for (size_t mi = 0; mi < sizeof(mrs) / sizeof(mrs[0]); mi++)
            for (size_t ni = 0; ni < sizeof(ncs) / sizeof(ncs[0]); ni++)
                for (int pad = 0; pad < 2; pad++) {
                    const size_t mr = mrs[mi], nc = ncs[ni], ldp = QN_DIV_UP(K, 64) * 64;
                    uint8_t *A = malloc(mr * K);
                    for (size_t i = 0; i < mr * K; i++) A[i] = (uint8_t)qt_int(0, 255);
                    memset(apad, 0, 32 * 256);
                    for (size_t r = 0; r < mr; r++) memcpy(apad + r * ldp, A + r * K, K);
                    const int kind = (int)((mi + ni + (size_t)pad) % 3);
                    const struct qn_qgemm_out out = {
                        .a_scale = 0.5f,
                        .a_zp = (int)(mr * 7 % 256),
                        .ep = {.bias = kind != 1 ? bias : NULL, .residual = kind == 1 ? res : NULL, .ldr = 32,
                               .act = kind == 2 ? QN_ACT_RELU6 : QN_ACT_NONE},
                        .out_u8 = kind == 2,
                        .out_scale = 0.05f,
                        .out_zp = 9,
                    };
                    memset(want, 0, 32 * 32 * sizeof(float)), memset(got, 0, 32 * 32 * sizeof(float));
                    qn_qgemm_ref(mr, A, K, W, K, nc, K, scale, &out, want, 32);
                    const struct qn_qgemm_params p = {
                        .scale = scale, .col_sum = w.col_sum, .bias = out.ep.bias, .residual = out.ep.residual,
                        .ldr = 32, .a_scale = 0.5f, .a_zp = out.a_zp, .act = out.ep.act, .out_u8 = out.out_u8,
                        .inv_out = 1.0f / out.out_scale, .out_zp = 9.0f, .out_qmax = 255.0f, .a_pad = pad,
                    };
                    qn_qs8_gemm_amx_begin();
                    qn_qs8_gemm_ukernel_32x32c4__amx(mr, nc, K, pad ? apad : A, pad ? ldp : K, w.packed, got, 32, &p);
                    qn_qs8_gemm_amx_end();
                    const size_t es = out.out_u8 ? 1 : 4;
                    for (size_t i = 0; i < mr; i++)
                        for (size_t j = 0; j < nc; j++)
                            if (memcmp((char *)got + (i * 32 + j) * es, (char *)want + (i * 32 + j) * es, es) &&
                                bad++ < 3)
                                QT_CHECK(0, "mr=%zu nc=%zu K=%zu pad=%d out %d: (%zu,%zu) differs", mr, nc, K, pad,
                                         kind, i, j);
                    cases++;
                    free(A);
                }
        qn_qgemm_weights_free(&w);
    }
    QT_CHECK(cases == 8 * 7 * 3 * 2 && !bad, "%zu values differ in %zu cases", bad, cases);
    free(W), free(got), free(want), free(res), qn_free(apad);
}

static void bits_2_to_8(void) {
    for (int bits = 2; bits <= 8; bits++) {
        struct qcase c = qc_default(17, 41, 93, bits, 8);
        c.out_u8 = bits % 2;
        c.out_qmax = c.out_u8 ? (1 << bits) - 1 : 0;  // a u8 activation of the same width
        qc_run(&c);
        c.M = 1;
        qc_run(&c);
        c.M = 5, c.wfill = QC_MIN, c.afill = QC_MAX, c.a_zp = 0;
        qc_run(&c);
    }
}

// qn_requant_fast (the folded epilogue of the vector kernels) against the reference sequence,
// value by value: y on both sides of every clamp, exact .5 ties of y * inv_out, +-0, huge
// and tiny magnitudes, for NONE / RELU / RELU6, zero points 0..qmax and qmax 1..255.
static void requant_fold(void) {
    qt_seed(77);
    const enum qn_act acts[] = {QN_ACT_NONE, QN_ACT_RELU, QN_ACT_RELU6};
    const float invs[] = {1e-6f, 0.01f, 0.5f, 1.0f, 3.0f, 42.5f, 255.0f / 6.0f, 1e4f, 3e38f};
    const int qmaxes[] = {1, 15, 127, 255};
    size_t checked = 0, bad = 0;
    for (size_t a = 0; a < 3; a++)
        for (size_t ii = 0; ii < sizeof(invs) / sizeof(invs[0]); ii++)
            for (size_t qi = 0; qi < 4; qi++) {
                const int qmax = qmaxes[qi];
                const int zps[] = {0, 1, qmax / 2, qmax};
                for (size_t zi = 0; zi < 4; zi++) {
                    const float inv = invs[ii];
                    const int zp = zps[zi];
                    struct qn_requant_fast r = {0};
                    QT_CHECK(qn_requant_fast_init(&r, acts[a], false, true, inv, zp, qmax), "init refused");
                    for (int i = 0; i < 400; i++) {
                        float y;
                        switch (i % 8) {
                        case 0: y = qt_float(-8.0f, 8.0f); break;
                        case 1: y = ((float)qt_int(-600, 600) + 0.5f) / inv; break;  // ties (up to rounding)
                        case 2: y = (float)qt_int(-600, 600) / inv; break;
                        case 3: y = qt_float(5.9f, 6.1f); break;
                        case 4: y = i % 16 < 8 ? 0.0f : -0.0f; break;
                        case 5: y = qt_float(-1.0f, 1.0f) * 1e30f; break;
                        case 6: y = qt_float(-1.0f, 1.0f) * 1e-30f; break;
                        default: y = qt_float(-300.0f, 300.0f) / inv; break;
                        }
                        float q = rintf(qn_act_ref(acts[a], y) * inv) + (float)zp;
                        q = q < 0.0f ? 0.0f : (q > (float)qmax ? (float)qmax : q);
                        const uint8_t want = (uint8_t)q, got = qn_requant_fast_ref(&r, y);
                        if (got != want && bad++ < 3)
                            QT_CHECK(0, "act=%s inv=%g zp=%d qmax=%d y=%.9g: got %d want %d",
                                     qn_act_name(acts[a]), (double)inv, zp, qmax, (double)y, got, want);
                        checked++;
                    }
                }
            }
    QT_CHECK(checked > 100000 && !bad, "%zu of %zu values differ", bad, checked);
    struct qn_requant_fast r = {0};
    QT_CHECK(!qn_requant_fast_init(&r, QN_ACT_HSWISH, false, true, 1.0f, 0, 255), "hswish folded");
    QT_CHECK(!qn_requant_fast_init(&r, QN_ACT_RELU, true, true, 1.0f, 0, 255), "residual folded");
    QT_CHECK(!qn_requant_fast_init(&r, QN_ACT_RELU, false, false, 1.0f, 0, 255), "FP32 out folded");
    QT_CHECK(!qn_requant_fast_init(&r, QN_ACT_RELU, false, true, -1.0f, 0, 255), "negative scale folded");
}

int main(int argc, char **argv) {
    (void)argc;
    qt_each_amx = true;  // the INT8 GEMM's VNNI and AMX kernels both
    QT_RUN(requant_fold);
    QT_RUN_EACH_ISA(pack_rejects_bad_args);
    QT_RUN_EACH_ISA(variant_names);
    QT_RUN_EACH_ISA(k_sweep);
    QT_RUN_EACH_ISA(mn_subtile);
    QT_RUN_EACH_ISA(strided_a_c_w);
    QT_RUN_EACH_ISA(zero_points);
    QT_RUN_EACH_ISA(epilogues);
    QT_RUN_EACH_ISA(extremes_no_saturation);
    QT_RUN_EACH_ISA(bits_2_to_8);
    QT_RUN_EACH_ISA(out_qmax);
    QT_RUN_EACH_ISA(random_shapes_threads);
    QT_RUN_EACH_ISA(threads_big);
    QT_RUN_EACH_ISA(starved_team);
    QT_RUN_EACH_ISA(chunks);
    QT_RUN_EACH_ISA(stream);
    QT_RUN_EACH_ISA(a_stride);
    if (qn_amx_supported()) {
        const enum qn_isa isa = qn_isa();
        qn_isa_set(QN_ISA_AVX512);  // the panels of the AVX-512 level
        QT_RUN(amx_edges);
        qn_isa_set(isa);
    } else {
        printf("  skip  amx_edges: no AMX on this machine (not counted)\n");
    }
    return qt_finish(argv[0]);
}
