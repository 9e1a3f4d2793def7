// Datasets: the list, and one dataset's classes per split, image sizes, formats, problems and sample thumbnails.

import { get, objectUrl } from "../api.js";
import { bytes, errorText, h, when } from "../util.js";

export function renderList(root) {
  const body = h("tbody");
  root.append(h("h1", {}, "Datasets"), h("table", { id: "datasets" },
    h("thead", {}, h("tr", {}, ["dataset", "status", "layout", "classes", "images", "size", "created"].map((t) => h("th", {}, t)))),
    body));
  get("/v1/datasets?limit=200").then((page) => {
    body.replaceChildren(...page.datasets.map((d) => h("tr", { dataset: { dataset: d.id } },
      h("td", {}, h("a", { href: `#/dataset/${d.id}` }, d.name ?? d.id)), h("td", {}, d.status), h("td", {}, d.layout ?? ""),
      h("td", {}, String(d.classes.length)), h("td", {}, String(d.images)), h("td", {}, bytes(d.bytes)),
      h("td", {}, when(d.created_at)))));
    if (!page.datasets.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No uploaded datasets.")));
  }, (error) => body.append(h("tr", {}, h("td", { colspan: 7, class: "error" }, errorText(error)))));
  return null;
}

export function renderOne(root, { arg: id }) {
  const urls = [];
  get(`/v1/datasets/${id}`).then(async (d) => {
    const splits = Object.keys(d.splits);
    const sizes = ["width", "height"].map((side) => {
      const s = d.image_sizes[side];
      return s ? `${side} ${s.min}–${s.max} (median ${s.median})` : null;
    }).filter(Boolean).join(", ");
    root.append(
      h("h1", {}, `Dataset ${d.name ?? d.id}`),
      h("div", { class: "card" }, h("dl", { class: "facts" },
        h("dt", {}, "status"), h("dd", {}, d.status), h("dt", {}, "layout"), h("dd", {}, d.layout ?? ""),
        h("dt", {}, "images"), h("dd", {}, String(d.images)), h("dt", {}, "image sizes"), h("dd", {}, sizes),
        h("dt", {}, "formats"), h("dd", {}, Object.entries(d.formats).map(([f, n]) => `${f} ${n}`).join(", ")),
        h("dt", {}, "training image_size"), h("dd", {}, String(d.image_size ?? "")),
        h("dt", {}, "id"), h("dd", { class: "mono" }, d.id))),
      h("h2", {}, "Classes per split"),
      h("table", { id: "class-counts" },
        h("thead", {}, h("tr", {}, h("th", {}, "class"), splits.map((s) => h("th", {}, s)))),
        h("tbody", {}, d.classes.map((c) => h("tr", {}, h("td", {}, c), splits.map((s) => h("td", {}, String(d.splits[s][c] ?? 0))))))),
      h("h2", {}, `Problems (${d.problem_count})`),
      d.problems.length
        ? h("table", {}, h("tbody", {}, d.problems.map((p) => h("tr", {}, h("td", { class: "mono" }, p.path), h("td", {}, p.reason)))))
        : h("p", { class: "muted" }, "None."),
    );
    if (d.status === "ready") {
      const url = await objectUrl(`/v1/datasets/${id}/samples`);
      urls.push(url);
      root.append(h("h2", {}, "Samples"), h("img", { class: "samples", src: url, alt: "a row of thumbnails per class" }));
    }
  }).catch((error) => root.append(h("p", { class: "error" }, errorText(error))));
  return () => urls.forEach((u) => URL.revokeObjectURL(u));
}
