#!/bin/bash
# nsrun.sh: runs a command in a private mount namespace with a private /dev (tmpfs holding
# only the device nodes a login needs, and the host's /dev/pts) whose /dev/log is the test's
# syslog socket, plus any extra bind mounts (e.g. a test /etc/pam.d/sshd) on a private
# overlay of /etc. Nothing outside the namespace changes.
#
#   nsrun.sh LOGSOCK [-b SRC DST]... [-T DIR]... [-J SOCK] -- COMMAND [ARGS...]
#
# -b binds SRC over DST; -T mounts an empty private tmpfs on DIR (e.g. /run, so sshd can have
# its /run/sshd without touching the host's /run). journald's native socket is hidden (a
# private tmpfs on /run/systemd/journal), so the module's lines reach LOGSOCK; -J SOCK puts
# the test's SOCK there instead (tests/pam/test_syslog.py: the structured fields).
# Needs root and unshare(1). Used by tests/e2e and tests/pam/test_syslog.py.
set -eu
if [ -z "${LB_NSRUN_INSIDE:-}" ]; then
	export LB_NSRUN_INSIDE=1
	exec unshare -m --propagation private "$0" "$@"
fi
unset LB_NSRUN_INSIDE
log=$1
shift
binds=()
tmpfs=()
journal=
while [ "${1:-}" = -b ] || [ "${1:-}" = -T ] || [ "${1:-}" = -J ]; do
	if [ "$1" = -b ]; then
		binds+=("$2" "$3")
		shift 3
	elif [ "$1" = -J ]; then
		journal=$2
		shift 2
	else
		tmpfs+=("$2")
		shift 2
	fi
done
[ "${1:-}" = -- ] && shift

d=$(mktemp -d /tmp/lbns-dev.XXXXXX)
mount -t tmpfs -o mode=0755,size=1m lbdev "$d"
for n in null zero full random urandom tty; do
	[ -e "/dev/$n" ] || continue
	touch "$d/$n"
	mount --bind "/dev/$n" "$d/$n"
done
mkdir "$d/pts" "$d/shm"
# the host's terminals (the same devpts instance, so a pty sshd opens here is the one other
# namespaces and the agent see); /dev/ptmx is its pts/ptmx: a bind-mounted /dev/ptmx cannot
# find a devpts beside it and openpty fails with ENOENT
if [ -d /dev/pts ]; then
	mount --rbind /dev/pts "$d/pts"
	ln -s pts/ptmx "$d/ptmx"
fi
mount -t tmpfs -o mode=1777,size=4m lbshm "$d/shm"
ln -s /proc/self/fd "$d/fd"
ln -s /proc/self/fd/0 "$d/stdin"
ln -s /proc/self/fd/1 "$d/stdout"
ln -s /proc/self/fd/2 "$d/stderr"
touch "$d/log"
mount --bind "$log" "$d/log"
mount --move "$d" /dev
rmdir "$d"
# /etc becomes an overlay of itself first, so the binds below land on the overlay's files: a
# file bind-mounted straight over /etc/passwd is dropped from every namespace the moment
# something on the host replaces /etc/passwd (useradd renames a new file over it), and the
# test users would vanish mid-test. The overlay's upper layer is a private tmpfs that stays
# empty (binds copy nothing up); without overlayfs, the binds go on /etc as before.
e=$(mktemp -d /tmp/lbns-etc.XXXXXX)
if mount -t tmpfs -o mode=0755,size=1m lbetc "$e" && mkdir "$e/upper" "$e/work" &&
	mount -t overlay -o "lowerdir=/etc,upperdir=$e/upper,workdir=$e/work" lbetc /etc 2>/dev/null; then
	umount -l "$e" # the overlay keeps its layers; only the path goes
fi
mountpoint -q "$e" && umount "$e"
rmdir "$e"
i=0
while [ $i -lt ${#binds[@]} ]; do
	mount --bind "${binds[$i]}" "${binds[$((i + 1))]}"
	i=$((i + 2))
done
for t in "${tmpfs[@]}"; do
	mount -t tmpfs -o mode=0755,size=8m lbtmp "$t"
done
# journald: hidden, or the test's socket. The tmpfs goes on the deepest directory that
# exists, so nothing is created on the host's /run.
jdir=/run/systemd/journal
if [ -n "$journal" ] || [ -d "$jdir" ]; then
	top=$jdir
	while [ ! -d "$top" ]; do top=$(dirname "$top"); done
	mount -t tmpfs -o mode=0755,size=1m lbjournal "$top"
	if [ -n "$journal" ]; then
		mkdir -p "$jdir"
		touch "$jdir/socket"
		mount --bind "$journal" "$jdir/socket"
	fi
fi
exec "$@"
