// An evaluate job's answer: its metrics, the confusion matrix (true labels down, predicted across), the evaluated
// job and predictions.csv (GET /v1/evaluations/{id}).

import { download, get } from "../api.js";
import { errorText, fmt, h, jobLink } from "../util.js";

export async function evaluationView(jobId) {
  const evaluation = await get(`/v1/evaluations/${jobId}`);
  const parts = [h("p", {}, "Evaluates job ", jobLink(evaluation.job_id), " on dataset ",
    h("a", { href: `#/dataset/${evaluation.dataset_id}`, class: "mono" }, evaluation.dataset_id), ".")];
  const result = evaluation.result;
  if (!result) return h("div", {}, parts, h("p", { class: "muted" }, `No result (${evaluation.status}).`));
  const splits = Object.entries(result.splits).map(([split, n]) => `${split} ${n}`).join(", ");
  parts.push(
    h("dl", { class: "facts", id: "eval-metrics" },
      Object.entries(result.metrics).map(([name, value]) => [h("dt", {}, name), h("dd", { dataset: { metric: name } }, fmt(value))]),
      h("dt", {}, "images"), h("dd", {}, `${result.images} (${splits})`)),
    h("h3", {}, "Confusion matrix"),
    confusionTable(result.confusion_matrix),
    h("p", {}, h("button", {
      id: "download-predictions",
      onclick: () => download(evaluation.predictions_url, `${jobId}-predictions.csv`).catch((e) => alert(errorText(e))),
    }, "Download predictions.csv")),
  );
  return h("div", {}, parts);
}

function confusionTable({ labels, matrix }) {
  return h("table", { id: "confusion-matrix", class: "matrix" },
    h("thead", {}, h("tr", {}, h("th", {}, "true \\ predicted"), labels.map((label) => h("th", {}, label)))),
    h("tbody", {}, matrix.map((row, i) => h("tr", { dataset: { label: labels[i] } },
      h("th", {}, labels[i]),
      row.map((n, j) => h("td", { class: i === j ? "diagonal" : null }, String(n)))))));
}
