"""Several gateway URLs (DESIGN.md "Several gateways"), with the real lockbox-agent, the real
gateway and lockboxctl, on loopback only: a first gateway that is down (a port nothing
listens on) or a black hole (accepts, never answers) hands the question to the next within
`timeout`; a gateway's answer -- a 403 or a 404 included -- is final and never asked again of
another; audit delivery fails over too; lockboxctl --url/LOCKBOX_URL/url take several URLs,
name the gateway only on an error or with --verbose, and never send a POST that may have
reached one gateway to a second; host join writes them all; host status names the gateway the
agent uses."""

import json
import os
import select
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# tests/pam (pamenv: the agent) after tests/cli (its fakegw is the one meant here)
sys.path.insert(0, os.path.join(HERE, "..", "pam"))
sys.path.insert(0, HERE)

import lbtest                          # noqa: E402
from lbtest import new_uuid, rfc3339, paginate   # noqa: E402
from ctltest import Ctl                # noqa: E402
from fakegw import FakeGateway, SilentServer     # noqa: E402

T = lbtest.Runner("cli/failover")
TIMEOUT = 2          # the host config's timeout (seconds)
MARGIN = 1.5         # what the test allows beyond it (process start, a loaded machine)


def dead_url():
    """A loopback port nothing listens on: connections are refused."""
    return "http://127.0.0.1:%d" % lbtest.free_port()


class SwitchProxy:
    """A loopback TCP relay in front of a real gateway, which can turn into a black hole
    (every connection, open or new, is held and nothing passes) or go down (the listener and
    every connection closed: new connections are refused)."""

    def __init__(self, target_port):
        self.target = target_port
        self.mode = "forward"
        self.conns = []
        self.lock = threading.Lock()
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(c,), daemon=True).start()

    def _relay(self, c):
        try:
            u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
        except OSError:
            c.close()
            return
        with self.lock:
            self.conns += [c, u]
        try:
            while self.mode != "down":
                r, _, _ = select.select([c, u], [], [], 0.05)
                if self.mode == "hole":
                    continue      # held: nothing passes either way
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (u if s is c else c).sendall(data)
        except OSError:
            pass
        finally:
            for s in (c, u):
                try:
                    s.close()
                except OSError:
                    pass

    def set(self, mode):
        self.mode = mode
        if mode == "down":
            self.ls.close()
            with self.lock:
                for s in self.conns:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def host_conf(d, name, urls, tokf, extra=""):
    """A host config of its own (socket, log, state) for one agent; returns (conf, sock)."""
    sub = os.path.join(d, name)
    os.makedirs(sub, exist_ok=True)
    conf = os.path.join(sub, "pam_lockbox.conf")
    sock = os.path.join(sub, "a.sock")
    write(conf, "gateway_url = %s\nhost_id = hA1\nhost_token_file = %s\naudit_log = %s\n"
          "agent_socket = %s\ntimeout = %ds\n%s"
          % (urls, tokf, os.path.join(sub, "audit.log"), sock, TIMEOUT, extra))
    return conf, sock


def checks_of(gw, admin, user):
    """The access.check events the real gateway holds for USER on hA1."""
    out = []
    for t in ("access.check.allow", "access.check.deny"):
        out += [e for e in paginate(gw, "/v1/audit/events?type=%s&host=hA1" % t, admin)[0]
                if e.get("details", {}).get("user") == user]
    return out


def ask(c, conf, user):
    """lockboxctl host check USER through the agent: (result, answer, seconds)."""
    t0 = time.monotonic()
    r = c.raw("--json", "host", "check", user, "--config", conf)
    el = time.monotonic() - t0
    try:
        js = json.loads(r.out) if r.out.strip() else {}
    except ValueError:
        js = {}
    return r, js, el


def agent_sections(c, gw, w, admin, d):
    import pamenv
    if not os.path.exists(pamenv.agent_path()):
        T.note("skipped: lockbox-agent not built")
        return
    tokf = os.path.join(d, "host.token")
    write(tokf, w.tok["hA1"] + "\n", 0o600)
    agents = []

    def agent(name, urls):
        conf, sock = host_conf(d, name, urls, tokf)
        a = pamenv.Agent(conf, sock, os.path.join(d, name, "state"),
                         os.path.join(d, name, "agent.log"))
        a.start()
        agents.append(a)
        return a, conf

    try:
        with T.section("agent: the first gateway is down (refused)"):
            dead = dead_url()
            a, conf = agent("down", "%s %s" % (dead, gw.url))
            T.check(lbtest.wait_until(lambda: a.status().get("gateway_ok") is True, 5),
                    "the agent reaches the second gateway", a.log_tail())
            st = a.status()
            T.eq(st.get("gateway_urls"), [dead, gw.url], "status: gateway_urls in config order")
            T.eq(st.get("gateway_url"), gw.url, "status: gateway_url names the one in use")
            r, js, el = ask(c, conf, "eng2")
            T.check(r.rc == 1 and js.get("reason") == "no_request" and
                    js.get("at_gateway") is True and el < TIMEOUT + MARGIN,
                    "the decision comes from the second gateway (%.2fs)" % el, r)
            T.check(len(checks_of(gw, admin, "eng2")) == 1, "the gateway recorded the check")
            w.elevate("eng")
            rq = w.new_request(who="eng", sub="A1", hosts=["hA1"])
            w.must("POST", "/v1/requests/%s/approve" % rq["id"], {"reason": "ok"}, who="ownA1")
            r, js, el = ask(c, conf, "eng")
            T.check(r.rc == 0 and js.get("decision") == "allow" and
                    js.get("request") == rq["id"], "an approved request: allow", r)
            a.stop()

        with T.section("agent: the gateway in use becomes a black hole"):
            px = SwitchProxy(gw.port)
            a, conf = agent("hole", "%s, %s" % (px.url, gw.url))
            T.check(lbtest.wait_until(lambda: a.status().get("gateway_ok") is True, 5),
                    "the agent answers through the first gateway", a.log_tail())
            r, js, el = ask(c, conf, "eng2")
            T.check(r.rc == 1 and js.get("reason") == "no_request",
                    "a check through the first gateway", r)
            T.eq(a.status().get("gateway_url"), px.url, "status: the first one is in use")
            px.set("hole")
            r, js, el = ask(c, conf, "eng2")
            T.check(r.rc == 1 and js.get("reason") == "no_request" and
                    js.get("at_gateway") is True and el < TIMEOUT + MARGIN,
                    "black hole: the decision comes from the second within timeout (%.2fs)"
                    % el, r)
            T.eq(a.status().get("gateway_url"), gw.url, "status: now the second one is in use")
            T.check("now using " + gw.url in a.log_text(),
                    "the agent logs the move to the second gateway", a.log_tail())
            r, js, el = ask(c, conf, "eng2")
            T.check(r.rc == 1 and js.get("at_gateway") is True and el < 1.0,
                    "the next check goes to the second at once (%.2fs)" % el, r)
            r = c.raw("host", "status", "--config", conf)
            T.check(r.rc == 0 and ("gateway:   %s (answers)" % gw.url) in r.out and
                    ("gateways:  %s, %s" % (px.url, gw.url)) in r.out and
                    "host:      hA1" in r.out,
                    "lockboxctl host status names the gateway in use, then all of them", r)
            r = c.raw("--json", "host", "status", "--config", conf)
            js = r.json() if r.rc == 0 else {}
            T.check(js.get("gateway_url") == gw.url and
                    js.get("gateway_urls") == [px.url, gw.url] and js.get("gateway_ok") is True,
                    "host status --json: the agent's answer", r)
            a.stop()
            r = c.raw("host", "status", "--config", conf)
            T.check(r.rc == 3 and "lockbox-agent" in r.err, "host status, agent down: exit 3",
                    r)
            px.set("down")

        with T.section("agent: the gateway in use goes down"):
            px = SwitchProxy(gw.port)
            a, conf = agent("gone", "%s %s" % (px.url, gw.url))
            T.check(lbtest.wait_until(lambda: a.status().get("gateway_ok") is True, 5),
                    "the agent answers through the first gateway", a.log_tail())
            px.set("down")
            r, js, el = ask(c, conf, "eng2")
            T.check(r.rc == 1 and js.get("reason") == "no_request" and
                    js.get("at_gateway") is True and el < TIMEOUT + MARGIN,
                    "refused: the decision comes from the second (%.2fs)" % el, r)
            T.check(lbtest.wait_until(lambda: a.status().get("gateway_url") == gw.url, 3),
                    "status: the second one is in use")
            a.stop()

        for status, code in ((403, "forbidden"), (404, "not_found")):
            with T.section("agent: a %d from the first gateway is final" % status):
                fake = FakeGateway({("POST", "/v1/check"):
                                    (status, {"error": {"code": code, "message": "no"}})})
                before = len(checks_of(gw, admin, "eng2"))
                a, conf = agent("final%d" % status, "%s %s" % (fake.url, gw.url))
                r, js, el = ask(c, conf, "eng2")
                T.check(r.rc == 1 and js.get("decision") == "deny" and
                        js.get("reason") == "gateway_http_error" and
                        str(status) in js.get("error", "") and js.get("at_gateway") is False,
                        "deny: the first gateway's HTTP %d, as it said" % status, r)
                T.eq(len([s for s in fake.seen if s["path"] == "/v1/check"]), 1,
                     "the first gateway was asked once")
                time.sleep(0.5)
                T.eq(len(checks_of(gw, admin, "eng2")), before,
                     "the second gateway was never asked")
                T.eq(a.status().get("gateway_url"), fake.url,
                     "status: the gateway that answered stays in use")
                a.stop()
                fake.close()

        with T.section("audit delivery fails over"):
            hole = SilentServer()
            conf, sock = host_conf(d, "flush", "%s %s" % (hole.url, gw.url), tokf)
            log = os.path.join(d, "flush", "audit.log")
            sid = new_uuid()
            ev = {"id": sid, "time": rfc3339(time.time()), "type": "session.start",
                  "actor": "eng", "request": None,
                  "details": {"session": sid, "user": "eng", "service": "sshd",
                              "rhost": "10.0.0.5", "tty": "ssh", "pid": 4242}}
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(json.dumps(ev, separators=(",", ":")) + "\n")
            t0 = time.monotonic()
            r = c.raw("--json", "host", "flush", "--config", conf)
            el = time.monotonic() - t0
            js = r.json() if r.rc == 0 else {}
            T.check(r.rc == 0 and js.get("accepted") == 1 and js.get("pending") == 0 and
                    el < TIMEOUT + MARGIN,
                    "host flush: past a black hole to the second gateway (%.2fs)" % el, r)
            got = [e for e in paginate(gw, "/v1/audit/events?type=session.start&host=hA1",
                                       admin)[0] if e["id"] == sid]
            T.eq(len(got), 1, "the event reached the gateway once")
            # the agent delivers the same way: an event appended while the first is a black
            # hole reaches the gateway through the second
            a = pamenv.Agent(conf, sock, os.path.join(d, "flush", "state"),
                             os.path.join(d, "flush", "agent.log"))
            a.start()
            agents.append(a)
            sid2 = new_uuid()
            ev.update(id=sid2, time=rfc3339(time.time()))
            ev["details"] = dict(ev["details"], session=sid2)
            fd = os.open(log, os.O_WRONLY | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(json.dumps(ev, separators=(",", ":")) + "\n")

            def delivered():
                evs = paginate(gw, "/v1/audit/events?type=session.start&host=hA1", admin)[0]
                return [e for e in evs if e["id"] == sid2]
            T.check(lbtest.wait_until(delivered, 10), "the agent delivered it",
                    a.log_tail())
            T.eq(len(delivered()), 1, "once")
            a.stop()
            hole.close()
    finally:
        for a in agents:
            if a.running():
                a.stop()


def ctl_sections(c, gw, w, admin, d):
    live = gw.url
    with T.section("lockboxctl --url with several URLs"):
        dead = dead_url()
        both = "%s %s" % (dead, live)
        r = c.raw("--url", both, "--token", admin, "tenant", "list")
        T.check(r.rc == 0 and "tenant-A" in r.out and r.err == "",
                "first down: the second answers; nothing said about gateways", r)
        r = c.raw("--url", both, "--token", admin, "--verbose", "tenant", "list")
        T.check(r.rc == 0 and dead in r.err and ("HTTP 200 from " + live) in r.err,
                "--verbose names the gateway that answered and the one that did not", r)
        r = c.raw("--url", both, "--token", "lbu_nosuchtoken", "tenant", "list")
        T.check(r.rc == 1 and ("from " + live) in r.err and dead not in r.err,
                "a refusal names the gateway that refused", r)
        r = c.raw("--url", live, "--token", "lbu_nosuchtoken", "tenant", "list")
        T.check(r.rc == 1 and live not in r.err, "one URL: refusals as before", r)
        r = c.raw("tenant", "list", env={"LOCKBOX_URL": "%s, %s" % (dead, live),
                                         "LOCKBOX_TOKEN": admin})
        T.check(r.rc == 0 and "tenant-A" in r.out, "LOCKBOX_URL with commas", r)
        cf = os.path.join(d, "ctl.conf")
        write(cf, "url = %s %s\ntoken = %s\n" % (dead, live, admin), 0o600)
        r = c.raw("--config", cf, "tenant", "list")
        T.check(r.rc == 0 and "tenant-A" in r.out, "url = with two URLs in the config file", r)
        write(cf, "token = x\nurl = %s %s/\n" % (live, live), 0o600)
        r = c.raw("--config", cf, "tenant", "list")
        T.check(r.rc == 2 and (cf + ":2: url: ") in r.err and "given twice" in r.err,
                "the same URL twice: exit 2, file:line: key", r)
        r = c.raw("--url", "%s http://example.com:8080" % live, "--token", admin,
                  "tenant", "list")
        T.check(r.rc == 2 and "example.com" in r.err, "plain http to a remote one: exit 2", r)
        r = c.raw("--url", " , ", "--token", admin, "tenant", "list")
        T.check(r.rc == 2 and "no gateway URL" in r.err, "no URL in the list: exit 2", r)
        d2 = dead_url()
        r = c.raw("--url", "%s,%s" % (dead, d2), "--token", admin, "tenant", "list")
        T.check(r.rc == 3 and dead in r.err and d2 in r.err and "any gateway" in r.err,
                "all down: exit 3 naming each", r)

    with T.section("lockboxctl: black hole first, within --timeout"):
        hole = SilentServer()
        t0 = time.monotonic()
        r = c.raw("--timeout", "2s", "--url", "%s %s" % (hole.url, live), "--token", admin,
                  "tenant", "list")
        el = time.monotonic() - t0
        T.check(r.rc == 0 and "tenant-A" in r.out and el < 2 + MARGIN,
                "a GET goes on to the second within --timeout (%.2fs)" % el, r)
        ok = FakeGateway({("POST", "/v1/tenants"): (201, {"id": "tnt_x", "name": "t"})})
        t0 = time.monotonic()
        r = c.raw("--timeout", "2s", "--url", "%s %s" % (hole.url, ok.url), "--token", admin,
                  "tenant", "create", "t")
        el = time.monotonic() - t0
        T.check(r.rc == 3 and not ok.seen and el < 2 + MARGIN and
                "not sent to another gateway" in r.err and hole.url in r.err,
                "a POST the black hole may have taken is not sent to the second (%.2fs)" % el,
                r)
        r = c.raw("--timeout", "2s", "--url", "%s %s" % (dead_url(), ok.url), "--token", admin,
                  "tenant", "create", "t")
        T.check(r.rc == 0 and len(ok.seen) == 1,
                "a POST refused by the first (surely not taken) goes to the second", r)
        ok.close()
        hole.close()

    with T.section("lockboxctl: an answer is final"):
        second = FakeGateway({("GET", "/v1/tenants"): (200, {"items": [], "next_cursor": None})})
        for st in (403, 404, 500):
            first = FakeGateway({("GET", "/v1/tenants"):
                                 (st, {"error": {"code": "nope", "message": "no"}})})
            r = c.raw("--url", "%s %s" % (first.url, second.url), "--token", admin,
                      "tenant", "list")
            T.check(r.rc == 1 and ("HTTP %d from %s" % (st, first.url)) in r.err and
                    not second.seen, "HTTP %d from the first: final, the second not asked"
                    % st, r)
            first.close()
        proxy = FakeGateway({("GET", "/v1/tenants"): (502, "<html>bad gateway</html>")})
        r = c.raw("--url", "%s %s" % (proxy.url, second.url), "--token", admin,
                  "tenant", "list")
        T.check(r.rc == 0 and len(second.seen) == 1,
                "a proxy's 502 page is no answer: the second is asked", r)
        proxy.close()
        second.close()

    with T.section("host join with several URLs"):
        r = c.run("host", "enroll", "--subscription", w.sub["A2"], "fo-01", token=admin)
        htok = r.out.strip()
        conf = os.path.join(d, "join", "pam_lockbox.conf")
        tokf = os.path.join(d, "join", "host.token")
        dead = dead_url()
        r = c.raw("host", "join", "--url", "%s %s" % (dead, live), "--host-token", htok,
                  "--config", conf, "--token-file", tokf,
                  "--audit-log", os.path.join(d, "join", "audit.log"))
        T.check(r.rc == 0 and "fo-01" in r.err, "host join: the second gateway answers", r)
        text = open(conf).read() if os.path.exists(conf) else ""
        T.check(("gateway_url = %s, %s\n" % (dead, live)) in text and "host_id = fo-01" in text,
                "pam_lockbox.conf lists both, in the order given", text)
        r = c.raw("host", "flush", "--config", conf)
        T.check(r.rc == 0, "host flush reads the list", r)
        r = c.raw("host", "join", "--url", "%s %s" % (live, live), "--host-token", htok,
                  "--config", conf, "--token-file", tokf)
        T.check(r.rc == 2 and "given twice" in r.err, "host join: a URL twice: exit 2", r)


def main():
    gw = lbtest.Gateway()
    gw.start()
    admin = gw.bootstrap()
    w = lbtest.world(gw, admin)
    c = Ctl(gw)
    d = lbtest.tmpdir(prefix="lbfo-")
    ctl_sections(c, gw, w, admin, d)
    agent_sections(c, gw, w, admin, d)
    gw.close()
    T.done()


main()
