#!/usr/bin/python3
"""Extensions (DESIGN.md "Approval policies"): POST /v1/requests/{id}/extend by its engineer
while approved opens a new request (extends), decided like any other; approved, its window
starts where the old grant ends, and the check answers an allow under the old request with
the end of the whole chain (so the host agent keeps live sessions across the boundary)."""
import lbtest
from lbtest import Gateway, err_code, parse_time, world

T = lbtest.Runner("api/extend")

with Gateway() as gw:
    gw.start()
    w = world(gw, gw.bootstrap())
    w.elevate("eng", "4h")
    w.elevate("eng2", "4h")
    old = w.new_request(who="eng", duration="1h")
    oid = old["id"]

    with T.section("only an approved grant, only by its engineer"):
        st, js, _ = w.call("POST", "/v1/requests/%s/extend" % oid, {"justification": "more"},
                           who="eng")
        T.eq((st, err_code(js)), (409, "wrong_state"), "a pending request -> 409", js)
        w.must("POST", "/v1/requests/%s/approve" % oid, {}, who="ownA1")
        for who in ("eng2", "ownA1", "gadmA", "admin"):
            st, js, _ = w.call("POST", "/v1/requests/%s/extend" % oid, {"justification": "x"},
                               who=who)
            T.check(st in (403, 404), "extend as %s -> 403/404" % who, (st, js))
        st, js, _ = w.call("POST", "/v1/requests/%s/extend" % oid, {}, who="eng")
        T.eq((st, err_code(js)), (400, "missing_field"), "justification is required", js)
        st, js, _ = w.call("POST", "/v1/requests/%s/extend" % oid,
                           {"justification": "x", "duration": "99h"}, who="eng")
        T.eq((st, err_code(js)), (422, "duration_too_long"), "over max_grant -> 422", js)
        st, js, _ = w.call("POST", "/v1/requests/%s/extend" % oid,
                           {"justification": "x", "hosts": ["hA2"]}, who="eng")
        T.eq((st, err_code(js)), (400, "unknown_field"), "hosts cannot change", js)

    with T.section("the extension: a new request, decided like any other"):
        ext = w.must("POST", "/v1/requests/%s/extend" % oid,
                     {"justification": "the migration takes longer", "duration": "2h"},
                     who="eng", expect=201)
        eid = ext["id"]
        T.eq((ext["extends"], ext["state"], ext["hosts"], ext["access"], ext["ticket"],
              ext["duration"]), (oid, "customer_notified", old["hosts"], old["access"],
                                 old["ticket"], "2h"), "extends the old one, same scope", ext)
        evs = [e["type"] for e in w.must("GET", "/v1/audit/events?request=%s" % eid)["items"]]
        T.check("lockbox.request.extend" in evs and "lockbox.request.create" in evs,
                "audited: create and extend", evs)
        chk = w.check("hA1", w.login["eng"])
        old_now = w.must("GET", "/v1/requests/%s" % oid, who="eng")
        T.eq((chk["decision"], chk["request"], chk["grant_expires_at"]),
             ("allow", oid, old_now["grant_expires_at"]),
             "pending: the check still ends at the old grant's end", chk)

    with T.section("approved: its window starts where the old one ends"):
        ap = w.must("POST", "/v1/requests/%s/approve" % eid, {}, who="ownA1")
        T.eq(ap["grant_starts_at"], old_now["grant_expires_at"], "grant_starts_at = old end")
        T.check(abs(parse_time(ap["grant_expires_at"]) - parse_time(ap["grant_starts_at"]) - 7200)
                < 1, "and lasts its duration", ap)
        T.eq(old_now.get("grant_starts_at"), old_now.get("approved_at"),
             "an ordinary request: grant_starts_at = approved_at")
        chk = w.check("hA1", w.login["eng"])
        T.eq((chk["decision"], chk["request"], chk["grant_expires_at"]),
             ("allow", oid, ap["grant_expires_at"]),
             "the check allows under the old request until the extension's end", chk)
        gr = lbtest.api(gw, "GET", "/v1/hosts/self/grants", token=w.host["hA1"]["token"])[1]
        mine = [g for g in gr["grants"] if g["user"] == w.login["eng"]]
        T.eq([(g["request"], g["grant_expires_at"]) for g in mine],
             [(oid, ap["grant_expires_at"])], "the agent's grants: the chain's end", gr)

    with T.section("an elevation that ends first bounds the chain"):
        w.elevate("eng2", "4h")
        o2 = w.new_request(who="eng2", duration="1h")
        w.must("POST", "/v1/requests/%s/approve" % o2["id"], {}, who="ownA1")
        e2 = w.must("POST", "/v1/requests/%s/extend" % o2["id"], {"justification": "x",
                                                                 "duration": "8h"},
                    who="eng2", expect=201)
        e2 = w.must("POST", "/v1/requests/%s/approve" % e2["id"], {}, who="ownA1")
        chk = w.check("hA1", w.login["eng2"])
        T.check(chk["decision"] == "allow" and
                parse_time(chk["grant_expires_at"]) < parse_time(e2["grant_expires_at"]),
                "the chain ends with the elevation, not the extension's 8h", chk)

    with T.section("revoking the extension leaves the old grant as it was"):
        w.must("POST", "/v1/requests/%s/revoke" % eid, {"reason": "no"}, who="ownA1")
        chk = w.check("hA1", w.login["eng"])
        T.eq((chk["decision"], chk["request"], chk["grant_expires_at"]),
             ("allow", oid, old_now["grant_expires_at"]), "back to the old end", chk)
        T.eq(w.must("GET", "/v1/audit/verify").get("ok"), True, "the chain verifies")

T.done()
