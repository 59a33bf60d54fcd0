#!/usr/bin/python3
"""lockbox benchmarks (issue 6): every figure next to a baseline measured in the same run.

Run through `make bench` (top level or bench/); it calls
    /usr/bin/python3 -B bench/run.py --top-srcdir S --top-builddir B --bench-dir D [options]

Options: --quick (short runs, small stores: a smoke test while developing),
         --big-events N (events in the audit-query store; default 10M scaled to fit the
         time budget), --out FILE (default TOP_SRCDIR/BENCHMARKS.md, '-' for none),
         --keep (keep the temp dir), --only a,b (sections: check (with scale and the
         gateway's memory), audit, pam, ssh, rdp, agent, pg; pam and ssh without check run
         against a gateway on a 1k-request store), --pam-calls N (fresh PAM calls per module in
         section pam, default 300), --pg-events N (events in section pg's
         audit-query store; default: section audit's store when it ran, else 10M scaled to
         about 5 minutes of loading; --quick: 100k).
Section pg (PostgreSQL: /v1/check with one and three gateways and audit ingest against SQLite
on the same rows, the audit query on a big store) starts a private cluster (tests/pgcluster.py,
fsync on) and is skipped with a note when PostgreSQL cannot run (no binaries, not root).

Everything listens on 127.0.0.1 only; every loop is bounded in count and time; the
machine's /etc/pam.d is never touched (PAM stacks are read from a private confdir with
pam_start_confdir, sshd reads its stack through a bind mount in a private mount namespace).
"""

import argparse
import datetime
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

T_START = time.monotonic()
LOAD_START = open("/proc/loadavg").read().split()[:3]
BUDGET_S = 14 * 60          # stop starting new sections after this
ROWS = []                   # (section, metric, value, baseline, ratio, target, verdict)
NOTES = []
RESULTS = {}
PROCS = []


def log(msg):
    el = time.monotonic() - T_START
    print("[%6.1fs] %s" % (el, msg), flush=True)


def note(msg):
    NOTES.append(msg)
    log("NOTE: " + msg)


def elapsed():
    return time.monotonic() - T_START


def run(cmd, timeout=60, check=True, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       universal_newlines=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s -> %d\n%s\n%s" % (" ".join(cmd), r.returncode, r.stdout[-2000:],
                                                 r.stderr[-2000:]))
    return r


def spawn(cmd, logpath, **kw):
    f = open(logpath, "ab")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=f, close_fds=True,
                         start_new_session=True, **kw)
    f.close()
    PROCS.append(p)
    return p


def stop(p, timeout=10):
    if p is None:
        return
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                p.kill()
            p.wait(5)
    if p in PROCS:
        PROCS.remove(p)


def stop_all():
    for p in list(PROCS):
        try:
            stop(p, 5)
        except Exception:
            pass


def wait_port(port, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def add(section, metric, value, baseline=None, ratio=None, target=None, ok=None, unit=""):
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    ROWS.append((section, metric, fmt(value, unit), fmt(baseline, unit),
                 "" if ratio is None else "%.2f" % ratio, target or "", verdict))
    log("%-6s %-52s %s  base %s  ratio %s  %s %s" % (section, metric, fmt(value, unit),
                                                    fmt(baseline, unit), ROWS[-1][4],
                                                    target or "", verdict))


def fmt(v, unit=""):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        if abs(v) >= 1000:
            s = "{:,.0f}".format(v)
        elif abs(v) >= 10:
            s = "%.1f" % v
        else:
            s = "%.3f" % v
    else:
        s = "{:,}".format(v)
    return s + (" " + unit if unit else "")


# ------------------------------------------------------------------ tools


TOOLS = {  # binary or file -> Debian package
    "/usr/bin/wrk": "wrk",
    "/usr/sbin/nginx": "nginx-light",
    "/usr/sbin/freeradius": "freeradius",
    "/lib/x86_64-linux-gnu/security/pam_radius_auth.so": "libpam-radius-auth",
    "/usr/bin/curl": "curl",
    "/usr/sbin/sshd": "openssh-server",
    "/usr/bin/ssh": "openssh-client",
    "/usr/bin/openssl": "openssl",
    "/usr/bin/unshare": "util-linux",
    "/usr/bin/sqlite3": "sqlite3",
}


def ensure_tools():
    missing = sorted({pkg for path, pkg in TOOLS.items() if not os.path.exists(path)})
    if not missing:
        return
    log("installing with apt-get: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                       timeout=600, universal_newlines=True)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], timeout=300, env=env)
        subprocess.run(cmd, timeout=600, env=env)
    for path, pkg in TOOLS.items():
        if not os.path.exists(path):
            note("%s (%s) is missing: the sections that need it are skipped" % (path, pkg))


def have(path):
    return os.path.exists(path)


# ------------------------------------------------------------------ wrk

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s.strip())
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


def wrk(url, seconds, conns, threads, env, script, timeout_s="5s"):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency",
           "--timeout", timeout_s, "-s", script, url]
    e = dict(os.environ)
    e.update(env)
    r = run(cmd, timeout=seconds + 30, env=e)
    out = r.stdout
    res = {"raw": out}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    for p in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % p, out, re.M)
        res["p" + p] = _ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:.*", out)
    res["sockerr"] = m.group(0) if m else ""
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    return res


# ------------------------------------------------------------------ the gateway


class GW:
    def __init__(self, ctx, name, db, tls, threads=None, uri=None, keys=None):
        """db: the SQLite file, or uri: a postgresql:// URI instead; keys: (checkpoint key,
        TOTP key) files to share with other gateways (default: this gateway's own)."""
        self.ctx = ctx
        self.dir = os.path.join(ctx.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.db = db
        self.tls = tls
        self.port = free_port()
        self.scheme = "https" if tls else "http"
        self.url = "%s://127.0.0.1:%d" % (self.scheme, self.port)
        self.conf = os.path.join(self.dir, "gatewayd-%s.conf" % self.scheme)
        self.log = os.path.join(self.dir, "gatewayd-%s.log" % self.scheme)
        if keys is None:
            keys = (os.path.join(self.dir, "checkpoint-%s.key" % self.scheme),
                    os.path.join(self.dir, "totp-%s.key" % self.scheme))
        # the checkpoint and TOTP keys in the bench's own directory, never the machine's /etc/lockbox
        lines = ["listen = " + self.url, "database = " + (uri or "sqlite://" + db),
                 "checkpoint_interval = 365d",
                 "checkpoint_key_file = " + keys[0],
                 "totp_key_file = " + keys[1]]
        if threads:
            lines.append("threads = %d" % threads)
        if tls:
            lines += ["tls_cert = " + ctx.pki["cert"], "tls_key = " + ctx.pki["key"]]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        self.ready_s = None
        self.checkpoint_s = None
        self.checkpoint_line = None

    def bootstrap(self):
        r = run([self.ctx.gatewayd, "-c", self.conf, "--bootstrap-admin", "admin"], timeout=60)
        return r.stdout.strip()

    def start(self, checkpoint_timeout=240, preload=None):
        t0 = time.monotonic()
        env = dict(os.environ)
        if preload:
            env["LD_PRELOAD"] = preload
        self.proc = spawn([self.ctx.gatewayd, "-c", self.conf, "--foreground"], self.log,
                          env=env)
        end = t0 + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited: " + tail(self.log))
            try:
                st, _, _ = self.ctx.api(self, "GET", "/healthz", timeout=2)
                if st == 200:
                    break
            except Exception:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("gateway not ready: " + tail(self.log))
        self.ready_s = time.monotonic() - t0
        # the sweeper walks the whole audit chain once at start (the first checkpoint):
        # wait for it so it does not run under the measurements
        end = t0 + checkpoint_timeout
        while time.monotonic() < end:
            text = read(self.log)
            m = re.search(r"audit (checkpoint seq=\d+ head_hash=\w+|chain BROKEN.*)", text)
            if m:
                self.checkpoint_line = m.group(0)
                self.checkpoint_s = time.monotonic() - t0
                break
            time.sleep(0.2)
        return self

    def stop(self):
        stop(self.proc)
        self.proc = None

    def rss(self):
        return proc_status(self.proc.pid) if self.proc else {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def tail(path, n=20):
    return "\n".join(read(path).splitlines()[-n:])


def write(path, text, mode=None):
    with open(path, "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


class Ctx:
    pass


def new_token(prefix):
    return prefix + os.urandom(32).hex()


def make_store(ctx, name, nreq, nev, host_token, hosts=0):
    """A gateway database with the schema (bootstrap), then the loader. Returns info."""
    d = os.path.join(ctx.tmp, name)
    os.makedirs(d, exist_ok=True)
    db = os.path.join(d, "gw.db")
    gw = GW(ctx, name, db, tls=False)
    admin = gw.bootstrap()
    t0 = time.monotonic()
    r = run([ctx.loader, "-d", db, "-r", str(nreq), "-e", str(nev), "-t", host_token,
             "-l", "root", "-c"] + (["-H", str(hosts)] if hosts else []), timeout=900)
    info = json.loads(r.stdout.strip().splitlines()[-1])
    info["wall_s"] = time.monotonic() - t0
    info["db"] = db
    info["admin"] = admin
    info["size_mb"] = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
                          if f.startswith("gw.db")) / 1e6
    log("store %s: %d requests, %d events, %d hosts, %d engineers in %.1fs (%.0f MB)" % (
        name, info["requests"], info["events"], info["hosts"], info["engineers"],
        info["wall_s"], info["size_mb"]))
    return info


CHECK_BODY = {"user": "root", "service": "sshd", "rhost": "127.0.0.1", "tty": "ssh"}


def start_nginx(ctx, size):
    d = os.path.join(ctx.tmp, "nginx")
    os.makedirs(os.path.join(d, "www"), exist_ok=True)
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    body = ctx.check_sample
    write(os.path.join(d, "www", "check.json"), body)
    ctx.nginx_port = free_port()
    ctx.nginx_tls_port = free_port()
    conf = """
user root;
worker_processes auto;
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 60;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  types {{ application/json json; }}
  server {{
    listen 127.0.0.1:{p};
    listen 127.0.0.1:{ps} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    # no TLS resumption: a PAM host is a fresh process per login and cannot resume either
    ssl_session_tickets off;
    ssl_session_cache off;
    root {d}/www;
  }}
}}
""".format(d=d, p=ctx.nginx_port, ps=ctx.nginx_tls_port, cert=ctx.pki["cert"],
           key=ctx.pki["key"])
    write(os.path.join(d, "nginx.conf"), conf)
    p = spawn(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"),
               "-e", os.path.join(d, "logs", "error.log")], os.path.join(d, "nginx.out"))
    if not wait_port(ctx.nginx_port) or not wait_port(ctx.nginx_tls_port):
        raise RuntimeError("nginx did not start: " + tail(os.path.join(d, "nginx.out")))
    return p


# ------------------------------------------------------------------ sections


def section_check_and_scale(ctx, a):
    """1) check vs nginx static, HTTP and HTTPS; 2) latency at 1k vs 1M; 6) gateway RSS."""
    small_n = 1000
    big_n = 20000 if a.quick else 1000000
    host_token = ctx.host_token
    small = make_store(ctx, "store-1k", small_n, small_n, host_token)
    big = make_store(ctx, "store-1M", big_n, big_n, host_token)
    ctx.big = big
    RESULTS["stores"] = {"1k": small, "1M": big}
    dur = 2 if a.quick else 5
    lat_dur = 2 if a.quick else 4
    lat_round = 1
    conns = 16

    # -- latency at 1k and 1M: one connection, keep-alive (pure per-request latency); both
    # gateways run at once and the runs alternate, so the disk's fsync noise hits both alike
    gws = {}
    for label, st in (("1k", small), ("1M", big)):
        gw = GW(ctx, "gw-" + label, st["db"], tls=False).start()
        gws[label] = gw
        log("gateway on %s store: ready in %.2fs, first checkpoint after %s s: %s" % (
            label, gw.ready_s, "%.1f" % gw.checkpoint_s if gw.checkpoint_s else "?",
            gw.checkpoint_line))
        RESULTS["startup_" + label] = {"ready_s": gw.ready_s, "checkpoint_s": gw.checkpoint_s,
                                       "checkpoint": gw.checkpoint_line}
        if not gw.checkpoint_line or "BROKEN" in gw.checkpoint_line:
            note("%s store: the gateway's start-up chain walk said: %s" % (label,
                                                                        gw.checkpoint_line))
        st_, js, raw = ctx.api(gw, "POST", "/v1/check", body=CHECK_BODY, token=host_token)
        if st_ != 200 or not js or js.get("decision") != "allow":
            raise RuntimeError("the benchmark check is not allowed on the %s store: %d %s\n%s" % (
                label, st_, raw, tail(gw.log)))
        ctx.check_sample = raw
        if label == "1k":
            st_, js, raw = ctx.api(gw, "GET", "/v1/audit/verify", token=st["admin"])
            ok = st_ == 200 and js and js.get("ok") is True
            add("store", "1k store: /v1/audit/verify of the loaded chain",
                "ok" if ok else "BROKEN: " + raw[:80], target="ok", ok=ok)
        else:
            RESULTS["rss_after_load"] = gw.rss()
    if big.get("wall_s"):
        add("store", "%s-request store: load time (s); start-up chain walk of %s events (s)" % (
            fmt(big["requests"]), fmt(big["events"])),
            "%.1f; %.1f" % (big["wall_s"], gws["1M"].checkpoint_s or -1))
    env = {"LB_METHOD": "POST", "LB_BODY": json.dumps(CHECK_BODY), "LB_TOKEN": host_token}
    rounds = {"1k": [], "1M": []}
    nrounds = 4 if a.quick else 8
    for r in range(nrounds):
        for label in (("1k", "1M") if r % 2 == 0 else ("1M", "1k")):
            rounds[label].append(wrk(gws[label].url + "/v1/check", lat_round, 1, 1, env,
                                     ctx.check_lua))
    lat = {}
    for label in ("1k", "1M"):
        ws = rounds[label]
        lat[label] = {"p50": median([w["p50"] for w in ws]), "p99": median([w["p99"] for w in ws]),
                      "rps": median([w["rps"] for w in ws]),
                      "non2xx": sum(w["non2xx"] for w in ws), "rounds": ws}
        log("check latency %s store (c=1, %d rounds): p50 %.3f ms p99 %.3f ms, %.0f req/s" % (
            label, nrounds, lat[label]["p50"], lat[label]["p99"], lat[label]["rps"]))
    # the ratio of each round's neighbours (the disk's speed drifts with the machine's load)
    lat["pair_ratio_p50"] = median([b["p50"] / a_["p50"] for a_, b in
                                    zip(rounds["1k"], rounds["1M"]) if a_["p50"]])
    lat["pair_ratio_p99"] = median([b["p99"] / a_["p99"] for a_, b in
                                    zip(rounds["1k"], rounds["1M"]) if a_["p99"]])
    gws["1k"].stop()
    ctx.gw_http_1m = gws["1M"]
    RESULTS["latency"] = lat
    # diagnostic: the 1k store on tmpfs (fsync costs nothing there): how much of a check is
    # the disk's fsync (synchronous=FULL, one commit per check) and how much is CPU
    try:
        shm = tempfile.mkdtemp(prefix="lbbench-", dir="/dev/shm")
        ctx.shm = shm
        for f in os.listdir(os.path.dirname(small["db"])):
            if f.startswith("gw.db"):
                shutil.copy(os.path.join(os.path.dirname(small["db"]), f), shm)
        gw = GW(ctx, "gw-shm", os.path.join(shm, "gw.db"), tls=False).start()
        env = {"LB_METHOD": "POST", "LB_BODY": json.dumps(CHECK_BODY), "LB_TOKEN": host_token}
        w1 = wrk(gw.url + "/v1/check", lat_dur, 1, 1, env, ctx.check_lua)
        w16 = wrk(gw.url + "/v1/check", lat_dur, conns, 2, env, ctx.check_lua)
        gw.stop()
        RESULTS["tmpfs"] = {"c1": w1, "c16": w16}
        add("diag", "1k store on tmpfs (no fsync): check p50 c=1 (ms) vs on disk", w1["p50"],
            lat["1k"]["p50"], w1["p50"] / lat["1k"]["p50"], "(info)")
        add("diag", "1k store on tmpfs: check req/s c=%d; p99 (ms)" % conns,
            "%s; %.1f" % (fmt(w16["rps"]), w16["p99"]), target="(info)")
    except Exception as e:
        note("tmpfs diagnostic failed: %s" % e)
    finally:
        if getattr(ctx, "shm", None):
            shutil.rmtree(ctx.shm, ignore_errors=True)
    r50 = lat["pair_ratio_p50"]
    r99 = lat["pair_ratio_p99"]
    add("scale", "check p50 (ms), c=1, %s- vs 1k-request store; ratio per round" % fmt(big["requests"]),
        lat["1M"]["p50"], lat["1k"]["p50"], r50, "ratio <= 1.3", r50 <= 1.3)
    add("scale", "check p99 (ms), c=1, %s- vs 1k-request store" % fmt(big["requests"]),
        lat["1M"]["p99"], lat["1k"]["p99"], r99, "p99 <= 5 ms at c=1",
        lat["1M"]["p99"] <= 5.0)

    # -- throughput vs nginx static, HTTP then HTTPS, on the big store
    ngx = start_nginx(ctx, len(ctx.check_sample))
    ctx.nginx = ngx
    gw = ctx.gw_http_1m
    env = {"LB_METHOD": "POST", "LB_BODY": json.dumps(CHECK_BODY), "LB_TOKEN": host_token}
    nenv = {"LB_METHOD": "GET", "LB_BODY": "", "LB_TOKEN": ""}
    res = {}
    hwm = 0
    for scheme in ("http", "https"):
        if scheme == "https":
            gw.stop()
            gw = GW(ctx, "gw-1M", big["db"], tls=True).start()
            ctx.gw_https = gw
            nurl = "https://127.0.0.1:%d/check.json" % ctx.nginx_tls_port
        else:
            nurl = "http://127.0.0.1:%d/check.json" % ctx.nginx_port
        n = wrk(nurl, dur, conns, 2, nenv, ctx.check_lua)
        c = wrk(gw.url + "/v1/check", dur, conns, 2, env, ctx.check_lua)
        hwm = max(hwm, gw.rss().get("VmHWM", 0))
        res[scheme] = {"check": c, "nginx": n}
        if c["non2xx"] or c["sockerr"]:
            note("%s check run: %d non-2xx answers; %s" % (scheme, c["non2xx"], c["sockerr"]))
        ratio = c["rps"] / n["rps"] if n["rps"] else 0
        add("check", "%s /v1/check req/s (c=%d, keep-alive) vs nginx static" % (scheme.upper(),
                                                                             conns),
            c["rps"], n["rps"], ratio, ">= 0.40" if scheme == "http" else "(info)",
            ratio >= 0.40 if scheme == "http" else None)
        add("check", "%s /v1/check p50 (ms) vs nginx" % scheme.upper(), c["p50"], n["p50"],
            c["p50"] / n["p50"] if n["p50"] else None, "(info)")
        add("check", "%s /v1/check p99 (ms) vs nginx" % scheme.upper(), c["p99"], n["p99"],
            c["p99"] / n["p99"] if n["p99"] else None, "<= 5 ms" if scheme == "http" else "(info)",
            c["p99"] <= 5.0 if scheme == "http" else None)
        if scheme == "https":
            # what a fleet's logins look like: every PAM call is a new process, so a new TCP
            # connection and a full TLS handshake per check
            n2 = wrk(nurl, dur, conns, 2, dict(nenv, LB_CLOSE="1"), ctx.check_lua)
            c2 = wrk(gw.url + "/v1/check", dur, conns, 2, dict(env, LB_CLOSE="1"),
                     ctx.check_lua)
            res["https_new_conn"] = {"check": c2, "nginx": n2}
            if c2["non2xx"]:
                note("https new-connection check run: %d non-2xx answers" % c2["non2xx"])
            add("check", "HTTPS /v1/check req/s, a new TLS connection per request (as PAM "
                "hosts: one per login) vs nginx static, same", c2["rps"], n2["rps"],
                c2["rps"] / n2["rps"] if n2["rps"] else None, "(info)")
            add("check", "  new connection per request: p50 / p99 (ms)",
                "%.2f / %.2f" % (c2["p50"] or 0, c2["p99"] or 0), "%.2f / %.2f" % (
                    n2["p50"] or 0, n2["p99"] or 0), target="(info)")
    RESULTS["throughput"] = res
    RESULTS["rss_under_wrk_kb"] = hwm
    rl = RESULTS.get("rss_after_load", {})
    add("mem", "gateway RSS after start on the %s-request store (MB)" % fmt(big["requests"]),
        rl.get("VmRSS", 0) / 1024.0, target="<= 64 MB", ok=rl.get("VmRSS", 0) / 1024.0 <= 64)
    add("mem", "gateway peak RSS (VmHWM) under wrk, %s store (MB)" % fmt(big["requests"]),
        hwm / 1024.0, target="<= 64 MB", ok=hwm / 1024.0 <= 64)


def section_audit_ingest(ctx, a):
    gw = ctx.gw_https if getattr(ctx, "gw_https", None) else None
    if gw is None:
        return
    # plain HTTP too? the hosts talk HTTPS: measure there, keep-alive like a flush would not
    env = {"LB_TOKEN": ctx.host_token, "LB_BATCH": "100", "LB_RUN": str(int(time.time()))}
    dur = 2 if a.quick else 5
    w = wrk(gw.url, dur, 4, 1, env, ctx.ingest_lua, timeout_s="10s")
    evs = w["rps"] * 100
    if w["non2xx"]:
        note("audit ingest: %d non-2xx answers" % w["non2xx"])
    RESULTS["ingest"] = w
    add("audit", "ingest events/s (HTTPS, batches of 100, 4 connections)", evs,
        target=">= 20,000/s", ok=evs >= 20000 and w["non2xx"] == 0)
    add("audit", "ingest batch latency p50 / p99 (ms)", "%.1f / %.1f" % (w["p50"], w["p99"]))


def section_audit_query(ctx, a):
    nev = a.big_events
    if not a.big_events_fixed:
        # 10M unless the time left cannot hold its load and the gateway's start-up chain walk,
        # at the rates measured on the big store in this run
        big = RESULTS.get("stores", {}).get("1M")
        walk = RESULTS.get("startup_1M", {}).get("checkpoint_s")
        if big and walk:
            per_ev = big["wall_s"] / max(1, big["events"] + big["requests"] * 2) * 1.15 + \
                walk / max(1, big["events"])
            left = BUDGET_S - elapsed() - 100   # the queries, the tenant query's bound, report
            fit = int(left / per_ev) if per_ev > 0 else nev
            fit = max(100000, min(10000000, fit // 100000 * 100000))
            if fit < nev or nev < 10000000:
                nev = min(10000000, fit) if not a.quick else nev
        if nev < 10000000 and a.quick:
            note("the audit-query store holds %s events (--quick)" % fmt(nev))
        elif nev < 10000000:
            note("the audit-query store holds %s events, not 10M: loading 10M and the "
                 "gateway's start-up walk of the whole chain do not fit the 15-minute budget "
                 "on this machine (rates measured in this run)" % fmt(nev))
    st = make_store(ctx, "store-audit", 1000, nev, ctx.host_token, hosts=1000)
    RESULTS.setdefault("stores", {})["audit"] = st
    gw = GW(ctx, "gw-audit", st["db"], tls=False).start(checkpoint_timeout=300)
    RESULTS["startup_audit"] = {"ready_s": gw.ready_s, "checkpoint_s": gw.checkpoint_s,
                                "checkpoint": gw.checkpoint_line}
    log("audit store gateway: first checkpoint (full chain walk) after %s s: %s" % (
        "%.1f" % gw.checkpoint_s if gw.checkpoint_s else "?", gw.checkpoint_line))
    if not gw.checkpoint_line:
        note("the gateway's start-up chain walk over %d events did not finish within 300 s; "
             "the audit query ran while it was still running" % nev)
    ok = bool(gw.checkpoint_line) and "BROKEN" not in gw.checkpoint_line
    add("store", "%s-event store: start-up chain walk (s)" % fmt(st["events"]),
        gw.checkpoint_s if gw.checkpoint_s else ">300", target="chain ok", ok=ok)
    # host h0000042 over a 6-hour window in the middle of the 30 days
    now = time.time()
    since = now - 15 * 86400
    until = since + 6 * 3600
    q = "/v1/audit/events?host=h0000042.bench.test&since=%s&until=%s&limit=50" % (
        rfc3339(since), rfc3339(until))
    s_, js, raw = ctx.api(gw, "GET", q, token=st["admin"], timeout=120)
    n = len(js.get("items", [])) if js else -1
    log("audit query returned %d items (status %d)" % (n, s_))
    env = {"LB_METHOD": "GET", "LB_BODY": "", "LB_TOKEN": st["admin"]}
    w = wrk(gw.url + q, 2 if a.quick else 4, 1, 1, env, ctx.check_lua, timeout_s="30s")
    RESULTS["audit_query"] = {"wrk": w, "items": n, "query": q}
    label = "audit query by host + 6 h range, %s events, p50 (ms)" % fmt(st["events"])
    if w["non2xx"] or s_ != 200:
        note("audit query: status %d, %d non-2xx answers under wrk" % (s_, w["non2xx"]))
    add("audit", label, w["p50"], target="<= 50 ms",
        ok=w["p50"] is not None and w["p50"] <= 50 and not w["non2xx"] and s_ == 200)
    add("audit", "  the same, p99 (ms); %d items per page" % n, w["p99"])
    # the same window by tenant (audit_tenant is (tenant, seq): the time range is a filter)
    qt = "/v1/audit/events?tenant=tnt_b000000000000000&since=%s&until=%s&limit=50" % (
        rfc3339(since), rfc3339(until))
    try:
        times = []
        for i in range(5):   # bounded: at most 5 tries, stop after one slow answer
            t0 = time.monotonic()
            try:
                s2, js2, _ = ctx.api(gw, "GET", qt, token=st["admin"], timeout=60)
            except (socket.timeout, TimeoutError):
                note("the tenant audit query did not answer within 60 s")
                times.append(60000.0)
                break
            times.append((time.monotonic() - t0) * 1000)
            if times[-1] > 2000 or s2 != 200:
                break
        RESULTS["audit_query_tenant_ms"] = times
        add("audit", "  the same range by tenant instead of host: median of %d (ms)" % len(times),
            median(times), target="(info)")
    except Exception as e:
        note("tenant query failed: %s" % e)
    gw.stop()


# ------------------------------------------------------------------ PostgreSQL (section pg)
#
# The same gateway on a PostgreSQL store (database = postgresql://..., store_postgresql.c),
# against SQLite in the same run on the same data: a private cluster (tests/pgcluster.py's
# Cluster, started here with benchmark settings), the SQLite store made by lb_bench_load and
# copied table by table into the PostgreSQL schema the gateway created (sqlite3 -csv |
# psql COPY), so both stores hold the very same rows and hash chain.

PG_OPTS = ("-c listen_addresses=127.0.0.1 -c max_connections=300 "
           # durability is part of what is measured: every commit is flushed as on a server
           "-c fsync=on -c synchronous_commit=on -c full_page_writes=on "
           "-c shared_buffers=256MB -c effective_cache_size=4GB -c wal_buffers=16MB "
           "-c max_wal_size=8GB -c checkpoint_timeout=30min -c maintenance_work_mem=512MB "
           "-c log_min_messages=warning -c log_min_error_statement=panic")


def pg_cluster_class():
    import pgcluster

    class BenchCluster(pgcluster.Cluster):
        """pgcluster.Cluster (initdb as postgres, loopback, a free port never 5432, the role
        lockbox, stop() stops it and removes its dir) with the benchmark's settings instead of
        the tests' (fsync=off, 32 MB): its dir in /var/tmp, the disk the SQLite stores use."""

        def start(self):
            why = pgcluster.available()
            if why:
                raise pgcluster.Unavailable(why)
            import pwd
            import secrets
            self.bin = pgcluster.bindir()
            self._pw = pwd.getpwnam("postgres")
            self.dir = tempfile.mkdtemp(prefix="lbbench-pg-", dir="/var/tmp")
            pgcluster._all.append(self)
            os.chown(self.dir, self._pw.pw_uid, self._pw.pw_gid)
            self.data = os.path.join(self.dir, "data")
            self.password = secrets.token_hex(16)
            pwfile = os.path.join(self.dir, "pw")
            write(pwfile, self.password + "\n", 0o600)
            os.chown(pwfile, self._pw.pw_uid, self._pw.pw_gid)
            try:
                r = self._as_postgres([self._bin("initdb"), "-D", self.data, "-U", "postgres",
                                       "--auth-local=trust", "--auth-host=scram-sha-256",
                                       "--pwfile", pwfile, "-E", "UTF8", "--no-locale"],
                                      timeout=120)
                if r.returncode != 0:
                    raise RuntimeError("initdb failed: " + r.stderr[-800:])
                for attempt in range(3):
                    self.port = pgcluster._free_port()
                    if self.port == 5432:
                        continue
                    opts = "-k %s -p %d %s" % (self.dir, self.port, PG_OPTS)
                    r = self._as_postgres([self._bin("pg_ctl"), "-D", self.data, "-l",
                                           os.path.join(self.dir, "server.log"), "-o", opts,
                                           "-w", "-t", "60", "start"], timeout=70)
                    self._read_pid()
                    if r.returncode == 0:
                        break
                    self._kill_postmaster()
                else:
                    raise RuntimeError("pg_ctl start failed: " + self.log_tail())
                self.started = True
                self.psql("CREATE ROLE %s LOGIN PASSWORD %s" % (
                    pgcluster.OWNER, pgcluster.pg_literal(self.password)), user="postgres",
                    db="postgres")
            except BaseException:
                self.stop()
                raise
            return self

    return BenchCluster


def pg_psql_args(cl, db, user="postgres"):
    return [cl._bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", cl.dir,
            "-p", str(cl.port), "-U", user, "-d", db]


def pg_copy_store(cl, sqlite_db, pgdb, extra_sql=""):
    """Replaces the rows of every table of PGDB (whose schema the gateway made) by the rows
    of the same table in SQLITE_DB: truncate, then `sqlite3 -csv | psql COPY` per table as
    the superuser with session_replication_role = replica (no trigger fires: neither the
    foreign keys' nor the audit table's append-only ones), identity sequences moved past the
    rows, ANALYZE. Returns {table: rows}."""
    import sqlite3
    env = dict(cl._env(), PGOPTIONS="-c session_replication_role=replica "
               "-c maintenance_work_mem=512MB")
    pg_tables = [r[0] for r in cl.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE'", db=pgdb, user="postgres")]
    con = sqlite3.connect("file:%s?mode=ro" % sqlite_db, uri=True)
    lite = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = [t for t in pg_tables if t in lite and t != "schema_version"]
    counts = {}
    cols = {}
    for t in tables:
        lcols = [r[1] for r in con.execute('PRAGMA table_info("%s")' % t)]
        pcols = [r[0] for r in cl.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = ? ORDER BY ordinal_position", (t,), db=pgdb, user="postgres")]
        cols[t] = [c for c in pcols if c in lcols]
        counts[t] = con.execute('SELECT count(*) FROM "%s"' % t).fetchone()[0]
    con.close()
    run(pg_psql_args(cl, pgdb) + ["-c", "TRUNCATE %s" % ", ".join('"%s"' % t for t in tables)],
        timeout=120, env=env)
    rebuild = []
    for t in tables:
        if not counts[t]:
            continue
        if counts[t] >= 100000:
            # a big table loads faster without its secondary indexes, built again afterwards
            # (the primary key's and the unique constraints' indexes stay)
            idx = cl.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = "
                           "'public' AND tablename = ? AND indexname NOT IN (SELECT conname "
                           "FROM pg_constraint)", (t,), db=pgdb, user="postgres")
            if idx:
                run(pg_psql_args(cl, pgdb) + ["-c", "DROP INDEX %s" % ", ".join(
                    '"%s"' % i[0] for i in idx)], timeout=120, env=env)
                rebuild += [i[1] + ";" for i in idx]
        ql = ", ".join('"%s"' % c for c in cols[t])
        src = subprocess.Popen(["sqlite3", "-readonly", "-csv", "-newline", "\n", sqlite_db,
                                'SELECT %s FROM "%s"' % (ql, t)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        try:
            r = subprocess.run(pg_psql_args(cl, pgdb) + [
                "-c", 'COPY "%s" (%s) FROM STDIN (FORMAT csv)' % (t, ql)], stdin=src.stdout,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=1800, env=env,
                universal_newlines=True)
        finally:
            src.stdout.close()
            err = src.stderr.read().decode(errors="replace")
            src.wait(60)
        if r.returncode != 0 or src.returncode != 0:
            raise RuntimeError("copying %s into PostgreSQL: %s %s" % (t, r.stderr[-800:],
                                                                     err[-400:]))
    seqs = []
    for t in tables:
        if "rid" in cols[t]:
            seqs.append("SELECT setval(pg_get_serial_sequence('%s', 'rid'), "
                        "coalesce((SELECT max(rid) FROM %s), 0) + 1, false);" % (t, t))
    r = subprocess.run(pg_psql_args(cl, pgdb), input="\n".join(rebuild + seqs) + "\n" + extra_sql +
                       "\nANALYZE;\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=1800, env=env, universal_newlines=True)
    if r.returncode != 0:
        raise RuntimeError("after the copy: " + r.stderr[-800:])
    return counts


def pg_store(ctx, cl, name, st):
    """A database of the cluster with the gateway's schema (made by --bootstrap-admin, whose
    rows are then replaced) holding the rows of the SQLite store ST (make_store)."""
    pgdb = cl.create_database("lb_" + name.replace("-", "_"))
    uri = cl.uri(pgdb)
    g = GW(ctx, name + "-schema", None, tls=False, uri=uri)
    g.bootstrap()
    t0 = time.monotonic()
    counts = pg_copy_store(cl, st["db"], pgdb)
    copy_s = time.monotonic() - t0
    size = cl.query("SELECT pg_database_size(?)", (pgdb,), db="postgres", user="postgres")[0][0]
    log("store %s: copied into PostgreSQL in %.1fs (%d audit rows, %.0f MB)" % (
        name, copy_s, counts.get("audit", 0), size / 1e6))
    return {"db": pgdb, "uri": uri, "copy_s": copy_s, "size_mb": size / 1e6, "counts": counts}


def wrk_many(gws, path, seconds, conns, env, script, envs=None, timeout_s="5s"):
    """One wrk per gateway, all at once, CONNS connections spread over them (one thread each);
    req/s summed, p50/p99 the worst of them."""
    import threading
    n = len(gws)
    per = [conns // n + (1 if i < conns % n else 0) for i in range(n)]
    out = [None] * n

    def one(i):
        e = dict(env, **(envs[i] if envs else {}))
        try:
            out[i] = wrk(gws[i].url + path, seconds, per[i], 1, e, script, timeout_s)
        except Exception as ex:
            out[i] = {"rps": 0.0, "p50": None, "p99": None, "non2xx": 0, "requests": 0,
                      "sockerr": "wrk failed: %s" % ex}
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(seconds + 60)
    return {"rps": sum(o["rps"] for o in out),
            "p50": max((o["p50"] or 0) for o in out), "p99": max((o["p99"] or 0) for o in out),
            "non2xx": sum(o["non2xx"] for o in out), "requests": sum(o["requests"] for o in out),
            "sockerr": "; ".join(o["sockerr"] for o in out if o["sockerr"]),
            "each": [{k: v for k, v in o.items() if k != "raw"} for o in out],
            "conns": per}


def section_pg(ctx, a):
    """/v1/check and audit ingest on PostgreSQL with one and three gateways vs SQLite, the
    audit query on a big PostgreSQL store: all on the same rows, in the same run."""
    import pgcluster
    why = pgcluster.available()
    if why:
        note("section pg skipped: %s" % why)
        return
    if not have("/usr/bin/sqlite3"):
        note("section pg skipped: /usr/bin/sqlite3 is missing (it copies the SQLite stores)")
        return
    t_sec = time.monotonic()
    res = RESULTS.setdefault("pg", {})
    cl = pg_cluster_class()()
    gws = []
    try:
        t0 = time.monotonic()
        cl.start()
        ver = cl.query("SELECT current_setting('server_version')", db="postgres",
                       user="postgres")[0][0]
        res["cluster"] = {"start_s": time.monotonic() - t0, "version": ver, "opts": PG_OPTS}
        log("PostgreSQL %s cluster in %s, port %d, started in %.1fs" % (
            ver, cl.dir, cl.port, res["cluster"]["start_s"]))

        # -- the check store: a few thousand requests, the same rows in both stores
        nreq = 2000 if a.quick else 5000
        st = make_store(ctx, "store-pgchk", nreq, nreq, ctx.host_token)
        # the SQLite gateway first: it makes the keys the PostgreSQL gateways share
        lite = GW(ctx, "gw-pgchk-sqlite", st["db"], tls=True).start()
        gws.append(lite)
        keys = (os.path.join(lite.dir, "checkpoint-https.key"),
                os.path.join(lite.dir, "totp-https.key"))
        lite.stop()
        pst = pg_store(ctx, cl, "store-pgchk", st)
        res["check_store"] = {"sqlite": {k: st[k] for k in ("requests", "events", "size_mb",
                                                             "wall_s")}, "pg": pst}
        lite = GW(ctx, "gw-pgchk-sqlite", st["db"], tls=True, keys=keys).start()
        gws.append(lite)
        pgs = []
        for i in range(3):
            g = GW(ctx, "gw-pgchk-pg%d" % (i + 1), None, tls=True, uri=pst["uri"], keys=keys)
            g.start(checkpoint_timeout=60)
            gws.append(g)
            pgs.append(g)
            log("PostgreSQL gateway %d ready in %.2fs; first checkpoint: %s" % (
                i + 1, g.ready_s, g.checkpoint_line))
        for g in [lite] + pgs:
            s_, js, raw = ctx.api(g, "POST", "/v1/check", body=CHECK_BODY, token=ctx.host_token)
            if s_ != 200 or not js or js.get("decision") != "allow":
                raise RuntimeError("the benchmark check is not allowed on %s: %d %s\n%s" % (
                    g.dir, s_, raw, tail(g.log)))

        dur = 2 if a.quick else 5
        conns = 16
        env = {"LB_METHOD": "POST", "LB_BODY": json.dumps(CHECK_BODY), "LB_TOKEN": ctx.host_token}
        runs = {"sqlite": [], "pg1": [], "pg3": []}
        order = ["sqlite", "pg1", "pg3"]
        nrounds = 1 if a.quick else 2
        for r in range(nrounds):
            for label in (order if r % 2 == 0 else order[::-1]):
                if label == "sqlite":
                    w = wrk(lite.url + "/v1/check", dur, conns, 2, env, ctx.check_lua)
                elif label == "pg1":
                    w = wrk(pgs[0].url + "/v1/check", dur, conns, 2, env, ctx.check_lua)
                else:
                    w = wrk_many(pgs, "/v1/check", dur, conns, env, ctx.check_lua)
                runs[label].append(w)
                log("check %-6s round %d: %.0f req/s p50 %.2f p99 %.2f ms, %d non-2xx %s" % (
                    label, r + 1, w["rps"], w["p50"] or 0, w["p99"] or 0, w["non2xx"],
                    w["sockerr"]))
        # three gateways, each with the connections one gateway had (three times the clients)
        w48 = wrk_many(pgs, "/v1/check", dur, conns * 3, env, ctx.check_lua)
        res["check"] = {k: [{x: y for x, y in w.items() if x != "raw"} for w in v]
                        for k, v in runs.items()}
        res["check_3x16"] = {x: y for x, y in w48.items() if x != "raw"}
        agg = {}
        for k, v in runs.items():
            agg[k] = {"rps": median([w["rps"] for w in v]), "p50": median([w["p50"] or 0 for w in v]),
                      "p99": median([w["p99"] or 0 for w in v]),
                      "bad": sum(w["non2xx"] for w in v)}
            if agg[k]["bad"] or any(w["sockerr"] for w in v):
                note("pg check %s: %d non-2xx answers; %s" % (
                    k, agg[k]["bad"], "; ".join(w["sockerr"] for w in v if w["sockerr"])))
        sq, p1, p3 = agg["sqlite"], agg["pg1"], agg["pg3"]
        sz = "%s-request store" % fmt(st["requests"])
        add("pg", "HTTPS /v1/check req/s (c=%d, keep-alive), 1 gateway on PostgreSQL vs on "
            "SQLite, %s" % (conns, sz), p1["rps"], sq["rps"],
            p1["rps"] / sq["rps"] if sq["rps"] else None, "(info)")
        add("pg", "  the same, p99 (ms)", p1["p99"], sq["p99"],
            p1["p99"] / sq["p99"] if sq["p99"] else None, "(info)")
        add("pg", "  the same, p50 (ms)", p1["p50"], sq["p50"],
            p1["p50"] / sq["p50"] if sq["p50"] else None, "(info)")
        add("pg", "HTTPS /v1/check req/s, 3 gateways sharing the database (the %d connections "
            "spread, one wrk each at once) vs 1 PostgreSQL gateway" % conns, p3["rps"],
            p1["rps"], p3["rps"] / p1["rps"] if p1["rps"] else None, "(info)")
        add("pg", "  the same, p99 (ms, the worst of the 3) vs 1 gateway", p3["p99"], p1["p99"],
            p3["p99"] / p1["p99"] if p1["p99"] else None, "(info)")
        add("pg", "  3 gateways vs 1 SQLite gateway: req/s; p99 (ms)", "%s; %.1f" % (
            fmt(p3["rps"]), p3["p99"]), "%s; %.1f" % (fmt(sq["rps"]), sq["p99"]),
            p3["rps"] / sq["rps"] if sq["rps"] else None, "(info)")
        add("pg", "  3 gateways, %d connections each (3x the clients): req/s; p99 (ms)" % conns,
            "%s; %.1f" % (fmt(w48["rps"]), w48["p99"] or 0), "%s; %.1f" % (
                fmt(p1["rps"]), p1["p99"]), w48["rps"] / p1["rps"] if p1["rps"] else None,
            "(info)")

        # diag: the same on one PostgreSQL gateway whose sessions commit without waiting for
        # the WAL's flush (synchronous_commit = off for its database): what the durable
        # commit, taken under the audit chain's lock, costs each check
        try:
            cl.psql("ALTER DATABASE %s SET synchronous_commit = off" % pst["db"],
                    db="postgres", user="postgres", single=False)
            pgs[0].stop()
            pgs[0].start(checkpoint_timeout=30)
            wa = wrk(pgs[0].url + "/v1/check", dur, conns, 2, env, ctx.check_lua)
            res["check_async_commit"] = {x: y for x, y in wa.items() if x != "raw"}
            add("diag", "PostgreSQL, synchronous_commit = off (no WAL flush wait): check req/s; "
                "p99 (ms), 1 gateway, vs fsync'ed commits", "%s; %.1f" % (
                    fmt(wa["rps"]), wa["p99"] or 0), "%s; %.1f" % (fmt(p1["rps"]), p1["p99"]),
                wa["rps"] / p1["rps"] if p1["rps"] else None, "(info)")
        finally:
            cl.psql("ALTER DATABASE %s RESET synchronous_commit" % pst["db"], db="postgres",
                    user="postgres", single=False)
            pgs[0].stop()
            pgs[0].start(checkpoint_timeout=30)

        # -- audit ingest, the same batches, alternating SQLite and PostgreSQL
        ienv = {"LB_TOKEN": ctx.host_token, "LB_BATCH": "100"}
        ing = {"sqlite": [], "pg1": []}
        for r in range(nrounds):
            for label in (("sqlite", "pg1") if r % 2 == 0 else ("pg1", "sqlite")):
                g = lite if label == "sqlite" else pgs[0]
                w = wrk(g.url, dur, 4, 1, dict(ienv, LB_RUN=str(int(time.time()) * 10 + r)),
                        ctx.ingest_lua, timeout_s="10s")
                ing[label].append(w)
                log("ingest %-6s round %d: %.0f events/s, p99 %.1f ms, %d non-2xx" % (
                    label, r + 1, w["rps"] * 100, w["p99"] or 0, w["non2xx"]))
        envs = [{"LB_RUN": str(int(time.time()) * 10 + 5 + i)} for i in range(3)]
        w3 = wrk_many(pgs, "", dur, 4, ienv, ctx.ingest_lua, envs=envs, timeout_s="10s")
        res["ingest"] = {k: [{x: y for x, y in w.items() if x != "raw"} for w in v]
                         for k, v in ing.items()}
        res["ingest_3"] = {x: y for x, y in w3.items() if x not in ("raw", "each")}
        isq = median([w["rps"] * 100 for w in ing["sqlite"]])
        ipg = median([w["rps"] * 100 for w in ing["pg1"]])
        bad = sum(w["non2xx"] for v in ing.values() for w in v) + w3["non2xx"]
        if bad:
            note("pg ingest: %d non-2xx answers" % bad)
        add("pg", "audit ingest events/s (HTTPS, batches of 100, 4 connections), PostgreSQL vs "
            "SQLite", ipg, isq, ipg / isq if isq else None, ">= 20,000/s",
            ipg >= 20000 and not bad)
        add("pg", "  batch p99 (ms), PostgreSQL vs SQLite", median([w["p99"] or 0 for w in ing["pg1"]]),
            median([w["p99"] or 0 for w in ing["sqlite"]]), None, "(info)")
        add("pg", "  3 gateways (4 connections spread) vs 1: events/s", w3["rps"] * 100, ipg,
            w3["rps"] * 100 / ipg if ipg else None, "(info)")
        for g in [lite] + pgs:
            g.stop()
        gws = []

        # -- the audit query on a big store
        section_pg_query(ctx, a, cl, res, t_sec)
    finally:
        for g in gws:
            try:
                g.stop()
            except Exception:
                pass
        stop_pg(ctx, cl)
    res["section_s"] = time.monotonic() - t_sec
    log("section pg took %.0f s" % res["section_s"])


def stop_pg(ctx, cl):
    """The cluster down (pg_ctl stop -m fast, then harder) and its dir removed; the caller
    has stopped the gateways on it first."""
    try:
        cl.stop()
    except Exception as e:
        note("stopping the PostgreSQL cluster: %s" % e)


PG_LOAD_US = float(os.environ.get("LB_BENCH_PG_LOAD_US", "0") or 0)


def section_pg_query(ctx, a, cl, res, t_sec):
    """The audit query of section_audit_query on PostgreSQL and on SQLite, the same rows: the
    audit-query store of this run when section audit made one, else one made here (10M
    events, or as many as about 5 minutes of loading hold)."""
    st = RESULTS.get("stores", {}).get("audit")
    keys = None
    if st and os.path.exists(st["db"]) and not a.pg_events:
        # section audit's store: its gateway walked the chain and signed a checkpoint with
        # the key in its dir; both gateways here start from that checkpoint
        d = os.path.join(ctx.tmp, "gw-audit")
        keys = (os.path.join(d, "checkpoint-http.key"), os.path.join(d, "totp-http.key"))
        reused = True
    else:
        reused = False
        nev = a.pg_events or (100000 if a.quick else 10000000)
        if not a.pg_events and not a.quick:
            # the load (lb_bench_load ~19-43 us, SQLite's start-up walk ~18-26 us, the copy into
            # PostgreSQL ~36-46 us per event, measured at 1M and 2.6M on this 2-CPU machine;
            # LB_BENCH_PG_LOAD_US overrides): at most ~5 minutes of it, and no more than the
            # time budget leaves
            per_ev = (PG_LOAD_US or 75.0) * 1e-6
            left = min(300.0, BUDGET_S - elapsed() - 90)
            fit = max(100000, int(left / per_ev) // 100000 * 100000)
            if fit < nev:
                nev = fit
                note("the PostgreSQL audit-query store holds %s events, not 10M: loading 10M "
                     "(lb_bench_load, the gateway's start-up walk of the chain, the copy into "
                     "PostgreSQL: ~75 us per event) does not fit about 5 minutes on this machine" % fmt(nev))
        st = make_store(ctx, "store-pgaud", 1000, nev, ctx.host_token, hosts=1000)
        # the SQLite gateway walks the chain once (as in section audit) and signs a
        # checkpoint; the copy carries it (and the gateways share its key), so the PostgreSQL
        # gateway starts from it (its own start-up walk costs ~3x SQLite's per event: a
        # --pg-events run shows it)
        lite = GW(ctx, "gw-pgaud-sqlite", st["db"], tls=False)
        lite.start(checkpoint_timeout=600)
        lite.stop()
        keys = (os.path.join(lite.dir, "checkpoint-http.key"),
                os.path.join(lite.dir, "totp-http.key"))
        ok = bool(lite.checkpoint_line) and "BROKEN" not in lite.checkpoint_line
        add("pg", "%s-event store: lb_bench_load (s); SQLite's start-up chain walk (s)" % fmt(
            st["events"]), "%.0f; %s" % (st["wall_s"], "%.0f" % lite.checkpoint_s
                                          if lite.checkpoint_s else ">600"),
            target="chain ok", ok=ok)
    pst = pg_store(ctx, cl, "store-pgaud", st)
    res["query_store"] = {"reused": reused, "events": st["events"], "sqlite_load_s":
                          st.get("wall_s"), "sqlite_mb": st.get("size_mb"), "pg": pst}
    add("pg", "  copied into PostgreSQL (sqlite3 -csv to COPY, indexes built after) (s); its "
        "size (MB) vs SQLite's", "%.0f; %.0f" % (pst["copy_s"], pst["size_mb"]),
        "%.0f" % st["size_mb"], pst["size_mb"] / st["size_mb"] if st["size_mb"] else None)
    pg = GW(ctx, "gw-pgaud-pg", None, tls=False, uri=pst["uri"], keys=keys)
    pg.start(checkpoint_timeout=600)
    log("PostgreSQL audit gateway: ready in %.1fs, first checkpoint after %s s: %s" % (
        pg.ready_s, "%.1f" % pg.checkpoint_s if pg.checkpoint_s else "?", pg.checkpoint_line))
    res["query_startup"] = {"ready_s": pg.ready_s, "checkpoint_s": pg.checkpoint_s,
                            "checkpoint": pg.checkpoint_line}
    ok = bool(pg.checkpoint_line) and "BROKEN" not in pg.checkpoint_line
    add("pg", "  the PostgreSQL gateway's start from the copied checkpoint (s)",
        pg.checkpoint_s if ok else (pg.checkpoint_line or "no checkpoint in 600 s"),
        target="chain ok", ok=ok)
    lite = GW(ctx, "gw-pgaud-sqlite", st["db"], tls=False, keys=keys)
    try:
        lite.start(checkpoint_timeout=600)
        now = time.time()
        since = now - 15 * 86400
        until = since + 6 * 3600
        q = "/v1/audit/events?host=h0000042.bench.test&since=%s&until=%s&limit=50" % (
            rfc3339(since), rfc3339(until))
        items = {}
        for label, g in (("sqlite", lite), ("pg", pg)):
            s_, js, raw = ctx.api(g, "GET", q, token=st["admin"], timeout=120)
            items[label] = [e.get("id") for e in js.get("items", [])] if js else None
            if s_ != 200:
                raise RuntimeError("audit query on %s: %d %s" % (label, s_, raw[:300]))
        if items["sqlite"] != items["pg"]:
            note("the audit query's pages differ: SQLite %d items, PostgreSQL %d" % (
                len(items["sqlite"] or []), len(items["pg"] or [])))
        env = {"LB_METHOD": "GET", "LB_BODY": "", "LB_TOKEN": st["admin"]}
        ws = {"sqlite": [], "pg": []}
        for r in range(2):
            for label in (("sqlite", "pg") if r == 0 else ("pg", "sqlite")):
                g = lite if label == "sqlite" else pg
                ws[label].append(wrk(g.url + q, 2 if a.quick else 3, 1, 1, env, ctx.check_lua,
                                     timeout_s="30s"))
        agg = {k: {"p50": median([w["p50"] or 0 for w in v]), "p99": median([w["p99"] or 0 for w in v]),
                   "bad": sum(w["non2xx"] for w in v)} for k, v in ws.items()}
        res["query"] = {"query": q, "items": len(items["pg"] or []), "agg": agg,
                        "runs": {k: [{x: y for x, y in w.items() if x != "raw"} for w in v]
                                 for k, v in ws.items()}}
        if agg["pg"]["bad"] or agg["sqlite"]["bad"]:
            note("pg audit query: non-2xx answers: PostgreSQL %d, SQLite %d" % (
                agg["pg"]["bad"], agg["sqlite"]["bad"]))
        add("pg", "audit query by host + 6 h range, %s events%s, p50 (ms), PostgreSQL vs SQLite" % (
            fmt(st["events"]), " (section audit's store)" if reused else ""),
            agg["pg"]["p50"], agg["sqlite"]["p50"],
            agg["pg"]["p50"] / agg["sqlite"]["p50"] if agg["sqlite"]["p50"] else None,
            "<= 50 ms", agg["pg"]["p50"] <= 50 and not agg["pg"]["bad"])
        add("pg", "  the same, p99 (ms); %d items per page" % len(items["pg"] or []),
            agg["pg"]["p99"], agg["sqlite"]["p99"],
            agg["pg"]["p99"] / agg["sqlite"]["p99"] if agg["sqlite"]["p99"] else None, "(info)")
    finally:
        lite.stop()
        pg.stop()


def rfc3339(ts):
    d = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def https_gateway(ctx):
    """The HTTPS gateway the PAM and SSH sections' agent asks: the check section's (on the
    big store), or, when that section did not run (--only), one on a 1k-request store."""
    if getattr(ctx, "gw_https", None):
        return ctx.gw_https
    st = make_store(ctx, "store-pam", 1000, 1000, ctx.host_token)
    ctx.gw_https = GW(ctx, "gw-pam", st["db"], tls=True).start()
    note("pam/ssh ran against a gateway on a 1k-request store (the check section did not run)")
    return ctx.gw_https


def pam_stacks(ctx):
    """Private PAM confdirs, one per variant, each with a service file named sshd, and the
    host config the module and the agent share."""
    base = os.path.join(ctx.tmp, "pam")
    os.makedirs(base, exist_ok=True)
    gw = ctx.gw_https
    # host_id: the enrolled name the gateway's answers carry (lb_bench_load's host 0); the
    # module refuses an answer about another host
    conf = host_conf(os.path.join(base, "pam_lockbox.conf"), gw.url, ctx.pki["ca"],
                     ctx.host_token, "bench-host", os.path.join(base, "agent.sock"),
                     os.path.join(base, "audit.log"))
    hdr = os.path.join(base, "curl-headers")
    write(hdr, "Authorization: Bearer %s\nContent-Type: application/json\n" % ctx.host_token,
          0o600)
    script = os.path.join(base, "check.sh")
    write(script, """#!/bin/sh
# the home-made way: ask the gateway with curl, allow on "decision":"allow"
out=$(/usr/bin/curl -sS --max-time 5 --cacert {ca} -H @{hdr} \\
  --data "{{\\"user\\":\\"$PAM_USER\\",\\"service\\":\\"sshd\\",\\"rhost\\":\\"$PAM_RHOST\\",\\"tty\\":\\"ssh\\"}}" \\
  {url}/v1/check) || exit 1
case "$out" in *'"decision": "allow"'*|*'"decision":"allow"'*) exit 0;; esac
exit 1
""".format(ca=ctx.pki["ca"], hdr=hdr, url=gw.url), 0o755)
    stacks = {
        "permit": "account required pam_permit.so\n",
        # the module answers PAM_IGNORE for a user it does not gate; pam_permit then decides
        "nongated": "account required %s config=%s\naccount required pam_permit.so\n" % (
            ctx.pam_module, conf),
        "lockbox": "account required %s config=%s\n" % (ctx.pam_module, conf),
        "exec": "account required pam_exec.so quiet %s\n" % script,
        "radius": "auth required pam_radius_auth.so conf=%s\n" % os.path.join(base, "radius.conf"),
    }
    dirs = {}
    for k, v in stacks.items():
        d = os.path.join(base, k)
        os.makedirs(d, exist_ok=True)
        write(os.path.join(d, "sshd"), v)
        write(os.path.join(d, "lb-bench-none"), "")
        dirs[k] = d
    ctx.pam_conf = conf
    ctx.pam_audit_log = os.path.join(base, "audit.log")
    return base, dirs


def start_freeradius(ctx, base):
    src = "/etc/freeradius/3.0"
    d = os.path.join(base, "raddb")
    if os.path.exists(d):
        shutil.rmtree(d)
    shutil.copytree(src, d, symlinks=True)
    port = free_port()
    for f in os.listdir(os.path.join(d, "sites-enabled")):
        os.unlink(os.path.join(d, "sites-enabled", f))
    for f in os.listdir(os.path.join(d, "mods-enabled")):
        if f not in ("pap", "files", "always", "expr"):
            os.unlink(os.path.join(d, "mods-enabled", f))
    write(os.path.join(d, "sites-enabled", "bench"), """
server bench {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = %d
  }
  authorize {
    files
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
  }
  post-auth {
  }
}
""" % port)
    write(os.path.join(d, "clients.conf"),
          "client bench {\n  ipaddr = 127.0.0.1\n  secret = benchsecret\n}\n")
    write(os.path.join(d, "mods-config", "files", "authorize"),
          "root Cleartext-Password := \"benchpw\"\n")
    rc = read(os.path.join(d, "radiusd.conf"))
    rc = re.sub(r"(?m)^raddbdir = .*$", "raddbdir = " + d, rc)
    rc = re.sub(r"(?m)^logdir = .*$", "logdir = " + d, rc)
    rc = re.sub(r"(?m)^run_dir = .*$", "run_dir = " + d, rc)
    rc = re.sub(r"(?m)^\s*(user|group) = freerad\s*$", "", rc)
    rc = re.sub(r"(?m)^\s*\$INCLUDE proxy.conf\s*$", "", rc)
    rc = re.sub(r"(?m)^proxy_requests\s*=.*$", "proxy_requests = no", rc)
    write(os.path.join(d, "radiusd.conf"), rc)
    write(os.path.join(base, "radius.conf"), "127.0.0.1:%d benchsecret 3\n" % port, 0o600)
    p = spawn(["freeradius", "-f", "-d", d, "-l", "stdout"], os.path.join(base, "radiusd.log"))
    time.sleep(1.0)
    if p.poll() is not None:
        raise RuntimeError("freeradius exited: " + tail(os.path.join(base, "radiusd.log")))
    return p


def pam_run(ctx, confdir, n, phase="account", password="", timeout_s=60, keep=None,
            user="root", alternate=None, gap_us=0):
    cmd = [ctx.pam_driver, "-D", confdir, "-s", "sshd", "-u", user, "-p", phase,
           "-n", str(n), "-w", "3", "-T", str(timeout_s)]
    if keep:
        cmd += ["-K", keep]
    if alternate:   # (confdir, phase): calls paired with this second stack
        cmd += ["-B", "%s:%s" % alternate]
    if gap_us:
        cmd += ["-g", str(int(gap_us))]
    if password:
        cmd += ["-P", password]
    r = run(cmd, timeout=timeout_s + 30, check=False)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError("lb_bench_pam failed: %s %s" % (r.stdout, r.stderr))


# ------------------------------------------------------------------ lockbox-agent


def agent_call(sock, obj, timeout=10):
    """One question to lockbox-agent on its UNIX socket (agentproto.h): one JSON line each
    way. Returns the answer object; raises on no answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock)
        s.sendall((json.dumps(obj) + "\n").encode())
        data = b""
        end = time.monotonic() + timeout
        while not data.endswith(b"\n") and time.monotonic() < end and len(data) < 1 << 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data.decode())


def host_conf(path, url, ca, token, host_id, sock, audit_log, extra=""):
    """A host config (pam_lockbox.conf) and its token file next to it."""
    tok = path + ".token"
    write(tok, token + "\n", 0o600)
    write(path, "gateway_url = %s\nca_file = %s\nhost_token_file = %s\nhost_id = %s\n"
          "gated_group = root\ntimeout = 5s\naudit_log = %s\nagent_socket = %s\n%s" % (
              url, ca, tok, host_id, audit_log, sock, extra), 0o644)
    return path


def start_agent(ctx, conf, state_dir, logpath, sock, timeout=20):
    """lockbox-agent -c CONF --foreground --state-dir DIR, ready once its socket answers
    status and it has reached the gateway (its first change poll)."""
    if os.path.exists(sock):
        os.unlink(sock)
    p = spawn([ctx.agent_bin, "-c", conf, "--foreground", "--state-dir", state_dir], logpath)
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if p.poll() is not None:
            raise RuntimeError("lockbox-agent exited with %s: %s" % (p.returncode,
                                                                     tail(logpath)))
        if os.path.exists(sock):
            try:
                last = agent_call(sock, {"op": "status"}, timeout=2)
                if last.get("ok") and last.get("gateway_ok"):
                    return p
            except (OSError, ValueError) as e:
                last = repr(e)
        time.sleep(0.05)
    stop(p)
    raise RuntimeError("lockbox-agent not ready within %d s (%s): %s" % (timeout, last,
                                                                         tail(logpath)))


def proc_cpu_ms(pid):
    """utime + stime of PID (all its threads) in ms, from /proc/PID/stat."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_run_ns(pid):
    """CPU time of PID's live threads in ns (/proc/PID/task/*/schedstat): finer than the
    clock ticks of /proc/PID/stat, for idle daemons (a thread that exits is lost: only for
    windows in which none does)."""
    total = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    return total


def stop_pam_agent(ctx):
    if getattr(ctx, "pam_agent", None) is not None:
        stop(ctx.pam_agent)
        ctx.pam_agent = None


# the pause before each call of the paired pam_lockbox/pam_radius_auth run: longer than the
# agent's group commit after a decision, so no login waits on the previous one's fsync
PAM_PAIR_GAP_US = 3000


def section_pam(ctx, a):
    base, dirs = pam_stacks(ctx)
    n = a.pam_calls or (50 if a.quick else 300)
    res = {}
    radius = None
    if have("/usr/sbin/freeradius") and have("/lib/x86_64-linux-gnu/security/pam_radius_auth.so"):
        try:
            radius = start_freeradius(ctx, base)
        except Exception as e:
            note("freeradius did not start: %s" % e)
    # the module asks the resident agent; the agent keeps its HTTPS connection to the
    # gateway of the check section. It stays up for the SSH section (same host config).
    sock = os.path.join(base, "agent.sock")
    ctx.pam_agent = start_agent(ctx, ctx.pam_conf, os.path.join(base, "agent-state"),
                                os.path.join(base, "agent.log"), sock)
    ans = agent_call(sock, {"op": "check", "user": "root", "service": "sshd",
                            "rhost": "127.0.0.1", "tty": "ssh"})
    if ans.get("decision") != "allow":
        raise RuntimeError("the agent does not allow the benchmark login: %s\n%s" % (
            ans, tail(os.path.join(base, "agent.log"))))
    # "nongated": the same stack for a user outside gated_group (daemon, not in group root)
    order = ["permit", "lockbox", "lockbox-kept", "nongated", "radius", "exec"]
    # more rounds in a long run: a slow spell of the machine (another guest, a page-cache
    # scan) then falls on every variant instead of on one round of one of them
    nrounds = max(3, min(10, n // 300))
    raw = {}
    agent_cpu = {"ms": 0.0, "calls": 0}
    for rnd in range(nrounds):   # the variants alternate, so drift in the machine hits all
        for k in (order if rnd % 2 == 0 else order[::-1]):
            if k == "radius" and radius is None:
                continue
            nn = n if k != "exec" else max(20, n // 3)
            c0 = proc_cpu_ms(ctx.pam_agent.pid)
            r_ = pam_run(
                ctx, dirs[k.split("-")[0]],
                max(5, nn // nrounds), user="daemon" if k == "nongated" else "root",
                phase="auth" if k == "radius" else "account",
                password="benchpw" if k == "radius" else "",
                keep=ctx.pam_module if k.endswith("-kept") else None)
            if k.startswith("lockbox"):
                agent_cpu["ms"] += proc_cpu_ms(ctx.pam_agent.pid) - c0
                agent_cpu["calls"] += r_.get("calls", 0) + 3   # + the warm-up calls
            raw.setdefault(k, []).append(r_)
    for k in order:
        if k not in raw:
            continue
        rs = raw[k]
        samples = sorted(x for r_ in rs for x in r_.get("samples_ms", []))
        r = dict(rs[-1])
        r.pop("samples_ms", None)
        r["calls"] = sum(r_.get("calls", 0) for r_ in rs)
        # a call that did not return PAM_SUCCESS, warm-up calls included
        r["failures"] = sum(r_.get("failures", 0) + r_.get("warmup_failures", 0) for r_ in rs)
        r["median_ms"] = median(samples) if samples else float("nan")
        r["p99_ms"] = pct(samples, 99) if samples else float("nan")
        r["mean_ms"] = sum(samples) / len(samples) if samples else float("nan")
        r["rss_before_kb"] = min(r_.get("rss_before_kb", 0) for r_ in rs)
        r["rss_peak_kb"] = max(r_.get("rss_peak_kb", 0) for r_ in rs)
        res[k] = r
        log("pam %-12s per round (ms): %s" % (k, " ".join("%.3f" % r_.get("median_ms", float("nan"))
                                                           for r_ in rs)))
        log("pam %-12s calls %d failures %d median %.3f ms p99 %.3f ms rss +%d kB (%s)" % (
            k, r["calls"], r["failures"], r["median_ms"], r["p99_ms"],
            r["rss_peak_kb"] - r["rss_before_kb"], r.get("last_msg", "")))
        if r["failures"]:
            note("pam %s: %d of %d calls did not return PAM_SUCCESS (last: %s %s)" % (
                k, r["failures"], r["calls"], r.get("last_error"), r.get("last_msg")))
    # the same two stacks paired in one process (A B, B A, ...), a pause before each call: each
    # login finds its server idle and what the previous login left to do in the background
    # done, as logins minutes apart do, and a slow spell of the machine falls on both (the
    # rounds above run each stack back to back, its server kept busy)
    alt = None
    if radius is not None:
        alt = pam_run(ctx, dirs["lockbox"], n, password="benchpw",
                      alternate=(dirs["radius"], "auth"), gap_us=PAM_PAIR_GAP_US,
                      timeout_s=60 + n * 2 * PAM_PAIR_GAP_US / 1e6)
        alt.pop("samples_ms", None)
        log("pam paired: lockbox %.3f ms, radius %.3f ms (%d calls each; failures %d/%d)"
            % (alt.get("median_ms", float("nan")), alt.get("b", {}).get("median_ms",
               float("nan")), alt.get("calls", 0), alt.get("failures", 0),
               alt.get("b", {}).get("failures", 0)))
    stop(radius)
    # where a gated login's time goes: the agent's answer without PAM (module load, libpam),
    # and the gateway's check alone on a kept-alive HTTPS connection (what the agent sends)
    parts = {"agent": [], "gateway": []}
    for rnd in range(2):
        for _ in range(n // 2):
            t0 = time.monotonic()
            ans = agent_call(sock, {"op": "check", "user": "root", "service": "sshd",
                                    "rhost": "127.0.0.1", "tty": "ssh"})
            parts["agent"].append((time.monotonic() - t0) * 1000)
            if ans.get("decision") != "allow":
                note("pam diag: the agent's check said %s" % ans.get("reason"))
                break
        ms, nf = check_latencies(ctx.gw_https.port, ctx.pki["ca"], ctx.host_token, n // 2,
                                 CHECK_BODY)
        parts["gateway"] += ms
        if nf:
            note("pam diag: %d of %d checks at the gateway were not answered 200" % (nf,
                                                                                    len(ms)))
    RESULTS["pam_parts"] = parts
    RESULTS["pam"] = res
    RESULTS["pam_agent_cpu"] = agent_cpu
    if "permit" not in res or "lockbox" not in res:
        return
    p, lb = res["permit"], res["lockbox"]
    lb_ok = lb["failures"] == 0 and lb["calls"] > 0
    fails = "" if lb_ok else " [%d of %d calls not PAM_SUCCESS]" % (lb["failures"], lb["calls"])
    diff = lb["median_ms"] - p["median_ms"]
    add("pam", "pam_permit (floor) median / p99 (ms)", "%.3f / %.3f" % (p["median_ms"],
                                                                      p["p99_ms"]))
    label = ("pam_lockbox account via lockbox-agent, per fresh pam_start..pam_end (module "
             "load included)")
    if alt and alt.get("b"):
        # the comparison with the peer: both stacks in one process, calls paired and apart
        # (BENCHMARKS.md, "How each figure is made")
        b = alt["b"]
        alt_ok = alt.get("calls", 0) > 0 and not alt.get("failures") and \
            not b.get("failures") and not alt.get("warmup_failures")
        afails = "" if alt_ok else " [%d+%d of %d pairs not PAM_SUCCESS, %d in warm-up]" % (
            alt.get("failures", 0), b.get("failures", 0), alt.get("calls", 0),
            alt.get("warmup_failures", 0))
        ratio = alt["median_ms"] / b["median_ms"]
        add("pam", label + ", logins paired with pam_radius_auth's in one process, %d ms "
            "apart: median (ms)" % (PAM_PAIR_GAP_US // 1000) + afails + " vs pam_radius_auth",
            alt["median_ms"], b["median_ms"], ratio, "<= pam_radius_auth median",
            alt_ok and ratio <= 1.0)
        add("pam", "  the same pairs: p99 (ms)" + afails, alt["p99_ms"], b["p99_ms"], None,
            "<= 3 ms", alt_ok and alt["p99_ms"] <= 3.0)
    if "radius" in res:
        r = res["radius"]
        add("pam", "  the same, back to back (rounds of each stack, its server kept busy)" +
            fails + " vs pam_radius_auth", lb["median_ms"], r["median_ms"],
            lb["median_ms"] / r["median_ms"], "(info)")
    b2b = "  pam_lockbox back to back"
    add("pam", b2b + ": median vs pam_permit (ms)" + fails, lb["median_ms"], p["median_ms"],
        None, "<= pam_permit + 1 ms", lb_ok and diff <= 1.0)
    add("pam", b2b + ": median above pam_permit (ms)", diff)
    add("pam", b2b + ": p99 (ms)" + fails, lb["p99_ms"], p["p99_ms"],
        None, "<= 3 ms", lb_ok and lb["p99_ms"] <= 3.0)
    add("pam", "  pam_lockbox calls that did not return PAM_SUCCESS (warm-up included)",
        "%d of %d" % (lb["failures"], lb["calls"]), target="0", ok=lb_ok)
    if agent_cpu["calls"]:
        add("pam", "  lockbox-agent CPU per account call (ms; the gateway's kept-alive "
            "HTTPS request)", agent_cpu["ms"] / agent_cpu["calls"], target="(info)")
    if parts["agent"] and parts["gateway"]:
        add("diag", "the agent's check over its socket, no PAM (Python client): median / p99 "
            "(ms)", "%.3f / %.3f" % (median(parts["agent"]), pct(parts["agent"], 99)),
            target="(info)")
        add("diag", "  the gateway's /v1/check alone, one kept-alive HTTPS connection: "
            "median / p99 (ms)", "%.3f / %.3f" % (median(parts["gateway"]),
                                                  pct(parts["gateway"], 99)), target="(info)")
    if "lockbox-kept" in res:
        k = res["lockbox-kept"]
        add("pam", "  pam_lockbox kept loaded (no per-call dlopen): median / p99 (ms)",
            "%.3f / %.3f" % (k["median_ms"], k["p99_ms"]))
        add("pam", "  so loading+unloading the module and its libraries costs (ms)",
            lb["median_ms"] - k["median_ms"])
    if "nongated" in res:
        ng = res["nongated"]
        add("pam", "  a user outside gated_group (no question to the agent): median "
            "above pam_permit (ms)", ng["median_ms"] - p["median_ms"], target="(info)")
    if "radius" in res:
        r = res["radius"]
        add("pam", "pam_radius_auth auth vs local freeradius: median (ms)", r["median_ms"],
            target="(peer)")
        add("pam", "  pam_radius p99 / above pam_permit (ms)", "%.3f / %.3f" % (
            r["p99_ms"], r["median_ms"] - p["median_ms"]))
    if "exec" in res:
        e = res["exec"]
        sp = e["median_ms"] / lb["median_ms"]
        add("pam", "pam_exec + curl: median / p99 (ms)", "%.3f / %.3f" % (e["median_ms"],
                                                                        e["p99_ms"]))
        add("pam", "  pam_exec+curl above pam_permit (ms)", e["median_ms"] - p["median_ms"])
        add("pam", "pam_lockbox speed-up over pam_exec + curl (x)", sp, target=">= 5x",
            ok=lb_ok and sp >= 5.0)
    added = (lb["rss_peak_kb"] - lb["rss_before_kb"]) - (p["rss_peak_kb"] - p["rss_before_kb"])
    RESULTS["pam_rss_added_kb"] = added
    add("mem", "pam_lockbox added peak RSS in the calling process (kB)", added,
        target="(info)")


def section_ssh(ctx, a):
    if not have("/usr/sbin/sshd") or not have("/usr/bin/ssh"):
        note("sshd/ssh missing: SSH login section skipped")
        return
    d = os.path.join(ctx.tmp, "ssh")
    os.makedirs(d, exist_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, "hostkey")])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, "userkey")])
    shutil.copy(os.path.join(d, "userkey.pub"), os.path.join(d, "authorized_keys"))
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    base_stack = read("/etc/pam.d/sshd")
    # containers often refuse loginuid writes; the stack is the machine's otherwise
    base_stack = re.sub(r"(?m)^session\s+required\s+pam_loginuid.so.*$",
                        "session optional pam_loginuid.so", base_stack)
    stacks = {
        "without": base_stack,
        "with": base_stack + "\naccount required %s config=%s\nsession required %s config=%s\n" % (
            ctx.pam_module, ctx.pam_conf, ctx.pam_module, ctx.pam_conf),
    }
    procs, ports = {}, {}
    for k, stack in stacks.items():
        pam = os.path.join(d, "pam-sshd-" + k)
        write(pam, stack, 0o644)
        port = free_port()
        cfg = os.path.join(d, "sshd_config-" + k)
        write(cfg, """Port {port}
ListenAddress 127.0.0.1
HostKey {d}/hostkey
PidFile {d}/sshd-{k}.pid
AuthorizedKeysFile {d}/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel ERROR
MaxStartups 100:30:200
""".format(port=port, d=d, k=k))
        # root's ~/.bashrc on a developer machine (pyenv, ...) would dominate `bash -c true`:
        # an empty one in the namespace, so the login itself is measured
        empty = os.path.join(d, "empty-bashrc")
        write(empty, "")
        cmd = ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
               'mount --bind "$1" /etc/pam.d/sshd && '
               '{ [ ! -e /root/.bashrc ] || mount --bind "$3" /root/.bashrc; } && '
               'exec /usr/sbin/sshd -D -e -f "$2"',
               "sh", pam, cfg, empty]
        procs[k] = spawn(cmd, os.path.join(d, "sshd-%s.log" % k))
        ports[k] = port
    for k in procs:
        if not wait_port(ports[k]):
            raise RuntimeError("sshd %s did not start: %s" % (k, tail(os.path.join(
                d, "sshd-%s.log" % k))))
    ssh_log0 = count_lines(ctx.pam_audit_log)
    ssh = ["ssh", "-F", "/dev/null", "-i", os.path.join(d, "userkey"), "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]
    times = {"without": [], "with": []}
    fails = {"without": 0, "with": 0}
    n = 5 if a.quick else 30
    end = time.monotonic() + (30 if a.quick else 120)
    for i in range(n + 2):
        for k in ("without", "with") if i % 2 == 0 else ("with", "without"):
            t0 = time.monotonic()
            r = subprocess.run(ssh + ["-p", str(ports[k]), "root@127.0.0.1", "true"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30, universal_newlines=True)
            dt = (time.monotonic() - t0) * 1000
            if r.returncode != 0:
                fails[k] += 1
                if fails[k] == 1:
                    note("ssh login %s lockbox failed: %s %s" % (k, r.stderr.strip()[:300],
                                                                  tail(os.path.join(
                                                                      d, "sshd-%s.log" % k), 5)))
            elif i >= 2:   # two warm-up rounds
                times[k].append(dt)
        if time.monotonic() > end:
            break
    for p in procs.values():
        stop(p)
    RESULTS["ssh"] = {"times": times, "fails": fails}
    # each login through pam_lockbox leaves access.check.allow, session.start and session.end
    # in the host's local audit log: proof that the module really ran in sshd
    logged = count_lines(ctx.pam_audit_log) - ssh_log0
    nlog = len(times["with"]) + 2 - fails["with"]
    RESULTS["ssh"]["audit_lines"] = logged
    if logged < 3 * nlog:
        note("ssh: only %d local audit events for %d logins through pam_lockbox (want 3 each)" % (
            logged, nlog))
    if not times["with"] or not times["without"]:
        add("ssh", "SSH login (key auth, `true`)", "failed", target="<= 1.05x", ok=False)
        return
    mw, mo = median(times["with"]), median(times["without"])
    add("ssh", "SSH login median (ms), with vs without pam_lockbox (n=%d)" % len(times["with"]),
        mw, mo, mw / mo, "<= 1.05x", mw / mo <= 1.05)
    add("ssh", "  difference of medians (ms); p90 with / without", "%.1f; %.1f / %.1f" % (
        mw - mo, pct(times["with"], 90), pct(times["without"], 90)))


# ------------------------------------------------------------------ the RDP section


class _Quiet:
    """What tests/e2e/rdpenv.py asks of a test runner, for the bench."""

    def check(self, cond, what, details=None):
        if not cond:
            note("rdp: %s %s" % (what, str(details or "")[:300]))
        return bool(cond)

    def note(self, s):
        pass

    def skip(self, reason):
        raise RuntimeError(reason)


def section_rdp(ctx, a):
    """RDP login time through real xrdp + xrdp-sesman (Xorg sessions, xorgxrdp) with and
    without pam_lockbox in sesman's PAM stack, the same host alternating between the two:
    from starting xfreerdp (under Xvfb, TLS) to the session's window manager running as the
    user. The test host is tests/e2e/rdpenv.py's (private mount namespace, loopback ports)."""
    need = ("/usr/sbin/xrdp", "/usr/sbin/xrdp-sesman", "/usr/bin/xfreerdp", "/usr/bin/Xvfb",
            "/usr/bin/xauth", "/usr/lib/xorg/modules/drivers/xrdpdev_drv.so")
    missing = [p for p in need if not have(p)]
    if missing:
        note("RDP section skipped: %s missing (contrib/deps.sh installs xrdp xorgxrdp xauth "
             "freerdp2-x11 xvfb)" % ", ".join(missing))
        return
    os.environ["LB_PAM_MODULE"] = ctx.pam_module
    os.environ["LB_AGENT"] = ctx.agent_bin
    sys.path.insert(0, os.path.join(ctx.top_srcdir, "tests", "e2e"))
    import rdpenv
    lbtest = ctx.lbtest
    d = os.path.join(ctx.tmp, "rdp")
    os.makedirs(d, exist_ok=True)
    gw = lbtest.Gateway(tmpdir=os.path.join(d, "gw"), tls=True)
    h = None
    user = "lbbench_rdp"
    try:
        gw.start(timeout=30)
        w = lbtest.world(gw, gw.bootstrap())
        w.add_user(user, "provider", role="engineer")
        w.elevate(user, duration="4h")
        req = w.new_request(who=user, access="rdp", duration="4h")
        w.must("POST", "/v1/requests/%s/approve" % req["id"], {"reason": "bench"},
               who="ownA1")
        h = rdpenv.RdpHost(_Quiet(), gw, w, [user], prefix="lbbench-rdp-", wm_seconds=1)
        h.start_agent()
        h.start_xrdp()
        h.start_xvfb()
        base = ("auth     required %(d)s/pam_unix.so\n"
                "account  required %(d)s/pam_permit.so\n"
                "session  required %(d)s/pam_permit.so\n"
                "password required %(d)s/pam_deny.so\n")
        stacks = {"without": base,
                  "with": base + "account  required %(m)s config=%(c)s\n"
                                 "session  required %(m)s config=%(c)s\n"}
        times = {"without": [], "with": []}
        fails = {"without": 0, "with": 0}
        starts0 = len(h.log.events("session.start", user=user))
        n = 3 if a.quick else 12
        end = time.monotonic() + (60 if a.quick else 150)
        for i in range(n + 1):
            for k in ("without", "with") if i % 2 == 0 else ("with", "without"):
                h.write_pam(stacks[k])
                before = len(h.wm_starts(user))
                t0 = time.monotonic()
                c = h.login(user)
                up = lbtest.wait_until(lambda: len(h.wm_starts(user)) > before and
                                       time.monotonic(), timeout=30, step=0.01)
                if not up or h.result(c) != "allowed":
                    fails[k] += 1
                    if fails[k] == 1:
                        note("rdp login %s lockbox failed: %s" % (k, h.xrdp_tail(6)))
                elif i >= 1:   # one warm-up round
                    times[k].append((up - t0) * 1000)
                c.wait_exit(15)   # the session ends with its 1 s window manager
                c.close()
            if time.monotonic() > end:
                break
        RESULTS["rdp"] = {"times": times, "fails": fails}
        # the logins through pam_lockbox each left a session.start: the module really ran
        started = len(h.log.events("session.start", user=user)) - starts0
        RESULTS["rdp"]["session_starts"] = started
        if started < len(times["with"]):
            note("rdp: only %d session.start events for %d logins through pam_lockbox" % (
                started, len(times["with"])))
        if not times["with"] or not times["without"]:
            add("rdp", "RDP login (xfreerdp -> session running)", "failed", target="<= 1.05x",
                ok=False)
            return
        mw, mo = median(times["with"]), median(times["without"])
        add("rdp", "RDP login median (ms), xfreerdp start -> session running, with vs without "
            "pam_lockbox (n=%d)" % len(times["with"]), mw, mo, mw / mo, "<= 1.05x",
            mw / mo <= 1.05)
        add("rdp", "  difference of medians (ms); p90 with / without", "%.1f; %.1f / %.1f" % (
            mw - mo, pct(times["with"], 90), pct(times["without"], 90)))
    finally:
        if h is not None:
            h.close()
        gw.close()


# ------------------------------------------------------------------ the agent section


def session_child(sock, body, hold_s=120, timeout=10, tty=None):
    """A forked child that registers ITSELF with the agent as a live session (session_open:
    the agent takes the caller's pid from SO_PEERCRED) and then sleeps, at most HOLD_S, in a
    login session of its own (setsid, as a login's processes are); TTY (a pty's slave fd):
    its stdin, stdout and stderr, as an interactive login's. Returns (pid, the agent's
    answer or None); the caller reaps it."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: nothing of the parent's but the pipe
        try:
            if tty is not None:
                for fd in (0, 1, 2):
                    os.dup2(tty, fd)
            os.closerange(3, r)
            os.closerange(r + 1, w)
            os.closerange(w + 1, 1 << 16)
            os.close(r)
            os.setsid()
            try:
                t0 = time.monotonic()
                ans = agent_call(sock, body, timeout=timeout)
                ans["bench_ms"] = (time.monotonic() - t0) * 1000   # the call, in the child
                ans = json.dumps(ans)
            except Exception as e:
                ans = json.dumps({"ok": False, "error": "bench: %r" % e})
            os.write(w, ans.encode() + b"\n")
            os.close(w)
            end = time.monotonic() + hold_s
            while time.monotonic() < end:
                time.sleep(1)
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    end = time.monotonic() + timeout + 2
    try:
        while not data.endswith(b"\n") and time.monotonic() < end:
            rd, _, _ = select.select([r], [], [], max(0.0, end - time.monotonic()))
            if not rd:
                break
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
    try:
        return pid, json.loads(data.decode())
    except ValueError:
        return pid, None


def wait_gone(pid, timeout):
    """Waits until child PID has exited (reaping it); returns (monotonic time it was seen
    gone, wait status) or (None, None) after TIMEOUT s."""
    end = time.monotonic() + timeout
    fd = None
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        while True:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                return time.monotonic(), status
            left = end - time.monotonic()
            if left <= 0:
                return None, None
            if fd is not None:   # readable once the process has exited
                select.select([fd], [], [], min(left, 1.0))
            else:
                time.sleep(0.002)
    finally:
        if fd is not None:
            os.close(fd)


def kill_child(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        wait_gone(pid, 5)
    except ChildProcessError:
        pass


def changes_waiting(lbtest, gw):
    st, _, text = lbtest.api(gw, "GET", "/metrics", timeout=10)
    m = re.search(r"^lockbox_changes_waiting (\d+)$", text or "", re.M)
    return int(m.group(1)) if st == 200 and m else -1


def wait_parked(lbtest, gw, n, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if changes_waiting(lbtest, gw) >= n:
            return True
        time.sleep(0.05)
    return False


def tenant_version(lbtest, gw, token):
    st, js, raw = lbtest.api(gw, "GET", "/v1/hosts/self/changes", token=token)
    if st != 200 or not js or "version" not in js:
        raise RuntimeError("changes without since -> %d %s" % (st, raw[:200]))
    return js["version"]


def approved_request(w, duration="1h"):
    r = w.new_request(who="eng", sub="A1", hosts=["hA1"], duration=duration)
    w.must("POST", "/v1/requests/%s/approve" % r["id"], {}, who="ownA1")
    return r["id"]


def check_latencies(port, ca, token, n, body):
    """N sequential POST /v1/check on one kept-alive HTTPS connection: ms each, failures."""
    import http.client
    import ssl
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                    context=ssl.create_default_context(cafile=ca))
    data = json.dumps(body).encode()
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    out, fails = [], 0
    end = time.monotonic() + 120
    try:
        c.connect()
        for _ in range(n):
            if time.monotonic() > end:
                break
            t0 = time.monotonic()
            c.request("POST", "/v1/check", body=data, headers=hdrs)
            resp = c.getresponse()
            resp.read()
            out.append((time.monotonic() - t0) * 1000)
            if resp.status != 200:
                fails += 1
    finally:
        c.close()
    return out, fails


class RawPoll:
    """GET /v1/hosts/self/changes?since=V&wait=30 held open in a thread on a connection made
    beforehand: when its answer arrived (monotonic)."""

    def __init__(self, gw, token, since):
        import http.client
        import ssl
        import threading
        self.at = self.status = self.js = self.error = None
        self.c = http.client.HTTPSConnection("127.0.0.1", gw.port, timeout=40,
                                             context=ssl.create_default_context(cafile=gw.ca))
        self.c.connect()
        self.path = "/v1/hosts/self/changes?since=%d&wait=30" % since
        self.token = token
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            self.c.request("GET", self.path, headers={"Authorization": "Bearer " + self.token})
            resp = self.c.getresponse()
            body = resp.read()
            self.at = time.monotonic()
            self.status = resp.status
            self.js = json.loads(body.decode())
        except Exception as e:
            self.error = repr(e)
        finally:
            self.c.close()

    def join(self, timeout):
        self.t.join(timeout)


def section_agent(ctx, a):
    """lockbox-agent and the change signal: a) revoke -> the registered session's process
    gone, next to the long-poll's own wake-up; b) 10,000 simulated agents parked on one
    gateway; c) the agent's idle cost with 100 live sessions."""
    import resource
    lbtest = ctx.lbtest
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    d = os.path.join(ctx.tmp, "agent")
    os.makedirs(d, exist_ok=True)
    # the simulated agents all come from 127.0.0.1, unlike a fleet: no per-address limit
    # (a gateway without the key refuses it at --check-config, and then runs without it)
    per_ip = "max_connections_per_ip = 0"
    gw = lbtest.Gateway(tmpdir=os.path.join(d, "gw"), tls=True, conf_extra=per_ip)
    chk_conf = gw.run("-c", gw.conf, "--check-config")
    if chk_conf.returncode != 0 and "max_connections_per_ip" in chk_conf.stdout + chk_conf.stderr:
        per_ip = None
        gw.write_conf("")
    res = RESULTS.setdefault("agent", {})
    agent = None
    try:
        gw.start(timeout=30)
        w = lbtest.world(gw, gw.bootstrap())
        w.elevate("eng", duration="4h")
        hA1 = w.host["hA1"]["token"]
        m = re.search(r"open files limit (\d+): at most (\d+) client connections", gw.log_text())
        # -- a) revoke -> session gone
        sock = os.path.join(d, "agent-a.sock")
        conf = host_conf(os.path.join(d, "host-a.conf"), gw.url, gw.ca, hA1, "hA1", sock,
                         os.path.join(d, "audit-a.log"), "warn_before = 0s\nkill_grace = 2s\n")
        alog = os.path.join(d, "agent-a.log")
        agent = start_agent(ctx, conf, os.path.join(d, "state-a"), alog, sock)
        rounds = 6 if a.quick else 20
        # even rounds: no terminal (the agent sends SIGTERM at once); odd rounds: a pty, as
        # an interactive login has (the agent writes its notice there, SIGTERM 250 ms later)
        gone, wake, calls, fails, killed = {"none": [], "pty": []}, [], [], 0, 0
        end_all = time.monotonic() + (90 if a.quick else 240)
        for i in range(rounds):
            if time.monotonic() > end_all:
                note("agent revoke rounds stopped after %d of %d (time bound)" % (i, rounds))
                break
            kind = "pty" if i % 2 else "none"
            rid = approved_request(w)
            chk = agent_call(sock, {"op": "check", "user": "eng", "service": "sshd",
                                    "rhost": "127.0.0.1", "tty": "pts/9"})
            if chk.get("decision") != "allow":
                fails += 1
                note("agent round %d: the check is not allowed: %s" % (i, chk))
                continue
            master = slave = None
            if kind == "pty":
                master, slave = os.openpty()
            try:
                pid, ans = session_child(sock, {
                    "op": "session_open", "session": lbtest.new_uuid(), "user": "eng",
                    "service": "sshd", "rhost": "127.0.0.1", "tty": "pts/9",
                    "decision_id": chk.get("decision_id"), "request": rid,
                    "grant_expires_at": chk.get("grant_expires_at")}, tty=slave)
            finally:
                if slave is not None:
                    os.close(slave)
            try:
                if not ans or not ans.get("ok"):
                    fails += 1
                    note("agent round %d: session_open refused: %s" % (i, ans))
                    kill_child(pid)
                    continue
                v = tenant_version(lbtest, gw, hA1)
                raw = RawPoll(gw, hA1, v)
                # both polls parked at the current version: the agent's and the raw one
                if not wait_parked(lbtest, gw, 2, 10):
                    note("agent round %d: the polls were not both parked within 10 s" % i)
                t_call = time.monotonic()
                w.must("POST", "/v1/requests/%s/revoke" % rid, {"reason": "bench"},
                       who="ownA1")
                t_ret = time.monotonic()
                t_gone, status = wait_gone(pid, 10)
            finally:
                if master is not None:
                    os.close(master)
            calls.append((t_ret - t_call) * 1000)
            raw.join(10)
            g_ms = w_ms = None
            if t_gone is None:
                fails += 1
                note("agent round %d: the session's process still ran 10 s after the revoke"
                     "\n%s" % (i, tail(alog, 8)))
                kill_child(pid)
            else:
                g_ms = (t_gone - t_ret) * 1000
                gone[kind].append(g_ms)
                if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                    killed += 1
            if raw.at is not None and raw.js and raw.js.get("changed"):
                w_ms = (raw.at - t_ret) * 1000
                wake.append(w_ms)
            else:
                note("agent round %d: the raw poll: %s %s %s" % (i, raw.status, raw.js,
                                                                 raw.error))
            log("agent round %d (%s): revoke call %.1f ms; after its return: session gone %s "
                "ms, raw poll answered %s ms" % (i, kind, (t_ret - t_call) * 1000,
                                                 "-" if g_ms is None else "%.1f" % g_ms,
                                                 "-" if w_ms is None else "%.1f" % w_ms))
            # the agent drops the session once its process is gone
            e2 = time.monotonic() + 5
            while time.monotonic() < e2 and agent_call(sock, {"op": "status"}).get("sessions"):
                time.sleep(0.05)
        stop(agent)
        agent = None
        res["revoke"] = {"gone_ms": gone, "wake_ms": wake, "call_ms": calls,
                         "failures": fails, "sigkill": killed}
        g0, g1 = gone["none"], gone["pty"]
        if g0 and g1 and wake:
            add("agent", "revoke -> the session's process gone (change signal, re-check, "
                "SIGTERM), no terminal: p50 (ms) vs the long-poll's own wake-up", median(g0),
                median(wake), None, "(info)")
            add("agent", "  the same, p99 (ms), n=%d%s" % (
                len(g0), "; %d rounds failed" % fails if fails else ""), pct(g0, 99),
                pct(wake, 99), None, "p99 <= 2 s", fails == 0 and pct(g0, 99) <= 2000)
            add("agent", "  with a terminal (a pty: the notice, SIGTERM 250 ms later): p50 / "
                "p99 (ms), n=%d" % len(g1), "%.1f / %.1f" % (median(g1), pct(g1, 99)),
                target="p99 <= 2 s", ok=fails == 0 and pct(g1, 99) <= 2000)
            add("agent", "  (from the revoke call's return) the call itself: p50 (ms); "
                "sessions that needed SIGKILL", "%.1f; %d of %d" % (median(calls), killed,
                                                                    len(g0) + len(g1)),
                target="(info)")
        else:
            add("agent", "revoke -> the session's process gone", "failed", target="p99 <= 2 s",
                ok=False)

        # -- b) 10,000 simulated agents parked on the gateway
        npoll = 2000 if a.quick else 10000
        add("agent", "gateway's connection limit (its log: open files limit; at most)%s" % (
            "; %s" % per_ip if per_ip else ""),
            "%s; %s" % (fmt(int(m.group(1))), fmt(int(m.group(2)))) if m else "not logged",
            target=">= %s" % fmt(npoll + 1000),
            ok=bool(m) and int(m.group(2)) >= npoll + 1000)
        rid_b = approved_request(w)
        toks = [hA1]
        for k in range(99):
            toks.append(w.add_host("hpoll%02d" % k, "A1")["token"])
        tokf = os.path.join(d, "poll-tokens")
        write(tokf, "\n".join(toks) + "\n", 0o600)
        body = {"user": "eng", "service": "sshd", "rhost": "127.0.0.1", "tty": "ssh"}
        nchk = 100 if a.quick else 300
        time.sleep(1)
        rss_idle = gw_rss = proc_status(gw.proc.pid)
        idle1, f1 = check_latencies(gw.port, gw.ca, hA1, nchk, body)
        v = tenant_version(lbtest, gw, hA1)
        cpu_gw0 = proc_cpu_ms(gw.proc.pid)
        pp = subprocess.Popen([ctx.polls_bin, "-p", str(gw.port), "-C", gw.ca, "-t", tokf,
                               "-n", str(npoll), "-c", "4", "-s", str(v), "-w", "60",
                               "-T", "240"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=open(os.path.join(d, "polls.err"), "wb"),
                              universal_newlines=True, start_new_session=True)
        PROCS.append(pp)

        def pcmd(cmd, timeout=30):
            if cmd:
                pp.stdin.write(cmd + "\n")
                pp.stdin.flush()
            rd, _, _ = select.select([pp.stdout], [], [], timeout)
            line = pp.stdout.readline() if rd else ""
            if not line:
                raise RuntimeError("lb_bench_polls did not answer %r (exit status %s): %s" % (
                    cmd, pp.poll(), read(os.path.join(d, "polls.err"))[-500:]))
            return json.loads(line)

        ready = pcmd(None, timeout=300)
        cpu_gw_setup = proc_cpu_ms(gw.proc.pid) - cpu_gw0
        log("pollers: %s" % ready)
        parked = wait_parked(lbtest, gw, ready["connected"], 60)
        nparked = changes_waiting(lbtest, gw)
        time.sleep(1)
        c0 = proc_cpu_ms(gw.proc.pid)
        t0 = time.monotonic()
        time.sleep(2 if a.quick else 5)
        idle_cpu_pct = (proc_cpu_ms(gw.proc.pid) - c0) / ((time.monotonic() - t0) * 10)
        gw_rss = proc_status(gw.proc.pid)
        rollup = read("/proc/%d/smaps_rollup" % gw.proc.pid)
        during, f2 = check_latencies(gw.port, gw.ca, hA1, nchk, body)
        mk = pcmd("mark")
        gcpu0 = proc_cpu_ms(gw.proc.pid)
        t_call = time.monotonic()
        w.must("POST", "/v1/requests/%s/revoke" % rid_b, {"reason": "bench"}, who="ownA1")
        t_ret = time.monotonic()
        cnt = None
        e2 = time.monotonic() + 30
        while time.monotonic() < e2:
            cnt = pcmd("count")
            if cnt["changed"] >= ready["connected"]:
                break
            time.sleep(0.05)
        fan_cpu = {"gateway_ms": proc_cpu_ms(gw.proc.pid) - gcpu0,
                   "pollers_ms": (cnt["cpu_s"] - mk["cpu_s"]) * 1000 if cnt else 0}
        pcmd("quit")
        try:
            pp.wait(30)
        except subprocess.TimeoutExpired:
            pass
        stop(pp)
        time.sleep(1)
        idle2, f3 = check_latencies(gw.port, gw.ca, hA1, nchk, body)
        idle = idle1 + idle2
        res["polls"] = {"ready": ready, "parked_metric": nparked, "count": cnt,
                        "rss_idle": rss_idle, "rss_parked": gw_rss, "smaps": rollup,
                        "gw_cpu_setup_ms": cpu_gw_setup, "idle_cpu_pct": idle_cpu_pct,
                        "check_idle": idle, "check_during": during,
                        "check_failures": f1 + f2 + f3, "revoke_call_ms": (t_ret - t_call) * 1000,
                        "fanout_cpu": fan_cpu}
        conn = ready["connected"]
        ok_all = conn == npoll and parked
        if not ok_all:
            note("pollers: %d of %d connected, %d parked (%s)" % (conn, npoll, nparked,
                                                                  ready.get("errors")))
        add("agent", "%s simulated agents: TLS connections made (concurrency 4) in (s); "
            "CPU gateway / pollers (s)" % fmt(npoll), "%s in %.1f; %.1f / %.1f" % (
                fmt(conn), ready["setup_s"], cpu_gw_setup / 1000, ready["cpu_s"]),
            target="(info)")
        r_idle, r_park = rss_idle.get("VmRSS", 0) / 1024.0, gw_rss.get("VmRSS", 0) / 1024.0
        add("agent", "gateway RSS with %s change polls parked (HTTPS) vs idle (MB)" % fmt(conn),
            r_park, r_idle, r_park / r_idle if r_idle else None, "<= 256 MB",
            ok_all and r_park <= 256)
        add("agent", "  per parked poll (kB); gateway CPU while they wait (% of a core)",
            "%.1f; %.2f" % ((r_park - r_idle) * 1024 / max(1, conn), idle_cpu_pct),
            target="(info)")
        if idle and during:
            ratio = pct(during, 99) / pct(idle, 99)
            add("agent", "/v1/check p99 (ms), %d sequential on one kept-alive connection, "
                "with the polls parked vs idle" % nchk, pct(during, 99), pct(idle, 99), ratio,
                "<= 2x", ok_all and ratio <= 2.0 and f1 + f2 + f3 == 0)
            add("agent", "  the same, p50 (ms)", median(during), median(idle),
                median(during) / median(idle), "(info)")
            add("agent", "  the same, p90; max (ms)", "%.2f; %.1f" % (pct(during, 90),
                                                                    max(during)),
                "%.2f; %.1f" % (pct(idle, 90), max(idle)), target="(info)")
        if cnt and cnt.get("changed"):
            add("agent", "one revoke: all %s polls answered \"changed\" (ms after the revoke "
                "call returned; the first at)" % fmt(cnt["changed"]),
                "%.0f; %.0f" % ((cnt["last"] - t_ret) * 1000, (cnt["first"] - t_ret) * 1000),
                target="(info)")
            add("agent", "  CPU meanwhile: gateway / the pollers' client (ms)", "%.0f / %.0f" % (
                fan_cpu["gateway_ms"], fan_cpu["pollers_ms"]), target="(info)")
            if cnt["changed"] < conn or cnt.get("broken"):
                note("after the revoke %d of %d polls were answered changed, %d connections "
                     "broken (%s)" % (cnt["changed"], conn, cnt.get("broken", 0),
                                      cnt.get("errors")))

        # -- c) the agent's idle cost: 100 live sessions vs none
        sock = os.path.join(d, "agent-c.sock")
        conf = host_conf(os.path.join(d, "host-c.conf"), gw.url, gw.ca, hA1, "hA1", sock,
                         os.path.join(d, "audit-c.log"))
        clog = os.path.join(d, "agent-c.log")
        rid_c = approved_request(w)
        agent = start_agent(ctx, conf, os.path.join(d, "state-c"), clog, sock)
        chk = agent_call(sock, {"op": "check", "user": "eng", "service": "sshd"})
        win = 5 if a.quick else 20
        time.sleep(2)

        def idle_window():
            c0_, t0_ = proc_run_ns(agent.pid), time.monotonic()
            time.sleep(win)
            return ((proc_run_ns(agent.pid) - c0_) / 1e6, time.monotonic() - t0_,
                    proc_status(agent.pid))

        cpu0, wall0, st0 = idle_window()
        kids, refused, open_ms = [], 0, []
        for k in range(100):
            pid, ans = session_child(sock, {
                "op": "session_open", "session": lbtest.new_uuid(), "user": "eng",
                "service": "sshd", "tty": "pts/%d" % k, "decision_id": chk.get("decision_id"),
                "request": rid_c, "grant_expires_at": chk.get("grant_expires_at")},
                hold_s=win + 120)
            kids.append(pid)
            if not ans or not ans.get("ok"):
                refused += 1
            elif "bench_ms" in ans:
                open_ms.append(ans["bench_ms"])
        nlive = len(agent_call(sock, {"op": "status"}).get("sessions", []))
        time.sleep(2)
        cpu1, wall1, st1 = idle_window()
        for pid in kids:
            kill_child(pid)
        stop(agent)
        agent = None
        res["idle"] = {"none": {"cpu_ms": cpu0, "wall_s": wall0, "status": st0},
                       "100": {"cpu_ms": cpu1, "wall_s": wall1, "status": st1,
                               "live": nlive, "refused": refused, "open_ms": open_ms}}
        if refused or nlive != 100:
            note("agent idle: %d of 100 session_open refused, %d live" % (refused, nlive))
        if open_ms:
            add("agent", "session_open (what a login's session open waits for: the table "
                "rewritten and fsync'ed): median / p99 (ms)", "%.2f / %.2f" % (
                    median(open_ms), pct(open_ms, 99)), target="(info)")
        ra, rb = st1.get("VmRSS", 0) / 1024.0, st0.get("VmRSS", 0) / 1024.0
        add("agent", "lockbox-agent RSS, %d live sessions vs none (MB)" % nlive, ra, rb,
            ra / rb if rb else None, "(info)")
        add("agent", "lockbox-agent CPU over %d s idle, %d live sessions vs none (ms; "
            "%% of a core)" % (win, nlive), "%.1f; %.3f%%" % (cpu1, cpu1 / (wall1 * 10)),
            "%.1f; %.3f%%" % (cpu0, cpu0 / (wall0 * 10)), cpu1 / cpu0 if cpu0 else None,
            "(info)")
    finally:
        if agent is not None:
            stop(agent)
        gw.close()


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


# ------------------------------------------------------------------ report


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "mem": mem,
            "kernel": os.uname().release, "load": LOAD_START}


def table():
    hdr = ("area", "metric", "value", "baseline", "ratio", "target", "result")
    rows = [hdr] + [tuple(r) for r in ROWS]
    w = [max(len(str(r[i])) for r in rows) for i in range(len(hdr))]
    lines = []
    for i, r in enumerate(rows):
        lines.append("| " + " | ".join(str(c).ljust(w[j]) for j, c in enumerate(r)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w[j] + 2) for j in range(len(hdr))) + "|")
    return "\n".join(lines)


def write_report(ctx, a, cmdline):
    m = machine()
    m["load_end"] = open("/proc/loadavg").read().split()[:3]
    passed = sum(1 for r in ROWS if r[6] == "PASS")
    failed = sum(1 for r in ROWS if r[6] == "FAIL")
    tbl = table()
    print("\n" + tbl + "\n", flush=True)
    print("targets: %d PASS, %d FAIL (a FAIL is a finding, not a broken benchmark)" % (
        passed, failed), flush=True)
    for n in NOTES:
        print("note: " + n, flush=True)
    if a.out == "-":
        return
    findings = read(os.path.join(ctx.srcdir, "findings.md"))
    ver = ""
    try:
        ver = run([ctx.gatewayd, "--version"], timeout=10, check=False).stdout.strip()
    except Exception:
        pass
    rev = ""
    try:
        rev = run(["git", "-C", ctx.top_srcdir, "rev-parse", "--short", "HEAD"], timeout=10,
                  check=False).stdout.strip()
        if run(["git", "-C", ctx.top_srcdir, "status", "--porcelain", "--untracked-files=no"],
               timeout=10, check=False).stdout.strip():
            rev += " with uncommitted changes"
    except Exception:
        pass
    st = RESULTS.get("stores", {})
    text = """# lockbox benchmarks

Generated by `bench/run.py` (issue 6). Every figure is measured next to its baseline in the
same run on the same machine; a FAIL is a finding to work on, not a broken benchmark.

- date: {date}
- command: `{cmd}`
- machine: {nproc} CPUs, {cpu}, {mem} RAM, Linux {kernel}; load average {load} at the start,
  {load_end} at the end (other builds and tests shared the machine: the disk's fsync time
  and the CPU left for the benchmark drift with them)
- code: git {rev}, {ver}
- run time: {wall:.0f} s{quick}

## Results

{tbl}

{np} targets PASS, {nf} FAIL.

## How each figure is made

- **Stores** (`bench/lb_bench_load`, straight into the gateway's SQLite schema after
  `--bootstrap-admin`): the {big_r}-request store holds {big_r} requests (0.1% approved and
  live, 0.1% waiting, the rest in final states), as many elevations, {big_t} tickets,
  {big_h} hosts, {big_u} engineers with role assignments, {big_tn} tenants and {big_e} audit
  events chained onto the bootstrap's events exactly as `gw_audit_chain_hash` does (the
  canonical JSON is checked against jansson for the first 2000 events, and the gateway's
  own start-up chain walk and `/v1/audit/verify` confirm the chain). The benchmark engineer
  (`root`) has the same 20 requests and 20 elevations at every size, so the check does the
  same work and only the store's size changes. The 1k store has 1,000 of everything
  scaled the same way.
- **check vs nginx**: `wrk -t2 -c16 --latency` for {dur} s, keep-alive, `POST /v1/check`
  with a host token (`bench/check.lua`) against nginx (`worker_processes auto`, access log
  off) serving a static JSON file of the same size as the check's answer ({size} bytes),
  plain HTTP and HTTPS (same certificate, P-256). The gateway runs with its defaults
  (`threads` = 16: libmicrohttpd's epoll pool of 16 threads serving every connection, as
  many pooled SQLite read connections, one group-committing writer, WAL,
  synchronous=FULL); its database is on the ext4 disk, not
  tmpfs. Each check is an audit event, so each check is a durable write.
  The "new TLS connection per request" rows send `Connection: close` (wrk then reconnects for
  each request), and nginx has TLS session resumption turned off, because a PAM host, a fresh
  process per login, cannot resume a session: this is the gateway's capacity for logins.
- **1k vs 1M**: `wrk -t1 -c1` (one connection: per-request latency without queueing), both
  gateways up at once, 8 alternating 1-second rounds; the values are the medians of the
  rounds and the ratio is the median of each round's 1M/1k ratio (the disk's fsync time
  drifts with the other work on the machine, and every check commits one audit event).
- **PAM**: `bench/lb_bench_pam` runs pam_start_confdir .. pam_acct_mgmt .. pam_end per call
  as root (user `root`, gated_group `root`) through the real libpam with a private confdir;
  pam_lockbox asks `lockbox-agent` over its UNIX socket (`agent_socket`), and the agent
  (started by the bench with its own `--state-dir`, before the PAM rounds, and kept for the
  SSH section) asks the gateway of the check section (the big store) over its kept-alive
  HTTPS connection; the module appends the decision to its local audit log (`audit_log`).
  Every call that does not return PAM_SUCCESS (warm-up calls included) counts, and any
  makes the pam_lockbox rows FAIL. pam_exec runs `curl` with the same body against the
  gateway; pam_radius_auth has nothing to ask in its account phase, so its **auth** phase
  (one Access-Request/Accept to a local freeradius with a `files` user) is the peer figure.
  The comparison with the peer pairs the two stacks in one lb_bench_pam process (`-B`):
  A B, B A, A B, ..., with a 3 ms pause before each call (`-g`), so that a slow spell of the
  machine falls on both, neither always follows the other, what a login leaves to do in the
  background (the agent's fsync, a delivery) is done before the next begins, and each login
  finds its server idle, as logins minutes apart do; its median and p99 are the target rows.
  The other variants (and both stacks again, back to back, for comparison) alternate in
  rounds (10 in a 3,000-call run), each figure merging the rounds' samples; the log shows
  each round's median. "kept
  loaded" runs the same pam_lockbox calls with the module dlopen'ed once beforehand
  (RTLD_NODELETE), as in a long-running process: the difference is what loading and
  unloading the module costs each fresh login process. "outside gated_group" is the same
  fresh pam_lockbox stack for the user `daemon` (not in group `root`): the module answers
  without asking the agent. The agent's CPU per call is its utime+stime over the pam_lockbox
  runs divided by their calls. The two diag rows split a gated call: the agent's answer to
  the same question from a Python client on its socket (no libpam, no module load), and the
  gateway's `/v1/check` alone on one kept-alive HTTPS connection from Python.
- **SSH**: two `sshd -D` on loopback, each in a private mount namespace with a bind-mounted
  `/etc/pam.d/sshd`: the machine's stack (pam_loginuid made optional: containers refuse it)
  without and with `account`+`session required pam_lockbox.so` (the same host config and
  agent as the PAM rows: session open registers the session with the agent, session close
  ends it), and an empty `/root/.bashrc`
  bound over the machine's (its pyenv set-up alone took 1.5 s per `bash -c true`);
  `ssh -i key root@127.0.0.1 true`, alternating, two warm-up rounds; the host's local audit
  log must grow by 3 events (check, session start, session end) per login with lockbox.
- **RDP**: Debian's xrdp and xrdp-sesman (`--nodaemon`, Xorg sessions through xorgxrdp) in a
  private mount namespace, as `tests/e2e/test_rdp.py` runs them (`tests/e2e/rdpenv.py`: its
  own HTTPS gateway and agent, loopback ports, a 1 s shell script as the window manager);
  sesman's `/etc/pam.d/xrdp-sesman` is pam_unix + pam_permit without, and the same plus
  `account`+`session required pam_lockbox.so` with lockbox, switched between logins (sesman
  reads it at each login), alternating, one warm-up round. A login is timed from starting
  `xfreerdp /sec:tls /cert:ignore` (under Xvfb) until the session's window manager runs as
  the user; each login with lockbox must leave a `session.start`.
- **Agent** (its own HTTPS gateway, built with `tests/lbtest.py`'s `world()`: tenants,
  engineer `eng`, owner `ownA1`, host `hA1`). *Revoke*: an agent for `hA1` (`warn_before =
  0s`, `kill_grace = 2s`); `eng` elevates once; each round creates and approves a request,
  asks the agent's `check`, forks a child that registers itself with `session_open` (the
  agent takes its pid from SO_PEERCRED; the child runs in its own login session, setsid)
  and sleeps, then revokes the request as `ownA1` and times from the revoke call's return
  until the child has exited (pidfd + waitpid). Every other child has a pty as its stdin,
  stdout and stderr, as an interactive login has: the agent writes its notice there and
  sends SIGTERM 250 ms later (sshd must relay the notice first). The baseline is a raw
  `GET /v1/hosts/self/changes?since=V&wait=30` held open (from Python, `hA1`'s token) during
  the same revoke: from the same return to its answer (negative: it came before the revoke
  call's own answer). *Polls*: `bench/lb_bench_polls` (C, epoll, OpenSSL, the CA verified)
  opens the connections with at most 4 handshakes at once, round-robin over the tokens of
  100 hosts of tenant A, each connection holding `changes?since=V&wait=60` and polling again
  when answered, as the agent does (they all come from 127.0.0.1, so that gateway runs with
  `max_connections_per_ip = 0`); the gateway's RSS is VmRSS before and with them parked
  (`lockbox_changes_waiting` in `/metrics` counts them); the check latency is 300 sequential
  `/v1/check` on one kept-alive HTTPS connection from Python, idle (before and after the
  polls, merged) and with the polls parked; then one revoke in their tenant and the time
  until every connection had its `"changed": true` answer. *Idle cost*: a fresh agent,
  20 s with no session, then 100 forked children registered as sessions and 20 s more;
  CPU is the sum of its threads' run time (`/proc/PID/task/*/schedstat`), RSS is VmRSS.
- **Audit**: ingest with `bench/ingest.lua` (100 fresh events per POST, 4 connections, HTTPS)
  on the big store; the query is `GET /v1/audit/events?host=..&since=..&until=..&limit=50`
  (a 6-hour window) as provider admin on a store of {aud_e} events.
- **pg** (PostgreSQL {pgver}): a private cluster started by the bench (tests/pgcluster.py's
  Cluster: initdb as postgres, loopback, a free port) in /var/tmp on the same disk, with
  `fsync=on`, `synchronous_commit=on`, `full_page_writes=on` (durability is part of what is
  measured), `shared_buffers=256MB`, `max_wal_size=8GB`. Each store is made by
  `lb_bench_load` in SQLite and copied into the schema the gateway creates (`sqlite3 -csv` into
  `COPY`, triggers off for the copy, the big table's secondary indexes built after), so the
  SQLite and PostgreSQL gateways serve the very same rows and hash chain; they share the
  checkpoint key, and the copied signed checkpoint spares the PostgreSQL gateway the start-up
  walk. check and ingest as above (HTTPS, `-c16 -t2` and 4 connections), SQLite, one and three
  PostgreSQL gateways alternating over 2 rounds (medians); with three gateways the 16
  connections are spread over one `wrk -t1` per gateway, run at once: req/s summed, p99 the
  worst. The query as in Audit, on both stores, alternating.
- **Memory**: VmRSS/VmHWM of the gateway from /proc; the PAM figure is the calling process's
  VmHWM growth with pam_lockbox minus the same with pam_permit.
- **diag** rows are not targets: the 1k store copied to tmpfs, i.e. what a check costs
  without the disk's fsync; and the split of a gated PAM call (above).

## Notes from this run

{notes}

{findings}
""".format(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           cmd=cmdline, nproc=m["nproc"], cpu=m["cpu"], mem=m["mem"], kernel=m["kernel"],
           load=" ".join(m["load"]), load_end=" ".join(m["load_end"]), rev=rev, ver=ver, wall=elapsed(),
           quick=" (--quick: short smoke run, not the real figures)" if a.quick else "",
           tbl=tbl, np=passed, nf=failed,
           big_r=fmt(st.get("1M", {}).get("requests", 0)),
           big_t=fmt(st.get("1M", {}).get("tickets", 0)),
           big_h=fmt(st.get("1M", {}).get("hosts", 0)),
           big_u=fmt(st.get("1M", {}).get("engineers", 0)),
           big_tn=fmt(st.get("1M", {}).get("tenants", 0)),
           big_e=fmt(st.get("1M", {}).get("events", 0)),
           aud_e=fmt(st.get("audit", {}).get("events", 0)),
           dur=2 if a.quick else 5, size=len(getattr(ctx, "check_sample", "")),
           notes="\n".join("- " + n for n in NOTES) or "- none", findings=findings,
           pgver=RESULTS.get("pg", {}).get("cluster", {}).get("version", "").split(" ")[0])
    write(a.out, text)
    log("wrote " + a.out)


# ------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top-srcdir", required=True)
    ap.add_argument("--top-builddir", required=True)
    ap.add_argument("--bench-dir", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--big-events", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--pg-events", type=int, default=0)
    ap.add_argument("--pam-calls", type=int, default=0)
    a = ap.parse_args()
    ctx = Ctx()
    ctx.top_srcdir = os.path.abspath(a.top_srcdir)
    ctx.srcdir = os.path.join(ctx.top_srcdir, "bench")
    top_b = os.path.abspath(a.top_builddir)
    bdir = os.path.abspath(a.bench_dir)
    ctx.gatewayd = os.path.join(top_b, "gatewayd", "lockbox-gatewayd")
    ctx.pam_module = os.path.join(top_b, "pam_lockbox", ".libs", "pam_lockbox.so")
    ctx.loader = os.path.join(bdir, "lb_bench_load")
    ctx.pam_driver = os.path.join(bdir, "lb_bench_pam")
    ctx.polls_bin = os.path.join(bdir, "lb_bench_polls")
    ctx.agent_bin = os.path.join(top_b, "agent", "lockbox-agent")
    ctx.check_lua = os.path.join(ctx.srcdir, "check.lua")
    ctx.ingest_lua = os.path.join(ctx.srcdir, "ingest.lua")
    if a.out is None:
        a.out = os.path.join(ctx.top_srcdir, "BENCHMARKS.md")
    a.big_events_fixed = bool(a.big_events)
    if not a.big_events:
        a.big_events = 100000 if a.quick else 10000000
    if a.quick and a.out.endswith("BENCHMARKS.md"):
        a.out = os.path.join(bdir, "BENCHMARKS-quick.md")
    only = set(x for x in a.only.split(",") if x)
    rel = os.path.relpath(os.path.abspath(a.top_builddir), ctx.top_srcdir)
    cmdline = ("cd %s && " % rel if rel != "." else "") + "make bench" + (
        " BENCH_ARGS='%s'" % " ".join(sys.argv[7:]) if sys.argv[7:] else "")
    if os.geteuid() != 0:
        print("bench: needs root (PAM as root, sshd, apt-get, mount namespaces)", flush=True)
        return 77
    for p in (ctx.gatewayd, ctx.pam_module, ctx.loader, ctx.pam_driver, ctx.polls_bin,
              ctx.agent_bin):
        if not os.path.exists(p):
            print("bench: %s is missing (build first)" % p, flush=True)
            return 1
    sys.path.insert(0, os.path.join(ctx.top_srcdir, "tests"))
    os.environ["LB_GATEWAYD"] = ctx.gatewayd   # lbtest.Gateway (the agent section)
    import lbtest
    ctx.lbtest = lbtest
    ctx.api = lambda gw, *args, **kw: lbtest.api(gw.url, *args, ca=ctx.pki["ca"], **kw)
    ensure_tools()
    ctx.tmp = tempfile.mkdtemp(prefix="lbbench-", dir="/var/tmp")
    log("work dir %s (ext4 disk: fsync costs are real)" % ctx.tmp)
    ctx.pki = lbtest.make_ca(os.path.join(ctx.tmp, "pki"))
    ctx.host_token = new_token("lbh_")
    ctx.gw_https = None
    rc = 0
    try:
        sections = [("check", section_check_and_scale), ("audit", section_audit_ingest),
                    ("pam", section_pam), ("ssh", section_ssh), ("rdp", section_rdp),
                    ("agent", section_agent),
                    ("audit", section_audit_query), ("pg", section_pg)]
        for name, fn in sections:
            if only and name not in only:
                continue
            if name not in ("pam", "ssh"):
                stop_pam_agent(ctx)   # the PAM section's agent serves the SSH section too
            if elapsed() > BUDGET_S:
                note("time budget spent: section %s skipped" % fn.__name__)
                continue
            log("== " + fn.__name__)
            try:
                if name in ("pam", "ssh"):
                    https_gateway(ctx)
                if name == "ssh" and not getattr(ctx, "pam_agent", None):
                    raise RuntimeError("the SSH section needs the PAM section's agent")
                fn(ctx, a)
            except Exception as e:
                rc = 1
                note("section %s failed: %s" % (fn.__name__, str(e)[:1500]))
    finally:
        stop_all()
        if "pgcluster" in sys.modules:      # section pg's cluster, after its gateways
            try:
                sys.modules["pgcluster"].shutdown()
            except Exception as e:
                note("stopping the PostgreSQL cluster: %s" % e)
        try:
            with open(os.path.join(bdir, "bench-results.json"), "w") as f:
                json.dump({"rows": ROWS, "notes": NOTES, "results": RESULTS}, f, indent=1,
                          default=str)
        except Exception:
            pass
        write_report(ctx, a, cmdline)
        if not a.keep:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
        else:
            log("kept " + ctx.tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
