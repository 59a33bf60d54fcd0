"""pam_lockbox + the real lockbox-agent against a misbehaving gateway (tests/pam/fakegw.py):
every gateway fault becomes a deny the agent decides (at_gateway false) with the reason that
names the fault (gateway_unreachable, gateway_timeout, gateway_tls_error, gateway_http_error,
gateway_bad_answer, host_unknown), and the module passes it on within its deadline.

Also: what the agent asks the gateway, TLS verification, proxies ignored, the agent refusing
to start on a bad config or host token, store-and-forward of the local audit log by the
agent (nothing lost, nothing sent twice), and the gateway's change signal ending a live
session whose grant was revoked.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
import fakegw  # noqa: E402
import pamenv  # noqa: E402

T = lbtest.Runner("pam_gwfaults")
why = pamenv.prerequisites()
if why:
    T.skip(why)

TIMEOUT = 2.0
MARGIN = 3.0 if pamenv.sanitizer() else 1.5
DELIVERY = 3.0  # an append is delivered within ~1 s while the gateway answers

env = pamenv.PamEnv("gwfaults")


def gateway_own(e):
    """An access.check event whose id is the gateway's decision_id: the gateway wrote it
    itself, so it is not sent back unless it rides with an older backlog."""
    return e["type"].startswith("access.check.") and e["id"] == e["details"].get("decision_id")


def check_delivery(g, lines, what):
    sent = list(g.audit_ids)
    T.eq(len(sent), len(set(sent)), what + ": nothing sent twice")
    unsent = [e for e in lines if e["id"] not in sent]
    T.check(all(gateway_own(e) for e in unsent),
            what + ": all but the gateway's own check events", [e["type"] for e in unsent])
    T.check(set(sent) <= {e["id"] for e in lines}, what + ": only local events were sent")


def checks(g):
    return [q for q in g.requests if q[1] == "/v1/check"]


def deny_case(name, r, reason, error_has=None, user="eng"):
    """A deny within the deadline carrying the agent's REASON (and ERROR_HAS)."""
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
    T.check(any(m.startswith("lockbox: access denied") and ("reason %s" % reason) in m
                for m in r.errors()), "%s: the user is told access is denied, and why" % name,
            r)
    return evs[0] if evs else {}


with T.section("a well-behaved gateway: what the agent asks, what it delivers"):
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url)
        env.start_agent()
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "gated user with an approved request: account, open, close succeed", r)
        T.check(any("access granted by request req_0123456789abcdef until 2099-01-01" in m
                    for m in r.infos()), "allow shows the request id and grant end", r)
        chk = checks(g)
        T.eq(len(chk), 1, "one POST /v1/check per login (session open asks nothing more)")
        if chk:
            T.eq(chk[0][0], "POST", "the check is a POST")
            T.eq(chk[0][2].get("authorization"), "Bearer lbh_" + "ab" * 32,
                 "the agent sends the host token as a bearer token")
            T.eq(json.loads(chk[0][3]), {"user": "eng", "service": "sshd", "rhost": "10.0.0.5",
                                         "tty": "ssh"},
                 "the check body: user, service, rhost, tty")
        T.check(env.wait_delivered(DELIVERY), "the agent delivered the local log within %.0fs"
                % DELIVERY, (env.cursor(), os.path.getsize(env.audit_log)))
        lines = env.audit_lines()
        T.eq([e["type"] for e in lines], ["access.check.allow", "session.start", "session.end"],
             "check, start and end in the local log")
        check_delivery(g, lines, "every local event is at the gateway once")
        T.check(any(a == lines[1]["id"] for a in g.audit_ids) and
                any(a == lines[2]["id"] for a in g.audit_ids),
                "session.start and session.end were delivered")

        n = len(checks(g))
        r = env.run("plain", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
                "user outside gated_group: PAM_IGNORE", r)
        env.write_conf(g.url, exempt_users="exempt1, someone")
        r = env.run("exempt1", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
                "exempt user: PAM_IGNORE", r)
        T.eq(len(checks(g)), n, "not gated, exempt: the gateway is not asked")
        env.write_conf(g.url)
        r = env.run("eng", ["open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "session without account in this handle: decided at open", r)
        g.mode = "deny"
        r = env.run("eng", ["open=PAM_SESSION_ERR"])
        T.eq(r.rc, 0, "session without account, the gateway denies: PAM_SESSION_ERR", r)
        T.eq(r.events("session.start"), [], "no session.start for a refused session")
        g.mode = "allow"
        r = env.run("eng", ["account=PAM_SUCCESS"], service="xrdp-sesman")
        T.eq(json.loads(checks(g)[-1][3]).get("service"), "xrdp-sesman",
             "service xrdp-sesman is sent as the PAM service")
        st = env.agent.status()
        T.check(st.get("ok") is True and st.get("host") == "web-01" and
                st.get("gateway_ok") is True and st.get("gateway_url") == g.url,
                "the agent's status: host, gateway URL, gateway answering", st)

with T.section("the gateway's deny and bad answers, through the agent"):
    with fakegw.FakeGateway("deny") as g:
        env.write_conf(g.url)
        g.answer = {"message": "evil \x1b[31mred\x1b[0m\nsecond line\r%n%s", "reason": "pending"}
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        T.eq(r.rc, 0, "gateway deny: PAM_PERM_DENIED", r)
        msgs = r.errors()
        T.check(len(msgs) == 1 and "req_0123456789abcdef" in msgs[0] and
                "reason pending" in msgs[0] and "Wait until the request is approved" in msgs[0],
                "deny message names the request, the reason and what to do", r)
        T.check(msgs and "\\x" not in msgs[0] and "evil ?[31mred?[0m?second line?%n%s" in msgs[0],
                "gateway message sanitized (escape sequences and newlines replaced)", msgs)
        ev = r.events("access.check.deny")
        T.check(ev and [e for e in env.audit_lines() if e["id"] == ev[0]["id"] and
                        gateway_own(e)],
                "a gateway deny is logged under the gateway's decision id", ev)
        for name, answer, has in (
                ("an allow with a malformed decision_id",
                 {"decision": "allow", "reason": "allow", "decision_id": "not-a-uuid",
                  "grant_expires_at": "2099-01-01T00:00:00Z"}, "decision_id"),
                ("an allow without grant_expires_at",
                 {"decision": "allow", "reason": "allow", "grant_expires_at": None},
                 "grant_expires_at"),
                ("decision 'Allow'", {"decision": "Allow"}, "decision"),
                ("decision of the wrong type", {"decision": ["allow"]}, "decision"),
                ("an allow for another user",
                 {"decision": "allow", "reason": "allow", "user": "eng2",
                  "grant_expires_at": "2099-01-01T00:00:00Z"},
                 "another user or host (eng2 on web-01)"),
                ("an allow for another host",
                 {"decision": "allow", "reason": "allow", "host": "web-02",
                  "grant_expires_at": "2099-01-01T00:00:00Z"},
                 "another user or host (eng on web-02)"),
                ("an allow that names no user or host",
                 {"decision": "allow", "reason": "allow", "user": None, "host": None,
                  "grant_expires_at": "2099-01-01T00:00:00Z"}, "another user or host"),
                ("a message that is not text",
                 {"decision": "allow", "reason": "allow", "message": {"x": 1},
                  "grant_expires_at": "2099-01-01T00:00:00Z"}, "message")):
            g.answer = answer
            r = env.run("eng", ["account=PAM_PERM_DENIED"])
            ev = deny_case(name, r, "gateway_bad_answer", has)
            T.check(ev.get("decision_id") and ev.get("decision_id") != g.answer.get(
                "decision_id"), "%s: the agent's own decision id, not the gateway's" % name)

with T.section("transport faults: the agent's reason, within the module's deadline"):
    env.write_conf(fakegw.refused_url())
    r = env.run("eng", ["account=PAM_PERM_DENIED"])
    deny_case("connection refused", r, "gateway_unreachable")
    for mode, reason, slow, has in (
            ("blackhole", "gateway_timeout", True, None),
            ("trickle", "gateway_timeout", True, None),
            ("big", "gateway_bad_answer", False, "larger than"),
            ("big_chunked", "gateway_bad_answer", False, "larger than"),
            ("status500", "gateway_http_error", False, "500"),
            ("status401", "host_unknown", False, "401"),
            ("dupkey", "gateway_bad_answer", False, "duplicate"),
            ("garbage", "gateway_bad_answer", False, "JSON")):
        with fakegw.FakeGateway(mode) as g:
            env.write_conf(g.url)
            r = env.run("eng", ["account=PAM_PERM_DENIED"])
            deny_case(mode, r, reason, has)
            T.check(len(checks(g)) >= 1, "%s: the agent asked the gateway" % mode)
            if slow:
                T.check(r.elapsed >= TIMEOUT - 0.6,
                        "%s: the agent waited for the gateway until its budget (%.2fs)"
                        % (mode, r.elapsed))
            if mode == "status401":
                T.check(any("host's administrators" in m or "administrator" in m
                            for m in r.errors()), "401: the user is sent to an admin", r)
    with fakegw.FakeGateway("allow") as target, fakegw.FakeGateway("status302") as g:
        g.answer = {"location": target.url}
        env.write_conf(g.url)
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("302 redirect", r, "gateway_http_error", "302")
        T.eq(checks(target), [], "302: the redirect was not followed")
    with fakegw.FakeGateway("garbage") as g:
        g.mode = "garbage"
        env.write_conf(g.url)
        orig = g._send
        g._send = lambda c, status, body, extra="": orig(c, status, "\x01\x1b[2J\x7f{", extra)
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("garbage with control characters", r, "gateway_bad_answer")
        T.check(all(all(0x20 <= ord(ch) < 0x7f for ch in ln) for ln in r.loglines()),
                "the agent's error text reaches the log printable", r.loglines())

with T.section("TLS"):
    pki = lbtest.make_ca(os.path.join(env.tmp, "pki"))
    with fakegw.FakeGateway("allow", tls=(pki["cert"], pki["key"])) as g:
        env.write_conf(g.url, ca_file=pki["ca"])
        r = env.run("eng", ["account=PAM_SUCCESS"])
        T.check(r.rc == 0 and r.events("access.check.allow"),
                "https gateway with the right CA: allowed", r)
        env.write_conf(g.url.replace("127.0.0.1", "localhost"), ca_file=pki["ca"])
        r = env.run("eng", ["account=PAM_SUCCESS"])
        T.check(r.rc == 0, "https://localhost with the right CA: allowed", r)
        env.write_conf(g.url, ca_file=pki["wrong_ca"])
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("wrong CA", r, "gateway_tls_error")
        env.write_conf(g.url)  # no ca_file: the system store does not know our test CA
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("system CA store, private CA", r, "gateway_tls_error")
        env.write_conf(g.url.replace("https", "http"))
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("plain http to a TLS port", r, "gateway_bad_answer")

with T.section("proxies in the agent's environment are ignored"):
    with fakegw.FakeGateway("allow") as proxy:
        penv = {k: proxy.url for k in ("http_proxy", "https_proxy", "HTTP_PROXY",
                                       "HTTPS_PROXY", "ALL_PROXY", "all_proxy")}
        penv["NO_PROXY"] = ""
        for url in (fakegw.refused_url(), fakegw.refused_url().replace("http:", "https:")):
            env.write_conf(url, restart=False)
            env.stop_agent()
            env.start_agent(extra_env=penv)
            r = env.run("eng", ["account=PAM_PERM_DENIED"])
            deny_case("proxy set for the agent (%s)" % url.split(":")[0], r,
                      "gateway_unreachable")
        env.agent.extra_env = {}
        T.eq(proxy.connections, 0, "the proxy was never contacted")

with T.section("the agent refuses to start on a bad config or host token"):
    with fakegw.FakeGateway("allow") as g:
        def refused(name, has, module_reason, module_has, check_config=True):
            env.stop_agent()
            ok = env.start_agent(check=False, timeout=10)
            T.check(not ok, "%s: the agent does not start" % name)
            tail = env.agent.log_tail(3)
            T.check(has in tail and "error" in tail, "%s: it says why (%r)" % (name, has), tail)
            r = env.run("eng", ["account=PAM_PERM_DENIED"])
            deny_case("%s: the module" % name, r, module_reason, module_has)
            if check_config:
                p = subprocess.run([pamenv.agent_path(), "-c", env.conf, "--check-config"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   universal_newlines=True, timeout=30)
                T.check(p.returncode == 1 and has in p.stderr,
                        "%s: --check-config fails the same way (exit 1)" % name, p.stderr)

        # the module reads the same file: it denies with config_error itself
        env.write_conf(raw=env.conf_text(g.url) + "colour = blue\n", restart=False)
        refused("unknown key", env.conf + ":7: colour: unknown key", "config_error",
                ":7: colour: unknown key")
        env.write_conf(g.url, warn_before="soon", restart=False)
        refused("bad warn_before", "warn_before", "config_error", "warn_before")
        env.write_conf(g.url, mode=0o666, restart=False)
        refused("world-writable config", "insecure", "config_error", "insecure")
        # the host token is the agent's alone: the module finds no agent
        env.write_conf(g.url, restart=False)
        env.write_token("lbh_" + "ab" * 32, mode=0o644)
        refused("world-readable host token", "0600", "agent_unavailable", "No such file")
        os.unlink(env.token_file)
        refused("missing host token", "host token", "agent_unavailable", "No such file")
        env.write_token("lbh_" + "ab" * 32)
        env.write_token("lbh_bad token with spaces")
        refused("a malformed host token", "malformed", "agent_unavailable", "No such file")
        env.write_token("lbh_" + "ab" * 32)
        with open(env.agent_socket, "w") as f:
            f.write("x")
        refused("a regular file where the socket goes", "not a socket", "agent_unavailable",
                "refused", check_config=False)
        os.unlink(env.agent_socket)
        p = subprocess.run([pamenv.agent_path(), "-c", env.conf, "--check-config"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        T.check(p.returncode == 0 and "good" in p.stdout, "--check-config: a good config", p)
        p = subprocess.run([pamenv.agent_path(), "-c", env.conf, "--state-dir", "relative"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=30)
        T.check(p.returncode == 2 and "absolute" in p.stderr,
                "--state-dir must be absolute: exit 2", p.stderr)
        p = subprocess.run([pamenv.agent_path(), "--bogus"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
        T.check(p.returncode == 2 and "Usage" in p.stderr, "unknown option: usage, exit 2")
        T.check(env.start_agent(), "the agent starts again with everything good")
        r = env.run("eng", ["account=PAM_SUCCESS"])
        T.eq(r.rc, 0, "and the login works", r)

with T.section("store and forward by the agent: nothing lost, nothing duplicated"):
    env2 = pamenv.PamEnv("saf")
    with fakegw.FakeGateway("audit_down") as g:
        env2.write_conf(g.url)
        env2.start_agent()
        r = env2.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "audit endpoint down: the login still works", r)
        T.eq(len(env2.audit_lines()), 3, "check, start and end kept in the local log")
        lbtest.wait_until(lambda: "503" in env2.agent.log_text(), timeout=DELIVERY)
        T.check("delivery" in env2.agent.log_text() and "503" in env2.agent.log_text(),
                "the agent logs the failed delivery", env2.agent.log_tail(5))
        first = open(env2.audit_log, "rb").readline()
        T.eq(env2.cursor(), len(first),
             "only the gateway's own check event counts as delivered; the sessions wait")
        g.mode = "allow"
        r = env2.run("eng", ["account=PAM_SUCCESS"])
        T.eq(len(env2.audit_lines()), 4, "four events locally")
        T.check(env2.wait_delivered(DELIVERY),
                "gateway back: the backlog is delivered within %.0fs of the next login"
                % DELIVERY, env2.agent.log_tail(5))
        check_delivery(g, env2.audit_lines(), "the backlog, each event exactly once")
        T.eq(os.stat(env2.audit_log).st_mode & 0o777, 0o600, "audit log is mode 0600")
        # a longer outage: the agent backs off between attempts, but an event appended while
        # the gateway answers again still goes out within ~1 s
        g.mode = "audit_down"
        r = env2.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "audit endpoint down again: logins go on", r)
        time.sleep(8)
        fails = env2.agent.log_text().count("503")
        T.check(fails >= 3, "the agent kept trying (%d failed deliveries in 8 s)" % fails)
        T.check(env2.cursor() < os.path.getsize(env2.audit_log), "the events wait")
        g.mode = "allow"
        t0 = time.monotonic()
        r = env2.run("eng", ["account=PAM_SUCCESS"])
        ok = env2.wait_delivered(DELIVERY)
        T.check(ok, "after an 8 s outage, the next login's events and the backlog are "
                "delivered within %.0fs (took %.1fs)" % (DELIVERY, time.monotonic() - t0),
                env2.agent.log_tail(4))
        check_delivery(g, env2.audit_lines(), "after the longer outage")
    with fakegw.FakeGateway("blackhole") as g:
        env2.write_conf(g.url)
        r = env2.run("eng", ["account=PAM_PERM_DENIED"])
        T.check(r.elapsed < TIMEOUT + MARGIN, "gateway hangs: deny within the deadline", r)
        T.eq(r.events("access.check.deny")[0].get("reason") if r.events("access.check.deny")
             else None, "gateway_timeout", "gateway hangs: gateway_timeout")
        n_before = len(env2.audit_lines())
        T.check(env2.cursor() < os.path.getsize(env2.audit_log),
                "the agent's own deny waits in the local log")
    with fakegw.FakeGateway("allow") as g:
        env2.write_conf(g.url)  # the agent restarts: what an earlier run left goes at once
        T.check(env2.wait_delivered(DELIVERY), "a restarted agent delivers the backlog at once")
        T.eq(len(g.audit_ids), 1, "the local deny event was delivered", g.audit_ids)
        r = env2.run("eng", ["account=PAM_SUCCESS"])
        T.eq(len(env2.audit_lines()), n_before + 1, "local log kept everything")
        T.check(env2.wait_delivered(DELIVERY), "nothing left pending")
        check_delivery(g, env2.audit_lines()[n_before - 1:], "after the outage")
    env2.close()

with T.section("the gateway's change signal ends a session whose grant was revoked"):
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url, kill_grace="1s")
        live = env.spawn("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS"])
        T.check(live.wait_open(), "a session is open", live.lines)
        ss = env.agent.sessions()
        T.check(len(ss) == 1 and ss[0].get("pid") == live.pid and ss[0].get("user") == "eng",
                "the agent holds it, with the session's pid", ss)
        lbtest.wait_until(lambda: any("/v1/hosts/self/changes?since=" in q[1]
                                      for q in g.requests), timeout=5)
        n = len(checks(g))
        g.mode = "deny"
        g.answer = {"reason": "revoked", "message": "revoked by the customer"}
        t0 = time.monotonic()
        g.bump()
        gone = lbtest.wait_until(lambda: not live.alive(), timeout=5)
        el = time.monotonic() - t0
        r = live.kill() if live.alive() else live.result()
        T.check(gone and el < 2.0 + (MARGIN if pamenv.sanitizer() else 0),
                "the session's process ended %.2fs after the change signal" % el, r)
        T.eq(r.rc, -15, "it was ended by SIGTERM", r)
        rechecks = [json.loads(q[3]) for q in checks(g)[n:]]
        T.check(rechecks and rechecks[0].get("session") == ss[0].get("session") if ss else False,
                "the agent re-asked the gateway for this session", rechecks)
        term = lbtest.wait_until(lambda: [e for e in env.audit_lines()
                                          if e["type"] == "session.terminate"], timeout=5)
        T.check(term and term[-1]["details"].get("reason") == "revoked" and
                term[-1]["details"].get("session") == (ss[0].get("session") if ss else None),
                "session.terminate recorded with reason revoked", term)
        T.check(lbtest.wait_until(lambda: env.agent.sessions() == [], timeout=5) is not None,
                "the agent forgot the ended session")
        ends = lbtest.wait_until(lambda: [e for e in env.audit_lines()
                                          if e["type"] == "session.end" and
                                          e["details"].get("session") == ss[0].get("session")]
                                 if ss else None, timeout=5)
        T.check(ends and ends[-1]["details"].get("terminated") == "revoked",
                "the agent recorded session.end for it (the module could not)", ends)
        T.check(env.wait_delivered(DELIVERY), "and delivered both")

with T.section("a session whose process dies without closing: the agent records its end"):
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url)
        live = env.spawn("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS"])
        T.check(live.wait_open(), "a session is open")
        sid = [s["session"] for s in env.agent.sessions()]
        live.kill()
        ok = lbtest.wait_until(lambda: env.agent.sessions() == [], timeout=5)
        T.check(ok is not None, "the agent notices within its tick that the process is gone")
        ends = [e for e in env.audit_lines() if e["type"] == "session.end" and
                e["details"].get("session") in sid]
        T.check(len(ends) == 1 and ends[0]["details"].get("reason") == "process_exited",
                "one session.end (process_exited) by the agent", ends)

with T.section("the agent's sessions survive its restart"):
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url)
        live = env.spawn("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS"])
        T.check(live.wait_open(), "a session is open")
        before = [s["session"] for s in env.agent.sessions()]
        env.agent.kill9()
        T.check(env.start_agent(), "the agent starts again after a crash")
        T.eq([s["session"] for s in env.agent.sessions()], before,
             "the live session is still in its table")
        r = live.finish(close=True)
        T.eq(r.ops().get("final-close"), "PAM_SUCCESS", "the session closes normally", r)
        T.eq(env.agent.sessions(), [], "and the restarted agent forgot it")

env.close()
T.done()
