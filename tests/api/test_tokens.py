#!/usr/bin/python3
"""The token lifecycle (DESIGN.md "Identities, credentials and MFA"): GET /v1/users/{id}/tokens
and DELETE /v1/tokens/{id} for every role of the fixture (provider admins for provider-side
users, a tenant's global admins for its own users, the user for their own tokens; 403/404
otherwise), no secret in any answer but the create one, a revoked or expired token is 401 like
an unknown one, expires_at = created_at + token_ttl, last_used_at, and exactly one
directory.token.* event per change with the right level and actor."""
import time

import lbtest
from lbtest import Gateway, world

T = lbtest.Runner("tokens")

ROLES = ("admin", "eng", "iapp", "gadmA", "gadmB", "lbappA", "ownA1", "custA", "nobody", "hA1")


def events(w, typ, who="admin"):
    return w.must("GET", "/v1/audit/events?type=%s&limit=200" % typ, who=who)["items"]


def of_token(evs, tid):
    return [e for e in evs if e.get("details", {}).get("token") == tid]


def ms(ts):
    return lbtest.parse_time(ts)


def manager(target):
    """Who issues TARGET's tokens: the provider admin for provider-side users, A's global admin
    for A's users."""
    return "gadmA" if target == "custA" else "admin"


def no_secret(T, obj, what):
    T.check("lbu_" not in repr(obj), "%s: no secret" % what, obj)
    for it in obj.get("items", [obj]):
        T.check("token" not in it and "hash" not in it, "%s: no token/hash field" % what, it)


def main():
    with Gateway() as gw:
        gw.start()
        w = world(gw, gw.bootstrap())

        with T.section("the token object"):
            t = w.must("POST", "/v1/users/%s/tokens" % w.user["custA"], {}, who="gadmA",
                       expect=201)
            for k in ("id", "user", "created_at", "expires_at", "revoked_at", "last_used_at",
                      "token"):
                T.check(k in t, "create answers %s" % k, t)
            T.eq(t.get("revoked_at"), None, "not revoked")
            T.eq(ms(t["expires_at"]) - ms(t["created_at"]), 90 * 86400,
                 "expires_at = created_at + 90d (the default token_ttl)", t)
            evs = of_token(events(w, "directory.token.create"), t["id"])
            T.eq(len(evs), 1, "one directory.token.create event", evs)
            if evs:
                T.eq(evs[0]["level"], "tenant", "custA is customer-side: level tenant")
                T.eq(evs[0]["tenant"], w.tenant["A"], "... of tenant A")
                T.eq(evs[0]["actor"], w.user["gadmA"], "actor: the caller (A's global admin)")
                T.eq(evs[0]["details"].get("user"), w.user["custA"], "details name the user")
                T.check(t["token"] not in repr(evs[0]), "the event has no secret")
            seen = of_token(events(w, "directory.token.create", who="gadmA"), t["id"])
            T.eq(len(seen), 1, "A's global admin reads it")
            seen = of_token(events(w, "directory.token.create", who="gadmB"), t["id"])
            T.eq(len(seen), 0, "B's global admin does not")
            st, _, _ = w.call("GET", "/v1/tickets", who=t["token"])
            T.eq(st, 200, "the new token works")
            lst = w.must("GET", "/v1/users/%s/tokens" % w.user["custA"], who="gadmA")
            no_secret(T, lst, "list")
            mine = [x for x in lst["items"] if x["id"] == t["id"]]
            T.eq(len(mine), 1, "the list has the token", lst)
            if mine:
                T.check(mine[0].get("last_used_at") is not None, "last_used_at set on use",
                        mine[0])
                T.eq(mine[0]["expires_at"], t["expires_at"], "same expires_at")
                T.eq(mine[0]["user"], w.user["custA"], "user")
                first = mine[0]["last_used_at"]
                for _ in range(3):
                    w.must("GET", "/v1/tickets", who=t["token"])
                again = [x for x in w.must("GET", "/v1/users/%s/tokens" % w.user["custA"],
                                           who="gadmA")["items"] if x["id"] == t["id"]][0]
                T.eq(again["last_used_at"], first, "last_used_at not rewritten within a minute")
            eng_t = w.must("POST", "/v1/users/%s/tokens" % w.user["eng"], {}, expect=201)
            evs = of_token(events(w, "directory.token.create"), eng_t["id"])
            T.eq(len(evs), 1, "one event for eng's new token")
            if evs:
                T.eq(evs[0]["level"], "provider", "a provider-side user: level provider")

        with T.section("who may list whose tokens"):
            cases = (
                ("custA", {"admin": 403, "gadmA": 200, "gadmB": 404}),
                ("eng", {"admin": 200, "gadmA": 403, "gadmB": 403}),
            )
            for target, special in cases:
                for who in ROLES:
                    want = special.get(who, 403)
                    st, js, _ = w.call("GET", "/v1/users/%s/tokens" % w.user[target], who=who)
                    T.eq(st, want, "list %s's tokens as %s -> %d" % (target, who, want), js)
                    if st == 200:
                        no_secret(T, js, "list as %s" % who)
            st, _, _ = lbtest.api(gw, "GET", "/v1/users/%s/tokens" % w.user["eng"])
            T.eq(st, 401, "without a token -> 401")
            st, js, _ = w.call("GET", "/v1/users/usr_0000000000000000/tokens")
            T.eq(st, 404, "unknown user -> 404", js)

        with T.section("who may revoke whose token"):
            # a fresh token each time: everyone refused must leave it working
            for target, special in (("custA", {"admin": 403, "gadmB": 404}),
                                    ("eng", {"gadmA": 403, "gadmB": 403})):
                for who in ROLES:
                    if who in ("admin",) and target == "eng" or who == "gadmA" and target == "custA":
                        continue  # the managers: below
                    if who == target:
                        continue
                    tok = w.must("POST", "/v1/users/%s/tokens" % w.user[target], {},
                                 who=manager(target), expect=201)
                    want = special.get(who, 403)
                    st, js, _ = w.call("DELETE", "/v1/tokens/%s" % tok["id"], who=who)
                    T.eq(st, want, "revoke %s's token as %s -> %d" % (target, who, want), js)
                    st, _, _ = w.call("GET", "/v1/tickets", who=tok["token"])
                    T.eq(st, 200, "... and the token still works")
            st, js, _ = w.call("DELETE", "/v1/tokens/tok_0000000000000000")
            T.eq(st, 404, "unknown token -> 404", js)
            st, _, _ = lbtest.api(gw, "DELETE", "/v1/tokens/tok_0000000000000000")
            T.eq(st, 401, "without a token -> 401")

            for target, who, level in (("custA", "gadmA", "tenant"), ("eng", "admin", "provider"),
                                       ("custA", "custA", "tenant"), ("eng", "eng", "provider")):
                tok = w.must("POST", "/v1/users/%s/tokens" % w.user[target], {},
                             who=manager(target), expect=201)
                w.must("GET", "/v1/tickets" if target == "custA" else "/v1/requests",
                       who=tok["token"])
                st, js, _ = w.call("DELETE", "/v1/tokens/%s" % tok["id"], who=who)
                T.eq(st, 200, "%s revokes %s's token" % (who, target), js)
                T.check(js.get("revoked_at") is not None, "the answer is the revoked token", js)
                T.eq(js.get("id"), tok["id"], "... that token")
                no_secret(T, js, "revoke answer")
                st, _, _ = w.call("GET", "/v1/tickets", who=tok["token"])
                T.eq(st, 401, "the revoked token is 401 at once")
                st, js2, _ = w.call("DELETE", "/v1/tokens/%s" % tok["id"], who=who)
                T.eq(st, 200, "revoking twice is harmless", js2)
                T.eq(js2.get("revoked_at"), js.get("revoked_at"), "... revoked_at unchanged")
                evs = of_token(events(w, "directory.token.revoke"), tok["id"])
                T.eq(len(evs), 1, "exactly one directory.token.revoke event", evs)
                if evs:
                    T.eq(evs[0]["level"], level, "level %s" % level)
                    T.eq(evs[0]["actor"], w.user[who], "actor: %s" % who)
                    T.eq(evs[0]["details"].get("user"), w.user[target], "details: the user")
                    T.check(tok["token"] not in repr(evs[0]), "no secret in the event")
                    if level == "tenant":
                        T.eq(evs[0]["tenant"], w.tenant["A"], "tenant A")
                lst = w.must("GET", "/v1/users/%s/tokens" % w.user[target],
                             who="gadmA" if target == "custA" else "admin")
                mine = [x for x in lst["items"] if x["id"] == tok["id"]]
                T.check(mine and mine[0].get("revoked_at"), "the list shows it revoked", lst)
            st, _, _ = w.call("GET", "/v1/tickets", who="custA")
            T.eq(st, 200, "custA's other token still works")

    with T.section("token_ttl"):
        for bad, good in (("0s", False), ("367d", False), ("1s", True), ("366d", True)):
            g = Gateway(conf_extra="token_ttl = %s" % bad)
            r = g.run("-c", g.conf, "--check-config")
            T.eq(r.returncode == 0, good, "token_ttl = %s is %s" % (bad, "accepted" if good else
                                                                   "refused"), r.stderr)
            if not good:
                T.check("token_ttl" in r.stderr, "... naming token_ttl", r.stderr)
            g.close()
        with Gateway(conf_extra="token_ttl = 2s") as gw:
            gw.start()
            admin = gw.bootstrap()
            st, js, _ = lbtest.api(gw, "GET", "/v1/tenants", token=admin)
            T.eq(st, 200, "the bootstrap token works at first")
            w = lbtest.World(gw, admin)
            uid = w.must("POST", "/v1/users", {"login": "alice", "name": "A", "email":
                                               "a@example.test", "side": "provider"})["id"]
            t = w.must("POST", "/v1/users/%s/tokens" % uid, {}, expect=201)
            T.eq(ms(t["expires_at"]) - ms(t["created_at"]), 2, "expires_at = created_at + 2s", t)
            st, _, _ = w.call("GET", "/v1/elevations", who=t["token"])
            T.check(st != 401, "alice's token works before it expires (%d)" % st)
            time.sleep(2.5)
            st, js, _ = w.call("GET", "/v1/elevations", who=t["token"])
            T.eq(st, 401, "an expired token is 401", js)
            T.eq(lbtest.err_code(js), "unauthenticated", "... unauthenticated like an unknown one")
            st, _, _ = lbtest.api(gw, "GET", "/v1/tenants", token=admin)
            T.eq(st, 401, "the bootstrap token expires too")


if __name__ == "__main__":
    main()
    T.done()
