/* Callboard screens: what every page shares (data, API calls, expressions, display). */
(function () {
  "use strict";
  var CB = (window.CB = {});
  var node = document.getElementById("cb-data");
  CB.data = node ? JSON.parse(node.textContent) : {};

  CB.t = function (key, args) {
    var text = (CB.data.strings || {})[key] || key;
    Object.keys(args || {}).forEach(function (k) {
      text = text.split("%(" + k + ")s").join(String(args[k]));
    });
    return text;
  };

  /* fetch against the REST API with the session cookie and the page's CSRF token */
  CB.api = function (method, path, body, opts) {
    opts = opts || {};
    var headers = { Accept: "application/json", "X-CSRFToken": CB.data.csrf };
    Object.keys(opts.headers || {}).forEach(function (k) { headers[k] = opts.headers[k]; });
    var payload = body;
    if (body !== undefined && !(body instanceof FormData) && typeof body !== "string") {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    } else if (typeof body === "string") {
      headers["Content-Type"] = opts.type || "text/plain; charset=utf-8";
    }
    var url = (opts.raw ? "" : CB.data.api) + path;
    return fetch(url, { method: method, headers: headers, body: payload,
                        credentials: "same-origin" })
      .then(function (resp) {
        return resp.text().then(function (text) {
          var json = null;
          try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
          return { ok: resp.ok, status: resp.status, body: json };
        });
      });
  };

  CB.errorText = function (res) {
    var errs = (res.body && res.body.errors) || {};
    var parts = [];
    Object.keys(errs).forEach(function (k) {
      var msgs = Array.isArray(errs[k]) ? errs[k].join(", ") : String(errs[k]);
      parts.push(k === "_" ? msgs : k + ": " + msgs);
    });
    return parts.join("; ") || CB.t("error") + " (" + res.status + ")";
  };

  CB.el = function (tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") e.textContent = v;
      else if (k === "html") e.innerHTML = v;
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), v);
      else if (k === "className") e.className = v;
      else e.setAttribute(k, v === true ? "" : v);
    });
    [].concat(children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
    return e;
  };

  CB.toast = function (message, kind) {
    var box = document.getElementById("cb-toasts");
    if (!box) return;
    var t = CB.el("div", { className: "cb-toast cb-toast-" + (kind || "info"), role: "status", text: message });
    box.appendChild(t);
    setTimeout(function () { t.classList.add("cb-toast-out"); }, 3500);
    setTimeout(function () { t.remove(); }, 4200);
  };

  /* ---- the expression language of visible_if / required_if (mirrors engine/expressions.py) */
  function num(v, textOk) {
    if (typeof v === "boolean" || v === null || v === undefined) return null;
    if (typeof v === "number") return v;
    if (textOk && typeof v === "string" && /^\s*[-+]?[0-9]+(\.[0-9]*)?\s*$/.test(v)) return parseFloat(v);
    return null;
  }
  function pair(a, b) {
    if (num(a, false) !== null || num(b, false) !== null) {
      var na = num(a, true), nb = num(b, true);
      if (na !== null && nb !== null) return [na, nb];
    }
    return [a, b];
  }
  function eq(a, b) {
    if (a === null || a === undefined || b === null || b === undefined)
      return (a === null || a === undefined) && (b === null || b === undefined);
    if (typeof a === "boolean" || typeof b === "boolean") return a === b;
    if (Array.isArray(a) && Array.isArray(b))
      return a.length === b.length && a.every(function (x, i) { return eq(x, b[i]); });
    var p = pair(a, b);
    return p[0] === p[1];
  }
  function isIn(a, b) {
    if (Array.isArray(b)) {
      if (Array.isArray(a)) return a.some(function (x) { return isIn(x, b); });
      return b.some(function (x) { return eq(a, x); });
    }
    if (typeof b === "string") return typeof a === "string" && b.indexOf(a) >= 0;
    return false;
  }
  function order(op, a, b) {
    if (a === null || a === undefined || b === null || b === undefined) return false;
    if (typeof a === "boolean" || typeof b === "boolean") return false;
    var p = pair(a, b);
    if (typeof p[0] !== typeof p[1]) return false;
    return op === "<" ? p[0] < p[1] : op === "<=" ? p[0] <= p[1] : op === ">" ? p[0] > p[1] : p[0] >= p[1];
  }
  function lookup(values, name) {
    if (Object.prototype.hasOwnProperty.call(values, name)) return values[name];
    var cur = values;
    var parts = name.split(".");
    for (var i = 0; i < parts.length; i++) {
      if (cur === null || typeof cur !== "object" || !(parts[i] in cur)) return null;
      cur = cur[parts[i]];
    }
    return cur;
  }
  function truth(v) { return Array.isArray(v) ? v.length > 0 : !!v; }
  CB.evaluate = function (n, values) {
    var k = n.k, kids = n.c || [];
    if (k === "lit") return n.v === undefined ? null : n.v;
    if (k === "name") return lookup(values, n.v);
    if (k === "list") return kids.map(function (c) { return CB.evaluate(c, values); });
    if (k === "not") return !truth(CB.evaluate(kids[0], values));
    if (k === "and") return kids.every(function (c) { return truth(CB.evaluate(c, values)); });
    if (k === "or") return kids.some(function (c) { return truth(CB.evaluate(c, values)); });
    var a = CB.evaluate(kids[0], values), b = CB.evaluate(kids[1], values);
    if (k === "==") return eq(a, b);
    if (k === "!=") return !eq(a, b);
    if (k === "in") return isIn(a, b);
    if (k === "not in") return !isIn(a, b);
    return order(k, a, b);
  };
  CB.condition = function (meta, source, values) {
    var tree = (meta.expressions || {})[source];
    return tree ? truth(CB.evaluate(tree, values)) : true;
  };

  /* ---- metadata helpers */
  CB.fieldsOf = function (meta, type) {
    var fields = meta.fields.slice();
    (meta.ticket_types || []).forEach(function (tt) {
      if (tt.name === type) fields = fields.concat(tt.fields);
    });
    return fields.concat(meta.builtins || []);
  };
  CB.fieldMap = function (meta, type) {
    var map = {};
    CB.fieldsOf(meta, type).forEach(function (f) { if (!map[f.name]) map[f.name] = f; });
    if (!map.id) map.id = { name: "id", type: "integer", label: "#" };
    return map;
  };

  var userCache = null;
  CB.users = function () {
    if (!userCache) userCache = CB.api("GET", "/users").then(function (r) {
      var map = {};
      ((r.body && r.body.items) || []).forEach(function (u) { map[u.id] = u; });
      return map;
    });
    return userCache;
  };
  var titleCache = {};
  CB.titles = function (entity, ids) {
    var want = ids.filter(function (id) { return id && !((entity + ":" + id) in titleCache); });
    var done = want.length ? CB.api("GET", "/records/" + entity + "?per_page=100&id__in=" + want.join(","))
      .then(function (r) {
        ((r.body && r.body.items) || []).forEach(function (rec) { titleCache[entity + ":" + rec.id] = rec.title || ("#" + rec.id); });
      }) : Promise.resolve();
    return done.then(function () {
      var out = {};
      ids.forEach(function (id) { out[id] = titleCache[entity + ":" + id] || ("#" + id); });
      return out;
    });
  };

  CB.stars = function (value, max) {
    var s = "";
    for (var i = 1; i <= (max || 5); i++) s += i <= (value || 0) ? "\u2605" : "\u2606";
    return CB.el("span", { className: "cb-stars", title: String(value || 0), text: s });
  };

  CB.callButton = function (number) {
    return CB.el("button", {
      type: "button", className: "btn btn-xs btn-success cb-call", title: CB.t("call") + " " + number,
      "data-number": number,
      onclick: function (ev) {
        ev.preventDefault(); ev.stopPropagation();
        CB.api("POST", "/calls/click-to-call", { number: number }).then(function (r) {
          if (r.ok) CB.toast(CB.t("calling", { number: number }), "success");
          else CB.toast(r.status === 404 ? CB.t("unavailable") : CB.errorText(r), "danger");
        });
      }
    }, [CB.el("i", { className: "fa fa-phone" })]);
  };

  CB.locale = function () {
    return CB.data.locale === "zh" ? "zh-CN" : CB.data.locale === "vi" ? "vi-VN" : "en-GB";
  };

  CB.formatDate = function (value, withTime) {
    if (!value) return "";
    var d = new Date(value);
    if (isNaN(d.getTime())) return String(value);
    var loc = CB.locale();
    return withTime ? d.toLocaleString(loc, { dateStyle: "medium", timeStyle: "short" })
                    : d.toLocaleDateString(loc, { dateStyle: "medium" });
  };

  /* a value as the user reads it; link and user fields are filled in once known */
  CB.display = function (field, value, opts) {
    opts = opts || {};
    if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length))
      return CB.el("span", { className: "cb-empty", text: "\u2014" });
    var t = field.type;
    if ((t === "select" || t === "multiselect") && field.options) {
      var labels = {};
      field.options.forEach(function (o) { labels[o.value] = o.label; });
      return CB.el("span", { className: "cb-chip cb-chip-" + field.name, text: [].concat(value).map(function (v) { return labels[v] || v; }).join(", ") });
    }
    if (t === "boolean") return CB.el("span", { text: value ? CB.t("yes") : CB.t("no") });
    if ((t === "integer" || t === "decimal") && typeof value === "number")
      return CB.el("span", { className: "cb-number", text: value.toLocaleString(CB.locale()) });
    if (t === "rating") return CB.stars(value, field.max || 5);
    if (t === "date") return CB.el("span", { text: CB.formatDate(value, false) });
    if (t === "datetime") return CB.el("span", { text: CB.formatDate(value, true) });
    if (t === "phone") return CB.el("span", { className: "cb-phone" }, [value + " ", opts.noCall ? null : CB.callButton(value)]);
    if (t === "email") return CB.el("a", { href: "mailto:" + value, text: value });
    if (t === "url") return CB.el("a", { href: value, target: "_blank", rel: "noopener", text: value });
    if (t === "user") {
      var span = CB.el("span", { className: "cb-user", text: [].concat(value).map(function (v) { return "#" + v; }).join(", ") });
      CB.users().then(function (users) {
        span.textContent = [].concat(value).map(function (v) { var u = users[v]; return u ? (u.name || u.email) : "#" + v; }).join(", ");
      });
      return span;
    }
    if (t === "link") {
      var entity = field.entity, id = value;
      if (value && typeof value === "object") { entity = value.entity; id = value.id; }
      var a = CB.el("a", { href: "/ui/r/" + entity + "/" + id, className: "cb-link", text: "#" + id });
      CB.titles(entity, [id]).then(function (m) { a.textContent = m[id]; });
      return a;
    }
    if (t === "table") {
      var kids = field.fields || [];
      return CB.el("table", { className: "table table-condensed cb-mini-table" }, [
        CB.el("thead", {}, CB.el("tr", {}, kids.map(function (k) { return CB.el("th", { text: k.label }); }))),
        CB.el("tbody", {}, value.map(function (row) {
          return CB.el("tr", {}, kids.map(function (k) { return CB.el("td", {}, CB.display(k, row[k.name], { noCall: true })); }));
        }))]);
    }
    if (t === "file") return CB.el("span", { text: value.name || String(value) });
    return CB.el("span", { text: String(value) });
  };

  /* ---- the navbar's search over customers, contacts and tickets */
  (function globalSearch() {
    var box = document.getElementById("cb-search"), menu = document.getElementById("cb-search-results");
    if (!box || !CB.data.api) return;
    var timer = null, wrap = document.getElementById("cb-search-box");
    function run() {
      var q = box.value.trim();
      if (q.length < 2) { wrap.classList.remove("open"); return; }
      CB.api("GET", "/search?limit=8&q=" + encodeURIComponent(q)).then(function (r) {
        menu.innerHTML = "";
        var items = (r.ok && r.body.items) || [];
        if (!items.length) menu.appendChild(CB.el("li", { className: "dropdown-header", text: r.ok ? CB.t("no_records") : CB.errorText(r) }));
        items.forEach(function (it) {
          menu.appendChild(CB.el("li", {}, CB.el("a", { href: "/ui/r/" + it.entity + "/" + it.id, "data-hit": it.entity + ":" + it.id },
            [CB.el("span", { className: "cb-hit-entity", text: (CB.data.entity_labels || {})[it.entity] || it.entity }), " " + (it.title || "#" + it.id)])));
        });
        wrap.classList.add("open");
      });
    }
    box.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 250); });
    document.getElementById("cb-search-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var first = menu.querySelector("a[href]");
      if (first) location.href = first.getAttribute("href"); else run();
    });
    box.addEventListener("blur", function () { setTimeout(function () { wrap.classList.remove("open"); }, 200); });
  })();

  /* start a job (import, export, bulk delete, resume, revert): answered at once, so the
     page can follow it; without Redis a large job runs in a process of its own meanwhile */
  CB.startJob = function (path, body) {
    return CB.api("POST", path, body, { headers: { Prefer: "respond-async" } });
  };

  /* poll a job until it is done or failed; onStep(job) after each look */
  CB.followJob = function (id, onStep) {
    return new Promise(function (resolve) {
      (function look() {
        CB.api("GET", "/jobs/" + id).then(function (r) {
          if (!r.ok) { onStep(null, r); resolve(null); return; }
          onStep(r.body, r);
          if (r.body.status === "done" || r.body.status === "failed") resolve(r.body);
          else setTimeout(look, 800);
        });
      })();
    });
  };

  /* a job's progress in words: status, percentage, stage */
  CB.jobText = function (job) {
    var pct = Math.round((job.progress || 0) * 100);
    return CB.t("job_status", { status: CB.t("status." + job.status) }) +
      (job.status === "running" ? " · " + pct + "%" : "") +
      (job.stage ? " · " + CB.t("stage." + job.stage) : "");
  };

  /* links to a job's files (export, rejected rows) */
  CB.jobFiles = function (job) {
    var res = job.result || {};
    return Object.keys(job.files || {}).map(function (name) {
      var rejected = name === res.errors_file || /error|reject/i.test(name);
      return CB.el("a", { href: job.files[name], className: "cb-job-file", download: name },
        [CB.el("i", { className: "fa fa-file-" + (/\.csv$/i.test(name) ? "csv" : "excel") }),
         " " + (rejected ? CB.t("rejected_rows") : name)]);
    });
  };

  CB.qs = function (sel, root) { return (root || document).querySelector(sel); };
  CB.qsa = function (sel, root) { return [].slice.call((root || document).querySelectorAll(sel)); };
})();
