// Small DOM and formatting helpers shared by the views.

/** h("td", {class: "x"}, child, ...): an element; strings become text nodes, never HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

export const FINAL = new Set(["succeeded", "failed", "cancelled"]);
export const CANCELLABLE = new Set(["waiting", "queued", "running"]);

export const shortId = (id) => id.slice(0, 8);
export const statusBadge = (status) => h("span", { class: `status ${status}`, dataset: { status } }, status);
export const jobLink = (id, text) => h("a", { href: `#/job/${id}`, class: "mono" }, text ?? shortId(id));
export const datasetOf = (job) => job.spec?.dataset?.name ?? job.spec?.dataset?.id ?? "?";
export const backboneOf = (job) => job.spec?.model?.backbone ?? "?";

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export const secondsSince = (iso) => (Date.now() - Date.parse(iso)) / 1000;
export const fmt = (value, digits = 3) => (value === undefined || value === null ? "" : Number(value).toFixed(digits));
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

export function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** Seconds left for a running job, from its pace so far (epochs done since it started). */
export function etaSeconds(job) {
  const { epoch, max_epochs } = job.progress;
  if (job.status !== "running" || !job.started_at || epoch < 1) return null;
  return (secondsSince(job.started_at) / epoch) * (max_epochs - epoch);
}

export function progressBar(fraction, label, wide = false) {
  const pct = `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
  return h(
    "span",
    { class: "progress" },
    h("span", { class: wide ? "bar wide" : "bar", dataset: { fraction: String(fraction) } }, h("span", { style: `width:${pct}` })),
    " ",
    h("span", { class: "muted" }, label),
  );
}

export function errorText(error) {
  if (!error) return "";
  if (typeof error.detail === "string") return error.detail;
  if (Array.isArray(error.detail)) return error.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  return error.message || String(error);
}

/** Call fn now and every `ms` until stopped; never two at once. */
export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      await fn();
    } catch (error) {
      console.warn(error);
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
