#!/usr/bin/python3
"""The directory audit (DESIGN.md "Audit events"): every change to tenants, subscriptions,
hosts, invitations, users, roles and tokens is exactly one event with the right level, tenant
and actor (and actor_login), never a secret; a change that changes nothing (disabling twice,
revoking twice) is no event; a tenant's global admin reads its own tenant's events and nobody
else's, and no provider-level ones."""
import json

import lbtest
from lbtest import Gateway, paginate, world

T = lbtest.Runner("directory")


def main():
    with Gateway() as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        A, B = w.tenant["A"], w.tenant["B"]
        admin_id = w.user["admin"]
        seen_before = {e["id"] for e in paginate(gw, "/v1/audit/events", w.admin)[0]}
        secrets = []

        def new_events():
            items, _ = paginate(gw, "/v1/audit/events", w.admin)
            out = [e for e in items if e["id"] not in seen_before]
            seen_before.update(e["id"] for e in out)
            return out

        def one(what, typ, level, tenant, actor, ref=None, who_reads=(), who_not=()):
            """The change just made gave exactly one event: TYPE, LEVEL, TENANT, ACTOR (a key of
            w.user); REF: (details key, value) it must name. WHO_READS / WHO_NOT: keys of w.tok
            that do / do not see it."""
            evs = new_events()
            T.eq([e["type"] for e in evs], [typ], "%s: exactly one %s event" % (what, typ), evs)
            if len(evs) != 1:
                return None
            e = evs[0]
            T.eq((e["level"], e["tenant"]), (level, tenant), "%s: level %s of %s" % (what, level, tenant))
            T.eq(e["actor"], w.user[actor], "%s: actor %s" % (what, actor))
            T.eq(e.get("actor_login"), w.login[actor], "%s: actor_login %s" % (what, w.login[actor]))
            if ref:
                T.eq(e["details"].get(ref[0]), ref[1], "%s: details.%s" % (what, ref[0]))
            blob = json.dumps(e)
            T.check(not any(s in blob for s in secrets), "%s: no secret in the event" % what)
            for who in who_reads:
                items = [x for x in paginate(gw, "/v1/audit/events?type=" + typ, w.tok[who])[0]
                         if x["id"] == e["id"]]
                T.eq(len(items), 1, "%s: %s reads it" % (what, who))
            for who in who_not:
                items = [x for x in paginate(gw, "/v1/audit/events?type=" + typ, w.tok[who])[0]
                         if x["id"] == e["id"]]
                T.eq(len(items), 0, "%s: %s does not" % (what, who))
            return e

        def none(what):
            T.eq([e["type"] for e in new_events()], [], "%s: no event" % what)

        with T.section("tenants, subscriptions, hosts (provider admin)"):
            t = w.must("POST", "/v1/tenants", {"name": "t-dir"}, expect=201)["id"]
            one("tenant create", "directory.tenant.create", "tenant", t, "admin", ("tenant", t))
            s = w.must("POST", "/v1/subscriptions", {"tenant": A, "name": "s-dir"}, expect=201)["id"]
            one("subscription create", "directory.subscription.create", "tenant", A, "admin",
                ("subscription", s), who_reads=("gadmA",), who_not=("gadmB",))
            h = w.must("POST", "/v1/hosts", {"subscription": s, "name": "h-dir"}, expect=201)
            secrets.append(h["token"])
            e = one("host enroll", "host.enroll", "subscription", A, "admin", ("host_id", h["id"]),
                    who_reads=("gadmA",), who_not=("gadmB", "ownA1"))
            T.check(e and e["subscription"] == s and e["host"] == "h-dir", "host enroll: its host", e)
            w.must("POST", "/v1/hosts/%s/disable" % h["id"], {}, expect=200)
            one("host disable", "host.disable", "subscription", A, "admin", ("host_id", h["id"]),
                who_reads=("gadmA",), who_not=("gadmB",))
            w.must("POST", "/v1/hosts/%s/disable" % h["id"], {}, expect=200)
            none("host disable again")
            js = w.must("POST", "/v1/hosts/%s/enable" % h["id"], {}, expect=200)
            T.eq(js.get("disabled"), False, "host enable answers the host, enabled")
            one("host enable", "host.enable", "subscription", A, "admin", ("host_id", h["id"]),
                who_reads=("gadmA",), who_not=("gadmB",))
            w.must("POST", "/v1/hosts/%s/enable" % h["id"], {}, expect=200)
            none("host enable again")
            st, js, _ = w.call("POST", "/v1/hosts/hst_0000000000000000/enable", {})
            T.eq(st, 404, "host enable of an unknown host -> 404")

        with T.section("invitations"):
            inv = w.invite(A, "gadm2", by="gadmA")
            one("invitation create", "directory.invitation.create", "tenant", A, "gadmA",
                ("invitation", inv["id"]), who_reads=("gadmA", "lbappA"), who_not=("gadmB", "ownA1"))
            r = w.redeem(inv)
            secrets.append(r["token"])
            w.user["gadm2"], w.login["gadm2"], w.tok["gadm2"] = r["user"]["id"], "gadm2", r["token"]
            one("invitation redeem", "directory.invitation.redeem", "tenant", A, "gadm2",
                ("user", r["user"]["id"]), who_reads=("gadmA", "gadm2"), who_not=("gadmB",))

        with T.section("customer-side users, roles, tokens (the tenant's global admin)"):
            u = w.must("POST", "/v1/users", {"login": "cdir", "name": "C", "email": "c@a.test",
                                             "side": "customer", "tenant": A}, who="gadmA",
                       expect=201)["id"]
            one("customer user create", "directory.user.create", "tenant", A, "gadmA", ("user", u),
                who_reads=("gadmA",), who_not=("gadmB",))
            ra = w.must("POST", "/v1/role-assignments", {"user": u, "role": "owner",
                                                         "subscription": w.sub["A1"]},
                        who="gadmA", expect=201)
            e = one("customer role assign", "directory.role.assign", "tenant", A, "gadmA",
                    ("role_assignment", ra["id"]), who_reads=("gadmA",), who_not=("gadmB",))
            T.check(e and e["details"].get("role") == "owner", "role assign: the role", e)
            tok = w.must("POST", "/v1/users/%s/tokens" % u, {}, who="gadmA", expect=201)
            secrets.append(tok["token"])
            one("customer token create", "directory.token.create", "tenant", A, "gadmA",
                ("token", tok["id"]), who_reads=("gadmA",), who_not=("gadmB",))
            w.must("DELETE", "/v1/tokens/%s" % tok["id"], who="gadmA", expect=200)
            one("customer token revoke", "directory.token.revoke", "tenant", A, "gadmA",
                ("token", tok["id"]), who_reads=("gadmA",), who_not=("gadmB",))
            w.must("DELETE", "/v1/tokens/%s" % tok["id"], who="gadmA", expect=200)
            none("revoke again")
            w.must("POST", "/v1/users/%s/disable" % u, who="gadm2", expect=200)
            one("customer user disable", "directory.user.disable", "tenant", A, "gadm2", ("user", u),
                who_reads=("gadmA",), who_not=("gadmB",))
            w.must("POST", "/v1/users/%s/disable" % u, who="gadm2", expect=200)
            none("disable again")
            w.must("POST", "/v1/users/%s/enable" % u, who="gadmA", expect=200)
            one("customer user enable", "directory.user.enable", "tenant", A, "gadmA", ("user", u))
            w.must("DELETE", "/v1/role-assignments", {"id": ra["id"]}, who="gadmA", expect=200)
            one("customer role unassign", "directory.role.unassign", "tenant", A, "gadmA",
                ("role_assignment", ra["id"]), who_reads=("gadmA",), who_not=("gadmB",))

        with T.section("the provider admin's refusals change nothing and are no events"):
            for method, path, body in (
                    ("POST", "/v1/users", {"login": "cx", "name": "C", "email": "c@a.test",
                                           "side": "customer", "tenant": A}),
                    ("POST", "/v1/users/%s/tokens" % u, {}),
                    ("POST", "/v1/role-assignments", {"user": u, "role": "customer_user", "tenant": A}),
                    ("POST", "/v1/users/%s/disable" % u, None),
                    ("POST", "/v1/tenants/%s/invitations" % A, {"login": "cy", "name": "C",
                                                                 "email": "c@a.test"})):
                T.status(w.call(method, path, body), 403, "forbidden", "provider admin %s %s" % (method, path))
            none("the refused calls")

        with T.section("provider-side users, roles, tokens (provider admin): level provider"):
            p = w.must("POST", "/v1/users", {"login": "pdir", "name": "P", "email": "p@p.test",
                                             "side": "provider"}, expect=201)["id"]
            one("provider user create", "directory.user.create", "provider", None, "admin", ("user", p),
                who_reads=("admin",), who_not=("gadmA", "gadmB"))
            ra = w.must("POST", "/v1/role-assignments", {"user": p, "role": "engineer"}, expect=201)
            one("provider role assign", "directory.role.assign", "provider", None, "admin",
                ("role_assignment", ra["id"]), who_not=("gadmA",))
            tok = w.must("POST", "/v1/users/%s/tokens" % p, {}, expect=201)
            secrets.append(tok["token"])
            one("provider token create", "directory.token.create", "provider", None, "admin",
                ("token", tok["id"]), who_not=("gadmA",))
            w.must("POST", "/v1/users/%s/disable" % p, expect=200)
            one("provider user disable", "directory.user.disable", "provider", None, "admin", ("user", p))
            w.must("POST", "/v1/users/%s/enable" % p, expect=200)
            one("provider user enable", "directory.user.enable", "provider", None, "admin", ("user", p))
            w.must("DELETE", "/v1/role-assignments", {"user": p, "role": "engineer"}, expect=200)
            one("provider role unassign", "directory.role.unassign", "provider", None, "admin",
                ("role_assignment", ra["id"]))

        with T.section("a tenant's global admin reads its tenant's events and nobody else's"):
            for who, tenant in (("gadmA", A), ("gadmB", B)):
                items, _ = paginate(gw, "/v1/audit/events", w.tok[who])
                T.check(items and all(e["tenant"] == tenant for e in items),
                        "%s: only its tenant's events (%d)" % (who, len(items)),
                        {e["tenant"] for e in items})
                T.check(all(e["level"] != "provider" for e in items), "%s: no provider-level event" % who)
                types = {e["type"] for e in items}
                for typ in ("directory.tenant.create", "directory.invitation.create",
                            "directory.invitation.redeem", "directory.user.create",
                            "directory.role.assign", "directory.token.create"):
                    T.check(typ in types, "%s reads its tenant's %s" % (who, typ))
                st, js, _ = w.call("GET", "/v1/audit/events?level=provider", who=who)
                T.check(st == 200 and js["items"] == [], "%s asking for level=provider: nothing" % who)
            every, _ = paginate(gw, "/v1/audit/events", w.admin)
            blob = json.dumps(every)
            T.check(not any(s in blob for s in secrets), "no token secret in any event")
            T.check(all(e.get("actor_login") for e in every if (e.get("actor") or "").startswith("usr_")),
                    "every event of a user has actor_login")
            T.check(w.must("GET", "/v1/audit/verify").get("ok") is True, "the chain verifies")


if __name__ == "__main__":
    main()
    T.done()
