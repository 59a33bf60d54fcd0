#!/usr/bin/python3
"""The man pages say what the programs do: every option of `lockbox-gatewayd --help` is in
lockbox-gatewayd(8), and every config key the parsers accept (gatewayd.conf, pam_lockbox.conf)
is documented in its man page."""
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


with T.section("lockbox-gatewayd --help and its man page"):
    out = subprocess.run([os.environ["LB_GATEWAYD"], "--help"], stdout=subprocess.PIPE,
                         universal_newlines=True, timeout=10).stdout
    opts = set(re.findall(r"(--[a-z][a-z-]+)", out))
    T.check(len(opts) >= 5, "--help lists the options", sorted(opts))
    man = man_text("lockbox-gatewayd.8")
    for o in sorted(opts):
        T.check(o in man, "lockbox-gatewayd(8) documents %s" % o)
    for o in re.findall(r"^\.BR? .*?(--[a-z][a-z-]+)", man, re.M):
        T.check(o in out, "--help mentions %s from the man page" % o)

for src, page in (("gatewayd/gw_config.c", "gatewayd.conf.5"),
                  ("pam_lockbox/lbpam_conf.c", "pam_lockbox.conf.5")):
    with T.section("%s keys in %s" % (src, page)):
        keys = [k for k in table_keys(src) if k != "config" and k != "debug"]
        man = man_text(page)
        doc = documented_keys(man)
        T.check(len(keys) >= 5, "the parser's key table was found (%d keys)" % len(keys))
        for k in keys:
            T.check(k in doc, "%s documents %s" % (page, k))

T.done()
