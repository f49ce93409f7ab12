#!/usr/bin/env bash
# test_masks.sh — spatial control from the outside. A grey ramp with a red
# texture masked to the left half and a blue one to the right (masks of
# another size than the content: resized) comes back red on the left and
# blue on the right (mean R − B of each half); the same job with the masks
# swapped, killed with -9 while it waits or runs and started again, comes
# back the other way round (its masks were stored with it). A content mask
# on the left keeps that half grey under a red style while the right turns
# red. Bad masks get 4xx answers naming the part: a wrong count, not an
# image, over the pixel limit, two content masks; an empty style_mask part
# means "no mask for that style"; an Idempotency-Key's retry with other
# masks is another job's inputs. The nst command does the same with
# --style-mask and refuses a wrong count. With NSTD_TEST_STORE=redis the
# same runs on the Redis store.
. "$(dirname "$0")/lib.sh"
: "${NST_BIN:?NST_BIN must name the nst binary}"

$IMAGES grey 64 48 "$T/content.png"
$IMAGES red 64 64 "$T/red.png"
$IMAGES blue 64 64 "$T/blue.png"
$IMAGES left 40 30 "$T/left.png"
$IMAGES right 40 30 "$T/right.png"
$IMAGES solid 120 100 "$T/big.png"        # 12000 pixels: over the limit below
echo "not an image" >"$T/text.png"
: >"$T/empty.png"

# halves FILE: "LEFT RIGHT", each half's mean R − B (0…255)
halves() { $IMAGES halves "$1"; }
# expect_halves FILE LEFT-SIGN RIGHT-SIGN WHAT: + is above 20, - below -20, 0 within ±30
expect_halves() {
    local l r
    read -r l r < <(halves "$1")
    "$PY" - "$l" "$r" "$2" "$3" <<'EOF' || fail "$4: halves R-B $l (left), $r (right), expected $2 $3"
import sys
def fits(v, sign):
    v = float(v)
    return v > 20 if sign == "+" else v < -20 if sign == "-" else abs(v) < 30
sys.exit(0 if fits(sys.argv[1], sys.argv[3]) and fits(sys.argv[2], sys.argv[4]) else 1)
EOF
    ok "$4: mean R-B left $l, right $r"
}

# The pixel limit is above the inputs (64×64) and below big.png.
start_nstd --workers 1 --max-input-pixels 10000

P='{"image_size":64,"iterations":30,"preview_every":5}'
two_styles() { # MASK0 MASK1 → a job id
    local st
    st=$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/red.png" \
         -F "style=@$T/blue.png" -F "style_mask=@$T/$1" -F "style_mask=@$T/$2" -F "params=$P")
    [ "$st" = 202 ] || fail "submit with masks: status $st: $(cat "$T/body")"
    jf "$T/body" 'd["id"]'
}

# ---------------------------------------------------------------- two regions
a=$(two_styles left.png right.png)
b=$(two_styles right.png left.png)
wait_state "$a" succeeded 300
expect_eq "$(OUT="$T/a.png" req GET "/v1/jobs/$a/result")" 200 "result of the masked job"
expect_eq "$(png_size "$T/a.png")" "64 48" "result size"
expect_halves "$T/a.png" + - "red masked left, blue masked right"

# ---------------------------------------------------------------- masks survive a restart
state=$(job_field "$b" 'd["state"]')
case $state in queued|running) ;; *) fail "job $b is $state before the kill" ;; esac
kill_nstd
ok "killed with -9 while job $b was $state"
start_nstd --workers 1 --max-input-pixels 10000
wait_state "$b" succeeded 300
expect_eq "$(OUT="$T/b.png" req GET "/v1/jobs/$b/result")" 200 "result after the restart"
expect_halves "$T/b.png" - + "masks swapped, run after a restart"

# ---------------------------------------------------------------- the content mask
st=$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/red.png" \
     -F "content_mask=@$T/left.png" \
     -F 'params={"image_size":64,"iterations":30,"content_layers":["conv1_2","conv4_2"]}')
[ "$st" = 202 ] || fail "submit with a content mask: status $st: $(cat "$T/body")"
c=$(jf "$T/body" 'd["id"]')
wait_state "$c" succeeded 300
OUT="$T/c.png" req GET "/v1/jobs/$c/result" >/dev/null
expect_halves "$T/c.png" 0 + "content mask on the left under a red style"

# ---------------------------------------------------------------- bad masks
form=(-F "content=@$T/content.png" -F "style=@$T/red.png" -F "style=@$T/blue.png")
expect_error "$(req POST /v1/jobs "${form[@]}" -F "style_mask=@$T/left.png")" \
    400 mask_count style_mask "one style_mask for two styles"
expect_error "$(req POST /v1/jobs "${form[@]}" -F "style_mask=@$T/left.png" \
    -F "style_mask=@$T/right.png" -F "style_mask=@$T/left.png")" \
    400 mask_count style_mask "three style_masks for two styles"
expect_error "$(req POST /v1/jobs "${form[@]}" -F "style_mask=@$T/left.png" \
    -F "style_mask=@$T/text.png")" 400 invalid_image "style_mask[1]" "a style mask that is not an image"
expect_error "$(req POST /v1/jobs "${form[@]}" -F "style_mask=@$T/big.png" \
    -F "style_mask=@$T/left.png")" 413 image_too_large "style_mask[0]" "a style mask over the pixel limit"
expect_error "$(req POST /v1/jobs "${form[@]}" -F "content_mask=@$T/text.png")" \
    400 invalid_image content_mask "a content mask that is not an image"
expect_error "$(req POST /v1/jobs "${form[@]}" -F "content_mask=@$T/left.png" \
    -F "content_mask=@$T/left.png")" 400 duplicate_part content_mask "two content masks"
expect_error "$(req POST /v1/jobs "${form[@]}" -F "content_mask=@$T/left.png" \
    -F 'params={"content_mask_weight":-1}')" 422 invalid_params content_mask_weight \
    "a negative content_mask_weight"
# the masks are among the inputs an Idempotency-Key's retry must repeat
small='{"image_size":32,"iterations":2}'
st=$(req POST /v1/jobs -H "Idempotency-Key: masks-$$" "${form[@]}" -F "style_mask=@$T/left.png" \
     -F "style_mask=@$T/right.png" -F "params=$small")
expect_eq "$st" 202 "a masked submit with an Idempotency-Key"
expect_error "$(req POST /v1/jobs -H "Idempotency-Key: masks-$$" "${form[@]}" \
    -F "style_mask=@$T/right.png" -F "style_mask=@$T/left.png" -F "params=$small")" \
    422 idempotency_key_reused "" "the same key with the masks swapped"
# an empty part: no mask for that style (what a browser sends for a file input left empty)
st=$(req POST /v1/jobs "${form[@]}" -F "style_mask=@$T/empty.png" -F "style_mask=@$T/right.png" \
     -F "params=$small")
expect_eq "$st" 202 "an empty style_mask part for the first style"
wait_state "$(jf "$T/body" 'd["id"]')" succeeded 120
ok "an empty style_mask part is no mask for that style"
expect_eq "$(req GET /v1/info)" 200 "info"
expect_eq "$(jf "$T/body" 'd["defaults"]["content_mask_weight"]')" 10 \
    "content_mask_weight in /v1/info"
ok "/v1/info publishes content_mask_weight"

# ---------------------------------------------------------------- the nst command
"$NST_BIN" --content "$T/content.png" --style "$T/red.png" --style "$T/blue.png" \
    --style-mask "$T/left.png" --output "$T/cli.png" 2>"$T/cli.err" && fail "nst took one mask for two styles"
grep -q "style-mask" "$T/cli.err" || fail "nst's message does not name --style-mask: $(cat "$T/cli.err")"
ok "nst refuses one --style-mask for two --style"
"$NST_BIN" --content "$T/content.png" --style "$T/red.png" --style "$T/blue.png" \
    --style-mask "$T/left.png" --style-mask "$T/text.png" --output "$T/cli.png" 2>"$T/cli.err" &&
    fail "nst took a mask that is not an image"
grep -q "text.png" "$T/cli.err" || fail "nst's message does not name the file: $(cat "$T/cli.err")"
ok "nst refuses a mask that is not an image, naming it"
"$NST_BIN" --content "$T/content.png" --style "$T/red.png" --style "$T/blue.png" \
    --style-mask "$T/right.png" --style-mask "$T/left.png" --output "$T/cli.png" \
    --image-size 64 --iterations 30 --threads 2 --quiet || fail "nst with masks failed"
expect_halves "$T/cli.png" - + "nst --style-mask: blue masked left, red masked right"
