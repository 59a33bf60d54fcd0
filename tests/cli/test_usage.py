"""lockboxctl without a real gateway: help on every command, usage errors (exit 2), settings
precedence, how gateway answers map to exit codes (1: refused or garbage, 3: down, silent,
TLS failure), and the man page and bash completion kept in step with --help."""

import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lbtest                      # noqa: E402
from ctltest import Ctl            # noqa: E402
from fakegw import FakeGateway, SilentServer  # noqa: E402

T = lbtest.Runner("cli/usage")
SRC = os.environ.get("LB_TOP_SRCDIR",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def commands(help_text):
    """Command paths listed by `lockboxctl --help`."""
    out, inside = [], False
    for line in help_text.splitlines():
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside and not line.strip():
            break
        if inside and re.match(r"^  [a-z]", line):
            words = []
            for w in re.split(r"\s{2,}", line.strip())[0].split():
                if not re.fullmatch(r"[a-z][a-z-]*", w):
                    break
                words.append(w)
            out.append(" ".join(words))
    return out


def options_of(help_text):
    """--options listed under 'Options:' of a command's --help."""
    opts, inside = [], False
    for line in help_text.splitlines():
        if line.startswith("Options:"):
            inside = True
            continue
        if inside and not line.strip():
            break
        m = re.match(r"^  --([a-z-]+)", line)
        if inside and m:
            opts.append(m.group(1))
    return opts


def main():
    c = Ctl()
    with T.section("help and version"):
        r = c.raw("--version")
        T.check(r.rc == 0 and re.match(r"^lockboxctl \d+\.\d+", r.out), "--version", r)
        r = c.raw("--help")
        T.check(r.rc == 0 and r.out.startswith("Usage: lockboxctl"), "--help exits 0", r)
        cmds = commands(r.out)
        T.check(len(cmds) >= 36, "--help lists every command (%d)" % len(cmds), cmds)
        for want in ("tenant create", "tenant lockbox enable", "tenant lockbox disable",
                     "subscription create", "user create", "token create", "role assign",
                     "role remove", "role list", "ticket create", "elevate", "elevation list",
                     "request create", "request list", "request show",
                     "request internal-approve", "request approve", "request deny",
                     "request revoke", "request cancel", "audit list", "audit export",
                     "audit verify", "host enroll", "host list", "host disable", "host join",
                     "host flush", "host sessions", "host check", "host enable", "tenant invite",
                     "invitation list", "invitation redeem"):
            T.check(want in cmds, "--help lists '%s'" % want)
        helps = {}
        for cmd in cmds:
            r = c.raw(*(cmd.split() + ["--help"]))
            helps[cmd] = r.out
            T.check(r.rc == 0 and r.out.startswith("Usage: lockboxctl " + cmd),
                    "'%s --help' exits 0 with its usage" % cmd, r)
            T.check(len(r.out.splitlines()) >= 2 and r.err == "",
                    "'%s --help' says what it does, on stdout only" % cmd, r)
        h = helps.get("host check", "")
        T.check("USER" in h and "--service" in h and "--config" in h and "exit" in h.lower(),
                "'host check --help': USER, --service, --config and the exit statuses", h)
        r = c.raw("request", "create", "-h")
        T.check(r.rc == 0 and "--all-hosts" in r.out, "-h works like --help", r)
        r = c.raw("--help", "request", "approve")
        T.check(r.rc == 0 and r.out.startswith("Usage: lockboxctl request approve"),
                "--help before the command", r)
        for group in ("tenant", "request", "host", "tenant lockbox", "audit"):
            r = c.raw(*group.split())
            T.check(r.rc == 2 and "incomplete command" in r.err and group + " " in r.out,
                    "'%s' alone: exit 2 and lists its commands" % group, r)
            r = c.raw(*(group.split() + ["--help"]))
            T.check(r.rc == 0 and group + " " in r.out, "'%s --help' exits 0" % group, r)

    with T.section("usage errors exit 2"):
        env = {"LOCKBOX_URL": "http://127.0.0.1:9", "LOCKBOX_TOKEN": "lbu_x"}
        cases = [
            ((), "no command"),
            (("frobnicate",), "unknown command"),
            (("tenant", "frob"), "unknown command"),
            (("tenant", "list", "--frob"), "unknown option"),
            (("tenant", "list", "-x"), "unknown option"),
            (("tenant", "list", "--limit"), "needs a value"),
            (("tenant", "list", "--all=yes"), "takes no value"),
            (("tenant", "create"), "missing argument"),
            (("tenant", "list", "extra"), "unexpected argument"),
            (("tenant", "show", "a", "b"), "unexpected argument"),
            (("subscription", "create", "--tenant", "a", "--tenant", "b", "n"), "given twice"),
            (("subscription", "create", "n"), "missing --tenant"),
            (("user", "create", "--name", "n", "--email", "e", "--side", "provider"),
             "missing --login"),
            (("user", "create", "--login", "l", "--name", "n", "--email", "e", "--side", "x"),
             "--side must be"),
            (("user", "create", "--login", "l", "--name", "n", "--email", "e", "--side",
              "customer"), "needs --tenant"),
            (("role", "assign", "usr_0000000000000000", "owner", "--tenant", "t",
              "--subscription", "s"), "not both"),
            (("ticket", "create", "--tenant", "t", "--title", "x"), "missing --description"),
            (("elevate", "--duration", "1h"), "missing --reason"),
            (("request", "create", "--ticket", "t", "--reason", "r"), "--host"),
            (("request", "create", "--ticket", "t", "--reason", "r", "--host", "a",
              "--all-hosts"), "not both"),
            (("request", "create", "--ticket", "t", "--reason", "r", "--host", "a",
              "--scope", "galaxy"), "--scope must be"),
            (("request", "create", "--ticket", "t", "--reason", "r", "--host", "a",
              "--scope", "tenant", "--subscription", "s"), "--scope subscription only"),
            (("request", "create", "--ticket", "t", "--reason", "r", "--host", "a",
              "--duration", "4 hours"), "not a duration"),
            (("elevate", "--duration", "soon", "--reason", "r"), "not a duration"),
            (("request", "deny", "req_0000000000000000"), "needs --reason"),
            (("request", "revoke", "req_0000000000000000"), "needs --reason"),
            (("audit", "list", "--since", "yesterday"), "is neither a time"),
            (("--timeout", "soon", "tenant", "list"), "not a duration"),
            (("host", "join", "--host-token", "lbh_x"), "missing --url"),
            (("host", "join", "--gateway", "http://example.com", "--token", "lbh_x"),
             "--url"),
            (("--timeout", "2", "tenant", "list"), "has no unit: write 2s"),
            (("host", "flush", "--timeout", "2"), "has no unit"),
            (("host", "join", "--gateway", "http://127.0.0.1:9", "--token", "lbu_x"),
             "expected a host token"),
            (("host", "flush", "--deadline", "never"), "not a duration"),
            (("host", "check"), "missing argument"),
            (("host", "check", "alice", "bob"), "unexpected argument"),
            (("host", "check", "alice", "--service"), "needs a value"),
            (("host", "check", "alice", "--frob"), "unknown option"),
            (("host", "check", "al\x01ice"), "clean text"),
            (("--json", "-q", "tenant", "list"), "not both"),
        ]
        for args, msg in cases:
            r = c.raw(*args, env=env)
            T.check(r.rc == 2 and msg in r.err, "%s: exit 2, says '%s'" %
                    (" ".join(args) or "(nothing)", msg), r)
        r = c.raw("tenant", "list", env={"LOCKBOX_TOKEN": "lbu_x"})
        T.check(r.rc == 2 and "no gateway URL" in r.err and "LOCKBOX_URL" in r.err,
                "no URL anywhere: exit 2 and says where to set it", r)
        r = c.raw("tenant", "list", env={"LOCKBOX_URL": "http://127.0.0.1:9"})
        T.check(r.rc == 2 and "no token" in r.err, "no token anywhere: exit 2", r)
        r = c.raw("--url", "http://example.com:8443", "--token", "lbu_x", "tenant", "list")
        T.check(r.rc == 2 and "example.com" in r.err,
                "plain http to a non-loopback gateway: exit 2", r)
        d = lbtest.tmpdir(prefix="lbctl-conf-")
        bad = os.path.join(d, "bad.conf")
        with open(bad, "w") as f:
            f.write("url = http://127.0.0.1:9\ncolour = blue\n")
        r = c.raw("--config", bad, "tenant", "list")
        T.check(r.rc == 2 and (bad + ":2: colour: unknown key") in r.err,
                "config with an unknown key: exit 2, file:line: key", r)
        r = c.raw("--config", os.path.join(d, "missing.conf"), "tenant", "list")
        T.check(r.rc == 2 and "missing.conf" in r.err, "--config of a missing file: exit 2", r)

    with T.section("gateway down, silent, TLS failure: exit 3"):
        port = lbtest.free_port()
        down = Ctl(url="http://127.0.0.1:%d" % port)
        for args in (("tenant", "list"), ("tenant", "create", "x"), ("audit", "verify"),
                     ("request", "approve", "req_0000000000000000"),
                     ("audit", "export"), ("token", "create", "alice")):
            r = down.run(*args, token="lbu_x")
            T.check(r.rc == 3 and "cannot reach the gateway" in r.err,
                    "%s against a closed port: exit 3" % " ".join(args), r)
        with SilentServer() as s:
            t0 = time.monotonic()
            r = Ctl(url=s.url).run("--timeout", "1s", "tenant", "list", token="lbu_x")
            el = time.monotonic() - t0
            T.check(r.rc == 3 and el < 10, "silent gateway with --timeout 1s: exit 3 in %.1fs"
                    % el, r)
        pki = lbtest.make_ca(lbtest.tmpdir(prefix="lbctl-pki-"))
        with FakeGateway({("GET", "/v1/tenants"): (200, {"items": [], "next_cursor": None})},
                         cert=pki["cert"], key=pki["key"]) as fg:
            r = Ctl(url=fg.url, ca=pki["wrong_ca"]).run("tenant", "list", token="lbu_x")
            T.check(r.rc == 3, "TLS certificate from another CA: exit 3", r)
            r = Ctl(url=fg.url, ca=pki["ca"]).run("tenant", "list", token="lbu_x")
            T.check(r.rc == 0, "the right CA file: exit 0", r)
            r = Ctl(url=fg.url).run("tenant", "list", token="lbu_x",
                                    env={"LOCKBOX_CA_FILE": pki["ca"]})
            T.check(r.rc == 0, "CA file from LOCKBOX_CA_FILE", r)

    with T.section("answers: refusal, garbage, lists"):
        err = {"error": {"code": "forbidden", "message": "only provider admins may do that"}}
        routes = {
            ("GET", "/v1/tenants"): (403, err),
            ("GET", "/v1/users"): (200, "this is not JSON"),
            ("GET", "/v1/subscriptions"): (502, "<html>bad gateway</html>"),
            ("GET", "/v1/hosts"): (200, {"items": "nope"}),
            ("GET", "/v1/audit/verify"): (200, {"ok": False, "broken_at": 7,
                                                "reason": "hash mismatch"}),
            ("GET", "/v1/tickets"): (200, {"items": [{"id": "tkt_1", "state": "open",
                                                      "title": "evil\u001b[31mred"},
                                                     {"id": "tkt_2", "state": "open",
                                                      "title": "\u00e9" * 60}],
                                           "next_cursor": "c2"}),
        }
        with FakeGateway(routes) as fg:
            f = Ctl(url=fg.url)
            r = f.run("tenant", "list", token="lbu_x")
            T.check(r.rc == 1 and "forbidden" in r.err and "only provider admins" in r.err
                    and "403" in r.err, "403: exit 1 with code, message and status", r)
            r = f.run("user", "list", token="lbu_x")
            T.check(r.rc == 1 and "JSON" in r.err, "200 with garbage: exit 1", r)
            r = f.run("subscription", "list", token="lbu_x")
            T.check(r.rc == 1 and "502" in r.err, "502 without JSON: exit 1 with the status", r)
            r = f.run("host", "list", token="lbu_x")
            T.check(r.rc == 1, "a list without an items array: exit 1", r)
            r = f.run("audit", "verify", token="lbu_x")
            T.check(r.rc == 1 and "BROKEN at seq 7" in r.out and "hash mismatch" in r.out,
                    "audit verify of a broken chain: exit 1 and says where", r)
            r = f.run("ticket", "list", token="lbu_x")
            T.check(r.rc == 0 and "\x1b" not in r.out and "evil?[31mred" in r.out,
                    "control characters from the gateway never reach the terminal", r)
            T.check("--cursor c2" in r.err, "a further page is hinted on stderr", r)
            T.check(("\u00e9" * 45 + "...") in r.out and ("\u00e9" * 46) not in r.out,
                    "long cells are cut at 48 characters, not bytes (UTF-8 kept whole)", r)
            rows = r.table()
            T.check(len(rows) == 3 and rows[1][0] == "tkt_1" and rows[2][0] == "tkt_2" and
                    r.out.splitlines()[1].index("open") == r.out.splitlines()[2].index("open"),
                    "columns are aligned", r)
            r = f.run("ticket", "list", token="lbu_x", json_out=True)
            T.check(r.rc == 0 and r.json()[0]["title"] == "evil\u001b[31mred",
                    "--json keeps the text exact (JSON-escaped)", r)
            r = f.run("ticket", "list", "--limit", "5", "--cursor", "a b&c", token="lbu_x")
            T.eq(fg.seen[-1]["path"], "/v1/tickets?limit=5&cursor=a%20b%26c",
                 "--limit and --cursor are sent percent-encoded")
            r = f.run("ticket", "list", "--tenant", "tnt_0123456789abcdef", token="lbu_x")
            T.eq(fg.seen[-1]["path"], "/v1/tickets?tenant=tnt_0123456789abcdef",
                 "filters become query parameters")

    with T.section("settings: file < environment < flags"):
        routes = {("GET", "/v1/tenants"): (200, {"items": [], "next_cursor": None})}
        with FakeGateway(routes) as fg, FakeGateway(routes) as fg2:
            d = lbtest.tmpdir(prefix="lbctl-home-")
            os.makedirs(os.path.join(d, ".config", "lockbox"))
            conf = os.path.join(d, ".config", "lockbox", "lockboxctl.conf")
            with open(conf, "w") as f:
                f.write("# test\nurl = %s\ntoken = lbu_fromfile\ntimeout = 5s\n" % fg.url)
            os.chmod(conf, 0o600)
            c2 = Ctl()
            c2.home = d
            r = c2.raw("tenant", "list")
            T.check(r.rc == 0 and fg.seen and fg.seen[-1]["auth"] == "Bearer lbu_fromfile",
                    "~/.config/lockbox/lockboxctl.conf gives url and token", r)
            T.check("readable by others" not in r.err, "no warning for a 0600 file", r)
            os.chmod(conf, 0o644)
            r = c2.raw("tenant", "list")
            T.check(r.rc == 0 and "readable by others" in r.err,
                    "a token in a world-readable file gets a warning", r)
            r = c2.raw("tenant", "list", env={"LOCKBOX_TOKEN": "lbu_fromenv"})
            T.eq(fg.seen[-1]["auth"], "Bearer lbu_fromenv", "LOCKBOX_TOKEN beats the file")
            r = c2.raw("tenant", "list", env={"LOCKBOX_URL": fg2.url})
            T.check(r.rc == 0 and fg2.seen, "LOCKBOX_URL beats the file", r)
            r = c2.raw("--token", "lbu_fromflag", "tenant", "list",
                       env={"LOCKBOX_TOKEN": "lbu_fromenv"})
            T.eq(fg.seen[-1]["auth"], "Bearer lbu_fromflag", "--token beats LOCKBOX_TOKEN")
            r = c2.raw("tenant", "list", "--token", "-", input="lbu_fromstdin\n")
            T.eq(fg.seen[-1]["auth"], "Bearer lbu_fromstdin",
                 "--token - reads the token from stdin (after the command too)")
            n = len(fg2.seen)
            r = c2.raw("tenant", "list", "--url", fg2.url, env={"LOCKBOX_URL": fg.url})
            T.check(r.rc == 0 and len(fg2.seen) == n + 1, "--url beats LOCKBOX_URL", r)
            other = os.path.join(d, "other.conf")
            with open(other, "w") as f:
                f.write("url = %s\ntoken = lbu_other\n" % fg2.url)
            r = c2.raw("--config", other, "tenant", "list")
            T.eq(fg2.seen[-1]["auth"], "Bearer lbu_other", "--config FILE is read instead")
            xdg = os.path.join(d, "xdg")
            os.makedirs(os.path.join(xdg, "lockbox"))
            with open(os.path.join(xdg, "lockbox", "lockboxctl.conf"), "w") as f:
                f.write("url = %s\ntoken = lbu_xdg\n" % fg2.url)
            r = c2.raw("tenant", "list", env={"XDG_CONFIG_HOME": xdg})
            T.eq(fg2.seen[-1]["auth"], "Bearer lbu_xdg", "$XDG_CONFIG_HOME is honoured")

    with T.section("man page and bash completion follow --help"):
        man = os.path.join(SRC, "man", "lockboxctl.1")
        text = open(man).read() if os.path.exists(man) else ""
        T.check(text, "man/lockboxctl.1 exists")
        plain = text.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "") \
            .replace("\\fI", "").replace("\\fP", "")
        for sec in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "ENVIRONMENT",
                    "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
            T.check(re.search(r"^\.SH \"?%s\"?$" % sec, text, re.M), "man page has %s" % sec)
        for cmd in cmds:
            T.check(cmd in plain, "man page documents '%s'" % cmd)
            for o in options_of(helps[cmd]):
                T.check("--" + o in plain, "man page documents %s --%s" % (cmd, o))
        for o in ("--url", "--token", "--ca-file", "--config", "--timeout", "--json", "--quiet",
                  "--version", "LOCKBOX_URL", "LOCKBOX_TOKEN", "LOCKBOX_CA_FILE"):
            T.check(o in plain, "man page documents %s" % o)
        if subprocess.run(["sh", "-c", "command -v groff"], stdout=subprocess.DEVNULL).returncode == 0:
            g = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", man],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=60)
            T.check(g.returncode == 0 and not g.stderr.strip(), "groff -man -ww: no warnings",
                    g.stderr[:500])
        comp = os.path.join(SRC, "contrib", "bash-completion", "lockboxctl")
        T.check(os.path.exists(comp), "contrib/bash-completion/lockboxctl exists")
        if os.path.exists(comp):
            b = subprocess.run(["bash", "-n", comp], stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=30)
            T.check(b.returncode == 0, "completion script parses", b.stderr)

            def complete(line):
                words = line.split(" ")
                words[0] = c.exe
                script = ('source "%s"; COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE="%s"; '
                          'COMP_POINT=${#COMP_LINE}; _lockboxctl; printf "%%s\\n" "${COMPREPLY[@]}"'
                          % (comp, " ".join("'%s'" % w for w in words), len(words) - 1, line))
                p = subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, universal_newlines=True, timeout=30,
                                   env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
                return p.stdout.split()
            got = complete("lockboxctl ")
            for noun in sorted(set(x.split()[0] for x in cmds)):
                T.check(noun in got, "completion offers '%s'" % noun, got)
            got = complete("lockboxctl request ")
            T.check(set(["create", "list", "show", "approve", "deny", "revoke", "cancel",
                         "internal-approve"]) <= set(got), "completion offers request verbs",
                    got)
            got = complete("lockboxctl tenant lockbox ")
            T.eq(sorted(got), ["disable", "enable"], "completion: tenant lockbox enable|disable")
            got = complete("lockboxctl request create --")
            T.check("--all-hosts" in got and "--ticket" in got and "--json" in got,
                    "completion offers a command's options", got)
            got = complete("lockboxctl request list --state ")
            T.check("approved" in got and "customer_notified" in got,
                    "completion offers request states", got)
    T.done()


main()
