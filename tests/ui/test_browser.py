"""The dashboard in a real browser: headless Chromium (tests/ui/conftest.py) on ``flowser serve --ui``.

Nothing is mocked: the pages are the server's, the decider and workers are
``flowser decider``/``worker`` processes on the session's Redis, and the
screenshots the tests take are docs/ui.md's (docs/img/).
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from flowser.testing import wait_until
from tests.serve_process import FlowserProcess
from tests.ui.conftest import DESKTOP, IMG, PHONE, ROOT, WAIT, UiServer, set_viewport

try:
    from selenium.common.exceptions import StaleElementReferenceException
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


class Process(FlowserProcess):
    """A ``python -m flowser.cli ...`` child in examples/orders; its output kept for a failure's message."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        super().__init__(*args, cwd=EXAMPLE, env={**env, "PYTHONPATH": str(ROOT)})

    def stop(self, grace: float = 30.0) -> int:
        return super().stop(grace)


class Shop:
    """examples/orders at work on the session's Redis: its decider and worker processes, and a boto3 client."""

    def __init__(self, client: Any, redis_url: str, ui_url: str) -> None:
        self.client = client
        self.ui = ui_url
        self.env = {**os.environ, "FLOWSER_BACKEND": redis_url, "FLOWSER_DOMAIN": "shop"}
        self.processes: list[Process] = []

    def run_processes(self) -> None:
        """Start the deciders and workers; return once each polls (it says so on its log)."""
        self.processes.append(Process(self.env, "decider", "shop:Order", "--register"))
        for args in (("decider", "shop:Ship"), ("worker", "shop:Charge"), ("worker", "shop:Pack")):
            self.processes.append(Process(self.env, *args, "--domain-class", "shop:Shop"))

        def polling() -> bool:
            for process in self.processes:
                if process.proc.poll() is not None:
                    raise AssertionError(f"flowser {' '.join(process.args)} exited:\n{self.output()}")
            return all(any(" polling " in line for line in process.lines) for process in self.processes)

        try:
            wait_until(polling, timeout=WAIT)
        except TimeoutError:
            raise AssertionError(f"the deciders and workers did not all poll:\n{self.output()}") from None

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
    spec = importlib.util.spec_from_file_location("orders_shop_for_ui_tests", EXAMPLE / "shop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.Shop(swf).register()
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


def shown_panel_text(browser: Any, name: str) -> str | None:
    """The text of the view whose tab is ``name``, when it is shown (read at once: live updates replace panels)."""
    return browser.execute_script(
        """
        const tab = Array.from(document.querySelectorAll('[role=tab]')).find(t => t.innerText.trim() === arguments[0]);
        const panel = tab && document.getElementById(tab.getAttribute('aria-controls'));
        return panel && panel.offsetParent !== null ? panel.innerText : null;
        """,
        name,
    )


def show_view(browser: Any, wait: Any, name: str) -> str:
    """Click the view's tab; return the view's text once it shows."""
    tab(browser, name).click()
    return str(wait(lambda d: shown_panel_text(d, name), f"the {name} view never showed"))


def click(wait: Any, by: str, value: str) -> None:
    """Find and click, again if a live update replaced the element in between."""
    wait(lambda d: d.find_element(by, value).click() or True, f"could not click {value}")


def press(browser: Any, *keys: str) -> None:
    ActionChains(browser).send_keys(*keys).perform()


def tab_until(browser: Any, found: Any, limit: int = 80) -> Any:
    """Press Tab until ``found(active_element)`` holds; return that element."""
    for _ in range(limit):
        press(browser, Keys.TAB)
        element = browser.switch_to.active_element
        try:
            if found(element):
                return element
        except StaleElementReferenceException:  # replaced by a live update as it was read: focus stays by id
            if found(browser.switch_to.active_element):
                return browser.switch_to.active_element
    raise AssertionError(f"Tab never reached the element ({limit} presses)")


@pytest.mark.slow
def test_the_timeline_grows_live_and_terminate_changes_the_status(browser: Any, wait: Any, shop: Shop) -> None:
    shop.run_processes()
    browser.get(f"{shop.ui}/ui/")
    wait(lambda d: d.find_elements(By.LINK_TEXT, "shop"), "the domains page does not list shop")
    assert no_page_scroll(browser), "domains at 1280 px"
    screenshot(browser, "domains.png")
    assert page_problems(browser) == []

    run_id = shop.start(1)
    browser.get(shop.page(1, run_id))
    wait(lambda d: any(line.startswith("decisions") for line in lanes(d)), lambda d: f"no decision lane:\n{shop.output()}")
    assert status_text(browser) == "OPEN"
    wait(lambda d: "Live" in d.find_element(By.ID, "live-note").text, "the page never said it was live")
    browser.execute_script("window.flowserMarker = 'not reloaded'")
    before = bar_count(browser)
    assert not any("charge-1" in line for line in lanes(browser))  # the order waits for approval

    shop.approve(1)  # as a client would: the page learns it from the event stream
    wait(lambda d: any("approve" in line for line in lanes(d)), lambda d: f"the signal never appeared:\n{shop.output()}")
    wait(lambda d: any("charge-1" in line for line in lanes(d)), lambda d: f"the charge never appeared:\n{shop.output()}")
    wait(lambda d: any("ship-1" in line for line in lanes(d)), lambda d: f"the child never appeared:\n{shop.output()}")
    wait(lambda d: status_text(d) == "COMPLETED", lambda d: f"the run never completed on the page:\n{shop.output()}")
    assert bar_count(browser) > before
    assert browser.execute_script("return window.flowserMarker") == "not reloaded"
    assert shop.status(1, run_id) == "COMPLETED"

    # the bars are placed by the stylesheets (the CSP allows no style attribute): the run's spans the track
    run_bar = next(bar for bar in bars(browser) if bar.get_attribute("aria-label").startswith("run"))
    track = run_bar.find_element(By.XPATH, "..")
    assert run_bar.size["width"] >= 0.9 * track.size["width"] > 0
    widths = {bar.size["width"] for bar in bars(browser)}
    assert len(widths) > 1, widths
    assert no_page_scroll(browser), "execution at 1280 px"
    screenshot(browser, "execution-timeline.png")

    grouped = show_view(browser, wait, "Grouped")
    assert "charge-1" in grouped and "ship-1" in grouped and "approve" in grouped
    screenshot(browser, "execution-grouped.png", at=browser.find_element(By.XPATH, "//h2[normalize-space()='History']"))
    history = show_view(browser, wait, "Full JSON")
    assert '"eventType": "WorkflowExecutionCompleted"' in history
    screenshot(browser, "execution-json.png", at=browser.find_element(By.XPATH, "//h2[normalize-space()='History']"))
    assert browser.execute_script("return window.flowserMarker") == "not reloaded"
    assert page_problems(browser) == []

    other = shop.start(2)
    browser.get(f"{shop.ui}/ui/d/shop")
    wait(lambda d: d.find_elements(By.LINK_TEXT, "order-2"), "order-2 is not in the list")
    assert no_page_scroll(browser), "executions at 1280 px"
    screenshot(browser, "executions.png")
    click(wait, By.LINK_TEXT, "order-2")
    wait(lambda d: d.find_elements(By.LINK_TEXT, "Terminate"), "no Terminate action on an open run")
    assert status_text(browser) == "OPEN"

    # a signal through the page's own form (one the order ignores), confirmed, then on the timeline
    click(wait, By.LINK_TEXT, "Signal")
    name = wait(lambda d: d.find_element(By.XPATH, "//label[normalize-space()='Signal name']"), "no Signal name field")
    browser.find_element(By.ID, name.get_attribute("for")).send_keys("note")
    given = browser.find_element(By.XPATH, "//label[normalize-space()='Input']")
    browser.find_element(By.ID, given.get_attribute("for")).send_keys('"gift wrap"')
    click(wait, By.XPATH, "//button[starts-with(normalize-space(), 'Signal')]")
    click(wait, By.XPATH, "//button[normalize-space()='Yes, signal']")
    wait(lambda d: any(line.startswith("signal note") for line in lanes(d)), lambda d: f"no signal lane: {lanes(d)}")
    assert "gift wrap" in show_view(browser, wait, "Grouped")
    assert shop.status(2, other) == "OPEN"

    click(wait, By.LINK_TEXT, "Terminate")
    reason = wait(lambda d: d.find_element(By.XPATH, "//label[normalize-space()='Reason']"), "no Reason field")
    browser.find_element(By.ID, reason.get_attribute("for")).send_keys("stale order")
    click(wait, By.XPATH, "//button[starts-with(normalize-space(), 'Terminate')]")
    wait(lambda d: d.find_element(By.XPATH, "//button[normalize-space()='Yes, terminate']"), "no confirmation")
    assert "This cannot be undone" in body_text(browser) and "stale order" in body_text(browser)
    assert shop.status(2, other) == "OPEN"  # nothing done before the confirmation
    click(wait, By.XPATH, "//button[normalize-space()='Yes, terminate']")
    wait(lambda d: status_text(d) == "TERMINATED", "the status never became TERMINATED")
    assert shop.status(2, other) == "TERMINATED"
    assert not browser.find_elements(By.LINK_TEXT, "Terminate")
    assert page_problems(browser) == []


def completed_order(shop: Shop, order: int) -> str:
    """Start ``order-N``, approve it, and return its runId once it has completed."""
    run_id = shop.start(order)
    shop.approve(order)
    wait_until(lambda: shop.status(order, run_id) == "COMPLETED", timeout=WAIT)
    return run_id


def downloaded(folder: Path) -> Path | None:
    """The one finished download in ``folder``, if there is one."""
    files = [path for path in folder.iterdir() if not path.name.endswith((".crdownload", ".tmp"))]
    return files[0] if len(files) == 1 and files[0].stat().st_size > 0 else None


def shown_events(browser: Any) -> list[tuple[int, str]]:
    """The events of the Full JSON view, as (eventId, eventType)."""
    return [
        (int(item["eventId"]), str(item["eventType"]))
        for item in browser.execute_script(
            "return Array.from(document.querySelectorAll('[role=tabpanel] [data-event-type]'))"
            ".map(li => ({eventId: li.getAttribute('data-event-id'), eventType: li.getAttribute('data-event-type')}))"
        )
    ]


@pytest.mark.slow
def test_a_downloaded_history_opens_in_the_open_page(browser: Any, wait: Any, shop: Shop, tmp_path: Path) -> None:
    shop.run_processes()
    run_id = completed_order(shop, 1)
    browser.get(shop.page(1, run_id))
    wait(lambda d: status_text(d) == "COMPLETED", "the page does not show the run completed")
    live_lanes = lanes(browser)
    assert any("ship-1" in line for line in live_lanes), live_lanes

    # the browser downloads the history through the page's own link
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    tab(browser, "Full JSON").click()
    live_events = wait(lambda d: shown_events(d), "the JSON view shows no events")
    click(wait, By.PARTIAL_LINK_TEXT, "Download history.json")
    saved = wait(lambda d: downloaded(downloads), f"no download in {downloads}: {list(downloads.iterdir())}")
    document = json.loads(saved.read_text())
    in_file = [(int(event["eventId"]), str(event["eventType"])) for event in document["events"]]
    assert in_file == live_events and in_file[-1][1] == "WorkflowExecutionCompleted"

    browser.find_element(By.LINK_TEXT, "Open a history file").click()
    field = wait(lambda d: d.find_element(By.XPATH, "//label[normalize-space()='History file']"), "no History file field")
    upload = browser.find_element(By.ID, field.get_attribute("for"))
    assert upload.get_attribute("type") == "file"
    assert no_page_scroll(browser), "open at 1280 px"
    screenshot(browser, "open.png")
    upload.send_keys(str(saved))
    browser.find_element(By.XPATH, "//button[normalize-space()='Open']").click()
    wait(lambda d: "/ui/open/" in d.current_url, lambda d: f"the history did not open: {body_text(d)[:500]}")
    wait(lambda d: lanes(d), "the opened history shows no timeline")
    assert lanes(browser) == live_lanes
    assert "order-1" in body_text(browser) and "COMPLETED" in body_text(browser)
    assert no_page_scroll(browser), "opened at 1280 px"
    screenshot(browser, "opened.png")
    tab(browser, "Full JSON").click()
    assert wait(lambda d: shown_events(d), "the opened history's JSON view shows no events") == in_file
    assert page_problems(browser) == []


def unlabelled_controls(browser: Any) -> list[str]:
    """The page's visible form controls without a label (``<label for>``, a wrapping label, aria-label or
    aria-labelledby), and buttons and links without an accessible text."""
    return list(
        browser.execute_script(
            """
            const bad = [];
            for (const el of document.querySelectorAll('input, select, textarea')) {
              if (el.type === 'hidden' || el.type === 'submit' || el.offsetParent === null) continue;
              const named = (el.labels && el.labels.length && el.labels[0].innerText.trim())
                || (el.getAttribute('aria-label') || '').trim() || el.getAttribute('aria-labelledby');
              if (!named) bad.push(el.outerHTML.slice(0, 120));
            }
            for (const el of document.querySelectorAll('button, a[href], [role=tab]')) {
              if (el.offsetParent === null) continue;
              if (!(el.innerText.trim() || (el.getAttribute('aria-label') || '').trim() || el.getAttribute('title')))
                bad.push(el.outerHTML.slice(0, 120));
            }
            return bad;
            """
        )
    )


def labels_away_from_controls(browser: Any) -> list[str]:
    """Visible labels drawn away from their control: a control is just below its label, or just right of it
    on the same line."""
    return list(
        browser.execute_script(
            """
            const far = [];
            for (const label of document.querySelectorAll('label[for]')) {
              const el = document.getElementById(label.htmlFor);
              if (!el || el.offsetParent === null || label.offsetParent === null) continue;
              const l = label.getBoundingClientRect(), c = el.getBoundingClientRect();
              const below = c.top >= l.top && c.top - l.bottom <= 24 && c.left < l.right && l.left < c.right;
              const beside = c.left >= l.left && c.left - l.right <= 24 && c.top < l.bottom && l.top < c.bottom;
              if (!below && !beside) far.push(label.innerText.trim() + ' (label at ' + Math.round(l.left) + ','
                + Math.round(l.top) + '; control at ' + Math.round(c.left) + ',' + Math.round(c.top) + ')');
            }
            return far;
            """
        )
    )


def forms_are_labelled(browser: Any, where: str) -> None:
    assert unlabelled_controls(browser) == [], where


@pytest.mark.slow
def test_the_keyboard_switches_views_and_terminates_and_every_control_has_a_label(browser: Any, wait: Any, shop: Shop) -> None:
    run_id = shop.start(5)  # no decider: the run stays open
    browser.get(f"{shop.ui}/ui/")
    wait(lambda d: d.find_elements(By.LINK_TEXT, "shop"), "the domains page does not list shop")
    forms_are_labelled(browser, "domains")
    browser.get(f"{shop.ui}/ui/d/shop")
    wait(lambda d: d.find_elements(By.LINK_TEXT, "order-5"), "order-5 is not in the list")
    forms_are_labelled(browser, "executions")
    click(wait, By.PARTIAL_LINK_TEXT, "Start")
    wait(lambda d: d.find_elements(By.TAG_NAME, "form"), "no start form")
    forms_are_labelled(browser, "start")
    browser.get(f"{shop.ui}/ui/open")
    wait(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=file]"), "no open form")
    forms_are_labelled(browser, "open")

    browser.get(shop.page(5, run_id))
    wait(lambda d: lanes(d), "no timeline")
    forms_are_labelled(browser, "execution")
    browser.execute_script("window.flowserMarker = 'not reloaded'")
    first = tab_until(browser, lambda el: el.get_attribute("role") == "tab")
    assert first.text == "Timeline" and first.get_attribute("aria-selected") == "true"
    press(browser, Keys.ARROW_RIGHT)
    grouped = tab(browser, "Grouped")
    wait(lambda d: d.switch_to.active_element == grouped and panel_of(d, grouped).is_displayed(), "ArrowRight did not show Grouped")
    assert shown_panel_text(browser, "Timeline") is None
    press(browser, Keys.END)
    wait(lambda d: panel_of(d, tab(d, "Full JSON")).is_displayed(), "End did not show Full JSON")
    press(browser, Keys.HOME)
    wait(lambda d: panel_of(d, tab(d, "Timeline")).is_displayed(), "Home did not show the timeline")
    press(browser, Keys.ARROW_RIGHT)
    wait(lambda d: d.switch_to.active_element == tab(d, "Grouped"), "ArrowRight did not move to Grouped")
    press(browser, Keys.ENTER)
    wait(lambda d: panel_of(d, tab(d, "Grouped")).is_displayed() and "view=grouped" in d.current_url, "Enter did not keep Grouped")
    assert browser.execute_script("return window.flowserMarker") == "not reloaded"  # tabs switch in place

    # terminate without the mouse: Tab to the action, Enter, type the reason, Enter, Tab to the confirmation, Enter
    browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    tab_until(browser, lambda el: el.tag_name == "a" and el.text == "Terminate")
    press(browser, Keys.ENTER)
    wait(lambda d: d.find_elements(By.XPATH, "//label[normalize-space()='Reason']"), "Enter did not open the terminate form")
    forms_are_labelled(browser, "terminate")
    reason = browser.find_element(By.ID, browser.find_element(By.XPATH, "//label[normalize-space()='Reason']").get_attribute("for"))
    tab_until(browser, lambda el: el == reason)
    press(browser, "left by the keyboard", Keys.ENTER)
    wait(lambda d: d.find_elements(By.XPATH, "//button[normalize-space()='Yes, terminate']"), "Enter did not ask for a confirmation")
    assert "left by the keyboard" in body_text(browser)
    tab_until(browser, lambda el: el.tag_name == "button" and el.text == "Yes, terminate")
    press(browser, Keys.ENTER)
    wait(lambda d: status_text(d) == "TERMINATED", "the status never became TERMINATED")
    assert shop.status(5, run_id) == "TERMINATED"

    browser.get(shop.page(5, run_id, "json"))
    wait(lambda d: "left by the keyboard" in body_text(d), "the reason is not in the history")
    assert page_problems(browser) == []


def no_page_scroll(browser: Any) -> bool:
    return bool(browser.execute_script("return document.scrollingElement.scrollWidth <= innerWidth + 1"))


@pytest.mark.slow
def test_phone_width_pages_do_not_scroll_sideways(browser: Any, wait: Any, shop: Shop) -> None:
    shop.run_processes()
    run_id = completed_order(shop, 1)
    shop.start(2)
    set_viewport(browser, *PHONE, mobile=True)

    browser.get(f"{shop.ui}/ui/")
    wait(lambda d: d.find_elements(By.LINK_TEXT, "shop"), "the domains page does not list shop")
    assert browser.execute_script("return innerWidth") == PHONE[0]  # the page's meta viewport: a phone's width
    assert no_page_scroll(browser), "domains"
    browser.get(f"{shop.ui}/ui/d/shop")
    wait(lambda d: d.find_elements(By.LINK_TEXT, "order-2"), "order-2 is not in the list")
    assert no_page_scroll(browser), "executions"
    forms_are_labelled(browser, "executions at phone width")
    screenshot(browser, "executions-phone.png")
    browser.get(f"{shop.ui}/ui/open")
    wait(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=file]"), "no open form")
    assert no_page_scroll(browser), "open"

    browser.get(shop.page(1, run_id))
    wait(lambda d: any("ship-1" in line for line in lanes(d)), "no timeline")
    assert no_page_scroll(browser), "execution, timeline"
    screenshot(browser, "execution-phone.png", at=browser.find_element(By.XPATH, "//h2[normalize-space()='History']"))
    for name in ("Grouped", "Full JSON"):
        show_view(browser, wait, name)
        assert no_page_scroll(browser), f"execution, {name}"
    assert page_problems(browser) == []


@pytest.mark.slow
def test_markup_in_a_run_is_shown_as_text_and_never_runs(browser: Any, wait: Any, shop: Shop) -> None:
    script = "<script>window.pwned=1</script>"
    image = '<img src=x onerror="window.pwned=2">'
    answer = shop.client.start_workflow_execution(
        domain="shop",
        workflowId="order-7",
        workflowType={"name": "Order", "version": "1"},
        input=json.dumps({"order": 7, "amount": 1, "items": [script, image]}),
        tagList=["<b>bold</b>", image],
    )
    run_id = answer["runId"]
    shop.client.signal_workflow_execution(domain="shop", workflowId="order-7", signalName=image, input=script)

    browser.get(f"{shop.ui}/ui/d/shop")
    wait(lambda d: d.find_elements(By.LINK_TEXT, "order-7"), "order-7 is not in the list")
    assert "<b>bold</b>" in body_text(browser) and image in body_text(browser)
    assert browser.execute_script("return typeof window.pwned") == "undefined"

    browser.get(shop.page(7, run_id))
    wait(lambda d: any(image in line for line in lanes(d)), lambda d: f"the signal's lane never showed: {lanes(d)}")
    assert script in body_text(browser) and image in body_text(browser)
    grouped = show_view(browser, wait, "Grouped")
    assert image in grouped
    history = show_view(browser, wait, "Full JSON")
    assert script in history and 'onerror=\\"window.pwned=2\\"' in history
    assert browser.execute_script("return typeof window.pwned") == "undefined"
    assert not browser.find_elements(By.CSS_SELECTOR, "main img, main b")
    assert page_problems(browser) == []  # nor did the Content-Security-Policy have to refuse anything


@pytest.mark.slow
def test_each_label_sits_by_its_field(browser: Any, wait: Any, shop: Shop) -> None:
    run_id = shop.start(5)
    where = {
        "executions": f"{shop.ui}/ui/d/shop",
        "start": f"{shop.ui}/ui/d/shop/start",
        "signal": shop.page(5, run_id) + "/signal",
        "terminate": shop.page(5, run_id) + "/terminate",
        "open": f"{shop.ui}/ui/open",
    }
    away: dict[str, list[str]] = {}
    for size, mobile in ((DESKTOP, False), (PHONE, True)):
        set_viewport(browser, *size, mobile=mobile)
        for name, url in where.items():
            browser.get(url)
            wait(lambda d: d.find_elements(By.CSS_SELECTOR, "label[for]"), f"{name}: no labelled field")
            found = labels_away_from_controls(browser)
            if found:
                away[f"{name} at {size[0]} px"] = found
    assert away == {}
