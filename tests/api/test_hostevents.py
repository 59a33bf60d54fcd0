#!/usr/bin/python3
"""What a host may claim: its events link only to requests that cover it (other claims are kept
but unlinked), event times are bounded (5 minutes ahead of the gateway, 15 minutes before the
host's enrolment), details are clean text without gateway-only keys, access.check.* only as a
copy of the gateway's own decision, every event says its source, and a check needs a user."""
import time

import lbtest
from lbtest import Gateway, world, new_uuid, now_rfc3339, rfc3339

T = lbtest.Runner("hostevents")


def event(w, req, typ="session.start", time=None):
    return {"id": new_uuid(), "time": time or now_rfc3339(), "type": typ,
            "actor": w.login["eng"], "request": req, "details": {"session": new_uuid()}}


def main():
    with Gateway() as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        w.elevate("eng")
        ra1 = w.new_request(sub="A1")["id"]
        rb1 = w.must("POST", "/v1/requests", w.request_body(sub="B1"), who="eng")["id"]
        ra2 = w.new_request(sub="A2", hosts=["hA2"])["id"]

        with T.section("links only to requests that cover the host"):
            cases = [("own request", ra1, ra1), ("another tenant's request", rb1, None),
                     ("same tenant, other subscription", ra2, None),
                     ("unknown request id", "req_ffffffffffffffff", None)]
            for what, claimed, want in cases:
                ev = event(w, claimed)
                js = w.must("POST", "/v1/audit/events", {"events": [ev]}, who="hA1")
                T.eq(js["accepted"], 1, "%s: the event is stored" % what)
                got = w.must("GET", "/v1/audit/events?type=session.start&host=hA1&limit=200")["items"]
                mine = [e for e in got if e["id"] == ev["id"]]
                T.eq(len(mine), 1, "%s: found once" % what)
                T.eq(mine[0]["request"] if mine else "?", want, "%s: request link" % what)
                if want is None and mine:
                    T.eq(mine[0]["details"].get("unverified_request"), claimed,
                         "%s: the claim is kept as details.unverified_request" % what)
            bl = w.must("GET", "/v1/audit/events?request=%s" % rb1)["items"]
            T.check(all(e["host"] != "hA1" for e in bl), "B's request shows no event of host hA1")

        post = lambda evs, who="hA1": w.call("POST", "/v1/audit/events", {"events": evs}, who=who)
        stored = lambda i: [e for e in w.must("GET", "/v1/audit/events?host=hA1&limit=200")["items"]
                            if e["id"] == i]

        with T.section("event times: 5 minutes ahead at most, not before the host's enrolment"):
            now = time.time()
            for what, t in (("far in the future", "9999-12-31T23:59:59Z"),
                            ("10 minutes ahead", rfc3339(now + 600)),
                            ("years before the enrolment", "2020-01-01T00:00:00Z"),
                            ("an hour before the enrolment", rfc3339(now - 3600))):
                ev = event(w, ra1, time=t)
                st, js, text = post([ev])
                T.eq((st, lbtest.err_code(js)), (422, "event_time_out_of_range"),
                     "%s -> 422 event_time_out_of_range" % what, text[:200])
                T.eq(stored(ev["id"]), [], "%s: nothing stored" % what)
            for what, t in (("1 minute ahead (clock skew)", rfc3339(now + 60)),
                            ("5 minutes before the enrolment (clock skew)", rfc3339(now - 300)),
                            ("now", now_rfc3339())):
                st, js, text = post([event(w, ra1, time=t)])
                T.eq((st, js and js.get("accepted")), (200, 1), "%s is accepted" % what, text[:200])

        with T.section("details: clean text everywhere (400 bad_text naming the field)"):
            for what, d, field in (
                    ("a newline", {"user": "eng\nFAKE event=access.check.allow"}, "details.user"),
                    ("an escape sequence, nested", {"a": {"b": ["ok", "\x1b[2J"]}}, "details.a.b[1]"),
                    ("a C1 control", {"msg": "x\u0085y"}, "details.msg"),
                    ("DEL", {"msg": "x\x7f"}, "details.msg"),
                    ("a control character in a key", {"k\tey": "v"}, "details")):
                ev = event(w, ra1)
                ev["details"] = d
                st, js, text = post([event(w, ra1), ev])
                T.eq((st, lbtest.err_code(js)), (400, "bad_text"), "%s -> 400 bad_text" % what, text[:200])
                T.check("events[1]." + field in ((js or {}).get("error") or {}).get("message", ""),
                        "%s: the message names events[1].%s" % (what, field), text[:200])
                T.eq(stored(ev["id"]), [], "%s: nothing stored" % what)
            ev = event(w, ra1)
            raw = ('{"events":[{"id":"%s","time":"%s","type":"session.start","actor":"eng",'
                   '"details":{"x":"' % (ev["id"], ev["time"])).encode() + b"\xc3\x28" + b'"}}]}'
            st, js, text = w.call("POST", "/v1/audit/events", raw=raw, who="hA1")
            T.check(st == 400 and lbtest.err_code(js) in ("bad_json", "bad_text"),
                    "invalid UTF-8 inside details -> 400", "%d %s" % (st, text[:200]))
            deep = {"x": 1}
            for _ in range(12):
                deep = {"x": deep}
            ev = event(w, ra1)
            ev["details"] = deep
            st, js, text = post([ev])
            T.eq((st, lbtest.err_code(js)), (400, "bad_value"), "details nested 13 deep -> 400", text[:200])
            ev = event(w, ra1)
            ev["details"] = {"user": "ingrid", "tty": "pts/3", "n": 3, "ok": True, "none": None,
                             "list": ["a", "é", "日本"], "msg": "quotes \" and \\ and ' are text"}
            st, js, text = post([ev])
            T.eq((st, js and js.get("accepted")), (200, 1), "printable UTF-8 details are accepted", text[:200])
            got = stored(ev["id"])
            T.eq(got[0]["details"] if got else None, ev["details"], "and stored verbatim")

        with T.section("details: keys only the gateway writes -> 422 gateway_only_key"):
            for key in ("reconciled", "unverified_request", "source"):
                ev = event(w, ra1, typ="session.lost")
                ev["details"][key] = True if key == "reconciled" else "x"
                st, js, text = post([ev])
                T.eq((st, lbtest.err_code(js)), (422, "gateway_only_key"), "details.%s -> 422" % key,
                     text[:200])
                T.eq(stored(ev["id"]), [], "details.%s: nothing stored" % key)

        with T.section("types: session.* and access.check.* from the host"):
            for typ in ("session.start", "session.end", "session.warn", "session.terminate",
                        "session.lost"):
                ev = event(w, ra1, typ=typ)
                st, js, text = post([ev])
                T.eq((st, js and js.get("accepted")), (200, 1), "%s is accepted" % typ, text[:200])
            for typ in ("lockbox.request.approve", "host.enroll", "directory.user.create",
                        "access.check.maybe", "session.other"):
                st, js, text = post([event(w, ra1, typ=typ)])
                T.eq((st, lbtest.err_code(js)), (400, "bad_value"), "%s -> 400 bad_value" % typ, text[:200])
            ans = w.check("hA1", w.login["eng"])
            did = ans["decision_id"]
            # a decision the host made itself is kept (a login it let in or turned away
            # happened); an allow is checked against the request it names
            own_deny = event(w, ra1, typ="access.check.deny")
            own_deny["details"] = {"decision": "deny", "reason": "gateway_unreachable",
                                   "user": w.login["eng"], "service": "sshd"}
            st, js, text = post([own_deny])
            T.eq((st, js and js.get("accepted")), (200, 1), "a host-made deny is accepted", text[:200])
            got = stored(own_deny["id"])
            T.check(len(got) == 1 and got[0]["source"] == "host" and
                    "verified" not in got[0]["details"], "stored as the host's, no verdict", got)
            forged = event(w, ra1, typ="access.check.allow", time=rfc3339(time.time() - 120))
            forged["details"] = {"decision": "allow", "user": w.login["eng"], "service": "sshd"}
            forged["request"] = None
            st, js, text = post([forged])
            T.eq((st, js and js.get("accepted")), (200, 1), "a host-made allow without a request "
                 "is accepted (it happened on the host)", text[:200])
            got = stored(forged["id"])
            T.check(len(got) == 1 and got[0]["details"].get("verified") is False and
                    got[0]["details"].get("unverified_reason") == "no such request",
                    "and marked verified=false: no such request", got)
            for key in ("verified", "unverified_reason"):
                ev = event(w, ra1, typ="access.check.allow")
                ev["details"] = {"decision": "allow", "user": w.login["eng"], key: True}
                st, js, text = post([ev])
                T.eq((st, lbtest.err_code(js)), (422, "gateway_only_key"),
                     "a host cannot set details.%s" % key, text[:200])
            copy = {"id": did, "time": now_rfc3339(), "type": "access.check." + ans["decision"],
                    "actor": w.login["eng"], "request": ans.get("request"),
                    "details": {"decision": ans["decision"], "reason": ans["reason"],
                                "decision_id": did}}
            st, js, text = post([copy, event(w, ra1)])
            T.eq((st, js and js.get("accepted"), js and js.get("duplicates")), (200, 1, 1),
                 "the host's copy of the gateway's decision is a duplicate", text[:200])
            got = stored(did)
            T.check(len(got) == 1 and got[0]["source"] == "gateway" and
                    got[0]["type"] == "access.check." + ans["decision"],
                    "the stored decision is still the gateway's", got)

        with T.section("every event says its source, covered by the chain"):
            evs = w.must("GET", "/v1/audit/events?limit=200")["items"]
            T.check(evs and all(e.get("source") in ("gateway", "host") for e in evs),
                    "every event has source gateway or host", [e for e in evs if e.get("source")
                                                              not in ("gateway", "host")][:2])
            T.check(all(e["source"] == "host" for e in evs if e["type"].startswith("session.")
                        and e.get("host") == "hA1"), "the host's session events: source host")
            T.check(all(e["source"] == "host" for e in evs if e["type"].startswith("access.check.")
                        and e["id"] in (own_deny["id"], forged["id"])),
                    "the decisions the host made: source host")
            T.check(all(e["source"] == "gateway" for e in evs
                        if not e["type"].startswith("session.")
                        and e["id"] not in (own_deny["id"], forged["id"])),
                    "the rest: source gateway")
            T.eq(w.must("GET", "/v1/audit/verify").get("ok"), True, "the chain verifies")

        with T.section("a check needs a user and a service"):
            for body in ({"user": "", "service": "sshd"}, {"user": "eng", "service": ""}):
                st, js, _ = w.call("POST", "/v1/check", body, who="hA1")
                T.eq((st, lbtest.err_code(js)), (400, "bad_value"), "%r -> 400 bad_value" % body)


if __name__ == "__main__":
    main()
    T.done()
