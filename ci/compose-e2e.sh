#!/usr/bin/env bash
# Proves `docker compose up --build` for real, on a machine like CI's: no
# Docker engine running, no registry reachable, only package registries.
# It runs docker-compose.yml exactly as users do, unchanged and with no
# override file, against the real Zipkin server.
#
#  1. installs Debian's Docker engine and compose (and Chromium, for the
#     click), builds the click's driver (e2e's example compose_click),
#     starts a private engine;
#  2. makes local stand-ins for the images nothing can pull here, all from
#     one debootstrapped Debian of the same release: for the Dockerfile, a
#     Rust builder holding this machine's own toolchain (only it trusts the
#     host's CA certificates, which outbound HTTPS here needs; nothing of
#     them is committed) and a distroless "cc" runtime base (glibc,
#     libgcc_s, CA certificates, passwd/group with nonroot 65532, /tmp; no
#     shell); for the compose file, openzipkin/zipkin:3 made from Debian's
#     Java runtime and the real Zipkin server's jar from Maven Central
#     (ci/zipkin-image/Dockerfile, the jar pinned by ci/zipkin-server.sh);
#  3. builds and starts docker-compose.yml as it is;
#  4. checks, at the real Zipkin's API: one request to api_01 gives one
#     complete trace from all three containers; a click on api_01's page in
#     Chromium gives one trace rooted at the page's own span, and the
#     browser -> api_01 link; the load profile's traffic service makes
#     traces arrive, red ones among them, and stops with 0; and the images'
#     promises (no shell, non-root, ports, sizes, a cached dependency layer);
#  5. then, that stack down, runs it over OTLP as users would
#     (docker-compose.yml with docker-compose.otlp.yml, unchanged), with a
#     local stand-in for the Collector's image, the same release built from
#     its pinned modules (ci/otel-collector.sh; ci/otel-collector-image/Dockerfile):
#     one request to api_01 gives, at the real Zipkin's API, one trace of 9
#     spans from the three containers, every one carried by the Collector,
#     and the three dependency links;
#  6. removes everything it made, even on failure, and prints phase timings.
#
# Run from anywhere: bash ci/compose-e2e.sh (as root; Go too, unless
# ci/otel-collector.sh has built the Collector already).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/compose-e2e.XXXXXX)
src="$work/src" # a copy of the build context (see "copy the build context")
project=zipkin_b3_e2e
docker=/usr/bin/docker # /usr/local/bin/docker, first on PATH here, lacks build support
zipkin=http://localhost:9411 # the real Zipkin, published by docker-compose.yml
api_01=http://localhost:5001
# Zipkin's queries look back from endTs (ms); this run's spans are all
# younger than this.
run_started_ms=$(date +%s%3N)

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

# docker-compose.yml alone, as users run it.
compose() {
    docker-compose -p "$project" -f "$src/docker-compose.yml" "$@"
}
# With the OTLP override, as users run it; the same project, once the stack
# above is down.
compose_otlp() {
    docker-compose -p "$project" -f "$src/docker-compose.yml" -f "$src/docker-compose.otlp.yml" "$@"
}
# With the MySQL override, once the OTLP stack is down.
compose_mysql() {
    docker-compose -p "$project" -f "$src/docker-compose.yml" -f "$src/docker-compose.mysql.yml" "$@"
}
stack=compose # the one up, for the teardown

dockerd_pid=""
cleanup() {
    local status=$?
    phase "teardown"
    if [[ -n $dockerd_pid && -f $src/docker-compose.yml ]]; then
        if [[ $status -ne 0 ]]; then
            "$stack" ps || true
            "$stack" logs --no-color --tail 40 || true
        fi
        "$stack" --profile load down --volumes --remove-orphans --rmi all >/dev/null 2>&1 || true
    fi
    if [[ -n $dockerd_pid ]]; then
        "$docker" image prune --all --force >/dev/null 2>&1 || true
        "$docker" builder prune --all --force >/dev/null 2>&1 || true
        kill "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$dockerd_pid" 2>/dev/null || true
    fi
    # Whatever the engine left mounted under its roots, then the roots.
    grep -o " ${work}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
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
command -v mvn >/dev/null || need+=(maven) # ci/zipkin-server.sh fetches the jar with it
# The click: Debian's Chromium and its driver, as e2e's browser tests use.
[[ -x /usr/bin/chromium ]] || need+=(chromium)
[[ -x /usr/bin/chromedriver ]] || need+=(chromium-driver)
if ((${#need[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

phase "build the click (e2e example compose_click)"
# In the repository's own target directory, which the tests share: it runs
# on the host, against the page api_01's container publishes.
cargo build --locked --quiet --manifest-path "$repo/Cargo.toml" -p e2e --example compose_click

phase "start a private Docker engine"
mkdir -p "$work/bin"
# compose v1 runs `docker build` from PATH: make that Debian's client.
ln -s "$docker" "$work/bin/docker"
export PATH="$work/bin:$PATH"
export DOCKER_HOST="unix://$work/docker.sock"
export DOCKER_BUILDKIT=0 # the classic builder's log says which steps came from cache
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

phase "make the Zipkin image (JRE + pinned jar)"
# stand_in IMAGE DOCKERFILE FILE NAME: builds IMAGE, a local stand-in for
# an image nothing can pull here, from DOCKERFILE on the Debian base, with
# FILE alone in its context, as NAME.
stand_in() {
    local image=$1 dockerfile=$2 file=$3 name=$4
    local context="$work/context-$name"
    mkdir -p "$context"
    cp "$file" "$context/$name"
    if ! "$docker" build --build-arg "BASE=$debian_image" -t "$image" \
        -f "$dockerfile" "$context" >"$context.log" 2>&1; then
        tail -40 "$context.log"
        exit 1
    fi
    grep -E '^(Step|Successfully tagged)' "$context.log" || true
    rm -rf "$context"
}

# The one image docker-compose.yml names without building it. The real one
# cannot be pulled here: ci/zipkin-image/Dockerfile makes it, under the same
# name, from the same Debian and the real server's jar, which
# ci/zipkin-server.sh fetches from Maven Central (once, then ~/.m2 has it)
# and checks against its pinned SHA-256. Only the jar is in the context.
mapfile -t pulled < <(compose config | sed -n 's/^    image: //p' | grep -v '^zipkin-b3-demo/' | sort -u)
[[ ${#pulled[@]} -eq 1 && ${pulled[0]} == openzipkin/zipkin:* ]] ||
    { echo "expected one image to pull, openzipkin/zipkin, not: ${pulled[*]}"; exit 1; }
zipkin_image=${pulled[0]}
jar=$(bash "$src/ci/zipkin-server.sh")
stand_in "$zipkin_image" "$src/ci/zipkin-image/Dockerfile" "$jar" zipkin-server.jar
echo "$zipkin_image: $("$docker" image ls --format '{{.Size}}' "$zipkin_image")," \
    "$(basename "$jar"), $("$docker" run --rm --entrypoint java "$zipkin_image" -version 2>&1 | head -1)"

phase "docker-compose up --build"
# up STACK LOG: `STACK up --build -d`, the whole log to $work/LOG, the
# steps on screen; a failed build stops here with its end (`|| true` on a
# pipe would hide the build's own status).
up() {
    local stack=$1 log="$work/$2"
    if ! "$stack" up --build -d >"$log" 2>&1; then
        grep -E '^(Step|Successfully tagged|Creating|Building)' "$log" || true
        tail -40 "$log"
        exit 1
    fi
    grep -E '^(Step|Successfully tagged|Creating|Building)' "$log" || true
}
up compose build.log

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
# How long the JVM took: from the container's start to the first health
# check that passed (Docker keeps the last 5 checks; `up` returned soon
# after that first one, since the services wait for it).
{ read -r started; read -r first_pass; } < <("$docker" inspect "$(compose ps -q zipkin)" |
    jq -r '.[0].State | .StartedAt, first(.Health.Log[] | select(.ExitCode == 0) | .End)')
echo "zipkin: healthy $(($(date -d "$first_pass" +%s%3N) - $(date -d "$started" +%s%3N))) ms" \
    "after its start (its image's HEALTHCHECK, every 5 s)"

# Zipkin's answers, from this run's start until now. Its queries are
# windows: endTs (ms, default now) and lookback (ms, default a day), and
# /api/v2/traces gives at most `limit` traces (default 10), newest first.
# Zipkin answers an upload with 202 and stores it after: every check below
# waits for what it reads, with a deadline.
window() { local now; now=$(date +%s%3N); echo "endTs=$now&lookback=$((now - run_started_ms + 1000))"; }
traces() { curl -sS --max-time 5 "$zipkin/api/v2/traces?limit=1000&$(window)"; }
trace_count() { traces | jq length; }
trace() { curl -sS --max-time 5 "$zipkin/api/v2/trace/$1"; }
links() { curl -sS --max-time 5 "$zipkin/api/v2/dependencies?$(window)" | jq -c 'sort_by(.parent, .child) | map([.parent, .child, .callCount])'; }

has_spans() { [[ $(trace "$1" | jq length) -ge $2 ]]; }
show_trace() {
    echo "Zipkin holds (service kind name id parentId):"
    jq -r 'sort_by(.timestamp)[] | [.localEndpoint.serviceName, (.kind // "INTERNAL"), .name, .id, (.parentId // "-")] | @tsv' <<<"$1"
}
# one_request_one_trace: one request to api_01, then, at Zipkin's API, its
# one trace of 9 spans from the three services, the only trace there, and
# the three links. Leaves the answer in $answer and the trace in $trace.
one_request_one_trace() {
    answer=$(curl -sS --max-time 20 "$api_01")
    echo "$answer" | jq -c '{service, trace_id, zipkin_url, downstream: (.downstream | keys)}'
    trace_id=$(echo "$answer" | jq -er .trace_id)
    wait_until 30 "9 spans of trace $trace_id in Zipkin" has_spans "$trace_id" 9
    trace=$(trace "$trace_id")
    show_trace "$trace"
    [[ $(echo "$trace" | jq length) -eq 9 ]] || { echo "expected 9 spans"; exit 1; }
    [[ $(trace_count) -eq 1 ]] || { echo "expected exactly one trace"; exit 1; }
    services=$(echo "$trace" | jq -c '[.[].localEndpoint.serviceName] | unique')
    [[ $services == '["api_01","api_02","api_03"]' ]] || { echo "services: $services"; exit 1; }
    links=$(links)
    echo "dependency links: $links"
    [[ $links == '[["api_01","api_02",1],["api_01","api_03",1],["api_02","api_03",1]]' ]] || { echo "unexpected links"; exit 1; }
}

phase "one request, one trace"
one_request_one_trace
# The answer's link opens the trace in Zipkin's UI.
curl -fsS --max-time 5 -o /dev/null "$(echo "$answer" | jq -er .zipkin_url)" ||
    { echo "the answer's zipkin_url does not open"; exit 1; }

phase "a click on the page, in Chromium"
# On the host, a headless Chromium opens api_01's page (published on 5001),
# clicks "Plain request" and waits until the row says the page's own span
# was sent (through api_01, to Zipkin); it prints the trace id. The trace
# is rooted at that span: the page's CLIENT span (service "browser") over
# the request's nine.
click_trace=$(cargo run --locked --quiet --manifest-path "$repo/Cargo.toml" \
    -p e2e --example compose_click -- "$api_01" "$zipkin")
echo "the click's trace: $click_trace"
wait_until 30 "10 spans of trace $click_trace in Zipkin" has_spans "$click_trace" 10
trace=$(trace "$click_trace")
show_trace "$trace"
[[ $(echo "$trace" | jq length) -eq 10 ]] || { echo "expected 10 spans"; exit 1; }
services=$(echo "$trace" | jq -c '[.[].localEndpoint.serviceName] | unique')
[[ $services == '["api_01","api_02","api_03","browser"]' ]] || { echo "services: $services"; exit 1; }
# The root RPC is two spans with no parentId and one id, by B3's join: the
# page's CLIENT span, and api_01's SERVER span. That one is not marked
# shared (docs/b3.md says why): Zipkin marks it so itself when it merges a
# trace, putting it under the CLIENT span of its id, which is the root.
roots=$(echo "$trace" | jq -c '[.[] | select(.parentId == null)] | sort_by(.kind)
    | map([.localEndpoint.serviceName, .kind, .name, .remoteEndpoint.serviceName])')
echo "spans with no parentId: $roots"
[[ $roots == '[["browser","CLIENT","plain","api_01"],["api_01","SERVER","get /",null]]' ]] ||
    { echo "expected the page's CLIENT span as the root, api_01's SERVER span joined to it"; exit 1; }
[[ $(echo "$trace" | jq '[.[] | select(.parentId == null) | .id] | unique | length') -eq 1 ]] ||
    { echo "the root's two halves must share their id"; exit 1; }
[[ $(trace_count) -eq 2 ]] || { echo "expected exactly two traces"; exit 1; }
links=$(links)
echo "dependency links: $links"
[[ $links == '[["api_01","api_02",2],["api_01","api_03",2],["api_02","api_03",2],["browser","api_01",1]]' ]] ||
    { echo "unexpected links"; exit 1; }

phase "load profile: traffic reaches Zipkin"
# The traffic service runs a few seconds at its 5 requests a second; traces
# must keep arriving, failed ones among them (the default mix fails one
# request in ten), and it must stop on SIGTERM with 0.
before=$(trace_count) # the request's and the click's
compose --profile load up --build -d traffic >"$work/load.log" 2>&1 || { tail -40 "$work/load.log"; exit 1; }
twenty_more_traces() { [[ $(trace_count) -ge $((before + 20)) ]]; }
wait_until 60 "20 traces from the traffic service" twenty_more_traces
compose --profile load stop traffic >/dev/null 2>&1
traffic_id=$(compose --profile load ps -q traffic)
compose --profile load logs --no-color traffic | tail -3
exit_code=$("$docker" inspect --format '{{.State.ExitCode}}' "$traffic_id")
[[ $exit_code == 0 ]] || { echo "the traffic service exited $exit_code on SIGTERM"; exit 1; }
red=$(traces | jq '[.[] | select(any(.[]; .tags.error))] | length')
echo "traces in Zipkin: $(trace_count), $red of them with an error span; traffic exited $exit_code"
[[ $red -ge 1 ]] || { echo "no failed request among the traffic's traces"; exit 1; }
compose --profile load rm -f traffic >/dev/null 2>&1

phase "image checks"
# No shell in any runtime image of ours: running one fails, and none is in
# the files. (The Zipkin image is Java on Debian, with a shell, as the real
# one on Alpine has.)
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
echo "  $zipkin_image (made here from Debian's JRE and the jar): $("$docker" image ls --format '{{.Size}}' "$zipkin_image")"

phase "a handler change keeps the dependency layer"
echo "// touched by ci/compose-e2e.sh" >>"$src/api_03/src/lib.rs"
compose build api_03 >"$work/rebuild.log" 2>&1 || { tail -40 "$work/rebuild.log"; exit 1; }
grep -A1 'RUN cargo chef cook' "$work/rebuild.log"
grep -A1 'RUN cargo chef cook' "$work/rebuild.log" | grep -q 'Using cache' ||
    { echo "the dependency layer was rebuilt"; exit 1; }
grep -A1 'RUN cargo build' "$work/rebuild.log" | grep -q 'Running in' ||
    { echo "the changed handler was not rebuilt"; exit 1; }
echo "dependency layer: cached; application layer: rebuilt"

phase "OTLP: stack down, Collector image made"
# docker-compose.yml's stack goes, images kept: the OTLP run starts from a
# fresh Zipkin, so what it finds there came over OTLP.
compose --profile load down --volumes --remove-orphans >"$work/down.log" 2>&1 || { tail -20 "$work/down.log"; exit 1; }
# The one image the override adds, which it pulls and nothing here can:
# made under its name from the Collector that ci/otel-collector.sh builds
# (in the repository's own target directory, where CI's OTLP step has
# built it already; the copy here has the same sources), the release the
# tag names.
mapfile -t added < <(compose_otlp config | sed -n 's/^    image: //p' | grep -v -e '^zipkin-b3-demo/' -e "^$zipkin_image\$" | sort -u)
[[ ${#added[@]} -eq 1 && ${added[0]} == otel/opentelemetry-collector-contrib:* ]] ||
    { echo "expected one image added by the override, the Collector's, not: ${added[*]}"; exit 1; }
collector_image=${added[0]}
built=$(sed -n 's/^[[:space:]]*Version:[[:space:]]*"\([^"]*\)".*/\1/p' "$src/ci/otel-collector/main.go")
[[ ${collector_image##*:} == "$built" ]] ||
    { echo "$collector_image, but ci/otel-collector/ builds $built"; exit 1; }
collector_bin=$(bash "$repo/ci/otel-collector.sh")
stand_in "$collector_image" "$src/ci/otel-collector-image/Dockerfile" "$collector_bin" otelcol-contrib
echo "$collector_image: $("$docker" image ls --format '{{.Size}}' "$collector_image"), Collector v$built" \
    "(ci/otel-collector/: otlp receiver, zipkin and debug exporters)"

phase "OTLP: up --build, with the OTLP override"
stack=compose_otlp
up compose_otlp otlp-up.log
collector_up() {
    local id
    id=$(compose_otlp ps -q otel-collector)
    [[ $("$docker" inspect --format '{{.State.Status}} {{.RestartCount}}' "$id") == "running 0" ]]
}
wait_until 120 "all four services healthy" healthy
wait_until 10 "the Collector running" collector_up
compose_otlp ps
id=$(compose_otlp ps -q otel-collector)
pid=$("$docker" inspect --format '{{.State.Pid}}' "$id")
ports=$("$docker" port "$id" | tr '\n' ' ')
echo "otel-collector: runs as uid $(awk '/^Uid:/ { print $3 }' "/proc/$pid/status")" \
    "(USER $("$docker" inspect --format '{{.Config.User}}' "$id")); published: ${ports:-none}"
[[ -z $ports ]] || { echo "the Collector must stay internal"; exit 1; }
compose_otlp logs --no-color otel-collector | grep -E 'Starting HTTP server|Everything is ready' || true

phase "OTLP: one request, through the Collector"
one_request_one_trace
# The Collector's mark: its zipkin exporter writes the instrumentation
# scope's name as the tag otel.library.name, which our v2 JSON never sends
# (e2e/tests/interop.rs reads the same mark).
scopes=$(echo "$trace" | jq -c '[.[].tags["otel.library.name"]] | unique')
echo "otel.library.name on the spans: $scopes"
[[ $(echo "$trace" | jq '[.[] | select(.tags["otel.library.name"] == null)] | length') -eq 0 ]] ||
    { echo "spans that did not come through the Collector"; exit 1; }

phase "OTLP: down"
compose_otlp down --volumes --remove-orphans >"$work/otlp-down.log" 2>&1 || { tail -20 "$work/otlp-down.log"; exit 1; }

phase "MySQL: the database's image made"
# The one image the override adds, Zipkin's own MariaDB image, which
# nothing here can pull: made under its name from Debian's MariaDB and the
# schema the pinned Zipkin jar carries (mysql.sql in its MySQL storage
# library), the one the servers of this run read and write.
mapfile -t added < <(compose_mysql config | sed -n 's/^    image: //p' | grep -v -e '^zipkin-b3-demo/' -e "^$zipkin_image\$" | sort -u)
[[ ${#added[@]} -eq 1 && ${added[0]} == ghcr.io/openzipkin/zipkin-mysql:* ]] ||
    { echo "expected one image added by the override, Zipkin's MariaDB, not: ${added[*]}"; exit 1; }
mysql_image=${added[0]}
library=$(unzip -Z1 "$jar" | grep '/zipkin-storage-mysql-v1-.*\.jar$')
unzip -q -o "$jar" "$library" -d "$work/zipkin-jar"
unzip -p "$work/zipkin-jar/$library" mysql.sql >"$work/mysql.sql"
stand_in "$mysql_image" "$src/ci/zipkin-mysql-image/Dockerfile" "$work/mysql.sql" mysql.sql
echo "$mysql_image: $("$docker" image ls --format '{{.Size}}' "$mysql_image"), Zipkin's schema from $(basename "$library")"

phase "MySQL: up --build, with the MySQL override"
stack=compose_mysql
up compose_mysql mysql-up.log
wait_until 120 "all four services healthy" healthy
compose_mysql ps

phase "MySQL: one request, one trace; Zipkin restarted, the trace kept"
one_request_one_trace
# Zipkin's storage is the database: a new Zipkin finds the trace and its
# links there.
compose_mysql restart zipkin >"$work/mysql-restart.log" 2>&1 || { tail -20 "$work/mysql-restart.log"; exit 1; }
wait_until 120 "all four services healthy" healthy
kept=$(trace "$trace_id" | jq length)
echo "after Zipkin's restart: $kept spans of $trace_id; links $(links)"
[[ $kept -eq 9 ]] || { echo "the restarted Zipkin lost the trace"; exit 1; }
[[ $(links) == '[["api_01","api_02",1],["api_01","api_03",1],["api_02","api_03",1]]' ]] ||
    { echo "the restarted Zipkin lost the links"; exit 1; }

phase "MySQL: down"
compose_mysql down --volumes --remove-orphans >"$work/mysql-down.log" 2>&1 || { tail -20 "$work/mysql-down.log"; exit 1; }
