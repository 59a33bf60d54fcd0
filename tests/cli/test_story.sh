#!/bin/bash
# The whole lockbox story driven by lockboxctl from a shell script, the way the quickstart and
# admins use it (environment settings, -q to capture ids, tokens on stdout), against a real
# TLS gateway. The host side is played with `host join`, /v1/check (what lockbox-agent asks
# for pam_lockbox), `host check` through a real lockbox-agent, session events in the local
# audit log, `host flush` and `host sessions`. The customer's admin is invited by mail (a local
# SMTP server, python3-aiosmtpd, plays the mailbox) and creates the customer's users herself.
set -uo pipefail

CTL=${LB_CTL:?LB_CTL not set}
GWD=${LB_GATEWAYD:?LB_GATEWAYD not set}
for tool in openssl curl; do
	command -v "$tool" >/dev/null || { echo "# SKIP: $tool not installed"; exit 77; }
done
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
	{ echo "# SKIP: python3-aiosmtpd not installed (contrib/deps.sh installs it)"; exit 77; }

D=$(mktemp -d /tmp/lbctl-story-XXXXXX)
GWPID=
APID=
MPID=
cleanup() {
	[ -n "$APID" ] && kill "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
	[ -n "$MPID" ] && kill "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
	[ -n "$GWPID" ] && kill "$GWPID" 2>/dev/null && wait "$GWPID" 2>/dev/null
	[ -n "${LB_KEEP_TMP:-}" ] || rm -rf "$D"
}
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # what, command...: passes if the command succeeds
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && exit 0 || exit 1
}
die() {
	fail "$*"
	[ -f "$D/gw.log" ] && sed 's/^/#   /' "$D/gw.log" | tail -20
	finish
}

echo "# cli/story"
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SMTP_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$D/Maildir/tmp" "$D/Maildir/new" "$D/Maildir/cur"
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$D/Maildir" \
	2>"$D/mail.log" &
MPID=$!
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-keyout "$D/gw.key" -out "$D/ca.pem" -subj /CN=localhost \
	-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1 || die "make a test certificate"
cat >"$D/gatewayd.conf" <<EOF
listen = https://127.0.0.1:$PORT
tls_cert = $D/ca.pem
tls_key = $D/gw.key
database = sqlite://$D/gw.db
checkpoint_key_file = $D/checkpoint.key
totp_key_file = $D/totp.key
sweep_interval = 1s
smtp_url = smtp://127.0.0.1:$SMTP_PORT
smtp_from = lockbox@gateway.example
EOF
ADMIN=$("$GWD" -c "$D/gatewayd.conf" --bootstrap-admin admin) || die "bootstrap the first admin"
"$GWD" -c "$D/gatewayd.conf" --foreground >"$D/gw.log" 2>&1 &
GWPID=$!
for _ in $(seq 1 100); do
	curl -sf --cacert "$D/ca.pem" "https://127.0.0.1:$PORT/healthz" >/dev/null && break
	sleep 0.1
done
curl -sf --cacert "$D/ca.pem" "https://127.0.0.1:$PORT/healthz" >/dev/null || die "gateway ready"

export LOCKBOX_URL="https://127.0.0.1:$PORT" LOCKBOX_CA_FILE="$D/ca.pem" LOCKBOX_TOKEN="$ADMIN"
export HOME="$D/home"
mkdir -p "$HOME"
ctl() { "$CTL" "$@"; }
as() { local tok=$1; shift; LOCKBOX_TOKEN=$tok "$CTL" "$@"; }

# what pam_lockbox asks the gateway for user $1; prints "decision reason"
decide() {
	curl -s --cacert "$D/ca.pem" -H "Authorization: Bearer $(cat "$D/host.token")" \
		-H 'Content-Type: application/json' \
		-d "{\"user\": \"$1\", \"service\": \"sshd\", \"rhost\": \"192.0.2.7\", \"tty\": \"ssh\"}" \
		"$LOCKBOX_URL/v1/check" |
		/usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["decision"], j["reason"]); open(sys.argv[1],"w").write(j.get("decision_id") or "")' "$D/decision_id"
}

# the host's lockbox-agent (what pam_lockbox asks at login), on a socket of the test's own;
# stopped again before the session events below are written, so `host flush` finds them
AGENT=${LB_AGENT:-}
agent_start() {
	[ -x "$AGENT" ] || return 1
	"$AGENT" -c "$D/pam_lockbox.conf" --foreground --state-dir "$D/agent" >>"$D/agent.log" 2>&1 &
	APID=$!
	for _ in $(seq 1 100); do
		[ -S "$D/agent.sock" ] && return 0
		kill -0 "$APID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}
agent_stop() {
	[ -n "$APID" ] && kill "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
	APID=
}
# `lockboxctl host check USER [ARGS]`; prints "EXIT decision reason"
host_check() {
	local out rc
	out=$(ctl host check "$@" --config "$D/pam_lockbox.conf" 2>"$D/check.err")
	rc=$?
	printf '%s %s %s\n' "$rc" "$(sed -n 's/^decision: *//p' <<<"$out")" \
		"$(sed -n 's/^reason: *//p' <<<"$out")"
}

# the one-time code of the invitation mailed to $1 (bounded wait)
invitation_code() {
	local f code
	for _ in $(seq 1 100); do
		for f in "$D"/Maildir/new/*; do
			[ -f "$f" ] && grep -qi "^To: <$1>" "$f" || continue
			code=$(grep -o 'lockboxctl invitation redeem lbi_[0-9a-f]\{64\}' "$f" | head -1)
			[ -n "$code" ] && { echo "${code##* }"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

echo "# provider admin: tenant, subscription, host, the engineer; invites the customer's admin"
T=$(ctl -q tenant create acme) && [[ $T == tnt_* ]] || die "tenant create -q prints the id"
ok "tenant create acme -> $T"
S=$(ctl -q subscription create --tenant "$T" prod) && [[ $S == sub_* ]] || die "subscription create"
ok "subscription create -> $S"
HOST_TOKEN=$(ctl host enroll --subscription "$S" web-01 2>/dev/null) && [[ $HOST_TOKEN == lbh_* ]] ||
	die "host enroll prints the host token"
ok "host enroll web-01"
ctl -q user create --login alice --name "Alice Engineer" --email alice@provider.example \
	--side provider >/dev/null || die "user create alice"
ctl -q role assign alice engineer >/dev/null || die "role assign alice engineer"
ALICE=$(ctl token create alice 2>/dev/null) || die "token create alice"
INV=$(ctl -q tenant invite "$T" --login dave --name "Dave Admin" --email dave@acme.example) &&
	[[ $INV == inv_* ]] || die "tenant invite -q prints the invitation id"
ok "tenant invite dave -> $INV (the code goes by mail only)"
check "the provider admin may not create a customer user" \
	test "$(ctl user create --login bob --name Bob --email bob@acme.example --side customer \
		--tenant "$T" 2>&1 >/dev/null | grep -o forbidden)" = forbidden
CODE=$(invitation_code dave@acme.example) || die "the invitation mail reaches dave's mailbox"
DAVE=$(LOCKBOX_TOKEN= ctl invitation redeem - <<<"$CODE" 2>/dev/null) && [[ $DAVE == lbu_* ]] ||
	die "invitation redeem - prints dave's token"
ok "dave redeems the code without a token and gets his own"
check "the code works once" test "$(LOCKBOX_TOKEN= ctl invitation redeem "$CODE" 2>&1 | grep -o invitation_invalid)" = invitation_invalid

echo "# dave, the tenant's global admin: users, roles, tokens"
as "$DAVE" -q user create --login bob --name "Bob Owner" --email bob@acme.example --side customer \
	--tenant "$T" >/dev/null || die "user create bob"
as "$DAVE" -q role assign bob owner --subscription "$S" >/dev/null || die "role assign bob owner"
BOB=$(as "$DAVE" token create bob 2>/dev/null) || die "token create bob"
as "$DAVE" -q user create --login carol --name "Carol Customer" --email carol@acme.example \
	--side customer --tenant "$T" >/dev/null || die "user create carol"
as "$DAVE" -q role assign carol customer_user --tenant "$T" >/dev/null || die "role assign carol"
CAROL=$(as "$DAVE" token create carol 2>/dev/null) || die "token create carol"
ok "users alice (engineer), bob (owner), carol (customer user) with tokens"
check "the provider admin may not issue a customer's token" \
	test "$(ctl token create carol 2>&1 >/dev/null | grep -o forbidden)" = forbidden

echo "# the host joins"
ctl host join --gateway "$LOCKBOX_URL" --ca "$D/ca.pem" --token - --config "$D/pam_lockbox.conf" \
	--token-file "$D/host.token" --audit-log "$D/audit.log" <<<"$HOST_TOKEN" 2>"$D/join.err" ||
	die "host join ($(cat "$D/join.err"))"
check "host join wrote the host token 0600" test "$(stat -c %a "$D/host.token")" = 600
check "host join wrote pam_lockbox.conf 0644" test "$(stat -c %a "$D/pam_lockbox.conf")" = 644
echo "agent_socket = $D/agent.sock" >>"$D/pam_lockbox.conf"

echo "# alice without a request is denied"
check "no request: deny no_request" test "$(decide alice)" = "deny no_request"

echo "# carol opens a ticket; alice elevates and asks for access"
TICKET=$(as "$CAROL" -q ticket create --tenant "$T" --subscription "$S" --title "web-01: disk full" \
	--description "/var is full, please clean up") || die "ticket create"
ok "ticket create -> $TICKET"
as "$ALICE" elevate --duration 2h --reason "INC-1: disk full on web-01" >/dev/null || die "elevate"
ok "alice elevates"
REQ=$(as "$ALICE" -q request create --ticket "$TICKET" --host web-01 --duration 1h \
	--reason "clean up /var on web-01") || die "request create"
ok "request create -> $REQ"
check "pending: deny pending" test "$(decide alice)" = "deny pending"

echo "# bob looks at pending requests and approves"
as "$BOB" request list --state pending >"$D/pending.txt" || die "request list --state pending"
check "bob sees the request among the pending ones" grep -q "$REQ" "$D/pending.txt"
as "$BOB" request show "$REQ" >"$D/show.txt" || die "request show"
check "request show names the ticket" grep -q "web-01: disk full" "$D/show.txt"
as "$BOB" request approve "$REQ" --reason "go ahead" >/dev/null || die "request approve"
ok "bob approves"
check "approved: allow" test "$(decide alice)" = "allow allow"
if [ -x "$AGENT" ]; then
	agent_start || die "lockbox-agent starts on the joined config ($(tail -3 "$D/agent.log"))"
	check "host check alice: exit 0, allow" test "$(host_check alice)" = "0 allow allow"
	check "host check alice --service xrdp-sesman: exit 1, wrong_access_type" \
		test "$(host_check alice --service xrdp-sesman)" = "1 deny wrong_access_type"
	check "host check carol (no engineer): exit 1" test "$(host_check carol | cut -c1-6)" = "1 deny"
	agent_stop
	check "agent stopped: host check exits 3" test "$(host_check alice | cut -c1)" = 3
	check "and says the agent does not answer" grep -q "lockbox-agent" "$D/check.err"
else
	echo "# lockbox-agent not built (LB_AGENT): host check not tried"
fi

echo "# alice's session, recorded on the host and delivered"
SID=$(cat /proc/sys/kernel/random/uuid)
T0=$(date -u +%s) # one clock reading, so the session lasts exactly 5m
NOW=$(date -u -d "@$T0" +%Y-%m-%dT%H:%M:%S.000Z)
LATER=$(date -u -d "@$((T0 + 300))" +%Y-%m-%dT%H:%M:%S.000Z)
DEC=$(cat "$D/decision_id")
printf '{"actor":"alice","details":{"decision_id":"%s","pid":4242,"rhost":"192.0.2.7","service":"sshd","session":"%s","tty":"ssh","user":"alice"},"id":"%s","request":"%s","time":"%s","type":"session.start"}\n' \
	"$DEC" "$SID" "$SID" "$REQ" "$NOW" >>"$D/audit.log"
printf '{"actor":"alice","details":{"decision_id":"%s","pid":4242,"rhost":"192.0.2.7","service":"sshd","session":"%s","tty":"ssh","user":"alice"},"id":"%s","request":"%s","time":"%s","type":"session.end"}\n' \
	"$DEC" "$SID" "$(cat /proc/sys/kernel/random/uuid)" "$REQ" "$LATER" >>"$D/audit.log"
chmod 600 "$D/audit.log"
ctl host sessions --config "$D/pam_lockbox.conf" >"$D/sessions.txt" || die "host sessions"
check "host sessions shows alice's session, not delivered yet" \
	grep -qE "alice +192\.0\.2\.7 +$REQ +no" "$D/sessions.txt"
ctl host flush --config "$D/pam_lockbox.conf" >"$D/flush.txt" || die "host flush"
check "host flush delivers both events" grep -q "accepted 2" "$D/flush.txt"
ctl host sessions --config "$D/pam_lockbox.conf" >"$D/sessions.txt"
check "host sessions: 5m session, delivered" grep -qE "5m +alice .* yes" "$D/sessions.txt"
ctl audit list --request "$REQ" >"$D/audit.txt" || die "audit list --request"
for ty in lockbox.request.create lockbox.request.approve access.check.allow session.start session.end; do
	check "audit list --request shows $ty" grep -q "$ty" "$D/audit.txt"
done

echo "# bob revokes; the next login is denied; the chain verifies"
as "$BOB" request revoke "$REQ" --reason "work done" >/dev/null || die "request revoke"
ok "bob revokes"
check "revoked: deny revoked" test "$(decide alice)" = "deny revoked"
if [ -x "$AGENT" ]; then
	agent_start || die "lockbox-agent starts again"
	check "host check after the revoke: exit 1, revoked" \
		test "$(host_check alice)" = "1 deny revoked"
	agent_stop
fi
ctl audit verify >"$D/verify.txt" || die "audit verify"
check "audit verify: chain ok" grep -q "audit chain ok" "$D/verify.txt"
ctl audit export >"$D/export.jsonl" 2>/dev/null || die "audit export"
check "audit export: one JSON object per line" /usr/bin/python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    json.loads(line); n += 1
sys.exit(0 if n >= 10 else 1)' "$D/export.jsonl"
finish
