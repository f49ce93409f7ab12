#!/usr/bin/env bash
# test_jobs.sh — the life of jobs through the HTTP API against a real nstd:
# submit → poll → result of the requested size; preview while running;
# Server-Sent Events; list and pagination; result before the end (409);
# cancel a running job; delete a finished one; several styles with blend
# weights. Previews are at most --preview-max-size (40) on their longest
# side: the 40 px job's are its own size, the 48 px job's a downscaled copy,
# and the 48 px job stores no full-size checkpoint within the hour of
# --checkpoint-interval.
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --workers 1 --preview-max-size 40 --checkpoint-interval 3600

# ---------------------------------------------------------------- submit, poll, result
st=$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style.png" \
     -F 'params={"image_size":40,"iterations":6,"preview_every":2}')
expect_eq "$st" 202 "submit"
id=$(jf "$T/body" 'd["id"]')
[[ $id =~ ^[0-9a-f]{32}$ ]] || fail "job id '$id' is not 32 hex digits"
expect_eq "$(header Location)" "/v1/jobs/$id" "Location header"
for k in id state position progress params model owner created_at started_at finished_at error links; do
    jf "$T/body" "'$k' in d" | grep -qx true || fail "job object lacks $k"
done
expect_eq "$(jf "$T/body" 'sorted(d["progress"].keys())')" \
    '["elapsed_s", "eta_s", "iteration", "iterations", "loss", "percent", "stop_reason"]' "progress keys"
expect_eq "$(jf "$T/body" 'd["progress"]["stop_reason"]')" null "stop_reason while queued"
expect_eq "$(jf "$T/body" 'sorted(d["links"].keys())')" '["events", "preview", "result", "self"]' \
    "link keys"
expect_eq "$(jf "$T/body" 'd["params"]["image_size"]')" 40 "effective params"
expect_eq "$(jf "$T/body" 'd["params"]["style_layers"][0]')" conv1_1 "defaults filled in"
ok "submit answers 202 with the job object"

wait_state "$id" succeeded 120
expect_eq "$(jf "$T/body" 'd["progress"]["iteration"]')" 6 "iterations done"
expect_eq "$(jf "$T/body" 'd["progress"]["percent"]')" 100 "percent"
expect_eq "$(jf "$T/body" 'd["progress"]["stop_reason"]')" iterations "stop_reason"
jf "$T/body" 'd["finished_at"]' | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' ||
    fail "finished_at is not RFC 3339"
jf "$T/body" 'd["progress"]["loss"]["total"] > 0' | grep -qx true || fail "loss not reported"
st=$(OUT="$T/result.png" req GET "/v1/jobs/$id/result")
expect_eq "$st" 200 "result"
expect_eq "$(header Content-Type)" image/png "result content type"
expect_eq "$(png_size "$T/result.png")" "40 33" "result size (content 48x40 fitted to 40)"
ok "job succeeded; result is a 40x33 PNG"

# ---------------------------------------------------------------- the stopping rule
# tolerance 1: any loss falls by less than all of itself over the first 10
# iterations, so the job ends at iteration 10 of its 200; it says so, and
# its result is there
id=$(submit '{"image_size":32,"iterations":200,"tolerance":1}')
wait_state "$id" succeeded 120
expect_eq "$(jf "$T/body" 'd["progress"]["stop_reason"]')" tolerance "stop_reason"
expect_eq "$(jf "$T/body" 'd["progress"]["iteration"]')" 10 "iterations run"
expect_eq "$(jf "$T/body" 'd["progress"]["iterations"]')" 200 "iterations planned"
expect_eq "$(jf "$T/body" 'd["progress"]["percent"]')" 100 "percent of a job stopped early"
expect_eq "$(OUT=/dev/null req GET "/v1/jobs/$id/result")" 200 "its result"
expect_eq "$(req DELETE "/v1/jobs/$id")" 204 "deleted (the counts below start from one job)"
st=$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style.png" -F 'params={"tolerance":2}')
expect_eq "$st" 422 "tolerance 2"
expect_eq "$(jf "$T/body" 'd["error"]["field"]')" tolerance "the field named"
ok "tolerance ends a job when the loss stops falling (stop_reason tolerance)"

# ---------------------------------------------------------------- running: preview, SSE, 409
id=$(submit '{"image_size":48,"iterations":400,"preview_every":1}')
expect_eq "$(req GET "/v1/jobs/$id/result")" 409 "result while not finished"
expect_eq "$(jf "$T/body" 'd["error"]["code"]')" not_finished "409 error code"
ok "result before the end → 409"

curl -s -N --max-time $((120 * SLOW)) "$BASE/v1/jobs/$id/events" >"$T/events" &
sse_pid=$!
wait_state "$id" running 60
deadline=$(( $(date +%s) + 60 * SLOW ))
until [ "$(OUT="$T/preview.png" req GET "/v1/jobs/$id/preview")" = 200 ]; do
    [ "$(date +%s)" -lt $deadline ] || fail "no preview while running"
    sleep 0.2
done
expect_eq "$(png_size "$T/preview.png")" "40 33" "preview of a 48x40 job, downscaled to 40"
expect_eq "$(req GET /v1/info)" 200 "info"
expect_eq "$(jf "$T/body" 'd["limits"]["preview_max_size"]')" 40 "preview_max_size published"
ok "preview appears while running, no larger than preview_max_size"

# progress events arrive while it runs
deadline=$(( $(date +%s) + 60 * SLOW ))
until [ "$(grep -c '^event: progress' "$T/events" || true)" -ge 3 ]; do
    [ "$(date +%s)" -lt $deadline ] || fail "fewer than 3 progress events: $(head -c 300 "$T/events")"
    sleep 0.2
done
ok "SSE delivers progress events"
# a job larger than preview_max_size: previews at every iteration, but no
# full-size checkpoint before --checkpoint-interval (test_restart: after it)
[ "$(job_field "$id" 'd["progress"]["iteration"]')" -ge 2 ] || fail "fewer than 2 iterations"
! stored_blob "$id" checkpoint.png || fail "a full-size checkpoint within the interval"
expect_eq "$(stored_field "$id" checkpoint_iteration)" 0 "no checkpoint iteration"
expect_eq "$(req GET /v1/info)" 200 "info"
expect_eq "$(jf "$T/body" 'd["limits"]["checkpoint_interval_s"]')" 3600 "checkpoint_interval_s published"
ok "a print-size job's checkpoint is not encoded at every preview"

# ---------------------------------------------------------------- cancel a running job
t0=$(date +%s)
st=$(req DELETE "/v1/jobs/$id")
[ "$st" = 202 ] || [ "$st" = 200 ] || fail "cancel running: status $st"
expect_eq "$(jf "$T/body" 'd["state"]')" canceled "state after cancel"
wait "$sse_pid" || true
grep -q '^event: end' "$T/events" || fail "SSE stream has no final event"
"$PY" - "$T/events" <<'EOF' || fail "SSE final event malformed"
import json, sys
events, cur = [], {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line:
        if cur: events.append(cur)
        cur = {}
    elif line.startswith(":"):
        continue
    else:
        k, _, v = line.partition(": ")
        cur[k] = v
assert events[-1]["event"] == "end", events[-1]
assert json.loads(events[-1]["data"])["state"] == "canceled"
for e in events[:-1]:
    assert e["event"] == "progress"
    json.loads(e["data"])["progress"]
EOF
ok "SSE ends with an end event carrying the final job"
# the worker is free again within a few seconds: a new job starts
id2=$(submit '{"image_size":32,"iterations":2}')
wait_state "$id2" succeeded $((30))
[ $(( $(date +%s) - t0 )) -le $((20 * SLOW)) ] || fail "cancel took too long"
expect_eq "$(job_field "$id" 'd["state"]')" canceled "canceled job stays canceled"
ok "running job canceled; worker free again"

# SSE on a finished job: one end event, then the stream closes
curl -s -N --max-time $((10 * SLOW)) "$BASE/v1/jobs/$id2/events" >"$T/events2"
expect_eq "$(grep -c '^event: end' "$T/events2")" 1 "SSE on finished job"
ok "SSE on a finished job sends the end event and closes"

# ---------------------------------------------------------------- several styles, blend weights
st=$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style.png" \
     -F "style=@$T/style2.png" -F 'params={"image_size":32,"iterations":3,"style_blend_weights":[0.7,0.3]}')
expect_eq "$st" 202 "two styles"
id3=$(jf "$T/body" 'd["id"]')
expect_eq "$(jf "$T/body" 'd["params"]["style_blend_weights"]')" "[0.7, 0.3]" "blend weights kept"
wait_state "$id3" succeeded 60
expect_eq "$(OUT="$T/r3.png" req GET "/v1/jobs/$id3/result")" 200 "two-style result"
expect_eq "$(png_size "$T/r3.png")" "32 27" "two-style result size"
ok "two styles with blend weights"

# ---------------------------------------------------------------- list, pagination
l1=$(submit '{"image_size":32,"iterations":1}')
l2=$(submit '{"image_size":32,"iterations":1}')
expect_eq "$(req GET '/v1/jobs?limit=2')" 200 "list"
expect_eq "$(jf "$T/body" 'd["total"]')" 6 "total"
expect_eq "$(jf "$T/body" 'len(d["jobs"])')" 2 "page size"
first=$(jf "$T/body" 'd["jobs"][0]["created_at"]')
second=$(jf "$T/body" 'd["jobs"][1]["created_at"]')
[[ "$first" > "$second" || "$first" = "$second" ]] || fail "list not newest first"
next=$(jf "$T/body" 'd["next"]')
expect_eq "$next" "/v1/jobs?limit=2&offset=2" "next link"
seen=$(jf "$T/body" '" ".join(j["id"] for j in d["jobs"])')
pages=1
while [ "$next" != null ]; do
    expect_eq "$(req GET "$next")" 200 "next page"
    seen="$seen $(jf "$T/body" '" ".join(j["id"] for j in d["jobs"])')"
    next=$(jf "$T/body" 'd["next"]')
    pages=$((pages + 1))
done
expect_eq "$pages" 3 "pages"
expect_eq "$(echo $seen | tr ' ' '\n' | sort -u | wc -l)" 6 "distinct jobs over all pages"
expect_eq "$(req GET '/v1/jobs')" 200 "list default"
expect_eq "$(jf "$T/body" 'len(d["jobs"])')" 6 "default limit covers all"
expect_eq "$(jf "$T/body" 'd["next"]')" null "no next on last page"
ok "list newest first with limit/offset pagination"

# ---------------------------------------------------------------- delete a finished job
expect_eq "$(req DELETE "/v1/jobs/$id3")" 204 "delete finished"
expect_eq "$(req GET "/v1/jobs/$id3")" 404 "deleted job is gone"
expect_eq "$(req GET "/v1/jobs/$id3/result")" 404 "deleted result is gone"
stored_job_gone "$id3" || fail "files of a deleted job remain"
expect_eq "$(req DELETE "/v1/jobs/$id")" 204 "delete canceled job"
ok "delete removes finished jobs and their files"

# ---------------------------------------------------------------- cancel a queued job
wait_state "$l1" succeeded 60
wait_state "$l2" succeeded 60
slow=$(submit '{"image_size":48,"iterations":400}')
queued=$(submit '{"image_size":32,"iterations":2}')
expect_eq "$(job_field "$queued" 'd["state"]')" queued "second job waits"
expect_eq "$(job_field "$queued" 'd["position"]')" 1 "queue position"
expect_eq "$(req DELETE "/v1/jobs/$queued")" 200 "cancel queued"
expect_eq "$(jf "$T/body" 'd["state"]')" canceled "queued job canceled"
req DELETE "/v1/jobs/$slow" >/dev/null
ok "cancel a queued job → 200 canceled"

stop_nstd
expect_eq "$STOP_RC" 0 "exit status after SIGTERM"
