#!/usr/bin/env bash
# Proves `docker compose up --build` for real, on a machine like CI's: no
# Docker engine running, no registry reachable, only package registries.
#
#  1. installs Debian's Docker engine and compose, starts a private engine;
#  2. makes local stand-ins for the two base images the Dockerfile names,
#     both from one debootstrapped Debian of the same release: a Rust builder
#     holding this machine's own toolchain (only it trusts the host's CA
#     certificates, which outbound HTTPS here needs; nothing of them is
#     committed), and a distroless "cc" runtime base (glibc, libgcc_s, CA
#     certificates, passwd/group with nonroot 65532, /tmp; no shell);
#  3. builds and starts docker-compose.yml with ci/compose.zipkin-standin.yml,
#     which swaps only Zipkin for the project's test collector;
#  4. checks one request to api_01 gives one complete trace from all three
#     containers; that the load profile's traffic service makes traces
#     arrive, red ones among them, and stops with 0; and the images'
#     promises (no shell, non-root, ports, sizes, a cached dependency layer);
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
        compose --profile load down --volumes --remove-orphans --rmi all >/dev/null 2>&1 || true
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
echo "the Dockerfile names: ${bases[*]}"
rust_image=$(printf '%s\n' "${bases[@]}" | grep '^rust:')
runtime_image=$(printf '%s\n' "${bases[@]}" | grep '/distroless/cc-debian[0-9]*:nonroot$')
[[ ${#bases[@]} -eq 2 && -n $rust_image && -n $runtime_image ]] ||
    { echo "expected a rust: builder and a distroless cc :nonroot runtime"; exit 1; }
# Both come from one Debian: the builder's release (rust:…-slim-bookworm),
# which must be the runtime's too (cc-debian12), or the binary could need a
# newer glibc than the runtime has.
suite=${rust_image##*-}
runtime_debian=${runtime_image##*/cc-debian}
runtime_debian=${runtime_debian%%:*}
debian_image="zipkin-b3-e2e/debian:$suite"
# ca-certificates: the runtime base's bundle, Debian's own (not the host's).
debootstrap --variant=minbase --include=ca-certificates "$suite" "$work/rootfs" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
[[ $(cut -d. -f1 "$work/rootfs/etc/debian_version") == "$runtime_debian" ]] ||
    { echo "$suite is not Debian $runtime_debian, which $runtime_image is"; exit 1; }
# Like the official slim image: no package downloads, lists or docs.
rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* \
    "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/locale/*
tar -C "$work/rootfs" -c . | "$docker" import - "$debian_image" >/dev/null
"$docker" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$debian_image"

phase "make base images: distroless cc"
# What gcr.io/distroless/cc-debian12:nonroot holds that our binaries use:
# the libc6 and libgcc-s1 packages as Debian installs them (the binaries
# link libc, libm, libgcc_s and the loader), Debian's CA bundle,
# nsswitch.conf, os-release, the root/nobody/nonroot (65532) accounts and
# their homes, and /tmp. No shell, no coreutils, no package manager.
dl="$work/distroless"
mkdir -p "$dl/etc/ssl/certs" "$dl/usr/lib"
install -d -m 1777 "$dl/tmp"
install -d -m 0700 "$dl/root"
install -d -m 0755 "$dl/home"
install -d -m 0700 -o 65532 -g 65532 "$dl/home/nonroot"
# Keep Debian 12's merged /usr: /lib (and /lib64, if it is one) as links.
for dir in lib lib64; do
    if [[ -L $work/rootfs/$dir ]]; then
        mkdir -p "$dl/$(readlink "$work/rootfs/$dir")"
        cp -P "$work/rootfs/$dir" "$dl/$dir"
    fi
done
chroot "$work/rootfs" dpkg -L libc6 libgcc-s1 | grep -v -e '^/usr/share/' -e '^/\.$' | sort -u |
    while read -r path; do [[ -d $work/rootfs$path && ! -L $work/rootfs$path ]] || echo ".$path"; done |
    tar -C "$work/rootfs" --no-recursion -T - -c | tar -C "$dl" -x
cp "$work/rootfs/etc/ssl/certs/ca-certificates.crt" "$dl/etc/ssl/certs/"
cp "$work/rootfs/etc/nsswitch.conf" "$dl/etc/"
cp -L "$work/rootfs/etc/os-release" "$dl/etc/"
cat >"$dl/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$dl/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
GROUP
tar -C "$dl" --numeric-owner -c . | "$docker" import \
    --change 'USER 65532' \
    --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    - "$runtime_image" >/dev/null
"$docker" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$runtime_image"
rm -rf "$work/rootfs" "$dl"

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
# The whole log to a file, the steps on screen; a failed build stops here
# with its end (`|| true` on a pipe would hide the build's own status).
if ! compose up --build -d >"$work/build.log" 2>&1; then
    grep -E '^(Step|Successfully tagged|Creating|Building)' "$work/build.log" || true
    tail -40 "$work/build.log"
    exit 1
fi
grep -E '^(Step|Successfully tagged|Creating|Building)' "$work/build.log" || true

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

phase "load profile: traffic reaches Zipkin"
# The traffic service runs a few seconds at its 5 requests a second; traces
# must keep arriving, failed ones among them (the default mix fails one
# request in ten), and it must stop on SIGTERM with 0.
compose --profile load up --build -d traffic >"$work/load.log" 2>&1 || { tail -40 "$work/load.log"; exit 1; }
trace_count() { curl -sS --max-time 5 localhost:9411/api/v2/traces | jq length; }
twenty_more_traces() { [[ $(trace_count) -ge 21 ]]; }
wait_until 60 "20 traces from the traffic service" twenty_more_traces
compose --profile load stop traffic >/dev/null 2>&1
traffic_id=$(compose --profile load ps -q traffic)
compose --profile load logs --no-color traffic | tail -3
exit_code=$("$docker" inspect --format '{{.State.ExitCode}}' "$traffic_id")
[[ $exit_code == 0 ]] || { echo "the traffic service exited $exit_code on SIGTERM"; exit 1; }
red=$(curl -sS --max-time 5 localhost:9411/api/v2/traces | jq '[.[] | select(any(.[]; .tags.error))] | length')
echo "traces at the stand-in: $(trace_count), $red of them with an error span; traffic exited $exit_code"
[[ $red -ge 1 ]] || { echo "no failed request among the traffic's traces"; exit 1; }
compose --profile load rm -f traffic >/dev/null 2>&1

phase "image checks"
# No shell in any runtime image: running one fails, and none is in the files.
for image in $("$docker" image ls --format '{{.Repository}}' | grep zipkin-b3-demo | sort); do
    if out=$("$docker" run --rm --entrypoint /bin/sh "$image" -c true 2>&1); then
        echo "$image runs /bin/sh"
        exit 1
    fi
    # It must fail for the right reason: nothing at /bin/sh.
    why=$(grep -o 'stat /bin/sh: no such file or directory' <<<"$out") ||
        { echo "$image: /bin/sh failed otherwise: $out"; exit 1; }
    id=$("$docker" create "$image")
    files=$("$docker" export "$id" | tar -t)
    "$docker" rm "$id" >/dev/null
    shells=$(grep -E '(^|/)(sh|bash|dash|ash|busybox)$' <<<"$files" || true)
    [[ -z $shells ]] || { echo "$image holds a shell: $shells"; exit 1; }
    echo "$image: no shell (docker run: $why; $(wc -l <<<"$files") paths, none a shell)"
done
# The processes' own uid, read by the host (the images have no `id`).
for service in zipkin api_01 api_02 api_03; do
    id=$(compose ps -q "$service")
    pid=$("$docker" inspect --format '{{.State.Pid}}' "$id")
    uid=$(awk '/^Uid:/ { print $3 }' "/proc/$pid/status") # the effective uid
    user=$("$docker" inspect --format '{{.Config.User}}' "$id")
    ports=$("$docker" port "$id" | tr '\n' ' ')
    echo "$service: runs as uid $uid (USER $user); published: ${ports:-none}"
    [[ $uid != 0 ]] || { echo "$service runs as root"; exit 1; }
    [[ $service != zipkin ]] || continue
    if [[ $service == api_01 ]]; then
        [[ $ports == *"0.0.0.0:5001"* ]] || { echo "api_01 must publish 5001"; exit 1; }
    else
        [[ -z $ports ]] || { echo "$service must stay internal"; exit 1; }
    fi
done
echo "image sizes (the whole image, and what it adds to $runtime_image," \
    "here a stand-in of $("$docker" image ls --format '{{.Size}}' "$runtime_image")):"
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
