"""A client of the flashjobs HTTP API: requests, the SSE stream, verified downloads, errors in the API's words."""

import hashlib
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.core.config import get_settings
from app.stack.admin_key import key_file

RECONNECT_ATTEMPTS = 30  # a stream that drops is re-opened (resuming after its last epoch) for about a minute
RECONNECT_DELAY_S = 2.0
STREAM_IDLE_S = 5.0  # with no event for this long, the follower re-reads the job's status (queued -> running)


NO_KEY_HINT = "on the machine of `flashjobs up`, the CLI finds its admin key in the state directory by itself"


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase


class Failure(Exception):
    """A failure to report in one line (in the API's words when the API refused), with exit code 1."""


class ApiError(Failure):
    """The API answered with an error, or could not be reached."""


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Server-Sent Events from a stream's lines (comments such as keep-alive pings are skipped)."""
    event, data, event_id = "message", [], None
    for line in lines:
        if not line:  # a blank line ends an event
            if data:
                yield SseEvent(event, "\n".join(data), event_id)
            event, data, event_id = "message", [], None
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value


def describe_error(response: httpx.Response) -> str:
    """An error answer as the API words it: each 422 problem as `loc: msg`, otherwise its detail."""
    if response.status_code == 401:
        return f"HTTP 401: {_detail(response)}: give a key with --api-key or FLASHJOBS_API_KEY ({NO_KEY_HINT})"
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:500] or response.reason_phrase}"
    if isinstance(detail, list):
        problems = [f"  {'.'.join(str(part) for part in item.get('loc', []))}: {item.get('msg')}" for item in detail]
        return f"HTTP {response.status_code}: the request was rejected:\n" + "\n".join(problems)
    return f"HTTP {response.status_code}: {detail}"


class Api:
    """A client of the flashjobs HTTP API."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=httpx.Timeout(30, connect=5))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(
                f"cannot reach the API at {self.base_url} ({exc}); is `flashjobs up` running there? "
                "(--api-url or FLASHJOBS_API_URL say where it is)"
            ) from exc
        if response.status_code >= 400:
            raise ApiError(describe_error(response))
        return response

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body).json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body).json()

    def job_events(self, job_id: str) -> Iterator[SseEvent]:
        """The job's SSE stream until its `end` event; re-opened after a drop, resuming after the last epoch.

        Yields an `idle` event (not the server's) whenever nothing arrived for STREAM_IDLE_S.
        """
        last_epoch_id, failures = None, 0
        while True:
            headers = {"Last-Event-ID": last_epoch_id} if last_epoch_id is not None else {}
            try:
                with self.http.stream(
                    "GET",
                    f"/v1/jobs/{job_id}/metrics/stream",
                    headers=headers,
                    timeout=httpx.Timeout(STREAM_IDLE_S, connect=5),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise ApiError(describe_error(response))
                    for event in parse_sse(response.iter_lines()):
                        failures = 0
                        last_epoch_id = event.id if event.id is not None else last_epoch_id
                        yield event
                        if event.event == "end":
                            return
            except httpx.ReadTimeout:
                yield SseEvent("idle", "")
                continue
            except httpx.TransportError as exc:
                failures += 1
                if failures >= RECONNECT_ATTEMPTS:
                    raise ApiError(f"lost the event stream of job {job_id} at {self.base_url}: {exc}") from exc
            time.sleep(RECONNECT_DELAY_S)  # closed without `end` (a server restart, say): open it again


def api_for(api_url: str | None, api_key: str | None = None) -> Api:
    return Api(api_url or get_settings().api_url, resolve_key(api_key))


def resolve_key(api_key: str | None) -> str | None:
    """--api-key, else FLASHJOBS_API_KEY, else the admin key file `flashjobs up` wrote in the state dir."""
    settings = get_settings()
    if api_key or settings.api_key:
        return api_key or settings.api_key
    path = key_file(settings.state_dir)
    try:
        return path.read_text().strip() or None
    except OSError:  # none yet (no `flashjobs up` here), or another user's
        return None


def download_artifact(client: Api, item: dict, folder: Path) -> Path:
    """Stream one artifact to folder, verifying its sha256 before it takes its final name."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    partial = folder / f".{item['name']}.partial"
    try:
        with client.http.stream("GET", item["url"], timeout=httpx.Timeout(60, connect=5)) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError(describe_error(response))
            match = re.search(r'filename="([^"]+)"', response.headers.get("content-disposition", ""))
            name = Path(match.group(1)).name if match else item["name"]  # never a path from the server
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
        if digest.hexdigest() != item["sha256"]:
            raise Failure(
                f"artifact {item['name']}: sha256 {digest.hexdigest()} does not match the recorded "
                f"{item['sha256']}; the download was discarded"
            )
        final = folder / name
        partial.replace(final)
        return final
    finally:
        partial.unlink(missing_ok=True)
