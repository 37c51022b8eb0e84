#!/usr/bin/env python3
"""Static check of a merged compose configuration, for files CI cannot run.

CI's machine reaches no image registry, so docker-compose.elasticsearch.yml
is never started there, and docker-compose.otlp.yml runs there only with a
local stand-in for the Collector's image. This reads the configuration that
`docker-compose -f A -f B ... config` prints (no Docker engine needed) and
asserts what has to hold for the stack to work once the images are pulled.
A rule that finds nothing to judge in a configuration says it does not
apply (the Collector's on the Elasticsearch override, the job's on the
OTLP one):

  crond-as-root   every zipkin-dependencies container runs BusyBox crond as
                  root, in the foreground. The image's Dockerfile
                  (openzipkin/zipkin-dependencies, docker/Dockerfile at
                  9fb4a5e7) switches to a non-root user and says: "Enable
                  cron by running with entrypoint: crond -f -d 8 (change
                  --user root)". At least one such container must exist
                  when Zipkin stores spans anywhere but in memory or
                  MySQL (there the links are Zipkin's own, on MySQL until
                  the job writes its table; elsewhere only the job
                  writes them).
  same-storage    every Zipkin server and every zipkin-dependencies
                  container name the same storage (STORAGE_TYPE, and the
                  settings that pick the cluster and the index). Otherwise
                  the job writes links where Zipkin never reads them.
  healthy-target  every `depends_on: {X: {condition: service_healthy}}`
                  target X has a health check: its own `healthcheck:`, or
                  one its image ships (IMAGE_HEALTHCHECKS below). Without
                  one, `up` stops (docker-compose 1.29: 'Service "X" is
                  missing a healthcheck configuration').
  major-pin       every image pulled from a registry is pinned to a major
                  version (a numeric tag, or a digest); a 0.x version to
                  its minor release at least, since 0.x releases may break.
                  Images that compose builds here (a `build:` section) are
                  exempt.
  env-documented  every environment variable that a service built here
                  sets is a row of the README's configuration table.
  otlp-wiring     every service built here that sets OTEL_* variables
                  sends where something listens: OTEL_TRACES_EXPORTER is
                  one the README lists; OTEL_EXPORTER_ZIPKIN_ENDPOINT names
                  a Zipkin service's /api/v2/spans (with `zipkin`; with
                  `otlp` too on api_01, whose relay sends the page's span
                  there, and wherever it is set); with `otlp`, the OTLP
                  endpoint is set, a base URL (the services add
                  /v1/traces) of a service this one depends on, on the
                  port that service's OTLP/HTTP receiver listens on (a
                  Collector's, read from its mounted config, or Zipkin's
                  9411 with its module).
  collector-config
                  every OpenTelemetry Collector reads the config mounted
                  for it: a bind mount, read-only, at the path its command
                  (or its image's CMD) names, of a file that is there; in
                  it, an OTLP/HTTP receiver on an address other containers
                  reach, a traces pipeline from it to a zipkin exporter
                  that names a Zipkin service's /api/v2/spans, and the
                  Collector's own metrics off or on a port not published.

Usage (from anywhere):
  ci/compose-static-check.py                 # docker-compose.yml + each override
  ci/compose-static-check.py -f A.yml -f B.yml
  ci/compose-static-check.py --self-test     # proves each rule bites

Exit status 0 when every check passes, 1 when one fails, 2 on a usage or
docker-compose error.
"""

import argparse
import os
import posixpath
import re
import shlex
import subprocess
import sys
import tempfile
from urllib.parse import urlsplit

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ES_FILES = ["docker-compose.yml", "docker-compose.elasticsearch.yml"]
OTLP_FILES = ["docker-compose.yml", "docker-compose.otlp.yml"]
MYSQL_FILES = ["docker-compose.yml", "docker-compose.mysql.yml"]
# What runs without -f: each override on top of docker-compose.yml.
DEFAULT_CONFIGS = [ES_FILES, OTLP_FILES, MYSQL_FILES]
README = os.path.join(REPO, "README.md")

# Images known to ship their own HEALTHCHECK, by repository (registry
# dropped: the same image is published to ghcr.io and docker.io, see
# openzipkin/zipkin build-bin/docker/docker_push). Each entry names the
# upstream Dockerfile that proves it.
IMAGE_HEALTHCHECKS = {
    # HEALTHCHECK --interval=5s --start-period=30s --timeout=5s CMD ["docker-healthcheck"]
    "openzipkin/zipkin": "openzipkin/zipkin docker/Dockerfile at dbdb14dd",
    # HEALTHCHECK --interval=1s --start-period=30s --timeout=5s CMD ["docker-healthcheck"]
    "openzipkin/zipkin-elasticsearch8":
        "openzipkin/zipkin docker/test-images/zipkin-elasticsearch8/Dockerfile at e2581c8d",
    # HEALTHCHECK --interval=1s --start-period=30s --timeout=5s CMD ["docker-healthcheck"]
    "openzipkin/zipkin-elasticsearch9":
        "openzipkin/zipkin docker/test-images/zipkin-elasticsearch9/Dockerfile at 84b94373",
    # HEALTHCHECK --interval=1s --start-period=30s --timeout=5s CMD ["docker-healthcheck"]
    "openzipkin/zipkin-mysql":
        "openzipkin/zipkin docker/test-images/zipkin-mysql/Dockerfile at 878ce2a1",
}
# Not listed, because its Dockerfile has no HEALTHCHECK: openzipkin/zipkin-dependencies.

ZIPKIN_IMAGES = {"openzipkin/zipkin", "openzipkin/zipkin-slim"}
JOB_IMAGE = "openzipkin/zipkin-dependencies"

# The settings, per STORAGE_TYPE, that must agree between Zipkin and the job:
# which cluster, and the index names (ES_INDEX prefix, default "zipkin", and
# ES_DATE_SEPARATOR, default "-", in both; the job's are read in
# ElasticsearchDependenciesJob.java at 62c0a38d). Only Elasticsearch, the
# storage this repository's files use; another type fails the check until a
# rule for it is written here.
STORAGE_KEYS = {
    "elasticsearch": ["ES_HOSTS", "ES_INDEX", "ES_DATE_SEPARATOR"],
}


# --- reading the merged configuration ---------------------------------------

def merged_config(files):
    """The configuration docker-compose merges from `files` (paths as given)."""
    cmd = ["docker-compose"]
    for f in files:
        cmd += ["-f", f]
    cmd.append("config")
    try:
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    except FileNotFoundError:
        print("compose-static-check: docker-compose is not installed "
              "(apt-get install docker-compose)", file=sys.stderr)
        sys.exit(2)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        print(f"compose-static-check: `{' '.join(cmd)}` failed", file=sys.stderr)
        sys.exit(2)
    return yaml.safe_load(out.stdout)


def split_image(ref):
    """'ghcr.io/openzipkin/zipkin:3' -> ('openzipkin/zipkin', '3', None)."""
    name, _, digest = ref.partition("@")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    if parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts), tag, digest or None


def repo_of(service):
    image = service.get("image")
    return split_image(image)[0] if image else None


def argv_of(value):
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):  # docker-compose config prints a map, but be lenient
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return env


def es_hosts(value):
    """ES_HOSTS as the set of host:port the job connects to.

    Follows the job's parseHosts (openzipkin/zipkin-dependencies,
    ElasticsearchDependenciesJob.java at 62c0a38d): a URL becomes host:port;
    anything else goes to the Elasticsearch-Hadoop connector as written,
    whose default port is 9200. A URL without a port is left as written:
    the job would use 80 or 443 there, so it only matches the same text.
    """
    hosts = set()
    for h in value.split(","):
        h = h.strip().lower()
        if h.startswith(("http://", "https://")):
            u = urlsplit(h)
            hosts.add(f"{u.hostname}:{u.port}" if u.port else h)
        else:
            hosts.add(h if ":" in h else h + ":9200")
    return hosts


# --- the rules ----------------------------------------------------------------
# Each rule yields (ok, service, message).

def crond_as_root(services):
    jobs = [n for n, s in services.items() if repo_of(s) == JOB_IMAGE]
    # Zipkin links the spans itself in memory, and on MySQL until the job
    # writes its table (docs/beyond-one-machine.md): only the other
    # storages need the job for a graph.
    stored = sorted(n for n, s in services.items() if repo_of(s) in ZIPKIN_IMAGES
                    and env_of(s).get("STORAGE_TYPE") not in (None, "mem", "mysql"))
    if not jobs and stored:
        yield False, "-", (f"no service runs {JOB_IMAGE}, and {', '.join(stored)} stores spans "
                           "outside memory: nothing writes the dependency graph")
    for name in jobs:
        s = services[name]
        user = str(s["user"]) if "user" in s else None
        argv = argv_of(s.get("entrypoint"))
        problems = []
        if user is None:
            problems.append("no `user:`, so it runs as the image's user zipkin-dependencies; "
                            "crond needs root (the image's Dockerfile: \"change --user root\")")
        elif user.split(":")[0] not in ("root", "0"):
            problems.append(f"user is {user!r}; crond needs root "
                            "(the image's Dockerfile: \"change --user root\")")
        if not argv:
            problems.append("no `entrypoint:`, so the image's start-zipkin-dependencies "
                            "runs the job once and exits; no cron")
        elif posixpath.basename(argv[0]) != "crond":
            problems.append(f"entrypoint {argv} does not start crond")
        elif "-f" not in argv[1:]:
            problems.append(f"entrypoint {argv} lacks -f: crond would fork into the "
                            "background and the container would exit")
        if problems:
            for p in problems:
                yield False, name, p
        else:
            yield True, name, f"user {user}, entrypoint {' '.join(argv)}"


def same_storage(services):
    zipkins = [n for n, s in services.items() if repo_of(s) in ZIPKIN_IMAGES]
    jobs = [n for n, s in services.items() if repo_of(s) == JOB_IMAGE]
    if not zipkins:
        yield False, "-", "no Zipkin server service (image openzipkin/zipkin or zipkin-slim)"
    for z in zipkins:
        ze = env_of(services[z])
        for j in jobs:
            je = env_of(services[j])
            zt, jt = ze.get("STORAGE_TYPE"), je.get("STORAGE_TYPE")
            if not zt or zt != jt:
                yield False, j, f"STORAGE_TYPE is {shown(jt)}, Zipkin's ({z}) is {shown(zt)}"
                continue
            if zt not in STORAGE_KEYS:
                yield False, j, f"STORAGE_TYPE {zt!r}: this check has no rule for it (only {', '.join(STORAGE_KEYS)})"
                continue
            bad = []
            for key in STORAGE_KEYS[zt]:
                zv, jv = ze.get(key), je.get(key)
                if key == "ES_HOSTS":
                    if not zv or not jv:
                        # Their defaults differ (Zipkin: localhost:9200, the
                        # job: 127.0.0.1), and either is the container itself.
                        bad.append(f"ES_HOSTS must be set on both: {j} has {shown(jv)}, {z} has {shown(zv)}")
                    elif es_hosts(zv) != es_hosts(jv):
                        bad.append(f"ES_HOSTS {jv!r} names other nodes than {z}'s {zv!r}")
                elif zv != jv:
                    bad.append(f"{key} is {shown(jv)}, {z}'s is {shown(zv)}")
            if bad:
                for b in bad:
                    yield False, j, b
            else:
                same = ", ".join(f"{k}={ze.get(k)}" for k in ["STORAGE_TYPE"] + STORAGE_KEYS[zt]
                                 if ze.get(k) is not None)
                yield True, j, f"same storage as {z}: {same}"


def shown(value):
    return "unset" if value is None else repr(value)


def healthcheck_of(service):
    hc = service.get("healthcheck")
    if not hc or hc.get("disable") or argv_of(hc.get("test")) in (["NONE"], []):
        return None
    return hc


def healthy_targets(services):
    for name in sorted(services):
        deps = services[name].get("depends_on") or {}
        if isinstance(deps, list):  # short form: condition service_started
            continue
        for target, how in sorted(deps.items()):
            if (how or {}).get("condition") != "service_healthy":
                continue
            t = services.get(target)
            if t is None:
                yield False, target, f"{name} waits for it to be healthy, but there is no such service"
            elif healthcheck_of(t):
                yield True, target, f"{name} waits for it; its own healthcheck: {argv_of(t['healthcheck']['test'])}"
            elif repo_of(t) in IMAGE_HEALTHCHECKS:
                yield True, target, f"{name} waits for it; its image's HEALTHCHECK, per {IMAGE_HEALTHCHECKS[repo_of(t)]}"
            else:
                how_hc = "disabled" if t.get("healthcheck") else "none"
                yield False, target, (f"{name} waits for it to be healthy, but it has no health check "
                                      f"(own: {how_hc}; image {t.get('image')!r} is not known to ship one)")


VERSION_TAG = re.compile(r"v?(\d+)(\.\d+)*")  # 3, 3.5, 3.5.1, v3


def major_pin(services):
    for name in sorted(services):
        s = services[name]
        image = s.get("image")
        if "build" in s:
            yield True, name, f"built here ({image or 'no image name'}), not pulled"
            continue
        if not image:
            yield False, name, "no image and no build"
            continue
        _, tag, digest = split_image(image)
        if digest:
            yield True, name, f"{image}: pinned by digest"
        elif tag is None:
            yield False, name, f"{image}: no tag, so `latest`; pin a major version"
        elif VERSION_TAG.fullmatch(tag) and VERSION_TAG.fullmatch(tag).group(1).lstrip("v") == "0":
            # Before 1.0 every minor release may break (semantic versioning's
            # rule 4): the Collector's contrib images, 0.x, are pinned by it.
            if tag.lstrip("v").count(".") >= 1:
                yield True, name, f"{image}: version {tag} (0.x: pinned to its minor release or finer)"
            else:
                yield False, name, f"{image}: tag {tag!r} is 0.x, where a minor release may break; pin the release"
        elif VERSION_TAG.fullmatch(tag):
            yield True, name, f"{image}: major version {VERSION_TAG.fullmatch(tag).group(1)}"
        else:
            yield False, name, f"{image}: tag {tag!r} is not a version; pin a major version"


# --- OTLP: the services, the Collector, Zipkin ------------------------------

COLLECTOR_IMAGES = {
    # ENTRYPOINT ["/otelcol-contrib"]
    # CMD ["--config", "/etc/otelcol-contrib/config.yaml"]
    "otel/opentelemetry-collector-contrib": (
        ["--config", "/etc/otelcol-contrib/config.yaml"],
        "open-telemetry/opentelemetry-collector-releases "
        "distributions/otelcol-contrib/Dockerfile at v0.148.0"),
    # ENTRYPOINT ["/otelcol"] CMD ["--config", "/etc/otelcol/config.yaml"]
    "otel/opentelemetry-collector": (
        ["--config", "/etc/otelcol/config.yaml"],
        "open-telemetry/opentelemetry-collector-releases "
        "distributions/otelcol/Dockerfile at v0.148.0"),
}
# The README's OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_PROTOCOL rows.
EXPORTERS = {"zipkin", "otlp", "none"}
OTLP_PROTOCOLS = {"http/protobuf", "http/json"}
ZIPKIN_PORT = 9411  # Zipkin's API, and OTLP/HTTP's with its module
# The binary (build arg SERVICE) whose relay forwards the page's own span
# to OTEL_EXPORTER_ZIPKIN_ENDPOINT, whichever exporter (docs/otlp.md).
PAGE_RELAYS = {"api_01"}
# The Collector's defaults at v0.148.0: the OTLP/HTTP receiver on
# localhost:4318 (receiver/otlpreceiver/factory.go), its own metrics on
# localhost:8888 (service/telemetry/otelconftelemetry/factory.go).
OTLP_HTTP_DEFAULT = "localhost:4318"
COLLECTOR_METRICS_PORT = 8888


def built_here(service):
    return "build" in service


def readme_variables():
    """Every variable named in the first column of the README's configuration table."""
    names, in_section = set(), False
    with open(README) as f:
        for line in f:
            if line.startswith("## "):
                in_section = line.strip() == "## Configuration"
            elif in_section and line.startswith("|"):
                first = line.split("|")[1]
                names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first))
    return names


def env_documented(services):
    documented = readme_variables()
    if not documented:
        yield False, "-", "found no variable in the README's configuration table"
        return
    for name in sorted(services):
        s = services[name]
        if not built_here(s):
            continue
        env = env_of(s)
        missing = sorted(k for k in env if k not in documented)
        if missing:
            yield False, name, (f"sets {', '.join(missing)}, which the README's configuration "
                                "table does not list: the services do not read it, or users "
                                "cannot look it up")
        elif env:
            yield True, name, f"all {len(env)} variables it sets are in the README's table"


def depends_closure(services, name):
    """Every service `name` waits for, directly or through another."""
    seen, todo = set(), [name]
    while todo:
        deps = services.get(todo.pop(), {}).get("depends_on") or {}
        for d in deps:  # a list, or a map of conditions
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def bind_mounts(service):
    """(source, target, read_only) of each bind mount, short or long syntax."""
    for v in service.get("volumes") or []:
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) >= 2 and parts[0].startswith(("/", ".", "~")):
                ro = len(parts) > 2 and "ro" in parts[2].split(",")
                yield parts[0], parts[1], ro
        elif v.get("type") == "bind":
            yield v.get("source"), v.get("target"), bool(v.get("read_only"))


def collector_config_path(service):
    """Where the Collector reads its config, from `command` or the image's CMD."""
    argv = argv_of(service.get("command"))
    if argv is None:
        argv = COLLECTOR_IMAGES[repo_of(service)][0]
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def collector_config(service):
    """(the parsed config mounted where the Collector reads it, None) or (None, why not)."""
    path = collector_config_path(service)
    if path is None or path.startswith(("env:", "http:", "https:", "yaml:")):
        return None, f"its --config is {path!r}, not a file this check can follow"
    path = path.removeprefix("file:")
    mounts = [m for m in bind_mounts(service) if m[1] == path]
    if not mounts:
        return None, (f"nothing is mounted at {path}, where it reads its config: it runs "
                      "the image's own (or none), not this repository's")
    source, _, ro = mounts[0]
    if not ro:
        return None, (f"{source} is mounted at {path} read-write: the Collector only reads "
                      "it, mount it read-only (`:ro`)")
    try:
        with open(source) as f:
            return yaml.safe_load(f) or {}, None
    except (OSError, yaml.YAMLError) as e:
        return None, f"{source}, mounted at {path}, cannot be read: {e}"


def component(section, kind):
    """The components of a config section of one kind: `zipkin` and `zipkin/2` alike."""
    return {k: v or {} for k, v in (section or {}).items() if k.split("/")[0] == kind}


def otlp_http_endpoint(config):
    """host:port of the OTLP/HTTP receiver of the traces pipeline, or None."""
    receivers = component(config.get("receivers"), "otlp")
    traces = ((config.get("service") or {}).get("pipelines") or {}).get("traces") or {}
    for name in traces.get("receivers") or []:
        if name in receivers:
            http = ((receivers[name].get("protocols") or {}).get("http"))
            if http is not None:
                return (http or {}).get("endpoint") or OTLP_HTTP_DEFAULT
    return None


def split_host_port(endpoint):
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else None


def zipkin_url_problem(services, url, what):
    """Why `url` is not a Zipkin service's /api/v2/spans, or None."""
    u = urlsplit(url or "")
    target = services.get(u.hostname or "")
    if u.scheme != "http":
        return f"{what} {url!r} is not plain http (the services are built without TLS)"
    if target is None or repo_of(target) not in ZIPKIN_IMAGES:
        return f"{what} {url!r} names no Zipkin service of this configuration"
    if (u.port or 80) != ZIPKIN_PORT or u.path.rstrip("/") != "/api/v2/spans":
        return f"{what} {url!r} is not Zipkin's http://{u.hostname}:{ZIPKIN_PORT}/api/v2/spans"
    return None


def otlp_wiring(services):
    for name in sorted(services):
        s = services[name]
        env = env_of(s)
        if not built_here(s) or not any(k.startswith("OTEL_") for k in env):
            continue
        exporter = env.get("OTEL_TRACES_EXPORTER", "zipkin")  # the README's default
        if exporter not in EXPORTERS:
            yield False, name, (f"OTEL_TRACES_EXPORTER is {exporter!r}; the README lists "
                                f"{', '.join(sorted(EXPORTERS))}")
            continue
        if exporter == "none":
            yield True, name, "OTEL_TRACES_EXPORTER=none: nothing exported"
            continue
        problems = []
        zipkin_url = env.get("OTEL_EXPORTER_ZIPKIN_ENDPOINT")
        relay = ((s.get("build") or {}).get("args") or {}).get("SERVICE") in PAGE_RELAYS
        # With zipkin, the service's spans go there; with otlp, the page's,
        # through api_01's relay.
        if exporter == "zipkin" or relay or zipkin_url is not None:
            why = zipkin_url_problem(services, zipkin_url, "OTEL_EXPORTER_ZIPKIN_ENDPOINT")
            if why:
                problems.append(why + ("" if exporter == "zipkin" else
                                       " (with otlp, the page's own span still goes there)"))
        sent = f"spans to {zipkin_url}"
        if exporter == "otlp":
            for var in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
                if var in env and env[var] not in OTLP_PROTOCOLS:
                    problems.append(f"{var} is {env[var]!r}; the services speak "
                                    f"{' or '.join(sorted(OTLP_PROTOCOLS))}")
            base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")  # used as given, and wins
            if url is None and base is not None:
                url = base.rstrip("/") + "/v1/traces"
                if urlsplit(base).path.rstrip("/").endswith("/v1/traces"):
                    problems.append(f"OTEL_EXPORTER_OTLP_ENDPOINT {base!r} ends in /v1/traces, "
                                    f"which the services add to it: they would POST to {url}")
                    url = base  # judge the rest as meant
            if url is None:
                problems.append("OTEL_TRACES_EXPORTER=otlp without OTEL_EXPORTER_OTLP_ENDPOINT: "
                                "the default, localhost:4318, is the container itself")
            else:
                problems += otlp_target_problems(services, name, url)
                sent = f"its spans to {url}" + (f", the page's to {zipkin_url}" if relay else "")
        if problems:
            for p in problems:
                yield False, name, p
        else:
            yield True, name, f"{exporter}: {sent}"


def otlp_target_problems(services, name, url):
    u = urlsplit(url)
    host, port = u.hostname or "", u.port or 80
    target = services.get(host)
    if u.scheme != "http":
        return [f"OTLP endpoint {url!r} is not plain http (the services are built without TLS)"]
    if target is None:
        return [f"OTLP endpoint {url!r} names no service of this configuration"]
    problems = []
    if host not in depends_closure(services, name):
        problems.append(f"it sends OTLP to {host} but does not depend on it: "
                        "it may start, and send, before that is there")
    if u.path.rstrip("/") != "/v1/traces":
        problems.append(f"OTLP endpoint {url!r}: an OTLP/HTTP receiver takes traces at /v1/traces")
    if repo_of(target) in ZIPKIN_IMAGES:
        if port != ZIPKIN_PORT:
            problems.append(f"OTLP endpoint {url!r}: Zipkin's OTLP module listens on {ZIPKIN_PORT}")
    elif repo_of(target) in COLLECTOR_IMAGES:
        # A config that cannot be read, or has no such receiver, is
        # collector-config's failure: reported there, once.
        config, _ = collector_config(target)
        listen = otlp_http_endpoint(config) if config else None
        if listen is not None and split_host_port(listen)[1] != port:
            problems.append(f"OTLP endpoint {url!r}: {host}'s OTLP/HTTP receiver listens on "
                            f"{listen}, not port {port}")
    else:
        problems.append(f"OTLP endpoint {url!r}: {host} ({target.get('image')}) is neither a "
                        "Collector nor Zipkin, so nothing here says it takes OTLP")
    return problems


def collector_config_rule(services):
    for name in sorted(services):
        s = services[name]
        if repo_of(s) not in COLLECTOR_IMAGES:
            continue
        config, why = collector_config(s)
        if config is None:
            yield False, name, why
            continue
        problems = []
        listen = otlp_http_endpoint(config)
        if listen is None:
            problems.append("its traces pipeline has no otlp receiver with `http`")
        elif split_host_port(listen)[0] in ("localhost", "127.0.0.1", "::1"):
            problems.append(f"its OTLP/HTTP receiver listens on {listen}: only inside its own "
                            "container, where no service sends from (use 0.0.0.0)")
        pipeline = ((config.get("service") or {}).get("pipelines") or {}).get("traces") or {}
        zipkins = component(config.get("exporters"), "zipkin")
        used = [e for e in pipeline.get("exporters") or [] if e in zipkins]
        if not used:
            problems.append("its traces pipeline has no zipkin exporter: nothing reaches Zipkin")
        for e in used:
            why = zipkin_url_problem(services, zipkins[e].get("endpoint"), f"exporter {e}'s endpoint")
            if why:
                problems.append(why)
        metrics = ((config.get("service") or {}).get("telemetry") or {}).get("metrics") or {}
        if metrics.get("level") != "none":
            published = {str(p.get("target") if isinstance(p, dict) else str(p).split(":")[-1])
                         for p in s.get("ports") or []}
            if str(COLLECTOR_METRICS_PORT) in published:
                problems.append(f"its own metrics are on and port {COLLECTOR_METRICS_PORT} is "
                                "published: turn them off (service.telemetry.metrics.level: none)")
        if problems:
            for p in problems:
                yield False, name, p
        else:
            mount = [m for m in bind_mounts(s) if m[1] == collector_config_path(s)][0]
            yield True, name, (f"reads {os.path.relpath(mount[0], REPO)} (read-only at {mount[1]}): "
                               f"OTLP/HTTP on {listen} -> zipkin "
                               f"{', '.join(zipkins[e]['endpoint'] for e in used)}; own metrics "
                               f"{'off' if metrics.get('level') == 'none' else 'not published'}")


RULES = [
    ("crond-as-root", crond_as_root),
    ("same-storage", same_storage),
    ("healthy-target", healthy_targets),
    ("major-pin", major_pin),
    ("env-documented", env_documented),
    ("otlp-wiring", otlp_wiring),
    ("collector-config", collector_config_rule),
]


def check(config, quiet=False):
    """Runs every rule; returns the failures as a set of (rule, service, message)."""
    services = config.get("services") or {}
    failures = set()
    for rule, fn in RULES:
        judged = False
        for ok, service, message in fn(services):
            judged = True
            if not quiet or not ok:
                print(f"  [{'ok' if ok else 'FAIL'}] {rule:<16} {service}: {message}")
            if not ok:
                failures.add((rule, service, message))
        if not judged and not quiet:
            print(f"  [--] {rule:<16} does not apply: nothing here for it to judge")
    return failures


# --- self-test ------------------------------------------------------------------

OLD_OVERRIDE = "ci/testdata/docker-compose.elasticsearch.old.yml"

COLLECTOR_CONFIG = "otel-collector.yaml"

# (what it shows, extra override or None, files, expected failures as
#  {(rule, service)}, and optionally variants of COLLECTOR_CONFIG for the
#  override to mount: {file name: (text in it, replaced by)}). The override
# goes on top of `files`, which are ES_FILES when None; with no override,
# `files` are the whole configuration. In an override, {tmp} is the
# directory the variants are written to.
CASES = [
    ("the current files pass", None, ES_FILES, set()),
    ("Zipkin on MySQL with no job passes: it links the spans itself there", None,
     MYSQL_FILES, set()),
    ("Zipkin on Cassandra with no job fails: only the job would write its links", """
services:
  zipkin:
    environment:
      STORAGE_TYPE: cassandra3
""", MYSQL_FILES, {("crond-as-root", "-")}),
    ("the old override (64a8f2f) fails: crond as the image's user", None,
     ["docker-compose.yml", OLD_OVERRIDE], {("crond-as-root", "dependencies")}),
    ("crond as root but without -f", """
services:
  dependencies:
    entrypoint: /usr/sbin/crond -d 8
""", None, {("crond-as-root", "dependencies")}),
    ("Zipkin's example's ES_HOSTS for the job (no port) is the same node", """
services:
  dependencies:
    environment:
      ES_HOSTS: elasticsearch
""", None, set()),
    ("the job reads another cluster", """
services:
  dependencies:
    environment:
      ES_HOSTS: http://other-es:9200
""", None, {("same-storage", "dependencies")}),
    ("the job reads another index prefix", """
services:
  dependencies:
    environment:
      ES_INDEX: traces
""", None, {("same-storage", "dependencies")}),
    ("a service_healthy target whose image is not known to have a health check", """
services:
  elasticsearch:
    image: example.invalid/search:8
""", None, {("healthy-target", "elasticsearch")}),
    ("waiting for the job to be healthy: neither it nor its image has a health check", """
services:
  zipkin:
    depends_on:
      dependencies:
        condition: service_healthy
""", None, {("healthy-target", "dependencies")}),
    ("images not pinned to a major version", """
services:
  elasticsearch:
    image: ghcr.io/openzipkin/zipkin-elasticsearch8
  dependencies:
    image: ghcr.io/openzipkin/zipkin-dependencies:latest
""", None, {("major-pin", "elasticsearch"), ("major-pin", "dependencies")}),

    # docker-compose.otlp.yml
    ("the OTLP override passes", None, OTLP_FILES, set()),
    ("both overrides at once pass", None, ES_FILES + ["docker-compose.otlp.yml"], set()),
    ("Zipkin's own OTLP module instead of the Collector (the override's header)", """
services:
  api_01: {environment: {OTEL_EXPORTER_OTLP_ENDPOINT: "http://zipkin:9411"}}
  api_02: {environment: {OTEL_EXPORTER_OTLP_ENDPOINT: "http://zipkin:9411"}}
  api_03: {environment: {OTEL_EXPORTER_OTLP_ENDPOINT: "http://zipkin:9411"}}
""", OTLP_FILES, set()),
    ("a service sets a variable the README's table lacks (and the services do not read)", """
services:
  api_02:
    environment:
      OTEL_EXPORTER_OTLP_INSECURE: "true"
""", OTLP_FILES, {("env-documented", "api_02")}),
    ("the OTLP endpoint given with /v1/traces, which the services add", """
services:
  api_01:
    environment:
      OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4318/v1/traces
""", OTLP_FILES, {("otlp-wiring", "api_01")}),
    ("the OTLP endpoint on the Collector's gRPC port, where its config has no receiver", """
services:
  api_03:
    environment:
      OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4317
""", OTLP_FILES, {("otlp-wiring", "api_03")}),
    ("over OTLP, the page's span sent to the container itself", """
services:
  api_01:
    environment:
      OTEL_EXPORTER_ZIPKIN_ENDPOINT: http://localhost:9411/api/v2/spans
""", OTLP_FILES, {("otlp-wiring", "api_01")}),
    ("an exporter the services do not have", """
services:
  api_02:
    environment:
      OTEL_TRACES_EXPORTER: jaeger
""", OTLP_FILES, {("otlp-wiring", "api_02")}),
    ("the Collector's config mounted read-write", """
services:
  otel-collector:
    volumes:
      - ./otel-collector.yaml:/etc/otelcol-contrib/config.yaml
""", OTLP_FILES, {("collector-config", "otel-collector")}),
    ("the Collector told to read a config where none is mounted", """
services:
  otel-collector:
    command: ["--config", "/etc/otelcol/config.yaml"]
""", OTLP_FILES, {("collector-config", "otel-collector")}),
    ("the Collector's OTLP receiver on localhost, out of the services' reach", """
services:
  otel-collector:
    volumes:
      - {tmp}/localhost.yaml:/etc/otelcol-contrib/config.yaml:ro
""", OTLP_FILES, {("collector-config", "otel-collector")},
     {"localhost.yaml": ("endpoint: 0.0.0.0:4318", "endpoint: localhost:4318")}),
    ("the Collector's zipkin exporter to its own container", """
services:
  otel-collector:
    volumes:
      - {tmp}/zipkin-here.yaml:/etc/otelcol-contrib/config.yaml:ro
""", OTLP_FILES, {("collector-config", "otel-collector")},
     {"zipkin-here.yaml": ("http://zipkin:9411/api/v2/spans", "http://localhost:9411/api/v2/spans")}),
    ("the Collector's own metrics on, and their port published", """
services:
  otel-collector:
    ports:
      - "8888:8888"
    volumes:
      - {tmp}/metrics.yaml:/etc/otelcol-contrib/config.yaml:ro
""", OTLP_FILES, {("collector-config", "otel-collector")},
     {"metrics.yaml": ("level: none", "level: basic")}),
    ("the Collector's image not pinned", """
services:
  otel-collector:
    image: otel/opentelemetry-collector-contrib:latest
""", OTLP_FILES, {("major-pin", "otel-collector")}),
    ("the Collector's image pinned to 0, under which any release may break", """
services:
  otel-collector:
    image: otel/opentelemetry-collector-contrib:0
""", OTLP_FILES, {("major-pin", "otel-collector")}),
    ("the services wait for the Collector to be healthy: its image has no health check", """
services:
  api_03:
    depends_on:
      otel-collector:
        condition: service_healthy
""", OTLP_FILES, {("healthy-target", "otel-collector")}),
]


def self_test():
    wrong = 0
    with open(os.path.join(REPO, COLLECTOR_CONFIG)) as f:
        collector_text = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (title, override, files, expected, *variants) in enumerate(CASES):
            for name, (old, new) in (variants[0] if variants else {}).items():
                assert old in collector_text, f"{COLLECTOR_CONFIG} no longer holds {old!r}"
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(collector_text.replace(old, new))
            shown_files = files
            if override is not None:
                path = os.path.join(tmp, f"case{i}.yml")
                with open(path, "w") as f:
                    f.write(override.replace("{tmp}", tmp))
                shown_files = files or ES_FILES
                files = shown_files + [path]
            print(f"\n- {title}\n  files: {' + '.join(shown_files)}")
            if override is not None:
                print("  plus this override:" + override.rstrip().replace("\n", "\n    | "))
            for name, (old, new) in (variants[0] if variants else {}).items():
                print(f"  with {{tmp}}/{name}: {COLLECTOR_CONFIG} with {old!r} -> {new!r}")
            got = {(rule, svc) for rule, svc, _ in check(merged_config(files), quiet=True)}
            if got == expected:
                print(f"  as expected: {'passes' if not expected else 'fails ' + ', '.join(f'{r} ({s})' for r, s in sorted(expected))}")
            else:
                wrong += 1
                print(f"  WRONG: expected failures {sorted(expected) or 'none'}, got {sorted(got) or 'none'}")
    print(f"\nself-test: {len(CASES) - wrong} of {len(CASES)} cases as expected")
    return 1 if wrong else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-f", dest="files", action="append", metavar="FILE",
                    help="compose file, relative to the repository (repeat; default: each of "
                         + ", ".join(" + ".join(c) for c in DEFAULT_CONFIGS) + " in turn)")
    ap.add_argument("--self-test", action="store_true",
                    help="check the rules against the old override and built-in breakages")
    args = ap.parse_args()
    if args.self_test:
        if args.files:
            ap.error("--self-test takes no -f")
        return self_test()
    failed = 0
    for files in [args.files] if args.files else DEFAULT_CONFIGS:
        print(f"static check of the merged config of {' + '.join(files)}")
        failures = check(merged_config(files))
        if failures:
            print(f"FAILED: {len(failures)} check(s)\n")
            failed += len(failures)
        else:
            print("all checks pass\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
