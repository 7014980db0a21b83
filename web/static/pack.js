// Pack station: scan the tote, verify every item by scan, weigh, close → SSCC, tracking, label.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  let current = null;   // the order being packed (server view)
  let scanned = {};     // line_id -> units verified

  function feedback(ok, message) {
    const el = $("feedback");
    el.hidden = false;
    el.className = "feedback " + (ok ? "ok" : "bad");
    el.textContent = message;
  }

  function render() {
    $("order").hidden = !current;
    if (!current) return;
    $("order-id").textContent = current.order;
    $("order-carrier").textContent = current.carrier + " " + current.service;
    const to = current.ship_to || {};
    $("order-ship-to").textContent = [to.name, to.city, to.country].filter(Boolean).join(", ");
    const body = $("lines").querySelector("tbody");
    body.innerHTML = "";
    let complete = true;
    current.lines.forEach((ln) => {
      const n = scanned[ln.line_id] || 0;
      if (n < ln.to_pack) complete = false;
      const tr = document.createElement("tr");
      tr.className = n >= ln.to_pack ? "done" : "";
      [ln.sku, ln.name, String(n), String(ln.to_pack)].forEach((text) => {
        const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    $("close").disabled = !complete;
    $("scan-label").textContent = complete ? "All items verified: weigh and close the package"
                                           : "Scan each item";
  }

  async function openOrder(code) {
    const r = await Floor.api("POST", "/pack/open", { code });
    if (!r.ok) { feedback(false, (r.data && r.data.error && r.data.error.message) || "error"); return; }
    current = r.data; scanned = {};
    $("weight").value = current.suggested_weight_g;
    $("shipped").hidden = true;
    feedback(true, "Order " + current.order + " opened");
    render();
  }

  async function verify(code) {
    const r = await Floor.api("POST", "/pack/verify", { order: current.order, code });
    if (!r.ok) { feedback(false, (r.data && r.data.error && r.data.error.message) || "error"); return; }
    if (r.data.result !== "ok") { feedback(false, r.data.message); return; }
    const line = current.lines.find((ln) => ln.line_id === r.data.line_id);
    const n = (scanned[r.data.line_id] || 0) + r.data.units;
    if (n > line.to_pack) { feedback(false, "Too many: only " + line.to_pack + " of " + line.sku); return; }
    scanned[r.data.line_id] = n;
    feedback(true, line.sku + ": " + n + " of " + line.to_pack);
    render();
  }

  $("scan-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const code = $("scan").value.trim();
    $("scan").value = "";
    if (!code) return;
    if (!current) openOrder(code); else verify(code);
  });

  $("close-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await Floor.api("POST", "/pack/close", {
      order: current.order, station: $("station").value, items: scanned,
      weight_g: parseInt($("weight").value, 10),
      dims_mm: [$("len"), $("wid"), $("hei")].map((el) => parseInt(el.value || "0", 10)),
    });
    if (!r.ok) { feedback(false, (r.data && r.data.error && r.data.error.message) || "error"); return; }
    $("sscc").textContent = r.data.sscc;
    $("tracking").textContent = (r.data.tracking || {})[r.data.sscc] || "(ships when the order is complete)";
    $("label-link").href = "/pack/labels/" + r.data.sscc + ".zpl";
    const job = (r.data.print_jobs || [])[0] || null;
    showJob(job);
    $("shipped").hidden = false;
    feedback(true, "Package closed: " + r.data.status);
    current = null; scanned = {};
    render();
    $("scan-label").textContent = "Scan the next tote";
    $("scan").focus();
  });

  // The label's print job, live: the server publishes "print.job" to the station's room.
  let job = null;
  function showJob(j) {
    job = j;
    const state = $("print-state");
    state.textContent = j ? j.status : "no printer at this station";
    state.className = "print-state " + (j ? "status-" + j.status : "");
    $("print-detail").textContent = j && j.detail ? j.detail : "";
    $("print-actions").hidden = !j || ["queued", "sending", "held"].includes(j.status);
    $("print-confirm").hidden = !j || j.status !== "unknown";
    const pic = $("label-picture");
    if (j) { pic.src = "/printers/jobs/" + encodeURIComponent(j.job_id) + ".png"; pic.hidden = false; }
    else { pic.hidden = true; }
  }
  const socket = window.floorSocket;
  function joinStation() {
    if (socket) socket.emit("join_station", { station: $("station").value });
  }
  if (socket) {
    socket.on("connect", joinStation);
    socket.on("print.job", (j) => {
      if (!job) return;
      if (j.job_id === job.job_id || j.reprint_of === job.job_id) showJob(j);
    });
    // Missed events while offline: ask for the job's state when the socket comes back.
    socket.on("connect", async () => {
      if (!job) return;
      const r = await Floor.api("GET", "/printers/jobs/" + encodeURIComponent(job.job_id));
      if (r.ok) showJob(r.data);
    });
  }
  $("station").addEventListener("change", joinStation);
  $("print-confirm").addEventListener("click", async () => {
    const r = await Floor.api("POST", "/printers/jobs/" + encodeURIComponent(job.job_id) + "/confirm", {});
    if (r.ok) showJob(r.data); else feedback(false, (r.data && r.data.error && r.data.error.message) || "error");
  });
  $("print-reprint").addEventListener("click", async () => {
    const r = await Floor.api("POST", "/printers/jobs/" + encodeURIComponent(job.job_id) + "/reprint",
                              { reason: $("print-reason").value });
    if (r.ok) { $("print-reason").value = ""; showJob(r.data); }
    else feedback(false, (r.data && r.data.error && r.data.error.message) || "error");
  });

  document.addEventListener("click", (ev) => {
    if (!ev.target.closest("button, input, select, a")) $("scan").focus();
  });
  $("scan").focus();
})();
