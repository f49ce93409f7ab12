#!/usr/bin/env bash
# test_tokens.sh — access control with bearer tokens (--tokens-file): the
# job routes answer 401 without a listed token (WWW-Authenticate: Bearer)
# while the service routes stay open; a user's token sees and acts on only
# its own jobs (another's answers 404 exactly like a missing job, the list
# shows its own with their total), an admin's on all; the queue quota and
# the rate limit answer 429 with Retry-After; SIGHUP reloads the file (a
# token added, one removed; a bad file keeps the old tokens); a bad file at
# start stops nstd with its line; no token value ever reaches the log; and
# without a tokens file everything is open as before. The README's token
# example runs against it.
. "$(dirname "$0")/lib.sh"
make_images

TA=alice-token-0123456789abcdef
TB=bob-token-0123456789abcdefgh
TR=root-token-0123456789abcdefg
TS=slow-token-0123456789abcdefg
TC=carol-token-0123456789abcdef
cat >"$T/tokens.txt" <<EOF
# token                        name   role   quota  rate/min
$TA  alice  user   2      1000
$TB  bob    user   -      1000   # the default quota
$TR  root   admin  0      0
$TS  slow   user   -      5
EOF
start_nstd --workers 1 --tokens-file "$T/tokens.txt"

as() { echo "Authorization: Bearer $1"; }

# ---------------------------------------------------------------- 401
expect_error "$(req GET /v1/jobs)" 401 unauthorized "" "list without a token"
header WWW-Authenticate | grep -q '^Bearer' || fail "401 without WWW-Authenticate: Bearer"
expect_error "$(req GET /v1/jobs -H "$(as not-a-listed-token-0123456789)")" 401 unauthorized "" \
    "list with an unknown token"
header WWW-Authenticate | grep -q 'invalid_token' || fail "WWW-Authenticate lacks invalid_token"
expect_error "$(req GET /v1/jobs -H "$(as "${TA}x")")" 401 unauthorized "" "a token with a byte more"
expect_error "$(req GET /v1/jobs -H "$(as "${TA%?}")")" 401 unauthorized "" "a token with a byte less"
expect_error "$(req GET /v1/jobs -H "Authorization: Basic $TA")" 401 unauthorized "" \
    "another scheme"
expect_error "$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style.png")" \
    401 unauthorized "" "submit without a token"
expect_error "$(req GET "/v1/jobs/0123456789abcdef0123456789abcdef")" 401 unauthorized "" \
    "a job without a token"

# the service routes stay open
for path in / /v1/info /v1/openapi.json /healthz /readyz /metrics; do
    expect_eq "$(req GET "$path")" 200 "GET $path without a token"
done
req GET /v1/info >/dev/null
expect_eq "$(jf "$T/body" 'd["access"]')" bearer "info: access"
expect_eq "$(jf "$T/body" 'd["limits"]["token_queue_quota"]')" 4 "info: token_queue_quota"
expect_eq "$(jf "$T/body" 'd["limits"]["token_rate_limit"]')" 600 "info: token_rate_limit"
expect_eq "$(req OPTIONS /v1/jobs)" 204 "OPTIONS without a token"
ok "the service routes, OPTIONS and /v1/info need no token"

# ---------------------------------------------------------------- ownership
long='{"image_size":64,"iterations":2000,"preview_every":0}'
b1=$(submit '{"image_size":32,"iterations":2,"preview_every":1}' -H "$(as "$TB")")
expect_eq "$(jf "$T/body" 'd["owner"]')" bob "the job's owner"
wait_bob() {
    local deadline=$(( $(date +%s) + 120 * SLOW ))
    until [ "$(req GET "/v1/jobs/$b1" -H "$(as "$TB")")" = 200 ] &&
          [ "$(jf "$T/body" 'd["state"]')" = succeeded ]; do
        [ "$(date +%s)" -lt $deadline ] || fail "bob's job did not succeed: $(cat "$T/body")"
        sleep 0.2
    done
}
wait_bob
a1=$(submit "$long" -H "$(as "$TA")")

# another's job is not found, with the answer a missing job gets
missing=0123456789abcdef0123456789abcdef
req GET "/v1/jobs/$missing" -H "$(as "$TA")" >/dev/null
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["error"]["message"]=d["error"]["message"].replace(sys.argv[2],"ID"); print(json.dumps(d, sort_keys=True))' \
    "$T/body" "$missing" >"$T/missing.json"
for path in "" /result /preview /events; do
    expect_error "$(req GET "/v1/jobs/$b1$path" -H "$(as "$TA")")" 404 not_found id \
        "alice GET bob's job$path"
    "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["error"]["message"]=d["error"]["message"].replace(sys.argv[2],"ID"); print(json.dumps(d, sort_keys=True))' \
        "$T/body" "$b1" | cmp -s - "$T/missing.json" || fail "bob's job$path: not the body of a missing job: $(cat "$T/body")"
done
expect_error "$(req DELETE "/v1/jobs/$b1" -H "$(as "$TA")")" 404 not_found id "alice DELETE bob's job"
expect_eq "$(req GET "/v1/jobs/$b1" -H "$(as "$TB")")" 200 "bob still has his job"
expect_eq "$(jf "$T/body" 'd["state"] != "canceled"')" true "bob's job not canceled by alice"
ok "another user's job answers 404 exactly like a missing one"

expect_eq "$(req GET /v1/jobs -H "$(as "$TA")")" 200 "alice lists"
expect_eq "$(jf "$T/body" '[j["id"] for j in d["jobs"]]')" "[\"$a1\"]" "alice sees her job only"
expect_eq "$(jf "$T/body" 'd["total"]')" 1 "alice's total"
expect_eq "$(req GET /v1/jobs -H "$(as "$TB")")" 200 "bob lists"
expect_eq "$(jf "$T/body" '[j["id"] for j in d["jobs"]]')" "[\"$b1\"]" "bob sees his job only"
expect_eq "$(jf "$T/body" 'd["total"]')" 1 "bob's total"
ok "a user lists its own jobs, with their total"

expect_eq "$(req GET /v1/jobs -H "$(as "$TR")")" 200 "root lists"
expect_eq "$(jf "$T/body" 'd["total"]')" 2 "root sees every job"
expect_eq "$(jf "$T/body" 'sorted(j["owner"] for j in d["jobs"])')" '["alice", "bob"]' "owners"
expect_eq "$(OUT=$T/r.png req GET "/v1/jobs/$b1/result" -H "$(as "$TR")")" 200 "root fetches bob's result"
expect_eq "$(OUT=$T/r.png req GET "/v1/jobs/$b1/result" -H "$(as "$TB")")" 200 "bob fetches his result"
expect_eq "$(req DELETE "/v1/jobs/$b1" -H "$(as "$TR")")" 204 "root deletes bob's job"
ok "an admin sees and acts on every job"

# ---------------------------------------------------------------- quota
a2=$(submit "$long" -H "$(as "$TA")")
expect_error "$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style.png" \
    -F "params=$long" -H "$(as "$TA")")" 429 quota_exceeded "" "alice's third job (quota 2)"
header Retry-After | grep -Eq '^[0-9]+$' || fail "quota 429 without Retry-After"
expect_eq "$(req DELETE "/v1/jobs/$a2" -H "$(as "$TA")")" 200 "alice cancels her queued job"
a3=$(submit "$long" -H "$(as "$TA")")
ok "the queue quota: 429 quota_exceeded with Retry-After; a canceled job frees its place"
expect_eq "$(req DELETE "/v1/jobs/$a3" -H "$(as "$TA")")" 200 "cancel a3"
expect_eq "$(req DELETE "/v1/jobs/$a1" -H "$(as "$TA")")" 202 "cancel a1"

# ---------------------------------------------------------------- rate
for i in 1 2 3 4 5; do
    expect_eq "$(req GET /v1/jobs -H "$(as "$TS")")" 200 "slow's request $i"
done
expect_error "$(req GET /v1/jobs -H "$(as "$TS")")" 429 rate_limited "" "slow's 6th request in a minute"
retry=$(header Retry-After)
[[ $retry =~ ^[0-9]+$ ]] && [ "$retry" -ge 1 ] && [ "$retry" -le 12 ] ||
    fail "rate_limited Retry-After '$retry' (one request every 12 s)"
expect_eq "$(req GET /v1/jobs -H "$(as "$TA")")" 200 "another token is not limited"
ok "the rate limit: 429 rate_limited, Retry-After $retry"

# ---------------------------------------------------------------- README
"$PY" - "$SRC/README.md" >"$T/readme.sh" <<'PY'
import re, sys
blocks = re.findall(r"^```sh readme-tokens\n(.*?)^```", open(sys.argv[1]).read(), re.S | re.M)
assert blocks, "README has no readme-tokens block"
print("set -euo pipefail")
print("\n".join(blocks))
PY
(cd "$T" && NSTD=$BASE TOKEN=$TA bash "$T/readme.sh") >"$T/readme.out" 2>&1 ||
    fail "the README token example: $(cat "$T/readme.out")"
grep -q '"total"' "$T/readme.out" || fail "README token example: $(head -c 300 "$T/readme.out")"
ok "the README's token example"

# ---------------------------------------------------------------- SIGHUP
hup_wait() { # EVENT: send SIGHUP, wait for the EVENT's log line
    local before deadline
    before=$(grep -c "\"$1\"" "$NSTD_LOG" || true)
    kill -HUP "$NSTD_PID"
    deadline=$(( $(date +%s) + 10 * SLOW ))
    until [ "$(grep -c "\"$1\"" "$NSTD_LOG" || true)" -gt "$before" ]; do
        [ "$(date +%s)" -lt $deadline ] || fail "no $1 in the log after SIGHUP"
        sleep 0.1
    done
}
cat >"$T/tokens.txt" <<EOF
$TA  alice  user   2  1000
$TR  root   admin  0  0
$TC  carol  user
EOF
hup_wait tokens_reloaded
expect_error "$(req GET /v1/jobs -H "$(as "$TB")")" 401 unauthorized "" "bob after his token went"
expect_eq "$(req GET /v1/jobs -H "$(as "$TC")")" 200 "carol after her token came"
expect_eq "$(jf "$T/body" 'd["total"]')" 0 "carol has no jobs"
expect_eq "$(req GET /v1/jobs -H "$(as "$TA")")" 200 "alice stays"
ok "SIGHUP reloads the tokens: one added, one removed"

printf '%s alice user\n%s carol owner\n' "$TA" "$TC" >"$T/tokens.txt"
hup_wait tokens_reload_failed
grep '"tokens_reload_failed"' "$NSTD_LOG" | tail -n 1 | grep -q "tokens.txt line 2" ||
    fail "the reload error names no file and line: $(grep tokens_reload_failed "$NSTD_LOG" | tail -n 1)"
expect_eq "$(req GET /v1/jobs -H "$(as "$TC")")" 200 "carol still in after a bad reload"
expect_eq "$(req GET /v1/jobs -H "$(as "$TR")")" 200 "root still in after a bad reload"
ok "a bad file on SIGHUP is logged with its line; the tokens in force stay"

grep -q '"token":"alice"' "$NSTD_LOG" || fail "the access log does not name the token's name"
for tok in "$TA" "$TB" "$TR" "$TS" "$TC"; do
    ! grep -qF -- "$tok" "$NSTD_LOG" || fail "a token value is in the log"
done
ok "the log names tokens by name, never by value"
stop_nstd
expect_eq "$STOP_RC" 0 "clean stop"

# ---------------------------------------------------------------- a bad file at start
printf '# ok\n%s alice user\nshort bob user\n' "$TA" >"$T/bad.txt"
rc=0
"$NSTD_BIN" --bind 127.0.0.1 --port "$(free_port)" --data-dir "$DATA" --tokens-file "$T/bad.txt" \
    >"$T/bad.out" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit status with a bad tokens file"
grep -q "bad.txt line 3" "$T/bad.out" || fail "the start-up error names no line: $(cat "$T/bad.out")"
! grep -qF -- "$TA" "$T/bad.out" || fail "a token value in the start-up error"
rc=0
"$NSTD_BIN" --bind 127.0.0.1 --port "$(free_port)" --data-dir "$DATA" --tokens-file "$T/none.txt" \
    >"$T/bad.out" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit status with a missing tokens file"
grep -q "none.txt" "$T/bad.out" || fail "the start-up error names no file: $(cat "$T/bad.out")"
ok "a bad or missing tokens file stops nstd at start, naming the file and line"

# ---------------------------------------------------------------- open without a tokens file
start_nstd --workers 1
expect_eq "$(req GET /v1/jobs)" 200 "list without tokens"
expect_eq "$(jf "$T/body" 'd["total"]')" 3 "every job listed (alice's three)"
req GET /v1/info >/dev/null
expect_eq "$(jf "$T/body" 'd["access"]')" open "info: access open"
id=$(submit '{"image_size":32,"iterations":2}')
expect_eq "$(jf "$T/body" 'd["owner"]')" null "no owner without tokens"
expect_eq "$(req GET "/v1/jobs/$a1")" 200 "alice's job open to all"
st=$(req DELETE "/v1/jobs/$id" -H "$(as bogus-token-0123456789)")
case $st in 200|202|204) ;; *) fail "DELETE with a token header that nothing checks: $st" ;; esac
ok "without a tokens file everything is open as before"
stop_nstd
