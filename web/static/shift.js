// The supervisor's shift on the dashboard: the people table (with reassignment), each wave's
// projected finish, a wave's pick lists (drill-down) and the day's figures with the units-per-hour
// chart. Fed by Shift.apply(live) / Shift.figures(f), which dashboard.js calls with the snapshot
// and with every coalesced "dashboard.live" message (at most one a second, see web/live.py).
// Rows are updated in place so a supervisor choosing a picker in a <select> is not disturbed.
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const label = (s) => String(s || "").replace(/_/g, " ");

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? "" : v);
    });
    children.flat().forEach((c) => {
      if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
    });
    return el;
  }

  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    const pad = (n) => String(n).padStart(2, "0");
    return s >= 3600 ? Math.floor(s / 3600) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60)
                     : Math.floor(s / 60) + ":" + pad(s % 60);
  }
  const num = (x) => (x === null || x === undefined ? "—" : String(x));

  let current = { people: [], projections: {} };

  // ---- people ----------------------------------------------------------------------------

  function workText(p) {
    if (p.pick_list) {
      return "list " + p.pick_list.id + " · " + p.pick_list.wave_code + " · " +
        p.pick_list.tasks_left + " task(s) / " + p.pick_list.units_left + " unit(s) left";
    }
    if (p.station) return "station " + p.station;
    return "—";
  }

  function reassignCell(td, p, pickers) {
    const list = p.pick_list ? String(p.pick_list.id) : "";
    const others = pickers.filter((q) => q.user_id !== p.user_id);
    const sig = list + "|" + others.map((q) => q.user_id).join(",");
    if (td.dataset.sig === sig) return;
    td.dataset.sig = sig;
    td.replaceChildren();
    if (!list || !others.length) return;
    const select = h("select", { name: "to_user_id", "aria-label": "reassign to" },
      others.map((q) => h("option", { value: q.user_id }, q.name + " (" + q.username + ")")));
    const form = h("form", { class: "inline reassign", "data-list": list }, select,
      h("button", { type: "submit" }, "Move"));
    td.append(form);
  }

  function personRow(p) {
    return h("tr", { "data-user": p.user_id, "data-role": p.role },
      h("td", { class: "who" }, h("b", {}, p.name), " ", h("small", {}, p.role)),
      h("td", { class: "work" }), h("td", { class: "where" }),
      h("td", { class: "idle" }), h("td", { class: "hour num" }), h("td", { class: "shift num" }),
      h("td", { class: "acc num" }), h("td", { class: "move" }));
  }

  function fillPerson(tr, p, pickers) {
    $(".work", tr).textContent = workText(p);
    $(".where", tr).textContent = p.last_location || "—";
    const idle = $(".idle", tr);
    if (p.idle_s === null || p.idle_s === undefined) { delete idle.dataset.since; idle.textContent = "—"; }
    else { idle.dataset.since = String(Date.now() - p.idle_s * 1000); idle.textContent = clock(p.idle_s); }
    $(".hour", tr).textContent = p.hour.lines_per_h + " · " + p.hour.units_per_h;
    $(".shift", tr).textContent = p.shift.lines_per_h + " · " + p.shift.units_per_h;
    $(".acc", tr).textContent = p.accuracy_pct === null ? "—" : p.accuracy_pct + " %";
    tr.dataset.list = p.pick_list ? p.pick_list.id : "";
    reassignCell($(".move", tr), p, pickers);
  }

  function applyPeople(people) {
    const tbody = $("#people tbody");
    if (!tbody) return;
    const pickers = people.filter((p) => p.role === "picker");
    const seen = new Set();
    people.forEach((p) => {
      seen.add(String(p.user_id));
      let tr = $('tr[data-user="' + p.user_id + '"]', tbody);
      if (!tr) { tr = personRow(p); tbody.insertBefore(tr, $(".empty", tbody)); }
      fillPerson(tr, p, pickers);
    });
    $$("tr[data-user]", tbody).forEach((tr) => { if (!seen.has(tr.dataset.user)) tr.remove(); });
    const empty = $(".empty", tbody);
    if (empty) empty.hidden = people.length > 0;
  }

  function tickIdle() {
    $$("#people td.idle[data-since]").forEach((td) => {
      td.textContent = clock((Date.now() - Number(td.dataset.since)) / 1000);
    });
  }

  // ---- projections -----------------------------------------------------------------------

  function projCell(p) {
    const td = h("td", { class: "proj" });
    if (!p) return td;
    td.append(h("span", { class: "pill p-" + p.status }, label(p.status)));
    if (p.status === "done") return td;
    td.append(h("br"), h("small", {}, p.finish_at
      ? "done ≈ " + Floor.formatTime(p.finish_at).slice(11) + " · " + Math.round(p.units_per_hour) + " u/h · " +
        p.pickers + " picker(s)"
      : p.status === "not_started" ? "nobody on it yet; time to spare" : "no pick rate yet"));
    return td;
  }

  function applyProjections(projections) {
    $$("#waves tr[data-wave]").forEach((tr) => {
      const old = $("td.proj", tr);
      if (old) old.replaceWith(projCell(projections[tr.dataset.wave]));
    });
  }

  // ---- wave drill-down -------------------------------------------------------------------

  let drillWave = null;

  function drill(waveId) {
    drillWave = waveId;
    return Floor.api("GET", "/dashboard/waves/" + waveId + "/drill").then((res) => {
      if (!res.ok || drillWave !== waveId) return;
      const box = $("#drill");
      const w = res.data.wave;
      const p = res.data.projection;
      $("#drill-title").textContent = "Wave " + w.code + " — " + w.units.picked + " / " +
        (w.units.total + (w.units.short || 0)) + " units" +
        (w.units.short ? " · " + w.units.short + " short" : "") + (p ? " · " + label(p.status) : "");
      box.dataset.wave = waveId;
      $("tbody", box).replaceChildren(...res.data.lists.map((l) =>
        h("tr", { "data-list": l.id },
          h("td", {}, "#" + l.id), h("td", {}, label(l.status)),
          h("td", { class: "holder" }, l.holder ? l.holder.name : "—"),
          h("td", {}, l.last_location || "—"), h("td", {}, clock(l.idle_s)),
          h("td", { class: "num" }, num(l.units_per_h)),
          h("td", { class: "num" }, l.tasks.left + " / " + l.tasks.total),
          h("td", { class: "num" }, l.units_left))));
      box.hidden = false;
    });
  }

  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button[data-drill]");
    if (btn) { drill(btn.dataset.drill); return; }
    if (ev.target.closest("#drill-close")) { drillWave = null; $("#drill").hidden = true; }
  });

  // ---- reassignment ----------------------------------------------------------------------

  document.addEventListener("submit", (ev) => {
    const form = ev.target.closest("form.reassign");
    if (!form) return;
    ev.preventDefault();
    const to = $("select", form).value;
    const button = $("button", form);
    button.disabled = true;
    $$(".err", form).forEach((el) => el.remove());
    Floor.api("POST", "/dashboard/pick-lists/" + form.dataset.list + "/reassign",
      { to_user_id: Number(to), reason: "reassigned from the dashboard" }).then((res) => {
      button.disabled = false;
      if (!res.ok) {
        const err = (res.data && res.data.error) || {};
        form.append(h("span", { class: "err", role: "alert" }, err.message || "failed"));
      }
    });
  }, true);

  // ---- the day's figures -----------------------------------------------------------------

  function pick(obj, path) {
    return path.split(".").reduce((o, k) => (o === null || o === undefined ? o : o[k]), obj);
  }

  function applyFigures(f) {
    if (!f) return;
    const day = $("#fig-day");
    if (day) day.textContent = f.day;
    $$("#figures dd[data-fig]").forEach((dd) => {
      const v = pick(f, dd.dataset.fig);
      const kind = dd.dataset.kind;
      dd.dataset.value = v === null || v === undefined ? "" : String(v);
      dd.textContent = v === null || v === undefined ? "—"
        : kind === "duration" ? clock(v) : kind === "pct" ? v + " %" : String(v);
    });
    const rates = $("#exc-rates");
    if (rates) {
      rates.replaceChildren(...Object.entries(f.exceptions.by_reason).map(([reason, n]) =>
        h("li", { "data-reason": reason }, label(reason) + ": " + n +
          (f.exceptions.per_100_orders[reason] === null ? "" :
            " (" + f.exceptions.per_100_orders[reason] + " per 100 orders)"))));
    }
    const chart = $("#uph-chart");
    if (chart && window.FloorChart) {
      // The site's clock hours ("07", or "01 CDT" / "01 CST" the night the clocks go back).
      const labels = f.units_by_hour.map((_, i) =>
        f.hour_labels ? f.hour_labels[i].replace(":00", "") : String(i).padStart(2, "0"));
      FloorChart.bars(chart, f.units_by_hour, labels, { title: "units per hour", unit: "units" });
    }
  }

  // ---- entry points ----------------------------------------------------------------------

  function apply(live) {
    if (!live) return;
    current = live;
    applyPeople(live.people || []);
    applyProjections(live.projections || {});
    if (drillWave !== null) drill(drillWave);
    document.body.dataset.liveAt = live.generated_at;
  }

  function onReassigned(ev) {
    const row = ev && $('#people tr[data-user="' + ev.from_user_id + '"]');
    if (row) row.classList.add("changed");
  }

  const boot = document.getElementById("shift-state");
  if (boot) {
    const state = JSON.parse(boot.textContent);
    apply(state.live);
    applyFigures(state.figures);
  }
  setInterval(tickIdle, 1000);

  window.Shift = { apply, figures: applyFigures, projections: () => current.projections,
                   projCell, onReassigned };
})();
