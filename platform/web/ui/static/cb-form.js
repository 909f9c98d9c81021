/* Generated forms: sections from the entity's `form`, a widget per field type, the
   visible_if / required_if conditions evaluated live, the server's errors shown inline. */
(function () {
  "use strict";
  var CB = window.CB, el = CB.el;

  function linkWidget(f, value, id) {
    var hidden = el("input", { type: "hidden", "data-value": "1" });
    var box = el("input", { type: "search", className: "form-control", id: id, placeholder: CB.t("type_to_search"), autocomplete: "off" });
    var menu = el("ul", { className: "dropdown-menu cb-link-menu" });
    var wrap = el("div", { className: "dropdown cb-link-select" }, [box, hidden, menu]);
    function set(rid, title) { hidden.value = rid || ""; box.value = title || ""; wrap.dispatchEvent(new Event("change", { bubbles: true })); }
    if (value) CB.titles(f.entity, [value]).then(function (m) { hidden.value = value; box.value = m[value]; });
    var timer = null;
    box.addEventListener("input", function () {
      hidden.value = "";
      clearTimeout(timer);
      timer = setTimeout(function () {
        CB.api("GET", "/records/" + f.entity + "?per_page=8&q=" + encodeURIComponent(box.value)).then(function (r) {
          menu.innerHTML = "";
          ((r.body && r.body.items) || []).forEach(function (rec) {
            menu.appendChild(el("li", {}, el("a", { href: "#", "data-id": rec.id, onclick: function (ev) {
              ev.preventDefault(); set(rec.id, rec.title); wrap.classList.remove("open");
            } }, rec.title || "#" + rec.id)));
          });
          wrap.classList.toggle("open", menu.children.length > 0);
        });
      }, 200);
    });
    box.addEventListener("blur", function () { setTimeout(function () { wrap.classList.remove("open"); }, 200); });
    return { node: wrap, get: function () { return hidden.value ? parseInt(hidden.value, 10) : null; } };
  }

  CB.linkWidget = linkWidget;

  function ratingWidget(f, value, id) {
    var current = value || 0, max = f.max || 5;
    var wrap = el("div", { className: "cb-rating", id: id, role: "radiogroup", "aria-label": f.label });
    function draw() {
      wrap.innerHTML = "";
      for (var i = 1; i <= max; i++) (function (n) {
        wrap.appendChild(el("button", { type: "button", className: "cb-star" + (n <= current ? " on" : ""), "data-star": n,
          "aria-label": n + "/" + max, onclick: function () { current = current === n ? 0 : n; draw(); wrap.dispatchEvent(new Event("change", { bubbles: true })); } }, n <= current ? "\u2605" : "\u2606"));
      })(i);
    }
    draw();
    return { node: wrap, get: function () { return current || null; } };
  }

  function tableWidget(f, value, id) {
    var kids = f.fields || [];
    var body = el("tbody");
    function addRow(row) {
      if (!row) { row = {}; kids.forEach(function (k) { if (k.default !== undefined) row[k.name] = k.default; }); }
      var cells = kids.map(function (k) {
        var w = simpleWidget(k, row[k.name], id + "-" + k.name + "-" + body.children.length);
        w.node.setAttribute("data-child", k.name);
        return el("td", {}, w.node);
      });
      var tr = el("tr", {}, cells.concat([el("td", {}, el("button", { type: "button", className: "btn btn-xs btn-link cb-remove-row",
        onclick: function () { tr.remove(); }, title: CB.t("remove") }, el("i", { className: "fa fa-times" })))]));
      tr._get = function () {
        var out = {};
        kids.forEach(function (k, i) { var v = readSimple(k, cells[i].firstChild); if (v !== null) out[k.name] = v; });
        return out;
      };
      body.appendChild(tr);
    }
    (value || []).forEach(addRow);
    var wrap = el("div", { className: "cb-table-field", id: id }, [
      el("table", { className: "table table-condensed" }, [el("thead", {}, el("tr", {}, kids.map(function (k) { return el("th", { text: k.label }); }).concat([el("th")]))), body]),
      el("button", { type: "button", className: "btn btn-xs btn-default cb-add-row", onclick: function () { addRow(); } }, [el("i", { className: "fa fa-plus" }), " " + CB.t("add_row")])]);
    return { node: wrap, get: function () { return [].map.call(body.children, function (tr) { return tr._get(); }); } };
  }

  function simpleWidget(f, value, id) {
    var t = f.type, node;
    if (t === "longtext") node = el("textarea", { className: "form-control", rows: 3, id: id });
    else if (t === "boolean") node = el("input", { type: "checkbox", id: id, checked: !!value });
    else if (t === "select" || t === "multiselect") {
      node = el("select", { className: "form-control", id: id, multiple: t === "multiselect" },
        (t === "select" ? [el("option", { value: "" })] : []).concat((f.options || []).map(function (o) {
          return el("option", { value: o.value, text: o.label, selected: [].concat(value || []).indexOf(o.value) >= 0 });
        })));
    } else if (t === "user") {
      node = el("select", { className: "form-control", id: id }, [el("option", { value: "" })]);
      CB.users().then(function (users) {
        Object.keys(users).forEach(function (uid) {
          node.appendChild(el("option", { value: uid, text: users[uid].name || users[uid].email, selected: String(value) === uid }));
        });
      });
    } else {
      var type = { integer: "number", decimal: "number", date: "date", datetime: "datetime-local", email: "email", phone: "tel", url: "url" }[t] || "text";
      node = el("input", { type: type, className: "form-control", id: id, step: t === "decimal" ? "any" : null });
      if (t === "datetime" && value) value = String(value).slice(0, 16);
    }
    if (t !== "boolean" && t !== "select" && t !== "multiselect" && t !== "user" && value !== null && value !== undefined)
      node.value = value;
    if (t === "select" && value !== undefined && value !== null) node.value = value;
    return { node: node };
  }

  function readSimple(f, node) {
    var t = f.type;
    if (t === "boolean") return node.checked;
    if (t === "multiselect") return [].filter.call(node.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
    var v = node.value;
    if (v === "" || v === undefined) return null;
    if (t === "integer" || t === "user") return parseInt(v, 10);
    if (t === "decimal") return parseFloat(v);
    return v;
  }

  function widget(f, value, id) {
    if (f.type === "link" && f.entity && f.entity !== "*") return linkWidget(f, value, id);
    if (f.type === "rating") return ratingWidget(f, value, id);
    if (f.type === "table") return tableWidget(f, value, id);
    var w = simpleWidget(f, value, id);
    w.get = function () { return readSimple(f, w.node); };
    return w;
  }

  /* A form for `meta` in `container`: opts.record (editing), opts.prefill, opts.only (field names) */
  CB.Form = function (meta, container, opts) {
    opts = opts || {};
    var self = this, record = opts.record || {}, prefill = opts.prefill || {};
    self.meta = meta; self.widgets = {}; self.groups = {};
    self.type = record.type || prefill.type || null;

    function initial(name) {
      if (name in prefill) return prefill[name];
      if (name in record) return record[name];
      return opts.record ? null : (self.fields[name] || {}).default;
    }

    self.draw = function () {
      container.innerHTML = "";
      self.widgets = {}; self.groups = {};
      self.fields = CB.fieldMap(meta, self.type);
      var sections = meta.form.sections;
      if (meta.name === "ticket" && !opts.only) {
        var tt = (meta.ticket_types || []).filter(function (x) { return x.name === self.type; })[0];
        var typeField = self.fields.type;
        var typeBox = el("div", { className: "cb-section cb-card" }, [group(typeField, 1)]);
        container.appendChild(typeBox);
        if (!tt) { self.refresh(); return; }
        if (tt.form.sections.length) sections = tt.form.sections;
      }
      if (opts.only) sections = [{ label: "", fields: opts.only, columns: 1 }];
      var placed = { type: meta.name === "ticket" };
      sections.forEach(function (s) { s.fields.forEach(function (n) { placed[n] = true; }); });
      var others = opts.only ? [] : Object.keys(self.fields).filter(function (n) {
        var f = self.fields[n];
        return !placed[n] && !f.system && !f.hidden && !f.readonly && (meta.fields.indexOf(f) >= 0 || meta.name === "ticket");
      });
      if (others.length) sections = sections.concat([{ label: CB.t("other_fields"), fields: others, columns: 2 }]);
      sections.forEach(function (s) {
        var cols = Math.min(s.columns || 1, 3);
        var body = el("div", { className: "row" }, s.fields.filter(function (n) { return self.fields[n] && n !== "type"; })
          .map(function (n) { return group(self.fields[n], cols); }));
        container.appendChild(el("fieldset", { className: "cb-section" + (opts.only ? "" : " cb-card") },
          [s.label ? el("legend", { text: s.label }) : null, body]));
      });
      self.refresh();
    };

    function group(f, cols) {
      var id = "f-" + f.name;
      var readonly = f.readonly || (f.system && ["created_at", "updated_at", "created_by"].indexOf(f.name) >= 0);
      var w;
      if (readonly) w = { node: el("div", { className: "form-control-static", id: id }, CB.display(f, initial(f.name))), get: function () { return undefined; } };
      else w = widget(f, initial(f.name), id);
      self.widgets[f.name] = w;
      var label = el("label", { for: id, className: "control-label" }, [f.label, el("span", { className: "cb-req", text: " *" })]);
      var g = el("div", { className: "form-group cb-field cb-type-" + f.type + " col-sm-" + (12 / cols), "data-field": f.name },
        [label, w.node, f.help ? el("p", { className: "help-block cb-help", text: f.help }) : null,
         el("p", { className: "help-block cb-error-text" })]);
      self.groups[f.name] = g;
      if (f.name === "type" && meta.name === "ticket") {
        w.node.addEventListener("change", function () { self.type = w.get(); prefill = Object.assign({}, prefill, self.values(true)); self.draw(); });
      }
      return g;
    }

    self.values = function (all) {
      var out = {};
      Object.keys(self.widgets).forEach(function (n) {
        var v = self.widgets[n].get();
        if (v === undefined) return;
        if (!all && self.groups[n].classList.contains("hidden")) return;
        out[n] = v;
      });
      return out;
    };

    self.refresh = function () {
      var values = Object.assign({}, record, self.values(true));
      Object.keys(self.groups).forEach(function (n) {
        var f = self.fields[n], g = self.groups[n];
        var visible = !f.visible_if || CB.condition(meta, f.visible_if, values);
        var required = f.required || (f.required_if && CB.condition(meta, f.required_if, values));
        g.classList.toggle("hidden", !visible);
        g.classList.toggle("cb-required", !!required && visible);
      });
    };

    self.showErrors = function (errors) {
      CB.qsa(".cb-field", container).forEach(function (g) { g.classList.remove("has-error"); g.querySelector(".cb-error-text").textContent = ""; });
      var rest = [];
      Object.keys(errors || {}).forEach(function (key) {
        var name = key.split(/[.[]/)[0], g = self.groups[name];
        var msg = [].concat(errors[key]).join(", ");
        if (g && !g.classList.contains("hidden")) {
          g.classList.add("has-error");
          var p = g.querySelector(".cb-error-text");
          p.textContent = (p.textContent ? p.textContent + "; " : "") + (key !== name ? key.slice(name.length) + " " : "") + msg;
        } else rest.push((key === "_" ? "" : key + ": ") + msg);
      });
      return rest;
    };

    container.addEventListener("change", function () { self.refresh(); });
    container.addEventListener("input", function () { self.refresh(); });
    self.draw();
  };

  /* the form page: create or edit a record */
  CB.formPage = function () {
    var meta = CB.data.entity, record = CB.data.record;
    var form = new CB.Form(meta, document.getElementById("cb-sections"), { record: record, prefill: CB.data.prefill });
    var alert = document.getElementById("cb-form-error");
    document.getElementById("cb-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var values = form.values(false), body = {};
      Object.keys(values).forEach(function (k) {
        var v = values[k];
        if (record) { if (JSON.stringify(v) !== JSON.stringify(record[k] === undefined ? null : record[k])) body[k] = v; }
        else if (v !== null && !(Array.isArray(v) && !v.length)) body[k] = v;
      });
      if (record) body.version = record.version;
      else Object.keys(CB.data.prefill || {}).forEach(function (k) {  // e.g. the call of a pop
        var f = form.fields[k], v = CB.data.prefill[k];
        if (!(k in body) && f && !f.readonly && v !== "") body[k] = f.type === "link" || f.type === "integer" ? parseInt(v, 10) : v;
      });
      var req = record ? CB.api("PATCH", "/records/" + meta.name + "/" + record.id, body)
                       : CB.api("POST", "/records/" + meta.name, body);
      var button = document.getElementById("cb-save");
      button.disabled = true;
      req.then(function (r) {
        button.disabled = false;
        if (r.ok) {
          location.href = CB.data.next || ("/ui/r/" + meta.name + "/" + r.body.id);
          return;
        }
        var rest = r.status === 422 ? form.showErrors(r.body.errors) : [CB.errorText(r)];
        alert.textContent = rest.length ? rest.join(" ") : CB.t("fix_errors");
        alert.classList.remove("hidden");
        var first = CB.qs(".has-error", document);
        if (first) first.scrollIntoView({ block: "center" });
      });
    });
  };
})();
