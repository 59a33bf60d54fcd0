#!/usr/bin/python3
"""Mail over STARTTLS with authentication: a real SMTP server (aiosmtpd) that requires
STARTTLS and AUTH; the gateway verifies its certificate against smtp_ca_file. A wrong password
or an untrusted certificate delivers nothing and shows the error in the attempts."""
import email
import logging
import os
import ssl
import tempfile
import threading

import lbtest
from lbtest import Gateway, world, wait_until

T = lbtest.Runner("notify_tls")
try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError:
    T.skip("python3-aiosmtpd is not installed (contrib/deps.sh installs it)")

logging.getLogger("mail.log").setLevel(logging.CRITICAL)  # handshakes we make fail on purpose
USER, PASSWORD = "lockbox-mailer", "s3cret-mail-pass"


class Sink:
    def __init__(self):
        self.got = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.got.append({"tls": session.ssl is not None, "auth": session.authenticated,
                             "rcpt": list(envelope.rcpt_tos), "data": envelope.content})
        return "250 OK"


def authenticator(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and \
        data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def start_smtp(pki, port):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki["cert"], pki["key"])
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port, tls_context=ctx,
                     require_starttls=True, auth_required=True, auth_require_tls=True,
                     authenticator=authenticator)
    ctl.start()
    return sink, ctl


def smtp_conf(port, password, ca):
    return "\n".join([
        "smtp_url = smtp://127.0.0.1:%d" % port,
        "smtp_from = lockbox@gateway.example.test",
        "smtp_starttls = true",
        "smtp_ca_file = " + ca,
        "smtp_user = " + USER,
        "smtp_password = " + password,
        "notify_interval = 1s",
        "notify_backoff = 1s",
    ])


def run_case(pki, port, password, ca, expect_mail):
    sink, ctl = start_smtp(pki, port)

    def mail():
        out = []
        with sink.lock:
            for m in sink.got:
                msg = email.message_from_bytes(m["data"])
                msg["X-Envelope-To"] = m["rcpt"][0] if m["rcpt"] else ""
                out.append(msg)
        return out
    try:
        # the fixture's global admins come by invitation, mailed: built with the working
        # settings, then the gateway restarts with the ones under test
        with Gateway(conf_extra=smtp_conf(port, PASSWORD, pki["ca"])) as gw:
            gw.start()
            w = world(gw, gw.bootstrap(), mail=mail)
            with sink.lock:
                sink.got.clear()
            if (password, ca) != (PASSWORD, pki["ca"]):
                gw.stop()
                gw.write_conf(smtp_conf(port, password, ca))
                gw.start()
            w.elevate("eng")
            r = w.new_request(sub="A1")
            if expect_mail:
                ok = wait_until(lambda: len(sink.got) >= 3, timeout=15)
                T.check(ok, "the approvers' mail arrives over STARTTLS with AUTH", len(sink.got))
                T.check(all(m["tls"] for m in sink.got), "every message went over TLS")
                T.check(all(m["auth"] for m in sink.got), "every message was sent authenticated")
                ns = w.must("GET", "/v1/notifications?request=" + r["id"])["items"]
                T.check(all(n["state"] == "sent" for n in ns), "all marked sent")
                T.check(PASSWORD not in gw.log_text(), "the SMTP password never appears in the log")
            else:
                ok = wait_until(lambda: any(n["attempts"] >= 1 and n["last_error"] for n in
                                            w.must("GET", "/v1/notifications?request=" + r["id"])["items"]),
                                timeout=15)
                T.check(ok, "the failure is recorded in the attempts")
                T.eq(len(sink.got), 0, "nothing was delivered")
                ns = w.must("GET", "/v1/notifications?request=" + r["id"])["items"]
                T.check(all(n["state"] in ("pending", "failed") for n in ns), "nothing marked sent")
                T.check(PASSWORD not in gw.log_text() and "wrong-password" not in gw.log_text(),
                        "no password in the log")
    finally:
        ctl.stop()


def main():
    tmp = lbtest.tmpdir(prefix="lbnotify-tls-")
    pki = lbtest.make_ca(os.path.join(tmp, "pki"))
    with T.section("STARTTLS + AUTH, certificate verified"):
        run_case(pki, lbtest.free_port(), PASSWORD, pki["ca"], True)
    with T.section("wrong password: nothing delivered, error recorded"):
        run_case(pki, lbtest.free_port(), "wrong-password", pki["ca"], False)
    with T.section("untrusted certificate: nothing delivered, error recorded"):
        run_case(pki, lbtest.free_port(), PASSWORD, pki["wrong_ca"], False)


if __name__ == "__main__":
    main()
    T.done()
