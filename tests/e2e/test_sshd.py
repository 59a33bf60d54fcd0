"""End to end: a real sshd with pam_lockbox, the real lockbox-agent, a real gateway, real SSH
clients.

sshd runs in a private mount namespace (tests/e2e/nsrun.sh): its /etc/pam.d, /etc/passwd,
/etc/group and /etc/shadow are test copies bind-mounted over the real ones (the test users
exist only there), /dev is a private tmpfs whose /dev/log is this test's syslog socket, /run
is a private tmpfs. The agent runs in a namespace made the same way (same /dev/log); the
module reaches it on agent_socket in the test's temp dir (tests/e2e/sshenv.py). Nothing on the
host changes. Clients: OpenSSH's ssh (BatchMode, key) and tests/e2e/lbssh_client (libssh)
which prints the PAM messages sshd relays (the banner sent before a refused publickey login is
cut off).

Scenario: denied with the reason shown -> elevation, request, approval -> login allowed ->
session.start/end in syslog and in the gateway's audit store with the decision id, the session
registered with the agent while it runs -> revoke -> denied; elevation activated after
approval -> denied; gateway killed mid-session -> login denied within the deadline, the
session's events kept on the host and delivered once (by the agent) when the gateway is back.
Live sessions ended by the agent: tests/e2e/test_live_sessions.py.

Skips (77) without root, unshare, sshd/ssh, or in sanitizer builds (sshd cannot load an ASan
module).
"""

import json
import os
import time

import sshenv
import lbtest  # noqa: E402  (sshenv puts tests/ and tests/pam on the path)

T = lbtest.Runner("e2e_sshd")
sshenv.require(T, lbssh_client=True)

TIMEOUT = 3
users = {"a": "lbe2e_a", "b": "lbe2e_b"}

# ------------------------------------------------------------------ gateway + fixture
gw = lbtest.Gateway(tls=True)
gw.start()
admin = gw.bootstrap()
w = lbtest.world(gw, admin)
for u in users.values():
    w.add_user(u, "provider", role="engineer")

# ------------------------------------------------------------------ the host: agent + sshd
h = sshenv.Host(T, gw, w, users.values(), timeout=TIMEOUT)
try:
    h.start_agent()
    h.start_sshd()
except Exception as e:  # noqa: BLE001
    T.check(False, "agent and sshd started", "%s\nagent:\n%s" % (e, h.agent_tail()))
    h.close()
    T.done()
syslog = h.log
events = h.log.events
ssh, client, audit = h.ssh, h.client, h.audit
audit_log = h.audit_log

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
                "syslog: access.check.deny reason=no_request", syslog.tail(5))

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
        T.check(bool(allow), "syslog: access.check.allow", syslog.tail(5))
        did = allow[-1]["decision_id"] if allow else "?"
        T.check(lbtest.wait_until(lambda: events("session.start", decision_id=did) and
                                  events("session.end", decision_id=did), timeout=10),
                "syslog: session.start and session.end with decision_id %s" % did,
                syslog.tail(8))
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
        w.elevate(b, "2s")  # an approval needs a running elevation; this one soon ends
        w.must("POST", "/v1/requests/%s/approve" % req_b["id"], {"reason": "ok"},
               who="ownA1")
        time.sleep(2.3)
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
        st = h.agent_status() or {}
        reg = [x for x in st.get("sessions", []) if x.get("session") == sid]
        T.check(len(reg) == 1 and reg[0].get("user") == a and
                str(reg[0].get("pid")) == events("session.start", user=a)[-1].get("pid"),
                "the agent holds the live session (user, the pid that opened it)", st)
        gw.kill9()
        out, err = long_ssh.communicate(timeout=30)
        T.check(b"done" in out, "the running session is not disturbed", err)
        T.check(lbtest.wait_until(lambda: events("session.end", session=sid), timeout=10),
                "session.end logged while the gateway is down")
        T.check(lbtest.wait_until(lambda: not [x for x in (h.agent_status() or {}).get(
            "sessions", [{}]) if x.get("session") == sid], timeout=5),
                "the agent dropped the session at its end", h.agent_status())
        r = ssh(a)
        T.check(r.rc == 255, "gateway down: login denied", r)
        T.check(r.elapsed < TIMEOUT + 4, "denied within the deadline (%.2fs)" % r.elapsed)
        T.check(lbtest.wait_until(lambda: events("access.check.deny", user=a,
                                                 reason="gateway_unreachable"), timeout=5),
                "syslog: reason gateway_unreachable")
        with open(audit_log) as f:
            # the host's own denies stay local: the gateway takes access.check.* from a host
            # only as copies of its own decisions (issue 13 item 7)
            local = [e["id"] for e in (json.loads(ln) for ln in f if ln.strip())
                     if not (e["type"].startswith("access.check.") and
                             str(e["details"].get("reason")).startswith(("gateway_", "agent_")))]
        cur = lbtest.audit_cursor(audit_log)
        T.check(cur < os.path.getsize(audit_log), "undelivered events wait in the local log")
        gw.start()
        r = ssh(a)
        T.check(r.rc == 0 and "lockbox-ok" in r.out, "gateway back: login works", r)
        T.check(lbtest.wait_until(lambda: lbtest.audit_cursor(audit_log) ==
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
    h.close()
    gw.close()
T.done()
