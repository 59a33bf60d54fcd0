"""`make install DESTDIR=...` from this build: the systemd units land in the unit dir
configure chose, with this build's paths substituted (no @...@ left, no /usr/local unless the
prefix is); the pam-auth-update profile, the sample configs, the PAM snippets and the logrotate file
(examples/logrotate.d/lockbox) are there;
`systemd-analyze security --offline=true` rates the gateway's unit <= 2.5 and the agent's
<= 3.5 (the agent runs as root: it signals other users' sessions)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import lbtest

T = lbtest.Runner("install")
build = os.environ["LB_TOP_BUILDDIR"]
dirs = {k: os.environ.get("LB_" + k.upper(), "") for k in
        ("sbindir", "bindir", "docdir", "pamconfigsdir", "systemdsystemunitdir", "pamdir")}
if not all(dirs.values()):
    T.skip("the install dirs are not in the environment (tests/install/local.mk)")

dest = tempfile.mkdtemp(prefix="lbinstall-")
try:
    p = subprocess.run(["make", "-s", "-C", build, "install", "DESTDIR=" + dest],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = p.stdout.decode("utf-8", "replace")
    T.eq(p.returncode, 0, "make install DESTDIR=... succeeds", out[-3000:])

    def d(var, *rest):
        return os.path.join(dest + dirs[var], *rest)

    with T.section("programs, module, profile, examples"):
        for f in (d("sbindir", "lockbox-gatewayd"), d("sbindir", "lockbox-agent"),
                  d("bindir", "lockboxctl"), d("pamdir", "pam_lockbox.so"),
                  d("pamconfigsdir", "lockbox"),
                  d("docdir", "examples", "gatewayd.conf.sample"),
                  d("docdir", "examples", "pam_lockbox.conf.sample"),
                  d("docdir", "examples", "pam.d", "sshd.lockbox"),
                  d("docdir", "examples", "pam.d", "xrdp-sesman.lockbox"),
                  d("docdir", "examples", "logrotate.d", "lockbox")):
            T.check(os.path.isfile(f), "installed: %s" % f[len(dest):])
        T.check(not os.path.exists(d("pamdir", "pam_lockbox.la")), "no libtool archive in pamdir")

    units = {}
    with T.section("systemd units"):
        for name in ("lockbox-gatewayd.service", "lockbox-agent.service"):
            f = d("systemdsystemunitdir", name)
            T.check(os.path.isfile(f), "installed: %s" % f[len(dest):])
            if not os.path.isfile(f):
                continue
            text = open(f).read()
            units[name] = f
            T.check(not re.search(r"@[a-z_]+@", text), "%s: every @var@ substituted" % name)
            execs = re.findall(r"(?m)^Exec\w*=[-+!@]*(\S+)", text)
            T.check(execs and all(e.startswith(dirs["sbindir"] + "/") for e in execs),
                    "%s: Exec*= run %s/..." % (name, dirs["sbindir"]), execs)
            T.check("Type=notify" in text, "%s: Type=notify" % name)
            if not dirs["sbindir"].startswith("/usr/local"):
                T.check("/usr/local" not in text, "%s: no /usr/local" % name)
        gw = open(units["lockbox-gatewayd.service"]).read() if units.get(
            "lockbox-gatewayd.service") else ""
        for want in ("User=lockbox", "StateDirectory=lockbox", "LogsDirectory=lockbox",
                     "ConfigurationDirectory=lockbox", "CapabilityBoundingSet=\n",
                     "SystemCallFilter=@system-service", "ProtectSystem=strict",
                     "PrivateTmp=yes", "PrivateDevices=yes", "NoNewPrivileges=yes",
                     "RestrictAddressFamilies="):
            T.check(want in gw, "gateway unit: %s" % want.strip())

    sa = shutil.which("systemd-analyze")
    with T.section("systemd-analyze security --offline=true"):
        if not sa:
            T.note("systemd-analyze not installed: scores not checked")
        for name, limit in (("lockbox-gatewayd.service", 2.5), ("lockbox-agent.service", 3.5)):
            if not sa or name not in units:
                continue
            p = subprocess.run([sa, "security", "--offline=true", "--no-pager", units[name]],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            txt = p.stdout.decode("utf-8", "replace")
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", txt)
            if not m and "offline" in txt and "unrecognized" in txt:
                T.note("this systemd-analyze has no --offline: scores not checked")
                continue
            T.check(m is not None, "%s: a score" % name, txt[-2000:])
            if m:
                T.check(float(m.group(1)) <= limit, "%s: exposure %s <= %s" % (
                    name, m.group(1), limit), txt[-3000:])
finally:
    shutil.rmtree(dest, ignore_errors=True)
T.done()
