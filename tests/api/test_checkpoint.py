#!/usr/bin/python3
"""Signed audit checkpoints: the gateway logs (seq, head_hash) signed with its checkpoint key;
a tail truncated behind the gateway's back is reported by /v1/audit/verify even though the
remaining chain is consistent."""
import hashlib
import hmac
import os
import re
import sqlite3
import stat

import lbtest
from lbtest import Gateway, world, wait_until

T = lbtest.Runner("checkpoint")
CKPT = re.compile(r"audit checkpoint seq=(\d+) head_hash=([0-9a-f]{64}) sig=([0-9a-f]{64})")


def checkpoints(gw):
    return [(int(m.group(1)), m.group(2), m.group(3)) for m in CKPT.finditer(gw.log_text())]


def main():
    with Gateway(conf_extra="checkpoint_interval = 1s") as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        keyfile = gw.db + ".checkpoint-key"

        with T.section("the checkpoint key"):
            T.check(os.path.exists(keyfile), "a key is made beside the database on first start")
            st = os.stat(keyfile)
            T.eq(stat.S_IMODE(st.st_mode), 0o600, "the key file is mode 0600")
            T.eq(st.st_size, 32, "the key is 32 bytes")
            key = open(keyfile, "rb").read()

        head = w.must("GET", "/v1/audit/verify")["head_seq"]
        with T.section("signed checkpoints in the log"):
            ok = wait_until(lambda: any(c[0] >= head for c in checkpoints(gw)), timeout=10)
            T.check(ok, "a checkpoint covering seq %d is logged" % head)
            good = 0
            for seq, h, sig in checkpoints(gw):
                msg = ("seq=%d head_hash=%s" % (seq, h)).encode()
                good += hmac.compare_digest(hmac.new(key, msg, hashlib.sha256).hexdigest(), sig)
            T.eq(good, len(checkpoints(gw)), "every checkpoint signature verifies with the key")
            seq, h, _ = [c for c in checkpoints(gw) if c[0] >= head][0]
            ev = w.must("GET", "/v1/audit/events?limit=1&cursor=%d" % (seq - 1) if seq > 1 else "/v1/audit/events?limit=1")
            T.eq(ev["items"][0]["hash"], h, "the checkpoint's head_hash is the hash of event seq %d" % seq)

        with T.section("restart keeps the key"):
            gw.stop()
            gw.start()
            T.eq(open(keyfile, "rb").read(), key, "the same key after a restart")

        with T.section("checkpoints are stored and survive a restart"):
            db = sqlite3.connect(gw.db, timeout=10)
            rows = db.execute("SELECT seq, head_hash, sig FROM audit_checkpoints ORDER BY seq").fetchall()
            db.close()
            T.check(len(rows) >= 1, "checkpoint rows are stored", rows)
            good = all(hmac.compare_digest(hmac.new(key, ("seq=%d head_hash=%s" % (q, h)).encode(),
                                                    hashlib.sha256).hexdigest(), sg) for q, h, sg in rows)
            T.check(good, "every stored checkpoint is signed with the key")
            last = rows[-1][0] if rows else 0
            gw.stop()
            db = sqlite3.connect(gw.db, timeout=10)
            # the chain below the stored checkpoint is cut while the gateway is down
            db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
            db.execute("DELETE FROM audit WHERE seq >= ?", (last,))
            db.commit()
            db.close()
            gw.start()
            v = w.must("GET", "/v1/audit/verify")
            T.eq(v.get("ok"), False, "after a restart, verify still catches a cut below the stored checkpoint", v)
            T.check(wait_until(lambda: "audit chain BROKEN" in gw.log_text(), timeout=5),
                    "the start-up check logs the broken chain")

    with Gateway(conf_extra="checkpoint_interval = 1s") as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        keyfile = gw.db + ".checkpoint-key"
        key = open(keyfile, "rb").read()

        with T.section("a forged checkpoint row is refused"):
            head = w.must("GET", "/v1/audit/verify")["head_seq"]
            wait_until(lambda: any(c[0] >= head for c in checkpoints(gw)), timeout=10)
            gw.stop()
            db = sqlite3.connect(gw.db, timeout=10)
            db.execute("INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?)",
                       (head + 100, "0" * 64, "f" * 64, "2026-01-01T00:00:00.000Z"))
            db.commit()
            db.close()
            gw.start()
            T.check(wait_until(lambda: "bad signature" in gw.log_text(), timeout=5),
                    "the gateway logs the bad signature")
            v = w.must("GET", "/v1/audit/verify")
            T.eq(v.get("ok"), True, "and walks the real chain, which verifies", v)

        with T.section("a truncated tail is detected"):
            w.elevate("eng")  # more events
            head = w.must("GET", "/v1/audit/verify")["head_seq"]
            ok = wait_until(lambda: any(c[0] >= head for c in checkpoints(gw)), timeout=10)
            T.check(ok, "checkpoint at seq %d" % head)
            db = sqlite3.connect(gw.db, timeout=10)
            db.execute("DROP TRIGGER audit_no_delete")
            db.execute("DELETE FROM audit WHERE seq > ?", (head - 2,))
            db.commit()
            db.close()
            v = w.must("GET", "/v1/audit/verify")
            T.eq(v.get("ok"), False, "verify fails although the remaining chain is consistent", v)
            T.check("truncated" in (v.get("reason") or ""), "the reason says the tail was truncated", v)
            T.eq(v.get("broken_at"), head - 1, "broken_at names the first missing event")


if __name__ == "__main__":
    main()
    T.done()
