#!/usr/bin/python3
"""Scope leaks (issue 13 item 8): the audit chain is verified by provider admins only (it is one
order over every tenant), and a disabled host may send only the record of its sessions being
ended (access.check.deny, session.terminate, session.end), nothing else."""
import lbtest
from lbtest import Gateway, world, new_uuid, now_rfc3339, err_code

T = lbtest.Runner("scopeleaks")


def event(typ, session, eid=None):
    return {"id": eid or new_uuid(), "time": now_rfc3339(), "type": typ, "actor": "eng",
            "details": {"session": session, "reason": "host_disabled"}}


def stored(w, eid):
    items = w.must("GET", "/v1/audit/events?host=hA1&limit=200")["items"]
    return [e for e in items if e["id"] == eid]


def main():
    with Gateway() as gw:
        gw.start()
        w = world(gw, gw.bootstrap())

        with T.section("GET /v1/audit/verify: provider admins only"):
            T.status(w.call("GET", "/v1/audit/verify"), 200, None, "provider admin verifies")
            for who in ("gadmA", "gadmB"):
                T.status(w.call("GET", "/v1/audit/verify", who=who), 403, "forbidden",
                         "global admin %s verifies every tenant's chain" % who)

        with T.section("a disabled host sends only the end of its sessions"):
            sid = new_uuid()
            ev = event("session.start", sid)
            T.status(w.call("POST", "/v1/audit/events", {"events": [ev]}, who="hA1"), 200, None,
                     "enabled host: session.start")
            w.must("POST", "/v1/hosts/%s/disable" % w.host["hA1"]["id"], {}, expect=200)
            # what the agent sends when the disable ends a live session: the gateway's deny
            # (its own decision id), then session.terminate and session.end
            chk = w.must("POST", "/v1/check", {"user": "eng", "service": "sshd", "session": sid},
                         who="hA1", expect=200)
            T.eq((chk.get("decision"), chk.get("reason")), ("deny", "host_disabled"),
                 "the disabled host's check is denied")
            for typ in ("session.start", "session.warn", "access.check.allow", "session.lost"):
                bad = event(typ, sid)
                st, js, text = w.call("POST", "/v1/audit/events", {"events": [bad]}, who="hA1")
                T.check(st == 403 and err_code(js) == "forbidden" and "host disabled" in text,
                        "disabled host: %s -> 403 forbidden (host disabled)" % typ,
                        "got %d %s" % (st, text[:200]))
                T.eq(stored(w, bad["id"]), [], "disabled host: %s not stored" % typ)
            end = [event("session.terminate", sid), event("session.end", sid)]
            mixed = end + [event("session.start", new_uuid())]
            st, js, text = w.call("POST", "/v1/audit/events", {"events": mixed}, who="hA1")
            T.eq((st, err_code(js)), (403, "forbidden"), "a batch with one refused event -> 403")
            T.eq(stored(w, end[0]["id"]), [], "... and nothing of it is stored")
            batch = [event("access.check.deny", sid, eid=chk.get("decision_id"))] + end
            st, js, text = w.call("POST", "/v1/audit/events", {"events": batch}, who="hA1")
            T.check(st == 200 and js.get("accepted", 0) + js.get("duplicates", 0) == 3,
                    "disabled host: access.check.deny copy, session.terminate, session.end -> 200",
                    "got %d %s" % (st, text[:300]))
            T.eq([len(stored(w, e["id"])) for e in end], [1, 1],
                 "session.terminate and session.end are stored")
            T.status(w.call("POST", "/v1/audit/events", {"events": [event("session.start", new_uuid())]},
                            who="hA2"), 200, None, "another, enabled host still sends session.start")


if __name__ == "__main__":
    main()
    T.done()
