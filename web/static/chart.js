// A tiny hand-written SVG bar chart (no library, no CDN): FloorChart.bars(el, values, labels).
// Draws one bar per value with its label under every third bar and the value above each non-zero
// bar; the tallest bar fills the height. Each bar carries data-value and a <title> so tests and
// screen readers can read the numbers back.
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, String(v)));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function bars(container, values, labels, opts) {
    const o = Object.assign({ width: 480, height: 160, pad: 18, unit: "" }, opts || {});
    const n = values.length;
    const max = Math.max(1, ...values);
    const innerH = o.height - 2 * o.pad;
    const step = (o.width - 8) / Math.max(1, n);
    const svg = el("svg", { viewBox: "0 0 " + o.width + " " + o.height, role: "img",
                            "aria-label": o.title || "chart", class: "bars" });
    svg.append(el("line", { x1: 4, x2: o.width - 4, y1: o.height - o.pad, y2: o.height - o.pad,
                            class: "axis" }));
    values.forEach((v, i) => {
      const h = (v / max) * innerH;
      const x = 4 + i * step + step * 0.15;
      const y = o.height - o.pad - h;
      const bar = el("rect", { x: x.toFixed(1), y: y.toFixed(1), width: (step * 0.7).toFixed(1),
                               height: h.toFixed(1), class: "col", "data-value": v,
                               "data-label": labels[i] });
      bar.append(el("title", {}, labels[i] + ": " + v + (o.unit ? " " + o.unit : "")));
      svg.append(bar);
      if (v > 0) {
        svg.append(el("text", { x: (x + step * 0.35).toFixed(1), y: (y - 2).toFixed(1),
                                class: "val", "text-anchor": "middle" }, String(v)));
      }
      if (i % 3 === 0) {
        svg.append(el("text", { x: (x + step * 0.35).toFixed(1), y: o.height - 4,
                                class: "lbl", "text-anchor": "middle" }, labels[i]));
      }
    });
    container.replaceChildren(svg);
    return svg;
  }

  window.FloorChart = { bars };
})();
