"""End to end over RDP: real xrdp and xrdp-sesman with pam_lockbox, the real lockbox-agent, a
real gateway, and a real RDP client (xfreerdp under Xvfb, TLS, /cert:ignore).

xrdp and xrdp-sesman run (--nodaemon) in a private mount namespace with a private /etc/xrdp
(this test's ports, a short shell script as the window manager), /etc/pam.d/xrdp-sesman,
/etc/passwd, /etc/group, /etc/shadow (test users with a test password), a tmpfs /run and a
/dev/log that is this test's syslog socket (tests/e2e/rdpenv.py). Nothing on the host changes.

The client's exit code is the same for a refused and an accepted login, so every outcome is
read from xrdp's log ("login failed" / "login successful"), sesman's ("pam_acct_mgmt failed",
"++ created session", "PAM: lockbox: access denied ...") and the module's syslog lines.

What xrdp-sesman does differently from sshd (docs/RDP.md): account runs in sesman's main
process and the session hooks in a forked child; PAM_TTY is "xrdp-sesman" in account and the
X display at session open; PAM_RHOST is never set (xrdp 0.9); sesman has told xrdp "login
successful" before the child opens the session, so every refusal must come in account.

Scenario: denied without a grant (reason in sesman's log and syslog, never at the client) ->
rdp grant: allowed, session.start/session.end with access=rdp, tty and session_tty, in syslog
and at the gateway, the session registered with the agent -> an ssh grant does not open RDP
(wrong_access_type) -> a live RDP session ended by a revoke (its processes are gone, the
client is disconnected) -> denied after the revoke -> the agent unable to keep a new session
(its table cannot be saved): denied in account, never a session-open failure -> agent down ->
denied (agent_unavailable) -> gateway down -> denied (gateway_unreachable).

Skips (77) without root, unshare, xrdp, xorgxrdp, xfreerdp or Xvfb, and in sanitizer builds
(xrdp-sesman cannot load an ASan module).
"""

import os
import time

import rdpenv
import sshenv
import lbtest  # noqa: E402  (sshenv puts tests/ and tests/pam on the path)

T = lbtest.Runner("e2e_rdp")
rdpenv.require(T)

TIMEOUT = 3
KILL_GRACE = 2
REVOKE_BOUND = 2.0  # DESIGN.md: a revoke ends the session within 2 s
U = {k: "lbrdp_" + k for k in ("a", "ssh", "live")}

gw = lbtest.Gateway(tls=True)
gw.start()
w = lbtest.world(gw, gw.bootstrap())
for u in U.values():
    w.add_user(u, "provider", role="engineer")

h = rdpenv.RdpHost(T, gw, w, U.values(), timeout=TIMEOUT,
                   conf_extra="kill_grace = %ds\n" % KILL_GRACE)
try:
    h.start_agent()
    h.start_xrdp()
    h.start_xvfb()
except Exception as e:  # noqa: BLE001
    T.check(False, "agent, xrdp, xrdp-sesman and Xvfb started",
            "%s\nagent:\n%s\n%s" % (e, h.agent_tail(), h.xrdp_tail()))
    h.close()
    gw.close()
    T.done()
log = h.log


def grant(user, access="rdp"):
    w.elevate(user)
    req = w.new_request(who=user, access=access)
    w.must("POST", "/v1/requests/%s/approve" % req["id"], {"reason": "ok"}, who="ownA1")
    return req


def login(user, what):
    """One RDP login of USER; returns (client, "allowed"/"denied"/None)."""
    t0 = time.monotonic()
    c = h.login(user)
    got = h.wait_result(c, timeout=30)
    T.note("%s: %s after %.2fs" % (what, got, time.monotonic() - t0))
    return c, got


def denied(user, reason, what):
    """A login of USER refused in account with REASON: xrdp says login failed, sesman logged
    the module's message, the session was never opened, syslog has the deny."""
    n = len(log.events("access.check.deny", user=user, reason=reason))
    c, got = login(user, what)
    T.eq(got, "denied", "%s: xrdp and sesman report a failed login" % what,
         h.xrdp_tail(8))
    s = h.sesman_since(c)
    T.check("pam_acct_mgmt failed" in s, "%s: refused in account (pam_acct_mgmt)" % what,
            s[-600:])
    T.check("PAM: lockbox: access denied" in s and ("reason %s" % reason) in s,
            "%s: sesman's log has the module's message with reason %s" % (what, reason),
            s[-800:])
    T.check("pam_open_session" not in s and "created session" not in s,
            "%s: no session was started" % what, s[-600:])
    # xrdp writes its line after sesman answers it: wait for it (bounded), not race it
    T.check(lbtest.wait_until(lambda: "login failed for user %s" % user in h.xrdp_since(c),
                              timeout=10, step=0.05),
            "%s: xrdp's log says login failed" % what, h.xrdp_since(c)[-400:])
    T.check(lbtest.wait_until(lambda: len(log.events("access.check.deny", user=user,
                                                     reason=reason)) > n, timeout=5),
            "%s: syslog access.check.deny reason=%s" % (what, reason), log.tail(4))
    c.close()
    T.check("lockbox" not in c.text(), "%s: the RDP client is never shown the deny text "
            "(xrdp 0.9 keeps it in sesman's log)" % what)
    return c


def procs_of(pid):
    return [pid] + sshenv.descendants(pid)


try:
    with T.section("denied without a grant"):
        denied(U["a"], "no_request", "no request")
        ev = log.events("access.check.deny", user=U["a"], reason="no_request")
        if ev:
            T.eq(ev[-1].get("service"), "xrdp-sesman", "access.check.deny: service")
            T.eq(ev[-1].get("tty"), "xrdp-sesman", "access.check.deny: tty (sesman's PAM_TTY "
                 "in account)")
            T.eq(ev[-1].get("rhost"), "-", "access.check.deny: no rhost (xrdp 0.9 sets no "
                 "PAM_RHOST)")
        T.eq(h.wm_starts(U["a"]), [], "no window manager ran")

    with T.section("allowed with an rdp grant; session events with access=rdp"):
        req = grant(U["a"])
        h.set_wm_seconds(U["a"], 4)
        c, got = login(U["a"], "rdp grant")
        T.eq(got, "allowed", "rdp grant: login successful (xrdp) and session created "
             "(sesman)", h.xrdp_tail(10))
        T.check(lbtest.wait_until(lambda: h.wm_starts(U["a"]), timeout=20),
                "the session's window manager runs as the user", h.xrdp_tail(10))
        st = log.wait("session.start", user=U["a"], timeout=10)
        T.check(bool(st), "syslog: session.start", log.tail(6))
        allow = log.events("access.check.allow", user=U["a"])
        T.check(bool(allow), "syslog: access.check.allow", log.tail(6))
        sid = st[-1]["session"] if st else "?"
        if st and allow:
            s0, a0 = st[-1], allow[-1]
            T.eq(s0.get("decision_id"), a0.get("decision_id"),
                 "session.start carries the decision id of the account phase's check")
            T.eq(a0.get("tty"), "xrdp-sesman", "access.check.allow: tty")
            T.eq(a0.get("access"), "rdp", "access.check.allow: access")
            T.eq(s0.get("service"), "xrdp-sesman", "session.start: service")
            T.eq(s0.get("access"), "rdp", "session.start: access")
            T.eq(s0.get("tty"), "xrdp-sesman", "session.start: tty (as the check was asked)")
            disp = h.wm_starts(U["a"])[-1]["display"] if h.wm_starts(U["a"]) else "?"
            T.check(s0.get("session_tty", "").startswith(":") and
                    disp.startswith(s0.get("session_tty", "?")),
                    "session.start: session_tty is the session's X display (%s, %s)"
                    % (s0.get("session_tty"), disp))
            T.eq(s0.get("rhost"), "-", "session.start: no rhost (xrdp 0.9)")
            T.eq(s0.get("request"), req["id"], "session.start: request")
            reg = [x for x in (h.agent_status() or {}).get("sessions", [])
                   if x.get("session") == sid]
            T.check(len(reg) == 1 and str(reg[0].get("pid")) == s0.get("pid") and
                    reg[0].get("access") == "rdp" and reg[0].get("tty") == "xrdp-sesman",
                    "the agent holds the live RDP session (pid of sesman's session process)",
                    reg or h.agent_status())
            T.check("session_pid %s" % s0.get("pid") in h.sesman_since(c),
                    "the module ran in sesman's session child (pid %s), account in its "
                    "main process (pid %s)" % (s0.get("pid"), a0.get("pid")))
            T.check(s0.get("pid") != a0.get("pid"), "account and session in two processes")
        end = log.wait("session.end", session=sid, timeout=20)
        T.check(bool(end), "syslog: session.end when the window manager exits", log.tail(6))
        if end:
            T.eq(end[-1].get("access"), "rdp", "session.end: access")
            T.eq(end[-1].get("tty"), "xrdp-sesman", "session.end: tty")
        T.check(lbtest.wait_until(lambda: not [x for x in (h.agent_status() or {}).get(
            "sessions", [{}]) if x.get("session") == sid], timeout=5),
            "the agent dropped the session at its end", h.agent_status())
        T.check(c.wait_exit(15) is not None, "the client was disconnected at the session's "
                "end", c.text()[-400:])

        def stored():
            evs = h.audit(request=req["id"])
            s_ = [e for e in evs if e["type"] == "session.start" and
                  e["details"].get("session") == sid]
            e_ = [e for e in evs if e["type"] == "session.end" and
                  e["details"].get("session") == sid]
            return (s_, e_) if s_ and e_ else None
        got = lbtest.wait_until(stored, timeout=15, step=0.2)
        T.check(bool(got), "gateway audit store: session.start and session.end",
                h.audit(request=req["id"]))
        if got:
            for e in got[0] + got[1]:
                T.check(e["details"].get("access") == "rdp" and
                        e["details"].get("service") == "xrdp-sesman" and
                        e["details"].get("tty") == "xrdp-sesman" and e.get("host") == "hA1",
                        "gateway: %s with access=rdp, service, tty, host" % e["type"],
                        e["details"])

    with T.section("an ssh grant does not open an RDP session"):
        grant(U["ssh"], access="ssh")
        denied(U["ssh"], "wrong_access_type", "ssh grant")

    with T.section("a live RDP session ended by a revoke"):
        req_live = grant(U["live"])
        h.set_wm_seconds(U["live"], 600)
        c, got = login(U["live"], "live session")
        T.eq(got, "allowed", "the live session started", h.xrdp_tail(10))
        T.check(bool(lbtest.wait_until(lambda: h.wm_starts(U["live"]), timeout=20)),
                "its window manager runs")
        st = log.wait("session.start", user=U["live"], timeout=10)
        sid = st[-1]["session"] if st else "?"
        leader = int(st[-1]["pid"]) if st else 0
        wm = h.wm_starts(U["live"])[-1]["pid"] if h.wm_starts(U["live"]) else 0
        time.sleep(1)  # Xorg, chansrv and the window manager all up
        tree = procs_of(leader) if leader else []
        T.check(wm in tree and len(tree) >= 3, "the session's processes: %d (sesman's session "
                "process, Xorg, the window manager, ...)" % len(tree), tree)
        T.check(c.alive(), "the client is connected")
        w.must("POST", "/v1/requests/%s/revoke" % req_live["id"], {"reason": "done"},
               who="ownA1")
        t_rev = time.monotonic()
        gone = lbtest.wait_until(lambda: sshenv.proc_gone(wm) and time.monotonic(),
                                 timeout=REVOKE_BOUND + 10, step=0.02)
        took = gone - t_rev if gone else None
        T.check(took is not None and took < REVOKE_BOUND,
                "the window manager is gone %s after the revoke (bound %.1fs)"
                % ("%.3fs" % took if took is not None else "not", REVOKE_BOUND))
        T.check(lbtest.wait_until(lambda: all(sshenv.proc_gone(p) for p in tree),
                                  timeout=KILL_GRACE + 5, step=0.05),
                "every process of the session is gone",
                [p for p in tree if not sshenv.proc_gone(p)])
        term = log.wait("session.terminate", session=sid, timeout=5)
        T.check(bool(term) and term[-1].get("reason") == "revoked" and
                term[-1].get("access") == "rdp",
                "syslog: session.terminate reason=revoked (access=rdp)", log.tail(6))
        T.check(bool(log.wait("session.end", session=sid, timeout=10)),
                "syslog: session.end", log.tail(6))
        T.check(lbtest.wait_until(lambda: not [x for x in (h.agent_status() or {}).get(
            "sessions", [{}]) if x.get("session") == sid], timeout=5),
            "the agent dropped the session", h.agent_status())
        T.check(c.wait_exit(15) is not None, "the RDP client was disconnected",
                c.text()[-400:])
        T.check(lbtest.wait_until(lambda: "++ terminated session" in h.sesman_since(c),
                                  timeout=10), "sesman recorded the session's end")
        terms = lbtest.wait_until(lambda: [e for e in h.audit(type="session.terminate")
                                           if e["details"].get("session") == sid],
                                  timeout=15, step=0.2)
        T.check(bool(terms) and terms[0]["details"].get("reason") == "revoked" and
                terms[0].get("request") == req_live["id"],
                "gateway audit store: session.terminate (reason revoked)", terms)
        if took is not None:
            T.note("revoke -> window manager gone: %.3fs" % took)

    with T.section("denied after the revoke"):
        denied(U["live"], "revoked", "after the revoke")

    with T.section("a refusal that would come at session open comes in account"):
        # the agent cannot save its session table, so it could not watch a new session: the
        # registration at session open would fail after xrdp has told its client "login
        # successful"; the agent says so when the login is decided instead
        tmpdir = os.path.join(h.state_dir, "sessions.json.tmp")
        os.mkdir(tmpdir)
        try:
            denied(U["a"], "session_table_unavailable", "session table unwritable")
            T.check("pam_open_session failed" not in h.sesman_text(),
                    "sesman never saw a session-open failure")
        finally:
            os.rmdir(tmpdir)
        h.set_wm_seconds(U["a"], 2)
        c, got = login(U["a"], "table writable again")
        T.eq(got, "allowed", "the table writable again: allowed", h.xrdp_tail(8))
        c.wait_exit(15)

    with T.section("agent down: denied"):
        h.stop_agent()
        t0 = time.monotonic()
        denied(U["a"], "agent_unavailable", "agent stopped")
        T.check(time.monotonic() - t0 < TIMEOUT + 10, "denied within the deadline")
        h.start_agent()

    with T.section("gateway down: denied"):
        # a user without a live grant: the agent must ask the gateway (it may answer a
        # user it holds a current grant for from its grant list for a while)
        gw.kill9()
        denied(U["live"], "gateway_unreachable", "gateway down")
        gw.start()
        T.check(lbtest.wait_until(lambda: (h.agent_status() or {}).get("gateway_ok"),
                                  timeout=15), "the agent reaches the gateway again")
        st, js, raw = w.call("GET", "/v1/audit/verify")
        T.check(st == 200 and js.get("ok") is True, "audit hash chain verifies", raw)
finally:
    h.close()
    gw.close()
T.done()
