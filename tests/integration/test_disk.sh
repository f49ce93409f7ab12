#!/usr/bin/env bash
# test_disk.sh — a full disk loses no work. The data directory is a small
# tmpfs and min_free_disk is set: with the disk nearly full /readyz says why
# it is not ready and a new job is refused with 507 insufficient_storage
# (and a log line); a job whose result finds the disk full waits, logged,
# and stores it once there is room, instead of failing after all its
# iterations. Needs root (mount), as the CI runs.
. "$(dirname "$0")/lib.sh"
make_images
mkdir -p "$DATA"
mount -t tmpfs -o size=8m nstd-test "$DATA" || fail "cannot mount a tmpfs on $DATA (needs root)"
trap 'rc=$?; kill -9 "$NSTD_PID" 2>/dev/null; umount -l "$DATA" 2>/dev/null; (exit $rc); cleanup' EXIT

# Fill the tmpfs until only $1 KiB are free (0: until it is full).
fill() {
    local avail_kb
    avail_kb=$(df --output=avail -k "$DATA" | tail -1 | tr -d ' ')
    if [ "$1" = 0 ]; then
        dd if=/dev/zero of="$DATA/filler" bs=64k 2>/dev/null || true
    else
        dd if=/dev/zero of="$DATA/filler" bs=1k count=$((avail_kb - $1)) 2>/dev/null
    fi
}

start_nstd --workers 1 --min-free-disk 2M
expect_eq "$(req GET /readyz)" 200 "ready with room"
expect_eq "$(req GET /v1/info)" 200 "info"
expect_eq "$(jf "$T/body" 'd["limits"]["min_free_disk"]')" 2097152 "min_free_disk published"

# ---------------------------------------------------------------- nearly full
fill 1024
expect_eq "$(req GET /readyz)" 503 "readiness with 1 MiB free"
jf "$T/body" 'd["reasons"]' | grep -q "min_free_disk" || fail "no reason given: $(cat "$T/body")"
ok "not ready below min_free_disk, with the reason"
status=$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style.png")
expect_error "$status" 507 insufficient_storage "" "POST with the disk nearly full"
[ -n "$(header Retry-After)" ] || fail "507 without Retry-After"
grep -q '"event":"job_refused_no_space"' "$NSTD_LOG" || fail "the refusal was not logged"
ok "a new job is refused with 507 and logged"
rm -f "$DATA/filler"
expect_eq "$(req GET /readyz)" 200 "ready again with room"

# ---------------------------------------------------------------- full while a job runs
id=$(submit '{"image_size":48,"iterations":150,"preview_every":1}')
wait_state "$id" running 60
fill 0
deadline=$(( $(date +%s) + 300 * SLOW ))
until grep -q '"event":"job_waiting_for_space".*"job":"'"$id"'"' "$NSTD_LOG"; do
    state=$(job_field "$id" 'd["state"]')
    [ "$state" = running ] || fail "the job is $state with the disk full"
    [ "$(date +%s)" -lt $deadline ] || fail "the job never waited for space"
    sleep 0.2
done
expect_eq "$(job_field "$id" 'd["state"]')" running "state while waiting for space"
ok "the finished job waits for space instead of failing"
rm -f "$DATA/filler"
wait_state "$id" succeeded 60
expect_eq "$(OUT="$T/r.png" req GET "/v1/jobs/$id/result")" 200 "result once there is room"
expect_eq "$(png_size "$T/r.png")" "48 40" "result size"
ok "its result is stored once there is room"
