#!/usr/bin/python3
"""Console sessions (POST /v1/sessions, GET and DELETE /v1/sessions/current), at the API: every
role signs in with its token (and TOTP once enrolled) and gets an HttpOnly, Secure,
SameSite=Strict cookie kept only as a hash; bad input is refused and changes nothing; the
cookie works instead of a bearer token, for a state-changing call only with the session's
X-CSRF-Token; sign-out, a revoked token, a disabled user, the idle and the absolute timeout
end it; sign-in and sign-out are directory events of the user's tenant (or the provider)."""
import hashlib
import re
import time

import lbtest
from lbtest import Gateway, world, api, err_code

T = lbtest.Runner("websessions")


def sign_in(gw, token, totp=None, expect=201):
    body = {"token": token}
    if totp is not None:
        body["totp"] = totp
    st, js, raw, hdrs = call(gw, "POST", "/v1/sessions", body=body)
    if st != expect:
        raise lbtest.ApiError("sign-in: %d %s" % (st, raw[:300]))
    return js, hdrs


def call(gw, method, path, body=None, cookie=None, csrf=None, token=None, headers=None,
         raw_body=None):
    """One call returning (status, js, raw, headers) with the cookie and CSRF given."""
    import http.client
    import json
    import ssl
    import urllib.parse
    u = urllib.parse.urlsplit(gw.url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=10,
                                           context=ssl.create_default_context(cafile=gw.ca))
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    h = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if raw_body is not None:
        data = raw_body
    if cookie:
        h["Cookie"] = "lockbox_session=" + cookie
    if csrf:
        h["X-CSRF-Token"] = csrf
    if token:
        h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        payload = r.read().decode("utf-8", "replace")
        hdrs = r.getheaders()
        st = r.status
    finally:
        conn.close()
    try:
        js = json.loads(payload) if payload else None
    except ValueError:
        js = None
    return st, js, payload, hdrs


def set_cookie(hdrs):
    return [v for k, v in hdrs if k.lower() == "set-cookie"]


def cookie_value(hdrs):
    for v in set_cookie(hdrs):
        m = re.match(r"lockbox_session=([^;]*)", v)
        if m:
            return m.group(1)
    return None


def events(w, typ, who="admin"):
    return w.must("GET", "/v1/audit/events?type=%s&limit=200" % typ, who=who)["items"]


with Gateway(tls=True, conf_extra="approve_mfa = false") as gw:
    gw.start()
    w = world(gw, gw.bootstrap())

    with T.section("every role signs in; the cookie's flags; who am I"):
        keys = ["admin", "eng", "eng2", "iapp", "gadmA", "lbappA", "ownA1", "ownA2", "custA",
                "gadmB", "custB", "nobody"]
        sess = {}
        for k in keys:
            js, hdrs = sign_in(gw, w.tok[k])
            sc = set_cookie(hdrs)
            c = cookie_value(hdrs)
            sess[k] = (c, js.get("csrf_token"))
            T.check(len(sc) == 1 and c and re.fullmatch(r"lbs_[0-9a-f]{64}", c),
                    "%s: 201 with one lockbox_session cookie" % k, sc)
            flags = [f.strip().lower() for f in (sc[0].split(";")[1:] if sc else [])]
            T.check("httponly" in flags and "secure" in flags and "samesite=strict" in flags and
                    "path=/" in flags and any(f.startswith("max-age=") for f in flags),
                    "%s: HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age" % k, sc)
            T.check(re.fullmatch(r"[0-9a-f]{64}", js.get("csrf_token") or ""),
                    "%s: answers a csrf_token" % k, js)
            T.check("hash" not in js.get("session", {}) and c not in str(js),
                    "%s: neither the cookie nor its hash in the answer" % k)
            st, me, raw, _ = call(gw, "GET", "/v1/sessions/current", cookie=c)
            T.check(st == 200 and me["user"]["id"] == w.user.get(k, me["user"]["id"]) and
                    me["user"]["login"] == w.login[k] and me["csrf_token"] == js["csrf_token"],
                    "%s: GET /v1/sessions/current with the cookie alone: who, same csrf" % k,
                    raw[:200])
            want_roles = {w.roles[k]} if k in w.roles else set()
            T.eq({r["role"] for r in me.get("roles", [])}, want_roles, "%s: its roles" % k)
        T.eq(call(gw, "GET", "/v1/sessions/current", cookie=sess["gadmA"][0])[1]["tenant"]["id"],
             w.tenant["A"], "a customer user reads their own tenant there (the lockbox switch)")
        T.eq(call(gw, "GET", "/v1/sessions/current", cookie=sess["admin"][0])[1]["tenant"], None,
             "a provider user has no tenant")

    with T.section("bad input, wrong credentials: refused, nothing stored"):
        def count_sessions():
            return gw.sql("SELECT count(*) FROM web_sessions")[0][0]
        before = count_sessions()
        cases = [
            ({"token": "lbu_" + "0" * 64}, 401, "unauthenticated", "unknown token"),
            ({"token": "nonsense"}, 401, "unauthenticated", "malformed token"),
            ({"token": w.tok["hA1"]}, 403, "forbidden", "a host token"),
            ({}, 400, "missing_field", "no token"),
            ({"token": w.tok["eng"], "extra": 1}, 400, "unknown_field", "an unknown field"),
            ({"token": 42}, 400, "bad_type", "a number as token"),
            ({"token": w.tok["eng"], "totp": 123456}, 400, "bad_type", "a number as totp"),
            ({"token": "lbu_\u0001" + "0" * 63}, 400, "bad_text", "control characters"),
            ({"token": "' OR 1=1 --"}, 401, "unauthenticated", "SQL metacharacters"),
            ({"token": w.tok["eng"], "totp": "123456"}, 422, "totp_invalid",
             "a code from a user without TOTP"),
        ]
        for body, st, code, what in cases:
            T.status(api(gw, "POST", "/v1/sessions", body=body), st, code, what)
        T.status(api(gw, "POST", "/v1/sessions", raw="{not json"), 400, "bad_json", "bad JSON")
        T.status(api(gw, "POST", "/v1/sessions", raw='{"token": "%s"}' % ("a" * 100000)), 413,
                 "body_too_large", "a huge body")
        st, js, raw, _ = call(gw, "POST", "/v1/sessions",
                              raw_body=('{"token": "%s"}' % w.tok["eng"]).encode(),
                              headers={"Content-Type": "text/plain"})
        T.check(st == 400, "text/plain (what a form of another site can post) -> 400", raw)
        st, js, raw, _ = call(gw, "POST", "/v1/sessions", body={"token": w.tok["eng"]},
                              token=w.tok["eng"])
        T.check(st == 201, "a bearer token beside the body changes nothing", raw)
        T.eq(count_sessions(), before + 1, "only the good sign-in stored a session")
        T.status(api(gw, "GET", "/v1/sessions"), 405, "method_not_allowed", "GET /v1/sessions")
        T.status(api(gw, "GET", "/v1/sessions/current"), 401, "unauthenticated",
                 "GET current without anything")
        T.status(api(gw, "GET", "/v1/sessions/current", token=w.tok["eng"]), 404, "not_found",
                 "GET current with a bearer token: no console session")
        T.status(api(gw, "DELETE", "/v1/sessions/current", token=w.tok["eng"]), 404, "not_found",
                 "DELETE current with a bearer token")
        st, js, raw, _ = call(gw, "GET", "/v1/sessions/current", cookie="lbs_" + "0" * 64)
        T.check(st == 401 and err_code(js) == "unauthenticated", "an unknown cookie -> 401", raw)
        st, js, raw, _ = call(gw, "GET", "/v1/sessions/current", cookie="garbage';--")
        T.check(st == 401, "a malformed cookie -> 401", raw)

    with T.section("stored hashed: the database holds the cookie's SHA-256, not the cookie"):
        c = sess["eng"][0]
        rows = gw.sql('SELECT hash FROM web_sessions WHERE "user" = ?', (w.user["eng"],))
        T.check((hashlib.sha256(c.encode()).hexdigest(),) in rows, "the hash is stored", rows)
        blob = gw.db_bytes()   # the file and its WAL, or pg_dump of the PostgreSQL database
        T.check(blob and c.encode() not in blob and sess["eng"][1].encode() not in blob,
                "neither the cookie nor the CSRF token is in the database")

    with T.section("the cookie instead of a bearer token; CSRF on state-changing calls"):
        c, csrf = sess["eng"]
        st, js, raw, _ = call(gw, "GET", "/v1/requests?mine=true", cookie=c)
        T.check(st == 200, "GET with the cookie alone -> 200", raw[:200])
        body = {"duration": "1h", "justification": "console"}
        st, js, raw, _ = call(gw, "POST", "/v1/elevations", body=body, cookie=c)
        T.check(st == 403 and err_code(js) == "csrf_failed", "POST without X-CSRF-Token -> 403",
                raw)
        st, js, raw, _ = call(gw, "POST", "/v1/elevations", body=body, cookie=c,
                              csrf=sess["eng2"][1])
        T.check(st == 403 and err_code(js) == "csrf_failed",
                "POST with another session's CSRF token -> 403", raw)
        st, js, raw, _ = call(gw, "POST", "/v1/elevations", body=body, cookie=c, csrf="x" * 64)
        T.check(st == 403, "POST with a wrong CSRF token -> 403", raw)
        T.eq(w.must("GET", "/v1/elevations", who="eng")["items"], [],
             "nothing was created by the refused calls")
        st, js, raw, _ = call(gw, "POST", "/v1/elevations", body=body, cookie=c, csrf=csrf)
        T.check(st == 201 and js.get("user") == w.user["eng"],
                "POST with the cookie and its CSRF token acts as the user", raw)
        st, js, raw, _ = call(gw, "POST", "/v1/elevations", body=body, cookie=c, csrf=csrf,
                              headers={"Origin": "https://evil.example"})
        T.check(st == 201, "(the CSRF token is the guard; Origin alone decides nothing)", raw)
        # a cross-site form post: the browser would not even send a SameSite=Strict cookie;
        # if it did, there is no CSRF header
        r = w.new_request(sub="A1")
        st, js, raw, _ = call(gw, "POST", "/v1/requests/%s/approve" % r["id"],
                              raw_body=b"reason=ok", cookie=sess["ownA1"][0],
                              headers={"Content-Type": "application/x-www-form-urlencoded",
                                       "Origin": "https://evil.example"})
        T.check(st == 403 and err_code(js) == "csrf_failed",
                "a cross-site form POST with the approver's cookie -> 403", raw)
        T.eq(w.must("GET", "/v1/requests/" + r["id"], who="eng")["state"], "customer_notified",
             "the request stays undecided")
        st, js, raw, _ = call(gw, "POST", "/v1/requests/%s/approve" % r["id"], body={},
                              cookie=sess["ownA1"][0], csrf=sess["ownA1"][1])
        T.check(st == 200 and js["state"] == "approved", "with the CSRF token it approves", raw)
        T.eq(w.must("GET", "/v1/requests/" + r["id"], who="eng")["approved_by"], w.user["ownA1"],
             "approved by the signed-in owner")
        st, js, raw, _ = call(gw, "POST", "/v1/check", body={"user": "x", "service": "sshd"},
                              cookie=c, csrf=csrf)
        T.check(st == 403, "a session is a user: host endpoints refuse it", raw)
        st, js, raw, _ = call(gw, "GET", "/v1/tenants", cookie=sess["eng"][0],
                              token=w.tok["admin"])
        T.check(st == 200, "a bearer token wins over a cookie sent beside it", raw[:100])
        st, js, raw, _ = call(gw, "GET", "/v1/tenants", cookie=sess["admin"][0],
                              token="lbu_" + "0" * 64)
        T.check(st == 401, "a bad bearer token is not rescued by a good cookie", raw[:100])
        st, js, raw, _ = call(gw, "GET", "/v1/requests/" + r["id"], cookie=sess["gadmB"][0])
        T.check(st == 404, "another tenant's admin signed in sees nothing of it", raw)

    with T.section("sign-out: DELETE needs CSRF; afterwards the cookie is useless"):
        c, csrf = sess["custA"]
        st, js, raw, _ = call(gw, "DELETE", "/v1/sessions/current", cookie=c)
        T.check(st == 403 and err_code(js) == "csrf_failed", "DELETE without CSRF -> 403", raw)
        st, js, raw, hdrs = call(gw, "DELETE", "/v1/sessions/current", cookie=c, csrf=csrf)
        T.check(st == 200 and js.get("revoked_at"), "DELETE with CSRF -> 200, revoked_at", raw)
        T.check(any("max-age=0" in v.lower() for v in set_cookie(hdrs)),
                "the answer clears the cookie", set_cookie(hdrs))
        st, js, raw, _ = call(gw, "GET", "/v1/sessions/current", cookie=c)
        T.check(st == 401 and err_code(js) == "unauthenticated", "the cookie after sign-out -> 401",
                raw)
        st, js, raw, _ = call(gw, "DELETE", "/v1/sessions/current", cookie=c, csrf=csrf)
        T.check(st == 401, "signing out twice -> 401", raw)
        T.check(call(gw, "GET", "/v1/sessions/current", cookie=sess["custB"][0])[0] == 200,
                "other sessions go on")

    with T.section("revoking the token, disabling the user end the session"):
        c = sess["eng2"][0]
        toks = w.must("GET", "/v1/users/%s/tokens" % w.user["eng2"])["items"]
        for t in toks:
            w.must("DELETE", "/v1/tokens/" + t["id"])
        T.eq(call(gw, "GET", "/v1/sessions/current", cookie=c)[0], 401,
             "the session made with a revoked token -> 401")
        c = sess["ownA2"][0]
        w.must("POST", "/v1/users/%s/disable" % w.user["ownA2"], who="gadmA")
        T.eq(call(gw, "GET", "/v1/sessions/current", cookie=c)[0], 401,
             "a disabled user's session -> 401")
        w.must("POST", "/v1/users/%s/enable" % w.user["ownA2"], who="gadmA")
        T.eq(call(gw, "GET", "/v1/sessions/current", cookie=c)[0], 200,
             "enabled again, the session (not expired) works again")

    with T.section("TOTP: enrolled users sign in with a code"):
        w.enroll_totp("lbappA")
        T.status(api(gw, "POST", "/v1/sessions", body={"token": w.tok["lbappA"]}), 422,
                 "mfa_required", "no code")
        T.status(api(gw, "POST", "/v1/sessions", body={"token": w.tok["lbappA"], "totp": "000000"}),
                 422, "totp_invalid", "a wrong code")
        T.status(api(gw, "POST", "/v1/sessions", body={"token": w.tok["lbappA"], "totp": "12ab"}),
                 422, "totp_invalid", "a malformed code")
        code = w.totp("lbappA")
        js, _ = sign_in(gw, w.tok["lbappA"], totp=code)
        T.check(js["session"]["mfa"] is True, "a good code: signed in, session.mfa true", js)
        T.status(api(gw, "POST", "/v1/sessions", body={"token": w.tok["lbappA"], "totp": code}),
                 422, "totp_invalid", "the same code again")

    with T.section("audited: directory.session.create / .revoke, never a secret"):
        cr = events(w, "directory.session.create")
        rv = events(w, "directory.session.revoke")
        by_user = {}
        for e in cr:
            by_user.setdefault(e["details"].get("user"), []).append(e)
        e = (by_user.get(w.user["custA"]) or [{}])[0]
        T.eq((e.get("level"), e.get("tenant"), e.get("actor")),
             ("tenant", w.tenant["A"], w.user["custA"]),
             "a customer user's sign-in is a tenant-level event of their tenant")
        e = (by_user.get(w.user["eng"]) or [{}])[0]
        T.eq((e.get("level"), e.get("tenant")), ("provider", None),
             "a provider user's sign-in is a provider-level event")
        T.check(any(x["details"].get("user") == w.user["custA"] and
                    x["details"].get("reason") == "sign_out" for x in rv),
                "the sign-out is a directory.session.revoke")
        gadm = [x["details"].get("user") for x in events(w, "directory.session.create", "gadmA")]
        T.check(w.user["custA"] in gadm and w.user["custB"] not in gadm and
                w.user["eng"] not in gadm,
                "tenant A's admin reads A's sign-ins, not B's nor the provider's")
        text = str(cr + rv)
        T.check(all(v[0] not in text and v[1] not in text for v in sess.values()),
                "no cookie or CSRF token in any event")

with Gateway(conf_extra="console_idle_timeout = 2s\nconsole_absolute_timeout = 5s") as gw:
    gw.start()
    admin = gw.bootstrap()
    with T.section("idle and absolute timeouts (plain-HTTP gateway on 127.0.0.1)"):
        js, hdrs = sign_in(gw, admin)
        c = cookie_value(hdrs)
        T.eq(js["session"]["idle_timeout"], 2, "the answer says the idle timeout")
        time.sleep(1.2)
        T.eq(call(gw, "GET", "/v1/sessions/current", cookie=c)[0], 200, "used within 2 s: on")
        time.sleep(1.2)
        T.eq(call(gw, "GET", "/v1/sessions/current", cookie=c)[0], 200,
             "used again within 2 s of the last use (2.4 s after sign-in): still on")
        time.sleep(2.5)
        st, js, raw, _ = call(gw, "GET", "/v1/sessions/current", cookie=c)
        T.check(st == 401 and "ended" in js["error"]["message"], "2.5 s unused: ended (401)", raw)
        js, hdrs = sign_in(gw, admin)
        c = cookie_value(hdrs)
        t0 = time.monotonic()
        ok = True
        while time.monotonic() - t0 < 4.3:
            ok = ok and call(gw, "GET", "/v1/sessions/current", cookie=c)[0] == 200
            time.sleep(0.7)
        T.check(ok, "kept in use: on for the first 4 s")
        time.sleep(max(0.0, 5.3 - (time.monotonic() - t0)))
        T.eq(call(gw, "GET", "/v1/sessions/current", cookie=c)[0], 401,
             "5 s after sign-in: ended however busy (absolute timeout)")
    for bad in ("console_idle_timeout = 0s", "console_absolute_timeout = 31d",
                "console_dir = relative/path"):
        r = gw.run("-c", gw.conf, "--check-config")
        gw.write_conf(bad)
        r = gw.run("-c", gw.conf, "--check-config")
        T.check(r.returncode != 0 and bad.split()[0] in r.stderr,
                "--check-config refuses %s" % bad, r.stderr)

T.done()
