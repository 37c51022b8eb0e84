#!/usr/bin/env bash
# Takes the pictures in docs/images/ from the real thing: the three services
# and the test collector, Zipkin's own UI (Lens) served in front of the
# collector, and headless Chromium clicking api_01's page and opening Lens
# (e2e/examples/screenshots.rs); then shrinks them with pngquant and
# optipng. Everything it starts is stopped when it ends, or is interrupted.
#
# Usage: docs/screenshots.sh LENS_DIR     (a Lens build, for example
#        ../shared/zipkin-ui/build, with serve.py beside it)
# Needs: chromium chromium-driver pngquant optipng (Debian's packages).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ $# -eq 1 ]] || { echo "usage: $0 LENS_DIR" >&2; exit 2; }
lens_dir=$(cd "$1" && pwd)
out=docs/images
for tool in chromium chromedriver pngquant optipng; do
    command -v "$tool" >/dev/null ||
        { echo "$tool is missing: apt-get install -y chromium chromium-driver pngquant optipng" >&2; exit 1; }
done

cargo build --quiet --locked -p e2e --example screenshots
target/debug/examples/screenshots "$lens_dir" "$out" &
pictures=$!
# The program stops what it started when it gets SIGTERM.
trap 'kill -TERM "$pictures" 2>/dev/null; wait "$pictures"' INT TERM
wait "$pictures"
trap - INT TERM

for png in "$out"/*.png; do
    pngquant --force --skip-if-larger --strip --quality 65-90 --output "$png" -- "$png" || true
    optipng -quiet -o2 "$png"
done
ls -l "$out"
