#!/usr/bin/env bash
# test_sync_idempotent.sh — POST /v1/jobs with `Prefer: wait=N` and with an
# `Idempotency-Key`. Prefer: a tiny job answers 200 with the finished job
# (its result downloadable); a long one 202 once the wait is over, also
# past the connection timeout; a wait is cut to --max-wait (published in
# /v1/info), is ended by the job's cancel and by SIGTERM, does no harm when
# its client leaves, and is ignored with --max-wait 0. Idempotency-Key: a retry with the same key and inputs
# answers the same job (Idempotent-Replayed) and creates none; the same key
# with other params is 422 idempotency_key_reused; a malformed key is 400
# invalid_idempotency_key; 10 retries racing each other create one job;
# with tokens, keys are per owner. Then on a shared Redis store (a real
# redis-server, two nstd processes): racing retries sent to both processes
# create one job, and either answers the replay and the refusal. Timings
# of the jobs themselves are never asserted: "long" jobs are canceled, and
# tiny jobs are waited for up to $HOLD s (a loaded machine may be slow).
. "$(dirname "$0")/lib.sh"
make_images

TINY='{"image_size":32,"iterations":5}'
# LONG runs a minute or more, in short iterations, at whose end a cancel
# or SIGTERM takes effect
LONG='{"image_size":128,"iterations":2000}'
HOLD=$((300 * SLOW))   # Prefer: wait for a tiny job (--max-wait $MAXW)
MAXW=$((HOLD + 60))
F=(-F "content=@$T/content.png" -F "style=@$T/style.png")

now() { date +%s.%N; }
secs_since() { "$PY" -c "print(round($(now) - $1, 2))"; }
# post PARAMS [curl args…]: POST a job (status printed, body in $T/body)
post() {
    local params=$1
    shift
    req POST /v1/jobs "${F[@]}" -F "params=$params" "$@"
}
total() { req GET /v1/jobs "$@" >/dev/null; jf "$T/body" 'd["total"]'; }
cancel() { req DELETE "/v1/jobs/$1" >/dev/null; }

# ================================================================ Prefer: wait
start_nstd --workers 1 --connection-timeout 2 --max-wait "$MAXW"
st=$(req GET /v1/info)
expect_eq "$(jf "$T/body" 'd["limits"]["max_wait_s"]')" "$MAXW" "/v1/info max_wait_s"

st=$(post "$TINY" -H "Prefer: wait=$HOLD")
expect_eq "$st" 200 "Prefer: wait=$HOLD, tiny job: status"
expect_eq "$(jf "$T/body" 'd["state"]')" succeeded "Prefer: wait=$HOLD: state"
expect_eq "$(header Preference-Applied)" "wait=$HOLD" "Preference-Applied"
id=$(jf "$T/body" 'd["id"]')
header Location | grep -q "/v1/jobs/$id\$" || fail "200 without the job's Location"
st=$(OUT=$T/result.png req GET "/v1/jobs/$id/result")
expect_eq "$st" 200 "the waited-for job's result"
ok "Prefer: wait=$HOLD → 200 succeeded, result downloadable"

# other preferences around it, and a wait that is not a number
st=$(post "$TINY" -H "Prefer: respond-async, wait=$HOLD; foo=bar, handling=lenient")
expect_eq "$st" 200 "wait among other preferences"
cancel_me=$(post "$LONG" -H 'Prefer: wait=soon')
expect_eq "$cancel_me" 202 "Prefer: wait=soon (not a number) is ignored"
[ -z "$(header Preference-Applied)" ] || fail "Preference-Applied for an ignored wait"
cancel "$(jf "$T/body" 'd["id"]')"
ok "unknown preferences and a bad wait value are ignored"

t0=$(now)
st=$(post "$LONG" -H 'Prefer: wait=1')
took=$(secs_since "$t0")
expect_eq "$st" 202 "Prefer: wait=1, long job: status"
expect_eq "$(header Preference-Applied)" "wait=1" "Preference-Applied wait=1"
long=$(jf "$T/body" 'd["id"]')
"$PY" -c "import sys; sys.exit(0 if 1 <= $took < 10 else 1)" || fail "wait=1 answered after $took s"
ok "Prefer: wait=1, long job → 202 after $took s"

# longer than the connection timeout (2 s): still answered
st=$(post "$LONG" -H 'Prefer: wait=4')
expect_eq "$st" 202 "a wait beyond the connection timeout"
cancel "$(jf "$T/body" 'd["id"]')"
ok "a wait longer than the connection timeout is answered"

# a held request ends with its job: canceled from another request
(sleep 1; curl -s -o /dev/null -X DELETE "$BASE/v1/jobs/$long") &
canceler=$!
t0=$(now)
st=$(post "$TINY" -H "Prefer: wait=$HOLD")   # queued behind the long job
took=$(secs_since "$t0")
wait "$canceler" || true
held=$(jf "$T/body" 'd["id"]')
expect_eq "$st" 200 "held behind a canceled job: it ran, status"
expect_eq "$(jf "$T/body" 'd["state"]')" succeeded "the held job"
ok "a held submit answers when its job ends ($took s)"

# a held request ends when its own job is canceled (found by replaying its key)
n0=$(total)
curl -s -o "$T/held.json" -w '%{http_code}' --max-time $((120 * SLOW)) -H "Prefer: wait=$HOLD" \
    -H 'Idempotency-Key: cancel-me' "${F[@]}" -F "params=$LONG" "$BASE/v1/jobs" >"$T/held.status" &
holder=$!
for _ in $(seq 1 $((300 * SLOW))); do   # its job is made
    [ "$(total)" -gt "$n0" ] && break
    sleep 0.1
done
st=$(post "$LONG" -H 'Idempotency-Key: cancel-me')
expect_eq "$st" 202 "a replay while the first request is held: status"
expect_eq "$(header Idempotent-Replayed)" true "a replay while the first request is held"
cancel "$(jf "$T/body" 'd["id"]')"
wait "$holder" || true
expect_eq "$(cat "$T/held.status")" 200 "a held submit whose job was canceled"
expect_eq "$(jf "$T/held.json" 'd["state"]')" canceled "its state"
ok "a held submit answers 200 canceled when its job is canceled"

# a client that gives up on a held request: the server goes on
curl -s -o /dev/null --max-time 1 -H "Prefer: wait=$HOLD" "${F[@]}" -F "params=$LONG" \
    "$BASE/v1/jobs" || true
sleep 2   # the pump wakes held requests meanwhile
expect_eq "$(req GET '/v1/jobs?limit=1')" 200 "the list after a client left a held request"
cancel "$(jf "$T/body" 'd["jobs"][0]["id"]')"
st=$(post "$TINY" -H 'Prefer: wait=1')   # 200 when the tiny job ends within the second
case $st in 200|202) ;; *) fail "a held submit after a client left one: $st $(head -c 300 "$T/body")" ;; esac
cancel "$(jf "$T/body" 'd["id"]')"
ok "a client leaving a held request does no harm"

# shutdown answers a held request at once (the running job then stops
# within one iteration, whose length is not asserted)
id=$(submit "$LONG")
(curl -s -o "$T/held.json" -w '%{http_code}' --max-time $((120 * SLOW)) -H "Prefer: wait=$HOLD" \
    "${F[@]}" -F "params=$LONG" "$BASE/v1/jobs" >"$T/held.status"; now >"$T/held.end") &
holder=$!
for _ in $(seq 1 $((100 * SLOW))); do   # the held request's job is made
    [ "$(total)" -gt 0 ] && [ "$(jf "$T/body" 'd["jobs"][0]["id"]')" != "$id" ] && break
    sleep 0.1
done
t_kill=$(now)
stop_nstd
wait "$holder" || true
expect_eq "$(cat "$T/held.status")" 202 "a held submit on SIGTERM"
expect_eq "$STOP_RC" 0 "exit status after SIGTERM with a held submit"
took=$("$PY" -c "print(round($(cat "$T/held.end") - $t_kill, 2))")
"$PY" -c "import sys; sys.exit(0 if $took < 10 * $SLOW else 1)" || fail "SIGTERM answered the held submit after $took s"
ok "SIGTERM answers a held submit 202 after $took s; exit 0"

# ================================================================ Idempotency-Key
DATA=$T/data-keys
start_nstd --workers 1 --max-wait 2
st=$(req GET /v1/info)
expect_eq "$(jf "$T/body" 'd["limits"]["max_wait_s"]')" 2 "/v1/info max_wait_s 2"
t0=$(now)
st=$(post "$LONG" -H 'Prefer: wait=100000')
took=$(secs_since "$t0")
expect_eq "$st" 202 "a wait over max_wait"
expect_eq "$(header Preference-Applied)" "wait=2" "the wait cut to max_wait"
"$PY" -c "import sys; sys.exit(0 if $took < 10 else 1)" || fail "wait cut to 2 s took $took s"
long=$(jf "$T/body" 'd["id"]')
ok "Prefer: wait=100000 is cut to max_wait 2 ($took s)"

# malformed keys
expect_error "$(post "$TINY" -H 'Idempotency-Key;')" 400 invalid_idempotency_key "" "an empty key"
expect_error "$(post "$TINY" -H "Idempotency-Key: $(printf 'k%.0s' {1..256})")" 400 \
    invalid_idempotency_key "" "a key of 256 characters"
expect_error "$(post "$TINY" -H "Idempotency-Key: caf$(printf '\xc3\xa9')")" 400 \
    invalid_idempotency_key "" "a key that is not ASCII"
expect_eq "$(total)" 1 "no job from malformed keys"
st=$(post "$TINY" -H "Idempotency-Key: $(printf 'k%.0s' {1..255})")
expect_eq "$st" 202 "a key of 255 characters"
cancel "$(jf "$T/body" 'd["id"]')"

# the same key twice: one job
st=$(post "$TINY" -H 'Idempotency-Key: order-1')
expect_eq "$st" 202 "first submit with a key"
first=$(jf "$T/body" 'd["id"]')
[ -z "$(header Idempotent-Replayed)" ] || fail "a first submit marked as a replay"
n=$(total)
st=$(post "$TINY" -H 'Idempotency-Key: order-1')
case $st in 200|202) ;; *) fail "retry with the same key: status $st: $(cat "$T/body")" ;; esac
expect_eq "$(jf "$T/body" 'd["id"]')" "$first" "the retry's job"
expect_eq "$(header Idempotent-Replayed)" true "Idempotent-Replayed"
header Location | grep -q "/v1/jobs/$first\$" || fail "the replay's Location"
expect_eq "$(total)" "$n" "jobs after the retry"
ok "the same key and inputs again → the same job ($st), no second one"

# the same key, other params
st=$(post '{"image_size":32,"iterations":6}' -H 'Idempotency-Key: order-1')
expect_error "$st" 422 idempotency_key_reused "" "the same key with other params"
jf "$T/body" 'd["error"]["message"]' | grep -q "order-1" || fail "422 does not name the key"
jf "$T/body" 'd["error"]["message"]' | grep -q "$first" || fail "422 does not name the job"
st=$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style2.png" -F "params=$TINY" \
     -H 'Idempotency-Key: order-1')
expect_error "$st" 422 idempotency_key_reused "" "the same key with another style"
expect_eq "$(total)" "$n" "jobs after the refusals"

# 10 retries racing each other
cancel "$long"
pids=
for i in $(seq 1 10); do
    curl -s -o "$T/race$i.json" -w '%{http_code}' --max-time $((120 * SLOW)) -H 'Idempotency-Key: race-1' \
        "${F[@]}" -F "params=$TINY" "$BASE/v1/jobs" >"$T/race$i.status" &
    pids="$pids $!"
done
for p in $pids; do wait "$p" || true; done
ids=$(for i in $(seq 1 10); do
    case $(cat "$T/race$i.status") in 200|202) ;; *) fail "racing retry $i: $(cat "$T/race$i.status")" ;; esac
    jf "$T/race$i.json" 'd["id"]'
done | sort -u)
expect_eq "$(echo "$ids" | wc -l)" 1 "distinct jobs of 10 racing retries"
expect_eq "$(total)" $((n + 1)) "jobs after 10 racing retries"
ok "10 racing retries with one key → one job"

# a key lives as long as its job: deleted, the key is free again
wait_state "$first" succeeded 120
expect_eq "$(req DELETE "/v1/jobs/$first")" 204 "delete the key's job"
st=$(post '{"image_size":32,"iterations":6}' -H 'Idempotency-Key: order-1')
expect_eq "$st" 202 "the key again after its job was deleted"
ok "a deleted job's key creates a new job"
stop_nstd

# with tokens: keys are per owner
TA=alice-token-0123456789abcdef
TB=bob-token-0123456789abcdefgh
printf '%s alice user 0 0\n%s bob user 0 0\n' "$TA" "$TB" >"$T/tokens.txt"
DATA=$T/data-tokens
start_nstd --workers 1 --tokens-file "$T/tokens.txt" --max-wait 0
t0=$(now)
st=$(post "$LONG" -H 'Prefer: wait=30' -H "Authorization: Bearer $TA")
took=$(secs_since "$t0")
expect_eq "$st" 202 "Prefer: wait with --max-wait 0"
[ -z "$(header Preference-Applied)" ] || fail "Preference-Applied with --max-wait 0"
"$PY" -c "import sys; sys.exit(0 if $took < 10 else 1)" || fail "--max-wait 0 held the submit $took s"
req DELETE "/v1/jobs/$(jf "$T/body" 'd["id"]')" -H "Authorization: Bearer $TA" >/dev/null
ok "--max-wait 0: Prefer: wait is ignored"
st=$(post "$TINY" -H 'Idempotency-Key: shared-key' -H "Authorization: Bearer $TA")
expect_eq "$st" 202 "alice's key"
a=$(jf "$T/body" 'd["id"]')
st=$(post "$TINY" -H 'Idempotency-Key: shared-key' -H "Authorization: Bearer $TB")
expect_eq "$st" 202 "bob's same key"
b=$(jf "$T/body" 'd["id"]')
[ "$a" != "$b" ] || fail "alice and bob share a job through one key"
post "$TINY" -H 'Idempotency-Key: shared-key' -H "Authorization: Bearer $TB" >/dev/null
expect_eq "$(jf "$T/body" 'd["id"]')" "$b" "bob's retry"
ok "the same key from two tokens → two jobs; each retry its own"
stop_nstd

# ================================================================ a shared Redis store
REDIS=$(command -v redis-server || echo /usr/bin/redis-server)
[ -x "$REDIS" ] || fail "redis-server is not installed (scripts/test installs it)"
rport=$(free_port)
mkdir -p "$T/redis"
setsid "$REDIS" --bind 127.0.0.1 --port "$rport" --dir "$T/redis" --save '' --appendonly no \
    >"$T/redis/log" 2>&1 &
keep_pid $!
for _ in $(seq 1 100); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $rport), 0.2)" 2>/dev/null && break
    sleep 0.1
done
URL=redis://127.0.0.1:$rport
DATA=$T/data-redis
start_nstd --workers 1 --redis-url "$URL" --max-wait "$MAXW"
BASE1=$BASE
p2=$(free_port)
setsid "$NSTD_BIN" --bind 127.0.0.1 --port "$p2" --data-dir "$T/data2" --role api --redis-url "$URL" --max-wait "$MAXW" \
    >>"$T/nstd2.log" 2>&1 &
keep_pid $!
BASE2=http://127.0.0.1:$p2
for _ in $(seq 1 300); do curl -fs -o /dev/null "$BASE2/healthz" && break; sleep 0.1; done
curl -fs -o /dev/null "$BASE2/healthz" || fail "the second nstd did not start: $(tail -5 "$T/nstd2.log")"

pids=
for i in $(seq 1 10); do
    b=$BASE1
    [ $((i % 2)) = 0 ] && b=$BASE2
    curl -s -o "$T/rr$i.json" -w '%{http_code}' --max-time $((120 * SLOW)) -H 'Idempotency-Key: cluster-1' \
        "${F[@]}" -F "params=$TINY" "$b/v1/jobs" >"$T/rr$i.status" &
    pids="$pids $!"
done
for p in $pids; do wait "$p" || true; done
ids=$(for i in $(seq 1 10); do
    case $(cat "$T/rr$i.status") in 200|202) ;; *) fail "racing retry $i (Redis): $(cat "$T/rr$i.status") $(cat "$T/rr$i.json")" ;; esac
    jf "$T/rr$i.json" 'd["id"]'
done | sort -u)
expect_eq "$(echo "$ids" | wc -l)" 1 "distinct jobs of 10 racing retries on two processes"
expect_eq "$(total)" 1 "jobs on the shared store"
BASE=$BASE2
expect_eq "$(total)" 1 "jobs on the shared store, from the other process"
st=$(post '{"image_size":32,"iterations":6}' -H 'Idempotency-Key: cluster-1')
expect_error "$st" 422 idempotency_key_reused "" "the other process: same key, other params"
st=$(post "$TINY" -H 'Idempotency-Key: cluster-1' -H "Prefer: wait=$HOLD")
expect_eq "$st" 200 "the other process: a replay waited for"
expect_eq "$(jf "$T/body" 'd["id"]')" "$ids" "the replay's job (Redis)"
expect_eq "$(header Idempotent-Replayed)" true "Idempotent-Replayed (Redis)"
ok "Redis store: 10 retries racing on two processes → one job; replay and 422 from either"
