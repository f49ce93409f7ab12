#!/usr/bin/env bash
# test_proxy.sh — nstd behind a real nginx with the deployment's own
# configuration (docker/nginx.conf) under the path prefix /nst: the web
# page is at /nst/; a job's links and Location carry the prefix, progress
# over Server-Sent Events arrives through the proxy unbuffered, and the
# result downloads; the page's own origin may POST and DELETE through the
# proxy, another origin may not. (test_web.sh runs the page in a browser
# through it; test_proxy_clients.sh many clients.)
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --workers 1 --base-path /nst --trusted-proxies 127.0.0.1
start_proxy
BASE=$PROXY   # every request below goes through the proxy
ok "nginx proxies /nst/ to nstd"

# the web page at /nst/; /nst without the slash redirects there, from
# nginx and from nstd itself (the page's relative URLs need the slash)
expect_eq "$(req GET /)" 200 "the page through the proxy"
expect_eq "$(header Content-Type)" "text/html; charset=utf-8" "the page's content type through the proxy"
redirect() { curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$1"; }
expect_eq "$(redirect "$PROXY")" "301 $PROXY/" "nginx redirects /nst"
expect_eq "$(redirect "http://127.0.0.1:$PORT/nst")" "301 http://127.0.0.1:$PORT/nst/" "nstd redirects /nst"
ok "the web page through the proxy at /nst/; /nst redirects to it"

st=$(req POST /v1/jobs -F "content=@$T/content.png" -F "style=@$T/style.png" \
     -F 'params={"image_size":48,"iterations":40,"preview_every":5}')
expect_eq "$st" 202 "submit through the proxy"
id=$(jf "$T/body" 'd["id"]')
case "$(header Location)" in /nst/v1/jobs/$id) ;; *) fail "Location $(header Location)" ;; esac
expect_eq "$(jf "$T/body" 'd["links"]["events"]')" "/nst/v1/jobs/$id/events" "events link"
ok "Location and links carry the prefix"

# SSE through the proxy: several progress events before the end event
curl -sN --max-time $((60 * SLOW)) "$BASE/v1/jobs/$id/events" >"$T/events.txt" || true
n=$(grep -c '^event: progress' "$T/events.txt" || true)
[ "$n" -ge 3 ] || fail "only $n progress events through the proxy: $(head -c 600 "$T/events.txt")"
grep -q '^event: end' "$T/events.txt" || fail "no end event through the proxy"
ok "server-sent events pass the proxy ($n progress events)"

wait_state "$id" succeeded 60
OUT=$T/result.png req GET "/v1/jobs/$id/result" >/dev/null
expect_eq "$(png_size "$T/result.png")" "48 40" "result through the proxy"
ok "result downloads through the proxy"

# what the page at $PROXY/ sends: its own origin (scheme://host:port, no
# base path) in Origin on POST and DELETE; nginx forwards the Host with its
# port. Another origin is refused before the upload is read.
page_origin=${PROXY%/nst}
st=$(req POST /v1/jobs -H "Origin: $page_origin" -F "content=@$T/content.png"      -F "style=@$T/style.png" -F 'params={"image_size":32,"iterations":2}')
expect_eq "$st" 202 "POST from the page's own origin through the proxy"
id2=$(jf "$T/body" 'd["id"]')
st=$(req POST /v1/jobs -H "Origin: http://evil.example" -F "content=@$T/content.png"      -F "style=@$T/style.png")
expect_error "$st" 403 origin_not_allowed "" "POST from another origin through the proxy"
st=$(req DELETE "/v1/jobs/$id" -H "Origin: http://127.0.0.1:$PORT")
expect_error "$st" 403 origin_not_allowed "" "DELETE from another port's origin through the proxy"
wait_state "$id2" succeeded 60
expect_eq "$(req DELETE "/v1/jobs/$id2" -H "Origin: $page_origin")" 204 "DELETE from the page's origin"
ok "the page's own origin may POST and DELETE through the proxy; others get 403"
