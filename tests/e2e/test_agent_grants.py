"""End to end: the host agent answers logins from the grants it holds (docs/API.md "Grants
held by the agent"), and fails closed whenever those may be stale.

The real gateway, the real lockbox-agent and a real sshd with pam_lockbox (tests/e2e/sshenv.py),
OpenSSH's client. Checked:

- a login with a current grant is allowed without a /v1/check at the gateway: the agent
  records access.check.allow itself (decided_by agent) in the local log, once (the module does
  not write it again), and delivers it; the gateway keeps it as a host decision, verified;
- what the held grants do not allow goes to the gateway: another user (no_request), another
  access type (wrong_access_type), and those denies are the gateway's;
- a revoke: the next login is denied within 1 s of the revoke's return (the change signal
  drops the held grants before they are fetched again);
- disabling the engineer's user, or removing their engineer role, ends their live session
  within 2 s (session.terminate reason user_disabled / not_engineer) and denies the next
  login with that reason (issue 12);
- the gateway killed: the held grants are dropped at once (the long-poll fails), a login is
  denied within timeout (gateway_unreachable) although the grant is still live;
- an extension approved while a session runs: the session goes on across the old grant's
  end and ends within 1 s after the extension's end (issue 18);
- the gateway frozen (SIGSTOP: the connection stays open, nothing answers): the held grants
  are used for at most 30 s after the last answer (25 s wait + 5 s), then logins are denied.

Skips (77) without root, unshare, sshd/ssh, or in sanitizer builds.
"""

import json
import os
import signal
import socket
import time

import sshenv
import lbtest  # noqa: E402

T = lbtest.Runner("e2e_agent_grants")
sshenv.require(T)

TIMEOUT = 3
LIVE_BOUND = 30 + 3   # the grants outlive a silent gateway by at most 30 s (+ test slack)
U = {k: "lbg_" + k for k in ("a", "b", "rdp", "dis", "role", "ext")}
HEARTBEAT = "echo LB-READY; i=0; while [ $i -lt 900 ]; do echo hb$i; i=$((i+1)); sleep 1; done"
REVOKE_BOUND = 2.0    # DESIGN.md: a revoke (any change that ends the grant) within 2 s

gw = lbtest.Gateway(tls=True)
gw.start()
w = lbtest.world(gw, gw.bootstrap())
for u in U.values():
    w.add_user(u, "provider", role="engineer")

h = sshenv.Host(T, gw, w, U.values(), timeout=TIMEOUT, prefix="lbgrants-")
try:
    h.start_agent()
    h.start_sshd()
except Exception as e:  # noqa: BLE001
    T.check(False, "agent and sshd started", "%s\nagent:\n%s" % (e, h.agent_tail()))
    h.close()
    T.done()


def read_answer(s):
    """One answer line from the agent on the connected socket S, parsed."""
    data = b""
    while not data.endswith(b"\n") and len(data) < 1 << 16:
        b = s.recv(65536)
        if not b:
            break
        data += b
    return json.loads(data.decode())


def ask(user, service="sshd", timeout=5.0):
    """The agent's answer to a check over its socket (as the module asks)."""
    q = json.dumps({"op": "check", "user": user, "service": service}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(h.agent_socket)
        s.sendall(q)
        return read_answer(s)


def grant(user, access="ssh", duration="1h"):
    w.elevate(user)
    req = w.new_request(who=user, access=access, duration=duration)
    w.must("POST", "/v1/requests/%s/approve" % req["id"], {"reason": "ok"}, who="ownA1")
    return req["id"]


def wait_grants(pred, what, timeout=10.0):
    end = time.monotonic() + timeout
    st = None
    while time.monotonic() < end:
        st = h.agent_status(1.0)
        if st and pred(st.get("grants") or {}):
            T.check(True, what)
            return st
        time.sleep(0.05)
    T.check(False, what, st)
    return st


def wait_held(key, timeout=10.0):
    """Wait (bounded) until KEY's own login is answered from the held grants: other users'
    grants are held too, so the agent's grant count says nothing about this one."""
    T.check(until(lambda: ask(U[key]).get("recorded") is True, timeout, step=0.1),
            "%s's grant is held within %.0f s" % (key, timeout))


def local_events(did):
    try:
        with open(h.audit_log) as f:
            return [e for e in (json.loads(ln) for ln in f if did in ln)
                    if e["type"].startswith("access.check.")]
    except OSError:
        return []


def until(fn, timeout, step=0.05):
    end = time.monotonic() + timeout
    v = fn()
    while not v and time.monotonic() < end:
        time.sleep(step)
        v = fn()
    return v


try:
    ra = grant(U["a"])
    wait_grants(lambda g: g.get("current") and g.get("count", 0) >= 1,
                "the agent holds the new grant within 10 s")

    with T.section("a login from the held grants: no check at the gateway"):
        before = len([e for e in h.audit(type="access.check.allow") if e["source"] == "gateway"])
        r = h.ssh(U["a"])
        T.check(r.rc == 0 and "lockbox-ok" in r.out, "the login is allowed", r)
        evs = h.log.wait("access.check.allow", timeout=5, user=U["a"])
        did = evs[-1].get("id") if evs else None
        T.check(did, "the module logged the allow to syslog", h.log.tail())
        loc = local_events(did) if did else []
        T.eq([e["type"] for e in loc], ["access.check.allow"],
             "one access.check.allow in the local log (the agent's; the module wrote none)")
        T.eq(loc and loc[0]["details"].get("decided_by"), "agent", "decided_by agent")
        T.eq(loc and loc[0].get("request"), ra, "it names the request")
        at_gw = until(lambda: [e for e in h.audit(type="access.check.allow") if e["id"] == did],
                      5.0)
        T.check(at_gw and at_gw[0]["source"] == "host" and
                at_gw[0]["details"].get("verified") is True,
                "delivered within 5 s: a host decision, verified by the gateway", at_gw)
        after = len([e for e in h.audit(type="access.check.allow") if e["source"] == "gateway"])
        T.eq(after, before, "the gateway made no check of its own for this login")
        a = ask(U["a"])
        T.eq((a["decision"], a.get("at_gateway"), a.get("recorded")), ("allow", False, True),
             "asked directly: allow, made and recorded by the agent", a)

    with T.section("silent and slow askers hold up no one"):
        # the accepting thread answers a held-grant login itself when its question is
        # there within 2 ms; a connection that sends nothing (or sends slowly) goes to a
        # worker thread and must not delay the next login
        silent = []
        for _ in range(20):
            s_ = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s_.settimeout(5)
            s_.connect(h.agent_socket)
            silent.append(s_)
        t0 = time.monotonic()
        a = ask(U["a"], timeout=3.0)
        el = time.monotonic() - t0
        T.check(a["decision"] == "allow" and el < 1.0,
                "with 20 silent connections open, a login is answered in %.3f s" % el, a)
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.settimeout(5)
        slow.connect(h.agent_socket)
        q = json.dumps({"op": "check", "user": U["a"], "service": "sshd"}).encode() + b"\n"
        slow.sendall(q[:10])
        time.sleep(0.05)
        slow.sendall(q[10:])
        got = read_answer(slow)
        slow.close()
        T.eq(got.get("decision"), "allow",
             "a question sent in two parts 50 ms apart is answered (by a worker)")
        t0 = time.monotonic()
        closed = 0
        for s_ in silent:
            try:
                got = s_.recv(4096)
                closed += 1 if (got == b"" or b"no question" in got) else 0
            except OSError:
                pass
            s_.close()
        T.eq(closed, 20, "the silent connections are answered 'no question' and closed")
        T.check(time.monotonic() - t0 < 4.5, "within the agent's 2 s read limit",
                time.monotonic() - t0)

    with T.section("what the held grants do not cover goes to the gateway"):
        a = ask(U["b"])
        T.eq((a["decision"], a["reason"], a.get("at_gateway")), ("deny", "no_request", True),
             "a user without a grant: the gateway's no_request", a)
        a = ask(U["a"], service="xrdp-sesman")
        T.eq((a["decision"], a["reason"], a.get("at_gateway")),
             ("deny", "wrong_access_type", True), "another access type: the gateway's deny", a)
        r = h.ssh(U["b"])
        T.check(r.rc != 0, "the login without a grant is denied", r)

    with T.section("a revoke: the next login is denied within 1 s"):
        w.must("POST", "/v1/requests/%s/revoke" % ra, {"reason": "done"}, who="ownA1")
        t0 = time.monotonic()
        first_deny = until(lambda: ask(U["a"])["decision"] == "deny", 1.0, step=0.02)
        T.check(first_deny, "denied within 1 s of the revoke", time.monotonic() - t0)
        a = ask(U["a"])
        T.eq((a["decision"], a["reason"]), ("deny", "revoked"), "the gateway's reason: revoked", a)
        r = h.ssh(U["a"])
        T.check(r.rc != 0, "the ssh login is denied", r)

    for key, reason in (("dis", "user_disabled"), ("role", "not_engineer")):
        with T.section("%s ends the live session within 2 s" % reason):
            grant(U[key])
            wait_held(key)
            live = h.live(U[key], HEARTBEAT)
            T.check(live.wait_for("LB-READY", timeout=20), "%s has a live session" % key,
                    live.text()[-500:])
            st = h.log.wait("session.start", user=U[key], timeout=5)
            sid = st[-1]["session"] if st else None
            if reason == "user_disabled":
                w.must("POST", "/v1/users/%s/disable" % w.user[U[key]], who="admin")
            else:
                w.must("DELETE", "/v1/role-assignments", {"user": w.user[U[key]],
                                                          "role": "engineer"}, who="admin")
            t0 = time.monotonic()
            live.wait_exit(REVOKE_BOUND + 10)
            took = (live.exit_mono - t0) if live.exit_mono else None
            T.check(took is not None and took < REVOKE_BOUND,
                    "the session ended %s after the change (bound %.0f s)"
                    % ("%.3f s" % took if took is not None else "not", REVOKE_BOUND),
                    live.text()[-500:])
            term = h.log.wait("session.terminate", session=sid, timeout=5) if sid else None
            T.check(bool(term) and term[-1].get("reason") == reason,
                    "syslog: session.terminate reason=%s" % reason, h.log.tail(6))
            a = ask(U[key])
            T.eq((a["decision"], a["reason"]), ("deny", reason),
                 "the next login: the gateway's %s" % reason, a)

    with T.section("an approved extension: the live session goes on across the boundary"):
        rx = grant(U["ext"], duration="12s")
        live = h.live(U["ext"], HEARTBEAT)
        T.check(live.wait_for("LB-READY", timeout=20), "ext has a live session",
                live.text()[-500:])
        ext = w.must("POST", "/v1/requests/%s/extend" % rx,
                     {"justification": "not done yet", "duration": "12s"}, who=U["ext"],
                     expect=201)
        ext = w.must("POST", "/v1/requests/%s/approve" % ext["id"], {}, who="ownA1")
        old_end = lbtest.parse_time(w.must("GET", "/v1/requests/%s" % rx, who="ownA1")["grant_expires_at"])
        new_end = lbtest.parse_time(ext["grant_expires_at"])
        T.check(abs(lbtest.parse_time(ext["grant_starts_at"]) - old_end) < 0.01,
                "the extension starts where the grant ends")
        time.sleep(max(0.0, old_end + 2.0 - time.time()))
        T.check(live.alive(), "2 s after the old grant's end the session still runs",
                live.text()[-300:])
        live.wait_exit(max(0.0, new_end - time.time()) + 5)
        gone = live.exit_wall
        T.check(gone is not None and new_end - 0.3 <= gone <= new_end + 1.0,
                "it ends within 1 s after the extension's end (%s)"
                % ("%.2f s after" % (gone - new_end) if gone else "still running"),
                live.text()[-300:])

    rb = grant(U["b"])
    wait_held("b")

    with T.section("the gateway frozen: the held grants last at most 30 s"):
        T.eq(ask(U["b"]).get("recorded"), True, "before: b is answered from the held grants")
        gw.proc.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            stale = until(lambda: ask(U["b"], timeout=TIMEOUT + 2)["decision"] == "deny",
                          LIVE_BOUND, step=0.5)
            took = time.monotonic() - t0
            T.check(stale, "denied within %d s of the freeze" % LIVE_BOUND, took)
            a = ask(U["b"], timeout=TIMEOUT + 2)
            T.check(a["decision"] == "deny" and not a.get("at_gateway") and
                    a["reason"].startswith("gateway_"),
                    "the agent's own deny: the gateway did not answer", a)
        finally:
            gw.proc.send_signal(signal.SIGCONT)
        wait_grants(lambda g: g.get("current"), "the gateway thawed: grants current again", 40)

    with T.section("the gateway killed: the held grants are dropped at once"):
        T.eq(ask(U["b"]).get("recorded"), True, "before: answered from the held grants")
        gw.kill9()
        t0 = time.monotonic()
        st = wait_grants(lambda g: not g.get("current"), "the grants are dropped within 3 s", 3)
        a = ask(U["b"], timeout=TIMEOUT + 2)
        T.check(a["decision"] == "deny" and a["reason"] == "gateway_unreachable",
                "a login is denied: gateway_unreachable", a)
        r = h.ssh(U["b"])
        T.check(r.rc != 0, "the ssh login is denied although the grant is live", r)
finally:
    h.close()
    gw.close()

T.done()
