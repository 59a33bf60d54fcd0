"""rdpenv: the RDP test host: real xrdp and xrdp-sesman (Debian's xrdp 0.9, Xorg with
xorgxrdp for the sessions) with pam_lockbox, the real lockbox-agent beside them, and a real
RDP client (xfreerdp under Xvfb).

    T = lbtest.Runner("e2e_rdp")
    rdpenv.require(T)                       # skips (77) when a prerequisite is absent
    h = rdpenv.RdpHost(T, gw, w, ["lbrdp_a"])
    h.start_agent(); h.start_xrdp()
    c = h.login("lbrdp_a")                  # xfreerdp in the background
    h.wait_result(c)                        # "allowed" / "denied" / None, from xrdp's logs
    ...
    h.close()

xrdp and xrdp-sesman run (--nodaemon) in one private mount namespace (tests/e2e/nsrun.sh,
as sshd does in sshenv.py): a private /etc/xrdp (a copy of the installed one with this test's
ports, log files, TLS key and a short shell script as the window manager), a private
/etc/pam.d (xrdp-sesman: pam_unix for the password, pam_lockbox in account and session),
/etc/passwd, /etc/group and /etc/shadow with the test users and their test password, a tmpfs
/run (so /run/xrdp is private) and a /dev whose /dev/log is the test's syslog socket. The
host's own xrdp configuration, PAM files and services are never touched; everything listens
on 127.0.0.1 only.

The client: Xvfb on a free display (-displayfd), and `xfreerdp /v:127.0.0.1:PORT /u /p
/cert:ignore /sec:tls` on it. Its exit code says nothing (it is the same for a refused and an
accepted login): the outcome is read from xrdp's log ("login successful" / "login failed")
and sesman's ("++ created session" / "pam_acct_mgmt failed").
"""

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time

import sshenv
import lbtest  # noqa: E402  (sshenv puts tests/ and tests/pam on the path)

XRDP = "/usr/sbin/xrdp"
SESMAN = "/usr/sbin/xrdp-sesman"
XORG = "/usr/lib/xorg/Xorg"
XORGXRDP = "/usr/lib/xorg/modules/drivers/xrdpdev_drv.so"
XRDP_ETC = "/etc/xrdp"
DISPLAY_OFFSET = 50  # sesman's first display (:50); it skips displays that are in use


def require(T):
    """Skips (exit 77) when a prerequisite is truly absent: root, unshare, xrdp, xorgxrdp,
    xfreerdp, Xvfb, the built module, agent and gateway. Sanitizer builds skip too:
    xrdp-sesman (not built with ASan) cannot load an ASan-instrumented PAM module."""
    if os.environ.get("LB_SANITIZER") == "1":
        T.skip("sanitizer build: xrdp-sesman cannot load an ASan-instrumented PAM module")
    if os.geteuid() != 0:
        T.skip("needs root (private mount namespace, xrdp-sesman)")
    for exe in ("unshare", "xfreerdp", "Xvfb", "xauth", "openssl"):
        if not shutil.which(exe):
            T.skip("%s not installed (contrib/deps.sh installs it)" % exe)
    for path, what in ((XRDP, "xrdp"), (SESMAN, "xrdp-sesman"), (XORG, "Xorg"),
                       (XORGXRDP, "xorgxrdp"), (os.path.join(XRDP_ETC, "xrdp.ini"), "xrdp.ini"),
                       (os.path.join(XRDP_ETC, "sesman.ini"), "sesman.ini")):
        if not os.path.exists(path):
            T.skip("%s not installed (%s missing; contrib/deps.sh installs it)" % (what, path))
    if not sshenv.MODULE or not os.path.exists(sshenv.MODULE):
        T.skip("pam_lockbox.so not built")
    if not os.path.exists(sshenv.AGENT):
        T.skip("lockbox-agent not built")
    if not os.path.exists(lbtest.gatewayd_path()):
        T.skip("lockbox-gatewayd not built")
    if not sshenv.PAM_DIR or not os.path.exists(os.path.join(sshenv.PAM_DIR, "pam_unix.so")):
        T.skip("pam_unix.so not found")


def ini_set(text, section, key, value):
    """TEXT (an ini file) with KEY=VALUE in [SECTION]: the first line setting KEY there is
    replaced, or the line is added right after the section header."""
    out, sec, done = [], None, False
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        m = re.match(r"^\[(.*)\]\s*$", ln)
        if m:
            if sec == section and not done:
                out.append("%s=%s" % (key, value))
                done = True
            sec = m.group(1)
        elif sec == section and not done and re.match(r"^%s\s*=" % re.escape(key), ln):
            out.append("%s=%s" % (key, value))
            done = True
            continue
        out.append(ln)
    if not done:
        if sec != section:
            out.append("[%s]" % section)
        out.append("%s=%s" % (key, value))
    return "\n".join(out) + "\n"


class Client:
    """xfreerdp in the background on the test's Xvfb; its output goes to a file."""

    def __init__(self, host, user, password, log):
        self.user, self.log = user, log
        self.t0 = time.monotonic()
        argv = ["xfreerdp", "/v:127.0.0.1:%d" % host.port, "/u:%s" % user,
                "/p:%s" % password, "/cert:ignore", "/sec:tls", "/size:800x600", "/bpp:16",
                "-clipboard", "-wallpaper", "-themes", "/log-level:INFO"]
        env = dict(os.environ, DISPLAY=host.client_display, HOME=host.tmp)
        with open(log, "ab") as f:
            self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f,
                                      stderr=subprocess.STDOUT, env=env)

    def text(self):
        try:
            return sshenv.read(self.log)
        except OSError:
            return ""

    def alive(self):
        return self.p.poll() is None

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


class RdpHost(sshenv.Host):
    """One test host for RDP: config, test users with a password, xrdp + xrdp-sesman
    (start_xrdp), the agent (sshenv.Host's start_agent / stop_agent / kill_agent), one syslog
    socket (self.log), an Xvfb for the clients."""

    def __init__(self, T, gw, w, users, host="hA1", timeout=3, conf_extra="",
                 prefix="lbrdp-", wm_seconds=4):
        self.password = "lb-rdp-%s" % lbtest.new_uuid()[:8]
        self.wm_seconds = wm_seconds
        self.xrdp = None
        self.xvfb = None
        self.client_display = None
        self.clients = []
        super().__init__(T, gw, w, users, host=host, timeout=timeout, conf_extra=conf_extra,
                         prefix=prefix)
        self.xrdp_log = os.path.join(self.tmp, "xrdp.log")
        self.sesman_log = os.path.join(self.tmp, "xrdp-sesman.log")
        self.xrdp_out = os.path.join(self.tmp, "xrdp.out")
        self.sesman_port = lbtest.free_port()
        self._write_pam()
        self._write_xrdp()

    # -- files (sshenv.Host's, for xrdp)

    def _write_users(self):
        super()._write_users()
        h = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=self.password.encode(),
                           stdout=subprocess.PIPE, check=True, timeout=30).stdout.decode().strip()
        path = os.path.join(self.tmp, "shadow")
        lines = []
        for ln in sshenv.read(path).splitlines():
            f = ln.split(":")
            if f[0] in self.users:
                f[1] = h
            lines.append(":".join(f))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _write_keys(self):
        pass  # no SSH here

    def _write_sshd(self):
        pass

    def _write_pam(self):
        with open(os.path.join(self.tmp, "pam.d", "xrdp-sesman"), "w") as f:
            f.write("auth     required %(d)s/pam_unix.so\n"
                    "account  required %(m)s config=%(c)s\n"
                    "account  required %(d)s/pam_permit.so\n"
                    "session  required %(m)s config=%(c)s\n"
                    "session  required %(d)s/pam_permit.so\n"
                    "password required %(d)s/pam_deny.so\n"
                    % {"d": sshenv.PAM_DIR, "m": sshenv.MODULE, "c": self.conf})

    def write_pam(self, text):
        """Replaces the test's /etc/pam.d/xrdp-sesman (sesman reads it at each login)."""
        with open(os.path.join(self.tmp, "pam.d", "xrdp-sesman"), "w") as f:
            f.write(text % {"d": sshenv.PAM_DIR, "m": sshenv.MODULE, "c": self.conf})

    def _write_xrdp(self):
        etc = os.path.join(self.tmp, "xrdp")
        shutil.copytree(XRDP_ETC, etc, symlinks=False,
                        ignore=shutil.ignore_patterns("cert.pem", "key.pem"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "2", "-subj", "/CN=lockbox-rdp-test", "-keyout",
                        os.path.join(etc, "key.pem"), "-out", os.path.join(etc, "cert.pem")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       timeout=60)
        os.makedirs(os.path.join(self.tmp, "wm"), mode=0o1777)
        os.chmod(os.path.join(self.tmp, "wm"), 0o1777)
        self.wm_script = os.path.join(etc, "lockbox-test-wm.sh")
        with open(self.wm_script, "w") as f:
            # the session's "window manager": says who and where it is, then stays up for
            # wm-seconds.USER seconds (a file the test writes), as a desktop session would
            f.write("#!/bin/sh\n"
                    "u=$(id -un)\n"
                    "s=$(cat %(d)s/wm-seconds.$u 2>/dev/null || echo %(s)d)\n"
                    "echo \"LB-RDP-WM pid=$$ user=$u display=$DISPLAY\" >> %(d)s/wm/$u.log\n"
                    "exec sleep \"$s\"\n" % {"d": self.tmp, "s": self.wm_seconds})
        os.chmod(self.wm_script, 0o755)
        ini = os.path.join(etc, "xrdp.ini")
        t = sshenv.read(ini)
        for k, v in (("port", "tcp://127.0.0.1:%d" % self.port), ("fork", "true"),
                     ("certificate", os.path.join(etc, "cert.pem")),
                     ("key_file", os.path.join(etc, "key.pem")), ("security_layer", "tls"),
                     ("autorun", "Xorg")):
            t = ini_set(t, "Globals", k, v)
        t = ini_set(t, "Logging", "LogFile", self.xrdp_log)
        t = ini_set(t, "Logging", "LogLevel", "DEBUG")
        t = ini_set(t, "Logging", "EnableSyslog", "false")
        with open(ini, "w") as f:
            f.write(t)
        ini = os.path.join(etc, "sesman.ini")
        t = sshenv.read(ini)
        for k, v in (("ListenAddress", "127.0.0.1"), ("ListenPort", str(self.sesman_port)),
                     ("EnableUserWindowManager", "false"),
                     ("DefaultWindowManager", self.wm_script)):
            t = ini_set(t, "Globals", k, v)
        t = ini_set(t, "Sessions", "X11DisplayOffset", str(DISPLAY_OFFSET))
        t = ini_set(t, "Sessions", "KillDisconnected", "false")
        t = ini_set(t, "Security", "AllowRootLogin", "false")
        t = ini_set(t, "Security", "AlwaysGroupCheck", "false")
        t = ini_set(t, "Logging", "LogFile", self.sesman_log)
        t = ini_set(t, "Logging", "LogLevel", "DEBUG")
        t = ini_set(t, "Logging", "EnableSyslog", "true")
        t = ini_set(t, "ChansrvLogging", "EnableSyslog", "false")
        with open(ini, "w") as f:
            f.write(t)

    def set_wm_seconds(self, user, seconds):
        """How long USER's next sessions last (their window manager's life)."""
        with open(os.path.join(self.tmp, "wm-seconds." + user), "w") as f:
            f.write("%d\n" % seconds)

    def wm_starts(self, user):
        """The LB-RDP-WM lines of USER's sessions: [{"pid", "display"}], oldest first."""
        try:
            text = sshenv.read(os.path.join(self.tmp, "wm", user + ".log"))
        except OSError:
            return []
        return [{"pid": int(m.group(1)), "display": m.group(2)}
                for m in re.finditer(r"LB-RDP-WM pid=(\d+) user=\S+ display=(\S*)", text)]

    # -- xrdp and sesman

    def start_xrdp(self, timeout=20):
        """xrdp-sesman and xrdp (--nodaemon) in one private mount namespace; returns once
        both listen."""
        script = ("mkdir -p /run/xrdp/sockdir && chmod 0755 /run/xrdp && "
                  "chmod 3777 /run/xrdp/sockdir && "
                  "%s --nodaemon & sp=$!; %s --nodaemon & xp=$!; "
                  "trap 'kill $sp $xp 2>/dev/null' TERM INT; wait $xp; kill $sp 2>/dev/null; "
                  "wait" % (SESMAN, XRDP))
        with open(self.xrdp_out, "ab") as logf:
            self.xrdp = subprocess.Popen(
                [sshenv.NSRUN, self.log.path, "-T", "/run",
                 "-b", os.path.join(self.tmp, "xrdp"), "/etc/xrdp",
                 "-b", os.path.join(self.tmp, "pam.d"), "/etc/pam.d",
                 "-b", os.path.join(self.tmp, "passwd"), "/etc/passwd",
                 "-b", os.path.join(self.tmp, "group"), "/etc/group",
                 "-b", os.path.join(self.tmp, "shadow"), "/etc/shadow", "--",
                 "/bin/sh", "-c", script],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        self.procs.append(self.xrdp)

        def listening(port):
            try:
                with socket_conn(port):
                    return True
            except OSError:
                return False
        if not lbtest.wait_until(lambda: listening(self.port) and listening(self.sesman_port),
                                 timeout=timeout, step=0.1):
            raise RuntimeError("xrdp/xrdp-sesman do not listen on %d/%d:\n%s"
                               % (self.port, self.sesman_port, self.xrdp_tail()))

    def start_xvfb(self, timeout=20):
        """The clients' X server: Xvfb on the first free display."""
        r, wfd = os.pipe()
        self.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(wfd), "-screen", "0",
                                      "1024x768x24", "-nolisten", "tcp"],
                                     pass_fds=(wfd,), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(wfd)
        self.procs.append(self.xvfb)
        buf = b""
        end = time.monotonic() + timeout
        while not buf.endswith(b"\n") and time.monotonic() < end:
            rd, _, _ = select.select([r], [], [], max(0.0, end - time.monotonic()))
            if not rd:
                break
            b = os.read(r, 64)
            if not b:
                break
            buf += b
        os.close(r)
        if not buf.strip().isdigit():
            raise RuntimeError("Xvfb did not start (display %r)" % buf)
        self.client_display = ":" + buf.decode().strip()

    def xrdp_text(self):
        try:
            return sshenv.read(self.xrdp_log)
        except OSError:
            return ""

    def sesman_text(self):
        try:
            return sshenv.read(self.sesman_log)
        except OSError:
            return ""

    def xrdp_tail(self, n=30):
        out = []
        for p in (self.xrdp_out, self.sesman_log, self.xrdp_log):
            try:
                out.append("-- %s\n%s" % (os.path.basename(p),
                                          "\n".join(sshenv.read(p).splitlines()[-n:])))
            except OSError:
                pass
        return "\n".join(out)

    # -- clients

    def login(self, user, password=None):
        """xfreerdp as USER in the background (a Client). Marks the logs, so wait_result
        reads only what this login wrote."""
        if self.client_display is None:
            self.start_xvfb()
        c = Client(self, user, password or self.password,
                   os.path.join(self.tmp, "xfreerdp-%s-%d.log" % (user, len(self.clients))))
        c.xrdp_from = len(self.xrdp_text())
        c.sesman_from = len(self.sesman_text())
        self.clients.append(c)
        return c

    def result(self, c):
        """"allowed", "denied" or None (not decided yet) for client C, from xrdp's log
        (login successful / login failed) and sesman's."""
        x = self.xrdp_text()[c.xrdp_from:]
        s = self.sesman_text()[c.sesman_from:]
        if "login failed" in x or "pam_acct_mgmt failed" in s or \
                "Username or password error" in s:
            return "denied"
        if "login successful" in x and "++ created session" in s:
            return "allowed"
        return None

    def wait_result(self, c, timeout=30):
        got = lbtest.wait_until(lambda: self.result(c), timeout=timeout, step=0.1)
        return got or None

    def sesman_since(self, c):
        return self.sesman_text()[c.sesman_from:]

    def xrdp_since(self, c):
        return self.xrdp_text()[c.xrdp_from:]

    # -- the end

    def close(self):
        for c in self.clients:
            c.close()
        if self.xrdp is not None and self.xrdp.poll() is None:
            for pid in sshenv.descendants(self.xrdp.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        super().close()


def socket_conn(port):
    """A connection to PORT on the loopback: 127.0.0.1, or ::1 (xrdp built with IPv6
    support binds its "127.0.0.1" to ::1)."""
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=0.5)
    except OSError:
        return socket.create_connection(("::1", port), timeout=0.5)
