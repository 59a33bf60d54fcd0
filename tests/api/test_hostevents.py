#!/usr/bin/python3
"""What a host may claim: its events link only to requests that cover it (other claims are kept
but unlinked), event times are bounded, and a check needs a user."""
import lbtest
from lbtest import Gateway, world, new_uuid, now_rfc3339

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

        with T.section("event times"):
            st, js, _ = w.call("POST", "/v1/audit/events",
                               {"events": [event(w, ra1, time="9999-12-31T23:59:59Z")]}, who="hA1")
            T.eq((st, lbtest.err_code(js)), (400, "bad_time"), "a time far in the future -> 400 bad_time")
            st, js, _ = w.call("POST", "/v1/audit/events",
                               {"events": [event(w, ra1, time="2020-01-01T00:00:00Z")]}, who="hA1")
            T.eq(st, 200, "an old time (store and forward) is accepted")

        with T.section("a check needs a user and a service"):
            for body in ({"user": "", "service": "sshd"}, {"user": "eng", "service": ""}):
                st, js, _ = w.call("POST", "/v1/check", body, who="hA1")
                T.eq((st, lbtest.err_code(js)), (400, "bad_value"), "%r -> 400 bad_value" % body)


if __name__ == "__main__":
    main()
    T.done()
