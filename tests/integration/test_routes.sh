#!/usr/bin/env bash
# test_routes.sh — the route table against the running server: every
# operation of /v1/openapi.json (built from api/routes.c) is requested —
# GET and HEAD, OPTIONS, POST and DELETE — on a real job, and each answer's
# status and Content-Type must be among those the document lists, HEAD
# answers without a body (routes.py walk). HEAD on the event stream answers
# the headers only and leaves the kept-alive connection clean for the next
# request (routes.py head-stream).
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --workers 1

"$PY" "$SRC/tests/integration/routes.py" walk "$PORT" "$T/content.png" "$T/style.png" ||
    fail "the route walk"

id=$(submit '{"image_size":32,"iterations":2}')
wait_state "$id" succeeded 120
"$PY" "$SRC/tests/integration/routes.py" head-stream "$PORT" "$id" || fail "HEAD on the event stream"
# and on a job that is still running, whose stream would not end by itself
id=$(submit '{"image_size":32,"iterations":500}')
"$PY" "$SRC/tests/integration/routes.py" head-stream "$PORT" "$id" || fail "HEAD on a live event stream"
req DELETE "/v1/jobs/$id" >/dev/null
