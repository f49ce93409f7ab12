#!/usr/bin/env bash
# test_cluster_upload.sh — an API node killed (-9) in the middle of
# submits, on a real redis-server: 12 rounds, each killing node A at a
# different moment of a burst of POSTs (mid-upload, while it stores the
# inputs, after); node B then lists only whole jobs (every listed job has
# its record and inputs, and runs to success), and what a dead submit left
# behind (inputs without a record) expires on its own instead of staying.
# Loopback only; every loop is bounded.
. "$(dirname "$0")/lib.sh"
make_images
STORE=redis
start_redis
COMMON=(--redis-url "$REDIS_URL" --queue-size 1000 --lease-renew 1 --lease-timeout 3)
start_node b --role api "${COMMON[@]}"
start_node w --role worker --workers 1 --job-threads 1 "${COMMON[@]}"
$IMAGES noise 900 900 "$T/big.png" 3   # an upload that takes a moment
ROUNDS=12

for round in $(seq 1 $ROUNDS); do
    start_node a --role api "${COMMON[@]}"
    posts=
    for k in 1 2 3; do   # a burst of uploads, killed somewhere in it
        curl -s -o /dev/null --max-time 10 -F "content=@$T/big.png" -F "style=@$T/style.png" \
            -F 'params={"image_size":32,"iterations":2}' "$NODE_BASE_a/v1/jobs" &
        posts="$posts $!"
    done
    sleep "0.$(printf %02d $((round * 23 % 100)))"
    kill_node a
    for p in $posts; do wait "$p" || true; done
done
ok "$ROUNDS rounds of an API node killed during submits"

# every job B lists is whole, and runs to success
expect_eq "$(BASE=$NODE_BASE_b req GET '/v1/jobs?limit=100')" 200 "list through B"
ids=$(jf "$T/body" '" ".join(j["id"] for j in d["jobs"])')
for id in $ids; do
    [ -n "$(stored_field "$id" state)" ] || fail "listed job $id has no record"
    stored_blob "$id" content || fail "listed job $id has no content"
    stored_blob "$id" style-0 || fail "listed job $id has no style"
done
for id in $ids; do BASE=$NODE_BASE_b wait_state "$id" succeeded 120; done
ok "B lists $(echo $ids | wc -w) jobs, each whole and each succeeded"

# inputs without a record (a submit that died) are not listed and expire
orphans=0
for key in $(rcli --scan --pattern 'nstd:blob:*:content'); do
    id=${key#nstd:blob:}
    id=${id%:content}
    [ -z "$(rcli EXISTS "nstd:job:$id" | grep -x 1)" ] || continue
    case " $ids " in *" $id "*) fail "job $id without a record is listed" ;; esac
    ttl=$(rcli TTL "$key")
    [ "$ttl" -gt 0 ] || fail "the inputs of dead submit $id never expire (TTL $ttl)"
    orphans=$((orphans + 1))
done
ok "$orphans dead submits left inputs that expire on their own"
