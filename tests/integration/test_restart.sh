#!/usr/bin/env bash
# test_restart.sh — nothing accepted is lost: kill -9 while a job runs, then
# a restart on the same data directory runs the job again (from its
# checkpoint) to success, and earlier results are still served byte for
# byte. SIGTERM exits 0 within a few seconds with the running job saved as
# queued with its checkpoint, and it resumes on the next start. A job
# directory left by an interrupted submit (no job.json) is removed (the
# disk store only). With NSTD_TEST_STORE=redis the same runs on Redis, which
# outlives the process like the data directory.
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --workers 1

done_id=$(submit '{"image_size":32,"iterations":3}')
wait_state "$done_id" succeeded 60
OUT="$T/before.png" req GET "/v1/jobs/$done_id/result" >/dev/null

# ---------------------------------------------------------------- kill -9
id=$(submit '{"image_size":40,"iterations":24,"preview_every":2}')
wait_state "$id" running 60
deadline=$(( $(date +%s) + 60 * SLOW ))
until stored_blob "$id" checkpoint.png && [ "$(job_field "$id" 'd["progress"]["iteration"]')" -ge 4 ]; do
    [ "$(date +%s)" -lt $deadline ] || fail "no checkpoint while running"
    sleep 0.1
done
kill_nstd
ok "killed with -9 while job $id ran"

# a submit interrupted before job.json: inputs only (the disk store; in
# Redis an API node cannot tell another node's submit in progress from one
# interrupted, so it leaves such inputs alone)
stray=0123456789abcdef0123456789abcdef
if [ "$STORE" = disk ]; then
    mkdir -p "$DATA/jobs/$stray"
    cp "$T/content.png" "$DATA/jobs/$stray/content"
fi

start_nstd --workers 1
state=$(job_field "$id" 'd["state"]')
case $state in queued|running|succeeded) ;; *) fail "job after restart is $state" ;; esac
wait_state "$id" succeeded 120
expect_eq "$(OUT="$T/r.png" req GET "/v1/jobs/$id/result")" 200 "result after restart"
expect_eq "$(png_size "$T/r.png")" "40 33" "result size after restart"
grep -q '"event":"job_started","resume_iteration":[0-9]*,"job":"'"$id"'"' "$NSTD_LOG" ||
    fail "the job did not resume from its checkpoint"
ok "interrupted job ran again from its checkpoint and succeeded"
expect_eq "$(OUT="$T/after.png" req GET "/v1/jobs/$done_id/result")" 200 "old result after restart"
cmp -s "$T/before.png" "$T/after.png" || fail "old result changed across the restart"
ok "earlier result still served, byte-identical"
# the event stream of a job finished before the restart ends at once with it
timeout $((10 * SLOW)) curl -sN "$BASE/v1/jobs/$done_id/events" >"$T/events" ||
    fail "event stream of a reloaded finished job did not end: $(cat "$T/events")"
grep -q '^event: end' "$T/events" || fail "no end event: $(cat "$T/events")"
ok "event stream of a reloaded finished job ends with its state"
if [ "$STORE" = disk ]; then
    [ ! -e "$DATA/jobs/$stray" ] || fail "directory of an unfinished submit was kept"
    expect_eq "$(req GET "/v1/jobs/$stray")" 404 "unfinished submit is not a job"
    ok "unfinished submit removed at start"
fi

# ---------------------------------------------------------------- SIGTERM
id=$(submit '{"image_size":64,"iterations":2000,"preview_every":1}')
wait_state "$id" running 60
deadline=$(( $(date +%s) + 60 * SLOW ))
until stored_blob "$id" checkpoint.png; do
    [ "$(date +%s)" -lt $deadline ] || fail "no checkpoint while running"
    sleep 0.1
done
stop_nstd
expect_eq "$STOP_RC" 0 "exit status after SIGTERM"
"$PY" -c "import sys; sys.exit(0 if $STOP_S < 10 * $SLOW else 1)" || fail "SIGTERM took $STOP_S s"
ok "SIGTERM: exit 0 after $STOP_S s"
expect_eq "$(stored_field "$id" state)" queued "saved state"
[ "$(stored_field "$id" checkpoint_iteration)" -ge 1 ] || fail "no checkpoint saved"
stored_blob "$id" checkpoint.png || fail "checkpoint file missing"
ok "running job saved as queued with its checkpoint"
grep -q '"event":"stopped"' "$NSTD_LOG" || fail "no stopped log line"

start_nstd --workers 1
wait_state "$id" running 60
expect_eq "$(req GET /v1/jobs)" 200 "list after restart"
expect_eq "$(jf "$T/body" 'd["total"]')" 3 "all jobs kept"
expect_eq "$(req DELETE "/v1/jobs/$id")" 202 "cancel the resumed job"
stop_nstd
expect_eq "$STOP_RC" 0 "exit status"
ok "saved job resumes after restart"

# ---------------------------------------------------------------- print size: the checkpoint's own schedule
# A job larger than --preview-max-size is previewed downscaled at every
# preview_every and stores its full-size checkpoint at most every
# --checkpoint-interval (test_jobs: none within an hour's interval); a kill
# -9 resumes it from that checkpoint.
start_nstd --workers 1 --preview-max-size 16 --checkpoint-interval 1
id=$(submit '{"image_size":40,"iterations":2000,"preview_every":1,"tolerance":0}')
wait_state "$id" running 60
deadline=$(( $(date +%s) + 60 * SLOW ))
until stored_blob "$id" checkpoint.png && [ "$(stored_field "$id" checkpoint_iteration)" -ge 1 ]; do
    [ "$(date +%s)" -lt $deadline ] || fail "no checkpoint within the interval"
    sleep 0.1
done
expect_eq "$(OUT="$T/p.png" req GET "/v1/jobs/$id/preview")" 200 "preview"
expect_eq "$(png_size "$T/p.png")" "16 13" "the preview, downscaled"
[ "$STORE" = disk ] && expect_eq "$(png_size "$DATA/jobs/$id/checkpoint.png")" "40 33" \
    "the checkpoint, full size"
kill_nstd
start_nstd --workers 1 --preview-max-size 16 --checkpoint-interval 1
deadline=$(( $(date +%s) + 60 * SLOW ))   # on Redis: once the dead worker's lease runs out
until grep -q '"event":"job_started","resume_iteration":[1-9][0-9]*,"job":"'"$id"'"' "$NSTD_LOG"; do
    [ "$(date +%s)" -lt $deadline ] || fail "the print-size job did not resume from its checkpoint"
    sleep 0.2
done
expect_eq "$(req DELETE "/v1/jobs/$id")" 202 "cancel it"
stop_nstd
ok "a print-size job's full-size checkpoint, on its interval, survives kill -9"
