#!/usr/bin/env bash
# test_proxy_clients.sh — many users behind the shipped nginx configuration
# (docker/nginx.conf): every request reaches nstd from the proxy's address,
# so nstd must count connections per real client, which the proxy forwards
# in X-Forwarded-For (nstd runs with --trusted-proxies 127.0.0.1, the
# proxy's address here). proxy_clients.py holds 100 event streams open from
# 100 forwarded clients — more than max_connections_per_ip (32), which
# libmicrohttpd's per-IP limit would have counted all together, failing
# every request through nginx with 502 — while /healthz and a job still
# answer; one client beyond the limit gets 429 too_many_connections while
# others are served. The access log names the real client. Loopback only;
# every loop is bounded. (nginx notices that a client has gone when it next
# writes to it, a keep-alive comment every half connection timeout: the
# short timeout gives the closed streams' slots back within seconds.)
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --workers 1 --job-threads 1 --base-path /nst --trusted-proxies 127.0.0.1 \
    --max-iterations 1000000 --connection-timeout 4
start_proxy
pport=${PROXY#http://127.0.0.1:}
pport=${pport%%/*}
BASE=$PROXY

expect_eq "$(jf <(curl -s "$PROXY/v1/info") 'd["limits"]["max_connections_per_ip"]')" 32 \
    "/v1/info publishes max_connections_per_ip"

# one job runs (long), the other waits behind it: its stream stays open
running=$(submit '{"image_size":32,"iterations":1000000,"preview_every":0}')
queued=$(submit '{"image_size":32,"iterations":2}')
expect_eq "$(job_field "$queued" 'd["state"]')" queued "the second job waits"

"$PY" "$SRC/tests/integration/proxy_clients.py" "$pport" /nst "$queued" "$running" 32 100 ||
    fail "many clients through the proxy"

# the access log has the real client and the proxy (a stream's line is
# written when nstd sees it closed, which may be a moment after the client)
deadline=$(( $(date +%s) + 30 * SLOW ))
until grep '"route":"/v1/jobs/{id}/events"' "$NSTD_LOG" |
        grep -q '"client":"203.0.113.57","proxy":"127.0.0.1"'; do
    [ "$(date +%s)" -lt $deadline ] || fail "no access log line with the forwarded client 203.0.113.57"
    sleep 0.2
done
ok "the access log names the forwarded client and the proxy"

# The access log line of the request with X-Request-Id $1 (written once
# the answer is sent, so possibly a moment after the client has it).
log_line() {
    local deadline=$(( $(date +%s) + 10 * SLOW ))
    until grep -q "\"request_id\":\"$1\"" "$NSTD_LOG"; do
        [ "$(date +%s)" -lt $deadline ] || fail "no access log line for request $1"
        sleep 0.1
    done
    grep "\"request_id\":\"$1\"" "$NSTD_LOG"
}

# a client talking to nstd directly cannot claim another address
curl -s -o /dev/null -H 'X-Forwarded-For: 192.0.2.99' -H 'X-Request-Id: trusted-xff' \
    "http://127.0.0.1:$PORT/healthz"
log_line trusted-xff | grep -q '"client":"192.0.2.99","proxy":"127.0.0.1"' ||
    fail "a trusted peer's X-Forwarded-For is not used"
ok "X-Forwarded-For is used from the trusted peer"

req DELETE "/v1/jobs/$running" >/dev/null
req DELETE "/v1/jobs/$queued" >/dev/null

# ---------------------------------------------------------------- direct peers
# With trusted proxies the daemon's per-IP socket limit is nstd's own: a
# peer that is not a trusted proxy still holds at most
# max_connections_per_ip sockets, a trusted one more (it carries many
# clients). 127.0.0.2 is the trusted proxy here, 127.0.0.1 a direct client
# whose X-Forwarded-For is not believed.
stop_nstd
start_nstd --workers 1 --trusted-proxies 127.0.0.2 --max-connections-per-ip 4
curl -s -o /dev/null -H 'X-Forwarded-For: 192.0.2.55' -H 'X-Request-Id: untrusted-xff' "$BASE/healthz"
log_line untrusted-xff | grep -q '"client":"127.0.0.1","bytes"' ||
    fail "a direct client's X-Forwarded-For was believed: $(log_line untrusted-xff)"
ok "an untrusted peer's X-Forwarded-For is ignored"
"$PY" - "$PORT" <<'PY' || fail "sockets per peer"
import socket, sys
port = int(sys.argv[1])
def conn(src):
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s
def answers(s):
    """GET /healthz on s; the status, or None when the server closed it."""
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = s.recv(4096)
    except OSError:
        return None
    return int(data.split()[1]) if data else None
held = [conn("127.0.0.1") for _ in range(4)]
assert all(answers(s) == 200 for s in held), "4 sockets of a direct client"
extra = conn("127.0.0.1")
st = answers(extra)
assert st is None, "a 5th socket of a direct client was served (%r)" % st
print("ok - a direct client holds at most max_connections_per_ip (4) sockets")
proxy = [conn("127.0.0.2") for _ in range(12)]
sts = [answers(s) for s in proxy]
assert sts == [200] * 12, "12 sockets of the trusted proxy: %r" % sts
print("ok - the trusted proxy may hold more (12)")
for s in held + proxy + [extra]:
    s.close()
PY
