#!/usr/bin/env bash
# test_errors.sh — every kind of bad request gets its status and a JSON
# error {"error":{"code","message","field"}} naming the problem: missing
# parts, files that are not images, truncated and oversized images, bad
# params (malformed JSON, unknown key, wrong type, out of range, unknown
# layer, blend weights), wrong content type, too large a body, unknown and
# malformed job ids, wrong methods, unknown routes, bad query arguments.
# Also CORS (preflight allowed and refused) and the base path prefix.
. "$(dirname "$0")/lib.sh"
make_images
echo "this is not an image" >"$T/text.txt"
head -c 300 "$T/content.png" >"$T/truncated.png"
$IMAGES bomb 100000 100000 "$T/bomb.png"
$IMAGES noise 96 96 "$T/big.png" 3
$IMAGES gif 16 16 "$T/style.gif"
$IMAGES bmp 16 16 "$T/content.bmp"
start_nstd --max-upload-bytes 16K --max-image-size 256 --cors-origins "https://good.example, https://also.example"

C=(-F "content=@$T/content.png")
S=(-F "style=@$T/style.png")

# ---------------------------------------------------------------- parts and images
expect_error "$(req POST /v1/jobs "${S[@]}")" 400 missing_part content "missing content"
expect_error "$(req POST /v1/jobs "${C[@]}")" 400 missing_part style "missing style"
expect_error "$(req POST /v1/jobs "${C[@]}" "${C[@]}" "${S[@]}")" 400 duplicate_part content "two contents"
expect_error "$(req POST /v1/jobs "${C[@]}" "${S[@]}" -F "mask=@$T/style.png")" 400 unknown_part mask \
    "unknown part"
expect_error "$(req POST /v1/jobs -F "content=@$T/text.txt" "${S[@]}")" 400 invalid_image content \
    "text file as content"
expect_error "$(req POST /v1/jobs "${C[@]}" "${S[@]}" -F "style=@$T/text.txt")" 400 invalid_image \
    'style[1]' "text file as second style"
jf "$T/body" 'd["error"]["message"]' | grep -q '^style\[1\]: ' || fail "message does not name style[1]"
expect_error "$(req POST /v1/jobs -F "content=@$T/content.bmp" "${S[@]}")" 400 unsupported_image_format \
    content "BMP as content"
jf "$T/body" 'd["error"]["message"]' | grep -q '^content: BMP .*PNG and JPEG' || fail "message: $(cat "$T/body")"
expect_error "$(req POST /v1/jobs "${C[@]}" "${S[@]}" -F "style=@$T/style.gif")" 400 \
    unsupported_image_format 'style[1]' "GIF as second style"
jf "$T/body" 'd["error"]["message"]' | grep -q '^style\[1\]: GIF .*PNG and JPEG' || fail "message: $(cat "$T/body")"
expect_error "$(req POST /v1/jobs -F "content=@$T/truncated.png" "${S[@]}")" 400 invalid_image content \
    "truncated PNG"
expect_error "$(req POST /v1/jobs -F "content=@$T/bomb.png" "${S[@]}")" 413 image_too_large content \
    "PNG declaring 100000x100000"
expect_error "$(req POST /v1/jobs "${C[@]}" -F "style=@$T/style.png" -F "style=@$T/style.png" \
    -F "style=@$T/style.png" -F "style=@$T/style.png" -F "style=@$T/style.png")" 400 too_many_styles \
    style "more styles than --max-styles"

# ---------------------------------------------------------------- params
# the defaults a job gets without params stay within this server's limits
req GET /v1/info >/dev/null
expect_eq "$(jf "$T/body" 'd["defaults"]["image_size"]')" 256 "default image_size within --max-image-size"
st=$(req POST /v1/jobs "${C[@]}" "${S[@]}")
expect_eq "$st" 202 "job without params"
expect_eq "$(jf "$T/body" 'd["params"]["image_size"]')" 256 "job's image_size within the limit"
req DELETE "/v1/jobs/$(jf "$T/body" 'd["id"]')" >/dev/null
ok "defaults respect the limits"

p() { req POST /v1/jobs "${C[@]}" "${S[@]}" -F "params=$1"; }
expect_error "$(p '{"iterations": 5')" 400 invalid_json params "malformed JSON params"
expect_error "$(p '{"brightness": 2}')" 422 invalid_params brightness "unknown param"
expect_error "$(p '{"iterations": "ten"}')" 422 invalid_params iterations "wrong type"
expect_error "$(p '{"beta": -1}')" 422 invalid_params beta "out-of-range value"
expect_error "$(p '{"style_layers": ["conv1_1", "conv9_9"]}')" 422 invalid_params style_layers \
    "unknown layer name"
jf "$T/body" 'd["error"]["message"]' | grep -q conv9_9 || fail "message does not name the layer"
expect_error "$(p '{"image_size": 512}')" 422 invalid_params image_size "image_size over --max-image-size"
expect_error "$(p '{"optimizer": "sgd"}')" 422 invalid_params optimizer "unknown optimizer"
expect_error "$(p '{"style_blend_weights": [0.5, 0.5]}')" 422 invalid_params style_blend_weights \
    "blend weights for one style"

# ---------------------------------------------------------------- body
expect_error "$(req POST /v1/jobs -H 'Content-Type: application/json' -d '{"content":1}')" 415 \
    unsupported_media_type "" "JSON body"
expect_error "$(req POST /v1/jobs -F "content=@$T/big.png" "${S[@]}")" 413 payload_too_large "" \
    "body over --max-upload-bytes"

# ---------------------------------------------------------------- ids, routes, methods, queries
expect_error "$(req GET /v1/jobs/0123456789abcdef0123456789abcdef)" 404 not_found id "unknown job id"
expect_error "$(req GET /v1/jobs/not-an-id)" 404 not_found id "malformed job id"
expect_error "$(req GET /v1/jobs/0123456789ABCDEF0123456789ABCDEF/result)" 404 not_found id \
    "upper-case id"
expect_error "$(req DELETE /v1/jobs/0123456789abcdef0123456789abcdef)" 404 not_found id \
    "delete unknown job"
expect_error "$(req GET /v1/nothing)" 404 not_found "" "unknown route"
expect_error "$(req PUT /v1/jobs)" 405 method_not_allowed "" "PUT /v1/jobs"
expect_eq "$(header Allow)" "POST, GET, HEAD, OPTIONS" "Allow of /v1/jobs"
expect_error "$(req DELETE /healthz)" 405 method_not_allowed "" "DELETE /healthz"
expect_eq "$(header Allow)" "GET, HEAD, OPTIONS" "Allow of /healthz"
# a body a route does not take is read and dropped, and the answer follows it
expect_error "$(req POST /healthz "${C[@]}")" 405 method_not_allowed "" "POST /healthz with a body"
expect_error "$(req POST /v1/nope "${C[@]}")" 404 not_found "" "POST to no route with a body"
expect_error "$(req POST /v1/jobs/0123456789abcdef0123456789abcdef/result)" 405 method_not_allowed "" \
    "POST on a result"
expect_error "$(req GET '/v1/jobs?limit=0')" 400 invalid_query limit "limit=0"
expect_error "$(req GET '/v1/jobs?limit=101')" 400 invalid_query limit "limit=101"
expect_error "$(req GET '/v1/jobs?offset=-1')" 400 invalid_query offset "offset=-1"
expect_error "$(req GET '/v1/jobs?limit=abc')" 400 invalid_query limit "limit=abc"

# every answer carries a request id; a sane client one is echoed
req GET /healthz -H 'X-Request-Id: test-123' >/dev/null
expect_eq "$(header X-Request-Id)" test-123 "echoed request id"
req GET /healthz >/dev/null
[[ $(header X-Request-Id) =~ ^[0-9a-f]{16}$ ]] || fail "no generated request id"
ok "request ids"
grep -q '"event":"request".*"request_id":"test-123"' "$NSTD_LOG" || fail "no access log line"
ok "access log line per request"

# ---------------------------------------------------------------- CORS
st=$(req OPTIONS /v1/jobs -H 'Origin: https://good.example' -H 'Access-Control-Request-Method: POST' \
     -H 'Access-Control-Request-Headers: content-type')
expect_eq "$st" 204 "preflight from an allowed origin"
expect_eq "$(header Access-Control-Allow-Origin)" https://good.example "Allow-Origin echoed"
header Access-Control-Allow-Methods | grep -q POST || fail "Allow-Methods lacks POST"
expect_eq "$(header Access-Control-Allow-Headers)" content-type "Allow-Headers"
header Access-Control-Max-Age | grep -Eq '^[0-9]+$' || fail "no Max-Age"
ok "CORS preflight allowed"
st=$(req OPTIONS /v1/jobs -H 'Origin: https://also.example' -H 'Access-Control-Request-Method: POST')
expect_eq "$st" 204 "second origin of the list"
expect_error "$(req OPTIONS /v1/jobs -H 'Origin: https://evil.example' \
    -H 'Access-Control-Request-Method: POST')" 403 origin_not_allowed "" "preflight from another origin"
[ -z "$(header Access-Control-Allow-Origin)" ] || fail "refused origin got Allow-Origin"
req GET /v1/info -H 'Origin: https://good.example' >/dev/null
expect_eq "$(header Access-Control-Allow-Origin)" https://good.example "Allow-Origin on GET"
req GET /v1/info -H 'Origin: https://evil.example' >/dev/null
[ -z "$(header Access-Control-Allow-Origin)" ] || fail "other origin got Allow-Origin on GET"
expect_eq "$(req OPTIONS /v1/jobs)" 204 "OPTIONS without Origin"
expect_eq "$(header Allow)" "POST, GET, HEAD, OPTIONS" "Allow on OPTIONS"
ok "CORS simple requests"

stop_nstd
expect_eq "$STOP_RC" 0 "exit status"

# ---------------------------------------------------------------- base path
start_nstd --base-path /nst
expect_eq "$(req GET /nst/healthz)" 200 "health under the base path"
st=$(req POST /nst/v1/jobs "${C[@]}" "${S[@]}" -F 'params={"image_size":32,"iterations":1}')
expect_eq "$st" 202 "submit under the base path"
id=$(jf "$T/body" 'd["id"]')
expect_eq "$(header Location)" "/nst/v1/jobs/$id" "Location has the prefix"
expect_eq "$(jf "$T/body" 'd["links"]["result"]')" "/nst/v1/jobs/$id/result" "links have the prefix"
expect_eq "$(req GET "/nst/v1/jobs/$id")" 200 "GET under the base path"
expect_eq "$(req GET "/v1/jobs/$id")" 200 "GET with the prefix already stripped by a proxy"
expect_eq "$(req GET /nst/v1/openapi.json)" 200 "openapi under the base path"
expect_eq "$(jf "$T/body" 'd["servers"][0]["url"]')" /nst "openapi servers url"
ok "base path prefix"
stop_nstd
