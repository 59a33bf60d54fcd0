#!/bin/bash
# The lockbox story with the real pieces: a demo sshd (in a private mount namespace, with its
# own /etc/pam.d/sshd, passwd and /dev/log, so nothing of this machine's login setup changes)
# gated by pam_lockbox, the demo host's lockbox-agent (which the module asks, and which ends
# live sessions), the gateway, and lockboxctl for every actor.
#
# Needs: root, a running gateway and its first admin's token:
#   LOCKBOX_URL, LOCKBOX_CA_FILE, LOCKBOX_TOKEN (provider admin)
# and optionally LOCKBOX_CTL (lockboxctl), LOCKBOX_PAM_MODULE (pam_lockbox.so), LOCKBOX_AGENT
# (lockbox-agent), LOCKBOX_DEMO_DIR (work directory, default a new one under /tmp; kept for
# inspection), LOCKBOX_DEMO_SMTP_PORT (default 2525).
# The customer's first admin is invited as in real life: the gateway mails a one-time code,
# which the provider never sees. The demo plays the customer's mailbox: a local mail sink
# (python3-aiosmtpd) on 127.0.0.1:LOCKBOX_DEMO_SMTP_PORT, where the gateway's smtp_url must
# point (contrib/quickstart.sh sets it so).
# Exits 0 when every step behaved as it should, 1 otherwise.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
CTL=${LOCKBOX_CTL:-$(command -v lockboxctl || true)}
PAM=${LOCKBOX_PAM_MODULE:-}
AGENT=${LOCKBOX_AGENT:-$(command -v lockbox-agent || echo /usr/local/sbin/lockbox-agent)}
NSRUN=${LOCKBOX_NSRUN:-$top/tests/e2e/nsrun.sh}
SMTP_PORT=${LOCKBOX_DEMO_SMTP_PORT:-2525}
: "${LOCKBOX_URL:?set LOCKBOX_URL}" "${LOCKBOX_TOKEN:?set LOCKBOX_TOKEN}"
[ -x "$CTL" ] || { echo "demo: lockboxctl not found (set LOCKBOX_CTL)" >&2; exit 1; }
[ -f "$PAM" ] || { echo "demo: pam_lockbox.so not found (set LOCKBOX_PAM_MODULE)" >&2; exit 1; }
[ -x "$AGENT" ] || { echo "demo: lockbox-agent not found (set LOCKBOX_AGENT)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it starts a demo sshd)" >&2; exit 1; }
for t in unshare ssh ssh-keygen /usr/sbin/sshd /usr/bin/python3; do
	command -v "$t" >/dev/null || { echo "demo: $t is missing (bash contrib/deps.sh installs it)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
	{ echo "demo: python3-aiosmtpd is missing (bash contrib/deps.sh installs it)" >&2; exit 1; }

D=${LOCKBOX_DEMO_DIR:-$(mktemp -d /tmp/lockbox-demo.XXXXXX)}
mkdir -p "$D"
chmod 0755 "$D"
SSHD_PID= LOG_PID= AGENT_PID= LIVE_PID= MAIL_PID=
cleanup() {
	[ -n "$LIVE_PID" ] && kill "$LIVE_PID" 2>/dev/null
	[ -n "$MAIL_PID" ] && kill "$MAIL_PID" 2>/dev/null
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
	[ -n "$LOG_PID" ] && kill "$LOG_PID" 2>/dev/null
	wait 2>/dev/null
}
trap cleanup EXIT

failures=0
step() { printf '\n\033[1;34m--> %s\033[0m\n' "$*"; }
good() { printf '    \033[32mOK\033[0m  %s\n' "$*"; }
bad() { printf '    \033[31mFAILED\033[0m  %s\n' "$*"; failures=$((failures + 1)); }
run() { printf '    $ %s\n' "$*" | sed "s/lb[uhi]_[0-9a-f]\{64\}/<secret>/g" >&2; "$@"; }
ctl() { "$CTL" "$@"; }
as() { local tok=$1; shift; LOCKBOX_TOKEN=$tok "$CTL" "$@"; }
indent() { sed 's/^/      /'; }

sfx=$(printf '%05d' $((RANDOM % 100000)))
ENG=lbdemo$sfx
HOST=demo-host-$sfx
export LOCKBOX_URL LOCKBOX_CA_FILE LOCKBOX_TOKEN
export HOME=${HOME:-/root}

# the customer's mailbox: a local mail sink the gateway's smtp_url points at
mkdir -p "$D/Maildir/tmp" "$D/Maildir/new" "$D/Maildir/cur"
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$D/Maildir" \
	2>"$D/mailsink.log" &
MAIL_PID=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null && break; sleep 0.1; done
# the one-time code of the newest invitation mailed to $1, from the mailbox (bounded wait)
invitation_code() {
	local f code
	for _ in $(seq 100); do
		for f in $(ls -t "$D/Maildir/new" 2>/dev/null); do
			grep -qi "^To: <$1>" "$D/Maildir/new/$f" || continue
			code=$(grep -o 'lockboxctl invitation redeem lbi_[0-9a-f]\{64\}' "$D/Maildir/new/$f" | head -1)
			[ -n "$code" ] && { echo "${code##* }"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

step "Provider admin: a customer tenant, a subscription, the demo host, the engineer"
T=$(ctl -q tenant create "demo-corp-$sfx") || { bad "tenant create"; exit 1; }
S=$(ctl -q subscription create --tenant "$T" production) || { bad "subscription create"; exit 1; }
HOST_TOKEN=$(ctl host enroll --subscription "$S" "$HOST" 2>/dev/null) || { bad "host enroll"; exit 1; }
ctl -q user create --login "$ENG" --name "Erin Engineer" --email "$ENG@provider.example" --side provider >/dev/null &&
	ctl -q role assign "$ENG" engineer >/dev/null || { bad "engineer"; exit 1; }
ENG_TOKEN=$(ctl token create "$ENG" --mfa 2>/dev/null)
[ -n "$ENG_TOKEN" ] || { bad "engineer token"; exit 1; }
good "tenant $T, subscription $S, host $HOST; engineer $ENG"

step "Provider admin: invite the customer's first global admin (the code goes by mail only)"
GADM=gadm$sfx
run ctl tenant invite "$T" --login "$GADM" --name "Gina Admin" --email "$GADM@demo-corp.example" | indent ||
	{ bad "tenant invite"; exit 1; }
if ctl user create --login "cust$sfx" --name "Carl Customer" --email "cust$sfx@demo-corp.example" \
	--side customer --tenant "$T" >/dev/null 2>"$D/refused.txt"; then
	bad "the provider admin created a customer user"
else
	good "the provider admin may not create the customer's users: $(grep -o 'forbidden' "$D/refused.txt" | head -1)"
fi

step "The customer's admin finds the code in her mailbox and redeems it (no token needed)"
CODE=$(invitation_code "$GADM@demo-corp.example") ||
	{ bad "no invitation mail in $D/Maildir (the gateway's smtp_url must be smtp://127.0.0.1:$SMTP_PORT)"; exit 1; }
printf '    $ lockboxctl invitation redeem - <<<"<the code from the mail>"\n' >&2
GADM_TOKEN=$(ctl invitation redeem - <<<"$CODE" 2>/dev/null) || { bad "invitation redeem"; exit 1; }
unset CODE
good "$GADM is the tenant's global admin, with her own token"

step "The customer's global admin adds the tenant's people"
as "$GADM_TOKEN" -q user create --login "cust$sfx" --name "Carl Customer" --email "cust$sfx@demo-corp.example" \
	--side customer --tenant "$T" >/dev/null &&
	as "$GADM_TOKEN" -q role assign "cust$sfx" customer_user --tenant "$T" >/dev/null
CUST_TOKEN=$(as "$GADM_TOKEN" token create "cust$sfx" 2>/dev/null)
as "$GADM_TOKEN" -q user create --login "appr$sfx" --name "Ada Approver" --email "appr$sfx@demo-corp.example" \
	--side customer --tenant "$T" >/dev/null &&
	as "$GADM_TOKEN" -q role assign "appr$sfx" lockbox_approver --tenant "$T" >/dev/null
APPR_TOKEN=$(as "$GADM_TOKEN" token create "appr$sfx" 2>/dev/null)
[ -n "$CUST_TOKEN" ] && [ -n "$APPR_TOKEN" ] || { bad "customer users and tokens"; exit 1; }
good "customer cust$sfx, approver appr$sfx"
run as "$GADM_TOKEN" audit list --level tenant --tenant "$T" | indent

step "The host joins the gateway (writes pam_lockbox.conf and the 0600 host token)"
run ctl host join --url "$LOCKBOX_URL" ${LOCKBOX_CA_FILE:+--ca-file "$LOCKBOX_CA_FILE"} --host-token - \
	--config "$D/pam_lockbox.conf" --token-file "$D/host.token" --audit-log "$D/audit.log" <<<"$HOST_TOKEN" | indent ||
	bad "host join"
# this demo host's agent listens in the demo directory, not on the machine's /run/lockbox
{ echo "# demo: this host's agent socket (default /run/lockbox/agent.sock)"
  echo "agent_socket = $D/agent.sock"; } >>"$D/pam_lockbox.conf"

step "lockbox-agent, the host's resident daemon: pam_lockbox asks it, it asks the gateway"
# the host's syslog for the demo: a private /dev/log (in the agent's and sshd's namespaces),
# read here into $D/syslog.txt
/usr/bin/python3 - "$D/log" "$D/syslog.txt" <<'EOF' &
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path); os.chmod(path, 0o666)
with open(out, "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).replace(b"\n", b" ") + b"\n")
EOF
LOG_PID=$!
for _ in $(seq 50); do [ -S "$D/log" ] && break; sleep 0.1; done
# in a namespace like the demo sshd's, so its syslog lines land in the same private /dev/log
"$NSRUN" "$D/log" -- "$AGENT" -c "$D/pam_lockbox.conf" --foreground --state-dir "$D/agent-state" \
	2>"$D/agent.log" &
AGENT_PID=$!
for _ in $(seq 100); do [ -S "$D/agent.sock" ] && break; sleep 0.1; done
if [ -S "$D/agent.sock" ]; then good "agent serving $D/agent.sock (log $D/agent.log)"
else bad "the agent did not start: $(tail -3 "$D/agent.log")"; fi

step "A demo sshd on 127.0.0.1 whose PAM stack has pam_lockbox in account and session"
ssh-keygen -q -t ed25519 -N '' -f "$D/ssh_host_ed25519_key" <<<y >/dev/null 2>&1
ssh-keygen -q -t ed25519 -N '' -f "$D/id_engineer" <<<y >/dev/null 2>&1
mkdir -p "$D/keys" "$D/home"
chmod 0755 "$D/keys"
cp "$D/id_engineer.pub" "$D/keys/$ENG"
chmod 0644 "$D/keys/$ENG"
uid=$((61000 + 10#$sfx % 4000))
cp /etc/passwd "$D/passwd" && echo "$ENG:x:$uid:$uid:lockbox demo engineer:$D/home:/bin/sh" >>"$D/passwd"
# a lockbox-engineers the machine already has would shadow the demo's (getgrnam takes the
# first line): the demo sshd sees only the demo's group
grep -v '^lockbox-engineers:' /etc/group >"$D/group" &&
	{ echo "$ENG:x:$uid:"; echo "lockbox-engineers:x:$((uid + 1)):$ENG"; } >>"$D/group"
cp /etc/shadow "$D/shadow" && echo "$ENG:*:20000:0:99999:7:::" >>"$D/shadow"
chown "$uid:$uid" "$D/home"
cat >"$D/pam.sshd" <<EOF
# demo /etc/pam.d/sshd (bind-mounted in the demo sshd's mount namespace only)
auth     required  pam_deny.so
account  required  $PAM config=$D/pam_lockbox.conf
account  required  pam_permit.so
session  required  $PAM config=$D/pam_lockbox.conf
session  required  pam_permit.so
password required  pam_deny.so
EOF
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$D/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $D/ssh_host_ed25519_key
PidFile $D/sshd.pid
UsePAM yes
PubkeyAuthentication yes
AuthorizedKeysFile $D/keys/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
StrictModes no
AllowUsers $ENG
LogLevel VERBOSE
EOF
mkdir -p /run/sshd
"$NSRUN" "$D/log" -b "$D/passwd" /etc/passwd -b "$D/group" /etc/group -b "$D/shadow" /etc/shadow \
	-b "$D/pam.sshd" /etc/pam.d/sshd -- /usr/sbin/sshd -D -e -f "$D/sshd_config" 2>"$D/sshd.log" &
SSHD_PID=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
good "sshd listening on 127.0.0.1:$port (log $D/sshd.log)"

checks_seen() { grep -c 'event=access.check' "$D/syslog.txt" 2>/dev/null || true; }
login() { # runs a command over ssh as the engineer; prints its output
	before=$(checks_seen)
	timeout 30 ssh -p "$port" -i "$D/id_engineer" -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 \
		"$ENG@127.0.0.1" 'echo "logged in as $(id -un) on the demo host"' >"$D/ssh.out" 2>"$D/ssh.err"
}
# a denial counts only if pam_lockbox decided it (a new access.check line), not e.g. a key problem
denied_by_lockbox() { sleep 0.3; [ "$(checks_seen)" -gt "$before" ] && last_reason | grep -qv 'reason=allow'; }
last_reason() { grep 'access.check' "$D/syslog.txt" | tail -1 | grep -o 'reason=[^ ]*'; }
last_message() { # what the gateway told the module, from the newest check of this host
	ctl --json audit list --host "$HOST" --type access.check.deny --limit 200 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; e=json.load(sys.stdin); print(e[-1]["details"].get("message","") if e else "")'
}

step "The engineer tries to log in without an approved request"
if login; then bad "login succeeded without a request: $(cat "$D/ssh.out")"
elif ! denied_by_lockbox; then bad "login failed, but not by pam_lockbox: $(tail -3 "$D/sshd.log")"; else
	good "login denied ($(last_reason))"
	echo "      the gateway's answer: $(last_message)"
fi

step "The customer opens a support ticket"
TICKET=$(as "$CUST_TOKEN" -q ticket create --tenant "$T" --subscription "$S" --title "$HOST: nightly backup fails" \
	--description "The backup job on $HOST fails since Monday; please have a look.") || bad "ticket create"
good "ticket $TICKET"

step "The engineer elevates (before any approval) and asks for access"
run as "$ENG_TOKEN" elevate --duration 2h --reason "ticket $TICKET: backup failure" | indent || bad "elevate"
REQ=$(as "$ENG_TOKEN" -q request create --ticket "$TICKET" --subscription "$S" --host "$HOST" --access ssh \
	--duration 1h --reason "inspect the backup job on $HOST") || bad "request create"
good "request $REQ"
if login; then bad "login allowed while the request is pending"
elif ! denied_by_lockbox; then bad "login failed, but not by pam_lockbox"; else
	good "login still denied ($(last_reason))"
	echo "      the gateway's answer: $(last_message)"
fi

step "The customer's approver lists pending requests and approves"
run as "$APPR_TOKEN" request list --state pending | indent
run as "$APPR_TOKEN" request approve "$REQ" --reason "ok for today" | indent || bad "approve"

step "What would this host decide for the engineer now? (what pam_lockbox asks the agent)"
run ctl host check "$ENG" --config "$D/pam_lockbox.conf" | indent || bad "host check does not allow"

step "The engineer logs in"
if login; then good "$(cat "$D/ssh.out")"; else bad "login denied after approval: $(last_reason) $(cat "$D/ssh.err")"; fi

step "The session, as the host recorded it and as the gateway's audit store has it"
# the agent delivers the host's audit log to the gateway as events come (store and forward)
for _ in $(seq 50); do ctl audit list --request "$REQ" 2>/dev/null | grep -q session.end && break; sleep 0.2; done
run ctl host sessions --config "$D/pam_lockbox.conf" | indent
grep -q "$REQ" <(ctl host sessions --config "$D/pam_lockbox.conf") && good "host sessions lists the session" ||
	bad "host sessions does not list the session"
run ctl audit list --request "$REQ" | indent
for ty in access.check.allow session.start session.end; do
	ctl audit list --request "$REQ" | grep -q "$ty" && good "audit has $ty" || bad "audit lacks $ty"
done
grep -q 'session.start' "$D/syslog.txt" && good "syslog has the session lines" || bad "no session lines in syslog"

step "The engineer keeps a session open (ssh -tt ... sleep 600, in the background)"
timeout 300 ssh -tt -p "$port" -i "$D/id_engineer" -o BatchMode=yes -o StrictHostKeyChecking=no \
	-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 "$ENG@127.0.0.1" \
	'echo "live session of $(id -un) on $(tty)"; sleep 600' </dev/null >"$D/live.out" 2>&1 &
LIVE_PID=$!
for _ in $(seq 100); do grep -q 'live session of' "$D/live.out" && break; sleep 0.1; done
if grep -q 'live session of' "$D/live.out"; then
	good "$(grep -o 'live session of.*' "$D/live.out" | tr -d '\r')"
	grep 'registered, grant ends' "$D/agent.log" | tail -1 |
		sed 's/^.*: session \(.*\) registered, grant ends \(.*\)/the agent watches it: session \1, until \2/' | indent
else bad "no live session: $(tail -3 "$D/live.out")"; fi

step "The approver revokes the grant: the agent ends the live session, the next login is denied"
t0=$(date +%s%N)
run as "$APPR_TOKEN" request revoke "$REQ" --reason "work done" | indent || bad "revoke"
for _ in $(seq 100); do kill -0 "$LIVE_PID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$LIVE_PID" 2>/dev/null; then
	bad "the live session still runs 5s after the revoke"
else
	wait "$LIVE_PID"
	live_rc=$? LIVE_PID=
	good "the live session ended $((($(date +%s%N) - t0) / 1000000)) ms after the revoke (ssh exit status $live_rc); its terminal showed:"
	tr -d '\r\a' <"$D/live.out" | grep -v '^$' | tail -3 | indent
	grep -q 'this session is being closed' "$D/live.out" && good "the engineer saw why" ||
		bad "no notice on the session's terminal"
fi
for _ in $(seq 50); do grep -q 'event=session.terminate' "$D/syslog.txt" && break; sleep 0.1; done
if grep -q 'event=session.terminate.*reason=revoked' "$D/syslog.txt"; then
	good "the host's log says so:"
	grep 'event=session.terminate' "$D/syslog.txt" | tail -1 |
		grep -o '\(event\|user\|request\|reason\|kill_grace\)=[^ ]*' | paste -sd ' ' - | indent
else bad "no session.terminate in the host's log"; fi
if login; then bad "login allowed after revoke"
elif ! denied_by_lockbox; then bad "login failed, but not by pam_lockbox"; else
	good "login denied ($(last_reason))"
	echo "      the gateway's answer: $(last_message)"
fi

step "The audit hash chain verifies"
run ctl audit verify | indent || bad "audit verify"

echo
if [ "$failures" -eq 0 ]; then
	printf '\033[1;32mdemo: every step behaved as expected\033[0m (files in %s)\n' "$D"
	exit 0
fi
printf '\033[1;31mdemo: %d step(s) failed\033[0m (files in %s)\n' "$failures" "$D"
exit 1
