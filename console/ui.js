// lockbox console: DOM helpers. Text from the gateway only ever becomes text (text nodes,
// attribute values); nothing here parses markup, and the page's Trusted Types policy
// (require-trusted-types-for 'script') makes any string written to an HTML sink an error.

// h("p", {class: "x", onclick: fn}, "text", child...) -> element
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A time in the browser's zone, with the UTC value on hover.
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const d = new Date(iso);
  if (isNaN(d)) return h("span", {}, iso);
  return h("time", { datetime: iso, title: "UTC " + iso }, d.toLocaleString());
}

export function age(iso, now = Date.now()) {
  const ms = now - new Date(iso).getTime();
  if (!(ms >= 0)) return "";
  return humanDuration(ms);
}

export function humanDuration(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
}

let statusTimer = null;
// A message in the live region (announced by screen readers).
export function status(text, kind = "ok") {
  const el = document.getElementById("status");
  clear(el);
  el.className = "status " + kind;
  if (text) el.appendChild(document.createTextNode(text));
  clearTimeout(statusTimer);
  if (text && kind === "ok") statusTimer = setTimeout(() => status(""), 8000);
}

// An API error as the gateway worded it.
export function errorBox(e) {
  return h("p", { class: "error", role: "alert" },
    e && e.code ? e.code + ": " : "", e && e.message ? e.message : String(e));
}

export function table(caption, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((cell) => h("td", {}, cell))))));
}

// A definition list of [term, value] pairs.
export function fields(pairs) {
  return h("dl", { class: "fields" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

export function link(href, text) {
  return h("a", { href }, text);
}

export function requestLink(id) {
  return id ? link("#/requests/" + encodeURIComponent(id), id) : h("span", { class: "muted" }, "—");
}

let uid = 0;
// A labelled form control: [label, control].
export function labelled(text, control, hint) {
  const id = control.id || "f" + ++uid;
  control.id = id;
  const parts = [h("label", { for: id }, text), control];
  if (hint) {
    const hid = id + "-hint";
    control.setAttribute("aria-describedby", hid);
    parts.push(h("span", { class: "hint", id: hid }, hint));
  }
  return h("div", { class: "field" }, parts);
}

// A list paged on the client: PAGE rows at a time with Previous / Next.
export function paged(caption, columns, rows, empty, size = 25) {
  const box = h("div", {});
  let page = 0;
  const draw = () => {
    clear(box);
    const pages = Math.max(1, Math.ceil(rows.length / size));
    box.appendChild(table(caption, columns, rows.slice(page * size, page * size + size), empty));
    if (rows.length > size) {
      box.appendChild(h("div", { class: "pager" },
        h("button", { type: "button", disabled: page === 0, onclick: () => { page--; draw(); } }, "Previous"),
        h("span", {}, " page " + (page + 1) + " of " + pages + " "),
        h("button", { type: "button", disabled: page >= pages - 1, onclick: () => { page++; draw(); } }, "Next")));
    }
  };
  draw();
  return box;
}

export function stateBadge(state) {
  return h("span", { class: "badge state-" + String(state).replace(/[^a-z_]/g, "") }, state);
}

// DESIGN.md "Approval policies": a break-glass request was approved at once, before anyone
// of the customer looked at it; it stands out wherever it is listed or shown, with its review.
export function breakGlassBadge(req) {
  if (!req || req.break_glass !== true) return null;
  const review = req.review || "pending";
  return h("span", { class: "badge break-glass", "data-break-glass": req.id,
    title: "Break-glass: approved at once without the customer's approval; review " + review },
  "BREAK-GLASS", " ", h("span", { class: "review review-" + String(review).replace(/[^a-z]/g, "") },
    "review " + review));
}

// A request id as a link, with its BREAK-GLASS badge when it is one.
export function requestCell(req) {
  const bg = breakGlassBadge(req);
  return bg ? h("span", {}, requestLink(req.id), " ", bg) : requestLink(req.id);
}

// The engineer-facing warnings of an answer (POST /v1/requests: "warnings"), prominently.
export function warningsBox(list, id) {
  if (!Array.isArray(list) || !list.length) return null;
  return h("div", { class: "notice warning", role: "alert", id: id || null },
    h("strong", {}, "Warning" + (list.length > 1 ? "s" : "") + " from the gateway:"),
    h("ul", {}, list.map((w) => h("li", {}, String(w)))));
}
