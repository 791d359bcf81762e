#!/usr/bin/env bash
# Time and peak RSS of `ferry rewrite manifests` against `kubectl kustomize` doing the same rewrite
# (an `images:` override for every image) on the same data, in the same run:
#   scripts/bench/rewrite.sh [OBJECTS] [FILES] [IMAGES]     (default 1000 2000 60)
#   big:  one rendered install of OBJECTS objects (~1.9 MB at 1000, `helm template` style)
#   tree: a GitOps repository of FILES files of 1–4 objects each (~15 MB at 2000)
# ferry rewrites a copy in place; kustomize prints the built objects (--load-restrictor
# LoadRestrictionsNone: the kustomization beside the data lists every file). Both must point the
# same number of image references at the mirror, or the run stops. BASELINE=<ferry.mjs> times
# another build beside this one. Prints wall s, CPU s, peak RSS MB and ferry / kustomize ratios.
# Needs /usr/bin/time, kubectl and a built dist/ (npm run build).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/scripts/env.sh"
source "$here/scripts/bench/lib.sh"
objects=${1:-1000}; files=${2:-2000}; images=${3:-60}
W=$(mktemp -d /tmp/ferry-rewrite-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
node "$here/scripts/bench/gen-rewrite-data.mjs" "$W/data" "$objects" "$files" "$images"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: big $(du -sm "$W/data/big" | cut -f1) MB ($objects objects), tree $(du -sm "$W/data/tree" | cut -f1) MB ($files files), $images images"

wall_of() { awk '/Elapsed \(wall clock\)/ {n = split($NF, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s}' "$1"; }
mirrored() { grep -rho 'registry\.site\.internal/ferry/[^"[:space:]]*' "$@" | wc -l; }
ratio() { echo "scale=2; $1 / $2" | bc; }

for set in big tree; do
  # kustomize: prints every object with the images moved
  /usr/bin/time -v -o "$W/kz.time" kubectl kustomize --load-restrictor LoadRestrictionsNone "$W/data/kz-$set" > "$W/kz.out"
  kz_wall=$(wall_of "$W/kz.time"); kz_cpu=$(cpu_of "$W/kz.time"); kz_rss=$(rss_of "$W/kz.time")
  kz_moved=$(mirrored "$W/kz.out")
  for build in "$here/dist/ferry.mjs" ${BASELINE:+"$BASELINE"}; do
    rm -rf "$W/run" && mkdir "$W/run" && cp -r "$W/data/$set" "$W/run/"
    (cd "$W/data" && /usr/bin/time -v -o "$W/ferry.time" node "$build" rewrite manifests "$W/run/$set" -t t.yaml --lock m.lock.json -q)
    f_wall=$(wall_of "$W/ferry.time"); f_cpu=$(cpu_of "$W/ferry.time"); f_rss=$(rss_of "$W/ferry.time")
    f_moved=$(mirrored "$W/run/$set")
    if [ "$f_moved" != "$kz_moved" ]; then echo "$set: ferry moved $f_moved image references, kustomize $kz_moved: not the same rewrite" >&2; exit 1; fi
    label=$([ "$build" = "$here/dist/ferry.mjs" ] && echo ferry || echo baseline)
    printf '%-5s %-9s %6s s wall %6s s CPU %5s MB | kustomize %6s s wall %6s s CPU %5s MB | ratio wall %s CPU %s (%s references moved)\n' \
      "$set" "$label" "$f_wall" "$f_cpu" "$f_rss" "$kz_wall" "$kz_cpu" "$kz_rss" "$(ratio "$f_wall" "$kz_wall")" "$(ratio "$f_cpu" "$kz_cpu")" "$f_moved"
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
