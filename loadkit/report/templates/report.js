/* loadkit report: turns the static SVG charts into interactive uPlot charts (zoom by dragging, values
   on hover, double-click to reset). The data comes from the JSON block #loadkit-data; without
   JavaScript, and in print, the SVG charts stay. */
(function () {
  "use strict";
  var node = document.getElementById("loadkit-data");
  if (!node || typeof uPlot === "undefined") { return; }
  var data = JSON.parse(node.textContent);

  function clock(s) {
    if (s == null) { return ""; }
    s = Math.round(s);
    var m = Math.floor(s / 60), r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }

  function fmt(v, unit) {
    if (v == null || isNaN(v)) { return ""; }  // no placeholder until the pointer is over the chart
    if (unit === "%") { return (v * 100).toPrecision(3).replace(/\.?0+$/, "") + "%"; }
    if (unit === "ms") { return v >= 1000 ? (v / 1000).toPrecision(3) + " s" : Math.round(v * 10) / 10 + " ms"; }
    return Math.round(v * 100) / 100 + (unit ? " " + unit : "");
  }

  // Phase bands (baseline, ramp, peak, ...) drawn behind the lines.
  function bands(phases) {
    return {
      hooks: {
        drawClear: function (u) {
          var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
          var left = u.bbox.left, right = u.bbox.left + u.bbox.width;
          ctx.save();
          phases.forEach(function (p, i) {
            var x0 = Math.max(left, u.valToPos(p.start, "x", true));
            var x1 = Math.min(right, u.valToPos(p.end, "x", true));
            if (x1 <= x0) { return; }
            ctx.fillStyle = i % 2 ? "#ffffff" : "#f1f5f9";
            ctx.fillRect(x0, top, x1 - x0, height);
            ctx.font = (10 * devicePixelRatio) + "px sans-serif";
            if (x1 - x0 > ctx.measureText(p.phase).width + 8 * devicePixelRatio) {  // a label only where it fits
              ctx.fillStyle = "#64748b";
              ctx.fillText(p.phase, x0 + 4 * devicePixelRatio, top + 12 * devicePixelRatio);
            }
          });
          ctx.restore();
        }
      }
    };
  }

  // Seconds in which loadkit was paused (the machine or its own CPU stalled it): light amber bands.
  function pauses(marks) {
    return {
      hooks: {
        drawClear: function (u) {
          var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
          var left = u.bbox.left, right = u.bbox.left + u.bbox.width;
          ctx.save();
          ctx.fillStyle = "rgba(253, 230, 138, 0.6)";
          marks.forEach(function (m) {
            var x0 = Math.max(left, u.valToPos(m[0], "x", true));
            var x1 = Math.min(right, u.valToPos(m[1], "x", true));
            if (x1 <= x0) { return; }
            ctx.fillRect(x0, top, Math.max(x1 - x0, devicePixelRatio), height);
          });
          ctx.restore();
        }
      }
    };
  }

  data.charts.forEach(function (chart) {
    var holder = document.getElementById(chart.id);
    if (!holder) { return; }
    var series = [{ label: "time", value: function (u, v) { return clock(v); } }];
    chart.series.forEach(function (s) {
      series.push({
        label: s.name, stroke: s.color, width: 1.6, dash: s.dashed ? [6, 4] : undefined, spanGaps: false,
        value: function (u, v) { return fmt(v, chart.unit); }
      });
    });
    var box = document.createElement("div");
    box.className = "uplot-box";
    holder.appendChild(box);
    var width = Math.max(320, holder.clientWidth - 16);
    var opts = {
      title: chart.title, width: width, height: 240, series: series,
      plugins: [bands(data.phases)].concat(chart.marks && chart.marks.length ? [pauses(chart.marks)] : []),
      scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } } },
      axes: [
        { values: function (u, ticks) { return ticks.map(clock); } },
        { size: 72, values: function (u, ticks) { return ticks.map(function (v) { return fmt(v, chart.unit); }); } }
      ],
      cursor: { sync: { key: "loadkit" }, drag: { x: true, y: false } },
      // legend markers filled with the line's colour (uPlot fills them with the area fill, which is none)
      legend: { markers: { fill: function (u, i) { return i > 0 ? chart.series[i - 1].color : null; } } }
    };
    var columns = [data.t].concat(chart.series.map(function (s) { return s.values; }));
    holder.uplot = new uPlot(opts, columns, box);  // kept on the element for scripting and tests
    holder.classList.add("interactive");
  });
  // The zoom hint is only true once the charts are interactive.
  var hint = document.querySelector(".js-hint");
  if (hint) { hint.hidden = false; }
})();
