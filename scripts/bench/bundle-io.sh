#!/usr/bin/env bash
# Bundle I/O: pack (re-hashing / trusting the store), verify, split, serve → skopeo copy, against
# sha256sum / cp / skopeo oci-archive / split -b + sha256sum baselines on the same bytes. Prints wall times and peak RSS.
# `bundle verify` runs VERIFY_RUNS times (default 3) interleaved with `openssl dgst -sha256` of
# the same bundle file; the median throughput ratio is printed (goal ≥ 0.8).
#   scripts/bench/bundle-io.sh [big-layer-bytes]   (default 4 GiB)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
SIZE=${1:-4294967296}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-bundle-XXXXXX")
trap 'kill $SERVE_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVE_PID=
npm run --silent build
node_modules/.bin/esbuild scripts/bench/bundle-io.ts --bundle --platform=node --format=esm --outfile="$WORK/bench.mjs" --log-level=warning
T() { /usr/bin/time -f "%e s wall, %M KB peak RSS" "$@"; }

echo "== layout with a $SIZE-byte layer + 20 small images"
node "$WORK/bench.mjs" layout "$WORK" "$SIZE"
du -sh "$WORK/upstream"
echo "== baseline: sha256sum of the big layer";  T sha256sum "$WORK"/upstream/blobs/sha256/* >/dev/null
echo "== baseline: cp -r of the layout";         T cp -r "$WORK/upstream" "$WORK/cp-copy"; rm -rf "$WORK/cp-copy"
echo "== baseline: skopeo copy layout → oci-archive (big image)"
T skopeo copy --preserve-digests -q "oci:$WORK/upstream:docker.io/library/big:1" "oci-archive:$WORK/skopeo.tar:big" ; rm -f "$WORK/skopeo.tar"
echo "== ferry packBundle (re-hash every blob)"; T node "$WORK/bench.mjs" pack "$WORK" rehash
echo "== ferry packBundle (trustStore)";         T node "$WORK/bench.mjs" pack "$WORK" trust
echo "== ferry bundle verify vs openssl dgst -sha256 of the bundle (interleaved, ${VERIFY_RUNS:=3} runs)"
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ov=(); fv=(); ratios=()
for _ in $(seq "$VERIFY_RUNS"); do
  t0=$(now); openssl dgst -sha256 "$WORK/bench.ferry.tar" >/dev/null; t1=$(now); o=$(echo "$t1 - $t0" | bc)
  t0=$(now); T node dist/ferry.mjs bundle verify -q "$WORK/bench.ferry.tar" >/dev/null; t1=$(now); f=$(echo "$t1 - $t0" | bc)
  ov+=("$o"); fv+=("$f"); ratios+=("$(echo "$o / $f" | bc -l)")
done
echo "openssl: ${ov[*]} s; ferry verify: ${fv[*]} s"
printf 'verify throughput ferry/openssl (median of per-run ratios): %.2f (goal ≥ 0.8); load %s on %s cores\n' "$(median "${ratios[@]}")" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
echo "== ferry bundle split vs split -b + sha256sum (parts of 1 GiB and their list; the bundle is in the page cache for both)"
mkdir -p "$WORK/split-a" "$WORK/split-b"
t0=$(now); (cd "$WORK/split-a" && split -b 1G -d -a 3 --numeric-suffixes=1 "$WORK/bench.ferry.tar" bench.ferry.tar. && sha256sum bench.ferry.tar.[0-9]* > bench.ferry.tar.parts); t1=$(now); cs=$(echo "$t1 - $t0" | bc)
rm -rf "$WORK/split-a"
t0=$(now); T node dist/ferry.mjs bundle split -q "$WORK/bench.ferry.tar" --split-size 1G -o "$WORK/split-b/bench.ferry.tar" >/dev/null; t1=$(now); fs=$(echo "$t1 - $t0" | bc)
rm -rf "$WORK/split-b"
printf 'split: coreutils %.2f s, ferry %.2f s: ratio %.2f; load %s\n' "$cs" "$fs" "$(echo "$fs / $cs" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== ferry serve → skopeo copy (big image)"
node dist/ferry.mjs serve "$WORK/bench.ferry.tar" --listen 127.0.0.1:0 -q > "$WORK/serve.out" &
SERVE_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
HOSTPORT=$(sed -n 's|listening on http://||p' "$WORK/serve.out")
T skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$HOSTPORT/docker.io/library/big:1" "dir:$WORK/pulled"
echo "serve RSS: $(ps -o rss= -p $SERVE_PID) KB (after the pull)"
