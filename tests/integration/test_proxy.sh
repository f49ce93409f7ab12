#!/usr/bin/env bash
# test_proxy.sh — nstd behind a real nginx with the deployment's own
# configuration (docker/nginx.conf) under the path prefix /nst: submit,
# links and Location carry the prefix, progress over Server-Sent Events
# arrives through the proxy unbuffered, and the result downloads.
. "$(dirname "$0")/lib.sh"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || fail "nginx is not installed (scripts/test installs nginx-light)"

make_images
start_nstd --workers 1 --base-path /nst

# the shipped server block, pointed at this nstd, on a free loopback port
PPORT=$(free_port)
N=$T/nginx
mkdir -p "$N/tmp" "$N/logs"
sed -e "s/server nstd:8080;/server 127.0.0.1:$PORT;/" -e "s/listen 80;/listen 127.0.0.1:$PPORT;/" \
    "$SRC/docker/nginx.conf" >"$N/nstd.conf"
grep -q "127.0.0.1:$PORT" "$N/nstd.conf" || fail "docker/nginx.conf has no 'server nstd:8080;' upstream"
{
    [ "$(id -u)" = 0 ] && echo "user root;"
    cat <<CONF
worker_processes 1;
daemon off;
pid $N/nginx.pid;
error_log $N/logs/error.log;
events { worker_connections 64; }
http {
    access_log $N/logs/access.log;
    client_body_temp_path $N/tmp/body;
    proxy_temp_path $N/tmp/proxy;
    fastcgi_temp_path $N/tmp/fastcgi;
    uwsgi_temp_path $N/tmp/uwsgi;
    scgi_temp_path $N/tmp/scgi;
    include $N/nstd.conf;
}
CONF
} >"$N/nginx.conf"
"$NGINX" -t -q -p "$N" -c "$N/nginx.conf" 2>"$N/t.log" || fail "nginx -t: $(cat "$N/t.log")"
"$NGINX" -p "$N" -c "$N/nginx.conf" 2>>"$N/logs/error.log" &
NGINX_PID=$!
trap 'kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; cleanup' EXIT
BASE=http://127.0.0.1:$PPORT/nst   # every request below goes through the proxy
deadline=$(( $(date +%s) + 10 * SLOW ))
until curl -fs -o /dev/null "$BASE/healthz"; do
    [ "$(date +%s)" -lt $deadline ] || fail "nginx did not proxy /nst/healthz: $(cat "$N/logs/error.log")"
    sleep 0.1
done
ok "nginx proxies /nst/ to nstd"

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
