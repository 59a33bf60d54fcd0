"""liblockbox's host audit log (lib/auditlog.c) through tests/pam/lbaudit_tool: concurrent
appends (flock), torn lines, batching, concurrent deliverers (each event sent once), a gateway
that refuses one event, an unreachable or hanging gateway within the budget, a replaced log,
log rotation by logrotate with events pending (the rest of the rotated log goes first:
nothing lost, nothing sent twice), file modes and symlinks; and lockbox-agent delivering continuously while other processes
append and `lockboxctl host flush` delivers at the same time (each event sent once)."""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
import fakegw  # noqa: E402

T = lbtest.Runner("auditlog")
TOOL = os.path.join(os.environ.get("LB_TOP_BUILDDIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "pam", "lbaudit_tool")
if not os.path.exists(TOOL):
    T.skip("tests/pam/lbaudit_tool not built")

tmp = tempfile.mkdtemp(prefix="lbaudit-")
tok = os.path.join(tmp, "token")
with open(tok, "w") as f:
    f.write("lbh_test\n")


def tool(*args, timeout=60):
    t0 = time.monotonic()
    p = subprocess.run([TOOL] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def lines(path):
    with open(path) as f:
        return f.read().splitlines()


def stats(out):
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


with T.section("concurrent appends"):
    log = os.path.join(tmp, "a", "audit.log")
    procs = [subprocess.Popen([TOOL, "append", log, "250", "p%d" % i]) for i in range(4)]
    rcs = [p.wait(120) for p in procs]
    T.eq(rcs, [0, 0, 0, 0], "4 processes appended 250 events each")
    ls = lines(log)
    T.eq(len(ls), 1000, "1000 lines")
    evs = [json.loads(ln) for ln in ls]
    T.eq(len(set(e["id"] for e in evs)), 1000, "1000 distinct event ids")
    per = {}
    for e in evs:
        per.setdefault(e["details"]["tag"], []).append(e["details"]["i"])
    T.check(all(per[k] == list(range(250)) for k in per) and len(per) == 4,
            "each writer's events intact and in order")
    T.eq(os.stat(log).st_mode & 0o777, 0o600, "log mode 0600")
    T.eq(os.stat(os.path.dirname(log)).st_mode & 0o777, 0o700, "created directory mode 0700")
    T.eq(set(evs[0]), {"id", "time", "type", "actor", "request", "details"},
         "an event has exactly the fields the gateway accepts")

with T.section("batches and concurrent deliverers"):
    with fakegw.FakeGateway("allow") as g:
        procs = [subprocess.Popen([TOOL, "flush", log, g.url, tok, "20000"],
                                  stdout=subprocess.PIPE, universal_newlines=True)
                 for _ in range(4)]
        outs = [p.communicate(120)[0] for p in procs]
        T.check(all(p.returncode == 0 for p in procs), "4 concurrent flushes succeed", outs)
        T.eq(len(g.audit_ids), 1000, "1000 events sent in total (no event sent twice)")
        T.eq(len(set(g.audit_ids)), 1000, "every event delivered")
        T.check(max(g.audit_posts) <= 100, "batches of at most 100 events", g.audit_posts)
        rc, out, err, _ = tool("pending", log)
        T.eq(out.strip(), "0", "nothing pending")
        rc, out, err, _ = tool("list", log)
        T.check(out.count(" delivered") == 1000, "list: every event delivered", out[-300:])
        rc, out, err, _ = tool("flush", log, g.url, tok, 5000)
        T.eq(stats(out).get("sent"), "0", "a second flush sends nothing")

with T.section("torn line, partial delivery, poison event"):
    log = os.path.join(tmp, "b.log")
    tool("append", log, 3, "x")
    with open(log, "a") as f:
        f.write('{"id": "torn')   # a crash in the middle of a write
    tool("append", log, 2, "y")
    ls = lines(log)
    T.eq(len(ls), 6, "the torn line did not swallow the next event")
    T.check(json.loads(ls[4])["details"]["tag"] == "y", "event after the torn line intact")
    with fakegw.FakeGateway("allow") as g:
        bad = json.loads(ls[1])["id"]
        g.answer = {"reject_ids": [bad]}
        rc, out, err, _ = tool("flush", log, g.url, tok, 5000)
        st = stats(out)
        T.eq(rc, 0, "flush succeeds", out + err)
        T.eq((st["skipped"], st["rejected"]), ("1", "1"),
             "torn line skipped, refused event counted as rejected", out)
        T.eq(sorted(g.audit_ids), sorted(json.loads(ln)["id"] for i, ln in enumerate(ls)
                                         if i not in (1, 3)),
             "every other event delivered once")

with T.section("gateway down or hanging: bounded, nothing lost"):
    log = os.path.join(tmp, "c.log")
    tool("append", log, 5, "z")
    rc, out, err, el = tool("flush", log, fakegw.refused_url(), tok, 2000)
    T.check(rc != 0 and "pending=5" in out, "refused: error, 5 pending", out)
    with fakegw.FakeGateway("blackhole") as g:
        rc, out, err, el = tool("flush", log, g.url, tok, 1500)
        T.check(rc != 0 and el < 3.5, "hanging gateway: gives up within the budget (%.2fs)"
                % el, out)
    with fakegw.FakeGateway("audit_down") as g:
        rc, out, err, el = tool("flush", log, g.url, tok, 2000)
        T.check(rc != 0 and "503" in out and "pending=5" in out, "503: error, 5 pending", out)
    with fakegw.FakeGateway("allow") as g:
        rc, out, err, el = tool("flush", log, g.url, tok, 2000)
        T.eq(len(set(g.audit_ids)), 5, "gateway back: all 5 delivered")
        # the log replaced by a shorter one: everything in it is sent again, the gateway
        # counts duplicates
        os.rename(log, log + ".old")
        tool("append", log, 1, "new")
        rc, out, err, el = tool("flush", log, g.url, tok, 2000)
        T.eq(stats(out).get("sent"), "1", "after the log was replaced: its event is sent")

def shipped_stanza(log):
    """contrib/logrotate/lockbox's stanza for the host audit log, pointed at LOG."""
    top = os.environ.get("LB_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    text = open(os.path.join(top, "contrib", "logrotate", "lockbox")).read()
    start = text.index("/var/log/lockbox/audit.log {")
    end = text.index("\n}\n", start) + 3
    return text[start:end].replace("/var/log/lockbox/audit.log", log)


def rotate(log, state, expect_rc=0):
    """Rotates LOG with the shipped logrotate stanza (rename + create, delaycompress, the
    firstaction guard), with the real logrotate when it is installed."""
    conf = log + ".logrotate"
    with open(conf, "w") as f:
        f.write(shipped_stanza(log))
    os.chmod(conf, 0o644)
    lr = "/usr/sbin/logrotate"
    if os.path.exists(lr) and os.geteuid() == 0:
        p = subprocess.run([lr, "-f", "-s", state, conf], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        T.eq(p.returncode, expect_rc, "logrotate -f exits %d" % expect_rc, p.stderr[-400:])
        return p.stderr
    if expect_rc:
        T.note("logrotate not available: the prerotate guard not tried")
        return ""
    for i in range(4, 0, -1):
        if os.path.exists("%s.%d" % (log, i)):
            os.rename("%s.%d" % (log, i), "%s.%d" % (log, i + 1))
    os.rename(log, log + ".1")
    open(log, "w").close()
    os.chmod(log, 0o600)
    T.note("logrotate not available: rotated by rename")
    return ""


with T.section("log rotation with events pending (logrotate -f)"):
    d = os.path.join(tmp, "rot")
    os.makedirs(d)
    log, state = os.path.join(d, "audit.log"), os.path.join(d, "logrotate.state")
    with fakegw.FakeGateway("allow") as g:
        tool("append", log, 3, "r1")
        rc, out, err, el = tool("flush", log, g.url, tok, 3000)
        T.eq(stats(out).get("sent"), "3", "three events delivered before the rotation", out)
        tool("append", log, 4, "r2")  # pending when the log is rotated
        ino_before = os.stat(log).st_ino
        rotate(log, state)
        T.check(os.path.exists(log + ".1") and os.stat(log + ".1").st_ino == ino_before,
                "the old log is audit.log.1 (renamed, uncompressed)")
        T.eq(os.path.getsize(log), 0, "a new, empty audit.log")
        tool("append", log, 2, "r3")
        rc, out, err, el = tool("flush", log, g.url, tok, 3000)
        st = stats(out)
        T.eq((rc, st.get("sent"), st.get("pending"), st.get("rotated_lost")), (0, "6", "0", "0"),
             "the rest of the rotated log, then the new log: 4 + 2 sent", out)
        T.eq((len(g.audit_ids), len(set(g.audit_ids))), (9, 9),
             "the gateway got all 9 events, each once", g.audit_ids)
        rc, out, err, el = tool("pending", log)
        T.check(rc == 0 and out.strip().endswith("0"), "nothing pending", out)
        # a second rotation with nothing pending: the new log is delivered from its start
        rotate(log, state)
        tool("append", log, 1, "r4")
        rc, out, err, el = tool("flush", log, g.url, tok, 3000)
        T.eq(stats(out).get("sent"), "1", "after a second rotation: only the new event", out)
        T.eq((len(g.audit_ids), len(set(g.audit_ids))), (10, 10), "10 events, each once")
        T.check(os.path.exists(log + ".2.gz"), "the older log compressed a rotation later")
        # a second rotation while the first one's rest is still undelivered (the gateway
        # down since): the shipped firstaction refuses it, nothing is compressed away
        tool("append", log, 2, "r5")
        rotate(log, state)
        tool("append", log, 1, "r5b")
        ino_new = os.stat(log).st_ino
        err = rotate(log, state, expect_rc=1)
        T.check(os.stat(log).st_ino == ino_new and "not delivered yet" in err and
                os.path.exists(log + ".1") and not os.path.exists(log + ".2.gz.tmp"),
                "rotation refused while audit.log.1 has undelivered events (.1 still plain)",
                err)
        rc, out, err, el = tool("flush", log, g.url, tok, 3000)
        T.eq(stats(out).get("sent"), "3", "the agent catches up: the 2 rotated + 1 new", out)
        T.eq((len(g.audit_ids), len(set(g.audit_ids))), (13, 13), "13 events, each once")
        # the rotated log gone before its pending events went out: said, not silent
        tool("append", log, 2, "r5c")
        rotate(log, state)
        os.unlink(log + ".1")
        tool("append", log, 1, "r6")
        rc, out, err, el = tool("flush", log, g.url, tok, 3000)
        st = stats(out)
        T.eq((st.get("sent"), st.get("rotated_lost")), ("1", "1"),
             "rotated log removed: the new event sent, the loss reported", out)
        # never delivered at all (no cursor): not rotated
        fresh = os.path.join(d, "fresh.log")
        tool("append", fresh, 1, "f")
        err = rotate(fresh, os.path.join(d, "fresh.state"), expect_rc=1)
        T.check(not os.path.exists(fresh + ".1") and "never delivered" in err,
                "a log never delivered is not rotated", err)
        T.check("was rotated" in out, "and the error names it", out)

with T.section("unsafe files"):
    target = os.path.join(tmp, "target")
    open(target, "w").close()
    link = os.path.join(tmp, "link.log")
    os.symlink(target, link)
    rc, out, err, _ = tool("append", link, 1, "s")
    T.check(rc != 0, "a symlink at the log path is refused", err)
    T.eq(os.path.getsize(target), 0, "nothing written through the symlink")
    d = os.path.join(tmp, "d.log")
    open(d, "w").close()
    os.chmod(d, 0o644)
    tool("append", d, 1, "m")
    T.eq(os.stat(d).st_mode & 0o777, 0o600, "an existing log is set back to mode 0600")

with T.section("the agent delivers while others append and flush"):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import pamenv  # noqa: E402
    if not os.path.exists(pamenv.agent_path()):
        T.note("lockbox-agent not built: skipped")
    else:
        d = os.path.join(tmp, "agent")
        os.makedirs(d)
        log = os.path.join(d, "audit.log")
        conf = os.path.join(d, "host.conf")
        os.chmod(tok, 0o600)
        with fakegw.FakeGateway("allow") as g:
            with open(conf, "w") as f:
                f.write("gateway_url = %s\nhost_token_file = %s\nhost_id = web-01\n"
                        "audit_log = %s\nagent_socket = %s\ntimeout = 5s\n"
                        % (g.url, tok, log, os.path.join(d, "a.sock")))
            os.chmod(conf, 0o600)
            agent = pamenv.Agent(conf, os.path.join(d, "a.sock"), os.path.join(d, "state"),
                                 os.path.join(d, "agent.log"))
            agent.start()
            procs = [subprocess.Popen([TOOL, "append", log, "250", "w%d" % i])
                     for i in range(4)]
            ctl = os.environ.get("LB_CTL", "")
            flushes = []
            if os.path.exists(ctl):
                for _ in range(3):
                    flushes.append(subprocess.run(
                        [ctl, "--json", "host", "flush", "--config", conf, "--deadline", "20s"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        universal_newlines=True, timeout=60))
            T.eq([p.wait(120) for p in procs], [0, 0, 0, 0], "4 writers appended 250 each")
            ok = lbtest.wait_until(lambda: len(set(g.audit_ids)) == 1000, timeout=10)
            T.check(ok, "the agent delivered all 1000 events (bounded wait)",
                    len(set(g.audit_ids)))
            T.eq(len(g.audit_ids), len(set(g.audit_ids)),
                 "no event sent twice, with `host flush` running alongside")
            T.check(all(f.returncode == 0 for f in flushes),
                    "each `host flush` beside the agent succeeds",
                    [(f.returncode, f.stderr[-200:]) for f in flushes])
            rc, out, err, _ = tool("pending", log)
            T.eq(out.strip(), "0", "nothing pending")
            agent.close()

import shutil  # noqa: E402
shutil.rmtree(tmp, ignore_errors=True)
T.done()
