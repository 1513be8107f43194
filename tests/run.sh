#!/bin/sh
# Runs every test binary given and adds up their `RESULT <name> pass=P fail=F` lines.
# A binary that dies without its RESULT line (crash, sanitizer report) counts as one failure.
# Ends with the closing line `N passed, N failed`; exit status 1 when anything failed.
build="$1"; shift
pass=0; fail=0
log="$build/tests/last.log"
mkdir -p "$build/tests"
: > "$log"
for t in "$@"; do
    name=$(basename "$t")
    echo "== $name"
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v '^RESULT ' 
    printf '%s\n' "$out" >> "$log"
    res=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
    if [ -z "$res" ]; then
        echo "  fail  $name exited with status $rc before reporting"
        fail=$((fail + 1))
        continue
    fi
    p=$(echo "$res" | sed -n 's/.*pass=\([0-9]*\).*/\1/p')
    f=$(echo "$res" | sed -n 's/.*fail=\([0-9]*\).*/\1/p')
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "  fail  $name exited with status $rc"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
