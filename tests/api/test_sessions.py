#!/usr/bin/python3
"""Session reconciliation: when a grant ends (revoked, or completed by the sweeper), each
session.start of the request without its session.end gets a gateway session.end marked
reconciled; sessions that did end are left alone."""
import lbtest
from lbtest import Gateway, world, wait_until, new_uuid, now_rfc3339

T = lbtest.Runner("sessions")


def send(w, host, typ, req, session, decision="d"):
    ev = {"id": new_uuid(), "time": now_rfc3339(), "type": typ, "actor": w.login["eng"],
          "request": req, "details": {"session": session, "decision_id": decision,
                                       "user": w.login["eng"]}}
    if typ == "session.start":
        ev["id"] = session
    w.must("POST", "/v1/audit/events", {"events": [ev]}, who=host)


def ends(w, req):
    evs = w.must("GET", "/v1/audit/events?request=%s&type=session.end" % req)["items"]
    return {e["details"].get("session"): e for e in evs}


def main():
    with Gateway() as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        w.elevate("eng")

        with T.section("revoke closes the sessions that never ended"):
            r = w.new_request(sub="A1")
            w.must("POST", "/v1/requests/%s/approve" % r["id"], {}, who="ownA1")
            open_s, closed_s = new_uuid(), new_uuid()
            send(w, "hA1", "session.start", r["id"], open_s)
            send(w, "hA1", "session.start", r["id"], closed_s)
            send(w, "hA1", "session.end", r["id"], closed_s)
            w.must("POST", "/v1/requests/%s/revoke" % r["id"], {"reason": "done"}, who="ownA1")
            e = ends(w, r["id"])
            T.check(open_s in e, "the open session got a session.end")
            T.eq(e.get(open_s, {}).get("details", {}).get("reconciled"), True, "marked reconciled")
            T.eq(e.get(open_s, {}).get("details", {}).get("reason"), "revoked", "reason revoked")
            T.eq(e.get(open_s, {}).get("host"), "hA1", "on the session's host")
            T.eq(e.get(open_s, {}).get("subscription"), w.sub["A1"], "in the session's subscription")
            T.check(not e.get(closed_s, {}).get("details", {}).get("reconciled"),
                    "the session that ended keeps only its own session.end")
            evs = w.must("GET", "/v1/audit/events?request=%s&type=session.end" % r["id"])["items"]
            T.eq(len(evs), 2, "exactly one session.end per session")
            T.eq(w.must("GET", "/v1/audit/verify")["ok"], True, "the chain verifies")

        with T.section("completion by the sweeper closes them too"):
            r = w.new_request(sub="A1", duration="2s")
            w.must("POST", "/v1/requests/%s/approve" % r["id"], {}, who="ownA1")
            s = new_uuid()
            send(w, "hA1", "session.start", r["id"], s)
            ok = wait_until(lambda: s in ends(w, r["id"]), timeout=15)
            T.check(ok, "a reconciled session.end after the grant completed")
            T.eq(ends(w, r["id"]).get(s, {}).get("details", {}).get("reason"), "grant_ended",
                 "reason grant_ended")
            st = w.must("GET", "/v1/requests/" + r["id"], who="eng")["state"]
            T.eq(st, "completed", "the request is completed")


if __name__ == "__main__":
    main()
    T.done()
