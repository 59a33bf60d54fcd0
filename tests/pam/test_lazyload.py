"""pam_lockbox loads libcurl only when it asks the gateway: a login by a user outside the gated
group (or an exempt one) loads neither libcurl nor libcrypto, a gated login loads libcurl
(RTLD_LOCAL) and is decided as before, and the module itself links neither of them.

Loaded files are read from the dynamic loader's own trace (LD_DEBUG=files) of the PAM driver.
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402
import fakegw  # noqa: E402
import pamenv  # noqa: E402

T = lbtest.Runner("pam_lazyload")
why = pamenv.prerequisites()
if why:
    T.skip(why)


def loaded(err):
    """Shared objects the loader opened, from LD_DEBUG=files output."""
    return set(re.findall(r"file=(\S+?)\s+\[\d+\];\s+(?:needed by|dynamically loaded by)",
                          err))


def has(libs, stem):
    return any(os.path.basename(l).startswith(stem) for l in libs)


with T.section("what the module links"):
    mod = os.environ["LB_PAM_MODULE"]
    if shutil.which("readelf"):
        out = subprocess.run(["readelf", "-d", mod], stdout=subprocess.PIPE,
                             universal_newlines=True, timeout=30).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
        T.check(needed and not any(n.startswith("libcurl") for n in needed),
                "pam_lockbox.so does not link libcurl", needed)
        T.check(not any(n.startswith("libcrypto") or n.startswith("libssl") for n in needed),
                "nor libcrypto/libssl", needed)
        T.check(any(n.startswith("libpam") for n in needed) and
                any(n.startswith("libjansson") for n in needed),
                "it links libpam and jansson", needed)
    else:
        T.note("no readelf: NEEDED entries not read")

env = pamenv.PamEnv("lazyload")
dbg = {"LD_DEBUG": "files"}
try:
    with fakegw.FakeGateway("allow") as g:
        env.write_conf(g.url, exempt_users="exempt1")
        for user, what in (("plain", "a user outside the gated group"),
                           ("exempt1", "an exempt user")):
            with T.section(what):
                before = len(g.requests)
                r = env.run(user, ["account=PAM_SUCCESS", "open=PAM_SUCCESS",
                                   "close=PAM_SUCCESS"], extra_env=dbg)
                T.eq(r.rc, 0, "account and session succeed", r.err[-600:])
                libs = loaded(r.err)
                T.check(has(libs, "pam_lockbox"), "the trace shows the module loaded",
                        sorted(libs)[:20])
                T.check(not has(libs, "libcurl"), "libcurl was not loaded",
                        sorted(l for l in libs if "curl" in l))
                T.check(not has(libs, "libcrypto") and not has(libs, "libssl"),
                        "nor libcrypto/libssl", sorted(l for l in libs if "ssl" in l or
                                                       "crypto" in l))
                T.eq(len(g.requests), before, "no request reached the gateway")

        with T.section("a gated user"):
            before = len(g.requests)
            r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS",
                                "close=PAM_SUCCESS"], extra_env=dbg)
            T.eq(r.rc, 0, "allowed by the gateway's answer", r.err[-600:])
            libs = loaded(r.err)
            T.check(has(libs, "libcurl"), "libcurl was loaded for the request",
                    sorted(libs)[:40])
            T.check(len(g.requests) > before, "the check reached the gateway")
            T.check(any(p.endswith("/v1/check") for (_, p, _, _) in g.requests[before:]),
                    "POST /v1/check", [p for (_, p, _, _) in g.requests[before:]])

        with T.section("a gated user, gateway denies: libcurl loaded, still denied"):
            g.mode = "deny"
            r = env.run("eng", ["account=PAM_PERM_DENIED"], extra_env=dbg)
            T.eq(r.rc, 0, "denied (PAM_PERM_DENIED)", r.err[-600:])
            T.check(has(loaded(r.err), "libcurl"), "libcurl was loaded")

        with T.section("repeated pam_start..pam_end in one process"):
            g.mode = "allow"
            r = env.run("eng", ["account=PAM_SUCCESS"], cycles=5)
            T.eq(r.rc, 0, "five allowed logins in one process (the module and libcurl are "
                 "unloaded and loaded again each time)", r.err[-600:])

        with T.section("libcurl cannot be loaded: gated logins fail closed, others go on"):
            lib = pamenv._find_lib("libcurl.so.4")
            if os.geteuid() != 0 or not shutil.which("unshare") or not lib:
                T.note("needs root, unshare(1) and libcurl.so.4: not tried")
            else:
                empty = os.path.join(env.tmp, "empty")
                open(empty, "w").close()
                # an empty file in libcurl's place, in a private mount namespace only
                wrap = [pamenv.nsrun_path(), empty, "-b", empty, os.path.realpath(lib), "--"]
                before = len(g.requests)
                r = env.run("eng", ["account=PAM_PERM_DENIED"], wrap=wrap,
                            preload_inside=True)
                T.eq(r.rc, 0, "the gated user is denied (PAM_PERM_DENIED)", r.err[-600:])
                T.check("libcurl.so.4" in r.err, "the module says it cannot load libcurl",
                        r.err[-600:])
                T.eq(len(g.requests), before, "no request was made")
                r = env.run("plain", ["account=PAM_SUCCESS"], wrap=wrap, preload_inside=True)
                T.eq(r.rc, 0, "a user outside the gated group still logs in", r.err[-600:])
finally:
    env.close()
T.done()
