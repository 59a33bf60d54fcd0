"""contrib/ha-trial.sh: a private PostgreSQL cluster and two gateways on loopback, with the
build tree's binaries. start answers /healthz on both gateways; a tenant created through gw1
is read back through gw2 (one shared database); neither gateway config holds the database
password (it is only in the 0600 .pgpass); both name the same key files; lockboxctl with both
URLs fails over when gw1 is stopped, and start brings gw1 back; stop --purge leaves no
postgres or lockbox-gatewayd process of the trial and removes its directory.

Skipped (77) when not root, without /usr/lib/postgresql/*/bin/initdb, or in a sanitizer build
(like the other heavy tests: demo, console)."""

import glob
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import lbtest

T = lbtest.Runner("ha-trial")

TOP = os.environ.get("LB_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(TOP, "contrib", "ha-trial.sh")
GATEWAYD = os.environ.get("LB_GATEWAYD", "")
CTL = os.environ.get("LB_CTL", "")

if os.geteuid() != 0:
    T.skip("not root: the private PostgreSQL cluster runs as the user postgres")
if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
    T.skip("no /usr/lib/postgresql/*/bin/initdb (bash contrib/deps.sh installs postgresql)")
if os.environ.get("LB_SANITIZER") == "1":
    T.skip("sanitizer build: the heavy tests run in the normal build")
for tool in ("runuser", "curl"):
    if not shutil.which(tool):
        T.skip("%s is missing (contrib/deps.sh)" % tool)
if not os.access(GATEWAYD, os.X_OK):
    T.skip("LB_GATEWAYD is not set to a built lockbox-gatewayd")


def script(*args, timeout=180):
    env = dict(os.environ, LB_GATEWAYD=GATEWAYD, LB_CTL=CTL, LB_HA_TIMEOUT="60")
    return subprocess.run(["/bin/bash", SCRIPT] + list(args), env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout)


def http(method, url, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text.strip() else None), text
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            js = json.loads(text)
        except ValueError:
            js = None
        return e.code, js, text
    except (urllib.error.URLError, OSError) as e:
        return 0, None, str(e)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[-1][:1] != "Z"
    except OSError:
        return False


def procs_naming(text):
    """Live pids whose command line contains TEXT (the trial's directory)."""
    out = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        pid = int(p.split("/")[2])
        if text in cmd and pid != os.getpid() and alive(pid):
            out.append(pid)
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def children(pid):
    out = []
    for p in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(p) as f:
                fields = f.read().rsplit(") ", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(pid):
            out.append(int(p.split("/")[2]))
    return out


def wait_gone(pids, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


base = tempfile.mkdtemp(prefix="lbha-test-")
os.chmod(base, 0o711)                    # the user postgres passes through to D/pg
D = os.path.join(base, "trial")          # start makes it (a new directory)
env_vals = {}
watched = []                             # every pid of the trial seen: none may be left
started = False
try:
    with T.section("start"):
        r = script("start", D)
        T.eq(r.returncode, 0, "ha-trial.sh start exits 0", r.stdout[-3000:])
        if r.returncode != 0:
            for f in ("pg/server.log", "gw1/gatewayd.log", "gw2/gatewayd.log"):
                try:
                    with open(os.path.join(D, f), errors="replace") as fh:
                        T.note("%s:\n%s" % (f, "".join(fh.readlines()[-15:])))
                except OSError:
                    pass
            raise SystemExit      # nothing else to test; the finally: cleans up
        T.note(r.stdout)
        with open(os.path.join(D, "ha-trial.env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                env_vals[k] = v
        u1 = "http://127.0.0.1:%s" % env_vals["GW1_PORT"]
        u2 = "http://127.0.0.1:%s" % env_vals["GW2_PORT"]
        T.check(u1 in r.stdout and u2 in r.stdout, "it prints both URLs")
        T.check(os.path.join(D, "admin.token") in r.stdout, "it prints the admin token file")
        T.check("lockboxctl --url" in r.stdout and "stop " in r.stdout,
                "it prints example commands (lockboxctl with both URLs, stop)")
        T.check(env_vals["PG_PORT"] != "5432", "the cluster is not on port 5432",
                env_vals["PG_PORT"])
        pm = read_pid(os.path.join(D, "pg", "data", "postmaster.pid"))
        gw_pids = [read_pid(os.path.join(D, g, "gatewayd.pid")) for g in ("gw1", "gw2")]
        T.check(pm and alive(pm) and all(p and alive(p) for p in gw_pids),
                "the postmaster and both gateways run", (pm, gw_pids))
        watched += [p for p in [pm] + gw_pids if p]
        started = True

    if not started:
        raise SystemExit
    with T.section("both gateways answer, and share one database"):
        for name, u in (("gw1", u1), ("gw2", u2)):
            st, _, text = http("GET", u + "/healthz")
            T.eq(st, 200, "%s answers /healthz" % name, text[:200])
        with open(os.path.join(D, "admin.token")) as f:
            token = f.read().strip()
        T.check(re.match(r"^lbu_[0-9a-f]+$", token) is not None, "admin.token holds a user token")
        name = "ha-trial-" + secrets.token_hex(4)
        st, js, text = http("POST", u1 + "/v1/tenants", token, {"name": name})
        T.eq(st, 201, "POST /v1/tenants through gw1", text[:300])
        tid = (js or {}).get("id")
        st, js, text = http("GET", "%s/v1/tenants/%s" % (u2, tid), token)
        T.check(st == 200 and (js or {}).get("name") == name,
                "GET /v1/tenants/{id} through gw2 finds it", "%d %s" % (st, text[:300]))

    with T.section("no password in the gateway configs; shared keys"):
        pgpass = os.path.join(D, ".pgpass")
        T.eq(stat.S_IMODE(os.stat(pgpass).st_mode), 0o600, ".pgpass is mode 0600")
        with open(pgpass) as f:
            password = f.read().strip().split(":")[-1]
        T.check(len(password) >= 16, "the role's password is generated", len(password))
        confs = {}
        for g in ("gw1", "gw2"):
            with open(os.path.join(D, g, "gatewayd.conf")) as f:
                confs[g] = f.read()
            c = confs[g]
            db = re.search(r"^database\s*=\s*(\S+)", c, re.M)
            settings = "\n".join(l for l in c.splitlines() if not l.lstrip().startswith("#"))
            T.check(password not in c and db and "passfile=" in db.group(1)
                    and not re.search(r"//[^/@]*:[^/@]*@", db.group(1))
                    and not re.search(r"password", settings, re.I),
                    "%s: no password; the database URI names the passfile" % g,
                    db and db.group(1))
            T.check(re.search(r"^listen\s*=\s*http://127\.0\.0\.1:\d+\s*$", c, re.M) is not None,
                    "%s listens on loopback only" % g)
        keys = [sorted(re.findall(r"^((?:checkpoint|totp)_key_file)\s*=\s*(\S+)", confs[g], re.M))
                for g in ("gw1", "gw2")]
        T.check(len(keys[0]) == 2 and keys[0] == keys[1]
                and all(os.path.exists(p) for _, p in keys[0]),
                "both gateways name the same checkpoint and TOTP key files", keys)
        with open(os.path.join(D, "pg", "data", "postgresql.conf")) as f:
            pgconf = f.read()
        T.check("listen_addresses = '127.0.0.1'" in pgconf,
                "the cluster listens on 127.0.0.1 only")

    with T.section("status, failover, start again"):
        r = script("status", D, timeout=60)
        T.check(r.returncode == 0 and r.stdout.count("running") == 3,
                "status: all three run (exit 0)", r.stdout)
        os.kill(gw_pids[0], 15)
        T.eq(wait_gone([gw_pids[0]], 20), [], "gw1 stops on SIGTERM")
        r = script("status", D, timeout=60)
        T.check(r.returncode == 3 and re.search(r"^gw1\s+stopped", r.stdout, re.M),
                "status: gw1 stopped (exit 3)", r.stdout)
        if os.access(CTL, os.X_OK):
            c = subprocess.run([CTL, "--url", "%s %s" % (u1, u2), "--token", "-", "--timeout",
                                "20s", "--verbose", "tenant", "list"], input=token,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=60,
                               env=dict(os.environ, HOME=base))
            T.check(c.returncode == 0 and name in c.stdout,
                    "lockboxctl with both URLs: gw2 answers while gw1 is down",
                    "%d %s %s" % (c.returncode, c.stdout[-300:], c.stderr[-300:]))
        r = script("start", D)
        new1 = read_pid(os.path.join(D, "gw1", "gatewayd.pid"))
        if new1:
            watched.append(new1)
        st, _, _ = http("GET", u1 + "/healthz")
        T.check(r.returncode == 0 and st == 200 and alive(gw_pids[1]) and new1 != gw_pids[0],
                "start DIR again starts gw1 only, which answers", r.stdout[-1500:])

    with T.section("stop --purge"):
        if pm:
            watched += children(pm)          # its backends and workers
        watched += procs_naming(D)
        r = script("stop", "--purge", D, timeout=120)
        T.eq(r.returncode, 0, "ha-trial.sh stop --purge exits 0", r.stdout)
        left = wait_gone(sorted(set(watched)), 30)
        T.eq(left, [], "no process of the trial is left (postmaster, backends, gateways)")
        T.eq(procs_naming(D), [], "no process names the trial's directory")
        T.check(not os.path.exists(D), "the trial's directory is removed")
except SystemExit:
    pass
finally:
    if os.path.exists(os.path.join(D, "ha-trial.env")):
        try:
            script("stop", "--purge", D, timeout=120)
        except (subprocess.TimeoutExpired, OSError):
            pass
    for pid in procs_naming(D) + [p for p in watched if alive(p) and comm(p) in
                                  ("postgres", "lockbox-gatewa")]:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    shutil.rmtree(base, ignore_errors=True)
T.done()
