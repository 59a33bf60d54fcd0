"""pam_lockbox against a misbehaving gateway: every fault denies within the deadline, logged.

Runs the built module under pam_wrapper (service files generated here) with nss_wrapper users,
talking to tests/pam/fakegw.py. The config's timeout is 2s; each deny must come within
timeout + margin, with the reason in the module's log line (the debug argument copies log
lines to stderr). Also: allow/ignore/exempt basics, TLS verification, proxies ignored,
bad config, sanitised messages, control characters in logs, store-and-forward of events.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
import fakegw  # noqa: E402
import pamenv  # noqa: E402

T = lbtest.Runner("pam_faults")


def gateway_own(e):
    """An access.check event whose id is the gateway's decision_id: the gateway wrote it
    itself, so the module does not send it back unless it rides with an older backlog."""
    return e["type"].startswith("access.check.") and e["id"] == e["details"].get("decision_id")


def check_delivery(T, g, lines, what):
    sent = list(g.audit_ids)
    T.eq(len(sent), len(set(sent)), what + ": nothing sent twice")
    unsent = [e for e in lines if e["id"] not in sent]
    T.check(all(gateway_own(e) for e in unsent), what + ": all but the gateway's own check events",
            [e["type"] for e in unsent])
    T.check(set(sent) <= {e["id"] for e in lines}, what + ": only local events were sent")
why = pamenv.prerequisites()
if why:
    T.skip(why)

TIMEOUT = 2.0
MARGIN = 3.0 if pamenv.sanitizer() else 1.5

env = pamenv.PamEnv("faults")


def deny_case(name, r, reason, error_has=None, user="eng"):
    """Asserts a deny within the deadline with REASON logged."""
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
    T.check(any(m.startswith("lockbox: access denied") for m in r.errors()),
            "%s: the user is told access is denied" % name, r)


with T.section("basics with a well-behaved fake gateway"):
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url)
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "gated user with an approved request: account, open, close succeed", r)
        T.check(any("access granted by request req_0123456789abcdef until 2099-01-01" in m
                    for m in r.infos()), "allow shows the request id and grant end", r)
        chk = [q for q in g.requests if q[1] == "/v1/check"]
        T.check(len(chk) == 1, "one POST /v1/check", g.requests)
        if chk:
            body = json.loads(chk[0][3])
            T.eq(body, {"user": "eng", "service": "sshd", "rhost": "10.0.0.5", "tty": "ssh"},
                 "check body carries user, service, rhost, tty")
            T.eq(chk[0][2].get("authorization"), "Bearer lbh_" + "ab" * 32,
                 "host token sent as a bearer token")
        starts = r.events("session.start")
        allow = r.events("access.check.allow")
        T.check(len(starts) == 1 and len(allow) == 1, "allow and session.start logged", r)
        if starts and allow:
            T.eq(starts[0].get("decision_id"), allow[0]["id"],
                 "session.start carries the decision id of the account check")
            T.eq(allow[0]["id"], allow[0].get("decision_id"),
                 "the allow event's id is the gateway's decision_id")
        T.check(starts and starts[0].get("request") == "req_0123456789abcdef",
                "session.start line names the request", starts)
        ends = r.events("session.end")
        T.check(len(ends) == 1 and starts and ends[0].get("session") == starts[0]["id"],
                "session.end refers to the session.start", r)
        check_delivery(T, g, env.audit_lines(), "every local event is at the gateway once")

        r = env.run("plain", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
                "user outside gated_group: the module returns PAM_IGNORE", r)
        T.check(not r.events("access.check.allow") and not r.events("session.start"),
                "no events for a user who is not gated", r)
        r = env.run("eng2", ["account=PAM_SUCCESS"])
        T.check(bool(r.events("access.check.allow")),
                "supplementary member of gated_group is gated", r)

        env.write_conf(g.url, exempt_users="exempt1, someone")
        n = len(g.requests)
        r = env.run("exempt1", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
                "exempt user: PAM_IGNORE", r)
        T.eq(len(g.requests), n, "exempt user: the gateway is not asked")

        env.write_conf(g.url, gated_group="nosuchgroup")
        r = env.run("eng", ["account=PAM_SUCCESS"])
        T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
                "gated_group that does not exist: nobody is gated", r)

        env.write_conf(g.url)
        r = env.run("eng", ["open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "session without account in this handle: decided at open", r)
        allow, starts = r.events("access.check.allow"), r.events("session.start")
        T.check(allow and starts and starts[0].get("decision_id") == allow[0]["id"],
                "session.start carries the decision made at open", r)
        g.mode = "deny"
        r = env.run("eng", ["open=PAM_SESSION_ERR"])
        T.eq(r.rc, 0, "session without account, gateway denies: PAM_SESSION_ERR", r)
        T.eq(r.events("session.start"), [], "no session.start for a refused session")
        g.mode = "allow"
        r = env.run("eng", ["account=PAM_SUCCESS"], service="xrdp-sesman")
        chk = [q for q in g.requests if q[1] == "/v1/check"]
        T.eq(json.loads(chk[-1][3]).get("service"), "xrdp-sesman",
             "service xrdp-sesman is sent as the PAM service")

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
        for reason, hint in (("no_request", "Open a lockbox access request"),
                             ("no_elevation", "Activate an elevation"),
                             ("elevation_after_approval", "Activate an elevation"),
                             ("revoked", "Open a new lockbox access request")):
            g.answer = {"reason": reason, "message": "m"}
            r = env.run("eng", ["account=PAM_PERM_DENIED"])
            T.check(r.rc == 0 and any(hint in m for m in r.errors()),
                    "deny %s: hint %r" % (reason, hint), r)
        g.answer = {"decision": "allow", "reason": "allow", "decision_id": "not-a-uuid",
                    "grant_expires_at": "2099-01-01T00:00:00Z"}
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("allow with a malformed decision_id", r, "gateway_bad_answer", "decision_id")
        g.answer = {"decision": "allow", "reason": "allow", "grant_expires_at": None}
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("allow without grant_expires_at", r, "gateway_bad_answer")
        g.answer = {"decision": "Allow"}
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("decision 'Allow' (not exactly allow)", r, "gateway_bad_answer")
        g.answer = {"decision": ["allow"]}
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("decision of the wrong type", r, "gateway_bad_answer")

with T.section("transport faults"):
    r = (env.write_conf(fakegw.refused_url()), env.run("eng", ["account=PAM_PERM_DENIED"]))[1]
    deny_case("connection refused", r, "gateway_unreachable")
    for mode, reason, slow in (("blackhole", "gateway_timeout", True),
                               ("trickle", "gateway_timeout", True),
                               ("big", "gateway_bad_answer", False),
                               ("big_chunked", "gateway_bad_answer", False),
                               ("status500", "gateway_http_error", False),
                               ("dupkey", "gateway_bad_answer", False),
                               ("garbage", "gateway_bad_answer", False)):
        with fakegw.FakeGateway(mode) as g:
            env.write_conf(g.url)
            r = env.run("eng", ["account=PAM_PERM_DENIED"])
            deny_case(mode, r, reason, {"status500": "500", "dupkey": "duplicate",
                                        "big": "larger than",
                                        "big_chunked": "larger than"}.get(mode))
            if slow:
                T.check(r.elapsed >= TIMEOUT - 0.3,
                        "%s: the module waited for the deadline (%.2fs)" % (mode, r.elapsed))
    with fakegw.FakeGateway("allow") as target, fakegw.FakeGateway("status302") as g:
        g.answer = {"location": target.url}
        env.write_conf(g.url)
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("302 redirect", r, "gateway_http_error", "302")
        T.eq([q for q in target.requests if q[1] == "/v1/check"], [],
             "302: the redirect was not followed")

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

with T.section("proxies from the environment are ignored"):
    with fakegw.FakeGateway("allow") as proxy:
        for url in (fakegw.refused_url(), fakegw.refused_url().replace("http:", "https:")):
            env.write_conf(url)
            penv = {k: proxy.url for k in ("http_proxy", "https_proxy", "HTTP_PROXY",
                                           "HTTPS_PROXY", "ALL_PROXY", "all_proxy")}
            penv["NO_PROXY"] = ""
            r = env.run("eng", ["account=PAM_PERM_DENIED"], extra_env=penv)
            deny_case("https_proxy set (%s)" % url.split(":")[0], r, "gateway_unreachable")
        T.eq(proxy.connections, 0, "the proxy was never contacted")

with T.section("bad configuration denies everyone"):
    with fakegw.FakeGateway("allow") as g:
        for name, setup, has in (
                ("missing config", lambda: None, "cannot open"),
                ("world-writable config", lambda: env.write_conf(g.url, mode=0o666),
                 "insecure"),
                ("group-writable config", lambda: env.write_conf(g.url, mode=0o620),
                 "insecure"),
                ("unknown key", lambda: env.write_conf(raw=env.conf_text(g.url) +
                                                       "gatway_url = x\n"),
                 "gatway_url: unknown key"),
                ("bad timeout", lambda: env.write_conf(g.url, timeout="soon"), "timeout"),
                ("http to a non-loopback gateway",
                 lambda: env.write_conf("http://192.0.2.1:8443"), "loopback"),
                ("missing gateway_url", lambda: env.write_conf(None), "gateway_url"),
                ("repeated key", lambda: env.write_conf(raw=env.conf_text(g.url) +
                                                        "timeout = 3s\n"), "twice")):
            if os.path.exists(env.conf):
                os.unlink(env.conf)
            setup()
            for user in ("eng", "plain"):
                r = env.run(user, ["account=PAM_PERM_DENIED"])
                deny_case("%s (%s)" % (name, user), r, "config_error", has, user=user)
        T.eq([q for q in g.requests if q[1] == "/v1/check"], [],
             "bad config: the gateway is never asked")
        env.write_conf(g.url)
        env.write_token("lbh_" + "ab" * 32, mode=0o644)
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("world-readable host token", r, "config_error", "0600")
        os.unlink(env.token_file)
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("missing host token", r, "config_error", "host token")
        env.write_token("lbh_" + "ab" * 32)
        env.write_services(args="debug bogus=1")
        r = env.run("eng", ["account=PAM_PERM_DENIED"])
        deny_case("unknown module argument", r, "config_error", "bogus")
        env.write_services()

with T.section("control characters and %n never reach the log raw"):
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url)
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
        body = json.loads([q for q in g.requests if q[1] == "/v1/check"][-1][3])
        T.check(body.get("rhost", "").startswith("10.0.0.5\\n<13>") and
                all(0x20 <= ord(c) < 0x7f for c in body.get("rhost", "")),
                "check sends a hostile rhost escaped (printable ASCII)", body)
        T.eq(body.get("tty"), "pts/1\\r%n\\x07\\x7f\\xff",
             "check sends a hostile tty escaped (printable ASCII)")
        ev = [e for e in env.audit_lines() if e["type"] == "session.start"][-1]
        T.check(all(0x20 <= ord(c) for v in ev["details"].values() if isinstance(v, str)
                    for c in v), "local audit event text has no control characters", ev)

with T.section("long rhost and tty are cut to the gateway's limits"):
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url)
        long_rhost = "h" * 250 + "\u00e9" * 20
        long_tty = "\x01" * 40
        r = env.run("eng", ["account=PAM_SUCCESS"], rhost=long_rhost, tty=long_tty)
        T.eq(r.rc, 0, "long rhost/tty: still allowed", r)
        body = json.loads([q for q in g.requests if q[1] == "/v1/check"][-1][3])
        T.check(len(body["rhost"].encode()) <= 255 and body["rhost"].startswith("h" * 250),
                "rhost cut to 255 bytes at a character boundary", body)
        T.check(len(body["tty"].encode()) <= 64 and body["tty"].startswith("\\x01"),
                "escaped tty cut to 64 bytes", body)
        ev = r.events("access.check.allow")
        T.check(ev and ev[0].get("rhost") == long_rhost.encode().decode("latin-1"),
                "the log keeps the full rhost (non-ASCII bytes escaped)", ev)

with T.section("store and forward: nothing lost, nothing duplicated"):
    env2 = pamenv.PamEnv("saf")
    with fakegw.FakeGateway("audit_down") as g:
        env2.write_conf(g.url)
        r = env2.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "audit endpoint down: the login still works", r)
        lines = env2.audit_lines()
        T.eq(len(lines), 3, "check, start and end kept in the local log")
        first = open(env2.audit_log, "rb").readline()
        T.eq(env2.cursor(), len(first),
             "only the gateway's own check event counts as delivered; the sessions wait")
        T.check(any("audit_delivery" in ln and "503" in ln for ln in r.loglines()),
                "delivery failure logged", r)
        g.mode = "allow"
        r = env2.run("eng", ["account=PAM_SUCCESS"])
        T.eq(len(env2.audit_lines()), 4, "four events locally")
        check_delivery(T, g, env2.audit_lines(),
                       "the next PAM call delivered the backlog, each event exactly once")
        T.eq(env2.cursor(), os.path.getsize(env2.audit_log), "nothing left pending")
        st = os.stat(env2.audit_log)
        T.eq(st.st_mode & 0o777, 0o600, "audit log is mode 0600")
    with fakegw.FakeGateway("blackhole") as g:
        env2.write_conf(g.url)
        r = env2.run("eng", ["account=PAM_PERM_DENIED"])
        T.check(r.elapsed < TIMEOUT + MARGIN, "gateway hangs: deny within the deadline")
        n_before = len(env2.audit_lines())
    with fakegw.FakeGateway("allow") as g:
        env2.write_conf(g.url)
        r = env2.run("eng", ["account=PAM_SUCCESS"])
        T.eq(len(g.audit_ids), 2, "the local deny event and the new allow were delivered")
        T.eq(len(env2.audit_lines()), n_before + 1, "local log kept everything")
    env2.close()

env.close()
T.done()
