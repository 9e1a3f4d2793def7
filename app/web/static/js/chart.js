// Curves with uPlot (vendor/uplot, loaded as a classic script): x = epoch, one line per series.

const COLORS = ["#2e6bd6", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#6b8e23", "#d81b60", "#00838f", "#795548",
  "#546e7a", "#c0ca33", "#5e35b1"];

export const color = (i) => COLORS[i % COLORS.length];

// Three significant digits, so a learning rate of 1e-3 reads 0.001 at every tick, not 0.001 and 0.002 for both.
const tickLabels = (_plot, splits) =>
  splits.map((v) => (v === null ? "" : Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(1) : String(+v.toPrecision(3))));

/**
 * A chart in `parent` with the given series labels. update(points) takes {label: Map(epoch -> value)} and redraws
 * at the next animation frame, so a burst of epochs costs one draw.
 */
export function lineChart(
  parent,
  { title, labels, name, dashed = () => false, colorOf = (_label, i) => color(i), onDraw = () => {} },
) {
  const box = document.createElement("div");
  box.className = "chart";
  box.dataset.chart = name;
  box.dataset.epochs = "0";
  box.dataset.series = labels.join(",");
  parent.append(box);
  const width = () => Math.max(320, box.clientWidth - 8);
  const plot = new uPlot(
    {
      title,
      width: width(),
      height: 240,
      scales: { x: { time: false } },
      // Epochs are whole numbers: ticks at 1, 2, 5, 10, ... apart, never at 0.2.
      axes: [{ label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }, { values: tickLabels, size: 56 }],
      series: [
        { label: "epoch" },
        ...labels.map((label, i) => ({
          label,
          stroke: colorOf(label, i),
          width: 1.5,
          dash: dashed(label) ? [6, 4] : undefined,
          points: { show: false },
          spanGaps: true,
        })),
      ],
      legend: { live: true },
    },
    [[], ...labels.map(() => [])],
    box,
  );
  let pending = null;
  let frame = null;
  const draw = () => {
    frame = null;
    const epochs = [...new Set([...Object.values(pending)].flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
    const ys = labels.map((label) => epochs.map((e) => pending[label]?.get(e) ?? null));
    plot.setData([epochs, ...ys]);
    box.dataset.epochs = String(epochs.length);
    box.dataset.points = String(ys.reduce((n, y) => n + y.filter((v) => v !== null).length, 0));
    onDraw(epochs);
  };
  const resize = () => plot.setSize({ width: width(), height: 240 });
  window.addEventListener("resize", resize);
  return {
    element: box,
    update(points) {
      pending = points;
      if (frame === null) frame = requestAnimationFrame(draw);
    },
    destroy() {
      window.removeEventListener("resize", resize);
      if (frame !== null) cancelAnimationFrame(frame);
      plot.destroy();
    },
  };
}

// The job page draws one chart per metric, a line per split; these come first, in this order, the rest after.
export const METRIC_ORDER = ["loss", "accuracy", "f1", "auroc", "lr", "images_per_second", "epoch_seconds"];
export const METRIC_TITLES = { loss: "Loss", accuracy: "Accuracy", f1: "F1", auroc: "AUROC", lr: "Learning rate",
  images_per_second: "Images per second", epoch_seconds: "Seconds per epoch" };

/** "val_accuracy" -> "accuracy": the chart a series belongs to. */
export const metricOf = (series) => series.slice(series.indexOf("_") + 1);
export const metricRank = (metric) => (METRIC_ORDER.includes(metric) ? METRIC_ORDER.indexOf(metric) : 100);
