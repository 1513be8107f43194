// Quantized GEMM with s8 containers (2..8 bits): every ISA variant bit-exact with
// qn_qgemm_ref, GEMM and GEMV paths, every epilogue, strided views, threads 1 and 2.
#include "qgemm-check.h"

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
    QT_CHECK(g && strstr(g, "qs8_gemm") && strstr(g, qn_isa() == QN_ISA_AVX512 ? "avx512" : ""),
             "gemm variant %s", g);
    QT_CHECK(v && strstr(v, "qs8_gemv"), "gemv variant %s", v);
    QT_CHECK(strstr(g, qn_isa_name(qn_isa())) != NULL, "variant %s not for level %s", g,
             qn_isa_name(qn_isa()));
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

int main(int argc, char **argv) {
    (void)argc;
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
    return qt_finish(argv[0]);
}
