#!/usr/bin/python3
"""Approval policies, first part (DESIGN.md "Approval policies"): the tenant policy
(PUT /v1/tenants/{id}/policy, tenant.policy.update, shown on GET /v1/tenants/{id}) and
N-of-M approvals (approvals_required distinct designated approvers; each approval its own
event; the same approver never twice; a deny ends it; the grant opens with the last
approval; the engineer's mail says "1 of 2 approvals")."""
import email.header

import lbtest
from lbtest import Gateway, api, err_code, world

T = lbtest.Runner("api/policy")


def subject(m):
    return str(email.header.make_header(email.header.decode_header(m["Subject"] or "")))


def policy_events(w, tenant):
    return [e for e in w.must("GET", "/v1/audit/events?type=tenant.policy.update&limit=200")["items"]
            if e.get("tenant") == tenant]


with Gateway() as gw:
    gw.start()
    w = world(gw, gw.bootstrap())
    A, B = w.tenant["A"], w.tenant["B"]
    path = "/v1/tenants/%s/policy" % A

    with T.section("the policy: defaults, who may read and set it"):
        t = w.must("GET", "/v1/tenants/%s" % A, who="gadmA")
        T.eq(t.get("policy"), {"approvals_required": 1, "break_glass": False,
                               "break_glass_max": "1h"}, "defaults, read by the global admin")
        T.eq(w.must("GET", "/v1/tenants/%s" % A)["policy"]["approvals_required"], 1,
             "and by the provider admin")
        for who in ("gadmB", "ownA1", "lbappA", "custA", "eng"):
            st, js, _ = w.call("GET", "/v1/tenants/%s" % A, who=who)
            T.eq(st, 403, "GET tenant A as %s -> 403" % who, js)
        for who in ("admin", "gadmB", "ownA1", "lbappA", "custA", "eng", "iapp"):
            st, js, _ = w.call("PUT", path, {"approvals_required": 2}, who=who)
            T.eq((st, err_code(js)), (403, "forbidden"), "PUT policy as %s -> 403" % who, js)
        st, js, _ = api(gw, "PUT", path, {"approvals_required": 2},
                        token=w.host["hA1"]["token"])
        T.check(st in (401, 403), "a host token -> 401/403", st)
        T.eq(policy_events(w, A), [], "nothing changed, nothing audited")

    with T.section("bad input"):
        for body, code in (({"approvals_required": 0}, "bad_value"),
                           ({"approvals_required": 11}, "bad_value"),
                           ({"approvals_required": "2"}, "bad_type"),
                           ({"approvals_required": 1.5}, "bad_type"),
                           ({"break_glass": "yes"}, "bad_type"),
                           ({"break_glass_max": "soon"}, "bad_duration"),
                           ({"break_glass_max": "9h"}, "duration_too_long"),
                           ({"approvals": 2}, "unknown_field")):
            st, js, _ = w.call("PUT", path, body, who="gadmA")
            T.eq(err_code(js), code, "%s -> %s" % (body, code), js)
        T.eq(policy_events(w, A), [], "refused changes are not audited")

    with T.section("setting it: the fields given change, the rest stay; audited once"):
        t = w.must("PUT", path, {"approvals_required": 2}, who="gadmA")
        T.eq(t["policy"], {"approvals_required": 2, "break_glass": False,
                           "break_glass_max": "1h"}, "approvals_required 2, the rest kept")
        t = w.must("PUT", path, {"break_glass_max": "30m"}, who="gadmA")
        T.eq(t["policy"]["approvals_required"], 2, "a later change keeps approvals_required")
        T.eq(t["policy"]["break_glass_max"], "30m", "break_glass_max 30m")
        w.must("PUT", path, {"break_glass_max": "30m"}, who="gadmA")
        evs = policy_events(w, A)
        T.eq(len(evs), 2, "two changes, two tenant.policy.update events (the no-op none)", evs)
        T.check(evs and all(e["level"] == "tenant" and e["actor"] == w.user["gadmA"]
                            for e in evs), "tenant level, the global admin as actor", evs)
        T.eq(sorted(e["details"]["to"]["approvals_required"] for e in evs), [2, 2],
             "details carry the policy after the change")
        T.eq(w.must("GET", "/v1/tenants/%s" % B, who="gadmB")["policy"]["approvals_required"],
             1, "tenant B keeps its own policy")
        T.check(not [e for e in w.must("GET", "/v1/audit/events?limit=200", who="gadmB")["items"]
                     if e["type"] == "tenant.policy.update"],
                "tenant B's admin does not see A's policy events")

    with T.section("no unusable approvals: no_elevation"):
        req = w.new_request(who="eng")
        T.check(any(x.startswith("no_elevation") for x in req.get("warnings", [])),
                "create without a running elevation warns no_elevation", req)
        st, js, _ = w.call("POST", "/v1/requests/%s/approve" % req["id"], {}, who="ownA1")
        T.eq((st, err_code(js)), (422, "no_elevation"), "approving it: 422 no_elevation", js)
        T.check("lockboxctl elevate" in js["error"]["message"], "saying what to do", js)
        got = w.must("GET", "/v1/requests/%s" % req["id"], who="eng")
        T.eq((got["state"], got.get("approvals")), ("customer_notified", []),
             "nothing recorded by the refused approval", got)
        T.check("warnings" not in got, "warnings belong to the create answer only", got)

    w.elevate("eng")
    with T.section("2 of M: the first approval waits, the second opens the grant"):
        req = w.new_request(who="eng")
        rid = req["id"]
        T.eq(req.get("approvals"), [], "a new request has no approvals")
        T.check("warnings" not in req, "an elevated engineer's request: no warning", req)
        r1 = w.must("POST", "/v1/requests/%s/approve" % rid, {"reason": "looks fine"}, who="ownA1")
        T.eq(r1["state"], "customer_notified", "after 1 of 2: still waiting", r1)
        T.eq([a["login"] for a in r1["approvals"]], [w.login["ownA1"]], "the approval is listed")
        T.eq(r1["approvals"][0].get("reason"), "looks fine", "with its reason")
        chk = w.check("hA1", w.login["eng"])
        T.eq((chk["decision"], chk["reason"]), ("deny", "pending"), "the check: still pending")
        st, js, _ = w.call("POST", "/v1/requests/%s/approve" % rid, {}, who="ownA1")
        T.eq((st, err_code(js)), (409, "already_approved"), "the same approver twice -> 409", js)
        st, js, _ = w.call("POST", "/v1/requests/%s/approve" % rid, {}, who="eng")
        T.eq(st, 403, "the requester never approves", js)
        st, js, _ = w.call("POST", "/v1/requests/%s/approve" % rid, {}, who="ownA2")
        T.check(st in (403, 404), "a non-designated approver (owner of A2) cannot", js)
        r2 = w.must("POST", "/v1/requests/%s/approve" % rid, {}, who="lbappA")
        T.eq(r2["state"], "approved", "after 2 of 2: approved", r2)
        T.eq(r2.get("approved_by"), w.user["lbappA"], "approved_by: the last approver")
        T.eq([a["login"] for a in r2["approvals"]], [w.login["ownA1"], w.login["lbappA"]],
             "both listed, in order")
        chk = w.check("hA1", w.login["eng"])
        T.eq((chk["decision"], chk["request"]), ("allow", rid), "the check allows it now")
        evs = [e for e in w.must("GET", "/v1/audit/events?request=%s&limit=200" % rid)["items"]
               if e["type"] == "lockbox.request.approve"]
        T.eq([(e["actor"], e["details"]["approval"]["count"], e["details"]["approval"]["required"])
              for e in evs], [(w.user["ownA1"], 1, 2), (w.user["lbappA"], 2, 2)],
             "each approval is its own event, numbered")
        got = w.must("GET", "/v1/requests/%s" % rid, who="eng")
        T.eq(len(got.get("approvals") or []), 2, "GET shows the approvals")

    with T.section("a deny ends it, even after an approval"):
        req = w.new_request(who="eng")
        w.must("POST", "/v1/requests/%s/approve" % req["id"], {}, who="ownA1")
        d = w.must("POST", "/v1/requests/%s/deny" % req["id"], {"reason": "no"}, who="gadmA")
        T.eq(d["state"], "denied", "denied after 1 of 2")
        st, js, _ = w.call("POST", "/v1/requests/%s/approve" % req["id"], {}, who="lbappA")
        T.eq((st, err_code(js)), (409, "wrong_state"), "no approval after a deny", js)

    with T.section("the engineer's mail: 1 of 2 approvals"):
        eng_mail = w.login["eng"] + "@example.test"
        req = w.new_request(who="eng")
        w.must("POST", "/v1/requests/%s/approve" % req["id"], {}, who="ownA1")
        msgs = lbtest.wait_until(
            lambda: [m for m in gw.mail.messages()
                     if eng_mail in (m.get("X-Envelope-To") or "") and req["id"] in subject(m)
                     and "1 of 2 approvals" in subject(m)], timeout=10)
        T.check(msgs, "the engineer got a mail saying 1 of 2 approvals",
                [(m.get("X-Envelope-To"), subject(m)) for m in gw.mail.messages()][-5:])

    with T.section("back to 1: a single approval opens the grant again"):
        w.must("PUT", path, {"approvals_required": 1}, who="gadmA")
        req = w.new_request(who="eng")
        r = w.must("POST", "/v1/requests/%s/approve" % req["id"], {}, who="ownA1")
        T.eq(r["state"], "approved", "approved at once", r)
        T.eq(w.must("GET", "/v1/audit/verify").get("ok"), True, "the chain verifies")

T.done()
