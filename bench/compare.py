#!/usr/bin/python3
# Compares two kernel benchmark results (build/bench-kernels.json of two builds, run on the same
# machine) row by row and lists the rows whose ratio to a peer moved by more than a threshold.
# The ratios, not the raw GFLOP/s, are compared: each was measured against the peer in the
# same run, so they carry much less of a shared machine's noise.
#
#   bench/compare.py OLD.json NEW.json [--peer onednn|openblas|ref_cblas] [--threshold 0.10]
#                    [--threads 1|2|all]
#
# Keep a run's JSON before changing a kernel (cp build/bench-kernels.json /tmp/before.json),
# then `make bench` and compare. Only the one-thread rows by default: two runs of one build on a
# shared 2-core machine moved two-thread rows by up to 56% (the second core's availability),
# one-thread rows by under 10%. A row flagged once is worth a rerun of that row alone
# (bench-kernels --shapes, --op, --threads) before it is believed. Exit status: 0
# when no row fell by more than the threshold, 1 when one did, 2 on bad input.
import argparse
import json
import sys


def fail(msg):
    print(f"compare: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path):
    try:
        with open(path) as f:
            records = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")
    if not isinstance(records, list):
        fail(f"{path}: not an array of records (build/bench-kernels.json)")
    rows = {}
    for r in records:
        if not isinstance(r, dict) or not all(k in r for k in ("op", "shape", "threads")):
            fail(f"{path}: a record without op, shape and threads")
        rows[(r["op"], r["shape"], r["threads"])] = r
    return rows


def main():
    ap = argparse.ArgumentParser(description="Rows whose ratio to a peer moved between two bench-kernels.json")
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--peer", default="onednn", choices=["onednn", "openblas", "ref_cblas"])
    ap.add_argument("--threshold", type=float, default=0.10, help="relative change to report (0.10: 10%%)")
    ap.add_argument("--threads", default="1", help="the rows of this thread count, or all (default 1)")
    try:
        args = ap.parse_args()
    except SystemExit as e:
        sys.exit(2 if e.code else 0)
    if args.threads != "all" and not args.threads.isdigit():
        fail(f"--threads: {args.threads}: a thread count or all")
    old, new = load(args.old), load(args.new)
    key = "vs_" + args.peer
    worse = better = 0
    print(f"{'op':<16} {'shape':<22} thr  {'old':>6} {'new':>6}  change")
    for k in sorted(old.keys() & new.keys(), key=lambda k: (k[0], k[1], k[2])):
        if args.threads != "all" and str(k[2]) != args.threads:
            continue
        a, b = old[k].get(key), new[k].get(key)
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or a <= 0:
            continue
        change = b / a - 1
        if abs(change) <= args.threshold:
            continue
        worse += change < 0
        better += change > 0
        print(f"{k[0]:<16} {k[1]:<22} {k[2]:>3}  {a:6.2f} {b:6.2f}  {100 * change:+.0f}%")
    only = len(old.keys() ^ new.keys())
    print(f"# {worse} rows fell, {better} rose by more than {100 * args.threshold:.0f}% (ratio to {args.peer});"
          f" {only} rows in one file only")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
