// tracekit ui: a single-page viewer for the local trace store.
//
// Hand-written, no build step, no dependencies. Trace content is untrusted: every piece of
// it reaches the page through textContent or createElement/setAttribute, never through HTML
// parsing (the Content-Security-Policy forbids inline script and, with Trusted Types, any
// assignment of a string to innerHTML). Links are only ever "#/..." routes built here.
"use strict";

(function () {
  const PAGE_QUERY = new URLSearchParams(location.search);
  const TOKEN = PAGE_QUERY.get("token");
  const REFRESH_MS = Math.max(250, Number(PAGE_QUERY.get("refresh")) || 3000);
  const ROW_H = 24; // px, one span row of the trace tree (must match .row in style.css)
  const MAX_INDENT_LEVELS = 24; // deeper spans stop moving right and show their depth
  const INDENT_PX = 14;
  const TEXT_LIMIT = 20000; // characters shown before "show all"
  const HEX_ID = /^[0-9a-f]{6,32}$/;
  const SPAN_TYPES = [
    "LLM", "CHAT_MODEL", "EMBEDDING", "TOOL", "RETRIEVER", "RERANKER", "AGENT", "CHAIN",
    "PARSER", "MEMORY", "GUARDRAIL", "EVALUATOR", "UNKNOWN",
  ];

  // -- DOM helpers -------------------------------------------------------------------------

  const SAFE_ATTRS = new Set([
    "id", "for", "role", "tabindex", "type", "name", "value", "placeholder", "list",
    "autocomplete", "spellcheck", "colspan", "aria-label", "aria-expanded", "aria-selected",
    "aria-pressed", "aria-live", "min", "max", "size", "disabled",
  ]);

  /** Build an element. props: cls, text, title, href ("#..." only), attrs, data, on. */
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    if (props) {
      if (props.cls) el.className = props.cls;
      if (props.text != null) el.textContent = String(props.text);
      if (props.title != null) el.title = String(props.title);
      if (props.href != null) el.setAttribute("href", safeHref(props.href));
      if (props.attrs) {
        for (const [k, v] of Object.entries(props.attrs)) {
          if (v == null || v === false) continue;
          if (!SAFE_ATTRS.has(k)) throw new Error("attribute not allowed: " + k);
          el.setAttribute(k, v === true ? "" : String(v));
        }
      }
      if (props.data) for (const [k, v] of Object.entries(props.data)) el.dataset[k] = String(v);
      if (props.on) for (const [k, f] of Object.entries(props.on)) el.addEventListener(k, f);
    }
    append(el, kids);
    return el;
  }

  /** Replace the children of el (null and false are skipped, unlike replaceChildren). */
  function fill(el, ...kids) {
    el.replaceChildren();
    append(el, kids);
  }

  function append(el, kids) {
    for (const kid of kids) {
      if (kid == null || kid === false) continue;
      if (Array.isArray(kid)) append(el, kid);
      else if (kid instanceof Node) el.appendChild(kid);
      else el.appendChild(document.createTextNode(String(kid)));
    }
  }

  /** Only in-page routes become links: a javascript: or http: URL from a trace never does. */
  function safeHref(url) {
    return typeof url === "string" && url.startsWith("#/") ? url : "#/";
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const kid of kids) {
      if (kid == null) continue;
      el.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  function svgTitle(text) {
    const t = document.createElementNS(SVG_NS, "title");
    t.textContent = text;
    return t;
  }

  // -- formatting --------------------------------------------------------------------------

  function fmtMs(ms) {
    if (ms == null || !isFinite(ms)) return "–";
    if (ms < 1) return Math.round(ms * 1000) + " µs";
    if (ms < 1000) return ms.toFixed(1) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(2) + " s";
    const m = Math.floor(ms / 60000);
    const s = Math.round((ms % 60000) / 1000);
    return m + "m " + String(s).padStart(2, "0") + "s";
  }

  function fmtCost(c) {
    if (c == null) return "–";
    if (c === 0) return "$0";
    if (c < 1) return "$" + c.toFixed(6).replace(/0+$/, "").replace(/\.$/, "");
    return "$" + MONEY_FORMAT.format(c);
  }

  const INT_FORMAT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const MONEY_FORMAT = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function fmtInt(n) {
    return n == null ? "–" : INT_FORMAT.format(Math.round(n));
  }

  function fmtCompact(n) {
    if (n == null) return "–";
    const a = Math.abs(n);
    const short = (x) => String(Math.round(x * 100) / 100);
    if (a >= 1e9) return short(n / 1e9) + "G";
    if (a >= 1e6) return short(n / 1e6) + "M";
    if (a >= 1e4) return String(Math.round(n / 1e3)) + "k";
    if (a >= 1e3) return short(n / 1e3) + "k";
    return short(n);
  }

  function fmtPct(r) {
    return r == null ? "–" : (r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1) + "%";
  }

  function totalTokens(usage) {
    if (!usage) return null;
    if (usage.total_tokens != null) return usage.total_tokens;
    if (usage.input_tokens != null || usage.output_tokens != null) {
      return (usage.input_tokens || 0) + (usage.output_tokens || 0);
    }
    return null;
  }

  function tokensTitle(usage) {
    if (!usage) return "";
    return Object.entries(usage).map(([k, v]) => k + ": " + fmtInt(v)).join("\n");
  }

  function pad2(n) {
    return String(n).padStart(2, "0");
  }

  function fmtTime(ns, withDate) {
    const d = new Date(ns / 1e6);
    const time = pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
    if (withDate === false) return time;
    return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " + time;
  }

  function fmtAgo(ns) {
    const s = (Date.now() - ns / 1e6) / 1000;
    if (s < 0) return "just now";
    if (s < 60) return Math.floor(s) + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 86400) return Math.floor(s / 3600) + "h ago";
    return Math.floor(s / 86400) + "d ago";
  }

  function typeClass(type) {
    return "t-" + (SPAN_TYPES.includes(type) ? type : "UNKNOWN");
  }

  function statusBadge(status, extra) {
    const err = status === "ERROR";
    return h("span", { cls: "badge " + (err ? "badge-err" : "badge-ok") }, status, extra || null);
  }

  function isObj(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }

  function json(v) {
    try {
      return JSON.stringify(v, null, 2);
    } catch (e) {
      return String(v);
    }
  }

  // -- the API -----------------------------------------------------------------------------

  async function api(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v == null || v === "") continue;
      if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
      else q.append(k, String(v));
    }
    if (TOKEN) q.set("token", TOKEN);
    const qs = q.toString();
    const resp = await fetch(path + (qs ? "?" + qs : ""), {
      headers: { Accept: "application/json" },
      cache: "no-store",
      credentials: "same-origin",
    });
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (!resp.ok) {
      const err = new Error((body && body.error) || "HTTP " + resp.status);
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  function errorBox(err) {
    const missing = err && err.status === 404 && /no trace store|no trace file/.test(err.message);
    return h(
      "div",
      { cls: "notice " + (missing ? "notice-info" : "notice-err"), attrs: { role: "status" } },
      err && err.message ? err.message : String(err),
      missing
        ? h("div", { cls: "muted" },
          "Traces appear here as soon as tracekit writes them: configure(exporters=['sqlite']).")
        : null,
    );
  }

  // -- routing -----------------------------------------------------------------------------

  const view = document.getElementById("view");
  let cleanup = null;
  let viewGen = 0;
  let info = null;

  function parseHash() {
    const hash = location.hash.replace(/^#/, "") || "/traces";
    const qi = hash.indexOf("?");
    const path = qi < 0 ? hash : hash.slice(0, qi);
    const params = new URLSearchParams(qi < 0 ? "" : hash.slice(qi + 1));
    const parts = path.split("/").filter(Boolean).map((p) => {
      try {
        return decodeURIComponent(p);
      } catch (e) {
        return p;
      }
    });
    return { parts, params };
  }

  function route() {
    if (cleanup) cleanup();
    cleanup = null;
    viewGen += 1;
    const { parts, params } = parseHash();
    const page = parts[0] || "traces";
    for (const a of document.querySelectorAll(".nav a")) {
      const on = a.dataset.nav === page || (a.dataset.nav === "traces" && page === "trace") ||
        (a.dataset.nav === "sessions" && page === "session");
      a.classList.toggle("active", on);
    }
    view.replaceChildren();
    view.className = "view-" + page;
    if (page === "trace") traceView(parts[1] || "", params);
    else if (page === "sessions") sessionList(params);
    else if (page === "session") sessionView(parts.slice(1).join("/"), params);
    else if (page === "overview") overview(params);
    else traceList(params);
  }

  function go(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v != null && v !== "") q.set(k, String(v));
    }
    const qs = q.toString();
    location.hash = "#" + path + (qs ? "?" + qs : "");
  }

  function loadInfo() {
    api("/api/info").then((data) => {
      info = data;
      const el = document.getElementById("store-path");
      el.textContent = data.store;
      el.title = "Trace store (" + data.kind + ")" + (data.exists ? "" : ": not created yet");
      const list = document.getElementById("models-list");
      if (list) fillModels(list);
    }).catch(() => {});
  }

  function fillModels(list) {
    list.replaceChildren(...((info && info.models) || []).map((m) => h("option", { attrs: { value: m } })));
  }

  // -- trace list --------------------------------------------------------------------------

  const LIST_FILTERS = [
    ["text", "Search", "words in names, inputs, outputs, errors"],
    ["model", "Model", "gpt-4o*"],
    ["status", "Status", ""],
    ["since", "Since", "1h, 7d, 2024-06-01"],
    ["until", "Until", "ISO date or time"],
    ["tag", "Tags", "env=prod, team=x"],
    ["user", "User", "user id"],
    ["session", "Session", "session id"],
  ];

  function traceList(params) {
    const gen = viewGen;
    const limit = Math.min(500, Math.max(1, Number(params.get("limit")) || 50));
    const offset = Math.max(0, Number(params.get("offset")) || 0);
    const filters = {};
    for (const [key] of LIST_FILTERS) filters[key] = params.get(key) || "";
    let paused = false;
    let shown = null; // ids currently in the table
    let loading = false;

    const inputs = {};
    const fields = LIST_FILTERS.map(([key, label, hint]) => {
      let input;
      if (key === "status") {
        input = h("select", { attrs: { name: key } },
          h("option", { attrs: { value: "" }, text: "any" }),
          h("option", { attrs: { value: "OK" }, text: "OK" }),
          h("option", { attrs: { value: "ERROR" }, text: "ERROR" }));
        input.value = filters[key];
        input.addEventListener("change", apply);
      } else {
        input = h("input", {
          attrs: {
            name: key, type: "text", placeholder: hint, value: filters[key], autocomplete: "off",
            spellcheck: "false", list: key === "model" ? "models-list" : null,
          },
        });
      }
      inputs[key] = input;
      return h("label", { cls: "field field-" + key }, h("span", { text: label }), input);
    });
    const modelsList = h("datalist", { attrs: { id: "models-list" } });
    fillModels(modelsList);

    function apply(ev) {
      if (ev) ev.preventDefault();
      const next = { limit: limit === 50 ? null : limit };
      for (const [key] of LIST_FILTERS) next[key] = inputs[key].value.trim();
      go("/traces", next);
    }

    const form = h("form", { cls: "filters", on: { submit: apply } },
      fields,
      h("div", { cls: "field-buttons" },
        h("button", { cls: "btn btn-primary", attrs: { type: "submit" }, text: "Apply" }),
        h("button", {
          cls: "btn", attrs: { type: "button" }, text: "Clear",
          on: { click: () => go("/traces", {}) },
        })),
      modelsList);

    const status = h("span", { cls: "muted" });
    const live = h("button", {
      cls: "btn btn-small live on", attrs: { type: "button", "aria-pressed": "true" },
      title: "New traces appear automatically on the first page",
      on: {
        click: () => {
          paused = !paused;
          live.classList.toggle("on", !paused);
          live.setAttribute("aria-pressed", String(!paused));
          live.textContent = paused ? "Paused" : "Live";
          if (!paused) load();
        },
      },
    }, "Live");
    const message = h("div");
    const tbody = h("tbody");
    const table = h("table", { cls: "list traces-table" },
      h("thead", {}, h("tr", {},
        ["Time", "Name", "Status", "Duration", "Spans", "Tokens", "Cost", "Models", "User / Session"]
          .map((c, i) => h("th", { cls: i >= 3 && i <= 6 ? "num" : "", text: c })))),
      tbody);
    const prev = h("button", {
      cls: "btn", attrs: { type: "button", disabled: offset === 0 }, text: "← Newer",
      on: { click: () => go("/traces", { ...filters, limit: limit === 50 ? null : limit, offset: Math.max(0, offset - limit) || null }) },
    });
    const next = h("button", {
      cls: "btn", attrs: { type: "button", disabled: true }, text: "Older →",
      on: { click: () => go("/traces", { ...filters, limit: limit === 50 ? null : limit, offset: offset + limit }) },
    });
    const pager = h("div", { cls: "pager" }, prev, next,
      h("label", { cls: "page-size" }, "Per page ",
        (() => {
          const sel = h("select", {}, [25, 50, 100, 200].map((n) => h("option", { attrs: { value: n }, text: n })));
          sel.value = String(limit);
          sel.addEventListener("change", () => go("/traces", { ...filters, limit: sel.value }));
          return sel;
        })()));

    view.append(
      h("section", { cls: "page" },
        form,
        h("div", { cls: "list-head" }, status, offset === 0 ? live : h("span", { cls: "muted", text: "Auto-refresh is on for the first page." })),
        message,
        h("div", { cls: "table-wrap" }, table),
        pager));

    function row(t, fresh) {
      const open = (ev) => {
        if (ev.target instanceof Element && ev.target.closest("a")) return;
        location.hash = "#/trace/" + t.trace_id;
      };
      const tokens = totalTokens(t.usage);
      const models = t.models || [];
      return h("tr", { cls: "clickable" + (t.status === "ERROR" ? " err" : "") + (fresh ? " fresh" : ""), data: { traceId: t.trace_id }, on: { click: open } },
        h("td", { cls: "nowrap", title: fmtAgo(t.start_time_ns) }, fmtTime(t.start_time_ns)),
        h("td", { cls: "name-cell" },
          h("a", { href: "#/trace/" + t.trace_id, text: t.name || "(unnamed)", title: t.trace_id })),
        h("td", { title: t.error_count ? t.error_count + " of " + t.span_count + " spans failed" : null },
          statusBadge(t.status, t.error_count && t.status !== "ERROR" ? " (" + t.error_count + ")" : null)),
        h("td", { cls: "num" }, fmtMs(t.duration_ms)),
        h("td", { cls: "num" }, fmtInt(t.span_count)),
        h("td", { cls: "num", title: tokensTitle(t.usage) }, fmtInt(tokens)),
        h("td", { cls: "num" }, fmtCost(t.cost_usd)),
        h("td", { cls: "models" }, models.slice(0, 2).map((m) => h("span", { cls: "chip", text: m })),
          models.length > 2 ? h("span", { cls: "muted", text: " +" + (models.length - 2), title: models.join(", ") }) : null),
        h("td", { cls: "who" },
          t.user_id ? h("span", { cls: "user", text: t.user_id }) : null,
          t.session_id ? h("a", { cls: "session", href: "#/session/" + encodeURIComponent(t.session_id), text: t.session_id }) : null));
    }

    function load() {
      if (loading || gen !== viewGen) return;
      loading = true;
      const query = { ...filters, limit, offset };
      api("/api/traces", query).then((data) => {
        if (gen !== viewGen) return;
        message.replaceChildren();
        const ids = data.traces.map((t) => t.trace_id);
        const same = shown && shown.length === ids.length && shown.every((x, i) => x === ids[i]);
        if (!same) {
          const before = new Set(shown || []);
          tbody.replaceChildren(...data.traces.map((t) => row(t, shown !== null && !before.has(t.trace_id))));
          shown = ids;
        }
        next.disabled = !data.has_more;
        status.textContent = data.traces.length
          ? "Traces " + (offset + 1) + "–" + (offset + data.traces.length) + (data.has_more ? "" : " (end)")
          : "No traces match these filters.";
      }).catch((err) => {
        if (gen !== viewGen) return;
        message.replaceChildren(errorBox(err));
        if (shown === null) status.textContent = "";
      }).finally(() => {
        loading = false;
      });
    }

    load();
    const timer = setInterval(() => {
      if (offset === 0 && !paused && !document.hidden) load();
    }, REFRESH_MS);
    cleanup = () => clearInterval(timer);
  }

  // -- one trace ---------------------------------------------------------------------------

  function traceView(id, params) {
    const gen = viewGen;
    if (!HEX_ID.test(id)) {
      view.append(h("section", { cls: "page" }, errorBox(new Error("not a trace id: " + id))));
      return;
    }
    const holder = h("section", { cls: "page trace-page" }, h("p", { cls: "muted", text: "Loading trace…" }));
    view.append(holder);
    api("/api/traces/" + encodeURIComponent(id)).then((data) => {
      if (gen !== viewGen) return;
      fill(holder, );
      const explorer = new TraceExplorer(data, params.get("span"));
      holder.append(traceHeader(data), explorer.el);
      explorer.start();
      cleanup = () => explorer.stop();
    }).catch((err) => {
      if (gen !== viewGen) return;
      fill(holder, h("a", { href: "#/traces", cls: "back", text: "← Traces" }), errorBox(err));
    });
  }

  function traceHeader(t) {
    const facts = [
      ["Started", fmtTime(t.start_time_ns)],
      ["Duration", fmtMs(t.duration_ms)],
      ["Spans", fmtInt(t.span_count) + (t.error_count ? " (" + t.error_count + " failed)" : "")],
      ["Tokens", fmtInt(totalTokens(t.usage)), tokensTitle(t.usage)],
      ["Cost", fmtCost(t.cost_usd)],
    ];
    if (t.models && t.models.length) facts.push(["Models", t.models.join(", ")]);
    if (t.user_id) facts.push(["User", t.user_id]);
    const tags = Object.entries(t.tags || {});
    return h("div", { cls: "trace-head" },
      h("div", { cls: "trace-title" },
        h("a", { href: "#/traces", cls: "back", text: "← Traces" }),
        h("h1", { text: t.name || "(unnamed)" }),
        statusBadge(t.status),
        h("code", { cls: "muted tid", text: t.trace_id })),
      h("div", { cls: "facts" },
        facts.map(([k, v, title]) => h("span", { cls: "fact", title: title || null }, h("b", { text: k }), " ", v)),
        t.session_id ? h("span", { cls: "fact" }, h("b", { text: "Session" }), " ",
          h("a", { href: "#/session/" + encodeURIComponent(t.session_id), text: t.session_id })) : null,
        tags.length ? h("span", { cls: "fact" }, h("b", { text: "Tags" }), " ",
          tags.map(([k, v]) => h("span", { cls: "chip", text: k + "=" + v }))) : null,
        Object.keys(t.metadata || {}).length
          ? h("span", { cls: "fact" }, h("b", { text: "Metadata" }), " ", h("code", { text: JSON.stringify(t.metadata) }))
          : null,
        t.has_root ? null : h("span", { cls: "fact warn", text: "Only late spans of this trace were stored" })));
  }

  /**
   * The span tree and its waterfall, side by side, one row per visible span. Only the rows in
   * the viewport exist in the DOM (a trace of any width or depth costs the same to scroll),
   * the tree is walked with index arithmetic (no recursion), and the span panel is built for
   * the selected span only.
   */
  class TraceExplorer {
    constructor(data, selectedId) {
      this.data = data;
      const spans = (this.spans = data.spans || []);
      const n = spans.length;
      this.end = new Int32Array(n); // last index of each span's subtree (spans are in tree order)
      this.parent = new Int32Array(n);
      const stack = [];
      for (let i = 0; i < n; i++) {
        while (stack.length && spans[stack[stack.length - 1]].depth >= spans[i].depth) {
          this.end[stack.pop()] = i - 1;
        }
        this.parent[i] = stack.length ? stack[stack.length - 1] : -1;
        stack.push(i);
      }
      while (stack.length) this.end[stack.pop()] = n - 1;
      let t0 = Infinity;
      let t1 = -Infinity;
      for (const s of spans) {
        if (s.start_time_ns < t0) t0 = s.start_time_ns;
        if (s.end_time_ns > t1) t1 = s.end_time_ns;
      }
      if (!n) {
        t0 = data.start_time_ns;
        t1 = data.end_time_ns;
      }
      this.t0 = t0;
      this.total = Math.max(t1 - t0, 1);
      this.collapsed = new Uint8Array(n);
      this.selected = -1;
      this.query = "";
      this.visible = new Int32Array(0);
      this.frame = 0;
      const sel = selectedId ? spans.findIndex((s) => s.span_id === selectedId) : -1;
      this.initial = sel >= 0 ? sel : 0;
      this.build();
    }

    build() {
      const types = [...new Set(this.spans.map((s) => s.span_type))];
      this.rows = h("div", { cls: "rows" });
      this.spacer = h("div", { cls: "spacer" }, this.rows);
      this.scroller = h("div", {
        cls: "scroller", attrs: { tabindex: 0, role: "tree", "aria-label": "Spans" },
        on: {
          scroll: () => this.schedule(),
          keydown: (ev) => this.key(ev),
          click: (ev) => this.click(ev),
        },
      }, this.spacer);
      this.count = h("span", { cls: "muted" });
      const filter = h("input", {
        cls: "span-filter",
        attrs: { type: "search", placeholder: "Filter spans by name, type, model", autocomplete: "off", spellcheck: "false" },
        on: { input: (ev) => { this.query = ev.target.value.trim().toLowerCase(); this.refresh(); } },
      });
      const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
        h("span", { cls: "tick" + (f === 1 ? " last" : ""), text: fmtMs((this.total * f) / 1e6) }));
      ticks.forEach((el, i) => { el.style.left = i * 25 + "%"; });
      this.panel = h("aside", { cls: "panel", attrs: { "aria-live": "polite" } });
      this.el = h("div", { cls: "explorer" },
        h("div", { cls: "tree-pane" },
          h("div", { cls: "toolbar" },
            h("button", { cls: "btn btn-small", attrs: { type: "button" }, text: "Expand all", on: { click: () => { this.collapsed.fill(0); this.refresh(); } } }),
            h("button", { cls: "btn btn-small", attrs: { type: "button" }, text: "Collapse all", on: { click: () => this.collapseAll() } }),
            this.spans.some((s) => s.status === "ERROR")
              ? h("button", { cls: "btn btn-small btn-err", attrs: { type: "button" }, text: "Next error", on: { click: () => this.nextError() } })
              : null,
            filter,
            this.count),
          h("div", { cls: "legend" }, types.map((t) => h("span", { cls: "legend-item" }, h("span", { cls: "sw " + typeClass(t) }), t))),
          h("div", { cls: "tl-head" }, h("div", { cls: "cell-tree", text: "Span" }), h("div", { cls: "cell-wf axis" }, ticks)),
          this.scroller),
        this.panel);
    }

    start() {
      this.refresh();
      this.select(this.initial, true);
      this.onResize = () => this.schedule();
      window.addEventListener("resize", this.onResize);
    }

    stop() {
      window.removeEventListener("resize", this.onResize);
      if (this.frame) cancelAnimationFrame(this.frame);
    }

    collapseAll() {
      for (let i = 0; i < this.spans.length; i++) this.collapsed[i] = this.spans[i].child_count > 0 ? 1 : 0;
      if (this.spans.length) this.collapsed[0] = 0; // keep the root's children in view
      this.refresh();
      // The selection moves up to its nearest ancestor still in view.
      let i = this.selected;
      while (i >= 0 && this.pos[i] < 0) i = this.parent[i];
      if (i >= 0 && i !== this.selected) this.select(i, true);
    }

    /** Recompute the visible rows (collapse state or filter changed) and redraw. */
    refresh() {
      const spans = this.spans;
      const n = spans.length;
      const out = new Int32Array(n);
      let k = 0;
      if (this.query) {
        const keep = new Uint8Array(n);
        for (let i = 0; i < n; i++) {
          const s = spans[i];
          const hay = (s.name + " " + s.span_type + " " + (s.model || "")).toLowerCase();
          if (hay.includes(this.query)) {
            for (let p = i; p >= 0 && !keep[p]; p = this.parent[p]) keep[p] = 1;
          }
        }
        for (let i = 0; i < n; i++) if (keep[i]) out[k++] = i;
        this.count.textContent = k + " of " + n + " spans";
      } else {
        for (let i = 0; i < n; ) {
          out[k++] = i;
          i = this.collapsed[i] ? this.end[i] + 1 : i + 1;
        }
        this.count.textContent = n + " spans";
      }
      this.visible = out.subarray(0, k);
      this.pos = new Int32Array(n).fill(-1);
      for (let j = 0; j < k; j++) this.pos[this.visible[j]] = j;
      this.spacer.style.height = k * ROW_H + "px";
      this.draw();
    }

    schedule() {
      if (!this.frame) {
        this.frame = requestAnimationFrame(() => {
          this.frame = 0;
          this.draw();
        });
      }
    }

    /** Create the DOM rows for the spans in (and just around) the viewport. */
    draw() {
      const top = this.scroller.scrollTop;
      const height = this.scroller.clientHeight || 600;
      const first = Math.max(0, Math.floor(top / ROW_H) - 10);
      const last = Math.min(this.visible.length, Math.ceil((top + height) / ROW_H) + 10);
      const made = [];
      for (let j = first; j < last; j++) made.push(this.row(this.visible[j], j));
      this.rows.replaceChildren(...made);
    }

    row(i, j) {
      const s = this.spans[i];
      const err = s.status === "ERROR";
      const level = Math.min(s.depth, MAX_INDENT_LEVELS);
      const indent = h("span", { cls: "indent" });
      indent.style.width = level * INDENT_PX + "px";
      const hasKids = s.child_count > 0;
      const open = !this.collapsed[i] || !!this.query;
      const toggle = hasKids
        ? h("button", { cls: "tog", attrs: { type: "button", tabindex: -1, "aria-label": open ? "Collapse" : "Expand" }, data: { toggle: i }, text: open ? "▾" : "▸" })
        : h("span", { cls: "tog" });
      const left = ((s.start_time_ns - this.t0) / this.total) * 100;
      const width = ((s.end_time_ns - s.start_time_ns) / this.total) * 100;
      const bar = h("div", { cls: "bar " + typeClass(s.span_type) + (err ? " bar-err" : "") });
      bar.style.left = Math.min(Math.max(left, 0), 100) + "%";
      bar.style.width = Math.max(Math.min(width, 100 - left), 0) + "%";
      const dur = h("span", { cls: "dur", text: fmtMs(s.duration_ms) });
      if (width > 22) {
        dur.classList.add("dur-in");
        dur.style.right = Math.max(0, 100 - left - width) + "%";
      } else if (left + width > 75) {
        dur.style.right = Math.max(0, 100 - left) + "%";
      } else {
        dur.style.left = left + width + "%";
      }
      const el = h("div", {
        cls: "row" + (err ? " row-err" : "") + (i === this.selected ? " sel" : ""),
        attrs: { role: "treeitem", "aria-selected": i === this.selected ? "true" : "false", "aria-expanded": hasKids ? String(open) : null },
        data: { i },
        title: s.name + " · " + s.span_type + " · " + fmtMs(s.duration_ms) + (err && s.error ? " · " + (s.error.type || "error") : ""),
      },
      h("div", { cls: "cell-tree" },
        indent,
        toggle,
        s.depth > MAX_INDENT_LEVELS ? h("span", { cls: "depth", text: "L" + s.depth }) : null,
        h("span", { cls: "sw " + typeClass(s.span_type) }),
        h("span", { cls: "nm", text: s.name || "(unnamed)" }),
        err ? h("span", { cls: "err-mark", text: "!" }) : null,
        s.model ? h("span", { cls: "row-meta", text: s.model }) : null),
      h("div", { cls: "cell-wf" }, bar, dur));
      el.style.top = j * ROW_H + "px";
      return el;
    }

    click(ev) {
      const target = ev.target instanceof Element ? ev.target : null;
      const rowEl = target && target.closest(".row");
      if (!rowEl) return;
      const i = Number(rowEl.dataset.i);
      if (target.closest(".tog") && target.closest(".tog").dataset.toggle != null) {
        this.toggle(i);
        return;
      }
      this.select(i, false);
    }

    toggle(i) {
      if (this.query || this.spans[i].child_count === 0) return;
      this.collapsed[i] = this.collapsed[i] ? 0 : 1;
      if (this.collapsed[i] && this.selected > i && this.selected <= this.end[i]) this.select(i, false);
      this.refresh();
    }

    reveal(i) {
      for (let p = this.parent[i]; p >= 0; p = this.parent[p]) this.collapsed[p] = 0;
    }

    select(i, scroll) {
      if (i < 0 || i >= this.spans.length) return;
      if (this.pos[i] < 0) {
        if (this.query) {
          this.query = "";
          this.el.querySelector(".span-filter").value = "";
        }
        this.reveal(i);
        this.refresh();
      }
      this.selected = i;
      const s = this.spans[i];
      history.replaceState(null, "", "#/trace/" + this.data.trace_id + "?span=" + s.span_id);
      if (scroll) this.scrollTo(i);
      this.draw();
      this.panel.replaceChildren(spanPanel(s, this));
    }

    scrollTo(i) {
      const y = this.pos[i] * ROW_H;
      const top = this.scroller.scrollTop;
      const height = this.scroller.clientHeight || 600;
      if (y < top) this.scroller.scrollTop = y;
      else if (y + ROW_H > top + height) this.scroller.scrollTop = y - height / 2;
    }

    nextError() {
      const n = this.spans.length;
      for (let k = 1; k <= n; k++) {
        const i = (this.selected + k) % n;
        if (this.spans[i].status === "ERROR") {
          this.select(i, true);
          return;
        }
      }
    }

    key(ev) {
      const j = this.pos[this.selected];
      let target = -1;
      if (ev.key === "ArrowDown") target = this.visible[Math.min(j + 1, this.visible.length - 1)];
      else if (ev.key === "ArrowUp") target = this.visible[Math.max(j - 1, 0)];
      else if (ev.key === "Home") target = this.visible[0];
      else if (ev.key === "End") target = this.visible[this.visible.length - 1];
      else if (ev.key === "ArrowRight") {
        const s = this.spans[this.selected];
        if (s.child_count && this.collapsed[this.selected]) this.toggle(this.selected);
        else if (s.child_count) target = this.selected + 1;
      } else if (ev.key === "ArrowLeft") {
        if (this.spans[this.selected].child_count && !this.collapsed[this.selected] && !this.query) this.toggle(this.selected);
        else target = this.parent[this.selected];
      } else return;
      ev.preventDefault();
      if (target >= 0) this.select(target, true);
    }
  }

  // -- the span panel ----------------------------------------------------------------------

  function spanPanel(s, explorer) {
    const err = s.status === "ERROR";
    const offset = (s.start_time_ns - explorer.t0) / 1e6;
    const parentIdx = explorer.parent[explorer.spans.indexOf(s)];
    const facts = h("dl", { cls: "kv" },
      kv("Duration", fmtMs(s.duration_ms)),
      kv("Starts at", "+" + fmtMs(offset) + "  (" + fmtTime(s.start_time_ns) + ")"),
      kv("Span ID", h("code", { text: s.span_id })),
      parentIdx >= 0
        ? kv("Parent", h("button", { cls: "linkish", attrs: { type: "button" }, text: explorer.spans[parentIdx].name, on: { click: () => explorer.select(parentIdx, true) } }))
        : null,
      s.child_count ? kv("Children", String(s.child_count)) : null,
      s.late ? kv("Late", "ended after the trace's root") : null);
    const parts = [
      h("div", { cls: "panel-title" },
        h("span", { cls: "chip type-chip " + typeClass(s.span_type), text: s.span_type }),
        h("h2", { text: s.name || "(unnamed)" }),
        statusBadge(s.status)),
      facts,
    ];
    if (err || s.error) parts.push(errorSection(s));
    if (s.model || s.provider || s.usage || s.cost_usd != null) parts.push(llmSection(s));
    parts.push(ioSection("Inputs", s.inputs, false));
    parts.push(ioSection("Outputs", s.outputs, true));
    const attrs = Object.entries(s.attributes || {});
    if (attrs.length) {
      parts.push(section("Attributes", h("dl", { cls: "kv attrs" }, attrs.map(([k, v]) => kv(k, valueText(v))))));
    }
    if (s.events && s.events.length) {
      parts.push(section("Events", h("ol", { cls: "events" }, s.events.map((e) =>
        h("li", {},
          h("b", { text: e.name }), " ",
          h("span", { cls: "muted", text: "+" + fmtMs((e.time_ns - explorer.t0) / 1e6) }),
          e.attributes && Object.keys(e.attributes).length ? h("dl", { cls: "kv attrs" }, Object.entries(e.attributes).map(([k, v]) => kv(k, valueText(v)))) : null)))));
    }
    parts.push(rawJson("Raw span JSON", () => {
      const copy = { ...s };
      delete copy.depth;
      delete copy.child_count;
      return copy;
    }));
    return h("div", { cls: "panel-body" + (err ? " panel-err" : "") }, parts);
  }

  function kv(k, v) {
    return [h("dt", { text: k }), h("dd", {}, v)];
  }

  function section(title, ...body) {
    return h("section", { cls: "psec" }, h("h3", { text: title }), body);
  }

  function errorSection(s) {
    const e = s.error || {};
    const message = e.message || s.status_message || "";
    let stack = e.stacktrace;
    if (!stack && s.events) {
      const ev = s.events.find((x) => x.name === "exception");
      if (ev && ev.attributes) stack = ev.attributes["exception.stacktrace"];
    }
    return h("section", { cls: "psec error-box", attrs: { role: "alert" } },
      h("h3", { text: "Error" }),
      h("div", { cls: "err-line" }, h("b", { text: (e.type || "ERROR") + ": " }), longText(message)),
      s.status_message && s.status_message !== message ? h("div", { cls: "muted" }, "Status message: ", longText(s.status_message)) : null,
      stack ? details("Stack trace", () => h("pre", { cls: "stack" }, longText(stack)), true) : null);
  }

  function llmSection(s) {
    const rows = [];
    if (s.model) rows.push(kv("Model", s.model));
    if (s.provider) rows.push(kv("Provider", s.provider));
    if (s.cost_usd != null) rows.push(kv("Cost", fmtCost(s.cost_usd)));
    for (const [k, v] of Object.entries(s.usage || {})) rows.push(kv(k.replace(/_/g, " "), fmtInt(v)));
    return section("Model call", h("dl", { cls: "kv usage" }, rows));
  }

  function valueText(v) {
    if (typeof v === "string") return longText(v);
    return h("code", { cls: "json-inline" }, longText(JSON.stringify(v)));
  }

  /** A text node for possibly huge strings: the first TEXT_LIMIT characters, then a button. */
  function longText(text) {
    text = text == null ? "" : String(text);
    if (text.length <= TEXT_LIMIT) return document.createTextNode(text);
    const span = h("span", {}, text.slice(0, TEXT_LIMIT));
    const more = h("button", {
      cls: "linkish", attrs: { type: "button" }, text: "… show all " + fmtInt(text.length) + " characters",
      on: { click: () => { span.textContent = text; } },
    });
    span.append(more);
    return span;
  }

  /** A <details> whose body is built the first time it opens. */
  function details(label, build, open) {
    const el = h("details", { cls: "lazy" }, h("summary", { text: label }));
    let built = false;
    const fill = () => {
      if (el.open && !built) {
        built = true;
        el.append(build());
      }
    };
    el.addEventListener("toggle", fill);
    if (open) {
      el.open = true;
      fill();
    }
    return el;
  }

  function rawJson(label, get) {
    return details(label, () => h("pre", { cls: "json" }, longText(json(get()))), false);
  }

  function ioSection(title, value, isOutput) {
    if (value == null) return section(title, h("p", { cls: "muted", text: "not recorded" }));
    let chat = null;
    try {
      chat = toChat(value, isOutput);
    } catch (e) {
      chat = null;
    }
    const body = [];
    if (chat) {
      body.push(h("div", { cls: "chat" }, chat.messages.map(renderMessage)));
      const rest = Object.entries(chat.rest);
      if (rest.length) body.push(details("Request parameters (" + rest.length + ")", () => h("dl", { cls: "kv attrs" }, rest.map(([k, v]) => kv(k, valueText(v)))), false));
    } else {
      body.push(plainValue(value));
    }
    body.push(rawJson("Raw JSON", () => value));
    return section(title, body);
  }

  function plainValue(v) {
    if (typeof v === "string") return h("div", { cls: "text-block" }, longText(v));
    if (isObj(v) && Object.keys(v).length && Object.values(v).every((x) => x === null || typeof x !== "object")) {
      return h("dl", { cls: "kv args" }, Object.entries(v).map(([k, x]) => kv(k, typeof x === "string" ? h("span", { cls: "text-block" }, longText(x)) : h("code", { text: JSON.stringify(x) }))));
    }
    return h("pre", { cls: "json" }, longText(json(v)));
  }

  // -- chat messages: OpenAI chat and Responses, Anthropic messages ------------------------

  function looksLikeMessages(a) {
    return Array.isArray(a) && a.length > 0 &&
      a.every((m) => isObj(m) && (typeof m.role === "string" || typeof m.type === "string"));
  }

  /** Messages of a model call's inputs or outputs, or null when it is not chat-shaped. */
  function toChat(v, isOutput) {
    if (looksLikeMessages(v) && v.some((m) => typeof m.role === "string" || ["message", "function_call", "function_call_output", "reasoning"].includes(m.type))) {
      return { messages: v.flatMap(normMessage), rest: {} };
    }
    if (!isObj(v)) return null;
    const messages = [];
    const used = new Set();
    if (v.system != null && (typeof v.system === "string" || Array.isArray(v.system))) {
      messages.push({ role: "system", parts: blocks(v.system) });
      used.add("system");
    }
    if (typeof v.instructions === "string") {
      messages.push({ role: "system", label: "instructions", parts: [{ kind: "text", text: v.instructions }] });
      used.add("instructions");
    }
    if (looksLikeMessages(v.messages)) {
      messages.push(...v.messages.flatMap(normMessage));
      used.add("messages");
    }
    if (looksLikeMessages(v.input)) {
      messages.push(...v.input.flatMap(normMessage));
      used.add("input");
    } else if (typeof v.input === "string" && used.has("instructions")) {
      messages.push({ role: "user", parts: [{ kind: "text", text: v.input }] });
      used.add("input");
    }
    if (looksLikeMessages(v.output)) {
      messages.push(...v.output.flatMap(normMessage));
      used.add("output");
    }
    if (Array.isArray(v.choices) && v.choices.length && v.choices.every((c) => isObj(c) && isObj(c.message))) {
      messages.push(...v.choices.flatMap((c) => normMessage(c.message)));
      used.add("choices");
    }
    if (isOutput && !messages.length && typeof v.role === "string" &&
        ("content" in v || "tool_calls" in v || "refusal" in v)) {
      return { messages: normMessage(v), rest: {} };
    }
    if (!messages.length) return null;
    const rest = {};
    for (const [k, x] of Object.entries(v)) if (!used.has(k)) rest[k] = x;
    return { messages, rest };
  }

  function normMessage(m) {
    if (!isObj(m)) return [{ role: "message", parts: [{ kind: "json", value: m }] }];
    const type = m.type;
    if (type === "function_call" || type === "custom_tool_call") {
      return [{ role: "assistant", parts: [{ kind: "call", name: m.name, id: m.call_id || m.id, args: m.arguments != null ? m.arguments : m.input }] }];
    }
    if (type === "function_call_output" || type === "custom_tool_call_output") {
      return [{ role: "tool", parts: [{ kind: "result", id: m.call_id, content: m.output }] }];
    }
    if (type === "reasoning") {
      const texts = [...(m.summary || []), ...(m.content || [])].map((x) => (isObj(x) ? x.text : x)).filter((x) => typeof x === "string");
      return [{ role: "assistant", parts: [{ kind: "thinking", text: texts.join("\n\n") || "(reasoning; no summary recorded)" }] }];
    }
    if (typeof m.role !== "string" && type && type !== "message") {
      return [{ role: type, parts: [{ kind: "json", value: m }] }];
    }
    const role = typeof m.role === "string" ? m.role : "message";
    if (role === "tool" || role === "function") {
      return [{ role: "tool", name: m.name, parts: [{ kind: "result", id: m.tool_call_id, name: m.name, content: m.content }] }];
    }
    const parts = blocks(m.content);
    if (typeof m.refusal === "string" && m.refusal) parts.push({ kind: "refusal", text: m.refusal });
    if (Array.isArray(m.tool_calls)) {
      for (const tc of m.tool_calls) {
        const fn = isObj(tc) && isObj(tc.function) ? tc.function : tc || {};
        parts.push({ kind: "call", name: fn.name, id: tc && tc.id, args: fn.arguments != null ? fn.arguments : fn.input });
      }
    }
    if (isObj(m.function_call)) parts.push({ kind: "call", name: m.function_call.name, args: m.function_call.arguments });
    if (m.parsed != null) parts.push({ kind: "json", label: "parsed", value: m.parsed });
    if (!parts.length) parts.push({ kind: "empty" });
    return [{ role, name: typeof m.name === "string" ? m.name : null, parts }];
  }

  function blocks(content) {
    if (content == null) return [];
    if (typeof content === "string") return [{ kind: "text", text: content }];
    if (Array.isArray(content)) return content.map(block);
    return [block(content)];
  }

  function block(b) {
    if (typeof b === "string") return { kind: "text", text: b };
    if (!isObj(b)) return { kind: "json", value: b };
    switch (b.type) {
      case "text":
      case "input_text":
      case "output_text":
        return { kind: "text", text: b.text };
      case "thinking":
        return { kind: "thinking", text: b.thinking };
      case "redacted_thinking":
        return { kind: "thinking", text: "(redacted thinking)" };
      case "tool_use":
      case "server_tool_use":
        return { kind: "call", name: b.name, id: b.id, args: b.input };
      case "tool_result":
      case "web_search_tool_result":
        return { kind: "result", id: b.tool_use_id, content: b.content, error: !!b.is_error };
      case "image":
      case "image_url":
      case "input_image":
      case "document":
      case "input_file": {
        const src = b.image_url || b.source || b.file_id || b.url;
        const where = typeof src === "string" ? src : isObj(src) ? src.url || src.type || "" : "";
        return { kind: "media", text: b.type + (where ? ": " + String(where).slice(0, 200) : "") };
      }
      case "refusal":
        return { kind: "refusal", text: b.refusal };
      default:
        return typeof b.text === "string" ? { kind: "text", text: b.text } : { kind: "json", value: b };
    }
  }

  function renderMessage(m) {
    const role = String(m.role);
    const known = ["system", "developer", "user", "assistant", "tool"].includes(role) ? role : "other";
    return h("div", { cls: "msg role-" + known },
      h("div", { cls: "msg-role" }, role, m.label ? h("span", { cls: "muted", text: " (" + m.label + ")" }) : null,
        m.name ? h("span", { cls: "muted", text: " · " + m.name }) : null),
      m.parts.map(renderPart));
  }

  function renderPart(p) {
    switch (p.kind) {
      case "text":
        return h("div", { cls: "msg-text" }, longText(p.text));
      case "thinking": {
        const d = h("details", { cls: "thinking" }, h("summary", { text: "Thinking" }), h("div", { cls: "msg-text" }, longText(p.text)));
        d.open = true;
        return d;
      }
      case "call": {
        let args = p.args;
        if (typeof args === "string") {
          try {
            args = JSON.parse(args);
          } catch (e) {
            /* keep the string as it was recorded */
          }
        }
        return h("div", { cls: "tool-call" },
          h("div", { cls: "tool-head" }, h("span", { cls: "tool-icon", text: "⚙" }), " ", h("b", { text: p.name || "(tool)" }),
            p.id ? h("code", { cls: "muted", text: " " + p.id }) : null),
          args == null ? null : typeof args === "string" ? h("pre", { cls: "json" }, longText(args)) : h("pre", { cls: "json" }, longText(json(args))));
      }
      case "result": {
        const c = p.content;
        let body;
        if (typeof c === "string") body = h("div", { cls: "msg-text" }, longText(c));
        else if (Array.isArray(c)) body = h("div", {}, blocks(c).map(renderPart));
        else body = h("pre", { cls: "json" }, longText(json(c)));
        return h("div", { cls: "tool-result" + (p.error ? " tool-error" : "") },
          h("div", { cls: "tool-head" }, h("span", { cls: "tool-icon", text: "↩" }), " ", h("b", { text: p.error ? "Tool error" : "Tool result" }),
            p.id ? h("code", { cls: "muted", text: " " + p.id }) : null),
          body);
      }
      case "media":
        return h("div", { cls: "media muted", text: "[" + p.text + "]" });
      case "refusal":
        return h("div", { cls: "refusal" }, h("b", { text: "Refusal: " }), longText(p.text));
      case "empty":
        return h("div", { cls: "muted", text: "(no content)" });
      default:
        return h("pre", { cls: "json" }, p.label ? p.label + ": " : "", longText(json(p.value)));
    }
  }

  // -- overview ----------------------------------------------------------------------------

  const RANGES = [["24h", "24 h"], ["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"], ["all", "All"]];

  function overview(params) {
    const gen = viewGen;
    const range = RANGES.some(([r]) => r === params.get("range")) ? params.get("range") : "30d";
    const body = h("div", { cls: "overview-body" }, h("p", { cls: "muted", text: "Loading…" }));
    view.append(h("section", { cls: "page" },
      h("div", { cls: "overview-head" },
        h("h1", { text: "Overview" }),
        h("div", { cls: "segmented", attrs: { role: "group", "aria-label": "Time range" } },
          RANGES.map(([r, label]) => h("button", {
            cls: "btn btn-small" + (r === range ? " active" : ""), attrs: { type: "button", "aria-pressed": String(r === range) }, text: label,
            on: { click: () => go("/overview", { range: r }) },
          })))),
      body));
    api("/api/stats", { since: range === "all" ? null : range }).then((st) => {
      if (gen !== viewGen) return;
      fill(body, renderStats(st));
    }).catch((err) => {
      if (gen !== viewGen) return;
      fill(body, errorBox(err));
    });
  }

  function renderStats(st) {
    if (!st.traces) return [h("p", { cls: "muted", text: "No traces in this range." })];
    const days = st.by_day;
    const models = st.by_model;
    const sum = (xs, f) => xs.reduce((a, x) => a + (f(x) || 0), 0);
    const errors = sum(days, (d) => d.errors);
    const costKnown = days.some((d) => d.cost_usd != null);
    const tiles = h("div", { cls: "tiles" },
      tile("Traces", fmtInt(st.traces)),
      tile("Model calls", fmtInt(sum(models, (m) => m.calls))),
      tile("Tokens", fmtCompact(sum(days, (d) => d.total_tokens)), fmtInt(sum(days, (d) => d.total_tokens))),
      tile("Cost", costKnown ? fmtCost(sum(days, (d) => d.cost_usd)) : "–"),
      tile("Failed traces", fmtPct(errors / st.traces), fmtInt(errors) + " of " + fmtInt(st.traces)));
    const dayLabels = days.map((d) => d.day.slice(5));
    const dayTitles = days.map((d) => d.day);
    const perDay = h("div", { cls: "charts" },
      chart("Traces per day", barChart(dayLabels, dayTitles, [
        { name: "OK", cls: "s-ok", values: days.map((d) => d.traces - d.errors) },
        { name: "failed", cls: "s-err", values: days.map((d) => d.errors) }], fmtCompact, true)),
      chart("Tokens per day", barChart(dayLabels, dayTitles, [
        { name: "input", cls: "s-in", values: days.map((d) => d.input_tokens) },
        { name: "output", cls: "s-out", values: days.map((d) => d.output_tokens) }], fmtCompact, true)),
      chart("Cost per day", barChart(dayLabels, dayTitles, [
        { name: "cost", cls: "s-cost", values: days.map((d) => d.cost_usd || 0) }], fmtCost, true)),
      chart("Error rate per day", barChart(dayLabels, dayTitles, [
        { name: "failed traces", cls: "s-err", values: days.map((d) => d.error_rate) }], fmtPct, true)),
      chart("Trace latency per day", lineChart(dayLabels, dayTitles, [
        { name: "p50", cls: "s-p50", values: days.map((d) => d.p50_ms) },
        { name: "p95", cls: "s-p95", values: days.map((d) => d.p95_ms) }], fmtMs)));
    const names = models.map((m) => m.model);
    const perModel = models.length ? h("div", { cls: "charts" },
      chart("Calls per model", hbarChart(names, [
        { name: "OK", cls: "s-ok", values: models.map((m) => m.calls - m.errors) },
        { name: "failed", cls: "s-err", values: models.map((m) => m.errors) }], fmtCompact, true)),
      chart("Tokens per model", hbarChart(names, [
        { name: "input", cls: "s-in", values: models.map((m) => m.input_tokens) },
        { name: "output", cls: "s-out", values: models.map((m) => m.output_tokens) }], fmtCompact, true)),
      chart("Cost per model", hbarChart(names, [{ name: "cost", cls: "s-cost", values: models.map((m) => m.cost_usd || 0) }], fmtCost, true)),
      chart("Error rate per model", hbarChart(names, [{ name: "failed calls", cls: "s-err", values: models.map((m) => m.error_rate) }], fmtPct, true)),
      chart("Latency per model", hbarChart(names, [
        { name: "p50", cls: "s-p50", values: models.map((m) => m.p50_ms) },
        { name: "p95", cls: "s-p95", values: models.map((m) => m.p95_ms) }], fmtMs, false)))
      : h("p", { cls: "muted", text: "No model calls in this range." });
    const table = models.length ? h("div", { cls: "table-wrap" }, h("table", { cls: "list" },
      h("thead", {}, h("tr", {}, ["Model", "Provider", "Calls", "Errors", "Input tok", "Output tok", "Cost", "p50", "p95"].map((c, i) => h("th", { cls: i > 1 ? "num" : "", text: c })))),
      h("tbody", {}, models.map((m) => h("tr", {},
        h("td", { text: m.model }), h("td", { text: m.provider || "–" }),
        h("td", { cls: "num", text: fmtInt(m.calls) }),
        h("td", { cls: "num" + (m.errors ? " err-text" : ""), text: fmtPct(m.error_rate) }),
        h("td", { cls: "num", text: fmtInt(m.input_tokens) }),
        h("td", { cls: "num", text: fmtInt(m.output_tokens) }),
        h("td", { cls: "num", text: fmtCost(m.cost_usd) }),
        h("td", { cls: "num", text: fmtMs(m.p50_ms) }),
        h("td", { cls: "num", text: fmtMs(m.p95_ms) })))))) : null;
    return [tiles, h("h2", { text: "Per day" }), perDay, h("h2", { text: "Per model" }), perModel, table];
  }

  function tile(label, value, title) {
    return h("div", { cls: "tile", title: title || null }, h("div", { cls: "tile-value", text: value }), h("div", { cls: "tile-label", text: label }));
  }

  function chart(title, content) {
    return h("figure", { cls: "chart" }, h("figcaption", { text: title }), content);
  }

  function legend(series) {
    if (series.length < 2) return null;
    return h("div", { cls: "chart-legend" }, series.map((s) => h("span", { cls: "legend-item" }, h("span", { cls: "sw " + s.cls }), s.name)));
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  /** The frame of a chart over days: the SVG, a y grid with value labels up to ``max`` and
   *  thinned day labels; returns it with the plot's geometry. */
  function dayChartFrame(labels, max, fmt) {
    const W = 560, H = 200, L = 58, R = 8, T = 8, B = 24;
    const n = labels.length;
    const pw = W - L - R, ph = H - T - B;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img" });
    for (let k = 0; k <= 4; k++) {
      const y = T + ph - (ph * k) / 4;
      root.append(svg("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
      root.append(svg("text", { x: L - 6, y: y + 4, class: "axis-label", "text-anchor": "end" }, fmt((max * k) / 4)));
    }
    const slot = pw / Math.max(n, 1);
    const every = Math.max(1, Math.ceil(n / Math.floor(pw / 44)));
    for (let i = 0; i < n; i += every) {
      root.append(svg("text", { x: L + slot * i + slot / 2, y: H - 6, class: "axis-label", "text-anchor": "middle" }, labels[i]));
    }
    return { root, n, L, T, ph, slot };
  }

  /** Vertical bars, one group per day; stacked or side by side. Inline SVG, no library. */
  function barChart(labels, titles, series, fmt, stacked) {
    const totals = labels.map((_, i) => stacked ? series.reduce((a, s) => a + (s.values[i] || 0), 0) : Math.max(...series.map((s) => s.values[i] || 0)));
    const max = niceMax(Math.max(...totals));
    const { root, n, L, T, ph, slot } = dayChartFrame(labels, max, fmt);
    const bw = Math.max(1, Math.min(36, slot * 0.72));
    for (let i = 0; i < n; i++) {
      const x = L + slot * i + (slot - bw) / 2;
      let base = 0;
      series.forEach((s, si) => {
        const v = s.values[i] || 0;
        const hgt = (v / max) * ph;
        const w = stacked ? bw : bw / series.length;
        const xx = stacked ? x : x + w * si;
        const y = stacked ? T + ph - base - hgt : T + ph - hgt;
        root.append(svg("rect", { x: xx, y, width: Math.max(w - (stacked ? 0 : 1), 1), height: Math.max(hgt, 0), class: "bar-rect " + s.cls },
          svgTitle(titles[i] + " · " + s.name + ": " + fmt(v))));
        if (stacked) base += hgt;
      });
    }
    return h("div", {}, legend(series), root);
  }

  function lineChart(labels, titles, series, fmt) {
    const max = niceMax(Math.max(...series.flatMap((s) => s.values)));
    const { root, n, L, T, ph, slot } = dayChartFrame(labels, max, fmt);
    const xAt = (i) => L + slot * i + slot / 2;
    for (const s of series) {
      const pts = s.values.map((v, i) => xAt(i) + "," + (T + ph - (v / max) * ph)).join(" ");
      root.append(svg("polyline", { points: pts, class: "line " + s.cls }));
      s.values.forEach((v, i) => root.append(svg("circle", { cx: xAt(i), cy: T + ph - (v / max) * ph, r: n > 40 ? 1.5 : 3, class: "dot " + s.cls },
        svgTitle(titles[i] + " · " + s.name + ": " + fmt(v)))));
    }
    return h("div", {}, legend(series), root);
  }

  /** Horizontal bars, one row per model (long names fit better than under vertical bars). */
  function hbarChart(names, series, fmt, stacked) {
    const rowH = stacked ? 22 : 12 * series.length + 8;
    const W = 560, L = 170, R = 70, T = 4;
    const H = T + rowH * names.length + 4;
    const pw = W - L - R;
    const totals = names.map((_, i) => stacked ? series.reduce((a, s) => a + (s.values[i] || 0), 0) : Math.max(...series.map((s) => s.values[i] || 0)));
    const max = Math.max(...totals) || 1;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img" });
    names.forEach((name, i) => {
      const y = T + rowH * i;
      const short = name.length > 26 ? name.slice(0, 25) + "…" : name;
      root.append(svg("text", { x: L - 6, y: y + rowH / 2 + 4, class: "axis-label", "text-anchor": "end" }, short, svgTitle(name)));
      let x = L;
      series.forEach((s, si) => {
        const v = s.values[i] || 0;
        const w = (v / max) * pw;
        const bh = stacked ? rowH - 6 : 10;
        const by = stacked ? y + 3 : y + 4 + si * 12;
        root.append(svg("rect", { x: stacked ? x : L, y: by, width: Math.max(w, v > 0 ? 1 : 0), height: bh, class: "bar-rect " + s.cls },
          svgTitle(name + " · " + s.name + ": " + fmt(v))));
        if (!stacked) root.append(svg("text", { x: L + w + 4, y: by + 9, class: "axis-label" }, fmt(v)));
        if (stacked) x += w;
      });
      if (stacked) root.append(svg("text", { x: x + 4, y: y + rowH / 2 + 4, class: "axis-label" }, fmt(totals[i])));
    });
    return h("div", {}, legend(series), root);
  }

  // -- sessions ----------------------------------------------------------------------------

  function sessionList(params) {
    const gen = viewGen;
    const limit = 50;
    const offset = Math.max(0, Number(params.get("offset")) || 0);
    const user = params.get("user") || "";
    const since = params.get("since") || "";
    const userInput = h("input", { attrs: { type: "text", name: "user", value: user, placeholder: "user id", autocomplete: "off" } });
    const sinceInput = h("input", { attrs: { type: "text", name: "since", value: since, placeholder: "7d, 2024-06-01", autocomplete: "off" } });
    const apply = (ev) => {
      ev.preventDefault();
      go("/sessions", { user: userInput.value.trim(), since: sinceInput.value.trim() });
    };
    const tbody = h("tbody");
    const message = h("div");
    const next = h("button", { cls: "btn", attrs: { type: "button", disabled: true }, text: "Older →", on: { click: () => go("/sessions", { user, since, offset: offset + limit }) } });
    view.append(h("section", { cls: "page" },
      h("h1", { text: "Sessions" }),
      h("form", { cls: "filters", on: { submit: apply } },
        h("label", { cls: "field" }, h("span", { text: "User" }), userInput),
        h("label", { cls: "field" }, h("span", { text: "Active since" }), sinceInput),
        h("div", { cls: "field-buttons" }, h("button", { cls: "btn btn-primary", attrs: { type: "submit" }, text: "Apply" }))),
      message,
      h("div", { cls: "table-wrap" }, h("table", { cls: "list" },
        h("thead", {}, h("tr", {}, ["Session", "Users", "Traces", "Started", "Last trace", "Duration", "Tokens", "Cost", "Failed"].map((c, i) => h("th", { cls: i === 2 || i >= 5 ? "num" : "", text: c })))),
        tbody)),
      h("div", { cls: "pager" },
        h("button", { cls: "btn", attrs: { type: "button", disabled: offset === 0 }, text: "← Newer", on: { click: () => go("/sessions", { user, since, offset: Math.max(0, offset - limit) || null }) } }),
        next)));
    api("/api/sessions", { user, since, limit, offset }).then((data) => {
      if (gen !== viewGen) return;
      next.disabled = !data.has_more;
      if (!data.sessions.length) message.replaceChildren(h("p", { cls: "muted", text: "No sessions. Traces get a session id from update_current_trace(session_id=...)." }));
      tbody.replaceChildren(...data.sessions.map((s) => {
        const href = "#/session/" + encodeURIComponent(s.session_id);
        return h("tr", { cls: "clickable" + (s.error_traces ? " err" : ""), on: { click: (ev) => { if (!(ev.target instanceof Element && ev.target.closest("a"))) location.hash = href; } } },
          h("td", {}, h("a", { href, text: s.session_id })),
          h("td", { text: s.users.join(", ") || "–" }),
          h("td", { cls: "num", text: fmtInt(s.traces) }),
          h("td", { cls: "nowrap", text: fmtTime(s.first_start_ns) }),
          h("td", { cls: "nowrap", text: fmtTime(s.last_start_ns), title: fmtAgo(s.last_start_ns) }),
          h("td", { cls: "num", text: fmtMs(s.duration_ms) }),
          h("td", { cls: "num", text: fmtInt(s.total_tokens) }),
          h("td", { cls: "num", text: fmtCost(s.cost_usd) }),
          h("td", { cls: "num" + (s.error_traces ? " err-text" : ""), text: fmtInt(s.error_traces) }));
      }));
    }).catch((err) => {
      if (gen !== viewGen) return;
      message.replaceChildren(errorBox(err));
    });
  }

  function sessionView(sid) {
    const gen = viewGen;
    const holder = h("section", { cls: "page" }, h("p", { cls: "muted", text: "Loading session…" }));
    view.append(holder);
    api("/api/sessions/" + encodeURIComponent(sid)).then((s) => {
      if (gen !== viewGen) return;
      const turns = s.traces_list.map((t, i) => h("article", { cls: "turn" + (t.status === "ERROR" ? " turn-err" : "") },
        h("div", { cls: "turn-head" },
          h("span", { cls: "turn-n", text: "#" + (i + 1) }),
          h("a", { href: "#/trace/" + t.trace_id, text: t.name || "(unnamed)" }),
          statusBadge(t.status),
          h("span", { cls: "muted", text: fmtTime(t.start_time_ns) + " · " + fmtMs(t.duration_ms) + " · " + fmtInt(totalTokens(t.usage)) + " tokens · " + fmtCost(t.cost_usd) }),
          t.user_id ? h("span", { cls: "chip", text: t.user_id }) : null),
        t.input_preview != null ? h("div", { cls: "msg role-user" }, h("div", { cls: "msg-role", text: "input" }), h("div", { cls: "msg-text" }, longText(t.input_preview))) : null,
        t.output_preview != null ? h("div", { cls: "msg role-assistant" }, h("div", { cls: "msg-role", text: "output" }), h("div", { cls: "msg-text" }, longText(t.output_preview))) : null));
      fill(holder, 
        h("a", { href: "#/sessions", cls: "back", text: "← Sessions" }),
        h("div", { cls: "trace-title" }, h("h1", { text: "Session " + s.session_id })),
        h("div", { cls: "facts" },
          h("span", { cls: "fact" }, h("b", { text: "Traces" }), " ", fmtInt(s.traces)),
          h("span", { cls: "fact" }, h("b", { text: "Started" }), " ", fmtTime(s.first_start_ns)),
          h("span", { cls: "fact" }, h("b", { text: "Duration" }), " ", fmtMs(s.duration_ms)),
          h("span", { cls: "fact" }, h("b", { text: "Tokens" }), " ", fmtInt(s.total_tokens)),
          h("span", { cls: "fact" }, h("b", { text: "Cost" }), " ", fmtCost(s.cost_usd)),
          s.users.length ? h("span", { cls: "fact" }, h("b", { text: "Users" }), " ", s.users.join(", ")) : null,
          s.error_traces ? h("span", { cls: "fact err-text" }, h("b", { text: "Failed" }), " ", fmtInt(s.error_traces)) : null),
        s.truncated ? h("p", { cls: "notice notice-info", text: "Showing the first " + s.traces_list.length + " traces of this session." }) : null,
        h("div", { cls: "turns" }, turns));
    }).catch((err) => {
      if (gen !== viewGen) return;
      fill(holder, h("a", { href: "#/sessions", cls: "back", text: "← Sessions" }), errorBox(err));
    });
  }

  // -- start -------------------------------------------------------------------------------

  window.addEventListener("hashchange", route);
  loadInfo();
  route();
})();
