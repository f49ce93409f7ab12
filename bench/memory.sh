#!/usr/bin/env bash
# memory.sh — nst_transfer_memory's estimate against the measured peak RSS
# of build/nst (GNU time's "Maximum resident set size"), at a few sizes.
#
#   bench/memory.sh [NST] [SIZES...]      (defaults: build/nst, 128 256 512)
#
# Each run does ITERS (25) iterations, enough for L-BFGS to fill its history
# (memory does not grow with iterations beyond that: every
# buffer, the L-BFGS history included, is allocated before the first) on a
# 640x480 content and a 512x512 style from tests/integration/images.py. The
# estimate leaves out the model's weights (80 MiB of VGG19, shared by every
# job), so "ratio" is the estimate over the peak RSS less those 80 MiB: at
# least 1 when the estimate is an upper bound. Extra nst flags: NST_FLAGS.
# Not part of CI.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
nst=${1:-$here/build/nst}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(128 256 512)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$here/tests/integration/images.py" gradient 640 480 "$tmp/content.png"
python3 "$here/tests/integration/images.py" stripes 512 512 "$tmp/style.png"
printf "%6s %14s %14s %8s\n" size "estimate MiB" "peak RSS MiB" "ratio"
for s in "${sizes[@]}"; do
    # shellcheck disable=SC2086
    /usr/bin/time -v "$nst" --content "$tmp/content.png" --style "$tmp/style.png" \
        --output "$tmp/out.png" --image-size "$s" --iterations "${ITERS:-25}" ${NST_FLAGS:-} \
        >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    est=$(sed -n 's/.*memory estimate \([0-9.]*\) MiB.*/\1/p' "$tmp/err")
    rss=$(awk '/Maximum resident set size/ {print $NF / 1024}' "$tmp/err")
    awk -v s="$s" -v e="$est" -v r="$rss" \
        'BEGIN { printf "%6d %14.1f %14.1f %8.2f\n", s, e, r, e / (r - 80) }'
done
