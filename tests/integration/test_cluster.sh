#!/usr/bin/env bash
# test_cluster.sh — several nstd processes on one Redis (a real
# redis-server): two API nodes (--role api) and two worker nodes (--role
# worker, one worker of one thread each), with short leases (renewed every
# 1 s, taken over after 3 s).
#   any API node answers any job: a job posted to A is listed, fetched,
#     previewed, downloaded, streamed (SSE) and cancelled through B;
#   a cancel reaches the worker running the job, which stops it;
#   a worker node serves /healthz, /readyz and /metrics only;
#   kill -9 of the worker running a job: the other worker takes it over
#     from its last checkpoint (resume_iteration > 0, attempts 2) to success;
#   a worker paused (SIGSTOP) past the lease timeout, then resumed, cannot
#     change the job its successor finished (fencing): same state, same
#     result, one result;
#   Redis stopped for 5 s under a stream of POSTs: only 503
#     store_unavailable with Retry-After (never a 500, none hangs), /readyz
#     503 naming the store, then 200 once it is back; every job that was
#     answered 202 succeeds.
# Loopback only; every wait is bounded; no timing of job speed is asserted.
. "$(dirname "$0")/lib.sh"
make_images
STORE=redis   # the stored_* helpers look in Redis
start_redis
LEASE=(--redis-url "$REDIS_URL" --lease-renew 1 --lease-timeout 3 --queue-size 100)
start_node a --role api "${LEASE[@]}"
start_node b --role api "${LEASE[@]}"
start_node w1 --role worker --workers 1 --job-threads 1 "${LEASE[@]}"
start_node w2 --role worker --workers 1 --job-threads 1 "${LEASE[@]}"
WORKERS="w1 w2"

on() { # NODE FUNCTION ARGS…: a lib.sh request helper against that node
    local node=$1
    shift
    BASE=$(node_var BASE "$node") "$@"
}

# log_has NODE EVENT ID [PYTHON-CONDITION on the line `e`]: the node's log
# has that event for that job
log_has() {
    "$PY" - "$T/$1.log" "$2" "$3" "${4:-True}" <<'PY'
import json, sys
path, event, job, cond = sys.argv[1:]
for line in open(path, errors="replace"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if isinstance(e, dict) and e.get("event") == event and e.get("job") == job and eval(cond):
        sys.exit(0)
sys.exit(1)
PY
}

runner_of() { # ID SECONDS: prints the worker node whose log says it started the job last
    local deadline=$(( $(date +%s) + $2 * SLOW )) w found
    while :; do
        found=
        for w in $WORKERS; do
            if log_has "$w" job_started "$1"; then found="$found $w"; fi
        done
        found=${found# }
        case $found in
            *" "*) fail "job $1 started on both workers ($found) while one should have it" ;;
            ?*) echo "$found"; return 0 ;;
        esac
        [ "$(date +%s)" -lt $deadline ] || fail "no worker logged job_started for $1"
        sleep 0.1
    done
}

wait_until() { # SECONDS WHAT COMMAND…: poll COMMAND until it succeeds
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$(( $(date +%s) + secs * SLOW ))
    until "$@"; do
        [ "$(date +%s)" -lt $deadline ] || fail "$what (after $secs s)"
        sleep 0.1
    done
}

iteration_at_least() { # NODE ID N
    [ "$(on "$1" job_field "$2" 'd["progress"]["iteration"]')" -ge "$3" ]
}
checkpointed() { # ID: the store holds a checkpoint past iteration 0
    local ck
    ck=$(stored_field "$1" checkpoint_iteration)
    [ -n "$ck" ] && [ "$ck" -gt 0 ] && stored_blob "$1" checkpoint.png
}
result_blobs() { # ID: how many stored blobs of the job are a result
    rcli SMEMBERS "nstd:blobs:$1" | grep -c '^result' || true
}

# ---------------------------------------------------------------- any API node answers any job
id=$(on a submit '{"image_size":64,"iterations":12,"preview_every":4}')
timeout $((120 * SLOW)) curl -sN "$NODE_BASE_b/v1/jobs/$id/events" >"$T/events" ||
    fail "event stream through B did not end: $(tail -c 300 "$T/events")"
grep -q '^event: progress' "$T/events" || fail "no progress event through B: $(head -c 300 "$T/events")"
grep -q '^event: end' "$T/events" || fail "no end event through B: $(tail -c 300 "$T/events")"
sed -n '/^event: end/,$p' "$T/events" | grep '^data:' | head -n 1 | sed 's/^data: *//' >"$T/end.json"
expect_eq "$(jf "$T/end.json" 'd["state"]')" succeeded "state in the end event through B"
ok "job posted to A streamed through B to its end ($(grep -c '^event: progress' "$T/events") progress events)"

expect_eq "$(on b req GET /v1/jobs)" 200 "list through B"
expect_eq "$(jf "$T/body" "any(j['id'] == '$id' for j in d['jobs'])")" true "job of A listed by B"
expect_eq "$(on b job_field "$id" 'd["state"]')" succeeded "state through B"
expect_eq "$(on b job_field "$id" 'd["attempts"]')" 1 "attempts of an undisturbed job"
expect_eq "$(OUT="$T/b.png" on b req GET "/v1/jobs/$id/result")" 200 "result through B"
expect_eq "$(png_size "$T/b.png" | cut -d' ' -f1)" 64 "result width"
expect_eq "$(OUT="$T/a.png" on a req GET "/v1/jobs/$id/result")" 200 "result through A"
cmp -s "$T/a.png" "$T/b.png" || fail "A and B serve different results"
expect_eq "$(OUT="$T/p.png" on b req GET "/v1/jobs/$id/preview")" 200 "preview through B"
ok "job of A listed, fetched, previewed and downloaded through B (the same bytes as A)"

# ---------------------------------------------------------------- cancel through B reaches the worker
long='{"image_size":32,"iterations":2000,"preview_every":0}'
id=$(on a submit "$long")
on b wait_state "$id" running 60
w=$(runner_of "$id" 30)
expect_eq "$(on b req DELETE "/v1/jobs/$id")" 202 "cancel a running job through B"
on a wait_state "$id" canceled 15
wait_until 15 "worker $w did not stop the canceled job" log_has "$w" job_finished "$id" 'e.get("state") == "canceled"'
ok "cancel through B: canceled, and worker $w stopped it"
# the worker is free again: a new job runs to the end
id=$(on b submit '{"image_size":32,"iterations":3}')
on a wait_state "$id" succeeded 120
expect_eq "$(on b req DELETE "/v1/jobs/$id")" 204 "delete a finished job through B"
expect_eq "$(on a req GET "/v1/jobs/$id")" 404 "deleted job gone from A"
wait_until 10 "files of the deleted job remain in Redis" stored_job_gone "$id"
ok "delete through B: gone everywhere, nothing left in Redis"

# ---------------------------------------------------------------- what a worker node serves
for w in $WORKERS; do
    expect_eq "$(on "$w" req GET /healthz)" 200 "worker $w /healthz"
    expect_eq "$(on "$w" req GET /readyz)" 200 "worker $w /readyz"
    expect_eq "$(on "$w" req GET /metrics)" 200 "worker $w /metrics"
    grep -q '^nstd_' "$T/body" || fail "worker $w /metrics has no nstd_ metric"
    expect_eq "$(on "$w" req GET /v1/jobs)" 404 "worker $w GET /v1/jobs"
    expect_eq "$(on "$w" req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style.png")" \
        404 "worker $w POST /v1/jobs"
done
ok "worker nodes answer /healthz, /readyz, /metrics and 404 for /v1/jobs"
expect_eq "$(on a req GET /metrics)" 200 "API /metrics"
grep -Eq '^nstd_workers_alive 2(\.0+)?$' "$T/body" ||
    fail "nstd_workers_alive on A: $(grep workers_alive "$T/body" || echo none)"
ok "A counts 2 live workers"

# ---------------------------------------------------------------- kill -9 of the running worker
id=$(on a submit '{"image_size":32,"iterations":60,"preview_every":2}')
on b wait_state "$id" running 60
victim=$(runner_of "$id" 30)
wait_until 60 "no checkpoint of $id in Redis while it ran" checkpointed "$id"
ck=$(stored_field "$id" checkpoint_iteration)
kill_node "$victim"
ok "killed worker $victim with -9 at checkpoint $ck"
on a wait_state "$id" succeeded 300
other=$([ "$victim" = w1 ] && echo w2 || echo w1)
log_has "$other" job_started "$id" 'e.get("resume_iteration", 0) > 0' ||
    fail "worker $other did not resume $id from a checkpoint: $(grep "$id" "$T/$other.log" | tail -n 3)"
expect_eq "$(on b job_field "$id" 'd["attempts"]')" 2 "attempts after one takeover"
expect_eq "$(OUT="$T/k.png" on b req GET "/v1/jobs/$id/result")" 200 "result after the takeover"
expect_eq "$(png_size "$T/k.png" | cut -d' ' -f1)" 32 "result width after the takeover"
expect_eq "$(result_blobs "$id")" 1 "stored results"
ok "worker $other took the job over from a checkpoint and finished it (attempts 2)"
start_node "$victim" --role worker --workers 1 --job-threads 1 "${LEASE[@]}"

# ---------------------------------------------------------------- a paused worker cannot overwrite
id=$(on a submit '{"image_size":32,"iterations":60,"preview_every":2}')
on b wait_state "$id" running 60
paused=$(runner_of "$id" 30)
wait_until 60 "no checkpoint of $id in Redis while it ran" checkpointed "$id"
wait_until 60 "$id did not pass iteration 20" iteration_at_least a "$id" 20
pid=$(node_var PID "$paused")
kill -STOP "$pid"
ok "paused worker $paused (SIGSTOP) at iteration $(on a job_field "$id" 'd["progress"]["iteration"]')"
on a wait_state "$id" succeeded 300
other=$([ "$paused" = w1 ] && echo w2 || echo w1)
log_has "$other" job_started "$id" || fail "worker $other did not take $id over"
on b job_field "$id" 'd' >"$T/view-before.json"
expect_eq "$(OUT="$T/before.png" on b req GET "/v1/jobs/$id/result")" 200 "result of the successor"
kill -CONT "$pid"
# the paused worker wakes with the job it lost: give it time to renew
# (refused), write (refused) and give the job up
sleep $((4 * SLOW))
kill -0 "$pid" 2>/dev/null || fail "worker $paused died after SIGCONT"
on b job_field "$id" 'd' >"$T/view-after.json"
for f in state attempts finished_at; do
    expect_eq "$(jf "$T/view-after.json" "d.get('$f')")" "$(jf "$T/view-before.json" "d.get('$f')")" \
        "$f after the paused worker woke"
done
expect_eq "$(OUT="$T/after.png" on a req GET "/v1/jobs/$id/result")" 200 "result after the paused worker woke"
cmp -s "$T/before.png" "$T/after.png" || fail "the woken worker changed the result"
expect_eq "$(result_blobs "$id")" 1 "stored results"
ok "worker $paused woke after its lease expired and changed nothing (state, attempts, result)"
# and it still works: both workers take jobs
ids=
for i in 1 2 3 4; do ids="$ids $(on a submit '{"image_size":32,"iterations":3}')"; done
for i in $ids; do on b wait_state "$i" succeeded 120; done
ok "the woken worker is back at work"

# ---------------------------------------------------------------- Redis down under POST load
mkdir -p "$T/load"
post_one() { # N NODE: one POST with a deadline; status, headers and body in $T/load/N.*
    curl -s --max-time $((10 * SLOW)) -o "$T/load/$1.body" -D "$T/load/$1.headers" -w '%{http_code}' \
        -F "content=@$T/content.png" -F "style=@$T/style.png" -F 'params={"image_size":32,"iterations":3}' \
        "$(node_var BASE "$2")/v1/jobs" >"$T/load/$1.status" 2>/dev/null || true
}
(   # a stream of POSTs across the outage, alternating between A and B, until told to stop
    for n in $(seq 1 400); do
        [ -e "$T/load/stop" ] && break
        post_one "bg$n" "$([ $((n % 2)) = 0 ] && echo a || echo b)"
        sleep 0.2
    done
) &
load_pid=$!
sleep 1
stop_redis
t_end=$(( $(date +%s) + 5 ))
n=0
while [ "$(date +%s)" -lt $t_end ] && [ $n -lt 100 ]; do
    n=$((n + 1))
    node=$([ $((n % 2)) = 0 ] && echo a || echo b)
    post_one "fg$n" "$node"
    st=$(cat "$T/load/fg$n.status")
    [ "$st" = 503 ] || fail "POST to $node with Redis down: status $st: $(head -c 300 "$T/load/fg$n.body")"
    expect_eq "$(jf "$T/load/fg$n.body" 'd["error"]["code"]')" store_unavailable "error with Redis down"
    tr -d '\r' <"$T/load/fg$n.headers" | grep -Eiq '^retry-after: [0-9]+$' ||
        fail "503 without Retry-After: $(cat "$T/load/fg$n.headers")"
done
for node in a b; do
    expect_eq "$(on $node req GET /readyz)" 503 "/readyz of $node with Redis down"
    jf "$T/body" '" ".join(d.get("reasons", []))' | grep -Eiq 'store|redis' ||
        fail "/readyz of $node names no store: $(cat "$T/body")"
done
ok "Redis down: $n POSTs in 5 s all 503 store_unavailable with Retry-After; /readyz 503 naming the store"
for w in $WORKERS; do
    kill -0 "$(node_var PID "$w")" 2>/dev/null || fail "worker $w exited while Redis was down"
done
start_redis_again
for node in a b; do
    wait_until 30 "/readyz of $node not 200 after Redis came back" \
        eval '[ "$(on '$node' req GET /readyz)" = 200 ]'
done
ok "/readyz 200 again on both API nodes"
sleep 2
touch "$T/load/stop"
wait "$load_pid"
accepted=0 refused=0
for f in "$T"/load/*.status; do
    k=${f%.status}
    st=$(cat "$f")
    case $st in
        202) accepted=$((accepted + 1)); jf "$k.body" 'd["id"]' >>"$T/load/ids" ;;
        503) refused=$((refused + 1))
             expect_eq "$(jf "$k.body" 'd["error"]["code"]')" store_unavailable "503 code under load" ;;
        *) fail "POST under load ($(basename "$k")): status $st: $(head -c 300 "$k.body" 2>/dev/null)" ;;
    esac
done
[ $accepted -gt 0 ] || fail "no POST accepted around the outage"
for i in $(cat "$T/load/ids"); do on a wait_state "$i" succeeded 180; done
ok "around the outage: $accepted POSTs accepted, all succeeded; $refused refused with 503, none failed otherwise"
for node in $NODES; do
    kill -0 "$(node_var PID "$node")" 2>/dev/null || fail "node $node exited"
done
ok "all four nodes still running"
