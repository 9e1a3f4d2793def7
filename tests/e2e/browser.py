"""A real headless Chromium (Debian's `chromium` package) driven by Playwright, for the dashboard's tests."""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def chromium_page(base_url: str) -> Iterator[tuple[object, list[str]]]:
    """A page on base_url and its errors: uncaught exceptions, console errors and page files that failed to load.

    The API's own 4xx answers are left out: the browser logs each one (a 422 the form shows, say) as an error.
    """
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (make test installs it when missing)")
    errors: list[str] = []
    with sync_playwright() as playwright:
        # Playwright's own browser download needs the internet; the system's Chromium needs none.
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            context = browser.new_context(base_url=base_url, viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.on("console", lambda msg: _console_error(msg, errors))
            page.on(
                "response", lambda r: "/v1/" not in r.url and r.status >= 400 and errors.append(f"{r.status} {r.url}")
            )
            yield page, errors
        finally:
            browser.close()


def _console_error(message: object, errors: list[str]) -> None:
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(f"console: {message.text}")
