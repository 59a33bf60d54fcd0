"""ctltest: run the built lockboxctl from the tests in tests/cli (Python 3 stdlib only).

    from ctltest import Ctl
    c = Ctl(gw)                      # gateway URL (and CA) taken from an lbtest.Gateway
    r = c.run("tenant", "list", token=admin)
    r.rc, r.out, r.err, r.json()     # exit status, stdout, stderr, parsed stdout
"""

import json
import os
import subprocess
import tempfile

import lbtest

__all__ = ["Ctl", "ctl_path", "Result"]


def ctl_path():
    p = os.environ.get("LB_CTL")
    if p:
        return p
    top = os.environ.get("LB_TOP_BUILDDIR")
    if top:
        return os.path.join(top, "lockboxctl", "lockboxctl")
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "lockboxctl", "lockboxctl")


class Result:
    def __init__(self, args, rc, out, err):
        self.args = args
        self.rc = rc
        self.out = out
        self.err = err

    def json(self):
        return json.loads(self.out)

    def lines(self):
        return [l for l in self.out.splitlines() if l.strip()]

    def table(self):
        """Rows of a human table as lists of cells split on 2+ spaces (header first)."""
        import re
        return [re.split(r"\s{2,}", l.rstrip()) for l in self.lines()]

    def __repr__(self):
        return "lockboxctl %s -> rc=%d out=%r err=%r" % (
            " ".join(self.args), self.rc, self.out[:600], self.err[:600])


class Ctl:
    """Runs lockboxctl with a clean environment: no HOME config, no LOCKBOX_* unless given."""

    def __init__(self, gw=None, url=None, ca=None):
        self.exe = ctl_path()
        self.url = url or (gw.url if gw is not None else None)
        self.ca = ca or (gw.ca if gw is not None else None)
        self.home = lbtest.tmpdir(prefix="lbctl-home-")

    def env(self, extra=None):
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
             "LC_ALL": "C"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        if extra:
            e.update(extra)
        return e

    def raw(self, *args, env=None, input=None, timeout=60):
        """lockboxctl ARGS exactly (no --url/--token added)."""
        p = subprocess.run([self.exe] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.env(env), input=input,
                           universal_newlines=True, timeout=timeout)
        return Result(list(args), p.returncode, p.stdout, p.stderr)

    def run(self, *args, token=None, json_out=False, env=None, input=None, timeout=60):
        """lockboxctl --url URL [--ca-file CA] [--token TOKEN] [--json] ARGS."""
        pre = []
        if self.url:
            pre += ["--url", self.url]
        if self.ca:
            pre += ["--ca-file", self.ca]
        if token is not None:
            pre += ["--token", token]
        if json_out:
            pre += ["--json"]
        return self.raw(*(pre + list(args)), env=env, input=input, timeout=timeout)

    def js(self, *args, token=None, **kw):
        """run(--json ...) that must exit 0; returns the parsed output."""
        r = self.run(*args, token=token, json_out=True, **kw)
        if r.rc != 0:
            raise AssertionError("%r" % r)
        return r.json()
