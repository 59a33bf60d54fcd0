#!/usr/bin/python3
"""Notifications: mail to the designated approvers / internal approvers / the engineer on each
state change, through a real SMTP server on loopback (aiosmtpd, writing a Maildir), and signed
webhooks. SMTP down during the change, then up: delivered exactly once; gateway killed with
undelivered mail: sent after restart, once."""
import email
import email.header
import hashlib
import hmac
import http.server
import json
import mailbox
import os
import sys
import threading
import time

import lbtest
from lbtest import Gateway, world, wait_until

T = lbtest.Runner("notify")
try:
    from aiosmtpd.controller import Controller
except ImportError:
    T.skip("python3-aiosmtpd is not installed (contrib/deps.sh installs it)")

SECRET = "webhook-secret-for-tests-0123456789"


class MailSink:
    """An SMTP server on loopback that stores every message in a Maildir."""

    def __init__(self, port, maildir):
        self.port = port
        self.box = mailbox.Maildir(maildir, create=True)
        self.lock = threading.Lock()
        self.ctl = None

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            msg = email.message_from_bytes(envelope.original_content or envelope.content)
            for rcpt in envelope.rcpt_tos:
                m = mailbox.MaildirMessage(msg)
                m["X-Envelope-To"] = rcpt
                self.box.add(m)
        return "250 OK"

    def start(self):
        self.ctl = Controller(self, hostname="127.0.0.1", port=self.port)
        self.ctl.start()

    def stop(self):
        if self.ctl:
            self.ctl.stop()
            self.ctl = None

    def messages(self):
        with self.lock:
            return [m for _, m in self.box.items()]


class Hooks(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        Hooks.got.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def subject(m):
    return str(email.header.make_header(email.header.decode_header(m["Subject"])))


def for_request(sink, rid, event=None):
    out = []
    for m in sink.messages():
        if m["X-Lockbox-Request"] == rid and (event is None or m["X-Lockbox-Event"] == event):
            out.append(m)
    return out


def rcpts(msgs):
    return sorted(m["X-Envelope-To"].strip("<>") for m in msgs)


def main():
    smtp_port = lbtest.free_port()
    hook_port = lbtest.free_port()
    hooksrv = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Hooks)
    threading.Thread(target=hooksrv.serve_forever, daemon=True).start()
    conf = "\n".join([
        "smtp_url = smtp://127.0.0.1:%d" % smtp_port,
        "smtp_from = lockbox@gateway.example.test",
        "console_url = https://console.example.test/",
        "webhook_url = http://127.0.0.1:%d/hook" % hook_port,
        "webhook_secret = " + SECRET,
        "notify_interval = 1s",
        "notify_backoff = 1s",
        "pending_ttl = 12s",
    ])
    with Gateway(conf_extra=conf) as gw:
        sink = MailSink(smtp_port, os.path.join(gw.tmp, "Maildir"))
        gw.start()
        # the fixture's global admins come by invitation, whose code travels by mail only:
        # the sink is up while the world is built, then down for the first section
        sink.start()
        w = world(gw, gw.bootstrap(), mail=sink.messages)
        sink.stop()
        e = lambda k: w.login[k] + "@example.test"
        approvers_A1 = sorted([e("gadmA"), e("lbappA"), e("ownA1")])
        w.elevate("eng")
        r4 = w.new_request(sub="A1")  # left undecided: expires after pending_ttl

        with T.section("SMTP down during the change, then up: delivered exactly once"):
            r1 = w.new_request(sub="A1")
            T.eq(r1["state"], "customer_notified", "request waits for the customer")
            ok = wait_until(lambda: any(n["attempts"] >= 1 and n["state"] == "pending"
                                        for n in w.must("GET", "/v1/notifications?request=" + r1["id"])["items"]
                                        if n["channel"] == "email"), timeout=10)
            T.check(ok, "a failed attempt is recorded while SMTP is down")
            ns = w.must("GET", "/v1/notifications?request=" + r1["id"])["items"]
            T.check(any(n["last_error"] for n in ns if n["channel"] == "email"),
                    "the failure is visible in last_error", ns[:1])
            sink.start()
            ok = wait_until(lambda: len(for_request(sink, r1["id"])) >= 3, timeout=20)
            T.check(ok, "mail arrives once SMTP is up")
            time.sleep(2.5)
            msgs = for_request(sink, r1["id"], "request.customer_notified")
            T.eq(rcpts(msgs), approvers_A1, "subscription scope: owners of A1 + global admins + lockbox approvers, once each")
            T.eq(len({m["Message-ID"] for m in msgs}), len(msgs), "one Message-ID per delivery, no duplicates")
            ns = w.must("GET", "/v1/notifications?request=" + r1["id"])["items"]
            T.check(all(n["state"] == "sent" for n in ns), "every notification is marked sent",
                    [(n["recipient"], n["state"]) for n in ns])

        with T.section("content of the approvers' mail"):
            m = msgs[0]
            body = m.get_payload(decode=True).decode("utf-8")
            T.check(m["Date"] and m["Message-ID"] and m["From"], "Date, Message-ID, From headers")
            T.check("=?UTF-8?B?" in m["Subject"], "the subject is UTF-8 encoded", m["Subject"])
            T.check(r1["id"] in subject(m) and "Approval needed" in subject(m), "subject names the request", subject(m))
            T.check("charset=UTF-8" in m["Content-Type"] and m.get_content_type() == "text/plain",
                    "plain text UTF-8 body", m["Content-Type"])
            for what, needle in [("requester", w.login["eng"]), ("ticket id", w.ticket["A"]),
                                 ("ticket title", "help"), ("host", "hA1"), ("access", "ssh"),
                                 ("duration", "1h"), ("justification", "investigate incident"),
                                 ("expiry", r1["pending_expires_at"]),
                                 ("console link", "https://console.example.test/requests/" + r1["id"])]:
                T.check(needle in body, "mail says the %s" % what, needle)

        with T.section("approve, deny: the engineer learns the decision"):
            w.must("POST", "/v1/requests/%s/approve" % r1["id"], {"reason": "ok"}, who="ownA1")
            ok = wait_until(lambda: for_request(sink, r1["id"], "request.approved"), timeout=10)
            T.check(ok, "approval mail sent")
            T.eq(rcpts(for_request(sink, r1["id"], "request.approved")), [e("eng")], "approval goes to the engineer only")
            r2 = w.new_request(sub="A2", hosts=["hA2"])
            wait_until(lambda: len(for_request(sink, r2["id"])) >= 3, timeout=10)
            T.eq(rcpts(for_request(sink, r2["id"], "request.customer_notified")),
                 sorted([e("gadmA"), e("lbappA"), e("ownA2")]), "A2 request: owner of A2, not of A1")
            w.must("POST", "/v1/requests/%s/deny" % r2["id"], {"reason": "not now"}, who="gadmA")
            ok = wait_until(lambda: for_request(sink, r2["id"], "request.denied"), timeout=10)
            T.eq(rcpts(for_request(sink, r2["id"], "request.denied")), [e("eng")], "denial goes to the engineer")
            body = for_request(sink, r2["id"], "request.denied")[0].get_payload(decode=True).decode()
            T.check("not now" in body, "the denial mail carries the reason")

        with T.section("revoke: the engineer and the approvers"):
            w.must("POST", "/v1/requests/%s/revoke" % r1["id"], {"reason": "done"}, who="gadmA")
            wait_until(lambda: len(for_request(sink, r1["id"], "request.revoked")) >= 4, timeout=15)
            T.eq(rcpts(for_request(sink, r1["id"], "request.revoked")), sorted(approvers_A1 + [e("eng")]),
                 "revocation goes to the engineer and the approvers")

        with T.section("tenant scope: internal approvers first, then global admins and lockbox approvers only"):
            r3 = w.new_request(scope="tenant", hosts=["*"], sub="A1")
            T.eq(r3["state"], "internal_review", "tenant scope goes to internal review")
            wait_until(lambda: for_request(sink, r3["id"], "request.internal_review"), timeout=10)
            T.eq(rcpts(for_request(sink, r3["id"], "request.internal_review")), [e("iapp")],
                 "internal review mail goes to the internal approvers only")
            w.must("POST", "/v1/requests/%s/internal-approve" % r3["id"], {}, who="iapp")
            wait_until(lambda: len(for_request(sink, r3["id"], "request.customer_notified")) >= 2, timeout=10)
            time.sleep(1.5)
            T.eq(rcpts(for_request(sink, r3["id"], "request.customer_notified")), sorted([e("gadmA"), e("lbappA")]),
                 "tenant scope: no owners are mailed")
            everyone = set(rcpts([m for m in sink.messages()
                                  if m["X-Lockbox-Event"] != "invitation.create"]))
            for outsider in ("gadmB", "custB", "custA", "nobody", "eng2"):
                T.check(e(outsider) not in everyone, "nothing is ever sent to %s (outside every scope)" % outsider)

        with T.section("expiry and completion"):
            r5 = w.new_request(sub="A1", duration="2s")
            w.must("POST", "/v1/requests/%s/approve" % r5["id"], {}, who="ownA1")
            ok = wait_until(lambda: len(for_request(sink, r4["id"], "request.expired")) >= 4
                            and for_request(sink, r5["id"], "request.completed"), timeout=30)
            T.check(ok, "expired and completed mails are sent")
            T.eq(rcpts(for_request(sink, r4["id"], "request.expired")), sorted(approvers_A1 + [e("eng")]),
                 "expiry goes to the engineer and the approvers")
            T.eq(rcpts(for_request(sink, r5["id"], "request.completed")), [e("eng")],
                 "completion goes to the engineer")

        with T.section("webhooks: same events, HMAC-SHA256 signed"):
            wanted = {"request.customer_notified", "request.approved", "request.denied",
                      "request.revoked", "request.internal_review", "request.expired",
                      "request.completed"}
            wait_until(lambda: wanted <= {json.loads(b)["event"] for _, b in list(Hooks.got)},
                       timeout=15)
            events = set()
            bad = 0
            for headers, body in list(Hooks.got):
                h = {k.lower(): v for k, v in headers.items()}
                want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(h.get("x-lockbox-signature", ""), want):
                    bad += 1
                events.add(json.loads(body)["event"])
            T.check(len(Hooks.got) > 0, "webhook deliveries arrived", len(Hooks.got))
            T.eq(bad, 0, "every webhook signature verifies")
            for ev in ("request.customer_notified", "request.approved", "request.denied",
                       "request.revoked", "request.internal_review", "request.expired", "request.completed"):
                T.check(ev in events, "webhook for %s" % ev)
            one = json.loads(Hooks.got[0][1])
            T.check("request" in one and "id" in one["request"] and "console_url" in one,
                    "the webhook body carries the request and the console link")

        with T.section("who may read delivery attempts"):
            for who in ("eng", "gadmA", "ownA1", "custA"):
                st, js, _ = w.call("GET", "/v1/notifications?request=" + r1["id"], who=who)
                T.eq(st, 403, "GET /v1/notifications as %s -> 403" % who)

        with T.section("gateway killed with undelivered mail: sent after restart, once"):
            sink.stop()
            r6 = w.new_request(sub="A1")
            ok = wait_until(lambda: any(n["attempts"] >= 1 for n in
                                        w.must("GET", "/v1/notifications?request=" + r6["id"])["items"]
                                        if n["channel"] == "email"), timeout=10)
            T.check(ok, "delivery failed while SMTP is down")
            gw.kill9()
            sink.start()
            gw.start()
            ok = wait_until(lambda: len(for_request(sink, r6["id"], "request.customer_notified")) >= 3, timeout=20)
            T.check(ok, "the queued mail goes out after the restart")
            time.sleep(2.5)
            T.eq(rcpts(for_request(sink, r6["id"], "request.customer_notified")), approvers_A1,
                 "each approver got it exactly once")
        sink.stop()
    hooksrv.shutdown()


if __name__ == "__main__":
    main()
    T.done()
