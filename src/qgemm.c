// Quantized GEMM operator: u8 activations x s8 / packed s4 weights -> s32 -> requantizing
// epilogue. Packing, per-ISA kernel configs, and the macro loop (threads over N panels or M
// tiles, B blocks sized for L2). Panel layouts and the epilogue contract: qs8-gemm/qs8-gemm.h.
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "cpu.h"
#include "gemm.h"
#include "qs8-gemm/qs8-gemm.h"

// --- per-ISA configuration ---

struct qn_qgemm_config {
    size_t mr, nr;                  // micro-tile rows, panel width (columns)
    qn_qgemm_ukernel_fn gemm;       // mr x nr over an s8 panel
    bool multi_tile;                // gemm takes any row count (tiles of params.mb rows)
    bool a_pad;                     // gemm reads A in whole 16 x 64-byte tiles: where M or K
                                    // is not a multiple, the driver gives it a zero-padded copy
    qn_qgemm_ukernel_fn gemv_s8;    // 1 x nr over an s8 panel
    qn_qgemm_ukernel_fn gemv_s4;    // 1 x nr over a packed s4 panel
    qn_qs4_unpack_fn unpack;        // s4 panels -> s8 panels (s4 GEMM with M > 1)
    size_t block_bytes;             // s8 B bytes per thread block, kept in L2 across M tiles
    size_t edge_rows[3];            // rows an edge tile of m rows computes: the first >= m
                                    // (zeros: exactly m)
    void (*thread_begin)(void);     // per thread around its calls (AMX: the tile config)
    void (*thread_end)(void);
    // an a_pad kernel's copy of A: rows to stride ldd, zero from K to ldd, then zero_rows rows
    // of zeros (NULL: copy_rows, the rows alone); with a_s16, the rows widened to u16
    bool a_s16;                     // gemm reads A from a copy widened to u16 (copy_a), always
    void (*copy_a)(uint8_t *dst, size_t ldd, const uint8_t *src, size_t lds, size_t rows, size_t K,
                   size_t zero_rows);
    const char *gemm_name, *gemm_s4_name, *gemv_s8_name, *gemv_s4_name;
};

static struct qn_qgemm_config g_configs[QN_ISA_COUNT], g_amx;
static pthread_once_t g_configs_once = PTHREAD_ONCE_INIT;

static void configs_init(void) {
    // Scalar entries everywhere first, then each level overrides what it has.
    for (int i = 0; i < QN_ISA_COUNT; i++) {
        g_configs[i] = (struct qn_qgemm_config){
            .mr = 4,
            .nr = 8,
            .gemm = qn_qs8_gemm_ukernel_4x8c4__scalar,
            .gemv_s8 = qn_qs8_gemv_ukernel_8c4__scalar,
            .gemv_s4 = qn_qs4_gemv_ukernel_8c8__scalar,
            .unpack = qn_qs4_unpack__scalar,
            .block_bytes = 256 << 10,
            .gemm_name = "qn_qs8_gemm_ukernel_4x8c4__scalar",
            .gemm_s4_name = "qn_qs4_unpack__scalar+qn_qs8_gemm_ukernel_4x8c4__scalar",
            .gemv_s8_name = "qn_qs8_gemv_ukernel_8c4__scalar",
            .gemv_s4_name = "qn_qs4_gemv_ukernel_8c8__scalar",
        };
    }
    g_configs[QN_ISA_AVX2] = (struct qn_qgemm_config){
        .mr = 6,
        .nr = 8,
        .gemm = qn_qs8_gemm_ukernel_6x8c4__avx2,
        .multi_tile = true,
        .gemv_s8 = qn_qs8_gemv_ukernel_8c4__avx2,
        .gemv_s4 = qn_qs4_gemv_ukernel_8c8__avx2,
        .unpack = qn_qs4_unpack__avx2,
        .block_bytes = 512 << 10,
        .a_s16 = true,
        .copy_a = qn_qs8_gemm_avx2_widen_a,
        .gemm_name = "qn_qs8_gemm_ukernel_6x8c4__avx2",
        .gemm_s4_name = "qn_qs4_unpack__avx2+qn_qs8_gemm_ukernel_6x8c4__avx2",
        .gemv_s8_name = "qn_qs8_gemv_ukernel_8c4__avx2",
        .gemv_s4_name = "qn_qs4_gemv_ukernel_8c8__avx2",
    };
    g_configs[QN_ISA_AVXVNNI] = (struct qn_qgemm_config){
        .mr = 6,
        .nr = 16,
        .gemm = qn_qs8_gemm_ukernel_6x16c4__avxvnni,
        .multi_tile = true,
        .gemv_s8 = qn_qs8_gemv_ukernel_16c4__avxvnni,
        .gemv_s4 = qn_qs4_gemv_ukernel_16c8__avxvnni,
        .unpack = qn_qs4_unpack__avx2,
        .block_bytes = 512 << 10,
        .gemm_name = "qn_qs8_gemm_ukernel_6x16c4__avxvnni",
        .gemm_s4_name = "qn_qs4_unpack__avx2+qn_qs8_gemm_ukernel_6x16c4__avxvnni",
        .gemv_s8_name = "qn_qs8_gemv_ukernel_16c4__avxvnni",
        .gemv_s4_name = "qn_qs4_gemv_ukernel_16c8__avxvnni",
    };
    g_configs[QN_ISA_AVX512] = (struct qn_qgemm_config){
        .mr = 14,
        .nr = 32,
        .gemm = qn_qs8_gemm_ukernel_14x32c4__avx512,
        .multi_tile = true,
        .gemv_s8 = qn_qs8_gemv_ukernel_32c4__avx512,
        .gemv_s4 = qn_qs4_gemv_ukernel_32c8__avx512,
        .unpack = qn_qs4_unpack__avx512,
        .block_bytes = 1 << 20,  // half of SPR's 2 MiB L2 (capped by the L2 found)
        .edge_rows = {4, 8, 14},  // qs8-gemm-14x32c4-avx512.c
        .gemm_name = "qn_qs8_gemm_ukernel_14x32c4__avx512",
        .gemm_s4_name = "qn_qs4_unpack__avx512+qn_qs8_gemm_ukernel_14x32c4__avx512",
        .gemv_s8_name = "qn_qs8_gemv_ukernel_32c4__avx512",
        .gemv_s4_name = "qn_qs4_gemv_ukernel_32c8__avx512",
    };
    // AMX: the AVX-512 level's panels (nr = 32) and GEMV, tiles of 16 or 32 rows. Tiles run
    // one per call, M tile by M tile against the panels kept in L2 (a 32-row block of A in L1
    // against streamed panels ran 2.8-2.9 TOP/s at 1024^3 in a probe, panel-outer 1.8-1.9).
    g_amx = g_configs[QN_ISA_AVX512];
    g_amx.mr = 32;
    g_amx.gemm = qn_qs8_gemm_ukernel_32x32c4__amx;
    g_amx.multi_tile = false;
    g_amx.a_pad = true;
    g_amx.edge_rows[0] = 16, g_amx.edge_rows[1] = 32, g_amx.edge_rows[2] = 32;
    g_amx.thread_begin = qn_qs8_gemm_amx_begin;
    g_amx.thread_end = qn_qs8_gemm_amx_end;
    g_amx.copy_a = qn_qs8_gemm_amx_copy_a;
    g_amx.gemm_name = "qn_qs8_gemm_ukernel_32x32c4__amx (K > 32 and N > 16; else the avx512 kernel)";
    g_amx.gemm_s4_name = "qn_qs4_unpack__avx512+qn_qs8_gemm_ukernel_32x32c4__amx (K > 32 and N > 16; else the avx512 kernel)";
}

// The level's config (its panels; the same for the AVX-512 level with or without AMX).
static const struct qn_qgemm_config *config(enum qn_isa isa) {
    pthread_once(&g_configs_once, configs_init);
    return &g_configs[isa];
}

// AMX from this depth and width on. A tdpbusd takes 64 k and 16 columns whatever the layer
// fills of it: in a probe of this project's layer shapes (Xeon with AMX, 1 thread, AMX time /
// VNNI time) K = 8-16 ran 1.4-2.2x, K = 32 0.97-1.14x, K = 48 0.72-0.92x, K >= 64 0.23-0.73x;
// 12-16 channels at K = 72-96 1.1-1.4x even with the empty column half skipped.
#define QG_AMX_MIN_K 33
#define QG_AMX_MIN_N 17

// The config an N x K GEMM runs: the AMX one at the AVX-512 level where AMX is in use and the
// layer is deep and wide enough.
static const struct qn_qgemm_config *config_run(enum qn_isa isa, size_t N, size_t K) {
    const struct qn_qgemm_config *cfg = config(isa);
    return isa == QN_ISA_AVX512 && K >= QG_AMX_MIN_K && N >= QG_AMX_MIN_N && qn_amx() ? &g_amx : cfg;
}

const char *qn_qgemm_variant(int storage_bits, bool gemv) {
    const struct qn_qgemm_config *cfg = config_run(qn_isa(), QG_AMX_MIN_N, QG_AMX_MIN_K);
    if (gemv) return storage_bits == 4 ? cfg->gemv_s4_name : cfg->gemv_s8_name;
    return storage_bits == 4 ? cfg->gemm_s4_name : cfg->gemm_name;
}

// Bytes of one packed panel of nr columns over K.
static size_t panel_bytes(size_t nr, size_t K, int storage_bits) {
    return storage_bits == 4 ? QN_DIV_UP(K, 8) * nr * 4 : QN_DIV_UP(K, 4) * nr * 4;
}

// --- packing ---

enum qn_status qn_qgemm_pack(struct qn_qgemm_weights *w, const int8_t *W, size_t ldw, size_t N,
                             size_t K, const float *scale, int bits, int storage_bits) {
    memset(w, 0, sizeof(*w));
    if (!W || !scale || bits < 2 || bits > 8 || (storage_bits != 8 && storage_bits != 4) ||
        (storage_bits == 4 && bits > 4) || ldw < K || N == 0 || K == 0)
        return QN_ERR_ARG;
    const int lim = (1 << (bits - 1)) - 1;
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < K; k++)
            if (W[n * ldw + k] > lim || W[n * ldw + k] < -lim) return QN_ERR_ARG;

    const enum qn_isa isa = qn_isa();
    const size_t nr = config(isa)->nr;
    const size_t pb = panel_bytes(nr, K, storage_bits), np = QN_DIV_UP(N, nr);
    uint8_t *p = qn_alloc(np * pb + QN_QG_B_SLACK);
    w->col_sum = qn_alloc(N * sizeof(int32_t));
    w->scale = qn_alloc(N * sizeof(float));
    if (!p || !w->col_sum || !w->scale) {
        qn_free(p);
        qn_qgemm_weights_free(w);
        return QN_ERR_NOMEM;
    }
    memset(p, 0, np * pb + QN_QG_B_SLACK);  // padding past K and N must be exactly zero
    for (size_t n = 0; n < N; n++) {
        uint8_t *panel = p + (n / nr) * pb + (n % nr) * 4;
        int32_t s = 0;
        for (size_t k = 0; k < K; k++) {
            const int8_t v = W[n * ldw + k];
            s += v;
            if (storage_bits == 8)
                panel[(k / 4) * nr * 4 + k % 4] = (uint8_t)v;
            else  // low nibble: k % 8 < 4, high nibble: k % 8 >= 4 (struct qn_qs4_c8)
                panel[(k / 8) * nr * 4 + k % 4] |= (uint8_t)(((uint8_t)v & 15u) << (k % 8 < 4 ? 0 : 4));
        }
        w->col_sum[n] = s;
        w->scale[n] = scale[n];
    }
    w->N = N, w->K = K, w->bits = bits, w->storage_bits = storage_bits, w->isa = isa;
    w->packed = p, w->packed_bytes = np * pb;
    return QN_OK;
}

void qn_qgemm_weights_free(struct qn_qgemm_weights *w) {
    qn_free(w->packed);
    qn_free(w->col_sum);
    qn_free(w->scale);
    memset(w, 0, sizeof(*w));
}

// --- operator ---

static inline struct qn_qgemm_params tile_params(const struct qn_qgemm_params *base, size_t m0,
                                                 size_t n0) {
    struct qn_qgemm_params t = *base;
    t.scale += n0;
    t.col_sum += n0;
    if (t.bias) t.bias += n0;
    if (t.residual) t.residual += m0 * t.ldr + n0;
    return t;
}

// Rows the kernel computes for a tile of m <= mr rows.
static size_t tile_rows(const struct qn_qgemm_config *cfg, size_t m) {
    for (size_t i = 0; i < 3; i++)
        if (cfg->edge_rows[i] >= m) return cfg->edge_rows[i];
    return m;
}

// A bytes a chunk of row tiles may hold (kept in L2 while the panels go past it). Chunks beat
// tile-by-tile calls at every depth measured on Zen 5 (1 thread, median GOP/s): 2048^3
// 701-742 -> 816-825 (6-tile chunks), 64x4096x4096 345-358 -> 380-389 (3 tiles, a slow phase
// of the host for both); 64x1024x8192 and 300x512x16384 (chunks of 1-2 tiles) the same.
#define QG_CHUNK_BYTES (192u << 10)

// A row stride that crowds an L1 set (qn_rows_per_l1_set): past 8 rows of 12 ways the
// broadcasts of a 14-row tile evict each other (and the B panel's lines): 64x4096x4096 ran
// 576-581 GOP/s with lda = 4096 against 689-692 with lda = 4160, 196x1024x4096 409-471 against
// 638-732, 64x2048x8192 368-375 against 534-541 (Zen 5, 1 thread, alternating medians); lda =
// 2048 (7 rows a set) and 1024 ran the same either way.
#define QG_ACOPY_WHOLE (4u << 20)
#define QG_ROWS_PER_SET_MAX 8

// Every k step of an a_pad kernel's tiles is whole (no k tail) and so is every full row tile.
static bool a_whole_steps(size_t K, size_t mb) { return K % 64 == 0 && mb % 16 == 0; }

// Every tile an a_pad kernel reads from A in place is whole: no k tail, no short row block.
static bool a_whole_tiles(size_t M, size_t K, size_t mb) { return a_whole_steps(K, mb) && M % 16 == 0; }

// The row stride a copy of A gets when its own stride crowds an L1 set, or when an a_pad
// kernel needs A padded (0: no copy): the first whole number of lines from K up that does not
// crowd a set (K = 4000 gets 4032, K = 4096 gets 4160). Padded for a k tail only: with whole
// 64-byte k steps the full row tiles read A in place and only a last tile of fewer rows goes
// through the kernel's zero-filled copy. Copying all of A for its last rows cost ~3 us of a
// 196x160x576 layer (1x1 576->160 at 14x14, 1 thread, Xeon with AMX, medians of 3,000 calls:
// 14.0 -> 11.1 us; 49 rows 4.55 -> 3.5 us; 192 rows, no copy either way, 9.8 us).
static size_t a_copy_stride(const struct qn_qgemm_config *cfg, size_t M, size_t lda, size_t K, size_t mb,
                            size_t np) {
    const size_t rows = QN_MIN(mb, M);
    const bool pad = cfg->a_pad && !a_whole_steps(K, mb);
    const bool crowd = (cfg->multi_tile || cfg->a_pad) && np >= 2 &&
                       qn_rows_per_l1_set(lda, rows) > QG_ROWS_PER_SET_MAX;
    // a_s16: always a copy, 2 bytes a k, whole k-quads
    if (!cfg->a_s16 && (M <= 1 || !(pad || crowd))) return 0;
    size_t ldp = cfg->a_s16 ? QN_ROUND_UP(2 * QN_ROUND_UP(K, 4), 64) : QN_ROUND_UP(K, 64);
    while (qn_rows_per_l1_set(ldp, rows) > QG_ROWS_PER_SET_MAX) ldp += 64;
    return ldp;
}

struct gemm_grid {
    const struct qn_qgemm_config *cfg;
    size_t M, N, K;
    const uint8_t *A;
    size_t lda;
    uint8_t *acopy;     // per thread: rows of A at stride ldp (NULL: A read in place)
    size_t ldp, arows;  // arows: rows a thread's copy holds
    bool acopy_whole;   // the thread's rows copied once, else each chunk as it comes
    bool a_pad;         // params.a_pad for the kernel: A (or the copy) in whole tiles
    const uint8_t *packed;
    size_t pb, pb8, np, mt, mb, nb, tn, tm;  // mb: rows per M tile
    bool s4;
    int8_t *scratch;
    const struct qn_qgemm_params *base;
    void *C;
    size_t ldc, esize;
};

static void copy_rows(uint8_t *dst, size_t ldd, const uint8_t *src, size_t lds, size_t rows, size_t K) {
    for (size_t r = 0; r < rows; r++) memcpy(dst + r * ldd, src + r * lds, K);
}

// Thread t of the tn x tm grid: its panels in blocks of nb (unpacked first for s4), every M
// tile of its share against each block.
static void gemm_grid_thread(const struct gemm_grid *g, size_t t) {
    const size_t nr = g->cfg->nr;
    const size_t in = t % g->tn, im = t / g->tn;
    const size_t p_lo = g->np * in / g->tn, p_hi = g->np * (in + 1) / g->tn;
    const size_t m_lo = g->mt * im / g->tm, m_hi = g->mt * (im + 1) / g->tm;
    int8_t *buf = g->s4 ? g->scratch + t * (g->nb * g->pb8 + QN_QG_B_SLACK) : NULL;
    // A, or this thread's copy of its rows (the copy's first row is r0: row m at a + (m - r0) * lda)
    uint8_t *cp = g->acopy ? g->acopy + t * g->arows * g->ldp : NULL;
    const bool whole = cp && g->acopy_whole;
    const uint8_t *a = whole ? cp : g->A;
    const size_t lda = whole ? g->ldp : g->lda;
    size_t r0 = 0;
    if (g->cfg->thread_begin) g->cfg->thread_begin();
    if (whole) {
        r0 = QN_MIN(g->M, m_lo * g->mb);
        const size_t r1 = QN_MIN(g->M, m_hi * g->mb);
        if (g->cfg->copy_a)
            g->cfg->copy_a(cp, g->ldp, g->A + r0 * g->lda, g->lda, r1 - r0, g->K, m_hi * g->mb - r1);
        else
            copy_rows(cp, g->ldp, g->A + r0 * g->lda, g->lda, r1 - r0, g->K);
    }
    for (size_t p0 = p_lo; p0 < p_hi; p0 += g->nb) {
        const size_t nbk = QN_MIN(g->nb, p_hi - p0);
        const int8_t *bw = (const int8_t *)g->packed + p0 * g->pb;
        if (g->s4) {
            g->cfg->unpack(nbk, nr, g->K, g->packed + p0 * g->pb, buf);
            bw = buf;
        }
        // Kernels that take many row tiles per call run chunk by chunk: a chunk of this
        // thread's rows (at most QG_CHUNK_BYTES of A, in L2) against each panel of the block
        // in turn, the panel (K x 32 bytes) in L1 across the chunk's tiles. A layer at batch 1
        // is one chunk; K past ~14,000 makes chunks of one tile.
        const size_t tiles = m_hi - m_lo;
        if (g->cfg->multi_tile) {
            if (tiles == 0) continue;
            const size_t nch = QN_DIV_UP(tiles, QN_MAX(1, QG_CHUNK_BYTES / (g->mb * g->K)));
            const size_t chunk = QN_DIV_UP(tiles, nch);  // even chunks
            for (size_t c0 = m_lo; c0 < m_hi; c0 += chunk) {
                const size_t m0 = c0 * g->mb, m1 = QN_MIN(g->M, QN_MIN(m_hi, c0 + chunk) * g->mb);
                if (m0 >= m1) break;
                const uint8_t *ac = a + (m0 - r0) * lda;
                size_t ldac = lda;
                if (cp && !whole) {
                    if (g->cfg->a_s16)
                        g->cfg->copy_a(cp, g->ldp, ac, lda, m1 - m0, g->K, 0);
                    else
                        copy_rows(cp, g->ldp, ac, lda, m1 - m0, g->K);
                    ac = cp, ldac = g->ldp;
                }
                for (size_t j = 0; j < nbk; j++) {
                    const size_t n0 = (p0 + j) * nr;
                    struct qn_qgemm_params tp = tile_params(g->base, m0, n0);
                    tp.mb = g->mb;
                    g->cfg->gemm(m1 - m0, QN_MIN(nr, g->N - n0), g->K, ac, ldac,
                                 bw + j * g->pb8, (uint8_t *)g->C + (m0 * g->ldc + n0) * g->esize,
                                 g->ldc, &tp);
                }
            }
            continue;
        }
        // Kernels of one tile per call: M tile by M tile against the block of panels kept in
        // L2, or, for a small A, panel by panel
        const bool panel_outer = tiles * g->mb * g->K <= QG_CHUNK_BYTES;
        const size_t n_outer = panel_outer ? nbk : m_hi - m_lo, n_inner = panel_outer ? m_hi - m_lo : nbk;
        for (size_t o = 0; o < n_outer; o++)
            for (size_t in_ = 0; in_ < n_inner; in_++) {
                const size_t j = panel_outer ? o : in_, i = m_lo + (panel_outer ? in_ : o);
                const size_t n0 = (p0 + j) * nr;
                const size_t m0 = i * g->mb, mc = m0 < g->M ? QN_MIN(g->mb, g->M - m0) : 0;
                if (mc == 0) continue;
                struct qn_qgemm_params tp = tile_params(g->base, m0, n0);
                tp.a_pad = g->a_pad;
                g->cfg->gemm(mc, QN_MIN(nr, g->N - n0), g->K, a + (m0 - r0) * lda, lda, bw + j * g->pb8,
                             (uint8_t *)g->C + (m0 * g->ldc + n0) * g->esize, g->ldc, &tp);
            }
    }
    if (g->cfg->thread_end) g->cfg->thread_end();
    if (g->base->stream) qn_store_fence();  // non-temporal stores are weakly ordered
}

// B bytes a thread keeps in L2 across its M tiles: the level's figure, at most half the L2
// cpuid reports (1 MiB on SPR's 2 MiB L2; 512 KiB on Zen 5's 1 MiB).
static size_t block_bytes(const struct qn_qgemm_config *cfg) {
    const unsigned long l2 = qn_cpu()->l2;
    return l2 ? QN_MIN(cfg->block_bytes, (size_t)l2 / 2) : cfg->block_bytes;
}

void qn_qgemm(size_t M, const uint8_t *A, size_t lda, const struct qn_qgemm_weights *w,
              const struct qn_qgemm_out *out, void *C, size_t ldc) {
    QN_ASSERT(w && w->packed && w->isa == qn_isa());
    QN_ASSERT(out && out->a_zp >= 0 && out->a_zp <= 255 && qn_qgemm_out_ok(out));
    QN_ASSERT(M <= 1 || (lda >= w->K && ldc >= w->N));  // a single row needs no strides
    if (M == 0) return;
    const struct qn_qgemm_config *cfg = config_run(w->isa, w->N, w->K);
    const size_t N = w->N, K = w->K, nr = cfg->nr, mr = cfg->mr;
    const bool s4 = w->storage_bits == 4;
    struct qn_qgemm_params base = {
        .scale = w->scale,
        .col_sum = w->col_sum,
        .bias = out->ep.bias,
        .residual = out->ep.residual,
        .ldr = out->ep.ldr,
        .a_scale = out->a_scale,
        .a_zp = out->a_zp,
        .act = out->ep.act,
        .residual_before_act = out->ep.residual_before_act,
        .out_u8 = out->out_u8,
        .inv_out = out->out_u8 ? 1.0f / out->out_scale : 0.0f,
        .out_zp = (float)out->out_zp,
        .out_qmax = (float)qn_qgemm_out_qmax(out),
        // 12544x576x96 (a 1x1 layer at batch 64, 29 MB out), 1 thread, Zen 5: 593 -> 808 GOP/s
        .stream = !out->out_u8 && (double)M * (double)ldc * sizeof(float) >= qn_stream_bytes(),
    };
    const size_t esize = out->out_u8 ? 1 : sizeof(float);
    const size_t np = QN_DIV_UP(N, nr), pb = panel_bytes(nr, K, w->storage_bits);
    const uint8_t *packed = w->packed;
    int nt = qn_threads();
    if (nt < 1) nt = 1;

    if (M == 1) {
        // GEMV: bandwidth-bound stream over the panels, split across threads.
        uint32_t a_sum = 0;
        for (size_t k = 0; k < K; k++) a_sum += A[k];
        base.a_sum = a_sum;
        const qn_qgemm_ukernel_fn gemv = s4 ? cfg->gemv_s4 : cfg->gemv_s8;
        if ((size_t)nt > np) nt = (int)np;
        if (N * K < (1u << 16)) nt = 1;  // thread start-up would dominate
        if (nt == 1) {  // no parallel region: even an empty one costs ~0.3 us
            for (size_t p = 0; p < np; p++) {
                const struct qn_qgemm_params tp = tile_params(&base, 0, p * nr);
                gemv(1, QN_MIN(nr, N - p * nr), K, A, lda, packed + p * pb, (uint8_t *)C + p * nr * esize, ldc, &tp);
            }
            return;
        }
#pragma omp parallel for num_threads(nt) schedule(static)
        for (size_t p = 0; p < np; p++) {
            const size_t n0 = p * nr;
            const struct qn_qgemm_params tp = tile_params(&base, 0, n0);
            gemv(1, QN_MIN(nr, N - n0), K, A, lda, packed + p * pb, (uint8_t *)C + n0 * esize,
                 ldc, &tp);
        }
        return;
    }

    // GEMM. Threads form a tn x tm grid: panels first (each core keeps its own B in L2),
    // M tiles when there are fewer panels than threads.
    const size_t mt = QN_DIV_UP(M, mr);
    // Rows per tile: mr, or M split evenly when that computes fewer rows (the kernels run
    // an edge tile as 4, 8 or mr rows: M = 16, a 4x4 map, is 8 + 8 rather than 14 + 4).
    const size_t mb_even = QN_DIV_UP(M, mt);
    const size_t mb = tile_rows(cfg, mb_even) * (mt - 1) + tile_rows(cfg, M - mb_even * (mt - 1)) <
                              tile_rows(cfg, mr) * (mt - 1) + tile_rows(cfg, M - mr * (mt - 1))
                          ? mb_even : mr;
    if ((double)M * (double)N * (double)K < QN_Q8_PARALLEL_MACS) nt = 1;
    // s4: each thread unpacks a block of panels to s8 once and reuses it for every M tile.
    const size_t pb8 = s4 ? 8 * QN_DIV_UP(K, 8) * nr : pb;  // s8 panel stride of a block
    // Threads split the panels, each keeping its own B in L2, except:
    // - AMX with many row tiles: rows first. Each thread then streams every panel past its own
    //   32-row blocks, as one thread does: 1024^3 on 2 threads (Xeon with AMX, pw probe, 4
    //   alternations) 4,430-5,370 GOP/s against 4,400-4,610 split by panels.
    // - B small against the L2 (a quarter of the block kept there: 256 KiB of a 2 MiB L2), or
    //   fitting the block and split by panels two threads would write the same cache lines of
    //   C (u8 out: a 32-column panel is 32 bytes; or C, ldc not aligned): rows, every thread
    //   reading all of B and writing whole rows of C. Split by panels the threads write
    //   alternate segments of every row, which ran well only while one call repeated alone:
    //   timed the way make bench times it, batches of 1,000 calls alternating with batches of
    //   oneDNN's (Xeon with AMX, FP32 out, 2 threads, medians of five alternations, us, panels
    //   -> rows), 196x576x96 (a 1x1 layer at batch 1) 15.5 -> 12.0 and 196x384x384 17.5 ->
    //   13.9, where after the other library's batch the panel split stayed ~60% slower on both
    //   threads for 10-40 ms; single calls alternating with oneDNN's 196x576x96 14.2 -> 11.5,
    //   196x576x384 22.9 -> 20.4, 196x2304x96 76.0 -> 63.5, 196x192x1152 29.0 -> 23.0,
    //   196x96x576 9.9 -> 8.0; 196x1152x96 22.4 -> 23.4 (noise). One call repeated alone
    //   mostly ran 3-15% faster by panels (196x576x96 10.8 against 12.2 us). With B of 442-590
    //   KB rows lost: 196x1536x384 48.3 -> 49.8 (batches), 128x768x768 32.0 -> 33.6.
    const size_t b_bytes = np * pb8, block = block_bytes(cfg);
    const bool rows_by_b = 4 * b_bytes <= block ||
                           (qn_col_split_shares_lines(C, ldc * esize, nr * esize) && b_bytes <= block);
    const bool rows_first = mt >= (size_t)nt && ((cfg->a_pad && mt >= 8 * (size_t)nt) || rows_by_b);
    const size_t tn = rows_first ? 1 : QN_MIN((size_t)nt, np), tm = QN_MIN((size_t)nt / tn, mt);
    nt = (int)(tn * tm);
    const size_t nb = QN_MAX(1, QN_MIN(np, block / pb8));
    int8_t *scratch = NULL;
    if (s4) {
        scratch = qn_alloc((size_t)nt * (nb * pb8 + QN_QG_B_SLACK));
        QN_ASSERT(scratch);
    }
    // A whose row stride crowds an L1 set is read from a copy at a stride that does not, each
    // thread copying its own rows: all of them once when they take at most QG_ACOPY_WHOLE (every
    // panel reads the copy), else chunk by chunk as the chunks come (once per block of panels:
    // a chunk's copy is a few % of what its tiles compute against the block).
    size_t ldp = a_copy_stride(cfg, M, lda, K, mb, np);
    size_t arows = QN_DIV_UP(mt, tm) * mb;
    const bool acopy_whole = arows * ldp <= QG_ACOPY_WHOLE;
    if (!acopy_whole) arows = QN_MIN(arows, QN_MAX(1, QG_CHUNK_BYTES / (mb * K)) * mb);
    // one-tile kernels read a copy only when it is made once per thread (else A as it is)
    if (!cfg->multi_tile && !acopy_whole) ldp = 0;
    const bool a_pad = cfg->a_pad && (ldp || a_whole_tiles(M, K, mb));
    uint8_t *acopy = NULL;
    if (ldp) {
        acopy = qn_alloc((size_t)nt * arows * ldp);
        QN_ASSERT(acopy);
    }
    const struct gemm_grid g = {.cfg = cfg, .M = M, .N = N, .K = K, .A = A, .lda = lda,
                                .acopy = acopy, .ldp = ldp, .arows = arows, .acopy_whole = acopy_whole, .a_pad = a_pad,
                                .packed = packed, .pb = pb, .pb8 = pb8, .np = np, .mt = mt, .mb = mb,
                                .nb = nb, .tn = tn, .tm = tm, .s4 = s4, .scratch = scratch,
                                .base = &base, .C = C, .ldc = ldc, .esize = esize};
    if (nt == 1) {
        gemm_grid_thread(&g, 0);
    } else {
#pragma omp parallel num_threads(nt)
        {
            // The runtime may give fewer threads than asked (a call from inside the caller's
            // own parallel region, OMP_THREAD_LIMIT, OMP_DYNAMIC): each thread then takes
            // every team-th share of the grid, so every share is computed all the same.
            const size_t step = (size_t)omp_get_num_threads();
            for (size_t t = (size_t)omp_get_thread_num(); t < (size_t)nt; t += step) gemm_grid_thread(&g, t);
        }
    }
    qn_free(scratch);
    qn_free(acopy);
}
