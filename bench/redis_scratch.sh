# bench/redis_scratch.sh — what the benchmarks on Redis share (sourced, not
# run): a temporary directory, processes killed at exit, free loopback
# ports, waiting for a URL, and a scratch redis-server (Debian package
# redis-server; AOF on, as deployed) whose URL is left in $redis_url.
# The sourcing script sets $bench (its name, for messages) and $nstd first.
command -v redis-server >/dev/null || { echo "$bench: needs redis-server (apt-get install redis-server)" >&2; exit 2; }
[ -x "$nstd" ] || { echo "$bench: $nstd is not an executable" >&2; exit 2; }
tmp=$(mktemp -d)
pids=
cleanup() {
    local p
    for p in $pids; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # URL
    local i
    for i in $(seq 300); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "$bench: $1 did not answer" >&2; exit 1
}

rport=$(free_port)
mkdir -p "$tmp/redis"
redis-server --bind 127.0.0.1 --port "$rport" --dir "$tmp/redis" --appendonly yes --save '' \
    --logfile "$tmp/redis/log" &
pids="$pids $!"
for _ in $(seq 100); do [ "$(redis-cli -p "$rport" PING 2>/dev/null)" = PONG ] && break; sleep 0.1; done
redis_url=redis://127.0.0.1:$rport
