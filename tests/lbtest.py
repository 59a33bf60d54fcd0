"""lbtest: shared helpers for the lockbox test scripts (Python 3 stdlib only).

Start a real lockbox-gatewayd on a free loopback port in a private temp dir,
talk to its REST API, build a standard fixture ("world"), and report checks
in a TAP-like form ending with the line "N passed, N failed".

    import lbtest
    T = lbtest.Runner("lifecycle")
    with lbtest.Gateway() as gw:
        admin = gw.bootstrap()
        w = lbtest.world(gw, admin)
        st, js, raw = lbtest.api(gw, "GET", "/v1/tenants", token=admin)
        T.eq(st, 200, "provider admin lists tenants")
    T.done()
"""

import atexit
import datetime
import email
import email.policy
import http.client
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid

__all__ = ["free_port", "make_ca", "Gateway", "api", "world", "World", "Runner",
           "ApiError", "gatewayd_path", "new_uuid", "now_rfc3339", "rfc3339",
           "parse_time", "wait_until", "MailSink", "invitation_code", "DbError", "STORE"]

# ---------------------------------------------------------------- small utils


def audit_cursor(log_path):
    """The delivery cursor of a host audit log (lib/auditlog_int.h): the byte offset up to
    which the gateway holds every event ("OFFSET INODE", or a bare OFFSET); 0 when none."""
    try:
        with open(log_path + ".cursor") as f:
            text = f.read().split()
    except FileNotFoundError:
        return 0
    return int(text[0]) if text else 0


def tmpdir(prefix="lbtest-"):
    """A temporary directory removed when the test exits."""
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    return d


def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago on host (bind to port 0)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def new_uuid():
    return str(uuid.uuid4())


def rfc3339(ts):
    """Unix seconds (float) -> RFC 3339 UTC with milliseconds."""
    d = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def now_rfc3339():
    return rfc3339(time.time())


def parse_time(s):
    """RFC 3339 -> Unix seconds (float); None passes through."""
    if s is None:
        return None
    t = s.strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(t).timestamp()


def wait_until(pred, timeout=10.0, step=0.1):
    """Poll pred() until it returns a true value (returned) or timeout (None)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return None
        time.sleep(step)


def gatewayd_path():
    p = os.environ.get("LB_GATEWAYD")
    if p:
        return p
    top = os.environ.get("LB_TOP_BUILDDIR")
    if top:
        return os.path.join(top, "gatewayd", "lockbox-gatewayd")
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "gatewayd", "lockbox-gatewayd")


# ---------------------------------------------------------------- test PKI


def _openssl(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args),
                           r.stderr.decode(errors="replace")))


def _mk_ca(d, stem, cn):
    key = os.path.join(d, stem + ".key")
    crt = os.path.join(d, stem + ".pem")
    _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
              "-out", crt, "-days", "2", "-subj", "/CN=" + cn,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
    return crt, key


def make_ca(dirpath):
    """Make a test CA, a server cert (SAN 127.0.0.1, ::1, localhost) signed by
    it, and an unrelated second CA. Returns a dict of paths:
    ca, ca_key, cert, key, wrong_ca, wrong_ca_key."""
    d = os.path.abspath(dirpath)
    os.makedirs(d, exist_ok=True)
    ca, ca_key = _mk_ca(d, "ca", "lockbox test CA")
    wrong, wrong_key = _mk_ca(d, "wrong-ca", "lockbox wrong CA")
    key = os.path.join(d, "server.key")
    csr = os.path.join(d, "server.csr")
    crt = os.path.join(d, "server.pem")
    ext = os.path.join(d, "server.ext")
    _openssl(["req", "-new", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
              "-out", csr, "-subj", "/CN=localhost"], d)
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n")
    _openssl(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
              "-CAcreateserial", "-out", crt, "-days", "2", "-sha256",
              "-extfile", ext], d)
    os.chmod(key, 0o600)
    return {"ca": ca, "ca_key": ca_key, "cert": crt, "key": key,
            "wrong_ca": wrong, "wrong_ca_key": wrong_key, "dir": d}


# ---------------------------------------------------------------- HTTP client


def _target(gw_or_url, ca):
    if isinstance(gw_or_url, Gateway):
        url = gw_or_url.url
        if ca is None:
            ca = gw_or_url.ca
    else:
        url = gw_or_url
    return url, ca


def api(gw_or_url, method, path, body=None, token=None, raw=None,
        headers=None, ca=None, timeout=10):
    """One HTTP call. Returns (status, parsed JSON or None, raw text).

    body: an object sent as JSON; raw: bytes (or str) sent as-is;
    token: sent as "Authorization: Bearer <token>";
    ca: CA file for https (default: the Gateway's CA)."""
    url, ca = _target(gw_or_url, ca)
    u = urllib.parse.urlsplit(url)
    host = u.hostname
    port = u.port
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=ca) if ca else \
            ssl.create_default_context()
        conn = http.client.HTTPSConnection(host, port or 443, timeout=timeout,
                                           context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port or 80, timeout=timeout)
    hdrs = {}
    data = None
    if raw is not None:
        data = raw.encode() if isinstance(raw, str) else raw
        hdrs["Content-Type"] = "application/json"
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    if headers:
        hdrs.update(headers)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        status = resp.status
    finally:
        conn.close()
    text = payload.decode("utf-8", errors="replace")
    js = None
    if payload:
        try:
            js = json.loads(text)
        except ValueError:
            js = None
    return status, js, text


def err_code(js):
    """The error code of an error body, or None."""
    try:
        return js["error"]["code"]
    except (TypeError, KeyError):
        return None


class ApiError(Exception):
    pass


def is_id(s, prefix):
    """True if s is a lockbox id: prefix + '_' + 16 lowercase hex digits."""
    import re
    return isinstance(s, str) and re.fullmatch(prefix + r"_[0-9a-f]{16}", s) is not None


def is_uuid(s):
    import re
    return isinstance(s, str) and re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", s) is not None


def paginate(gw, path, token, limit=200, max_pages=200):
    """GET every page of a list; returns (items, pages). Raises ApiError."""
    items, pages, cursor = [], 0, None
    sep = "&" if "?" in path else "?"
    while pages < max_pages:
        p = "%s%slimit=%d" % (path, sep, limit)
        if cursor is not None:
            p += "&cursor=" + urllib.parse.quote(str(cursor), safe="")
        js = must(gw, "GET", p, token=token, expect=200)
        pages += 1
        items += js.get("items", [])
        cursor = js.get("next_cursor")
        if cursor is None:
            return items, pages
    raise ApiError("%s: more than %d pages" % (path, max_pages))


def must(gw, method, path, body=None, token=None, expect=(200, 201), **kw):
    """api() that raises ApiError unless the status is in expect; returns js."""
    if isinstance(expect, int):
        expect = (expect,)
    st, js, text = api(gw, method, path, body=body, token=token, **kw)
    if st not in expect:
        raise ApiError("%s %s %s -> %d %s" % (method, path,
                       json.dumps(body) if body is not None else "",
                       st, text[:500]))
    return js


# ---------------------------------------------------------------- a mail sink


class MailSink:
    """A small SMTP server on a free loopback port (stdlib only) that keeps every message in
    memory, as an email.message.Message with an X-Envelope-To header per recipient. Every
    Gateway whose config names no smtp_url mails to one (gw.mail), so that invitations, whose
    one-time code travels only by mail, work in every test. Bounded: lines of 4 KiB, messages
    of 1 MiB, 30 s of silence per connection."""

    MAX_LINE = 4096
    MAX_MSG = 1024 * 1024

    def __init__(self, host="127.0.0.1"):
        self.lock = threading.Lock()
        self.msgs = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 30

            def reply(self, text):
                self.wfile.write(text.encode() + b"\r\n")
                self.wfile.flush()

            def read_data(self):
                data, size = [], 0
                while True:
                    line = self.rfile.readline(MailSink.MAX_LINE)
                    if not line:
                        return None
                    if line in (b".\r\n", b".\n"):
                        return b"".join(data)
                    if line.startswith(b".."):
                        line = line[1:]
                    size += len(line)
                    if size > MailSink.MAX_MSG:
                        return None
                    data.append(line)

            def handle(self):
                rcpts = []
                self.reply("220 lbtest mail sink")
                for _ in range(10000):
                    line = self.rfile.readline(MailSink.MAX_LINE)
                    if not line:
                        return
                    cmd = line.decode("utf-8", "replace").strip()
                    verb = cmd.split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        self.reply("250-lbtest\r\n250 8BITMIME")
                    elif verb in ("HELO", "NOOP"):
                        self.reply("250 OK")
                    elif verb in ("MAIL", "RSET"):
                        rcpts = []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        m = re.search(r"<([^>]*)>", cmd)
                        rcpts.append(m.group(1) if m else cmd[8:].strip())
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        raw = self.read_data()
                        if raw is None:
                            return
                        with sink.lock:
                            for r in rcpts:
                                msg = email.message_from_bytes(raw)
                                msg["X-Envelope-To"] = r
                                sink.msgs.append(msg)
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.srv = Server((host, 0), Handler)
        self.port = self.srv.server_address[1]
        self.url = "smtp://%s:%d" % (host, self.port)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def messages(self):
        with self.lock:
            return list(self.msgs)

    def close(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None


_CODE_RE = re.compile(r"lockboxctl invitation redeem (lbi_[0-9a-f]{64})")


def _body(msg):
    p = msg.get_payload(decode=True)
    return p.decode("utf-8", "replace") if isinstance(p, bytes) else str(msg.get_payload())


def invitation_code(mail, address, invitation=None, timeout=10.0):
    """The one-time code of the invitation mailed to ADDRESS (the newest, or the one whose
    mail names INVITATION, an inv_ id), read from MAIL: a callable returning the messages
    received so far (MailSink.messages). Waits up to TIMEOUT seconds; raises ApiError."""
    def find():
        for m in reversed(mail()):
            if m.get("X-Lockbox-Event") != "invitation.create":
                continue
            if address not in (m.get("X-Envelope-To", "") + m.get("To", "")):
                continue
            body = _body(m)
            if invitation and invitation not in body:
                continue
            found = _CODE_RE.search(body)
            if found:
                return found.group(1)
        return None
    code = wait_until(find, timeout=timeout, step=0.05)
    if not code:
        raise ApiError("no invitation mail to %s within %.0fs" % (address, timeout))
    return code


# ---------------------------------------------------------------- the daemon

_live = []
_problems = []    # gateway trouble found at stop/close (sanitizer reports, bad exit), reported by Runner

_SAN_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                "WARNING: ThreadSanitizer", "ERROR: UndefinedBehaviorSanitizer")


def _cleanup_all():
    for g in list(_live):
        try:
            g.close()
        except Exception:
            pass


# ---------------------------------------------------------------- the store under test
#
# LB_TEST_STORE=postgresql (make check's api/*-pg.pgpy variants set it) makes every Gateway
# use a fresh database in a private PostgreSQL cluster of this process (tests/pgcluster.py)
# instead of its own SQLite file; Gateway(store=...) forces one backend. The cluster starts
# on first use and stops at exit after the gateways: _stop_pg is registered before
# _cleanup_all, so at exit (handlers run last-registered first) the gateways go first; the
# paths that end with os._exit call _final_cleanup() themselves.

STORE = os.environ.get("LB_TEST_STORE", "") or "sqlite"
if STORE not in ("sqlite", "postgresql"):
    sys.stderr.write("LB_TEST_STORE=%s: want sqlite or postgresql\n" % STORE)
    sys.exit(99)


def _stop_pg():
    mod = sys.modules.get("pgcluster")
    if mod is not None:
        try:
            mod.shutdown()
        except Exception as e:     # never hide the test's own result behind this
            print("# stopping the PostgreSQL cluster: %r" % e, flush=True)


def _final_cleanup():
    _cleanup_all()
    _stop_pg()


def _on_sigterm(signum, frame):
    # a test killed by a timeout still stops its gateways and its cluster (atexit runs)
    sys.exit(128 + signum)


atexit.register(_stop_pg)
atexit.register(_cleanup_all)

if STORE == "postgresql":
    import pgcluster
    _why = pgcluster.available()
    if _why:
        # before any Runner: the whole script is skipped (the wrapper checks this first too)
        print("# SKIP PostgreSQL variant: %s" % _why, flush=True)
        sys.exit(77)


class DbError(Exception):
    """A statement on the gateway's database failed (e.g. refused by a trigger)."""


def pg_cluster():
    """The private PostgreSQL cluster of this process (started on first call)."""
    import pgcluster
    if (signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
            and threading.current_thread() is threading.main_thread()):
        signal.signal(signal.SIGTERM, _on_sigterm)
    return pgcluster.shared()


class Gateway:
    """A lockbox-gatewayd in a private temp dir on a free loopback port."""

    def __init__(self, tmpdir=None, tls=False, conf_extra="", port=None,
                 keep=False, mail=True, store=None):
        # mail goes to a MailSink of this test (gw.mail) unless the test names its own
        # smtp_url, or wants a gateway without mail (mail=False)
        self.mail = None
        self.want_mail = mail
        self.own_tmp = tmpdir is None
        self.tmp = tmpdir or tempfile.mkdtemp(prefix="lbgw-")
        os.makedirs(self.tmp, exist_ok=True)
        self.keep = keep or bool(os.environ.get("LB_KEEP_TMP"))
        self.tls = tls
        self.port = port or free_port()
        self.exe = gatewayd_path()
        # the store: "sqlite" (gw.db in the temp dir) or "postgresql" (gw.pgdb, a database of
        # the private cluster; a Gateway made again on the same tmpdir finds the same one)
        self.store = store or STORE
        if self.store not in ("sqlite", "postgresql"):
            raise ValueError("store=%r" % (self.store,))
        self.db = os.path.join(self.tmp, "gw.db")
        self.pgdb = None
        self.db_uri = "sqlite://%s" % self.db
        if self.store == "postgresql":
            self.db = None      # no file: tests that read it must use sql() and friends
            cl = pg_cluster()
            namef = os.path.join(self.tmp, "pgdb.name")
            if os.path.exists(namef):
                with open(namef) as f:
                    self.pgdb = f.read().strip()
            if not self.pgdb or not cl.has_database(self.pgdb):
                self.pgdb = cl.create_database(self.pgdb or None)
                with open(namef, "w") as f:
                    f.write(self.pgdb + "\n")
            self.db_uri = cl.uri(self.pgdb)
        self.conf = os.path.join(self.tmp, "gatewayd.conf")
        self.log = os.path.join(self.tmp, "gatewayd.log")
        self.proc = None
        self.pki = None
        self.ca = None
        if tls:
            self.pki = make_ca(os.path.join(self.tmp, "pki"))
            self.ca = self.pki["ca"]
            self.url = "https://127.0.0.1:%d" % self.port
        else:
            self.url = "http://127.0.0.1:%d" % self.port
        self.write_conf(conf_extra)
        _live.append(self)

    def write_conf(self, conf_extra=""):
        lines = ["# written by tests/lbtest.py",
                 "listen = %s" % self.url,
                 "database = %s" % self.db_uri,
                 "sweep_interval = 1s"]
        if "checkpoint_key_file" not in conf_extra:
            # the default, /etc/lockbox/checkpoint.key, is the machine's: each test its own
            lines.append("checkpoint_key_file = %s" % os.path.join(self.tmp, "checkpoint.key"))
        if "totp_key_file" not in conf_extra:
            # likewise the key that seals the TOTP secrets (default /etc/lockbox/totp.key)
            lines.append("totp_key_file = %s" % os.path.join(self.tmp, "totp.key"))
        if self.tls:
            lines += ["tls_cert = %s" % self.pki["cert"],
                      "tls_key = %s" % self.pki["key"]]
        if "smtp_url" not in conf_extra and self.want_mail:
            if self.mail is None:
                self.mail = MailSink()
            lines += ["smtp_url = %s" % self.mail.url,
                      "smtp_from = lockbox@gateway.example.test"]
        if conf_extra:
            lines += [l for l in conf_extra.splitlines()]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.conf_extra = conf_extra

    # -- process control

    def run(self, *args, timeout=30, input=None):
        """Run the daemon binary with args; returns CompletedProcess (text)."""
        return subprocess.run([self.exe] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout,
                              input=input, universal_newlines=True)

    def start(self, timeout=10.0):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("gateway already running")
        logf = open(self.log, "ab")
        logf.write(b"---- start %s\n" % now_rfc3339().encode())
        logf.flush()
        try:
            self.proc = subprocess.Popen([self.exe, "-c", self.conf, "--foreground"],
                                         stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, close_fds=True)
        finally:
            logf.close()
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            rc = self.proc.poll()
            if rc is not None:
                raise RuntimeError("lockbox-gatewayd exited with %d during start;"
                                   " log tail:\n%s" % (rc, self.log_tail()))
            try:
                st, _, _ = api(self, "GET", "/healthz", timeout=2)
                if st == 200:
                    return self
                last = "status %d" % st
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError("lockbox-gatewayd not ready within %.0fs (%s); log tail:\n%s"
                           % (timeout, last, self.log_tail()))

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit status (None if not running)."""
        if self.proc is None:
            return None
        p = self.proc
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
                _problems.append("lockbox-gatewayd did not exit within %.0fs of SIGTERM" % timeout)
        self.proc = None
        if p.returncode != 0:
            _problems.append("lockbox-gatewayd exited with status %s on SIGTERM; log tail:\n%s"
                             % (p.returncode, self.log_tail(15)))
        return p.returncode

    def sanitizer_report(self):
        """Lines of the log around the first sanitizer report, or None."""
        lines = self.log_text().splitlines()
        for i, l in enumerate(lines):
            if any(m in l for m in _SAN_MARKERS):
                return "\n".join(lines[max(0, i - 2):i + 25])
        return None

    def kill9(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def bootstrap(self, login="admin"):
        """--bootstrap-admin LOGIN; returns the printed token."""
        r = self.run("-c", self.conf, "--bootstrap-admin", login)
        out = r.stdout.strip()
        if r.returncode != 0 or not out.startswith("lbu_") or "\n" in out:
            raise RuntimeError("--bootstrap-admin %s: rc=%d stdout=%r stderr=%r"
                               % (login, r.returncode, r.stdout, r.stderr))
        return out

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    # -- the database, whichever the backend (for tests that look behind the API)

    def sql(self, query, params=()):
        """Rows of a SELECT on this gateway's database, as a list of tuples. QUERY uses ?
        placeholders and SQL both backends read (quote "user"); on PostgreSQL it runs through
        psql as the role the gateway logs in as, and values come back as ints, None, or text
        (json columns as JSON text)."""
        if self.store == "postgresql":
            import pgcluster
            try:
                return pg_cluster().query(query, params, db=self.pgdb)
            except pgcluster.DbError as e:
                raise DbError(str(e)) from None
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            return db.execute(query, tuple(params)).fetchall()
        except sqlite3.DatabaseError as e:
            raise DbError(str(e)) from None
        finally:
            db.close()

    def sql_exec(self, *stmts, tamper=False):
        """Runs statements (each "SQL" or ("SQL with ?", params)) in one transaction; raises
        DbError (and changes nothing) if one fails. tamper=True first does what an attacker
        with the database owner's rights does to get past the append-only triggers: SQLite:
        drops every trigger; PostgreSQL: grants itself back UPDATE, DELETE and TRUNCATE on
        audit, then ALTER TABLE ... DISABLE TRIGGER USER on every table that has triggers (the
        owner may; they stay disabled, as dropped ones stay dropped)."""
        stmts = [(q, ()) if isinstance(q, str) else (q[0], tuple(q[1])) for q in stmts]
        if self.store == "postgresql":
            import pgcluster
            text = []
            if tamper:
                # the owner took its own rights to change audit rows away (schema version
                # 14): an attacker with the owner's rights grants them back first
                text.append("GRANT UPDATE, DELETE, TRUNCATE ON audit TO CURRENT_USER;")
                text.append("DO $lbtest$ DECLARE r record; BEGIN FOR r IN SELECT DISTINCT "
                            "tgrelid::regclass AS t FROM pg_trigger WHERE NOT tgisinternal LOOP "
                            "EXECUTE format('ALTER TABLE %s DISABLE TRIGGER USER', r.t); "
                            "END LOOP; END $lbtest$;")
            text += [pgcluster.pg_params(q, p).rstrip().rstrip(";") + ";" for q, p in stmts]
            try:
                pg_cluster().psql("\n".join(text), db=self.pgdb)
            except pgcluster.DbError as e:
                raise DbError(str(e)) from None
            return
        import sqlite3
        db = sqlite3.connect(self.db, timeout=10, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            if tamper:
                for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                          ).fetchall():
                    db.execute('DROP TRIGGER "%s"' % name)
            for q, p in stmts:
                db.execute(q, p)
            db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise DbError(str(e)) from None
        finally:
            db.close()

    def sql_columns(self, table):
        """The column names of TABLE, in order."""
        if self.store == "postgresql":
            return [r[0] for r in self.sql(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))]
        return [r[1] for r in self.sql("PRAGMA table_info(\"%s\")" % table)]

    def sql_triggers(self, table):
        """The names of TABLE's own (not internal) triggers."""
        if self.store == "postgresql":
            return [r[0] for r in self.sql(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = ?::regclass AND NOT tgisinternal",
                (table,))]
        return [r[0] for r in self.sql("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                       "AND tbl_name = ?", (table,))]

    def db_bytes(self):
        """Everything the store holds, as bytes, to search for secrets that must not be there:
        SQLite: the database file and its WAL; PostgreSQL: pg_dump of the data."""
        if self.store == "postgresql":
            return pg_cluster().dump(self.pgdb)
        data = b""
        for suffix in ("", "-wal"):
            try:
                with open(self.db + suffix, "rb") as f:
                    data += f.read()
            except OSError:
                pass
        return data

    def hold_lock(self):
        """A context manager that holds the store's write lock from another process, as an
        operator's stray session would: SQLite: BEGIN EXCLUSIVE on the file; PostgreSQL: a
        transaction holding LOCK TABLE ... IN EXCLUSIVE MODE on every table (readers pass,
        writers wait). Released (rolled back) on exit."""
        return _StoreLock(self)

    def close(self):
        self.stop()
        if self.mail:
            self.mail.close()
        rep = self.sanitizer_report()
        if rep:
            _problems.append("sanitizer report in the lockbox-gatewayd log:\n" + rep)
        if self in _live:
            _live.remove(self)
        if self.own_tmp and not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class _StoreLock:
    """See Gateway.hold_lock()."""

    def __init__(self, gw):
        self.gw = gw
        self.db = None
        self.proc = None

    def __enter__(self):
        if self.gw.store == "sqlite":
            import sqlite3
            self.db = sqlite3.connect(self.gw.db, timeout=5, isolation_level=None)
            self.db.execute("BEGIN EXCLUSIVE")
            return self
        import select
        cl = pg_cluster()
        self.proc = subprocess.Popen(
            [cl._bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", cl.dir,
             # the superuser: the gateway's own role cannot lock audit in EXCLUSIVE mode
             # (it gave up its rights to change audit rows, schema version 14)
             "-p", str(cl.port), "-U", "postgres", "-d", self.gw.pgdb],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True, env=cl._env())
        self.proc.stdin.write(
            "BEGIN;\nSET lock_timeout = '20s';\n"
            "SELECT 'LOCK TABLE ' || string_agg(format('%I', tablename), ', ') || "
            "' IN EXCLUSIVE MODE' FROM pg_tables WHERE schemaname = current_schema() \\gexec\n"
            "\\echo lbtest-locked\n")
        self.proc.stdin.flush()
        end = time.monotonic() + 30
        seen = ""
        while time.monotonic() < end:
            r, _, _ = select.select([self.proc.stdout], [], [], max(0.0, end - time.monotonic()))
            if not r:
                break
            line = self.proc.stdout.readline()
            if not line:
                break
            seen += line
            if line.strip() == "lbtest-locked":
                return self
        self.__exit__(None, None, None)
        raise RuntimeError("could not lock the PostgreSQL tables within 30s: %s" % seen[-500:])

    def __exit__(self, *exc):
        if self.db is not None:
            self.db.execute("ROLLBACK")
            self.db.close()
            self.db = None
        if self.proc is not None:
            p, self.proc = self.proc, None
            try:
                p.stdin.write("ROLLBACK;\n\\q\n")
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            p.stdout.close()
        return False


# ---------------------------------------------------------------- TOTP (RFC 6238)

TOTP_STEP = 30


def totp_code(secret, t=None, step=TOTP_STEP, digits=6):
    """The RFC 6238 code (HMAC-SHA1) of the base32 SECRET at Unix time T (default now)."""
    import base64
    import hashlib
    import hmac
    import struct
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if t is None else t) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 15
    value = struct.unpack(">I", mac[off:off + 4])[0] & 0x7fffffff
    return "%0*d" % (digits, value % 10 ** digits)


__all__ += ["totp_code"]

# ---------------------------------------------------------------- the fixture


class World:
    """Ids and tokens of the standard fixture (see world())."""

    def __init__(self, gw, admin, mail=None):
        self.gw = gw
        self.admin = admin
        # where invitation mail is read: a callable returning the messages received so far
        self.mail = mail or (gw.mail.messages if getattr(gw, "mail", None) else None)
        self.gadm = {}                   # tenant id -> key of the global admin who manages it
        self.tok = {"admin": admin}      # login -> token
        self.mfa_tok = {}                # key -> token issued with the mfa flag (add_user mfa=True);
                                         # a record only: TOTP is the second factor
        self.totp_secret = {}            # key -> base32 TOTP secret (enroll_totp)
        self._totp_step = {}             # key -> newest 30 s step whose code was used
        self.user = {}                   # login -> user id
        self.tenant = {}                 # "A"/"B" -> tenant id
        self.sub = {}                    # "A1"/"A2"/"B1" -> subscription id
        self.host = {}                   # "hA1"... -> {id, name, token, subscription, tenant}
        self.ticket = {}                 # "A"/"B" -> open ticket id (tenant-level)
        self.roles = {}                  # key -> role
        self.login = {"admin": "admin"}  # key -> Unix login (lowercase: "gadmA" -> "gadma")

    def call(self, method, path, body=None, who="admin", **kw):
        tok = self.tok[who] if who in self.tok else who
        return api(self.gw, method, path, body=body, token=tok, **kw)

    def must(self, method, path, body=None, who="admin", expect=(200, 201), **kw):
        tok = self.tok[who] if who in self.tok else who
        return must(self.gw, method, path, body=body, token=tok, expect=expect, **kw)

    def add_user(self, key, side, tenant=None, role=None, scope=None, mfa=False, login=None,
                 by=None):
        """Create a user (+ role, + token). scope: ("tenant"|"subscription", id).
        key names it in w.tok/w.user/...; its Unix login is key.lower() unless given.
        by: who creates it; default the provider admin for a provider-side user and the
        tenant's global admin (w.gadm, see invite_admin) for a customer-side one, as the
        gateway demands (DESIGN.md "Actors")."""
        login = login or key.lower()
        self.login[key] = login
        if by is None:
            by = self.gadm.get(tenant, "admin") if side == "customer" else "admin"
        body = {"login": login, "name": "Test " + key,
                "email": login + "@example.test", "side": side}
        if tenant:
            body["tenant"] = tenant
        u = self.must("POST", "/v1/users", body, who=by, expect=201)
        self.user[key] = u["id"]
        if role:
            ra = {"user": u["id"], "role": role}
            if scope:
                ra[scope[0]] = scope[1]
            self.must("POST", "/v1/role-assignments", ra, who=by, expect=(200, 201))
            self.roles[key] = role
        t = self.must("POST", "/v1/users/%s/tokens" % u["id"], {"mfa": False}, who=by,
                      expect=201)
        self.tok[key] = t["token"]
        if mfa:
            t = self.must("POST", "/v1/users/%s/tokens" % u["id"], {"mfa": True}, who=by,
                          expect=201)
            self.mfa_tok[key] = t["token"]
        return u["id"]

    def invite(self, tenant, login, by="admin", name=None, email=None):
        """POST /v1/tenants/{tenant}/invitations as BY; returns the invitation (no code)."""
        body = {"login": login, "name": name or "Test " + login,
                "email": email or login + "@example.test"}
        return self.must("POST", "/v1/tenants/%s/invitations" % tenant, body, who=by,
                         expect=201)

    def redeem(self, inv, timeout=10.0):
        """Reads the code of invitation INV from the mail and redeems it (no token);
        returns the answer {"user", "token", ...}."""
        if self.mail is None:
            raise ApiError("no mail to read the invitation from (give world(..., mail=))")
        code = invitation_code(self.mail, inv["email"], inv["id"], timeout=timeout)
        return must(self.gw, "POST", "/v1/invitations/redeem", {"code": code}, expect=201)

    def invite_admin(self, key, tenant, by="admin", login=None):
        """The real way a customer admin comes to be: BY invites, the code arrives by mail,
        the invitee redeems it and becomes a global admin of TENANT (an id) with a token."""
        login = login or key.lower()
        inv = self.invite(tenant, login, by=by, name="Test " + key)
        ans = self.redeem(inv)
        self.login[key] = login
        self.user[key] = ans["user"]["id"]
        self.tok[key] = ans["token"]
        self.roles[key] = "global_admin"
        self.gadm.setdefault(tenant, key)
        return ans["user"]["id"]

    def add_host(self, name, sub):
        h = self.must("POST", "/v1/hosts", {"subscription": self.sub[sub],
                                            "name": name}, expect=201)
        self.host[name] = {"id": h["id"], "name": name, "token": h["token"],
                           "subscription": self.sub[sub], "tenant": h.get("tenant")}
        self.tok[name] = h["token"]
        return self.host[name]

    # -- conveniences for tests

    def enroll_totp(self, key):
        """Enrol and confirm TOTP for KEY (POST /v1/users/self/totp, then /confirm with a
        code computed here); returns the base32 secret, kept in w.totp_secret[key]."""
        js = self.must("POST", "/v1/users/self/totp", who=key, expect=201)
        self.totp_secret[key] = js["secret"]
        self.must("POST", "/v1/users/self/totp/confirm", {"code": self.totp(key)}, who=key,
                  expect=200)
        return js["secret"]

    def totp(self, key):
        """A code of KEY's TOTP that the gateway has not accepted yet: the current step's,
        else the next step's, else (both used) it waits for the step after. The gateway
        accepts each step once and one step of skew either way, so both stay valid for
        the call that follows at once."""
        secret = self.totp_secret[key]
        for _ in range(3):
            cur = int(time.time() // TOTP_STEP)
            step = max(cur, self._totp_step.get(key, -1) + 1)
            if step <= cur + 1:
                self._totp_step[key] = step
                return totp_code(secret, step * TOTP_STEP)
            time.sleep(max(0.0, (step - 1) * TOTP_STEP - time.time()) + 0.05)
        raise ApiError("no unused TOTP step for %s" % key)

    def elevate(self, who="eng", duration="1h", justification="support work", mfa=False):
        """POST /v1/elevations; mfa=True adds a TOTP code (enrolling WHO first if needed),
        which makes the elevation MFA-backed (require_mfa)."""
        body = {"duration": duration, "justification": justification}
        if mfa:
            if who not in self.totp_secret:
                self.enroll_totp(who)
            body["totp"] = self.totp(who)
        return must(self.gw, "POST", "/v1/elevations", body, token=self.tok[who], expect=201)

    def new_ticket(self, tenant="A", who=None, subscription=None, title="help"):
        who = who or ("cust" + tenant)
        body = {"tenant": self.tenant[tenant], "title": title,
                "description": "please look at it"}
        if subscription:
            body["subscription"] = self.sub[subscription]
        return self.must("POST", "/v1/tickets", body, who=who, expect=201)["id"]

    def request_body(self, sub="A1", hosts=None, access="ssh", duration="1h",
                     scope="subscription", ticket=None, tenant=None):
        tenant = tenant or sub[0]
        body = {"ticket": ticket or self.ticket[tenant], "scope": scope,
                "hosts": hosts if hosts is not None else ["h" + sub],
                "access": access, "duration": duration,
                "justification": "investigate incident"}
        if scope == "subscription":
            body["subscription"] = self.sub[sub]
        return body

    def new_request(self, who="eng", expect=201, **kw):
        """POST /v1/requests (with require_mfa the engineer needs elevate(mfa=True) first)."""
        return must(self.gw, "POST", "/v1/requests", self.request_body(**kw),
                    token=self.tok[who], expect=expect)

    def check(self, host, user, service="sshd", expect=200):
        return must(self.gw, "POST", "/v1/check",
                    {"user": user, "service": service, "rhost": "10.0.0.5",
                     "tty": "ssh"}, token=self.host[host]["token"], expect=expect)


def world(gw, admin_token, mail=None):
    """Build the standard fixture through the API (raises ApiError on failure).

    tenants A (subscriptions A1, A2) and B (B1); hosts hA1 (A1), hA2 (A2),
    hB1 (B1) with host tokens; users, each with a token in w.tok[login]:
      admin (provider_admin, bootstrap), eng, eng2 (engineer; w.enroll_totp(key)
      gives anyone TOTP), iapp (internal_approver), gadmA (global_admin A),
      lbappA (lockbox_approver A), ownA1 / ownA2 (owner A1 / A2), custA
      (customer_user A), gadmB (global_admin B), custB (customer_user B),
      nobody (provider side, no role).
    w.ticket['A'], w.ticket['B']: an open tenant-level ticket opened by custA/custB.
    The customer side is built as the gateway demands: the provider admin invites gadmA and
    gadmB, whose codes are read from the invitation mail (mail: a callable returning the
    messages received, default gw.mail.messages), and they create their tenants' users.
    """
    w = World(gw, admin_token, mail=mail)
    for t in ("A", "B"):
        w.tenant[t] = w.must("POST", "/v1/tenants", {"name": "tenant-" + t},
                             expect=201)["id"]
    for s in ("A1", "A2", "B1"):
        w.sub[s] = w.must("POST", "/v1/subscriptions",
                          {"tenant": w.tenant[s[0]], "name": "sub-" + s},
                          expect=201)["id"]
    for s in ("A1", "A2", "B1"):
        w.add_host("h" + s, s)
    st, js, _ = w.call("GET", "/v1/users")
    if st == 200 and js:
        for it in js.get("items", []):
            if it.get("login") == "admin":
                w.user["admin"] = it.get("id")
    w.roles["admin"] = "provider_admin"
    w.add_user("eng", "provider", role="engineer")
    w.add_user("eng2", "provider", role="engineer")
    w.add_user("iapp", "provider", role="internal_approver")
    A, B = w.tenant["A"], w.tenant["B"]
    w.invite_admin("gadmA", A)
    w.add_user("lbappA", "customer", tenant=A, role="lockbox_approver", scope=("tenant", A))
    w.add_user("ownA1", "customer", tenant=A, role="owner", scope=("subscription", w.sub["A1"]))
    w.add_user("ownA2", "customer", tenant=A, role="owner", scope=("subscription", w.sub["A2"]))
    w.add_user("custA", "customer", tenant=A, role="customer_user", scope=("tenant", A))
    w.invite_admin("gadmB", B)
    w.add_user("custB", "customer", tenant=B, role="customer_user", scope=("tenant", B))
    w.add_user("nobody", "provider")
    w.ticket["A"] = w.new_ticket("A")
    w.ticket["B"] = w.new_ticket("B")
    return w


# ---------------------------------------------------------------- the runner


class _Section:
    def __init__(self, runner, name):
        self.runner = runner
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            return False
        if issubclass(et, (KeyboardInterrupt, SystemExit)):
            return False
        self.runner._exception("section '%s'" % self.name, et, ev, tb)
        return True   # keep going with the next section


class Runner:
    """Prints 'ok - what' / 'not ok - what (details)', then 'N passed, N failed'.

    T.section(name) may be used as a plain call or as `with T.section(name):`;
    inside a with-block an exception counts as one failure and the script goes
    on after the block. An uncaught exception anywhere counts as a failure and
    still prints the summary (exit 1)."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.finished = False
        self.t0 = time.monotonic()
        print("# %s" % name, flush=True)
        self._prev_hook = sys.excepthook
        sys.excepthook = self._hook
        atexit.register(self._atexit)

    def _out(self, s):
        print(s, flush=True)

    def check(self, cond, what, details=None):
        if cond:
            self.passed += 1
            self._out("ok - %s" % what)
        else:
            self.failed += 1
            msg = "not ok - %s" % what
            if details is not None:
                d = str(details).splitlines() or [""]
                msg += " (%s)" % d[0]
                if len(d) > 1:
                    msg += "\n" + "\n".join("#   " + l for l in d[1:])
            self.failures.append(msg.splitlines()[0])
            self._out(msg)
        return bool(cond)

    def eq(self, a, b, what, details=None):
        if a == b:
            return self.check(True, what)
        d = "got %r, want %r" % (a, b)
        if details is not None:
            d += "; %s" % details
        return self.check(False, what, d)

    def status(self, resp, want_status, want_code=None, what=""):
        """Check an api() result: status (int or tuple) and error code."""
        st, js, text = resp
        ws = want_status if isinstance(want_status, (tuple, list)) else (want_status,)
        ok = st in ws
        code = err_code(js)
        if want_code is not None and code != want_code:
            ok = False
        want = "/".join(str(x) for x in ws)
        if want_code:
            want += " " + want_code
        return self.check(ok, "%s -> %s" % (what, want),
                          None if ok else "got %d %s" % (st, text[:300]))

    def section(self, name):
        self._out("# -- %s" % name)
        return _Section(self, name)

    def note(self, s):
        for line in str(s).splitlines():
            self._out("# " + line)

    def _exception(self, where, et, ev, tb):
        self.failed += 1
        first = (str(ev).splitlines() or [""])[0]
        msg = "not ok - exception in %s: %s: %s" % (where, et.__name__, first)
        self.failures.append(msg)
        self._out(msg)
        for line in "".join(traceback.format_exception(et, ev, tb)).splitlines():
            self._out("#   " + line)

    def _hook(self, et, ev, tb):
        if issubclass(et, KeyboardInterrupt):
            self._prev_hook(et, ev, tb)
            return
        self._exception("test", et, ev, tb)
        self._summary()
        _final_cleanup()
        sys.stdout.flush()
        os._exit(1)

    def _collect(self):
        """Stop every gateway still running and turn their problems into failures."""
        _cleanup_all()
        while _problems:
            p = _problems.pop(0)
            self.check(False, "gateway process: " + p.splitlines()[0],
                       "\n".join(p.splitlines()[1:]) or None)

    def _summary(self):
        if self.finished:
            return
        self._collect()
        self.finished = True
        if self.failures:
            self._out("# failures:")
            for f in self.failures:
                self._out("#   " + f.replace("\n", "\n#   "))
        self._out("# %s: %.1fs" % (self.name, time.monotonic() - self.t0))
        self._out("%d passed, %d failed" % (self.passed, self.failed))

    def _atexit(self):
        if not self.finished:
            self._out("not ok - script ended without T.done()")
            self.failed += 1
            self._summary()
            _final_cleanup()
            sys.stdout.flush()
            os._exit(1)

    def skip(self, reason):
        """Exit 77 (automake SKIP): only when a prerequisite is truly absent."""
        self.finished = True
        self._out("# SKIP %s" % reason)
        _cleanup_all()
        sys.stdout.flush()
        sys.exit(77)

    def done(self):
        self._summary()
        _cleanup_all()
        sys.stdout.flush()
        sys.exit(0 if self.failed == 0 else 1)
