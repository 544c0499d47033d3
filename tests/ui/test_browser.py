"""The dashboard in a real browser: headless Chromium (tests/ui/conftest.py) on ``flowser serve --ui``.

Nothing is mocked: the pages are the server's, the decider and workers are
``flowser decider``/``worker`` processes on the session's Redis, and the
screenshots the tests take are docs/ui.md's (docs/img/).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.ui.conftest import DESKTOP, PHONE, set_viewport

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
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

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
