#include "error.h"

#include <stdio.h>

enum qn_status qn_fail(struct qn_error *e, enum qn_status status, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return status;
}
