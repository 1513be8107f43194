// AVX2 row quads (qs8-dwconv.h): the transposition, for the AVX2 and AVX-VNNI levels (the
// AVX-512 pack's byte / word interleaves on ymm), and the kernels without VNNI (vpmaddwd on
// operands widened to s16; the shared structure in qs8-dwconv-quad-avx2.h).
#include "qs8-dwconv/qs8-dwconv-quad-avx2.h"
#include "qs8-dwconv/qs8-dwq-pack-col.h"

// Two blocks (32 channels) of one column: the interleaves work per 128-bit lane, so lane L of
// each result holds a quarter of block L's 64 bytes; vperm2i128 gathers each block's halves.
QN_INLINE void pack_col2(uint8_t *d, size_t qb, __m256i r0, __m256i r1, __m256i r2, __m256i r3) {
    const __m256i ab_lo = _mm256_unpacklo_epi8(r0, r1), ab_hi = _mm256_unpackhi_epi8(r0, r1);
    const __m256i cd_lo = _mm256_unpacklo_epi8(r2, r3), cd_hi = _mm256_unpackhi_epi8(r2, r3);
    const __m256i v0 = _mm256_unpacklo_epi16(ab_lo, cd_lo), v1 = _mm256_unpackhi_epi16(ab_lo, cd_lo);
    const __m256i v2 = _mm256_unpacklo_epi16(ab_hi, cd_hi), v3 = _mm256_unpackhi_epi16(ab_hi, cd_hi);
    _mm256_store_si256((__m256i *)d, _mm256_permute2x128_si256(v0, v1, 0x20));
    _mm256_store_si256((__m256i *)(d + 32), _mm256_permute2x128_si256(v2, v3, 0x20));
    _mm256_store_si256((__m256i *)(d + qb), _mm256_permute2x128_si256(v0, v1, 0x31));
    _mm256_store_si256((__m256i *)(d + qb + 32), _mm256_permute2x128_si256(v2, v3, 0x31));
}

// One block of nc <= 16 channels: a partial block's rows go through a buffer holding x_zp
// past nc.
static void pack_block(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc, uint8_t x_zp,
                       size_t pad, size_t w_q, uint8_t *quads) {
    const __m128i zp = _mm_set1_epi8((char)x_zp);
    const size_t ld_row = w * ld_x;
    for (size_t q = 0; q < (h + 3) / 4; q++) {
        const uint8_t *xr = x + 4 * q * ld_row;
        uint8_t *dst = quads + (q * w_q + pad) * 64;
        const size_t rows = h - 4 * q < 4 ? h - 4 * q : 4;
        for (size_t col = 0; col < w; col++, xr += ld_x) {
            __m128i v[4];
            for (size_t t = 0; t < 4; t++) {
                if (t >= rows) {
                    v[t] = zp;
                } else if (nc == 16) {
                    v[t] = _mm_loadu_si128((const __m128i *)(xr + t * ld_row));
                } else {
                    uint8_t b[16];
                    memset(b, x_zp, sizeof(b));
                    memcpy(b, xr + t * ld_row, nc);
                    v[t] = _mm_loadu_si128((const __m128i *)b);
                }
            }
            qn_qs8_dwq_pack_col(dst + col * 64, v[0], v[1], v[2], v[3]);
        }
    }
}

void qn_qs8_dwq_pack__avx2(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc, uint8_t x_zp,
                           size_t pad, size_t w_q, uint8_t *quads, size_t qb) {
    const size_t ld_row = w * ld_x;
    const __m256i zp = _mm256_set1_epi8((char)x_zp);
    size_t c0 = 0;
    for (; c0 + 32 <= nc; c0 += 32) {
        uint8_t *dst0 = quads + c0 / 16 * qb + pad * 64;
        for (size_t q = 0; q < (h + 3) / 4; q++) {
            const uint8_t *xr = x + c0 + 4 * q * ld_row;
            uint8_t *dst = dst0 + q * w_q * 64;
            const size_t rows = h - 4 * q < 4 ? h - 4 * q : 4;
            for (size_t col = 0; col < w; col++, xr += ld_x)
                pack_col2(dst + col * 64, qb, _mm256_loadu_si256((const __m256i *)xr),
                          rows > 1 ? _mm256_loadu_si256((const __m256i *)(xr + ld_row)) : zp,
                          rows > 2 ? _mm256_loadu_si256((const __m256i *)(xr + 2 * ld_row)) : zp,
                          rows > 3 ? _mm256_loadu_si256((const __m256i *)(xr + 3 * ld_row)) : zp);
        }
    }
    for (; c0 < nc; c0 += 16)
        pack_block(x + c0, h, w, ld_x, nc - c0 < 16 ? nc - c0 : 16, x_zp, pad, w_q, quads + c0 / 16 * qb);
}

QN_DWQ_KERNELS(avx2)
