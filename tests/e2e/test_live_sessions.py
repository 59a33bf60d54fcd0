"""End to end: live sessions end when their grant ends (DESIGN.md "Live sessions").

The real gateway, the real lockbox-agent, a real sshd with pam_lockbox (tests/e2e/sshenv.py)
and OpenSSH's client with a remote terminal (`ssh -tt`, a heartbeat loop), its output read
through a pipe with bounded reads. Host config: warn_before = 10s, kill_grace = 2s.

- revoke: the session is gone within 2 s of the revoke call's return; the client saw the
  notice; session.terminate (reason revoked) and session.end in syslog and at the gateway;
- a process that ignores SIGTERM and SIGHUP is SIGKILLed after kill_grace;
- a 20 s grant: the warn_before notice reaches the terminal (session.warn), and the session
  ends within 1 s after grant_expires_at, not before;
- the agent SIGKILLed mid-session and restarted on the same --state-dir still ends the session
  on a revoke (and a revoke made while it was down, once it is back); a session that closed
  while it was down gets one session.end, not a second one from the agent;
- the agent stopped, killed or hung: a new login is denied within timeout (agent_unavailable);
- disabling the host ends its live sessions.

Skips (77) without root, unshare, sshd/ssh, or in sanitizer builds (sshd cannot load an ASan
module).
"""

import os
import re
import signal
import time

import sshenv
import lbtest  # noqa: E402  (sshenv puts tests/ and tests/pam on the path)

T = lbtest.Runner("e2e_live_sessions")
sshenv.require(T)

TIMEOUT = 3
KILL_GRACE = 2
WARN_BEFORE = 10
GRANT = 20            # seconds: the short grant of the expiry case
REVOKE_BOUND = 2.0    # DESIGN.md: a revoke ends the session within 2 s
EXPIRY_BOUND = 1.0    # ... an expiry within 1 s of grant_expires_at
CLOCK_MARGIN = 0.25   # the client's own exit after its sshd went, and timer slack
HEARTBEAT = "echo LB-READY pid=$$; i=0; while [ $i -lt 900 ]; do echo hb$i; i=$((i+1)); sleep 1; done"
STUBBORN = ("trap '' TERM HUP; echo LB-READY pid=$$; i=0; "
            "while [ $i -lt 900 ]; do i=$((i+1)); sleep 1; done")

U = {k: "lbl_" + k for k in ("rev", "stub", "exp", "crash", "away", "gone", "down", "dis")}

gw = lbtest.Gateway(tls=True)
gw.start()
w = lbtest.world(gw, gw.bootstrap())
for u in U.values():
    w.add_user(u, "provider", role="engineer")

h = sshenv.Host(T, gw, w, U.values(), timeout=TIMEOUT, prefix="lblive-",
                conf_extra="warn_before = %ds\nkill_grace = %ds\n" % (WARN_BEFORE, KILL_GRACE))
try:
    h.start_agent()
    h.start_sshd()
except Exception as e:  # noqa: BLE001
    T.check(False, "agent and sshd started", "%s\nagent:\n%s" % (e, h.agent_tail()))
    h.close()
    T.done()
log = h.log


def grant(user, duration="1h"):
    """Elevation, request for hA1, the owner's approval: the approved request."""
    w.elevate(user)
    req = w.new_request(who=user, duration=duration)
    w.must("POST", "/v1/requests/%s/approve" % req["id"], {"reason": "ok"}, who="ownA1")
    return w.must("GET", "/v1/requests/%s" % req["id"], who="ownA1")


def revoke(req):
    w.must("POST", "/v1/requests/%s/revoke" % req["id"], {"reason": "done"}, who="ownA1")
    return time.monotonic()


def open_live(user, cmd=HEARTBEAT):
    """A live session of USER running CMD: (Live, session id, pid of the remote shell)."""
    s = h.live(user, cmd)
    if not s.wait_for("LB-READY", timeout=20):
        raise AssertionError("no live session for %s: %s\nsshd:\n%s\nagent:\n%s"
                             % (user, s.text()[-1500:], h.sshd_tail(), h.agent_tail()))
    st = log.wait("session.start", user=user, timeout=5)
    if not st:
        raise AssertionError("no session.start for %s in syslog" % user)
    pid = int(re.search(r"LB-READY pid=(\d+)", s.text()).group(1))
    return s, st[-1]["session"], pid


def registered(sid):
    st = h.agent_status() or {}
    return [x for x in st.get("sessions", []) if x.get("session") == sid]


def at_gateway(typ, sid, timeout=15):
    """The gateway's copies of host event TYP about session SID (waits for delivery)."""
    return lbtest.wait_until(lambda: [e for e in h.audit(type=typ)
                                      if e["details"].get("session") == sid],
                             timeout=timeout, step=0.2)


def ended(s, sid, t_ref, what, bound, reason):
    """Checks that live session S (SID) ended within BOUND s of T_REF (monotonic), with the
    notice on its terminal and session.terminate (REASON) / session.end in syslog."""
    rc = s.wait_exit(bound + 10)
    took = (s.exit_mono - t_ref) if s.exit_mono else None
    T.check(took is not None and took < bound,
            "%s: the ssh client exited %s after it (bound %.1fs)" %
            (what, "%.3fs" % took if took is not None else "not within %.0fs" % (bound + 10),
             bound), s.text()[-600:])
    T.note("%s -> client exit: %s s (rc %s)" % (what, "%.3f" % took if took else "-", rc))
    text = s.text()
    T.check("this session is being closed" in text and ("reason %s" % reason) in text,
            "%s: the client saw the notice on its terminal" % what, text[-600:])
    term = log.wait("session.terminate", session=sid, timeout=5)
    T.check(bool(term) and term[-1].get("reason") == reason,
            "%s: syslog has session.terminate reason=%s" % (what, reason), log.tail(6))
    T.check(bool(log.wait("session.end", session=sid, timeout=10)),
            "%s: syslog has session.end" % what, log.tail(6))
    T.check(lbtest.wait_until(lambda: not registered(sid), timeout=5),
            "%s: the agent dropped the session from its table" % what, h.agent_status())
    return took


results = {}
try:
    with T.section("revoke ends the live session within 2 s"):
        req = grant(U["rev"])
        s, sid, pid = open_live(U["rev"])
        T.check(bool(registered(sid)), "the agent holds the live session", h.agent_status())
        T.check(s.wait_for("hb1", timeout=5), "the session runs (heartbeat)", s.text()[-300:])
        t = revoke(req)
        results["revoke"] = ended(s, sid, t, "revoke", REVOKE_BOUND, "revoked")
        T.check(lbtest.wait_until(lambda: sshenv.proc_gone(pid), timeout=3),
                "the session's shell is gone")
        terms = at_gateway("session.terminate", sid)
        T.check(bool(terms) and terms[0]["details"].get("reason") == "revoked" and
                terms[0].get("request") == req["id"] and terms[0].get("host") == "hA1",
                "gateway audit store: session.terminate (reason revoked, request, host)", terms)
        T.check(bool(at_gateway("session.end", sid)), "gateway audit store: session.end")
        lost = [e for e in h.audit(type="session.lost") if e["details"].get("session") == sid]
        if lost:
            T.note("the gateway also recorded session.lost for it (it reconciles at the "
                   "revoke, before the host's session.end arrives)")
        with open(h.agent_log) as f:
            T.check("lockbox-agent: event=session.terminate" in f.read(),
                    "the agent printed the event on its stderr (--foreground)")
        r = h.ssh(U["rev"])
        T.check(r.rc == 255 and "reason revoked" in r.err, "and the next login is denied", r)

    with T.section("a process that ignores SIGTERM is SIGKILLed after kill_grace"):
        req = grant(U["stub"])
        s, sid, pid = open_live(U["stub"], STUBBORN)
        revoke(req)
        term = log.wait("session.terminate", session=sid, timeout=5)
        T.check(bool(term), "session.terminate recorded", log.tail(5))
        t_term = term[-1]["_t"] if term else time.monotonic()
        # still there just before kill_grace: SIGTERM and SIGHUP did not end it
        time.sleep(max(0.0, t_term + KILL_GRACE - 0.5 - time.monotonic()))
        T.check(not sshenv.proc_gone(pid),
                "the shell ignoring SIGTERM/SIGHUP still runs %.1fs after session.terminate" %
                (time.monotonic() - t_term))
        gone = lbtest.wait_until(lambda: sshenv.proc_gone(pid) and time.monotonic(),
                                 timeout=KILL_GRACE + 3, step=0.02)
        took = (gone - t_term) if gone else None
        T.check(took is not None and took < KILL_GRACE + 1.5,
                "it is gone %s after session.terminate (kill_grace %ds, bound %.1fs)"
                % ("%.2fs" % took if took else "not", KILL_GRACE, KILL_GRACE + 1.5))
        results["kill_grace"] = took
        T.check(s.wait_exit(5) is not None, "the ssh client exited")
        T.check(bool(log.wait("session.end", session=sid, timeout=10)), "session.end recorded")
        T.check(lbtest.wait_until(lambda: "SIGKILL sent" in sshenv.read(h.agent_log),
                                  timeout=3), "the agent says it sent SIGKILL")

    with T.section("a %ds grant: the warn_before notice, then the end at grant_expires_at"
                   % GRANT):
        req = grant(U["exp"], duration="%ds" % GRANT)
        gend = lbtest.parse_time(req["grant_expires_at"])
        s, sid, pid = open_live(U["exp"])
        left = gend - time.time()
        T.check(left > WARN_BEFORE + 1, "the session started %.1fs before the grant ends" % left)
        warn = log.wait("session.warn", session=sid, timeout=gend - time.time())
        T.check(bool(warn), "session.warn recorded", log.tail(5))
        if warn:
            at = gend - (time.time() - (time.monotonic() - warn[-1]["_t"]))
            T.check(WARN_BEFORE - 1.0 < at <= WARN_BEFORE + 0.1,
                    "it came %.2fs before the grant's end (warn_before %ds)" % (at, WARN_BEFORE))
            T.eq(warn[-1].get("request"), req["id"], "session.warn names the request")
        T.check(s.wait_for("your access to hA1 ends at", timeout=3) and
                "in " in s.text() and req["id"] in s.text(),
                "the client saw the warning (when, which request, how to extend)",
                s.text()[-600:])
        T.check(bool(at_gateway("session.warn", sid)), "gateway audit store: session.warn")
        rc = s.wait_exit(gend - time.time() + EXPIRY_BOUND + 10)
        lag = (s.exit_wall - gend) if s.exit_wall else None
        T.note("grant_expires_at %s, client exit %s: lag %s s" % (
            req["grant_expires_at"], lbtest.rfc3339(s.exit_wall) if s.exit_wall else "-",
            "%.3f" % lag if lag is not None else "-"))
        T.check(lag is not None and 0 <= lag < EXPIRY_BOUND + CLOCK_MARGIN,
                "the session ended %s after grant_expires_at (bound %.1fs + %.2fs margin), "
                "not before" % ("%.3fs" % lag if lag is not None else "not",
                                EXPIRY_BOUND, CLOCK_MARGIN), s.text()[-400:])
        results["expiry"] = lag
        term = log.wait("session.terminate", session=sid, timeout=5)
        T.check(bool(term) and term[-1].get("reason") == "grant_ended",
                "syslog: session.terminate reason=grant_ended", log.tail(5))
        T.check("this session is being closed" in s.text(), "the client saw the notice")
        T.check(bool(log.wait("session.end", session=sid, timeout=10)), "session.end recorded")

    with T.section("the agent SIGKILLed mid-session and restarted still ends it"):
        req = grant(U["crash"])
        s, sid, pid = open_live(U["crash"])
        h.kill_agent()
        n = s.text().count("hb")
        T.check(lbtest.wait_until(lambda: s.text().count("hb") > n + 1, timeout=5),
                "the session goes on while the agent is down")
        h.start_agent()
        T.check(bool(registered(sid)), "the restarted agent reloaded the session from its "
                "state dir", h.agent_status())
        t = revoke(req)
        results["revoke_after_restart"] = ended(s, sid, t, "revoke after the restart",
                                                REVOKE_BOUND, "revoked")

    with T.section("a revoke made while the agent was down ends the session once it is back"):
        req = grant(U["away"])
        s, sid, pid = open_live(U["away"])
        h.kill_agent()
        revoke(req)
        time.sleep(1)
        T.check(s.alive(), "nobody ends it while the agent is down")
        h.start_agent()
        t = time.monotonic()
        results["revoke_while_down"] = ended(s, sid, t, "agent back", REVOKE_BOUND, "revoked")

    with T.section("a session that ends while the agent is down: one session.end"):
        grant(U["gone"])
        s, sid, pid = open_live(U["gone"])
        h.kill_agent()
        s.close()  # the client goes: sshd closes the PAM session, the agent cannot be told
        T.check(bool(log.wait("session.end", session=sid, timeout=10)),
                "the module recorded session.end", log.tail(4))
        h.start_agent()
        T.check(lbtest.wait_until(lambda: not registered(sid), timeout=5),
                "the restarted agent dropped the session (its process is gone)",
                h.agent_status())
        time.sleep(1)
        ends = log.events("session.end", session=sid)
        T.eq(len(ends), 1, "syslog: one session.end for it", [e.get("id") for e in ends])
        stored = at_gateway("session.end", sid)
        time.sleep(1.5)  # what the agent delivers after the first one
        stored = [e for e in h.audit(type="session.end") if e["details"].get("session") == sid]
        T.eq(len(stored), 1, "gateway audit store: one session.end for it",
             [e["id"] for e in stored])

    with T.section("the agent stopped, killed or hung: new logins denied (agent_unavailable)"):
        grant(U["down"])
        r = h.ssh(U["down"])
        T.check(r.rc == 0 and "lockbox-ok" in r.out, "with the agent up the login works", r)
        for how in ("stopped", "killed", "hung"):
            if how == "stopped":
                T.eq(h.stop_agent(), 0, "the agent exits 0 on SIGTERM")
            elif how == "killed":
                h.start_agent()
                h.kill_agent()
            else:
                h.start_agent()
                os.kill(h.agent.pid, signal.SIGSTOP)
            n = len(log.events("access.check.deny", user=U["down"], reason="agent_unavailable"))
            r = h.ssh(U["down"])
            if how == "hung":
                os.kill(h.agent.pid, signal.SIGCONT)
            T.check(r.rc == 255 and "lockbox-ok" not in r.out, "agent %s: login denied" % how, r)
            T.check(r.elapsed < TIMEOUT + 2, "agent %s: denied within timeout %ds + 2s (%.2fs)"
                    % (how, TIMEOUT, r.elapsed))
            T.check(lbtest.wait_until(lambda: len(log.events(
                "access.check.deny", user=U["down"], reason="agent_unavailable")) > n,
                timeout=5), "agent %s: syslog access.check.deny reason=agent_unavailable" % how,
                log.tail(4))
            T.check("lockbox-agent on this host could not be asked" in r.err,
                    "agent %s: the client is told why" % how, r)
        h.stop_agent()
        h.start_agent()
        r = h.ssh(U["down"])
        T.check(r.rc == 0 and "lockbox-ok" in r.out, "agent back: the login works", r)

    with T.section("disabling the host ends its live sessions"):
        grant(U["dis"])
        s, sid, pid = open_live(U["dis"])
        w.must("POST", "/v1/hosts/%s/disable" % w.host["hA1"]["id"])
        t = time.monotonic()
        results["host_disabled"] = ended(s, sid, t, "host disabled", REVOKE_BOUND,
                                         "host_disabled")
        r = h.ssh(U["dis"])
        T.check(r.rc == 255 and "host_disabled" in r.err, "the next login is denied", r)

    T.note("measured: " + ", ".join("%s %s" % (k, "%.3fs" % v if v is not None else "-")
                                    for k, v in results.items()))
    st, js, raw = w.call("GET", "/v1/audit/verify")
    T.check(st == 200 and js.get("ok") is True, "audit hash chain verifies", raw)
finally:
    h.close()
    gw.close()
T.done()
