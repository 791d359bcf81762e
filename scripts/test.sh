#!/usr/bin/env bash
# Installs what is needed (Node >= 22.19, npm packages, Debian services), builds, and runs every
# test. The last line is a plain summary: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
set -e
ferry_npm_install
bash scripts/install-test-deps.sh
npm run --silent build
npm run --silent typecheck
set +e
mkdir -p test-results
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
status=$?
node scripts/test-summary.mjs test-results/vitest.json
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
