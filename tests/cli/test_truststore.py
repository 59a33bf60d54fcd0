"""Without ca_file, the gateway's certificate is verified against the system trust store,
looked up in /etc/ssl/certs by subject hash (not by parsing the whole CA bundle on every
call). Runs lockboxctl in a private mount namespace whose /etc/ssl/certs is a test directory;
the machine's own store is never touched. Needs root and unshare(1) (skips otherwise)."""

import os
import shutil
import subprocess

import lbtest
from ctltest import Ctl

T = lbtest.Runner("cli/truststore")
if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("openssl"):
    T.skip("needs root, unshare(1) and openssl(1) for a private /etc/ssl/certs")


def store(d, pems, bundle_pems=()):
    """A directory like /etc/ssl/certs: PEM files with hash links, and a bundle file."""
    os.makedirs(d)
    for i, p in enumerate(pems):
        shutil.copy(p, os.path.join(d, "ca%d.pem" % i))
    r = subprocess.run(["openssl", "rehash", d], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if r.returncode != 0:
        raise RuntimeError("openssl rehash: %s" % r.stderr)
    with open(os.path.join(d, "ca-certificates.crt"), "w") as out:
        for p in bundle_pems:
            out.write(open(p).read())
    return d


def main():
    gw = lbtest.Gateway(tls=True)
    gw.start()
    admin = gw.bootstrap()
    c = Ctl(gw)   # only for its clean environment; in_ns gives no --ca-file
    tmp = lbtest.tmpdir(prefix="lbtrust-")
    good = store(os.path.join(tmp, "good"), [gw.pki["ca"]])
    wrong = store(os.path.join(tmp, "wrong"), [gw.pki["wrong_ca"]],
                  bundle_pems=[gw.pki["ca"]])

    def in_ns(certs, *args):
        script = ('mount --bind "$0" /etc/ssl/certs && exec "$@"')
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, certs,
               c.exe, "--url", gw.url, "--token", admin] + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=c.env(), universal_newlines=True, timeout=60)
        return p

    with T.section("the gateway's CA in the system store"):
        p = in_ns(good, "tenant", "list")
        T.eq(p.returncode, 0, "lockboxctl tenant list without --ca-file succeeds",
             p.stderr.strip()[-300:])

    with T.section("the gateway's CA not in the store's hashed directory"):
        p = in_ns(wrong, "tenant", "list")
        T.check(p.returncode != 0, "refused (exit %d)" % p.returncode, p.stdout[-200:])
        T.check("TLS" in p.stderr or "certificate" in p.stderr,
                "stderr names the TLS verification failure", p.stderr.strip()[-300:])
        T.check("lockbox test CA" not in p.stdout, "nothing was answered", p.stdout[-200:])

    with T.section("an explicit ca_file still wins over the store"):
        p = in_ns(wrong, "--ca-file", gw.pki["ca"], "tenant", "list")
        T.eq(p.returncode, 0, "--ca-file with the gateway's CA succeeds",
             p.stderr.strip()[-300:])
        p = in_ns(good, "--ca-file", gw.pki["wrong_ca"], "tenant", "list")
        T.check(p.returncode != 0, "--ca-file with another CA is refused even though the "
                "store trusts the gateway (only the configured CA counts)", p.stderr[-200:])

    gw.close()
    shutil.rmtree(tmp, ignore_errors=True)
    T.done()


main()
