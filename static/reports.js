// Draws the manager reports from the JSON the page embeds (no data is fetched from anywhere else).
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const palette = ["#1f5fbf", "#2f9e63", "#d39e00", "#b3261e", "#6f42c1", "#17a2b8", "#6c757d", "#e83e8c"];
  const common = { responsive: true, maintainAspectRatio: false, plugins: { legend: { position: "bottom" } } };

  const sla = data.sla;
  const groups = sla.groups.map(g => sla.dimension === "team" ? g.group : g.group.charAt(0).toUpperCase() + g.group.slice(1));
  new Chart(document.getElementById("chart-sla"), {
    type: "bar",
    data: { labels: groups, datasets: [
      { label: "Met", data: sla.groups.map(g => g.resolution.met), backgroundColor: "#2f9e63" },
      { label: "Missed", data: sla.groups.map(g => g.resolution.missed), backgroundColor: "#b3261e" },
      { label: "Open, in time", data: sla.groups.map(g => g.resolution.open_in_time), backgroundColor: "#adb5bd" },
    ] },
    options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "tickets" } } } },
  });

  const hist = data.histogram;
  new Chart(document.getElementById("chart-hist"), {
    type: "bar",
    data: { labels: hist.buckets, datasets: [
      { label: "First response", data: hist.first_response, backgroundColor: "#1f5fbf" },
      { label: "Resolution", data: hist.resolution, backgroundColor: "#d39e00" },
    ] },
    options: { ...common, scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "tickets" } } } },
  });

  const backlog = data.backlog;
  new Chart(document.getElementById("chart-backlog"), {
    type: "line",
    data: { labels: backlog.points.map(p => p.slice(0, 10)), datasets: backlog.series.map((s, i) => (
      { label: s.team, data: s.counts, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], tension: 0.2, pointRadius: 0 })) },
    options: { ...common, scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "open tickets" } } } },
  });
})();
