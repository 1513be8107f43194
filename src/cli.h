// Shared pieces of the `qnas` subcommands: argument parsing and loading a supernet, each
// turning bad input into one message on stderr and exit status 2.
#pragma once

#include <stdbool.h>

#include "supernet.h"

// Prints "qnas CMD: <fmt with a, b>" and returns 2.
int qn_cli_bad(const char *cmd, const char *fmt, const char *a, const char *b);
bool qn_cli_long(const char *s, long lo, long hi, long *out);
bool qn_cli_float(const char *s, double lo, double hi, float *out);

// Reads a supernet checkpoint (safetensors with the space in its metadata) into net.
// Returns 0, or prints the reason and returns 2.
int qn_cli_load_supernet(const char *cmd, const char *path, struct qn_mb_net *net);

int qn_cmd_eval(int argc, char **argv);
int qn_cmd_sensitivity(int argc, char **argv);
// `qnas moo`: NSGA-II on a standard test problem (src/cli-moo.c).
int qn_cmd_moo(int argc, char **argv);
