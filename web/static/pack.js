// Pack station: scan the tote, verify every item by scan, weigh, close → SSCC, tracking, label.
// The station's state (open order, verified units) lives on the server: the page loads it from
// /pack/state, and every change - a typed scan here, a serial scanner on the bench, a second
// screen - arrives as "pack.state" in the room station:<code>, so nobody needs the cursor in a
// text box. The carton weight comes from the station's scale when it has one and it is stable;
// otherwise the packer types it (nothing is pre-filled).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const socket = window.floorSocket;
  let current = null;   // the order being packed (server view)
  let scanned = {};     // line_id -> units verified (server's)
  let complete = false;
  let scale = null;     // {online, grams, stable, stable_grams, error, error_message} or null: no scale here
  let joined = "";

  function tone(good) {
    window.Floor.tone(good);
    document.body.dataset.tone = good ? "good" : "bad";
  }

  function feedback(ok, message) {
    const el = $("feedback");
    el.hidden = false;
    el.className = "feedback " + (ok ? "ok" : "bad");
    el.textContent = message;
    tone(ok);
  }
  const errorText = (r) => (r.data && r.data.error && r.data.error.message) || "error";
  const station = () => $("station").value;

  function renderScale() {
    const w = $("weight");
    const info = $("scale-info");
    if (!scale) {
      info.textContent = "No scale at this station: weigh the carton and type its weight.";
      w.readOnly = false;
      return;
    }
    if (!scale.online) {
      info.textContent = "Scale offline: type the weight.";
      w.readOnly = false;
    } else if (scale.stable && scale.stable_grams !== null) {
      info.textContent = "Scale: " + scale.stable_grams + " g (stable)";
      w.value = scale.stable_grams;
      w.readOnly = true;
    } else if (scale.error) {
      // overload, an error, a line that is no weight: no stable weight; the packer may type one
      info.textContent = "Scale: no stable weight (" + (scale.error_message || scale.error) + ")";
      w.value = "";
      w.readOnly = false;
    } else {
      info.textContent = scale.grams === null ? "Scale: waiting for a weight…"
                                              : "Scale: " + scale.grams + " g, settling…";
      w.value = "";
      w.readOnly = true;
    }
  }

  function render() {
    $("order").hidden = !current;
    document.body.dataset.packOrder = current ? current.order : "";
    if (!current) {
      $("scan-label").textContent = "Scan a tote (or type an order number), then Enter";
      return;
    }
    $("order-id").textContent = current.order;
    $("order-carrier").textContent = current.carrier + " " + current.service;
    const to = current.ship_to || {};
    $("order-ship-to").textContent = [to.name, to.city, to.country].filter(Boolean).join(", ");
    const body = $("lines").querySelector("tbody");
    body.innerHTML = "";
    current.lines.forEach((ln) => {
      const n = scanned[ln.line_id] || 0;
      const tr = document.createElement("tr");
      tr.className = n >= ln.to_pack ? "done" : "";
      tr.dataset.line = ln.line_id;
      [ln.sku, ln.name, String(n), String(ln.to_pack)].forEach((text) => {
        const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    $("close").disabled = !complete;
    $("scan-label").textContent = complete ? "All items verified: weigh and close the package"
                                           : "Scan each item";
    renderScale();
  }

  function apply(st) {
    current = st.order; scanned = st.scanned || {}; complete = !!st.complete;
    if (st.scale !== undefined) scale = st.scale;
    render();
    recoverClose();
  }

  // Every state that arrives bumps the epoch; a /pack/state answer older than one is dropped.
  let epoch = 0;
  async function load() {
    const mine = ++epoch;
    const r = await Floor.api("GET", "/pack/state?station=" + encodeURIComponent(station()));
    if (r.ok && mine === epoch) apply(r.data);
  }

  function join() {
    if (!socket) return;
    socket.emit("pack:join", { station: station(), previous: joined }, (resp) => {
      if (resp && resp.ok) { joined = station(); scale = resp.scale; renderScale(); }
    });
  }

  async function scan(code) {
    const r = await Floor.api("POST", "/pack/scan", { station: station(), code });
    if (!r.ok) { feedback(false, errorText(r)); return; }
    showScan(r.data);
    await load();  // pack.state brings it too, unless the room was not joined yet
  }

  // A typed scan's answer comes twice (HTTP reply and pack.state): show it once.
  let lastShown = { key: "", at: 0 };
  function showScan(answer) {
    if (!answer) return;
    const key = answer.result + "|" + answer.message;
    const now = Date.now();
    if (key === lastShown.key && now - lastShown.at < 1500) return;
    lastShown = { key, at: now };
    feedback(answer.result === "ok", answer.message || answer.result);
  }

  $("scan-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const code = $("scan").value.trim();
    $("scan").value = "";
    if (code) scan(code);
  });

  $("station").addEventListener("change", () => { join(); load(); });

  // One id per close of an order until the server answers: pressing Close again after a lost
  // answer sends the same id, and the server answers with the carton it already made.
  let pendingClose = null;
  function closeIdFor(order) {
    if (!pendingClose || pendingClose.order !== order) {
      const bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);  // (randomUUID needs HTTPS; stations may use plain HTTP)
      pendingClose = { order, id: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") };
    }
    return pendingClose.id;
  }

  // A close whose answer was lost (the network dropped). When the station's state shows the
  // order no longer open there, the close was made: it is sent again with its close_id, and the
  // server answers with the carton it made, so the packer sees its SSCC and label.
  let lostClose = null;
  function recoverClose() {
    if (!lostClose || (current && current.order === lostClose.order)) return;
    const body = lostClose;
    lostClose = null;
    sendClose(body);
  }

  $("close-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const weight = parseInt($("weight").value, 10);
    if (!(weight > 0)) { feedback(false, "Weigh the carton first"); return; }
    lostClose = null;
    sendClose({
      order: current.order, station: station(), weight_g: weight,
      dims_mm: [$("len"), $("wid"), $("hei")].map((el) => parseInt(el.value || "0", 10)),
      close_id: closeIdFor(current.order),
    });
  });

  async function sendClose(body) {
    const closedOrder = body.order;  // the station's state may move on while this waits
    let r;
    try {
      r = await Floor.api("POST", "/pack/close", body);
    } catch (e) {
      lostClose = body;
      feedback(false, "No answer from the server: press Close again (the carton is not packed twice)");
      load().catch(() => {});  // made after all? (else once the socket is back)
      return;
    }
    pendingClose = null;
    if (!r.ok) { feedback(false, errorText(r)); return; }
    $("sscc").textContent = r.data.sscc;
    $("tracking").textContent = (r.data.tracking || {})[r.data.sscc] || "(ships when the order is complete)";
    $("label-link").href = "/pack/labels/" + r.data.sscc + ".zpl";
    const slip = $("slip-link");  // (a page served before an upgrade has none: close anyway)
    if (slip) slip.href = "/documents/orders/" + encodeURIComponent(closedOrder) + "/packing-slip.pdf";
    const closed = (r.data.print_jobs || [])[0] || null;
    // The label may have printed before this answer arrived: its newest event wins.
    showJob(closed && (early.get(closed.job_id) || closed));
    early.clear();
    $("shipped").hidden = false;
    feedback(true, "Package closed: " + r.data.status);
    $("weight").value = "";
    await load();
    $("scan-label").textContent = "Scan the next tote";
    $("scan").focus();
  }

  // The label's print job, live: the server publishes "print.job" to the station's room.
  let job = null;
  const early = new Map();  // print.job events of jobs this page does not show (yet), newest last
  // A held job's detail is what the printer reported (printing/transports.py, worker.py), as
  // codes: "paper_out,head_open". The packer reads words, and that nothing is to be redone.
  const PROBLEMS = {
    paper_out: "out of paper", ribbon_out: "out of ribbon", head_open: "print head open",
    paused: "paused", buffer_full: "buffer full", head_too_hot: "print head too hot",
    head_cold: "print head too cold", not_responding: "not responding",
    unreachable: "unreachable",
  };
  function detailText(j) {
    if (j.status !== "held") return j.detail;
    const words = j.detail.split(",").map((code) => PROBLEMS[code] || code.replace(/_/g, " "));
    return "printer " + words.join(", ") + ": the label prints by itself once the printer is ready";
  }
  function showJob(j) {
    job = j;
    const state = $("print-state");
    state.textContent = j ? j.status : "no printer at this station";
    state.className = "print-state " + (j ? "status-" + j.status : "");
    $("print-detail").textContent = j && j.detail ? detailText(j) : "";
    $("print-actions").hidden = !j || ["queued", "sending", "held"].includes(j.status);
    $("print-confirm").hidden = !j || j.status !== "unknown";
    const pic = $("label-picture");
    if (j) { pic.src = "/printers/jobs/" + encodeURIComponent(j.job_id) + ".png"; pic.hidden = false; }
    else { pic.hidden = true; }
  }
  function joinStation(then) {
    if (!socket) return;
    socket.emit("join_station", { station: $("station").value }, (resp) => {
      if (resp && resp.ok && then) then();
    });
  }
  let heard = 0;  // print.job events shown for the job on screen, live
  if (socket) {
    // Events missed while offline: once back in the station's room (not before: an event sent
    // between the read and the join would be lost), read the job's state. An event heard while
    // the read was under way is as new as its answer or newer: the answer is then dropped (it
    // put a label that printed meanwhile back on "held").
    socket.on("connect", () => joinStation(catchUp));
    socket.on("print.job", (j) => {
      if (job && (j.job_id === job.job_id || j.reprint_of === job.job_id)) {
        heard++;
        showJob(j);
        return;
      }
      early.delete(j.job_id);
      early.set(j.job_id, j);
      if (early.size > 50) early.delete(early.keys().next().value);
    });
  }
  async function catchUp() {
    if (!job) return;
    const asked = job.job_id, before = heard;
    const r = await Floor.api("GET", "/printers/jobs/" + encodeURIComponent(asked));
    if (r.ok && job && job.job_id === asked && heard === before) showJob(r.data);
  }
  // Another station chosen: the carton closed here and its label are this station's, not that
  // one's (its Reprint would be refused there, and its print.job events go to this room).
  $("station").addEventListener("change", () => {
    job = null;
    $("shipped").hidden = true;
    joinStation();
  });
  $("print-confirm").addEventListener("click", async () => {
    const r = await Floor.api("POST", "/printers/jobs/" + encodeURIComponent(job.job_id) + "/confirm", { station: station() });
    if (r.ok) showJob(r.data); else feedback(false, (r.data && r.data.error && r.data.error.message) || "error");
  });
  $("print-reprint").addEventListener("click", async () => {
    const r = await Floor.api("POST", "/printers/jobs/" + encodeURIComponent(job.job_id) + "/reprint",
                              { reason: $("print-reason").value, station: station() });
    if (r.ok) {
      $("print-reason").value = "";
      // The worker may have sent the new label before this answer came: its "print.job" events
      // (reprint_of the job shown) were shown already, and the answer's "queued" is older.
      if (!(job && job.job_id === r.data.job_id)) showJob(r.data);
      feedback(true, "Printing the label again");  // (not the refusal of a try before)
    }
    else feedback(false, (r.data && r.data.error && r.data.error.message) || "error");
  });
  if (socket) {
    socket.on("connect", () => { join(); load(); });
    socket.on("pack.state", (st) => {
      if (!st || st.station !== station()) return;
      if (st.order && (!current || current.order !== st.order.order)) $("shipped").hidden = true;
      epoch++;
      apply(st);
      if (st.scan) showScan(st.scan);
    });
    socket.on("pack.reject", (data) => {
      if (data && data.station === station()) feedback(false, "Scanner: " + data.message);
    });
    socket.on("scale.reading", (data) => {
      if (data && data.station === station()) { scale = data; renderScale(); }
    });
  }

  document.addEventListener("click", (ev) => {
    if (!ev.target.closest("button, input, select, a")) $("scan").focus();
  });
  load();
  $("scan").focus();
})();
