"""End to end: a real sshd with pam_lockbox, a real gateway, real SSH clients.

sshd runs in a private mount namespace (tests/e2e/nsrun.sh): its /etc/pam.d, /etc/passwd,
/etc/group and /etc/shadow are test copies bind-mounted over the real ones (the test users
exist only there), /dev is a private tmpfs whose /dev/log is this test's syslog socket, /run
is a private tmpfs. Nothing on the host changes. Clients: OpenSSH's ssh (BatchMode, key) and
tests/e2e/lbssh_client (libssh) which prints the PAM messages sshd relays (the banner sent
before a refused publickey login is cut off).

Scenario: denied with the reason shown -> elevation, request, approval -> login allowed ->
session.start/end in syslog and in the gateway's audit store with the decision id -> revoke ->
denied; elevation activated after approval -> denied; gateway killed mid-session -> login
denied within the deadline, the session's events kept on the host and delivered once when the
gateway is back.

Skips (77) without root, unshare, sshd/ssh, or in sanitizer builds (sshd cannot load an ASan
module).
"""

import os
import shutil
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

T = lbtest.Runner("e2e_sshd")
if os.environ.get("LB_SANITIZER") == "1":
    T.skip("sanitizer build: sshd cannot load an ASan-instrumented PAM module")
if os.geteuid() != 0:
    T.skip("needs root (private mount namespace, sshd)")
for exe in ("unshare", "ssh", "ssh-keygen"):
    if not shutil.which(exe):
        T.skip("%s not installed" % exe)
SSHD = "/usr/sbin/sshd"
if not os.path.exists(SSHD):
    T.skip("sshd not installed")
MODULE = os.path.abspath(os.environ.get("LB_PAM_MODULE", ""))
if not os.path.exists(MODULE):
    T.skip("pam_lockbox.so not built")
if not os.path.exists(lbtest.gatewayd_path()):
    T.skip("lockbox-gatewayd not built")
CLIENT = os.path.join(os.environ.get("LB_TOP_BUILDDIR", os.path.join(HERE, "..", "..")),
                      "tests", "e2e", "lbssh_client")
if not os.path.exists(CLIENT):
    T.skip("tests/e2e/lbssh_client not built")
NSRUN = os.path.join(HERE, "nsrun.sh")
pam_dir = None
for d in ("/lib/x86_64-linux-gnu/security", "/usr/lib/x86_64-linux-gnu/security",
          "/lib64/security", "/usr/lib64/security", "/lib/security", "/usr/lib/security"):
    if os.path.exists(os.path.join(d, "pam_permit.so")):
        pam_dir = d
        break
if not pam_dir:
    T.skip("pam_permit.so not found")

TIMEOUT = 3
tmp = tempfile.mkdtemp(prefix="lbe2e-")
os.chmod(tmp, 0o755)
procs = []


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    if not os.environ.get("LB_KEEP_TMP"):
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ syslog listener
logsock = os.path.join(tmp, "log.sock")
sl = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sl.bind(logsock)
os.chmod(logsock, 0o666)
sl.settimeout(0.2)
syslog = []
stop = threading.Event()


def listen():
    while not stop.is_set():
        try:
            syslog.append(sl.recv(65536))
        except socket.timeout:
            continue
        except OSError:
            return


threading.Thread(target=listen, daemon=True).start()


def events(typ=None, **match):
    out = []
    for m in list(syslog):
        if b" pam_lockbox[" not in m:
            continue
        kv = pamenv.parse_kv(m.decode("ascii", "replace").split(": ", 1)[1])
        if typ and kv.get("event") != typ:
            continue
        if all(kv.get(k) == v for k, v in match.items()):
            out.append(kv)
    return out


# ------------------------------------------------------------------ gateway + fixture
gw = lbtest.Gateway(tls=True)
try:
    gw.start()
    admin = gw.bootstrap()
    w = lbtest.world(gw, admin)
except Exception as e:  # noqa: BLE001
    cleanup()
    raise

users = {"a": "lbe2e_a", "b": "lbe2e_b"}
for u in users.values():
    w.add_user(u, "provider", role="engineer")

# ------------------------------------------------------------------ files for the namespace
def read(p):
    with open(p) as f:
        return f.read()


passwd = read("/etc/passwd").rstrip("\n") + "\n"
group = read("/etc/group").rstrip("\n") + "\n"
shadow = read("/etc/shadow").rstrip("\n") + "\n" if os.path.exists("/etc/shadow") else ""
group = "\n".join(ln for ln in group.splitlines()
                  if not ln.startswith("lockbox-engineers:")) + "\n"
group += "lockbox-engineers:x:47000:%s\n" % ",".join(users.values())
homes = os.path.join(tmp, "home")
os.makedirs(homes)
for i, u in enumerate(users.values()):
    uid = 47001 + i
    h = os.path.join(homes, u)
    os.makedirs(h)
    os.chown(h, uid, uid)
    passwd += "%s:x:%d:%d:lockbox e2e:%s:/bin/sh\n" % (u, uid, uid, h)
    group += "%s:x:%d:\n" % (u, uid)
    shadow += "%s:*:19000:0:99999:7:::\n" % u
for name, text, mode in (("passwd", passwd, 0o644), ("group", group, 0o644),
                         ("shadow", shadow, 0o640)):
    with open(os.path.join(tmp, name), "w") as f:
        f.write(text)
    os.chmod(os.path.join(tmp, name), mode)

subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                os.path.join(tmp, "hostkey")], check=True)
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                os.path.join(tmp, "userkey")], check=True)
keys = os.path.join(tmp, "keys")
os.makedirs(keys)
for u in users.values():
    shutil.copy(os.path.join(tmp, "userkey.pub"), os.path.join(keys, u))

token_file = os.path.join(tmp, "host.token")
with open(token_file, "w") as f:
    f.write(w.host["hA1"]["token"] + "\n")
os.chmod(token_file, 0o600)
audit_log = os.path.join(tmp, "audit", "audit.log")
conf = os.path.join(tmp, "pam_lockbox.conf")
with open(conf, "w") as f:
    f.write("gateway_url = %s\nca_file = %s\nhost_token_file = %s\nhost_id = hA1\n"
            "timeout = %ds\naudit_log = %s\n" % (gw.url, gw.ca, token_file, TIMEOUT, audit_log))
os.chmod(conf, 0o600)
pamd = os.path.join(tmp, "pam.d")
os.makedirs(pamd)
with open(os.path.join(pamd, "sshd"), "w") as f:
    f.write("auth     required %(d)s/pam_deny.so\n"
            "account  required %(m)s config=%(c)s\n"
            "account  required %(d)s/pam_permit.so\n"
            "session  required %(m)s config=%(c)s\n"
            "session  required %(d)s/pam_permit.so\n" % {"d": pam_dir, "m": MODULE, "c": conf})
with open(os.path.join(pamd, "other"), "w") as f:
    f.write("auth required %(d)s/pam_deny.so\naccount required %(d)s/pam_deny.so\n"
            "session required %(d)s/pam_deny.so\n" % {"d": pam_dir})
port = lbtest.free_port()
sshd_conf = os.path.join(tmp, "sshd_config")
with open(sshd_conf, "w") as f:
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
""" % (port, os.path.join(tmp, "hostkey"), os.path.join(tmp, "sshd.pid"), keys,
       " ".join(users.values())))

sshd_log = open(os.path.join(tmp, "sshd.log"), "wb")
sshd = subprocess.Popen(
    [NSRUN, logsock, "-T", "/run",
     "-b", pamd, "/etc/pam.d", "-b", os.path.join(tmp, "passwd"), "/etc/passwd",
     "-b", os.path.join(tmp, "group"), "/etc/group",
     "-b", os.path.join(tmp, "shadow"), "/etc/shadow", "--",
     "/bin/sh", "-c", "mkdir -m 0755 /run/sshd && exec %s -D -e -f %s" % (SSHD, sshd_conf)],
    stdout=sshd_log, stderr=subprocess.STDOUT)
procs.append(sshd)


def sshd_up():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


if not lbtest.wait_until(sshd_up, timeout=15):
    T.check(False, "sshd started", read(os.path.join(tmp, "sshd.log")))
    cleanup()
    T.done()


def sshd_tail():
    return "\n".join(read(os.path.join(tmp, "sshd.log")).splitlines()[-30:])


class Run:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    def __str__(self):
        return "rc=%s %.2fs\nstdout: %s\nstderr: %s\nsshd:\n%s" % (
            self.rc, self.elapsed, self.out[-2000:], self.err[-2000:], sshd_tail())


def ssh(user, cmd="echo lockbox-ok", wait=True):
    argv = ["ssh", "-F", "/dev/null", "-i", os.path.join(tmp, "userkey"), "-p", str(port),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
            "-o", "PreferredAuthentications=publickey", "-o", "ConnectTimeout=10",
            "-o", "LogLevel=INFO", "%s@127.0.0.1" % user, cmd]
    if not wait:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=60)
    return Run(p.returncode, p.stdout.decode("utf-8", "replace"),
               p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)


def client(user, cmd="echo lockbox-ok"):
    t0 = time.monotonic()
    p = subprocess.run([CLIENT, "127.0.0.1", str(port), user, os.path.join(tmp, "userkey"),
                        cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return Run(p.returncode, p.stdout.decode("utf-8", "replace"),
               p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)


def audit(**q):
    qs = "&".join("%s=%s" % kv for kv in q.items())
    items, cursor = [], None
    for _ in range(50):
        st, js, raw = w.call("GET", "/v1/audit/events?limit=200&" + qs +
                             ("&cursor=" + cursor if cursor else ""))
        if st != 200:
            break
        items += js["items"]
        cursor = js.get("next_cursor")
        if not cursor:
            break
    return items


a, b = users["a"], users["b"]
try:
    with T.section("denied, with the reason shown to the client"):
        r = ssh(a)
        T.check(r.rc == 255 and "lockbox-ok" not in r.out, "ssh: no approved request, denied", r)
        T.check("lockbox: access denied" in r.err and "reason no_request" in r.err,
                "ssh shows pam_lockbox's reason (sent as a banner)", r)
        c = client(a)
        T.eq(c.rc, 1, "libssh client: authentication refused", c)
        T.check("BANNER: lockbox: access denied" in c.out and "reason no_request" in c.out,
                "libssh client captured the PAM message with the reason", c)
        T.check(lbtest.wait_until(lambda: events("access.check.deny", user=a,
                                                 reason="no_request"), timeout=5),
                "syslog: access.check.deny reason=no_request", syslog[-5:])

    with T.section("elevation, request, approval: allowed, sessions recorded"):
        w.elevate(a)
        req = w.new_request(who=a)
        r = ssh(a)
        T.check(r.rc == 255 and "reason pending" in r.err and req["id"] in r.err,
                "pending request: denied, request id and state shown", r)
        w.must("POST", "/v1/requests/%s/approve" % req["id"], {"reason": "ok"}, who="ownA1")
        r = ssh(a)
        T.check(r.rc == 0 and "lockbox-ok" in r.out, "approved: ssh login works", r)
        allow = lbtest.wait_until(lambda: events("access.check.allow", user=a), timeout=5)
        T.check(bool(allow), "syslog: access.check.allow", syslog[-5:])
        did = allow[-1]["decision_id"] if allow else "?"
        T.check(lbtest.wait_until(lambda: events("session.start", decision_id=did) and
                                  events("session.end", decision_id=did), timeout=10),
                "syslog: session.start and session.end with decision_id %s" % did,
                [m for m in syslog[-8:]])
        st = events("session.start", decision_id=did)
        if st:
            T.eq(st[0].get("user"), a, "session.start: user")
            T.eq(st[0].get("service"), "sshd", "session.start: service")
            T.eq(st[0].get("rhost"), "127.0.0.1", "session.start: rhost")
            T.eq(st[0].get("host"), "hA1", "session.start: host")
            T.check(st[0].get("pid", "").isdigit(), "session.start: pid")
            T.eq(st[0].get("request"), req["id"], "session.start: request")
            T.eq(st[0].get("tty"), "ssh", "session.start: tty")

        def stored():
            evs = audit(request=req["id"])
            s = [e for e in evs if e["type"] == "session.start" and
                 e["details"].get("decision_id") == did]
            e_ = [e for e in evs if e["type"] == "session.end" and
                  e["details"].get("decision_id") == did]
            return (s, e_) if s and e_ else None
        got = lbtest.wait_until(stored, timeout=10)
        T.check(bool(got), "gateway audit store: session.start and session.end with the "
                "same decision id", audit(request=req["id"]))
        c = client(a)
        T.check(c.rc == 0 and "EXEC-OUT: lockbox-ok" in c.out, "libssh client: allowed", c)
        r = ssh(a, "ls -l /proc/self/fd/ | tail -n +2")
        fds = [ln for ln in r.out.splitlines() if "->" in ln]
        T.check(r.rc == 0 and fds, "listed the session's open fds", r)
        T.note("session fds: " + " | ".join(ln.split(None, 8)[-1] for ln in fds))
        # 0-2 are sshd's pipes to the client, 3 is ls reading /proc/self/fd
        extra = [ln for ln in fds if ln.split(None, 8)[-1].split(" ->")[0] not in
                 ("0", "1", "2", "3")]
        T.eq(extra, [], "no fd of the module (log, token, config, socket) in the session")

    with T.section("revoke"):
        w.must("POST", "/v1/requests/%s/revoke" % req["id"], {"reason": "done"}, who="ownA1")
        r = ssh(a)
        T.check(r.rc == 255 and "reason revoked" in r.err, "revoked: next login denied", r)

    with T.section("elevation activated after approval"):
        req_b = w.new_request(who=b)
        w.must("POST", "/v1/requests/%s/approve" % req_b["id"], {"reason": "ok"},
               who="ownA1")
        w.elevate(b)
        r = ssh(b)
        T.check(r.rc == 255 and "reason elevation_after_approval" in r.err,
                "elevation after approval: denied with the reason", r)
        c = client(b)
        T.check(c.rc == 1 and "elevation_after_approval" in c.out,
                "libssh client sees elevation_after_approval", c)

    with T.section("gateway killed: fail closed, events kept and delivered once"):
        req2 = w.new_request(who=a)
        w.must("POST", "/v1/requests/%s/approve" % req2["id"], {"reason": "ok"}, who="ownA1")
        n_start = len(events("session.start", user=a))
        long_ssh = ssh(a, "sleep 4; echo done", wait=False)
        T.check(lbtest.wait_until(lambda: len(events("session.start", user=a)) > n_start,
                                  timeout=10), "long session started")
        sid = events("session.start", user=a)[-1]["id"]
        gw.kill9()
        out, err = long_ssh.communicate(timeout=30)
        T.check(b"done" in out, "the running session is not disturbed", err)
        T.check(lbtest.wait_until(lambda: events("session.end", session=sid), timeout=10),
                "session.end logged while the gateway is down")
        r = ssh(a)
        T.check(r.rc == 255, "gateway down: login denied", r)
        T.check(r.elapsed < TIMEOUT + 4, "denied within the deadline (%.2fs)" % r.elapsed)
        T.check(lbtest.wait_until(lambda: events("access.check.deny", user=a,
                                                 reason="gateway_unreachable"), timeout=5),
                "syslog: reason gateway_unreachable")
        with open(audit_log) as f:
            local = [__import__("json").loads(ln)["id"] for ln in f if ln.strip()]
        with open(audit_log + ".cursor") as f:
            cur = int(f.read().strip() or 0)
        T.check(cur < os.path.getsize(audit_log), "undelivered events wait in the local log")
        gw.start()
        r = ssh(a)
        T.check(r.rc == 0 and "lockbox-ok" in r.out, "gateway back: login works", r)
        T.check(lbtest.wait_until(lambda: int(open(audit_log + ".cursor").read() or 0) ==
                                  os.path.getsize(audit_log), timeout=10),
                "local log fully delivered")
        stored_ids = [e["id"] for e in audit(host="hA1")]
        T.eq([i for i in local if i not in stored_ids], [],
             "every event of the outage is in the audit store")
        T.eq(sorted(i for i in set(stored_ids) if stored_ids.count(i) > 1), [],
             "no event stored twice")
        T.check(sid in stored_ids, "the session.start of the interrupted session is stored")
        ends = [e for e in audit(request=req2["id"]) if e["type"] == "session.end"
                and e["details"].get("session") == sid]
        T.eq(len(ends), 1, "its session.end, logged during the outage, is stored once")
        st, js, raw = w.call("GET", "/v1/audit/verify")
        T.check(st == 200 and js.get("ok") is True, "audit hash chain verifies", raw)
finally:
    stop.set()
    gw.close()
    cleanup()
T.done()
