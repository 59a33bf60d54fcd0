// lockbox console: the one way to the gateway's REST API (the same API lockboxctl uses).
// The session cookie goes with every call (the browser adds it; scripts cannot read it);
// every call that changes something also sends the session's CSRF token.

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A session that ended (signed out elsewhere, idle, too old) shows the sign-in page.
export const signedOut = new EventTarget();

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "network", "the gateway does not answer (" + e.message + ")");
  }
  let js = null;
  try {
    js = await resp.json();
  } catch (e) {
    js = null;
  }
  if (!resp.ok) {
    const err = (js && js.error) || {};
    const e = new ApiError(resp.status, err.code || "http_" + resp.status,
      err.message || resp.statusText || "error " + resp.status);
    if (resp.status === 401 && path !== "/v1/sessions") signedOut.dispatchEvent(new Event("out"));
    throw e;
  }
  return js;
}

// Builds a query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

// Every page of a list, at most maxPages of limit items.
export async function listAll(path, params = {}, maxPages = 5, limit = 200) {
  let items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const page = await api("GET", path + query({ ...params, limit, cursor }));
    items = items.concat(page.items || []);
    cursor = page.next_cursor;
    if (!cursor) return { items, more: false };
  }
  return { items, more: true };
}
