#!/usr/bin/env bash
# Takes the pictures in docs/images/ from the real thing: the three services
# and the real Zipkin server (fetched by ci/zipkin-server.sh), and headless
# Chromium clicking api_01's page and opening the UI the server serves
# (e2e/examples/screenshots.rs); then shrinks them with pngquant and
# optipng. Everything it starts is stopped when it ends, or is interrupted.
#
# Usage: docs/screenshots.sh
# Needs: Java 17 and Maven; chromium chromium-driver pngquant optipng
# (Debian's packages).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ $# -eq 0 ]] || { echo "usage: $0" >&2; exit 2; }
out=docs/images
for tool in chromium chromedriver pngquant optipng; do
    command -v "$tool" >/dev/null ||
        { echo "$tool is missing: apt-get install -y chromium chromium-driver pngquant optipng" >&2; exit 1; }
done

jar=$(bash ci/zipkin-server.sh)
cargo build --quiet --locked -p e2e --example screenshots
ZIPKIN_SERVER_JAR=$jar target/debug/examples/screenshots "$out" &
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
