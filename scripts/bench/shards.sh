#!/usr/bin/env bash
# Sharded builds: wall time of filling a shared cache registry with 1 shard vs 2 shards running
# side by side (separate processes, separate local caches, as on two build hosts), then the
# final pack from the cache alone (upstream stopped first, so it provably reads nothing there).
# Workload: IMAGES images (default 40) on BASES shared base layers of BASE_MB plus APP_MB each
# (scripts/bench/make-workload.mjs). On one machine the shards share its CPUs, disk and loopback:
# the figure shows the overhead and the parallelism one host can give, not what N hosts give.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
ferry_npm_install >/dev/null
npm run --silent build
IMAGES=${IMAGES:-40} BASES=${BASES:-4} BASE_MB=${BASE_MB:-250} APP_MB=${APP_MB:-25}
CONC=${CONC:-8}
W=$(mktemp -d /tmp/ferry-bench-shards-XXXX)
trap 'for p in $(cat "$W"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done; rm -rf "$W"' EXIT

source scripts/bench/lib.sh
ferry() { node dist/ferry.mjs "$@"; }

A=$(port); start_registry upstream "$A"
C=$(port); start_registry cache "$C"

echo "workload: $IMAGES images, $BASES base layers × ${BASE_MB} MB shared, ${APP_MB} MB each of their own"
seed_workload "$A" 0
FERRY_CACHE_DIR="$W/lock-cache" ferry lock "$W/bench.yaml" -q >/dev/null
sync

echo "--- 1 shard → oci://127.0.0.1:$C/cache-1"
t0=$(now)
FERRY_CACHE_DIR="$W/one" ferry bundle create "$W/bench.yaml" --shard 1/1 --cache "oci://127.0.0.1:$C/cache-1" --concurrency "$CONC" -q --json > "$W/one.json"
t1=$(now); one=$(secs "$t0" "$t1")
echo "1 shard:  ${one}s"

echo "--- 2 shards side by side → oci://127.0.0.1:$C/cache-2"
t0=$(now)
FERRY_CACHE_DIR="$W/s1" ferry bundle create "$W/bench.yaml" --shard 1/2 --cache "oci://127.0.0.1:$C/cache-2" --concurrency "$CONC" -q --json > "$W/s1.json" &
p1=$!
FERRY_CACHE_DIR="$W/s2" ferry bundle create "$W/bench.yaml" --shard 2/2 --cache "oci://127.0.0.1:$C/cache-2" --concurrency "$CONC" -q --json > "$W/s2.json" &
p2=$!
wait $p1; wait $p2
t1=$(now); two=$(secs "$t0" "$t1")
node -e 'for (const f of process.argv.slice(1)) { const r = require(f); console.log(`  shard ${r.shard}: ${r.units}/${r.totalUnits} units, ${(r.bytes/1e6).toFixed(0)}/${(r.totalBytes/1e6).toFixed(0)} MB`); }' "$W/s1.json" "$W/s2.json"
echo "2 shards: ${two}s"

echo "--- final pack from the cache (upstream stopped)"
kill "$(cat "$W/upstream.pid")"; rm "$W/upstream.pid"
t0=$(now)
FERRY_CACHE_DIR="$W/final" /usr/bin/time -v -o "$W/final.time" node dist/ferry.mjs bundle create "$W/bench.yaml" -o "$W/bench.ferry.tar" --cache "oci://127.0.0.1:$C/cache-2" --frozen --concurrency "$CONC" -q --json > "$W/final.json"
t1=$(now); fin=$(secs "$t0" "$t1")
node -e 'const r = require(process.argv[1]); console.log(`  ${r.cache.hits} read from the cache, ${r.cache.misses} upstream; bundle ${r.size} bytes`)' "$W/final.json"
echo "final pack: ${fin}s (peak RSS $(rss_of "$W/final.time") MB)"

echo "--- the bundle through the registry"
t0=$(now)
ferry bundle push "$W/bench.ferry.tar" "oci://127.0.0.1:$C/bundles/bench:1" --concurrency "$CONC" -q >/dev/null
t1=$(now); push=$(secs "$t0" "$t1")
t0=$(now)
/usr/bin/time -v -o "$W/pull.time" node dist/ferry.mjs bundle pull "oci://127.0.0.1:$C/bundles/bench:1" -o "$W/pulled.ferry.tar" -q >/dev/null
t1=$(now); pull=$(secs "$t0" "$t1")
cmp "$W/bench.ferry.tar" "$W/pulled.ferry.tar" && same=identical || same=DIFFERENT
t0=$(now)
/usr/bin/time -v -o "$W/verify.time" node dist/ferry.mjs bundle verify "oci://127.0.0.1:$C/bundles/bench:1" -q >/dev/null
t1=$(now); verify=$(secs "$t0" "$t1")
echo "push ${push}s; pull ${pull}s (peak RSS $(rss_of "$W/pull.time") MB; $same bytes); verify oci:// ${verify}s (peak RSS $(rss_of "$W/verify.time") MB)"

echo "--- result"
printf 'fill the cache: 1 shard %.1fs, 2 shards %.1fs (speed-up %.2f×)\n' "$one" "$two" "$(echo "$one / $two" | bc -l)"
