"""kill -9 during a burst of writes: every acknowledged write survives, the chain verifies,
replays create no duplicates."""

import http.client
import threading
import time

import lbtest
from lbtest import api, paginate

T = lbtest.Runner("api/durability")

N_BATCHES, PER_BATCH = 30, 10


def main():
    gw = lbtest.Gateway()
    gw.start()
    w = lbtest.world(gw, gw.bootstrap())
    w.elevate("eng", "4h")
    hosttok = w.host["hA1"]["token"]
    hA1 = w.host["hA1"]["id"]
    all_batches = []
    acked_events = set()
    acked_requests = []

    for rnd in (1, 2):
        with T.section("round %d: burst and kill -9" % rnd):
            batches = [[{"id": lbtest.new_uuid(), "time": lbtest.now_rfc3339(),
                         "type": "session.start" if i % 2 else "session.end", "actor": "eng",
                         "details": {"round": rnd, "batch": b, "i": i}} for i in range(PER_BATCH)]
                       for b in range(N_BATCHES)]
            all_batches += batches
            stats = {"ev_ok": 0, "ev_fail": 0, "rq_ok": 0, "rq_fail": 0}
            lock = threading.Lock()
            half = threading.Event()
            stop = threading.Event()

            def send_events(part):
                for b in batches[part::3]:
                    try:
                        st, js, _ = api(gw, "POST", "/v1/audit/events", {"events": b}, token=hosttok, timeout=5)
                    except (OSError, http.client.HTTPException):
                        st, js = 0, None
                    with lock:
                        if 200 <= st < 300 and js and js.get("accepted", 0) + js.get("duplicates", 0) == len(b):
                            acked_events.update(e["id"] for e in b)
                            stats["ev_ok"] += 1
                            if stats["ev_ok"] >= N_BATCHES // 3:
                                half.set()
                        else:
                            stats["ev_fail"] += 1
                            if st:
                                stats["ev_status_%d" % st] = stats.get("ev_status_%d" % st, 0) + 1

            def send_requests():
                for i in range(40):
                    if stop.is_set():
                        break
                    try:
                        st, js, _ = api(gw, "POST", "/v1/requests", w.request_body(), token=w.tok["eng"], timeout=5)
                    except (OSError, http.client.HTTPException):
                        st, js = 0, None
                    with lock:
                        if st == 201 and js and js.get("id"):
                            acked_requests.append(js["id"])
                            stats["rq_ok"] += 1
                        else:
                            stats["rq_fail"] += 1
                            if st:
                                stats["rq_status_%d" % st] = stats.get("rq_status_%d" % st, 0) + 1

            # three event writers and one request writer, so writes are in flight when the kill lands
            th = [threading.Thread(target=send_events, args=(p,)) for p in range(3)] + \
                 [threading.Thread(target=send_requests)]
            for t in th:
                t.start()
            T.check(half.wait(20), "a third of the batches acknowledged before the kill")
            gw.kill9()
            for t in th:
                t.join(60)
            stop.set()
            T.check(not any(t.is_alive() for t in th), "writer threads finished")
            T.note("round %d: %s" % (rnd, stats))
            if stats["ev_ok"] == N_BATCHES:
                T.note("all batches were acknowledged before the kill landed (the kill was late)")
            gw.start()

            items, _ = paginate(gw, "/v1/audit/events", w.admin)
            ids = [i.get("id") for i in items if i.get("host") in (hA1, "hA1")]
            lost = acked_events - set(ids)
            T.check(not lost, "every acknowledged event is present after kill -9 (%d acked)" % len(acked_events),
                    sorted(lost)[:5])
            T.eq(len(ids), len(set(ids)), "no event stored twice")
            missing = []
            for rid in acked_requests:
                st, js, _ = w.call("GET", "/v1/requests/" + rid, who="eng")
                if st != 200:
                    missing.append(rid)
            T.check(not missing, "every acknowledged request is present (%d acked)" % len(acked_requests), missing[:5])
            v = w.must("GET", "/v1/audit/verify", expect=200)
            T.eq(v.get("ok"), True, "audit chain verifies after kill -9", v)

    with T.section("replay every batch"):
        items, _ = paginate(gw, "/v1/audit/events", w.admin)
        before = set(i.get("id") for i in items)
        accepted = dups = 0
        bad = []
        for b in all_batches:
            st, js, text = api(gw, "POST", "/v1/audit/events", {"events": b}, token=hosttok)
            if st not in (200, 201) or not js:
                bad.append("%d %s" % (st, text[:100]))
                continue
            accepted += js.get("accepted", 0)
            dups += js.get("duplicates", 0)
            want_new = len([e for e in b if e["id"] not in before])
            if js.get("accepted") != want_new:
                bad.append("accepted %s want %d" % (js.get("accepted"), want_new))
        T.check(not bad, "replays answered with the right accepted counts", bad[:5])
        total = len(all_batches) * PER_BATCH
        T.eq(accepted + dups, total, "accepted + duplicates = events replayed")
        items, _ = paginate(gw, "/v1/audit/events", w.admin)
        ids = [i.get("id") for i in items]
        sent = set(e["id"] for b in all_batches for e in b)
        T.eq(len([i for i in ids if i in sent]), total, "exactly one row per event sent")
        T.eq(len(ids), len(set(ids)), "no duplicates after replay")
        again = [api(gw, "POST", "/v1/audit/events", {"events": b}, token=hosttok)[1] for b in all_batches]
        T.check(all(j and j.get("accepted") == 0 and j.get("duplicates") == PER_BATCH for j in again),
                "second replay: everything is a duplicate")
        v = w.must("GET", "/v1/audit/verify", expect=200)
        T.eq(v.get("ok"), True, "audit chain verifies after replays")
    with T.section("the same batch from four connections at once: stored once"):
        batch = [{"id": lbtest.new_uuid(), "time": lbtest.now_rfc3339(), "type": "session.start",
                  "actor": "eng", "details": {"race": i}} for i in range(50)]
        out = [None] * 4
        bar = threading.Barrier(4)

        def race(k):
            try:
                bar.wait(5)
            except threading.BrokenBarrierError:
                pass
            out[k] = api(gw, "POST", "/v1/audit/events", {"events": batch}, token=hosttok, timeout=30)

        ths = [threading.Thread(target=race, args=(k,)) for k in range(4)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
        ok = [o for o in out if o and o[0] in (200, 201) and o[1]]
        T.eq(len(ok), 4, "all four answered 2xx", [o and o[0] for o in out])
        T.eq(sum(o[1].get("accepted", 0) for o in ok), 50, "accepted adds up to 50 over the four")
        T.eq(sum(o[1].get("duplicates", 0) for o in ok), 150, "duplicates add up to 150")
        ids = set(e["id"] for e in batch)
        items, _ = paginate(gw, "/v1/audit/events", w.admin)
        T.eq(len([i for i in items if i.get("id") in ids]), 50, "50 rows, no duplicates")

    with T.section("idle and half-sent connections do not starve others"):
        import socket
        socks = []
        for i in range(30):
            try:
                c = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
                if i % 2:
                    c.sendall(b"POST /v1/audit/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
                else:
                    c.sendall(b"GET /v1/tenants HTTP/1.1\r\nHost: x\r\n")
                socks.append(c)
            except OSError:
                break
        T.eq(len(socks), 30, "30 slow connections opened")
        t0 = time.monotonic()
        try:
            st = api(gw, "GET", "/healthz", timeout=10)[0]
        except (OSError, http.client.HTTPException) as e:
            st = repr(e)
        T.check(st == 200 and time.monotonic() - t0 < 5,
                "GET /healthz answers within 5s while 30 slow clients hold connections",
                "%s after %.1fs" % (st, time.monotonic() - t0))
        T.eq(w.check("hA1", "eng").get("decision") in ("allow", "deny"), True, "a check works meanwhile")
        for c in socks:
            c.close()
        T.check(gw.alive(), "gateway alive after the slow clients went away")

    with T.section("database locked by another process: 503 store_busy, never a grant"):
        w.elevate("eng2", "1h")
        rid = w.new_request("eng2")["id"]
        w.must("POST", "/v1/requests/%s/approve" % rid, {"reason": "ok"}, who="ownA1", expect=200)
        T.eq(w.check("hA1", "eng2").get("decision"), "allow", "eng2 allowed before the lock")
        n_ten = len(paginate(gw, "/v1/tenants", w.admin)[0])
        # SQLite: BEGIN EXCLUSIVE on the file; PostgreSQL: LOCK TABLE ... IN EXCLUSIVE MODE on
        # every table from another session (gw.hold_lock): writers wait, the gateway must not
        # wait unbounded
        with gw.hold_lock():
            res = {}

            def call(key, method, path, body, tok):
                t0 = time.monotonic()
                try:
                    res[key] = api(gw, method, path, body, token=tok, timeout=40) + (time.monotonic() - t0,)
                except (OSError, http.client.HTTPException) as e:
                    res[key] = (0, None, repr(e), time.monotonic() - t0)

            ths = [threading.Thread(target=call, args=("write", "POST", "/v1/tenants", {"name": "while-locked"},
                                                       w.admin)),
                   threading.Thread(target=call, args=("check", "POST", "/v1/check",
                                                       {"user": "eng2", "service": "sshd"}, hosttok))]
            for t in ths:
                t.start()
            for t in ths:
                t.join(45)
        for key in ("write", "check"):
            st, js, text, dt = res.get(key, (0, None, "no answer", 0))
            T.check(st == 503 and lbtest.err_code(js) == "store_busy",
                    "%s while the db is locked -> 503 store_busy (%.1fs)" % (key, dt), "%d %s" % (st, text[:200]))
            T.check(dt < 30, "%s: bounded wait (%.1fs < 30s)" % (key, dt))
        T.check(res.get("check", (0, {}))[1] is None or res["check"][1].get("decision") != "allow",
                "no allow decision while the store is unavailable")
        T.check(gw.alive(), "gateway still running after the lock")
        T.eq(len(paginate(gw, "/v1/tenants", w.admin)[0]), n_ten, "the refused write left nothing behind")
        T.eq(w.check("hA1", "eng2").get("decision"), "allow", "after the lock is released: allow again")
        T.status(api(gw, "POST", "/v1/tenants", {"name": "after-lock"}, token=w.admin), 201, None,
                 "writes work again after the lock")
        v = w.must("GET", "/v1/audit/verify", expect=200)
        T.eq(v.get("ok"), True, "audit chain verifies after the lock")

    gw.close()
    T.done()


main()
