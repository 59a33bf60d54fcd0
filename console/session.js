// lockbox console: who is signed in and what their roles let the console offer. The console
// only hides what a role may not do; the gateway refuses it whatever the page shows.
let current = null;

export function me() {
  return current;
}

export function setMe(m) {
  current = m;
}

export function roles() {
  return (current && current.roles) || [];
}

export function has(role) {
  return roles().some((r) => r.role === role);
}

export function isApprover() {
  return has("global_admin") || has("lockbox_approver") || has("owner") || has("internal_approver");
}

export function isAuditReader() {
  return has("provider_admin") || has("global_admin") || has("lockbox_approver") || has("owner");
}

// DESIGN.md: subscription scope -> its owners plus the tenant's global admins and lockbox
// approvers; tenant scope -> global admins and lockbox approvers.
export function isDesignatedApprover(req) {
  return roles().some((r) =>
    ((r.role === "global_admin" || r.role === "lockbox_approver") && r.tenant === req.tenant) ||
    (r.role === "owner" && req.scope === "subscription" && r.subscription === req.subscription));
}

export function myId() {
  return current ? current.user.id : null;
}
