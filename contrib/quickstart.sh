#!/bin/bash
# The README's run command: installs the Debian packages lockbox needs, builds and installs
# it, starts lockbox-gatewayd on its SQLite default (HTTPS with a local CA made here), and
# plays the demo of a gated SSH login (contrib/demo.sh: a demo host with its own sshd and
# lockbox-agent, a login denied, allowed, and a live session ended by a revoke). Safe to run
# again.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "quickstart: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and the PAM module)"

say "Installing build and runtime packages (apt-get)"
bash contrib/deps.sh

say "Building and installing lockbox (prefix /usr/local, config in /etc/lockbox)"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
mkdir -p _build/quickstart
(
  cd _build/quickstart
  "$top/configure" --prefix=/usr/local --sysconfdir=/etc --localstatedir=/var \
    --with-pamconfigsdir=/usr/share/pam-configs >configure.out 2>&1 ||
    { cat configure.out; exit 1; }
  make -j"$(nproc)" >make.out 2>&1 || { tail -50 make.out; exit 1; }
  make install >install.out 2>&1 || { tail -50 install.out; exit 1; }
)
gatewayd=/usr/local/sbin/lockbox-gatewayd
agent=/usr/local/sbin/lockbox-agent
ctl=/usr/local/bin/lockboxctl
[ -x "$gatewayd" ] && [ -x "$agent" ] && [ -x "$ctl" ] ||
  die "the install did not produce $gatewayd, $agent and $ctl"

etc=/etc/lockbox
tls=$etc/tls
port=${LOCKBOX_PORT:-8443}
smtp_port=${LOCKBOX_DEMO_SMTP_PORT:-2525}
url="https://127.0.0.1:$port"
install -d -m 0755 "$etc"
install -d -m 0700 "$tls" /var/lib/lockbox /var/log/lockbox

if [ ! -s "$tls/ca.crt" ] || [ ! -s "$tls/gateway.key" ]; then
  say "Making a local CA and a gateway certificate for 127.0.0.1 and localhost ($tls)"
  # ECDSA P-256: every PAM login is a new TLS handshake, and the gateway signs one per login
  # (an RSA-2048 key halves the logins it can take per second: bench/findings.md)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=lockbox quickstart CA" -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$tls/gateway.key" -out "$tls/gateway.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/ext.cnf"
  openssl x509 -req -in "$tls/gateway.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 825 -extfile "$tls/ext.cnf" -out "$tls/gateway.crt" 2>/dev/null
  chmod 0600 "$tls"/*.key
  chmod 0644 "$tls/ca.crt" "$tls/gateway.crt"
fi

if [ ! -f "$etc/gatewayd.conf" ]; then
  say "Writing $etc/gatewayd.conf (SQLite default, HTTPS on $url)"
  cat >"$etc/gatewayd.conf" <<EOF
# lockbox gateway, written by contrib/quickstart.sh; see gatewayd.conf(5).
# To serve other hosts, listen on their network instead (https://0.0.0.0:$port) and give
# the gateway a certificate those hosts trust.
listen = $url
tls_cert = $tls/gateway.crt
tls_key = $tls/gateway.key
database = sqlite:///var/lib/lockbox/gateway.db
sweep_interval = 2s
EOF
  chmod 0640 "$etc/gatewayd.conf"
fi
# Mail: a tenant's first global admin is invited by a mailed one-time code, and the demo plays
# the customer's mailbox with a local mail sink on 127.0.0.1:$smtp_port (contrib/demo.sh). For
# real use, point smtp_url at your mail relay (gatewayd.conf(5)).
if ! grep -q '^[[:space:]]*smtp_url' "$etc/gatewayd.conf"; then
  say "Mail for invitations and notifications: smtp_url = smtp://127.0.0.1:$smtp_port (the demo's sink)"
  cat >>"$etc/gatewayd.conf" <<EOF
# written by contrib/quickstart.sh: the demo's local mail sink; point it at your mail relay
smtp_url = smtp://127.0.0.1:$smtp_port
smtp_from = lockbox@localhost
EOF
fi
"$gatewayd" -c "$etc/gatewayd.conf" --check-config

admin_token_file=/root/.config/lockbox/admin.token
install -d -m 0700 /root/.config/lockbox
if [ ! -s /var/lib/lockbox/gateway.db ]; then
  say "Creating the first provider admin (its token goes to $admin_token_file)"
  umask 077
  "$gatewayd" -c "$etc/gatewayd.conf" --bootstrap-admin admin >"$admin_token_file"
  umask 022
fi
[ -s "$admin_token_file" ] || die "the database exists but $admin_token_file is missing; move /var/lib/lockbox/gateway.db away to start over"
cat >/root/.config/lockbox/lockboxctl.conf <<EOF
# lockboxctl settings for root, written by contrib/quickstart.sh
url = $url
ca_file = $tls/ca.crt
token = $(cat "$admin_token_file")
EOF
chmod 0600 /root/.config/lockbox/lockboxctl.conf

healthy() { curl -fsS --max-time 2 --cacert "$tls/ca.crt" "$url/healthz" >/dev/null 2>&1; }

if [ -d /run/systemd/system ]; then
  say "Starting lockbox-gatewayd with systemd (as the system user lockbox)"
  # the unit runs the gateway unprivileged: it reads its config and TLS key through the group
  getent passwd lockbox >/dev/null ||
    useradd --system --user-group --home-dir /var/lib/lockbox --no-create-home \
      --shell /usr/sbin/nologin --comment "lockbox gateway" lockbox
  chgrp lockbox "$etc" "$tls" "$etc/gatewayd.conf" "$tls/gateway.key"
  chmod 0750 "$etc" "$tls"
  chmod 0640 "$etc/gatewayd.conf" "$tls/gateway.key"
  # make install put lockbox-gatewayd.service and lockbox-agent.service (a host's agent, for
  # when this machine joins as a host: not enabled) into systemd's unit directory; copies an
  # earlier quickstart left in /etc/systemd/system would override them
  rm -f /etc/systemd/system/lockbox-gatewayd.service /etc/systemd/system/lockbox-agent.service
  systemctl daemon-reload
  systemctl enable lockbox-gatewayd.service >/dev/null 2>&1
  systemctl restart lockbox-gatewayd.service   # picks up a freshly installed binary
else
  if [ -s /run/lockbox-gatewayd.pid ] && kill -0 "$(cat /run/lockbox-gatewayd.pid)" 2>/dev/null; then
    say "Restarting lockbox-gatewayd (new binary)"
    kill "$(cat /run/lockbox-gatewayd.pid)"
    for _ in $(seq 1 50); do kill -0 "$(cat /run/lockbox-gatewayd.pid)" 2>/dev/null || break; sleep 0.1; done
  fi
  healthy && die "something else already answers on $url; stop it or set LOCKBOX_PORT"
  say "Starting lockbox-gatewayd in the background (no systemd here); log: /var/log/lockbox/gatewayd.log"
  nohup "$gatewayd" -c "$etc/gatewayd.conf" --foreground >>/var/log/lockbox/gatewayd.log 2>&1 &
  echo $! >/run/lockbox-gatewayd.pid
fi
for _ in $(seq 1 50); do healthy && break; sleep 0.2; done
healthy || die "the gateway does not answer on $url; see /var/log/lockbox/gatewayd.log"
echo "gateway: $url ($(curl -s --cacert "$tls/ca.crt" "$url/healthz"))"

say "Demo: a gated SSH login, from denied to allowed; a live session ended by the revoke"
LOCKBOX_URL=$url LOCKBOX_CA_FILE=$tls/ca.crt LOCKBOX_TOKEN=$(cat "$admin_token_file") \
  LOCKBOX_DEMO_SMTP_PORT=$smtp_port LOCKBOX_CTL=$ctl LOCKBOX_AGENT=$agent LOCKBOX_PAM_MODULE=$(find /lib /usr/lib -name pam_lockbox.so -path '*security*' 2>/dev/null | head -1) \
  bash contrib/demo.sh

cat <<EOF

lockbox is running.
  gateway     $url  (config $etc/gatewayd.conf, database /var/lib/lockbox/gateway.db)
  CA          $tls/ca.crt   (hosts and clients verify the gateway with it)
  admin       lockboxctl reads root's settings from /root/.config/lockbox/lockboxctl.conf
  try         lockboxctl request list; lockboxctl audit list; lockboxctl audit verify
  console     $url/console/  in a browser on this machine: sign in with the admin token
              ($admin_token_file) or any user's token (plus a TOTP code once they enrolled);
              the browser warns about the quickstart's own CA until you import $tls/ca.crt
  a tenant    lockboxctl tenant create NAME; lockboxctl tenant invite TENANT --login L
              --name N --email E mails its first global admin a one-time code, which they
              redeem with lockboxctl invitation redeem CODE; they then manage the tenant's
              own users, roles and tokens (the provider admin cannot)
  mail        smtp_url in $etc/gatewayd.conf (the demo's sink at first; set your relay)
  a host      lockboxctl host enroll --subscription SUB NAME, then on the host:
              lockboxctl host join --url $url --host-token TOKEN --ca-file ca.crt
              start its agent (lockbox-agent(8); make install put its unit in place):
                systemctl enable --now lockbox-agent
              and enable the PAM profile (sshd and xrdp-sesman only, see pam_lockbox(8)):
                pam-auth-update --enable lockbox
              or add contrib/pam.d/sshd.lockbox to /etc/pam.d/sshd
  stop        $( [ -d /run/systemd/system ] && echo "systemctl stop lockbox-gatewayd" || echo "kill \$(cat /run/lockbox-gatewayd.pid)")
EOF
