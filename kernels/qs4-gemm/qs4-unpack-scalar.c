// Scalar reference: packed s4 panels -> s8 c4 panels (layouts in qs8-gemm.h). The s4 GEMM
// unpacks a block of panels once and reuses it for every row tile of A.
#include "qs8-gemm/qs8-gemm.h"

void qn_qs4_unpack__scalar(size_t np, size_t nr, size_t kc, const uint8_t *w4, int8_t *w8) {
    // one k-oct of a panel: nr*4 packed bytes -> 2 k-quads of nr*4 s8
    const size_t octs = (kc + 7) / 8, q = nr * 4;
    for (size_t o = 0; o < np * octs; o++, w4 += q, w8 += 2 * q) {
        for (size_t i = 0; i < q; i++) {
            w8[i] = (int8_t)qn_s4_value(w4[i] & 15u);
            w8[q + i] = (int8_t)qn_s4_value(w4[i] >> 4);
        }
    }
}
