/* The agent console: status, the screen pop over Server-Sent Events, knowledge search,
   and (for managers) a panel that plays a call through the `sim` telephony provider. */
(function () {
  "use strict";
  var CB = window.CB, el = CB.el, meta = CB.data.screen_pop;
  var popFields = meta ? CB.fieldMap(meta) : {};

  /* ---- ready / paused */
  function showStatus(status) {
    document.getElementById("cb-status-dot").className = "cb-status-dot cb-status-" + status;
    document.getElementById("cb-status-dot").title = CB.t(status);
    CB.qsa("[data-status]").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-status") === status);
      b.classList.toggle("btn-success", b.getAttribute("data-status") === status && status === "ready");
      b.classList.toggle("btn-warning", b.getAttribute("data-status") === status && status === "paused");
    });
  }
  CB.qsa("[data-status]").forEach(function (b) {
    b.addEventListener("click", function () {
      var status = b.getAttribute("data-status");
      CB.api("POST", "/agents/me/status", { status: status }).then(function (r) {
        if (r.ok) { showStatus(status); CB.toast(CB.t("status_now", { status: CB.t(status) }), "success"); }
        else CB.toast(r.status === 404 ? CB.t("unavailable") : CB.errorText(r), "danger");
      });
    });
  });
  CB.api("GET", "/agents/me/status").then(function (r) { if (r.ok && r.body) showStatus(r.body.status || "offline"); });

  /* ---- the screen pop */
  function relatedList(name, items) {
    var ent = (CB.data.entity_plurals || {})[name] || name;
    return el("div", { className: "cb-pop-related", "data-related": name }, [el("h4", { text: ent }),
      el("ul", {}, items.length ? items.map(function (it) {
        return el("li", {}, [el("a", { href: "/ui/r/" + name + "/" + it.id, text: it.title || "#" + it.id }),
          el("span", { className: "cb-muted", text: " " + [it.status, CB.formatDate(it.updated_at || it.created_at, true)].filter(Boolean).join(" · ") })]);
      }) : [el("li", { className: "cb-empty", text: CB.t("no_records") })])]);
  }
  function showPop(pop) {
    var box = document.getElementById("cb-pop");
    box.innerHTML = "";
    box.classList.add("cb-pop-live");
    var rec = pop.record || {}, call = pop.call || {};
    var callId = pop.call_id || call.call_id;
    var prefill = new URLSearchParams();
    if (rec.entity === "customer") prefill.set("customer", rec.id);
    if (call.call) prefill.set("call", call.call);              // the call's own record
    var head = el("div", { className: "cb-pop-head" }, [
      el("div", {}, [el("div", { className: "cb-kicker", text: CB.t("incoming") + (callId ? " · " + callId : "") + (call.queue ? " · " + call.queue : "") }),
        el("h2", { id: "cb-pop-title", text: rec.title || CB.t("unknown_caller") }),
        el("div", { className: "cb-pop-number" }, [CB.el("span", { text: pop.number || "" }),
          pop.vip ? el("span", { className: "label label-warning cb-vip", text: CB.t("vip") }) : null,
          pop.blocked ? el("span", { className: "label label-danger", text: CB.t("blocked") }) : null,
          pop.known === false ? el("span", { className: "label label-info", text: CB.t("unknown_caller") }) : null])]),
      el("div", { className: "cb-pop-actions" }, [
        el("a", { className: "btn btn-primary", id: "cb-pop-ticket",
          href: "/ui/r/ticket/new?" + prefill.toString() }, [el("i", { className: "fa fa-plus" }), " " + CB.t("new_ticket")]),
        rec.id ? el("a", { className: "btn btn-default", id: "cb-pop-open", href: "/ui/r/" + rec.entity + "/" + rec.id }, CB.t("open_record")) : null])]);
    box.appendChild(head);
    var dl = el("dl", { className: "cb-dl cb-pop-fields" });
    (pop.fields || []).forEach(function (f) {
      var field = popFields[f.name] || { name: f.name, type: "text", label: f.label };
      dl.appendChild(el("dt", { text: field.label || f.label }));
      dl.appendChild(el("dd", { "data-field": f.name }, CB.display(field, f.value)));
    });
    box.appendChild(dl);
    var rel = el("div", { className: "cb-pop-rel" });
    Object.keys(pop.related || {}).forEach(function (name) { rel.appendChild(relatedList(name, pop.related[name] || [])); });
    box.appendChild(rel);
  }
  function note(text, href) {
    var list = document.getElementById("cb-event-list");
    list.insertBefore(el("li", {}, [el("span", { className: "cb-muted", text: new Date().toLocaleTimeString() + " " }),
      href ? el("a", { href: href, text: text }) : text]), list.firstChild);
  }

  var source = new EventSource(CB.data.api + "/agents/me/events");
  source.addEventListener("screen_pop", function (ev) {
    var pop = JSON.parse(ev.data);
    showPop(pop);
    note(CB.t("incoming") + ": " + (pop.number || ""), pop.record ? "/ui/r/" + pop.record.entity + "/" + pop.record.id : null);
  });
  source.addEventListener("call_ended", function (ev) {
    var data = JSON.parse(ev.data);
    note(CB.t("call_ended") + (data.call_id ? " · " + data.call_id : ""));
    document.getElementById("cb-pop").classList.remove("cb-pop-live");
  });
  source.addEventListener("ticket_assigned", function (ev) {
    var t = JSON.parse(ev.data);
    CB.toast(CB.t("ticket_assigned") + ": " + (t.subject || "#" + t.id), "info");
    note(CB.t("ticket_assigned") + ": " + (t.subject || "#" + t.id), "/ui/r/ticket/" + t.id);
  });
  source.addEventListener("open", function () { document.body.setAttribute("data-stream", "open"); });

  /* ---- knowledge search */
  var kbTimer = null, kbBox = document.getElementById("cb-kb-results"), kbQ = document.getElementById("cb-kb-q");
  function kbSearch() {
    var q = kbQ.value.trim();
    if (!q) { kbBox.innerHTML = ""; return; }
    CB.api("GET", "/kb/search?q=" + encodeURIComponent(q)).then(function (r) {
      kbBox.innerHTML = "";
      if (!r.ok) { kbBox.appendChild(el("p", { className: "cb-muted", text: r.status === 404 ? CB.t("unavailable") : CB.errorText(r) })); return; }
      var items = r.body.items || [];
      if (!items.length) { kbBox.appendChild(el("p", { className: "cb-muted", text: CB.t("no_kb") })); return; }
      kbBox.appendChild(el("ul", { className: "cb-kb-list" }, items.map(function (it) {
        var hl = el("div", { className: "cb-kb-hl" });
        hl.textContent = [].concat(it.highlights || []).join(" … ").replace(/<[^>]+>/g, "");
        return el("li", {}, [el("a", { href: "/ui/r/kb_article/" + it.id, text: it.title }), hl]);
      })));
    });
  }
  document.getElementById("cb-kb-form").addEventListener("submit", function (ev) { ev.preventDefault(); kbSearch(); });
  kbQ.addEventListener("input", function () { clearTimeout(kbTimer); kbTimer = setTimeout(kbSearch, 300); });

  /* ---- waiting callers per queue (owner, admin, supervisor) */
  var queueRows = document.getElementById("cb-queue-rows");
  function drawQueues() {
    Promise.all((CB.data.queues || []).map(function (q) {
      return CB.api("GET", "/queues/" + encodeURIComponent(q.name)).then(function (r) { return [q, r]; });
    })).then(function (rows) {
      queueRows.innerHTML = "";
      rows.forEach(function (pair) {
        var q = pair[0], r = pair[1], waiting = (r.ok && r.body.waiting) || [];
        queueRows.appendChild(el("tr", { "data-queue": q.name }, [el("td", { text: q.label }),
          el("td", { className: "text-right" }, el("span", { className: "badge" + (waiting.length ? " cb-badge-hot" : ""), text: r.ok ? waiting.length : "\u2014" }))]));
      });
    });
  }
  if (queueRows) { drawQueues(); setInterval(drawQueues, 5000); }

  /* ---- simulate a call (owner, admin, supervisor) */
  var sim = document.getElementById("cb-sim-form");
  if (sim) {
    var callId = null, seq = 0, log = document.getElementById("cb-sim-log");
    var send = function (kind) {
      if (kind === "incoming" || !callId) { callId = "sim-" + Date.now().toString(36); seq = 0; }
      var v = function (id) { return document.getElementById(id).value.trim(); };
      // Every press is a new event: a second digits press must not read as a repeat.
      seq += 1;
      var body = { event: "call." + kind, call_id: callId, event_id: callId + "-" + seq };
      if (kind === "incoming") {
        body.from = v("sim-from"); body.to = v("sim-to");
        if (v("sim-at")) body.at = v("sim-at");   // the tenant's local time of the call
      }
      if (kind === "digits") body.digits = v("sim-digits");
      if (kind === "ringing" || kind === "answered") body.agent = v("sim-agent");
      if (kind === "ended") body.duration = 30;
      return CB.api("POST", "/telephony/sim/events", body).then(function (r) {
        var actions = r.body && r.body.actions ? r.body.actions.map(function (a) { return a.type + (a.queue ? ":" + a.queue : ""); }).join(" → ") : "";
        log.textContent = "call." + kind + " " + r.status + (actions ? "  " + actions : (r.ok ? "" : "  " + CB.errorText(r))) + "\n" + log.textContent;
        return r;
      });
    };
    CB.qsa("[data-sim]").forEach(function (b) {
      b.addEventListener("click", function (ev) { ev.preventDefault(); send(b.getAttribute("data-sim")); });
    });
    CB.simulate = send;
  }
})();
