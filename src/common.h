// Shared basics for every qnas translation unit: status codes, the assert macro,
// aligned allocation and small integer helpers. Kept tiny on purpose: kernels include it too.
#pragma once

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

// 64-byte aligned allocation (one cache line, one zmm). Returns NULL on failure or size 0.
void *qn_alloc(size_t bytes);
void qn_free(void *p);

// Monotonic wall clock in seconds.
double qn_now(void);
// Sleeps s seconds (s <= 0: returns at once).
void qn_sleep(double s);
