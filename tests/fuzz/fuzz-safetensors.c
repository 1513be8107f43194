// libFuzzer target for the safetensors reader: `make fuzz` builds it with clang
// (-fsanitize=fuzzer,address,undefined) and runs it for FUZZ_SECONDS on a seed corpus.
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct qn_safetensors st;
    struct qn_error e;
    if (qn_st_parse(data, size, "fuzz", true, &st, &e) == QN_OK) {
        // Touch every tensor byte: the reader promised they are inside the data section.
        unsigned sum = 0;
        for (size_t i = 0; i < st.n; i++)
            for (size_t j = 0; j < st.tensors[i].nbytes; j++) sum += ((const uint8_t *)st.tensors[i].data)[j];
        (void)sum;
        qn_st_free(&st);
    }
    return 0;
}
