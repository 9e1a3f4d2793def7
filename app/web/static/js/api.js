// The API client: every request carries the session's key; the SSE stream is read with fetch() so that it can too.

const KEY = "flashjobs.apiKey";

export const getKey = () => sessionStorage.getItem(KEY);
export const setKey = (key) => (key ? sessionStorage.setItem(KEY, key) : sessionStorage.removeItem(KEY));

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

let unauthorized = () => {};
/** The page asks for a key when the API answers 401. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

function headers(extra = {}) {
  const key = getKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function send(method, path, body, init = {}) {
  const options = { method, headers: headers(init.headers), signal: init.signal };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) unauthorized();
  return response;
}

async function json(response) {
  const data = response.status === 204 || response.status === 304 ? null : await response.json().catch(() => null);
  if (!response.ok && response.status !== 304) throw new ApiError(response.status, data?.detail ?? null);
  return data;
}

export const get = async (path, init) => json(await send("GET", path, undefined, init));
export const post = async (path, body, init) => json(await send("POST", path, body, init));

/** GET with If-None-Match: {changed: false} while the answer is the one already held. */
export async function poll(path, etag, init) {
  const response = await send("GET", path, undefined, { ...init, headers: etag ? { "If-None-Match": etag } : {} });
  if (response.status === 304) return { changed: false, etag };
  return { changed: true, etag: response.headers.get("ETag"), data: await json(response) };
}

/** A file fetched with the key, as an object URL (links and <img> cannot send headers). */
export async function objectUrl(path) {
  const response = await send("GET", path);
  if (!response.ok) throw new ApiError(response.status, (await response.json().catch(() => null))?.detail);
  return URL.createObjectURL(await response.blob());
}

/** Save a file fetched with the key under its server-given name. */
export async function download(path, fallbackName) {
  const url = await objectUrl(path);
  const link = Object.assign(document.createElement("a"), { href: url, download: fallbackName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * Server-Sent Events over fetch(): onEvent(type, data, id) per event. Reconnects with Last-Event-ID after a drop,
 * until an `end` event or until the signal aborts.
 */
export async function stream(path, { onEvent, signal, lastEventId = null }) {
  let last = lastEventId;
  while (!signal.aborted) {
    try {
      const extra = last === null ? {} : { "Last-Event-ID": String(last) };
      const response = await send("GET", path, undefined, { signal, headers: { Accept: "text/event-stream", ...extra } });
      if (!response.ok) throw new ApiError(response.status, (await response.json().catch(() => null))?.detail);
      const ended = await readEvents(response.body, (type, data, id) => {
        if (id !== null) last = id;
        onEvent(type, data, id);
      });
      if (ended) return;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function readEvents(body, emit) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let ended = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return ended;
    buffer += value;
    // Lines end in \r\n, \n or \r; a trailing \r may be the first half of a \r\n still on its way.
    const complete = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
    const text = buffer.slice(0, complete).replace(/\r\n?/g, "\n");
    const blocks = text.split("\n\n");
    buffer = blocks.pop() + buffer.slice(complete);
    for (const block of blocks) {
      let type = "message";
      let id = null;
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const rest = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") type = rest;
        else if (field === "data") data.push(rest);
        else if (field === "id") id = rest;
      }
      if (!data.length) continue;
      emit(type, JSON.parse(data.join("\n")), id);
      if (type === "end") ended = true;
    }
  }
}
