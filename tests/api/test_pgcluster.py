#!/usr/bin/python3
"""The private PostgreSQL cluster the API tests' PostgreSQL variants (api/*-pg.pgpy) run on
(tests/pgcluster.py): it starts as postgres on a free loopback port with its socket in a
private dir, answers, refuses a wrong password, stops and leaves no process and no dir behind,
also when the test using it fails, raises or is killed with SIGTERM; a gateway on it never
writes the database password into its log."""
import os
import pwd
import signal
import stat
import subprocess
import sys
import textwrap
import time

import lbtest
import pgcluster

T = lbtest.Runner("api/pgcluster")


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[-1][:1] != "Z"
    except OSError:
        return False


def procs_naming(d):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if d.encode() in f.read() and alive(int(p)):
                    out.append(int(p))
        except OSError:
            pass
    return out


def child(body, timeout=120, sigterm_after=None):
    """Runs BODY (Python) in a child with LB_TEST_STORE=postgresql; returns (rc, stdout, the
    cluster dir and postmaster pid it printed)."""
    code = "import lbtest, pgcluster, sys, time\n" + textwrap.dedent(body)
    env = dict(os.environ, LB_TEST_STORE="postgresql")
    p = subprocess.Popen([sys.executable, "-B", "-c", code], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True)
    d = pid = None
    if sigterm_after is not None:
        # wait for the line naming the cluster, then SIGTERM it as a harness timeout would
        line = ""
        end = time.monotonic() + timeout
        while time.monotonic() < end and "CLUSTER " not in line:
            line = p.stdout.readline()
            if not line:
                break
        if "CLUSTER " in line:
            _, d, pid = line.split()
            time.sleep(sigterm_after)
            p.send_signal(signal.SIGTERM)
        out = line + p.communicate(timeout=timeout)[0]
    else:
        out = p.communicate(timeout=timeout)[0]
    for line in out.splitlines():
        if line.startswith("CLUSTER "):
            _, d, pid = line.split()
    return p.returncode, out, d, int(pid) if pid else None


def left_behind(d, pid, what):
    gone = lbtest.wait_until(lambda: not alive(pid) and not procs_naming(d), timeout=15)
    T.check(gone, "%s: the postmaster (%d) and every process of the cluster are gone" % (what, pid),
            procs_naming(d))
    T.check(not os.path.exists(d), "%s: the cluster's dir %s is removed" % (what, d))


def main():
    mode = os.environ.get("LB_TEST_PG", "1")
    if mode == "0":
        T.skip("the PostgreSQL variants are switched off (LB_TEST_PG=0)")
    why = pgcluster.available()
    if why and mode == "require":
        T.check(False, "PostgreSQL is required here (LB_TEST_PG=require)", why)
        return
    if why:
        T.skip(why)
    pg = pwd.getpwnam("postgres")

    with T.section("start, answer, refuse what it must"):
        t0 = time.monotonic()
        c = pgcluster.Cluster().start()
        T.note("initdb + start + role: %.2fs" % (time.monotonic() - t0))
        st = os.stat(c.dir)
        T.check(st.st_uid == pg.pw_uid and stat.S_IMODE(st.st_mode) == 0o700,
                "its dir is postgres's, mode 0700 (the socket's only gate)", oct(st.st_mode))
        T.check(c.port != 5432 and os.path.exists(os.path.join(c.dir, ".s.PGSQL.%d" % c.port)),
                "a free port (%d, never 5432), the socket in the private dir" % c.port)
        with open("/proc/%d/status" % c.pid) as f:
            uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
        T.eq(int(uid), pg.pw_uid, "the postmaster runs as postgres")
        t0 = time.monotonic()
        db = c.create_database()
        T.note("CREATE DATABASE: %.2fs" % (time.monotonic() - t0))
        T.check(c.has_database(db), "a fresh database %s" % db)
        rows = c.query("SELECT current_setting('listen_addresses'), current_setting('fsync'), "
                       "current_user, ? AS s, ? AS n, NULL AS z, '{\"a\": [1]}'::jsonb AS j, "
                       "'a?b' AS q", ("it's ?", 7), db=db)
        T.eq(rows, [("127.0.0.1", "off", "lockbox", "it's ?", 7, None, '{"a":[1]}', "a?b")],
             "loopback only, fsync off, the owner role; ? placeholders, NULL, json, quotes")
        T.check(not c.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
                            db=db)[0][0], "the gateways' role is no superuser")
        psql = [os.path.join(c.bin, "psql"), "-X", "-A", "-t", "-h", "127.0.0.1", "-p",
                str(c.port), "-U", "lockbox", "-d", db, "-c", "SELECT 1"]
        r = subprocess.run(psql, env=dict(c._env(), PGPASSWORD="wrong"), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=30)
        T.check(r.returncode != 0 and "password" in r.stdout, "TCP with a wrong password: refused",
                r.stdout)
        r = subprocess.run(psql, env=dict(c._env(), PGPASSWORD=c.password), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=30)
        T.eq((r.returncode, r.stdout.strip()), (0, "1"), "TCP with the password: in")
        try:
            c.psql("SELECT no_such_function()", db=db)
            T.check(False, "an SQL error raises DbError")
        except pgcluster.DbError as e:
            T.check("no_such_function" in str(e), "an SQL error raises DbError (%s)" % e)
        T.eq(pgcluster.pg_params("SELECT ?, '?', \"?\" WHERE x = ?", (None, b"\x01")),
             "SELECT NULL, '?', \"?\" WHERE x = '\\x01'::bytea", "pg_params")
        d, pid = c.dir, c.pid
        t0 = time.monotonic()
        c.stop()
        T.note("stop: %.2fs" % (time.monotonic() - t0))
        left_behind(d, pid, "stop()")
        c.stop()   # idempotent

    with T.section("a test that raises: the cluster still stops"):
        rc, out, d, pid = child("""
            T = lbtest.Runner("child")
            c = lbtest.pg_cluster()
            print("CLUSTER", c.dir, c.pid, flush=True)
            T.check(True, "something")
            raise RuntimeError("boom")
            """)
        T.check(rc == 1 and "boom" in out and d, "the child fails (exit %s)" % rc, out[-600:])
        if d:
            left_behind(d, pid, "uncaught exception")

    with T.section("a test with a failed check: the cluster still stops"):
        rc, out, d, pid = child("""
            T = lbtest.Runner("child")
            c = lbtest.pg_cluster()
            print("CLUSTER", c.dir, c.pid, flush=True)
            T.check(False, "fails on purpose")
            T.done()
            """)
        T.check(rc == 1 and "1 failed" in out and d, "the child fails (exit %s)" % rc, out[-600:])
        if d:
            left_behind(d, pid, "failed check")

    with T.section("a test killed with SIGTERM (a harness timeout): the cluster still stops"):
        rc, out, d, pid = child("""
            T = lbtest.Runner("child")
            c = lbtest.pg_cluster()
            print("CLUSTER", c.dir, c.pid, flush=True)
            time.sleep(60)
            T.done()
            """, sigterm_after=0.2)
        T.check(rc not in (0, None) and d, "the child ends on SIGTERM (exit %s)" % rc, out[-600:])
        if d:
            left_behind(d, pid, "SIGTERM")

    with T.section("a gateway on the cluster: one database each, the same one again on its "
                   "tmpdir, the password never in its log"):
        rc, out, d, pid = child("""
            T = lbtest.Runner("child")
            tmp = lbtest.tmpdir()
            gw = lbtest.Gateway(tmpdir=tmp)
            c = lbtest.pg_cluster()
            print("CLUSTER", c.dir, c.pid, flush=True)
            gw.start()
            admin = gw.bootstrap()
            T.status(lbtest.api(gw, "POST", "/v1/tenants", {"name": "t"}, token=admin), 201, None,
                     "the gateway serves on PostgreSQL")
            T.eq(gw.sql("SELECT name FROM tenants"), [("t",)], "sql() reads its database")
            gw.close()
            gw2 = lbtest.Gateway(tmpdir=tmp)
            T.eq(gw2.pgdb, gw.pgdb, "a Gateway on the same tmpdir: the same database")
            gw3 = lbtest.Gateway()
            T.check(gw3.pgdb != gw.pgdb, "another Gateway: another database")
            T.check(c.password not in gw.log_text(),
                    "the gateway's log never shows the database password",
                    [l for l in gw.log_text().splitlines() if c.password in l][:2])
            gw2.close(); gw3.close()
            T.done()
            """)
        for line in out.splitlines():
            if line.startswith(("ok - ", "not ok - ")):
                T.check(line.startswith("ok - "), "gateway: " + line.split(" - ", 1)[1])
        T.check(d and "passed, 0 failed" in out, "the child passed (exit %s)" % rc, out[-800:])
        if d:
            left_behind(d, pid, "gateway")


main()
T.done()
