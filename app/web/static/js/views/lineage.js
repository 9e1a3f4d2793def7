// A job's ancestry (parent links up to the root) and its descendants (the API's parent_id filter), each linked.

import { get } from "../api.js";
import { datasetOf, h, jobLink, statusBadge } from "../util.js";

const MAX_DEPTH = 20; // chains hold at most FLASHJOBS_MAX_CHAIN_STEPS jobs; a deeper family is cut short here

export async function lineage(jobId) {
  const chain = [await get(`/v1/jobs/${jobId}`)];
  while (chain[0].parent_id && chain.length < MAX_DEPTH) chain.unshift(await get(`/v1/jobs/${chain[0].parent_id}`));
  const item = (job) =>
    h("li", { dataset: { job: job.id }, class: job.id === jobId ? "here" : null },
      jobLink(job.id), ` ${job.kind} ${datasetOf(job)} `, statusBadge(job.status));
  // Ancestors as nested lists down to this job, then its descendants below it.
  const root = h("ul");
  let list = root;
  for (const job of chain) {
    const li = item(job);
    list.append(li);
    if (job.id !== jobId) li.append((list = h("ul")));
    else li.append(await children(job.id, item, 0));
  }
  return root;
}

async function children(jobId, item, depth) {
  const list = h("ul");
  if (depth >= MAX_DEPTH) return list;
  const page = await get(`/v1/jobs?parent_id=${encodeURIComponent(jobId)}&limit=200`);
  for (const child of page.jobs.reverse()) {
    const li = item(child);
    li.append(await children(child.id, item, depth + 1));
    list.append(li);
  }
  return list;
}
