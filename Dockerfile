# Dockerfile — nstd in a container: a build stage with the -dev packages,
# a runtime stage with only the shared libraries, running as a non-root user.
#   docker build -t nstd . && docker run -p 8080:8080 -v nstd-data:/var/lib/nstd/data nstd
# The binaries target x86-64 with AVX2 and FMA (NSTD_NATIVE=OFF), not the
# build machine's exact CPU, so the image runs on any such host.
#
# The programs come from the build stage unless --build-context binaries=DIR
# names a directory that has them (nstd and nst as `cmake --build build` made
# them on a Debian 12 machine, e.g. build/): that replaces the stage
# `binaries`, and the build stage is skipped (tests/container does so, to
# save a second compilation; such programs keep that machine's -march).
#
# Build argument NSTD_MODEL_FILE=PATH: a model file of the build context
# (safetensors), checked with `nst --check-model` and baked in as
# /opt/nstd/models/vgg19.safetensors (default: none, the embedded
# vgg19-random unless one is mounted there).

FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make gcc libc6-dev pkg-config \
        libopenblas-dev libcjson-dev libstb-dev libuv1-dev libmicrohttpd-dev libhiredis-dev \
        libcurl4-openssl-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY core core
COPY api api
COPY server server
COPY config config
COPY programs programs
COPY tests tests
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNSTD_NATIVE=OFF \
 && cmake --build build -j"$(nproc)" --target nstd nst-cli \
 && mkdir /out && cp build/nstd build/nst /out/

FROM scratch AS binaries
COPY --from=build /out/ /

FROM debian:12-slim
# Shared libraries only: libcurl4 for webhooks (ca-certificates for https
# ones), no curl (the HEALTHCHECK is nstd's own), no apt caches or lists.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0-pthread libcjson1 libstb0 libuv1 \
        libmicrohttpd12 libhiredis0.14 libcurl4 libssl3 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log \
 && useradd --system --uid 10001 --home-dir /var/lib/nstd nstd \
 && mkdir -p /var/lib/nstd/data /opt/nstd/models \
 && chown -R nstd /var/lib/nstd
COPY --from=binaries /nstd /nst /usr/local/bin/
COPY docker/entrypoint.sh /usr/local/bin/nstd-entrypoint
ARG NSTD_MODEL_FILE=
RUN --mount=type=bind,target=/context \
    if [ -n "$NSTD_MODEL_FILE" ]; then \
        cp "/context/$NSTD_MODEL_FILE" /opt/nstd/models/vgg19.safetensors \
     && chmod 644 /opt/nstd/models/vgg19.safetensors \
     && nst --check-model /opt/nstd/models/vgg19.safetensors; \
    fi
WORKDIR /opt/nstd
USER nstd
ENV NSTD_BIND=0.0.0.0 NSTD_PORT=8080 NSTD_DATA_DIR=/var/lib/nstd/data NSTD_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/nstd/data"]
# GET /healthz of the nstd these settings describe (NSTD_BIND, NSTD_PORT)
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["nstd", "--health-check"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["nstd-entrypoint"]
