// Small pieces the whole-network benchmarks (bench-train, bench-subnet) share: a median that
// sorts in place, and writing a cJSON array of rows to a file.
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

static int qb_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Median of v[0..n) (n >= 1); v is sorted in place.
static inline double qb_median_sort(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), qb_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Writes rows as indented JSON to path; prints what it did. Returns 0, or 1 after a message.
static inline int qb_json_write(const char *prog, cJSON *rows, const char *path) {
    char *s = cJSON_Print(rows);
    FILE *f = s ? fopen(path, "w") : NULL;
    int bad = !f || fputs(s, f) < 0;
    if (f && fclose(f) != 0) bad = 1;
    free(s);
    if (bad) {
        fprintf(stderr, "%s: cannot write %s\n", prog, path);
        return 1;
    }
    printf("# %s written\n", path);
    return 0;
}
