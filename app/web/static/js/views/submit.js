// Submit a train or finetune job; the API validates it and its 422s are shown next to the fields they name.

import { ApiError, get, post } from "../api.js";
import { errorText, h } from "../util.js";

const BACKBONES = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"];
const STRATEGIES = ["freeze", "no_freeze", "freeze_unfreeze", "unfreeze_milestones"];
// Which form field a 422's loc (after "body") belongs to: the longest matching prefix wins.
const FIELD_OF_LOC = [
  ["trainer.max_epochs", "epochs"],
  ["trainer.batch_size", "batch_size"],
  ["trainer", "epochs"],
  ["init_from", "parent"],
  ["finetune", "strategy"],
  ["model", "backbone"],
  ["dataset", "dataset"],
  ["kind", "kind"],
];

export function fieldOf(loc) {
  const path = (loc || []).filter((part, i) => !(i === 0 && part === "body")).join(".");
  const hit = FIELD_OF_LOC.find(([prefix]) => path === prefix || path.startsWith(`${prefix}.`));
  return hit ? hit[1] : null;
}

export function render(root, { params }) {
  const errors = {};
  const field = (name, label, control, hint) => {
    errors[name] = h("span", { class: "field-error", id: `error-${name}`, dataset: { field: name } });
    return h("label", {}, label, control, h("span", {}, hint ? h("span", { class: "muted" }, hint) : null, errors[name]));
  };
  const select = (name, options, value) =>
    h("select", { name }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text ?? v)));
  const kind = select("kind", [["train"], ["finetune"]], params.get("parent") ? "finetune" : "train");
  const dataset = select("dataset", [["cifar10"], ["cifar100"]]);
  const backbone = select("backbone", BACKBONES.map((b) => [b]));
  const parent = h("input", { name: "parent", placeholder: "the job whose backbone it starts from", size: 36,
    value: params.get("parent") || "" });
  const strategy = select("strategy", STRATEGIES.map((s) => [s]));
  const epochs = h("input", { name: "epochs", type: "number", value: "10" });
  const batchSize = h("input", { name: "batch_size", type: "number", value: "128" });
  const general = h("p", { class: "error", id: "submit-error" });
  const form = h("form", { class: "card submit", novalidate: true, id: "submit-form" },
    field("kind", "kind", kind),
    field("dataset", "dataset", dataset),
    field("backbone", "backbone", backbone, "train only: a finetune keeps its parent's"),
    field("parent", "parent job", parent, "finetune only"),
    field("strategy", "strategy", strategy, "finetune only"),
    field("epochs", "epochs", epochs),
    field("batch_size", "batch size", batchSize),
    h("button", { class: "primary", type: "submit" }, "Submit"), general);
  root.append(h("h1", {}, "Submit a job"), form);
  const sync = () => {
    const finetune = kind.value === "finetune";
    backbone.disabled = finetune;
    parent.disabled = strategy.disabled = !finetune;
  };
  kind.addEventListener("change", sync);
  sync();
  get("/v1/datasets?limit=200").then((page) => {
    for (const d of page.datasets.filter((d) => d.status === "ready")) {
      dataset.append(h("option", { value: `id:${d.id}` }, `${d.name ?? d.id} (uploaded)`));
    }
  }, () => {});

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const el of Object.values(errors)) el.textContent = "";
    general.textContent = "";
    const number = (input) => (input.value.trim() === "" ? undefined : Number(input.value));
    const spec = {
      kind: kind.value,
      dataset: dataset.value.startsWith("id:") ? { id: dataset.value.slice(3) } : { name: dataset.value },
      trainer: { max_epochs: number(epochs), batch_size: number(batchSize) },
    };
    if (kind.value === "train") spec.model = { backbone: backbone.value };
    else {
      spec.init_from = { job_id: parent.value.trim() };
      spec.finetune = { strategy: strategy.value };
    }
    try {
      const job = await post("/v1/jobs", spec);
      location.hash = `#/job/${job.id}`;
    } catch (error) {
      if (!(error instanceof ApiError) || !Array.isArray(error.detail)) {
        general.textContent = errorText(error);
        return;
      }
      for (const item of error.detail) {
        const target = errors[fieldOf(item.loc)] ?? general;
        target.textContent = [target.textContent, item.msg].filter(Boolean).join("; ");
      }
    }
  });
  return null;
}
