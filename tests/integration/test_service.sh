#!/usr/bin/env bash
# test_service.sh — the service routes: /healthz, /readyz, /v1/info (model,
# limits, defaults), GET / (the web page, or JSON on request),
# /v1/openapi.json (valid JSON naming every route the server answers),
# /metrics (Prometheus text exposition, every line checked by a small
# parser), HEAD; finished jobs expire after --job-ttl.
. "$(dirname "$0")/lib.sh"
make_images
start_nstd --workers 1 --max-iterations 500

expect_eq "$(req GET /healthz)" 200 "healthz"
expect_eq "$(jf "$T/body" 'd["status"]')" ok "healthz body"
expect_eq "$(req GET /readyz)" 200 "readyz"
expect_eq "$(jf "$T/body" 'd["status"]')" ready "readyz body"
expect_eq "$(req HEAD /healthz -I)" 200 "HEAD healthz"
ok "health and readiness"

# Keep-alive: several requests (GET, a 404, HEAD) share one connection and
# none is answered with "Connection: close".
"$PY" - "$PORT" <<'PY' || fail "keep-alive"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.connect()
sock = c.sock
for method, path, want in [("GET", "/healthz", 200), ("GET", "/v1/nothing", 404),
                           ("HEAD", "/v1/info", 200), ("GET", "/v1/info", 200)]:
    c.request(method, path)
    r = c.getresponse()
    r.read()
    assert r.status == want, (method, path, r.status)
    assert (r.getheader("Connection") or "").lower() != "close", (method, path, "closed")
    assert c.sock is sock, (method, path, "reconnected")
PY
ok "keep-alive: one connection serves several requests"

expect_eq "$(req GET /v1/info)" 200 "info"
expect_eq "$(jf "$T/body" 'd["model"]["name"]')" vgg19-random "model name"
expect_eq "$(jf "$T/body" 'd["model"]["pretrained"]')" false "pretrained flag"
expect_eq "$(jf "$T/body" 'd["limits"]["max_iterations"]')" 500 "limits from the configuration"
expect_eq "$(jf "$T/body" 'd["workers"]')" 1 "workers"
jf "$T/body" 'd["version"]' | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+' || fail "version"
for k in content_layers style_layers alpha beta iterations optimizer image_size pooling preview_every; do
    jf "$T/body" "'$k' in d['defaults']" | grep -qx true || fail "defaults lack $k"
done
ok "info: version, model, limits, defaults"

# every limit /v1/info lists is described in the OpenAPI document, and only those
cp "$T/body" "$T/info.json"
expect_eq "$(req GET /v1/openapi.json)" 200 "openapi"
expect_eq "$("$PY" - "$T/info.json" "$T/body" <<'PY'
import json, sys
info, doc = (json.load(open(f)) for f in sys.argv[1:])
schema = doc["components"]["schemas"]["Info"]["properties"]["limits"]["properties"]
print(sorted(info["limits"]) == sorted(schema) and len(schema) > 20 and
      all(p["type"] == "integer" and p["description"] for p in schema.values()))
PY
)" True "the limits of /v1/info and of its OpenAPI schema"
ok "info's limits are the OpenAPI schema's"

# GET /: the web page for browsers (and curl's */*), JSON for clients that ask for it
browser_accept='text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
for accept in '' "$browser_accept" '*/*'; do
    expect_eq "$(req GET / ${accept:+-H "Accept: $accept"})" 200 "root (Accept: ${accept:-none})"
    expect_eq "$(header Content-Type)" "text/html; charset=utf-8" "root is the page (Accept: ${accept:-none})"
done
expect_eq "$(header Vary)" Accept "root varies with Accept"
header Content-Security-Policy | grep -q "default-src 'self'" || fail "page CSP: $(header Content-Security-Policy)"
grep -q '<form id="job-form"' "$T/body" || fail "the page has no form"
grep -q '<input type="file" id="content" name="content"' "$T/body" || fail "the page has no content input"
grep -q '<input type="file" id="style" name="style" multiple' "$T/body" || fail "the page has no style input"
for p in image_size iterations alpha beta tv_weight optimizer init preserve_colors pooling; do
    grep -q "name=\"$p\" data-param" "$T/body" || fail "the page has no $p field"
done
grep -q "'v1/jobs'" "$T/body" || fail "the page does not post to v1/jobs"
# its URLs are relative, so that it works under a proxy prefix
! grep -nE "[\"'\`(]/(v1|healthz|readyz|metrics)|(src|href|action)=\"/" "$T/body" ||
    fail "the page has an absolute URL"
ok "GET / is the web page: form, content and style inputs, parameters, relative URLs"

expect_eq "$(req HEAD / -I)" 200 "HEAD root"
expect_eq "$(req GET / -H 'Accept: application/json')" 200 "root as JSON"
expect_eq "$(header Content-Type)" application/json "root JSON content type"
expect_eq "$(jf "$T/body" 'd["openapi"]')" /v1/openapi.json "root points at the API description"
expect_eq "$(jf "$T/body" 'd["name"]')" nstd "root JSON name"
expect_eq "$(req GET / -H 'Accept: text/html;q=0.5, application/json')" 200 "root, JSON preferred"
expect_eq "$(header Content-Type)" application/json "JSON when preferred to HTML"
ok "GET / with Accept: application/json is the JSON pointer to the API description"

# one finished job so that every route has something to answer
id=$(submit '{"image_size":32,"iterations":2,"preview_every":1}')
wait_state "$id" succeeded 60

expect_eq "$(req GET /v1/openapi.json)" 200 "openapi"
"$PY" - "$T/body" "$BASE" "$id" <<'PY' || fail "openapi check"
import json, sys, urllib.request, urllib.error
doc = json.load(open(sys.argv[1]))
base, job = sys.argv[2], sys.argv[3]
assert doc["openapi"].startswith("3."), doc.get("openapi")
# every route the server answers (method, path) must be described
routes = [("get", "/"), ("post", "/v1/jobs"), ("get", "/v1/jobs"), ("get", "/v1/jobs/{id}"),
          ("delete", "/v1/jobs/{id}"), ("get", "/v1/jobs/{id}/result"),
          ("get", "/v1/jobs/{id}/preview"), ("get", "/v1/jobs/{id}/events"),
          ("get", "/v1/info"), ("get", "/v1/openapi.json"), ("get", "/healthz"),
          ("get", "/readyz"), ("get", "/metrics")]
for method, path in routes:
    assert path in doc["paths"], "openapi lacks " + path
    assert method in doc["paths"][path], "openapi lacks %s %s" % (method.upper(), path)
# and every GET path described is answered (not 404/405)
for path, ops in doc["paths"].items():
    if "get" not in ops:
        continue
    url = base + path.replace("{id}", job)
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except urllib.error.HTTPError as e:
        raise AssertionError("%s answered %d" % (path, e.code))
PY
ok "openapi.json is valid and covers every route"

expect_eq "$(req GET /metrics)" 200 "metrics"
header Content-Type | grep -q '^text/plain; version=0.0.4' || fail "metrics content type: $(header Content-Type)"
"$PY" - "$T/body" <<'PY' || fail "metrics text does not parse"
import re, sys
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
sample = re.compile(r"^(%s)(\{(%s(,%s)*,?)?\})? (-?[0-9.eE+-]+|[+-]?Inf|NaN)( -?[0-9]+)?$" % (name, label, label))
help_ = re.compile(r"^# HELP %s .*$" % name)
type_ = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % name)
types, samples = {}, []
for n, line in enumerate(open(sys.argv[1]).read().split("\n"), 1):
    if not line:
        continue
    m = type_.match(line)
    if m:
        types[m.group(1)] = m.group(2)
        continue
    if help_.match(line) or line.startswith("# "):
        continue
    m = sample.match(line)
    assert m, "line %d does not parse: %r" % (n, line)
    samples.append(m.group(1))
names = set(samples)
need = ["nstd_http_requests_total", "nstd_http_request_duration_seconds_bucket",
        "nstd_jobs_total", "nstd_jobs", "nstd_queue_depth", "nstd_iteration_duration_seconds_count"]
for want in need:
    assert want in names, "metrics lack " + want
text = open(sys.argv[1]).read()
assert 'route="/v1/jobs/{id}"' in text, "requests not labelled by route template"
assert re.search(r'nstd_jobs_total\{state="succeeded"\} [1-9]', text), "finished job not counted"
PY
ok "/metrics parses as Prometheus text and counts requests and jobs"
stop_nstd
expect_eq "$STOP_RC" 0 "exit status"

# ---------------------------------------------------------------- TTL
start_nstd --workers 1 --job-ttl 2
id=$(submit '{"image_size":32,"iterations":1}')
wait_state "$id" succeeded 60
deadline=$(( $(date +%s) + 15 * SLOW ))
until [ "$(req GET "/v1/jobs/$id")" = 404 ]; do
    [ "$(date +%s)" -lt $deadline ] || fail "finished job not expired after its TTL"
    sleep 0.2
done
stored_job_gone "$id" || fail "expired job's files remain"
grep -q '"event":"job_expired"' "$NSTD_LOG" || fail "no job_expired log line"
ok "finished jobs expire after --job-ttl with their files"
stop_nstd
expect_eq "$STOP_RC" 0 "exit status"
