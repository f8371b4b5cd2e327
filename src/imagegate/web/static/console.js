// imagegate console: draws the overview's charts from the JSON the page embeds. Everything the
// charts show is also in the tables under them, so the page works without this script.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") { return; }
  var charts = JSON.parse(source.textContent);
  var palette = ["#0b5cad", "#e36209", "#1a7f37", "#8250df", "#c4291c", "#9a6700", "#0598bc", "#bf3989"];
  Object.keys(charts).forEach(function (id) {
    var canvas = document.getElementById(id);
    var spec = charts[id];
    if (!canvas || spec.labels.length === 0) { return; }
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (set, i) {
          return {
            label: set.label,
            // Micro-dollars to dollars for display only; the tables carry the exact figures.
            data: set[spec.field].map(function (v) { return spec.field === "spend_micros" ? v / 1e6 : v; }),
            backgroundColor: palette[i % palette.length], maxBarThickness: 48
          };
        })
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: spec.unit } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  });
})();

// Compare review grid: on a focused image, "a" accepts and "r" rejects (the buttons do the same).
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    var figure = document.activeElement;
    if (!figure || !figure.classList || !figure.classList.contains("review")) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var button = figure.querySelector('button[data-key="' + event.key.toLowerCase() + '"]');
    if (button) { event.preventDefault(); button.click(); }
  });
})();
