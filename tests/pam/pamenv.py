"""pamenv: runs pam_lockbox under pam_wrapper + nss_wrapper for the tests in tests/pam.

    env = PamEnv("faults")                 # private temp dir, fake users, service files
    env.write_conf(gateway_url=url, timeout="2s")
    r = env.run("eng", ["account=PAM_PERM_DENIED"])
    r.rc, r.out, r.err, r.elapsed           # exit code, driver stdout, module stderr (debug)

Fake users (nss_wrapper): eng, eng2, exempt1 in group lockbox-engineers (eng2 and exempt1 as
supplementary members, eng by primary group), plain (not gated), root.
Service files sshd and xrdp-sesman: pam_set_items.so (sets PAM_RHOST/PAM_TTY from the
environment) then pam_lockbox.so config=<conf> debug, for account and session.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

GATED_GID = 6000


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
    return None


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


class PamEnv:
    def __init__(self, name, keep=False, base=None):
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
        self.write_token("lbh_" + "ab" * 32)
        self.write_services()

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
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

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
                 "host_id": "web-01", "timeout": "2s", "audit_log": self.audit_log}
        lines.update(kw)
        return "".join("%s = %s\n" % (k, v) for k, v in lines.items() if v is not None)

    def write_conf(self, gateway_url=None, raw=None, mode=0o600, **kw):
        text = raw if raw is not None else self.conf_text(gateway_url, **kw)
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, mode)

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
            cycles=1, fdcheck=False, timeout=120, wrap=None, preload_inside=False):
        """WRAP: a command prefix (valgrind, nsrun.sh). PRELOAD_INSIDE: give LD_PRELOAD to the
        driver only (through env(1) inside WRAP), not to the wrapper's own tools."""
        cmd = [driver_path()]
        if cycles > 1:
            cmd += ["-n", str(cycles)]
        if fdcheck:
            cmd += ["-F"]
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

    def audit_lines(self):
        import json
        try:
            with open(self.audit_log) as f:
                return [json.loads(ln) for ln in f if ln.strip()]
        except FileNotFoundError:
            return []

    def cursor(self):
        try:
            with open(self.audit_log + ".cursor") as f:
                return int(f.read().strip() or 0)
        except FileNotFoundError:
            return 0
