#!/bin/sh
# docker/entrypoint.sh — start nstd in the container. The data directory
# must be writable by the nstd user (a named volume is); a pretrained model
# is used when mounted or baked in (--build-arg NSTD_MODEL_FILE) at
# /opt/nstd/models/vgg19.safetensors (or named by NSTD_MODEL),
# else the embedded vgg19-random. exec keeps nstd as PID 1's child-free
# replacement, so SIGTERM from `docker stop` reaches it and running jobs are
# checkpointed before it exits.
set -e
if ! [ -w "${NSTD_DATA_DIR:-/var/lib/nstd/data}" ]; then
    echo "nstd: data directory ${NSTD_DATA_DIR:-/var/lib/nstd/data} is not writable by $(id -un)" >&2
    exit 1
fi
exec nstd "$@"
