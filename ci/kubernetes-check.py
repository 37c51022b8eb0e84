#!/usr/bin/env python3
"""Semantic check of the rendered Kubernetes manifests (deploy/kubernetes/).

No cluster is reachable from this project's machines, so the manifests are
rendered (`kubectl kustomize`) and validated against Kubernetes' schemas
(ci/kubernetes.sh), never applied. A schema says a manifest is well formed,
not that the demo works; this reads the same renders and asserts what has
to hold for that. A rule that finds nothing to judge in a render says so.

  probes           every service container (api_01, api_02, api_03) has a
                   readiness and a liveness probe (and a startup probe, if
                   any) that exec the binary's own health check,
                   ["/usr/local/bin/service", "healthcheck"]: the image is
                   distroless, with no shell, curl or wget. The check asks
                   127.0.0.1:$PORT, so PORT (set, or the README's default
                   for that service) must be a port the container declares.
  grace-period     a service pod's terminationGracePeriodSeconds (30 when
                   unset) covers the preStop pause, the longest request
                   (REQUEST_TIMEOUT_MS, set or the README's default) and the
                   last span upload (OTEL_BSP_EXPORT_TIMEOUT, likewise):
                   else the kubelet kills requests in flight and the spans
                   still queued.
  prestop-pause    every service container pauses in preStop with
                   Kubernetes' own `sleep` action (the image has no `sleep`
                   binary to exec), so that it leaves its Service's
                   endpoints before SIGTERM stops it accepting.
  env-documented   every environment variable that a container of ours (an
                   image built here: the services and traffic) sets is a
                   row of the README's configuration table.
  network-graph    the NetworkPolicies, evaluated against the pods' labels
                   and ports (the default deny included), allow exactly the
                   demo's call graph for this render, plus DNS to kube-dns
                   from every pod: no connection more, none less.
  security         every container (init containers too) runs as a non-root
                   uid (ours as the image's 65532), with a read-only root
                   filesystem, no privilege escalation, every capability
                   dropped and the runtime's seccomp profile; no pod mounts
                   a service account token or shares the node's namespaces;
                   the Namespace enforces Pod Security "restricted".
  image-pin        every image is pinned to an exact version (x.y.z, or a
                   digest): no `latest`, no tag-less image, 0.x not left to
                   float. Ours are never pulled (`kind load` puts them on
                   the nodes; no registry has them).
  pdb-hpa          every Deployment has one PodDisruptionBudget that
                   selects its pods and lets a drain proceed; every service
                   has an autoscaling/v2 HorizontalPodAutoscaler on CPU,
                   with at least 2 replicas, and its Deployment leaves
                   `replicas` to it.
  downstream-urls  every URL a container of ours is given (callees, Zipkin,
                   the OTLP receiver, traffic's target) names a Service of
                   this render on one of its ports, whose pods run what the
                   variable expects and declare the port it targets; and
                   none that a service needs is left unset (its default is
                   localhost: the pod itself).
  resources        every container requests CPU and memory and has a
                   memory limit no lower than its request.
  same-storage     every zipkin-dependencies container reads the store that
                   Zipkin writes (STORAGE_TYPE and the MYSQL_* settings):
                   otherwise the dependency graph stays empty.
  collector-config every OpenTelemetry Collector reads a ConfigMap, mounted
                   where its image's command looks for its config, whose
                   content is the repository's otel-collector.yaml byte for
                   byte (kustomize cannot read the original from outside
                   the overlay, so the overlay holds a copy), with an
                   OTLP/HTTP receiver on the port the Collector declares and
                   a zipkin exporter that names the zipkin Service.

Usage (from anywhere):
  ci/kubernetes-check.py                   # renders base and each overlay
  ci/kubernetes-check.py DIR/store.yaml    # renders made elsewhere; each
                                           # file is named after its overlay
  ci/kubernetes-check.py --self-test [DIR/base.yaml ...]
                                           # proves each rule bites, on
                                           # copies of the renders

Exit status 0 when every check passes, 1 when one fails, 2 on a usage or
kubectl error.
"""

import argparse
import copy
import importlib.util
import ipaddress
import math
import os
import re
import subprocess
import sys
from urllib.parse import urlsplit

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUBE_DIR = os.path.join(REPO, "deploy", "kubernetes")
README = os.path.join(REPO, "README.md")
COLLECTOR_CONFIG = os.path.join(REPO, "otel-collector.yaml")
# What runs without arguments: the base and each overlay, by name.
RENDERS = {
    "base": "base",
    "store": "overlays/store",
    "load": "overlays/load",
    "otlp": "overlays/otlp",
}

# The compose check reads the README's configuration table and a Collector
# config the same way; one reader of each, imported (its file name has
# dashes, so by path), leaving no __pycache__ in ci/.
sys.dont_write_bytecode = True
_spec = importlib.util.spec_from_file_location(
    "compose_static_check", os.path.join(REPO, "ci", "compose-static-check.py"))
compose_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compose_check)

# Images built here (the Dockerfile, build arg SERVICE), by repository.
OUR_REPOSITORY = "zipkin-b3-demo/"
SERVICES = {"api_01", "api_02", "api_03"}
HEALTHCHECK = ["/usr/local/bin/service", "healthcheck"]
OUR_UID = 65532  # the Dockerfile's USER 65532:65532
ZIPKIN_IMAGES = {"openzipkin/zipkin", "openzipkin/zipkin-slim"}
DEPENDENCIES_IMAGE = "openzipkin/zipkin-dependencies"
# Where each Collector image reads its config: ENTRYPOINT and CMD of its
# Dockerfile (compose-static-check.py names the source).
COLLECTOR_CONFIG_PATHS = {
    repo: args[1] for repo, (args, _) in compose_check.COLLECTOR_IMAGES.items()
}
ZIPKIN_PORT = 9411
# The callees each service calls, by the variable that says where.
CALLEES = {
    "api_01": {"API_02_URL": "api_02", "API_03_URL": "api_03"},
    "api_02": {"API_03_URL": "api_03"},
    "api_03": {},
}
# Kubernetes' default when terminationGracePeriodSeconds is unset.
DEFAULT_GRACE_SECONDS = 30
LABEL = "app.kubernetes.io/name"

# The connections each render must allow, as (from, to, "PROTO/port"), by
# the pods' app.kubernetes.io/name; OUTSIDE is anything not in the
# namespace (browsers, other namespaces). DNS to kube-dns from every pod is
# added to each (dns_edges below): the one extra.
OUTSIDE = "(outside)"
KUBE_DNS = "kube-dns"
BASE_GRAPH = {
    (OUTSIDE, "api-01", "TCP/5001"),
    (OUTSIDE, "zipkin", "TCP/9411"),
    ("api-01", "api-02", "TCP/5002"),
    ("api-01", "api-03", "TCP/5003"),
    ("api-02", "api-03", "TCP/5003"),
    ("api-01", "zipkin", "TCP/9411"),
    ("api-02", "zipkin", "TCP/9411"),
    ("api-03", "zipkin", "TCP/9411"),
}
EXPECTED_GRAPHS = {
    "base": BASE_GRAPH,
    "store": BASE_GRAPH | {
        ("zipkin", "mariadb", "TCP/3306"),
        ("zipkin-dependencies", "mariadb", "TCP/3306"),
    },
    "load": BASE_GRAPH | {("traffic", "api-01", "TCP/5001")},
    # The services' spans go to the Collector, which sends them on; api-01
    # still sends the page's span to Zipkin (docs/otlp.md).
    "otlp": (BASE_GRAPH - {("api-02", "zipkin", "TCP/9411"), ("api-03", "zipkin", "TCP/9411")}) | {
        ("api-01", "otel-collector", "TCP/4318"),
        ("api-02", "otel-collector", "TCP/4318"),
        ("api-03", "otel-collector", "TCP/4318"),
        ("otel-collector", "zipkin", "TCP/9411"),
    },
}


# --- reading the renders ------------------------------------------------------

def render(path):
    """`kubectl kustomize` of deploy/kubernetes/PATH, parsed."""
    cmd = ["kubectl", "kustomize", os.path.join(KUBE_DIR, path)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        print("kubernetes-check: kubectl is not installed", file=sys.stderr)
        sys.exit(2)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        print(f"kubernetes-check: `{' '.join(cmd)}` failed", file=sys.stderr)
        sys.exit(2)
    return [o for o in yaml.safe_load_all(out.stdout) if o]


def load(path):
    with open(path) as f:
        return [o for o in yaml.safe_load_all(f) if o]


def of_kind(objs, kind):
    return [o for o in objs if o.get("kind") == kind]


def name_of(obj):
    return obj["metadata"]["name"]


def pod_templates(objs):
    """(workload object, pod template) of every object that makes pods."""
    for o in objs:
        kind = o.get("kind")
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield o, o["spec"]["template"]
        elif kind == "CronJob":
            yield o, o["spec"]["jobTemplate"]["spec"]["template"]


def pod_name(template, workload):
    """A pod's name in this check: its app.kubernetes.io/name label."""
    return (template.get("metadata", {}).get("labels") or {}).get(LABEL, name_of(workload))


def containers(spec, init=False):
    found = list(spec.get("containers") or [])
    return found + list(spec.get("initContainers") or []) if init else found


def image_repo(container):
    return compose_check.split_image(container.get("image") or "")[0]


def ours(container):
    """Built here: a service's image or traffic's."""
    return (container.get("image") or "").startswith(OUR_REPOSITORY)


def binary_of(container):
    """api_01 for zipkin-b3-demo/api_01:0.1.0 (the Dockerfile's SERVICE)."""
    return image_repo(container)[len(OUR_REPOSITORY):] if ours(container) else None


def service_containers(objs):
    """(workload, pod spec, container, binary) of every api_0N container."""
    for workload, template in pod_templates(objs):
        for c in containers(template["spec"]):
            if binary_of(c) in SERVICES:
                yield workload, template["spec"], c, binary_of(c)


def env_of(container):
    """The container's plain `value` variables (valueFrom ones as their source)."""
    env = {}
    for e in container.get("env") or []:
        env[e["name"]] = e.get("value", e.get("valueFrom"))
    return env


def namespace_of(objs):
    spaces = {o["metadata"].get("namespace") for o in objs if o.get("kind") != "Namespace"}
    return spaces.pop() if len(spaces) == 1 else None


# --- the README's table --------------------------------------------------------

def readme_defaults():
    """The Default column of the README's configuration table, by variable.

    A row that names several variables gives as many defaults, comma-separated
    (OTEL_BSP_*); a row with one default for several variables gives it to
    each."""
    defaults, in_section = {}, False
    with open(README) as f:
        for line in f:
            if line.startswith("## "):
                in_section = line.strip() == "## Configuration"
            elif in_section and line.startswith("|"):
                cells = line.split("|")
                names = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[1])
                values = [v.strip() for v in cells[2].split(",")] if len(cells) > 2 else []
                for i, name in enumerate(names):
                    defaults[name] = values[i] if len(values) == len(names) else cells[2].strip()
    return defaults


def readme_millis(name):
    """A default in milliseconds ("`15000` (...)", "5000 ms")."""
    found = re.search(r"\d+", readme_defaults().get(name, ""))
    if not found:
        raise SystemExit(f"kubernetes-check: the README's table gives no default for {name}")
    return int(found.group())


def default_port(binary):
    """The README's PORT default for api_0N: "5001 / 5002 / 5003", in order."""
    ports = re.findall(r"\d+", readme_defaults().get("PORT", ""))
    return int(ports[sorted(SERVICES).index(binary)])


# --- the rules ----------------------------------------------------------------
# Each rule takes (objs, overlay) and yields (ok, subject, message).

def probes(objs, overlay):
    """The runtime image has no shell, curl or wget: the binary is its own
    probe, and it asks 127.0.0.1:$PORT, so PORT must be the container's."""
    for workload, _, c, binary in service_containers(objs):
        subject = c["name"]
        problems = []
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            probe = c.get(kind)
            if probe is None:
                if kind != "startupProbe":
                    problems.append(f"no {kind}")
                continue
            command = (probe.get("exec") or {}).get("command")
            if command != HEALTHCHECK:
                how = command or [k for k in probe if k in ("httpGet", "tcpSocket", "grpc")]
                problems.append(f"{kind} runs {how}, not {HEALTHCHECK}")
        if c.get("command") or c.get("args"):
            problems.append("command/args replace the image's entrypoint, the service itself")
        env = env_of(c)
        port = int(env["PORT"]) if "PORT" in env else default_port(binary)
        declared = {p["containerPort"] for p in c.get("ports") or []}
        if port not in declared:
            problems.append(f"it listens on PORT {port} (what its health check asks), "
                            f"but declares {sorted(declared) or 'no port'}")
        if problems:
            for p in problems:
                yield False, subject, p
        else:
            kinds = [k for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in c]
            yield True, subject, f"{', '.join(kinds)}: exec {' '.join(HEALTHCHECK)} on PORT {port}"


def prestop_seconds(container):
    sleep = (((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {})
    return int(sleep.get("seconds", 0))


def grace_period(objs, overlay):
    """The kubelet sends SIGKILL when the grace period is over, counted from
    the preStop pause: it must let the requests in flight finish and the
    last spans go out."""
    for workload, spec, c, binary in service_containers(objs):
        env = env_of(c)
        if "REQUEST_TIMEOUT_MS" in env:
            request_ms = int(env["REQUEST_TIMEOUT_MS"])
        elif "DOWNSTREAM_TIMEOUT_MS" in env:
            # The README's default: 10 s, + DOWNSTREAM_TIMEOUT_MS + 3 s.
            request_ms = 10000 + int(env["DOWNSTREAM_TIMEOUT_MS"]) + 3000
        else:
            request_ms = readme_millis("REQUEST_TIMEOUT_MS")
        upload_ms = int(env.get("OTEL_BSP_EXPORT_TIMEOUT", readme_millis("OTEL_BSP_EXPORT_TIMEOUT")))
        pause = prestop_seconds(c)
        needed = math.ceil(pause + (request_ms + upload_ms) / 1000)
        grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        account = (f"preStop {pause} s + requests {request_ms} ms + last upload "
                   f"{upload_ms} ms = {needed} s")
        if grace < needed:
            yield False, c["name"], f"terminationGracePeriodSeconds {grace} < {account}"
        else:
            yield True, c["name"], f"terminationGracePeriodSeconds {grace} >= {account}"


def prestop_pause(objs, overlay):
    """A stopping pod stays in its Service's endpoints until kube-proxy and
    any ingress hear of it; it must keep accepting until then. The image
    has no `sleep` to exec, so only Kubernetes' own sleep action pauses."""
    for workload, spec, c, binary in service_containers(objs):
        pre_stop = (c.get("lifecycle") or {}).get("preStop")
        if not pre_stop:
            yield False, c["name"], "no preStop pause: SIGTERM comes while it is still in the endpoints"
        elif "sleep" not in pre_stop:
            yield False, c["name"], (f"preStop is {sorted(pre_stop)}, not `sleep`: the image has "
                                     "no shell or sleep binary to exec")
        elif prestop_seconds(c) < 1:
            yield False, c["name"], "preStop sleeps 0 s: no pause"
        else:
            yield True, c["name"], f"preStop sleeps {prestop_seconds(c)} s"


def env_documented(objs, overlay):
    """A variable our binaries do not read is a silent typo; one the README
    does not list cannot be looked up."""
    documented = compose_check.readme_variables()
    if not documented:
        yield False, "-", "found no variable in the README's configuration table"
        return
    for workload, template in pod_templates(objs):
        for c in containers(template["spec"], init=True):
            if not ours(c):
                continue
            names = [e["name"] for e in c.get("env") or []]
            missing = sorted(n for n in names if n not in documented)
            if missing:
                yield False, c["name"], (f"sets {', '.join(missing)}, which the README's "
                                         "configuration table does not list")
            elif names:
                yield True, c["name"], f"all {len(names)} variables it sets are in the README's table"


# --- NetworkPolicies, evaluated --------------------------------------------------

class Peer:
    """One end of a connection: a pod of the render, kube-dns, or outside.

    Outside stands for both a pod of another namespace (no labels) and an
    address beyond the cluster (a TEST-NET-3 address): a rule lets it
    through if it lets either through."""

    def __init__(self, name, namespace, ns_labels, labels, ports, ip=None, in_namespace=False):
        self.name, self.namespace, self.ns_labels = name, namespace, ns_labels
        self.labels, self.ports, self.ip, self.in_namespace = labels, ports, ip, in_namespace


def selects(selector, labels):
    """A LabelSelector against labels: matchLabels and matchExpressions."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def policy_types(policy):
    spec = policy["spec"]
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if "egress" in spec else set())


def peer_matches(rule_peer, peer, namespace):
    """Whether one entry of a rule's from/to takes in `peer`."""
    if "ipBlock" in rule_peer:
        if peer.ip is None:
            return False
        block = rule_peer["ipBlock"]
        address = ipaddress.ip_address(peer.ip)
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(x) for x in block.get("except") or [])
    if peer.ip is not None and peer.namespace is None:
        return False  # an address, not a pod: only an ipBlock takes it
    ns_selector = rule_peer.get("namespaceSelector")
    ns_ok = peer.namespace == namespace if ns_selector is None else selects(ns_selector, peer.ns_labels)
    pod_selector = rule_peer.get("podSelector")
    return ns_ok and (pod_selector is None or selects(pod_selector, peer.labels))


def port_matches(rule_ports, proto_port, target):
    """Whether a rule's ports take PROTO/port on `target` (named ports are
    the target's own)."""
    if not rule_ports:
        return True
    proto, port = proto_port.split("/")
    port = int(port)
    for p in rule_ports:
        if p.get("protocol", "TCP") != proto:
            continue
        if "port" not in p:
            return True
        value = p["port"]
        if isinstance(value, str):
            if value not in target.ports:
                continue
            value = target.ports[value]
        if value <= port <= p.get("endPort", value):
            return True
    return False


def allowed(policies, namespace, source, target, proto_port):
    """Whether the policies let `source` open PROTO/port on `target`: its
    egress (if it is a pod here) and the target's ingress (likewise)."""
    for pod, direction, other, key, rules_key in (
            (source, "Egress", target, "to", "egress"),
            (target, "Ingress", source, "from", "ingress")):
        if not pod.in_namespace:
            continue  # not ours to isolate
        selecting = [p for p in policies if direction in policy_types(p)
                     and selects(p["spec"].get("podSelector", {}), pod.labels)]
        if not selecting:
            continue  # not isolated in this direction: all allowed
        if not any((not rule.get(key) or any(peer_matches(x, other, namespace) for x in rule[key]))
                   and port_matches(rule.get("ports"), proto_port, target)
                   for p in selecting for rule in p["spec"].get(rules_key) or []):
            return False
    return True


def peers_of(objs):
    """Every pod of the render (one per app.kubernetes.io/name), kube-dns,
    and outside."""
    namespace = namespace_of(objs)
    ns_labels = {}
    for ns in of_kind(objs, "Namespace"):
        if name_of(ns) == namespace:
            ns_labels = dict(ns["metadata"].get("labels") or {})
    ns_labels["kubernetes.io/metadata.name"] = namespace  # set by Kubernetes itself
    pods = {}
    for workload, template in pod_templates(objs):
        name = pod_name(template, workload)
        ports = {}
        for c in containers(template["spec"]):
            for p in c.get("ports") or []:
                ports[p.get("name") or str(p["containerPort"])] = p["containerPort"]
                ports.setdefault(f"{p.get('protocol', 'TCP')}/{p['containerPort']}", p["containerPort"])
        labels = dict(template.get("metadata", {}).get("labels") or {})
        if name in pods:
            pods[name].ports.update(ports)
        else:
            pods[name] = Peer(name, namespace, ns_labels, labels, ports, in_namespace=True)
    dns = Peer(KUBE_DNS, "kube-system", {"kubernetes.io/metadata.name": "kube-system"},
               {"k8s-app": "kube-dns"}, {"UDP/53": 53, "TCP/53": 53})
    outside_pod = Peer(OUTSIDE, "elsewhere", {"kubernetes.io/metadata.name": "elsewhere"}, {}, {})
    outside_address = Peer(OUTSIDE, None, {}, {}, {}, ip="203.0.113.7")
    return namespace, pods, dns, [outside_pod, outside_address]


def proto_ports(peer):
    return {k for k in peer.ports if "/" in k}


def dns_edges(objs):
    _, pods, _, _ = peers_of(objs)
    return {(name, KUBE_DNS, pp) for name in pods for pp in ("UDP/53", "TCP/53")}


def allowed_graph(objs):
    """Every (from, to, PROTO/port) the render's NetworkPolicies allow."""
    namespace, pods, dns, outside = peers_of(objs)
    policies = of_kind(objs, "NetworkPolicy")
    # Ports to try on a destination beyond the cluster: DNS, the web, and
    # every port the render's pods use.
    far_ports = {"UDP/53", "TCP/53", "TCP/80", "TCP/443"}
    for pod in pods.values():
        far_ports |= proto_ports(pod)
    graph = set()
    sources = list(pods.values()) + outside
    for source in sources:
        for target in list(pods.values()) + [dns] + outside:
            if not source.in_namespace and not target.in_namespace:
                continue  # neither end is ours
            ports = far_ports if target.name == OUTSIDE else proto_ports(target)
            for pp in ports:
                if allowed(policies, namespace, source, target, pp):
                    graph.add((source.name, target.name, pp))
    return graph


def network_graph(objs, overlay):
    """NetworkPolicies add up, and a connection needs both ends: only their
    evaluation against the pods shows what they allow. Exactly the demo's
    call graph, and DNS, or a policy is missing or too wide."""
    if overlay not in EXPECTED_GRAPHS:
        yield False, "-", f"no expected call graph for a render named {overlay!r}"
        return
    expected = EXPECTED_GRAPHS[overlay] | dns_edges(objs)
    got = allowed_graph(objs)
    show = lambda edges: "; ".join(f"{a} -> {b} {p}" for a, b, p in sorted(edges))
    if got - expected:
        yield False, "extra", f"allowed, but not in the demo's graph: {show(got - expected)}"
    if expected - got:
        yield False, "missing", f"in the demo's graph, but refused: {show(expected - got)}"
    if got == expected:
        yield True, "-", (f"exactly the {len(expected - dns_edges(objs))} connections of the "
                          f"{overlay} graph, and DNS from {len(dns_edges(objs)) // 2} pods")


# --- the pods' security ---------------------------------------------------------

def effective(spec, container, key):
    """A securityContext field: the container's, else the pod's."""
    value = (container.get("securityContext") or {}).get(key)
    return value if value is not None else (spec.get("securityContext") or {}).get(key)


def security(objs, overlay):
    """What Pod Security's "restricted" profile asks, and a read-only root
    filesystem: a compromised process can neither become root nor change
    its image. Our images run as 65532, the Dockerfile's USER."""
    namespace = namespace_of(objs)
    for ns in of_kind(objs, "Namespace"):
        if name_of(ns) == namespace:
            level = (ns["metadata"].get("labels") or {}).get("pod-security.kubernetes.io/enforce")
            if level != "restricted":
                yield False, namespace, f"Pod Security enforce is {level!r}, not 'restricted'"
            else:
                yield True, namespace, "Pod Security enforce: restricted"
    for workload, template in pod_templates(objs):
        spec = template["spec"]
        name = name_of(workload)
        problems = []
        if spec.get("automountServiceAccountToken") is not False:
            problems.append("mounts a service account token (none of these pods talks to the API)")
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key):
                problems.append(f"{key}: true")
        for c in containers(spec, init=True):
            sc = c.get("securityContext") or {}
            where = c["name"]
            if effective(spec, c, "runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            uid = effective(spec, c, "runAsUser")
            if uid in (None, 0):
                problems.append(f"{where}: runAsUser is {uid} (a named image user cannot be "
                                "checked by runAsNonRoot: give its number)")
            elif ours(c) and uid != OUR_UID:
                problems.append(f"{where}: runAsUser {uid}, not the image's {OUR_UID}")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                problems.append(f"{where}: privileged")
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                problems.append(f"{where}: capabilities do not drop ALL")
            if caps.get("add"):
                problems.append(f"{where}: adds capabilities {caps['add']}")
            seccomp = (effective(spec, c, "seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                problems.append(f"{where}: seccompProfile is {seccomp!r}, not RuntimeDefault")
        if problems:
            for p in problems:
                yield False, name, p
        else:
            uids = sorted({effective(spec, c, "runAsUser") for c in containers(spec, init=True)})
            yield True, name, f"non-root (uid {', '.join(map(str, uids))}), read-only root, no escalation, no capabilities, RuntimeDefault seccomp"


EXACT_VERSION = re.compile(r"v?\d+\.\d+\.\d+")


def image_pin(objs, overlay):
    """An image that floats changes what runs without a change here; ours
    exist only where `kind load` put them, so pulling them would fail."""
    for workload, template in pod_templates(objs):
        name = name_of(workload)
        for c in containers(template["spec"], init=True):
            image = c.get("image") or ""
            _, tag, digest = compose_check.split_image(image)
            problems = []
            if digest:
                pass
            elif tag is None:
                problems.append(f"{image}: no tag, so `latest`")
            elif not EXACT_VERSION.fullmatch(tag):
                problems.append(f"{image}: tag {tag!r} is not an exact version (x.y.z)"
                                + ("; a 0.x tag may break at any release" if tag.lstrip("v").startswith("0") else ""))
            if ours(c) and c.get("imagePullPolicy") not in ("IfNotPresent", "Never"):
                problems.append(f"{image}: imagePullPolicy {c.get('imagePullPolicy')!r}: "
                                "built and loaded here, in no registry, so never to be pulled")
            if problems:
                for p in problems:
                    yield False, name, p
            else:
                yield True, name, f"{image} ({c['name']})"


def pdb_hpa(objs, overlay):
    """A drain evicts what no budget protects, and a budget that can never
    be met blocks the drain for ever. An autoscaler fights a Deployment
    whose replicas `kubectl apply` resets."""
    pdbs = of_kind(objs, "PodDisruptionBudget")
    hpas = of_kind(objs, "HorizontalPodAutoscaler")
    for d in of_kind(objs, "Deployment"):
        labels = d["spec"]["template"]["metadata"].get("labels") or {}
        name = name_of(d)
        problems = []
        covering = [p for p in pdbs if selects(p["spec"].get("selector"), labels)]
        targeting = [h for h in hpas if h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
                     and h["spec"]["scaleTargetRef"].get("name") == name]
        service = any(binary_of(c) in SERVICES for c in containers(d["spec"]["template"]["spec"]))
        least = targeting[0]["spec"].get("minReplicas", 1) if targeting else d["spec"].get("replicas", 1)
        if len(covering) != 1:
            problems.append(f"{len(covering)} PodDisruptionBudgets select its pods, not 1")
        else:
            spec = covering[0]["spec"]
            min_available = spec.get("minAvailable")
            if isinstance(min_available, int) and min_available >= least:
                problems.append(f"its budget keeps {min_available} of at least {least} "
                                "replicas: a drain could never evict one")
            if spec.get("maxUnavailable") in (0, "0%"):
                problems.append("its budget allows no pod unavailable: a drain could never evict one")
        if service:
            if len(targeting) != 1:
                problems.append(f"{len(targeting)} HorizontalPodAutoscalers scale it, not 1")
            else:
                h = targeting[0]
                cpu = [m for m in h["spec"].get("metrics") or []
                       if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"]
                if h["apiVersion"] != "autoscaling/v2":
                    problems.append(f"its autoscaler is {h['apiVersion']}, not autoscaling/v2")
                if not cpu:
                    problems.append("its autoscaler has no CPU metric")
                if h["spec"].get("minReplicas", 1) < 2:
                    problems.append("its autoscaler allows 1 replica: a drain would take it all")
                if "replicas" in d["spec"]:
                    problems.append(f"it sets replicas: {d['spec']['replicas']}, which every "
                                    "`kubectl apply` resets under its autoscaler")
        if problems:
            for p in problems:
                yield False, name, p
        else:
            scaled = (f"; autoscaled from {least} on CPU" if service else "")
            budget = covering[0]["spec"]
            kept = (f"minAvailable {budget['minAvailable']}" if "minAvailable" in budget
                    else f"maxUnavailable {budget.get('maxUnavailable')}")
            yield True, name, f"budget {name_of(covering[0])} ({kept}){scaled}"


# --- where the URLs lead --------------------------------------------------------

def service_named(objs, host, namespace):
    """The Service a host name reaches from a pod of the namespace."""
    parts = host.split(".")
    if len(parts) == 1 or parts[1:] in ([namespace], [namespace, "svc"],
                                        [namespace, "svc", "cluster", "local"]):
        for s in of_kind(objs, "Service"):
            if name_of(s) == parts[0]:
                return s
    return None


def backends(objs, service, port):
    """(pod template, container, containerPort) behind a Service's port."""
    found = []
    spec_ports = [p for p in service["spec"].get("ports") or [] if p["port"] == port]
    if not spec_ports:
        return found
    target = spec_ports[0].get("targetPort", port)
    selector = {"matchLabels": service["spec"].get("selector") or {}}
    for workload, template in pod_templates(objs):
        if not service["spec"].get("selector") or not selects(selector, template["metadata"].get("labels") or {}):
            continue
        for c in containers(template["spec"]):
            for p in c.get("ports") or []:
                if target in (p.get("name"), p["containerPort"]):
                    found.append((template, c, p["containerPort"]))
    return found


def url_problem(objs, namespace, url, what, want):
    """Why `url` does not reach a pod running `want(container)`, or None."""
    u = urlsplit(url)
    if u.scheme != "http":
        return f"{what} {url!r} is not plain http (the services are built without TLS)"
    host, port = u.hostname or "", u.port or 80
    service = service_named(objs, host, namespace)
    if service is None:
        return f"{what} {url!r}: no Service {host!r} in this render"
    ends = backends(objs, service, port)
    if not ends:
        ports = [p["port"] for p in service["spec"].get("ports") or []]
        return (f"{what} {url!r}: Service {host} has no port {port} leading to a declared "
                f"container port (its ports: {ports})")
    wrong = [c["image"] for _, c, _ in ends if not want(c)]
    if wrong:
        return f"{what} {url!r} leads to {', '.join(sorted(set(wrong)))}"
    return None


def downstream_urls(objs, overlay):
    """In a pod, a URL left at its default (localhost) reaches the pod
    itself, and a compose name (api_02) or a port off by one reaches
    nothing: the error shows only at the first request."""
    namespace = namespace_of(objs)
    runs = lambda binary: (lambda c: binary_of(c) == binary)
    zipkin = lambda c: image_repo(c) in ZIPKIN_IMAGES
    otlp_receiver = lambda c: image_repo(c) in COLLECTOR_CONFIG_PATHS or image_repo(c) in ZIPKIN_IMAGES
    for workload, template in pod_templates(objs):
        for c in containers(template["spec"]):
            binary = binary_of(c)
            if binary is None:
                continue
            env = env_of(c)
            needed = dict(CALLEES.get(binary, {}))
            checks = [(var, runs(callee)) for var, callee in needed.items()]
            if binary == "traffic":
                checks.append(("TRAFFIC_URL", runs("api_01")))
            if binary in SERVICES:
                exporter = env.get("OTEL_TRACES_EXPORTER", "zipkin")
                # With otlp, api_01's relay still sends the page's span to
                # OTEL_EXPORTER_ZIPKIN_ENDPOINT (docs/otlp.md).
                if exporter == "zipkin" or binary == "api_01" or "OTEL_EXPORTER_ZIPKIN_ENDPOINT" in env:
                    checks.append(("OTEL_EXPORTER_ZIPKIN_ENDPOINT", zipkin))
                if exporter == "otlp":
                    var = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
                           if "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in env else "OTEL_EXPORTER_OTLP_ENDPOINT")
                    checks.append((var, otlp_receiver))
            problems, shown = [], []
            for var, want in checks:
                url = env.get(var)
                if not isinstance(url, str):
                    problems.append(f"{var} is not set: its default, localhost, is the pod itself")
                    continue
                why = url_problem(objs, namespace, url, var, want)
                path = urlsplit(url).path.rstrip("/")
                if why is None and var == "OTEL_EXPORTER_ZIPKIN_ENDPOINT" and path != "/api/v2/spans":
                    why = f"{var} {url!r} is not Zipkin's /api/v2/spans"
                if why is None and var == "OTEL_EXPORTER_OTLP_ENDPOINT" and path.endswith("/v1/traces"):
                    why = f"{var} {url!r} ends in /v1/traces, which the services add to it"
                if why is None and var.endswith("_URL") and path:
                    why = f"{var} {url!r} has a path; the service adds its own"
                if why:
                    problems.append(why)
                else:
                    shown.append(f"{var}={url}")
            if problems:
                for p in problems:
                    yield False, c["name"], p
            elif shown:
                yield True, c["name"], ", ".join(shown)


def quantity(value):
    """A Kubernetes quantity as a number (bytes or cores)."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3}
    text = str(value)
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[:-len(unit)]) * factor
    return float(text)


def resources(objs, overlay):
    """The scheduler places pods by their requests, the autoscaler reads CPU
    against them, and a memory limit bounds what a leak or a flood costs
    the node (README.md beside the manifests says where the figures come
    from)."""
    for workload, template in pod_templates(objs):
        for c in containers(template["spec"], init=True):
            r = c.get("resources") or {}
            requests, limits = r.get("requests") or {}, r.get("limits") or {}
            problems = [f"no {what}" for what, there in (
                ("CPU request", "cpu" in requests), ("memory request", "memory" in requests),
                ("memory limit", "memory" in limits)) if not there]
            try:
                if not problems and quantity(limits["memory"]) < quantity(requests["memory"]):
                    problems.append(f"memory limit {limits['memory']} below its request {requests['memory']}")
            except ValueError as e:
                problems.append(f"unreadable quantity: {e}")
            if problems:
                for p in problems:
                    yield False, name_of(workload), f"{c['name']}: {p}"
            else:
                cpu_limit = f", CPU limit {limits['cpu']}" if "cpu" in limits else ""
                yield True, name_of(workload), (f"{c['name']}: requests {requests['cpu']} CPU, "
                                                f"{requests['memory']}; limit {limits['memory']}{cpu_limit}")


STORE_KEYS = ["STORAGE_TYPE", "MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_DB", "MYSQL_USER", "MYSQL_PASS"]


def same_storage(objs, overlay):
    """The job writes links where it reads spans; Zipkin shows links from
    where it stores spans. Both must name the same database."""
    zipkins = [(pod_name(t, w), c) for w, t in pod_templates(objs)
               for c in containers(t["spec"]) if image_repo(c) in ZIPKIN_IMAGES]
    for w, t in pod_templates(objs):
        for c in containers(t["spec"]):
            if image_repo(c) != DEPENDENCIES_IMAGE:
                continue
            subject = name_of(w)
            for zname, z in zipkins:
                ze, je = env_of(z), env_of(c)
                differ = [k for k in STORE_KEYS if ze.get(k) != je.get(k)]
                if ze.get("STORAGE_TYPE", "mem") == "mem":
                    yield False, subject, f"{zname} keeps spans in memory, where no job reads them"
                elif differ:
                    yield False, subject, ", ".join(f"{k}: {je.get(k)!r}, {zname}'s {ze.get(k)!r}"
                                                     for k in differ)
                else:
                    yield True, subject, f"the same store as {zname}: " + ", ".join(
                        f"{k}={ze[k]}" for k in STORE_KEYS if isinstance(ze.get(k), str))
            if not zipkins:
                yield False, subject, "no Zipkin in this render reads the links it writes"


def collector_config(objs, overlay):
    """The overlay's copy of otel-collector.yaml must be the compose one
    (one config, tested by CI's Collector runs), and mounted where the
    image's command reads it, or the Collector runs with none."""
    with open(COLLECTOR_CONFIG) as f:
        original = f.read()
    maps = {name_of(m): m for m in of_kind(objs, "ConfigMap")}
    for w, t in pod_templates(objs):
        spec = t["spec"]
        for c in containers(spec):
            if image_repo(c) not in COLLECTOR_CONFIG_PATHS:
                continue
            subject = pod_name(t, w)
            path = COLLECTOR_CONFIG_PATHS[image_repo(c)]
            if c.get("args") or c.get("command"):
                yield False, subject, "command/args replace the image's `--config` " + path
                continue
            text, where = None, None
            volumes = {v["name"]: v for v in spec.get("volumes") or []}
            for m in c.get("volumeMounts") or []:
                volume = volumes.get(m["name"]) or {}
                if "configMap" not in volume:
                    continue
                for item in volume["configMap"].get("items") or []:
                    if os.path.join(m["mountPath"], item["path"]) == path:
                        data = (maps.get(volume["configMap"]["name"]) or {}).get("data") or {}
                        text, where = data.get(item["key"]), f"ConfigMap {volume['configMap']['name']}"
            if text is None:
                yield False, subject, f"no ConfigMap key is mounted at {path}, where its image reads its config"
                continue
            problems = []
            if text != original:
                problems.append(f"{where} is not otel-collector.yaml byte for byte: copy it again "
                                "(cp otel-collector.yaml deploy/kubernetes/overlays/otlp/)")
            config = yaml.safe_load(text) or {}
            listen = compose_check.otlp_http_endpoint(config)
            declared = {p["containerPort"] for p in c.get("ports") or []}
            if listen is None:
                problems.append("its traces pipeline has no OTLP/HTTP receiver")
            else:
                host, port = compose_check.split_host_port(listen)
                if host in ("localhost", "127.0.0.1", "::1"):
                    problems.append(f"its OTLP/HTTP receiver listens on {listen}, inside its own pod only")
                if port not in declared:
                    problems.append(f"its OTLP/HTTP receiver listens on {port}, which it does not declare")
            exporters = compose_check.component(config.get("exporters"), "zipkin")
            pipeline = ((config.get("service") or {}).get("pipelines") or {}).get("traces") or {}
            used = [e for e in pipeline.get("exporters") or [] if e in exporters]
            if not used:
                problems.append("its traces pipeline has no zipkin exporter")
            for e in used:
                why = url_problem(objs, namespace_of(objs), exporters[e].get("endpoint", ""),
                                  f"exporter {e}", lambda z: image_repo(z) in ZIPKIN_IMAGES)
                if why:
                    problems.append(why)
            if problems:
                for p in problems:
                    yield False, subject, p
            else:
                yield True, subject, (f"{where} at {path} is otel-collector.yaml; OTLP/HTTP on "
                                      f"{listen} -> {', '.join(exporters[e]['endpoint'] for e in used)}")


RULES = [
    ("probes", probes),
    ("grace-period", grace_period),
    ("prestop-pause", prestop_pause),
    ("env-documented", env_documented),
    ("network-graph", network_graph),
    ("security", security),
    ("image-pin", image_pin),
    ("pdb-hpa", pdb_hpa),
    ("downstream-urls", downstream_urls),
    ("resources", resources),
    ("same-storage", same_storage),
    ("collector-config", collector_config),
]


def check(objs, overlay, quiet=False):
    """Runs every rule; returns the failures as a set of (rule, subject, message)."""
    failures = set()
    for rule, fn in RULES:
        judged = False
        for ok, subject, message in fn(objs, overlay):
            judged = True
            if not quiet or not ok:
                print(f"  [{'ok' if ok else 'FAIL'}] {rule:<16} {subject}: {message}")
            if not ok:
                failures.add((rule, subject, message))
        if not judged and not quiet:
            print(f"  [--] {rule:<16} does not apply: nothing here for it to judge")
    return failures


# --- self-test ------------------------------------------------------------------
# Each case breaks one thing in a copy of a real render and names the
# failures it must cause, as {(rule, subject)}; none for a case that must pass.

def find(objs, kind, name):
    for o in objs:
        if o.get("kind") == kind and name_of(o) == name:
            return o
    raise KeyError(f"{kind}/{name} is not in the render")


def container(objs, kind, name, index=0, init=False):
    spec = find(objs, kind, name)
    spec = spec["spec"]["jobTemplate"]["spec"]["template"]["spec"] if kind == "CronJob" else spec["spec"]["template"]["spec"]
    return (spec["initContainers"] if init else spec["containers"])[index]


def pod_spec(objs, kind, name):
    return find(objs, kind, name)["spec"]["template"]["spec"]


def set_env(c, name, value):
    c["env"] = [e for e in c.get("env") or [] if e["name"] != name]
    if value is not None:
        c["env"].append({"name": name, "value": value})


def drop(objs, kind, name):
    objs.remove(find(objs, kind, name))


def network_policy(objs, name):
    return find(objs, "NetworkPolicy", name)["spec"]


def _api_02_readiness_http(o):
    container(o, "Deployment", "api-02")["readinessProbe"] = {"httpGet": {"path": "/health", "port": "http"}}


def _api_03_no_liveness(o):
    del container(o, "Deployment", "api-03")["livenessProbe"]


def _dns_anywhere(o):
    del network_policy(o, "allow-dns")["egress"][0]["to"]


def _traffic_egress_to_api_02(o):
    network_policy(o, "traffic")["egress"].append({
        "to": [{"podSelector": {"matchLabels": {LABEL: "api-02"}}}],
        "ports": [{"protocol": "TCP", "port": 5002}]})


def _spans_to_zipkin_wide(o):
    network_policy(o, "spans-to-zipkin")["podSelector"]["matchExpressions"][0]["values"] = [
        "api-01", "api-02", "api-03"]


def _mariadb_port(o):
    network_policy(o, "mariadb")["ingress"][0]["ports"][0]["port"] = 3307


def _collector_config_changed(o):
    cm = [m for m in of_kind(o, "ConfigMap") if name_of(m).startswith("otel-collector")][0]
    cm["data"]["config.yaml"] = cm["data"]["config.yaml"].replace("0.0.0.0:4318", "localhost:4318")


def _collector_mount_moved(o):
    container(o, "Deployment", "otel-collector")["volumeMounts"][0]["mountPath"] = "/etc/otelcol"


def _zipkin_replicas_guarded(o):
    find(o, "PodDisruptionBudget", "zipkin")["spec"] = {
        "minAvailable": 1, "selector": {"matchLabels": {LABEL: "zipkin"}}}


def _dependencies_other_host(o):
    for name in ("zipkin-dependencies-today",):
        set_env(container(o, "CronJob", name), "MYSQL_HOST", "mariadb-replica")


CASES = [
    ("the base render passes", "base", None, set()),
    ("the store overlay passes", "store", None, set()),
    ("the load overlay passes", "load", None, set()),
    ("the otlp overlay passes", "otlp", None, set()),

    ("api-02's readiness probe as an HTTP GET", "base", _api_02_readiness_http,
     {("probes", "api-02")}),
    ("api-03 without a liveness probe", "base", _api_03_no_liveness, {("probes", "api-03")}),
    ("api-01 told to listen on a port it does not declare", "base",
     lambda o: set_env(container(o, "Deployment", "api-01"), "PORT", "5010"),
     {("probes", "api-01")}),

    ("api-01's grace period under the request limit + upload + pause", "base",
     lambda o: pod_spec(o, "Deployment", "api-01").update(terminationGracePeriodSeconds=20),
     {("grace-period", "api-01")}),
    ("api-02 allows 30 s requests, its grace period still 30 s", "base",
     lambda o: set_env(container(o, "Deployment", "api-02"), "REQUEST_TIMEOUT_MS", "30000"),
     {("grace-period", "api-02")}),
    ("api-03 without its preStop pause", "base",
     lambda o: container(o, "Deployment", "api-03").pop("lifecycle"),
     {("prestop-pause", "api-03")}),
    ("api-01 pausing with `sleep`, a binary its image lacks", "base",
     lambda o: container(o, "Deployment", "api-01").update(
         lifecycle={"preStop": {"exec": {"command": ["sleep", "5"]}}}),
     {("prestop-pause", "api-01")}),

    ("api-02 sets a variable the README's table lacks", "base",
     lambda o: set_env(container(o, "Deployment", "api-02"), "OTEL_EXPORTER_OTLP_INSECURE", "true"),
     {("env-documented", "api-02")}),
    ("traffic sets a variable the README's table lacks", "load",
     lambda o: set_env(container(o, "Deployment", "traffic"), "TRAFFIC_BURST", "10"),
     {("env-documented", "traffic")}),

    ("no default deny: every pod is still isolated by a policy of its own, so no change", "base",
     lambda o: drop(o, "NetworkPolicy", "default-deny"), set()),
    ("api-03's policy gone: the default deny refuses its callers", "base",
     lambda o: drop(o, "NetworkPolicy", "api-03"), {("network-graph", "missing")}),
    ("api-03's policy and the default deny gone: api-03 open to anyone", "base",
     lambda o: (drop(o, "NetworkPolicy", "api-03"), drop(o, "NetworkPolicy", "default-deny")),
     {("network-graph", "extra")}),
    ("DNS allowed to any address on port 53, not to kube-dns only", "base", _dns_anywhere,
     {("network-graph", "extra")}),
    ("api-03 refuses api-02", "base",
     lambda o: network_policy(o, "api-03")["ingress"][0]["from"].pop(1),
     {("network-graph", "missing")}),
    ("traffic's egress to api-02 too: api-02's ingress still refuses it, so no change", "load",
     _traffic_egress_to_api_02, set()),
    ("over OTLP, api-02 and api-03 still allowed to reach Zipkin", "otlp", _spans_to_zipkin_wide,
     {("network-graph", "extra")}),
    ("MariaDB's policy on the wrong port", "store", _mariadb_port, {("network-graph", "missing")}),

    ("api-01 with a writable root filesystem", "base",
     lambda o: container(o, "Deployment", "api-01")["securityContext"].update(readOnlyRootFilesystem=False),
     {("security", "api-01")}),
    ("Zipkin without runAsNonRoot", "base",
     lambda o: pod_spec(o, "Deployment", "zipkin")["securityContext"].pop("runAsNonRoot"),
     {("security", "zipkin")}),
    ("MariaDB's init container may escalate", "store",
     lambda o: container(o, "StatefulSet", "mariadb", init=True)["securityContext"].pop("allowPrivilegeEscalation"),
     {("security", "mariadb")}),
    ("traffic as root", "load",
     lambda o: pod_spec(o, "Deployment", "traffic")["securityContext"].update(runAsUser=0),
     {("security", "traffic")}),
    ("the namespace without Pod Security's restricted profile", "base",
     lambda o: find(o, "Namespace", "zipkin-b3-demo")["metadata"]["labels"].pop("pod-security.kubernetes.io/enforce"),
     {("security", "zipkin-b3-demo")}),

    ("Zipkin at `latest`", "base",
     lambda o: container(o, "Deployment", "zipkin").update(image="openzipkin/zipkin:latest"),
     {("image-pin", "zipkin")}),
    ("the Collector at 0, where any release may break", "otlp",
     lambda o: container(o, "Deployment", "otel-collector").update(image="otel/opentelemetry-collector-contrib:0"),
     {("image-pin", "otel-collector")}),
    ("api-01's image without a tag", "base",
     lambda o: container(o, "Deployment", "api-01").update(image="zipkin-b3-demo/api_01"),
     {("image-pin", "api-01")}),
    ("api-03's image always pulled, from no registry", "base",
     lambda o: container(o, "Deployment", "api-03").update(imagePullPolicy="Always"),
     {("image-pin", "api-03")}),

    ("api-02 without its PodDisruptionBudget", "base",
     lambda o: drop(o, "PodDisruptionBudget", "api-02"), {("pdb-hpa", "api-02")}),
    ("api-03 without its HorizontalPodAutoscaler", "base",
     lambda o: drop(o, "HorizontalPodAutoscaler", "api-03"), {("pdb-hpa", "api-03")}),
    ("api-01 sets replicas under its autoscaler", "base",
     lambda o: find(o, "Deployment", "api-01")["spec"].update(replicas=3), {("pdb-hpa", "api-01")}),
    ("one in-memory Zipkin with a budget that keeps it: no drain could pass", "base",
     _zipkin_replicas_guarded, {("pdb-hpa", "zipkin")}),

    ("api-02 calls api_03 by its compose name", "base",
     lambda o: set_env(container(o, "Deployment", "api-02"), "API_03_URL", "http://api_03:5003"),
     {("downstream-urls", "api-02")}),
    ("api-01 calls api-02 on api-03's port", "base",
     lambda o: set_env(container(o, "Deployment", "api-01"), "API_02_URL", "http://api-02:5003"),
     {("downstream-urls", "api-01")}),
    ("api-01's API_02_URL leads to api-03", "base",
     lambda o: set_env(container(o, "Deployment", "api-01"), "API_02_URL", "http://api-03:5003"),
     {("downstream-urls", "api-01")}),
    ("api-03 without OTEL_EXPORTER_ZIPKIN_ENDPOINT: localhost is itself", "base",
     lambda o: set_env(container(o, "Deployment", "api-03"), "OTEL_EXPORTER_ZIPKIN_ENDPOINT", None),
     {("downstream-urls", "api-03")}),
    ("traffic sent to api-02", "load",
     lambda o: set_env(container(o, "Deployment", "traffic"), "TRAFFIC_URL", "http://api-02:5002"),
     {("downstream-urls", "traffic")}),
    ("the OTLP endpoint given with /v1/traces, which the services add", "otlp",
     lambda o: set_env(container(o, "Deployment", "api-02"), "OTEL_EXPORTER_OTLP_ENDPOINT",
                       "http://otel-collector:4318/v1/traces"),
     {("downstream-urls", "api-02")}),

    ("api-02 without a memory limit", "base",
     lambda o: container(o, "Deployment", "api-02")["resources"].pop("limits"),
     {("resources", "api-02")}),

    ("the hourly dependencies job reads another database host", "store", _dependencies_other_host,
     {("same-storage", "zipkin-dependencies-today")}),

    ("the Collector's config differs from otel-collector.yaml", "otlp", _collector_config_changed,
     {("collector-config", "otel-collector")}),
    ("the Collector's config mounted where the image does not read it", "otlp", _collector_mount_moved,
     {("collector-config", "otel-collector")}),
]


def self_test(renders):
    wrong = 0
    for title, overlay, breaks, expected in CASES:
        objs = copy.deepcopy(renders[overlay])
        if breaks is not None:
            breaks(objs)
        print(f"\n- {title} ({overlay})")
        got = {(rule, subject) for rule, subject, _ in check(objs, overlay, quiet=True)}
        if got == expected:
            print("  as expected: " + ("passes" if not expected else
                                       "fails " + ", ".join(f"{r} ({s})" for r, s in sorted(expected))))
        else:
            wrong += 1
            print(f"  WRONG: expected failures {sorted(expected) or 'none'}, got {sorted(got) or 'none'}")
    # Every rule must be shown to bite at least once.
    bitten = {rule for _, _, _, expected in CASES for rule, _ in expected}
    for rule, _ in RULES:
        if rule not in bitten:
            wrong += 1
            print(f"\nWRONG: no case breaks rule {rule}")
    print(f"\nself-test: {len(CASES) - wrong} of {len(CASES)} cases as expected")
    return 1 if wrong else 0


def overlay_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("renders", nargs="*", metavar="RENDER.yaml",
                    help="rendered manifests, each named after its overlay ("
                         + ", ".join(RENDERS) + "); default: render each with kubectl kustomize")
    ap.add_argument("--self-test", action="store_true",
                    help="break each rule in copies of the real renders, and check it fails")
    args = ap.parse_args()
    if args.renders:
        renders = {overlay_name(p): load(p) for p in args.renders}
    else:
        renders = {name: render(path) for name, path in RENDERS.items()}
    if args.self_test:
        missing = {overlay for _, overlay, _, _ in CASES} - set(renders)
        if missing:
            ap.error(f"--self-test needs the renders of {', '.join(sorted(missing))}")
        return self_test(renders)
    failed = 0
    for name, objs in renders.items():
        print(f"semantic check of the {name} render ({len(objs)} objects)")
        failures = check(objs, name)
        if failures:
            print(f"FAILED: {len(failures)} check(s)\n")
            failed += len(failures)
        else:
            print("all checks pass\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
