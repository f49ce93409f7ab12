#!/usr/bin/env bash
# test_queue.sh — the bounded queue: with one worker and a queue of one, a
# third job is refused with 429 and Retry-After; readiness reports the full
# queue; a queued job has no preview yet; HTTP stays responsive while the
# worker is busy; a quiet event stream gets keep-alive comments.
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --workers 1 --queue-size 1 --connection-timeout 4

long='{"image_size":64,"iterations":2000,"preview_every":0}'
running=$(submit "$long")
wait_state "$running" running 60
queued=$(submit "$long")
expect_eq "$(job_field "$queued" 'd["state"]')" queued "second job waits"
expect_eq "$(job_field "$queued" 'd["position"]')" 1 "queue position"

expect_error "$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style.png" \
    -F "params=$long")" 429 queue_full "" "third job with a full queue"
header Retry-After | grep -Eq '^[0-9]+$' || fail "429 without Retry-After"
ok "Retry-After: $(header Retry-After)"

expect_error "$(req GET "/v1/jobs/$queued/preview")" 404 no_preview "" "preview of a queued job"

# an event stream of a job that does not change stays alive with comments
# (every 2 s here: half the connection timeout)
curl -s -N --max-time $((5 * SLOW)) "$BASE/v1/jobs/$queued/events" >"$T/events" || true
expect_eq "$(grep -c '^event: progress' "$T/events")" 1 "one event for an unchanged job"
grep -q '^: keep-alive' "$T/events" || fail "no keep-alive comment: $(head -c 200 "$T/events")"
ok "SSE keep-alive comments on a quiet stream"

expect_eq "$(req GET /readyz)" 503 "readyz with a full queue"
jf "$T/body" '" ".join(d["reasons"])' | grep -q "queue is full" || fail "readyz reason: $(cat "$T/body")"
ok "readyz reports the full queue"

# HTTP answers quickly while the worker saturates the CPU
worst=$("$PY" - "$BASE" <<'PY'
import sys, time, urllib.request
worst = 0.0
for _ in range(20):
    t = time.monotonic()
    urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=10).read()
    worst = max(worst, time.monotonic() - t)
    time.sleep(0.05)
print(round(worst, 3))
PY
)
"$PY" -c "import sys; sys.exit(0 if $worst < 0.5 * $SLOW else 1)" || fail "slowest /healthz took $worst s"
ok "HTTP responsive under load (slowest /healthz $worst s)"

# the queue drains: cancel both, then a new job is accepted and readiness is back
expect_eq "$(req DELETE "/v1/jobs/$queued")" 200 "cancel the queued job"
expect_eq "$(req DELETE "/v1/jobs/$running")" 202 "cancel the running job"
expect_eq "$(req GET /readyz)" 200 "ready again"
quick=$(submit '{"image_size":32,"iterations":2}')
wait_state "$quick" succeeded 60
ok "queue accepts again after it drained"
stop_nstd
expect_eq "$STOP_RC" 0 "exit status"
