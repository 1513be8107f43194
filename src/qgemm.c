// Quantized GEMM operator. Placeholder: keeps the unpacked weights and forwards to the
// reference until the packed kernels land.
#include <string.h>

#include "gemm.h"

enum qn_status qn_qgemm_pack(struct qn_qgemm_weights *w, const int8_t *W, size_t ldw, size_t N,
                             size_t K, const float *scale, int bits, int storage_bits) {
    memset(w, 0, sizeof(*w));
    if (bits < 2 || bits > 8 || (storage_bits != 8 && storage_bits != 4) ||
        (storage_bits == 4 && bits > 4) || ldw < K || N == 0 || K == 0)
        return QN_ERR_ARG;
    const int lim = (1 << (bits - 1)) - 1;
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < K; k++)
            if (W[n * ldw + k] > lim || W[n * ldw + k] < -lim) return QN_ERR_ARG;
    int8_t *p = qn_alloc(N * K);
    w->col_sum = qn_alloc(N * sizeof(int32_t));
    w->scale = qn_alloc(N * sizeof(float));
    if (!p || !w->col_sum || !w->scale) {
        qn_free(p);
        qn_qgemm_weights_free(w);
        return QN_ERR_NOMEM;
    }
    for (size_t n = 0; n < N; n++) {
        int32_t s = 0;
        for (size_t k = 0; k < K; k++) s += (p[n * K + k] = W[n * ldw + k]);
        w->col_sum[n] = s;
        w->scale[n] = scale[n];
    }
    w->N = N, w->K = K, w->bits = bits, w->storage_bits = storage_bits, w->isa = qn_isa();
    w->packed = p, w->packed_bytes = N * K;
    return QN_OK;
}

void qn_qgemm_weights_free(struct qn_qgemm_weights *w) {
    qn_free(w->packed);
    qn_free(w->col_sum);
    qn_free(w->scale);
    memset(w, 0, sizeof(*w));
}

void qn_qgemm(size_t M, const uint8_t *A, size_t lda, const struct qn_qgemm_weights *w,
              const struct qn_qgemm_out *out, void *C, size_t ldc) {
    qn_qgemm_ref(M, A, lda, w->packed, w->K, w->N, w->K, w->scale, out, C, ldc);
}

const char *qn_qgemm_variant(int storage_bits, bool gemv) { return "qn_qgemm_ref"; }
