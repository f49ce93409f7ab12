#!/usr/bin/env bash
# bench/poll_flood.sh — does a polling flood slow a running job down?
#
#   bench/poll_flood.sh NSTD [nstd args…]
#
# Starts NSTD (the nstd binary) on 127.0.0.1, a free port and a scratch data
# directory, with the args given (such as --rate-limit 0), and measures a
# job's iterations per second alone and while wrk (Debian package wrk)
# floods GET /v1/jobs/{id} back to back. Each run submits a fresh job, waits
# until it iterates, then measures SECS seconds quiet and SECS seconds under
# the flood (in alternating order, against drift), and cancels the job. It
# prints every run, then the medians, their ratio (flood / quiet) and the
# median of the runs' ratios (each run's two measurements are adjacent, so
# that one drifts least with the machine's load).
#
# Environment:
#   SIZE=128      the job's image_size
#   RUNS=5        runs (the medians are over these)
#   SECS=8        seconds of each measurement
#   CONNS=16      wrk's connections, all from one thread
#   CLIENTS=1     clients the flood comes from: 1 floods from 127.0.0.1
#                 itself; N > 1 sends X-Forwarded-For naming one of N
#                 addresses per request, through --trusted-proxies 127.0.0.1
#   WRK_NICE=0    niceness of wrk: the load generator runs on this machine
#                 and takes CPU of its own, which a client elsewhere would
#                 not; at 19 it only takes what the job leaves
#
# The bench's own status reads come from 127.0.0.2 (another client). Each
# run also prints the CPU wrk and nstd used during the flood, in cores.
# Not part of CI.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench/poll_flood.sh NSTD [nstd args…]" >&2; exit 2; }
nstd=$1
shift
cd "$(dirname "$0")/.."
size=${SIZE:-128} runs=${RUNS:-5} secs=${SECS:-8} conns=${CONNS:-16} clients=${CLIENTS:-1}
wrk_nice=${WRK_NICE:-0}
command -v wrk >/dev/null || { echo "poll_flood: needs wrk (apt-get install wrk)" >&2; exit 2; }
[ -x "$nstd" ] || { echo "poll_flood: $nstd is not an executable" >&2; exit 2; }

tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
python3 tests/integration/images.py gradient 256 256 "$tmp/content.png"
python3 tests/integration/images.py stripes 128 128 "$tmp/style.png"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
proxy=()
[ "$clients" -gt 1 ] && proxy=(--trusted-proxies 127.0.0.1)
"$nstd" --bind 127.0.0.1 --port "$port" --data-dir "$tmp/data" --log-format text \
    "${proxy[@]}" "$@" >"$tmp/log" 2>&1 &
pid=$!
base=http://127.0.0.1:$port
get() { curl -fs --interface 127.0.0.2 "$@"; }
for _ in $(seq 100); do get -o /dev/null "$base/healthz" && break; sleep 0.1; done
get -o /dev/null "$base/healthz" || { echo "poll_flood: nstd did not start:" >&2; cat "$tmp/log" >&2; exit 1; }

# A flood from CLIENTS addresses (10.0.x.y), one per request in turn.
cat >"$tmp/flood.lua" <<EOF
local n, i = $clients, 0
request = function()
    i = i + 1
    if n <= 1 then return wrk.format("GET") end
    local k = i % n
    return wrk.format("GET", nil, {["X-Forwarded-For"] = "10.0." .. math.floor(k / 254) .. "." .. (k % 254 + 1)})
end
EOF

# "ITERATION SECONDS" now (the job's progress, the wall clock).
sample() {
    get "$base/v1/jobs/$1" | python3 -c '
import json, sys, time
print(json.load(sys.stdin)["progress"]["iteration"], "%.3f" % time.monotonic())'
}
rate() { # "I0 T0" "I1 T1" → iterations per second
    python3 -c 'import sys; i0, t0 = map(float, sys.argv[1].split()); i1, t1 = map(float, sys.argv[2].split()); print("%.3f" % ((i1 - i0) / (t1 - t0)))' "$1" "$2"
}
quiet() { # ID → it/s
    local a b
    a=$(sample "$1"); sleep "$secs"; b=$(sample "$1")
    rate "$a" "$b"
}
# CPU seconds nstd has used (all its threads).
nstd_cpu() {
    python3 -c 'import os, sys; f = open("/proc/%s/stat" % sys.argv[1]).read().rsplit(")", 1)[1].split(); print((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"))' "$pid"
}
flood() { # ID → it/s; wrk's summary in $tmp/wrk, "WRK-CORES NSTD-CORES" in $tmp/cpu
    local a b c0 c1 t0 t1
    c0=$(nstd_cpu); t0=$(date +%s.%N)
    # wrk under python, which reports the CPU wrk used
    nice -n "$wrk_nice" python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("wrk_cpu_s %.3f" % (r.ru_utime + r.ru_stime))' \
        wrk -t1 -c"$conns" -d"$((secs + 2))s" -s "$tmp/flood.lua" "$base/v1/jobs/$1" >"$tmp/wrk" 2>&1 &
    local w=$!
    sleep 1; a=$(sample "$1"); sleep "$secs"; b=$(sample "$1")
    wait "$w"
    c1=$(nstd_cpu); t1=$(date +%s.%N)
    python3 -c 'import sys; w, c0, c1, t0, t1 = map(float, sys.argv[1:]); print("%.2f %.2f" % (w / (t1 - t0), (c1 - c0) / (t1 - t0)))' \
        "$(awk '/wrk_cpu_s/ {print $2}' "$tmp/wrk")" "$c0" "$c1" "$t0" "$t1" >"$tmp/cpu"
    rate "$a" "$b"
}

echo "nstd $* — job ${size}px; flood: wrk (nice $wrk_nice), $conns connections, $clients client(s), ${secs}s"
printf '%-4s %10s %10s %8s %12s %10s %9s %10s\n' run quiet_it/s flood_it/s ratio flood_req/s non-2xx wrk_cores nstd_cores
q_all=() f_all=()
for r in $(seq "$runs"); do
    id=$(get -F "content=@$tmp/content.png" -F "style=@$tmp/style.png" \
        -F "params={\"image_size\":$size,\"iterations\":2000}" "$base/v1/jobs" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    for _ in $(seq 600); do   # until it iterates (past the style targets)
        it=$(sample "$id" | cut -d' ' -f1)
        [ "$it" -ge 2 ] && break
        sleep 0.1
    done
    if [ $((r % 2)) = 1 ]; then q=$(quiet "$id"); f=$(flood "$id")
    else f=$(flood "$id"); q=$(quiet "$id"); fi
    reqs=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk")
    read -r wcpu ncpu <"$tmp/cpu"
    printf '%-4s %10s %10s %8s %12s %10s %9s %10s\n' "$r" "$q" "$f" \
        "$(python3 -c "print('%.3f' % ($f / $q if $q else 0))")" "${reqs:-?}" "${non2xx:-0}" "$wcpu" "$ncpu"
    q_all+=("$q") f_all+=("$f")
    get -X DELETE -o /dev/null "$base/v1/jobs/$id" || true
    for _ in $(seq 100); do   # until the worker is free again
        [ "$(get "$base/v1/jobs/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = canceled ] && break
        sleep 0.1
    done
done
python3 - "${q_all[*]}" "${f_all[*]}" <<'EOF'
import statistics, sys
q = statistics.median(map(float, sys.argv[1].split()))
f = statistics.median(map(float, sys.argv[2].split()))
r = statistics.median(float(b) / float(a) for a, b in zip(sys.argv[1].split(), sys.argv[2].split()))
print("median: quiet %.3f it/s, flood %.3f it/s, ratio of the medians %.3f, median of the runs' ratios %.3f"
      % (q, f, f / q, r))
EOF
