"""pam_lockbox writes one key=value line per event to the real /dev/log (facility authpriv,
ident pam_lockbox), hostile user/rhost/tty text never reaches it raw, and a deny because the
agent could not be asked (agent_unavailable) is logged there too. Where journald listens,
the same line goes to its native socket with the pairs as structured fields (LOCKBOX_EVENT,
LOCKBOX_REQUEST, LOCKBOX_DECISION_ID, ...), priority and facility as fields.

The module runs in a private mount namespace (tests/e2e/nsrun.sh) whose /dev/log is a
datagram socket this test listens on; needs root and unshare(1) (skips otherwise).
"""

import os
import re
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
import fakegw  # noqa: E402
import pamenv  # noqa: E402

T = lbtest.Runner("pam_syslog")
why = pamenv.prerequisites()
if why:
    T.skip(why)
if os.geteuid() != 0 or not shutil.which("unshare"):
    T.skip("needs root and unshare(1) for a private /dev/log")
nsrun = pamenv.nsrun_path()

env = pamenv.PamEnv("syslog")
sockpath = os.path.join(env.tmp, "log.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sockpath)
s.settimeout(0.2)


def drain():
    out = []
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        try:
            out.append(s.recv(65536))
        except socket.timeout:
            if out:
                break
    return out


evil_user_rhost = "10.0.0.5\n<10>Nov 23 00:00:00 sshd[1]: Accepted %n%n%s\x1b]0;x\x07"
evil_tty = b"pts/9\r\x00"[:-1] + b"%n\xff\xfe\x7f"
with fakegw.FakeGateway("allow") as g:
    env.write_conf(g.url)
    env.start_agent()
    r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"],
                rhost=evil_user_rhost, tty=evil_tty, wrap=[nsrun, sockpath, "--"], preload_inside=True)
    T.eq(r.rc, 0, "login through the namespace works", r)
    msgs = drain()
    T.check(len(msgs) >= 3, "syslog got the module's lines (%d)" % len(msgs), msgs)
    ours = [m for m in msgs if re.match(rb"^<\d+>pam_lockbox\[\d+\]: ", m)]
    T.eq(len(ours), len(msgs), "every message is <PRI>pam_lockbox[PID]: ... (ident, and no "
         "timestamp of its own: journald or rsyslog stamp it, with the zone)")
    T.check(all(re.match(rb"^<(\d+)>", m) and int(re.match(rb"^<(\d+)>", m).group(1)) >> 3 == 10
                for m in msgs), "facility authpriv (10)", msgs)
    T.check(all(all(0x20 <= b < 0x7f for b in m) for m in msgs),
            "no control characters or non-ASCII bytes in any syslog message", msgs)
    kinds = [re.search(rb"event=([a-z._]+)", m).group(1).decode() for m in msgs]
    for k in ("access.check.allow", "session.start", "session.end"):
        T.eq(kinds.count(k), 1, "one %s line" % k)
    start = [m for m in msgs if b"event=session.start" in m][0].decode()
    body = start.split(": ", 1)[1]
    kv = pamenv.parse_kv(body)
    T.eq(kv.get("rhost"), evil_user_rhost, "rhost round-trips through the escaping")
    T.check("%n%n%s" in start, "%n printed as data, not as a format", start)
    T.eq(kv.get("user"), "eng", "user field")
    for k in ("service", "tty", "pid", "decision_id", "host", "session"):
        T.check(k in kv, "session.start has %s" % k, kv)

    # journald listening: the same lines, with structured fields, to its native socket
    jpath = os.path.join(env.tmp, "journal.sock")
    j = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    j.bind(jpath)
    j.settimeout(0.2)
    r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"],
                rhost=evil_user_rhost, tty=evil_tty, wrap=[nsrun, sockpath, "-J", jpath, "--"],
                preload_inside=True)
    T.eq(r.rc, 0, "login with journald listening works", r)
    jmsgs = []
    end = time.monotonic() + 2.0
    while time.monotonic() < end and len(jmsgs) < 3:
        try:
            jmsgs.append(j.recv(65536))
        except socket.timeout:
            pass
    j.close()
    T.eq(drain(), [], "nothing went to /dev/log while journald took the lines")
    fields = []
    for m in jmsgs:
        f = {}
        for ln in m.decode("ascii", "replace").split("\n"):
            if "=" in ln:
                k, v = ln.split("=", 1)
                f[k] = v
        fields.append(f)
    T.eq(sorted(f.get("LOCKBOX_EVENT") for f in fields),
         ["access.check.allow", "session.end", "session.start"],
         "journald got the three events, LOCKBOX_EVENT names each", fields)
    T.check(all(all(0x20 <= b < 0x7f or b == 0x0a for b in m) for m in jmsgs),
            "printable ASCII only, one field per line (hostile text escaped)", jmsgs)
    allow = [f for f in fields if f.get("LOCKBOX_EVENT") == "access.check.allow"]
    T.check(allow and allow[0].get("SYSLOG_IDENTIFIER") == "pam_lockbox" and
            allow[0].get("SYSLOG_FACILITY") == "10" and allow[0].get("PRIORITY") == "6" and
            allow[0].get("SYSLOG_PID", "").isdigit(),
            "identifier pam_lockbox, facility authpriv, priority info, the pid", allow)
    T.check(allow and lbtest.is_id(allow[0].get("LOCKBOX_REQUEST", ""), "req") and
            lbtest.is_uuid(allow[0].get("LOCKBOX_DECISION_ID", "")) and
            allow[0].get("LOCKBOX_USER") == "eng" and allow[0].get("LOCKBOX_DECISION") == "allow",
            "LOCKBOX_REQUEST, LOCKBOX_DECISION_ID, LOCKBOX_USER, LOCKBOX_DECISION", allow)
    T.check(allow and "event=access.check.allow" in allow[0].get("MESSAGE", "") and
            "request=" in allow[0].get("MESSAGE", ""),
            "MESSAGE is the key=value line rsyslog gets too", allow)
    st = [f for f in fields if f.get("LOCKBOX_EVENT") == "session.start"]
    T.check(st and lbtest.is_uuid(st[0].get("LOCKBOX_SESSION", "")) and
            "\\n" in st[0].get("LOCKBOX_RHOST", ""),
            "session.start: LOCKBOX_SESSION, and the rhost's newline escaped", st)

    # a user name with control characters: denied, and still no raw bytes in syslog
    env2_group = open(env.group).read()
    with open(env.passwd, "a") as f:
        f.write("ev\x1bil%n:x:5009:6000::/nonexistent:/bin/sh\n")
    r = env.run("ev\x1bil%n", ["account=PAM_PERM_DENIED"], wrap=[nsrun, sockpath, "--"], preload_inside=True)
    msgs = drain()
    T.eq(r.ops().get("account"), "PAM_PERM_DENIED", "user name with ESC: denied", r)
    T.check(msgs and all(all(0x20 <= b < 0x7f for b in m) for m in msgs),
            "user name with ESC and %n: no raw bytes in syslog", msgs)
    T.check(any(b'user="ev\\x1bil%n"' in m for m in msgs), "user logged escaped", msgs)

    # the agent is gone: the deny and why, in syslog
    env.stop_agent()
    r = env.run("eng", ["account=PAM_PERM_DENIED"], wrap=[nsrun, sockpath, "--"],
                preload_inside=True)
    msgs = drain()
    T.eq(r.ops().get("account"), "PAM_PERM_DENIED", "no agent: denied", r)
    deny = [m.decode() for m in msgs if b"event=access.check.deny" in m]
    T.check(len(deny) == 1 and "reason=agent_unavailable" in deny[0] and
            "cannot connect to lockbox-agent" in deny[0],
            "syslog: access.check.deny reason=agent_unavailable with the error", msgs)
    T.check(deny and re.match(r"^<(\d+)>", deny[0]) and
            int(re.match(r"^<(\d+)>", deny[0]).group(1)) == (10 << 3) | 5,
            "the deny is logged at authpriv.notice", deny)
env.close()
T.done()
