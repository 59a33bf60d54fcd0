"""POST /v1/check: the access decision, every deny reason, and its audit event."""

import time

import lbtest
from lbtest import api, err_code, is_uuid, parse_time, paginate

T = lbtest.Runner("api/check")

decisions = []   # (gateway, decision_id, "allow"/"deny", host id, request id or None, label)


def check(w, host, user, service="sshd", label="", extra=True):
    body = {"user": user, "service": service}
    if extra:
        body.update({"rhost": "10.0.0.5", "tty": "ssh"})
    st, js, text = api(w.gw, "POST", "/v1/check", body, token=w.host[host]["token"])
    if st != 200 or js is None:
        T.check(False, "%s: POST /v1/check -> 200" % label, "got %d %s" % (st, text[:300]))
        return {}
    decisions.append((w.gw, js.get("decision_id"), js.get("decision"), (w.host[host]["id"], host),
                      js.get("request"), label))
    return js


def expect(w, host, user, decision, reason, request=None, label="", service="sshd"):
    js = check(w, host, user, service, label)
    if not js:
        return js
    ok = js.get("decision") == decision and js.get("reason") == reason
    T.check(ok, "%s: %s on %s -> %s/%s" % (label, user, host, decision, reason),
            None if ok else "got %s/%s: %s" % (js.get("decision"), js.get("reason"), js.get("message")))
    if request is not None:
        T.eq(js.get("request"), request, "%s: response names the request" % label)
    if decision == "deny":
        T.eq(js.get("grant_expires_at"), None, "%s: no grant_expires_at on deny" % label)
    T.check(is_uuid(js.get("decision_id")), "%s: decision_id is a UUID" % label, js.get("decision_id"))
    T.check(isinstance(js.get("message"), str), "%s: message is a string" % label)
    return js


def engineer(w, login, elevate="1h"):
    w.add_user(login, "provider", role="engineer")
    if elevate:
        return w.elevate(login, duration=elevate)
    return None


def approve(w, rid, who="ownA1"):
    return w.must("POST", "/v1/requests/%s/approve" % rid, {"reason": "ok"}, who=who, expect=200)


def state(w, rid):
    st, js, _ = w.call("GET", "/v1/requests/" + rid, who="iapp")
    return (js or {}).get("state") if st == 200 else None


def main():
    gw = lbtest.Gateway()
    gw.start()
    w = lbtest.world(gw, gw.bootstrap())
    w.add_host("hA1b", "A1")
    w.add_host("hA1c", "A1")

    with T.section("allow"):
        elv = engineer(w, "e_allow", "1h")
        r = w.new_request("e_allow", duration="30m")
        rid = r["id"]
        expect(w, "hA1", "e_allow", "deny", "pending", rid, "customer_notified")
        a = approve(w, rid)
        js = expect(w, "hA1", "e_allow", "allow", "allow", rid, "approved")
        ge = parse_time(js.get("grant_expires_at"))
        T.check(ge is not None and abs(ge - parse_time(a["grant_expires_at"])) < 0.002,
                "grant_expires_at = grant end when the elevation lasts longer",
                (js.get("grant_expires_at"), a.get("grant_expires_at"), elv.get("expires_at")))
        js = check(w, "hA1", "e_allow", label="no rhost/tty", extra=False)
        T.eq(js.get("decision"), "allow", "rhost and tty are optional")
        expect(w, "hA1", "e_allow", "deny", "unknown_service", None, "service login", service="login")
        expect(w, "hA1", "e_allow", "deny", "wrong_access_type", None, "ssh grant, xrdp-sesman",
               service="xrdp-sesman")
        expect(w, "hA2", "e_allow", "deny", "no_request", None, "host of another subscription")
        expect(w, "hA1b", "e_allow", "deny", "no_request", None, "host in scope but not named")
        expect(w, "hB1", "e_allow", "deny", "no_request", None, "host of another tenant")
        expect(w, "hA1", "root", "deny", "no_request", None, "another login (root)")
        expect(w, "hA1", "eng2", "deny", "no_request", None, "another engineer's login")
        expect(w, "hA1", "E_ALLOW", "deny", "no_request", None, "login compared exactly")

    with T.section("grant_expires_at = elevation end when it comes first"):
        elv = engineer(w, "e_short", "10m")
        rid = w.new_request("e_short", duration="1h")["id"]
        approve(w, rid)
        js = expect(w, "hA1", "e_short", "allow", "allow", rid, "short elevation")
        ge = parse_time(js.get("grant_expires_at"))
        T.check(ge is not None and abs(ge - parse_time(elv["expires_at"])) < 0.002,
                "grant_expires_at = elevation expires_at", (js.get("grant_expires_at"), elv.get("expires_at")))

    with T.section("pending in internal_review"):
        engineer(w, "e_rev_int")
        rid = w.new_request("e_rev_int", scope="tenant", tenant="A", hosts=["*"])["id"]
        expect(w, "hA1", "e_rev_int", "deny", "pending", rid, "internal_review")

    with T.section("denied, revoked, canceled"):
        engineer(w, "e_deny")
        rid = w.new_request("e_deny")["id"]
        w.must("POST", "/v1/requests/%s/deny" % rid, {"reason": "no"}, who="gadmA", expect=200)
        expect(w, "hA1", "e_deny", "deny", "denied", rid, "denied")
        engineer(w, "e_revk")
        rid = w.new_request("e_revk")["id"]
        approve(w, rid)
        expect(w, "hA1", "e_revk", "allow", "allow", rid, "before revoke")
        w.must("POST", "/v1/requests/%s/revoke" % rid, {"reason": "stop"}, who="lbappA", expect=200)
        expect(w, "hA1", "e_revk", "deny", "revoked", rid, "revoked")
        engineer(w, "e_canc")
        rid = w.new_request("e_canc")["id"]
        w.must("POST", "/v1/requests/%s/cancel" % rid, {"reason": "oops"}, who="e_canc", expect=200)
        expect(w, "hA1", "e_canc", "deny", "canceled", rid, "canceled")

    with T.section("elevation rules"):
        engineer(w, "e_noelv", None)
        rid = w.new_request("e_noelv")["id"]
        st, js, _ = w.call("POST", "/v1/requests/%s/approve" % rid, {"reason": "ok"}, who="ownA1")
        T.eq((st, lbtest.err_code(js)), (422, "no_elevation"),
             "approving for an engineer who never elevated: 422 no_elevation", js)
        T.check("lockboxctl elevate" in (js or {}).get("error", {}).get("message", ""),
                "the message says what the engineer must do", js)
        # an elevation that ends before the grant: the check says no_elevation
        w.elevate("e_noelv", "2s")
        approve(w, rid)
        time.sleep(2.3)
        expect(w, "hA1", "e_noelv", "deny", "no_elevation", rid, "the elevation ended first")
        # and one activated after the approval does not count
        w.elevate("e_noelv", "1h")
        expect(w, "hA1", "e_noelv", "deny", "elevation_after_approval", rid,
               "elevated again after approval")

    with T.section("access types"):
        engineer(w, "e_rdp")
        rid = w.new_request("e_rdp", access="rdp")["id"]
        approve(w, rid)
        expect(w, "hA1", "e_rdp", "deny", "wrong_access_type", rid, "rdp grant, sshd", service="sshd")
        expect(w, "hA1", "e_rdp", "allow", "allow", rid, "rdp grant, xrdp-sesman", service="xrdp-sesman")

    with T.section("hosts: [*]"):
        engineer(w, "e_star")
        rid = w.new_request("e_star", hosts=["*"])["id"]
        approve(w, rid)
        expect(w, "hA1", "e_star", "allow", "allow", rid, "* in A1 covers hA1")
        expect(w, "hA1b", "e_star", "allow", "allow", rid, "* in A1 covers hA1b")
        expect(w, "hA2", "e_star", "deny", "no_request", None, "* in A1 does not cover hA2")
        engineer(w, "e_tstar")
        rid = w.new_request("e_tstar", scope="tenant", tenant="A", hosts=["*"])["id"]
        w.must("POST", "/v1/requests/%s/internal-approve" % rid, {"reason": "ok"}, who="iapp", expect=200)
        approve(w, rid, "gadmA")
        for h in ("hA1", "hA1b", "hA2"):
            expect(w, h, "e_tstar", "allow", "allow", rid, "tenant * covers %s" % h)
        expect(w, "hB1", "e_tstar", "deny", "no_request", None, "tenant * of A does not cover hB1")
        engineer(w, "e_tnamed")
        rid = w.new_request("e_tnamed", scope="tenant", tenant="A", hosts=["hA2"])["id"]
        w.must("POST", "/v1/requests/%s/internal-approve" % rid, {"reason": "ok"}, who="iapp", expect=200)
        approve(w, rid, "lbappA")
        expect(w, "hA2", "e_tnamed", "allow", "allow", rid, "tenant scope naming hA2")
        expect(w, "hA1", "e_tnamed", "deny", "no_request", None, "tenant scope naming hA2, on hA1")

    with T.section("host tokens: disabled host, invalid token, user token"):
        expect(w, "hA1c", "e_star", "allow", "allow", None, "hA1c before disable")
        w.must("POST", "/v1/hosts/%s/disable" % w.host["hA1c"]["id"], {}, expect=200)
        expect(w, "hA1c", "e_star", "deny", "host_disabled", None, "disabled host")
        st, js, text = api(gw, "POST", "/v1/check", {"user": "e_star", "service": "sshd"},
                           token="lbh_" + "00" * 32)
        T.check(st == 401 and err_code(js) == "unauthenticated", "unknown host token -> 401 unauthenticated",
                "%d %s" % (st, text[:200]))
        st, js, text = api(gw, "POST", "/v1/check", {"user": "e_star", "service": "sshd"})
        T.check(st == 401 and err_code(js) == "unauthenticated", "no token -> 401", "%d %s" % (st, text[:200]))
        st, js, text = api(gw, "POST", "/v1/check", {"user": "e_star", "service": "sshd"}, token=w.tok["e_star"])
        T.check(st in (401, 403), "user token on /v1/check -> 401/403", "%d %s" % (st, text[:200]))

    with T.section("time-based: grant_ended, elevation expiry"):
        engineer(w, "e_done")
        rid_done = w.new_request("e_done", duration="2s")["id"]
        approve(w, rid_done)
        expect(w, "hA1", "e_done", "allow", "allow", rid_done, "2s grant, at once")
        elv = engineer(w, "e_elvx", "2s")
        rid_elvx = w.new_request("e_elvx", duration="1h")["id"]
        approve(w, rid_elvx)
        js = expect(w, "hA1", "e_elvx", "allow", "allow", rid_elvx, "2s elevation, at once")
        ge = parse_time(js.get("grant_expires_at"))
        T.check(ge is not None and abs(ge - parse_time(elv["expires_at"])) < 0.002,
                "grant_expires_at = elevation end (2s)")
        done = lbtest.wait_until(lambda: state(w, rid_done) == "completed", timeout=8)
        T.check(done, "2s grant completed by the sweeper", state(w, rid_done))
        expect(w, "hA1", "e_done", "deny", "grant_ended", rid_done, "after the grant window")
        expect(w, "hA1", "e_elvx", "deny", "no_elevation", rid_elvx, "after the elevation expired")

    with T.section("every check is an access.check.* audit event with id = decision_id"):
        evs, _ = paginate(gw, "/v1/audit/events?type=access.check.allow", w.admin)
        evs2, _ = paginate(gw, "/v1/audit/events?type=access.check.deny", w.admin)
        byid = {e.get("id"): e for e in evs + evs2}
        mine = [d for d in decisions if d[0] is gw]
        missing = [d[5] for d in mine if d[1] not in byid]
        T.check(not missing, "all %d decision ids are audit event ids" % len(mine), missing[:10])
        wrong = [d[5] for d in mine if d[1] in byid and byid[d[1]].get("type") != "access.check." + str(d[2])]
        T.check(not wrong, "event type matches the decision", wrong[:10])
        wrong = [d[5] for d in mine if d[1] in byid and byid[d[1]].get("host") not in d[3]]
        T.check(not wrong, "event host = the asking host (id or name)", wrong[:10])
        wrong = [d[5] for d in mine if d[1] in byid and d[4] and byid[d[1]].get("request") != d[4]]
        T.check(not wrong, "event request = the decision's request", wrong[:10])
        T.eq(len(set(d[1] for d in mine)), len(mine), "decision ids are unique")
    gw.close()

    # ------------------------------------------------ expired; configurable service map
    gw2 = lbtest.Gateway(conf_extra="pending_ttl = 2s\nservice_map = sshd:ssh, xrdp-sesman:rdp, login:ssh")
    gw2.start()
    with T.section("expired; service_map"):
        w2 = lbtest.world(gw2, gw2.bootstrap())
        w2.elevate("eng")
        w2.elevate("eng2")
        rid = w2.new_request("eng")["id"]
        rid2 = w2.new_request("eng2")["id"]
        approve(w2, rid2)
        expect(w2, "hA1", "eng2", "allow", "allow", rid2, "service login mapped to ssh", service="login")
        expect(w2, "hA1", "eng2", "deny", "unknown_service", None, "service su not in the map", service="su")
        ok = lbtest.wait_until(lambda: state(w2, rid) == "expired", timeout=8)
        T.check(ok, "request expired by the sweeper (pending_ttl 2s)", state(w2, rid))
        expect(w2, "hA1", "eng", "deny", "expired", rid, "expired")
    gw2.close()
    T.done()


main()
