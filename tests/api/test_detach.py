"""lockbox-gatewayd without --foreground: it detaches only once it listens, and then serves
writes (the store's writer thread must exist in the detached process), answers checks,
stops on SIGTERM; a start that fails is reported on stderr and in the exit status."""

import os
import signal
import time

import lbtest
from lbtest import api

T = lbtest.Runner("api/detach")


def daemon_pids(conf):
    """Pids of processes whose command line names CONF (ours: a private temp path)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if conf.encode() in argv and any(a.endswith(b"lockbox-gatewayd") for a in argv):
            pids.append(int(d))
    return pids


def stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    # after "(comm)": state ppid pgrp session ...
    rest = s[s.rindex(")") + 2:].split()
    return {"ppid": int(rest[1]), "pgrp": int(rest[2]), "session": int(rest[3])}


def kill_all(conf):
    for pid in daemon_pids(conf):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def main():
    gw = lbtest.Gateway()
    admin = gw.bootstrap()
    pid = None
    try:
        with T.section("start without --foreground"):
            t0 = time.monotonic()
            r = gw.run("-c", gw.conf, timeout=30)
            T.eq(r.returncode, 0, "the starting process exits 0 once the gateway listens",
                 r.stderr[-400:])
            T.check(time.monotonic() - t0 < 20, "and it does so within 20 s")
            # no retry: the parent exits only after the child listens
            st, js, _ = api(gw, "GET", "/healthz", timeout=5)
            T.eq(st, 200, "GET /healthz answers as soon as the starting process returned")
            pids = daemon_pids(gw.conf)
            T.eq(len(pids), 1, "exactly one detached gateway process", pids)
            pid = pids[0] if pids else None

        if pid:
            with T.section("the detached process"):
                f = stat_fields(pid)
                T.eq(f["session"], pid, "it leads its own session (setsid)")
                T.check(f["ppid"] != os.getpid(), "it is not our child", f)
                for fd in (0, 1, 2):
                    T.eq(os.readlink("/proc/%d/fd/%d" % (pid, fd)), "/dev/null",
                         "its fd %d is /dev/null" % fd)
                T.eq(os.readlink("/proc/%d/cwd" % pid), "/", "its working directory is /")

        with T.section("writes work in the detached gateway (the store's writer is there)"):
            t0 = time.monotonic()
            w = lbtest.world(gw, admin)
            T.check(time.monotonic() - t0 < 60, "the whole fixture is built through writes")
            for i in range(20):
                t1 = time.monotonic()
                st, js, _ = api(gw, "POST", "/v1/check",
                                {"user": "root", "service": "sshd", "rhost": "10.0.0.5",
                                 "tty": "ssh"}, token=w.host["hA1"]["token"], timeout=10)
                if st != 200 or time.monotonic() - t1 > 5:
                    break
            T.eq(st, 200, "20 checks (each writes its audit event) answer 200")
            T.eq(js.get("decision") if js else None, "deny",
                 "and deny (no approved request)")
            T.check(time.monotonic() - t1 < 5, "each within 5 s")
            st, js, _ = api(gw, "GET", "/v1/audit/events?type=access.check.deny&limit=50",
                            token=admin, timeout=10)
            n = len(js.get("items", [])) if st == 200 and js else -1
            T.check(n >= 20, "the 20 decisions are in the audit store (%d found)" % n)
            st, js, _ = api(gw, "GET", "/v1/audit/verify", token=admin, timeout=30)
            T.check(st == 200 and js and js.get("ok") is True, "the audit chain verifies",
                    js)

        with T.section("a second start on the same port fails, on stderr and in the status"):
            r = gw.run("-c", gw.conf, timeout=30)
            T.eq(r.returncode, 1, "exit status 1", r.stderr[-400:])
            T.check("cannot listen" in r.stderr, "stderr says it cannot listen",
                    r.stderr.strip()[-300:])
            T.eq(len(daemon_pids(gw.conf)), 1, "no second process stays behind")

        if pid:
            with T.section("SIGTERM stops it"):
                os.kill(pid, signal.SIGTERM)
                lbtest.wait_until(lambda: not os.path.exists("/proc/%d" % pid), timeout=15)
                T.check(not os.path.exists("/proc/%d" % pid), "gone within 15 s")
                pid = None

        with T.section("a start that cannot open its database fails before detaching"):
            bad = os.path.join(gw.tmp, "bad.conf")
            blocker = os.path.join(gw.tmp, "not-a-dir")
            with open(blocker, "w") as f:
                f.write("x")
            with open(bad, "w") as f:
                f.write("listen = http://127.0.0.1:%d\ndatabase = sqlite://%s/sub/gw.db\n"
                        % (lbtest.free_port(), blocker))
            r = gw.run("-c", bad, timeout=30)
            T.eq(r.returncode, 1, "exit status 1", r.stderr[-400:])
            T.check("lockbox-gatewayd:" in r.stderr and blocker in r.stderr,
                    "stderr names the database", r.stderr.strip()[-300:])
            T.eq(daemon_pids(bad), [], "no process stays behind")
    finally:
        kill_all(gw.conf)
        gw.close()
    T.done()


main()
