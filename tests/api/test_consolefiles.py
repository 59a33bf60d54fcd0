#!/usr/bin/python3
"""The web console's files as lockbox-gatewayd serves them (no browser: tests/console does
that): GET /console redirects to /console/; index.html with its assets named under a
fingerprint of the installed files, never cached, the fingerprinted assets immutable and a new
fingerprint when a file changes; the right content types; the security headers (CSP,
X-Frame-Options, Referrer-Policy, nosniff) on every answer; 404 for unknown files, unknown
extensions, hidden files, '..' (plain, encoded, with %2f), symbolic links out of the
directory, NUL, and for everything when console_dir is missing; the mail links
(/console/requests/ID) answer the console page. The console is a copy of the source tree's
console/ in the test's temp dir, so that the test can add links and change files."""
import os
import re
import shutil
import time
import http.client
import ssl
import urllib.parse

import lbtest

T = lbtest.Runner("consolefiles")
TOP = os.environ.get("LB_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
tmp = lbtest.tmpdir("lbconsolefiles-")
cdir = os.path.join(tmp, "console")
shutil.copytree(os.path.join(TOP, "console"), cdir)
outside = os.path.join(tmp, "secret.txt")
with open(outside, "w") as f:
    f.write("TOP SECRET outside the console\n")
os.symlink(outside, os.path.join(cdir, "link.txt"))
os.makedirs(os.path.join(cdir, "sub"))
with open(os.path.join(cdir, "sub", "x.css"), "w") as f:
    f.write("p{}\n")
os.symlink(tmp, os.path.join(cdir, "dirlink"))
with open(os.path.join(cdir, ".hidden.js"), "w") as f:
    f.write("hidden\n")
with open(os.path.join(cdir, "data.bin"), "w") as f:
    f.write("unknown type\n")


def get(gw, path, method="GET"):
    u = urllib.parse.urlsplit(gw.url)
    if u.scheme == "https":
        c = http.client.HTTPSConnection(u.hostname, u.port, timeout=10,
                                        context=ssl.create_default_context(cafile=gw.ca))
    else:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def headers_ok(h):
    csp = h.get("content-security-policy", "")
    return ("default-src 'self'" in csp and "frame-ancestors 'none'" in csp and
            "object-src 'none'" in csp and "unsafe-inline" not in csp and
            "unsafe-eval" not in csp and h.get("x-frame-options") == "DENY" and
            h.get("referrer-policy") == "no-referrer" and
            h.get("x-content-type-options") == "nosniff")


with lbtest.Gateway(tls=True, conf_extra="console_dir = %s" % cdir) as gw:
    gw.start()

    with T.section("index, redirect, headers"):
        st, h, b = get(gw, "/console")
        T.check(st == 301 and h.get("location") == "/console/" and headers_ok(h),
                "GET /console -> 301 /console/", (st, h))
        st, h, b = get(gw, "/console/")
        T.check(st == 200 and headers_ok(h), "GET /console/ -> 200 with the security headers", h)
        T.eq(h.get("cache-control"), "no-store", "index.html: no-store")
        T.check(h.get("content-type", "").startswith("text/html; charset=utf-8"), "text/html")
        page = b.decode()
        fp = re.findall(r'"/console/v/([0-9a-f]{16})/', page)
        T.check(fp and len(set(fp)) == 1 and "@ASSET_BASE@" not in page,
                "its assets are named under one fingerprint", page[:400])
        T.check(not re.search(r"<script(?![^>]*\bsrc=)", page) and "style=" not in page and
                not re.search(r"\son[a-z]+=", page), "no inline script, style or handler")
        st2, h2, b2 = get(gw, "/console/index.html")
        T.eq((st2, b2), (st, b), "/console/index.html is the same page")
        for p in ("/console/requests/req_0123456789abcdef", "/console/requests/req_0123456789abcdef/"):
            st, h, b = get(gw, p)
            T.check(st == 200 and b == b2 and headers_ok(h), "%s (a mail link) -> the page" % p)

    with T.section("assets: content types, cache headers, fingerprint"):
        fp = re.findall(r'/console/v/([0-9a-f]{16})/', b2.decode())[0]
        for name, want in (("app.js", "text/javascript"), ("style.css", "text/css"),
                           ("favicon.svg", "image/svg+xml"), ("sub/x.css", "text/css")):
            st, h, b = get(gw, "/console/v/%s/%s" % (fp, name))
            with open(os.path.join(cdir, name), "rb") as f:
                same = f.read() == b
            T.check(st == 200 and same and h.get("content-type", "").startswith(want) and
                    h.get("cache-control") == "public, max-age=31536000, immutable" and
                    headers_ok(h), "v/FP/%s: %s, immutable, the file itself" % (name, want),
                    (st, h.get("content-type"), h.get("cache-control")))
            st, h, b = get(gw, "/console/" + name)
            T.check(st == 200 and h.get("cache-control") == "no-cache",
                    "/console/%s without a fingerprint: no-cache" % name, h.get("cache-control"))
        st, h, b = get(gw, "/console/v/0000000000000000/app.js")
        T.check(st == 200 and h.get("cache-control") == "no-cache",
                "an old fingerprint: today's file, never kept under the old name",
                h.get("cache-control"))
        time.sleep(0.02)
        with open(os.path.join(cdir, "style.css"), "a") as f:
            f.write("/* changed */\n")
        st, h, b = get(gw, "/console/")
        fp2 = re.findall(r'/console/v/([0-9a-f]{16})/', b.decode())[0]
        T.check(fp2 != fp, "a changed file changes the fingerprint", (fp, fp2))
        st, h, b = get(gw, "/console/v/%s/style.css" % fp)
        T.eq(h.get("cache-control"), "no-cache", "the old fingerprint is no longer immutable")
        st, h, b = get(gw, "/console/v/%s/style.css" % fp2)
        T.check(b.endswith(b"/* changed */\n") and "immutable" in h.get("cache-control", ""),
                "the new one serves the new file, immutable")

    with T.section("nothing outside the directory, nothing unknown"):
        for p in ("/console/nope.js", "/console/data.bin", "/console/.hidden.js",
                  "/console/link.txt", "/console/dirlink/secret.txt",
                  "/console/../secret.txt", "/console/%2e%2e/secret.txt",
                  "/console/%2E%2E/%2e%2e/etc/passwd", "/console/..%2fsecret.txt",
                  "/console/sub/../../secret.txt", "/console/sub/%2e%2e/%2e%2e/secret.txt",
                  "/console/v/%s/../../secret.txt" % fp2, "/console/v/%s/link.txt" % fp2,
                  "/console/v/short/app.js", "/console/v/", "/console//app.js",
                  "/console/app.js/", "/console/sub", "/console/sub/",
                  "/console/a/b/c/d/e/f.js", "/console/%5c..%5csecret.txt",
                  "/console/requests/x.js", "/console/" + "a" * 300 + ".js"):
            st, h, b = get(gw, p)
            T.check(st == 404 and b"SECRET" not in b and b"root:" not in b,
                    "%s -> 404" % p[:80], (st, b[:100]))
        # NUL: the HTTP library decodes %00 and the path ends there; what is left is checked
        # like any path and never leaves the directory
        for p, want in (("/console/%00/../../secret.txt", 200), ("/console/..%00/secret.txt", 404),
                        ("/console/link.txt%00.js", 404), ("/console/nope%00.js", 404)):
            st, h, b = get(gw, p)
            T.check(st == want and b"SECRET" not in b, "%s -> %d, nothing outside" % (p, want), st)
        st, h, b = get(gw, "/console/app.js", method="POST")
        T.eq(st, 405, "POST to a console file -> 405")
        st, h, b = get(gw, "/console/v/%s/app.js" % fp2, method="HEAD")
        T.check(st in (200, 405), "HEAD answers cleanly", st)

with T.section("make install installs every console file (Makefile.am dist_console_DATA)"):
    with open(os.path.join(TOP, "Makefile.am"), encoding="utf-8") as f:
        am = f.read().replace("\\\n", " ")
    m = re.search(r"^dist_console_DATA\s*=(.*)$", am, re.M)
    listed = set(m.group(1).split()) if m else set()
    have = {"console/" + n for n in os.listdir(os.path.join(TOP, "console"))
            if not n.startswith(".")}
    T.eq(sorted(have - listed), [], "every file of console/ is installed")
    T.eq(sorted(listed - have), [], "every installed file exists")

with lbtest.Gateway(conf_extra="console_dir = %s" % os.path.join(tmp, "missing")) as gw:
    gw.start()
    with T.section("console_dir missing: 404, the API unaffected"):
        st, h, b = get(gw, "/console/")
        T.check(st == 404 and b"not installed" in b, "GET /console/ -> 404 (not installed)", b)
        st, h, b = get(gw, "/console/app.js")
        T.eq(st, 404, "GET /console/app.js -> 404")
        T.eq(get(gw, "/healthz")[0], 200, "/healthz -> 200")

T.done()
