// Compare: the curves of any jobs overlaid, a colour per job (dashed: train, solid: val); the URL holds the ids.

import { get, poll } from "../api.js";
import { color, lineChart, metricOf, metricRank, METRIC_TITLES } from "../chart.js";
import { datasetOf, errorText, every, FINAL, h, jobLink, shortId, statusBadge } from "../util.js";

const OVERLAID = new Set(["loss", "accuracy", "f1", "auroc"]);

export function render(root, { params }) {
  const ids = [...new Set((params.get("ids") || "").split(",").map((s) => s.trim()).filter(Boolean))];
  const setIds = (next) => (location.hash = `#/compare?ids=${next.join(",")}`);
  const input = h("input", { name: "job-id", placeholder: "job id", size: 36 });
  const add = h("form", { class: "toolbar", onsubmit: (e) => {
    e.preventDefault();
    if (input.value.trim()) setIds([...ids, input.value.trim()]);
  } }, input, h("button", { type: "submit" }, "Add"), h("span", { class: "muted" },
    "or tick jobs in the ", h("a", { href: "#/jobs" }, "table"), "; this page's address holds the selection."));
  const legend = h("table", { id: "compare-jobs" });
  const message = h("p", { class: "error" });
  const charts = h("div", { class: "charts", id: "charts" });
  root.append(h("h1", {}, "Compare"), add, legend, message, charts);
  if (!ids.length) {
    charts.append(h("p", { class: "muted" }, "No jobs chosen yet."));
    return null;
  }

  const jobs = new Map();
  const curves = new Map(); // id -> {etag, series}
  const built = new Map(); // metric -> {chart, key}
  const tick = async () => {
    const open = ids.filter((id) => !jobs.has(id) || !FINAL.has(jobs.get(id).status));
    await Promise.all(open.map(async (id) => {
      try {
        jobs.set(id, await get(`/v1/jobs/${id}`));
        const held = curves.get(id);
        const answer = await poll(`/v1/jobs/${id}/metrics`, held?.etag);
        if (answer.changed) curves.set(id, { etag: answer.etag, series: answer.data.series });
      } catch (error) {
        message.textContent = `${shortId(id)}: ${errorText(error)}`;
      }
    }));
    legend.replaceChildren(h("tbody", {}, ids.filter((id) => jobs.has(id)).map((id, i) => {
      const job = jobs.get(id);
      return h("tr", { dataset: { job: id } },
        h("td", {}, h("span", { style: `color:${color(ids.indexOf(id))};font-weight:700` }, "■")),
        h("td", {}, jobLink(id)), h("td", {}, `${job.kind} ${datasetOf(job)}`), h("td", {}, statusBadge(job.status)),
        h("td", {}, h("button", { onclick: () => setIds(ids.filter((x) => x !== id)), title: "remove" }, "×")));
    })));
    draw(charts, ids, jobs, curves, built);
    if (ids.every((id) => jobs.has(id) && FINAL.has(jobs.get(id).status))) stop();
  };
  const stop = every(2000, tick);
  return () => {
    stop();
    for (const { chart } of built.values()) chart.destroy();
  };
}

function draw(parent, ids, jobs, curves, built) {
  const byMetric = new Map();
  for (const id of ids) {
    for (const [series, points] of Object.entries(curves.get(id)?.series ?? {})) {
      const metric = metricOf(series);
      if (!OVERLAID.has(metric) || !points.length) continue;
      const label = `${shortId(id)} ${datasetOf(jobs.get(id))} ${series.split("_")[0]}`;
      if (!byMetric.has(metric)) byMetric.set(metric, {});
      byMetric.get(metric)[label] = { id, values: new Map(points.map((p) => [p.epoch, p.value])) };
    }
  }
  if (byMetric.size) parent.querySelector("p.muted")?.remove();
  const metrics = [...byMetric.keys()].sort((a, b) => metricRank(a) - metricRank(b));
  for (const metric of metrics) {
    const lines = byMetric.get(metric);
    const labels = Object.keys(lines).sort();
    const key = labels.join("|");
    let entry = built.get(metric);
    if (!entry || entry.key !== key) {
      entry?.chart.destroy();
      entry?.chart.element.remove();
      const chart = lineChart(parent, {
        name: metric, title: METRIC_TITLES[metric] ?? metric, labels,
        dashed: (label) => label.endsWith(" train"), colorOf: (label) => color(ids.indexOf(lines[label].id)),
      });
      chart.element.dataset.jobs = [...new Set(labels.map((l) => lines[l].id))].join(",");
      entry = { chart, key };
      built.set(metric, entry);
    }
    entry.chart.update(Object.fromEntries(labels.map((l) => [l, lines[l].values])));
  }
  for (const metric of metrics) parent.append(built.get(metric).chart.element); // keep the order
}
