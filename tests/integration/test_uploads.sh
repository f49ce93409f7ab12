#!/usr/bin/env bash
# test_uploads.sh — a refused upload is answered, not reset (uploads.py):
# clients that send the whole body before reading (Python's http.client,
# browsers) get the 413 and its JSON body for a body over
# --max-upload-bytes, with a Content-Length or chunked, and the 415 for a
# large body of the wrong type; conflicting Content-Length headers get one
# 400. A client that waits for "100 Continue" (curl) gets the 413 at once.
. "$(dirname "$0")/lib.sh"
start_nstd --max-upload-bytes 256K

timeout $((120 * SLOW)) "$PY" "$SRC/tests/integration/uploads.py" "$PORT" $((256 * 1024)) ||
    fail "uploads"

head -c $((2 * 1024 * 1024)) /dev/zero >"$T/big.bin"
expect_error "$(req POST /v1/jobs -H 'Expect: 100-continue' -F "content=@$T/big.bin" \
    -F "style=@$T/big.bin")" 413 payload_too_large "" "curl waiting for 100 Continue"

st=$(req GET /v1/info)
expect_eq "$(jf "$T/body" 'd["limits"]["max_discard_bytes"]')" $((64 * 1024 * 1024)) \
    "published max_discard_bytes"
expect_eq "$(req GET /healthz)" 200 "GET /healthz at the end"
