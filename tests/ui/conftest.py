"""Browser tests of the dashboard: headless Chromium driven by Selenium, a real ``flowser serve --ui``.

``browser`` is one headless Chromium for the session (Debian's ``chromium`` and
``chromedriver``, given by path so Selenium Manager never downloads anything),
its viewport reset to 1280x800 before each test.  Without Chromium or its
driver the tests skip and say why; with ``$CI`` set they fail instead.

``ui_server`` is a ``flowser serve --ui`` process on a free 127.0.0.1 port and
the session's Redis, stopped by its PID at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"
CHROMIUM = os.environ.get("FLOWSER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FLOWSER_CHROMEDRIVER", "/usr/bin/chromedriver")
DESKTOP = (1280, 800)
PHONE = (390, 844)
WAIT = 45.0  # seconds for any condition: generous on a loaded two-core machine
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is missing: install Debian's {package} package (apt-get install chromium chromium-driver)"
    return None


def skip_or_fail(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where the browser tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def set_viewport(driver: Any, width: int, height: int, mobile: bool = False) -> None:
    """Make the page's viewport exactly ``width`` x ``height`` CSS pixels (a phone's with ``mobile``:
    touch, and the meta viewport honoured as on a phone)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": mobile})


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """The session's headless Chromium (a Selenium WebDriver), or a skip (a failure under $CI)."""
    reason = browser_missing()
    if reason:
        skip_or_fail(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="flowser-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as error:
        shutil.rmtree(profile, ignore_errors=True)
        skip_or_fail(f"headless Chromium did not start: {error}")
        raise
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    setattr(item, f"report_{report.when}", report)  # read by ``browser`` when the test is over
    return report


@pytest.fixture
def browser(chromium: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session's Chromium on a blank page with a 1280x800 viewport, no cookies and an empty console log.
    A failed test leaves the page's screenshot and HTML under pytest's temporary directory (the path is
    printed)."""
    chromium.get("about:blank")
    chromium.delete_all_cookies()
    set_viewport(chromium, *DESKTOP)
    chromium.get_log("browser")
    yield chromium
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        folder = tmp_path_factory.mktemp("ui-failure")
        try:
            chromium.save_screenshot(str(folder / "page.png"))
            (folder / "page.html").write_text(chromium.page_source)
            print(f"\n{request.node.nodeid} failed at {chromium.current_url}: the page is in {folder}")
        except Exception as error:  # the browser itself may be what failed
            print(f"\n{request.node.nodeid}: no screenshot of the failure ({error})")
    chromium.get("about:blank")


@pytest.fixture
def wait(browser: Any) -> Callable[..., Any]:
    """``wait(condition, message)``: WebDriverWait on the browser, ``WAIT`` seconds, polled every 0.1 s; an
    element not there yet, or replaced meanwhile (live updates swap parts of a page), is tried again.
    ``message`` may be a function of the browser, called when the wait fails."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)

    def until(condition: Callable[[Any], Any], message: str | Callable[[Any], str] = "", timeout: float = WAIT) -> Any:
        try:
            return WebDriverWait(browser, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(condition)
        except TimeoutException:
            said = message(browser) if callable(message) else message
            raise AssertionError(f"after {timeout:.0f} s at {browser.current_url}: {said}") from None

    return until


def ui_available() -> bool:
    return (ROOT / "flowser" / "ui").is_dir()


class UiServer(ServeProcess):
    """``flowser serve --ui`` until stopped (by its PID)."""

    def __init__(self, redis_url: str) -> None:
        super().__init__(redis_url, "--ui", startup=60)


@pytest.fixture(scope="session")
def ui_server(redis_url: str) -> Iterator[UiServer]:
    if not ui_available():
        pytest.skip("the dashboard (flowser/ui) is not in the repository yet")
    server = UiServer(redis_url)
    try:
        yield server
    finally:
        server.stop()
