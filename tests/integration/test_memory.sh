#!/usr/bin/env bash
# test_memory.sh — memory is bounded by the limits: an image's dimensions
# are read from its header and refused over --max-input-pixels without
# decoding it (413 image_too_large naming the part); a job's peak memory is
# estimated from its params and the images' dimensions and refused over
# --max-job-memory (422 job_too_large, with the estimate and the limit)
# before any image is decoded, at exactly the limit; style_scale × image_size
# is bounded by --max-image-size (422 naming style_scale); a corrupt image
# whose header passes is still refused at upload (400 invalid_image). The
# server's peak RSS (VmHWM, a bound, not a timing) stays far below what
# decoding the huge uploads would take (a 6000x6000 image is 432 MB as
# floats; four at once would be gigabytes).
. "$(dirname "$0")/lib.sh"
make_images
$IMAGES solid 7000 7000 "$T/huge.png"      # 49 Mpx in ~150 KB
$IMAGES solid 6000 6000 "$T/large.png"     # 36 Mpx in ~110 KB
$IMAGES bomb 1000 1000 "$T/corrupt.png"    # a valid header, pixel data cut short
start_nstd --max-input-pixels 40000000 --max-image-size 512 --max-job-memory 1G \
    --http-threads 4

C=(-F "content=@$T/content.png")
S=(-F "style=@$T/style.png")

req GET /v1/info >/dev/null
expect_eq "$(jf "$T/body" 'd["limits"]["max_job_memory"]')" 1073741824 "/v1/info max_job_memory"
expect_eq "$(jf "$T/body" 'd["limits"]["max_input_pixels"]')" 40000000 "/v1/info max_input_pixels"

# ---------------------------------------------------------------- dimensions
expect_error "$(req POST /v1/jobs -F "content=@$T/huge.png" "${S[@]}")" 413 image_too_large content \
    "7000x7000 content over --max-input-pixels"
jf "$T/body" 'd["error"]["message"]' | grep -q '7000x7000' || fail "message does not give the size"
expect_error "$(req POST /v1/jobs "${C[@]}" "${S[@]}" -F "style=@$T/huge.png")" 413 image_too_large \
    'style[1]' "7000x7000 second style"
expect_error "$(req POST /v1/jobs -F "content=@$T/corrupt.png" "${S[@]}")" 400 invalid_image content \
    "corrupt pixel data behind a valid header"

# ---------------------------------------------------------------- style_scale
p() { req POST /v1/jobs "${C[@]}" "${S[@]}" -F "params=$1"; }
expect_error "$(p '{"image_size": 256, "style_scale": 4}')" 422 invalid_params style_scale \
    "style images of 1024 px over --max-image-size 512"
jf "$T/body" 'd["error"]["message"]' | grep -q 'at most 2' || fail "message does not give the bound"

# ---------------------------------------------------------------- job memory
# four at once, each under --max-input-pixels but over --max-job-memory:
# refused from their headers, none decoded
pids=
for i in 1 2 3 4; do
    curl -s -o "$T/par$i.json" -w '%{http_code}' -F "content=@$T/large.png" "${S[@]}" \
        "$BASE/v1/jobs" >"$T/par$i.status" &
    pids="$pids $!"
done
for pid in $pids; do wait "$pid"; done
for i in 1 2 3 4; do
    expect_eq "$(cat "$T/par$i.status")" 422 "parallel 6000x6000 upload $i: status"
    expect_eq "$(jf "$T/par$i.json" 'd["error"]["code"]')" job_too_large "parallel upload $i: code"
done
msg=$(jf "$T/par1.json" 'd["error"]["message"]')
echo "$msg" | grep -q 'max_job_memory 1073741824 bytes' || fail "message does not state the limit: $msg"
echo "$msg" | grep -q 'content 6000x6000' || fail "message does not name the content size: $msg"
ok "four 6000x6000 jobs over --max-job-memory → 422 job_too_large"

hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$NSTD_PID/status")
[ "$hwm" -lt 500000 ] || fail "nstd's peak RSS grew to $hwm kB on uploads it refused"
ok "peak RSS after the huge uploads: $((hwm / 1024)) MB (bound 500 MB)"

# the default job at 512 px fits 1 GiB; the limit is exact
expect_eq "$(p '{"image_size": 512, "iterations": 1}')" 202 "a 512 px job within 1 GiB"
req DELETE "/v1/jobs/$(jf "$T/body" 'd["id"]')" >/dev/null
stop_nstd
start_nstd --max-job-memory 100M
expect_error "$(p '{"image_size": 256, "iterations": 1}')" 422 job_too_large "" \
    "a 256 px job over --max-job-memory 100M"
need=$(jf "$T/body" 'd["error"]["message"]' | sed -n 's/.*needs an estimated \([0-9]*\) bytes.*/\1/p')
[ -n "$need" ] && [ "$need" -gt 104857600 ] || fail "no estimate over the limit in the message"
stop_nstd
start_nstd --max-job-memory "$((need - 1))"
expect_error "$(p '{"image_size": 256, "iterations": 1}')" 422 job_too_large "" \
    "the same job over its estimate less one byte"
stop_nstd
start_nstd --max-job-memory "$need"
expect_eq "$(p '{"image_size": 256, "iterations": 1}')" 202 "the same job at exactly its estimate"
ok "the refusal is exact: $need bytes"
