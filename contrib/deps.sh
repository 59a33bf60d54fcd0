#!/bin/bash
# Installs the Debian 12 packages lockbox needs to build, run and test. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential autoconf automake libtool pkg-config git ca-certificates
  libpam0g-dev libcurl4-openssl-dev libjansson-dev libssh-dev libmicrohttpd-dev
  libsqlite3-dev libpq-dev libssl-dev libsystemd-dev
  # tests: a private PostgreSQL cluster (initdb, pg_ctl) for the PostgreSQL store
  postgresql
  libpamtest0-dev libpam-wrapper libnss-wrapper libcmocka-dev pamtester
  openssh-server openssh-client python3 python3-aiosmtpd openssl curl sqlite3 util-linux iproute2 procps
  libqrencode-dev oathtool
  # contrib/pkgtest.sh: the Debian packages (dpkg-buildpackage, lintian)
  debhelper fakeroot lintian dpkg-dev
  # tests/install/test_logrotate.py: /etc/logrotate.d/lockbox against a live gateway;
  # tests/api/test_metrics.py: promtool (in Debian's prometheus) checks /metrics
  logrotate prometheus
  # tests/e2e/test_rdp.py: real xrdp (Xorg sessions through xorgxrdp) and a real RDP client
  # (xfreerdp under Xvfb); the test runs its own xrdp and xrdp-sesman on free loopback ports
  # in a private mount namespace, never the host's service
  xrdp xorgxrdp xauth freerdp2-x11 xvfb
  # tests/console/test_console.py: the web console in Debian's headless Chromium, driven by
  # Debian's python3-selenium (under /usr/bin/python3)
  chromium chromium-driver python3-selenium
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lockbox: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # installed for the tests only: where systemd runs, Debian's postinst has started xrdp
  # (listening on 3389 on every interface); stop it and keep it from starting at boot
  if [[ " ${missing[*]} " == *" xrdp "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now xrdp.service xrdp-sesman.service >/dev/null 2>&1 || true
  fi
  # likewise postgresql, wanted for the tests' own clusters only: its postinst starts a
  # cluster on :5432 (the tests never use it)
  if [[ " ${missing[*]} " == *" postgresql "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now postgresql.service >/dev/null 2>&1 || true
  fi
  # likewise prometheus, wanted for promtool only: its postinst starts a server on :9090
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
fi
