#!/usr/bin/env bash
# Installs the real services the tests run against, from Debian, when missing.
# With arguments (command:package …) it installs only those (scripts/demo.sh uses that).
set -euo pipefail
pairs=("$@")
if [ ${#pairs[@]} -eq 0 ]; then
  pairs=(docker-registry:docker-registry skopeo:skopeo umoci:umoci openssl:openssl htpasswd:apache2-utils
         aptly:aptly gpg:gnupg gpgv:gpgv dpkg-deb:dpkg dpkg-scanpackages:dpkg-dev apt-ftparchive:apt-utils nginx:nginx apt-get:apt nft:nftables iptables-restore:iptables squid:squid
         containerd:containerd ctr:containerd chromium:chromium strace:strace ip:iproute2 cmark:cmark)
  [ -x /usr/bin/time ] || pairs+=(/usr/bin/time:time)  # GNU time: peak RSS in the large-file test (`command -v time` finds the shell keyword)
fi
need=()
for pair in "${pairs[@]}"; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/usr/bin/$cmd" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing from Debian: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  # Debian starts these services on install; the tests and the demo run their own instances on loopback.
  for svc in docker-registry nginx squid containerd; do $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true; done
fi
