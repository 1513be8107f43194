// FP32 GEMM with a pre-packed B operand: for inference, where B holds constant weights.
//
// Packing once removes the B packing from every call and lays the weights out in the
// micro-kernel's NR-column panels, KC rows deep (at AVX-512, 48-column panels for the 9 x 48
// kernel where N % 48 is 0 or more than 32). The layout belongs to the ISA level it was
// packed at (recorded in `isa`); qn_f32_gemm_packed always runs that level's kernels, so a
// struct packed at one level stays valid when qn_isa() is lowered later.
#pragma once

#include "gemm.h"

struct qn_f32_packed_b {
    size_t K, N;      // op(B) is K x N
    enum qn_isa isa;  // level whose kernels and blocking the panels follow
    size_t nr, kc;    // panel width (columns: that level's, or its wide kernel's) and depth (rows)
    float *data;      // [ceil(K / kc) blocks][ceil(N / nr) panels][kc][nr], zero-padded in n
    size_t bytes;
};

// Packs op(B) (K x N): from B[K][ldb] when !trans_b, or from B[N][ldb] read transposed when
// trans_b (weights stored [out][in], as linear layers keep them). ldb may exceed the row
// length (a slice of a larger tensor). Returns QN_ERR_ARG on a bad shape or stride,
// QN_ERR_NOMEM when the allocation fails; on error `pb` is left empty.
enum qn_status qn_f32_pack_b(struct qn_f32_packed_b *pb, bool trans_b, size_t K, size_t N,
                             const float *B, size_t ldb);

// C[M][N] = A[M][lda] * B (alpha = 1, beta = 0: C is never read, it may hold NaNs), then the
// epilogue (ep may be NULL). Runs on qn_threads() threads.
void qn_f32_gemm_packed(size_t M, const float *A, size_t lda, const struct qn_f32_packed_b *pb,
                        float *C, size_t ldc, const struct qn_epilogue *ep);

// Name of the micro-kernel qn_f32_gemm_packed runs on pb (one thread; a 2-thread column split
// of narrow panels may run the wide kernel on a part), for the record of benchmarks; static.
const char *qn_f32_gemm_packed_variant(const struct qn_f32_packed_b *pb);

// Frees the panels and empties the struct (safe on an empty or already freed struct).
void qn_f32_packed_b_free(struct qn_f32_packed_b *pb);
