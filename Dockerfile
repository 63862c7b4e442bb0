# syntax=docker/dockerfile:1
# The lockstep image: lockstep-scaler, lockstep-proxy and lockstep-rollouts-plugin in
# /usr/local/bin, as charts/lockstep expects (its Deployments run /usr/local/bin/lockstep-scaler
# and /usr/local/bin/lockstep-proxy; the Argo Rollouts controller's init container runs
# `cp /usr/local/bin/lockstep-rollouts-plugin <pluginDir>/`). Checked without a Docker engine by
# test/peers/chart (`chartcheck dockerfile`): see docs/operations.md, "The image".
#
#   docker build -t ghcr.io/lockstep-dev/lockstep:0.1.0 .

# ---- build: Debian 12 with the project's own bootstrap and CMake preset -------------------------
FROM debian:12 AS build
# scripts/bootstrap installs everything the build needs from Debian (it uses sudo only when not root).
COPY scripts/bootstrap /src/scripts/bootstrap
RUN /src/scripts/bootstrap && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
# The `default` preset (GCC, Ninja) in its own directory, Release, without tests or benchmarks;
# only the three programs are built. The plugin links fully static (LOCKSTEP_STATIC_PLUGIN=ON):
# it also runs inside the Argo Rollouts controller's distroless image.
RUN cmake --preset default -B build/image \
      -DCMAKE_BUILD_TYPE=Release \
      -DLOCKSTEP_BUILD_TESTS=OFF -DLOCKSTEP_BUILD_BENCH=OFF -DLOCKSTEP_STATIC_PLUGIN=ON \
      -DLOCKSTEP_MODULES="aggregator;scaler;rollout;plugin;proxy" \
 && cmake --build build/image -j"$(nproc)" \
      --target lockstep-scaler lockstep-proxy lockstep-rollouts-plugin \
 && strip --strip-unneeded build/image/scaler/lockstep-scaler build/image/proxy/lockstep-proxy \
      build/image/rollout/plugin/lockstep-rollouts-plugin \
 && if ldd build/image/rollout/plugin/lockstep-rollouts-plugin; then \
      echo "lockstep-rollouts-plugin must be a static executable" >&2; exit 1; fi

# ---- runtime: Debian 12 slim, the shared libraries the two servers link, nothing else ----------
FROM debian:12-slim AS runtime
# Each package provides a library that lockstep-scaler or lockstep-proxy names in DT_NEEDED
# (libc6, libstdc++6 and libgcc-s1 are in the base image); chartcheck verifies this list against
# the built binaries. ca-certificates: the scaler talks TLS to the Kubernetes API server.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 libabsl20220623 libprotobuf32 libprometheus-cpp-core1.0 \
      libyaml-cpp0.7 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/image/scaler/lockstep-scaler /usr/local/bin/lockstep-scaler
COPY --from=build /src/build/image/proxy/lockstep-proxy /usr/local/bin/lockstep-proxy
COPY --from=build /src/build/image/rollout/plugin/lockstep-rollouts-plugin /usr/local/bin/lockstep-rollouts-plugin
# The chart runs every container as 65532:65532 with runAsNonRoot (a numeric USER lets the
# kubelet verify it); the image's default user is the same.
USER 65532:65532
EXPOSE 9090 9091 9092 8080 9102
ENTRYPOINT ["/usr/local/bin/lockstep-scaler"]
