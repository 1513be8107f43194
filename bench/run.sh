#!/bin/sh
# `make bench`: runs the kernel, training and subnet-latency benchmarks and checks that their JSON parses.
# Usage: sh bench/run.sh BUILD [bench-kernels arguments...]
# JSON: BUILD/bench-kernels.json, an array of records
#   {"op", "dtype", "shape", "variant", "threads", "gflops", "vs_ref_cblas", "vs_openblas",
#    "vs_onednn", ...extra keys: fraction_of_peak, gbytes_per_s, peer_gflops, peer_op, note}
# with null where a figure or a peer is missing. QNAS_BENCH_ARGS adds arguments (e.g. --quick).
build="${1:-build}"
[ $# -gt 0 ] && shift
json="$build/bench-kernels.json"
"$build/bench/bench-kernels" --shapes bench/shapes.txt --json "$json" $QNAS_BENCH_ARGS "$@" || exit $?
tjson="$build/bench-train.json"
"$build/bench/bench-train" --json "$tjson" || exit $?
sjson="$build/bench-subnet.json"
"$build/bench/bench-subnet" --json "$sjson" || exit $?
if command -v python3 >/dev/null 2>&1; then
    for j in "$json" "$tjson" "$sjson"; do
        python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("# %s: %d records" % (sys.argv[1], len(r)))' "$j" || {
            echo "bench: $j does not parse" >&2; exit 1; }
    done
fi
