// lockbox console: what engineers see: their requests with what to do next, a new request
// from a ticket, and their elevations.
import { api, listAll } from "./api.js";
import { h, clear, time, errorBox, status, stateBadge, paged, labelled, requestLink, requestCell, warningsBox } from "./ui.js";

// What happens next with REQ, worded for its engineer (MINE) or for anyone else.
export function nextStep(req, mine) {
  switch (req.state) {
    case "internal_review":
      return mine ? "Waiting for an internal approver (your support lead) before the customer sees it."
        : "Waiting for an internal approver before the customer sees it.";
    case "customer_notified":
      return mine ? "Waiting for the customer's approvers. Make sure your elevation runs before they approve: one activated after the approval does not count."
        : "Waiting for a decision of the customer's approvers.";
    case "approved":
      if (req.break_glass === true) {
        return (mine ? "Break-glass access, approved at once: log in (" + req.access + ") to " + (req.hosts || []).join(", ") +
          " until " + new Date(req.grant_expires_at).toLocaleString() + ", while your elevation runs. "
          : "Break-glass access, approved at once: the engineer may log in until " +
            new Date(req.grant_expires_at).toLocaleString() + ". ") +
          (req.review === "pending" ? "The customer's approvers review it; a rejection revokes it."
            : "Review: " + (req.review || "") + ".");
      }
      return mine ? "Approved: log in (" + req.access + ") to " + (req.hosts || []).join(", ") + " until " +
        new Date(req.grant_expires_at).toLocaleString() + ", while your elevation runs."
        : "Approved: the engineer may log in until " + new Date(req.grant_expires_at).toLocaleString() + ".";
    case "denied": return "Denied. Open a new request if access is still needed.";
    case "expired": return "Nobody decided in time. Open a new request if access is still needed.";
    case "revoked": return "Revoked: the grant ended early and its sessions were ended.";
    case "canceled": return "Canceled by its engineer.";
    case "completed": return "The grant window is over.";
    default: return "";
  }
}

export async function myRequests(box) {
  box.appendChild(h("h1", {}, "My requests"));
  box.appendChild(h("p", {}, h("a", { href: "#/new-request", class: "button" }, "New request"), " ",
    h("a", { href: "#/elevations", class: "button" }, "Elevate")));
  const { items } = await listAll("/v1/requests", { mine: "true" });
  items.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  const rows = items.map((r) => {
    const cancel = (r.state === "internal_review" || r.state === "customer_notified")
      ? h("button", { type: "button", class: "danger", "data-cancel": r.id, onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await api("POST", "/v1/requests/" + encodeURIComponent(r.id) + "/cancel", {});
          status("Request " + r.id + " canceled.");
          clear(box);
          await myRequests(box);
        } catch (e) {
          ev.target.disabled = false;
          box.appendChild(errorBox(e));
        }
      } }, "Cancel") : "";
    return [requestCell(r), r.ticket, (r.hosts || []).join(", "), r.access, stateBadge(r.state),
      h("span", { class: "next" }, nextStep(r, true)), time(r.created_at), cancel];
  });
  box.appendChild(paged("My requests, newest first",
    ["Request", "Ticket", "Hosts", "Access", "State", "What next", "Created", ""], rows,
    "You have no requests. Open one from a customer's ticket with New request."));
}

export async function newRequest(box, params, q) {
  box.appendChild(h("h1", {}, "New request"));
  const { items: tickets } = await listAll("/v1/tickets", { state: "open" }, 2);
  if (!tickets.length) {
    box.appendChild(h("p", { class: "empty" }, "No open ticket: a request needs a customer's open ticket."));
    return;
  }
  const ticket = h("select", { name: "ticket", required: true },
    tickets.map((t) => h("option", { value: t.id, selected: t.id === q.get("ticket") },
      t.id + " — " + t.title)));
  const scope = h("select", { name: "scope" }, h("option", { value: "subscription" }, "subscription"),
    h("option", { value: "tenant" }, "tenant (every subscription; goes to internal review)"));
  const sub = h("input", { type: "text", name: "subscription", spellcheck: "false" });
  const hosts = h("input", { type: "text", name: "hosts", required: true, spellcheck: "false" });
  const access = h("select", { name: "access" }, h("option", { value: "ssh" }, "ssh"), h("option", { value: "rdp" }, "rdp"));
  const duration = h("input", { type: "text", name: "duration", value: "1h" });
  const why = h("textarea", { name: "justification", rows: "3", required: true, maxlength: "1000" });
  const bg = h("input", { type: "checkbox", name: "break_glass", id: "break-glass" });
  const bgWarning = h("div", { class: "notice break-glass-notice", id: "break-glass-warning", role: "alert" },
    h("strong", {}, "BREAK-GLASS: "),
    "access opens at once, without the customer's approval. Use it only for an emergency that cannot wait: " +
    "every designated approver of the customer and every provider admin is notified at once, the customer " +
    "reviews it afterwards and a rejection revokes it (and ends its sessions). The tenant's policy must allow " +
    "break-glass, you need a running elevation activated with a TOTP code, and the duration is at most the " +
    "policy's break_glass_max (1h unless the tenant set another).");
  bgWarning.hidden = true;
  const submit = h("button", { type: "submit", class: "primary", id: "send-request" }, "Send request");
  const err = h("div", { id: "new-request-error" });
  bg.addEventListener("change", () => {
    bgWarning.hidden = !bg.checked;
    submit.className = bg.checked ? "danger" : "primary";
    submit.textContent = bg.checked ? "Open break-glass access" : "Send request";
  });
  const syncSub = () => {
    const t = tickets.find((x) => x.id === ticket.value);
    if (t && t.subscription) sub.value = t.subscription;
  };
  ticket.addEventListener("change", syncSub);
  syncSub();
  const form = h("form", { id: "new-request", novalidate: true },
    labelled("Ticket", ticket),
    labelled("Scope", scope),
    labelled("Subscription", sub, "The subscription id (for subscription scope)."),
    labelled("Hosts", hosts, "Host names, separated by commas, or * for every host in scope."),
    labelled("Access", access),
    labelled("Duration", duration, "e.g. 30m, 2h (at most the gateway's max_grant)."),
    labelled("Justification", why),
    h("div", { class: "field checkbox" }, h("label", { for: "break-glass" }, bg, " Break-glass (emergency access, approved at once)"),
      h("span", { class: "hint" }, "Only when the tenant's policy allows it; read the warning before you send.")),
    bgWarning,
    submit, err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(err);
    const body = {
      ticket: ticket.value, scope: scope.value, access: access.value, duration: duration.value.trim(),
      justification: why.value.trim(),
      hosts: hosts.value.split(",").map((s) => s.trim()).filter(Boolean),
    };
    if (scope.value === "subscription") body.subscription = sub.value.trim();
    if (bg.checked) body.break_glass = true;
    try {
      const req = await api("POST", "/v1/requests", body);
      status("Request " + req.id + " sent: " + req.state + (req.break_glass ? " (break-glass)" : "") + ".");
      if (Array.isArray(req.warnings) && req.warnings.length) {
        // the gateway warns (no_elevation: an approval could not be used): say so before anything else
        clear(box);
        box.appendChild(h("h1", { tabindex: "-1" }, "Request ", req.id, " sent"));
        box.appendChild(h("p", {}, stateBadge(req.state), " ", nextStep(req, true)));
        box.appendChild(warningsBox(req.warnings, "request-warnings"));
        box.appendChild(h("p", {}, h("a", { href: "#/elevations", class: "button primary" }, "Elevate now"), " ",
          h("a", { href: "#/requests/" + encodeURIComponent(req.id), class: "button", id: "open-request" }, "Open request " + req.id)));
        box.querySelector("h1").focus();
        return;
      }
      location.hash = "#/requests/" + encodeURIComponent(req.id);
    } catch (e) {
      err.appendChild(errorBox(e));
    }
  });
  box.appendChild(form);
}

export async function elevations(box) {
  box.appendChild(h("h1", {}, "Elevations"));
  const { items } = await listAll("/v1/elevations", {}, 2);
  const now = Date.now();
  const running = items.filter((e) => new Date(e.expires_at).getTime() > now);
  box.appendChild(h("p", { id: "elevation-summary" }, running.length
    ? "You are elevated until " + new Date(running[running.length - 1].expires_at).toLocaleString() + "."
    : "You are not elevated. Elevate before a request of yours is approved: only an elevation that started before the approval counts."));
  const duration = h("input", { type: "text", name: "duration", value: "1h" });
  const why = h("textarea", { name: "justification", rows: "2", required: true, maxlength: "1000" });
  const totp = h("input", { type: "text", name: "totp", inputmode: "numeric", maxlength: "6", autocomplete: "one-time-code" });
  const err = h("div", {});
  const form = h("form", { id: "elevate", novalidate: true },
    h("h2", {}, "Elevate"),
    labelled("Duration", duration, "e.g. 1h (at most the gateway's max_elevation)."),
    labelled("Justification", why),
    labelled("TOTP code", totp, "Needed when the gateway requires MFA; with it the elevation is MFA-backed."),
    h("button", { type: "submit", class: "primary" }, "Elevate"), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(err);
    const body = { duration: duration.value.trim(), justification: why.value.trim() };
    if (totp.value.trim()) body.totp = totp.value.trim();
    try {
      const e = await api("POST", "/v1/elevations", body);
      status("Elevated until " + new Date(e.expires_at).toLocaleString() + ".");
      clear(box);
      await elevations(box);
    } catch (e) {
      err.appendChild(errorBox(e));
      if (e.code === "mfa_required") totp.focus();
    }
  });
  box.appendChild(form);
  items.sort((a, b) => (a.activated_at < b.activated_at ? 1 : -1));
  box.appendChild(paged("My elevations, newest first", ["Activated", "Until", "Duration", "TOTP", "Justification", ""],
    items.map((e) => [time(e.activated_at), time(e.expires_at), e.duration, e.mfa ? "yes" : "no",
      h("span", { class: "pre" }, e.justification),
      new Date(e.expires_at).getTime() > now ? h("strong", {}, "running") : "ended"]),
    "No elevations yet."));
}
