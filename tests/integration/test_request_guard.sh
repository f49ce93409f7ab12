#!/usr/bin/env bash
# test_request_guard.sh — requests refused before they act:
#   paths: a control byte in the request target, percent-encoded (%00,
#     %0A, %7F) or in the query, is 400 bad_path on every route and method
#     — "/v1/jobs/<id>%00/x" used to be cut at the NUL and act on the job
#     (GET 200, DELETE 204); the job is still there afterwards. Junk after
#     a route is 404 not_found. Raw requests (curl --path-as-is).
#   origins: a POST or DELETE whose Origin is neither the server's own
#     (http://Host) nor in --cors-origins is 403 origin_not_allowed and
#     does nothing (a page elsewhere cannot submit or cancel jobs through
#     a visitor's browser); without Origin (curl), from the server's own
#     origin and from a listed origin it goes through; GET is not refused.
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --workers 1 --cors-origins https://app.example.com

id=$(submit '{"image_size":32,"iterations":2}')
wait_state "$id" succeeded 120

raw() { # METHOD TARGET [curl args…]: the target exactly as given
    local method=$1 target=$2
    shift 2
    curl -s --path-as-is -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$method" "$@" \
        "$BASE$target" || true
}

# ---------------------------------------------------------------- paths
expect_error "$(raw GET "/v1/jobs/$id%00/x")" 400 bad_path "" "GET /v1/jobs/<id>%00/x"
expect_error "$(raw DELETE "/v1/jobs/$id%00/x")" 400 bad_path "" "DELETE /v1/jobs/<id>%00/x"
expect_error "$(raw GET "/v1/jobs/$id%00")" 400 bad_path "" "GET /v1/jobs/<id>%00"
expect_error "$(raw GET "/v1/jobs/$id/result%00.png")" 400 bad_path "" "GET …/result%00.png"
expect_error "$(raw GET "/healthz%0a")" 400 bad_path "" "GET /healthz%0a"
expect_error "$(raw GET "/healthz%0D%0AX-Injected:%201")" 400 bad_path "" "GET /healthz%0D%0A…"
expect_error "$(raw GET "/healthz%7f")" 400 bad_path "" "GET /healthz%7f"
expect_error "$(raw GET "/v1/jobs?limit=1%00")" 400 bad_path "" "GET /v1/jobs?limit=1%00"
expect_error "$(raw POST "/v1/jobs%00" -F "content=@$T/content.png" -F "style=@$T/style.png")" \
    400 bad_path "" "POST /v1/jobs%00"
expect_eq "$(req GET "/v1/jobs/$id")" 200 "the job is still there"
expect_eq "$(jf "$T/body" 'd["state"]')" succeeded "the job is untouched"
ok "control bytes in the target are refused, the job is untouched"

expect_error "$(raw GET "/v1/jobs/$id/x")" 404 not_found "" "GET /v1/jobs/<id>/x"
expect_error "$(raw DELETE "/v1/jobs/$id/x")" 404 not_found "" "DELETE /v1/jobs/<id>/x"
expect_error "$(raw GET "/v1/jobs/$id/")" 404 not_found "" "GET /v1/jobs/<id>/"
expect_error "$(raw GET "/v1/jobs/${id}x")" 404 not_found "" "GET /v1/jobs/<id>x"
expect_error "$(raw GET "/healthz/")" 404 not_found "" "GET /healthz/"
expect_error "$(raw GET "/healthzjunk")" 404 not_found "" "GET /healthzjunk"
expect_error "$(raw GET "/v1/jobs/$id/result/x")" 404 not_found "" "GET …/result/x"
expect_eq "$(raw GET "/v1/jobs/$id%2fx")" 404 "an encoded slash is part of the id"
expect_eq "$(req GET "/v1/jobs/$id")" 200 "the job is still there"

# ---------------------------------------------------------------- origins
post() { # ORIGIN-OR-EMPTY: a job upload, prints the status
    local o=()
    [ -n "$1" ] && o=(-H "Origin: $1")
    req POST /v1/jobs "${o[@]}" -F "content=@$T/content.png" -F "style=@$T/style.png" \
        -F 'params={"image_size":32,"iterations":2}'
}
total() { req GET /v1/jobs >/dev/null; jf "$T/body" 'd["total"]'; }
n0=$(total)
expect_error "$(post http://evil.example)" 403 origin_not_allowed "" "POST from another origin"
expect_error "$(post null)" 403 origin_not_allowed "" "POST from an opaque origin (null)"
expect_error "$(post "http://127.0.0.1:$((PORT == 65535 ? 1 : PORT + 1))")" 403 origin_not_allowed "" \
    "POST from another port"
expect_error "$(post "https://127.0.0.1:$PORT")" 403 origin_not_allowed "" "POST from https (nstd is http)"
expect_error "$(post https://app.example.com.evil.example)" 403 origin_not_allowed "" \
    "POST from a look-alike of a listed origin"
expect_eq "$(total)" "$n0" "no job was created by a refused POST"
expect_eq "$(post "")" 202 "POST without Origin (curl)"
expect_eq "$(post "http://127.0.0.1:$PORT")" 202 "POST from the server's own origin"
expect_eq "$(post "HTTP://127.0.0.1:$PORT")" 202 "origins compare without case"
expect_eq "$(post https://app.example.com)" 202 "POST from a --cors-origins origin"
expect_eq "$(header Access-Control-Allow-Origin)" https://app.example.com "the listed origin is echoed"
ok "POST: other origins 403; no Origin, the own origin and listed ones 202"

expect_error "$(req DELETE "/v1/jobs/$id" -H 'Origin: http://evil.example')" 403 origin_not_allowed "" \
    "DELETE from another origin"
expect_eq "$(req GET "/v1/jobs/$id" -H 'Origin: http://evil.example')" 200 "GET from another origin is answered"
expect_eq "$(header Access-Control-Allow-Origin)" "" "…without CORS headers"
expect_eq "$(jf "$T/body" 'd["state"]')" succeeded "the job is still there"
expect_eq "$(req DELETE "/v1/jobs/$id" -H "Origin: http://127.0.0.1:$PORT")" 204 "DELETE from the own origin"
ok "DELETE: another origin 403 and the job stays; the own origin deletes it"
