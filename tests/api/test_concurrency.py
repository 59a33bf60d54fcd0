"""Many clients at once against a small database pool: every call is answered, every check is
recorded exactly once, and a client that stalls mid-request delays nobody else.

The gateway serves every client connection from a pool of `threads` threads (epoll), each
with a database connection to borrow per transaction; this runs it with threads = 2."""

import socket
import threading
import time

import lbtest
from lbtest import api, paginate

T = lbtest.Runner("api/concurrency")

CLIENTS, CALLS = 40, 8


def audit_count(gw, token, host):
    items, _ = paginate(gw, "/v1/audit/events?host=%s" % host, token, limit=200, max_pages=50)
    return len([e for e in items if e.get("type", "").startswith("access.check.")])


def main():
    gw = lbtest.Gateway(conf_extra="threads = 2")
    gw.start()
    w = lbtest.world(gw, gw.bootstrap())
    hosttok = w.host["hA1"]["token"]
    before = audit_count(gw, w.admin, "hA1")
    first = w.check("hA1", "eng")

    with T.section("%d clients x %d calls, 2 database connections" % (CLIENTS, CALLS)):
        res = {"check": 0, "read": 0, "bad": []}
        lock = threading.Lock()

        def client(i):
            for k in range(CALLS):
                try:
                    if (i + k) % 2 == 0:
                        st, js, text = api(gw, "POST", "/v1/check",
                                           {"user": "eng", "service": "sshd", "tty": "ssh"},
                                           token=hosttok, timeout=20)
                        ok = st == 200 and js and js.get("decision") == first.get("decision") \
                            and lbtest.is_uuid(js.get("decision_id"))
                        kind = "check"
                    else:
                        st, js, text = api(gw, "GET", "/v1/requests?limit=5", token=w.tok["eng"],
                                           timeout=20)
                        ok = st == 200 and js and isinstance(js.get("items"), list)
                        kind = "read"
                except OSError as e:
                    ok, kind, st, text = False, "error", 0, str(e)
                with lock:
                    if ok:
                        res[kind] += 1
                    else:
                        res["bad"].append("%s %d %s" % (kind, st, text[:120]))

        ths = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        t0 = time.monotonic()
        for t in ths:
            t.start()
        for t in ths:
            t.join(max(1.0, 90 - (time.monotonic() - t0)))
        T.check(not any(t.is_alive() for t in ths), "all clients finished within 90 s")
        T.eq(res["bad"][:3], [], "every call answered 200 with a sane body")
        T.eq(res["check"] + res["read"], CLIENTS * CALLS, "answers counted")
        T.eq(audit_count(gw, w.admin, "hA1"), before + 1 + res["check"],
             "each check is exactly one audit event")
        T.eq(w.must("GET", "/v1/audit/verify", expect=200).get("ok"), True,
             "the audit chain verifies after the burst")

    with T.section("clients stalled mid-request hold no database connection"):
        stalled = []
        for _ in range(6):  # more than the pool's 2 connections
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            s.sendall(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                      hosttok.encode() + b"\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 200\r\n\r\n{\"user\":")
            stalled.append(s)
        time.sleep(0.3)
        slowest = 0.0
        for i in range(10):
            t1 = time.monotonic()
            st, js, _ = api(gw, "POST", "/v1/check", {"user": "eng", "service": "sshd"},
                            token=hosttok, timeout=10)
            slowest = max(slowest, time.monotonic() - t1)
            T.check(st == 200 and js and js.get("decision") in ("allow", "deny"),
                    "check %d answered while 6 clients stall" % i, "%d" % st)
        T.check(slowest < 2.0, "no check waited on the stalled clients (slowest %.3f s < 2 s)" %
                slowest)
        for s in stalled:
            s.close()
        T.check(gw.alive(), "gateway still running")

    with T.section("the pool comes back: many short connections in a row"):
        ok = 0
        for i in range(60):
            st, _, _ = api(gw, "GET", "/v1/requests?limit=1", token=w.tok["eng"], timeout=10)
            ok += st == 200
        T.eq(ok, 60, "60 one-request connections answered")
        T.check("database connections busy" not in gw.log_text(),
                "no reader ever waited out the pool")

    gw.close()
    T.done()


main()
