// Error reports from readers and commands: one message naming the file and the problem.
// Library code fills a struct qn_error and returns a status; the CLI prints the message once
// and exits with status 2.
#pragma once

#include <stdarg.h>

#include "common.h"

struct qn_error {
    char msg[512];
};

// Formats the message into e (if e is not NULL) and returns `status`, so readers can write
//   return qn_fail(e, QN_ERR_FORMAT, "%s: header length %llu exceeds file size", path, n);
enum qn_status qn_fail(struct qn_error *e, enum qn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
