#!/usr/bin/env bash
# The whole pipeline on this machine with no network: a small upstream made here and served by
# `ferry serve` as if it were a remote registry; lock, bundle create, bundle verify, import into a
# directory target, serve of the result, and the mapping table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ferry_npm_install
npm run --silent build
node scripts/demo/run.mjs "$@"
