// Renders /openapi.json as a list of operations: method, path, summary,
// security, parameters, request body and responses with their schemas.
// Everything is built with DOM calls and textContent, never innerHTML, so
// no text of the document can become markup. No library, no CDN: the page
// must work offline.
"use strict";

(function () {
  const METHODS = ["get", "head", "post", "put", "patch", "delete", "options"];
  let doc = {};

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) e.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === "") continue;
      e.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return e;
  }

  // resolve follows a local $ref ("#/components/schemas/Token").
  function resolve(obj) {
    let seen = 0;
    while (obj && obj.$ref && seen++ < 20) {
      const parts = obj.$ref.replace(/^#\//, "").split("/");
      obj = parts.reduce((o, p) => (o ? o[p.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined), doc);
    }
    return obj || {};
  }

  function refName(obj) {
    return obj && obj.$ref ? obj.$ref.split("/").pop() : "";
  }

  // typeOf is a one-line description of a schema's type.
  function typeOf(s) {
    if (s.$ref) return refName(s);
    if (s.const !== undefined) return JSON.stringify(s.const);
    if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
    for (const k of ["oneOf", "anyOf"]) {
      if (s[k]) return s[k].map(typeOf).join(" | ");
    }
    let t = Array.isArray(s.type) ? s.type.join(" | ") : s.type || "any";
    if (t.startsWith("array") && s.items) t = "array of " + typeOf(s.items);
    if (s.format) t += " (" + s.format + ")";
    return t;
  }

  // schema renders a schema as a nested list of its properties.
  function schema(s, depth) {
    const name = refName(s);
    s = resolve(s);
    const box = el("div", { class: "schema" });
    if (name && depth === 0) box.append(el("div", { class: "schema-name" }, name));
    if (s.description && depth === 0) box.append(el("p", { class: "desc" }, s.description));
    const list = s.type === "array" || (Array.isArray(s.type) && s.type.includes("array")) ? resolve(s.items || {}) : s;
    const props = list.properties || {};
    const required = new Set(list.required || []);
    if (Object.keys(props).length === 0) {
      box.append(el("code", {}, typeOf(s)));
      return box;
    }
    if (list !== s) box.append(el("code", {}, "array of"));
    const ul = el("ul", { class: "props" });
    for (const [p, ps] of Object.entries(props)) {
      const r = resolve(ps);
      const li = el("li", {},
        el("code", { class: "prop" }, p),
        required.has(p) ? el("span", { class: "req" }, "required") : null,
        " ", el("code", { class: "type" }, typeOf(ps)),
        r.description ? el("span", { class: "desc" }, " — " + r.description) : null);
      const inner = r.type === "array" ? resolve(r.items || {}) : r;
      if (depth < 3 && inner.properties) li.append(schema(ps, depth + 1));
      ul.append(li);
    }
    box.append(ul);
    return box;
  }

  function content(c) {
    const out = [];
    for (const [type, media] of Object.entries(c || {})) {
      out.push(el("div", { class: "media" }, el("span", { class: "ctype" }, type), media.schema ? schema(media.schema, 0) : null));
    }
    return out;
  }

  function security(op) {
    const reqs = op.security !== undefined ? op.security : doc.security || [];
    if (reqs.length === 0) return el("p", { class: "sec" }, "No authentication.");
    const alts = reqs.map((req) => {
      const keys = Object.keys(req);
      if (keys.length === 0) return "none";
      return keys.map((k) => k + (req[k].length ? " [" + req[k].join(", ") + "]" : "")).join(" + ");
    });
    return el("p", { class: "sec" }, "Authentication: " + alts.join(" or "));
  }

  function parameters(params) {
    if (!params || params.length === 0) return null;
    const rows = params.map((p) => {
      p = resolve(p);
      return el("tr", {},
        el("td", {}, el("code", {}, p.name)),
        el("td", {}, p.in),
        el("td", {}, p.required ? "yes" : ""),
        el("td", {}, el("code", {}, typeOf(p.schema || {}))),
        el("td", {}, p.description || ""));
    });
    return el("table", { class: "params" },
      el("thead", {}, el("tr", {}, ["name", "in", "required", "type", "description"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows));
  }

  function responses(rs) {
    const ul = el("ul", { class: "responses" });
    for (const [code, r0] of Object.entries(rs || {})) {
      const r = resolve(r0);
      const headers = Object.keys(r.headers || {});
      ul.append(el("li", {},
        el("span", { class: "status s" + code[0] }, code), " ", r.description || "",
        headers.length ? el("span", { class: "hdrs" }, " headers: " + headers.join(", ")) : null,
        content(r.content)));
    }
    return ul;
  }

  function operation(path, method, op, pathParams) {
    const id = (op.operationId || method + path).replace(/[^A-Za-z0-9_-]/g, "_");
    const body = op.requestBody ? resolve(op.requestBody) : null;
    return el("details", { class: "op", id: id },
      el("summary", {},
        el("span", { class: "method m-" + method }, method.toUpperCase()),
        el("code", { class: "path" }, path),
        el("span", { class: "sum" }, op.summary || "")),
      op.description ? el("p", { class: "desc" }, op.description) : null,
      security(op),
      parameters([...(pathParams || []), ...(op.parameters || [])]),
      body ? el("section", {}, el("h4", {}, "Request body" + (body.required ? " (required)" : "")), body.description ? el("p", { class: "desc" }, body.description) : null, content(body.content)) : null,
      el("section", {}, el("h4", {}, "Responses"), responses(op.responses)));
  }

  function schemes() {
    const ss = (doc.components || {}).securitySchemes || {};
    const ul = el("ul", { class: "schemes" });
    for (const [name, s] of Object.entries(ss)) {
      let text = s.type;
      if (s.type === "apiKey") text += ": header " + s.name;
      if (s.type === "oauth2" && s.flows && s.flows.password) {
        const f = s.flows.password;
        text += " password flow: token URL " + f.tokenUrl + (f.refreshUrl ? ", refresh URL " + f.refreshUrl : "") +
          "; scopes " + Object.keys(f.scopes || {}).join(", ");
      }
      ul.append(el("li", {}, el("code", {}, name), " — " + text, s.description ? el("p", { class: "desc" }, s.description) : null));
    }
    return ul;
  }

  function render() {
    const info = doc.info || {};
    document.getElementById("title").textContent = (info.title || "API") + (info.version ? " API, version " + info.version : "");
    const summary = document.getElementById("summary");
    summary.replaceChildren(el("span", {}, info.description || ""), " ", el("a", { href: "/openapi.json" }, "OpenAPI " + (doc.openapi || "") + " document"));
    const toc = document.getElementById("toc");
    const ops = document.getElementById("ops");
    ops.append(el("section", { class: "auth" }, el("h2", {}, "Authentication"), schemes()));
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const m of METHODS) {
        if (!item[m]) continue;
        const node = operation(path, m, item[m], item.parameters);
        if (location.hash === "#" + node.id) node.open = true;
        ops.append(node);
        toc.append(el("a", { href: "#" + node.id, class: "m-" + m }, m.toUpperCase() + " " + path));
      }
    }
  }

  fetch("/openapi.json", { headers: { Accept: "application/json" } })
    .then((r) => {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    })
    .then((d) => {
      doc = d;
      render();
    })
    .catch((e) => {
      document.getElementById("summary").textContent = "Could not load /openapi.json: " + e.message;
    });
})();
