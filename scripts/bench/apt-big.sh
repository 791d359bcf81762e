#!/usr/bin/env bash
# A whole Debian-size APT component through ferry, for time and memory at scale: a generated
# repository of N packages (default 60 000; bookworm main is ~65 000 for one architecture),
# signed with gpg, served by nginx, mirrored whole (no package filter). Times and peak RSS of
# `lock`, `bundle create`, `bundle verify`, `import` into an APT directory, and `apt-get update`
# against the imported tree (apt's own check of the result).
#   scripts/bench/apt-big.sh [packages]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
N=${1:-60000}
[ -f dist/ferry.mjs ] || npm run --silent build
WORK=$(mktemp -d /tmp/ferry-bench-apt-big-XXXXXX)
NGINX_PID=""
cleanup() { [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

echo "== generating $N packages"
node scripts/bench/apt-repo-gen.mjs "$WORK/repo" "$N"
export GNUPGHOME="$WORK/gnupg"; mkdir -m 700 "$GNUPGHOME"
gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'bench <bench@ferry.test>' rsa2048 sign never 2>/dev/null
gpg --batch --armor --export > "$WORK/vendor.asc"
gpg --batch --yes --clearsign --output "$WORK/repo/dists/bookworm/InRelease" "$WORK/repo/dists/bookworm/Release"

mkdir -p "$WORK/site/mirror"
source scripts/bench/nginx.sh
start_bench_nginx "$WORK" "location /repo/ { alias $WORK/repo/; } location /site/ { alias $WORK/site/mirror/; }" /repo/dists/bookworm/InRelease

cp "$WORK/vendor.asc" "$WORK/site/vendor.asc"
cat > "$WORK/site/manifest.yaml" <<YAML
apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: big }
apt:
  - name: big
    url: http://127.0.0.1:$PORT/repo
    suites: [bookworm]
    components: [main]
    architectures: [amd64]
    keys: [vendor.asc]
YAML
cat > "$WORK/site/target.yaml" <<YAML
apiVersion: ferry/v1alpha1
kind: MirrorTarget
metadata: { name: site }
apt: { dir: ./mirror, baseUrl: http://127.0.0.1:$PORT/site }
YAML
export FERRY_CACHE_DIR="$WORK/cache"
T() { local what=$1; shift; /usr/bin/time -f "$what: %e s wall, %U s user, %S s sys, %M KB peak RSS" "$@"; }
cd "$WORK/site"
T lock node "$OLDPWD/dist/ferry.mjs" lock manifest.yaml -q
T "bundle create" node "$OLDPWD/dist/ferry.mjs" bundle create manifest.yaml -o big.ferry.tar -q
echo "bundle: $(stat -c %s big.ferry.tar) bytes, $(tar tf big.ferry.tar | wc -l) entries"
# The same mirror with aptly (APTLY=0 skips it): `mirror create` + `mirror update` of the whole
# component (aptly downloads into its pool and records every package in its database), against
# ferry's `lock` + `bundle create` above; sums of wall and CPU from the lines printed.
if [ "${APTLY:-1}" != 0 ]; then
  gpg --batch --no-default-keyring --keyring "$WORK/trustedkeys.gpg" --import "$WORK/vendor.asc" 2>/dev/null
  echo "{\"rootDir\": \"$WORK/aptly\", \"gpgProvider\": \"gpg\", \"architectures\": [\"amd64\"], \"downloadConcurrency\": 4}" > "$WORK/aptly.conf"
  T "aptly mirror create" aptly -config="$WORK/aptly.conf" mirror create -keyring="$WORK/trustedkeys.gpg" -architectures=amd64 big "http://127.0.0.1:$PORT/repo" bookworm main >/dev/null
  T "aptly mirror update" aptly -config="$WORK/aptly.conf" mirror update -keyring="$WORK/trustedkeys.gpg" big >/dev/null
  echo "aptly mirrored: $(aptly -config="$WORK/aptly.conf" mirror show big | awk -F': ' '/Number of packages/ {print $2}') packages"
fi
T "bundle verify" node "$OLDPWD/dist/ferry.mjs" bundle verify big.ferry.tar -q
T import node "$OLDPWD/dist/ferry.mjs" import big.ferry.tar --target target.yaml -q >/dev/null
echo "imported: $(find mirror -name '*.deb' | wc -l) .deb files"
# dists/bookworm is a link to the suite's current version (import switches it whole): find the link itself.
REPO_URL=$(find mirror -path '*/dists/bookworm' | head -1 | sed 's#^mirror/##; s#/dists/bookworm$##')
mkdir -p apt/etc/apt/sources.list.d apt/var/lib/apt/lists/partial apt/var/cache/apt/archives/partial apt/var/lib/dpkg
: > apt/var/lib/dpkg/status
echo "deb [signed-by=$WORK/vendor.asc] http://127.0.0.1:$PORT/site/$REPO_URL bookworm main" > apt/etc/apt/sources.list
T "apt-get update" apt-get -o Dir="$WORK/site/apt" -o Dir::State::status="$WORK/site/apt/var/lib/dpkg/status" -o Debug::NoLocking=1 -o APT::Sandbox::User=root update -q >/dev/null
echo "apt-cache sees: $(apt-cache -o Dir="$WORK/site/apt" -o Dir::State::status="$WORK/site/apt/var/lib/dpkg/status" pkgnames bench-pkg- | wc -l) packages"
