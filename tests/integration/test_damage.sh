#!/usr/bin/env bash
# test_damage.sh — damaged files are never served. A result carries an ETag
# (the checksum stored with it); a result damaged on disk is refused with
# 500 result_corrupt, the job is marked failed with that code, and a log
# line names the file; a job whose record is damaged is moved aside at the
# next start (and logged), not left in the store forever.
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --workers 1

id=$(submit '{"image_size":32,"iterations":3}')
wait_state "$id" succeeded 60
expect_eq "$(OUT="$T/r.png" req GET "/v1/jobs/$id/result")" 200 "result"
etag=$(header ETag)
echo "$etag" | grep -Eq '^"[0-9a-f]{16}"$' || fail "no ETag on the result: '$etag'"
ok "the result carries its checksum as ETag $etag"

# damage the stored result: cut it short
size=$(stat -c %s "$DATA/jobs/$id/result.png")
truncate -s $((size / 2)) "$DATA/jobs/$id/result.png"
status=$(req GET "/v1/jobs/$id/result")
expect_error "$status" 500 result_corrupt "" "GET of a damaged result"
grep -q '"event":"job_file_damaged".*"job":"'"$id"'"' "$NSTD_LOG" || fail "the damage was not logged"
expect_eq "$(job_field "$id" 'd["state"]')" failed "state after the damage was found"
expect_eq "$(job_field "$id" 'd["error"]["code"]')" result_corrupt "error code"
expect_eq "$(req GET "/v1/jobs/$id/result")" 409 "result of the failed job"
ok "a damaged result is not served; the job is failed with result_corrupt"

# a job whose record is damaged: moved aside at the next start
id2=$(submit '{"image_size":32,"iterations":3}')
wait_state "$id2" succeeded 60
stop_nstd
printf '{"id": "%s", "state": ' "$id2" >"$DATA/jobs/$id2/job.json"
start_nstd --workers 1
expect_eq "$(req GET "/v1/jobs/$id2")" 404 "job with a damaged record"
[ ! -e "$DATA/jobs/$id2" ] || fail "the damaged job was left in the store"
ls -d "$DATA/jobs/.corrupt-$id2"-* >/dev/null 2>&1 || fail "the damaged job was not kept aside"
grep -q '"event":"job_skipped".*moved aside' "$NSTD_LOG" || fail "the move was not logged"
ok "a job with a damaged record is moved aside and reported"
