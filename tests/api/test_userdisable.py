#!/usr/bin/python3
"""POST /v1/users/{id}/disable and /enable: who may (provider admins for provider-side users, a
tenant's global admins for its own users, nobody else), what a disabled user loses at once
(tokens, logins: user_disabled), the role rule of the check (not_engineer), the directory
events, and the change signal that tells the hosts' agents to end live sessions."""
import json
import threading
import time

import lbtest
from lbtest import Gateway, world

T = lbtest.Runner("userdisable")


def events(w, typ, who="admin", **q):
    qs = "&".join(["type=" + typ] + ["%s=%s" % kv for kv in q.items()])
    return w.must("GET", "/v1/audit/events?" + qs + "&limit=200", who=who)["items"]


def grant(w):
    w.elevate("eng")
    req = w.new_request("eng")
    w.must("POST", "/v1/requests/%s/approve" % req["id"], {"reason": "ok"}, who="ownA1")
    return req["id"]


def main():
    with Gateway() as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        rid = grant(w)
        T.eq(w.check("hA1", "eng")["decision"], "allow", "granted engineer is allowed")

        with T.section("who may disable whom"):
            # customer-side user of tenant A: only A's global admin
            for who, want in (("admin", 403), ("gadmB", 404), ("lbappA", 403), ("ownA1", 403),
                              ("custA", 403), ("eng", 403), ("iapp", 403), ("nobody", 403)):
                st, js, _ = w.call("POST", "/v1/users/%s/disable" % w.user["custA"], who=who)
                T.eq(st, want, "disable customer user custA as %s -> %d" % (who, want), js)
            # provider-side user: only provider admins
            for who in ("gadmA", "gadmB", "lbappA", "eng2", "iapp", "custA", "nobody"):
                st, js, _ = w.call("POST", "/v1/users/%s/disable" % w.user["eng"], who=who)
                T.eq(st, 403, "disable provider user eng as %s -> 403" % who, js)
            for path in ("disable", "enable"):
                st, _, _ = lbtest.api(gw, "POST", "/v1/users/%s/%s" % (w.user["eng"], path))
                T.eq(st, 401, "%s without a token -> 401" % path)
                st, _, _ = w.call("POST", "/v1/users/%s/%s" % (w.user["eng"], path), who="hA1")
                T.eq(st, 403, "%s with a host token -> 403" % path)
                st, js, _ = w.call("POST", "/v1/users/usr_0000000000000000/%s" % path)
                T.eq(st, 404, "%s of an unknown user -> 404" % path, js)
                st, _, _ = w.call("GET", "/v1/users/%s/%s" % (w.user["eng"], path))
                T.eq(st, 405, "GET %s -> 405" % path)
            st, js, _ = w.call("POST", "/v1/users/%s/disable" % w.user["admin"])
            T.eq(st, 422, "an admin cannot disable themself", js)
            T.eq(lbtest.err_code(js), "rule_violated", "... rule_violated")
            st, js, _ = w.call("POST", "/v1/users/%s/disable" % w.user["custA"], who="gadmA")
            T.eq(st, 200, "A's global admin disables custA", js)
            T.eq(js.get("disabled"), True, "the answer shows disabled")
            st, _, _ = w.call("GET", "/v1/tickets", who="custA")
            T.eq(st, 401, "custA's token stops at once")
            st, js, _ = w.call("POST", "/v1/users/%s/enable" % w.user["custA"], who="gadmA")
            T.eq(st, 200, "A's global admin enables custA again", js)
            st, _, _ = w.call("GET", "/v1/tickets", who="custA")
            T.eq(st, 200, "custA's token works again")

        with T.section("the change signal wakes the agents"):
            v = w.must("GET", "/v1/hosts/self/changes", who="hA1")["version"]
            out = {}

            def poll():
                t0 = time.monotonic()
                out["js"] = w.must("GET", "/v1/hosts/self/changes?since=%d&wait=20" % v,
                                   who="hA1", timeout=30)
                out["dt"] = time.monotonic() - t0
            th = threading.Thread(target=poll)
            th.start()
            time.sleep(0.5)
            t0 = time.monotonic()
            st, js, _ = w.call("POST", "/v1/users/%s/disable" % w.user["eng"])
            T.eq(st, 200, "the provider admin disables eng", js)
            th.join(25)
            T.check(out.get("js", {}).get("changed") is True, "the poll answered changed",
                    out)
            T.check(out.get("dt", 99) - 0.5 < 2.0, "within 2 s of the disable (%.2f s)" %
                    (out.get("dt", 99) - 0.5))
            T.check(time.monotonic() - t0 < 5, "bounded")

        with T.section("a disabled engineer is denied"):
            ans = w.check("hA1", "eng")
            T.eq(ans["decision"], "deny", "deny")
            T.eq(ans["reason"], "user_disabled", "reason user_disabled")
            T.eq(ans["request"], rid, "names the request")
            st, _, _ = w.call("GET", "/v1/requests", who="eng")
            T.eq(st, 401, "eng's token stops at once")
            st, js, _ = w.call("POST", "/v1/users/%s/disable" % w.user["eng"])
            T.eq(st, 200, "disabling twice is harmless")
            evs = events(w, "directory.user.disable")
            mine = [e for e in evs if e["details"].get("user") == w.user["eng"]]
            T.eq(len(mine), 1, "exactly one directory.user.disable event for eng", evs)
            if mine:
                T.eq(mine[0]["actor"], w.user["admin"], "actor: the admin")
                T.eq(mine[0]["level"], "provider", "a provider-side user: level provider")
                T.eq(mine[0]["details"].get("login"), "eng", "details name the login")
            w.must("POST", "/v1/users/%s/enable" % w.user["eng"])
            T.eq(w.check("hA1", "eng")["decision"], "allow", "enabled again: allowed again")
            cust = [e for e in events(w, "directory.user.disable")
                    if e["details"].get("user") == w.user["custA"]]
            T.eq(len(cust), 1, "one event for custA's disable")
            if cust:
                T.eq(cust[0]["level"], "tenant", "a customer-side user: a tenant-level event")
                T.eq(cust[0]["tenant"], w.tenant["A"], "of tenant A")
                T.eq(cust[0]["actor"], w.user["gadmA"], "actor: A's global admin")
            seen = [e for e in events(w, "directory.user.disable", who="gadmA")
                    if e["details"].get("user") == w.user["custA"]]
            T.eq(len(seen), 1, "A's global admin reads it")
            seen = [e for e in events(w, "directory.user.disable", who="gadmB")
                    if e["details"].get("user") == w.user["custA"]]
            T.eq(len(seen), 0, "B's global admin does not")

        with T.section("directory events: tenants, subscriptions, users, roles"):
            def one(typ, key, val, who="admin"):
                return [e for e in events(w, typ, who=who) if e["details"].get(key) == val]
            for t in ("A", "B"):
                evs = one("directory.tenant.create", "tenant", w.tenant[t])
                T.eq(len(evs), 1, "one directory.tenant.create for tenant %s" % t)
                if evs:
                    T.eq(evs[0]["level"], "tenant", "a tenant-level event")
                    T.eq(evs[0]["actor"], w.user["admin"], "actor: the provider admin")
            evs = one("directory.subscription.create", "subscription", w.sub["A1"])
            T.eq(len(evs), 1, "one directory.subscription.create for A1")
            if evs:
                T.eq(evs[0]["tenant"], w.tenant["A"], "of tenant A")
            evs = one("directory.user.create", "user", w.user["custA"])
            T.eq(len(evs), 1, "one directory.user.create for custA")
            if evs:
                T.eq((evs[0]["level"], evs[0]["tenant"]), ("tenant", w.tenant["A"]),
                     "a customer user: an event of its tenant")
                T.check("token" not in json.dumps(evs[0]["details"]), "no secret in it")
            evs = one("directory.user.create", "user", w.user["eng"])
            T.eq([e["level"] for e in evs], ["provider"], "a provider-side user: provider level")
            evs = [e for e in events(w, "directory.role.assign")
                   if e["details"].get("user") == w.user["ownA1"]]
            T.eq(len(evs), 1, "one directory.role.assign for ownA1")
            if evs:
                T.eq((evs[0]["details"].get("role"), evs[0]["details"].get("subscription"),
                      evs[0]["tenant"]), ("owner", w.sub["A1"], w.tenant["A"]),
                     "names the role, its subscription, in tenant A")
            seen = [e for e in events(w, "directory.user.create", who="gadmB")
                    if e["details"].get("user") == w.user["custA"]]
            T.eq(seen, [], "B's global admin does not read A's directory")
            seen = [e for e in events(w, "directory.user.create", who="gadmA")
                    if e["details"].get("user") == w.user["custA"]]
            T.eq(len(seen), 1, "A's global admin reads A's directory")

        with T.section("an engineer without the role is denied"):
            w.must("DELETE", "/v1/role-assignments", {"user": w.user["eng"], "role": "engineer"})
            evs = [e for e in events(w, "directory.role.unassign")
                   if e["details"].get("user") == w.user["eng"]]
            T.eq(len(evs), 1, "one directory.role.unassign, at provider level")
            if evs:
                T.eq((evs[0]["level"], evs[0]["details"].get("role")), ("provider", "engineer"),
                     "provider level, role engineer")
            ans = w.check("hA1", "eng")
            T.eq(ans["decision"], "deny", "deny")
            T.eq(ans["reason"], "not_engineer", "reason not_engineer")
            w.must("POST", "/v1/role-assignments", {"user": w.user["eng"], "role": "engineer"})
            T.eq(w.check("hA1", "eng")["decision"], "allow", "the role back: allowed again")


if __name__ == "__main__":
    main()
    T.done()
