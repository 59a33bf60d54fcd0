#!/usr/bin/python3
"""The web console in a real browser: Debian's headless Chromium driven by python3-selenium
against a real lockbox-gatewayd over HTTPS on 127.0.0.1 (the test CA's server key is pinned
with --ignore-certificate-errors-spki-list), serving the console from the source tree.

Sign-in (bad token, TOTP), the approver's pending list and request detail, approve / deny /
revoke with a reason and the TOTP field the gateway asks for (approve_mfa), the engineer's
requests, new request and cancel, the admin's sessions per host, audit log with filters and
paging, chain status, the tenant's lockbox switch; another tenant sees nothing; the views are
bookmarkable and survive a reload; a mail link (/console/requests/ID) opens the request. The
API refuses what the page hides: the browser's own cookie without the CSRF header, with a
wrong one, after sign-out. Headers (CSP, frame, referrer, cache), no inline script or style in
the served files, a justification with markup shown as text, no error in the browser's log,
and a plain-HTTP gateway on 127.0.0.1 (Secure cookies are kept there: a secure context).

Approval policies: the tenant's global admin edits the policy (the gateway's validation errors
shown, the saved policy shown and in the API); N-of-M: "1 of 2 approvals" after the first of
two approvers, approved after the second; an engineer without elevation sees the no_elevation
warning and the gateway's refusal of break-glass, an approver the 422 no_elevation message; a
break-glass request carries the BREAK-GLASS badge in the lists and on its page, and an
approver's rejecting review revokes it (its reason, markup, shown as text).

Screenshots of the main views go to tests/console/screenshots/ in the build tree.
Skips (77) in sanitizer builds (Chromium is not built for ASan's runtime in this process tree;
the gateway's own code is covered by tests/api) and without chromium, chromedriver or
python3-selenium (contrib/deps.sh installs them)."""
import base64
import hashlib
import http.client
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.parse

import lbtest

T = lbtest.Runner("console")

if os.environ.get("LB_SANITIZER") == "1":
    T.skip("sanitizer build: the browser test runs in the normal build")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)):
    T.skip("chromium and chromium-driver are not installed (contrib/deps.sh)")
try:
    from selenium import webdriver
    from selenium.common.exceptions import (StaleElementReferenceException, TimeoutException,
                                            WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    T.skip("python3-selenium is not installed (contrib/deps.sh)")

TOP = os.environ.get("LB_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("LB_TOP_BUILDDIR", TOP)
CONSOLE_DIR = os.path.abspath(os.path.join(TOP, "console"))
SHOTS = os.path.join(BUILD, "tests", "console", "screenshots")
WAIT = 15  # seconds: every wait is bounded (a loaded CI machine runs other tests beside it)
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> & "quotes"'

os.makedirs(SHOTS, exist_ok=True)
for old in os.listdir(SHOTS):
    if old.endswith(".png"):
        os.unlink(os.path.join(SHOTS, old))


def spki_hash(cert):
    """base64 SHA-256 of the certificate's public key (what Chromium pins)."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True,
                         stdout=subprocess.PIPE, timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         check=True, stdout=subprocess.PIPE, timeout=30).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def raw_get(gw, path, headers=None):
    u = urllib.parse.urlsplit(gw.url)
    if u.scheme == "https":
        c = http.client.HTTPSConnection(u.hostname, u.port, timeout=10,
                                        context=ssl.create_default_context(cafile=gw.ca))
    else:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def cookie_call(gw, method, path, cookie, csrf=None, body=None):
    hdrs = {"Cookie": "lockbox_session=" + cookie}
    if csrf is not None:
        hdrs["X-CSRF-Token"] = csrf
    return lbtest.api(gw, method, path, body=body, headers=hdrs)


# ------------------------------------------------------------------ the gateway and fixture
gw = lbtest.Gateway(tls=True, conf_extra="console_dir = %s\napprove_mfa = true" % CONSOLE_DIR)
gw.start()
w = lbtest.world(gw, gw.bootstrap())
for k in ("ownA1", "lbappA", "eng"):
    w.enroll_totp(k)
w.elevate("eng", mfa=True)
r1 = w.must("POST", "/v1/requests", dict(w.request_body(sub="A1"), justification=XSS), who="eng")
r2 = w.new_request(sub="A1")
r4 = w.new_request(sub="A1", scope="tenant")  # tenant scope: internal review first
# sessions on hA1 and hA2: one ended, one live, one lost
sids = [lbtest.new_uuid() for _ in range(3)]


def host_event(host, typ, session, req, details=None):
    d = {"session": session, "user": w.login["eng"], "service": "sshd"}
    d.update(details or {})
    ev = {"id": session if typ == "session.start" else lbtest.new_uuid(),
          "time": lbtest.now_rfc3339(), "type": typ, "actor": w.login["eng"], "request": req,
          "details": d}
    w.must("POST", "/v1/audit/events", {"events": [ev]}, who=host)


# ------------------------------------------------------------------ the browser
tmp = lbtest.tmpdir("lbconsole-")
opts = webdriver.ChromeOptions()
opts.binary_location = CHROMIUM
for a in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
          "--user-data-dir=" + os.path.join(tmp, "profile"), "--no-first-run",
          "--disable-background-networking", "--disable-sync", "--disable-extensions",
          "--ignore-certificate-errors-spki-list=" + spki_hash(gw.pki["cert"])):
    opts.add_argument(a)
if os.geteuid() == 0:
    opts.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
try:
    try:  # selenium >= 4.11 names it log_output; Debian 12's 4.8 log_path
        service = Service(DRIVER, log_output=os.path.join(tmp, "chromedriver.log"))
    except TypeError:
        service = Service(DRIVER, log_path=os.path.join(tmp, "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
except WebDriverException as e:
    T.check(False, "Chromium starts under chromedriver", str(e))
    T.done()
driver.set_page_load_timeout(30)
driver.set_script_timeout(WAIT)
browser_log = []


def collect_log():
    try:
        browser_log.extend(driver.get_log("browser"))
    except WebDriverException:
        pass


def wait_for(cond, what, timeout=WAIT):
    try:
        # a view redrawn between finding an element and reading it: look again
        return WebDriverWait(driver, timeout, ignored_exceptions=(
            StaleElementReferenceException,)).until(lambda d: cond())
    except TimeoutException:
        T.check(False, what, "timed out after %ds at %s" % (timeout, driver.current_url))
        shot("timeout-" + re.sub(r"[^a-z0-9]+", "-", what.lower())[:40])
        return None


def el(css):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found else None


def text(css):
    e = el(css)
    return e.text if e else ""


def shot(name):
    try:
        driver.save_screenshot(os.path.join(SHOTS, name + ".png"))
    except WebDriverException:
        pass


def open_console(frag="", base=None):
    driver.get((base or gw.url) + "/console/" + frag)


def sign_in(key, totp=True, base=None, token=None):
    """Signs KEY in through the form (with a TOTP code when they have one); waits for the
    navigation to show."""
    driver.delete_all_cookies()
    driver.get("about:blank")  # a new page: not a fragment change of the signed-in one
    open_console("#/signin", base)
    if not wait_for(lambda: el("#signin input[name=token]"), "the sign-in form shows"):
        return False
    el("#signin input[name=token]").send_keys(token or w.tok[key])
    if totp and key in w.totp_secret:
        el("#signin input[name=totp]").send_keys(w.totp(key))
    el("#signin input[name=token]").send_keys(Keys.RETURN)  # the keyboard, not the mouse
    return wait_for(lambda: el("#signout"), "%s is signed in" % key)


def session_cookie():
    for c in driver.get_cookies():
        if c["name"] == "lockbox_session":
            return c
    return None


def csrf_token():
    return driver.execute_async_script(
        "const done = arguments[0];"
        "fetch('/v1/sessions/current', {credentials: 'same-origin'})"
        ".then(r => r.json()).then(j => done(j.csrf_token)).catch(e => done(null));")


def api_state(req, who="eng"):
    return w.must("GET", "/v1/requests/" + req, who=who)["state"]


try:
    with T.section("served files: headers, content types, no inline script or style"):
        st, hdrs, body = raw_get(gw, "/console/")
        T.eq(st, 200, "GET /console/ -> 200")
        csp = hdrs.get("content-security-policy", "")
        T.check("default-src 'self'" in csp and "frame-ancestors 'none'" in csp and
                "'unsafe-inline'" not in csp and "object-src 'none'" in csp,
                "a strict Content-Security-Policy", csp)
        T.eq(hdrs.get("x-frame-options"), "DENY", "X-Frame-Options: DENY")
        T.eq(hdrs.get("referrer-policy"), "no-referrer", "Referrer-Policy: no-referrer")
        T.eq(hdrs.get("x-content-type-options"), "nosniff", "X-Content-Type-Options: nosniff")
        T.eq(hdrs.get("cache-control"), "no-store", "index: Cache-Control no-store")
        T.check(hdrs.get("content-type", "").startswith("text/html"), "index: text/html")
        page = body.decode()
        assets = re.findall(r'(?:src|href)="(/console/v/[0-9a-f]{16}/[a-z.]+)"', page)
        T.check(len(assets) >= 3, "index names its assets under a fingerprint", page[:300])
        T.check(not re.search(r"<script(?![^>]*\bsrc=)", page) and "style=" not in page and
                not re.search(r"\son[a-z]+=", page) and "@ASSET_BASE@" not in page,
                "index.html: no inline script, style or handler")
        for a in assets:
            st, h, b = raw_get(gw, a)
            T.check(st == 200 and "immutable" in h.get("cache-control", "") and
                    h.get("content-security-policy") == csp,
                    "%s: 200, immutable, the same CSP" % a.rsplit("/", 1)[1], h.get("cache-control"))
        types = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}
        for name, want in types.items():
            st, h, b = raw_get(gw, "/console/" + name)
            T.check(st == 200 and h.get("content-type", "").startswith(want) and
                    h.get("cache-control") == "no-cache",
                    "/console/%s: %s, no-cache without a fingerprint" % (name, want),
                    (st, h.get("content-type"), h.get("cache-control")))
        for name in os.listdir(CONSOLE_DIR):
            if name.endswith(".js"):
                with open(os.path.join(CONSOLE_DIR, name), encoding="utf-8") as f:
                    src = f.read()
                T.check("innerHTML" not in src and "outerHTML" not in src and
                        "insertAdjacentHTML" not in src and "eval(" not in src and
                        "document.write" not in src,
                        "%s: no innerHTML, eval or document.write" % name)
        # redirect, traversal, symlinks, NUL, fingerprints: tests/api/test_consolefiles.py
        st, h, b = raw_get(gw, "/console/requests/" + r1["id"])
        T.check(st == 200 and b"app.js" in b, "a mail link /console/requests/ID -> the console page")

    with T.section("sign-in: a bad token, TOTP asked for, then in"):
        open_console()
        wait_for(lambda: el("#signin"), "not signed in: the sign-in form")
        shot("01-signin")
        el("#signin input[name=token]").send_keys("lbu_" + "0" * 64)
        el("#signin button[type=submit]").click()
        T.check(wait_for(lambda: "unauthenticated" in text("#signin-error"),
                         "a bad token: the gateway's error shown"), "bad token refused")
        T.eq(session_cookie(), None, "no cookie after a refused sign-in")
        el("#signin input[name=token]").clear()
        el("#signin input[name=token]").send_keys(w.tok["ownA1"])
        el("#signin button[type=submit]").click()
        T.check(wait_for(lambda: "TOTP" in text("#signin-error"), "no code: asked for the TOTP code"),
                "mfa_required: the form asks for the code")
        el("#signin input[name=totp]").send_keys(w.totp("ownA1"))
        el("#signin button[type=submit]").click()
        T.check(wait_for(lambda: el("#signout"), "signed in with the code"), "ownA1 signed in")
        c = session_cookie()
        T.check(c and c.get("httpOnly") and c.get("secure") and c.get("sameSite") == "Strict",
                "the cookie is HttpOnly, Secure, SameSite=Strict", c)
        T.eq(driver.execute_script("return document.cookie"), "", "scripts cannot read it")

    with T.section("approver: pending requests, counts, age"):
        T.check(wait_for(lambda: "#/approvals" in driver.current_url and el("#count-pending"),
                         "the start page of an approver is the pending list"), "approvals shown")
        T.check(text("#count-pending").startswith("2"), "2 pending for ownA1", text("#count-pending"))
        body = text("main")
        T.check(r1["id"] in body and r2["id"] in body and w.login["eng"] in body,
                "both requests listed with their engineer")
        T.check(not el('a[href="#/my"]') and el('a[href="#/approvals"]') and el('a[href="#/audit"]'),
                "the owner's navigation: approvals, audit; no engineer pages")
        shot("02-approvals")

    with T.section("request detail: every field, markup shown as text"):
        el('a[href="#/requests/%s"]' % r1["id"]).click()
        wait_for(lambda: el("#justification"), "the request detail shows")
        T.eq(el("#justification").text, XSS, "the justification is shown exactly, as text")
        T.eq(len(driver.find_elements(By.CSS_SELECTOR, "#justification *")), 0,
             "no element was made from it")
        T.eq(driver.execute_script("return window.__xss === undefined"), True, "no script ran")
        T.check(w.login["eng"] in text("#engineer"), "the engineer")
        T.eq(text("#hosts"), "hA1", "the hosts")
        T.check("running" in text("#elevation-state") and "before now" in text("#elevation-before-now"),
                "the elevation runs and started before now", text("dl.fields"))
        detail = text("dl.fields")
        for want in ("help", "subscription " + w.sub["A1"], "ssh", "1h", "none yet", "not needed"):
            T.check(want in detail, "detail shows %r" % want)
        T.check(wait_for(lambda: "lockbox.request.create" in text("main"), "the audit trail shows"),
                "timeline: lockbox.request.create")
        T.check(el("#act-approve") and el("#act-deny") and not el("#act-revoke") and not el("#act-cancel"),
                "an undecided request: approve and deny offered")
        T.check(not el("#decide input[name=totp]").is_displayed(),
                "no TOTP field until the gateway asks for one")
        shot("03-request-detail")

    with T.section("approve with a reason: TOTP asked for, then approved at the API"):
        el("#decide textarea[name=reason]").send_keys("looks right")
        el("#act-approve").click()
        T.check(wait_for(lambda: "mfa_required" in text("#decision-error") and
                         el("#decide input[name=totp]").is_displayed(),
                         "approve_mfa: the TOTP field appears"), "mfa_required: TOTP field shown")
        T.eq(api_state(r1["id"]), "customer_notified", "nothing decided without the code")
        el("#decide input[name=totp]").send_keys(w.totp("ownA1"))
        el("#act-approve").click()
        T.check(wait_for(lambda: "approved" in text("main .badge"), "the page shows it approved"),
                "approved in the page")
        req = w.must("GET", "/v1/requests/" + r1["id"], who="eng")
        T.eq((req["state"], req["approved_by"], req["decision_reason"]),
             ("approved", w.user["ownA1"], "looks right"), "the API shows it approved by ownA1")
        T.check("started before the approval" in text("dl.fields"),
                "the elevation counts for this grant")
        T.check(el("#act-revoke") and not el("#act-approve"), "approved: revoke offered")
        driver.refresh()
        T.check(wait_for(lambda: el("#justification") and "approved" in text("main .badge"),
                         "after a reload: the same view, still signed in"), "reload keeps the view")
        T.check(("#/requests/" + r1["id"]) in driver.current_url, "the URL names the request")
        shot("04-approved")

    with T.section("the API is the guard: the browser's cookie without or with a wrong CSRF"):
        c = session_cookie()["value"]
        csrf = csrf_token()
        T.check(csrf and re.fullmatch(r"[0-9a-f]{64}", csrf), "the page gets its CSRF token", csrf)
        T.status(cookie_call(gw, "GET", "/v1/requests/" + r2["id"], c), 200, None,
                 "GET with the cookie alone")
        T.status(cookie_call(gw, "POST", "/v1/requests/%s/deny" % r2["id"], c,
                             body={"reason": "x"}), 403, "csrf_failed", "POST deny without CSRF")
        T.status(cookie_call(gw, "POST", "/v1/requests/%s/deny" % r2["id"], c, csrf="0" * 64,
                             body={"reason": "x"}), 403, "csrf_failed", "POST deny, wrong CSRF")
        T.eq(api_state(r2["id"]), "customer_notified", "r2 still undecided")

    with T.section("sign-out makes the cookie useless"):
        c = session_cookie()["value"]
        el("#signout").click()
        T.check(wait_for(lambda: el("#signin"), "signed out: the sign-in form"), "signed out")
        T.status(cookie_call(gw, "GET", "/v1/requests/" + r2["id"], c), 401, "unauthenticated",
                 "the old cookie after sign-out")

    with T.section("deny with a reason (lockbox approver)"):
        if sign_in("lbappA"):
            open_console("#/requests/" + r2["id"])
            wait_for(lambda: el("#act-deny"), "deny offered to the lockbox approver")
            el("#act-deny").click()
            T.check(wait_for(lambda: "Give a reason" in text("#decision-error"),
                             "deny without a reason: asked for one"), "a reason is required")
            el("#decide textarea[name=reason]").send_keys("not now")
            el("#act-deny").click()
            wait_for(lambda: el("#decide input[name=totp]") and
                     el("#decide input[name=totp]").is_displayed(), "the TOTP field appears")
            el("#decide input[name=totp]").send_keys(w.totp("lbappA"))
            el("#act-deny").click()
            T.check(wait_for(lambda: "denied" in text("main .badge"), "denied in the page"), "denied")
            T.eq(api_state(r2["id"]), "denied", "the API shows it denied")

    with T.section("engineer: my requests, a new request from a ticket, cancel, revoke"):
        if sign_in("eng"):
            T.check(wait_for(lambda: "#/my" in driver.current_url and el("table"),
                             "an engineer starts at my requests"), "my requests shown")
            T.check(not el('a[href="#/approvals"]') and not el('a[href="#/audit"]'),
                    "no approver or admin pages for an engineer")
            body = text("main")
            T.check("Approved: log in" in body and "Denied" in body, "each with what to do next")
            shot("05-my-requests")
            el('a[href="#/new-request"]').click()
            wait_for(lambda: el("#new-request"), "the new-request form")
            Select(el("#new-request select[name=ticket]")).select_by_value(w.ticket["A"])
            el("#new-request input[name=subscription]").clear()
            el("#new-request input[name=subscription]").send_keys(w.sub["A1"])
            el("#new-request input[name=hosts]").send_keys("hA1")
            el("#new-request textarea[name=justification]").send_keys("disk full on hA1")
            shot("06-new-request")
            el("#new-request button[type=submit]").click()
            T.check(wait_for(lambda: "#/requests/req_" in driver.current_url and el("#justification"),
                             "the new request's page"), "request created")
            r3 = driver.current_url.rsplit("/", 1)[1]
            T.eq(api_state(r3), "customer_notified", "the API has it, waiting for the customer")
            T.check(not el("#act-approve") and el("#act-cancel"),
                    "own request: cancel offered, approve not")
            open_console("#/my")
            wait_for(lambda: el('button[data-cancel="%s"]' % r3), "cancel in the list")
            el('button[data-cancel="%s"]' % r3).click()
            T.check(wait_for(lambda: api_state(r3) == "canceled", "canceled at the API"), "canceled")
            open_console("#/requests/" + r1["id"])
            wait_for(lambda: el("#act-revoke"), "the engineer may revoke the approved request")
            el("#decide textarea[name=reason]").send_keys("work done")
            el("#act-revoke").click()
            wait_for(lambda: el("#decide input[name=totp]") and
                     el("#decide input[name=totp]").is_displayed(), "the TOTP field appears")
            el("#decide input[name=totp]").send_keys(w.totp("eng"))
            el("#act-revoke").click()
            T.check(wait_for(lambda: "revoked" in text("main .badge"), "revoked in the page"),
                    "revoked")
            T.eq(api_state(r1["id"]), "revoked", "the API shows it revoked")
            open_console("#/elevations")
            T.check(wait_for(lambda: "elevated until" in text("#elevation-summary"),
                             "elevations: running"), "the engineer's elevation is shown")
            shot("07-elevations")

    with T.section("internal approver: internal review"):
        if sign_in("iapp"):
            T.check(wait_for(lambda: r4["id"] in text("main") and el("#count-pending"),
                             "the request in internal review is listed"), "iapp's pending list")
            T.check(r1["id"] not in text("main"), "not the requests waiting for the customer")
            open_console("#/requests/" + r4["id"])
            wait_for(lambda: el("#act-internal-approve"), "approve internally offered")
            T.check(not el("#act-approve"), "no customer approval for a provider user")
            el("#act-internal-approve").click()
            T.check(wait_for(lambda: api_state(r4["id"]) == "customer_notified",
                             "internally approved at the API"), "passed to the customer")

    with T.section("admin: sessions per host, audit log with filters and paging, chain"):
        host_event("hA1", "session.start", sids[0], r1["id"])
        host_event("hA1", "session.end", sids[0], r1["id"])
        host_event("hA1", "session.start", sids[1], r1["id"])
        host_event("hA1", "session.terminate", sids[1], r1["id"], {"reason": "revoked"})
        host_event("hA1", "session.end", sids[1], r1["id"], {"reason": "terminated",
                                                            "terminated": "revoked"})
        host_event("hA2", "session.start", sids[2], None)
        if sign_in("admin"):
            open_console("#/sessions")
            T.check(wait_for(lambda: el('section[data-host="hA1"]') and el('section[data-host="hA2"]'),
                             "a section per host"), "sessions per host")
            a1 = text('section[data-host="hA1"]')
            T.check("2 past" in a1 and "logged out" in a1 and "ended by lockbox: revoked" in a1 and
                    r1["id"] in a1, "hA1: two past sessions, how each ended, the request", a1)
            T.check("1 live" in text('section[data-host="hA2"]'), "hA2: one live session")
            shot("08-sessions")
            open_console("#/audit")
            wait_for(lambda: el("#audit-pager"), "the audit log")
            T.check(el("#next-page"), "more than a page of events: next page offered")
            el("#next-page").click()
            T.check(wait_for(lambda: "cursor=" in driver.current_url and el("#audit-pager"),
                             "the next page"), "paging")
            Select(el("#audit-filter select[name=type]")).select_by_value("lockbox.request.approve")
            el("#audit-filter input[name=request]").send_keys(r1["id"])
            el("#audit-filter button[type=submit]").click()
            T.check(wait_for(lambda: "type=lockbox.request.approve" in driver.current_url and
                             "request=" in driver.current_url and el("#audit-pager"),
                             "filters in the URL"), "filtered")
            rows = driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")
            T.check(len(rows) == 1 and "lockbox.request.approve" in rows[0].text and
                    "looks right" in rows[0].text, "one approve event of r1, with the reason",
                    [x.text for x in rows])
            driver.refresh()
            T.check(wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")) == 1,
                             "the filtered view survives a reload"), "bookmarkable filters")
            T.eq(Select(el("#audit-filter select[name=type]")).first_selected_option.get_attribute("value"),
                 "lockbox.request.approve", "the form shows the filter")
            T.eq(text("#chain-health"), "ok", "chain status from the gateway")
            el("#verify").click()
            T.check(wait_for(lambda: "verified" in text("#chain-verify"), "chain verified"),
                    "GET /v1/audit/verify: verified")
            shot("09-audit")
            open_console("#/directory")
            T.check(wait_for(lambda: "tenant-A" in text("main") and "ownA1".lower() in text("main"),
                             "tenants and users"), "provider admin: tenants and users")
            T.check(not el("#lockbox-toggle"), "no lockbox switch for the provider")

    with T.section("global admin: the tenant's lockbox switch and users"):
        if sign_in("gadmA"):
            open_console("#/directory")
            wait_for(lambda: el("#lockbox-toggle"), "the lockbox switch")
            T.check("ON" in text("#lockbox-state"), "lockbox is on")
            shot("10-directory")
            el("#lockbox-toggle").click()
            T.check(wait_for(lambda: "OFF" in text("#lockbox-state"), "switched off in the page"),
                    "switched off")
            t = [x for x in w.must("GET", "/v1/tenants")["items"] if x["id"] == w.tenant["A"]][0]
            T.eq(t["lockbox_enabled"], False, "the API shows lockbox off")
            el("#lockbox-toggle").click()
            wait_for(lambda: "ON" in text("#lockbox-state"), "switched on again")
            T.check("lbappa" in text("main") and "custb" not in text("main"),
                    "the tenant's users, not another tenant's")

    with T.section("another tenant sees nothing of this one"):
        if sign_in("gadmB"):
            wait_for(lambda: el("#count-pending"), "gadmB: the pending list")
            T.check(text("#count-pending").startswith("0") and r1["id"] not in text("main"),
                    "no request of tenant A pending for B's admin")
            open_console("#/requests/" + r1["id"])
            T.check(wait_for(lambda: "not_found" in text("main"), "A's request: not found"),
                    "B's admin cannot open A's request")
        if sign_in("custB"):
            T.check(wait_for(lambda: "Nothing to do here" in text("main"), "a customer user's empty state"),
                    "a customer user has no views")
            open_console("#/audit")
            T.check(wait_for(lambda: "forbidden" in text("main"), "the audit log refused"),
                    "custB: the API refuses the audit log")

    with T.section("a mail link opens the request after sign-in"):
        driver.delete_all_cookies()
        driver.get(gw.url + "/console/requests/" + r2["id"])
        wait_for(lambda: el("#signin"), "the sign-in form first")
        T.check(("#/requests/" + r2["id"]) in driver.current_url, "the link became the fragment route")
        el("#signin input[name=token]").send_keys(w.tok["gadmA"])
        el("#signin button[type=submit]").click()
        T.check(wait_for(lambda: el("#justification") and r2["id"] in text("h1"),
                         "then the request"), "mail link leads to the request")

    # ---------------------------------------------------------- approval policies
    with T.section("global admin: the approval policy, the gateway's validation shown"):
        if sign_in("gadmA"):
            open_console("#/directory")
            wait_for(lambda: el("#policy") and el("#policy-current"), "the policy editor")
            T.check(text("#policy-approvals") == "1" and "not allowed" in text("#policy-break-glass"),
                    "the default policy: 1 approval, no break-glass", text("#policy-current"))
            n = el("#policy input[name=approvals_required]")
            n.clear()
            n.send_keys("11")
            el("#policy-save").click()
            T.check(wait_for(lambda: "bad_value" in text("#policy-error") and
                             "approvals_required" in text("#policy-error"),
                             "11 approvals: the gateway's bad_value shown"), "out of range refused")
            n.clear()
            n.send_keys("2")
            el("#policy-bg").click()
            el("#policy input[name=break_glass_max]").clear()
            el("#policy input[name=break_glass_max]").send_keys("soon")
            el("#policy-save").click()
            T.check(wait_for(lambda: "bad_duration" in text("#policy-error"),
                             "a bad break_glass_max: the gateway's error"), "bad duration refused")
            pol = w.must("GET", "/v1/tenants/" + w.tenant["A"], who="gadmA")["policy"]
            T.eq(pol["approvals_required"], 1, "nothing changed by the refused saves")
            el("#policy input[name=break_glass_max]").clear()
            el("#policy input[name=break_glass_max]").send_keys("30m")
            el("#policy-save").click()
            T.check(wait_for(lambda: text("#policy-approvals") == "2" and
                             "allowed" == text("#policy-break-glass") and not text("#policy-error"),
                             "the saved policy shows"), "policy saved in the page")
            T.eq(text("#policy-break-glass-max"), "30m", "break_glass_max shown")
            pol = w.must("GET", "/v1/tenants/" + w.tenant["A"], who="gadmA")["policy"]
            T.eq((pol["approvals_required"], pol["break_glass"], pol["break_glass_max"]), (2, True, "30m"),
                 "the API shows the policy")
            driver.refresh()
            T.check(wait_for(lambda: text("#policy-approvals") == "2", "after a reload: the stored policy"),
                    "policy survives a reload")
            shot("11-policy")

    r6 = None
    with T.section("engineer without elevation: warnings shown, break-glass refused with the message"):
        if sign_in("eng2"):
            open_console("#/new-request")
            wait_for(lambda: el("#new-request"), "the new-request form")
            Select(el("#new-request select[name=ticket]")).select_by_value(w.ticket["A"])
            el("#new-request input[name=subscription]").clear()
            el("#new-request input[name=subscription]").send_keys(w.sub["A1"])
            el("#new-request input[name=hosts]").send_keys("hA1")
            el("#new-request textarea[name=justification]").send_keys("outage")
            T.check(not el("#break-glass-warning").is_displayed(), "no break-glass warning before the box")
            el("#break-glass").click()
            T.check(el("#break-glass-warning").is_displayed() and
                    "without the customer's approval" in text("#break-glass-warning"),
                    "checking break-glass shows its warning")
            shot("12-break-glass-form")
            el("#send-request").click()
            T.check(wait_for(lambda: "mfa_required" in text("#new-request-error") and
                             "TOTP" in text("#new-request-error"),
                             "no TOTP-backed elevation: the gateway's message"), "break-glass refused")
            el("#break-glass").click()
            el("#send-request").click()
            T.check(wait_for(lambda: "no_elevation" in text("#request-warnings"),
                             "the no_elevation warning shown"), "warnings shown prominently")
            T.eq(el("#request-warnings").get_attribute("role"), "alert", "announced as an alert")
            r6 = el("#open-request").get_attribute("href").rsplit("/", 1)[1]
            T.eq(api_state(r6, who="eng2"), "customer_notified", "the request exists, waiting")

    r5 = w.new_request(sub="A1")
    with T.section("N-of-M: 1 of 2 after the first approval, approved after the second"):
        if sign_in("ownA1"):
            open_console("#/requests/" + r5["id"])
            wait_for(lambda: el("#act-approve"), "approve offered")
            el("#decide textarea[name=reason]").send_keys("first of two")
            el("#act-approve").click()
            wait_for(lambda: el("#decide input[name=totp]") and
                     el("#decide input[name=totp]").is_displayed(), "the TOTP field appears")
            el("#decide input[name=totp]").send_keys(w.totp("ownA1"))
            el("#act-approve").click()
            T.check(wait_for(lambda: text("#approval-count") == "1 of 2 approvals",
                             "the page shows 1 of 2"), "1 of 2 approvals")
            T.check("owna1" in text("#approvals-list") and "first of two" in text("#approvals-list"),
                    "the approval: who and why", text("#approvals-list"))
            T.check(el("#approved-by-me") and not el("#act-approve") and el("#act-deny"),
                    "approved by me: no second approve, deny still offered")
            req = w.must("GET", "/v1/requests/" + r5["id"], who="eng")
            T.eq((req["state"], len(req["approvals"] or [])), ("customer_notified", 1),
                 "the API: still waiting, one approval")
        if sign_in("gadmA"):
            open_console("#/requests/" + r5["id"])
            T.check(wait_for(lambda: text("#approval-count") == "1 of 2 approvals",
                             "a global admin reads N from the tenant"), "1 of 2 for gadmA")
            open_console("#/requests/" + str(r6))
            wait_for(lambda: el("#act-approve"), "approve offered on eng2's request")
            el("#act-approve").click()
            T.check(wait_for(lambda: "no_elevation" in text("#decision-error") and
                             "no running elevation" in text("#decision-error"),
                             "422 no_elevation: the gateway's message"), "no_elevation shown")
            T.eq(api_state(r6, who="eng2"), "customer_notified", "nothing approved")
        if sign_in("lbappA"):
            open_console("#/requests/" + r5["id"])
            wait_for(lambda: el("#act-approve"), "approve offered to the second approver")
            el("#decide textarea[name=reason]").send_keys("second")
            el("#act-approve").click()
            wait_for(lambda: el("#decide input[name=totp]") and
                     el("#decide input[name=totp]").is_displayed(), "the TOTP field appears")
            el("#decide input[name=totp]").send_keys(w.totp("lbappA"))
            el("#act-approve").click()
            T.check(wait_for(lambda: "approved" in text("main .badge") and
                             len(driver.find_elements(By.CSS_SELECTOR, "#approvals-list li")) == 2,
                             "approved, with both approvals"), "approved after the second")
            req = w.must("GET", "/v1/requests/" + r5["id"], who="eng")
            T.eq((req["state"], req["approved_by"]), ("approved", w.user["lbappA"]),
                 "the API: approved by the second approver")
            shot("13-two-approvals")

    rb = w.must("POST", "/v1/requests", dict(w.request_body(sub="A1"), duration="30m",
                                             justification="prod down", break_glass=True), who="eng")
    with T.section("break-glass: the badge, and a rejecting review revokes it (reason as text)"):
        T.eq((rb["state"], rb["review"]), ("approved", "pending"), "break-glass: approved at once")
        if el("#signout"):  # lbappA, signed in above
            open_console("#/approvals")
            T.check(wait_for(lambda: el('#break-glass-review [data-break-glass="%s"]' % rb["id"]),
                             "the review list names it"), "listed for review")
            T.check("BREAK-GLASS" in text('[data-break-glass="%s"]' % rb["id"]),
                    "with the BREAK-GLASS badge")
            shot("14-break-glass-list")
            el('#break-glass-review a[href="#/requests/%s"]' % rb["id"]).click()
            wait_for(lambda: el("#review"), "the review form")
            T.check("BREAK-GLASS" in text("main p .break-glass") and el("#break-glass-notice"),
                    "the request page: badge and notice")
            T.eq(text("#review-state"), "pending", "review pending")
            el("#review-reject").click()
            T.check(wait_for(lambda: "Give a reason" in text("#review-error"), "reject asks for a reason"),
                    "a reason is required to reject")
            el("#review textarea[name=reason]").send_keys(XSS)
            el("#review-reject").click()
            T.check(wait_for(lambda: text("#review-state") == "rejected" and "revoked" in text("main .badge"),
                             "rejected and revoked in the page"), "rejected in the page")
            T.eq(el("#review-reason").text, XSS, "the review reason is shown exactly, as text")
            T.eq(len(driver.find_elements(By.CSS_SELECTOR, "#review-reason *")), 0, "no element made from it")
            T.eq(driver.execute_script("return window.__xss === undefined"), True, "no script ran")
            T.check(not el("#review"), "reviewed: no second review")
            shot("15-break-glass-rejected")
        req = w.must("GET", "/v1/requests/" + rb["id"], who="eng")
        T.eq((req["state"], req["review"], req["review_reason"]), ("revoked", "rejected", XSS),
             "the API shows it revoked, review rejected")
        if sign_in("eng"):
            T.check(wait_for(lambda: el('[data-break-glass="%s"]' % rb["id"]),
                             "the engineer's list marks it"), "BREAK-GLASS in my requests")

    with T.section("a plain-HTTP gateway on 127.0.0.1: the Secure cookie is kept"):
        with lbtest.Gateway(conf_extra="console_dir = %s" % CONSOLE_DIR) as plain:
            plain.start()
            tok = plain.bootstrap()
            if sign_in("admin", base=plain.url, token=tok):
                c = session_cookie()
                T.check(c and c.get("secure"), "signed in over http://127.0.0.1, Secure cookie", c)
                open_console("#/audit", plain.url)
                T.check(wait_for(lambda: el("#audit-pager"), "the audit log over http"),
                        "the session works over http://127.0.0.1")
            driver.delete_all_cookies()

    with T.section("the browser's log: no errors from the console"):
        collect_log()
        bad = []
        for e in browser_log:
            msg = e.get("message", "")
            if e.get("level") not in ("SEVERE", "ERROR"):
                continue
            # a refused API call (the bad token, expected 400/401/403/404/409/422) is logged by the
            # browser itself as a network error; anything else is the console's fault
            if e.get("source") == "network" and re.search(r"/v1/[a-z/_0-9-]+.* (400|401|403|404|409|422) ", msg):
                continue
            bad.append(msg)
        T.check(not bad, "no JavaScript, CSP or other errors in the browser log (%d entries read)"
                % len(browser_log), "\n".join(bad[:10]))
finally:
    collect_log()
    try:
        driver.quit()
    except Exception:  # noqa: BLE001
        pass

T.note("screenshots: " + SHOTS)
T.done()
