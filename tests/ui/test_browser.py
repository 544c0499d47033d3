"""The dashboard in a real browser: headless Chromium (tests/ui/conftest.py) on ``flowser serve --ui``.

Nothing is mocked: the pages are the server's, the decider and workers are
``flowser decider``/``worker`` processes on the session's Redis, and the
screenshots the tests take are docs/ui.md's (docs/img/).
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from flowser.testing import wait_until
from tests.ui.conftest import DESKTOP, IMG, PHONE, ROOT, WAIT, UiServer, set_viewport

try:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:  # the browser fixture says why the tests skip
    pass

EXAMPLE = ROOT / "examples" / "orders"

SMOKE_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>smoke</title></head>
<body>
<label for="who">Who</label> <input id="who" name="who">
<button id="go" type="button">Fetch</button>
<ul id="out"></ul>
<script>
document.getElementById("go").addEventListener("click", async () => {
  const answer = await fetch("/data?who=" + encodeURIComponent(document.getElementById("who").value));
  const li = document.createElement("li");
  li.textContent = await answer.text();
  document.getElementById("out").appendChild(li);
});
</script>
</body></html>
"""


@pytest.fixture
def smoke_site() -> Iterator[str]:
    """A tiny page and a /data answer served by this test on 127.0.0.1."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = SMOKE_PAGE if self.path == "/" else f"hello {self.path.partition('=')[2]}".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8" if self.path == "/" else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_chromium_runs_a_local_page(browser: Any, wait: Any, smoke_site: str, tmp_path: Any) -> None:
    """The browser itself: a page, its script, keyboard input, the viewport sizes, a screenshot."""
    browser.get(smoke_site + "/")
    assert browser.execute_script("return [innerWidth, innerHeight]") == list(DESKTOP)
    browser.execute_script("window.flowserMarker = 1")
    field = browser.find_element(By.ID, "who")
    field.click()
    field.send_keys("ada", Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "go"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#out li"), "the fetched line never appeared")
    assert browser.find_element(By.CSS_SELECTOR, "#out li").text == "hello ada"
    assert browser.execute_script("return window.flowserMarker") == 1  # the same page: not reloaded
    assert browser.save_screenshot(str(tmp_path / "smoke.png"))
    assert (tmp_path / "smoke.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    set_viewport(browser, *PHONE, mobile=True)
    browser.get(smoke_site + "/")
    assert browser.execute_script("return innerWidth") == PHONE[0]
    assert browser.execute_script("return document.scrollingElement.scrollWidth <= innerWidth + 1")


# -- the dashboard -------------------------------------------------------------------------------


class Process:
    """A ``python -m flowser.cli ...`` child in examples/orders; its output kept for a failure's message."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowser.cli", *args],
            cwd=EXAMPLE,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class Shop:
    """examples/orders at work on the session's Redis: its decider and worker processes, and a boto3 client."""

    def __init__(self, client: Any, redis_url: str, ui_url: str) -> None:
        self.client = client
        self.ui = ui_url
        self.env = {**os.environ, "FLOWSER_BACKEND": redis_url, "FLOWSER_DOMAIN": "shop"}
        self.processes: list[Process] = []

    def run_processes(self) -> None:
        self.processes.append(Process(self.env, "decider", "shop:Order", "--register"))
        for args in (("decider", "shop:Ship"), ("worker", "shop:Charge"), ("worker", "shop:Pack")):
            self.processes.append(Process(self.env, *args, "--domain-class", "shop:Shop"))

        def registered() -> bool:
            try:
                names = {t["activityType"]["name"] for t in self.client.list_activity_types(domain="shop", registrationStatus="REGISTERED")["typeInfos"]}
            except Exception:
                return False
            return {"Charge", "Pack"} <= names

        wait_until(registered, timeout=WAIT)

    def start(self, order: int, items: list[str] | None = None) -> str:
        """Start ``order-N`` and return its runId."""
        answer = self.client.start_workflow_execution(
            domain="shop",
            workflowId=f"order-{order}",
            workflowType={"name": "Order", "version": "1"},
            input=json.dumps({"order": order, "amount": 42, "items": items or ["book", "pen"]}),
        )
        return str(answer["runId"])

    def approve(self, order: int, by: str = "alice") -> None:
        self.client.signal_workflow_execution(domain="shop", workflowId=f"order-{order}", signalName="approve", input=json.dumps(by))

    def status(self, order: int, run_id: str) -> str:
        info = self.client.describe_workflow_execution(domain="shop", execution={"workflowId": f"order-{order}", "runId": run_id})["executionInfo"]
        return str(info.get("closeStatus") or info["executionStatus"])

    def page(self, order: int, run_id: str, view: str | None = None) -> str:
        url = f"{self.ui}/ui/d/shop/x/order-{order}/{quote(run_id, safe='')}"
        return url + (f"?view={view}" if view else "")

    def output(self) -> str:
        return "\n".join(f"--- flowser {' '.join(p.args)}\n" + "\n".join(p.lines[-30:]) for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def shop(swf: Any, redis_url: str, ui_server: UiServer) -> Iterator[Shop]:
    """The shop domain registered, with no processes yet (``shop.run_processes()`` starts them)."""
    shop = Shop(swf, redis_url, ui_server.url)
    try:
        yield shop
    finally:
        shop.stop()


def screenshot(browser: Any, name: str, at: Any = None) -> Path:
    """Save the viewport as docs/img/``name`` (or under $FLOWSER_SCREENSHOTS, a directory): the page's top,
    or scrolled to the element ``at``."""
    folder = Path(os.environ.get("FLOWSER_SCREENSHOTS") or IMG)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if at is None:
        browser.execute_script("window.scrollTo(0, 0)")
    else:
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", at)
    assert browser.save_screenshot(str(path)), path
    return path


def page_problems(browser: Any) -> list[str]:
    """The browser's console errors since the last call: scripts that threw, what the CSP refused, failed loads."""
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]


def body_text(browser: Any) -> str:
    return str(browser.find_element(By.TAG_NAME, "body").text)


LANES = "ol[aria-label^='Timeline'] > li"


def lanes(browser: Any) -> list[str]:
    """The shown timeline's lanes, each as its visible label (kind and name); read at once, as live updates
    replace them."""
    return list(
        browser.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0]))"
            ".filter(li => li.offsetParent !== null).map(li => li.innerText.split(/\\s+/).join(' ').trim())",
            LANES,
        )
    )


def bars(browser: Any) -> list[Any]:
    """The shown timeline's bars (links to their events, or images when they have none), by their accessible names."""
    return [bar for bar in browser.find_elements(By.CSS_SELECTOR, f"{LANES} [aria-label]") if bar.is_displayed()]


def bar_count(browser: Any) -> int:
    return int(browser.execute_script("return document.querySelectorAll(arguments[0]).length", f"{LANES} [aria-label]"))


def status_text(browser: Any) -> str:
    """The run's status as the page's header shows it (the value of its Status field)."""
    return " ".join(browser.find_element(By.XPATH, "//dt[normalize-space()='Status']/following-sibling::dd[1]").text.split())


def tab(browser: Any, name: str) -> Any:
    return browser.find_element(By.XPATH, f"//*[@role='tab'][normalize-space()='{name}']")


def panel_of(browser: Any, tab_element: Any) -> Any:
    return browser.find_element(By.ID, tab_element.get_attribute("aria-controls"))


def press(browser: Any, *keys: str) -> None:
    ActionChains(browser).send_keys(*keys).perform()


def tab_until(browser: Any, found: Any, limit: int = 80) -> Any:
    """Press Tab until ``found(active_element)`` holds; return that element."""
    for _ in range(limit):
        press(browser, Keys.TAB)
        element = browser.switch_to.active_element
        if found(element):
            return element
    raise AssertionError(f"Tab never reached the element ({limit} presses)")


@pytest.mark.slow
def test_the_timeline_grows_live_and_terminate_changes_the_status(browser: Any, wait: Any, shop: Shop) -> None:
    shop.run_processes()
    browser.get(f"{shop.ui}/ui/")
    wait(lambda d: d.find_elements(By.LINK_TEXT, "shop"), "the domains page does not list shop")
    screenshot(browser, "domains.png")
    assert page_problems(browser) == []

    run_id = shop.start(1)
    browser.get(shop.page(1, run_id))
    wait(lambda d: any(line.startswith("decisions") for line in lanes(d)), f"no decision lane:\n{shop.output()}")
    assert status_text(browser) == "OPEN"
    wait(lambda d: "Live" in d.find_element(By.ID, "live-note").text, "the page never said it was live")
    browser.execute_script("window.flowserMarker = 'not reloaded'")
    before = bar_count(browser)
    assert not any("charge-1" in line for line in lanes(browser))  # the order waits for approval

    shop.approve(1)  # as a client would: the page learns it from the event stream
    wait(lambda d: any("approve" in line for line in lanes(d)), f"the signal never appeared:\n{shop.output()}")
    wait(lambda d: any("charge-1" in line for line in lanes(d)), f"the charge never appeared:\n{shop.output()}")
    wait(lambda d: any("ship-1" in line for line in lanes(d)), f"the child never appeared:\n{shop.output()}")
    wait(lambda d: status_text(d) == "COMPLETED", f"the run never completed on the page:\n{shop.output()}")
    assert bar_count(browser) > before
    assert browser.execute_script("return window.flowserMarker") == "not reloaded"
    assert shop.status(1, run_id) == "COMPLETED"

    # the bars are placed by the stylesheets (the CSP allows no style attribute): the run's spans the track
    run_bar = next(bar for bar in bars(browser) if bar.get_attribute("aria-label").startswith("run"))
    track = run_bar.find_element(By.XPATH, "..")
    assert run_bar.size["width"] >= 0.9 * track.size["width"] > 0
    widths = {bar.size["width"] for bar in bars(browser)}
    assert len(widths) > 1, widths
    screenshot(browser, "execution-timeline.png")

    tab(browser, "Grouped").click()
    grouped = panel_of(browser, tab(browser, "Grouped"))
    wait(lambda d: grouped.is_displayed(), "the grouped view never showed")
    assert "charge-1" in grouped.text and "ship-1" in grouped.text and "approve" in grouped.text
    screenshot(browser, "execution-grouped.png", at=browser.find_element(By.XPATH, "//h2[normalize-space()='History']"))
    tab(browser, "Full JSON").click()
    history = panel_of(browser, tab(browser, "Full JSON"))
    wait(lambda d: history.is_displayed(), "the JSON view never showed")
    assert '"eventType": "WorkflowExecutionCompleted"' in history.text
    screenshot(browser, "execution-json.png", at=browser.find_element(By.XPATH, "//h2[normalize-space()='History']"))
    assert browser.execute_script("return window.flowserMarker") == "not reloaded"
    assert page_problems(browser) == []

    other = shop.start(2)
    browser.get(f"{shop.ui}/ui/d/shop")
    wait(lambda d: d.find_elements(By.LINK_TEXT, "order-2"), "order-2 is not in the list")
    screenshot(browser, "executions.png")
    browser.find_element(By.LINK_TEXT, "order-2").click()
    wait(lambda d: d.find_elements(By.LINK_TEXT, "Terminate"), "no Terminate action on an open run")
    assert status_text(browser) == "OPEN"
    browser.find_element(By.LINK_TEXT, "Terminate").click()
    reason = wait(lambda d: d.find_element(By.XPATH, "//label[normalize-space()='Reason']"), "no Reason field")
    browser.find_element(By.ID, reason.get_attribute("for")).send_keys("stale order")
    browser.find_element(By.XPATH, "//button[starts-with(normalize-space(), 'Terminate')]").click()
    confirm = wait(lambda d: d.find_element(By.XPATH, "//button[normalize-space()='Yes, terminate']"), "no confirmation")
    assert "This cannot be undone" in body_text(browser) and "stale order" in body_text(browser)
    assert shop.status(2, other) == "OPEN"  # nothing done before the confirmation
    confirm.click()
    wait(lambda d: status_text(d) == "TERMINATED", "the status never became TERMINATED")
    assert shop.status(2, other) == "TERMINATED"
    assert not browser.find_elements(By.LINK_TEXT, "Terminate")
    assert page_problems(browser) == []
