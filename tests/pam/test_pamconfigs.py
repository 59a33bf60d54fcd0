"""The pam-auth-update profile (contrib/pam-configs/lockbox, installed to
/usr/share/pam-configs/lockbox): its Account and Session lines, as pam-auth-update puts them
into common-account and common-session, gate sshd and xrdp-sesman only. cron, su, sudo,
login, systemd-user, ... get PAM_IGNORE from the module -- even with no lockbox config at all,
which the gated services answer with a deny (fail closed)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
import pamenv  # noqa: E402

T = lbtest.Runner("pam_configs")
why = pamenv.prerequisites()
if why:
    T.skip(why)

top = os.environ.get("LB_TOP_SRCDIR",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
profile = os.path.join(top, "contrib", "pam-configs", "lockbox")


def profile_lines(path):
    """{"Account": [...], "Session": [...]}: the module lines of each section."""
    out, cur = {}, None
    for ln in open(path):
        if not ln.strip():
            continue
        if not ln[0].isspace():
            key, _, val = ln.partition(":")
            cur = key.strip()
            out.setdefault(cur, [])
            if val.strip():
                out[cur].append(val.strip())
        elif cur:
            out[cur].append(ln.strip())
    return out


env = pamenv.PamEnv("pamconfigs")
prof = profile_lines(profile)
missing = os.path.join(env.tmp, "no-such-pam_lockbox.conf")

with T.section("the profile"):
    T.eq(prof.get("Default"), ["no"], "not enabled on install: the admin enables it "
         "(pam-auth-update --enable lockbox) once pam_lockbox.conf is written", prof)
    T.eq(prof.get("Account-Type"), ["Additional"], "Account-Type: Additional", prof)
    T.eq(prof.get("Session-Type"), ["Additional"], "Session-Type: Additional", prof)
    for sec in ("Account", "Session"):
        lines = prof.get(sec, [])
        T.eq(len(lines), 1, "one %s line" % sec, lines)
        T.check(lines and "pam_lockbox.so" in lines[0] and "services=" in lines[0],
                "%s: pam_lockbox.so with services=" % sec, lines)


def write_service(svc, extra_args=""):
    setitems = pamenv._find_pam_set_items()
    with open(os.path.join(env.svcdir, svc), "w") as f:
        for stack, sec in (("account", "Account"), ("session", "Session")):
            f.write("%s required %s\n" % (stack, setitems))
            for ln in prof[sec]:
                ln = ln.replace("pam_lockbox.so", env.module, 1)
                f.write("%s %s config=%s debug %s\n" % (stack, ln, missing, extra_args))


with T.section("services outside services=: PAM_IGNORE, the config not even read"):
    for svc in ("cron", "su", "su-l", "sudo", "sudo-i", "login", "systemd-user", "sshd-other"):
        write_service(svc)
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"],
                    service=svc)
        T.eq(r.rc, 0, "%s: a gated user's account and session pass" % svc, r)
        T.check(any("account_result" in ln and "PAM_IGNORE" in ln for ln in r.loglines()),
                "%s: the module answers PAM_IGNORE" % svc, r)
        T.check("event=error" not in r.err, "%s: no error logged (no config read)" % svc, r)

with T.section("the services it gates: the missing config denies (fail closed)"):
    for svc in ("sshd", "xrdp-sesman"):
        write_service(svc)
        r = env.run("eng", ["account=PAM_PERM_DENIED"], service=svc)
        T.eq(r.rc, 0, "%s: a gated user is denied without a config" % svc, r)
        r = env.run("plain", ["account=PAM_PERM_DENIED"], service=svc)
        T.eq(r.rc, 0, "%s: without a config nobody can be told apart: denied" % svc, r)

with T.section("a bad services= argument is a config error"):
    for bad in ("services=", "services=sshd,,cron", "services=ssh d", "services=a/b"):
        with open(os.path.join(env.svcdir, "sshd"), "w") as f:
            f.write("account required %s %s config=%s debug\n"
                    % (env.module, bad, missing))
        r = env.run("eng", ["account=PAM_PERM_DENIED"], service="sshd")
        T.eq(r.rc, 0, "%r: denied" % bad, r)

env.close()
T.done()
