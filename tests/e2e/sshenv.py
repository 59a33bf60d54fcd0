"""sshenv: what the end-to-end tests share: one test host made of a real sshd with
pam_lockbox, the real lockbox-agent beside it, a test syslog socket, and SSH clients.

    T = lbtest.Runner("e2e_x")
    sshenv.require(T)                       # skips (77) when a prerequisite is absent
    gw = lbtest.Gateway(tls=True); gw.start(); w = lbtest.world(gw, gw.bootstrap())
    h = sshenv.Host(T, gw, w, ["lbe2e_a"], conf_extra="kill_grace = 2s\\n")
    h.start_agent(); h.start_sshd()
    r = h.ssh("lbe2e_a")                    # OpenSSH client, BatchMode, key
    s = h.live("lbe2e_a", "sleep 600")      # ssh -tt in the background, output read bounded
    h.log.wait("session.start", user="lbe2e_a")
    ...
    h.close()

sshd runs in a private mount namespace (tests/e2e/nsrun.sh): its /etc/pam.d, /etc/passwd,
/etc/group and /etc/shadow are test copies bind-mounted over the real ones (the test users
exist only there), /dev is a private tmpfs whose /dev/log is this test's syslog socket, /run
is a private tmpfs. The agent runs in a namespace of its own made the same way (same
/dev/log socket), so it can be killed and restarted on its own; its socket (agent_socket)
and its state directory are in the test's temp dir, which both namespaces see. Nothing on
the host changes.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pam"))
import lbtest  # noqa: E402
import pamenv  # noqa: E402

SSHD = "/usr/sbin/sshd"
NSRUN = os.path.join(HERE, "nsrun.sh")
BUILD = os.environ.get("LB_TOP_BUILDDIR", os.path.join(HERE, "..", ".."))
CLIENT = os.path.join(BUILD, "tests", "e2e", "lbssh_client")
MODULE = os.path.abspath(os.environ.get("LB_PAM_MODULE", "")) if os.environ.get(
    "LB_PAM_MODULE") else ""
AGENT = os.path.abspath(os.environ.get("LB_AGENT") or os.path.join(BUILD, "agent",
                                                                    "lockbox-agent"))
PAM_DIR = None
for _d in ("/lib/x86_64-linux-gnu/security", "/usr/lib/x86_64-linux-gnu/security",
           "/lib64/security", "/usr/lib64/security", "/lib/security", "/usr/lib/security"):
    if os.path.exists(os.path.join(_d, "pam_permit.so")):
        PAM_DIR = _d
        break


def require(T, lbssh_client=False):
    """Skips (exit 77) when a prerequisite is truly absent: root, unshare, OpenSSH, the
    built module, agent and gateway. Sanitizer builds skip too: sshd (not built with ASan)
    cannot load an ASan-instrumented PAM module."""
    if os.environ.get("LB_SANITIZER") == "1":
        T.skip("sanitizer build: sshd cannot load an ASan-instrumented PAM module")
    if os.geteuid() != 0:
        T.skip("needs root (private mount namespace, sshd)")
    for exe in ("unshare", "ssh", "ssh-keygen"):
        if not shutil.which(exe):
            T.skip("%s not installed" % exe)
    if not os.path.exists(SSHD):
        T.skip("sshd not installed")
    if not MODULE or not os.path.exists(MODULE):
        T.skip("pam_lockbox.so not built")
    if not os.path.exists(AGENT):
        T.skip("lockbox-agent not built")
    if not os.path.exists(lbtest.gatewayd_path()):
        T.skip("lockbox-gatewayd not built")
    if lbssh_client and not os.path.exists(CLIENT):
        T.skip("tests/e2e/lbssh_client not built")
    if not PAM_DIR:
        T.skip("pam_permit.so not found")


def read(p):
    with open(p) as f:
        return f.read()


# ------------------------------------------------------------------ syslog


class Syslog:
    """The test's /dev/log: a datagram socket read by a thread; every message is kept with
    the monotonic time it arrived."""

    MAX = 100000

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.settimeout(0.2)
        self.msgs = []  # (monotonic, bytes)
        self.stop = threading.Event()
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self):
        while not self.stop.is_set():
            try:
                m = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(self.msgs) < self.MAX:
                self.msgs.append((time.monotonic(), m))

    def raw(self):
        return [m for _, m in list(self.msgs)]

    def events(self, typ=None, **match):
        """pam_lockbox key=value lines (the module's and the agent's) as dicts, oldest first;
        each has "_t", the monotonic time it arrived."""
        out = []
        for t, m in list(self.msgs):
            # "<PRI>pam_lockbox[PID]: " (no timestamp: the receiver adds it)
            if b">pam_lockbox[" not in m and b" pam_lockbox[" not in m:
                continue
            kv = pamenv.parse_kv(m.decode("ascii", "replace").split(": ", 1)[1])
            if typ and kv.get("event") != typ:
                continue
            if all(kv.get(k) == v for k, v in match.items()):
                kv["_t"] = t
                out.append(kv)
        return out

    def wait(self, typ, timeout=10, **match):
        return lbtest.wait_until(lambda: self.events(typ, **match), timeout=timeout, step=0.05)

    def tail(self, n=10):
        return "\n".join(m.decode("ascii", "replace") for m in self.raw()[-n:])

    def close(self):
        self.stop.set()
        self.sock.close()


# ------------------------------------------------------------------ clients


class Run:
    def __init__(self, rc, out, err, elapsed, host):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed
        self.host = host

    def __str__(self):
        return "rc=%s %.2fs\nstdout: %s\nstderr: %s\nsshd:\n%s" % (
            self.rc, self.elapsed, self.out[-2000:], self.err[-2000:], self.host.sshd_tail())


class Live:
    """An ssh client running in the background (`ssh -tt USER@host CMD`: the remote side gets
    a terminal). Its stdin is a pipe kept open; its output (stdout and stderr) is read by a
    thread into a bounded buffer, and the moment it exits is recorded (monotonic and wall
    clock)."""

    MAX = 1 << 20

    def __init__(self, argv):
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.exit_mono = self.exit_wall = None
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._wait, daemon=True).start()

    def _read(self):
        fd = self.p.stdout.fileno()
        while True:
            try:
                b = os.read(fd, 4096)
            except OSError:
                break
            if not b:
                break
            with self.lock:
                if len(self.buf) < self.MAX:
                    self.buf += b

    def _wait(self):
        self.p.wait()
        self.exit_mono, self.exit_wall = time.monotonic(), time.time()
        self.done.set()

    def text(self):
        with self.lock:
            return self.buf.decode("utf-8", "replace")

    def wait_for(self, text, timeout=10):
        return lbtest.wait_until(lambda: text in self.text(), timeout=timeout, step=0.05)

    def wait_exit(self, timeout):
        """The exit status, or None if it still runs after TIMEOUT seconds."""
        return self.p.returncode if self.done.wait(timeout) else None

    def alive(self):
        return not self.done.is_set()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.done.wait(10)
        for f in (self.p.stdin, self.p.stdout):
            try:
                f.close()
            except OSError:
                pass


def descendants(pid):
    """The PIDs below PID (children, their children...), from /proc."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rfind(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo and len(out) < 10000:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def proc_gone(pid):
    """True when PID no longer runs (no such process, or a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return True
    return st[st.rfind(")") + 2:][:1] in ("Z", "X")


# ------------------------------------------------------------------ the host


class Host:
    """One test host: config, test users, keys, sshd (started by start_sshd) and the agent
    (start_agent / stop_agent / kill_agent), sharing one syslog socket (self.log)."""

    def __init__(self, T, gw, w, users, host="hA1", timeout=3, conf_extra="", prefix="lbe2e-"):
        self.T, self.gw, self.w, self.users, self.host_name = T, gw, w, list(users), host
        self.timeout = timeout
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.tmp, 0o755)
        self.procs = []
        self.agent = None
        self.sshd = None
        self.lives = []
        self.log = Syslog(os.path.join(self.tmp, "log.sock"))
        self.audit_log = os.path.join(self.tmp, "audit", "audit.log")
        self.agent_socket = os.path.join(self.tmp, "agent", "agent.sock")
        self.state_dir = os.path.join(self.tmp, "agent-state")
        self.agent_log = os.path.join(self.tmp, "agent.log")
        self.sshd_log = os.path.join(self.tmp, "sshd.log")
        self.port = lbtest.free_port()
        self._write_users()
        self._write_keys()
        self._write_conf(conf_extra)
        self._write_sshd()

    # -- files

    def _write_users(self):
        passwd = read("/etc/passwd").rstrip("\n") + "\n"
        group = read("/etc/group").rstrip("\n") + "\n"
        shadow = read("/etc/shadow").rstrip("\n") + "\n" if os.path.exists("/etc/shadow") else ""
        group = "\n".join(ln for ln in group.splitlines()
                          if not ln.startswith("lockbox-engineers:")) + "\n"
        group += "lockbox-engineers:x:47000:%s\n" % ",".join(self.users)
        homes = os.path.join(self.tmp, "home")
        os.makedirs(homes)
        for i, u in enumerate(self.users):
            uid = 47001 + i
            h = os.path.join(homes, u)
            os.makedirs(h)
            os.chown(h, uid, uid)
            passwd += "%s:x:%d:%d:lockbox e2e:%s:/bin/sh\n" % (u, uid, uid, h)
            group += "%s:x:%d:\n" % (u, uid)
            shadow += "%s:*:19000:0:99999:7:::\n" % u
        for name, text, mode in (("passwd", passwd, 0o644), ("group", group, 0o644),
                                 ("shadow", shadow, 0o640)):
            with open(os.path.join(self.tmp, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(self.tmp, name), mode)

    def _write_keys(self):
        for k in ("hostkey", "userkey"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            os.path.join(self.tmp, k)], check=True, timeout=60)
        keys = os.path.join(self.tmp, "keys")
        os.makedirs(keys)
        for u in self.users:
            shutil.copy(os.path.join(self.tmp, "userkey.pub"), os.path.join(keys, u))

    def _write_conf(self, conf_extra):
        token_file = os.path.join(self.tmp, "host.token")
        with open(token_file, "w") as f:
            f.write(self.w.host[self.host_name]["token"] + "\n")
        os.chmod(token_file, 0o600)
        self.conf = os.path.join(self.tmp, "pam_lockbox.conf")
        with open(self.conf, "w") as f:
            f.write("gateway_url = %s\nca_file = %s\nhost_token_file = %s\nhost_id = %s\n"
                    "timeout = %ds\naudit_log = %s\nagent_socket = %s\n%s"
                    % (self.gw.url, self.gw.ca, token_file, self.host_name, self.timeout,
                       self.audit_log, self.agent_socket, conf_extra))
        os.chmod(self.conf, 0o600)
        pamd = os.path.join(self.tmp, "pam.d")
        os.makedirs(pamd)
        with open(os.path.join(pamd, "sshd"), "w") as f:
            f.write("auth     required %(d)s/pam_deny.so\n"
                    "account  required %(m)s config=%(c)s\n"
                    "account  required %(d)s/pam_permit.so\n"
                    "session  required %(m)s config=%(c)s\n"
                    "session  required %(d)s/pam_permit.so\n"
                    % {"d": PAM_DIR, "m": MODULE, "c": self.conf})
        with open(os.path.join(pamd, "other"), "w") as f:
            f.write("auth required %(d)s/pam_deny.so\naccount required %(d)s/pam_deny.so\n"
                    "session required %(d)s/pam_deny.so\n" % {"d": PAM_DIR})

    def _write_sshd(self):
        self.sshd_conf = os.path.join(self.tmp, "sshd_config")
        with open(self.sshd_conf, "w") as f:
            f.write("""Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
UsePAM yes
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
AuthorizedKeysFile %s/%%u
AllowUsers %s
PermitRootLogin no
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
LoginGraceTime 30
MaxStartups 50
""" % (self.port, os.path.join(self.tmp, "hostkey"), os.path.join(self.tmp, "sshd.pid"),
                os.path.join(self.tmp, "keys"), " ".join(self.users)))

    # -- the agent

    def agent_status(self, timeout=2.0):
        """The agent's {"op":"status"} answer, or None."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(self.agent_socket)
                s.sendall(b'{"op":"status"}\n')
                data = b""
                while not data.endswith(b"\n") and len(data) < 1 << 20:
                    b = s.recv(65536)
                    if not b:
                        break
                    data += b
            return json.loads(data.decode())
        except (OSError, ValueError):
            return None

    def start_agent(self, timeout=15):
        """lockbox-agent -c CONF --foreground --state-dir DIR in a namespace of its own whose
        /dev/log is the test's; returns once it answers on its socket."""
        if self.agent is not None and self.agent.poll() is None:
            raise RuntimeError("the agent already runs")
        with open(self.agent_log, "ab") as logf:
            logf.write(b"---- start %s\n" % lbtest.now_rfc3339().encode())
            logf.flush()
            # nsrun.sh execs unshare, which execs the agent: the PID is the agent's
            # LB_AGENT_WRAPPER: a command that execs the agent (setpriv, strace -f -o F, ...)
            wrap = os.environ.get("LB_AGENT_WRAPPER", "").split()
            self.agent = subprocess.Popen(
                [NSRUN, self.log.path, "--"] + wrap +
                [AGENT, "-c", self.conf, "--foreground", "--state-dir", self.state_dir],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        self.procs.append(self.agent)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.agent.poll() is not None:
                raise RuntimeError("lockbox-agent exited with %s during start:\n%s"
                                   % (self.agent.returncode, self.agent_tail()))
            st = self.agent_status(0.5)
            if st and st.get("ok"):
                return st
            time.sleep(0.05)
        raise RuntimeError("lockbox-agent does not answer on %s:\n%s"
                           % (self.agent_socket, self.agent_tail()))

    def stop_agent(self, timeout=15):
        """SIGTERM and wait; returns the exit status."""
        p = self.agent
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
            self.T.check(False, "lockbox-agent exits within %ds of SIGTERM" % timeout,
                         self.agent_tail())
            return None

    def kill_agent(self):
        """SIGKILL (a crash): nothing of the agent runs its shutdown."""
        p = self.agent
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(10)

    def agent_alive(self):
        return self.agent is not None and self.agent.poll() is None

    def agent_tail(self, n=30):
        try:
            return "\n".join(read(self.agent_log).splitlines()[-n:])
        except OSError:
            return ""

    # -- sshd

    def start_sshd(self, timeout=15):
        with open(self.sshd_log, "ab") as logf:
            self.sshd = subprocess.Popen(
                [NSRUN, self.log.path, "-T", "/run",
                 "-b", os.path.join(self.tmp, "pam.d"), "/etc/pam.d",
                 "-b", os.path.join(self.tmp, "passwd"), "/etc/passwd",
                 "-b", os.path.join(self.tmp, "group"), "/etc/group",
                 "-b", os.path.join(self.tmp, "shadow"), "/etc/shadow", "--",
                 "/bin/sh", "-c", "mkdir -m 0755 /run/sshd && exec %s -D -e -f %s"
                 % (SSHD, self.sshd_conf)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        self.procs.append(self.sshd)

        def up():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    return s.recv(64).startswith(b"SSH-")
            except OSError:
                return False
        if not lbtest.wait_until(up, timeout=timeout):
            raise RuntimeError("sshd does not answer on port %d:\n%s"
                               % (self.port, self.sshd_tail()))

    def sshd_tail(self, n=30):
        try:
            return "\n".join(read(self.sshd_log).splitlines()[-n:])
        except OSError:
            return ""

    # -- clients

    def ssh_argv(self, user, cmd, tty=False):
        return (["ssh", "-F", "/dev/null", "-i", os.path.join(self.tmp, "userkey"),
                 "-p", str(self.port), "-o", "BatchMode=yes",
                 "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey",
                 "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=0",
                 "-o", "LogLevel=INFO"] + (["-tt"] if tty else []) +
                ["%s@127.0.0.1" % user, cmd])

    def ssh(self, user, cmd="echo lockbox-ok", wait=True, timeout=60):
        argv = self.ssh_argv(user, cmd)
        if not wait:
            return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL)
        t0 = time.monotonic()
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        return Run(p.returncode, p.stdout.decode("utf-8", "replace"),
                   p.stderr.decode("utf-8", "replace"), time.monotonic() - t0, self)

    def client(self, user, cmd="echo lockbox-ok", timeout=60):
        t0 = time.monotonic()
        p = subprocess.run([CLIENT, "127.0.0.1", str(self.port), user,
                            os.path.join(self.tmp, "userkey"), cmd],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return Run(p.returncode, p.stdout.decode("utf-8", "replace"),
                   p.stderr.decode("utf-8", "replace"), time.monotonic() - t0, self)

    def live(self, user, cmd):
        """`ssh -tt USER@host CMD` in the background (see Live)."""
        s = Live(self.ssh_argv(user, cmd, tty=True))
        self.lives.append(s)
        return s

    # -- the gateway's side

    def audit(self, **q):
        """Every audit event matching Q (GET /v1/audit/events as the provider admin)."""
        qs = "&".join("%s=%s" % kv for kv in q.items())
        items, cursor = [], None
        for _ in range(50):
            st, js, raw = self.w.call("GET", "/v1/audit/events?limit=200&" + qs +
                                      ("&cursor=" + cursor if cursor else ""))
            if st != 200:
                break
            items += js["items"]
            cursor = js.get("next_cursor")
            if not cursor:
                break
        return items

    # -- the end

    def close(self):
        # what sessions of ours still run (a failed check left them): their processes first,
        # by PID, so nothing the test started outlives it
        if self.sshd is not None and self.sshd.poll() is None:
            for pid in descendants(self.sshd.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for s in self.lives:
            s.close()
        if self.agent_alive():
            self.stop_agent()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        self.log.close()
        if not os.environ.get("LB_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.T.note("kept %s" % self.tmp)
