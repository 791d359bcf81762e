#!/usr/bin/env bash
# Image benchmark: ferry vs skopeo on the same data in the same run.
#   fetch: `ferry bundle create` (cold cache)  vs  a `skopeo copy` loop into one OCI layout
#   push:  `ferry import` into registry B      vs  a `skopeo copy` loop from the layout into registry C
# Prints wall-time ratios (ferry / skopeo) and ferry's peak RSS. Workload: IMAGES images
# (default 40) on BASES shared base layers of BASE_MB plus APP_MB of their own (~2 GB unique);
# BIG_GB=4 adds one image with a single 4 GB layer to check memory stays bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
ferry_npm_install >/dev/null
npm run --silent build
IMAGES=${IMAGES:-40} BASES=${BASES:-4} BASE_MB=${BASE_MB:-250} APP_MB=${APP_MB:-25} BIG_GB=${BIG_GB:-0}
CONC=${CONC:-8}
W=$(mktemp -d /tmp/ferry-bench-images-XXXX)
trap 'for p in $(cat "$W"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done; rm -rf "$W"' EXIT

source scripts/bench/lib.sh

A=$(port); start_registry upstream "$A"
B=$(port); start_registry ferry-target "$B"
C=$(port); start_registry skopeo-target "$C"

echo "workload: $IMAGES images, $BASES base layers × ${BASE_MB} MB shared, ${APP_MB} MB each of their own, big=${BIG_GB} GB"
seed_workload "$A" "$BIG_GB"
printf 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: b }\nregistry: { url: "http://127.0.0.1:%s", prefix: mirror }\n' "$B" > "$W/target.yaml"
sync

echo "--- fetch"
t0=$(now)
for n in $(cat "$W/names"); do skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$A/bench/$n:1" "oci:$W/skopeo-layout:$n" >/dev/null; done
t1=$(now); skopeo_fetch=$(secs "$t0" "$t1")
t0=$(now)
FERRY_CACHE_DIR="$W/cache" /usr/bin/time -v -o "$W/create.time" node dist/ferry.mjs bundle create "$W/bench.yaml" -o "$W/bench.ferry.tar" --concurrency "$CONC" -q >/dev/null
t1=$(now); ferry_fetch=$(secs "$t0" "$t1")
echo "skopeo copy loop → OCI layout: ${skopeo_fetch}s"
echo "ferry bundle create:           ${ferry_fetch}s  (peak RSS $(rss_of "$W/create.time") MB; bundle $(stat -c %s "$W/bench.ferry.tar") bytes)"

echo "--- push"
t0=$(now)
for n in $(cat "$W/names"); do skopeo copy -q --dest-tls-verify=false "oci:$W/skopeo-layout:$n" "docker://127.0.0.1:$C/mirror/bench/$n:1" >/dev/null; done
t1=$(now); skopeo_push=$(secs "$t0" "$t1")
t0=$(now)
/usr/bin/time -v -o "$W/import.time" node dist/ferry.mjs import "$W/bench.ferry.tar" --target "$W/target.yaml" --concurrency "$CONC" -q >/dev/null
t1=$(now); ferry_push=$(secs "$t0" "$t1")
echo "skopeo copy loop → registry:   ${skopeo_push}s"
echo "ferry import (incl. verify):   ${ferry_push}s  (peak RSS $(rss_of "$W/import.time") MB)"

echo "--- result"
printf 'fetch ratio ferry/skopeo: %.2f (goal ≤ 0.5)\n' "$(echo "$ferry_fetch / $skopeo_fetch" | bc -l)"
printf 'push  ratio ferry/skopeo: %.2f (goal ≤ 0.5)\n' "$(echo "$ferry_push / $skopeo_push" | bc -l)"
echo "ferry peak RSS: create $(rss_of "$W/create.time") MB, import $(rss_of "$W/import.time") MB (goal ≤ 256 MB)"
