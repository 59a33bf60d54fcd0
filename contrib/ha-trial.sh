#!/bin/bash
# contrib/ha-trial.sh: PostgreSQL plus two lockbox gateways on one machine, for a trial of
# "several gateways" (gatewayd.conf(5), SEVERAL GATEWAYS). Everything lives in one directory;
# nothing of this machine's own PostgreSQL, /etc or PAM is touched. Run with --help.
set -euo pipefail

prog=ha-trial.sh
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
MARKER=ha-trial.env          # in DIR: what start chose (ports, binaries); stop/status read it
PG_ROLE=lockbox              # the role the gateways log in as; owns the database
PG_DB=lockbox
START_TIMEOUT=${LB_HA_TIMEOUT:-60}   # s: each bounded wait of start (pg_ctl, /healthz)
STOP_TIMEOUT=30                      # s: each bounded wait of stop

usage() {
	cat <<EOF
Usage: contrib/ha-trial.sh start [DIR]
       contrib/ha-trial.sh stop [--purge] DIR
       contrib/ha-trial.sh status DIR
       contrib/ha-trial.sh --help

A trial of several lockbox gateways sharing one PostgreSQL database, on this machine:
a private PostgreSQL cluster and two lockbox-gatewayd (gw1, gw2), loopback only, all in DIR.
Run as root (the cluster runs as the user postgres, which refuses root) on Debian 12 with
the packages of contrib/deps.sh (postgresql, curl, python3 among them).

start [DIR]
    DIR: a new or empty directory (default: a new one under /tmp, printed). Its path may
    hold only letters, digits and . _ / - and the user postgres must be able to reach it
    (its parents searchable by others: under /tmp is fine, under /root is not). start
    does, all inside DIR:
      - initdb a private cluster in DIR/pg/data, owned by the user postgres, with the newest
        /usr/lib/postgresql/*/bin (or LB_PG_BINDIR). It listens on 127.0.0.1 only, on a
        free port (never 5432), and on a Unix socket in DIR/pg/run. Authentication: peer on
        the socket (for the superuser postgres, used by this script), scram-sha-256 over TCP.
        The machine's own clusters (pg_lsclusters) are never touched.
      - create the role $PG_ROLE with a generated password, and the database $PG_DB it owns.
        The password is only in DIR/.pgpass (mode 0600), which the gateways read through the
        libpq parameter passfile= of their database URI: no password in any gateway config.
      - make the two keys every gateway must share, once (DIR/keys, mode 0600):
        checkpoint_key_file (Ed25519, signs the audit checkpoints) and totp_key_file
        (AES-256, seals the TOTP secrets), with lockbox-gatewayd --print-public-key; both
        configs name the same files.
      - write DIR/gw1/gatewayd.conf and DIR/gw2/gatewayd.conf: plain http:// on 127.0.0.1
        (the gateway allows http on loopback only; a real deployment uses https with a
        certificate naming every gateway), free ports, the same database, the same keys;
        check them with lockbox-gatewayd --check-config.
      - create the first provider admin "admin" once (lockbox-gatewayd --bootstrap-admin);
        its token goes to DIR/admin.token (mode 0600), and DIR/lockboxctl.conf (0600) holds
        both URLs and the token for lockboxctl --config.
      - start both gateways in the background (--foreground, logs DIR/gwN/gatewayd.log,
        pid files DIR/gwN/gatewayd.pid), wait until both answer /healthz (bounded), and
        print the URLs and example commands.
    start on a DIR of an earlier trial starts again whatever of the three is not running
    (the same ports, database and keys): after a failover test, or after stop without
    --purge.

stop [--purge] DIR
    Stops both gateways (SIGTERM, then SIGKILL after ${STOP_TIMEOUT}s) and the cluster (pg_ctl stop -m fast,
    then harder; bounded). --purge then removes DIR (only a DIR this script made: it holds
    DIR/$MARKER).

status DIR
    Says which of the three processes (postgresql, gw1, gw2) run, and whether the gateways
    answer /healthz. Exit 0 when all three run, 3 otherwise.

Binaries:
    lockbox-gatewayd: \$LB_GATEWAYD, else lockbox-gatewayd in PATH, /usr/local/sbin, /usr/sbin,
    else a build tree under this source tree (gatewayd/ or _build/*/gatewayd/). It must be
    built with PostgreSQL (libpq) support.
    lockboxctl (only printed in the examples): \$LB_CTL, else the same places.

Environment: LB_GATEWAYD, LB_CTL, LB_PG_BINDIR (PostgreSQL server binaries),
LB_HA_TIMEOUT (seconds of each bounded wait at start, default 60).

Failover: stop one gateway (kill \$(cat DIR/gw1/gatewayd.pid)) and run lockboxctl --verbose
with both URLs again: the other one answers. contrib/ha-trial.sh start DIR brings it back.
EOF
}

say() { printf '%s: %s\n' "$prog" "$*"; }
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "run as root (the private cluster runs as the user postgres)"; }

# the first executable among the arguments
first_x() {
	local p
	for p in "$@"; do
		[ -n "$p" ] && [ -x "$p" ] && [ ! -d "$p" ] && { echo "$p"; return 0; }
	done
	return 1
}

find_gatewayd() {
	if [ -n "${LB_GATEWAYD:-}" ]; then
		[ -x "$LB_GATEWAYD" ] || die "LB_GATEWAYD=$LB_GATEWAYD is not executable"
		echo "$LB_GATEWAYD"
		return
	fi
	# shellcheck disable=SC2046
	first_x "$(command -v lockbox-gatewayd || true)" /usr/local/sbin/lockbox-gatewayd \
		/usr/sbin/lockbox-gatewayd "$top/gatewayd/lockbox-gatewayd" \
		$(ls -t "$top"/_build/*/gatewayd/lockbox-gatewayd 2>/dev/null) ||
		die "lockbox-gatewayd not found: install lockbox, build it, or set LB_GATEWAYD"
}

find_ctl() {
	# shellcheck disable=SC2046
	first_x "${LB_CTL:-}" "$(command -v lockboxctl || true)" /usr/local/bin/lockboxctl \
		/usr/bin/lockboxctl "$top/lockboxctl/lockboxctl" \
		$(ls -t "$top"/_build/*/lockboxctl/lockboxctl 2>/dev/null) || echo lockboxctl
}

find_pgbin() {
	local d best='' bestv=0 v
	if [ -n "${LB_PG_BINDIR:-}" ]; then
		echo "$LB_PG_BINDIR"
		return
	fi
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] || continue
		v=${d%/bin}
		v=${v##*/}
		[[ $v =~ ^[0-9]+$ ]] || continue
		if [ "$v" -gt "$bestv" ]; then bestv=$v best=$d; fi
	done
	[ -n "$best" ] || die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (bash contrib/deps.sh installs postgresql)"
	echo "$best"
}

# N distinct free TCP ports on 127.0.0.1 (held open together while chosen, so distinct)
free_ports() {
	local n=$1
	if [ -x /usr/bin/python3 ]; then
		/usr/bin/python3 -c '
import socket, sys
ss = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$n"
		return
	fi
	local out=() p
	while [ ${#out[@]} -lt "$n" ]; do
		p=$((20000 + RANDOM % 30000))
		[[ " ${out[*]} " == *" $p "* ]] && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		out+=("$p")
	done
	echo "${out[*]}"
}

# runs a command as the user postgres, with a clean environment, in the cluster's dir
as_pg() {
	(cd "$PGDIR" && runuser -u postgres -- env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 LANG=C.UTF-8 \
		TZ=UTC HOME="$PGDIR" "$@")
}

# DIR as an absolute path, checked; sets the paths below it
set_dir() {
	DIR=$1
	[[ $DIR =~ ^[A-Za-z0-9._/-]+$ ]] || die "$DIR: use a path of letters, digits and . _ / - only"
	[ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd -P)
	[[ $DIR == /* ]] || DIR=$PWD/$DIR
	[ "$DIR" != / ] || die "not /"
	PGDIR=$DIR/pg
	PGDATA=$PGDIR/data
	PGRUN=$PGDIR/run
	PGPASS=$DIR/.pgpass
	KEYS=$DIR/keys
	TOKEN_FILE=$DIR/admin.token
	CTL_CONF=$DIR/lockboxctl.conf
}

# reads DIR/ha-trial.env (KEY=VALUE lines written by start; parsed, never sourced)
read_marker() {
	local f=$DIR/$MARKER k v
	[ -f "$f" ] || die "$DIR is not a trial directory of this script (no $MARKER)"
	PG_PORT='' GW1_PORT='' GW2_PORT='' PG_BIN=''
	while IFS='=' read -r k v; do
		case $k in
		PG_PORT | GW1_PORT | GW2_PORT) [[ $v =~ ^[0-9]+$ ]] && printf -v "$k" '%s' "$v" ;;
		PG_BIN) [[ $v =~ ^/[A-Za-z0-9._/-]+$ ]] && PG_BIN=$v ;;
		esac
	done <"$f"
	if [ -z "$PG_PORT" ] || [ -z "$GW1_PORT" ] || [ -z "$GW2_PORT" ]; then die "$f is incomplete"; fi
	[ -n "$PG_BIN" ] || PG_BIN=$(find_pgbin)
}

url_of() { local p=GW${1#gw}_PORT; echo "http://127.0.0.1:${!p}"; }

# whether pid $1 exists and is no zombie
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st:0:1}" != Z ]
}

# the pid of a live process whose command line contains $2 (from pid file $1), or nothing
live_pid() {
	local pid
	[ -s "$1" ] || return 0
	pid=$(head -n1 "$1" 2>/dev/null | tr -dc 0-9)
	[ -n "$pid" ] || return 0
	alive "$pid" || return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 0
	echo "$pid"
}

gw_pid() { live_pid "$DIR/$1/gatewayd.pid" "$DIR/$1/gatewayd.conf"; }
pg_pid() { live_pid "$PGDATA/postmaster.pid" "$PGDATA"; }

healthy() { curl -fsS --max-time 2 "$(url_of "$1")/healthz" >/dev/null 2>&1; }

# waits (bounded: $2 seconds) until pid $1 is gone; 0 when gone
wait_gone() {
	local pid=$1 end=$((SECONDS + $2))
	while alive "$pid"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
	return 0
}

pg_start() {
	local pid
	pid=$(pg_pid)
	if [ -n "$pid" ]; then
		say "postgresql already runs (pid $pid)"
		return
	fi
	rm -f "$PGRUN"/.s.PGSQL.* 2>/dev/null || true
	as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDIR/server.log" -w -t "$START_TIMEOUT" start >/dev/null ||
		{ tail -n 20 "$PGDIR/server.log" >&2 || true; die "pg_ctl start failed (log: $PGDIR/server.log)"; }
	STARTED_PG=1
	local end=$((SECONDS + START_TIMEOUT))
	until "$PG_BIN/pg_isready" -q -h "$PGRUN" -p "$PG_PORT" -t 5; do
		[ $SECONDS -lt $end ] || die "PostgreSQL is not ready within ${START_TIMEOUT}s (log: $PGDIR/server.log)"
		sleep 0.2
	done
	say "postgresql runs on 127.0.0.1:$PG_PORT (pid $(pg_pid), data $PGDATA, log $PGDIR/server.log)"
}

gw_start() {
	local gw=$1 pid
	pid=$(gw_pid "$gw")
	if [ -n "$pid" ]; then
		say "$gw already runs (pid $pid)"
		return
	fi
	# the log is appended to; the pid file is the shell's $! (the gateway has no pid file)
	nohup "$GATEWAYD" -c "$DIR/$gw/gatewayd.conf" --foreground \
		>>"$DIR/$gw/gatewayd.log" 2>&1 </dev/null &
	echo $! >"$DIR/$gw/gatewayd.pid"
	STARTED_GW+=("$gw")
}

gw_wait() {
	local gw=$1 end=$((SECONDS + START_TIMEOUT))
	until healthy "$gw"; do
		if [ -z "$(gw_pid "$gw")" ]; then
			tail -n 20 "$DIR/$gw/gatewayd.log" >&2 || true
			die "$gw exited (log: $DIR/$gw/gatewayd.log)"
		fi
		[ $SECONDS -lt $end ] || die "$gw does not answer $(url_of "$gw")/healthz within ${START_TIMEOUT}s (log: $DIR/$gw/gatewayd.log)"
		sleep 0.2
	done
	say "$gw answers on $(url_of "$gw") (pid $(gw_pid "$gw"), log $DIR/$gw/gatewayd.log)"
}

stop_gw() {
	local gw=$1 pid
	pid=$(gw_pid "$gw")
	if [ -z "$pid" ]; then
		rm -f "$DIR/$gw/gatewayd.pid"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
		say "$gw (pid $pid) did not stop within ${STOP_TIMEOUT}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || { say "$gw (pid $pid) is still there"; return 1; }
	fi
	rm -f "$DIR/$gw/gatewayd.pid"
	say "$gw stopped"
}

stop_pg() {
	local pid kids sig k
	pid=$(pg_pid)
	[ -n "$pid" ] || return 0
	kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
	(cd "$PGDIR" && timeout $((STOP_TIMEOUT + 10)) runuser -u postgres -- env -i PATH=/usr/bin:/bin \
		LC_ALL=C.UTF-8 "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t "$STOP_TIMEOUT" stop) >/dev/null 2>&1 || true
	for sig in QUIT KILL; do           # harder: immediate shutdown, then kill
		wait_gone "$pid" 5 && break
		say "postgresql (pid $pid) still runs: SIG$sig"
		kill -"$sig" "$pid" 2>/dev/null || true
	done
	wait_gone "$pid" 10 || { say "postgresql (pid $pid) is still there"; return 1; }
	# its backends end with it; make sure (bounded), killing only postgres processes
	for k in $kids; do
		wait_gone "$k" 5 && continue
		[ "$(cat "/proc/$k/comm" 2>/dev/null)" = postgres ] && kill -KILL "$k" 2>/dev/null
		wait_gone "$k" 5 || { say "postgres process $k is still there"; return 1; }
	done
	say "postgresql stopped"
}

# ------------------------------------------------------------------------------ start

STARTED_PG='' STARTED_GW=() START_DONE=''
on_start_exit() {
	[ -n "$START_DONE" ] && return
	# a failed start leaves nothing running that it started; DIR stays for its logs
	local gw
	for gw in "${STARTED_GW[@]}"; do stop_gw "$gw" >/dev/null 2>&1 || true; done
	[ -n "$STARTED_PG" ] && { stop_pg >/dev/null 2>&1 || true; }
	[ -n "${DIR:-}" ] && printf '%s: start failed; %s kept for its logs (contrib/ha-trial.sh stop --purge %s removes it)\n' \
		"$prog" "$DIR" "$DIR" >&2
}

setup_new() {
	local pw superpw gw
	command -v runuser >/dev/null || die "runuser is missing (util-linux)"
	getent passwd postgres >/dev/null || die "no user postgres (bash contrib/deps.sh installs postgresql)"
	PG_BIN=$(find_pgbin)
	local x
	for x in initdb pg_ctl pg_isready psql; do
		[ -x "$PG_BIN/$x" ] || die "$PG_BIN/$x is missing"
	done
	read -r PG_PORT GW1_PORT GW2_PORT <<<"$(free_ports 3)"
	[ -n "$GW2_PORT" ] || die "cannot find free loopback ports"
	[ ${#PGRUN} -lt 90 ] || die "$DIR is too long a path for PostgreSQL's Unix socket"

	umask 077
	chmod 0711 "$DIR"         # postgres passes through to DIR/pg, reads nothing else
	printf 'PG_PORT=%s\nGW1_PORT=%s\nGW2_PORT=%s\nPG_BIN=%s\nGATEWAYD=%s\n' \
		"$PG_PORT" "$GW1_PORT" "$GW2_PORT" "$PG_BIN" "$GATEWAYD" >"$DIR/$MARKER"
	install -d -m 0700 -o postgres -g postgres "$PGDIR" "$PGRUN"
	runuser -u postgres -- test -x "$PGDIR" ||
		die "the user postgres cannot reach $PGDIR: pick a DIR whose parents others may search (o+x), e.g. under /tmp"

	say "initdb: a private cluster in $PGDATA (user postgres, $PG_BIN)"
	# the superuser's password is needed by initdb for scram on TCP, and then thrown away:
	# this script reaches the superuser over the private socket (peer) only
	superpw=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$superpw" >"$PGDIR/superuser.pw"
	chown postgres:postgres "$PGDIR/superuser.pw"
	as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
		--pwfile="$PGDIR/superuser.pw" -E UTF8 --locale=C.UTF-8 >"$PGDIR/initdb.log" 2>&1 ||
		{ rm -f "$PGDIR/superuser.pw"; tail -n 20 "$PGDIR/initdb.log" >&2; die "initdb failed (log: $PGDIR/initdb.log)"; }
	rm -f "$PGDIR/superuser.pw"
	as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null <<EOF

# contrib/ha-trial.sh: loopback only, a free port, the socket in the trial's directory
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGRUN'
password_encryption = 'scram-sha-256'
max_connections = 100
EOF
	pg_start

	pw=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
	# the password goes through stdin, never a command line
	as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGRUN" -p "$PG_PORT" -U postgres -d postgres -f - <<EOF >/dev/null ||
CREATE ROLE $PG_ROLE LOGIN PASSWORD '$pw';
CREATE DATABASE $PG_DB OWNER $PG_ROLE;
EOF
		die "cannot create the role $PG_ROLE and the database $PG_DB"
	printf '127.0.0.1:%s:%s:%s:%s\n' "$PG_PORT" "$PG_DB" "$PG_ROLE" "$pw" >"$PGPASS"
	chmod 0600 "$PGPASS"
	pw=''
	say "database $PG_DB (owner $PG_ROLE, scram-sha-256; its password only in $PGPASS, 0600)"

	install -d -m 0700 "$KEYS"
	local uri="postgresql://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_DB?passfile=$PGPASS"
	for gw in gw1 gw2; do
		install -d -m 0700 "$DIR/$gw"
		cat >"$DIR/$gw/gatewayd.conf" <<EOF
# lockbox gateway $gw of a trial with two gateways, written by contrib/ha-trial.sh.
# See gatewayd.conf(5), SEVERAL GATEWAYS. Plain http is allowed on loopback only; a real
# deployment listens on https:// with a certificate that names every gateway.
listen = $(url_of "$gw")
# the database both gateways share; the password is in the passfile (libpq), not here
database = $uri
# the keys every gateway must share: the same files for gw1 and gw2
checkpoint_key_file = $KEYS/checkpoint.key
totp_key_file = $KEYS/totp.key
threads = 8
sweep_interval = 2s
EOF
		chmod 0600 "$DIR/$gw/gatewayd.conf"
	done
	# the shared keys, made once, before either gateway starts (so they cannot race)
	"$GATEWAYD" -c "$DIR/gw1/gatewayd.conf" --print-public-key --key-owner root \
		>"$KEYS/checkpoint.pub" 2>"$KEYS/keygen.log" ||
		{ cat "$KEYS/keygen.log" >&2; die "cannot make the keys in $KEYS"; }
	say "shared keys: $KEYS/checkpoint.key (audit checkpoints), $KEYS/totp.key (TOTP secrets)"

	for gw in gw1 gw2; do
		"$GATEWAYD" -c "$DIR/$gw/gatewayd.conf" --check-config ||
			die "$DIR/$gw/gatewayd.conf: --check-config failed (a lockbox-gatewayd without PostgreSQL support? $GATEWAYD)"
	done

	# the first provider admin, once (the database is new); its token is printed once
	# (it creates the tables too: its log lines go to gw1's log)
	"$GATEWAYD" -c "$DIR/gw1/gatewayd.conf" --bootstrap-admin admin >"$TOKEN_FILE.new" \
		2>>"$DIR/gw1/gatewayd.log" ||
		{ rm -f "$TOKEN_FILE.new"; tail -n 20 "$DIR/gw1/gatewayd.log" >&2; die "--bootstrap-admin failed"; }
	[ -s "$TOKEN_FILE.new" ] || die "--bootstrap-admin printed no token"
	mv "$TOKEN_FILE.new" "$TOKEN_FILE"
	printf '# lockboxctl --config %s: both gateways, the provider admin\nurl = %s %s\ntoken = %s\n' \
		"$CTL_CONF" "$(url_of gw1)" "$(url_of gw2)" "$(head -n1 "$TOKEN_FILE")" >"$CTL_CONF"
	chmod 0600 "$CTL_CONF" "$TOKEN_FILE"
	say "first provider admin: admin (token in $TOKEN_FILE)"
	umask 022
}

cmd_start() {
	local arg=${1:-} fresh='' gw
	[ $# -le 1 ] || die "start takes one DIR (see --help)"
	need_root
	GATEWAYD=$(find_gatewayd)
	command -v curl >/dev/null || die "curl is missing (bash contrib/deps.sh installs it)"
	[[ $arg =~ ^[A-Za-z0-9._/-]*$ ]] || die "$arg: use a path of letters, digits and . _ / - only"
	trap on_start_exit EXIT
	if [ -z "$arg" ]; then
		DIR=$(mktemp -d /tmp/lockbox-ha.XXXXXX)
		fresh=1
	elif [ -f "$arg/$MARKER" ]; then
		:
	elif [ -d "$arg" ] && [ -n "$(ls -A "$arg")" ]; then
		DIR='' && die "$arg is neither empty nor a trial directory of this script"
	else
		mkdir -p "$arg"
		fresh=1
		DIR=$arg
	fi
	set_dir "${DIR:-$arg}"
	say "trial directory: $DIR"
	if [ -n "$fresh" ]; then
		setup_new
	else
		read_marker
		pg_start
	fi
	for gw in gw1 gw2; do gw_start "$gw"; done
	for gw in gw1 gw2; do gw_wait "$gw"; done
	START_DONE=1

	local ctl u1 u2
	ctl=$(find_ctl)
	u1=$(url_of gw1) u2=$(url_of gw2)
	cat <<EOF

Two gateways share one PostgreSQL database (plain http on loopback):
  gw1         $u1   config $DIR/gw1/gatewayd.conf, log $DIR/gw1/gatewayd.log
  gw2         $u2   config $DIR/gw2/gatewayd.conf, log $DIR/gw2/gatewayd.log
  postgresql  127.0.0.1:$PG_PORT, database $PG_DB, role $PG_ROLE (password in $PGPASS)
  admin token $TOKEN_FILE  (provider admin "admin")

Try (lockboxctl takes several URLs and fails over between them; --verbose says who answered):
  $ctl --url "$u1 $u2" --token - --verbose tenant create acme < $TOKEN_FILE
  $ctl --url "$u1 $u2" --token - --verbose tenant list < $TOKEN_FILE
  or with the settings in a file (both URLs and the token):
  $ctl --config $CTL_CONF --verbose tenant list
  curl -H "Authorization: Bearer \$(cat $TOKEN_FILE)" $u2/v1/tenants

Failover: stop one gateway, and the same command is answered by the other:
  kill \$(cat $DIR/gw1/gatewayd.pid)
  $ctl --config $CTL_CONF --verbose tenant list
  $0 status $DIR
  $0 start $DIR      (starts gw1 again)

Stop everything:    $0 stop $DIR
  and remove $DIR:  $0 stop --purge $DIR
EOF
}

# ------------------------------------------------------------------------------ stop, status

cmd_stop() {
	local purge='' arg='' rc=0 gw
	while [ $# -gt 0 ]; do
		case $1 in
		--purge) purge=1 ;;
		-*) die "stop: unknown option $1" ;;
		*) [ -z "$arg" ] || die "stop takes one DIR"; arg=$1 ;;
		esac
		shift
	done
	[ -n "$arg" ] || die "stop: which DIR? (see --help)"
	need_root
	set_dir "$arg"
	read_marker
	for gw in gw1 gw2; do stop_gw "$gw" || rc=1; done
	stop_pg || rc=1
	if [ -n "$purge" ]; then
		[ $rc = 0 ] || die "something still runs: $DIR kept"
		[ -f "$DIR/$MARKER" ] || die "$DIR: no $MARKER, not removed"
		rm -rf -- "$DIR"
		say "removed $DIR"
	fi
	return $rc
}

cmd_status() {
	local pid gw all=0 h
	[ $# = 1 ] || die "status takes one DIR (see --help)"
	need_root
	set_dir "$1"
	read_marker
	pid=$(pg_pid)
	if [ -n "$pid" ]; then
		printf '%-11s running  pid %s, 127.0.0.1:%s, data %s\n' postgresql "$pid" "$PG_PORT" "$PGDATA"
	else
		printf '%-11s stopped\n' postgresql
		all=3
	fi
	for gw in gw1 gw2; do
		pid=$(gw_pid "$gw")
		if [ -n "$pid" ]; then
			healthy "$gw" && h="answers /healthz" || h="does NOT answer /healthz"
			printf '%-11s running  pid %s, %s %s\n' "$gw" "$pid" "$(url_of "$gw")" "$h"
		else
			printf '%-11s stopped  (%s)\n' "$gw" "$(url_of "$gw")"
			all=3
		fi
	done
	return $all
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
status) shift; cmd_status "$@" ;;
-h | --help | help) usage ;;
'') usage >&2; exit 2 ;;
*) printf '%s: unknown command %s (see --help)\n' "$prog" "$1" >&2; exit 2 ;;
esac
