"""lockboxctl on the host against a real TLS gateway: host join (files, owners, modes,
atomic replacement, refusals: bad token exit 1, gateway down or wrong CA exit 3, --no-check),
host flush (store-and-forward of the local audit log, idempotent, gateway down exit 3,
token refused exit 1, config errors exit 2), host sessions (table and --json), and host
check through the real lockbox-agent (allow exit 0, deny exit 1 with the reason, agent down
or not root exit 3, bad config exit 2 naming file:line: key), then the real pam_lockbox with
an agent on what host join wrote."""

import json
import os
import socket
import stat
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
PAM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pam")
sys.path.insert(0, PAM_DIR)

import lbtest                      # noqa: E402
from lbtest import new_uuid, rfc3339, paginate   # noqa: E402
from ctltest import Ctl            # noqa: E402

T = lbtest.Runner("cli/host")


def read_conf(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


def mode_owner(path):
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def append_events(log, events):
    """Writes events as pam_lockbox does: compact JSON lines, file 0600."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n")


def session_event(typ, sid, t, user="eng", request=None, rhost="10.0.0.5", eid=None):
    return {"id": eid or (sid if typ == "session.start" else new_uuid()), "time": rfc3339(t),
            "type": typ, "actor": user, "request": request,
            "details": {"session": sid, "user": user, "service": "sshd", "rhost": rhost,
                        "tty": "ssh", "pid": 4242}}


def host_check_section(c, gw, w, admin, tokf, d):
    """lockboxctl host check through a real lockbox-agent on a config of its own."""
    with T.section("host check"):
        try:
            import pamenv
        except Exception as e:
            T.note("skipped: tests/pam/pamenv.py: %s" % e)
            return
        if not os.path.exists(pamenv.agent_path()):
            T.note("skipped: lockbox-agent not built")
            return
        cdir = os.path.join(d, "check")
        os.makedirs(cdir)
        sock = os.path.join(cdir, "agent.sock")
        conf = os.path.join(cdir, "pam_lockbox.conf")
        with open(conf, "w") as f:
            f.write("gateway_url = %s\nca_file = %s\nhost_token_file = %s\n"
                    "audit_log = %s\nagent_socket = %s\ntimeout = 3s\n"
                    % (gw.url, gw.ca, tokf, os.path.join(cdir, "audit.log"), sock))
        os.chmod(conf, 0o644)
        agent = pamenv.Agent(conf, sock, os.path.join(cdir, "state"),
                             os.path.join(cdir, "agent.log"))
        try:
            agent.start()
            r = c.raw("host", "check", "eng2", "--config", conf)
            T.check(r.rc == 1 and "decision:  deny" in r.out and "reason:    no_request" in r.out
                    and "by the gateway" in r.out, "no request: exit 1, deny, no_request", r)
            w.elevate("eng2")
            tk = w.new_ticket("A", subscription="A1")
            rq = w.new_request(who="eng2", sub="A1", hosts=["web-01"], ticket=tk)
            r = c.raw("host", "check", "eng2", "--config", conf)
            T.check(r.rc == 1 and "reason:    pending" in r.out and rq["id"] in r.out,
                    "pending: exit 1, the reason and the request", r)
            w.must("POST", "/v1/requests/%s/approve" % rq["id"], {"reason": "ok"}, who="ownA1")
            r = c.raw("host", "check", "eng2", "--config", conf)
            T.check(r.rc == 0 and "decision:  allow" in r.out and
                    ("request:   " + rq["id"]) in r.out and "until:" in r.out,
                    "approved: exit 0, allow, the request and until when", r)
            r = c.raw("--json", "host", "check", "eng2", "--config", conf)
            js = r.json() if r.rc == 0 else {}
            T.check(js.get("decision") == "allow" and js.get("user") == "eng2" and
                    js.get("host") == "web-01" and
                    (js.get("at_gateway") is True or js.get("recorded") is True) and
                    lbtest.is_uuid(js.get("decision_id")),
                    "--json: the agent's answer as it is", r)
            r = c.raw("host", "check", "eng2", "--service", "xrdp-sesman", "--config", conf)
            T.check(r.rc == 1 and "reason:    wrong_access_type" in r.out,
                    "--service xrdp-sesman for an ssh grant: wrong_access_type", r)
            r = c.raw("-q", "host", "check", "eng2", "--config", conf)
            T.check(r.rc == 0 and r.out == "", "-q: only the exit status", r)
            def audited():
                evs = paginate(gw, "/v1/audit/events?type=access.check.allow&host=web-01",
                               admin)[0]
                return any(e["details"].get("user") == "eng2" and
                           e["details"].get("tty") == "lockboxctl-host-check" for e in evs)
            # the agent may decide from the grants it holds: its event reaches the gateway
            # with its delivery (within a second), not with the answer
            T.check(lbtest.wait_until(audited, timeout=5),
                    "the gateway audits the question (tty lockboxctl-host-check)")

            gw.stop()
            t0 = time.monotonic()
            r = c.raw("host", "check", "eng2", "--config", conf)
            T.check(r.rc == 1 and "reason:    gateway_unreachable" in r.out and
                    "the gateway did not decide" in r.out and "error:" in r.out and
                    time.monotonic() - t0 < 10,
                    "gateway down, agent up: exit 1, gateway_unreachable, decided by the agent",
                    r)
            gw.start()

            agent.stop()
            t0 = time.monotonic()
            r = c.raw("host", "check", "eng2", "--config", conf)
            T.check(r.rc == 3 and "lockbox-agent" in r.err and "running" in r.err and
                    sock in r.err, "agent down: exit 3, says the agent is not there", r)
            T.check(time.monotonic() - t0 < 5, "at once")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as hang:
                hang.bind(sock)
                hang.listen(8)  # accepts into the backlog, never answers
                t0 = time.monotonic()
                r = c.raw("host", "check", "eng2", "--config", conf)
                el = time.monotonic() - t0
                T.check(r.rc == 3 and "did not answer in time" in r.err and el < 3 + 2,
                        "an agent that never answers: exit 3 within timeout (%.1fs)" % el, r)
            os.unlink(sock)
            if os.geteuid() == 0:
                from fakeagent import FakeAgent
                with FakeAgent(sock, "allow", uid=65534):
                    r = c.raw("host", "check", "eng2", "--config", conf)
                    T.check(r.rc == 3 and "not served by root" in r.err,
                            "a socket served by nobody: exit 3, not believed", r)
                with FakeAgent(sock, "dupkey"):
                    r = c.raw("host", "check", "eng2", "--config", conf)
                    T.check(r.rc in (1, 3) and "garbage" in r.err and "allow" not in r.out,
                            "an answer with duplicate keys: refused (exit %d)" % r.rc, r)
                with FakeAgent(sock, "allow") as fa:
                    fa.answer = {"grant_expires_at": None}
                    r = c.raw("host", "check", "eng2", "--config", conf)
                    T.check(r.rc == 1 and "grant_expires_at" in r.err and r.out == "",
                            "a malformed allow: exit 1, nothing printed as allowed", r)

            bad = os.path.join(cdir, "bad.conf")
            with open(bad, "w") as f:
                f.write("gateway_url = %s\nagent_socket = %s\nkill_grace = forever\n"
                        % (gw.url, sock))
            r = c.raw("host", "check", "eng2", "--config", bad)
            T.check(r.rc == 2 and (bad + ":3: kill_grace:") in r.err,
                    "bad config: exit 2 naming file:line: key", r)
            with open(bad, "w") as f:
                f.write("gateway_url = %s\nagent_sock = %s\n" % (gw.url, sock))
            r = c.raw("host", "check", "eng2", "--config", bad)
            T.check(r.rc == 2 and (bad + ":2: agent_sock: unknown key") in r.err,
                    "unknown key: exit 2 naming file:line: key", r)
            r = c.raw("host", "check", "eng2", "--config", os.path.join(cdir, "none.conf"))
            T.check(r.rc == 2 and "none.conf" in r.err, "missing config: exit 2", r)
            r = c.raw("host", "check", "--config", conf)
            T.check(r.rc == 2 and "missing argument" in r.err, "no USER: exit 2", r)
            r = c.raw("host", "check", "a", "b", "--config", conf)
            T.check(r.rc == 2 and "unexpected argument" in r.err, "two users: exit 2", r)
            r = c.raw("host", "check", "ev\x1bil", "--config", conf)
            T.check(r.rc == 2 and "clean text" in r.err, "a user with ESC: exit 2", r)
        finally:
            agent.close()


def main():
    gw = lbtest.Gateway(tls=True)
    gw.start()
    admin = gw.bootstrap()
    w = lbtest.world(gw, admin)
    c = Ctl(gw)
    d = lbtest.tmpdir(prefix="lbctl-host-")
    conf = os.path.join(d, "etc", "pam_lockbox.conf")
    tokf = os.path.join(d, "etc", "host.token")
    log = os.path.join(d, "log", "audit.log")
    root = os.geteuid() == 0
    uid = 0 if root else os.geteuid()

    with T.section("host join"):
        r = c.run("host", "enroll", "--subscription", w.sub["A1"], "web-01", token=admin)
        htok = r.out.strip()
        T.check(r.rc == 0 and htok.startswith("lbh_"), "host enroll for the join", r)
        hid = [h["id"] for h in paginate(gw, "/v1/hosts", admin)[0] if h["name"] == "web-01"][0]
        nchecks = len(paginate(gw, "/v1/audit/events?type=access.check.deny", admin)[0])
        r = c.raw("host", "join", "--url", gw.url, "--host-token", htok, "--ca-file", gw.ca,
                  "--config", conf, "--token-file", tokf, "--audit-log", log)
        T.check(r.rc == 0 and "accepts the host token of web-01" in r.err, "host join: exit 0", r)
        T.eq(mode_owner(conf), (0o644, uid, 0 if root else os.getegid()),
             "pam_lockbox.conf: mode 0644, owned by root")
        T.eq(mode_owner(tokf), (0o600, uid, 0 if root else os.getegid()),
             "host.token: mode 0600, owned by root")
        T.eq(open(tokf).read(), htok + "\n", "host.token holds the token")
        cf = read_conf(conf)
        T.eq(cf, {"gateway_url": gw.url, "host_id": "web-01", "ca_file": os.path.realpath(gw.ca),
                  "host_token_file": tokf, "audit_log": log},
             "pam_lockbox.conf: gateway_url, host_id (the enrolled name), ca_file, "
             "host_token_file, audit_log")
        T.check(htok not in open(conf).read(), "the token is not in the config")
        T.check(not [f for f in os.listdir(os.path.dirname(conf)) if ".tmp" in f],
                "no temporary files left behind")
        # the probe reads GET /v1/hosts/self: no denied check lands in the activity log
        T.eq(len(paginate(gw, "/v1/audit/events?type=access.check.deny", admin)[0]), nchecks,
             "the join's probe writes no access.check.deny")

        ino = os.stat(tokf).st_ino
        # the old spellings (--gateway, --token, --ca) still work, hidden, for one release
        r = c.raw("host", "join", "--gateway", gw.url, "--token", "-", "--ca", gw.ca,
                  "--config", conf, "--token-file", tokf, "--audit-log", log,
                  input=htok + "\n")
        T.check(r.rc == 0, "host join --token - (stdin, old spelling), again over the same files", r)
        T.eq(read_conf(conf).get("ca_file"), os.path.realpath(gw.ca), "--ca still sets ca_file")
        r = c.raw("host", "join", "--help")
        T.check(r.rc == 0 and "--ca-file" in r.out and "--host-token" in r.out and
                "--gateway" not in r.out and "--ca " not in r.out,
                "--help shows the new spellings only", r)
        T.check(os.stat(tokf).st_ino != ino and mode_owner(tokf)[0] == 0o600,
                "the token file was replaced (rename), still 0600")

        d2 = lbtest.tmpdir(prefix="lbctl-host2-")
        c2, t2 = os.path.join(d2, "p.conf"), os.path.join(d2, "h.token")
        r = c.raw("host", "join", "--gateway", gw.url, "--token", "lbh_" + "0" * 64, "--ca",
                  gw.ca, "--config", c2, "--token-file", t2)
        T.check(r.rc == 1 and "does not accept" in r.err, "a wrong host token: exit 1", r)
        T.check(not os.path.exists(c2) and not os.path.exists(t2),
                "a refused join writes nothing")
        r = c.raw("host", "join", "--gateway", gw.url, "--token", htok, "--ca",
                  gw.pki["wrong_ca"], "--config", c2, "--token-file", t2)
        T.check(r.rc == 3 and not os.path.exists(c2), "a gateway cert from another CA: exit 3", r)
        down = "https://127.0.0.1:%d" % lbtest.free_port()
        r = c.raw("host", "join", "--gateway", down, "--token", htok, "--ca", gw.ca,
                  "--config", c2, "--token-file", t2, "--timeout", "3s")
        T.check(r.rc == 3 and not os.path.exists(c2), "gateway down: exit 3, nothing written", r)
        r = c.raw("host", "join", "--gateway", down, "--token", htok, "--config", c2,
                  "--token-file", t2, "--no-check")
        T.check(r.rc == 0 and os.path.exists(c2) and os.path.exists(t2),
                "--no-check writes without asking the gateway", r)
        T.check("# ca_file" in open(c2).read() and "# audit_log" in open(c2).read(),
                "without --ca / --audit-log those keys stay commented out")
        dis = w.host["hA2"]
        w.must("POST", "/v1/hosts/%s/disable" % dis["id"], {})
        c3, t3 = os.path.join(d2, "dis.conf"), os.path.join(d2, "dis.token")
        r = c.raw("host", "join", "--gateway", gw.url, "--token", dis["token"], "--ca", gw.ca,
                  "--config", c3, "--token-file", t3)
        T.check(r.rc == 0 and "DISABLED" in r.err and os.path.exists(c3),
                "a disabled host joins with a warning", r)
        cwd = os.getcwd()
        os.chdir(d2)
        try:
            r = c.raw("host", "join", "--gateway", gw.url, "--token", htok, "--ca", gw.ca,
                      "--config", "rel.conf", "--token-file", "rel.token", "--audit-log",
                      "rel.log")
        finally:
            os.chdir(cwd)
        rc = read_conf(os.path.join(d2, "rel.conf")) if r.rc == 0 else {}
        T.check(r.rc == 0 and rc.get("host_token_file") == os.path.join(d2, "rel.token") and
                rc.get("audit_log") == os.path.join(d2, "rel.log"),
                "relative paths are written absolute (the PAM module requires it)", r)

    with T.section("host sessions"):
        r = c.raw("host", "sessions", "--config", conf, "--json")
        T.check(r.rc == 0 and r.json() == [], "no log yet: no sessions", r)
        rq = w.elevate("eng") and w.new_request()
        w.must("POST", "/v1/requests/%s/approve" % rq["id"], {"reason": "ok"}, who="ownA1")
        t0 = time.time() - 600
        s1, s2 = new_uuid(), new_uuid()
        # the host's copy of a decision the gateway made (a host sends no other access.check.*)
        did = lbtest.must(gw, "POST", "/v1/check", {"user": "eng", "service": "sshd"},
                          token=htok)["decision_id"]
        append_events(log, [
            {"id": did, "time": rfc3339(t0 - 1), "type": "access.check.allow",
             "actor": "eng", "request": rq["id"], "details": {"user": "eng"}},
            session_event("session.start", s1, t0, request=rq["id"]),
            session_event("session.end", s1, t0 + 90, request=rq["id"]),
            session_event("session.start", s2, t0 + 120, user="eng2", rhost="10.9.9.9"),
        ])
        r = c.raw("host", "sessions", "--config", conf, "--json")
        rows = r.json() if r.rc == 0 else []
        T.check(r.rc == 0 and len(rows) == 2, "two sessions in the log", r)
        if len(rows) == 2:
            a, b = rows
            T.check(a["id"] == s1 and a["start"] == rfc3339(t0) and a["end"] == rfc3339(t0 + 90)
                    and a["duration_s"] == 90 and a["duration"] == "1m30s" and
                    a["user"] == "eng" and a["rhost"] == "10.0.0.5" and
                    a["request"] == rq["id"] and a["delivered"] is False,
                    "a finished session: start, end, duration, user, rhost, request", a)
            T.check(b["id"] == s2 and b["end"] is None and b["duration"] is None and
                    b["user"] == "eng2" and b["request"] is None and b["delivered"] is False,
                    "an open session has no end", b)
        r = c.raw("host", "sessions", "--config", conf)
        tab = r.table()
        T.check(r.rc == 0 and tab and tab[0] == ["START", "END", "DURATION", "USER", "RHOST",
                                                 "REQUEST", "DELIVERED"],
                "host sessions: a table with the columns", r)
        T.check(any("1m30s" in row and "no" in row for row in tab[1:]), "table row", tab)
        r = c.raw("host", "sessions", "--audit-log", log, "--json")
        T.check(r.rc == 0 and len(r.json()) == 2, "--audit-log reads a log directly", r)

    with T.section("host flush"):
        r = c.raw("host", "flush", "--config", conf)
        T.check(r.rc == 0 and "sent 4, accepted 3, duplicates 1" in r.out,
                "host flush delivers the 4 events (the check's copy is a duplicate)", r)
        got = paginate(gw, "/v1/audit/events?host=web-01&type=session.start", admin)[0]
        T.eq(sorted(e["id"] for e in got), sorted([s1, s2]),
             "the gateway has both session.start events, under this host")
        T.check(all(e["tenant"] == w.tenant["A"] and e["subscription"] == w.sub["A1"]
                    for e in got), "the gateway set tenant and subscription from the host")
        r = c.run("audit", "list", "--host", "web-01", "--type", "session.end", token=admin)
        T.check(r.rc == 0 and "session.end" in r.out, "lockboxctl audit list --host shows them", r)
        r = c.raw("host", "sessions", "--config", conf, "--json")
        T.check(r.rc == 0 and all(x["delivered"] for x in r.json()),
                "host sessions: delivered after the flush", r)
        r = c.raw("host", "flush", "--config", conf, "--json")
        T.check(r.rc == 0 and r.json().get("sent") == 0 and r.json().get("pending") == 0,
                "a second flush sends nothing (--json)", r)

        append_events(log, [session_event("session.end", s2, t0 + 300, user="eng2",
                                          rhost="10.9.9.9")])
        gw.stop()
        r = c.raw("host", "flush", "--config", conf, "--timeout", "20s")
        T.check(r.rc == 3, "gateway down: exit 3", r)
        T.check("pending 1" in r.out, "the event stays pending", r)
        r = c.raw("host", "sessions", "--config", conf, "--json")
        rows = r.json() if r.rc == 0 else []
        T.check(len(rows) == 2 and rows[1]["end"] == rfc3339(t0 + 300) and
                rows[1]["delivered"] is False and rows[0]["delivered"] is True,
                "host sessions: the closed session is not delivered yet", rows)
        gw.start()
        r = c.raw("host", "flush", "--config", conf)
        T.check(r.rc == 0 and "accepted 1" in r.out, "gateway back: the event is delivered", r)
        got = paginate(gw, "/v1/audit/events?host=web-01&type=session.end", admin)[0]
        T.eq(len(got), 2, "the gateway has both session.end events, once each")
        r = c.run("audit", "verify", token=admin)
        T.check(r.rc == 0, "the chain still verifies", r)

    with T.section("host flush refusals"):
        bad = os.path.join(d, "bad.token")
        with open(bad, "w") as f:
            f.write("lbh_" + "1" * 64 + "\n")
        os.chmod(bad, 0o600)
        log2 = os.path.join(d, "log2", "audit.log")
        append_events(log2, [session_event("session.start", new_uuid(), time.time())])
        badconf = os.path.join(d, "badtoken.conf")
        with open(badconf, "w") as f:
            f.write("gateway_url = %s\nca_file = %s\nhost_token_file = %s\naudit_log = %s\n"
                    % (gw.url, gw.ca, bad, log2))
        r = c.raw("host", "flush", "--config", badconf)
        T.check(r.rc == 1 and "401" in r.err, "a token the gateway refuses: exit 1", r)
        unk = os.path.join(d, "unknown.conf")
        with open(unk, "w") as f:
            f.write("gateway_url = %s\ncolour = blue\n" % gw.url)
        r = c.raw("host", "flush", "--config", unk)
        T.check(r.rc == 2 and (unk + ":2: colour: unknown key") in r.err,
                "unknown key in pam_lockbox.conf: exit 2 with file:line: key", r)
        r = c.raw("host", "flush", "--config", os.path.join(d, "missing.conf"))
        T.check(r.rc == 2 and "missing.conf" in r.err, "missing config: exit 2", r)
        ww = os.path.join(d, "ww.conf")
        with open(ww, "w") as f:
            f.write("gateway_url = %s\nhost_token_file = %s\n" % (gw.url, tokf))
        os.chmod(ww, 0o666)
        r = c.raw("host", "flush", "--config", ww)
        T.check(r.rc == 2 and "insecure" in r.err, "a world-writable config: exit 2", r)
        os.chmod(bad, 0o644)
        r = c.raw("host", "flush", "--config", badconf)
        T.check(r.rc == 2 and "0600" in r.err, "a host token readable by others: exit 2", r)
        r = c.raw("host", "sessions", "--config", unk)
        T.check(r.rc == 2, "host sessions with a bad config: exit 2", r)
    host_check_section(c, gw, w, admin, tokf, d)

    with T.section("the real pam_lockbox runs on what host join wrote"):
        try:
            import pamenv
            why = pamenv.prerequisites()
        except Exception as e:          # tests/pam not there: nothing to run the module with
            why = "tests/pam/pamenv.py: %s" % e
        if why:
            T.note("skipped: %s" % why)
        else:
            env = pamenv.PamEnv("cli-join")
            r = c.run("-q", "host", "enroll", "--subscription", w.sub["A2"], "pam-01",
                      token=admin, json_out=False)
            ptok = r.out.strip()
            r = c.raw("host", "join", "--gateway", gw.url, "--token", ptok, "--ca", gw.ca,
                      "--config", env.conf, "--token-file", env.token_file, "--audit-log",
                      env.audit_log)
            T.check(r.rc == 0, "host join over the PAM test environment", r)
            # the joined config names the default socket (/run/lockbox/agent.sock): the test
            # agent gets one of its own, the rest of the file as host join wrote it
            with open(env.conf, "a") as f:
                f.write("agent_socket = %s\n" % env.agent_socket)
            T.check(env.start_agent(check=False), "lockbox-agent starts on the joined config",
                    env.agent.log_tail())
            r = env.run("eng", ["account=PAM_PERM_DENIED"])
            if "RTLD_DEEPBIND" in r.err and pamenv.sanitizer():
                # pam_wrapper dlopens libpam with RTLD_DEEPBIND, which the ASan runtime refuses
                T.note("skipped under the sanitizers: pam_wrapper needs RTLD_DEEPBIND")
                env.close()
                gw.close()
                T.done()
            T.check(r.ops().get("account") == "PAM_PERM_DENIED" and
                    any("no_request" in m for m in r.errors()),
                    "pam_lockbox reads the joined config: no request, denied", r)
            w.elevate("eng")
            tk = w.new_ticket("A", subscription="A2")
            rq = w.new_request(sub="A2", hosts=["pam-01"], ticket=tk)
            w.must("POST", "/v1/requests/%s/approve" % rq["id"], {"reason": "ok"}, who="ownA2")
            r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"])
            T.check(r.rc == 0, "approved: pam_lockbox lets eng in and records the session", r)
            r = c.raw("host", "sessions", "--config", env.conf, "--json")
            rows = r.json() if r.rc == 0 else []
            T.check(len(rows) == 1 and rows[0]["user"] == "eng" and
                    rows[0]["request"] == rq["id"] and rows[0]["end"] and
                    rows[0]["rhost"] == "10.0.0.5",
                    "host sessions shows the module's session with its request", r)
            T.check(env.wait_delivered(3.0), "the agent delivered the session's events")
            r = c.raw("host", "sessions", "--config", env.conf, "--json")
            T.check(r.rc == 0 and r.json() and r.json()[0]["delivered"] is True,
                    "host sessions: delivered (by the agent)", r)
            r = c.raw("host", "flush", "--config", env.conf, "--json")
            T.check(r.rc == 0 and r.json().get("pending") == 0 and r.json().get("sent") == 0,
                    "host flush beside the agent: nothing left to send", r)
            got = paginate(gw, "/v1/audit/events?host=pam-01&type=session.start", admin)[0]
            T.check(rows and [e["id"] for e in got] == [rows[0]["id"]],
                    "the session reached the gateway once", got)
            env.close()
    gw.close()
    T.done()


main()
