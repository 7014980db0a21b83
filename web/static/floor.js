// Shared page helpers: the CSRF token for JSON calls, and the live Socket.IO connection to /floor.
(function () {
  "use strict";
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = meta ? meta.content : "";

  async function api(method, url, body) {
    const res = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { status: res.status, ok: res.ok, data };
  }

  function connect() {
    if (typeof io === "undefined") return null;
    const socket = io("/floor", { transports: ["websocket", "polling"] });
    const badge = document.getElementById("conn");
    const show = (state) => {
      if (!badge) return;
      badge.textContent = state;
      badge.className = "conn " + state;
    };
    socket.on("connect", () => show(navigator.onLine === false ? "offline" : "online"));
    socket.on("disconnect", () => show("offline"));
    socket.on("connect_error", () => show("offline"));
    window.addEventListener("offline", () => show("offline"));
    window.addEventListener("online", () => show(socket.connected ? "online" : "offline"));
    return socket;
  }

  window.Floor = { api, connect, csrfToken };
  // The page's one live connection (this file is loaded only for a logged-in user; no inline
  // script does it, because the Content-Security-Policy allows none).
  window.floorSocket = connect();
})();
