"""A real headless Chromium (Debian's `chromium` package) driven by Playwright, for the dashboard's tests."""

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def chromium_page(base_url: str, *, api_key: str | None = None) -> Iterator[tuple[object, list[str]]]:
    """A page on base_url and its errors: uncaught exceptions, console errors and page files that failed to load.

    The API's own 4xx answers are left out: the browser logs each one (a 422 the form shows, say) as an error.
    With api_key, the tab starts with that key in sessionStorage, as if it had been typed into the page's form.
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
            if api_key is not None:
                context.add_init_script(f"sessionStorage.setItem('flashjobs.apiKey', {json.dumps(api_key)})")
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
