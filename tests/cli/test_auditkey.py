#!/usr/bin/python3
"""lockboxctl audit verify --public-key FILE: the chain checked by the CLI from the events and
every checkpoint record's Ed25519 signature with the gateway's public key (no secret): the
gateway's key passes, another key fails, a tampered record or a regressed chain fails."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lbtest                      # noqa: E402
from lbtest import world, wait_until  # noqa: E402
from ctltest import Ctl            # noqa: E402

T = lbtest.Runner("cli/auditkey")


def offline(gw, q, args=()):
    """Writes as an attacker with the owner's rights: the append-only triggers out of the way."""
    gw.sql_exec((q, args), tamper=True)


def main():
    with lbtest.Gateway(conf_extra="checkpoint_interval = 1s") as gw:
        gw.start()
        admin = gw.bootstrap()
        w = world(gw, admin)
        c = Ctl(gw)
        pub = os.path.join(gw.tmp, "pub.pem")
        other = os.path.join(gw.tmp, "other.pem")
        r = gw.run("-c", gw.conf, "--print-public-key")
        with open(pub, "w") as f:
            f.write(r.stdout)
        k = os.path.join(gw.tmp, "other.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", k], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["openssl", "pkey", "-in", k, "-pubout", "-out", other], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        head = w.must("GET", "/v1/audit/verify")["head_seq"]
        wait_until(lambda: "audit checkpoint seq=%d " % head in gw.log_text(), timeout=10)
        # the gateway logs a checkpoint before it stores it (syslog first): wait for the record
        wait_until(lambda: gw.sql("SELECT count(*) FROM audit_checkpoints WHERE seq >= ?",
                                  (head,))[0][0] >= 1, timeout=10)

        with T.section("the gateway's public key"):
            r = c.run("audit", "verify", "--public-key", pub, token=admin)
            T.check(r.rc == 0 and "audit chain ok" in r.out and "checkpoints" in r.out,
                    "verifies: exit 0", r)
            js = c.run("audit", "verify", "--public-key", pub, token=admin, json_out=True).json()
            T.eq(js.get("ok"), True, "--json: ok", js)
            T.check(js.get("checkpoints", 0) >= 1 and js.get("checkpoint_seq", 0) >= head,
                    "every record checked, the newest covers seq %d" % head, js)
            T.eq(js.get("head_seq"), w.must("GET", "/v1/audit/verify")["head_seq"],
                 "the same head as the gateway's verify")

        with T.section("another key"):
            r = c.run("audit", "verify", "--public-key", other, token=admin)
            T.check(r.rc == 1 and "BROKEN" in r.out and "does not verify" in r.out, "fails: exit 1", r)
            r = c.run("audit", "verify", "--public-key", os.path.join(gw.tmp, "none.pem"), token=admin)
            T.eq(r.rc, 2, "a missing key file is a usage error", r)

        with T.section("a tampered checkpoint record"):
            gw.stop()
            seq, sig = gw.sql("SELECT seq, sig FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")[0]
            bad = ("0" if sig[0] != "0" else "1") + sig[1:]
            offline(gw, "UPDATE audit_checkpoints SET sig = ? WHERE seq = ?", (bad, seq))
            gw.start()
            r = c.run("audit", "verify", "--public-key", pub, token=admin)
            T.check(r.rc == 1 and ("seq=%d" % seq) in r.out, "fails naming seq %d" % seq, r)
            gw.stop()
            offline(gw, "UPDATE audit_checkpoints SET sig = ? WHERE seq = ?", (sig, seq))

        with T.section("a regressed chain"):
            offline(gw, "DELETE FROM audit WHERE seq > ?", (seq - 2,))
            gw.start()
            r = c.run("audit", "verify", "--public-key", pub, token=admin)
            T.check(r.rc == 1 and "regressed" in r.out, "fails naming the regression", r)
            gw.stop()
            offline(gw, "DROP TABLE audit_checkpoints")
            gw.start()
            r = c.run("audit", "verify", "--public-key", pub, token=admin)
            T.eq(r.rc, 1, "no checkpoints table: fails", r)


if __name__ == "__main__":
    main()
    T.done()
