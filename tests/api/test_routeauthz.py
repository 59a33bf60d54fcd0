#!/usr/bin/python3
"""Authorization generated from the route table: `lockbox-gatewayd --print-routes` names, for
every route, who calls it and the roles of which a user needs one. Every route is called as
every role (and as a user with no role, a host, no token, an unknown token); whoever is
outside the route's set is refused: 401 without a valid token, 403 from the role gate before
the body or the object is looked at. A route added to the table is covered here without a
line of this file changing; test_authz.py keeps the hand-written matrix of what insiders may
do with which object (tenant, subscription, requester: 403 or 404 there). Every route of the
table is also in docs/API.md."""

import os
import re
import subprocess

import lbtest
from lbtest import api, err_code

T = lbtest.Runner("api/routeauthz")

# a world() user for every role (DESIGN.md "Actors"), and one without any
ROLE_USER = {"provider_admin": "admin", "engineer": "eng", "internal_approver": "iapp",
             "global_admin": "gadmA", "lockbox_approver": "lbappA", "owner": "ownA1",
             "customer_user": "custA"}
NO_ROLE = "nobody"
WHOS = {"anyone", "user", "host", "invitee", "signin"}
# The generated calls prove the gate keeps to the table; these pins keep the table honest
# where a slip would open a route to everyone. Open to any user, because the object decides
# (404 out of reach) or it is the caller's own:
ANY_USER_ROUTES = {
    ("POST", "/v1/users/self/totp"), ("POST", "/v1/users/self/totp/confirm"),
    ("DELETE", "/v1/tokens/*"), ("GET", "/v1/tickets/*"), ("POST", "/v1/tickets/*/close"),
    ("GET", "/v1/requests/*"), ("POST", "/v1/requests/*/review"),
    ("GET", "/v1/sessions/current"), ("DELETE", "/v1/sessions/current")}
# ... and without a bearer token at all:
TOKENLESS_ROUTES = {
    ("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/v1/audit/public-key"),
    ("GET", "/console"), ("GET", "/console/**"), ("POST", "/v1/invitations/redeem"),
    ("POST", "/v1/sessions")}


def read_routes():
    out = subprocess.run([lbtest.gatewayd_path(), "--print-routes"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    T.eq(out.returncode, 0, "--print-routes exits 0", out.stderr[:300])
    routes = []
    for line in out.stdout.splitlines():
        f = line.split(" ")
        T.check(len(f) == 4 and f[2] in WHOS, "route line has METHOD PATTERN WHO ROLES", line)
        if len(f) != 4:
            continue
        roles = set() if f[3] == "-" else set(f[3].split(","))
        T.check(roles <= set(ROLE_USER), "roles of %s %s are known roles" % (f[0], f[1]),
                roles - set(ROLE_USER))
        T.check(not roles or f[2] == "user", "only user routes name roles", line)
        routes.append((f[0], f[1], f[2], roles))
    return routes


def main():
    routes = read_routes()
    T.check(len(routes) >= 50, "the table has every route (%d)" % len(routes))
    seen = {(m, p) for (m, p, _, _) in routes}
    for must_have in (("POST", "/v1/requests/*/approve"), ("GET", "/v1/audit/verify"),
                      ("POST", "/v1/check"), ("POST", "/v1/tenants")):
        T.check(must_have in seen, "%s %s is in the table" % must_have)

    T.eq({(m, p) for (m, p, who, roles) in routes if who == "user" and not roles},
         ANY_USER_ROUTES, "the routes any user passes the gate of are the known ones")
    T.eq({(m, p) for (m, p, who, _) in routes if who not in ("user", "host")},
         TOKENLESS_ROUTES, "the routes without a bearer token are the known ones")

    # the table and the reference agree: every route the gateway dispatches is documented
    top = os.environ.get("LB_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    with open(os.path.join(top, "docs", "API.md"), encoding="utf-8") as f:
        doc = f.read()
    for (method, pattern, _, _) in routes:
        rx = re.escape(pattern).replace(re.escape("**"), r"\.\.\.").replace(re.escape("*"), r"\{[a-z_]+\}")
        T.check(re.search("`%s %s[`?\\[]" % (method, rx), doc),
                "%s %s is in docs/API.md" % (method, pattern))

    gw = lbtest.Gateway()
    gw.start()
    w = lbtest.world(gw, gw.bootstrap())
    rid = w.new_request("eng")["id"]
    # real objects behind each '*': a missing gate would meet an object it could act on
    ids = {"tenants": w.tenant["A"], "hosts": w.host["hA1"]["id"], "users": w.user["custA"],
           "requests": rid, "tickets": w.ticket["A"], "tokens": "tok_0000000000000000"}

    def path_of(pattern):
        segs = pattern.split("/")
        for i, s in enumerate(segs):
            if s == "*":
                segs[i] = ids.get(segs[i - 1], "x")
            elif s == "**":
                segs[i] = "index.html"
        return "/".join(segs)

    # identity -> (token, its roles, what it is)
    idents = {r: (w.tok[u], {r}, "user") for r, u in ROLE_USER.items()}
    idents[NO_ROLE] = (w.tok[NO_ROLE], set(), "user")
    idents["host"] = (w.host["hA1"]["token"], set(), "host")
    idents["no token"] = (None, set(), None)
    idents["unknown token"] = ("lbu_" + "cd" * 32, set(), None)

    outside_calls = 0
    for (method, pattern, who, roles) in routes:
        if who in ("anyone", "invitee", "signin"):
            continue   # no bearer token is asked for: nobody is outside
        path = path_of(pattern)
        with T.section("%s %s (%s%s)" % (method, pattern, who,
                                         ": " + ",".join(sorted(roles)) if roles else "")):
            for ident, (tok, held, kind) in idents.items():
                inside = kind == who and (who != "user" or not roles or held & roles)
                if inside:
                    continue   # what insiders may do with which object: test_authz.py
                outside_calls += 1
                body = {} if method in ("POST", "PUT", "DELETE") else None
                st, js, text = api(gw, method, path, body=body, token=tok)
                if kind is None:
                    want = (401, "unauthenticated")
                else:
                    want = (403, "forbidden")
                got = (st, err_code(js))
                T.check(got == want, "as %s -> %d %s" % (ident, want[0], want[1]),
                        "got %d %s" % (st, text[:200]))
                T.check(not 200 <= st < 300, "as %s: never 2xx" % ident)

    T.check(outside_calls > 200, "every route was called as its outsiders (%d calls)" % outside_calls)

    with T.section("the refusals changed nothing"):
        st, js, _ = w.call("GET", "/v1/requests/" + rid, who="eng")
        T.eq((js or {}).get("state"), "customer_notified", "the request is still undecided")
        st, js, _ = w.call("GET", "/v1/tenants/" + w.tenant["A"])
        T.eq((js or {}).get("lockbox_enabled"), True, "tenant A's lockbox is still on")
        st, js, _ = w.call("GET", "/v1/hosts?tenant=" + w.tenant["A"])
        hA1 = [h for h in (js or {}).get("items", []) if h.get("id") == w.host["hA1"]["id"]]
        T.check(hA1 and hA1[0].get("disabled") is False, "host hA1 is still enabled", hA1)

    gw.close()
    T.done()


main()
