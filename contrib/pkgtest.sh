#!/bin/bash
# Builds lockbox's Debian packages from a `make dist` tarball (never in the source tree) and
# checks them: dpkg-buildpackage -us -uc -b, lintian with no errors, the files each package
# holds, and the maintainer scripts' shape (no hand edits of /etc/pam.d).
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
check 'dpkg-deb -I "$work"/libpam-lockbox_*.deb | grep -q "Depends:.*lockbox-agent"' "libpam-lockbox depends on lockbox-agent"
check 'dpkg-deb -I "$work"/lockbox-gatewayd_*.deb | grep -q "Depends:.*adduser"' "lockbox-gatewayd depends on adduser"
check 'dpkg-deb -x "$work"/lockbox-gatewayd_*.deb "$work/gw" && grep -q "^ExecStart=/usr/sbin/lockbox-gatewayd" "$work/gw/lib/systemd/system/lockbox-gatewayd.service"' "the gateway's unit runs /usr/sbin/lockbox-gatewayd"
mkdir -p "$work/ctl"
for p in "$work"/*.deb; do dpkg-deb -e "$p" "$work/ctl/$(basename "$p" .deb)"; done
check '! cat "$work"/ctl/*/postinst "$work"/ctl/*/prerm "$work"/ctl/*/postrm 2>/dev/null | grep -v "^[[:space:]]*#" | grep -q "/etc/pam\.d"' "no maintainer script touches /etc/pam.d"
check 'grep -q "pam-auth-update --package" "$work"/ctl/libpam-lockbox_*/postinst' "libpam-lockbox registers its profile with pam-auth-update"
check 'grep -q "adduser --system" "$work"/ctl/lockbox-gatewayd_*/postinst' "lockbox-gatewayd makes the system user lockbox"
[ $fail -eq 0 ] && echo "lockbox: Debian packages built and checked" || { echo "lockbox: package checks failed"; exit 1; }
