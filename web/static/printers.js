// /printers: choosing a station reloads the page for it; any job or printer change reloads the
// page's data (simple and always right), and so does coming back online.
(function () {
  "use strict";
  const form = document.getElementById("station-form");
  if (form) form.querySelector("select").addEventListener("change", () => form.submit());
  const s = window.floorSocket;
  if (!s) return;
  const station = form && form.dataset.station;
  if (station) s.on("connect", () => s.emit("join_station", { station: station }));
  let t = null;
  const later = () => { clearTimeout(t); t = setTimeout(() => location.reload(), 400); };
  s.on("print.job", later);
  s.on("printer.status", later);
  // Back after a lost connection (Wi-Fi, a server restart): the changes made meanwhile were
  // never heard, so read the page again. (Not on the first connect: the page is new.)
  let connectedBefore = s.connected;
  s.on("connect", () => { if (connectedBefore) later(); connectedBefore = true; });
})();
