#!/usr/bin/python3
"""pgcluster: a private, throwaway PostgreSQL cluster for the tests (Python 3 stdlib only).

One cluster per test process, started on first use (shared()), in a fresh temp dir owned by
the user postgres (the server refuses to run as root): initdb, then pg_ctl start on a free
loopback port with its Unix socket in that dir; never the system cluster, never port 5432.
Each lbtest.Gateway gets its own database (create_database()) owned by the role the gateways
log in as ("lockbox": no superuser, password over TCP on 127.0.0.1, scram-sha-256); the
superuser postgres is reached through the private socket only (trust: only root and postgres
can enter the 0700 dir). The cluster is stopped (pg_ctl stop -m fast, then harder) and the
dir removed at exit, also when the test fails; lbtest arranges the order (gateways first).

    python3 pgcluster.py --run-variant FILE   the wrapper make check runs for api/*-pg.pgpy:
        FILE holds the path of an API test (relative to tests/); runs it with
        LB_TEST_STORE=postgresql. LB_TEST_PG=0 skips the variant (exit 77), LB_TEST_PG=require
        makes a missing PostgreSQL an error instead of a skip.
    python3 pgcluster.py --self-test          start, query, stop, check nothing is left.

Costs (2 CPUs, fsync off): initdb + start about 1.5 s once per test process, a database
about 0.1-0.3 s per Gateway.
"""

import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

__all__ = ["Cluster", "Unavailable", "DbError", "available", "shared", "shutdown",
           "pg_literal", "pg_params"]

OWNER = "lockbox"            # the role the gateways log in as; owns every test database
START_TIMEOUT = 60           # s: initdb, pg_ctl start, pg_isready: each bounded
STOP_TIMEOUT = 30
QUERY_TIMEOUT = 60


class Unavailable(Exception):
    """PostgreSQL cannot run here (not root, no binaries, no user postgres)."""


class DbError(Exception):
    """A statement failed (e.g. refused by a trigger); str() is the server's message."""


def bindir():
    """The PostgreSQL server binaries: $LB_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin."""
    d = os.environ.get("LB_PG_BINDIR")
    if d:
        return d
    cands = [p for p in glob.glob("/usr/lib/postgresql/*/bin")
             if os.path.exists(os.path.join(p, "initdb"))]

    def ver(p):
        try:
            return float(p.split("/")[-2])
        except ValueError:
            return 0.0
    return max(cands, key=ver) if cands else None


def available():
    """None when a private cluster can be started here, else the reason why not."""
    if os.geteuid() != 0:
        return "not root: the private PostgreSQL cluster runs as the user postgres"
    b = bindir()
    if not b:
        return "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin; contrib/deps.sh installs them)"
    for exe in ("initdb", "pg_ctl", "pg_isready", "psql", "pg_dump"):
        if not os.access(os.path.join(b, exe), os.X_OK):
            return "%s missing in %s" % (exe, b)
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no user postgres"
    return None


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_literal(v):
    """A Python value as an SQL literal (standard_conforming_strings is on by default)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (bytes, bytearray)):
        return "'\\x%s'::bytea" % bytes(v).hex()
    s = str(v)
    if "\0" in s:
        raise ValueError("NUL in an SQL string")
    return "'" + s.replace("'", "''") + "'"


def pg_params(query, params=()):
    """Replaces each ? outside quotes (SQLite's placeholders) by the literal of the next
    parameter, so that the same SQL text runs on both backends."""
    params = list(params or ())
    out, i, q = [], 0, None
    for ch in query:
        if q:
            out.append(ch)
            if ch == q:
                q = None
        elif ch in ("'", '"'):
            q = ch
            out.append(ch)
        elif ch == "?":
            if i >= len(params):
                raise ValueError("more ? than parameters in %r" % query)
            out.append(pg_literal(params[i]))
            i += 1
        else:
            out.append(ch)
    if i != len(params):
        raise ValueError("%d parameters for %d ? in %r" % (len(params), i, query))
    return "".join(out)


class Cluster:
    """A private cluster: start(), create_database(), uri(), psql(), query(), stop()."""

    def __init__(self):
        self.dir = None
        self.data = None
        self.port = None
        self.password = None
        self.bin = None
        self.pid = None          # the postmaster's pid
        self.started = False
        self._pw = None

    # -- running things as postgres

    def _env(self):
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC",
               "PGTZ": "UTC", "HOME": self.dir or "/"}
        return env

    def _as_postgres(self, args, timeout, input=None):
        return subprocess.run(args, cwd=self.dir, env=self._env(), user=self._pw.pw_uid,
                              group=self._pw.pw_gid, extra_groups=[], stdin=None if input else
                              subprocess.DEVNULL, input=input, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, universal_newlines=True)

    def _bin(self, name):
        return os.path.join(self.bin, name)

    # -- lifecycle

    def start(self):
        why = available()
        if why:
            raise Unavailable(why)
        self.bin = bindir()
        self._pw = pwd.getpwnam("postgres")
        self.dir = tempfile.mkdtemp(prefix="lbpg-")          # 0700; the socket lives here too
        _all.append(self)                                    # shutdown() stops every cluster
        os.chown(self.dir, self._pw.pw_uid, self._pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.password = secrets.token_hex(16)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        os.chown(pwfile, self._pw.pw_uid, self._pw.pw_gid)
        os.chmod(pwfile, 0o600)
        try:
            # local (the private socket): trust; host (127.0.0.1 only, see listen_addresses):
            # scram-sha-256 with a password made here. -N: no fsync, the data is thrown away.
            r = self._as_postgres([self._bin("initdb"), "-D", self.data, "-U", "postgres",
                                   "--auth-local=trust", "--auth-host=scram-sha-256",
                                   "--pwfile", pwfile, "-E", "UTF8", "--no-locale", "-N"],
                                  timeout=START_TIMEOUT)
            if r.returncode != 0:
                raise RuntimeError("initdb failed (%d): %s" % (r.returncode, r.stderr[-800:]))
            for attempt in range(3):       # the free port may be taken between bind and listen
                self.port = _free_port()
                # fsync=off (and no full_page_writes / synchronous_commit): a test cluster that
                # dies with the test needs no durability, and it saves much time on a busy disk.
                opts = ("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                        "-c shared_buffers=32MB -c log_min_messages=warning "
                        "-c log_min_error_statement=panic" % (self.dir, self.port))
                r = self._as_postgres([self._bin("pg_ctl"), "-D", self.data, "-l",
                                       os.path.join(self.dir, "server.log"), "-o", opts,
                                       "-w", "-t", str(START_TIMEOUT), "start"],
                                      timeout=START_TIMEOUT + 10)
                self._read_pid()
                if r.returncode == 0:
                    break
                log = self.log_tail()
                self._kill_postmaster()
                if "could not bind" not in log and "already in use" not in log:
                    raise RuntimeError("pg_ctl start failed (%d): %s\n%s"
                                       % (r.returncode, r.stderr[-500:], log))
            else:
                raise RuntimeError("pg_ctl start failed 3 times: %s" % self.log_tail())
            self.started = True
            end = time.monotonic() + START_TIMEOUT
            while True:
                r = subprocess.run([self._bin("pg_isready"), "-h", self.dir, "-p", str(self.port),
                                    "-t", "5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   universal_newlines=True, timeout=15)
                if r.returncode == 0:
                    break
                if time.monotonic() > end:
                    raise RuntimeError("PostgreSQL not ready within %ds: %s %s"
                                       % (START_TIMEOUT, r.stdout, self.log_tail()))
                time.sleep(0.1)
            self.psql("CREATE ROLE %s LOGIN PASSWORD %s" % (OWNER, pg_literal(self.password)),
                      user="postgres", db="postgres")
        except BaseException:
            self.stop()
            raise
        return self

    def _read_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                self.pid = int(f.readline().strip())
        except (OSError, ValueError):
            pass

    def _alive(self, pid):
        if not pid:
            return False
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(") ", 1)[-1][:1] != "Z"
        except OSError:
            return False

    def processes(self):
        """Pids of processes whose command line names this cluster's dir (postmaster, psql...)."""
        out = []
        if not self.dir:
            return out
        for p in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(p, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            pid = int(p.split("/")[2])
            if self.dir in cmd and pid != os.getpid() and self._alive(pid):
                out.append(pid)
        return out

    def _kill_postmaster(self):
        self._read_pid()
        pid = self.pid
        if not self._alive(pid):
            return
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):   # fast, immediate, kill
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            end = time.monotonic() + 10
            while time.monotonic() < end and self._alive(pid):
                time.sleep(0.05)
            if not self._alive(pid):
                return

    def stop(self):
        """pg_ctl stop -m fast (bounded), harder if need be; removes the dir. Idempotent."""
        if not self.dir:
            return
        try:
            if self.data and os.path.exists(os.path.join(self.data, "postmaster.pid")):
                self._read_pid()
                try:
                    self._as_postgres([self._bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                                       "-t", str(STOP_TIMEOUT), "stop"], timeout=STOP_TIMEOUT + 10)
                except (subprocess.TimeoutExpired, OSError):
                    pass
            self._kill_postmaster()
            # backends exit with their postmaster; wait for the last of them (bounded)
            end = time.monotonic() + 10
            while self.processes() and time.monotonic() < end:
                time.sleep(0.05)
            for pid in self.processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            if not os.environ.get("LB_KEEP_TMP"):
                shutil.rmtree(self.dir, ignore_errors=True)
            self.started = False
            self.dir_removed = self.dir
            self.dir = None

    def log_tail(self, n=20):
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except (OSError, TypeError):
            return ""

    # -- databases and SQL

    def create_database(self, name=None):
        name = name or "lbgw_" + secrets.token_hex(6)
        self.psql('CREATE DATABASE "%s" OWNER %s' % (name, OWNER), user="postgres",
                  db="postgres", single=False)
        return name

    def has_database(self, name):
        r = self.query("SELECT 1 FROM pg_database WHERE datname = ?", (name,), db="postgres",
                       user="postgres")
        return bool(r)

    def uri(self, db):
        """What a gateway writes as database = ...: the owner role over TCP with its password."""
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (OWNER, self.password, self.port, db)

    def psql(self, sql, db, user=OWNER, single=True, timeout=QUERY_TIMEOUT):
        """Runs SQL (one or more statements) through psql over the private socket, in one
        transaction unless single=False; returns stdout; raises DbError on failure."""
        args = [self._bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", self.dir, "-p", str(self.port), "-U", user, "-d", db]
        if single:
            args.append("-1")
        # bounded waits for locks held by a gateway (or a test holding them on purpose)
        text = "SET statement_timeout = '30s';\nSET lock_timeout = '20s';\n" + sql + "\n"
        if not single:
            args += ["-c", sql]
            text = None
        else:
            args += ["-f", "-"]
        r = subprocess.run(args, input=text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=None if text is not None else subprocess.DEVNULL,
                           timeout=timeout, universal_newlines=True, env=self._env())
        if r.returncode != 0:
            msg = r.stderr.strip()
            for line in msg.splitlines():
                if "ERROR:" in line:
                    msg = line.split("ERROR:", 1)[1].strip()
                    break
            raise DbError(msg or "psql exited with %d" % r.returncode)
        return r.stdout

    def query(self, sql, params=(), db=None, user=OWNER):
        """Rows of a SELECT as a list of tuples (ints as int, NULL as None, json as its text,
        everything else as PostgreSQL's text form). SQL may use ? placeholders."""
        q = pg_params(sql, params).strip().rstrip(";")
        out = self.psql("SELECT row_to_json(lbtest_row) FROM (%s) AS lbtest_row;" % q, db=db,
                        user=user)
        rows = []
        for line in out.splitlines():
            if not line.strip():
                continue
            pairs = json.loads(line, object_pairs_hook=_Pairs)
            rows.append(tuple(_flat(v) for _, v in pairs))
        return rows

    def dump(self, db, user=OWNER):
        """The database's data as pg_dump writes it (text), for 'is this secret anywhere'."""
        r = subprocess.run([self._bin("pg_dump"), "--no-password", "-a",
                            "-h", self.dir, "-p", str(self.port), "-U", user, db],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=QUERY_TIMEOUT,
                           env=self._env())
        if r.returncode != 0:
            raise DbError(r.stderr.decode(errors="replace").strip())
        return r.stdout


class _Pairs(list):
    def __init__(self, pairs):
        super().__init__(pairs)


def _flat(v):
    """A top-level value of row_to_json as SQLite's module would give it: nested JSON as text."""
    if isinstance(v, _Pairs):
        return json.dumps(dict(v), separators=(",", ":"))
    if isinstance(v, list):
        return json.dumps([json.loads(_flat(x)) if isinstance(x, _Pairs) else x for x in v])
    return v


_shared = None
_all = []


def shared():
    """The cluster of this process, started on first call (raises Unavailable/RuntimeError).
    The caller stops it with shutdown() (lbtest does, after its gateways)."""
    global _shared
    if _shared is None or not _shared.started:
        c = Cluster()
        _shared = c
        c.start()
    return _shared


def shutdown():
    """Stops every cluster this process started (the shared one and any other)."""
    global _shared
    _shared = None
    while _all:
        _all.pop().stop()


# ---------------------------------------------------------------- the make check wrapper


def run_variant(path):
    """exec the API test named in PATH (an api/*-pg.pgpy file) with LB_TEST_STORE=postgresql."""
    with open(path) as f:
        rel = f.read().strip()
    mode = os.environ.get("LB_TEST_PG", "1")
    print("# PostgreSQL variant of %s" % rel, flush=True)
    if mode == "0":
        print("# SKIP the PostgreSQL variant is switched off (LB_TEST_PG=0)", flush=True)
        return 77
    why = available()
    if why:
        print("# %s PostgreSQL variant: %s" % ("ERROR" if mode == "require" else "SKIP", why),
              flush=True)
        return 99 if mode == "require" else 77
    top = os.environ.get("LB_TOP_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    test = os.path.join(top, "tests", rel)
    env = dict(os.environ, LB_TEST_STORE="postgresql")
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-B", test], env)


def self_test():
    c = Cluster()
    t0 = time.monotonic()
    c.start()
    t1 = time.monotonic()
    db = c.create_database()
    t2 = time.monotonic()
    rows = c.query("SELECT 1 AS a, ? AS b, NULL AS c, '{\"x\": 1}'::json AS d", ("it's",), db=db)
    pid, d = c.pid, c.dir
    c.stop()
    left = [p for p in glob.glob("/proc/[0-9]*/cmdline") if d in open(p, "rb").read().decode("utf-8", "replace")]
    print("start %.2fs, database %.2fs, rows %r, postmaster %d, left %r, dir gone %s"
          % (t1 - t0, t2 - t1, rows, pid, left, not os.path.exists(d)))
    return 0 if rows == [(1, "it's", None, '{"x":1}')] and not left and not os.path.exists(d) else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--run-variant":
        sys.exit(run_variant(sys.argv[2]))
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        sys.exit(self_test())
    print(__doc__)
    sys.exit(2)
