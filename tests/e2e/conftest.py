"""Browser suites: Playwright driving Debian's headless Chromium (never a downloaded browser)."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import pytest

from conftest import require_binary

from .servers import Server, embedded_var_dir, prepare_embedded, running_server, server_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--auto-select-desktop-capture-source=Entire screen",
    "--auto-accept-this-tab-capture",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per module: Playwright's sync API holds an event loop on this thread while it
    runs, which the asyncio tests of other modules need free."""
    executable = require_binary(CHROMIUM, "e2e-deps")
    # Playwright's sync API runs an event loop in this thread; the live server's ORM calls happen in
    # other threads, and the test's own ORM calls are plain synchronous code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, target=None) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        (target or page).screenshot(path=str(path), full_page=True)
        return path

    return take


# --- Real server processes (tests/e2e/servers.py) ------------------------------------------------------


@pytest.fixture(scope="session")
def embedded_template(tmp_path_factory):
    """A migrated SQLite database with Acme and alice, copied for each embedded server."""
    return prepare_embedded(tmp_path_factory.mktemp("embedded-template"))


@pytest.fixture
def embedded_server(embedded_template, tmp_path):
    """Start embedded servers (SQLite of their own, no Redis) with extra settings; all stopped at teardown."""
    with ExitStack() as stack:

        def start(name: str = "server", **settings: str) -> Server:
            var_dir = embedded_var_dir(embedded_template, tmp_path / name)
            return stack.enter_context(running_server(name, server_env(var_dir, **settings), tmp_path / "logs"))

        yield start
