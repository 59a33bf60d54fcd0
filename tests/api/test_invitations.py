#!/usr/bin/python3
"""Invitations (DESIGN.md "Identities, credentials and MFA"): the provider admin invites a
tenant's first global admin, the one-time code travels by mail through a real SMTP server
(aiosmtpd) and nowhere else (no API answer, no audit event, no gateway log line, no webhook,
the notifications API withholds it, the store keeps only its hash), it is redeemed once, only
before invitation_ttl, and a wrong code learns nothing. After that only the tenant's global
admins invite; a provider admin's pending invitation and one from a global admin who was
since disabled stop working."""
import email
import email.header
import hashlib
import http.server
import json
import os
import re
import threading
import time

import lbtest
from lbtest import Gateway, api, err_code, paginate, wait_until

T = lbtest.Runner("invitations")
try:
    from aiosmtpd.controller import Controller
except ImportError:
    T.skip("python3-aiosmtpd is not installed (contrib/deps.sh installs it)")

SECRET = "webhook-secret-for-tests-0123456789"
CODE_RE = re.compile(r"lbi_[0-9a-f]{64}")


class Sink:
    """The real SMTP server: aiosmtpd on loopback, every message kept with its recipients."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.got = []
        self.ctl = Controller(self, hostname="127.0.0.1", port=port)
        self.ctl.start()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            raw = envelope.original_content or envelope.content
            for rcpt in envelope.rcpt_tos:
                m = email.message_from_bytes(raw)
                m["X-Envelope-To"] = rcpt
                self.got.append(m)
        return "250 OK"

    def messages(self):
        with self.lock:
            return list(self.got)

    def stop(self):
        self.ctl.stop()


class Hooks(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        Hooks.got.append(self.rfile.read(n).decode("utf-8", "replace"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def body_of(m):
    return m.get_payload(decode=True).decode("utf-8", "replace")


def mails_to(sink, addr):
    return [m for m in sink.messages() if m["X-Envelope-To"] == addr and
            m["X-Lockbox-Event"] == "invitation.create"]


def events(gw, tok, typ):
    items, _ = paginate(gw, "/v1/audit/events?type=" + typ, tok)
    return items


def of_inv(evs, iid):
    return [e for e in evs if e.get("details", {}).get("invitation") == iid]


def main():
    smtp_port, hook_port = lbtest.free_port(), lbtest.free_port()
    hooksrv = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Hooks)
    threading.Thread(target=hooksrv.serve_forever, daemon=True).start()
    sink = Sink(smtp_port)
    conf = "\n".join(["smtp_url = smtp://127.0.0.1:%d" % smtp_port,
                      "smtp_from = lockbox@gateway.example.test",
                      "webhook_url = http://127.0.0.1:%d/hook" % hook_port,
                      "webhook_secret = " + SECRET,
                      "console_url = https://console.example.test/",
                      "notify_interval = 1s", "notify_backoff = 1s"])
    codes = []          # every code seen in a mail: none may show up anywhere else
    answers = []        # every API answer body the test saw
    try:
        with Gateway(conf_extra=conf) as gw:
            gw.start()
            admin = gw.bootstrap()
            w = lbtest.World(gw, admin, mail=sink.messages)

            def call(method, path, body=None, tok=admin):
                r = api(gw, method, path, body=body, token=tok)
                answers.append(r[2])
                return r

            t = call("POST", "/v1/tenants", {"name": "acme"})[1]["id"]
            t2 = call("POST", "/v1/tenants", {"name": "globex"})[1]["id"]
            w.add_user("eng", "provider", role="engineer")
            admin_id = [u["id"] for u in paginate(gw, "/v1/users", admin)[0]
                        if u["login"] == "admin"][0]

            with T.section("the provider admin invites the first global admin"):
                st, inv, text = call("POST", "/v1/tenants/%s/invitations" % t,
                                     {"login": "ga1", "name": "Gina One", "email": "ga1@acme.test"})
                T.eq(st, 201, "POST /v1/tenants/{id}/invitations -> 201", text)
                for k in ("id", "tenant", "login", "name", "email", "created_at", "expires_at",
                          "redeemed_at"):
                    T.check(k in inv, "the invitation has %s" % k, inv)
                T.check(lbtest.is_id(inv["id"], "inv"), "id is inv_ + 16 hex", inv["id"])
                T.eq((inv["tenant"], inv["login"], inv["redeemed_at"]), (t, "ga1", None),
                     "tenant, login, not redeemed")
                T.check("code" not in inv and "code_hash" not in inv and not CODE_RE.search(text),
                        "no code (nor its hash) in the answer", inv)
                T.eq(lbtest.parse_time(inv["expires_at"]) - lbtest.parse_time(inv["created_at"]),
                     72 * 3600, "expires_at = created_at + 72h (the default invitation_ttl)")
                evs = of_inv(events(gw, admin, "directory.invitation.create"), inv["id"])
                T.eq(len(evs), 1, "one directory.invitation.create event", evs)
                if evs:
                    T.eq((evs[0]["level"], evs[0]["tenant"], evs[0]["actor"]),
                         ("tenant", t, admin_id),
                         "tenant level, of the tenant, the provider admin as actor")
                    T.eq(evs[0].get("actor_login"), "admin", "actor_login: admin")
                    T.eq(evs[0]["details"].get("login"), "ga1", "details name the invitee")

            with T.section("the code arrives by mail, to the invitee only"):
                ok = wait_until(lambda: mails_to(sink, "ga1@acme.test"), timeout=15)
                T.check(ok, "the invitation mail arrives through the SMTP server")
                m = mails_to(sink, "ga1@acme.test")[0]
                body = body_of(m)
                found = CODE_RE.findall(body)
                T.check(len(set(found)) == 1, "the mail carries one code", body)
                code = found[0] if found else "lbi_" + "0" * 64
                codes.append(code)
                T.check("lockboxctl invitation redeem " + code in body,
                        "the mail gives the redeem command with the code", body)
                T.check(inv["expires_at"] in body and "acme" in body and inv["id"] in body,
                        "the mail says the tenant, the invitation and until when")
                T.check("invitation" in email.header.make_header(
                    email.header.decode_header(m["Subject"])).__str__().lower(),
                    "the subject says it is an invitation", m["Subject"])
                T.eq(len([x for x in sink.messages() if code in body_of(x)]), 1,
                     "exactly one mail holds the code")
                time.sleep(1.5)
                T.check(all(code not in h and "invitation" not in h for h in Hooks.got),
                        "no webhook carries the invitation", Hooks.got[:2])

            with T.section("the code is nowhere else: outbox, store"):
                items, _ = paginate(gw, "/v1/notifications", admin)
                inv_rows = [n for n in items if n.get("event") == "invitation.create"]
                T.eq(len(inv_rows), 1, "the outbox has the invitation mail", items)
                T.check(all(code not in json.dumps(n) for n in items),
                        "GET /v1/notifications never shows the code", inv_rows)
                T.check(inv_rows and inv_rows[0].get("request") is None and
                        inv_rows[0].get("state") == "sent", "sent, about no request", inv_rows)
                rows = gw.sql("SELECT * FROM invitations")
                outbox = gw.sql("SELECT body FROM notifications")
                h = hashlib.sha256(code.encode()).hexdigest()
                T.check(rows and all(code not in repr(r) for r in rows) and
                        any(h in repr(r) for r in rows),
                        "the invitations table keeps the SHA-256 of the code, not the code")
                T.check(all(code not in r[0] for r in outbox),
                        "the delivered mail's body is gone from the outbox")

            with T.section("wrong codes: 422 invitation_invalid, nothing learnt"):
                for what, body in (("an unknown code", {"code": "lbi_" + "ab" * 32}),
                                   ("a code one digit off", {"code": code[:-1] + ("0" if code[-1] != "0" else "1")}),
                                   ("garbage", {"code": "hello"}), ("empty", {"code": ""})):
                    st, js, text = call("POST", "/v1/invitations/redeem", body, tok=None)
                    T.eq((st, err_code(js)), (422, "invitation_invalid"), what, text)
                T.status(api(gw, "POST", "/v1/invitations/redeem", {}), 400, "missing_field",
                         "no code")
                T.status(api(gw, "POST", "/v1/invitations/redeem", {"code": code, "x": 1}), 400,
                         "unknown_field", "an unknown field")
                T.status(api(gw, "POST", "/v1/invitations/redeem", {"code": 5}), 400, "bad_type",
                         "a code that is not a string")

            with T.section("redeem: the invitee becomes the tenant's global admin, once"):
                st, js, text = call("POST", "/v1/invitations/redeem", {"code": code}, tok=None)
                T.eq(st, 201, "POST /v1/invitations/redeem (no token) -> 201", text)
                u = js.get("user", {})
                T.eq((u.get("login"), u.get("side"), u.get("tenant"), u.get("disabled")),
                     ("ga1", "customer", t, False), "the user: ga1, customer side, of the tenant")
                T.check(js.get("token", "").startswith("lbu_"), "a token, shown this once")
                ga1 = js["token"]
                uid = u.get("id")
                T.check(code not in text, "the answer does not repeat the code")
                st, js2, text = call("POST", "/v1/invitations/redeem", {"code": code}, tok=None)
                T.eq((st, err_code(js2)), (422, "invitation_invalid"), "a second redeem -> 422", text)
                st, _, _ = call("PUT", "/v1/tenants/%s/lockbox" % t, {"enabled": True}, tok=ga1)
                T.eq(st, 200, "the token acts as the tenant's global admin")
                items, _ = paginate(gw, "/v1/role-assignments?user=" + uid, admin)
                T.eq([(i["role"], i["tenant"]) for i in items], [("global_admin", t)],
                     "exactly the role global_admin of the tenant")
                users = [x for x in paginate(gw, "/v1/users", admin)[0] if x["login"] == "ga1"]
                T.eq(len(users), 1, "one user ga1, even after two redeems")
                evs = of_inv(events(gw, admin, "directory.invitation.redeem"), inv["id"])
                T.eq(len(evs), 1, "one directory.invitation.redeem event", evs)
                if evs:
                    e = evs[0]
                    T.eq((e["level"], e["tenant"], e["actor"], e.get("actor_login")),
                         ("tenant", t, uid, "ga1"), "tenant level, the new admin as actor")
                    T.eq((e["details"].get("user"), e["details"].get("role")), (uid, "global_admin"),
                         "details: the user and the role")
                    T.check(ga1 not in json.dumps(e) and code not in json.dumps(e),
                            "neither the token nor the code in the event")
                n_create = len(events(gw, admin, "directory.user.create"))
                T.eq(n_create, 1, "the redeem is one event, not also a user.create (eng's only)")
                lst = call("GET", "/v1/tenants/%s/invitations" % t, tok=ga1)
                T.check(lst[0] == 200 and lst[1]["items"][0]["redeemed_at"] and
                        lst[1]["items"][0].get("user") == uid,
                        "the invitation shows redeemed_at and the user", lst[2])

            with T.section("after the first global admin: only the tenant's global admins invite"):
                st, js, text = call("POST", "/v1/tenants/%s/invitations" % t,
                                    {"login": "late", "name": "L", "email": "late@acme.test"})
                T.eq((st, err_code(js)), (403, "forbidden"), "the provider admin -> 403", text)
                inv2 = w.invite(t, "ga2", by=ga1)
                r2 = w.redeem(inv2)
                ga2, ga2_id = r2["token"], r2["user"]["id"]
                codes.append(lbtest.invitation_code(sink.messages, "ga2@example.test", inv2["id"]))
                T.check(ga2.startswith("lbu_"), "a global admin invites a second one, who redeems")
                ev = of_inv(events(gw, ga1, "directory.invitation.create"), inv2["id"])
                T.check(len(ev) == 1 and ev[0]["actor"] == uid, "audited with ga1 as actor", ev)
                # a second tenant and its admin
                invb = w.invite(t2, "gb1")
                gb1 = w.redeem(invb)["token"]
                st, js, _ = call("POST", "/v1/tenants/%s/invitations" % t,
                                 {"login": "x1", "name": "X", "email": "x1@acme.test"}, tok=gb1)
                T.eq((st, err_code(js)), (404, "not_found"), "another tenant's admin -> 404")
                st, js, _ = call("GET", "/v1/tenants/%s/invitations" % t, tok=gb1)
                T.eq(st, 404, "... and cannot list them (404)")
                st, js, _ = call("POST", "/v1/tenants/%s/invitations" % t,
                                 {"login": "x2", "name": "X", "email": "x2@acme.test"},
                                 tok=w.tok["eng"])
                T.eq(st, 403, "an engineer -> 403")
                st, _, _ = call("POST", "/v1/tenants/tnt_0000000000000000/invitations",
                                {"login": "x3", "name": "X", "email": "x3@acme.test"})
                T.eq(st, 404, "an unknown tenant -> 404")
                seen = [e for e in paginate(gw, "/v1/audit/events", gb1)[0]
                        if e["type"].startswith("directory.invitation")]
                T.check(seen and all(e["tenant"] == t2 for e in seen),
                        "globex's admin reads globex's invitation events only", seen)

            with T.section("bad input changes nothing"):
                n0 = len(paginate(gw, "/v1/tenants/%s/invitations" % t, ga1)[0])
                for what, body, code_ in (
                        ("a login that is no Unix name", {"login": "Bad Login", "name": "n", "email": "a@b.test"}, "bad_value"),
                        ("a mail address without @", {"login": "ok1", "name": "n", "email": "nope"}, "bad_value"),
                        ("a login taken", {"login": "ga1", "name": "n", "email": "a@b.test"}, "conflict"),
                        ("no email", {"login": "ok2", "name": "n"}, "missing_field"),
                        ("an unknown field", {"login": "ok3", "name": "n", "email": "a@b.test", "code": "x"}, "unknown_field")):
                    st, js, text = call("POST", "/v1/tenants/%s/invitations" % t, body, tok=ga1)
                    T.eq(err_code(js), code_, "%s -> %s" % (what, code_), text)
                T.eq(len(paginate(gw, "/v1/tenants/%s/invitations" % t, ga1)[0]), n0,
                     "no invitation was stored")

            with T.section("an invitation is only as good as its inviter's right to invite"):
                t3 = call("POST", "/v1/tenants", {"name": "initech"})[1]["id"]
                p1 = w.invite(t3, "p1")
                p2 = w.invite(t3, "p2")
                c2 = lbtest.invitation_code(sink.messages, "p2@example.test", p2["id"])
                codes.append(c2)
                w.redeem(p1)
                st, js, _ = call("POST", "/v1/invitations/redeem", {"code": c2}, tok=None)
                T.eq((st, err_code(js)), (422, "invitation_invalid"),
                     "a provider admin's pending invitation dies once the tenant has a global admin")
                x = w.invite(t, "xx", by=ga2)
                cx = lbtest.invitation_code(sink.messages, "xx@example.test", x["id"])
                codes.append(cx)
                call("POST", "/v1/users/%s/disable" % ga2_id, tok=ga1)
                st, js, _ = call("POST", "/v1/invitations/redeem", {"code": cx}, tok=None)
                T.eq((st, err_code(js)), (422, "invitation_invalid"),
                     "the invitation of a global admin since disabled does not work")
                call("POST", "/v1/users/%s/enable" % ga2_id, tok=ga1)
                st, js, text = call("POST", "/v1/invitations/redeem", {"code": cx}, tok=None)
                T.eq(st, 201, "... and works again once they are enabled (before it expires)", text)
                d1 = w.invite(t, "dup", by=ga1)
                d2 = w.invite(t, "dup", by=ga1, email="dup2@example.test")
                w.redeem(d1)
                cd = lbtest.invitation_code(sink.messages, "dup2@example.test", d2["id"])
                codes.append(cd)
                st, js, _ = call("POST", "/v1/invitations/redeem", {"code": cd}, tok=None)
                T.eq((st, err_code(js)), (409, "conflict"),
                     "a second invitation for a login taken since -> 409 conflict")

            with T.section("the code never appears in an API answer, an audit event or the log"):
                everything, _ = paginate(gw, "/v1/audit/events", admin)
                blob = json.dumps(everything)
                codes += [c for m in sink.messages() for c in CODE_RE.findall(body_of(m))]
                codes = sorted(set(codes))
                T.check(len(codes) >= 8, "codes were collected from the mail (%d)" % len(codes))
                T.check(all(c not in blob for c in codes), "no code in any audit event")
                T.check(all(hashlib.sha256(c.encode()).hexdigest() not in blob for c in codes),
                        "nor its hash")
                T.check(all(c not in a for c in codes for a in answers),
                        "no code in any API answer the test saw (%d)" % len(answers))
                log = gw.log_text()
                T.check(log and all(c not in log for c in codes), "no code in the gateway's log")
                items, _ = paginate(gw, "/v1/notifications", admin)
                T.check(all(c not in json.dumps(items) for c in codes),
                        "no code in GET /v1/notifications")
                ok = api(gw, "GET", "/v1/audit/verify", token=admin)[1]
                T.check(ok.get("ok") is True, "the audit chain verifies (actor_login is not hashed)", ok)

        with T.section("invitation_ttl: an expired code is refused"):
            for bad, good in (("0s", False), ("31d", False), ("1s", True), ("30d", True)):
                g = Gateway(conf_extra="invitation_ttl = %s" % bad)
                r = g.run("-c", g.conf, "--check-config")
                T.eq(r.returncode == 0, good, "invitation_ttl = %s is %s" % (
                    bad, "accepted" if good else "refused"), r.stderr)
                if not good:
                    T.check("invitation_ttl" in r.stderr, "... naming invitation_ttl", r.stderr)
                g.close()
            with Gateway(conf_extra=conf + "\ninvitation_ttl = 2s") as gw:
                gw.start()
                w = lbtest.World(gw, gw.bootstrap(), mail=sink.messages)
                tt = w.must("POST", "/v1/tenants", {"name": "shortlived"}, expect=201)["id"]
                inv = w.invite(tt, "slow", email="slow@acme.test")
                T.eq(lbtest.parse_time(inv["expires_at"]) - lbtest.parse_time(inv["created_at"]), 2,
                     "expires_at = created_at + 2s")
                c = lbtest.invitation_code(sink.messages, "slow@acme.test", inv["id"])
                time.sleep(2.5)
                st, js, _ = api(gw, "POST", "/v1/invitations/redeem", {"code": c})
                T.eq((st, err_code(js)), (422, "invitation_invalid"), "redeemed after expiry -> 422")
                inv = w.invite(tt, "quick", email="quick@acme.test")
                c = lbtest.invitation_code(sink.messages, "quick@acme.test", inv["id"])
                st, js, _ = api(gw, "POST", "/v1/invitations/redeem", {"code": c})
                T.eq(st, 201, "redeemed in time -> 201")
                T.check(c not in gw.log_text(), "no code in this gateway's log either")

        with T.section("mail that cannot go: the API withholds the code, the outbox drops it"):
            dead = lbtest.free_port()   # nothing listens there
            with Gateway(conf_extra="\n".join([
                    "smtp_url = smtp://127.0.0.1:%d" % dead, "smtp_from = lb@gw.example.test",
                    "notify_max_attempts = 2", "notify_backoff = 1s",
                    "notify_interval = 1s"])) as gw:
                gw.start()
                admin = gw.bootstrap()
                tt = api(gw, "POST", "/v1/tenants", {"name": "down"}, token=admin)[1]["id"]
                st, inv, _ = api(gw, "POST", "/v1/tenants/%s/invitations" % tt,
                                 {"login": "d1", "name": "D", "email": "d1@acme.test"}, token=admin)
                T.eq(st, 201, "the invitation is stored while mail is down")

                def outbox_db():
                    return gw.sql("SELECT state, body FROM notifications")
                rows = outbox_db()
                stored = CODE_RE.findall(rows[0][1]) if rows else []
                T.check(len(stored) == 1, "the outbox row holds the mail (and so the code) "
                        "until it is delivered", rows)
                items = paginate(gw, "/v1/notifications", admin)[0]
                T.check(items and items[0]["state"] == "pending" and
                        not CODE_RE.search(json.dumps(items)) and "withheld" in items[0]["body"],
                        "GET /v1/notifications withholds the pending mail's body", items)
                ok = wait_until(lambda: paginate(gw, "/v1/notifications", admin)[0][0]["state"]
                                == "failed", timeout=20)
                T.check(ok, "delivery gives up after notify_max_attempts")
                rows = outbox_db()
                T.check(rows and not CODE_RE.search(rows[0][1]),
                        "once given up, the code is gone from the outbox", rows)
                log = gw.log_text()
                T.check("failed" in log and not any(c in log for c in stored),
                        "the failures are logged, never the code")
                if stored:
                    st, js, _ = api(gw, "POST", "/v1/invitations/redeem", {"code": stored[0]})
                    T.eq(st, 201, "(the code itself was good: whoever reads the database could "
                         "redeem it before the mail goes; that trust is the operator's)")

        with T.section("a gateway without mail refuses to invite"):
            with Gateway(mail=False) as gw:
                gw.start()
                admin = gw.bootstrap()
                tt = api(gw, "POST", "/v1/tenants", {"name": "nomail"}, token=admin)[1]["id"]
                st, js, _ = api(gw, "POST", "/v1/tenants/%s/invitations" % tt,
                                {"login": "a", "name": "A", "email": "a@b.test"}, token=admin)
                T.eq((st, err_code(js)), (422, "mail_not_configured"), "no smtp_url -> 422")
                T.eq(paginate(gw, "/v1/tenants/%s/invitations" % tt, admin)[0], [],
                     "nothing stored")
    finally:
        sink.stop()
        hooksrv.shutdown()


if __name__ == "__main__":
    main()
    T.done()
