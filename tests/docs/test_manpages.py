#!/usr/bin/python3
"""The man pages say what the programs do: every option of `lockbox-gatewayd --help` is in
lockbox-gatewayd(8) and every option of `lockbox-agent --help` in lockbox-agent(8) (and back),
and every config key the parsers accept (gatewayd.conf; pam_lockbox.conf, whose key table is
lib/hostconf.c, shared by the module, the agent and `lockboxctl host`) is documented in its
man page, with the defaults the code uses for the host config."""
import os
import re
import subprocess

import lbtest

T = lbtest.Runner("manpages")
top = os.environ.get("LB_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def man_text(name):
    with open(os.path.join(top, "man", name), encoding="utf-8") as f:
        return f.read().replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")


def table_keys(src):
    with open(os.path.join(top, src), encoding="utf-8") as f:
        text = f.read()
    return re.findall(r'^\s*\{"([a-z_]+)",\s*LB_CFG_', text, re.M)


def documented_keys(man):
    """The keys of the tagged paragraphs: `.TP` then `.B key` (or `.BR key ", " key2`)."""
    keys = set()
    for line in re.findall(r"^\.TP\n(\.BR? .*)$", man, re.M):
        keys.update(re.findall(r"\b([a-z][a-z0-9_]*)\b", line.split(" ", 1)[1]))
    return keys


for env, page, min_opts in (("LB_GATEWAYD", "lockbox-gatewayd.8", 5),
                            ("LB_AGENT", "lockbox-agent.8", 5)):
    with T.section("%s --help and its man page" % page.rsplit(".", 1)[0]):
        exe = os.environ.get(env, "")
        if not os.path.exists(exe):
            T.check(False, "%s is built (%s)" % (page.rsplit(".", 1)[0], env))
            continue
        out = subprocess.run([exe, "--help"], stdout=subprocess.PIPE,
                             universal_newlines=True, timeout=10).stdout
        opts = set(re.findall(r"(--[a-z][a-z-]+)", out))
        T.check(len(opts) >= min_opts, "--help lists the options", sorted(opts))
        if not os.path.exists(os.path.join(top, "man", page)):
            T.check(False, "man/%s exists" % page)
            continue
        man = man_text(page)
        for o in sorted(opts):
            T.check(o in man, "%s documents %s" % (page, o))
        for o in re.findall(r"^\.BR? .*?(--[a-z][a-z-]+)", man, re.M):
            T.check(o in out, "--help mentions %s from the man page" % o)

for src, page in (("gatewayd/gw_config.c", "gatewayd.conf.5"),
                  ("lib/hostconf.c", "pam_lockbox.conf.5")):
    with T.section("%s keys in %s" % (src, page)):
        keys = [k for k in table_keys(src) if k != "config" and k != "debug"]
        man = man_text(page)
        doc = documented_keys(man)
        T.check(len(keys) >= 5, "the parser's key table was found (%d keys)" % len(keys))
        for k in keys:
            T.check(k in doc, "%s documents %s" % (page, k))

with T.section("pam_lockbox.conf(5) gives the defaults lib/hostconf.c uses"):
    with open(os.path.join(top, "include", "lockbox", "hostconf.h"), encoding="utf-8") as f:
        hdr = f.read()
    defaults = dict(re.findall(r'^#define LB_HOSTCONF_([A-Z_]+) "([^"]+)"', hdr, re.M))
    man = man_text("pam_lockbox.conf.5")
    for macro, key in (("AGENT_SOCKET", "agent_socket"), ("AUDIT_LOG", "audit_log"),
                       ("TOKEN_FILE", "host_token_file"), ("GROUP", "gated_group")):
        T.check(macro in defaults and defaults[macro] in man,
                "pam_lockbox.conf(5) names the default %s %s" % (key, defaults.get(macro)))
    nums = {k: int(v) for k, v in re.findall(r"^#define LB_HOSTCONF_([A-Z_]+) (\d+)", hdr, re.M)}

    def dur(secs):
        for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
            if secs and secs % n == 0:
                return "%d%s" % (secs // n, unit)
        return "%ds" % secs

    for key, macro in (("timeout", "TIMEOUT"), ("warn_before", "WARN_BEFORE"),
                       ("kill_grace", "KILL_GRACE")):
        default = dur(nums.get(macro, -1))
        para = re.search(r"^\.B %s\n(.*?)(?=^\.TP|^\.SH)" % key, man, re.M | re.S)
        T.check(para and default in para.group(1),
                "pam_lockbox.conf(5): %s defaults to %s" % (key, default),
                para.group(1)[:300] if para else "no .B %s paragraph" % key)

T.done()
