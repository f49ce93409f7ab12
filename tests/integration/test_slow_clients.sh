#!/usr/bin/env bash
# test_slow_clients.sh — slow and excess connections do not take the
# service down (slow_clients.py): connections that send their headers
# slowly are closed after --header-timeout while other clients are still
# answered, a body slower than --min-upload-rate is closed, a connection
# over --max-connections gets 503 with Retry-After and a JSON error; and
# afterwards no connection of nstd is left in CLOSE-WAIT.
. "$(dirname "$0")/lib.sh"
HEADER_TIMEOUT=3
MAX_CONNECTIONS=200
start_nstd --header-timeout "$HEADER_TIMEOUT" --max-connections "$MAX_CONNECTIONS" \
    --max-connections-per-ip 0 --http-threads 2

st=$(req GET /v1/info)
expect_eq "$st" 200 "GET /v1/info"
expect_eq "$(jf "$T/body" 'd["limits"]["header_timeout_s"]')" "$HEADER_TIMEOUT" "published header_timeout_s"
expect_eq "$(jf "$T/body" 'd["limits"]["max_connections"]')" "$MAX_CONNECTIONS" "published max_connections"

timeout $((120 * SLOW)) "$PY" "$SRC/tests/integration/slow_clients.py" "$PORT" "$HEADER_TIMEOUT" \
    "$MAX_CONNECTIONS" || fail "slow clients"

# Sockets on nstd's port in CLOSE-WAIT (state 08 in /proc/net/tcp*): the
# peer has closed, nstd has not. A few may be between the two for a moment.
close_wait() {
    local hex
    hex=$(printf '%04X' "$PORT")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk -v p=":$hex" '$2 ~ p"$" && $4 == "08"' | wc -l
}
deadline=$(( $(date +%s) + 10 * SLOW ))
while n=$(close_wait); [ "$n" -gt 2 ]; do
    [ "$(date +%s)" -lt $deadline ] || fail "$n connections of nstd left in CLOSE-WAIT"
    sleep 0.5
done
ok "no CLOSE-WAIT pile-up ($n)"
expect_eq "$(req GET /healthz)" 200 "GET /healthz at the end"
grep -q '"slow_or_excess_connections"' "$NSTD_LOG" || fail "no log line about the closed connections"
ok "slow and excess connections logged"
