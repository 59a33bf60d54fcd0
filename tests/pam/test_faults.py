"""pam_lockbox against a misbehaving lockbox-agent: every fault on the agent socket denies
(agent_unavailable) within the deadline, logged; the module never speaks to the gateway.

Runs the built module under pam_wrapper (service files generated here) with nss_wrapper users,
talking to tests/pam/fakeagent.py on the UNIX socket agent_socket. The config's timeout is
2s; each deny must come within timeout + margin, with the reason in the module's log line
(the debug argument copies syslog lines to stderr). Also: what the module asks the agent,
session registration refused or stuck, a socket served by another uid, bad config, hostile
rhost/tty. Gateway faults (through the real agent) are in test_gwfaults.py.
"""

import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
import fakegw  # noqa: E402
import pamenv  # noqa: E402
from fakeagent import FakeAgent  # noqa: E402

T = lbtest.Runner("pam_faults")
why = pamenv.prerequisites()
if why:
    T.skip(why)

TIMEOUT = 2.0
MARGIN = 3.0 if pamenv.sanitizer() else 1.5
NOBODY = 65534

env = pamenv.PamEnv("faults")
# a gateway the module must never call: every answer comes from the (fake) agent
never = fakegw.FakeGateway("allow")


def deny_case(name, r, reason="agent_unavailable", error_has=None, user="eng"):
    """Asserts a deny within the deadline with REASON (and ERROR_HAS) in the log line."""
    T.eq(r.ops().get("account"), "PAM_PERM_DENIED", "%s: account is PAM_PERM_DENIED" % name, r)
    T.check(r.elapsed < TIMEOUT + MARGIN,
            "%s: denied within the deadline (%.2fs < %.1fs)" % (name, r.elapsed,
                                                                  TIMEOUT + MARGIN), r)
    evs = r.events("access.check.deny")
    T.check(len(evs) == 1, "%s: one access.check.deny log line" % name, r)
    if evs:
        T.eq(evs[0].get("reason"), reason, "%s: reason %s logged" % (name, reason), r)
        T.eq(evs[0].get("user"), user, "%s: user logged" % name)
        if error_has:
            T.check(error_has in evs[0].get("error", ""),
                    "%s: error mentions %r" % (name, error_has), evs[0])
    msgs = r.errors()
    T.check(any(m.startswith("lockbox: access denied") and ("reason %s" % reason) in m
                for m in msgs), "%s: the user is told access is denied, and why" % name, r)
    if reason == "agent_unavailable":
        T.check(any("lockbox-agent on this host could not be asked" in m for m in msgs),
                "%s: the message says the agent could not be asked" % name, msgs)


env.write_conf(never.url)

with T.section("an allow the local audit log cannot record is denied in account"):
    # a regular file where the log's directory should be: no append can succeed (root is
    # not stopped by modes, ENOTDIR stops everyone)
    blocker = os.path.join(env.tmp, "not-a-dir")
    with open(blocker, "w") as f:
        f.write("x")
    env.write_conf(never.url, audit_log=os.path.join(blocker, "audit.log"))
    with FakeAgent(env.agent_socket, "allow") as a:
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        T.eq(r.ops().get("account"), "PAM_PERM_DENIED",
             "account refuses an allow it cannot record (not session open)", r)
        T.check(any("audit_log_unwritable" in m for m in r.errors()),
                "the user is told why (reason audit_log_unwritable)", r)
        T.check(any("allow turned into deny" in ln for ln in r.loglines()),
                "the module logs that it turned the allow into a deny", r)
        T.eq([q.get("op") for q in a.questions], ["check"], "no session was registered")
    env.write_conf(never.url)

with T.section("a well-behaved agent: what the module asks"):
    with FakeAgent(env.agent_socket, "allow") as a:
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "gated user, the agent allows: account, open, close succeed", r)
        T.check(any("access granted by request req_0123456789abcdef until 2099-01-01" in m
                    for m in r.infos()), "allow shows the request id and grant end", r)
        qs = a.questions
        T.eq([q.get("op") for q in qs], ["check", "session_open", "session_close"],
             "one question per hook: check, session_open, session_close")
        if len(qs) == 3:
            T.eq(qs[0], {"op": "check", "user": "eng", "service": "sshd", "rhost": "10.0.0.5",
                         "tty": "ssh"}, "check names user, service, rhost, tty")
            allow, start = r.events("access.check.allow"), r.events("session.start")
            T.check(allow and start and qs[1].get("session") == start[0].get("id") and
                    lbtest.is_uuid(qs[1].get("session")),
                    "session_open carries the session id (= the session.start event id)",
                    (qs[1], start))
            T.check(allow and qs[1].get("decision_id") == allow[0].get("decision_id") and
                    qs[1].get("request") == "req_0123456789abcdef" and
                    qs[1].get("grant_expires_at") == "2099-01-01T00:00:00.000Z" and
                    qs[1].get("user") == "eng" and qs[1].get("service") == "sshd",
                    "session_open carries user, service, decision id, request, grant end",
                    qs[1])
            T.eq(qs[2].get("session"), qs[1].get("session"),
                 "session_close names the same session")
        types = [e["type"] for e in env.audit_lines()]
        T.eq(types, ["access.check.allow", "session.start", "session.end"],
             "the module wrote check, start and end to the local log")
        T.eq(never.requests, [], "the module never spoke to the gateway itself")

        r = env.run("plain", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
                "user outside gated_group: PAM_IGNORE", r)
        T.eq(len(a.questions), 3, "a user who is not gated: the agent is not asked")
        env.write_conf(never.url, exempt_users="exempt1, someone")
        r = env.run("exempt1", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
                "exempt user: PAM_IGNORE", r)
        T.eq(len(a.questions), 3, "exempt user: the agent is not asked")
        env.write_conf(never.url, gated_group="nosuchgroup", exempt_users="exempt1")
        n = len(a.questions)
        for user in ("eng", "plain"):
            r = env.run(user, ["account=PAM_PERM_DENIED"])
            deny_case("gated_group that does not exist (%s)" % user, r, "config_error",
                      "nosuchgroup", user=user)
        r = env.run("exempt1", ["account=PAM_SUCCESS"])
        T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
                "gated_group that does not exist: an exempt user still gets PAM_IGNORE", r)
        T.eq(len(a.questions), n, "gated_group that does not exist: the agent is not asked")
        env.write_conf(never.url)
        r = env.run("eng2", ["account=PAM_SUCCESS"], service="xrdp-sesman")
        T.check(r.rc == 0 and r.events("access.check.allow"),
                "supplementary member of gated_group is gated", r)
        T.eq(a.questions[-1].get("service"), "xrdp-sesman", "the PAM service is sent as is")

        n = len(a.questions)
        r = env.run("eng", ["open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "session without account in this handle: decided at open", r)
        T.eq([q.get("op") for q in a.questions[n:]], ["check", "session_open", "session_close"],
             "open asks check first, then registers the session")
        allow, starts = r.events("access.check.allow"), r.events("session.start")
        T.check(allow and starts and starts[0].get("decision_id") == allow[0]["id"],
                "session.start carries the decision made at open", r)
        a.mode = "deny"
        n = len(a.questions)
        r = env.run("eng", ["open=PAM_SESSION_ERR"])
        T.eq(r.rc, 0, "session without account, the agent denies: PAM_SESSION_ERR", r)
        T.eq(r.events("session.start"), [], "no session.start for a refused session")
        T.eq([q.get("op") for q in a.questions[n:]], ["check"], "nothing registered")

with T.section("the agent's deny reaches the user, sanitized, with a hint"):
    with FakeAgent(env.agent_socket, "deny") as a:
        a.answer = {"message": "evil \x1b[31mred\x1b[0m\nsecond line\r%n%s", "reason": "pending"}
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        T.eq(r.rc, 0, "the agent denies: PAM_PERM_DENIED", r)
        msgs = r.errors()
        T.check(len(msgs) == 1 and "req_0123456789abcdef" in msgs[0] and
                "reason pending" in msgs[0] and "Wait until the request is approved" in msgs[0],
                "deny message names the request, the reason and what to do", r)
        T.check(msgs and "\\x" not in msgs[0] and "evil ?[31mred?[0m?second line?%n%s" in msgs[0],
                "message sanitized (escape sequences and newlines replaced)", msgs)
        for reason, hint in (("no_request", "Open a lockbox access request"),
                             ("no_elevation", "Activate an elevation"),
                             ("elevation_after_approval", "Activate an elevation"),
                             ("revoked", "Open a new lockbox access request"),
                             ("gateway_timeout", "Access is denied while it cannot be asked"),
                             ("host_unknown", "Tell the host's administrators")):
            a.answer = {"reason": reason, "message": "m"}
            r = env.run("eng", ["account=PAM_PERM_DENIED"])
            T.check(r.rc == 0 and any(hint in m and "reason " + reason in m
                                      for m in r.errors()),
                    "deny %s: hint %r" % (reason, hint), r)
        # a deny the agent made itself (the gateway could not be asked) keeps its error text
        a.answer = {"reason": "gateway_timeout", "at_gateway": False, "request": None,
                    "error": "gateway: timed out after 1700 ms \"%n\" \u00e9"}
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        ev = r.events("access.check.deny")
        T.check(ev and ev[0].get("reason") == "gateway_timeout" and
                "timed out after 1700 ms \"%n\"" in ev[0].get("error", ""),
                "the agent's own deny: reason and error logged", ev)
        line = [ln for ln in r.loglines() if "access.check.deny" in ln]
        T.check(line and all(0x20 <= ord(ch) < 0x7f for ch in line[0]),
                "the log line stays printable", line)
        last = env.audit_lines()[-1]
        T.check(last["type"] == "access.check.deny" and
                last["details"].get("reason") == "gateway_timeout",
                "the agent's own deny is in the local audit log (to be delivered)", last)

with T.section("the agent answers wrongly: agent_unavailable"):
    env.write_conf(never.url)  # host_id = web-01
    cases = [
        ("hang", "hang", {}, "did not answer in time"),
        ("never accepts (backlog only)", "noaccept", {}, "did not answer in time"),
        ("one byte per second", "trickle", {}, "did not answer in time"),
        ("garbage", "garbage", {}, "garbage"),
        ("a huge answer", "huge", {}, "too large"),
        ("duplicate keys (deny ... allow)", "dupkey", {}, "duplicate"),
        ("not an object", "notobject", {}, "garbage"),
        ("closes without answering", "close", {}, "closed before answering"),
        ("half an answer, then closes", "partial", {}, "closed before answering"),
        ("an allow for another user", "allow", {"user": "eng2"}, "another user or host"),
        ("an allow naming no user", "allow", {"user": None}, "another user or host"),
        ("an allow for another host", "allow", {"host": "web-02"}, "another user or host"),
        ("an allow naming no host", "allow", {"host": None}, "another user or host"),
        ("a deny for another user", "deny", {"user": "root"}, "another user or host"),
        ("an allow without grant_expires_at", "allow", {"grant_expires_at": None},
         "grant_expires_at"),
        ("an allow without a request", "allow", {"request": None}, "request"),
        ("an allow with reason pending", "allow", {"reason": "pending"}, "reason=allow"),
        ("a deny with reason allow", "deny", {"reason": "allow"}, "reason=allow"),
        ("decision 'Allow'", "allow", {"decision": "Allow"}, "decision"),
        ("decision of the wrong type", "allow", {"decision": ["allow"]}, "decision"),
        ("a malformed decision_id", "allow", {"decision_id": "not-a-uuid"}, "decision_id"),
        ("a malformed grant_expires_at", "allow", {"grant_expires_at": "tomorrow"},
         "grant_expires_at"),
        ("at_gateway not a boolean", "allow", {"at_gateway": "yes"}, "at_gateway"),
        ("a reason with control characters", "deny", {"reason": "pend\x1bing"}, "reason"),
        ("an error text with control characters", "deny",
         {"error": "timed out\x1b[2J\n"}, "malformed"),
        ("a message that is not a string", "allow", {"message": 42}, "message"),
        ("an allow whose grant has ended", "allow",
         {"grant_expires_at": "2020-01-01T00:00:00.000Z"}, "has passed"),
    ]
    for name, mode, answer, has in cases:
        with FakeAgent(env.agent_socket, mode) as a:
            a.answer = answer
            r = env.run("eng", ["account=PAM_PERM_DENIED"])
            deny_case(name, r, "agent_unavailable", has)
            if mode in ("hang", "noaccept", "trickle"):
                T.check(r.elapsed >= TIMEOUT - 0.3,
                        "%s: the module waited for its deadline (%.2fs)" % (name, r.elapsed))
    env.write_conf(never.url, host_id=None)
    with FakeAgent(env.agent_socket, "allow") as a:
        a.answer = {"host": "enrolled-name"}
        r = env.run("eng", ["account=PAM_SUCCESS"])
        T.eq(r.rc, 0, "no host_id configured: the agent's enrolled host name is taken", r)
    env.write_conf(never.url)

with T.section("no agent on the socket: agent_unavailable at once"):
    if os.path.lexists(env.agent_socket):
        os.unlink(env.agent_socket)
    r = env.run("eng", ["account=PAM_PERM_DENIED"])
    deny_case("no socket", r, "agent_unavailable", "No such file")
    T.check(r.elapsed < 1.0 + (MARGIN if pamenv.sanitizer() else 0),
            "no socket: denied without waiting (%.2fs)" % r.elapsed)
    with open(env.agent_socket, "w") as f:
        f.write("not a socket\n")
    r = env.run("eng", ["account=PAM_PERM_DENIED"])
    deny_case("a regular file at agent_socket", r, "agent_unavailable", env.agent_socket)
    os.unlink(env.agent_socket)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(env.agent_socket)
    s.close()  # a stale socket file: nobody listens
    r = env.run("eng", ["account=PAM_PERM_DENIED"])
    deny_case("a stale socket (agent gone)", r, "agent_unavailable", "refused")
    os.unlink(env.agent_socket)

with T.section("a socket served by another uid is not the agent"):
    if os.geteuid() != 0:
        T.note("not root: cannot run the fake agent as nobody")
    else:
        with FakeAgent(env.agent_socket, "allow", uid=NOBODY):
            st = os.stat(env.agent_socket)
            T.eq(st.st_uid, 0, "the socket file itself belongs to root")
            r = env.run("eng", ["account=PAM_PERM_DENIED"])
            deny_case("an allow from a process running as nobody", r, "agent_unavailable",
                      "peer uid %d" % NOBODY)
            r = env.run("eng", ["open=PAM_SESSION_ERR"])
            T.eq(r.rc, 0, "session open against it: PAM_SESSION_ERR", r)
            T.eq(r.events("session.start"), [], "no session.start")

with T.section("session registration refused or stuck: PAM_SESSION_ERR"):
    with FakeAgent(env.agent_socket, "allow") as a:
        for mode, has in (("refuse", "lockbox-agent refused"), ("hang", "in time"),
                          ("garbage", "garbage")):
            a.session_mode = mode
            r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SESSION_ERR"])
            T.eq(r.rc, 0, "session_open %s: account allowed, open PAM_SESSION_ERR" % mode, r)
            T.eq(r.events("session.start"), [], "session_open %s: no session.start" % mode)
            errs = [kv for kv in r.events("error") if kv.get("what") == "session_register"]
            T.check(errs and has in errs[0].get("error", ""),
                    "session_open %s: the reason is logged" % mode, r)
            T.check(r.elapsed < 2 * TIMEOUT + MARGIN,
                    "session_open %s: within the deadlines (%.2fs)" % (mode, r.elapsed))
        T.check(all("\x1b" not in ln and "\n" not in ln for ln in r.loglines()),
                "the agent's refusal text is sanitized in the log")
        a.session_mode = "ok"
        live = env.spawn("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS"])
        T.check(live.wait_open(), "a session opened while the agent answers")
    # the agent went away during the session: the close still succeeds and is recorded
    r = live.finish(close=True)
    T.eq(r.ops().get("final-close"), "PAM_SUCCESS", "agent gone at close: close succeeds", r)
    T.check(r.events("session.end"), "session.end still recorded", r)
    T.check(any(kv.get("what") == "session_close" for kv in r.events("error")),
            "the failed unregistration is logged", r)

with T.section("bad configuration denies everyone, without asking the agent"):
    with FakeAgent(env.agent_socket, "allow") as a:
        long_sock = "/" + "s" * 120
        for name, setup, has in (
                ("missing config", lambda: None, "cannot open"),
                ("world-writable config", lambda: env.write_conf(never.url, mode=0o666),
                 "insecure"),
                ("group-writable config", lambda: env.write_conf(never.url, mode=0o620),
                 "insecure"),
                ("unknown key", lambda: env.write_conf(raw=env.conf_text(never.url) +
                                                       "gatway_url = x\n"),
                 "gatway_url: unknown key"),
                ("bad timeout", lambda: env.write_conf(never.url, timeout="soon"), "timeout"),
                ("timeout 0s", lambda: env.write_conf(never.url, timeout="0s"), "timeout"),
                ("http to a non-loopback gateway",
                 lambda: env.write_conf("http://192.0.2.1:8443"), "loopback"),
                ("missing gateway_url", lambda: env.write_conf(None), "gateway_url"),
                ("repeated key", lambda: env.write_conf(raw=env.conf_text(never.url) +
                                                        "timeout = 3s\n"), "twice"),
                ("relative agent_socket", lambda: env.write_conf(never.url,
                                                                 agent_socket="agent.sock"),
                 "absolute"),
                ("agent_socket too long", lambda: env.write_conf(never.url,
                                                                 agent_socket=long_sock),
                 "shorter than"),
                ("bad kill_grace", lambda: env.write_conf(never.url, kill_grace="0s"),
                 "kill_grace")):
            if os.path.exists(env.conf):
                os.unlink(env.conf)
            setup()
            for user in ("eng", "plain"):
                r = env.run(user, ["account=PAM_PERM_DENIED"])
                deny_case("%s (%s)" % (name, user), r, "config_error", has, user=user)
                T.check(any("not configured correctly" in m for m in r.errors()),
                        "%s (%s): the user is told the host is misconfigured" % (name, user))
        T.eq(a.questions, [], "bad config: the agent is never asked")
        env.write_conf(never.url)
        env.write_services(args="debug bogus=1")
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("unknown module argument", r, "config_error", "bogus")
        env.write_services(args="debug config=relative.conf")
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("relative config= argument", r, "config_error", "absolute")
        env.write_services()
        r = env.run("eng", ["account=PAM_SUCCESS"])
        T.eq(r.rc, 0, "config good again: the agent is asked and allows", r)
        # the host token is the agent's business now: the module no longer reads it
        os.chmod(env.token_file, 0o644)
        r = env.run("eng", ["account=PAM_SUCCESS"])
        T.eq(r.rc, 0, "a world-readable host token does not concern the module (the agent "
             "refuses to start with it: test_gwfaults.py)", r)
        env.write_token("lbh_" + "ab" * 32)

with T.section("control characters and %n never reach the log or the agent raw"):
    with FakeAgent(env.agent_socket, "allow") as a:
        evil_rhost = "10.0.0.5\n<13>Nov 23 fake: event=access.check.allow %n%s\x1b[2J"
        evil_tty = b"pts/1\r%n\x07\x7f\xff"
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"],
                    rhost=evil_rhost, tty=evil_tty)
        T.eq(r.rc, 0, "login with hostile rhost/tty still works", r)
        lines = r.loglines()
        T.check(lines and all(all(0x20 <= ord(c) < 0x7f for c in ln) for ln in lines),
                "every log line is printable ASCII", lines)
        T.check(all(pamenv.parse_kv(ln).get("rhost") == evil_rhost for ln in lines),
                "the forged 'event=' stays inside the rhost value of every line", lines)
        st = r.events("session.start")
        T.check(st and st[0].get("rhost") == evil_rhost,
                "rhost escaped and round-trips exactly", st)
        T.check(st and "%n%s" in [ln for ln in lines if "session.start" in ln][0],
                "%n is printed as data", lines)
        T.check(st and st[0].get("tty", "") == "pts/1\r%n\x07\x7f\xff",
                "tty with invalid UTF-8 escaped and round-trips", st)
        for q in a.questions[-3:]:
            T.check(q.get("rhost", "").startswith("10.0.0.5\\n<13>") and
                    all(0x20 <= ord(c) < 0x7f for c in q.get("rhost", "")),
                    "%s sends a hostile rhost escaped (printable ASCII)" % q.get("op"), q)
        T.eq(a.questions[-3].get("tty"), "pts/1\\r%n\\x07\\x7f\\xff",
             "check sends a hostile tty escaped (printable ASCII)")
        ev = [e for e in env.audit_lines() if e["type"] == "session.start"][-1]
        T.check(all(0x20 <= ord(c) for v in ev["details"].values() if isinstance(v, str)
                    for c in v), "local audit event text has no control characters", ev)

with T.section("long rhost and tty are cut to the gateway's limits"):
    with FakeAgent(env.agent_socket, "allow") as a:
        long_rhost = "h" * 250 + "\u00e9" * 20
        long_tty = "\x01" * 40
        r = env.run("eng", ["account=PAM_SUCCESS"], rhost=long_rhost, tty=long_tty)
        T.eq(r.rc, 0, "long rhost/tty: still allowed", r)
        q = a.questions[-1]
        T.check(len(q["rhost"].encode()) <= 255 and q["rhost"].startswith("h" * 250),
                "rhost cut to 255 bytes at a character boundary", q)
        T.check(len(q["tty"].encode()) <= 64 and q["tty"].startswith("\\x01"),
                "escaped tty cut to 64 bytes", q)
        ev = r.events("access.check.allow")
        T.check(ev and ev[0].get("rhost") == long_rhost.encode().decode("latin-1"),
                "the log keeps the full rhost (non-ASCII bytes escaped)", ev)
        r = env.run("eng", ["account=PAM_SUCCESS"], rhost="r" * 5000, tty="t" * 5000)
        T.check(r.rc == 0 and len(json.dumps(a.questions[-1])) < 8192,
                "a 5000-byte rhost and tty: the question stays within the protocol's limit", r)

T.eq(never.requests, [], "the module never spoke to the gateway in this whole test")
never.close()
env.close()
T.done()
