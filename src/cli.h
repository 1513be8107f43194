// Shared pieces of the `qnas` subcommands: argument parsing and loading a supernet, each
// turning bad input into one message on stderr and exit status 2.
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "idx.h"
#include "qnet.h"
#include "supernet.h"

// Prints "qnas CMD: <fmt with a, b>" and returns 2.
int qn_cli_bad(const char *cmd, const char *fmt, const char *a, const char *b);
bool qn_cli_long(const char *s, long lo, long hi, long *out);
bool qn_cli_float(const char *s, double lo, double hi, float *out);
// Whether a is one of the n names (an option list).
bool qn_cli_one_of(const char *a, const char *const *names, size_t n);

// An input file of a command, named by its option ("--weights").
struct qn_cli_input {
    const char *opt, *path;  // path NULL: not given
};
// Checks an output file before the command does any work (one message, returns 2): not a
// folder or other non-regular file, not the same file as any input (device and inode, however
// the path is spelled) nor, with `data`, one of the IDX files of data_dir (NULL: the default
// folder), and creatable in its folder. Returns 0 when the output may be written.
int qn_cli_check_out(const char *cmd, const char *opt, const char *path, const struct qn_cli_input *in, int n_in,
                     bool data, const char *data_dir);

// Reads a supernet checkpoint (safetensors with the space in its metadata) into net.
// Returns 0, or prints the reason and returns 2.
int qn_cli_load_supernet(const char *cmd, const char *path, struct qn_mb_net *net);

// --- what `qnas eval` shares with sensitivity, export and run (cli-eval.c) ---

// The options that say how a subnet is built and measured.
struct qn_cli_eval_opts {
    const char *weights, *genome, *policy, *data;
    enum qn_split split;     // default val
    long limit;              // images, 0: all
    bool json;
    struct qn_qnet_cfg cfg;  // qn_qnet_cfg_default, then --calib, --wcalib, --percentile, --*-images
};
void qn_cli_eval_opts_default(struct qn_cli_eval_opts *o);
// Parses a shared option at argv[*i] (advancing *i past its value). Returns 1 when taken,
// 0 when not one of them, 2 after reporting a bad value.
int qn_cli_eval_opt(const char *cmd, struct qn_cli_eval_opts *o, int argc, char **argv, int *i);
// Loads the supernet, genome, policy (default fp32), the training split and, unless ds is
// NULL, o->split. Returns 0, or 2 after reporting (nothing left to free).
int qn_cli_eval_load(const char *cmd, const struct qn_cli_eval_opts *o, struct qn_mb_net *net, struct qn_mb_genome *g,
                     struct qn_mb_policy *p, struct qn_dataset *train, struct qn_dataset *ds);

struct qn_cli_eval_result {
    double accuracy;      // top-1
    int images;           // evaluated
    enum qn_split split;
    double secs;          // of what `timed` says
    const char *timed;    // "build + accuracy", "load + accuracy"
};
// Measures q's latency at batch 1 (reps runs) and 64 (reps / 5, at least 5) unless reps is 0,
// then prints the report of `qnas eval` on stdout: text, or one JSON object (genome, policy,
// accuracy, macs, params, size_bytes, latency_ms_b1, latency_ms_b64 (null without latency),
// their ranges, threads, split, images, calibration). q->max_batch must be >= 64.
void qn_cli_eval_report(struct qn_qnet *q, const struct qn_cli_eval_result *r, long reps, bool json);

int qn_cmd_eval(int argc, char **argv);
int qn_cmd_sensitivity(int argc, char **argv);
// `qnas moo`: NSGA-II on a standard test problem (src/cli-moo.c).
int qn_cmd_moo(int argc, char **argv);
// `qnas search`: the joint architecture + quantization search (src/cli-search.c).
int qn_cmd_search(int argc, char **argv);
// `qnas export` (a standalone .qnas model from the supernet) and `qnas run` (evaluates one),
// src/cli-export.c.
int qn_cmd_export(int argc, char **argv);
int qn_cmd_run(int argc, char **argv);
