// Shared page helpers: the CSRF token for JSON calls, the live Socket.IO connection to /floor and
// the scan beep.
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
    // Not yet: see the end of this function.
    const socket = io("/floor", { transports: ["websocket", "polling"], autoConnect: false });
    const badge = document.getElementById("conn");
    const show = (state) => {
      if (!badge) return;
      badge.textContent = state;
      badge.className = "conn " + state;
    };
    // The server closes a socket (or refuses one) only when its session has ended: logged out
    // on another device, deactivated. The page goes to the log-in page instead of looking
    // offline; scans kept on the handheld stay in its queue and are sent after the log-in.
    socket.on("connect", () => show(navigator.onLine === false ? "offline" : "online"));
    socket.on("disconnect", (reason) => {
      show("offline");
      if (reason === "io server disconnect") sessionEnded();
    });
    socket.on("connect_error", (err) => {
      show("offline");
      if (err && err.message === "Connection rejected by server") sessionEnded();
    });
    window.addEventListener("offline", () => show("offline"));
    window.addEventListener("online", () => show(socket.connected ? "online" : "offline"));
    // Connect once every script of the page has added its handlers (they run before
    // DOMContentLoaded). A socket that connected while the page's own script was still loading
    // had its "connect" heard by nobody there: the handheld never asked for its task, the pack
    // page never joined its station's room and its label stayed "queued" on screen.
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", () => socket.connect());
    } else {
      socket.connect();
    }
    return socket;
  }

  // One time format everywhere: "2026-11-24 17:00" in the site time zone (body[data-tz]).
  const tz = document.body.dataset.tz || "UTC";
  let fmt = null;
  function formatTime(iso, seconds) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    try {
      fmt = fmt || new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
      const p = Object.fromEntries(fmt.formatToParts(d).map((x) => [x.type, x.value]));
      return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + (seconds ? ":" + p.second : "");
    } catch (e) { return d.toISOString().slice(0, 16).replace("T", " "); }
  }
  function localizeTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach((el) => {
      if (el.dataset.done || !el.getAttribute("datetime")) return;
      el.textContent = formatTime(el.getAttribute("datetime"), true);
      el.dataset.done = "1";
    });
  }
  document.addEventListener("DOMContentLoaded", () => localizeTimes());

  // The scan beep of the handheld and the pack station: high and short when good, low and long
  // when not (no audio on this device: silent).
  let audio = null;
  function tone(good) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = good ? "sine" : "square";
      osc.frequency.value = good ? 1320 : 220;
      gain.gain.value = 0.15;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + (good ? 0.12 : 0.45));
    } catch (e) { /* no audio here */ }
  }

  // The session has ended (the socket was closed or refused, or an event answered
  // "not_authenticated"): to the log-in page, back here after it.
  function sessionEnded() {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  window.Floor = { api, connect, csrfToken, formatTime, localizeTimes, sessionEnded, tone };
  // The page's one live connection (this file is loaded only for a logged-in user; no inline
  // script does it, because the Content-Security-Policy allows none).
  window.floorSocket = connect();
})();
