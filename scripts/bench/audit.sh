#!/usr/bin/env bash
# Time and peak RSS of `ferry audit` on a big tree: the directory given, or a generated one.
#   scripts/bench/audit.sh [DIR] [--mb N]      (default: generate N=150 MB of YAML)
# Prints: <wall> s <user> u <peak RSS> KB. Needs /usr/bin/time and a built dist/ (npm run build).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/scripts/env.sh"
dir=""; mb=150
while [ $# -gt 0 ]; do
  case "$1" in
    --mb) mb=$2; shift 2 ;;
    *) dir=$1; shift ;;
  esac
done
cleanup=""
if [ -z "$dir" ]; then
  dir=$(mktemp -d /tmp/ferry-audit-bench.XXXXXX); cleanup=$dir
  node "$here/scripts/bench/gen-audit-tree.mjs" "$dir" "$mb"
fi
trap '[ -n "$cleanup" ] && rm -rf "$cleanup"' EXIT
echo "tree: $dir ($(du -sm "$dir" | cut -f1) MB, $(find "$dir" -type f | wc -l) files)"
/usr/bin/time -f '%e s %U u %M KB' node "$here/dist/ferry.mjs" audit "$dir" --manifest "$here/manifests/demo.yaml" --format json >/dev/null
