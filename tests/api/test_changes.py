#!/usr/bin/python3
"""GET /v1/hosts/self/changes: the change signal agents long-poll (DESIGN.md "Live sessions").
Answers at once when the host's tenant changed after `since`, else when it changes (approve,
deny, cancel, internal approve, revoke, sweeper, host disable, role removal) or after `wait`
seconds; hundreds of parked polls cost no thread (checks still answer at once); a client that
goes away, a restart with polls waiting and bad queries are handled. Also: POST /v1/check
records the optional `session` of a re-check."""
import re
import signal
import socket
import threading
import time

import lbtest
from lbtest import Gateway, api, err_code, world

T = lbtest.Runner("api/changes")
PATH = "/v1/hosts/self/changes"


class Poll(threading.Thread):
    """One long-poll in a thread: status, body, and when it was answered (monotonic)."""

    def __init__(self, gw, token, query, timeout=30):
        super().__init__(daemon=True)
        self.gw, self.token, self.query, self.timeout = gw, token, query, timeout
        self.status = self.js = self.error = self.at = None
        self.t0 = time.monotonic()
        self.start()

    def run(self):
        try:
            self.status, self.js, _ = api(self.gw, "GET", PATH + self.query, token=self.token,
                                          timeout=self.timeout)
        except Exception as e:  # the test looks at it
            self.error = repr(e)
        self.at = time.monotonic()


def poll(gw, token, query="", timeout=15):
    """A poll on this thread: (status, body, seconds it took)."""
    t0 = time.monotonic()
    st, js, _ = api(gw, "GET", PATH + query, token=token, timeout=timeout)
    return st, js, time.monotonic() - t0


def version(gw, token):
    st, js, _ = poll(gw, token)
    if st != 200:
        raise lbtest.ApiError("changes without since -> %d %r" % (st, js))
    return js["version"]


def waiting(gw):
    st, _, text = api(gw, "GET", "/metrics")
    m = re.search(r"^lockbox_changes_waiting (\d+)$", text, re.M)
    return int(m.group(1)) if st == 200 and m else None


def wait_parked(gw, n, timeout=20):
    """Until at least N polls are parked (they are counted once suspended)."""
    return lbtest.wait_until(lambda: (waiting(gw) or 0) >= n, timeout=timeout, step=0.05)


def approved(w, sub="A1", who="eng", approver="ownA1", **kw):
    r = w.new_request(who=who, sub=sub, **kw)
    w.must("POST", "/v1/requests/%s/approve" % r["id"], {}, who=approver)
    return r["id"]


def woken_by(gw, w, host, what, act):
    """Parks a poll of HOST at its current version, runs ACT, and checks the poll is answered
    changed within 1.5 s of it."""
    v = version(gw, w.tok[host])
    p = Poll(gw, w.tok[host], "?since=%d&wait=10" % v)
    T.check(wait_parked(gw, 1), "%s: the poll is parked" % what)
    t0 = time.monotonic()
    act()
    p.join(5)
    T.check(p.at is not None and p.at - t0 < 1.5, "%s wakes the poll within 1.5 s" % what,
            "answered after %s s" % (None if p.at is None else round(p.at - t0, 2)))
    T.eq((p.status, (p.js or {}).get("changed")), (200, True), "%s: 200, changed" % what)
    T.check((p.js or {}).get("version", 0) > v, "%s: a bigger version" % what, (v, p.js))


def main():
    gw = Gateway()
    gw.start()
    w = world(gw, gw.bootstrap())
    w.elevate("eng")
    w.elevate("eng2")
    hA1 = w.tok["hA1"]

    with T.section("without since: at once, with the current version"):
        st, js, dt = poll(gw, hA1)
        T.eq(st, 200, "200")
        T.check(isinstance((js or {}).get("version"), int), "version is an integer", js)
        T.eq((js or {}).get("changed"), True, "changed: true (the host holds no version)")
        T.check(dt < 1, "answered at once", dt)
        T.check(abs(js["version"] / 1000 - time.time()) < 3600,
                "a fresh tenant's version is the gateway's start time in ms", js)
        v = js["version"]
        st, js, dt = poll(gw, hA1, "?since=%d&wait=10" % (v - 1))
        T.eq((st, js), (200, {"version": v, "changed": True}), "an older since: changed at once")
        T.check(dt < 1, "at once", dt)
        st, js, dt = poll(gw, hA1, "?wait=10")
        T.check(st == 200 and js["changed"] and dt < 1, "wait without since: at once", (st, js, dt))

    with T.section("since = current version"):
        v = version(gw, hA1)
        st, js, dt = poll(gw, hA1, "?since=%d&wait=0" % v)
        T.eq((st, js), (200, {"version": v, "changed": False}), "wait=0: unchanged")
        T.check(dt < 1, "wait=0 answers at once", dt)
        st, js, dt = poll(gw, hA1, "?since=%d&wait=2" % v)
        T.eq((st, js), (200, {"version": v, "changed": False}), "wait=2: unchanged")
        T.check(1.8 <= dt < 4, "wait=2 answers after about 2 s", round(dt, 2))
        st, js, dt = poll(gw, hA1, "?since=%d&wait=1" % v)
        T.check(st == 200 and js["changed"] is False and 0.8 <= dt < 3, "wait=1", (st, js, dt))

    with T.section("what wakes a parked poll"):
        r = approved(w)
        woken_by(gw, w, "hA1", "revoke",
                 lambda: w.must("POST", "/v1/requests/%s/revoke" % r, {"reason": "done"}, who="ownA1"))
        r = w.new_request(sub="A1")["id"]
        woken_by(gw, w, "hA1", "approve",
                 lambda: w.must("POST", "/v1/requests/%s/approve" % r, {}, who="ownA1"))
        r = w.new_request(sub="A1")["id"]
        woken_by(gw, w, "hA1", "deny",
                 lambda: w.must("POST", "/v1/requests/%s/deny" % r, {"reason": "no"}, who="gadmA"))
        r = w.new_request(sub="A1")["id"]
        woken_by(gw, w, "hA1", "cancel",
                 lambda: w.must("POST", "/v1/requests/%s/cancel" % r, {}, who="eng"))
        r = w.new_request(scope="tenant", hosts=["*"])
        T.eq(r["state"], "internal_review", "a tenant-scope request waits for internal review")
        woken_by(gw, w, "hA1", "internal approve",
                 lambda: w.must("POST", "/v1/requests/%s/internal-approve" % r["id"], {}, who="iapp"))
        r = approved(w, who="eng2")
        roles = w.must("GET", "/v1/role-assignments?user=%s" % w.user["eng2"])["items"]
        rid = [x["id"] for x in roles if x["role"] == "engineer"][0]
        woken_by(gw, w, "hA1", "removing the engineer role of a user with a grant",
                 lambda: w.must("DELETE", "/v1/role-assignments", {"id": rid}))
        woken_by(gw, w, "hA2", "disabling the host itself",
                 lambda: w.must("POST", "/v1/hosts/%s/disable" % w.host["hA2"]["id"]))
        r = approved(w, duration="2s")
        v = version(gw, hA1)
        p = Poll(gw, hA1, "?since=%d&wait=15" % v)
        p.join(10)
        T.check(p.at is not None and (p.js or {}).get("changed") is True,
                "the sweeper completing a 2 s grant wakes the poll", (p.status, p.js, p.error))

    with T.section("a change in another tenant does not wake it"):
        vb = version(gw, w.tok["hB1"])
        p = Poll(gw, w.tok["hB1"], "?since=%d&wait=2" % vb)
        T.check(wait_parked(gw, 1), "the tenant B poll is parked")
        r = approved(w)
        w.must("POST", "/v1/requests/%s/revoke" % r, {"reason": "done"}, who="ownA1")
        p.join(6)
        T.eq((p.status, p.js), (200, {"version": vb, "changed": False}),
             "tenant B: unchanged after tenant A's approve and revoke")
        T.check(p.at is not None and p.at - p.t0 >= 1.8, "only when its wait ended",
                None if p.at is None else round(p.at - p.t0, 2))

    with T.section("bad queries"):
        v = version(gw, hA1)
        for q in ("wait=61", "wait=-1", "wait=abc", "wait=", "wait=1.5", "since=-5", "since=abc",
                  "since=", "since=99999999999999999999", "since=%d&wait=100" % v):
            st, js, _ = api(gw, "GET", PATH + "?" + q, token=hA1)
            T.eq((st, err_code(js)), (400, "bad_query"), "?%s -> 400 bad_query" % q)
        st, js, dt = poll(gw, hA1, "?since=%d&wait=60" % (v + 1))
        T.check(st == 200 and js["changed"] and dt < 1, "wait=60 is allowed", (st, js))

    with T.section("who may call"):
        for who in ("admin", "eng", "iapp", "gadmA", "lbappA", "ownA1", "custA", "gadmB",
                    "custB", "nobody"):
            st, js, _ = w.call("GET", PATH, who=who)
            T.eq((st, err_code(js)), (403, "forbidden"), "user %s -> 403" % who)
        T.eq(api(gw, "GET", PATH)[0], 401, "no token -> 401")
        T.eq(api(gw, "GET", PATH, token="lbh_" + "0" * 64)[0], 401, "unknown host token -> 401")
        T.eq(api(gw, "GET", PATH, token="garbage")[0], 401, "malformed token -> 401")
        st, js, _ = api(gw, "POST", PATH, body={}, token=hA1)
        T.eq((st, err_code(js)), (405, "method_not_allowed"), "POST -> 405")

    with T.section("300 parked polls hold no thread"):
        base = waiting(gw) or 0
        r = approved(w)
        v = version(gw, hA1)
        polls = [Poll(gw, hA1, "?since=%d&wait=60" % v, timeout=90) for _ in range(300)]
        T.check(wait_parked(gw, base + 300, timeout=30), "300 polls parked",
                "waiting=%s" % waiting(gw))
        slow = []
        for i in range(20):
            t0 = time.monotonic()
            st, js, _ = w.call("POST", "/v1/check", {"user": "eng", "service": "sshd"}, who="hA1",
                               timeout=5)
            dt = time.monotonic() - t0
            if st != 200 or js.get("decision") != "allow" or dt >= 1:
                slow.append((i, st, round(dt, 3)))
        T.eq(slow, [], "20 checks answer (allow) within 1 s each while they wait")
        T.eq(api(gw, "GET", "/healthz")[0], 200, "healthz too")
        t0 = time.monotonic()
        w.must("POST", "/v1/requests/%s/revoke" % r, {"reason": "done"}, who="ownA1")
        end = time.monotonic() + 10
        for p in polls:
            p.join(max(0.1, end - time.monotonic()))
        got = [p for p in polls if p.status == 200 and (p.js or {}).get("changed") is True]
        T.eq(len(got), 300, "all 300 answered changed after the revoke",
             [(p.status, p.js, p.error) for p in polls if p not in got][:3])
        late = max((p.at - t0 for p in got), default=0)
        T.check(late < 5, "within 5 s", round(late, 2))
        T.check(lbtest.wait_until(lambda: waiting(gw) == base, timeout=5),
                "lockbox_changes_waiting back to %d" % base, waiting(gw))

    with T.section("clients that go away while parked"):
        v = version(gw, hA1)
        socks = []
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            s.sendall(("GET %s?since=%d&wait=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Authorization: Bearer %s\r\n\r\n" % (PATH, v, 1 if i % 2 else 10, hA1)).encode())
            socks.append(s)
        T.check(wait_parked(gw, 20), "20 raw polls parked")
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        time.sleep(1.5)  # the wait=1 half is answered into closed sockets
        r = approved(w)  # wakes the wait=10 half
        T.check(lbtest.wait_until(lambda: waiting(gw) == 0, timeout=5),
                "every one left the list", waiting(gw))
        T.eq(api(gw, "GET", "/healthz")[0], 200, "the gateway still answers /healthz")
        T.check(gw.alive(), "and runs")

    with T.section("check: the session of a re-check"):
        st, js, _ = w.call("POST", "/v1/check", {"user": "eng", "service": "sshd",
                                                 "session": "sess-0001"}, who="hA1")
        T.eq(st, 200, "a check with a session -> 200")
        evs = w.must("GET", "/v1/audit/events?host=hA1&type=access.check.%s&limit=200" %
                     js.get("decision", "allow"))["items"]
        ev = [e for e in evs if e["id"] == js.get("decision_id")]
        T.eq(ev and ev[0]["details"].get("session"), "sess-0001", "details.session is recorded")
        js = w.check("hA1", "eng")
        evs = w.must("GET", "/v1/audit/events?host=hA1&type=access.check.%s&limit=200" %
                     js["decision"])["items"]
        ev = [e for e in evs if e["id"] == js["decision_id"]]
        T.check(ev and "session" not in ev[0]["details"], "no session: none recorded")
        for bad, code in (("s" * 65, "bad_value"), ("", "bad_value"), (5, "bad_type"),
                          ("a\nb", "bad_text")):
            st, js, _ = w.call("POST", "/v1/check", {"user": "eng", "service": "sshd",
                                                     "session": bad}, who="hA1")
            T.eq((st, err_code(js)), (400, code), "session %r -> 400 %s" % (bad if len(str(bad)) < 10 else "65 chars", code))
        st, js, _ = w.call("POST", "/v1/check", {"user": "eng", "service": "sshd",
                                                 "session": "s" * 64}, who="hA1")
        T.eq(st, 200, "a 64-char session -> 200")

    with T.section("SIGTERM with 50 polls parked"):
        v = version(gw, hA1)
        polls = [Poll(gw, hA1, "?since=%d&wait=60" % v, timeout=20) for _ in range(50)]
        T.check(wait_parked(gw, 50), "50 polls parked")
        t0 = time.monotonic()
        rc = gw.stop(timeout=10)
        dt = time.monotonic() - t0
        T.eq(rc, 0, "exit status 0")
        T.check(dt < 5, "exits within 5 s", round(dt, 2))
        end = time.monotonic() + 5
        for p in polls:
            p.join(max(0.1, end - time.monotonic()))
        T.check(all(p.at is not None for p in polls), "every poll got an answer or a close")
        answered = [p for p in polls if p.status == 200]
        T.check(all(p.js == {"version": v, "changed": False} for p in answered),
                "those answered: unchanged (%d of 50)" % len(answered),
                [p.js for p in answered][:3])
        gw.start()
        st, js, dt = poll(gw, hA1, "?since=%d&wait=10" % v)
        T.check(st == 200 and js["changed"] is True and js["version"] > v and dt < 1,
                "after the restart a version from before never matches", (st, js, dt))
    gw.close()

    with T.section("over TLS"):
        with Gateway(tls=True) as tg:
            tg.start()
            tw = world(tg, tg.bootstrap())
            tw.elevate("eng")
            r = tw.new_request(sub="A1")["id"]
            woken_by(tg, tw, "hA1", "approve over HTTPS",
                     lambda: tw.must("POST", "/v1/requests/%s/approve" % r, {}, who="ownA1"))
            st, js, dt = poll(tg, tw.tok["hA1"], "?since=%d&wait=1" % version(tg, tw.tok["hA1"]))
            T.check(st == 200 and js["changed"] is False and 0.8 <= dt < 3,
                    "an unchanged poll over HTTPS", (st, js, dt))


if __name__ == "__main__":
    main()
    T.done()
