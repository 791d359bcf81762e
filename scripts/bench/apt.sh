#!/usr/bin/env bash
# Benchmark: mirror the same filtered package set (with dependencies) from the same loopback
# APT repository with ferry (`ferry bundle create`: lock + verified fetch + pack) and with aptly
# (`aptly mirror create -filter-with-deps` + `aptly mirror update`). Prints each run, the
# wall-time ratio ferry/aptly (medians) and ferry's peak RSS (GNU time).
#
#   scripts/bench/apt.sh [runs]        (default 3 runs each; needs aptly, gpg, nginx, apt-get)
#   PROFILE=<dir> scripts/bench/apt.sh 1   also writes ferry's CPU profiles (node --cpu-prof) there
#   FERRY_JS=<other ferry.mjs> scripts/bench/apt.sh   measures that build instead (before/after)
#   BASELINE=<other ferry.mjs> scripts/bench/apt.sh   also times that build in every run, right
#                                                     after this one (before/after under the same load)
#
# ferry runs through its compile cache (dist/ferry.mjs enables it) in a directory of the run's
# own, warmed by one untimed run first: what a user sees from the second command on.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
RUNS=${1:-3}
[ -f dist/ferry.mjs ] || npm run --silent build

WORK=$(mktemp -d /tmp/ferry-bench-apt-XXXXXX)
NGINX_PID=""
cleanup() { [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

# A repository of 82 real Debian packages with real dependency chains (~100 MB); the filtered set
# (jq curl rsync wget file git gcc-12 + dependencies) is 74 of them (~70 MB).
DEBS=(jq libjq1 libonig5 tree sensible-utils curl libcurl4 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libbrotli1
      libldap-2.5-0 libsasl2-2 libsasl2-modules-db libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0
      libkeyutils1 libcom-err2 libzstd1 zlib1g libidn2-0 libunistring2 libgnutls30 libnettle8 libhogweed6
      libgmp10 libp11-kit0 libffi8 libtasn1-6 publicsuffix xz-utils liblzma5 less file libmagic1 libmagic-mgc
      rsync libpopt0 libxxhash0 liblz4-1 git-man wget libpcre2-8-0
      git libcurl3-gnutls liberror-perl perl perl-modules-5.36 libperl5.36 libexpat1 gcc-12 cpp-12 libgcc-12-dev
      libisl23 libmpc3 libmpfr6 libcc1-0 libgomp1 libitm1 libatomic1 libasan8 liblsan0 libtsan2 libubsan1 libquadmath0
      binutils binutils-common libbinutils libctf0 libctf-nobfd0 libgprofng0 libjansson4 binutils-x86-64-linux-gnu
      gcc-12-base libgcc-s1 libstdc++6 vim-runtime libicu72 libllvm14)
CACHE=${FERRY_TEST_DEB_CACHE:-/tmp/ferry-test-debs}
mkdir -p "$CACHE"
missing=()
for d in "${DEBS[@]}"; do ls "$CACHE/${d}_"*.deb >/dev/null 2>&1 || missing+=("$d"); done
if [ ${#missing[@]} -gt 0 ]; then (cd "$CACHE" && apt-get download "${missing[@]}" >/dev/null 2>&1); fi
files=()
for d in "${DEBS[@]}"; do files+=("$(ls "$CACHE/${d}_"*.deb | sort | tail -1)"); done

export GNUPGHOME="$WORK/gnupg"; mkdir -m 700 "$GNUPGHOME"
gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'bench <bench@ferry.test>' rsa2048 sign never 2>/dev/null
FPR=$(gpg --batch --with-colons --list-secret-keys | awk -F: '/^fpr/ {print $10; exit}')
gpg --batch --armor --export "$FPR" > "$WORK/vendor.asc"
gpg --batch --no-default-keyring --keyring "$WORK/trustedkeys.gpg" --import "$WORK/vendor.asc" 2>/dev/null

cat > "$WORK/aptly-src.conf" <<EOF
{"rootDir": "$WORK/aptly-src", "gpgProvider": "gpg", "architectures": ["amd64"]}
EOF
aptly -config="$WORK/aptly-src.conf" repo create -distribution=bookworm -component=main src >/dev/null
aptly -config="$WORK/aptly-src.conf" repo add src "${files[@]}" >/dev/null 2>&1
aptly -config="$WORK/aptly-src.conf" publish repo -gpg-key="$FPR" -passphrase= -batch -acquire-by-hash src repo >/dev/null 2>&1

source scripts/bench/nginx.sh
start_bench_nginx "$WORK" "root $WORK/aptly-src/public;" /repo/dists/bookworm/InRelease
URL="http://127.0.0.1:$PORT/repo"
FILTER='jq | curl | rsync | wget | file | git | gcc-12'

mkdir -p "$WORK/ferry"
cp "$WORK/vendor.asc" "$WORK/ferry/vendor.asc"
cat > "$WORK/ferry/manifest.yaml" <<EOF
apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: bench }
apt:
  - name: bench
    url: $URL
    suites: [bookworm]
    components: [main]
    architectures: [amd64]
    packages: [jq, curl, rsync, wget, file, git, gcc-12]
    keys: [vendor.asc]
EOF

now() { date +%s.%N; }
export FERRY_COMPILE_CACHE="$WORK/compile-cache"
# One create with each build, untimed: fills the compile cache (and the page cache).
for js in "${FERRY_JS:-dist/ferry.mjs}" ${BASELINE:+"$BASELINE"}; do
  rm -rf "$WORK/ferry/cache" "$WORK/ferry/bench.lock.json" "$WORK/ferry/bench.tar"
  FERRY_CACHE_DIR="$WORK/ferry/cache" node "$js" bundle create "$WORK/ferry/manifest.yaml" -o "$WORK/ferry/bench.tar" -q >/dev/null 2>&1
done
# ferry_run <ferry.mjs> <prefix>: one timed create; sets <prefix>_wall, <prefix>_cpu, <prefix>_rss.
ferry_run() {
  rm -rf "$WORK/ferry/cache" "$WORK/ferry/bench.lock.json" "$WORK/ferry/bench.tar"
  local t0 t1
  t0=$(now)
  FERRY_CACHE_DIR="$WORK/ferry/cache" /usr/bin/time -v -o "$WORK/time.txt" node ${PROFILE:+--cpu-prof --cpu-prof-dir="$PROFILE"} "$1" bundle create "$WORK/ferry/manifest.yaml" -o "$WORK/ferry/bench.tar" -q >/dev/null 2>"$WORK/ferry.err" \
    || { cat "$WORK/ferry.err" >&2; exit 1; }
  t1=$(now)
  printf -v "${2}_wall" '%s' "$(echo "$t1 - $t0" | bc)"
  printf -v "${2}_rss" '%s' "$(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/time.txt")"
  printf -v "${2}_cpu" '%s' "$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$WORK/time.txt")"
}
ferry_times=(); aptly_times=(); ferry_cpu=(); aptly_cpu=(); rss=(); base_times=(); base_cpu=(); ferry_pkgs=0; aptly_pkgs=0
for i in $(seq "$RUNS"); do
  ferry_run "${FERRY_JS:-dist/ferry.mjs}" f
  ferry_times+=("$f_wall"); ferry_cpu+=("$f_cpu"); rss+=("$f_rss")
  ferry_pkgs=$(node -e "const l=require('$WORK/ferry/bench.lock.json');console.log(l.apt[0].suites[0].packages.length)")
  if [ -n "${BASELINE:-}" ]; then
    ferry_run "$BASELINE" b
    base_times+=("$b_wall"); base_cpu+=("$b_cpu")
  fi

  rm -rf "$WORK/aptly-mirror"
  cat > "$WORK/aptly-mirror.conf" <<EOF
{"rootDir": "$WORK/aptly-mirror", "gpgProvider": "gpg", "architectures": ["amd64"], "downloadConcurrency": 4}
EOF
  t0=$(now)
  rm -f "$WORK/aptly-time.txt"
  /usr/bin/time -a -o "$WORK/aptly-time.txt" -f '%U %S' aptly -config="$WORK/aptly-mirror.conf" mirror create -keyring="$WORK/trustedkeys.gpg" -filter="$FILTER" -filter-with-deps -architectures=amd64 m "$URL" bookworm main >/dev/null 2>&1
  /usr/bin/time -a -o "$WORK/aptly-time.txt" -f '%U %S' aptly -config="$WORK/aptly-mirror.conf" mirror update -keyring="$WORK/trustedkeys.gpg" m >/dev/null 2>&1
  t1=$(now)
  aptly_times+=("$(echo "$t1 - $t0" | bc)")
  aptly_cpu+=("$(awk '{s+=$1+$2} END {print s}' "$WORK/aptly-time.txt")")
  aptly_pkgs=$(aptly -config="$WORK/aptly-mirror.conf" mirror show m | awk -F': ' '/Number of packages/ {print $2}')
  printf 'run %d: ferry %.2fs wall %.2fs cpu (peak RSS %d MiB), aptly %.2fs wall %.2fs cpu%s\n' "$i" "${ferry_times[-1]}" "${ferry_cpu[-1]}" "$(( ${rss[-1]} / 1024 ))" "${aptly_times[-1]}" "${aptly_cpu[-1]}" \
    "${BASELINE:+$(printf ', baseline %.2fs wall %.2fs cpu' "${base_times[-1]:-0}" "${base_cpu[-1]:-0}")}"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
fm=$(median "${ferry_times[@]}"); am=$(median "${aptly_times[@]}"); rm_=$(median "${rss[@]}")
echo "packages mirrored: ferry $ferry_pkgs, aptly $aptly_pkgs (repository: ${#DEBS[@]})"
printf 'median wall time: ferry %.2fs, aptly %.2fs, ratio ferry/aptly %.2f\n' "$fm" "$am" "$(echo "$fm / $am" | bc -l)"
fc=$(median "${ferry_cpu[@]}"); ac=$(median "${aptly_cpu[@]}")
printf 'median cpu time (user+sys): ferry %.2fs, aptly %.2fs, ratio %.2f\n' "$fc" "$ac" "$(echo "$fc / $ac" | bc -l)"
if [ -n "${BASELINE:-}" ]; then
  bm=$(median "${base_times[@]}"); bc_=$(median "${base_cpu[@]}")
  printf 'baseline (%s) median: %.2fs wall, %.2fs cpu; ratio to aptly %.2f wall, %.2f cpu\n' "$BASELINE" "$bm" "$bc_" "$(echo "$bm / $am" | bc -l)" "$(echo "$bc_ / $ac" | bc -l)"
fi
printf 'ferry peak RSS (median): %d MiB\n' "$(( ${rm_%.*} / 1024 ))"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other work on the machine inflates both)"
