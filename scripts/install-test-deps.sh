#!/usr/bin/env bash
# Installs the real services the tests run against, from Debian, when missing.
set -euo pipefail
need=()
for pair in docker-registry:docker-registry skopeo:skopeo umoci:umoci openssl:openssl htpasswd:apache2-utils \
            aptly:aptly gpg:gnupg nginx:nginx apt-get:apt nft:nftables iptables-restore:iptables squid:squid \
            containerd:containerd ctr:containerd; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/usr/bin/$cmd" ] || need+=("$pkg")
done
[ -x /usr/bin/time ] || need+=(time)  # GNU time: peak RSS in the large-file test (`command -v time` finds the shell keyword)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test dependencies: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  # Debian starts these services on install; the tests run their own instances on loopback.
  for svc in docker-registry nginx squid containerd; do $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true; done
fi
