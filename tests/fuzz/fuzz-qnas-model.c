// libFuzzer target for the .qnas model reader (src/qnas-model.h): `make fuzz` builds it with
// clang (-fsanitize=fuzzer,address,undefined) against a clang build of the whole engine.
//
// Each input is parsed twice: as it is (magic, version, lengths, checksums), and with every
// checksum its layout allows recomputed, so that mutations also reach the header, genome,
// policy and layer-value checks the checksums would otherwise hide.
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "qnas-model.h"

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

// Walks the header and the records as the reader does, rewriting each checksum that fits.
static void fix_checksums(uint8_t *b, size_t len) {
    if (len < 12) return;
    const size_t H = rd32(b + 8);
    if (H > len - 12 || len - 12 - H < 4) return;
    wr32(b + 12 + H, (uint32_t)crc32(0, b, (uInt)(12 + H)));
    for (size_t pos = 16 + H; len - pos >= 4;) {
        const size_t P = rd32(b + pos);
        if (P > len - pos - 4 || len - pos - 4 - P < 4) return;
        wr32(b + pos + 4 + P, (uint32_t)crc32(0, b + pos, (uInt)(4 + P)));
        pos += 8 + P;
    }
}

static void parse(const uint8_t *data, size_t size) {
    struct qn_qnet q;
    struct qn_error e;
    // max batch 1 keeps the activation buffers of an accepted model small
    if (qn_qnas_parse(data, size, "fuzz", &q, 1, &e) == QN_OK) qn_qnet_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > QN_QNAS_MAX_FILE) return 0;
    parse(data, size);
    uint8_t *b = malloc(size ? size : 1);
    if (!b) return 0;
    if (size) memcpy(b, data, size);
    fix_checksums(b, size);
    parse(b, size);
    free(b);
    return 0;
}
