"""Audit store: every event type, host batches (idempotent), filters, reader scope, hash chain, tampering."""

import hashlib
import json
import re
import time

import lbtest
from lbtest import api, err_code, is_uuid, parse_time, paginate

T = lbtest.Runner("api/audit")

TYPES = ["lockbox.request.create", "lockbox.request.internal_approve", "lockbox.request.approve",
         "lockbox.request.deny", "lockbox.request.expire", "lockbox.request.revoke",
         "lockbox.request.cancel", "lockbox.request.complete", "pim.elevation.activate",
         "pim.elevation.expire", "access.check.allow", "access.check.deny", "session.start",
         "session.end", "tenant.lockbox.enable", "tenant.lockbox.disable", "host.enroll", "host.disable"]
HASHED = ["seq", "id", "time", "type", "tenant", "subscription", "level", "actor", "host", "request",
          "details", "prev_hash"]


def ev(**kw):
    return dict({"id": lbtest.new_uuid(), "time": lbtest.now_rfc3339(), "type": "session.start",
                 "actor": "eng", "details": {"tty": "pts/1"}}, **kw)


def main():
    gw = lbtest.Gateway(conf_extra="pending_ttl = 3s\nsession_lost_after = 1s")
    gw.start()
    w = lbtest.world(gw, gw.bootstrap())
    admin = w.admin
    A, B, A1 = w.tenant["A"], w.tenant["B"], w.sub["A1"]
    hA1 = w.host["hA1"]["id"]
    HA1 = (hA1, "hA1")     # events may name the host by id or by name
    all_events = lambda: paginate(gw, "/v1/audit/events", admin)[0]

    def host_post(batch, host="hA1"):
        return api(gw, "POST", "/v1/audit/events", {"events": batch}, token=w.host[host]["token"])

    rq = {}
    with T.section("actions that write events"):
        # requests: each created and acted on at once (pending_ttl is 3s here)
        w.elevate("eng", "1h")
        w.elevate("eng2", "2s")
        rq["approve"] = w.new_request("eng")["id"]
        w.must("POST", "/v1/requests/%s/approve" % rq["approve"], {"reason": "ok"}, who="ownA1", expect=200)
        rq["deny"] = w.new_request("eng")["id"]
        w.must("POST", "/v1/requests/%s/deny" % rq["deny"], {"reason": "no"}, who="gadmA", expect=200)
        rq["cancel"] = w.new_request("eng")["id"]
        w.must("POST", "/v1/requests/%s/cancel" % rq["cancel"], {"reason": "x"}, who="eng", expect=200)
        rq["internal_approve"] = w.new_request("eng", scope="tenant", tenant="A", hosts=["*"])["id"]
        w.must("POST", "/v1/requests/%s/internal-approve" % rq["internal_approve"], {"reason": "ok"},
               who="iapp", expect=200)
        w.must("POST", "/v1/requests/%s/approve" % rq["internal_approve"], {"reason": "ok"}, who="gadmA",
               expect=200)
        rq["revoke"] = w.new_request("eng")["id"]
        w.must("POST", "/v1/requests/%s/approve" % rq["revoke"], {"reason": "ok"}, who="lbappA", expect=200)
        w.must("POST", "/v1/requests/%s/revoke" % rq["revoke"], {"reason": "end"}, who="eng", expect=200)
        rq["complete"] = w.new_request("eng", duration="2s")["id"]
        w.must("POST", "/v1/requests/%s/approve" % rq["complete"], {"reason": "ok"}, who="ownA1", expect=200)
        rq["expire"] = w.new_request("eng", sub="A2")["id"]
        chk_allow = w.check("hA1", "eng")
        chk_deny = w.check("hA2", "eng2")
        T.eq(chk_allow.get("decision"), "allow", "a check that allows")
        T.eq(chk_deny.get("decision"), "deny", "a check that denies")
        w.must("PUT", "/v1/tenants/%s/lockbox" % A, {"enabled": False}, who="gadmA", expect=200)
        w.must("PUT", "/v1/tenants/%s/lockbox" % A, {"enabled": True}, who="gadmA", expect=200)
        hx = w.add_host("hA1x", "A1")
        w.must("POST", "/v1/hosts/%s/disable" % hx["id"], {}, expect=200)
        s1, s2 = ev(type="session.start", request=rq["approve"], details={"decision_id": chk_allow["decision_id"]}), \
            ev(type="session.end", request=rq["approve"], details={"decision_id": chk_allow["decision_id"]})
        st, js, text = host_post([s1, s2])
        T.check(st in (200, 201) and js == {"accepted": 2, "duplicates": 0} or
                (st in (200, 201) and js.get("accepted") == 2 and js.get("duplicates") == 0),
                "host sends session.start + session.end -> accepted 2", "%d %s" % (st, text[:200]))
        got = lbtest.wait_until(lambda: all(st_ in ("expired", "completed") for st_ in (
            w.must("GET", "/v1/requests/" + rq["expire"], who="eng")["state"],
            w.must("GET", "/v1/requests/" + rq["complete"], who="eng")["state"])), timeout=10)
        T.check(got, "sweeper expired one request and completed another")
        lbtest.wait_until(lambda: any(e.get("type") == "pim.elevation.expire" for e in all_events()), timeout=6)

    with T.section("every event type appears"):
        evs = all_events()
        types = set(e.get("type") for e in evs)
        for t in TYPES:
            T.check(t in types, "event %s present" % t)
        for action, rid in rq.items():
            ts = [e.get("type") for e in evs if e.get("request") == rid]
            T.check("lockbox.request.create" in ts and "lockbox.request." + action in ts,
                    "request for %s has create and %s events" % (action, action), ts)
        dis = [e for e in evs if e.get("type") == "tenant.lockbox.disable"]
        T.check(dis and dis[0].get("tenant") == A and dis[0].get("level") == "tenant"
                and dis[0].get("subscription") is None and dis[0].get("actor") in (w.user["gadmA"], "gadma"),
                "tenant.lockbox.disable: tenant A, level tenant, subscription null, actor gadmA", dis[:1])
        enr = [e for e in evs if e.get("type") == "host.enroll"]
        T.check(len(enr) == 4, "host.enroll once per enrolled host (4)", len(enr))
        hd = [e for e in evs if e.get("type") == "host.disable"]
        T.check(len(hd) == 1 and hd[0].get("host") in (hx["id"], "hA1x"), "host.disable names the host", hd)
        act = [e for e in evs if e.get("type") == "pim.elevation.activate"]
        T.eq(len(act), 2, "pim.elevation.activate for each elevation")
        T.check(all(e.get("actor") in (w.user["eng"], "eng", w.user["eng2"], "eng2") for e in act),
                "elevation events name the engineer")

    with T.section("event schema"):
        bad = []
        for e in evs:
            probs = []
            if not is_uuid(e.get("id")):
                probs.append("id")
            if parse_time(e.get("time")) is None or not str(e.get("time")).endswith("Z"):
                probs.append("time")
            # provider-side users' directory events are provider-level (DESIGN.md "Audit")
            levels = ("subscription", "tenant") + (
                ("provider",) if str(e.get("type")).startswith("directory.") else ())
            if e.get("level") not in levels:
                probs.append("level")
            if not isinstance(e.get("details"), dict):
                probs.append("details")
            if not isinstance(e.get("seq"), int):
                probs.append("seq")
            for k in ("hash", "prev_hash"):
                if not re.fullmatch(r"[0-9a-f]{64}", str(e.get(k))):
                    probs.append(k)
            for k in HASHED:
                if k not in e:
                    probs.append("missing " + k)
            if probs:
                bad.append((e.get("type"), probs))
        T.check(not bad, "every event has the schema fields (%d events)" % len(evs), bad[:5])

    with T.section("hash chain"):
        seqs = [e.get("seq") for e in evs]
        T.check(seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else False,
                "seq ascends by 1 with no gap", seqs[:10])
        T.eq(evs[0].get("prev_hash") if evs else None, "0" * 64, "first prev_hash is 64 zeros")
        links = [i for i in range(1, len(evs)) if evs[i].get("prev_hash") != evs[i - 1].get("hash")]
        T.check(not links, "each prev_hash = the previous hash", links[:5])
        mism = []
        for e in evs:
            fields = {k: e.get(k) for k in HASHED}
            if e.get("source") is not None:   # schema 6: hashed when set
                fields["source"] = e["source"]
            body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            if hashlib.sha256(body.encode()).hexdigest() != e.get("hash"):
                mism.append((e.get("seq"), e.get("type"), body[:300]))
        T.check(not mism, "hash = SHA-256 of the compact sorted JSON (docs/API.md)", mism[:5])
        v = w.must("GET", "/v1/audit/verify", expect=200)
        T.eq(v.get("ok"), True, "GET /v1/audit/verify ok")
        T.eq(v.get("count"), len(evs), "verify count = number of events")
        T.eq(v.get("head_seq"), evs[-1].get("seq"), "verify head_seq = last seq")
        T.eq(v.get("head_hash"), evs[-1].get("hash"), "verify head_hash = last hash")
        # the chain is one order over every tenant: provider admins only (issue 13 item 8)
        T.status(w.call("GET", "/v1/audit/verify", who="gadmA"), 403, "forbidden",
                 "a global admin verifies the whole chain")

    with T.section("host batches: idempotent, cannot speak for another host"):
        hostev = lambda: [e for e in all_events() if e.get("type", "").startswith("session.")]
        n0 = len(all_events())
        batch = [ev(type="session.start", request=rq["approve"]) for _ in range(3)] + \
                [ev(type="session.end", request=rq["approve"]) for _ in range(2)]
        st, js, text = host_post(batch)
        T.check(st in (200, 201) and js.get("accepted") == 5 and js.get("duplicates") == 0,
                "batch of 5 -> accepted 5, duplicates 0", "%d %s" % (st, text[:200]))
        T.eq(len(all_events()), n0 + 5, "5 new events")
        st, js, text = host_post(batch)
        T.check(st in (200, 201) and js.get("accepted") == 0 and js.get("duplicates") == 5,
                "replay -> accepted 0, duplicates 5", "%d %s" % (st, text[:200]))
        T.eq(len(all_events()), n0 + 5, "replay adds no rows")
        mixed = batch[:2] + [ev() for _ in range(3)]
        st, js, text = host_post(mixed)
        T.check(st in (200, 201) and js.get("accepted") == 3 and js.get("duplicates") == 2,
                "2 old + 3 new -> accepted 3, duplicates 2", "%d %s" % (st, text[:200]))
        T.eq(len(all_events()), n0 + 8, "3 more rows")
        st, js, text = host_post(batch[:1], host="hB1")
        T.check(st in (200, 201) and js.get("accepted") == 0 and js.get("duplicates") == 1,
                "another host replaying the id -> duplicate", "%d %s" % (st, text[:200]))
        same = [e for e in all_events() if e.get("id") == batch[0]["id"]]
        T.check(len(same) == 1 and same[0].get("host") in HA1 and same[0].get("tenant") == A,
                "the stored event still belongs to hA1 / tenant A", same)
        e1 = ev(type="session.start")
        st, js, text = host_post([e1, dict(e1)])
        n_same = len([e for e in all_events() if e.get("id") == e1["id"]])
        T.check((st == 400 and n_same == 0) or (st in (200, 201) and js.get("accepted") == 1
                                                and js.get("duplicates") == 1 and n_same == 1),
                "same id twice in one batch: 400, or accepted 1 + duplicates 1", "%d %s n=%d" % (st, text[:200], n_same))
        stored = [e for e in all_events() if e.get("id") == batch[0]["id"]][0]
        T.check((stored.get("tenant"), stored.get("subscription"), stored.get("level")) == (A, A1, "subscription")
                and stored.get("host") in HA1, "gateway set tenant/subscription/host/level from enrollment", stored)
        T.eq((stored.get("actor"), stored.get("request"), stored.get("details"), stored.get("type")),
             ("eng", rq["approve"], {"tty": "pts/1"}, "session.start"), "sent fields kept")
        T.check(abs(parse_time(stored.get("time")) - parse_time(batch[0]["time"])) < 0.002, "sent time kept")
        forged = ev(type="session.start")
        forged.update({"host": w.host["hB1"]["id"], "tenant": B, "subscription": w.sub["B1"], "level": "tenant",
                       "seq": 1, "hash": "0" * 64})
        st, js, text = host_post([forged])
        got = [e for e in all_events() if e.get("id") == forged["id"]]
        if st == 400:
            T.check(err_code(js) == "unknown_field" and not got,
                    "forged host/tenant fields -> 400 unknown_field, nothing stored", text[:200])
        else:
            T.check(st in (200, 201) and len(got) == 1 and got[0].get("host") in HA1 and got[0].get("tenant") == A
                    and got[0].get("subscription") == A1, "forged host/tenant fields overridden by the gateway",
                    "%d %s %s" % (st, text[:200], got))
        st, js, text = host_post([ev(type="lockbox.request.approve")])
        T.check(st in (400, 403), "host cannot send lockbox.request.* events", "%d %s" % (st, text[:200]))
        st, js, text = host_post([ev(type="tenant.lockbox.disable")])
        T.check(st in (400, 403), "host cannot send tenant.* events", "%d %s" % (st, text[:200]))
        own = ev(type="access.check.allow", details={"decision": "allow", "user": "mallory",
                                                      "service": "sshd"})
        st, js, text = host_post([own])
        got = [e for e in all_events() if e.get("id") == own["id"]]
        T.check(st == 200 and len(got) == 1 and got[0]["source"] == "host" and
                got[0]["details"].get("verified") is False,
                "a host-made allow the gateway would not give is kept, marked verified=false",
                "%d %s %s" % (st, text[:200], got))
        T.eq(w.must("GET", "/v1/audit/verify", expect=200).get("ok"), True, "chain still verifies")

    with T.section("filters"):
        evs = all_events()

        def filt(q, pred, what, nonempty=True, who="admin"):
            items, _ = paginate(gw, "/v1/audit/events" + ("?" + q if q else ""), w.tok[who])
            bad = [i for i in items if not pred(i)]
            T.check(not bad and (items or not nonempty), "filter %s: %s (%d items)" % (q, what, len(items)),
                    bad[:2] if bad else "empty")
            return items

        filt("level=tenant", lambda e: e.get("level") == "tenant", "only tenant level")
        filt("level=subscription", lambda e: e.get("level") == "subscription", "only subscription level")
        filt("tenant=" + A, lambda e: e.get("tenant") == A, "only tenant A")
        filt("tenant=" + B, lambda e: e.get("tenant") == B, "only tenant B")
        filt("subscription=" + A1, lambda e: e.get("subscription") == A1, "only A1")
        items, _ = paginate(gw, "/v1/audit/events?host=hA1", admin)
        hq = "hA1" if items else hA1     # the contract does not say whether events name hosts by id or name
        filt("host=" + hq, lambda e: e.get("host") == hq, "only hA1")
        filt("type=access.check.deny", lambda e: e.get("type") == "access.check.deny", "only that type")
        items = filt("request=" + rq["revoke"], lambda e: e.get("request") == rq["revoke"], "only that request")
        T.eq([i.get("type") for i in items if i.get("type", "").startswith("lockbox.")],
             ["lockbox.request.create", "lockbox.request.approve", "lockbox.request.revoke"],
             "request filter: create, approve, revoke in order")
        filt("tenant=%s&type=lockbox.request.approve" % A,
             lambda e: e.get("tenant") == A and e.get("type") == "lockbox.request.approve", "combined")
        mid = evs[len(evs) // 2]
        tm = parse_time(mid["time"])
        q = lambda s: s.replace("+", "%2B")
        items = filt("since=" + q(mid["time"]), lambda e: parse_time(e.get("time")) >= tm - 0.0005, "time >= since")
        T.check(any(i.get("id") == mid["id"] for i in items), "since is inclusive")
        filt("until=" + q(mid["time"]), lambda e: parse_time(e.get("time")) <= tm + 0.0005, "time <= until")
        off = lbtest.rfc3339(tm - 3600).replace("Z", "-01:00")
        items = filt("since=" + q(off), lambda e: parse_time(e.get("time")) >= tm - 0.0005,
                     "since with a -01:00 offset")
        far = filt("since=2999-01-01T00:00:00Z", lambda e: False, "future since", nonempty=False)
        T.eq(far, [], "since in the future -> no events")
        st, js, text = w.call("GET", "/v1/audit/events?level=galaxy")
        T.check(st == 400 and err_code(js) in ("bad_query", "bad_value"), "level=galaxy -> 400", text[:200])

    with T.section("readers"):
        filt("", lambda e: e.get("tenant") == A, "global admin of A sees only A", who="gadmA")
        filt("", lambda e: e.get("tenant") == A, "lockbox approver of A sees only A", who="lbappA")
        filt("", lambda e: e.get("tenant") == B, "global admin of B sees only B", who="gadmB")
        filt("", lambda e: e.get("subscription") == A1 and e.get("level") == "subscription",
             "owner of A1 sees only A1 subscription-level events", who="ownA1")
        for who in ("eng", "iapp", "custA", "nobody"):
            T.status(w.call("GET", "/v1/audit/events", who=who), 403, "forbidden", "%s reads audit events" % who)
        for who in ("eng", "lbappA", "ownA1", "custA"):
            T.status(w.call("GET", "/v1/audit/verify", who=who), 403, "forbidden", "%s verifies" % who)

    with T.section("sessions without an end get a session.lost when the grant ends"):
        ra = w.new_request("eng", duration="2s")["id"]
        w.must("POST", "/v1/requests/%s/approve" % ra, {"reason": "ok"}, who="ownA1", expect=200)
        rb = w.new_request("eng")["id"]
        w.must("POST", "/v1/requests/%s/approve" % rb, {"reason": "ok"}, who="ownA1", expect=200)
        batch = [ev(type="session.start", request=ra, details={"session": "sa1", "user": "eng"}),
                 ev(type="session.start", request=ra, details={"session": "sa2", "user": "eng"}),
                 ev(type="session.end", request=ra, details={"session": "sa2", "user": "eng"}),
                 ev(type="session.start", request=rb, details={"session": "sb1", "user": "eng"})]
        st, js, text = host_post(batch)
        T.check(st == 200 and js.get("accepted") == 4, "host sends 3 session.start, 1 session.end", text[:200])
        w.must("POST", "/v1/requests/%s/revoke" % rb, {"reason": "stop"}, who="gadmA", expect=200)

        def of_type(typ, rid):
            return [e for e in paginate(gw, "/v1/audit/events?type=%s&request=%s" % (typ, rid), admin)[0]]
        done = lbtest.wait_until(lambda: of_type("session.lost", ra), timeout=10)
        T.check(done, "the 2s grant ended and a session.lost appeared")
        lost = of_type("session.lost", ra)
        T.eq(sorted((e.get("details") or {}).get("session") for e in lost), ["sa1"],
             "exactly one session.lost, for the session that had no end (sa1)")
        if lost:
            T.check(lost[0].get("host") in HA1 and lost[0].get("tenant") == A,
                    "the session.lost keeps the session's host and tenant", lost[0])
        T.eq(sorted((e.get("details") or {}).get("session") for e in of_type("session.end", ra)),
             ["sa2"], "the only session.end is the one the host sent")
        lost = of_type("session.lost", rb)
        T.eq([(e.get("details") or {}).get("session") for e in lost], ["sb1"], "revoke records sb1 lost at once")
        T.eq(of_type("session.end", rb), [], "and no session.end for it")
        T.eq(w.must("GET", "/v1/audit/verify", expect=200).get("ok"), True, "chain verifies")

    with T.section("append-only and tamper evidence"):
        evs = all_events()
        gw.stop()
        acols = gw.sql_columns("audit")
        T.check("prev_hash" in acols and "hash" in acols, "found the audit table (%s)" % gw.store,
                acols)
        k = evs[len(evs) // 2]["seq"]
        n_rows = gw.sql("SELECT count(*) FROM audit")[0][0]
        col = next(c for c in ("details", "details_json", "actor", "type") if c in acols)
        for what, q in (("UPDATE", "UPDATE audit SET %s = %s WHERE seq = ?" % (col, col)),
                        ("DELETE", "DELETE FROM audit WHERE seq = ?")):
            try:
                gw.sql_exec((q, (k,)))
                T.check(False, "%s on the audit table is refused" % what)
            except lbtest.DbError as e:
                T.check(True, "%s on the audit table is refused (%s)" % (what, e))
        if gw.store == "postgresql":
            # as the role the gateway logs in as, which owns the table: it holds no right to
            # change audit rows (schema version 14), so no TRUNCATE and no UPDATE of every row
            for what, q in (("TRUNCATE", "TRUNCATE audit"),
                            ("UPDATE of every row", "UPDATE audit SET %s = %s" % (col, col))):
                try:
                    gw.sql_exec(q)
                    T.check(False, "%s on the audit table is refused" % what)
                except lbtest.DbError as e:
                    T.check("permission denied" in str(e),
                            "%s on the audit table is refused: the role has no right (%s)"
                            % (what, e))
            # and should the owner grant the rights back, the triggers still refuse
            for what, q in (("UPDATE", "UPDATE audit SET %s = %s" % (col, col)),
                            ("TRUNCATE", "TRUNCATE audit")):
                try:
                    gw.sql_exec("GRANT UPDATE, DELETE, TRUNCATE ON audit TO CURRENT_USER", q)
                    T.check(False, "%s with the rights granted back is refused" % what)
                except lbtest.DbError as e:
                    T.check("append-only" in str(e),
                            "%s with the rights granted back is refused by a trigger (%s)"
                            % (what, e))
        T.eq(gw.sql("SELECT count(*) FROM audit")[0][0], n_rows,
             "every audit row is still there (%d)" % n_rows)
        trig = gw.sql_triggers("audit")
        T.check(trig, "audit table has triggers", trig)
        # what an attacker with the owner's rights does: triggers dropped (SQLite) or
        # disabled (PostgreSQL), then the row edited
        newval = '{"tampered":true}' if col.startswith("details") else "tampered"
        gw.sql_exec(("UPDATE audit SET %s = ? WHERE seq = ?" % col, (newval, k)), tamper=True)
        gw.start()
        st, v, text = w.call("GET", "/v1/audit/verify")
        T.eq(st, 200, "verify answers 200 on a broken chain")
        T.eq((v or {}).get("ok"), False, "verify reports ok=false after editing row seq %d" % k, text[:200])
        T.eq((v or {}).get("broken_at"), k, "broken_at = the edited seq")
        T.check(isinstance((v or {}).get("reason"), str), "verify gives a reason")
    gw.close()

    # -------------------------------------------------- signed checkpoints, tail truncation
    gw3 = lbtest.Gateway(conf_extra="checkpoint_interval = 1s")
    gw3.start()
    with T.section("signed checkpoints; truncating the tail is detected while the gateway runs"):
        import os
        import stat
        w3 = lbtest.world(gw3, gw3.bootstrap())
        w3.elevate("eng")
        for _ in range(3):
            w3.new_request("eng")
        v = w3.must("GET", "/v1/audit/verify", expect=200)
        head = v.get("head_seq")
        line_re = re.compile(r"audit checkpoint seq=(\d+) head_hash=([0-9a-f]{64}) sig=([0-9a-f]{128})")
        got = lbtest.wait_until(lambda: [m for m in line_re.finditer(gw3.log_text()) if int(m.group(1)) == head],
                                timeout=5)
        T.check(got, "a checkpoint line for seq %s appears in the log within 5s" % head, gw3.log_tail(5))
        keyf = os.path.join(gw3.tmp, "checkpoint.key")
        if got and os.path.exists(keyf):
            import subprocess
            m = got[-1]
            T.eq(m.group(2), v.get("head_hash"), "checkpoint head_hash = verify head_hash")
            T.eq(stat.S_IMODE(os.stat(keyf).st_mode), 0o600, "checkpoint key file has mode 0600")
            pub, msg, sig = (os.path.join(gw3.tmp, n) for n in ("pub.pem", "msg", "sig"))
            with open(pub, "w") as f:
                f.write(gw3.run("-c", gw3.conf, "--print-public-key").stdout)
            with open(msg, "wb") as f:
                f.write(("seq=%s head_hash=%s" % (m.group(1), m.group(2))).encode())
            with open(sig, "wb") as f:
                f.write(bytes.fromhex(m.group(3)))
            r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin",
                                "-in", msg, "-sigfile", sig], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True)
            T.eq(r.returncode, 0, "sig = Ed25519(key, 'seq=N head_hash=H'), checked with the public key",
                 r.stdout)
        else:
            T.check(False, "checkpoint key file %s exists" % keyf)
        gw3.sql_exec(("DELETE FROM audit WHERE seq > ?", (head - 3,)), tamper=True)
        st, v, text = w3.call("GET", "/v1/audit/verify")
        T.check(st == 200 and v.get("ok") is False and v.get("broken_at") == head - 2,
                "verify after deleting the last 3 events: ok=false, broken_at = %d" % (head - 2), text[:300])
        T.check(lbtest.wait_until(lambda: "BROKEN" in gw3.log_text() or "broken" in gw3.log_text(), timeout=5),
                "the next checkpoint logs the broken chain")
    gw3.close()
    T.done()


main()
