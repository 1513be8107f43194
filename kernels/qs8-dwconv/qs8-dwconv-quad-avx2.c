// AVX2 row quads (qs8-dwconv.h): the transpositions, [channel][4 rows] for the AVX-VNNI level
// (the AVX-512 pack's byte / word interleaves on ymm) and pair order for plain AVX2 (the byte
// interleaves alone), and the kernels without VNNI (vpmaddwd on operands widened to s16; the
// shared structure in qs8-dwconv-quad-avx2.h).
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

// The same in pair order: rows 0-1 of channels 0-7 interleaved, rows 2-3, then channels 8-15.
QN_INLINE void pack_col2_pairs(uint8_t *d, size_t qb, __m256i r0, __m256i r1, __m256i r2, __m256i r3) {
    const __m256i ab_lo = _mm256_unpacklo_epi8(r0, r1), ab_hi = _mm256_unpackhi_epi8(r0, r1);
    const __m256i cd_lo = _mm256_unpacklo_epi8(r2, r3), cd_hi = _mm256_unpackhi_epi8(r2, r3);
    _mm256_store_si256((__m256i *)d, _mm256_permute2x128_si256(ab_lo, cd_lo, 0x20));
    _mm256_store_si256((__m256i *)(d + 32), _mm256_permute2x128_si256(ab_hi, cd_hi, 0x20));
    _mm256_store_si256((__m256i *)(d + qb), _mm256_permute2x128_si256(ab_lo, cd_lo, 0x31));
    _mm256_store_si256((__m256i *)(d + qb + 32), _mm256_permute2x128_si256(ab_hi, cd_hi, 0x31));
}

QN_INLINE void pack_col_pairs(uint8_t *d, __m128i r0, __m128i r1, __m128i r2, __m128i r3) {
    _mm_store_si128((__m128i *)d + 0, _mm_unpacklo_epi8(r0, r1));
    _mm_store_si128((__m128i *)d + 1, _mm_unpacklo_epi8(r2, r3));
    _mm_store_si128((__m128i *)d + 2, _mm_unpackhi_epi8(r0, r1));
    _mm_store_si128((__m128i *)d + 3, _mm_unpackhi_epi8(r2, r3));
}

// A pixel's channels [c0, c0 + n) from p, the lanes past n x_zp. A whole vector load where it
// stays inside the image (end: one past its last pixel's last channel), the lanes past n then
// replaced by a blend; else through a buffer. Per-pixel buffers (memset + memcpy for every row
// of every column) made the pack of a 24-channel 28x28 layer 10 of the 12 us it took.
QN_INLINE __m128i load16_part(const uint8_t *p, const uint8_t *end, __m128i keep, __m128i zp) {
    if (p + 16 <= end) return _mm_blendv_epi8(zp, _mm_loadu_si128((const __m128i *)p), keep);
    uint8_t b[16];
    _mm_storeu_si128((__m128i *)b, zp);
    memcpy(b, p, (size_t)(end - p) < 16 ? (size_t)(end - p) : 16);
    return _mm_blendv_epi8(zp, _mm_loadu_si128((const __m128i *)b), keep);
}
QN_INLINE __m256i load32_part(const uint8_t *p, const uint8_t *end, __m256i keep, __m256i zp) {
    if (p + 32 <= end) return _mm256_blendv_epi8(zp, _mm256_loadu_si256((const __m256i *)p), keep);
    uint8_t b[32];
    _mm256_storeu_si256((__m256i *)b, zp);
    memcpy(b, p, (size_t)(end - p) < 32 ? (size_t)(end - p) : 32);
    return _mm256_blendv_epi8(zp, _mm256_loadu_si256((const __m256i *)b), keep);
}

// Byte lanes below n set (n <= 32).
QN_INLINE __m256i lanes_below(size_t n) {
    const __m256i idx = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                         21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    return _mm256_cmpgt_epi8(_mm256_set1_epi8((char)n), idx);
}

// One block of nc <= 16 channels.
QN_INLINE void pack_block(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc, uint8_t x_zp,
                          size_t pad, size_t w_q, uint8_t *quads, const uint8_t *end, const bool PAIRS) {
    const __m128i zp = _mm_set1_epi8((char)x_zp), keep = _mm256_castsi256_si128(lanes_below(nc));
    const size_t ld_row = w * ld_x;
    for (size_t q = 0; q < (h + 3) / 4; q++) {
        const uint8_t *xr = x + 4 * q * ld_row;
        uint8_t *dst = quads + (q * w_q + pad) * 64;
        const size_t rows = h - 4 * q < 4 ? h - 4 * q : 4;
        for (size_t col = 0; col < w; col++, xr += ld_x) {
            __m128i v[4];
            for (size_t t = 0; t < 4; t++)
                v[t] = t >= rows  ? zp
                       : nc == 16 ? _mm_loadu_si128((const __m128i *)(xr + t * ld_row))
                                  : load16_part(xr + t * ld_row, end, keep, zp);
            if (PAIRS)
                pack_col_pairs(dst + col * 64, v[0], v[1], v[2], v[3]);
            else
                qn_qs8_dwq_pack_col(dst + col * 64, v[0], v[1], v[2], v[3]);
        }
    }
}

QN_INLINE void pack(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc, uint8_t x_zp, size_t pad,
                    size_t w_q, uint8_t *quads, size_t qb, const bool PAIRS) {
    const size_t ld_row = w * ld_x;
    const uint8_t *end = x + (h - 1) * ld_row + (w - 1) * ld_x + nc;
    const __m256i zp = _mm256_set1_epi8((char)x_zp);
    size_t c0 = 0;
    // two blocks at a time; a pair with 17..31 channels (24, say) too, its lanes past nc x_zp
    for (; c0 + 16 < nc; c0 += 32) {
        const size_t n2 = nc - c0 < 32 ? nc - c0 : 32;
        const __m256i keep = lanes_below(n2);
        uint8_t *dst0 = quads + c0 / 16 * qb + pad * 64;
        for (size_t q = 0; q < (h + 3) / 4; q++) {
            const uint8_t *xr = x + c0 + 4 * q * ld_row;
            uint8_t *dst = dst0 + q * w_q * 64;
            const size_t rows = h - 4 * q < 4 ? h - 4 * q : 4;
            for (size_t col = 0; col < w; col++, xr += ld_x) {
                __m256i v[4];
                for (size_t t = 0; t < 4; t++)
                    v[t] = t >= rows  ? zp
                           : n2 == 32 ? _mm256_loadu_si256((const __m256i *)(xr + t * ld_row))
                                      : load32_part(xr + t * ld_row, end, keep, zp);
                if (PAIRS)
                    pack_col2_pairs(dst + col * 64, qb, v[0], v[1], v[2], v[3]);
                else
                    pack_col2(dst + col * 64, qb, v[0], v[1], v[2], v[3]);
            }
        }
    }
    if (c0 < nc) pack_block(x + c0, h, w, ld_x, nc - c0, x_zp, pad, w_q, quads + c0 / 16 * qb, end, PAIRS);
}

void qn_qs8_dwq_pack__avx2(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc, uint8_t x_zp,
                           size_t pad, size_t w_q, uint8_t *quads, size_t qb) {
    pack(x, h, w, ld_x, nc, x_zp, pad, w_q, quads, qb, false);
}

void qn_qs8_dwq_pack_pairs__avx2(const uint8_t *x, size_t h, size_t w, size_t ld_x, size_t nc, uint8_t x_zp,
                                 size_t pad, size_t w_q, uint8_t *quads, size_t qb) {
    pack(x, h, w, ld_x, nc, x_zp, pad, w_q, quads, qb, true);
}

QN_DWQ_KERNELS(avx2)
