#!/usr/bin/env python3
"""Three gateways on one PostgreSQL database (DESIGN.md "Several gateways", gatewayd.conf(5)
SEVERAL GATEWAYS): they behave as one.

- a request created on gw1, approved on gw2, allows a login checked on gw3;
- the change signal crosses gateways: an agent's long-poll parked on gw3 answers within 2 s of
  a revoke made on gw1 (PostgreSQL NOTIFY at commit);
- under bounded check load spread over the three, gw2 is killed with SIGKILL: every check
  answered 200 is in the audit store exactly once (its decision_id is the event's id), the
  chain verifies on the survivors, and no decision is lost or doubled;
- a grant's end is swept exactly once (one lockbox.request.complete, one notification per
  recipient across the three gateways' mail);
- the killed gateway restarts, catches up (answers, verifies the chain with the others'
  events) and its checks land in the same chain.

Runs in the normal build on a private cluster (tests/pgcluster.py); skips (77) without
PostgreSQL or with LB_TEST_PG=0 (the sanitizer build), and fails when LB_TEST_PG=require and
PostgreSQL is missing.
"""

import collections
import os
import signal
import threading
import time

import lbtest
import pgcluster

MODE = os.environ.get("LB_TEST_PG", "1")
if MODE == "0":
    print("# SKIP several gateways: PostgreSQL tests switched off (LB_TEST_PG=0)", flush=True)
    raise SystemExit(77)
why = pgcluster.available()
if why:
    print("# %s several gateways need PostgreSQL: %s"
          % ("ERROR" if MODE == "require" else "SKIP", why), flush=True)
    raise SystemExit(99 if MODE == "require" else 77)

T = lbtest.Runner("ha/several_gateways")
api = lbtest.api

LOAD_THREADS = 3
LOAD_CHECKS = 60          # per thread: bounded in count
LOAD_SECONDS = 60         # and in time
SIGNAL_BOUND = 2.0        # a revoke reaches an agent parked on another gateway


def gateway(first=None):
    """A gateway on the shared database: the first makes it, the others join it with the same
    keys (checkpoint signatures and TOTP secrets must open on every gateway)."""
    extra = "notify_interval = 1s\n"
    if first is not None:
        # any gateway may send any notification: all of them mail the first one's sink
        extra += "checkpoint_key_file = %s\ntotp_key_file = %s\n" % (
            os.path.join(first.tmp, "checkpoint.key"), os.path.join(first.tmp, "totp.key"))
        extra += "smtp_url = %s\nsmtp_from = lockbox@gateway.example.test\n" % first.mail.url
    gw = lbtest.Gateway(store="postgresql", conf_extra=extra, mail=first is None)
    if first is not None:
        gw.pgdb, gw.db_uri = first.pgdb, first.db_uri
        gw.write_conf(gw.conf_extra)
    return gw


gw1 = gateway()
gw1.start()
gw2 = gateway(gw1)
gw3 = gateway(gw1)
gws = [gw1, gw2, gw3]
try:
    gw2.start()
    gw3.start()
except RuntimeError as e:
    T.check(False, "the second and third gateway start on the shared database", e)
    T.done()

w = lbtest.world(gw1, gw1.bootstrap())
host_tok = w.host["hA1"]["token"]


def on(gw):
    """World calls go to GW from here on."""
    w.gw = gw
    return w


def all_mail():
    return gw1.mail.messages()   # the three gateways' one mail sink


def poll_changes(gw, since, wait=10):
    t0 = time.monotonic()
    st, js, _ = api(gw, "GET", "/v1/hosts/self/changes?since=%d&wait=%d" % (since, wait),
                    token=host_tok, timeout=wait + 5)
    return st, js, time.monotonic() - t0


try:
    with T.section("one request across three gateways"):
        on(gw1).elevate("eng", "1h")
        rid = on(gw1).new_request("eng")["id"]
        on(gw2).must("POST", "/v1/requests/%s/approve" % rid, {"reason": "ok"}, who="ownA1")
        a = on(gw3).check("hA1", "eng")
        T.eq(a.get("decision"), "allow", "created on gw1, approved on gw2, allowed on gw3", a)
        T.eq(on(gw1).must("GET", "/v1/requests/%s" % rid, who="ownA1")["state"], "approved",
             "gw1 reads the approval gw2 made")

    with T.section("the change signal crosses gateways"):
        st, js, _ = api(gw3, "GET", "/v1/hosts/self/changes", token=host_tok)
        T.eq(st, 200, "gw3 answers the host's change poll")
        v = js["version"]
        res = {}
        th = threading.Thread(target=lambda: res.update(r=poll_changes(gw3, v)))
        th.start()
        lbtest.wait_until(lambda: "lockbox_changes_waiting 1" in
                          api(gw3, "GET", "/metrics")[2], timeout=10, step=0.05)
        t0 = time.monotonic()
        # an unrelated request of the same tenant, revoked on gw1
        rid2 = on(gw1).new_request("eng")["id"]
        on(gw1).must("POST", "/v1/requests/%s/approve" % rid2, {"reason": "ok"}, who="ownA1")
        on(gw1).must("POST", "/v1/requests/%s/revoke" % rid2, {"reason": "done"}, who="ownA1")
        th.join(15)
        st, js, dt = res.get("r", (0, None, 99))
        took = time.monotonic() - t0
        T.check(st == 200 and js and js.get("changed") is True and took < SIGNAL_BOUND,
                "the poll parked on gw3 answers %.2f s after changes made on gw1 (bound %.0f s)"
                % (took, SIGNAL_BOUND), (st, js))

    with T.section("check load over three gateways, gw2 killed with SIGKILL"):
        answered = []          # (gateway index, decision_id, decision)
        failed = collections.Counter()
        lock = threading.Lock()
        stop_at = time.monotonic() + LOAD_SECONDS

        def load(k):
            for i in range(LOAD_CHECKS):
                if time.monotonic() > stop_at:
                    return
                g = (k + i) % 3
                try:
                    st, js, _ = api(gws[g], "POST", "/v1/check",
                                    {"user": "eng", "service": "sshd"}, token=host_tok, timeout=15)
                except Exception as e:  # noqa: BLE001 - a killed gateway drops connections
                    with lock:
                        failed[type(e).__name__] += 1
                    continue
                with lock:
                    if st == 200:
                        answered.append((g, js.get("decision_id"), js.get("decision")))
                    else:
                        failed[st] += 1

        ths = [threading.Thread(target=load, args=(k,)) for k in range(LOAD_THREADS)]
        for t in ths:
            t.start()
        lbtest.wait_until(lambda: len(answered) >= LOAD_THREADS * LOAD_CHECKS // 3,
                          timeout=LOAD_SECONDS, step=0.02)
        gw2.proc.send_signal(signal.SIGKILL)
        gw2.proc.wait(10)
        killed_after = len(answered)
        for t in ths:
            t.join(LOAD_SECONDS + 20)
        T.check(not any(t.is_alive() for t in ths), "the load ended (bounded)")
        T.check(killed_after > 0 and len(answered) > killed_after,
                "checks answered before (%d) and after (%d) the kill" %
                (killed_after, len(answered) - killed_after), dict(failed))
        T.check(all(d == "allow" for _, _, d in answered), "every answered check allowed")
        ids = [d for _, d, _ in answered]
        T.check(all(ids) and len(set(ids)) == len(ids), "every decision_id is new", len(ids))
        rows = gw1.sql("SELECT id, count(*) FROM audit WHERE type = 'access.check.allow' "
                       "GROUP BY id")
        counts = {r[0]: int(r[1]) for r in rows}
        missing = [d for d in ids if counts.get(d) is None]
        doubled = [i for i, n in counts.items() if n != 1]
        T.check(not missing, "every check answered 200 is in the audit store (%d)" % len(ids),
                missing[:5])
        T.check(not doubled, "each exactly once", doubled[:5])
        seqs = [int(r[0]) for r in gw1.sql("SELECT seq FROM audit ORDER BY seq")]
        T.check(seqs == list(range(1, len(seqs) + 1)), "the chain's seq is 1..%d without gaps"
                % len(seqs))
        for g in (gw1, gw3):
            v = on(g).must("GET", "/v1/audit/verify", expect=200)
            T.check(v.get("ok") is True and v.get("count", 0) >= len(seqs) - 5,
                    "the chain verifies on %s" % ("gw1" if g is gw1 else "gw3"), v)

    with T.section("a grant's end is swept exactly once across the gateways"):
        rid3 = on(gw3).new_request("eng", duration="5s")["id"]
        mail_before = len(all_mail())
        on(gw1).must("POST", "/v1/requests/%s/approve" % rid3, {"reason": "ok"}, who="ownA1")
        done = lbtest.wait_until(
            lambda: on(gw1).must("GET", "/v1/requests/%s" % rid3, who="ownA1")["state"]
            == "completed", timeout=20, step=0.2)
        T.check(done, "the grant completed within 20 s", rid3)
        time.sleep(3)   # three sweeps of each survivor after it: none may complete it again
        n = gw1.sql("SELECT count(*) FROM audit WHERE type = 'lockbox.request.complete' AND "
                    "request = ?", (rid3,))[0][0]
        T.eq(int(n), 1, "one lockbox.request.complete for it")
        rows = gw1.sql("SELECT recipient, count(*) FROM notifications WHERE request = ? AND "
                       "event = 'request.completed' GROUP BY recipient", (rid3,))
        T.check(rows and all(int(r[1]) == 1 for r in rows),
                "one completion notification per recipient queued", rows)
        lbtest.wait_until(lambda: not gw1.sql(
            "SELECT 1 FROM notifications WHERE request = ? AND state = 'pending'", (rid3,)),
            timeout=20, step=0.2)
        sent = [m for m in all_mail()[mail_before:] if rid3 in str(m)]
        ids = collections.Counter((m.get("Message-ID"), m.get("To")) for m in sent)
        T.check(sent and all(c == 1 for c in ids.values()),
                "each notification about it was mailed once by one of the three (%d)"
                % len(sent), ids)

    with T.section("the killed gateway restarts and catches up"):
        gw2.start()
        a = on(gw2).check("hA1", "eng")
        T.eq(a.get("decision"), "allow", "gw2 answers again: allow", a)
        v = on(gw2).must("GET", "/v1/audit/verify", expect=200)
        T.check(v.get("ok") is True, "gw2 verifies the chain with the others' events", v)
        n = gw1.sql("SELECT count(*) FROM audit WHERE id = ?", (a.get("decision_id"),))[0][0]
        T.eq(int(n), 1, "its decision is in the shared chain")

    with T.section("no notification was mailed twice"):
        lbtest.wait_until(lambda: not gw1.sql(
            "SELECT 1 FROM notifications WHERE state = 'pending'"), timeout=20, step=0.2)
        every = collections.Counter((m.get("Message-ID"), m.get("To")) for m in all_mail())
        T.check(every and all(c == 1 for c in every.values()),
                "%d mails, each (Message-ID, To) once" % len(every),
                [k for k, c in every.items() if c > 1][:5])
finally:
    for g in gws:
        g.close()

T.done()
