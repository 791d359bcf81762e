#!/usr/bin/env bash
# Image benchmark: ferry vs skopeo on the same data in the same run.
#   fetch: `ferry bundle create` (cold cache)  vs  a `skopeo copy` loop into one OCI layout
#   push:  `ferry import` into registry B      vs  a `skopeo copy` loop from the layout into registry C
# Prints wall-time ratios (ferry / skopeo) and ferry's peak RSS. Workload: IMAGES images
# (default 40) on BASES shared base layers of BASE_MB plus APP_MB of their own (~2 GB unique);
# BIG_GB=4 adds one image with a single 4 GB layer to check memory stays bounded.
# Also: `ferry lock` against a `skopeo inspect --raw` loop (LOCK_RUNS times each, median);
# BASELINE=<other ferry.mjs> times that build's lock too (before/after), and `ferry bundle
# verify` against `openssl dgst -sha256` on the bundle made. LOCK_DELAY_MS=n times both locks
# again with the registry n ms away (scripts/bench/delay-proxy.mjs). CREATE_ARGS adds flags to `ferry
# bundle create` (e.g. CREATE_ARGS=--keep-cache for the cache-then-pack path). As root, each timed
# run starts with the page cache emptied (settle), so neither tool inherits the other's cache.
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

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "--- lock (median of ${LOCK_RUNS:=3})"
lock_f=(); lock_s=(); lock_b=()
for _ in $(seq "$LOCK_RUNS"); do
  t0=$(now); for n in $(cat "$W/names"); do skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$A/bench/$n:1" >/dev/null; done; t1=$(now)
  lock_s+=("$(secs "$t0" "$t1")")
  t0=$(now); node dist/ferry.mjs lock "$W/bench.yaml" -o "$W/bench.lock.json" --concurrency "$CONC" -q >/dev/null; t1=$(now)
  lock_f+=("$(secs "$t0" "$t1")")
  if [ -n "${BASELINE:-}" ]; then
    t0=$(now); node "$BASELINE" lock "$W/bench.yaml" -o "$W/baseline.lock.json" --concurrency "$CONC" -q >/dev/null; t1=$(now)
    lock_b+=("$(secs "$t0" "$t1")")
  fi
done
rm -f "$W/bench.lock.json" "$W/baseline.lock.json"
echo "skopeo inspect --raw loop: $(median "${lock_s[@]}")s   (runs: ${lock_s[*]})"
echo "ferry lock:                $(median "${lock_f[@]}")s   (runs: ${lock_f[*]})"
[ -n "${BASELINE:-}" ] && echo "baseline ferry lock:       $(median "${lock_b[@]}")s   (runs: ${lock_b[*]})"

# LOCK_DELAY_MS=n: the lock again against the same registry n ms away (a proxy holds every request).
if [ -n "${LOCK_DELAY_MS:-}" ]; then
  node scripts/bench/delay-proxy.mjs "$A" "$LOCK_DELAY_MS" > "$W/delay.port" & echo $! > "$W/delay.pid"
  for _ in $(seq 50); do [ -s "$W/delay.port" ] && break; sleep 0.1; done
  D=$(cat "$W/delay.port")
  sed "s/127.0.0.1:$A/127.0.0.1:$D/" "$W/bench.yaml" > "$W/far.yaml"
  t0=$(now); for n in $(cat "$W/names"); do skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$D/bench/$n:1" >/dev/null; done; t1=$(now)
  far_s=$(secs "$t0" "$t1")
  t0=$(now); node dist/ferry.mjs lock "$W/far.yaml" -o "$W/far.lock.json" --concurrency "$CONC" -q >/dev/null; t1=$(now)
  far_f=$(secs "$t0" "$t1")
  echo "--- lock, registry ${LOCK_DELAY_MS} ms away"
  echo "skopeo inspect --raw loop: ${far_s}s"
  echo "ferry lock:                ${far_f}s"
  if [ -n "${BASELINE:-}" ]; then
    t0=$(now); node "$BASELINE" lock "$W/far.yaml" -o "$W/far-baseline.lock.json" --concurrency "$CONC" -q >/dev/null; t1=$(now)
    echo "baseline ferry lock:       $(secs "$t0" "$t1")s"
  fi
  printf 'lock ratio ferry/skopeo inspect loop, %s ms away: %.2f\n' "$LOCK_DELAY_MS" "$(echo "$far_f / $far_s" | bc -l)"
  rm -f "$W/far.lock.json" "$W/far-baseline.lock.json"
fi

# Each timed tool starts with the page cache emptied (root only): the tool run second otherwise
# wrote its gigabytes into a cache full of the first one's (6.4 GB workload: ferry's create took
# 25.3 s after skopeo's loop, 17.3 s once the cache was dropped; sync itself took 0.003 s).
settle() { sync; if [ -w /proc/sys/vm/drop_caches ]; then echo 1 > /proc/sys/vm/drop_caches; fi; }
echo "--- fetch"
settle
t0=$(now)
for n in $(cat "$W/names"); do skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$A/bench/$n:1" "oci:$W/skopeo-layout:$n" >/dev/null; done
t1=$(now); skopeo_fetch=$(secs "$t0" "$t1")
t0=$(now); sync; t1=$(now); skopeo_fetch_sync=$(secs "$t0" "$t1")
settle
t0=$(now)
FERRY_CACHE_DIR="$W/cache" /usr/bin/time -v -o "$W/create.time" node dist/ferry.mjs bundle create "$W/bench.yaml" -o "$W/bench.ferry.tar" --concurrency "$CONC" -q ${CREATE_ARGS:-} >/dev/null
t1=$(now); ferry_fetch=$(secs "$t0" "$t1")
echo "skopeo copy loop → OCI layout: ${skopeo_fetch}s  (+ ${skopeo_fetch_sync}s for the sync of what it left unwritten)"
sync
echo "ferry bundle create:           ${ferry_fetch}s  (peak RSS $(rss_of "$W/create.time") MB; bundle $(stat -c %s "$W/bench.ferry.tar") bytes)"

echo "--- push"
# CPU (user + system) beside the wall times: on a shared or small machine the receiving
# registry's CPU and ferry's compete for the same cores, and CPU is what ferry can cut.
settle
c0=$(pid_cpu "$(cat "$W/skopeo-target.pid")"); t0=$(now)
/usr/bin/time -f '%U %S' -o "$W/skopeo-push.time" bash -c 'for n in $(cat "$1/names"); do skopeo copy -q --dest-tls-verify=false "oci:$1/skopeo-layout:$n" "docker://127.0.0.1:$2/mirror/bench/$n:1" >/dev/null; done' _ "$W" "$C"
t1=$(now); skopeo_push=$(secs "$t0" "$t1"); c1=$(pid_cpu "$(cat "$W/skopeo-target.pid")")
settle
skopeo_cpu=$(awk '{printf "%.2f", $1 + $2}' "$W/skopeo-push.time"); skopeo_reg_cpu=$(echo "$c1 - $c0" | bc)
c0=$(pid_cpu "$(cat "$W/ferry-target.pid")"); t0=$(now)
/usr/bin/time -v -o "$W/import.time" node dist/ferry.mjs import "$W/bench.ferry.tar" --target "$W/target.yaml" --concurrency "$CONC" -q >/dev/null
t1=$(now); ferry_push=$(secs "$t0" "$t1"); c1=$(pid_cpu "$(cat "$W/ferry-target.pid")")
ferry_reg_cpu=$(echo "$c1 - $c0" | bc)
echo "skopeo copy loop → registry:   ${skopeo_push}s  (skopeo CPU ${skopeo_cpu}s, registry CPU ${skopeo_reg_cpu}s)"
echo "ferry import (incl. verify):   ${ferry_push}s  (ferry CPU $(cpu_of "$W/import.time")s, registry CPU ${ferry_reg_cpu}s; peak RSS $(rss_of "$W/import.time") MB)"

echo "--- verify"
settle
t0=$(now); openssl dgst -sha256 "$W/bench.ferry.tar" >/dev/null; t1=$(now); openssl_verify=$(secs "$t0" "$t1")
settle
t0=$(now)
/usr/bin/time -v -o "$W/verify.time" node dist/ferry.mjs bundle verify "$W/bench.ferry.tar" -q >/dev/null
t1=$(now); ferry_verify=$(secs "$t0" "$t1")
echo "openssl dgst -sha256:          ${openssl_verify}s"
echo "ferry bundle verify:           ${ferry_verify}s  (peak RSS $(rss_of "$W/verify.time") MB)"

echo "--- result"
printf 'fetch ratio ferry/skopeo: %.2f (goal ≤ 0.5)\n' "$(echo "$ferry_fetch / $skopeo_fetch" | bc -l)"
printf 'push  ratio ferry/skopeo: %.2f (goal ≤ 0.5)\n' "$(echo "$ferry_push / $skopeo_push" | bc -l)"
printf 'verify throughput ferry/openssl: %.2f (goal ≥ 0.8)\n' "$(echo "$openssl_verify / $ferry_verify" | bc -l)"
printf 'lock ratio ferry/skopeo inspect loop: %.2f\n' "$(echo "$(median "${lock_f[@]}") / $(median "${lock_s[@]}")" | bc -l)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "ferry peak RSS: create $(rss_of "$W/create.time") MB, import $(rss_of "$W/import.time") MB (goal ≤ 256 MB)"
