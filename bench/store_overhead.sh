#!/usr/bin/env bash
# bench/store_overhead.sh — what keeping a job in Redis costs against the
# disk store: the wall time of one job, from its POST to its success seen
# by polling, on an nstd with the disk store and on one with --redis-url.
#
#   bench/store_overhead.sh NSTD CONTENT STYLE [RUNS=5]
#
# Starts a scratch redis-server (Debian package redis-server; AOF on, as
# deployed) and two nstd (--role all, one worker, all cores) on free
# loopback ports, then runs RUNS jobs on each, alternating between them (and
# which goes first) so that drift of the machine hits both alike; one job at
# a time. The job is PARAMS, by default 256 px, 20 iterations, a preview
# every 5 (each preview and checkpoint is a store write). Prints each
# store's median and the Redis store's overhead in percent (the goal:
# ≤ 2 %). Not part of CI.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '6,7p' "$0" >&2; exit 2; }
nstd=$1 content=$2 style=$3 runs=${4:-5}
params=${PARAMS:-'{"image_size":256,"iterations":20,"preview_every":5}'}
bench=store_overhead
. "$(dirname "$0")/redis_scratch.sh"

start() { # VAR NAME [flags…]: sets VAR to the base URL (not in a subshell: pids)
    local var=$1 name=$2 port
    shift 2
    port=$(free_port)
    "$nstd" --bind 127.0.0.1 --port "$port" --data-dir "$tmp/$name" --workers 1 --log-format text "$@" \
        >"$tmp/$name.log" 2>&1 &
    pids="$pids $!"
    wait_http "http://127.0.0.1:$port/healthz"
    printf -v "$var" %s "http://127.0.0.1:$port"
}
start disk disk
start redis redis --redis-url "$redis_url"

one() { # BASE: prints the seconds of one job
    python3 - "$1" "$content" "$style" "$params" <<'PY'
import json, subprocess, sys, time, urllib.request
base, content, style, params = sys.argv[1:]
t0 = time.monotonic()
out = subprocess.run(["curl", "-fs", "-F", f"content=@{content}", "-F", f"style=@{style}",
                      "-F", f"params={params}", f"{base}/v1/jobs"], check=True, capture_output=True)
job = json.loads(out.stdout)["id"]
deadline = t0 + 3600
while True:
    s = json.load(urllib.request.urlopen(f"{base}/v1/jobs/{job}", timeout=30))["state"]
    if s == "succeeded":
        break
    if s in ("failed", "canceled") or time.monotonic() > deadline:
        sys.exit(f"store_overhead: job {job} {s}")
    time.sleep(0.02)
print(round(time.monotonic() - t0, 3))
urllib.request.urlopen(urllib.request.Request(f"{base}/v1/jobs/{job}", method="DELETE"), timeout=30)
PY
}

echo "$runs jobs of $params on each store, $(nproc) cores"
one "$disk" >/dev/null   # warm-up: page cache, the model's first touch
d= r=
for i in $(seq "$runs"); do
    if [ $((i % 2)) = 1 ]; then a=$(one "$disk"); b=$(one "$redis")
    else b=$(one "$redis"); a=$(one "$disk"); fi
    echo "run $i: disk $a s, redis $b s"
    d="$d $a" r="$r $b"
done
python3 - "$d" "$r" <<'PY'
import statistics, sys
d = statistics.median(float(x) for x in sys.argv[1].split())
r = statistics.median(float(x) for x in sys.argv[2].split())
print(f"median: disk {d:.3f} s, redis {r:.3f} s, redis store {100 * (r - d) / d:+.1f} %")
PY
