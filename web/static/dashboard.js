// The supervisor's live dashboard. The server renders a snapshot (works without JS); this script
// keeps it current: on (re)connect it asks for the coalesced feed (socket "dashboard:live",
// web/live.py) and re-reads the snapshot (GET /dashboard/state) so nothing sent while it was
// away is missed; from then on one "dashboard.live" message every 0.6 s at most carries the events
// (order.status, wave.*, exception.*, replenishment.*) and the live people/projections/figures
// (drawn by shift.js). Events and snapshot are put together so that none counts twice or gets
// lost ("keeping in step" below). It counts the time to each wave's cut-off down every second,
// and sends the row buttons as JSON calls with the CSRF header.
(function () {
  "use strict";
  const socket = window.floorSocket;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const label = (s) => String(s || "").replace(/_/g, " ");
  const orderUrl = (id) => "/orders/" + encodeURIComponent(id);
  const RECENT = 10;

  // h("td", {class: "x"}, "text", child, ...) — builds DOM without innerHTML (no injection).
  // A "width" attribute becomes the element's style width (set through the CSSOM: the
  // Content-Security-Policy allows no inline style attributes).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === null || v === undefined || v === false) return;
      if (k === "width") el.style.width = v;
      else el.setAttribute(k, v === true ? "" : v);
    });
    children.flat().forEach((c) => {
      if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
    });
    return el;
  }

  function pill(status) { return h("span", { class: "pill s-" + status }, label(status)); }

  function actionForm(action, api, ...fields) {
    return h("form", { method: "post", action, "data-api": api, class: "inline" },
      h("input", { type: "hidden", name: "csrf_token", value: Floor.csrfToken }),
      h("input", { type: "hidden", name: "next", value: "/dashboard" }), ...fields);
  }

  // Keep a table's (or list's) "nothing here" row visible exactly when it has no other row.
  function syncEmpty(container) {
    const empty = $(".empty", container);
    if (empty) empty.hidden = $$(":scope > :not(.empty)", container).length > 0;
  }

  function flash(el) {
    el.classList.remove("changed");
    void el.offsetWidth;  // restart the highlight animation
    el.classList.add("changed");
  }

  // ---- order counts and the newest orders ------------------------------------------------

  function setCount(status, n) {
    const tile = $('#counts [data-status="' + status + '"]');
    if (!tile) return;
    n = Math.max(0, n);
    $("b", tile).textContent = n;
    tile.classList.toggle("zero", n === 0);
  }

  function bump(status, delta) {
    const tile = $('#counts [data-status="' + status + '"]');
    if (!tile) return;
    setCount(status, parseInt($("b", tile).textContent, 10) + delta);
    flash(tile);
  }

  function recentItem(o) {
    return h("li", { "data-order": o.external_id },
      h("a", { href: orderUrl(o.external_id) }, o.external_id), " ", pill(o.status));
  }

  function onOrderStatus(ev) {
    if (!ev || !ev.to) return;
    if (ev.from) bump(ev.from, -1);
    bump(ev.to, +1);
    const list = $("#recent");
    const li = $$("li[data-order]", list).find((el) => el.dataset.order === ev.order);
    if (li) {
      li.replaceWith(recentItem({ external_id: ev.order, status: ev.to }));
    } else if (!ev.from || ev.from === "received") {  // a new order
      list.prepend(recentItem({ external_id: ev.order, status: ev.to }));
      $$("li[data-order]", list).slice(RECENT).forEach((el) => el.remove());
    }
    syncEmpty(list);
  }

  // ---- waves: progress and time to cut-off -----------------------------------------------

  const FINISHED = ["completed", "canceled"];

  function duration(seconds) {
    const s = Math.abs(Math.trunc(seconds));
    const pad = (n) => String(n).padStart(2, "0");
    const text = s >= 86400
      ? Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h"
      : Math.floor(s / 3600) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
    return seconds < 0 ? "late " + text : text;
  }

  function tick() {
    $$("td.countdown[data-deadline]").forEach((td) => {
      const secs = Math.round((Number(td.dataset.deadline) - Date.now()) / 1000);
      td.textContent = duration(secs);
      td.classList.toggle("late", secs < 0);
    });
  }

  function waveRow(w) {
    const total = w.tasks.total || 0;
    const pct = (n) => (total ? (100 * n) / total : 0) + "%";
    const open = !FINISHED.includes(w.status);
    const percent = Number(w.percent || 0).toFixed(1);
    const countdown = h("td", { class: "countdown" });
    if (open && w.seconds_to_cutoff !== null && w.seconds_to_cutoff !== undefined) {
      countdown.dataset.deadline = String(Date.now() + w.seconds_to_cutoff * 1000);
    }
    const actions = h("td", { class: "actions" });
    if (w.status === "released" || w.status === "in_progress") {
      actions.append(h("button", { type: "button", class: "drill", "data-drill": w.id }, "Lists"));
    }
    if (w.status === "planned") {
      actions.append(actionForm("/dashboard/waves/" + w.id + "/release", "/waves/" + w.id + "/release",
        h("button", { type: "submit" }, "Release")));
    }
    return h("tr", { "data-wave": w.id, "data-status": w.status, "data-cutoff": w.cutoff_at || "" },
      h("td", { class: "code" }, h("b", {}, w.code), h("br"),
        h("small", {}, w.pick_lists + " list(s) · " + Math.round(w.route_length_m || 0) + " m")),
      h("td", {}, pill(w.status)),
      h("td", { class: "progress" },
        h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
                   "aria-valuenow": percent },
          // The picked part grows with each unit (not only when a task is done).
          h("span", { class: "picked", width: (w.units.total ? ((100 - (total ? 100 * w.tasks.short / total : 0)) * w.units.picked) / w.units.total : 0) + "%" }),
          h("span", { class: "short", width: pct(w.tasks.short) })),
        h("div", { class: "ptext" }, w.tasks.done + " / " + total + " tasks · " + w.tasks.short +
          " short · " + w.units.picked + " / " + (w.units.total + (w.units.short || 0)) + " units · " +
          percent + " %")),
      h("td", { class: "cutoff" }, w.cutoff_at ? Floor.formatTime(w.cutoff_at) : "—"),
      window.Shift ? Shift.projCell(Shift.projections()[w.id]) : h("td", { class: "proj" }),
      countdown,
      actions);
  }

  function upsertWave(w) {
    if (!w || w.id === undefined) return;
    const tbody = $("#waves tbody");
    const row = waveRow(w);
    const old = $('tr[data-wave="' + w.id + '"]', tbody);
    if (old) {
      old.replaceWith(row);
    } else if (w.status === "canceled") {
      return;
    } else {
      const later = $$("tr[data-wave]", tbody).find((tr) => (tr.dataset.cutoff || "~") > (w.cutoff_at || "~"));
      tbody.insertBefore(row, later || $(".empty", tbody));
    }
    flash(row);
    syncEmpty(tbody);
    tick();
  }

  // ---- exceptions and replenishment ------------------------------------------------------

  function exceptionRow(e) {
    // The time of day in the site's zone, as the server's first paint shows it (an event
    // without a time is one that happened just now).
    const when = Floor.formatTime(e.created_at || new Date().toISOString(), true).slice(11);
    return h("tr", { "data-exception": e.id },
      h("td", {}, when),
      h("td", {}, h("span", { class: "reason" }, label(e.reason))),
      h("td", {}, e.order ? h("a", { href: orderUrl(e.order) }, e.order) : ""),
      h("td", { class: "msg" }, e.message || ""),
      h("td", {}, e.reason === "return_to_stock" && e.order
        // its units go back on the books by the supervisor's "returned to stock", not by text
        ? actionForm("/dashboard/orders/" + encodeURIComponent(e.order) + "/return-to-stock",
            "/orders/" + encodeURIComponent(e.order) + "/return-to-stock",
            h("button", { type: "submit" }, "Returned to stock"))
        : actionForm("/dashboard/exceptions/" + e.id + "/resolve", "/exceptions/" + e.id + "/resolve",
            h("input", { name: "resolution", placeholder: "how it was resolved", required: true,
                         maxlength: "500", "aria-label": "resolution" }),
            h("button", { type: "submit" }, "Resolve"))));
  }

  function replenishmentRow(r) {
    return h("tr", { "data-replenishment": r.id },
      h("td", {}, r.sku), h("td", {}, (r.from_location || "?") + " → " + r.to_location),
      h("td", {}, r.quantity),
      h("td", {}, actionForm("/dashboard/replenishments/" + r.id + "/complete",
        "/replenishments/" + r.id + "/complete", h("button", { type: "submit" }, "Done"))));
  }

  function addRow(tbody, attr, item, build) {
    if ($$("tr[" + attr + "]", tbody).some((tr) => tr.getAttribute(attr) === String(item.id))) return;
    const row = build(item);
    tbody.prepend(row);
    flash(row);
    syncEmpty(tbody);
  }

  function removeRow(tbody, attr, id) {
    $$("tr[" + attr + "]", tbody).filter((tr) => tr.getAttribute(attr) === String(id))
      .forEach((tr) => tr.remove());
    syncEmpty(tbody);
  }

  const exceptions = () => $("#exceptions tbody");
  const replenishments = () => $("#replenishments tbody");

  function onExceptionOpened(e) {
    // Exceptions opened at intake carry no id yet: read the open list again.
    if (!e || e.id === undefined || e.id === null) { refresh(); return; }
    addRow(exceptions(), "data-exception", e, exceptionRow);
  }

  // ---- the whole snapshot ----------------------------------------------------------------

  function replaceRows(tbody, items, build) {
    $$(":scope > :not(.empty)", tbody).forEach((el) => el.remove());
    const empty = $(".empty", tbody);
    items.forEach((item) => tbody.insertBefore(build(item), empty));
    syncEmpty(tbody);
  }

  function applyState(state) {
    Object.entries(state.counts).forEach(([status, n]) => setCount(status, n));
    replaceRows($("#waves tbody"), state.waves, waveRow);
    replaceRows($("#recent"), state.recent_orders, recentItem);
    replaceRows(exceptions(), state.exceptions, exceptionRow);
    replaceRows(replenishments(), state.replenishments, replenishmentRow);
    if (window.Shift) { Shift.apply(state.live); Shift.figures(state.figures); }
    tick();
  }

  // ---- keeping in step: the snapshot and the events -------------------------------------
  //
  // The order tiles are counted by deltas (each order.status moves one order from a tile to
  // another) on top of the snapshot, and the snapshot is read while the floor goes on moving.
  // Applied as they came, events counted twice a move committed just before the snapshot was
  // read and sent just after it (the next flush of the live feed), and lost one committed just
  // after it whose message came before the snapshot's answer (the answer overwrote it); over a
  // few reconnects on a busy floor the tiles drifted (tests/dash/test_dashboard_resync.py).
  // So, on each connection:
  //  - an event that comes before the snapshot is asked for is dropped: the snapshot holds it;
  //  - events that come while it is being read wait, and are applied after it, in order;
  //  - an order.status carries its feed position (seq), and the snapshot the position its
  //    counts hold: a move at or before that position is already counted, and is dropped.
  // Everything else an event does (a wave's bar, a row added or removed) is a state, not a
  // delta: applied again after the snapshot it ends where the floor is.
  let counted = -1;     // the feed position the last snapshot's counts hold
  let synced = false;   // a snapshot was read on this connection: events apply as they come
  let held = null;      // while a snapshot is being read: the messages that came meanwhile
  let refreshing = false;
  let again = false;    // asked for while a read was under way: read once more after it
  let retry = null;

  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    held = held || [];
    Floor.api("GET", "/dashboard/state").then(
      (res) => snapshotRead(res.ok && res.data ? res.data : null),
      () => snapshotRead(null));
  }

  function snapshotRead(state) {
    refreshing = false;
    const waiting = held || [];
    held = null;
    if (state) {
      applyState(state);
      if (typeof state.seq === "number") counted = state.seq;
      synced = true;
      const live = $("#live");
      if (live) live.textContent = "live since " + Floor.formatTime(new Date().toISOString(), true).slice(11);
      document.body.dataset.live = "1";
      document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + 1);
    }
    waiting.forEach(applyLive);
    if (again) {
      again = false;
      refresh();
    } else if (!state && socket && socket.connected && retry === null) {
      // No snapshot (the server refused or did not answer): the page would stay as it was
      // (not synced, it drops every event), so ask again.
      retry = setTimeout(() => { retry = null; refresh(); }, 2000);
    }
  }

  // ---- row buttons: JSON calls instead of page posts -------------------------------------

  function done(form, data) {
    const row = form.closest("tr");
    if (!row) return;
    if (row.dataset.exception) removeRow(exceptions(), "data-exception", row.dataset.exception);
    else if (row.dataset.replenishment) removeRow(replenishments(), "data-replenishment", row.dataset.replenishment);
    else if (row.dataset.wave) upsertWave(data);
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target.closest("form[data-api]");
    if (!form) return;
    ev.preventDefault();
    const body = {};
    new FormData(form).forEach((v, k) => { if (k !== "csrf_token" && k !== "next") body[k] = v; });
    const button = $("button", form);
    if (button) button.disabled = true;
    $$(".err", form).forEach((el) => el.remove());
    Floor.api("POST", form.dataset.api, body).then((res) => {
      if (button) button.disabled = false;
      if (res.ok) { done(form, res.data); return; }
      const err = (res.data && (res.data.error || (res.data.errors || [])[0])) || {};
      form.append(h("span", { class: "err", role: "alert" }, err.message || err.code || "failed (" + res.status + ")"));
    });
  });

  // ---- wiring ----------------------------------------------------------------------------

  $$("td.countdown[data-seconds]").forEach((td) => {
    td.dataset.deadline = String(Date.now() + Number(td.dataset.seconds) * 1000);
  });
  // The server-rendered bars carry their width as data-width (no inline styles under the CSP).
  $$("[data-width]").forEach((el) => { el.style.width = el.dataset.width + "%"; });
  tick();
  setInterval(tick, 1000);

  // One coalesced message: the events since the last one, then the live state.
  const HANDLERS = {
    "order.status": onOrderStatus,
    "wave.planned": upsertWave, "wave.released": upsertWave, "wave.progress": upsertWave,
    "exception.opened": onExceptionOpened,
    "exception.resolved": (e) => e && removeRow(exceptions(), "data-exception", e.id),
    "replenishment.created": (r) => r && addRow(replenishments(), "data-replenishment", r, replenishmentRow),
    "replenishment.done": (r) => r && removeRow(replenishments(), "data-replenishment", r.id),
    "replenishment.canceled": (r) => r && removeRow(replenishments(), "data-replenishment", r.id),
    "pick_list.reassigned": (e) => window.Shift && Shift.onReassigned(e),
  };

  function applyEvent(ev) {
    const data = ev.data;
    if (ev.name === "order.status" && data && typeof data.seq === "number" && data.seq <= counted) {
      return;  // the snapshot already counts this move
    }
    const fn = HANDLERS[ev.name];
    if (fn) fn(data);
  }

  function applyLive(msg) {
    if (synced) (msg.events || []).forEach(applyEvent);
    if (window.Shift) {
      if (msg.live) Shift.apply(msg.live);
      if (msg.figures) Shift.figures(msg.figures);
    }
  }

  // Every event, of the live feed or of the per-event room (where a connection is until it
  // has joined the live feed), comes through here.
  function onMessage(msg) {
    if (!msg) return;
    if (held) held.push(msg);
    else applyLive(msg);
  }

  function onLive(msg) {
    onMessage(msg);
    document.body.dataset.liveMessages = String(Number(document.body.dataset.liveMessages || 0) + 1);
  }

  function joinLive() {
    // Leave the per-event room for the coalesced one, then read the snapshot.
    synced = false;
    socket.timeout(5000).emit("dashboard:live", {}, () => refresh());
  }

  if (socket) {
    socket.on("connect", joinLive);
    socket.on("dashboard.live", onLive);
    socket.on("disconnect", () => {
      synced = false;
      const live = $("#live");
      if (live) live.textContent = "connection lost: reconnecting…";
    });
    Object.keys(HANDLERS).filter((name) => name !== "pick_list.reassigned").forEach((name) =>
      socket.on(name, (data) => onMessage({ events: [{ name, data }] })));
  }
})();
