#!/usr/bin/python3
"""Sessions whose end the host never sent: when a grant ends (revoked, or completed by the
sweeper), each session.start of the request with neither a session.end nor a session.lost
gets a gateway session.lost (never a session.end the gateway did not receive); sessions that
did end are left alone, and a real session.end that comes later is stored as sent."""
import lbtest
from lbtest import Gateway, world, wait_until, new_uuid, now_rfc3339

T = lbtest.Runner("sessions")


def send(w, host, typ, req, session, decision="d", details=None):
    d = {"session": session, "decision_id": decision, "user": w.login["eng"]}
    d.update(details or {})
    ev = {"id": new_uuid(), "time": now_rfc3339(), "type": typ, "actor": w.login["eng"],
          "request": req, "details": d}
    if typ == "session.start":
        ev["id"] = session
    return w.must("POST", "/v1/audit/events", {"events": [ev]}, who=host)


def by_session(w, req, typ):
    evs = w.must("GET", "/v1/audit/events?request=%s&type=%s" % (req, typ))["items"]
    out = {}
    for e in evs:
        out.setdefault(e["details"].get("session"), []).append(e)
    return out


def main():
    with Gateway(conf_extra="session_lost_after = 2s") as gw:
        gw.start()
        w = world(gw, gw.bootstrap())
        w.elevate("eng")

        with T.section("revoke records session.lost for the sessions that never ended"):
            r = w.new_request(sub="A1")
            w.must("POST", "/v1/requests/%s/approve" % r["id"], {}, who="ownA1")
            open_s, closed_s, late_s = new_uuid(), new_uuid(), new_uuid()
            send(w, "hA1", "session.start", r["id"], open_s, decision="dec-1")
            send(w, "hA1", "session.start", r["id"], closed_s)
            send(w, "hA1", "session.start", r["id"], late_s)
            send(w, "hA1", "session.end", r["id"], closed_s)
            w.must("POST", "/v1/requests/%s/revoke" % r["id"], {"reason": "done"}, who="ownA1")
            T.eq(by_session(w, r["id"], "session.lost"), {},
                 "not at the revoke: the host's agent has session_lost_after to end them")
            # the agent ends this one and delivers its end within the wait
            send(w, "hA1", "session.end", r["id"], late_s)
            T.check(wait_until(lambda: by_session(w, r["id"], "session.lost"), timeout=15),
                    "session.lost once session_lost_after passed")
            lost = by_session(w, r["id"], "session.lost")
            ends = by_session(w, r["id"], "session.end")
            T.eq(sorted(lost), [open_s], "one session.lost, for the open session only")
            e = (lost.get(open_s) or [{}])[0]
            d = e.get("details", {})
            T.eq(d.get("reason"), "revoked", "reason revoked")
            T.eq(d.get("session"), open_s, "details.session names it")
            T.eq(d.get("decision_id"), "dec-1", "the decision_id of its session.start")
            T.eq(d.get("user"), w.login["eng"], "its user")
            T.check(d.get("start_time"), "its start_time", d)
            T.check("reconciled" not in d, "no 'reconciled' marker: the type says it", d)
            T.eq(e.get("host"), "hA1", "on the session's host")
            T.eq(e.get("subscription"), w.sub["A1"], "in the session's subscription")
            T.eq(e.get("tenant"), w.tenant["A"], "in the session's tenant")
            T.eq(e.get("request"), r["id"], "linked to the request")
            T.eq(sorted(ends), sorted([closed_s, late_s]), "no session.end the host did not send")
            T.eq(len(ends.get(closed_s, [])), 1, "the session that ended keeps only its own end")

        with T.section("a late real session.end is stored as sent"):
            send(w, "hA1", "session.end", r["id"], open_s, details={"pid": 4242})
            ends = by_session(w, r["id"], "session.end")
            e = (ends.get(open_s) or [{}])[0]
            T.eq(e.get("details", {}).get("pid"), 4242, "the host's session.end, as sent")
            T.eq(len(by_session(w, r["id"], "session.lost").get(open_s, [])), 1,
                 "the session.lost stays, once")
            T.eq(w.must("GET", "/v1/audit/verify")["ok"], True, "the chain verifies")

        with T.section("a session the host reported lost gets no second session.lost"):
            r = w.new_request(sub="A1")
            w.must("POST", "/v1/requests/%s/approve" % r["id"], {}, who="ownA1")
            s_host_lost, s_open = new_uuid(), new_uuid()
            send(w, "hA1", "session.start", r["id"], s_host_lost)
            send(w, "hA1", "session.start", r["id"], s_open)
            send(w, "hA1", "session.lost", r["id"], s_host_lost,
                 details={"reason": "agent_restart"})
            w.must("POST", "/v1/requests/%s/revoke" % r["id"], {"reason": "done"}, who="ownA1")
            wait_until(lambda: s_open in by_session(w, r["id"], "session.lost"), timeout=15)
            lost = by_session(w, r["id"], "session.lost")
            T.eq(len(lost.get(s_host_lost, [])), 1, "one session.lost for the host-reported one")
            T.eq((lost.get(s_host_lost) or [{}])[0].get("details", {}).get("reason"),
                 "agent_restart", "and it is the host's")
            T.eq(len(lost.get(s_open, [])), 1, "the other open session got one")
            T.eq(by_session(w, r["id"], "session.end"), {}, "no session.end at all")

        with T.section("hosts may send session.warn, session.terminate, session.lost"):
            r = w.new_request(sub="A1")
            w.must("POST", "/v1/requests/%s/approve" % r["id"], {}, who="ownA1")
            s = new_uuid()
            send(w, "hA1", "session.start", r["id"], s)
            for typ, extra in (("session.warn", {"grant_expires_at": now_rfc3339()}),
                               ("session.terminate", {"reason": "revoked"}),
                               ("session.end", {})):
                js = send(w, "hA1", typ, r["id"], s, details=extra)
                T.eq(js.get("accepted"), 1, "%s accepted" % typ)
                got = by_session(w, r["id"], typ)
                T.eq(len(got.get(s, [])), 1, "%s found with ?type=%s" % (typ, typ))

        with T.section("completion by the sweeper records session.lost too"):
            r = w.new_request(sub="A1", duration="2s")
            w.must("POST", "/v1/requests/%s/approve" % r["id"], {}, who="ownA1")
            s = new_uuid()
            send(w, "hA1", "session.start", r["id"], s)
            ok = wait_until(lambda: s in by_session(w, r["id"], "session.lost"), timeout=15)
            T.check(ok, "a session.lost after the grant completed")
            lost = by_session(w, r["id"], "session.lost").get(s, [{}])
            T.eq(len(lost), 1, "exactly one")
            T.eq(lost[0].get("details", {}).get("reason"), "grant_ended", "reason grant_ended")
            T.eq(by_session(w, r["id"], "session.end"), {}, "no session.end")
            st = w.must("GET", "/v1/requests/" + r["id"], who="eng")["state"]
            T.eq(st, "completed", "the request is completed")


if __name__ == "__main__":
    main()
    T.done()
