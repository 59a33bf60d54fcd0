#!/usr/bin/python3
"""lockbox benchmarks (issue 6): every figure next to a baseline measured in the same run.

Run through `make bench` (top level or bench/); it calls
    /usr/bin/python3 -B bench/run.py --top-srcdir S --top-builddir B --bench-dir D [options]

Options: --quick (short runs, small stores: a smoke test while developing),
         --big-events N (events in the audit-query store; default 10M scaled to fit the
         time budget), --out FILE (default TOP_SRCDIR/BENCHMARKS.md, '-' for none),
         --keep (keep the temp dir), --only a,b (sections: check, scale, pam, ssh, audit, mem).

Everything listens on 127.0.0.1 only; every loop is bounded in count and time; the
machine's /etc/pam.d is never touched (PAM stacks are read from a private confdir with
pam_start_confdir, sshd reads its stack through a bind mount in a private mount namespace).
"""

import argparse
import datetime
import json
import os
import re
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
    def __init__(self, ctx, name, db, tls, threads=None):
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
        lines = ["listen = " + self.url, "database = sqlite://" + db,
                 "checkpoint_interval = 365d"]
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


def rfc3339(ts):
    d = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def pam_stacks(ctx):
    """Private PAM confdirs, one per variant, each with a service file named sshd."""
    base = os.path.join(ctx.tmp, "pam")
    os.makedirs(base, exist_ok=True)
    gw = ctx.gw_https
    tok = os.path.join(base, "host.token")
    write(tok, ctx.host_token + "\n", 0o600)
    common = "gateway_url = %s\nhost_token_file = %s\ngated_group = root\ntimeout = 5s\n" \
        "audit_log = %s\n" % (gw.url, tok, os.path.join(base, "audit.log"))
    conf = os.path.join(base, "pam_lockbox.conf")
    write(conf, common + "ca_file = %s\n" % ctx.pki["ca"], 0o644)
    # a public-CA deployment: no ca_file, the system store (see sysstore_dir)
    conf_store = os.path.join(base, "pam_lockbox-store.conf")
    write(conf_store, common, 0o644)
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
        "store": "account required %s config=%s\n" % (ctx.pam_module, conf_store),
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


def sysstore_dir(ctx, base):
    """A copy of the machine's /etc/ssl/certs (all its CAs, hash links and bundle) plus the
    bench CA, for a module without ca_file run in a private mount namespace where this copy
    is /etc/ssl/certs: the store a gateway with a public-CA certificate is verified against.
    Returns (directory, number of CAs in its bundle), or (None, 0) without root or
    unshare(1); the machine's store is never changed."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not os.path.isdir("/etc/ssl/certs"):
        return None, 0
    d = os.path.join(base, "ssl-certs")
    if os.path.exists(d):
        shutil.rmtree(d)
    shutil.copytree("/etc/ssl/certs", d, symlinks=True)
    shutil.copy(ctx.pki["ca"], os.path.join(d, "lockbox-bench-ca.pem"))
    bundle = os.path.join(d, "ca-certificates.crt")
    with open(bundle, "a") as f:
        f.write(read(ctx.pki["ca"]))
    if run(["openssl", "rehash", d], check=False).returncode != 0:
        return None, 0
    return d, read(bundle).count("BEGIN CERTIFICATE")


def pam_run(ctx, confdir, n, phase="account", password="", timeout_s=60, keep=None,
            certs=None, user="root"):
    cmd = [ctx.pam_driver, "-D", confdir, "-s", "sshd", "-u", user, "-p", phase,
           "-n", str(n), "-w", "3", "-T", str(timeout_s)]
    if certs:
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
               'mount --bind "$0" /etc/ssl/certs && exec "$@"', certs] + cmd
    if keep:
        cmd += ["-K", keep]
    if password:
        cmd += ["-P", password]
    r = run(cmd, timeout=timeout_s + 30, check=False)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError("lb_bench_pam failed: %s %s" % (r.stdout, r.stderr))


def section_pam(ctx, a):
    base, dirs = pam_stacks(ctx)
    n = 50 if a.quick else 300
    res = {}
    radius = None
    if have("/usr/sbin/freeradius") and have("/lib/x86_64-linux-gnu/security/pam_radius_auth.so"):
        try:
            radius = start_freeradius(ctx, base)
        except Exception as e:
            note("freeradius did not start: %s" % e)
    certs, ctx.sysstore_cas = sysstore_dir(ctx, base)
    # "nongated": the same stack for a user outside gated_group (daemon, not in group root)
    order = ["permit", "lockbox", "lockbox-kept", "store-kept", "nongated", "radius", "exec"]
    nrounds = 3
    raw = {}
    for rnd in range(nrounds):   # the variants alternate, so drift in the machine hits all
        for k in (order if rnd % 2 == 0 else order[::-1]):
            if (k == "radius" and radius is None) or (k == "store-kept" and not certs):
                continue
            nn = n if k != "exec" else max(20, n // 3)
            raw.setdefault(k, []).append(pam_run(
                ctx, dirs[k.split("-")[0]],
                max(5, nn // nrounds), user="daemon" if k == "nongated" else "root",
                phase="auth" if k == "radius" else "account",
                password="benchpw" if k == "radius" else "",
                keep=ctx.pam_module if k.endswith("-kept") else None,
                certs=certs if k == "store-kept" else None))
    for k in order:
        if k not in raw:
            continue
        rs = raw[k]
        samples = sorted(x for r_ in rs for x in r_.get("samples_ms", []))
        r = dict(rs[-1])
        r.pop("samples_ms", None)
        r["calls"] = sum(r_["calls"] for r_ in rs)
        r["failures"] = sum(r_["failures"] for r_ in rs)
        if samples:
            r["median_ms"] = median(samples)
            r["p99_ms"] = pct(samples, 99)
            r["mean_ms"] = sum(samples) / len(samples)
        r["rss_before_kb"] = min(r_["rss_before_kb"] for r_ in rs)
        r["rss_peak_kb"] = max(r_["rss_peak_kb"] for r_ in rs)
        res[k] = r
        log("pam %-8s calls %d failures %d median %.3f ms p99 %.3f ms rss +%d kB (%s)" % (
            k, r["calls"], r["failures"], r["median_ms"], r["p99_ms"],
            r["rss_peak_kb"] - r["rss_before_kb"], r.get("last_msg", "")))
        if r["failures"]:
            note("pam %s: %d of %d calls did not return PAM_SUCCESS (last: %s %s)" % (
                k, r["failures"], r["calls"], r.get("last_error"), r.get("last_msg")))
    stop(radius)
    RESULTS["pam"] = res
    if "permit" not in res or "lockbox" not in res:
        return
    p, lb = res["permit"], res["lockbox"]
    diff = lb["median_ms"] - p["median_ms"]
    add("pam", "pam_permit (floor) median / p99 (ms)", "%.3f / %.3f" % (p["median_ms"],
                                                                      p["p99_ms"]))
    add("pam", "pam_lockbox account, HTTPS: median (ms)", lb["median_ms"], p["median_ms"],
        None, "<= +3 ms over pam_permit", diff <= 3.0 and lb["failures"] == 0)
    add("pam", "  pam_lockbox: median above pam_permit (ms)", diff)
    add("pam", "  pam_lockbox p99 (ms)", lb["p99_ms"], p["p99_ms"])
    if "lockbox-kept" in res:
        k = res["lockbox-kept"]
        add("pam", "  pam_lockbox kept loaded (no per-call dlopen): median / p99 (ms)",
            "%.3f / %.3f" % (k["median_ms"], k["p99_ms"]))
        add("pam", "  so loading+unloading the module and its libraries costs (ms)",
            lb["median_ms"] - k["median_ms"])
        if "store-kept" in res:
            st = res["store-kept"]
            add("pam", "  kept loaded, no ca_file (system store, %d CAs): median / p99 (ms)"
                % ctx.sysstore_cas, "%.3f / %.3f" % (st["median_ms"], st["p99_ms"]),
                k["median_ms"], st["median_ms"] / k["median_ms"], "(info)")
    if "nongated" in res:
        ng = res["nongated"]
        add("pam", "  a user outside gated_group (no request, libcurl not loaded): median "
            "above pam_permit (ms)", ng["median_ms"] - p["median_ms"], target="(info)")
    if "radius" in res:
        r = res["radius"]
        ratio = lb["median_ms"] / r["median_ms"]
        add("pam", "pam_radius_auth auth vs local freeradius: median (ms)", r["median_ms"],
            target="(peer)")
        add("pam", "  pam_radius p99 / above pam_permit (ms)", "%.3f / %.3f" % (
            r["p99_ms"], r["median_ms"] - p["median_ms"]))
        add("pam", "pam_lockbox median vs pam_radius_auth", lb["median_ms"], r["median_ms"],
            ratio, "<= 1.0 (no slower)", ratio <= 1.0)
    if "exec" in res:
        e = res["exec"]
        sp = e["median_ms"] / lb["median_ms"]
        add("pam", "pam_exec + curl: median / p99 (ms)", "%.3f / %.3f" % (e["median_ms"],
                                                                        e["p99_ms"]))
        add("pam", "  pam_exec+curl above pam_permit (ms)", e["median_ms"] - p["median_ms"])
        add("pam", "pam_lockbox speed-up over pam_exec + curl (x)", sp, target=">= 5x",
            ok=sp >= 5.0)
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
  (a thread per client connection, `threads` = 16 pooled read connections, one
  group-committing writer, WAL, synchronous=FULL); its database is on the ext4 disk, not
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
  pam_lockbox talks HTTPS to the gateway on the big store (its account phase asks
  `/v1/check` and appends the decision to its local audit log, `audit_log`); pam_exec
  runs `curl` with the same body; pam_radius_auth has nothing to ask in its account phase,
  so its **auth** phase (one Access-Request/Accept to a local freeradius with a `files`
  user) is the peer figure. The variants alternate in 3 rounds and each figure merges the
  rounds' samples. "kept loaded" runs the same pam_lockbox calls with the module
  dlopen'ed once beforehand (RTLD_NODELETE), as in a long-running process: the difference is
  what loading and unloading the module and its libraries costs each fresh login process.
  "no ca_file" is the kept-loaded module configured as for a gateway with a public-CA
  certificate (no `ca_file`): it runs in a private mount namespace whose `/etc/ssl/certs` is a
  copy of the machine's store (every CA, the hash links, the bundle) plus the bench CA.
  "outside gated_group" is the same fresh pam_lockbox stack for the user `daemon` (not in
  group `root`): the module answers without a request and never loads libcurl.
- **SSH**: two `sshd -D` on loopback, each in a private mount namespace with a bind-mounted
  `/etc/pam.d/sshd`: the machine's stack (pam_loginuid made optional: containers refuse it)
  without and with `account`+`session required pam_lockbox.so`, and an empty `/root/.bashrc`
  bound over the machine's (its pyenv set-up alone took 1.5 s per `bash -c true`);
  `ssh -i key root@127.0.0.1 true`, alternating, two warm-up rounds; the host's local audit
  log must grow by 3 events (check, session start, session end) per login with lockbox.
- **Audit**: ingest with `bench/ingest.lua` (100 fresh events per POST, 4 connections, HTTPS)
  on the big store; the query is `GET /v1/audit/events?host=..&since=..&until=..&limit=50`
  (a 6-hour window) as provider admin on a store of {aud_e} events.
- **Memory**: VmRSS/VmHWM of the gateway from /proc; the PAM figure is the calling process's
  VmHWM growth with pam_lockbox minus the same with pam_permit.
- **diag** rows are not targets: the 1k store copied to tmpfs, i.e. what a check costs
  without the disk's fsync.

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
           notes="\n".join("- " + n for n in NOTES) or "- none", findings=findings)
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
    for p in (ctx.gatewayd, ctx.pam_module, ctx.loader, ctx.pam_driver):
        if not os.path.exists(p):
            print("bench: %s is missing (build first)" % p, flush=True)
            return 1
    sys.path.insert(0, os.path.join(ctx.top_srcdir, "tests"))
    import lbtest
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
                    ("pam", section_pam), ("ssh", section_ssh),
                    ("audit", section_audit_query)]
        for name, fn in sections:
            if only and name not in only:
                continue
            if elapsed() > BUDGET_S:
                note("time budget spent: section %s skipped" % fn.__name__)
                continue
            if name in ("pam", "ssh") and not getattr(ctx, "gw_https", None):
                note("section %s needs the HTTPS gateway of the check section" % name)
                continue
            log("== " + fn.__name__)
            try:
                fn(ctx, a)
            except Exception as e:
                rc = 1
                note("section %s failed: %s" % (fn.__name__, str(e)[:1500]))
    finally:
        stop_all()
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
