# scripts/deps.sh — the Debian packages nstd needs, installed when missing.
# Sourced by scripts/run and scripts/test: install_deps build [test] [container].
install_deps() {
    local pkgs="cmake make gcc pkg-config libopenblas-dev libcjson-dev libstb-dev libuv1-dev libmicrohttpd-dev libhiredis-dev libcurl4-openssl-dev libssl-dev"
    for what in "$@"; do
        case $what in
            # chromium + chromium-driver: the web page's browser test (test_web);
            # redis-server: the Redis store's test (test_store) starts its own;
            # wrk: the load generator of bench/http_load.sh and bench/poll_flood.sh
            test) pkgs="$pkgs curl python3 clang libclang-rt-14-dev nginx-light chromium chromium-driver redis-server wrk" ;;
            # the container image's test (tests/container): mmdebstrap makes
            # debian:12-slim, podman imports it, buildah builds and runs
            container) pkgs="$pkgs curl python3 mmdebstrap podman buildah" ;;
        esac
    done
    local missing=""
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
