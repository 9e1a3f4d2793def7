// What a job knows about transfer: its warnings (leakage along a chain), its estimate, and a finetune beside its
// control run epoch by epoch (GET /v1/jobs/{id}/transfer).

import { get } from "../api.js";
import { duration, errorText, every, FINAL, fmt, h, jobLink } from "../util.js";

const MAX_EXAMPLES = 5;

/** A visible block per warning; none for an empty or missing list. */
export function warningBlocks(warnings) {
  return (warnings ?? []).map((warning) => {
    const block = h("div", { class: "warning", role: "alert", dataset: { warning: warning.type } });
    if (warning.type === "val_in_parent_train") {
      const of = warning.of !== undefined ? `the ${warning.of} ` : "the ";
      block.append(
        h("strong", {}, "Leakage: "),
        h("span", { class: "warning-text" },
          `${warning.count} of ${of}validation images are in the parent's training set ` +
          `(exact ${warning.exact ?? 0}, perceptual ${warning.perceptual ?? 0}): the parent has seen them.`),
        h("ul", {}, (warning.examples ?? []).slice(0, MAX_EXAMPLES).map((e) =>
          h("li", { class: "mono" }, `${e.val} ~ ${e.parent_train} (${e.match})`))),
      );
    } else {
      block.append(h("strong", {}, `${warning.type}: `), h("span", { class: "warning-text" }, warning.message ?? ""));
    }
    return block;
  });
}

/** "estimated 1m 5s from 3 runs", or why there is none; null for a job without one. */
export function estimateText(estimate) {
  if (!estimate) return null;
  if (estimate.seconds === null || estimate.seconds === undefined || !estimate.basis_runs) {
    return `no estimate: ${estimate.reason ?? "no basis"}`;
  }
  const runs = estimate.basis_runs;
  return `estimated ${duration(estimate.seconds)} from ${runs} run${runs === 1 ? "" : "s"}`;
}

/** The finetune-versus-control section, re-read until both runs have ended; stop() ends that. */
export function transferView(jobId) {
  const element = h("div", { id: "transfer" });
  const stop = every(3000, async () => {
    let report;
    try {
      report = await get(`/v1/jobs/${jobId}/transfer`);
    } catch (error) {
      element.replaceChildren(h("p", { class: "error" }, errorText(error)));
      stop();
      return;
    }
    element.replaceChildren(...transferParts(report));
    if (FINAL.has(report.finetune.status) && FINAL.has(report.control.status)) stop();
  });
  return { element, stop };
}

function transferParts(report) {
  const saved = report.epochs_saved;
  const savedText = saved === null || saved === undefined
    ? "epochs saved: none yet (the finetune has not reached the control's best val accuracy)"
    : `epochs saved: ${saved}`;
  const sign = (x) => (x === undefined ? "" : `${x > 0 ? "+" : ""}${fmt(x)}`);
  return [
    h("p", {}, `Against its ${report.control_kind} control run `, jobLink(report.control_id),
      ` (${report.control.status}).`),
    h("table", { id: "transfer-epochs" },
      h("thead", {}, h("tr", {}, ["epoch", "finetune val acc", "control val acc", "gain"].map((t) => h("th", {}, t)))),
      h("tbody", {}, report.epochs.map((e) => h("tr", { dataset: { epoch: String(e.epoch) } },
        h("td", {}, String(e.epoch)), h("td", {}, fmt(e.finetune.val_accuracy)),
        h("td", {}, fmt(e.control.val_accuracy)), h("td", {}, sign(e.gain.val_accuracy)))))),
    h("p", { id: "epochs-saved" }, savedText),
  ];
}
