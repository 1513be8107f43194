// Weight files that pass every file check yet hold values no trained network has: a copy of a
// safetensors file with each value of one F32 tensor set to v. The readers' checks (header,
// shapes, finite values) all pass, so what is under test is what happens after loading.
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "test.h"

// false when src cannot be read, is not a safetensors file with that tensor, or dst cannot be
// written
static inline bool qt_weights_with(const char *src, const char *dst, const char *tensor, float v) {
    size_t len = 0;
    uint8_t *b = (uint8_t *)qt_slurp(src, &len);
    uint64_t n = 0;
    if (b && len >= 8) memcpy(&n, b, 8);
    bool ok = b && len >= 8 && n < len - 8;
    cJSON *h = NULL;
    if (ok) {
        const uint8_t c = b[8 + n];
        b[8 + n] = 0;
        h = cJSON_Parse((const char *)b + 8);
        b[8 + n] = c;
    }
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, tensor), "data_offsets");
    ok = ok && cJSON_GetArraySize(off) == 2;
    const size_t lo = ok ? 8 + n + (size_t)cJSON_GetArrayItem(off, 0)->valuedouble : 0;
    const size_t hi = ok ? 8 + n + (size_t)cJSON_GetArrayItem(off, 1)->valuedouble : 0;
    ok = ok && lo <= hi && hi <= len;
    for (size_t i = lo; ok && i + 4 <= hi; i += 4) memcpy(b + i, &v, 4);
    FILE *f = ok ? fopen(dst, "wb") : NULL;
    ok = f && fwrite(b, 1, len, f) == len;
    if (f) ok &= fclose(f) == 0;
    cJSON_Delete(h), free(b);
    return ok;
}
