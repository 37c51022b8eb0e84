#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes/), checked the way the
# ecosystem checks manifests it cannot apply: no cluster is reachable from
# this project's machines, so each kustomization is rendered and judged,
# never applied.
#
#   bash ci/kubernetes.sh
#
# 1. `kubectl kustomize` renders the base and each overlay (kubectl 1.32,
#    kustomize 5.5), and the object count of each is printed.
# 2. kubernetes-validate (PyPI, pinned below; installed when missing)
#    validates every rendered object against the JSON schemas of
#    Kubernetes 1.32, the version of kubectl here, in strict mode: an
#    unknown or misspelt field fails, and so does an object whose kind it
#    has no schema for (which the tool itself only warns about).
# 3. ci/kubernetes-check.py judges the renders semantically (probes, grace
#    period, NetworkPolicies against the call graph, security, pins, ...),
#    then its --self-test breaks each of its rules in copies of the same
#    renders and shows the check failing by that rule's name.
set -euo pipefail
cd "$(dirname "$0")/.."

# The schemas: Kubernetes 1.32, as kubectl here (v1.32, kustomize v5.5).
# The newest kubernetes-validate bundles the schemas of 1.25 to 1.37.
KUBERNETES_VERSION=1.32.0
KUBERNETES_VALIDATE_VERSION=1.37.0
OVERLAYS=(base overlays/store overlays/load overlays/otlp)

if ! command -v kubectl >/dev/null; then
    echo "kubernetes.sh: kubectl is not installed (kubectl 1.32 renders the kustomizations)" >&2
    exit 1
fi
echo "kubectl: $(kubectl version --client 2>/dev/null | tr '\n' ' ')"
python3 -c 'import yaml' 2>/dev/null || pip install --quiet pyyaml
if [[ $(kubernetes-validate --version 2>/dev/null) != "$KUBERNETES_VALIDATE_VERSION" ]]; then
    pip install --quiet "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
echo "kubernetes-validate $(kubernetes-validate --version), schemas of Kubernetes $KUBERNETES_VERSION, strict"

renders=$(mktemp -d)
trap 'rm -rf "$renders"' EXIT

failed=0
echo
for overlay in "${OVERLAYS[@]}"; do
    name=$(basename "$overlay")
    render=$renders/$name.yaml
    kubectl kustomize "deploy/kubernetes/$overlay" >"$render"
    # kind per object, in the render's order.
    kinds=$(python3 -c '
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc:
        print(doc["kind"])' "$render")
    count=$(wc -l <<<"$kinds")
    summary=$(sort <<<"$kinds" | uniq -c | awk '{printf "%s%d %s", (NR > 1 ? ", " : ""), $1, $2}')
    printf '%-6s %3d objects: %s\n' "$name" "$count" "$summary"

    # Every object must pass: an ERROR fails the run, and so does a WARN
    # (a kind or apiVersion it has no schema for, which it lets through).
    set +e
    out=$(kubernetes-validate --strict -k "$KUBERNETES_VERSION" "$render")
    rc=$?
    set -e
    passed=$(grep -c '^INFO .* passed for resource' <<<"$out" || true)
    if [[ $rc -ne 0 || $passed -ne $count ]] || grep -q '^\(ERROR\|WARN\|FATAL\)' <<<"$out"; then
        grep -v '^INFO' <<<"$out" | sed 's/^/       /'
        echo "       FAILED: $passed of $count objects valid against Kubernetes $KUBERNETES_VERSION (strict)"
        failed=1
    else
        echo "       all $count valid against Kubernetes $KUBERNETES_VERSION (strict)"
    fi
done
if [[ $failed -ne 0 ]]; then
    echo "kubernetes.sh: the schemas refuse a render (above)" >&2
    exit 1
fi

echo
python3 ci/kubernetes-check.py "$renders"/{base,store,load,otlp}.yaml

echo
python3 ci/kubernetes-check.py --self-test "$renders"/{base,store,load,otlp}.yaml
