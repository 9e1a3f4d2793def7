"""Which Host headers the API answers (DNS rebinding) and which browser origins may read it (CORS, off by default)."""

from collections.abc import Callable

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings

# What a browser page on an allowed origin may send and read; the key goes in Authorization, never a cookie.
CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match", "Last-Event-ID"]
CORS_EXPOSED = ["ETag", "Location", "Retry-After", "X-Checksum-Sha256", "WWW-Authenticate"]


class HostAndOrigin:
    """TrustedHost (FLASHJOBS_ALLOWED_HOSTS) around CORS (only with FLASHJOBS_CORS_ORIGINS), built at the first
    request from the settings, so that importing the app reads none."""

    def __init__(self, app: ASGIApp, *, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.settings = settings
        self._checked: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._checked is None:
            self._checked = self._build(self.settings())
        await self._checked(scope, receive, send)

    def _build(self, settings: Settings) -> ASGIApp:
        app = self.app
        if settings.cors_origins:
            app = CORSMiddleware(
                app,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=CORS_HEADERS,
                expose_headers=CORS_EXPOSED,
                allow_credentials=False,  # no cookies: a key is sent explicitly or not at all
            )
        return TrustedHostMiddleware(app, allowed_hosts=settings.allowed_hosts)


def add_host_and_origin_checks(app: FastAPI, settings: Callable[[], Settings]) -> None:
    app.add_middleware(HostAndOrigin, settings=settings)
