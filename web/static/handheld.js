// The picker's handheld: shows the current task, takes keyboard-wedge scans (code + Enter),
// gives green/red feedback with a tone, and never loses a scan: every scan and short report is
// queued in localStorage with a client id, sent in order when the socket is up, and removed only
// when the server has answered (the server ignores a client id it has already applied).
(function () {
  "use strict";
  const socket = window.floorSocket;
  const $ = (id) => document.getElementById(id);
  const userKey = "floor.queue." + ((document.querySelector(".who") || {}).textContent || "");
  let task = null;
  let sending = false;
  // Until the server has said which task is this picker's (or that there is none), a scan waits
  // here for it: a picker scans as soon as the page is up, the task can take a moment longer.
  let known = false;
  let early = [];

  const queue = {
    load() { try { return JSON.parse(localStorage.getItem(userKey) || "[]"); } catch (e) { return []; } },
    save(items) { localStorage.setItem(userKey, JSON.stringify(items)); renderQueue(); reportStatus(); },
    push(item) { const q = this.load(); q.push(item); this.save(q); },
    // Drop the item that was answered, wherever it is: another tab of the same picker sends
    // from this queue too, and dropping "the first" could drop a scan nobody had sent.
    drop(id) {
      const q = this.load();
      const at = q.findIndex((it) => it.data.client_scan_id === id);
      if (at >= 0) q.splice(at, 1);
      this.save(q);
    },
  };

  function uid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function tone(good) {
    window.Floor.tone(good);
    if (navigator.vibrate) navigator.vibrate(good ? 60 : [120, 60, 120]);
  }

  // A line on the screen in the colour of the outcome ("ok" green, "bad" red, "info" amber) and a
  // tone: high for good, low for bad.
  function feedback(kind, message) {
    const el = $("feedback");
    el.hidden = false;
    el.className = "feedback " + kind;
    el.textContent = message;
    document.body.dataset.last = kind;
    tone(kind !== "bad");
  }

  // The socket may still look connected while the device knows it has no network.
  const online = () => !!socket && socket.connected && navigator.onLine !== false;

  const TITLES = {
    wrong_item: "Wrong item",
    wrong_location: "Wrong location",
    over_pick: "Too many",
    empty_code: "Nothing scanned",
    task_not_found: "No such task",
    task_closed: "Task already closed",
    not_your_task: "Not your task",
    location_not_confirmed: "Location not confirmed",
    scan_location: "Scan the location",
    wrong_tote: "Wrong tote",
    nothing_to_put: "Scan the item first",
    wrong_lot: "Wrong lot",
    expired_lot: "Expired",
    bad_barcode: "Unreadable barcode",
  };

  // The device registry: queue length and battery (where the browser tells) on every change.
  let battery = null;
  if (navigator.getBattery) {
    navigator.getBattery().then((b) => {
      battery = b;
      b.addEventListener("levelchange", reportStatus);
      b.addEventListener("chargingchange", reportStatus);
      reportStatus();
    }).catch(() => {});
  }
  function reportStatus() {
    if (!socket || !socket.connected) return;
    socket.emit("device:status", {
      queue: queue.load().length,
      battery: battery ? battery.level : null,
      charging: battery ? battery.charging : null,
    });
  }

  function renderQueue() {
    const n = queue.load().length;
    const el = $("queue");
    el.hidden = n === 0;
    el.textContent = n === 1 ? "1 scan waiting to be sent" : n + " scans waiting to be sent";
    renderOthers();
  }

  // Scans another picker left queued on this handheld (their login ended before the network
  // came back): they are that picker's, sent when they log in here, never as this one's. Said
  // on the screen, or nobody knows the picks are not booked.
  function renderOthers() {
    const lines = [];
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const key = localStorage.key(i);
        if (!key || !key.startsWith("floor.queue.") || key === userKey) continue;
        let n = 0;
        try { n = JSON.parse(localStorage.getItem(key) || "[]").length || 0; } catch (e) { n = 0; }
        if (!n) continue;
        const who = key.slice("floor.queue.".length).split(" · ")[0] || "another picker";
        lines.push((n === 1 ? "1 scan of " : n + " scans of ") + who +
                   " waiting on this handheld: sent when " + who + " logs in here");
      }
    } catch (e) { /* no storage here */ }
    const el = $("queue-others");
    el.hidden = lines.length === 0;
    el.textContent = lines.join("; ");
  }

  function render(t) {
    task = t || null;
    $("task").hidden = !task;
    $("idle").hidden = !!task;
    $("problem").hidden = !task;
    if (!task) {
      $("idle").textContent = "No pick task for you right now. New tasks appear here by themselves.";
      reportStatus();
      return;
    }
    $("task").dataset.taskId = task.id;
    $("cart-to").hidden = true;
    $("task-location").textContent = task.location.code;
    // With location confirmation on the server sends no check code: it is on the rack label.
    $("check-box").hidden = !task.location.check_code;
    $("task-check").textContent = task.location.check_code || "";
    const hint = $("confirm-hint");
    hint.hidden = task.confirm === "off" || task.location_confirmed;
    hint.textContent = task.confirm === "scan" ? "Scan the location barcode first"
                                               : "Type the check digits from the rack label first";
    $("task").dataset.confirmed = task.location_confirmed ? "yes" : "no";
    $("tote-box").hidden = !task.tote;
    $("tote-hint").textContent = task.tote_scan ? (task.held_units ? " · scan the tote now" : " · scan it after the item") : "";
    $("tote-box").classList.toggle("waiting", !!task.held_units);
    $("task-qty").textContent = task.quantity;
    $("task-picked").textContent = task.picked_qty;
    $("task-sku").textContent = task.sku.code;
    $("task-name").textContent = task.sku.name;
    $("task-wave").textContent = task.wave_code || "";
    $("task-seq").textContent = task.seq;
    $("task-order").textContent = task.order || "";
    $("task-tote").textContent = task.tote || "";
    $("task-left").textContent = task.tasks_left;
  }

  let retryNext = null;
  function requestNext() {
    if (!online()) return;
    clearTimeout(retryNext);
    socket.timeout(8000).emit("task:next", {}, (err, resp) => {
      if (resp && resp.ok) { known = true; render(resp.task); sendEarly(); return; }
      if (resp && resp.error && resp.error.code === "not_authenticated") {
        window.Floor.sessionEnded();
        return;
      }
      // No answer in time (a slow network, a busy server) or a refusal: ask again shortly; the
      // picker must not stay on "Looking for your next pick…" until they reload.
      retryNext = setTimeout(() => { if (!task) requestNext(); }, 2000);
    });
  }

  function applyAnswer(resp) {
    if (!resp) return;
    if (!resp.ok) {  // the server refused the request itself (payload, role, session)
      const e = resp.error || {};
      feedback("bad", "Not accepted: " + (e.message || e.code || "error"));
      return;
    }
    if (resp.replayed) {  // sent before, its answer was lost on the way: nothing happened twice
      feedback(resp.result === "ok" || resp.result === "short" ? "ok" : "bad",
               "Already received: " + (TITLES[resp.result] || resp.result));
    } else if (resp.result === "ok") {
      feedback("ok", resp.kind === "location" ? "Location OK: " + resp.message : "OK " + resp.message);
    } else if (resp.result === "short") {
      feedback("info", "Reported: " + resp.message);
    } else {
      feedback("bad", (TITLES[resp.result] || resp.result) + ": " + resp.message);
    }
    if (resp.cart_to) {
      const el = $("cart-to");
      el.hidden = false;
      el.textContent = "Take cart to " + resp.cart_to;
    }
    if (resp.next_task !== undefined) render(resp.next_task);
    else if (resp.task !== undefined) render(resp.task);
    if (!task) requestNext();
  }

  function pump() {
    if (sending || !online()) return;
    const item = queue.load()[0];
    if (!item) return;
    sending = true;
    socket.timeout(8000).emit(item.event, item.data, (err, resp) => {
      sending = false;
      if (err) { setTimeout(pump, 1000); return; }  // no answer: keep it, try again
      if (resp && !resp.ok && resp.error && resp.error.code === "not_authenticated") {
        // The login ended before the server closed this socket: the scan was not applied.
        // Keep it queued (it is sent after the log-in) and go to the log-in page.
        feedback("bad", "Your login has ended: log in again, the scans waiting are kept.");
        window.Floor.sessionEnded();
        return;
      }
      queue.drop(item.data.client_scan_id);
      applyAnswer(resp);
      pump();
    });
  }

  $("scan-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("scan");
    const code = input.value.trim();
    input.value = "";
    if (!code) return;
    if (!task && !known) {
      early.push({ code, at: new Date().toISOString() });
      feedback("info", "Scan kept: waiting for your task…");
      return;
    }
    if (!task) { feedback("bad", "No task to scan for."); return; }
    queueScan(code, new Date().toISOString());
  });

  function queueScan(code, at) {
    queue.push({ event: "scan", data: { client_scan_id: uid(), task_id: task.id, code,
                                        scanned_at: at } });
    if (!online()) feedback("info", "Offline: scan kept, it is sent when the network is back.");
    pump();
  }

  function sendEarly() {
    const codes = early;
    early = [];
    if (!codes.length) return;
    if (!task) { feedback("bad", "No task to scan for."); return; }
    codes.forEach((c) => queueScan(c.code, c.at));
  }

  document.querySelectorAll("#problem button[data-reason]").forEach((btn) => {
    btn.addEventListener("click", () => {
      if (!task) return;
      queue.push({ event: "short", data: { client_scan_id: uid(), task_id: task.id,
                                           reason: btn.dataset.reason } });
      $("problem").open = false;
      if (!online()) feedback("info", "Offline: report kept, it is sent when the network is back.");
      pump();
      $("scan").focus();
    });
  });

  // Another tab of the same picker sends from the same queue: when it changes there, this tab
  // shows the queue as it is, and the task once the queue is empty.
  window.addEventListener("storage", (ev) => {
    if (ev.key !== userKey) return;
    renderQueue();
    if (queue.load().length === 0) requestNext();
  });

  // Keep the scan field focused: a keyboard-wedge scanner types wherever the focus is.
  document.addEventListener("click", (ev) => {
    if (!ev.target.closest("button, summary, a, input")) $("scan").focus();
  });
  $("scan").focus();

  if (socket) {
    socket.on("connect", () => { reportStatus(); pump(); requestNext(); });
    setInterval(reportStatus, 60000);
    window.addEventListener("online", () => { pump(); requestNext(); });
    socket.on("task.available", () => { if (!task) requestNext(); });
    socket.on("task.canceled", (data) => {
      if (task && data && data.task_id === task.id) {
        // the reason is a code ("order_canceled") or words ("wave canceled"): read as words
        const why = data.reason ? String(data.reason).replace(/_/g, " ") : "";
        feedback("bad", "This task was canceled" + (why ? " (" + why + ")" : "") + ".");
        render(null);
        requestNext();
      }
    });
    socket.on("pick_list.reassigned", (data) => {
      // The supervisor moved a list this picker held: drop its task at once and say so.
      if (!data) return;
      const mine = task && data.pick_list_id === task.pick_list_id;
      feedback("bad", "Pick list " + data.pick_list_id + " (" + (data.wave_code || "") +
        ") was moved to " + (data.to || "another picker") + " by " + (data.by || "the supervisor") + ".");
      $("feedback").dataset.reassigned = String(data.pick_list_id);
      if (mine) { render(null); requestNext(); }
    });
    socket.on("task.updated", (data) => { if (task && data && data.id === task.id) render(data); });
  }
  renderQueue();
  render(null);
  $("idle").textContent = "Looking for your next pick…";
})();
