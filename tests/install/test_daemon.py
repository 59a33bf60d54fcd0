"""lockbox-gatewayd under a service manager: READY=1 once it listens and STOPPING=1 at
SIGTERM through $NOTIFY_SOCKET (Type=notify); "<N>" priority prefixes when stderr is the
journal ($JOURNAL_STREAM names stderr's device:inode); --print-public-key --key-owner USER
makes both keys and gives them to USER (what the unit's root pre-start does)."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile

import lbtest

T = lbtest.Runner("daemon")
gwd = lbtest.gatewayd_path()
tmp = tempfile.mkdtemp(prefix="lbdaemon-")
try:
    port = lbtest.free_port()
    conf = os.path.join(tmp, "gatewayd.conf")
    with open(conf, "w") as f:
        f.write("listen = http://127.0.0.1:%d\n"
                "database = sqlite://%s/gw.db\n"
                "checkpoint_key_file = %s/checkpoint.key\n"
                "totp_key_file = %s/totp.key\n" % (port, tmp, tmp, tmp))

    with T.section("sd_notify: READY=1, STOPPING=1"):
        nsock = os.path.join(tmp, "notify")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        srv.bind(nsock)
        srv.settimeout(30)
        log = os.path.join(tmp, "gw.log")
        with open(log, "w") as lf:
            env = dict(os.environ, NOTIFY_SOCKET=nsock)
            st = os.fstat(lf.fileno())
            env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
            p = subprocess.Popen([gwd, "-c", conf, "--foreground"], stdout=lf, stderr=lf,
                                 env=env)
        try:
            msg = srv.recv(4096).decode()
            T.check("READY=1" in msg, "READY=1 once listening", msg)
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
            T.check(True, "it listens when it says READY")
            p.send_signal(signal.SIGTERM)
            msg = srv.recv(4096).decode()
            T.check("STOPPING=1" in msg, "STOPPING=1 at SIGTERM", msg)
            T.eq(p.wait(timeout=60), 0, "exits 0")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            srv.close()
        lines = [ln for ln in open(log).read().splitlines() if ln]
        T.check(lines and all(ln.startswith("<") and ln[1].isdigit() and ln[2] == ">"
                              for ln in lines), "every line to the journal starts with <N>",
                lines)
        T.check(any(ln.startswith("<6>") and "listening on" in ln for ln in lines),
                "'listening' at priority 6 (info)", lines)

    with T.section("no JOURNAL_STREAM: timestamps, no <N>"):
        r = subprocess.run([gwd, "-c", os.path.join(tmp, "missing.conf"), "--foreground"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env={k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"})
        T.check(r.returncode != 0 and not r.stderr.startswith(b"<"), "plain stderr", r.stderr)

    with T.section("--print-public-key --key-owner"):
        if os.geteuid() != 0:
            T.note("not root: --key-owner not tried")
        else:
            owner = "nobody"
            pw = pwd.getpwnam(owner)
            for k in ("checkpoint.key", "totp.key"):
                try:
                    os.unlink(os.path.join(tmp, k))
                except FileNotFoundError:
                    pass
            r = subprocess.run([gwd, "-c", conf, "--print-public-key", "--key-owner", owner],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            T.eq(r.returncode, 0, "exit 0", r.stderr)
            T.check(b"BEGIN PUBLIC KEY" in r.stdout, "prints the public key", r.stdout)
            for k in ("checkpoint.key", "totp.key"):
                st = os.stat(os.path.join(tmp, k))
                T.eq((st.st_uid, st.st_mode & 0o777), (pw.pw_uid, 0o600),
                     "%s: %s's, 0600" % (k, owner))
            r = subprocess.run([gwd, "-c", conf, "--print-public-key", "--key-owner",
                                "no-such-user-lb"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            T.check(r.returncode != 0 and b"no such user" in r.stderr,
                    "an unknown user is an error", r.stderr)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
T.done()
