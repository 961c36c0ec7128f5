"""Headless Chromium for the tests that look at an HTML page as a user would: Debian's Chromium (/usr/bin/chromium)
driven by Playwright for Python, which is told that binary and never downloads a browser of its own. A test that
needs it skips with the reason when the binary or Playwright is absent. Screenshots are kept in test-artifacts/ at
the repository root (git-ignored; each test run overwrites its own files)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# Headless, and nothing that reaches out on its own (the machines have no network beyond package registries).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("file:", "data:", "about:")


@dataclass
class WatchedPage:
    """A page with everything it wrote to the console as an error and every URL it asked for."""

    page: Any  # playwright.sync_api.Page
    console_errors: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)

    def network_requests(self) -> list[str]:
        """The requests that left the file: the page must make none."""
        return [url for url in self.requested if not url.startswith(LOCAL_SCHEMES)]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Playwright Browser on Debian's Chromium, with a fresh profile; skips the test when unavailable."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian package chromium: apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is not installed (pip install -e '.[dev]')")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_file(browser: Any, path: Path) -> WatchedPage:
    """Opens a local HTML file from its file:// URL in a new offline page, recording console errors and requests."""
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)  # a missing element fails in seconds, not Playwright's 30
    watched = WatchedPage(context.new_page())
    watched.page.on("console", lambda message: message.type == "error" and watched.console_errors.append(message.text))
    watched.page.on("pageerror", lambda error: watched.console_errors.append(str(error)))
    watched.page.on("request", lambda request: watched.requested.append(request.url))
    watched.page.goto(path.resolve().as_uri(), wait_until="load")
    return watched


def keep_screenshot(page: Any, name: str) -> Path:
    """Saves a full-page screenshot as test-artifacts/NAME.png and prints where it is."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot kept: {path}")
    return path
