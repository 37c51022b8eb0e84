#!/usr/bin/env bash
# Proves `docker compose up --build` for real, on a machine like CI's: no
# Docker engine running, no registry reachable, only package registries.
#
#  1. installs Debian's Docker engine and compose, starts a private engine;
#  2. makes local stand-ins for the base images the Dockerfile names (a
#     debootstrapped Debian, and a Rust builder holding this machine's own
#     toolchain; only the builder trusts the host's CA certificates, which
#     outbound HTTPS here needs, and nothing of them is committed);
#  3. builds and starts docker-compose.yml with ci/compose.zipkin-standin.yml,
#     which swaps only Zipkin for the project's test collector;
#  4. checks one request to api_01 gives one complete trace from all three
#     containers, and the images' promises (non-root, ports, sizes, a cached
#     dependency layer);
#  5. removes everything it made, even on failure, and prints phase timings.
#
# Run from anywhere: bash ci/compose-e2e.sh (as root).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/compose-e2e.XXXXXX)
src="$work/src" # a copy of the build context (see "copy the build context")
project=zipkin_b3_e2e
docker=/usr/bin/docker # /usr/local/bin/docker, first on PATH here, lacks build support

timings=()
phase_started=$SECONDS
phase_name=""
phase() {
    if [[ -n $phase_name ]]; then
        timings+=("$(printf '%-44s %4ds' "$phase_name" $((SECONDS - phase_started)))")
    fi
    phase_name=$1
    phase_started=$SECONDS
    printf '\n--- %s\n' "$1"
}

compose() {
    docker-compose -p "$project" -f "$src/docker-compose.yml" -f "$src/ci/compose.zipkin-standin.yml" "$@"
}

dockerd_pid=""
cleanup() {
    local status=$?
    phase "teardown"
    if [[ -n $dockerd_pid && -f $src/docker-compose.yml ]]; then
        if [[ $status -ne 0 ]]; then
            compose ps || true
            compose logs --no-color --tail 40 || true
        fi
        compose down --volumes --remove-orphans --rmi all >/dev/null 2>&1 || true
    fi
    if [[ -n $dockerd_pid ]]; then
        "$docker" image prune --all --force >/dev/null 2>&1 || true
        "$docker" builder prune --all --force >/dev/null 2>&1 || true
        kill "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$dockerd_pid" 2>/dev/null || true
    fi
    # Whatever the engine left mounted under its roots, then the roots.
    grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
    phase "done"
    printf '\nPhase timings:\n'
    printf '  %s\n' "${timings[@]}"
    if [[ $status -eq 0 ]]; then echo "compose e2e: passed"; else echo "compose e2e: FAILED ($status)"; fi
    exit "$status"
}
trap cleanup EXIT

# Waits until "$@" succeeds, at most $1 seconds (checked every second).
wait_until() {
    local limit=$1 what=$2
    shift 2
    for _ in $(seq 1 "$limit"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    echo "timed out after ${limit}s waiting for: $what" >&2
    return 1
}

phase "install packages"
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

phase "start a private Docker engine"
mkdir -p "$work/bin"
# compose v1 runs `docker build` from PATH: make that Debian's client.
ln -s "$docker" "$work/bin/docker"
export PATH="$work/bin:$PATH"
export DOCKER_HOST="unix://$work/docker.sock"
dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/docker.pid" \
    -H "$DOCKER_HOST" --default-ulimit nofile=20000:20000 >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
wait_until 60 "the Docker engine" "$docker" info

phase "copy the build context"
# The run works on a copy, so the checks below can change a source file.
mkdir -p "$src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src")

phase "make base images: Debian"
mapfile -t bases < <(sed -n 's/^FROM \([^ ]*\).*/\1/p' "$src/Dockerfile" | grep -v -e '^chef$' -e '^planner$' -e '^builder$' | sort -u)
debian_image=$(printf '%s\n' "${bases[@]}" | grep '^debian:')
rust_image=$(printf '%s\n' "${bases[@]}" | grep '^rust:')
echo "the Dockerfile names: ${bases[*]}"
suite=${debian_image#debian:}
suite=${suite%-slim}
debootstrap --variant=minbase "$suite" "$work/rootfs" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
# Like the official slim image: no package downloads, lists or docs.
rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* \
    "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/locale/*
tar -C "$work/rootfs" -c . | "$docker" import - "$debian_image" >/dev/null
"$docker" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$debian_image"
rm -rf "$work/rootfs"

phase "make base images: Rust builder"
sysroot=$(rustc --print sysroot)
rustc --version
mkdir -p "$work/ca"
cp /usr/local/share/ca-certificates/*.crt "$work/ca/" 2>/dev/null || true
# Packages first, then this machine's toolchain (docker build cannot mount
# it, so a container copies it in and is committed), then the host's CA
# certificates, which only this stand-in builder trusts.
"$docker" run --name rust-builder-prep \
    -v "$sysroot:/toolchain:ro" -v "$work/ca:/host-ca:ro" "$debian_image" bash -c '
        set -e
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            gcc libc6-dev pkg-config ca-certificates >/dev/null
        mkdir -p /usr/local/rust /usr/local/cargo/bin
        cp -a /toolchain/bin /toolchain/lib /usr/local/rust/
        [ -d /toolchain/libexec ] && cp -a /toolchain/libexec /usr/local/rust/
        cp /host-ca/*.crt /usr/local/share/ca-certificates/ 2>/dev/null || true
        update-ca-certificates >/dev/null
        rm -rf /var/lib/apt/lists/*'
"$docker" commit \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    rust-builder-prep "$rust_image" >/dev/null
"$docker" rm rust-builder-prep >/dev/null

phase "docker-compose up --build"
export DOCKER_BUILDKIT=0 # the classic builder's log says which steps came from cache
compose up --build -d 2>&1 | tee "$work/build.log" | grep -E '^(Step|Successfully tagged|Creating|Building)' || true
[[ ${PIPESTATUS[0]} -eq 0 ]] || { tail -40 "$work/build.log"; exit 1; }

phase "wait until every service is healthy"
healthy() {
    local service id
    for service in zipkin api_03 api_02 api_01; do
        id=$(compose ps -q "$service")
        [[ $("$docker" inspect --format '{{.State.Health.Status}}' "$id") == healthy ]] || return 1
    done
}
wait_until 120 "all four services healthy" healthy
compose ps

phase "one request, one trace"
answer=$(curl -sS --max-time 20 localhost:5001)
echo "$answer" | jq -c '{service, trace_id, zipkin_url, downstream: (.downstream | keys)}'
trace_id=$(echo "$answer" | jq -er .trace_id)
trace_has_nine_spans() {
    [[ $(curl -sS --max-time 5 "localhost:9411/api/v2/trace/$trace_id" | jq length) -ge 9 ]]
}
wait_until 30 "9 spans of trace $trace_id at the stand-in" trace_has_nine_spans
trace=$(curl -sS --max-time 5 "localhost:9411/api/v2/trace/$trace_id")
echo "the stand-in received (service kind name id parentId):"
echo "$trace" | jq -r 'sort_by(.timestamp)[] | [.localEndpoint.serviceName, (.kind // "INTERNAL"), .name, .id, (.parentId // "-")] | @tsv'
[[ $(echo "$trace" | jq length) -eq 9 ]] || { echo "expected 9 spans"; exit 1; }
[[ $(curl -sS localhost:9411/api/v2/traces | jq length) -eq 1 ]] || { echo "expected exactly one trace"; exit 1; }
services=$(echo "$trace" | jq -c '[.[].localEndpoint.serviceName] | unique')
[[ $services == '["api_01","api_02","api_03"]' ]] || { echo "services: $services"; exit 1; }
links=$(curl -sS localhost:9411/api/v2/dependencies | jq -c 'sort_by(.parent, .child) | map([.parent, .child, .callCount])')
echo "dependency links: $links"
[[ $links == '[["api_01","api_02",1],["api_01","api_03",1],["api_02","api_03",1]]' ]] || { echo "unexpected links"; exit 1; }

phase "image checks"
for service in api_01 api_02 api_03; do
    id=$(compose ps -q "$service")
    uid=$("$docker" exec "$id" id -u)
    ports=$("$docker" port "$id" | tr '\n' ' ')
    echo "$service: runs as uid $uid; published: ${ports:-none}"
    [[ $uid != 0 ]] || { echo "$service runs as root"; exit 1; }
    if [[ $service == api_01 ]]; then
        [[ $ports == *"0.0.0.0:5001"* ]] || { echo "api_01 must publish 5001"; exit 1; }
    else
        [[ -z $ports ]] || { echo "$service must stay internal"; exit 1; }
    fi
done
echo "image sizes (the whole image, and what it adds to $debian_image):"
for image in $("$docker" image ls --format '{{.Repository}}' | grep zipkin-b3-demo | sort); do
    total=$("$docker" image ls --format '{{.Size}}' "$image")
    own=$("$docker" history --format '{{.Size}} {{.CreatedBy}}' "$image" | grep -m1 'COPY' | cut -d' ' -f1)
    echo "  $image: $total (binary layer: $own)"
done

phase "a handler change keeps the dependency layer"
echo "// touched by ci/compose-e2e.sh" >>"$src/api_03/src/lib.rs"
compose build api_03 >"$work/rebuild.log" 2>&1 || { tail -40 "$work/rebuild.log"; exit 1; }
grep -A1 'RUN cargo chef cook' "$work/rebuild.log"
grep -A1 'RUN cargo chef cook' "$work/rebuild.log" | grep -q 'Using cache' ||
    { echo "the dependency layer was rebuilt"; exit 1; }
grep -A1 'RUN cargo build' "$work/rebuild.log" | grep -q 'Running in' ||
    { echo "the changed handler was not rebuilt"; exit 1; }
echo "dependency layer: cached; application layer: rebuilt"
