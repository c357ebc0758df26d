/* Portal charts: reads the series the server embedded as JSON and draws them with the
   vendored Chart.js. No inline script, so the CSP can stay 'self'. Each canvas gets
   data-drawn="1" once drawn (the browser test looks for it). */
(function () {
  "use strict";
  var source = document.getElementById("campaign-series");
  if (!source || typeof Chart === "undefined") { return; }
  var series = JSON.parse(source.textContent);
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    config.options = Object.assign({ responsive: true, animation: false, interaction: { mode: "index", intersect: false } },
                                   config.options || {});
    new Chart(canvas, config);
    canvas.setAttribute("data-drawn", "1");
  }
  draw("chart-spend", {
    type: "line",
    data: { labels: series.labels, datasets: [
      { label: "Spend (R$)", data: series.cost, borderColor: "#c0392b", backgroundColor: "#c0392b", tension: 0.2 },
      { label: "Revenue (R$)", data: series.revenue, borderColor: "#27ae60", backgroundColor: "#27ae60", tension: 0.2 }
    ] }
  });
  draw("chart-clicks", {
    type: "bar",
    data: { labels: series.labels, datasets: [
      { label: "Clicks", data: series.clicks, backgroundColor: "#2980b9" },
      { label: "Conversions", data: series.conversions, backgroundColor: "#8e44ad" }
    ] }
  });
}());
