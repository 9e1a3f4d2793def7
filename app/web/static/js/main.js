// The page: a hash router over the views, and the API-key screen the API's 401 brings up.

import { getKey, onUnauthorized, setKey } from "./api.js";
import { h } from "./util.js";
import * as compare from "./views/compare.js";
import * as datasets from "./views/datasets.js";
import * as job from "./views/job.js";
import * as jobs from "./views/jobs.js";
import * as submit from "./views/submit.js";

const ROUTES = {
  jobs: jobs.render,
  job: job.render,
  compare: compare.render,
  submit: submit.render,
  datasets: datasets.renderList,
  dataset: datasets.renderOne,
};

const view = document.getElementById("view");
let cleanup = null;

/** "#/job/abc?x=1" -> {name: "job", arg: "abc", params: URLSearchParams("x=1")} */
export function parseHash(hash = location.hash) {
  const [path, query = ""] = hash.replace(/^#\/?/, "").split("?");
  const [name = "jobs", ...rest] = path.split("/");
  return { name: name || "jobs", arg: rest.length ? decodeURIComponent(rest.join("/")) : null, params: new URLSearchParams(query) };
}

function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const { name, arg, params } = parseHash();
  for (const link of document.querySelectorAll("header nav a")) {
    link.classList.toggle("active", link.getAttribute("href") === `#/${name}`);
  }
  const render = ROUTES[name] || jobs.render;
  view.replaceChildren();
  cleanup = render(view, { arg, params }) || null;
}

function askForKey(message) {
  if (cleanup) cleanup();
  cleanup = null;
  const input = h("input", { type: "password", name: "api-key", placeholder: "API key", autocomplete: "off" });
  const form = h(
    "form",
    {
      class: "card login",
      id: "login",
      onsubmit: (event) => {
        event.preventDefault();
        setKey(input.value.trim());
        route();
      },
    },
    h("h1", {}, "API key"),
    h("p", { class: "muted" }, message),
    input,
    h("button", { class: "primary", type: "submit" }, "Use this key"),
    " ",
    getKey() ? h("button", { type: "button", onclick: () => (setKey(null), askForKey("Key forgotten.")) }, "Forget key") : null,
  );
  view.replaceChildren(form);
  input.focus();
}

let asking = false;
onUnauthorized(() => {
  if (asking) return;
  asking = true;
  askForKey(getKey() ? "The API refused this key: enter another." : "This service needs an API key.");
  // Further 401s from requests already in flight must not clear what is being typed.
  setTimeout(() => (asking = false), 500);
});

document.getElementById("key-button").addEventListener("click", () =>
  askForKey("The key is kept for this browser tab only (sessionStorage) and sent as Authorization: Bearer."),
);
window.addEventListener("hashchange", route);
route();
