"""Outgoing HTTP to a user's URL, treated as hostile: every address checked, the connection pinned to it.

Every host is resolved here and every address it has is checked: the service's own network (loopback, private
ranges, link-local, where cloud metadata endpoints live, and any other non-global address) is refused unless a
network is allowed by a setting. The connection goes to the address that was checked, so a second DNS answer
cannot swap it (DNS rebinding). Dataset imports (app/datasets/fetch.py) and webhook deliveries use it.
"""

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(Exception):
    """The URL is not http(s), does not resolve, or resolves to an address of the service's own network."""


def allowed_networks(cidrs: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]


def checked_address(url: str, *, allow: Sequence[Network], allow_setting: str) -> tuple[str, int, str]:
    """(host, port, the address to connect to) for an http(s) URL whose every address is acceptable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused(f"{url!r}: only http and https URLs are fetched")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise AddressRefused(f"{parts.hostname!r} does not resolve: {exc}") from exc
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        ip = getattr(ip, "ipv4_mapped", None) or ip
        if (not ip.is_global or ip.is_multicast) and not any(ip in network for network in allow):
            raise AddressRefused(
                f"{parts.hostname} resolves to {address}, an address of the service's own network "
                f"(loopback, private, link-local or metadata): refused unless {allow_setting} allows it"
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


def pinned_connection(scheme: str, host: str, port: int, *, address: str, timeout: float) -> http.client.HTTPConnection:
    """An HTTP(S) connection to `address` for `host` (TLS verified against the host name)."""
    pinned = PinnedHTTPSConnection if scheme == "https" else PinnedHTTPConnection
    return pinned(host, port, address=address, timeout=timeout)
