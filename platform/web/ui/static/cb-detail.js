/* The detail page: fields, related lists, activity, note/task, claim, transitions, calls. */
(function () {
  "use strict";
  var CB = window.CB, el = CB.el, meta = CB.data.entity, record = CB.data.record;
  var fields = CB.fieldMap(meta, record.type);
  var base = "/records/" + meta.name + "/" + record.id;

  function drawBadges() {
    var box = document.getElementById("cb-badges");
    if (record.type && fields.type) box.appendChild(CB.display(fields.type, record.type));
    if (record.status && fields.status) {
      var b = CB.display(fields.status, record.status); b.classList.add("cb-status-badge"); b.id = "cb-state"; box.appendChild(b);
    }
    if (record.department && fields.department) box.appendChild(CB.display(fields.department, record.department));
  }

  function drawFields() {
    var box = document.getElementById("cb-fields");
    var sections = meta.form.sections;
    var tt = (meta.ticket_types || []).filter(function (x) { return x.name === record.type; })[0];
    if (tt && tt.form.sections.length) sections = tt.form.sections;
    var placed = {};
    sections.forEach(function (s) { s.fields.forEach(function (n) { placed[n] = 1; }); });
    var rest = Object.keys(fields).filter(function (n) {
      return !placed[n] && record[n] !== undefined && record[n] !== null && n !== "id" && n !== "title";
    });
    sections.concat(rest.length ? [{ label: CB.t("details"), fields: rest }] : []).forEach(function (s) {
      var dl = el("dl", { className: "cb-dl" });
      s.fields.forEach(function (n) {
        var f = fields[n];
        if (!f) return;
        if (f.visible_if && !CB.condition(meta, f.visible_if, record)) return;
        dl.appendChild(el("dt", { text: f.label }));
        dl.appendChild(el("dd", { "data-field": n }, CB.display(f, record[n])));
      });
      box.appendChild(el("h3", { text: s.label })); box.appendChild(dl);
    });
  }

  function drawActions() {
    var box = document.getElementById("cb-actions");
    box.appendChild(el("a", { className: "btn btn-default", id: "cb-edit", href: "/ui/r/" + meta.name + "/" + record.id + "/edit" },
      [el("i", { className: "fa fa-pen" }), " " + CB.t("edit")]));
    if (!record.owner) box.appendChild(el("button", { className: "btn btn-default", id: "cb-claim", onclick: function () {
      CB.api("POST", base + "/claim").then(function (r) {
        if (r.ok) { CB.toast(CB.t("claimed"), "success"); setTimeout(function () { location.reload(); }, 600); }
        else CB.toast(CB.errorText(r), "danger");
      });
    } }, [el("i", { className: "fa fa-hand-paper" }), " " + CB.t("claim")]));
    if (meta.name === "ticket") {
      var following = (record.watchers || []).indexOf(CB.data.user.id) >= 0;
      box.appendChild(el("button", { className: "btn btn-default", id: "cb-follow", onclick: function () {
        CB.api(following ? "DELETE" : "POST", "/records/ticket/" + record.id + "/follow").then(function (r) {
          if (r.ok) location.reload(); else CB.toast(CB.errorText(r), "danger");
        });
      } }, [el("i", { className: following ? "fa fa-eye-slash" : "fa fa-eye" }), " " + CB.t(following ? "unfollow" : "follow")]));
    }
    box.appendChild(el("button", { className: "btn btn-default", id: "cb-delete", title: CB.t("delete"), onclick: function () {
      if (!window.confirm(CB.t("confirm_delete"))) return;
      CB.api("DELETE", base).then(function (r) {
        if (r.ok) location.href = "/ui/r/" + meta.name; else CB.toast(CB.errorText(r), "danger");
      });
    } }, [el("i", { className: "fa fa-trash" })]));
    CB.api("GET", base + "/transitions").then(function (r) {
      ((r.body && r.body.items) || []).forEach(function (t) {
        box.appendChild(el("button", { className: "btn btn-primary cb-transition", "data-transition": t.name, id: "tr-" + t.name,
          onclick: function () { openTransition(t); } }, t.label));
      });
    });
  }

  function openTransition(t) {
    var panel = document.getElementById("cb-transition");
    panel.innerHTML = ""; panel.classList.remove("hidden");
    var formBox = el("div"), extra = el("div", { className: "row" });
    var form = t.require.length ? new CB.Form(meta, formBox, { record: record, only: t.require }) : null;
    var dept = null, assignee = null;
    if (t.transfer) {
      var df = fields.department;
      dept = el("select", { className: "form-control", id: "tr-department" }, [el("option", { value: "" })].concat(
        ((df && df.options) || []).map(function (o) { return el("option", { value: o.value, text: o.label }); })));
      assignee = el("select", { className: "form-control", id: "tr-assignee" }, [el("option", { value: "" })]);
      CB.users().then(function (users) {
        Object.keys(users).forEach(function (id) { if (users[id].active !== false) assignee.appendChild(el("option", { value: id, text: (users[id].name || users[id].email) + (users[id].department ? " · " + users[id].department : "") })); });
      });
      extra.appendChild(el("div", { className: "form-group col-sm-6" }, [el("label", { for: "tr-department", text: CB.t("department") }), dept]));
      extra.appendChild(el("div", { className: "form-group col-sm-6" }, [el("label", { for: "tr-assignee", text: CB.t("assignee") }), assignee]));
    }
    var comment = el("textarea", { className: "form-control", id: "tr-comment", rows: 2 });
    var alert = el("div", { className: "alert alert-danger hidden" });
    panel.appendChild(el("h3", { text: t.label }));
    panel.appendChild(alert); panel.appendChild(formBox); panel.appendChild(extra);
    panel.appendChild(el("div", { className: "form-group" }, [el("label", { for: "tr-comment", text: CB.t("comment") }), comment]));
    panel.appendChild(el("div", { className: "cb-form-actions" }, [
      el("button", { className: "btn btn-primary", id: "tr-go", onclick: function () {
        var body = { comment: comment.value || undefined, fields: form ? form.values(false) : {} };
        if (dept && dept.value) body.department = dept.value;
        if (assignee && assignee.value) body.assignee = parseInt(assignee.value, 10);
        CB.api("POST", base + "/transitions/" + t.name, body).then(function (r) {
          if (r.ok) { location.reload(); return; }
          var rest = r.status === 422 && form ? form.showErrors(r.body.errors) : [CB.errorText(r)];
          alert.textContent = rest.length ? rest.join(" ") : CB.t("fix_errors"); alert.classList.remove("hidden");
        });
      } }, t.label),
      el("button", { className: "btn btn-link", onclick: function () { panel.classList.add("hidden"); } }, CB.t("cancel"))]));
    panel.scrollIntoView({ block: "nearest" });
  }

  function drawRelated() {
    var box = document.getElementById("cb-related");
    var rels = meta.related || [];
    if (!rels.length) return;
    var tabs = el("ul", { className: "nav nav-tabs cb-related-tabs", role: "tablist" });
    var panes = el("div", { className: "cb-related-panes" });
    box.appendChild(el("div", { className: "cb-card cb-related-card" }, [tabs, panes]));
    var shown = false;
    function show(name) {
      CB.qsa("li", tabs).forEach(function (li) { li.classList.toggle("active", li.getAttribute("data-tab") === name); });
      CB.qsa(".cb-related", panes).forEach(function (p) { p.classList.toggle("hidden", p.getAttribute("data-related") !== name); });
    }
    rels.forEach(function (rel, i) {
      var count = el("span", { className: "badge", text: "\u2026" });
      tabs.appendChild(el("li", { "data-tab": rel.name, className: i === 0 ? "active" : "" },
        el("a", { href: "#", id: "rel-" + rel.name, onclick: function (ev) { ev.preventDefault(); show(rel.name); } }, [rel.label + " ", count])));
      var newHref = "/ui/r/" + rel.name + "/new?" + encodeURIComponent(meta.name) + "=" + record.id + "&next=" + encodeURIComponent(location.pathname);
      var list = el("ul", { className: "cb-related-list" });
      var pane = el("div", { className: "cb-related" + (i === 0 ? "" : " hidden"), "data-related": rel.name }, [list,
        rel.name === "note" || rel.name === "task" ? null : el("a", { className: "btn btn-xs btn-default cb-related-new", href: newHref }, [el("i", { className: "fa fa-plus" }), " " + CB.t("new")])]);
      panes.appendChild(pane);
      CB.api("GET", base + "/related/" + rel.name + "?per_page=10&sort=-updated_at").then(function (r) {
        var items = (r.body && r.body.items) || [];
        count.textContent = r.ok ? r.body.total : "!";
        if (!items.length) { list.appendChild(el("li", { className: "cb-empty", text: CB.t("no_records") })); return; }
        tabs.querySelector("[data-tab='" + rel.name + "']").classList.add("cb-has");
        if (!shown) { shown = true; show(rel.name); }
        items.forEach(function (it) {
          var extra = [it.status, it.direction, it.due_at ? CB.formatDate(it.due_at) : null, CB.formatDate(it.updated_at, true)].filter(Boolean).join(" \u00b7 ");
          list.appendChild(el("li", {}, [el("a", { href: "/ui/r/" + rel.name + "/" + it.id, text: it.title || it.body || "#" + it.id }),
            el("span", { className: "cb-muted", text: " " + extra })]));
        });
      });
    });
  }

  function actionLabel(action) {
    var parts = String(action).split(":");
    if (parts[0] === "transition" && parts[1]) {
      var wf = meta.workflow || ((meta.ticket_types || []).filter(function (x) { return x.name === record.type; })[0] || {}).workflow;
      var t = wf && wf.transitions.filter(function (x) { return x.name === parts[1]; })[0];
      return t ? t.label : parts[1];
    }
    var s = CB.data.strings["action." + parts[0]];
    return s || action;
  }

  function drawTimeline() {
    var box = document.getElementById("cb-timeline");
    CB.api("GET", base + "/activity").then(function (r) {
      box.innerHTML = "";
      CB.users().then(function (users) {
        ((r.body && r.body.items) || []).forEach(function (a) {
          var who = users[a.actor_id] ? (users[a.actor_id].name || users[a.actor_id].email) : "";
          var changes = a.changes || {};
          var lines = Object.keys(changes).slice(0, 6).map(function (k) {
            var c = changes[k], f = fields[k] || { label: k };
            var v = Array.isArray(c) && c.length === 2 ? c[1] : (c && typeof c === "object" && "to" in c ? c.to : c);
            var shown = f.type === "table" && Array.isArray(v) ? String(v.length) + " \u00d7"
              : f.type ? CB.display(f, v, { noCall: true }) : (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v === null || v === undefined ? "\u2014" : v));
            return el("div", { className: "cb-change" }, [el("b", { text: f.label + ": " }), shown]);
          });
          box.appendChild(el("li", { className: "cb-tl-" + a.action }, [
            el("div", { className: "cb-tl-head" }, [el("b", { text: actionLabel(a.action) }), " " + (who ? CB.t("by") + " " + who : "") + " · " + CB.formatDate(a.at, true)]),
            a.comment ? el("div", { className: "cb-tl-comment", text: a.comment }) : null].concat(lines)));
        });
      });
    });
  }

  function drawAdd(kind) {
    var form = document.getElementById("cb-add-form");
    form.innerHTML = "";
    var about = { entity: meta.name, id: record.id };
    var main = kind === "note" ? el("textarea", { className: "form-control", rows: 3, id: "cb-note-body", placeholder: CB.t("note") })
                                : el("input", { className: "form-control", id: "cb-task-title", placeholder: CB.t("task_title") });
    var due = kind === "task" ? el("input", { type: "datetime-local", className: "form-control", id: "cb-task-due", "aria-label": CB.t("due") }) : null;
    form.appendChild(el("div", { className: "form-group" }, main));
    if (due) form.appendChild(el("div", { className: "form-group" }, [el("label", { for: "cb-task-due", text: CB.t("due") }), due]));
    form.appendChild(el("button", { type: "submit", className: "btn btn-primary btn-sm", id: "cb-add-save", text: CB.t("save") }));
    form.onsubmit = function (ev) {
      ev.preventDefault();
      var body = kind === "note" ? { body: main.value, record: about } : { title: main.value, record: about };
      if (due && due.value) body.due_at = due.value;
      CB.api("POST", "/records/" + kind, body).then(function (r) {
        if (r.ok) { CB.toast(CB.t("saved"), "success"); main.value = ""; refreshRelated(kind); drawTimeline(); }
        else CB.toast(CB.errorText(r), "danger");
      });
    };
  }
  function refreshRelated() { document.getElementById("cb-related").innerHTML = ""; drawRelated(); }

  CB.qsa("[data-add]").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      CB.qsa(".cb-add-tabs li").forEach(function (li) { li.classList.remove("active"); });
      a.parentNode.classList.add("active"); drawAdd(a.getAttribute("data-add"));
    });
  });
  drawBadges(); drawActions(); drawFields(); drawRelated(); drawTimeline(); drawAdd("note");
})();
