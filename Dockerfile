# One image recipe for every binary of the workspace:
#   docker build --build-arg SERVICE=api_02 -t api_02 .
# SERVICE is api_01, api_02, api_03 (or traffic, the load profile's steady
# requests).
#
# cargo-chef builds the dependencies in a layer of their own, keyed on the
# manifests and Cargo.lock only, so a change to a handler rebuilds our code,
# not the ~200 crates under it.

FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
# All four binaries in one layer, shared by the images of every service.
RUN cargo build --release --locked --bin api_01 --bin api_02 --bin api_03 --bin traffic

# Only the binary ships, on distroless "cc": glibc, libgcc_s, CA certificates,
# /etc/passwd and /tmp, and nothing else: no shell, no package manager. The
# binary links only libc, libm, libgcc_s and the loader (see `ldd`), so it
# needs nothing more; its health probe is the binary itself
# (`service healthcheck`).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG SERVICE
COPY --from=builder /app/target/release/${SERVICE} /usr/local/bin/service
# The base's "nonroot" user, by number, so Kubernetes' runAsNonRoot can check it.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/service"]
