// The `qnas` command: parses global options, then dispatches to a subcommand.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "cpu.h"
#include "gemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static void usage(FILE *f) {
    fprintf(f,
            "usage: qnas [--threads N] <command> [options]\n"
            "\n"
            "commands:\n"
            "  info      CPU features, the kernel variant chosen for each op, thread count\n"
            "  help      this text\n"
            "\n"
            "environment:\n"
            "  QNAS_THREADS=N                         OpenMP threads (default: online cores)\n"
            "  QNAS_ISA=avx512|avxvnni|avx2|scalar    force a lower kernel variant\n");
}

static int cmd_info(void) {
    const struct qn_cpu_features *f = qn_cpu();
    printf("cpu:      %s\n", f->brand);
    printf("features:");
    struct { const char *name; bool on; } feats[] = {
        {"sse4.2", f->sse42}, {"avx", f->avx}, {"avx2", f->avx2}, {"fma", f->fma},
        {"f16c", f->f16c}, {"avx-vnni", f->avxvnni}, {"avx512f", f->avx512f},
        {"avx512bw", f->avx512bw}, {"avx512vl", f->avx512vl}, {"avx512dq", f->avx512dq},
        {"avx512-vnni", f->avx512vnni}, {"avx512-bf16", f->avx512bf16},
        {"avx512-fp16", f->avx512fp16}, {"amx-int8", f->amx_int8}, {"amx-bf16", f->amx_bf16},
    };
    for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
        if (feats[i].on) printf(" %s", feats[i].name);
    printf("\n");
    printf("isa:      %s (best supported: %s; supported:", qn_isa_name(qn_isa()),
           qn_isa_name(qn_isa_best()));
    for (int i = 0; i < QN_ISA_COUNT; i++)
        if (qn_isa_supported((enum qn_isa)i)) printf(" %s", qn_isa_name((enum qn_isa)i));
    printf(")\n");
    printf("threads:  %d\n", qn_threads());
    printf("kernels:\n");
    printf("  %-22s %s\n", "f32 gemm", qn_f32_gemm_variant());
    printf("  %-22s %s\n", "u8s8 gemm", qn_qgemm_variant(8, false));
    printf("  %-22s %s\n", "u8s8 gemv (batch 1)", qn_qgemm_variant(8, true));
    printf("  %-22s %s\n", "u8s4 gemm", qn_qgemm_variant(4, false));
    printf("  %-22s %s\n", "u8s4 gemv (batch 1)", qn_qgemm_variant(4, true));
    return 0;
}

int main(int argc, char **argv) {
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 1024) {
                fprintf(stderr, "qnas: --threads expects a number from 1 to 1024, got '%s'\n", argv[i]);
                return 2;
            }
            qn_threads_set((int)n);
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "qnas: unknown option '%s' (see qnas help)\n", argv[i]);
            return 2;
        }
    }
    qn_threads_set(qn_threads());
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "info") == 0) return cmd_info();
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "qnas: unknown command '%s' (see qnas help)\n", cmd);
    return 2;
}
