"""lockboxctl through the support workflow against the real gateway: tickets, elevations,
requests (create with every option, list filters, show, internal-approve, approve, deny,
revoke, cancel) and the audit commands (list filters, export of every page, verify);
--json compared with the API, refusals exit 1."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lbtest                      # noqa: E402
from lbtest import paginate        # noqa: E402
from ctltest import Ctl            # noqa: E402

T = lbtest.Runner("cli/workflow")


def main():
    gw = lbtest.Gateway()
    gw.start()
    admin = gw.bootstrap()
    w = lbtest.world(gw, admin)
    c = Ctl(gw)
    tok = w.tok
    A, A1, A2 = w.tenant["A"], w.sub["A1"], w.sub["A2"]

    def run(who, *args, **kw):
        return c.run(*args, token=tok[who], **kw)

    with T.section("tickets"):
        r = run("custA", "ticket", "create", "--tenant", A, "--subscription", A1, "--title",
                "disk full", "--description", "/var is full on hA1", json_out=True)
        T.check(r.rc == 0, "customer user opens a ticket", r)
        tk = r.json()
        T.check(lbtest.is_id(tk.get("id"), "tkt") and tk.get("subscription") == A1 and
                tk.get("state") == "open", "ticket create prints the ticket", tk)
        r = run("custA", "ticket", "show", tk["id"], json_out=True)
        T.check(r.rc == 0 and r.json() == w.must("GET", "/v1/tickets/" + tk["id"], who="custA"),
                "ticket show --json equals the API", r)
        r = run("eng", "ticket", "list", "--tenant", A, json_out=True)
        items, _ = paginate(gw, "/v1/tickets?tenant=" + A, tok["eng"])
        T.check(r.rc == 0 and r.json() == items, "engineer: ticket list --tenant equals the API", r)
        r = run("eng", "ticket", "list")
        T.check(r.rc == 0 and "disk full" in r.out, "ticket list table", r)
        r = run("eng", "ticket", "create", "--tenant", A, "--title", "x", "--description", "y")
        T.check(r.rc == 1 and "forbidden" in r.err, "an engineer cannot open tickets: exit 1", r)
        r = run("custB", "ticket", "show", tk["id"])
        T.check(r.rc == 1 and "not_found" in r.err, "another tenant's ticket: exit 1 not_found", r)
        closed = w.new_ticket("A", title="to close")
        r = run("custA", "ticket", "close", closed, json_out=True)
        T.check(r.rc == 0 and r.json().get("state") == "closed", "ticket close", r)

    with T.section("elevations"):
        r = run("eng", "elevate", "--duration", "2h", "--reason", "INC-42", json_out=True)
        T.check(r.rc == 0, "engineer elevates", r)
        el = r.json()
        T.check(lbtest.is_id(el.get("id"), "elv") and el.get("justification") == "INC-42" and
                el.get("expires_at"), "elevate prints the elevation", el)
        r = run("eng", "elevation", "list", json_out=True)
        T.check(r.rc == 0 and el["id"] in [e["id"] for e in r.json()], "elevation list", r)
        r = run("eng", "elevation", "list")
        T.check(r.rc == 0 and "INC-42" in r.out, "elevation list table", r)
        r = run("eng", "elevate", "--duration", "100d", "--reason", "too long")
        T.check(r.rc == 1, "an elevation over max_elevation: exit 1", r)
        r = run("ownA1", "elevate", "--duration", "1h", "--reason", "x")
        T.check(r.rc == 1 and "forbidden" in r.err, "a customer cannot elevate: exit 1", r)
        r = run("ownA1", "elevation", "list")
        T.check(r.rc == 1 and "forbidden" in r.err, "a customer has no elevations to list", r)
        r = run("nobody", "ticket", "list")
        T.check(r.rc == 1, "a user without a role cannot list tickets: exit 1", r)
        w.elevate("eng2")

    with T.section("request create"):
        r = run("eng", "request", "create", "--ticket", tk["id"], "--host", "hA1", "--duration",
                "1h", "--reason", "clean up /var", json_out=True)
        T.check(r.rc == 0, "request create (subscription from the ticket)", r)
        rq = r.json()
        T.check(rq.get("subscription") == A1 and rq.get("scope") == "subscription" and
                rq.get("hosts") == ["hA1"] and rq.get("access") == "ssh" and
                rq.get("justification") == "clean up /var" and
                rq.get("state") == "customer_notified", "the request as asked", rq)
        r = run("eng", "request", "create", "--ticket", w.ticket["A"], "--host", "hA1",
                "--reason", "x")
        T.check(r.rc == 2 and "--subscription" in r.err,
                "a ticket without a subscription needs --subscription: exit 2", r)
        r = run("eng", "request", "create", "--ticket", w.ticket["A"], "--subscription", A2,
                "--host", "hA2", "--host", "hA2b", "--access", "rdp", "--duration", "30m",
                "--reason", "two hosts", json_out=True)
        T.check(r.rc == 1 and "host" in r.err, "an unknown host name: exit 1", r)
        r = run("eng", "request", "create", "--ticket", w.ticket["A"], "--subscription", A2,
                "--all-hosts", "--access", "rdp", "--duration", "30m", "--reason", "all",
                json_out=True)
        T.check(r.rc == 0 and r.json().get("hosts") == ["*"] and
                r.json().get("access") == "rdp" and r.json().get("subscription") == A2,
                "--all-hosts --access rdp --subscription", r)
        rq_all = r.json()
        r = run("eng", "request", "create", "--ticket", w.ticket["A"], "--scope", "tenant",
                "--all-hosts", "--duration", "1h", "--reason", "tenant wide", json_out=True)
        T.check(r.rc == 0 and r.json().get("scope") == "tenant" and
                r.json().get("state") == "internal_review",
                "--scope tenant goes to internal review", r)
        rq_t = r.json()
        r = run("eng", "request", "create", "--ticket", tk["id"], "--host", "hA1", "--duration",
                "9h", "--reason", "too long")
        T.check(r.rc == 1 and "duration_too_long" in r.err, "over max_grant: exit 1", r)
        r = run("ownA1", "request", "create", "--ticket", tk["id"], "--host", "hA1",
                "--reason", "x")
        T.check(r.rc == 1 and "forbidden" in r.err, "a customer cannot request: exit 1", r)
        r = run("eng", "request", "create", "--ticket", closed, "--subscription", A1,
                "--host", "hA1", "--reason", "x")
        T.check(r.rc == 1 and "ticket_closed" in r.err, "a closed ticket: exit 1", r)

    with T.section("request list and show"):
        r = run("eng", "request", "list", "--mine", json_out=True)
        items, _ = paginate(gw, "/v1/requests?mine=true", tok["eng"])
        T.check(r.rc == 0 and r.json() == items and len(items) == 3,
                "request list --mine equals the API", r)
        r = run("ownA1", "request", "list", "--state", "customer_notified", json_out=True)
        T.check(r.rc == 0 and [x["id"] for x in r.json()] == [rq["id"]],
                "owner A1 sees the pending request of A1 only", r)
        r = run("ownA1", "request", "list", "--state", "customer_notified")
        T.check(r.rc == 0 and rq["id"] in r.out and "customer_notified" in r.out and
                "eng" in r.out, "request list table shows state and requester", r)
        r = run("iapp", "request", "list", "--state", "pending", json_out=True)
        ids = [x["id"] for x in r.json()] if r.rc == 0 else []
        T.check(r.rc == 0 and set(ids) == {rq["id"], rq_all["id"], rq_t["id"]},
                "--state pending: internal_review and customer_notified", r)
        r = run("gadmA", "request", "list", "--host", "hA1", json_out=True)
        T.check(r.rc == 0 and rq["id"] in [x["id"] for x in r.json()], "--host filter", r)
        r = run("gadmA", "request", "list", "--tenant", A, "--state", "internal_review",
                json_out=True)
        T.check(r.rc == 0, "--tenant filter", r)
        r = run("eng", "request", "show", rq["id"], json_out=True)
        T.check(r.rc == 0 and r.json() == w.must("GET", "/v1/requests/" + rq["id"], who="eng"),
                "request show --json equals the API", r)
        r = run("ownA1", "request", "show", rq["id"])
        T.check(r.rc == 0 and "History:" in r.out and "create" in r.out and
                "disk full" in r.out and "hA1" in r.out,
                "request show: fields, ticket title, history", r)
        T.check(any(row[1:3] == ["create", "eng"] for row in r.table() if len(row) >= 3),
                "request show: the history names the requester by login", r.table())
        r = run("custB", "request", "show", rq["id"])
        T.check(r.rc == 1 and "not_found" in r.err, "another tenant's request: exit 1", r)

    with T.section("decisions"):
        r = run("eng", "request", "approve", rq["id"])
        T.check(r.rc == 1, "the engineer cannot approve (customer step): exit 1", r)
        r = run("ownA2", "request", "approve", rq["id"])
        T.check(r.rc == 1, "the owner of another subscription cannot approve: exit 1", r)
        r = run("ownA1", "request", "approve", rq["id"], "--reason", "go ahead")
        T.check(r.rc == 0 and "approved" in r.out, "owner approves", r)
        st = w.must("GET", "/v1/requests/" + rq["id"], who="eng")
        T.check(st["state"] == "approved" and st.get("decision_reason") == "go ahead",
                "the API shows it approved with the reason", st)
        r = run("ownA1", "request", "show", rq["id"])
        T.check(r.rc == 0 and any(row[1:] == ["approve", row[2], "go ahead"]
                                  for row in r.table() if len(row) == 4),
                "request show: the approval and its reason in the history", r)
        r = run("ownA1", "request", "approve", rq["id"])
        T.check(r.rc == 1 and "wrong_state" in r.err, "approving twice: exit 1 wrong_state", r)
        r = run("ownA1", "request", "revoke", rq["id"], "--reason", "done", json_out=True)
        T.check(r.rc == 0 and r.json().get("state") == "revoked", "revoke --json", r)

        r = run("eng2", "request", "create", "--ticket", tk["id"], "--host", "hA1",
                "--reason", "second", json_out=True)
        rq2 = r.json() if r.rc == 0 else {}
        r = run("gadmA", "request", "deny", rq2.get("id", "x"), "--reason", "not now")
        T.check(r.rc == 0 and "denied" in r.out, "global admin denies", r)
        r = run("eng2", "request", "cancel", rq2.get("id", "x"))
        T.check(r.rc == 1 and "wrong_state" in r.err, "cancel after deny: exit 1", r)

        r = run("iapp", "request", "internal-approve", rq_t["id"], "--reason", "checked")
        T.check(r.rc == 0 and "customer_notified" in r.out, "internal approver passes it on", r)
        r = run("ownA1", "request", "approve", rq_t["id"])
        T.check(r.rc == 1, "an owner cannot approve a tenant-scoped request", r)
        r = run("lbappA", "request", "approve", rq_t["id"])
        T.check(r.rc == 0 and "approved" in r.out, "lockbox approver approves it", r)
        r = run("eng", "request", "revoke", rq_t["id"], "--reason", "finished early")
        T.check(r.rc == 0 and "revoked" in r.out, "the engineer revokes their own grant", r)

        r = run("eng", "request", "cancel", rq_all["id"], "--reason", "not needed")
        T.check(r.rc == 0 and "canceled" in r.out, "the engineer cancels", r)
        r = run("eng2", "request", "cancel", rq_all["id"])
        T.check(r.rc == 1, "another engineer cannot cancel it", r)
        r = run("ownA1", "request", "approve", "req_0000000000000000")
        T.check(r.rc == 1 and "not_found" in r.err, "an unknown request: exit 1 not_found", r)

    with T.section("audit"):
        r = c.run("audit", "list", "--request", rq["id"], token=admin, json_out=True)
        items, _ = paginate(gw, "/v1/audit/events?request=" + rq["id"], admin)
        types = [e["type"] for e in items]
        T.check(r.rc == 0 and r.json() == items, "audit list --request equals the API", r)
        T.check(types[:3] == ["lockbox.request.create", "lockbox.request.approve",
                              "lockbox.request.revoke"], "the request's events", types)
        r = c.run("audit", "list", "--request", rq["id"], token=admin)
        T.check(r.rc == 0 and "lockbox.request.approve" in r.out and "SEQ" in r.out,
                "audit list table", r)
        r = c.run("audit", "list", "--type", "pim.elevation.activate", "--since", "1h",
                  token=admin, json_out=True)
        T.check(r.rc == 0 and len(r.json()) == 2 and
                all(e["type"] == "pim.elevation.activate" for e in r.json()),
                "--type and --since (a duration back from now)", r)
        r = c.run("audit", "list", "--until", "2000-01-01T00:00:00Z", token=admin, json_out=True)
        T.check(r.rc == 0 and r.json() == [], "--until in the past: nothing", r)
        # times round-trip: what a table prints (UTC, "2026-12-01 22:40:00") goes back in
        r = c.run("audit", "list", "--type", "pim.elevation.activate", token=admin, json_out=True)
        first = r.json()[0]
        shown = first["time"][:10] + " " + first["time"][11:19]
        r = c.run("audit", "list", "--type", "pim.elevation.activate", "--since", shown,
                  token=admin, json_out=True)
        T.check(r.rc == 0 and len(r.json()) == 2,
                "--since with a table's time (%s): both activations" % shown, r)
        r = c.run("audit", "list", "--until", shown[:10], token=admin, json_out=True)
        T.check(r.rc == 0 and not [e for e in r.json() if e["time"] >= shown[:10]],
                "--until with a date: nothing from that day on", r)
        r = c.run("audit", "list", "--type", "pim.elevation.activate", "--since",
                  shown + "+00:00", token=admin, json_out=True)
        T.check(r.rc == 0 and len(r.json()) == 2, "--since with an explicit zone", r)
        r = c.run("audit", "list", "--level", "tenant", "--tenant", A, token=admin,
                  json_out=True)
        T.check(r.rc == 0 and all(e["level"] == "tenant" for e in r.json()), "--level tenant", r)
        r = c.run("audit", "list", "--subscription", A1, token=tok["ownA1"], json_out=True)
        T.check(r.rc == 0 and r.json() and all(e["subscription"] == A1 for e in r.json()),
                "an owner reads their subscription's events", r)
        r = c.run("audit", "list", token=tok["eng"])
        T.check(r.rc == 1 and "forbidden" in r.err, "an engineer cannot read the audit log", r)

        everything, _ = paginate(gw, "/v1/audit/events", admin)
        r = c.run("audit", "export", "--limit", "7", token=admin)
        lines = [json.loads(l) for l in r.out.splitlines()] if r.rc == 0 else []
        T.check(r.rc == 0 and lines == everything and len(everything) > 14,
                "audit export --limit 7: every page as JSON lines (%d events)" % len(everything), r)
        T.check(("exported %d events" % len(everything)) in r.err, "export counts on stderr", r)
        r = c.run("audit", "export", "--request", rq["id"], token=admin)
        T.check(r.rc == 0 and [json.loads(l)["type"] for l in r.out.splitlines()] == types,
                "audit export with a filter", r)
        r = c.run("audit", "verify", token=admin)
        T.check(r.rc == 0 and "audit chain ok" in r.out, "audit verify: ok, exit 0", r)
        r = c.run("audit", "verify", token=admin, json_out=True)
        T.check(r.rc == 0 and r.json().get("ok") is True and
                r.json() == w.must("GET", "/v1/audit/verify"), "audit verify --json", r)
        r = c.run("audit", "verify", token=tok["gadmA"])
        T.check(r.rc == 1 and "forbidden" in r.err + r.out,
                "a global admin may not verify the whole chain: exit 1, forbidden", r)
        r = c.run("audit", "verify", token=tok["eng"])
        T.check(r.rc == 1 and "forbidden" in r.err, "an engineer may not verify: exit 1", r)
    gw.close()
    T.done()


main()
