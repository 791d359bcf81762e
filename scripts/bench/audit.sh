#!/usr/bin/env bash
# Time and peak RSS of `ferry audit` on a big tree: the directory given, or a generated one.
#   scripts/bench/audit.sh [DIR] [--mb N]      (default: generate N=150 MB of YAML)
#   scripts/bench/audit.sh --nginx [--mb N]    an nginx configuration over files (default 9 MB:
#                                              nginx.conf with upstream groups and a map, including
#                                              ~256 sites through conf.d/*.conf)
#   BASELINE=<other ferry.mjs>                 times that build on the same tree too
# Prints: <wall> s <user> u <peak RSS> KB. Needs /usr/bin/time and a built dist/ (npm run build).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/scripts/env.sh"
dir=""; mb=""; nginx=""
while [ $# -gt 0 ]; do
  case "$1" in
    --mb) mb=$2; shift 2 ;;
    --nginx) nginx=--nginx; shift ;;
    *) dir=$1; shift ;;
  esac
done
cleanup=""
if [ -z "$dir" ]; then
  dir=$(mktemp -d /tmp/ferry-audit-bench.XXXXXX); cleanup=$dir
  node "$here/scripts/bench/gen-audit-tree.mjs" "$dir" "${mb:-$([ -n "$nginx" ] && echo 9 || echo 150)}" $nginx
fi
trap '[ -n "$cleanup" ] && rm -rf "$cleanup"' EXIT
echo "tree: $dir ($(du -sm "$dir" | cut -f1) MB, $(find "$dir" -type f | wc -l) files)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for ferry in "$here/dist/ferry.mjs" ${BASELINE:+"$BASELINE"}; do
  printf '%s: ' "$ferry"
  /usr/bin/time -f '%e s %U u %M KB' node "$ferry" audit "$dir" --manifest "$here/manifests/demo.yaml" --format json 2>&1 >/dev/null | tail -1
done
