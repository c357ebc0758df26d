/* Business dashboard charts (templates/bi/dashboard.html): reads the series the server
   embedded as JSON (#bi-series) and draws them with the vendored Chart.js. No inline
   script, so the CSP can stay 'self'. A day without figures is null: a gap, not a zero.
   Each canvas gets data-drawn="1" once drawn (tests and the browser check look for it). */
(function () {
  "use strict";
  var source = document.getElementById("bi-series");
  if (!source || typeof Chart === "undefined") { return; }
  var s = JSON.parse(source.textContent);
  var TIER_COLOURS = { free: "#95a5a6", basic: "#3498db", pro: "#8e44ad", enterprise: "#e67e22" };
  var amount = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });  // as the page: R$ 1,234

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    config.options = Object.assign({
      responsive: true,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
      scales: { x: { ticks: { maxTicksLimit: 12 } } }
    }, config.options || {});
    new Chart(canvas, config);
    canvas.setAttribute("data-drawn", "1");
  }

  function byTier(values, stack) {
    return s.tiers.map(function (tier) {
      return { label: tier.label, data: values[tier.key], stack: stack,
               backgroundColor: TIER_COLOURS[tier.key] || "#7f8c8d" };
    });
  }

  function bridged(style) {  // a line segment drawn across days without a value
    return function (ctx) { return ctx.p0.skip || ctx.p1.skip ? style : undefined; };
  }

  function moneyTicks(value) { return "R$ " + amount.format(value); }

  draw("chart-mrr", {
    type: "bar",
    data: { labels: s.labels, datasets: byTier(s.mrr_by_tier, "mrr") },
    options: { scales: { x: { stacked: true, ticks: { maxTicksLimit: 12 } },
                         y: { stacked: true, beginAtZero: true, ticks: { callback: moneyTicks } } } }
  });
  draw("chart-clients", {
    type: "bar",
    data: { labels: s.labels, datasets: byTier(s.clients_by_tier, "clients") },
    options: { scales: { x: { stacked: true, ticks: { maxTicksLimit: 12 } },
                         y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
  });
  draw("chart-tickets", {
    type: "bar",
    data: { labels: s.labels, datasets: [
      { label: "Opened", data: s.tickets_opened, backgroundColor: "#2980b9", yAxisID: "y" },
      { label: "Resolved", data: s.tickets_resolved, backgroundColor: "#27ae60", yAxisID: "y" },
      // Days without a response due have no percentage: the line bridges them dashed.
      { label: "SLA compliance (%)", data: s.sla_compliance_pct, type: "line", borderColor: "#c0392b",
        backgroundColor: "#c0392b", yAxisID: "pct", spanGaps: true, pointRadius: 3,
        segment: { borderDash: bridged([4, 4]), borderColor: bridged("rgba(192, 57, 43, 0.35)") } }
    ] },
    options: { scales: { x: { ticks: { maxTicksLimit: 12 } },
                         y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "tickets" } },
                         pct: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
                                title: { display: true, text: "%" } } } }
  });
  draw("chart-incidents", {
    type: "bar",
    data: { labels: s.labels, datasets: [
      { label: "Incidents", data: s.incidents, backgroundColor: "#e74c3c", yAxisID: "y" },
      { label: "Downtime (min)", data: s.downtime_minutes, type: "line", borderColor: "#34495e",
        backgroundColor: "#34495e", yAxisID: "minutes", spanGaps: false, pointRadius: 0 }
    ] },
    options: { scales: { x: { ticks: { maxTicksLimit: 12 } },
                         y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "incidents" } },
                         minutes: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                                    title: { display: true, text: "minutes" } } } }
  });
  draw("chart-ads", {
    type: "line",
    data: { labels: s.labels, datasets: [
      { label: "Spend (R$)", data: s.ad_spend, borderColor: "#c0392b", backgroundColor: "#c0392b",
        tension: 0.2, spanGaps: false, pointRadius: 0 },
      { label: "Revenue (R$)", data: s.ad_revenue, borderColor: "#27ae60", backgroundColor: "#27ae60",
        tension: 0.2, spanGaps: false, pointRadius: 0 }
    ] },
    options: { scales: { x: { ticks: { maxTicksLimit: 12 } },
                         y: { beginAtZero: true, ticks: { callback: moneyTicks } } } }
  });
}());
