// FP32 GEMM operator: pack -> macro-kernel -> micro-kernel (BLIS), with a direct path for
// small M and a pre-packed-B entry point for constant weights.
//
// Loop nest of the blocked path, per thread on its own block of C (columns, or rows when N
// is narrow):
//   jc (NC columns) -> pc (KC deep) -> pack B panel (KC x NC)
//     -> ic (MC rows) -> pack A block (MC x KC) -> ir (MR) -> jr (NR) -> micro-kernel
// The A micro-panel (KC x MR, 14 KiB at AVX-512) stays in L1 while the B panel streams
// through it from L2 (measured ~8% faster at 1024^3 than jr outside ir, which keeps the
// 32 KiB B micro-panel in L1 but lets the streaming A panel evict it).
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "gemm-f32-packed.h"
#include "gemm.h"
#include "f32-gemm/f32-gemm.h"

// --- per-ISA configuration ---

struct f32_gemm_config {
    qn_f32_gemm_ukernel_fn ukernel;  // MR x NR on packed panels
    qn_f32_gemm_ukernel_lda_fn ukernel_lda;  // the same with A in place, or NULL
    qn_f32_gemm_wide_fn wide;        // blocks of wide_nr-column tiles, A in place, or NULL
    qn_f32_gemm_small_fn small;      // <= 4 rows x NR, A in place
    qn_f32_gemm_dot_fn dot;          // <= 4 x 4 dot products, op(B) = B^T in place
    qn_f32_gemv_fn gemv;             // M = 1, B in place
    qn_f32_gemm_packa_fn packa;      // one MR-row panel of A
    qn_f32_gemm_packb_fn packb;      // one NR-column panel of B
    size_t mr, nr;
    size_t mr_alt;                   // another row count ukernel_lda runs exactly, or 0
    size_t wide_nr;                  // wide's tile width: pre-packed B of such N gets panels this wide
    size_t wide_min_tail;            // narrowest last column tile wide takes (narrower: the NR kernel)
    const char *wide_name;
    size_t mc, kc, nc;               // A block (L2), B panel depth, B panel width (L3)
    const char *name;
};

static struct f32_gemm_config g_config[QN_ISA_COUNT];
static pthread_once_t g_config_once = PTHREAD_ONCE_INIT;

static void config_init(void) {
    const struct f32_gemm_config scalar = {
        .ukernel = qn_f32_gemm_ukernel_4x8__scalar,
        .small = qn_f32_gemm_small_ukernel_4x8__scalar,
        .dot = qn_f32_gemm_dot_ukernel_4x4__scalar,
        .gemv = qn_f32_gemv_ukernel__scalar,
        .packa = qn_f32_gemm_packa__scalar,
        .packb = qn_f32_gemm_packb__scalar,
        .mr = 4, .nr = 8, .mc = 128, .kc = 256, .nc = 1024,
        .name = "qn_f32_gemm_ukernel_4x8__scalar",
    };
    for (int i = 0; i < QN_ISA_COUNT; i++) g_config[i] = scalar;
    // AVX2: B micro-panel 256 x 16 x 4 B = 16 KiB (L1), A block 144 x 256 x 4 B = 144 KiB, B
    // block 256 x 1024 x 4 B = 1 MiB (NC 2048, a 2 MiB block, ran the AVX2 level 17-23% slower
    // where N > 1024 on the Xeon with AMX, QNAS_ISA=avx2, 1 thread, medians of 3 runs, GFLOP/s:
    // 2048^3 74-78 -> 91-94, 64x4096x4096 56-57 -> 69-73, 2 threads 118-120 -> 139-148).
    const struct f32_gemm_config avx2 = {
        .ukernel = qn_f32_gemm_ukernel_6x16__avx2,
        .ukernel_lda = qn_f32_gemm_ukernel_6x16_lda__avx2,
        .wide = qn_f32_gemm_wide_6x16__avx2,
        .small = qn_f32_gemm_small_ukernel_4x16__avx2,
        .dot = qn_f32_gemm_dot_ukernel_4x4__avx2,
        .gemv = qn_f32_gemv_ukernel__avx2,
        .packa = qn_f32_gemm_packa_6__avx2,
        .packb = qn_f32_gemm_packb_16__avx2,
        .mr = 6, .nr = 16, .wide_nr = 16, .wide_min_tail = 1, .mc = 144, .kc = 256, .nc = 1024,
        .name = "qn_f32_gemm_ukernel_6x16__avx2",
        .wide_name = "qn_f32_gemm_wide_6x16__avx2",
    };
    g_config[QN_ISA_AVX2] = avx2;
    g_config[QN_ISA_AVXVNNI] = avx2;  // VNNI adds nothing to FP32
    // AVX-512: A micro-panel 256 x 14 x 4 B = 14 KiB of the 48 KiB L1d, A block
    // 336 x 256 x 4 B = 336 KiB and the B block 256 x 1024 x 4 B = 1 MiB, half of a 2 MiB L2
    // (KC 128 was slower, 384 alike). NC 2048 (a 2 MiB B block, the whole L2) measured alike
    // on the first machines but lost 8-15% where N > 1024 on the Xeon with AMX (1 thread,
    // medians of 3 runs, GFLOP/s: 2048^3 143-159 -> 160-168, 64x4096x4096 103-109 -> 117-119 and
    // 211-219 -> 233-244 on 2 threads, 196x1536x384 156-169 -> 159-165).
    const struct f32_gemm_config avx512 = {
        .ukernel = qn_f32_gemm_ukernel_14x32__avx512,
        .ukernel_lda = qn_f32_gemm_ukernel_14x32_lda__avx512,
        .wide = qn_f32_gemm_wide_9x48__avx512,
        .small = qn_f32_gemm_small_ukernel_4x32__avx512,
        .dot = qn_f32_gemm_dot_ukernel_4x4__avx512,
        .gemv = qn_f32_gemv_ukernel__avx512,
        .packa = qn_f32_gemm_packa_14__avx512,
        .packb = qn_f32_gemm_packb_32__avx512,
        .mr = 14, .nr = 32, .mr_alt = 8, .wide_nr = 48, .wide_min_tail = 33, .mc = 336, .kc = 256, .nc = 1024,
        .name = "qn_f32_gemm_ukernel_14x32__avx512",
        .wide_name = "qn_f32_gemm_wide_9x48__avx512",
    };
    g_config[QN_ISA_AVX512] = avx512;
    // Blocking override for tuning runs: QNAS_F32_GEMM_BLOCKING=mc,kc,nc (current level's
    // MR / NR multiples are enforced).
    const char *env = getenv("QNAS_F32_GEMM_BLOCKING");
    size_t mc, kc, nc;
    if (env && sscanf(env, "%zu,%zu,%zu", &mc, &kc, &nc) == 3 && mc && kc && nc)
        for (int i = 0; i < QN_ISA_COUNT; i++) {
            g_config[i].mc = QN_ROUND_UP(mc, g_config[i].mr);
            g_config[i].kc = kc;
            g_config[i].nc = QN_ROUND_UP(nc, g_config[i].nr);
        }
}

static const struct f32_gemm_config *config_get(enum qn_isa isa) {
    pthread_once(&g_config_once, config_init);
    return &g_config[isa];
}

const char *qn_f32_gemm_variant(void) { return config_get(qn_isa())->name; }

const char *qn_f32_gemm_wide_variant(void) {
    static _Thread_local char buf[160];
    const struct f32_gemm_config *cf = config_get(qn_isa());
    if (!cf->ukernel_lda) return "none (A packed at this level)";
    if (!cf->wide) return cf->name;
    if (cf->wide_min_tail <= 1)
        snprintf(buf, sizeof(buf), "%s (alpha 1, beta 0 or 1), else %s", cf->wide_name, cf->name);
    else
        snprintf(buf, sizeof(buf), "%s where N %% %zu is 0 or > %zu, else %s", cf->wide_name, cf->wide_nr,
                 cf->wide_min_tail - 1, cf->name);
    return buf;
}

// --- scratch: one growing buffer per thread, never freed while the thread lives ---

static _Thread_local float *tl_scratch[3];
static _Thread_local size_t tl_scratch_cap[3];

// Slot 0: the A block (per thread); slot 1: the B panel (per thread); slot 2: the partial
// products of a split-K call (owned by the calling thread).
static float *scratch(int slot, size_t floats) {
    if (tl_scratch_cap[slot] < floats) {
        qn_free(tl_scratch[slot]);
        tl_scratch[slot] = qn_alloc(floats * sizeof(float));
        QN_ASSERT(tl_scratch[slot]);
        tl_scratch_cap[slot] = floats;
    }
    return tl_scratch[slot];
}

// --- packing ---

// A block rows [m0, m0 + mc) x k [k0, k0 + kc) of op(A) into MR-row panels [kc][MR].
// op(A)(m, k) = A[m * lda + k], or A[k * lda + m] when trans_a.
static void pack_a(const struct f32_gemm_config *cf, size_t mc, size_t kc, const float *A,
                   size_t lda, bool trans_a, size_t m0, size_t k0, float *dst) {
    const size_t a_rs = trans_a ? 1 : lda, a_ks = trans_a ? lda : 1;
    for (size_t ir = 0; ir < mc; ir += cf->mr)
        cf->packa(cf->mr, QN_MIN(cf->mr, mc - ir), kc, A + (m0 + ir) * a_rs + k0 * a_ks, a_rs,
                  a_ks, dst + ir * kc);
}

// One NR-column panel of op(B): k [k0, k0 + kc) x n [n0, n0 + nr) into [kc][NR].
// op(B)(k, n) = B[k * ldb + n], or B[n * ldb + k] when trans_b. NR is the level's (its SIMD
// packer) or the wide kernel's (the portable one).
static void pack_b_panel(const struct f32_gemm_config *cf, size_t NR, size_t nr, size_t kc, const float *B,
                         size_t ldb, bool trans_b, size_t k0, size_t n0, float *dst) {
    const size_t b_ks = trans_b ? 1 : ldb, b_ns = trans_b ? ldb : 1;
    (NR == cf->nr ? cf->packb : qn_f32_gemm_packb__scalar)(NR, nr, kc, B + k0 * b_ks + n0 * b_ns, b_ks, b_ns, dst);
}

// --- problem description shared by the paths ---

struct gemm_job {
    const struct f32_gemm_config *cf;
    bool trans_a, trans_b;
    size_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    size_t lda, ldb;
    const struct qn_f32_packed_b *pb;  // pre-packed B, or NULL
    float *C;
    size_t ldc;
    // epilogue, normalized
    const float *bias, *res;
    size_t ldr;
    enum qn_act act;
    bool res_before;
};

// Micro-kernel parameters for the tile at (m, n) of C, KC block [k0, k0 + kc).
static inline struct qn_f32_gemm_params tile_params(const struct gemm_job *g, size_t m,
                                                    size_t n, bool first, bool last) {
    struct qn_f32_gemm_params p = {
        .alpha = g->alpha,
        .beta = first ? g->beta : 1.0f,
        .last = last,
        .act = g->act,
        .res_before = g->res_before,
        .bias = last && g->bias ? g->bias + n : NULL,
        .res = last && g->res ? g->res + m * g->ldr + n : NULL,
        .ldr = g->ldr,
    };
    return p;
}

// Depth of KC blocks: K split into equal blocks no deeper than kc_max.
static size_t balanced_kc(size_t K, size_t kc_max) {
    return QN_DIV_UP(K, QN_DIV_UP(K, kc_max));
}

// Rows of the next A-in-place tile when `left` rows remain: MR, the rest, or for MR + 1 or 2
// rows mr_alt, so that a 4x4 map (16 rows) is two tiles of 8 (16 row passes), not 14 + 4 (18).
static size_t tile_rows(const struct f32_gemm_config *cf, size_t left) {
    return cf->mr_alt && left > cf->mr && left <= 2 * cf->mr_alt ? cf->mr_alt : QN_MIN(cf->mr, left);
}

// --- blocked path ---

static inline void macro_tile(const struct gemm_job *g, size_t m0, size_t mc, size_t n0, size_t nc, size_t kc,
                              bool first, bool last, const float *Ap, const float *Bp, size_t ir, size_t jr) {
    const struct f32_gemm_config *cf = g->cf;
    struct qn_f32_gemm_params p = tile_params(g, m0 + ir, n0 + jr, first, last);
    cf->ukernel(QN_MIN(cf->mr, mc - ir), QN_MIN(cf->nr, nc - jr), kc, Ap + ir * kc, Bp + jr * kc, cf->nr,
                g->C + (m0 + ir) * g->ldc + n0 + jr, g->ldc, &p);
}

// Row panels outside, each A micro-panel in L1 against the B block streamed from L2; but for
// pre-packed B, whose block comes from memory on the first row panel, and an A block of at
// most 8 row panels, columns outside: each B micro-panel then comes from memory once and
// serves every row panel from L1. make bench's f32_gemm_packed (ours / oneDNN, three
// alternations, Xeon with AMX, 1 / 2 threads): 64x4096x4096 (5 row panels) 0.78-0.81x /
// 0.75-0.80x -> 0.92-0.94x / 0.90-0.91x; with every A block so, 128x768x3072 (10 panels) read
// +0-4% and 1024^3, 2048^3 and 196x1536x384 1-6% slower.
static void macro_kernel(const struct gemm_job *g, size_t m0, size_t mc, size_t n0, size_t nc,
                         size_t kc, bool first, bool last, const float *Ap, const float *Bp) {
    const size_t MR = g->cf->mr, NR = g->cf->nr;
    if (g->pb && mc <= 8 * MR) {
        for (size_t jr = 0; jr < nc; jr += NR)
            for (size_t ir = 0; ir < mc; ir += MR) macro_tile(g, m0, mc, n0, nc, kc, first, last, Ap, Bp, ir, jr);
        return;
    }
    for (size_t ir = 0; ir < mc; ir += MR)
        for (size_t jr = 0; jr < nc; jr += NR) macro_tile(g, m0, mc, n0, nc, kc, first, last, Ap, Bp, ir, jr);
}

// Whether the A-in-place tiles of a column block nc wide run on the wide kernel: its store
// rule (alpha 1, beta 0 or 1) and its last column tile whole or at least wide_min_tail wide
// (AVX-512: a last tile of 32 or fewer runs faster on the 14 x 32 kernel; AVX2: any).
static bool wide_fits(const struct f32_gemm_config *cf, float alpha, float beta, size_t nc) {
    if (!cf->wide || alpha != 1.0f || (beta != 0.0f && beta != 1.0f)) return false;
    const size_t r = nc % cf->wide_nr;
    return r == 0 || r >= cf->wide_min_tail;
}

// Whether the blocked path reads A (rows lda floats apart) in place: rows that do not crowd an
// L1 set (see gemm_blocked_part).
static bool reads_a_in_place(const struct f32_gemm_config *cf, bool trans_a, size_t lda) {
    return cf->ukernel_lda && !trans_a && qn_rows_per_l1_set(lda * sizeof(float), cf->mr) <= 4;
}

// Whether B is pre-packed in the wide kernel's panels (qn_f32_pack_b's choice).
static bool wide_panels(const struct gemm_job *g) { return g->pb && g->pb->nr != g->cf->nr; }

// Pre-packed B in wide panels (pb->nr == wide_nr): every tile on the wide kernel, A in place,
// or copied to rows that do not crowd an L1 set where lda would.
static void gemm_wide_part(const struct gemm_job *g, size_t m_lo, size_t m_hi, size_t n_lo, size_t n_hi) {
    const struct f32_gemm_config *cf = g->cf;
    const size_t NR = g->pb->nr, kc_max = g->pb->kc, n_pad = QN_ROUND_UP(g->N, NR), rows = m_hi - m_lo;
    const float *A = g->A + m_lo * g->lda;
    size_t lda = g->lda;
    if (!reads_a_in_place(cf, false, lda)) {
        lda = QN_ROUND_UP(g->K, 16) + 16;
        while (!reads_a_in_place(cf, false, lda)) lda += 16;
        float *t = scratch(0, rows * lda);
        for (size_t m = 0; m < rows; m++) memcpy(t + m * lda, A + m * g->lda, g->K * sizeof(float));
        A = t;
    }
    const size_t nc_max = cf->nc / NR * NR;
    for (size_t jc = n_lo; jc < n_hi; jc += nc_max) {
        const size_t nc = QN_MIN(nc_max, n_hi - jc);
        for (size_t pc = 0; pc < g->K; pc += kc_max) {
            const size_t kc = QN_MIN(kc_max, g->K - pc);
            const struct qn_f32_gemm_params p = tile_params(g, m_lo, jc, pc == 0, pc + kc == g->K);
            cf->wide(rows, nc, kc, A + pc, lda, g->pb->data + pc * n_pad + jc * kc, NR, g->C + m_lo * g->ldc + jc,
                     g->ldc, &p);
        }
    }
}

// One thread's share: rows [m_lo, m_hi) x columns [n_lo, n_hi) of C (n_lo a multiple of
// NR), the whole loop nest with the thread's own packing buffers, no synchronisation.
static void gemm_blocked_part(const struct gemm_job *g, size_t m_lo, size_t m_hi, size_t n_lo,
                              size_t n_hi) {
    const struct f32_gemm_config *cf = g->cf;
    if (wide_panels(g)) {
        gemm_wide_part(g, m_lo, m_hi, n_lo, n_hi);
        return;
    }
    const size_t MR = cf->mr, NR = cf->nr;
    const size_t kc_max = g->pb ? g->pb->kc : balanced_kc(g->K, cf->kc);
    // Equal MC blocks (multiples of MR): no thin last block.
    const size_t n_mc = QN_DIV_UP(m_hi - m_lo, cf->mc);
    const size_t mc_blk = QN_ROUND_UP(QN_DIV_UP(m_hi - m_lo, n_mc), MR);
    // Rows that do not crowd an L1 set: the micro-kernel reads A in place, a 14-row panel of
    // the KC block at a time into L1 for every NR panel of the block, instead of packing it
    // (1 thread, Zen 5: 196x576x96 with B packed, a batch-1 1x1 layer, best-of-3,000 medians
    // 249.5-253.2 -> 251.9-257.0 GF/s; B packed per call, attention's P V 196x64x196 204-206 ->
    // 230-233, make bench's f32_gemm 256^3 0.94x -> 0.97-0.98x oneDNN). Not only for one MC
    // block: a layer with few output channels reuses a packed A for few panels (Xeon with AMX,
    // make bench rows, ours / oneDNN on 1 / 2 threads: 1x1 192->32 at 28x28 0.72x / 0.73x ->
    // 1.01x / 1.02x, 144->24 0.70x / 0.77x -> 0.99x / 1.03x, 16->96 at 56x56 0.84x / 0.87x ->
    // 0.92x / 0.95x, 24->144 at 28x28 0.86x / 0.90x -> 0.93x / 0.96x; gemm 784x512x256 0.93x /
    // 0.91x -> 0.99x / 0.98x). Not only for one KC block either (Emerald Rapids, bench-kernels
    // rows, two alternations: 1x1 576->96 at 14x14, K in 3 blocks, 0.87x / 0.86-0.88x ->
    // 0.96-0.97x / 0.95-1.00x, at batch 64 on 2 threads 0.79x -> 0.85-0.86x; gemm 196x384x384
    // 0.90-0.91x -> 0.93x on 1 thread, 196x1536x384 0.91x -> 0.93-0.94x)
    const bool a_in_place = reads_a_in_place(cf, g->trans_a, g->lda);
    float *Ap = scratch(0, (a_in_place ? MR : mc_blk) * kc_max);
    float *Bp = g->pb ? NULL : scratch(1, kc_max * QN_MIN(cf->nc, QN_ROUND_UP(n_hi - n_lo, NR)));
    for (size_t jc = n_lo; jc < n_hi; jc += cf->nc) {
        const size_t nc = QN_MIN(cf->nc, n_hi - jc);
        const size_t n_panels = QN_DIV_UP(nc, NR);
        for (size_t pc = 0; pc < g->K; pc += kc_max) {
            const size_t kc = QN_MIN(kc_max, g->K - pc);
            const bool first = pc == 0, last = pc + kc == g->K;
            const float *Bpanel = Bp;
            if (g->pb) {
                Bpanel = g->pb->data + pc * QN_ROUND_UP(g->N, NR) + jc * kc;
            } else {
                // B[K][ldb] goes 16 rows at a time across all panels, so its rows are read
                // as long contiguous segments (a panel at a time would stride ldb per 128
                // bytes and defeat the prefetchers); B^T rows are contiguous per panel.
                const size_t kstep = g->trans_b ? kc : 16;
                for (size_t k0 = 0; k0 < kc; k0 += kstep)
                    for (size_t jp = 0; jp < n_panels; jp++)
                        pack_b_panel(cf, NR, QN_MIN(NR, nc - jp * NR), QN_MIN(kstep, kc - k0), g->B,
                                     g->ldb, g->trans_b, pc + k0, jc + jp * NR,
                                     Bp + jp * NR * kc + k0 * NR);
            }
            if (a_in_place && wide_fits(cf, g->alpha, g->beta, nc)) {
                const struct qn_f32_gemm_params p = tile_params(g, m_lo, jc, first, last);
                cf->wide(m_hi - m_lo, nc, kc, g->A + m_lo * g->lda + pc, g->lda, Bpanel, NR,
                         g->C + m_lo * g->ldc + jc, g->ldc, &p);
                continue;
            }
            if (a_in_place) {
                for (size_t ir = m_lo, mr; ir < m_hi; ir += mr) {
                    mr = tile_rows(cf, m_hi - ir);
                    // the kernels run edge tiles as 4, 8 or MR rows: a last tile of fewer than
                    // MR rows would read past A, so it goes through a packed (zero-padded) panel
                    const bool packed = mr != MR && mr != cf->mr_alt;
                    if (packed) pack_a(cf, mr, kc, g->A, g->lda, false, ir, pc, Ap);
                    for (size_t jr = 0; jr < nc; jr += NR) {
                        struct qn_f32_gemm_params p = tile_params(g, ir, jc + jr, first, last);
                        float *c = g->C + ir * g->ldc + jc + jr;
                        if (packed)
                            cf->ukernel(mr, QN_MIN(NR, nc - jr), kc, Ap, Bpanel + jr * kc, NR, c, g->ldc, &p);
                        else
                            cf->ukernel_lda(mr, QN_MIN(NR, nc - jr), kc, g->A + ir * g->lda + pc, g->lda,
                                            Bpanel + jr * kc, NR, c, g->ldc, &p);
                    }
                }
                continue;
            }
            for (size_t m0 = m_lo; m0 < m_hi; m0 += mc_blk) {
                const size_t mc = QN_MIN(mc_blk, m_hi - m0);
                pack_a(cf, mc, kc, g->A, g->lda, g->trans_a, m0, pc, Ap);
                macro_kernel(g, m0, mc, jc, nc, kc, first, last, Ap, Bpanel);
            }
        }
    }
}

// Split K across threads when C is small and K deep (the weight gradient of a pointwise
// layer: M x N = Cout x Cin, K = batch x H x W), where blocks of C would leave threads idle
// or unbalanced (Cout = 12 is one 14-row panel) and each thread would pack all of the other
// operand. Thread t multiplies its slice of K into C (t = 0, with beta) or into a partial
// (t > 0); after one barrier every thread adds the partials to its own rows of C in thread
// order, so the result depends on the thread count only. Only without an epilogue (it must
// see the whole sum).
static bool split_k(const struct gemm_job *g, int nth) {
    return !g->pb && !g->bias && !g->res && g->act == QN_ACT_NONE && g->K >= 1024 * (size_t)nth &&
           g->K >= 8 * QN_MAX(g->M, g->N);
}

static void gemm_split_k(const struct gemm_job *g, int nth) {
    const size_t MN = g->M * g->N;
    float *part = scratch(2, MN * (size_t)(nth - 1));
#pragma omp parallel num_threads(nth)
    {
        const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        const size_t k0 = g->K * t / nt, k1 = g->K * (t + 1) / nt;
        struct gemm_job s = *g;
        s.K = k1 - k0;
        s.A = g->A + k0 * (g->trans_a ? g->lda : 1);
        s.B = g->B + k0 * (g->trans_b ? 1 : g->ldb);
        if (t > 0) s.C = part + MN * (t - 1), s.ldc = g->N, s.beta = 0.0f;
        gemm_blocked_part(&s, 0, g->M, 0, g->N);  // s.K >= 1024 (split_k)
#pragma omp barrier
        for (size_t m = g->M * t / nt; m < g->M * (t + 1) / nt; m++) {
            float *c = g->C + m * g->ldc;
            for (size_t p = 1; p < nt; p++) {
                const float *q = part + MN * (p - 1) + m * g->N;
                for (size_t n = 0; n < g->N; n++) c[n] += q[n];
            }
        }
    }
}

// Threads take disjoint blocks of C and run independently (no barriers: on a shared machine a
// descheduled thread would stall its partner at every KC step). Columns are split when each
// thread gets at least two NR panels (B packed once overall, A per thread: A is the smaller
// operand then), else rows; rows too when B fits half the L2, each thread gets a row panel
// and split by columns the threads would write the same cache lines of C (C or ldc not a
// whole number of lines, or NR columns not one): 196x576x96 (a batch-1 1x1 layer) on 2
// threads, Xeon with AMX, median GFLOP/s of 1,000 calls, five runs each: a malloc'ed C
// (16-byte aligned) 278 by columns, 305 by rows; an aligned C 311 by columns, 296 by rows
// (another five runs), so it keeps the columns. And rows where B fits half the L2 and they
// split more evenly: N = 144 or 160 is 5 panels, 3 + 2 by columns, against 28 + 28 row
// panels at 28x28 (make bench rows, 2 threads, three alternations, ours / oneDNN): 1x1
// 24->144 at 28x28 0.64-0.72x -> 0.89x, 576->160 at 14x14 0.72-0.74x -> 0.86-0.89x.
// The largest of nth shares of `parts` over the mean share (1: an even split).
static double uneven(size_t parts, int nth) {
    return (double)QN_DIV_UP(parts, (size_t)nth) * (double)nth / (double)parts;
}

// Row passes of the micro-kernel over `rows` rows in gemm_blocked_part's tiles (tile_rows): a
// tile of mr rows runs 4, 8 or MR of them (the f32 kernels' edge forms).
static size_t row_passes(const struct f32_gemm_config *cf, size_t rows) {
    size_t n = 0;
    while (rows) {
        const size_t mr = tile_rows(cf, rows);
        n += mr == cf->mr ? mr : mr <= 4 ? 4 : mr <= 8 ? 8 : cf->mr;
        rows -= mr;
    }
    return n;
}

// Rows split across threads in units of MR, or of mr_alt where the busiest thread then runs
// fewer row passes: 16 rows (a 4x4 map at batch 1) on 2 threads are 8 + 8, not 14 + 2.
static size_t row_unit(const struct f32_gemm_config *cf, size_t M, int nth) {
    size_t best = cf->mr, best_cost = SIZE_MAX;
    const size_t units[2] = {cf->mr, cf->mr_alt};
    for (int u = 0; u < 2; u++) {
        if (!units[u]) continue;
        const size_t parts = QN_DIV_UP(M, units[u]);
        size_t worst = 0;
        for (int t = 0; t < nth; t++) {
            const size_t q0 = parts * (size_t)t / (size_t)nth, q1 = parts * (size_t)(t + 1) / (size_t)nth;
            const size_t r0 = QN_MIN(M, q0 * units[u]), r1 = QN_MIN(M, q1 * units[u]);
            worst = QN_MAX(worst, row_passes(cf, r1 - r0));
        }
        if (worst < best_cost) best = units[u], best_cost = worst;
    }
    return best;
}

static void gemm_blocked(const struct gemm_job *g, int nth) {
    const size_t NR = g->pb ? g->pb->nr : g->cf->nr;
    if (nth <= 1) {
        gemm_blocked_part(g, 0, g->M, 0, g->N);
        return;
    }
    if (split_k(g, nth)) {
        gemm_split_k(g, nth);
        return;
    }
    const size_t MU = row_unit(g->cf, g->M, nth);
    const size_t n_panels = QN_DIV_UP(g->N, NR), m_panels = QN_DIV_UP(g->M, MU);
    const unsigned long l2 = qn_cpu()->l2 ? qn_cpu()->l2 : (1ul << 21);
    const bool shared_lines = qn_col_split_shares_lines(g->C, g->ldc * sizeof(float), NR * sizeof(float));
    const bool rows_better = shared_lines || uneven(m_panels, nth) < uneven(n_panels, nth);
    const bool split_n = n_panels >= 2 * (size_t)nth &&
                         !(rows_better && m_panels >= (size_t)nth &&
                           (double)g->N * (double)g->K * sizeof(float) <= (double)(l2 / 2));
#pragma omp parallel num_threads(nth)
    {
        const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        const size_t parts = split_n ? n_panels : m_panels;
        const size_t q0 = parts * t / nt, q1 = parts * (t + 1) / nt;
        if (q0 < q1) {
            if (split_n)
                gemm_blocked_part(g, 0, g->M, q0 * NR, QN_MIN(g->N, q1 * NR));
            else
                gemm_blocked_part(g, q0 * MU, QN_MIN(g->M, q1 * MU), 0, g->N);
        }
    }
}

// --- small-M path: no packing ---

// op(B) = B[K][ldb] (or pre-packed panels), <= 4 rows of A at a time, read in place. Each
// thread takes a contiguous range of NR panels and walks K in chunks, all its panels per
// chunk, accumulating into C: B is then read as long contiguous row segments (or, pre-packed,
// one contiguous KC block), which the hardware prefetchers stream at full bandwidth; a
// panel at a time down all of K would jump ldb floats per row instead.
static void gemm_small(const struct gemm_job *g, int nth) {
    const struct f32_gemm_config *cf = g->cf;
    const size_t NR = cf->nr;
    const size_t n_panels = QN_DIV_UP(g->N, NR);
    const size_t a_rs = g->trans_a ? 1 : g->lda, a_ks = g->trans_a ? g->lda : 1;
    // Unpacked B: 32 rows per chunk (per panel, one C tile load/store per 32 k-steps).
    const size_t kb = g->pb ? g->pb->kc : QN_MIN(g->K, 32);
    const size_t n_pad = QN_ROUND_UP(g->N, NR);
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        const size_t p0 = n_panels * t / nt, p1 = n_panels * (t + 1) / nt;
        for (size_t m0 = 0; m0 < g->M; m0 += 4) {
            const size_t mr = QN_MIN(4, g->M - m0);
            const float *a = g->A + m0 * a_rs;
            for (size_t pc = 0; pc < g->K; pc += kb) {
                const size_t kc = QN_MIN(kb, g->K - pc);
                for (size_t jp = p0; jp < p1; jp++) {
                    const size_t n0 = jp * NR, nr = QN_MIN(NR, g->N - n0);
                    struct qn_f32_gemm_params p = tile_params(g, m0, n0, pc == 0, pc + kc == g->K);
                    const float *b = g->pb ? g->pb->data + pc * n_pad + n0 * kc
                                           : g->B + pc * g->ldb + n0;
                    cf->small(mr, nr, kc, a + pc * a_ks, a_rs, a_ks, b, g->pb ? NR : g->ldb,
                              g->C + m0 * g->ldc + n0, g->ldc, &p);
                }
            }
        }
    }
}

// M = 1, op(B) = B[K][ldb] in place (a linear layer's decode step with row-major weights):
// each thread a contiguous range of 64-column blocks (whole cache lines of C), B read once,
// a few rows at a time, each row segment front to back. Through gemm_small (32 rows of
// 128-byte segments at a time, one kernel call per segment) make bench's f32_gemm 1x4096x4096
// ran 8.6-8.9 GFLOP/s on one thread, 0.42x oneDNN (whose B is reordered once); this way
// 13.4-14.1, 0.69-0.72x; 1x1536x384 (B in L3) 0.59x -> 0.86-0.94x (Zen 5, two runs each).
static void gemm_gemv(const struct gemm_job *g, int nth) {
    const size_t x_ks = g->trans_a ? g->lda : 1, blocks = QN_DIV_UP(g->N, 64);
#pragma omp parallel num_threads(nth) if (nth > 1)
    {
        const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        const size_t j0 = QN_MIN(g->N, blocks * t / nt * 64), j1 = QN_MIN(g->N, blocks * (t + 1) / nt * 64);
        if (j0 < j1) {
            const struct qn_f32_gemm_params p = tile_params(g, 0, j0, true, true);
            g->cf->gemv(j1 - j0, g->K, g->A, x_ks, g->B + j0, g->ldb, g->C + j0, &p);
        }
    }
}

// op(B) = B^T with B[N][ldb]: dot products along contiguous K rows (weights [out][in]).
static void gemm_dot(const struct gemm_job *g, int nth) {
    const struct f32_gemm_config *cf = g->cf;
    const float *A = g->A;
    size_t lda = g->lda;
    if (g->trans_a) {  // the dot kernel wants rows of A contiguous in k: M x K is small here
        float *t = scratch(0, g->M * g->K);
        for (size_t m = 0; m < g->M; m++)
            for (size_t k = 0; k < g->K; k++) t[m * g->K + k] = g->A[k * g->lda + m];
        A = t, lda = g->K;
    }
    const size_t n_groups = QN_DIV_UP(g->N, 4);
#pragma omp parallel for num_threads(nth) if (nth > 1) schedule(static)
    for (size_t jg = 0; jg < n_groups; jg++) {
        const size_t n0 = jg * 4, nr = QN_MIN(4, g->N - n0);
        for (size_t m0 = 0; m0 < g->M; m0 += 4) {
            struct qn_f32_gemm_params p = tile_params(g, m0, n0, true, true);
            cf->dot(QN_MIN(4, g->M - m0), nr, g->K, A + m0 * lda, lda, g->B + n0 * g->ldb,
                    g->ldb, g->C + m0 * g->ldc + n0, g->ldc, &p);
        }
    }
}

// --- dispatch ---

// Threads only when the work pays for a fork/join (~ a few microseconds).
static int threads_for(size_t M, size_t N, size_t K) {
    const double macs = (double)M * (double)N * (double)K;
    return macs < 262144.0 ? 1 : qn_threads();
}

static void gemm_run(struct gemm_job *g, const struct qn_epilogue *ep) {
    if (g->M == 0 || g->N == 0) return;
    if (ep) {
        g->bias = ep->bias, g->res = ep->residual, g->ldr = ep->ldr;
        g->act = ep->act, g->res_before = ep->residual_before_act;
    }
    float *res_copy = NULL;
    if (g->res && g->res == g->C) {
        // C doubles as the residual, but later KC blocks overwrite it before the epilogue:
        // fold it into beta when the residual enters linearly, else keep a copy.
        if (g->res_before || g->act == QN_ACT_NONE) {
            g->beta += 1.0f;
            g->res = NULL;
        } else {
            res_copy = qn_alloc(g->M * g->N * sizeof(float));
            QN_ASSERT(res_copy);
            for (size_t m = 0; m < g->M; m++)
                memcpy(res_copy + m * g->N, g->C + m * g->ldc, g->N * sizeof(float));
            g->res = res_copy, g->ldr = g->N;
        }
    }
    if (g->K == 0 || g->alpha == 0.0f) {
        // A and B are not referenced: C = beta C, then the epilogue.
        for (size_t m = 0; m < g->M; m++) {
            struct qn_f32_gemm_params p = tile_params(g, m, 0, true, true);
            for (size_t n = 0; n < g->N; n++) qn_f32_store1(0.0f, &g->C[m * g->ldc + n], 0, n, &p);
        }
    } else {
        const int nth = threads_for(g->M, g->N, g->K);
        if (g->M == 1 && !g->trans_b && !g->pb)
            gemm_gemv(g, nth);
        else if (g->M <= 4 && !g->trans_b && !wide_panels(g))
            gemm_small(g, nth);
        else if (g->M <= 4 && g->trans_b && !g->pb)
            gemm_dot(g, nth);
        else
            gemm_blocked(g, nth);
    }
    qn_free(res_copy);
}

void qn_f32_gemm(bool trans_a, bool trans_b, size_t M, size_t N, size_t K, float alpha,
                 const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                 size_t ldc, const struct qn_epilogue *ep) {
    struct gemm_job g = {
        .cf = config_get(qn_isa()), .trans_a = trans_a, .trans_b = trans_b,
        .M = M, .N = N, .K = K, .alpha = alpha, .beta = beta,
        .A = A, .lda = lda, .B = B, .ldb = ldb, .C = C, .ldc = ldc,
    };
    gemm_run(&g, ep);
}

// --- pre-packed B ---

enum qn_status qn_f32_pack_b(struct qn_f32_packed_b *pb, bool trans_b, size_t K, size_t N,
                             const float *B, size_t ldb) {
    memset(pb, 0, sizeof(*pb));
    if (!B || K == 0 || N == 0 || ldb < (trans_b ? K : N)) return QN_ERR_ARG;
    const enum qn_isa isa = qn_isa();
    const struct f32_gemm_config *cf = config_get(isa);
    // Wide panels where the wide kernel takes the product's tiles (qn_f32_gemm_packed then runs
    // every tile on it): one contiguous B stream per tile instead of two panels' halves. 1x1
    // 96->576 at 14x14 (a batch-1 layer) through qn_f32_conv_run against oneDNN's convolution,
    // paired in one process, 1 thread, Emerald Rapids: the 14 x 32 tiles 0.981-0.990x, the wide
    // kernel on 32-column panels 0.989-0.992x, on 48-column panels 1.000-1.003x; 1x1 8->48 at
    // 28x28 5.7 -> 4.7 us (oneDNN 4.5-4.9).
    const bool wide = wide_fits(cf, 1.0f, 0.0f, QN_MIN(N, cf->nc));
    const size_t NR = wide ? cf->wide_nr : cf->nr, kc_max = balanced_kc(K, cf->kc);
    const size_t n_pad = QN_ROUND_UP(N, NR);
    float *data = qn_alloc(K * n_pad * sizeof(float));
    if (!data) return QN_ERR_NOMEM;
    // Block pc starts at pc * n_pad; its panel j (columns j*NR ..) at + j * NR * kc.
    for (size_t pc = 0; pc < K; pc += kc_max) {
        const size_t kc = QN_MIN(kc_max, K - pc);
        for (size_t n0 = 0; n0 < N; n0 += NR)
            pack_b_panel(cf, NR, QN_MIN(NR, N - n0), kc, B, ldb, trans_b, pc, n0, data + pc * n_pad + n0 * kc);
    }
    pb->K = K, pb->N = N, pb->isa = isa, pb->nr = NR, pb->kc = kc_max;
    pb->data = data, pb->bytes = K * n_pad * sizeof(float);
    return QN_OK;
}

void qn_f32_gemm_packed(size_t M, const float *A, size_t lda, const struct qn_f32_packed_b *pb,
                        float *C, size_t ldc, const struct qn_epilogue *ep) {
    QN_ASSERT(pb && pb->data);
    struct gemm_job g = {
        .cf = config_get(pb->isa), .M = M, .N = pb->N, .K = pb->K, .alpha = 1.0f, .beta = 0.0f,
        .A = A, .lda = lda, .pb = pb, .C = C, .ldc = ldc,
    };
    gemm_run(&g, ep);
}

const char *qn_f32_gemm_packed_variant(const struct qn_f32_packed_b *pb) {
    const struct f32_gemm_config *cf = config_get(pb->isa);
    return wide_fits(cf, 1.0f, 0.0f, QN_MIN(pb->N, cf->nc)) ? cf->wide_name : cf->name;  // qn_f32_pack_b's rule
}

void qn_f32_packed_b_free(struct qn_f32_packed_b *pb) {
    if (!pb) return;
    qn_free(pb->data);
    memset(pb, 0, sizeof(*pb));
}
