"""pam_lockbox.so carries no HTTP or TLS code into sshd and xrdp-sesman: it links neither
libcurl nor libssl/libcrypto (directly or through its dependencies), references none of their
symbols, needs no shared object beyond libc and libpam (libpam loads the module, and all it
needs, on every login: each extra object costs more than the login's own work, so not even
libjansson) and is built with full RELRO (its GOT read-only inside sshd); a full account +
session cycle through lockbox-agent loads none of them (the dynamic loader's own trace,
LD_DEBUG=files, and /proc/self/maps inside the session). With
libcurl, libssl and libcrypto replaced by empty files (in a private mount namespace), a gated
login still works: the module never needs them.
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

T = lbtest.Runner("pam_linkage")
mod = os.environ.get("LB_PAM_MODULE", "")
if not os.path.exists(mod):
    T.skip("pam_lockbox.so not built")

FORBIDDEN = ("libcurl", "libssl", "libcrypto", "libgnutls", "libnghttp2", "libssh", "libnss3",
             "libgssapi")


def bad(names):
    return sorted(n for n in names if any(os.path.basename(n).startswith(f) for f in FORBIDDEN))


def loaded(err):
    """Shared objects the loader opened, from LD_DEBUG=files output."""
    return set(re.findall(r"file=(\S+?)\s+\[\d+\];\s+(?:needed by|dynamically loaded by)",
                          err))


with T.section("what the module links"):
    if shutil.which("readelf"):
        out = subprocess.run(["readelf", "-d", mod], stdout=subprocess.PIPE,
                             universal_newlines=True, timeout=30).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
        T.check(needed, "readelf lists the NEEDED entries", out[:500])
        T.eq(bad(needed), [], "no libcurl, libssl, libcrypto (or other TLS/HTTP) in NEEDED")
        T.check(any(n.startswith("libpam") for n in needed), "it links libpam", needed)
        # (a sanitizer build adds its runtimes: ASan, UBSan and what they need)
        extra = r"|lib(asan|ubsan|gcc_s|stdc\+\+|m|dl|pthread|rt)\.so" \
            if os.environ.get("LB_SANITIZER") else ""
        T.eq(sorted(n for n in needed if not re.match(r"lib(pam|c)\.so" + extra, n)), [],
             "it needs nothing beyond libc and libpam (no libjansson either)")
        # full RELRO: inside sshd the module's GOT is read-only once it is loaded
        T.check(re.search(r"\(FLAGS\)\s+.*\bBIND_NOW\b", out) or
                re.search(r"\(FLAGS_1\)\s+Flags:.*\bNOW\b", out),
                "it binds its symbols at load (-z now)", out[:800])
        ph = subprocess.run(["readelf", "-lW", mod], stdout=subprocess.PIPE,
                            universal_newlines=True, timeout=30).stdout
        T.check("GNU_RELRO" in ph, "and has a RELRO segment (-z relro)", ph[-800:])
        # built for size (configure.ac, LB_MODULE_OPT): every login maps and unmaps it
        rel = subprocess.run(["readelf", "-rW", mod], stdout=subprocess.PIPE,
                             universal_newlines=True, timeout=30).stdout
        T.check("R_X86_64_JUMP_SLOT" not in rel or os.uname().machine != "x86_64",
                "calls go through the GOT, bound at load (-fno-plt): no lazy-binding slots",
                [ln for ln in rel.splitlines() if "JUMP_SLOT" in ln][:5])
        # the program headers: (type, vaddr, memsz, flags)
        segs = [(m.group(1), int(m.group(2), 16), int(m.group(3), 16), m.group(4))
                for m in re.finditer(r"^\s*(LOAD|GNU_RELRO)\s+\S+\s+(0x[0-9a-f]+)\s+\S+\s+\S+"
                                     r"\s+(0x[0-9a-f]+)\s+([RWE ]+?)\s+0x", ph, re.M)]
        pages = sum((va + size + 4095) // 4096 - va // 4096
                    for t, va, size, _ in segs if t == "LOAD")
        T.check(pages > 0, "readelf lists the loadable segments", ph[-800:])
        rw = [(va, size) for t, va, size, fl in segs if t == "LOAD" and "W" in fl]
        relro = [(va, size) for t, va, size, _ in segs if t == "GNU_RELRO"]
        T.check(len(rw) == 1 and relro, "one writable segment and a RELRO range", ph[-800:])
        if rw and relro and not os.environ.get("LB_SANITIZER"):
            # no .data or .bss (no C start files): the RELRO range covers the whole writable
            # segment, so once loaded nothing of the module is writable
            (w_va, w_size), (r_va, r_size) = rw[0], relro[0]
            T.check(r_va <= w_va and r_va + r_size >= w_va + w_size,
                    "read-only after relocation: RELRO covers the whole writable segment",
                    ph[-800:])
        if not os.environ.get("LB_SANITIZER"):
            # a budget, not a speed test: each page is mapped and unmapped on every login
            # (bench/findings.md); 13 today, pam_radius_auth 10
            T.check(pages <= 14, "its loadable segments span at most 14 pages (%d)" % pages,
                    ph[-800:])
    else:
        T.note("no readelf: NEEDED entries not read")
    p = subprocess.run(["ldd", mod], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=30)
    deps = re.findall(r"^\s*(\S+)", p.stdout, re.M)
    T.check(p.returncode == 0 and deps, "ldd resolves the module's dependencies", p.stderr)
    T.eq(bad(deps), [], "nor anywhere among its dependencies (ldd)")
    if shutil.which("nm"):
        und = subprocess.run(["nm", "-D", "--undefined-only", mod], stdout=subprocess.PIPE,
                             universal_newlines=True, timeout=30).stdout
        syms = [ln.split()[-1].split("@")[0] for ln in und.splitlines() if ln.strip()]
        T.check(syms, "nm lists the module's undefined symbols")
        T.eq([s for s in syms if re.match(r"(curl_|SSL_|EVP_|OPENSSL_|CRYPTO_|TLS_|json_)", s)],
             [], "no curl/OpenSSL/jansson symbol is referenced")
        T.check("socket" in syms and "connect" in syms,
                "it uses plain sockets (socket, connect) for the agent")

why = pamenv.prerequisites()
if why:
    T.note("PAM runs skipped: %s" % why)
    T.done()

env = pamenv.PamEnv("linkage")
dbg = {"LD_DEBUG": "files"}
with fakegw.FakeGateway("allow") as g:
    env.write_conf(g.url, exempt_users="exempt1")
    env.start_agent()
    for user, what in (("eng", "a gated user, allowed"), ("plain", "a user outside the group"),
                       ("exempt1", "an exempt user")):
        with T.section(what):
            r = env.run(user, ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"],
                        extra_env=dbg)
            T.eq(r.rc, 0, "account and session succeed", r.out + r.err[-600:])
            libs = loaded(r.err)
            T.check(any("pam_lockbox" in x for x in libs), "the trace shows the module loaded",
                    sorted(libs)[:20])
            T.eq(bad(libs), [], "no TLS/HTTP library was loaded in the whole cycle")
            T.eq([x for x in libs if os.path.basename(x).startswith("libjansson")], [],
                 "nor libjansson")
            r = env.run(user, ["account=PAM_SUCCESS", "open=PAM_SUCCESS"], maps=True)
            mapped = [ln.split(": ", 1)[1] for ln in r.out.splitlines()
                      if ln.startswith("mapped: ")]
            T.check(any("pam_lockbox" in m for m in mapped),
                    "inside the session the module is mapped", mapped)
            T.eq(bad(mapped), [], "and no TLS/HTTP library is mapped")
    with T.section("a denied login (the agent could not ask the gateway)"):
        g.mode = "blackhole"
        r = env.run("eng", ["account=PAM_PERM_DENIED"], extra_env=dbg)
        T.eq(r.rc, 0, "denied", r.out)
        T.eq(bad(loaded(r.err)), [], "no TLS/HTTP library loaded on the deny path either")
        g.mode = "allow"
    with T.section("repeated pam_start..pam_end in one process"):
        r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"],
                    cycles=5)
        T.eq(r.rc, 0, "five logins with sessions in one process (the module is loaded and "
             "unloaded each time)", r.out + r.err[-600:])
    with T.section("libcurl, libssl and libcrypto unusable: a gated login still works"):
        libs = [pamenv._find_lib(n) for n in ("libcurl.so.4", "libssl.so.3", "libcrypto.so.3")]
        libs = [os.path.realpath(x) for x in libs if x]
        if os.geteuid() != 0 or not shutil.which("unshare") or not libs:
            T.note("needs root, unshare(1) and the libraries: not tried")
        else:
            empty = os.path.join(env.tmp, "empty")
            open(empty, "w").close()
            logsock = os.path.join(env.tmp, "log.sock")
            open(logsock, "w").close()
            wrap = [pamenv.nsrun_path(), logsock]
            for lib in libs:
                wrap += ["-b", empty, lib]
            wrap += ["--"]
            probe = subprocess.run(wrap + ["/usr/bin/curl", "--version"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   universal_newlines=True, timeout=60) \
                if os.path.exists("/usr/bin/curl") else None
            if probe is not None:
                T.check(probe.returncode != 0, "inside the namespace libcurl cannot be loaded",
                        probe.stdout[:200])
            r = env.run("eng", ["account=PAM_SUCCESS", "open=PAM_SUCCESS", "close=PAM_SUCCESS"],
                        wrap=wrap, preload_inside=True)
            T.eq(r.rc, 0, "the gated user is allowed, with a session", r.out + r.err[-600:])
            T.check(r.events("access.check.allow") and r.events("session.start"),
                    "decided by the agent outside the namespace", r.err[-600:])
env.close()
T.done()
