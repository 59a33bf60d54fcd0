"""pam_lockbox + the real lockbox-agent against the real lockbox-gatewayd (TLS, loopback):
allow, every deny reason the fixture can produce, not gated, exempt, rdp through xrdp-sesman,
session events in the gateway's audit store with the decision id, the live session in the
agent's table, the agent's delivery of the local audit log (within ~1 s of an append while
the gateway answers, queued while it is down), a revoke and a grant's end ending a live
session, `lockboxctl host check` deciding like the module, and store-and-forward across a
gateway kill. The module reaches the gateway only through the agent.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
import pamenv  # noqa: E402

T = lbtest.Runner("pam_gateway")
why = pamenv.prerequisites()
if why:
    T.skip(why)
if not os.path.exists(lbtest.gatewayd_path()):
    T.skip("lockbox-gatewayd not built")

TIMEOUT = 2.0
MARGIN = 3.0 if pamenv.sanitizer() else 1.5
DELIVERY = 3.0  # the agent delivers an append within ~1 s while the gateway answers
CTL = os.environ.get("LB_CTL", "")

gw = lbtest.Gateway(tls=True, conf_extra="pending_ttl = 3s\n")
gw.start()
admin = gw.bootstrap()
w = lbtest.world(gw, admin)
env = pamenv.PamEnv("gateway")


def use_host(name):
    """This host's identity: its token and config (the agent restarts to read them)."""
    env.write_token(w.host[name]["token"])
    # one local audit log per host identity, as on real hosts
    env.write_conf(gw.url, ca_file=gw.ca, host_id=name, timeout="%ds" % TIMEOUT,
                   exempt_users="exempt1",
                   audit_log=env.audit_log if name == "hA1" else env.audit_log + "." + name)
    if not env.agent.running():
        env.start_agent()


def engineer(login):
    w.add_user(login, "provider", role="engineer")
    env.add_user(login)
    return login


def approve(rid, who="ownA1"):
    return w.must("POST", "/v1/requests/%s/approve" % rid, {"reason": "ok"}, who=who)


def login(user, expect, service="sshd", session=False):
    ops = ["account=" + expect]
    if session:
        ops += ["open=PAM_SUCCESS", "close=PAM_SUCCESS"]
    return env.run(user, ops, service=service)


def denied(name, r, reason, request=None):
    T.eq(r.ops().get("account"), "PAM_PERM_DENIED", "%s: denied" % name, r)
    ev = r.events("access.check.deny")
    T.check(ev and ev[0].get("reason") == reason, "%s: reason %s logged" % (name, reason), r)
    msg = r.errors()
    T.check(msg and ("reason %s" % reason) in msg[0], "%s: the user sees the reason" % name, r)
    if request:
        T.check(msg and request in msg[0], "%s: the user sees request %s" % (name, request),
                msg)
    return ev[0] if ev else {}


def host_check(user, service="sshd", conf=None, json_out=False):
    """lockboxctl host check USER: (exit status, stdout, stderr)."""
    cmd = [CTL] + (["--json"] if json_out else []) + ["host", "check", user, "--service",
                                                        service, "--config", conf or env.conf]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def ctl_fields(out):
    """'key:   value' lines of `lockboxctl host check` as a dict."""
    d = {}
    for ln in out.splitlines():
        if ":" in ln:
            k, v = ln.split(":", 1)
            d[k.strip()] = v.strip()
    return d


def agrees(name, user, r, service="sshd"):
    """`lockboxctl host check` prints the decision and reason the module logged for R."""
    if not os.path.exists(CTL):
        return
    ev = r.events("access.check.allow") or r.events("access.check.deny")
    rc, out, err = host_check(user, service)
    f = ctl_fields(out)
    T.check(ev and f.get("decision") == ev[0].get("decision") and
            f.get("reason") == ev[0].get("reason"),
            "%s: lockboxctl host check says %s/%s like the module" %
            (name, f.get("decision"), f.get("reason")), (out, err, ev[:1]))
    T.eq(rc, 0 if f.get("decision") == "allow" else 1,
         "%s: host check exits %d" % (name, 0 if f.get("decision") == "allow" else 1), err)


def audit(**q):
    qs = "&".join("%s=%s" % kv for kv in q.items())
    items, cursor = [], None
    for _ in range(50):
        st, js, raw = w.call("GET", "/v1/audit/events?limit=200&" + qs +
                             ("&cursor=" + cursor if cursor else ""))
        if st != 200:
            raise lbtest.ApiError(raw)
        items += js["items"]
        cursor = js.get("next_cursor")
        if not cursor:
            break
    return items


use_host("hA1")

with T.section("not gated and exempt"):
    r = login("plain", "PAM_SUCCESS")
    T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
            "user outside lockbox-engineers: PAM_IGNORE", r)
    r = login("exempt1", "PAM_SUCCESS")
    T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
            "exempt user: PAM_IGNORE", r)
    # listed in gated_group, unknown to the user database: gated all the same (the module
    # answers from the group's member list alone; the agent is asked, and denies)
    lines = open(env.group).read().splitlines()
    with open(env.group, "w") as f:
        for ln in lines:
            f.write((ln + ",ghost1" if ln.startswith("lockbox-engineers:") else ln) + "\n")
    r = login("ghost1", "PAM_PERM_DENIED")
    T.check(r.events("access.check.deny") and
            not any("PAM_IGNORE" in ln for ln in r.loglines()),
            "a listed member the user database does not know is gated (asked, denied)", r)
    # a member list longer than the module's first 4 KiB NSS buffer: the lookup grows the
    # buffer (getgrnam_r's ERANGE) and still answers, for a listed member and a non-member
    saved = open(env.group).read()
    try:
        with open(env.group, "w") as f:
            for ln in saved.splitlines():
                if ln.startswith("lockbox-engineers:"):
                    ln += "," + ",".join("filler%04d" % i for i in range(1500)) + ",ghost2"
                f.write(ln + "\n")
        r = login("ghost2", "PAM_PERM_DENIED")
        ev = r.events("access.check.deny")
        T.check(ev and ev[0].get("reason") not in ("internal_error", "config_error"),
                "a member listed after 16 KiB of members is gated (asked, denied by the rule)",
                r)
        r = login("plain", "PAM_SUCCESS")
        T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
                "a user outside that long group is not gated: PAM_IGNORE", r)
    finally:   # the later sections use the group file as it was
        with open(env.group, "w") as f:
            f.write(saved)

with T.section("allow, sessions, audit store, revoke"):
    u = engineer("e_allow")
    r = login(u, "PAM_PERM_DENIED")
    denied("no request", r, "no_request")
    agrees("no request", u, r)
    w.elevate(u)
    req = w.new_request(who=u)
    r = login(u, "PAM_PERM_DENIED")
    denied("pending", r, "pending", req["id"])
    agrees("pending", u, r)
    approve(req["id"])
    r = login(u, "PAM_SUCCESS", session=True)
    T.eq(r.rc, 0, "approved + elevated before approval: account and session succeed", r)
    t_login = time.monotonic()
    T.check(env.wait_delivered(DELIVERY), "the agent delivered the login's events within "
            "%.0fs (%.2fs)" % (DELIVERY, time.monotonic() - t_login), env.agent.log_tail(5))
    agrees("allowed", u, r)
    if os.path.exists(CTL):
        rc, out, err = host_check(u, json_out=True)
        js = json.loads(out) if rc == 0 else {}
        # the agent holds the grant by now: its own decision (recorded), or the gateway's
        T.check(js.get("decision") == "allow" and js.get("request") == req["id"] and
                (js.get("at_gateway") is True or js.get("recorded") is True) and
                js.get("user") == u and js.get("host") == "hA1",
                "host check --json: the agent's answer (decision, request, user, host)", out)
    allow = r.events("access.check.allow")
    T.check(allow and allow[0].get("decision_id"), "allow logged with a decision id", r)
    T.check(any(req["id"] in m for m in r.infos()), "allow info names the request", r)
    did = allow[0]["decision_id"] if allow else None
    evs = audit(request=req["id"])
    by_type = {}
    for e in evs:
        by_type.setdefault(e["type"], []).append(e)
    st = by_type.get("session.start", [])
    en = by_type.get("session.end", [])
    T.eq(len(st), 1, "one session.start in the gateway's audit store")
    T.eq(len(en), 1, "one session.end in the gateway's audit store")
    if st and en:
        T.eq(st[0]["details"].get("decision_id"), did, "session.start carries the decision id")
        T.eq(en[0]["details"].get("decision_id"), did, "session.end carries the decision id")
        T.eq(st[0]["details"].get("user"), u, "session.start names the user")
        T.eq(st[0].get("request"), req["id"], "session.start names the request")
        T.check(st[0].get("host") == "hA1",
                "the gateway set the host from the token", st[0])
    T.eq(len([e for e in evs if e["id"] == did]), 1,
         "the allow event is stored once (our copy was a duplicate)")
    T.check(env.wait_delivered(DELIVERY), "local log fully delivered")

    # the live session in the agent's table, from open to close
    live = env.spawn(u, ["account=PAM_SUCCESS", "open=PAM_SUCCESS"])
    T.check(live.wait_open(), "a session held open by the driver", live.lines)
    ss = env.agent.sessions()
    T.eq(len(ss), 1, "the agent holds one live session")
    if ss:
        s0 = ss[0]
        T.check(s0.get("user") == u and s0.get("service") == "sshd" and
                s0.get("request") == req["id"] and s0.get("pid") == live.pid and
                s0.get("rhost") == "10.0.0.5",
                "it names the user, service, request, rhost and the session's pid", s0)
        gexp = w.must("GET", "/v1/requests/" + req["id"], who="ownA1").get("grant_expires_at")
        # from the held grants, the agent counts the end on its monotonic clock from the
        # gateway's `now`: it may fall short by the fetch's latency, never run over
        d = (lbtest.parse_time(gexp) - lbtest.parse_time(s0.get("grant_expires_at"))) \
            if gexp and s0.get("grant_expires_at") else None
        T.check(d is not None and -0.01 <= d < 5.0,
                "its grant end is the request's grant_expires_at (or a little earlier)",
                (s0, gexp))
    r = live.finish(close=True)
    T.eq(r.ops().get("final-close"), "PAM_SUCCESS", "the session closes", r)
    st = r.events("session.start")
    T.check(ss and st and st[0].get("session") == ss[0].get("session"),
            "the agent's session id is the module's session.start id", (ss, st))
    T.eq(env.agent.sessions(), [], "after close the agent no longer holds it")
    T.check(env.wait_delivered(DELIVERY), "the session's events delivered within %.0fs"
            % DELIVERY)
    if st:
        got = [e for e in audit(request=req["id"]) if e["type"] == "session.end" and
               e["details"].get("session") == st[0]["session"]]
        T.eq(len(got), 1, "its session.end is in the gateway's audit store")

    r = env.run(u, ["account=PAM_SUCCESS"], rhost="r" * 400 + "\n", tty="t" * 100)
    T.eq(r.rc, 0, "rhost and tty beyond the gateway's limits: still allowed", r)
    r = login(u, "PAM_PERM_DENIED", service="xrdp-sesman")
    denied("ssh grant used over rdp", r, "wrong_access_type", req["id"])
    agrees("ssh grant used over rdp", u, r, service="xrdp-sesman")
    r = login(u, "PAM_PERM_DENIED", service="login")
    denied("service not mapped", r, "unknown_service")

    # a revoke ends the live session within 2 s (the gateway's change signal to the agent)
    live = env.spawn(u, ["account=PAM_SUCCESS", "open=PAM_SUCCESS"])
    T.check(live.wait_open(), "a live session before the revoke", live.lines)
    sid = [x["session"] for x in env.agent.sessions()]
    t0 = time.monotonic()
    w.must("POST", "/v1/requests/%s/revoke" % req["id"], {"reason": "done"}, who="ownA1")
    gone = lbtest.wait_until(lambda: not live.alive(), timeout=10, step=0.05)
    el = time.monotonic() - t0
    rr = live.kill() if live.alive() else live.result()
    T.check(gone and el < 2.0 + (MARGIN if pamenv.sanitizer() else 0.5),
            "revoke: the session's process ended %.2fs later (bound 2 s)" % el, rr)
    T.eq(rr.rc, -15, "ended by SIGTERM", rr)
    term = lbtest.wait_until(lambda: [e for e in env.audit_lines()
                                      if e["type"] == "session.terminate" and
                                      e["details"].get("session") in sid], timeout=5)
    T.check(term and term[0]["details"].get("reason") == "revoked",
            "session.terminate (reason revoked) in the local log", term)
    T.check(env.wait_delivered(DELIVERY), "and delivered")
    stored = [e for e in audit(request=req["id"]) if e["type"] == "session.terminate"]
    T.check(stored and stored[0]["details"].get("session") in sid,
            "the gateway holds the session.terminate", stored)
    T.check(lbtest.wait_until(lambda: env.agent.sessions() == [], timeout=5) is not None,
            "the agent forgot the session")
    r = login(u, "PAM_PERM_DENIED")
    denied("revoked", r, "revoked", req["id"])
    agrees("revoked", u, r)

with T.section("the module reaches the gateway only through the agent"):
    u = "e_allow"
    env.stop_agent()
    r = login(u, "PAM_PERM_DENIED")
    denied("agent stopped, gateway up", r, "agent_unavailable")
    T.check(r.elapsed < 1.0 + (MARGIN if pamenv.sanitizer() else 0),
            "no agent: denied at once (%.2fs), no attempt to reach the gateway" % r.elapsed)
    if os.path.exists(CTL):
        rc, out, err = host_check(u)
        T.check(rc == 3 and "lockbox-agent" in err, "host check with no agent: exit 3", err)
    env.start_agent()
    r = login(u, "PAM_PERM_DENIED")
    denied("agent back", r, "revoked")

with T.section("rdp through xrdp-sesman"):
    u = engineer("e_rdp")
    w.elevate(u)
    req = w.new_request(who=u, access="rdp")
    approve(req["id"])
    r = login(u, "PAM_SUCCESS", service="xrdp-sesman", session=True)
    T.eq(r.rc, 0, "rdp request: xrdp-sesman login allowed with a session", r)
    r = login(u, "PAM_PERM_DENIED", service="sshd")
    denied("rdp grant used over ssh", r, "wrong_access_type")

with T.section("elevation rules"):
    u = engineer("e_noelev")
    req = w.new_request(who=u)
    w.elevate(u, "2s")  # (an approval needs a running elevation) ending before the grant
    approve(req["id"])
    time.sleep(2.3)
    r = login(u, "PAM_PERM_DENIED")
    denied("the elevation ended before the grant", r, "no_elevation", req["id"])
    w.elevate(u)
    r = login(u, "PAM_PERM_DENIED")
    denied("elevation activated after approval", r, "elevation_after_approval", req["id"])

with T.section("denied, canceled, expired, grant ended"):
    u = engineer("e_denied")
    w.elevate(u)
    req = w.new_request(who=u)
    w.must("POST", "/v1/requests/%s/deny" % req["id"], {"reason": "no"}, who="ownA1")
    denied("denied", login(u, "PAM_PERM_DENIED"), "denied", req["id"])
    u = engineer("e_cancel")
    w.elevate(u)
    req = w.new_request(who=u)
    w.must("POST", "/v1/requests/%s/cancel" % req["id"], {"reason": "oops"}, who=u)
    denied("canceled", login(u, "PAM_PERM_DENIED"), "canceled", req["id"])
    ue = engineer("e_exp")
    w.elevate(ue)
    req_e = w.new_request(who=ue)
    us = engineer("e_short")
    w.elevate(us)
    req_s = w.new_request(who=us, duration="3s")
    approve(req_s["id"])
    live = env.spawn(us, ["account=PAM_SUCCESS", "open=PAM_SUCCESS"])
    T.check(live.wait_open(), "3s grant: allowed at first, session open", live.lines)
    gend = lbtest.parse_time(w.must("GET", "/v1/requests/" + req_s["id"],
                                    who="ownA1")["grant_expires_at"])
    lbtest.wait_until(lambda: not live.alive(), timeout=15, step=0.05)
    late = time.time() - gend
    rr = live.kill() if live.alive() else live.result()
    T.check(rr.rc == -15 and late < 1.0 + (MARGIN if pamenv.sanitizer() else 0.3),
            "the grant's end ends the session %.2fs after grant_expires_at (bound 1 s)" % late,
            rr)
    term = lbtest.wait_until(lambda: [e for e in env.audit_lines()
                                      if e["type"] == "session.terminate" and
                                      e.get("request") == req_s["id"]], timeout=5)
    T.check(term and term[0]["details"].get("reason") == "grant_ended",
            "session.terminate (reason grant_ended)", term)
    def state(rid):
        return w.must("GET", "/v1/requests/" + rid, who="ownA1")["state"]
    lbtest.wait_until(lambda: state(req_s["id"]) == "completed" and
                      state(req_e["id"]) == "expired", timeout=15)
    r = login(us, "PAM_PERM_DENIED")
    denied("grant ended", r, "grant_ended", req_s["id"])
    agrees("grant ended", us, r)
    r = login(ue, "PAM_PERM_DENIED")
    denied("expired (never decided)", r, "expired", req_e["id"])
    agrees("expired", ue, r)

with T.section("host problems"):
    w.must("POST", "/v1/hosts/%s/disable" % w.host["hA2"]["id"], {})
    use_host("hA2")
    r = login("e_allow", "PAM_PERM_DENIED")
    denied("disabled host", r, "host_disabled")
    agrees("disabled host", "e_allow", r)
    env.write_token("lbh_" + "00" * 32)
    env.restart_agent()  # the agent reads the token at start
    r = login("e_allow", "PAM_PERM_DENIED")
    ev = denied("unknown host token", r, "host_unknown")
    T.check("401" in ev.get("error", ""), "401 logged", ev)
    agrees("unknown host token", "e_allow", r)
    use_host("hA1")

with T.section("concurrent logins: all decided, every event stored once"):
    import concurrent.futures
    u = engineer("e_many")
    w.elevate(u)
    req = w.new_request(who=u)
    approve(req["id"])

    def many(i):
        # Starts are 0.1 s apart: pam_wrapper picks its /tmp/pam.* dir at start-up with a
        # check-then-create (and a stale-pidfile cleanup) that races between drivers
        # starting in the same instant; once a driver lost its dir mid-run and failed
        # pam_start with 'error reading PAM configuration file'. The logins of neighbouring
        # drivers still overlap (a driver's five logins take 0.2-0.35 s, 6 s under ASan).
        time.sleep(0.1 * i)
        return env.run(u, ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"],
                       cycles=5, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        runs = list(ex.map(many, range(8)))
    T.eq([r.rc for r in runs], [0] * 8, "8 processes x 5 logins with sessions all succeed",
         [str(r) for r in runs if r.rc][:1])
    T.check(env.wait_delivered(DELIVERY), "local log fully delivered")
    T.eq(env.agent.sessions(), [], "every session was closed in the agent too")
    ids = [e["id"] for e in audit(request=req["id"])]
    T.eq(len([i for i in ids if i]), len(set(ids)), "no event stored twice")
    T.eq(len([e for e in audit(request=req["id"]) if e["type"] == "session.start"]), 40,
         "40 session.start events stored")

if os.path.exists(CTL):
    with T.section("the config written by lockboxctl host join"):
        jconf = os.path.join(env.tmp, "joined.conf")
        jtok = os.path.join(env.tmp, "joined.token")
        jlog = env.audit_log + ".joined"
        p = subprocess.run([CTL, "host", "join", "--gateway", gw.url, "--token", "-",
                            "--ca", gw.ca, "--config", jconf, "--token-file", jtok,
                            "--audit-log", jlog],
                           input=w.host["hA1"]["token"] + "\n", universal_newlines=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        T.eq(p.returncode, 0, "lockboxctl host join", p.stderr)
        # a second agent on its own socket (the joined config names the default one)
        jsock = os.path.join(env.tmp, "joined.sock")
        with open(jconf, "a") as f:
            f.write("agent_socket = %s\n" % jsock)
        jagent = pamenv.Agent(jconf, jsock, os.path.join(env.tmp, "joined-state"),
                              os.path.join(env.tmp, "joined-agent.log"))
        T.check(jagent.start(check=False), "lockbox-agent starts on the joined config",
                jagent.log_tail())
        env.write_services(conf=jconf)
        r = env.run("e_many", ["account=PAM_SUCCESS", "open=PAM_SUCCESS",
                               "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "the module accepts the joined config and allows", r)
        T.check(r.events("session.start"), "session recorded with the joined config", r)
        ok = lbtest.wait_until(lambda: os.path.exists(jlog + ".cursor") and
                               lbtest.audit_cursor(jlog) ==
                               os.path.getsize(jlog), timeout=DELIVERY)
        T.check(ok, "the joined host's agent delivered its log")
        jagent.close()
        env.write_services()

with T.section("gateway killed: deny within the deadline, events kept and delivered once"):
    u = engineer("e_kill")
    w.elevate(u)
    req = w.new_request(who=u)
    approve(req["id"])
    # account while the gateway is up, then the gateway dies before the session opens
    r0 = env.run(u, ["account=PAM_SUCCESS"])
    T.eq(r0.rc, 0, "allowed while the gateway is up", r0)
    T.check(env.wait_delivered(DELIVERY), "nothing pending before the kill")
    gw.kill9()
    r = env.run(u, ["account=PAM_PERM_DENIED"])
    T.check(r.elapsed < TIMEOUT + MARGIN, "gateway down: denied in %.2fs" % r.elapsed, r)
    denied("gateway down", r, "gateway_unreachable")
    agrees("gateway down", u, r)
    time.sleep(1.5)  # the agent tries (and backs off) meanwhile
    pend_before = os.path.getsize(env.audit_log) - env.cursor()
    T.check(pend_before > 0, "the deny events wait in the local log while the gateway is down")
    T.check(env.agent.status().get("gateway_ok") is False,
            "the agent's status says the gateway does not answer")
    gw.start()
    r = env.run(u, ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
    T.eq(r.rc, 0, "gateway back: login works (the agent reconnects)", r)
    t0 = time.monotonic()
    T.check(env.wait_delivered(DELIVERY), "backlog delivered within %.0fs of the gateway's "
            "return (%.2fs)" % (DELIVERY, time.monotonic() - t0), env.agent.log_tail(5))
    # the host's own decisions (gateway down: a local deny) are delivered too, and kept as the
    # host's (source host), never as the gateway's
    host_made = [e["id"] for e in env.audit_lines() if e["type"].startswith("access.check.")
                 and str(e["details"].get("reason")).startswith(("gateway_", "agent_", "internal_"))]
    local_ids = [e["id"] for e in env.audit_lines()]
    stored = audit(host="hA1")
    stored_ids = [e["id"] for e in stored]
    missing = [i for i in local_ids if i not in stored_ids]
    T.eq(missing, [], "every local event is in the gateway's store, the host's own decisions too")
    T.check(host_made and all(e["source"] == "host" for e in stored if e["id"] in host_made),
            "the host's own denies (gateway down) are kept as the host's (source host)", host_made)
    dup = [i for i in set(stored_ids) if stored_ids.count(i) > 1]
    T.eq(dup, [], "no event stored twice")
    st, js, raw = w.call("GET", "/v1/audit/verify")
    T.check(st == 200 and js.get("ok") is True, "audit hash chain verifies", raw)

env.close()
gw.close()
T.done()
