/* Generated lists: columns, filters, sort, paging, saved filters, ticket views. */
(function () {
  "use strict";
  var CB = window.CB, el = CB.el, meta = CB.data.entity;
  var fields = CB.fieldMap(meta);
  var state = { filters: {}, sort: meta.list.sort || "-updated_at", page: 1, per_page: 25, q: "",
                view: CB.data.view, extra: [] };
  var FORM = document.getElementById("cb-filter-form");

  (function readUrl() {
    var params = new URLSearchParams(location.search);
    params.forEach(function (v, k) {
      if (k === "sort") state.sort = v;
      else if (k === "page") state.page = parseInt(v, 10) || 1;
      else if (k === "q") state.q = v;
      else if (k === "view") state.view = v;
      else {
        state.filters[k] = v;
        var name = k.split("__")[0];
        if (meta.list.filters.indexOf(name) < 0 && state.extra.indexOf(name) < 0 && fields[name]) state.extra.push(name);
      }
    });
  })();

  function query() {
    var p = new URLSearchParams();
    Object.keys(state.filters).forEach(function (k) { if (state.filters[k] !== "") p.set(k, state.filters[k]); });
    if (state.q) p.set("q", state.q);
    p.set("sort", state.sort); p.set("page", state.page); p.set("per_page", state.per_page);
    if (state.view) p.set("view", state.view);
    return p;
  }

  function load() {
    var p = query();
    var url = new URLSearchParams(p); url.delete("per_page");
    history.replaceState(null, "", location.pathname + "?" + url.toString());
    var path = (meta.name === "ticket" ? "/tickets?" : "/records/" + meta.name + "?") + p.toString();
    var table = document.getElementById("cb-table");
    table.classList.add("cb-loading");
    return CB.api("GET", path).then(function (r) {
      table.classList.remove("cb-loading");
      if (!r.ok) { CB.toast(CB.errorText(r), "danger"); return; }
      drawTable(r.body);
    });
  }

  function drawTable(page) {
    var table = document.getElementById("cb-table");
    table.innerHTML = "";
    var cols = meta.list.columns.filter(function (c) { return fields[c]; });
    var head = el("tr", {}, cols.map(function (c) {
      var dir = state.sort === c ? "asc" : state.sort === "-" + c ? "desc" : "";
      return el("th", { className: "cb-sortable " + (dir ? "cb-sort-" + dir : ""), "data-col": c,
        onclick: function () { state.sort = state.sort === c ? "-" + c : c; state.page = 1; load(); } },
        [fields[c].label, el("i", { className: "fa fa-sort" + (dir === "asc" ? "-up" : dir === "desc" ? "-down" : "") })]);
    }));
    table.appendChild(el("thead", {}, head));
    var body = el("tbody");
    if (!page.items.length) body.appendChild(el("tr", {}, el("td", { colspan: cols.length, className: "cb-empty-row", text: CB.t("no_records") })));
    page.items.forEach(function (rec) {
      var href = "/ui/r/" + meta.name + "/" + rec.id;
      body.appendChild(el("tr", { "data-id": rec.id, className: "cb-row",
        onclick: function (ev) { if (!ev.target.closest("a,button")) location.href = href; } },
        cols.map(function (c, i) {
          var cell = CB.display(fields[c], rec[c], { noCall: false });
          if (i === 0) cell = el("a", { href: href, className: "cb-row-link" }, [cell]);
          return el("td", { "data-label": fields[c].label }, [cell]);
        })));
    });
    table.appendChild(body);
    var pages = Math.max(1, Math.ceil(page.total / state.per_page));
    var pager = document.getElementById("cb-pager");
    pager.innerHTML = "";
    pager.appendChild(el("span", { className: "cb-count", id: "cb-total", "data-total": page.total,
      text: CB.t("page_of", { page: state.page, pages: pages, total: page.total }) }));
    pager.appendChild(el("div", { className: "btn-group" }, [
      el("button", { className: "btn btn-default btn-sm", disabled: state.page <= 1, id: "cb-prev",
        onclick: function () { state.page--; load(); } }, CB.t("prev")),
      el("button", { className: "btn btn-default btn-sm", disabled: state.page >= pages, id: "cb-next",
        onclick: function () { state.page++; load(); } }, CB.t("next"))]));
  }

  /* ---- filters from the entity's list config, each widget by field type */
  function input(param, attrs) {
    var i = el("input", Object.assign({ className: "form-control input-sm", name: param, "data-param": param,
      value: state.filters[param] || "" }, attrs || {}));
    return i;
  }
  function filterWidget(name) {
    var f = fields[name];
    if (!f) return null;
    var id = "flt-" + name, box;
    if (f.type === "select" || f.type === "multiselect" || f.type === "boolean") {
      var opts = f.type === "boolean" ? [{ value: "true", label: CB.t("yes") }, { value: "false", label: CB.t("no") }] : f.options;
      var param = f.type === "multiselect" ? name + "__contains" : name;
      box = el("select", { className: "form-control input-sm", id: id, "data-param": param },
        [el("option", { value: "", text: CB.t("any") })].concat(opts.map(function (o) {
          return el("option", { value: o.value, text: o.label, selected: state.filters[param] === o.value });
        })));
    } else if (f.type === "user") {
      box = el("select", { className: "form-control input-sm", id: id, "data-param": name },
        [el("option", { value: "", text: CB.t("any") }), el("option", { value: "me", text: CB.t("mine"), selected: state.filters[name] === "me" })]);
      CB.users().then(function (users) {
        Object.keys(users).forEach(function (uid) {
          box.appendChild(el("option", { value: uid, text: users[uid].name || users[uid].email, selected: state.filters[name] === uid }));
        });
      });
    } else if (["integer", "decimal", "rating", "date", "datetime"].indexOf(f.type) >= 0) {
      var kind = f.type === "date" || f.type === "datetime" ? "date" : "number";
      box = el("div", { className: "cb-range" + (kind === "date" ? " cb-range-date" : ""), id: id }, [
        input(name + "__gte", { type: kind, placeholder: CB.t("from"), "aria-label": f.label + " " + CB.t("from"), id: id + "-from" }),
        input(name + "__lte", { type: kind, placeholder: CB.t("to"), "aria-label": f.label + " " + CB.t("to"), id: id + "-to" })]);
    } else if (f.type === "link" && f.entity && f.entity !== "*" && CB.linkWidget) {
      var w = CB.linkWidget(f, state.filters[name] ? parseInt(state.filters[name], 10) : null, id);
      w.node.querySelector("input[type=hidden]").setAttribute("data-param", name);
      w.node.addEventListener("change", function () { state.filters = readFilters(); state.page = 1; load(); });
      box = w.node;
    } else if (f.type === "link") {
      box = input(name, { type: "number", id: id, placeholder: "#" });
    } else if (f.type === "phone") {
      box = input(name, { type: "tel", id: id });
    } else {
      box = input(name + "__contains", { type: "text", id: id });
    }
    return el("div", { className: "form-group cb-filter", "data-field": name }, [el("label", { for: id, text: f.label }), box]);
  }
  function drawFilters() {
    FORM.innerHTML = "";
    FORM.appendChild(el("h3", { text: CB.t("filter") }));
    meta.list.filters.concat(state.extra).forEach(function (n) { var w = filterWidget(n); if (w) FORM.appendChild(w); });
    var more = el("select", { className: "form-control input-sm", id: "cb-more-filters", "aria-label": CB.t("add_filter"),
      onchange: function () { if (more.value) { state.extra.push(more.value); drawFilters(); } } },
      [el("option", { value: "", text: CB.t("add_filter") })].concat(Object.keys(fields).filter(function (n) {
        return meta.list.filters.indexOf(n) < 0 && state.extra.indexOf(n) < 0 && fields[n].type !== "table" && n !== "title";
      }).map(function (n) { return el("option", { value: n, text: fields[n].label }); })));
    FORM.appendChild(el("div", { className: "form-group" }, more));
    FORM.appendChild(el("div", { className: "cb-filter-actions" }, [
      el("button", { type: "submit", className: "btn btn-primary btn-sm", id: "cb-apply", text: CB.t("apply") }),
      el("button", { type: "button", className: "btn btn-link btn-sm", id: "cb-clear", text: CB.t("clear"),
        onclick: function () { state.filters = {}; state.extra = []; state.page = 1; drawFilters(); load(); } })]));
  }
  function readFilters() {
    var out = {};
    CB.qsa("[data-param]", FORM).forEach(function (i) { if (i.value !== "") out[i.getAttribute("data-param")] = i.value; });
    return out;
  }
  FORM.addEventListener("submit", function (ev) { ev.preventDefault(); state.filters = readFilters(); state.page = 1; load(); });
  FORM.addEventListener("change", function (ev) {
    if (ev.target.tagName === "SELECT" && ev.target.id !== "cb-more-filters") { state.filters = readFilters(); state.page = 1; load(); }
  });

  /* ---- saved filters (personal or shared with the team) */
  function drawSaved() {
    var box = document.getElementById("cb-saved");
    CB.api("GET", "/saved-filters?entity=" + encodeURIComponent(meta.name)).then(function (r) {
      box.innerHTML = "";
      box.appendChild(el("h3", { text: CB.t("saved_filters") }));
      var list = el("ul", { className: "cb-saved-list", id: "cb-saved-list" });
      ((r.body && r.body.items) || []).forEach(function (s) {
        list.appendChild(el("li", {}, el("a", { href: "#", "data-saved": s.name, onclick: function (ev) {
          ev.preventDefault(); state.filters = Object.assign({}, s.filters); state.page = 1;
          state.extra = Object.keys(s.filters).map(function (k) { return k.split("__")[0]; })
            .filter(function (n) { return meta.list.filters.indexOf(n) < 0; });
          drawFilters(); load();
        } }, [s.shared ? el("i", { className: "fa fa-users", title: CB.t("shared") }) : el("i", { className: "fa fa-user" }), " " + s.name])));
      });
      box.appendChild(list);
      var name = el("input", { className: "form-control input-sm", id: "cb-filter-name", placeholder: CB.t("filter_name") });
      var shared = el("input", { type: "checkbox", id: "cb-filter-shared" });
      box.appendChild(el("form", { className: "cb-save-filter", onsubmit: function (ev) {
        ev.preventDefault();
        CB.api("POST", "/saved-filters", { entity: meta.name, name: name.value, filters: readFilters(), shared: shared.checked })
          .then(function (res) { if (res.ok) { CB.toast(CB.t("saved"), "success"); drawSaved(); } else CB.toast(CB.errorText(res), "danger"); });
      } }, [name, el("label", { className: "checkbox-inline" }, [shared, " " + CB.t("shared")]),
           el("button", { className: "btn btn-default btn-sm", type: "submit", id: "cb-save-filter", text: CB.t("save_filter") })]));
    });
  }

  /* ---- ticket views as tabs */
  function drawViews() {
    var tabs = document.getElementById("cb-views");
    if (!CB.data.views || !CB.data.views.length) { tabs.remove(); return; }
    CB.data.views.forEach(function (v) {
      tabs.appendChild(el("li", { className: v === state.view ? "active" : "" }, el("a", { href: "#", "data-view": v, id: "view-" + v,
        onclick: function (ev) {
          ev.preventDefault(); state.view = v; state.page = 1;
          CB.qsa("li", tabs).forEach(function (li) { li.classList.remove("active"); });
          ev.target.parentNode.classList.add("active"); load();
        } }, CB.t("views." + v))));
    });
  }

  /* ---- export what the list shows (its filters and search, the caller's visibility) */
  CB.qsa("[data-format]", document.getElementById("cb-export-group")).forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      var p = query();  // the list's own filters, search and view; every row, not a page
      ["sort", "page", "per_page"].forEach(function (k) { p.delete(k); });
      if (meta.name !== "ticket") p.delete("view");
      p.set("format", a.getAttribute("data-format"));
      var box = document.getElementById("cb-export-status");
      box.className = "cb-export-status alert alert-info";
      box.textContent = CB.t("exporting");
      CB.startJob("/export/" + meta.name + "?" + p.toString()).then(function (r) {
        if (!r.ok) { box.className = "cb-export-status alert alert-danger"; box.textContent = CB.errorText(r); return; }
        CB.followJob(r.body.job, function (job, failed) {
          if (!job) { box.className = "cb-export-status alert alert-danger"; box.textContent = CB.errorText(failed); return; }
          box.textContent = CB.t("exporting") + " " + CB.jobText(job);
          if (job.status === "failed") { box.className = "cb-export-status alert alert-danger"; box.textContent = String(job.error || CB.t("error")); }
          if (job.status !== "done") return;
          box.className = "cb-export-status alert alert-success";
          box.innerHTML = "";
          box.appendChild(el("span", { id: "cb-export-done", text: CB.t("exported", { rows: (job.result || {}).rows || 0 }) + " " }));
          CB.jobFiles(job).forEach(function (link) { box.appendChild(link); link.click(); });
        });
      });
    });
  });

  var q = document.getElementById("cb-q"), timer = null;
  q.value = state.q;
  q.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.q = q.value; state.page = 1; load(); }, 300);
  });
  drawViews(); drawFilters(); drawSaved(); load();
})();
