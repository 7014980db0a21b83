// Resolve without leaving the page; re-read the queue when exceptions open or close elsewhere.
(function () {
  "use strict";
  const socket = window.floorSocket;
  let timer = null;
  const reload = () => {
    if (document.activeElement && document.activeElement.name === "resolution" && document.activeElement.value) return;
    clearTimeout(timer);
    timer = setTimeout(() => window.location.reload(), 300);
  };
  document.addEventListener("submit", (ev) => {
    const form = ev.target.closest("form.resolve");
    if (!form) return;
    ev.preventDefault();
    Floor.api("POST", form.dataset.api, { resolution: form.resolution.value }).then((res) => {
      if (res.ok) { window.location.reload(); return; }
      const err = (res.data && res.data.error) || {};
      form.append(Object.assign(document.createElement("span"), { className: "err", textContent: err.message || "failed" }));
    });
  });
  if (socket) {
    socket.on("exception.opened", reload);
    socket.on("exception.resolved", reload);
    // Back after a lost connection (Wi-Fi, a server restart): what opened or closed meanwhile
    // was never heard, so read the queue again. (Not on the first connect: the page is new.)
    let connectedBefore = socket.connected;
    socket.on("connect", () => { if (connectedBefore) reload(); connectedBefore = true; });
  }
})();
