#!/usr/bin/env bash
# test_cli.sh — the nst command and scripts/fetch-model from the outside:
# a small transfer, the model export/check round trip, a model served by
# nstd from a file, the fetch script on good and bad downloads (file:// URLs),
# and a clear message with exit status 2 for every kind of bad input.
. "$(dirname "$0")/lib.sh"
: "${NST_BIN:?NST_BIN must name the nst binary}"

$IMAGES gradient 40 30 "$T/content.png"
$IMAGES stripes 32 32 "$T/style.png"
printf 'not an image\n' >"$T/text.png"

# a transfer: the output has the content's aspect at --image-size
"$NST_BIN" --content "$T/content.png" --style "$T/style.png" --output "$T/out.png" \
    --image-size 48 --iterations 5 --quiet || fail "nst transfer failed"
expect_eq "$(png_size "$T/out.png")" "48 36" "output size"
ok "transfer writes a PNG of the requested size"

# progress lines: one per iteration with losses and timing
"$NST_BIN" --content "$T/content.png" --style "$T/style.png" --output "$T/out2.png" \
    --image-size 32 --iterations 3 >"$T/progress.txt" 2>&1 || fail "nst failed"
expect_eq "$(grep -c '^iter .*s/iter' "$T/progress.txt")" 3 "progress lines"
ok "one progress line per iteration"
grep -q '^nst: memory estimate [0-9.]* MiB' "$T/progress.txt" || fail "no memory estimate at start"
ok "nst prints its memory estimate at start"
# each line counts the losses (forward passes) and gradients (backward passes)
# so far: a gradient for the first point and one per iteration, whatever
# trial points the line search rejected on the way
last=$(grep '^iter' "$T/progress.txt" | tail -1)
evals=$(sed -n 's/.* evals \([0-9]*\) grads [0-9]*$/\1/p' <<<"$last")
expect_eq "${last##* grads }" 4 "gradients after 3 iterations"
[ -n "$evals" ] && [ "$evals" -ge 4 ] || fail "losses evaluated: '$evals' in: $last"
ok "one gradient per iteration, losses counted apart"

# export → check → use the file as a model, from nst and from nstd
"$NST_BIN" --export-model "$T/m.safetensors" || fail "export failed"
"$NST_BIN" --check-model "$T/m.safetensors" >"$T/check.txt" || fail "check failed"
grep -q 'vgg19-random' "$T/check.txt" || fail "check does not name the model: $(cat "$T/check.txt")"
"$NST_BIN" --model "$T/m.safetensors" --content "$T/content.png" --style "$T/style.png" \
    --output "$T/out3.png" --image-size 32 --iterations 2 --quiet || fail "nst --model failed"
cmp -s "$T/out2.png" "$T/out3.png" || true
start_nstd --model "$T/m.safetensors"
req GET /v1/info >/dev/null
expect_eq "$(jf "$T/body" 'd["model"]["name"]')" "vgg19-random" "model served by nstd"
# nst --help has an entry for every parameter of the defaults nstd reports
"$NST_BIN" --help >"$T/help.txt" || fail "nst --help failed"
keys=$(jf "$T/body" '" ".join(d["defaults"])')
[ "$(wc -w <<<"$keys")" -ge 10 ] || fail "too few defaults in /v1/info: $keys"
for key in $keys; do
    grep -q -- "^  --${key//_/-} " "$T/help.txt" || fail "nst --help lacks --${key//_/-}"
done
stop_nstd
ok "exported model round-trips through the loader, nst and nstd"
ok "nst --help lists every parameter"

# fetch-model: a good download is checked and stored, a bad one never is
NSTD_MODEL_URL="file://$T/m.safetensors" "$SRC/scripts/fetch-model" "$T/models/vgg19.safetensors" \
    2>"$T/fetch.log" || fail "fetch-model failed: $(cat "$T/fetch.log")"
cmp -s "$T/m.safetensors" "$T/models/vgg19.safetensors" || fail "fetched file differs"
head -c 1000 "$T/m.safetensors" >"$T/truncated.safetensors"
if NSTD_MODEL_URL="file://$T/truncated.safetensors" "$SRC/scripts/fetch-model" "$T/bad/vgg19.safetensors" \
    2>"$T/fetch-bad.log"; then fail "fetch-model accepted a truncated file"; fi
[ ! -e "$T/bad/vgg19.safetensors" ] || fail "a bad download was stored"
ls "$T/bad" | grep -q . && fail "fetch-model left files behind: $(ls "$T/bad")"
ok "fetch-model stores checked downloads only"

# bad input: exit status 2 and a message naming the problem
bad() { # WANT-SUBSTRING args…
    local want=$1; shift
    set +e
    "$NST_BIN" "$@" >"$T/bad.out" 2>&1
    local rc=$?
    set -e
    [ $rc = 2 ] || fail "nst $* exited $rc, expected 2: $(cat "$T/bad.out")"
    grep -qi -- "$want" "$T/bad.out" || fail "nst $*: message lacks '$want': $(cat "$T/bad.out")"
}
io="--content $T/content.png --style $T/style.png --output $T/x.png"
bad "required" --content "$T/content.png"
bad "$T/missing.png" --content "$T/missing.png" --style "$T/style.png" --output "$T/x.png"
bad "text.png" --content "$T/text.png" --style "$T/style.png" --output "$T/x.png"
bad "betta" $io --betta 3
bad "iterations" $io --iterations 0
bad "beta" $io --beta fast
bad "conv9_9" $io --style-layers conv1_1,conv9_9
bad "style_blend_weights" $io --style-blend-weights 1,2
bad "pooling" $io --pooling median
bad "truncated\|offset\|exceeds\|short" --model "$T/truncated.safetensors" $io
ok "bad input gives exit status 2 and names the problem"
