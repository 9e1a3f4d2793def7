// The jobs table: live (re-read every 2 s), filtered by status and kind, paged with the API's cursors.

import { get } from "../api.js";
import {
  backboneOf, datasetOf, duration, errorText, etaSeconds, every, fmt, h, jobLink, progressBar,
  secondsSince, statusBadge,
} from "../util.js";

const STATUSES = ["", "waiting", "queued", "running", "cancelling", "succeeded", "failed", "cancelled"];
const REFRESH_MS = 2000;
const selected = new Set(); // kept across pages and visits: the jobs to compare

export function render(root, { params }) {
  const status = params.get("status") || "";
  const kind = params.get("kind") || "";
  const limit = params.get("limit") || "50";
  const cursor = params.get("cursor") || "";
  const previous = params.get("prev") ? params.get("prev").split(",") : []; // the cursors of earlier pages

  const go = (changes) => {
    const next = new URLSearchParams({ status, kind, limit, cursor, prev: previous.join(","), ...changes });
    for (const [k, v] of [...next]) if (!v) next.delete(k);
    location.hash = `#/jobs?${next}`;
  };
  const select = (name, options, value) =>
    h("select", { name, onchange: (e) => go({ [name]: e.target.value, cursor: "", prev: "" }) },
      options.map((o) => h("option", { value: o, selected: o === value }, o || `any ${name}`)));

  const compareButton = h("button", { class: "primary", id: "compare-selected", onclick: () => {
    location.hash = `#/compare?ids=${[...selected].join(",")}`;
  } });
  const showSelection = () => {
    compareButton.textContent = `Compare selected (${selected.size})`;
    compareButton.disabled = selected.size < 1;
  };
  showSelection();
  const older = h("button", { id: "older", disabled: true }, "Older →");
  const newer = h("button", { id: "newer", disabled: !cursor, onclick: () => {
    const back = [...previous];
    const target = back.pop() ?? "";
    go({ cursor: target === "-" ? "" : target, prev: back.join(",") });
  } }, "← Newer");
  const message = h("p", { class: "error", id: "jobs-error" });
  const body = h("tbody");
  const table = h("table", { id: "jobs" },
    h("thead", {}, h("tr", {}, ["", "job", "status", "kind", "dataset", "backbone", "progress", "val acc", "age"]
      .map((t) => h("th", {}, t)))),
    body);
  root.append(
    h("h1", {}, "Jobs"),
    h("div", { class: "toolbar" }, select("status", STATUSES, status), select("kind", ["", "train", "finetune"], kind),
      select("limit", ["50", "200"], limit), newer, older, compareButton),
    message, table);

  let nextCursor = null;
  older.onclick = () => go({ cursor: nextCursor, prev: [...previous, cursor || "-"].join(",") });
  const query = new URLSearchParams({ limit });
  if (status) query.set("status", status);
  if (kind) query.set("kind", kind);
  if (cursor) query.set("cursor", cursor);

  return every(REFRESH_MS, async () => {
    let page;
    try {
      page = await get(`/v1/jobs?${query}`);
      message.textContent = "";
    } catch (error) {
      message.textContent = errorText(error);
      return;
    }
    nextCursor = page.next_cursor;
    older.disabled = !nextCursor;
    body.replaceChildren(...page.jobs.map((job) => row(job, showSelection)));
    if (!page.jobs.length) body.append(h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No jobs.")));
  });
}

function row(job, onSelect) {
  const { epoch, max_epochs } = job.progress;
  const eta = etaSeconds(job);
  const label = `epoch ${epoch}/${max_epochs}${eta !== null ? ` · ETA ${duration(eta)}` : ""}`;
  const box = h("input", { type: "checkbox", checked: selected.has(job.id), onchange: (e) => {
    e.target.checked ? selected.add(job.id) : selected.delete(job.id);
    onSelect();
  } });
  return h("tr", { dataset: { job: job.id, status: job.status, epoch: String(epoch) } },
    h("td", {}, box),
    h("td", {}, jobLink(job.id)),
    h("td", {}, statusBadge(job.status)),
    h("td", {}, job.kind),
    h("td", {}, datasetOf(job)),
    h("td", {}, backboneOf(job)),
    h("td", {}, progressBar(max_epochs ? epoch / max_epochs : 0, label)),
    h("td", {}, fmt(job.latest_metrics.val_accuracy)),
    h("td", { title: job.created_at }, duration(secondsSince(job.created_at))));
}
