"""Authorization matrix: every endpoint of docs/API.md x every role, plus scope checks.
Customer-side users, roles, tokens and invitations are their tenant's global admins' alone:
the provider admin gets 403 on them (DESIGN.md "Actors"), another tenant's admin 404."""

import itertools

import lbtest
from lbtest import api, err_code, paginate

T = lbtest.Runner("api/authz")

USERS = ["admin", "eng", "eng2", "iapp", "gadmA", "lbappA", "ownA1", "ownA2",
         "custA", "gadmB", "custB", "nobody"]
IDENTS = USERS + ["host", "none", "bad", "junk"]
ENGS = {"eng", "eng2"}
HOST_ONLY = {"host"}
ALL = set(IDENTS)
ANY_USER = set(USERS)

uniq = itertools.count(1)


def main():
    gw = lbtest.Gateway()
    gw.start()
    w = lbtest.world(gw, gw.bootstrap())
    tokens = {u: w.tok[u] for u in USERS}
    tokens["host"] = w.host["hA1"]["token"]
    tokens["none"] = None
    tokens["bad"] = "lbu_" + "ab" * 32            # well-formed, unknown
    tokens["junk"] = "not a token \u00e9"          # malformed

    # eng elevates once so check calls and requests work as in real life
    w.elevate("eng")
    w.elevate("eng2")

    # ---- fixtures: objects an allowed call consumes are recreated on demand
    def req_notified():
        return w.new_request("eng")["id"]

    def req_review():
        return w.new_request("eng", scope="tenant", tenant="A", hosts=["*"])["id"]

    def req_approved():
        rid = w.new_request("eng")["id"]
        w.must("POST", "/v1/requests/%s/approve" % rid, {"reason": "ok"}, who="ownA1", expect=200)
        return rid

    def fresh_host():
        return w.must("POST", "/v1/hosts", {"subscription": w.sub["A1"],
                                            "name": "fx-host-%d" % next(uniq)}, expect=201)["id"]

    def fresh_ticket():
        return w.new_ticket("A", title="fx %d" % next(uniq))

    def fresh_user():
        return w.must("POST", "/v1/users", {"login": "fx%d" % next(uniq), "name": "Fx",
                                            "email": "fx@example.test", "side": "provider"},
                      expect=201)["id"]

    def fresh_assignment():
        uid = fresh_user()
        w.must("POST", "/v1/role-assignments", {"user": uid, "role": "engineer"}, expect=(200, 201))
        return uid

    def fresh_cuser():
        """A customer-side user of A, made by A's global admin (the only one who may)."""
        return w.must("POST", "/v1/users", {"login": "cx%d" % next(uniq), "name": "Cx",
                                            "email": "cx@example.test", "side": "customer",
                                            "tenant": A}, who="gadmA", expect=201)["id"]

    def fresh_cassignment():
        uid = fresh_cuser()
        w.must("POST", "/v1/role-assignments", {"user": uid, "role": "customer_user", "tenant": A},
               who="gadmA", expect=(200, 201))
        return uid

    def fresh_disabled(make, by):
        def f():
            uid = make()
            w.must("POST", "/v1/users/%s/disable" % uid, who=by, expect=200)
            return uid
        return f

    def fresh_token(make, by):
        def f():
            return w.must("POST", "/v1/users/%s/tokens" % make(), {}, who=by, expect=201)["id"]
        return f

    def fresh_disabled_host():
        hid = fresh_host()
        w.must("POST", "/v1/hosts/%s/disable" % hid, {}, expect=200)
        return hid

    def fresh_tenant():
        """A tenant without a global admin yet: the provider admin's invitation is its start."""
        return w.must("POST", "/v1/tenants", {"name": "fx-tenant-%d" % next(uniq)}, expect=201)["id"]

    def fresh_code():
        """The code of a fresh invitation to A, as its invitee reads it in the mail."""
        inv = w.invite(A, "inv%d" % next(uniq), by="gadmA")
        return lbtest.invitation_code(w.mail, inv["email"], inv["id"])

    class Fx:
        def __init__(self, make):
            self.make, self.val = make, None

        def get(self):
            if self.val is None:
                self.val = self.make()
            return self.val

        def consume(self):
            self.val = None

    fx_notified, fx_review, fx_approved = Fx(req_notified), Fx(req_review), Fx(req_approved)
    fx_host, fx_ticket, fx_user, fx_assign = Fx(fresh_host), Fx(fresh_ticket), Fx(fresh_user), Fx(fresh_assignment)
    fx_cuser, fx_cassign = Fx(fresh_cuser), Fx(fresh_cassignment)
    fx_dis_user, fx_dis_cuser = Fx(fresh_disabled(fresh_user, "admin")), Fx(fresh_disabled(fresh_cuser, "gadmA"))
    fx_tok, fx_ctok = Fx(fresh_token(fresh_user, "admin")), Fx(fresh_token(fresh_cuser, "gadmA"))
    fx_dis_host, fx_tenant, fx_code = Fx(fresh_disabled_host), Fx(fresh_tenant), Fx(fresh_code)
    fx_user_d, fx_cuser_d = Fx(fresh_user), Fx(fresh_cuser)
    fx_notified2 = Fx(req_notified)
    fx_review2 = Fx(req_review)
    fx_cancel = Fx(req_notified)
    static_req = req_notified()
    A, A1 = w.tenant["A"], w.sub["A1"]
    n = lambda: next(uniq)
    event = lambda: {"events": [{"id": lbtest.new_uuid(), "time": lbtest.now_rfc3339(),
                                 "type": "session.start", "actor": "eng", "details": {}}]}

    # (label, method, path or fn(fx), body or fn() or fn(fx), allowed set, obj, fixture,
    #  tolerated {ident: statuses})
    # provider admin on customer-side objects: 403; another tenant's global admin: 404
    CUST = {"admin": (403,), "gadmB": (404,)}
    E = [
        ("GET /healthz", "GET", "/healthz", None, ALL, False, None, {}),
        ("GET /metrics", "GET", "/metrics", None, ALL, False, None, {}),
        ("POST /v1/tenants", "POST", "/v1/tenants", lambda: {"name": "t%d" % n()}, {"admin"}, False, None, {}),
        ("GET /v1/tenants", "GET", "/v1/tenants", None, {"admin"}, False, None, {}),
        ("GET /v1/tenants/{id}", "GET", "/v1/tenants/" + A, None, {"admin", "gadmA"}, True, None, {}),
        ("PUT /v1/tenants/{id}/lockbox", "PUT", "/v1/tenants/%s/lockbox" % A, {"enabled": True},
         {"gadmA"}, True, None, {}),
        ("PUT /v1/tenants/{id}/policy", "PUT", "/v1/tenants/%s/policy" % A,
         {"approvals_required": 1}, {"gadmA"}, True, None, {}),
        ("POST /v1/subscriptions", "POST", "/v1/subscriptions",
         lambda: {"tenant": A, "name": "s%d" % n()}, {"admin"}, False, None, {}),
        ("GET /v1/subscriptions", "GET", "/v1/subscriptions", None, {"admin"}, False, None, {}),
        ("GET /v1/subscriptions?tenant=", "GET", "/v1/subscriptions?tenant=" + A, None, {"admin"}, False, None, {}),
        ("POST /v1/hosts", "POST", "/v1/hosts", lambda: {"subscription": A1, "name": "h%d" % n()},
         {"admin"}, False, None, {}),
        ("GET /v1/hosts", "GET", "/v1/hosts", None, {"admin"}, False, None, {}),
        ("GET /v1/hosts?tenant=", "GET", "/v1/hosts?tenant=" + A, None, {"admin"}, False, None, {}),
        ("POST /v1/hosts/{id}/disable", "POST", lambda f: "/v1/hosts/%s/disable" % f.get(), {},
         {"admin"}, True, fx_host, {}),
        ("POST /v1/hosts/{id}/enable", "POST", lambda f: "/v1/hosts/%s/enable" % f.get(), {},
         {"admin"}, True, fx_dis_host, {}),
        ("POST /v1/users (provider side)", "POST", "/v1/users",
         lambda: {"login": "u%d" % n(), "name": "U", "email": "u@example.test", "side": "provider"},
         {"admin"}, False, None, {}),
        ("POST /v1/users (customer side of A)", "POST", "/v1/users",
         lambda: {"login": "c%d" % n(), "name": "C", "email": "c@example.test", "side": "customer",
                  "tenant": A}, {"gadmA"}, True, None, CUST),
        ("GET /v1/users", "GET", "/v1/users", None, {"admin", "gadmA", "gadmB"}, False, None, {}),
        ("POST /v1/users/{id}/tokens (provider side)", "POST", lambda f: "/v1/users/%s/tokens" % f.get(),
         {"mfa": False}, {"admin"}, True, fx_user, {}),
        ("POST /v1/users/{id}/tokens (customer side)", "POST", lambda f: "/v1/users/%s/tokens" % f.get(),
         {"mfa": False}, {"gadmA"}, True, fx_cuser, CUST),
        ("GET /v1/users/{id}/tokens (provider side)", "GET", "/v1/users/%s/tokens" % w.user["eng"], None,
         {"admin"}, True, None, {}),
        ("GET /v1/users/{id}/tokens (customer side)", "GET", "/v1/users/%s/tokens" % w.user["custA"], None,
         {"gadmA"}, True, None, CUST),
        ("DELETE /v1/tokens/{id} (provider side)", "DELETE", lambda f: "/v1/tokens/%s" % f.get(), None,
         {"admin"}, True, fx_tok, {}),
        ("DELETE /v1/tokens/{id} (customer side)", "DELETE", lambda f: "/v1/tokens/%s" % f.get(), None,
         {"gadmA"}, True, fx_ctok, CUST),
        ("POST /v1/users/{id}/disable (provider side)", "POST", lambda f: "/v1/users/%s/disable" % f.get(),
         None, {"admin"}, True, fx_user_d, {}),
        ("POST /v1/users/{id}/disable (customer side)", "POST", lambda f: "/v1/users/%s/disable" % f.get(),
         None, {"gadmA"}, True, fx_cuser_d, CUST),
        ("POST /v1/users/{id}/enable (provider side)", "POST", lambda f: "/v1/users/%s/enable" % f.get(),
         None, {"admin"}, True, fx_dis_user, {}),
        ("POST /v1/users/{id}/enable (customer side)", "POST", lambda f: "/v1/users/%s/enable" % f.get(),
         None, {"gadmA"}, True, fx_dis_cuser, CUST),
        ("POST /v1/role-assignments (provider role)", "POST", "/v1/role-assignments",
         lambda f: {"user": f.get(), "role": "engineer"}, {"admin"}, True, fx_user, {}),
        ("POST /v1/role-assignments (customer role in A)", "POST", "/v1/role-assignments",
         lambda f: {"user": f.get(), "role": "lockbox_approver", "tenant": A}, {"gadmA"}, True,
         fx_cuser, CUST),
        ("DELETE /v1/role-assignments (provider role)", "DELETE", "/v1/role-assignments",
         lambda f: {"user": f.get(), "role": "engineer"}, {"admin"}, True, fx_assign, {}),
        ("DELETE /v1/role-assignments (customer role in A)", "DELETE", "/v1/role-assignments",
         lambda f: {"user": f.get(), "role": "customer_user", "tenant": A}, {"gadmA"}, True,
         fx_cassign, CUST),
        ("GET /v1/role-assignments", "GET", "/v1/role-assignments", None, {"admin", "gadmA", "gadmB"},
         False, None, {}),
        ("GET /v1/role-assignments?user=", "GET", "/v1/role-assignments?user=" + w.user["eng"], None,
         {"admin", "gadmA", "gadmB"}, False, None, {}),
        # a tenant with a global admin: only its global admins invite
        ("POST /v1/tenants/{id}/invitations (tenant with a global admin)", "POST",
         "/v1/tenants/%s/invitations" % A,
         lambda: {"login": "i%d" % n(), "name": "I", "email": "i@example.test"}, {"gadmA"}, True,
         None, CUST),
        # a tenant without one: the provider admin invites its first (the bootstrap)
        ("POST /v1/tenants/{id}/invitations (tenant without a global admin)", "POST",
         lambda f: "/v1/tenants/%s/invitations" % f.get(),
         lambda: {"login": "j%d" % n(), "name": "J", "email": "j@example.test"}, {"admin"}, True,
         fx_tenant, {"gadmA": (404,), "gadmB": (404,)}),
        ("GET /v1/tenants/{id}/invitations", "GET", "/v1/tenants/%s/invitations" % A, None,
         {"admin", "gadmA"}, True, None, {"gadmB": (404,)}),
        # no token: the code is the credential (a token sent along changes nothing)
        ("POST /v1/invitations/redeem", "POST", "/v1/invitations/redeem",
         lambda f: {"code": f.get()}, ALL, False, fx_code, {}),
        ("POST /v1/tickets", "POST", "/v1/tickets",
         lambda: {"tenant": A, "title": "t", "description": "d"}, {"custA"}, True, None, {}),
        ("GET /v1/tickets", "GET", "/v1/tickets", None,
         {"custA", "gadmA", "lbappA", "ownA1", "ownA2", "gadmB", "custB", "eng", "eng2", "iapp"},
         False, None, {}),
        ("GET /v1/tickets/{id}", "GET", "/v1/tickets/" + w.ticket["A"], None,
         {"custA", "gadmA", "lbappA", "ownA1", "ownA2", "eng", "eng2", "iapp"}, True, None, {}),
        ("POST /v1/tickets/{id}/close", "POST", lambda f: "/v1/tickets/%s/close" % f.get(), {},
         {"custA", "gadmA"}, True, fx_ticket, {}),
        # every user, for themselves only (there is no path naming another user); the
        # confirmation needs the code of one's own secret: tests/api/test_totp.py
        ("POST /v1/users/self/totp", "POST", "/v1/users/self/totp", {}, ANY_USER, False, None, {}),
        ("POST /v1/elevations", "POST", "/v1/elevations", {"duration": "1h", "justification": "j"},
         ENGS, False, None, {}),
        ("GET /v1/elevations", "GET", "/v1/elevations", None, ENGS, False, None, {}),
        ("POST /v1/requests", "POST", "/v1/requests", lambda: w.request_body(), ENGS, False, None, {}),
        ("GET /v1/requests", "GET", "/v1/requests", None,
         {"eng", "eng2", "iapp", "gadmA", "lbappA", "ownA1", "ownA2", "gadmB"}, False, None, {}),
        ("GET /v1/requests/{id}", "GET", "/v1/requests/" + static_req, None,
         {"eng", "iapp", "gadmA", "lbappA", "ownA1"}, True, None, {}),
        ("POST /v1/requests/{id}/internal-approve", "POST",
         lambda f: "/v1/requests/%s/internal-approve" % f.get(), {"reason": "r"},
         {"iapp"}, True, fx_review, {}),
        ("POST /v1/requests/{id}/approve", "POST", lambda f: "/v1/requests/%s/approve" % f.get(),
         {"reason": "r"}, {"gadmA", "lbappA", "ownA1"}, True, fx_notified, {}),
        ("POST /v1/requests/{id}/deny (customer_notified)", "POST",
         lambda f: "/v1/requests/%s/deny" % f.get(), {"reason": "r"},
         {"gadmA", "lbappA", "ownA1"}, True, fx_notified2, {"iapp": (403, 404, 409)}),
        ("POST /v1/requests/{id}/deny (internal_review)", "POST",
         lambda f: "/v1/requests/%s/deny" % f.get(), {"reason": "r"},
         {"iapp"}, True, fx_review2, {"gadmA": None, "lbappA": None}),
        ("POST /v1/requests/{id}/revoke", "POST", lambda f: "/v1/requests/%s/revoke" % f.get(),
         {"reason": "r"}, {"eng", "gadmA", "lbappA", "ownA1"}, True, fx_approved, {}),
        ("POST /v1/requests/{id}/cancel", "POST", lambda f: "/v1/requests/%s/cancel" % f.get(),
         {"reason": "r"}, {"eng"}, True, fx_cancel, {}),
        ("GET /v1/hosts/self", "GET", "/v1/hosts/self", None, HOST_ONLY, False, None, {}),
        ("POST /v1/check", "POST", "/v1/check", {"user": "eng", "service": "sshd"},
         HOST_ONLY, False, None, {}),
        ("POST /v1/audit/events", "POST", "/v1/audit/events", event, HOST_ONLY, False, None, {}),
        ("GET /v1/audit/events", "GET", "/v1/audit/events", None,
         {"admin", "gadmA", "lbappA", "ownA1", "ownA2", "gadmB"}, False, None, {}),
        # the chain is one order over every tenant: provider admins only (issue 13 item 8)
        ("GET /v1/audit/verify", "GET", "/v1/audit/verify", None,
         {"admin"}, False, None, {}),
    ]
    host_endpoints = {"POST /v1/check", "POST /v1/audit/events", "GET /v1/hosts/self"}
    open_endpoints = {"GET /healthz", "GET /metrics"}

    for (label, method, path, body, allowed, obj, fx, tolerated) in E:
        with T.section(label):
            for ident in IDENTS:
                if ident in tolerated and tolerated[ident] is None:
                    continue   # not specified by the contract
                p = path(fx) if callable(path) else path
                if callable(body):
                    b = body(fx) if body.__code__.co_argcount == 1 else body()
                else:
                    b = body
                st, js, text = api(gw, method, p, body=b, token=tokens[ident])
                code = err_code(js)
                what = "%s as %s" % (label, ident)
                if ident in allowed:
                    ok = 200 <= st < 300
                    T.check(ok, "%s -> 2xx" % what, None if ok else "got %d %s" % (st, text[:200]))
                    if ok and fx is not None:
                        fx.consume()
                    continue
                if ident in ("none", "bad", "junk"):
                    want, codes = (401,), ("unauthenticated",)
                elif ident == "host" or label in host_endpoints:
                    want, codes = (401, 403), ("unauthenticated", "forbidden")
                elif obj:
                    want, codes = (403, 404), ("forbidden", "not_found")
                else:
                    want, codes = (403,), ("forbidden",)
                if ident in tolerated:
                    want = tuple(tolerated[ident])
                    codes = ("forbidden", "not_found", "wrong_state")
                ok = st in want and code in codes
                T.check(ok, "%s -> %s %s" % (what, "/".join(map(str, want)), "|".join(codes)),
                        None if ok else "got %d %s" % (st, text[:200]))
                if 200 <= st < 300 and fx is not None:
                    fx.consume()

    with T.section("metrics is Prometheus text"):
        st, _, text = api(gw, "GET", "/metrics")
        T.check(st == 200 and ("# TYPE" in text or "# HELP" in text), "GET /metrics has # TYPE/# HELP lines",
                text[:200])

    # ---------------------------------------------------------------- scope checks
    with T.section("owner scope"):
        rA2 = w.new_request("eng", sub="A2")["id"]
        st, js, text = w.call("POST", "/v1/requests/%s/approve" % rA2, {"reason": "x"}, who="ownA1")
        T.check(st in (403, 404), "owner of A1 cannot approve an A2 request -> 403/404", "%d %s" % (st, text[:200]))
        rT = w.new_request("eng", scope="tenant", tenant="A", hosts=["*"])["id"]
        w.must("POST", "/v1/requests/%s/internal-approve" % rT, {"reason": "ok"}, who="iapp", expect=200)
        st, js, text = w.call("POST", "/v1/requests/%s/approve" % rT, {"reason": "x"}, who="ownA1")
        T.check(st in (403, 404), "owner of A1 cannot approve a tenant-scoped request -> 403/404",
                "%d %s" % (st, text[:200]))
        st, js, text = w.call("POST", "/v1/requests/%s/deny" % rT, {"reason": "x"}, who="ownA1")
        T.check(st in (403, 404), "owner of A1 cannot deny a tenant-scoped request", "%d %s" % (st, text[:200]))
        st, _, _ = w.call("GET", "/v1/requests/" + rT, who="ownA1")
        T.check(st in (403, 404), "owner of A1 cannot read a tenant-scoped request")
        items, _ = paginate(gw, "/v1/requests", w.tok["ownA1"])
        T.check(items and all(i.get("subscription") == A1 for i in items),
                "owner of A1 lists only A1 requests", set(i.get("subscription") for i in items))
        items, _ = paginate(gw, "/v1/requests", w.tok["ownA2"])
        T.check(rA2 in [i["id"] for i in items] and all(i.get("subscription") == w.sub["A2"] for i in items),
                "owner of A2 lists only A2 requests")
        st, js, _ = w.call("GET", "/v1/requests/" + rT, who="gadmA")
        T.eq(st, 200, "global admin of A reads the tenant-scoped request")
        st, js, _ = w.call("POST", "/v1/requests/%s/approve" % rT, {"reason": "x"}, who="gadmA")
        T.eq(st, 200, "global admin of A approves the tenant-scoped request")

    with T.section("tenant B cannot see or act on tenant A"):
        rid = w.new_request("eng")["id"]
        for what, method, path, body in (
                ("read", "GET", "/v1/requests/" + rid, None),
                ("approve", "POST", "/v1/requests/%s/approve" % rid, {"reason": "x"}),
                ("deny", "POST", "/v1/requests/%s/deny" % rid, {"reason": "x"}),
                ("read ticket of A", "GET", "/v1/tickets/" + w.ticket["A"], None),
                ("close ticket of A", "POST", "/v1/tickets/%s/close" % w.ticket["A"], {}),
                ("toggle lockbox of A", "PUT", "/v1/tenants/%s/lockbox" % A, {"enabled": False})):
            st, js, text = w.call(method, path, body, who="gadmB")
            T.check(st in (403, 404) and err_code(js) in ("forbidden", "not_found"),
                    "global admin of B cannot %s -> 403/404" % what, "%d %s" % (st, text[:200]))
        st, js, _ = w.call("GET", "/v1/requests/" + rid, who="eng")
        T.eq((js or {}).get("state"), "customer_notified", "request of A unchanged")
        items, _ = paginate(gw, "/v1/requests", w.tok["gadmB"])
        T.check(all(i.get("tenant") == w.tenant["B"] for i in items), "B's request list has no A items")
        items, _ = paginate(gw, "/v1/tickets", w.tok["gadmB"])
        T.check(items and all(i.get("tenant") == w.tenant["B"] for i in items),
                "B's ticket list has only B tickets")
        items, _ = paginate(gw, "/v1/audit/events", w.tok["gadmB"])
        T.check(all(i.get("tenant") == w.tenant["B"] for i in items), "B's audit list has no A events")
        st, js, text = w.call("GET", "/v1/audit/events?tenant=" + A, who="gadmB")
        T.check(st in (403, 404) or (st == 200 and not js.get("items")),
                "global admin of B asking for tenant=A gets 403/404 or nothing", "%d %s" % (st, text[:200]))
        st, js, text = w.call("GET", "/v1/requests?tenant=" + A, who="gadmB")
        T.check(st in (403, 404) or (st == 200 and not js.get("items")),
                "global admin of B asking for requests of A gets 403/404 or nothing")
        st, js, text = w.call("POST", "/v1/tickets", {"tenant": A, "title": "x", "description": "y"}, who="custB")
        T.check(st in (403, 404), "customer user of B cannot open a ticket in A", "%d %s" % (st, text[:200]))
        items, _ = paginate(gw, "/v1/audit/events", w.tok["ownA1"])
        T.check(items and all(i.get("subscription") == A1 and i.get("level") == "subscription" for i in items),
                "owner of A1 sees only A1 subscription-level audit events",
                set((i.get("subscription"), i.get("level")) for i in items))
        items, _ = paginate(gw, "/v1/audit/events", w.tok["lbappA"])
        T.check(items and all(i.get("tenant") == A for i in items), "lockbox approver of A sees only A events")

    with T.section("nobody approves their own request"):
        uid = w.add_user("engiapp", "provider", role="engineer")
        w.must("POST", "/v1/role-assignments", {"user": uid, "role": "internal_approver"}, expect=(200, 201))
        w.elevate("engiapp")
        rid = w.new_request("engiapp", scope="tenant", tenant="A", hosts=["*"])["id"]
        T.status(w.call("POST", "/v1/requests/%s/internal-approve" % rid, {"reason": "me"}, who="engiapp"),
                 403, "self_approval", "internal approver internal-approves their own request")
        st, js, _ = w.call("GET", "/v1/requests/" + rid, who="iapp")
        T.eq((js or {}).get("state"), "internal_review", "own request still in internal_review")
        T.status(w.call("POST", "/v1/requests/%s/internal-approve" % rid, {"reason": "ok"}, who="iapp"),
                 200, None, "another internal approver may")

    with T.section("customer roles cannot open requests, provider roles cannot approve"):
        for who in ("gadmA", "lbappA", "ownA1", "custA", "gadmB", "custB"):
            T.status(w.call("POST", "/v1/requests", w.request_body(), who=who), 403, "forbidden",
                     "%s POST /v1/requests" % who)
        rid = w.new_request("eng")["id"]
        for who in ("admin", "eng", "eng2", "iapp", "nobody"):
            st, js, text = w.call("POST", "/v1/requests/%s/approve" % rid, {"reason": "x"}, who=who)
            T.check(st in (403, 404) and err_code(js) in ("forbidden", "not_found", "self_approval"),
                    "%s cannot approve a customer request -> 403/404" % who, "%d %s" % (st, text[:200]))
        st, js, _ = w.call("GET", "/v1/requests/" + rid, who="eng")
        T.eq((js or {}).get("state"), "customer_notified", "request still customer_notified")

    with T.section("engineers see only their own requests"):
        rid = w.new_request("eng")["id"]
        for what, method, path in (("read", "GET", "/v1/requests/" + rid),
                                   ("cancel", "POST", "/v1/requests/%s/cancel" % rid),
                                   ("revoke", "POST", "/v1/requests/%s/revoke" % rid)):
            st, js, text = w.call(method, path, {"reason": "x"} if method == "POST" else None, who="eng2")
            T.check(st in (403, 404) and err_code(js) in ("forbidden", "not_found"),
                    "eng2 cannot %s eng's request -> 403/404" % what, "%d %s" % (st, text[:200]))
        items, _ = paginate(gw, "/v1/requests", w.tok["eng2"])
        T.check(all(i.get("requester") == w.user["eng2"] for i in items), "eng2's list has only eng2's requests")
        items, _ = paginate(gw, "/v1/elevations", w.tok["eng2"])
        T.check(items and all(i.get("user", w.user["eng2"]) == w.user["eng2"] for i in items),
                "eng2's elevations list has only eng2's")

    with T.section("role changes take effect at once"):
        uid = w.add_user("engtmp", "provider", role="engineer")
        w.elevate("engtmp")
        T.status(w.call("POST", "/v1/requests", w.request_body(), who="engtmp"), 201, None,
                 "engineer creates a request")
        T.status(w.call("DELETE", "/v1/role-assignments", {"user": uid, "role": "engineer"}), 200, None,
                 "provider admin removes the engineer role")
        T.status(w.call("POST", "/v1/requests", w.request_body(), who="engtmp"), 403, "forbidden",
                 "without the role the same token cannot create requests")
        T.status(w.call("DELETE", "/v1/role-assignments", {"user": uid, "role": "engineer"}), 404, "not_found",
                 "removing it again -> 404")
        ra = w.must("POST", "/v1/role-assignments", {"user": uid, "role": "engineer"}, expect=(200, 201))
        T.status(w.call("POST", "/v1/requests", w.request_body(), who="engtmp"), 201, None,
                 "role given back -> may create again")
        T.status(w.call("DELETE", "/v1/role-assignments", {"id": ra.get("id")}), 200, None,
                 "DELETE /v1/role-assignments by {id}")
        T.status(w.call("POST", "/v1/elevations", {"duration": "1h", "justification": "x"}, who="engtmp"),
                 403, "forbidden", "after removal by id: no elevation either")
        uo = w.add_user("owntmp", "customer", tenant=A, role="owner", scope=("subscription", A1))
        rid = w.new_request("eng")["id"]
        w.must("DELETE", "/v1/role-assignments", {"user": uo, "role": "owner", "subscription": A1},
               who="gadmA", expect=200)
        st, js, text = w.call("POST", "/v1/requests/%s/approve" % rid, {"reason": "x"}, who="owntmp")
        T.check(st in (403, 404), "former owner cannot approve", "%d %s" % (st, text[:200]))

    with T.section("Authorization header forms"):
        good = w.tok["admin"]
        for label, hv in (("Basic scheme", "Basic " + good), ("token without scheme", good),
                          ("token plus garbage", "Bearer " + good + "x"), ("empty bearer", "Bearer "),
                          ("truncated token", "Bearer " + good[:-1]), ("host-prefixed user token",
                                                                         "Bearer lbh_" + good[4:])):
            st, js, text = api(gw, "GET", "/v1/tenants", headers={"Authorization": hv})
            T.check(st == 401 and err_code(js) == "unauthenticated", "%s -> 401 unauthenticated" % label,
                    "%d %s" % (st, text[:200]))
        st, js, text = api(gw, "GET", "/v1/tenants", headers={"Authorization": "Bearer  " + good})
        T.check(st in (200, 401), "two spaces after Bearer: 200 or 401, never 5xx", st)

    with T.section("host tokens"):
        hB = w.host["hB1"]["token"]
        st, js, text = api(gw, "GET", "/v1/requests/" + rid, token=hB)
        T.check(st in (401, 403), "host token cannot read a request", "%d" % st)
        st, js, text = api(gw, "POST", "/v1/check", {"user": "eng", "service": "sshd"}, token=hB)
        T.eq(st, 200, "host token of B may check")

    T.done()


main()
