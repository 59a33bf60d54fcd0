#!/bin/bash
# Installs the Debian 12 packages lockbox needs to build, run and test. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential autoconf automake libtool pkg-config git ca-certificates
  libpam0g-dev libcurl4-openssl-dev libjansson-dev libssh-dev libmicrohttpd-dev
  libsqlite3-dev libpq-dev libssl-dev libsystemd-dev
  libpamtest0-dev libpam-wrapper libnss-wrapper libcmocka-dev pamtester
  openssh-server openssh-client python3 python3-aiosmtpd openssl curl sqlite3 util-linux iproute2 procps
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lockbox: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
