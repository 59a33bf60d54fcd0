#!/usr/bin/python3
"""Break-glass requests (DESIGN.md "Approval policies"): only where the tenant's policy allows
it, on a TOTP-backed elevation, at most break_glass_max; approved at once; every designated
approver and provider admin is mailed in the same transaction as the grant; review pending
until a designated approver reviews; a rejected review revokes a live grant."""
import email.header

import lbtest
from lbtest import Gateway, api, err_code, world

T = lbtest.Runner("api/breakglass")


def subject(m):
    return str(email.header.make_header(email.header.decode_header(m["Subject"] or "")))


def outbox(w, rid):
    """The outbox rows about request RID (GET /v1/notifications as the provider admin)."""
    return w.must("GET", "/v1/notifications?limit=200&request=" + rid)["items"]


with Gateway() as gw:
    gw.start()
    w = world(gw, gw.bootstrap())
    A = w.tenant["A"]
    w.add_user("padm", "provider", role="provider_admin")
    bg = dict(duration="30m", break_glass=True)

    def create(who="eng", expect=201, **kw):
        body = w.request_body(duration=kw.pop("duration", "30m"))
        body.update(kw)
        return lbtest.api(gw, "POST", "/v1/requests", body, token=w.tok[who])

    with T.section("refused: the policy, the MFA, the length"):
        w.elevate("eng", mfa=True)
        st, js, _ = create(break_glass=True)
        T.eq((st, err_code(js)), (403, "forbidden"), "the tenant's policy forbids it (default)", js)
        w.must("PUT", "/v1/tenants/%s/policy" % A, {"break_glass": True, "break_glass_max": "1h"},
               who="gadmA")
        st, js, _ = create(break_glass=True, duration="2h")
        T.eq((st, err_code(js)), (422, "duration_too_long"), "over break_glass_max -> 422", js)
        w.elevate("eng2")  # a running elevation, but no TOTP behind it
        st, js, _ = create("eng2", break_glass=True)
        T.eq((st, err_code(js)), (422, "mfa_required"), "without a TOTP-backed elevation -> 422",
             js)
        st, js, _ = create(break_glass="yes")
        T.eq((st, err_code(js)), (400, "bad_type"), "break_glass must be a boolean", js)

    with T.section("allowed: approved at once, everyone told in the same transaction"):
        st, req, text = create(break_glass=True)
        T.eq(st, 201, "created", text[:300])
        rid = req["id"]
        T.eq((req["state"], req.get("break_glass"), req.get("review")),
             ("approved", True, "pending"), "approved at once, review pending", req)
        T.eq(req.get("approved_by"), None, "approved by nobody (break-glass)")
        rows = outbox(w, rid)
        to = sorted(n.get("recipient") or "" for n in rows
                    if n.get("event") == "request.break_glass" and n.get("channel") == "email")
        want = sorted(w.login[k] + "@example.test" for k in ("ownA1", "gadmA", "lbappA", "padm"))
        T.check(set(want) <= set(to), "outbox rows for every designated approver and provider "
                "admin, committed with the grant", (to, want))
        chk = w.check("hA1", w.login["eng"])
        T.eq((chk["decision"], chk["request"]), ("allow", rid), "the check allows it")
        def bg_mails():
            return [m for m in gw.mail.messages() if "BREAK-GLASS" in subject(m) and rid in subject(m)]
        lbtest.wait_until(lambda: len(bg_mails()) >= 4, timeout=10)
        msgs = bg_mails()
        T.check(len(msgs) >= 4, "the mails go out, marked BREAK-GLASS", [subject(m) for m in msgs])
        evs = [e["type"] for e in w.must("GET", "/v1/audit/events?request=%s&limit=50" % rid)["items"]]
        T.check("lockbox.request.break_glass" in evs, "audited as lockbox.request.break_glass", evs)

    with T.section("review: who may, once"):
        for who in ("eng", "eng2", "custA", "ownA2", "gadmB", "custB", "iapp", "admin", "nobody"):
            st, js, _ = w.call("POST", "/v1/requests/%s/review" % rid,
                               {"verdict": "accepted"}, who=who)
            T.check(st in (403, 404), "review as %s -> 403/404" % who, (st, js))
        st, js, _ = w.call("POST", "/v1/requests/%s/review" % rid, {"verdict": "maybe"},
                           who="ownA1")
        T.eq((st, err_code(js)), (400, "bad_value"), "verdict maybe -> 400", js)
        r = w.must("POST", "/v1/requests/%s/review" % rid,
                   {"verdict": "accepted", "reason": "incident 42"}, who="ownA1")
        T.eq((r["review"], r["state"], r["reviewed_by"]), ("accepted", "approved", w.user["ownA1"]),
             "accepted: the grant stays", r)
        st, js, _ = w.call("POST", "/v1/requests/%s/review" % rid, {"verdict": "rejected"},
                           who="gadmA")
        T.eq((st, err_code(js)), (409, "wrong_state"), "a second review -> 409", js)
        plain = w.new_request(who="eng")
        st, js, _ = w.call("POST", "/v1/requests/%s/review" % plain["id"],
                           {"verdict": "accepted"}, who="ownA1")
        T.eq((st, err_code(js)), (409, "wrong_state"), "an ordinary request has no review", js)

    with T.section("a rejected review revokes the live grant"):
        st, req2, _ = create(break_glass=True)
        r = w.must("POST", "/v1/requests/%s/review" % req2["id"],
                   {"verdict": "rejected", "reason": "not agreed"}, who="gadmA")
        T.eq((r["review"], r["state"]), ("rejected", "revoked"), "rejected: revoked", r)
        chk = w.check("hA1", w.login["eng"])
        T.check(chk["request"] != req2["id"] or chk["decision"] == "deny",
                "the check no longer allows it", chk)
        evs = [e["type"] for e in
               w.must("GET", "/v1/audit/events?request=%s&limit=50" % req2["id"])["items"]]
        T.check("lockbox.request.review" in evs and "lockbox.request.revoke" in evs,
                "audited: review, then revoke", evs)
        T.eq(w.must("GET", "/v1/audit/verify").get("ok"), True, "the chain verifies")

    with T.section("a gateway killed right after a break-glass request sends each mail once"):
        st, req3, _ = create(break_glass=True)
        T.eq(st, 201, "created")
        gw.kill9()
        gw.start()

        def mails3():
            return [m.get("X-Envelope-To") for m in gw.mail.messages()
                    if "BREAK-GLASS" in subject(m) and req3["id"] in subject(m)]
        want = sorted(w.login[k] + "@example.test" for k in ("ownA1", "gadmA", "lbappA", "padm"))
        lbtest.wait_until(lambda: len(mails3()) >= len(want), timeout=20)
        got = mails3()
        for addr in want:
            T.eq(got.count(addr), 1, "%s got the break-glass mail exactly once" % addr, got)

T.done()
