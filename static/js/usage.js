// The Usage page's charts (Chart.js, vendored in static/vendor/chartjs/). The figures come from the page itself
// (a json_script tag): no inline script, no request of its own.
(function () {
  "use strict";

  const BRAND = "#1f6feb";
  const PALETTE = {
    sessions: "#1f6feb",
    session_minutes: "#0f9d8a",
    meeting_minutes: "#7c4dff",
    recording_bytes: "#f08c00",
    api_calls: "#c2185b",
  };

  function bytes(value) {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let amount = Math.abs(value);
    let unit = 0;
    while (amount >= 1024 && unit < units.length - 1) {
      amount /= 1024;
      unit += 1;
    }
    const shown = amount >= 10 || unit === 0 ? Math.round(amount) : amount.toFixed(1);
    return (value < 0 ? "-" : "") + shown + " " + units[unit];
  }

  function formatter(unit) {
    if (unit === "bytes") return bytes;
    const numbers = new Intl.NumberFormat(document.documentElement.lang || undefined);
    return (value) => numbers.format(value);
  }

  // Bytes are drawn in the one unit that suits the largest day (MB, GB...), so the axis reads 100, 200, 300 MB.
  function scaleFor(series) {
    if (series.unit !== "bytes") return { divisor: 1, suffix: "" };
    const units = ["B", "KB", "MB", "GB", "TB"];
    let largest = Math.max(0, ...series.values.map(Math.abs));
    let unit = 0;
    while (largest >= 1024 && unit < units.length - 1) {
      largest /= 1024;
      unit += 1;
    }
    return { divisor: Math.pow(1024, unit), suffix: " " + units[unit] };
  }

  function dayChart(canvas, labels, series) {
    const format = formatter(series.unit);
    const color = PALETTE[series.metric] || BRAND;
    const scale = scaleFor(series);
    const numbers = new Intl.NumberFormat(document.documentElement.lang || undefined);
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          {
            label: series.label,
            data: series.values.map((value) => value / scale.divisor),
            backgroundColor: color,
            borderRadius: 3,
            maxBarThickness: 18,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => series.label + ": " + format(series.values[item.dataIndex]) } },
        },
        scales: {
          x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8, color: "#5b6478" } },
          y: {
            beginAtZero: true,
            suggestedMax: 4,
            grid: { color: "#eef0f5" },
            ticks: { precision: 0, maxTicksLimit: 5, color: "#5b6478", callback: (value) => numbers.format(value) + scale.suffix },
          },
        },
      },
    });
  }

  function agentChart(canvas, agents) {
    // One bar per agent: the chart grows with the list instead of squeezing the bars.
    canvas.parentElement.style.height = Math.max(140, 34 * agents.labels.length + 60) + "px";
    return new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: agents.labels,
        datasets: [
          { label: agents.minutes_label, data: agents.minutes, backgroundColor: PALETTE.session_minutes, borderRadius: 3, maxBarThickness: 22 },
        ],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              afterLabel: (item) => agents.sessions_label + ": " + agents.sessions[item.dataIndex],
            },
          },
        },
        scales: {
          x: { beginAtZero: true, grid: { color: "#eef0f5" }, ticks: { precision: 0, color: "#5b6478" } },
          y: { grid: { display: false }, ticks: { color: "#1d2433" } },
        },
      },
    });
  }

  function start() {
    const source = document.getElementById("usage-data");
    if (!source || !window.Chart) return;
    const data = JSON.parse(source.textContent);
    let drawn = 0;
    for (const series of data.series) {
      const canvas = document.getElementById("chart-" + series.metric);
      if (canvas) {
        dayChart(canvas, data.labels, series);
        drawn += 1;
      }
    }
    const agents = document.getElementById("chart-agents");
    if (agents && data.agents.labels.length) {
      agentChart(agents, data.agents);
      drawn += 1;
    }
    // Tests (and anyone curious) can tell the charts are drawn.
    document.body.dataset.usageCharts = String(drawn);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
