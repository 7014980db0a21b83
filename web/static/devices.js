// The device registry (/dashboard/devices) and "test this scanner": live over Socket.IO.
// On the registry a device event reloads the page (a handful of rows, throttled); on the test
// view each frame is added on top as it arrives, good or rejected.
(function () {
  "use strict";
  const socket = window.floorSocket;
  if (!socket) return;
  socket.on("connect", () => socket.emit("devices:join", {}));
  const conf = document.getElementById("device-test");
  if (!conf) {
    let timer = null;
    const reload = () => { clearTimeout(timer); timer = setTimeout(() => location.reload(), 400); };
    socket.on("device.status", reload);
    socket.on("device.frame", reload);
    // Back after a lost connection (Wi-Fi, a server restart): the changes made meanwhile were
    // never heard, so read the page again. (Not on the first connect: the page is new.)
    let connectedBefore = socket.connected;
    socket.on("connect", () => { if (connectedBefore) reload(); connectedBefore = true; });
    return;
  }
  const { kind, station } = JSON.parse(conf.textContent);
  socket.on("device.frame", (f) => {
    if (f.kind !== kind || f.station !== station) return;
    const tr = document.createElement("tr");
    tr.className = f.result === "ok" ? "ok" : "bad";
    const cells = [Floor.formatTime(f.at, true), f.raw, f.text,
      f.result + (f.reason ? " · " + f.reason : "") + (f.message ? " — " + f.message : "")];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 1) { const c = document.createElement("code"); c.textContent = text; td.appendChild(c); }
      else td.textContent = text;
      tr.appendChild(td);
    });
    document.querySelector("#frames tbody").prepend(tr);
  });
})();
