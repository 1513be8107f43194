// Quantized GEMM with real packed s4 weights (storage_bits 4, two per byte): every ISA
// variant bit-exact with qn_qgemm_ref, GEMM (unpack + s8 kernel) and GEMV (in-register
// unpack) paths, every epilogue, strided views, threads 1 and 2.
#include "qgemm-check.h"

static void pack_s4_validation(void) {
    int8_t W[3 * 9];
    const float scale[3] = {1, 1, 1};
    for (int i = 0; i < 27; i++) W[i] = (int8_t)(i % 15 - 7);  // -7..7
    struct qn_qgemm_weights w;
    QT_CHECK(qn_qgemm_pack(&w, W, 9, 3, 9, scale, 4, 4) == QN_OK, "valid s4 pack refused");
    QT_CHECK(w.storage_bits == 4 && w.bits == 4, "fields");
    qn_qgemm_weights_free(&w);
    for (int bits = 5; bits <= 8; bits++)
        QT_CHECK(qn_qgemm_pack(&w, W, 9, 3, 9, scale, bits, 4) == QN_ERR_ARG, "storage 4, bits %d", bits);
    W[4] = -8;  // two's-complement s4 holds -8, the symmetric range does not
    QT_CHECK(qn_qgemm_pack(&w, W, 9, 3, 9, scale, 4, 4) == QN_ERR_ARG, "-8 accepted");
    W[4] = 4;
    QT_CHECK(qn_qgemm_pack(&w, W, 9, 3, 9, scale, 3, 4) == QN_ERR_ARG, "4 at 3 bits accepted");
    for (int i = 0; i < 27; i++) W[i] = (int8_t)(i % 3 - 1);
    QT_CHECK(qn_qgemm_pack(&w, W, 9, 3, 9, scale, 2, 4) == QN_OK, "2-bit in s4 refused");
    qn_qgemm_weights_free(&w);
}

// Real packed storage: half the bytes of the s8 container for the same tensor.
static void s4_storage_is_half(void) {
    const size_t N = 64, K = 256;
    int8_t *W = malloc(N * K);
    float *scale = malloc(N * sizeof(float));
    qt_seed(7);
    qt_fill_s8(W, N * K, -7, 7);
    qt_fill_f32(scale, N, 0.01f, 0.02f);
    struct qn_qgemm_weights w4, w8;
    QT_CHECK(qn_qgemm_pack(&w4, W, K, N, K, scale, 4, 4) == QN_OK, "s4 pack");
    QT_CHECK(qn_qgemm_pack(&w8, W, K, N, K, scale, 4, 8) == QN_OK, "s8 pack");
    QT_CHECK(2 * w4.packed_bytes == w8.packed_bytes, "s4 %zu bytes vs s8 %zu", w4.packed_bytes,
             w8.packed_bytes);
    QT_CHECK(w4.packed_bytes == N * K / 2, "s4 bytes %zu, want %zu", w4.packed_bytes, N * K / 2);
    // Same weights through both storages give identical outputs.
    const size_t Ms[] = {1, 9};
    for (int mi = 0; mi < 2; mi++) {
        const size_t M = Ms[mi];
        uint8_t *A = malloc(M * K);
        float *c4 = malloc(M * N * sizeof(float)), *c8 = malloc(M * N * sizeof(float));
        qt_fill_u8(A, M * K);
        const struct qn_qgemm_out o = {.a_scale = 0.1f, .a_zp = 77};
        qn_qgemm(M, A, K, &w4, &o, c4, N);
        qn_qgemm(M, A, K, &w8, &o, c8, N);
        QT_CHECK(memcmp(c4, c8, M * N * sizeof(float)) == 0, "s4 and s8 storage differ at M=%zu", M);
        free(A), free(c4), free(c8);
    }
    const char *g = qn_qgemm_variant(4, false), *v = qn_qgemm_variant(4, true);
    QT_CHECK(strstr(g, "qs4_unpack") && strstr(v, "qs4_gemv"), "variants %s, %s", g, v);
    qn_qgemm_weights_free(&w4);
    qn_qgemm_weights_free(&w8);
    free(W), free(scale);
}

// Nibble order: a single nonzero weight at every k position of an 8-group, both signs.
static void nibble_positions(void) {
    const size_t N = 3, K = 16;
    for (size_t k = 0; k < K; k++)
        for (int v = -7; v <= 7; v += 14) {
            int8_t W[3 * 16] = {0};
            W[1 * K + k] = (int8_t)v;
            const float scale[3] = {1, 1, 1};
            uint8_t A[16];
            for (size_t i = 0; i < K; i++) A[i] = (uint8_t)(i + 1);
            struct qn_qgemm_weights w;
            QT_CHECK(qn_qgemm_pack(&w, W, K, N, K, scale, 4, 4) == QN_OK, "pack");
            const struct qn_qgemm_out o = {.a_scale = 1.0f};
            float C[3];
            qn_qgemm(1, A, K, &w, &o, C, N);
            QT_CHECK(C[0] == 0.0f && C[2] == 0.0f && C[1] == (float)(v * (int)(k + 1)),
                     "k=%zu v=%d: %g %g %g", k, v, C[0], C[1], C[2]);
            qn_qgemm_weights_free(&w);
        }
}

static void k_sweep(void) { qc_k_sweep(4, 4); }
static void mn_subtile(void) { qc_mn_sweep(4, 4); }
static void strided_a_c_w(void) { qc_strided(4, 4); }
static void zero_points(void) { qc_zero_points(4, 4); }
static void epilogues(void) { qc_epilogues(4, 4); }
static void extremes(void) { qc_extremes(4, 4); }
static void out_qmax(void) { qc_out_qmax(4, 4); }
static void random_shapes_threads(void) { qc_random(4, 4); }
static void threads_big(void) { qc_threads_big(4, 4); }
static void starved_team(void) { qc_starved_team(4, 4); }
static void chunks(void) { qc_chunks(4, 4); }
static void stream(void) { qc_stream(4, 4); }
static void a_stride(void) { qc_a_stride(4, 4); }

static void bits_2_to_4(void) {
    for (int bits = 2; bits <= 4; bits++) {
        struct qcase c = qc_default(17, 41, 93, bits, 4);
        c.out_u8 = bits % 2;
        c.out_qmax = c.out_u8 ? (1 << bits) - 1 : 0;  // a u8 activation of the same width
        qc_run(&c);
        c.M = 1;
        qc_run(&c);
        c.M = 5, c.wfill = QC_MIN, c.afill = QC_MAX, c.a_zp = 0;
        qc_run(&c);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    qt_each_amx = true;  // the INT8 GEMM's VNNI and AMX kernels both
    QT_RUN_EACH_ISA(pack_s4_validation);
    QT_RUN_EACH_ISA(s4_storage_is_half);
    QT_RUN_EACH_ISA(nibble_positions);
    QT_RUN_EACH_ISA(k_sweep);
    QT_RUN_EACH_ISA(mn_subtile);
    QT_RUN_EACH_ISA(strided_a_c_w);
    QT_RUN_EACH_ISA(zero_points);
    QT_RUN_EACH_ISA(epilogues);
    QT_RUN_EACH_ISA(extremes);
    QT_RUN_EACH_ISA(bits_2_to_4);
    QT_RUN_EACH_ISA(out_qmax);
    QT_RUN_EACH_ISA(random_shapes_threads);
    QT_RUN_EACH_ISA(threads_big);
    QT_RUN_EACH_ISA(starved_team);
    QT_RUN_EACH_ISA(chunks);
    QT_RUN_EACH_ISA(stream);
    QT_RUN_EACH_ISA(a_stride);
    return qt_finish(argv[0]);
}
