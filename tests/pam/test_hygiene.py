"""pam_lockbox hygiene: no fd the module opened survives into the session (allow, deny, the
agent missing, hanging or answering garbage), and many account+session cycles through the
real lockbox-agent leak nothing: LeakSanitizer in LB_SANITIZER=1 builds (the driver and the
ASan-built agent), valgrind otherwise when installed; the agent's own fds do not grow with
the logins it answers."""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
import fakegw  # noqa: E402
import pamenv  # noqa: E402
from fakeagent import FakeAgent  # noqa: E402

T = lbtest.Runner("pam_hygiene")
why = pamenv.prerequisites()
if why:
    T.skip(why)

SAN = ("LeakSanitizer", "ERROR: AddressSanitizer", "runtime error")


def no_report(text, what):
    T.check(not any(m in text for m in SAN), what, text[-3000:])


def agent_fds(env):
    try:
        return len(os.listdir("/proc/%d/fd" % env.agent.proc.pid))
    except (OSError, AttributeError):
        return -1


env = pamenv.PamEnv("hygiene")

with T.section("no fd survives into the session"):
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url)
        env.start_agent()
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS"], fdcheck=True)
        T.eq(r.rc, 0, "allow: account + open leave no fd behind", r)
        T.check("fds-after" in r.out, "the driver compared /proc/self/fd", r)
        T.check("agent.sock" not in r.out, "no connection to the agent is left open", r.out)
        g.mode = "deny"
        r = env.run("eng", ["account=PAM_PERM_DENIED"], fdcheck=True)
        T.eq(r.rc, 0, "deny: no fd left behind", r)
        env.stop_agent()
    r = env.run("eng", ["account=PAM_PERM_DENIED"], fdcheck=True)
    T.eq(r.rc, 0, "no agent: no fd left behind", r)
    for mode in ("hang", "garbage", "huge", "close"):
        with FakeAgent(env.agent_socket, mode):
            r = env.run("eng", ["account=PAM_PERM_DENIED"], fdcheck=True)
            T.eq(r.rc, 0, "agent %s: no fd left behind" % mode, r)
    with FakeAgent(env.agent_socket, "allow") as a:
        a.session_mode = "hang"
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SESSION_ERR"], fdcheck=True)
        T.eq(r.rc, 0, "session registration stuck: no fd left behind", r)

with T.section("1000 account+session cycles through the agent"):
    # a fresh host (no backlog); on tmpfs when there is one: the fsyncs add up
    env.close()
    env = pamenv.PamEnv("cycles", base="/dev/shm" if os.path.isdir("/dev/shm") else None)
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url, timeout="10s")
        env.start_agent()
        fds0 = agent_fds(env)
        n = 1000
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"],
                    cycles=n, timeout=900)
        T.eq(r.rc, 0, "%d cycles all succeed%s" % (n, " (under ASan/LSan)"
                                                  if pamenv.sanitizer() else ""), r)
        no_report(r.err, "no sanitizer report from the module")
        T.eq(len([q for q in g.requests if q[1] == "/v1/check"]), n, "one check per cycle")
        T.check(env.wait_delivered(60), "the agent delivered everything (bounded wait)")
        lines = env.audit_lines()
        T.eq(len(lines), 3 * n, "3 events per cycle in the local log")
        sess = {e["id"] for e in lines if e["type"].startswith("session.")}
        sent = set(g.audit_ids)
        T.eq(len(sess), 2 * n, "a session.start and a session.end per cycle")
        T.check(sess <= sent, "every session event delivered", len(sess - sent))
        # the access.check events are the gateway's own (id = decision_id): delivered only
        # when they ride with a backlog (a harmless duplicate at a real gateway)
        T.check(sent <= {e["id"] for e in lines}, "only local events delivered")
        T.eq(len(g.audit_ids), len(sent), "none delivered twice")
        T.eq(env.agent.sessions(), [], "no session left in the agent's table")
        fds1 = agent_fds(env)
        T.check(fds0 > 0 and fds1 <= fds0 + 12,
                "the agent's fds do not grow with logins (%d before, %d after)" % (fds0, fds1))
        T.note("%d cycles in %.1fs" % (n, r.elapsed))
    with fakegw.FakeGateway("deny") as g:
        env.write_conf(g.url)
        r = env.run("eng", ["account=PAM_PERM_DENIED"], cycles=200, timeout=300)
        T.eq(r.rc, 0, "200 deny cycles", r)
        no_report(r.err, "no leak report on the deny path")
    env.stop_agent()
    r = env.run("eng", ["account=PAM_PERM_DENIED"], cycles=200, timeout=300)
    T.eq(r.rc, 0, "200 cycles without an agent", r)
    no_report(r.err, "no leak report on the agent_unavailable path")
    T.eq(len([ln for ln in r.err.splitlines() if "reason=agent_unavailable" in ln]), 200,
         "each one denied agent_unavailable")
    rep = env.agent.sanitizer_report()
    T.check(rep is None, "no sanitizer report in the agent's log", rep)

vg = shutil.which("valgrind")
if not pamenv.sanitizer() and vg:
    with T.section("valgrind"):
        with fakegw.FakeGateway("allow") as g:
            env.write_conf(g.url, timeout="30s")
            env.start_agent()
            r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS",
                                "close=PAM_SUCCESS"], cycles=20, timeout=600,
                        wrap=[vg, "-q", "--leak-check=full", "--errors-for-leak-kinds=definite",
                              "--show-leak-kinds=definite", "--error-exitcode=99",
                              "--trace-children=no"])
            T.eq(r.rc, 0, "20 cycles under valgrind: no definite leak, no error", r)
            env.stop_agent()
            r = env.run("eng", ["account=PAM_PERM_DENIED"], cycles=5, timeout=600,
                        wrap=[vg, "-q", "--leak-check=full", "--errors-for-leak-kinds=definite",
                              "--show-leak-kinds=definite", "--error-exitcode=99",
                              "--trace-children=no"])
            T.eq(r.rc, 0, "5 agent_unavailable cycles under valgrind: clean", r)
elif not pamenv.sanitizer():
    T.note("valgrind not installed: leak check only in the ASan build")
env.close()
T.done()
