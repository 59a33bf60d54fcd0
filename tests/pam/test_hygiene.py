"""pam_lockbox hygiene: no fd the module opened survives into the session, and many
account+session cycles leak nothing (LeakSanitizer in LB_SANITIZER=1 builds; valgrind
otherwise, when installed), with TLS and plain HTTP, allow, deny and error paths."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
import fakegw  # noqa: E402
import pamenv  # noqa: E402

T = lbtest.Runner("pam_hygiene")
why = pamenv.prerequisites()
if why:
    T.skip(why)

env = pamenv.PamEnv("hygiene")
pkidir = tempfile.mkdtemp(prefix="lbpam-pki-")
pki = lbtest.make_ca(pkidir)

with T.section("no fd survives into the session"):
    with fakegw.FakeGateway("allow", tls=(pki["cert"], pki["key"])) as g:
        env.write_conf(g.url, ca_file=pki["ca"])
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS"], fdcheck=True)
        T.eq(r.rc, 0, "TLS allow: account + open leave no fd behind", r)
        T.check("fds-after" in r.out, "the driver compared /proc/self/fd", r)
        env.write_conf(g.url, ca_file=pki["wrong_ca"])
        r = env.run("eng", ["account=PAM_PERM_DENIED"], fdcheck=True)
        T.eq(r.rc, 0, "TLS failure: no fd left behind", r)
    with fakegw.FakeGateway("audit_down") as g:
        env.write_conf(g.url)
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS"], fdcheck=True)
        T.eq(r.rc, 0, "delivery failing: no fd left behind", r)
    env.write_conf(fakegw.refused_url())
    r = env.run("eng", ["account=PAM_PERM_DENIED"], fdcheck=True)
    T.eq(r.rc, 0, "gateway refused: no fd left behind", r)

with T.section("1000 account+session cycles"):
    # a fresh host (no backlog); on tmpfs when there is one: 6 fsyncs per cycle add up
    env.close()
    env = pamenv.PamEnv("cycles", base="/dev/shm" if os.path.isdir("/dev/shm") else None)
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url, timeout="10s")
        n = 1000
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"],
                    cycles=n, timeout=600)
        T.eq(r.rc, 0, "%d cycles all succeed%s" % (n, " (under ASan/LSan)"
                                                  if pamenv.sanitizer() else ""), r)
        T.check("LeakSanitizer" not in r.err and "ERROR: AddressSanitizer" not in r.err and
                "runtime error" not in r.err, "no sanitizer report", r.err[-3000:])
        T.eq(len([q for q in g.requests if q[1] == "/v1/check"]), n, "one check per cycle")
        # the access.check event is the gateway's own (its id is the decision_id): it is
        # logged locally but not sent back; session.start and session.end are delivered
        T.eq(len(set(g.audit_ids)), 2 * n, "2 events per cycle delivered (sessions)")
        T.eq(len(g.audit_ids), 2 * n, "none delivered twice")
        T.eq(len(env.audit_lines()), 3 * n, "3 events per cycle in the local log")
        T.note("%d cycles in %.1fs" % (n, r.elapsed))
    with fakegw.FakeGateway("deny") as g:
        env.write_conf(g.url)
        r = env.run("eng", ["account=PAM_PERM_DENIED"], cycles=200, timeout=300)
        T.eq(r.rc, 0, "200 deny cycles", r)
        T.check("LeakSanitizer" not in r.err, "no leak report on the deny path", r.err[-3000:])

vg = shutil.which("valgrind")
if not pamenv.sanitizer() and vg:
    with T.section("valgrind"):
        with fakegw.FakeGateway("allow", tls=(pki["cert"], pki["key"])) as g:
            env.write_conf(g.url, ca_file=pki["ca"], timeout="30s")
            r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS",
                                "close=PAM_SUCCESS"], cycles=20, timeout=600,
                        wrap=[vg, "-q", "--leak-check=full", "--errors-for-leak-kinds=definite",
                              "--show-leak-kinds=definite", "--error-exitcode=99",
                              "--trace-children=no"])
            T.eq(r.rc, 0, "20 TLS cycles under valgrind: no definite leak, no error", r)
elif not pamenv.sanitizer():
    T.note("valgrind not installed: leak check only in the ASan build")
env.close()
shutil.rmtree(pkidir, ignore_errors=True)
T.done()
