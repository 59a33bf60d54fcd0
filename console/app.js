// lockbox console: start-up, sign-in and sign-out, the navigation and the client-side router.
// Routes live in the URL's fragment (#/requests/ID), so every view is a link that survives
// a reload; the gateway answers /console/requests/ID (the links in its mails) with this page
// too, and the route moves into the fragment here.
import { api, setCsrf, signedOut, ApiError } from "./api.js";
import { h, clear, status, errorBox, labelled } from "./ui.js";
import { me, setMe, has, isApprover, isAuditReader } from "./session.js";
import * as approver from "./approver.js";
import * as admin from "./admin.js";
import * as engineer from "./engineer.js";

const main = () => document.getElementById("main-content");

const routes = [
  { path: "approvals", title: "Approvals", view: approver.pending, nav: () => isApprover() },
  { path: "requests/:id", title: "Request", view: approver.detail },
  { path: "my", title: "My requests", view: engineer.myRequests, nav: () => has("engineer") },
  { path: "new-request", title: "New request", view: engineer.newRequest },
  { path: "elevations", title: "Elevations", view: engineer.elevations, nav: () => has("engineer") },
  { path: "sessions", title: "Sessions", view: admin.sessions, nav: () => isAuditReader() },
  { path: "audit", title: "Audit log", view: admin.audit, nav: () => isAuditReader() },
  { path: "directory", title: "Directory", view: admin.directory,
    nav: () => has("global_admin") || has("provider_admin") },
];

// The route of the fragment: {route, params, query}.
function parse() {
  const frag = location.hash.replace(/^#\/?/, "");
  const [path, qs] = frag.split("?");
  const parts = path.split("/").filter(Boolean);
  for (const r of routes) {
    const want = r.path.split("/");
    if (want.length !== parts.length) continue;
    const params = {};
    let ok = true;
    want.forEach((w, i) => {
      if (w.startsWith(":")) params[w.slice(1)] = decodeURIComponent(parts[i]);
      else if (w !== parts[i]) ok = false;
    });
    if (ok) return { route: r, params, query: new URLSearchParams(qs || "") };
  }
  return { route: null, params: {}, query: new URLSearchParams(qs || "") };
}

function home() {
  if (isApprover()) return "#/approvals";
  if (has("engineer")) return "#/my";
  if (isAuditReader()) return "#/audit";
  if (has("provider_admin")) return "#/directory";
  return "#/nothing";
}

function drawNav(current) {
  const nav = clear(document.getElementById("nav"));
  const who = clear(document.getElementById("who"));
  if (!me()) return;
  const items = routes.filter((r) => r.nav && r.nav());
  nav.appendChild(h("ul", {}, items.map((r) => h("li", {},
    h("a", { href: "#/" + r.path, "aria-current": current === r ? "page" : null }, r.title)))));
  who.appendChild(document.createTextNode((me().user.name || me().user.login) + " (" + me().user.login + ") "));
  who.appendChild(h("button", { type: "button", id: "signout", onclick: signOut }, "Sign out"));
}

let pendingRoute = null;

async function route() {
  const m = main();
  if (!me()) {
    if (!/^#\/signin/.test(location.hash)) pendingRoute = location.hash;
    return signInView();
  }
  if (!location.hash || location.hash === "#" || location.hash === "#/" || /^#\/signin/.test(location.hash)) {
    location.replace(home());
    return;
  }
  const { route: r, params, query } = parse();
  drawNav(r);
  clear(m);
  if (!r) {
    if (location.hash === "#/nothing") {
      document.title = "lockbox console";
      m.appendChild(h("h1", { tabindex: "-1" }, "Nothing to do here"));
      m.appendChild(h("p", { class: "empty" }, "Your roles give you no view in the console: it is for approvers, " +
        "admins and engineers. Customer users open tickets with lockboxctl ticket create."));
      return;
    }
    m.appendChild(h("h1", { tabindex: "-1" }, "Not found"));
    m.appendChild(h("p", {}, "No page ", location.hash, " here. ", h("a", { href: home() }, "Go to the start page.")));
    return;
  }
  document.title = r.title + " — lockbox console";
  const container = h("div", { class: "view", "aria-busy": "true" });
  m.appendChild(container);
  try {
    await r.view(container, params, query);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) container.appendChild(errorBox(e));
  }
  container.removeAttribute("aria-busy");
  const h1 = container.querySelector("h1");
  if (h1) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  }
}

function signInView(message) {
  const m = clear(main());
  drawNav(null);
  document.title = "Sign in — lockbox console";
  const token = h("input", { type: "password", name: "token", autocomplete: "off", required: true, spellcheck: "false" });
  const totp = h("input", { type: "text", name: "totp", inputmode: "numeric", pattern: "[0-9]{6}", maxlength: "6",
    autocomplete: "one-time-code" });
  const err = h("div", { id: "signin-error" });
  const form = h("form", { id: "signin", novalidate: true },
    labelled("User token", token, "Your lbu_… token, as lockboxctl uses it."),
    labelled("TOTP code", totp, "Six digits from your authenticator app, if you enrolled TOTP."),
    h("button", { type: "submit" }, "Sign in"), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(err);
    const body = { token: token.value.trim() };
    if (totp.value.trim()) body.totp = totp.value.trim();
    try {
      const ans = await api("POST", "/v1/sessions", body);
      token.value = "";
      setCsrf(ans.csrf_token);
      setMe({ user: ans.user, roles: ans.roles, tenant: null, session: ans.session });
      await loadMe();
      status("Signed in as " + ans.user.login + ".");
      const next = pendingRoute && !/^#\/signin/.test(pendingRoute) ? pendingRoute : home();
      pendingRoute = null;
      if (location.hash === next) route();
      else location.hash = next;
    } catch (e) {
      if (e.code === "mfa_required") {
        err.appendChild(h("p", { class: "error", role: "alert" }, "This account has TOTP: enter the current code too."));
        totp.focus();
      } else {
        err.appendChild(errorBox(e));
        token.focus();
      }
    }
  });
  m.appendChild(h("h1", { tabindex: "-1" }, "Sign in"));
  if (message) m.appendChild(h("p", { class: "notice" }, message));
  m.appendChild(form);
  m.appendChild(h("p", { class: "hint" }, "A provider admin or your tenant's global admin issues tokens " +
    "(lockboxctl user token). The session ends after a while without use, and in any case after some hours."));
  token.focus();
}

async function loadMe() {
  const ans = await api("GET", "/v1/sessions/current");
  setCsrf(ans.csrf_token);
  setMe(ans);
}

async function signOut() {
  try {
    await api("DELETE", "/v1/sessions/current");
  } catch (e) {
    // an ended session is signed out already
  }
  setCsrf(null);
  setMe(null);
  pendingRoute = null;
  status("Signed out.");
  location.hash = "#/signin";
  signInView();
}

signedOut.addEventListener("out", () => {
  if (!me()) return;
  setMe(null);
  setCsrf(null);
  pendingRoute = location.hash;
  signInView("Your session has ended (signed out, unused for too long, or too old). Sign in again.");
});

async function start() {
  // the links in mails name /console/requests/ID: the same view, as a fragment route
  const deep = location.pathname.match(/^\/console\/(requests\/[A-Za-z0-9_]+)\/?$/);
  if (deep) {
    location.replace("/console/#/" + deep[1]);
    return;
  }
  document.getElementById("skip").addEventListener("click", (ev) => {
    ev.preventDefault();
    main().focus();
  });
  try {
    await loadMe();
  } catch (e) {
    setMe(null);
  }
  window.addEventListener("hashchange", route);
  route();
}

start();
