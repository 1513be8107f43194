// The `qnas` command: parses global options, then dispatches to a subcommand.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "cpu.h"
#include "attention.h"
#include "conv.h"
#include "gemm.h"
#include "nn.h"
#include "ops.h"
#include "train.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: qnas [--threads N] <command> [options]\n"
            "\n"
            "commands:\n"
            "  info      CPU features, the kernel variant chosen for each op, thread count\n"
            "  train     train the elastic supernet:\n"
            "              qnas train --space mbconv-fmnist --out W.safetensors [--epochs N] [--batch B]\n"
            "                         [--lr LR] [--wd WD] [--optim sgd|adamw] [--seed S] [--resume]\n"
            "                         [--data DIR] [--limit-train N] [--limit-val N] [--stop-after N]\n"
            "                         [--qat --init FP32.safetensors [--qat-bits 4,6,8]]  quantization-aware\n"
            "                           fine-tuning, each layer's weight bits drawn per step (DAQU)\n"
            "  eval      one subnet at one quantization policy, straight from the shared weights:\n"
            "              qnas eval --weights W --genome max|min|random:SEED|TEXT [--policy P]\n"
            "                        [--split val|test] [--limit N] [--data DIR] [--json]\n"
            "                        [--calib minmax|percentile|mse] [--wcalib minmax|mse]\n"
            "                        [--percentile P in (50, 100], default 99.99] [--calib-images N] [--bn-images N]\n"
            "                        [--reps N] [--no-latency]\n"
            "                        [--logits FILE (raw float32 [N][10])] [--save-subnet FILE (BN re-estimated)]\n"
            "              policies: fp32 (default), int8, int4 (W4A8), w<B>a<B>, mixed:..., then\n"
            "                        ;<layer>=<entry> overrides (see README)\n"
            "  sensitivity  accuracy drop and NSR when each single layer goes to --bits (default 4):\n"
            "              qnas sensitivity --weights W --genome G [--policy BASE] [--bits B]\n"
            "                        [--split val|test] [--limit N] [--json]\n"
            "                        [--suggest F: also a mixed policy within F x the base size]\n"
            "  export    a standalone quantized model file (packed integer weights, no supernet), built\n"
            "            exactly as eval builds it:\n"
            "              qnas export --weights W --genome G [--policy P] --out MODEL.qnas [--data DIR] [--json]\n"
            "                          [--calib ...] [--wcalib ...] [--percentile P] [--calib-images N] [--bn-images N]\n"
            "  run       evaluate a model file, with the report of eval:\n"
            "              qnas run MODEL.qnas [--split val|test] [--limit N] [--data DIR] [--json]\n"
            "                       [--reps N] [--no-latency]\n"
            "  search    NSGA-II over architecture + per-layer bit widths, MLP predictors, measured latency:\n"
            "              qnas search --weights W --out DIR [--samples 60] [--population 64] [--generations 40]\n"
            "                          [--iterations 2] [--per-iteration 12] [--objectives acc,latency,size]\n"
            "                          [--latency-budget MS] [--size-budget KB] [--bits 4,6,8] [--seed S]\n"
            "                          [--val-images N] [--test-images N] [--bn-images N] [--calib-images N]\n"
            "                          [--latency-reps N] [--latency-threads 1] [--max-front N] [--latency-table FILE]\n"
            "                          [--resume] [--data DIR] [--quiet]\n"
            "  moo       NSGA-II on a test problem with a known front (checks the optimizer):\n"
            "              qnas moo --problem zdt1|zdt2|zdt3|dtlz2 [--pop 100] [--gen 250] [--seed S]\n"
            "                       [--out FRONT.csv] [--progress N]\n"
            "                       (--pop at most 10000: each generation's sort is quadratic in it)\n"
            "  help      this text\n"
            "\n"
            "environment:\n"
            "  QNAS_THREADS=N                         OpenMP threads, 1..1024 (default: online cores;\n"
            "                                         --threads overrides)\n"
            "  QNAS_ISA=avx512|avxvnni|avx2|scalar    force a lower kernel variant\n"
            "  QNAS_AMX=0|1                           0: the INT8 GEMM runs the avx512 kernels even\n"
            "                                         where AMX is present (default 1)\n");
}

static int cmd_info(int argc, char **argv) {
    if (argc > 0) return qn_cli_bad("info", "unknown option '%s'%s (info takes no arguments)", argv[0], "");
    const struct qn_cpu_features *f = qn_cpu();
    printf("cpu:      %s\n", f->brand);
    printf("features:");
    struct { const char *name; bool on; } feats[] = {
        {"sse4.2", f->sse42}, {"avx", f->avx}, {"avx2", f->avx2}, {"fma", f->fma},
        {"f16c", f->f16c}, {"avx-vnni", f->avxvnni}, {"avx512f", f->avx512f},
        {"avx512bw", f->avx512bw}, {"avx512vl", f->avx512vl}, {"avx512dq", f->avx512dq},
        {"avx512-vnni", f->avx512vnni}, {"avx512-vbmi", f->avx512vbmi}, {"avx512-bf16", f->avx512bf16},
        {"avx512-fp16", f->avx512fp16}, {"amx-tile", f->amx_tile}, {"amx-int8", f->amx_int8}, {"amx-bf16", f->amx_bf16},
    };
    for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
        if (feats[i].on) printf(" %s", feats[i].name);
    printf("\n");
    printf("isa:      %s (best supported: %s; supported:", qn_isa_name(qn_isa()),
           qn_isa_name(qn_isa_best()));
    for (int i = 0; i < QN_ISA_COUNT; i++)
        if (qn_isa_supported((enum qn_isa)i)) printf(" %s", qn_isa_name((enum qn_isa)i));
    printf(")\n");
    printf("amx:      %s\n", qn_amx() ? "in use by the u8s8 / u8s4 gemm (QNAS_AMX=0: the avx512 kernels instead)"
                               : qn_amx_supported() ? "present, not in use (QNAS_AMX=0 or a lower isa)"
                               : f->amx_int8 ? "in the cpu, but the os does not grant the tile state"
                                             : "no");
    printf("caches:   L1d %lu KiB, L2 %lu KiB, L3 %lu KiB (per cache, from cpuid; 0: not reported)\n",
           f->l1d >> 10, f->l2 >> 10, f->l3 >> 10);
    printf("threads:  %d\n", qn_threads());
    printf("kernels:\n");
    struct { const char *op, *name; } k[] = {
        {"f32 gemm", qn_f32_gemm_variant()},
        {"f32 gemm, A in place", qn_f32_gemm_wide_variant()},
        {"u8s8 gemm", qn_qgemm_variant(8, false)},
        {"u8s8 gemv (batch 1)", qn_qgemm_variant(8, true)},
        {"u8s4 gemm", qn_qgemm_variant(4, false)},
        {"u8s4 gemv (batch 1)", qn_qgemm_variant(4, true)},
        {"f32 conv 1x1", "gemm on NHWC (f32 gemm)"},
        {"f32 / u8s8 conv kxk", "direct for kh*kw*c_in <= 256 (f32-conv-hwc, qs8-conv-hwc), else im2col + gemm"},
        {"f32 dwconv 3x3", qn_f32_dwconv_variant(3)},
        {"f32 dwconv 5x5", qn_f32_dwconv_variant(5)},
        {"f32 dwconv 7x7", qn_f32_dwconv_variant(7)},
        {"u8s8 dwconv 3x3", qn_qs8_dwconv_variant(3)},
        {"u8s8 dwconv 5x5", qn_qs8_dwconv_variant(5)},
        {"u8s8 dwconv 7x7", qn_qs8_dwconv_variant(7)},
        {"f32 attention", qn_f32_mha_variant()},
        {"u8s8 attention", qn_qs8_mha_variant()},
        {"f32 layer norm", qn_f32_layernorm_variant()},
        {"f32 softmax", qn_f32_softmax_variant()},
        {"f32 relu6", qn_f32_vact_variant(QN_ACT_RELU6)},
        {"f32 hardswish", qn_f32_vact_variant(QN_ACT_HSWISH)},
        {"f32 gelu", qn_f32_vact_variant(QN_ACT_GELU)},
        {"f32 add", qn_f32_vadd_variant()},
        {"f32 global avg pool", qn_f32_global_avgpool_variant()},
        {"f32 avg pool", qn_f32_avgpool_variant()},
        {"f32 -> u8 quantize", qn_qu8_quantize_variant()},
        {"u8 -> f32 dequantize", qn_qu8_dequantize_variant()},
        {"training (dw, bn)", qn_nn_kernels_variant()},
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) printf("  %-22s %s\n", k[i].op, k[i].name);
    return 0;
}

static char *join_args(int argc, char **argv) {
    size_t n = 1;
    for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 0; i < argc; i++) strcat(strcat(s, i ? " " : ""), argv[i]);
    return s;
}

static int cmd_train(int argc, char **argv, const char *cmdline) {
    struct qn_train_cfg c;
    qn_train_cfg_default(&c);
    c.threads = qn_threads();
    c.cmdline = cmdline;
    const char *space = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(a, "--resume") == 0) { c.resume = true; continue; }
        if (strcmp(a, "--qat") == 0) { c.qat = true; continue; }
        static const char *const with_value[] = {
            "--space", "--out", "--data", "--epochs", "--batch", "--seed", "--limit-train", "--stop-after",
            "--limit-val", "--random-subnets", "--lr", "--wd", "--smoothing", "--warmup", "--optim", "--init",
            "--qat-bits"};
        if (!qn_cli_one_of(a, with_value, sizeof(with_value) / sizeof(with_value[0])))
            return qn_cli_bad("train", "unknown option '%s'%s (see qnas help)", a, "");
        if (!v) return qn_cli_bad("train", "option %s needs a value%s", a, "");
        i++;
        if (strcmp(a, "--space") == 0) space = v;
        else if (strcmp(a, "--out") == 0) c.out = v;
        else if (strcmp(a, "--data") == 0) c.data_dir = v;
        else if (strcmp(a, "--epochs") == 0) { if (!qn_cli_long(v, 1, 10000, &n)) return qn_cli_bad("train", "--epochs expects 1..10000, got '%s'%s", v, ""); c.epochs = (int)n; }
        else if (strcmp(a, "--batch") == 0) { if (!qn_cli_long(v, 2, 4096, &n)) return qn_cli_bad("train", "--batch expects 2..4096, got '%s'%s", v, ""); c.batch = (int)n; }
        else if (strcmp(a, "--seed") == 0) { if (!qn_cli_long(v, 0, 2147483647L, &n)) return qn_cli_bad("train", "--seed expects a non-negative integer, got '%s'%s", v, ""); c.seed = (uint64_t)n; }
        else if (strcmp(a, "--limit-train") == 0) { if (!qn_cli_long(v, 1, 100000000L, &n)) return qn_cli_bad("train", "--limit-train expects a positive count, got '%s'%s", v, ""); c.limit_train = (int)n; }
        else if (strcmp(a, "--stop-after") == 0) { if (!qn_cli_long(v, 1, 10000, &n)) return qn_cli_bad("train", "--stop-after expects a number of epochs, got '%s'%s", v, ""); c.stop_after = (int)n; }
        else if (strcmp(a, "--limit-val") == 0) { if (!qn_cli_long(v, 1, 100000000L, &n)) return qn_cli_bad("train", "--limit-val expects a positive count, got '%s'%s", v, ""); c.limit_val = (int)n; }
        else if (strcmp(a, "--random-subnets") == 0) { if (!qn_cli_long(v, 0, 16, &n)) return qn_cli_bad("train", "--random-subnets expects 0..16, got '%s'%s", v, ""); c.n_random = (int)n; }
        else if (strcmp(a, "--lr") == 0) { if (!qn_cli_float(v, 1e-7, 10, &c.lr)) return qn_cli_bad("train", "--lr expects a number in (0, 10], got '%s'%s", v, ""); }
        else if (strcmp(a, "--wd") == 0) { if (!qn_cli_float(v, 0, 1, &c.weight_decay)) return qn_cli_bad("train", "--wd expects a number in [0, 1], got '%s'%s", v, ""); }
        else if (strcmp(a, "--smoothing") == 0) { if (!qn_cli_float(v, 0, 0.5, &c.smoothing)) return qn_cli_bad("train", "--smoothing expects [0, 0.5], got '%s'%s", v, ""); }
        else if (strcmp(a, "--warmup") == 0) { if (!qn_cli_float(v, 0, 1000, &c.warmup_epochs)) return qn_cli_bad("train", "--warmup expects epochs >= 0, got '%s'%s", v, ""); }
        else if (strcmp(a, "--optim") == 0) {
            if (strcmp(v, "sgd") == 0) c.optim = QN_OPT_SGD;
            else if (strcmp(v, "adamw") == 0) c.optim = QN_OPT_ADAMW;
            else return qn_cli_bad("train", "--optim expects sgd or adamw, got '%s'%s", v, "");
        } else if (strcmp(a, "--init") == 0) c.init = v;
        else if (strcmp(a, "--qat-bits") == 0) {
            // comma-separated widths, e.g. 4,6,8
            int n = 0;
            const char *p = v;
            while (*p) {
                char *end;
                long b = strtol(p, &end, 10);
                if (end == p || b < 2 || b > 8 || n == 4 || (*end && *end != ',') || (*end == ',' && !end[1]))
                    return qn_cli_bad("train", "--qat-bits expects up to 4 widths in 2..8 separated by commas, got '%s'%s", v, "");
                c.qat_bits[n++] = (int)b;
                p = *end ? end + 1 : end;
            }
            if (!n) return qn_cli_bad("train", "--qat-bits expects up to 4 widths in 2..8 separated by commas, got '%s'%s", v, "");
            c.n_qat_bits = n;
        } else return qn_cli_bad("train", "unknown option '%s'%s (see qnas help)", a, "");
    }
    if (!space) return qn_cli_bad("train", "--space is required (the only space so far: %s)%s", "mbconv-fmnist", "");
    if (!qn_mb_space_find(space)) return qn_cli_bad("train", "unknown space '%s' (known: %s)", space, "mbconv-fmnist");
    if (!c.out) return qn_cli_bad("train", "--out FILE is required%s%s", "", "");
    if (c.qat && !c.init) return qn_cli_bad("train", "--qat needs --init FILE (the FP32 supernet to fine-tune)%s%s", "", "");
    // Before any work: --out is never --init or a data file, and can be written (with --resume
    // it is the checkpoint read back, so it may exist).
    const struct qn_cli_input in[] = {{"--init", c.init}};
    if (qn_cli_check_out("train", "--out", c.out, in, 1, true, c.data_dir)) return 2;
    if (c.warmup_epochs >= c.epochs) c.warmup_epochs = 0;
    struct qn_error e = {{0}};
    enum qn_status st = qn_train(&c, &e);
    if (st) {
        fprintf(stderr, "qnas train: %s\n", e.msg);
        return 2;
    }
    fprintf(stderr, "qnas train: wrote %s\n", c.out);
    return 0;
}

static int run_command(int argc, char **argv) {
    // --threads N is global: taken (and removed) wherever it appears, before or after the command.
    bool threads_given = false;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--threads") != 0) continue;
        if (a + 1 >= argc) {
            fprintf(stderr, "qnas: --threads expects a number from 1 to %d\n", QN_MAX_THREADS);
            return 2;
        }
        int n;
        if (!qn_threads_parse(argv[a + 1], &n)) {
            fprintf(stderr, "qnas: --threads expects a number from 1 to %d, got '%s'\n", QN_MAX_THREADS, argv[a + 1]);
            return 2;
        }
        qn_threads_set(n);
        threads_given = true;
        for (int b = a; b + 2 <= argc; b++) argv[b] = argv[b + 2];
        argc -= 2, a--;
    }
    // QNAS_THREADS, when --threads does not override it, is held to the same rule (empty: unset).
    const char *env_threads = getenv("QNAS_THREADS");
    int n_env;
    if (!threads_given && env_threads && *env_threads && !qn_threads_parse(env_threads, &n_env)) {
        fprintf(stderr, "qnas: QNAS_THREADS expects a number from 1 to %d, got '%s'\n", QN_MAX_THREADS, env_threads);
        return 2;
    }
    const char *env_amx = getenv("QNAS_AMX");
    if (env_amx && *env_amx && strcmp(env_amx, "0") != 0 && strcmp(env_amx, "1") != 0) {
        fprintf(stderr, "qnas: QNAS_AMX expects 0 or 1, got '%s'\n", env_amx);
        return 2;
    }
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "qnas: unknown option '%s' (see qnas help)\n", argv[i]);
            return 2;
        }
    }
    qn_threads_set(qn_threads());
    qn_flush_denormals();
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "info") == 0) return cmd_info(argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "train") == 0) {
        char *line = join_args(argc, argv);
        int rc = cmd_train(argc - i - 1, argv + i + 1, line);
        free(line);
        return rc;
    }
    if (strcmp(cmd, "eval") == 0) return qn_cmd_eval(argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "sensitivity") == 0) return qn_cmd_sensitivity(argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "export") == 0) return qn_cmd_export(argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "run") == 0) return qn_cmd_run(argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "moo") == 0) return qn_cmd_moo(argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "search") == 0) return qn_cmd_search(argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "help") == 0) {
        if (i + 1 < argc) return qn_cli_bad("help", "unknown option '%s'%s (help takes no arguments)", argv[i + 1], "");
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "qnas: unknown command '%s' (see qnas help)\n", cmd);
    return 2;
}

int main(int argc, char **argv) {
    int rc = run_command(argc, argv);
    // reports and --json go to stdout: one that could not be written (a full disk, a closed
    // pipe's reader) is a failure, not a success with a truncated result
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "qnas: cannot write standard output: %s\n", strerror(errno ? errno : EIO));
        if (!rc) rc = 2;
    }
    return rc;
}
