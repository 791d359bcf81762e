#!/usr/bin/env bash
# The whole job on this machine with no network: upstreams made here and served on loopback (a
# docker-registry, a chart repository, a download with a signed SHA256SUMS, a signed APT
# repository), then lock, bundle create, bundle verify, import, serve, rewrite, mirror-config,
# audit, inventory, firewall and report; it ends by checking and printing what it proved.
# Usage: bash scripts/demo.sh [work-dir]   (default: a new temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# A node_modules that is a link is a shared install managed elsewhere: leave it alone.
[ -L node_modules ] || ferry_npm_install
bash scripts/install-test-deps.sh docker-registry:docker-registry gpg:gnupg gpgv:gpgv dpkg-deb:dpkg nft:nftables
npm run --silent build
node scripts/demo/run.mjs "$@"
