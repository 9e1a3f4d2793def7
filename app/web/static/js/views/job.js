// One job: warnings, live curves from the SSE stream, progress with estimate and ETA, timeline, error, transfer
// against a control run, an evaluation's answer, spec, artifacts, lineage, cancel.

import { download, get, post, stream } from "../api.js";
import { lineChart, metricOf, metricRank, METRIC_TITLES } from "../chart.js";
import {
  backboneOf, bytes, CANCELLABLE, datasetOf, duration, errorText, etaSeconds, every, FINAL, h, jobLink,
  progressBar, shortId, statusBadge, when,
} from "../util.js";
import { evaluationView } from "./evaluation.js";
import { estimateText, transferView, warningBlocks } from "./job_transfer.js";
import { lineage } from "./lineage.js";

export function render(root, { arg: jobId }) {
  const controller = new AbortController();
  const state = { job: null, series: {}, charts: new Map(), arrivals: {}, drawn: {} };
  window.__flashjobs = state; // what the browser tests and bench/dashboard.py read

  const title = h("h1", {}, "Job ", h("span", { class: "mono" }, shortId(jobId)));
  const warnings = h("div", { id: "warnings" });
  const summary = h("div", { class: "card", id: "summary" });
  const extra = h("div", { id: "job-extra" }); // a finetune's transfer, an evaluation's answer
  const charts = h("div", { class: "charts", id: "charts" });
  const artifacts = h("div", { id: "artifacts" });
  const family = h("div", { class: "lineage", id: "lineage" });
  const spec = h("pre", { id: "spec" });
  const curves = h("h2", {}, "Curves");
  root.append(title, warnings, summary, extra, curves, charts, h("h2", {}, "Lineage"), family,
    h("h2", {}, "Artifacts"), artifacts, h("h2", {}, "Spec"), spec);

  const facts = h("div");
  const thisEpoch = h("div", { id: "batch-progress" });
  const cancelButton = h("button", { class: "danger", id: "cancel", hidden: true, onclick: () => cancel() }, "Cancel job");
  const compareLink = h("a", {}, "open in compare");
  summary.append(facts, thisEpoch, h("p", {}, cancelButton, " ", compareLink));
  let transfer = null;
  const showJob = (job) => {
    state.job = job;
    warnings.replaceChildren(...warningBlocks(job.warnings));
    if (job.control_id && !transfer) {
      transfer = transferView(jobId);
      extra.replaceChildren(h("h2", {}, "Transfer"), transfer.element);
    }
    facts.replaceChildren(...summaryParts(job));
    cancelButton.hidden = !CANCELLABLE.has(job.status);
    compareLink.href = `#/compare?ids=${job.id}${job.parent_id ? `,${job.parent_id}` : ""}`;
    compareLink.textContent = job.parent_id ? "compare with its parent" : "open in compare";
    // An evaluation has no curves to draw or compare.
    compareLink.hidden = curves.hidden = charts.hidden = job.kind === "evaluate";
    spec.textContent = JSON.stringify(job.spec, null, 2);
    if (job.status !== "running") thisEpoch.replaceChildren();
  };
  const showLive = (live) => {
    if (state.job?.status !== "running") return;
    const label = `batch ${live.batch}/${live.num_batches} of epoch ${live.epoch}` +
      ` · ${Math.round(live.images_per_second)} img/s · ETA ${duration(live.eta_seconds)}`;
    const bar = progressBar(live.batch / live.num_batches, label, true);
    thisEpoch.replaceChildren(h("dl", { class: "facts" }, h("dt", {}, "this epoch"), h("dd", {}, bar)));
  };
  const cancel = async () => {
    if (!confirm(`Cancel job ${shortId(jobId)}?`)) return;
    try {
      showJob(await post(`/v1/jobs/${jobId}/cancel`));
    } catch (error) {
      alert(errorText(error));
    }
  };
  const refresh = async () => {
    try {
      showJob(await get(`/v1/jobs/${jobId}`));
    } catch (error) {
      summary.replaceChildren(h("p", { class: "error" }, errorText(error)));
      if (error.status === 404) stop();
      return;
    }
    if (FINAL.has(state.job.status)) {
      stop();
      if (state.job.kind === "evaluate" && !extra.hasChildNodes()) {
        evaluationView(jobId).then((view) => extra.replaceChildren(h("h2", {}, "Evaluation"), view),
          (error) => extra.replaceChildren(h("p", { class: "error" }, errorText(error))));
      }
      artifacts.replaceChildren(await artifactTable(jobId));
    }
  };
  const stop = every(2000, refresh);
  lineage(jobId).then((tree) => family.replaceChildren(tree), (error) => family.append(errorText(error)));

  const draw = () => {
    for (const series of Object.keys(state.series)) {
      const metric = metricOf(series);
      if (!state.charts.has(metric)) addChart(charts, state, metric);
    }
    for (const [metric, chart] of state.charts) {
      const points = {};
      for (const [series, values] of Object.entries(state.series)) if (metricOf(series) === metric) points[series] = values;
      chart.update(points);
    }
  };
  stream(`/v1/jobs/${jobId}/metrics/stream`, {
    signal: controller.signal,
    onEvent: (type, data) => {
      if (type === "epoch") {
        state.arrivals[data.epoch] = Date.now();
        for (const [series, value] of Object.entries(data.metrics)) {
          (state.series[series] ??= new Map()).set(data.epoch, value);
        }
        draw();
      } else if (type === "progress") {
        showLive(data);
      } else if (type === "end") {
        refresh();
      }
    },
  }).catch((error) => charts.append(h("p", { class: "error" }, errorText(error))));

  return () => {
    controller.abort();
    stop();
    transfer?.stop();
    for (const chart of state.charts.values()) chart.destroy();
  };
}

function addChart(parent, state, metric) {
  const labels = ["train", "val"].map((split) => `${split}_${metric}`).filter((s) => s in state.series);
  const onDraw = (epochs) => {
    const now = Date.now();
    for (const epoch of epochs) state.drawn[epoch] ??= now; // when each epoch's first point was on screen
  };
  const chart = lineChart(parent, { name: metric, title: METRIC_TITLES[metric] ?? metric, labels, onDraw });
  state.charts.set(metric, chart);
  // Charts keep the order of METRIC_ORDER however the series arrived.
  const sorted = [...state.charts.entries()].sort(([a], [b]) => metricRank(a) - metricRank(b) || a.localeCompare(b));
  for (const [, c] of sorted) parent.append(c.element);
}

function summaryParts(job) {
  const { epoch, max_epochs } = job.progress;
  const eta = job.status === "running" ? (job.eta_seconds ?? etaSeconds(job)) : null;
  const estimate = estimateText(job.estimate);
  const parts = [
    h("dl", { class: "facts" },
      h("dt", {}, "status"), h("dd", { id: "job-status" }, statusBadge(job.status)),
      h("dt", {}, "kind"), h("dd", {}, job.kind),
      h("dt", {}, "dataset"), h("dd", {}, datasetOf(job)),
      job.kind === "evaluate" ? null : [h("dt", {}, "backbone"), h("dd", {}, backboneOf(job))],
      job.parent_id ? [h("dt", {}, "parent"), h("dd", {}, jobLink(job.parent_id))] : null,
      job.control_of ? [h("dt", {}, "control of"), h("dd", {}, jobLink(job.control_of))] : null,
      job.reused && job.reused_from ? [h("dt", {}, "reused"), h("dd", { id: "reused" }, "the answer of ", jobLink(job.reused_from))] : null,
      h("dt", {}, "epochs"),
      h("dd", { id: "epoch-progress" }, progressBar(max_epochs ? epoch / max_epochs : 0,
        `${epoch}/${max_epochs}${eta !== null ? ` · ETA ${duration(eta)}` : ""}`, true),
        estimate ? h("span", { class: "muted", id: "estimate" }, ` · ${estimate}`) : null),
      h("dt", {}, "timeline"), h("dd", { id: "timeline" }, timeline(job))),
  ];
  if (job.error) {
    parts.push(h("p", { class: "error", id: "job-error" }, h("strong", {}, job.error.type), ": ", job.error.message));
  }
  return parts;
}

function timeline(job) {
  const steps = [["created", job.created_at]];
  if (job.started_at) steps.push([`started (attempt ${job.attempt})`, job.started_at]);
  if (job.finished_at) steps.push([job.status, job.finished_at]);
  return h("span", {}, steps.map(([what, at], i) => [i ? " → " : "", h("span", { title: at }, `${what} ${when(at)}`)]));
}

async function artifactTable(jobId) {
  const items = await get(`/v1/jobs/${jobId}/artifacts`);
  if (!items.length) return h("p", { class: "muted" }, "No artifacts.");
  return h("table", {},
    h("thead", {}, h("tr", {}, ["name", "size", "sha256", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, items.map((a) => h("tr", { dataset: { artifact: a.name } },
      h("td", {}, a.name), h("td", {}, bytes(a.size)), h("td", { class: "mono" }, a.sha256),
      h("td", {}, h("button", { onclick: () => download(a.url, `${jobId}-${a.name}`).catch((e) => alert(errorText(e))) },
        "Download"))))));
}
