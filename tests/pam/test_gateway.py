"""pam_lockbox against the real lockbox-gatewayd (TLS, loopback): allow, every deny reason the
fixture can produce, not gated, exempt, rdp through xrdp-sesman, session events in the
gateway's audit store with the decision id, and store-and-forward across a gateway kill.
"""

import os
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

gw = lbtest.Gateway(tls=True, conf_extra="pending_ttl = 3s\n")
gw.start()
admin = gw.bootstrap()
w = lbtest.world(gw, admin)
env = pamenv.PamEnv("gateway")


def use_host(name):
    env.write_token(w.host[name]["token"])
    # one local audit log per host identity, as on real hosts
    env.write_conf(gw.url, ca_file=gw.ca, host_id=name, timeout="%ds" % TIMEOUT,
                   exempt_users="exempt1",
                   audit_log=env.audit_log if name == "hA1" else env.audit_log + "." + name)


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

with T.section("allow, sessions, audit store, revoke"):
    u = engineer("e_allow")
    r = login(u, "PAM_PERM_DENIED")
    denied("no request", r, "no_request")
    w.elevate(u)
    req = w.new_request(who=u)
    r = login(u, "PAM_PERM_DENIED")
    denied("pending", r, "pending", req["id"])
    approve(req["id"])
    r = login(u, "PAM_SUCCESS", session=True)
    T.eq(r.rc, 0, "approved + elevated before approval: account and session succeed", r)
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
    T.check(env.cursor() == os.path.getsize(env.audit_log), "local log fully delivered")

    r = env.run(u, ["account=PAM_SUCCESS"], rhost="r" * 400 + "\n", tty="t" * 100)
    T.eq(r.rc, 0, "rhost and tty beyond the gateway's limits: still allowed", r)
    r = login(u, "PAM_PERM_DENIED", service="xrdp-sesman")
    denied("ssh grant used over rdp", r, "wrong_access_type", req["id"])
    r = login(u, "PAM_PERM_DENIED", service="login")
    denied("service not mapped", r, "unknown_service")

    w.must("POST", "/v1/requests/%s/revoke" % req["id"], {"reason": "done"}, who="ownA1")
    r = login(u, "PAM_PERM_DENIED")
    denied("revoked", r, "revoked", req["id"])

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
    approve(req["id"])
    r = login(u, "PAM_PERM_DENIED")
    denied("approved without elevation", r, "no_elevation", req["id"])
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
    T.eq(login(us, "PAM_SUCCESS").rc, 0, "3s grant: allowed at first")
    def state(rid):
        return w.must("GET", "/v1/requests/" + rid, who="ownA1")["state"]
    lbtest.wait_until(lambda: state(req_s["id"]) == "completed" and
                      state(req_e["id"]) == "expired", timeout=15)
    denied("grant ended", login(us, "PAM_PERM_DENIED"), "grant_ended", req_s["id"])
    denied("expired (never decided)", login(ue, "PAM_PERM_DENIED"), "expired", req_e["id"])

with T.section("host problems"):
    w.must("POST", "/v1/hosts/%s/disable" % w.host["hA2"]["id"], {})
    use_host("hA2")
    denied("disabled host", login("e_allow", "PAM_PERM_DENIED"), "host_disabled")
    env.write_token("lbh_" + "00" * 32)
    r = login("e_allow", "PAM_PERM_DENIED")
    ev = denied("unknown host token", r, "host_unknown")
    T.check("401" in ev.get("error", ""), "401 logged", ev)
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
    env.run(u, ["account=PAM_SUCCESS"])  # a later PAM call takes anything left behind
    T.eq(env.cursor(), os.path.getsize(env.audit_log), "local log fully delivered")
    ids = [e["id"] for e in audit(request=req["id"])]
    T.eq(len([i for i in ids if i]), len(set(ids)), "no event stored twice")
    T.eq(len([e for e in audit(request=req["id"]) if e["type"] == "session.start"]), 40,
         "40 session.start events stored")

ctl = os.environ.get("LB_CTL", "")
if os.path.exists(ctl):
    with T.section("the config written by lockboxctl host join"):
        import subprocess
        jconf = os.path.join(env.tmp, "joined.conf")
        jtok = os.path.join(env.tmp, "joined.token")
        p = subprocess.run([ctl, "host", "join", "--gateway", gw.url, "--token", "-",
                            "--ca", gw.ca, "--config", jconf, "--token-file", jtok,
                            "--audit-log", env.audit_log + ".joined"],
                           input=w.host["hA1"]["token"] + "\n", universal_newlines=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        T.eq(p.returncode, 0, "lockboxctl host join", p.stderr)
        env.write_services(conf=jconf)
        r = env.run("e_many", ["account=PAM_SUCCESS", "open=PAM_SUCCESS",
                               "close=PAM_SUCCESS"])
        T.eq(r.rc, 0, "the module accepts the joined config and allows", r)
        T.check(r.events("session.start"), "session recorded with the joined config", r)
        env.write_services()

with T.section("gateway killed: deny within the deadline, events kept and delivered once"):
    u = engineer("e_kill")
    w.elevate(u)
    req = w.new_request(who=u)
    approve(req["id"])
    # account while the gateway is up, then the gateway dies before the session opens
    r0 = env.run(u, ["account=PAM_SUCCESS"])
    T.eq(r0.rc, 0, "allowed while the gateway is up", r0)
    gw.kill9()
    r = env.run(u, ["account=PAM_PERM_DENIED"])
    T.check(r.elapsed < TIMEOUT + MARGIN, "gateway down: denied in %.2fs" % r.elapsed, r)
    denied("gateway down", r, "gateway_unreachable")
    pend_before = os.path.getsize(env.audit_log) - env.cursor()
    T.check(pend_before > 0, "the deny event waits in the local log")
    gw.start()
    r = env.run(u, ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
    T.eq(r.rc, 0, "gateway back: login works", r)
    T.eq(env.cursor(), os.path.getsize(env.audit_log), "backlog delivered")
    local_ids = [e["id"] for e in env.audit_lines()]
    stored = audit(host="hA1")
    stored_ids = [e["id"] for e in stored]
    missing = [i for i in local_ids if i not in stored_ids]
    T.eq(missing, [], "every local event is in the gateway's audit store")
    dup = [i for i in set(stored_ids) if stored_ids.count(i) > 1]
    T.eq(dup, [], "no event stored twice")
    st, js, raw = w.call("GET", "/v1/audit/verify")
    T.check(st == 200 and js.get("ok") is True, "audit hash chain verifies", raw)

env.close()
gw.close()
T.done()
