"""GET /metrics from a live gateway after real traffic: every access check counted by outcome
and deny reason exactly as the answers gave them, the check's latency histogram holding every
decided check, the store's histograms by op, notification attempts and the outbox by state
(a webhook that cannot be reached, given up after one attempt), the parked change long-poll
and the open connections; histograms consistent (cumulative buckets, +Inf = _count); and the
whole page valid for `promtool check metrics` (Debian's prometheus package)."""

import collections
import os
import re
import shutil
import subprocess
import threading
import time

import lbtest
from lbtest import api

T = lbtest.Runner("api/metrics")

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(gw):
    st, _, text = api(gw, "GET", "/metrics")
    T.eq(st, 200, "GET /metrics -> 200")
    samples, types, bad = {}, {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            bad.append(line)
            continue
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        samples[(m.group(1), labels)] = float(m.group(3))
    T.eq(bad, [], "every sample line parses")
    return text, samples, types


def val(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def check_histogram(samples, name, **labels):
    """Buckets cumulative and ascending by le, +Inf present and equal to _count."""
    base = tuple(sorted(labels.items()))
    buckets = []
    for (n, ls), v in samples.items():
        if n != name + "_bucket":
            continue
        d = dict(ls)
        le = d.pop("le", None)
        if tuple(sorted(d.items())) == base and le is not None:
            buckets.append((float("inf") if le == "+Inf" else float(le), v))
    buckets.sort()
    count = val(samples, name + "_count", **labels)
    what = "%s%s" % (name, "{%s}" % ",".join("%s=%s" % kv for kv in base) if base else "")
    ok = (len(buckets) >= 10 and buckets[-1][0] == float("inf") and count is not None and
          buckets[-1][1] == count and all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
          and val(samples, name + "_sum", **labels) is not None)
    T.check(ok, "%s: cumulative buckets, +Inf = _count, a _sum" % what, (buckets, count))
    return count or 0, buckets


def main():
    dead = lbtest.free_port()   # nothing listens there: every webhook attempt fails
    gw = lbtest.Gateway(conf_extra="webhook_url = http://127.0.0.1:%d/hook\n"
                                   "webhook_secret = %s\n"
                                   "notify_max_attempts = 1\n" % (dead, "s" * 24))
    gw.start()
    w = lbtest.world(gw, gw.bootstrap())
    answers = []

    def check(host, user, service="sshd"):
        js = w.check(host, user, service)
        answers.append((js["decision"], js["reason"]))
        return js

    with T.section("traffic: checks with several outcomes"):
        w.add_user("e_m", "provider", role="engineer")
        w.elevate("e_m", duration="1h")
        rid = w.new_request("e_m", duration="30m")["id"]
        check("hA1", "e_m")                          # pending
        w.must("POST", "/v1/requests/%s/approve" % rid, {"reason": "ok"}, who="ownA1",
               expect=200)
        for _ in range(3):
            check("hA1", "e_m")                      # allow
        check("hA1", "e_m", "xrdp-sesman")           # wrong_access_type
        for _ in range(4):
            check("hA2", "e_m")                      # no request covers hA2
        check("hA1", "someone-else")                 # no request at all
        got = collections.Counter(answers)
        T.note("answers: %r" % dict(got))
        T.check(got[("allow", "allow")] == 3 and len({r for d, r in answers if d == "deny"}) >= 3,
                "3 allows and at least 3 different deny reasons", got)

    with T.section("notifications settle: mail sent, the webhook given up"):
        def settled():
            st, js, _ = w.call("GET", "/v1/notifications?limit=200")
            items = (js or {}).get("items", []) if st == 200 else []
            hooks = [n for n in items if n.get("channel") == "webhook"]
            if hooks and all(n.get("state") != "pending" for n in items):
                return items
            return None
        items = lbtest.wait_until(settled, 20, 0.2) or []
        states = collections.Counter((n.get("channel"), n.get("state")) for n in items)
        T.note("outbox: %r" % dict(states))
        T.check(states[("webhook", "failed")] >= 1 and states[("email", "sent")] >= 1,
                "a webhook failed and some mail was sent", states)

    with T.section("a parked change long-poll"):
        tok = w.host["hA1"]["token"]
        st, js, _ = api(gw, "GET", "/v1/hosts/self/changes", token=tok)
        version = (js or {}).get("version")
        polled = {}

        def poll():
            polled["answer"] = api(gw, "GET", "/v1/hosts/self/changes?since=%s&wait=3"
                                   % version, token=tok, timeout=10)
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        time.sleep(0.5)   # the poll parks at once; half a second is plenty
        text, samples, types = scrape(gw)
        th.join(10)
        T.check("answer" in polled and polled["answer"][0] == 200,
                "the long-poll was answered after the scrape", polled.get("answer"))

    with T.section("the scraped values"):
        allows = sum(1 for d, _ in answers if d == "allow")
        denies = collections.Counter(r for d, r in answers if d == "deny")
        T.eq(val(samples, "lockbox_checks_total", decision="allow"), float(allows),
             "lockbox_checks_total{decision=allow}")
        T.eq(val(samples, "lockbox_checks_total", decision="deny"), float(sum(denies.values())),
             "lockbox_checks_total{decision=deny}")
        for reason, n in sorted(denies.items()):
            T.eq(val(samples, "lockbox_check_denies_total", reason=reason), float(n),
                 "lockbox_check_denies_total{reason=%s}" % reason)
        listed = {dict(ls)["reason"]: v for (n, ls), v in samples.items()
                  if n == "lockbox_check_denies_total"}
        T.eq(sum(listed.values()), float(sum(denies.values())),
             "the deny reasons add up to the denies", listed)
        T.eq(listed.get("revoked"), 0.0, "a reason never given is listed at 0 (revoked)")
        T.eq(types.get("lockbox_check_duration_seconds"), "histogram", "check latency: a histogram")
        n, buckets = check_histogram(samples, "lockbox_check_duration_seconds")
        T.eq(n, float(len(answers)), "the check histogram holds every decided check")
        T.check(val(samples, "lockbox_check_duration_seconds_sum") > 0, "check latency sum > 0")
        T.eq(types.get("lockbox_store_duration_seconds"), "histogram", "store latency: a histogram")
        ops = {dict(ls)["op"] for (n, ls), _ in samples.items()
               if n == "lockbox_store_duration_seconds_count"}
        T.check({"txn_read", "txn_write", "get", "list", "insert", "update",
                 "audit_append"} <= ops, "store ops listed", sorted(ops))
        for op in sorted(ops):
            cnt, _ = check_histogram(samples, "lockbox_store_duration_seconds", op=op)
            if op in ("txn_write", "get", "audit_append"):
                T.check(cnt > 0, "store op %s: observed (%d)" % (op, cnt))
        T.check(val(samples, "lockbox_notify_attempts_total", channel="webhook",
                    result="error") >= 1, "a failed webhook attempt is counted")
        T.check(val(samples, "lockbox_notify_attempts_total", channel="email",
                    result="sent") >= 1, "a sent mail is counted")
        T.eq(val(samples, "lockbox_notify_outbox", state="failed"),
             float(states[("webhook", "failed")] + states[("email", "failed")]),
             "lockbox_notify_outbox{state=failed} = the outbox's failed rows")
        T.eq(val(samples, "lockbox_notify_outbox", state="pending"), 0.0,
             "lockbox_notify_outbox{state=pending}: 0 once delivered")
        T.eq(types.get("lockbox_notify_outbox"), "gauge", "the outbox: a gauge")
        T.check(val(samples, "lockbox_changes_waiting") >= 1, "the parked poll is a waiting agent",
                val(samples, "lockbox_changes_waiting"))
        T.check(val(samples, "lockbox_http_connections") >= 2,
                "open connections: the parked poll and the scrape",
                val(samples, "lockbox_http_connections"))
        T.check(val(samples, "lockbox_http_responses_total", code="200") >= allows,
                "HTTP 200s counted")

    promtool = shutil.which("promtool")
    with T.section("promtool check metrics"):
        if not promtool:
            if os.environ.get("CI"):
                T.check(False, "promtool is installed (contrib/deps.sh: prometheus)")
            else:
                T.note("SKIPPED: promtool not installed (apt-get install prometheus, as "
                       "contrib/deps.sh does); the page was checked by this script only")
        else:
            p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            T.eq(p.returncode, 0, "promtool check metrics: no problems",
                 p.stdout.decode("utf-8", "replace")[-2000:])
            # the tool does judge: the same page with a counter misnamed is refused
            broken = text.replace("lockbox_audit_events_total", "lockbox_audit_events")
            p = subprocess.run([promtool, "check", "metrics"], input=broken.encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            T.check(p.returncode != 0, "promtool refuses a counter without _total (control)")
    gw.close()


main()
T.done()
