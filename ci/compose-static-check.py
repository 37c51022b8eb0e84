#!/usr/bin/env python3
"""Static check of a merged compose configuration, for files CI cannot run.

CI's machine reaches no image registry, so docker-compose.elasticsearch.yml
is never started there. This reads the configuration that
`docker-compose -f A -f B ... config` prints (no Docker engine needed) and
asserts what has to hold for the stack to work once the images are pulled:

  crond-as-root   every zipkin-dependencies container runs BusyBox crond as
                  root, in the foreground. The image's Dockerfile
                  (openzipkin/zipkin-dependencies, docker/Dockerfile at
                  9fb4a5e7) switches to a non-root user and says: "Enable
                  cron by running with entrypoint: crond -f -d 8 (change
                  --user root)". At least one such container must exist.
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
                  version (a numeric tag, or a digest). Images that compose
                  builds here (a `build:` section) are exempt.

Usage (from anywhere):
  ci/compose-static-check.py                 # docker-compose.yml + the Elasticsearch override
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
DEFAULT_FILES = ["docker-compose.yml", "docker-compose.elasticsearch.yml"]

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
    if not jobs:
        yield False, "-", f"no service runs {JOB_IMAGE}: nothing writes the dependency graph"
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
        elif VERSION_TAG.fullmatch(tag):
            yield True, name, f"{image}: major version {VERSION_TAG.fullmatch(tag).group(1)}"
        else:
            yield False, name, f"{image}: tag {tag!r} is not a version; pin a major version"


RULES = [
    ("crond-as-root", crond_as_root),
    ("same-storage", same_storage),
    ("healthy-target", healthy_targets),
    ("major-pin", major_pin),
]


def check(config, quiet=False):
    """Runs every rule; returns the failures as a set of (rule, service, message)."""
    services = config.get("services") or {}
    failures = set()
    for rule, fn in RULES:
        for ok, service, message in fn(services):
            if not quiet or not ok:
                print(f"  [{'ok' if ok else 'FAIL'}] {rule:<15} {service}: {message}")
            if not ok:
                failures.add((rule, service, message))
    return failures


# --- self-test ------------------------------------------------------------------

OLD_OVERRIDE = "ci/testdata/docker-compose.elasticsearch.old.yml"

# (what it shows, extra override on top of the two real files or None,
#  files to use instead, expected failures as {(rule, service)})
CASES = [
    ("the current files pass", None, DEFAULT_FILES, set()),
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
]


def self_test():
    wrong = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (title, override, files, expected) in enumerate(CASES):
            if override is not None:
                path = os.path.join(tmp, f"case{i}.yml")
                with open(path, "w") as f:
                    f.write(override)
                files = DEFAULT_FILES + [path]
            print(f"\n- {title}\n  files: {' + '.join(files if override is None else DEFAULT_FILES)}")
            if override is not None:
                print("  plus this override:" + override.rstrip().replace("\n", "\n    | "))
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
                    help="compose file, relative to the repository (repeat; default: "
                         + " + ".join(DEFAULT_FILES) + ")")
    ap.add_argument("--self-test", action="store_true",
                    help="check the rules against the old override and built-in breakages")
    args = ap.parse_args()
    if args.self_test:
        if args.files:
            ap.error("--self-test takes no -f")
        return self_test()
    files = args.files or DEFAULT_FILES
    print(f"static check of the merged config of {' + '.join(files)}")
    failures = check(merged_config(files))
    if failures:
        print(f"FAILED: {len(failures)} check(s)")
        return 1
    print("all checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
