# Dockerfile — nstd in a container: a build stage with the -dev packages,
# a runtime stage with only the shared libraries, running as a non-root user.
#   docker build -t nstd . && docker run -p 8080:8080 -v nstd-data:/var/lib/nstd/data nstd
# The binaries target x86-64 with AVX2 and FMA (NSTD_NATIVE=OFF), not the
# build machine's exact CPU, so the image runs on any such host.
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
 && cmake --build build -j"$(nproc)" --target nstd nst-cli

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0-pthread libcjson1 libstb0 libuv1 \
        libmicrohttpd12 libhiredis0.14 libcurl4 libssl3 libgomp1 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/nstd nstd \
 && mkdir -p /var/lib/nstd/data /opt/nstd/models \
 && chown -R nstd /var/lib/nstd
COPY --from=build /src/build/nstd /src/build/nst /usr/local/bin/
COPY docker/entrypoint.sh /usr/local/bin/nstd-entrypoint
WORKDIR /opt/nstd
USER nstd
ENV NSTD_BIND=0.0.0.0 NSTD_PORT=8080 NSTD_DATA_DIR=/var/lib/nstd/data NSTD_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/nstd/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD curl -fsS http://127.0.0.1:8080/healthz >/dev/null || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["nstd-entrypoint"]
