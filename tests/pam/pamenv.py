"""pamenv: runs pam_lockbox under pam_wrapper + nss_wrapper for the tests in tests/pam, next
to a real lockbox-agent (the module's only way to the gateway).

    env = PamEnv("faults")                 # private temp dir, fake users, service files
    env.write_conf(gateway_url=url, timeout="2s")
    env.start_agent()                      # the real LB_AGENT on env.agent_socket
    r = env.run("eng", ["account=PAM_PERM_DENIED"])
    r.rc, r.out, r.err, r.elapsed           # exit code, driver stdout, module stderr (debug)
    env.agent.status()                     # {"op":"status"} answered by the agent

The agent reads its config only at start: write_conf() restarts it when it was started
(start_agent) and not stopped since (stop_agent). Its stderr goes to env.agent.log (a file,
never a pipe), its state to env.tmp/agent-state, and close() (or the end of the test script,
through lbtest's clean-up) stops it; a sanitizer report in its log is a test failure.

Fake users (nss_wrapper): eng, eng2, exempt1 in group lockbox-engineers (eng2 and exempt1 as
supplementary members, eng by primary group), plain (not gated), root.
Service files sshd and xrdp-sesman: pam_set_items.so (sets PAM_RHOST/PAM_TTY from the
environment) then pam_lockbox.so config=<conf> debug, for account and session.
"""

import fcntl
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    import lbtest
except ImportError:  # pragma: no cover - PYTHONPATH always has tests/ under make check
    lbtest = None

GATED_GID = 6000
SOCKET_MAX = 100  # sun_path is 108 bytes; keep well below


def _find_lib(name):
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu",
              "/usr/local/lib", "/usr/local/lib64"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    hits = glob.glob("/usr/lib/*/" + name)
    return hits[0] if hits else None


def _find_pam_set_items():
    for p in ("/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_set_items.so",
              "/usr/lib64/pam_wrapper/pam_set_items.so", "/usr/lib/pam_wrapper/pam_set_items.so"):
        if os.path.exists(p):
            return p
    hits = glob.glob("/usr/lib/*/pam_wrapper/pam_set_items.so")
    return hits[0] if hits else None


def prerequisites():
    """None if everything needed is there, else the reason to skip."""
    if not os.environ.get("LB_PAM_MODULE") or not os.path.exists(os.environ["LB_PAM_MODULE"]):
        return "pam_lockbox.so not built (LB_PAM_MODULE)"
    if not _find_lib("libpam_wrapper.so"):
        return "libpam_wrapper.so not installed"
    if not _find_lib("libnss_wrapper.so"):
        return "libnss_wrapper.so not installed"
    if not _find_pam_set_items():
        return "pam_wrapper's pam_set_items.so not installed"
    if not os.path.exists(driver_path()):
        return "tests/pam/lbpam_drive not built (configure found no libpamtest?)"
    if not os.path.exists(agent_path()):
        return "lockbox-agent not built (LB_AGENT)"
    return None


def agent_path():
    p = os.environ.get("LB_AGENT")
    if p:
        return p
    top = os.environ.get("LB_TOP_BUILDDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    return os.path.join(top, "agent", "lockbox-agent")


def nsrun_path():
    """tests/e2e/nsrun.sh: a command in a private mount namespace (root and unshare(1))."""
    top = os.environ.get("LB_TOP_SRCDIR",
                         os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    return os.path.join(top, "tests", "e2e", "nsrun.sh")


def driver_path():
    top = os.environ.get("LB_TOP_BUILDDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    return os.path.join(top, "tests", "pam", "lbpam_drive")


def sanitizer():
    return os.environ.get("LB_SANITIZER") == "1"


def asan_runtime(binary):
    """The ASan runtime BINARY links against (from ldd), or None."""
    try:
        out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE,
                             universal_newlines=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for ln in out.splitlines():
        if "libasan.so" in ln and "=>" in ln:
            p = ln.split("=>", 1)[1].split("(")[0].strip()
            if os.path.exists(p):
                return p
    return None


_SAN_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                "WARNING: ThreadSanitizer", "ERROR: UndefinedBehaviorSanitizer")


_deathsig = []


def _deathsig_prefix():
    """setpriv --pdeathsig KILL: the agent dies with the test even when the test is killed
    (no preexec_fn: the tests run threads, and a fork with threads must only exec)."""
    if not _deathsig:
        p = shutil.which("setpriv")
        ok = p and subprocess.run([p, "--pdeathsig", "KILL", "--", "/bin/true"],
                                  stderr=subprocess.DEVNULL, timeout=10).returncode == 0
        _deathsig.append([p, "--pdeathsig", "KILL", "--"] if ok else [])
    return list(_deathsig[0])


def agent_call(path, obj, timeout=5.0):
    """One question to the agent socket at PATH: OBJ (a dict, or raw bytes sent as they are);
    returns the parsed answer line. Raises OSError, ValueError (not JSON) or TimeoutError."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        data = obj if isinstance(obj, bytes) else (json.dumps(obj) + "\n").encode()
        s.sendall(data)
        buf = b""
        end = time.monotonic() + timeout
        while b"\n" not in buf:
            if time.monotonic() > end or len(buf) > 1 << 20:
                raise TimeoutError("no whole answer line from %s" % path)
            d = s.recv(65536)
            if not d:
                break
            buf += d
        return json.loads(buf.split(b"\n", 1)[0])
    finally:
        s.close()


class Agent:
    """The real lockbox-agent in the foreground: `LB_AGENT -c CONF --foreground --state-dir
    STATE`, stderr appended to LOG. Started and stopped by the test; never a daemon."""

    def __init__(self, conf, socket_path, state_dir, log):
        if len(socket_path.encode()) >= SOCKET_MAX:
            raise ValueError("agent socket path too long for sun_path: %s" % socket_path)
        self.conf, self.socket, self.state_dir, self.log = conf, socket_path, state_dir, log
        self.exe = os.path.abspath(agent_path())
        self.proc = None
        self.wanted = False       # started by the test and not stopped: write_conf restarts it
        self.extra_env = {}
        self.starts = 0

    def env(self, extra=None):
        e = dict(os.environ)
        # never the PAM/NSS wrappers (nor, under ASan, a second runtime) in the agent
        for k in ("LD_PRELOAD", "PAM_WRAPPER", "PAM_WRAPPER_SERVICE_DIR", "NSS_WRAPPER_PASSWD",
                  "NSS_WRAPPER_GROUP"):
            e.pop(k, None)
        for k in list(e):
            if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
                del e[k]
        e.update(self.extra_env)
        if extra:
            e.update(extra)
        return e

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=15.0, check=True, extra_env=None, args=()):
        """Starts the agent and waits (bounded) until its socket answers a status question.
        Returns True when it serves; False (check=False) or RuntimeError (check=True) when it
        exited or did not answer in time (its log tail says why)."""
        if self.running():
            raise RuntimeError("lockbox-agent already running")
        if extra_env is not None:
            self.extra_env = dict(extra_env)
        self.wanted = True
        self.starts += 1
        with open(self.log, "ab") as logf:
            logf.write(b"---- start %d\n" % self.starts)
            logf.flush()
            self.proc = subprocess.Popen(
                _deathsig_prefix() +
                [self.exe, "-c", self.conf, "--foreground", "--state-dir", self.state_dir] +
                list(args), stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, close_fds=True,
                env=self.env())
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                last = "exited with status %d" % self.proc.returncode
                break
            try:
                if agent_call(self.socket, {"op": "status"}, timeout=2).get("ok") is True:
                    return True
                last = "status not ok"
            except (OSError, ValueError) as e:
                last = repr(e)
            time.sleep(0.05)
        if self.proc.poll() is None:
            self.kill9()
        self.proc = None
        if check:
            raise RuntimeError("lockbox-agent did not serve %s (%s); log tail:\n%s"
                               % (self.socket, last, self.log_tail()))
        return False

    def stop(self, timeout=15.0):
        """SIGTERM and wait; returns the exit status (None if it was not running). An agent
        that does not exit in time, or exits non-zero, is a test failure."""
        self.wanted = False
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
                _problem("lockbox-agent did not exit within %.0fs of SIGTERM; log tail:\n%s"
                         % (timeout, self.log_tail()))
                return p.returncode
        if p.returncode != 0:
            _problem("lockbox-agent exited with status %s; log tail:\n%s"
                     % (p.returncode, self.log_tail(15)))
        return p.returncode

    def kill9(self):
        """A crash: SIGKILL, no clean-up by the agent."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def restart(self, check=True):
        self.stop()
        return self.start(check=check)

    def call(self, obj, timeout=5.0):
        return agent_call(self.socket, obj, timeout)

    def status(self, timeout=5.0):
        return self.call({"op": "status"}, timeout)

    def sessions(self):
        return self.status().get("sessions", [])

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def sanitizer_report(self):
        lines = self.log_text().splitlines()
        for i, ln in enumerate(lines):
            if any(m in ln for m in _SAN_MARKERS):
                return "\n".join(lines[max(0, i - 2):i + 25])
        return None

    def close(self):
        self.stop()
        rep = self.sanitizer_report()
        if rep:
            _problem("sanitizer report in the lockbox-agent log:\n" + rep)
        _forget(self)


def _problem(text):
    """A failure found while cleaning up: lbtest's runner reports it (or stderr without it)."""
    if lbtest is not None:
        lbtest._problems.append(text)
    else:
        sys.stderr.write(text + "\n")


def _remember(obj):
    # lbtest's clean-up (T.done, T.skip, an uncaught exception) closes what is in _live
    if lbtest is not None and obj not in lbtest._live:
        lbtest._live.append(obj)


def _forget(obj):
    if lbtest is not None and obj in lbtest._live:
        lbtest._live.remove(obj)


class Result:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    def ops(self):
        """{op: rc name} from the driver's 'op NAME rc=X expected=Y' lines."""
        d = {}
        for ln in self.out.splitlines():
            if ln.startswith("op "):
                parts = ln.split()
                d[parts[1]] = parts[2][3:]
        return d

    def errors(self):
        return [ln[len("PAM_ERROR_MSG: "):] for ln in self.out.splitlines()
                if ln.startswith("PAM_ERROR_MSG: ")]

    def infos(self):
        return [ln[len("PAM_TEXT_INFO: "):] for ln in self.out.splitlines()
                if ln.startswith("PAM_TEXT_INFO: ")]

    def loglines(self):
        """The module's debug copies of its log lines (without the 'pam_lockbox: ' prefix)."""
        return [ln[len("pam_lockbox: "):] for ln in self.err.splitlines()
                if ln.startswith("pam_lockbox: ")]

    def events(self, typ):
        """Parsed key=value dicts of log lines with event=TYP."""
        return [kv for kv in map(parse_kv, self.loglines()) if kv.get("event") == typ]

    def __str__(self):
        return "rc=%s elapsed=%.2fs\n--- stdout\n%s--- stderr\n%s" % (
            self.rc, self.elapsed, self.out, self.err[-4000:])


class Live:
    """A driver holding a session open (PamEnv.spawn). Its stderr goes to a file."""

    def __init__(self, env, cmd, e):
        import threading
        fd, self.errpath = tempfile.mkstemp(prefix="drive-err-", dir=env.tmp)
        self.errf = os.fdopen(fd, "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=e, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errf)
        self.pid = self.proc.pid
        self.lines = []
        self.opened = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            ln = raw.decode("utf-8", "replace")
            self.lines.append(ln)
            if ln.startswith("session-wait"):
                self.opened.set()
        self.opened.set()  # EOF: it ended before (or after) the wait point

    def wait_open(self, timeout=30.0):
        """True once the driver holds the session (every op done as expected)."""
        self.opened.wait(timeout)
        return any(ln.startswith("session-wait") for ln in self.lines)

    def finish(self, close=True, timeout=60.0):
        """Closes the session (CLOSE) or just ends the handle; returns the Result."""
        try:
            self.proc.stdin.write(b"close\n" if close else b"end\n")
            self.proc.stdin.close()
        except OSError:
            pass  # the driver is already gone (e.g. the agent ended the session)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.reader.join(10)
        return self.result()

    def kill(self, sig=signal.SIGKILL):
        """The session's process dies without closing the session."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(30)
        self.reader.join(10)
        return self.result()

    def alive(self):
        return self.proc.poll() is None

    def result(self):
        self.errf.close()
        with open(self.errpath, "rb") as f:
            err = f.read().decode("utf-8", "replace")
        return Result(self.proc.returncode, "".join(self.lines), err,
                      time.monotonic() - self.t0)


def parse_kv(line):
    """Parses one key=value line as written by lb_kv_add (quoted values with escapes)."""
    out = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        j = line.find("=", i)
        if j < 0:
            break
        key = line[i:j]
        i = j + 1
        if i < n and line[i] == '"':
            i += 1
            val = []
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n:
                    c = line[i + 1]
                    if c == "x" and i + 3 < n:
                        val.append(chr(int(line[i + 2:i + 4], 16)))
                        i += 4
                        continue
                    val.append({"n": "\n", "r": "\r", "t": "\t"}.get(c, c))
                    i += 2
                    continue
                val.append(line[i])
                i += 1
            i += 1
            out[key] = "".join(val)
        else:
            j = line.find(" ", i)
            if j < 0:
                j = n
            out[key] = line[i:j]
            i = j
    return out


# pam_wrapper (1.1.4) copies the service files into a dir of its own, /tmp/pam.X (one
# character, machine-wide), and takes a dir whose pid file is not written yet for a stale one:
# two test scripts starting drivers at once (make -j check, or two clones' suites) could then
# run on each other's service files (seen once: a login of one script read another's
# services= line). So one script at a time uses pam_wrapper on this machine: the first
# PamEnv of a process takes this lock and holds it until the process ends. Drivers within a
# script are started apart (test_gateway's concurrent logins).
PWRAP_LOCK = "/tmp/lbtest-pam_wrapper.lock"
PWRAP_LOCK_WAIT = 1800  # seconds; the whole pam group takes a few minutes
_pwrap_lock_fd = None


def _pwrap_lock():
    global _pwrap_lock_fd
    if _pwrap_lock_fd is not None:
        return
    fd = os.open(PWRAP_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    end = time.monotonic() + PWRAP_LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > end:
                sys.stderr.write("pamenv: %s still held after %d s: going on without it\n"
                                 % (PWRAP_LOCK, PWRAP_LOCK_WAIT))
                break
            time.sleep(0.2)
    _pwrap_lock_fd = fd


class PamEnv:
    def __init__(self, name, keep=False, base=None):
        _pwrap_lock()
        self.tmp = tempfile.mkdtemp(prefix="lbpam-%s-" % name, dir=base)
        self.keep = keep or bool(os.environ.get("LB_KEEP_TMP"))
        self.module = os.path.abspath(os.environ["LB_PAM_MODULE"])
        self.svcdir = os.path.join(self.tmp, "pam.d")
        os.makedirs(self.svcdir)
        self.conf = os.path.join(self.tmp, "pam_lockbox.conf")
        self.token_file = os.path.join(self.tmp, "host.token")
        self.audit_log = os.path.join(self.tmp, "log", "audit.log")
        self.passwd = os.path.join(self.tmp, "passwd")
        self.group = os.path.join(self.tmp, "group")
        with open(self.passwd, "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n"
                    "eng:x:5001:%d:Engineer:/nonexistent:/bin/sh\n"
                    "eng2:x:5002:5002:Engineer 2:/nonexistent:/bin/sh\n"
                    "exempt1:x:5003:5003:Exempt:/nonexistent:/bin/sh\n"
                    "plain:x:5004:5004:Plain:/nonexistent:/bin/sh\n" % GATED_GID)
        with open(self.group, "w") as f:
            f.write("root:x:0:\n"
                    "lockbox-engineers:x:%d:eng2,exempt1\n"
                    "eng2:x:5002:\nexempt1:x:5003:\nplain:x:5004:\n" % GATED_GID)
        self.agent_socket = os.path.join(self.tmp, "agent.sock")
        self.agent = Agent(self.conf, self.agent_socket, os.path.join(self.tmp, "agent-state"),
                           os.path.join(self.tmp, "agent.log"))
        self.write_token("lbh_" + "ab" * 32)
        self.write_services()
        _remember(self)

    def add_user(self, login, gated=True):
        """Adds a fake user; gated ones are supplementary members of lockbox-engineers."""
        uid = 5100 + sum(1 for _ in open(self.passwd))
        with open(self.passwd, "a") as f:
            f.write("%s:x:%d:%d:%s:/nonexistent:/bin/sh\n" % (login, uid, uid, login))
        lines = open(self.group).read().splitlines()
        out = []
        for ln in lines:
            if gated and ln.startswith("lockbox-engineers:"):
                ln = ln + ("," if not ln.endswith(":") else "") + login
            out.append(ln)
        out.append("%s:x:%d:" % (login, uid))
        with open(self.group, "w") as f:
            f.write("\n".join(out) + "\n")

    def close(self):
        self.agent.close()
        _forget(self)
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the agent

    def start_agent(self, **kw):
        return self.agent.start(**kw)

    def stop_agent(self):
        return self.agent.stop()

    def restart_agent(self, check=True):
        return self.agent.restart(check=check)

    def wait_delivered(self, timeout=3.0):
        """Waits (bounded) until the agent delivered the whole local log; True if it did."""
        def done():
            try:
                return self.cursor() == os.path.getsize(self.audit_log)
            except OSError:
                return False
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)
        return True

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False

    def write_token(self, token, mode=0o600):
        with open(self.token_file, "w") as f:
            f.write(token + "\n")
        os.chmod(self.token_file, mode)

    def write_services(self, args="debug", conf=None):
        setitems = _find_pam_set_items()
        conf = conf or self.conf
        for svc in ("sshd", "xrdp-sesman", "login"):
            with open(os.path.join(self.svcdir, svc), "w") as f:
                for stack in ("account", "session"):
                    f.write("%s required %s\n" % (stack, setitems))
                    f.write("%s required %s config=%s %s\n" % (stack, self.module, conf, args))

    def conf_text(self, gateway_url, **kw):
        lines = {"gateway_url": gateway_url, "host_token_file": self.token_file,
                 "host_id": "web-01", "timeout": "2s", "audit_log": self.audit_log,
                 "agent_socket": self.agent_socket}
        lines.update(kw)
        return "".join("%s = %s\n" % (k, v) for k, v in lines.items() if v is not None)

    def write_conf(self, gateway_url=None, raw=None, mode=0o600, restart=True, **kw):
        """Writes the config; the agent, if the test runs one, is restarted to read it (a
        config it refuses leaves it stopped: see env.agent.log_tail())."""
        text = raw if raw is not None else self.conf_text(gateway_url, **kw)
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, mode)
        if restart and self.agent.wanted:
            self.agent.stop()
            self.agent.start(check=False)

    def env(self, rhost="10.0.0.5", tty="ssh", extra=None):
        e = dict(os.environ)
        for k in list(e):
            if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
                del e[k]
        e.update({
            "LD_PRELOAD": "%s:%s" % (_find_lib("libpam_wrapper.so"),
                                     _find_lib("libnss_wrapper.so")),
            "PAM_WRAPPER": "1",
            "PAM_WRAPPER_SERVICE_DIR": self.svcdir,
            "NSS_WRAPPER_PASSWD": self.passwd,
            "NSS_WRAPPER_GROUP": self.group,
        })
        if rhost is not None:
            e["PAM_RHOST"] = rhost
        if tty is not None:
            e["PAM_TTY"] = tty
        if sanitizer():
            # The ASan runtime must come first among the preloads; the wrappers then also
            # skip RTLD_DEEPBIND (which ASan refuses) -- told so explicitly as well.
            rt = asan_runtime(driver_path())
            if rt:
                e["LD_PRELOAD"] = rt + ":" + e["LD_PRELOAD"]
            e["UID_WRAPPER_DISABLE_DEEPBIND"] = "1"
            e["NSS_WRAPPER_DISABLE_DEEPBIND"] = "1"
            e["PAM_WRAPPER_DISABLE_DEEPBIND"] = "1"
            opts = e.get("ASAN_OPTIONS", "")
            e["ASAN_OPTIONS"] = (opts + ":" if opts else "") + \
                "verify_asan_link_order=0:detect_leaks=1"
        if extra:
            e.update(extra)
        return e

    def run(self, user, ops, service="sshd", rhost="10.0.0.5", tty="ssh", extra_env=None,
            cycles=1, fdcheck=False, timeout=120, wrap=None, preload_inside=False, maps=False):
        """WRAP: a command prefix (valgrind, nsrun.sh). PRELOAD_INSIDE: give LD_PRELOAD to the
        driver only (through env(1) inside WRAP), not to the wrapper's own tools. MAPS: the
        driver prints the shared objects mapped inside the session ("mapped: PATH")."""
        cmd = [driver_path()]
        if cycles > 1:
            cmd += ["-n", str(cycles)]
        if fdcheck:
            cmd += ["-F"]
        if maps:
            cmd += ["-M"]
        cmd += [service, user] + list(ops)
        e = self.env(rhost, tty, extra_env)
        if wrap and preload_inside:
            cmd = list(wrap) + ["/usr/bin/env", "LD_PRELOAD=" + e.pop("LD_PRELOAD")] + cmd
        elif wrap:
            cmd = list(wrap) + cmd
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        el = time.monotonic() - t0
        return Result(p.returncode, p.stdout.decode("utf-8", "replace"),
                      p.stderr.decode("utf-8", "replace"), el)

    def spawn(self, user, ops, service="sshd", rhost="10.0.0.5", tty="ssh", extra_env=None):
        """Runs the driver with -W: after OPS it holds the PAM handle (the session stays open)
        until live.finish(). Returns a Live; live.wait_open() waits for that point."""
        return Live(self, [driver_path(), "-W", service, user] + list(ops),
                    self.env(rhost, tty, extra_env))

    def audit_lines(self):
        import json
        try:
            with open(self.audit_log) as f:
                return [json.loads(ln) for ln in f if ln.strip()]
        except FileNotFoundError:
            return []

    def cursor(self):
        return lbtest.audit_cursor(self.audit_log)
