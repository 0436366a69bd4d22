"""A real headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright's sync API.

Playwright's own browser download is not used: ``make setup`` installs Debian's ``chromium``
(the Makefile's ``APT_TEST_TOOLS``). A machine without it fails these tests with that advice,
never skips them: a skipped browser test would leave the dashboard untested in silence.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
LAPTOP: ViewportSize = {"width": 1366, "height": 768}
REPO = Path(__file__).resolve().parents[2]


def chromium_executable(path: Path = CHROMIUM) -> str:
    """``path`` when it is an executable; else fail the test saying how to install it."""
    if not (path.is_file() and shutil.which(str(path))):
        pytest.fail(
            f"{path} is missing: run `make setup` (installs Debian's chromium) or apt-get install chromium"
        )
    return str(path)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_executable(), headless=True)
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (its own session storage) at laptop size; any script error fails the test."""
    context = browser.new_context(viewport=LAPTOP)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(20_000)
    yield tab
    context.close()
    assert not errors, f"the page threw: {errors}"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each page's screenshot goes (under pytest's tmp dir, printed for the reviewer)."""
    return tmp_path_factory.mktemp("screenshots")
