#!/usr/bin/env bash
# test_container.sh — the image of ./Dockerfile, built and run for real with
# Debian's own tools, no image registry:
#   1. debian:12-slim made here: mmdebstrap (minbase, merged /usr, no docs,
#      man pages or locales, as the official slim image) from this machine's
#      apt mirrors, imported with `podman import`;
#   2. `buildah build --isolation chroot` of the Dockerfile, the programs
#      taken from this build (--build-context binaries=DIR; set
#      NST_CONTAINER_FROM_SOURCE=1 to compile them in the build stage
#      instead), once plain (its size is reported and bounded) and once with
#      a small BF16 model baked in (--build-arg NSTD_MODEL_FILE);
#   3. containers of that image run with `buildah run --isolation chroot`
#      (`podman run` needs to set rlimits, which a machine without
#      CAP_SYS_RESOURCE refuses), with the image's own entrypoint, user,
#      environment and working directory, on the host's network (nstd bound
#      to 127.0.0.1 and a free port) and a data volume: nstd runs as the
#      image's non-root user, serves the baked model, a job succeeds end to
#      end through curl, the image's HEALTHCHECK passes (and fails when
#      nothing listens), SIGTERM checkpoints a running job and exits 0, and
#      a new container on the same volume resumes it.
# Storage (overlay, else vfs) lives in the test's own directory: nothing is
# cached between runs. Needs root, podman, buildah and mmdebstrap
# (scripts/deps.sh: install_deps container). Prints each phase's time.
. "$(dirname "$0")/../integration/lib.sh"
: "${NST_BIN:?NST_BIN must name the nst binary}"
MAX_IMAGE_MB=${NST_CONTAINER_MAX_MB:-200}
IMAGE=localhost/nstd:test
PLAIN=localhost/nstd:test-plain
STORE_DIR=$T/storage
RUN_DIR=            # podman's runroot: a short path (overlay mount options), made below
DRIVER=
CONTAINERS=
CTR_PID=        # the running container's buildah run
NSTD_IN=        # and the nstd in it
CTR_LOG=

[ "$(id -u)" = 0 ] || fail "the container test needs root (buildah --isolation chroot, its own storage)"
for tool in podman buildah mmdebstrap; do
    command -v $tool >/dev/null || fail "$tool is not installed (scripts/deps.sh: install_deps container)"
done

B() { buildah --root "$STORE_DIR/root" --runroot "$RUN_DIR" --storage-driver "$DRIVER" "$@"; }
P() { # podman on the same storage; $1 the driver (DRIVER once chosen)
    local driver=$1
    shift
    podman --root "$STORE_DIR/root" --runroot "$RUN_DIR" --tmpdir "$STORE_DIR/libpod" \
        --storage-driver "$driver" --events-backend none "$@"
}

container_cleanup() {
    if [ -n "$CTR_PID" ]; then   # nstd too: it would outlive buildah run
        [ -z "$NSTD_IN" ] || kill -9 "$NSTD_IN" 2>/dev/null || true
        kill -9 "$CTR_PID" 2>/dev/null || true
        wait "$CTR_PID" 2>/dev/null || true
    fi
    if [ -n "$DRIVER" ]; then
        local c
        for c in $CONTAINERS; do B rm "$c" >/dev/null 2>&1 || true; done
        B rmi --all --force >/dev/null 2>&1 || true
    fi
    # nothing may stay mounted under $T before lib.sh removes it
    local m
    for m in $(awk -v t="$T" -v r="${RUN_DIR:-/nonexistent}" 'index($2, t) == 1 || index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
        umount "$m" 2>/dev/null || true
    done
    [ -z "$RUN_DIR" ] || rm -rf "$RUN_DIR"
}
trap 'rc=$?; container_cleanup; (exit $rc); cleanup' EXIT

t_phase=$(date +%s)
phase() { # WHAT: prints the time since the last phase
    local now
    now=$(date +%s)
    ok "$1 ($((now - t_phase)) s)"
    t_phase=$now
}

# ---------------------------------------------------------------- debian:12-slim
# the Debian sources this machine's apt uses (deb.debian.org when none)
sources=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null |
    awk '$2 ~ /^bookworm(-updates|-security)?$/ {print "deb " $1 " " $2 " main"}' | sort -u)
[ -n "$sources" ] || sources="deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main"
mapfile -t mirrors <<<"$sources"
cat >"$T/slim.cfg" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
# PATH without user wrappers (pyenv shims) for mmdebstrap's own helpers
env PATH=/usr/sbin:/usr/bin:/sbin:/bin TMPDIR="$T" mmdebstrap --quiet --variant=minbase --mode=root \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr --hook-dir=/usr/share/mmdebstrap/hooks/eatmydata \
    --aptopt='Acquire::Languages "none"' \
    --setup-hook="mkdir -p \"\$1/etc/dpkg/dpkg.cfg.d\" && cp '$T/slim.cfg' \"\$1/etc/dpkg/dpkg.cfg.d/slim\"" \
    --customize-hook='cd "$1" && find usr/share/doc -mindepth 2 ! -name copyright ! -type d -delete && rm -rf usr/share/man/* usr/share/info/* && find usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +' \
    bookworm "$T/base.tar" "${mirrors[@]}" >"$T/mmdebstrap.log" 2>&1 ||
    fail "mmdebstrap: $(tail -n 20 "$T/mmdebstrap.log")"
phase "debian:12-slim bootstrapped from $(cut -d' ' -f2 <<<"$sources" | sort -u | xargs) ($(($(stat -c %s "$T/base.tar") / 1000000)) MB)"

mkdir -p "$STORE_DIR"
RUN_DIR=$(mktemp -d /tmp/nstd-ctr-XXXXXX)
import() { # DRIVER
    P "$1" import --quiet "$T/base.tar" docker.io/library/debian:12-slim >"$T/import.log" 2>&1
}
if import overlay; then
    DRIVER=overlay
else   # no overlay mounts here: vfs (a full copy per layer)
    rm -rf "$STORE_DIR"/root "$STORE_DIR"/libpod "${RUN_DIR:?}"/*
    import vfs || fail "podman import: $(cat "$T/import.log")"
    DRIVER=vfs
fi
rm -f "$T/base.tar"
phase "imported as debian:12-slim (storage driver $DRIVER)"

# ---------------------------------------------------------------- build
# the build context: the files the Dockerfile reads and a model under
# models/; the programs of this build in a context of their own
CTX=$T/context
mkdir -p "$CTX/models" "$T/bin"
cp -r "$SRC/Dockerfile" "$SRC/.dockerignore" "$SRC/CMakeLists.txt" "$SRC/core" "$SRC/api" \
    "$SRC/server" "$SRC/config" "$SRC/programs" "$SRC/tests" "$SRC/docker" "$CTX/"
cp "$NSTD_BIN" "$NST_BIN" "$T/bin/"
"$NST_BIN" --export-model "$T/f32.safetensors" || fail "nst --export-model"
"$PY" "$SRC/tests/container/bf16_model.py" "$T/f32.safetensors" "$CTX/models/test.safetensors" container-test
rm -f "$T/f32.safetensors"
binaries=(--build-context "binaries=$T/bin")
[ "${NST_CONTAINER_FROM_SOURCE:-0}" = 1 ] && binaries=()

build_image() { # TAG [build args…]
    local tag=$1
    shift
    BUILDAH_ISOLATION=chroot B build --isolation chroot --format docker --pull=never --layers \
        "${binaries[@]}" "$@" -t "$tag" "$CTX" >>"$T/build.log" 2>&1 ||
        fail "buildah build $*: $(tail -n 30 "$T/build.log")"
}
build_image "$PLAIN"
phase "image built (programs: $([ ${#binaries[@]} = 0 ] && echo "compiled in the build stage" || echo "of this build"))"
size=$(P "$DRIVER" image inspect --format '{{.Size}}' "$PLAIN") || fail "image size"
size_mb=$((size / 1000000))
echo "image size: $size_mb MB"
[ "$size_mb" -le "$MAX_IMAGE_MB" ] || fail "image is $size_mb MB, more than $MAX_IMAGE_MB MB"
ok "image is $size_mb MB (at most $MAX_IMAGE_MB)"

build_image "$IMAGE" --build-arg NSTD_MODEL_FILE=models/test.safetensors
phase "image with the model baked in"

B inspect --type image "$IMAGE" >"$T/image.json"
expect_eq "$(jf "$T/image.json" 'd["Docker"]["config"]["User"]')" nstd "image user"
mapfile -t healthcheck < <(jf "$T/image.json" '"\n".join(d["Docker"]["config"]["Healthcheck"]["Test"])')
case ${healthcheck[0]} in
    CMD) healthcheck=("${healthcheck[@]:1}") ;;
    CMD-SHELL) healthcheck=(sh -c "${healthcheck[1]}") ;;
    *) fail "image HEALTHCHECK: ${healthcheck[*]}" ;;
esac
mapfile -t entrypoint < <(jf "$T/image.json" '"\n".join(d["Docker"]["config"]["Entrypoint"])')

# ---------------------------------------------------------------- containers
new_container() { # NAME: a working container of $IMAGE, its name printed
    local c=nstd-test-$$-$1
    B from --pull-never --name "$c" "$IMAGE" >/dev/null || fail "buildah from $IMAGE"
    CONTAINERS="$CONTAINERS $c"
    echo "$c"
}

in_container() { # CONTAINER command…: runs it as the image's user, env, cwd
    local c=$1
    shift
    B run --isolation chroot -e NSTD_BIND=127.0.0.1 -e NSTD_PORT="$PORT" \
        -v "$VOLUME:/var/lib/nstd/data" "$c" -- "$@"
}

# start_container NAME: the image's entrypoint in a new container on
# $VOLUME, log $T/NAME.log; waits for /healthz; sets CTR_PID (buildah run),
# NSTD_IN (nstd inside it), BASE
start_container() {
    local c
    c=$(new_container "$1")
    CTR_LOG=$T/$1.log
    PORT=$(free_port)
    BASE=http://127.0.0.1:$PORT
    in_container "$c" "${entrypoint[@]}" >>"$CTR_LOG" 2>&1 &
    CTR_PID=$!
    local deadline=$(( $(date +%s) + 60 * SLOW ))
    until curl -fs -o /dev/null "$BASE/healthz"; do
        kill -0 "$CTR_PID" 2>/dev/null || fail "container $1 exited during start-up: $(tail -n 20 "$CTR_LOG")"
        [ "$(date +%s)" -lt $deadline ] || fail "container $1 did not answer /healthz: $(tail -n 20 "$CTR_LOG")"
        sleep 0.2
    done
    NSTD_IN=$(nstd_under "$CTR_PID")
    [ -n "$NSTD_IN" ] || fail "no nstd process under buildah run $CTR_PID"
    NSTD_LOG=$CTR_LOG   # what fail prints
}

nstd_under() { # PID: the process named nstd among PID's descendants
    local p kids todo=$1
    while [ -n "$todo" ]; do
        set -- $todo
        p=$1
        shift
        todo="$*"
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = nstd ] && { echo "$p"; return; }
        kids=$(ps -o pid= --ppid "$p" 2>/dev/null || true)
        todo="$todo $(echo $kids)"
        todo=${todo# }
    done
}

stop_container() { # SIGTERM to nstd, as `docker stop` sends it to PID 1; sets STOP_RC
    kill -TERM "$NSTD_IN"
    STOP_RC=0
    local deadline=$(( $(date +%s) + 60 * SLOW ))
    while kill -0 "$CTR_PID" 2>/dev/null; do
        [ "$(date +%s)" -lt $deadline ] || fail "container still running 60 s after SIGTERM"
        sleep 0.2
    done
    wait "$CTR_PID" || STOP_RC=$?
    CTR_PID=
    NSTD_IN=
}

make_images
VOLUME=$T/volume
mkdir -p "$VOLUME"

# a data volume the image's user cannot write is refused with a message
c=$(new_container refused)
PORT=$(free_port)
if in_container "$c" "${entrypoint[@]}" >"$T/refused.log" 2>&1; then fail "started on a volume it cannot write"; fi
grep -q "not writable by nstd" "$T/refused.log" || fail "no message for an unwritable volume: $(cat "$T/refused.log")"
ok "entrypoint refuses a data volume it cannot write"
chown 10001 "$VOLUME"

start_container first
expect_eq "$(awk '/^Uid:/ {print $2 $3}' "/proc/$NSTD_IN/status")" 1000110001 "nstd's real and effective uid"
ok "nstd runs as the image's user nstd (uid 10001), not root"
phase "container started"

# the image has no compiler and no curl: runtime libraries only
c=$(new_container probe)
in_container "$c" sh -c 'for p in gcc cc cmake curl; do command -v $p && exit 1; done; exit 0' >"$T/probe.log" 2>&1 ||
    fail "the image has build tools or curl: $(cat "$T/probe.log")"
ok "no compiler, cmake or curl in the image"

# HEALTHCHECK, as the image states it, inside the container
in_container "$c" "${healthcheck[@]}" >"$T/health.log" 2>&1 ||
    fail "HEALTHCHECK '${healthcheck[*]}' failed: $(cat "$T/health.log")"
ok "HEALTHCHECK (${healthcheck[*]}) passes"

expect_eq "$(req GET /v1/info)" 200 "GET /v1/info"
expect_eq "$(jf "$T/body" 'd["model"]["name"]')" container-test "model served (baked in with NSTD_MODEL_FILE)"
ok "the model baked in with --build-arg NSTD_MODEL_FILE is the one served"

id=$(submit '{"image_size":32,"iterations":3}')
wait_state "$id" succeeded $((120 * SLOW))
expect_eq "$(OUT="$T/result.png" req GET "/v1/jobs/$id/result")" 200 "result"
expect_eq "$(png_size "$T/result.png" | cut -d' ' -f1)" 32 "result width"
ok "a job succeeds end to end through curl"
phase "job in the container"

# SIGTERM checkpoints a running job; a new container on the volume resumes it
id=$(submit '{"image_size":64,"iterations":2000,"preview_every":1}')
wait_state "$id" running 60
deadline=$(( $(date +%s) + 60 * SLOW ))
until [ -s "$VOLUME/jobs/$id/checkpoint.png" ]; do
    [ "$(date +%s)" -lt $deadline ] || fail "no checkpoint while running"
    sleep 0.2
done
stop_container
expect_eq "$STOP_RC" 0 "exit status after SIGTERM"
grep -q '"event":"stopped"' "$CTR_LOG" || fail "no stopped log line"
expect_eq "$(jf "$VOLUME/jobs/$id/job.json" 'd["state"]')" queued "saved state"
[ "$(jf "$VOLUME/jobs/$id/job.json" 'd["checkpoint_iteration"]')" -ge 1 ] || fail "no checkpoint saved"
ok "SIGTERM: exit 0, the running job saved as queued with its checkpoint"

# HEALTHCHECK fails when nstd is not there
if in_container "$c" "${healthcheck[@]}" >"$T/health.log" 2>&1; then fail "HEALTHCHECK passed with nothing listening"; fi
ok "HEALTHCHECK fails with no nstd"

start_container second
wait_state "$id" running 60
grep -q '"event":"job_started","resume_iteration":[1-9][0-9]*,"job":"'"$id"'"' "$CTR_LOG" ||
    fail "the job did not resume from its checkpoint: $(grep job_started "$CTR_LOG")"
ok "a new container on the same volume resumes the job from its checkpoint"
expect_eq "$(req DELETE "/v1/jobs/$id")" 202 "cancel the resumed job"
wait_state "$id" canceled 60
stop_container
expect_eq "$STOP_RC" 0 "exit status"
phase "restart on the same volume"
