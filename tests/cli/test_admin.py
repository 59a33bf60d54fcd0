"""lockboxctl provider-admin and global-admin commands against the real gateway: tenant,
subscription, tenant invite / invitation list / invitation redeem, user, token, role, host
enroll/list/disable/enable, tenant lockbox enable/disable, audit list's actor logins; --json
output compared with the API, human tables, pagination, refusals (exit 1): the provider admin
never creates or changes a customer-side user, token or role."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lbtest                      # noqa: E402
from lbtest import api, paginate   # noqa: E402
from ctltest import Ctl            # noqa: E402

T = lbtest.Runner("cli/admin")


def ok(r, what):
    return T.check(r.rc == 0, what, r)


def refused(r, code, what):
    return T.check(r.rc == 1 and code in r.err, "%s: exit 1 naming %s" % (what, code), r)


def main():
    gw = lbtest.Gateway()
    gw.start()
    admin = gw.bootstrap()
    c = Ctl(gw)

    with T.section("tenant"):
        r = c.run("tenant", "create", "acme", token=admin, json_out=True)
        ok(r, "tenant create --json")
        t = r.json()
        T.check(lbtest.is_id(t.get("id"), "tnt") and t.get("name") == "acme" and
                t.get("lockbox_enabled") is True, "tenant create prints the API object", t)
        st, js, _ = api(gw, "GET", "/v1/tenants/" + t["id"], token=admin)
        T.eq(js, t, "--json object equals GET /v1/tenants/{id}")
        r = c.run("tenant", "show", t["id"], token=admin, json_out=True)
        T.check(r.rc == 0 and r.json() == js, "tenant show --json equals the API", r)
        r = c.run("tenant", "show", t["id"], token=admin)
        T.check(r.rc == 0 and "name:" in r.out and "acme" in r.out and t["id"] in r.out,
                "tenant show: key: value lines", r)
        r = c.run("tenant", "create", "globex", token=admin)
        T.check(r.rc == 0 and "globex" in r.out, "tenant create (table output)", r)
        r = c.run("tenant", "list", token=admin)
        rows = r.table()
        T.check(r.rc == 0 and rows and rows[0][:3] == ["ID", "NAME", "LOCKBOX"],
                "tenant list: a table with a header", r)
        T.check(any(row[:3] == [t["id"], "acme", "yes"] for row in rows[1:]),
                "tenant list: the tenant's row", rows)
        r = c.run("tenant", "list", token=admin, json_out=True)
        items, _ = paginate(gw, "/v1/tenants", admin)
        T.check(r.rc == 0 and r.json() == items, "tenant list --json equals the API items", r)
        r = c.run("-q", "tenant", "create", "initech", token=admin)
        T.check(r.rc == 0 and lbtest.is_id(r.out.strip(), "tnt") and r.out.count("\n") == 1,
                "-q tenant create prints only the id", r)
        r = c.run("tenant", "list", "--quiet", token=admin)
        ids = [x["id"] for x in paginate(gw, "/v1/tenants", admin)[0]]
        T.check(r.rc == 0 and r.out.split() == ids, "tenant list --quiet prints the ids", r)
        r = c.run("tenant", "show", "tnt_0000000000000000", token=admin)
        refused(r, "not_found", "tenant show of an unknown id")
        # names where ids are asked: what the tables print is what one types back
        r = c.run("tenant", "show", "acme", token=admin, json_out=True)
        T.check(r.rc == 0 and r.json() == js, "tenant show by name equals the id's object", r)
        r = c.run("tenant", "show", "no-such-tenant", token=admin)
        T.check(r.rc == 1 and "no tenant with name 'no-such-tenant'" in r.err,
                "tenant show of an unknown name: exit 1, says so", r)
        r = c.run("tenant", "create", "bad\u0001name", token=admin)
        refused(r, "bad_text", "tenant create with a control character")

    with T.section("pagination"):
        for i in range(7):
            api(gw, "POST", "/v1/tenants", {"name": "page-%d" % i}, token=admin)
        items, _ = paginate(gw, "/v1/tenants", admin)
        r = c.run("tenant", "list", "--limit", "3", token=admin, json_out=True)
        T.check(r.rc == 0 and r.json() == items[:3], "--limit 3: the first page", r)
        T.check("--cursor" in r.err, "--limit 3: the next cursor is hinted on stderr", r)
        cur = r.err.split("--cursor", 1)[1].split()[0].strip(",") if "--cursor" in r.err else ""
        r = c.run("tenant", "list", "--limit", "3", "--cursor", cur, token=admin, json_out=True)
        T.check(r.rc == 0 and r.json() == items[3:6], "--cursor: the second page", r)
        r = c.run("tenant", "list", "--limit", "3", "--all", token=admin, json_out=True)
        T.check(r.rc == 0 and r.json() == items and "--cursor" not in r.err,
                "--all --limit 3: every page, in order", r)
        r = c.run("tenant", "list", "--limit", "0", token=admin)
        T.check(r.rc == 1, "--limit 0: the gateway refuses, exit 1", r)

    with T.section("subscription"):
        r = c.run("subscription", "create", "--tenant", t["id"], "prod", token=admin,
                  json_out=True)
        ok(r, "subscription create --json")
        s = r.json()
        T.check(lbtest.is_id(s.get("id"), "sub") and s.get("tenant") == t["id"],
                "subscription names its tenant", s)
        r = c.run("subscription", "create", "--tenant", "acme", "staging", token=admin,
                  json_out=True)
        T.check(r.rc == 0 and r.json().get("tenant") == t["id"],
                "subscription create --tenant by the tenant's name", r)
        r = c.run("subscription", "list", "--tenant", t["id"], token=admin, json_out=True)
        items, _ = paginate(gw, "/v1/subscriptions?tenant=" + t["id"], admin)
        T.check(r.rc == 0 and r.json() == items and len(items) == 2,
                "subscription list --tenant --json equals the API", r)
        r = c.run("subscription", "list", token=admin)
        T.check(r.rc == 0 and "prod" in r.out and "staging" in r.out, "subscription list", r)
        r = c.run("subscription", "create", "--tenant", "tnt_0000000000000000", "x", token=admin)
        T.check(r.rc == 1, "subscription of an unknown tenant: exit 1", r)

    with T.section("user, token, role"):
        r = c.run("user", "create", "--login", "alice", "--name", "Alice Engineer", "--email",
                  "alice@provider.test", "--side", "provider", token=admin, json_out=True)
        ok(r, "user create (provider)")
        alice = r.json()
        T.check(lbtest.is_id(alice.get("id"), "usr") and alice.get("login") == "alice",
                "user create prints the user", alice)
        r = c.run("user", "create", "--login", "bob", "--name", "Bob", "--email",
                  "bob@acme.test", "--side", "customer", "--tenant", t["id"], token=admin)
        refused(r, "forbidden", "the provider admin creating a customer user")

    with T.section("tenant invite, invitation list, invitation redeem"):
        r = c.run("tenant", "invite", t["id"], "--login", "bob", "--name", "Bob", "--email",
                  "bob@acme.test", token=admin, json_out=True)
        ok(r, "tenant invite (the provider admin: the tenant has no global admin yet)")
        inv = r.json()
        T.check(lbtest.is_id(inv.get("id"), "inv") and inv.get("login") == "bob" and
                inv.get("tenant") == t["id"] and inv.get("redeemed_at") is None,
                "tenant invite prints the invitation", inv)
        T.check("lbi_" not in r.out + r.err and "code" not in inv, "... never its code", r)
        r = c.run("tenant", "invite", t["id"], "--login", "x", "--name", "X", token=admin)
        T.check(r.rc == 2 and "--email" in r.err, "tenant invite without --email: usage", r)
        r = c.run("invitation", "list", t["id"], token=admin, json_out=True)
        items, _ = paginate(gw, "/v1/tenants/%s/invitations" % t["id"], admin)
        T.check(r.rc == 0 and r.json() == items and len(items) == 1,
                "invitation list --json equals the API", r)
        code = lbtest.invitation_code(gw.mail.messages, "bob@acme.test", inv["id"])
        r = c.run("invitation", "redeem", "-", input=code + "\n")
        btok = r.out.strip()
        T.check(r.rc == 0 and btok.startswith("lbu_") and "\n" not in btok,
                "invitation redeem - (no token): the new token alone on stdout", r)
        T.check("only once" in r.err and "bob" in r.err, "... a note on stderr", r)
        r = c.run("invitation", "redeem", code)
        refused(r, "invitation_invalid", "redeeming the code a second time")
        r = c.run("invitation", "list", t["id"], token=btok)
        T.check(r.rc == 0 and any(row[1:2] == ["bob"] for row in r.table()),
                "the new global admin lists the tenant's invitations", r)
        st, js, _ = api(gw, "GET", "/v1/tenants/%s/invitations" % t["id"], token=admin)
        T.check(st == 200 and js["items"][0].get("redeemed_at") and
                lbtest.is_id(js["items"][0].get("user"), "usr"), "the invitation shows redeemed", js)
        bob = {"id": js["items"][0]["user"]}
        r = c.run("tenant", "invite", t["id"], "--login", "bob2", "--name", "B", "--email",
                  "b2@acme.test", token=admin)
        refused(r, "forbidden", "the provider admin inviting once the tenant has a global admin")

    with T.section("the tenant's global admin manages its users, tokens and roles"):
        r = c.run("user", "create", "--login", "carol", "--name", "Carol", "--email",
                  "carol@acme.test", "--side", "customer", "--tenant", t["id"], token=btok,
                  json_out=True)
        ok(r, "user create (customer, --tenant) by the global admin")
        carol = r.json()
        T.eq(carol.get("tenant"), t["id"], "customer user names the tenant")
        r = c.run("user", "list", token=btok, json_out=True)
        T.check(r.rc == 0 and sorted(u["login"] for u in r.json()) == ["bob", "carol"],
                "user list as the global admin: the tenant's users only", r)
        r = c.run("token", "create", "carol", token=btok)
        ctok = r.out.strip()
        T.check(r.rc == 0 and ctok.startswith("lbu_"), "token create LOGIN by the global admin", r)
        for args in (("token", "create", "carol"), ("role", "assign", "carol", "customer_user",
                                                      "--tenant", t["id"]),
                     ("user", "disable", "carol"), ("token", "list", "carol")):
            r = c.run(*args, token=admin)
            refused(r, "forbidden", "the provider admin: %s" % " ".join(args[:2]))
        r = c.run("user", "create", "--login", "alice", "--name", "A", "--email", "a@x.test",
                  "--side", "provider", token=admin)
        T.check(r.rc == 1 and "conflict" in r.err, "a login taken: exit 1, conflict", r)
        r = c.run("user", "list", token=admin, json_out=True)
        items, _ = paginate(gw, "/v1/users", admin)
        T.check(r.rc == 0 and r.json() == items[:50], "user list --json equals the API", r)
        r = c.run("user", "list", token=admin)
        T.check(r.rc == 0 and any(row[:2] == [alice["id"], "alice"] for row in r.table()),
                "user list table", r)

        r = c.run("token", "create", "alice", token=admin)
        tok = r.out.strip()
        T.check(r.rc == 0 and tok.startswith("lbu_") and "\n" not in tok,
                "token create LOGIN: the bare token alone on stdout", r)
        T.check("only once" in r.err, "token create: the note goes to stderr", r)
        st, js, _ = api(gw, "GET", "/v1/elevations", token=tok)
        T.eq(st, 403, "the new token authenticates (no role yet: 403)")
        r = c.run("token", "create", alice["id"], "--mfa", token=admin, json_out=True)
        T.check(r.rc == 0 and r.json().get("token", "").startswith("lbu_") and
                r.json().get("mfa") is True, "token create ID --mfa --json", r)
        r = c.run("token", "create", "nosuchlogin", token=admin)
        T.check(r.rc == 1 and "nosuchlogin" in r.err, "token create for an unknown login: exit 1", r)

        r = c.run("role", "assign", "alice", "engineer", token=admin, json_out=True)
        ok(r, "role assign alice engineer")
        ra = r.json()
        T.check(ra.get("user") == alice["id"] and ra.get("role") == "engineer",
                "role assign prints the assignment", ra)
        st, js, _ = api(gw, "GET", "/v1/elevations", token=tok)
        T.eq(st, 200, "the engineer role takes effect")
        r = c.run("role", "assign", "bob", "owner", "--subscription", s["id"], token=btok)
        ok(r, "role assign bob owner --subscription (by the global admin)")
        r = c.run("role", "assign", "carol", "customer_user", "--tenant", t["id"], token=btok)
        ok(r, "role assign carol customer_user --tenant")
        r = c.run("role", "assign", "bob", "engineer", token=btok)
        T.check(r.rc == 1, "a provider role for a customer user: exit 1", r)
        r = c.run("role", "list", "--user", "bob", token=btok, json_out=True)
        items, _ = paginate(gw, "/v1/role-assignments?user=" + bob["id"], admin)
        roles = sorted(x.get("role") for x in r.json()) if r.rc == 0 else []
        T.check(r.rc == 0 and r.json() == items and roles == ["global_admin", "owner"],
                "role list --user --json equals the API", r)
        r = c.run("role", "remove", "bob", "owner", "--subscription", s["id"], token=admin)
        refused(r, "forbidden", "the provider admin removing a customer role")
        r = c.run("role", "remove", "bob", "owner", "--subscription", s["id"], token=btok)
        T.check(r.rc == 0 and "removed" in r.out, "role remove", r)
        r = c.run("role", "list", "--user", bob["id"], token=btok, json_out=True)
        T.check(r.rc == 0 and [x.get("role") for x in r.json()] == ["global_admin"],
                "role remove took the role away", r)
        r = c.run("role", "remove", "bob", "owner", "--subscription", s["id"], token=btok)
        T.check(r.rc == 1, "removing a role not held: exit 1", r)
        r = c.run("role", "list", token=admin)
        T.check(r.rc == 0 and "global_admin" in r.out, "role list (table)", r)
        rows = r.table()
        T.check(rows and rows[0][:4] == ["ID", "USER", "LOGIN", "ROLE"] and
                any(row[1] == bob["id"] and row[2] == "bob" for row in rows[1:]),
                "role list: each user's login beside the id", rows)
        r = c.run("role", "list", token=btok, json_out=True)
        T.check(r.rc == 0 and r.json() and all(x.get("tenant") == t["id"] for x in r.json()),
                "role list as the global admin: the tenant's assignments only", r)

    with T.section("hosts"):
        r = c.run("host", "enroll", "--subscription", s["id"], "web-01.acme.test", token=admin)
        htok = r.out.strip()
        T.check(r.rc == 0 and htok.startswith("lbh_") and "\n" not in htok,
                "host enroll: the host token alone on stdout", r)
        T.check("hst_" in r.err, "host enroll: the host id in the stderr note", r)
        st, js, _ = api(gw, "POST", "/v1/check", {"user": "nobody", "service": "sshd"},
                        token=htok)
        T.eq(st, 200, "the host token works for /v1/check")
        r = c.run("host", "enroll", "--subscription", s["id"], "db-01.acme.test", token=admin,
                  json_out=True)
        T.check(r.rc == 0 and r.json().get("token", "").startswith("lbh_") and
                r.json().get("tenant") == t["id"], "host enroll --json", r)
        r = c.run("host", "enroll", "--subscription", s["id"], "db-01.acme.test", token=admin)
        T.check(r.rc == 1 and "conflict" in r.err, "a host name taken: exit 1, conflict", r)
        r = c.run("host", "list", "--subscription", s["id"], token=admin, json_out=True)
        items, _ = paginate(gw, "/v1/hosts?subscription=" + s["id"], admin)
        T.check(r.rc == 0 and r.json() == items and len(items) == 2,
                "host list --subscription --json equals the API", r)
        T.check(all("token" not in h for h in items), "host list shows no tokens")
        r = c.run("host", "disable", "web-01.acme.test", token=admin, json_out=True)
        T.check(r.rc == 0 and r.json().get("disabled") is True, "host disable NAME", r)
        st, js, _ = api(gw, "POST", "/v1/check", {"user": "nobody", "service": "sshd"},
                        token=htok)
        T.check(js is None or js.get("decision") != "allow", "a disabled host gets no allow")
        r = c.run("host", "list", token=admin)
        T.check(r.rc == 0 and any("web-01.acme.test" in row and "yes" in row
                                  for row in r.table()), "host list shows it disabled", r)
        r = c.run("host", "disable", "no-such-host", token=admin)
        T.check(r.rc == 1 and "no-such-host" in r.err, "host disable of an unknown name: exit 1", r)
        r = c.run("host", "enable", "web-01.acme.test", token=admin, json_out=True)
        T.check(r.rc == 0 and r.json().get("disabled") is False, "host enable NAME", r)
        st, js, _ = api(gw, "POST", "/v1/check", {"user": "nobody", "service": "sshd"},
                        token=htok)
        T.check(st == 200 and js.get("reason") != "host_disabled",
                "an enabled host is decided again (no host_disabled)", js)
        r = c.run("host", "enable", "web-01.acme.test", token=btok)
        refused(r, "forbidden", "a global admin enabling a host")
        r = c.run("audit", "list", "--type", "host.enable", token=admin, json_out=True)
        T.check(r.rc == 0 and len(r.json()) == 1, "host enable is audited once", r)

    with T.section("tenant lockbox enable/disable (global admin)"):
        r = c.run("tenant", "lockbox", "disable", t["id"], token=btok, json_out=True)
        T.check(r.rc == 0 and r.json().get("lockbox_enabled") is False,
                "global admin disables lockbox", r)
        st, js, _ = api(gw, "GET", "/v1/tenants/" + t["id"], token=admin)
        T.eq(js.get("lockbox_enabled"), False, "the API agrees")
        r = c.run("tenant", "lockbox", "enable", t["id"], token=btok)
        T.check(r.rc == 0 and "lockbox_enabled" in r.out, "global admin enables lockbox", r)
        r = c.run("tenant", "lockbox", "disable", t["id"], token=tok)
        refused(r, "forbidden", "an engineer switching lockbox")
        r = c.run("audit", "list", "--type", "tenant.lockbox.disable", token=admin, json_out=True)
        T.check(r.rc == 0 and len(r.json()) == 1, "the switch is audited", r)

    with T.section("audit list shows who acted by login"):
        r = c.run("audit", "list", "--type", "tenant.lockbox.disable", token=btok)
        rows = r.table() or [[]]
        i = rows[0].index("ACTOR") if "ACTOR" in rows[0] else 0
        T.check(r.rc == 0 and rows[0][i:i + 2] == ["ACTOR", "LOGIN"] and
                any(row[i:i + 2] == [bob["id"], "bob"] for row in rows[1:]),
                "the ACTOR column shows the global admin's id, LOGIN beside it the login", r)
        r = c.run("audit", "list", "--type", "directory.invitation.redeem", token=btok,
                  json_out=True)
        T.check(r.rc == 0 and len(r.json()) == 1 and r.json()[0].get("actor_login") == "bob",
                "--json: each event has actor_login beside actor", r)
        r = c.run("audit", "list", "--type", "directory.user.create", token=btok)
        T.check(r.rc == 0 and any("bob" in row for row in r.table()[1:]),
                "carol's creation by bob, by login", r)

    with T.section("refusals"):
        r = c.run("tenant", "list", token=tok)
        refused(r, "forbidden", "an engineer listing tenants")
        T.check("403" in r.err, "the HTTP status is printed", r)
        for args in (("subscription", "list"), ("user", "list"), ("role", "list"),
                     ("host", "list"), ("tenant", "show", t["id"]),
                     ("subscription", "create", "--tenant", t["id"], "x"),
                     ("host", "enroll", "--subscription", s["id"], "x"),
                     ("host", "disable", "db-01.acme.test"), ("token", "create", "alice"),
                     ("role", "assign", "alice", "provider_admin"),
                     ("audit", "verify")):
            r = c.run(*args, token=tok)
            refused(r, "forbidden", "an engineer: %s" % " ".join(args[:2]))
        r = c.run("tenant", "list", token="lbu_" + "0" * 64)
        refused(r, "unauthenticated", "an unknown token")
        r = c.run("user", "create", "--login", "x", "--name", "x", "--email", "x@x.test",
                  "--side", "provider", token=btok)
        refused(r, "forbidden", "a customer creating users")
    gw.close()
    T.done()


main()
