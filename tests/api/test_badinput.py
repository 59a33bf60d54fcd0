"""Bad input gets a clear 4xx error and changes nothing; odd-but-valid text is stored verbatim."""

import json
import socket
import urllib.parse

import lbtest
from lbtest import api, err_code, paginate

T = lbtest.Runner("api/badinput")


def raw_http(gw, method, path, body, token=None, timeout=15):
    """Send a request on a bare socket; tolerate the server closing while we still send.
    Returns (status or None, response text)."""
    u = urllib.parse.urlsplit(gw.url)
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" \
           % (method, path, u.hostname, u.port, len(body))
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    head += "Connection: close\r\n\r\n"
    data = b""
    try:
        s.sendall(head.encode())
        try:
            for i in range(0, len(body), 65536):
                s.sendall(body[i:i + 65536])
        except OSError:
            pass
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        for _ in range(10000):
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    text = data.decode("utf-8", errors="replace")
    try:
        return int(text.split(" ", 2)[1]), text
    except (IndexError, ValueError):
        return None, text


def main():
    gw = lbtest.Gateway()
    gw.start()
    w = lbtest.world(gw, gw.bootstrap())
    w.elevate("eng")
    A, A1 = w.tenant["A"], w.sub["A1"]
    rid = w.new_request("eng")["id"]            # customer_notified
    rapp = w.new_request("eng")["id"]
    w.must("POST", "/v1/requests/%s/approve" % rapp, {"reason": "ok"}, who="ownA1", expect=200)

    def snapshot():
        snap = {}
        for path, who in (("/v1/tenants", "admin"), ("/v1/subscriptions", "admin"),
                          ("/v1/hosts", "admin"), ("/v1/users", "admin"),
                          ("/v1/role-assignments", "admin"), ("/v1/tickets", "custA"),
                          ("/v1/elevations", "eng"), ("/v1/requests", "eng"),
                          ("/v1/audit/events", "admin")):
            items, _ = paginate(gw, path, w.tok[who])
            snap[path] = json.dumps(items, sort_keys=True)
        return snap

    base = snapshot()

    def rejected(label, resp, status, codes):
        """Assert the error and that nothing changed."""
        nonlocal base
        st, js, text = resp
        codes = (codes,) if isinstance(codes, str) else codes
        ok = st == status and (codes is None or err_code(js) in codes)
        T.check(ok, "%s -> %d %s" % (label, status, "|".join(codes or ())),
                None if ok else "got %d %s" % (st, text[:300]))
        if ok:
            msg = (js or {}).get("error", {}).get("message")
            T.check(isinstance(msg, str) and msg != "", "%s: error has a message" % label)
        now = snapshot()
        changed = [k for k in now if now[k] != base[k]]
        T.check(not changed, "%s: nothing changed" % label, changed)
        base = now

    # endpoint: (label, method, path, who, valid body, required fields, text fields)
    EP = [
        ("tenant", "POST", "/v1/tenants", "admin", {"name": "x"}, ["name"], ["name"]),
        ("subscription", "POST", "/v1/subscriptions", "admin", {"tenant": A, "name": "s"},
         ["tenant", "name"], ["name"]),
        ("host", "POST", "/v1/hosts", "admin", {"subscription": A1, "name": "hnew"},
         ["subscription", "name"], ["name"]),
        ("user", "POST", "/v1/users", "admin",
         {"login": "newu", "name": "N", "email": "n@example.test", "side": "provider"},
         ["login", "side"], ["login", "name", "email"]),
        ("role", "POST", "/v1/role-assignments", "admin", {"user": w.user["nobody"], "role": "engineer"},
         ["user", "role"], []),
        ("ticket", "POST", "/v1/tickets", "custA", {"tenant": A, "title": "t", "description": "d"},
         ["tenant", "title"], ["title", "description"]),
        ("elevation", "POST", "/v1/elevations", "eng",
         {"duration": "1h", "justification": "j", "totp": "123456"},
         ["justification"], ["justification", "totp"]),
        ("totp enroll", "POST", "/v1/users/self/totp", "eng", {"totp": "123456"}, [], ["totp"]),
        ("totp confirm", "POST", "/v1/users/self/totp/confirm", "eng", {"code": "123456"},
         ["code"], ["code"]),
        ("request", "POST", "/v1/requests", "eng", w.request_body(),
         ["ticket", "scope", "subscription", "hosts", "access", "justification"], ["justification"]),
        ("lockbox", "PUT", "/v1/tenants/%s/lockbox" % A, "gadmA", {"enabled": False}, ["enabled"], []),
        ("approve", "POST", "/v1/requests/%s/approve" % rid, "ownA1", {"reason": "r"}, [], ["reason"]),
        ("deny", "POST", "/v1/requests/%s/deny" % rid, "ownA1", {"reason": "r"}, ["reason"], ["reason"]),
        ("cancel", "POST", "/v1/requests/%s/cancel" % rid, "eng", {"reason": "r"}, [], ["reason"]),
        ("revoke", "POST", "/v1/requests/%s/revoke" % rapp, "ownA1", {"reason": "r"}, ["reason"], ["reason"]),
        ("check", "POST", "/v1/check", "hA1", {"user": "eng", "service": "sshd", "rhost": "10.0.0.1",
                                               "tty": "ssh"}, ["user", "service"],
         ["user", "service", "rhost", "tty"]),
    ]

    def wrong_type(v):
        if isinstance(v, bool):
            return "true"
        if isinstance(v, str):
            return 123
        if isinstance(v, list):
            return "x"
        if isinstance(v, dict):
            return []
        return "x"

    for (name, method, path, who, good, required, texts) in EP:
        with T.section("bad bodies: " + name):
            call = lambda body=None, raw=None: w.call(method, path, body, who=who, raw=raw)
            g = json.dumps(good)
            rejected("%s: truncated JSON" % name, call(raw=g[:-1]), 400, "bad_json")
            rejected("%s: trailing garbage" % name, call(raw=g + " x"), 400, "bad_json")
            if required:   # with no required field an empty body is a valid call
                rejected("%s: empty body" % name, call(raw=b""), 400, ("bad_json", "missing_field"))
            rejected("%s: not an object" % name, call(raw="[1,2]"), 400, ("bad_json", "bad_type"))
            rejected("%s: JSON null" % name, call(raw="null"), 400, ("bad_json", "bad_type"))
            k0 = list(good)[0]
            dup = '{"%s": %s, %s' % (k0, json.dumps(good[k0]), g[1:])
            rejected("%s: duplicate key %s" % (name, k0), call(raw=dup), 400, "bad_json")
            rejected("%s: unknown field" % name, call(dict(good, zzz_unknown=1)), 400, "unknown_field")
            for f in required:
                b = dict(good)
                del b[f]
                # subscription is required only with scope=subscription: bad_value is fair there
                rejected("%s: missing %s" % (name, f), call(b), 400,
                         ("missing_field", "bad_value") if f == "subscription" else "missing_field")
            for f in good:
                rejected("%s: wrong type for %s" % (name, f), call(dict(good, **{f: wrong_type(good[f])})),
                         400, "bad_type")
            for f in texts:
                for cc, cname in (("\n", "newline"), ("\x1b", "ESC"), ("\x00", "NUL"), ("\x7f", "DEL")):
                    v = good[f] + cc + "x"
                    # \u0000 is valid JSON (RFC 8259) that jansson refuses as bad_json: accepted too
                    rejected("%s: %s with %s" % (name, f, cname), call(dict(good, **{f: v})), 400,
                             ("bad_text", "bad_json") if cc == "\x00" else "bad_text")
                bad_utf8 = json.dumps(dict(good, **{f: "@@BAD@@"})).encode().replace(b"@@BAD@@", b"ok\xff\xfe")
                rejected("%s: %s with invalid UTF-8" % (name, f), call(raw=bad_utf8), 400,
                         ("bad_text", "bad_json"))

    with T.section("values out of range"):
        ebody = {"duration": "1h", "justification": "j"}
        for d in ("0s", "400d", "abc", "-1h", "", "1.5h", "h", "99999999999999999999h", " 1h", "1h "):
            rejected("elevation duration %r" % d, w.call("POST", "/v1/elevations", dict(ebody, duration=d), who="eng"),
                     400, "bad_duration")
            rejected("request duration %r" % d,
                     w.call("POST", "/v1/requests", dict(w.request_body(), duration=d), who="eng"),
                     400, "bad_duration")
        rejected("elevation duration 3600 (number)",
                 w.call("POST", "/v1/elevations", dict(ebody, duration=3600), who="eng"), 400, "bad_type")
        for f, v in (("scope", "galaxy"), ("access", "telnet"), ("hosts", []), ("hosts", [1])):
            rejected("request %s=%r" % (f, v), w.call("POST", "/v1/requests", dict(w.request_body(), **{f: v}),
                                                       who="eng"), 400, ("bad_value", "bad_type"))
        rejected("user side=martian", w.call("POST", "/v1/users", {"login": "m", "name": "m",
                                                                   "email": "m@x", "side": "martian"}),
                 400, "bad_value")
        rejected("role=emperor", w.call("POST", "/v1/role-assignments",
                                        {"user": w.user["nobody"], "role": "emperor"}), 400, "bad_value")

    with T.section("times out of range"):
        for q in ("since=1969-12-31T23:59:59Z", "until=10000-01-01T00:00:00Z", "since=garbage",
                  "since=2026-13-45T00:00:00Z", "until=2026-11-23T25:00:00Z", "since=0"):
            rejected("GET /v1/audit/events?%s" % q, w.call("GET", "/v1/audit/events?" + q), 400, "bad_time")
        for t in ("1969-12-31T23:59:59Z", "10000-01-01T00:00:00Z", "yesterday", "", "2026-02-30T00:00:00Z"):
            ev = {"id": lbtest.new_uuid(), "time": t, "type": "session.start", "actor": "eng", "details": {}}
            rejected("audit event time %r" % t,
                     w.call("POST", "/v1/audit/events", {"events": [ev]}, who="hA1"), 400, "bad_time")

    with T.section("audit batches"):
        ev = lambda **kw: dict({"id": lbtest.new_uuid(), "time": lbtest.now_rfc3339(),
                                "type": "session.start", "actor": "eng", "details": {}}, **kw)
        post = lambda b: w.call("POST", "/v1/audit/events", b, who="hA1")
        rejected("empty batch", post({"events": []}), 400, "bad_value")
        small = [{"id": lbtest.new_uuid(), "time": "2026-11-23T00:00:00Z", "type": "session.end"}
                 for _ in range(501)]
        rejected("501 events", post({"events": small}), 400, "bad_value")
        rejected("batch with one bad event (type)", post({"events": [ev(), ev(type="lockbox.request.approve")]}),
                 400, ("bad_value", "forbidden"))
        rejected("batch with one bad event (id not a UUID)", post({"events": [ev(), ev(id="123")]}),
                 400, "bad_value")
        rejected("batch with an unknown event field", post({"events": [ev(), ev(color="red")]}),
                 400, "unknown_field")
        rejected("batch with an event missing time", post({"events": [ev(), {"id": lbtest.new_uuid(),
                                                                                "type": "session.end"}]}),
                 400, "missing_field")
        rejected("batch with an event actor with a newline", post({"events": [ev(), ev(actor="eng\nroot")]}),
                 400, "bad_text")
        rejected("details not an object", post({"events": [ev(details="x")]}), 400, "bad_type")

    with T.section("query strings"):
        for q in ("limit=0", "limit=201", "limit=-1", "limit=abc", "limit="):
            rejected("GET /v1/tenants?%s" % q, w.call("GET", "/v1/tenants?" + q), 400, ("bad_query", "bad_value"))
        rejected("GET /v1/tenants?cursor=garbage", w.call("GET", "/v1/tenants?cursor=garbage"), 400, "bad_cursor")
        for c in ("-1", "99999999999999999999999", "1e3", "0x10", "%00", "1%0a"):
            rejected("GET /v1/tenants?cursor=%s" % c, w.call("GET", "/v1/tenants?cursor=" + c), 400, "bad_cursor")
        # control characters (and NUL, which would silently cut the value short) in query values
        for path, who in (("/v1/requests?tenant=", "gadmA"), ("/v1/requests?host=", "gadmA"),
                          ("/v1/hosts?subscription=", "admin"), ("/v1/subscriptions?tenant=", "admin"),
                          ("/v1/tickets?tenant=", "custA"), ("/v1/role-assignments?user=", "admin"),
                          ("/v1/audit/events?type=", "admin")):
            for v in ("%1b[31m", A + "%00x", "x%0ay"):
                rejected("GET %s%s" % (path, v), w.call("GET", path + v, who=who), 400, ("bad_query", "bad_value"))
        st, js, text = w.call("GET", "/v1/" + "a" * 100000)
        T.check(400 <= st < 500, "a 100 KB path -> 4xx, not a crash", "%d %s" % (st, text[:100]))
        T.eq(api(gw, "GET", "/healthz")[0], 200, "gateway alive after the long path")
        rejected("GET /v1/requests?state=bogus", w.call("GET", "/v1/requests?state=bogus", who="eng"),
                 400, ("bad_query", "bad_value"))
        q = urllib.parse.quote("' OR 1=1 --")
        rejected("GET /v1/requests?state=' OR 1=1 --", w.call("GET", "/v1/requests?state=" + q, who="eng"),
                 400, ("bad_query", "bad_value"))
        st, js, text = w.call("GET", "/v1/requests?tenant=" + urllib.parse.quote("x' OR '1'='1"), who="gadmA")
        T.check(st in (400, 404) or (st == 200 and js.get("items") == []),
                "tenant filter with SQL metacharacters matches nothing", "%d %s" % (st, text[:200]))

    with T.section("size limits, methods, paths"):
        big = json.dumps({"name": "x" * (1 << 20)}).encode()
        st, text = raw_http(gw, "POST", "/v1/tenants", big, token=w.admin)
        T.check(st == 413 and "body_too_large" in text, "1 MiB body -> 413 body_too_large", "%s %s" % (st, text[-300:]))
        st, text = raw_http(gw, "POST", "/v1/tenants", json.dumps({"name": "y" * (64 * 1024)}).encode(),
                            token=w.admin)
        T.check(st == 413 and "body_too_large" in text, "64 KiB + a few bytes -> 413 body_too_large",
                "%s %s" % (st, text[-300:]))
        now = snapshot()
        T.check(now == base, "oversized bodies changed nothing")
        base = now
        T.eq(api(gw, "GET", "/healthz")[0], 200, "gateway still answers after oversized bodies")
        rejected("DELETE /v1/tenants", w.call("DELETE", "/v1/tenants"), 405, "method_not_allowed")
        rejected("PUT /v1/requests", w.call("PUT", "/v1/requests", {}, who="eng"), 405, "method_not_allowed")
        rejected("GET /v1/nope", w.call("GET", "/v1/nope"), 404, "not_found")
        rejected("GET /v1/requests/req_0123456789abcdef", w.call("GET", "/v1/requests/req_0123456789abcdef",
                                                                 who="eng"), 404, "not_found")
        rejected("approve req_0123456789abcdef", w.call("POST", "/v1/requests/req_0123456789abcdef/approve",
                                                        {"reason": "x"}, who="gadmA"), 404, "not_found")
        rejected("GET /v1/tenants/../../etc/passwd", w.call("GET", "/v1/tenants/..%2f..%2fetc%2fpasswd"),
                 404, "not_found")

    with T.section("deeply nested JSON (the connection threads have 1 MiB stacks)"):
        deep = [("arrays nested 2000 deep", ("[" * 2000 + "]" * 2000).encode()),
                ("objects nested 2000 deep", ('{"a":' * 2000 + "1" + "}" * 2000).encode()),
                ("arrays nested 20000 deep (past jansson's limit)",
                 ("[" * 20000 + "]" * 20000).encode()),
                ("a tenant whose name field nests 2000 deep",
                 ('{"name":' + '{"a":' * 2000 + "1" + "}" * 2000 + "}").encode())]
        for name, body in deep:
            for path, tok in (("/v1/tenants", w.admin), ("/v1/check", w.host["hA1"]["token"]),
                              ("/v1/audit/events", w.host["hA1"]["token"])):
                st, text = raw_http(gw, "POST", path, body, token=tok)
                T.check(st == 400, "%s to %s -> 400" % (name, path), "%s %s" % (st, text[-200:]))
        T.eq(api(gw, "GET", "/healthz")[0], 200, "the gateway still answers")
        now = snapshot()
        T.check(now == base, "nested bodies changed nothing")
        base = now

    with T.section("SQL metacharacters and odd text are stored verbatim"):
        odd = ["'; DROP TABLE requests; --", "\" OR 1=1 --", "Robert'); DROP TABLE tickets;--",
               "100% _match_ \\ back\\slash", "Zoë — 東京 — 😀", "<script>alert(1)</script>", "\t tab"]
        for s in odd[:-1]:
            t = w.must("POST", "/v1/tenants", {"name": s}, expect=201)
            got = w.must("GET", "/v1/tenants/" + t["id"], expect=200)
            T.eq(got.get("name"), s, "tenant name %r round-trips" % s)
        tk = w.must("POST", "/v1/tickets", {"tenant": A, "title": odd[1], "description": odd[0]},
                    who="custA", expect=201)
        got = w.must("GET", "/v1/tickets/" + tk["id"], who="custA", expect=200)
        T.eq((got.get("title"), got.get("description")), (odd[1], odd[0]), "ticket title/description verbatim")
        u = w.must("POST", "/v1/users", {"login": "sqlu", "name": odd[2], "email": "a'b@example.test",
                                         "side": "provider"}, expect=201)
        T.eq((u.get("name"), u.get("email")), (odd[2], "a'b@example.test"), "user name/email verbatim")
        b = dict(w.request_body(), justification=odd[3] + " " + odd[4])
        r = w.must("POST", "/v1/requests", b, who="eng", expect=201)
        got = w.must("GET", "/v1/requests/" + r["id"], who="eng", expect=200)
        T.eq(got.get("justification"), b["justification"], "request justification verbatim (unicode too)")
        st, js, text = w.call("GET", "/v1/requests/" + r["id"], who="eng")
        T.check("\\u" in text or "東京" in text, "response is valid JSON text")
        items, _ = paginate(gw, "/v1/requests", w.tok["eng"])
        T.check(len(items) >= 3, "requests table still there (%d requests)" % len(items))
        items, _ = paginate(gw, "/v1/tickets", w.tok["custA"])
        T.check(any(i.get("id") == tk["id"] for i in items), "tickets table still there")
        st, js, _ = w.call("POST", "/v1/tenants", {"name": odd[-1]})
        T.check(st in (201, 400), "tab in a name: stored verbatim or 400 bad_text", st)
        if st == 201:
            T.eq(js.get("name"), odd[-1], "tab stored verbatim")
        v = w.must("GET", "/v1/audit/verify", expect=200)
        T.eq(v.get("ok"), True, "audit chain still verifies")

    T.done()


main()
