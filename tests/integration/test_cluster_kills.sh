#!/usr/bin/env bash
# test_cluster_kills.sh — workers die at random and nothing is lost: one API
# node and two worker nodes (one worker of one thread each) on a real
# redis-server with short leases (1 s, taken over after 3 s); 20 small jobs
# are posted, then 20 times a random worker node is killed with -9 at a
# random moment and started again. At the end every job has succeeded
# (0 lost, 0 stuck), exactly once: one stored result each, at most one
# job_finished "succeeded" in all the workers' logs, attempts ≥ 1; nothing
# is left queued or running (metrics read from Redis). The kills follow
# $RANDOM from a fixed seed (NSTD_TEST_SEED) so that a failure can be
# replayed. Loopback only; every loop is bounded.
. "$(dirname "$0")/lib.sh"
make_images
JOBS=20
ROUNDS=20
SEED=${NSTD_TEST_SEED:-13}
RANDOM=$SEED
STORE=redis   # the stored_* helpers look in Redis
start_redis
# no job may fail for being interrupted too often here: kills are the point
LEASE=(--redis-url "$REDIS_URL" --lease-renew 1 --lease-timeout 3 --max-attempts 100 --queue-size 100)
WORKER=(--role worker --workers 1 --job-threads 1 "${LEASE[@]}")
start_node a --role api "${LEASE[@]}"
start_node w1 "${WORKER[@]}"
start_node w2 "${WORKER[@]}"
BASE=$NODE_BASE_a
NSTD_LOG=/dev/null   # fail() shows each node's log instead

ids=
for i in $(seq 1 $JOBS); do
    ids="$ids $(submit '{"image_size":32,"iterations":12,"preview_every":2}')"
done
ok "$JOBS jobs submitted (kill seed $SEED)"

for round in $(seq 1 $ROUNDS); do
    r=$((RANDOM % 15 + 3))   # tenths of a second
    sleep "$((r / 10)).$((r % 10))"
    w=w$((RANDOM % 2 + 1))
    kill_node "$w"
    start_node "$w" "${WORKER[@]}"
    echo "round $round: killed and restarted $w at $SECONDS s"
done
ok "$ROUNDS random worker kills"

deadline=$(( $(date +%s) + 300 * SLOW ))
for id in $ids; do
    while :; do
        st=$(req GET "/v1/jobs/$id")
        [ "$st" = 200 ] || fail "job $id lost: GET answered $st"
        s=$(jf "$T/body" 'd["state"]')
        [ "$s" = succeeded ] && break
        case $s in failed|canceled) fail "job $id ended $s: $(cat "$T/body")" ;; esac
        [ "$(date +%s)" -lt $deadline ] || fail "job $id stuck $s"
        sleep 0.2
    done
    [ "$(jf "$T/body" 'd["attempts"]')" -ge 1 ] || fail "job $id: attempts $(jf "$T/body" 'd["attempts"]')"
done
ok "0 lost, 0 stuck: all $JOBS jobs succeeded"

"$PY" - "$T" $ids <<'PY' || fail "a job finished more than once"
import json, sys
t, ids = sys.argv[1], sys.argv[2:]
finished, resumed = {i: 0 for i in ids}, 0
for w in ("w1", "w2"):
    for line in open(f"{t}/{w}.log", errors="replace"):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if not isinstance(e, dict) or e.get("job") not in finished:
            continue
        if e.get("event") == "job_finished" and e.get("state") == "succeeded":
            finished[e["job"]] += 1
        if e.get("event") == "job_started" and e.get("resume_iteration", 0) > 0:
            resumed += 1
twice = {i: n for i, n in finished.items() if n > 1}
print(f"ok - each job logged succeeded at most once ({sum(finished.values())} lines); "
      f"{resumed} runs resumed from a checkpoint")
sys.exit(1 if twice else 0)
PY
total_attempts=0
for id in $ids; do
    n=$(rcli SMEMBERS "nstd:blobs:$id" | grep -c '^result' || true)
    expect_eq "$n" 1 "stored results of $id"
    expect_eq "$(OUT="$T/r.png" req GET "/v1/jobs/$id/result")" 200 "result of $id"
    expect_eq "$(png_size "$T/r.png" | cut -d' ' -f1)" 32 "result width of $id"
    total_attempts=$((total_attempts + $(job_field "$id" 'd["attempts"]')))
done
ok "one result per job, each served ($total_attempts runs started for $JOBS jobs)"

expect_eq "$(req GET /metrics)" 200 "metrics"
grep -Eq '^nstd_queue_depth 0(\.0+)?$' "$T/body" || fail "queue depth: $(grep nstd_queue_depth "$T/body")"
grep -Eq '^nstd_jobs\{state="running"\} 0(\.0+)?$' "$T/body" ||
    fail "running jobs: $(grep 'nstd_jobs{' "$T/body")"
ok "nothing left queued or running"
