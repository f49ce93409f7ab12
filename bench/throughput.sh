#!/usr/bin/env bash
# bench/throughput.sh — jobs per hour of a cluster on Redis with one worker
# node versus two: does a second machine double the throughput?
#
#   bench/throughput.sh NSTD CONTENT STYLE [JOBS=8]
#
# Starts a scratch redis-server (Debian package redis-server; AOF on, as
# deployed) and one API node on free loopback ports, then twice: N worker
# nodes (N = 1, then 2) of one worker with one thread each (--workers 1
# --job-threads 1: one worker node stands for one machine of one core), JOBS
# jobs posted at once (CONTENT × STYLE, PARAMS, by default 128 px and 100
# iterations), the wall time from the first POST to the last job's success.
# Prints jobs per hour for each and the ratio (the goal on two cores: ≥ 1.9×).
# The machine needs as many idle cores as the larger run's workers.
# Not part of CI.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '4,6p' "$0" >&2; exit 2; }
nstd=$1 content=$2 style=$3 jobs=${4:-8}
params=${PARAMS:-'{"image_size":128,"iterations":100,"preview_every":0}'}
bench=throughput
. "$(dirname "$0")/redis_scratch.sh"
url=$redis_url
common=(--bind 127.0.0.1 --redis-url "$url" --log-format text --queue-size 1000 --lease-renew 2 --lease-timeout 10)
aport=$(free_port)
"$nstd" "${common[@]}" --role api --port "$aport" --data-dir "$tmp/api" >"$tmp/api.log" 2>&1 &
pids="$pids $!"
api=http://127.0.0.1:$aport
wait_http "$api/healthz"

run() { # WORKER-NODES: sets SECS to the seconds JOBS jobs took (not in a subshell: pids)
    local n=$1 i wpids= port t0 t1 ids=
    for i in $(seq "$n"); do
        port=$(free_port)
        "$nstd" "${common[@]}" --role worker --workers 1 --job-threads 1 --port "$port" \
            --data-dir "$tmp/w$n-$i" >"$tmp/w$n-$i.log" 2>&1 &
        wpids="$wpids $!"
        pids="$pids $!"
        wait_http "http://127.0.0.1:$port/healthz"
    done
    t0=$(date +%s.%N)
    for i in $(seq "$jobs"); do
        ids="$ids $(curl -fs -F "content=@$content" -F "style=@$style" -F "params=$params" "$api/v1/jobs" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
    done
    python3 - "$api" $ids <<'PY'
import json, sys, time, urllib.request
api, ids = sys.argv[1], sys.argv[2:]
deadline = time.monotonic() + 4 * 3600
left = set(ids)
while left:
    for i in list(left):
        s = json.load(urllib.request.urlopen(f"{api}/v1/jobs/{i}", timeout=30))["state"]
        if s == "succeeded":
            left.discard(i)
        elif s in ("failed", "canceled"):
            sys.exit(f"throughput: job {i} {s}")
    if time.monotonic() > deadline:
        sys.exit("throughput: jobs still running after 4 h")
    time.sleep(0.2)
PY
    t1=$(date +%s.%N)
    for i in $wpids; do kill -TERM "$i"; wait "$i" 2>/dev/null || true; done
    for i in $ids; do curl -fs -o /dev/null -X DELETE "$api/v1/jobs/$i" || true; done
    SECS=$(python3 -c "print(round($t1 - $t0, 2))")
}

echo "$jobs jobs of $params each, $(nproc) cores"
run 1; s1=$SECS
echo "1 worker node  (1 thread):     $s1 s, $(python3 -c "print(round($jobs * 3600 / $s1))") jobs/hour"
run 2; s2=$SECS
echo "2 worker nodes (1 thread each): $s2 s, $(python3 -c "print(round($jobs * 3600 / $s2))") jobs/hour"
echo "speed-up: $(python3 -c "print(round($s1 / $s2, 2))")x"
