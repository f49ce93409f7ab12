#!/usr/bin/env bash
# check.sh BUILD_DIR PROBE_DIR — the layering test (ctest layers.includes).
# Builds every probe target of tests/layers/CMakeLists.txt: each
# probe_<layer>_ok must build; each other probe must fail to compile, and
# its compiler output must name the one header it includes ("x.h: No such
# file" from gcc, "'x.h' file not found" from clang), so that a probe
# failing for any other reason does not pass. Every layer with a wrong probe
# needs a control, so a broken build of that layer cannot pass either.
set -u
bin=$1 dir=$2
failures=0 wrong=0 ok=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

shopt -s nullglob
probes=("$dir"/probe_*.c)
[ ${#probes[@]} -gt 0 ] || { echo "FAIL: no probes in $dir"; exit 1; }

for src in "${probes[@]}"; do
    name=$(basename "$src" .c)
    layer=${name#probe_}; layer=${layer%%_*}
    out=$(cmake --build "$bin" --target "$name" 2>&1); rc=$?
    if [[ $name == *_ok ]]; then
        ok=$((ok + 1))
        if [ $rc -eq 0 ]; then echo "ok   $name builds"
        else fail "$name (what layer '$layer' may include) does not build:"; echo "$out" | tail -20; fi
        continue
    fi
    wrong=$((wrong + 1))
    [ -f "$dir/probe_${layer}_ok.c" ] || fail "$name: no control probe_${layer}_ok.c"
    mapfile -t headers < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$src")
    if [ ${#headers[@]} -ne 1 ]; then
        fail "$name must include exactly one project header, has ${#headers[@]}"; continue
    fi
    h=${headers[0]}
    if [ $rc -eq 0 ]; then
        fail "$name builds: layer '$layer' can include \"$h\""
    elif grep -qF -e "$h: No such file" -e "'$h' file not found" <<<"$out"; then
        echo "ok   $name fails: \"$h\" not found"
    else
        fail "$name failed, but not for want of \"$h\":"; echo "$out" | tail -20
    fi
done
echo "$wrong wrong-direction probes, $ok controls, $failures failure(s)"
[ $wrong -gt 0 ] && [ $ok -gt 0 ] && [ $failures -eq 0 ]
