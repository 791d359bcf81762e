# Shared by the registry benchmarks (images.sh, shards.sh): sourced after W (the work dir) is set.
start_registry() { # name port
  mkdir -p "$W/$1"
  cat > "$W/$1/config.yml" <<YML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $W/$1/storage }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$2 }
YML
  docker-registry serve "$W/$1/config.yml" >"$W/$1/log" 2>&1 &
  echo $! > "$W/$1.pid"
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$2/v2/" >/dev/null 2>&1 && return; sleep 0.2; done
  echo "registry $1 did not start" >&2; exit 1
}
port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
rss_of() { awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$1"; }
# CPU seconds (user + system) from a `/usr/bin/time -v` file.
cpu_of() { awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$1"; }
# CPU seconds (user + system) a running process has used so far, from /proc (a registry's, say).
pid_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# Build the image workload (make-workload.mjs), push it to the registry on port $1, and write
# $W/names and the manifest $W/bench.yaml naming every image. $2: the big layer in GB (0: none).
seed_workload() {
  node scripts/bench/make-workload.mjs "$W/layout" "$IMAGES" "$BASES" "$BASE_MB" "$APP_MB" "$2" > "$W/names"
  echo "unique bytes: $(du -sb "$W/layout/blobs" | cut -f1)"
  for n in $(cat "$W/names"); do
    skopeo copy -q --dest-tls-verify=false "oci:$W/layout:$n" "docker://127.0.0.1:$1/bench/$n:1" >/dev/null
  done
  rm -rf "$W/layout"
  {
    printf 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: bench }\nimages:\n'
    for n in $(cat "$W/names"); do printf '  - ref: 127.0.0.1:%s/bench/%s:1\n' "$1" "$n"; done
  } > "$W/bench.yaml"
}
