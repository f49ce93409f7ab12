#!/usr/bin/env bash
# test_rate_limit.sh — requests per second per client (--rate-limit,
# --rate-burst): a client over its burst gets 429 rate_limited with
# Retry-After and the JSON error body, on every route but /healthz, /readyz
# and /metrics, before any of the route's work (an upload is not parsed, a
# job id is not looked up); other clients — forwarded by a trusted proxy, or
# another loopback address — are served meanwhile; after Retry-After the
# client is served again; /v1/info publishes the settings; --rate-limit 0
# turns the limit off; a bad value is refused at start. No timing of jobs is
# asserted: the rate (1 request/s) is far below what one curl makes.
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --rate-limit 1 --rate-burst 5 --trusted-proxies 127.0.0.1

A=(-H "X-Forwarded-For: 203.0.113.1")   # the client that floods
B=(-H "X-Forwarded-For: 203.0.113.2")   # another client behind the same proxy

# Many requests of client A in one curl, at once; their statuses, one a line.
burst() { # N PATH
    local urls=() i
    for i in $(seq "$1"); do urls+=(-o /dev/null "$BASE$2"); done
    curl -s "${A[@]}" -w '%{http_code}\n' "${urls[@]}" || true
}

# Like req, for client A right after it spent its tokens, in the same curl
# (on one connection, milliseconds apart). A token may still come back
# between the two on a slow machine: then the request is tried again (at
# most 3 times), so it must not be one that changes anything when served.
limited() { # METHOD PATH [curl args…]; prints the status of the last request
    local m=$1 p=$2 drain=() i st
    shift 2
    for i in $(seq 10); do drain+=(-o /dev/null "$BASE/v1/info"); done
    for i in 1 2 3; do
        st=$(curl -s "${A[@]}" -w '%{http_code}\n' "${drain[@]}" --next -s "${A[@]}" \
             -o "$T/body" -D "$T/headers" -w '%{http_code}\n' -X "$m" "$@" "$BASE$p" |
             tail -n 1) || true
        [ "$st" = 429 ] && break
    done
    echo "$st"
}

st=$(req GET /v1/info "${B[@]}")
expect_eq "$st" 200 "GET /v1/info"
expect_eq "$(jf "$T/body" 'd["limits"]["rate_limit"]')" 1 "/v1/info publishes rate_limit"
expect_eq "$(jf "$T/body" 'd["limits"]["rate_burst"]')" 5 "/v1/info publishes rate_burst"
jf "$T/body" 'd["limits"]["rate_limit_clients"]' | grep -qE '^[0-9]+$' ||
    fail "/v1/info publishes rate_limit_clients"

# A burst of 20: the first 5 are served, the rest refused
codes=$(burst 20 /v1/info)
expect_eq "$(echo "$codes" | head -n 5 | sort -u)" 200 "the burst's first 5 requests"
[ "$(echo "$codes" | grep -c 429)" -ge 10 ] || fail "a burst of 20 at rate 1, burst 5: $(echo $codes)"
ok "a burst of 20 requests: 5 served, then 429"

st=$(limited GET /v1/info)
expect_error "$st" 429 rate_limited "" "over the rate"
ra=$(header Retry-After)
[[ "$ra" =~ ^[0-9]+$ ]] && [ "$ra" -ge 1 ] || fail "Retry-After '$ra' is not a whole number of seconds >= 1"
ok "Retry-After: $ra"
grep -qi '^content-type: application/json' "$T/headers" || fail "429 is not JSON"

# another client is served meanwhile: forwarded by the proxy, or direct
st=$(req GET /v1/info "${B[@]}")
expect_eq "$st" 200 "another forwarded client meanwhile"
if curl -s --interface 127.0.0.2 -o /dev/null "$BASE/healthz"; then
    st=$(req GET /v1/info --interface 127.0.0.2)
    expect_eq "$st" 200 "a client at another loopback address meanwhile"
fi

# the exempt paths are never limited, however many
for p in /healthz /readyz /metrics; do
    codes=$(burst 30 "$p")
    expect_eq "$(echo "$codes" | sort -u)" 200 "30 × GET $p while over the rate"
done

# refused before the route's work: an upload is not parsed (429, not 400
# for its broken image), a job id is not looked up (429, not 404); unknown
# paths, HEAD and OPTIONS count too
printf 'not an image' >"$T/broken.png"
st=$(limited POST /v1/jobs -F "content=@$T/broken.png" -F "style=@$T/style.png")
expect_error "$st" 429 rate_limited "" "POST /v1/jobs over the rate"
for args in "GET /v1/jobs/0123456789abcdef0123456789abcdef" "GET /no/such/path" "OPTIONS /v1/jobs"; do
    st=$(limited $args)
    expect_error "$st" 429 rate_limited "" "$args over the rate"
done
st=$(limited HEAD /v1/info -I)
expect_eq "$st" 429 "HEAD /v1/info over the rate"

# after Retry-After, served again
st=$(limited GET /v1/info)
expect_eq "$st" 429 "over the rate"
sleep "$(header Retry-After)"
st=$(req GET /v1/info "${A[@]}")
expect_eq "$st" 200 "served again after Retry-After"

# the access log has the first refusal of a run, and the next request
# served says how many there were; the metrics count every refusal
grep -q '"status":429,.*"client":"203.0.113.1"' "$NSTD_LOG" || fail "no 429 in the access log"
grep -q '"client":"203.0.113.1".*"rate_limited":[0-9]' "$NSTD_LOG" ||
    fail "no access log line counting the refusals before it"
n429=$(grep -c '"status":429' "$NSTD_LOG")
[ "$n429" -lt 20 ] || fail "$n429 lines for 429s in the access log: one per run of refusals expected"
ok "the access log: $n429 lines for the refusals"
# the refusals are counted in the metrics, by route and status
curl -s -o "$T/metrics" "$BASE/metrics"
grep -q 'status="429"' "$T/metrics" || fail "no 429 in /metrics"
ok "/metrics counts the 429s"

# 0: no limit
stop_nstd
start_nstd --rate-limit 0
codes=$(burst 60 /v1/info)
expect_eq "$(echo "$codes" | sort -u)" 200 "--rate-limit 0: 60 requests at once"

# a bad value stops the start with a message naming the setting
for bad in "--rate-limit -1" "--rate-burst 0" "--rate-limit-clients 0" "--rate-limit lots"; do
    rc=0
    "$NSTD_BIN" --bind 127.0.0.1 --port "$(free_port)" --data-dir "$DATA" $bad >"$T/bad.log" 2>&1 || rc=$?
    [ "$rc" != 0 ] || fail "nstd $bad started"
    grep -q -- "${bad%% *}" "$T/bad.log" || fail "nstd $bad: the message does not name ${bad%% *}: $(cat "$T/bad.log")"
    ok "nstd $bad is refused ($(head -c 120 "$T/bad.log"))"
done
