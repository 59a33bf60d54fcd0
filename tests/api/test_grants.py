#!/usr/bin/python3
"""GET /v1/hosts/self/grants: what the check would allow on this host now, the list the host
agent answers logins from (docs/API.md "Grants held by the agent"); and the gateway's verdict
on an allow a host made itself from it (details.verified).

Every grant listed must be one /v1/check allows (same rule, same grant end); nothing the check
denies may be listed: another host's, another access type, a revoked one, a disabled user's,
an engineer without the role, an elevation after the approval, a disabled host. Only host
tokens may ask; the version is the change signal's."""
import time
import uuid

import lbtest
from lbtest import Gateway, api, err_code, world

T = lbtest.Runner("api/grants")
PATH = "/v1/hosts/self/grants"


def grants(gw, w, host="hA1", expect=200):
    st, js, text = api(gw, "GET", PATH, token=w.host[host]["token"])
    if st != expect:
        raise lbtest.ApiError("grants of %s -> %d %s" % (host, st, text[:200]))
    return js


def listed(js, user=None, request=None):
    return [g for g in js["grants"] if (user is None or g["user"] == user)
            and (request is None or g["request"] == request)]


def approved(w, who, **kw):
    req = w.new_request(who=who, **kw)
    owner = "own" + kw.get("sub", "A1")
    w.must("POST", "/v1/requests/%s/approve" % req["id"], {"reason": "ok"}, who=owner)
    return req["id"]


def host_allow(w, host, user, request, when=None, service="sshd"):
    """A host-made access.check.allow, as the agent writes it."""
    did = str(uuid.uuid4())
    ev = {"id": did, "time": lbtest.rfc3339(when or time.time()), "type": "access.check.allow",
          "actor": user, "request": request,
          "details": {"decision": "allow", "reason": "allow", "user": user, "service": service,
                      "decision_id": did, "decided_by": "agent"}}
    st, js, text = api(w.gw, "POST", "/v1/audit/events", {"events": [ev]},
                       token=w.host[host]["token"])
    T.eq(st, 200, "host-made allow for %s accepted" % user, text[:200])
    got = [e for e in w.must("GET", "/v1/audit/events?type=access.check.allow&limit=200")["items"]
           if e["id"] == did]
    return got[0] if got else None


with Gateway() as gw:
    gw.start()
    w = world(gw, gw.bootstrap())
    for u in ("g1", "g2", "g3", "g4"):
        w.add_user(u, "provider", role="engineer")
    for u in ("g1", "g2", "g3"):
        w.elevate(u)

    with T.section("who may ask"):
        st, js, _ = api(gw, "GET", PATH)
        T.eq(st, 401, "no token -> 401", js)
        for who in ("admin", "eng", "gadmA", "ownA1"):
            st, js, _ = api(gw, "GET", PATH, token=w.tok[who])
            T.eq((st, err_code(js)), (403, "forbidden"), "user token (%s) -> 403" % who, js)
        st, js, _ = api(gw, "POST", PATH, {}, token=w.host["hA1"]["token"])
        T.check(st in (404, 405), "POST -> 404/405", st)

    with T.section("an empty host"):
        js = grants(gw, w)
        T.eq((js["grants"], js["host"], js["disabled"], js["truncated"]), ([], "hA1", False, False),
             "no grants yet", js)
        T.eq(js["services"].get("sshd"), "ssh", "services: the gateway's service_map (sshd)")
        T.eq(js["services"].get("xrdp-sesman"), "rdp", "services: xrdp-sesman -> rdp")
        T.check(isinstance(js["version"], int), "a version", js)
        st, ch, _ = api(gw, "GET", "/v1/hosts/self/changes?wait=0", token=w.host["hA1"]["token"])
        T.eq(js["version"], ch["version"], "the version is the change signal's")

    r1 = approved(w, "g1")
    r2 = approved(w, "g2", access="rdp")
    r3 = approved(w, "g3", sub="A2")   # another subscription's host
    w.elevate("g4", "2s")              # an elevation that ends before the grant ...
    r4 = approved(w, "g4")
    time.sleep(2.3)
    w.elevate("g4")                    # ... and one activated after the approval

    with T.section("what is listed is what the check allows"):
        js = grants(gw, w)
        g1 = listed(js, "g1")
        T.eq([g["request"] for g in g1], [r1], "g1's ssh grant on hA1 is listed", js)
        chk = w.check("hA1", "g1")
        T.eq((chk["decision"], chk["request"]), ("allow", r1), "and the check allows it")
        T.eq(g1[0]["grant_expires_at"], chk["grant_expires_at"], "same grant end as the check")
        T.eq(g1[0]["access"], "ssh", "access ssh")
        T.eq([g["access"] for g in listed(js, "g2")], ["rdp"], "g2's rdp grant: access rdp")
        T.eq(w.check("hA1", "g2", service="sshd")["reason"], "wrong_access_type",
             "(the check denies g2 over sshd)")
        T.eq(listed(js, "g3"), [], "another host's grant (hA2) is not listed on hA1")
        T.eq([g["request"] for g in listed(grants(gw, w, "hA2"), "g3")], [r3],
             "... it is on hA2")
        T.eq(listed(js, "g4"), [], "an elevation after the approval: not listed")
        T.eq(w.check("hA1", "g4")["reason"], "elevation_after_approval", "(the check denies it)")
        T.eq(grants(gw, w, "hB1")["grants"], [], "another tenant's host lists nothing")

    with T.section("a change removes the grant, and moves the version"):
        v0 = grants(gw, w)["version"]
        w.must("POST", "/v1/requests/%s/revoke" % r1, {"reason": "done"}, who="ownA1")
        js = grants(gw, w)
        T.eq(listed(js, "g1"), [], "revoked: gone")
        T.check(js["version"] != v0, "the version moved", (v0, js["version"]))
        w.must("POST", "/v1/users/%s/disable" % w.user["g2"], who="admin")
        T.eq(listed(grants(gw, w), "g2"), [], "a disabled engineer's grant: gone")
        w.must("POST", "/v1/users/%s/enable" % w.user["g2"], who="admin")
        T.eq(len(listed(grants(gw, w), "g2")), 1, "enabled again: back")
        w.must("DELETE", "/v1/role-assignments", {"user": w.user["g2"], "role": "engineer"},
               who="admin")
        T.eq(listed(grants(gw, w), "g2"), [], "the engineer role removed: gone")

    with T.section("a disabled host lists nothing"):
        r5 = approved(w, "g3", sub="A2")
        T.check(listed(grants(gw, w, "hA2"), "g3", r5), "hA2 lists g3's grant")
        w.must("POST", "/v1/hosts/%s/disable" % w.host["hA2"]["id"], who="admin")
        js = grants(gw, w, "hA2")
        T.eq((js["grants"], js["disabled"]), ([], True), "disabled: no grants, disabled true", js)

    with T.section("the gateway's verdict on a host-made allow"):
        w.elevate("eng")
        r6 = approved(w, "eng")
        ev = host_allow(w, "hA1", "eng", r6)
        T.check(ev and ev["source"] == "host" and ev["details"].get("verified") is True and
                "unverified_reason" not in ev["details"], "a live grant: verified true", ev)
        T.eq(ev and ev.get("request"), r6, "linked to its request")
        ev = host_allow(w, "hA1", "eng2", r6)
        T.eq(ev and (ev["details"].get("verified"), ev["details"].get("unverified_reason")),
             (False, "the request is another user's"), "another user: verified false")
        ev = host_allow(w, "hA1", "eng", r6, service="xrdp-sesman")
        T.eq(ev and ev["details"].get("unverified_reason"), "the request grants another access type",
             "another access type: verified false")
        ev = host_allow(w, "hA1", "eng", r6, when=time.time() - 60)
        T.eq(ev and ev["details"].get("unverified_reason"), "before the approval",
             "a minute before the approval: verified false")
        w.must("POST", "/v1/requests/%s/revoke" % r6, {"reason": "done"}, who="ownA1")
        ev = host_allow(w, "hA1", "eng", r6, when=time.time() + 5)
        T.eq(ev and ev["details"].get("unverified_reason"), "after the revoke",
             "after the revoke: verified false")
        ev = host_allow(w, "hB1", "eng", r3)
        T.check(ev and ev["details"].get("verified") is False and ev.get("request") is None,
                "a request that does not cover the host: verified false, not linked", ev)
        ev = host_allow(w, "hA1", "eng", "req_" + "0" * 20)
        T.eq(ev and ev["details"].get("unverified_reason"), "no such request",
             "an unknown request: verified false")
        T.eq(w.must("GET", "/v1/audit/verify").get("ok"), True, "the chain verifies")

T.done()
