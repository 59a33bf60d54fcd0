#!/bin/bash
# Builds lockbox's Debian packages from a `make dist` tarball (never in the source tree) and
# checks them: dpkg-buildpackage -us -uc -b, lintian with no errors, the files each package
# holds, the maintainer scripts' shape (no hand edits of /etc/pam.d), and then the packages
# installed and purged for real in a throwaway root (overlay over /, private mount namespace).
#   bash contrib/pkgtest.sh [TARBALL]     (run by contrib/test.sh; ~2 minutes)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tarball=${1:-}
work=$(mktemp -d /tmp/lbpkg.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ -z "$tarball" ]; then
	tarball=$(ls -t "$top"/_build/normal/lockbox-*.tar.gz 2>/dev/null | head -1 || true)
	[ -n "$tarball" ] || { echo "pkgtest: no tarball (make dist first, or give one)" >&2; exit 2; }
fi
echo "=== lockbox: Debian packages from $(basename "$tarball") ==="
tar -C "$work" -xzf "$tarball"
src=$(ls -d "$work"/lockbox-*/)
cd "$src"
dpkg-checkbuilddeps
dpkg-buildpackage -us -uc -b -j"$(nproc)" >"$work/build.log" 2>&1 || { tail -80 "$work/build.log"; exit 1; }
cd "$work"
changes=$(ls "$work"/lockbox_*.changes)
fail=0
check() { if eval "$1"; then echo "ok - $2"; else echo "not ok - $2"; fail=1; fi; }
lintian --fail-on error --tag-display-limit 0 "$changes" >"$work/lintian.log" 2>&1 && lrc=0 || lrc=$?
sed 's/^/# lintian: /' "$work/lintian.log"
check '[ $lrc -eq 0 ]' "lintian: no errors"
contents() { dpkg-deb -c "$work"/"$1"_*.deb | awk '{print $6}'; }
check 'contents lockbox-gatewayd | grep -qx "./usr/sbin/lockbox-gatewayd"' "lockbox-gatewayd: the daemon"
check 'contents lockbox-gatewayd | grep -qx "./lib/systemd/system/lockbox-gatewayd.service"' "lockbox-gatewayd: the unit"
check 'contents lockbox-agent | grep -qx "./usr/sbin/lockbox-agent"' "lockbox-agent: the daemon"
check 'contents lockbox-agent | grep -qx "./lib/systemd/system/lockbox-agent.service"' "lockbox-agent: the unit"
check 'contents libpam-lockbox | grep -qE "^\./lib/[^/]+/security/pam_lockbox\.so$"' "libpam-lockbox: the module in the multiarch PAM dir"
check 'contents libpam-lockbox | grep -qx "./usr/share/pam-configs/lockbox"' "libpam-lockbox: the pam-auth-update profile"
check 'contents lockboxctl | grep -qx "./usr/bin/lockboxctl"' "lockboxctl: the client"
check '! dpkg-deb -c "$work"/lockbox-gatewayd_*.deb | grep -q "usr/local"' "nothing under /usr/local"
# (the control fields read first: `dpkg-deb | grep -q` fails under pipefail when grep stops early)
info() { dpkg-deb -f "$work"/"$1"_*.deb Depends; }
check '[[ "$(info libpam-lockbox)" == *lockbox-agent* ]]' "libpam-lockbox depends on lockbox-agent"
check '[[ "$(info lockbox-gatewayd)" == *adduser* ]]' "lockbox-gatewayd depends on adduser"
check 'dpkg-deb -x "$work"/lockbox-gatewayd_*.deb "$work/gw" && grep -q "^ExecStart=/usr/sbin/lockbox-gatewayd" "$work/gw/lib/systemd/system/lockbox-gatewayd.service"' "the gateway's unit runs /usr/sbin/lockbox-gatewayd"
mkdir -p "$work/ctl"
for p in "$work"/*.deb; do dpkg-deb -e "$p" "$work/ctl/$(basename "$p" .deb)"; done
check '! cat "$work"/ctl/*/postinst "$work"/ctl/*/prerm "$work"/ctl/*/postrm 2>/dev/null | grep -v "^[[:space:]]*#" | grep -q "/etc/pam\.d"' "no maintainer script touches /etc/pam.d"
check 'grep -q "pam-auth-update --package" "$work"/ctl/libpam-lockbox_*/postinst' "libpam-lockbox registers its profile with pam-auth-update"
check 'grep -q "adduser --system" "$work"/ctl/lockbox-gatewayd_*/postinst' "lockbox-gatewayd makes the system user lockbox"

# ---- the packages installed for real, into a throwaway root ----
# dpkg -i and dpkg --purge run every maintainer script (adduser, pam-auth-update, the
# directories) in a root made of an overlay over / whose writable layer is a tmpfs, in a
# private mount namespace, entered with chroot: whatever the scripts write goes to the tmpfs
# and is gone with the namespace. This machine's /etc (users, /etc/pam.d), /var/lib/dpkg and
# /var/log are never written (checked below, before against after). Nothing is started: the
# root has no systemd (no /run/systemd/system), and the packages start nothing anyway.
inroot() { # DEBDIR: runs inside `unshare --mount`; prints "ok - ..." / "not ok - ..."
	set -u
	local debs=$1 r m log rc=0
	r=$(mktemp -d /tmp/lbroot.XXXXXX)
	mount -t tmpfs -o size=1g,mode=0700 lbroot "$r"
	mkdir "$r/upper" "$r/work" "$r/merged"
	mount -t overlay lbroot -o "lowerdir=/,upperdir=$r/upper,workdir=$r/work" "$r/merged"
	m=$r/merged
	mount -t tmpfs -o mode=1777 lbtmp "$m/tmp"
	mount -t tmpfs -o mode=0755 lbrun "$m/run"
	mount -t proc -o ro,nosuid,nodev,noexec lbproc "$m/proc"
	for d in null zero full random urandom; do
		[ -e "$m/dev/$d" ] || touch "$m/dev/$d"
		mount --bind "/dev/$d" "$m/dev/$d"
	done
	mkdir "$m/tmp/debs"
	cp "$debs"/*.deb "$m/tmp/debs/"
	log=$m/tmp/dpkg.log
	rt() { chroot "$m" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		LC_ALL=C.UTF-8 "$@"; }
	ok() { if eval "$1"; then echo "ok - $2"; else echo "not ok - $2"; rc=1; fi; }
	mode() { rt stat -c '%U:%G %a' "$1" 2>/dev/null; }
	# a fresh machine: no lockbox package, user or directory from an earlier install here
	for p in lockboxctl libpam-lockbox lockbox-agent lockbox-gatewayd; do
		if rt dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv "not-installed"; then
			rt timeout 120 dpkg --purge "$p" >>"$log" 2>&1 || true
		fi
	done
	# (the files, not userdel: a gateway this machine runs as lockbox would make userdel refuse)
	rt sh -c 'sed -i "/^lockbox:/d" /etc/passwd /etc/shadow /etc/group /etc/gshadow;
		rm -rf /etc/lockbox /var/lib/lockbox /var/log/lockbox /var/lib/lockbox-agent \
		/etc/logrotate.d/lockbox' >>"$log" 2>&1
	# man-db's trigger would index every manual page of this machine: not what is tested
	echo "man-db man-db/auto-update boolean false" | rt debconf-set-selections
	rt sh -c 'grep -h pam_lockbox /etc/pam.d/common-* || true' >"$m/tmp/pam.before"

	ok 'rt timeout 180 sh -c "dpkg -i /tmp/debs/*.deb" >>"$log" 2>&1' \
		"root: dpkg -i of every package, maintainer scripts run"
	ok '[ "$(rt dpkg-query -W -f="\${Status}\n" lockbox-gatewayd lockbox-agent libpam-lockbox lockboxctl | grep -c "install ok installed")" = 4 ]' \
		"root: the four packages are installed"
	# the system user
	local pw; pw=$(rt getent passwd lockbox || true)
	ok '[ -n "$pw" ] && [ "$(echo "$pw" | cut -d: -f3)" -lt 1000 ]' "root: postinst made the system user lockbox ($pw)"
	ok '[ "$(echo "$pw" | cut -d: -f6,7)" = "/var/lib/lockbox:/usr/sbin/nologin" ]' "root: lockbox: home /var/lib/lockbox, no login shell"
	ok 'rt getent group lockbox >/dev/null' "root: the group lockbox"
	# directories, owners, modes
	ok '[ "$(mode /etc/lockbox)" = "root:lockbox 750" ]' "root: /etc/lockbox root:lockbox 0750 ($(mode /etc/lockbox))"
	ok '[ "$(mode /var/lib/lockbox)" = "lockbox:lockbox 750" ]' "root: /var/lib/lockbox lockbox:lockbox 0750 ($(mode /var/lib/lockbox))"
	ok '[ "$(mode /var/log/lockbox/gateway)" = "lockbox:lockbox 750" ]' "root: /var/log/lockbox/gateway lockbox:lockbox 0750 ($(mode /var/log/lockbox/gateway))"
	ok '[ "$(mode /var/log/lockbox)" = "root:root 755" ]' "root: /var/log/lockbox root:root 0755 ($(mode /var/log/lockbox))"
	ok '[ "$(mode /var/lib/lockbox-agent)" = "root:root 700" ]' "root: /var/lib/lockbox-agent root:root 0700 ($(mode /var/lib/lockbox-agent))"
	# what the gateway, as lockbox, must be able to write with the agent installed beside it
	ok 'rt setpriv --reuid=lockbox --regid=lockbox --clear-groups sh -c \
		"touch /var/log/lockbox/gateway/probe.log /var/lib/lockbox/probe && rm /var/log/lockbox/gateway/probe.log /var/lib/lockbox/probe"' \
		"root: the user lockbox writes its log and state directories"
	ok '! rt setpriv --reuid=lockbox --regid=lockbox --clear-groups touch /etc/lockbox/probe 2>/dev/null' \
		"root: and not /etc/lockbox"
	# the units: installed, neither enabled nor started
	ok 'rt test -f /lib/systemd/system/lockbox-gatewayd.service && rt test -f /lib/systemd/system/lockbox-agent.service' \
		"root: the systemd units are installed"
	ok '! rt sh -c "ls /etc/systemd/system/*.wants/lockbox-* 2>/dev/null | grep -q ."' "root: and not enabled"
	# logrotate: a conffile of the gateway's package, and valid with the real user lockbox
	ok 'rt dpkg-query -W -f="\${Conffiles}" lockbox-gatewayd | grep -q "/etc/logrotate.d/lockbox "' \
		"root: /etc/logrotate.d/lockbox is a conffile of lockbox-gatewayd"
	ok 'rt timeout 30 logrotate -d -s /tmp/logrotate.state /etc/logrotate.d/lockbox >>"$log" 2>&1' \
		"root: logrotate -d accepts /etc/logrotate.d/lockbox (su lockbox lockbox)"
	# PAM: the profile registered through pam-auth-update, off until enabled
	ok 'rt test -f /usr/share/pam-configs/lockbox && rt grep -qx lockbox /var/lib/pam/seen' \
		"root: pam-auth-update --package registered the profile"
	ok '! rt grep -qs pam_lockbox /etc/pam.d/common-account /etc/pam.d/common-session' \
		"root: installing changes no PAM stack (Default: no)"
	ok 'rt timeout 60 pam-auth-update --enable lockbox >>"$log" 2>&1 &&
		rt grep -q "pam_lockbox.so services=sshd,xrdp-sesman" /etc/pam.d/common-account &&
		rt grep -q "pam_lockbox.so services=sshd,xrdp-sesman" /etc/pam.d/common-session' \
		"root: pam-auth-update --enable lockbox gates common-account and common-session"
	ok '[ -z "$(cd "$r/upper/etc/pam.d" 2>/dev/null && ls | grep -v "^common-")" ]' \
		"root: no file in /etc/pam.d but pam-auth-update's common-* changed ($(cd "$r/upper/etc/pam.d" 2>/dev/null && ls | tr '\n' ' '))"
	# purge: what the packages made goes, the admin's config stays
	rt sh -c 'echo "listen = http://127.0.0.1:1" >/etc/lockbox/gatewayd.conf &&
		: >/var/lib/lockbox/gateway.db && : >/var/lib/lockbox/gateway.db-wal'
	ok 'rt timeout 180 dpkg --purge lockboxctl libpam-lockbox lockbox-agent lockbox-gatewayd >>"$log" 2>&1' \
		"root: dpkg --purge of every package"
	ok '! rt dpkg-query -W -f="\${Status}\n" lockbox-gatewayd lockbox-agent libpam-lockbox lockboxctl 2>/dev/null | grep -qE " (installed|config-files|half-installed|half-configured|unpacked)$"' \
		"root: no package left, not even its conffiles"
	ok '! rt grep -qs pam_lockbox /etc/pam.d/common-account /etc/pam.d/common-session' \
		"root: the prerm took the profile out of common-account/common-session"
	ok '! rt sh -c "ls /usr/share/pam-configs/lockbox /lib/*/security/pam_lockbox.so /lib/systemd/system/lockbox-* /etc/logrotate.d/lockbox /usr/sbin/lockbox-gatewayd 2>/dev/null | grep -q ."' \
		"root: module, profile, units, logrotate file and programs are gone"
	ok '! rt test -e /var/lib/lockbox/gateway.db && ! rt test -e /var/lib/lockbox/gateway.db-wal' \
		"root: purge removed the database"
	ok 'rt test -f /etc/lockbox/gatewayd.conf' "root: and kept the admin's /etc/lockbox/gatewayd.conf"
	if [ $rc -ne 0 ]; then sed 's/^/# root: /' "$log" | tail -60; fi
	return $rc
}

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	echo "# SKIP the throwaway root: needs root and unshare (the tests run as root in CI)"
	[ -z "${CI:-}" ] || { echo "not ok - the throwaway root ran"; fail=1; }
else
	mkdir -p "$work/debs"
	# the four packages (not their -dbgsym, which would hold them back at purge)
	for p in lockbox-gatewayd lockbox-agent libpam-lockbox lockboxctl; do
		cp "$work"/"$p"_*.deb "$work/debs/"
	done
	real() { # what the throwaway root must never change on this machine
		sha256sum /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/pam.d/* \
			/var/lib/dpkg/status /var/lib/pam/seen 2>/dev/null || true
		ls -la /etc/logrotate.d /var/log /var/lib /lib/systemd/system 2>/dev/null |
			grep -i lockbox || true
		getent passwd lockbox || true
	}
	real >"$work/real.before"
	timeout 600 unshare --mount --propagation private -- bash -c \
		"$(declare -f inroot); inroot '$work/debs'" >"$work/root.out" 2>&1 && rrc=0 || rrc=$?
	cat "$work/root.out"
	check '[ $rrc -eq 0 ]' "the throwaway root: every check passed (exit $rrc)"
	real >"$work/real.after"
	check 'cmp -s "$work/real.before" "$work/real.after"' \
		"this machine's users, /etc/pam.d, dpkg status and lockbox paths are unchanged"
fi

[ $fail -eq 0 ] && echo "lockbox: Debian packages built and checked" || { echo "lockbox: package checks failed"; exit 1; }
