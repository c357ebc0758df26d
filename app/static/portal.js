/* Portal charts: reads the series the server embedded as JSON and draws them with the
   vendored Chart.js. No inline script, so the CSP can stay 'self'. Each canvas gets
   data-drawn="1" once drawn (the browser test looks for it). Words come from the layout's
   #atrium-i18n block (by their English text), days in the page's language (<html lang>). */
(function () {
  "use strict";
  var source = document.getElementById("campaign-series");
  if (!source || typeof Chart === "undefined") { return; }
  var series = JSON.parse(source.textContent);
  var words = document.getElementById("atrium-i18n");
  words = words ? JSON.parse(words.textContent) : {};
  function t(text) { return words[text] || text; }
  var lang = document.documentElement.lang || "en-US";
  var dayFormat = lang.indexOf("en") === 0 ? null
    : new Intl.DateTimeFormat(lang, { day: "2-digit", month: "2-digit", year: "numeric", timeZone: "UTC" });
  function day(iso) { return dayFormat ? dayFormat.format(new Date(iso + "T00:00:00Z")) : iso; }
  var labels = series.labels.map(day);
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
    data: { labels: labels, datasets: [
      { label: t("Spend (R$)"), data: series.cost, borderColor: "#c0392b", backgroundColor: "#c0392b", tension: 0.2 },
      { label: t("Revenue (R$)"), data: series.revenue, borderColor: "#27ae60", backgroundColor: "#27ae60", tension: 0.2 }
    ] }
  });
  draw("chart-clicks", {
    type: "bar",
    data: { labels: labels, datasets: [
      { label: t("Clicks"), data: series.clicks, backgroundColor: "#2980b9" },
      { label: t("Conversions"), data: series.conversions, backgroundColor: "#8e44ad" }
    ] }
  });
}());
