// lockbox console: what approvers see: the requests waiting for them, and one request with
// everything needed to decide it (ticket, engineer, elevation, hosts, approvals, audit trail).
import { api, listAll, ApiError } from "./api.js";
import { h, clear, time, age, errorBox, fields, status, stateBadge, paged, labelled, requestLink, humanDuration,
  breakGlassBadge, requestCell } from "./ui.js";
import { has, roles, isDesignatedApprover, myId } from "./session.js";
import { nextStep } from "./engineer.js";

// Requests waiting for a decision of mine (never my own).
export async function pending(box) {
  box.appendChild(h("h1", {}, "Requests waiting for you"));
  const { items, more } = await listAll("/v1/requests", { state: "pending" });
  const mine = items.filter((r) => r.requester !== myId() &&
    (isDesignatedApprover(r) || (has("internal_approver") && r.state === "internal_review")));
  const now = Date.now();
  const count = (s) => mine.filter((r) => r.state === s).length;
  const oldest = mine.reduce((o, r) => (!o || r.created_at < o ? r.created_at : o), null);
  box.appendChild(h("ul", { class: "counts", "aria-label": "Counts" },
    h("li", { id: "count-pending" }, h("strong", {}, String(mine.length)), " pending"),
    h("li", {}, h("strong", {}, String(count("customer_notified"))), " for the customer's approval"),
    h("li", {}, h("strong", {}, String(count("internal_review"))), " in internal review"),
    oldest ? h("li", {}, "oldest waits ", h("strong", {}, age(oldest, now))) : null));
  const rows = mine.sort((a, b) => (a.created_at < b.created_at ? -1 : 1)).map((r) => [
    requestCell(r), r.requester_login || r.requester, r.ticket, (r.hosts || []).join(", "), r.access,
    r.duration, stateBadge(r.state), h("span", { title: "created " + r.created_at }, age(r.created_at, now)),
    time(r.pending_expires_at)]);
  box.appendChild(paged("Pending requests, oldest first",
    ["Request", "Engineer", "Ticket", "Hosts", "Access", "Duration", "State", "Waiting", "Expires"], rows,
    "No request waits for your decision. New ones appear here, and the links in notification mails open them directly."));
  if (more) box.appendChild(h("p", { class: "hint" }, "Only the first 1000 requests were read; narrow down with lockboxctl request list."));
  await breakGlassToReview(box, now);
}

// Break-glass requests were approved at once: they wait for a designated approver's review
// (accept, or reject: that revokes a live grant) whatever their state is by now.
async function breakGlassToReview(box, now) {
  if (!roles().some((r) => r.role === "global_admin" || r.role === "lockbox_approver" || r.role === "owner")) return;
  const lists = await Promise.all(["approved", "completed", "revoked"].map((state) =>
    listAll("/v1/requests", { state }, 2)));
  const items = lists.flatMap((l) => l.items).filter((r) => r.break_glass === true &&
    r.review === "pending" && r.requester !== myId() && isDesignatedApprover(r));
  const section = h("section", { id: "break-glass-review" },
    h("h2", {}, "Break-glass requests to review ", h("span", { id: "count-break-glass", class: items.length ? "warn" : "muted" },
      "(" + items.length + ")")));
  items.sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  section.appendChild(paged("Break-glass requests approved at once, waiting for a review, oldest first",
    ["Request", "Engineer", "Ticket", "Hosts", "Access", "Duration", "State", "Opened", "Justification"],
    items.map((r) => [requestCell(r), r.requester_login || r.requester, r.ticket, (r.hosts || []).join(", "), r.access,
      r.duration, stateBadge(r.state), h("span", { title: "created " + r.created_at }, age(r.created_at, now) + " ago"),
      h("span", { class: "pre" }, r.justification)]),
    "No break-glass request waits for a review."));
  box.appendChild(section);
}

// approvals_required of each tenant as far as this page knows it: read from the tenant
// (its global admins may) or from the answer to an approval.
const requiredByTenant = new Map();

async function approvalsRequired(req) {
  if (roles().some((r) => r.role === "global_admin" && r.tenant === req.tenant)) {
    try {
      const t = await api("GET", "/v1/tenants/" + encodeURIComponent(req.tenant));
      if (t.policy && Number.isInteger(t.policy.approvals_required)) requiredByTenant.set(req.tenant, t.policy.approvals_required);
    } catch (e) {
      // not readable: the list of approvals without N
    }
  }
  if (Number.isInteger(req.approvals_required)) requiredByTenant.set(req.tenant, req.approvals_required);
  return requiredByTenant.has(req.tenant) ? requiredByTenant.get(req.tenant) : null;
}

function approvalsView(req, n) {
  const list = Array.isArray(req.approvals) ? req.approvals : [];
  const parts = [];
  // "k of N" counts the customer's approvals; a break-glass request (approved at once) and one of
  // a tenant with lockbox off (no customer step) have none to count
  if (n && n > 1 && req.break_glass !== true && (list.length || !req.approved_at)) {
    const missing = Math.max(0, n - list.length);
    parts.push(h("div", {}, h("strong", { id: "approval-count", class: missing && req.state === "customer_notified" ? "warn" : null },
      list.length + " of " + n + " approvals"),
    req.state === "customer_notified" && missing ? " — " + missing + " more needed from other designated approvers" : ""));
  }
  if (list.length) {
    parts.push(h("ul", { id: "approvals-list" }, list.map((a) => h("li", { class: "approval" },
      h("strong", {}, a.login || a.approver || ""), " ", time(a.time),
      a.reason ? [": ", h("span", { class: "pre approval-reason" }, a.reason)] : ""))));
  } else if (req.approved_by) {
    parts.push(h("span", {}, "approved by ", req.approved_by));
  } else {
    parts.push(h("span", {}, req.approved_at
      ? (req.break_glass ? "none: break-glass, approved at once" : "approved without a customer step (lockbox disabled)")
      : "none yet"));
  }
  return h("div", { id: "approvals" }, parts);
}

function reviewView(req) {
  if (req.break_glass !== true) return null;
  const review = req.review || "pending";
  const parts = [h("strong", { id: "review-state", class: review === "rejected" || review === "pending" ? "warn" : "good" }, review)];
  if (review === "pending") parts.push(" — a designated approver must accept or reject it (reject revokes a live grant).");
  else {
    parts.push(" by ", req.reviewed_by || "?", " ", time(req.reviewed_at));
    if (req.review_reason) parts.push(": ", h("span", { id: "review-reason", class: "pre" }, req.review_reason));
  }
  return h("span", {}, parts);
}

// A designated approver's review of a break-glass request (POST /v1/requests/{id}/review).
function reviewForm(req, redraw) {
  if (req.break_glass !== true || req.review !== "pending" || req.requester === myId() || !isDesignatedApprover(req)) return null;
  const reason = h("textarea", { name: "reason", rows: "2", maxlength: "1000" });
  const err = h("div", { id: "review-error" });
  const form = h("form", { id: "review", novalidate: true },
    h("h2", {}, "Break-glass review"),
    h("p", {}, "This access was opened without your approval. Accept it if it was justified; reject it otherwise: " +
      "that revokes the grant if it still runs and ends its sessions."),
    labelled("Reason", reason, "Required to reject; kept in the audit log."),
    h("div", { class: "buttons" },
      h("button", { type: "submit", value: "accepted", id: "review-accept", class: "primary" }, "Accept"),
      h("button", { type: "submit", value: "rejected", id: "review-reject", class: "danger" }, "Reject (revokes)")),
    err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const verdict = ev.submitter ? ev.submitter.value : "accepted";
    clear(err);
    const body = { verdict };
    if (reason.value.trim()) body.reason = reason.value.trim();
    if (verdict === "rejected" && !body.reason) {
      err.appendChild(h("p", { class: "error", role: "alert" }, "Give a reason to reject."));
      reason.focus();
      return;
    }
    try {
      const ans = await api("POST", "/v1/requests/" + encodeURIComponent(req.id) + "/review", body);
      status("Break-glass request " + req.id + ": review " + ans.review + ", state " + ans.state + ".");
      await redraw();
    } catch (e) {
      err.appendChild(errorBox(e));
    }
  });
  return form;
}

function elevationText(req) {
  const e = req.elevation;
  const now = Date.now();
  if (!e) return h("span", { class: "warn" }, "none: the engineer has never elevated, so an approval could not be used");
  const start = new Date(e.activated_at).getTime(), end = new Date(e.expires_at).getTime();
  const running = start <= now && now < end;
  const parts = [h("span", { id: "elevation-state" }, running ? "running" : "not running"), ", activated ", time(e.activated_at),
    ", until ", time(e.expires_at), e.mfa ? " (with TOTP)" : "", ". "];
  if (req.approved_at) {
    const ok = start <= new Date(req.approved_at).getTime();
    parts.push(h("span", { class: ok ? "good" : "warn" },
      ok ? "It started before the approval: the grant is usable while it runs."
        : "It started after the approval: it does not count for this grant."));
  } else {
    parts.push(h("span", { id: "elevation-before-now", class: running ? "good" : "warn" },
      running ? "It started before now: approving now gives a usable grant."
        : "An approval now could not be used: the engineer must elevate first."));
  }
  return h("span", {}, parts);
}

async function ticketInfo(id) {
  try {
    const t = await api("GET", "/v1/tickets/" + encodeURIComponent(id));
    return h("span", {}, h("strong", {}, t.title), " (", t.state, ") — ", h("span", { class: "pre" }, t.description));
  } catch (e) {
    return h("span", {}, id, " ", errorBox(e));
  }
}

async function timeline(req) {
  // the audit log when the reader may read it (admins, approvers): the request's every event,
  // checks and sessions too; otherwise the request's own history
  try {
    const { items } = await listAll("/v1/audit/events", { request: req.id }, 2);
    return paged("Audit trail of " + req.id, ["Time", "Event", "Actor", "Host", "Details"],
      items.map((e) => [time(e.time), e.type, e.actor_login || e.actor || "gateway", e.host || "",
        h("code", { class: "details" }, JSON.stringify(e.details || {}))]), "No events yet.", 20);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 403) throw e;
    return paged("History of " + req.id, ["Time", "Action", "Actor", "Reason"],
      (req.history || []).map((x) => [time(x.time), x.action, x.actor || "gateway", x.reason || ""]), "No history.");
  }
}

// Which decisions the page offers: the gateway decides whether they are allowed.
function actionsFor(req) {
  const mine = req.requester === myId();
  const designated = isDesignatedApprover(req) && !mine;
  const out = [];
  if (req.state === "internal_review" && has("internal_approver") && !mine) out.push("internal-approve");
  const approvedByMe = Array.isArray(req.approvals) && req.approvals.some((a) => a.approver === myId());
  if (req.state === "customer_notified" && designated && !approvedByMe) out.push("approve");
  if ((req.state === "customer_notified" && designated) ||
      (req.state === "internal_review" && (designated || (has("internal_approver") && !mine)))) out.push("deny");
  if (req.state === "approved" && (designated || mine)) out.push("revoke");
  if ((req.state === "internal_review" || req.state === "customer_notified") && mine) out.push("cancel");
  return out;
}

const labels = { approve: "Approve", deny: "Deny", revoke: "Revoke", cancel: "Cancel request", "internal-approve": "Approve internally" };

function decisionForm(req, redraw) {
  const acts = actionsFor(req);
  if (!acts.length) return null;
  const approvedByMe = req.state === "customer_notified" && Array.isArray(req.approvals) &&
    req.approvals.some((a) => a.approver === myId());
  const reason = h("textarea", { name: "reason", rows: "2", maxlength: "1000" });
  const totp = h("input", { type: "text", name: "totp", inputmode: "numeric", maxlength: "6", autocomplete: "one-time-code" });
  const totpField = labelled("TOTP code", totp, "This gateway wants a current code from your authenticator app for this decision.");
  totpField.hidden = true;
  const err = h("div", { id: "decision-error" });
  const form = h("form", { id: "decide", novalidate: true },
    h("h2", {}, "Decision"),
    approvedByMe ? h("p", { class: "notice", id: "approved-by-me" },
      "You approved this request already: it needs the approval of another designated approver.") : null,
    labelled("Reason", reason, "Required to deny or revoke; kept in the audit log and shown to the engineer."),
    totpField,
    h("div", { class: "buttons" }, acts.map((a) => h("button", {
      type: "submit", name: "action", value: a, id: "act-" + a,
      class: a === "approve" || a === "internal-approve" ? "primary" : "danger",
    }, labels[a]))),
    err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const action = ev.submitter ? ev.submitter.value : acts[0];
    clear(err);
    const body = {};
    if (reason.value.trim()) body.reason = reason.value.trim();
    if (totp.value.trim()) body.totp = totp.value.trim();
    if ((action === "deny" || action === "revoke") && !body.reason) {
      err.appendChild(h("p", { class: "error", role: "alert" }, "Give a reason to " + action + "."));
      reason.focus();
      return;
    }
    try {
      const ans = await api("POST", "/v1/requests/" + encodeURIComponent(req.id) + "/" + action, body);
      if (Number.isInteger(ans.approvals_required)) requiredByTenant.set(ans.tenant, ans.approvals_required);
      const k = Array.isArray(ans.approvals) ? ans.approvals.length : 0;
      status("Request " + req.id + " is now " + ans.state +
        (action === "approve" && ans.approvals_required > 1 ? " (" + k + " of " + ans.approvals_required + " approvals)" : "") + ".");
      await redraw();
    } catch (e) {
      if (e.code === "mfa_required" || e.code === "totp_invalid") {
        totpField.hidden = false;
        totp.value = "";
        totp.focus();
      }
      err.appendChild(errorBox(e));
    }
  });
  return form;
}

export async function detail(box, params) {
  const draw = async () => {
    clear(box);
    const req = await api("GET", "/v1/requests/" + encodeURIComponent(params.id));
    const grant = req.approved_at && req.grant_expires_at
      ? h("span", {}, time(req.approved_at), " until ", time(req.grant_expires_at)) : "not approved";
    const n = await approvalsRequired(req);
    box.appendChild(h("h1", {}, "Request ", req.id));
    box.appendChild(h("p", {}, stateBadge(req.state), " ", breakGlassBadge(req), " ",
      h("span", { id: "next-step" }, nextStep(req, req.requester === myId()))));
    if (req.break_glass === true) {
      box.appendChild(h("p", { class: "notice break-glass-notice", id: "break-glass-notice" },
        "BREAK-GLASS: this access was approved at once, without the customer's approval; every designated approver " +
        "and provider admin was notified. Review: " + (req.review || "pending") + "."));
    }
    box.appendChild(fields([
      ["Ticket", await ticketInfo(req.ticket)],
      ["Engineer", h("span", { id: "engineer" }, req.requester_login || "", " (", req.requester, ")")],
      ["Elevation", elevationText(req)],
      ["Scope", req.scope === "subscription" ? "subscription " + req.subscription : "tenant " + req.tenant],
      ["Hosts", h("span", { id: "hosts" }, (req.hosts || []).join(", "))],
      ["Access", req.access],
      ["Duration", req.duration],
      ["Justification", h("span", { id: "justification", class: "pre" }, req.justification)],
      ["Internal review", req.internal_approved_by ? "approved by " + req.internal_approved_by
        : req.state === "internal_review" ? "waiting for an internal approver" : "not needed"],
      req.break_glass === true ? ["Break-glass review", reviewView(req)] : null,
      ["Approvals", approvalsView(req, n)],
      ["Grant", grant],
      ["Created", h("span", {}, time(req.created_at), " (", humanDuration(Date.now() - new Date(req.created_at).getTime()), " ago)")],
      ["Pending until", time(req.pending_expires_at)],
      req.decision_reason ? ["Reason given", h("span", { class: "pre" }, req.decision_reason)] : null,
    ]));
    const rform = reviewForm(req, draw);
    if (rform) box.appendChild(rform);
    const form = decisionForm(req, draw);
    if (form) box.appendChild(form);
    box.appendChild(h("h2", {}, "Timeline"));
    box.appendChild(await timeline(req));
  };
  await draw();
}
