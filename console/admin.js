// lockbox console: what admins see: the sessions on each host and how each ended, the audit
// log with every filter of GET /v1/audit/events and the chain's status, the tenant's lockbox
// switch and directory.
import { api, query, listAll, ApiError } from "./api.js";
import { h, clear, time, errorBox, status, paged, labelled, requestLink, humanDuration, table } from "./ui.js";
import { me, has } from "./session.js";

const EVENT_TYPES = [
  "lockbox.request.create", "lockbox.request.internal_approve", "lockbox.request.approve",
  "lockbox.request.deny", "lockbox.request.expire", "lockbox.request.revoke", "lockbox.request.cancel",
  "lockbox.request.complete", "lockbox.request.break_glass", "lockbox.request.review", "pim.elevation.activate", "pim.elevation.expire",
  "access.check.allow", "access.check.deny", "session.start", "session.end", "session.warn",
  "session.terminate", "session.lost", "tenant.lockbox.enable", "tenant.lockbox.disable",
  "tenant.policy.update", "host.enroll", "host.disable", "host.enable", "directory.tenant.create", "directory.subscription.create",
  "directory.invitation.create", "directory.invitation.redeem", "directory.user.create",
  "directory.user.disable", "directory.user.enable", "directory.role.assign", "directory.role.unassign",
  "directory.token.create", "directory.token.revoke", "directory.totp.enroll",
  "directory.session.create", "directory.session.revoke",
];

function sessionKey(e) {
  return (e.details && e.details.session) || e.id;
}

// How a session ended, from the events after its start.
function howEnded(s) {
  if (s.end) {
    const d = s.end.details || {};
    if (d.terminated || s.terminate) return "ended by lockbox: " + (d.terminated || (s.terminate.details || {}).reason || "");
    return d.reason ? "ended (" + d.reason + ")" : "logged out";
  }
  if (s.lost) return "lost: the host never confirmed an end (" + ((s.lost.details || {}).reason || "") + ")";
  if (s.terminate) return "being ended: " + ((s.terminate.details || {}).reason || "");
  return "live";
}

export async function sessions(box, params, q) {
  box.appendChild(h("h1", {}, "Sessions"));
  const host = q.get("host") || "";
  const hostIn = h("input", { type: "text", name: "host", value: host, spellcheck: "false" });
  const form = h("form", { id: "sessions-filter", class: "inline" }, labelled("Host", hostIn, "A host name; empty for every host."),
    h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = "#/sessions" + query({ host: hostIn.value.trim() });
  });
  box.appendChild(form);
  const byType = async (type) => (await listAll("/v1/audit/events", { type, host }, 5)).items;
  const [starts, ends, terms, losts] = await Promise.all(
    ["session.start", "session.end", "session.terminate", "session.lost"].map(byType));
  const sess = new Map();
  for (const e of starts) sess.set(sessionKey(e), { start: e });
  for (const [list, key] of [[ends, "end"], [terms, "terminate"], [losts, "lost"]]) {
    for (const e of list) {
      const s = sess.get(sessionKey(e));
      if (s && !s[key]) s[key] = e;
    }
  }
  const hosts = new Map();
  for (const s of sess.values()) {
    const name = s.start.host || "?";
    if (!hosts.has(name)) hosts.set(name, []);
    hosts.get(name).push(s);
  }
  if (!hosts.size) {
    box.appendChild(h("p", { class: "empty" }, "No sessions recorded" + (host ? " on " + host : "") +
      ". Hosts report each gated login here once it starts."));
    return;
  }
  const now = Date.now();
  for (const [name, list] of [...hosts.entries()].sort()) {
    list.sort((a, b) => (a.start.time < b.start.time ? 1 : -1));
    const live = list.filter((s) => !s.end && !s.lost).length;
    const section = h("section", { class: "host", "data-host": name },
      h("h2", {}, name, " ", h("span", { class: "muted" }, live + " live, " + (list.length - live) + " past")));
    const rows = list.map((s) => {
      const endEv = s.end || s.lost;
      const endMs = endEv ? new Date(endEv.time).getTime() : now;
      const d = s.start.details || {};
      return [s.start.actor || d.user || "", d.service || d.access || "", requestLink(s.start.request),
        time(s.start.time), endEv ? time(endEv.time) : h("strong", {}, "live"),
        humanDuration(endMs - new Date(s.start.time).getTime()), howEnded(s)];
    });
    section.appendChild(paged("Sessions on " + name + ", newest first",
      ["User", "Service", "Request", "Started", "Ended", "Duration", "How it ended"], rows, "None."));
    box.appendChild(section);
  }
}

const FILTERS = ["level", "tenant", "subscription", "host", "type", "request", "since", "until"];

// datetime-local (the browser's zone) <-> RFC 3339 UTC
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const p = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes());
}

function fromLocalInput(v) {
  if (!v) return "";
  const d = new Date(v);
  return isNaN(d) ? "" : d.toISOString();
}

async function chainStatus() {
  const box = h("div", { id: "chain", class: "chain" });
  try {
    const hz = await api("GET", "/healthz");
    box.appendChild(h("p", {}, "Audit chain (as the gateway's checkpoints last saw it): ",
      h("strong", { id: "chain-health", class: hz.audit_chain === "ok" ? "good" : "warn" }, hz.audit_chain),
      hz.audit_chain_reason ? " — " + hz.audit_chain_reason : ""));
  } catch (e) {
    box.appendChild(errorBox(e));
  }
  if (!has("provider_admin")) {
    box.appendChild(h("p", { class: "hint" }, "A full verification walks the one chain of every tenant: provider admins run it."));
    return box;
  }
  const out = h("p", { id: "chain-verify" });
  const btn = h("button", { type: "button", id: "verify", onclick: async () => {
    btn.disabled = true;
    clear(out).appendChild(document.createTextNode("Verifying…"));
    try {
      const v = await api("GET", "/v1/audit/verify");
      clear(out);
      out.appendChild(h("strong", { class: v.ok ? "good" : "warn" }, v.ok ? "verified" : "BROKEN"));
      out.appendChild(document.createTextNode(v.ok ? ": " + v.count + " events, head " + v.head_seq
        : " at event " + v.broken_at + ": " + v.reason));
    } catch (e) {
      clear(out).appendChild(errorBox(e));
    }
    btn.disabled = false;
  } }, "Verify the whole chain");
  box.appendChild(h("div", {}, btn, " ", out));
  return box;
}

export async function audit(box, params, q) {
  box.appendChild(h("h1", {}, "Audit log"));
  box.appendChild(await chainStatus());
  const inputs = {};
  const level = h("select", { name: "level" }, ["", "subscription", "tenant", "provider"].map((v) =>
    h("option", { value: v, selected: q.get("level") === v }, v || "any")));
  const type = h("select", { name: "type" }, ["", ...EVENT_TYPES].map((v) =>
    h("option", { value: v, selected: q.get("type") === v }, v || "any")));
  inputs.level = level;
  inputs.type = type;
  for (const k of ["tenant", "subscription", "host", "request"]) {
    inputs[k] = h("input", { type: "text", name: k, value: q.get(k) || "", spellcheck: "false" });
  }
  inputs.since = h("input", { type: "datetime-local", name: "since", value: toLocalInput(q.get("since")) });
  inputs.until = h("input", { type: "datetime-local", name: "until", value: toLocalInput(q.get("until")) });
  const form = h("form", { id: "audit-filter", class: "filters" },
    FILTERS.map((k) => labelled(k[0].toUpperCase() + k.slice(1), inputs[k])),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Filter"),
      h("a", { href: "#/audit", class: "button" }, "Clear")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = {};
    for (const k of FILTERS) {
      const v = k === "since" || k === "until" ? fromLocalInput(inputs[k].value) : inputs[k].value.trim();
      if (v) p[k] = v;
    }
    location.hash = "#/audit" + query(p);
  });
  box.appendChild(form);
  const p = {};
  for (const k of FILTERS) if (q.get(k)) p[k] = q.get(k);
  const limit = 50;
  let page;
  try {
    page = await api("GET", "/v1/audit/events" + query({ ...p, limit, cursor: q.get("cursor") }));
  } catch (e) {
    box.appendChild(errorBox(e));
    return;
  }
  const rows = page.items.map((e) => [String(e.seq), time(e.time),
    e.type === "lockbox.request.break_glass" ? h("span", {}, e.type, " ", h("span", { class: "badge break-glass" }, "BREAK-GLASS")) : e.type,
    e.level, e.tenant || "", e.subscription || "",
    e.actor_login || e.actor || "", e.host || "", requestLink(e.request), h("code", { class: "details" }, JSON.stringify(e.details || {}))]);
  box.appendChild(table("Audit events, oldest first" + (q.get("cursor") ? " (after event " + q.get("cursor") + ")" : ""),
    ["Seq", "Time", "Type", "Level", "Tenant", "Subscription", "Actor", "Host", "Request", "Details"], rows,
    "No events match. Clear the filters, or widen since/until."));
  const pager = h("div", { class: "pager", id: "audit-pager" });
  if (q.get("cursor")) pager.appendChild(h("a", { href: "#/audit" + query(p), class: "button" }, "First page"));
  if (page.next_cursor) {
    pager.appendChild(document.createTextNode(" "));
    pager.appendChild(h("a", { href: "#/audit" + query({ ...p, cursor: page.next_cursor }), class: "button", id: "next-page" }, "Next page"));
  }
  box.appendChild(pager);
}

async function lockboxSwitch(tenant) {
  const box = h("section", { id: "lockbox-switch" }, h("h2", {}, "Lockbox for ", tenant.name));
  const state = h("p", { id: "lockbox-state" }, tenant.lockbox_enabled
    ? "Lockbox is ON: every request waits for your approvers."
    : "Lockbox is OFF: requests skip the customer's approval (each one is audited as such).");
  const err = h("div", {});
  const btn = h("button", { type: "button", id: "lockbox-toggle", class: tenant.lockbox_enabled ? "danger" : "primary",
    onclick: async () => {
      clear(err);
      try {
        const t = await api("PUT", "/v1/tenants/" + encodeURIComponent(tenant.id) + "/lockbox", { enabled: !tenant.lockbox_enabled });
        Object.assign(tenant, t);
        status("Lockbox is now " + (t.lockbox_enabled ? "on" : "off") + " for " + t.name + ".");
        box.replaceWith(await lockboxSwitch(tenant));
      } catch (e) {
        err.appendChild(errorBox(e));
      }
    } }, tenant.lockbox_enabled ? "Turn lockbox off" : "Turn lockbox on");
  box.appendChild(state);
  box.appendChild(btn);
  box.appendChild(err);
  return box;
}

function policyText(p) {
  return h("p", { id: "policy-current" },
    "Current policy: ", h("strong", { id: "policy-approvals" }, String(p.approvals_required)),
    p.approvals_required > 1 ? " approvals needed from distinct designated approvers; " : " approval needed; ",
    "break-glass ", h("strong", { id: "policy-break-glass", class: p.break_glass ? "warn" : "" }, p.break_glass ? "allowed" : "not allowed"),
    p.break_glass ? [" (grants of at most ", h("strong", { id: "policy-break-glass-max" }, p.break_glass_max), ")"] : "", ".");
}

// The tenant's approval policy (DESIGN.md "Approval policies"): its global admins set it.
async function policyEditor(tenantId) {
  const box = h("section", { id: "policy-section" }, h("h2", {}, "Approval policy"));
  let tenant;
  try {
    tenant = await api("GET", "/v1/tenants/" + encodeURIComponent(tenantId));
  } catch (e) {
    box.appendChild(errorBox(e));
    return box;
  }
  const p = tenant.policy || { approvals_required: 1, break_glass: false, break_glass_max: "1h" };
  const current = h("div", {}, policyText(p));
  const n = h("input", { type: "number", name: "approvals_required", min: "1", max: "10", step: "1",
    value: String(p.approvals_required), inputmode: "numeric" });
  const bg = h("input", { type: "checkbox", name: "break_glass", id: "policy-bg", checked: p.break_glass });
  const bgMax = h("input", { type: "text", name: "break_glass_max", value: p.break_glass_max, spellcheck: "false" });
  const err = h("div", { id: "policy-error" });
  const form = h("form", { id: "policy", novalidate: true },
    labelled("Approvals required", n, "1 to 10: how many distinct designated approvers must approve a request " +
      "before its grant opens. One deny ends it."),
    h("div", { class: "field checkbox" }, h("label", { for: "policy-bg" }, bg, " Allow break-glass requests"),
      h("span", { class: "hint" }, "Engineers with a TOTP-backed elevation may then open access at once, without an approval; " +
        "your approvers are notified at once and review it afterwards (a rejection revokes it).")),
    labelled("Break-glass at most", bgMax, "The longest break-glass grant, e.g. 30m or 1h (at most the gateway's max_grant)."),
    h("button", { type: "submit", class: "primary", id: "policy-save" }, "Save policy"), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(err);
    const body = { break_glass: bg.checked, break_glass_max: bgMax.value.trim() };
    const raw = n.value.trim();
    // the gateway validates (1..10, an integer): send what was typed as a number when it is one
    body.approvals_required = /^-?[0-9]+$/.test(raw) ? parseInt(raw, 10) : raw;
    try {
      const t = await api("PUT", "/v1/tenants/" + encodeURIComponent(tenantId) + "/policy", body);
      const np = t.policy || {};
      clear(current).appendChild(policyText(np));
      n.value = String(np.approvals_required);
      bg.checked = !!np.break_glass;
      bgMax.value = np.break_glass_max || "";
      status("Policy saved: " + np.approvals_required + " approval(s), break-glass " + (np.break_glass ? "allowed" : "not allowed") + ".");
    } catch (e) {
      err.appendChild(errorBox(e));
    }
  });
  box.appendChild(current);
  box.appendChild(form);
  return box;
}

export async function directory(box) {
  box.appendChild(h("h1", {}, "Directory"));
  const m = me();
  if (has("global_admin") && m.tenant) box.appendChild(await lockboxSwitch(m.tenant));
  if (has("global_admin") && m.tenant) box.appendChild(await policyEditor(m.tenant.id));
  if (has("provider_admin")) {
    const { items } = await listAll("/v1/tenants", {}, 2);
    box.appendChild(h("h2", {}, "Tenants"));
    box.appendChild(paged("Tenants", ["Id", "Name", "Lockbox", "Created"],
      items.map((t) => [t.id, t.name, t.lockbox_enabled ? "on" : "off", time(t.created_at)]),
      "No tenants yet: create one with lockboxctl tenant create."));
  }
  let users, roles;
  try {
    [users, roles] = await Promise.all([listAll("/v1/users", {}, 5), listAll("/v1/role-assignments", {}, 5)]);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return;
    throw e;
  }
  const byUser = new Map();
  for (const r of roles.items) {
    if (!byUser.has(r.user)) byUser.set(r.user, []);
    byUser.get(r.user).push(r.role + (r.subscription ? " (" + r.subscription + ")" : ""));
  }
  box.appendChild(h("h2", {}, "Users"));
  box.appendChild(paged("Users", ["Login", "Name", "Email", "Side", "Roles", "Status"],
    users.items.map((u) => [u.login, u.name, u.email, u.side, (byUser.get(u.id) || []).join(", "),
      u.disabled ? h("strong", { class: "warn" }, "disabled") : "enabled"]),
    "No users yet. Add them with lockboxctl user create."));
  box.appendChild(h("p", { class: "hint" }, "Users, roles and tokens are managed with lockboxctl (user create, role assign, user token)."));
}
