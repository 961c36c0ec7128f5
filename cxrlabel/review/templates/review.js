"use strict";
(function () {
  const byId = (id) => document.getElementById(id);
  const reports = Array.from(document.querySelectorAll("article.report"));
  const label = byId("filter-label"), state = byId("filter-state"), error = byId("filter-error");
  const search = byId("search"), count = byId("shown-count");
  const tokens = (element, name) => (element.dataset[name] || "").split(" ").filter(Boolean);
  const texts = new Map(reports.map((r) => [r, Array.from(r.querySelectorAll(".report-text"))
    .map((t) => t.textContent).join("\n").toLowerCase()]));

  function matches(report) {
    const l = label.value, s = state.value, e = error.value, q = search.value.trim().toLowerCase();
    if (l && !tokens(report, "labels").includes(l)) return false;
    if (s) {
      const states = tokens(report, "states");
      if (!(l ? states.includes(l + ":" + s) : states.some((t) => t.endsWith(":" + s)))) return false;
    }
    if (e) {
      const errors = tokens(report, "errors");
      if (!(l ? errors.includes(e + ":" + l) : errors.some((t) => t.startsWith(e + ":")))) return false;
    }
    return !q || report.dataset.id.toLowerCase().includes(q) || texts.get(report).includes(q);
  }

  function apply() {
    let shown = 0;
    for (const report of reports) {
      const show = matches(report);
      report.hidden = !show;
      if (show) shown += 1;
    }
    count.textContent = String(shown);
  }
  [label, state, error].forEach((select) => select.addEventListener("change", apply));
  search.addEventListener("input", apply);
  apply();

  const panel = byId("graph"), data = byId("graph-data");
  if (!panel || !data) return;
  const graphs = JSON.parse(data.textContent);
  const escape = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");

  // Draw the arcs of one graph as inline SVG (words on a line, head → dependent arcs above, labels on top).
  function svgOf(graph) {
    const gap = 14, charWidth = 7.6, step = 16;
    const xs = [], widths = [];
    let x = 10;
    for (const word of graph.words) {
      const width = Math.max(word.length * charWidth, 18);
      xs.push(x + width / 2); widths.push(width); x += width + gap;
    }
    const distances = graph.edges.map(([h, d]) => Math.abs(h - d));
    const top = 16 + step * Math.max(1, ...distances.map((d) => Math.min(d, 14)));
    const base = top + 14, height = base + 22;
    const parts = [];
    for (const [h, d, lab] of graph.edges) {
      const rise = step * Math.min(Math.abs(h - d), 14);
      const x1 = xs[h], x2 = xs[d], y = base - 12, peak = y - rise;
      parts.push(`<path class="arc" d="M${x1},${y} C${x1},${peak} ${x2},${peak} ${x2},${y}"/>`);
      parts.push(`<path class="arc" d="M${x2 - 4},${y - 6} L${x2},${y} L${x2 + 4},${y - 6}"/>`);
      parts.push(`<text class="arc-label" x="${(x1 + x2) / 2}" y="${y - rise * 0.75 - 3}" text-anchor="middle">${escape(lab)}</text>`);
    }
    graph.words.forEach((word, i) => {
      const cls = graph.states[String(i)] || "";
      parts.push(`<text class="word ${cls}" x="${xs[i]}" y="${base + 8}" text-anchor="middle">${escape(word)}</text>`);
    });
    return `<svg width="${x}" height="${height}" viewBox="0 0 ${x} ${height}" role="img">${parts.join("")}</svg>`;
  }

  function draw(sentence) {
    const graph = graphs[sentence.dataset.graph];
    if (!graph) return;
    document.querySelectorAll(".sentence.selected").forEach((s) => s.classList.remove("selected"));
    sentence.classList.add("selected");
    panel.innerHTML = `<p class="graph-sentence">${escape(sentence.textContent)}</p>` + svgOf(graph);
  }
  document.addEventListener("click", (event) => {
    const sentence = event.target.closest(".has-graph");
    if (sentence) draw(sentence);
  });
  document.addEventListener("keydown", (event) => {
    const sentence = event.target.closest && event.target.closest(".has-graph");
    if (sentence && event.key === "Enter") draw(sentence);
  });
})();
