// Shared basics for every qnas translation unit: status codes, the assert macro,
// aligned allocation and small integer helpers. Kept tiny on purpose: kernels include it too.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// Library functions return a status and never exit(); the CLI maps a status to one message
// and exit code 2.
enum qn_status {
    QN_OK = 0,
    QN_ERR_ARG,      // invalid argument (shape, stride, genome, option)
    QN_ERR_IO,       // file could not be opened / read / written
    QN_ERR_FORMAT,   // malformed file contents
    QN_ERR_NOMEM,    // allocation failed
    QN_ERR_UNSUPPORTED,
};

const char *qn_status_str(enum qn_status s);

// Invariant check that stays on in release builds: prints file and line, then aborts.
// For programming errors only; bad user input is reported through a status.
#define QN_ASSERT(x)                                                                 \
    do {                                                                             \
        if (!(x)) {                                                                  \
            fprintf(stderr, "%s:%d: QN_ASSERT(%s) failed\n", __FILE__, __LINE__, #x);  \
            abort();                                                                 \
        }                                                                            \
    } while (0)

// Each argument may be evaluated twice: never pass one with side effects (a timing, an increment).
#define QN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define QN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define QN_DIV_UP(a, b) (((a) + (b) - 1) / (b))
#define QN_ROUND_UP(a, b) (QN_DIV_UP(a, b) * (b))

// Rows of a matrix, `stride` bytes apart, that share an L1 set: an L1 way is 4 KiB on every
// x86 core we run on (32 KiB 8-way, 48 KiB 12-way: 64 sets of 64 bytes), so a row stride that
// is a multiple of 4 KiB puts the k-th bytes of all the rows in one set. Rows that share a
// line count once. Kernels that read a tile's rows in place keep this well under the ways.
#define QN_L1_WAY_BYTES 4096u
static inline size_t qn_rows_per_l1_set(size_t stride, size_t rows) {
    unsigned char n[QN_L1_WAY_BYTES / 64] = {0};
    size_t most = 0;
    for (size_t i = 0; i < rows; i++) {
        const size_t line = i * stride / 64;
        if (i && line == (i - 1) * stride / 64) continue;
        const size_t c = ++n[line % (QN_L1_WAY_BYTES / 64)];
        if (c > most) most = c;
    }
    return most;
}

// True when threads that split the columns of C (row stride ldc_bytes) at multiples of
// panel_bytes would write the same cache lines: C, its rows or its panels not whole lines.
static inline bool qn_col_split_shares_lines(const void *c, size_t ldc_bytes, size_t panel_bytes) {
    return (uintptr_t)c % 64 || ldc_bytes % 64 || panel_bytes % 64;
}

// 64-byte aligned allocation (one cache line, one zmm). Returns NULL on failure or size 0.
void *qn_alloc(size_t bytes);
void qn_free(void *p);

// Monotonic wall clock in seconds.
double qn_now(void);
// Sleeps s seconds (s <= 0: returns at once).
void qn_sleep(double s);
