// libFuzzer target for the IDX reader (through a temp file, since it reads via zlib).
#include <stdio.h>
#include <unistd.h>

#include "idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof(path), "/tmp/qnas-fuzz-idx.%ld", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    int dims[3];
    uint8_t *px = NULL;
    struct qn_error e;
    for (int nd = 1; nd <= 3; nd += 2)
        if (qn_idx_read(path, nd, dims, &px, &e) == QN_OK) qn_free(px);
    return 0;
}
