#!/usr/bin/python3
"""Signed audit checkpoints: the gateway signs (seq, head_hash) with its Ed25519 key (made on
first start, mode 0600), logs and stores each checkpoint, publishes the public key, signs at
start, every checkpoint_interval, every checkpoint_every events and at shutdown, never signs a
head below one it signed, and reports a truncated, regressed or forged record as a broken
chain."""
import os
import re
import stat
import subprocess

import lbtest
from lbtest import Gateway, world, wait_until

T = lbtest.Runner("checkpoint")
CKPT = re.compile(r"audit checkpoint seq=(\d+) head_hash=([0-9a-f]{64}) sig=([0-9a-f]{128})\b")


def checkpoints(text):
    return [(int(m.group(1)), m.group(2), m.group(3)) for m in CKPT.finditer(text)]


def since_last_start(gw):
    return gw.log_text().rsplit("---- start ", 1)[-1]


def openssl_verifies(pub, seq, head_hash, sig, tmp):
    """The signature checked with openssl alone, from the public key."""
    msg, sigf = os.path.join(tmp, "msg"), os.path.join(tmp, "sig")
    with open(msg, "wb") as f:
        f.write(("seq=%d head_hash=%s" % (seq, head_hash)).encode())
    with open(sigf, "wb") as f:
        f.write(bytes.fromhex(sig))
    r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin",
                        "-in", msg, "-sigfile", sigf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=30)
    return r.returncode == 0 and "Signature Verified Successfully" in r.stdout


def offline(gw, *sql):
    """Writes to the gateway's database as an attacker with the owner's rights would: the
    append-only triggers dropped (SQLite) or disabled (PostgreSQL) first."""
    gw.sql_exec(*sql, tamper=True)


def rows(gw):
    return gw.sql("SELECT seq, head_hash, sig, alg FROM audit_checkpoints ORDER BY seq")


def main():
    with Gateway(conf_extra="checkpoint_interval = 1s") as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        keyfile = os.path.join(gw.tmp, "checkpoint.key")
        pub = os.path.join(gw.tmp, "pub.pem")

        with T.section("the Ed25519 checkpoint key"):
            T.check(os.path.exists(keyfile), "the key is made at checkpoint_key_file on first start")
            st = os.stat(keyfile)
            T.eq(stat.S_IMODE(st.st_mode), 0o600, "the key file is mode 0600")
            r = subprocess.run(["openssl", "pkey", "-in", keyfile, "-noout", "-text"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
            T.check(r.returncode == 0 and "ED25519" in r.stdout.upper(), "an Ed25519 private key in PEM",
                    r.stdout[:200])
            key = open(keyfile, "rb").read()

        with T.section("the public key is published"):
            r = gw.run("-c", gw.conf, "--print-public-key")
            T.eq(r.returncode, 0, "--print-public-key exits 0", r.stderr)
            T.check(r.stdout.startswith("-----BEGIN PUBLIC KEY-----"), "it prints a PEM public key", r.stdout)
            with open(pub, "w") as f:
                f.write(r.stdout)
            st, js, _ = lbtest.api(gw, "GET", "/v1/audit/public-key")
            T.eq(st, 200, "GET /v1/audit/public-key needs no token")
            T.eq((js or {}).get("public_key_pem"), r.stdout, "the endpoint gives the same key")
            T.eq((js or {}).get("algorithm"), "ed25519", "algorithm ed25519")
            T.check(re.fullmatch(r"[0-9a-f]{64}", (js or {}).get("sha256", "")), "with its fingerprint", js)

        head = w.must("GET", "/v1/audit/verify")["head_seq"]
        with T.section("signed checkpoints in the log"):
            ok = wait_until(lambda: any(c[0] >= head for c in checkpoints(gw.log_text())), timeout=10)
            T.check(ok, "a checkpoint covering seq %d is logged" % head)
            cks = checkpoints(gw.log_text())
            good = sum(openssl_verifies(pub, q, h, s, gw.tmp) for q, h, s in cks)
            T.eq(good, len(cks), "every logged signature verifies with the public key (openssl)")
            T.check(not openssl_verifies(pub, cks[0][0] + 1, cks[0][1], cks[0][2], gw.tmp),
                    "and not for another seq")
            seq, h, _ = [c for c in cks if c[0] >= head][0]
            ev = w.must("GET", "/v1/audit/events?limit=1&cursor=%d" % (seq - 1) if seq > 1 else "/v1/audit/events?limit=1")
            T.eq(ev["items"][0]["hash"], h, "the checkpoint's head_hash is the hash of event seq %d" % seq)

        with T.section("stored checkpoints are Ed25519-signed"):
            rs = rows(gw)
            T.check(len(rs) >= 1, "checkpoint rows are stored", rs)
            T.check(all(a == "ed25519" for _, _, _, a in rs), "marked ed25519", rs)
            T.check(all(openssl_verifies(pub, q, h, s, gw.tmp) for q, h, s, _ in rs),
                    "every stored checkpoint verifies with the public key")
            v = w.must("GET", "/v1/audit/verify")
            T.eq(v.get("ok"), True, "verify passes", v)
            T.check(v.get("checkpoints", 0) >= 1, "and counts the records it checked", v)
            hz = w.must("GET", "/healthz")
            T.eq(hz.get("audit_chain"), "ok", "/healthz: audit_chain ok", hz)

        with T.section("a shutdown checkpoint, and restart keeps the key"):
            w.elevate("eng")  # more events, written after the last interval's checkpoint maybe
            head = w.must("GET", "/v1/audit/verify")["head_seq"]
            gw.stop()
            T.check(any(c[0] == head for c in checkpoints(since_last_start(gw))),
                    "the gateway signs the head seq %d when stopping" % head)
            gw.start()
            T.eq(open(keyfile, "rb").read(), key, "the same key after a restart")

    # item 2: events written after the last interval checkpoint, removed while the gateway is down
    with Gateway(conf_extra="checkpoint_interval = 1h\ncheckpoint_every = 100000") as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        with T.section("the newest events removed while the gateway is down"):
            w.elevate("eng")
            head = w.must("GET", "/v1/audit/verify")["head_seq"]
            gw.stop()
            stop_log = since_last_start(gw)
            T.check(any(c[0] == head for c in checkpoints(stop_log)),
                    "a checkpoint at the head seq %d is written at shutdown" % head)
            offline(gw, ("DELETE FROM audit WHERE seq > ?", (head - 3,)))
            gw.start()
            T.check(wait_until(lambda: "audit chain BROKEN" in since_last_start(gw), timeout=10),
                    "the restarted gateway logs the broken chain")
            T.check(not any(c[0] < head for c in checkpoints(since_last_start(gw))),
                    "it never signs the shortened head", checkpoints(since_last_start(gw)))
            rs = rows(gw)
            T.check(all(q <= head for q, _, _, _ in rs) and not any(q == head - 3 for q, _, _, _ in rs),
                    "and stores no checkpoint for it", rs)
            v = w.must("GET", "/v1/audit/verify")
            T.eq(v.get("ok"), False, "verify fails", v)
            T.check(re.search(r"regressed|truncated", v.get("reason") or ""), "naming the regression", v)
            hz = w.must("GET", "/healthz")
            T.eq(hz.get("audit_chain"), "broken", "/healthz reports the chain broken", hz)
            w.elevate("eng2")  # new events on the shortened chain
            gw.stop()
            T.check(not any(c[0] < head for c in checkpoints(since_last_start(gw))),
                    "nor at shutdown", checkpoints(since_last_start(gw)))

    with Gateway(conf_extra="checkpoint_interval = 1h\ncheckpoint_every = 5") as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        with T.section("checkpoint_every: a checkpoint every N events"):
            head = w.must("GET", "/v1/audit/verify")["head_seq"]
            ok = wait_until(lambda: any(c[0] >= head - 5 for c in checkpoints(since_last_start(gw))), timeout=15)
            T.check(ok, "a checkpoint within 5 events of the head seq %d without waiting an hour" % head,
                    checkpoints(since_last_start(gw)))

    with Gateway(conf_extra="checkpoint_interval = 1s") as gw:
        gw.start()
        w = world(gw, gw.bootstrap())

        with T.section("a forged checkpoint row is reported"):
            head = w.must("GET", "/v1/audit/verify")["head_seq"]
            wait_until(lambda: any(c[0] >= head for c in checkpoints(gw.log_text())), timeout=10)
            gw.stop()
            offline(gw, ("INSERT INTO audit_checkpoints (seq, head_hash, sig, time, alg) VALUES (?, ?, ?, ?, ?)",
                         (head + 100, "0" * 64, "f" * 128, "2026-01-01T00:00:00.000Z", "ed25519")))
            gw.start()
            T.check(wait_until(lambda: "bad signature" in gw.log_text(), timeout=5),
                    "the gateway logs the bad signature")
            v = w.must("GET", "/v1/audit/verify")
            T.eq(v.get("ok"), False, "verify fails", v)
            T.check("signature" in (v.get("reason") or ""), "naming the forged record", v)
            gw.stop()
            offline(gw, ("DELETE FROM audit_checkpoints WHERE seq = ?", (head + 100,)))
            gw.start()

        with T.section("a truncated tail is detected"):
            w.elevate("eng")  # more events
            head = w.must("GET", "/v1/audit/verify")["head_seq"]
            ok = wait_until(lambda: any(c[0] >= head for c in checkpoints(gw.log_text())), timeout=10)
            T.check(ok, "checkpoint at seq %d" % head)
            offline(gw, ("DELETE FROM audit WHERE seq > ?", (head - 2,)))
            v = w.must("GET", "/v1/audit/verify")
            T.eq(v.get("ok"), False, "verify fails although the remaining chain is consistent", v)
            T.check(re.search(r"truncated|regressed", v.get("reason") or ""), "the reason says the tail was cut", v)
            T.eq(v.get("broken_at"), head - 1, "broken_at names the first missing event")

    with Gateway(conf_extra="checkpoint_interval = 1s") as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        with T.section("a missing checkpoints table fails verification"):
            head = w.must("GET", "/v1/audit/verify")["head_seq"]
            wait_until(lambda: any(c[0] >= head for c in checkpoints(gw.log_text())), timeout=10)
            gw.stop()
            offline(gw, "DROP TABLE audit_checkpoints")
            gw.start()
            v = w.must("GET", "/v1/audit/verify")
            T.eq(v.get("ok"), False, "verify fails", v)
            T.check("checkpoint" in (v.get("reason") or ""), "naming the checkpoint records", v)
            gw.stop()


if __name__ == "__main__":
    main()
    T.done()
