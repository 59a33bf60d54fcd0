"""/etc/logrotate.d/lockbox (contrib/logrotate/lockbox) against a live lockbox-gatewayd on
loopback: the shipped stanza, with only its path, its `su` user and its postrotate command
swapped for this test's (a private state file, `logrotate -f`), rotates the gateway's
log_file twice while requests keep logging; SIGHUP makes the gateway reopen the file, every
line logged is in exactly one of the files (nothing lost, nothing twice), the newest old file
stays plain (delaycompress) and the one before is gzipped. Also: a bad log_file stops the
start with a clear error, and the gateway's stanza leaves the host audit log to its own
stanza (renamed, never copytruncated; tests/pam/test_auditlog.py runs that one)."""

import grp
import gzip
import os
import pwd
import re
import shutil
import subprocess
import threading
import time

import lbtest

T = lbtest.Runner("logrotate")
top = os.environ.get("LB_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
shipped_path = os.path.join(top, "contrib", "logrotate", "lockbox")
logrotate = shutil.which("logrotate") or (
    "/usr/sbin/logrotate" if os.path.exists("/usr/sbin/logrotate") else None)

MARK = "sign-in refused"   # gw_sessions.c logs this line for each refused console sign-in

with open(shipped_path) as f:
    whole = f.read()
# the gateway's stanza only: the host audit log's is tried on a private copy elsewhere, and
# this test must never rotate the machine's own /var/log/lockbox/audit.log
_start = whole.index("/var/log/lockbox/gateway/*.log {")
shipped = whole[_start:whole.index("\n}\n", _start) + 3]
body = "\n".join(l for l in shipped.splitlines() if not l.lstrip().startswith("#"))
host = whole[whole.index("/var/log/lockbox/audit.log {"):]

with T.section("the shipped stanza"):
    T.check("/var/log/lockbox/gateway/*.log {" in body, "it rotates the gateway's log_file dir")
    T.check("copytruncate" not in body, "no copytruncate (the gateway reopens on SIGHUP)")
    T.check(re.search(r"(?m)^\s*su lockbox lockbox$", body), "rotates as the user lockbox")
    T.check("audit.log" not in body and not re.search(r"/var/log/lockbox/\*", whole),
            "the gateway's stanza leaves the host audit log (the agent's records) alone")
    T.check("copytruncate" not in host and re.search(r"(?m)^\s*create 0600 root root$", host)
            and re.search(r"(?m)^\s*delaycompress$", host) and "firstaction" in host,
            "the host audit log's own stanza: renamed (create 0600), delaycompress, guarded")
    T.check(re.search(r"(?m)^\s*delaycompress$", body) and
            re.search(r"(?m)^\s*nocreate$", body), "delaycompress, nocreate")
    T.check("--signal=HUP lockbox-gatewayd.service" in body, "postrotate: SIGHUP to the unit")

if not logrotate:
    if os.environ.get("CI"):
        T.check(False, "logrotate is installed (contrib/deps.sh installs it)")
        T.done()
    T.skip("logrotate is not installed (apt-get install logrotate; contrib/deps.sh does)")

tmp = lbtest.tmpdir("lblogrotate-")
logs = os.path.join(tmp, "logs")
os.makedirs(logs, mode=0o750)
logfile = os.path.join(logs, "gateway.log")
state = os.path.join(tmp, "logrotate.state")
conf = os.path.join(tmp, "logrotate.conf")
user = pwd.getpwuid(os.geteuid()).pw_name
group = grp.getgrgid(os.getegid()).gr_name
gw = lbtest.Gateway(conf_extra="log_file = %s" % logfile, mail=False)


def swap(text, old, new):
    """The test's stanza is the shipped one with exactly these lines changed."""
    n = text.count(old)
    T.eq(n, 1, "the shipped stanza has %r once" % old.strip())
    return text.replace(old, new)


def rotate(what):
    p = subprocess.run([logrotate, "-f", "-s", state, conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    T.eq(p.returncode, 0, "%s: logrotate -f exits 0" % what,
         p.stdout.decode("utf-8", "replace")[-2000:])


def read(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rt", errors="replace") as f:
            return f.read()
    with open(path, errors="replace") as f:
        return f.read()


class Load:
    """Refused console sign-ins from two threads: each answered one is one log line."""

    def __init__(self):
        self.sent = 0
        self.errors = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(2)]

    def run(self):
        deadline = time.monotonic() + 30   # bounded even if nobody stops it
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                st, js, _ = lbtest.api(gw, "POST", "/v1/sessions", {"token": "lbu_" + "0" * 40},
                                       timeout=5)
            except OSError as e:
                self.errors.append(repr(e))
                continue
            if st == 401:
                with self.lock:
                    self.sent += 1
            else:
                self.errors.append("status %d" % st)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(10)
        return False


try:
    text = swap(shipped, "/var/log/lockbox/gateway/*.log {", "%s/*.log {" % logs)
    text = swap(text, "\tsu lockbox lockbox\n", "\tsu %s %s\n" % (user, group))
    post = re.search(r"(?s)(\n\tpostrotate\n)(.*?)(\n\tendscript\n)", text)
    T.check(post is not None, "the shipped stanza has a postrotate script")

    with T.section("a live gateway logs into log_file"):
        gw.start()
        text = text[:post.start(2)] + "\t\tkill -HUP %d" % gw.proc.pid + text[post.end(2):]
        with open(conf, "w") as f:
            f.write(text)
        p = subprocess.run([logrotate, "-d", "-s", state, conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        T.eq(p.returncode, 0, "logrotate -d accepts the stanza",
             p.stdout.decode("utf-8", "replace")[-2000:])
        T.check(lbtest.wait_until(lambda: "listening on" in read(logfile), 5),
                "'listening on' is in log_file", read(logfile)[-500:])
        T.check("listening on" not in gw.log_text(), "and not on stderr", gw.log_tail())
        st = os.stat(logfile)
        T.eq(st.st_mode & 0o077, 0, "log_file is the gateway user's only (umask 077)",
             oct(st.st_mode))

    with T.section("two rotations under load: nothing lost, nothing twice"):
        t0 = time.monotonic()
        with Load() as load:
            lbtest.wait_until(lambda: load.sent >= 50, 10, 0.02)
            rotate("first rotation")
            # the gateway writes into the new file once it has the signal
            T.check(lbtest.wait_until(lambda: os.path.exists(logfile) and
                                      "log_file reopened" in read(logfile), 10),
                    "after SIGHUP the gateway writes a new %s" % os.path.basename(logfile))
            n0 = load.sent
            lbtest.wait_until(lambda: load.sent >= n0 + 50, 10, 0.02)
            rotate("second rotation")
            T.check(lbtest.wait_until(lambda: os.path.exists(logfile) and
                                      "log_file reopened" in read(logfile), 10),
                    "after the second SIGHUP too")
            n1 = load.sent
            lbtest.wait_until(lambda: load.sent >= n1 + 50, 10, 0.02)
        T.note("%d refused sign-ins in %.1fs" % (load.sent, time.monotonic() - t0))
        T.eq(load.errors[:3], [], "every sign-in was answered 401")
        files = sorted(os.listdir(logs))
        T.eq(files, ["gateway.log", "gateway.log.1", "gateway.log.2.gz"],
             "current, newest old (plain: delaycompress), older (gzip)")
        counts = {f: read(os.path.join(logs, f)).count(MARK) for f in files}
        T.note("lines per file: %r" % counts)
        T.check(load.sent >= 150, "the load ran on (%d requests)" % load.sent)
        T.eq(sum(counts.values()), load.sent, "every answered request's line is in exactly "
             "one file", counts)
        T.check(all(c > 0 for c in counts.values()), "each file got lines", counts)
        for f in files:
            lines = read(os.path.join(logs, f)).splitlines()
            T.check(lines and all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z "
                                           r"lockbox-gatewayd\[(info|warning|error)\]: ", l)
                                  for l in lines),
                    "%s: whole lines, each with its UTC time" % f, lines[:3])
        T.check(gw.alive(), "the gateway still runs")
        st, _, _ = lbtest.api(gw, "GET", "/healthz")
        T.eq(st, 200, "and answers")

    with T.section("a log_file the gateway cannot open stops the start"):
        gw.stop()
        bad = lbtest.Gateway(conf_extra="log_file = %s/no-such-dir/gateway.log" % tmp,
                             mail=False)
        r = bad.run("-c", bad.conf, "--foreground", timeout=15)
        T.check(r.returncode == 1 and "log_file" in r.stderr and "No such file" in r.stderr,
                "exit 1 naming log_file and why", (r.returncode, r.stderr))
        bad.close()
        rel = lbtest.Gateway(conf_extra="log_file = gateway.log", mail=False)
        r = rel.run("-c", rel.conf, "--check-config", timeout=30)
        T.check(r.returncode == 1 and "log_file" in r.stderr and "absolute" in r.stderr,
                "--check-config: a relative log_file is an error", (r.returncode, r.stderr))
        rel.close()
finally:
    gw.close()
    shutil.rmtree(tmp, ignore_errors=True)
T.done()
