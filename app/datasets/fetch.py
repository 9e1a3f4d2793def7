"""The server downloads an archive for POST /v1/datasets {"url": ...}, treating the URL as hostile.

Every host is resolved here and every address it has is checked: the service's own network (loopback, private
ranges, link-local, where cloud metadata endpoints live, and any other non-global address) is refused unless a
network is allowed by FLASHJOBS_DATASET_FETCH_ALLOW_NETWORKS. The connection goes to the address that was
checked, so a second DNS answer cannot swap it (DNS rebinding). Redirects are followed by the same rules, and
size and total time are bounded.
"""

import hashlib
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from app.core.errors import Invalid, TooLarge

CHUNK = 1024 * 1024
REDIRECTS = (301, 302, 303, 307, 308)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchRefused(Invalid):
    """The URL, an address it resolves to, a redirect or the answer is not acceptable."""

    def __init__(self, message: str) -> None:
        super().__init__(["body", "url"], message)


def allowed_networks(cidrs: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]


def checked_address(url: str, *, allow: Sequence[Network]) -> tuple[str, int, str]:
    """(host, port, the address to connect to) for an http(s) URL whose every address is acceptable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused(f"{url!r}: only http and https URLs are fetched")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise FetchRefused(f"{parts.hostname!r} does not resolve: {exc}") from exc
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        ip = getattr(ip, "ipv4_mapped", None) or ip
        if (not ip.is_global or ip.is_multicast) and not any(ip in network for network in allow):
            raise FetchRefused(
                f"{parts.hostname} resolves to {address}, an address of the service's own network "
                "(loopback, private, link-local or metadata): refused unless "
                "FLASHJOBS_DATASET_FETCH_ALLOW_NETWORKS allows it"
            )
    return parts.hostname, port, addresses[0]


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS verified against the host name (SNI and certificate), not the address."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


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
        pinned = PinnedHTTPSConnection if parts.scheme == "https" else PinnedHTTPConnection
        connection = pinned(host, port, address=address, timeout=_left(deadline, url))
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
