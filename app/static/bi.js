/* Business dashboard charts (templates/bi/dashboard.html): reads the series the server
   embedded as JSON (#bi-series) and draws them with the vendored Chart.js. No inline
   script, so the CSP can stay 'self'. A day without figures is null: a gap, not a zero.
   Each canvas gets data-drawn="1" once drawn (tests and the browser check look for it).
   Words come from the layout's #atrium-i18n block (by their English text), numbers and
   days in the page's language (<html lang>): English keeps ISO days, as the page does. */
(function () {
  "use strict";
  var source = document.getElementById("bi-series");
  if (!source || typeof Chart === "undefined") { return; }
  var s = JSON.parse(source.textContent);
  var words = document.getElementById("atrium-i18n");
  words = words ? JSON.parse(words.textContent) : {};
  function t(text) { return words[text] || text; }
  var lang = document.documentElement.lang || "en-US";
  var english = lang.indexOf("en") === 0;
  var TIER_COLOURS = { free: "#95a5a6", basic: "#3498db", pro: "#8e44ad", enterprise: "#e67e22" };
  var amount = new Intl.NumberFormat(english ? "en-US" : lang, { maximumFractionDigits: 0 });  // R$ 1,234 / R$ 1.234
  var dayFormat = english ? null : new Intl.DateTimeFormat(lang, { day: "2-digit", month: "2-digit", year: "numeric", timeZone: "UTC" });
  function day(iso) { return dayFormat ? dayFormat.format(new Date(iso + "T00:00:00Z")) : iso; }
  var labels = s.labels.map(day);

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
    data: { labels: labels, datasets: byTier(s.mrr_by_tier, "mrr") },
    options: { scales: { x: { stacked: true, ticks: { maxTicksLimit: 12 } },
                         y: { stacked: true, beginAtZero: true, ticks: { callback: moneyTicks } } } }
  });
  draw("chart-clients", {
    type: "bar",
    data: { labels: labels, datasets: byTier(s.clients_by_tier, "clients") },
    options: { scales: { x: { stacked: true, ticks: { maxTicksLimit: 12 } },
                         y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
  });
  draw("chart-tickets", {
    type: "bar",
    data: { labels: labels, datasets: [
      { label: t("Opened"), data: s.tickets_opened, backgroundColor: "#2980b9", yAxisID: "y" },
      { label: t("Resolved"), data: s.tickets_resolved, backgroundColor: "#27ae60", yAxisID: "y" },
      // Days without a response due have no percentage: the line bridges them dashed.
      { label: t("SLA compliance (%)"), data: s.sla_compliance_pct, type: "line", borderColor: "#c0392b",
        backgroundColor: "#c0392b", yAxisID: "pct", spanGaps: true, pointRadius: 3,
        segment: { borderDash: bridged([4, 4]), borderColor: bridged("rgba(192, 57, 43, 0.35)") } }
    ] },
    options: { scales: { x: { ticks: { maxTicksLimit: 12 } },
                         y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: t("tickets") } },
                         pct: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
                                title: { display: true, text: "%" } } } }
  });
  draw("chart-incidents", {
    type: "bar",
    data: { labels: labels, datasets: [
      { label: t("Incidents"), data: s.incidents, backgroundColor: "#e74c3c", yAxisID: "y" },
      { label: t("Downtime (min)"), data: s.downtime_minutes, type: "line", borderColor: "#34495e",
        backgroundColor: "#34495e", yAxisID: "minutes", spanGaps: false, pointRadius: 0 }
    ] },
    options: { scales: { x: { ticks: { maxTicksLimit: 12 } },
                         y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: t("incidents") } },
                         minutes: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                                    title: { display: true, text: t("minutes") } } } }
  });
  draw("chart-ads", {
    type: "line",
    data: { labels: labels, datasets: [
      { label: t("Spend (R$)"), data: s.ad_spend, borderColor: "#c0392b", backgroundColor: "#c0392b",
        tension: 0.2, spanGaps: false, pointRadius: 0 },
      { label: t("Revenue (R$)"), data: s.ad_revenue, borderColor: "#27ae60", backgroundColor: "#27ae60",
        tension: 0.2, spanGaps: false, pointRadius: 0 }
    ] },
    options: { scales: { x: { ticks: { maxTicksLimit: 12 } },
                         y: { beginAtZero: true, ticks: { callback: moneyTicks } } } }
  });
}());
