"""The whole request lifecycle through the REST API (DESIGN.md, docs/API.md)."""

import json
import time

import lbtest
from lbtest import api, err_code, is_id, parse_time, paginate

T = lbtest.Runner("api/lifecycle")


def st_of(w, rid, who="eng"):
    s, js, _ = w.call("GET", "/v1/requests/" + rid, who=who)
    return js.get("state") if s == 200 and js else None


def act(w, rid, action, who, body=None):
    return w.call("POST", "/v1/requests/%s/%s" % (rid, action),
                  body if body is not None else {"reason": "because"}, who=who)


def new_req(w, who="eng", token=None, **kw):
    tok = token or w.tok[who]
    return api(w.gw, "POST", "/v1/requests", w.request_body(**kw), token=tok)


def created(T, resp, what, state=None):
    """Check a 201 create and (optionally) its state; return the object or {}."""
    s, js, text = resp
    ok = T.check(s == 201 and js is not None and is_id(js.get("id"), "req"),
                 "%s -> 201 with a req_ id" % what, None if s == 201 else "got %d %s" % (s, text[:300]))
    if not ok:
        return {}
    if state:
        T.eq(js.get("state"), state, "%s: state" % what)
    return js


def close_to(a, b, tol=1.5):
    return a is not None and b is not None and abs(a - b) <= tol


def main():
    gw = lbtest.Gateway(conf_extra="review_duration_over = 4h")
    gw.start()
    admin = gw.bootstrap()
    T.check(admin.startswith("lbu_"), "bootstrap admin token starts with lbu_")
    r = gw.run("-c", gw.conf, "--bootstrap-admin", "admin2")
    T.check(r.returncode != 0 and r.stdout.strip() == "",
            "second --bootstrap-admin on a non-empty db fails and prints no token",
            "rc=%d out=%r" % (r.returncode, r.stdout))

    w = lbtest.world(gw, admin)     # an exception here ends the test (and is reported)
    T.check(True, "world fixture built through the API")
    with T.section("--bootstrap-admin on a database with users: a new token, admins only"):
        r = gw.run("-c", gw.conf, "--bootstrap-admin", "admin")
        tok = r.stdout.strip()
        T.check(r.returncode == 0 and tok.startswith("lbu_") and tok != admin,
                "the existing provider admin gets a new token", "rc=%d" % r.returncode)
        st, _, _ = lbtest.api(gw, "GET", "/v1/tenants", token=tok)
        T.eq(st, 200, "the new token works")
        st, _, _ = lbtest.api(gw, "GET", "/v1/tenants", token=admin)
        T.eq(st, 200, "the old one still works")
        evs = w.must("GET", "/v1/audit/events?type=directory.token.create&limit=200")["items"]
        T.check(any(e["details"].get("via") == "bootstrap-admin" and
                    e["details"].get("login") == "admin" for e in evs),
                "audited as directory.token.create (via bootstrap-admin)", evs[-3:])
        for login in ("eng", "gadma"):
            r = gw.run("-c", gw.conf, "--bootstrap-admin", login)
            T.check(r.returncode != 0 and r.stdout.strip() == "",
                    "%s is no provider admin: refused, no token" % login,
                    "rc=%d out=%r" % (r.returncode, r.stdout))
    with T.section("directory: tenants, subscriptions, hosts, users, roles, tokens"):
        s, js, _ = w.call("GET", "/v1/tenants/" + w.tenant["A"])
        T.eq(s, 200, "GET /v1/tenants/{A}")
        T.check(is_id(js.get("id"), "tnt"), "tenant id is tnt_ + 16 hex", js.get("id"))
        T.eq(js.get("lockbox_enabled"), True, "tenant lockbox_enabled defaults to true")
        T.eq(js.get("name"), "tenant-A", "tenant name returned")
        s, js, _ = w.call("GET", "/v1/subscriptions?tenant=" + w.tenant["A"])
        T.eq(s, 200, "GET /v1/subscriptions?tenant=A")
        subs = sorted(i["id"] for i in js.get("items", []))
        T.eq(subs, sorted([w.sub["A1"], w.sub["A2"]]), "subscriptions of A are A1, A2")
        T.check(all(i.get("tenant") == w.tenant["A"] for i in js["items"]),
                "subscriptions carry their tenant")
        s, js, _ = w.call("GET", "/v1/hosts?subscription=" + w.sub["A1"])
        T.eq(s, 200, "GET /v1/hosts?subscription=A1")
        items = js.get("items", [])
        T.eq([i.get("name") for i in items], ["hA1"], "hosts of A1 = [hA1]")
        if items:
            h = items[0]
            T.eq(h.get("id"), w.host["hA1"]["id"], "host id matches enrollment")
            T.check(is_id(h.get("id"), "hst"), "host id is hst_ + 16 hex")
            T.eq(h.get("tenant"), w.tenant["A"], "host tenant = A")
            T.eq(h.get("disabled"), False, "host disabled = false")
            T.check("token" not in h, "host token is not returned by GET /v1/hosts")
        T.check(w.host["hA1"]["token"].startswith("lbh_"), "host token starts with lbh_")
        T.eq(w.host["hA1"]["tenant"], w.tenant["A"], "enroll response has tenant")
        T.status(w.call("POST", "/v1/hosts", {"subscription": w.sub["A2"], "name": "hA1"}),
                 409, "conflict", "enroll a second host named hA1")
        n_before = len(paginate(gw, "/v1/users", admin)[0])
        T.status(w.call("POST", "/v1/users", {"login": "eng", "name": "x", "email": "x@example.test",
                                              "side": "provider"}), 409, "conflict", "a second user with login eng")
        T.eq(len(paginate(gw, "/v1/users", admin)[0]), n_before, "no user added by the conflict")
        T.status(w.call("POST", "/v1/tenants", {"name": "tenant-A"}), 409, "conflict", "a second tenant named tenant-A")
        T.status(w.call("POST", "/v1/subscriptions", {"tenant": w.tenant["A"], "name": "sub-A1"}), 409, "conflict",
                 "a second subscription sub-A1 in tenant A")
        T.status(w.call("POST", "/v1/subscriptions", {"tenant": w.tenant["B"], "name": "sub-A1"}), 201, None,
                 "the same subscription name in another tenant is fine")
        s, js, _ = w.call("GET", "/v1/users")
        logins = [i.get("login") for i in js.get("items", [])] if s == 200 else []
        T.check(all(l in logins for l in ("admin", "eng", "custa", "nobody")),
                "GET /v1/users lists the users", logins)
        T.check(all(i.get("disabled") is False for i in js.get("items", [])),
                "users have disabled = false")
        T.check(all(is_id(i.get("id"), "usr") for i in js.get("items", [])),
                "user ids are usr_ + 16 hex")
        T.check(all(t.startswith("lbu_") for k, t in w.tok.items() if not k.startswith("h")),
                "user tokens start with lbu_")
        s, js, _ = w.call("GET", "/v1/role-assignments?user=" + w.user["ownA1"])
        items = js.get("items", []) if s == 200 else []
        T.check(len(items) == 1 and items[0].get("role") == "owner"
                and items[0].get("subscription") == w.sub["A1"],
                "GET /v1/role-assignments?user=ownA1 -> owner of A1", items)
        # role rules: provider user cannot hold a customer role, customer user of A not a role of B
        T.status(w.call("POST", "/v1/role-assignments",
                        {"user": w.user["eng"], "role": "global_admin", "tenant": w.tenant["A"]}),
                 (400, 422), None, "provider user given a customer role is refused")
        # (customer-side roles are their tenant's global admins' to give: gadmA tries)
        T.status(w.call("POST", "/v1/role-assignments",
                        {"user": w.user["custA"], "role": "lockbox_approver", "tenant": w.tenant["B"]},
                        who="gadmA"),
                 (400, 422), None, "customer user of A given a role in B is refused")
        T.status(w.call("POST", "/v1/role-assignments",
                        {"user": w.user["custA"], "role": "engineer"}, who="gadmA"),
                 (400, 422), None, "customer user given a provider role is refused")

    with T.section("tickets"):
        s, js, _ = w.call("GET", "/v1/tickets/" + w.ticket["A"], who="custA")
        T.eq(s, 200, "custA reads its ticket")
        T.eq(js.get("state"), "open", "new ticket is open")
        T.eq(js.get("tenant"), w.tenant["A"], "ticket tenant = A")
        T.check(is_id(js.get("id"), "tkt"), "ticket id is tkt_ + 16 hex")
        s, js, _ = w.call("GET", "/v1/tickets/" + w.ticket["A"], who="eng")
        T.eq(s, 200, "engineer reads the ticket")

    with T.section("elevations"):
        s, js, _ = w.call("POST", "/v1/elevations",
                          {"duration": "1h", "justification": "on call"}, who="eng")
        T.eq(s, 201, "eng activates a 1h elevation")
        a, e = parse_time(js.get("activated_at")), parse_time(js.get("expires_at"))
        T.check(a is not None and e is not None and abs((e - a) - 3600) < 0.01,
                "elevation expires_at = activated_at + 1h", js)
        T.check(close_to(a, time.time(), 5), "elevation activated_at is now")
        T.eq(js.get("mfa"), False, "elevation without a TOTP code has mfa=false")
        T.check(is_id(js.get("id"), "elv"), "elevation id is elv_ + 16 hex")
        mfa_tok = w.must("POST", "/v1/users/%s/tokens" % w.user["eng2"], {"mfa": True},
                         expect=201)["token"]
        s, js2, _ = w.call("POST", "/v1/elevations",
                           {"duration": "30m", "justification": "mfa"}, who=mfa_tok)
        T.eq((s, (js2 or {}).get("mfa")), (201, False),
             "a token issued with mfa: true does not make an elevation MFA-backed")
        w.enroll_totp("eng2")
        s, js2, _ = w.call("POST", "/v1/elevations",
                           {"duration": "30m", "justification": "mfa", "totp": w.totp("eng2")},
                           who="eng2")
        T.eq(s, 201, "eng2 activates an elevation with a TOTP code")
        T.eq((js2 or {}).get("mfa"), True, "elevation with a TOTP code has mfa=true")
        s, js3, _ = w.call("POST", "/v1/elevations", {"duration": "1h30m", "justification": "combined"},
                           who="eng2")
        a, e = parse_time((js3 or {}).get("activated_at")), parse_time((js3 or {}).get("expires_at"))
        T.check(s == 201 and a is not None and e is not None and abs((e - a) - 5400) < 0.01,
                "combined duration 1h30m = 5400s", js3)
        s, js, _ = w.call("GET", "/v1/elevations", who="eng")
        ids = [i.get("id") for i in js.get("items", [])] if s == 200 else []
        T.eq(len(ids), 1, "GET /v1/elevations shows only eng's own elevation")
        T.status(w.call("POST", "/v1/elevations",
                        {"duration": "9h", "justification": "x"}, who="eng"),
                 422, "duration_too_long", "elevation over max_elevation (9h > 8h)")

    with T.section("create -> customer_notified -> approved -> revoked"):
        t0 = time.time()
        r1 = created(T, new_req(w), "eng creates a 1h ssh request for hA1", "customer_notified")
        rid1 = r1.get("id", "req_0000000000000000")
        T.eq(r1.get("requester"), w.user["eng"], "requester = eng's user id")
        T.eq(r1.get("requester_login"), "eng", "requester_login = eng")
        T.eq(r1.get("tenant"), w.tenant["A"], "request tenant = A")
        T.eq(r1.get("scope"), "subscription", "scope = subscription")
        T.eq(r1.get("subscription"), w.sub["A1"], "subscription = A1")
        T.eq(r1.get("hosts"), ["hA1"], "hosts = [hA1]")
        T.eq(r1.get("access"), "ssh", "access = ssh")
        T.eq(r1.get("ticket"), w.ticket["A"], "ticket")
        T.eq(r1.get("approved_by"), None, "approved_by null while pending")
        T.eq(r1.get("approved_at"), None, "approved_at null while pending")
        T.eq(r1.get("grant_expires_at"), None, "grant_expires_at null while pending")
        pe = parse_time(r1.get("pending_expires_at"))
        T.check(close_to(pe, t0 + 4 * 86400, 10), "pending_expires_at = now + 4d (default pending_ttl)",
                r1.get("pending_expires_at"))
        T.status(act(w, rid1, "revoke", "gadmA"), 409, "wrong_state", "revoke a pending request")
        T.status(act(w, rid1, "internal-approve", "iapp"), 409, "wrong_state",
                 "internal-approve a customer_notified request")
        s, js, text = act(w, rid1, "approve", "ownA1", {"reason": "ok for today"})
        T.eq(s, 200, "ownA1 approves (subscription owner)", text[:200])
        js = js or {}
        T.eq(js.get("state"), "approved", "state = approved")
        T.eq(js.get("approved_by"), w.user["ownA1"], "approved_by = ownA1")
        aa, ge = parse_time(js.get("approved_at")), parse_time(js.get("grant_expires_at"))
        T.check(aa is not None and ge is not None and abs((ge - aa) - 3600) < 0.01,
                "grant_expires_at = approved_at + duration (1h)", js)
        T.status(act(w, rid1, "approve", "gadmA"), 409, "wrong_state", "approve an approved request")
        T.status(act(w, rid1, "deny", "gadmA"), 409, "wrong_state", "deny an approved request")
        T.status(act(w, rid1, "cancel", "eng"), 409, "wrong_state", "cancel an approved request")
        T.status(act(w, rid1, "internal-approve", "iapp"), 409, "wrong_state",
                 "internal-approve an approved request")
        s, js, _ = act(w, rid1, "revoke", "eng", {"reason": "done early"})
        T.eq(s, 200, "its engineer revokes the approved request")
        T.eq((js or {}).get("state"), "revoked", "state = revoked")
        T.status(act(w, rid1, "revoke", "gadmA"), 409, "wrong_state", "revoke a revoked request")
        T.status(act(w, rid1, "approve", "gadmA"), 409, "wrong_state", "approve a revoked request")
        T.status(act(w, rid1, "cancel", "eng"), 409, "wrong_state", "cancel a revoked request")

    with T.section("wire formats: times, ids, no secrets in lists"):
        import re
        tre = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
        s, js, _ = w.call("GET", "/v1/requests/" + rid1, who="eng")
        bad = [k for k, v in (js or {}).items() if k.endswith("_at") and v is not None and not tre.fullmatch(v)]
        T.check(js and not bad, "request times are RFC 3339 UTC with milliseconds", bad)
        T.check(is_id((js or {}).get("ticket"), "tkt") and is_id((js or {}).get("tenant"), "tnt")
                and is_id((js or {}).get("subscription"), "sub") and is_id((js or {}).get("requester"), "usr"),
                "request references are prefixed ids")
        for path in ("/v1/users", "/v1/hosts", "/v1/role-assignments", "/v1/tenants"):
            s, js, text = w.call("GET", path)
            T.check(s == 200 and "hash" not in text and "lbu_" not in text and "lbh_" not in text,
                    "GET %s shows no tokens or token hashes" % path)
        for path in ("/v1/tenants", "/v1/hosts", "/v1/users"):
            s, js, _ = w.call("GET", path)
            bad = [i for i in (js or {}).get("items", []) if not tre.fullmatch(str(i.get("created_at")))]
            T.check(s == 200 and not bad, "%s: created_at in RFC 3339 ms UTC" % path, bad[:2])

    with T.section("history of a request"):
        s, js, _ = w.call("GET", "/v1/requests/" + rid1, who="eng")
        T.eq(s, 200, "GET /v1/requests/{id}")
        hist = (js or {}).get("history") or []
        actions = [str(h.get("action", "")).split(".")[-1] for h in hist]
        T.eq(actions, ["create", "approve", "revoke"], "history actions in order")
        if len(hist) == 3:
            T.check(hist[0].get("actor") in (w.user["eng"], "eng"), "create actor = eng", hist[0])
            T.check(hist[1].get("actor") in (w.user["ownA1"], "owna1"), "approve actor = ownA1", hist[1])
            T.eq(hist[1].get("reason"), "ok for today", "approve reason kept")
            T.eq(hist[2].get("reason"), "done early", "revoke reason kept")
            times = [parse_time(h.get("time")) for h in hist]
            T.check(all(times[i] <= times[i + 1] for i in range(2)), "history times ascend", times)
        s, js, _ = w.call("GET", "/v1/requests?mine=true", who="eng")
        T.check(s == 200 and all("history" not in i for i in js.get("items", [])),
                "list items carry no history")

    with T.section("deny"):
        r = created(T, new_req(w, sub="A2"), "eng creates a request for hA2", "customer_notified")
        rid = r.get("id", "req_0000000000000000")
        s, js, _ = act(w, rid, "deny", "ownA2", {"reason": "not now"})
        T.eq(s, 200, "ownA2 denies")
        T.eq((js or {}).get("state"), "denied", "state = denied")
        T.eq((js or {}).get("decision_reason"), "not now", "decision_reason = deny reason")
        T.status(act(w, rid, "approve", "gadmA"), 409, "wrong_state", "approve a denied request")
        T.status(act(w, rid, "deny", "gadmA"), 409, "wrong_state", "deny a denied request")
        T.status(act(w, rid, "cancel", "eng"), 409, "wrong_state", "cancel a denied request")
        T.status(act(w, rid, "revoke", "eng"), 409, "wrong_state", "revoke a denied request")

    with T.section("cancel"):
        r = created(T, new_req(w), "eng creates another request", "customer_notified")
        rid = r.get("id", "req_0000000000000000")
        s, js, _ = act(w, rid, "cancel", "eng", {"reason": "fixed already"})
        T.eq(s, 200, "its engineer cancels")
        T.eq((js or {}).get("state"), "canceled", "state = canceled")
        T.status(act(w, rid, "approve", "ownA1"), 409, "wrong_state", "approve a canceled request")
        T.status(act(w, rid, "cancel", "eng"), 409, "wrong_state", "cancel a canceled request")
        T.status(act(w, rid, "revoke", "eng"), 409, "wrong_state", "revoke a canceled request")

    with T.section("internal review: tenant scope"):
        r = created(T, new_req(w, scope="tenant", tenant="A", hosts=["*"]),
                    "tenant-scoped request", "internal_review")
        rid = r.get("id", "req_0000000000000000")
        T.eq(r.get("subscription"), None, "tenant scope has subscription null")
        T.status(act(w, rid, "approve", "gadmA"), 409, "wrong_state",
                 "customer approve while in internal_review")
        T.status(act(w, rid, "revoke", "gadmA"), 409, "wrong_state", "revoke while in internal_review")
        s, js, _ = act(w, rid, "internal-approve", "iapp", {"reason": "lead ok"})
        T.eq(s, 200, "iapp internal-approves")
        T.eq((js or {}).get("state"), "customer_notified", "state = customer_notified")
        T.eq((js or {}).get("internal_approved_by"), w.user["iapp"], "internal_approved_by = iapp")
        T.status(act(w, rid, "internal-approve", "iapp"), 409, "wrong_state",
                 "internal-approve a customer_notified request")
        s, js, _ = act(w, rid, "approve", "lbappA")
        T.eq(s, 200, "lockbox approver of A approves the tenant-scoped request")
        T.eq((js or {}).get("state"), "approved", "state = approved")
        T.status(act(w, rid, "internal-approve", "iapp"), 409, "wrong_state",
                 "internal-approve an approved request")

    with T.section("internal review: review_duration_over = 4h"):
        r = created(T, new_req(w, duration="5h"), "5h subscription request", "internal_review")
        rid = r.get("id", "req_0000000000000000")
        r2 = created(T, new_req(w, duration="4h"), "4h subscription request", "customer_notified")
        s, js, _ = act(w, rid, "deny", "iapp", {"reason": "too long"})
        T.eq(s, 200, "internal approver denies while in internal_review")
        T.eq((js or {}).get("state"), "denied", "state = denied")
        T.status(act(w, rid, "internal-approve", "iapp"), 409, "wrong_state",
                 "internal-approve a denied request")
        r3 = created(T, new_req(w, duration="5h"), "another 5h request", "internal_review")
        rid3 = r3.get("id", "req_0000000000000000")
        s, js, _ = act(w, rid3, "cancel", "eng")
        T.eq((js or {}).get("state") if s == 200 else s, "canceled", "cancel from internal_review")
        T.status(act(w, rid3, "internal-approve", "iapp"), 409, "wrong_state",
                 "internal-approve a canceled request")

    with T.section("tenant with lockbox disabled"):
        s, js, text = w.call("PUT", "/v1/tenants/%s/lockbox" % w.tenant["B"], {"enabled": False}, who="gadmB")
        T.eq(s, 200, "gadmB disables lockbox for B", text[:200])
        T.eq((js or {}).get("lockbox_enabled"), False, "response lockbox_enabled=false")
        s, js, _ = w.call("GET", "/v1/tenants/" + w.tenant["B"])
        T.eq((js or {}).get("lockbox_enabled"), False, "GET tenant B shows lockbox_enabled=false")
        r = created(T, new_req(w, sub="B1"), "request for hB1 (lockbox disabled)", "approved")
        ridB = r.get("id", "req_0000000000000000")
        T.check(r.get("approved_at") is not None and r.get("grant_expires_at") is not None,
                "auto-approved request has approved_at and grant_expires_at", r)
        rt = created(T, new_req(w, scope="tenant", tenant="B", hosts=["*"]),
                     "tenant-scoped request for B (JIT review still applies)", "internal_review")
        s, js, _ = act(w, rt.get("id", "req_0000000000000000"), "internal-approve", "iapp")
        T.eq((js or {}).get("state") if s == 200 else s, "approved",
             "internal-approve on a lockbox-disabled tenant -> approved")
        evs, _ = paginate(gw, "/v1/audit/events?request=" + ridB, admin)
        types = [e.get("type") for e in evs]
        T.check("lockbox.request.create" in types, "audit has lockbox.request.create for it", types)
        T.check(any(e.get("type") == "lockbox.request.approve" and "lockbox" in json.dumps(e.get("details"))
                    for e in evs),
                "audit has lockbox.request.approve whose details say lockbox is disabled", evs)
        evs, _ = paginate(gw, "/v1/audit/events?type=tenant.lockbox.disable", admin)
        T.check(any(e.get("tenant") == w.tenant["B"] and e.get("actor") in (w.user["gadmB"], "gadmb")
                    for e in evs), "tenant.lockbox.disable event for B by gadmB", evs)
        s, js, _ = w.call("PUT", "/v1/tenants/%s/lockbox" % w.tenant["B"], {"enabled": True}, who="gadmB")
        T.eq((js or {}).get("lockbox_enabled") if s == 200 else s, True, "gadmB re-enables lockbox")
        created(T, new_req(w, sub="B1"), "request for hB1 after re-enable", "customer_notified")
        evs, _ = paginate(gw, "/v1/audit/events?type=tenant.lockbox.enable", admin)
        T.check(any(e.get("tenant") == w.tenant["B"] for e in evs), "tenant.lockbox.enable event for B")

    with T.section("ticket rules and JIT rules"):
        tk = w.new_ticket("A", title="to be closed")
        s, js, _ = w.call("POST", "/v1/tickets/%s/close" % tk, who="custA")
        T.eq(s, 200, "custA closes its ticket")
        T.eq((js or {}).get("state"), "closed", "ticket state = closed")
        T.status(new_req(w, ticket=tk), 422, "ticket_closed", "request with a closed ticket")
        T.status(new_req(w, ticket=w.ticket["B"]), 422, "ticket_tenant_mismatch",
                 "A1 request with a ticket of tenant B")
        T.status(new_req(w, sub="B1", ticket=w.ticket["A"]), 422, "ticket_tenant_mismatch",
                 "B1 request with a ticket of tenant A")
        T.status(new_req(w, hosts=["hA2"]), 422, "host_not_in_scope", "A1 request naming host hA2")
        T.status(new_req(w, hosts=["hB1"]), 422, "host_not_in_scope", "A1 request naming host hB1")
        T.status(new_req(w, hosts=["no-such-host"]), 422, "host_not_in_scope",
                 "A1 request naming an unknown host")
        T.status(new_req(w, duration="9h"), 422, "duration_too_long", "duration 9h over max_grant 8h")
        T.status(new_req(w, duration="8h"), 201, None, "duration 8h = max_grant is accepted")

    with T.section("grant of 2s completes via the sweeper"):
        rg = created(T, new_req(w, duration="2s"), "2s request", "customer_notified")
        ridg = rg.get("id", "req_0000000000000000")
        s, js, _ = act(w, ridg, "approve", "gadmA")
        T.eq((js or {}).get("state") if s == 200 else s, "approved", "approve the 2s request")
        got = lbtest.wait_until(lambda: st_of(w, ridg) == "completed", timeout=8)
        T.check(got, "2s grant -> completed within 8s", st_of(w, ridg))
        T.status(act(w, ridg, "revoke", "gadmA"), 409, "wrong_state", "revoke a completed request")
        evs, _ = paginate(gw, "/v1/audit/events?request=" + ridg, admin)
        T.check("lockbox.request.complete" in [e.get("type") for e in evs],
                "lockbox.request.complete audited")

    with T.section("list filters"):
        s, js, _ = w.call("GET", "/v1/requests?state=approved", who="gadmA")
        items = js.get("items", []) if s == 200 else []
        T.check(s == 200 and items and all(i.get("state") == "approved" for i in items),
                "GET /v1/requests?state=approved filters by state", s)
        s, js, _ = w.call("GET", "/v1/requests?subscription=" + w.sub["A2"], who="gadmA")
        items = js.get("items", []) if s == 200 else []
        T.check(s == 200 and items and all(i.get("subscription") == w.sub["A2"] for i in items),
                "filter by subscription")
        s, js, _ = w.call("GET", "/v1/requests?tenant=" + w.tenant["A"], who="iapp")
        items = js.get("items", []) if s == 200 else []
        T.check(s == 200 and items and all(i.get("tenant") == w.tenant["A"] for i in items),
                "filter by tenant")
        s, js, _ = w.call("GET", "/v1/requests?host=hA2", who="gadmA")
        items = js.get("items", []) if s == 200 else []
        T.check(s == 200 and items and all("hA2" in i.get("hosts", []) or i.get("scope") == "tenant"
                                           or i.get("hosts") == ["*"] for i in items),
                "filter by host", [i.get("hosts") for i in items])
        s, js, _ = w.call("GET", "/v1/requests?mine=true", who="eng2")
        T.check(s == 200 and js.get("items") == [], "eng2 has no requests (mine=true)")

    with T.section("pagination"):
        for i in range(5):
            w.must("POST", "/v1/tenants", {"name": "page-%d" % i}, expect=201)
        for path, who, lim in (("/v1/tenants", "admin", 3), ("/v1/users", "admin", 4),
                               ("/v1/hosts", "admin", 1), ("/v1/requests?mine=true", "eng", 2),
                               ("/v1/subscriptions", "admin", 2),
                               ("/v1/audit/events", "admin", 20)):
            full, _ = paginate(gw, path, w.tok[who], limit=200)
            sep = "&" if "?" in path else "?"
            got, cursor, pages, last = [], None, 0, None
            ok = True
            while pages < 100:
                p = "%s%slimit=%d" % (path, sep, lim)
                if cursor is not None:
                    p += "&cursor=" + str(cursor)
                s, js, text = w.call("GET", p, who=who)
                if s != 200 or js is None:
                    ok = T.check(False, "%s page %d" % (path, pages), "%d %s" % (s, text[:200]))
                    break
                pages += 1
                items = js.get("items", [])
                if len(items) > lim:
                    ok = T.check(False, "%s: page larger than limit" % path, len(items))
                cursor = js.get("next_cursor")
                got += items
                if cursor is None:
                    break
                if not items:
                    ok = T.check(False, "%s: empty page with a next_cursor" % path)
                    break
            if not ok:
                continue
            ids = [i.get("id") for i in got]
            T.eq(ids, [i.get("id") for i in full],
                 "%s: pages of %d concatenate to the full list" % (path, lim))
            T.check(len(set(ids)) == len(ids), "%s: no item twice across pages" % path)
            T.check(len(full) > lim, "%s: more than one page (%d items)" % (path, len(full)))
            T.eq(pages, (len(full) + lim - 1) // lim if full else 1,
                 "%s: page count, next_cursor null on the last page" % path)
        s, js, _ = w.call("GET", "/v1/tenants?limit=200")
        T.eq((js or {}).get("next_cursor", "missing"), None, "single page: next_cursor is null")
        ts = [parse_time(i.get("created_at")) for i in (js or {}).get("items", [])]
        T.check(ts and all(a <= b for a, b in zip(ts, ts[1:])), "items come oldest first")

    with T.section("races: concurrent decisions on one request, exactly one wins"):
        import threading
        acts = [("approve", "gadmA"), ("approve", "lbappA"), ("deny", "ownA1"), ("cancel", "eng")]
        final = {"approve": "approved", "deny": "denied", "cancel": "canceled"}
        bad = []
        for i in range(8):
            rid = w.new_request("eng")["id"]
            results = [None] * len(acts)
            barrier = threading.Barrier(len(acts))

            def go(k):
                try:
                    barrier.wait(5)
                except threading.BrokenBarrierError:
                    pass
                results[k] = act(w, rid, acts[k][0], acts[k][1])

            ths = [threading.Thread(target=go, args=(k,)) for k in range(len(acts))]
            for t in ths:
                t.start()
            for t in ths:
                t.join(30)
            sts = [r[0] if r else None for r in results]
            wins = [k for k, st_ in enumerate(sts) if st_ == 200]
            losers_ok = all(results[k] and results[k][0] == 409 and err_code(results[k][1]) == "wrong_state"
                            for k in range(len(acts)) if k not in wins)
            state = st_of(w, rid)
            evs, _ = paginate(gw, "/v1/audit/events?request=" + rid, admin)
            decided = [e.get("type") for e in evs if e.get("type") in (
                "lockbox.request.approve", "lockbox.request.deny", "lockbox.request.cancel")]
            if len(wins) != 1 or not losers_ok or state != final[acts[wins[0]][0]] or len(decided) != 1:
                bad.append({"statuses": sts, "state": state, "events": decided})
        T.check(not bad, "8 rounds of approve/approve/deny/cancel at once: one 200, three 409 wrong_state, "
                "one decision event", bad[:3])

    T.note(gw.log_tail(5))
    gw.close()

    # ------------------------------------------------------------ expiry and MFA
    gw2 = lbtest.Gateway(conf_extra="pending_ttl = 2s\nrequire_mfa = true")
    gw2.start()
    with T.section("require_mfa and pending_ttl = 2s"):
        w2 = lbtest.world(gw2, gw2.bootstrap())
        T.status(new_req(w2), 422, "mfa_required",
                 "require_mfa: engineer without an elevation made with a TOTP code")
        w2.elevate("eng", mfa=True)     # enrols TOTP and elevates with a code
        w2.elevate("eng2", mfa=True)
        b = w2.request_body()
        del b["duration"]
        st, js, text = api(gw2, "POST", "/v1/requests", b, token=w2.tok["eng2"])
        T.check(st == 201 and js.get("duration") == "8h", "no duration -> default_grant (8h)",
                "%d %s" % (st, text[:200]))

        t0 = time.time()
        r = created(T, new_req(w2), "require_mfa: engineer with a TOTP-backed elevation accepted",
                    "customer_notified")
        rid = r.get("id", "req_0000000000000000")
        pe = parse_time(r.get("pending_expires_at"))
        T.check(close_to(pe, t0 + 2, 1.5), "pending_expires_at = created + 2s", r.get("pending_expires_at"))
        ri = created(T, new_req(w2, scope="tenant", tenant="A", hosts=["*"]),
                     "tenant-scoped request (internal_review)", "internal_review")
        ridi = ri.get("id", "req_0000000000000000")
        got = lbtest.wait_until(lambda: st_of(w2, rid) == "expired" and st_of(w2, ridi) == "expired",
                                timeout=8)
        T.check(got, "customer_notified and internal_review requests -> expired within 8s",
                (st_of(w2, rid), st_of(w2, ridi)))
        T.status(act(w2, rid, "approve", "gadmA"), 409, "wrong_state", "approve an expired request")
        T.status(act(w2, rid, "cancel", "eng"), 409, "wrong_state", "cancel an expired request")
        T.status(act(w2, ridi, "internal-approve", "iapp"), 409, "wrong_state",
                 "internal-approve an expired request")
        evs, _ = paginate(gw2, "/v1/audit/events?type=lockbox.request.expire", w2.admin)
        T.check(set([rid, ridi]) <= set(e.get("request") for e in evs),
                "lockbox.request.expire audited for both")
    gw2.close()
    T.done()


main()
