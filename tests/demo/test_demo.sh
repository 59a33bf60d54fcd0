#!/bin/bash
# The README demo (contrib/demo.sh) as a test: a real TLS gateway on loopback, the built
# lockboxctl, pam_lockbox.so and lockbox-agent, the demo sshd in a private mount namespace, a
# live session the approver's revoke ends. It passes only if every step of the story behaved
# as it should.
set -uo pipefail
: "${LB_GATEWAYD:?}" "${LB_CTL:?}" "${LB_PAM_MODULE:?}" "${LB_AGENT:?}" "${LB_TOP_SRCDIR:?}"
echo "# demo"
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! [ -x /usr/sbin/sshd ]; then
	echo "# SKIP: needs root, unshare and /usr/sbin/sshd"; exit 77
fi
if [ -n "${LB_SANITIZER:-}" ]; then
	# sshd is not built with ASan, so it cannot load an ASan-built module
	echo "# SKIP: sanitizer build"; exit 77
fi
D=$(mktemp -d /tmp/lbdemo-test.XXXXXX)
chmod 0755 "$D" # the demo user's sshd reads its key below it
GWPID=
cleanup() { [ -n "$GWPID" ] && kill "$GWPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# the demo's mail sink (the customer's mailbox, where the invitation code arrives)
smtp_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-keyout "$D/gw.key" -out "$D/ca.pem" -subj /CN=localhost \
	-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1
cat >"$D/gatewayd.conf" <<CONF
listen = https://127.0.0.1:$port
tls_cert = $D/ca.pem
tls_key = $D/gw.key
database = sqlite://$D/gw.db
checkpoint_key_file = $D/checkpoint.key
totp_key_file = $D/totp.key
sweep_interval = 1s
smtp_url = smtp://127.0.0.1:$smtp_port
smtp_from = lockbox@gateway.example.test
CONF
admin=$("$LB_GATEWAYD" -c "$D/gatewayd.conf" --bootstrap-admin admin) || { echo "not ok - bootstrap"; echo "0 passed, 1 failed"; exit 1; }
"$LB_GATEWAYD" -c "$D/gatewayd.conf" --foreground >"$D/gw.log" 2>&1 &
GWPID=$!
for _ in $(seq 100); do curl -sf --cacert "$D/ca.pem" "https://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
mkdir -p "$D/demo"
LOCKBOX_URL=https://127.0.0.1:$port LOCKBOX_CA_FILE=$D/ca.pem LOCKBOX_TOKEN=$admin \
	LOCKBOX_CTL=$LB_CTL LOCKBOX_PAM_MODULE=$LB_PAM_MODULE LOCKBOX_AGENT=$LB_AGENT LOCKBOX_DEMO_DIR=$D/demo \
	LOCKBOX_DEMO_SMTP_PORT=$smtp_port \
	timeout 180 bash "$LB_TOP_SRCDIR/contrib/demo.sh" >"$D/demo.out" 2>&1
rc=$?
sed 's/^/# /' "$D/demo.out"
ok=$(grep -c 'OK' "$D/demo.out")
bad=$(grep -c 'FAILED' "$D/demo.out")
if [ $rc -ne 0 ] || [ "$bad" -ne 0 ] || [ "$ok" -lt 10 ]; then
	echo "not ok - the demo (rc=$rc, $bad failed steps, $ok good)"
	tail -20 "$D/gw.log" | sed 's/^/# gw: /'
	tail -20 "$D/demo/sshd.log" 2>/dev/null | sed 's/^/# sshd: /'
	tail -20 "$D/demo/agent.log" 2>/dev/null | sed 's/^/# agent: /'
	echo "$ok passed, $((bad + 1)) failed"
	exit 1
fi
echo "ok - the demo: every step behaved as expected"
echo "$ok passed, 0 failed"
