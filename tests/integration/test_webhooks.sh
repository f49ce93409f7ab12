#!/usr/bin/env bash
# test_webhooks.sh — webhooks (params webhook and webhook_events) against a
# local receiver (webhook_receiver.py) that checks every signature: a job
# subscribed to every event delivers job.started first, throttled progress
# events at least --webhook-progress-ms apart and job.completed last, all
# signed with the secret; a receiver that answers 500 once gets the message
# again (same webhook-id); a receiver that is down gets the attempts, then
# nstd gives up (webhook_retry, webhook_failed) while the job succeeds;
# URLs to loopback or private addresses are refused unless --webhook-allow
# lists them, bad params name their field; without --webhook-secret a
# webhook is refused (422 webhooks_disabled); the secret is never published.
. "$(dirname "$0")/lib.sh"
make_images

SECRET=whsec_$("$PY" -c 'import base64; print(base64.b64encode(bytes(range(1, 33))).decode())')
RECV="$PY $SRC/tests/integration/webhook_receiver.py"

start_receiver() { # NAME [flags…]: sets RPORT; deliveries land in $T/NAME.jsonl
    local name=$1
    shift
    setsid $RECV --secret "$SECRET" --port-file "$T/$name.port" --log "$T/$name.jsonl" "$@" &
    keep_pid $!
    local deadline=$(( $(date +%s) + 10 * SLOW ))
    until [ -s "$T/$name.port" ]; do
        [ "$(date +%s)" -lt $deadline ] || fail "the receiver $name did not start"
        sleep 0.1
    done
    RPORT=$(cat "$T/$name.port")
}

wait_log() { # FILE PYTHON-CONDITION-ON-RECORDS SECONDS WHAT: rs is the list of records
    local deadline=$(( $(date +%s) + $3 * SLOW ))
    until [ -f "$1" ] && "$PY" -c 'import json,sys; rs=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; do
        [ "$(date +%s)" -lt $deadline ] || fail "$4: $(cat "$1" 2>/dev/null | tail -n 5)"
        sleep 0.2
    done
}

hook() { # URL [EVENTS-JSON]: the params of a tiny job with a webhook
    echo "{\"image_size\":32,\"iterations\":20,\"preview_every\":2,\"webhook\":\"$1\"${2:+,\"webhook_events\":$2}}"
}

refused() { # PARAMS STATUS CODE FIELD WHAT
    expect_error "$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style.png" \
                    -F "params=$1")" "$2" "$3" "$4" "$5"
}

# ---------------------------------------------------------------- delivered, signed, in order
start_receiver ok
OKPORT=$RPORT
start_nstd --workers 1 --webhook-secret "$SECRET" --webhook-allow 127.0.0.1 \
    --webhook-max-attempts 3 --webhook-timeout 2

req GET /v1/info >/dev/null
expect_eq "$(jf "$T/body" 'd["webhooks"]')" signed "info: webhooks"
expect_eq "$(jf "$T/body" 'd["limits"]["webhook_max_attempts"]')" 3 "info: webhook_max_attempts"
expect_eq "$(jf "$T/body" 'd["limits"]["webhook_timeout_s"]')" 2 "info: webhook_timeout_s"
expect_eq "$(jf "$T/body" 'd["limits"]["webhook_progress_ms"]')" 500 "info: webhook_progress_ms"
expect_eq "$(jf "$T/body" '[d["limits"][k] for k in ("webhook_max_url","webhook_queue_size")]')" \
    "[2048, 1000]" "info: webhook_max_url, webhook_queue_size"
ok "/v1/info publishes the webhook limits"

id=$(submit "$(hook "http://127.0.0.1:$OKPORT/hook?x=1" '["start","progress","completed"]')")
expect_eq "$(jf "$T/body" 'd["webhook"]')" \
    "{\"url\": \"http://127.0.0.1:$OKPORT/hook?x=1\", \"events\": [\"start\", \"progress\", \"completed\"]}" \
    "the job shows its webhook"
expect_eq "$(jf "$T/body" '"webhook" in d["params"]')" false "params without the webhook"
wait_state "$id" succeeded 120
wait_log "$T/ok.jsonl" 'any(r["type"]=="job.completed" for r in rs)' 30 "job.completed not delivered"
sleep 0.5   # nothing may come after it
"$PY" - "$T/ok.jsonl" "$id" <<'PY' || fail "deliveries of the job"
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
job = sys.argv[2]
types = [r["type"] for r in rs]
assert all(r["valid"] for r in rs), "a signature did not verify: %s" % rs
assert all(r["job"] == job for r in rs), "a message of another job"
assert all(r["status"] == 204 and r["path"] == "/hook?x=1" for r in rs), rs
assert all(r["content_type"] == "application/json" for r in rs), rs
assert types[0] == "job.started" and rs[0]["state"] == "running", types
assert types[-1] == "job.completed" and rs[-1]["state"] == "succeeded", types
assert types.count("job.started") == 1 and types.count("job.completed") == 1, types
progress = [r for r in rs if r["type"] == "job.progress"]
assert len(progress) >= 1 and len(progress) == len(rs) - 2, types
its = [r["iteration"] for r in progress]
assert its == sorted(its), "progress out of order: %s" % its
# the throttle, by the events' own times (a delivery slowed by a busy
# machine may arrive closer to the next one than they were made)
from datetime import datetime
made = [datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() for r in progress]
gaps = [b - a for a, b in zip(made, made[1:])]
assert all(g >= 0.498 for g in gaps), "progress events made closer than 500 ms: %s" % gaps
assert len({r["id"] for r in rs}) == len(rs), "webhook-id repeated"
assert all(r["timestamp"].endswith("Z") for r in rs)
print("ok - %d deliveries: started, %d progress (gaps %s), completed; every signature valid"
      % (len(rs), len(progress), [round(g, 2) for g in gaps]))
PY

# only the events asked for
id=$(submit "$(hook "http://127.0.0.1:$OKPORT/only" '["completed"]')")
wait_state "$id" succeeded 120
wait_log "$T/ok.jsonl" "[r['type'] for r in rs if r['job']=='$id']==['job.completed']" 30 \
    "only job.completed for a job that asked for it"
ok "a job gets only the events it asked for"

# ---------------------------------------------------------------- refused params
refused "$(hook "http://127.0.0.2:$OKPORT/")" 422 invalid_params webhook "a loopback address not listed"
jf "$T/body" 'd["error"]["message"]' | grep -q webhook_allow || fail "the refusal does not name webhook_allow"
refused "$(hook "http://[::1]:$OKPORT/")" 422 invalid_params webhook "IPv6 loopback"
refused "$(hook "http://10.1.2.3/")" 422 invalid_params webhook "a private address"
refused "$(hook "http://169.254.169.254/latest")" 422 invalid_params webhook "a link-local address"
refused "$(hook "ftp://127.0.0.1/")" 422 invalid_params webhook "another scheme"
refused "$(hook "not a url")" 422 invalid_params webhook "not a URL"
refused "$(hook "http://no-such-host.invalid/")" 422 invalid_params webhook "a host that does not resolve"
refused "$(hook "http://127.0.0.1:$OKPORT/$(head -c 2100 /dev/zero | tr '\0' a)")" 422 invalid_params webhook "a URL too long"
refused '{"image_size":32,"webhook":7}' 422 invalid_params webhook "a webhook that is no string"
refused "$(hook "http://127.0.0.1:$OKPORT/" '["start","finish"]')" 422 invalid_params webhook_events "an unknown event"
refused "$(hook "http://127.0.0.1:$OKPORT/" '[]')" 422 invalid_params webhook_events "no events"
refused "$(hook "http://127.0.0.1:$OKPORT/" '["start","start"]')" 422 invalid_params webhook_events "an event twice"
refused '{"image_size":32,"webhook_events":["start"]}' 422 invalid_params webhook_events "events without a webhook"
refused '{"image_size":32,"webhook_url":"http://x/"}' 422 invalid_params webhook_url "an unknown key still"

# ---------------------------------------------------------------- 500 once: retried
start_receiver flaky --fail-first 1
id=$(submit "$(hook "http://127.0.0.1:$RPORT/" '["completed"]')")
wait_state "$id" succeeded 120
wait_log "$T/flaky.jsonl" 'len(rs) >= 2' 30 "the message after a 500 was not sent again"
"$PY" - "$T/flaky.jsonl" <<'PY' || fail "the retry after a 500"
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["status"] for r in rs] == [500, 204], rs
assert rs[0]["id"] == rs[1]["id"] and all(r["valid"] for r in rs), rs
assert rs[1]["t"] - rs[0]["t"] >= 0.9, "retried without backoff"
PY
grep '"webhook_retry"' "$NSTD_LOG" | grep -q "answered 500" || fail "no webhook_retry log line for the 500"
grep '"webhook_delivered"' "$NSTD_LOG" | grep -q "$id" || fail "no webhook_delivered log line"
ok "a receiver answering 500 once gets the same message again after a backoff"

# ---------------------------------------------------------------- receiver down
DOWN=$(free_port)   # nothing listens there
id=$(submit "$(hook "http://127.0.0.1:$DOWN/" '["start","completed"]')")
wait_state "$id" succeeded 120
ok "the job succeeds while its receiver is down"
deadline=$(( $(date +%s) + 60 * SLOW ))
until [ "$(grep '"webhook_failed"' "$NSTD_LOG" | grep -c "$id")" = 2 ]; do
    [ "$(date +%s)" -lt $deadline ] || fail "nstd did not give up both messages"
    sleep 0.5
done
expect_eq "$(grep '"webhook_retry"' "$NSTD_LOG" | grep -c "$id")" 4 "attempts before giving up (2 × 2 retries)"
grep '"webhook_failed"' "$NSTD_LOG" | grep "$id" | grep -q '"attempt":3' || fail "webhook_failed without the attempt count"
expect_eq "$(job_field "$id" 'd["state"]')" succeeded "the job after its webhooks failed"
ok "a receiver that is down: retries, then webhook_failed, the job unaffected"

grep -qF "${SECRET#whsec_}" "$NSTD_LOG" && fail "the secret reached the log"
req GET /v1/info >/dev/null
grep -qF "${SECRET#whsec_}" "$T/body" && fail "the secret is published in /v1/info"
ok "the secret is neither logged nor published"
stop_nstd
expect_eq "$STOP_RC" 0 "nstd exit status"

# ---------------------------------------------------------------- no allow-list
start_nstd --workers 1 --webhook-secret plain-secret-text
refused "$(hook "http://127.0.0.1:$OKPORT/")" 422 invalid_params webhook "loopback without --webhook-allow"
refused "$(hook "http://localhost:$OKPORT/")" 422 invalid_params webhook "localhost without --webhook-allow"
stop_nstd

# ---------------------------------------------------------------- no secret
start_nstd --workers 1 --webhook-allow 127.0.0.1
req GET /v1/info >/dev/null
expect_eq "$(jf "$T/body" 'd["webhooks"]')" disabled "info without a secret"
refused "$(hook "http://127.0.0.1:$OKPORT/")" 422 webhooks_disabled webhook "a webhook without --webhook-secret"
jf "$T/body" 'd["error"]["message"]' | grep -q webhook_secret || fail "the refusal does not name webhook_secret"
stop_nstd

# bad settings stop nstd at start with the setting's name
for bad in "--webhook-allow 10.0.0.0/40" "--webhook-secret whsec_!!" "--webhook-max-attempts 0"; do
    # shellcheck disable=SC2086
    if "$NSTD_BIN" --port 1 $bad >"$T/bad.out" 2>&1; then fail "nstd started with $bad"; fi
    grep -q -- "${bad%% *}" "$T/bad.out" || fail "$bad: the message does not name the setting: $(cat "$T/bad.out")"
    grep -q '!!' "$T/bad.out" && fail "the message repeats the secret"
done
ok "bad webhook settings are refused at start"
