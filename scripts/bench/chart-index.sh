#!/usr/bin/env bash
# Chart index streaming and discovery: ferry's streamed read of one chart from a large
# index.yaml (served by nginx on loopback) against a full YAML parse; discovery over the corpus.
#   scripts/bench/chart-index.sh [charts=4000] [versions-per-chart=25]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-chart-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
node_modules/.bin/esbuild scripts/bench/chart-index.ts --bundle --platform=node --format=esm --outfile="$WORK/bench.mjs" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
/usr/bin/time -f "%e s wall, %M KB peak RSS" node "$WORK/bench.mjs" "${1:-4000}" "${2:-25}" "${FERRY_CHART_CORPUS:-../shared/corpus/charts}"
