// threadline serve: the pages. Plain JS, no build step, nothing loaded from elsewhere.
//
// Transcripts are untrusted. Every piece of their text reaches the page through
// textContent (the h() helper below creates text nodes, never markup); links are built
// only from validated ids; control and bidi characters are shown as visible symbols.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const AGENT = /^[A-Za-z0-9_.-]{1,128}$/;
const app = document.getElementById("app");
let INFO = { writes: false, source: { kind: "", label: "" } };

// ---------------------------------------------------------------------------------
// DOM and text helpers

// Control characters (terminal escapes...) as their visible Control Pictures; bidi
// overrides as a bracketed code point, so no text can reorder or hide what follows.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
export function visible(s) {
  if (s === null || s === undefined) return "";
  return String(s)
    .replace(CONTROL, (c) => {
      const code = c.charCodeAt(0);
      if (code < 0x20) return String.fromCharCode(0x2400 + code);
      if (code === 0x7f) return "\u2421";
      return "\\x" + code.toString(16).padStart(2, "0");
    })
    .replace(BIDI, (c) => "\u27e6U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0") + "\u27e7");
}

const ATTRS = new Set(["class", "title", "type", "value", "name", "placeholder", "id", "min", "max",
  "colspan", "for", "checked", "selected", "disabled", "open", "width", "height", "alt", "data-nav",
  "data-testid", "data-uuid", "data-session", "aria-label", "role", "size", "autocomplete"]);

function setAttr(node, k, v) {
  if (v === null || v === undefined || v === false) return;
  if (k === "href") {
    if (typeof v !== "string" || !v.startsWith("/") || v.startsWith("//")) throw new Error("unsafe href " + v);
    node.setAttribute("href", v);
  } else if (k === "src") {
    if (typeof v !== "string" || !v.startsWith("/api/") ) throw new Error("unsafe src " + v);
    node.setAttribute("src", v);
  } else if (k.startsWith("on")) {
    node.addEventListener(k.slice(2), v);
  } else if (ATTRS.has(k)) {
    node.setAttribute(k, v === true ? "" : String(v));
  } else {
    throw new Error("attribute not allowed: " + k);
  }
}

export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) setAttr(node, k, v);
  append(node, children);
  return node;
}

function add(node, ...children) { append(node, children); return node; }

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.appendChild(c instanceof Node ? c : document.createTextNode(visible(c)));
  }
}

const SVGNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (/^[a-z-]+$/i.test(k) && k !== "href") node.setAttribute(k, String(v));
  }
  append(node, children);
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
function sid(x) { if (typeof x !== "string" || !UUID.test(x)) throw new Error("not a session id"); return x.toLowerCase(); }
function q(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") u.set(k, String(v));
  const text = u.toString();
  return text ? "?" + text : "";
}
function sessionHref(id, params) { return "/s/" + encodeURIComponent(sid(id)) + q(params || {}); }

function fmtTime(ms) {
  if (!ms) return "";
  const d = new Date(typeof ms === "string" ? ms : Number(ms));
  if (isNaN(d)) return String(ms);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
function fmtSize(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB"]; let i = 0; let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : v) + " " + units[i];
}
function fmtInt(n) { return Number(n || 0).toLocaleString(); }
function fmtCost(n) { return "$" + Number(n || 0).toFixed(n >= 1 ? 2 : 4); }
function short(text, n) { text = String(text || ""); return text.length > n ? text.slice(0, n - 1) + "…" : text; }

// ---------------------------------------------------------------------------------
// API

async function api(path, opts) {
  const res = await fetch(path, Object.assign({ credentials: "same-origin", headers: { accept: "application/json" } }, opts || {}));
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const err = new Error((body && body.error) || res.statusText || "request failed");
    err.status = res.status;
    throw err;
  }
  return body;
}

async function write(path, body) {
  return api(path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-threadline-csrf": INFO.csrf || "", accept: "application/json" },
    body: JSON.stringify(body || {}),
  });
}

function showError(err) {
  return h("p", { class: "error", role: "alert" }, String(err && err.message ? err.message : err));
}

// ---------------------------------------------------------------------------------
// Router

function route() {
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  for (const a of document.querySelectorAll("header nav a")) a.classList.remove("active");
  let m;
  if (path === "/") return listPage(params);
  if (path === "/trash") return trashPage();
  if (path === "/diff") return diffPage(params);
  if ((m = path.match(/^\/s\/([0-9a-fA-F-]{36})\/tree$/))) return treePage(m[1], params);
  if ((m = path.match(/^\/s\/([0-9a-fA-F-]{36})\/usage$/))) return usagePage(m[1]);
  if ((m = path.match(/^\/s\/([0-9a-fA-F-]{36})$/))) return sessionPage(m[1], params);
  add(clear(app), h("p", { class: "error" }, "No such page."));
}

function go(href) { history.pushState(null, "", href); route(); window.scrollTo(0, 0); }

document.addEventListener("click", (ev) => {
  const a = ev.target.closest && ev.target.closest("a[href]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("/api/") || href.startsWith("/static/")) return;
  ev.preventDefault();
  go(href);
});
window.addEventListener("popstate", route);

function setNav(name) {
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.nav === name);
}

// ---------------------------------------------------------------------------------
// Session list and search

const LIST_COLUMNS = [
  ["title", "Title"], ["project", "Project"], [null, "Tag"], [null, "Branch"],
  ["created", "Created"], ["modified", "Modified"], ["size", "Size"],
];

async function listPage(params) {
  setNav("list");
  document.title = "Sessions · threadline";
  const state = {
    project: params.get("project") || "", tag: params.get("tag") || "", q: params.get("q") || "",
    since: params.get("since") || "", until: params.get("until") || "",
    sort: params.get("sort") || "modified", order: params.get("order") || "",
    offset: Number(params.get("offset") || 0), limit: Number(params.get("limit") || 50),
    search: params.get("search") || "",
  };
  const root = clear(app);
  const results = h("div", { id: "search-results" });
  const body = h("div", {}, h("p", { class: "muted" }, "Loading sessions…"));
  const searchInput = h("input", { type: "search", name: "search", placeholder: "Full-text search (every word; word* for a prefix)", value: state.search, size: 48, "aria-label": "Full-text search" });
  const searchForm = h("form", { class: "toolbar", role: "search", onsubmit: (ev) => {
    ev.preventDefault();
    go("/" + q(Object.assign({}, state, { search: searchInput.value.trim(), offset: 0 })));
  } }, searchInput, h("button", { type: "submit", class: "primary" }, "Search"));
  add(root, h("h1", {}, "Sessions"), searchForm, results, body);
  if (state.search) runSearch(state, results);
  let data;
  try {
    data = await api("/api/sessions" + q(state));
  } catch (err) { add(clear(body), showError(err)); return; }
  add(clear(body), filters(state, data), sessionTable(state, data), pager(state, data.total, (offset) => go("/" + q(Object.assign({}, state, { offset })))));
}

function filters(state, data) {
  const project = h("select", { name: "project", "aria-label": "Project" }, h("option", { value: "" }, "All projects"),
    data.projects.map((p) => h("option", { value: p.key, selected: p.key === state.project }, short(p.key, 60) + " (" + p.count + ")")));
  const tag = h("select", { name: "tag", "aria-label": "Tag" }, h("option", { value: "" }, "Any tag"),
    data.tags.map((t) => h("option", { value: t.tag, selected: t.tag === state.tag }, t.tag + " (" + t.count + ")")));
  const text = h("input", { type: "text", name: "q", placeholder: "Filter titles", value: state.q, size: 20 });
  const since = h("input", { type: "date", name: "since", value: state.since });
  const until = h("input", { type: "date", name: "until", value: state.until });
  const apply = () => go("/" + q(Object.assign({}, state, { project: project.value, tag: tag.value, q: text.value.trim(), since: since.value, until: until.value, offset: 0 })));
  project.addEventListener("change", apply);
  tag.addEventListener("change", apply);
  since.addEventListener("change", apply);
  until.addEventListener("change", apply);
  return h("form", { class: "toolbar", onsubmit: (ev) => { ev.preventDefault(); apply(); } },
    project, tag, h("label", {}, "from", since), h("label", {}, "to", until), text,
    h("button", { type: "submit" }, "Filter"),
    h("span", { class: "spacer" }),
    h("span", { class: "muted", "data-testid": "total" }, fmtInt(data.total) + " sessions"));
}

function sessionTable(state, data) {
  const head = h("tr", {}, LIST_COLUMNS.map(([key, label]) => {
    if (!key) return h("th", {}, label);
    const sorted = state.sort === key;
    const order = sorted ? (data.order === "desc" ? "asc" : "desc") : "";
    const arrow = sorted ? (data.order === "desc" ? " ▼" : " ▲") : "";
    return h("th", { class: "sortable" + (sorted ? " sorted" : ""), title: "Sort by " + label,
      onclick: () => go("/" + q(Object.assign({}, state, { sort: key, order, offset: 0 }))) }, label + arrow);
  }));
  const rows = data.items.map((r) => h("tr", { "data-session": r.session_id },
    h("td", { class: "title" }, h("a", { href: sessionHref(r.session_id) }, short(r.summary || r.session_id, 200)),
      r.title && r.first_prompt && r.title !== r.first_prompt ? h("div", { class: "muted" }, short(r.first_prompt, 140)) : null),
    h("td", { class: "mono", title: r.cwd || r.project }, short(r.project, 40)),
    h("td", {}, r.tag ? h("span", { class: "tag" }, r.tag) : ""),
    h("td", { class: "muted" }, r.git_branch || ""),
    h("td", { class: "num muted" }, fmtTime(r.created_at)),
    h("td", { class: "num" }, fmtTime(r.last_modified)),
    h("td", { class: "num muted" }, fmtSize(r.size))));
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No sessions match.")));
  return h("table", { class: "list", "data-testid": "sessions" }, h("thead", {}, head), h("tbody", {}, rows));
}

function pager(state, total, goto) {
  const pages = Math.max(1, Math.ceil(total / state.limit));
  const page = Math.floor(state.offset / state.limit) + 1;
  const jump = h("input", { type: "number", min: 1, max: pages, value: page, "aria-label": "Page" });
  return h("div", { class: "pager" },
    h("button", { disabled: page <= 1, onclick: () => goto(0), "aria-label": "First page" }, "«"),
    h("button", { disabled: page <= 1, onclick: () => goto((page - 2) * state.limit), "data-testid": "prev" }, "‹ Prev"),
    h("span", { "data-testid": "page" }, "Page ", jump, " of " + fmtInt(pages)),
    h("button", { disabled: page >= pages, onclick: () => goto(page * state.limit), "data-testid": "next" }, "Next ›"),
    h("button", { disabled: page >= pages, onclick: () => goto((pages - 1) * state.limit), "data-testid": "last", "aria-label": "Last page" }, "»"),
    (jump.addEventListener("change", () => goto((Math.min(pages, Math.max(1, Number(jump.value))) - 1) * state.limit)), null));
}

async function runSearch(state, box) {
  add(clear(box), h("p", { class: "muted" }, "Searching…"));
  try {
    const data = await api("/api/search" + q({ q: state.search, project: state.project, limit: 50 }));
    add(clear(box), h("h2", {}, data.hits.length + " match" + (data.hits.length === 1 ? "" : "es") + " for “" + data.query + "”"),
      h("ul", { class: "hits", "data-testid": "hits" }, data.hits.map((hit) => h("li", {},
        h("a", { href: sessionHref(hit.session_id, hit.message_uuid && UUID.test(hit.message_uuid) ? { at: hit.message_uuid } : {}) },
          short(hit.title || hit.session_id, 120)),
        h("span", { class: "muted" }, "  " + hit.role + (hit.timestamp ? " · " + fmtTime(hit.timestamp) : "")),
        h("div", { class: "snippet" }, hit.snippet.map(([text, hl]) => hl ? h("mark", {}, text) : text))))));
  } catch (err) { add(clear(box), showError(err)); }
}

// ---------------------------------------------------------------------------------
// Conversation

const PAGE = 100;

async function sessionPage(id, params) {
  setNav("");
  const root = clear(app);
  const leaf = params.get("leaf");
  const at = params.get("at");
  // The first page is asked for at once, beside the session's details (one parse serves both).
  const firstPage = api("/api/sessions/" + encodeURIComponent(sid(id)) + "/messages" + q(Object.assign({ limit: PAGE, leaf: leaf || "" }, at && UUID.test(at) ? { around: at } : {})));
  firstPage.catch(() => null);
  let info;
  try { info = await api("/api/sessions/" + encodeURIComponent(sid(id))); }
  catch (err) { add(root, showError(err)); return; }
  document.title = (info.title || info.first_prompt || id) + " · threadline";
  const list = h("div", { class: "items", "data-testid": "items" });
  const status = h("span", { class: "muted", "data-testid": "status" });
  const nav = h("div", { class: "pager" });
  const navBottom = h("div", { class: "pager" });
  add(root, sessionHeader(info, leaf), leaf ? h("p", { class: "notice" }, "Showing the branch that ends at ", h("span", { class: "mono" }, leaf), " · ", h("a", { href: sessionHref(id) }, "show the current branch")) : null,
    nav, list, navBottom);
  const state = { offset: 0, total: 0, version: null };
  async function load(extra, pending) {
    const params = Object.assign({ limit: PAGE, leaf: leaf || "" }, extra);
    if (state.version) params.v = state.version;
    let data;
    try { data = await (pending || api("/api/sessions/" + encodeURIComponent(id) + "/messages" + q(params))); }
    catch (err) { add(clear(list), showError(err)); return; }
    state.offset = data.offset; state.total = data.total; state.version = data.version;
    add(clear(list), data.items.map((item, i) => renderItem(item, id, data.offset + i === data.focus, {})));
    if (!data.items.length) add(list, h("p", { class: "muted" }, "No messages on this path."));
    for (const box of [nav, navBottom]) {
      add(clear(box), pager({ offset: data.offset, limit: PAGE }, data.total, (offset) => { load({ offset }); window.scrollTo(0, 0); }),
        h("span", { class: "muted" }, fmtInt(data.total) + " items"));
    }
    status.textContent = fmtInt(data.total) + " items";
    const focused = list.querySelector(".item.focus");
    if (focused) focused.scrollIntoView({ block: "center" });
  }
  await load({}, firstPage);
}

function sessionHeader(info, leaf) {
  const id = info.session_id;
  const acts = [
    h("a", { href: "/s/" + encodeURIComponent(id) + "/tree" }, h("button", { type: "button" }, "Branch tree")),
    h("a", { href: "/s/" + encodeURIComponent(id) + "/usage" }, h("button", { type: "button" }, "Usage")),
  ];
  if (INFO.writes) {
    acts.push(
      h("button", { onclick: () => askRename(info) }, "Rename"),
      h("button", { onclick: () => askTag(info) }, "Tag"),
      h("button", { onclick: () => doFork(id, null) }, "Fork"),
      h("button", { class: "danger", onclick: () => doDelete(info) }, INFO.can_restore ? "Move to trash" : "Delete"));
  }
  return h("section", {},
    h("h1", { "data-testid": "title" }, info.title || info.first_prompt || id),
    h("div", { class: "meta" },
      h("span", { class: "mono" }, id),
      h("span", {}, "project ", h("span", { class: "mono" }, short(info.project, 60))),
      info.cwd ? h("span", {}, "cwd ", h("span", { class: "mono" }, info.cwd)) : null,
      info.tag ? h("span", { class: "tag" }, info.tag) : null,
      h("span", {}, fmtInt(info.entries) + " entries"),
      info.first_timestamp ? h("span", {}, fmtTime(info.first_timestamp) + " – " + fmtTime(info.last_timestamp)) : null,
      info.subagents.length ? h("span", {}, info.subagents.length + " subagent" + (info.subagents.length > 1 ? "s" : "")) : null,
      info.checkpoints ? h("span", {}, info.checkpoints + " file checkpoint" + (info.checkpoints > 1 ? "s" : "")) : null,
      info.forked_from && UUID.test(info.forked_from) ? h("span", {}, "forked from ", h("a", { href: sessionHref(info.forked_from) }, info.forked_from.slice(0, 8))) : null),
    h("div", { class: "actions" }, acts));
}

function textBlock(block) {
  return [h("div", { class: "text" }, block.text), block.truncated ? h("div", { class: "truncated" }, "… cut at " + fmtInt(block.text.length) + " of " + fmtInt(block.truncated) + " characters (the raw entry has it all)") : null];
}

function imageEl(img, sessionId, agent) {
  if (img.ref) {
    const parts = String(img.ref).split("/");
    const uuid = parts.shift();
    if (parts.every((p) => /^\d+$/.test(p))) {
      return h("img", { class: "shot", alt: "image from the transcript", src: "/api/sessions/" + encodeURIComponent(sessionId) + "/image/" + encodeURIComponent(uuid) + "/" + parts.join("/") + (agent ? q({ agent }) : "") });
    }
  }
  return h("div", { class: "muted" }, "[image" + (img.media_type ? " " + img.media_type : "") + (img.url ? ": " + img.url : "") + " not shown]");
}

function renderBlock(block, sessionId, ctx) {
  switch (block.type) {
    case "text": return textBlock(block);
    case "thinking":
      return h("details", { class: "thinking" }, h("summary", {}, "Thinking (" + fmtInt(block.text.length) + " characters)"), textBlock(block));
    case "redacted_thinking": return h("div", { class: "muted" }, "(redacted thinking)");
    case "image": return imageEl(block, sessionId, ctx.agent);
    case "tool_use": return toolCard(block, sessionId, ctx);
    case "tool_result":
      return h("div", { class: "tool" }, h("div", { class: "result" + (block.is_error ? " is-error" : "") },
        h("div", { class: "label" }, "Result of a call not on this path"), h("pre", {}, block.text)));
    default:
      return h("details", {}, h("summary", { class: "muted" }, "(" + block.raw_type + " block)"), h("pre", { class: "mono" }, block.text));
  }
}

function toolCard(block, sessionId, ctx) {
  const r = block.result;
  const result = r
    ? h("div", { class: "result" + (r.is_error ? " is-error" : "") }, h("div", { class: "label" }, r.is_error ? "Error" : "Result"),
      h("pre", {}, r.text), r.truncated ? h("div", { class: "truncated" }, "… cut (" + fmtInt(r.truncated) + " characters in all)") : null,
      (r.images || []).map((img) => imageEl(img, sessionId, ctx.agent)))
    : h("div", { class: "result muted" }, h("div", { class: "label" }, "No result on this path"));
  const card = h("div", { class: "tool", "data-testid": "tool" },
    h("div", { class: "call" }, h("div", { class: "label" }, "Tool call · " + block.name), h("pre", {}, block.text)), result);
  if (block.subagent && AGENT.test(block.subagent) && !ctx.agent) add(card, subagentPanel(sessionId, block.subagent));
  return card;
}

function subagentPanel(sessionId, agentId) {
  const box = h("div", { class: "items" });
  const panel = h("details", { class: "subagent sub", "data-testid": "subagent" }, h("summary", {}, "Subagent transcript · agent-" + agentId), box);
  let loaded = false;
  panel.addEventListener("toggle", async () => {
    if (!panel.open || loaded) return;
    loaded = true;
    add(box, h("p", { class: "muted" }, "Loading…"));
    try {
      const data = await api("/api/sessions/" + encodeURIComponent(sessionId) + "/subagents/" + encodeURIComponent(agentId) + q({ limit: 500 }));
      add(clear(box), data.items.map((item) => renderItem(item, sessionId, false, { agent: agentId })),
        data.total > data.items.length ? h("p", { class: "muted" }, "… " + (data.total - data.items.length) + " more items") : null);
    } catch (err) { add(clear(box), showError(err)); }
  });
  return panel;
}

function renderItem(item, sessionId, focus, ctx) {
  const cls = "item " + item.kind + (focus ? " focus" : "") + (item.error ? " err" : "");
  const time = item.timestamp ? h("span", {}, fmtTime(item.timestamp)) : null;
  const forkBtn = INFO.writes && item.uuid && UUID.test(item.uuid) && !ctx.agent && (item.kind === "user" || item.kind === "assistant")
    ? h("button", { class: "fork-here", title: "Fork the session up to here", onclick: () => doFork(sessionId, item.uuid) }, "Fork here") : null;
  switch (item.kind) {
    case "user":
    case "assistant":
      return h("article", { class: cls, "data-uuid": item.uuid },
        h("header", {}, h("span", { class: "who" }, item.kind === "user" ? "User" : "Assistant"), item.model ? h("span", {}, item.model) : null, time, forkBtn),
        item.blocks.map((b) => renderBlock(b, sessionId, ctx)));
    case "compact_boundary":
      return h("div", { class: "marker", role: "separator", "data-testid": "compact" },
        "Conversation compacted" + (item.trigger ? " (" + item.trigger + ")" : "") +
        (item.pre_tokens ? " · " + fmtInt(item.pre_tokens) + " → " + fmtInt(item.post_tokens) + " tokens" : ""));
    case "compact_summary":
      return h("article", { class: "item summary", "data-uuid": item.uuid },
        h("header", {}, h("span", { class: "who" }, "Compaction summary"), time),
        h("details", {}, h("summary", {}, short(item.text.replace(/\s+/g, " "), 140)), textBlock(item)));
    case "checkpoint":
      return h("div", { class: "item checkpoint", "data-testid": "checkpoint" },
        "📌 File checkpoint" + (item.update ? " (update)" : "") + ": " + item.files.length + " file" + (item.files.length === 1 ? "" : "s") + " tracked",
        item.files.length ? h("details", {}, h("summary", {}, "files"), h("ul", {}, item.files.map((f) => h("li", { class: "mono" }, f.path + (f.existed ? "" : " (did not exist)") + (f.version ? " v" + f.version : ""))))) : null);
    case "system":
      return h("div", { class: "item system" }, h("span", { class: "who" }, "system" + (item.subtype ? " · " + item.subtype : "")), " ", item.text);
    default:
      return h("div", { class: "item system" }, "(" + item.kind + ")");
  }
}

// ---------------------------------------------------------------------------------
// Writes (only offered with --allow-writes)

async function askRename(info) {
  const title = prompt("New title", info.title || "");
  if (title === null) return;
  try { await write("/api/sessions/" + encodeURIComponent(info.session_id) + "/rename", { title }); route(); }
  catch (err) { alert(err.message); }
}
async function askTag(info) {
  const tag = prompt("Tag (empty to clear)", info.tag || "");
  if (tag === null) return;
  try { await write("/api/sessions/" + encodeURIComponent(info.session_id) + "/tag", { tag: tag.trim() || null }); route(); }
  catch (err) { alert(err.message); }
}
async function doFork(id, upTo) {
  const title = prompt(upTo ? "Fork up to this message. Title of the fork:" : "Fork the whole session. Title of the fork:", "");
  if (title === null) return;
  try {
    const res = await write("/api/sessions/" + encodeURIComponent(id) + "/fork", { up_to: upTo, title: title.trim() || null });
    go(sessionHref(res.session_id));
  } catch (err) { alert(err.message); }
}
async function doDelete(info) {
  const what = INFO.can_restore ? "Move this session to the trash? (Restore it from the Trash page.)" : "Delete this session for good? A store has no trash.";
  if (!confirm(what)) return;
  try { await write("/api/sessions/" + encodeURIComponent(info.session_id) + "/delete", {}); go("/"); }
  catch (err) { alert(err.message); }
}

async function trashPage() {
  setNav("trash");
  document.title = "Trash · threadline";
  const root = clear(app);
  add(root, h("h1", {}, "Trash"));
  let data;
  try { data = await api("/api/trash"); } catch (err) { add(root, showError(err)); return; }
  if (!data.supported) { add(root, h("p", { class: "muted" }, "This source has no trash: deleting from a store is final.")); return; }
  if (!data.items.length) { add(root, h("p", { class: "muted" }, "The trash is empty.")); return; }
  add(root, h("table", { class: "list" }, h("thead", {}, h("tr", {}, h("th", {}, "Session"), h("th", {}, "Project"), h("th", {}, "Trashed"), h("th", {}, ""))),
    h("tbody", {}, data.items.map((r) => h("tr", {},
      h("td", {}, r.summary || r.session_id, h("div", { class: "mono muted" }, r.session_id)),
      h("td", { class: "mono" }, short(r.project, 50)),
      h("td", { class: "num" }, r.trashed_at ? fmtTime(r.trashed_at * 1000) : ""),
      h("td", {}, INFO.writes ? h("button", { onclick: async () => {
        try { await write("/api/trash/" + encodeURIComponent(sid(r.session_id)) + "/restore", {}); go(sessionHref(r.session_id)); }
        catch (err) { alert(err.message); }
      } }, "Restore") : h("span", { class: "muted" }, "read-only")))))));
}

// ---------------------------------------------------------------------------------
// Branch tree

const NODE_W = 210, NODE_H = 50, GAP_X = 26, GAP_Y = 34;

async function treePage(id, params) {
  setNav("");
  const root = clear(app);
  let data;
  try { data = await api("/api/sessions/" + encodeURIComponent(sid(id)) + "/tree"); }
  catch (err) { add(root, showError(err)); return; }
  document.title = "Tree · " + (data.title || id) + " · threadline";
  const leaves = data.segments.filter((seg) => seg.leaf);
  const forks = data.segments.flatMap((seg) => seg.forks).concat(data.unplaced_forks);
  add(root, 
    h("h1", {}, "Branch tree · ", h("a", { href: sessionHref(id) }, data.title || id)),
    h("p", { class: "muted" }, leaves.length + " branch" + (leaves.length === 1 ? "" : "es") + " in this file, " + forks.length + " fork" + (forks.length === 1 ? "" : "s") + " into other sessions. Click a node to read the conversation up to it." +
      (data.forks_complete ? "" : " (Only the newest sessions of this project were searched for forks.)")),
    data.origin && UUID.test(data.origin.session_id) ? h("p", { class: "notice", "data-testid": "origin" }, "Forked from ",
      h("a", { href: sessionHref(data.origin.session_id, data.origin.from_message && UUID.test(data.origin.from_message) ? { at: data.origin.from_message } : {}) }, data.origin.title || data.origin.session_id),
      data.origin.missing ? " (not found in this source)" : "", " · ",
      h("a", { href: "/s/" + encodeURIComponent(data.origin.session_id) + "/tree" }, "its tree")) : null,
    h("div", { class: "tree-wrap" }, drawTree(id, data)),
    comparePicker(id, data, leaves, forks));
}

function drawTree(id, data) {
  const segs = data.segments;
  const forks = [];
  for (const seg of segs) for (const f of seg.forks) forks.push([seg, f]);
  const cols = Math.max(1, ...segs.map((x) => x.col + 1), ...forks.map(([, f]) => f.col + 1));
  const depth = Math.max(1, ...segs.map((x) => x.depth + 1), ...forks.map(([, f]) => f.depth + 1));
  const W = cols * (NODE_W + GAP_X) + GAP_X, H = depth * (NODE_H + GAP_Y) + GAP_Y;
  const x = (c) => GAP_X + c * (NODE_W + GAP_X);
  const y = (d) => GAP_Y / 2 + d * (NODE_H + GAP_Y);
  const svg = s("svg", { class: "tree", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "branch tree", "data-testid": "tree" });
  for (const seg of segs) {
    if (seg.parent === null) continue;
    const p = segs[seg.parent];
    add(svg, s("path", { class: "edge", d: "M" + (x(p.col) + NODE_W / 2) + " " + (y(p.depth) + NODE_H) + " C" + (x(p.col) + NODE_W / 2) + " " + (y(p.depth) + NODE_H + GAP_Y / 2) + " " + (x(seg.col) + NODE_W / 2) + " " + (y(seg.depth) - GAP_Y / 2) + " " + (x(seg.col) + NODE_W / 2) + " " + y(seg.depth) }));
  }
  for (const [seg, f] of forks) {
    add(svg, s("path", { class: "edge fork", d: "M" + (x(seg.col) + NODE_W) + " " + (y(seg.depth) + NODE_H / 2) + " C" + (x(f.col) + NODE_W / 2) + " " + (y(seg.depth) + NODE_H / 2) + " " + (x(f.col) + NODE_W / 2) + " " + (y(f.depth) - GAP_Y / 2) + " " + (x(f.col) + NODE_W / 2) + " " + y(f.depth) }));
  }
  const node = (cls, col, d, line1, line2, href, tip) => {
    const g = s("g", { class: "node " + cls, transform: "translate(" + x(col) + "," + y(d) + ")", tabindex: 0, role: "link", cursor: "pointer",
      onclick: () => go(href), onkeydown: (ev) => { if (ev.key === "Enter") go(href); } },
      s("title", {}, visible(tip)),
      s("rect", { width: NODE_W, height: NODE_H, rx: 7 }),
      s("text", { x: 8, y: 19 }, visible(short(line1, 34))),
      s("text", { x: 8, y: 37, class: "sub" }, visible(short(line2, 40))));
    g.dataset.href = href;
    add(svg, g);
  };
  for (const seg of segs) {
    const cls = (seg.leaf ? "leaf " : "") + (seg.on_default ? "default " : "") + (seg.compacted ? "compacted" : "");
    const line2 = seg.messages + " msg" + (seg.last_text ? " … " + seg.last_text : "") + (seg.compacted ? " · compacted" : "");
    node(cls, seg.col, seg.depth, seg.first_text || "(no text)", line2, sessionHref(id, { leaf: seg.end_uuid }),
      (seg.first_text || "") + "\n…\n" + (seg.last_text || "") + "\n" + seg.messages + " messages" + (seg.leaf ? " (leaf)" : " (branches here)"));
  }
  for (const [, f] of forks) {
    if (!UUID.test(f.session_id)) continue;
    node("fork", f.col, f.depth, "⤷ fork: " + (f.title || f.session_id.slice(0, 8)), (f.how === "forkedFrom" ? "fork_session" : "CLI --fork-session") + " · " + f.session_id.slice(0, 8),
      sessionHref(f.session_id), "Fork " + f.session_id + (f.title ? "\n" + f.title : ""));
  }
  return svg;
}

function comparePicker(id, data, leaves, forks) {
  const options = leaves.map((seg) => ({ label: "branch: " + short(seg.first_text, 50) + (seg.on_default ? " (current)" : ""), a: id, leaf: seg.end_uuid }))
    .concat(forks.filter((f) => UUID.test(f.session_id)).map((f) => ({ label: "fork: " + (f.title || f.session_id.slice(0, 8)), a: f.session_id, leaf: null })));
  if (data.origin && UUID.test(data.origin.session_id) && !data.origin.missing) options.push({ label: "origin: " + (data.origin.title || data.origin.session_id.slice(0, 8)), a: data.origin.session_id, leaf: null });
  if (options.length < 2) return h("p", { class: "muted" }, "Nothing to compare: this session has one branch and no forks.");
  const pickA = h("select", { name: "a", "aria-label": "Left branch" }, options.map((o, i) => h("option", { value: i, selected: i === 0 }, o.label)));
  const pickB = h("select", { name: "b", "aria-label": "Right branch" }, options.map((o, i) => h("option", { value: i, selected: i === 1 }, o.label)));
  return h("form", { class: "toolbar pick", onsubmit: (ev) => {
    ev.preventDefault();
    const A = options[Number(pickA.value)], B = options[Number(pickB.value)];
    go("/diff" + q({ a: A.a, a_leaf: A.leaf, b: B.a, b_leaf: B.leaf }));
  } }, h("strong", {}, "Compare"), pickA, "with", pickB, h("button", { type: "submit", class: "primary", "data-testid": "compare" }, "Side by side"));
}

// ---------------------------------------------------------------------------------
// Diff

async function diffPage(params) {
  setNav("");
  const root = clear(app);
  const a = params.get("a");
  if (!a || !UUID.test(a)) { add(root, h("p", { class: "error" }, "A diff needs ?a=<session>&b=<session>.")); return; }
  let data;
  try { data = await api("/api/diff" + q({ a, b: params.get("b"), a_leaf: params.get("a_leaf"), b_leaf: params.get("b_leaf") })); }
  catch (err) { add(root, showError(err)); return; }
  document.title = "Compare · threadline";
  const side = (which, items, total) => h("div", { class: "col", "data-testid": "diff-" + which },
    h("h2", {}, h("a", { href: sessionHref(data[which].session_id, data[which].leaf && UUID.test(data[which].leaf) ? { leaf: data[which].leaf } : {}) }, data[which].title || data[which].session_id),
      h("span", { class: "muted" }, " · " + total + " item" + (total === 1 ? "" : "s") + " after the common point")),
    h("div", { class: "items" }, items.map((item) => renderItem(item, data[which].session_id, false, {}))),
    total > items.length ? h("p", { class: "muted" }, "… " + (total - items.length) + " more") : null);
  add(root, h("h1", {}, "Side by side"),
    h("div", { class: "common", "data-testid": "common" }, data.ancestor.a
      ? [h("strong", {}, data.common.count + " item" + (data.common.count === 1 ? "" : "s") + " in common"), h("span", { class: "muted" }, ", ending with:"),
        h("div", { class: "items" }, data.common.tail.map((item) => renderItem(item, data.a.session_id, false, {})))]
      : h("span", { class: "muted" }, "These branches share no message.")),
    h("div", { class: "diff" }, side("a", data.left, data.left_total), side("b", data.right, data.right_total)));
}

// ---------------------------------------------------------------------------------
// Usage

async function usagePage(id) {
  setNav("");
  const root = clear(app);
  let data;
  try { data = await api("/api/sessions/" + encodeURIComponent(sid(id)) + "/usage"); }
  catch (err) { add(root, showError(err)); return; }
  document.title = "Usage · threadline";
  const t = data.totals;
  const card = (k, v) => h("div", { class: "card" }, h("div", { class: "v" }, v), h("div", { class: "k" }, k));
  add(root, h("h1", {}, "Usage · ", h("a", { href: sessionHref(id) }, id.slice(0, 8))),
    h("div", { class: "cards", "data-testid": "usage-totals" }, card("API requests", fmtInt(t.requests)), card("input tokens", fmtInt(t.input)),
      card("cache reads", fmtInt(t.cache_read)), card("cache writes", fmtInt(t.cache_write)), card("output tokens", fmtInt(t.output)),
      card("estimated cost", fmtCost(t.cost)), data.reported_cost !== null ? card("cost reported by the CLI", fmtCost(data.reported_cost)) : null),
    h("h2", {}, "Per turn"), usageChart(data.turns),
    h("table", { class: "list", "data-testid": "usage-turns" },
      h("thead", {}, h("tr", {}, ["#", "Prompt", "Requests", "Input", "Cache read", "Cache write", "Output", "Cost"].map((x) => h("th", {}, x)))),
      h("tbody", {}, data.turns.map((turn) => h("tr", {},
        h("td", { class: "num" }, String(turn.index)),
        h("td", { class: "title" }, turn.uuid && UUID.test(turn.uuid) ? h("a", { href: sessionHref(id, { at: turn.uuid }) }, turn.prompt || "(prompt)") : turn.prompt || "(before the first prompt)"),
        h("td", { class: "num" }, fmtInt(turn.requests)), h("td", { class: "num" }, fmtInt(turn.input)),
        h("td", { class: "num" }, fmtInt(turn.cache_read)), h("td", { class: "num" }, fmtInt(turn.cache_write)),
        h("td", { class: "num" }, fmtInt(turn.output)), h("td", { class: "num" }, fmtCost(turn.cost)))))),
    data.subagents.length ? [h("h2", {}, "Subagents"), h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["Agent", "Requests", "Input", "Cache read", "Output", "Cost"].map((x) => h("th", {}, x)))),
      h("tbody", {}, data.subagents.map((a) => h("tr", {}, h("td", { class: "mono" }, "agent-" + a.agent_id), h("td", { class: "num" }, fmtInt(a.requests)),
        h("td", { class: "num" }, fmtInt(a.input)), h("td", { class: "num" }, fmtInt(a.cache_read)), h("td", { class: "num" }, fmtInt(a.output)), h("td", { class: "num" }, fmtCost(a.cost))))))] : null);
}

function usageChart(turns) {
  if (!turns.length) return h("p", { class: "muted" }, "No API usage recorded.");
  const keys = ["input", "cache_read", "cache_write", "output"];
  const W = Math.max(320, Math.min(1400, turns.length * 26 + 80)), H = 200, L = 50, B = 24;
  const bw = Math.max(3, Math.min(22, (W - L - 10) / turns.length - 4));
  const maxTok = Math.max(1, ...turns.map((t) => keys.reduce((n, k) => n + t[k], 0)));
  const maxCost = Math.max(1e-9, ...turns.map((t) => t.cost));
  const svg = s("svg", { class: "chart", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "tokens and cost per turn", "data-testid": "usage-chart" });
  add(svg, s("line", { class: "axis", x1: L, y1: H - B, x2: W - 5, y2: H - B }), s("text", { x: 2, y: 12 }, fmtInt(maxTok) + " tok"), s("text", { x: 2, y: H - B }, "0"));
  const step = (W - L - 10) / turns.length;
  const points = [];
  turns.forEach((t, i) => {
    let y0 = H - B;
    const x0 = L + i * step + (step - bw) / 2;
    for (const k of keys) {
      const hgt = (t[k] / maxTok) * (H - B - 16);
      if (hgt > 0) add(svg, s("rect", { class: "bar-" + k, x: x0, y: y0 - hgt, width: bw, height: hgt }, s("title", {}, k + ": " + fmtInt(t[k]))));
      y0 -= hgt;
    }
    points.push([x0 + bw / 2, H - B - (t.cost / maxCost) * (H - B - 16)]);
    if (turns.length <= 40) add(svg, s("text", { x: x0, y: H - 8 }, String(t.index)));
  });
  add(svg, s("polyline", { class: "cost", points: points.map((p) => p.join(",")).join(" ") }));
  for (const [px, py] of points) add(svg, s("circle", { class: "dot", cx: px, cy: py, r: 2.5 }));
  return h("div", {}, h("div", { class: "legend" }, keys.map((k) => h("span", {}, h("i", { class: "l-" + k }), k.replace("_", " "))), h("span", {}, h("i", { class: "l-cost" }), "cost (" + fmtCost(maxCost) + " max)")), svg);
}

// ---------------------------------------------------------------------------------

async function start() {
  try { INFO = await api("/api/info"); } catch (err) { add(clear(app), showError(err)); return; }
  document.getElementById("source").textContent = visible(INFO.source.label);
  const mode = document.getElementById("mode");
  mode.textContent = INFO.writes ? "writes enabled" : "read-only";
  if (INFO.writes) mode.classList.add("writes");
  route();
}

start();
