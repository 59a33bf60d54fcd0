"""lockboxctl and the TOTP second factor against the real gateway (require_mfa, approve_mfa):
totp enroll (secret and otpauth URI, --json, --quiet, the QR code with --qr), totp confirm,
elevate --totp, --totp on approve, deny and revoke, the code asked for on a terminal after
the gateway's mfa_required (a pseudo-terminal as standard input), usage errors (exit 2)."""

import os
import pty
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lbtest                      # noqa: E402
from ctltest import Ctl            # noqa: E402

T = lbtest.Runner("cli/totp")


def on_tty(c, args, typed, token, timeout=60):
    """lockboxctl ARGS with a pseudo-terminal as standard input on which TYPED is typed
    (it waits in the terminal's buffer until lockboxctl reads it); returns (rc, out, err)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([c.exe, "--url", c.url, "--token", token] + list(args),
                             stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=c.env(), universal_newlines=True)
        os.write(master, typed.encode())
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err
    finally:
        os.close(slave)
        os.close(master)


def main():
    gw = lbtest.Gateway(conf_extra="require_mfa = true\napprove_mfa = true")
    gw.start()
    w = lbtest.world(gw, gw.bootstrap())
    c = Ctl(gw)
    tok = w.tok

    def run(who, *args, **kw):
        return c.run(*args, token=tok[who], **kw)

    with T.section("totp enroll and confirm"):
        r = run("eng", "totp", "enroll", json_out=True)
        T.check(r.rc == 0 and sorted(r.json()) == ["otpauth_uri", "secret"],
                "totp enroll --json prints {otpauth_uri, secret}", r)
        r = run("eng", "totp", "enroll", "--quiet")
        T.check(r.rc == 0 and re.fullmatch(r"otpauth://totp/lockbox:eng\?secret=[A-Z2-7]{32}&\S+\n",
                                           r.out), "totp enroll --quiet prints the URI alone", r)
        r = run("eng", "totp", "enroll")
        m = re.search(r"^secret: ([A-Z2-7]{32})\notpauth_uri: (otpauth://\S+)$", r.out, re.M)
        T.check(r.rc == 0 and m and "secret=" + m.group(1) in m.group(2),
                "totp enroll prints the secret and the URI", r)
        T.check("\u2588" not in r.out and "totp confirm" in r.err,
                "no QR code when standard output is no terminal; the next step on stderr", r)
        sec = m.group(1) if m else ""
        r = run("eng", "totp", "enroll", "--qr")
        if "without libqrencode" in r.err:
            T.note("lockboxctl was built without libqrencode: no QR code to look at")
        else:
            qr = [l for l in r.out.splitlines() if l and set(l) <= set(" \u2580\u2584\u2588")]
            width = len(qr[0]) if qr else 0
            T.check(r.rc == 0 and qr and all(len(l) == width for l in qr) and
                    (width - 4 - 17) % 4 == 0 and len(qr) == (width + 1) // 2,
                    "totp enroll --qr draws a square QR code (modules + margin)", r)
            m = re.search(r"^secret: ([A-Z2-7]{32})$", r.out, re.M)
            sec = m.group(1) if m else sec
        for bad in ("12345", "abcdef", "1234567"):
            r = run("eng", "totp", "confirm", bad)
            T.check(r.rc == 2 and "6 digits" in r.err, "totp confirm %s: usage error, exit 2" % bad, r)
        r = run("eng", "totp", "confirm", lbtest.totp_code(sec))
        T.check(r.rc == 0 and "TOTP is active" in r.out, "totp confirm CODE", r)
        w.totp_secret["eng"], w._totp_step["eng"] = sec, int(time.time() // 30)
        r = run("eng", "totp", "enroll")
        T.check(r.rc == 1 and "conflict" in r.err, "enroll again once active: exit 1 conflict", r)
        r = run("eng", "totp", "enroll", "--totp", "12x456")
        T.check(r.rc == 2, "totp enroll --totp with a malformed code: exit 2", r)
        r = run("hA1", "totp", "enroll")
        T.check(r.rc == 1 and "forbidden" in r.err, "a host token cannot enrol: exit 1", r)

    with T.section("elevate --totp, and the code asked for on a terminal"):
        r = run("eng", "elevate", "--duration", "1h", "--reason", "r")
        T.check(r.rc == 1 and "mfa_required" in r.err,
                "elevate without --totp and no terminal: exit 1 mfa_required", r)
        r = run("eng", "elevate", "--duration", "1h", "--reason", "r", "--totp", "123")
        T.check(r.rc == 2 and "6 digits" in r.err, "elevate --totp 123: usage error", r)
        r = run("eng", "elevate", "--duration", "1h", "--reason", "r", "--totp", w.totp("eng"),
                json_out=True)
        T.check(r.rc == 0 and r.json().get("mfa") is True, "elevate --totp CODE: mfa true", r)
        rc, out, err = on_tty(c, ["elevate", "--duration", "1h", "--reason", "r", "--json"],
                              w.totp("eng") + "\n", tok["eng"])
        T.check(rc == 0 and "TOTP code:" in err and '"mfa": true' in out,
                "on a terminal: mfa_required, the prompt, the code, the elevation",
                "rc=%d out=%r err=%r" % (rc, out[:300], err[:300]))
        rc, out, err = on_tty(c, ["elevate", "--duration", "1h", "--reason", "r"], "\x04",
                              tok["eng"])
        T.check(rc == 1 and "no TOTP code given" in err, "no code typed (end of input): exit 1",
                "rc=%d err=%r" % (rc, err[:300]))

    with T.section("--totp on approve, deny and revoke"):
        w.enroll_totp("gadmA")
        rid = w.new_request("eng")["id"]
        r = run("gadmA", "request", "approve", rid)
        T.check(r.rc == 1 and "mfa_required" in r.err, "approve without --totp: exit 1", r)
        r = run("gadmA", "request", "approve", rid, "--totp", "abc")
        T.check(r.rc == 2, "approve --totp abc: usage error", r)
        r = run("gadmA", "request", "approve", rid, "--totp", w.totp("gadmA"))
        T.check(r.rc == 0 and "approved" in r.out, "approve --totp CODE", r)
        r = run("eng", "request", "revoke", rid, "--reason", "done", "--totp", w.totp("eng"),
                json_out=True)
        T.check(r.rc == 0 and r.json().get("state") == "revoked", "revoke --totp CODE --json", r)
        rid = w.new_request("eng")["id"]
        rc, out, err = on_tty(c, ["request", "deny", rid, "--reason", "no"],
                              w.totp("gadmA") + "\n", tok["gadmA"])
        T.check(rc == 0 and "TOTP code:" in err and "denied" in out,
                "deny on a terminal asks for the code", "rc=%d out=%r err=%r" % (rc, out, err))
    gw.close()
    T.done()


main()
