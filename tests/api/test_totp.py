#!/usr/bin/python3
"""TOTP, the second factor (DESIGN.md "Identities, credentials and MFA"): enrolment and
confirmation for oneself only; codes made by Debian's oathtool (an implementation of RFC 6238
independent of the gateway's) accepted for the previous, current and next 30 s step and
refused two steps away; each code once; 5 wrong codes lock TOTP (429) for totp_lockout and the
lock ends; require_mfa on elevations and requests (the token's mfa flag no longer counts),
approve_mfa on approve, deny and revoke; the secret sealed in the database under
totp_key_file and never in an answer after enrolment, an audit event or the gateway's log;
directory.totp.enroll at the right level with the right actor."""
import base64
import os
import re
import shutil
import stat
import subprocess
import time

import lbtest
from lbtest import Gateway, api, err_code, paginate, world

T = lbtest.Runner("api/totp")
STEP = 30
LOCK = 3          # totp_lockout of the test gateway, seconds


def oathtool(secret, t=None):
    """The code oathtool computes for the base32 SECRET at Unix time T (default now)."""
    args = ["oathtool", "--totp", "-b"]
    if t is not None:
        args += ["-N", "@%d" % int(t)]
    r = subprocess.run(args + [secret], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=30)
    if r.returncode != 0:
        raise lbtest.ApiError("oathtool: %s" % r.stderr.strip())
    return r.stdout.strip()


def settle(margin=6):
    """Waits until at least MARGIN seconds remain in the current 30 s step and at least one
    has passed, so that the test's step and the gateway's agree for the calls that follow;
    returns the step's start (Unix seconds)."""
    now = time.time()
    into = now % STEP
    if into < 1 or into > STEP - margin:
        time.sleep(STEP - into + 1.05 if into > 1 else 1.05 - into)
    return int(time.time() // STEP) * STEP


def wrong_code(secret, t):
    """A 6-digit code that is none of SECRET's codes of the steps around T."""
    near = {oathtool(secret, t + d * STEP) for d in (-2, -1, 0, 1, 2)}
    for c in ("000000", "111111", "222222", "333333"):
        if c not in near:
            return c
    raise AssertionError("no wrong code found")


def events(w, typ, who="admin"):
    items, _ = paginate(w.gw, "/v1/audit/events?type=" + typ, w.tok[who])
    return items


def enrol(w, who):
    st, js, text = w.call("POST", "/v1/users/self/totp", who=who)
    if st != 201:
        raise lbtest.ApiError("enrol %s: %d %s" % (who, st, text[:300]))
    return js


def main():
    if not shutil.which("oathtool"):
        T.skip("oathtool is not installed (contrib/deps.sh installs it)")
    gw = Gateway(conf_extra="require_mfa = true\napprove_mfa = true\ntotp_lockout = %ds" % LOCK)
    gw.start()
    w = world(gw, gw.bootstrap())
    secrets = []          # every secret handed out, to look for later
    codes = set()         # every code sent
    uid = {k: w.user[k] for k in w.user}
    w.add_user("eng3", "provider", role="engineer")
    w.add_user("eng4", "provider", role="engineer")
    w.add_user("eng5", "provider", role="engineer")

    def elevate(who, code=None, token=None):
        body = {"duration": "1h", "justification": "totp test"}
        if code is not None:
            body["totp"] = code
            codes.add(code)
        return api(gw, "POST", "/v1/elevations", body, token=token or w.tok[who])

    with T.section("who may enrol"):
        for path in ("/v1/users/self/totp", "/v1/users/self/totp/confirm"):
            body = {"code": "123456"} if path.endswith("confirm") else None
            T.status(api(gw, "POST", path, body), 401, "unauthenticated", "%s without a token" % path)
            T.status(api(gw, "POST", path, body, token="lbu_" + "ab" * 32), 401, "unauthenticated",
                     "%s with an unknown token" % path)
            T.status(w.call("POST", path, body, who="hA1"), 403, "forbidden",
                     "%s with a host token" % path)
            T.status(w.call("GET", path, who="eng"), 405, "method_not_allowed", "GET %s" % path)
        # only oneself: there is no path that names another user
        T.status(w.call("POST", "/v1/users/%s/totp" % uid["eng2"], who="admin"), 404, "not_found",
                 "a provider admin cannot enrol another user (no such endpoint)")
        T.status(w.call("POST", "/v1/users/%s/totp/confirm" % uid["gadmA"], {"code": "123456"},
                        who="gadmA"), 404, "not_found", "nor confirm for a named user")
        T.status(w.call("POST", "/v1/users/self/totp/confirm", {"code": "123456"}, who="eng"),
                 409, "wrong_state", "confirm before any enrolment")
        T.status(w.call("POST", "/v1/users/self/totp/confirm", {}, who="eng"), 400,
                 "missing_field", "confirm without a code")
        T.status(w.call("POST", "/v1/users/self/totp/confirm", {"code": 123456}, who="eng"), 400,
                 "bad_type", "a code is a JSON string, not a number")
        T.status(w.call("POST", "/v1/users/self/totp", {"secret": "AAAA"}, who="eng"), 400,
                 "unknown_field", "the caller cannot choose the secret")
        T.status(w.call("POST", "/v1/users/self/totp", {"totp": "123456"}, who="eng"), 422,
                 "totp_invalid", "a code to replace a TOTP that does not exist")

    with T.section("enrol and confirm (provider user) with oathtool's code"):
        first = enrol(w, "eng")
        secrets.append(first["secret"])
        js = enrol(w, "eng")     # again before the confirmation: a new secret replaces it
        sec = js["secret"]
        secrets.append(sec)
        T.check(re.fullmatch(r"[A-Z2-7]{32}", sec or "") is not None,
                "the secret is 160 bits in base32", sec)
        T.check(sec != first["secret"], "enrolling again before the confirmation makes a new secret")
        uri = js.get("otpauth_uri", "")
        T.check(uri.startswith("otpauth://totp/lockbox:eng?") and "secret=" + sec in uri and
                "issuer=lockbox" in uri and "digits=6" in uri and "period=30" in uri and
                "algorithm=SHA1" in uri, "otpauth URI: label, secret, issuer, SHA1, 6 digits, 30 s",
                uri)
        T.eq(sorted(js), ["otpauth_uri", "secret"], "the answer is {otpauth_uri, secret}")
        t0 = settle()
        T.eq(oathtool(sec, t0 + 1), lbtest.totp_code(sec, t0 + 1),
             "oathtool and the test's own RFC 6238 agree")
        old = oathtool(first["secret"], t0 + 1)
        codes.add(old)
        T.status(w.call("POST", "/v1/users/self/totp/confirm", {"code": old}, who="eng"),
                 422, "totp_invalid", "a code of the replaced secret does not confirm")
        c = oathtool(sec)
        codes.add(c)
        st, js, text = w.call("POST", "/v1/users/self/totp/confirm", {"code": c}, who="eng")
        T.eq(st, 200, "confirm with oathtool's current code", text[:300])
        T.check(js.get("user") == uid["eng"] and js.get("totp") is True and js.get("confirmed_at"),
                "the answer names the user, totp: true and confirmed_at", js)
        T.status(elevate("eng", c), 422, "totp_invalid", "the confirming code counts as used")
        T.status(w.call("POST", "/v1/users/self/totp", who="eng"), 409, "conflict",
                 "enrolling again once active needs a current code")
        T.status(w.call("POST", "/v1/users/self/totp/confirm", {"code": c}, who="eng"), 409,
                 "wrong_state", "nothing left to confirm")
        w.totp_secret["eng"] = sec
        w._totp_step["eng"] = t0 // STEP

    with T.section("previous, current and next step accepted; two steps away refused"):
        js = enrol(w, "eng2")
        sec2 = js["secret"]
        secrets.append(sec2)
        t0 = settle(margin=8)
        prev, cur, nxt = (oathtool(sec2, t0 + 1 + d * STEP) for d in (-1, 0, 1))
        codes.update((prev, cur, nxt))
        T.status(w.call("POST", "/v1/users/self/totp/confirm", {"code": prev}, who="eng2"), 200,
                 None, "confirm with the previous step's code (oathtool -N now-30s)")
        T.status(elevate("eng2", prev), 422, "totp_invalid", "the previous step's code again: replay")
        st, js, text = elevate("eng2", cur)
        T.eq(st, 201, "elevate with the current step's code", text[:300])
        T.eq((js or {}).get("mfa"), True, "an elevation made with a code has mfa: true")
        T.status(elevate("eng2", cur), 422, "totp_invalid", "the same code again: replay")
        T.status(elevate("eng2", nxt), 201, None, "elevate with the next step's code (now+30s)")
        T.status(elevate("eng2", nxt), 422, "totp_invalid", "the next step's code again: replay")
        T.status(elevate("eng2", cur), 422, "totp_invalid",
                 "an older step than the last one used is refused")
        # a user whose last step is older: the previous step is accepted by an elevation too
        js = enrol(w, "eng3")
        sec3 = js["secret"]
        secrets.append(sec3)
        t1 = settle(margin=8)
        c = oathtool(sec3, t1 + 1 - STEP)
        codes.add(c)
        T.status(w.call("POST", "/v1/users/self/totp/confirm", {"code": c}, who="eng3"), 200, None,
                 "eng3 confirms with the previous step's code")
        far_past, far_next = oathtool(sec3, t1 + 1 - 2 * STEP), oathtool(sec3, t1 + 1 + 2 * STEP)
        codes.update((far_past, far_next))
        T.status(elevate("eng3", far_next), 422, "totp_invalid", "two steps ahead is refused")
        T.status(elevate("eng3", far_past), 422, "totp_invalid", "two steps behind is refused")
        # wait for the next step: then the step before the gateway's own is unused
        time.sleep(max(0.0, t1 + STEP + 1.05 - time.time()))
        t2 = int(time.time() // STEP) * STEP
        c = oathtool(sec3, t2 + 1 - STEP)
        codes.add(c)
        st, js, text = elevate("eng3", c)
        T.eq(st, 201, "elevate with the previous step's code (oathtool -N now-30s)", text[:300])
        st, js, text = elevate("eng3", oathtool(sec3, t2 + 1 + 2 * STEP))
        T.status((st, js, text), 422, "totp_invalid", "two steps ahead is refused again")

    with T.section("require_mfa: elevations and requests"):
        T.status(elevate("eng"), 422, "mfa_required", "an elevation without a code")
        T.status(elevate("eng4"), 422, "mfa_required", "an engineer without TOTP, without a code")
        T.status(elevate("eng4", "123456"), 422, "totp_invalid",
                 "an engineer without TOTP, with a code")
        mfa_tok = w.must("POST", "/v1/users/%s/tokens" % uid["eng"], {"mfa": True},
                         expect=201)["token"]
        T.status(elevate("eng", token=mfa_tok), 422, "mfa_required",
                 "a token issued with mfa: true no longer satisfies require_mfa")
        T.status(w.call("POST", "/v1/requests", w.request_body(), who="eng"), 422, "mfa_required",
                 "a request from an engineer without an elevation made with a code")
        T.status(api(gw, "POST", "/v1/requests", w.request_body(), token=mfa_tok), 422,
                 "mfa_required", "... also with the mfa token")
        st, js, text = elevate("eng", w.totp("eng"))
        T.eq(st, 201, "eng elevates with a code", text[:300])
        st, js, text = w.call("POST", "/v1/requests", w.request_body(), who="eng")
        T.eq(st, 201, "then eng's request is accepted", text[:300])
        evs = [e for e in events(w, "lockbox.request.create") if e.get("request") == js.get("id")]
        T.check(len(evs) == 1 and evs[0]["details"].get("mfa") is True,
                "lockbox.request.create records mfa: true", evs)
        evs = [e for e in events(w, "pim.elevation.activate") if e.get("actor") == uid["eng"]]
        T.check(evs and evs[-1]["details"].get("mfa") is True,
                "pim.elevation.activate records mfa: true", evs[-1:])

    with T.section("approve_mfa: approve, deny and revoke need a code"):
        gsec = w.enroll_totp("gadmA")
        secrets.append(gsec)
        w.enroll_totp("ownA1")
        secrets.append(w.totp_secret["ownA1"])
        r1 = w.new_request("eng")["id"]
        for action, body in (("approve", {"reason": "ok"}), ("deny", {"reason": "no"})):
            T.status(w.call("POST", "/v1/requests/%s/%s" % (r1, action), body, who="gadmA"), 422,
                     "mfa_required", "%s without a code" % action)
            b = dict(body, totp=wrong_code(gsec, time.time()))
            T.status(w.call("POST", "/v1/requests/%s/%s" % (r1, action), b, who="gadmA"), 422,
                     "totp_invalid", "%s with a wrong code" % action)
        T.status(w.call("POST", "/v1/requests/%s/approve" % r1, {"reason": "ok"}, who="lbappA"),
                 422, "mfa_required", "an approver without TOTP cannot approve")
        st, js, _ = w.call("GET", "/v1/requests/" + r1, who="eng")
        T.eq((js or {}).get("state"), "customer_notified", "the refusals changed nothing")
        c = w.totp("gadmA")
        codes.add(c)
        st, js, text = w.call("POST", "/v1/requests/%s/approve" % r1, {"reason": "ok", "totp": c},
                              who="gadmA")
        T.eq((st, (js or {}).get("state")), (200, "approved"), "approve with a good code", text[:300])
        ev = [e for e in events(w, "lockbox.request.approve") if e.get("request") == r1]
        T.check(len(ev) == 1 and ev[0]["details"].get("mfa") is True,
                "lockbox.request.approve records mfa: true", ev)
        # a code is used up only by a decision that is made
        r2 = w.new_request("eng")["id"]
        c = w.totp("ownA1")
        codes.add(c)
        T.status(w.call("POST", "/v1/requests/%s/approve" % r1, {"reason": "x", "totp": c},
                        who="ownA1"), 409, "wrong_state", "approve an approved request, good code")
        T.status(w.call("POST", "/v1/requests/%s/deny" % r2, {"reason": "no", "totp": c},
                        who="ownA1"), 200, None, "the same code then denies another request")
        T.status(w.call("POST", "/v1/requests/%s/revoke" % r1, {"reason": "done"}, who="eng"),
                 422, "mfa_required", "revoke (its engineer) without a code")
        c = w.totp("eng")
        codes.add(c)
        st, js, text = w.call("POST", "/v1/requests/%s/revoke" % r1, {"reason": "done", "totp": c},
                              who="eng")
        T.eq((st, (js or {}).get("state")), (200, "revoked"), "revoke with a good code", text[:300])
        r3 = w.new_request("eng")["id"]
        T.status(w.call("POST", "/v1/requests/%s/cancel" % r3, {"reason": "x"}, who="eng"), 200,
                 None, "cancel needs no code")
        r4 = w.new_request("eng", scope="tenant", tenant="A", hosts=["*"])["id"]
        T.status(w.call("POST", "/v1/requests/%s/internal-approve" % r4, {"reason": "x"},
                        who="iapp"), 200, None, "internal-approve needs no code")

    with T.section("5 wrong codes lock TOTP; the lock ends after totp_lockout"):
        js = enrol(w, "eng5")
        sec5 = js["secret"]
        secrets.append(sec5)
        t0 = settle(margin=10)
        c = oathtool(sec5, t0 + 1)
        T.status(w.call("POST", "/v1/users/self/totp/confirm", {"code": c}, who="eng5"), 200, None,
                 "eng5 confirms")
        bad = wrong_code(sec5, t0 + 1)
        for i in range(1, 5):
            st, js, text = elevate("eng5", bad)
            T.check(st == 422 and err_code(js) == "totp_invalid" and
                    ("%d of 5" % i) in js["error"]["message"],
                    "wrong code %d -> 422 totp_invalid (%d of 5)" % (i, i), text[:300])
        T.status(elevate("eng5", oathtool(sec5, t0 + 1 + STEP)), 201, None,
                 "a good code after 4 wrong ones is accepted and clears the count")
        st, js, text = elevate("eng5", bad)
        T.check(st == 422 and "1 of 5" in text, "the count starts again at 1", text[:300])
        for i in range(2, 5):
            elevate("eng5", bad)
        st, js, text = elevate("eng5", bad)
        T.check(st == 422 and err_code(js) == "totp_invalid" and "lock" in text,
                "the 5th wrong code in a row -> 422 totp_invalid, TOTP locked", text[:300])
        locked_at = time.time()
        T.status(elevate("eng5", oathtool(sec5)), 429, "totp_locked",
                 "while locked a good code gets 429 totp_locked")
        T.status(elevate("eng5", bad), 429, "totp_locked", "... and so does a wrong one")
        T.status(w.call("POST", "/v1/users/self/totp", {"totp": oathtool(sec5)}, who="eng5"), 429,
                 "totp_locked", "... and a replacement of the TOTP")
        T.check("TOTP locked until" in gw.log_text(), "the lock is logged", gw.log_tail(5))
        time.sleep(max(0.0, locked_at + LOCK + 0.5 - time.time()))
        # the steps used so far: t0's (confirm) and the next one's; wait for an unused one
        time.sleep(max(0.0, t0 + STEP + 1.05 - time.time()))
        st, js, text = elevate("eng5", oathtool(sec5, time.time() + STEP))
        T.eq(st, 201, "after totp_lockout a good code is accepted again", text[:300])

    with T.section("replacing an active TOTP needs a current code"):
        c = w.totp("gadmA")
        st, js, text = w.call("POST", "/v1/users/self/totp", {"totp": c}, who="gadmA")
        T.eq(st, 201, "gadmA enrols a new secret with a current code", text[:300])
        new = js["secret"]
        secrets.append(new)
        T.check(new != gsec, "a new secret")
        r5 = w.new_request("eng")["id"]
        c = w.totp("gadmA")     # the old secret stays in force until the new one is confirmed
        T.status(w.call("POST", "/v1/requests/%s/approve" % r5, {"reason": "ok", "totp": c},
                        who="gadmA"), 200, None, "the old secret still works before confirmation")
        step = int(time.time() // STEP)
        c = lbtest.totp_code(new, time.time())
        st, js, text = w.call("POST", "/v1/users/self/totp/confirm", {"code": c}, who="gadmA")
        T.eq(st, 200, "gadmA confirms the new secret", text[:300])
        w.totp_secret["gadmA"], w._totp_step["gadmA"] = new, step
        old = lbtest.totp_code(gsec, time.time() + STEP)
        T.status(w.call("POST", "/v1/requests/%s/revoke" % r5, {"reason": "x", "totp": old},
                        who="gadmA"), 422, "totp_invalid", "the old secret is gone")

    with T.section("directory.totp.enroll: one per confirmation, right level and actor"):
        evs = events(w, "directory.totp.enroll")
        by = {}
        for e in evs:
            by.setdefault(e.get("actor"), []).append(e)
        T.eq(len(by.get(uid["eng"], [])), 1, "one event for eng's one confirmation")
        T.eq(len(by.get(uid["gadmA"], [])), 2, "two for gadmA's enrolment and replacement")
        e = by.get(uid["eng"], [{}])[0]
        T.check(e.get("level") == "provider" and e.get("tenant") is None and
                e.get("subscription") is None, "a provider user's: provider level", e)
        T.check(e.get("details", {}).get("user") == uid["eng"] and
                e["details"].get("login") == "eng" and e["details"].get("replaced") is False,
                "details: user, login, replaced", e.get("details"))
        g = by.get(uid["gadmA"], [{}, {}])
        T.check(all(x.get("level") == "tenant" and x.get("tenant") == w.tenant["A"] for x in g),
                "a customer user's: tenant level, their tenant", g)
        T.eq([x.get("details", {}).get("replaced") for x in g], [False, True],
             "the replacement says replaced: true")
        mine = events(w, "directory.totp.enroll", who="gadmA")
        T.check(mine and all(x.get("tenant") == w.tenant["A"] for x in mine) and
                {x["actor"] for x in mine} == {uid["gadmA"], uid["ownA1"]},
                "tenant A's global admin reads A's TOTP events only", mine)
        T.eq(events(w, "directory.totp.enroll", who="gadmB"), [],
             "tenant B's global admin reads none of them")
        T.check(len(evs) == len({e["id"] for e in evs}) == 7,
                "7 confirmations, 7 events (eng, eng2, eng3, gadmA x2, ownA1, eng5)", len(evs))

    with T.section("the secret: sealed in the database, shown once, never logged"):
        data = gw.db_bytes()   # the file and its WAL, or pg_dump of the PostgreSQL database
        raw = [base64.b32decode(s) for s in secrets]
        T.check(data and not any(s.encode() in data for s in secrets),
                "no secret in base32 in the database (%d secrets)" % len(secrets))
        T.check(not any(r in data or r.hex().encode() in data for r in raw),
                "nor its raw bytes or their hex")
        rows = gw.sql('SELECT "user", secret, pending_secret FROM totp')
        T.check(rows and all(r[1] is None or r[1].startswith("v1:") for r in rows) and
                all(r[2] is None or r[2].startswith("v1:") for r in rows),
                "the totp table holds sealed values (v1:...)", rows[:2])
        keyf = os.path.join(gw.tmp, "totp.key")
        T.eq(oct(stat.S_IMODE(os.stat(keyf).st_mode)), oct(0o600), "totp.key was made 0600")
        with open(keyf) as f:
            T.check(re.fullmatch(r"[0-9a-f]{64}\n", f.read()) is not None,
                    "totp.key holds 256 bits in hex")
        every = ""
        for who in ("admin", "gadmA", "gadmB"):
            items, _ = paginate(gw, "/v1/audit/events", w.tok[who])
            every += repr(items)
        T.check(not any(s in every for s in secrets), "no secret in any audit event")
        leaked = [c for c in codes if re.search(r"(?<![0-9a-f])%s(?![0-9a-f])" % c, every)]
        T.eq(leaked, [], "no code in any audit event")
        users, _ = paginate(gw, "/v1/users", w.tok["admin"])
        T.check(not any(s in repr(users) for s in secrets), "no secret in GET /v1/users")
        log = gw.log_text()
        T.check(not any(s in log for s in secrets), "no secret in the gateway's log")
        T.eq([c for c in codes if re.search(r"(?<![0-9a-f])%s(?![0-9a-f])" % c, log)], [],
             "no code in the gateway's log")

    with T.section("another key does not open the secrets: refused, fail closed"):
        gw.stop()
        os.rename(keyf, keyf + ".old")
        gw.start()
        T.check(os.path.exists(keyf), "a missing key is made again at start")
        t = time.time()
        st, js, text = elevate("eng2", oathtool(sec2, t + STEP))
        T.check(st == 503 and err_code(js) == "totp_unavailable",
                "a good code against a secret sealed under another key -> 503 totp_unavailable",
                text[:300])
        T.check("cannot open the sealed secret" in gw.log_text(), "and the log says why",
                gw.log_tail(5))
        gw.stop()
        os.rename(keyf + ".old", keyf)
        gw.start()
        st, js, text = elevate("eng2", oathtool(sec2, t + STEP))
        T.eq(st, 201, "with its own key back the same code is accepted", text[:300])
    gw.close()

    with T.section("totp_key_file, totp_lockout, approve_mfa in gatewayd.conf"):
        tmp = lbtest.tmpdir("lbtotpconf-")

        def conf(name, extra):
            p = os.path.join(tmp, name + ".conf")
            with open(p, "w") as f:
                f.write("listen = http://127.0.0.1:%d\ndatabase = sqlite://%s/%s.db\n"
                        "checkpoint_key_file = %s/%s.ckpt\n%s\n"
                        % (lbtest.free_port(), tmp, name, tmp, name, extra))
            return p

        key = os.path.join(tmp, "check.key")
        r = gw.run("-c", conf("check", "totp_key_file = %s\napprove_mfa = true\n"
                              "totp_lockout = 10m" % key), "--check-config")
        T.check(r.returncode == 0 and not os.path.exists(key),
                "--check-config accepts the keys and makes no key file", r.stderr)
        for bad, word in (("totp_lockout = 0s", "totp_lockout"), ("approve_mfa = maybe", "approve_mfa"),
                          ("totp_lockout = 2d", "totp_lockout")):
            r = gw.run("-c", conf("bad", bad), "--check-config")
            T.check(r.returncode == 1 and word in r.stderr, "%s is refused" % bad, r.stderr)
        open_key = os.path.join(tmp, "open.key")
        with open(open_key, "w") as f:
            f.write("ab" * 32 + "\n")
        os.chmod(open_key, 0o644)
        r = gw.run("-c", conf("open", "totp_key_file = " + open_key), "--foreground", timeout=30)
        T.check(r.returncode == 1 and "totp_key_file" in r.stderr and "readable by others" in r.stderr,
                "a key others may read: the gateway refuses to start", r.stderr[-300:])
        junk_key = os.path.join(tmp, "junk.key")
        with open(junk_key, "w") as f:
            f.write("not a key\n")
        os.chmod(junk_key, 0o600)
        r = gw.run("-c", conf("junk", "totp_key_file = " + junk_key), "--foreground", timeout=30)
        T.check(r.returncode == 1 and "totp_key_file" in r.stderr and "64 hex" in r.stderr,
                "a key file without a key: the gateway refuses to start", r.stderr[-300:])

    with T.section("without require_mfa and approve_mfa: no code needed, one given is checked"):
        with Gateway() as gw2:
            gw2.start()
            w2 = world(gw2, gw2.bootstrap())
            st, js, _ = w2.call("POST", "/v1/elevations", {"duration": "1h", "justification": "j"},
                                who="eng")
            T.eq((st, (js or {}).get("mfa")), (201, False), "an elevation without a code: mfa false")
            w2.enroll_totp("eng")
            st, js, _ = w2.call("POST", "/v1/elevations", {"duration": "1h", "justification": "j",
                                                           "totp": w2.totp("eng")}, who="eng")
            T.eq((st, (js or {}).get("mfa")), (201, True), "with a good code: mfa true")
            bad = wrong_code(w2.totp_secret["eng"], time.time())
            T.status(w2.call("POST", "/v1/elevations", {"duration": "1h", "justification": "j",
                                                        "totp": bad}, who="eng"),
                     422, "totp_invalid", "a wrong code is refused even when none is required")
            rid = w2.new_request("eng")["id"]
            T.status(w2.call("POST", "/v1/requests/%s/approve" % rid, {"reason": "ok"},
                             who="ownA1"), 200, None, "approve without a code")
    T.done()


main()
