#!/usr/bin/env bash
# bench/http_load.sh — how quickly nstd answers status requests while a
# worker saturates the CPU with a style transfer.
#
#   bench/http_load.sh CONTENT STYLE [SIZE=512] [SECONDS=20] [CONNECTIONS=16] [DELAY_MS=0]
#
# Starts build/nstd on a free loopback port with a scratch data directory,
# submits one job (CONTENT × STYLE at SIZE px, many iterations), waits until
# it runs, then drives GET /v1/jobs/{id} with wrk (Debian package wrk) for
# SECONDS and prints requests per second and the latency distribution
# (p50, p90, p99). With DELAY_MS > 0 each connection pauses that long
# between requests (polling clients) instead of sending back to back, which
# leaves the worker the CPU. The rate limit is off (one client sends all
# the requests: they would be mostly 429s; bench/poll_flood.sh measures
# that). The job is canceled and nstd stopped at the end.
# Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
content=$1 style=$2 size=${3:-512} secs=${4:-20} conns=${5:-16} delay=${6:-0}
command -v wrk >/dev/null || { echo "http_load: needs wrk (apt-get install wrk)" >&2; exit 2; }
[ -x build/nstd ] || { echo "http_load: build nstd first (scripts/run or cmake)" >&2; exit 2; }
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
build/nstd --bind 127.0.0.1 --port "$port" --data-dir "$tmp/data" --log-format text --rate-limit 0 \
    >"$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
id=$(curl -fs -F "content=@$content" -F "style=@$style" \
    -F "params={\"image_size\":$size,\"iterations\":2000,\"preview_every\":5}" "$base/v1/jobs" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for _ in $(seq 600); do # until it runs its iterations (past the style targets)
    read -r state it < <(curl -fs "$base/v1/jobs/$id" |
        python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["state"], j["progress"]["iteration"])')
    [ "$state" = running ] && [ "$it" -ge 1 ] && break
    sleep 0.1
done
echo "job $id $state at ${size}px; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "function delay() return $delay end" >"$tmp/delay.lua"
it0=$(curl -fs "$base/v1/jobs/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["progress"]["iteration"])')
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$tmp/delay.lua" "$base/v1/jobs/$id"
curl -fs "$base/v1/jobs/$id" | python3 -c '
import json, sys
p = json.load(sys.stdin)["progress"]
print("job: %d iterations during the %s s of load (iteration %d, %.2f s per iteration overall)" % (
    p["iteration"] - int(sys.argv[1]), sys.argv[2], p["iteration"], p["elapsed_s"] / max(p["iteration"], 1)))' "$it0" "$secs"
curl -fs -X DELETE "$base/v1/jobs/$id" >/dev/null || true
