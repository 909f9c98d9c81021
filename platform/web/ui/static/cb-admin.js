/* Admin screens: custom fields in a form, the bundle's YAML with the checker's messages
   at their lines; and the import page with its progress. */
(function () {
  "use strict";
  var CB = window.CB, el = CB.el;

  /* ---- custom fields */
  CB.fieldsPage = function () {
    var meta = CB.data.entity;
    var $ = function (id) { return document.getElementById(id); };
    var picker = $("fld-entity");
    CB.data.entities.forEach(function (e) { picker.appendChild(el("option", { value: e.name, text: e.label, selected: e.name === meta.name })); });
    picker.addEventListener("change", function () { location.href = "/ui/admin/fields/" + picker.value; });
    $("fld-entity-label").textContent = meta.plural;
    CB.data.types.forEach(function (t) { $("fld-type").appendChild(el("option", { value: t, text: t })); });
    CB.data.entities.forEach(function (e) { $("fld-link").appendChild(el("option", { value: e.name, text: e.label })); });
    $("fld-section").appendChild(el("option", { value: "", text: "\u2014" }));
    meta.form.sections.forEach(function (s, i) { $("fld-section").appendChild(el("option", { value: i, text: s.label, selected: i === meta.form.sections.length - 1 })); });
    function byType() {
      var t = $("fld-type").value;
      CB.qsa(".fld-for-select").forEach(function (n) { n.classList.toggle("hidden", t !== "select" && t !== "multiselect"); });
      CB.qsa(".fld-for-link").forEach(function (n) { n.classList.toggle("hidden", t !== "link"); });
    }
    $("fld-type").addEventListener("change", byType);
    var list = $("fld-list");
    list.appendChild(el("tbody", {}, meta.fields.map(function (f) {
      return el("tr", {}, [el("td", {}, el("a", { href: "#", "data-edit": f.name, text: f.name, onclick: function (ev) { ev.preventDefault(); load(f); } })),
        el("td", { text: f.label }), el("td", {}, el("code", { text: f.type })), el("td", {}, f.system ? el("span", { className: "label label-default", text: "system" }) : null)]);
    })));
    function load(f) {
      $("fld-form-title").textContent = f.name;
      $("fld-name").value = f.name; $("fld-type").value = f.type;
      CB.qsa("[data-locale]").forEach(function (i) { i.value = (f.labels || {})[i.getAttribute("data-locale")] || ""; });
      $("fld-options").value = (f.options || []).map(function (o) { return o.label && o.label !== o.value ? o.value + " = " + o.label : o.value; }).join("\n");
      ["default", "min", "max", "visible_if", "required_if", "help"].forEach(function (k) { $("fld-" + k).value = f[k] === undefined ? "" : f[k]; });
      ["required", "index", "search"].forEach(function (k) { $("fld-" + k).checked = !!f[k]; });
      $("fld-column").checked = meta.list.columns.indexOf(f.name) >= 0;
      $("fld-filter").checked = meta.list.filters.indexOf(f.name) >= 0;
      if (f.entity) $("fld-link").value = f.entity;
      var at = "";
      meta.form.sections.forEach(function (sec, i) { if (sec.fields.indexOf(f.name) >= 0) at = String(i); });
      $("fld-section").value = at;
      byType();
    }
    if (CB.data.field) meta.fields.forEach(function (f) { if (f.name === CB.data.field) load(f); });
    $("fld-reset").addEventListener("click", function () { $("fld-form").reset(); $("fld-form-title").textContent = ""; byType(); });
    byType();
    $("fld-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { label: {} };
      ["name", "type", "options", "default", "min", "max", "visible_if", "required_if", "help"].forEach(function (k) { body[k] = $("fld-" + k).value; });
      ["required", "index", "search", "column", "filter"].forEach(function (k) { body[k] = $("fld-" + k).checked; });
      body.section = $("fld-section").value;
      if (body.type === "link") body.entity = $("fld-link").value;
      CB.qsa("[data-locale]").forEach(function (i) { body.label[i.getAttribute("data-locale")] = i.value; });
      var err = $("fld-error");
      err.classList.add("hidden");
      CB.qsa("#fld-form .has-error").forEach(function (n) { n.classList.remove("has-error"); });
      CB.api("POST", "/ui/admin/fields/" + meta.name + "/yaml", body, { raw: true }).then(function (r) {
        if (!r.ok) {
          Object.keys((r.body && r.body.errors) || {}).forEach(function (k) { var i = $("fld-" + k); if (i) i.parentNode.classList.add("has-error"); });
          err.textContent = CB.errorText(r); err.classList.remove("hidden"); return null;
        }
        $("fld-yaml").textContent = r.body.yaml;
        return CB.api("PUT", "/admin/config/entity/" + meta.name, r.body.yaml, { type: "application/yaml" });
      }).then(function (r) {
        if (!r) return;
        if (r.ok) { CB.toast(CB.t("applied", { version: r.body.version }), "success"); setTimeout(function () { location.href = "/ui/admin/fields/" + meta.name + "?field=" + encodeURIComponent(body.name); }, 700); return; }
        var problems = (r.body && r.body.problems) || [];
        err.textContent = problems.length ? problems.map(function (p) { return (p.line ? p.line + ": " : "") + p.path + ": " + p.message; }).join("\n") : CB.errorText(r);
        err.classList.remove("hidden");
      });
    });
  };

  /* ---- the bundle's files as YAML */
  CB.configPage = function () {
    var $ = function (id) { return document.getElementById(id); };
    var text = $("cfg-text"), gutter = $("cfg-gutter"), files = {}, current = CB.data.file, problems = [];
    function drawGutter() {
      var n = text.value.split("\n").length, bad = {};
      problems.forEach(function (p) { bad[p.line] = p.message; });
      gutter.innerHTML = "";
      for (var i = 1; i <= n; i++) gutter.appendChild(el("span", { className: bad[i] ? "cb-bad-line" : "", title: bad[i] || null, "data-line": i, text: String(i) }));
      gutter.scrollTop = text.scrollTop;
    }
    function open(path) {
      current = path; problems = [];
      text.value = files[path] || "";
      $("cfg-problems").innerHTML = ""; $("cfg-status").textContent = path;
      drawGutter();
    }
    function goto(line) {
      var lines = text.value.split("\n"), start = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
      text.focus(); text.setSelectionRange(start, start + (lines[line - 1] || "").length);
      text.scrollTop = Math.max(0, (line - 5) * 18);
    }
    text.addEventListener("input", drawGutter);
    text.addEventListener("scroll", function () { gutter.scrollTop = text.scrollTop; });
    CB.api("GET", "/admin/config").then(function (r) {
      if (!r.ok) { $("cfg-status").textContent = CB.errorText(r); return; }
      files = r.body.files;
      var pick = $("cfg-file");
      Object.keys(files).sort().forEach(function (p) { pick.appendChild(el("option", { value: p, text: p, selected: p === current })); });
      pick.addEventListener("change", function () { open(pick.value); });
      open(current || pick.value);
    });
    $("cfg-open").addEventListener("click", function () {
      var p = $("cfg-new").value.trim();
      if (!p) return;
      if (!(p in files)) { files[p] = ""; $("cfg-file").appendChild(el("option", { value: p, text: p })); }
      $("cfg-file").value = p; open(p);
    });
    $("cfg-save").addEventListener("click", function () {
      var m = /^(?:(entities|ticket_types|ivr)\/([^/]+)\.ya?ml|tenant\.yaml)$/.exec(current || "");
      if (!m) { $("cfg-status").textContent = current; return; }
      var kind = m[1] ? { entities: "entity", ticket_types: "ticket_type", ivr: "ivr" }[m[1]] : "tenant";
      var path = "/admin/config/" + kind + (m[2] ? "/" + m[2] : "");
      CB.api("PUT", path, text.value, { type: "application/yaml" }).then(function (r) {
        var list = $("cfg-problems");
        list.innerHTML = "";
        if (r.ok) {
          files[current] = text.value; problems = []; drawGutter();
          $("cfg-status").textContent = CB.t("applied", { version: r.body.version });
          $("cfg-status").className = "cb-status-text text-success";
          return;
        }
        problems = ((r.body && r.body.problems) || []).filter(function (p) { return !p.file || p.file === current; });
        var others = ((r.body && r.body.problems) || []).filter(function (p) { return p.file && p.file !== current; });
        $("cfg-status").textContent = problems.length || others.length ? CB.t("problems", { count: problems.length + others.length }) : CB.errorText(r);
        $("cfg-status").className = "cb-status-text text-danger";
        problems.concat(others).forEach(function (p) {
          list.appendChild(el("li", { "data-line": p.line || "" }, [
            el("a", { href: "#", onclick: function (ev) { ev.preventDefault(); if (p.line && p.file === current) goto(p.line); } },
              (p.file || current) + ":" + (p.line || "?") + ":" + (p.column || "?")), " ",
            el("code", { text: p.path || "" }), " " + p.message]));
        });
        drawGutter();
        if (problems[0] && problems[0].line) goto(problems[0].line);
      });
    });
  };

  /* ---- import with progress, bulk delete, the recent jobs (resume, revert) */
  function summary(job) {
    var res = job.result || {};
    if (job.kind === "export") return CB.t("rows_n", { rows: res.rows || 0 });
    if (job.kind === "bulk_delete") return CB.t("deleted_n") + " " + (res.deleted || 0) + " · " + CB.t("not_found_n") + " " + (res.not_found || 0);
    if (job.kind === "revert") return CB.t("removed_n") + " " + (res.removed || 0) + " · " + CB.t("restored_n") + " " + (res.restored || 0);
    return CB.t("created_n") + " " + (res.created || 0) + " · " + CB.t("updated_n") + " " + (res.updated || 0) + " · " + CB.t("failed_n") + " " + (res.failed || 0);
  }

  /* follow a started job in a bar and a result box; then(job) when it has ended */
  function follow(r, bar, result, summaryId, then) {
    if (!r.ok) { result.textContent = r.status === 404 ? CB.t("unavailable") : CB.errorText(r); return; }
    CB.followJob(r.body.job, function (job, failed) {
      if (!job) { result.textContent = CB.errorText(failed); return; }
      var pct = Math.round((job.progress || 0) * 100);
      bar.style.width = pct + "%"; bar.textContent = pct + "%";
      result.textContent = CB.jobText(job);
      if (job.status !== "done" && job.status !== "failed") return;
      result.innerHTML = "";
      result.appendChild(el("p", { id: summaryId, text: CB.t("job_status", { status: CB.t("status." + job.status) }) + " · " + summary(job) }));
      CB.jobFiles(job).forEach(function (a) { result.appendChild(el("p", {}, a)); });
      if (job.error) result.appendChild(el("p", { className: "text-danger", text: String(job.error) }));
      if (then) then(job);
    });
  }

  CB.importPage = function () {
    var $ = function (id) { return document.getElementById(id); };
    var pick = $("imp-entity");
    CB.data.entities.forEach(function (e) { pick.appendChild(el("option", { value: e.name, text: e.label, selected: e.name === CB.data.entity.name })); });
    function template() { $("imp-template").href = CB.data.api + "/import/" + pick.value + "/template"; }
    pick.addEventListener("change", template); template();
    $("imp-mode").addEventListener("change", function () { $("imp-key-group").classList.toggle("hidden", $("imp-mode").value !== "upsert"); });
    $("cb-import-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var file = $("imp-file").files[0];
      if (!file) return;
      var data = new FormData();
      data.append("file", file); data.append("mode", $("imp-mode").value);
      if ($("imp-key").value) data.append("key", $("imp-key").value);
      if ($("imp-dry").checked) data.append("dry_run", "true");
      $("imp-progress").classList.remove("hidden"); $("imp-result").textContent = CB.t("uploading");
      CB.startJob("/import/" + pick.value, data).then(function (r) {
        follow(r, $("imp-bar"), $("imp-result"), "imp-summary", drawJobs);
        drawJobs();
      });
    });

    /* delete the records a file names (owner only: the API refuses others) */
    var del = $("cb-bulk-delete-form");
    if (del) del.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var file = $("del-file").files[0];
      if (!file || !confirm(CB.t("confirm_bulk_delete", { entity: pick.options[pick.selectedIndex].text }))) return;
      var data = new FormData();
      data.append("file", file);
      $("del-progress").classList.remove("hidden"); $("del-result").textContent = CB.t("uploading");
      CB.startJob("/bulk-delete/" + pick.value, data).then(function (r) {
        follow(r, $("del-bar"), $("del-result"), "del-summary", drawJobs);
      });
    });

    /* the caller's recent jobs: status, counts, files; resume a failed one, revert an import */
    function act(path, question) {
      if (question && !confirm(question)) return;
      CB.startJob(path).then(function (r) {
        if (!r.ok) { CB.toast(CB.errorText(r), "danger"); return; }
        drawJobs();
        CB.followJob(r.body.job, function () { }).then(function (job) {
          if (job) CB.toast(CB.t("job_status", { status: CB.t("status." + job.status) }) + " · " + summary(job), job.status === "done" ? "success" : "danger");
          drawJobs();
        });
      });
    }
    function drawJobs() {
      var box = $("cb-jobs");
      CB.api("GET", "/jobs").then(function (r) {
        if (!r.ok) { box.textContent = CB.errorText(r); return; }
        var rows = (r.body.items || []).slice(0, 15).map(function (job) {
          var p = job.params || {}, res = job.result || {}, buttons = [];
          if (job.kind === "import" && job.status === "failed")
            buttons.push(el("button", { className: "btn btn-default btn-xs cb-resume", "data-job": job.id, text: CB.t("resume"),
              onclick: function () { act("/jobs/" + job.id + "/resume"); } }));
          if (job.kind === "import" && job.status === "done" && !p.dry_run && !res.reverted_by && (res.created || res.updated))
            buttons.push(el("button", { className: "btn btn-default btn-xs cb-revert", "data-job": job.id, text: CB.t("revert"),
              onclick: function () { act("/jobs/" + job.id + "/revert", CB.t("confirm_revert")); } }));
          if (res.reverted_by) buttons.push(el("span", { className: "label label-default", text: CB.t("reverted") }));
          return el("tr", { "data-job": job.id, "data-status": job.status }, [
            el("td", { text: "#" + job.id }),
            el("td", { text: CB.t("kind." + job.kind) + (p.entity ? " · " + ((CB.data.entity_plurals || {})[p.entity] || p.entity) : "") +
              (job.kind === "revert" && p.job ? " · #" + p.job : "") }),
            el("td", { text: p.name || (p.format ? p.format.toUpperCase() : "") }),
            el("td", { className: "cb-job-status", text: job.status === "done" || job.status === "failed" ? CB.t("status." + job.status) : CB.jobText(job) }),
            el("td", {}, [job.status === "done" ? summary(job) : job.error ? el("span", { className: "text-danger", text: String(job.error) }) : ""]),
            el("td", {}, CB.jobFiles(job)),
            el("td", { className: "cb-job-actions" }, buttons)]);
        });
        box.innerHTML = "";
        box.appendChild(rows.length ? el("table", { className: "table table-condensed cb-jobs-table" }, [
          el("thead", {}, el("tr", {}, ["#", CB.t("job"), CB.t("file"), CB.t("status"), CB.t("result"), "", ""].map(function (h) { return el("th", { text: h }); }))),
          el("tbody", {}, rows)]) : el("p", { className: "text-muted", text: CB.t("no_jobs") }));
      });
    }
    drawJobs();
  };
})();
