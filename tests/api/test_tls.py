"""HTTPS with a test CA, and config files the daemon must refuse (file:line: key)."""

import http.client
import os
import re
import socket
import ssl
import subprocess

import lbtest
from lbtest import api

T = lbtest.Runner("api/tls")


def main():
    gw = lbtest.Gateway(tls=True)
    with T.section("https with the test CA"):
        gw.start()
        st, js, _ = api(gw, "GET", "/healthz")
        T.eq(st, 200, "GET /healthz over https, verified with the test CA")
        admin = gw.bootstrap()
        st, js, _ = api(gw, "GET", "/v1/tenants", token=admin)
        T.eq(st, 200, "GET /v1/tenants over https")
        st, js, _ = api(gw, "POST", "/v1/tenants", {"name": "tls"}, token=admin)
        T.eq(st, 201, "POST /v1/tenants over https")
        st, _, _ = api("https://localhost:%d" % gw.port, "GET", "/healthz", ca=gw.ca)
        T.eq(st, 200, "host name localhost verifies (SAN)")

    with T.section("clients that must fail"):
        try:
            api(gw, "GET", "/healthz", ca=gw.pki["wrong_ca"])
            T.check(False, "a client trusting the wrong CA fails verification")
        except ssl.SSLCertVerificationError as e:
            T.check(True, "a client trusting the wrong CA fails verification (%s)" % e.verify_message)
        try:
            ctx = ssl.create_default_context()
            c = http.client.HTTPSConnection("127.0.0.1", gw.port, timeout=5, context=ctx)
            c.request("GET", "/healthz")
            c.getresponse().read()
            T.check(False, "a client with only the system CAs fails verification")
        except ssl.SSLCertVerificationError:
            T.check(True, "a client with only the system CAs fails verification")
        try:
            st, _, text = api("http://127.0.0.1:%d" % gw.port, "GET", "/healthz", timeout=5)
            T.check(not (200 <= st < 300), "plain http to the https port gets no 2xx", "%d %s" % (st, text[:100]))
        except (OSError, http.client.HTTPException) as e:
            T.check(True, "plain http to the https port fails (%s)" % type(e).__name__)
        st, _, _ = api(gw, "GET", "/healthz")
        T.eq(st, 200, "gateway still serves https after those clients")
    gw.close()

    with T.section("command line"):
        exe = lbtest.gatewayd_path()
        for opt in ("--help", "--version"):
            r = subprocess.run([exe, opt], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                               universal_newlines=True)
            T.check(r.returncode == 0 and r.stdout.strip(), "lockbox-gatewayd %s exits 0 with output" % opt,
                    "rc=%d out=%r" % (r.returncode, r.stdout[:100]))
        r = subprocess.run([exe, "--no-such-option"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10, universal_newlines=True)
        T.check(r.returncode != 0, "unknown option -> non-zero exit")

    tmp = lbtest.Gateway(tls=True)     # only for its temp dir, PKI and a port; never started
    pki, port = tmp.pki, tmp.port
    db = "database = sqlite://%s" % os.path.join(tmp.tmp, "refuse.db")

    def refuse(label, lines, line, key, need_line=True):
        path = os.path.join(tmp.tmp, "bad-%s.conf" % re.sub(r"\W+", "_", label))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = subprocess.Popen([exe, "-c", path, "--foreground"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            T.check(False, "%s: daemon refuses to start" % label, "still running after 10s")
            return
        T.check(p.returncode != 0, "%s: exits non-zero" % label, "rc=%d" % p.returncode)
        if need_line:
            pat = re.escape(path) + r":%d:[^\n]*\b%s\b" % (line, re.escape(key))
            T.check(re.search(pat, err), "%s: error names %s:%d: %s" % (label, os.path.basename(path), line, key),
                    err.strip()[:300])
        else:
            T.check(path in err and key in err, "%s: error names the file and %s" % (label, key), err.strip()[:300])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            T.check(False, "%s: nothing listens on the port" % label)
        except OSError:
            pass

    with T.section("config files the daemon refuses"):
        refuse("http on 0.0.0.0", ["listen = http://0.0.0.0:%d" % port, db], 1, "listen")
        refuse("http on a routable address", ["# comment", db, "listen = http://192.0.2.10:%d" % port], 3, "listen")
        refuse("http on ::", [db, "listen = http://[::]:%d" % port], 2, "listen")
        refuse("unknown scheme", ["listen = ftp://127.0.0.1:%d" % port, db], 1, "listen")
        base = ["listen = http://127.0.0.1:%d" % port, db]
        refuse("unknown key", base + ["bogus_key = 1"], 3, "bogus_key")
        refuse("bad duration", base + ["", "pending_ttl = soon"], 4, "pending_ttl")
        refuse("negative duration", base + ["sweep_interval = -1s"], 3, "sweep_interval")
        refuse("bad bool", base + ["require_mfa = maybe"], 3, "require_mfa")
        refuse("bad database scheme", ["listen = http://127.0.0.1:%d" % port, "database = mysql://x/y"], 2, "database")
        refuse("relative sqlite path", ["listen = http://127.0.0.1:%d" % port, "database = sqlite://rel.db"], 2,
               "database")
        refuse("https without tls_key", ["listen = https://127.0.0.1:%d" % port, db,
                                         "tls_cert = %s" % pki["cert"]], 0, "tls_key", need_line=False)
        refuse("https without tls_cert", ["listen = https://127.0.0.1:%d" % port, db,
                                          "tls_key = %s" % pki["key"]], 0, "tls_cert", need_line=False)
        refuse("tls_cert file missing", ["listen = https://127.0.0.1:%d" % port, db,
                                         "tls_cert = %s" % os.path.join(tmp.tmp, "nope.pem"),
                                         "tls_key = %s" % pki["key"]], 3, "tls_cert", need_line=False)
        r = subprocess.run([exe, "-c", os.path.join(tmp.tmp, "missing.conf"), "--foreground"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10, universal_newlines=True)
        T.check(r.returncode != 0 and "missing.conf" in r.stderr, "missing config file -> non-zero, names the file",
                r.stderr.strip()[:200])

    with T.section("http on loopback is allowed"):
        have6 = True
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.bind(("::1", 0))
            s.close()
        except OSError:
            have6 = False
        g = lbtest.Gateway()
        g.start()
        T.eq(api(g, "GET", "/healthz")[0], 200, "http://127.0.0.1 serves")
        g.close()
        if have6:
            g = lbtest.Gateway()
            g.port = lbtest.free_port("::1")
            g.url = "http://[::1]:%d" % g.port
            g.write_conf()
            g.start()
            T.eq(api(g, "GET", "/healthz")[0], 200, "http://[::1] serves")
            g.close()
        else:
            T.note("no IPv6 loopback here; http://[::1] not tried")
    tmp.close()
    T.done()


main()
