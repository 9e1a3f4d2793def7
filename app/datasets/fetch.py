"""The server downloads an archive for POST /v1/datasets {"url": ...}, treating the URL as hostile.

Every address is checked and the connection pinned to it (app/core/addresses.py); the service's own networks are
allowed only by FLASHJOBS_DATASET_FETCH_ALLOW_NETWORKS. Redirects are followed by the same rules, and size and
total time are bounded.
"""

import hashlib
import http.client
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from app.core import addresses
from app.core.addresses import Network
from app.core.errors import Invalid, TooLarge

CHUNK = 1024 * 1024
REDIRECTS = (301, 302, 303, 307, 308)


class FetchRefused(Invalid):
    """The URL, an address it resolves to, a redirect or the answer is not acceptable."""

    def __init__(self, message: str) -> None:
        super().__init__(["body", "url"], message)


ALLOW_SETTING = "FLASHJOBS_DATASET_FETCH_ALLOW_NETWORKS"


def checked_address(url: str, *, allow: Sequence[Network]) -> tuple[str, int, str]:
    """(host, port, the address to connect to), or FetchRefused."""
    try:
        return addresses.checked_address(url, allow=allow, allow_setting=ALLOW_SETTING)
    except addresses.AddressRefused as exc:
        raise FetchRefused(str(exc)) from exc


def fetch(
    url: str,
    *,
    dest: Path,
    max_bytes: int,
    timeout_s: float,
    max_redirects: int,
    allow: Sequence[Network],
    on_progress: Callable[[], None] = lambda: None,
) -> tuple[str, int]:
    """Download `url` into the new file `dest`; returns (sha256, size). Raises FetchRefused or TooLarge."""
    deadline = time.monotonic() + timeout_s
    for _ in range(max_redirects + 1):
        host, port, address = checked_address(url, allow=allow)
        parts = urlsplit(url)
        connection = addresses.pinned_connection(
            parts.scheme, host, port, address=address, timeout=_left(deadline, url)
        )
        try:
            connection.request(
                "GET",
                (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                headers={"User-Agent": "flashjobs", "Accept-Encoding": "identity"},
            )
            response = connection.getresponse()
            if response.status in REDIRECTS and response.getheader("Location"):
                url = urljoin(url, response.getheader("Location"))
                continue
            if response.status != 200:
                raise FetchRefused(f"{url} answered HTTP {response.status} {response.reason}")
            declared = response.getheader("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise TooLarge(f"{url} is {declared} bytes, over {max_bytes} (FLASHJOBS_MAX_UPLOAD_BYTES)")
            return _save(
                response,
                connection,
                dest=dest,
                max_bytes=max_bytes,
                deadline=deadline,
                url=url,
                on_progress=on_progress,
            )
        except (OSError, http.client.HTTPException) as exc:
            raise FetchRefused(f"fetching {url} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            connection.close()
    raise FetchRefused(f"more than {max_redirects} redirects (FLASHJOBS_DATASET_FETCH_MAX_REDIRECTS)")


def _left(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchRefused(f"fetching {url} took longer than allowed (FLASHJOBS_DATASET_FETCH_TIMEOUT_S)")
    return left


def _save(
    response: http.client.HTTPResponse,
    connection: http.client.HTTPConnection,
    *,
    dest: Path,
    max_bytes: int,
    deadline: float,
    url: str,
    on_progress: Callable[[], None],
) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with dest.open("xb") as out:
        while True:
            # Each receive waits at most the time that was left at connect; the deadline is checked between them.
            left = _left(deadline, url)
            if connection.sock is not None:  # None once http.client handed the socket to the response
                connection.sock.settimeout(left)
            chunk = response.read1(CHUNK)  # what one receive brings: a trickling server cannot outlast the deadline
            if not chunk:
                return digest.hexdigest(), size
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"{url} sent more than {max_bytes} bytes (FLASHJOBS_MAX_UPLOAD_BYTES)")
            digest.update(chunk)
            out.write(chunk)
            on_progress()
